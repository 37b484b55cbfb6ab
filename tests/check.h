/*
 * check.h: the assertions every Historian test uses.
 *
 * A test is a plain program: it runs its cases, each CHECK counts as one
 * check, and the program ends with check_summary(), which prints
 * "N passed, N failed" and returns the exit code ctest reads (0 only when
 * nothing failed and at least one check ran, so a test that silently
 * skipped all its work does not pass).
 *
 * Header-only on purpose: each test is one translation unit, so the
 * counters below are per test program, not shared global state.
 */
#ifndef HIST_TESTS_CHECK_H
#define HIST_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long check_passed_, check_failed_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* CHECK with a printf-style explanation printed only on failure. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_I64(a, b)                                                                         \
    CHECKF((int64_t)(a) == (int64_t)(b), "%" PRId64 " != %" PRId64, (int64_t)(a), (int64_t)(b))

/* A return code from a hist_ function: 0 is success, negative is an error. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int check_rc_ = (expr);                                                                    \
        CHECKF(check_rc_ >= 0, "%s returned %d", #expr, check_rc_);                                \
    } while (0)

/* Stop the test now: used where going on would only crash (a NULL result). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            check_failed_++;                                                                       \
            exit(check_summary());                                                                 \
        }                                                                                          \
        check_passed_++;                                                                           \
    } while (0)

static inline int check_summary(void)
{
    printf("%ld passed, %ld failed\n", check_passed_, check_failed_);
    fflush(stdout);
    return (check_failed_ == 0 && check_passed_ > 0) ? 0 : 1;
}

#endif
