/*
 * test_array.c: common/hist_array.h, the one growth rule of the project's
 * growable arrays: the first capacity, doubling, need already met, sizes
 * that cannot be counted (refused, never wrapped), and a refused reserve
 * that leaves the array and its capacity as they were.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "common/hist_array.h"

static void test_capacity(void)
{
    CHECK_EQ_I64(hist_array_cap(0, 1, 8, 16), 16);
    CHECK_EQ_I64(hist_array_cap(0, 17, 8, 16), 32);
    CHECK_EQ_I64(hist_array_cap(16, 17, 8, 16), 32);
    CHECK_EQ_I64(hist_array_cap(16, 1000, 8, 16), 1024);
    CHECK_EQ_I64(hist_array_cap(3, 4, 1, 16), 6); /* doubling from what there is */
    /* need elements of elem bytes past SIZE_MAX: 0 */
    CHECK_EQ_I64(hist_array_cap(0, SIZE_MAX / 8 + 1, 8, 16), 0);
    CHECK_EQ_I64(hist_array_cap(0, SIZE_MAX, 1, 16), 0);
    CHECK_EQ_I64(hist_array_cap((SIZE_MAX >> 1) + 1, SIZE_MAX, 1, 16), 0);
}

static void test_reserve(void)
{
    int64_t *v = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 1000; n++) {
        CHECK_OK(HIST_ARRAY_RESERVE(v, cap, n + 1, 16));
        v[n] = (int64_t)n;
        CHECK(cap >= n + 1 && cap >= 16);
    }
    CHECK_EQ_I64(cap, 1024);
    int64_t *before = v;
    CHECK_OK(HIST_ARRAY_RESERVE(v, cap, 10, 16)); /* already room: nothing moves */
    CHECK(v == before && cap == 1024);
    /* a size that cannot be counted is refused; the array stays whole */
    CHECK_EQ_I64(HIST_ARRAY_RESERVE(v, cap, SIZE_MAX / 4, 16), HIST_ENOMEM);
    CHECK(v == before && cap == 1024);
    for (size_t n = 0; n < 1000; n++)
        if (v[n] != (int64_t)n)
            CHECKF(0, "v[%zu] = %lld", n, (long long)v[n]);
    free(v);
}

int main(void)
{
    test_capacity();
    test_reserve();
    return check_summary();
}
