/*
 * csv_import.c: POST /api/v1/import, CSV over HTTP (a browser or curl
 * loads a file), made into one batch by the same reader as `historian
 * import` (ingest/csv/hist_csv.h: headers in any order, the wide form,
 * quoted fields, ';' and decimal comma, zone-less times in a zone).
 *
 * The query string sets the reader: delimiter=; (one byte, URL-encoded as
 * %3B), decimal_comma=1, tz=Europe/Berlin, int64=1. A request is written
 * whole or refused whole: one bad row refuses it (400, its line and column
 * named, nothing written). Memory: a sample takes at least two bytes of
 * the body (a value and a delimiter or line end), so the batch is bounded
 * by the body, which is bounded by --max-frame. Pure of I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_text.h"
#include "ingest/csv/hist_csv.h"
#include "ingest/ingest.h"

/* The value of key in a query string, decoded (malloc'd), or NULL. */
static char *param(const char *query, const char *key)
{
    char *v;
    return hist_query_param(query, key, &v) == 1 ? v : NULL;
}

static bool param_true(const char *query, const char *key)
{
    char *v = param(query, key);
    bool yes = v && (!strcmp(v, "1") || !strcmp(v, "true"));
    free(v);
    return yes;
}

static int on_sample(void *ctx, const hist_csv_sample *s)
{
    return batch__add(ctx, s->tag, NULL, s->type, s->ts, s->v, s->q);
}

/* The first kept errors and the count, into err. */
static void describe_errors(const hist_csv_stats *st, char *err, size_t errlen)
{
    size_t k = (size_t)snprintf(err, errlen, "%llu bad row%s, nothing was written",
                                (unsigned long long)st->bad, st->bad == 1 ? "" : "s");
    for (int i = 0; i < st->nerrors && i < 3 && k < errlen; i++) {
        char one[HIST_CSV_MSG_MAX + 64];
        hist_csv_format_error(&st->errors[i], one, sizeof one);
        k += (size_t)snprintf(err + k, errlen - k, "%s%s", i ? "; " : ": ", one);
    }
}

int csvi__decode(const char *query, const uint8_t *body, size_t len, hist_in_batch **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    char *delim = param(query, "delimiter"), *tz = param(query, "tz");
    int rc = 0;
    if (delim && strlen(delim) != 1) {
        snprintf(err, errlen, "delimiter: one character (';' is %%3B)");
        rc = HIST_EINVAL;
    }
    hist_csv_opts o = {.delimiter = delim && rc == 0 ? delim[0] : 0,
                       .decimal_comma = param_true(query, "decimal_comma"),
                       .ints_as_int64 = param_true(query, "int64"),
                       .tz = tz};
    batch_builder b;
    batch__init(&b);
    hist_csv *r = NULL;
    if (rc == 0 && (rc = hist_csv_new(&o, on_sample, &b, &r)) < 0)
        snprintf(err, errlen,
                 rc == HIST_ENOMEM ? "out of memory"
                 : tz              ? "tz: no such time zone, or a delimiter that cannot be one"
                                   : "a delimiter that cannot be one");
    if (rc == 0 && (rc = hist_csv_feed(r, body ? body : (const uint8_t *)"", len)) == 0)
        rc = hist_csv_finish(r);
    if (rc < 0 && r)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && hist_csv_get_stats(r)->bad) {
        describe_errors(hist_csv_get_stats(r), err, errlen);
        rc = HIST_EINVAL;
    }
    if (rc == 0 && (rc = batch__build(&b, 0, false, out)) < 0) /* whole or nothing */
        snprintf(err, errlen, "out of memory");
    hist_csv_free(r);
    batch__free(&b);
    free(delim);
    free(tz);
    return rc;
}
