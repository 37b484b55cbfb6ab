/*
 * hist_lineproto.h: InfluxDB line protocol, pure: a body's bytes in, a
 * flat array of points out (tag name, type, timestamp, value, quality).
 * No I/O, no clock (the caller gives "now"), no threads; memory grows by
 * doubling and is kept between calls. The door of ingest/lineproto/
 * (library hist_lineproto, on hist_common only). docs/protocol.md, "Line
 * protocol", is the reference of what is accepted.
 *
 * Three parts:
 *   - the parser: hist_lp_parse() reads a body of lines
 *     `measurement[,tag=v...] field=v[,field=v...] [timestamp]`, with the
 *     spec's escapes, comments, blank lines and CRLF;
 *   - the name rule: a point's measurement, tags and field make one tag
 *     name, by the default rule `{tags}/{measurement}/{field}` or by a
 *     template (hist_lp_template_parse());
 *   - the quality field: an option naming a field whose value is the
 *     quality of the line's other fields (common's hist_quality_from_da()).
 *
 * Errors are negative codes from common/hist_error.h. A line that is not
 * line protocol is HIST_EPROTO; a number or timestamp out of its range is
 * HIST_ERANGE; a line over max_line or points over max_points is
 * HIST_ETOOBIG; HIST_ENOMEM.
 */
#ifndef HIST_INGEST_LINEPROTO_H
#define HIST_INGEST_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_error.h"
#include "common/hist_types.h"

/* ---- timestamps ------------------------------------------------------ */

typedef enum {
    HIST_LP_NS = 0, /* the default */
    HIST_LP_US,
    HIST_LP_MS,
    HIST_LP_S,
    HIST_LP_M, /* minutes (InfluxDB 1.x) */
    HIST_LP_H, /* hours (InfluxDB 1.x) */
} hist_lp_precision;

/* The precision named s: "ns" (or "n"), "us" (or "u"), "ms", "s", "m",
 * "h"; NULL or "" is ns. 0, or HIST_EINVAL for any other name. */
int hist_lp_precision_parse(const char *s, hist_lp_precision *out);

/* ---- names ----------------------------------------------------------- */

/* A template is at most HIST_LP_TEMPLATE_MAX bytes: literal text (valid
 * UTF-8, no control characters; `{{` and `}}` for braces) and the
 * placeholders {measurement}, {field}, {tags} (the values of the tags the
 * template does not name, in key order, joined by '/'), {tag:KEY} (that
 * tag's value; a point without it is refused) and {tag?:KEY} (the value,
 * or nothing). A placeholder that gives nothing ({tags} of a point
 * without other tags, {tag?:KEY} of one without KEY) takes one '/' with
 * it: the one after it, or at the end the one before it. */
#define HIST_LP_TEMPLATE_MAX   255
#define HIST_LP_TEMPLATE_PARTS 128
#define HIST_LP_NAME_MAX       255 /* = storage's HIST_TAG_NAME_MAX */

typedef struct {
    uint8_t kind; /* private: a literal or which placeholder */
    uint8_t len;  /* of the literal or the key, in text */
    uint16_t off;
} hist_lp_part;

typedef struct {
    char text[HIST_LP_TEMPLATE_MAX + 1]; /* the literals and keys, unescaped */
    hist_lp_part part[HIST_LP_TEMPLATE_PARTS];
    size_t nparts;
    bool has_field;  /* {field} is in it */
    bool names_tags; /* {tag:KEY} or {tag?:KEY} is in it */
} hist_lp_template;

/* Compiles pattern into *t. 0, or HIST_EINVAL with a message in err
 * (errcap bytes, NUL-terminated; err may be NULL). */
int hist_lp_template_parse(hist_lp_template *t, const char *pattern, char *err, size_t errcap);

/* ---- the parser ------------------------------------------------------ */

typedef struct {
    const hist_lp_template *name_template; /* NULL: {tags}/{measurement}/{field} */
    const char *quality_field;             /* NULL or "": no quality field */
    size_t max_line;                       /* bytes of one line without its end; 0: 1 MiB */
    size_t max_points;                     /* points of one body; 0: no limit */
    bool strict;                           /* a refused field is an error of its line */
    bool strict_but_strings; /* so is every refusal but a string field's (left out, counted) */
    bool skip_bad_lines; /* a bad line is left out and counted; else it ends the body */
} hist_lp_options;

typedef struct {
    const char *name;  /* NUL-terminated, in the result's memory (valid until
                          the next parse or free) */
    size_t name_off;   /* the same, as an offset in the result's names */
    uint32_t name_len; /* 1..HIST_LP_NAME_MAX */
    uint32_t line;     /* the 1-based line it came from */
    hist_type type;
    uint32_t quality; /* OPC UA StatusCode */
    int64_t ts;       /* ns, within [HIST_TS_MIN, HIST_TS_MAX] */
    hist_value v;
} hist_lp_point;

typedef struct {
    int code;        /* 0: none; else the HIST_E* code */
    uint32_t line;   /* 1-based */
    uint32_t column; /* 1-based, in bytes from the line's start */
    char msg[384];   /* "line L, column C: unable to parse '...': what" */
} hist_lp_error;

typedef struct {
    hist_lp_point *points;
    size_t npoints;
    size_t lines;           /* lines with data (not blank, not comments) */
    size_t bad_lines;       /* lines left out (skip_bad_lines) */
    size_t refused;         /* fields refused and left out, strings included */
    size_t refused_strings; /* of them: string fields */
    hist_lp_error error;    /* the first bad line */
    hist_lp_error refusal;  /* the first refused field */
    /* private: kept between calls */
    size_t cap;
    char *names;
    size_t names_len, names_cap;
    void *scratch; /* the current line's tags, fields, unescaped text */
} hist_lp_result;

void hist_lp_result_init(hist_lp_result *r);
void hist_lp_result_free(hist_lp_result *r);

/* Parses body[0..len) into r (emptied first). Lines without a timestamp
 * get now_ns truncated to the precision, as InfluxDB does.
 *
 * Returns 0 when every line was read (fields may have been refused: see
 * r->refused and r->refusal). The first bad line otherwise: without
 * skip_bad_lines, its code is returned and r->error says which line and
 * column and what (r->points then holds the points of the lines before
 * it); with it, the line is left out, counted in bad_lines, the first one
 * kept in r->error, and 0 returned. Points over max_points
 * (HIST_ETOOBIG) and HIST_ENOMEM end the body in every mode, and r->error
 * then says so; now_ns outside [HIST_TS_MIN, HIST_TS_MAX] is HIST_EINVAL
 * (nothing read). */
int hist_lp_parse(const hist_lp_options *o, hist_lp_precision prec, int64_t now_ns,
                  const char *body, size_t len, hist_lp_result *r);

#endif
