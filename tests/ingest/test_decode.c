/*
 * test_decode.c: the ingest decoder, decode__request(), on hand-built
 * WriteRequest bytes.
 *
 * Every case states what the decoder must give (the batch down to each
 * value, or the refusal with its code and text), and every case is also
 * decoded by the reference decoder (decode_ref.c: protobuf-c's unpack and
 * the old checks), which must agree to the last bit. The cases: packed and
 * unpacked arrays, repeated fields that concatenate, scalars given twice
 * (the last wins), unknown fields of every wire type, groups, field keys of
 * odd lengths, truncated, overlong and 10-byte varints, length prefixes
 * past the end or too long, wrong wire types for known fields, empty
 * series with a type hint, and every validation error.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "decode_ref.h"
#include "pbw.h"

#define T0  INT64_C(1700000000000000000)
#define SEC INT64_C(1000000000)

typedef struct {
    int rc;
    hist_in_result res;
    hist_in_batch *b;
    char *token;
} decoded;

/* Decodes m with the new decoder and the reference; checks they agree. */
static decoded dec_bytes(const uint8_t *p, size_t len, int line)
{
    decoded d, r;
    d.rc = decode__request(p ? p : (const uint8_t *)"", len, &d.b, &d.res, &d.token);
    r.rc = decode_ref_request(p ? p : (const uint8_t *)"", len, &r.b, &r.res, &r.token);
    const char *diff = decode_ref_diff(d.rc, &d.res, d.b, d.token, r.rc, &r.res, r.b, r.token);
    CHECKF(diff == NULL, "line %d: the decoders differ in the %s (rc %d vs %d)", line, diff, d.rc,
           r.rc);
    decode__result_clear(&r.res);
    free(r.b);
    free(r.token);
    if (d.b) { /* the invariants the writer relies on */
        uint64_t samples = 0;
        for (size_t i = 0; i < d.b->nseries; i++) {
            const hist_in_series *s = &d.b->series[i];
            CHECK(s->hash == decode_ref_hash(s->name, s->name_len));
            CHECK(strlen(s->name) == s->name_len);
            samples += s->n;
        }
        CHECK(samples == d.b->samples);
        CHECK(d.b->wire_bytes == len);
    }
    return d;
}
#define DEC(m) dec_bytes((m)->p, (m)->len, __LINE__)

static void dec_free(decoded *d)
{
    decode__result_clear(&d->res);
    free(d->b);
    free(d->token);
}

static bool is_eproto(const decoded *d, size_t len)
{
    char want[128];
    snprintf(want, sizeof want, "the %zu-byte message does not decode as a WriteRequest", len);
    return d->rc == HIST_EPROTO && d->res.code == HIST_EPROTO && !d->b && d->res.error &&
           !strcmp(d->res.error, want) && d->res.nerrors == 0 && d->res.batch_id == 0 &&
           d->res.samples == 0;
}

/* m must be refused as undecodable. */
static void expect_eproto(const pbw *m, int line)
{
    decoded d = dec_bytes(m->p, m->len, line);
    CHECKF(is_eproto(&d, m->len), "line %d: rc %d, error %s", line, d.rc,
           d.res.error ? d.res.error : "(none)");
    dec_free(&d);
}
#define EXPECT_EPROTO(m) expect_eproto(m, __LINE__)

/* m must be refused with one series error (index, code, message start). */
static void expect_series_error(const pbw *m, uint32_t index, int code, const char *msg, int line)
{
    decoded d = dec_bytes(m->p, m->len, line);
    CHECKF(d.rc == code && d.res.code == code && !d.b, "line %d: rc %d, want %d", line, d.rc, code);
    CHECKF(d.res.nerrors == 1, "line %d: %zu errors", line, d.res.nerrors);
    if (d.res.nerrors >= 1) {
        CHECKF(d.res.errors[0].index == index && d.res.errors[0].code == code,
               "line %d: error at %u code %d", line, d.res.errors[0].index, d.res.errors[0].code);
        CHECKF(!strncmp(d.res.errors[0].message, msg, strlen(msg)), "line %d: '%s' is not '%s'",
               line, d.res.errors[0].message, msg);
    }
    dec_free(&d);
}
#define EXPECT_SERIES_ERROR(m, i, code, msg) expect_series_error(m, i, code, msg, __LINE__)

static uint64_t bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u;
}

/* Series i of d's batch is (name, type) with n samples ts / v (as int64
 * bits: a double's bits for float64) / q (NULL: no qualities). */
static void expect_series(const decoded *d, size_t i, const char *name, hist_type type, size_t n,
                          const int64_t *ts, const int64_t *v, const uint32_t *q, int line)
{
    CHECKF(d->rc == 0 && d->b && i < d->b->nseries, "line %d: rc %d", line, d->rc);
    if (!(d->rc == 0 && d->b && i < d->b->nseries))
        return;
    const hist_in_series *s = &d->b->series[i];
    CHECKF(!strcmp(s->name, name), "line %d: name %s, want %s", line, s->name, name);
    CHECKF(s->type == type && s->n == n, "line %d: type %d n %zu, want %d %zu", line, s->type, s->n,
           type, n);
    if (s->n != n)
        return;
    for (size_t k = 0; k < n; k++) {
        CHECKF(s->ts[k] == ts[k], "line %d: ts[%zu] %lld, want %lld", line, k, (long long)s->ts[k],
               (long long)ts[k]);
        CHECKF(s->v[k].i == v[k], "line %d: v[%zu] bits %llx, want %llx", line, k,
               (unsigned long long)s->v[k].i, (unsigned long long)v[k]);
    }
    CHECKF(!q == !s->q, "line %d: qualities %s", line, s->q ? "present" : "absent");
    for (size_t k = 0; q && s->q && k < n; k++)
        CHECKF(s->q[k] == q[k], "line %d: q[%zu] %u, want %u", line, k, s->q[k], q[k]);
}
#define EXPECT_SERIES(d, i, name, type, n, ts, v, q)                                               \
    expect_series(d, i, name, type, n, ts, v, q, __LINE__)

static const int64_t ts3[3] = {T0, SEC, SEC};
static const int64_t abs3[3] = {T0, T0 + SEC, T0 + 2 * SEC};

static void test_packed(void)
{
    pbw m = {0}, s = {0};
    double f[3] = {1.5, -INFINITY, 0};
    uint64_t nan_bits = UINT64_C(0x7ff8000000c0ffee);
    memcpy(&f[2], &nan_bits, 8);
    uint64_t q[3] = {0, 192, UINT32_MAX};
    pbw_uint(&m, 1, 42);
    pbw_str(&m, 2, "secret");
    pbw_str(&s, 1, "site1/a/l/c/temp");
    pbw_packed_sint(&s, 2, ts3, 3);
    pbw_packed_double(&s, 3, f, 3);
    pbw_packed_uint(&s, 6, q, 3);
    pbw_msg(&m, 3, &s);
    int64_t iv[1] = {-5};
    pbw_str(&s, 1, "site1/a/l/c/count");
    pbw_packed_sint(&s, 2, ts3, 1);
    pbw_packed_sint(&s, 4, iv, 1);
    pbw_msg(&m, 3, &s);
    uint64_t bv[2] = {1, 0};
    pbw_str(&s, 1, "site1/a/l/c/run");
    pbw_packed_sint(&s, 2, ts3, 2);
    pbw_packed_uint(&s, 5, bv, 2);
    pbw_msg(&m, 3, &s);
    decoded d = DEC(&m);
    CHECK(d.rc == 0 && d.res.code == 0 && d.res.batch_id == 42 && d.res.samples == 6);
    CHECK(d.token && !strcmp(d.token, "secret"));
    CHECK(d.b && d.b->batch_id == 42 && d.b->nseries == 3 && d.b->samples == 6);
    int64_t fv[3] = {(int64_t)bits(1.5), (int64_t)bits(-INFINITY), (int64_t)nan_bits};
    uint32_t qv[3] = {0, 192, UINT32_MAX};
    EXPECT_SERIES(&d, 0, "site1/a/l/c/temp", HIST_TYPE_FLOAT64, 3, abs3, fv, qv);
    EXPECT_SERIES(&d, 1, "site1/a/l/c/count", HIST_TYPE_INT64, 1, abs3, iv, NULL);
    int64_t bw[2] = {1, 0};
    EXPECT_SERIES(&d, 2, "site1/a/l/c/run", HIST_TYPE_BOOL, 2, abs3, bw, NULL);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

/* Every repeated scalar one element per field, as a proto2 writer or a
 * hand-rolled encoder may send them: parsers must take both encodings. */
static void test_unpacked(void)
{
    pbw m = {0}, s = {0};
    pbw_str(&s, 1, "site1/u/l/c/temp");
    for (int k = 0; k < 3; k++)
        pbw_sint(&s, 2, ts3[k]);
    for (int k = 0; k < 3; k++)
        pbw_double(&s, 3, k + 0.25);
    for (int k = 0; k < 3; k++)
        pbw_uint(&s, 6, (uint64_t)k * 64);
    pbw_msg(&m, 3, &s);
    pbw_str(&s, 1, "site1/u/l/c/count");
    for (int k = 0; k < 3; k++)
        pbw_sint(&s, 2, ts3[k]);
    for (int k = 0; k < 3; k++)
        pbw_sint(&s, 4, -k * 1000000007LL);
    pbw_msg(&m, 3, &s);
    pbw_str(&s, 1, "site1/u/l/c/run");
    pbw_sint(&s, 2, T0);
    pbw_uint(&s, 5, 1);
    pbw_msg(&m, 3, &s);
    decoded d = DEC(&m);
    int64_t fv[3] = {(int64_t)bits(0.25), (int64_t)bits(1.25), (int64_t)bits(2.25)};
    uint32_t qv[3] = {0, 64, 128};
    EXPECT_SERIES(&d, 0, "site1/u/l/c/temp", HIST_TYPE_FLOAT64, 3, abs3, fv, qv);
    int64_t iv[3] = {0, -1000000007LL, -2000000014LL};
    EXPECT_SERIES(&d, 1, "site1/u/l/c/count", HIST_TYPE_INT64, 3, abs3, iv, NULL);
    int64_t one = 1;
    EXPECT_SERIES(&d, 2, "site1/u/l/c/run", HIST_TYPE_BOOL, 1, abs3, &one, NULL);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

/* A repeated field split over several occurrences, packed and unpacked
 * mixed and interleaved with the other fields: the parts concatenate. */
static void test_concatenated(void)
{
    pbw m = {0}, s = {0};
    double f[2] = {10, 20};
    uint64_t q[2] = {1, 2};
    pbw_packed_double(&s, 3, f, 1);
    pbw_packed_sint(&s, 2, ts3, 1);
    pbw_uint(&s, 6, q[0]);
    pbw_str(&s, 1, "site1/c/l/c/temp");
    pbw_sint(&s, 2, SEC);
    pbw_double(&s, 3, 15);
    pbw_packed_sint(&s, 2, ts3 + 2, 1);
    pbw_packed_uint(&s, 6, q, 2);
    pbw_packed_double(&s, 3, f + 1, 1);
    pbw_packed_double(&s, 3, f, 0); /* an empty packed part adds nothing */
    pbw_packed_sint(&s, 2, ts3, 0);
    pbw_msg(&m, 3, &s);
    uint64_t b[2] = {0, 1};
    pbw_str(&s, 1, "site1/c/l/c/run");
    pbw_packed_sint(&s, 2, ts3, 2);
    pbw_packed_uint(&s, 5, b, 1);
    pbw_uint(&s, 5, 7); /* any non-zero varint is true */
    pbw_sint(&s, 2, SEC);
    pbw_packed_uint(&s, 5, b + 1, 1);
    pbw_msg(&m, 3, &s);
    decoded d = DEC(&m);
    int64_t fv[3] = {(int64_t)bits(10), (int64_t)bits(15), (int64_t)bits(20)};
    uint32_t qv[3] = {1, 1, 2};
    EXPECT_SERIES(&d, 0, "site1/c/l/c/temp", HIST_TYPE_FLOAT64, 3, abs3, fv, qv);
    int64_t bv[3] = {0, 1, 1};
    EXPECT_SERIES(&d, 1, "site1/c/l/c/run", HIST_TYPE_BOOL, 3, abs3, bv, NULL);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

/* A scalar field given twice: the last value counts (batch_id, token, a
 * series' tag and type hint). */
static void test_last_wins(void)
{
    pbw m = {0}, s = {0};
    pbw_uint(&m, 1, 1);
    pbw_str(&m, 2, "first");
    pbw_str(&s, 1, "bad//name");
    pbw_uint(&s, 7, 9);
    pbw_str(&s, 1, "site1/w/l/c/x");
    pbw_uint(&s, 7, 2);
    pbw_msg(&m, 3, &s);
    pbw_uint(&m, 1, 77);
    pbw_str(&m, 2, "second");
    decoded d = DEC(&m);
    CHECK(d.rc == 0 && d.res.batch_id == 77 && d.b && d.b->batch_id == 77);
    CHECK(d.token && !strcmp(d.token, "second"));
    EXPECT_SERIES(&d, 0, "site1/w/l/c/x", HIST_TYPE_INT64, 0, NULL, NULL, NULL);
    dec_free(&d);
    /* the last token empty: no token */
    pbw_str(&m, 2, "");
    d = DEC(&m);
    CHECK(d.rc == 0 && d.token == NULL);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

/* Unknown fields of each wire type, with short and long keys, at both
 * levels: skipped. Groups and wire types 6 and 7: refused, as protobuf-c
 * refuses them. */
static void test_unknown_fields(void)
{
    static const uint64_t fields[] = {
        8, 15, 16, 1000, (UINT64_C(1) << 29) - 1, UINT64_C(0xffffffff)};
    pbw m = {0}, s = {0};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        uint64_t f = fields[i];
        pbw_uint(&m, f, UINT64_MAX);
        pbw_fixed64(&m, f, 1);
        pbw_str(&m, f, "\x08\x01 not a message");
        pbw_fixed32(&m, f, 2);
        pbw_uint(&s, f, 5);
        pbw_fixed64(&s, f, 6);
        pbw_bytes(&s, f, "", 0);
        pbw_fixed32(&s, f, 7);
    }
    /* field number 0 in a 2-byte key: protobuf-c takes it as unknown */
    pbw_byte(&s, 0x80), pbw_byte(&s, 0x00), pbw_varint(&s, 3);
    pbw_str(&s, 1, "site1/k/l/c/x");
    pbw_packed_sint(&s, 2, ts3, 1);
    pbw_double(&s, 3, 1);
    pbw_msg(&m, 3, &s);
    pbw_uint(&m, 1, 5);
    decoded d = DEC(&m);
    int64_t one = (int64_t)bits(1);
    CHECK(d.rc == 0 && d.res.batch_id == 5);
    EXPECT_SERIES(&d, 0, "site1/k/l/c/x", HIST_TYPE_FLOAT64, 1, abs3, &one, NULL);
    dec_free(&d);
    pbw_free(&m);

    /* a 5-byte key for field 1 is still field 1; a 6-byte one is refused */
    static const uint8_t key5[] = {0x88, 0x80, 0x80, 0x80, 0x00, 0x09};
    pbw_raw(&m, key5, sizeof key5);
    d = DEC(&m);
    CHECK(d.rc == 0 && d.res.batch_id == 9);
    dec_free(&d);
    pbw_free(&m);
    static const uint8_t key6[] = {0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x09};
    pbw_raw(&m, key6, sizeof key6);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    /* a one-byte key with field number 0 */
    for (uint8_t k = 0; k < 8; k++) {
        pbw_byte(&m, k), pbw_byte(&m, 0);
        EXPECT_EPROTO(&m);
        pbw_free(&m);
    }
    /* groups (3, 4) and the unused wire types 6, 7, known or not, at
     * either level */
    for (unsigned wt = 3; wt <= 7; wt += (wt == 4 ? 2 : 1)) {
        for (uint64_t f = 1; f <= 9; f += 8) {
            pbw_key(&m, f, wt);
            pbw_key(&m, f, 4);
            EXPECT_EPROTO(&m);
            pbw_free(&m);
            pbw_key(&s, f, wt);
            pbw_key(&s, f, 4);
            pbw_msg(&m, 3, &s);
            EXPECT_EPROTO(&m);
            pbw_free(&m);
        }
    }
    pbw_free(&s);
}

/* Varints: cut short, over 10 bytes, or 10 bytes whose last is above 1
 * (protobuf-c keeps its low bit, drops the rest). */
static void test_varints(void)
{
    pbw m = {0}, s = {0};
    pbw_byte(&m, 0x08), pbw_byte(&m, 0x80); /* batch_id, cut short */
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_byte(&m, 0x08); /* batch_id, 11 bytes */
    for (int i = 0; i < 10; i++)
        pbw_byte(&m, 0x81);
    pbw_byte(&m, 0x00);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_byte(&m, 0x08); /* batch_id, 10 bytes, the last 0x7f */
    for (int i = 0; i < 9; i++)
        pbw_byte(&m, 0xff);
    pbw_byte(&m, 0x7f);
    decoded d = DEC(&m);
    CHECK(d.rc == 0 && d.res.batch_id == UINT64_MAX);
    dec_free(&d);
    pbw_free(&m);
    pbw_byte(&m, 0x08); /* 10 bytes, the last 0x02: the value is 0 */
    for (int i = 0; i < 9; i++)
        pbw_byte(&m, 0x80);
    pbw_byte(&m, 0x02);
    pbw_uint(&m, 1, 3); /* then 3: proves the 10 bytes were taken whole */
    d = DEC(&m);
    CHECK(d.rc == 0 && d.res.batch_id == 3);
    dec_free(&d);
    pbw_free(&m);

    /* packed: the last element cut short; an element over 10 bytes */
    static const uint8_t cut[] = {0x12, 0x02, 0x02, 0x80};
    static const uint8_t tag[] = {0x0a, 0x05, 's', '/', 'a', '/', 'b'};
    pbw_raw(&s, tag, sizeof tag), pbw_raw(&s, cut, sizeof cut);
    pbw_msg(&m, 3, &s);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_raw(&s, tag, sizeof tag);
    pbw_byte(&s, 0x22), pbw_byte(&s, 11); /* i64, 11 bytes */
    for (int i = 0; i < 10; i++)
        pbw_byte(&s, 0x80);
    pbw_byte(&s, 0x01);
    pbw_msg(&m, 3, &s);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    /* a 10-byte element is fine and an 11-byte one is not, wherever it
     * starts (packed arrays are counted eight bytes at a time) */
    for (size_t at = 0; at < 20; at++) {
        for (int len = 10; len <= 11; len++) {
            pbw body = {0};
            for (size_t k = 0; k < at; k++)
                pbw_byte(&body, (uint8_t)(k % 3 ? 0x05 : 0x81)); /* short varints */
            if (at % 3 == 1)
                pbw_byte(&body, 0x01); /* ends a 0x81 left open */
            size_t before = 0;
            for (size_t k = 0; k < body.len; k++)
                before += !(body.p[k] & 0x80);
            for (int k = 0; k < len - 1; k++)
                pbw_byte(&body, 0x80);
            pbw_byte(&body, 0x00);
            pbw_byte(&body, 0x02), pbw_byte(&body, 0x04);
            pbw_raw(&s, tag, sizeof tag);
            for (size_t k = 0; k < before + 3; k++)
                pbw_sint(&s, 2, k ? 1 : T0);
            pbw_bytes(&s, 4, body.p, body.len);
            pbw_msg(&m, 3, &s);
            d = DEC(&m);
            if (len == 10)
                CHECKF(d.rc == 0 && d.b && d.b->series[0].n == before + 3, "element at %zu: rc %d",
                       at, d.rc);
            else
                CHECKF(is_eproto(&d, m.len), "element at %zu: rc %d", at, d.rc);
            dec_free(&d);
            pbw_free(&m);
            pbw_free(&body);
        }
    }
    /* a bool of 10 bytes 0x80 .. 0x80 0x02 is true (its value cut to 64
     * bits is 0: protobuf-c looks at the bytes); a quality of 6 bytes
     * keeps its low 32 bits; a type hint of -1 in 10 bytes is -1 */
    pbw_raw(&s, tag, sizeof tag);
    pbw_sint(&s, 2, T0);
    pbw_byte(&s, 0x2a), pbw_byte(&s, 10);
    for (int i = 0; i < 9; i++)
        pbw_byte(&s, 0x80);
    pbw_byte(&s, 0x02);
    pbw_uint(&s, 6, UINT64_C(0x3300000007));
    pbw_msg(&m, 3, &s);
    d = DEC(&m);
    int64_t one = 1;
    uint32_t q = 7;
    EXPECT_SERIES(&d, 0, "s/a/b", HIST_TYPE_BOOL, 1, abs3, &one, &q);
    dec_free(&d);
    pbw_free(&m);
    pbw_raw(&s, tag, sizeof tag);
    pbw_uint(&s, 7, UINT64_MAX);
    pbw_msg(&m, 3, &s);
    EXPECT_SERIES_ERROR(&m, 0, HIST_EINVAL, "unknown type hint -1");
    pbw_free(&m);
    pbw_free(&s);
}

/* Length prefixes: past the end, over 5 bytes, over INT_MAX; a packed
 * double array whose length is not a multiple of 8. */
static void test_lengths(void)
{
    pbw m = {0}, s = {0};
    pbw_byte(&m, 0x1a), pbw_byte(&m, 0x05), pbw_byte(&m, 0x0a), pbw_byte(&m, 0x00);
    EXPECT_EPROTO(&m); /* a series 5 bytes long with 2 there */
    pbw_free(&m);
    pbw_byte(&m, 0x12), pbw_byte(&m, 0x01); /* a token 1 byte long with none */
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    static const uint8_t len5[] = {0x12, 0x80, 0x80, 0x80, 0x80, 0x00};
    pbw_raw(&m, len5, sizeof len5); /* an empty token in a 5-byte prefix */
    decoded d = DEC(&m);
    CHECK(d.rc == 0 && d.token == NULL);
    dec_free(&d);
    pbw_free(&m);
    static const uint8_t len6[] = {0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    pbw_raw(&m, len6, sizeof len6);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    static const uint8_t huge[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    pbw_raw(&m, huge, sizeof huge);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    /* a series whose inner field runs past the series' own end (though not
     * past the request's) */
    pbw_byte(&m, 0x1a), pbw_byte(&m, 0x02), pbw_byte(&m, 0x0a), pbw_byte(&m, 0x03);
    pbw_raw(&m, "s/x", 3);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_str(&s, 1, "s/x");
    pbw_sint(&s, 2, T0);
    pbw_bytes(&s, 3, "12345678abcd", 12);
    pbw_msg(&m, 3, &s);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_free(&s);
}

/* A known field in a wire type it does not have: refused, except the
 * bools, which protobuf-c reads from any fixed-size field as well. */
static void test_wrong_wire_types(void)
{
    pbw m = {0}, s = {0};
    pbw_str(&m, 1, "x"); /* batch_id */
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_fixed64(&m, 1, 1);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_uint(&m, 2, 1); /* token */
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_uint(&m, 3, 1); /* series */
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    pbw_fixed32(&m, 3, 1);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
    struct {
        uint64_t field;
        unsigned wt;
    } bad[] = {{1, 0}, {1, 1}, {2, 1}, {2, 5}, {3, 0}, {3, 5}, {4, 1},
               {4, 5}, {6, 1}, {6, 5}, {7, 1}, {7, 2}, {7, 5}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pbw_str(&s, 1, "s/x");
        pbw_key(&s, bad[i].field, bad[i].wt);
        if (bad[i].wt == 0)
            pbw_varint(&s, 1);
        else if (bad[i].wt == 2)
            pbw_varint(&s, 0);
        else
            pbw_raw(&s, "\x01\x00\x00\x00\x00\x00\x00\x00", bad[i].wt == 1 ? 8 : 4);
        pbw_msg(&m, 3, &s);
        decoded d = DEC(&m);
        CHECKF(is_eproto(&d, m.len), "field %llu wire type %u: rc %d",
               (unsigned long long)bad[i].field, bad[i].wt, d.rc);
        dec_free(&d);
        pbw_free(&m);
    }
    /* bools from 8 and 4 bytes: true when a byte has any of its low 7
     * bits set (0x80 alone is false) */
    pbw_str(&s, 1, "s/b");
    pbw_packed_sint(&s, 2, ts3, 3);
    pbw_fixed64(&s, 5, UINT64_C(0x0100000000000000));
    pbw_fixed32(&s, 5, 0x80);
    pbw_fixed32(&s, 5, 0);
    pbw_msg(&m, 3, &s);
    decoded d = DEC(&m);
    int64_t bv[3] = {1, 0, 0};
    EXPECT_SERIES(&d, 0, "s/b", HIST_TYPE_BOOL, 3, abs3, bv, NULL);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

/* An empty series takes its type from the hint (float64 without one), and
 * is valid; an empty Series message has no tag: a bad name. */
static void test_empty_series(void)
{
    pbw m = {0}, s = {0};
    static const hist_type want[4] = {HIST_TYPE_FLOAT64, HIST_TYPE_FLOAT64, HIST_TYPE_INT64,
                                      HIST_TYPE_BOOL};
    for (unsigned hint = 0; hint <= 3; hint++) {
        pbw_str(&s, 1, "site1/e/l/c/x");
        if (hint)
            pbw_uint(&s, 7, hint);
        pbw_msg(&m, 3, &s);
        decoded d = DEC(&m);
        EXPECT_SERIES(&d, 0, "site1/e/l/c/x", want[hint], 0, NULL, NULL, NULL);
        CHECK(d.b && d.b->samples == 0);
        dec_free(&d);
        pbw_free(&m);
    }
    pbw_msg(&m, 3, &s);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ENAME, "bad tag name");
    pbw_free(&m);
    /* no series at all, and no bytes at all: an empty, valid batch */
    decoded d = dec_bytes(NULL, 0, __LINE__);
    CHECK(d.rc == 0 && d.b && d.b->nseries == 0 && d.token == NULL);
    dec_free(&d);
    pbw_free(&s);
}

/* One series with arrays (ts, f64, i64, b, q: counts; NULL = absent). */
static void add_series(pbw *m, const char *tag, const int64_t *ts, size_t nts, size_t nf, size_t ni,
                       size_t nb, size_t nq, int hint)
{
    pbw s = {0};
    pbw_str(&s, 1, tag);
    pbw_packed_sint(&s, 2, ts, nts);
    for (size_t k = 0; k < nf; k++)
        pbw_double(&s, 3, 1.0);
    for (size_t k = 0; k < ni; k++)
        pbw_sint(&s, 4, 1);
    for (size_t k = 0; k < nb; k++)
        pbw_uint(&s, 5, 1);
    for (size_t k = 0; k < nq; k++)
        pbw_uint(&s, 6, 0);
    if (hint)
        pbw_uint(&s, 7, (uint64_t)(int64_t)hint);
    pbw_msg(m, 3, &s);
    pbw_free(&s);
}

static void test_validation(void)
{
    pbw m = {0};
    add_series(&m, "site1//x", ts3, 1, 1, 0, 0, 0, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ENAME, "bad tag name");
    pbw_free(&m);
    add_series(&m, "site1/v/ok", ts3, 1, 1, 0, 0, 0, 0);
    add_series(&m, "site1/v/two", ts3, 1, 1, 1, 0, 0, 0);
    EXPECT_SERIES_ERROR(&m, 1, HIST_EINVAL, "more than one of f64, i64, b is filled");
    pbw_free(&m);
    add_series(&m, "site1/v/x", ts3, 2, 0, 0, 1, 0, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_EINVAL, "unequal arrays: 2 timestamps, 1 values");
    pbw_free(&m);
    add_series(&m, "site1/v/x", ts3, 2, 2, 0, 0, 1, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_EINVAL, "unequal arrays: 2 timestamps, 1 qualities");
    pbw_free(&m);
    add_series(&m, "site1/v/x", ts3, 1, 1, 0, 0, 0, 4);
    EXPECT_SERIES_ERROR(&m, 0, HIST_EINVAL, "unknown type hint 4");
    pbw_free(&m);
    add_series(&m, "site1/v/x", ts3, 1, 1, 0, 0, 0, 2);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ETYPE, "type hint int64 but float64 values");
    pbw_free(&m);
    int64_t over[2] = {HIST_TS_MAX, INT64_MAX};
    add_series(&m, "site1/v/x", over, 2, 2, 0, 0, 0, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ERANGE, "sample 1: timestamp overflows int64");
    pbw_free(&m);
    int64_t past[3] = {HIST_TS_MAX - 1, 1, 1};
    add_series(&m, "site1/v/x", past, 3, 3, 0, 0, 0, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ERANGE, "sample 2: timestamp 6311390400000000001 ns outside");
    pbw_free(&m);
    int64_t low[1] = {HIST_TS_MIN - 1};
    add_series(&m, "site1/v/x", low, 1, 1, 0, 0, 0, 0);
    EXPECT_SERIES_ERROR(&m, 0, HIST_ERANGE, "sample 0: timestamp");
    pbw_free(&m);
    /* one tag with two types in a request: the later series is wrong */
    add_series(&m, "site1/v/same", ts3, 1, 1, 0, 0, 0, 0);
    add_series(&m, "site1/v/other", ts3, 1, 0, 1, 0, 0, 0);
    add_series(&m, "site1/v/same", ts3, 1, 0, 1, 0, 0, 0);
    add_series(&m, "site1/v/same", ts3, 1, 1, 0, 0, 0, 0); /* agrees with the first */
    EXPECT_SERIES_ERROR(&m, 2, HIST_ETYPE,
                        "type conflict: series 2 has int64 values, series 0 of the same tag "
                        "float64");
    pbw_free(&m);

    /* every bad series is reported, in order; the first code is the
     * request's; the samples are counted though nothing is written */
    add_series(&m, "site1/v/a", ts3, 1, 1, 0, 0, 0, 0);
    add_series(&m, "bad//1", ts3, 1, 1, 0, 0, 0, 0);
    add_series(&m, "site1/v/b", ts3, 2, 2, 0, 0, 0, 0);
    add_series(&m, "site1/v/c", over, 2, 2, 0, 0, 0, 0);
    add_series(&m, "site1/v/c", ts3, 1, 0, 1, 0, 0, 0); /* not reached: conflicts come last */
    pbw_uint(&m, 1, 31);
    decoded d = DEC(&m);
    CHECK(d.rc == HIST_ENAME && d.res.code == HIST_ENAME && !d.b && d.res.written == 0);
    CHECK(d.res.batch_id == 31 && d.res.samples == 7 && d.res.nerrors == 2);
    if (d.res.nerrors == 2) {
        CHECK(d.res.errors[0].index == 1 && !strcmp(d.res.errors[0].tag, "bad//1"));
        CHECK(d.res.errors[1].index == 3 && d.res.errors[1].code == HIST_ERANGE);
    }
    dec_free(&d);
    pbw_free(&m);

    /* at most 100 errors are listed */
    for (int i = 0; i < 150; i++)
        add_series(&m, "bad//", ts3, 1, 1, 0, 0, 0, 0);
    d = DEC(&m);
    CHECK(d.rc == HIST_ENAME && d.res.nerrors == 100 && d.res.error &&
          !strcmp(d.res.error, "more series errors not listed"));
    dec_free(&d);
    pbw_free(&m);

    /* a series that does not decode after bad ones: only the undecodable
     * message is reported */
    add_series(&m, "bad//1", ts3, 1, 1, 0, 0, 0, 0);
    pbw_byte(&m, 0x1a), pbw_byte(&m, 0x01), pbw_byte(&m, 0x08);
    EXPECT_EPROTO(&m);
    pbw_free(&m);
}

/* Strings: protobuf-c checks no UTF-8 and keeps every byte. A NUL inside
 * a tag name is refused (read as a C string it would name another tag:
 * issue 12); the token is read as a C string (up to a NUL). */
static void test_strings(void)
{
    pbw m = {0}, s = {0};
    pbw_bytes(&s, 1, "site1/n/x\0junk", 14);
    pbw_packed_sint(&s, 2, ts3, 1);
    pbw_double(&s, 3, 2);
    pbw_msg(&m, 3, &s);
    decoded d = DEC(&m);
    CHECK(d.rc == HIST_ENAME && d.res.nerrors == 1 && !d.b);
    if (d.res.nerrors == 1)
        CHECKF(strstr(d.res.errors[0].message, "a NUL byte at offset 9") != NULL, "message: %s",
               d.res.errors[0].message);
    dec_free(&d);
    pbw_free(&m);
    pbw_str(&s, 1, "site1/n/x");
    pbw_packed_sint(&s, 2, ts3, 1);
    pbw_double(&s, 3, 2);
    pbw_msg(&m, 3, &s);
    pbw_bytes(&m, 2, "\xff\xfe-tok", 6); /* not UTF-8: taken as it is */
    d = DEC(&m);
    int64_t two = (int64_t)bits(2);
    EXPECT_SERIES(&d, 0, "site1/n/x", HIST_TYPE_FLOAT64, 1, abs3, &two, NULL);
    CHECK(d.token && !strcmp(d.token, "\xff\xfe-tok"));
    dec_free(&d);
    pbw_bytes(&m, 2, "\0tok", 4); /* empty as a C string: no token */
    d = DEC(&m);
    CHECK(d.rc == 0 && d.token == NULL);
    dec_free(&d);
    pbw_free(&m);
    /* a tag that is not UTF-8 is a bad name; the error's tag is made
     * printable */
    pbw_str(&s, 1, "site1/\xff/x");
    pbw_msg(&m, 3, &s);
    d = DEC(&m);
    CHECK(d.rc == HIST_ENAME && d.res.nerrors == 1);
    if (d.res.nerrors == 1)
        CHECK(!strcmp(d.res.errors[0].tag, "site1/?/x"));
    dec_free(&d);
    pbw_free(&m);
    /* a tag over 255 bytes: a bad name, its error tag cut at 256 bytes */
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    pbw_str(&s, 1, longname);
    pbw_msg(&m, 3, &s);
    d = DEC(&m);
    CHECK(d.rc == HIST_ENAME && d.res.nerrors == 1);
    if (d.res.nerrors == 1)
        CHECK(strlen(d.res.errors[0].tag) == HIST_TAG_NAME_MAX + 1);
    dec_free(&d);
    pbw_free(&m);
    pbw_free(&s);
}

static void test_not_protobuf(void)
{
    decoded d = dec_bytes((const uint8_t *)"\x0f\xff\xff\xff", 4, __LINE__);
    CHECK(is_eproto(&d, 4));
    CHECK(d.token == NULL);
    dec_free(&d);
}

int main(void)
{
    test_packed();
    test_unpacked();
    test_concatenated();
    test_last_wins();
    test_unknown_fields();
    test_varints();
    test_lengths();
    test_wrong_wire_types();
    test_empty_series();
    test_validation();
    test_strings();
    test_not_protobuf();
    return check_summary();
}
