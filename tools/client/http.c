/*
 * http.c: the HTTP pieces of the gateway client library that are not
 * libcurl's (see hist_client.h; requests go through http_curl.c): server
 * URLs, percent-encoding, the response's memory, and hist_http_send_raw(),
 * which sends a request exactly as given on a connection of its own
 * (plain or TLS, tls.c) and parses the answer with http_parser. Every wait
 * (connect, handshake, send, receive) is bounded by one deadline.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "common/hist_array.h"
#include "tools/client/client_internal.h"
#include "tools/client/hist_client.h"

/* ---- URLs ---- */

/* ":port" at p into out->port; the text after it, or NULL when malformed. */
static const char *parse_port(const char *p, hist_http_url *out)
{
    size_t pl = strspn(p, "0123456789");
    if (pl == 0 || pl >= sizeof out->port || (p[pl] != '\0' && p[pl] != '/'))
        return NULL;
    memcpy(out->port, p, pl);
    out->port[pl] = '\0';
    if (atoi(out->port) < 1 || atoi(out->port) > 65535)
        return NULL;
    return p + pl;
}

/* The host at p ("name", "1.2.3.4" or "[v6]") into out->host; the text
 * after it, or NULL when malformed. */
static const char *parse_host(const char *p, hist_http_url *out)
{
    const char *start = p, *end;
    if (*p == '[') {
        start = p + 1;
        end = strchr(start, ']');
        if (!end || end == start ||
            strspn(start, "0123456789abcdefABCDEF:.") != (size_t)(end - start))
            return NULL;
        p = end + 1;
    } else {
        end = p + strcspn(p, ":/?#@[]");
        p = end;
    }
    size_t hl = (size_t)(end - start);
    if (hl == 0 || hl >= sizeof out->host || (*p && *p != ':' && *p != '/'))
        return NULL;
    memcpy(out->host, start, hl);
    out->host[hl] = '\0';
    return p;
}

int hist_http_url_parse(const char *url, hist_http_url *out)
{
    memset(out, 0, sizeof *out);
    bool tls = !strncmp(url, "https://", 8);
    if (!tls && strncmp(url, "http://", 7) != 0)
        return -1;
    snprintf(out->scheme, sizeof out->scheme, "%s", tls ? "https" : "http");
    const char *p = parse_host(url + (tls ? 8 : 7), out);
    if (!p)
        return -1;
    snprintf(out->port, sizeof out->port, "%s", tls ? "443" : "80");
    if (*p == ':' && !(p = parse_port(p + 1, out)))
        return -1;
    size_t bl = strlen(p);
    while (bl > 0 && p[bl - 1] == '/')
        bl--;
    if (bl >= sizeof out->base || memchr(p, '?', bl) || memchr(p, '#', bl))
        return -1;
    memcpy(out->base, p, bl);
    out->base[bl] = '\0';
    return 0;
}

int hist_url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-_.~/:*", *p);
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* ---- Connection ---- */

/* A connected socket (and its TLS session for https, unverified: a raw
 * request is a test's), or -1 with a message in err. */
static int connect_to(const hist_http_url *url, int64_t deadline, client_tls **tls, char *err,
                      size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(url->host, url->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", url->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = client_connect_addr(ai, deadline);
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s:%s: %s", url->host, url->port, strerror(saved));
        return -1;
    }
    *tls = NULL;
    if (!strcmp(url->scheme, "https") &&
        client_tls_start(fd, url->host, NULL, false, deadline, tls, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- Response parsing (http_parser callbacks) ---- */

typedef struct {
    hist_http_response *resp;
    char field[64];
    int field_is; /* 1 content-type, 2 next, 3 truncated, 0 other */
    bool in_value;
    size_t cap, headers_len, headers_cap;
    int done, failed;
} parse_state;

/* Adds to resp->headers, the header lines as text. */
static int keep_header_text(parse_state *st, const char *at, size_t len)
{
    if (client_append(&st->resp->headers, &st->headers_len, &st->headers_cap, at, len) == 0)
        return 0;
    st->failed = 1;
    return 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    parse_state *st = p->data;
    if (st->in_value && keep_header_text(st, "\n", 1))
        return 1;
    st->in_value = false;
    size_t have = strlen(st->field);
    if (have + len < sizeof st->field) {
        memcpy(st->field + have, at, len);
        st->field[have + len] = '\0';
    }
    return keep_header_text(st, at, len);
}

static void append_to(char *dst, size_t cap, const char *at, size_t len)
{
    size_t have = strlen(dst);
    if (have + len >= cap)
        len = cap - 1 - have;
    memcpy(dst + have, at, len);
    dst[have + len] = '\0';
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    parse_state *st = p->data;
    if (!st->in_value && keep_header_text(st, ": ", 2))
        return 1;
    st->in_value = true;
    if (st->field[0]) { /* first value fragment for this field */
        st->field_is = !strcasecmp(st->field, "Content-Type")            ? 1
                       : !strcasecmp(st->field, "X-Historian-Next")      ? 2
                       : !strcasecmp(st->field, "X-Historian-Truncated") ? 3
                                                                         : 0;
        st->field[0] = '\0';
    }
    if (st->field_is == 1)
        append_to(st->resp->content_type, sizeof st->resp->content_type, at, len);
    else if (st->field_is == 2)
        append_to(st->resp->next, sizeof st->resp->next, at, len);
    else if (st->field_is == 3)
        st->resp->truncated = len >= 4 && !strncmp(at, "true", 4);
    return keep_header_text(st, at, len);
}

static int on_headers_complete(http_parser *p)
{
    parse_state *st = p->data;
    return st->in_value ? keep_header_text(st, "\n", 1) : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    parse_state *st = p->data;
    hist_http_response *r = st->resp;
    if (client_append(&r->body, &r->body_len, &st->cap, at, len) == 0)
        return 0;
    st->failed = 1;
    return 1;
}

static int on_message_complete(http_parser *p)
{
    parse_state *st = p->data;
    st->done = 1;
    return 0;
}

void hist_http_response_free(hist_http_response *resp)
{
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof *resp);
}

/* ---- One exchange ---- */

/* Reads and parses the response until it is complete: 0, or -1 with a
 * message in err. */
static int read_response(int fd, client_tls *tls, const hist_http_url *url, int timeout_ms,
                         int64_t deadline, http_parser *parser, parse_state *st, char *err,
                         size_t errlen)
{
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    char buf[16384];
    while (!st->done) {
        ssize_t n = client_recv_some(fd, tls, buf, sizeof buf, deadline);
        if (n == HIST_EBUSY) {
            snprintf(err, errlen, "no answer from %s:%s within %d ms", url->host, url->port,
                     timeout_ms);
            return -1;
        }
        if (n < 0) {
            snprintf(err, errlen, "receiving failed: %s", errno ? strerror(errno) : "reset");
            return -1;
        }
        size_t used = http_parser_execute(parser, &settings, buf, (size_t)n);
        if (st->failed) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (n == 0) /* EOF: lets the parser finish a body delimited by close */
            break;
        if (parser->http_errno != HPE_OK || used != (size_t)n) {
            snprintf(err, errlen, "malformed HTTP response: %s",
                     http_errno_description((enum http_errno)parser->http_errno));
            return -1;
        }
    }
    return 0;
}

int client_response_complete(hist_http_response *resp, char *err, size_t errlen)
{
    if (!resp->body)
        resp->body = calloc(1, 1);
    if (!resp->headers)
        resp->headers = calloc(1, 1);
    if (resp->body && resp->headers)
        return 0;
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Connects, sends head and body, reads the answer. With tolerate_send a
 * failed send still reads what the server answered. */
static int exchange(const hist_http_url *url, const char *head, size_t head_len, const void *body,
                    size_t body_len, int timeout_ms, bool tolerate_send, hist_http_response *resp,
                    char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    int64_t deadline = client_now_ms() + timeout_ms;
    client_tls *tls = NULL;
    int fd = connect_to(url, deadline, &tls, err, errlen);
    if (fd < 0)
        return -1;
    int rc = client_send_all(fd, tls, head, head_len, deadline);
    if (rc == 0 && body_len)
        rc = client_send_all(fd, tls, body, body_len, deadline);
    if (rc < 0 && !tolerate_send) {
        snprintf(err, errlen, "sending to %s:%s failed: %s", url->host, url->port,
                 rc == HIST_EBUSY ? "timeout"
                 : errno          ? strerror(errno)
                                  : "closed");
        client_tls_free(tls);
        close(fd);
        return -1;
    }
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parse_state st = {.resp = resp};
    parser.data = &st;
    rc = read_response(fd, tls, url, timeout_ms, deadline, &parser, &st, err, errlen);
    client_tls_free(tls);
    close(fd);
    if (rc == 0 && !st.done) {
        snprintf(err, errlen, "connection closed before the response was complete");
        rc = -1;
    }
    if (rc < 0) {
        hist_http_response_free(resp);
        return -1;
    }
    resp->status = (int)parser.status_code;
    return client_response_complete(resp, err, errlen);
}

int hist_http_send_raw(const hist_http_url *url, const char *head, const void *body,
                       size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                       size_t errlen)
{
    return exchange(url, head, strlen(head), body, body_len, timeout_ms, true, resp, err, errlen);
}
