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
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "ingest/ingest.h"

#define MAX_UNSENT_OUTPUT (8u << 20)
#define READ_CHUNK        (64u << 10)

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
    return c;
}

static void conn_free(hist_conn *c)
{
    auth__unref(c->grant_auth); /* the last user of its grant is gone */
    c->proto->free_state(c);
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
    free(h->data); /* a hist_conn that never started */
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

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hist_conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && c->in_len && c->proto->eof_mid_message && !c->stop_parsing)
            conn__close(c, c->proto->eof_mid_message);
        else
            conn__close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    c->last_activity_ms = clock__now_ms();
    if (c->stop_parsing)
        return; /* framing was lost: input is discarded until the close */
    size_t off = c->in_len;
    c->in_len += (size_t)nread;
    c->proto->on_data(c, off, (size_t)nread);
    if (!c->closing)
        conn__update_reading(c);
}

void conn__update_reading(hist_conn *c)
{
    hist_server *srv = c->srv;
    if (c->closing)
        return;
    bool want = !srv->paused && !srv->draining && !c->stop_parsing &&
                c->pending < srv->opts.max_pipeline && c->tcp.write_queue_size < MAX_UNSENT_OUTPUT;
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
    hist_logf(&srv->log, HIST_LOG_INFO, "conn %llu open %s from %s", (unsigned long long)c->id,
              c->proto->name, c->peer);
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
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->pending++;
    c->refs++;
    return r;
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    free(w->data);
    free(w->body);
    hist_conn *c = w->conn;
    free(w);
    if (!c->closing)
        conn__update_reading(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    hist_conn *c = req->data;
    free(req);
    conn__close(c, "closed after the error reply");
}

static void flush(hist_conn *c)
{
    while (!c->closing && c->head && c->head->ready) {
        hist_reply *r = c->head;
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        c->pending--;
        if (r->len) {
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
        if (close_after) {
            c->stop_parsing = true;
            conn__update_reading(c);
            uv_shutdown_t *sd = calloc(1, sizeof *sd);
            if (sd) {
                sd->data = c;
                if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
                    return;
                free(sd);
            }
            conn__close(c, "closed after the error reply");
            return;
        }
    }
    if (!c->closing)
        conn__update_reading(c);
}

void conn__reply_ready(hist_reply *r)
{
    hist_conn *c = r->conn;
    r->ready = true;
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
