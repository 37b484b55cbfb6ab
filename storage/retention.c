/*
 * retention.c: dropping chunks older than a point in time, on request
 * (hist_db_drop_before) and by the sealer for --retention and the rules
 * per tag pattern (retention__apply, at most every 10 s).
 *
 * Runs under seal_mu like compaction (compact.c), so no seal interleaves.
 * One txn deletes every entry that ends before its tag's point, and the
 * damage mark (damage.c) of each with it; the bytes stay in their segment
 * until compaction rewrites or deletes it.
 *
 * Rules ("PATTERN=DUR", hist_db_options.retention_rules) are compiled at
 * open, one hist_tagset each. A tag takes the first rule whose pattern
 * matches its name, else the global retention_ns (0 and "forever": keep).
 * With rules, each pass first works out every tag's point (one name match
 * per rule and tag, under mu), then walks the chunk index once.
 */
#include "storage/db_internal.h"

#include "common/hist_tagset.h"
#include "common/hist_time.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    hist_tagset *set;
    int64_t ns; /* 0 = keep forever */
} retention_rule;

struct hist_retention {
    retention_rule rule[HIST_RETENTION_RULES_MAX];
    size_t n;
};

typedef struct {
    int64_t t;          /* the point of tags without one in cut */
    const int64_t *cut; /* per tag id (< ncut): its point; NULL = t for all */
    uint32_t ncut;
    uint64_t chunks, samples, bytes;
} drop_ctx;

static int64_t cut_of(const drop_ctx *c, uint32_t tag)
{
    return c->cut && tag < c->ncut ? c->cut[tag] : c->t;
}

static int drop_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    drop_ctx *c = arg;
    c->chunks = c->samples = c->bytes = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, idx->chunk, &cur);
    if (rc)
        return index__err(rc);
    MDB_val k, d;
    int op = MDB_FIRST;
    while ((rc = mdb_cursor_get(cur, &k, &d, op)) == 0) {
        op = MDB_NEXT;
        uint32_t tag;
        int64_t start;
        if (k.mv_size != HIST_CHUNK_KEY_LEN)
            continue;
        index__chunk_key_parse(k.mv_data, &tag, &start, NULL);
        if (start >= cut_of(c, tag)) {
            /* Sorted by start: skip to the next tag. */
            if (tag == UINT32_MAX)
                break;
            uint8_t kb[HIST_CHUNK_KEY_LEN];
            index__chunk_key(kb, tag + 1, HIST_TS_MIN - 1, 0);
            k = (MDB_val){sizeof(kb), kb};
            rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
            if (rc)
                break;
            op = MDB_GET_CURRENT;
            continue;
        }
        hist_chunk_ref ref;
        if (index__chunk_ref_from(&k, &d, &ref) || ref.stats.end_ts >= cut_of(c, tag))
            continue;
        uint8_t kb[HIST_CHUNK_KEY_LEN];
        memcpy(kb, k.mv_data, sizeof(kb));
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
        int mrc = index__del_mark(idx, txn, kb); /* a dropped chunk's mark goes too */
        if (mrc) {
            mdb_cursor_close(cur);
            return mrc;
        }
        c->chunks++, c->samples += ref.stats.count, c->bytes += ref.length;
        op = MDB_NEXT; /* LMDB: after a delete, NEXT yields the entry that moved up */
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || rc == EINVAL)
        rc = 0;
    return rc == MDB_MAP_FULL ? HIST_ENOSPC : index__err(rc);
}

/* Drops the chunks that end before their tag's point (seal_mu held). */
static int drop_chunks(hist_db *db, drop_ctx *c, uint64_t *chunks)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    int rc = index__write(&db->idx, drop_txn, c);
    if (rc == 0 && c->chunks) {
        atomic_fetch_sub(&db->chunks, c->chunks);
        atomic_fetch_sub(&db->samples_sealed, c->samples);
        atomic_fetch_sub(&db->bytes_chunks, c->bytes);
        if (c->cut)
            hist_logf(&db->log, HIST_LOG_INFO, "retention: dropped %llu chunk(s)",
                      (unsigned long long)c->chunks);
        else
            hist_logf(&db->log, HIST_LOG_INFO, "dropped %llu chunk(s) older than %lld",
                      (unsigned long long)c->chunks, (long long)c->t);
    }
    if (chunks)
        *chunks = rc == 0 ? c->chunks : 0;
    return rc;
}

int hist_db_drop_before(hist_db *db, int64_t t)
{
    if (!db)
        return HIST_EINVAL;
    mu_lock(&db->seal_mu);
    drop_ctx c = {.t = t};
    int rc = drop_chunks(db, &c, NULL);
    mu_unlock(&db->seal_mu);
    return rc;
}

/* ---- Rules -------------------------------------------------------------------------- */

int hist_retention_rule_parse(const char *rule, size_t *pattern_len, int64_t *ns)
{
    const char *eq = rule ? strrchr(rule, '=') : NULL;
    if (!eq || eq == rule || (size_t)(eq - rule) > HIST_TAGSET_PATTERN_MAX)
        return HIST_EINVAL;
    char pat[HIST_TAGSET_PATTERN_MAX + 1];
    memcpy(pat, rule, (size_t)(eq - rule));
    pat[eq - rule] = '\0';
    if (hist_tagset_check(pat) != 0)
        return HIST_EINVAL;
    int64_t d = 0;
    if (strcmp(eq + 1, "forever") && (hist_duration_parse(eq + 1, &d) != 0 || d < 0))
        return HIST_EINVAL;
    if (pattern_len)
        *pattern_len = (size_t)(eq - rule);
    if (ns)
        *ns = d;
    return 0;
}

void retention__free(hist_db *db)
{
    hist_retention *r = db->retention;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        hist_tagset_free(r->rule[i].set);
    free(r);
    db->retention = NULL;
}

int retention__init(hist_db *db)
{
    size_t n = db->opts.nretention_rules;
    const char *const *rules = db->opts.retention_rules;
    db->opts.retention_rules = NULL; /* the caller's strings: not kept */
    db->opts.nretention_rules = 0;
    if (n == 0)
        return 0;
    if (n > HIST_RETENTION_RULES_MAX || !rules)
        return HIST_EINVAL;
    hist_retention *r = calloc(1, sizeof(*r));
    if (!r)
        return HIST_ENOMEM;
    db->retention = r;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        int64_t ns;
        if (hist_retention_rule_parse(rules[i], &len, &ns) != 0) {
            hist_logf(&db->log, HIST_LOG_ERROR, "retention rule '%s': want PATTERN=DUR",
                      rules[i] ? rules[i] : "");
            return HIST_EINVAL;
        }
        char pat[HIST_TAGSET_PATTERN_MAX + 1];
        memcpy(pat, rules[i], len);
        pat[len] = '\0';
        const char *one = pat;
        int rc = hist_tagset_compile(&one, 1, &r->rule[i].set);
        if (rc)
            return rc;
        r->rule[i].ns = ns;
        r->n = i + 1;
    }
    return 0;
}

/* Every tag's point, t for those no rule names (mu taken). */
static int64_t *tag_cuts(hist_db *db, int64_t now, int64_t t, uint32_t *ncut)
{
    const hist_retention *r = db->retention;
    mu_lock(&db->mu);
    uint32_t cap = db->tags_cap;
    int64_t *cut = malloc((cap ? cap : 1) * sizeof(*cut));
    for (uint32_t id = 0; cut && id < cap; id++) {
        hist_tag_state *t_ = tags__get(db, id);
        cut[id] = t;
        if (!t_)
            continue;
        for (size_t i = 0; i < r->n; i++)
            if (hist_tagset_matches(r->rule[i].set, t_->name)) {
                cut[id] = r->rule[i].ns > 0 ? now - r->rule[i].ns : HIST_TS_MIN;
                break;
            }
    }
    mu_unlock(&db->mu);
    *ncut = cap;
    return cut;
}

/* One retention pass now (seal_mu held). */
static int retention_pass(hist_db *db, uint64_t *chunks)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    int64_t now = clock__wall_ns();
    int64_t t = db->opts.retention_ns > 0 ? now - db->opts.retention_ns : HIST_TS_MIN;
    drop_ctx c = {.t = t};
    if (db->retention) {
        c.cut = tag_cuts(db, now, t, &c.ncut);
        if (!c.cut)
            return HIST_ENOMEM;
    } else if (db->opts.retention_ns <= 0) {
        if (chunks)
            *chunks = 0;
        return 0;
    }
    int rc = drop_chunks(db, &c, chunks);
    free((void *)c.cut);
    return rc;
}

int hist_db_apply_retention(hist_db *db, uint64_t *chunks)
{
    if (!db)
        return HIST_EINVAL;
    mu_lock(&db->seal_mu);
    int rc = retention_pass(db, chunks);
    mu_unlock(&db->seal_mu);
    return rc;
}

void retention__apply(hist_db *db)
{
    HIST_ASSERT(mu_held(&db->seal_mu));
    if (db->opts.retention_ns <= 0 && !db->retention)
        return;
    int64_t now = clock__mono_ns();
    if (db->last_retention_ns && now - db->last_retention_ns < INT64_C(10000000000))
        return;
    db->last_retention_ns = now;
    (void)retention_pass(db, NULL);
}
