/*
 * wal_recover.c: reading the write-ahead log back: the walk over one
 * segment's records, recovery at open, and replay (see wal.h for the
 * format and the contract; wal.c writes the log).
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
 */
#include "common/hist_array.h"
#include "storage/wal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/crc32c.h"

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
    uint32_t field = hist_get_le32(buf + pos);
    bool control = (field & WAL_CONTROL_FLAG) != 0;
    uint32_t plen = field & ~WAL_CONTROL_FLAG;
    if (plen > WAL_MAX_PAYLOAD || plen > len - pos - WAL_HEADER)
        return "short record";
    uint32_t seed = control ? WAL_CONTROL_SEED : 0;
    if (crc32c__compute(seed, buf + pos + 8, 8 + (size_t)plen) != hist_get_le32(buf + pos + 4))
        return "checksum mismatch";
    *r = (wal_rec){pos, WAL_HEADER + (size_t)plen, hist_get_le64(buf + pos + 8), control};
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
    out->from = hist_get_le64(p + 8);
    out->to = hist_get_le64(p + 16);
    return out->from <= out->to && out->to < r->lsn;
}

/* The next intact record at or after pos whose LSN follows last (resync
 * after damage). The LSN window is checked before the CRC, so a search
 * through garbage costs about one load per byte. */
static bool resync(const uint8_t *buf, size_t len, size_t pos, uint64_t last, wal_rec *r)
{
    for (; pos + WAL_HEADER <= len; pos++) {
        uint64_t lsn = hist_get_le64(buf + pos + 8);
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
            why =
                w->records ? "LSN out of sequence" : "LSN goes backwards from the previous segment";
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
        uint64_t size = WAL_HEADER + (uint64_t)(hist_get_le32(buf + pos) & ~WAL_CONTROL_FLAG);
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
    if (HIST_ARRAY_RESERVE(wal->voids, wal->voids_cap, wal->nvoids + 1, 4) < 0)
        return HIST_ENOMEM;
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
        if (HIST_ARRAY_RESERVE(nos, cap, n + 1, 16) < 0) {
            free(nos);
            closedir(d);
            return -ENOMEM;
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
        hist_logf(&wal->log, HIST_LOG_WARN,
                  "wal: %s starts at LSN %" PRIu64 ", after %" PRIu64 ": %" PRIu64
                  " record(s) before it are missing; keeping the rest",
                  name, w->first_lsn, prev_last, gap);
    if (w->holes)
        hist_logf(&wal->log, HIST_LOG_WARN,
                  "wal: %s: %s at offset %zu: %" PRIu64 " damaged stretch(es) of %" PRIu64
                  " byte(s) skipped, %" PRIu64 " record(s) lost in them; the %" PRIu64
                  " intact record(s) around them are kept",
                  name, w->hole_why, w->hole_at, w->holes, w->hole_bytes, w->hole_lsns, w->records);
    size_t tail = len - w->good_len;
    uint64_t cut = tail ? count_cut_records(buf, len, w->good_len) : 0;
    if (tail)
        hist_logf(&wal->log, HIST_LOG_WARN,
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
    wal__segment_name(name, no);
    int fd = openat(wal->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot open %s/%s: %s", wal->dir, name,
                  strerror(errno));
        return HIST_EIO;
    }
    struct stat st;
    uint8_t *buf = NULL;
    int rc = fstat(fd, &st) < 0 ? -errno : read_prefix(fd, (size_t)st.st_size, &buf);
    if (rc < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot read %s/%s: %s", wal->dir, name,
                  strerror(-rc));
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
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot repair %s/%s: %s", wal->dir, name,
                  strerror(-rc));
        return HIST_EIO;
    }
    if (w.records == 0)
        return 0;
    wal_segment seg = {no, *prev_last, w.first_lsn, w.last_lsn, w.records, w.good_len};
    if (wal__push_segment(wal, &seg) < 0)
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

int wal__recover(hist_wal *wal, uint64_t min_lsn, hist_wal_report *report)
{
    uint64_t *nos = NULL;
    size_t n = 0;
    int rc = list_segments(wal, &nos, &n);
    if (rc < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot list %s: %s", wal->dir, strerror(-rc));
        return rc == -ENOMEM ? HIST_ENOMEM : HIST_EIO;
    }
    uint64_t prev_last = 0;
    bool dir_changed = false;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = recover_segment(wal, nos[i], &prev_last, report, &dir_changed);
    wal->next_seg_no = n ? nos[n - 1] + 1 : 1;
    free(nos);
    if (rc == 0 && dir_changed && fsync(wal->dirfd) < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: fsync %s: %s", wal->dir, strerror(errno));
        rc = HIST_EIO;
    }
    wal->next_lsn = prev_last + 1;
    if (min_lsn > wal->next_lsn && min_lsn < WAL_MAX_LSN) {
        /* The log lost records the checkpoint already counted: never hand
         * out those LSNs again, or replay from the checkpoint would skip
         * new records. No log at all is what a clean close leaves (see
         * wal__discard): worth a note, not a warning. */
        hist_logf(&wal->log, n ? HIST_LOG_WARN : HIST_LOG_INFO,
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
            hist_logf(&wal->log, HIST_LOG_INFO,
                      "wal: %" PRIu64 " record(s) refused at run time (disk full or i/o error) "
                      "are skipped",
                      report->void_records);
    }
    return rc;
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
    wal__segment_name(name, seg->no);
    int fd = openat(wal->dirfd, name, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = NULL;
    int rc = fd < 0 ? -errno : read_prefix(fd, (size_t)seg->bytes, &buf);
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: cannot read %s/%s for replay: %s", wal->dir,
                  name, strerror(-rc));
        return rc == -ENOMEM ? HIST_ENOMEM : HIST_EIO;
    }
    replay_walk rw = {wal, from_lsn, fn, ctx};
    wal_walk w;
    rc = walk_segment(buf, (size_t)seg->bytes, seg->prev_last, &w, replay_record, &rw);
    if (rc == 0 && (w.records != seg->records || w.last_lsn != seg->last_lsn || w.why)) {
        hist_logf(&wal->log, HIST_LOG_ERROR, "wal: %s changed since open", name);
        rc = HIST_ECORRUPT;
    }
    free(buf);
    return rc;
}

int wal__replay(hist_wal *wal, uint64_t from_lsn, hist_wal_replay_fn fn, void *ctx)
{
    mu_lock(&wal->mu);
    bool appended = wal->appended;
    size_t n = wal->nsegs;
    wal_segment *segs = n ? malloc(n * sizeof *segs) : NULL;
    if (segs)
        memcpy(segs, wal->segs, n * sizeof *segs);
    mu_unlock(&wal->mu);
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
