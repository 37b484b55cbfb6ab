/*
 * fuzz_lineproto.c: libFuzzer target for the line protocol front end
 * (ingest/lineproto/).
 *
 * An input is two selector bytes, then a body. The first byte picks the
 * precision (its low 3 bits, mod 6), whether "quality" is the quality
 * field (bit 3), strict (bit 4), skip_bad_lines (bit 5), a small line
 * limit (bit 6) and a points limit (bit 7); the second picks a template
 * of the table below.
 *
 * Invariants: hist_lp_parse() returns 0 or one of its codes, and with a
 * code r.error holds it; every point has a name that storage's
 * hist_tag_name_check() accepts, name_len its length, a valid type (bool 0
 * or 1, no NaN or infinity), a timestamp within HIST_TS_MIN..HIST_TS_MAX,
 * a line within the body's; the points are bounded by the body's size (a
 * point needs 3 bytes, "k=1"), the capacities of the points and names by
 * the largest body read so far (a result keeps its memory).
 *
 * Round trip, for the default name rule: every point is written again as
 * a line (measurement the name's first segment that does not start with
 * '#', tags before it, field key the rest; the value in the same type; the
 * timestamp in ns; the quality as a string "0xHEX" field) and that body,
 * parsed with the same options in ns, gives the same points: same name,
 * type, value bits, timestamp and quality.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_buf.h"
#include "ingest/lineproto/hist_lineproto.h"
#include "storage/hist_storage.h"

#define NOW INT64_C(1767225600123456789)

static const char *templates[] = {
    NULL, /* the default rule */
    "{tag?:a}/{tags}/{measurement}/{field}",
    "{measurement}.{field}",
    "x/{tag:a}/{field}",
};
#define NTEMPLATES (sizeof templates / sizeof templates[0])

static hist_lp_result first, again;

/* Appends s[0..n) escaping the bytes of esc with a backslash. */
static void put_escaped(hist_buf *b, const char *s, size_t n, const char *esc)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr(esc, s[i]))
            hist_buf_append(b, "\\", 1);
        hist_buf_append(b, s + i, 1);
    }
}

/* The end of the chunk of segments from s: the first segment end ('/' or
 * the name's end) not after a backslash (a backslash there would escape
 * the separator written after it). */
static const char *chunk_end(const char *s, const char *end)
{
    for (const char *q = s;; q++) {
        q = memchr(q, '/', (size_t)(end - q));
        if (!q)
            return end;
        if (q[-1] != '\\')
            return q;
    }
}

/* The point as one line that the default rule names the same: chunks of
 * segments starting with '#' are tags (a measurement cannot start with
 * '#': the line would be a comment), keys k000, k001, ... keep their
 * order; then the measurement; the rest is the field key. */
static void write_point(hist_buf *b, const hist_lp_point *p, bool quality)
{
    const char *name = p->name, *end = name + p->name_len;
    const char *tag_at[HIST_LP_NAME_MAX], *tag_end[HIST_LP_NAME_MAX];
    int ntags = 0;
    const char *seg = name;
    while (*seg == '#') {
        tag_at[ntags] = seg;
        tag_end[ntags] = chunk_end(seg, end);
        if (tag_end[ntags] == end)
            abort(); /* the default rule always has a measurement and a field */
        seg = tag_end[ntags++] + 1;
    }
    const char *mend = chunk_end(seg, end);
    if (mend == end)
        abort();
    put_escaped(b, seg, (size_t)(mend - seg), ", ");
    for (int i = 0; i < ntags; i++) {
        hist_buf_printf(b, ",k%03d=", i);
        put_escaped(b, tag_at[i], (size_t)(tag_end[i] - tag_at[i]), ",= ");
    }
    hist_buf_append(b, " ", 1);
    put_escaped(b, mend + 1, (size_t)(end - mend - 1), ",= ");
    switch (p->type) {
    case HIST_TYPE_FLOAT64:
        hist_buf_printf(b, "=%.17g", p->v.f);
        break;
    case HIST_TYPE_INT64:
        hist_buf_printf(b, "=%" PRId64 "i", p->v.i);
        break;
    default:
        hist_buf_puts(b, p->v.i ? "=true" : "=false");
    }
    if (quality)
        hist_buf_printf(b, ",quality=\"0x%" PRIX32 "\"", p->quality);
    hist_buf_printf(b, " %" PRId64 "\n", p->ts);
}

/* The largest body so far: a result keeps its memory between calls, so
 * its capacities follow the largest body it read. */
static size_t largest;

static void check_points(const hist_lp_result *r, size_t size)
{
    if (size > largest)
        largest = size;
    if (r->npoints > size / 3 + 1 || r->cap > 2 * (largest / 3 + 1) + 256 ||
        r->names_cap > 2 * (largest / 3 + 1) * (HIST_LP_NAME_MAX + 1) + 4096)
        abort();
    for (size_t i = 0; i < r->npoints; i++) {
        const hist_lp_point *p = &r->points[i];
        if (hist_tag_name_check(p->name, p->name_len) != 0 || strlen(p->name) != p->name_len)
            abort();
        if (p->ts < HIST_TS_MIN || p->ts > HIST_TS_MAX || p->line < 1 || p->line > size + 1)
            abort();
        if (p->type == HIST_TYPE_FLOAT64 ? !isfinite(p->v.f)
            : p->type == HIST_TYPE_BOOL  ? (p->v.i != 0 && p->v.i != 1)
                                         : p->type != HIST_TYPE_INT64)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t sel = data[0];
    hist_lp_template tpl;
    const char *pattern = templates[data[1] % NTEMPLATES];
    if (pattern && hist_lp_template_parse(&tpl, pattern, NULL, 0) != 0)
        abort();
    hist_lp_options o = {.name_template = pattern ? &tpl : NULL,
                         .quality_field = (sel & 8) ? "quality" : NULL,
                         .strict = (sel & 16) != 0,
                         .skip_bad_lines = (sel & 32) != 0,
                         .max_line = (sel & 64) ? 40 : 0,
                         .max_points = (sel & 128) ? 5 : 0};
    hist_lp_precision prec = (hist_lp_precision)((sel & 7) % 6);
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    int rc = hist_lp_parse(&o, prec, NOW, body, len, &first);
    if (rc != 0 && rc != HIST_EPROTO && rc != HIST_ERANGE && rc != HIST_ETOOBIG &&
        rc != HIST_EUNSUPPORTED && rc != HIST_EINVAL && rc != HIST_ENAME)
        abort();
    if (rc != 0 && first.error.code != rc)
        abort();
    if (first.error.code && (first.error.line < 1 || first.error.column < 1 ||
                             memchr(first.error.msg, '\0', sizeof first.error.msg) == NULL))
        abort();
    check_points(&first, len);
    if (pattern || first.npoints == 0)
        return 0;

    hist_buf b;
    hist_buf_init(&b);
    for (size_t i = 0; i < first.npoints; i++)
        write_point(&b, &first.points[i], o.quality_field != NULL);
    if (b.failed)
        abort();
    hist_lp_options o2 = o;
    o2.max_line = o2.max_points = 0;
    o2.strict = o2.skip_bad_lines = false;
    rc = hist_lp_parse(&o2, HIST_LP_NS, NOW, b.data, b.len, &again);
    if (rc != 0 || again.npoints != first.npoints || again.refused != 0) {
        fprintf(stderr, "round trip: rc %d, %zu points of %zu: %s\n%s", rc, again.npoints,
                first.npoints, again.error.msg, b.data);
        abort();
    }
    for (size_t i = 0; i < first.npoints; i++) {
        const hist_lp_point *x = &first.points[i], *y = &again.points[i];
        if (x->name_len != y->name_len || memcmp(x->name, y->name, x->name_len) != 0 ||
            x->type != y->type || x->v.bits != y->v.bits || x->ts != y->ts ||
            x->quality != y->quality) {
            fprintf(stderr, "round trip: point %zu differs: '%s' vs '%s'\n%s", i, x->name, y->name,
                    b.data);
            abort();
        }
    }
    hist_buf_free(&b);
    return 0;
}
