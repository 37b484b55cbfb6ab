/*
 * sender.c: the store-and-forward sender of the gateway client library
 * (see hist_client.h for its invariants; the spool files are spool.c's).
 *
 * The queue holds unacknowledged batches in push order; the first
 * `inflight` of them have been sent on the current connection and
 * next_unsent is the first that has not. An ack belongs to the head. A
 * lost connection makes every queued batch unsent again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/client/client_internal.h"
#include "tools/client/hist_client.h"

struct hist_sender {
    char *ingest;
    char *spool;
    unsigned window;
    hist_tcp_client *conn;
    hist_tls_opts tls; /* its strings are the sender's own copies */
    char *tls_files[3];
    bool reported; /* the last failed connect was reported */
    client_batch *head, *tail;
    client_batch *next_unsent; /* first queued batch not sent on this connection */
    unsigned inflight;
    int64_t retry_at_ms, backoff_ms;
    int64_t last_ack_ms;
    uint64_t next_id; /* of hist_sender_push_batch() */
    hist_sender_stats st;
};

#define ACK_STALL_MS   10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* ---- The queue ---- */

static void enqueue(hist_sender *s, client_batch *b)
{
    if (s->tail)
        s->tail->next = b;
    else
        s->head = b;
    s->tail = b;
    if (!s->next_unsent)
        s->next_unsent = b;
    s->st.queued += b->samples;
    s->st.queued_batches++;
}

/* A batch an earlier run left in the spool: ids go on after the highest. */
static void enqueue_spooled(void *ctx, client_batch *b)
{
    hist_sender *s = ctx;
    if (b->id >= s->next_id)
        s->next_id = b->id + 1;
    enqueue(s, b);
}

static void pop_head(hist_sender *s)
{
    client_batch *b = s->head;
    s->head = b->next;
    if (!s->head)
        s->tail = NULL;
    s->st.queued -= b->samples;
    s->st.queued_batches--;
    if (s->spool)
        client_spool_remove(s->spool, b->id);
    client_batch_free(b);
}

int hist_sender_new(const char *ingest, const char *spool_dir, unsigned window, hist_sender **out)
{
    hist_sender *s = calloc(1, sizeof *s);
    if (!s)
        return HIST_ENOMEM;
    s->ingest = strdup(ingest);
    s->window = window ? window : 16;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->next_id = 1;
    if (spool_dir) {
        s->spool = strdup(spool_dir);
        mkdir(spool_dir, 0755);
        if (client_spool_load(spool_dir, enqueue_spooled, s) < 0) {
            fprintf(stderr, "spool: cannot read %s: %s\n", spool_dir, strerror(errno));
            hist_sender_free(s);
            return HIST_EIO;
        }
    }
    *out = s;
    return 0;
}

void hist_sender_free(hist_sender *s)
{
    if (!s)
        return;
    hist_tcp_client_close(s->conn);
    for (client_batch *b = s->head, *n; b; b = n) {
        n = b->next;
        client_batch_free(b);
    }
    free(s->ingest);
    free(s->spool);
    for (int i = 0; i < 3; i++)
        free(s->tls_files[i]);
    free(s);
}

int hist_sender_set_tls(hist_sender *s, const hist_tls_opts *tls)
{
    const char *from[3] = {tls->ca_file, tls->cert_file, tls->key_file};
    for (int i = 0; i < 3; i++) {
        free(s->tls_files[i]);
        s->tls_files[i] = from[i] ? strdup(from[i]) : NULL;
        if (from[i] && !s->tls_files[i])
            return HIST_ENOMEM;
    }
    s->tls = (hist_tls_opts){s->tls_files[0], s->tls_files[1], s->tls_files[2], tls->on};
    return 0;
}

int hist_sender_push(hist_sender *s, uint64_t batch_id, uint8_t *bytes, size_t len,
                     uint64_t samples)
{
    client_batch *b = calloc(1, sizeof *b);
    if (!b) {
        free(bytes);
        return HIST_ENOMEM;
    }
    b->id = batch_id;
    b->bytes = bytes;
    b->len = len;
    b->samples = samples;
    if (s->spool) {
        int rc = client_spool_write(s->spool, b);
        if (rc < 0) {
            client_batch_free(b);
            return rc;
        }
    }
    enqueue(s, b);
    return 0;
}

int hist_sender_push_batch(hist_sender *s, hist_batch_builder *bb, const char *token,
                           uint64_t *id_out)
{
    uint64_t samples = hist_bb_samples(bb);
    if (!samples)
        return 0;
    uint8_t *buf;
    size_t len;
    uint64_t id = s->next_id++;
    s->st.batches++;
    if (id_out)
        *id_out = id;
    int rc = hist_bb_encode(bb, id, token, &buf, &len);
    return rc < 0 ? rc : hist_sender_push(s, id, buf, len, samples);
}

void hist_sender_get_stats(const hist_sender *s, hist_sender_stats *out)
{
    *out = s->st;
}

/* ---- The connection ---- */

/* Doubles the wait before the next connect (up to BACKOFF_MAX_MS). */
static void back_off(hist_sender *s)
{
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    s->retry_at_ms = client_now_ms() + s->backoff_ms;
}

static void disconnect(hist_sender *s, const char *why)
{
    if (!s->conn)
        return;
    fprintf(stderr, "ingest connection lost (%s); %llu batches queued, reconnecting\n", why,
            (unsigned long long)s->st.queued_batches);
    hist_tcp_client_close(s->conn);
    s->conn = NULL;
    s->next_unsent = s->head;
    s->inflight = 0;
    back_off(s);
}

/* Without a connection: waits out the backoff (within end) or connects.
 * true when connected. */
static bool reconnect(hist_sender *s, int64_t end)
{
    int64_t now = client_now_ms();
    if (now < s->retry_at_ms) {
        int64_t wait = s->retry_at_ms - now;
        if (wait > end - now)
            wait = end - now;
        if (wait > 0)
            usleep((useconds_t)wait * 1000);
        return false;
    }
    char why[512];
    if (hist_tcp_client_open(s->ingest, &s->tls, 1000, &s->conn, why, sizeof why) != 0) {
        if (!s->reported)
            fprintf(stderr, "ingest: %s; retrying\n", why);
        s->reported = true;
        s->conn = NULL;
        back_off(s);
        return false;
    }
    s->reported = false;
    if (s->st.sent)
        s->st.reconnects++;
    /* the backoff is reset by an ack, not by a connect: a server that
     * accepts and then refuses must not be hammered */
    s->next_unsent = s->head;
    s->inflight = 0;
    s->last_ack_ms = client_now_ms();
    return true;
}

/* Sends queued batches while the window has room. */
static void send_window(hist_sender *s)
{
    while (s->conn && s->next_unsent && s->inflight < s->window) {
        client_batch *b = s->next_unsent;
        if (hist_tcp_client_send(s->conn, b->bytes, b->len) != 0) {
            disconnect(s, "send failed");
            break;
        }
        if (!b->sent_once) {
            b->sent_once = true;
            s->st.sent += b->samples;
        }
        if (s->inflight == 0)
            s->last_ack_ms = client_now_ms();
        s->inflight++;
        s->next_unsent = b->next;
    }
}

/* Codes that say the server could not take a batch now, not that it is bad. */
static bool retry_later(int32_t code)
{
    return code == HIST_EIO || code == HIST_EDISKFULL || code == HIST_EBUSY ||
           code == HIST_ECLOSED || code == HIST_ENOMEM || code == HIST_EAUTH;
}

static void on_ack(hist_sender *s, Historian__V1__WriteResponse *r)
{
    client_batch *b = s->head;
    if (!b || s->inflight == 0 || r->batch_id != b->id) {
        disconnect(s, "ack out of order");
        return;
    }
    s->inflight--;
    s->last_ack_ms = client_now_ms();
    if (r->code == 0) {
        s->st.acked += b->samples;
        s->backoff_ms = BACKOFF_MIN_MS;
    } else if (retry_later(r->code)) {
        /* keep it and retry later */
        fprintf(stderr, "batch %llu not written (%s): will retry\n", (unsigned long long)b->id,
                r->error);
        disconnect(s, "server error");
        return;
    } else {
        s->st.rejected += b->samples;
        fprintf(stderr, "batch %llu refused: %s%s%s\n", (unsigned long long)b->id, r->error,
                r->n_errors ? " " : "", r->n_errors ? r->errors[0]->message : "");
    }
    pop_head(s);
}

/* Waits up to end for the next ack. */
static void read_ack(hist_sender *s, int64_t end)
{
    int left = (int)(end - client_now_ms());
    Historian__V1__WriteResponse *r = NULL;
    int rc = hist_tcp_client_recv(s->conn, left > 0 ? left : 0, &r);
    if (rc == 0) {
        on_ack(s, r);
        historian__v1__write_response__free_unpacked(r, NULL);
    } else if (rc == HIST_EBUSY) {
        if (client_now_ms() - s->last_ack_ms > ACK_STALL_MS)
            disconnect(s, "server stopped acknowledging");
    } else {
        disconnect(s, rc == HIST_ECLOSED ? "closed by the server" : "receive failed");
    }
}

void hist_sender_pump(hist_sender *s, int timeout_ms)
{
    int64_t end = client_now_ms() + timeout_ms;
    do {
        if (!s->conn) {
            if (!s->head)
                return;
            if (!reconnect(s, end))
                continue;
        }
        send_window(s);
        if (!s->conn)
            continue;
        if (s->inflight == 0)
            return;
        read_ack(s, end);
    } while (client_now_ms() < end);
}

void hist_sender_drain(hist_sender *s, int64_t timeout_ms)
{
    int64_t give_up = client_now_ms() + timeout_ms;
    while (s->st.queued_batches > 0 && client_now_ms() <= give_up)
        hist_sender_pump(s, 200);
}
