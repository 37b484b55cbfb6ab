/*
 * client_tcp.h: the gateway side of the TCP ingest protocol (blocking).
 *
 * Frames are a 4-byte big-endian length and an encoded WriteRequest; the
 * server answers each with a WriteResponse frame, in order, once the batch
 * is durable (docs/protocol.md). Pipelining is the caller's business: send
 * several requests, then receive their responses in the same order.
 * Used by `historian simulate` / `import`, the e2e tests and bench_ingest.
 */
#ifndef HIST_TOOLS_CLIENT_TCP_H
#define HIST_TOOLS_CLIENT_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/historian.pb-c.h"
#include "storage/hist_storage.h"

typedef struct hist_tcp_client hist_tcp_client;

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

/* host:port, e.g. "127.0.0.1:9461". 0 or a negative HIST_E* code. */
int hist_tcp_client_connect(const char *hostport, int timeout_ms, hist_tcp_client **out);
void hist_tcp_client_close(hist_tcp_client *c);
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

#endif
