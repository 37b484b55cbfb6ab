/*
 * api_tags.c: browsing the tag namespace and tag administration.
 *
 *   GET /api/v1/tags?prefix=&pattern=&limit=&after=&format=json|csv
 *   GET /api/v1/tags?prefix=&level=1&limit=&after=&format=json|csv
 *                                            one level: the children of prefix
 *   GET /api/v1/tags/{name}                  one tag's metadata (404 if none)
 *   PUT /api/v1/tags/{name}  {type, unit, description, deadband}  (admin)
 *
 * The tag globbing it shares with /api/v1/query and Grafana is tag_match.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "query/api/api_internal.h"

/* ---- GET ------------------------------------------------------------------------ */

static void tag_json(hist_json *j, const hist_tag_info *t)
{
    json__begin_object(j);
    json__key(j, "name");
    json__string(j, t->name);
    json__key(j, "id");
    json__uint(j, t->id);
    json__key(j, "type");
    json__string(j, hist_type_name(t->type));
    json__key(j, "unit");
    json__string(j, t->unit);
    json__key(j, "description");
    json__string(j, t->description);
    json__key(j, "deadband");
    json__double(j, t->deadband);
    json__key(j, "created");
    json__int(j, api__ns_to_ms(t->created_ns));
    json__end_object(j);
}

/* limit=, 1..max (def when absent). 0, or API_ANSWERED (a 400). */
static int limit_or_reply(api_ctx *c, const api_params *p, size_t def, size_t max, size_t *out)
{
    const char *s = api__param(p, "limit");
    *out = def;
    if (!s)
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v == 0 || v > max)
        return api__reply_error(c, 400, "limit", "limit must be a whole number from 1 to %zu", max);
    *out = (size_t)v;
    return 0;
}

/* An answer cut at limit entries, last the name of the last one: says so,
 * and where the next page starts (the same request with after=last).
 * Returns limit. */
static size_t page_cut(api_ctx *c, size_t limit, const char *last)
{
    api__add_header(c, "X-Historian-Truncated", "true");
    api__add_header(c, "X-Historian-Next", last);
    return limit;
}

/* The children of one folder, collected for an answer. */
typedef struct {
    char name[HIST_TAG_NAME_MAX + 1];
    bool tag, children;
} level_row;

typedef struct {
    level_row *v;
    size_t n, cap, max;
    int rc;
    const hist_tagset *allow; /* the caller's grant; NULL = every tag */
} level_list;

static int level_visit(void *ctx, const hist_tag_child *ch)
{
    level_list *l = ctx;
    char name[HIST_TAG_NAME_MAX + 1];
    memcpy(name, ch->name, ch->len);
    name[ch->len] = '\0';
    /* Outside the grant a tag is not shown, and a folder only when some
     * name below it could be allowed (no count leaks: the tree has none). */
    bool tag = ch->tag && hist_tagset_matches(l->allow, name);
    bool children = ch->children && hist_tagset_may_match_below(l->allow, name);
    if (!tag && !children)
        return 0;
    if (l->n >= l->max)
        return 1;
    if (HIST_ARRAY_RESERVE(l->v, l->cap, l->n + 1, 16) < 0) {
        l->rc = HIST_ENOMEM;
        return 1;
    }
    level_row *r = &l->v[l->n++];
    memcpy(r->name, name, ch->len + 1);
    r->tag = tag;
    r->children = children;
    return 0;
}

/* level=1: the distinct next segments under prefix, paged by after=. */
static int tags_get_level(api_ctx *c, const api_params *p, size_t limit, bool csv)
{
    const char *level = api__param(p, "level");
    if (strcmp(level, "1"))
        return api__reply_error(c, 400, "level", "level must be 1 (one level under prefix)");
    if (api__param(p, "pattern"))
        return api__reply_error(c, 400, "pattern", "level=1 lists a folder: no pattern");
    const char *after = api__param(p, "after");
    level_list l = {.max = limit + 1, .allow = c->req->tags}; /* one more: was it cut */
    int rc = hist_tag_children(c->db, api__param(p, "prefix"), after && *after ? after : NULL,
                               level_visit, &l);
    if (rc >= 0)
        rc = l.rc;
    int ret;
    if (rc < 0) {
        ret = api__reply_internal(c, rc);
        goto out;
    }
    if (l.n > limit)
        l.n = page_cut(c, limit, l.v[limit - 1].name);
    if (csv) {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_puts(&b, "name,tag,children\n");
        for (size_t i = 0; i < l.n; i++) {
            json__buf_csv_field(&b, l.v[i].name, ',');
            hist_buf_printf(&b, ",%s,%s\n", l.v[i].tag ? "true" : "false",
                            l.v[i].children ? "true" : "false");
        }
        ret = api__reply_buf(c, 200, "text/csv; charset=utf-8", &b);
        goto out;
    }
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    for (size_t i = 0; i < l.n; i++) {
        json__begin_object(&j);
        json__key(&j, "name");
        json__string(&j, l.v[i].name);
        json__key(&j, "tag");
        json__bool(&j, l.v[i].tag);
        json__key(&j, "children");
        json__bool(&j, l.v[i].children);
        json__end_object(&j);
    }
    json__end_array(&j);
    ret = api__reply_json(c, 200, &j);
out:
    free(l.v);
    return ret;
}

static int tags_get_list(api_ctx *c, const api_params *p)
{
    const char *prefix = api__param(p, "prefix"), *pattern = api__param(p, "pattern");
    const char *format = api__param(p, "format");
    size_t limit;
    if (limit_or_reply(c, p, 1000, 100000, &limit))
        return API_ANSWERED;
    bool csv = false;
    if (format && !strcmp(format, "csv"))
        csv = true;
    else if (format && strcmp(format, "json"))
        return api__reply_error(c, 400, "format", "format must be json or csv");
    if (!format && c->req->accept && strstr(c->req->accept, "text/csv"))
        csv = true;
    if (api__param(p, "level"))
        return tags_get_level(c, p, limit, csv);
    if (pattern && !*pattern)
        pattern = NULL;
    const char *after = api__param(p, "after");
    if (after && !*after)
        after = NULL;
    api_tag_list list = {0};
    /* One more than the limit tells whether the answer was cut. */
    int rc = api__tags_list_after(c, prefix, pattern, after, limit + 1, &list);
    if (rc < 0 && rc != HIST_ENOSPC) {
        api__tag_list_free(&list);
        return api__reply_internal(c, rc);
    }
    if (list.n > limit)
        list.n = page_cut(c, limit, list.v[limit - 1].name);
    if (csv) {
        hist_buf b;
        hist_buf_init(&b);
        hist_buf_puts(&b, "name,id,type,unit,description,deadband,created\n");
        for (size_t i = 0; i < list.n; i++) {
            const hist_tag_info *t = &list.v[i];
            json__buf_csv_field(&b, t->name, ',');
            hist_buf_printf(&b, ",%u,%s,", t->id, hist_type_name(t->type));
            json__buf_csv_field(&b, t->unit, ',');
            hist_buf_puts(&b, ",");
            json__buf_csv_field(&b, t->description, ',');
            hist_buf_puts(&b, ",");
            json__buf_double(&b, t->deadband);
            hist_buf_puts(&b, ",");
            json__buf_rfc3339(&b, NULL, t->created_ns);
            hist_buf_puts(&b, "\n");
        }
        api__tag_list_free(&list);
        return api__reply_buf(c, 200, "text/csv; charset=utf-8", &b);
    }
    hist_json j;
    json__init(&j);
    json__begin_array(&j);
    for (size_t i = 0; i < list.n; i++)
        tag_json(&j, &list.v[i]);
    json__end_array(&j);
    api__tag_list_free(&list);
    return api__reply_json(c, 200, &j);
}

static int tags_get_one(api_ctx *c, const char *name)
{
    if (!api__may_read(c, name)) /* before the lookup: a 404 would tell */
        return api__reply_forbidden(c, "name", name);
    hist_tag_info info;
    int rc = hist_tag_by_name(c->db, name, &info);
    if (rc == HIST_ENOTFOUND)
        return api__reply_error(c, 404, "name", "unknown tag '%s'", name);
    if (rc < 0)
        return api__reply_internal(c, rc);
    hist_json j;
    json__init(&j);
    tag_json(&j, &info);
    return api__reply_json(c, 200, &j);
}

/* ---- PUT ------------------------------------------------------------------------- */

static int tags_put(api_ctx *c, const char *name)
{
    /* an admin token limited to patterns changes only its own tags */
    if (!api__may_read(c, name))
        return api__reply_forbidden(c, "name", name);
    if (hist_tag_name_check(name, strlen(name)) < 0)
        return api__reply_error(c, 400, "name",
                                "invalid tag name: 1..255 bytes of UTF-8, '/'-separated, no empty "
                                "segment, no control characters");
    json_error_t err;
    json_t *root = json_loadb((const char *)c->req->body, c->req->body_len, 0, &err);
    if (!root)
        return api__reply_error(c, 400, "body", "malformed JSON body: %s", err.text);
    int ret = 0;
    if (!json_is_object(root)) {
        ret = api__reply_error(c, 400, "body", "the JSON body must be an object");
        goto out;
    }
    hist_tag_info info;
    int rc = hist_tag_by_name(c->db, name, &info);
    bool exists = rc == 0;
    if (rc < 0 && rc != HIST_ENOTFOUND) {
        ret = api__reply_internal(c, rc);
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
            ret = api__reply_error(c, 400, "type", "type must be float64, int64 or bool");
            goto out;
        }
        if (exists && t != info.type) {
            ret = api__reply_error(c, 400, "type", "tag '%s' exists with type %s", name,
                                   hist_type_name(info.type));
            goto out;
        }
        info.type = t;
    } else if (!exists) {
        ret = api__reply_error(c, 400, "type", "a new tag needs a type (float64, int64 or bool)");
        goto out;
    }
    json_t *unit = json_object_get(root, "unit");
    if (unit && !json_is_null(unit)) {
        if (!json_is_string(unit) || strlen(json_string_value(unit)) > HIST_TAG_UNIT_MAX) {
            ret = api__reply_error(c, 400, "unit", "unit must be a string of at most %d bytes",
                                   HIST_TAG_UNIT_MAX);
            goto out;
        }
        snprintf(info.unit, sizeof info.unit, "%s", json_string_value(unit));
    }
    json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_null(desc)) {
        if (!json_is_string(desc) || strlen(json_string_value(desc)) > HIST_TAG_DESC_MAX) {
            ret = api__reply_error(c, 400, "description",
                                   "description must be a string of at most %d bytes",
                                   HIST_TAG_DESC_MAX);
            goto out;
        }
        snprintf(info.description, sizeof info.description, "%s", json_string_value(desc));
    }
    json_t *db = json_object_get(root, "deadband");
    if (db && !json_is_null(db)) {
        if (!json_is_number(db) || !isfinite(json_number_value(db)) || json_number_value(db) < 0) {
            ret = api__reply_error(c, 400, "deadband", "deadband must be a number >= 0");
            goto out;
        }
        info.deadband = json_number_value(db);
    }
    rc = hist_tag_put(c->db, &info);
    if (rc == HIST_ETYPE) {
        ret = api__reply_error(c, 400, "type", "type conflicts with the existing tag");
        goto out;
    }
    if (rc == HIST_ENAME || rc == HIST_EINVAL) {
        ret = api__reply_error(c, 400, "name", "tag refused: %s", hist_strerror(rc));
        goto out;
    }
    if (rc < 0) {
        ret = api__reply_internal(c, rc);
        goto out;
    }
    hist_tag_info now;
    if (hist_tag_by_name(c->db, name, &now) == 0)
        info = now;
    hist_json j;
    json__init(&j);
    tag_json(&j, &info);
    ret = api__reply_json(c, 200, &j);
out:
    json_decref(root);
    return ret;
}

int api__tags_handle(api_ctx *c, const char *name)
{
    if (!strcmp(c->req->method, "PUT"))
        return tags_put(c, name);
    if (name)
        return tags_get_one(c, name);
    api_params p = {0};
    int ret = API_ANSWERED;
    if (!api__params_or_reply(c, &p))
        ret = tags_get_list(c, &p);
    api__params_free(&p);
    return ret;
}
