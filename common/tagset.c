/*
 * tagset.c: compiled tag-name pattern sets (hist_tagset.h): the grant
 * patterns of the tokens file, asked on every read and write path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_error.h"
#include "common/hist_tagset.h"

/* A pattern: its text and where each segment starts and ends in it. */
typedef struct {
    char *text;
    size_t nseg;
    uint16_t *start, *len; /* segment i is text[start[i] .. start[i] + len[i]) */
    bool *any;             /* segment i is "**" */
} pattern;

struct hist_tagset {
    pattern *v;
    size_t n;
};

/* Segments of a name or a pattern: at most one per two bytes, plus one. */
#define MAX_SEGS (HIST_TAGSET_PATTERN_MAX / 2 + 2)

int hist_tagset_check(const char *p)
{
    if (!p)
        return HIST_EINVAL;
    size_t n = strlen(p);
    if (n == 0 || n > HIST_TAGSET_PATTERN_MAX)
        return HIST_EINVAL;
    size_t seg = 0; /* start of the current segment */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (unsigned char)p[i] < 0x20)
            return HIST_EINVAL;
        if (i < n && p[i] != '/')
            continue;
        size_t len = i - seg;
        if (len == 0)
            return HIST_EINVAL; /* "a//b", "/a", "a/" */
        /* "**" stands alone in its segment: "a**" or "**b" is ambiguous */
        for (size_t k = seg; k + 1 < i; k++)
            if (p[k] == '*' && p[k + 1] == '*' && len != 2)
                return HIST_EINVAL;
        seg = i + 1;
    }
    return 0;
}

static void pattern_free(pattern *p)
{
    free(p->text);
    free(p->start);
    free(p->len);
    free(p->any);
}

static int pattern_compile(const char *text, pattern *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(text), nseg = 1;
    for (size_t i = 0; i < n; i++)
        nseg += text[i] == '/';
    out->text = strdup(text);
    out->start = calloc(nseg, sizeof *out->start);
    out->len = calloc(nseg, sizeof *out->len);
    out->any = calloc(nseg, sizeof *out->any);
    if (!out->text || !out->start || !out->len || !out->any) {
        pattern_free(out);
        return HIST_ENOMEM;
    }
    size_t seg = 0, k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && text[i] != '/')
            continue;
        out->start[k] = (uint16_t)seg;
        out->len[k] = (uint16_t)(i - seg);
        out->any[k] = i - seg == 2 && text[seg] == '*' && text[seg + 1] == '*';
        k++;
        seg = i + 1;
    }
    out->nseg = nseg;
    return 0;
}

void hist_tagset_free(hist_tagset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        pattern_free(&set->v[i]);
    free(set->v);
    free(set);
}

int hist_tagset_compile(const char *const *patterns, size_t n, hist_tagset **out)
{
    *out = NULL;
    if (n == 0 || n > HIST_TAGSET_MAX)
        return HIST_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (hist_tagset_check(patterns[i]) < 0)
            return HIST_EINVAL;
    hist_tagset *s = calloc(1, sizeof *s);
    if (!s || !(s->v = calloc(n, sizeof *s->v))) {
        free(s);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (pattern_compile(patterns[i], &s->v[i]) < 0) {
            hist_tagset_free(s);
            return HIST_ENOMEM;
        }
        s->n++;
    }
    *out = s;
    return 0;
}

/* One segment: glob with '*' (any run) against the segment's bytes. The
 * classic loop with one saved star: linear in practice, len(g) x len(s) at
 * worst, no recursion. */
static bool seg_match(const char *g, size_t gl, const char *s, size_t sl)
{
    size_t gi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sl) {
        if (gi < gl && g[gi] == '*') {
            star = gi++;
            mark = si;
        } else if (gi < gl && g[gi] == s[si]) {
            gi++;
            si++;
        } else if (star != SIZE_MAX) {
            gi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (gi < gl && g[gi] == '*')
        gi++;
    return gi == gl;
}

/* Adds to the live positions every one reachable by "**" matching no
 * segment. */
static void closure(const pattern *p, bool *live)
{
    for (size_t i = 0; i < p->nseg; i++)
        if (live[i] && p->any[i])
            live[i + 1] = true;
}

/* Runs pattern p over the segments of name: the live pattern positions
 * after the last segment in live[0 .. nseg]. false when the name has more
 * segments than can be tracked (never matched, then). */
static bool run(const pattern *p, const char *name, bool *live)
{
    bool next[MAX_SEGS + 1];
    if (p->nseg > MAX_SEGS)
        return false;
    memset(live, 0, (p->nseg + 1) * sizeof *live);
    live[0] = true;
    closure(p, live);
    const char *seg = name;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        memset(next, 0, (p->nseg + 1) * sizeof *next);
        bool any = false;
        for (size_t i = 0; i < p->nseg; i++) {
            if (!live[i])
                continue;
            if (p->any[i]) {
                next[i] = true; /* "**" takes this segment and may take more */
                any = true;
            } else if (seg_match(p->text + p->start[i], p->len[i], seg, sl)) {
                next[i + 1] = true;
                any = true;
            }
        }
        memcpy(live, next, (p->nseg + 1) * sizeof *live);
        if (!any)
            return true; /* nothing live: no position left */
        closure(p, live);
        if (!slash)
            return true;
        seg = slash + 1;
    }
}

bool hist_tagset_matches(const hist_tagset *set, const char *name)
{
    if (!set)
        return true;
    if (!name || !*name)
        return false;
    bool live[MAX_SEGS + 1];
    for (size_t i = 0; i < set->n; i++)
        if (run(&set->v[i], name, live) && live[set->v[i].nseg])
            return true;
    return false;
}

bool hist_tagset_may_match_below(const hist_tagset *set, const char *prefix)
{
    if (!set)
        return true;
    if (!prefix || !*prefix)
        return set->n > 0;
    bool live[MAX_SEGS + 1];
    for (size_t i = 0; i < set->n; i++) {
        const pattern *p = &set->v[i];
        if (!run(p, prefix, live))
            continue;
        /* a position short of the end can take one more segment (a "**"
         * at the end is live at nseg - 1 and at nseg) */
        for (size_t k = 0; k < p->nseg; k++)
            if (live[k])
                return true;
    }
    return false;
}

size_t hist_tagset_count(const hist_tagset *set)
{
    return set ? set->n : 0;
}

const char *hist_tagset_pattern(const hist_tagset *set, size_t i)
{
    return set && i < set->n ? set->v[i].text : NULL;
}
