/*
 * test_gzip.c: gzip request bodies (ingest/gzip.c): a body inflates to
 * what was compressed, members one after another make one body, and a
 * body that is cut short, corrupt, no gzip, or inflates past the budget
 * (100 MiB of zeros in about 100 KB) is refused without using more than
 * the budget.
 */
#include <zlib.h>

#include "check.h"
#include "ingest/ingest.h"

/* in compressed as one gzip member into *out (malloc'd). */
static size_t gzip_of(const uint8_t *in, size_t n, uint8_t **out)
{
    z_stream z = {0};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, n) + 64;
    *out = malloc(cap);
    REQUIRE(*out);
    z.next_in = (Bytef *)in, z.avail_in = (uInt)n;
    z.next_out = *out, z.avail_out = (uInt)cap;
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void test_round_trip(void)
{
    size_t n = 1u << 20;
    uint8_t *text = malloc(n);
    REQUIRE(text);
    for (size_t i = 0; i < n; i++)
        text[i] = (uint8_t)("cpu,host=h1 usage=1.5 1767225600000000000\n"[i % 43] ^ (i / 43 % 3));
    uint8_t *gz, *out;
    size_t gzlen = gzip_of(text, n, &gz), len;
    const char *why;
    CHECK_OK(gzip__inflate(gz, gzlen, n, &out, &len, &why));
    CHECK(len == n && !memcmp(out, text, n));
    free(out);
    /* the budget is exact: one byte less is refused */
    CHECK(gzip__inflate(gz, gzlen, n - 1, &out, &len, &why) == HIST_ETOOBIG && !out);
    CHECK(strstr(why, "size limit") != NULL);
    /* two members are one body */
    uint8_t *two = malloc(2 * gzlen);
    memcpy(two, gz, gzlen), memcpy(two + gzlen, gz, gzlen);
    CHECK_OK(gzip__inflate(two, 2 * gzlen, 2 * n, &out, &len, &why));
    CHECK(len == 2 * n && !memcmp(out, text, n) && !memcmp(out + n, text, n));
    free(out);
    /* cut short anywhere, or corrupt: refused */
    size_t cuts[] = {0, 1, 9, 10, gzlen / 2, gzlen - 8, gzlen - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        CHECKF(gzip__inflate(gz, cuts[i], n, &out, &len, &why) == HIST_EPROTO && !out, "cut at %zu",
               cuts[i]);
    gz[gzlen / 2] ^= 0x55;
    int rc = gzip__inflate(gz, gzlen, 4 * n, &out, &len, &why); /* room: corrupt may grow */
    CHECKF(rc == HIST_EPROTO && !out, "corrupt: %d", rc);
    /* trailing garbage after a member is no member */
    gz[gzlen / 2] ^= 0x55;
    memcpy(two + gzlen, "garbage!", 8);
    CHECK(gzip__inflate(two, gzlen + 8, 2 * n, &out, &len, &why) == HIST_EPROTO && !out);
    /* plain text is no gzip */
    CHECK(gzip__inflate(text, 100, n, &out, &len, &why) == HIST_EPROTO && !out);
    free(two);
    free(gz);
    free(text);
}

static void test_bomb(void)
{
    size_t n = 100u << 20;
    uint8_t *zeros = calloc(1, n), *gz, *out;
    REQUIRE(zeros);
    size_t gzlen = gzip_of(zeros, n, &gz), len;
    free(zeros);
    CHECKF(gzlen < 200000, "100 MiB of zeros in %zu bytes", gzlen);
    const char *why;
    CHECK(gzip__inflate(gz, gzlen, 16u << 20, &out, &len, &why) == HIST_ETOOBIG && !out);
    free(gz);
}

static void test_empty(void)
{
    uint8_t *gz, *out;
    size_t gzlen = gzip_of((const uint8_t *)"", 0, &gz), len;
    const char *why;
    CHECK_OK(gzip__inflate(gz, gzlen, 100, &out, &len, &why));
    CHECK(len == 0);
    free(out);
    free(gz);
}

int main(void)
{
    test_round_trip();
    test_bomb();
    test_empty();
    return check_summary();
}
