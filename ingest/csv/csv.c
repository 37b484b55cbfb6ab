/*
 * csv.c: the CSV sample reader of hist_csv.h. libcsv splits the bytes into
 * fields and rows; this file counts physical lines, recognises the header,
 * turns each row into samples and keeps the first errors.
 *
 * libcsv is fed at most FEED_STEP bytes at a time; after each step a field
 * that has grown over HIST_CSV_FIELD_MAX is emptied in libcsv's buffer
 * (the row is already bad), so memory stays bounded whatever the input.
 * Lines: libcsv reports every unquoted CR and LF (CSV_REPALL_NL) as a row
 * end; an LF right after a CR end is the second half of a CRLF. Newlines
 * inside quoted fields are counted from the field's bytes.
 */
#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hist_error.h"
#include "common/hist_time.h"
#include "common/hist_tz.h"
#include "ingest/csv/hist_csv.h"

#define FEED_STEP 4096
#define TAG_MAX   255

enum col_kind { COL_TAG, COL_TIME, COL_VALUE, COL_QUALITY, COL_WIDE_TAG };
static const char *const col_names[] = {"tag", "time", "value", "quality", "tag"};

struct hist_csv {
    struct csv_parser p;
    hist_csv_opts opts;
    hist_tz *tz;
    hist_csv_sample_fn fn;
    void *ctx;
    int stop_rc; /* the callback's error: the reader is stopped */
    hist_csv_stats st;
    /* the leading BOM: how many of its bytes matched so far; 3 = done */
    int bom;
    bool bom_done;
    /* lines */
    long line;     /* the physical line at libcsv's position */
    bool last_cr;  /* the last row end was a CR (a following LF is CRLF) */
    bool field_cr; /* the field's bytes so far ended with a CR */
    /* the row being read */
    long row_line;
    int nfields;
    bool row_started, row_bad, field_cut;
    char *row; /* the fields, each NUL-terminated; grows up to HIST_CSV_ROW_MAX */
    size_t row_cap;
    size_t row_len;
    size_t *offs; /* where field i starts in row */
    /* the columns, once the first row has been seen */
    bool first_done, dead;
    int ncols;
    enum col_kind *cols;
    char **wide_tags;
    hist_csv_sample *out; /* a row's samples */
};

/* ---- errors ------------------------------------------------------------ */

static const char *col_name(const hist_csv *r, int column)
{
    if (column < 1 || column > r->ncols || !r->cols)
        return NULL;
    return col_names[r->cols[column - 1]];
}

/* Marks the row bad, once: counted, kept while there is room. */
static void row_error(hist_csv *r, int column, const char *fmt, ...)
{
    if (r->row_bad)
        return;
    r->row_bad = true;
    r->st.bad++;
    if (r->st.nerrors >= HIST_CSV_ERRORS_KEPT)
        return;
    hist_csv_error *e = &r->st.errors[r->st.nerrors++];
    e->line = r->row_line;
    e->column = column;
    e->column_name = col_name(r, column);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void hist_csv_format_error(const hist_csv_error *e, char *out, size_t cap)
{
    if (e->column > 0 && e->column_name)
        snprintf(out, cap, "line %ld, column %d (%s): %s", e->line, e->column, e->column_name,
                 e->msg);
    else if (e->column > 0)
        snprintf(out, cap, "line %ld, column %d: %s", e->line, e->column, e->msg);
    else
        snprintf(out, cap, "line %ld: %s", e->line, e->msg);
}

/* ---- values -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static bool all_digits(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return *s && s[strspn(s, "0123456789")] == '\0';
}

/* Epoch ms, RFC 3339 with a zone, or a zone-less wall clock in the zone. */
static int parse_time(const hist_csv *r, const char *s, int64_t *ns, const char **why)
{
    *why = "bad time (epoch ms, RFC 3339 or YYYY-MM-DD hh:mm:ss)";
    if (all_digits(s)) {
        errno = 0;
        long long ms = strtoll(s, NULL, 10);
        if (errno || ms > HIST_TS_MAX / 1000000 || ms < HIST_TS_MIN / 1000000) {
            *why = "time out of range (+-200 years around 1970)";
            return HIST_ERANGE;
        }
        *ns = (int64_t)ms * 1000000;
        return 0;
    }
    size_t n = strlen(s);
    if (n < 10 || n > 60 || s[4] != '-') /* not "now", not "-24h" */
        return HIST_EINVAL;
    int rc = n == 10 ? HIST_EINVAL : hist_time_parse(s, 0, ns);
    if (rc == 0)
        return 0;
    char tmp[80];
    snprintf(tmp, sizeof tmp, n == 10 ? "%sT00:00:00Z" : "%sZ", s);
    int64_t local_ns;
    if (hist_time_parse(tmp, 0, &local_ns) < 0)
        return rc == HIST_ERANGE ? rc : HIST_EINVAL;
    if (!r->tz) {
        *ns = local_ns;
        return 0;
    }
    int64_t local_s = hist_tz_floor_div(local_ns, 1000000000), at[2];
    if (hist_tz_local_to_utc(r->tz, local_s, at) == 0) {
        *why = "this local time does not exist in the zone (the clocks jumped forward)";
        return HIST_EINVAL;
    }
    int64_t t = at[0] * 1000000000 + (local_ns - local_s * 1000000000);
    if (t > HIST_TS_MAX || t < HIST_TS_MIN) {
        *why = "time out of range (+-200 years around 1970)";
        return HIST_ERANGE;
    }
    *ns = t;
    return 0;
}

static int parse_int64(const char *s, size_t n, hist_value *v, const char **why)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return HIST_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!all_digits(tmp))
        return HIST_EINVAL;
    errno = 0;
    long long x = strtoll(tmp, NULL, 10);
    if (errno) {
        *why = "integer out of the int64 range";
        return HIST_ERANGE;
    }
    v->i = x;
    return 0;
}

static int parse_value(const hist_csv *r, const char *s, hist_type *type, hist_value *v,
                       const char **why)
{
    *why = "bad value (a number, true or false)";
    size_t n = strlen(s);
    if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
        *type = HIST_TYPE_BOOL;
        v->i = (s[0] == 't' || s[0] == 'T');
        return 0;
    }
    if (n > 1 && s[n - 1] == 'i') {
        *type = HIST_TYPE_INT64;
        return parse_int64(s, n - 1, v, why);
    }
    if (r->opts.ints_as_int64 && all_digits(s)) {
        *type = HIST_TYPE_INT64;
        return parse_int64(s, n, v, why);
    }
    char tmp[128];
    if (n == 0 || n >= sizeof tmp)
        return HIST_EINVAL;
    memcpy(tmp, s, n + 1);
    if (r->opts.decimal_comma) {
        if (strchr(tmp, '.'))
            return HIST_EINVAL; /* "1.234,5": no thousands separators */
        char *c = strchr(tmp, ',');
        if (c)
            *c = '.';
    }
    char *end;
    *type = HIST_TYPE_FLOAT64;
    v->f = strtod(tmp, &end);
    return *end ? HIST_EINVAL : 0;
}

/* An OPC UA StatusCode: decimal or 0x hex, empty = Good. */
static int parse_quality(const char *s, uint32_t *q)
{
    *q = 0;
    if (!*s)
        return 0;
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *d = hex ? s + 2 : s;
    if (!*d || d[strspn(d, hex ? "0123456789abcdefABCDEF" : "0123456789")])
        return HIST_EINVAL;
    errno = 0;
    unsigned long long x = strtoull(d, NULL, hex ? 16 : 10);
    if (errno || x > 0xffffffffULL)
        return HIST_EINVAL;
    *q = (uint32_t)x;
    return 0;
}

/* ---- the header ------------------------------------------------------------ */

static int col_kind_of(const char *name)
{
    static const struct {
        const char *name;
        enum col_kind kind;
    } known[] = {{"tag", COL_TAG},     {"name", COL_TAG},       {"time", COL_TIME},
                 {"ts", COL_TIME},     {"ts_ms", COL_TIME},     {"timestamp", COL_TIME},
                 {"value", COL_VALUE}, {"quality", COL_QUALITY}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcasecmp(name, known[i].name))
            return (int)known[i].kind;
    return -1;
}

static char *field(hist_csv *r, int i)
{
    return r->row + r->offs[i];
}

static int set_columns(hist_csv *r, int n)
{
    r->ncols = n;
    r->cols = calloc((size_t)n, sizeof *r->cols);
    r->out = calloc((size_t)n, sizeof *r->out);
    return r->cols && r->out ? 0 : HIST_ENOMEM;
}

/* No header: tag,time,value[,quality]. */
static int set_positional(hist_csv *r)
{
    if (set_columns(r, 4) < 0)
        return HIST_ENOMEM;
    for (int i = 0; i < 4; i++)
        r->cols[i] = (enum col_kind)i;
    return 0;
}

/* Long form with a header: every column known, once; tag, time, value
 * present. */
static void take_long_header(hist_csv *r)
{
    int seen[4] = {0};
    for (int i = 0; i < r->nfields; i++) {
        char *name = trim(field(r, i));
        int k = col_kind_of(name);
        if (k < 0) {
            row_error(r, i + 1,
                      "unknown column \"%.60s\" (known: tag/name, time/ts/ts_ms/timestamp, value, "
                      "quality)",
                      name);
            return;
        }
        if (seen[k]++) {
            row_error(r, i + 1, "a second %s column", col_names[k]);
            return;
        }
        r->cols[i] = (enum col_kind)k;
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k]) {
            row_error(r, 0, "the header has no %s column", col_names[k]);
            return;
        }
}

/* Wide form: time, then one tag per column. */
static void take_wide_header(hist_csv *r)
{
    r->st.wide = true;
    r->wide_tags = calloc((size_t)r->nfields, sizeof *r->wide_tags);
    if (!r->wide_tags) {
        r->stop_rc = HIST_ENOMEM;
        return;
    }
    r->cols[0] = COL_TIME;
    for (int i = 1; i < r->nfields; i++) {
        r->cols[i] = COL_WIDE_TAG;
        const char *tag = field(r, i);
        size_t n = strlen(tag);
        if (n == 0 || n > TAG_MAX) {
            row_error(r, i + 1, "a tag name is 1..%d bytes", TAG_MAX);
            return;
        }
        if (!(r->wide_tags[i] = strdup(tag))) {
            r->stop_rc = HIST_ENOMEM;
            return;
        }
    }
}

/* The first row: a header when its first column is a time column or two of
 * its columns are known names; else the first data row of
 * tag,time,value[,quality]. Wide form: a time column first, no tag, value
 * or quality column ("time,value" is a long header without its tag, not
 * a tag named value). true when it was a header. */
static bool take_first_row(hist_csv *r)
{
    int known = 0, tag_col = -1, value_col = -1;
    char tmp[32];
    for (int i = 0; i < r->nfields; i++) {
        snprintf(tmp, sizeof tmp, "%s", field(r, i));
        int k = col_kind_of(trim(tmp));
        known += k >= 0;
        if (k == COL_TAG)
            tag_col = i;
        if (k == COL_VALUE || k == COL_QUALITY)
            value_col = i;
    }
    snprintf(tmp, sizeof tmp, "%s", field(r, 0));
    bool time_first = col_kind_of(trim(tmp)) == COL_TIME;
    if (!time_first && known < 2) {
        if (set_positional(r) < 0)
            r->stop_rc = HIST_ENOMEM;
        return false;
    }
    r->st.header = true;
    if (set_columns(r, r->nfields) < 0) {
        r->stop_rc = HIST_ENOMEM;
        return true;
    }
    r->ncols = 0; /* no column names in the header's own errors */
    if (time_first && tag_col < 0 && value_col < 0 && r->nfields >= 2)
        take_wide_header(r);
    else
        take_long_header(r);
    r->ncols = r->nfields;
    if (r->row_bad)
        r->dead = true; /* nothing after a bad header can be read */
    return true;
}

/* ---- rows -------------------------------------------------------------------- */

static void deliver(hist_csv *r, int n)
{
    for (int i = 0; i < n && !r->stop_rc; i++) {
        r->out[i].line = r->row_line;
        int rc = r->fn(r->ctx, &r->out[i]);
        if (rc < 0)
            r->stop_rc = rc;
        else
            r->st.samples++;
    }
}

/* One long-form row: its fields by column kind. */
static void take_long_row(hist_csv *r)
{
    int ncols = r->ncols;
    bool positional = !r->st.header;
    if (positional ? (r->nfields < 3 || r->nfields > 4) : r->nfields > ncols) {
        row_error(r, 0,
                  positional ? "expected tag,time,value[,quality] (%d fields)"
                             : "more fields than the header's columns (%d)",
                  r->nfields);
        return;
    }
    hist_csv_sample *s = &r->out[0];
    memset(s, 0, sizeof *s);
    const char *why;
    for (int i = 0; i < r->nfields; i++) {
        char *f = field(r, i);
        switch (r->cols[i]) {
        case COL_TAG:
            if (!*f || strlen(f) > TAG_MAX) {
                row_error(r, i + 1, "a tag name is 1..%d bytes", TAG_MAX);
                return;
            }
            s->tag = f;
            break;
        case COL_TIME:
            if (parse_time(r, trim(f), &s->ts, &why) < 0) {
                row_error(r, i + 1, "%s", why);
                return;
            }
            break;
        case COL_VALUE:
            if (parse_value(r, trim(f), &s->type, &s->v, &why) < 0) {
                row_error(r, i + 1, "%s", why);
                return;
            }
            break;
        case COL_QUALITY:
            if (parse_quality(trim(f), &s->q) < 0) {
                row_error(r, i + 1, "bad quality (an OPC UA StatusCode, decimal or 0x hex)");
                return;
            }
            break;
        case COL_WIDE_TAG:
            break;
        }
    }
    if (r->nfields < ncols && !positional)
        for (int i = r->nfields; i < ncols; i++)
            if (r->cols[i] != COL_QUALITY) {
                row_error(r, i + 1, "no %s", col_names[r->cols[i]]);
                return;
            }
    deliver(r, 1);
}

/* One wide row: the time, then a sample per non-empty cell. */
static void take_wide_row(hist_csv *r)
{
    if (r->nfields > r->ncols) {
        row_error(r, 0, "more fields than the header's columns (%d)", r->nfields);
        return;
    }
    int64_t ts;
    const char *why;
    if (parse_time(r, trim(field(r, 0)), &ts, &why) < 0) {
        row_error(r, 1, "%s", why);
        return;
    }
    int n = 0;
    for (int i = 1; i < r->nfields; i++) {
        char *f = trim(field(r, i));
        if (!*f)
            continue;
        hist_csv_sample *s = &r->out[n];
        memset(s, 0, sizeof *s);
        s->tag = r->wide_tags[i];
        s->ts = ts;
        if (parse_value(r, f, &s->type, &s->v, &why) < 0) {
            row_error(r, i + 1, "%s", why);
            return;
        }
        n++;
    }
    deliver(r, n);
}

static bool row_is_blank(hist_csv *r)
{
    if (r->nfields == 0)
        return true;
    if (r->nfields > 1 || r->row_bad)
        return false;
    const char *f = field(r, 0);
    return f[strspn(f, " \t")] == '\0';
}

static void end_row(hist_csv *r)
{
    if (!row_is_blank(r) && !r->stop_rc) {
        bool header = false;
        if (!r->first_done) {
            r->first_done = true;
            if (!r->row_bad)
                header = take_first_row(r);
            else if (set_positional(r) < 0)
                r->stop_rc = HIST_ENOMEM;
            if (header && r->row_bad)
                r->st.rows++; /* a bad header is a bad row */
        }
        if (!header) {
            r->st.rows++;
            if (r->dead && !r->row_bad)
                r->st.bad++;
            else if (!r->row_bad)
                r->st.wide ? take_wide_row(r) : take_long_row(r);
        }
    }
    r->nfields = 0;
    r->row_len = 0;
    r->row_bad = false;
    r->row_started = false;
}

/* ---- libcsv's callbacks --------------------------------------------------- */

/* The newlines in a field's bytes (CRLF, CR or LF each one). */
static void count_newlines(hist_csv *r, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && !r->field_cr)
            r->line++;
        else if (s[i] == '\r')
            r->line++;
        r->field_cr = s[i] == '\r';
    }
}

static void start_field(hist_csv *r)
{
    if (!r->row_started) {
        r->row_started = true;
        r->row_line = r->line;
    }
    r->last_cr = false;
}

static void on_field(void *data, size_t len, void *ctx)
{
    hist_csv *r = ctx;
    start_field(r);
    count_newlines(r, data, len);
    r->field_cr = false;
    int col = ++r->nfields;
    if (r->field_cut) {
        r->field_cut = false;
        return;
    }
    if (r->row_bad || r->dead)
        return; /* after a bad header every row is bad, counted in end_row */
    if (len > HIST_CSV_FIELD_MAX) {
        row_error(r, col, "a field over %d bytes", HIST_CSV_FIELD_MAX);
        return;
    }
    /* after the length: a field over the limit says so however it arrives */
    if (memchr(data, 0, len)) {
        row_error(r, col, "a NUL byte");
        return;
    }
    if (col > HIST_CSV_COLS_MAX) {
        row_error(r, 0, "more than %d fields", HIST_CSV_COLS_MAX);
        return;
    }
    if (r->row_len + len + 1 > HIST_CSV_ROW_MAX) {
        row_error(r, 0, "a row over %d bytes", HIST_CSV_ROW_MAX);
        return;
    }
    if (r->row_len + len + 1 > r->row_cap) {
        size_t cap = r->row_cap * 2;
        while (cap < r->row_len + len + 1)
            cap *= 2;
        cap = cap > HIST_CSV_ROW_MAX ? HIST_CSV_ROW_MAX : cap;
        char *grown = realloc(r->row, cap);
        if (!grown) {
            r->stop_rc = HIST_ENOMEM;
            return;
        }
        r->row = grown;
        r->row_cap = cap;
    }
    memcpy(r->row + r->row_len, data, len);
    r->offs[col - 1] = r->row_len;
    r->row_len += len;
    r->row[r->row_len++] = 0;
}

static void on_row(int c, void *ctx)
{
    hist_csv *r = ctx;
    bool crlf_tail = c == '\n' && r->last_cr && r->nfields == 0;
    if (!crlf_tail)
        end_row(r);
    if (c == '\n' || c == '\r') {
        if (!crlf_tail)
            r->line++;
        r->last_cr = c == '\r';
    }
}

/* A field longer than the limit, still open in libcsv: its bytes so far
 * are counted and dropped, and the row is bad. */
static void cut_long_field(hist_csv *r)
{
    struct csv_parser *p = &r->p;
    if (p->entry_pos <= HIST_CSV_FIELD_MAX)
        return;
    start_field(r);
    count_newlines(r, p->entry_buf, p->entry_pos);
    p->entry_pos = 0;
    p->spaces = 0;
    if (!r->field_cut) {
        r->field_cut = true;
        if (!r->dead) /* as on_field: a dead row is only counted */
            row_error(r, r->nfields + 1, "a field over %d bytes", HIST_CSV_FIELD_MAX);
    }
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* ---- the door -------------------------------------------------------------- */

int hist_csv_new(const hist_csv_opts *opts, hist_csv_sample_fn fn, void *ctx, hist_csv **out)
{
    *out = NULL;
    hist_csv_opts o = opts ? *opts : (hist_csv_opts){0};
    if (!o.delimiter)
        o.delimiter = ',';
    if (o.delimiter == '"' || o.delimiter == '\r' || o.delimiter == '\n' ||
        (o.decimal_comma && o.delimiter == '.'))
        return HIST_EINVAL;
    hist_csv *r = calloc(1, sizeof *r);
    if (!r)
        return HIST_ENOMEM;
    r->opts = o;
    r->fn = fn;
    r->ctx = ctx;
    r->line = 1;
    if (o.tz && *o.tz && strcmp(o.tz, "UTC") && hist_tz_load(o.tz, &r->tz) < 0) {
        free(r);
        return HIST_EINVAL;
    }
    r->row_cap = 4096;
    r->row = malloc(r->row_cap);
    r->offs = malloc(HIST_CSV_COLS_MAX * sizeof *r->offs);
    if (!r->row || !r->offs || csv_init(&r->p, CSV_REPALL_NL) != 0) {
        free(r->row);
        free(r->offs);
        hist_tz_free(r->tz);
        free(r);
        return HIST_ENOMEM;
    }
    csv_set_delim(&r->p, (unsigned char)o.delimiter);
    csv_set_space_func(&r->p, no_space);
    *out = r;
    return 0;
}

static int feed_csv(hist_csv *r, const unsigned char *s, size_t len)
{
    while (len > 0 && !r->stop_rc) {
        size_t n = len < FEED_STEP ? len : FEED_STEP;
        if (csv_parse(&r->p, s, n, on_field, on_row, r) != n)
            return HIST_ENOMEM;
        cut_long_field(r);
        s += n;
        len -= n;
    }
    return r->stop_rc;
}

int hist_csv_feed(hist_csv *r, const void *buf, size_t len)
{
    static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
    const unsigned char *s = buf;
    while (!r->bom_done && len > 0) {
        if (*s == bom[r->bom]) {
            s++;
            len--;
            if (++r->bom == 3)
                r->bom_done = true;
            continue;
        }
        r->bom_done = true; /* not a BOM: the bytes matched so far are data */
        int rc = feed_csv(r, bom, (size_t)r->bom);
        if (rc < 0)
            return rc;
    }
    return feed_csv(r, s, len);
}

int hist_csv_finish(hist_csv *r)
{
    if (!r->bom_done && r->bom > 0) {
        static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
        r->bom_done = true;
        int rc = feed_csv(r, bom, (size_t)r->bom);
        if (rc < 0)
            return rc;
    }
    if (r->stop_rc)
        return r->stop_rc;
    /* libcsv's state 2 (FIELD_BEGUN) in a quoted field: the input ended
     * inside quotes (libcsv itself only says so in its strict mode, which
     * would stop at the first stray quote) */
    if (r->p.quoted && r->p.pstate == 2) {
        start_field(r);
        count_newlines(r, r->p.entry_buf, r->p.entry_pos);
        row_error(r, r->nfields + 1, "a quoted field is not closed");
        r->st.rows++;
        r->nfields = 0;
        r->row_len = 0;
        r->row_bad = r->row_started = false;
        r->p.entry_pos = 0;
        csv_free(&r->p);
        csv_init(&r->p, CSV_REPALL_NL);
    } else {
        csv_fini(&r->p, on_field, on_row, r);
    }
    r->st.lines = r->line - 1;
    return r->stop_rc;
}

const hist_csv_stats *hist_csv_get_stats(const hist_csv *r)
{
    return &r->st;
}

void hist_csv_free(hist_csv *r)
{
    if (!r)
        return;
    csv_free(&r->p);
    hist_tz_free(r->tz);
    if (r->wide_tags)
        for (int i = 0; i < r->ncols; i++)
            free(r->wide_tags[i]);
    free(r->wide_tags);
    free(r->cols);
    free(r->out);
    free(r->row);
    free(r->offs);
    free(r);
}
