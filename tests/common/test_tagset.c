/*
 * test_tagset.c: tag-name pattern sets (common/hist_tagset.h): '*' inside
 * one segment, '**' any depth, folder visibility, bad patterns, and a
 * pathological pattern that must stay fast.
 */
#include <time.h>

#include "check.h"
#include "common/hist_error.h"
#include "common/hist_tagset.h"

static hist_tagset *make(const char *const *p, size_t n)
{
    hist_tagset *s = NULL;
    CHECK(hist_tagset_compile(p, n, &s) == 0);
    return s;
}

static void test_match(void)
{
    const char *p[] = {"site1/area2/**"};
    hist_tagset *s = make(p, 1);
    CHECK(hist_tagset_matches(s, "site1/area2/x"));
    CHECK(hist_tagset_matches(s, "site1/area2/line1/pump/speed"));
    CHECK(hist_tagset_matches(s, "site1/area2")); /* "**" may take no segment */
    CHECK(!hist_tagset_matches(s, "site1/area1/x"));
    CHECK(!hist_tagset_matches(s, "site1/area22/x"));
    CHECK(!hist_tagset_matches(s, "site1"));
    CHECK(!hist_tagset_matches(s, "site2/area2/x"));
    CHECK(!hist_tagset_matches(s, ""));
    CHECK(hist_tagset_may_match_below(s, "site1"));
    CHECK(hist_tagset_may_match_below(s, "site1/area2"));
    CHECK(hist_tagset_may_match_below(s, "site1/area2/deep"));
    CHECK(!hist_tagset_may_match_below(s, "site1/area1"));
    CHECK(!hist_tagset_may_match_below(s, "site2"));
    CHECK(hist_tagset_count(s) == 1 && !strcmp(hist_tagset_pattern(s, 0), "site1/area2/**"));
    hist_tagset_free(s);

    const char *q[] = {"site*/area?/x", "*/pump*/speed", "a/**/z", "exact/name"};
    s = make(q, 4);
    CHECK(!hist_tagset_matches(s, "site1/area2/x")); /* '?' is a literal here */
    CHECK(hist_tagset_matches(s, "site1/area?/x"));
    CHECK(hist_tagset_matches(s, "s1/pump/speed"));
    CHECK(hist_tagset_matches(s, "s1/pump12/speed"));
    CHECK(!hist_tagset_matches(s, "s1/x/pump12/speed")); /* '*' is one segment */
    CHECK(hist_tagset_matches(s, "a/z"));
    CHECK(hist_tagset_matches(s, "a/b/c/z"));
    CHECK(!hist_tagset_matches(s, "a/b/c/zz"));
    CHECK(hist_tagset_matches(s, "exact/name"));
    CHECK(!hist_tagset_matches(s, "exact/name/more"));
    CHECK(!hist_tagset_matches(s, "exact"));
    CHECK(hist_tagset_may_match_below(s, "exact"));
    CHECK(!hist_tagset_may_match_below(s, "exact/name"));
    CHECK(hist_tagset_may_match_below(s, "anything")); /* "* /pump* /speed" */
    hist_tagset_free(s);

    const char *all[] = {"**"};
    s = make(all, 1);
    CHECK(hist_tagset_matches(s, "x") && hist_tagset_matches(s, "x/y/z"));
    hist_tagset_free(s);
    /* NULL: every tag */
    CHECK(hist_tagset_matches(NULL, "any/thing") && hist_tagset_may_match_below(NULL, "x"));
}

static void test_bad(void)
{
    const char *bad[] = {"", "a//b", "/a", "a/", "a**/b", "a/**b", "***", "a\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(hist_tagset_check(bad[i]) == HIST_EINVAL, "'%s'", bad[i]);
    char longp[HIST_TAGSET_PATTERN_MAX + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    CHECK(hist_tagset_check(longp) == HIST_EINVAL);
    hist_tagset *s = (hist_tagset *)1;
    const char *one[] = {"ok", "a//b"};
    CHECK(hist_tagset_compile(one, 2, &s) == HIST_EINVAL && s == NULL);
    CHECK(hist_tagset_compile(one, 0, &s) == HIST_EINVAL);
}

/* "**" and '*' everywhere against a long name with no match: bounded by
 * segments x segments, no exponential backtracking. */
static void test_pathological(void)
{
    char pat[HIST_TAGSET_PATTERN_MAX + 1] = "";
    while (strlen(pat) + 6 < HIST_TAGSET_PATTERN_MAX)
        strcat(pat, "**/*a/");
    strcat(pat, "b");
    CHECK(hist_tagset_check(pat) == 0);
    const char *p[] = {pat};
    hist_tagset *s = make(p, 1);
    char name[256] = "";
    while (strlen(name) + 5 < sizeof name)
        strcat(name, "aa/");
    strcat(name, "c");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool m = false;
    for (int i = 0; i < 100; i++)
        m |= hist_tagset_matches(s, name);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(!m);
    CHECKF(ms < 2000, "100 matches took %.0f ms", ms);
    hist_tagset_free(s);
}

int main(void)
{
    test_match();
    test_bad();
    test_pathological();
    return check_summary();
}
