/*
 * client_internal.h: what the files of the gateway client library share
 * and nothing outside tools/client/ includes: the clock, connecting with a
 * deadline, and the batches of the sender with their spool files.
 */
#ifndef HIST_CLIENT_INTERNAL_H
#define HIST_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct addrinfo;

/* Milliseconds on the monotonic clock: deadlines and backoff. */
static inline int64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes: 0, or -1 (timeout or poll error). */
int client_wait_fd(int fd, short events, int64_t deadline_ms);

/* Connects a non-blocking socket to one address before the deadline: the
 * socket (still non-blocking), or -1 with errno set. */
int client_connect_addr(const struct addrinfo *ai, int64_t deadline_ms);

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
