/*
 * metrics.c: the GET /metrics page in the Prometheus text format (0.0.4).
 *
 * Front-end counters live in hist_metrics (loop thread only): requests,
 * HTTP responses by code, read API latency by mode (the mode is the API's
 * hist_api_response.mode, the time http.c's); storage figures (WAL syncs
 * and their latency histogram, memtable, chunks, damaged chunks, the
 * compactor's and the scrub's progress) come from hist_db_get_stats() at
 * scrape time, the process_* families from /proc (metrics_proc.c).
 * Every family has # HELP and # TYPE; counters end in _total, and units
 * are in the names (_seconds, _bytes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_buf.h"
#include "common/hist_version.h"
#include "ingest/ingest.h"

static void counter(hist_buf *t, const char *name, const char *help, uint64_t v)
{
    hist_buf_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                    (unsigned long long)v);
}

static void gauge(hist_buf *t, const char *name, const char *help, uint64_t v)
{
    hist_buf_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
                    (unsigned long long)v);
}

/* The modes of hist_api_response.mode, in the order of hist_metrics'
 * query arrays; the last, "other", takes NULL and anything unknown. */
static const char *const query_modes[METRICS_MODES] = {
    "raw",  "latest", "interp", "aggregate", "plot",  "value",
    "tags", "stats",  "admin",  "grafana",   "other",
};

/* Upper bounds of the read API latency buckets, in seconds; the last
 * bucket (+Inf) has none. */
static const double query_bounds[METRICS_QUERY_BUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

void metrics__count_status(hist_metrics *m, int status)
{
    if (status >= 100 && status < 100 + METRICS_CODES)
        m->http_responses[status - 100]++;
}

void metrics__count_query(hist_metrics *m, const char *mode, double seconds)
{
    size_t i = 0;
    while (i < METRICS_MODES - 1 && (!mode || strcmp(mode, query_modes[i])))
        i++;
    size_t b = 0;
    while (b < METRICS_QUERY_BUCKETS - 1 && seconds > query_bounds[b])
        b++;
    m->query_hist[i][b]++;
    m->query_seconds[i] += seconds > 0 ? seconds : 0;
}

static void http_metrics(hist_buf *t, const hist_metrics *m)
{
    hist_buf_printf(t, "# HELP historian_http_responses_total HTTP responses sent, by status "
                       "code.\n# TYPE historian_http_responses_total counter\n");
    for (int i = 0; i < METRICS_CODES; i++)
        if (m->http_responses[i])
            hist_buf_printf(t, "historian_http_responses_total{code=\"%d\"} %llu\n", i + 100,
                            (unsigned long long)m->http_responses[i]);
    hist_buf_printf(t, "# HELP historian_query_duration_seconds Read API requests, from queued "
                       "to answered, by mode.\n"
                       "# TYPE historian_query_duration_seconds histogram\n");
    for (int i = 0; i < METRICS_MODES; i++) {
        uint64_t cum = 0;
        for (int b = 0; b < METRICS_QUERY_BUCKETS; b++) {
            cum += m->query_hist[i][b];
            if (b == METRICS_QUERY_BUCKETS - 1)
                hist_buf_printf(t,
                                "historian_query_duration_seconds_bucket{mode=\"%s\",le=\"+Inf\"} "
                                "%llu\n",
                                query_modes[i], (unsigned long long)cum);
            else
                hist_buf_printf(t,
                                "historian_query_duration_seconds_bucket{mode=\"%s\",le=\"%g\"} "
                                "%llu\n",
                                query_modes[i], query_bounds[b], (unsigned long long)cum);
        }
        hist_buf_printf(t, "historian_query_duration_seconds_sum{mode=\"%s\"} %.9f\n",
                        query_modes[i], m->query_seconds[i]);
        hist_buf_printf(t, "historian_query_duration_seconds_count{mode=\"%s\"} %llu\n",
                        query_modes[i], (unsigned long long)cum);
    }
    gauge(t, "historian_writer_queue_bytes",
          "Bytes of write requests queued for the storage writer.", m->writer_queue_bytes);
    gauge(t, "historian_writer_queue_limit_bytes",
          "Queue bytes above which reading from sockets stops (backpressure).",
          m->writer_queue_limit);
}

void metrics__count_result(hist_metrics *m, const hist_in_result *res)
{
    if (res->code == 0) {
        m->batches_accepted++;
        m->samples_accepted += res->written;
    } else {
        m->batches_rejected++;
        m->samples_rejected += res->samples;
    }
}

/* Every broker's value of one figure, labelled broker="HOST:PORT". */
static void per_broker(hist_buf *t, const hist_metrics *m, const char *name, const char *type,
                       const char *help, size_t off)
{
    if (!m->n_mqtt)
        return;
    hist_buf_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t i = 0; i < m->n_mqtt; i++) {
        const mqtt_stats *b = m->mqtt[i];
        uint64_t v = off == SIZE_MAX ? b->connected : *(const uint64_t *)((const char *)b + off);
        hist_buf_printf(t, "%s{broker=\"%s\"} %llu\n", name, b->broker, (unsigned long long)v);
    }
}

static void mqtt_metrics(hist_buf *t, const hist_metrics *m)
{
    per_broker(t, m, "historian_mqtt_connected", "gauge",
               "1 while subscribed to the broker, else 0.", SIZE_MAX);
    per_broker(t, m, "historian_mqtt_messages_total", "counter", "MQTT messages received.",
               offsetof(mqtt_stats, messages));
    per_broker(t, m, "historian_mqtt_samples_total", "counter",
               "Samples from MQTT messages written.", offsetof(mqtt_stats, samples));
    per_broker(t, m, "historian_mqtt_refused_total", "counter",
               "MQTT messages refused (malformed, unmapped topic, over a limit).",
               offsetof(mqtt_stats, refused));
    per_broker(t, m, "historian_mqtt_unsupported_total", "counter",
               "Metric values not stored: a datatype not supported, or invalid.",
               offsetof(mqtt_stats, unsupported));
    per_broker(t, m, "historian_mqtt_rebirths_total", "counter",
               "Sparkplug rebirth requests published.", offsetof(mqtt_stats, rebirths));
    per_broker(t, m, "historian_mqtt_reconnects_total", "counter",
               "Connections to the broker after the first.", offsetof(mqtt_stats, reconnects));
    per_broker(t, m, "historian_mqtt_acks_total", "counter",
               "PUBACKs sent: QoS 1 messages durable in the WAL.", offsetof(mqtt_stats, acks));
}

int metrics__render(const hist_metrics *m, hist_db *db, char **out, size_t *len)
{
    hist_buf t;
    hist_buf_init(&t);
    hist_buf_printf(&t,
                    "# HELP historian_build_info The version of this historiand (always 1).\n"
                    "# TYPE historian_build_info gauge\n"
                    "historian_build_info{version=\"%s\",git=\"%s\"} 1\n",
                    HIST_VERSION, HIST_GIT_DESCRIBE);
    counter(&t, "historian_samples_accepted_total", "Samples written and acknowledged.",
            m->samples_accepted);
    counter(&t, "historian_samples_rejected_total", "Samples in refused requests.",
            m->samples_rejected);
    counter(&t, "historian_batches_accepted_total", "Write requests written.", m->batches_accepted);
    counter(&t, "historian_batches_rejected_total", "Write requests refused.", m->batches_rejected);
    counter(&t, "historian_ingest_bytes_total", "Bytes of write requests received.", m->bytes_in);
    counter(&t, "historian_http_requests_total", "HTTP requests received.", m->http_requests);
    counter(&t, "historian_api_rejected_total",
            "Read API requests answered 503 because the queue was full.", m->api_rejected);
    counter(&t, "historian_connections_total", "Connections accepted.", m->connections_total);
    counter(&t, "historian_connections_refused_total", "Connections over the limit.",
            m->connections_refused);
    counter(&t, "historian_backpressure_pauses_total",
            "Times reading stopped because the writer queue was full.", m->backpressure_pauses);
    counter(&t, "historian_tls_handshakes_total", "TLS handshakes completed.", m->tls_handshakes);
    counter(&t, "historian_tls_handshake_failures_total",
            "TLS handshakes refused, failed or timed out (plain text on a TLS port, a refused "
            "certificate, an old protocol).",
            m->tls_handshake_failures);
    counter(&t, "historian_lp_requests_total",
            "Line protocol writes received (POST /write, /api/v2/write).", m->lp_requests);
    counter(&t, "historian_lp_points_total", "Line protocol points read from accepted bodies.",
            m->lp_points);
    counter(&t, "historian_lp_refused_fields_total",
            "Line protocol fields left out (string fields: no string tags yet).",
            m->lp_refused_fields);
    gauge(&t, "historian_connections_open", "Open connections.", m->connections_open);
    http_metrics(&t, m);
    metrics__process(&t);

    hist_db_stats st;
    memset(&st, 0, sizeof st);
    if (db && hist_db_get_stats(db, &st) == 0) {
        counter(&t, "historian_wal_syncs_total", "WAL fdatasync calls (group commits).",
                st.wal_syncs);
        hist_buf_printf(&t, "# HELP historian_wal_sync_seconds WAL sync latency.\n"
                            "# TYPE historian_wal_sync_seconds histogram\n");
        uint64_t cum = 0;
        for (int i = 0; i < HIST_SYNC_HIST_BUCKETS; i++) {
            cum += st.wal_sync_hist[i];
            if (i == HIST_SYNC_HIST_BUCKETS - 1)
                hist_buf_printf(&t, "historian_wal_sync_seconds_bucket{le=\"+Inf\"} %llu\n",
                                (unsigned long long)cum);
            else
                hist_buf_printf(&t, "historian_wal_sync_seconds_bucket{le=\"%g\"} %llu\n",
                                hist_sync_hist_bounds_us[i] / 1e6, (unsigned long long)cum);
        }
        hist_buf_printf(&t, "historian_wal_sync_seconds_sum %.9f\n", st.wal_sync_seconds_total);
        hist_buf_printf(&t, "historian_wal_sync_seconds_count %llu\n", (unsigned long long)cum);
        gauge(&t, "historian_memtable_bytes", "Bytes of unsealed samples in memory.",
              st.memtable_bytes);
        gauge(&t, "historian_memtable_samples", "Samples not yet sealed into chunks.",
              st.samples_memtable);
        counter(&t, "historian_chunks_sealed_total", "Chunks sealed since start.",
                st.chunks_sealed);
        counter(&t, "historian_buffers_frozen_total",
                "Tag buffers compressed in memory for memory pressure since start.", st.freezes);
        counter(&t, "historian_buffers_logged_total",
                "Tag buffers whose runs were written to the WAL again for its budget since start.",
                st.runs_logged);
        counter(&t, "historian_runlog_bytes_total",
                "Bytes of WAL run records (buffers logged for the WAL budget) since start.",
                st.runlog_bytes);
        gauge(&t, "historian_chunks", "Live chunks in the index.", st.chunks);
        gauge(&t, "historian_tags", "Tags.", st.tags);
        gauge(&t, "historian_samples_sealed", "Samples in live chunks.", st.samples_sealed);
        gauge(&t, "historian_segment_bytes", "Bytes of segment files.", st.bytes_segments);
        gauge(&t, "historian_wal_bytes", "Bytes of WAL files.", st.bytes_wal);
        gauge(&t, "historian_index_bytes", "Bytes of the LMDB index.", st.bytes_index);
        counter(&t, "historian_chunks_decoded_total", "Chunks read and decoded.",
                st.chunks_decoded);
        gauge(&t, "historian_writes_refused",
              "1 while the WAL refuses writes (disk full or i/o error), else 0.",
              st.wal_error != 0);
        counter(&t, "historian_wal_failures_total",
                "Times a WAL write or fdatasync failed and writes were refused.", st.wal_failures);
        counter(&t, "historian_refused_samples_total",
                "Samples of writes that could not be made durable, taken out of memory.",
                st.void_samples);
        gauge(&t, "historian_sealing_failing", "1 while sealing chunks fails, else 0.",
              st.seal_error != 0);
        counter(&t, "historian_seal_failures_total", "Failed seal rounds since start.",
                st.seal_failures);
        gauge(&t, "historian_wal_lost_records",
              "WAL records found missing or damaged at the last start.", st.lost_records);
        gauge(&t, "historian_damaged_chunks",
              "Chunks marked damaged in the index (left out of every answer).", st.damaged_chunks);
        counter(&t, "historian_chunk_load_failures_total",
                "Chunk reads that failed (damaged bytes or I/O errors).", st.chunk_load_failures);
        gauge(&t, "historian_scrub_running", "1 while a scrub pass runs.", st.scrub_running);
        counter(&t, "historian_scrub_passes_total", "Scrub passes finished.", st.scrub_passes);
        counter(&t, "historian_scrub_chunks_checked_total", "Chunks verified by scrub passes.",
                st.scrub_chunks_checked);
        counter(&t, "historian_scrub_damaged_found_total",
                "Chunks scrub passes found damaged and marked.", st.scrub_damaged_found);
        gauge(&t, "historian_compact_running", "1 while the background compactor runs.",
              st.compact_running);
        counter(&t, "historian_compact_runs_total", "Background compaction passes.",
                st.compact_runs);
        counter(&t, "historian_compact_merged_groups_total",
                "Groups of chunks (one tag, one clock hour) the background compactor merged.",
                st.compact_tag_hours);
        gauge(&t, "historian_compact_pending_groups",
              "Groups (one tag, one clock hour) holding more chunks than they need, as of the last "
              "pass.",
              st.compact_pending);
        counter(&t, "historian_compact_chunks_in_total", "Chunks replaced by merges.",
                st.compact_chunks_before);
        counter(&t, "historian_compact_chunks_out_total", "Chunks written by merges.",
                st.compact_chunks_after);
        counter(&t, "historian_compact_bytes_total",
                "Chunk bytes written by merges and segment rewrites.", st.compact_bytes_rewritten);
        counter(&t, "historian_compact_segments_rewritten_total",
                "Segment files rewritten for having little live data.",
                st.compact_segments_rewritten);
        hist_buf_printf(&t,
                        "# HELP historian_compact_hold_max_seconds The longest the compactor "
                        "held the sealer's lock.\n# TYPE historian_compact_hold_max_seconds "
                        "gauge\nhistorian_compact_hold_max_seconds %.6f\n",
                        (double)st.compact_hold_max_us / 1e6);
    }
    mqtt_metrics(&t, m);
    *out = hist_buf_take(&t, len);
    return *out ? 0 : HIST_ENOMEM;
}
