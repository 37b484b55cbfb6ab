/*
 * http.c: HTTP/1.1 on the same loop, parsed by http_parser (never by hand).
 *
 * Keep-alive and pipelining: every complete request takes a reply slot in
 * arrival order (conn.c), so responses leave in order even when a later
 * request finishes first. Routes:
 *   POST /api/v1/write   WriteRequest in (protobuf), WriteResponse out
 *                        (protobuf, or JSON with Accept: application/json);
 *                        200 written, 400 refused, 401/403 auth, 413 too big
 *   POST /api/v1/import  CSV (csv_import.c), answered as /api/v1/write's JSON
 *   POST /write, /api/v2/write  InfluxDB line protocol (lp_write.c), plain
 *                        or gzip; 204 written, else InfluxDB's error JSON
 *   GET  /healthz        200 "ok", or 503 and why (health.c)
 *   GET  /metrics        Prometheus text (metrics.c)
 *   GET  /, /viewer/...  the trend viewer's static files (query/api/viewer.c),
 *                        answered here on the loop, no token needed
 *   paths where hist_api_owns_path() is true: hist_api_handle() on the
 *                        libuv thread pool (uv_queue_work), at most
 *                        opts.api_workers at once; up to opts.api_queue more
 *                        wait in arrival order, the next gets 503 with
 *                        Retry-After; each runs under the read API's budgets
 *                        (hist_api_limits from the options)
 * HEAD is GET without the body (the head keeps its Content-Length); /healthz
 * and /metrics take GET and HEAD, other methods get 405 with Allow.
 * Limits: request line + headers <= max_header bytes, counted as they
 * arrive (names, values, separators and line ends), and at most
 * HTTP_MAX_HEADERS header lines (431); body <= max_frame (413); a parse
 * error is answered with 400 and the connection closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/hist_text.h"
#include "ingest/ingest.h"
#include "query/api/hist_api.h"

enum { H_NONE, H_CTYPE, H_ACCEPT, H_AUTH, H_EXPECT, H_CENC, H_INM, H_COUNT };

#define HTTP_MAX_HEADERS 100 /* header lines per request */

typedef struct {
    http_parser parser;
    char *url;
    size_t url_len;
    char field[32];
    size_t field_len;
    bool field_overflow;
    bool in_value;
    int cur;
    char *hdr[H_COUNT]; /* indexed by H_* */
    size_t hdr_len[H_COUNT];
    size_t header_bytes;
    unsigned header_count;
    uint8_t *body;
    size_t body_len, body_cap;
    int err_status; /* set by a callback that stopped the parser */
    const char *err_msg;
} http_state;

typedef struct api_work {
    uv_work_t work;
    struct api_work *next; /* waiting for a worker (srv->api_wait_head) */
    hist_api_limits limits;
    hist_server *srv;
    hist_reply *reply;
    hist_api_request req;
    hist_api_response resp;
    int rc;
    char *method, *path, *query, *ctype, *accept;
    uint8_t *body;
    /* The caller's grant and a reference to its snapshot, taken on the
     * loop thread in route_api and dropped on it in api_finish: the thread
     * pool reads req.tags (the grant's patterns) while a SIGHUP may have
     * replaced the server's snapshot, and this reference keeps the old one
     * alive until the request is answered. */
    const auth_grant *grant;
    hist_auth *auth;
    char peer[64];
    uint64_t queued_ns; /* uv_hrtime() when queued: the latency figure starts */
} api_work;

static bool is_protobuf_type(const char *ct)
{
    if (!ct || !*ct)
        return true;
    return !strncasecmp(ct, "application/x-protobuf", 22) ||
           !strncasecmp(ct, "application/protobuf", 20) ||
           !strncasecmp(ct, "application/octet-stream", 24);
}

static void audit_http(hist_conn *c, http_state *st, const char *event, const auth_grant *g,
                       const char *path, int status, const char *tag, const char *detail)
{
    audit_event ev = {.event = event,
                      .proto = "http",
                      .peer = c->peer,
                      .grant = g,
                      .subject = g ? NULL : conn__peer_subject(c),
                      .method = http_method_str((enum http_method)st->parser.method),
                      .route = path,
                      .status = status,
                      .tag = tag,
                      .detail = detail};
    audit__log(c->srv->audit, &ev);
}

/* Every tag of batch inside the grant's patterns; else res says which (the
 * refusal audited) and HIST_EAUTH. */
static int check_tags_audited(hist_conn *c, http_state *st, const auth_grant *g, const char *path,
                              const hist_in_batch *batch, hist_in_result *res)
{
    if (!batch || conn__check_tags(g, batch, res) == 0)
        return 0;
    audit_http(c, st, "tag_refused", g, path, 403, res->nerrors ? res->errors[0].tag : NULL,
               res->error);
    return HIST_EAUTH;
}

/* A reply slot, or NULL with the connection closing (out of memory). */
static hist_reply *reply_slot(hist_conn *c, bool keep_alive)
{
    hist_reply *r = conn__reply_new(c);
    if (!r)
        conn__close(c, "out of memory");
    else
        r->keep_alive = keep_alive;
    return r;
}

/* Queues batch (owned) for the writer; the slot is answered, in its style,
 * when the write is durable (conn__write_done), or now if out of memory. */
static void submit_write(hist_server *srv, hist_reply *r, hist_in_batch *batch, size_t bytes,
                         hist_in_result *res)
{
    hist_job *job = calloc(1, sizeof *job);
    if (!job) {
        free(batch);
        decode__result_clear(res);
        hist_in_result oom = {.code = HIST_ENOMEM};
        reply__fill_write_result(r, &oom);
        conn__reply_ready(r);
        return;
    }
    job->batch = batch;
    job->bytes = bytes;
    job->result = *res;
    job->result.batch_id = batch->batch_id;
    job->result.samples = batch->samples;
    job->owner = r;
    job->done = conn__write_done;
    conn__submit(srv, job);
}

/* The grant is used here on the loop thread only, before dispatch returns:
 * a reload (also on the loop thread) cannot run in between, so no
 * reference is taken. */
static void route_write(hist_conn *c, http_state *st, bool keep_alive, bool json,
                        const auth_grant *g, const char *path)
{
    hist_server *srv = c->srv;
    if (!is_protobuf_type(st->hdr[H_CTYPE])) {
        reply__error_now(c, keep_alive, 415, "POST /api/v1/write takes application/x-protobuf");
        return;
    }
    hist_in_batch *batch = NULL;
    hist_in_result res;
    srv->metrics.bytes_in += st->body_len;
    int rc = decode__request(st->body ? st->body : (const uint8_t *)"", st->body_len, &batch, &res,
                             NULL);
    if (rc == 0 && (rc = check_tags_audited(c, st, g, path, batch, &res)) < 0) {
        free(batch);
        batch = NULL;
    }
    hist_reply *r = reply_slot(c, keep_alive);
    if (!r) {
        free(batch);
        decode__result_clear(&res);
        return;
    }
    r->json = json;
    if (rc < 0) {
        srv->metrics.batches_rejected++;
        srv->metrics.samples_rejected += res.samples;
        reply__fill_write_result(r, &res);
        decode__result_clear(&res);
        conn__reply_ready(r);
        return;
    }
    submit_write(srv, r, batch, st->body_len, &res);
}

/* A line protocol write (lp_write.c): one whole batch, the answer 204 or
 * InfluxDB's error JSON. The grant is used as in route_write. */
static void route_lp_write(hist_conn *c, http_state *st, bool keep_alive, const auth_grant *g,
                           const char *path, const char *query)
{
    hist_server *srv = c->srv;
    hist_reply *r = reply_slot(c, keep_alive);
    if (!r)
        return;
    r->influx = true;
    srv->metrics.lp_requests++;
    srv->metrics.bytes_in += st->body_len;
    const char *enc = st->hdr[H_CENC];
    bool gz = enc && !strcasecmp(enc, "gzip");
    if (enc && !gz && strcasecmp(enc, "identity")) {
        reply__fill_influx(r, 415, "Content-Encoding: gzip or identity");
        conn__reply_ready(r);
        return;
    }
    hist_in_batch *batch = NULL;
    lpw_outcome oc;
    int64_t now = (int64_t)clock__wall_ms() * 1000000;
    int rc = lpw__decode(&srv->lp, query, gz, st->body, st->body_len, now, &batch, &oc);
    hist_in_result res = {0};
    if (rc == 0 && (rc = check_tags_audited(c, st, g, path, batch, &res)) < 0) {
        oc.status = 403;
        snprintf(oc.msg, sizeof oc.msg, "%s", res.error ? res.error : "tag refused");
        decode__result_clear(&res);
        free(batch);
        batch = NULL;
    }
    if (rc < 0 || !batch) {
        srv->metrics.batches_rejected += rc < 0;
        reply__fill_influx(r, rc < 0 ? oc.status : 204, oc.msg);
        conn__reply_ready(r);
        return;
    }
    srv->metrics.lp_points += oc.points;
    srv->metrics.lp_refused_fields += oc.refused;
    r->lp_refused = (uint32_t)(oc.refused > UINT32_MAX ? UINT32_MAX : oc.refused);
    submit_write(srv, r, batch, st->body_len, &res);
}

/* CSV over HTTP (csv_import.c): one whole batch, the answer a write's
 * result in JSON (200 and what was written) or {"error": ...}. */
static void route_import(hist_conn *c, http_state *st, bool keep_alive, const auth_grant *g,
                         const char *path, const char *query)
{
    hist_server *srv = c->srv;
    hist_reply *r = reply_slot(c, keep_alive);
    if (!r)
        return;
    r->json = true;
    srv->metrics.bytes_in += st->body_len;
    hist_in_batch *batch = NULL;
    hist_in_result res = {0};
    char err[1024] = "";
    const char *enc = st->hdr[H_CENC];
    int rc;
    if (enc && strcasecmp(enc, "identity")) {
        snprintf(err, sizeof err, "POST /api/v1/import takes a plain body (no Content-Encoding)");
        rc = HIST_EUNSUPPORTED;
    } else {
        rc = csvi__decode(query, st->body, st->body_len, &batch, err, sizeof err);
    }
    if (rc == 0 && !batch) {
        snprintf(err, sizeof err, "no sample in the body");
        rc = HIST_EINVAL;
    }
    if (rc == 0 && (rc = check_tags_audited(c, st, g, path, batch, &res)) < 0) {
        snprintf(err, sizeof err, "%s", res.error ? res.error : "tag refused");
        decode__result_clear(&res);
    }
    if (rc < 0) {
        free(batch);
        srv->metrics.batches_rejected++;
        int status = rc == HIST_EAUTH          ? 403
                     : rc == HIST_EUNSUPPORTED ? 415
                     : rc == HIST_ENOMEM       ? 500
                                               : 400;
        reply__fill_error(r, status, err);
        conn__reply_ready(r);
        return;
    }
    submit_write(srv, r, batch, st->body_len, &res);
}

/* ---- read API on the thread pool ----------------------------------- */

static void api_run(uv_work_t *w)
{
    api_work *a = w->data;
    a->rc = hist_api_handle(a->srv->db, &a->req, &a->resp);
}

static void api_work_free(api_work *a)
{
    free(a->resp.refused_tag);
    free(a->resp.audit_tag);
    free(a->resp.audit_detail);
    free(a->resp.body);
    free(a->resp.headers);
    free(a->method);
    free(a->path);
    free(a->query);
    free(a->ctype);
    free(a->accept);
    free(a->body);
    free(a);
}

static void api_finish(api_work *a, int status);
static void api_after(uv_work_t *w, int status);

/* Puts waiting requests on the pool while a worker is free. One whose
 * connection closed meanwhile is dropped without running. */
static void api_start_waiting(hist_server *srv)
{
    while (srv->api_wait_head && srv->api_running < srv->opts.api_workers) {
        api_work *a = srv->api_wait_head;
        srv->api_wait_head = a->next;
        if (!srv->api_wait_head)
            srv->api_wait_tail = NULL;
        a->next = NULL;
        srv->api_running++; /* api_finish counts it out again */
        if (a->reply->conn->closing)
            api_finish(a, UV_ECANCELED); /* no recursion: the loop goes on */
        else if (uv_queue_work(srv->loop, &a->work, api_run, api_after) != 0)
            api_finish(a, UV_ENOMEM);
    }
}

/* The request is done (or dropped): its reply is filled and sent. */
static void api_finish(api_work *a, int status)
{
    hist_reply *r = a->reply;
    hist_server *srv = a->srv;
    srv->api_inflight--;
    srv->api_running--;
    if (status == 0 && a->rc == 0 && (a->resp.status == 403 || a->resp.admin)) {
        /* logged here, on the loop thread: the pool only returned it */
        const char *event = a->resp.status != 403 ? "admin"
                            : a->resp.refused_tag ? "tag_refused"
                                                  : "scope_refused";
        audit_event ev = {.event = event,
                          .proto = "http",
                          .peer = a->peer,
                          .grant = a->grant,
                          .method = a->method,
                          .route = a->path,
                          .status = a->resp.status,
                          .tag = a->resp.refused_tag ? a->resp.refused_tag : a->resp.audit_tag,
                          .detail = a->resp.audit_detail};
        audit__log(srv->audit, &ev);
    }
    auth__unref(a->auth);
    a->auth = NULL;
    if (status == 0) /* ran: its time counts (a dropped one's does not) */
        metrics__count_query(&srv->metrics, a->rc == 0 ? a->resp.mode : NULL,
                             (double)(uv_hrtime() - a->queued_ns) / 1e9);
    if (!r->conn->closing) {
        if (status == 0 && a->rc == 0) {
            reply__fill_owned(r, a->resp.status ? a->resp.status : 500,
                              a->resp.content_type ? a->resp.content_type : "application/json",
                              a->resp.body, a->resp.body_len, a->resp.headers);
            a->resp.body = NULL; /* the reply owns it now */
        } else
            reply__fill_error(r, 500, "the request could not be answered");
    }
    api_work_free(a);
    conn__reply_ready(r);
}

static void api_after(uv_work_t *w, int status)
{
    api_work *a = w->data;
    hist_server *srv = a->srv;
    api_finish(a, status);
    api_start_waiting(srv);
}

/* The queue is full: 503 with Retry-After, naming the limit. */
static void reply_queue_full(hist_conn *c, bool keep_alive, bool head_only)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "the read API is busy: %u requests running (api_workers) and %u waiting "
             "(api_queue, full); retry later",
             c->srv->opts.api_workers, c->srv->opts.api_queue);
    c->srv->metrics.api_rejected++;
    reply__error_h(c, keep_alive, head_only, 503, msg, "Retry-After: 1\r\n");
}

static void route_api(hist_conn *c, http_state *st, bool keep_alive, const char *path,
                      const char *query, const auth_grant *g, bool head)
{
    hist_server *srv = c->srv;
    unsigned waiting = srv->api_inflight - srv->api_running;
    if (srv->api_running >= srv->opts.api_workers && waiting >= srv->opts.api_queue) {
        reply_queue_full(c, keep_alive, head);
        return;
    }
    api_work *a = calloc(1, sizeof *a);
    hist_reply *r = a ? conn__reply_new(c) : NULL;
    if (!r) {
        free(a);
        conn__close(c, "out of memory");
        return;
    }
    r->keep_alive = keep_alive;
    r->head_only = head;
    a->srv = srv;
    a->reply = r;
    a->work.data = a;
    /* HEAD is answered as GET, without the body */
    a->method = strdup(head ? "GET" : http_method_str((enum http_method)st->parser.method));
    a->path = strdup(path);
    a->query = strdup(query);
    a->ctype = st->hdr[H_CTYPE] ? strdup(st->hdr[H_CTYPE]) : NULL;
    a->accept = st->hdr[H_ACCEPT] ? strdup(st->hdr[H_ACCEPT]) : NULL;
    a->body = st->body; /* ownership moves to the work item */
    st->body = NULL;
    st->body_cap = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    a->limits = (hist_api_limits){.max_rows = srv->opts.api_max_rows,
                                  .max_bytes = srv->opts.api_max_bytes,
                                  .timeout_ms = srv->opts.api_timeout_ms,
                                  .max_patterns = srv->opts.api_max_patterns};
    a->req.method = a->method;
    a->req.path = a->path;
    a->req.query = a->query;
    a->req.content_type = a->ctype;
    a->req.accept = a->accept;
    a->req.body = a->body;
    a->req.body_len = st->body_len;
    a->req.scopes = g->scopes;
    a->req.tags = g->tags;
    a->grant = g;
    snprintf(a->peer, sizeof a->peer, "%s", c->peer);
    a->req.now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    a->req.limits = &a->limits;
    if (!a->method || !a->path || !a->query) {
        reply__fill_error(r, 500, "could not queue the request");
        api_work_free(a);
        conn__reply_ready(r);
        return;
    }
    a->queued_ns = uv_hrtime();
    a->auth = srv->auth; /* see api_work: released in api_finish */
    auth__ref(a->auth);
    srv->api_inflight++;
    if (srv->api_wait_tail)
        srv->api_wait_tail->next = a;
    else
        srv->api_wait_head = a;
    srv->api_wait_tail = a;
    api_start_waiting(srv);
}

/* ---- dispatch -------------------------------------------------------- */

/* The grant of the request's bearer token: the open grant without a
 * tokens file; without a token, the grant of the TLS client certificate's
 * subject (a cert: line); NULL when there is neither (*had_token false) or
 * the token is unknown. A token, when sent, wins over the certificate. */
static const auth_grant *request_grant(hist_conn *c, http_state *st, bool *had_token)
{
    const char *auth = st->hdr[H_AUTH];
    *had_token = false;
    if (!c->srv->auth)
        return auth__grant_for_token(NULL, NULL, 0);
    if (!auth && conn__peer_subject(c))
        return auth__grant_for_subject(c->srv->auth, conn__peer_subject(c));
    char tok1[256]; /* InfluxDB 1.x clients: POST /write?u=USER&p=TOKEN */
    const char *q = !auth && st->url ? strchr(st->url, '?') : NULL;
    if (q && (size_t)(q - st->url) == 6 && !strncmp(st->url, "/write", 6) &&
        lpw__token_param(q + 1, tok1, sizeof tok1)) {
        *had_token = true;
        return auth__grant_for_token(c->srv->auth, tok1, strlen(tok1));
    }
    /* "Bearer T", or InfluxDB's "Token T" */
    bool bearer = auth && !strncasecmp(auth, "Bearer ", 7);
    if (!auth || (!bearer && strncasecmp(auth, "Token ", 6)))
        return NULL;
    const char *tok = auth + (bearer ? 7 : 6);
    while (*tok == ' ')
        tok++;
    *had_token = true;
    return auth__grant_for_token(c->srv->auth, tok, strlen(tok));
}

/* 401 without a known token, 403 with one that lacks the scope; both are
 * audited. */
static bool allowed(hist_conn *c, http_state *st, bool keep_alive, const auth_grant *g,
                    unsigned need, bool had, const char *path)
{
    if (g && (g->scopes & need) == need)
        return true;
    const char *msg = g     ? "the token lacks the scope this request needs"
                      : had ? "unknown token"
                            : "authentication required: Authorization: Bearer <token>";
    audit_http(c, st, g ? "scope_refused" : "auth_failed", g, path, g ? 403 : 401, NULL, msg);
    reply__error_now(c, keep_alive, g ? 403 : 401, msg);
    return false;
}

/* What the access log says of the request (access_log.c): its method,
 * its path without the query, when it was complete; the grant follows. */
static void note_request(hist_conn *c, http_state *st, const char *method)
{
    access_note *n = &c->req_note;
    memset(n, 0, sizeof *n);
    if (!c->srv->access)
        return;
    n->set = true;
    n->start_us = clock__now_us();
    snprintf(n->method, sizeof n->method, "%s", method);
    size_t len = st->url ? strcspn(st->url, "?") : 0;
    snprintf(n->route, sizeof n->route, "%.*s", (int)len, st->url ? st->url : "");
}

/* The trend viewer's files: static bytes, no token (they hold no data;
 * the API calls the page makes are checked as always). */
static void route_viewer(hist_conn *c, http_state *st, bool keep_alive, const char *method,
                         const char *path, bool head)
{
    hist_viewer_reply v;
    hist_viewer_answer(method, path, st->hdr[H_INM], &v);
    if (v.status == 405) {
        reply__error_h(c, keep_alive, head, 405, "the viewer takes GET or HEAD",
                       "Allow: GET, HEAD\r\n");
        return;
    }
    if (v.status == 404) {
        reply__error_h(c, keep_alive, head, 404, "no such path", NULL);
        return;
    }
    hist_reply *r = conn__reply_new(c);
    if (!r) {
        conn__close(c, "out of memory");
        return;
    }
    char extra[256];
    snprintf(extra, sizeof extra,
             "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n", v.etag,
             v.cache_control);
    r->keep_alive = keep_alive;
    r->head_only = head || v.status == 304; /* a 304 has no body */
    reply__fill_h(r, v.status, v.content_type, v.body, v.len, extra);
    conn__reply_ready(r);
}

static void dispatch(hist_conn *c, http_state *st)
{
    hist_server *srv = c->srv;
    bool keep_alive = http_should_keep_alive(&st->parser) && !srv->draining;
    const char *method = http_method_str((enum http_method)st->parser.method);
    srv->metrics.http_requests++;
    note_request(c, st, method);
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!st->url || http_parser_parse_url(st->url, st->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        reply__error_now(c, keep_alive, 400, "bad request target");
        return;
    }
    char *path; /* NULL on a bad escape or %00 (hist_text.h) */
    hist_url_decode(st->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, 0, &path, NULL);
    char *query = (u.field_set & (1 << UF_QUERY))
                      ? strndup(st->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len)
                      : strdup("");
    if (!path || !query) {
        reply__error_now(c, keep_alive, 400, "bad percent-encoding in the path");
        goto out;
    }
    bool had_token;
    const auth_grant *grant = request_grant(c, st, &had_token);
    if (grant)
        snprintf(c->req_note.grant, sizeof c->req_note.grant, "%s", grant->id);
    bool head = !strcmp(method, "HEAD");
    bool get = !strcmp(method, "GET") || head;
    if (!strcmp(path, "/healthz")) {
        hist_reply *r = get ? conn__reply_new(c) : NULL;
        if (!get) {
            reply__error_h(c, keep_alive, false, 405, "/healthz takes GET or HEAD",
                           "Allow: GET, HEAD\r\n");
        } else if (r) {
            char text[2048];
            int status = health__text(srv->db, &srv->metrics, text, sizeof text);
            r->keep_alive = keep_alive;
            r->head_only = head;
            reply__fill(r, status, "text/plain", text, strlen(text));
            conn__reply_ready(r);
        }
    } else if (!strcmp(path, "/metrics")) {
        if (!get) {
            reply__error_h(c, keep_alive, false, 405, "/metrics takes GET or HEAD",
                           "Allow: GET, HEAD\r\n");
        } else if (allowed(c, st, keep_alive, grant, HIST_SCOPE_READ, had_token, path)) {
            char *text;
            size_t len;
            hist_reply *r = conn__reply_new(c);
            if (r) {
                r->keep_alive = keep_alive;
                r->head_only = head;
                srv->metrics.writer_queue_bytes = writer__queued_bytes(srv->writer);
                srv->metrics.writer_queue_limit = srv->opts.writer_queue_bytes;
                if (metrics__render(&srv->metrics, srv->db, &text, &len) == 0) {
                    reply__fill(r, 200, "text/plain; version=0.0.4", text, len);
                    free(text);
                } else {
                    reply__fill_error(r, 500, "out of memory");
                }
                conn__reply_ready(r);
            }
        }
    } else if (!strcmp(path, "/api/v1/write")) {
        if (strcmp(method, "POST"))
            reply__error_h(c, keep_alive, head, 405, "POST /api/v1/write", "Allow: POST\r\n");
        else if (allowed(c, st, keep_alive, grant, HIST_SCOPE_WRITE, had_token, path))
            route_write(c, st, keep_alive,
                        st->hdr[H_ACCEPT] && strstr(st->hdr[H_ACCEPT], "application/json"), grant,
                        path);
    } else if (!strcmp(path, "/api/v1/import")) {
        if (strcmp(method, "POST"))
            reply__error_h(c, keep_alive, head, 405, "POST /api/v1/import", "Allow: POST\r\n");
        else if (allowed(c, st, keep_alive, grant, HIST_SCOPE_WRITE, had_token, path))
            route_import(c, st, keep_alive, grant, path, query);
    } else if (!strcmp(path, "/write") || !strcmp(path, "/api/v2/write")) {
        if (strcmp(method, "POST"))
            reply__error_h(c, keep_alive, head, 405, "POST", "Allow: POST\r\n");
        else if (allowed(c, st, keep_alive, grant, HIST_SCOPE_WRITE, had_token, path))
            route_lp_write(c, st, keep_alive, grant, path, query);
    } else if (hist_viewer_owns_path(path)) {
        route_viewer(c, st, keep_alive, method, path, head);
    } else if (hist_api_owns_path(path)) {
        if (allowed(c, st, keep_alive, grant, HIST_SCOPE_READ, had_token, path))
            route_api(c, st, keep_alive, path, query, grant, head);
    } else {
        reply__error_h(c, keep_alive, head, 404, "no such path", NULL);
    }
out:
    c->req_note.set = false; /* every reply to it is made by now */
    free(path);
    free(query);
}

/* ---- http_parser callbacks ----------------------------------------- */

static void reset_message(http_state *st)
{
    free(st->url);
    st->url = NULL;
    st->url_len = 0;
    for (int i = 0; i < H_COUNT; i++) {
        free(st->hdr[i]);
        st->hdr[i] = NULL;
        st->hdr_len[i] = 0;
    }
    st->field_len = 0;
    st->field_overflow = false;
    st->in_value = false;
    st->cur = H_NONE;
    st->header_bytes = 0;
    st->header_count = 0;
    st->body_len = 0;
}

static int append(char **buf, size_t *len, const char *at, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        return -1;
    memcpy(grown + *len, at, n);
    *len += n;
    grown[*len] = 0;
    *buf = grown;
    return 0;
}

/* The parser's own count of the message's bytes so far (request line,
 * names, values, separators, line ends: p->nread) is what the limit
 * bounds; n only keeps the count of the callbacks' data as a floor. */
static int count_header(http_parser *p, size_t n)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    st->header_bytes += n;
    if (st->header_bytes < p->nread)
        st->header_bytes = p->nread;
    if (st->header_bytes > c->srv->opts.max_header) {
        st->err_status = 431;
        st->err_msg = "request line and headers exceed the limit";
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    hist_conn *c = p->data;
    reset_message(c->proto_state);
    c->msg_start_ms = clock__now_ms();
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    if (count_header(p, n))
        return -1;
    return append(&st->url, &st->url_len, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    if (count_header(p, n))
        return -1;
    if (st->in_value || st->header_count == 0) { /* a new header line */
        if (++st->header_count > HTTP_MAX_HEADERS) {
            st->err_status = 431;
            st->err_msg = "more than 100 header lines";
            return -1;
        }
    }
    if (st->in_value) {
        st->in_value = false;
        st->field_len = 0;
        st->field_overflow = false;
    }
    if (st->field_len + n >= sizeof st->field) {
        st->field_overflow = true;
        return 0;
    }
    memcpy(st->field + st->field_len, at, n);
    st->field_len += n;
    st->field[st->field_len] = 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    if (count_header(p, n))
        return -1;
    if (!st->in_value) {
        st->in_value = true;
        st->cur = H_NONE;
        if (!st->field_overflow) {
            if (!strcasecmp(st->field, "Content-Type"))
                st->cur = H_CTYPE;
            else if (!strcasecmp(st->field, "Accept"))
                st->cur = H_ACCEPT;
            else if (!strcasecmp(st->field, "Authorization"))
                st->cur = H_AUTH;
            else if (!strcasecmp(st->field, "Expect"))
                st->cur = H_EXPECT;
            else if (!strcasecmp(st->field, "Content-Encoding"))
                st->cur = H_CENC;
            else if (!strcasecmp(st->field, "If-None-Match"))
                st->cur = H_INM;
        }
        if (st->cur != H_NONE) { /* a repeated header: the last one counts */
            free(st->hdr[st->cur]);
            st->hdr[st->cur] = NULL;
            st->hdr_len[st->cur] = 0;
        }
    }
    if (st->cur == H_NONE)
        return 0;
    return append(&st->hdr[st->cur], &st->hdr_len[st->cur], at, n);
}

static int on_headers_complete(http_parser *p)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    if (count_header(p, 0))
        return -1;
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->opts.max_frame) {
        st->err_status = 413;
        st->err_msg = "request body exceeds the limit";
        return -1;
    }
    if (p->upgrade || p->method == HTTP_CONNECT) {
        st->err_status = 400;
        st->err_msg = "upgrade and CONNECT are not supported";
        return -1;
    }
    /* Authentication before work proportional to the request: a caller
     * without a grant does not get its body read (401, and the connection
     * closes with the body unread). Scopes need the route and are checked
     * in dispatch. */
    bool has_body =
        p->content_length != ULLONG_MAX ? p->content_length > 0 : (p->flags & F_CHUNKED) != 0;
    bool had_token;
    if (has_body && c->srv->auth && !request_grant(c, st, &had_token)) {
        char route[256];
        size_t n = st->url ? strcspn(st->url, "?") : 0;
        snprintf(route, sizeof route, "%.*s", (int)(n < 255 ? n : 255), st->url ? st->url : "");
        st->err_status = 401;
        st->err_msg = had_token ? "unknown token (the body was not read)"
                                : "authentication required: Authorization: Bearer <token> (the "
                                  "body was not read)";
        audit_http(c, st, "auth_failed", NULL, route, 401, NULL, st->err_msg);
        return -1;
    }
    /* curl sends "Expect: 100-continue" before bodies over 1 KiB and waits
     * a second for it; answer at once when no earlier response is owed
     * (an interim response must not overtake them) */
    if (st->hdr[H_EXPECT] && !strcasecmp(st->hdr[H_EXPECT], "100-continue") && !c->pending &&
        !conn__unsent(c)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (conn__send_interim(c, cont, sizeof cont - 1) < 0) {
            st->err_status = 500;
            st->err_msg = "could not send 100 Continue";
            return -1;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    if (st->body_len + n > c->srv->opts.max_frame) {
        st->err_status = 413;
        st->err_msg = "request body exceeds the limit";
        return -1;
    }
    if (st->body_len + n > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < st->body_len + n)
            cap *= 2;
        if (p->content_length != ULLONG_MAX && cap < st->body_len + n + p->content_length)
            cap = st->body_len + n + p->content_length;
        uint8_t *grown = realloc(st->body, cap);
        if (!grown)
            return -1;
        st->body = grown;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, at, n);
    st->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hist_conn *c = p->data;
    http_state *st = c->proto_state;
    c->msg_start_ms = 0;
    dispatch(c, st);
    reset_message(st);
    /* a response that closes the connection ends the parsing too */
    return c->stop_parsing || c->closing ? -1 : 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static int init_state(hist_conn *c)
{
    http_state *st = calloc(1, sizeof *st);
    if (!st)
        return HIST_ENOMEM;
    http_parser_init(&st->parser, HTTP_REQUEST);
    st->parser.data = c;
    c->proto_state = st;
    return 0;
}

static void on_data(hist_conn *c, size_t off, size_t n)
{
    http_state *st = c->proto_state;
    c->in_len = 0; /* http_parser keeps its own state: c->in is only the read buffer */
    size_t used = http_parser_execute(&st->parser, &settings, (const char *)c->in + off, n);
    if (c->closing || c->stop_parsing)
        return;
    enum http_errno e = HTTP_PARSER_ERRNO(&st->parser);
    if (e != HPE_OK || (used != n && !st->parser.upgrade)) {
        char msg[160];
        int status = st->err_status ? st->err_status : 400;
        snprintf(msg, sizeof msg, "%s", st->err_msg ? st->err_msg : http_errno_description(e));
        if (e == HPE_HEADER_OVERFLOW)
            status = 431;
        reply__error_now(c, false, status, msg);
    }
}

static void free_state(hist_conn *c)
{
    http_state *st = c->proto_state;
    if (!st)
        return;
    reset_message(st);
    free(st->body);
    free(st);
    c->proto_state = NULL;
}

const conn__proto http__proto = {
    .name = "http",
    .init_state = init_state,
    .on_data = on_data,
    .free_state = free_state,
    .fill_result = reply__fill_write_result,
    .eof_mid_message = NULL,
};
