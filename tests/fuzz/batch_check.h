/*
 * batch_check.h: what every batch decode__request() accepts must keep, the
 * rules the storage writer relies on (fuzz_decode.c and fuzz_decode_diff.c
 * check them on every accepted input; abort() on a break): a valid tag
 * name whose hash is its FNV-1a, a known type, parallel arrays (n may be 0:
 * an empty series with a type hint), timestamps within HIST_TS_MIN..
 * HIST_TS_MAX, bools 0 or 1, and counts that add up.
 */
#ifndef HIST_TESTS_FUZZ_BATCH_CHECK_H
#define HIST_TESTS_FUZZ_BATCH_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

static inline uint64_t fuzz_fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* b was decoded from size bytes. */
static inline void fuzz_check_batch(const hist_in_batch *b, size_t size)
{
    uint64_t samples = 0;
    if (b->wire_bytes != size)
        abort();
    for (size_t i = 0; i < b->nseries; i++) {
        const hist_in_series *s = &b->series[i];
        if (hist_tag_name_check(s->name, s->name_len) != 0 || strlen(s->name) != s->name_len)
            abort();
        if (s->hash != fuzz_fnv1a(s->name, s->name_len))
            abort();
        if (s->type != HIST_TYPE_FLOAT64 && s->type != HIST_TYPE_INT64 && s->type != HIST_TYPE_BOOL)
            abort();
        if (s->n > 0 && (!s->ts || !s->v)) /* empty series are allowed (type hint) */
            abort();
        for (size_t k = 0; k < s->n; k++) {
            if (s->ts[k] < HIST_TS_MIN || s->ts[k] > HIST_TS_MAX)
                abort();
            if (s->type == HIST_TYPE_BOOL && s->v[k].i != 0 && s->v[k].i != 1)
                abort();
        }
        samples += s->n;
    }
    if (samples != b->samples)
        abort();
}

#endif
