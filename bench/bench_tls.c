/*
 * bench_tls.c: TCP ingest throughput over TLS against plain TCP, with the
 * same client.
 *
 * Starts historiand twice on free loopback ports with a temp data dir
 * (../tools/historiand or $HIST_BIN_DIR/historiand): once plain, once with
 * --tls-cert/--tls-key (a self-signed P-256 certificate for 127.0.0.1 made
 * by the openssl command). One connection sends pre-encoded WriteRequests
 * of B samples, pipelined with a window of W unanswered frames, and reads
 * every ack (an ack means durable). The client is the same code for both:
 * only its send/recv go through SSL for the TLS run. Plain and TLS run
 * twice each, alternating, each on a fresh data directory; the best run counts.
 *
 *   bench_tls [--batch B] [--samples TOTAL] [--window W] [--tags T]
 * prints:  ingest_tls.plain.msps <value> Msamples/s
 *          ingest_tls.tls.msps <value> Msamples/s
 *          ingest_tls.tls_vs_plain <value> ratio
 *          ingest_tls.handshake_ms <value> ms   (TCP connect + TLS handshake)
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench/bench_util.h"
#include "common/hist_bytes.h"
#include "proto/historian.pb-c.h"
#include "tools/client/hist_client.h"

typedef struct {
    size_t batch, total, window, tags;
    char root[128];
    char bindir[512];
} bench;

/* Starts historiand; its pid, *port the ingest port; -1 when it did not
 * print its listening line within 20 s. */
static pid_t start_server(const bench *b, const char *name, int tls, int *port)
{
    char data[256], log[256], http[64], ingest[64], cert[256], key[256], bin[600];
    snprintf(data, sizeof data, "%s/%s", b->root, name);
    snprintf(log, sizeof log, "%s/%s.log", b->root, name);
    snprintf(cert, sizeof cert, "%s/cert.pem", b->root);
    snprintf(key, sizeof key, "%s/key.pem", b->root);
    snprintf(bin, sizeof bin, "%s/historiand", b->bindir);
    *port = bench_free_port();
    snprintf(http, sizeof http, "127.0.0.1:%d", bench_free_port());
    snprintf(ingest, sizeof ingest, "127.0.0.1:%d", *port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char *argv[] = {bin,    "--data",        data,   "--http",
                              http,   "--ingest",      ingest, "--log-level",
                              "warn", "--scrub-share", "0",    tls ? "--tls-cert" : NULL,
                              cert,   "--tls-key",     key,    NULL};
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        char text[4096] = "";
        FILE *f = fopen(log, "r");
        if (f) {
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
        }
        if (strstr(text, "historiand listening"))
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 300 && waitpid(pid, NULL, WNOHANG) != pid; i++)
        usleep(50000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, WNOHANG);
}

typedef struct {
    int fd;
    SSL *ssl;
} link_t;

static int send_all(link_t *l, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t w = 0;
        ssize_t k;
        if (l->ssl) {
            if (SSL_write_ex(l->ssl, (const char *)buf + done, len - done, &w) != 1)
                return -1;
        } else {
            if ((k = write(l->fd, (const char *)buf + done, len - done)) <= 0)
                return -1;
            w = (size_t)k;
        }
        done += w;
    }
    return 0;
}

static int recv_all(link_t *l, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t got = 0;
        ssize_t k;
        if (l->ssl) {
            if (SSL_read_ex(l->ssl, (char *)buf + done, len - done, &got) != 1)
                return -1;
        } else {
            if ((k = read(l->fd, (char *)buf + done, len - done)) <= 0)
                return -1;
            got = (size_t)k;
        }
        done += got;
    }
    return 0;
}

/* One ack frame read and checked (code 0). */
static int read_ack(link_t *l)
{
    uint8_t hdr[4], body[4096];
    if (recv_all(l, hdr, 4) < 0)
        return -1;
    uint32_t n = hist_get_be32(hdr);
    if (n > sizeof body || recv_all(l, body, n) < 0)
        return -1;
    Historian__V1__WriteResponse *r = historian__v1__write_response__unpack(NULL, n, body);
    int rc = r && r->code == 0 ? 0 : -1;
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    return rc;
}

/* Sends every frame pipelined; Msamples/s, or -1. */
static double run(const bench *b, int port, SSL_CTX *ctx, uint8_t **frames, size_t *lens,
                  size_t nframes, double *handshake_ms)
{
    double t0 = bench_now_s();
    link_t l = {socket(AF_INET, SOCK_STREAM, 0), NULL};
    struct timeval tv = {30, 0};
    setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(l.fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    if (ctx) {
        l.ssl = SSL_new(ctx);
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(l.ssl), "127.0.0.1");
        SSL_set_fd(l.ssl, l.fd);
        if (SSL_connect(l.ssl) != 1) {
            ERR_print_errors_fp(stderr);
            return -1;
        }
        *handshake_ms = (bench_now_s() - t0) * 1000;
    }
    double start = bench_now_s();
    size_t sent = 0, acked = 0;
    int rc = 0;
    while (acked < nframes && rc == 0) {
        if (sent < nframes && sent - acked < b->window) {
            rc = send_all(&l, frames[sent], lens[sent]);
            sent++;
        } else {
            rc = read_ack(&l);
            acked++;
        }
    }
    double secs = bench_now_s() - start;
    if (l.ssl) {
        SSL_shutdown(l.ssl);
        SSL_free(l.ssl);
    }
    close(l.fd);
    return rc == 0 ? (double)(nframes * b->batch) / secs / 1e6 : -1;
}

int main(int argc, char **argv)
{
    bench b = {.batch = 1000, .total = 2000000, .window = 64, .tags = 100};
    static const struct option opts[] = {{"batch", 1, 0, 'b'},
                                         {"samples", 1, 0, 's'},
                                         {"window", 1, 0, 'w'},
                                         {"tags", 1, 0, 't'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        size_t v = (size_t)strtoull(optarg, NULL, 10);
        if (!v) {
            fprintf(stderr, "bench_tls: bad value %s\n", optarg);
            return 2;
        }
        if (o == 'b')
            b.batch = v;
        else if (o == 's')
            b.total = v;
        else if (o == 'w')
            b.window = v;
        else if (o == 't')
            b.tags = v;
        else
            return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *env = getenv("HIST_BIN_DIR");
    if (env) {
        snprintf(b.bindir, sizeof b.bindir, "%s", env);
    } else {
        char self[400];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        snprintf(b.bindir, sizeof b.bindir, "%s/../tools", self);
    }
    snprintf(b.root, sizeof b.root, "/tmp/bench-tls-XXXXXX");
    if (!mkdtemp(b.root))
        return 1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s/key.pem -out %s/cert.pem -subj /CN=127.0.0.1 -addext "
             "subjectAltName=IP:127.0.0.1 -days 2 > %s/openssl.log 2>&1",
             b.root, b.root, b.root);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_tls: openssl could not make a certificate\n");
        return 1;
    }

    /* the frames: batch samples each, tag after tag, time going on */
    size_t nframes = (b.total + b.batch - 1) / b.batch;
    uint8_t **frames = calloc(nframes, sizeof *frames);
    size_t *lens = calloc(nframes, sizeof *lens);
    int64_t *ts = malloc(b.batch * sizeof *ts);
    hist_value *v = malloc(b.batch * sizeof *v);
    for (size_t f = 0; f < nframes; f++) {
        char tag[64];
        snprintf(tag, sizeof tag, "bench/tls/t%zu", f % b.tags);
        int64_t base = INT64_C(1700000000000000000) + (int64_t)(f / b.tags * b.batch) * 1000000000;
        for (size_t i = 0; i < b.batch; i++) {
            ts[i] = base + (int64_t)i * 1000000000;
            v[i].f = 20.0 + (double)((f * 7 + i) % 100) * 0.01;
        }
        hist_client_series s = {tag, HIST_TYPE_FLOAT64, b.batch, ts, v, NULL};
        uint8_t *enc;
        size_t len;
        if (hist_client_encode(f + 1, NULL, &s, 1, &enc, &len) != 0)
            return 1;
        frames[f] = malloc(len + 4);
        hist_put_be32(frames[f], (uint32_t)len);
        memcpy(frames[f] + 4, enc, len);
        lens[f] = len + 4;
        free(enc);
    }
    free(ts);
    free(v);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char ca[256];
    snprintf(ca, sizeof ca, "%s/cert.pem", b.root);
    SSL_CTX_load_verify_locations(ctx, ca, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    double msps[2] = {-1, -1}, hs = 0;
    int failed = 0;
    /* plain, TLS, plain, TLS, each on a fresh data dir: the best of two */
    for (int round = 0; round < 4; round++) {
        int port, tls = round % 2;
        char name[32];
        snprintf(name, sizeof name, "%s%d", tls ? "tls" : "plain", round);
        pid_t pid = start_server(&b, name, tls, &port);
        if (pid < 0) {
            fprintf(stderr, "bench_tls: historiand did not start (%s)\n", b.root);
            return 1;
        }
        double m = run(&b, port, tls ? ctx : NULL, frames, lens, nframes, &hs);
        if (m < 0)
            failed = 1;
        else if (m > msps[tls])
            msps[tls] = m;
        stop_server(pid);
    }
    if (failed)
        fprintf(stderr, "bench_tls: a run failed (an ack missing or refused)\n");
    printf("ingest_tls.plain.msps %.3f Msamples/s\n", msps[0]);
    printf("ingest_tls.tls.msps %.3f Msamples/s\n", msps[1]);
    printf("ingest_tls.tls_vs_plain %.3f ratio\n", msps[0] > 0 ? msps[1] / msps[0] : 0);
    printf("ingest_tls.handshake_ms %.2f ms\n", hs);
    SSL_CTX_free(ctx);
    for (size_t f = 0; f < nframes; f++)
        free(frames[f]);
    free(frames);
    free(lens);
    snprintf(cmd, sizeof cmd, "rm -rf %s", b.root);
    if (system(cmd) != 0)
        return 1;
    return failed ? 1 : 0;
}
