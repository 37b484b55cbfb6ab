/*
 * api_stats.c: GET /api/v1/stats, what `historian stats` shows: the store's
 * counters (hist_db_get_stats) as one JSON object.
 */
#include <string.h>

#include "query/api/api_internal.h"

int api__stats_handle(api_ctx *c)
{
    hist_db_stats st;
    memset(&st, 0, sizeof st);
    int rc = hist_db_get_stats(c->db, &st);
    if (rc < 0)
        return api__reply_internal(c, rc);
    uint64_t samples = st.samples_sealed + st.samples_memtable;
    uint64_t disk = st.bytes_segments + st.bytes_wal + st.bytes_index;
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    json__key(&j, "tags");
    json__uint(&j, st.tags);
    json__key(&j, "samples");
    json__uint(&j, samples);
    json__key(&j, "samples_sealed");
    json__uint(&j, st.samples_sealed);
    json__key(&j, "samples_memtable");
    json__uint(&j, st.samples_memtable);
    json__key(&j, "chunks");
    json__uint(&j, st.chunks);
    json__key(&j, "bytes_on_disk");
    json__uint(&j, disk);
    json__key(&j, "bytes_segments");
    json__uint(&j, st.bytes_segments);
    json__key(&j, "bytes_chunks");
    json__uint(&j, st.bytes_chunks);
    json__key(&j, "bytes_wal");
    json__uint(&j, st.bytes_wal);
    json__key(&j, "bytes_index");
    json__uint(&j, st.bytes_index);
    /* Bytes per sealed sample: what compression achieves on live chunks. */
    json__key(&j, "bytes_per_sample");
    if (st.samples_sealed)
        json__double(&j, (double)st.bytes_chunks / (double)st.samples_sealed);
    else
        json__null(&j);
    json__key(&j, "disk_bytes_per_sample");
    if (samples)
        json__double(&j, (double)disk / (double)samples);
    else
        json__null(&j);
    json__key(&j, "memtable_bytes");
    json__uint(&j, st.memtable_bytes);
    json__key(&j, "io_backend");
    json__string(&j, st.io_backend ? st.io_backend : "");
    json__key(&j, "wal_syncs");
    json__uint(&j, st.wal_syncs);
    json__key(&j, "damaged_chunks");
    json__uint(&j, st.damaged_chunks);
    json__key(&j, "seals_held");
    json__uint(&j, st.seals_held);
    json__key(&j, "seals_memory");
    json__uint(&j, st.seals_memory);
    json__key(&j, "seals_wal");
    json__uint(&j, st.seals_wal);
    json__key(&j, "freezes");
    json__uint(&j, st.freezes);
    json__key(&j, "runs_logged");
    json__uint(&j, st.runs_logged);
    json__key(&j, "runlog_bytes");
    json__uint(&j, st.runlog_bytes);
    json__key(&j, "chunk_load_failures");
    json__uint(&j, st.chunk_load_failures);
    /* Background compaction (storage/compact.c), since the server started. */
    const struct {
        const char *key;
        uint64_t v;
    } compact[] = {
        {"compact_running", st.compact_running},
        {"compact_runs", st.compact_runs},
        {"compact_tag_hours", st.compact_tag_hours},
        {"compact_pending", st.compact_pending},
        {"compact_chunks_in", st.compact_chunks_before},
        {"compact_chunks_out", st.compact_chunks_after},
        {"compact_bytes", st.compact_bytes_rewritten},
        {"compact_segments", st.compact_segments_rewritten},
        {"compact_hold_max_us", st.compact_hold_max_us},
    };
    for (size_t i = 0; i < sizeof(compact) / sizeof(compact[0]); i++) {
        json__key(&j, compact[i].key);
        json__uint(&j, compact[i].v);
    }
    json__end_object(&j);
    return api__reply_json(c, 200, &j);
}
