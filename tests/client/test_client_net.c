/*
 * test_client_net.c: the gateway client library's network side, without
 * historiand (tools/client/hist_client.h):
 *   - https: certificates made here by the `openssl` command (a CA, a
 *     server certificate for IP 127.0.0.1, a client certificate, a wrong
 *     CA); `openssl s_server -WWW` serves a file over TLS. A GET verifies
 *     with the right --cacert and fails with a clear error (libcurl's
 *     reason and the URL) with the wrong CA or a name the certificate does
 *     not carry; a server that requires a client certificate answers only
 *     with one; the historian CLI reads over https and exits 1 with the
 *     reason when the CA is wrong;
 *   - TCP ingest over TLS against `openssl s_server -rev`: the handshake
 *     succeeds with the right CA and is refused (HIST_EAUTH, "certificate
 *     verify failed") with the wrong one or the wrong name; a server that
 *     requires a client certificate talks only to a client with one;
 *   - one connection reused: a small keep-alive HTTP server in this test
 *     counts the connections it accepts; five requests of one client and
 *     the three pages of `historian export` each come on one connection;
 *   - proxies from the environment (http_proxy, NO_PROXY), with the
 *     counting server as the proxy;
 *   - timeouts: a server that never answers ends the request at its
 *     timeout with libcurl's reason and the URL, and the CLI exits 1;
 *   - an IPv6 literal URL (http://[::1]:port) connects, when ::1 is usable
 *     here (else the case says it skipped);
 *   - a raw request (hist_http_send_raw) over TLS;
 *   - URL parsing: schemes, default ports, brackets, malformed URLs.
 * Every process started is stopped by its PID; every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "tools/client/hist_client.h"

static char dir[256];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Processes ---- */

/* Starts argv with stdout and stderr into log (stdin /dev/null), in cwd. */
static pid_t spawn(char *const argv[], const char *cwd, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || (cwd && chdir(cwd) != 0))
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to ms for pid: its exit status, or -1 (then it is killed). */
static int wait_exit(pid_t pid, int ms)
{
    int st = 0;
    for (int64_t end = now_ms() + ms; now_ms() < end; usleep(10000))
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static void stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (wait_exit(pid, 5000) == -1)
        fprintf(stderr, "process %d needed SIGKILL\n", (int)pid);
}

static int sh(const char *cmd)
{
    char full[4096];
    snprintf(full, sizeof full, "cd %s && (%s) >>openssl.log 2>&1", dir, cmd);
    return system(full);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static char *path_in(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* A free loopback port (bound, then released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- Certificates ---- */

static bool make_certs(void)
{
    const char *ext =
        "printf 'subjectAltName=IP:127.0.0.1,IP:::1\\nextendedKeyUsage=serverAuth\\n' "
        "> srv.ext && printf 'extendedKeyUsage=clientAuth\\n' > cli.ext";
    const char *steps[] = {
        ext,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj /CN=test-ca",
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout wrong.key -out wrong.pem -days 2 "
        "-subj /CN=wrong-ca",
        "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=historiand",
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
        "-days 2 -extfile srv.ext",
        "openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=gateway1",
        "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem "
        "-days 2 -extfile cli.ext",
        "mkdir -p www/api/v1 && printf 'hello over tls\\n' > www/hello.txt && "
        "printf '{\"tags\": 7, \"samples\": 4242}' > www/api/v1/stats",
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (sh(steps[i]) != 0) {
            fprintf(stderr, "certificate step failed: %s\n", steps[i]);
            return false;
        }
    return true;
}

/* Starts `openssl s_server` on port in mode (-WWW, -rev), optionally
 * requiring a client certificate; waits up to 10 s until it listens. */
static pid_t start_s_server(int port, const char *mode, bool want_client_cert, const char *log)
{
    char accept_arg[64];
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
    char *argv[16] = {"openssl",          "s_server", "-accept",          accept_arg,   "-cert",
                      path_in("srv.pem"), "-key",     path_in("srv.key"), (char *)mode, "-quiet"};
    int n = 10;
    if (want_client_cert) {
        argv[n++] = "-Verify";
        argv[n++] = "1";
        argv[n++] = "-CAfile";
        argv[n++] = path_in("ca.pem");
    }
    argv[n] = NULL;
    pid_t pid = spawn(argv, path_in("www"), log);
    /* up once it accepts a TCP connection (its ACCEPT line is buffered);
     * the probe's failed handshake does not stop it */
    for (int64_t end = now_ms() + 10000; now_ms() < end; usleep(20000)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool up = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (up)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
    }
    stop(pid);
    return -1;
}

/* ---- https ---- */

static int get(const char *url, const hist_tls_opts *tls, const char *target,
               hist_http_response *resp, char *err, size_t errlen)
{
    hist_http_client *c = NULL;
    memset(resp, 0, sizeof *resp);
    if (hist_http_client_new(url, tls, &c, err, errlen) < 0)
        return -1;
    int rc =
        hist_http_client_request(c, "GET", target, NULL, NULL, NULL, 0, 5000, resp, err, errlen);
    hist_http_client_free(c);
    return rc;
}

static void test_https(void)
{
    int port = free_port();
    pid_t srv = start_s_server(port, "-WWW", false, path_in("www.log"));
    REQUIRE(srv > 0);
    char url[128], err[512];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    hist_http_response r;

    hist_tls_opts good = {.ca_file = path_in("ca.pem")};
    int rc = get(url, &good, "/hello.txt", &r, err, sizeof err);
    CHECKF(rc == 0 && r.status == 200, "rc %d status %d: %s", rc, r.status, rc ? err : "");
    CHECK(rc == 0 && r.body && !strcmp(r.body, "hello over tls\n"));
    hist_http_response_free(&r);

    /* a raw request over TLS (tests of odd requests to a TLS listener) */
    hist_http_url raw_url;
    REQUIRE(hist_http_url_parse(url, &raw_url) == 0);
    rc = hist_http_send_raw(&raw_url, "GET /hello.txt HTTP/1.0\r\n\r\n", NULL, 0, 5000, &r, err,
                            sizeof err);
    CHECKF(rc == 0 && r.status == 200 && !strcmp(r.body, "hello over tls\n"), "rc %d: %s", rc,
           rc ? err : r.body);
    hist_http_response_free(&r);

    hist_tls_opts wrong = {.ca_file = path_in("wrong.pem")};
    rc = get(url, &wrong, "/hello.txt", &r, err, sizeof err);
    CHECK(rc == -1);
    CHECKF(strstr(err, "SSL certificate problem") && strstr(err, url), "%s", err);
    hist_http_response_free(&r);

    /* the certificate names 127.0.0.1 and ::1, not localhost */
    char by_name[128];
    snprintf(by_name, sizeof by_name, "https://localhost:%d", port);
    rc = get(by_name, &good, "/hello.txt", &r, err, sizeof err);
    CHECKF(rc == -1 && strstr(err, by_name), "rc %d: %s", rc, err);
    hist_http_response_free(&r);

    /* the historian CLI over https: the stats the server "has" */
    char bin[512];
    const char *bdir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/historian", bdir ? bdir : "tools");
    char *ok_argv[] = {bin, "stats",    "--format",        "json", "--server",
                       url, "--cacert", path_in("ca.pem"), NULL};
    int ex = wait_exit(spawn(ok_argv, NULL, path_in("cli_ok.log")), 30000);
    char *out = slurp(path_in("cli_ok.log"));
    CHECKF(ex == 0 && strstr(out, "4242"), "exit %d: %s", ex, out);
    free(out);
    char *bad_argv[] = {bin, "stats", "--server", url, "--cacert", path_in("wrong.pem"), NULL};
    ex = wait_exit(spawn(bad_argv, NULL, path_in("cli_bad.log")), 30000);
    out = slurp(path_in("cli_bad.log"));
    CHECKF(ex == 1 && strstr(out, "historian stats: GET ") && strstr(out, url) &&
               strstr(out, "certificate"),
           "exit %d: %s", ex, out);
    free(out);
    stop(srv);

    /* a server that requires a client certificate */
    port = free_port();
    srv = start_s_server(port, "-WWW", true, path_in("www_mtls.log"));
    REQUIRE(srv > 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    rc = get(url, &good, "/hello.txt", &r, err, sizeof err);
    CHECKF(rc == -1 && strstr(err, url), "without a client certificate: rc %d", rc);
    hist_http_response_free(&r);
    hist_tls_opts mtls = {.ca_file = path_in("ca.pem"),
                          .cert_file = path_in("cli.pem"),
                          .key_file = path_in("cli.key")};
    rc = get(url, &mtls, "/hello.txt", &r, err, sizeof err);
    CHECKF(rc == 0 && r.status == 200, "with a client certificate: rc %d: %s", rc, err);
    hist_http_response_free(&r);
    stop(srv);
}

/* ---- TCP over TLS ---- */

static void test_tcp_tls(void)
{
    int port = free_port();
    pid_t srv = start_s_server(port, "-rev", false, path_in("rev.log"));
    REQUIRE(srv > 0);
    char addr[128], err[512];
    snprintf(addr, sizeof addr, "tcps://127.0.0.1:%d", port);
    hist_tls_opts good = {.ca_file = path_in("ca.pem")};
    hist_tcp_client *c = NULL;
    int rc = hist_tcp_client_open(addr, &good, 5000, &c, err, sizeof err);
    CHECKF(rc == 0, "%d: %s", rc, err);
    if (rc == 0) {
        /* the -rev server answers every line reversed, through TLS */
        CHECK_OK(hist_tcp_client_send_bytes(c, "olleh\n", 6));
        /* "hell" read as a frame length is over the 64 MiB limit: the
         * answer came back through TLS, as bytes that are no frame */
        Historian__V1__WriteResponse *resp = NULL;
        CHECK_EQ_I64(hist_tcp_client_recv(c, 5000, &resp), HIST_EPROTO);
        hist_tcp_client_close(c);
    }

    /* --tls with a plain host:port means the same */
    hist_tls_opts on = {.ca_file = path_in("ca.pem"), .on = true};
    rc = hist_tcp_client_open(addr + 7, &on, 5000, &c, err, sizeof err);
    CHECKF(rc == 0, "%d: %s", rc, err);
    if (rc == 0)
        hist_tcp_client_close(c);

    hist_tls_opts wrong = {.ca_file = path_in("wrong.pem")};
    rc = hist_tcp_client_open(addr, &wrong, 5000, &c, err, sizeof err);
    CHECK_EQ_I64(rc, HIST_EAUTH);
    CHECKF(rc != 0 && strstr(err, "certificate verify failed"), "%s", err);

    /* without the CA option the system's store does not know our CA */
    rc = hist_tcp_client_connect(addr, 5000, &c);
    CHECK_EQ_I64(rc, HIST_EAUTH);

    char by_name[128];
    snprintf(by_name, sizeof by_name, "tcps://localhost:%d", port);
    rc = hist_tcp_client_open(by_name, &good, 5000, &c, err, sizeof err);
    CHECKF(rc != 0, "localhost is not in the certificate");
    if (rc == 0)
        hist_tcp_client_close(c);

    /* a server that requires a client certificate: with one the bytes come
     * back; without one the server ends the connection (TLS 1.3 tells the
     * client after its side of the handshake, at the first read) */
    stop(srv);
    port = free_port();
    srv = start_s_server(port, "-rev", true, path_in("rev_mtls.log"));
    REQUIRE(srv > 0);
    snprintf(addr, sizeof addr, "tcps://127.0.0.1:%d", port);
    hist_tls_opts mtls = {.ca_file = path_in("ca.pem"),
                          .cert_file = path_in("cli.pem"),
                          .key_file = path_in("cli.key")};
    for (int with_cert = 1; with_cert >= 0; with_cert--) {
        rc = hist_tcp_client_open(addr, with_cert ? &mtls : &good, 5000, &c, err, sizeof err);
        if (rc == 0) {
            Historian__V1__WriteResponse *resp = NULL;
            int sent = hist_tcp_client_send_bytes(c, "olleh\n", 6);
            int got = sent == 0 ? hist_tcp_client_recv(c, 5000, &resp) : sent;
            CHECKF(with_cert ? got == HIST_EPROTO : got == HIST_ECLOSED, "with cert %d: %d",
                   with_cert, got);
            hist_tcp_client_close(c);
        } else {
            CHECKF(!with_cert, "with a client certificate: %d: %s", rc, err);
        }
    }

    /* historian simulate with the wrong CA: says why, keeps nothing acked */
    char bin[512];
    const char *bdir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/historian", bdir ? bdir : "tools");
    char *argv[] = {bin,       "simulate",        "--tags",
                    "1",       "--duration",      "1",
                    "--fast",  "--drain-timeout", "1",
                    "--spool", path_in("spool"),  "--ingest",
                    addr,      "--cacert",        path_in("wrong.pem"),
                    NULL};
    int ex = wait_exit(spawn(argv, NULL, path_in("simulate.log")), 30000);
    char *out = slurp(path_in("simulate.log"));
    CHECKF(ex == 1 && strstr(out, "ingest: ") && strstr(out, "certificate verify failed"),
           "exit %d: %s", ex, out);
    free(out);

    /* the server dies under an open TLS connection: writing on fails and
     * raises no SIGPIPE (this test does not ignore it: it would end here) */
    hist_tcp_client *open_c = NULL;
    rc = hist_tcp_client_open(addr, &mtls, 5000, &open_c, err, sizeof err);
    CHECKF(rc == 0, "%d: %s", rc, err);
    stop(srv);
    if (rc == 0) {
        static const char junk[16384];
        /* the first failure is the reset; the writes after it are the ones
         * that meet EPIPE */
        int wrc = 0, fails = 0;
        for (int i = 0; i < 50 && fails < 3; i++) {
            int r = hist_tcp_client_send_bytes(open_c, junk, sizeof junk);
            if (r != 0 && fails++ == 0)
                wrc = r;
            usleep(10000);
        }
        CHECK_EQ_I64(wrc, HIST_ECLOSED);
        CHECK_EQ_I64(fails, 3);
        hist_tcp_client_close(open_c);
    }
}

/* ---- A keep-alive HTTP server that counts its connections ---- */

typedef struct {
    int lfd;
    atomic_int accepted, requests;
    atomic_bool stop;
    char last_request[2048];
} count_server;

/* The answer to one request line: pages by cursor. */
static void answer(int fd, const char *req)
{
    const char *next = "c1";
    int row = 1;
    if (strstr(req, "cursor=c2")) {
        next = NULL;
        row = 3;
    } else if (strstr(req, "cursor=c1")) {
        next = "c2";
        row = 2;
    }
    char body[128], head[512];
    int bl = snprintf(body, sizeof body, "tag,time,value\nA,2026-01-01T00:00:0%dZ,%d\n", row, row);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n"
                      "%s%s%s\r\n",
                      bl, next ? "X-Historian-Next: " : "", next ? next : "", next ? "\r\n" : "");
    if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) < 0 ||
        send(fd, body, (size_t)bl, MSG_NOSIGNAL) < 0)
        perror("test server send");
}

/* Reads what came on fd and answers every complete request (GETs, no
 * body): false when the client closed. */
static bool serve_conn(count_server *s, int fd, char *buf, size_t *len, size_t cap)
{
    ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
    if (n <= 0)
        return false;
    *len += (size_t)n;
    buf[*len] = '\0';
    char *end;
    while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
        size_t reqlen = (size_t)(end + 4 - buf);
        snprintf(s->last_request, sizeof s->last_request, "%.*s", (int)reqlen, buf);
        s->requests++;
        answer(fd, buf);
        memmove(buf, buf + reqlen, *len - reqlen + 1);
        *len -= reqlen;
    }
    return true;
}

static void *count_server_run(void *arg)
{
    count_server *s = arg;
    struct pollfd p[9] = {{.fd = s->lfd, .events = POLLIN}};
    char bufs[8][4096];
    size_t lens[8] = {0};
    int n = 1;
    while (!s->stop) {
        if (poll(p, (nfds_t)n, 50) <= 0)
            continue;
        if ((p[0].revents & POLLIN) && n < 9) {
            int fd = accept(s->lfd, NULL, NULL);
            if (fd >= 0) {
                s->accepted++;
                p[n] = (struct pollfd){.fd = fd, .events = POLLIN};
                lens[n - 1] = 0;
                n++;
            }
        }
        for (int i = 1; i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (!serve_conn(s, p[i].fd, bufs[i - 1], &lens[i - 1], sizeof bufs[0])) {
                close(p[i].fd);
                p[i] = p[n - 1];
                memcpy(bufs[i - 1], bufs[n - 2], lens[n - 2] + 1);
                lens[i - 1] = lens[n - 2];
                n--;
                i--;
            }
        }
    }
    for (int i = 1; i < n; i++)
        close(p[i].fd);
    return NULL;
}

/* Listens on the loopback of family (AF_INET or AF_INET6): the port, or -1. */
static int count_server_start(count_server *s, int family, pthread_t *th)
{
    memset(s, 0, sizeof *s);
    s->lfd = socket(family, SOCK_STREAM, 0);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    }
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&ss, &sl) != 0) {
        if (s->lfd >= 0)
            close(s->lfd);
        return -1;
    }
    int port = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (pthread_create(th, NULL, count_server_run, s) != 0) {
        close(s->lfd);
        return -1;
    }
    return port;
}

static void count_server_stop(count_server *s, pthread_t th)
{
    s->stop = true;
    pthread_join(th, NULL);
    close(s->lfd);
}

static void test_reuse(void)
{
    count_server s;
    pthread_t th;
    int port = count_server_start(&s, AF_INET, &th);
    REQUIRE(port > 0);
    char url[128], err[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    hist_http_client *c = NULL;
    REQUIRE(hist_http_client_new(url, NULL, &c, err, sizeof err) == 0);
    int ok = 0;
    for (int i = 0; i < 5; i++) {
        hist_http_response r;
        if (hist_http_client_request(c, "GET", i % 2 ? "/p?cursor=c1" : "/p", "tok3n", NULL, NULL,
                                     0, 5000, &r, err, sizeof err) == 0 &&
            r.status == 200)
            ok += (i % 2 ? !strcmp(r.next, "c2") : !strcmp(r.next, "c1")) &&
                  strstr(r.headers, "Content-Type: text/csv\n") && strstr(r.body, "tag,time");
        hist_http_response_free(&r);
    }
    CHECK_EQ_I64(ok, 5);
    CHECK_EQ_I64(s.requests, 5);
    CHECK_EQ_I64(s.accepted, 1);
    CHECK_EQ_I64(hist_http_client_connects(c), 1);
    CHECK(strstr(s.last_request, "Authorization: Bearer tok3n\r\n") != NULL);
    CHECK(strstr(s.last_request, "GET /p HTTP/1.1\r\n") == s.last_request);
    hist_http_client_free(c);

    /* historian export: three pages, one connection */
    int before = s.accepted, reqs = s.requests;
    char bin[512];
    const char *bdir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/historian", bdir ? bdir : "tools");
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    char *argv[] = {bin, "export", "A", "--server", url, NULL};
    int ex = wait_exit(spawn(argv, NULL, path_in("export.log")), 30000);
    char *out = slurp(path_in("export.log"));
    CHECKF(ex == 0 && !strcmp(out, "tag,time,value\nA,2026-01-01T00:00:01Z,1\n"
                                   "A,2026-01-01T00:00:02Z,2\nA,2026-01-01T00:00:03Z,3\n"),
           "exit %d: %s", ex, out);
    free(out);
    CHECK_EQ_I64(s.requests - reqs, 3);
    CHECK_EQ_I64(s.accepted - before, 1);
    count_server_stop(&s, th);

    /* a server that is gone: curl's reason and the URL */
    hist_http_response r;
    int rc = get(url, NULL, "/x", &r, err, sizeof err);
    CHECKF(rc == -1 && strstr(err, "GET http://127.0.0.1:") && strstr(err, "/x: "), "%s", err);
    hist_http_response_free(&r);
}

/* http_proxy from the environment: the request goes to the proxy, with
 * the absolute URL; NO_PROXY sends it past. */
static void test_proxy(void)
{
    count_server s;
    pthread_t th;
    int port = count_server_start(&s, AF_INET, &th);
    REQUIRE(port > 0);
    char proxy[64], err[512];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    setenv("http_proxy", proxy, 1);
    hist_http_response r;
    int rc = get("http://historian.invalid:9460", NULL, "/via", &r, err, sizeof err);
    CHECKF(rc == 0 && r.status == 200 && s.requests == 1, "rc %d: %s", rc, err);
    CHECKF(strstr(s.last_request, "GET http://historian.invalid:9460/via HTTP/1.1\r\n") ==
               s.last_request,
           "%s", s.last_request);
    hist_http_response_free(&r);
    setenv("NO_PROXY", "historian.invalid", 1);
    rc = get("http://historian.invalid:9460", NULL, "/direct", &r, err, sizeof err);
    CHECKF(rc == -1 && s.requests == 1 && strstr(err, "historian.invalid"), "rc %d: %s", rc, err);
    hist_http_response_free(&r);
    unsetenv("NO_PROXY");
    unsetenv("http_proxy");
    count_server_stop(&s, th);
}

/* A server that takes the connection (the kernel's backlog) and never
 * answers: the request ends at its timeout with libcurl's reason and the
 * URL; the CLI exits 1. */
static void test_timeout(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    REQUIRE(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 8) == 0 &&
            getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    char url[64], err[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    hist_http_client *c = NULL;
    REQUIRE(hist_http_client_new(url, NULL, &c, err, sizeof err) == 0);
    hist_http_response r;
    int64_t t0 = now_ms();
    int rc =
        hist_http_client_request(c, "GET", "/slow", NULL, NULL, NULL, 0, 300, &r, err, sizeof err);
    int64_t took = now_ms() - t0;
    CHECKF(rc == -1 && strstr(err, "timed out") && strstr(err, "/slow"), "rc %d: %s", rc, err);
    CHECKF(took >= 250 && took < 3000, "took %lld ms", (long long)took);
    hist_http_response_free(&r);
    hist_http_client_free(c);

    char bin[512];
    const char *bdir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/historian", bdir ? bdir : "tools");
    char *argv[] = {bin, "stats", "--timeout", "1", "--server", url, NULL};
    int ex = wait_exit(spawn(argv, NULL, path_in("timeout.log")), 30000);
    char *out = slurp(path_in("timeout.log"));
    CHECKF(ex == 1 && strstr(out, "historian stats: GET ") && strstr(out, url) &&
               strstr(out, "timed out"),
           "exit %d: %s", ex, out);
    free(out);
    close(lfd);
}

static void test_ipv6(void)
{
    count_server s;
    pthread_t th;
    int port = count_server_start(&s, AF_INET6, &th);
    if (port < 0) {
        printf("ipv6: ::1 is not usable here (%s): case skipped\n", strerror(errno));
        return;
    }
    char url[128], err[512];
    snprintf(url, sizeof url, "http://[::1]:%d", port);
    hist_http_response r;
    int rc = get(url, NULL, "/v6", &r, err, sizeof err);
    CHECKF(rc == 0 && r.status == 200 && s.accepted == 1, "rc %d: %s", rc, err);
    CHECK(strstr(s.last_request, "Host: [::1]:") != NULL);
    hist_http_response_free(&r);
    /* the one-shot request on a parsed URL */
    hist_http_url u;
    REQUIRE(hist_http_url_parse(url, &u) == 0);
    rc = hist_http_request(&u, "GET", "/again", NULL, NULL, NULL, 0, 5000, &r, err, sizeof err);
    CHECKF(rc == 0 && r.status == 200 && s.accepted == 2 && strstr(s.last_request, "GET /again "),
           "rc %d: %s", rc, err);
    hist_http_response_free(&r);

    /* the CLI with an IPv6 literal: export's three pages on one connection */
    char bin[512];
    const char *bdir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/historian", bdir ? bdir : "tools");
    char *argv[] = {bin, "export", "A", "--server", url, NULL};
    int ex = wait_exit(spawn(argv, NULL, path_in("export6.log")), 30000);
    char *out = slurp(path_in("export6.log"));
    CHECKF(ex == 0 && strstr(out, "A,2026-01-01T00:00:03Z,3\n") && s.accepted == 3, "exit %d: %s",
           ex, out);
    free(out);

    /* the TCP client with a bracketed IPv6 address (a connect is enough) */
    char addr[64];
    snprintf(addr, sizeof addr, "[::1]:%d", port);
    hist_tcp_client *c = NULL;
    CHECK(hist_tcp_client_connect(addr, 5000, &c) == 0);
    hist_tcp_client_close(c);
    CHECK(hist_tcp_client_connect("[::1:80", 5000, &c) == HIST_EINVAL);
    count_server_stop(&s, th);
}

static void test_url_parse(void)
{
    hist_http_url u;
    CHECK(hist_http_url_parse("http://h", &u) == 0 && !strcmp(u.scheme, "http") &&
          !strcmp(u.port, "80") && !strcmp(u.base, ""));
    CHECK(hist_http_url_parse("https://h.example/api/", &u) == 0 && !strcmp(u.scheme, "https") &&
          !strcmp(u.port, "443") && !strcmp(u.host, "h.example") && !strcmp(u.base, "/api"));
    CHECK(hist_http_url_parse("http://[::1]:9460", &u) == 0 && !strcmp(u.host, "::1") &&
          !strcmp(u.port, "9460"));
    CHECK(hist_http_url_parse("https://[fe80::1]/x", &u) == 0 && !strcmp(u.host, "fe80::1") &&
          !strcmp(u.port, "443") && !strcmp(u.base, "/x"));
    CHECK(hist_http_url_parse("ftp://h", &u) == -1);
    CHECK(hist_http_url_parse("http://[::1", &u) == -1);
    CHECK(hist_http_url_parse("http://[]:80", &u) == -1);
    CHECK(hist_http_url_parse("http://h:0", &u) == -1);
    CHECK(hist_http_url_parse("http://h:99999", &u) == -1);
    CHECK(hist_http_url_parse("http://u@h", &u) == -1);
    CHECK(hist_http_url_parse("http://:80", &u) == -1);
    CHECK(hist_http_url_parse("http://h/a?b", &u) == -1);
}

int main(void)
{
    /* hermetic: no proxy of the environment between us and our servers */
    const char *proxy_vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof *proxy_vars; i++)
        unsetenv(proxy_vars[i]);
    REQUIRE(test_tmpdir(dir, sizeof dir, "client_net"));
    test_url_parse();
    test_reuse();
    test_proxy();
    test_timeout();
    test_ipv6();
    if (make_certs()) {
        test_https();
        test_tcp_tls();
    } else {
        CHECKF(0, "cannot make certificates with openssl (see %s/openssl.log)", dir);
    }
    int rc = check_summary();
    if (rc == 0)
        test_rm_rf(dir);
    else
        fprintf(stderr, "kept %s\n", dir);
    return rc;
}
