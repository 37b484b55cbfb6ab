/*
 * test_auth.c: the tokens file (ingest/auth.c): plain and sha256 tokens,
 * scopes, tag patterns, cert: lines and their lookup by subject, bad lines
 * named by FILE:LINE, snapshot references; the audit line's JSON escaping
 * (ingest/audit.c); the token peek that runs before a TCP frame is decoded.
 */
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "ingest/ingest.h"
#include "pbw.h"
#include "query/api/hist_api.h"
#include "tmpdir.h"

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* sha256 of "secret-b" as hex, computed by the test with auth__sha256. */
static void hex_of(const char *s, char out[65])
{
    unsigned char d[32];
    CHECK(auth__sha256(s, strlen(s), d) == 0);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static const auth_grant *tok(hist_auth *a, const char *t)
{
    return auth__grant_for_token(a, t, strlen(t));
}

static void test_good_file(void)
{
    char hex[65], text[1024];
    hex_of("secret-b", hex);
    snprintf(text, sizeof text,
             "# gateways\n"
             "secret-a write site1/area2/**   # one area\n"
             "\n"
             "sha256:%s read,write\n"
             "reader read site1/*/temp* site2/**\n"
             "boss admin\n"
             "cert:CN=gw1,O=Plant write site1/area1/**\n"
             "cert:\"CN=gw 2,O=Acme \\\"Inc\\\"\" read\n",
             hex);
    char err[256] = "";
    hist_auth *a = NULL;
    CHECKF(auth__load(write_file("good", text), &a, err, sizeof err) == 0, "%s", err);
    if (!a)
        return;
    CHECK(auth__count(a) == 6);
    const auth_grant *g = tok(a, "secret-a");
    CHECK(g && g->scopes == HIST_SCOPE_WRITE);
    CHECK(g && auth__allows_tag(g, "site1/area2/x") && !auth__allows_tag(g, "site1/area1/x"));
    CHECK(g && !strncmp(g->id, "sha256:", 7) && strlen(g->id) == 15);
    CHECK(g && !strstr(g->id, "secret"));
    g = tok(a, "secret-b"); /* stored only as its digest */
    CHECK(g && g->scopes == (HIST_SCOPE_READ | HIST_SCOPE_WRITE) && g->tags == NULL);
    CHECK(g && !strncmp(g->id + 7, hex, 8));
    CHECK(tok(a, hex) == NULL); /* the digest itself is not a token */
    g = tok(a, "reader");
    CHECK(g && auth__allows_tag(g, "site1/a/temp1") && auth__allows_tag(g, "site2/x/y") &&
          !auth__allows_tag(g, "site1/a/press"));
    g = tok(a, "boss");
    CHECK(g && g->scopes == (HIST_SCOPE_READ | HIST_SCOPE_WRITE | HIST_SCOPE_ADMIN));
    /* unknown, prefixes and extensions of a token, empty */
    CHECK(tok(a, "secret-") == NULL && tok(a, "secret-aa") == NULL && tok(a, "nope") == NULL);
    CHECK(auth__grant_for_token(a, "", 0) == NULL && auth__grant_for_token(a, NULL, 0) == NULL);
    CHECK(auth__grant_for_token(a, "secret-a\0x", 10) == NULL); /* bytes after a NUL count */
    /* a token line is never found by subject, nor a cert line by token */
    CHECK(tok(a, "cert:CN=gw1,O=Plant") == NULL);
    CHECK(auth__grant_for_subject(a, "secret-a") == NULL);
    g = auth__grant_for_subject(a, "CN=gw1,O=Plant");
    CHECK(g && g->scopes == HIST_SCOPE_WRITE && auth__allows_tag(g, "site1/area1/p") &&
          !auth__allows_tag(g, "site1/area2/p"));
    CHECK(g && !strcmp(g->id, "cert:7") && !strcmp(g->subject, "CN=gw1,O=Plant"));
    g = auth__grant_for_subject(a, "CN=gw 2,O=Acme \"Inc\"");
    CHECK(g && g->scopes == HIST_SCOPE_READ);
    CHECK(auth__grant_for_subject(a, "CN=gw1") == NULL);
    CHECK(auth__grant_for_subject(a, "cn=gw1,o=plant") == NULL); /* exact */
    CHECK(auth__grant_for_subject(a, "") == NULL && auth__grant_for_subject(a, NULL) == NULL);
    /* references: the snapshot lives until the last one goes */
    auth__ref(a);
    auth__unref(a);
    g = tok(a, "secret-a");
    CHECK(g && g->scopes == HIST_SCOPE_WRITE);
    auth__unref(a);
}

static void test_open(void)
{
    const auth_grant *g = auth__grant_for_token(NULL, NULL, 0);
    CHECK(g && g->scopes == (HIST_SCOPE_READ | HIST_SCOPE_WRITE | HIST_SCOPE_ADMIN) && !g->tags);
    CHECK(auth__grant_for_subject(NULL, "CN=x") == g);
    CHECK(!auth__allows_tag(NULL, "x"));
}

static void bad(const char *text, const char *want)
{
    char err[256] = "";
    hist_auth *a = (hist_auth *)1;
    const char *path = write_file("bad", text);
    int rc = auth__load(path, &a, err, sizeof err);
    CHECKF(rc < 0 && a == NULL, "%s loaded", text);
    char expect[600];
    snprintf(expect, sizeof expect, "%s%s", path, want);
    CHECKF(!strncmp(err, expect, strlen(expect)), "got '%s', want '%s...'", err, expect);
}

static void test_bad_lines(void)
{
    bad("good read\nonly-a-token\n", ":2: expected");
    bad("good read\n\n# c\nt rwx\n", ":4: bad scopes");
    bad("t read,\n", ":1: bad scopes");
    bad("t read site1//x\n", ":1: bad tag pattern");
    bad("t read a**/b\n", ":1: bad tag pattern");
    bad("sha256:abcd read\n", ":1: sha256: must be followed by 64 hex digits");
    bad("sha256:zz00000000000000000000000000000000000000000000000000000000000000 read\n",
        ":1: sha256:");
    bad("a read\nb write\na admin\n", ":3: the same token as line 1");
    bad("cert:CN=x read\ncert:CN=x write\n", ":2: the same certificate subject as line 1");
    bad("cert: read\n", ":1: cert: needs a subject");
    bad("cert:\"CN=open quote read\n", ":1: unclosed quote");
    bad("# only comments\n\n", ": no grants");
    char err[256];
    hist_auth *a;
    CHECK(auth__load("/nonexistent/tokens", &a, err, sizeof err) == HIST_EIO);
    CHECK(strstr(err, "/nonexistent/tokens") != NULL);
}

/* The compare is constant-time by construction (CRYPTO_memcmp over every
 * grant); here the path runs over many grants, a match first, last and
 * absent, and answers alike. */
static void test_many(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/many", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 500; i++)
        fprintf(f, "token-%03d %s site%d/**\n", i, i % 2 ? "read" : "write", i);
    fclose(f);
    char err[256];
    hist_auth *a = NULL;
    CHECK(auth__load(path, &a, err, sizeof err) == 0);
    if (!a)
        return;
    const auth_grant *first = tok(a, "token-000"), *last = tok(a, "token-499");
    CHECK(first && first->scopes == HIST_SCOPE_WRITE && auth__allows_tag(first, "site0/x"));
    CHECK(last && last->scopes == HIST_SCOPE_READ && auth__allows_tag(last, "site499/x") &&
          !auth__allows_tag(last, "site0/x"));
    CHECK(tok(a, "token-500") == NULL);
    auth__unref(a);
}

static void test_audit_escape(void)
{
    hist_buf b;
    hist_buf_init(&b);
    audit__json_string(&b, "a\"b\\c\n\x01 \xc3\xa9 \xff end");
    CHECKF(!strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \\ufffd end\""), "%s", b.data);
    hist_buf_free(&b);
    /* a whole line into a file */
    char path[512], text[2048];
    snprintf(path, sizeof path, "%s/audit", dir);
    char err[256];
    hist_audit *au = NULL;
    CHECK(audit__open(path, &au, err, sizeof err) == 0);
    auth_grant g = {.scopes = HIST_SCOPE_WRITE, .id = "sha256:01020304"};
    audit_event ev = {.event = "tag_refused",
                      .proto = "http",
                      .peer = "127.0.0.1:5000",
                      .grant = &g,
                      .method = "POST",
                      .route = "/api/v1/write",
                      .status = 403,
                      .tag = "site1/\"area1\"/x"};
    audit__log(au, &ev);
    audit__close(au);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    CHECKF(!strncmp(text, "{\"time\":\"20", 11), "%s", text);
    CHECKF(strstr(text,
                  "Z\",\"event\":\"tag_refused\",\"proto\":\"http\",\"peer\":\"127.0.0.1:5000\","
                  "\"grant\":\"sha256:01020304\",\"method\":\"POST\",\"route\":"
                  "\"/api/v1/write\",\"status\":403,\"tag\":\"site1/\\\"area1\\\"/x\"}\n"),
           "%s", text);
}

static void test_peek(void)
{
    pbw w = {0};
    pbw_uint(&w, 1, 42);
    pbw_bytes(&w, 3, "", 0);
    pbw_str(&w, 2, "tok-1");
    pbw_bytes(&w, 3, "", 0);
    const uint8_t *t;
    size_t n;
    uint64_t id;
    CHECK(decode__peek_token(w.p, w.len, &t, &n, &id) == 0);
    CHECK(t && n == 5 && !memcmp(t, "tok-1", 5) && id == 42);
    CHECK(decode__peek_token(w.p, w.len - 1, &t, &n, &id) == HIST_EPROTO);
    pbw_free(&w);
    CHECK(decode__peek_token((const uint8_t *)"", 0, &t, &n, &id) == 0 && t == NULL);
}

int main(void)
{
    if (!test_tmpdir(dir, sizeof dir, "test_auth"))
        return 1;
    test_good_file();
    test_open();
    test_bad_lines();
    test_many();
    test_audit_escape();
    test_peek();
    test_rm_rf(dir);
    return check_summary();
}
