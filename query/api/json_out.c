/*
 * json_out.c: the JSON/CSV writer behind json_out.h. See the header for the
 * guarantees (valid JSON for every value, shortest round-trip doubles,
 * escaped strings, U+FFFD for invalid UTF-8).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_text.h"
#include "common/hist_time.h"
#include "common/hist_tz.h"
#include "query/api/json_out.h"

/* "00".."99": two digits per division halves the divisions of a number. */
static const char two_digits[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                    "31323334353637383940414243444546474849505152535455565758596061"
                                    "62636465666768697071727374757677787980818283848586878889909192"
                                    "93949596979899";

/* Writes v in decimal backwards from end; returns the first digit. */
static char *digits_backwards(uint64_t v, char *end)
{
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = two_digits[d + 1];
        *--end = two_digits[d];
    }
    if (v >= 10) {
        *--end = two_digits[v * 2 + 1];
        *--end = two_digits[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

size_t json__fmt_i64(char *out, int64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = digits_backwards(mag, end);
    if (v < 0)
        *--p = '-';
    memcpy(out, p, (size_t)(end - p));
    return (size_t)(end - p);
}

void json__buf_i64(hist_buf *b, int64_t v)
{
    char tmp[HIST_FMT_MAX];
    hist_buf_append(b, tmp, json__fmt_i64(tmp, v));
}

static const double pow10_exact[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/*
 * The fast path for the values a plant sends (a few decimals: 73.42): the
 * smallest k <= 9 with m / 10^k == d for an integer m of at most 15 digits.
 * Both m and 10^k are exact doubles and IEEE division rounds correctly, so
 * that test says the decimal m * 10^-k reads back as d; and no other
 * decimal of at most 15 significant digits can (two of them are at least
 * 1e-15 apart relative to d, a few hundred ulps). So it is the very string
 * the %.15g search below finds, written without printf. Only for
 * 1e-4 <= |d| < 1e15, where %g writes no exponent. Returns the length in
 * out (>= 24 bytes), or 0 to take the slow path.
 */
static size_t format_decimal(double d, char *out)
{
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    for (int k = 1; k <= 9; k++) {
        double m = nearbyint(a * pow10_exact[k]);
        if (m >= 1e15)
            return 0;
        if (m / pow10_exact[k] != a)
            continue;
        char tmp[24], *end = tmp + sizeof tmp;
        char *p = digits_backwards((uint64_t)m, end);
        while (end - p <= k) /* 0.000123: zeros up to the point and one before */
            *--p = '0';
        size_t n = 0;
        if (d < 0)
            out[n++] = '-';
        size_t intlen = (size_t)(end - p) - (size_t)k;
        memcpy(out + n, p, intlen);
        n += intlen;
        out[n++] = '.';
        memcpy(out + n, p + intlen, (size_t)k);
        return n + (size_t)k;
    }
    return 0;
}

/* The shortest form that reads back as d, by printf (below). */
static size_t fmt_double_slow(char *out, double d);

size_t json__fmt_double(char *out, double d)
{
    if (!isfinite(d)) {
        memcpy(out, "null", 4);
        return 4;
    }
    if (d == floor(d) && fabs(d) < 1e15) {
        /* Integral values print as integers ("20", not "2e+01"). */
        if (d == 0 && signbit(d)) {
            memcpy(out, "-0", 2);
            return 2;
        }
        return json__fmt_i64(out, (int64_t)d);
    }
    size_t n = format_decimal(d, out);
    return n > 0 ? n : fmt_double_slow(out, d);
}

void json__buf_double(hist_buf *b, double d)
{
    char tmp[HIST_FMT_MAX];
    hist_buf_append(b, tmp, json__fmt_double(tmp, d));
}

/* The shortest form that reads back as d, so 0.1 prints as 0.1 and not
 * 0.10000000000000001. When that form has p <= 15 significant digits, d
 * lies within half an ulp of it, far inside the rounding step of 15
 * digits, so %.15g rounds to exactly that form (and %g drops the trailing
 * zeros): one try answers almost every value. Else 16, else 17, which
 * always reads back. Subnormals carry fewer digits than that argument
 * needs: they search from 1. */
static size_t fmt_double_slow(char *out, double d)
{
    char tmp[40];
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    size_t n = strlen(tmp);
    memcpy(out, tmp, n);
    return n;
}

void json__buf_double_slow(hist_buf *b, double d)
{
    char tmp[HIST_FMT_MAX];
    hist_buf_append(b, tmp, fmt_double_slow(tmp, d));
}

void json__buf_rfc3339(hist_buf *b, const hist_tz *tz, int64_t t_ns)
{
    char tmp[HIST_RFC3339_MAX];
    hist_buf_append(b, tmp, hist_tz_rfc3339(tz, tmp, t_ns));
}

void json__buf_csv_field(hist_buf *b, const char *s, char sep)
{
    if (!strpbrk(s, "\"\r\n") && !strchr(s, sep)) {
        hist_buf_puts(b, s);
        return;
    }
    hist_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            hist_buf_puts(b, "\"\"");
        else
            hist_buf_append(b, p, 1);
    }
    hist_buf_puts(b, "\"");
}

void json__buf_string(hist_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    hist_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes at s[i - run, i) that need no escaping */
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t step = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
            esc = ubuf;
        } else if (c >= 0x80) {
            step = hist_utf8_len(s + i, n - i);
            if (step == 0) {
                esc = "\xef\xbf\xbd"; /* U+FFFD for one bad byte */
                step = 1;
            }
        }
        if (!esc) {
            run += step;
            i += step;
            continue;
        }
        hist_buf_append(b, (const char *)s + i - run, run);
        run = 0;
        hist_buf_puts(b, esc);
        i += step;
    }
    hist_buf_append(b, (const char *)s + i - run, run);
    hist_buf_append(b, "\"", 1);
}

/* ---- Structured JSON ------------------------------------------------------- */

void json__init(hist_json *j)
{
    memset(j, 0, sizeof *j);
    hist_buf_init(&j->buf);
}

void json__free(hist_json *j)
{
    hist_buf_free(&j->buf);
}

/* Called before every value: writes the comma that separates it from the
 * previous member, unless it follows a key. */
static void before_value(hist_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0) {
        if (j->need_comma[j->depth - 1])
            hist_buf_append(&j->buf, ",", 1);
        j->need_comma[j->depth - 1] = true;
    }
}

static void open_container(hist_json *j, const char *c)
{
    before_value(j);
    if (j->depth >= HIST_JSON_MAX_DEPTH) {
        j->buf.failed = true;
        return;
    }
    j->need_comma[j->depth++] = false;
    hist_buf_append(&j->buf, c, 1);
}

static void close_container(hist_json *j, const char *c)
{
    if (j->depth > 0)
        j->depth--;
    hist_buf_append(&j->buf, c, 1);
}

void json__begin_object(hist_json *j)
{
    open_container(j, "{");
}

void json__end_object(hist_json *j)
{
    close_container(j, "}");
}

void json__begin_array(hist_json *j)
{
    open_container(j, "[");
}

void json__end_array(hist_json *j)
{
    close_container(j, "]");
}

void json__key(hist_json *j, const char *key)
{
    before_value(j);
    json__buf_string(&j->buf, key, strlen(key));
    hist_buf_append(&j->buf, ":", 1);
    j->after_key = true;
}

void json__string(hist_json *j, const char *s)
{
    before_value(j);
    json__buf_string(&j->buf, s, strlen(s));
}

void json__stringn(hist_json *j, const char *s, size_t n)
{
    before_value(j);
    json__buf_string(&j->buf, s, n);
}

void json__int(hist_json *j, int64_t v)
{
    before_value(j);
    json__buf_i64(&j->buf, v);
}

void json__uint(hist_json *j, uint64_t v)
{
    before_value(j);
    if (v <= (uint64_t)INT64_MAX)
        json__buf_i64(&j->buf, (int64_t)v);
    else
        hist_buf_printf(&j->buf, "%llu", (unsigned long long)v);
}

void json__double(hist_json *j, double v)
{
    before_value(j);
    json__buf_double(&j->buf, v);
}

void json__bool(hist_json *j, bool v)
{
    before_value(j);
    hist_buf_puts(&j->buf, v ? "true" : "false");
}

void json__null(hist_json *j)
{
    before_value(j);
    hist_buf_puts(&j->buf, "null");
}
