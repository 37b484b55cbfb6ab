/*
 * fuzz_wal.c: WAL recovery on arbitrary bytes (libFuzzer).
 *
 * The input (after its first byte) becomes up to four segment files (split
 * at the marker "SEG|") in a scratch wal/ directory. When the first byte is
 * odd, the CRC of every record found by following the length fields is
 * fixed up first, so the fuzzer also reaches the LSN sequence rules instead
 * of stopping at the checksum every time. Then then the log is opened, replayed, appended
 * to and reopened. Recovery must never crash, and what it reports must add
 * up:
 *   - open succeeds (the files are readable; damage is skipped or cut, not
 *     fatal);
 *   - replay returns the intact data records (all of them when no LSN is
 *     void), LSNs strictly rising; control records never;
 *   - bytes kept on disk + report.dropped_bytes == bytes given, and a cut
 *     tail counts at least one dropped record;
 *   - after one more append the reopened log has records + 1 records, the
 *     new one with the next LSN, the same holes and nothing cut.
 * The scratch directory (under /dev/shm when there is one, so the fsyncs are
 * cheap) is made once per process, emptied per input, removed at exit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[128], waldir[160];

static void quiet_log(void *ctx, int level, const char *msg) {}

static void empty_waldir(void)
{
    DIR *d = opendir(waldir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", waldir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Removes the scratch directory when the fuzzer exits normally. */
static void cleanup(void)
{
    empty_waldir();
    rmdir(waldir);
    rmdir(scratch);
}

static void setup_once(void)
{
    if (scratch[0])
        return;
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/hist_fuzz_wal_XXXXXX", root);
    if (!mkdtemp(scratch))
        abort();
    snprintf(waldir, sizeof waldir, "%s/wal", scratch);
    if (mkdir(waldir, 0755) < 0)
        abort();
    atexit(cleanup);
}

/* Rewrites the CRC field of each record along the length chain. */
static void fix_crcs(uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (n - pos >= 16) {
        uint32_t field = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
                         (uint32_t)p[pos + 3] << 24;
        uint32_t len = field & ~HIST_WAL_CONTROL_FLAG;
        if (len > n - pos - 16)
            break;
        uint32_t seed = field & HIST_WAL_CONTROL_FLAG ? HIST_WAL_CONTROL_SEED : 0;
        uint32_t crc = crc32c__compute(seed, p + pos + 8, 8 + (size_t)len);
        for (int i = 0; i < 4; i++)
            p[pos + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        pos += 16 + (size_t)len;
    }
}

static void write_segment(int no, uint8_t *p, size_t n, int fix)
{
    char path[512];
    if (fix)
        fix_crcs(p, n);
    snprintf(path, sizeof path, "%s/%012d.wal", waldir, no);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

static size_t bytes_on_disk(void)
{
    size_t total = 0;
    DIR *d = opendir(waldir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", waldir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0)
            total += (size_t)st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

typedef struct {
    uint64_t count, last;
    int disorder;
} replay_seen;

static int on_record(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len)
{
    replay_seen *s = ctx;
    if (lsn <= s->last || (len && !payload))
        s->disorder++;
    s->last = lsn;
    s->count++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    empty_waldir();
    if (size == 0)
        return 0;
    int fix = data[0] & 1;
    uint8_t *copy = malloc(size); /* fix_crcs writes; the input is const */
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    size_t n = size - 1;

    /* Split into segment files 1..4 at "SEG|". */
    int no = 1;
    size_t start = 0;
    for (size_t i = 0; i + 4 <= n && no < 4; i++) {
        if (memcmp(copy + i, "SEG|", 4) == 0) {
            write_segment(no++, copy + start, i - start, fix);
            start = i + 4;
            i += 3;
        }
    }
    write_segment(no, copy + start, n - start, fix);
    free(copy);
    size_t given = bytes_on_disk();

    hist_wal_options opts = {
        .dir = waldir, .io = HIST_IO_SYNC, .segment_bytes = 4096, .log = quiet_log};
    hist_wal_report rep;
    hist_wal *wal = NULL;
    if (wal__open(&opts, &wal, &rep) != 0)
        abort();
    if (bytes_on_disk() + rep.dropped_bytes != given)
        abort();
    /* A cut tail counts at least one record; holes count exactly the LSNs lost. */
    if ((rep.dropped_bytes == 0) != (rep.dropped_records == rep.lost_records))
        abort();
    /* Control records are never replayed, nor are void ones. */
    uint64_t data_records = rep.records - rep.control_records;
    replay_seen seen = {0, 0, 0};
    if (wal__replay(wal, 0, on_record, &seen) != 0 || seen.count > data_records ||
        (rep.void_records == 0 && seen.count != data_records) || seen.disorder ||
        (seen.count && seen.last > rep.last_lsn))
        abort();
    if (wal__last_lsn(wal) != rep.last_lsn)
        abort();

    /* The repaired log must take a new record and keep it. */
    struct iovec iov = {(void *)data, size < 64 ? size : 64};
    uint64_t lsn;
    if (rep.last_lsn + 1 >= (UINT64_C(1) << 62)) {
        /* LSNs this high are refused: the log is full, not broken. */
        if (wal__append(wal, &iov, 1, &lsn) != HIST_ERANGE)
            abort();
        wal__close(wal);
        return 0;
    }
    if (wal__append(wal, &iov, 1, &lsn) != 0 || lsn != rep.last_lsn + 1)
        abort();
    if (wal__close(wal) != 0)
        abort();
    hist_wal_report again;
    if (wal__open(&opts, &wal, &again) != 0)
        abort();
    /* Holes stay in the files (only tails are cut): the same ones again. */
    if (again.records != rep.records + 1 || again.last_lsn != lsn || again.dropped_bytes ||
        again.lost_records != rep.lost_records || again.dropped_records != again.lost_records)
        abort();
    wal__close(wal);
    return 0;
}
