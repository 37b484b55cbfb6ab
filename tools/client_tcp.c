/*
 * client_tcp.c: blocking TCP ingest client (see client_tcp.h).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/client_tcp.h"

struct hist_tcp_client {
    int fd;
    uint8_t *buf;
    size_t len, cap;
};

int hist_client_encode(uint64_t batch_id, const char *token, const hist_client_series *series,
                       size_t nseries, uint8_t **out, size_t *len)
{
    Historian__V1__WriteRequest req = HISTORIAN__V1__WRITE_REQUEST__INIT;
    Historian__V1__Series *msgs = calloc(nseries + 1, sizeof *msgs);
    Historian__V1__Series **ptrs = calloc(nseries + 1, sizeof *ptrs);
    size_t total = 0;
    for (size_t i = 0; i < nseries; i++)
        total += series[i].n;
    int64_t *deltas = malloc((total + 1) * sizeof *deltas);
    int64_t *ivals = malloc((total + 1) * sizeof *ivals);
    protobuf_c_boolean *bvals = malloc((total + 1) * sizeof *bvals);
    double *fvals = malloc((total + 1) * sizeof *fvals);
    int rc = HIST_ENOMEM;
    if (!msgs || !ptrs || !deltas || !ivals || !bvals || !fvals)
        goto out;
    size_t at = 0;
    for (size_t i = 0; i < nseries; i++) {
        const hist_client_series *s = &series[i];
        Historian__V1__Series init = HISTORIAN__V1__SERIES__INIT;
        Historian__V1__Series *m = &msgs[i];
        *m = init;
        m->tag = (char *)s->tag;
        m->n_ts_delta = s->n;
        m->ts_delta = deltas + at;
        for (size_t k = 0; k < s->n; k++)
            /* wrapping subtraction: the server adds the deltas back up */
            deltas[at + k] = k ? (int64_t)((uint64_t)s->ts[k] - (uint64_t)s->ts[k - 1]) : s->ts[0];
        switch (s->type) {
        case HIST_TYPE_INT64:
            m->n_i64 = s->n;
            m->i64 = ivals + at;
            for (size_t k = 0; k < s->n; k++)
                ivals[at + k] = s->v[k].i;
            m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_INT64;
            break;
        case HIST_TYPE_BOOL:
            m->n_b = s->n;
            m->b = bvals + at;
            for (size_t k = 0; k < s->n; k++)
                bvals[at + k] = s->v[k].i != 0;
            m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_BOOL;
            break;
        default:
            m->n_f64 = s->n;
            m->f64 = fvals + at;
            memcpy(fvals + at, s->v, s->n * sizeof(double));
            m->type = HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_FLOAT64;
            break;
        }
        if (s->q) {
            bool all_good = true;
            for (size_t k = 0; k < s->n && all_good; k++)
                all_good = s->q[k] == 0;
            if (!all_good) {
                m->n_quality = s->n;
                m->quality = (uint32_t *)s->q;
            }
        }
        ptrs[i] = m;
        at += s->n;
    }
    req.batch_id = batch_id;
    req.token = token ? (char *)token : (char *)"";
    req.n_series = nseries;
    req.series = ptrs;
    *len = historian__v1__write_request__get_packed_size(&req);
    *out = malloc(*len + 1);
    if (*out) {
        historian__v1__write_request__pack(&req, *out);
        rc = 0;
    }
out:
    free(msgs);
    free(ptrs);
    free(deltas);
    free(ivals);
    free(bvals);
    free(fvals);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hist_tcp_client_connect(const char *hostport, int timeout_ms, hist_tcp_client **out)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return HIST_EINVAL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return HIST_EINVAL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? HIST_EIO : 0;
    if (rc == 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            rc = HIST_EIO;
        } else {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t elen = sizeof err;
            if (poll(&p, 1, timeout_ms) != 1 ||
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err)
                rc = HIST_EIO;
        }
    }
    freeaddrinfo(res);
    if (rc == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        hist_tcp_client *c = calloc(1, sizeof *c);
        if (!c)
            rc = HIST_ENOMEM;
        else {
            c->fd = fd;
            *out = c;
            return 0;
        }
    }
    if (fd >= 0)
        close(fd);
    return rc;
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
    uint8_t head[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                       (uint8_t)len};
    int rc = hist_tcp_client_send_bytes(c, head, 4);
    return rc ? rc : hist_tcp_client_send_bytes(c, payload, len);
}

/* Reads until at least want bytes are buffered. */
static int fill(hist_tcp_client *c, size_t want, int64_t deadline)
{
    if (c->cap < want) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < want)
            cap *= 2;
        uint8_t *g = realloc(c->buf, cap);
        if (!g)
            return HIST_ENOMEM;
        c->buf = g;
        c->cap = cap;
    }
    while (c->len < want) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
        } else if (n == 0) {
            return HIST_ECLOSED;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int64_t left = deadline - now_ms();
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
    int64_t deadline = now_ms() + timeout_ms;
    int rc = fill(c, 4, deadline);
    if (rc)
        return rc;
    size_t flen =
        (size_t)c->buf[0] << 24 | (size_t)c->buf[1] << 16 | (size_t)c->buf[2] << 8 | c->buf[3];
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
