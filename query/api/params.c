/*
 * params.c: a request's parameters (api_internal.h). Query string, form
 * body and JSON body alike become one flat list of string parameters, so
 * every endpoint validates its input with one set of rules. Below the
 * endpoints: calls only reply.c (for the 400 of a malformed body).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hist_array.h"
#include "common/hist_text.h"
#include "common/hist_time.h"
#include "query/api/api_internal.h"

void api__params_free(api_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

int api__params_add(api_params *p, const char *key, size_t klen, const char *val, size_t vlen)
{
    if (HIST_ARRAY_RESERVE(p->v, p->cap, p->n + 1, 16) < 0)
        return HIST_ENOMEM;
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

/* Parses a URL query string or a form body (hist_url_decode() with
 * HIST_URL_FORM | HIST_URL_LENIENT: '+' is a space). A decoded NUL byte
 * ("%00") would cut the value short (?tag=T%00junk answering for T):
 * HIST_EINVAL, with *bad the key (static buffer of the caller). */
static int params_from_urlencoded(api_params *p, const char *s, size_t len, char *bad,
                                  size_t bad_cap)
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
            int rc = (k && v) ? 0 : HIST_ENOMEM;
            if (rc == 0 && (memchr(k, 0, kl) || memchr(v, 0, vl))) {
                snprintf(bad, bad_cap, "%s", k); /* up to the NUL, if it is in the key */
                rc = HIST_EINVAL;
            }
            if (rc == 0)
                rc = api__params_add(p, k, kl, v, vl);
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
        json__buf_double(&b, json_real_value(v));
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

int api__params_from_json(api_params *p, json_t *obj)
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
                    api__params_add(p, key, strlen(key), text, strlen(text)) < 0)
                    return HIST_ENOMEM;
            }
        } else if (json_scalar_text(val, buf, sizeof buf, &text)) {
            if (api__params_add(p, key, strlen(key), text, strlen(text)) < 0)
                return HIST_ENOMEM;
        }
    }
    return 0;
}

const char *api__param(const api_params *p, const char *key)
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

int api__params_or_reply(api_ctx *c, api_params *p)
{
    const hist_api_request *r = c->req;
    int rc = 0;
    char bad[64] = "";
    if (r->query && *r->query)
        rc = params_from_urlencoded(p, r->query, strlen(r->query), bad, sizeof bad);
    if (rc == HIST_EINVAL)
        return api__reply_error(c, 400, bad, "parameter '%s' holds a NUL byte (%%00)", bad);
    if (rc < 0)
        return api__reply_internal(c, rc);
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
            return api__reply_error(c, 400, "body", "malformed JSON body: %s (line %d, column %d)",
                                    err.text, err.line, err.column);
        if (!json_is_object(root)) {
            json_decref(root);
            return api__reply_error(c, 400, "body", "the JSON body must be an object");
        }
        rc = api__params_from_json(p, root);
        json_decref(root);
    } else {
        rc = params_from_urlencoded(p, (const char *)r->body, r->body_len, bad, sizeof bad);
    }
    if (rc == HIST_EINVAL)
        return api__reply_error(c, 400, bad, "parameter '%s' holds a NUL byte (%%00)", bad);
    if (rc < 0)
        return api__reply_internal(c, rc);
    return 0;
}

int api__params_time_or_reply(api_ctx *c, const api_params *p, const char *key, const int64_t *def,
                              const hist_tz *tz, const hist_tz_shifts *shifts, int64_t *out)
{
    const char *s = api__param(p, key);
    if (!s || !*s) {
        if (!def)
            return api__reply_error(c, 400, key, "%s is required", key);
        *out = *def;
        return 0;
    }
    int rc = hist_tz_time_parse_shifts(tz, shifts, s, c->req->now_ns, out);
    if (rc == HIST_ERANGE)
        return api__reply_error(c, 400, key, "%s: time '%s' is out of range", key, s);
    if (rc < 0)
        return api__reply_error(c, 400, key,
                                "%s: cannot read time '%s' (RFC 3339, epoch ms, now, -24h, now-7d, "
                                "now/d, now-1d/d, now/shift)",
                                key, s);
    return 0;
}
