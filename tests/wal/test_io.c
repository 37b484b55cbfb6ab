/*
 * test_io.c: the durable-write layer on both backends: data written through
 * io__pwritev() reads back exactly (one piece, many pieces, more pieces
 * than one kernel request takes, empty pieces), errors come back as
 * HIST_EIO and are logged (bad fd, read-only fd), a file size limit that
 * makes the kernel write short and then refuse as HIST_EDISKFULL, and the mode rules: in a
 * child where a seccomp filter refuses io_uring (as containers do),
 * HIST_IO_URING fails with HIST_EUNSUPPORTED and AUTO falls back to sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "check.h"
#include "storage/io.h"

typedef struct {
    int count;
    int worst; /* lowest level seen (ERROR = 0) */
    char last[256];
} log_capture;

static void capture_log(void *ctx, int level, const char *msg)
{
    log_capture *c = ctx;
    c->count++;
    if (c->count == 1 || level < c->worst)
        c->worst = level;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static char tmpdir[64];

static int open_file(const char *name, int flags)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return open(path, flags | O_CLOEXEC, 0644);
}

static void fill(uint8_t *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

static int file_equals(int fd, const uint8_t *want, size_t n)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size != n)
        return 0;
    uint8_t *got = malloc(n ? n : 1);
    ssize_t r = pread(fd, got, n, 0);
    int same = r == (ssize_t)n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

/* Writes, reads back, and checks the windows and empty pieces. */
static void test_roundtrip(hist_io *io)
{
    enum { N = 3000 }; /* more pieces than one request (and than IOV_MAX) */
    static uint8_t data[N * 7 + 100];
    static struct iovec iov[N];
    fill(data, sizeof data, 5);
    int fd = open_file("rt", O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(fd >= 0);

    struct iovec one = {data, 100};
    CHECK_OK(io__pwritev(io, fd, &one, 1, 0, 1));
    CHECK(file_equals(fd, data, 100));

    size_t off = 100;
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i % 13 == 0 ? 0 : i % 7 + 1); /* some empty pieces */
        iov[i].iov_base = data + off;
        iov[i].iov_len = len;
        off += len;
    }
    CHECK_OK(io__pwritev(io, fd, iov, N, 100, 1));
    CHECK(file_equals(fd, data, off));

    /* No sync, then an explicit fdatasync; then an empty write with sync. */
    struct iovec tail = {data + off, 50};
    CHECK_OK(io__pwritev(io, fd, &tail, 1, (off_t)off, 0));
    CHECK_OK(io__fdatasync(io, fd));
    CHECK(file_equals(fd, data, off + 50));
    CHECK_OK(io__pwritev(io, fd, NULL, 0, 0, 1));
    CHECK(io__pwritev(io, fd, &one, -1, 0, 1) == HIST_EINVAL);
    CHECK(io__pwritev(io, fd, &one, 1, -5, 1) == HIST_EINVAL);
    close(fd);
}

static void test_errors(hist_io *io, log_capture *log)
{
    uint8_t buf[64];
    fill(buf, sizeof buf, 9);
    struct iovec iov = {buf, sizeof buf};

    log->count = 0;
    CHECK(io__pwritev(io, -1, &iov, 1, 0, 1) == HIST_EIO);
    CHECK(log->count >= 1 && log->worst == HIST_LOG_ERROR);
    CHECK(io__fdatasync(io, -1) == HIST_EIO);

    int fd = open_file("ro", O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(fd >= 0);
    close(fd);
    fd = open_file("ro", O_RDONLY);
    REQUIRE(fd >= 0);
    log->count = 0;
    CHECK(io__pwritev(io, fd, &iov, 1, 0, 1) == HIST_EIO);
    CHECKF(log->count >= 1 && strstr(log->last, "Bad file descriptor"), "log: %s", log->last);
    close(fd);
}

/* RLIMIT_FSIZE makes the kernel write up to the limit (a short write), and
 * refuse the rest with EFBIG: the rest must be retried, then fail. */
static void test_short_write(hist_io *io, log_capture *log)
{
    static uint8_t buf[20000];
    fill(buf, sizeof buf, 3);
    struct iovec iov[2] = {{buf, 7000}, {buf + 7000, sizeof buf - 7000}};
    int fd = open_file("short", O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(fd >= 0);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 10000;
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    log->count = 0;
    int rc = io__pwritev(io, fd, iov, 2, 0, 1);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    CHECKF(rc == HIST_EDISKFULL, "rc %d", rc); /* EFBIG: a limit, reported as a full disk */
    CHECKF(log->count >= 1 && strstr(log->last, "too large"), "log: %s", log->last);
    CHECK(file_equals(fd, buf, 10000)); /* the short part landed, intact */

    /* Within the limit again: the same call now succeeds. */
    CHECK_OK(io__pwritev(io, fd, iov, 2, 0, 1));
    CHECK(file_equals(fd, buf, sizeof buf));
    close(fd);
}

static void test_backend(hist_io_mode mode, const char *want)
{
    log_capture log = {0};
    hist_io *io = NULL;
    int rc = io__open(mode, capture_log, &log, &io);
    if (mode == HIST_IO_URING && rc == HIST_EUNSUPPORTED) {
        printf("io_uring unavailable here: checking the AUTO fallback instead\n");
        CHECK(io == NULL && log.count == 1);
        log.count = 0;
        CHECK_OK(io__open(HIST_IO_AUTO, capture_log, &log, &io));
        REQUIRE(io != NULL);
        CHECK(strcmp(io__backend(io), "sync") == 0);
        CHECKF(log.count == 1 && log.worst == HIST_LOG_WARN &&
                   strstr(log.last, "using pwritev+fdatasync"),
               "log: %s", log.last);
        want = "sync";
    } else {
        CHECKF(rc == 0, "io__open(%d): %d", (int)mode, rc);
        REQUIRE(io != NULL);
        CHECK(log.count == 0);
    }
    CHECKF(strcmp(io__backend(io), want) == 0, "backend %s, want %s", io__backend(io), want);
    test_roundtrip(io);
    test_errors(io, &log);
    test_short_write(io, &log);
    io__close(io);
}

#if defined(__x86_64__)
/* Makes syscall nr fail with EPERM in this process, as a container's
 * seccomp profile does for io_uring. */
static int deny_syscall(long nr)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof *f), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* In a child where io_uring_setup (or only io_uring_enter) is refused:
 * URING fails cleanly, AUTO falls back to sync, logs one warning, works. */
static void test_refused(long nr, const char *what)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fails = 0;
        if (deny_syscall(nr) < 0)
            _exit(100);
        log_capture log = {0};
        hist_io *io = NULL;
        fails += io__open(HIST_IO_URING, capture_log, &log, &io) != HIST_EUNSUPPORTED;
        fails += io != NULL;
        log.count = 0;
        fails += io__open(HIST_IO_AUTO, capture_log, &log, &io) != 0 || !io;
        if (!io)
            _exit(fails + 50);
        fails += strcmp(io__backend(io), "sync") != 0;
        fails += log.count != 1 || log.worst != HIST_LOG_WARN ||
                 !strstr(log.last, "io_uring unavailable (Operation not permitted), using "
                                   "pwritev+fdatasync");
        uint8_t buf[100];
        fill(buf, sizeof buf, 1);
        struct iovec iov = {buf, sizeof buf};
        int fd = open_file("refused", O_RDWR | O_CREAT | O_TRUNC);
        fails +=
            fd < 0 || io__pwritev(io, fd, &iov, 1, 0, 1) != 0 || !file_equals(fd, buf, sizeof buf);
        close(fd);
        io__close(io);
        _exit(fails);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s refused: child status %d", what,
           status);
}
#endif

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hist_test_io_XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL);

    test_backend(HIST_IO_SYNC, "sync");
    test_backend(HIST_IO_URING, "io_uring");

    hist_io *io = NULL;
    CHECK_OK(io__open(HIST_IO_AUTO, NULL, NULL, &io));
    REQUIRE(io != NULL);
    CHECK(strcmp(io__backend(io), "io_uring") == 0 || strcmp(io__backend(io), "sync") == 0);
    io__close(io);
    io__close(NULL);
    CHECK(io__open((hist_io_mode)7, NULL, NULL, &io) == HIST_EINVAL && io == NULL);
#if defined(__x86_64__)
    test_refused(__NR_io_uring_setup, "io_uring_setup");
    test_refused(__NR_io_uring_enter, "io_uring_enter");
#endif

    const char *names[] = {"rt", "ro", "short", "refused"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    CHECK(rmdir(tmpdir) == 0);
    return check_summary();
}
