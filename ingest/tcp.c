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
 * carry a token with the write scope, else the connection is closed; the
 * token is checked before the frame is decoded. A frame with a tag outside
 * the token's patterns is refused whole (HIST_EAUTH naming the tag) and the
 * connection goes on.
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

static void refuse_and_close(hist_conn *c, uint64_t batch_id, const char *event, int status,
                             const char *msg)
{
    hist_in_result res;
    memset(&res, 0, sizeof res);
    res.batch_id = batch_id;
    decode__set_error(&res, HIST_EAUTH, "%s", msg);
    c->srv->metrics.batches_rejected++;
    audit_event ev = {.event = event,
                      .proto = "tcp",
                      .peer = c->peer,
                      .grant = c->grant,
                      .subject = c->grant ? NULL : conn__peer_subject(c),
                      .method = "WriteRequest",
                      .route = "tcp",
                      .status = status,
                      .detail = msg};
    audit__log(c->srv->audit, &ev);
    reply_now(c, &res, true);
    decode__result_clear(&res);
}

/* The first frame: its token is found by one walk over the top-level
 * fields (decode__peek_token, no allocation) and checked before anything
 * else reads the frame, so an unauthenticated frame costs no more than
 * that walk (a 16 MiB frame of empty series is never decoded). true when
 * the connection may go on; else the refusal is queued and the
 * connection closes after it. */
static bool authenticate(hist_conn *c, const uint8_t *frame, size_t len)
{
    hist_server *srv = c->srv;
    if (!srv->auth) {
        c->grant = auth__grant_for_token(NULL, NULL, 0); /* the open grant */
        c->authed = true;
        return true;
    }
    const uint8_t *tok;
    size_t tlen;
    uint64_t batch_id;
    if (decode__peek_token(frame, len, &tok, &tlen, &batch_id) < 0) {
        refuse_and_close(c, 0, "auth_failed", 401,
                         "authentication required: the first frame does not decode as a "
                         "WriteRequest");
        return false;
    }
    const char *subject = conn__peer_subject(c);
    if ((!tok || tlen == 0) && !subject) {
        refuse_and_close(c, batch_id, "auth_failed", 401,
                         "authentication required: the first frame must carry "
                         "WriteRequest.token");
        return false;
    }
    /* A token, when sent, wins over the client certificate's subject. Its
     * digest is kept: a reload finds the grant again by it (regrant). */
    c->token_digest_set = tok && tlen && auth__sha256(tok, tlen, c->token_digest) == 0;
    const auth_grant *g = !(tok && tlen) ? auth__grant_for_subject(srv->auth, subject)
                          : c->token_digest_set ? auth__grant_for_digest(srv->auth, c->token_digest)
                                                : NULL; /* not hashed: refused as unknown */
    if (!g) {
        refuse_and_close(c, batch_id, "auth_failed", 401,
                         tok && tlen ? "token refused: unknown token"
                                     : "certificate refused: no cert: line grants its subject");
        return false;
    }
    c->grant = g;
    if (!(g->scopes & HIST_SCOPE_WRITE)) {
        refuse_and_close(c, batch_id, "scope_refused", 403,
                         "token refused: it lacks the write scope");
        return false;
    }
    /* The connection keeps its grant for its life: it holds a reference to
     * the snapshot the grant lives in (dropped in conn.c's conn_free), so a
     * SIGHUP reload does not free the grant under it. */
    c->grant_auth = srv->auth;
    auth__ref(srv->auth);
    c->authed = true;
    return true;
}

/* A SIGHUP replaced the tokens file since this connection authenticated:
 * its grant is looked up again (by the token's digest, or the certificate's
 * subject) before the next frame, so a token removed from the file, or
 * whose write scope went, stops at once, and changed tag patterns apply.
 * true when the connection may go on; else the refusal is queued and the
 * connection closes after it. */
static bool regrant(hist_conn *c, const uint8_t *frame, size_t len)
{
    hist_server *srv = c->srv;
    const auth_grant *g = c->token_digest_set
                              ? auth__grant_for_digest(srv->auth, c->token_digest)
                              : auth__grant_for_subject(srv->auth, conn__peer_subject(c));
    const uint8_t *tok;
    size_t tlen;
    uint64_t batch_id = 0;
    (void)decode__peek_token(frame, len, &tok, &tlen, &batch_id);
    if (!g || !(g->scopes & HIST_SCOPE_WRITE)) {
        /* audited with the old grant's id: its snapshot is still held */
        refuse_and_close(c, batch_id, g ? "scope_refused" : "auth_failed", g ? 403 : 401,
                         g ? "token refused: since the tokens file was reloaded it lacks the "
                             "write scope"
                           : "token refused: the reloaded tokens file no longer holds it");
        return false;
    }
    auth__unref(c->grant_auth);
    c->grant = g;
    c->grant_auth = srv->auth;
    auth__ref(srv->auth);
    return true;
}

static void handle_frame(hist_conn *c, const uint8_t *frame, size_t len)
{
    hist_server *srv = c->srv;
    hist_in_batch *batch = NULL;
    hist_in_result res;
    srv->metrics.bytes_in += len + 4;
    if (!c->authed && !authenticate(c, frame, len))
        return;
    if (c->grant_auth != srv->auth && !regrant(c, frame, len))
        return;
    int rc = decode__request(frame, len, &batch, &res, NULL);
    if (rc == 0 && conn__check_tags(c->grant, batch, &res) < 0) {
        audit_event ev = {.event = "tag_refused",
                          .proto = "tcp",
                          .peer = c->peer,
                          .grant = c->grant,
                          .method = "WriteRequest",
                          .route = "tcp",
                          .status = 403,
                          .tag = res.nerrors ? res.errors[0].tag : NULL,
                          .detail = res.error};
        audit__log(srv->audit, &ev);
        free(batch);
        batch = NULL;
        rc = HIST_EAUTH;
    }
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
