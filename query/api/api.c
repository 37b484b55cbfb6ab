/*
 * api.c: the HTTP read API's entry (hist_api.h): routing, access scopes,
 * request parameters and the answer helpers every endpoint uses.
 *
 * Routes (see docs/api.md):
 *   GET|POST /api/v1/query          api_query.c      scope READ
 *   GET      /api/v1/tags[/{name}]  api_tags.c       scope READ
 *   PUT      /api/v1/tags/{name}    api_tags.c       scope ADMIN
 *   GET      /api/v1/stats          here             scope READ
 *   GET|POST /api/v1/admin/scrub    api_admin.c      scope ADMIN
 *   GET|POST /grafana/...           grafana.c        scope READ
 * An answer that left damaged chunks out says how many in the header
 * X-Historian-Damaged-Chunks.
 * Bad input always gets a 4xx with {"error": "...", "param": "..."}; a 500
 * only reports a storage failure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hist_text.h"
#include "query/api/api_internal.h"

/* ---- Answers ---------------------------------------------------------------- */

static void set_answer(api_ctx *c, int status, const char *ctype, char *body, size_t len)
{
    free(c->resp->body);
    c->resp->status = status;
    c->resp->content_type = ctype;
    c->resp->body = body;
    c->resp->body_len = len;
    c->answered = true;
}

int api_error(api_ctx *c, int status, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hist_json j;
    hist_json_init(&j);
    hist_json_begin_object(&j);
    hist_json_key(&j, "error");
    hist_json_string(&j, msg);
    hist_json_key(&j, "param");
    if (param)
        hist_json_string(&j, param);
    else
        hist_json_null(&j);
    hist_json_end_object(&j);
    return api_reply_json(c, status, &j);
}

int api_reply_buf(api_ctx *c, int status, const char *content_type, hist_buf *b)
{
    size_t len = 0;
    char *body = hist_buf_take(b, &len);
    if (!body) {
        /* Out of memory: a fixed body the caller can still free. */
        body = strdup("{\"error\":\"out of memory\",\"param\":null}");
        if (!body)
            return HIST_ENOMEM;
        set_answer(c, 500, "application/json", body, strlen(body));
        return 0;
    }
    set_answer(c, status, content_type, body, len);
    return 0;
}

int api_reply_json(api_ctx *c, int status, hist_json *j)
{
    return api_reply_buf(c, status, "application/json", &j->buf);
}

void api_add_header(api_ctx *c, const char *name, const char *value)
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

int api_internal_error(api_ctx *c, int rc)
{
    return api_error(c, 500, NULL, "storage error: %s", hist_strerror(rc));
}

/* ---- Parameters ----------------------------------------------------------------- */

void api_params_free(api_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

int api_params_add(api_params *p, const char *key, size_t klen, const char *val, size_t vlen)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        api_kv *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return HIST_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    char *k = strndup(key, klen), *s = strndup(val, vlen);
    if (!k || !s) {
        free(k);
        free(s);
        return HIST_ENOMEM;
    }
    p->v[p->n].key = k;
    p->v[p->n].value = s;
    p->n++;
    return 0;
}

int api_params_from_urlencoded(api_params *p, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && s[eq] != '=')
                eq++;
            /* '+' is a space; a malformed '%' is kept as it is, and "%00"
             * ends the text (hist_text.h, HIST_URL_LENIENT). */
            const unsigned how = HIST_URL_FORM | HIST_URL_LENIENT;
            size_t kl = 0, vl = 0;
            char *k = NULL, *v = NULL;
            hist_url_decode(s + i, eq - i, how, &k, &kl);
            if (eq < end)
                hist_url_decode(s + eq + 1, end - eq - 1, how, &v, &vl);
            else
                v = strdup("");
            int rc = (k && v) ? api_params_add(p, k, kl, v, vl) : HIST_ENOMEM;
            free(k);
            free(v);
            if (rc < 0)
                return rc;
        }
        i = end + 1;
    }
    return 0;
}

/* One JSON scalar as parameter text; 0 = skipped (object, null). */
static int json_scalar_text(json_t *v, char *buf, size_t cap, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 1;
    }
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_double(&b, json_real_value(v));
        snprintf(buf, cap, "%s", b.data ? b.data : "null");
        hist_buf_free(&b);
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else {
        return 0;
    }
    *out = buf;
    return 1;
}

int api_params_from_json(api_params *p, json_t *obj)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        char buf[64];
        const char *text;
        if (json_is_array(val)) {
            size_t i;
            json_t *el;
            json_array_foreach(val, i, el)
            {
                if (json_scalar_text(el, buf, sizeof buf, &text) &&
                    api_params_add(p, key, strlen(key), text, strlen(text)) < 0)
                    return HIST_ENOMEM;
            }
        } else if (json_scalar_text(val, buf, sizeof buf, &text)) {
            if (api_params_add(p, key, strlen(key), text, strlen(text)) < 0)
                return HIST_ENOMEM;
        }
    }
    return 0;
}

const char *api_param(const api_params *p, const char *key)
{
    for (size_t i = p->n; i-- > 0;)
        if (!strcmp(p->v[i].key, key))
            return p->v[i].value;
    return NULL;
}

static bool content_type_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(want);
    return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int api_params_from_request(api_ctx *c, api_params *p)
{
    const hist_api_request *r = c->req;
    int rc = 0;
    if (r->query && *r->query)
        rc = api_params_from_urlencoded(p, r->query, strlen(r->query));
    if (rc < 0)
        return api_internal_error(c, rc), 1;
    if (r->body_len == 0)
        return 0;
    size_t skip = 0;
    while (skip < r->body_len && (r->body[skip] == ' ' || r->body[skip] == '\n' ||
                                  r->body[skip] == '\r' || r->body[skip] == '\t'))
        skip++;
    bool is_json = content_type_is(r->content_type, "application/json") ||
                   (!content_type_is(r->content_type, "application/x-www-form-urlencoded") &&
                    skip < r->body_len && r->body[skip] == '{');
    if (is_json) {
        json_error_t err;
        json_t *root = json_loadb((const char *)r->body, r->body_len, 0, &err);
        if (!root)
            return api_error(c, 400, "body", "malformed JSON body: %s (line %d, column %d)",
                             err.text, err.line, err.column),
                   1;
        if (!json_is_object(root)) {
            json_decref(root);
            return api_error(c, 400, "body", "the JSON body must be an object"), 1;
        }
        rc = api_params_from_json(p, root);
        json_decref(root);
    } else {
        rc = api_params_from_urlencoded(p, (const char *)r->body, r->body_len);
    }
    if (rc < 0)
        return api_internal_error(c, rc), 1;
    return 0;
}

/* ---- Stats ------------------------------------------------------------------------- */

int api_stats_handle(api_ctx *c)
{
    hist_db_stats st;
    memset(&st, 0, sizeof st);
    int rc = hist_db_get_stats(c->db, &st);
    if (rc < 0)
        return api_internal_error(c, rc);
    uint64_t samples = st.samples_sealed + st.samples_memtable;
    uint64_t disk = st.bytes_segments + st.bytes_wal + st.bytes_index;
    hist_json j;
    hist_json_init(&j);
    hist_json_begin_object(&j);
    hist_json_key(&j, "tags");
    hist_json_uint(&j, st.tags);
    hist_json_key(&j, "samples");
    hist_json_uint(&j, samples);
    hist_json_key(&j, "samples_sealed");
    hist_json_uint(&j, st.samples_sealed);
    hist_json_key(&j, "samples_memtable");
    hist_json_uint(&j, st.samples_memtable);
    hist_json_key(&j, "chunks");
    hist_json_uint(&j, st.chunks);
    hist_json_key(&j, "bytes_on_disk");
    hist_json_uint(&j, disk);
    hist_json_key(&j, "bytes_segments");
    hist_json_uint(&j, st.bytes_segments);
    hist_json_key(&j, "bytes_chunks");
    hist_json_uint(&j, st.bytes_chunks);
    hist_json_key(&j, "bytes_wal");
    hist_json_uint(&j, st.bytes_wal);
    hist_json_key(&j, "bytes_index");
    hist_json_uint(&j, st.bytes_index);
    /* Bytes per sealed sample: what compression achieves on live chunks. */
    hist_json_key(&j, "bytes_per_sample");
    if (st.samples_sealed)
        hist_json_double(&j, (double)st.bytes_chunks / (double)st.samples_sealed);
    else
        hist_json_null(&j);
    hist_json_key(&j, "disk_bytes_per_sample");
    if (samples)
        hist_json_double(&j, (double)disk / (double)samples);
    else
        hist_json_null(&j);
    hist_json_key(&j, "memtable_bytes");
    hist_json_uint(&j, st.memtable_bytes);
    hist_json_key(&j, "io_backend");
    hist_json_string(&j, st.io_backend ? st.io_backend : "");
    hist_json_key(&j, "wal_syncs");
    hist_json_uint(&j, st.wal_syncs);
    hist_json_key(&j, "damaged_chunks");
    hist_json_uint(&j, st.damaged_chunks);
    hist_json_key(&j, "seals_held");
    hist_json_uint(&j, st.seals_held);
    hist_json_key(&j, "seals_memory");
    hist_json_uint(&j, st.seals_memory);
    hist_json_key(&j, "seals_wal");
    hist_json_uint(&j, st.seals_wal);
    hist_json_key(&j, "chunk_load_failures");
    hist_json_uint(&j, st.chunk_load_failures);
    hist_json_end_object(&j);
    return api_reply_json(c, 200, &j);
}

/* ---- Routing ------------------------------------------------------------------------- */

/* path == prefix, or path continues with '/' after it. */
static bool path_under(const char *path, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return false;
    if (path[n] != '\0' && path[n] != '/')
        return false;
    *rest = path + n;
    return true;
}

int hist_api_owns_path(const char *path)
{
    const char *rest;
    if (!path)
        return 0;
    return path_under(path, "/api/v1/query", &rest) || path_under(path, "/api/v1/tags", &rest) ||
           path_under(path, "/api/v1/stats", &rest) || path_under(path, "/api/v1/admin", &rest) ||
           path_under(path, "/grafana", &rest);
}

static bool method_is(const api_ctx *c, const char *m)
{
    return c->req->method && !strcmp(c->req->method, m);
}

static int need_scope(api_ctx *c, unsigned scope)
{
    if (c->req->scopes & scope)
        return 0;
    api_error(c, 403, NULL, "this token lacks the %s scope",
              scope == HIST_SCOPE_ADMIN ? "admin" : (scope == HIST_SCOPE_WRITE ? "write" : "read"));
    return 1;
}

static int not_allowed(api_ctx *c, const char *allow)
{
    api_add_header(c, "Allow", allow);
    return api_error(c, 405, NULL, "method %s not allowed here (allowed: %s)",
                     c->req->method ? c->req->method : "?", allow);
}

static int route(api_ctx *c)
{
    const char *path = c->req->path ? c->req->path : "", *rest;
    if (path_under(path, "/api/v1/query", &rest) && *rest == '\0') {
        if (!method_is(c, "GET") && !method_is(c, "POST"))
            return not_allowed(c, "GET, POST");
        if (need_scope(c, HIST_SCOPE_READ))
            return 0;
        return api_query_handle(c);
    }
    if (path_under(path, "/api/v1/tags", &rest)) {
        const char *name = *rest ? rest + 1 : NULL;
        if (name && !*name)
            name = NULL;
        if (method_is(c, "PUT")) {
            if (!name)
                return not_allowed(c, "GET");
            if (need_scope(c, HIST_SCOPE_ADMIN))
                return 0;
            return api_tags_handle(c, name);
        }
        if (!method_is(c, "GET"))
            return not_allowed(c, name ? "GET, PUT" : "GET");
        if (need_scope(c, HIST_SCOPE_READ))
            return 0;
        return api_tags_handle(c, name);
    }
    if (path_under(path, "/api/v1/stats", &rest) && *rest == '\0') {
        if (!method_is(c, "GET"))
            return not_allowed(c, "GET");
        if (need_scope(c, HIST_SCOPE_READ))
            return 0;
        return api_stats_handle(c);
    }
    if (path_under(path, "/api/v1/admin/scrub", &rest) && *rest == '\0') {
        if (!method_is(c, "GET") && !method_is(c, "POST"))
            return not_allowed(c, "GET, POST");
        if (need_scope(c, HIST_SCOPE_ADMIN))
            return 0;
        return api_admin_scrub_handle(c);
    }
    if (path_under(path, "/grafana", &rest)) {
        if (need_scope(c, HIST_SCOPE_READ))
            return 0;
        return api_grafana_handle(c, *rest ? rest : "/");
    }
    return api_error(c, 404, NULL, "no such endpoint: %s", path);
}

int hist_api_handle(hist_db *db, const hist_api_request *req, hist_api_response *resp)
{
    memset(resp, 0, sizeof *resp);
    api_ctx c = {.db = db, .req = req, .resp = resp};
    int rc = route(&c);
    if (rc < 0 && !c.answered)
        rc = api_internal_error(&c, rc);
    if (!c.answered)
        api_error(&c, 500, NULL, "no answer was produced");
    if (c.damaged_chunks && resp->status == 200) {
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)c.damaged_chunks);
        api_add_header(&c, "X-Historian-Damaged-Chunks", n);
    }
    return c.answered ? 0 : HIST_ENOMEM;
}
