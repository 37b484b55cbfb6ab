/*
 * test_errors.c: every HIST_E* code has a message and a symbol, both made
 * from the one list (common/hist_error.h), distinct from each other and
 * from the fallbacks for codes that do not exist.
 */
#include <string.h>

#include "check.h"
#include "common/hist_error.h"

int main(void)
{
    static const int codes[] = {
#define CODE_(name, value, msg) HIST_##name,
        HIST_ERRNO_MAP(CODE_)
#undef CODE_
    };
    size_t n = sizeof codes / sizeof codes[0];
    CHECK_EQ_I64(n, 19);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_I64(codes[i], -(int)(i + 1)); /* stable and dense: -1, -2, ... */
        CHECK(strcmp(hist_strerror(codes[i]), "unknown error") != 0);
        CHECK(strncmp(hist_errname(codes[i]), "HIST_E", 6) == 0 &&
              strcmp(hist_errname(codes[i]), "HIST_E?") != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(hist_strerror(codes[i]), hist_strerror(codes[j])) != 0);
            CHECK(strcmp(hist_errname(codes[i]), hist_errname(codes[j])) != 0);
        }
    }
    CHECK(strcmp(hist_errname(HIST_ECORRUPT), "HIST_ECORRUPT") == 0);
    CHECK(strcmp(hist_strerror(HIST_EDISKFULL), "no space left on device") == 0);
    CHECK(strcmp(hist_errname(HIST_ETIMEDOUT), "HIST_ETIMEDOUT") == 0);
    CHECK(strcmp(hist_errname(0), "HIST_OK") == 0 && strcmp(hist_strerror(0), "ok") == 0);
    CHECK(strcmp(hist_errname(-20), "HIST_E?") == 0);
    CHECK(strcmp(hist_strerror(-1000), "unknown error") == 0);
    return check_summary();
}
