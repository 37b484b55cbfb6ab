/*
 * test_varint.c: common/hist_varint.h, the one LEB128 varint and zigzag of
 * the WAL payload, the chunk index entries and the chunk codecs: lengths
 * and bytes at the boundaries, round trips, and the reader's refusals
 * (cut short, more than 10 bytes, more than 64 bits).
 */
#include <string.h>

#include "check.h"
#include "common/hist_varint.h"

/* Writes x, checks its length and reads it back from exactly those bytes. */
static void round_trip(uint64_t x, size_t want_len)
{
    uint8_t b[HIST_VARINT_MAX + 2];
    size_t len = (size_t)(hist_varint_put(b, x) - b);
    CHECKF(len == want_len, "%llu: %zu bytes, want %zu", (unsigned long long)x, len, want_len);
    const uint8_t *p = b;
    uint64_t got = 0;
    CHECK_OK(hist_varint_get(&p, b + len, &got));
    CHECK(got == x && p == b + len);
    /* Any shorter input is cut short, and leaves p and the value alone. */
    for (size_t cut = 0; cut < len; cut++) {
        p = b;
        got = 7;
        CHECK_EQ_I64(hist_varint_get(&p, b + cut, &got), HIST_ECORRUPT);
        CHECK(p == b && got == 7);
    }
}

int main(void)
{
    round_trip(0, 1);
    round_trip(1, 1);
    round_trip(127, 1);
    round_trip(128, 2);
    round_trip(16383, 2);
    round_trip(16384, 3);
    round_trip(UINT32_MAX, 5);
    round_trip(UINT64_C(1) << 63, 10);
    round_trip(UINT64_MAX, 10);

    /* The bytes themselves. */
    uint8_t b[16];
    CHECK(hist_varint_put(b, 0) == b + 1 && b[0] == 0);
    CHECK(hist_varint_put(b, 127) == b + 1 && b[0] == 0x7f);
    CHECK(hist_varint_put(b, 128) == b + 2 && b[0] == 0x80 && b[1] == 0x01);
    CHECK(hist_varint_put(b, 300) == b + 2 && b[0] == 0xac && b[1] == 0x02);
    hist_varint_put(b, UINT64_C(1) << 63);
    for (int i = 0; i < 9; i++)
        CHECK(b[i] == 0x80);
    CHECK(b[9] == 0x01);
    hist_varint_put(b, UINT64_MAX);
    for (int i = 0; i < 9; i++)
        CHECK(b[i] == 0xff);
    CHECK(b[9] == 0x01);

    /* A 10th byte above 1 would need more than 64 bits. */
    const uint8_t *p;
    uint64_t x = 0;
    memset(b, 0xff, 9);
    b[9] = 0x02;
    p = b;
    CHECK_EQ_I64(hist_varint_get(&p, b + 10, &x), HIST_ECORRUPT);
    CHECK(p == b);
    b[9] = 0x7f;
    CHECK_EQ_I64(hist_varint_get(&p, b + 10, &x), HIST_ECORRUPT);
    /* More than 10 bytes (the 10th carries on). */
    memset(b, 0x80, 11);
    b[11] = 0x00;
    p = b;
    CHECK_EQ_I64(hist_varint_get(&p, b + 12, &x), HIST_ECORRUPT);
    /* A non-shortest form within 64 bits still reads (0 as 0x80 0x00). */
    b[0] = 0x80, b[1] = 0x00, p = b;
    CHECK_OK(hist_varint_get(&p, b + 2, &x));
    CHECK(x == 0 && p == b + 2);
    /* Empty input. */
    p = b;
    CHECK_EQ_I64(hist_varint_get(&p, b, &x), HIST_ECORRUPT);
    /* Two in a row. */
    uint8_t *w = hist_varint_put(b, 5);
    w = hist_varint_put(w, 1000);
    p = b;
    uint64_t y = 0;
    CHECK_OK(hist_varint_get(&p, w, &x));
    CHECK_OK(hist_varint_get(&p, w, &y));
    CHECK(x == 5 && y == 1000 && p == w);

    /* Zigzag: 0, -1, 1, -2, ... as 0, 1, 2, 3, ... and back. */
    CHECK(hist_zigzag(0) == 0 && hist_zigzag(-1) == 1 && hist_zigzag(1) == 2);
    CHECK(hist_zigzag(-2) == 3 && hist_zigzag(INT64_MAX) == UINT64_MAX - 1);
    CHECK(hist_zigzag(INT64_MIN) == UINT64_MAX);
    static const int64_t zs[] = {0, 1, -1, 63, -64, 64, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++)
        CHECK(hist_unzigzag(hist_zigzag(zs[i])) == zs[i]);
    return check_summary();
}
