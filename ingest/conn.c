/*
 * conn.c: one client connection, whatever its protocol. The protocol is
 * the connection's conn__proto (ingest.h), picked by the listener that
 * accepted it: conn.c hands it the bytes read and frees its state, and
 * knows nothing of frames or HTTP; the protocols call down into conn.c.
 *
 * Replies go out strictly in request order: each request takes a reply
 * slot at the tail of the connection's queue when it arrives, and a slot is
 * sent only once it and every slot before it are filled. A write's slot is
 * filled by the writer's completion, after the group commit, so an ack is
 * never sent before its batch (and every earlier one) is durable.
 *
 * Lifetime: refs counts the libuv handle plus every slot still waiting for
 * a job (writer or API). conn__close() closes the handle at once; the
 * struct is freed when the last ref goes, so late completions find it.
 *
 * Read gating (backpressure): a connection reads only while the server is
 * not paused or draining, it has fewer than max_pipeline unanswered
 * requests, and its unsent output is below a bound.
 *
 * TLS (a connection with c->tls, tls.c): libuv reads ciphertext into the
 * free end of c->in, tls__feed copies it into the session at once, and
 * tls__read decrypts into the same place; the protocol's on_data sees only
 * plaintext, as on a plain connection. A sent reply's buffers go to the
 * connection's plaintext queue (tls_q, in slot order) instead of uv_write;
 * tls_pump encrypts from its head while libuv's write queue is under
 * TLS_INFLIGHT and hands each piece of ciphertext to uv_write, and every
 * completed write pumps again: a reply of any size costs at most about
 * TLS_INFLIGHT + TLS_PIECE of ciphertext, and the queue counts as unsent
 * output for read gating (conn__unsent). A close_after reply ends with
 * close_notify once the queue is empty, then the shutdown. A failed
 * handshake (plain text, a refused certificate, an old protocol) sends the
 * session's alert and closes that connection only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "ingest/ingest.h"

#define MAX_UNSENT_OUTPUT (8u << 20)
#define READ_CHUNK        (64u << 10)
#define TLS_INFLIGHT      (256u << 10) /* ciphertext in libuv's queue before pumping stops */
#define TLS_PIECE         (64u << 10)  /* plaintext encrypted per tls__write */

/* A reply buffer waiting to be encrypted (TLS). */
struct tls_out {
    struct tls_out *next;
    char *data;
    size_t len, off;
};

typedef struct {
    uv_write_t req;
    char *data, *body; /* the reply's buffers, freed once written */
    hist_conn *conn;
} write_req;

static void reply_free(hist_reply *r)
{
    free(r->data);
    free(r->body);
    free(r);
}

hist_conn *conn__new(hist_server *srv, const conn__proto *proto)
{
    hist_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->proto = proto;
    c->id = ++srv->next_conn_id;
    c->refs = 1;
    c->tcp.data = c;
    c->last_activity_ms = clock__now_ms();
    if (srv->tls && !(c->tls = tls__conn_new(srv->tls))) {
        free(c);
        return NULL;
    }
    return c;
}

static void conn_free(hist_conn *c)
{
    auth__unref(c->grant_auth); /* the last user of its grant is gone */
    c->proto->free_state(c);
    for (struct tls_out *o = c->tls_q, *next; o; o = next) {
        next = o->next;
        free(o->data);
        free(o);
    }
    tls__conn_free(c->tls);
    free(c->tls_subject);
    free(c->in);
    free(c);
}

static void conn_unref(hist_conn *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void free_refused(uv_handle_t *h)
{
    hist_conn *c = h->data; /* a hist_conn that never started */
    tls__conn_free(c->tls);
    free(c);
}

void conn__refuse(hist_conn *c)
{
    c->closing = true;
    c->proto->free_state(c);
    uv_close((uv_handle_t *)&c->tcp, free_refused);
}

void conn__ensure_room(hist_conn *c, size_t want)
{
    if (want > SIZE_MAX - c->in_len)
        return;
    if (HIST_ARRAY_RESERVE(c->in, c->in_cap, c->in_len + want, READ_CHUNK) < 0)
        return; /* alloc_cb then hands libuv an empty buffer: UV_ENOBUFS */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hist_conn *c = h->data;
    conn__ensure_room(c, READ_CHUNK);
    size_t room = c->in_cap - c->in_len;
    *buf = uv_buf_init(room ? (char *)c->in + c->in_len : NULL, (unsigned)room);
}

static void tls_on_read(hist_conn *c, size_t nread);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hist_conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (c->tls && !tls__handshake_done(c->tls)) {
            c->srv->metrics.tls_handshake_failures++;
            conn__close(c, "peer closed during the TLS handshake");
        } else if (nread == UV_EOF && c->in_len && c->proto->eof_mid_message && !c->stop_parsing)
            conn__close(c, c->proto->eof_mid_message);
        else
            conn__close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    c->last_activity_ms = clock__now_ms();
    if (c->stop_parsing)
        return; /* framing was lost: input is discarded until the close */
    if (c->tls) {
        tls_on_read(c, (size_t)nread);
    } else {
        size_t off = c->in_len;
        c->in_len += (size_t)nread;
        c->proto->on_data(c, off, (size_t)nread);
    }
    if (!c->closing)
        conn__update_reading(c);
}

size_t conn__unsent(const hist_conn *c)
{
    return c->tcp.write_queue_size + c->tls_q_bytes;
}

void conn__update_reading(hist_conn *c)
{
    hist_server *srv = c->srv;
    if (c->closing)
        return;
    bool want = !srv->paused && !srv->draining && !c->stop_parsing &&
                c->pending < srv->opts.max_pipeline && conn__unsent(c) < MAX_UNSENT_OUTPUT;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

void conn__update_reading_all(hist_server *srv)
{
    for (hist_conn *c = srv->conns; c; c = c->next)
        conn__update_reading(c);
}

void conn__submit(hist_server *srv, hist_job *job)
{
    size_t queued = writer__submit(srv->writer, job);
    if (queued > srv->opts.writer_queue_bytes && !srv->paused) {
        srv->paused = true;
        srv->metrics.backpressure_pauses++;
        conn__update_reading_all(srv);
    }
}

void conn__start(hist_conn *c)
{
    hist_server *srv = c->srv;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->metrics.connections_open++;
    if (c->tls)
        c->msg_start_ms = clock__now_ms(); /* the handshake is a message begun */
    hist_logf(&srv->log, HIST_LOG_INFO, "conn %llu open %s%s from %s", (unsigned long long)c->id,
              c->proto->name, c->tls ? "+tls" : "", c->peer);
    conn__update_reading(c);
}

void conn__close(hist_conn *c, const char *why)
{
    if (c->closing)
        return;
    hist_server *srv = c->srv;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->conns == c)
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->metrics.connections_open--;
    hist_logf(&srv->log, HIST_LOG_INFO, "conn %llu close: %s", (unsigned long long)c->id, why);
    /* Filled slots are dropped now; slots still owned by a job are freed
     * when that job completes (conn__reply_ready sees c->closing). */
    for (hist_reply *r = c->head, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->ready)
            reply_free(r);
    }
    c->head = c->tail = NULL;
    c->pending = 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

hist_reply *conn__reply_new(hist_conn *c)
{
    hist_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->conn = c;
    r->keep_alive = true;
    r->note = c->req_note; /* the HTTP request it answers (access log) */
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->pending++;
    c->refs++;
    return r;
}

static void tls_pump(hist_conn *c);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    free(w->data);
    free(w->body);
    hist_conn *c = w->conn;
    free(w);
    if (!c->closing && c->tls)
        tls_pump(c);
    if (!c->closing)
        conn__update_reading(c);
}

typedef struct {
    uv_shutdown_t req;
    hist_conn *conn;
    const char *why;
} shutdown_req;

static void on_shutdown(uv_shutdown_t *req, int status)
{
    shutdown_req *sd = (shutdown_req *)req;
    hist_conn *c = sd->conn;
    const char *why = sd->why;
    free(sd);
    conn__close(c, why);
}

/* Closes once what is queued has been written (uv_shutdown). */
static void shutdown_close(hist_conn *c, const char *why)
{
    shutdown_req *sd = calloc(1, sizeof *sd);
    if (sd) {
        sd->conn = c;
        sd->why = why;
        if (uv_shutdown(&sd->req, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
            return;
        free(sd);
    }
    conn__close(c, why);
}

/* ---- TLS (tls.c under this file) ------------------------------------ */

/* Hands the session's pending ciphertext to uv_write. < 0: the connection
 * was closed (a lost record would break the stream). */
static int tls_send(hist_conn *c)
{
    while (!c->closing && tls__out_pending(c->tls)) {
        char *buf;
        size_t len;
        write_req *w = NULL;
        if (tls__take_out(c->tls, &buf, &len) < 0 || (len && !(w = calloc(1, sizeof *w)))) {
            free(buf);
            conn__close(c, "out of memory");
            return HIST_ENOMEM;
        }
        if (!len)
            break;
        w->data = buf;
        w->conn = c;
        uv_buf_t b = uv_buf_init(buf, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
        if (rc != 0) {
            free(buf);
            free(w);
            conn__close(c, uv_strerror(rc));
            return HIST_EIO;
        }
    }
    return c->closing ? HIST_ECLOSED : 0;
}

/* Appends a reply buffer (taken over) to the plaintext queue. */
static void tls_queue(hist_conn *c, char *data, size_t len)
{
    if (!data || !len) {
        free(data);
        return;
    }
    struct tls_out *o = calloc(1, sizeof *o);
    if (!o) {
        free(data);
        conn__close(c, "out of memory");
        return;
    }
    o->data = data;
    o->len = len;
    if (c->tls_qt)
        c->tls_qt->next = o;
    else
        c->tls_q = o;
    c->tls_qt = o;
    c->tls_q_bytes += len;
}

/* Encrypts from the queue's head while libuv's queue has room. */
static void tls_pump(hist_conn *c)
{
    while (!c->closing && c->tls_q && c->tcp.write_queue_size < TLS_INFLIGHT) {
        struct tls_out *o = c->tls_q;
        size_t n = o->len - o->off < TLS_PIECE ? o->len - o->off : TLS_PIECE;
        long w = tls__write(c->tls, o->data + o->off, n);
        if (w <= 0) {
            hist_logf(&c->srv->log, HIST_LOG_INFO, "conn %llu TLS write failed: %s",
                      (unsigned long long)c->id, tls__reason(c->tls));
            conn__close(c, "TLS write failed");
            return;
        }
        o->off += (size_t)w;
        c->tls_q_bytes -= (size_t)w;
        if (o->off == o->len) {
            c->tls_q = o->next;
            if (!c->tls_q)
                c->tls_qt = NULL;
            free(o->data);
            free(o);
        }
        if (tls_send(c) < 0)
            return;
    }
    if (!c->closing && !c->tls_q && c->tls_close_after) {
        c->tls_close_after = false;
        tls__shutdown(c->tls);
        if (tls_send(c) == 0)
            shutdown_close(c, "closed after the error reply");
    }
}

static void tls_established(hist_conn *c)
{
    hist_server *srv = c->srv;
    srv->metrics.tls_handshakes++;
    c->msg_start_ms = 0;
    c->tls_subject = tls__peer_subject(c->tls);
    hist_logf(&srv->log, HIST_LOG_INFO, "conn %llu tls %s %s%s%s", (unsigned long long)c->id,
              tls__version(c->tls), tls__cipher(c->tls), c->tls_subject ? " client " : "",
              c->tls_subject ? c->tls_subject : "");
}

/* The session failed: its alert goes out, then this connection closes. */
static void tls_fail(hist_conn *c)
{
    hist_server *srv = c->srv;
    bool hs = !tls__handshake_done(c->tls);
    if (hs)
        srv->metrics.tls_handshake_failures++;
    hist_logf(&srv->log, HIST_LOG_INFO, "conn %llu TLS %s failed: %s", (unsigned long long)c->id,
              hs ? "handshake" : "session", tls__reason(c->tls));
    if (tls_send(c) < 0)
        return;
    c->stop_parsing = true;
    conn__update_reading(c);
    shutdown_close(c, hs ? "TLS handshake failed" : "TLS session failed");
}

/* nread bytes of ciphertext sit at c->in + c->in_len (the free end of the
 * input buffer): into the session, then plaintext to the protocol in the
 * same place, chunk by chunk, until the session has no more. */
static void tls_on_read(hist_conn *c, size_t nread)
{
    if (tls__feed(c->tls, c->in + c->in_len, nread) < 0) {
        conn__close(c, "out of memory");
        return;
    }
    for (;;) {
        conn__ensure_room(c, 16u << 10);
        size_t room = c->in_cap - c->in_len;
        if (!room) {
            conn__close(c, "out of memory");
            return;
        }
        bool was_done = tls__handshake_done(c->tls);
        long n = tls__read(c->tls, c->in + c->in_len, room);
        if (!was_done && tls__handshake_done(c->tls))
            tls_established(c);
        if (n == 0)
            break;
        if (n == HIST_ECLOSED) {
            conn__close(c, "peer closed (close_notify)");
            return;
        }
        if (n < 0) {
            tls_fail(c);
            return;
        }
        size_t off = c->in_len;
        c->in_len += (size_t)n;
        c->proto->on_data(c, off, (size_t)n);
        if (c->closing || c->stop_parsing)
            break;
    }
    if (!c->closing)
        tls_send(c);
}

int conn__send_interim(hist_conn *c, const char *data, size_t len)
{
    if (c->closing)
        return HIST_ECLOSED;
    if (!c->tls) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        return n > 0 && (size_t)n < len ? HIST_EIO : 0; /* nothing sent: the peer waits */
    }
    if (tls__write(c->tls, data, len) != (long)len)
        return HIST_EIO;
    return tls_send(c) < 0 ? HIST_EIO : 0;
}

const char *conn__peer_subject(const hist_conn *c)
{
    return c->tls_subject;
}

bool conn__tls_handshaking(const hist_conn *c)
{
    return c->tls && !tls__handshake_done(c->tls);
}

/* ---- replies --------------------------------------------------------- */

static void flush(hist_conn *c)
{
    while (!c->closing && c->head && c->head->ready) {
        hist_reply *r = c->head;
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        c->pending--;
        if (r->len && c->tls) {
            tls_queue(c, r->data, r->len);
            r->data = NULL;
            if (!c->closing)
                tls_queue(c, r->body, r->body_len);
            else
                free(r->body);
            r->body = NULL;
        } else if (r->len) {
            write_req *w = calloc(1, sizeof *w);
            if (w) {
                w->data = r->data;
                w->body = r->body;
                w->conn = c;
                uv_buf_t b[2] = {uv_buf_init(r->data, (unsigned)r->len),
                                 uv_buf_init(r->body, (unsigned)r->body_len)};
                unsigned nb = r->body && r->body_len ? 2 : 1;
                if (uv_write(&w->req, (uv_stream_t *)&c->tcp, b, nb, on_written) == 0)
                    r->data = r->body = NULL;
                else
                    free(w);
            }
        }
        bool close_after = r->close_after;
        reply_free(r);
        if (c->closing)
            return;
        if (close_after) {
            c->stop_parsing = true;
            conn__update_reading(c);
            if (c->tls) { /* close_notify once the queue is encrypted */
                c->tls_close_after = true;
                tls_pump(c);
                return;
            }
            shutdown_close(c, "closed after the error reply");
            return;
        }
    }
    if (!c->closing && c->tls)
        tls_pump(c);
    if (!c->closing)
        conn__update_reading(c);
}

void conn__reply_ready(hist_reply *r)
{
    hist_conn *c = r->conn;
    r->ready = true;
    access__log(c->srv, r);
    if (c->closing) {
        /* the connection went away while the job ran */
        reply_free(r);
    } else {
        flush(c);
    }
    conn_unref(c);
}

void conn__write_done(hist_job *job)
{
    hist_reply *r = job->owner;
    metrics__count_result(&r->conn->srv->metrics, &job->result);
    if (!r->conn->closing)
        r->conn->proto->fill_result(r, &job->result);
    decode__result_clear(&job->result);
    free(job);
    conn__reply_ready(r);
}

int conn__check_tags(const auth_grant *g, const hist_in_batch *b, hist_in_result *res)
{
    if (g && !g->tags)
        return 0;
    for (size_t i = 0; i < b->nseries; i++) {
        const char *name = b->series[i].name;
        if (auth__allows_tag(g, name))
            continue;
        decode__result_clear(res);
        res->batch_id = b->batch_id;
        res->samples = b->samples;
        decode__set_error(res, HIST_EAUTH,
                          "tag '%s' is outside the tags this token may write; the whole request "
                          "is refused",
                          name);
        decode__add_series_error(res, (uint32_t)i, name, HIST_EAUTH,
                                 "outside the token's tag patterns");
        return HIST_EAUTH;
    }
    return 0;
}
