/*
 * fuzz_csv.c: libFuzzer target for the CSV sample reader (ingest/csv/,
 * hist_csv.h).
 *
 * An input is a selector byte (bits 0-1: the option set of the table
 * below; bits 2-7 seed the cut points), then the CSV bytes.
 *
 * Invariants: the input read whole, cut at two points, and fed in pieces
 * of 1 to 8 bytes gives the same samples (a hash of every field) and the
 * same stats and kept errors; every sample has a 1..255-byte tag, a time
 * within HIST_TS_MIN..HIST_TS_MAX, a known type and a bool of 0 or 1; bad
 * rows never outnumber rows, kept errors never outnumber bad rows (nor 10),
 * and every kept error has a line within the lines read. Memory is bounded
 * by -malloc_limit_mb (the reader's own bound is a 1 MiB row).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/csv/hist_csv.h"

static const hist_csv_opts options[] = {
    {0},
    {.delimiter = ';', .decimal_comma = true},
    {.ints_as_int64 = true, .tz = "Europe/Berlin"},
    {.delimiter = '\t', .tz = "America/New_York"},
};

typedef struct {
    uint64_t hash, n;
} digest;

static void mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->hash = (d->hash ^ b[i]) * 0x100000001b3ULL;
}

static int take(void *ctx, const hist_csv_sample *s)
{
    digest *d = ctx;
    size_t tl = strlen(s->tag);
    if (tl == 0 || tl > 255 || s->ts < HIST_TS_MIN || s->ts > HIST_TS_MAX)
        abort();
    if (s->type != HIST_TYPE_FLOAT64 && s->type != HIST_TYPE_INT64 && s->type != HIST_TYPE_BOOL)
        abort();
    if (s->type == HIST_TYPE_BOOL && s->v.i != 0 && s->v.i != 1)
        abort();
    mix(d, s->tag, tl + 1);
    mix(d, &s->ts, sizeof s->ts);
    mix(d, &s->type, sizeof s->type);
    mix(d, &s->v, sizeof s->v);
    mix(d, &s->q, sizeof s->q);
    mix(d, &s->line, sizeof s->line);
    d->n++;
    return 0;
}

typedef struct {
    digest d;
    hist_csv_stats st;
} result;

/* Reads data with the pieces given by cut() and fills res. */
static void read_with(const hist_csv_opts *o, const uint8_t *data, size_t size, const size_t *cuts,
                      int ncuts, size_t step, result *res)
{
    memset(res, 0, sizeof *res);
    res->d.hash = 0xcbf29ce484222325ULL;
    hist_csv *r;
    if (hist_csv_new(o, take, &res->d, &r) != 0)
        abort();
    size_t at = 0;
    for (int i = 0; i < ncuts; i++) {
        if (hist_csv_feed(r, data + at, cuts[i] - at) != 0)
            abort();
        at = cuts[i];
    }
    while (at < size) {
        size_t n = step && size - at > step ? step : size - at;
        if (hist_csv_feed(r, data + at, n) != 0)
            abort();
        at += n;
    }
    if (hist_csv_finish(r) != 0)
        abort();
    res->st = *hist_csv_get_stats(r);
    hist_csv_free(r);
    const hist_csv_stats *st = &res->st;
    if (st->bad > st->rows || (uint64_t)st->nerrors > st->bad ||
        st->nerrors > HIST_CSV_ERRORS_KEPT || st->samples != res->d.n)
        abort();
    for (int i = 0; i < st->nerrors; i++)
        if (st->errors[i].line < 1 || st->errors[i].line > st->lines + 1)
            abort();
}

static void same(const result *a, const result *b)
{
    if (a->d.hash != b->d.hash || a->d.n != b->d.n || a->st.rows != b->st.rows ||
        a->st.bad != b->st.bad || a->st.lines != b->st.lines || a->st.header != b->st.header ||
        a->st.wide != b->st.wide || a->st.nerrors != b->st.nerrors)
        abort();
    for (int i = 0; i < a->st.nerrors; i++) {
        const hist_csv_error *x = &a->st.errors[i], *y = &b->st.errors[i];
        if (x->line != y->line || x->column != y->column || strcmp(x->msg, y->msg))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const hist_csv_opts *o = &options[data[0] & 3];
    unsigned seed = data[0] >> 2;
    data++;
    size--;
    result whole, cut, bytes;
    read_with(o, data, size, NULL, 0, 0, &whole);
    size_t cuts[2] = {size ? (seed * 7919u) % (size + 1) : 0, 0};
    cuts[1] = cuts[0] + (size - cuts[0]) / 2;
    read_with(o, data, size, cuts, 2, 0, &cut);
    same(&whole, &cut);
    read_with(o, data, size, NULL, 0, 1 + seed % 8, &bytes);
    same(&whole, &bytes);
    return 0;
}
