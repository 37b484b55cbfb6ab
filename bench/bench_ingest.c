/*
 * bench_ingest.c: ingest throughput of a real historiand over TCP.
 *
 * Starts historiand (next to this binary: ../tools/historiand, or
 * $HIST_BIN_DIR/historiand) on free loopback ports with a temp data dir,
 * then N connections each send pre-encoded WriteRequests of B samples,
 * pipelined (window W) by the gateway client's store-and-forward sender
 * (tools/client/hist_client.h, without a spool), and wait for every ack.
 * An ack means durable (group commit), so the figure is acknowledged,
 * durable samples per second. Data: plant-like series from tools/plantgen.h, each tag's samples
 * in time order, no sample sent twice.
 *
 *   bench_ingest [--conns N] [--batch B] [--samples TOTAL] [--window W]
 *                [--tags T] [--io uring|sync|auto] [--matrix]
 * prints:  ingest.conns<N>.batch<B>.msps <value> Msamples/s
 *          ingest.conns<N>.batch<B>.bytes_per_sample <value> B  (data dir
 *          after a clean shutdown, allocated blocks)
 *   bench_ingest --dump-lp FILE [--batch B --samples N --tags T] writes the
 *   same data set as InfluxDB line protocol. bench/peers.sh no longer uses
 *   it: it feeds every system bench_gen's bodies through bench_thin, and
 *   prints this program's figure apart, as Historian's native pipelined
 *   client on its own data order.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>
#include <fcntl.h>

#include "bench/bench_util.h"
#include "tools/client/hist_client.h"
#include "tools/plantgen.h"

typedef struct {
    uint64_t id;
    uint8_t *buf; /* NULL once a sender owns it */
    size_t len;
    uint64_t samples;
} frame;

typedef struct {
    const char *addr;
    frame **frames;
    size_t nframes;
    unsigned window;
    uint64_t acked;
    int failed;
} conn_job;

/* Drains s while acks keep coming: false when a minute passes without one
 * or the server refused a batch. */
static bool drain_all(hist_sender *s, hist_sender_stats *st)
{
    uint64_t before;
    do {
        hist_sender_get_stats(s, st);
        before = st->acked;
        hist_sender_drain(s, 60000);
        hist_sender_get_stats(s, st);
    } while (st->queued_batches && st->acked > before);
    return st->queued_batches == 0 && st->rejected == 0;
}

/* One connection's frames, in order, through the gateway client's sender
 * (pipelined up to the window; it owns the frames once they are pushed). */
static void *run_conn(void *arg)
{
    conn_job *j = arg;
    hist_sender *s;
    if (hist_sender_new(j->addr, NULL, j->window, &s) != 0) {
        j->failed = 1;
        return NULL;
    }
    for (size_t k = 0; k < j->nframes; k++) {
        frame *f = j->frames[k];
        if (hist_sender_push(s, f->id, f->buf, f->len, f->samples) != 0)
            j->failed = 1;
        f->buf = NULL;
    }
    hist_sender_stats st;
    if (!drain_all(s, &st))
        j->failed = 1;
    j->acked = st.acked;
    hist_sender_free(s);
    return NULL;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static uint64_t disk_bytes, wal_bytes;
static int add_size(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag == FTW_F) {
        disk_bytes += (uint64_t)sb->st_blocks * 512;
        if (strstr(p, "/wal/"))
            wal_bytes += (uint64_t)sb->st_blocks * 512;
    }
    return 0;
}

/* The data set every run sends, in the order frames take it: tag t gets
 * per_tag samples per visit, tags visited round-robin. */
typedef struct {
    hist_gen *gen;
    uint32_t ntags, next_tag;
} dataset;

static void dataset_open(dataset *d, uint32_t ntags)
{
    d->gen = hist_gen_new(ntags, 42, INT64_C(1700000000000000000), 1000000000);
    d->ntags = ntags;
    d->next_tag = 0;
}

/* --dump-lp: the same samples as InfluxDB line protocol, one measurement
 * per value type (f, i, b) so no field changes type. */
static int dump_lp(const char *path, size_t batch, uint64_t total, uint32_t ntags)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    dataset d;
    dataset_open(&d, ntags);
    size_t per_tag = batch >= 100 ? 100 : batch;
    size_t tags_per_frame = batch / per_tag;
    if (tags_per_frame > ntags)
        tags_per_frame = ntags;
    int64_t ts[100];
    hist_value v[100];
    uint32_t q[100];
    uint64_t written = 0;
    while (written < total) {
        for (size_t t = 0; t < tags_per_frame; t++) {
            uint32_t tag = d.next_tag++ % ntags;
            size_t n = hist_gen_next(d.gen, tag, per_tag, ts, v, q);
            hist_type ty = hist_gen_tag_type(d.gen, tag);
            const char *name = hist_gen_tag_name(d.gen, tag);
            for (size_t k = 0; k < n; k++) {
                if (ty == HIST_TYPE_FLOAT64)
                    fprintf(f, "f,tag=%s value=%.17g %lld\n", name, v[k].f, (long long)ts[k]);
                else if (ty == HIST_TYPE_INT64)
                    fprintf(f, "i,tag=%s value=%lldi %lld\n", name, (long long)v[k].i,
                            (long long)ts[k]);
                else
                    fprintf(f, "b,tag=%s value=%s %lld\n", name, v[k].i ? "true" : "false",
                            (long long)ts[k]);
            }
            written += n;
        }
    }
    hist_gen_free(d.gen);
    return fclose(f) == 0 ? 0 : -1;
}

static pid_t start_server(const char *bin, const char *data, const char *io, int http_port,
                          int ingest_port)
{
    char http[64], ingest[64];
    snprintf(http, sizeof http, "127.0.0.1:%d", http_port);
    snprintf(ingest, sizeof ingest, "127.0.0.1:%d", ingest_port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(bin, bin, "--data", data, "--http", http, "--ingest", ingest, "--io", io,
              "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Pre-encodes the data set: frame k holds `batch` samples, per_tag from
 * each of a window of tags; tags continue in time from frame to frame.
 * *samples_out counts them all. */
static frame *encode_frames(size_t batch, uint64_t total, uint32_t ntags, size_t *nframes_out,
                            uint64_t *samples_out)
{
    size_t per_tag = batch >= 100 ? 100 : batch;
    size_t tags_per_frame = batch / per_tag;
    if (tags_per_frame > ntags)
        tags_per_frame = ntags;
    size_t nframes = (size_t)((total + batch - 1) / batch);
    dataset d;
    dataset_open(&d, ntags);
    hist_gen *gen = d.gen;
    frame *frames = calloc(nframes, sizeof *frames);
    hist_client_series *cs = calloc(tags_per_frame, sizeof *cs);
    int64_t *ts = malloc(tags_per_frame * per_tag * sizeof *ts);
    hist_value *v = malloc(tags_per_frame * per_tag * sizeof *v);
    uint32_t *q = malloc(tags_per_frame * per_tag * sizeof *q);
    uint32_t next_tag = 0;
    uint64_t samples = 0;
    for (size_t k = 0; k < nframes; k++) {
        for (size_t t = 0; t < tags_per_frame; t++) {
            uint32_t tag = next_tag++ % ntags;
            size_t off = t * per_tag;
            size_t n = hist_gen_next(gen, tag, per_tag, ts + off, v + off, q + off);
            cs[t] = (hist_client_series){hist_gen_tag_name(gen, tag),
                                         hist_gen_tag_type(gen, tag),
                                         n,
                                         ts + off,
                                         v + off,
                                         q + off};
            frames[k].samples += n;
        }
        frames[k].id = k + 1;
        hist_client_encode(k + 1, NULL, cs, tags_per_frame, &frames[k].buf, &frames[k].len);
        samples += frames[k].samples;
    }
    free(cs);
    free(ts);
    free(v);
    free(q);
    hist_gen_free(gen);
    *nframes_out = nframes;
    *samples_out = samples;
    return frames;
}

/* Warm-up, not timed, and the wait for the server to come up: creates
 * every tag (tag creation commits the LMDB index once per new tag) by
 * writing each tag's first sample, which the timed run rewrites with the
 * same value (last write wins: no extra samples). true once acknowledged. */
static bool warm_up(const char *addr, uint32_t ntags)
{
    dataset w;
    dataset_open(&w, ntags);
    hist_batch_builder *bb = hist_bb_new();
    hist_sender *s = NULL;
    bool ok = bb && hist_sender_new(addr, NULL, 1, &s) == 0;
    for (uint32_t t = 0; ok && t < ntags; t++) {
        int64_t ts;
        hist_value v;
        uint32_t q;
        hist_gen_next(w.gen, t, 1, &ts, &v, &q);
        ok = hist_bb_add(bb, hist_gen_tag_name(w.gen, t), hist_gen_tag_type(w.gen, t), ts, v, q) ==
             0;
    }
    hist_sender_stats st;
    ok = ok && hist_sender_push_batch(s, bb, NULL, NULL) == 0 && drain_all(s, &st);
    hist_sender_free(s);
    hist_bb_free(bb);
    hist_gen_free(w.gen);
    return ok;
}

/* The timed part: frame k goes to connection k % conns, so each
 * connection sends its frames in order. Acknowledged Msamples/s, or -1. */
static double send_timed(const char *addr, frame *frames, size_t nframes, uint64_t samples,
                         unsigned conns, unsigned window)
{
    conn_job *jobs = calloc(conns, sizeof *jobs);
    pthread_t *th = calloc(conns, sizeof *th);
    frame **per = calloc(nframes, sizeof *per);
    size_t at = 0;
    for (unsigned c = 0; c < conns; c++) {
        jobs[c].frames = per + at;
        for (size_t k = c; k < nframes; k += conns)
            per[at++] = &frames[k];
        jobs[c].nframes = (size_t)(per + at - jobs[c].frames);
        jobs[c].addr = addr;
        jobs[c].window = window;
    }
    double t0 = bench_now_s();
    for (unsigned c = 0; c < conns; c++)
        pthread_create(&th[c], NULL, run_conn, &jobs[c]);
    uint64_t acked = 0;
    int failed = 0;
    for (unsigned c = 0; c < conns; c++) {
        pthread_join(th[c], NULL);
        acked += jobs[c].acked;
        failed |= jobs[c].failed;
    }
    double el = bench_now_s() - t0;
    free(per);
    free(jobs);
    free(th);
    if (!failed && acked == samples)
        return (double)acked / el / 1e6;
    fprintf(stderr, "bench_ingest: %llu of %llu samples acked\n", (unsigned long long)acked,
            (unsigned long long)samples);
    return -1;
}

static void print_figures(unsigned conns, size_t batch, double msps, uint64_t samples)
{
    printf("ingest.conns%u.batch%zu.msps %.3f Msamples/s\n", conns, batch, msps);
    printf("ingest.conns%u.batch%zu.bytes_per_sample %.3f B\n", conns, batch,
           (double)disk_bytes / (double)samples);
    /* segments + index only: what stays once the WAL is checkpointed */
    printf("ingest.conns%u.batch%zu.bytes_per_sample_sealed %.3f B\n", conns, batch,
           (double)(disk_bytes - wal_bytes) / (double)samples);
    fflush(stdout);
}

/* One run: returns acknowledged Msamples/s, or -1. */
static double run(const char *bin, unsigned conns, size_t batch, uint64_t total, unsigned window,
                  uint32_t ntags, const char *io)
{
    char root[] = "/tmp/hist-bench-ingest-XXXXXX";
    if (!mkdtemp(root))
        return -1;
    char data[128];
    snprintf(data, sizeof data, "%s/data", root);
    int hp = bench_free_port(), ip = bench_free_port();
    pid_t pid = start_server(bin, data, io, hp, ip);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ip);
    size_t nframes;
    uint64_t samples;
    frame *frames = encode_frames(batch, total, ntags, &nframes, &samples);
    double msps = -1;
    if (warm_up(addr, ntags))
        msps = send_timed(addr, frames, nframes, samples, conns, window);
    else
        fprintf(stderr, "bench_ingest: server at %s did not take the warm-up\n", addr);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0); /* closing seals the memtable into chunks */
    disk_bytes = wal_bytes = 0;
    nftw(data, add_size, 16, FTW_PHYS);
    if (msps > 0)
        print_figures(conns, batch, msps, samples);
    for (size_t k = 0; k < nframes; k++)
        free(frames[k].buf);
    free(frames);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return msps;
}

/* $HIST_BIN_DIR/historiand, or ../tools/historiand next to this binary. */
static void server_binary(char *bin, size_t cap)
{
    const char *dir = getenv("HIST_BIN_DIR");
    if (dir) {
        snprintf(bin, cap, "%s/historiand", dir);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(bin, cap, "%s/../tools/historiand", self);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"conns", 1, 0, 'c'}, {"batch", 1, 0, 'b'}, {"samples", 1, 0, 's'}, {"window", 1, 0, 'w'},
        {"tags", 1, 0, 't'},  {"io", 1, 0, 'i'},    {"matrix", 0, 0, 'm'},  {"dump-lp", 1, 0, 'd'},
        {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    unsigned conns = 4, window = 8;
    size_t batch = 10000;
    uint64_t total = 20000000;
    uint32_t ntags = 1000;
    const char *io = "auto";
    int matrix = 0, ch;
    const char *dump = NULL;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conns = (unsigned)atoi(optarg);
            break;
        case 'b':
            batch = strtoul(optarg, NULL, 10);
            break;
        case 's':
            total = strtoull(optarg, NULL, 10);
            break;
        case 'w':
            window = (unsigned)atoi(optarg);
            break;
        case 't':
            ntags = (uint32_t)atoi(optarg);
            break;
        case 'i':
            io = optarg;
            break;
        case 'm':
            matrix = 1;
            break;
        case 'd':
            dump = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_ingest [--conns N] [--batch B] [--samples TOTAL] "
                            "[--window W] [--tags T] [--io MODE] [--matrix] [--dump-lp FILE]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!conns || !batch || !window || !ntags)
        return 2;
    if (dump)
        return dump_lp(dump, batch, total, ntags) == 0 ? 0 : 1;
    char bin[PATH_MAX + 32];
    server_binary(bin, sizeof bin);
    signal(SIGPIPE, SIG_IGN);
    static const unsigned mconns[] = {1, 4, 16};
    static const size_t mbatch[] = {1000, 10000};
    for (size_t a = 0; a < (matrix ? 3u : 1u); a++)
        for (size_t b = 0; b < (matrix ? 2u : 1u); b++) {
            unsigned c = matrix ? mconns[a] : conns;
            size_t bs = matrix ? mbatch[b] : batch;
            uint64_t tot = matrix && bs < 10000 ? total / 4 : total;
            double m = run(bin, c, bs, tot, window, ntags, io);
            if (m < 0)
                return 1;
        }
    return 0;
}
