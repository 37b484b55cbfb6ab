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

#include "common/hist_time.h"
#include "common/hist_types.h"
#include "tools/cli_csv.h"

/* ---- time ------------------------------------------------------------ */

/* Every time goes through common/'s one parser (the API's): RFC 3339 with a
 * day that exists, epoch milliseconds, "now" and "-24h" style relative
 * times. A CSV row may also hold negative epoch milliseconds ("-1000", a
 * time before 1970), which that parser would read as a relative time
 * without a unit. */
int cli_parse_time(const char *s, int64_t *ns_out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (s[0] == '-' && s[1] && s[strspn(s + 1, "0123456789") + 1] == '\0') {
        int64_t t;
        int rc = hist_time_parse(s + 1, now_ns, &t);
        if (rc == 0)
            *ns_out = -t;
        return rc;
    }
    return hist_time_parse(s, now_ns, ns_out);
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
