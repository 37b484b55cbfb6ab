/*
 * index_shrink.c: gives the index file's free pages back to the disk at a
 * clean close (see index.h, index__close_shrinking).
 *
 * LMDB never makes its file smaller: pages freed by a commit (every
 * commit frees the old copies of the pages it rewrote; compaction and
 * retention free whole subtrees) are reused by later commits, but the
 * file stays as long as it ever was. At a clean close nothing else uses
 * the environment, so when at least an eighth of the file is free pages
 * the live pages are copied, without the free ones, into
 * index/data.mdb.shrink (mdb_env_copyfd2 with MDB_CP_COMPACT, from one
 * read transaction), made durable, and renamed over data.mdb.
 *
 * Crash safety: until the rename, data.mdb is the index as committed and
 * the copy is a stray file (hist_db_open removes it before index__open); the rename is atomic
 * and comes after the copy's fdatasync, and the directory is fsync'ed
 * after it. A failure at any step leaves data.mdb as it was and is only
 * logged: the close itself has succeeded by then.
 */
#include "storage/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SHRINK_MAX_BYTES ((size_t)1 << 30) /* a bigger copy would hold the stop too long */

/* Free pages on the freelist (each record's value is a page count, then
 * that many page numbers). */
static size_t free_pages(MDB_env *env)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    size_t n = 0;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
        return 0;
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
    mdb_txn_abort(txn);
    return n;
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

/* Copies the live pages to tmp; 0 when it is complete and durable. */
static int copy_compact(MDB_env *env, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
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
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(idx->env, &info);
    mdb_env_stat(idx->env, &st);
    size_t pages = info.me_last_pgno + 1, unused = free_pages(idx->env);
    size_t live_bytes = (pages - (unused < pages ? unused : pages)) * st.ms_psize;
    if (unused * 8 < pages || live_bytes > SHRINK_MAX_BYTES) {
        index__close(idx);
        return;
    }
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof(tmp), "%s/data.mdb.shrink", dir);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int rc = copy_compact(idx->env, tmp);
    int err = errno;
    hist_log_sink log = idx->log;
    index__close(idx); /* data.mdb is no longer mapped or written */
    if (rc == 0 && (rc = rename(tmp, path)) != 0)
        err = errno;
    if (rc == 0) {
        if (sync_dir(dir) != 0) /* the rename may not survive a power cut: either file is whole */
            hist_logf(&log, HIST_LOG_WARN, "index: fsync of %s: %s", dir, strerror(errno));
        hist_logf(&log, HIST_LOG_INFO, "index: %zu of %zu pages were free; the file now has %zu",
                  unused, pages, live_bytes / st.ms_psize);
        return;
    }
    hist_logf(&log, HIST_LOG_WARN, "index: could not give back %zu free pages: %s", unused,
              rc > 0 ? mdb_strerror(rc) : strerror(err));
    unlink(tmp);
}
