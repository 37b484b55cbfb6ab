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
 */
#include "storage/db_internal.h"

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

static int replay_record(void *arg, uint64_t lsn, const uint8_t *payload, size_t len)
{
    replay_ctx *c = arg;
    c->lsn = lsn;
    c->records++;
    int rc = payload__decode(payload, len, replay_series, c);
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
