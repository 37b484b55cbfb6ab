/*
 * test_parse.c: query/parse.c (names, durations, times) and the JSON
 * writer (query/api/json_out.c): every accepted format, and the strictness
 * (trailing garbage, out-of-range numbers) the API relies on for its 400s.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "check.h"
#include "query/hist_query.h"
#include "query/api/json_out.h"

#define NS INT64_C(1000000000)
static const int64_t NOW = INT64_C(1767225600) * NS; /* 2026-01-01T00:00:00Z */

static void check_time(const char *text, int64_t want)
{
    int64_t got = 0;
    int rc = hist_time_parse(text, NOW, &got);
    CHECKF(rc == 0 && got == want, "'%s': rc %d got %lld want %lld", text, rc, (long long)got,
           (long long)want);
}

static void check_time_bad(const char *text, int want_rc)
{
    int64_t got = 0;
    int rc = hist_time_parse(text, NOW, &got);
    CHECKF(rc == want_rc, "'%s': rc %d, want %d", text ? text : "(null)", rc, want_rc);
}

static void test_times(void)
{
    check_time("now", NOW);
    check_time("2026-01-01T00:00:00Z", NOW);
    check_time("2026-01-01t00:00:00z", NOW);
    check_time("2026-01-01 00:00:00Z", NOW);
    check_time("2026-01-01", NOW);
    check_time("2026-01-01T01:00:00+01:00", NOW);
    check_time("2025-12-31T19:00:00-05:00", NOW);
    check_time("2026-01-01T00:00:00.5Z", NOW + NS / 2);
    check_time("2026-01-01T00:00:00.123Z", NOW + 123000000);
    check_time("2026-01-01T00:00:00.123456789Z", NOW + 123456789);
    check_time("2026-01-01T00:00:00.1234567891Z", NOW + 123456789); /* beyond ns: dropped */
    check_time("1970-01-01T00:00:00Z", 0);
    check_time("1969-12-31T23:59:59.999Z", -1000000);
    check_time("2024-02-29T12:00:00Z", INT64_C(1709208000) * NS);
    check_time("1767225600000", NOW); /* epoch ms */
    check_time("0", 0);
    check_time("-24h", NOW - 24 * 3600 * NS);
    check_time("now-7d", NOW - 7 * 86400 * NS);
    check_time("now+1h", NOW + 3600 * NS);
    check_time("+30m", NOW + 1800 * NS);
    check_time("-1.5h", NOW - 5400 * NS);
    check_time("now-250ms", NOW - 250000000);

    check_time_bad(NULL, HIST_EINVAL);
    check_time_bad("", HIST_EINVAL);
    check_time_bad("yesterday", HIST_EINVAL);
    check_time_bad("nowx", HIST_EINVAL);
    check_time_bad("now-", HIST_EINVAL);
    check_time_bad("now-7", HIST_EINVAL);
    check_time_bad("now-7dd", HIST_EINVAL);
    check_time_bad("-24hours", HIST_EINVAL);
    check_time_bad("2026-01-01T00:00:00", HIST_EINVAL); /* no offset */
    check_time_bad("2026-01-01T00:00:00Zjunk", HIST_EINVAL);
    check_time_bad("2026-13-01T00:00:00Z", HIST_EINVAL);
    check_time_bad("2026-02-29T00:00:00Z", HIST_EINVAL); /* not a leap year */
    check_time_bad("2026-01-32T00:00:00Z", HIST_EINVAL);
    check_time_bad("2026-01-01T24:00:00Z", HIST_EINVAL);
    check_time_bad("2026-01-01T00:60:00Z", HIST_EINVAL);
    check_time_bad("2026-01-01T00:00:00.Z", HIST_EINVAL);
    check_time_bad("2026-01-01T00:00:00+0100", HIST_EINVAL);
    check_time_bad("2026-1-01T00:00:00Z", HIST_EINVAL);
    check_time_bad("1767225600000x", HIST_EINVAL);
    check_time_bad("17672256000001234", HIST_ERANGE); /* epoch ms beyond +-200 years */
    check_time_bad("9999999999999", HIST_ERANGE);
    check_time_bad("9999-01-01T00:00:00Z", HIST_ERANGE);
    check_time_bad("now-99999999999d", HIST_ERANGE);
    check_time_bad(" now", HIST_EINVAL);
}

static void check_dur(const char *text, int64_t want)
{
    int64_t got = 0;
    int rc = hist_duration_parse(text, &got);
    CHECKF(rc == 0 && got == want, "'%s': rc %d got %lld want %lld", text, rc, (long long)got,
           (long long)want);
}

static void check_dur_bad(const char *text, int want_rc)
{
    int64_t got = 0;
    int rc = hist_duration_parse(text, &got);
    CHECKF(rc == want_rc, "'%s': rc %d want %d", text ? text : "(null)", rc, want_rc);
}

static void test_durations(void)
{
    check_dur("1ns", 1);
    check_dur("5us", 5000);
    check_dur("250ms", 250000000);
    check_dur("1s", NS);
    check_dur("90s", 90 * NS);
    check_dur("15m", 900 * NS);
    check_dur("8h", 8 * 3600 * NS);
    check_dur("30d", 30 * 86400 * NS);
    check_dur("2w", 14 * 86400 * NS);
    check_dur("1y", 365 * 86400 * NS); /* a year of retention is 365 days */
    check_dur("292y", INT64_C(292) * 365 * 86400 * NS);
    check_dur("1.5s", 1500000000);
    check_dur("0.001ms", 1000);
    check_dur("0s", 0);
    check_dur_bad(NULL, HIST_EINVAL);
    check_dur_bad("", HIST_EINVAL);
    check_dur_bad("s", HIST_EINVAL);
    check_dur_bad("10", HIST_EINVAL);
    check_dur_bad("10x", HIST_EINVAL);
    check_dur_bad("10sx", HIST_EINVAL);
    check_dur_bad("10min", HIST_EINVAL);
    check_dur_bad("-5s", HIST_EINVAL);
    check_dur_bad(" 5s", HIST_EINVAL);
    check_dur_bad("1.s", HIST_EINVAL);
    check_dur_bad("100000000000d", HIST_ERANGE);
    check_dur_bad("293y", HIST_ERANGE);
    check_dur_bad("99999999999999999999999s", HIST_ERANGE);
}

static void test_names(void)
{
    for (int a = 0; a < HIST_AGG__COUNT; a++) {
        hist_agg back;
        CHECK(hist_agg_parse(hist_agg_name((hist_agg)a), &back) == 0 && back == (hist_agg)a);
    }
    hist_agg ag;
    CHECK(hist_agg_parse("avg", &ag) == 0 && ag == HIST_AGG_MEAN);
    CHECK(hist_agg_parse("TWA", &ag) == 0 && ag == HIST_AGG_TWA);
    CHECK(hist_agg_parse("median", &ag) == HIST_EINVAL);
    CHECK(hist_agg_parse("", &ag) == HIST_EINVAL);
    CHECK(strcmp(hist_agg_name(HIST_AGG_DURATION_TRUE), "duration_true") == 0);
    for (int m = 0; m <= HIST_MODE_PLOT; m++) {
        hist_mode back;
        CHECK(hist_mode_parse(hist_mode_name((hist_mode)m), &back) == 0 && back == (hist_mode)m);
    }
    hist_mode mo;
    CHECK(hist_mode_parse("agg", &mo) == 0 && mo == HIST_MODE_AGG);
    CHECK(hist_mode_parse("m4", &mo) == 0 && mo == HIST_MODE_PLOT);
    CHECK(hist_mode_parse("rawx", &mo) == HIST_EINVAL);
    hist_fill f;
    CHECK(hist_fill_parse("previous", &f) == 0 && f == HIST_FILL_PREVIOUS);
    CHECK(hist_fill_parse("linear", &f) == 0 && f == HIST_FILL_LINEAR);
    CHECK(hist_fill_parse("none", &f) == 0 && f == HIST_FILL_NONE);
    CHECK(hist_fill_parse("null", &f) == 0 && f == HIST_FILL_NULL);
    CHECK(hist_fill_parse("zero", &f) == HIST_EINVAL);
}

/* Every double written must read back bit-exactly through jansson. */
static void test_json_doubles(void)
{
    const double vals[] = {
        0.0,           -0.0, 0.1,  1.0 / 3.0, 1e-300, 4.9e-324, 1.7976931348623157e308,
        123456789.123, -2.5, 1e21, 22.5};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        hist_buf b;
        hist_buf_init(&b);
        json__buf_double(&b, vals[i]);
        json_error_t err;
        json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
        CHECKF(v && json_is_number(v) && json_number_value(v) == vals[i], "%s", b.data);
        json_decref(v);
        hist_buf_free(&b);
    }
    hist_buf b;
    hist_buf_init(&b);
    json__buf_double(&b, 0.1);
    CHECK(strcmp(b.data, "0.1") == 0); /* shortest form, not 0.10000000000000001 */
    hist_buf_free(&b);
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        hist_buf_init(&b);
        json__buf_double(&b, bad[i]);
        CHECK(strcmp(b.data, "null") == 0);
        hist_buf_free(&b);
    }
}

/* The printf-free paths write exactly what the printf search writes:
 * decimals of 0..12 places at every magnitude, sign, random bit patterns,
 * and integers at the int64 edges. */
static void test_json_number_fast_paths(void)
{
    uint64_t x = 88172645463325252u; /* xorshift64 */
    int mismatches = 0;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        if (i % 4 == 3) {
            memcpy(&d, &x, sizeof d); /* any bit pattern */
        } else {
            int places = (int)(x % 13), mag = (int)((x >> 8) % 17) - 5;
            double m = (double)((x >> 16) % 100000000);
            d = m / pow(10, places) * pow(10, mag > 0 ? 0 : mag);
            if (x & (1u << 30))
                d = -d;
        }
        hist_buf fast, slow;
        hist_buf_init(&fast);
        hist_buf_init(&slow);
        json__buf_double(&fast, d);
        if (isfinite(d) && !(d == floor(d) && fabs(d) < 1e15))
            json__buf_double_slow(&slow, d);
        else
            hist_buf_puts(&slow, fast.data); /* integral and non-finite: checked elsewhere */
        if (strcmp(fast.data, slow.data) != 0 && mismatches++ < 5)
            fprintf(stderr, "double %.17g: fast %s, printf %s\n", d, fast.data, slow.data);
        hist_buf_free(&fast);
        hist_buf_free(&slow);
    }
    CHECK_EQ_I64(mismatches, 0);
    const int64_t ints[] = {0, 7, -7, 1000, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        hist_buf b;
        hist_buf_init(&b);
        json__buf_i64(&b, ints[i]);
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)ints[i]);
        CHECKF(strcmp(b.data, want) == 0, "int %s: got %s", want, b.data);
        hist_buf_free(&b);
    }
    hist_buf b;
    hist_buf_init(&b);
    json__buf_double(&b, 0.000123);
    CHECK(strcmp(b.data, "0.000123") == 0);
    hist_buf_free(&b);
}

static void test_json_strings(void)
{
    /* Control characters, quotes, backslash, valid UTF-8, invalid bytes,
     * an overlong encoding and a surrogate. */
    const char in[] = "a\"b\\c\n\t\x01\x7f é € 😀 \xff \xc0\xaf \xed\xa0\x80 end";
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    json__key(&j, "s");
    json__stringn(&j, in, sizeof in - 1);
    json__key(&j, "arr");
    json__begin_array(&j);
    json__int(&j, INT64_MIN);
    json__uint(&j, UINT64_C(1) << 62);
    json__double(&j, NAN);
    json__bool(&j, true);
    json__null(&j);
    json__begin_object(&j);
    json__end_object(&j);
    json__end_array(&j);
    json__end_object(&j);
    REQUIRE(!j.buf.failed);
    json_error_t err;
    json_t *root = json_loads(j.buf.data, 0, &err);
    CHECKF(root != NULL, "invalid JSON: %s: %s", err.text, j.buf.data);
    if (root) {
        const char *s = json_string_value(json_object_get(root, "s"));
        CHECK(s &&
              strncmp(s, "a\"b\\c\n\t\x01\x7f é € 😀 ", strlen("a\"b\\c\n\t\x01\x7f é € 😀 ")) == 0);
        CHECK(s && strstr(s, "\xef\xbf\xbd") != NULL); /* U+FFFD replaced the bad bytes */
        CHECK(s && strstr(s, " end") != NULL);
        json_t *arr = json_object_get(root, "arr");
        CHECK(json_array_size(arr) == 6);
        CHECK(json_is_null(json_array_get(arr, 2)));
        CHECK(json_integer_value(json_array_get(arr, 0)) == INT64_MIN);
        json_decref(root);
    }
    json__free(&j);

    hist_buf b;
    hist_buf_init(&b);
    json__buf_csv_field(&b, "plain", ',');
    hist_buf_puts(&b, "|");
    json__buf_csv_field(&b, "a,\"b\"\nc", ',');
    CHECK(strcmp(b.data, "plain|\"a,\"\"b\"\"\nc\"") == 0);
    hist_buf_free(&b);
}

static void test_rfc3339_out(void)
{
    struct {
        int64_t t;
        const char *want;
    } cases[] = {
        {NOW, "2026-01-01T00:00:00Z"},
        {NOW + 123000000, "2026-01-01T00:00:00.123Z"},
        {NOW + 123456000, "2026-01-01T00:00:00.123456Z"},
        {NOW + 1, "2026-01-01T00:00:00.000000001Z"},
        {-1, "1969-12-31T23:59:59.999999999Z"},
        {0, "1970-01-01T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hist_buf b;
        hist_buf_init(&b);
        json__buf_rfc3339(&b, NULL, cases[i].t);
        CHECKF(strcmp(b.data, cases[i].want) == 0, "%s != %s", b.data, cases[i].want);
        int64_t back;
        CHECK(hist_time_parse(b.data, 0, &back) == 0 && back == cases[i].t);
        hist_buf_free(&b);
    }
}

int main(void)
{
    test_times();
    test_durations();
    test_names();
    test_json_doubles();
    test_json_strings();
    test_json_number_fast_paths();
    test_rfc3339_out();
    return check_summary();
}
