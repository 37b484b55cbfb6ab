/*
 * lp_internal.h: what the files of ingest/lineproto/ share: the pieces of
 * one parsed line and the functions one file gives the others. Nothing
 * outside ingest/lineproto/ includes it (the door is hist_lineproto.h).
 *
 * Files (calls go down this list, never up):
 *   parse.c    the body's lines, their sections and escapes, errors, the
 *              points (calls the three below)
 *   name.c     templates, a point's tag name and its check
 *   value.c    field values (floats, integers, booleans) and timestamps
 */
#ifndef HIST_INGEST_LINEPROTO_INTERNAL_H
#define HIST_INGEST_LINEPROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/lineproto/hist_lineproto.h"

/* Bytes of a measurement, key or value, unescaped: in the body, or in the
 * line's scratch when it had escapes. c1: it holds a C1 control character
 * (valid UTF-8 that a tag name may not hold). */
typedef struct {
    const char *p;
    uint32_t len;
    bool c1;
} lp_span;

typedef struct {
    lp_span key, val;
    const char *at; /* where its key starts in the body */
} lp_tag;

/* What a line gives the name rule: its measurement and tags (sorted by
 * key, no two alike). */
typedef struct {
    lp_span measurement;
    const lp_tag *tags;
    size_t ntags;
} lp_line;

/* Template part kinds. */
enum { LP_LIT = 1, LP_MEASUREMENT, LP_FIELD, LP_TAGS, LP_TAG, LP_TAG_OPT };

/* name.c: writes the name of field of line by t into out (at least
 * HIST_LP_NAME_MAX + 1 bytes, NUL-terminated) and returns its length, or
 * HIST_ENAME with *why saying what breaks the rule (a static string). */
int lp__name(const hist_lp_template *t, const lp_line *line, const lp_span *field, char *out,
             const char **why);
/* name.c: compares two keys as Go's bytes.Compare (memcmp, then length). */
int lp__key_cmp(const lp_span *a, const lp_span *b);

/* value.c: a float, integer (`i`) or unsigned (`u`) field value, tok[0..n)
 * without its suffix told by kind. 0 with *type and *v (a `u` above
 * 2^63 - 1 gives HIST_TYPE_INT64 and *too_big), HIST_EPROTO or HIST_ERANGE
 * with *why. */
enum { LP_NUM_FLOAT, LP_NUM_INT, LP_NUM_UINT };
int lp__number(const char *tok, size_t n, int kind, hist_value *v, bool *too_big, const char **why);
/* value.c: 1 or 0 for the booleans of the spec, -1 for anything else. */
int lp__bool(const char *tok, size_t n);
/* value.c: a timestamp tok[0..n) at precision prec, in ns within
 * [HIST_TS_MIN, HIST_TS_MAX]: 0, HIST_EPROTO or HIST_ERANGE with *why. */
int lp__timestamp(const char *tok, size_t n, hist_lp_precision prec, int64_t *ns, const char **why);
/* value.c: ns in one unit of prec. */
int64_t lp__unit_ns(hist_lp_precision prec);

#endif
