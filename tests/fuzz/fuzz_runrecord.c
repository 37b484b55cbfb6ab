/*
 * fuzz_runrecord.c: the WAL's run records (storage/wal_payload.c, payload
 * version 2: the logged runs of storage/runlog.c), which recovery reads
 * from disk (libFuzzer).
 *
 * 1. The input as a run record: payload__decode_runs never crashes, and
 *    every tag it hands over has 1..PAYLOAD_RUNS_MAX runs inside the input,
 *    each of n >= 1 samples, their LSNs rising. The runs go into a buffer
 *    as recovery puts them (membuf__put_logged): the buffer then counts
 *    exactly their samples, needs the record's LSN at most, and a view of
 *    it either decodes every sample or says HIST_ECORRUPT.
 * 2. A record built from the input: its bytes become the samples of up to
 *    three tags, each frozen into 1-3 runs (chunk__encode_flags, as a
 *    freeze does), written with payload__runs_put and read back: the same
 *    tags, runs, fields and bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/chunk.h"
#include "storage/db_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOG_LSN UINT64_C(1) << 40

typedef struct {
    const uint8_t *start, *end;
    int tags;
} decode_check;

static int check_runs(void *arg, uint32_t tag, const membuf_new_run *runs, size_t n)
{
    decode_check *c = arg;
    (void)tag;
    if (n < 1 || n > PAYLOAD_RUNS_MAX)
        abort();
    size_t samples = 0;
    for (size_t i = 0; i < n; i++) {
        const membuf_new_run *r = &runs[i];
        if (r->n < 1 || r->bytes < c->start || r->bytes + r->len > c->end ||
            r->lsn_first > r->lsn_last || (i && r->lsn_first <= runs[i - 1].lsn_last))
            abort();
        samples += r->n;
    }
    c->tags++;
    if (runs[n - 1].lsn_last >= LOG_LSN)
        return 0; /* recovery refuses a run newer than its record */
    hist_membuf b = {0};
    int64_t delta, dsamples;
    if (membuf__put_logged(&b, runs, n, LOG_LSN, 1, &delta, &dsamples) == 0) {
        if (membuf__count(&b) != samples || (size_t)dsamples != samples ||
            membuf__oldest_lsn(&b) > LOG_LSN || delta != (int64_t)membuf__bytes(&b))
            abort();
        membuf_view v;
        int rc = membuf__view(&b, &v);
        if (rc == 0) {
            if (v.n != samples)
                abort();
            membuf__view_release(&v);
        } else if (rc != HIST_ECORRUPT && rc != HIST_ENOMEM)
            abort();
    }
    membuf__free(&b);
    return 0;
}

/* ---- 2. built, written, read back ---- */

typedef struct {
    uint32_t tag;
    size_t nruns;
    membuf_new_run runs[3];
    uint8_t bytes[3][4096];
} built_tag;

typedef struct {
    const built_tag *tags;
    int ntags, seen;
} roundtrip_check;

static int same_runs(void *arg, uint32_t tag, const membuf_new_run *runs, size_t n)
{
    roundtrip_check *c = arg;
    const built_tag *t = &c->tags[c->seen++];
    if (c->seen > c->ntags || tag != t->tag || n != t->nruns)
        abort();
    for (size_t i = 0; i < n; i++) {
        const membuf_new_run *a = &runs[i], *w = &t->runs[i];
        if (a->n != w->n || a->len != w->len || a->lsn_first != w->lsn_first ||
            a->lsn_last != w->lsn_last || memcmp(a->bytes, w->bytes, a->len) != 0)
            abort();
    }
    return 0;
}

/* Tag x's runs from the input bytes at *p: a count and values each. */
static void build_tag(built_tag *t, uint32_t tag, const uint8_t **p, const uint8_t *end,
                      uint64_t *lsn)
{
    t->tag = tag;
    t->nruns = 0;
    int want = *p < end ? 1 + *(*p)++ % 3 : 1;
    for (int r = 0; r < want; r++) {
        int64_t ts[64];
        hist_value v[64];
        uint32_t q[64];
        size_t n = *p < end ? 1 + *(*p)++ % 64 : 1;
        for (size_t i = 0; i < n; i++) {
            ts[i] = (int64_t)(r * 64 + (int)i) * 1000000000;
            v[i].f = *p < end ? (double)*(*p)++ / 4.0 : 0.0;
            q[i] = *p < end && (**p & 0x80) ? 0x80000000u : 0;
        }
        int64_t len = chunk__encode_flags(HIST_TYPE_FLOAT64, ts, v, q, n, t->bytes[r],
                                          sizeof(t->bytes[r]), CHUNK_NO_ZSTD);
        if (len <= 0)
            abort();
        membuf_new_run *run = &t->runs[t->nruns++];
        *run = (membuf_new_run){t->bytes[r],  (uint32_t)len, (uint32_t)n, *lsn,
                                *lsn + n - 1, ts[0],         ts[n - 1]};
        *lsn += n;
    }
}

static void roundtrip(const uint8_t *data, size_t size)
{
    static built_tag tags[3];
    const uint8_t *p = data, *end = data + size;
    int ntags = 1 + (size ? data[0] % 3 : 0);
    uint64_t lsn = 1;
    static uint8_t rec[3 * 3 * 4200 + 64];
    uint8_t *start = payload__runs_start(rec), *w = start;
    for (int x = 0; x < ntags; x++) {
        build_tag(&tags[x], (uint32_t)(x * 1000003u), &p, end, &lsn);
        hist_membuf b = {0};
        int64_t delta, dsamples;
        if (membuf__put_logged(&b, tags[x].runs, tags[x].nruns, LOG_LSN, 1, &delta, &dsamples))
            abort();
        w = payload__runs_put(start, w, tags[x].tag, b.fz);
        membuf__free(&b);
    }
    roundtrip_check c = {tags, ntags, 0};
    if (payload__decode_runs(rec, (size_t)(w - rec), same_runs, &c) != 0 || c.seen != ntags)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    decode_check c = {copy, copy + size, 0};
    (void)payload__decode_runs(copy, size, check_runs, &c);
    free(copy);
    roundtrip(data, size);
    return 0;
}
