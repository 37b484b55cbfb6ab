/*
 * tcp.c: the blocking TCP ingest client of the gateway client library (see
 * hist_client.h): frames out, WriteResponse frames in.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
    uint8_t *buf;
    size_t len, cap;
};

/* Splits "host:port" or "[v6 address]:port": the host into host (cap
 * bytes), the port returned; NULL when there is no port. */
static const char *split_hostport(const char *hostport, char *host, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= cap)
        return NULL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    return colon + 1;
}

int hist_tcp_client_connect(const char *hostport, int timeout_ms, hist_tcp_client **out)
{
    char host[256];
    const char *port = split_hostport(hostport, host, sizeof host);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (!port || getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return HIST_EINVAL;
    int fd = client_connect_addr(res, client_now_ms() + timeout_ms);
    freeaddrinfo(res);
    if (fd < 0)
        return HIST_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hist_tcp_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return HIST_ENOMEM;
    }
    c->fd = fd;
    *out = c;
    return 0;
}

void hist_tcp_client_close(hist_tcp_client *c)
{
    if (!c)
        return;
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
    const uint8_t *p = bytes;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {c->fd, POLLOUT, 0};
            if (poll(&pf, 1, 30000) != 1)
                return HIST_EBUSY;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return HIST_ECLOSED;
        }
    }
    return 0;
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
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
        } else if (n == 0) {
            return HIST_ECLOSED;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int64_t left = deadline - client_now_ms();
            struct pollfd pf = {c->fd, POLLIN, 0};
            if (left <= 0)
                return HIST_EBUSY;
            int pr = poll(&pf, 1, (int)left);
            if (pr == 0)
                return HIST_EBUSY;
            if (pr < 0 && errno != EINTR)
                return HIST_EIO;
        } else if (errno != EINTR) {
            return HIST_ECLOSED;
        }
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
