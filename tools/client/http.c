/*
 * http.c: the gateway client library's tiny blocking HTTP/1.1 client (see
 * hist_client.h). One connection per request; every wait (connect, send,
 * receive) is bounded by one deadline; the response is parsed by
 * http_parser and read until the server closes the connection.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
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

int hist_http_url_parse(const char *url, hist_http_url *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *p = url + 7;
    const char *host_end = p + strcspn(p, ":/");
    size_t hl = (size_t)(host_end - p);
    if (hl == 0 || hl >= sizeof out->host)
        return -1;
    memcpy(out->host, p, hl);
    p = host_end;
    snprintf(out->port, sizeof out->port, "80");
    if (*p == ':' && !(p = parse_port(p + 1, out)))
        return -1;
    size_t bl = strlen(p);
    while (bl > 0 && p[bl - 1] == '/')
        bl--;
    if (bl >= sizeof out->base)
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

static int connect_to(const hist_http_url *url, int64_t deadline, char *err, size_t errlen)
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
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%s: %s", url->host, url->port, strerror(saved));
    return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (client_wait_fd(fd, POLLOUT, deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
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

/* Appends n bytes to a growing NUL-terminated text: 0, or -1 out of memory. */
static int append_grow(char **buf, size_t *len, size_t *cap, const char *at, size_t n)
{
    if (n >= SIZE_MAX - *len || HIST_ARRAY_RESERVE(*buf, *cap, *len + n + 1, 4096) < 0)
        return -1;
    memcpy(*buf + *len, at, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Adds to resp->headers, the header lines as text. */
static int keep_header_text(parse_state *st, const char *at, size_t len)
{
    if (append_grow(&st->resp->headers, &st->headers_len, &st->headers_cap, at, len) == 0)
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
    if (append_grow(&r->body, &r->body_len, &st->cap, at, len) == 0)
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
static int read_response(int fd, const hist_http_url *url, int timeout_ms, int64_t deadline,
                         http_parser *parser, parse_state *st, char *err, size_t errlen)
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
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (client_wait_fd(fd, POLLIN, deadline) == 0)
                continue;
            snprintf(err, errlen, "no answer from %s:%s within %d ms", url->host, url->port,
                     timeout_ms);
            return -1;
        }
        if (n < 0) {
            snprintf(err, errlen, "receiving failed: %s", strerror(errno));
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

/* The response's text fields are never NULL once it is complete. */
static int finish_response(hist_http_response *resp, char *err, size_t errlen)
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
    int fd = connect_to(url, deadline, err, errlen);
    if (fd < 0)
        return -1;
    int rc = send_all(fd, head, head_len, deadline);
    if (rc == 0 && body_len)
        rc = send_all(fd, body, body_len, deadline);
    if (rc < 0 && !tolerate_send) {
        snprintf(err, errlen, "sending to %s:%s failed: %s", url->host, url->port,
                 errno ? strerror(errno) : "timeout");
        close(fd);
        return -1;
    }
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parse_state st = {.resp = resp};
    parser.data = &st;
    rc = read_response(fd, url, timeout_ms, deadline, &parser, &st, err, errlen);
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
    return finish_response(resp, err, errlen);
}

/* The request line and headers of hist_http_request(), malloc'd. */
static char *request_head(const hist_http_url *url, const char *method, const char *target,
                          const char *token, const char *content_type, size_t body_len,
                          size_t *len_out)
{
    size_t hcap = strlen(target) + strlen(url->base) + (token ? strlen(token) : 0) + 512;
    char *head = malloc(hcap);
    if (!head)
        return NULL;
    int hl = snprintf(head, hcap,
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: historian-cli\r\n"
                      "Accept: */*\r\nConnection: close\r\nContent-Length: %zu\r\n",
                      method, url->base, target, url->host, url->port, body_len);
    if (token && *token)
        hl += snprintf(head + hl, hcap - (size_t)hl, "Authorization: Bearer %s\r\n", token);
    if (content_type)
        hl += snprintf(head + hl, hcap - (size_t)hl, "Content-Type: %s\r\n", content_type);
    hl += snprintf(head + hl, hcap - (size_t)hl, "\r\n");
    *len_out = (size_t)hl;
    return head;
}

int hist_http_request(const hist_http_url *url, const char *method, const char *target,
                      const char *token, const char *content_type, const void *body,
                      size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                      size_t errlen)
{
    size_t head_len;
    char *head = request_head(url, method, target, token, content_type, body_len, &head_len);
    if (!head) {
        memset(resp, 0, sizeof *resp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = exchange(url, head, head_len, body, body_len, timeout_ms, false, resp, err, errlen);
    free(head);
    return rc;
}

int hist_http_send_raw(const hist_http_url *url, const char *head, const void *body,
                       size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                       size_t errlen)
{
    return exchange(url, head, strlen(head), body, body_len, timeout_ms, true, resp, err, errlen);
}
