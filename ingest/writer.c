/*
 * writer.c: the storage writer thread and its group commit.
 *
 * The loop thread queues decoded batches (writer__submit). The writer
 * takes everything queued at once, resolves tag names to ids (creating
 * tags on first write), calls hist_db_write() for each batch, then ONE
 * hist_db_sync() for the highest LSN: every batch of the round shares that
 * fdatasync. The sync runs on a second thread (the syncer) so that writing
 * the next round overlaps it, and it starts as soon as a batch's WAL record
 * is in the log (hist_db_write_notify kicks it), so the fdatasync also
 * overlaps the batch's own memtable insert: a request waits for the longer
 * of the two, not their sum. Only after the job is both written and synced
 * (hist_db_sync of its own LSN returned 0: a record the log refused fails
 * there even after the log resumed) is it posted back to the loop
 * (uv_async_send), whose done callback sends the acknowledgement. So an ack
 * always means "durable".
 *
 * Atomicity (docs/protocol.md): tags are first looked up without creating
 * them; if any series conflicts with an existing tag's type, nothing is
 * created or written. Only then are missing tags created and the batch
 * written as one WAL record.
 *
 * The name -> (id, type) cache is touched by the writer thread only. It is
 * keyed by the FNV-1a hash decode.c computed for each series (hist_in_series
 * .hash), so the writer never hashes a name; a probe compares the hashes
 * before the names. It holds no names of its own: a slot points at the
 * db's copy (hist_tag_name_of), which lives as long as the db, and the db
 * is closed only after writer__stop(). A slot costs 16 bytes (the name's
 * address, the hash's low 32 bits, id and type in one word), 32 a tag at
 * the table's load of at most one half: 32 MB at a million tags, where 24
 * bytes a slot took 48. A tag whose id does not fit beside its type
 * (2^29 and up) is not cached, only resolved each time. A removed tag (hist_tag_remove)
 * keeps its copy of the name; the write that finds it removed
 * (HIST_ENOTFOUND) empties the cache and resolves its batch again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

typedef struct {
    const char *name; /* the db's copy (hist_tag_name_of): valid while it is open */
    uint32_t hash;    /* of name: hist_in_series.hash's low 32 bits */
    uint32_t id_type; /* id << SLOT_TYPE_BITS | type */
} tag_slot;

enum { SLOT_TYPE_BITS = 3 };
_Static_assert(HIST_TYPE_BOOL < (1 << SLOT_TYPE_BITS), "a slot holds every hist_type");
_Static_assert(sizeof(tag_slot) == 16 || sizeof(void *) != 8, "a slot is 16 bytes");

static uint32_t slot_id(const tag_slot *s)
{
    return s->id_type >> SLOT_TYPE_BITS;
}
static hist_type slot_type(const tag_slot *s)
{
    return (hist_type)(s->id_type & ((1u << SLOT_TYPE_BITS) - 1));
}

struct hist_writer {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    hist_job *q_head, *q_tail; /* waiting for the writer */
    hist_job *s_head, *s_tail; /* written, waiting for the syncer */
    uint64_t s_lsn;            /* highest LSN among them */
    uint64_t kick_lsn;         /* highest LSN appended to the log (on_logged) */
    uint64_t synced_lsn;       /* highest LSN the syncer made durable */
    hist_job *d_head, *d_tail; /* done, waiting for the loop */
    uv_cond_t sync_cv;
    uv_thread_t syncer;
    bool writer_done;
    size_t queued_bytes;
    unsigned inflight;
    bool stop;
    uv_async_t async;
    hist_db *db;
    const hist_log_sink *log;
    hist_writer_drained_fn on_drain;
    void *on_drain_ctx;
    /* writer-thread only */
    tag_slot *cache;
    size_t cache_cap, cache_used;
};

static tag_slot *cache_find(hist_writer *w, const hist_in_series *series)
{
    if (!w->cache_cap)
        return NULL;
    size_t mask = w->cache_cap - 1;
    for (size_t i = series->hash & mask;; i = (i + 1) & mask) {
        tag_slot *s = &w->cache[i];
        if (!s->name)
            return NULL;
        if (s->hash == (uint32_t)series->hash && !strcmp(s->name, series->name))
            return s;
    }
}

/* Forgets every name (a tag was removed; removals are rare). */
static void cache_clear(hist_writer *w)
{
    if (w->cache)
        memset(w->cache, 0, w->cache_cap * sizeof *w->cache);
    w->cache_used = 0;
}

static void cache_put(hist_writer *w, const hist_in_series *series, uint32_t id, hist_type type)
{
    if (id > (UINT32_MAX >> SLOT_TYPE_BITS))
        return; /* the cache is only a shortcut */
    if ((w->cache_used + 1) * 2 > w->cache_cap) {
        size_t cap = w->cache_cap ? w->cache_cap * 2 : 1024;
        tag_slot *fresh = calloc(cap, sizeof *fresh);
        if (!fresh)
            return; /* the cache is only a shortcut */
        for (size_t i = 0; i < w->cache_cap; i++) {
            tag_slot *s = &w->cache[i];
            if (!s->name)
                continue;
            size_t j = s->hash & (cap - 1);
            while (fresh[j].name)
                j = (j + 1) & (cap - 1);
            fresh[j] = *s;
        }
        free(w->cache);
        w->cache = fresh;
        w->cache_cap = cap;
    }
    size_t j = series->hash & (w->cache_cap - 1);
    while (w->cache[j].name)
        j = (j + 1) & (w->cache_cap - 1);
    w->cache[j].name = hist_tag_name_of(w->db, id);
    if (!w->cache[j].name)
        return;
    w->cache[j].hash = (uint32_t)series->hash;
    w->cache[j].id_type = id << SLOT_TYPE_BITS | (uint32_t)type;
    w->cache_used++;
}

/* Creates the request's new tags, all in one durable index transaction
 * (only once the whole request is known to be valid). */
static int create_tags(hist_writer *w, const hist_in_batch *b, uint32_t *ids, hist_in_result *res)
{
    hist_tag_ref *refs = calloc(b->nseries, sizeof *refs);
    size_t *which = calloc(b->nseries, sizeof *which);
    uint32_t *got = calloc(b->nseries, sizeof *got);
    int *rcs = calloc(b->nseries, sizeof *rcs);
    int rc = refs && which && got && rcs ? 0 : HIST_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < b->nseries; i++) {
        const hist_in_series *s = &b->series[i];
        if (s->n == 0 || ids[i])
            continue;
        refs[n] = (hist_tag_ref){s->name, s->name_len, s->type};
        which[n++] = i;
    }
    if (rc == 0)
        rc = hist_tag_resolve_many(w->db, refs, n, true, got, rcs);
    if (rc) {
        decode__set_error(res, rc, "tag creation failed: %s", hist_strerror(rc));
        res->fatal = true;
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        size_t i = which[k];
        const hist_in_series *s = &b->series[i];
        if (rcs[k] == 0) {
            ids[i] = got[k];
            cache_put(w, s, ids[i], s->type);
        } else {
            decode__add_series_error(res, (uint32_t)i, s->name, rcs[k], "tag creation failed: %s",
                                     rcs[k] == HIST_ENOTFOUND ? "unknown tag, auto-create is off"
                                                              : hist_strerror(rcs[k]));
        }
    }
    free(refs), free(which), free(got), free(rcs);
    return rc;
}

/* Whether v (of type from) has an exact value of type to, put in *out. */
static bool exact_value(hist_type from, hist_value v, hist_type to, hist_value *out)
{
    double x = hist_value_as_double(from, v);
    if (to == HIST_TYPE_FLOAT64) { /* integers up to 2^53 are exact doubles */
        out->f = x;
        return from == HIST_TYPE_BOOL || (v.i >= -(INT64_C(1) << 53) && v.i <= INT64_C(1) << 53);
    }
    if (to == HIST_TYPE_BOOL) {
        out->i = x != 0;
        return x == 0 || x == 1;
    }
    if (from != HIST_TYPE_FLOAT64) {
        out->i = v.i;
        return true;
    }
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0) || x != (double)(int64_t)x)
        return false;
    out->i = (int64_t)x;
    return true;
}

/*
 * A gateway or a CSV file rarely knows a tag's type: 20.0 sent to an int64
 * tag, 1 to a bool tag, 7 to a float64 tag. When every value of the series
 * has an exact value of the tag's type, the series is converted in place
 * (the batch is the writer's) and written; otherwise nothing of it is
 * converted and the type conflict stands. Returns true when converted.
 */
static bool convert_series(hist_in_series *s, hist_type to)
{
    hist_value tmp;
    for (size_t i = 0; i < s->n; i++)
        if (!exact_value(s->type, s->v[i], to, &tmp))
            return false;
    for (size_t i = 0; i < s->n; i++)
        exact_value(s->type, s->v[i], to, &s->v[i]);
    s->type = to;
    return true;
}

/* Resolves every series' tag (ids[i] 0: not resolved, the reason is in
 * res). Returns an error of the whole batch (res->fatal), or 0; a series
 * error of a batch that is not partial stops it before tags are created. */
static int resolve_tags(hist_writer *w, const hist_in_batch *b, uint32_t *ids, hist_in_result *res)
{
    bool missing = false;
    for (size_t i = 0; i < b->nseries; i++) {
        const hist_in_series *s = &b->series[i];
        ids[i] = 0;
        if (s->n == 0)
            continue; /* an empty series creates nothing */
        tag_slot *c = cache_find(w, s);
        int rc;
        if (c) {
            hist_type have = slot_type(c);
            if (have != s->type && !convert_series(&b->series[i], have))
                decode__add_series_error(res, (uint32_t)i, s->name, HIST_ETYPE,
                                         "type conflict: tag is %s, series has %s values",
                                         hist_type_name(have), hist_type_name(s->type));
            else
                ids[i] = slot_id(c);
            continue;
        }
        rc = hist_tag_resolve(w->db, s->name, s->name_len, s->type, false, &ids[i]);
        hist_tag_info info;
        if (rc == HIST_ETYPE && hist_tag_by_name(w->db, s->name, &info) == 0 &&
            convert_series(&b->series[i], info.type)) {
            rc = hist_tag_resolve(w->db, s->name, s->name_len, s->type, false, &ids[i]);
        }
        if (rc == 0) {
            cache_put(w, s, ids[i], s->type);
        } else if (rc == HIST_ENOTFOUND) {
            missing = true;
        } else if (rc == HIST_ETYPE) {
            const char *have = hist_tag_by_name(w->db, s->name, &info) == 0
                                   ? hist_type_name(info.type)
                                   : "another type";
            decode__add_series_error(res, (uint32_t)i, s->name, HIST_ETYPE,
                                     "type conflict: tag is %s, series has %s values", have,
                                     hist_type_name(s->type));
        } else {
            decode__add_series_error(res, (uint32_t)i, s->name, rc, "tag lookup failed: %s",
                                     hist_strerror(rc));
        }
    }
    if (!missing || (res->code && !b->partial))
        return 0;
    return create_tags(w, b, ids, res);
}

/* The units a batch carries (a Sparkplug birth's engUnit) into the tags'
 * metadata, where they differ (births are rare: one index read a metric). */
static void apply_units(hist_writer *w, const hist_in_batch *b, const uint32_t *ids)
{
    for (size_t i = 0; i < b->nseries; i++) {
        const hist_in_series *s = &b->series[i];
        hist_tag_info info;
        if (!s->unit || !ids[i] || hist_tag_by_id(w->db, ids[i], &info) < 0)
            continue;
        if (!strncmp(info.unit, s->unit, sizeof info.unit - 1))
            continue;
        snprintf(info.unit, sizeof info.unit, "%s", s->unit);
        int rc = hist_tag_put(w->db, &info);
        if (rc < 0)
            hist_logf(w->log, HIST_LOG_WARN, "tag %s: unit not recorded: %s", s->name,
                      hist_strerror(rc));
    }
}

/* hist_db_write_notify's hook, under the database's lock: the record is in
 * the log, so the syncer may start its fdatasync now. Lock order: db, then
 * w->mu (nothing takes w->mu and then calls into the database). */
static void on_logged(void *ctx, uint64_t lsn)
{
    hist_writer *w = ctx;
    uv_mutex_lock(&w->mu);
    if (lsn > w->kick_lsn) {
        w->kick_lsn = lsn;
        uv_cond_signal(&w->sync_cv);
    }
    uv_mutex_unlock(&w->mu);
}

/* Writes one batch; returns its LSN (0 when nothing was written). */
static uint64_t write_batch(hist_writer *w, hist_job *job)
{
    hist_in_batch *b = job->batch;
    hist_in_result *res = &job->result;
    res->batch_id = b->batch_id;
    uint32_t *ids = calloc(b->nseries + 1, sizeof *ids);
    hist_series *series = calloc(b->nseries + 1, sizeof *series);
    uint64_t lsn = 0;
    if (!ids || !series) {
        decode__set_error(res, HIST_ENOMEM, "out of memory");
        res->fatal = true;
        goto out;
    }
    bool retried = false;
again:
    if (resolve_tags(w, b, ids, res) < 0 || (res->code && !b->partial))
        goto out;
    size_t n = 0;
    uint64_t samples = 0;
    for (size_t i = 0; i < b->nseries; i++) {
        if (b->series[i].n == 0 || !ids[i])
            continue;
        samples += b->series[i].n;
        series[n].tag = ids[i];
        series[n].n = b->series[i].n;
        series[n].ts = b->series[i].ts;
        series[n].v = b->series[i].v;
        series[n].q = b->series[i].q;
        n++;
    }
    if (n) {
        int rc = hist_db_write_notify(w->db, series, n, on_logged, w, &lsn);
        if (rc == HIST_ENOTFOUND && !retried) {
            /* a tag the cache knows was removed (hist_tag_remove): the
             * cache is emptied, the names resolved again (a removed name
             * makes a new tag) and the batch written once more */
            cache_clear(w);
            retried = true;
            goto again;
        }
        if (rc < 0) {
            decode__set_error(res, rc, "storage refused the batch: %s", hist_strerror(rc));
            res->fatal = true;
            lsn = 0;
            goto out;
        }
    }
    res->written = samples; /* all of them unless the batch is partial */
    apply_units(w, b, ids);
out:
    free(ids);
    free(series);
    return lsn;
}

/* Stage 1: write every queued batch (WAL append + memtable), then hand the
 * round to the syncer and go on with the next one at once, so the CPU work
 * of round n+1 overlaps the fdatasync of round n. */
static void writer_main(void *arg)
{
    hist_writer *w = arg;
    for (;;) {
        uv_mutex_lock(&w->mu);
        while (!w->q_head && !w->stop)
            uv_cond_wait(&w->cv, &w->mu);
        hist_job *jobs = w->q_head;
        w->q_head = w->q_tail = NULL;
        bool stop = w->stop;
        uv_mutex_unlock(&w->mu);
        if (!jobs && stop)
            break;

        uint64_t max_lsn = 0;
        size_t bytes = 0;
        hist_job *last = NULL;
        for (hist_job *j = jobs; j; j = j->next) {
            uint64_t lsn = write_batch(w, j);
            j->lsn = lsn;
            if (lsn > max_lsn)
                max_lsn = lsn;
            free(j->batch);
            j->batch = NULL;
            bytes += j->bytes;
            last = j;
        }
        uv_mutex_lock(&w->mu);
        if (w->s_tail)
            w->s_tail->next = jobs;
        else
            w->s_head = jobs;
        w->s_tail = last;
        if (max_lsn > w->s_lsn)
            w->s_lsn = max_lsn;
        w->queued_bytes -= bytes;
        uv_cond_signal(&w->sync_cv);
        uv_mutex_unlock(&w->mu);
    }
    uv_mutex_lock(&w->mu);
    w->writer_done = true;
    uv_cond_signal(&w->sync_cv);
    uv_mutex_unlock(&w->mu);
}

/* A job's own LSN checked after the group's sync: at once when durable,
 * its error when the log refused it (also after the log resumed). */
static void settle_job(hist_writer *w, hist_job *j)
{
    if (!j->lsn)
        return;
    int rc = hist_db_sync(w->db, j->lsn);
    if (rc < 0 && (j->result.code == 0 || j->result.written)) {
        decode__set_error(&j->result, rc, "not durable: %s", hist_strerror(rc));
        j->result.fatal = true;
    }
}

/* Stage 2: one hist_db_sync() for everything appended so far (group
 * commit): for the jobs the writer handed over, and for records still
 * being inserted (kick_lsn), so the fdatasync overlaps their insert. Then
 * the jobs go back to the loop. Rounds stay in order. */
static void syncer_main(void *arg)
{
    hist_writer *w = arg;
    for (;;) {
        uv_mutex_lock(&w->mu);
        while (!w->s_head && w->kick_lsn <= w->synced_lsn && !w->writer_done)
            uv_cond_wait(&w->sync_cv, &w->mu);
        hist_job *jobs = w->s_head, *last = w->s_tail;
        uint64_t lsn = w->s_lsn > w->kick_lsn ? w->s_lsn : w->kick_lsn;
        w->s_head = w->s_tail = NULL;
        w->s_lsn = 0;
        bool done = w->writer_done;
        uv_mutex_unlock(&w->mu);
        if (!jobs && done)
            break;
        int rc = lsn ? hist_db_sync(w->db, lsn) : 0;
        if (rc < 0)
            hist_logf(w->log, HIST_LOG_ERROR, "WAL sync failed: %s", hist_strerror(rc));
        uv_mutex_lock(&w->mu);
        if (lsn > w->synced_lsn)
            w->synced_lsn = lsn; /* tried: a refused LSN is settled per job */
        uv_mutex_unlock(&w->mu);
        if (!jobs)
            continue;
        for (hist_job *j = jobs; j; j = j->next)
            settle_job(w, j);
        uv_mutex_lock(&w->mu);
        if (w->d_tail)
            w->d_tail->next = jobs;
        else
            w->d_head = jobs;
        w->d_tail = last;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
    }
}

static void on_async(uv_async_t *handle)
{
    hist_writer *w = handle->data;
    uv_mutex_lock(&w->mu);
    hist_job *jobs = w->d_head;
    w->d_head = w->d_tail = NULL;
    uv_mutex_unlock(&w->mu);
    while (jobs) {
        hist_job *next = jobs->next;
        w->inflight--;
        jobs->next = NULL;
        jobs->done(jobs); /* frees the job */
        jobs = next;
    }
    if (w->on_drain)
        w->on_drain(w->on_drain_ctx);
}

int writer__start(uv_loop_t *loop, hist_db *db, const hist_log_sink *lg, hist_writer **out)
{
    hist_writer *w = calloc(1, sizeof *w);
    if (!w)
        return HIST_ENOMEM;
    w->db = db;
    w->log = lg;
    if (uv_mutex_init(&w->mu) || uv_cond_init(&w->cv) || uv_cond_init(&w->sync_cv)) {
        free(w);
        return HIST_ENOMEM;
    }
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    if (uv_thread_create(&w->syncer, syncer_main, w)) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return HIST_ENOMEM;
    }
    if (uv_thread_create(&w->thread, writer_main, w)) {
        uv_mutex_lock(&w->mu);
        w->writer_done = true;
        uv_cond_signal(&w->sync_cv);
        uv_mutex_unlock(&w->mu);
        uv_thread_join(&w->syncer);
        uv_close((uv_handle_t *)&w->async, NULL);
        return HIST_ENOMEM;
    }
    *out = w;
    return 0;
}

size_t writer__submit(hist_writer *w, hist_job *job)
{
    job->next = NULL;
    w->inflight++;
    uv_mutex_lock(&w->mu);
    if (w->q_tail)
        w->q_tail->next = job;
    else
        w->q_head = job;
    w->q_tail = job;
    w->queued_bytes += job->bytes;
    size_t q = w->queued_bytes;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    return q;
}

size_t writer__queued_bytes(hist_writer *w)
{
    uv_mutex_lock(&w->mu);
    size_t q = w->queued_bytes;
    uv_mutex_unlock(&w->mu);
    return q;
}

unsigned writer__inflight(hist_writer *w)
{
    return w->inflight;
}

void writer__on_drain(hist_writer *w, hist_writer_drained_fn fn, void *ctx)
{
    w->on_drain = fn;
    w->on_drain_ctx = ctx;
}

static void free_writer(uv_handle_t *h)
{
    hist_writer *w = h->data;
    free(w->cache);
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cv);
    uv_cond_destroy(&w->sync_cv);
    free(w);
}

void writer__stop(hist_writer *w)
{
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
    uv_thread_join(&w->syncer);
    on_async(&w->async); /* deliver what finished after the last wakeup */
    uv_close((uv_handle_t *)&w->async, free_writer);
}
