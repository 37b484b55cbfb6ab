/*
 * test_slab.c: common/hist_slab.h, the registry's block allocator: blocks
 * zeroed, 8-byte aligned and apart from each other across many pieces,
 * `used` the rounded sum, a block larger than a piece, a refused size, and
 * a slab emptied by hist_slab_free_all() and used again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/hist_slab.h"
#include "rng.h"

enum { BLOCKS = 40000 }; /* about 6 MiB: several pieces */

static void test_blocks(void)
{
    hist_slab s = {0};
    unsigned char **blk = calloc(BLOCKS, sizeof(*blk));
    size_t *len = calloc(BLOCKS, sizeof(*len));
    REQUIRE(blk && len);
    uint64_t rng = 12345, used = 0;
    size_t bad_zero = 0, bad_align = 0;
    for (size_t i = 0; i < BLOCKS; i++) {
        len[i] = 1 + (size_t)(xorshift64(&rng) % 300); /* a tag state and its name */
        blk[i] = hist_slab_alloc(&s, len[i]);
        REQUIRE(blk[i]);
        for (size_t j = 0; j < len[i]; j++)
            bad_zero += blk[i][j] != 0;
        bad_align += ((uintptr_t)blk[i] & 7) != 0;
        memset(blk[i], (int)(i & 0xff), len[i]); /* each block its own byte */
        used += (len[i] + 7) & ~(uint64_t)7;
    }
    CHECK_EQ_I64(bad_zero, 0);
    CHECK_EQ_I64(bad_align, 0);
    CHECK_EQ_I64(s.used, used);
    size_t overwritten = 0;
    for (size_t i = 0; i < BLOCKS; i++)
        for (size_t j = 0; j < len[i]; j++)
            overwritten += blk[i][j] != (unsigned char)(i & 0xff);
    CHECK_EQ_I64(overwritten, 0); /* no block overlaps another */

    /* larger than a piece: a piece of its own, still zeroed */
    unsigned char *big = hist_slab_alloc(&s, HIST_SLAB_PIECE + 100);
    REQUIRE(big);
    CHECK(big[0] == 0 && big[HIST_SLAB_PIECE + 99] == 0);
    CHECK_EQ_I64(s.used, used + HIST_SLAB_PIECE + 104);
    unsigned char *after = hist_slab_alloc(&s, 16); /* the next block starts a piece */
    CHECK(after != NULL && after[0] == 0);

    /* sizes it refuses leave it as it was */
    size_t before = s.used;
    CHECK(hist_slab_alloc(&s, 0) == NULL);
    CHECK(hist_slab_alloc(&s, SIZE_MAX) == NULL);
    CHECK_EQ_I64(s.used, before);

    hist_slab_free_all(&s);
    CHECK(s.pieces == NULL && s.used == 0 && s.left == 0);
    unsigned char *again = hist_slab_alloc(&s, 24);
    CHECK(again != NULL && again[23] == 0);
    CHECK_EQ_I64(s.used, 24);
    hist_slab_free_all(&s);
    free(blk);
    free(len);
}

int main(void)
{
    test_blocks();
    return check_summary();
}
