/*
 * wal_payload.c: the payload of a WAL record: one hist_db_write batch.
 * The WAL frames and checks records (wal.c); this is what is inside.
 *
 * Layout, all varints LEB128 (common/hist_varint.h: at most 64 bits):
 *   u8 version (3), varint nseries, then per series:
 *   zigzag varint tag - the previous series' tag, varint n, zigzag varint
 *   ts[0] - the previous series' ts[0], then zigzag deltas ts[i]-ts[i-1],
 *   n raw 8-byte values (host order), varint nruns, nruns x (varint len,
 *   varint quality). "The previous series" starts as tag 0, time 0.
 * Version 1 (written before 0.9.1, still read) had the tag and ts[0] of
 * every series whole. A plant's batch is many tags at one time, a series a
 * sample, so the whole nanosecond time (9 bytes) and tag (3 bytes at 100 k
 * tags) were half of its 24 bytes; deltas take a byte each.
 * Decoding checks every length against the record and calls back once per
 * series; a payload that does not decode is HIST_ECORRUPT.
 *
 * A run record (version 2, storage/runlog.c) holds buffers' frozen runs,
 * logged again so the WAL can drop the older records that held them:
 *   u8 version (2), u32 LE ntags, then per tag: varint tag, varint nruns
 *   (1..PAYLOAD_RUNS_MAX), per run: varint n, varint len, varint
 *   lsn_first, varint lsn_last - lsn_first, zigzag varint ts_min, varint
 *   ts_max - ts_min, then len bytes (the run's chunk, chunk.h).
 * Runs of a tag are in LSN order (each starts after the last one ended);
 * a run holds 1..SEAL_GROUP_SAMPLES samples, as its chunk's header says.
 */
#include "storage/db_internal.h"

#include "common/hist_assert.h"
#include "common/hist_bytes.h"
#include "common/hist_varint.h"

#include <stdlib.h>
#include <string.h>

/* ---- WAL payload ----------------------------------------------------------- */

size_t payload__bound(const hist_series *s, size_t ns)
{
    size_t b = 1 + 10;
    for (size_t i = 0; i < ns; i++)
        b += 10 + 10 + 10 + s[i].n * (10 + 8 + 10 + 5); /* zigzag deltas: 10 bytes at most */
    return b;
}

/* a - b as a zigzag varint; both within +-HIST_TS_MAX or u32, so the
 * difference fits int64 */
static uint8_t *put_delta(uint8_t *p, int64_t a, int64_t b)
{
    return hist_varint_put(p, hist_zigzag((int64_t)((uint64_t)a - (uint64_t)b)));
}

size_t payload__encode(const hist_series *s, size_t ns, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = PAYLOAD_WRITES;
    p = hist_varint_put(p, ns);
    int64_t prev_tag = 0, prev_first = 0;
    for (size_t i = 0; i < ns; i++) {
        p = put_delta(p, s[i].tag, prev_tag);
        prev_tag = s[i].tag;
        p = hist_varint_put(p, s[i].n);
        int64_t prev = prev_first;
        for (size_t j = 0; j < s[i].n; j++) {
            p = put_delta(p, s[i].ts[j], prev);
            prev = s[i].ts[j];
        }
        if (s[i].n)
            prev_first = s[i].ts[0];
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
    if (len < 1 || (p[0] != PAYLOAD_WRITES_V1 && p[0] != PAYLOAD_WRITES))
        return HIST_ECORRUPT;
    bool deltas = *p++ == PAYLOAD_WRITES;
    uint64_t ns;
    if (hist_varint_get(&p, end, &ns))
        return HIST_ECORRUPT;
    int64_t *ts = NULL;
    hist_value *v = NULL;
    uint32_t *q = NULL;
    size_t cap = 0;
    int rc = 0;
    int64_t prev_tag = 0, prev_first = 0;
    for (uint64_t i = 0; i < ns && rc == 0; i++) {
        uint64_t tag, n;
        if (hist_varint_get(&p, end, &tag) || hist_varint_get(&p, end, &n)) {
            rc = HIST_ECORRUPT;
            break;
        }
        if (deltas)
            tag = (uint64_t)prev_tag + (uint64_t)hist_unzigzag(tag);
        prev_tag = (int64_t)tag;
        if (tag > UINT32_MAX || n > (size_t)(end - p)) {
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
        int64_t prev = deltas ? prev_first : 0;
        for (uint64_t j = 0; j < n && rc == 0; j++) {
            uint64_t z = 0;
            if (hist_varint_get(&p, end, &z))
                rc = HIST_ECORRUPT;
            prev = (int64_t)((uint64_t)prev + (uint64_t)hist_unzigzag(z));
            ts[j] = prev;
        }
        if (n)
            prev_first = ts[0];
        if (rc || (size_t)(end - p) < n * 8) {
            rc = HIST_ECORRUPT;
            break;
        }
        if (n)
            memcpy(v, p, n * 8); /* v is NULL before the first series with samples */
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

/* ---- Run records ----------------------------------------------------------- */

int payload__version(const uint8_t *p, size_t len)
{
    return len ? p[0] : 0;
}

size_t payload__runs_bound(const membuf_frozen *fz)
{
    return 10 + 10 + (size_t)fz->nruns * 6 * 10 + fz->data;
}

uint8_t *payload__runs_start(uint8_t *out)
{
    out[0] = PAYLOAD_RUNS;
    hist_put_le32(out + 1, 0);
    return out + 5;
}

uint8_t *payload__runs_put(uint8_t *start, uint8_t *p, uint32_t tag, const membuf_frozen *fz)
{
    HIST_ASSERT(fz->nruns >= 1 && fz->nruns <= PAYLOAD_RUNS_MAX);
    p = hist_varint_put(p, tag);
    p = hist_varint_put(p, fz->nruns);
    for (size_t i = 0; i < fz->nruns; i++) {
        const membuf_run *r = &fz->run[i];
        /* A run's bounds are those of the block (a bound for each run). */
        p = hist_varint_put(p, r->n);
        p = hist_varint_put(p, r->len);
        p = hist_varint_put(p, r->lsn_first);
        p = hist_varint_put(p, r->lsn_last - r->lsn_first);
        p = hist_varint_put(p, hist_zigzag(fz->ts_min));
        p = hist_varint_put(p, (uint64_t)fz->ts_max - (uint64_t)fz->ts_min);
        memcpy(p, membuf__run_bytes(fz, i), r->len);
        p += r->len;
    }
    hist_put_le32(start - 4, hist_get_le32(start - 4) + 1);
    return p;
}

/* One run's head and bytes; 0 or HIST_ECORRUPT. prev_last: the run before's
 * lsn_last (0 for the first). */
static int runs_get_one(const uint8_t **pp, const uint8_t *end, uint64_t prev_last,
                        membuf_new_run *r)
{
    uint64_t n, len, first, span, zmin, tspan;
    if (hist_varint_get(pp, end, &n) || hist_varint_get(pp, end, &len) ||
        hist_varint_get(pp, end, &first) || hist_varint_get(pp, end, &span) ||
        hist_varint_get(pp, end, &zmin) || hist_varint_get(pp, end, &tspan))
        return HIST_ECORRUPT;
    /* A run comes from one freeze, of at most SEAL_GROUP_SAMPLES samples,
     * and its chunk's header says how many: readers allocate for n. */
    hist_chunk_info info;
    if (n == 0 || n > SEAL_GROUP_SAMPLES || len > (size_t)(end - *pp) || len > UINT32_MAX ||
        first <= prev_last || span > UINT64_MAX - first ||
        chunk__peek(*pp, (size_t)len, &info) != 0 || info.count != n)
        return HIST_ECORRUPT;
    int64_t ts_min = hist_unzigzag(zmin);
    if (ts_min < HIST_TS_MIN || tspan > (uint64_t)(HIST_TS_MAX - ts_min))
        return HIST_ECORRUPT;
    *r = (membuf_new_run){*pp,
                          (uint32_t)len,
                          (uint32_t)n,
                          first,
                          first + span,
                          ts_min,
                          (int64_t)((uint64_t)ts_min + tspan)};
    *pp += len;
    return 0;
}

int payload__decode_runs(const uint8_t *p, size_t len, hist_runs_fn fn, void *ctx)
{
    const uint8_t *end = p + len;
    if (len < 5 || p[0] != PAYLOAD_RUNS)
        return HIST_ECORRUPT;
    uint32_t ntags = hist_get_le32(p + 1);
    p += 5;
    membuf_new_run runs[PAYLOAD_RUNS_MAX];
    for (uint32_t i = 0; i < ntags; i++) {
        uint64_t tag, nruns;
        if (hist_varint_get(&p, end, &tag) || hist_varint_get(&p, end, &nruns) ||
            tag > UINT32_MAX || nruns == 0 || nruns > PAYLOAD_RUNS_MAX)
            return HIST_ECORRUPT;
        for (uint64_t j = 0; j < nruns; j++)
            if (runs_get_one(&p, end, j ? runs[j - 1].lsn_last : 0, &runs[j]))
                return HIST_ECORRUPT;
        int rc = fn(ctx, (uint32_t)tag, runs, (size_t)nruns);
        if (rc)
            return rc;
    }
    return p == end ? 0 : HIST_ECORRUPT;
}
