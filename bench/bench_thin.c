/*
 * bench_thin.c: one thin HTTP/1.1 client, the same for every system that
 * bench/peers.sh feeds (Historian, InfluxDB, VictoriaMetrics).
 *
 *   bench_thin --bodies FILE [--lp-lines N] --port P --path PATH [--host 127.0.0.1]
 *              [--content-type CT] [--header 'Name: value']...
 *              [--streams S] [--warmup N] [--timeout-ms MS]
 *              [--deadline-s S] [--name NAME] [--rate SAMPLES_PER_S]
 *              [--watch-pid PID]
 *
 * FILE holds pre-encoded request bodies with their sample counts
 * (bench_gen writes it: "THINBOD1", then per body two little-endian u32,
 * length and samples, and the body); it is read whole before the first
 * request, so neither encoding nor disk reads are timed. With --lp-lines N,
 * FILE is plain text (line protocol) instead, cut into bodies of N whole
 * lines at load time, one sample a line.
 * S streams (default 2), each one keep-alive HTTP/1.1 connection with
 * exactly one request in flight, take the bodies in file order from one
 * shared counter and POST them. Every answer's status is checked: 2xx
 * counts, anything else (or a timeout, or a closed connection) stops the
 * run, says which body and why on stderr, and exits 1. The answer is read
 * whole (Content-Length, chunked, or to the close) before the next request
 * on that stream; after a "Connection: close" answer the stream connects
 * again (NAME.connects counts every connection made).
 * The first N bodies (--warmup, default 0) are sent the same way before
 * the clock starts and reported on their own (NAME.warmup.*).
 * Bounds: every request (connect, send, answer) within --timeout-ms
 * (default 60000), the whole run within --deadline-s (default 3600), an
 * answer's header within 64 KiB.
 * --rate R paces the timed phase (not the warm-up) at a live plant's pace: body i is not
 * sent before R samples a second would have produced the samples ahead of
 * it (a stream waits; a slow answer makes the later bodies late, never
 * skipped), so the latency figures say how long an acknowledgement takes
 * at that load. --watch-pid PID reads the server's VmRSS from /proc every
 * second of the timed phase and prints NAME.rss_first_mib (the first
 * reading), NAME.rss_max_mib, NAME.rss_last_mib and NAME.rss_minute_K_mib
 * (the reading at each minute K), to show whether memory stays flat, and
 * the same of RssAnon as NAME.rss_anon_* (the heap, without the file pages
 * of the index's map, which the kernel may drop at any time).
 * Links nothing of Historian's: plain POSIX sockets and pthreads.
 *
 * Prints (NAME defaults to "thin"):
 *   NAME.samples_per_s X samples/s      NAME.samples N samples
 *   NAME.requests N requests            NAME.seconds X s
 *   NAME.latency_p50_ms / _p99_ms / _max_ms X ms
 *   NAME.streams S streams              NAME.connects N connections
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "common/hist_array.h" /* header-only, as hist_bytes.h: nothing linked */
#include "common/hist_bytes.h"

#define THIN_MAX_HEADERS 8
#define THIN_HDR_MAX     65536
#define THIN_SNIPPET     300

typedef struct {
    const uint8_t *data;
    uint32_t len, samples;
} body;

typedef struct {
    const char *host, *port, *path, *ctype, *name;
    const char *headers[THIN_MAX_HEADERS];
    int nheaders;
    int timeout_ms;
    double deadline; /* CLOCK_MONOTONIC seconds */
    body *bodies;
    size_t nbodies;
    double *lat_ms; /* per body */
    atomic_size_t next;
    size_t end; /* bodies [next, end) in the current phase */
    atomic_int failed;
    atomic_uint_fast64_t reconnects;
    double rate;        /* samples/s; 0: as fast as answered */
    double *due;        /* per body: seconds after the phase start (--rate) */
    double phase_t0;    /* CLOCK_MONOTONIC at the phase start */
    long watch_pid;     /* --watch-pid; 0: none */
    atomic_int watching;
} run_ctx;

typedef struct {
    run_ctx *ctx;
    int fd;
    uint8_t buf[THIN_HDR_MAX];
    size_t pos, len;
    char why[512 + THIN_SNIPPET];
} stream;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits for events on fd until deadline; false (why set) on timeout. */
static bool wait_fd(stream *s, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) {
            snprintf(s->why, sizeof s->why, "timed out (per-request timeout %d ms)",
                     s->ctx->timeout_ms);
            return false;
        }
        struct pollfd p = {s->fd, events, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR) {
            snprintf(s->why, sizeof s->why, "poll: %s", strerror(errno));
            return false;
        }
    }
}

static bool stream_connect(stream *s, double deadline)
{
    run_ctx *c = s->ctx;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc) {
        snprintf(s->why, sizeof s->why, "%s:%s: %s", c->host, c->port, gai_strerror(rc));
        return false;
    }
    s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool ok = s->fd >= 0;
    if (ok && connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        ok = errno == EINPROGRESS && wait_fd(s, POLLOUT, deadline);
        int err = 0;
        socklen_t el = sizeof err;
        if (ok && (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)) {
            snprintf(s->why, sizeof s->why, "connect %s:%s: %s", c->host, c->port,
                     strerror(err ? err : errno));
            ok = false;
        }
    }
    freeaddrinfo(ai);
    if (ok) {
        int one = 1;
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->pos = s->len = 0;
    return ok;
}

static void stream_close(stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->pos = s->len = 0;
}

static bool send_all(stream *s, struct iovec *iov, int n, double deadline)
{
    while (n) {
        ssize_t w = writev(s->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && wait_fd(s, POLLOUT, deadline))
                continue;
            if (errno != EAGAIN)
                snprintf(s->why, sizeof s->why, "send: %s", strerror(errno));
            return false;
        }
        while (n && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

/* Reads more into buf (after compacting it): 1, 0 when the server closed
 * the connection, -1 on error or timeout (why set either way). */
static int fill(stream *s, double deadline)
{
    if (s->pos) {
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
    }
    if (s->len == sizeof s->buf) {
        snprintf(s->why, sizeof s->why, "answer header over %d bytes", THIN_HDR_MAX);
        return -1;
    }
    for (;;) {
        ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
        if (r > 0) {
            s->len += (size_t)r;
            return 1;
        }
        if (r == 0) {
            snprintf(s->why, sizeof s->why, "the server closed the connection");
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            snprintf(s->why, sizeof s->why, "read: %s", strerror(errno));
            return -1;
        }
        if (!wait_fd(s, POLLIN, deadline))
            return -1;
    }
}

/* One CRLF-terminated line (CRLF cut) into line; false on error. */
static bool read_line(stream *s, char *line, size_t cap, double deadline)
{
    for (;;) {
        uint8_t *start = s->buf + s->pos;
        uint8_t *nl = memchr(start, '\n', s->len - s->pos);
        if (nl) {
            size_t n = (size_t)(nl - start);
            if (n && start[n - 1] == '\r')
                n--;
            if (n >= cap) {
                snprintf(s->why, sizeof s->why, "answer line over %zu bytes", cap);
                return false;
            }
            memcpy(line, start, n);
            line[n] = 0;
            s->pos += (size_t)(nl - start) + 1;
            return true;
        }
        if (fill(s, deadline) <= 0)
            return false;
    }
}

/* Consumes n body bytes (n = SIZE_MAX: to the close), keeping the first
 * THIN_SNIPPET in snip. */
static bool read_body(stream *s, size_t n, char *snip, size_t *snip_len, double deadline)
{
    while (n) {
        if (s->pos == s->len) {
            s->pos = s->len = 0;
            int r = fill(s, deadline);
            if (r <= 0)
                return r == 0 && n == SIZE_MAX; /* to the close: the close ends it */
        }
        size_t take = s->len - s->pos;
        if (take > n)
            take = n;
        size_t keep = THIN_SNIPPET - *snip_len < take ? THIN_SNIPPET - *snip_len : take;
        memcpy(snip + *snip_len, s->buf + s->pos, keep);
        *snip_len += keep;
        s->pos += take;
        if (n != SIZE_MAX)
            n -= take;
    }
    return true;
}

/* Reads one whole answer; its status in *status, *close when the server
 * will close the connection after it. */
static bool read_answer(stream *s, int *status, bool *close_after, char *snip, size_t *snip_len,
                        double deadline)
{
    char line[8192];
    do {
        if (!read_line(s, line, sizeof line, deadline))
            return false;
        int minor;
        if (sscanf(line, "HTTP/1.%d %d", &minor, status) != 2) {
            snprintf(s->why, sizeof s->why, "not an HTTP status line: %.200s", line);
            return false;
        }
        *close_after = minor == 0;
        long long clen = -1;
        bool chunked = false;
        for (;;) {
            if (!read_line(s, line, sizeof line, deadline))
                return false;
            if (!line[0])
                break;
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = 0;
            char *val = colon + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            if (!strcasecmp(line, "Content-Length"))
                clen = strtoll(val, NULL, 10);
            else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(val, "chunked"))
                chunked = true;
            else if (!strcasecmp(line, "Connection"))
                *close_after = strcasestr(val, "close") != NULL;
        }
        *snip_len = 0;
        if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
            continue; /* no body */
        if (chunked) {
            for (;;) {
                if (!read_line(s, line, sizeof line, deadline))
                    return false;
                char *end;
                unsigned long long sz = strtoull(line, &end, 16);
                if (end == line) {
                    snprintf(s->why, sizeof s->why, "bad chunk size line: %.100s", line);
                    return false;
                }
                if (!sz)
                    break;
                if (!read_body(s, (size_t)sz, snip, snip_len, deadline) ||
                    !read_line(s, line, sizeof line, deadline))
                    return false;
            }
            do { /* trailers up to the empty line */
                if (!read_line(s, line, sizeof line, deadline))
                    return false;
            } while (line[0]);
        } else if (clen >= 0) {
            if (!read_body(s, (size_t)clen, snip, snip_len, deadline))
                return false;
        } else {
            *close_after = true;
            if (!read_body(s, SIZE_MAX, snip, snip_len, deadline))
                return false;
        }
    } while (*status >= 100 && *status < 200);
    return true;
}

/* Posts body i on s; false (why set) on any failure or a non-2xx answer. */
static bool post_one(stream *s, size_t i)
{
    run_ctx *c = s->ctx;
    double t0 = now_s();
    double deadline = t0 + c->timeout_ms / 1000.0;
    if (deadline > c->deadline)
        deadline = c->deadline;
    if (s->fd < 0) {
        if (!stream_connect(s, deadline))
            return false;
        atomic_fetch_add(&c->reconnects, 1);
    }
    char head[4096];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: %s\r\n"
                      "Content-Length: %u\r\n",
                      c->path, c->host, c->port, c->ctype, c->bodies[i].len);
    for (int h = 0; h < c->nheaders && hl > 0 && (size_t)hl < sizeof head; h++)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "%s\r\n", c->headers[h]);
    if (hl < 0 || (size_t)hl + 3 > sizeof head) {
        snprintf(s->why, sizeof s->why, "request header over %zu bytes", sizeof head);
        return false;
    }
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    struct iovec iov[2] = {{head, (size_t)hl}, {(void *)c->bodies[i].data, c->bodies[i].len}};
    int status = 0;
    bool close_after = false;
    char snip[THIN_SNIPPET + 1];
    size_t snip_len = 0;
    if (!send_all(s, iov, 2, deadline) ||
        !read_answer(s, &status, &close_after, snip, &snip_len, deadline))
        return false;
    c->lat_ms[i] = (now_s() - t0) * 1000;
    if (close_after)
        stream_close(s);
    if (status < 200 || status > 299) {
        snip[snip_len] = 0;
        for (size_t k = 0; k < snip_len; k++)
            if (snip[k] < 32 || snip[k] > 126)
                snip[k] = '.';
        snprintf(s->why, sizeof s->why, "HTTP %d: %s", status, snip);
        return false;
    }
    return true;
}

static void *stream_run(void *arg)
{
    stream *s = arg;
    run_ctx *c = s->ctx;
    while (!atomic_load(&c->failed)) {
        size_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->end)
            break;
        if (c->rate > 0) { /* live pace: wait for the body's time */
            double wait = c->phase_t0 + c->due[i] - now_s();
            if (wait > 0) {
                struct timespec d = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&d, NULL);
            }
        }
        if (now_s() > c->deadline) {
            fprintf(stderr, "bench_thin: %s: the run's deadline passed at body %zu of %zu\n",
                    c->name, i, c->nbodies);
            atomic_store(&c->failed, 1);
            break;
        }
        if (!post_one(s, i)) {
            fprintf(stderr, "bench_thin: %s: body %zu of %zu (%u samples) to %s:%s%s: %s\n",
                    c->name, i, c->nbodies, c->bodies[i].samples, c->host, c->port, c->path,
                    s->why);
            atomic_store(&c->failed, 1);
            stream_close(s);
            break;
        }
    }
    return NULL;
}

/* A field of /proc/PID/status (VmRSS, RssAnon: kB) in MiB, or -1. */
static double status_mib(long pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    double kib = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':')
            kib = atof(line + klen + 1);
    if (f)
        fclose(f);
    return kib < 0 ? -1 : kib / 1024;
}

/* One RSS figure watched: its first, largest and last reading, and the
 * reading at the start of each minute. */
typedef struct {
    double first, max, last;
    double minute[1440];
    int nminutes;
} rss_series;

typedef struct {
    run_ctx *c;
    rss_series total, anon; /* VmRSS; RssAnon (the heap: not the index's file pages) */
} rss_watch;

static void rss_note(rss_series *r, double v, int k, int m)
{
    if (v < 0)
        return;
    if (k == 0)
        r->first = v;
    r->max = v > r->max ? v : r->max;
    r->last = v;
    if (m >= r->nminutes && m < 1440) {
        r->minute[m] = v;
        r->nminutes = m + 1;
    }
}

/* Reads the server's RSS every second while c->watching. */
static void *watch_run(void *arg)
{
    rss_watch *w = arg;
    double t0 = now_s();
    for (int k = 0; atomic_load(&w->c->watching); k++) {
        int m = (int)((now_s() - t0) / 60);
        rss_note(&w->total, status_mib(w->c->watch_pid, "VmRSS"), k, m);
        rss_note(&w->anon, status_mib(w->c->watch_pid, "RssAnon"), k, m);
        for (int i = 0; i < 10 && atomic_load(&w->c->watching); i++) {
            struct timespec d = {0, 100000000};
            nanosleep(&d, NULL);
        }
    }
    return NULL;
}

static void print_series(const rss_series *r, const char *name, const char *what)
{
    printf("%s.%s_first_mib %.0f MiB\n", name, what, r->first);
    printf("%s.%s_max_mib %.0f MiB\n", name, what, r->max);
    printf("%s.%s_last_mib %.0f MiB\n", name, what, r->last);
    for (int m = 0; m < r->nminutes; m++)
        if (r->minute[m] > 0)
            printf("%s.%s_minute_%d_mib %.0f MiB\n", name, what, m, r->minute[m]);
}

static void print_watch(const rss_watch *w, const char *name)
{
    print_series(&w->total, name, "rss");
    print_series(&w->anon, name, "rss_anon");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sends bodies [from, to) over the streams; elapsed seconds, or -1. */
static double run_phase(run_ctx *c, stream *st, int nstreams, size_t from, size_t to, bool paced)
{
    atomic_store(&c->next, from);
    c->end = to;
    pthread_t th[256];
    double t0 = now_s();
    c->phase_t0 = t0;
    for (size_t i = from; i < to; i++)
        c->due[i] = 0;
    if (paced && c->rate > 0) { /* each body's time, counted from the phase start */
        double ahead = 0;
        for (size_t i = from; i < to; i++) {
            c->due[i] = ahead / c->rate;
            ahead += c->bodies[i].samples;
        }
    }
    int started = 0;
    for (; started < nstreams; started++)
        if (pthread_create(&th[started], NULL, stream_run, &st[started]) != 0) {
            fprintf(stderr, "bench_thin: cannot start a stream thread\n");
            atomic_store(&c->failed, 1);
            break;
        }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    return atomic_load(&c->failed) ? -1 : now_s() - t0;
}

static void print_phase(const run_ctx *c, const char *name, size_t from, size_t to, double el)
{
    uint64_t samples = 0;
    for (size_t i = from; i < to; i++)
        samples += c->bodies[i].samples;
    size_t n = to - from;
    double *l = malloc((n ? n : 1) * sizeof *l);
    if (!l) {
        fprintf(stderr, "bench_thin: out of memory\n");
        exit(1);
    }
    memcpy(l, c->lat_ms + from, n * sizeof *l);
    qsort(l, n, sizeof *l, cmp_double);
    double p50 = n ? l[(n - 1) / 2] : 0, p99 = n ? l[(size_t)((double)(n - 1) * 0.99)] : 0;
    double mx = n ? l[n - 1] : 0;
    printf("%s.samples_per_s %.0f samples/s\n", name, el > 0 ? (double)samples / el : 0);
    printf("%s.samples %llu samples\n", name, (unsigned long long)samples);
    printf("%s.requests %zu requests\n", name, n);
    printf("%s.seconds %.3f s\n", name, el);
    printf("%s.latency_p50_ms %.2f ms\n", name, p50);
    printf("%s.latency_p99_ms %.2f ms\n", name, p99);
    printf("%s.latency_max_ms %.2f ms\n", name, mx);
    free(l);
}

/* FILE's bytes, malloc'd, and their count; NULL (said why) on error. */
static uint8_t *read_whole(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) < 0) {
        perror(path);
        if (f)
            fclose(f);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size) {
        fprintf(stderr, "bench_thin: cannot read %s\n", path);
        fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    *size_out = size;
    return data;
}

/* Appends one body to the index; false when out of memory (then *b is
 * freed and NULL). */
static bool push_body(body **b, size_t *n, size_t *cap, body one)
{
    if (HIST_ARRAY_RESERVE(*b, *cap, *n + 1, 1024) < 0) {
        free(*b);
        *b = NULL;
        return false;
    }
    (*b)[(*n)++] = one;
    return true;
}

/* Reads FILE whole and indexes its bodies; NULL (said why) on error. */
static uint8_t *load_bodies(const char *path, body **out, size_t *nout)
{
    size_t size;
    uint8_t *data = read_whole(path, &size);
    if (!data)
        return NULL;
    if (size < 8 || memcmp(data, "THINBOD1", 8)) {
        fprintf(stderr, "bench_thin: %s is not a bench_gen bodies file\n", path);
        free(data);
        return NULL;
    }
    size_t n = 0, cap = 0;
    body *b = NULL;
    bool oom = false;
    for (size_t at = 8; at < size;) {
        if (size - at < 8 || hist_get_le32(data + at) > size - at - 8) {
            fprintf(stderr, "bench_thin: %s: body %zu is cut short\n", path, n);
            free(b);
            free(data);
            return NULL;
        }
        body one = {data + at + 8, hist_get_le32(data + at), hist_get_le32(data + at + 4)};
        if ((oom = !push_body(&b, &n, &cap, one)))
            break;
        at += 8 + one.len;
    }
    if (oom) {
        fprintf(stderr, "bench_thin: out of memory\n");
        free(data);
        return NULL;
    }
    *out = b;
    *nout = n;
    return data;
}

/* --lp-lines: FILE as text, bodies of `lines` whole lines (a sample each). */
static uint8_t *load_lines(const char *path, size_t lines, body **out, size_t *nout)
{
    size_t size;
    uint8_t *data = read_whole(path, &size);
    if (!data)
        return NULL;
    size_t n = 0, cap = 0;
    body *b = NULL;
    bool oom = false;
    for (size_t at = 0; at < size;) {
        size_t end = at;
        uint32_t k = 0;
        while (end < size && k < lines) {
            const uint8_t *nl = memchr(data + end, '\n', size - end);
            end = nl ? (size_t)(nl - data) + 1 : size;
            k++;
        }
        if (end - at > UINT32_MAX) {
            fprintf(stderr, "bench_thin: %s: a body over 4 GiB\n", path);
            free(b);
            free(data);
            return NULL;
        }
        if ((oom = !push_body(&b, &n, &cap, (body){data + at, (uint32_t)(end - at), k})))
            break;
        at = end;
    }
    if (oom) {
        fprintf(stderr, "bench_thin: out of memory\n");
        free(data);
        return NULL;
    }
    *out = b;
    *nout = n;
    return data;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_thin --bodies FILE [--lp-lines N] --port P --path PATH [--host H]\n"
            "                  [--content-type CT]\n"
            "                  [--header 'Name: value']... [--streams S] [--warmup N]\n"
            "                  [--timeout-ms MS] [--deadline-s S] [--name NAME]\n"
            "                  [--rate SAMPLES_PER_S] [--watch-pid PID]\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"bodies", 1, 0, 'b'},       {"host", 1, 0, 'H'},
                                          {"port", 1, 0, 'p'},         {"path", 1, 0, 'P'},
                                          {"content-type", 1, 0, 'c'}, {"header", 1, 0, 'x'},
                                          {"streams", 1, 0, 's'},      {"warmup", 1, 0, 'w'},
                                          {"timeout-ms", 1, 0, 't'},   {"deadline-s", 1, 0, 'd'},
                                          {"name", 1, 0, 'n'},         {"lp-lines", 1, 0, 'L'},
                                          {"rate", 1, 0, 'r'},         {"watch-pid", 1, 0, 'W'},
                                          {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    run_ctx c = {.host = "127.0.0.1",
                 .ctype = "application/octet-stream",
                 .name = "thin",
                 .timeout_ms = 60000};
    const char *path = NULL;
    int nstreams = 2, ch;
    long warmup = 0;
    size_t lp_lines = 0;
    double deadline_s = 3600;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'b':
            path = optarg;
            break;
        case 'H':
            c.host = optarg;
            break;
        case 'p':
            c.port = optarg;
            break;
        case 'P':
            c.path = optarg;
            break;
        case 'c':
            c.ctype = optarg;
            break;
        case 'x':
            if (c.nheaders == THIN_MAX_HEADERS || !strchr(optarg, ':')) {
                fprintf(stderr, "bench_thin: at most %d --header 'Name: value'\n",
                        THIN_MAX_HEADERS);
                return 2;
            }
            c.headers[c.nheaders++] = optarg;
            break;
        case 's':
            nstreams = atoi(optarg);
            break;
        case 'w':
            warmup = atol(optarg);
            break;
        case 't':
            c.timeout_ms = atoi(optarg);
            break;
        case 'd':
            deadline_s = atof(optarg);
            break;
        case 'n':
            c.name = optarg;
            break;
        case 'r':
            c.rate = atof(optarg);
            break;
        case 'W':
            c.watch_pid = atol(optarg);
            break;
        case 'L':
            lp_lines = strtoul(optarg, NULL, 10);
            if (!lp_lines) {
                usage();
                return 2;
            }
            break;
        default:
            usage();
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!path || !c.port || !c.path || nstreams < 1 || nstreams > 256 || warmup < 0 ||
        c.timeout_ms < 1 || deadline_s <= 0 || c.rate < 0 || c.watch_pid < 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uint8_t *data = lp_lines ? load_lines(path, lp_lines, &c.bodies, &c.nbodies)
                             : load_bodies(path, &c.bodies, &c.nbodies);
    if (!data)
        return 1;
    if ((size_t)warmup > c.nbodies)
        warmup = (long)c.nbodies;
    c.lat_ms = calloc(c.nbodies ? c.nbodies : 1, sizeof *c.lat_ms);
    c.due = calloc(c.nbodies ? c.nbodies : 1, sizeof *c.due);
    stream *st = calloc((size_t)nstreams, sizeof *st);
    rss_watch *watch = calloc(1, sizeof *watch);
    if (!c.lat_ms || !c.due || !st || !watch) {
        fprintf(stderr, "bench_thin: out of memory\n");
        return 1;
    }
    for (int k = 0; k < nstreams; k++)
        st[k] = (stream){.ctx = &c, .fd = -1};
    c.deadline = now_s() + deadline_s;
    double wel = 0, el = -1;
    if (warmup)
        wel = run_phase(&c, st, nstreams, 0, (size_t)warmup, false);
    pthread_t watcher;
    bool watched = false;
    if (wel >= 0 && c.watch_pid) {
        watch->c = &c;
        atomic_store(&c.watching, 1);
        watched = pthread_create(&watcher, NULL, watch_run, watch) == 0;
    }
    if (wel >= 0)
        el = run_phase(&c, st, nstreams, (size_t)warmup, c.nbodies, true);
    atomic_store(&c.watching, 0);
    if (watched)
        pthread_join(watcher, NULL);
    for (int k = 0; k < nstreams; k++)
        stream_close(&st[k]);
    if (el < 0) {
        fprintf(stderr, "bench_thin: %s: FAILED\n", c.name);
        return 1;
    }
    char wname[256];
    snprintf(wname, sizeof wname, "%s.warmup", c.name);
    if (warmup)
        print_phase(&c, wname, 0, (size_t)warmup, wel);
    print_phase(&c, c.name, (size_t)warmup, c.nbodies, el);
    printf("%s.streams %d streams\n", c.name, nstreams);
    printf("%s.connects %llu connections\n", c.name,
           (unsigned long long)atomic_load(&c.reconnects));
    if (c.rate > 0)
        printf("%s.rate %.0f samples/s\n", c.name, c.rate);
    if (watched)
        print_watch(watch, c.name);
    free(watch);
    free(c.due);
    free(st);
    free(c.lat_ms);
    free(c.bodies);
    free(data);
    return 0;
}
