/*
 * tag_match.c: the tag lists and globbing shared by /api/v1/query, the tag
 * listing and the Grafana endpoints (api_internal.h): '*' = any run inside
 * one segment, '?' = one character, '**' = any depth. Below the endpoints:
 * calls only the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "query/api/api_internal.h"

void api__tag_list_free(api_tag_list *l)
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

int api__tag_list_add(api_tag_list *l, const hist_tag_info *t)
{
    if (listed(l, l->n, t->id))
        return 0; /* already there: a tag is listed once */
    return tag_list_push(l, t);
}

static int tag_list_push(api_tag_list *l, const hist_tag_info *t)
{
    if (HIST_ARRAY_RESERVE(l->v, l->cap, l->n + 1, 16) < 0)
        return HIST_ENOMEM;
    l->v[l->n++] = *t;
    return 0;
}

bool api__has_wildcard(const char *s)
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

/* Glob over tag names: '*' any run within one segment, '?' one character
 * (not '/'), '**' any run across segments ("a/ **" also matches "a"). */
static bool glob_match(const char *pattern, const char *name)
{
    long budget = 100000;
    return glob_at(pattern, name, &budget);
}

struct collect_ctx {
    const hist_tagset *allow; /* the caller's grant; NULL = every tag */
    const char *glob;
    const char *after; /* only names sorting after this one (paging) */
    size_t max;
    size_t before; /* entries in out before this walk: the only possible duplicates */
    api_tag_list *out;
    int rc;
    const char *tail; /* the glob's literal end (collect_match) */
    size_t tail_len;
    const api_budget *budget; /* its deadline bounds the globbing */
    bool late;                /* the deadline passed: no more names match */
};

/* Before a row is read: the glob decides on the name alone. The literal
 * after the glob's last wildcard ends every name it matches (less its '/'
 * after a "**", which may stand for no segment): a quick first test. */
static bool collect_match(void *ctx, const char *name)
{
    struct collect_ctx *cc = ctx;
    if (!hist_tagset_matches(cc->allow, name))
        return false; /* outside the grant: as if it did not exist */
    if (!cc->glob)
        return true;
    size_t nl = strlen(name);
    if (nl < cc->tail_len || memcmp(name + nl - cc->tail_len, cc->tail, cc->tail_len) != 0)
        return false;
    /* A glob may take up to its step budget on every name (milliseconds on
     * a pathological one): over a million names the request's deadline
     * ends the walk, which then answers HIST_ETIMEDOUT, not a short list. */
    if (cc->late || api__budget_past(cc->budget)) {
        cc->late = true;
        return false;
    }
    return glob_match(cc->glob, name);
}

/* The literal after glob's last wildcard, as collect_match tests it. */
static void glob_tail(const char *glob, const char **tail, size_t *len)
{
    const char *t = glob;
    for (const char *q = glob; *q; q++)
        if (*q == '*' || *q == '?')
            t = q + 1;
    if (t > glob + 1 && t[-1] == '*' && t[-2] == '*' && *t == '/')
        t++;
    *tail = t;
    *len = strlen(t);
}

static int collect_visit(void *ctx, const hist_tag_info *tag)
{
    struct collect_ctx *cc = ctx;
    if (cc->after && strcmp(tag->name, cc->after) <= 0)
        return 0; /* the walk starts past after; kept as the rule */
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

int api__tags_list(api_ctx *c, const char *prefix, const char *glob, size_t max, api_tag_list *out)
{
    return api__tags_list_after(c, prefix, glob, NULL, max, out);
}

int api__tags_list_after(api_ctx *c, const char *prefix, const char *glob, const char *after,
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
    struct collect_ctx cc = {.allow = c->req->tags,
                             .glob = glob,
                             .after = after,
                             .max = max,
                             .before = out->n,
                             .out = out,
                             .rc = 0,
                             .budget = &c->budget};
    if (glob)
        glob_tail(glob, &cc.tail, &cc.tail_len);
    int rc = hist_tag_foreach_from(c->db, walk, after, glob || cc.allow ? collect_match : NULL,
                                   collect_visit, &cc);
    if (cc.rc < 0)
        return cc.rc;
    if (cc.late)
        return HIST_ETIMEDOUT;
    return rc < 0 ? rc : 0;
}

int api__tags_match(api_ctx *c, const char *glob, size_t max, api_tag_list *out)
{
    if (!api__has_wildcard(glob)) {
        if (!api__may_read(c, glob)) {
            /* refused whether or not it exists: a 404 would tell */
            snprintf(c->refused, sizeof c->refused, "%s", glob);
            return HIST_EAUTH;
        }
        hist_tag_info info;
        int rc = hist_tag_by_name(c->db, glob, &info);
        if (rc == HIST_ENOTFOUND)
            return 0;
        if (rc < 0)
            return rc;
        if (out->n >= max)
            return HIST_ENOSPC;
        return api__tag_list_add(out, &info);
    }
    return api__tags_list(c, NULL, glob, max, out);
}
