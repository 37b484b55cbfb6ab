/*
 * hist_client.h: the gateway client library's only door. What a gateway,
 * the historian CLI, the tests and the benches use to talk to historiand:
 *
 *   - write requests: hist_client_encode() packs series into a
 *     WriteRequest; a batch builder (hist_bb_*) groups samples by tag first;
 *   - the TCP ingest client (hist_tcp_client_*), blocking, plain or TLS
 *     (OpenSSL, tls.c);
 *   - store-and-forward (hist_sender_*): batches wait in a spool directory
 *     until the server acknowledged them durable and are resent, in order,
 *     after a reconnect;
 *   - the HTTP client (hist_http_client_*, on libcurl): http:// and
 *     https://, proxies from the environment, IPv6 literals, one connection
 *     kept and reused across requests; and hist_http_send_raw(), which sends
 *     bytes exactly as given (tests of odd requests).
 *
 * TLS (hist_tls_opts) is the same for both clients: the server's
 * certificate is verified against --cacert (or the system's CAs) and must
 * name the host (DNS name or IP address) that was dialled; TLS 1.2 or newer.
 *
 * The TCP protocol (docs/protocol.md): frames are a 4-byte big-endian
 * length and an encoded WriteRequest; the server answers each with a
 * WriteResponse frame, in order, once the batch is durable.
 *
 * Errors are negative HIST_E* codes (common/hist_error.h), except in the
 * HTTP client, which returns -1 with a message for people.
 */
#ifndef HIST_CLIENT_H
#define HIST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_error.h"
#include "common/hist_types.h"
#include "proto/historian.pb-c.h"

/* ---- Write requests ---------------------------------------------------- */

/* One tag's samples for hist_client_encode(); q may be NULL (all Good). */
typedef struct {
    const char *tag;
    hist_type type;
    size_t n;
    const int64_t *ts;
    const hist_value *v;
    const uint32_t *q;
} hist_client_series;

/* Encodes a WriteRequest (without the frame header) into a malloc'd buffer.
 * token may be NULL. */
int hist_client_encode(uint64_t batch_id, const char *token, const hist_client_series *series,
                       size_t nseries, uint8_t **out, size_t *len);

/* A batch builder groups samples by tag into one WriteRequest. */
typedef struct hist_batch_builder hist_batch_builder;

hist_batch_builder *hist_bb_new(void);
void hist_bb_free(hist_batch_builder *bb);
/* HIST_ETYPE when the tag already has samples of another type in this batch. */
int hist_bb_add(hist_batch_builder *bb, const char *tag, hist_type type, int64_t ts, hist_value v,
                uint32_t q);
int hist_bb_add_many(hist_batch_builder *bb, const char *tag, hist_type type, size_t n,
                     const int64_t *ts, const hist_value *v, const uint32_t *q);
size_t hist_bb_samples(const hist_batch_builder *bb);
/* Encodes what was added (WriteRequest without frame header) and empties it. */
int hist_bb_encode(hist_batch_builder *bb, uint64_t batch_id, const char *token, uint8_t **out,
                   size_t *len);

/* ---- TLS ------------------------------------------------------------------ */

/* Files in PEM; every field may be NULL. ca_file: the CAs that verify the
 * server (NULL: the system's store). cert_file and key_file: a client
 * certificate and its key (key_file NULL: the key is in cert_file). on:
 * the TCP client speaks TLS even for an address without "tcps://" (HTTP
 * goes by the URL's scheme alone). The strings are copied where kept. */
typedef struct {
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    bool on;
} hist_tls_opts;

/* ---- TCP ingest --------------------------------------------------------- */

/* Pipelining is the caller's business: send several requests, then receive
 * their responses in the same order (hist_sender does it for you). */
typedef struct hist_tcp_client hist_tcp_client;

/* host:port, e.g. "127.0.0.1:9461" or "[::1]:9461", optionally behind
 * "tcp://" or, for TLS with the system's CAs, "tcps://". 0 or a negative
 * HIST_E* code (HIST_EINVAL: a malformed address or one that does not
 * resolve; HIST_EIO: connecting failed; HIST_EAUTH: the TLS handshake
 * failed, e.g. a certificate that does not verify). */
int hist_tcp_client_connect(const char *hostport, int timeout_ms, hist_tcp_client **out);
/* The same with TLS options (tls NULL: none) and, on failure, a message
 * for people in err (errlen bytes; err may be NULL). TLS when addr starts
 * with "tcps://" or tls->on. */
int hist_tcp_client_open(const char *addr, const hist_tls_opts *tls, int timeout_ms,
                         hist_tcp_client **out, char *err, size_t errlen);
void hist_tcp_client_close(hist_tcp_client *c);
/* The socket. With TLS, bytes may already wait inside the TLS session:
 * a poll that says nothing is readable does not mean recv has nothing. */
int hist_tcp_client_fd(const hist_tcp_client *c);

/* Sends one frame: the length prefix, then payload. */
int hist_tcp_client_send(hist_tcp_client *c, const void *payload, size_t len);
/* Sends bytes as they are (tests: broken frames). */
int hist_tcp_client_send_bytes(hist_tcp_client *c, const void *bytes, size_t len);

/* Receives the next response (free with
 * historian__v1__write_response__free_unpacked(resp, NULL)). HIST_ECLOSED
 * when the server closed the connection, HIST_EBUSY on timeout, HIST_EPROTO
 * when the response does not decode. */
int hist_tcp_client_recv(hist_tcp_client *c, int timeout_ms, Historian__V1__WriteResponse **out);

/* ---- Store-and-forward sender -------------------------------------------- */

/* Invariants: the queue holds unacknowledged batches in push order; acks
 * arrive in order (the server guarantees it), so an ack always belongs to
 * the oldest batch sent. On any connection problem every queued batch is
 * resent, in order, after a reconnect with a bounded backoff: the server's
 * last-write-wins on (tag, ts) makes the resend idempotent. */
typedef struct hist_sender hist_sender;

typedef struct {
    uint64_t sent;     /* samples handed to the network at least once */
    uint64_t acked;    /* samples acknowledged durable */
    uint64_t rejected; /* samples in batches the server refused */
    uint64_t queued;   /* samples not yet acknowledged (spooled when a dir is set) */
    uint64_t queued_batches;
    uint64_t reconnects;
    uint64_t batches; /* batch ids handed out by hist_sender_push_batch() */
} hist_sender_stats;

/* spool_dir NULL: batches are kept in memory only. With a spool dir, every
 * batch is written there (one file, fsync'd) before it is sent and deleted
 * when acknowledged; batches found there at start are sent first. window:
 * requests in flight before waiting for acks (0: 16). */
int hist_sender_new(const char *ingest, const char *spool_dir, unsigned window, hist_sender **out);
void hist_sender_free(hist_sender *s);
/* TLS for the sender's connections (copied); call before the first pump.
 * Without it the address alone decides ("tcps://..."). The first failed
 * connect after a good one is reported on stderr with the reason. */
int hist_sender_set_tls(hist_sender *s, const hist_tls_opts *tls);
/* Queues an encoded request (takes ownership of bytes). batch_id is the
 * one inside it (used to match acks). */
int hist_sender_push(hist_sender *s, uint64_t batch_id, uint8_t *bytes, size_t len,
                     uint64_t samples);
/* Encodes what bb holds as the next batch and queues it; 0 when bb is
 * empty. Batch ids count on from the highest found in the spool at start
 * (from 1 without one); *id_out (or NULL) names the batch. */
int hist_sender_push_batch(hist_sender *s, hist_batch_builder *bb, const char *token,
                           uint64_t *id_out);
/* Connects (with backoff), sends what the window allows and reads acks for
 * up to timeout_ms. */
void hist_sender_pump(hist_sender *s, int timeout_ms);
/* Pumps until every batch is acknowledged or timeout_ms have passed. */
void hist_sender_drain(hist_sender *s, int64_t timeout_ms);
void hist_sender_get_stats(const hist_sender *s, hist_sender_stats *out);

/* ---- HTTP ------------------------------------------------------------------ */

/* A server URL taken apart: scheme "http" or "https" ("" reads as http),
 * host without the brackets of an IPv6 literal, port, path prefix. */
typedef struct {
    char scheme[8];
    char host[256];
    char port[8];
    char base[256]; /* path prefix without a trailing '/', often "" */
} hist_http_url;

typedef struct {
    int status;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    char content_type[128];
    char next[1024]; /* X-Historian-Next, or "" */
    int truncated;   /* X-Historian-Truncated: true */
    char *headers;   /* every header line as "Name: value\n", malloc'd */
} hist_http_response;

/* Parses "http://host[:port][/base]" or "https://..." (port 80 or 443 by
 * default); host may be an IPv6 literal in brackets ("http://[::1]:9460").
 * 0 or -1. */
int hist_http_url_parse(const char *url, hist_http_url *out);

/* One libcurl handle: requests go out one at a time and reuse its
 * connection (HTTP/1.1 keep-alive) as long as the server keeps it open.
 * Proxies come from the environment as libcurl reads them (http_proxy,
 * HTTPS_PROXY, ALL_PROXY, NO_PROXY). Not for several threads at once. */
typedef struct hist_http_client hist_http_client;

/* url as hist_http_url_parse() reads it; tls may be NULL. 0, or -1 with a
 * message in err. */
int hist_http_client_new(const char *url, const hist_tls_opts *tls, hist_http_client **out,
                         char *err, size_t errlen);
void hist_http_client_free(hist_http_client *c);

/* Sends one request; target is the path and query ("/api/v1/query?..."),
 * appended to the URL's base. token (or NULL) goes in "Authorization:
 * Bearer"; body (body_len bytes, or NULL) with content_type (or NULL).
 * The whole exchange, connecting included, is bounded by timeout_ms.
 * 0 with *resp filled (any HTTP status), or -1 with a message in err:
 * libcurl's reason and the URL. */
int hist_http_client_request(hist_http_client *c, const char *method, const char *target,
                             const char *token, const char *content_type, const void *body,
                             size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                             size_t errlen);
/* Connections the client opened so far (1 while one was kept throughout). */
long hist_http_client_connects(const hist_http_client *c);

/* One request on a client of its own (one connection): as above. */
int hist_http_request(const hist_http_url *url, const char *method, const char *target,
                      const char *token, const char *content_type, const void *body,
                      size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                      size_t errlen);
/* Sends head (the request line and header lines, up to and including the
 * empty line) and body exactly as given on a connection of its own (TLS
 * without certificate checks when url->scheme is "https"), then reads one
 * response (http_parser) until it is complete or the server closes. For
 * tests of odd requests: a failed send is no error when the server still
 * answers (it may refuse a request before it has read all of it). */
int hist_http_send_raw(const hist_http_url *url, const char *head, const void *body,
                       size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                       size_t errlen);
void hist_http_response_free(hist_http_response *resp);

/* Appends s percent-encoded for a query string value to out (cap bytes,
 * NUL-terminated). -1 if it does not fit. */
int hist_url_encode(const char *s, char *out, size_t cap);

#endif
