/*
 * recovery.c: at open, replays the WAL from the checkpoint into the memtable.
 *
 * wal__open() has already cut damaged tails (its report says what was
 * dropped). Every record with lsn >= checkpoint is decoded; for each series
 * the samples are skipped when lsn <= the tag's flushed_lsn (they are in
 * committed chunks already), else inserted as if just written, so the
 * memtable again holds exactly the acknowledged-but-unsealed writes, in LSN
 * order. Skipping a tag's part of a record whole is safe only because a
 * seal never cuts inside a record (rule 1 at the top of seal.c). A record
 * that does not decode is logged and skipped; a series for an unknown tag
 * (cannot happen unless the index was replaced) likewise.
 *
 * A run record (runlog.c) is replayed in its place too: a tag's part is
 * skipped when the tag's flushed_lsn has reached its last run's lsn_last
 * (seals take runs whole), else the runs replace the buffer's writes up to
 * there (membuf__put_logged), which older records still in the log put in.
 */
#include "storage/db_internal.h"

#include "storage/chunk.h"

#include <stdlib.h>

typedef struct {
    hist_db *db;
    uint64_t lsn;
    uint64_t records, samples, skipped, unknown;
} replay_ctx;

static int replay_series(void *arg, uint32_t tag, size_t n, const int64_t *ts, const hist_value *v,
                         const uint32_t *q)
{
    replay_ctx *c = arg;
    hist_tag_state *t = tags__get(c->db, tag);
    if (!t) {
        c->unknown += n;
        return 0;
    }
    if (c->lsn <= t->flushed_lsn) {
        c->skipped += n;
        return 0;
    }
    c->samples += n;
    return tags__insert(c->db, t, ts, v, q, n, c->lsn, clock__mono_ns());
}

/* The newest sample of a run becomes the tag's latest value, unless a later
 * one is known; a run that does not decode is HIST_ECORRUPT. */
static int note_run_latest(hist_tag_state *t, const membuf_new_run *r)
{
    int64_t *ts = malloc(r->n * sizeof(*ts));
    hist_value *v = malloc(r->n * sizeof(*v));
    uint32_t *q = malloc(r->n * sizeof(*q));
    int rc = (!ts || !v || !q) ? HIST_ENOMEM : 0;
    if (rc == 0 && chunk__decode(r->bytes, r->len, ts, v, q, r->n) != (int64_t)r->n)
        rc = HIST_ECORRUPT;
    if (rc == 0)
        tags__note_latest(t, ts[r->n - 1], v[r->n - 1], q[r->n - 1]);
    free(ts), free(v), free(q);
    return rc;
}

static int replay_runs(void *arg, uint32_t tag, const membuf_new_run *runs, size_t n)
{
    replay_ctx *c = arg;
    hist_tag_state *t = tags__get(c->db, tag);
    size_t samples = 0;
    for (size_t i = 0; i < n; i++)
        samples += runs[i].n;
    if (!t) {
        c->unknown += samples;
        return 0;
    }
    if (runs[n - 1].lsn_last <= t->flushed_lsn) {
        c->skipped += samples;
        return 0;
    }
    if (runs[n - 1].lsn_last >= c->lsn)
        return HIST_ECORRUPT; /* a run record holds only older writes */
    /* Seals take runs whole and oldest first: the runs up to the flushed
     * point are in chunks already. */
    size_t sealed = 0;
    while (runs[sealed].lsn_last <= t->flushed_lsn) {
        c->skipped += runs[sealed].n;
        samples -= runs[sealed++].n;
    }
    runs += sealed;
    n -= sealed;
    for (size_t i = 0; i < n; i++) {
        int rc = note_run_latest(t, &runs[i]);
        if (rc)
            return rc;
    }
    int rc = tags__mark_dirty(c->db, tag);
    int64_t delta = 0, dsamples = 0;
    if (rc == 0)
        rc = membuf__put_logged(&t->buf, runs, n, c->lsn, clock__mono_ns(), &delta, &dsamples);
    if (rc)
        return rc;
    c->db->mem_bytes = (size_t)((int64_t)c->db->mem_bytes + delta);
    c->db->mem_samples = (size_t)((int64_t)c->db->mem_samples + dsamples);
    c->samples += samples;
    return 0;
}

static int replay_record(void *arg, uint64_t lsn, const uint8_t *payload, size_t len)
{
    replay_ctx *c = arg;
    c->lsn = lsn;
    c->records++;
    int rc = payload__version(payload, len) == PAYLOAD_RUNS
                 ? payload__decode_runs(payload, len, replay_runs, c)
                 : payload__decode(payload, len, replay_series, c);
    if (rc == HIST_ECORRUPT) {
        hist_logf(&c->db->log, HIST_LOG_ERROR, "recovery: WAL record %llu does not decode; skipped",
                  (unsigned long long)lsn);
        return 0;
    }
    return rc;
}

int recovery__run(hist_db *db, const hist_wal_report *rep)
{
    db->dropped_records = rep->dropped_records;
    db->dropped_bytes = rep->dropped_bytes;
    db->lost_records = rep->lost_records;
    if (rep->lost_records || rep->dropped_bytes || rep->damaged_bytes)
        hist_logf(&db->log, HIST_LOG_WARN,
                  "recovery: WAL damage: %llu record(s) lost between intact ones (%llu "
                  "damaged byte(s) skipped), %llu byte(s) of torn or damaged tail cut",
                  (unsigned long long)rep->lost_records, (unsigned long long)rep->damaged_bytes,
                  (unsigned long long)rep->dropped_bytes);
    replay_ctx c = {.db = db};
    mu_lock(&db->mu);
    int rc = wal__replay(db->wal, db->checkpoint_lsn, replay_record, &c);
    mu_unlock(&db->mu);
    db->recovered_records = c.records;
    if (c.unknown)
        hist_logf(&db->log, HIST_LOG_WARN, "recovery: %llu sample(s) of unknown tags skipped",
                  (unsigned long long)c.unknown);
    if (c.records)
        hist_logf(&db->log, HIST_LOG_INFO,
                  "recovery: replayed %llu WAL record(s) from lsn %llu: %llu sample(s) to the "
                  "memtable, %llu already sealed",
                  (unsigned long long)c.records, (unsigned long long)db->checkpoint_lsn,
                  (unsigned long long)c.samples, (unsigned long long)c.skipped);
    return rc;
}
