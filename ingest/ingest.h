/*
 * ingest.h: what the files of ingest/ share; nothing outside ingest/
 * includes it (the door is hist_server.h).
 *
 *   log.c      leveled one-line logging to stderr
 *   auth.c     the tokens file and scope checks
 *   decode.c   protobuf WriteRequest -> validated batch; results -> wire
 *   writer.c   the storage writer thread (group commit, completions)
 *   conn.c     connection lifecycle, in-order replies, read gating
 *   tcp.c      length-prefixed protobuf frames
 *   http.c     HTTP/1.1 on http_parser, routing
 *   metrics.c  counters and the Prometheus text page
 *   server.c   loop, listeners, signals, shutdown
 *
 * Threads: everything runs on the loop thread except the writer thread
 * (writer.c) and hist_api_handle() on the libuv thread pool. They meet only
 * in the writer's mutex-protected queues and in uv_async_send().
 */
#ifndef HIST_INGEST_H
#define HIST_INGEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include "ingest/hist_server.h"
#include "storage/hist_storage.h"

/* ---- log.c ---------------------------------------------------------- */

typedef struct {
    int level;
} hist_logger;

void hist_log(const hist_logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adapter for hist_db_options.log (ctx is a hist_logger). */
void hist_log_storage(void *ctx, int level, const char *msg);
int hist_log_level_parse(const char *name); /* -1 when unknown */

/* ---- auth.c --------------------------------------------------------- */

typedef struct hist_auth hist_auth;
/* Loads "token scope[,scope]" lines ('#' comments, blank lines ignored). */
int hist_auth_load(const char *path, hist_auth **out, char *err, size_t errlen);
void hist_auth_free(hist_auth *auth);
/* Scopes (HIST_SCOPE_*) of a token; 0 when unknown. auth == NULL: all. */
unsigned hist_auth_scopes(const hist_auth *auth, const char *token, size_t len);

/* ---- decode.c ------------------------------------------------------- */

/* One validated series of a request, names not yet resolved to tag ids. */
typedef struct {
    const char *name; /* NUL-terminated, inside the batch's memory */
    size_t name_len;
    hist_type type;
    size_t n;
    int64_t *ts;
    hist_value *v;
    uint32_t *q; /* NULL = all Good */
} hist_in_series;

typedef struct {
    uint64_t batch_id;
    size_t nseries;
    hist_in_series *series;
    uint64_t samples;
    size_t wire_bytes; /* encoded size, for backpressure accounting */
} hist_in_batch;

typedef struct {
    uint32_t index;
    int code;
    char *tag;
    char *message;
} hist_in_error;

/* What a request got: code 0 = written. */
typedef struct {
    uint64_t batch_id;
    uint64_t written;
    uint64_t samples; /* samples in the request (when it decoded), for metrics */
    int code;
    char *error; /* request-level message or NULL */
    size_t nerrors;
    hist_in_error *errors;
} hist_in_result;

/* Decodes and validates one WriteRequest. Returns 0 and a batch (one
 * allocation, free()), or a negative code with *res describing why (the
 * batch id is filled when the message decoded). *token_out (may be NULL)
 * gets a malloc'd copy of the token field, or NULL when empty. */
int hist_decode_request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                        char **token_out);
void hist_result_clear(hist_in_result *res);
int hist_result_set_error(hist_in_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hist_result_add_series_error(hist_in_result *res, uint32_t index, const char *tag, int code,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Encodes a result as a WriteResponse (malloc'd). prefix_len bytes are left
 * free at the front (the TCP frame header). */
int hist_result_to_proto(const hist_in_result *res, size_t prefix_len, uint8_t **out, size_t *len);
int hist_result_to_json(const hist_in_result *res, char **out, size_t *len);

/* ---- writer.c ------------------------------------------------------- */

typedef struct hist_job hist_job;
typedef void (*hist_job_done_fn)(hist_job *job);
struct hist_job {
    hist_job *next;
    hist_in_batch *batch; /* freed by the writer once written */
    hist_in_result result;
    hist_job_done_fn done; /* called on the loop thread */
    void *owner;
    size_t bytes;
};

typedef struct hist_writer hist_writer;
typedef void (*hist_writer_drained_fn)(void *ctx);
int hist_writer_start(uv_loop_t *loop, hist_db *db, const hist_logger *lg, hist_writer **out);
/* Queues a job (loop thread). Returns the queued bytes after adding. */
size_t hist_writer_submit(hist_writer *w, hist_job *job);
size_t hist_writer_queued_bytes(hist_writer *w);
unsigned hist_writer_inflight(hist_writer *w); /* submitted, done callback not yet run */
/* Called on the loop thread after each round of completions. */
void hist_writer_on_drain(hist_writer *w, hist_writer_drained_fn fn, void *ctx);
/* Stops the thread after the queue is empty and closes its handle. */
void hist_writer_stop(hist_writer *w);

/* ---- metrics.c ------------------------------------------------------- */

typedef struct {
    uint64_t samples_accepted, samples_rejected;
    uint64_t batches_accepted, batches_rejected;
    uint64_t bytes_in;
    uint64_t connections_open, connections_total, connections_refused;
    uint64_t http_requests;
    uint64_t backpressure_pauses;
} hist_metrics;

/* The Prometheus text page (malloc'd). */
/* Counts one answered write request as accepted or rejected. */
void hist_metrics_count_result(hist_metrics *m, const hist_in_result *res);
int hist_metrics_render(const hist_metrics *m, hist_db *db, char **out, size_t *len);

/* /healthz (health.c): writes the answer's line into out; returns the HTTP
 * status, 200 when healthy, 503 when degraded. */
int hist_health_text(hist_db *db, char *out, size_t cap);

/* ---- server.c / conn.c ------------------------------------------------ */

typedef struct hist_server hist_server;
typedef struct hist_conn hist_conn;
typedef struct hist_reply hist_reply;

enum { HIST_CONN_TCP = 1, HIST_CONN_HTTP = 2 };

struct hist_reply {
    hist_reply *next;
    hist_conn *conn;
    bool ready;
    bool close_after; /* close the connection once this reply is sent */
    char *data;       /* malloc'd bytes to send */
    size_t len;
    char *body; /* malloc'd bytes sent right after data, or NULL: a large
                   API answer goes out as is, never copied behind its head */
    size_t body_len;
    /* HTTP: how to render a write result when it arrives */
    bool json;
    bool keep_alive;
};

struct hist_conn {
    uv_tcp_t tcp;
    hist_server *srv;
    int kind;
    uint64_t id;
    char peer[64];
    hist_conn *prev, *next;
    hist_reply *head, *tail;
    unsigned pending; /* replies not yet handed to uv_write */
    unsigned refs;    /* 1 for the handle + 1 per reply awaiting a job */
    bool closing;
    bool reading;
    bool stop_parsing; /* framing lost: ignore further input */
    uint64_t last_activity_ms;
    uint64_t msg_start_ms; /* when the incomplete message began; 0 = none */
    unsigned scopes;       /* granted (TCP: after the first frame) */
    bool authed;
    /* input buffer (TCP frames; HTTP uses it as the read buffer) */
    uint8_t *in;
    size_t in_len, in_cap;
    void *proto_state; /* tcp.c / http.c private state */
};

struct hist_server {
    hist_server_options opts;
    uv_loop_t *loop;
    hist_db *db;
    hist_logger log;
    hist_auth *auth; /* NULL = everything allowed */
    hist_writer *writer;
    hist_metrics metrics;
    uv_tcp_t http_listener, tcp_listener;
    bool http_on, tcp_on;
    uv_signal_t sigint, sigterm;
    uv_timer_t sweep;
    hist_conn *conns;
    uint64_t next_conn_id;
    unsigned api_inflight;
    bool paused; /* backpressure: reading stopped everywhere */
    bool draining;
    uint64_t drain_deadline_ms;
    int signals;
};

/* conn.c */
hist_conn *hist_conn_new(hist_server *srv, int kind);
void hist_conn_start(hist_conn *c); /* after accept */
void hist_conn_close(hist_conn *c, const char *why);
/* Appends a reply slot; replies go out strictly in the order of slots. */
hist_reply *hist_conn_reply_new(hist_conn *c);
/* Marks a slot filled and sends every ready reply at the head. */
void hist_conn_reply_ready(hist_reply *r);
/* A reply slot whose job finished after its connection closed. */
void hist_conn_reply_orphan_done(hist_reply *r);
void hist_conn_update_reading(hist_conn *c);
void hist_server_update_reading_all(hist_server *srv);
void hist_conn_ensure_room(hist_conn *c, size_t want);

/* tcp.c / http.c: called by conn.c */
void hist_tcp_on_data(hist_conn *c);
void hist_tcp_free_state(hist_conn *c);
int hist_http_init_state(hist_conn *c);
void hist_http_on_data(hist_conn *c, size_t off, size_t n);
void hist_http_free_state(hist_conn *c);

/* server.c: submit a decoded batch; done runs on the loop */
void hist_server_submit(hist_server *srv, hist_job *job);
uint64_t hist_now_ms(void);

#endif
