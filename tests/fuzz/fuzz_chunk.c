/*
 * fuzz_chunk.c: libFuzzer target for the chunk codecs (storage/codec/).
 *
 * Each input is used twice:
 *   1. as a chunk: chunk__decode() must not crash or read out of bounds
 *      (ASan), and what it accepts must be valid (sorted unique timestamps,
 *      bools 0/1): it is re-encoded and decoded again, bit-exactly;
 *   2. as samples: the bytes are turned into a sorted series (timestamp
 *      gaps, values as raw bits, short decimals or repeats, qualities),
 *      encoded, decoded and compared bit for bit.
 * Any mismatch aborts, which libFuzzer reports as a crash (a fresh chunk
 * that does not decode first names the check that refused it).
 */
#include "storage/chunk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CAP 4096

typedef struct {
    const uint8_t *p;
    size_t left;
} byte_source;

static uint64_t take(byte_source *s, unsigned nbytes)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < nbytes && s->left; i++, s->left--)
        x |= (uint64_t)*s->p++ << (8 * i);
    return x;
}

static void roundtrip_or_abort(hist_type type, const int64_t *ts, const hist_value *v,
                               const uint32_t *q, size_t n)
{
    size_t cap = chunk__bound(n);
    uint8_t *buf = malloc(cap);
    int64_t *ts2 = malloc(n * sizeof(*ts2));
    hist_value *v2 = malloc(n * sizeof(*v2));
    uint32_t *q2 = malloc(n * sizeof(*q2));
    if (!buf || !ts2 || !v2 || !q2)
        abort();
    int64_t len = chunk__encode(type, ts, v, q, n, buf, cap);
    if (len <= 0 || (size_t)len > cap)
        abort();
    hist_chunk_fault fault;
    int64_t got = chunk__decode_traced(buf, (size_t)len, ts2, v2, q2, n, &fault);
    if (got != (int64_t)n) { /* its own chunk refused: say which check did */
        fprintf(stderr, "fuzz_chunk: decode of a fresh chunk returned %lld at %s:%d\n",
                (long long)got, fault.file ? fault.file : "?", fault.line);
        abort();
    }
    for (size_t i = 0; i < n; i++)
        if (ts2[i] != ts[i] || v2[i].bits != v[i].bits || q2[i] != (q ? q[i] : HIST_QUALITY_GOOD))
            abort();
    free(buf);
    free(ts2);
    free(v2);
    free(q2);
}

static void fuzz_decode(const uint8_t *data, size_t size, int64_t *ts, hist_value *v, uint32_t *q)
{
    /* An exact-size copy, so that ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    int64_t n = chunk__decode(copy, size, ts, v, q, FUZZ_CAP);
    if (n > 0) {
        hist_chunk_info info;
        if (chunk__peek(copy, size, &info) != 0 || info.count != (uint32_t)n)
            abort();
        for (int64_t i = 1; i < n; i++)
            if (ts[i] <= ts[i - 1])
                abort();
        roundtrip_or_abort(info.type, ts, v, q, (size_t)n);
    } else if (n != HIST_ECORRUPT && n != HIST_ENOSPC && n != HIST_ENOMEM) {
        abort();
    }
    free(copy);
}

static void fuzz_samples(const uint8_t *data, size_t size, int64_t *ts, hist_value *v, uint32_t *q)
{
    byte_source s = {data, size};
    uint8_t mode = (uint8_t)take(&s, 1);
    hist_type type = (hist_type)(1 + mode % 3);
    unsigned ts_width = 1 + (mode >> 2) % 8; /* bytes per timestamp gap */
    uint64_t t = take(&s, 8);
    size_t n = 0;
    int64_t prev_k = 0;
    while (s.left && n < FUZZ_CAP) {
        uint8_t op = (uint8_t)take(&s, 1);
        uint64_t gap = 1 + take(&s, ts_width);
        if (n > 0) {
            if (t + gap < t || (int64_t)(t + gap) <= (int64_t)t)
                break; /* would leave the int64 range: stop here */
            t += gap;
        }
        ts[n] = (int64_t)t;
        switch (op & 3) {
        case 0:
            v[n].bits = take(&s, 8);
            break;
        case 1: /* a short decimal */
            prev_k = (int64_t)(int16_t)take(&s, 2);
            v[n].f = (double)prev_k / pow(10, (op >> 2) % 7);
            break;
        case 2:
            v[n] = n ? v[n - 1] : v[n];
            break;
        default:
            prev_k += (int8_t)take(&s, 1);
            v[n].f = (double)prev_k / 100;
            break;
        }
        if (n == 0 && (op & 3) == 2)
            v[n].bits = 0;
        if (type != HIST_TYPE_FLOAT64)
            v[n].i = type == HIST_TYPE_BOOL ? (int64_t)(v[n].bits & 1) : (int64_t)v[n].bits;
        q[n] = (op & 0x80) ? (uint32_t)take(&s, 4) : HIST_QUALITY_GOOD;
        n++;
    }
    if (n > 0)
        roundtrip_or_abort(type, ts, v, (mode & 0x40) ? NULL : q, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t *ts = malloc(FUZZ_CAP * sizeof(*ts));
    hist_value *v = malloc(FUZZ_CAP * sizeof(*v));
    uint32_t *q = malloc(FUZZ_CAP * sizeof(*q));
    if (!ts || !v || !q)
        abort();
    fuzz_decode(data, size, ts, v, q);
    fuzz_samples(data, size, ts, v, q);
    free(ts);
    free(v);
    free(q);
    return 0;
}
