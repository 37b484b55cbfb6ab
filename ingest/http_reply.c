/*
 * http_reply.c: HTTP answers as bytes in a reply slot (conn.c's
 * hist_reply): the status line and headers, a body (copied or owned), the
 * {"error": ...} shape of Historian's errors, a write's result (protobuf,
 * JSON, or for a line protocol write 204 and InfluxDB's error JSON). The
 * routes of http.c fill their slots with these; conn.c calls
 * reply__fill_write_result through http__proto when a write job is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* Fills a reply slot with an HTTP response whose body (malloc'd, len
 * bytes, may be NULL when empty) it takes over: the head goes to r->data,
 * the body is sent after it as it is, never copied. */
void reply__fill_owned(hist_reply *r, int status, const char *ctype, char *body, size_t len,
                       const char *extra)
{
    char head[512];
    r->status = status;
    if (!extra)
        extra = "";
    metrics__count_status(&r->conn->srv->metrics, status); /* every HTTP answer passes here */
    int n = status == 204 /* no body, and no Content-Length (RFC 9110 §8.6) */
                ? snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\n%s",
                           r->keep_alive ? "" : "Connection: close\r\n")
                : snprintf(head, sizeof head,
                           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s",
                           status, status_text(status), ctype, len,
                           status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
                           r->keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof head)
        n = 0;
    size_t elen = strlen(extra);
    r->data = malloc((size_t)n + elen + 2 + 1);
    if (!r->data) {
        free(body);
        r->close_after = true;
        return;
    }
    memcpy(r->data, head, (size_t)n);
    memcpy(r->data + n, extra, elen);
    memcpy(r->data + n + elen, "\r\n", 2);
    r->len = (size_t)n + elen + 2;
    if (r->head_only) { /* HEAD: the head says how long the body would be */
        free(body);
        body = NULL;
        len = 0;
    }
    r->body = body;
    r->body_len = len;
    if (!r->keep_alive)
        r->close_after = true;
}

/* The same for a body the caller keeps. */
void reply__fill_h(hist_reply *r, int status, const char *ctype, const void *body, size_t len,
                   const char *extra)
{
    char *copy = NULL;
    if (len && !(copy = malloc(len))) {
        r->close_after = true;
        return;
    }
    if (len)
        memcpy(copy, body, len);
    reply__fill_owned(r, status, ctype, copy, len, extra);
}

void reply__fill(hist_reply *r, int status, const char *ctype, const void *body, size_t len)
{
    reply__fill_h(r, status, ctype, body, len, NULL);
}

/* {"error":"msg"} in body (at least 512 bytes): its length. Quotes and
 * backslashes become ', control bytes are dropped, so no escaping is owed. */
static size_t error_body(char *body, size_t cap, const char *msg)
{
    size_t k = (size_t)snprintf(body, cap - 4, "{\"error\":\"");
    for (const char *p = msg; *p && k < cap - 8; p++)
        if (*p == '"' || *p == '\\')
            body[k++] = '\'';
        else if ((unsigned char)*p >= 0x20)
            body[k++] = *p;
    k += (size_t)snprintf(body + k, cap - k, "\"}");
    return k;
}

void reply__fill_error(hist_reply *r, int status, const char *msg)
{
    char body[512];
    reply__fill(r, status, "application/json", body, error_body(body, sizeof body, msg));
}

/* head_only: the request was HEAD (no body follows the head). */
void reply__error_h(hist_conn *c, bool keep_alive, bool head_only, int status, const char *msg,
                    const char *extra)
{
    hist_reply *r = conn__reply_new(c);
    if (!r) {
        conn__close(c, "out of memory");
        return;
    }
    r->keep_alive = keep_alive;
    r->head_only = head_only;
    char body[512];
    reply__fill_h(r, status, "application/json", body, error_body(body, sizeof body, msg), extra);
    if (!keep_alive)
        c->stop_parsing = true;
    conn__reply_ready(r);
}

void reply__error_now(hist_conn *c, bool keep_alive, int status, const char *msg)
{
    hist_reply *r = conn__reply_new(c);
    if (!r) {
        conn__close(c, "out of memory");
        return;
    }
    r->keep_alive = keep_alive;
    reply__fill_error(r, status, msg);
    if (!keep_alive)
        c->stop_parsing = true;
    conn__reply_ready(r);
}

/* ---- write ---------------------------------------------------------- */

/* A line protocol write's answer: 204 (saying how many fields were left
 * out), or InfluxDB's error JSON. */
void reply__fill_influx(hist_reply *r, int status, const char *msg)
{
    if (status == 204) {
        char extra[96] = "";
        if (r->lp_refused)
            snprintf(extra, sizeof extra,
                     "X-Historian-Refused-Fields: %u (string fields are not stored)\r\n",
                     r->lp_refused);
        reply__fill_owned(r, 204, "", NULL, 0, extra);
        return;
    }
    char body[1024];
    size_t n = lpw__error_json(body, sizeof body, lpw__code_of(status), msg);
    reply__fill(r, status, "application/json", body, n);
}

void reply__fill_write_result(hist_reply *r, const hist_in_result *res)
{
    int status =
        res->code == 0                                                                        ? 200
        : res->code == HIST_EAUTH                                                             ? 403
        : res->code == HIST_ECLOSED || res->code == HIST_EBUSY || res->code == HIST_EDISKFULL ? 503
        : res->code == HIST_EIO || res->code == HIST_ENOMEM                                   ? 500
                                                                                              : 400;
    if (r->influx) {
        const char *msg = res->error ? res->error : hist_strerror(res->code);
        char text[600];
        if (res->code && res->nerrors)
            snprintf(text, sizeof text, "%s: %s; nothing was written", res->errors[0].tag,
                     res->errors[0].message);
        else
            snprintf(text, sizeof text, "%s", msg);
        reply__fill_influx(r, res->code == 0 ? 204 : status, text);
        return;
    }
    if (r->json) {
        char *s;
        size_t n;
        if (decode__result_to_json(res, &s, &n) == 0) {
            reply__fill(r, status, "application/json", s, n);
            free(s);
            return;
        }
    } else {
        uint8_t *b;
        size_t n;
        if (decode__result_to_proto(res, 0, &b, &n) == 0) {
            reply__fill(r, status, "application/x-protobuf", b, n);
            free(b);
            return;
        }
    }
    reply__fill_error(r, 500, "out of memory");
}
