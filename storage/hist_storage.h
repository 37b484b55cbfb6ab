/*
 * hist_storage.h: the storage engine's only door.
 *
 * A hist_db is one data directory: the write-ahead log (wal/), append-only
 * segment files of sealed chunks (seg/), and the LMDB index (index/) that maps
 * (tag, time) to chunks and keeps per-chunk statistics. See docs/architecture.md.
 *
 * Write path: hist_db_write() validates a batch, appends it to the WAL and
 * inserts it into the memtable (visible to readers at once); hist_db_sync()
 * waits until the batch is durable, sharing one fdatasync with every batch
 * that arrived meanwhile (group commit). Acknowledge a client only after
 * hist_db_sync() returns 0. A background thread seals memtable buffers into
 * chunks and checkpoints the WAL.
 *
 * Read path: hist_scan_*() walks a tag's data in time order as "pieces":
 * either a whole sealed chunk offered by its statistics (decode it only if
 * needed) or decoded, de-duplicated samples. hist_db_latest() answers from
 * memory.
 *
 * Thread safety: every function may be called from any thread, except that
 * a hist_scan belongs to the thread that opened it. hist_db_close() must not
 * race with other calls.
 *
 * Semantics relied on everywhere:
 *   - A sample is identified by (tag, ts). Writing the same pair again
 *     replaces the value: the write with the higher LSN wins, also across
 *     sealed chunks, the memtable and crash recovery.
 *   - Timestamps are int64 ns since the Unix epoch (UTC), within
 *     [HIST_TS_MIN, HIST_TS_MAX] (about +-200 years).
 *   - Values are stored bit-exactly: every float64 bit pattern (NaN payloads,
 *     -0.0) and every int64. Bool tags store 0 or 1 in hist_value.i.
 */
#ifndef HIST_STORAGE_H
#define HIST_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_error.h"
#include "common/hist_log.h"
#include "common/hist_types.h"

/* ---- Values, qualities, time (the types: common/hist_types.h) ------- */

/* A value as a double, for aggregates (int64 beyond 2^53 loses precision). */
static inline double hist_value_as_double(hist_type type, hist_value v)
{
    return type == HIST_TYPE_FLOAT64 ? v.f : (double)v.i;
}

/* Whether an aggregate counts the sample: not a float64 NaN ("no number")
 * and, unless Bad samples are included, not Bad. The chunk index's counted
 * statistics are over exactly the samples this accepts with include_bad
 * false (storage/seal.c, query/agg.c). */
static inline bool hist_sample_counted(hist_type type, hist_value v, uint32_t q, bool include_bad)
{
    if (!include_bad && hist_quality_is_bad(q))
        return false;
    return !(type == HIST_TYPE_FLOAT64 && v.f != v.f);
}

const char *hist_type_name(hist_type type); /* "float64", "int64", "bool" */
int hist_type_parse(const char *name, hist_type *out);

/* ---- Opening a data directory ---------------------------------------- */

typedef enum {
    HIST_IO_AUTO = 0, /* io_uring, falling back to pwritev + fdatasync (logged once) */
    HIST_IO_URING = 1,
    HIST_IO_SYNC = 2,
} hist_io_mode;

typedef struct {
    const char *dir;          /* data directory; created if missing */
    hist_io_mode io;          /* default HIST_IO_AUTO */
    size_t memtable_bytes;    /* memory budget of unsealed samples; default 256 MiB */
    uint32_t chunk_samples;   /* a tag's buffer is sealed at this many samples; default 8192 */
    int64_t chunk_max_age_ns; /* ... or when its oldest write is this old; default 1 h */
    /* Chunks do not cross multiples of this (see seal.c); default 1 h, < 0: none. */
    int64_t chunk_align_ns;
    /* Past this many bytes in closed WAL segments, the buffers holding the
     * oldest records have their runs logged again (or are sealed whole), so
     * the log can shrink; default 1 GiB. */
    size_t wal_bytes;
    size_t wal_segment_bytes; /* default 64 MiB */
    size_t segment_bytes;     /* chunk segment files roll past this; default 64 MiB */
    int64_t retention_ns;     /* drop chunks older than now - retention; 0 = keep forever */
    /* Retention per tag pattern: "PATTERN=DUR" strings (the tokens file's
     * patterns, common/hist_tagset.h: '*' in a segment, '**' any depth;
     * DUR as hist_duration_parse, or "forever"). A tag takes the first
     * rule that matches its name, else retention_ns. Checked and copied
     * at open (HIST_EINVAL for a bad one); see retention.c. */
    const char *const *retention_rules;
    size_t nretention_rules;
    bool no_auto_create;      /* refuse writes to unknown tags instead of creating them */
    bool no_background;       /* no sealer thread: seal only on hist_db_flush() (tests) */
    /* hist_db_close() keeps a short run (under 1/16 of chunk_samples) of a
     * clock window still open in the WAL, replayed at the next open, instead
     * of one short chunk per tag; it seals everything else, and what the
     * WAL budget needs (historiand sets it). Default false. */
    bool lazy_close;
    /* The share of one core the background compactor may use (it sleeps
     * the rest): it joins the chunks of each settled tag-hour into one
     * (see compact.c). Default 0.25; 0 = no background compaction. Not
     * started with no_background either. */
    double compact_share;
    hist_log_fn log;          /* NULL = log to stderr */
    void *log_ctx;
    int log_level; /* default HIST_LOG_INFO */
} hist_db_options;

typedef struct hist_db hist_db;

void hist_db_options_init(hist_db_options *opts);

/* Opens (creating if needed) and recovers a data directory: replays the WAL
 * after the checkpoint, cuts a torn or corrupt tail and logs what was
 * dropped. A chunk found damaged (at read time or by a scrub) is marked in
 * the index and left out of every answer from then on; see "Damaged
 * chunks" below. */
int hist_db_open(const hist_db_options *opts, hist_db **out);

/* Seals what is in the memtable (with lazy_close: its long runs; the WAL
 * keeps the rest), makes everything durable, closes files.
 * When sealing fails (a full disk), the WAL is kept: every acknowledged
 * sample is in it and the next open replays it; that is logged, not an
 * error. */
int hist_db_close(hist_db *db);

/* What the db passes on to opts.log from now on (a SIGHUP's new
 * --log-level); safe while other threads log. */
void hist_db_set_log_level(hist_db *db, int level);

/* ---- Tags ----------------------------------------------------------- */

#define HIST_TAG_NAME_MAX 255
#define HIST_TAG_UNIT_MAX 31
#define HIST_TAG_DESC_MAX 255

typedef struct {
    uint32_t id; /* assigned on creation, never reused; 0 is never a tag */
    hist_type type;
    char name[HIST_TAG_NAME_MAX + 1];
    char unit[HIST_TAG_UNIT_MAX + 1];
    char description[HIST_TAG_DESC_MAX + 1];
    double deadband; /* 0 = none */
    int64_t created_ns;
} hist_tag_info;

/* 0 if name (len bytes, not NUL-terminated necessarily) is a valid tag name:
 * 1..255 bytes of valid UTF-8, '/'-separated segments, none empty, no
 * control characters; else HIST_ENAME. */
int hist_tag_name_check(const char *name, size_t len);

/* Finds a tag by name; creates it with `type` when missing and `create` is
 * true (and auto-create is on). HIST_ETYPE when it exists with another type,
 * HIST_ENOTFOUND when missing and not created. Creation is durable before
 * this returns. */
int hist_tag_resolve(hist_db *db, const char *name, size_t len, hist_type type, bool create,
                     uint32_t *id_out);

/* The same for n tags at once (a write request's): every missing one is
 * created in ONE durable index transaction, so a gateway's first batch of
 * a thousand new tags costs one sync, not a thousand. A name given twice
 * becomes one tag, typed by its first mention. rcs[i] is what
 * hist_tag_resolve() would return for refs[i] (ids[i] as it would set it);
 * the function returns 0, or a negative error when the creation itself
 * failed (then no tag of the call was created). */
typedef struct {
    const char *name;
    size_t len;
    hist_type type;
} hist_tag_ref;
int hist_tag_resolve_many(hist_db *db, const hist_tag_ref *refs, size_t n, bool create,
                          uint32_t *ids, int *rcs);

/* A tag's whole record (unit, description, ... read from the index). */
int hist_tag_by_name(hist_db *db, const char *name, hist_tag_info *out);
int hist_tag_by_id(hist_db *db, uint32_t id, hist_tag_info *out);
/* A tag's type alone, from memory (no index read): what a query needs per
 * tag. 0, or HIST_ENOTFOUND. */
int hist_tag_type(hist_db *db, uint32_t id, hist_type *out);
/* The db's own copy of tag id's name (NUL-terminated), or NULL when there
 * is no such tag. A tag's name never changes and its memory is freed only
 * by hist_db_close(), so the pointer stays valid, and its bytes may be read
 * from any thread without a lock, until then: a cache keyed by name (the
 * ingest writer's) can point at it instead of keeping a copy. */
const char *hist_tag_name_of(hist_db *db, uint32_t id);

/* Creates the tag (info->name, info->type) or updates unit, description and
 * deadband of an existing one (its type must match). info->id is filled. */
int hist_tag_put(hist_db *db, hist_tag_info *info);

/* Removes tag id from the registry: its name is free again (a write with
 * it makes a new tag, with a new id), and no lookup, listing or write
 * finds the id. For a tag with no samples: delete them first
 * (hist_db_delete over the whole time line); HIST_EBUSY when a write came
 * in meanwhile (delete again), HIST_ENOTFOUND for an unknown id. One index
 * transaction: a crash leaves the tag there or gone. */
int hist_tag_remove(hist_db *db, uint32_t id);

/* Calls fn for every tag whose name starts with prefix ("" = all), in name
 * order. fn returns 0 to go on, non-zero to stop (that value is returned).
 * fn runs outside any index transaction and may call into the db. */
typedef int (*hist_tag_visit_fn)(void *ctx, const hist_tag_info *tag);
int hist_tag_foreach(hist_db *db, const char *prefix, hist_tag_visit_fn fn, void *ctx);

/* The same from a start key: only names sorting strictly after `after`
 * (NULL: from the prefix's first name), and, with match, only names it
 * accepts (true). match sees each name under the prefix before its row is
 * read, inside a read transaction: it must not call into the db. The walk
 * seeks to its start and reads the name index in batches, so a page of p
 * tags costs O(p log N) plus the names match turns down. */
typedef bool (*hist_tag_name_fn)(void *ctx, const char *name);
int hist_tag_foreach_from(hist_db *db, const char *prefix, const char *after,
                          hist_tag_name_fn match, hist_tag_visit_fn fn, void *ctx);

/* One level of the namespace: the distinct next path segments under the
 * folder prefix ("" or NULL: the root; "a/b" and "a/b/" are the same
 * folder), in segment order, strictly after the child named `after` (a
 * full name as answered; NULL: from the first). name is the child's full
 * name, prefix + segment, without a trailing '/' (valid during the call);
 * tag: a tag has exactly that name; children: names go on below it (both
 * can hold). Each child costs a few seeks (O(log N)): its subtree is
 * skipped, never walked, so there is no count of the tags under it. fn as
 * for hist_tag_foreach. */
typedef struct {
    const char *name;
    size_t len;
    bool tag;
    bool children;
} hist_tag_child;
typedef int (*hist_tag_child_fn)(void *ctx, const hist_tag_child *child);
int hist_tag_children(hist_db *db, const char *prefix, const char *after, hist_tag_child_fn fn,
                      void *ctx);

/* ---- Writing ---------------------------------------------------------- */

/* One tag's part of a batch: parallel arrays of n samples, any order,
 * duplicates allowed (the last one in the array wins). q == NULL: all Good. */
typedef struct {
    uint32_t tag;
    size_t n;
    const int64_t *ts;
    const hist_value *v;
    const uint32_t *q;
} hist_series;

/* Validates every series (tag exists, timestamps in range) and then writes
 * the whole batch or nothing: one WAL record, then the memtable. *lsn_out is
 * what to pass to hist_db_sync(). Not yet durable when this returns. */
int hist_db_write(hist_db *db, const hist_series *series, size_t nseries, uint64_t *lsn_out);

/* hist_db_write(), calling logged(ctx, lsn) as soon as the batch's WAL
 * record has its LSN and is in the log (not yet durable), before its
 * samples go into the memtable: a group commit can start that record's
 * hist_db_sync() on another thread at once, so the fdatasync overlaps the
 * insert. logged runs under the database's lock: it may only signal (take
 * its own lock, never call into the database). The write may still fail
 * after it (the memtable refusing the samples): act on the return value,
 * and acknowledge only after both the sync and this call returned 0. */
typedef void (*hist_logged_fn)(void *ctx, uint64_t lsn);
int hist_db_write_notify(hist_db *db, const hist_series *series, size_t nseries,
                         hist_logged_fn logged, void *ctx, uint64_t *lsn_out);

/* Blocks until every WAL record up to lsn is durable (group commit). */
int hist_db_sync(hist_db *db, uint64_t lsn);

/* ---- Reading ---------------------------------------------------------- */

/* Statistics of one sealed chunk, kept in the LMDB index. Numeric fields are
 * over all samples of the chunk (Bad quality included), values as double. */
typedef struct {
    int64_t start_ts, end_ts; /* first and last sample time, inclusive */
    uint32_t count;
    uint32_t bad_count;     /* samples with Bad quality */
    uint32_t nongood_count; /* samples whose quality is not Good */
    uint32_t nan_count;     /* float64 NaN values (then min/max/sum are over the rest) */
    double min, max, sum, sumsq;
    hist_value first_v, last_v; /* values at start_ts and end_ts */
    uint32_t first_q, last_q;
    /* The earliest sample holding the minimum and the maximum value (NaN
     * left out), so an M4 plot can answer a chunk exactly from its stats.
     * Meaningless when nan_count == count. */
    int64_t min_ts, max_ts;
    hist_value min_v, max_v;
    uint32_t min_q, max_q;
    /* Time-weighted sums over [start_ts, end_ts], so time-weighted
     * aggregates of a bucket that holds the whole chunk need no decoding:
     *   tw_integral   integral of the value in value * seconds, linear
     *                 between samples for float64, step for int64/bool
     *   true_seconds  seconds the step value is non-zero
     *   increase      counter increase: sum over consecutive samples of
     *                 b - a when b >= a, else b (a reset)
     * Meaningful only when nan_count == 0. */
    double tw_integral, true_seconds, increase;
} hist_chunk_stats;

/* A piece of a scan. Pieces come in time order and never overlap: every
 * sample of one piece is earlier than every sample of the next.
 *   stats != NULL: one whole sealed chunk lying entirely inside [from, to)
 *     that overlaps nothing else; n == 0 until hist_scan_decode() fills it.
 *   stats == NULL: n decoded samples, sorted, unique, inside [from, to). */
typedef struct {
    const hist_chunk_stats *stats;
    /* With stats: the stats over the chunk's samples that are neither Bad
     * nor NaN (== stats when it has none), or NULL when the index does
     * not know them (entries written before they were kept). */
    const hist_chunk_stats *counted;
    size_t n;
    const int64_t *ts;
    const hist_value *v;
    const uint32_t *q;
} hist_piece;

typedef struct hist_scan hist_scan;

enum {
    HIST_SCAN_DECODE = 1, /* never offer stats pieces: always decoded samples (raw reads) */
};

/* Scans one tag over [from, to). Sealed chunks, overlapping chunks and the
 * memtable are merged; the last write of each (tag, ts) wins. */
int hist_scan_open(hist_db *db, uint32_t tag, int64_t from, int64_t to, unsigned flags,
                   hist_scan **out);
/* 1 and a piece, 0 at the end, negative on error. A piece's arrays stay
 * valid until the next call on this scan. */
int hist_scan_next(hist_scan *scan, hist_piece *piece);
/* Fills the samples of a stats piece (the whole chunk). */
int hist_scan_decode(hist_scan *scan, hist_piece *piece);
void hist_scan_close(hist_scan *scan);

enum {
    HIST_NEAR_SKIP_BAD = 1, /* ignore samples with Bad quality */
};
/* The last sample with ts < t, or HIST_ENOTFOUND. */
int hist_db_sample_before(hist_db *db, uint32_t tag, int64_t t, unsigned flags, hist_sample *out);
/* The first sample with ts >= t, or HIST_ENOTFOUND. */
int hist_db_sample_at_or_after(hist_db *db, uint32_t tag, int64_t t, unsigned flags,
                               hist_sample *out);

/* The sample with the greatest timestamp, from memory. HIST_ENOTFOUND if
 * the tag has no data. */
int hist_db_latest(hist_db *db, uint32_t tag, hist_sample *out);

/* ---- Maintenance -------------------------------------------------------- */

/* Seals every memtable buffer into chunks, makes them durable and
 * checkpoints the WAL. */
int hist_db_flush(hist_db *db);

/* Merges a tag's small or overlapping chunks into full-size ones, then
 * rewrites segments with little live data. tag == 0: every tag. Safe
 * against a crash at any point. */
int hist_db_compact(hist_db *db, uint32_t tag);

/* Drops sealed chunks whose samples are all older than t. */
int hist_db_drop_before(hist_db *db, int64_t t);

/* The most retention rules (hist_db_options.retention_rules). */
#define HIST_RETENTION_RULES_MAX 64
/* Checks one "PATTERN=DUR" rule: 0, or HIST_EINVAL. *pattern_len and
 * *ns (0 = forever) may be NULL. */
int hist_retention_rule_parse(const char *rule, size_t *pattern_len, int64_t *ns);
/* Applies retention (the global one and the rules) now, as the sealer
 * does every 10 s; *chunks (may be NULL) counts the chunks dropped. */
int hist_db_apply_retention(hist_db *db, uint64_t *chunks);

/* What hist_db_delete() did. samples_deleted counts stored samples: those
 * of removed chunks, and those cut out of rewritten ones. */
typedef struct {
    uint64_t chunks_removed;   /* entries whose chunk lay inside the range */
    uint64_t chunks_rewritten; /* entries replaced by chunks without the range */
    uint64_t chunks_written;   /* the new chunks */
    uint64_t samples_deleted;
} hist_delete_report;

/* Deletes a tag's samples with from <= ts < to, at once for every reader
 * and durably when it returns 0 (storage/delete.c; docs/architecture.md,
 * "Deleting data"). HIST_EINVAL for from >= to, HIST_ENOTFOUND for an
 * unknown tag, HIST_ECORRUPT when a damaged chunk crosses the range
 * (nothing is deleted then). out may be NULL. */
int hist_db_delete(hist_db *db, uint32_t tag, int64_t from, int64_t to, hist_delete_report *out);

/* ---- Damaged chunks and the scrub -------------------------------------
 *
 * A chunk whose bytes no longer match its index entry (unreadable, cut
 * short, crc32c mismatch, undecodable, or samples that disagree with the
 * entry's statistics) is marked damaged in the index, durably and once.
 * From then on every read leaves it out the same way: scans skip it, so
 * raw, interpolated, aggregate (also from statistics), calendar and plot
 * answers and the latest value agree with each other. hist_db_damaged_count()
 * says how many such chunks a range lost. A read that meets a damaged
 * chunk not yet marked marks it (an I/O error is only logged: it may pass);
 * the scrub finds the rest: it verifies every chunk against its entry,
 * marks what fails, and removes the mark of a chunk that verifies again
 * (its segment restored from a backup). One checker serves the background
 * pass, the admin route and `historiand --check-data`. */

typedef enum {
    HIST_DAMAGE_UNREADABLE = 1, /* the segment could not be read (I/O error, file missing) */
    HIST_DAMAGE_SHORT = 2,      /* the segment file ends inside the chunk */
    HIST_DAMAGE_CRC = 3,        /* the bytes do not match the entry's crc32c */
    HIST_DAMAGE_DECODE = 4,     /* the bytes do not decode to the entry's sorted samples */
    HIST_DAMAGE_STATS = 5,      /* the samples disagree with the entry's statistics */
} hist_damage_reason;

const char *hist_damage_reason_name(int reason); /* "crc32c mismatch" ... */

/* A damaged chunk as marked: where it was and why. */
typedef struct {
    uint32_t tag;
    int64_t start_ts, end_ts;
    uint64_t seq;
    uint32_t segment;
    uint64_t offset;
    uint32_t length;
    int reason;       /* hist_damage_reason */
    int64_t found_ns; /* wall clock when it was marked */
} hist_damaged_chunk;

/* Calls fn for every marked chunk, in (tag, start) order; fn returns 0 to
 * go on, non-zero to stop (that value is returned). */
typedef int (*hist_damaged_visit_fn)(void *ctx, const hist_damaged_chunk *chunk);
int hist_db_damaged_foreach(hist_db *db, hist_damaged_visit_fn fn, void *ctx);

/* How many marked chunks of tag overlap [from, to): what a read of that
 * range left out. */
int hist_db_damaged_count(hist_db *db, uint32_t tag, int64_t from, int64_t to, uint64_t *out);

/* One problem a scrub found. */
enum {
    HIST_PROBLEM_CHUNK = 1, /* a damaged chunk (chunk is filled) */
    HIST_PROBLEM_INDEX = 2, /* a chunk entry that does not parse or names no tag */
    HIST_PROBLEM_TAG = 3,   /* a tag registry entry that is inconsistent */
};
typedef struct {
    int kind;
    bool known;               /* chunk: marked before this pass */
    hist_damaged_chunk chunk; /* kind HIST_PROBLEM_CHUNK */
    const char *message;      /* one line naming the tag, place and reason */
} hist_scrub_problem;

typedef struct {
    /* The share of the time the pass may spend checking, 1..100 (it sleeps
     * the rest, so a background pass leaves the disk to ingest and
     * queries); 0 means 100. */
    unsigned share_pct;
    void (*problem)(void *ctx, const hist_scrub_problem *p); /* NULL: none */
    void *ctx;
} hist_scrub_options;

typedef struct {
    uint64_t chunks_checked, bytes_checked;
    uint64_t damaged_new;   /* found damaged and marked by this pass */
    uint64_t damaged_known; /* marked before, still damaged */
    uint64_t repaired;      /* marked before, verified now: mark removed */
    uint64_t marks_dropped; /* marks whose chunk is gone (retention): removed */
    /* Chunks whose segment failed to read for a reason that may pass (too
     * many open files...): neither marked nor cleared. */
    uint64_t chunks_unchecked;
    uint64_t index_problems, tags_checked, tag_problems;
    /* The WAL as hist_db_open() found it (recovery cut damaged tails). */
    uint64_t wal_records_replayed, wal_records_dropped, wal_bytes_dropped;
    bool stopped; /* cut short by hist_db_close() */
    double seconds;
} hist_scrub_report;

void hist_scrub_options_init(hist_scrub_options *opts);

/* Checks the tag registry and every chunk in the calling thread; fills
 * *out (may be NULL). Marks and unmarks as described above. */
int hist_db_scrub(hist_db *db, const hist_scrub_options *opts, hist_scrub_report *out);

/* The same pass on a background thread; HIST_EBUSY while one runs.
 * hist_db_close() stops it between two chunks. */
int hist_db_scrub_start(hist_db *db, const hist_scrub_options *opts);

typedef struct {
    bool running;
    uint64_t passes;         /* finished since open */
    uint64_t chunks_checked; /* since open, all passes */
    uint64_t damaged_found;  /* chunks newly marked by passes since open */
    bool has_last;
    hist_scrub_report last; /* the last finished pass */
} hist_scrub_status;

int hist_db_scrub_status(hist_db *db, hist_scrub_status *out);

/* A chunk entry hist_db_repair() removed from the index. */
typedef struct {
    hist_damaged_chunk chunk; /* where it was (reason: the mark's, 0 when unmarked) */
    uint64_t samples;         /* samples its entry counted: lost with it */
    const char *why;          /* static text: the damage, or what is wrong with the entry */
} hist_repaired_entry;

typedef struct {
    uint64_t entries, samples; /* entries removed, samples they counted */
} hist_repair_totals;

typedef void (*hist_repair_fn)(void *ctx, const hist_repaired_entry *e);

/* The repair of `historiand --check-data --repair`, after a scrub pass
 * marked what is damaged: removes, in one LMDB txn (all or nothing, so a
 * crash leaves the index as it was or repaired), the entry of every chunk
 * marked damaged together with its mark, and every chunk entry that does
 * not parse or names a tag the registry does not know. Their bytes stay in
 * their segment until compaction rewrites it. fn (may be NULL) is called
 * for each removed entry once the txn committed. The samples are gone for
 * good: restore the segment from a backup before repairing to keep them. */
int hist_db_repair(hist_db *db, hist_repair_fn fn, void *ctx, hist_repair_totals *out);
/* ---- Online backup (backup.c; docs/architecture.md, "Backup") ------------
 * A consistent copy of the open data directory into dest, a directory on
 * this machine: an absolute path that does not exist yet (its parent
 * does) or is an empty directory, and not inside the data directory.
 * Ingest goes on meanwhile. Every write acknowledged (hist_db_sync
 * returned) before the call is in the copy, and hist_db_open(dest) opens
 * it as it is (its recovery replays the copied WAL). Closed segment files
 * are hard-linked (copied across filesystems); the current one, the
 * index (LMDB's compacting copy) and the WAL are copied. */
typedef struct {
    uint64_t lsn;                        /* every write with an LSN up to this is in the copy */
    int64_t time_ns;                     /* wall clock when the backup began */
    uint64_t files, bytes;               /* everything written to dest */
    uint64_t linked_files, linked_bytes; /* segment files hard-linked */
    uint64_t copied_files, copied_bytes; /* files copied (index, WAL, segments) */
    uint64_t reused_files, reused_bytes; /* segments linked from the base backup */
    uint64_t segment_files, wal_files;
    uint64_t index_bytes, wal_bytes;
    double seconds;
} hist_backup_report;

/* Incremental: base (NULL = none) names an earlier complete backup of
 * this data directory; a closed segment that is still the same file
 * (device, inode, size, modification time, as base's SEGMENTS list
 * recorded them) is hard-linked from base instead of from the data
 * directory, so with dest and base on a backup disk only new segments
 * cross from the data disk. The result is complete by itself: base may
 * be deleted afterwards. */
/* Checks dest (and base) as above without touching anything: 0, or
 * HIST_EINVAL / HIST_EEXIST with why (a sentence, may be NULL) saying
 * what is wrong. */
int hist_db_backup_check(hist_db *db, const char *dest, const char *base, char *why,
                         size_t why_cap);
/* The backup, in the calling thread; HIST_EBUSY while another one runs.
 * why (may be NULL) says what failed; a failed backup removes what it
 * wrote (and dest, when it made it). */
int hist_db_backup(hist_db *db, const char *dest, const char *base, hist_backup_report *out,
                   char *why, size_t why_cap);
/* The same on a background thread (dest checked first, why as above);
 * HIST_EBUSY while one runs; *id (may be NULL) numbers the job.
 * hist_db_close() stops a running one (it fails and cleans up). */
int hist_db_backup_start(hist_db *db, const char *dest, const char *base, uint64_t *id, char *why,
                         size_t why_cap);

typedef struct {
    bool running;
    uint64_t id;     /* the running job, else the last one; 0 = none yet */
    char dest[4096]; /* ... its destination */
    bool has_last;   /* a job has finished since open */
    uint64_t last_id;
    int last_error; /* 0 when it worked, else a HIST_E* code */
    char last_why[256];
    hist_backup_report last;
} hist_backup_status;

int hist_db_backup_status(hist_db *db, hist_backup_status *out);

/* ---- Statistics ------------------------------------------------------- */

#define HIST_SYNC_HIST_BUCKETS 12
/* Upper bounds of the WAL sync latency histogram buckets, in microseconds:
 * 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, +Inf. */
extern const double hist_sync_hist_bounds_us[HIST_SYNC_HIST_BUCKETS];

typedef struct {
    const char *io_backend; /* "io_uring" or "sync" */
    uint64_t tags;
    uint64_t chunks;           /* live chunks in the index */
    uint64_t samples_sealed;   /* samples in live chunks */
    uint64_t samples_memtable; /* samples not yet sealed */
    uint64_t memtable_bytes;
    uint64_t bytes_segments; /* bytes of segment files on disk */
    uint64_t bytes_chunks;   /* bytes of live chunks (excludes dead space) */
    uint64_t bytes_wal;
    uint64_t bytes_index;
    uint64_t lsn_written, lsn_durable;
    uint64_t wal_syncs;
    uint64_t wal_sync_hist[HIST_SYNC_HIST_BUCKETS]; /* counts per bucket (not cumulative) */
    double wal_sync_seconds_total;
    uint64_t chunks_sealed;  /* since open */
    uint64_t chunks_decoded; /* since open: how often a chunk was read and decoded */
    /* Since open, tag buffers the sealer thread took, by why. seals_held:
     * due (full or old) and sealed up to the current clock hour, which
     * stayed in memory (counted only when something stayed); seals_memory,
     * seals_wal: the memtable or the WAL was over its budget (sealed whole);
     * freezes: buffers compressed in memory because the memtable was over
     * its budget (storage/freeze.c); runs_logged: buffers whose runs were
     * written to the WAL again so it could drop older records (the WAL
     * budget's first answer, storage/runlog.c), in runlog_bytes of run
     * records. */
    uint64_t seals_held, seals_memory, seals_wal, freezes;
    uint64_t runs_logged, runlog_bytes;
    uint64_t recovered_records, dropped_records, dropped_bytes;
    uint64_t damaged_chunks;      /* chunks marked damaged in the index (left out of answers) */
    uint64_t chunk_load_failures; /* since open: chunk reads that failed (damaged or I/O) */
    uint64_t scrub_running, scrub_passes, scrub_chunks_checked, scrub_damaged_found;
    uint64_t lost_records; /* WAL records found missing at open (exact, by LSN) */
    /* Compaction since open (storage/compact.c). tag_hours: tag-hours the
     * background compactor merged; chunks_before/after: chunks replaced and
     * written by merges (hist_db_compact's too); bytes_rewritten: chunk bytes
     * written by merges and segment rewrites; runs: background passes;
     * pending: tag-hours with more chunks than they need, as of the last
     * pass, less those merged since; hold_max_us: the longest the compactor
     * held the sealer's lock. */
    uint64_t compact_running, compact_runs, compact_tag_hours;
    uint64_t compact_chunks_before, compact_chunks_after, compact_bytes_rewritten;
    uint64_t compact_segments_rewritten, compact_pending, compact_hold_max_us;
    /* Health: while the disk refuses writes (storage/degraded.c). */
    int fatal_error;        /* 0, or why the database refuses writes until restarted */
    int wal_error;          /* 0, or why writes are refused now (HIST_EDISKFULL, HIST_EIO) */
    uint64_t wal_failures;  /* times the WAL broke since open */
    int seal_error;         /* 0, or why the last seal round failed */
    uint64_t seal_failures; /* failed seal rounds since open */
    uint64_t void_samples;  /* samples of refused writes taken out of memory */
} hist_db_stats;

int hist_db_get_stats(hist_db *db, hist_db_stats *out);

#endif
