/*
 * grafana_filter.c: Grafana's view of the namespace, for grafana.c: the
 * levels site/area/line/cell/signal of a tag name (and its unit), and the
 * ad hoc filters over them ("=", "!=", "<", ">", and the regex operators
 * "=~"/"!~", matched by regex.c in linear time). A filter set shares the
 * request's budget: past its deadline no tag passes, and each regex counts
 * as one of the request's patterns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

const char *const grafana_filter__levels[GF_NLEVELS] = {"site", "area", "line", "cell", "signal"};

/* Copies level `key` of tag t into out ("" when the name is shorter).
 * false for a key that is not a level or "unit". */
bool grafana_filter__tag_field(const hist_tag_info *t, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    if (!strcmp(key, "unit")) {
        snprintf(out, cap, "%s", t->unit);
        return true;
    }
    int level = -1;
    for (int i = 0; i < GF_NLEVELS; i++)
        if (!strcmp(key, grafana_filter__levels[i]))
            level = i;
    if (level < 0)
        return false;
    const char *name = t->name;
    if (level == GF_NLEVELS - 1) { /* signal: the last segment, whatever the depth */
        const char *slash = strrchr(name, '/');
        snprintf(out, cap, "%s", slash ? slash + 1 : name);
        return true;
    }
    const char *p = name;
    for (int i = 0; i < level; i++) {
        p = strchr(p, '/');
        if (!p)
            return true;
        p++;
    }
    const char *end = strchr(p, '/');
    if (!end)
        return true; /* the last segment is the signal, not this level */
    size_t len = (size_t)(end - p);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

void grafana_filter__free(gf_filters *f)
{
    for (size_t i = 0; i < f->n; i++)
        re__free(f->v[i].re);
    free(f->v);
    memset(f, 0, sizeof *f);
}

/* Reads "adhocFilters" and "filters" (both spellings are in use). The
 * strings stay owned by root. 0, or API_ANSWERED (a 400). */
int grafana_filter__read_or_reply(api_ctx *c, json_t *root, gf_filters *f)
{
    static const char *const names[] = {"adhocFilters", "filters"};
    memset(f, 0, sizeof *f);
    f->budget = &c->budget;
    size_t total = 0;
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(root, names[k]);
        if (json_is_array(arr))
            total += json_array_size(arr);
    }
    if (total == 0)
        return 0;
    f->v = calloc(total, sizeof *f->v);
    if (!f->v)
        return api__reply_internal(c, HIST_ENOMEM);
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(root, names[k]), *el;
        size_t i;
        if (!json_is_array(arr))
            continue;
        json_array_foreach(arr, i, el)
        {
            const char *key = json_string_value(json_object_get(el, "key"));
            const char *op = json_string_value(json_object_get(el, "operator"));
            json_t *jv = json_object_get(el, "value");
            const char *value = json_string_value(jv);
            if (!key || !value) {
                grafana_filter__free(f);
                return api__reply_error(c, 400, names[k],
                                        "each filter needs string fields key and value");
            }
            if (!op)
                op = "=";
            gf_filter *g = &f->v[f->n++];
            g->key = key;
            g->op = op;
            g->value = value;
            if (!strcmp(op, "=~") || !strcmp(op, "!~")) {
                /* Anchored like Grafana's other regex filters. */
                const char *why = NULL;
                int rc = api__budget_pattern_or_reply(c, names[k])
                             ? API_ANSWERED
                             : re__compile_whole(value, &g->re, &why);
                if (rc == HIST_ENOMEM)
                    rc = api__reply_internal(c, rc);
                else if (rc < 0)
                    rc = api__reply_error(c, 400, names[k], "bad regular expression '%.200s': %s",
                                          value, why ? why : "refused");
                if (rc) {
                    grafana_filter__free(f);
                    return API_ANSWERED;
                }
            } else if (strcmp(op, "=") && strcmp(op, "!=") && strcmp(op, "<") && strcmp(op, ">")) {
                grafana_filter__free(f);
                return api__reply_error(c, 400, names[k], "unknown filter operator '%s'", op);
            }
        }
    }
    return 0;
}

bool grafana_filter__pass(const gf_filters *f, const hist_tag_info *t)
{
    char field[HIST_TAG_NAME_MAX + 1];
    if (f->n && f->budget && api__budget_past(f->budget))
        return false;
    for (size_t i = 0; i < f->n; i++) {
        const gf_filter *g = &f->v[i];
        if (!grafana_filter__tag_field(t, g->key, field, sizeof field))
            continue; /* a key we do not know filters nothing */
        int cmp = strcmp(field, g->value);
        bool ok;
        if (!strcmp(g->op, "="))
            ok = cmp == 0;
        else if (!strcmp(g->op, "!="))
            ok = cmp != 0;
        else if (!strcmp(g->op, "<"))
            ok = cmp < 0;
        else if (!strcmp(g->op, ">"))
            ok = cmp > 0;
        else if (!strcmp(g->op, "=~"))
            ok = re__match(g->re, field, strlen(field)) == 1;
        else
            ok = re__match(g->re, field, strlen(field)) == 0;
        if (!ok)
            return false;
    }
    return true;
}
