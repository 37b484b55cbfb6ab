/*
 * fuzz_regex.c: libFuzzer target for the Grafana filters' regex matcher
 * (query/api/regex.c), which compiles client text.
 *
 * Input layout: "pattern \0 text" (no NUL: all of it is the pattern and
 * the text is empty). Whatever the input: re__compile() accepts with a
 * program or refuses with a reason; an accepted pattern matches the text,
 * the text repeated to 4 KiB, and the empty string with 0 or 1, each in
 * far less than a second (linear time), and the same answer twice. The
 * ctest run's -malloc_limit_mb=16 makes any large allocation a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/api/api_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int match_timed(const re_prog *r, const char *text, size_t len)
{
    double t0 = now_s();
    int rc = re__match(r, text, len);
    if (rc != 0 && rc != 1)
        abort();
    if (now_s() - t0 > 2.0)
        abort(); /* not linear */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    size_t plen = strlen(in);
    const char *text = plen < size ? in + plen + 1 : "";
    size_t tlen = plen < size ? size - plen - 1 : 0;

    re_prog *r = NULL;
    const char *err = NULL;
    int rc = re__compile(in, &r, &err);
    if (rc < 0) {
        if (r || !err || !*err)
            abort(); /* a refusal gives no program and says why */
        if (rc != HIST_EINVAL && rc != HIST_ETOOBIG)
            abort();
        free(in);
        return 0;
    }
    if (!r)
        abort();
    int a = match_timed(r, text, tlen);
    if (match_timed(r, text, tlen) != a)
        abort();
    match_timed(r, "", 0);
    if (tlen) {
        size_t big = 4096; /* 16 x the longest tag name */
        char *rep = malloc(big);
        if (rep) {
            for (size_t i = 0; i < big; i++)
                rep[i] = text[i % tlen];
            match_timed(r, rep, big);
            free(rep);
        }
    }
    re__free(r);
    free(in);
    return 0;
}
