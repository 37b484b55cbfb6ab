/*
 * ingest.h: what the files of ingest/ share; nothing outside ingest/
 * includes it (the door is hist_server.h). Names here are unit__name (the
 * file's unit: conn__close, writer__submit); hist_ names are the door's.
 *
 * Layering: calls go one way, down this list; a file calls only the files
 * below it (and the doors of query/, storage/, common/), never one on its
 * own level or above (calls back up go through function pointers: a job's
 * done, a connection's conn__proto):
 *   1. clock.c    the monotonic millisecond clock
 *      log.c      leveled one-line logging to stderr (the only level
 *                 filter and level names of ingest/)
 *      wire.h     the protobuf wire format as protobuf-c reads it (header
 *                 only, decode.c's and sparkplug/payload.c's)
 *   2. auth.c     the tokens file: grants (scopes, tag patterns) by token
 *                 or certificate subject, shared snapshots (refcounted)
 *      audit.c    the audit trail (JSON lines, --audit-file or stderr)
 *      decode.c   protobuf WriteRequest -> validated batch, read from the
 *                 bytes in two passes; results -> wire
 *      batch.c    samples one at a time -> a batch (the MQTT client's)
 *      gzip.c     a Content-Encoding: gzip body, inflated under a budget
 *      mqtt_plain.c a plain MQTT topic and payload -> one sample (routes
 *                 --mqtt-topic FILTER[=TEMPLATE], the JSON fields)
 *      health.c   what GET /healthz says
 *      metrics.c  counters and the Prometheus text page
 *      tls.c      TLS sessions on OpenSSL memory BIOs (no socket, no
 *                 protocol: conn.c feeds it ciphertext and sends its output)
 *   3. writer.c   the storage writer thread (group commit, completions)
 *      csv_import.c a CSV body (POST /api/v1/import) -> one whole batch
 *      lp_write.c a line protocol write (POST /write, /api/v2/write) ->
 *                 one whole batch, or InfluxDB's error answer
 *      mqtt_sink.c an MQTT message -> samples in a batch builder (the
 *                 Sparkplug host of sparkplug/, or the plain-topic map)
 *   4. conn.c     connection lifecycle, in-order replies, read gating and
 *                 backpressure (conn__submit), a write job's completion
 *                 (conn__write_done); knows no protocol: it calls the
 *                 connection's conn__proto; on a TLS listener it puts
 *                 tls.c between the socket and the protocol
 *   5. http_reply.c HTTP answers into reply slots (status, headers, the
 *                 error shapes, a write's result)
 *   6. tcp.c      length-prefixed protobuf frames (tcp__proto)
 *      http.c     HTTP/1.1 on http_parser, routing (http__proto)
 *      mqtt_link.c the connection to one MQTT broker (--mqtt): connect,
 *                 session, subscriptions, messages -> write jobs, PUBACKs
 *                 after the group commit, reconnects
 *                 tcp.c, http.c and mqtt_link.c never call each other or
 *                 server.c
 *   7. server.c   loop, listeners (each picks its conn__proto), signals,
 *                 the idle sweep, shutdown; hist_server_run()
 *
 * Below this list, sub-folders with their own doors: sparkplug/
 * (sparkplug/hist_sparkplug.h, its list in sparkplug/spb.h: the Sparkplug B
 * host core, pure, below everything here but wire.h) and mqtt/
 * (mqtt/hist_mqtt.h, the MQTT client protocol, pure: bytes in, bytes out;
 * it includes nothing of ingest/). mqtt_sink.c calls sparkplug/,
 * mqtt_link.c calls mqtt/.
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

#include "common/hist_buf.h"
#include "common/hist_tagset.h"
#include "ingest/hist_server.h"
#include "ingest/lineproto/hist_lineproto.h"
#include "storage/hist_storage.h"

/* ---- clock.c -------------------------------------------------------- */

uint64_t clock__now_ms(void);  /* CLOCK_MONOTONIC, milliseconds */
uint64_t clock__wall_ms(void); /* CLOCK_REALTIME: ms since the Unix epoch */
uint64_t clock__now_us(void);  /* CLOCK_MONOTONIC, microseconds */
/* The wall clock as "2026-12-03T04:30:00.123Z" (n >= 25). */
void clock__wall_stamp(char *out, size_t n);

/* ---- log.c ---------------------------------------------------------- */

/* Where the server's lines go and in what shape (hist_server_options'
 * log_format; journal: stderr is journald's, see log.c). */
typedef struct {
    hist_log_format format;
    bool journal;
} log_out;
void log__init(log_out *out, hist_log_format format);
bool log__stderr_is_journal(void);
/* The server's sink (common/hist_log.h) for its own lines and the storage
 * engine's: every line goes to log__line, filtered by the --log-level. */
hist_log_sink log__sink(log_out *out, int level);
/* A hist_log_fn: one line on stderr in out's shape (ctx: a log_out, or
 * NULL for text). */
void log__line(void *ctx, int level, const char *msg);
/* hist_db_options.log with ctx the server's sink: the engine's lines
 * (its index and segments pass every level) filtered as the server's. */
void log__from_storage(void *ctx, int level, const char *msg);

/* ---- auth.c --------------------------------------------------------- */

/* What a token or a certificate subject is granted. Owned by its
 * hist_auth snapshot: valid while the holder keeps a reference to it. */
typedef struct {
    unsigned scopes;     /* HIST_SCOPE_* */
    hist_tagset *tags;   /* the tags it may read or write; NULL = every tag */
    char id[24];         /* printable, never the secret: "sha256:1a2b3c4d", "cert:7" */
    const char *subject; /* cert grants: the subject as written; else NULL */
} auth_grant;

typedef struct hist_auth hist_auth;
/* Loads a tokens file (auth.c's top comment has the format) as a snapshot
 * with one reference. A bad line refuses the file: err names FILE:LINE. */
int auth__load(const char *path, hist_auth **out, char *err, size_t errlen);
/* References (loop thread only; NULL is ignored). The last unref frees. */
void auth__ref(hist_auth *auth);
void auth__unref(hist_auth *auth);
size_t auth__count(const hist_auth *auth);
/* The grant of a token (len bytes, compared in constant time), or NULL
 * when unknown. auth == NULL (no tokens file): the open grant (all). */
const auth_grant *auth__grant_for_token(const hist_auth *auth, const void *token, size_t len);
/* The same for a token's SHA-256 digest (what a connection keeps to find
 * its grant again after a reload). */
const auth_grant *auth__grant_for_digest(const hist_auth *auth, const unsigned char digest[32]);
/* The grant of a TLS client certificate subject (RFC 2253, as OpenSSL
 * prints it with XN_FLAG_RFC2253; compared exactly), or NULL. */
const auth_grant *auth__grant_for_subject(const hist_auth *auth, const char *subject);
/* true when the grant's patterns allow the tag (false for g == NULL). */
bool auth__allows_tag(const auth_grant *g, const char *name);
/* SHA-256 of data (libcrypto EVP): 0 or HIST_ENOMEM. */
int auth__sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- audit.c -------------------------------------------------------- */

typedef struct hist_audit hist_audit;
typedef struct {
    const char *event;       /* "auth_failed", "scope_refused", "tag_refused", "admin", "reload" */
    const char *proto;       /* "http", "tcp", "signal" */
    const char *peer;        /* "ADDR:PORT" or NULL */
    const auth_grant *grant; /* NULL when none was found */
    const char *subject;     /* a certificate subject without a grant, or NULL */
    const char *method, *route;
    int status;         /* the HTTP status answered (TCP: 401/403 by the same rule; 0 = none) */
    const char *tag;    /* the tag refused, or NULL */
    const char *detail; /* why, or NULL */
} audit_event;
/* path NULL or "": stderr with the "AUDIT " marker. */
int audit__open(const char *path, hist_audit **out, char *err, size_t errlen);
void audit__close(hist_audit *a);
void audit__log(hist_audit *a, const audit_event *ev);
/* The same kind of file for other lines (the access log): path "-" is
 * stderr, each line behind stderr_prefix there. */
int audit__open_lines(const char *path, const char *stderr_prefix, hist_audit **out, char *err,
                      size_t errlen);
/* Appends one whole line (with its newline) in one write(2). */
void audit__write_line(hist_audit *a, const char *line, size_t len);
/* Opens path again (log rotation moved the old file away); on failure the
 * old file stays and err says why. */
int audit__reopen(hist_audit *a, const char *path, char *err, size_t errlen);
/* Appends s as a JSON string (quotes, escapes, non-UTF-8 as U+FFFD). */
void audit__json_string(hist_buf *b, const char *s);

/* ---- tls.c ---------------------------------------------------------- */

typedef struct tls__ctx tls__ctx;   /* the server's certificate and policy */
typedef struct tls__conn tls__conn; /* one connection's session */
/* Loads the certificate chain, its key and (client_ca non-empty) the CA
 * client certificates must chain to; err names the file that failed. */
int tls__ctx_new(const char *cert, const char *key, const char *client_ca, tls__ctx **out,
                 char *err, size_t errlen);
void tls__ctx_free(tls__ctx *ctx);
bool tls__ctx_client_certs(const tls__ctx *ctx);
/* A client context (the MQTT client's mqtts://): the broker must present
 * a certificate that chains to cafile (NULL or "": the system's CAs);
 * cert/key (may be NULL) are ours, for brokers that ask for one. */
int tls__client_ctx_new(const char *cafile, const char *cert, const char *key, tls__ctx **out,
                        char *err, size_t errlen);
tls__conn *tls__conn_new(tls__ctx *ctx); /* NULL: out of memory */
/* A client session to host (SNI, and the certificate must name it). */
tls__conn *tls__conn_new_client(tls__ctx *ctx, const char *host);
void tls__conn_free(tls__conn *t);
/* Ciphertext read from the socket. */
int tls__feed(tls__conn *t, const void *in, size_t n);
/* Runs the handshake, then decrypts: > 0 plaintext bytes in out, 0 = needs
 * more input, HIST_ECLOSED = the peer's close_notify, HIST_EPROTO = the
 * session failed (tls__reason says why). Output may be pending after it. */
long tls__read(tls__conn *t, void *out, size_t cap);
/* Encrypts up to n plaintext bytes: how many it took, or HIST_EPROTO. */
long tls__write(tls__conn *t, const void *in, size_t n);
void tls__shutdown(tls__conn *t); /* queues close_notify */
/* Ciphertext waiting to be sent, and taking it (malloc'd, *len 0: none). */
size_t tls__out_pending(const tls__conn *t);
int tls__take_out(tls__conn *t, char **buf, size_t *len);
bool tls__handshake_done(const tls__conn *t);
const char *tls__reason(const tls__conn *t);
const char *tls__version(const tls__conn *t);
const char *tls__cipher(const tls__conn *t);
/* The peer certificate's subject, RFC 2253 (malloc'd), NULL without one. */
char *tls__peer_subject(const tls__conn *t);

/* ---- decode.c ------------------------------------------------------- */

/* One validated series of a request, names not yet resolved to tag ids. */
typedef struct {
    const char *name; /* NUL-terminated, inside the batch's memory */
    size_t name_len;
    uint64_t hash; /* 64-bit FNV-1a of the name: the writer's name cache key */
    hist_type type;
    size_t n;
    int64_t *ts;
    hist_value *v;
    uint32_t *q; /* NULL = all Good */
    /* The engineering unit to record in the tag's metadata (a Sparkplug
     * birth's engUnit), or NULL: leave the tag's unit as it is. */
    const char *unit;
} hist_in_series;

typedef struct {
    uint64_t batch_id;
    size_t nseries;
    hist_in_series *series;
    uint64_t samples;
    size_t wire_bytes; /* encoded size, for backpressure accounting */
    /* false (a client's request): one bad series refuses the whole batch.
     * true (batch.c: the messages of an MQTT read): every series that can
     * be written is, the others are reported in the result's errors. */
    bool partial;
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
    /* Nothing of the batch was written for a reason of the moment (out of
     * memory, tag creation or the storage write failed: a full disk), not
     * of its content; a retry may succeed. Set by the writer. */
    bool fatal;
    char *error; /* request-level message or NULL */
    size_t nerrors;
    hist_in_error *errors;
} hist_in_result;

/* Decodes and validates one WriteRequest. Returns 0 and a batch (one
 * allocation, free()), or a negative code with *res describing why (the
 * batch id is filled when the message decoded). *token_out (may be NULL)
 * gets a malloc'd copy of the token field, or NULL when empty. */
int decode__request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                    char **token_out);
/* The token and batch id of a WriteRequest without decoding the rest (one
 * walk over its top-level fields, no allocation: what authentication may
 * cost before the token is known good): 0 and *token (inside buf, NULL
 * when absent), or HIST_EPROTO when the top level does not decode. */
int decode__peek_token(const uint8_t *buf, size_t len, const uint8_t **token, size_t *token_len,
                       uint64_t *batch_id);
void decode__result_clear(hist_in_result *res);
int decode__set_error(hist_in_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int decode__add_series_error(hist_in_result *res, uint32_t index, const char *tag, int code,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Encodes a result as a WriteResponse (malloc'd). prefix_len bytes are left
 * free at the front (the TCP frame header). */
int decode__result_to_proto(const hist_in_result *res, size_t prefix_len, uint8_t **out,
                            size_t *len);
int decode__result_to_json(const hist_in_result *res, char **out, size_t *len);

/* ---- batch.c -------------------------------------------------------- */

typedef struct {
    size_t name_off, name_len; /* in the builder's names */
    size_t unit_off;           /* in the names too; SIZE_MAX: no unit */
    uint64_t hash;
    hist_type type;
    int64_t ts;
    hist_value v;
    uint32_t q;
} batch_sample;

typedef struct {
    batch_sample *s;
    size_t n, cap;
    hist_buf names; /* every sample's tag, NUL-terminated */
} batch_builder;

void batch__init(batch_builder *b);
void batch__free(batch_builder *b);
void batch__clear(batch_builder *b);
/* Appends one sample (tag and unit copied; unit NULL or "": none). 0 or
 * HIST_ENOMEM. */
int batch__add(batch_builder *b, const char *tag, const char *unit, hist_type type, int64_t ts,
               hist_value v, uint32_t q);
/* Everything added so far as one batch (one allocation, free()), one
 * series per (tag, type) in arrival order, partial or whole (see
 * hist_in_batch.partial); the builder is emptied. 0 with *out NULL when
 * nothing was added; HIST_ENOMEM. */
int batch__build(batch_builder *b, uint64_t batch_id, bool partial, hist_in_batch **out);

/* ---- gzip.c --------------------------------------------------------- */

/* Inflates the gzip body in (n bytes; members may follow one another)
 * into *out (malloc'd, *out_len bytes; the caller frees it). 0, or
 * HIST_ETOOBIG when it would be over max_out bytes, HIST_EPROTO when it is
 * no gzip or is cut short, HIST_ENOMEM; *why says which in words. */
int gzip__inflate(const uint8_t *in, size_t n, size_t max_out, uint8_t **out, size_t *out_len,
                  const char **why);

/* ---- lp_write.c ----------------------------------------------------- */

/* The server's line protocol settings (--lp-template, --lp-quality-field). */
typedef struct {
    hist_lp_template tmpl;
    bool has_tmpl;
    const char *quality_field; /* NULL: none */
    size_t max_body;           /* bytes of an inflated body (max_frame) */
} lpw_config;

/* What a write came to: 204, or the status of its refusal (InfluxDB's
 * code follows from it: lpw__code_of) with the message; the counts of
 * what was read. */
typedef struct {
    int status;
    char msg[512]; /* the refusal, or the first refused field's */
    size_t points, refused;
} lpw_outcome;

/* err says what is wrong with the template. */
int lpw__config_init(lpw_config *cfg, const char *tmpl, const char *quality_field,
                     size_t max_body, char *err, size_t errlen);
/* A body (gzipped: Content-Encoding: gzip) with the request's query
 * string (precision=...) as one whole batch in *out (NULL when it holds no
 * point; free()); 0, or a negative code with oc saying the answer. */
int lpw__decode(const lpw_config *cfg, const char *query, bool gzipped, const uint8_t *body,
                size_t len, int64_t now_ns, hist_in_batch **out, lpw_outcome *oc);
/* The 1.x API's token: the query's p= (u= is the user, not checked). */
bool lpw__token_param(const char *query, char *out, size_t cap);
/* InfluxDB's error code for an HTTP status. */
const char *lpw__code_of(int status);
/* {"code":code,"message":msg} into buf: its length. */
size_t lpw__error_json(char *buf, size_t cap, const char *code, const char *msg);

/* ---- csv_import.c --------------------------------------------------- */

/* A CSV body of POST /api/v1/import (query: delimiter, decimal_comma, tz,
 * int64) as one whole batch in *out (NULL: no sample; free()). 0, or
 * HIST_EINVAL (a bad row or option: err names it) or HIST_ENOMEM. */
int csvi__decode(const char *query, const uint8_t *body, size_t len, hist_in_batch **out,
                 char *err, size_t errlen);

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
    uint64_t lsn; /* the writer's: its WAL record, 0 when nothing was written */
};

typedef struct hist_writer hist_writer;
typedef void (*hist_writer_drained_fn)(void *ctx);
int writer__start(uv_loop_t *loop, hist_db *db, const hist_log_sink *lg, hist_writer **out);
/* Queues a job (loop thread). Returns the queued bytes after adding. */
size_t writer__submit(hist_writer *w, hist_job *job);
size_t writer__queued_bytes(hist_writer *w);
unsigned writer__inflight(hist_writer *w); /* submitted, done callback not yet run */
/* Called on the loop thread after each round of completions. */
void writer__on_drain(hist_writer *w, hist_writer_drained_fn fn, void *ctx);
/* Stops the thread after the queue is empty and closes its handle. */
void writer__stop(hist_writer *w);

/* ---- mqtt_sink.c ---------------------------------------------------- */

typedef struct mqtt_sink mqtt_sink;
/* What a message asks the client to publish (QoS 0): a Sparkplug rebirth
 * request. topic NULL: nothing. Valid until the sink's next message. */
typedef struct {
    const char *topic;
    const uint8_t *payload;
    size_t len;
} sink_publish;
/* Counts, added to by every message. */
typedef struct {
    uint64_t messages, samples;
    uint64_t refused;     /* messages: malformed, unmapped, over a limit */
    uint64_t unsupported; /* metric values of a type not stored, or invalid */
    uint64_t dropped;     /* metrics dropped while their node awaits a rebirth */
    uint64_t rebirths;    /* rebirth requests published */
} sink_counts;

/* What the MQTT options say of messages (hist_server.h: mqtt_*). */
typedef struct {
    const char *const *topics; /* n_topics "FILTER[=TEMPLATE]" */
    size_t n_topics;
    const char *value_field, *time_field, *quality_field; /* NULL: value,
                                                              timestamp, quality */
    const char *time_unit;  /* of numeric timestamps: s, ms (NULL), us, ns */
    uint32_t death_quality; /* Sparkplug NDEATH/DDEATH; 0: Bad_NoCommunication */
} sink_options;

/* err says what is wrong with o. */
int sink__new(const hist_log_sink *log, const sink_options *o, mqtt_sink **out, char *err,
              size_t errlen);
void sink__free(mqtt_sink *s);
/* The plain topic filters to subscribe to (spBv1.0/# is the caller's). */
size_t sink__filter_count(const mqtt_sink *s);
const char *sink__filter(const mqtt_sink *s, size_t i);
/* One message (now_ms: the wall clock). Its samples go into b; 0 (also
 * for a message refused: counted in c), or HIST_ENOMEM. */
int sink__message(mqtt_sink *s, const char *topic, size_t tlen, const uint8_t *payload,
                  size_t plen, uint64_t now_ms, batch_builder *b, sink_publish *pub,
                  sink_counts *c);

/* ---- mqtt_plain.c --------------------------------------------------- */

typedef struct plain_map plain_map;
/* One plain-topic sample: its tag (a valid tag name) and value. */
typedef struct {
    char tag[HIST_TAG_NAME_MAX + 1];
    hist_type type;
    hist_value v;
    int64_t ts;
    uint32_t q;
} plain_sample;

/* The routes and JSON fields of o; err says what is wrong. */
int plain__new(const sink_options *o, const hist_log_sink *log, plain_map **out, char *err,
               size_t errlen);
void plain__free(plain_map *m);
/* The topic filters to subscribe to, in the order given. */
size_t plain__filter_count(const plain_map *m);
const char *plain__filter(const plain_map *m, size_t i);
/* One message (now_ms: the wall clock, for a payload without a time):
 * 0 and *x, or HIST_ENOTFOUND (no route) or HIST_EINVAL (not a tag name or
 * not a payload we read): counted as refused in c and logged once per
 * topic. */
int plain__sample(plain_map *m, const char *topic, size_t tlen, const uint8_t *payload,
                  size_t plen, uint64_t now_ms, plain_sample *x, sink_counts *c);

/* ---- metrics.c ------------------------------------------------------- */

/* One broker's figures (mqtt_link.c keeps them; /metrics and /healthz
 * show them, labelled broker="HOST:PORT"). */
typedef struct {
    char broker[272];   /* "HOST:PORT" */
    char state[96];     /* "connected", "connecting", "down: why" */
    bool connected;     /* subscribed, messages flowing */
    uint64_t messages;  /* PUBLISHes received (QoS 0 and 1) */
    uint64_t samples;   /* samples written */
    uint64_t refused;   /* messages refused (malformed, unmapped, over a limit) */
    uint64_t unsupported; /* metric values not stored (type not supported, invalid) */
    uint64_t rebirths;  /* Sparkplug rebirth requests published */
    uint64_t reconnects; /* connections after the first */
    uint64_t acks;      /* PUBACKs sent: messages durable */
} mqtt_stats;

#define METRICS_CODES         500 /* HTTP status codes 100..599 */
#define METRICS_MODES         11 /* raw latest interp agg plot value tags stats admin grafana other */
#define METRICS_QUERY_BUCKETS 15  /* 1 ms .. 30 s, +Inf */

typedef struct {
    uint64_t samples_accepted, samples_rejected;
    uint64_t batches_accepted, batches_rejected;
    uint64_t bytes_in;
    uint64_t connections_open, connections_total, connections_refused;
    uint64_t http_requests;
    uint64_t api_rejected; /* read API requests refused with 503: the queue was full */
    uint64_t backpressure_pauses;
    uint64_t tls_handshakes, tls_handshake_failures;
    uint64_t lp_requests, lp_points, lp_refused_fields; /* line protocol writes */
    const mqtt_stats *const *mqtt; /* n_mqtt brokers (--mqtt), owned by their links */
    size_t n_mqtt;
    /* HTTP responses by status code: [code - 100] for 100..599, every
     * answer filled into a reply slot (http_reply.c). */
    uint64_t http_responses[METRICS_CODES];
    /* Read API latency by mode (hist_api_response.mode), from the request
     * queued to its answer filled: counts per bucket (not cumulative; the
     * bounds are metrics__query_bounds) and the sum of seconds. */
    uint64_t query_hist[METRICS_MODES][METRICS_QUERY_BUCKETS];
    double query_seconds[METRICS_MODES];
    /* Snapshots taken just before a render (http.c): the writer's queue. */
    uint64_t writer_queue_bytes, writer_queue_limit;
} hist_metrics;

/* Counts one answered write request as accepted or rejected. */
void metrics__count_result(hist_metrics *m, const hist_in_result *res);
/* Counts one HTTP response of status code (outside 100..599: not counted). */
void metrics__count_status(hist_metrics *m, int status);
/* Counts one read API request of mode (hist_api_response.mode, NULL:
 * "other") that took seconds. */
void metrics__count_query(hist_metrics *m, const char *mode, double seconds);
/* The Prometheus text page (malloc'd). */
int metrics__render(const hist_metrics *m, hist_db *db, char **out, size_t *len);
/* The standard process_* families, read from /proc/self (metrics_proc.c);
 * a figure that cannot be read is left out. */
void metrics__process(hist_buf *t);

/* /healthz (health.c): writes the answer's line into out; returns the HTTP
 * status, 200 when healthy, 503 when degraded. */
int health__text(hist_db *db, const hist_metrics *m, char *out, size_t cap);

/* ---- conn.c and the protocols ---------------------------------------- */

typedef struct hist_server hist_server;
typedef struct hist_conn hist_conn;
typedef struct hist_reply hist_reply;

/* A protocol a connection speaks (tcp.c, http.c). The listener that
 * accepted the connection picks it (server.c); conn.c calls the protocol
 * only through it, the protocol calls conn.c's functions. */
typedef struct {
    const char *name; /* "tcp", "http": the connection's open line in the log */
    /* Sets up c->proto_state at accept; < 0 refuses the connection. */
    int (*init_state)(hist_conn *c);
    /* n bytes arrived at c->in + off (c->in_len counts them). The protocol
     * keeps what it needs in c->in, or sets c->in_len to 0. */
    void (*on_data)(hist_conn *c, size_t off, size_t n);
    /* Frees c->proto_state; also when init_state failed or never ran. */
    void (*free_state)(hist_conn *c);
    /* Fills a write's reply slot with its result (conn__write_done). */
    void (*fill_result)(hist_reply *r, const hist_in_result *res);
    /* The close reason when the peer closes with a message half in c->in;
     * NULL when input is never kept between reads. */
    const char *eof_mid_message;
} conn__proto;

extern const conn__proto tcp__proto;  /* tcp.c */
extern const conn__proto http__proto; /* http.c */

/* An HTTP request as the access log tells it (access_log.c): set by
 * http.c in hist_conn.req_note before the request is routed, copied into
 * each reply made for it (conn__reply_new). */
typedef struct {
    bool set;
    uint64_t start_us; /* CLOCK_MONOTONIC when the request was complete */
    char method[8];
    char route[128]; /* the path, cut at 127 bytes */
    char grant[48];  /* the grant's id; "" = none */
} access_note;

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
    bool influx;          /* a line protocol write: 204, or InfluxDB's error JSON */
    uint32_t lp_refused;  /* its fields left out (string fields) */
    bool keep_alive;
    bool head_only; /* a HEAD request: the head says Content-Length, no body follows */
    int status;     /* the HTTP status filled in (http_reply.c) */
    access_note note; /* the request it answers, for the access log */
};

struct hist_conn {
    uv_tcp_t tcp;
    hist_server *srv;
    const conn__proto *proto;
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
    /* TCP: the grant of the first frame's token, and a reference to its
     * snapshot (auth.c) held until the connection is freed, so a reload
     * never frees it under the connection; NULL before the first frame. */
    const auth_grant *grant;
    hist_auth *grant_auth;
    bool authed;
    /* The first frame's token as a SHA-256 digest (token_digest_set; else
     * the grant came from the certificate's subject): after a SIGHUP the
     * grant is looked up again in the new snapshot before the next frame. */
    bool token_digest_set;
    unsigned char token_digest[32];
    /* input buffer (TCP frames; HTTP uses it as the read buffer) */
    uint8_t *in;
    size_t in_len, in_cap;
    void *proto_state; /* the protocol's private state */
    access_note req_note; /* HTTP: the request being routed (access_log.c) */
    /* TLS (a listener with --tls-cert); tls == NULL: plain TCP */
    tls__conn *tls;
    char *tls_subject;      /* the client certificate's subject (RFC 2253) or NULL */
    struct tls_out *tls_q;  /* reply plaintext not yet encrypted, in order */
    struct tls_out *tls_qt; /* its tail */
    size_t tls_q_bytes;
    bool tls_close_after; /* close_notify and shutdown once tls_q is empty */
};

struct hist_server {
    hist_server_options opts;
    uv_loop_t *loop;
    hist_db *db;
    hist_log_sink log;
    log_out log_out;
    tls__ctx *tls;   /* NULL = plain TCP on both listeners */
    hist_auth *auth; /* the current tokens snapshot; NULL = everything allowed */
    hist_audit *audit;
    hist_audit *access; /* --access-log, NULL = none */
    char *auth_file, *access_log; /* owned copies: a reload may change them */
    hist_writer *writer;
    hist_metrics metrics;
    lpw_config lp; /* line protocol writes (lp_write.c) */
    uv_tcp_t http_listener, tcp_listener;
    bool http_on, tcp_on;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t sweep;
    hist_conn *conns;
    uint64_t next_conn_id;
    unsigned api_inflight; /* read API requests queued or running (http.c) */
    unsigned api_running;  /* of them on the thread pool, <= opts.api_workers */
    struct api_work *api_wait_head, *api_wait_tail; /* the rest, in arrival order */
    struct mqtt_link **links; /* n_links, one per --mqtt broker */
    size_t n_links;
    const mqtt_stats **link_stats; /* theirs, for hist_metrics.mqtt */
    bool paused; /* backpressure: reading stopped everywhere */
    bool draining;
    uint64_t drain_deadline_ms;
    int signals;
};

/* ---- service.c: systemd readiness, the file descriptor limit ---------- */

/* sd_notify(state) ("READY=1", "STOPPING=1", ...); nothing without
 * $NOTIFY_SOCKET; a failure is logged. */
void service__notify(hist_server *srv, const char *state);
/* Raises the soft RLIMIT_NOFILE to what opts.max_connections needs; when
 * the hard limit is lower, lowers opts.max_connections to fit (logged). */
void service__fit_fd_limit(hist_server *srv);

/* ---- access_log.c: one line per HTTP request ------------------------ */

/* Logs r's request once its answer is filled (conn__reply_ready). */
void access__log(hist_server *srv, const hist_reply *r);
/* Opens srv->opts.access_log (NULL: none); err says why not. */
int access__open(hist_server *srv, char *err, size_t errlen);

/* ---- reload.c: SIGHUP --------------------------------------------------- */

/* The configuration, the tokens file and the access log again (see
 * hist_server_options.reload); says what it did in the log and the
 * audit trail. */
void reload__run(hist_server *srv);

/* ---- http_reply.c: HTTP answers into reply slots ------------------- */

/* A response: status, Content-Type, body (owned: freed by the slot) and
 * extra header lines ("Name: v\r\n", or NULL); 204 has no body and no
 * Content-Length. */
void reply__fill_owned(hist_reply *r, int status, const char *ctype, char *body, size_t len,
                       const char *extra);
void reply__fill_h(hist_reply *r, int status, const char *ctype, const void *body, size_t len,
                   const char *extra); /* the body copied */
void reply__fill(hist_reply *r, int status, const char *ctype, const void *body, size_t len);
void reply__fill_error(hist_reply *r, int status, const char *msg); /* {"error": msg} */
/* A new slot with the error, ready (head_only: a HEAD request). */
void reply__error_h(hist_conn *c, bool keep_alive, bool head_only, int status, const char *msg,
                    const char *extra);
void reply__error_now(hist_conn *c, bool keep_alive, int status, const char *msg);
/* A line protocol write's answer: 204, or InfluxDB's error JSON. */
void reply__fill_influx(hist_reply *r, int status, const char *msg);
/* A write's result, as the slot's style says (influx, json, protobuf). */
void reply__fill_write_result(hist_reply *r, const hist_in_result *res);

hist_conn *conn__new(hist_server *srv, const conn__proto *proto);
/* An accepted connection that is not started (over the limit, no state):
 * its state, handle and struct go. */
void conn__refuse(hist_conn *c);
void conn__start(hist_conn *c); /* after accept and the protocol's init_state */
void conn__close(hist_conn *c, const char *why);
/* Appends a reply slot; replies go out strictly in the order of slots. */
hist_reply *conn__reply_new(hist_conn *c);
/* Marks a slot filled and sends every ready reply at the head. */
void conn__reply_ready(hist_reply *r);
void conn__update_reading(hist_conn *c);
void conn__update_reading_all(hist_server *srv);
void conn__ensure_room(hist_conn *c, size_t want);
/* Bytes handed to the connection and not yet on the wire (libuv's write
 * queue plus, with TLS, the plaintext not yet encrypted). */
size_t conn__unsent(const hist_conn *c);
/* Sends a short interim message now, ahead of the reply queue (HTTP's
 * 100 Continue); < 0 when it could not be sent whole. */
int conn__send_interim(hist_conn *c, const char *data, size_t len);
/* The subject (RFC 2253) of the client certificate the connection's TLS
 * handshake verified; NULL without TLS client certificates. This is what a
 * `cert:SUBJECT` line of the tokens file is matched against. */
const char *conn__peer_subject(const hist_conn *c);
/* Still in the TLS handshake (the sweep's handshake timeout). */
bool conn__tls_handshaking(const hist_conn *c);
/* Submits a decoded batch to the writer; done runs on the loop. Past
 * writer_queue_bytes every connection stops reading (backpressure). */
void conn__submit(hist_server *srv, hist_job *job);
/* A write job's done (job->owner is its reply slot): counts the result in
 * the metrics, has the protocol fill the slot, frees the job and marks the
 * slot ready. */
void conn__write_done(hist_job *job);
/* A decoded batch against the grant's tag patterns: 0 when it may write
 * every series' tag; else HIST_EAUTH with *res (cleared first) naming the
 * first tag it may not write: the whole request is refused. */
int conn__check_tags(const auth_grant *g, const hist_in_batch *b, hist_in_result *res);

/* ---- mqtt_link.c ------------------------------------------------------ */

typedef struct mqtt_link mqtt_link;
/* A link to the broker of url (parsed and checked now: err says what is
 * wrong); it connects from the loop's first tick and keeps reconnecting.
 * With srv->loop NULL (hist_server_check) it is only checked: link__free
 * it, nothing was started. */
int link__new(hist_server *srv, const char *url, mqtt_link **out, char *err, size_t errlen);
/* Reading follows the server's backpressure and draining flags. */
void link__update_reading(mqtt_link *l);
const mqtt_stats *link__stats(const mqtt_link *l);
/* Shutdown: STATE offline, DISCONNECT, close (after the drain: every
 * durable message's PUBACK has left). Free after the loop has ended. */
void link__stop(mqtt_link *l);
void link__free(mqtt_link *l);

#endif
