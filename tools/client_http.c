/*
 * client_http.c: a tiny blocking HTTP/1.1 client for the historian CLI
 * (see client_http.h). One connection per request; every wait (connect,
 * send, receive) is bounded by one deadline; the response is parsed by
 * http_parser and read until the server closes the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "tools/client_http.h"

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
    if (*p == ':') {
        p++;
        size_t pl = strspn(p, "0123456789");
        if (pl == 0 || pl >= sizeof out->port || (p[pl] != '\0' && p[pl] != '/'))
            return -1;
        memcpy(out->port, p, pl);
        out->port[pl] = '\0';
        if (atoi(out->port) < 1 || atoi(out->port) > 65535)
            return -1;
        p += pl;
    }
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

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events before the deadline. */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_to(const hist_http_url *url, long long deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(url->host, url->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", url->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errno = soerr ? soerr : ETIMEDOUT;
        } else if (errno == EINPROGRESS) {
            errno = ETIMEDOUT;
        }
        close(fd);
        fd = -1;
    }
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%s: %s", url->host, url->port, strerror(saved));
    return fd;
}

static int send_all(int fd, const char *p, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) < 0)
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
    size_t cap;
    int done, failed;
} parse_state;

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    parse_state *st = p->data;
    size_t have = strlen(st->field);
    if (have + len < sizeof st->field) {
        memcpy(st->field + have, at, len);
        st->field[have + len] = '\0';
    }
    return 0;
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
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    parse_state *st = p->data;
    hist_http_response *r = st->resp;
    if (r->body_len + len + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            st->failed = 1;
            return 1;
        }
        r->body = b;
        st->cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
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
    memset(resp, 0, sizeof *resp);
}

int hist_http_request(const hist_http_url *url, const char *method, const char *target,
                      const char *token, const char *content_type, const void *body,
                      size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                      size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    long long deadline = now_ms() + timeout_ms;
    int fd = connect_to(url, deadline, err, errlen);
    if (fd < 0)
        return -1;
    size_t hcap = strlen(target) + strlen(url->base) + (token ? strlen(token) : 0) + 512;
    char *head = malloc(hcap);
    if (!head) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int hl = snprintf(head, hcap,
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: historian-cli\r\n"
                      "Accept: */*\r\nConnection: close\r\nContent-Length: %zu\r\n",
                      method, url->base, target, url->host, url->port, body_len);
    if (token && *token)
        hl += snprintf(head + hl, hcap - (size_t)hl, "Authorization: Bearer %s\r\n", token);
    if (content_type)
        hl += snprintf(head + hl, hcap - (size_t)hl, "Content-Type: %s\r\n", content_type);
    hl += snprintf(head + hl, hcap - (size_t)hl, "\r\n");
    int rc = send_all(fd, head, (size_t)hl, deadline);
    free(head);
    if (rc == 0 && body_len)
        rc = send_all(fd, body, body_len, deadline);
    if (rc < 0) {
        snprintf(err, errlen, "sending to %s:%s failed: %s", url->host, url->port,
                 errno ? strerror(errno) : "timeout");
        close(fd);
        return -1;
    }

    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parse_state st = {.resp = resp};
    parser.data = &st;
    char buf[16384];
    while (!st.done) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd(fd, POLLIN, deadline) < 0) {
                snprintf(err, errlen, "no answer from %s:%s within %d ms", url->host, url->port,
                         timeout_ms);
                goto fail;
            }
            continue;
        }
        if (n < 0) {
            snprintf(err, errlen, "receiving failed: %s", strerror(errno));
            goto fail;
        }
        size_t used = http_parser_execute(&parser, &settings, buf, (size_t)n);
        if (st.failed) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (n == 0) /* EOF: lets the parser finish a body delimited by close */
            break;
        if (parser.http_errno != HPE_OK || used != (size_t)n) {
            snprintf(err, errlen, "malformed HTTP response: %s",
                     http_errno_description((enum http_errno)parser.http_errno));
            goto fail;
        }
    }
    close(fd);
    if (!st.done) {
        snprintf(err, errlen, "connection closed before the response was complete");
        hist_http_response_free(resp);
        return -1;
    }
    resp->status = (int)parser.status_code;
    if (!resp->body) {
        resp->body = calloc(1, 1);
        if (!resp->body) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
fail:
    close(fd);
    hist_http_response_free(resp);
    return -1;
}
