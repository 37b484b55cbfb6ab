/*
 * tcp.c: the TCP ingest protocol (docs/protocol.md).
 *
 * A frame is a 4-byte big-endian length and that many bytes of an encoded
 * WriteRequest; every frame is answered by one WriteResponse frame, in
 * order, after the batch is durable. Clients pipeline: they may send many
 * frames before reading acks.
 *
 * Errors: a frame that does not decode or fails validation is answered
 * with the reasons and the connection goes on (framing is intact). A length
 * over max_frame means the framing cannot be trusted: the reason is sent
 * and the connection closed. With a tokens file, the first frame must
 * carry a token with the write scope, else the connection is closed.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_bytes.h"
#include "ingest/ingest.h"
#include "query/api/hist_api.h"

/* Fills a reply slot with a WriteResponse frame. */
static void fill_reply(hist_reply *r, const hist_in_result *res)
{
    uint8_t *buf;
    size_t len;
    if (decode__result_to_proto(res, 4, &buf, &len) == 0) {
        hist_put_be32(buf, (uint32_t)(len - 4));
        r->data = (char *)buf;
        r->len = len;
    } else {
        r->close_after = true; /* cannot even say why: drop the connection */
    }
}

static void reply_now(hist_conn *c, const hist_in_result *res, bool close_after)
{
    hist_reply *r = conn__reply_new(c);
    if (!r) {
        conn__close(c, "out of memory");
        return;
    }
    fill_reply(r, res);
    if (close_after) {
        r->close_after = true;
        c->stop_parsing = true;
    }
    conn__reply_ready(r);
}

static void handle_frame(hist_conn *c, const uint8_t *frame, size_t len)
{
    hist_server *srv = c->srv;
    hist_in_batch *batch = NULL;
    hist_in_result res;
    char *token = NULL;
    srv->metrics.bytes_in += len + 4;
    int rc = decode__request(frame, len, &batch, &res, &token);
    if (!c->authed) {
        c->scopes = auth__scopes(srv->auth, token, token ? strlen(token) : 0);
        if (!(c->scopes & HIST_SCOPE_WRITE)) {
            free(batch);
            decode__result_clear(&res);
            decode__set_error(&res, HIST_EAUTH,
                              token ? "token refused: it lacks the write scope or is unknown"
                                    : "authentication required: the first frame must carry "
                                      "WriteRequest.token");
            srv->metrics.batches_rejected++;
            reply_now(c, &res, true);
            decode__result_clear(&res);
            free(token);
            return;
        }
        c->authed = true;
    }
    free(token);
    if (rc < 0) {
        srv->metrics.batches_rejected++;
        srv->metrics.samples_rejected += res.samples;
        reply_now(c, &res, false);
        decode__result_clear(&res);
        return;
    }
    hist_job *job = calloc(1, sizeof *job);
    hist_reply *r = job ? conn__reply_new(c) : NULL;
    if (!r) {
        free(job);
        free(batch);
        conn__close(c, "out of memory");
        return;
    }
    job->batch = batch;
    job->bytes = len;
    job->result = res;
    job->owner = r;
    job->done = conn__write_done;
    conn__submit(srv, job);
}

/* Frames stay in c->in until whole: the new bytes (at, n) are in in_len. */
static void on_data(hist_conn *c, size_t at, size_t n)
{
    (void)at;
    (void)n;
    size_t off = 0;
    size_t max = c->srv->opts.max_frame;
    while (!c->closing && !c->stop_parsing && c->in_len - off >= 4) {
        uint32_t flen = hist_get_be32(c->in + off);
        if (flen > max) {
            hist_in_result res;
            memset(&res, 0, sizeof res);
            decode__set_error(&res, HIST_ETOOBIG,
                              "frame of %u bytes exceeds the limit of %zu bytes; "
                              "framing lost, closing",
                              flen, max);
            c->srv->metrics.batches_rejected++;
            reply_now(c, &res, true);
            decode__result_clear(&res);
            break;
        }
        if (c->in_len - off - 4 < flen) {
            if (off == 0)
                conn__ensure_room(c, 4 + (size_t)flen - c->in_len);
            break;
        }
        handle_frame(c, c->in + off + 4, flen);
        off += 4 + (size_t)flen;
    }
    if (c->closing)
        return;
    if (c->stop_parsing) {
        c->in_len = 0;
        return;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
        c->msg_start_ms = c->in_len ? clock__now_ms() : 0;
        if (c->in_len >= 4 && hist_get_be32(c->in) <= max)
            conn__ensure_room(c, 4 + (size_t)hist_get_be32(c->in) - c->in_len);
    } else if (c->in_len && !c->msg_start_ms) {
        c->msg_start_ms = clock__now_ms();
    }
}

static int init_state(hist_conn *c)
{
    (void)c; /* a TCP connection's state is its input buffer and conn's flags */
    return 0;
}

static void free_state(hist_conn *c)
{
    (void)c;
}

const conn__proto tcp__proto = {
    .name = "tcp",
    .init_state = init_state,
    .on_data = on_data,
    .free_state = free_state,
    .fill_result = fill_reply,
    .eof_mid_message = "peer closed mid-frame (truncated frame)",
};
