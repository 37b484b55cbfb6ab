/*
 * wal.c: the write-ahead log (see wal.h for the file format and the
 * contract). Every acknowledged batch is a record here before it is
 * anywhere else on disk; recovery replays the records after the checkpoint.
 *
 * Record: u32 payload length | u32 crc32c(lsn bytes, payload) | u64 lsn |
 * payload, all little-endian, records back to back in segment files
 * wal/NNNNNNNNNNNN.wal.
 *
 * Group commit. hist_wal_append() only assigns the LSN and copies the framed
 * record into `pending` under the mutex. hist_wal_sync(lsn) either finds lsn
 * durable, or waits while another thread flushes, or becomes the leader: it
 * swaps `pending` with the empty `spare` buffer (so appends go on), writes
 * the batch with one linked write+fdatasync outside the mutex, then
 * publishes the new durable LSN and wakes every waiter.
 *
 * Invariants (under mu):
 *   - LSNs in `pending` are consecutive and all > durable_lsn; pending holds
 *     exactly the records durable_lsn+1 .. next_lsn-1 that are not being
 *     flushed. At most one leader (flushing == true) at a time.
 *   - The leader alone touches active_fd, active_off and next_seg_no.
 *   - segs[] lists the live segment files in number (= LSN) order; a
 *     segment's records/last_lsn/bytes count only durable records.
 *
 * A failed write or fdatasync (a full disk, an I/O error). What reached the
 * active file is unknown and its fdatasync may never be retried, so:
 *   1. the log breaks: `broken` holds the error, every record not yet
 *      durable (durable_lsn+1 .. next_lsn-1: the batch being flushed and
 *      everything pending) is void, its syncs fail, and appends are refused
 *      with the same error; the active file is closed and never written or
 *      synced again;
 *   2. the caller (db.c) takes the void records out of the memtable, so a
 *      refused write is never read, then calls hist_wal_resume() now and
 *      then: it starts a new segment whose first record is a control record
 *      "LSNs a..b are void", written and fdatasync'ed (with the directory).
 *      Only then does the log take appends again (resume fails, and the
 *      log stays broken, while the disk is still full);
 *   3. recovery collects the void ranges of every control record and never
 *      replays a void LSN, though the broken file may hold some of those
 *      records whole. LSNs are never handed out twice, so a void LSN can
 *      only name a refused record.
 * A crash in the broken state, before the control record is durable, may
 * replay records that were refused (never acknowledged): a client that
 * retried them sees them once more; nothing acknowledged is at risk.
 *
 * Record framing: the top bit of the length field marks a control record;
 * its CRC is seeded differently (WAL_CONTROL_SEED), so a flipped top bit
 * fails the CRC instead of changing the record's kind. Logs with control
 * records are not readable by builds from before they existed (which cut
 * the log at the first one).
 *
 * Recovery (open): each segment is read whole and walked. A record that is
 * short, fails its CRC, or breaks the LSN order is damage: the walk looks
 * for the next intact record after it (resync: a header whose LSN follows
 * and whose CRC holds), keeps every intact record, and counts the LSNs
 * between as lost, exactly. What follows the last intact record (a torn
 * write, or damage with nothing intact after it) is cut: the file is
 * truncated there and fsynced. A segment whose first LSN leaves a gap after
 * the previous segment is kept and the gap is logged, unless a void range
 * explains it. Segments left empty are deleted. New appends always start a
 * new segment, so a recovered file is never written again.
 *
 * Checkpoint keeps LSNs continuous across restarts: the newest segment that
 * holds a durable record is never deleted, so the next open always finds the
 * highest LSN used so far (or an empty log only when nothing was ever kept).
 */
#include "storage/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/io.h"

#define WAL_HEADER          16                  /* len, crc, lsn */
#define WAL_MAX_PAYLOAD     (UINT32_C(1) << 30) /* one batch; far above any sane request */
#define WAL_CONTROL_FLAG    HIST_WAL_CONTROL_FLAG /* in the length field: a control record */
#define WAL_CONTROL_SEED    HIST_WAL_CONTROL_SEED /* its CRC's seed */
#define WAL_CONTROL_VOID    1                    /* payload: u8 kind, 7 zero bytes, u64 from, to */
#define WAL_CONTROL_LEN     24
/* How far past the last intact LSN a resync looks for the next record:
 * far more records than one segment holds, and a cheap filter before the
 * CRC of a candidate header is computed. */
#define WAL_RESYNC_LSNS (UINT64_C(1) << 24)
#define WAL_DEFAULT_SEGMENT (64u << 20)
/* LSNs from this on are damage: a real log never gets near (2^62 records),
 * and the bound keeps next_lsn from wrapping around. */
#define WAL_MAX_LSN     (UINT64_C(1) << 62)
#define WAL_NAME_DIGITS 12
#define WAL_NAME_MAX    32

typedef struct {
    uint64_t no;
    uint64_t prev_last;           /* the last LSN before this segment (for its walk) */
    uint64_t first_lsn, last_lsn; /* both 0 while it holds no record */
    uint64_t records;
    uint64_t bytes; /* valid (durable) bytes */
} wal_segment;

typedef struct {
    uint64_t from, to; /* LSNs refused at run time: never replayed */
} wal_void;

struct hist_wal {
    char *dir;
    int dirfd;
    hist_io *io;
    hist_log_fn log;
    void *log_ctx;
    size_t segment_bytes;

    pthread_mutex_t mu;
    pthread_cond_t flushed;

    /* Under mu. */
    uint8_t *pending;
    size_t pending_len, pending_cap;
    uint8_t *spare;
    size_t spare_cap;
    uint64_t next_lsn;
    uint64_t durable_lsn;
    bool flushing;
    bool appended;
    int failed;           /* HIST_ECLOSED after discard: for good */
    int broken;           /* the error that broke the log; 0 when healthy */
    uint64_t void_from;   /* while broken: the void LSNs, void_from .. void_to */
    uint64_t void_to;
    uint64_t failures;    /* times the log broke since open */
    wal_void *voids;      /* void ranges found at open (replay skips them) */
    size_t nvoids, voids_cap;
    uint64_t open_controls; /* control records found at open */
    uint64_t active_no; /* segment being written; 0 = none yet since open */
    wal_segment *segs;
    size_t nsegs, segs_cap;
    uint64_t syncs;
    uint64_t sync_hist[HIST_SYNC_HIST_BUCKETS];
    double sync_seconds;

    /* Owned by the flush leader. */
    int active_fd;
    uint64_t active_off;
    uint64_t next_seg_no;
};

/* ---- Small helpers ---------------------------------------------------- */

static void wal_log(const hist_wal *wal, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wal_log(const hist_wal *wal, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (wal->log)
        wal->log(wal->log_ctx, level, msg);
    else if (level <= HIST_LOG_WARN)
        fprintf(stderr, "historian: %s\n", msg);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void segment_name(char *buf, uint64_t no)
{
    snprintf(buf, WAL_NAME_MAX, "%012" PRIu64 ".wal", no);
}

/* The segment number of a file name "NNNNNNNNNNNN.wal", or 0 if it is not one. */
static uint64_t segment_number(const char *name)
{
    uint64_t no = 0;
    for (int i = 0; i < WAL_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        no = no * 10 + (uint64_t)(name[i] - '0');
    }
    return strcmp(name + WAL_NAME_DIGITS, ".wal") == 0 ? no : 0;
}

/* mkdir -p: creates dir and its missing parents. 0 or -errno. */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Reads the first len bytes of fd into a new buffer. 0 or -errno. */
static int read_prefix(int fd, size_t len, uint8_t **out)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? errno : EIO; /* 0: the file shrank under us */
            free(buf);
            return -err;
        }
        got += (size_t)r;
    }
    *out = buf;
    return 0;
}

static int push_segment(hist_wal *wal, const wal_segment *seg)
{
    if (wal->nsegs == wal->segs_cap) {
        size_t cap = wal->segs_cap ? 2 * wal->segs_cap : 16;
        wal_segment *segs = realloc(wal->segs, cap * sizeof *segs);
        if (!segs)
            return HIST_ENOMEM;
        wal->segs = segs;
        wal->segs_cap = cap;
    }
    wal->segs[wal->nsegs++] = *seg;
    return 0;
}

/* ---- Walking records in a buffer ----------------------------------------- */

/* One intact record found in a buffer. */
typedef struct {
    size_t pos, size; /* buf[pos .. pos + size) */
    uint64_t lsn;
    bool control;
} wal_rec;

/* What walking one segment's bytes found. */
typedef struct {
    size_t good_len; /* end of the last intact record */
    uint64_t records, first_lsn, last_lsn;
    uint64_t holes;      /* damaged stretches with intact records after them */
    uint64_t hole_lsns;  /* LSNs missing in those stretches: exact */
    uint64_t hole_bytes; /* their bytes */
    const char *why;     /* what ended the walk before the end (the cut tail), or NULL */
    const char *hole_why;
    size_t hole_at; /* offset of the first hole */
} wal_walk;

/* Checks the record at buf[pos..len). NULL and *r, or a reason. */
static const char *check_record(const uint8_t *buf, size_t len, size_t pos, wal_rec *r)
{
    if (len - pos < WAL_HEADER)
        return "short header";
    uint32_t field = get_le32(buf + pos);
    bool control = (field & WAL_CONTROL_FLAG) != 0;
    uint32_t plen = field & ~WAL_CONTROL_FLAG;
    if (plen > WAL_MAX_PAYLOAD || plen > len - pos - WAL_HEADER)
        return "short record";
    uint32_t seed = control ? WAL_CONTROL_SEED : 0;
    if (hist_crc32c(seed, buf + pos + 8, 8 + (size_t)plen) != get_le32(buf + pos + 4))
        return "checksum mismatch";
    *r = (wal_rec){pos, WAL_HEADER + (size_t)plen, get_le64(buf + pos + 8), control};
    if (r->lsn == 0 || r->lsn >= WAL_MAX_LSN)
        return "LSN out of range";
    return NULL;
}

/* The void range a control record declares; false if it declares none. */
static bool control_void(const uint8_t *buf, const wal_rec *r, wal_void *out)
{
    const uint8_t *p = buf + r->pos + WAL_HEADER;
    if (!r->control || r->size - WAL_HEADER != WAL_CONTROL_LEN || p[0] != WAL_CONTROL_VOID)
        return false;
    out->from = get_le64(p + 8);
    out->to = get_le64(p + 16);
    return out->from <= out->to && out->to < r->lsn;
}

/* The next intact record at or after pos whose LSN follows last (resync
 * after damage). The LSN window is checked before the CRC, so a search
 * through garbage costs about one load per byte. */
static bool resync(const uint8_t *buf, size_t len, size_t pos, uint64_t last, wal_rec *r)
{
    for (; pos + WAL_HEADER <= len; pos++) {
        uint64_t lsn = get_le64(buf + pos + 8);
        if (lsn <= last || lsn - last > WAL_RESYNC_LSNS)
            continue;
        if (!check_record(buf, len, pos, r))
            return true;
    }
    return false;
}

/* Called for every intact record, in order. */
typedef int (*wal_rec_fn)(void *ctx, const uint8_t *buf, const wal_rec *r);

/* Walks the records of one segment: intact records in rising LSN order,
 * each passed to fn (may be NULL; a non-zero return stops the walk and is
 * returned). prev_last is the last LSN of the segments before (0 if none):
 * every record must come after it. Damage followed by an intact record is
 * a hole (counted, skipped); damage with nothing intact after it ends the
 * walk (w->why). The walk depends on the bytes and prev_last alone, so open
 * and replay see the same records. */
static int walk_segment(const uint8_t *buf, size_t len, uint64_t prev_last, wal_walk *w,
                        wal_rec_fn fn, void *ctx)
{
    memset(w, 0, sizeof *w);
    size_t pos = 0;
    uint64_t last = prev_last;
    while (pos < len) {
        wal_rec r;
        const char *why = check_record(buf, len, pos, &r);
        if (!why && r.lsn <= last)
            why = w->records ? "LSN out of sequence" : "LSN goes backwards from the previous segment";
        if (why) {
            if (!resync(buf, len, pos + 1, last, &r)) {
                w->why = why;
                break;
            }
            if (w->holes++ == 0)
                w->hole_why = why, w->hole_at = pos;
            /* Before a segment's first intact record the caller counts
             * the gap from the previous segment instead. */
            w->hole_lsns += w->records ? r.lsn - last - 1 : 0;
            w->hole_bytes += r.pos - pos;
        } else if (w->records > 0 && r.lsn != last + 1) {
            /* Intact, but LSNs skipped inside one segment: lost records. */
            if (w->holes++ == 0)
                w->hole_why = "LSN out of sequence", w->hole_at = pos;
            w->hole_lsns += r.lsn - last - 1;
        }
        if (w->records++ == 0)
            w->first_lsn = r.lsn;
        w->last_lsn = last = r.lsn;
        pos = r.pos + r.size;
        w->good_len = pos;
        int rc = fn ? fn(ctx, buf, &r) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* How many records the cut-off tail buf[pos..len) held, following the
 * length fields as far as they fit: at least one, the damaged record. Only
 * an estimate: nothing intact follows, so no LSN tells the exact count
 * (db.c compares the log's end with the last durable LSN the index saw). */
static uint64_t count_cut_records(const uint8_t *buf, size_t len, size_t pos)
{
    uint64_t n = 0;
    while (pos < len) {
        n++;
        if (len - pos < WAL_HEADER)
            break;
        uint64_t size = WAL_HEADER + (uint64_t)(get_le32(buf + pos) & ~WAL_CONTROL_FLAG);
        if (size > len - pos)
            break;
        pos += (size_t)size;
    }
    return n;
}

/* Is lsn in a void range (refused at run time)? Under mu or before use. */
static bool lsn_void(const hist_wal *wal, uint64_t lsn)
{
    for (size_t i = 0; i < wal->nvoids; i++)
        if (lsn >= wal->voids[i].from && lsn <= wal->voids[i].to)
            return true;
    return false;
}

static int push_void(hist_wal *wal, wal_void v)
{
    if (wal->nvoids == wal->voids_cap) {
        size_t cap = wal->voids_cap ? 2 * wal->voids_cap : 4;
        wal_void *grown = realloc(wal->voids, cap * sizeof *grown);
        if (!grown)
            return HIST_ENOMEM;
        wal->voids = grown;
        wal->voids_cap = cap;
    }
    wal->voids[wal->nvoids++] = v;
    return 0;
}

/* Open's per-record work: collects void ranges. */
static int collect_voids(void *ctx, const uint8_t *buf, const wal_rec *r)
{
    hist_wal *wal = ctx;
    wal_void v;
    wal->open_controls += r->control;
    return control_void(buf, r, &v) ? push_void(wal, v) : 0;
}

/* ---- Open: recovery scan --------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment numbers in the directory, sorted. */
static int list_segments(hist_wal *wal, uint64_t **out, size_t *count)
{
    int fd = dup(wal->dirfd);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        return -err;
    }
    rewinddir(d);
    uint64_t *nos = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t no = segment_number(e->d_name);
        if (no == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *grown = realloc(nos, cap * sizeof *nos);
            if (!grown) {
                free(nos);
                closedir(d);
                return -ENOMEM;
            }
            nos = grown;
        }
        nos[n++] = no;
    }
    closedir(d);
    if (n > 1)
        qsort(nos, n, sizeof *nos, cmp_u64);
    *out = nos;
    *count = n;
    return 0;
}

/* LSNs in from..to that no void range covers (void ranges never overlap:
 * each starts above everything durable when its log broke). */
static uint64_t lsns_not_void(const hist_wal *wal, uint64_t from, uint64_t to)
{
    uint64_t n = to - from + 1;
    for (size_t i = 0; i < wal->nvoids; i++) {
        uint64_t lo = wal->voids[i].from > from ? wal->voids[i].from : from;
        uint64_t hi = wal->voids[i].to < to ? wal->voids[i].to : to;
        if (lo <= hi)
            n -= hi - lo + 1;
    }
    return n;
}

/* Logs and counts what the walk of one segment lost: holes inside it, the
 * gap after the previous segment (unless refused records explain it), and
 * the cut tail. */
static void report_losses(hist_wal *wal, const char *name, const uint8_t *buf, const wal_walk *w,
                          size_t len, uint64_t prev_last, hist_wal_report *report)
{
    uint64_t gap = 0;
    if (w->records > 0 && prev_last != 0 && w->first_lsn > prev_last + 1)
        gap = lsns_not_void(wal, prev_last + 1, w->first_lsn - 1);
    if (w->records > 0 && prev_last == 0 && w->holes && w->hole_at == 0)
        gap = 1; /* damage before the first intact record: at least one lost */
    if (gap)
        wal_log(wal, HIST_LOG_WARN,
                "wal: %s starts at LSN %" PRIu64 ", after %" PRIu64 ": %" PRIu64
                " record(s) before it are missing; keeping the rest",
                name, w->first_lsn, prev_last, gap);
    if (w->holes)
        wal_log(wal, HIST_LOG_WARN,
                "wal: %s: %s at offset %zu: %" PRIu64 " damaged stretch(es) of %" PRIu64
                " byte(s) skipped, %" PRIu64 " record(s) lost in them; the %" PRIu64
                " intact record(s) around them are kept",
                name, w->hole_why, w->hole_at, w->holes, w->hole_bytes, w->hole_lsns,
                w->records);
    size_t tail = len - w->good_len;
    uint64_t cut = tail ? count_cut_records(buf, len, w->good_len) : 0;
    if (tail)
        wal_log(wal, HIST_LOG_WARN,
                "wal: %s: %s at offset %zu: cutting the last %zu byte(s) after LSN %" PRIu64
                " (%" PRIu64 " damaged or torn record(s) by their length fields)",
                name, w->why, w->good_len, tail, w->records ? w->last_lsn : prev_last, cut);
    if (!report)
        return;
    report->lost_records += gap + w->hole_lsns;
    report->damaged_bytes += w->hole_bytes;
    report->dropped_records += gap + w->hole_lsns + cut;
    report->dropped_bytes += tail;
}

/* Checks one segment file, cuts its damaged tail, and records what it
 * keeps in segs[] (or deletes it when nothing is left). *prev_last is the
 * last LSN kept so far and is advanced. */
static int recover_segment(hist_wal *wal, uint64_t no, uint64_t *prev_last, hist_wal_report *report,
                           bool *dir_changed)
{
    char name[WAL_NAME_MAX];
    segment_name(name, no);
    int fd = openat(wal->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot open %s/%s: %s", wal->dir, name, strerror(errno));
        return HIST_EIO;
    }
    struct stat st;
    uint8_t *buf = NULL;
    int rc = fstat(fd, &st) < 0 ? -errno : read_prefix(fd, (size_t)st.st_size, &buf);
    if (rc < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot read %s/%s: %s", wal->dir, name, strerror(-rc));
        close(fd);
        return rc == -ENOMEM ? HIST_ENOMEM : HIST_EIO;
    }
    size_t len = (size_t)st.st_size;
    wal_walk w;
    if (walk_segment(buf, len, *prev_last, &w, collect_voids, wal) != 0) {
        free(buf);
        close(fd);
        return HIST_ENOMEM; /* the only error collect_voids returns */
    }
    report_losses(wal, name, buf, &w, len, *prev_last, report);
    if (w.good_len < len && w.good_len > 0 && ftruncate(fd, (off_t)w.good_len) < 0)
        rc = -errno;
    free(buf);
    /* Make what we keep durable: a crashed process may have left it only in
     * the page cache, and replay will treat it as acknowledged. */
    if (rc == 0 && w.good_len > 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && w.good_len == 0) {
        if (unlinkat(wal->dirfd, name, 0) < 0)
            rc = -errno;
        *dir_changed = true;
    }
    if (rc < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot repair %s/%s: %s", wal->dir, name, strerror(-rc));
        return HIST_EIO;
    }
    if (w.records == 0)
        return 0;
    wal_segment seg = {no, *prev_last, w.first_lsn, w.last_lsn, w.records, w.good_len};
    if (push_segment(wal, &seg) < 0)
        return HIST_ENOMEM;
    *prev_last = w.last_lsn;
    if (report) {
        if (report->records == 0)
            report->first_lsn = w.first_lsn;
        report->records += w.records;
        report->last_lsn = w.last_lsn;
    }
    return 0;
}

static int recover(hist_wal *wal, uint64_t min_lsn, hist_wal_report *report)
{
    uint64_t *nos = NULL;
    size_t n = 0;
    int rc = list_segments(wal, &nos, &n);
    if (rc < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot list %s: %s", wal->dir, strerror(-rc));
        return rc == -ENOMEM ? HIST_ENOMEM : HIST_EIO;
    }
    uint64_t prev_last = 0;
    bool dir_changed = false;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = recover_segment(wal, nos[i], &prev_last, report, &dir_changed);
    wal->next_seg_no = n ? nos[n - 1] + 1 : 1;
    free(nos);
    if (rc == 0 && dir_changed && fsync(wal->dirfd) < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    wal->next_lsn = prev_last + 1;
    if (min_lsn > wal->next_lsn && min_lsn < WAL_MAX_LSN) {
        /* The log lost records the checkpoint already counted: never hand
         * out those LSNs again, or replay from the checkpoint would skip
         * new records. No log at all is what a clean close leaves (see
         * hist_wal_discard): worth a note, not a warning. */
        wal_log(wal, n ? HIST_LOG_WARN : HIST_LOG_INFO,
                "wal: last LSN found is %" PRIu64 ", below the checkpoint %" PRIu64
                "; continuing from %" PRIu64,
                prev_last, min_lsn, min_lsn);
        wal->next_lsn = min_lsn;
    }
    wal->durable_lsn = wal->next_lsn - 1;
    if (report) {
        report->control_records = wal->open_controls;
        for (size_t i = 0; i < wal->nvoids; i++)
            report->void_records += wal->voids[i].to - wal->voids[i].from + 1;
        if (report->void_records)
            wal_log(wal, HIST_LOG_INFO,
                    "wal: %" PRIu64 " record(s) refused at run time (disk full or i/o error) "
                    "are skipped",
                    report->void_records);
    }
    return rc;
}

/* ---- Open and close ---------------------------------------------------------- */

static void wal_free(hist_wal *wal)
{
    if (wal->active_fd >= 0)
        close(wal->active_fd);
    if (wal->dirfd >= 0)
        close(wal->dirfd);
    hist_io_close(wal->io);
    pthread_mutex_destroy(&wal->mu);
    pthread_cond_destroy(&wal->flushed);
    free(wal->pending);
    free(wal->spare);
    free(wal->segs);
    free(wal->voids);
    free(wal->dir);
    free(wal);
}

int hist_wal_open(const hist_wal_options *opts, hist_wal **out, hist_wal_report *report)
{
    *out = NULL;
    if (report)
        memset(report, 0, sizeof *report);
    if (!opts || !opts->dir || !opts->dir[0])
        return HIST_EINVAL;
    hist_wal *wal = calloc(1, sizeof *wal);
    if (!wal)
        return HIST_ENOMEM;
    wal->dirfd = -1;
    wal->active_fd = -1;
    wal->log = opts->log;
    wal->log_ctx = opts->log_ctx;
    wal->segment_bytes = opts->segment_bytes ? opts->segment_bytes : WAL_DEFAULT_SEGMENT;
    pthread_mutex_init(&wal->mu, NULL);
    pthread_cond_init(&wal->flushed, NULL);
    wal->dir = strdup(opts->dir);
    if (!wal->dir) {
        wal_free(wal);
        return HIST_ENOMEM;
    }
    int rc = make_dirs(wal->dir);
    if (rc == 0 && (wal->dirfd = open(wal->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = -errno;
    if (rc < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot create or open %s: %s", wal->dir, strerror(-rc));
        wal_free(wal);
        return HIST_EIO;
    }
    rc = hist_io_open(opts->io, opts->log, opts->log_ctx, &wal->io);
    if (rc == 0)
        rc = recover(wal, opts->min_lsn, report);
    if (rc < 0) {
        wal_free(wal);
        return rc;
    }
    *out = wal;
    return 0;
}

int hist_wal_close(hist_wal *wal)
{
    if (!wal)
        return 0;
    int rc = hist_wal_sync(wal, hist_wal_last_lsn(wal));
    wal_free(wal);
    return rc;
}

/* ---- Appending ------------------------------------------------------------ */

int hist_wal_append(hist_wal *wal, const struct iovec *iov, int iovcnt, uint64_t *lsn_out)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return HIST_EINVAL;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > WAL_MAX_PAYLOAD - len)
            return HIST_ETOOBIG;
        len += iov[i].iov_len;
    }

    pthread_mutex_lock(&wal->mu);
    if (wal->failed || wal->broken || wal->next_lsn >= WAL_MAX_LSN) {
        int rc = wal->failed ? wal->failed : wal->broken ? wal->broken : HIST_ERANGE;
        pthread_mutex_unlock(&wal->mu);
        return rc;
    }
    size_t need = wal->pending_len + WAL_HEADER + len;
    if (need > wal->pending_cap) {
        size_t cap = wal->pending_cap ? wal->pending_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(wal->pending, cap);
        if (!grown) {
            pthread_mutex_unlock(&wal->mu);
            return HIST_ENOMEM;
        }
        wal->pending = grown;
        wal->pending_cap = cap;
    }
    uint8_t *rec = wal->pending + wal->pending_len;
    uint64_t lsn = wal->next_lsn++;
    put_le32(rec, (uint32_t)len);
    put_le64(rec + 8, lsn);
    size_t off = WAL_HEADER;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(rec + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    put_le32(rec + 4, hist_crc32c(0, rec + 8, 8 + len));
    wal->pending_len = need;
    wal->appended = true;
    pthread_mutex_unlock(&wal->mu);
    if (lsn_out)
        *lsn_out = lsn;
    return 0;
}

/* ---- Flushing (the leader's work, outside the mutex) ------------------------ */

/* Closes the full segment and creates the next one. Its directory entry is
 * made durable before any record goes in, so a synced record is never in a
 * file that a crash could make disappear. */
static int roll_segment(hist_wal *wal)
{
    char name[WAL_NAME_MAX];
    segment_name(name, wal->next_seg_no);
    int fd = openat(wal->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || fsync(wal->dirfd) < 0) {
        int err = errno;
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot create %s/%s: %s", wal->dir, name,
                strerror(err));
        if (fd >= 0) {
            close(fd);
            unlinkat(wal->dirfd, name, 0);
            wal->next_seg_no++; /* never the same name twice after a failed dir sync */
        }
        return err == ENOSPC || err == EDQUOT ? HIST_EDISKFULL : HIST_EIO;
    }
    wal_segment seg = {wal->next_seg_no, 0, 0, 0, 0, 0};
    pthread_mutex_lock(&wal->mu);
    int rc = push_segment(wal, &seg);
    if (rc == 0)
        wal->active_no = seg.no;
    pthread_mutex_unlock(&wal->mu);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (wal->active_fd >= 0)
        close(wal->active_fd); /* everything in it is already durable */
    wal->active_fd = fd;
    wal->active_off = 0;
    wal->next_seg_no++;
    return 0;
}

static void note_sync(hist_wal *wal, double seconds)
{
    double us = seconds * 1e6;
    int b = 0;
    while (b < HIST_SYNC_HIST_BUCKETS - 1 && us > hist_sync_hist_bounds_us[b])
        b++;
    wal->syncs++;
    wal->sync_hist[b]++;
    wal->sync_seconds += seconds;
}

/* Writes a batch of whole records and makes it durable, rolling to a new
 * segment between records once the active one has reached segment_bytes. */
static int flush_batch(hist_wal *wal, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (wal->active_fd < 0 || wal->active_off >= wal->segment_bytes) {
            int rc = roll_segment(wal);
            if (rc < 0)
                return rc;
        }
        /* Take records until this segment reaches its size (at least one). */
        size_t take = 0;
        uint64_t n = 0, first = 0, last = 0;
        while (pos + take < len) {
            uint64_t lsn = get_le64(buf + pos + take + 8);
            first = n++ ? first : lsn;
            last = lsn;
            take += WAL_HEADER + get_le32(buf + pos + take);
            if (wal->active_off + take >= wal->segment_bytes)
                break;
        }
        struct iovec iov = {(void *)(buf + pos), take};
        double t0 = now_seconds();
        int rc = hist_io_pwritev(wal->io, wal->active_fd, &iov, 1, (off_t)wal->active_off, 1);
        double dt = now_seconds() - t0;
        if (rc < 0) {
            wal_log(wal, HIST_LOG_ERROR, "wal: write of LSN %" PRIu64 "..%" PRIu64 " failed: %s",
                    first, last, hist_strerror(rc));
            return rc;
        }
        wal->active_off += take;
        pos += take;

        pthread_mutex_lock(&wal->mu);
        wal_segment *seg = &wal->segs[wal->nsegs - 1]; /* the active one is the newest */
        if (seg->records == 0)
            seg->first_lsn = first;
        seg->last_lsn = last;
        seg->records += n;
        seg->bytes += take;
        note_sync(wal, dt);
        pthread_mutex_unlock(&wal->mu);
    }
    return 0;
}

/* The leader's part of a failed flush (outside mu): the active file is
 * closed for good, since its fdatasync may not be retried. A file that
 * holds no durable record is deleted as well. */
static void abandon_active(hist_wal *wal)
{
    if (wal->active_fd >= 0)
        close(wal->active_fd);
    wal->active_fd = -1;
    wal->active_off = 0;
    pthread_mutex_lock(&wal->mu);
    wal_segment *seg = wal->nsegs ? &wal->segs[wal->nsegs - 1] : NULL;
    bool empty = seg && seg->no == wal->active_no && seg->records == 0;
    uint64_t no = empty ? seg->no : 0;
    if (empty)
        wal->nsegs--;
    wal->active_no = 0;
    pthread_mutex_unlock(&wal->mu);
    if (empty) {
        char name[WAL_NAME_MAX];
        segment_name(name, no);
        unlinkat(wal->dirfd, name, 0); /* best effort: at worst open finds it empty */
    }
}

/* Breaks the log (mu held): every record not durable is void. */
static void break_log(hist_wal *wal, int err)
{
    if (!wal->broken) {
        wal->void_from = wal->durable_lsn + 1;
        wal->failures++;
        wal_log(wal, HIST_LOG_ERROR,
                "wal: %s: records from LSN %" PRIu64 " on are refused until the disk takes "
                "writes again",
                hist_strerror(err), wal->void_from);
    }
    wal->broken = err;
    wal->void_to = wal->next_lsn - 1;
    wal->pending_len = 0; /* void: never written */
}

/* The control record declaring void from..to, with its LSN. */
static void control_record(uint8_t *rec, uint64_t lsn, uint64_t from, uint64_t to)
{
    memset(rec, 0, WAL_HEADER + WAL_CONTROL_LEN);
    put_le32(rec, WAL_CONTROL_LEN | WAL_CONTROL_FLAG);
    put_le64(rec + 8, lsn);
    rec[WAL_HEADER] = WAL_CONTROL_VOID;
    put_le64(rec + WAL_HEADER + 8, from);
    put_le64(rec + WAL_HEADER + 16, to);
    put_le32(rec + 4, hist_crc32c(WAL_CONTROL_SEED, rec + 8, 8 + WAL_CONTROL_LEN));
}

int hist_wal_resume(hist_wal *wal)
{
    pthread_mutex_lock(&wal->mu);
    int rc = wal->failed ? wal->failed : wal->flushing ? wal->broken : 0;
    if (rc || !wal->broken) {
        pthread_mutex_unlock(&wal->mu);
        return rc;
    }
    wal->flushing = true; /* the leader's role: we own the active file now */
    uint64_t lsn = wal->next_lsn++, from = wal->void_from, to = wal->void_to;
    pthread_mutex_unlock(&wal->mu);

    uint8_t rec[WAL_HEADER + WAL_CONTROL_LEN];
    control_record(rec, lsn, from, to);
    struct iovec iov = {rec, sizeof rec};
    rc = roll_segment(wal);
    if (rc == 0)
        rc = hist_io_pwritev(wal->io, wal->active_fd, &iov, 1, 0, 1);
    if (rc == 0)
        wal->active_off = sizeof rec;
    else if (wal->active_fd >= 0)
        abandon_active(wal);

    pthread_mutex_lock(&wal->mu);
    wal->flushing = false;
    if (rc == 0) {
        wal_segment *seg = &wal->segs[wal->nsegs - 1];
        seg->first_lsn = seg->last_lsn = lsn;
        seg->records = 1;
        seg->bytes = sizeof rec;
        wal->durable_lsn = lsn;
        wal->broken = 0;
        wal->void_from = wal->void_to = 0;
        wal_log(wal, HIST_LOG_WARN,
                "wal: writes resume in a new segment; LSN %" PRIu64 "..%" PRIu64
                " stay refused",
                from, to);
    } else {
        wal->void_to = lsn; /* the control record's LSN is spent too */
    }
    pthread_cond_broadcast(&wal->flushed);
    pthread_mutex_unlock(&wal->mu);
    return rc;
}

void hist_wal_get_health(hist_wal *wal, hist_wal_health *out)
{
    pthread_mutex_lock(&wal->mu);
    out->broken = wal->broken;
    out->void_from = wal->broken ? wal->void_from : 0;
    out->void_to = wal->broken ? wal->void_to : 0;
    out->failures = wal->failures;
    pthread_mutex_unlock(&wal->mu);
}

int hist_wal_sync(hist_wal *wal, uint64_t lsn)
{
    int rc = 0;
    pthread_mutex_lock(&wal->mu);
    if (lsn >= wal->next_lsn) {
        pthread_mutex_unlock(&wal->mu);
        return HIST_EINVAL; /* not appended yet */
    }
    while (wal->durable_lsn < lsn) {
        if (wal->failed || wal->broken) {
            rc = wal->failed ? wal->failed : wal->broken;
            break;
        }
        if (wal->flushing) {
            pthread_cond_wait(&wal->flushed, &wal->mu);
            continue;
        }
        /* Leader: take the whole pending batch; appends go to the spare. */
        uint8_t *batch = wal->pending;
        size_t batch_len = wal->pending_len, batch_cap = wal->pending_cap;
        uint64_t batch_last = wal->next_lsn - 1;
        wal->pending = wal->spare;
        wal->pending_cap = wal->spare_cap;
        wal->pending_len = 0;
        wal->spare = NULL;
        wal->spare_cap = 0;
        wal->flushing = true;
        pthread_mutex_unlock(&wal->mu);

        int frc = flush_batch(wal, batch, batch_len);
        if (frc < 0)
            abandon_active(wal);

        pthread_mutex_lock(&wal->mu);
        wal->spare = batch;
        wal->spare_cap = batch_cap;
        wal->flushing = false;
        if (frc < 0)
            break_log(wal, frc);
        else
            wal->durable_lsn = batch_last;
        pthread_cond_broadcast(&wal->flushed);
    }
    pthread_mutex_unlock(&wal->mu);
    return rc;
}

uint64_t hist_wal_last_lsn(hist_wal *wal)
{
    pthread_mutex_lock(&wal->mu);
    uint64_t lsn = wal->next_lsn - 1;
    pthread_mutex_unlock(&wal->mu);
    return lsn;
}

uint64_t hist_wal_durable_lsn(hist_wal *wal)
{
    pthread_mutex_lock(&wal->mu);
    uint64_t lsn = wal->durable_lsn;
    pthread_mutex_unlock(&wal->mu);
    return lsn;
}

/* ---- Replay ------------------------------------------------------------------- */

typedef struct {
    hist_wal *wal;
    uint64_t from_lsn;
    hist_wal_replay_fn fn;
    void *ctx;
} replay_walk;

/* Replay's per-record work: hands on every data record that is not void. */
static int replay_record(void *arg, const uint8_t *buf, const wal_rec *r)
{
    replay_walk *rw = arg;
    if (r->control || r->lsn < rw->from_lsn || lsn_void(rw->wal, r->lsn))
        return 0;
    return rw->fn(rw->ctx, r->lsn, buf + r->pos + WAL_HEADER, r->size - WAL_HEADER);
}

/* Calls fn for the records of one kept segment with lsn >= from_lsn. The
 * walk is the one open made over the same bytes, so it finds the same
 * records; anything else means the file changed under us. */
static int replay_segment(hist_wal *wal, const wal_segment *seg, uint64_t from_lsn,
                          hist_wal_replay_fn fn, void *ctx)
{
    char name[WAL_NAME_MAX];
    segment_name(name, seg->no);
    int fd = openat(wal->dirfd, name, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = NULL;
    int rc = fd < 0 ? -errno : read_prefix(fd, (size_t)seg->bytes, &buf);
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: cannot read %s/%s for replay: %s", wal->dir, name,
                strerror(-rc));
        return rc == -ENOMEM ? HIST_ENOMEM : HIST_EIO;
    }
    replay_walk rw = {wal, from_lsn, fn, ctx};
    wal_walk w;
    rc = walk_segment(buf, (size_t)seg->bytes, seg->prev_last, &w, replay_record, &rw);
    if (rc == 0 && (w.records != seg->records || w.last_lsn != seg->last_lsn || w.why)) {
        wal_log(wal, HIST_LOG_ERROR, "wal: %s changed since open", name);
        rc = HIST_ECORRUPT;
    }
    free(buf);
    return rc;
}

int hist_wal_replay(hist_wal *wal, uint64_t from_lsn, hist_wal_replay_fn fn, void *ctx)
{
    pthread_mutex_lock(&wal->mu);
    bool appended = wal->appended;
    size_t n = wal->nsegs;
    wal_segment *segs = n ? malloc(n * sizeof *segs) : NULL;
    if (segs)
        memcpy(segs, wal->segs, n * sizeof *segs);
    pthread_mutex_unlock(&wal->mu);
    if (appended) {
        free(segs);
        return HIST_EINVAL; /* the contract: replay comes before the first append */
    }
    if (n && !segs)
        return HIST_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (segs[i].records && segs[i].last_lsn >= from_lsn)
            rc = replay_segment(wal, &segs[i], from_lsn, fn, ctx);
    }
    free(segs);
    return rc;
}

/* ---- Checkpoint and stats --------------------------------------------------------- */

int hist_wal_checkpoint(hist_wal *wal, uint64_t lsn)
{
    pthread_mutex_lock(&wal->mu);
    /* Keep the newest segment holding a record: it carries the LSN on. */
    size_t keep_from = wal->nsegs;
    while (keep_from > 0 && wal->segs[keep_from - 1].records == 0)
        keep_from--;
    if (keep_from > 0)
        keep_from--;
    uint64_t *doomed = keep_from ? malloc(keep_from * sizeof *doomed) : NULL;
    if (keep_from && !doomed) {
        pthread_mutex_unlock(&wal->mu);
        return HIST_ENOMEM;
    }
    size_t ndoomed = 0, kept = 0;
    for (size_t i = 0; i < wal->nsegs; i++) {
        const wal_segment *seg = &wal->segs[i];
        if (i < keep_from && seg->no != wal->active_no && seg->last_lsn < lsn)
            doomed[ndoomed++] = seg->no;
        else
            wal->segs[kept++] = *seg;
    }
    wal->nsegs = kept;
    pthread_mutex_unlock(&wal->mu);

    int rc = 0;
    for (size_t i = 0; i < ndoomed; i++) {
        char name[WAL_NAME_MAX];
        segment_name(name, doomed[i]);
        if (unlinkat(wal->dirfd, name, 0) < 0 && errno != ENOENT) {
            wal_log(wal, HIST_LOG_ERROR, "wal: cannot delete %s/%s: %s", wal->dir, name,
                    strerror(errno));
            rc = HIST_EIO;
        }
    }
    if (ndoomed && fsync(wal->dirfd) < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    free(doomed);
    return rc;
}

int hist_wal_discard(hist_wal *wal, uint64_t lsn)
{
    int rc = hist_wal_sync(wal, hist_wal_last_lsn(wal));
    if (rc)
        return rc;
    pthread_mutex_lock(&wal->mu);
    if (wal->next_lsn > lsn || wal->pending_len > 0) {
        pthread_mutex_unlock(&wal->mu);
        return HIST_EBUSY;
    }
    wal->failed = HIST_ECLOSED;
    for (size_t i = 0; i < wal->nsegs; i++) {
        char name[WAL_NAME_MAX];
        segment_name(name, wal->segs[i].no);
        if (unlinkat(wal->dirfd, name, 0) < 0 && errno != ENOENT) {
            wal_log(wal, HIST_LOG_ERROR, "wal: cannot delete %s/%s: %s", wal->dir, name,
                    strerror(errno));
            rc = HIST_EIO;
        }
    }
    wal->nsegs = 0;
    pthread_mutex_unlock(&wal->mu);
    if (fsync(wal->dirfd) < 0) {
        wal_log(wal, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    return rc;
}

void hist_wal_get_stats(hist_wal *wal, hist_wal_stats *out)
{
    memset(out, 0, sizeof *out);
    out->io_backend = hist_io_backend(wal->io);
    pthread_mutex_lock(&wal->mu);
    out->syncs = wal->syncs;
    memcpy(out->sync_hist, wal->sync_hist, sizeof out->sync_hist);
    out->sync_seconds_total = wal->sync_seconds;
    for (size_t i = 0; i < wal->nsegs; i++) {
        out->bytes += wal->segs[i].bytes;
        if (wal->segs[i].no != wal->active_no)
            out->closed_bytes += wal->segs[i].bytes;
    }
    pthread_mutex_unlock(&wal->mu);
}
