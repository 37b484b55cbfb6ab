/*
 * parse.c: a line protocol body -> points. One pass over the bytes: each
 * line is cut at its '\n' (a '\r' before it is part of the line end), its
 * measurement, tags, fields and timestamp are read with the escapes of the
 * spec, then each field but the quality field becomes a point named by
 * name.c.
 *
 * Memory, kept in the result between calls and grown by doubling: the
 * points, the names (at most 256 bytes a point), and one line's tags,
 * fields and unescaped text (at most the line's length). Nothing else is
 * allocated per line, except by strtod's slow path for numbers of over
 * 500 digits.
 *
 * Errors name the line and the byte column where the problem starts, and
 * quote the start of the line, like InfluxDB's "unable to parse '...'".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_array.h"
#include "common/hist_text.h"
#include "ingest/lineproto/lp_internal.h"

#define MAX_LINE_DEFAULT (1u << 20)

/* Byte classes. */
enum {
    C_CTRL = 1,   /* C0 and DEL: refused outside string values */
    C_HIGH = 2,   /* a byte of a multi-byte UTF-8 character */
    C_BSL = 4,    /* backslash */
    C_COMMA = 8,  /* , */
    C_SPACE = 16, /* ' ' */
    C_EQ = 32,    /* = */
};

static const uint8_t *classes(void)
{
    static const uint8_t cls[256] = {
        [0 ... 31] = C_CTRL, [127] = C_CTRL,  [128 ... 255] = C_HIGH, ['\\'] = C_BSL,
        [','] = C_COMMA,     [' '] = C_SPACE, ['='] = C_EQ,
    };
    return cls;
}

/* What a section of a line stops at and may escape. */
typedef struct {
    uint8_t stop, escapable;
    const char *what;
} section;

static const section SEC_MEASUREMENT = {C_COMMA | C_SPACE, C_COMMA | C_SPACE, "measurement"};
static const section SEC_TAG_KEY = {C_COMMA | C_SPACE | C_EQ, C_COMMA | C_SPACE | C_EQ, "tag key"};
static const section SEC_TAG_VALUE = {C_COMMA | C_SPACE | C_EQ, C_COMMA | C_SPACE | C_EQ,
                                      "tag value"};
static const section SEC_FIELD_KEY = {C_COMMA | C_SPACE | C_EQ, C_COMMA | C_SPACE | C_EQ,
                                      "field key"};

enum { F_FLOAT, F_INT, F_UINT_BIG, F_BOOL, F_STRING };

typedef struct {
    lp_span key;
    int kind;
    hist_value v;
    const char *str; /* a string's bytes as written (escapes kept) */
    size_t str_len;
    const char *at; /* where the key starts */
} lp_field;

typedef struct {
    lp_tag *tags;
    size_t ntags, tags_cap;
    lp_field *fields;
    size_t nfields, fields_cap;
    char *esc;
    size_t esc_len, esc_cap;
} scratch;

typedef struct {
    const hist_lp_options *o;
    const hist_lp_template *t;
    hist_lp_precision prec;
    int64_t now;
    const char *body_end;
    hist_lp_result *r;
    scratch *s;
    size_t max_line;
    const char *qname;
    size_t qlen;
    /* the current line */
    const char *start; /* its first byte */
    const char *p;     /* the cursor */
    const char *e;     /* its end, without the '\r\n' */
    const char *lend;  /* its '\n', or the body's end */
    uint32_t lineno;   /* of its first byte */
    uint32_t lines_in; /* '\n' inside it (string values): lineno moves on by these */
    lp_span measurement;
    bool over_points; /* max_points reached: the body ends */
} parser;

/* ---- errors ------------------------------------------------------------- */

/* Up to 60 bytes of the line at ls quoted: printable ASCII and valid
 * UTF-8 as they are, anything else '?', "..." when cut. */
static void quote_line(const parser *P, const char *ls, char *out, size_t cap)
{
    const char *le = memchr(ls, '\n', (size_t)(P->body_end - ls));
    if (!le)
        le = P->body_end;
    if (le > ls && le[-1] == '\r')
        le--;
    size_t k = 0;
    const char *q = ls;
    while (q < le && k + 8 < cap && q - ls < 60) {
        unsigned char c = (unsigned char)*q;
        size_t l = c >= 0x80 ? hist_utf8_len((const unsigned char *)q, (size_t)(le - q)) : 1;
        if (c < 0x20 || c == 0x7f || l == 0) {
            out[k++] = '?';
            q++;
        } else {
            memcpy(out + k, q, l);
            k += l;
            q += l;
        }
    }
    if (q < le && k + 4 <= cap) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* Line and column of at, which is inside the current line. */
static void where(const parser *P, const char *at, uint32_t *line, uint32_t *col, const char **ls)
{
    *line = P->lineno;
    *ls = P->start;
    for (const char *q = P->start; q < at; q++)
        if (*q == '\n') {
            (*line)++;
            *ls = q + 1;
        }
    *col = (uint32_t)(at - *ls) + 1;
}

static void sanitize(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0, i = 0;
    while (i < n && k + 8 < cap && i < 60) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c >= 0x80 ? hist_utf8_len((const unsigned char *)s + i, n - i) : 1;
        if (c < 0x20 || c == 0x7f || l == 0) {
            out[k++] = '?';
            i++;
        } else {
            memcpy(out + k, s + i, l);
            k += l;
            i += l;
        }
    }
    if (i < n && k + 4 <= cap) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* The line is bad: the first such error is kept; code is returned. */
__attribute__((format(printf, 4, 5))) static int fail(parser *P, const char *at, int code,
                                                      const char *fmt, ...)
{
    hist_lp_error *err = &P->r->error;
    if (err->code)
        return code;
    const char *ls;
    err->code = code;
    where(P, at, &err->line, &err->column, &ls);
    char what[160], quoted[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    quote_line(P, ls, quoted, sizeof quoted);
    snprintf(err->msg, sizeof err->msg, "line %u, column %u: unable to parse '%s': %s", err->line,
             err->column, quoted, what);
    return code;
}

/* A field is refused: an error of its line when strict, else counted. */
static int refuse(parser *P, const lp_field *f, int code, const char *why)
{
    char key[128];
    if (P->o->strict || (P->o->strict_but_strings && code != HIST_EUNSUPPORTED)) {
        if (!P->r->error.code)
            sanitize(f->key.p, f->key.len, key, sizeof key);
        return fail(P, f->at, code, "field '%s': %s", key, why);
    }
    P->r->refused++;
    hist_lp_error *ref = &P->r->refusal;
    if (!ref->code) {
        const char *ls;
        sanitize(f->key.p, f->key.len, key, sizeof key);
        ref->code = code;
        where(P, f->at, &ref->line, &ref->column, &ls);
        snprintf(ref->msg, sizeof ref->msg, "line %u, column %u: field '%s': %s", ref->line,
                 ref->column, key, why);
    }
    return 0;
}

/* ---- tokens ------------------------------------------------------------- */

/* The bytes from the cursor up to the section's end (unescaped, checked:
 * no control character, valid UTF-8) into *out; the cursor moves past
 * them. */
static int token(parser *P, const section *sec, lp_span *out)
{
    const uint8_t *cls = classes();
    const uint8_t stop = sec->stop | C_CTRL | C_HIGH | C_BSL;
    const char *q = P->p, *e = P->e;
    bool esc = false, high = false;
    for (;;) {
        while (q < e && !(cls[(uint8_t)*q] & stop))
            q++;
        if (q == e)
            break;
        uint8_t c = cls[(uint8_t)*q];
        if (c & C_BSL) {
            if (q + 1 < e && (cls[(uint8_t)q[1]] & sec->escapable)) {
                esc = true;
                q += 2;
            } else {
                q++; /* a backslash before anything else is itself */
            }
            continue;
        }
        if (c & C_HIGH) {
            high = true;
            q++;
            continue;
        }
        if (c & C_CTRL)
            return fail(P, q, HIST_EPROTO, "a control character (0x%02x) in a %s", (uint8_t)*q,
                        sec->what);
        break;
    }
    out->p = P->p;
    out->len = (uint32_t)(q - P->p);
    out->c1 = false;
    if (high) {
        for (const char *h = P->p; h < q;) {
            if ((uint8_t)*h < 0x80) {
                h++;
                continue;
            }
            size_t l = hist_utf8_len((const unsigned char *)h, (size_t)(q - h));
            if (l == 0)
                return fail(P, h, HIST_EPROTO, "invalid UTF-8 in a %s", sec->what);
            if (l == 2 && (uint8_t)h[0] == 0xc2 && (uint8_t)h[1] <= 0x9f)
                out->c1 = true;
            h += l;
        }
    }
    if (esc) {
        scratch *s = P->s;
        char *d = s->esc + s->esc_len;
        out->p = d;
        for (const char *h = P->p; h < q; h++) {
            if (*h == '\\' && h + 1 < q && (cls[(uint8_t)h[1]] & sec->escapable))
                h++;
            *d++ = *h;
        }
        out->len = (uint32_t)(d - out->p);
        s->esc_len += out->len;
    }
    P->p = q;
    return 0;
}

/* A string value from the cursor (at its opening quote): `\"` and `\\`
 * are escapes, anything else is itself, a '\n' continues the line. */
static int string_value(parser *P, lp_field *f)
{
    const char *open = P->p++;
    for (;;) {
        const char *q = P->p;
        while (q < P->e && *q != '"') {
            if (*q == '\\' && q + 1 < P->e && (q[1] == '"' || q[1] == '\\'))
                q++;
            q++;
        }
        if (q < P->e) {
            f->str = open + 1;
            f->str_len = (size_t)(q - open - 1);
            P->p = q + 1;
            return 0;
        }
        if (P->lend == P->body_end)
            return fail(P, open, HIST_EPROTO, "a string value without its closing quote");
        /* the string holds a newline: the line goes on to the next '\n' */
        P->p = P->lend + 1;
        P->lines_in++;
        const char *nl = memchr(P->p, '\n', (size_t)(P->body_end - P->p));
        P->lend = nl ? nl : P->body_end;
        P->e = P->lend > P->p && P->lend[-1] == '\r' ? P->lend - 1 : P->lend;
        if ((size_t)(P->e - P->start) > P->max_line)
            return fail(P, P->start, HIST_ETOOBIG, "a line over the limit of %zu bytes",
                        P->max_line);
    }
}

static int grow_fields(scratch *s)
{
    return HIST_ARRAY_RESERVE(s->fields, s->fields_cap, s->nfields + 1, 16);
}

/* A field's value from the cursor. */
static int field_value(parser *P, lp_field *f)
{
    if (P->p == P->e)
        return fail(P, P->p, HIST_EPROTO, "a field value is expected after '='");
    if (*P->p == '"') {
        f->kind = F_STRING;
        return string_value(P, f);
    }
    const char *q = P->p;
    while (q < P->e && *q != ',' && *q != ' ')
        q++;
    const char *tok = P->p;
    size_t n = (size_t)(q - tok);
    const char *why = NULL;
    char c = tok[0];
    if (c == 't' || c == 'T' || c == 'f' || c == 'F') {
        int b = lp__bool(tok, n);
        if (b < 0)
            return fail(P, tok, HIST_EPROTO,
                        "invalid boolean (t, T, true, True, TRUE, f, F, "
                        "false, False, FALSE)");
        f->kind = F_BOOL;
        f->v.i = b;
    } else {
        int kind = LP_NUM_FLOAT;
        if (n > 1 && tok[n - 1] == 'i')
            kind = LP_NUM_INT, n--;
        else if (n > 1 && tok[n - 1] == 'u')
            kind = LP_NUM_UINT, n--;
        bool too_big;
        int rc = lp__number(tok, n, kind, &f->v, &too_big, &why);
        if (rc == HIST_ENOMEM)
            return rc;
        if (rc)
            return fail(P, tok, rc, "%s", why);
        f->kind = kind == LP_NUM_FLOAT ? F_FLOAT : too_big ? F_UINT_BIG : F_INT;
    }
    P->p = q;
    return 0;
}

/* ---- a line ------------------------------------------------------------- */

static int tags(parser *P)
{
    scratch *s = P->s;
    while (P->p < P->e && *P->p == ',') {
        P->p++;
        if (P->p == P->e || *P->p == ' ')
            return fail(P, P->p, HIST_EPROTO, "a tag key is expected after ','");
        int rc = HIST_ARRAY_RESERVE(s->tags, s->tags_cap, s->ntags + 1, 8);
        if (rc)
            return rc;
        lp_tag *t = &s->tags[s->ntags];
        t->at = P->p;
        if ((rc = token(P, &SEC_TAG_KEY, &t->key)))
            return rc;
        if (t->key.len == 0)
            return fail(P, P->p, HIST_EPROTO, "an empty tag key");
        if (P->p == P->e || *P->p != '=')
            return fail(P, P->p, HIST_EPROTO, "'=' is expected after a tag key");
        P->p++;
        const char *v0 = P->p;
        if ((rc = token(P, &SEC_TAG_VALUE, &t->val)))
            return rc;
        if (t->val.len == 0)
            return fail(P, v0, HIST_EPROTO, "a tag value is expected after '='");
        if (P->p < P->e && *P->p == '=')
            return fail(P, P->p, HIST_EPROTO, "an unescaped '=' in a tag value");
        s->ntags++;
    }
    return 0;
}

/* Tags by key (most clients send them sorted: then one pass); two alike
 * are an error. */
static int sort_tags(parser *P)
{
    lp_tag *t = P->s->tags;
    size_t n = P->s->ntags;
    for (size_t i = 1; i < n; i++) {
        if (lp__key_cmp(&t[i - 1].key, &t[i].key) < 0)
            continue;
        lp_tag x = t[i];
        size_t j = i;
        while (j > 0 && lp__key_cmp(&t[j - 1].key, &x.key) > 0) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = x;
    }
    for (size_t i = 1; i < n; i++)
        if (lp__key_cmp(&t[i - 1].key, &t[i].key) == 0) {
            const lp_tag *dup = t[i - 1].at > t[i].at ? &t[i - 1] : &t[i];
            char key[128];
            sanitize(dup->key.p, dup->key.len, key, sizeof key);
            return fail(P, dup->at, HIST_EPROTO, "the tag key '%s' twice", key);
        }
    return 0;
}

static int fields(parser *P)
{
    scratch *s = P->s;
    for (;;) {
        int rc = grow_fields(s);
        if (rc)
            return rc;
        lp_field *f = &s->fields[s->nfields];
        f->at = P->p;
        if ((rc = token(P, &SEC_FIELD_KEY, &f->key)))
            return rc;
        if (f->key.len == 0)
            return fail(P, P->p, HIST_EPROTO, "a field key is expected");
        if (P->p == P->e || *P->p != '=')
            return fail(P, P->p, HIST_EPROTO, "'=' is expected after a field key");
        P->p++;
        if ((rc = field_value(P, f)))
            return rc;
        s->nfields++;
        if (P->p == P->e || *P->p == ' ')
            return 0;
        if (*P->p != ',')
            return fail(P, P->p, HIST_EPROTO, "',' or ' ' is expected after a field value");
        P->p++;
        if (P->p == P->e || *P->p == ' ')
            return fail(P, P->p, HIST_EPROTO, "a field is expected after ','");
    }
}

static int timestamp(parser *P, int64_t *ts)
{
    while (P->p < P->e && *P->p == ' ')
        P->p++;
    if (P->p == P->e) {
        *ts = P->now;
        return 0;
    }
    const char *tok = P->p;
    while (P->p < P->e && *P->p != ' ')
        P->p++;
    const char *why;
    int rc = lp__timestamp(tok, (size_t)(P->p - tok), P->prec, ts, &why);
    if (rc)
        return fail(P, tok, rc, "%s", why);
    while (P->p < P->e && *P->p == ' ')
        P->p++;
    if (P->p != P->e)
        return fail(P, P->p, HIST_EPROTO, "unexpected text after the timestamp");
    return 0;
}

/* "...0xHEX" or "...(0xHEX)": Telegraf's OPC UA input writes its
 * StatusCode so ("OK (0x0)"). 0 with *q, or -1. */
static int status_from_text(const char *s, size_t n, uint32_t *q)
{
    if (n > 0 && s[n - 1] == ')')
        n--;
    size_t i = n;
    while (i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') || (s[i - 1] >= 'a' && s[i - 1] <= 'f') ||
                     (s[i - 1] >= 'A' && s[i - 1] <= 'F')))
        i--;
    if (i == n || n - i > 8 || i < 2 || s[i - 2] != '0' || (s[i - 1] != 'x' && s[i - 1] != 'X'))
        return -1;
    uint32_t v = 0;
    for (size_t k = i; k < n; k++) {
        char c = s[k];
        v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *q = v;
    return 0;
}

/* The line's quality from its quality field: 0, or -1 with *why when the
 * field is there but not a quality. */
static int line_quality(const lp_field *f, uint32_t *q, const char **why)
{
    switch (f->kind) {
    case F_INT:
        *q = hist_quality_from_da(f->v.i);
        return 0;
    case F_UINT_BIG:
        *q = HIST_QUALITY_BAD;
        return 0;
    case F_FLOAT:
        if (f->v.f >= -9.2e18 && f->v.f <= 9.2e18 && f->v.f == (double)(int64_t)f->v.f) {
            *q = hist_quality_from_da((int64_t)f->v.f);
            return 0;
        }
        *why = "the line's quality field is not an integer: its fields are left out";
        return -1;
    case F_STRING:
        if (status_from_text(f->str, f->str_len, q) == 0)
            return 0;
        *why = "the line's quality field is a string without a 0xHEX StatusCode: its fields are "
               "left out";
        return -1;
    default:
        *why = "the line's quality field is a boolean: its fields are left out";
        return -1;
    }
}

static bool is_quality(const parser *P, const lp_field *f)
{
    return P->qname && f->key.len == P->qlen && memcmp(f->key.p, P->qname, P->qlen) == 0;
}

static int emit(parser *P, int64_t ts)
{
    scratch *s = P->s;
    hist_lp_result *r = P->r;
    uint32_t q = HIST_QUALITY_GOOD;
    const char *qwhy = NULL;
    for (size_t i = 0; i < s->nfields; i++) /* the last one wins */
        if (is_quality(P, &s->fields[i]))
            qwhy = line_quality(&s->fields[i], &q, &qwhy) ? qwhy : NULL;
    lp_line line = {.measurement = P->measurement, .tags = s->tags, .ntags = s->ntags};
    for (size_t i = 0; i < s->nfields; i++) {
        const lp_field *f = &s->fields[i];
        if (is_quality(P, f))
            continue;
        int rc = 0;
        if (f->kind == F_STRING) {
            if (!P->o->strict) /* strict_but_strings counts them too */
                r->refused_strings++;
            rc = refuse(P, f, HIST_EUNSUPPORTED,
                        "a string value: Historian stores numbers and booleans, the field is left "
                        "out");
        } else if (f->kind == F_UINT_BIG) {
            rc = refuse(P, f, HIST_ERANGE,
                        "an unsigned value over 9223372036854775807: Historian stores int64, the "
                        "field is left out");
        } else if (qwhy) {
            rc = refuse(P, f, HIST_EINVAL, qwhy);
        } else {
            if (P->o->max_points && r->npoints >= P->o->max_points) {
                P->over_points = true;
                r->error.code = 0; /* it says why the body ended, not an earlier bad line */
                return fail(P, f->at, HIST_ETOOBIG, "over the limit of %zu points",
                            P->o->max_points);
            }
            if ((rc = HIST_ARRAY_RESERVE(r->points, r->cap, r->npoints + 1, 256)))
                return rc;
            if ((rc = HIST_ARRAY_RESERVE(r->names, r->names_cap,
                                         r->names_len + HIST_LP_NAME_MAX + 1, 4096)))
                return rc;
            const char *why;
            int len = lp__name(P->t, &line, &f->key, r->names + r->names_len, &why);
            if (len < 0) {
                rc = refuse(P, f, HIST_ENAME, why);
            } else {
                hist_lp_point *pt = &r->points[r->npoints++];
                pt->name = NULL;
                pt->name_off = r->names_len;
                pt->name_len = (uint32_t)len;
                pt->line = P->lineno;
                pt->type = f->kind == F_FLOAT  ? HIST_TYPE_FLOAT64
                           : f->kind == F_BOOL ? HIST_TYPE_BOOL
                                               : HIST_TYPE_INT64;
                pt->quality = q;
                pt->ts = ts;
                pt->v = f->v;
                r->names_len += (size_t)len + 1;
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* One line from P->p (its first byte that is not a space). */
static int line(parser *P)
{
    scratch *s = P->s;
    s->ntags = s->nfields = s->esc_len = 0;
    int rc = token(P, &SEC_MEASUREMENT, &P->measurement);
    if (rc)
        return rc;
    if (P->measurement.len == 0)
        return fail(P, P->p, HIST_EPROTO, "a measurement is expected");
    if ((rc = tags(P)))
        return rc;
    if (P->p == P->e)
        return fail(P, P->p, HIST_EPROTO, "no fields (a line needs at least one)");
    if (*P->p != ' ')
        return fail(P, P->p, HIST_EPROTO, "unexpected character after the tags");
    while (P->p < P->e && *P->p == ' ')
        P->p++;
    if (P->p == P->e)
        return fail(P, P->p, HIST_EPROTO, "no fields (a line needs at least one)");
    if ((rc = fields(P)))
        return rc;
    int64_t ts;
    if ((rc = timestamp(P, &ts)))
        return rc;
    if ((rc = sort_tags(P)))
        return rc;
    return emit(P, ts);
}

void hist_lp_result_init(hist_lp_result *r)
{
    memset(r, 0, sizeof *r);
}

void hist_lp_result_free(hist_lp_result *r)
{
    scratch *s = r->scratch;
    if (s) {
        free(s->tags);
        free(s->fields);
        free(s->esc);
        free(s);
    }
    free(r->points);
    free(r->names);
    memset(r, 0, sizeof *r);
}

static void reset(hist_lp_result *r)
{
    r->npoints = r->lines = r->bad_lines = r->refused = r->refused_strings = 0;
    r->names_len = 0;
    memset(&r->error, 0, sizeof r->error);
    memset(&r->refusal, 0, sizeof r->refusal);
}

int hist_lp_parse(const hist_lp_options *o, hist_lp_precision prec, int64_t now_ns,
                  const char *body, size_t len, hist_lp_result *r)
{
    reset(r);
    if (now_ns < HIST_TS_MIN || now_ns > HIST_TS_MAX || (!body && len))
        return HIST_EINVAL;
    if (!r->scratch && !(r->scratch = calloc(1, sizeof(scratch))))
        return HIST_ENOMEM;
    hist_lp_template def;
    const hist_lp_template *t = o->name_template;
    if (!t) {
        hist_lp_template_parse(&def, "{tags}/{measurement}/{field}", NULL, 0);
        t = &def;
    }
    int64_t unit = lp__unit_ns(prec);
    int64_t now = now_ns - now_ns % unit;
    if (now > now_ns)
        now -= unit;
    if (now < HIST_TS_MIN)
        now += unit;
    parser P = {.o = o,
                .t = t,
                .prec = prec,
                .now = now,
                .body_end = body + len,
                .r = r,
                .s = r->scratch,
                .max_line = o->max_line ? o->max_line : MAX_LINE_DEFAULT,
                .qname = o->quality_field && *o->quality_field ? o->quality_field : NULL,
                .lineno = 1};
    P.qlen = P.qname ? strlen(P.qname) : 0;
    const char *p = body;
    int ret = 0;
    while (p < P.body_end) {
        const char *nl = memchr(p, '\n', (size_t)(P.body_end - p));
        P.start = p;
        P.lend = nl ? nl : P.body_end;
        P.e = P.lend > p && P.lend[-1] == '\r' ? P.lend - 1 : P.lend;
        P.lines_in = 0;
        P.p = p;
        int rc = 0;
        if ((size_t)(P.e - p) > P.max_line) {
            rc = fail(&P, p, HIST_ETOOBIG, "a line over the limit of %zu bytes", P.max_line);
        } else {
            while (P.p < P.e && *P.p == ' ')
                P.p++;
            if (P.p < P.e && *P.p != '#') {
                r->lines++;
                size_t need = (size_t)(P.body_end - p);
                if (need > P.max_line)
                    need = P.max_line;
                rc = HIST_ARRAY_RESERVE(P.s->esc, P.s->esc_cap, need, 256);
                size_t npoints = r->npoints, names_len = r->names_len;
                if (rc == 0)
                    rc = line(&P);
                if (rc) {
                    r->npoints = npoints;
                    r->names_len = names_len;
                }
            }
        }
        if (rc) {
            if (!o->skip_bad_lines || rc == HIST_ENOMEM || P.over_points) {
                ret = rc;
                break;
            }
            r->bad_lines++;
        }
        P.lineno += P.lines_in + 1;
        p = P.lend + 1;
    }
    if (ret == HIST_ENOMEM) {
        r->error.code = ret;
        snprintf(r->error.msg, sizeof r->error.msg, "line %u: out of memory", P.lineno);
        r->error.line = P.lineno;
        r->error.column = 1;
    }
    for (size_t i = 0; i < r->npoints; i++)
        r->points[i].name = r->names + r->points[i].name_off;
    return ret;
}
