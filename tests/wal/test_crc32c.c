/*
 * test_crc32c.c: CRC-32C against published check values (the "123456789"
 * check and the RFC 3720 iSCSI vectors), incremental use, and the hardware
 * path against the table path over many lengths and alignments.
 */
#include <stdint.h>

#include "check.h"
#include "storage/crc32c.h"

/* Exported by crc32c.c for this test: the table implementation. */
uint32_t crc32c__portable(uint32_t crc, const void *data, size_t len);

static void test_known_vectors(void)
{
    uint8_t buf[32];
    CHECKF(crc32c__compute(0, "123456789", 9) == 0xE3069283u, "%08x",
           crc32c__compute(0, "123456789", 9));
    CHECK(crc32c__portable(0, "123456789", 9) == 0xE3069283u);
    CHECK(crc32c__compute(0, "", 0) == 0);

    memset(buf, 0, sizeof buf);
    CHECK(crc32c__compute(0, buf, 32) == 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK(crc32c__compute(0, buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK(crc32c__compute(0, buf, 32) == 0x46DD794Eu);
    CHECK(crc32c__portable(0, buf, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK(crc32c__compute(0, buf, 32) == 0x113FDB5Cu);
}

static void test_incremental(void)
{
    const char *s = "The quick brown fox jumps over the lazy dog, 0123456789";
    size_t n = strlen(s);
    uint32_t whole = crc32c__compute(0, s, n);
    int bad = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        uint32_t c = crc32c__compute(crc32c__compute(0, s, cut), s + cut, n - cut);
        uint32_t p = crc32c__portable(crc32c__portable(0, s, cut), s + cut, n - cut);
        bad += c != whole || p != whole;
    }
    CHECKF(bad == 0, "%d split points disagree", bad);
}

static void test_hw_matches_table(void)
{
    static uint8_t buf[4096 + 16];
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    int bad = 0, runs = 0;
    for (size_t align = 0; align < 16; align++) {
        for (size_t len = 0; len < 300; len++, runs++)
            bad += crc32c__compute(7, buf + align, len) != crc32c__portable(7, buf + align, len);
        bad += crc32c__compute(0, buf + align, 4096) != crc32c__portable(0, buf + align, 4096);
    }
    CHECKF(bad == 0, "%d of %d runs differ", bad, runs);
}

int main(void)
{
    test_known_vectors();
    test_incremental();
    test_hw_matches_table();
    return check_summary();
}
