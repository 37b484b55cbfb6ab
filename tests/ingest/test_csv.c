/*
 * test_csv.c: the CSV sample reader (ingest/csv/, hist_csv.h): quoting,
 * embedded newlines and their line numbers, the BOM, delimiters and the
 * decimal comma, headers in any order, the wide form, zone-less times
 * across DST changes, int64/bool/float64 values, errors with line and
 * column, and the same answer for every way of cutting the input in two
 * (and byte by byte).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/hist_buf.h"
#include "common/hist_error.h"
#include "ingest/csv/hist_csv.h"

/* Every sample and every kept error as one line of text. */
static int collect(void *ctx, const hist_csv_sample *s)
{
    hist_buf *b = ctx;
    char v[64];
    if (s->type == HIST_TYPE_FLOAT64)
        snprintf(v, sizeof v, "f%.17g", s->v.f);
    else if (s->type == HIST_TYPE_INT64)
        snprintf(v, sizeof v, "i%lld", (long long)s->v.i);
    else
        snprintf(v, sizeof v, "b%lld", (long long)s->v.i);
    hist_buf_printf(b, "[%s] %lld %s q%u L%ld\n", s->tag, (long long)s->ts, v, s->q, s->line);
    return 0;
}

static int collect_nothing(void *ctx, const hist_csv_sample *s)
{
    (void)ctx;
    (void)s;
    return 0;
}

static void render_stats(hist_buf *b, const hist_csv_stats *st)
{
    hist_buf_printf(b, "rows %llu samples %llu bad %llu header %d wide %d\n",
                    (unsigned long long)st->rows, (unsigned long long)st->samples,
                    (unsigned long long)st->bad, st->header, st->wide);
    for (int i = 0; i < st->nerrors; i++) {
        char msg[256];
        hist_csv_format_error(&st->errors[i], msg, sizeof msg);
        hist_buf_printf(b, "E %s\n", msg);
    }
}

/* Reads in (len bytes) cut at the given positions (ascending, ncuts of
 * them; step > 0: in pieces of step bytes) and returns the rendering. */
static char *run_cut(const hist_csv_opts *o, const char *in, size_t len, const size_t *cuts,
                     int ncuts, size_t step)
{
    hist_buf b;
    hist_buf_init(&b);
    hist_csv *r;
    if (hist_csv_new(o, collect, &b, &r) < 0)
        return strdup("NEW FAILED");
    size_t at = 0;
    for (int i = 0; i < ncuts; i++) {
        hist_csv_feed(r, in + at, cuts[i] - at);
        at = cuts[i];
    }
    if (step)
        for (; at < len; at += step)
            hist_csv_feed(r, in + at, len - at < step ? len - at : step);
    else
        hist_csv_feed(r, in + at, len - at);
    hist_csv_finish(r);
    render_stats(&b, hist_csv_get_stats(r));
    hist_csv_free(r);
    hist_buf_puts(&b, "");
    return hist_buf_take(&b, NULL);
}

static char *run(const hist_csv_opts *o, const char *in)
{
    return run_cut(o, in, strlen(in), NULL, 0, 0);
}

/* The whole text, every cut in two, and byte by byte give the same. */
static void check_chunking(const hist_csv_opts *o, const char *in, size_t len)
{
    char *whole = run_cut(o, in, len, NULL, 0, 0);
    int bad = 0;
    for (size_t k = 0; k <= len; k++) {
        char *cut = run_cut(o, in, len, &k, 1, 0);
        if (strcmp(cut, whole) && bad++ < 3)
            fprintf(stderr, "cut at %zu:\n%s--- vs whole:\n%s", k, cut, whole);
        free(cut);
    }
    char *bytes = run_cut(o, in, len, NULL, 0, 1);
    CHECKF(!strcmp(bytes, whole), "byte by byte:\n%s--- vs whole:\n%s", bytes, whole);
    CHECKF(bad == 0, "%d cut positions differ", bad);
    free(bytes);
    free(whole);
}

#define EXPECT(opts, in, want)                                                                     \
    do {                                                                                           \
        char *got_ = run(opts, in);                                                                \
        CHECKF(!strcmp(got_, want), "input:\n%s\n--- got:\n%s--- want:\n%s", in, got_, want);      \
        check_chunking(opts, in, strlen(in));                                                      \
        free(got_);                                                                                \
    } while (0)

static void test_quoting(void)
{
    const hist_csv_opts o = {0};
    EXPECT(&o,
           "tag,time,value,quality\n"
           "\"a,b\",1000,1.5,0\n"
           "\"say \"\"hi\"\"\",2000,2,0\n"
           "\"two\nlines\",3000,3,0\n"
           "\"x\r\ny\",4000,4,0\n"
           "plain,5000,5,0\n",
           "[a,b] 1000000000 f1.5 q0 L2\n"
           "[say \"hi\"] 2000000000 f2 q0 L3\n"
           "[two\nlines] 3000000000 f3 q0 L4\n"
           "[x\r\ny] 4000000000 f4 q0 L6\n"
           "[plain] 5000000000 f5 q0 L8\n"
           "rows 5 samples 5 bad 0 header 1 wide 0\n");
    /* tags are byte-exact: spaces kept; other fields trimmed; CRLF lines */
    EXPECT(&o, " sp ace , 1000 , true , 0x80000000 \r\nb,2000,FALSE,\r\n",
           "[ sp ace ] 1000000000 b1 q2147483648 L1\n"
           "[b] 2000000000 b0 q0 L2\n"
           "rows 2 samples 2 bad 0 header 0 wide 0\n");
}

static void test_headers(void)
{
    const hist_csv_opts o = {0};
    /* the header of the issue: tag,ts_ms,value,quality */
    EXPECT(&o, "tag,ts_ms,value,quality\nx,1,2,0\n",
           "[x] 1000000 f2 q0 L2\nrows 1 samples 1 bad 0 header 1 wide 0\n");
    /* any order, any case, name for tag, no quality */
    EXPECT(&o, "Value; TIMESTAMP ;Name\n",
           "rows 1 samples 0 bad 1 header 0 wide 0\n"
           "E line 1: expected tag,time,value[,quality] (1 fields)\n");
    EXPECT(&o, "VALUE, Timestamp ,Name\n7,1000,t/a\n\nQ\n",
           "[t/a] 1000000000 f7 q0 L2\n"
           "rows 2 samples 1 bad 1 header 1 wide 0\n"
           "E line 4, column 1 (value): bad value (a number, true or false)\n");
    EXPECT(&o, "quality,ts,value,tag\n192,-1000,-0,neg\n",
           "[neg] -1000000000 f-0 q192 L2\nrows 1 samples 1 bad 0 header 1 wide 0\n");
    /* a BOM before the header */
    EXPECT(&o, "\xef\xbb\xbftag,time,value\nb,1,1\n",
           "[b] 1000000 f1 q0 L2\nrows 1 samples 1 bad 0 header 1 wide 0\n");
    /* not a BOM: a tag starting with the BOM's first byte */
    EXPECT(&o, "\xef\xbbX,1,1\n",
           "[\xef\xbbX] 1000000 f1 q0 L1\nrows 1 samples 1 bad 0 header 0 wide 0\n");
    /* bad headers */
    EXPECT(&o, "tag,time,value,unit\nx,1,2,m\n",
           "rows 2 samples 0 bad 2 header 1 wide 0\n"
           "E line 1, column 4: unknown column \"unit\" (known: tag/name, time/ts/ts_ms/timestamp, "
           "value, quality)\n");
    EXPECT(&o, "time,value\n1,2\n",
           "rows 2 samples 0 bad 2 header 1 wide 0\nE line 1: the header has no tag column\n");
    {
        char *got = run_cut(&o, "a\0b,1,1\n", 8, NULL, 0, 0);
        CHECKF(!strcmp(got, "rows 1 samples 0 bad 1 header 0 wide 0\n"
                            "E line 1, column 1: a NUL byte\n"),
               "%s", got);
        free(got);
        check_chunking(&o, "a\0b,1,1\n", 8);
    }
    {
        /* after a bad header, a row with a NUL is counted once (fuzz_csv) */
        const hist_csv_opts semi = {.delimiter = ';'};
        const char in[] = "time;a/x;\"tag\"\r\n\0000m";
        char *got = run_cut(&semi, in, sizeof in - 1, NULL, 0, 0);
        CHECKF(!strcmp(got, "rows 2 samples 0 bad 2 header 1 wide 0\n"
                            "E line 1, column 2: unknown column \"a/x\" (known: tag/name, "
                            "time/ts/ts_ms/timestamp, value, quality)\n"),
               "%s", got);
        free(got);
        check_chunking(&semi, in, sizeof in - 1);
    }
    EXPECT(&o, "tag,time,quality\n",
           "rows 1 samples 0 bad 1 header 1 wide 0\nE line 1: the header has no value column\n");
}

static void test_wide(void)
{
    const hist_csv_opts o = {0};
    EXPECT(&o,
           "time,a/x,\"b,y\",c\n"
           "1000,1,true,\n"
           "2000,,2.5,3i\n"
           "3000,zz,1,1\n",
           "[a/x] 1000000000 f1 q0 L2\n"
           "[b,y] 1000000000 b1 q0 L2\n"
           "[b,y] 2000000000 f2.5 q0 L3\n"
           "[c] 2000000000 i3 q0 L3\n"
           "rows 3 samples 4 bad 1 header 1 wide 1\n"
           "E line 4, column 2 (tag): bad value (a number, true or false)\n");
}

static void test_european(void)
{
    const hist_csv_opts o = {.delimiter = ';', .decimal_comma = true};
    EXPECT(&o, "tag;time;value\nt;1000;1,5\n\"a;b\";2000;-2,25e3\nt;3000;1.5\n",
           "[t] 1000000000 f1.5 q0 L2\n"
           "[a;b] 2000000000 f-2250 q0 L3\n"
           "rows 3 samples 2 bad 1 header 1 wide 0\n"
           "E line 4, column 3 (value): bad value (a number, true or false)\n");
    const hist_csv_opts tab = {.delimiter = '\t'};
    EXPECT(&tab, "a\t1000\t2\n",
           "[a] 1000000000 f2 q0 L1\nrows 1 samples 1 bad 0 header 0 wide 0\n");
}

static void test_values(void)
{
    const hist_csv_opts o = {0}, ints = {.ints_as_int64 = true};
    EXPECT(&o,
           "a,1,9223372036854775807i\nb,1,-9223372036854775808i\nc,1,9223372036854775808i\n"
           "d,1,NaN\ne,1,-Inf\nf,1,4.9406564584124654e-324\ng,1,1.7976931348623157e+308\n",
           "[a] 1000000 i9223372036854775807 q0 L1\n"
           "[b] 1000000 i-9223372036854775808 q0 L2\n"
           "[d] 1000000 fnan q0 L4\n"
           "[e] 1000000 f-inf q0 L5\n"
           "[f] 1000000 f4.9406564584124654e-324 q0 L6\n"
           "[g] 1000000 f1.7976931348623157e+308 q0 L7\n"
           "rows 7 samples 6 bad 1 header 0 wide 0\n"
           "E line 3, column 3 (value): integer out of the int64 range\n");
    EXPECT(&ints, "a,1,42\nb,1,42.0\nc,1,-7\n",
           "[a] 1000000 i42 q0 L1\n[b] 1000000 f42 q0 L2\n[c] 1000000 i-7 q0 L3\n"
           "rows 3 samples 3 bad 0 header 0 wide 0\n");
}

static void test_times(void)
{
    const hist_csv_opts utc = {0}, berlin = {.tz = "Europe/Berlin"};
    EXPECT(&utc,
           "a,2026-03-29T01:30:00Z,1\na,2026-03-29 02:30:00.5,1\na,2026-03-29 03:30:00+02:00,1\n"
           "a,2026-03-29,1\na,now,1\na,-24h,1\n",
           "[a] 1774747800000000000 f1 q0 L1\n"
           "[a] 1774751400500000000 f1 q0 L2\n"
           "[a] 1774747800000000000 f1 q0 L3\n"
           "[a] 1774742400000000000 f1 q0 L4\n"
           "rows 6 samples 4 bad 2 header 0 wide 0\n"
           "E line 5, column 2 (time): bad time (epoch ms, RFC 3339 or YYYY-MM-DD hh:mm:ss)\n"
           "E line 6, column 2 (time): bad time (epoch ms, RFC 3339 or YYYY-MM-DD hh:mm:ss)\n");
    /* Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00
     * CEST goes back to 02:00 CET (02:30 happens twice: the first is
     * taken, 00:30Z). A zoned time ignores the zone option. */
    EXPECT(&berlin,
           "a,2026-03-29 01:30:00,1\n"
           "a,2026-03-29 02:30:00,1\n"
           "a,2026-03-29 03:30:00,1\n"
           "a,2026-10-25 02:30:00,1\n"
           "a,2026-10-25 03:30:00,1\n"
           "a,2026-10-25T03:30:00Z,1\n"
           "a,2026-07-01,1\n",
           "[a] 1774744200000000000 f1 q0 L1\n"
           "[a] 1774747800000000000 f1 q0 L3\n"
           "[a] 1792888200000000000 f1 q0 L4\n"
           "[a] 1792895400000000000 f1 q0 L5\n"
           "[a] 1792899000000000000 f1 q0 L6\n"
           "[a] 1782856800000000000 f1 q0 L7\n"
           "rows 7 samples 6 bad 1 header 0 wide 0\n"
           "E line 2, column 2 (time): this local time does not exist in the zone (the clocks "
           "jumped forward)\n");
    hist_csv *r;
    const hist_csv_opts nozone = {.tz = "No/Such_Zone"};
    CHECK(hist_csv_new(&nozone, collect, NULL, &r) == HIST_EINVAL);
}

static void test_errors(void)
{
    const hist_csv_opts o = {0};
    EXPECT(&o,
           "a,1,1\n"
           "\"multi\nline\",x,1\n"
           "b,1\n"
           ",1,1\n"
           "c,1,1,-1\n"
           "d,1,1,99999999999\n"
           "\"open,1,1\n",
           "[a] 1000000 f1 q0 L1\n"
           "rows 7 samples 1 bad 6 header 0 wide 0\n"
           "E line 2, column 2 (time): bad time (epoch ms, RFC 3339 or YYYY-MM-DD hh:mm:ss)\n"
           "E line 4: expected tag,time,value[,quality] (2 fields)\n"
           "E line 5, column 1 (tag): a tag name is 1..255 bytes\n"
           "E line 6, column 4 (quality): bad quality (an OPC UA StatusCode, decimal or 0x hex)\n"
           "E line 7, column 4 (quality): bad quality (an OPC UA StatusCode, decimal or 0x hex)\n"
           "E line 8, column 1 (tag): a quoted field is not closed\n");
    /* more than ten bad rows: all counted, ten kept */
    hist_buf in;
    hist_buf_init(&in);
    for (int i = 0; i < 25; i++)
        hist_buf_puts(&in, "x,bad,1\n");
    hist_buf_puts(&in, "");
    char *got = run(&o, in.data);
    CHECK(strstr(got, "rows 25 samples 0 bad 25") == got);
    CHECK(strstr(got, "E line 10,") && !strstr(got, "E line 11,"));
    free(got);
    hist_buf_free(&in);
}

/* A field over the limit is a bad row wherever the chunks cut it, and the
 * rows after it still read, with their lines. */
static void test_long_field(void)
{
    const hist_csv_opts o = {0};
    size_t big = HIST_CSV_FIELD_MAX + 5000;
    char *in = malloc(big + 64);
    size_t n = 0;
    in[n++] = '"';
    for (size_t i = 0; i < big; i++)
        in[n++] = i % 1000 == 999 ? '\n' : 'a';
    n += (size_t)sprintf(in + n, "\",1,1\nok,2,2\n");
    char *whole = run_cut(&o, in, n, NULL, 0, 0);
    char want[256];
    snprintf(want, sizeof want,
             "[ok] 2000000 f2 q0 L%zu\nrows 2 samples 1 bad 1 header 0 wide 0\n"
             "E line 1, column 1: a field over %d bytes\n",
             big / 1000 + 2, HIST_CSV_FIELD_MAX);
    CHECKF(!strcmp(whole, want), "got:\n%s--- want:\n%s", whole, want);
    size_t cuts[] = {1, 4096, 70000, 70001};
    for (int i = 0; i < 4; i++) {
        char *c = run_cut(&o, in, n, &cuts[i], 1, 0);
        CHECKF(!strcmp(c, whole), "cut at %zu:\n%s", cuts[i], c);
        free(c);
    }
    char *b = run_cut(&o, in, n, NULL, 0, 7);
    CHECK(!strcmp(b, whole));
    free(b);
    free(whole);
    /* just over the limit, with a NUL: read whole, the field reaches the
     * reader complete; in 7-byte pieces it is cut while it grows. Both say
     * "over the limit" (found by fuzz_csv: the whole read said "NUL"). */
    n = 0;
    in[n++] = '"';
    for (size_t i = 0; i < HIST_CSV_FIELD_MAX + 4; i++)
        in[n++] = i == 100 ? 0 : 'a';
    n += (size_t)sprintf(in + n, "\",1,1\n");
    whole = run_cut(&o, in, n, NULL, 0, 0);
    b = run_cut(&o, in, n, NULL, 0, 7);
    CHECKF(!strcmp(b, whole) && strstr(whole, "a field over"), "%s--- vs\n%s", whole, b);
    free(b);
    free(whole);
    free(in);
}

/* The lines of an input cut once at k. */
static long lines_cut_at(const char *in, size_t n, size_t k)
{
    hist_csv *r;
    if (hist_csv_new(NULL, collect_nothing, NULL, &r) < 0)
        return -1;
    hist_csv_feed(r, in, k);
    hist_csv_feed(r, in + k, n - k);
    hist_csv_finish(r);
    long lines = hist_csv_get_stats(r)->lines;
    hist_csv_free(r);
    return lines;
}

/* A field over the limit that is never closed: its newlines count the
 * same wherever the input is cut (found by fuzz_csv). */
static void test_long_open_field(void)
{
    size_t n = 0, cap = 70000;
    char *in = malloc(cap);
    in[n++] = '"';
    for (; n < 67000; n++)
        in[n] = n % 1000 == 0 ? '\n' : 'a';
    long want = lines_cut_at(in, n, 0), bad = 0;
    CHECK_EQ_I64(want, 66);
    for (size_t k = 0; k <= n; k += 331)
        bad += lines_cut_at(in, n, k) != want;
    CHECK_EQ_I64(bad, 0);
    free(in);
}

int main(void)
{
    test_quoting();
    test_headers();
    test_wide();
    test_european();
    test_values();
    test_times();
    test_errors();
    test_long_field();
    test_long_open_field();
    return check_summary();
}
