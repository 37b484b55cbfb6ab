/*
 * http_curl.c: the gateway client library's HTTP client on libcurl (see
 * hist_client.h): one easy handle per client, so that requests made one
 * after another (the pages of an export) reuse its connection; http:// and
 * https:// (the CA, the client certificate and the server's name checked
 * by libcurl with OpenSSL), proxies from the environment, IPv6 literals.
 * Headers and body are collected into a hist_http_response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/hist_array.h"
#include "tools/client/client_internal.h"
#include "tools/client/hist_client.h"

struct hist_http_client {
    CURL *curl;
    char *base;       /* scheme://host:port/base, the host bracketed when IPv6 */
    char *target_url; /* base + the current target */
    long connects;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one response collects while libcurl hands it over. */
typedef struct {
    hist_http_response *resp;
    size_t body_cap, headers_len, headers_cap;
    bool failed; /* out of memory */
} collect;

static size_t on_body(char *at, size_t size, size_t n, void *ctx)
{
    collect *c = ctx;
    hist_http_response *r = c->resp;
    if (client_append(&r->body, &r->body_len, &c->body_cap, at, n) < 0) {
        c->failed = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Copies a header's value (leading blanks skipped) into dst. */
static void copy_value(char *dst, size_t cap, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Starts over at a status line: the headers of an interim answer (100,
 * a proxy's CONNECT reply) are not the response's. */
static void restart_headers(collect *c)
{
    hist_http_response *r = c->resp;
    c->headers_len = 0;
    if (r->headers)
        r->headers[0] = '\0';
    r->content_type[0] = r->next[0] = '\0';
    r->truncated = 0;
}

/* One header line as libcurl gives it ("Name: value\r\n"). */
static size_t on_header(char *at, size_t size, size_t n, void *ctx)
{
    collect *c = ctx;
    size_t len = n;
    while (len && (at[len - 1] == '\n' || at[len - 1] == '\r'))
        len--;
    if (len >= 5 && !strncmp(at, "HTTP/", 5)) {
        restart_headers(c);
        return n;
    }
    const char *colon = memchr(at, ':', len);
    if (!colon)
        return n; /* the empty line ending the head, or a malformed line */
    hist_http_response *r = c->resp;
    size_t name = (size_t)(colon - at), vlen = len - name - 1;
    const char *v = colon + 1;
    if (name == 12 && !strncasecmp(at, "Content-Type", 12))
        copy_value(r->content_type, sizeof r->content_type, v, vlen);
    else if (name == 16 && !strncasecmp(at, "X-Historian-Next", 16))
        copy_value(r->next, sizeof r->next, v, vlen);
    else if (name == 21 && !strncasecmp(at, "X-Historian-Truncated", 21)) {
        char t[8];
        copy_value(t, sizeof t, v, vlen);
        r->truncated = !strncmp(t, "true", 4);
    }
    if (client_append(&r->headers, &c->headers_len, &c->headers_cap, at, len) < 0 ||
        client_append(&r->headers, &c->headers_len, &c->headers_cap, "\n", 1) < 0) {
        c->failed = true;
        return 0;
    }
    return n;
}

/* The URL every target is appended to. */
static char *base_url(const hist_http_url *u)
{
    bool v6 = strchr(u->host, ':') != NULL;
    size_t cap = strlen(u->host) + strlen(u->base) + 32;
    char *b = malloc(cap);
    if (b)
        snprintf(b, cap, "%s://%s%s%s:%s%s", u->scheme[0] ? u->scheme : "http", v6 ? "[" : "",
                 u->host, v6 ? "]" : "", u->port, u->base);
    return b;
}

/* The options that stay for every request of the client. */
static CURLcode set_fixed_options(hist_http_client *c, const hist_tls_opts *tls)
{
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, "historian-cli");
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1); /* the server's; h2 is not */
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    if (tls && tls->ca_file)
        SET(CURLOPT_CAINFO, tls->ca_file);
    if (tls && tls->cert_file) {
        SET(CURLOPT_SSLCERT, tls->cert_file);
        SET(CURLOPT_SSLKEY, tls->key_file ? tls->key_file : tls->cert_file);
    }
#undef SET
    return rc;
}

int hist_http_client_new(const char *url, const hist_tls_opts *tls, hist_http_client **out,
                         char *err, size_t errlen)
{
    hist_http_url u;
    if (hist_http_url_parse(url, &u) < 0) {
        snprintf(err, errlen, "bad URL '%s' (http[s]://host[:port][/path])", url);
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl cannot start");
        return -1;
    }
    hist_http_client *c = calloc(1, sizeof *c);
    if (c) {
        c->curl = curl_easy_init();
        c->base = base_url(&u);
    }
    if (!c || !c->curl || !c->base) {
        snprintf(err, errlen, "out of memory");
        hist_http_client_free(c);
        if (!c)
            curl_global_cleanup();
        return -1;
    }
    CURLcode rc = set_fixed_options(c, tls);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
        hist_http_client_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void hist_http_client_free(hist_http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->target_url);
    free(c);
    curl_global_cleanup();
}

long hist_http_client_connects(const hist_http_client *c)
{
    return c->connects;
}

/* The method and body of this request (the handle keeps options from the
 * last one, so each is set again). */
static CURLcode set_method(CURL *h, const char *method, const void *body, size_t body_len)
{
    bool with_body = body || !strcmp(method, "POST") || !strcmp(method, "PUT");
    CURLcode rc = curl_easy_setopt(h, CURLOPT_NOBODY, (long)!strcmp(method, "HEAD"));
    if (rc == CURLE_OK && with_body) {
        rc = curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    } else if (rc == CURLE_OK && strcmp(method, "HEAD")) {
        rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    bool plain = !strcmp(method, with_body ? "POST" : "GET") || !strcmp(method, "HEAD");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, plain ? NULL : method);
    return rc;
}

/* The request's own header lines; NULL when out of memory. */
static struct curl_slist *request_headers(const char *token, const char *content_type)
{
    char line[1200];
    /* "Expect:" off: a large body goes at once, with no 100-continue wait */
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (h && token && *token) {
        char *auth = malloc(strlen(token) + 32);
        struct curl_slist *n = NULL;
        if (auth) {
            sprintf(auth, "Authorization: Bearer %s", token);
            n = curl_slist_append(h, auth);
            free(auth);
        }
        if (!n) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = n;
    }
    if (h && content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        struct curl_slist *n = curl_slist_append(h, line);
        if (!n)
            curl_slist_free_all(h);
        h = n;
    }
    return h;
}

/* The status, and text fields that are never NULL once it is complete. */
static int finish(hist_http_client *c, hist_http_response *resp, char *err, size_t errlen)
{
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    if (client_response_complete(resp, err, errlen) == 0)
        return 0;
    hist_http_response_free(resp);
    return -1;
}

int hist_http_client_request(hist_http_client *c, const char *method, const char *target,
                             const char *token, const char *content_type, const void *body,
                             size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                             size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    size_t cap = strlen(c->base) + strlen(target) + 1;
    char *url = realloc(c->target_url, cap);
    struct curl_slist *hdrs = url ? request_headers(token, content_type) : NULL;
    if (url)
        c->target_url = url;
    if (!url || !hdrs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(url, cap, "%s%s", c->base, target);
    collect col = {.resp = resp};
    CURL *h = c->curl;
    c->errbuf[0] = '\0';
    CURLcode rc = set_method(h, method, body, body_len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &col);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &col);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    long opened = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
    c->connects += opened;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, url,
                 col.failed     ? "out of memory"
                 : c->errbuf[0] ? c->errbuf
                                : curl_easy_strerror(rc));
        hist_http_response_free(resp);
        return -1;
    }
    return finish(c, resp, err, errlen);
}

int hist_http_request(const hist_http_url *url, const char *method, const char *target,
                      const char *token, const char *content_type, const void *body,
                      size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                      size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    char *base = base_url(url);
    hist_http_client *c = NULL;
    int rc = base ? hist_http_client_new(base, NULL, &c, err, errlen) : -1;
    if (!base)
        snprintf(err, errlen, "out of memory");
    free(base);
    if (rc == 0)
        rc = hist_http_client_request(c, method, target, token, content_type, body, body_len,
                                      timeout_ms, resp, err, errlen);
    hist_http_client_free(c);
    return rc;
}
