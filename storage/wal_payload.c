/*
 * wal_payload.c: the payload of a WAL record: one hist_db_write batch.
 * The WAL frames and checks records (wal.c); this is what is inside.
 *
 * Layout, all varints LEB128 (common/hist_varint.h: at most 64 bits):
 *   u8 version (1), varint nseries, then per series:
 *   varint tag, varint n, zigzag varint ts[0] then zigzag deltas ts[i]-ts[i-1],
 *   n raw 8-byte values (host order), varint nruns, nruns x (varint len,
 *   varint quality).
 * Decoding checks every length against the record and calls back once per
 * series; a payload that does not decode is HIST_ECORRUPT.
 */
#include "storage/db_internal.h"

#include "common/hist_varint.h"

#include <stdlib.h>
#include <string.h>

/* ---- WAL payload ----------------------------------------------------------- */

size_t payload__bound(const hist_series *s, size_t ns)
{
    size_t b = 1 + 10;
    for (size_t i = 0; i < ns; i++)
        b += 10 + 10 + 10 + s[i].n * (10 + 8 + 10 + 5);
    return b;
}

size_t payload__encode(const hist_series *s, size_t ns, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = 1;
    p = hist_varint_put(p, ns);
    for (size_t i = 0; i < ns; i++) {
        p = hist_varint_put(p, s[i].tag);
        p = hist_varint_put(p, s[i].n);
        int64_t prev = 0;
        for (size_t j = 0; j < s[i].n; j++) {
            /* Timestamps are within +-HIST_TS_MAX, so deltas fit int64. */
            p = hist_varint_put(p, hist_zigzag((int64_t)((uint64_t)s[i].ts[j] - (uint64_t)prev)));
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
        p = hist_varint_put(p, runs);
        for (size_t j = 0; j < s[i].n;) {
            uint32_t q = s[i].q ? s[i].q[j] : 0;
            size_t k = j + 1;
            while (k < s[i].n && (s[i].q ? s[i].q[k] : 0) == q)
                k++;
            p = hist_varint_put(p, k - j);
            p = hist_varint_put(p, q);
            j = k;
        }
    }
    return (size_t)(p - out);
}

int payload__decode(const uint8_t *p, size_t len, hist_payload_fn fn, void *ctx)
{
    const uint8_t *end = p + len;
    if (len < 1 || *p++ != 1)
        return HIST_ECORRUPT;
    uint64_t ns;
    if (hist_varint_get(&p, end, &ns))
        return HIST_ECORRUPT;
    int64_t *ts = NULL;
    hist_value *v = NULL;
    uint32_t *q = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint64_t i = 0; i < ns && rc == 0; i++) {
        uint64_t tag, n;
        if (hist_varint_get(&p, end, &tag) || hist_varint_get(&p, end, &n) || tag > UINT32_MAX ||
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
            if (hist_varint_get(&p, end, &z))
                rc = HIST_ECORRUPT;
            prev = (int64_t)((uint64_t)prev + (uint64_t)hist_unzigzag(z));
            ts[j] = prev;
        }
        if (rc || (size_t)(end - p) < n * 8) {
            rc = HIST_ECORRUPT;
            break;
        }
        memcpy(v, p, n * 8);
        p += n * 8;
        uint64_t runs, filled = 0;
        if (hist_varint_get(&p, end, &runs)) {
            rc = HIST_ECORRUPT;
            break;
        }
        for (uint64_t r = 0; r < runs && rc == 0; r++) {
            uint64_t rl, qv;
            if (hist_varint_get(&p, end, &rl) || hist_varint_get(&p, end, &qv) || rl > n - filled ||
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
