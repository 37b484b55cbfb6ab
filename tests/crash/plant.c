/*
 * plant.c: the crash tests' request generator (see plant.h).
 */
#include "plant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2026-03-02 00:00:00 UTC: the ring starts on a midnight. */
#define PLANT_ORIGIN (INT64_C(1772409600) * PLANT_SECOND)
#define PLANT_MS     INT64_C(1000000)

plant_shape plant_shape_storage(void)
{
    return (plant_shape){.ntags = 9,
                         .hot = 2,
                         .hot_period = 10 * PLANT_SECOND,
                         .span = 3 * PLANT_DAY,
                         .series_max = 400};
}

plant_shape plant_shape_server(void)
{
    return (plant_shape){.ntags = 9,
                         .hot = 2,
                         .hot_period = PLANT_SECOND,
                         .span = 2 * PLANT_DAY,
                         .series_max = 12000};
}

/* ---- Randomness ----------------------------------------------------------------------- */

static uint64_t rnd(plant *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

/* Uniform in [lo, hi]. */
static int64_t rnd_range(plant *p, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(p) % (uint64_t)(hi - lo + 1));
}

/* A fixed hash: the jitter of a slot must not depend on the stream. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* ---- Tags and slots ------------------------------------------------------------------- */

static void tag_init(plant_tag *t, const plant_shape *shape, int i)
{
    static const int64_t periods[] = {10, 30, 60, 120, 300, 900, 3600}; /* s */
    static const char *const signals[] = {"temperature", "flow",  "pressure", "counter",
                                          "level",       "speed", "state"};
    memset(t, 0, sizeof(*t));
    if (i < shape->hot) {
        snprintf(t->name, sizeof(t->name), "plant/unit%d/vibration", i);
        t->type = HIST_TYPE_FLOAT64;
        t->period = shape->hot_period;
    } else {
        int k = (i - shape->hot) % 7;
        snprintf(t->name, sizeof(t->name), "plant/unit%d/%s", i, signals[k]);
        t->type = k == 3 || k == 6 ? HIST_TYPE_INT64 : HIST_TYPE_FLOAT64;
        t->period = periods[k] * PLANT_SECOND;
    }
    t->jittery = i % 2;
    t->nslots = shape->span / t->period;
}

void plant_init(plant *p, const plant_shape *shape, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->shape = *shape;
    p->origin = PLANT_ORIGIN;
    p->rng = mix(seed) | 1;
    for (int i = 0; i < shape->ntags; i++)
        tag_init(&p->tags[i], shape, i);
}

int64_t plant_slot_ts(const plant *p, int tag, int64_t slot)
{
    const plant_tag *t = &p->tags[tag];
    int64_t jitter = 0;
    int64_t max_ms = t->period / 8 / PLANT_MS;
    if (t->jittery && max_ms > 0)
        jitter = (int64_t)(mix((uint64_t)tag << 40 ^ (uint64_t)slot) % (uint64_t)max_ms) * PLANT_MS;
    return p->origin + slot * t->period + jitter;
}

int64_t plant_ts_slot(const plant *p, int tag, int64_t ts)
{
    const plant_tag *t = &p->tags[tag];
    if (ts < p->origin)
        return -1;
    int64_t slot = (ts - p->origin) / t->period;
    return slot < t->nslots && plant_slot_ts(p, tag, slot) == ts ? slot : -1;
}

/* ---- Building a request ---------------------------------------------------------------- */

static plant_series *batch_add(plant_batch *b, int tag)
{
    for (int i = 0; i < b->nseries; i++)
        if (b->series[i].tag == tag)
            return NULL; /* a request names a tag once */
    plant_series *s = &b->series[b->nseries++];
    s->tag = tag;
    s->n = 0;
    return s;
}

static void series_reserve(plant_series *s, size_t need)
{
    if (need <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need)
        cap *= 2;
    s->ts = realloc(s->ts, cap * sizeof(*s->ts));
    s->v = realloc(s->v, cap * sizeof(*s->v));
    s->q = realloc(s->q, cap * sizeof(*s->q));
    if (!s->ts || !s->v || !s->q) {
        fprintf(stderr, "plant: out of memory\n");
        abort();
    }
    s->cap = cap;
}

/* Appends a fresh (unique) value for a slot. */
static void put_sample(plant *p, plant_series *s, int64_t slot)
{
    series_reserve(s, s->n + 1);
    uint64_t c = ++p->counter;
    s->ts[s->n] = plant_slot_ts(p, s->tag, slot);
    if (p->tags[s->tag].type == HIST_TYPE_INT64)
        s->v[s->n].i = (int64_t)c;
    else
        s->v[s->n].f = (double)c / 64; /* exact (c < 2^53): unique too */
    s->q[s->n] = c % 53 == 0   ? HIST_QUALITY_BAD
                 : c % 31 == 0 ? HIST_QUALITY_UNCERTAIN
                               : HIST_QUALITY_GOOD;
    s->n++;
}

static void swap_samples(plant_series *s, size_t i, size_t j)
{
    int64_t ts = s->ts[i];
    hist_value v = s->v[i];
    uint32_t q = s->q[i];
    s->ts[i] = s->ts[j], s->v[i] = s->v[j], s->q[i] = s->q[j];
    s->ts[j] = ts, s->v[j] = v, s->q[j] = q;
}

/* Out of order: a few neighbours swapped, as a gateway's jittery buffers do. */
static void swap_some(plant *p, plant_series *s)
{
    for (size_t k = 0; s->n > 1 && k <= s->n / 16; k++) {
        size_t i = rnd(p) % (s->n - 1);
        swap_samples(s, i, i + 1);
    }
}

static void shuffle(plant *p, plant_series *s)
{
    for (size_t i = s->n; i > 1; i--)
        swap_samples(s, i - 1, rnd(p) % i);
}

/* A slot sent twice in one series: the later sample wins. */
static void rewrite_some(plant *p, plant_series *s)
{
    for (int k = (int)(rnd(p) % 3); k >= 0 && s->n > 0; k--)
        put_sample(p, s, plant_ts_slot(p, s->tag, s->ts[rnd(p) % s->n]));
}

/* Old data: the slots up to the live clock on the first pass of the ring,
 * all of them once it has started again. */
static int64_t old_slots(const plant *p, const plant_tag *t)
{
    int64_t live = p->clock / t->period + 1;
    return p->laps > 0 || live > t->nslots ? t->nslots : live;
}

static void live(plant *p, plant_batch *b)
{
    int64_t step = rnd(p) % 10 == 0 ? rnd_range(p, PLANT_HOUR, 3 * PLANT_HOUR)
                                    : rnd_range(p, 10 * PLANT_SECOND, 600 * PLANT_SECOND);
    if (p->clock + step >= p->shape.span) { /* the ring starts again */
        p->clock = 0;
        p->laps++;
        for (int i = 0; i < p->shape.ntags; i++)
            p->tags[i].next = 0;
    }
    p->clock += step;
    int all = rnd(p) % 2;
    for (int i = 0; i < p->shape.ntags; i++) {
        plant_tag *t = &p->tags[i];
        int64_t end = p->clock / t->period + 1;
        if ((!all && rnd(p) % 2) || t->next >= end)
            continue;
        if (end - t->next > (int64_t)p->shape.series_max)
            end = t->next + (int64_t)p->shape.series_max; /* the tag lags behind */
        plant_series *s = batch_add(b, i);
        for (int64_t slot = t->next; slot < end; slot++)
            put_sample(p, s, slot);
        t->next = end;
        if (rnd(p) % 4 == 0)
            swap_some(p, s);
        if (rnd(p) % 8 == 0)
            rewrite_some(p, s);
    }
}

static void correction(plant *p, plant_batch *b)
{
    for (int k = (int)(rnd(p) % 2); k >= 0; k--) {
        int i = (int)(rnd(p) % (uint64_t)p->shape.ntags);
        plant_tag *t = &p->tags[i];
        int64_t back = rnd_range(p, 60 * PLANT_SECOND, PLANT_HOUR) / t->period + 1;
        if (back > (int64_t)p->shape.series_max)
            back = (int64_t)p->shape.series_max;
        if (back > t->next)
            back = t->next;
        plant_series *s = back > 0 ? batch_add(b, i) : NULL;
        for (int64_t slot = t->next - 1; s && slot >= t->next - back; slot--)
            put_sample(p, s, slot); /* newest first */
    }
}

static void backfill(plant *p, plant_batch *b)
{
    int i = (int)(rnd(p) % (uint64_t)p->shape.ntags);
    const plant_tag *t = &p->tags[i];
    int64_t most = 2 * PLANT_HOUR / t->period;
    if (most > (int64_t)p->shape.series_max)
        most = (int64_t)p->shape.series_max;
    int64_t len = rnd_range(p, 1, most > 1 ? most : 1);
    int64_t start = rnd_range(p, 0, old_slots(p, t) - 1);
    if (start + len > t->nslots)
        len = t->nslots - start;
    plant_series *s = batch_add(b, i);
    for (int64_t slot = start; slot < start + len; slot++)
        put_sample(p, s, slot);
    shuffle(p, s);
}

static void scatter(plant *p, plant_batch *b)
{
    for (int k = (int)(rnd(p) % 3); k >= 0; k--) {
        int i = (int)(rnd(p) % (uint64_t)p->shape.ntags);
        plant_series *s = batch_add(b, i);
        for (int64_t n = rnd_range(p, 5, 50); s && n > 0; n--)
            put_sample(p, s, rnd_range(p, 0, old_slots(p, &p->tags[i]) - 1));
    }
}

void plant_next(plant *p, plant_batch *b)
{
    do {
        b->nseries = 0;
        uint64_t kind = rnd(p) % 100;
        if (kind < 70)
            live(p, b);
        else if (kind < 82)
            correction(p, b);
        else if (kind < 92)
            backfill(p, b);
        else
            scatter(p, b);
        b->samples = 0;
        for (int i = 0; i < b->nseries; i++)
            b->samples += b->series[i].n;
    } while (b->samples == 0);
    int w = 0; /* drop empty series, keep the order */
    for (int i = 0; i < b->nseries; i++) {
        if (b->series[i].n == 0)
            continue;
        plant_series s = b->series[w];
        b->series[w++] = b->series[i];
        b->series[i] = s;
    }
    b->nseries = w;
}

void plant_batch_free(plant_batch *b)
{
    for (int i = 0; i < PLANT_MAX_TAGS; i++) {
        free(b->series[i].ts);
        free(b->series[i].v);
        free(b->series[i].q);
    }
    memset(b, 0, sizeof(*b));
}
