/*
 * db_internal.h: the hist_db struct shared by the storage engine's files.
 * Not part of the door.
 *
 * Who may call whom (SQLite pager.c habit). A file calls functions of
 * files with a higher number only, never of its own level or above, so
 * calls go one way (scripts/check_layers.sh does not check this; the
 * list is kept by hand):
 *   1. db.c           open and close, the write path, latest, flush, stats;
 *      delete.c       deleting a tag's samples in a time range (seals it first).
 *   2. seal.c         sealing buffers, the WAL checkpoint, the sealer thread;
 *      compact.c      merging chunks, rewriting segments;
 *      scan.c         reads, sample before / at or after, a stale latest;
 *      scrub.c        the checker of chunks and the registry.
 *   3. chunk_store.c  a chunk built, cut, committed (segment + index), loaded.
 *   4. damage.c       damage marks;
 *      namespace.c    walking the name index: tags under a prefix, one level;
 *      degraded.c     the sync, rollback of void writes, healing, seal backoff;
 *      recovery.c     WAL replay into the memtable at open;
 *      retention.c    dropping old chunks;
 *      backup.c       the online backup (pins segments and WAL, copies).
 *   5. tags.c         the registry, the tag cache, a tag's buffer;
 *      wal.c          the WAL, writing (wal_internal.h, shared with 6);
 *      index_shrink.c the index file rewritten packed at close.
 *   6. index.c        the LMDB index;
 *      segment.c      the segment files;
 *      wal_recover.c  the WAL, reading: the record walk, recovery, replay.
 *   7. index_entry.c, io.c, crc32c.c, memtable.c, wal_payload.c,
 *      stats_bounds.c, worker.c (the scrub's and the compactor's thread),
 *      codec/ (the chunk format; its files call only each other): the
 *      leaves.
 * Below them all: common/ (errors, types, hist_logf, hist_varint) and the
 * inline headers clock.h and mutex.h.
 *
 * Locks, in the order they may be taken:
 *   seal_mu  one sealer/compactor/dropper at a time. Holding it means the
 *            chunk index of every tag changes only by our hand, and chunk
 *            seqs are handed out in the order of the data they hold.
 *   tag_mu   serializes tag creation and metadata updates (LMDB writes).
 *   mu       the memtable, the tag cache and the counters below it. Held
 *            only for memory work, never across encode, I/O or LMDB commits
 *            (except the WAL append, which is a memcpy into its buffer, so
 *            memtable order == LSN order).
 *   dec_mu   the idle chunk decoders (chunk_store.c); a leaf, held for a
 *            push or a pop only.
 * LMDB transactions are taken through index.c (its own resize lock).
 * A function whose comment says its caller holds one of them asserts
 * mu_held() first (mutex.h; debug builds).
 */
#ifndef HIST_STORAGE_DB_INTERNAL_H
#define HIST_STORAGE_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "storage/clock.h"
#include "common/hist_assert.h"
#include "storage/mutex.h"
#include "storage/hist_storage.h"
#include "common/hist_slab.h"
#include "storage/index.h"
#include "storage/memtable.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "storage/chunk.h"

/* Chunk decoders kept for reuse (chunk__read): one per thread reading
 * chunks at once is enough; more are made and freed as needed. */
#define DB_DECODERS 8

/* One tag in memory: what the write, seal and scan paths need, and its
 * name once, at its exact length (tags__cache allocates the struct and the
 * name as one block). Unit, description, deadband and the creation time
 * stay in the LMDB `tag` row (hist_index_tag), read when asked
 * (hist_tag_by_name, hist_tag_by_id, listing); so does the stored copy of
 * flushed_lsn and max_span, which the sealer raises inside its commit. */
typedef struct {
    uint32_t id;
    uint8_t type;      /* hist_type */
    uint8_t name_len;  /* strlen(name) */
    bool in_dirty : 1; /* listed in db->dirty */
    bool has_latest : 1;
    /* latest may come from a chunk whose damage mark changed since it was
     * set: hist_db_latest() looks it up again (damage.c). */
    bool latest_stale : 1;
    /* hist_tag_remove(): gone from the registry; the struct stays (names
     * handed out point into it) and so does its name-hash slot (probe
     * chains stay whole), but no lookup, write or listing finds it. */
    bool removed : 1;
    uint64_t flushed_lsn;       /* every write with lsn <= this is in chunks */
    int64_t max_span;           /* max (end_ts - start_ts) over the tag's chunks */
    hist_sample latest;
    hist_membuf buf;           /* 32 bytes of zeros while the tag is idle */
    char name[];               /* name_len bytes and a NUL */
} hist_tag_state;
_Static_assert(HIST_TAG_NAME_MAX <= UINT8_MAX, "name_len holds a tag name's length");

typedef struct hist_scrubber hist_scrubber;   /* scrub.c */
typedef struct hist_compactor hist_compactor; /* compact.c */
typedef struct hist_backup_job hist_backup_job; /* backup.c */
typedef struct hist_retention hist_retention; /* retention.c */

struct hist_db {
    hist_db_options opts;
    hist_log_sink log; /* opts.log, filtered by opts.log_level */
    char dir[4096];
    int lock_fd; /* DATA/LOCK, flock'ed for as long as the db is open; -1 when not */
    hist_index idx;
    int idx_open;
    hist_segs segs;
    int segs_open;
    hist_wal *wal;

    db_mutex seal_mu;
    db_mutex tag_mu;
    db_mutex mu;
    pthread_cond_t seal_cv; /* wakes the sealer (under mu) */
    pthread_cond_t room_cv; /* wakes writers held back by the memory budget */

    /* --- under mu --- */
    hist_tag_state **tags; /* tags[id], NULL where no tag; id < tags_cap */
    uint32_t tags_cap;
    uint32_t next_tag_id;
    uint64_t ntags;
    uint64_t nremoved; /* of them removed (hist_tag_remove) since the open */
    uint32_t *name_hash; /* open addressing: tag ids, 0 = empty */
    size_t hash_cap;
    uint32_t *dirty; /* tags with a non-empty buffer */
    size_t ndirty, capdirty;
    hist_slab tag_slab; /* the tag states' blocks (tags__cache), freed at close only */
    size_t mem_bytes; /* the buffers' blocks (membuf__bytes), the budget's count */
    uint64_t runlog_floor_lsn; /* seal.c: the WAL's next LSN when the last logging round began */
    uint64_t mem_samples;
    int stop;
    int closing;
    int fatal; /* WAL and memtable disagree: every write refused until restart (sticky) */
    /* degraded.c: the disk refusing writes */
    int64_t last_heal_ns;       /* last attempt to resume the WAL */
    int seal_error;             /* the last seal's error; 0 when it worked */
    uint64_t seal_failures;     /* failed seal rounds since open */
    uint64_t seal_failures_run; /* ... since the last one that worked (sets the backoff) */
    uint64_t void_samples;      /* samples of refused writes taken out of memory */

    /* --- under seal_mu --- */
    uint64_t next_seq;
    uint64_t checkpoint_lsn;
    uint64_t seen_durable_lsn; /* the WAL's durable LSN at the last checkpoint (meta) */
    int64_t last_durable_note_ns;
    int64_t last_retention_ns;
    int64_t last_trim_ns;       /* seal.c: the allocator's free pages last given back */
    hist_msample *seal_scratch; /* reused snapshot buffer (no mmap churn) */
    size_t seal_scratch_cap;

    /* --- under dec_mu (a leaf: nothing is taken while it is held) --- */
    db_mutex dec_mu;
    chunk_decoder *decoders[DB_DECODERS]; /* chunk_store.c: idle ones, for chunk__read */
    int ndecoders;

    /* --- counters (atomic) --- */
    _Atomic uint64_t chunks, samples_sealed, bytes_chunks;
    _Atomic uint64_t chunks_sealed, chunks_decoded, chunk_load_failures;
    _Atomic uint64_t seals_held, seals_memory, seals_wal; /* see hist_db_stats */
    _Atomic uint64_t freezes;
    _Atomic uint64_t runs_logged, runlog_bytes; /* runlog.c: buffers logged, record bytes */
    uint64_t recovered_records, dropped_records, dropped_bytes, lost_records;

    pthread_t sealer;
    int has_sealer;

    hist_scrubber *scrub;      /* the scrub's thread and progress (scrub.c) */
    hist_compactor *compactor; /* the background compactor and its counters (compact.c) */
    hist_backup_job *backup;   /* the online backup: one at a time, its thread (backup.c) */
    hist_retention *retention; /* the compiled retention rules, NULL without (retention.c) */
};

/* Tag cache (tags.c). Call with mu held. */
hist_tag_state *tags__get(hist_db *db, uint32_t id);
/* Adds a fresh tag state to the cache (mu held), from its stored row. */
int tags__cache(hist_db *db, const hist_index_tag *meta);
/* Bytes the tag registry holds in memory (mu held): every tag's state
 * block (with the allocator's header and rounding: 8 bytes, then a
 * multiple of 16), the id table, the name hash and the dirty list;
 * buffers not included (db->mem_bytes counts them). */
size_t tags__registry_bytes(hist_db *db);
/* A stored tag row as the door's hist_tag_info (no lock). */
void tags__info_from(const hist_index_tag *m, hist_tag_info *out);
/* Marks a tag's buffer non-empty (mu held). */
int tags__mark_dirty(hist_db *db, uint32_t id);
/* Raises a tag's latest value to (ts, v, q) unless it is older (mu held):
 * on equal timestamps the later write wins. */
static inline void tags__note_latest(hist_tag_state *t, int64_t ts, hist_value v, uint32_t q)
{
    if (t->has_latest && ts < t->latest.ts)
        return;
    t->has_latest = 1;
    t->latest = (hist_sample){ts, v, q};
}
/* A tag's latest value again after a delete took samples from its chunks
 * and buffer (mu held): sealed, the newest sample left in its chunks (NULL
 * when none is), or a later one left in the buffer; when the buffer cannot
 * be viewed, latest_stale is set so it is looked up again when asked. */
void tags__restore_latest(hist_tag_state *t, const hist_sample *sealed);
/* Inserts samples into a tag's buffer and updates latest (mu held); now_ns
 * is the monotonic clock (clock__mono_ns), read once per write. */
int tags__insert(hist_db *db, hist_tag_state *t, const int64_t *ts, const hist_value *v,
                 const uint32_t *q, size_t n, uint64_t lsn, int64_t now_ns);

/* WAL payload codec (wal_payload.c). decode calls fn per series. */
typedef int (*hist_payload_fn)(void *ctx, uint32_t tag, size_t n, const int64_t *ts,
                               const hist_value *v, const uint32_t *q);
int payload__decode(const uint8_t *p, size_t len, hist_payload_fn fn, void *ctx);
/* The most bytes payload__encode() writes for these series. */
size_t payload__bound(const hist_series *s, size_t ns);
/* Encodes the series into out (payload__bound bytes); returns the length. */
size_t payload__encode(const hist_series *s, size_t ns, uint8_t *out);
/* A payload's version byte: a write (payload__decode: PAYLOAD_WRITES, or
 * PAYLOAD_WRITES_V1 in logs written before 0.9.1), a run record
 * (PAYLOAD_RUNS, payload__decode_runs); 0 for an empty one. */
#define PAYLOAD_WRITES_V1 1
#define PAYLOAD_RUNS      2
#define PAYLOAD_WRITES    3
int payload__version(const uint8_t *p, size_t len);
/* Run records (runlog.c writes them): start writes the head, put appends
 * one buffer's runs (at most payload__runs_bound(fz) bytes) and counts it
 * in the head at start's return value. */
#define PAYLOAD_RUNS_MAX 16 /* runs of one buffer in a record (it holds at most 4) */
size_t payload__runs_bound(const membuf_frozen *fz);
uint8_t *payload__runs_start(uint8_t *out);
uint8_t *payload__runs_put(uint8_t *start, uint8_t *p, uint32_t tag, const membuf_frozen *fz);
/* Calls fn per tag with its runs (their bytes inside p); HIST_ECORRUPT for
 * a record that does not decode, else fn's first nonzero return. */
typedef int (*hist_runs_fn)(void *ctx, uint32_t tag, const membuf_new_run *runs, size_t n);
int payload__decode_runs(const uint8_t *p, size_t len, hist_runs_fn fn, void *ctx);

/* Logging runs (runlog.c, seal_mu held): the WAL budget's first answer.
 * Freezes each buffer whole, writes its runs to the WAL again in run
 * records, makes them durable, then marks the runs logged, which lets the
 * checkpoint pass the older records that held them. */
int runlog__tags(hist_db *db, const uint32_t *ids, size_t n);

/* Sealing (seal.c). seal_mu held. How much of each buffer goes: */
typedef enum {
    SEAL_WHOLE, /* every durable sample (flush, memory and WAL pressure) */
    SEAL_HOLD,  /* a due buffer keeps its current clock window (the sealer) */
    SEAL_CLOSE, /* a lazy close: a buffer of at least chunk_samples / 16
                   samples whole, a shorter one not at all */
} seal_cut;
int seal__tags(hist_db *db, const uint32_t *ids, size_t n, seal_cut cut);
int seal__all(hist_db *db);
/* A lazy close (hist_db_options.lazy_close): seals the long runs
 * (SEAL_CLOSE), then, while the closed WAL is over its budget, the buffers
 * holding its oldest writes, whole; checkpoints. The short runs stay in
 * the WAL, which the next open replays. */
int seal__close(hist_db *db);
int seal__checkpoint(hist_db *db);

int seal__start(hist_db *db);
void seal__stop(hist_db *db);

/* Freezing (freeze.c): memory pressure compresses buffers in memory. */
#define FREEZE_MIN 4 /* a buffer is frozen from this many durable raw samples on */
typedef enum {
    FREEZE_PRESSURE, /* from FREEZE_MIN durable raw samples, merging the newest runs */
    FREEZE_ALL,      /* every durable raw sample and every run into one run */
    FREEZE_DEEP,     /* every durable raw sample, one is enough, merging the newest
                        runs: memory pressure's answer before sealing whole */
} freeze_mode;
/* Freezes the durable raw samples of each tag's buffer (seal_mu held). */
int freeze__tags(hist_db *db, const uint32_t *ids, size_t n, freeze_mode mode);
/* The durable raw samples of b (lsn <= durable, the WAL's durable LSN),
 * however few: what FREEZE_DEEP and FREEZE_ALL take (mu held). */
size_t freeze__durable_raw(const hist_membuf *b, uint64_t durable);
/* Of raw durable raw samples, what FREEZE_PRESSURE takes: 0 below
 * FREEZE_MIN. */
static inline size_t freeze__worth(size_t raw)
{
    return raw >= FREEZE_MIN ? raw : 0;
}

/* The disk refusing writes (degraded.c). */
/* Takes the samples of void WAL records (not durable when the log broke)
 * out of the memtable; a no-op while the log is healthy. */
void degraded__rollback_void(hist_db *db);
/* Tries (at most once a second) to resume a broken WAL, rolling back
 * first. 0 when the log is healthy (again), else the error that broke it. */
int degraded__heal(hist_db *db);
/* Records the outcome of a seal round (logged on a change of state only);
 * returns how long the sealer should wait before the next try (0 = none). */
int64_t degraded__note_seal(hist_db *db, int rc);
/* Sleeps up to ns or until the database stops. Takes mu. */
void degraded__backoff(hist_db *db, int64_t ns);
/* Fills the health fields of the stats. */
void degraded__health(hist_db *db, hist_db_stats *out);

/* Recovery (recovery.c): replays the WAL into the memtable. */
int recovery__run(hist_db *db, const hist_wal_report *rep);

/* Retention (retention.c): drops the chunks older than opts.retention_ns,
 * or than their tag's rule's, at most every 10 s (seal_mu held; the sealer
 * calls it). init compiles opts.retention_rules (at open), free frees them. */
void retention__apply(hist_db *db);
int retention__init(hist_db *db);
void retention__free(hist_db *db);

/* ---- Chunks (chunk_store.c) ----------------------------------------------
 * Reads, verifies (crc32c) and decodes one chunk into
 * malloc'ed arrays (*ts, *v, *q; caller frees). HIST_ECORRUPT or HIST_EIO
 * for a chunk that fails, *why then saying how (hist_damage_reason). No
 * side effects: the checker of scrub.c uses it as it is. */
int chunk__read(hist_db *db, const hist_chunk_ref *ref, int64_t **ts, hist_value **v, uint32_t **q,
                int *why);
/* chunk__read() for queries and compaction: counts the read; a chunk
 * whose bytes are damaged is marked (damage__mark), an I/O error is
 * logged (it may pass, so it marks nothing). */
int chunk__load(hist_db *db, const hist_chunk_ref *ref, int64_t **ts, hist_value **v, uint32_t **q);
/* chunk__load() into samples to merge: appends the chunk's samples to
 * m at *n, each with the chunk's seq (the order msamples__sort_dedupe
 * keeps the last write by); m has room for ref->stats.count more. On an
 * error nothing is appended. */
int chunk__load_msamples(hist_db *db, const hist_chunk_ref *ref, hist_msample *m, size_t *n);
/* The end j of the cluster [i, j) of refs (n entries of one tag in start
 * order) that starts at i: chunks whose spans overlap, one after another.
 * The unit that compaction merges and a delete rewrites: a merged chunk
 * takes a new, highest seq, which is right only when it replaces every
 * chunk that shares a timestamp with it. */
size_t chunk__cluster_end(const hist_chunk_ref *refs, size_t n, size_t i);
/* The index entries of one tag's chunks whose key lies from (tag, from)
 * on and whose start is before to, in key (time) order, or of every chunk
 * when tag == 0; *out is malloc'ed (caller frees). Entries that do not
 * parse are left out, and with skip_damaged those marked damaged: a merge
 * must not take them in (their samples are left out of every read), while
 * a segment rewrite moves them byte for byte like the others, mark and
 * all. damaged_out (may be NULL) gets, index for index, whether each entry
 * is marked (malloc'ed; caller frees). */
int chunk__list_refs(hist_db *db, uint32_t tag, int64_t from, int64_t to, bool skip_damaged,
                     hist_chunk_ref **out, bool **damaged_out, size_t *nout);
/* The statistics chunk__build() keeps for sorted unique samples (n > 0):
 * ref->stats, and ref->counted with HIST_CHUNK_HAS_COUNTED in ref->flags
 * when some sample is Bad or NaN. The scrub recomputes them with
 * this same function, so a healthy chunk's entry matches bit for bit. */
int chunk__stats_fill(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                      size_t n, hist_chunk_ref *ref);
/* Encodes sorted unique samples of one tag into a chunk in a malloc'ed
 * buffer and fills ref's stats/codecs/crc/length. */
int chunk__build(hist_type type, const int64_t *ts, const hist_value *v, const uint32_t *q,
                 size_t n, uint8_t **buf, hist_chunk_ref *ref);
/* The multiple of align at or below t (align > 0). */
static inline int64_t chunk__align_floor(int64_t t, int64_t align)
{
    int64_t f = t / align * align;
    return f > t ? f - align : f; /* C division rounds toward 0 */
}
/* The length of the first chunk cut from sorted unique samples s[0..n):
 * at most cs, ending at an `align` boundary of the clock once it has cs/16
 * samples (align <= 0: no boundaries). See chunk_store.c. */
size_t chunk__run(const hist_msample *s, size_t n, uint32_t cs, int64_t align);
/* Chunks built for one commit: bufs[i] is the encoding of refs[i]. */
typedef struct {
    uint8_t **bufs;
    hist_chunk_ref *refs;
    size_t n, cap;
    int64_t *ts;   /* one chunk's columns being built: chunk_samples each, */
    hist_value *v; /* allocated once per batch, not once per tag */
    uint32_t *q;
} hist_chunk_batch;
/* Cuts one tag's sorted unique samples into chunks (chunk__run) and
 * builds them into the batch. */
/* Seals and freezes copy up to this many samples per group into the
 * reused scratch buffer db->seal_scratch (256K: 8 MiB), which this makes
 * room for (seal_mu held; 0 or HIST_ENOMEM, the buffer as it was). */
#define SEAL_GROUP_SAMPLES (1u << 18)
int chunk__scratch_reserve(hist_db *db, size_t need);
int chunk__batch_add(hist_db *db, hist_chunk_batch *b, uint32_t tag, hist_type type,
                     const hist_msample *s, size_t n);
void chunk__batch_free(hist_chunk_batch *b);
/* Writes encoded chunks durably and commits their index entries in one txn,
 * deleting old entries in the same txn (seal_mu held). */
int chunk__commit(hist_db *db, uint8_t **bufs, hist_chunk_ref *refs, size_t n,
                  const hist_chunk_ref *dels, size_t ndels, const uint32_t *flushed_tags,
                  const uint64_t *flushed_lsns, size_t nflushed);

/* ---- Damage marks (damage.c) ----------------------------------------------
 * A mark lives in the index's `damaged` database under the chunk's key.
 * Invariant: a chunk entry with a mark is left out of every read (scans,
 * the latest value at open, compaction's merges). */

/* The marks of a key range, walked beside a chunk cursor of the same txn
 * (both in key order): costs nothing when there is no mark at all. */
typedef struct {
    MDB_cursor *cur;
    MDB_val key;
    bool more; /* key holds the next mark */
} hist_marks;

/* from_key: the first chunk key the walk will be asked about, or NULL for
 * the first key of all. */
int marks__open(hist_index *idx, MDB_txn *txn, const uint8_t *from_key, hist_marks *m);
/* Whether chunk_key is marked; ask in ascending key order. */
bool marks__has(hist_marks *m, const MDB_val *chunk_key);
void marks__close(hist_marks *m);

/* Marks the chunk of ref damaged, durably, unless it is marked already or
 * its entry no longer says what ref says (moved or gone since it was
 * read: the verdict was about other bytes). 1 when newly marked (logged,
 * once per chunk), 0 when not, or a negative error. */
int damage__mark(hist_db *db, const hist_chunk_ref *ref, int why);
/* Removes the mark of a chunk that verifies again: 1 when removed (logged). */
int damage__clear(hist_db *db, const hist_chunk_ref *ref);
/* Removes marks whose chunk entry is gone; *removed counts them. */
int damage__drop_dangling(hist_db *db, uint64_t *removed);
/* Number of marks, for hist_db_get_stats(). */
uint64_t damage__total(hist_db *db);
/* The damaged-chunk description of a chunk entry. */
hist_damaged_chunk damage__of(const hist_chunk_ref *ref, int why);
/* One line naming the chunk's tag, time span, place and reason. */
void damage__describe(hist_db *db, const hist_damaged_chunk *c, char *out, size_t cap);
/* hist_db_latest(): recomputes a tag's latest value marked stale (scan.c:
 * a scan looks it up). */
void scan__refresh_latest(hist_db *db, uint32_t tag);

/* ---- Background compaction (compact.c) --------------------------------------- */
int compact__init(hist_db *db);
/* Starts the compactor thread when opts.compact_share > 0. */
int compact__start(hist_db *db);
/* Stops it between two steps (it never waits long for seal_mu) and joins it. */
void compact__stop(hist_db *db);
void compact__free(hist_db *db);
void compact__fill_stats(hist_db *db, hist_db_stats *out);

/* ---- Online backup (backup.c) ------------------------------------------------ */
int backup__init(hist_db *db);
/* Waits for a background backup to finish (it is not cut short). */
void backup__stop(hist_db *db);
void backup__free(hist_db *db);

/* ---- The scrub (scrub.c) ---------------------------------------------------- */
int scrub__init(hist_db *db);
/* Stops a background pass between two chunks and waits for its thread. */
void scrub__stop(hist_db *db);
void scrub__free(hist_db *db);
void scrub__fill_stats(hist_db *db, hist_db_stats *out);

#endif
