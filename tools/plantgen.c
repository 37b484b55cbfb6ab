/*
 * plantgen.c: a deterministic generator of plant-like tag data (see
 * plantgen.h). Used by the benches, the gateway simulator and tests, so the
 * shape of the data matters: the codec figures are measured on it.
 *
 * Every tag owns its own small PRNG (xorshift64*), seeded from (seed, tag
 * index) through splitmix64, and its own signal state. Nothing is shared
 * between tags, so a tag's series does not depend on the order in which
 * tags are generated, and there is no global state.
 *
 * Kind mix: tags cycle through a fixed table of 20 slots per cell (one
 * "cell" of a line): 6 analog, 3 setpoint, 3 valve, 3 flow, 2 counter,
 * 2 bool, 1 vibration. Names: site<S>/area<A>/line<L>/cell<C>/<signal>,
 * with four cells per line, four lines per area, four areas per site.
 *
 * Time: sample k of a tag is nominally at start + k * period (vibration:
 * period / 10). About 2% of samples are off by 1..5 ms (clamped to a
 * quarter period, so timestamps stay strictly increasing), and about one
 * sample in 20000 starts a gap of 10..300 missing samples.
 * Quality: Good, except for rare runs (about one per 20000 samples) of
 * 5..60 samples of Uncertain or Bad.
 *
 * Values are produced the way a PLC or gateway would: analog readings are
 * quantised (0.1 resolution: computed as llround(x * 10) / 10.0, which is
 * the double nearest to the decimal), flows have 2 decimals, valve
 * positions 1 decimal, setpoints 0.5 steps; counters are int64, booleans 0/1.
 * Vibration (mm/s, two sines plus broadband noise) has the resolution of the
 * sensor's ADC, 0.001: still high entropy (about 11 bits of noise per
 * sample), but not the 52 random mantissa bits no real sensor delivers.
 */
#include "tools/plantgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_SLOTS    20
#define GEN_NAME_MAX 96

typedef struct {
    hist_gen_kind kind;
    const char *signal;
} gen_slot;

/* One cell's worth of signals: the fixed plant-like kind mix. */
static const gen_slot gen_slots[GEN_SLOTS] = {
    {HIST_GEN_ANALOG, "temperature_pv"},
    {HIST_GEN_ANALOG, "pressure_pv"},
    {HIST_GEN_ANALOG, "level_pv"},
    {HIST_GEN_ANALOG, "motor_temperature"},
    {HIST_GEN_ANALOG, "ph_pv"},
    {HIST_GEN_ANALOG, "humidity_pv"},
    {HIST_GEN_SETPOINT, "temperature_sp"},
    {HIST_GEN_SETPOINT, "pressure_sp"},
    {HIST_GEN_SETPOINT, "level_sp"},
    {HIST_GEN_VALVE, "inlet_valve_pos"},
    {HIST_GEN_VALVE, "outlet_valve_pos"},
    {HIST_GEN_VALVE, "bypass_valve_pos"},
    {HIST_GEN_FLOW, "inlet_flow"},
    {HIST_GEN_FLOW, "outlet_flow"},
    {HIST_GEN_FLOW, "steam_flow"},
    {HIST_GEN_COUNTER, "parts_count"},
    {HIST_GEN_COUNTER, "energy_wh"},
    {HIST_GEN_BOOL, "motor_running"},
    {HIST_GEN_BOOL, "high_alarm"},
    {HIST_GEN_VIBRATION, "pump_vibration"},
};

typedef struct {
    char name[GEN_NAME_MAX];
    hist_gen_kind kind;
    uint64_t rng;
    uint64_t k;        /* index of the next nominal sample */
    double x;          /* the underlying continuous signal */
    double target;     /* setpoint / valve target, flow mean */
    int64_t count;     /* counter value, bool state */
    uint32_t bad_left; /* samples left in a non-Good quality run */
    uint32_t bad_q;    /* the quality of that run */
    double phase;      /* vibration phase */
} gen_tag;

struct hist_gen {
    uint32_t ntags;
    int64_t start_ns, period_ns;
    gen_tag *tags;
};

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n). */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return n ? rng_next(s) % n : 0;
}

/* Approximately normal (mean 0, sd 1): sum of four uniforms, rescaled.
 * Cheap and deterministic; the tails do not matter here. */
static double rng_normal(uint64_t *s)
{
    double sum = rng_unit(s) + rng_unit(s) + rng_unit(s) + rng_unit(s);
    return (sum - 2.0) * 1.7320508075688772;
}

static double quantise(double x, double scale)
{
    return (double)llround(x * scale) / scale;
}

hist_gen *hist_gen_new(uint32_t ntags, uint64_t seed, int64_t start_ns, int64_t period_ns)
{
    if (period_ns <= 0)
        return NULL;
    hist_gen *gen = calloc(1, sizeof(*gen));
    if (!gen)
        return NULL;
    gen->ntags = ntags;
    gen->start_ns = start_ns;
    gen->period_ns = period_ns;
    gen->tags = calloc(ntags ? ntags : 1, sizeof(gen_tag));
    if (!gen->tags) {
        free(gen);
        return NULL;
    }
    for (uint32_t i = 0; i < ntags; i++) {
        gen_tag *t = &gen->tags[i];
        const gen_slot *slot = &gen_slots[i % GEN_SLOTS];
        uint32_t cell = i / GEN_SLOTS;
        snprintf(t->name, sizeof(t->name), "site%u/area%u/line%u/cell%u/%s", cell / 64 + 1,
                 (cell / 16) % 4 + 1, (cell / 4) % 4 + 1, cell % 4 + 1, slot->signal);
        t->kind = slot->kind;
        uint64_t sm = seed ^ ((uint64_t)i * UINT64_C(0xD1B54A32D192ED03));
        t->rng = splitmix64(&sm) | 1; /* xorshift state must not be 0 */
        uint64_t *r = &t->rng;
        switch (t->kind) {
        case HIST_GEN_ANALOG:
            t->x = 20.0 + 60.0 * rng_unit(r);
            break;
        case HIST_GEN_SETPOINT:
            t->x = quantise(20.0 + 60.0 * rng_unit(r), 2.0);
            break;
        case HIST_GEN_VALVE:
            t->target = quantise(100.0 * rng_unit(r), 10.0);
            t->x = t->target;
            break;
        case HIST_GEN_FLOW:
            t->target = 5.0 + 45.0 * rng_unit(r);
            t->x = t->target;
            break;
        case HIST_GEN_COUNTER:
            t->count = (int64_t)rng_below(r, 1000000);
            break;
        case HIST_GEN_BOOL:
            t->count = (int64_t)rng_below(r, 2);
            break;
        case HIST_GEN_VIBRATION:
            t->phase = 6.283185307179586 * rng_unit(r);
            break;
        default:
            break;
        }
    }
    return gen;
}

void hist_gen_free(hist_gen *gen)
{
    if (!gen)
        return;
    free(gen->tags);
    free(gen);
}

uint32_t hist_gen_ntags(const hist_gen *gen)
{
    return gen->ntags;
}

const char *hist_gen_tag_name(const hist_gen *gen, uint32_t i)
{
    return i < gen->ntags ? gen->tags[i].name : NULL;
}

hist_gen_kind hist_gen_tag_kind(const hist_gen *gen, uint32_t i)
{
    return i < gen->ntags ? gen->tags[i].kind : HIST_GEN_ANALOG;
}

hist_type hist_gen_tag_type(const hist_gen *gen, uint32_t i)
{
    switch (hist_gen_tag_kind(gen, i)) {
    case HIST_GEN_COUNTER:
        return HIST_TYPE_INT64;
    case HIST_GEN_BOOL:
        return HIST_TYPE_BOOL;
    default:
        return HIST_TYPE_FLOAT64;
    }
}

const char *hist_gen_kind_name(hist_gen_kind kind)
{
    switch (kind) {
    case HIST_GEN_ANALOG:
        return "analog";
    case HIST_GEN_SETPOINT:
        return "setpoint";
    case HIST_GEN_VALVE:
        return "valve";
    case HIST_GEN_FLOW:
        return "flow";
    case HIST_GEN_COUNTER:
        return "counter";
    case HIST_GEN_BOOL:
        return "bool";
    case HIST_GEN_VIBRATION:
        return "vibration";
    default:
        return "unknown";
    }
}

/* Advances the tag's signal by one sample and returns its value. */
static hist_value gen_value(gen_tag *t)
{
    uint64_t *r = &t->rng;
    hist_value v;
    switch (t->kind) {
    case HIST_GEN_ANALOG:
        /* Slow random walk pulled back into 0..100, plus sensor noise. */
        t->x += 0.02 * rng_normal(r) + 0.0005 * (50.0 - t->x);
        v.f = quantise(t->x + 0.05 * rng_normal(r), 10.0);
        break;
    case HIST_GEN_SETPOINT:
        if (rng_below(r, 3600) == 0)
            t->x = quantise(t->x + 10.0 * rng_normal(r), 2.0);
        v.f = t->x;
        break;
    case HIST_GEN_VALVE:
        /* New target now and then; the actuator moves 0.5 % per sample. */
        if (rng_below(r, 300) == 0)
            t->target = quantise(100.0 * rng_unit(r), 10.0);
        if (t->x < t->target)
            t->x = t->x + 0.5 > t->target ? t->target : t->x + 0.5;
        else if (t->x > t->target)
            t->x = t->x - 0.5 < t->target ? t->target : t->x - 0.5;
        t->x = quantise(t->x, 10.0);
        v.f = t->x;
        break;
    case HIST_GEN_FLOW:
        if (rng_below(r, 1800) == 0)
            t->target = 5.0 + 45.0 * rng_unit(r);
        t->x += 0.05 * (t->target - t->x) + 0.05 * rng_normal(r);
        v.f = quantise(t->x + 0.2 * rng_normal(r), 100.0);
        break;
    case HIST_GEN_COUNTER:
        if (rng_below(r, 100000) == 0)
            t->count = 0;
        else
            t->count += (int64_t)rng_below(r, 6);
        v.i = t->count;
        break;
    case HIST_GEN_BOOL:
        if (rng_below(r, 1800) == 0)
            t->count = !t->count;
        v.i = t->count;
        break;
    case HIST_GEN_VIBRATION:
        t->phase += 0.37;
        v.f =
            quantise(2.5 * sin(t->phase) + 0.8 * sin(2.9 * t->phase) + 0.3 * rng_normal(r), 1000.0);
        break;
    default:
        v.i = 0;
        break;
    }
    return v;
}

static uint32_t gen_quality(gen_tag *t)
{
    uint64_t *r = &t->rng;
    if (t->bad_left == 0 && rng_below(r, 20000) == 0) {
        t->bad_left = 5 + (uint32_t)rng_below(r, 56);
        /* UncertainLastUsableValue or BadNoCommunication. */
        t->bad_q = rng_below(r, 2) ? 0x40900000u : 0x80310000u;
    }
    if (t->bad_left) {
        t->bad_left--;
        return t->bad_q;
    }
    return HIST_QUALITY_GOOD;
}

size_t hist_gen_next(hist_gen *gen, uint32_t i, size_t max, int64_t *ts, hist_value *v, uint32_t *q)
{
    if (i >= gen->ntags)
        return 0;
    gen_tag *t = &gen->tags[i];
    uint64_t *r = &t->rng;
    int64_t period = gen->period_ns;
    if (t->kind == HIST_GEN_VIBRATION && period >= 10)
        period /= 10;
    /* Jitter of 1..5 ms, but never more than a quarter period. */
    int64_t jitter_unit = 1000000, jitter_max = 5;
    if (jitter_max * jitter_unit > period / 4)
        jitter_max = (period / 4) / jitter_unit;
    size_t n = 0;
    while (n < max) {
        if (rng_below(r, 20000) == 0)
            t->k += 10 + rng_below(r, 291); /* a gap: the gateway lost the link */
        int64_t off = 0;
        if (jitter_max > 0 && rng_below(r, 50) == 0) {
            off = (1 + (int64_t)rng_below(r, (uint64_t)jitter_max)) * jitter_unit;
            if (rng_below(r, 2))
                off = -off;
        }
        ts[n] = gen->start_ns + (int64_t)t->k * period + off;
        t->k++;
        v[n] = gen_value(t);
        uint32_t qual = gen_quality(t);
        if (q)
            q[n] = qual;
        n++;
    }
    return n;
}
