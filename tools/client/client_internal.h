/*
 * client_internal.h: what the files of the gateway client library share
 * and nothing outside tools/client/ includes: the clock, connecting with a
 * deadline, the byte stream (plain or TLS) and the batches of the sender
 * with their spool files.
 *
 * Call order (a file calls only files below it): http_curl.c; sender.c;
 * tcp.c, http.c; tls.c; net.c; spool.c, request.c.
 */
#ifndef HIST_CLIENT_INTERNAL_H
#define HIST_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "common/hist_array.h"
#include "tools/client/hist_client.h"

struct addrinfo;

/* Milliseconds on the monotonic clock: deadlines and backoff. */
static inline int64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n bytes to a growing NUL-terminated text (*len bytes of *cap
 * used): 0, or -1 out of memory (the text stays as it was). */
static inline int client_append(char **buf, size_t *len, size_t *cap, const char *at, size_t n)
{
    if (n >= SIZE_MAX - *len || HIST_ARRAY_RESERVE(*buf, *cap, *len + n + 1, 4096) < 0)
        return -1;
    memcpy(*buf + *len, at, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* A response's text fields are never NULL once it is complete (http.c):
 * 0, or -1 with "out of memory" in err. */
int client_response_complete(hist_http_response *resp, char *err, size_t errlen);

/* Waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes: 0, or -1 (timeout or poll error). */
int client_wait_fd(int fd, short events, int64_t deadline_ms);

/* Connects a non-blocking socket to one address before the deadline: the
 * socket (still non-blocking), or -1 with errno set. */
int client_connect_addr(const struct addrinfo *ai, int64_t deadline_ms);

/* A TLS session on a connected socket (tls.c, OpenSSL). */
typedef struct client_tls client_tls;

/* Runs the TLS handshake on the connected non-blocking fd before the
 * deadline. verify: check the chain (o->ca_file or the system's CAs) and
 * that the certificate names host; o may be NULL. 0 with *out, or -1 with
 * a message in err. */
int client_tls_start(int fd, const char *host, const hist_tls_opts *o, bool verify,
                     int64_t deadline, client_tls **out, char *err, size_t errlen);
void client_tls_free(client_tls *t);

/* The byte stream on fd, through t when it is not NULL. Sends all n bytes
 * before the deadline: 0, HIST_EBUSY (timeout) or HIST_ECLOSED. */
int client_send_all(int fd, client_tls *t, const void *bytes, size_t n, int64_t deadline);
/* Receives up to cap bytes, waiting until the deadline: the count, 0 at
 * the end of the stream, HIST_EBUSY (timeout) or HIST_ECLOSED (error). */
ssize_t client_recv_some(int fd, client_tls *t, void *buf, size_t cap, int64_t deadline);

/* One batch of the sender's queue: an encoded request and its sample count. */
typedef struct client_batch {
    struct client_batch *next;
    uint64_t id;
    uint64_t samples;
    uint8_t *bytes;
    size_t len;
    bool sent_once;
} client_batch;

void client_batch_free(client_batch *b);

/* The spool directory: one file a batch, named by its id, written and
 * fsync'd before the batch is sent, deleted once it is acknowledged. */
int client_spool_write(const char *dir, const client_batch *b);
void client_spool_remove(const char *dir, uint64_t id);
/* Hands every batch an earlier run left in dir to add(ctx, b), oldest
 * (lowest id) first; unreadable files are named on stderr and skipped.
 * HIST_EIO when dir cannot be read. */
int client_spool_load(const char *dir, void (*add)(void *ctx, client_batch *b), void *ctx);

#endif
