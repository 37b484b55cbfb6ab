/*
 * batch.c: samples one at a time -> a hist_in_batch for the writer, the
 * way the MQTT client turns the messages of one read into one write job.
 *
 * A builder collects (tag, type, ts, value, quality) in arrival order,
 * copying each tag name (a Sparkplug result's names live only until its
 * next message). batch__build() groups the samples into one series per
 * (tag, type), each series in arrival order, and lays everything out in
 * one allocation as decode.c does: the batch, its series, then per series
 * the name, timestamps, values and qualities. The name hash is decode.c's
 * (hist_fnv1a), so the writer's cache keys agree across both paths.
 *
 * A series carries the unit of its latest sample that has one (a birth's
 * engUnit, or a data message's that changes it), for the writer to put in
 * the tag's metadata.
 *
 * The caller says whether the batch is partial. The MQTT client's is: the
 * writer writes every series it can and reports the rest (a type conflict
 * loses that series only, never the other messages that share the job).
 * An HTTP request's (line protocol, CSV) is not: written whole or not at
 * all, as every client write.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist_assert.h"
#include "common/hist_hash.h"
#include "ingest/ingest.h"

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

void batch__init(batch_builder *b)
{
    memset(b, 0, sizeof *b);
    hist_buf_init(&b->names);
}

void batch__free(batch_builder *b)
{
    free(b->s);
    hist_buf_free(&b->names);
    memset(b, 0, sizeof *b);
}

void batch__clear(batch_builder *b)
{
    b->n = 0;
    b->names.len = 0;
}

int batch__add(batch_builder *b, const char *tag, const char *unit, hist_type type, int64_t ts,
               hist_value v, uint32_t q)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        batch_sample *grown = realloc(b->s, cap * sizeof *grown);
        if (!grown)
            return HIST_ENOMEM;
        b->s = grown;
        b->cap = cap;
    }
    size_t len = strlen(tag);
    size_t off = b->names.len;
    hist_buf_append(&b->names, tag, len + 1); /* the NUL too: names are C strings */
    size_t unit_off = SIZE_MAX;
    if (unit && *unit) {
        unit_off = b->names.len;
        hist_buf_append(&b->names, unit, strlen(unit) + 1);
    }
    if (b->names.failed)
        return HIST_ENOMEM;
    b->s[b->n++] = (batch_sample){.name_off = off,
                                  .name_len = len,
                                  .unit_off = unit_off,
                                  .hash = hist_fnv1a(tag, len),
                                  .type = type,
                                  .ts = ts,
                                  .v = v,
                                  .q = q};
    return 0;
}

/* The group (series) of each sample: an open-addressing table over the
 * distinct (name, type) pairs, sized to at least twice the samples. */
static int group_samples(const batch_builder *b, uint32_t *group, uint32_t *first, size_t *ngroups)
{
    size_t cap = 16;
    while (cap < b->n * 2)
        cap <<= 1;
    uint32_t *slot = malloc(cap * sizeof *slot); /* group + 1, 0 = empty */
    if (!slot)
        return HIST_ENOMEM;
    memset(slot, 0, cap * sizeof *slot);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const batch_sample *s = &b->s[i];
        const char *name = b->names.data + s->name_off;
        size_t j = (s->hash ^ (uint64_t)s->type) & (cap - 1);
        for (;; j = (j + 1) & (cap - 1)) {
            if (!slot[j]) {
                first[n] = (uint32_t)i;
                slot[j] = (uint32_t)++n;
                break;
            }
            const batch_sample *f = &b->s[first[slot[j] - 1]];
            if (f->hash == s->hash && f->type == s->type && f->name_len == s->name_len &&
                !memcmp(b->names.data + f->name_off, name, s->name_len))
                break;
        }
        group[i] = slot[j] - 1;
    }
    free(slot);
    *ngroups = n;
    return 0;
}

int batch__build(batch_builder *b, uint64_t batch_id, bool partial, hist_in_batch **out)
{
    *out = NULL;
    if (!b->n)
        return 0;
    uint32_t *group = malloc(b->n * sizeof *group);
    uint32_t *first = malloc(b->n * sizeof *first);
    size_t *count = calloc(b->n, sizeof *count);
    size_t ngroups = 0;
    int rc = group && first && count ? group_samples(b, group, first, &ngroups) : HIST_ENOMEM;
    char *mem = NULL;
    if (rc == 0) {
        for (size_t i = 0; i < b->n; i++)
            count[group[i]]++;
        size_t total = align8(sizeof(hist_in_batch)) + align8(ngroups * sizeof(hist_in_series));
        for (size_t g = 0; g < ngroups; g++)
            total += align8(b->s[first[g]].name_len + 1) + count[g] * 16 + align8(count[g] * 4);
        for (size_t i = 0; i < b->n; i++) /* room for every unit: births are small */
            if (b->s[i].unit_off != SIZE_MAX)
                total += align8(strlen(b->names.data + b->s[i].unit_off) + 1);
        mem = malloc(total);
        if (!mem)
            rc = HIST_ENOMEM;
    }
    if (rc == 0) {
        hist_in_batch *bt = (hist_in_batch *)mem;
        char *p = mem + align8(sizeof *bt);
        *bt = (hist_in_batch){.batch_id = batch_id,
                              .nseries = ngroups,
                              .partial = partial,
                              .series = (hist_in_series *)p,
                              .samples = b->n};
        p += align8(ngroups * sizeof(hist_in_series));
        for (size_t g = 0; g < ngroups; g++) {
            const batch_sample *f = &b->s[first[g]];
            hist_in_series *o = &bt->series[g];
            memcpy(p, b->names.data + f->name_off, f->name_len + 1);
            *o = (hist_in_series){
                .name = p, .name_len = f->name_len, .hash = f->hash, .type = f->type};
            p += align8(f->name_len + 1);
            o->ts = (int64_t *)p;
            p += count[g] * 8;
            o->v = (hist_value *)p;
            p += count[g] * 8;
            o->q = (uint32_t *)p;
            p += align8(count[g] * 4);
        }
        for (size_t i = 0; i < b->n; i++) {
            hist_in_series *o = &bt->series[group[i]];
            o->ts[o->n] = b->s[i].ts;
            o->v[o->n] = b->s[i].v;
            o->q[o->n] = b->s[i].q;
            o->n++;
            if (b->s[i].unit_off != SIZE_MAX) /* the latest unit given wins */
                o->unit = b->names.data + b->s[i].unit_off; /* copied below */
        }
        /* units: into the batch's memory, after everything else */
        for (size_t g = 0; g < ngroups; g++) {
            hist_in_series *o = &bt->series[g];
            if (!o->unit)
                continue;
            size_t n = strlen(o->unit) + 1;
            memcpy(p, o->unit, n);
            o->unit = p;
            p += align8(n);
        }
        bt->wire_bytes = (size_t)(p - mem);
        *out = bt;
    }
    free(group), free(first), free(count);
    batch__clear(b);
    return rc;
}
