/*
 * backup.c: the online backup (hist_db_backup and its background job):
 * a consistent copy of the open data directory while ingest goes on.
 *
 * The order, and why it makes a consistent copy (docs/architecture.md,
 * "Backup", has the longer argument):
 *   1. pin: segs__pin (segs__remove defers its unlinks) and wal__pin
 *      (wal__checkpoint deletes nothing). From here no file that any
 *      later index snapshot may name goes away.
 *   2. the index: LMDB's compacting copy (mdb_env_copy2, MDB_CP_COMPACT)
 *      of one read snapshot S. S names only chunks whose bytes were
 *      durable in their segment before the commit that added them, and
 *      S's checkpoint, flushed LSNs and wal_durable are at most the
 *      WAL's last LSN when S was taken.
 *   3. the sync point: L = the WAL's last LSN now; wal__sync(L). Every
 *      write acknowledged before the backup began has an LSN <= L, and
 *      L >= everything S says about the log.
 *   4. segments: (cur, size) of the current segment read together;
 *      every file numbered below cur is closed (appends go to cur only,
 *      under the segments' lock) and never changes again: hard link
 *      (copy across filesystems). cur itself is copied up to size, which
 *      covers every chunk S names in it. Files above cur came after S.
 *      The copy's highest file is a copy, never a link, so the copy's
 *      own appends never reach a file the live database shares.
 *   5. the WAL: every live segment up to its durable bytes (whole
 *      records; the last ones past L are complete too, and harmless).
 *      Every record that S has not sealed is in them: a segment was
 *      deleted before step 1 only when S's checkpoint had passed it.
 *   6. fsync everything, write DEST/SEGMENTS (each segment file's live
 *      identity) and DEST/BACKUP (what this is; last), unpin: the
 *      deferred segment unlinks happen then.
 * A failure at any step unpins and removes what the backup wrote (dest
 * was missing or empty, so that is all of it); hist_db_close() makes a
 * running one fail that way between two MiB.
 * Incremental (a base backup): a closed segment whose live identity
 * (device, inode, size, mtime) is the one base's SEGMENTS recorded is the
 * same immutable file, so base's copy of it is linked instead.
 * Ingest never waits for the backup: no lock of the write path is held
 * across a copy. Sealing waits only when the index map must grow during
 * step 2 (its resize lock's read side is held across the LMDB copy).
 */
#include "storage/db_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct hist_backup_job {
    pthread_mutex_t mu;
    pthread_t thread;
    bool has_thread;  /* joined by the next start or by backup__stop */
    bool running;     /* a backup (either kind) is under way */
    atomic_bool stop; /* hist_db_close(): a running backup gives up between two MiB */
    uint64_t next_id;
    hist_backup_status st;
};

static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

int backup__init(hist_db *db)
{
    db->backup = calloc(1, sizeof(*db->backup));
    if (!db->backup)
        return HIST_ENOMEM;
    pthread_mutex_init(&db->backup->mu, NULL);
    return 0;
}

void backup__stop(hist_db *db)
{
    hist_backup_job *j = db->backup;
    if (!j)
        return;
    atomic_store(&j->stop, true);
    pthread_mutex_lock(&j->mu);
    bool join = j->has_thread;
    pthread_t th = j->thread; /* read under mu: a start may set it */
    j->has_thread = false;
    pthread_mutex_unlock(&j->mu);
    if (join)
        pthread_join(th, NULL);
}

void backup__free(hist_db *db)
{
    if (!db->backup)
        return;
    pthread_mutex_destroy(&db->backup->mu);
    free(db->backup);
    db->backup = NULL;
}

/* ---- The destination ------------------------------------------------------------- */

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static int dest_check(hist_db *db, const char *dest, char *why, size_t cap)
{
    if (!db || !dest || !*dest) {
        say(why, cap, "dest is missing");
        return HIST_EINVAL;
    }
    size_t len = strlen(dest);
    if (dest[0] != '/') {
        say(why, cap, "dest must be an absolute path on the server's machine: %s", dest);
        return HIST_EINVAL;
    }
    if (len >= 3800) {
        say(why, cap, "dest is too long");
        return HIST_EINVAL;
    }
    /* The place dest resolves to: itself when it exists, else its parent
     * (which must exist) and its last name. */
    char want[PATH_MAX + 256], parent[4096];
    struct stat st;
    if (stat(dest, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            say(why, cap, "dest exists and is not a directory: %s", dest);
            return HIST_EEXIST;
        }
        if (!dir_empty(dest)) {
            say(why, cap, "dest exists and is not empty: %s", dest);
            return HIST_EEXIST;
        }
        if (!realpath(dest, want)) {
            say(why, cap, "cannot resolve dest %s: %s", dest, strerror(errno));
            return HIST_EINVAL;
        }
    } else {
        snprintf(parent, sizeof(parent), "%s", dest);
        while (len > 1 && parent[len - 1] == '/')
            parent[--len] = '\0';
        char *slash = strrchr(parent, '/');
        const char *base = slash + 1;
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
            say(why, cap, "dest must name a directory: %s", dest);
            return HIST_EINVAL;
        }
        char rp[PATH_MAX];
        if (slash == parent)
            snprintf(rp, sizeof(rp), "/");
        else {
            *slash = '\0';
            if (!realpath(parent, rp)) {
                say(why, cap, "the parent of dest does not exist: %s", parent);
                return HIST_EINVAL;
            }
        }
        snprintf(want, sizeof(want), "%s/%s", strcmp(rp, "/") ? rp : "", base);
    }
    char data[PATH_MAX];
    if (!realpath(db->dir, data)) {
        say(why, cap, "cannot resolve the data directory: %s", strerror(errno));
        return HIST_EIO;
    }
    size_t dl = strlen(data);
    if (!strncmp(want, data, dl) && (want[dl] == '\0' || want[dl] == '/')) {
        say(why, cap, "dest is inside the data directory %s: %s", data, dest);
        return HIST_EINVAL;
    }
    return 0;
}

/* A base backup: an absolute directory with its BACKUP note and SEGMENTS list. */
static int base_check(const char *base, char *why, size_t cap)
{
    char path[4200];
    struct stat st;
    if (base[0] != '/' || strlen(base) >= 3800) {
        say(why, cap, "base must be an absolute path on the server's machine: %s", base);
        return HIST_EINVAL;
    }
    snprintf(path, sizeof(path), "%s/BACKUP", base);
    bool note = stat(path, &st) == 0;
    snprintf(path, sizeof(path), "%s/SEGMENTS", base);
    if (!note || stat(path, &st) != 0) {
        say(why, cap, "base is not a complete backup (no BACKUP and SEGMENTS files): %s", base);
        return HIST_EINVAL;
    }
    return 0;
}

int hist_db_backup_check(hist_db *db, const char *dest, const char *base, char *why, size_t cap)
{
    int rc = dest_check(db, dest, why, cap);
    return rc == 0 && base ? base_check(base, why, cap) : rc;
}

/* ---- Files ------------------------------------------------------------------------ */

/* A segment file as SEGMENTS lists it: the live file's identity when it
 * was backed up. closed: it was no longer appended to (a current
 * segment's partial copy is never reused). */
typedef struct {
    uint32_t no;
    int closed;
    uint64_t size, dev, ino;
    int64_t mtime_ns;
} seg_id;

typedef struct {
    hist_db *db;
    char dest[4096];
    const char *base; /* NULL: a full backup */
    seg_id *prev;     /* base's SEGMENTS */
    size_t nprev;
    FILE *list; /* dest/SEGMENTS, being written */
    hist_backup_report *r;
    char *why;
    size_t cap;
} bk;

/* HIST_ECLOSED once hist_db_close() asked the backup to stop. */
static int stopped(bk *b)
{
    if (!atomic_load(&b->db->backup->stop))
        return 0;
    say(b->why, b->cap, "the server is shutting down");
    return HIST_ECLOSED;
}

static int io_err(bk *b, const char *what, const char *path)
{
    int e = errno;
    say(b->why, b->cap, "%s %s: %s", what, path, strerror(e));
    return e == ENOSPC || e == EDQUOT ? HIST_EDISKFULL : HIST_EIO;
}

static int sync_path(bk *b, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_err(b, "cannot open", path);
    int rc = fsync(fd) == 0 ? 0 : io_err(b, "cannot fsync", path);
    close(fd);
    return rc;
}

/* Copies the first len bytes of src into a new file dst, made durable. */
static int copy_file(bk *b, const char *src, const char *dst, uint64_t len)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_err(b, "cannot open", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int rc = io_err(b, "cannot create", dst);
        close(in);
        return rc;
    }
    int rc = 0;
    uint64_t done = 0;
    bool plain = false; /* copy_file_range refused: read and write */
    static const size_t chunk = 1u << 20;
    char *buf = NULL;
    while (done < len && rc == 0 && (rc = stopped(b)) == 0) {
        size_t want = len - done < chunk ? (size_t)(len - done) : chunk;
        ssize_t n = -1;
        if (!plain) {
            loff_t io = (loff_t)done, oo = (loff_t)done;
            n = copy_file_range(in, &io, out, &oo, want, 0);
            if (n < 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                plain = true;
                continue;
            }
        } else {
            if (!buf && !(buf = malloc(chunk))) {
                rc = HIST_ENOMEM;
                break;
            }
            n = pread(in, buf, want, (off_t)done);
            if (n > 0) {
                for (ssize_t w = 0; w < n;) {
                    ssize_t m = pwrite(out, buf + w, (size_t)(n - w), (off_t)(done + (uint64_t)w));
                    if (m < 0 && errno == EINTR)
                        continue;
                    if (m < 0) {
                        rc = io_err(b, "cannot write", dst);
                        break;
                    }
                    w += m;
                }
            }
        }
        if (rc)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = io_err(b, "cannot copy", src);
        else if (n == 0) {
            say(b->why, b->cap, "%s is shorter than %llu bytes", src, (unsigned long long)len);
            rc = HIST_EIO;
        } else
            done += (uint64_t)n;
    }
    free(buf);
    if (rc == 0 && fsync(out) != 0)
        rc = io_err(b, "cannot fsync", dst);
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = io_err(b, "cannot close", dst);
    if (rc == 0) {
        b->r->copied_files++;
        b->r->copied_bytes += len;
        b->r->files++;
        b->r->bytes += len;
    }
    return rc;
}

/* A closed segment: a hard link, or a copy where links do not go. */
static int link_or_copy(bk *b, const char *src, const char *dst)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return io_err(b, "cannot stat", src);
    if (link(src, dst) == 0) {
        b->r->linked_files++;
        b->r->linked_bytes += (uint64_t)st.st_size;
        b->r->files++;
        b->r->bytes += (uint64_t)st.st_size;
        return 0;
    }
    if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
        return io_err(b, "cannot link", dst);
    return copy_file(b, src, dst, (uint64_t)st.st_size);
}

/* ---- The steps ------------------------------------------------------------------- */

static int copy_index(bk *b)
{
    char path[4200], file[4300];
    snprintf(path, sizeof(path), "%s/index", b->dest);
    hist_index *idx = &b->db->idx;
    /* No resize (mdb_env_set_mapsize) while the copy's txn is live. */
    pthread_rwlock_rdlock(&idx->resize);
    int rc = mdb_env_copy2(idx->env, path, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&idx->resize);
    if (rc) {
        say(b->why, b->cap, "LMDB copy into %s failed: %s", path, mdb_strerror(rc));
        return rc == ENOSPC ? HIST_EDISKFULL : HIST_EIO;
    }
    snprintf(file, sizeof(file), "%s/data.mdb", path);
    struct stat st;
    if (stat(file, &st) != 0)
        return io_err(b, "cannot stat", file);
    rc = sync_path(b, file); /* mdb_env_copy2 syncs; once more does no harm */
    b->r->index_bytes = (uint64_t)st.st_size;
    b->r->copied_files++;
    b->r->copied_bytes += (uint64_t)st.st_size;
    b->r->files++;
    b->r->bytes += (uint64_t)st.st_size;
    return rc;
}

#define SEGMENTS_HEAD "historian segments 1"

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Reads base's SEGMENTS into b->prev. */
static int read_base(bk *b)
{
    char path[4200], line[256];
    snprintf(path, sizeof(path), "%s/SEGMENTS", b->base);
    FILE *f = fopen(path, "r");
    if (!f)
        return io_err(b, "cannot read", path);
    int rc = 0;
    size_t cap = 0;
    if (!fgets(line, sizeof(line), f) || strncmp(line, SEGMENTS_HEAD, strlen(SEGMENTS_HEAD))) {
        say(b->why, b->cap, "%s is not a segment list", path);
        rc = HIST_EINVAL;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        seg_id id;
        unsigned long long size, dev, ino;
        long long mt;
        if (sscanf(line, "%u %d %llu %llu %llu %lld", &id.no, &id.closed, &size, &dev, &ino, &mt) !=
            6) {
            say(b->why, b->cap, "%s: a line does not read: %s", path, line);
            rc = HIST_EINVAL;
            break;
        }
        id.size = size, id.dev = dev, id.ino = ino, id.mtime_ns = mt;
        if (b->nprev == cap) {
            cap = cap ? cap * 2 : 64;
            seg_id *np = realloc(b->prev, cap * sizeof(*np));
            if (!np) {
                rc = HIST_ENOMEM;
                break;
            }
            b->prev = np;
        }
        b->prev[b->nprev++] = id;
    }
    fclose(f);
    return rc;
}

/* Links segment no from base when base holds the very file st describes. */
static bool reuse_from_base(bk *b, uint32_t no, const struct stat *st, const char *dst)
{
    for (size_t i = 0; i < b->nprev; i++) {
        const seg_id *p = &b->prev[i];
        if (p->no != no || !p->closed || p->size != (uint64_t)st->st_size ||
            p->dev != (uint64_t)st->st_dev || p->ino != (uint64_t)st->st_ino ||
            p->mtime_ns != mtime_ns(st))
            continue;
        char src[4300];
        struct stat bs;
        snprintf(src, sizeof(src), "%s/seg/%012u.seg", b->base, no);
        if (stat(src, &bs) != 0 || bs.st_size != st->st_size || link(src, dst) != 0)
            return false; /* gone or on another filesystem: from the data directory then */
        b->r->reused_files++;
        b->r->reused_bytes += (uint64_t)st->st_size;
        b->r->linked_files++;
        b->r->linked_bytes += (uint64_t)st->st_size;
        b->r->files++;
        b->r->bytes += (uint64_t)st->st_size;
        return true;
    }
    return false;
}

static int copy_segments(bk *b)
{
    uint32_t cur;
    uint64_t cur_size;
    segs__cur(&b->db->segs, &cur, &cur_size);
    char src[4300], dst[4300];
    const char *dir = b->db->segs.dir;
    DIR *d = opendir(dir);
    if (!d)
        return io_err(b, "cannot list", dir);
    struct dirent *e;
    int rc = 0;
    bool has_cur = false;
    while (rc == 0 && (rc = stopped(b)) == 0 && (e = readdir(d))) {
        unsigned long no;
        char tail[8];
        if (strlen(e->d_name) != 16 || sscanf(e->d_name, "%12lu%7s", &no, tail) != 2 ||
            strcmp(tail, ".seg") != 0 || no == 0 || no > cur)
            continue; /* above cur: started after the index snapshot */
        snprintf(src, sizeof(src), "%s/%012lu.seg", dir, no);
        snprintf(dst, sizeof(dst), "%s/seg/%012lu.seg", b->dest, no);
        struct stat st;
        if (stat(src, &st) != 0) {
            rc = io_err(b, "cannot stat", src);
            break;
        }
        if (no == cur) {
            rc = copy_file(b, src, dst, cur_size);
            has_cur = true;
        } else if (!reuse_from_base(b, (uint32_t)no, &st, dst))
            rc = link_or_copy(b, src, dst);
        if (rc == 0) {
            b->r->segment_files++;
            fprintf(b->list, "%lu %d %llu %llu %llu %lld\n", no, no != cur,
                    (unsigned long long)(no == cur ? cur_size : (uint64_t)st.st_size),
                    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                    (long long)mtime_ns(&st));
        }
    }
    closedir(d);
    /* Invariant: the copy's highest segment is a copy (the copy appends there). */
    HIST_ASSERT(rc != 0 || has_cur || cur_size == 0);
    return rc;
}

static int copy_wal(bk *b)
{
    hist_wal_file *f;
    size_t n;
    int rc = wal__files(b->db->wal, &f, &n);
    if (rc) {
        say(b->why, b->cap, "cannot list the WAL: %s", hist_strerror(rc));
        return rc;
    }
    char src[4300], dst[4300];
    for (size_t i = 0; i < n && rc == 0; i++) {
        snprintf(src, sizeof(src), "%s/wal/%012llu.wal", b->db->dir, (unsigned long long)f[i].no);
        snprintf(dst, sizeof(dst), "%s/wal/%012llu.wal", b->dest, (unsigned long long)f[i].no);
        rc = copy_file(b, src, dst, f[i].bytes);
        if (rc == 0) {
            b->r->wal_files++;
            b->r->wal_bytes += f[i].bytes;
        }
    }
    free(f);
    return rc;
}

#ifdef HIST_DEBUG_CHECKS
/* Debug builds: the invariant the order gives, checked on the copy itself:
 * every chunk its index names lies inside a segment file of the copy, and
 * its checkpoint is at most one past the sync point. */
static void assert_refs_inside(bk *b)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/index", b->dest);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi chunk, meta;
    if (mdb_env_create(&env))
        return;
    mdb_env_set_maxdbs(env, HIST_INDEX_MAX_DBS);
    mdb_env_set_mapsize(env, b->db->idx.mapsize);
    int rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK, 0644);
    HIST_ASSERT(rc == 0);
    if (rc == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_dbi_open(txn, "meta", 0, &meta) == 0) {
            hist_index view = {.env = env, .meta = meta};
            uint64_t ckpt = 0;
            if (index__meta_get(&view, txn, "checkpoint", &ckpt) == 0)
                HIST_ASSERT(ckpt <= b->r->lsn + 1);
        }
        MDB_cursor *cur;
        if (mdb_dbi_open(txn, "chunk", 0, &chunk) == 0 && mdb_cursor_open(txn, chunk, &cur) == 0) {
            MDB_val k, d;
            uint32_t seen = 0;
            uint64_t size = 0;
            for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &d, op) == 0; op = MDB_NEXT) {
                hist_chunk_ref ref;
                if (index__chunk_ref_from(&k, &d, &ref))
                    continue;
                if (ref.segment != seen) {
                    char seg[4300];
                    snprintf(seg, sizeof(seg), "%s/seg/%012u.seg", b->dest, ref.segment);
                    struct stat st;
                    size = stat(seg, &st) == 0 ? (uint64_t)st.st_size : 0;
                    seen = ref.segment;
                }
                HIST_ASSERT(ref.offset + ref.length <= size);
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
}
#endif

static int write_note(bk *b, const char *data)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/BACKUP", b->dest);
    FILE *fp = fopen(path, "wx");
    if (!fp)
        return io_err(b, "cannot create", path);
    time_t t = (time_t)(b->r->time_ns / 1000000000);
    struct tm tm;
    char when[64];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(fp,
            "historian backup of %s\nstarted %s\nlsn %llu\n"
            "every write with an LSN up to this is in the copy; start historiand --data on "
            "this directory (or a copy of it) to use it\n",
            data, when, (unsigned long long)b->r->lsn);
    int rc = fflush(fp) == 0 && fsync(fileno(fp)) == 0 ? 0 : io_err(b, "cannot write", path);
    if (fclose(fp) != 0 && rc == 0)
        rc = io_err(b, "cannot close", path);
    return rc;
}

static const char *const subs[] = {"index", "seg", "wal"};

/* A failed backup takes back what it wrote: the files of its own layout
 * (nothing else was in dest: it was missing or empty), and dest itself
 * when it made it. */
static void remove_partial(bk *b, bool made_dest)
{
    char path[4200], file[4500];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", b->dest, subs[i]);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                    snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
                    unlink(file);
                }
            closedir(d);
        }
        rmdir(path);
    }
    snprintf(path, sizeof(path), "%s/BACKUP", b->dest);
    unlink(path);
    snprintf(path, sizeof(path), "%s/SEGMENTS", b->dest);
    unlink(path);
    if (made_dest)
        rmdir(b->dest);
}

static int run_backup(bk *b)
{
    hist_db *db = b->db;
    int rc = hist_db_backup_check(db, b->dest, b->base, b->why, b->cap);
    if (rc == 0 && b->base)
        rc = read_base(b);
    if (rc)
        return rc;
    char path[4200];
    bool made = mkdir(b->dest, 0755) == 0;
    if (!made && errno != EEXIST)
        return io_err(b, "cannot create", b->dest);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", b->dest, subs[i]);
        if (mkdir(path, 0755) != 0) {
            rc = io_err(b, "cannot create", path);
            remove_partial(b, made);
            return rc;
        }
    }
    snprintf(path, sizeof(path), "%s/SEGMENTS", b->dest);
    b->list = fopen(path, "wx");
    if (!b->list) {
        rc = io_err(b, "cannot create", path);
        remove_partial(b, made);
        return rc;
    }
    fprintf(b->list, SEGMENTS_HEAD "\n");
    /* 1. Pins: from here no segment or WAL file goes away. */
    segs__pin(&db->segs);
    wal__pin(db->wal);
    /* 2. The index snapshot. */
    rc = copy_index(b);
    /* 3. The sync point: at or past every acknowledged write and every
     *    LSN the snapshot names. */
    if (rc == 0) {
        uint64_t l = wal__last_lsn(db->wal);
        rc = l ? wal__sync(db->wal, l) : 0;
        if (rc)
            say(b->why, b->cap, "the WAL cannot sync: %s", hist_strerror(rc));
        b->r->lsn = l;
    }
    /* 4, 5. */
    if (rc == 0)
        rc = copy_segments(b);
    if (rc == 0)
        rc = copy_wal(b);
#ifdef HIST_DEBUG_CHECKS
    if (rc == 0)
        assert_refs_inside(b);
#endif
    /* 6. */
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", b->dest, subs[i]);
        rc = sync_path(b, path);
    }
    if (rc == 0 && (fflush(b->list) != 0 || fsync(fileno(b->list)) != 0))
        rc = io_err(b, "cannot write", "SEGMENTS");
    if (fclose(b->list) != 0 && rc == 0)
        rc = io_err(b, "cannot close", "SEGMENTS");
    b->list = NULL;
    if (rc == 0)
        rc = write_note(b, db->dir);
    if (rc == 0)
        rc = sync_path(b, b->dest);
    wal__unpin(db->wal);
    int urc = segs__unpin(&db->segs);
    if (urc)
        hist_logf(&db->log, HIST_LOG_WARN,
                  "backup: a segment compaction freed could not be deleted (dead space only)");
    if (rc)
        remove_partial(b, made);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The backup proper, once the job slot is ours. */
static int backup_body(hist_db *db, const char *dest, const char *base, hist_backup_report *out,
                       char *why, size_t cap)
{
    hist_backup_report r;
    memset(&r, 0, sizeof(r));
    r.time_ns = clock__wall_ns();
    bk b = {.db = db, .base = base, .r = &r, .why = why, .cap = cap};
    snprintf(b.dest, sizeof(b.dest), "%s", dest);
    double t0 = mono_s();
    int rc = run_backup(&b);
    free(b.prev);
    r.seconds = mono_s() - t0;
    if (rc == 0)
        hist_logf(&db->log, HIST_LOG_INFO,
                  "backup into %s: LSN %llu, %llu file(s), %llu bytes (%llu linked, %llu of them "
                  "from the base backup), %.2f s",
                  dest, (unsigned long long)r.lsn, (unsigned long long)r.files,
                  (unsigned long long)r.bytes, (unsigned long long)r.linked_bytes,
                  (unsigned long long)r.reused_bytes, r.seconds);
    else
        hist_logf(&db->log, HIST_LOG_ERROR, "backup into %s failed: %s", dest,
                  why && *why ? why : hist_strerror(rc));
    if (out)
        *out = r;
    return rc;
}

/* Takes the one backup slot; HIST_EBUSY when taken. */
static int claim(hist_db *db, const char *dest, uint64_t *id)
{
    hist_backup_job *j = db->backup;
    pthread_mutex_lock(&j->mu);
    if (j->running) {
        pthread_mutex_unlock(&j->mu);
        return HIST_EBUSY;
    }
    j->running = true;
    j->st.running = true;
    j->st.id = ++j->next_id;
    snprintf(j->st.dest, sizeof(j->st.dest), "%s", dest);
    *id = j->st.id;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static void finish(hist_db *db, uint64_t id, int rc, const hist_backup_report *r, const char *why)
{
    hist_backup_job *j = db->backup;
    pthread_mutex_lock(&j->mu);
    j->running = false;
    j->st.running = false;
    j->st.has_last = true;
    j->st.last_id = id;
    j->st.last_error = rc;
    snprintf(j->st.last_why, sizeof(j->st.last_why), "%s", rc && why ? why : "");
    j->st.last = *r;
    pthread_mutex_unlock(&j->mu);
}

int hist_db_backup(hist_db *db, const char *dest, const char *base, hist_backup_report *out,
                   char *why, size_t cap)
{
    say(why, cap, "%s", "");
    if (!db || !dest)
        return HIST_EINVAL;
    uint64_t id;
    if (claim(db, dest, &id)) {
        say(why, cap, "a backup is already running");
        return HIST_EBUSY;
    }
    char local[256] = "";
    hist_backup_report r;
    int rc = backup_body(db, dest, base, &r, local, sizeof(local));
    finish(db, id, rc, &r, local);
    say(why, cap, "%s", local);
    if (out)
        *out = r;
    return rc;
}

typedef struct {
    hist_db *db;
    uint64_t id;
    char dest[4096];
    char base[4096];
    bool has_base;
} job_arg;

static void *job_main(void *arg)
{
    job_arg *a = arg;
    char why[256] = "";
    hist_backup_report r;
    int rc = backup_body(a->db, a->dest, a->has_base ? a->base : NULL, &r, why, sizeof(why));
    finish(a->db, a->id, rc, &r, why);
    free(a);
    return NULL;
}

int hist_db_backup_start(hist_db *db, const char *dest, const char *base, uint64_t *id, char *why,
                         size_t cap)
{
    say(why, cap, "%s", "");
    int rc = hist_db_backup_check(db, dest, base, why, cap);
    if (rc)
        return rc;
    hist_backup_job *j = db->backup;
    job_arg *a = calloc(1, sizeof(*a));
    if (!a)
        return HIST_ENOMEM;
    a->db = db;
    snprintf(a->dest, sizeof(a->dest), "%s", dest);
    if (base) {
        snprintf(a->base, sizeof(a->base), "%s", base);
        a->has_base = true;
    }
    if (claim(db, dest, &a->id)) {
        free(a);
        say(why, cap, "a backup is already running");
        return HIST_EBUSY;
    }
    /* The slot is ours, so the last job's thread (if any) has finished
     * its work: join it before the next one starts. */
    pthread_mutex_lock(&j->mu);
    bool join = j->has_thread;
    pthread_t th = j->thread;
    j->has_thread = false;
    pthread_mutex_unlock(&j->mu);
    if (join)
        pthread_join(th, NULL);
    pthread_mutex_lock(&j->mu);
    uint64_t my = a->id;
    rc = pthread_create(&j->thread, NULL, job_main, a);
    if (rc == 0)
        j->has_thread = true;
    pthread_mutex_unlock(&j->mu);
    if (rc) {
        hist_backup_report r;
        memset(&r, 0, sizeof(r));
        finish(db, my, HIST_ENOMEM, &r, "cannot start the backup thread");
        free(a);
        say(why, cap, "cannot start the backup thread");
        return HIST_ENOMEM;
    }
    if (id)
        *id = my;
    return 0;
}

int hist_db_backup_status(hist_db *db, hist_backup_status *out)
{
    if (!db || !out)
        return HIST_EINVAL;
    pthread_mutex_lock(&db->backup->mu);
    *out = db->backup->st;
    pthread_mutex_unlock(&db->backup->mu);
    return 0;
}
