/*
 * scrub.c: the checker of a data directory, and its background pass.
 *
 * One checker, three callers: historiand's start-up pass and the admin
 * route (hist_db_scrub_start: a thread that sleeps most of the time) and
 * `historiand --check-data` (hist_db_scrub in the calling thread).
 *
 * A pass:
 *   1. the tag registry: every tag row has the stored size, its key's id,
 *      a known type, a valid NUL-terminated name that tag_name maps back
 *      to it and an id below next_tag; every tag_name row names such a tag;
 *   2. every chunk entry in key order, in batches of SCRUB_BATCH taken from
 *      one short read txn each (a txn held for the whole pass would pin old
 *      pages while the sealer writes): the entry parses and names a known
 *      tag; its bytes read, match the crc32c and decode to `count` strictly
 *      increasing samples (chunk__read); and those samples give back
 *      the entry's statistics bit for bit (chunk__stats_fill, the very
 *      function sealing used, so a healthy entry matches exactly);
 *   3. a chunk that fails is marked (damage.c: once, logged, and only while
 *      its entry still says what was checked); a marked chunk that now
 *      verifies is unmarked; marks left without a chunk are removed.
 * An I/O error is not taken on the word of the shared descriptor cache (it
 * also fails for passing reasons, such as too many open files): the
 * segment is opened and read afresh, and only a missing file or a failing
 * read marks the chunk; otherwise it counts as not checked.
 *
 * Throttle: after each SCRUB_SLICE_NS of checking the pass sleeps so that
 * checking takes share_pct of the time; hist_db_close() wakes and stops it.
 */
#include "storage/db_internal.h"
#include "storage/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCRUB_BATCH         256
#define SCRUB_SLICE_NS      INT64_C(5000000) /* 5 ms of work between sleeps */
#define SCRUB_DEFAULT_SHARE 100

struct hist_scrubber {
    bg_worker w;  /* the pass's thread, stop, sleeps; w.mu guards running too */
    bool running; /* under w.mu */
    hist_scrub_options opts; /* the background pass's */
    /* progress, all passes since open */
    _Atomic uint64_t chunks_checked, damaged_found;
    uint64_t passes; /* under mu, like last */
    bool has_last;
    hist_scrub_report last;
};

/* One pass's working state. */
typedef struct {
    hist_db *db;
    hist_scrubber *s;
    const hist_scrub_options *o;
    hist_scrub_report *r;
    int64_t work_ns; /* checking time since the last sleep */
} scrub_pass;

typedef struct {
    hist_chunk_ref ref;
    bool marked;
} scrub_item;

void hist_scrub_options_init(hist_scrub_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->share_pct = SCRUB_DEFAULT_SHARE;
}

/* Sleeps off the work done since the last sleep, in proportion to the
 * share; false when the pass must stop. */
static bool throttle(scrub_pass *ps)
{
    unsigned share = ps->o->share_pct ? ps->o->share_pct : 100;
    return worker__throttle(&ps->s->w, &ps->work_ns, share >= 100 ? 1.0 : share / 100.0,
                            SCRUB_SLICE_NS);
}

static void report(scrub_pass *ps, int kind, bool known, const hist_damaged_chunk *c,
                   const char *msg)
{
    if (kind == HIST_PROBLEM_TAG)
        ps->r->tag_problems++;
    else if (kind == HIST_PROBLEM_INDEX)
        ps->r->index_problems++;
    if (!ps->o->problem)
        return;
    hist_scrub_problem p = {.kind = kind, .known = known, .message = msg};
    if (c)
        p.chunk = *c;
    ps->o->problem(ps->o->ctx, &p);
}

/* ---- The tag registry ---------------------------------------------------------- */

static bool nul_in(const char *s, size_t cap)
{
    return memchr(s, 0, cap) != NULL;
}

/* What is wrong with one tag row, or NULL; txn is the registry's. */
static const char *tag_row_problem(hist_db *db, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                                   uint64_t next_tag, hist_index_tag *t)
{
    if (k->mv_size != 4)
        return "a tag row whose key is not 4 bytes";
    if (tag_row__unpack(v->mv_data, v->mv_size, t) != 0)
        return "a tag row that does not decode";
    const uint8_t *kb = k->mv_data;
    uint32_t id = (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 | (uint32_t)kb[2] << 8 | kb[3];
    if (t->id != id)
        return "a tag row holding another id than its key";
    if (t->type < HIST_TYPE_FLOAT64 || t->type > HIST_TYPE_BOOL)
        return "a tag of unknown type";
    if (!nul_in(t->name, sizeof(t->name)) || !nul_in(t->unit, sizeof(t->unit)) ||
        !nul_in(t->description, sizeof(t->description)))
        return "a tag whose name, unit or description is not terminated";
    if (hist_tag_name_check(t->name, strlen(t->name)) != 0)
        return "a tag whose name breaks the naming rules";
    if ((uint64_t)t->id >= next_tag)
        return "a tag id not below the next id to assign";
    MDB_val nk = {strlen(t->name), t->name}, nv;
    if (mdb_get(txn, db->idx.tag_name, &nk, &nv) != 0 || nv.mv_size != 4)
        return "a tag the name index does not list";
    uint32_t named;
    memcpy(&named, nv.mv_data, 4);
    return named == t->id ? NULL : "a tag whose name the name index gives to another id";
}

/* What is wrong with one tag_name row, or NULL. */
static const char *name_row_problem(hist_db *db, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
    if (v->mv_size != 4)
        return "a name index row that is not a 4-byte id";
    uint32_t id;
    memcpy(&id, v->mv_data, 4);
    hist_index_tag t;
    if (index__get_tag(&db->idx, txn, id, &t) != 0)
        return "a name index row naming a missing tag";
    if (strlen(t.name) != k->mv_size || memcmp(t.name, k->mv_data, k->mv_size) != 0)
        return "a name index row naming a tag of another name";
    return NULL;
}

static int check_registry(scrub_pass *ps)
{
    hist_db *db = ps->db;
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    uint64_t next_tag = UINT64_MAX; /* an index without it: nothing to compare */
    index__meta_get(&db->idx, txn, "next_tag", &next_tag);
    MDB_cursor *cur;
    MDB_val k, v;
    char msg[512];
    rc = index__err(mdb_cursor_open(txn, db->idx.tag, &cur));
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        ps->r->tags_checked++;
        hist_index_tag t;
        memset(&t, 0, sizeof(t));
        const char *what = tag_row_problem(db, txn, &k, &v, next_tag, &t);
        if (what) {
            snprintf(msg, sizeof(msg), "tag registry: %s (id %u)", what, t.id);
            report(ps, HIST_PROBLEM_TAG, false, NULL, msg);
        }
    }
    if (rc == 0)
        mdb_cursor_close(cur);
    if (rc == 0)
        rc = index__err(mdb_cursor_open(txn, db->idx.tag_name, &cur));
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        const char *what = name_row_problem(db, txn, &k, &v);
        if (what) {
            snprintf(msg, sizeof(msg), "tag registry: %s ('%.*s')", what,
                     (int)(k.mv_size < 255 ? k.mv_size : 255), (const char *)k.mv_data);
            report(ps, HIST_PROBLEM_TAG, false, NULL, msg);
        }
    }
    if (rc == 0)
        mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
    return rc;
}

/* ---- Chunks -------------------------------------------------------------------- */

/* Entries after `after` (every entry from the first when !*have_after),
 * at most SCRUB_BATCH, with whether each is marked; entries that do not
 * parse are reported. */
static int load_batch(scrub_pass *ps, uint8_t *after, bool *have_after, scrub_item *items,
                      size_t *n)
{
    hist_db *db = ps->db;
    *n = 0;
    MDB_txn *txn;
    int rc = index__read_begin(&db->idx, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur = NULL;
    rc = index__err(mdb_cursor_open(txn, db->idx.chunk, &cur));
    hist_marks marks = {0};
    if (rc == 0)
        rc = marks__open(&db->idx, txn, *have_after ? after : NULL, &marks);
    MDB_val k = {HIST_CHUNK_KEY_LEN, after}, v;
    int ok = rc == 0 && mdb_cursor_get(cur, &k, &v, *have_after ? MDB_SET_RANGE : MDB_FIRST) == 0;
    if (ok && *have_after && k.mv_size == HIST_CHUNK_KEY_LEN &&
        memcmp(k.mv_data, after, HIST_CHUNK_KEY_LEN) == 0)
        ok = mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0;
    for (; ok && *n < SCRUB_BATCH; ok = mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        scrub_item *it = &items[*n];
        if (k.mv_size == HIST_CHUNK_KEY_LEN) {
            memcpy(after, k.mv_data, HIST_CHUNK_KEY_LEN);
            *have_after = true;
        }
        it->marked = marks__has(&marks, &k);
        if (index__chunk_ref_from(&k, &v, &it->ref) == 0) {
            (*n)++;
            continue;
        }
        char msg[256];
        hist_damaged_chunk c = {0};
        if (k.mv_size == HIST_CHUNK_KEY_LEN)
            index__chunk_key_parse(k.mv_data, &c.tag, &c.start_ts, &c.seq);
        snprintf(
            msg, sizeof(msg),
            "index: the chunk entry of tag id %u starting at %lld ns (seq %llu) does not parse",
            c.tag, (long long)c.start_ts, (unsigned long long)c.seq);
        report(ps, HIST_PROBLEM_INDEX, false, &c, msg);
        if (k.mv_size != HIST_CHUNK_KEY_LEN)
            break; /* cannot resume after a key of another shape */
    }
    marks__close(&marks);
    if (cur)
        mdb_cursor_close(cur);
    index__read_end(&db->idx, txn);
    return rc;
}

/* The samples' verdict against the entry: 0, or a hist_damage_reason. */
static int samples_verdict(hist_type type, const hist_chunk_ref *ref, const int64_t *ts,
                           const hist_value *v, const uint32_t *q)
{
    size_t n = ref->stats.count;
    if (n == 0)
        return HIST_DAMAGE_STATS; /* no seal writes an empty chunk */
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return HIST_DAMAGE_DECODE;
    hist_chunk_ref want;
    memset(&want, 0, sizeof(want));
    int rc = chunk__stats_fill(type, ts, v, q, n, &want);
    if (rc < 0)
        return rc;
    /* Both sides are zeroed before they are filled (hist_chunk_stats has no
     * padding anyway), so comparing bytes compares every field exactly. An
     * entry without counted stats is from before they were kept: fine. */
    if (memcmp(&want.stats, &ref->stats, sizeof(want.stats)) != 0)
        return HIST_DAMAGE_STATS;
    if ((ref->flags & HIST_CHUNK_HAS_COUNTED) &&
        (!(want.flags & HIST_CHUNK_HAS_COUNTED) ||
         memcmp(&want.counted, &ref->counted, sizeof(want.counted)) != 0))
        return HIST_DAMAGE_STATS;
    return 0;
}

/* A fresh look at a chunk the shared descriptors could not read:
 * HIST_DAMAGE_UNREADABLE or _SHORT when that lasts (the file is missing,
 * the read fails or comes up short), 0 when it does not (not checked). */
static int unreadable_lasts(hist_db *db, const hist_chunk_ref *ref, int *err)
{
    char path[4200]; /* segment.h names the files */
    snprintf(path, sizeof(path), "%s/seg/%012u.seg", db->dir, ref->segment);
    *err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return errno == ENOENT ? HIST_DAMAGE_UNREADABLE : 0;
    }
    uint8_t *buf = malloc(ref->length ? ref->length : 1);
    ssize_t got = buf ? pread(fd, buf, ref->length, (off_t)ref->offset) : -1;
    *err = got < 0 ? (buf ? errno : ENOMEM) : 0;
    close(fd);
    free(buf);
    if (got < 0)
        return *err == EIO ? HIST_DAMAGE_UNREADABLE : 0;
    return (size_t)got < ref->length ? HIST_DAMAGE_SHORT : 0;
}

/* 0 when the chunk verifies, a hist_damage_reason when it does not, or a
 * negative error (out of memory); *unchecked when it could not be told. */
static int verify_chunk(hist_db *db, const hist_chunk_ref *ref, hist_type type, bool *unchecked)
{
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
    int why;
    *unchecked = false;
    int rc = chunk__read(db, ref, &ts, &v, &q, &why);
    if (rc == HIST_EIO) {
        int err;
        why = unreadable_lasts(db, ref, &err);
        *unchecked = why == 0;
        return why;
    }
    if (rc == HIST_ECORRUPT)
        return why;
    if (rc)
        return rc;
    why = samples_verdict(type, ref, ts, v, q);
    free(ts), free(v), free(q);
    return why;
}

/* Verifies one entry and marks or unmarks it. */
static int check_item(scrub_pass *ps, const scrub_item *it)
{
    hist_db *db = ps->db;
    const hist_chunk_ref *ref = &it->ref;
    hist_tag_info info;
    char msg[768];
    if (hist_tag_by_id(db, ref->tag, &info) != 0) {
        hist_damaged_chunk c = damage__of(ref, 0);
        snprintf(msg, sizeof(msg), "index: a chunk of tag id %u, which the registry does not know",
                 ref->tag);
        report(ps, HIST_PROBLEM_INDEX, false, &c, msg);
        return 0;
    }
    int64_t t0 = clock__mono_ns();
    bool unchecked;
    int why = verify_chunk(db, ref, info.type, &unchecked);
    if (why < 0)
        return why;
    ps->r->chunks_checked++;
    ps->r->bytes_checked += ref->length;
    atomic_fetch_add(&ps->s->chunks_checked, 1);
    hist_damaged_chunk c = damage__of(ref, why);
    if (unchecked) {
        ps->r->chunks_unchecked++;
    } else if (why && !it->marked) {
        int rc = damage__mark(db, ref, why);
        if (rc < 0)
            return rc;
        if (rc == 1) { /* 0: moved or gone meanwhile; the next pass sees it */
            ps->r->damaged_new++;
            atomic_fetch_add(&ps->s->damaged_found, 1);
            damage__describe(db, &c, msg, sizeof(msg));
            report(ps, HIST_PROBLEM_CHUNK, false, &c, msg);
        }
    } else if (why) {
        ps->r->damaged_known++;
        damage__describe(db, &c, msg, sizeof(msg));
        report(ps, HIST_PROBLEM_CHUNK, true, &c, msg);
    } else if (it->marked) {
        int rc = damage__clear(db, ref);
        if (rc < 0)
            return rc;
        ps->r->repaired += rc == 1;
    }
    ps->work_ns += clock__mono_ns() - t0;
    return 0;
}

static int check_chunks(scrub_pass *ps)
{
    scrub_item *items = malloc(SCRUB_BATCH * sizeof(*items));
    if (!items)
        return HIST_ENOMEM;
    uint8_t after[HIST_CHUNK_KEY_LEN];
    bool have_after = false;
    size_t n;
    int rc;
    while ((rc = load_batch(ps, after, &have_after, items, &n)) == 0 && n > 0) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!throttle(ps)) {
                ps->r->stopped = true;
                break;
            }
            rc = check_item(ps, &items[i]);
        }
        if (rc || ps->r->stopped)
            break;
    }
    free(items);
    return rc;
}

/* ---- Passes --------------------------------------------------------------------- */

static int run_pass(hist_db *db, const hist_scrub_options *o, hist_scrub_report *r)
{
    memset(r, 0, sizeof(*r));
    int64_t t0 = clock__mono_ns();
    r->wal_records_replayed = db->recovered_records;
    r->wal_records_dropped = db->dropped_records;
    r->wal_bytes_dropped = db->dropped_bytes;
    scrub_pass ps = {.db = db, .s = db->scrub, .o = o, .r = r};
    int rc = check_registry(&ps);
    if (rc == 0)
        rc = check_chunks(&ps);
    if (rc == 0 && !r->stopped)
        rc = damage__drop_dangling(db, &r->marks_dropped);
    r->seconds = (double)(clock__mono_ns() - t0) / 1e9;
    hist_scrubber *s = db->scrub;
    pthread_mutex_lock(&s->w.mu);
    s->passes++;
    s->last = *r;
    s->has_last = true;
    pthread_mutex_unlock(&s->w.mu);
    hist_logf(&db->log, rc ? HIST_LOG_WARN : HIST_LOG_INFO,
              "scrub%s: %llu chunk(s), %.1f MiB checked in %.2f s: %llu damaged (%llu new), %llu "
              "repaired, %llu not checked, %llu index and %llu tag problem(s)%s%s",
              r->stopped ? " (stopped)" : "", (unsigned long long)r->chunks_checked,
              (double)r->bytes_checked / 1048576.0, r->seconds,
              (unsigned long long)(r->damaged_new + r->damaged_known),
              (unsigned long long)r->damaged_new, (unsigned long long)r->repaired,
              (unsigned long long)r->chunks_unchecked, (unsigned long long)r->index_problems,
              (unsigned long long)r->tag_problems, rc ? ": " : "", rc ? hist_strerror(rc) : "");
    return rc;
}

int hist_db_scrub(hist_db *db, const hist_scrub_options *opts, hist_scrub_report *out)
{
    if (!db)
        return HIST_EINVAL;
    hist_scrub_options def;
    hist_scrub_options_init(&def);
    hist_scrub_report r;
    int rc = run_pass(db, opts ? opts : &def, &r);
    if (out)
        *out = r;
    return rc;
}

static void *scrub_thread(void *arg)
{
    hist_db *db = arg;
    hist_scrubber *s = db->scrub;
    hist_scrub_report r;
    run_pass(db, &s->opts, &r); /* logs its outcome */
    pthread_mutex_lock(&s->w.mu);
    s->running = false;
    pthread_mutex_unlock(&s->w.mu);
    return NULL;
}

int hist_db_scrub_start(hist_db *db, const hist_scrub_options *opts)
{
    if (!db)
        return HIST_EINVAL;
    hist_scrubber *s = db->scrub;
    pthread_mutex_lock(&s->w.mu);
    int rc = s->w.stop ? HIST_ECLOSED : s->running ? HIST_EBUSY : 0;
    if (rc == 0 && s->w.has_thread) {
        pthread_join(s->w.thread, NULL); /* the last pass's, finished */
        s->w.has_thread = false;
    }
    if (rc == 0) {
        if (opts)
            s->opts = *opts;
        else
            hist_scrub_options_init(&s->opts);
        s->running = true;
        if (pthread_create(&s->w.thread, NULL, scrub_thread, db) != 0) {
            s->running = false;
            rc = HIST_ENOMEM;
        } else {
            s->w.has_thread = true;
        }
    }
    pthread_mutex_unlock(&s->w.mu);
    return rc;
}

int hist_db_scrub_status(hist_db *db, hist_scrub_status *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    hist_scrubber *s = db->scrub;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->w.mu);
    out->running = s->running;
    out->passes = s->passes;
    out->has_last = s->has_last;
    out->last = s->last;
    pthread_mutex_unlock(&s->w.mu);
    out->chunks_checked = atomic_load(&s->chunks_checked);
    out->damaged_found = atomic_load(&s->damaged_found);
    return 0;
}

void scrub__fill_stats(hist_db *db, hist_db_stats *out)
{
    hist_scrub_status st;
    hist_db_scrub_status(db, &st);
    out->damaged_chunks = damage__total(db);
    out->scrub_running = st.running;
    out->scrub_passes = st.passes;
    out->scrub_chunks_checked = st.chunks_checked;
    out->scrub_damaged_found = st.damaged_found;
}

/* ---- Life cycle ---------------------------------------------------------------- */

int scrub__init(hist_db *db)
{
    hist_scrubber *s = calloc(1, sizeof(*s));
    if (!s)
        return HIST_ENOMEM;
    worker__init(&s->w);
    hist_scrub_options_init(&s->opts);
    db->scrub = s;
    return 0;
}

void scrub__stop(hist_db *db)
{
    hist_scrubber *s = db->scrub;
    if (!s)
        return;
    worker__stop(&s->w);
}

void scrub__free(hist_db *db)
{
    hist_scrubber *s = db->scrub;
    if (!s)
        return;
    scrub__stop(db);
    worker__destroy(&s->w);
    free(s);
    db->scrub = NULL;
}
