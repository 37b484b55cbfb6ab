/*
 * api_tags.c: browsing the tag namespace and tag administration.
 *
 *   GET /api/v1/tags?prefix=&pattern=&limit=&after=&format=json|csv
 *   GET /api/v1/tags/{name}                  one tag's metadata (404 if none)
 *   PUT /api/v1/tags/{name}  {type, unit, description, deadband}  (admin)
 *
 * Also the tag globbing shared by /api/v1/query and the Grafana endpoints:
 * '*' = any run inside one segment, '?' = one character, '**' = any depth.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

/* ---- Tag lists and globs -------------------------------------------------- */

void api_tag_list_free(api_tag_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int tag_list_push(api_tag_list *l, const hist_tag_info *t);

/* Whether tag id is among the first n entries. */
static bool listed(const api_tag_list *l, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (l->v[i].id == id)
            return true;
    return false;
}

int api_tag_list_add(api_tag_list *l, const hist_tag_info *t)
{
    if (listed(l, l->n, t->id))
        return 0; /* already there: a tag is listed once */
    return tag_list_push(l, t);
}

static int tag_list_push(api_tag_list *l, const hist_tag_info *t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        hist_tag_info *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return HIST_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *t;
    return 0;
}

bool api_has_wildcard(const char *s)
{
    return strpbrk(s, "*?") != NULL;
}

/* Recursive matcher with a step budget: a pathological pattern ("*a*a*a..")
 * stops with "no match" instead of taking exponential time. */
static bool glob_at(const char *p, const char *n, long *budget)
{
    if (--*budget < 0)
        return false;
    for (;;) {
        if (*p == '\0')
            return *n == '\0';
        if (p[0] == '/' && p[1] == '*' && p[2] == '*' && p[3] == '\0' && *n == '\0')
            return true; /* "a/ **" matches "a" itself */
        if (p[0] == '*' && p[1] == '*') {
            const char *rest = p + 2;
            while (*rest == '*')
                rest++;
            if (*rest == '/' && glob_at(rest + 1, n, budget))
                return true; /* zero segments: "a/ ** /b" matches "a/b" */
            for (const char *q = n;; q++) {
                if (glob_at(rest, q, budget))
                    return true;
                if (*q == '\0')
                    return false;
            }
        }
        if (*p == '*') {
            for (const char *q = n;; q++) {
                if (glob_at(p + 1, q, budget))
                    return true;
                if (*q == '\0' || *q == '/')
                    return false;
            }
        }
        if (*p == '?') {
            if (*n == '\0' || *n == '/')
                return false;
        } else if (*p != *n) {
            return false;
        }
        p++;
        n++;
    }
}

bool api_glob_match(const char *pattern, const char *name)
{
    long budget = 100000;
    return glob_at(pattern, name, &budget);
}

struct collect_ctx {
    const char *glob;
    const char *after; /* only names sorting after this one (paging) */
    size_t max;
    size_t before; /* entries in out before this walk: the only possible duplicates */
    api_tag_list *out;
    int rc;
};

static int collect_visit(void *ctx, const hist_tag_info *tag)
{
    struct collect_ctx *cc = ctx;
    if (cc->after && strcmp(tag->name, cc->after) <= 0)
        return 0;
    if (cc->glob && !api_glob_match(cc->glob, tag->name))
        return 0;
    if (cc->out->n >= cc->max) {
        cc->rc = HIST_ENOSPC;
        return 1;
    }
    /* A walk visits each name once, so only entries of earlier walks (other
     * patterns of one query) can repeat: a 100000-tag list stays linear. */
    if (listed(cc->out, cc->before, tag->id))
        return 0;
    int rc = tag_list_push(cc->out, tag);
    if (rc < 0) {
        cc->rc = rc;
        return 1;
    }
    return 0;
}

int api_tags_list(hist_db *db, const char *prefix, const char *glob, size_t max, api_tag_list *out)
{
    return api_tags_list_after(db, prefix, glob, NULL, max, out);
}

int api_tags_list_after(hist_db *db, const char *prefix, const char *glob, const char *after,
                        size_t max, api_tag_list *out)
{
    /* The glob's literal head narrows the index walk. */
    char head[HIST_TAG_NAME_MAX + 1] = "";
    if (glob) {
        size_t lit = strcspn(glob, "*?");
        if (lit > HIST_TAG_NAME_MAX)
            lit = HIST_TAG_NAME_MAX;
        memcpy(head, glob, lit);
        head[lit] = '\0';
    }
    const char *walk = head;
    if (prefix && *prefix) {
        /* Walk from the longer of the two when one extends the other. */
        if (!strncmp(head, prefix, strlen(prefix)))
            walk = head;
        else if (!strncmp(prefix, head, strlen(head)))
            walk = prefix;
        else
            return 0; /* disjoint: nothing can match both */
    }
    struct collect_ctx cc = {
        .glob = glob, .after = after, .max = max, .before = out->n, .out = out, .rc = 0};
    int rc = hist_tag_foreach(db, walk, collect_visit, &cc);
    if (cc.rc < 0)
        return cc.rc;
    return rc < 0 ? rc : 0;
}

int api_tags_match(hist_db *db, const char *glob, size_t max, api_tag_list *out)
{
    if (!api_has_wildcard(glob)) {
        hist_tag_info info;
        int rc = hist_tag_by_name(db, glob, &info);
        if (rc == HIST_ENOTFOUND)
            return 0;
        if (rc < 0)
            return rc;
        if (out->n >= max)
            return HIST_ENOSPC;
        return api_tag_list_add(out, &info);
    }
    return api_tags_list(db, NULL, glob, max, out);
}

/* ---- GET ------------------------------------------------------------------------ */

static void tag_json(hist_json *j, const hist_tag_info *t)
{
    hist_json_begin_object(j);
    hist_json_key(j, "name");
    hist_json_string(j, t->name);
    hist_json_key(j, "id");
    hist_json_uint(j, t->id);
    hist_json_key(j, "type");
    hist_json_string(j, hist_type_name(t->type));
    hist_json_key(j, "unit");
    hist_json_string(j, t->unit);
    hist_json_key(j, "description");
    hist_json_string(j, t->description);
    hist_json_key(j, "deadband");
    hist_json_double(j, t->deadband);
    hist_json_key(j, "created");
    hist_json_int(j, api_ns_to_ms(t->created_ns));
    hist_json_end_object(j);
}

static int parse_limit(api_ctx *c, const api_params *p, size_t def, size_t max, size_t *out)
{
    const char *s = api_param(p, "limit");
    *out = def;
    if (!s)
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v == 0 || v > max)
        return api_error(c, 400, "limit", "limit must be a whole number from 1 to %zu", max), 1;
    *out = (size_t)v;
    return 0;
}

static int tags_get_list(api_ctx *c, const api_params *p)
{
    const char *prefix = api_param(p, "prefix"), *pattern = api_param(p, "pattern");
    const char *format = api_param(p, "format");
    size_t limit;
    if (parse_limit(c, p, 1000, 100000, &limit))
        return 0;
    bool csv = false;
    if (format && !strcmp(format, "csv"))
        csv = true;
    else if (format && strcmp(format, "json"))
        return api_error(c, 400, "format", "format must be json or csv");
    if (!format && c->req->accept && strstr(c->req->accept, "text/csv"))
        csv = true;
    if (pattern && !*pattern)
        pattern = NULL;
    const char *after = api_param(p, "after");
    if (after && !*after)
        after = NULL;
    api_tag_list list = {0};
    /* One more than the limit tells whether the answer was cut. */
    int rc = api_tags_list_after(c->db, prefix, pattern, after, limit + 1, &list);
    if (rc < 0 && rc != HIST_ENOSPC) {
        api_tag_list_free(&list);
        return api_internal_error(c, rc);
    }
    bool truncated = list.n > limit;
    if (truncated) {
        list.n = limit;
        api_add_header(c, "X-Historian-Truncated", "true");
        /* The next page: the same request with after=<this value>. */
        api_add_header(c, "X-Historian-Next", list.v[limit - 1].name);
    }
    if (csv) {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_puts(&b, "name,id,type,unit,description,deadband,created\n");
        for (size_t i = 0; i < list.n; i++) {
            const hist_tag_info *t = &list.v[i];
            hist_buf_csv_field(&b, t->name);
            hist_buf_printf(&b, ",%u,%s,", t->id, hist_type_name(t->type));
            hist_buf_csv_field(&b, t->unit);
            hist_buf_puts(&b, ",");
            hist_buf_csv_field(&b, t->description);
            hist_buf_puts(&b, ",");
            hist_buf_double(&b, t->deadband);
            hist_buf_puts(&b, ",");
            hist_buf_rfc3339(&b, t->created_ns);
            hist_buf_puts(&b, "\n");
        }
        api_tag_list_free(&list);
        return api_reply_buf(c, 200, "text/csv; charset=utf-8", &b);
    }
    hist_json j;
    hist_json_init(&j);
    hist_json_begin_array(&j);
    for (size_t i = 0; i < list.n; i++)
        tag_json(&j, &list.v[i]);
    hist_json_end_array(&j);
    api_tag_list_free(&list);
    return api_reply_json(c, 200, &j);
}

static int tags_get_one(api_ctx *c, const char *name)
{
    hist_tag_info info;
    int rc = hist_tag_by_name(c->db, name, &info);
    if (rc == HIST_ENOTFOUND)
        return api_error(c, 404, "name", "unknown tag '%s'", name);
    if (rc < 0)
        return api_internal_error(c, rc);
    hist_json j;
    hist_json_init(&j);
    tag_json(&j, &info);
    return api_reply_json(c, 200, &j);
}

/* ---- PUT ------------------------------------------------------------------------- */

static int tags_put(api_ctx *c, const char *name)
{
    if (hist_tag_name_check(name, strlen(name)) < 0)
        return api_error(c, 400, "name",
                         "invalid tag name: 1..255 bytes of UTF-8, '/'-separated, no empty "
                         "segment, no control characters");
    json_error_t err;
    json_t *root = json_loadb((const char *)c->req->body, c->req->body_len, 0, &err);
    if (!root)
        return api_error(c, 400, "body", "malformed JSON body: %s", err.text);
    int ret = 0;
    if (!json_is_object(root)) {
        ret = api_error(c, 400, "body", "the JSON body must be an object");
        goto out;
    }
    hist_tag_info info;
    int rc = hist_tag_by_name(c->db, name, &info);
    bool exists = rc == 0;
    if (rc < 0 && rc != HIST_ENOTFOUND) {
        ret = api_internal_error(c, rc);
        goto out;
    }
    if (!exists) {
        memset(&info, 0, sizeof info);
        snprintf(info.name, sizeof info.name, "%s", name);
    }
    json_t *type = json_object_get(root, "type");
    if (type) {
        hist_type t;
        if (!json_is_string(type) || hist_type_parse(json_string_value(type), &t) < 0) {
            ret = api_error(c, 400, "type", "type must be float64, int64 or bool");
            goto out;
        }
        if (exists && t != info.type) {
            ret = api_error(c, 400, "type", "tag '%s' exists with type %s", name,
                            hist_type_name(info.type));
            goto out;
        }
        info.type = t;
    } else if (!exists) {
        ret = api_error(c, 400, "type", "a new tag needs a type (float64, int64 or bool)");
        goto out;
    }
    json_t *unit = json_object_get(root, "unit");
    if (unit && !json_is_null(unit)) {
        if (!json_is_string(unit) || strlen(json_string_value(unit)) > HIST_TAG_UNIT_MAX) {
            ret = api_error(c, 400, "unit", "unit must be a string of at most %d bytes",
                            HIST_TAG_UNIT_MAX);
            goto out;
        }
        snprintf(info.unit, sizeof info.unit, "%s", json_string_value(unit));
    }
    json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_null(desc)) {
        if (!json_is_string(desc) || strlen(json_string_value(desc)) > HIST_TAG_DESC_MAX) {
            ret = api_error(c, 400, "description",
                            "description must be a string of at most %d bytes", HIST_TAG_DESC_MAX);
            goto out;
        }
        snprintf(info.description, sizeof info.description, "%s", json_string_value(desc));
    }
    json_t *db = json_object_get(root, "deadband");
    if (db && !json_is_null(db)) {
        if (!json_is_number(db) || !isfinite(json_number_value(db)) || json_number_value(db) < 0) {
            ret = api_error(c, 400, "deadband", "deadband must be a number >= 0");
            goto out;
        }
        info.deadband = json_number_value(db);
    }
    rc = hist_tag_put(c->db, &info);
    if (rc == HIST_ETYPE) {
        ret = api_error(c, 400, "type", "type conflicts with the existing tag");
        goto out;
    }
    if (rc == HIST_ENAME || rc == HIST_EINVAL) {
        ret = api_error(c, 400, "name", "tag refused: %s", hist_strerror(rc));
        goto out;
    }
    if (rc < 0) {
        ret = api_internal_error(c, rc);
        goto out;
    }
    hist_tag_info now;
    if (hist_tag_by_name(c->db, name, &now) == 0)
        info = now;
    hist_json j;
    hist_json_init(&j);
    tag_json(&j, &info);
    ret = api_reply_json(c, 200, &j);
out:
    json_decref(root);
    return ret;
}

int api_tags_handle(api_ctx *c, const char *name)
{
    if (!strcmp(c->req->method, "PUT"))
        return tags_put(c, name);
    if (name)
        return tags_get_one(c, name);
    api_params p = {0};
    int ret = 0;
    if (!api_params_from_request(c, &p))
        ret = tags_get_list(c, &p);
    api_params_free(&p);
    return ret;
}
