/*
 * value.c: line protocol field values and timestamps, by hand and exactly.
 *
 * Floats: [-]digits[.digits][(e|E)[+|-]digits], "1." and ".5" included, at
 * least one digit before the exponent; no '+' sign, no hex, no NaN or
 * infinity (InfluxDB refuses those as values too). Up to 19 significant
 * digits with a power of ten up to 22 are one exact IEEE operation
 * (Clinger's fast path: both operands are exact, so the one rounding is
 * the correct one); anything else goes to strtod() as "DIGITSeEXP", a form
 * without a decimal point, so the locale's decimal separator does not
 * matter. A value whose magnitude is over DBL_MAX is HIST_ERANGE; one
 * that underflows becomes 0 or a subnormal, as strtod gives it.
 *
 * Integers (`i`): [-]digits within int64. Unsigned (`u`): digits within
 * uint64; above 2^63 - 1 it is flagged too_big (the caller refuses the
 * field: Historian stores int64). Timestamps: [-]digits in the request's
 * precision, converted to ns, within [HIST_TS_MIN, HIST_TS_MAX].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/lineproto/lp_internal.h"

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits tok[0..n) as a uint64: 0, or -1 when empty, not all digits or
 * over UINT64_MAX. */
static int parse_u64(const char *tok, size_t n, uint64_t *out)
{
    if (n == 0)
        return -1;
    uint64_t v = 0;
    if (n <= 19) { /* below 10^19: no overflow to check */
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned)(tok[i] - '0');
            if (d > 9)
                return -1;
            v = v * 10 + d;
        }
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(tok[i]))
            return -1;
        unsigned d = (unsigned)(tok[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *tok, size_t n, hist_value *v, const char **why)
{
    bool neg = n > 0 && tok[0] == '-';
    uint64_t u;
    int rc = parse_u64(tok + neg, n - neg, &u);
    if (rc == -1) {
        *why = "invalid integer";
        return HIST_EPROTO;
    }
    if (rc == -2 || u > (uint64_t)INT64_MAX + neg) {
        *why = "integer out of range (-9223372036854775808i to 9223372036854775807i)";
        return HIST_ERANGE;
    }
    v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

static int parse_uint(const char *tok, size_t n, hist_value *v, bool *too_big, const char **why)
{
    uint64_t u;
    int rc = parse_u64(tok, n, &u);
    if (rc == -1) {
        *why = "invalid unsigned integer";
        return HIST_EPROTO;
    }
    if (rc == -2) {
        *why = "unsigned integer out of range (0u to 18446744073709551615u)";
        return HIST_ERANGE;
    }
    *too_big = u > (uint64_t)INT64_MAX;
    v->i = *too_big ? 0 : (int64_t)u;
    return 0;
}

/* The slow path: the significant digits and the power of ten as text. */
static int float_slow(bool neg, const char *digits, size_t ndig, const char *frac, size_t nfrac,
                      long exp10, double *out)
{
    char stack[512], *buf = stack;
    size_t need = 1 + ndig + nfrac + 24;
    if (need > sizeof stack) {
        buf = malloc(need);
        if (!buf)
            return HIST_ENOMEM;
    }
    size_t k = 0;
    if (neg)
        buf[k++] = '-';
    memcpy(buf + k, digits, ndig);
    k += ndig;
    memcpy(buf + k, frac, nfrac);
    k += nfrac;
    if (ndig + nfrac == 0)
        buf[k++] = '0';
    long e = exp10 - (long)nfrac;
    k += (size_t)snprintf(buf + k, need - k, "e%ld", e);
    *out = strtod(buf, NULL);
    if (buf != stack)
        free(buf);
    return 0;
}

static int parse_float(const char *tok, size_t n, hist_value *v, const char **why)
{
    size_t i = 0;
    bool neg = n > 0 && tok[0] == '-';
    i += neg;
    const char *ip = tok + i;
    while (i < n && is_digit(tok[i]))
        i++;
    size_t nint = (size_t)(tok + i - ip);
    const char *fp = tok + i;
    size_t nfrac = 0;
    if (i < n && tok[i] == '.') {
        i++;
        fp = tok + i;
        while (i < n && is_digit(tok[i]))
            i++;
        nfrac = (size_t)(tok + i - fp);
    }
    if (nint + nfrac == 0) {
        char c = i < n ? tok[i] : 0;
        *why = (c == 'n' || c == 'N' || c == 'i' || c == 'I')
                   ? "invalid float: NaN and infinity are not values"
                   : "invalid number";
        return HIST_EPROTO;
    }
    long exp10 = 0;
    if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (tok[i] == '+' || tok[i] == '-'))
            eneg = tok[i++] == '-';
        size_t e0 = i;
        while (i < n && is_digit(tok[i])) {
            if (exp10 < 100000000)
                exp10 = exp10 * 10 + (tok[i] - '0');
            i++;
        }
        if (i == e0) {
            *why = "invalid float: an exponent without digits";
            return HIST_EPROTO;
        }
        if (eneg)
            exp10 = -exp10;
    }
    if (i != n) {
        *why = "invalid number";
        return HIST_EPROTO;
    }
    /* the significant digits: leading zeros left out */
    const char *dp = ip;
    size_t nd = nint;
    while (nd > 0 && *dp == '0')
        dp++, nd--;
    const char *fq = fp;
    size_t nf = nfrac;
    if (nd == 0)
        while (nf > 0 && *fq == '0')
            fq++, nf--, exp10--;
    double d;
    if (nd + nf <= 19) {
        uint64_t m = 0;
        for (size_t k = 0; k < nd; k++)
            m = m * 10 + (uint64_t)(dp[k] - '0');
        for (size_t k = 0; k < nf; k++)
            m = m * 10 + (uint64_t)(fq[k] - '0');
        long e = exp10 - (long)nf;
        if (m == 0) {
            d = 0.0;
        } else if (m <= (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
            d = e >= 0 ? (double)m * pow10_exact[e] : (double)m / pow10_exact[-e];
        } else {
            int rc = float_slow(false, dp, nd, fq, nf, exp10, &d);
            if (rc)
                return rc;
        }
    } else {
        int rc = float_slow(false, dp, nd, fq, nf, exp10, &d);
        if (rc)
            return rc;
    }
    if (isinf(d)) {
        *why = "float out of range (over 1.7976931348623157e308)";
        return HIST_ERANGE;
    }
    v->f = neg ? -d : d;
    return 0;
}

int lp__number(const char *tok, size_t n, int kind, hist_value *v, bool *too_big, const char **why)
{
    *too_big = false;
    switch (kind) {
    case LP_NUM_INT:
        return parse_int(tok, n, v, why);
    case LP_NUM_UINT:
        return parse_uint(tok, n, v, too_big, why);
    default:
        return parse_float(tok, n, v, why);
    }
}

int lp__bool(const char *tok, size_t n)
{
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE"};
    for (size_t i = 0; i < 5; i++) {
        if (strlen(yes[i]) == n && memcmp(yes[i], tok, n) == 0)
            return 1;
        if (strlen(no[i]) == n && memcmp(no[i], tok, n) == 0)
            return 0;
    }
    return -1;
}

int64_t lp__unit_ns(hist_lp_precision prec)
{
    switch (prec) {
    case HIST_LP_US:
        return INT64_C(1000);
    case HIST_LP_MS:
        return INT64_C(1000000);
    case HIST_LP_S:
        return INT64_C(1000000000);
    case HIST_LP_M:
        return INT64_C(60000000000);
    case HIST_LP_H:
        return INT64_C(3600000000000);
    default:
        return 1;
    }
}

int lp__timestamp(const char *tok, size_t n, hist_lp_precision prec, int64_t *ns, const char **why)
{
    bool neg = n > 0 && tok[0] == '-';
    uint64_t u;
    int rc = parse_u64(tok + neg, n - neg, &u);
    if (rc == -1) {
        *why = "invalid timestamp: an integer is expected";
        return HIST_EPROTO;
    }
    uint64_t unit = (uint64_t)lp__unit_ns(prec);
    if (rc == -2 || u > (uint64_t)HIST_TS_MAX / unit) {
        *why = "timestamp out of range (about 200 years either side of 1970)";
        return HIST_ERANGE;
    }
    int64_t t = (int64_t)(u * unit);
    *ns = neg ? -t : t;
    return 0;
}

int hist_lp_precision_parse(const char *s, hist_lp_precision *out)
{
    static const struct {
        const char *name;
        hist_lp_precision p;
    } names[] = {{"ns", HIST_LP_NS}, {"n", HIST_LP_NS}, {"us", HIST_LP_US}, {"u", HIST_LP_US},
                 {"ms", HIST_LP_MS}, {"s", HIST_LP_S},  {"m", HIST_LP_M},   {"h", HIST_LP_H}};
    if (!s || !*s) {
        *out = HIST_LP_NS;
        return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].p;
            return 0;
        }
    return HIST_EINVAL;
}
