/*
 * index_shrink.c: rewrites the index file packed at a clean close: free
 * pages given back to the disk, leaves filled (see index.h,
 * index__close_shrinking).
 *
 * LMDB never makes its file smaller: pages freed by a commit (every
 * commit frees the old copies of the pages it rewrote; compaction and
 * retention free whole subtrees) are reused by later commits, but the
 * file stays as long as it ever was. Nor does it fill its leaves: a leaf
 * that is full splits in two halves, so keys inserted in any order but
 * ascending leave most leaves between half and three quarters full.
 *
 * At a clean close nothing else uses the environment. When at least an
 * eighth of the file is free pages, or the leaves are an eighth more than
 * the entries would fill, the index is rebuilt into a new environment,
 * index/data.mdb.shrink: every named database (the main database's keys,
 * each created with the flags it has) read in key order from one read
 * transaction and written with MDB_APPEND, which starts a new leaf only
 * when the next entry does not fit, in write transactions of at most
 * REPACK_TXN_BYTES of entries (each holds its dirty pages in memory). The
 * "would fill" count is that rule run over the entries' node sizes.
 *
 * Crash safety: until the rename, data.mdb is the index as committed and
 * the copy is a stray file (hist_db_open removes it before index__open;
 * the copy is opened MDB_NOLOCK, so it has no lock file). The rename is
 * atomic and comes after the copy's fdatasync (mdb_env_sync), and the
 * directory is fsync'ed after it. A failure at any step leaves data.mdb as
 * it was and is only logged: the close itself has succeeded by then.
 */
#include "storage/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SHRINK_MAX_BYTES ((size_t)1 << 30)  /* a bigger rebuild would hold the stop too long */
#define REPACK_TXN_BYTES ((size_t)16 << 20) /* key and value bytes per write txn */
#define PAGE_HEADER      16                 /* LMDB's PAGEHDRSZ */
#define NODE_HEADER      8                  /* LMDB's NODESIZE */

/* The named databases of the index, in the order of their names. */
typedef struct {
    size_t n;
    MDB_dbi dbi[HIST_INDEX_MAX_DBS];
    unsigned flags[HIST_INDEX_MAX_DBS];
    size_t entries[HIST_INDEX_MAX_DBS];
    char name[HIST_INDEX_MAX_DBS][64];
} db_list;

/* What the index holds and what a rebuild would make of it. */
typedef struct {
    size_t pages;  /* the file */
    size_t unused; /* on the freelist */
    size_t leaves; /* leaf pages of the named databases */
    size_t packed; /* the same after a rebuild */
    db_list dbs;
} index_fill;

/* LMDB returns its own codes (negative) or errno values (positive). */
static int neg(int rc)
{
    return rc > 0 ? -rc : rc;
}

static const char *why(int rc)
{
    return mdb_strerror(rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE ? rc : -rc);
}

/* Free pages on the freelist (each record's value is a page count, then
 * that many page numbers). */
static size_t free_pages(MDB_txn *txn)
{
    MDB_cursor *cur;
    size_t n = 0;
    if (mdb_cursor_open(txn, 0, &cur) == 0) { /* dbi 0: the freelist */
        MDB_val k, v;
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
            if (v.mv_size >= sizeof(size_t)) {
                size_t count;
                memcpy(&count, v.mv_data, sizeof(count));
                n += count;
            }
        mdb_cursor_close(cur);
    }
    return n;
}

/* The main database's keys, each opened as a named database. Duplicate
 * keys (MDB_DUPSORT) would need MDB_APPENDDUP; the index has none. */
static int list_dbs(MDB_txn *txn, db_list *dbs)
{
    MDB_dbi main;
    MDB_cursor *cur;
    int rc = mdb_dbi_open(txn, NULL, 0, &main);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main, &cur);
    if (rc)
        return neg(rc);
    MDB_val k, v;
    dbs->n = 0;
    while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        size_t d = dbs->n++;
        if (d == HIST_INDEX_MAX_DBS || k.mv_size >= sizeof(dbs->name[d])) {
            rc = MDB_DBS_FULL;
            break;
        }
        memcpy(dbs->name[d], k.mv_data, k.mv_size);
        dbs->name[d][k.mv_size] = '\0';
        rc = mdb_dbi_open(txn, dbs->name[d], 0, &dbs->dbi[d]);
        if (rc == 0)
            rc = mdb_dbi_flags(txn, dbs->dbi[d], &dbs->flags[d]);
        if (rc == 0 && (dbs->flags[d] & MDB_DUPSORT))
            rc = MDB_INCOMPATIBLE;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : neg(rc);
}

/* Leaf pages database dbi takes when its entries are appended in key
 * order: LMDB's rule (mdb_cursor_put, mdb_page_split with MDB_APPEND) is
 * that an entry goes on the last leaf when the node fits, else on a new
 * one. A node is its header, key and value (a page number instead of a
 * value bigger than the node limit, which goes on overflow pages) and a
 * 2-byte slot, rounded up to even (mdb_leaf_size). */
static int packed_leaves(MDB_txn *txn, MDB_dbi dbi, size_t psize, size_t *out)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return neg(rc);
    size_t room = psize - PAGE_HEADER, nodemax = ((room / 2) & ~(size_t)1) - 2, used = room;
    MDB_val k, v;
    for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        size_t node = NODE_HEADER + k.mv_size + v.mv_size;
        if (node > nodemax)
            node = NODE_HEADER + k.mv_size + sizeof(size_t);
        node = (node + 2 + 1) & ~(size_t)1;
        if (used + node > room)
            ++*out, used = 0;
        used += node;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : neg(rc);
}

/* Reads the index's fill: 0 when it is worth rebuilding, 1 when not. */
static int measure(MDB_env *env, MDB_txn *txn, index_fill *f)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &st);
    f->pages = info.me_last_pgno + 1;
    f->unused = free_pages(txn);
    size_t live = f->pages - (f->unused < f->pages ? f->unused : f->pages);
    if (live * st.ms_psize > SHRINK_MAX_BYTES)
        return 1;
    int rc = list_dbs(txn, &f->dbs);
    for (size_t d = 0; rc == 0 && d < f->dbs.n; d++) {
        MDB_stat ds;
        rc = neg(mdb_stat(txn, f->dbs.dbi[d], &ds));
        if (rc)
            break;
        f->dbs.entries[d] = ds.ms_entries;
        f->leaves += ds.ms_leaf_pages;
        rc = packed_leaves(txn, f->dbs.dbi[d], st.ms_psize, &f->packed);
    }
    if (rc)
        return rc;
    return f->unused * 8 >= f->pages || f->leaves * 8 >= f->packed * 9 ? 0 : 1;
}

/* A write txn of out (begun unless *txn is one) with a cursor on
 * database d, created with the flags it has in the source. */
static int open_out(MDB_env *out, const db_list *dbs, size_t d, MDB_txn **txn, MDB_cursor **cur)
{
    MDB_dbi dbi;
    int rc = *txn ? 0 : mdb_txn_begin(out, NULL, 0, txn);
    if (rc == 0)
        rc = mdb_dbi_open(*txn, dbs->name[d], MDB_CREATE | dbs->flags[d], &dbi);
    if (rc == 0)
        rc = mdb_cursor_open(*txn, dbi, cur);
    return rc;
}

/* Appends every entry of database d, read from src, to out. */
static int copy_db(MDB_txn *src, MDB_env *out, const db_list *dbs, size_t d, MDB_txn **txn,
                   size_t *batch)
{
    MDB_cursor *in, *put;
    int rc = mdb_cursor_open(src, dbs->dbi[d], &in);
    if (rc)
        return rc;
    rc = open_out(out, dbs, d, txn, &put); /* put is closed with its txn */
    size_t n = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; rc == 0 && (rc = mdb_cursor_get(in, &k, &v, op)) == 0;
         op = MDB_NEXT, n++) {
        rc = mdb_cursor_put(put, &k, &v, MDB_APPEND);
        if (rc == 0 && (*batch += k.mv_size + v.mv_size) >= REPACK_TXN_BYTES) {
            rc = mdb_txn_commit(*txn);
            *txn = NULL, *batch = 0;
            if (rc == 0)
                rc = open_out(out, dbs, d, txn, &put);
        }
    }
    mdb_cursor_close(in);
    if (rc == MDB_NOTFOUND)
        rc = n == dbs->entries[d] ? 0 : MDB_CORRUPTED;
    return rc;
}

/* Writes every database of dbs into a new environment at tmp; 0 when it
 * is complete and durable, and *pages its file's length in pages. */
static int rebuild(MDB_txn *src, const db_list *dbs, size_t mapsize, const char *tmp, size_t *pages)
{
    if (unlink(tmp) != 0 && errno != ENOENT) /* a fresh file, never an old copy's pages */
        return neg(errno);
    MDB_env *out;
    int rc = mdb_env_create(&out);
    if (rc)
        return neg(rc);
    mdb_env_set_maxdbs(out, HIST_INDEX_MAX_DBS);
    mdb_env_set_mapsize(out, mapsize); /* as the source: what it holds fits */
    rc = mdb_env_open(out, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0644);
    MDB_txn *txn = NULL;
    size_t batch = 0;
    for (size_t d = 0; rc == 0 && d < dbs->n; d++)
        rc = copy_db(src, out, dbs, d, &txn, &batch);
    if (txn) {
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc == 0)
        rc = mdb_env_sync(out, 1); /* fdatasync: the pages and the meta page */
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(out, &info);
        *pages = info.me_last_pgno + 1;
    }
    mdb_env_close(out);
    return neg(rc);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

void index__remove_stray_copy(const char *dir)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/data.mdb.shrink", dir);
    unlink(tmp);
}

void index__close_shrinking(hist_index *idx, const char *dir)
{
    if (!idx->env)
        return;
    hist_log_sink log = idx->log;
    index_fill f = {0};
    MDB_envinfo info;
    MDB_txn *txn;
    mdb_env_info(idx->env, &info);
    int rc = neg(mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &txn));
    if (rc) {
        index__close(idx);
        hist_logf(&log, HIST_LOG_WARN, "index: could not repack: %s", why(rc));
        return;
    }
    rc = measure(idx->env, txn, &f);
    if (rc == 1) {
        mdb_txn_abort(txn);
        index__close(idx);
        return;
    }
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof(tmp), "%s/data.mdb.shrink", dir);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    size_t after = 0;
    if (rc == 0)
        rc = rebuild(txn, &f.dbs, info.me_mapsize, tmp, &after);
    mdb_txn_abort(txn);
    index__close(idx); /* data.mdb is no longer mapped or written */
    if (rc == 0 && rename(tmp, path) != 0)
        rc = neg(errno);
    if (rc == 0) {
        if (sync_dir(dir) != 0) /* the rename may not survive a power cut: either file is whole */
            hist_logf(&log, HIST_LOG_WARN, "index: fsync of %s: %s", dir, strerror(errno));
        hist_logf(&log, HIST_LOG_INFO,
                  "index: repacked: %zu pages (%zu free; %zu leaves where %zu do) -> %zu pages",
                  f.pages, f.unused, f.leaves, f.packed, after);
        return;
    }
    hist_logf(&log, HIST_LOG_WARN,
              "index: could not repack %zu pages (%zu free; %zu leaves where %zu do): %s", f.pages,
              f.unused, f.leaves, f.packed, why(rc));
    unlink(tmp);
}
