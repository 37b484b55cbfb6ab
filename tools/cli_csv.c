/*
 * cli_csv.c: CSV rows and their times, read into the gateway client's
 * batch builder, for `historian import` and `historian simulate --csv`
 * (see cli_csv.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/hist_types.h"
#include "tools/cli_csv.h"

/* ---- time ------------------------------------------------------------ */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* All digits (with an optional '-'): epoch milliseconds. */
static bool is_epoch_ms(const char *s)
{
    size_t len = strlen(s);
    bool all_digits = len > 0;
    for (size_t i = (s[0] == '-'); i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            all_digits = false;
    return all_digits;
}

static int parse_epoch_ms(const char *s, int64_t *ns_out)
{
    char *end;
    errno = 0;
    long long ms = strtoll(s, &end, 10);
    if (errno || *end || ms > HIST_TS_MAX / 1000000 || ms < HIST_TS_MIN / 1000000)
        return HIST_ERANGE;
    *ns_out = (int64_t)ms * 1000000;
    return 0;
}

/* [.frac] at *pp, as nanoseconds. */
static int parse_fraction(const char **pp, int64_t *frac_out)
{
    const char *p = *pp;
    int64_t frac = 0;
    if (*p == '.') {
        int64_t scale = 100000000;
        p++;
        if (!isdigit((unsigned char)*p))
            return HIST_EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    *pp = p;
    *frac_out = frac;
    return 0;
}

/* Z, +HH:MM or -HH:MM at *pp, as seconds east of UTC; nothing may follow. */
static int parse_offset(const char *p, int *offset_out)
{
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return HIST_EINVAL;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return HIST_EINVAL;
    }
    if (*p)
        return HIST_EINVAL;
    *offset_out = offset;
    return 0;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). Out-of-range days
 * roll over as timegm() rolls them (2023-02-30 is March 2). */
static int parse_rfc3339(const char *s, int64_t *ns_out)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return HIST_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return HIST_EINVAL;
    const char *p = s + 19;
    int64_t frac;
    int offset;
    if (parse_fraction(&p, &frac) < 0 || parse_offset(p, &offset) < 0)
        return HIST_EINVAL;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - offset;
    *ns_out = t * 1000000000 + frac;
    return 0;
}

int cli_parse_time(const char *s, int64_t *ns_out)
{
    if (!strcmp(s, "now")) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ns_out = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        return 0;
    }
    if (is_epoch_ms(s))
        return parse_epoch_ms(s, ns_out);
    return parse_rfc3339(s, ns_out);
}

/* ---- CSV -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = 0;
    if (e - s >= 2 && s[0] == '"' && e[-1] == '"') {
        e[-1] = 0;
        s++;
    }
    return s;
}

/* Splits line in place at its commas (at most 5 fields), trimmed. */
static int split_fields(char *line, char *f[5])
{
    int n = 0;
    char *p = line;
    while (n < 5) {
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = 0;
        p = comma + 1;
    }
    for (int i = 0; i < n; i++)
        f[i] = trim(f[i]);
    return n;
}

/* true or false makes a bool, anything else must be a number. */
static int parse_value(const char *text, cli_csv_row *row)
{
    if (!strcasecmp(text, "true") || !strcasecmp(text, "false")) {
        row->type = HIST_TYPE_BOOL;
        row->v.i = !strcasecmp(text, "true");
        return 0;
    }
    char *end;
    row->type = HIST_TYPE_FLOAT64;
    row->v.f = strtod(text, &end);
    return end == text || *end ? HIST_EINVAL : 0;
}

/* An OPC UA StatusCode (decimal or 0x...); empty is Good. */
static int parse_quality(const char *text, uint32_t *q_out)
{
    *q_out = 0;
    if (!text[0])
        return 0;
    char *end;
    errno = 0;
    unsigned long q = strtoul(text, &end, 0);
    if (errno || *end || q > 0xffffffffUL)
        return HIST_EINVAL;
    *q_out = (uint32_t)q;
    return 0;
}

/* Says what is wrong with the line: HIST_EINVAL with *err set. */
static int bad_line(const char **err, const char *why)
{
    *err = why;
    return HIST_EINVAL;
}

int cli_csv_parse_line(char *line, cli_csv_row *row, const char **err)
{
    char *f[5];
    int n = split_fields(line, f);
    if (f[0][0] == '#' || (n == 1 && !f[0][0]))
        return 0;
    if (n < 3 || n > 4)
        return bad_line(err, "expected tag,time,value[,quality]");
    if (!strcasecmp(f[0], "tag") && !strcasecmp(f[1], "time"))
        return 0; /* header */
    row->tag = f[0];
    if (cli_parse_time(f[1], &row->ts) < 0)
        return bad_line(err, "bad time (epoch ms or RFC 3339)");
    if (parse_value(f[2], row) < 0)
        return bad_line(err, "bad value (a number, true or false)");
    if (parse_quality(n == 4 ? f[3] : "", &row->q) < 0)
        return bad_line(err, "bad quality (an OPC UA StatusCode)");
    return 1;
}

/* ---- reading a file ---------------------------------------------------- */

int cli_csv_read(FILE *f, const char *path, hist_batch_builder *bb, size_t batch,
                 int (*flush)(void *ctx), void (*progress)(void *ctx), void *ctx, uint64_t *rows,
                 uint64_t *bad)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    *rows = *bad = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        cli_csv_row row;
        const char *err = NULL;
        int r = cli_csv_parse_line(line, &row, &err);
        if (r < 0 && (*bad)++ < 10)
            fprintf(stderr, "%s:%ld: %s\n", path, lineno, err);
        if (r <= 0)
            continue;
        (*rows)++;
        if (hist_bb_add(bb, row.tag, row.type, row.ts, row.v, row.q) == HIST_ETYPE) {
            rc = flush(ctx);
            if (rc == 0)
                rc = hist_bb_add(bb, row.tag, row.type, row.ts, row.v, row.q);
        }
        if (rc == 0 && hist_bb_samples(bb) >= batch)
            rc = flush(ctx);
        if (progress)
            progress(ctx);
    }
    free(line);
    return rc;
}
