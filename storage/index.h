/*
 * index.h: the LMDB index of a data directory (internal to storage/).
 *
 * One LMDB environment in DATA/index/ with five named databases:
 *   tag_name  tag name bytes -> u32 tag id (host order)
 *   tag       BE u32 id -> hist_index_tag (metadata + flushed_lsn + max span)
 *   chunk     BE u32 tag | BE u64 sign-flipped start ts | BE u64 chunk seq
 *             -> a packed hist_chunk_ref (index_entry.c)
 *   meta      short ASCII keys -> u64 values (version, next tag id, next
 *             chunk seq, checkpoint LSN, last segment number)
 *   damaged   a chunk key -> why and when that chunk was found damaged
 *             (damage.c); the chunk entry itself stays as it was sealed.
 *             Added within format 3: an index without it gets an empty one
 *             at open, and an older binary never opens it (it then answers
 *             from damaged chunks' statistics, as it always did).
 *
 * Deviation from DESIGN.md: the chunk key carries the chunk's sequence number
 * after the start time, so two chunks of one tag may start at the same time
 * (a backfill into a sealed range). The seq also orders overlapping chunks:
 * the chunk with the higher seq holds the later writes.
 *
 * Every transaction goes through this module, which holds a reader-writer
 * lock around it: on MDB_MAP_FULL the write is aborted, the map is doubled
 * under the write side of the lock (no transaction may be live while
 * mdb_env_set_mapsize runs) and the write is retried. Write callbacks must
 * therefore be safe to run twice.
 */
#ifndef HIST_STORAGE_INDEX_H
#define HIST_STORAGE_INDEX_H

#include <lmdb.h>
#include <pthread.h>

#include "storage/hist_storage.h"

/* 2: chunk stats keep min/max samples and time integrals (fixed-layout
 *    hist_chunk_ref values);
 * 3: packed chunk entries (index_entry.c); a format 2 index is rewritten
 *    to 3 in one transaction when opened. */
#define HIST_INDEX_FORMAT 3

/* Named databases an environment of the index may open (five are used). */
#define HIST_INDEX_MAX_DBS 8

typedef struct {
    MDB_env *env;
    MDB_dbi tag_name, tag, chunk, meta, damaged;
    size_t mapsize;
    pthread_rwlock_t resize; /* read side: any live txn; write side: resize */
    hist_log_sink log;
} hist_index;

/* Tag metadata as stored (fixed layout; strings NUL-padded). */
typedef struct {
    uint32_t id;
    uint32_t type;
    char name[HIST_TAG_NAME_MAX + 1];
    char unit[HIST_TAG_UNIT_MAX + 1];
    char description[HIST_TAG_DESC_MAX + 1];
    double deadband;
    int64_t created_ns;
    uint64_t flushed_lsn; /* every write of this tag with lsn <= this is in chunks */
    int64_t max_span;     /* max (end_ts - start_ts) over the tag's chunks */
} hist_index_tag;
/* Rows used to be stored as this struct is in memory (the fixed layout
 * still read: tag_row.c), so no padding may change it. */
_Static_assert(sizeof(hist_index_tag) == 4 + 4 + 256 + 32 + 256 + 8 + 8 + 8 + 8,
               "hist_index_tag's layout is the old row format");

/* A tag row's bytes (tag_row.c): pack writes at most HIST_TAG_ROW_MAX
 * bytes and returns the length; unpack reads a packed row or the old fixed
 * layout, 0 or HIST_ECORRUPT. */
#define HIST_TAG_ROW_MAX 584
size_t tag_row__pack(const hist_index_tag *t, uint8_t *out);
int tag_row__unpack(const void *data, size_t len, hist_index_tag *out);

/* A chunk's index entry, in memory (packed on disk: index_entry.c). */
typedef struct {
    uint32_t tag;
    uint32_t segment;
    uint64_t offset;
    uint32_t length;
    uint32_t crc; /* crc32c of the chunk bytes */
    uint8_t ts_codec, value_codec, quality_codec, flags;
    uint32_t pad2;
    uint64_t seq;
    hist_chunk_stats stats;
    /* Only with HIST_CHUNK_HAS_COUNTED (the chunk holds Bad or NaN samples):
     * the same statistics over the samples an aggregate counts by default,
     * those neither Bad nor NaN (count 0 when there is none). */
    hist_chunk_stats counted;
} hist_chunk_ref;

enum { HIST_CHUNK_HAS_COUNTED = 1 };

#define HIST_CHUNK_KEY_LEN 20

int index__open(hist_index *idx, const char *dir, size_t mapsize, hist_log_fn log, void *log_ctx);
void index__close(hist_index *idx);

/* index__close(), first rewriting the file packed when an eighth of it or
 * more is free pages or its leaves are an eighth more than the entries
 * would fill (index_shrink.c: every database appended in key order into a
 * new environment renamed over data.mdb; at most 1 GiB of live pages).
 * Only when nothing else uses the index: hist_db_close, after its last
 * commit. */
void index__close_shrinking(hist_index *idx, const char *dir);

/* Removes a rebuild that index__close_shrinking left when it was killed;
 * called before index__open. */
void index__remove_stray_copy(const char *dir);

/* Read transactions (MDB_RDONLY), short-lived. */
int index__read_begin(hist_index *idx, MDB_txn **txn);
void index__read_end(hist_index *idx, MDB_txn *txn);

/* Runs fn inside one write transaction and commits; retries after growing the
 * map on MDB_MAP_FULL. fn returns 0 or a HIST_E* code (then the txn aborts). */
typedef int (*hist_index_write_fn)(hist_index *idx, MDB_txn *txn, void *ctx);
int index__write(hist_index *idx, hist_index_write_fn fn, void *ctx);

/* Maps an LMDB return code to HIST_E* (MDB_NOTFOUND -> HIST_ENOTFOUND). */
int index__err(int rc);
/* The same for a put or delete, but MDB_MAP_FULL -> HIST_ENOSPC, which
 * makes index__write() grow the map and retry. */
int index__put_err(int rc);

/* Key helpers. */
void index__chunk_key(uint8_t key[HIST_CHUNK_KEY_LEN], uint32_t tag, int64_t start, uint64_t seq);
void index__chunk_key_parse(const uint8_t *key, uint32_t *tag, int64_t *start, uint64_t *seq);

/* Meta values (u64). get returns HIST_ENOTFOUND when missing. */
int index__meta_get(hist_index *idx, MDB_txn *txn, const char *key, uint64_t *out);
int index__meta_put(hist_index *idx, MDB_txn *txn, const char *key, uint64_t v);

int index__put_tag(hist_index *idx, MDB_txn *txn, const hist_index_tag *t);
/* The row only, its name index untouched (the name never changes). */
int index__put_tag_row(hist_index *idx, MDB_txn *txn, const hist_index_tag *t);
int index__get_tag(hist_index *idx, MDB_txn *txn, uint32_t id, hist_index_tag *out);
/* Deletes tag id's row and its name's entry (hist_tag_remove). */
int index__del_tag(hist_index *idx, MDB_txn *txn, uint32_t id);
int index__put_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref);
/* Deletes a chunk entry and its damage mark, if any (they share the key). */
int index__del_chunk(hist_index *idx, MDB_txn *txn, const hist_chunk_ref *ref);
/* Deletes the damage mark of a chunk key (HIST_CHUNK_KEY_LEN bytes), if any. */
int index__del_mark(hist_index *idx, MDB_txn *txn, const uint8_t *key);

/* Reads a value of a chunk cursor into ref (copy; LMDB data is unaligned). */
int index__chunk_ref_from(const MDB_val *key, const MDB_val *val, hist_chunk_ref *ref);

/* The packed value of a chunk entry (index_entry.c): at most
 * HIST_CHUNK_ENTRY_MAX bytes into out; returns the length. unpack takes
 * the key's tag, start and seq; HIST_ECORRUPT for anything malformed. */
#define HIST_CHUNK_ENTRY_MAX 512
size_t entry__pack(const hist_chunk_ref *ref, uint8_t *out);
int entry__unpack(const uint8_t *p, size_t n, uint32_t tag, int64_t start, uint64_t seq,
                  hist_chunk_ref *ref);

#endif
