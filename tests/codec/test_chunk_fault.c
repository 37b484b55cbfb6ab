/*
 * test_chunk_fault.c: chunk__decode_traced() names the check that
 * found a chunk corrupt (storage/codec/codec.h, CORRUPT()).
 *
 * In debug builds (HIST_DEBUG_CHECKS) every HIST_ECORRUPT comes with a
 * file in storage/codec/ and a line, and damage of different kinds is told
 * apart by different checks; in release builds the fault stays empty. Any
 * other result (success, HIST_ENOSPC) leaves it empty, and the traced and
 * the plain decode always agree.
 */
#include "check.h"
#include "rng.h"
#include "storage/chunk.h"

#include <math.h>

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    return xorshift64star(&rng_state);
}

#define MAX_SITES 256

typedef struct {
    char where[MAX_SITES][160];
    size_t n;
    size_t corrupt, bad_fault, disagree;
} sites;

#ifdef HIST_DEBUG_CHECKS
static void note_site(sites *s, const hist_chunk_fault *f)
{
    char where[160];
    snprintf(where, sizeof(where), "%s:%d", f->file, f->line);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->where[i], where) == 0)
            return;
    if (s->n < MAX_SITES)
        memcpy(s->where[s->n++], where, sizeof(where));
}
#endif

/* Decodes buf both ways and checks the fault that comes back. */
static void decode_checked(sites *s, const uint8_t *buf, size_t len, size_t cap)
{
    int64_t *ts = malloc((cap + 1) * sizeof(*ts));
    hist_value *v = malloc((cap + 1) * sizeof(*v));
    uint32_t *q = malloc((cap + 1) * sizeof(*q));
    REQUIRE(ts && v && q);
    hist_chunk_fault f = {"stale", -1};
    int64_t got = chunk__decode_traced(buf, len, ts, v, q, cap, &f);
    s->disagree += chunk__decode(buf, len, ts, v, q, cap) != got;
    if (got == HIST_ECORRUPT) {
        s->corrupt++;
#ifdef HIST_DEBUG_CHECKS
        int ok = f.file && strstr(f.file, "storage/codec/") && f.line > 0;
        s->bad_fault += !ok;
        if (ok)
            note_site(s, &f);
#else
        s->bad_fault += f.file != NULL || f.line != 0;
#endif
    } else {
        s->bad_fault += f.file != NULL || f.line != 0;
    }
    free(ts);
    free(v);
    free(q);
}

static void fill(hist_type type, int shape, int64_t *ts, hist_value *v, uint32_t *q, size_t n)
{
    int64_t t = 1700000000000000000ll;
    for (size_t k = 0; k < n; k++) {
        t += shape % 2 ? 1000000000ll + (int64_t)(rnd() % 3) * 1000000ll : 1000000000ll;
        ts[k] = t;
        q[k] = shape == 3 && k % 50 < 5 ? HIST_QUALITY_BAD : HIST_QUALITY_GOOD;
        if (type == HIST_TYPE_FLOAT64)
            v[k].f = shape == 2 ? sin((double)k) : (double)(long)(rnd() % 1000) / 10.0;
        else if (type == HIST_TYPE_INT64)
            v[k].i = shape == 2 ? (int64_t)rnd() : (int64_t)k * 7;
        else
            v[k].i = (int64_t)(k / 100 % 2);
    }
}

static void damage(sites *s, const uint8_t *buf, size_t len, size_t n)
{
    uint8_t *t = malloc(len);
    REQUIRE(t);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 8) { /* truncated: exact size */
        uint8_t *e = malloc(cut ? cut : 1);
        memcpy(e, buf, cut);
        decode_checked(s, e, cut, n);
        free(e);
    }
    for (size_t bit = 0; bit < len * 8; bit++) { /* every bit flipped */
        memcpy(t, buf, len);
        t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        decode_checked(s, t, len, n + 8);
    }
    for (int k = 0; k < 200; k++) { /* body bytes garbled, header kept */
        memcpy(t, buf, len);
        for (size_t j = 28; j < len; j++)
            if (rnd() % 8 == 0)
                t[j] = (uint8_t)rnd();
        decode_checked(s, t, len, n + 8);
    }
    free(t);
}

int main(void)
{
    size_t n = 600;
    int64_t *ts = malloc(n * sizeof(*ts));
    hist_value *v = malloc(n * sizeof(*v));
    uint32_t *q = malloc(n * sizeof(*q));
    uint8_t *buf = malloc(chunk__bound(n));
    REQUIRE(ts && v && q && buf);
    static sites s;
    for (int type = HIST_TYPE_FLOAT64; type <= HIST_TYPE_BOOL; type++) {
        for (int shape = 0; shape < 4; shape++) {
            fill((hist_type)type, shape, ts, v, q, n);
            int64_t len = chunk__encode((hist_type)type, ts, v, q, n, buf, chunk__bound(n));
            REQUIRE(len > 0);
            size_t before = s.corrupt;
            decode_checked(&s, buf, (size_t)len, n);     /* intact: no fault */
            decode_checked(&s, buf, (size_t)len, n - 1); /* HIST_ENOSPC: no fault */
            CHECK(s.corrupt == before);
            damage(&s, buf, (size_t)len, n);
        }
    }
    CHECKF(s.corrupt > 1000, "only %zu corrupt decodes", s.corrupt);
    CHECKF(s.bad_fault == 0, "%zu of %zu results with a wrong fault", s.bad_fault, s.corrupt);
    CHECKF(s.disagree == 0, "traced and plain decode disagree %zu times", s.disagree);
#ifdef HIST_DEBUG_CHECKS
    /* Damage of many kinds is told apart: the header, each codec's own
     * checks, the column lengths. */
    CHECKF(s.n >= 20, "only %zu distinct checks named", s.n);
    for (size_t i = 0; i < s.n; i++)
        printf("corrupt at %s\n", s.where[i]);
#endif
    free(ts);
    free(v);
    free(q);
    free(buf);
    return check_summary();
}
