/*
 * metrics.c: the GET /metrics page in the Prometheus text format (0.0.4).
 *
 * Front-end counters live in hist_metrics (loop thread only); storage
 * figures (WAL syncs and their latency histogram, memtable, chunks,
 * damaged chunks and the scrub's progress) come from hist_db_get_stats()
 * at scrape time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} text_buf;

static void put(text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0 || t->oom)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->oom = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

static void counter(text_buf *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

static void gauge(text_buf *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
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

int metrics__render(const hist_metrics *m, hist_db *db, char **out, size_t *len)
{
    text_buf t = {malloc(4096), 0, 4096, false};
    if (!t.buf)
        return HIST_ENOMEM;
    t.buf[0] = 0;
    counter(&t, "historian_samples_accepted_total", "Samples written and acknowledged.",
            m->samples_accepted);
    counter(&t, "historian_samples_rejected_total", "Samples in refused requests.",
            m->samples_rejected);
    counter(&t, "historian_batches_accepted_total", "Write requests written.", m->batches_accepted);
    counter(&t, "historian_batches_rejected_total", "Write requests refused.", m->batches_rejected);
    counter(&t, "historian_ingest_bytes_total", "Bytes of write requests received.", m->bytes_in);
    counter(&t, "historian_http_requests_total", "HTTP requests received.", m->http_requests);
    counter(&t, "historian_connections_total", "Connections accepted.", m->connections_total);
    counter(&t, "historian_connections_refused_total", "Connections over the limit.",
            m->connections_refused);
    counter(&t, "historian_backpressure_pauses_total",
            "Times reading stopped because the writer queue was full.", m->backpressure_pauses);
    gauge(&t, "historian_connections", "Open connections.", m->connections_open);

    hist_db_stats st;
    memset(&st, 0, sizeof st);
    if (db && hist_db_get_stats(db, &st) == 0) {
        counter(&t, "historian_wal_syncs_total", "WAL fdatasync calls (group commits).",
                st.wal_syncs);
        put(&t, "# HELP historian_wal_sync_seconds WAL sync latency.\n"
                "# TYPE historian_wal_sync_seconds histogram\n");
        uint64_t cum = 0;
        for (int i = 0; i < HIST_SYNC_HIST_BUCKETS; i++) {
            cum += st.wal_sync_hist[i];
            if (i == HIST_SYNC_HIST_BUCKETS - 1)
                put(&t, "historian_wal_sync_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cum);
            else
                put(&t, "historian_wal_sync_seconds_bucket{le=\"%g\"} %llu\n",
                    hist_sync_hist_bounds_us[i] / 1e6, (unsigned long long)cum);
        }
        put(&t, "historian_wal_sync_seconds_sum %.9f\n", st.wal_sync_seconds_total);
        put(&t, "historian_wal_sync_seconds_count %llu\n", (unsigned long long)cum);
        gauge(&t, "historian_memtable_bytes", "Bytes of unsealed samples in memory.",
              st.memtable_bytes);
        gauge(&t, "historian_memtable_samples", "Samples not yet sealed into chunks.",
              st.samples_memtable);
        counter(&t, "historian_chunks_sealed_total", "Chunks sealed since start.",
                st.chunks_sealed);
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
                "Times a WAL write or fdatasync failed and writes were refused.",
                st.wal_failures);
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
    }
    if (t.oom) {
        free(t.buf);
        return HIST_ENOMEM;
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}
