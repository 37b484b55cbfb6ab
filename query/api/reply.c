/*
 * reply.c: building the answer every endpoint sends (api_internal.h, the
 * bottom of the API's call order): an error {"error": ..., "param": ...},
 * a JSON or buffer body, extra header lines, and the value and time
 * formats the endpoints share. Calls nothing of the API above it. Every
 * api__reply_* returns API_ANSWERED; when not even a fixed out-of-memory
 * body could be allocated c->answered stays false and hist_api_handle()
 * notices.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

static void set_answer(api_ctx *c, int status, const char *ctype, char *body, size_t len)
{
    free(c->resp->body);
    c->resp->status = status;
    c->resp->content_type = ctype;
    c->resp->body = body;
    c->resp->body_len = len;
    c->answered = true;
}

/* {"error": msg, "param": param|null, ...: the object is left open for the
 * caller's further fields. */
static void begin_error(hist_json *j, const char *msg, const char *param)
{
    json__init(j);
    json__begin_object(j);
    json__key(j, "error");
    json__string(j, msg);
    json__key(j, "param");
    if (param)
        json__string(j, param);
    else
        json__null(j);
}

int api__reply_error(api_ctx *c, int status, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hist_json j;
    begin_error(&j, msg, param);
    json__end_object(&j);
    return api__reply_json(c, status, &j);
}

int api__reply_limit(api_ctx *c, int status, const char *param, const char *limit, uint64_t value,
                     uint64_t max, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(c->resp->headers); /* e.g. the continuation of an answer not sent */
    c->resp->headers = NULL;
    hist_json j;
    begin_error(&j, msg, param);
    json__key(&j, "limit");
    json__string(&j, limit);
    json__key(&j, "value");
    json__uint(&j, value);
    json__key(&j, "max");
    json__uint(&j, max);
    json__end_object(&j);
    return api__reply_json(c, status, &j);
}

int api__reply_buf(api_ctx *c, int status, const char *content_type, hist_buf *b)
{
    size_t len = 0;
    char *body = hist_buf_take(b, &len);
    if (!body) {
        /* Out of memory: a fixed body the caller can still free. */
        body = strdup("{\"error\":\"out of memory\",\"param\":null}");
        if (!body)
            return API_ANSWERED; /* unanswered: hist_api_handle notices */
        set_answer(c, 500, "application/json", body, strlen(body));
        return API_ANSWERED;
    }
    set_answer(c, status, content_type, body, len);
    return API_ANSWERED;
}

int api__reply_json(api_ctx *c, int status, hist_json *j)
{
    return api__reply_buf(c, status, "application/json", &j->buf);
}

void api__add_header(api_ctx *c, const char *name, const char *value)
{
    hist_buf b;
    hist_buf_init(&b);
    if (c->resp->headers)
        hist_buf_puts(&b, c->resp->headers);
    hist_buf_printf(&b, "%s: %s\r\n", name, value);
    char *h = hist_buf_take(&b, NULL);
    if (h) {
        free(c->resp->headers);
        c->resp->headers = h;
    }
}

bool api__may_read(const api_ctx *c, const char *name)
{
    return hist_tagset_matches(c->req->tags, name);
}

int api__reply_forbidden(api_ctx *c, const char *param, const char *tag)
{
    free(c->resp->refused_tag);
    c->resp->refused_tag = strdup(tag);
    return api__reply_error(c, 403, param, "tag '%s' is outside the tags this token may read", tag);
}

int api__reply_internal(api_ctx *c, int rc)
{
    if (rc == HIST_EAUTH && c->refused[0])
        return api__reply_forbidden(c, NULL, c->refused);
    if (rc == HIST_ETIMEDOUT) /* a tag walk or the engine stopped at the deadline */
        return api__reply_limit(c, 422, NULL, "timeout_ms", (uint64_t)c->budget.lim.timeout_ms + 1,
                                c->budget.lim.timeout_ms,
                                "the request ran past its time budget of %u ms (timeout_ms): "
                                "a narrower tag pattern, a shorter range or fewer tags",
                                c->budget.lim.timeout_ms);
    return api__reply_error(c, 500, NULL, "storage error: %s", hist_strerror(rc));
}

/* ---- Values shared by the endpoints ------------------------------------------ */

int64_t api__ns_to_ms(int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ns % 1000000 < 0)
        ms--; /* floor, so times before 1970 stay ordered */
    return ms;
}

void api__json_value(hist_json *j, hist_type type, hist_value v)
{
    if (type == HIST_TYPE_FLOAT64)
        json__double(j, v.f);
    else
        json__int(j, v.i);
}
