/*
 * test_privilege.c: least privilege and the audit trail on the real
 * historiand (docs/api.md "Tag permissions", "Audit trail").
 *
 *   - a read,write token for site1/area2/ ** cannot write site1/area1/x
 *     (TCP: HIST_EAUTH naming the tag; HTTP: 403) nor read it (403 naming
 *     it); a mixed write is refused whole and nothing of it is stored;
 *   - listings (tags, the namespace tree, patterns, Grafana search) leave
 *     the other tags out;
 *   - a token stored as sha256:<hex> works;
 *   - SIGHUP picks up a new token; a bad file keeps the old grants and the
 *     log names FILE:LINE;
 *   - the audit file has the refusals, the admin action and the reloads,
 *     with the grant's id and never a token;
 *   - an unauthenticated 16 MiB frame of empty series is refused and the
 *     connection closed without the frame being decoded: the server's peak
 *     RSS grows by far less than a decode would take (581 MiB before).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define T0 INT64_C(1700000000000000000)

static const char *GW = "Authorization: Bearer gw-area2-secret\r\n";
static const char *BOSS = "Authorization: Bearer boss-secret\r\n";

static uint8_t *encode(uint64_t id, const char *const *tags, size_t n, const char *token,
                       size_t *len)
{
    int64_t ts[2] = {T0, T0 + 1000000000};
    hist_value v[2] = {{.f = 1.5}, {.f = 2.5}};
    hist_client_series s[4];
    for (size_t i = 0; i < n; i++)
        s[i] = (hist_client_series){tags[i], HIST_TYPE_FLOAT64, 2, ts, v, NULL};
    uint8_t *buf = NULL;
    if (hist_client_encode(id, token, s, n, &buf, len) != 0)
        return NULL;
    return buf;
}

static int http(const hist_harness *h, const char *method, const char *target, const char *auth,
                const void *body, size_t len, harness_response *r)
{
    if (harness_http(h->http_port, method, target, auth, body, len, r) != 0) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    return r->status;
}

static bool body_has(const harness_response *r, const char *s)
{
    return r->body && strstr(r->body, s);
}

/* One request and its status; the body checked for want (NULL: not). */
static void expect(const hist_harness *h, const char *method, const char *target, const char *auth,
                   const void *body, size_t len, int status, const char *want, const char *absent)
{
    harness_response r;
    int got = http(h, method, target, auth, body, len, &r);
    CHECKF(got == status, "%s %s: %d, want %d (%s)", method, target, got, status,
           r.body ? r.body : "");
    if (want)
        CHECKF(body_has(&r, want), "%s %s: '%s' not in %s", method, target, want,
               r.body ? r.body : "");
    if (absent)
        CHECKF(!body_has(&r, absent), "%s %s: '%s' in %s", method, target, absent,
               r.body ? r.body : "");
    harness_response_free(&r);
}

/* A TCP write on a fresh connection: the response's code, or a negative
 * transport error. *tag_out gets the first series error's tag. */
static int tcp_write(const hist_harness *h, const uint8_t *buf, size_t len, char *msg, size_t cap)
{
    hist_tcp_client *c;
    if (hist_tcp_client_connect(h->ingest_addr, 5000, &c) != 0)
        return -1000;
    Historian__V1__WriteResponse *r = NULL;
    int rc = hist_tcp_client_send(c, buf, len);
    if (rc == 0)
        rc = hist_tcp_client_recv(c, 10000, &r);
    int code = rc < 0 ? -2000 + rc : r->code;
    if (r && msg)
        snprintf(msg, cap, "%s|%s", r->error ? r->error : "", r->n_errors ? r->errors[0]->tag : "");
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    hist_tcp_client_close(c);
    return code;
}

static void write_tokens(const char *path, const char *extra)
{
    FILE *f = fopen(path, "w");
    /* "hashed-secret": sha256 of it, made with sha256sum, never the token */
    fprintf(f,
            "# test tokens\n"
            "gw-area2-secret read,write site1/area2/**\n"
            "sha256:4e598f5daafc2fda61641ddbb5956deb23fde6616366dc9dd5a7c9f47da4d787 write\n"
            "boss-secret admin\n"
            "%s",
            extra);
    fclose(f);
}

static void test_write_and_read(const hist_harness *h)
{
    /* the boss writes both areas */
    const char *both[] = {"site1/area1/x", "site1/area2/x"};
    size_t len;
    uint8_t *buf = encode(1, both, 2, "boss-secret", &len);
    expect(h, "POST", "/api/v1/write", BOSS, buf, len, 200, NULL, NULL);
    free(buf);

    /* TCP: own area fine, the other refused, a mixed frame refused whole */
    const char *own[] = {"site1/area2/y"};
    buf = encode(2, own, 1, "gw-area2-secret", &len);
    CHECK_EQ_I64(tcp_write(h, buf, len, NULL, 0), 0);
    free(buf);
    const char *mixed[] = {"site1/area2/tcp-mixed", "site1/area1/x"};
    buf = encode(3, mixed, 2, "gw-area2-secret", &len);
    char msg[512] = "";
    CHECK_EQ_I64(tcp_write(h, buf, len, msg, sizeof msg), HIST_EAUTH);
    CHECKF(strstr(msg, "site1/area1/x") != NULL, "%s", msg);
    free(buf);

    /* HTTP: the same, 403 naming the tag */
    const char *other[] = {"site1/area1/x"};
    buf = encode(4, other, 1, NULL, &len);
    expect(h, "POST", "/api/v1/write", GW, buf, len, 403, "site1/area1/x", NULL);
    free(buf);
    const char *mixed2[] = {"site1/area2/http-mixed", "site1/area1/z"};
    buf = encode(5, mixed2, 2, NULL, &len);
    expect(h, "POST", "/api/v1/write", GW, buf, len, 403, "site1/area1/z", NULL);
    free(buf);
    /* nothing of either mixed write was stored (their area2 tags do not exist) */
    expect(h, "GET", "/api/v1/tags/site1/area2/tcp-mixed", BOSS, NULL, 0, 404, NULL, NULL);
    expect(h, "GET", "/api/v1/tags/site1/area2/http-mixed", BOSS, NULL, 0, 404, NULL, NULL);
    expect(h, "GET", "/api/v1/tags/site1/area1/z", BOSS, NULL, 0, 404, NULL, NULL);

    /* reads: explicit names refused (existing or not), patterns filtered */
    const char *q = "/api/v1/query?tag=site1/area1/x&from=1699999999000&to=1700000010000";
    expect(h, "GET", q, GW, NULL, 0, 403, "site1/area1/x", NULL);
    expect(h, "GET", q, BOSS, NULL, 0, 200, "site1/area1/x", NULL);
    expect(h, "GET", "/api/v1/query?tag=site1/area1/nothing&from=1699999999000&to=1700000010000",
           GW, NULL, 0, 403, "site1/area1/nothing", NULL);
    expect(h, "GET", "/api/v1/query?pattern=site1/**&from=1699999999000&to=1700000010000", GW, NULL,
           0, 200, "site1/area2/x", "area1");
    expect(h, "GET", "/api/v1/query?pattern=site1/area1/x&from=1699999999000&to=1700000010000", GW,
           NULL, 0, 403, "site1/area1/x", NULL);
    expect(h, "GET", "/api/v1/tags/site1/area1/x", GW, NULL, 0, 403, "site1/area1/x", NULL);
    expect(h, "GET", "/api/v1/tags/site1/area2/x", GW, NULL, 0, 200, "site1/area2/x", NULL);
    expect(h, "GET", "/api/v1/tags", GW, NULL, 0, 200, "site1/area2/y", "area1");
    expect(h, "GET", "/api/v1/tags", BOSS, NULL, 0, 200, "site1/area1/x", NULL);
    expect(h, "GET", "/api/v1/tags?prefix=site1&level=1", GW, NULL, 0, 200, "site1/area2", "area1");
    expect(h, "GET", "/api/v1/tags?prefix=site1&level=1", BOSS, NULL, 0, 200, "site1/area1", NULL);
    const char *search = "{\"target\":\"site1/**\"}";
    expect(h, "POST", "/grafana/search", GW, search, strlen(search), 200, "site1/area2/x", "area1");
    const char *tv = "{\"key\":\"area\"}";
    expect(h, "POST", "/grafana/tag-values", GW, tv, strlen(tv), 200, "area2", "area1");
    expect(h, "POST", "/grafana/tag-values", BOSS, tv, strlen(tv), 200, "area1", NULL);
    const char *var = "{\"payload\":{\"key\":\"area\"}}";
    expect(h, "POST", "/grafana/variable", GW, var, strlen(var), 200, "area2", "area1");
    const char *var2 = "{\"payload\":{\"prefix\":\"site1\"}}";
    expect(h, "POST", "/grafana/variable", GW, var2, strlen(var2), 200, "site1/area2/x", "area1");
    expect(h, "GET", "/api/v1/tags?pattern=site1/area1/*", GW, NULL, 0, 200, "[]", NULL);
    expect(h, "GET", "/api/v1/tags?pattern=site1/area1/*", BOSS, NULL, 0, 200, "site1/area1/x",
           NULL);
    const char *gq =
        "{\"range\":{\"from\":\"2023-11-14T22:13:19Z\",\"to\":\"2023-11-14T22:13:30Z\"},"
        "\"targets\":[{\"target\":\"site1/area1/x\"}]}";
    expect(h, "POST", "/grafana/query", GW, gq, strlen(gq), 403, "site1/area1/x", NULL);
    /* admin on a tag outside a pattern-limited grant is refused by scope */
    const char *meta = "{\"unit\":\"degC\"}";
    expect(h, "PUT", "/api/v1/tags/site1/area2/x", GW, meta, strlen(meta), 403, "admin", NULL);
    expect(h, "PUT", "/api/v1/tags/site1/area2/x", BOSS, meta, strlen(meta), 200, "degC", NULL);
    /* /metrics: the read scope; no per-tag data in it */
    expect(h, "GET", "/metrics", GW, NULL, 0, 200, NULL, "site1/area1");

    /* the sha256 token: stored as its digest, works as the token */
    buf = encode(6, own, 1, NULL, &len);
    expect(h, "POST", "/api/v1/write", "Authorization: Bearer hashed-secret\r\n", buf, len, 200,
           NULL, NULL);
    expect(h, "POST", "/api/v1/write",
           "Authorization: Bearer "
           "4e598f5daafc2fda61641ddbb5956deb23fde6616366dc9dd5a7c9f47da4d787\r\n",
           buf, len, 401, NULL, NULL);
    free(buf);
    buf = encode(7, own, 1, "hashed-secret", &len);
    CHECK_EQ_I64(tcp_write(h, buf, len, NULL, 0), 0);
    free(buf);
}

/* Waits (bounded) until a write with token gets want. */
static bool wait_token(const hist_harness *h, const char *token, int want)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    const char *t[] = {"site1/area2/reload"};
    size_t len;
    uint8_t *buf = encode(8, t, 1, NULL, &len);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        harness_response r;
        ok = http(h, "POST", "/api/v1/write", hdr, buf, len, &r) == want;
        harness_response_free(&r);
        if (!ok)
            usleep(50000);
    }
    free(buf);
    return ok;
}

static bool wait_log(const hist_harness *h, const char *what)
{
    static char text[1 << 20];
    for (int i = 0; i < 100; i++) {
        harness_slurp(h->log_path, text, sizeof text);
        if (strstr(text, what))
            return true;
        usleep(50000);
    }
    return false;
}

static void test_reload(const hist_harness *h, const char *tokens)
{
    CHECK(wait_token(h, "new-secret", 401));
    write_tokens(tokens, "new-secret write\n");
    CHECK(kill(h->pid, SIGHUP) == 0);
    CHECK(wait_token(h, "new-secret", 200));
    CHECK(wait_log(h, "reloaded: 4 grants"));
    /* a bad file: the old grants stay, the log says where */
    FILE *f = fopen(tokens, "w");
    fprintf(f, "other-secret write\nbroken rwx\n");
    fclose(f);
    CHECK(kill(h->pid, SIGHUP) == 0);
    char want[600];
    snprintf(want, sizeof want, "%s:2: bad scopes", tokens);
    CHECKF(wait_log(h, want), "no '%s' in the log", want);
    CHECK(wait_token(h, "new-secret", 200));
    CHECK(wait_token(h, "other-secret", 401));
    CHECK(wait_token(h, "boss-secret", 200));

    /* a TCP connection that authenticated with new-secret: a reload that
     * removes the token refuses its next frame and closes it */
    const char *t[] = {"site1/area2/tcp-reload"};
    size_t len;
    uint8_t *buf = encode(20, t, 1, "new-secret", &len);
    hist_tcp_client *c = NULL;
    Historian__V1__WriteResponse *r = NULL;
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &c) == 0);
    CHECK(hist_tcp_client_send(c, buf, len) == 0 && hist_tcp_client_recv(c, 10000, &r) == 0);
    CHECKF(r && r->code == 0 && r->written == 2, "first frame: %s", r && r->error ? r->error : "");
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    r = NULL;
    write_tokens(tokens, "");
    CHECK(kill(h->pid, SIGHUP) == 0);
    CHECK(wait_token(h, "new-secret", 401));
    CHECK(hist_tcp_client_send(c, buf, len) == 0 && hist_tcp_client_recv(c, 10000, &r) == 0);
    CHECKF(r && r->code == HIST_EAUTH && r->written == 0 && r->error &&
               strstr(r->error, "no longer holds it"),
           "after the reload: code %d %s", r ? r->code : 0, r && r->error ? r->error : "");
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    r = NULL;
    /* and the server closed the connection */
    CHECK(hist_tcp_client_send(c, buf, len) != 0 || hist_tcp_client_recv(c, 5000, &r) != 0);
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    hist_tcp_client_close(c);
    free(buf);
}

/* VmHWM or VmRSS of pid, KiB. */
static long proc_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = strtol(line + strlen(key) + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void test_big_frame(const hist_harness *h)
{
    /* 16 MiB less a little: a wrong token, then empty Series fields (2
     * bytes each: about 8.4 M series) */
    size_t len = (16u << 20) - 64;
    uint8_t *buf = malloc(len);
    const char *tok = "wrong-token";
    size_t k = 0;
    buf[k++] = 0x12;
    buf[k++] = (uint8_t)strlen(tok);
    memcpy(buf + k, tok, strlen(tok));
    k += strlen(tok);
    while (k + 2 <= len) {
        buf[k++] = 0x1a;
        buf[k++] = 0x00;
    }
    len = k;
    long before = proc_kib(h->pid, "VmHWM:");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char msg[512] = "";
    int code = tcp_write(h, buf, len, msg, sizeof msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long after = proc_kib(h->pid, "VmHWM:");
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECKF(code == HIST_EAUTH, "code %d (%s)", code, msg);
    CHECKF(strstr(msg, "unknown token") != NULL, "%s", msg);
    /* the frame buffer itself (16 MiB) and slack; a decode took 581 MiB */
    CHECKF(after - before < 96 * 1024, "peak RSS grew %ld KiB", after - before);
    printf("big unauthenticated frame: %zu bytes, refused in %.1f ms, peak RSS %ld -> %ld KiB\n",
           len, ms, before, after);
    free(buf);
    /* the server goes on */
    expect(h, "GET", "/healthz", NULL, NULL, 0, 200, NULL, NULL);
}

/* An HTTP write announcing a 16 MB body without a known token is answered
 * 401 from its headers alone: the test sends no body at all, so a server
 * that waited for the body before checking the token would not answer. */
static void test_big_body(const hist_harness *h, const char *auth)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/x-protobuf\r\n%sContent-Length: 16000000\r\n\r\n",
                     auth);
    CHECK(write(fd, head, (size_t)n) == n);
    char got[2048];
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (int i = 0; i < 50 && len < sizeof got - 1 && poll(&pfd, 1, 100) >= 0; i++) {
        if (!(pfd.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(fd, got + len, sizeof got - 1 - len);
        if (r <= 0)
            break; /* the server closed after its answer */
        len += (size_t)r;
    }
    got[len] = '\0';
    close(fd);
    CHECKF(!strncmp(got, "HTTP/1.1 401", 12), "answer to an unread body: '%s'", got);
    CHECKF(strstr(got, "body was not read") != NULL, "'%s'", got);
}

static void test_audit(const char *audit_path)
{
    static char text[1 << 20];
    harness_slurp(audit_path, text, sizeof text);
    CHECKF(strstr(text, "\"event\":\"tag_refused\",\"proto\":\"tcp\"") != NULL, "%s", text);
    CHECK(strstr(text, "\"event\":\"tag_refused\",\"proto\":\"http\"") != NULL);
    CHECK(strstr(text, "\"tag\":\"site1/area1/x\"") != NULL);
    CHECK(strstr(text, "\"route\":\"/api/v1/query\",\"status\":403,\"tag\":\"site1/area1/x\"") !=
          NULL);
    CHECK(strstr(text, "\"event\":\"auth_failed\"") != NULL);
    CHECK(strstr(text, "\"event\":\"scope_refused\"") != NULL);
    CHECK(strstr(text, "\"event\":\"admin\",\"proto\":\"http\"") != NULL);
    CHECK(strstr(text,
                 "\"method\":\"PUT\",\"route\":\"/api/v1/tags/site1/area2/x\",\"status\":200") !=
          NULL);
    CHECK(strstr(text, "\"event\":\"reload\"") != NULL);
    CHECK(strstr(text, "\"status\":400") != NULL); /* the bad reload */
    CHECK(strstr(text, "\"grant\":\"sha256:") != NULL);
    CHECK(strstr(text, "\"time\":\"20") != NULL && strstr(text, "Z\",\"event\"") != NULL);
    CHECK(strstr(text, "\"peer\":\"127.0.0.1:") != NULL);
    /* never a token */
    const char *secrets[] = {"gw-area2-secret", "boss-secret", "hashed-secret", "new-secret",
                             "wrong-token"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        CHECKF(strstr(text, secrets[i]) == NULL, "%s in the audit file", secrets[i]);
    /* every line is one JSON object */
    size_t lines = 0;
    for (char *p = text; *p; lines++) {
        char *nl = strchr(p, '\n');
        CHECK(p[0] == '{' && nl && nl[-1] == '}');
        if (!nl)
            break;
        p = nl + 1;
    }
    CHECK(lines >= 10);
}

int main(void)
{
    hist_harness h;
    if (harness_init(&h, "hist-privilege") < 0)
        return 1;
    char tokens[400], audit[400];
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    snprintf(audit, sizeof audit, "%s/audit.log", h.root);
    write_tokens(tokens, "");
    const char *args[] = {"--auth-file", tokens, "--audit-file", audit, NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        harness_cleanup(&h);
        return 1;
    }
    test_write_and_read(&h);
    test_big_frame(&h);
    test_big_body(&h, "");
    test_big_body(&h, "Authorization: Bearer wrong-token\r\n");
    test_reload(&h, tokens);
    test_audit(audit);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
