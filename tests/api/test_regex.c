/*
 * test_regex.c: the Grafana filters' regex matcher (query/api/regex.c).
 *
 * - the syntax it accepts and refuses, with the reason;
 * - the nasty patterns (nested bounded repetitions, (a*)*b on long text,
 *   huge counts, deep nesting) are refused or answered fast: each is timed
 *   and must finish far under a second;
 * - a differential check: thousands of small random patterns over a tiny
 *   alphabet, every one glibc's regcomp accepts, match exactly what
 *   regexec says on every short text (anchors only outside groups: glibc
 *   gets some anchors inside repeated groups wrong).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "query/api/api_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1/0 for match/no match, -1 when the pattern is refused. */
static int m(const char *pat, const char *text)
{
    re_prog *r = NULL;
    const char *err = NULL;
    if (re__compile(pat, &r, &err) < 0)
        return -1;
    int rc = re__match(r, text, strlen(text));
    re__free(r);
    return rc;
}

static void test_syntax(void)
{
    CHECK_EQ_I64(m("^(abc)$", "abc"), 1);
    CHECK_EQ_I64(m("^(abc)$", "abcd"), 0);
    CHECK_EQ_I64(m("b", "abc"), 1); /* unanchored search */
    CHECK_EQ_I64(m("^a.c$", "a/c"), 1);
    CHECK_EQ_I64(m("^a\\.c$", "a/c"), 0);
    CHECK_EQ_I64(m("^a\\.c$", "a.c"), 1);
    CHECK_EQ_I64(m("^[a-c]+$", "abcab"), 1);
    CHECK_EQ_I64(m("^[^a-c]+$", "xyz"), 1);
    CHECK_EQ_I64(m("^[^a-c]+$", "xaz"), 0);
    CHECK_EQ_I64(m("^[]a]$", "]"), 1);
    CHECK_EQ_I64(m("^[[:digit:]]{3}$", "123"), 1);
    CHECK_EQ_I64(m("^[[:digit:]]{3}$", "12"), 0);
    CHECK_EQ_I64(m("^\\d+\\w*$", "12ab_"), 1);
    CHECK_EQ_I64(m("^\\D$", "1"), 0);
    CHECK_EQ_I64(m("^(temp|pressure)_[0-9]{1,3}$", "pressure_42"), 1);
    CHECK_EQ_I64(m("^(temp|pressure)_[0-9]{1,3}$", "pressure_4242"), 0);
    CHECK_EQ_I64(m("^(?:ab)+?$", "abab"), 1);
    CHECK_EQ_I64(m("^a{2,}$", "aaaa"), 1);
    CHECK_EQ_I64(m("^a{2,}$", "a"), 0);
    CHECK_EQ_I64(m("^(|a)$", ""), 1);
    CHECK_EQ_I64(m("x$|^y", "ay"), 0);
    CHECK_EQ_I64(m("x$|^y", "ax"), 1);
    CHECK_EQ_I64(m("^a*$", ""), 1);
    /* refused, with a reason */
    const char *bad[] = {"(",   "a)",    "[abc", "*a",         "a{2,1}", "a{x}",
                         "\\1", "(?=a)", "\\",   "[[:nope:]]", "a{256}", "a{1,256}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        re_prog *r = NULL;
        const char *err = NULL;
        int rc = re__compile(bad[i], &r, &err);
        CHECKF(rc < 0 && r == NULL && err && *err, "'%s' accepted", bad[i]);
    }
}

static void test_nasty(void)
{
    /* The pattern: regcomp took 6.8 s and 3.35 GiB. Refused at once
     * (it expands past RE_MAX_PROG), naming the limit. */
    double t0 = now_s();
    re_prog *r = NULL;
    const char *err = NULL;
    int rc = re__compile("^(((((a{1,50}){1,50}){1,50}){1,50}))$", &r, &err);
    CHECK_EQ_I64(rc, HIST_ETOOBIG);
    CHECKF(err && strstr(err, "1024 instructions"), "message: %s", err ? err : "(none)");
    CHECK(now_s() - t0 < 0.5);

    /* a pattern past the length limit */
    char longpat[RE_MAX_PATTERN + 8];
    memset(longpat, 'a', sizeof longpat - 1);
    longpat[sizeof longpat - 1] = '\0';
    CHECK_EQ_I64(re__compile(longpat, &r, &err), HIST_ETOOBIG);
    CHECK(err && strstr(err, "256"));

    /* deep nesting */
    char deep[80];
    memset(deep, '(', 40);
    deep[40] = 'a';
    memset(deep + 41, ')', 38);
    deep[79] = '\0';
    CHECK(re__compile(deep, &r, &err) < 0);

    /* backtracking killers: linear here, text of 100 KB */
    size_t n = 100000;
    char *text = malloc(n + 1);
    memset(text, 'a', n);
    text[n] = '\0';
    const char *killers[] = {"^(a*)*b$",     "^(a|a)*b$",        "^(a+)+b$",     "^(a|aa)*c$",
                             "^(.*a){12}b$", "^(a?){30}a{30}b$", "^(.{0,255}x)$"};
    for (size_t i = 0; i < sizeof killers / sizeof killers[0]; i++) {
        t0 = now_s();
        r = NULL;
        rc = re__compile(killers[i], &r, &err);
        CHECKF(rc == 0, "'%s': %s", killers[i], err ? err : "");
        if (rc == 0) {
            CHECK_EQ_I64(re__match(r, text, n), 0);
            re__free(r);
        }
        double dt = now_s() - t0;
        CHECKF(dt < 2.0, "'%s' over 100 KB took %.2f s", killers[i], dt);
    }
    free(text);

    /* the largest program allowed still matches */
    rc = re__compile("^a{255}$", &r, &err);
    CHECK_EQ_I64(rc, 0);
    if (rc == 0) {
        char a[256];
        memset(a, 'a', 255);
        a[255] = '\0';
        CHECK_EQ_I64(re__match(r, a, 255), 1);
        CHECK_EQ_I64(re__match(r, a, 254), 0);
        re__free(r);
    }
}

/* xorshift: the same patterns every run */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

static void gen(char *out, size_t *k, size_t cap, int depth)
{
    int parts = 1 + (int)rnd(3);
    for (int i = 0; i < parts && *k + 12 < cap; i++) {
        /* anchors only at the top: glibc answers some anchors inside
         * repeated groups wrongly ("a*(b?(^a?[^a]){1,2}[^a]|...)" on "babb") */
        unsigned kind = depth > 2 ? rnd(5) : rnd(8);
        if (kind == 5 && depth > 0)
            kind = 0;
        switch (kind) {
        case 0:
        case 1:
        case 2:
            out[(*k)++] = "ab"[rnd(2)];
            break;
        case 3:
            out[(*k)++] = '.';
            break;
        case 4:
            memcpy(out + *k, rnd(2) ? "[ab]" : "[^a]", 4);
            *k += 4;
            break;
        case 5:
            out[(*k)++] = rnd(2) ? '^' : '$';
            continue; /* no quantifier on an anchor */
        default:
            out[(*k)++] = '(';
            gen(out, k, cap, depth + 1);
            if (rnd(3) == 0 && *k + 10 < cap) {
                out[(*k)++] = '|';
                gen(out, k, cap, depth + 1);
            }
            out[(*k)++] = ')';
            break;
        }
        unsigned q = rnd(8);
        if (q == 0)
            out[(*k)++] = '*';
        else if (q == 1)
            out[(*k)++] = '+';
        else if (q == 2)
            out[(*k)++] = '?';
        else if (q == 3)
            *k += (size_t)snprintf(out + *k, cap - *k, "{%u,%u}", rnd(2), 1 + rnd(3));
    }
    out[*k] = '\0';
}

static void test_differential(void)
{
    int compared = 0, mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        char pat[128];
        size_t k = 0;
        gen(pat, &k, sizeof pat - 16, 0);
        regex_t rx;
        if (regcomp(&rx, pat, REG_EXTENDED | REG_NOSUB) != 0)
            continue;
        re_prog *r = NULL;
        const char *err = NULL;
        int rc = re__compile(pat, &r, &err);
        CHECKF(rc == 0, "'%s' refused: %s", pat, err ? err : "");
        if (rc != 0) {
            regfree(&rx);
            continue;
        }
        /* every text over {a, b, c} up to 5 long */
        for (int len = 0; len <= 5; len++) {
            int total = 1;
            for (int i = 0; i < len; i++)
                total *= 3;
            for (int x = 0; x < total; x++) {
                char t[8];
                int v = x;
                for (int i = 0; i < len; i++, v /= 3)
                    t[i] = "abc"[v % 3];
                t[len] = '\0';
                int want = regexec(&rx, t, 0, NULL, 0) == 0;
                int got = re__match(r, t, (size_t)len);
                compared++;
                if (got != want && mismatches++ < 10)
                    CHECKF(0, "'%s' on '%s': %d, regexec %d", pat, t, got, want);
            }
        }
        re__free(r);
        regfree(&rx);
    }
    CHECKF(compared > 100000, "only %d comparisons", compared);
    CHECK_EQ_I64(mismatches, 0);
}

int main(void)
{
    test_syntax();
    test_nasty();
    test_differential();
    return check_summary();
}
