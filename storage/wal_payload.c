/*
 * wal_payload.c: the payload of a WAL record: one hist_db_write batch.
 * The WAL frames and checks records (wal.c); this is what is inside.
 *
 * Layout, all varints LEB128:
 *   u8 version (1), varint nseries, then per series:
 *   varint tag, varint n, zigzag varint ts[0] then zigzag deltas ts[i]-ts[i-1],
 *   n raw 8-byte values (host order), varint nruns, nruns x (varint len,
 *   varint quality).
 * Decoding checks every length against the record and calls back once per
 * series; a payload that does not decode is HIST_ECORRUPT.
 */
#include "storage/db_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- WAL payload ----------------------------------------------------------- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return HIST_ECORRUPT;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return HIST_ECORRUPT;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

size_t hist_payload_bound(const hist_series *s, size_t ns)
{
    size_t b = 1 + 10;
    for (size_t i = 0; i < ns; i++)
        b += 10 + 10 + 10 + s[i].n * (10 + 8 + 10 + 5);
    return b;
}

size_t hist_payload_encode(const hist_series *s, size_t ns, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = 1;
    p = put_varint(p, ns);
    for (size_t i = 0; i < ns; i++) {
        p = put_varint(p, s[i].tag);
        p = put_varint(p, s[i].n);
        int64_t prev = 0;
        for (size_t j = 0; j < s[i].n; j++) {
            /* Timestamps are within +-HIST_TS_MAX, so deltas fit int64. */
            p = put_varint(p, zigzag((int64_t)((uint64_t)s[i].ts[j] - (uint64_t)prev)));
            prev = s[i].ts[j];
        }
        memcpy(p, s[i].v, s[i].n * 8);
        p += s[i].n * 8;
        size_t runs = 0;
        /* Count runs first so nruns can precede them. */
        for (size_t j = 0; j < s[i].n;) {
            uint32_t q = s[i].q ? s[i].q[j] : 0;
            size_t k = j + 1;
            while (k < s[i].n && (s[i].q ? s[i].q[k] : 0) == q)
                k++;
            runs++;
            j = k;
        }
        p = put_varint(p, runs);
        for (size_t j = 0; j < s[i].n;) {
            uint32_t q = s[i].q ? s[i].q[j] : 0;
            size_t k = j + 1;
            while (k < s[i].n && (s[i].q ? s[i].q[k] : 0) == q)
                k++;
            p = put_varint(p, k - j);
            p = put_varint(p, q);
            j = k;
        }
    }
    return (size_t)(p - out);
}

int hist_payload_decode(const uint8_t *p, size_t len, hist_payload_fn fn, void *ctx)
{
    const uint8_t *end = p + len;
    if (len < 1 || *p++ != 1)
        return HIST_ECORRUPT;
    uint64_t ns;
    if (get_varint(&p, end, &ns))
        return HIST_ECORRUPT;
    int64_t *ts = NULL;
    hist_value *v = NULL;
    uint32_t *q = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint64_t i = 0; i < ns && rc == 0; i++) {
        uint64_t tag, n;
        if (get_varint(&p, end, &tag) || get_varint(&p, end, &n) || tag > UINT32_MAX ||
            n > (size_t)(end - p)) {
            rc = HIST_ECORRUPT;
            break;
        }
        if (n > cap) {
            free(ts), free(v), free(q);
            cap = n;
            ts = malloc(cap * sizeof(*ts));
            v = malloc(cap * sizeof(*v));
            q = malloc(cap * sizeof(*q));
            if (!ts || !v || !q) {
                rc = HIST_ENOMEM;
                break;
            }
        }
        int64_t prev = 0;
        for (uint64_t j = 0; j < n && rc == 0; j++) {
            uint64_t z = 0;
            if (get_varint(&p, end, &z))
                rc = HIST_ECORRUPT;
            prev = (int64_t)((uint64_t)prev + (uint64_t)unzigzag(z));
            ts[j] = prev;
        }
        if (rc || (size_t)(end - p) < n * 8) {
            rc = HIST_ECORRUPT;
            break;
        }
        memcpy(v, p, n * 8);
        p += n * 8;
        uint64_t runs, filled = 0;
        if (get_varint(&p, end, &runs)) {
            rc = HIST_ECORRUPT;
            break;
        }
        for (uint64_t r = 0; r < runs && rc == 0; r++) {
            uint64_t rl, qv;
            if (get_varint(&p, end, &rl) || get_varint(&p, end, &qv) || rl > n - filled ||
                qv > UINT32_MAX) {
                rc = HIST_ECORRUPT;
                break;
            }
            for (uint64_t j = 0; j < rl; j++)
                q[filled++] = (uint32_t)qv;
        }
        if (rc == 0 && filled != n)
            rc = HIST_ECORRUPT;
        if (rc == 0 && n > 0)
            rc = fn(ctx, (uint32_t)tag, (size_t)n, ts, v, q);
    }
    free(ts), free(v), free(q);
    return rc;
}
