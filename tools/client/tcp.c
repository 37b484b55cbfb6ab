/*
 * tcp.c: the blocking TCP ingest client of the gateway client library (see
 * hist_client.h): frames out, WriteResponse frames in, over plain TCP or
 * TLS (tls.c).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/hist_array.h"
#include "common/hist_bytes.h"
#include "tools/client/client_internal.h"
#include "tools/client/hist_client.h"

struct hist_tcp_client {
    int fd;
    client_tls *tls; /* NULL: plain TCP */
    uint8_t *buf;
    size_t len, cap;
};

/* Splits "host:port" or "[v6 address]:port": the host into host (cap
 * bytes), the port returned; NULL when there is no port. */
static const char *split_hostport(const char *hostport, char *host, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= cap)
        return NULL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return NULL;
        memmove(host, host + 1, hl);
        host[hl - 2] = 0;
    }
    return colon + 1;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
    return code;
}

/* A connected socket to host:port before the deadline, or a HIST_E* code. */
static int dial(const char *host, const char *port, int64_t deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || !res)
        return fail(err, errlen, HIST_EINVAL, "cannot resolve %s: %s", host,
                    gai ? gai_strerror(gai) : "no address");
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = client_connect_addr(ai, deadline);
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0)
        return fail(err, errlen, HIST_EIO, "cannot connect to %s: %s", host, strerror(saved));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int hist_tcp_client_open(const char *addr, const hist_tls_opts *tls, int timeout_ms,
                         hist_tcp_client **out, char *err, size_t errlen)
{
    bool use_tls = tls && tls->on;
    if (!strncmp(addr, "tcps://", 7)) {
        use_tls = true;
        addr += 7;
    } else if (!strncmp(addr, "tcp://", 6)) {
        addr += 6;
    }
    char host[256];
    const char *port = split_hostport(addr, host, sizeof host);
    if (!port || !*port)
        return fail(err, errlen, HIST_EINVAL, "bad address '%s'%s (host:port)", addr, "");
    int64_t deadline = client_now_ms() + timeout_ms;
    int fd = dial(host, port, deadline, err, errlen);
    if (fd < 0)
        return fd;
    hist_tcp_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return fail(err, errlen, HIST_ENOMEM, "out of memory%s%s", "", "");
    }
    c->fd = fd;
    char why[512] = "";
    if (use_tls && client_tls_start(fd, host, tls, true, deadline, &c->tls, why, sizeof why) < 0) {
        hist_tcp_client_close(c);
        return fail(err, errlen, HIST_EAUTH, "%s: %s", addr, why);
    }
    *out = c;
    return 0;
}

int hist_tcp_client_connect(const char *hostport, int timeout_ms, hist_tcp_client **out)
{
    return hist_tcp_client_open(hostport, NULL, timeout_ms, out, NULL, 0);
}

void hist_tcp_client_close(hist_tcp_client *c)
{
    if (!c)
        return;
    client_tls_free(c->tls);
    close(c->fd);
    free(c->buf);
    free(c);
}

int hist_tcp_client_fd(const hist_tcp_client *c)
{
    return c->fd;
}

int hist_tcp_client_send_bytes(hist_tcp_client *c, const void *bytes, size_t len)
{
    return client_send_all(c->fd, c->tls, bytes, len, client_now_ms() + 30000);
}

int hist_tcp_client_send(hist_tcp_client *c, const void *payload, size_t len)
{
    uint8_t head[4];
    hist_put_be32(head, (uint32_t)len); /* frames are far below 4 GiB (the server's limit) */
    int rc = hist_tcp_client_send_bytes(c, head, 4);
    return rc ? rc : hist_tcp_client_send_bytes(c, payload, len);
}

/* Room for want bytes in the receive buffer. */
static int reserve(hist_tcp_client *c, size_t want)
{
    return HIST_ARRAY_RESERVE(c->buf, c->cap, want, 4096);
}

/* Reads until at least want bytes are buffered. */
static int fill(hist_tcp_client *c, size_t want, int64_t deadline)
{
    if (reserve(c, want) < 0)
        return HIST_ENOMEM;
    while (c->len < want) {
        ssize_t n = client_recv_some(c->fd, c->tls, c->buf + c->len, c->cap - c->len, deadline);
        if (n == 0)
            return HIST_ECLOSED;
        if (n < 0)
            return (int)n;
        c->len += (size_t)n;
    }
    return 0;
}

int hist_tcp_client_recv(hist_tcp_client *c, int timeout_ms, Historian__V1__WriteResponse **out)
{
    int64_t deadline = client_now_ms() + timeout_ms;
    int rc = fill(c, 4, deadline);
    if (rc)
        return rc;
    size_t flen = hist_get_be32(c->buf);
    if (flen > (64u << 20))
        return HIST_EPROTO;
    rc = fill(c, 4 + flen, deadline);
    if (rc)
        return rc;
    *out = historian__v1__write_response__unpack(NULL, flen, c->buf + 4);
    memmove(c->buf, c->buf + 4 + flen, c->len - 4 - flen);
    c->len -= 4 + flen;
    return *out ? 0 : HIST_EPROTO;
}
