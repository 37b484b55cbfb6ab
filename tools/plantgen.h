/*
 * plantgen.h: a deterministic generator of plant-like tag data, for the
 * benches, the gateway simulator and tests.
 *
 * Signal kinds: quantised analog measurements with noise, piecewise-constant
 * setpoints, valve positions, noisy flows, monotonic counters, booleans and
 * fast vibration signals. Sampled at a period (1 Hz typical) with small
 * jitter and occasional gaps; names like site1/area2/line3/cell4/temperature_pv.
 * The same (seed, tag index) always gives the same series, whatever order
 * tags are generated in.
 */
#ifndef HIST_TOOLS_PLANTGEN_H
#define HIST_TOOLS_PLANTGEN_H

#include <stddef.h>

#include "common/hist_types.h"

typedef enum {
    HIST_GEN_ANALOG = 0, /* temperature, pressure, level: quantised, slow, noisy */
    HIST_GEN_SETPOINT,   /* piecewise constant */
    HIST_GEN_VALVE,      /* position 0..100 %, moves in steps */
    HIST_GEN_FLOW,       /* noisy flow rate */
    HIST_GEN_COUNTER,    /* monotonic int64 counter with rare resets */
    HIST_GEN_BOOL,       /* running / alarm states */
    HIST_GEN_VIBRATION,  /* fast, high-entropy signal (sampled faster) */
    HIST_GEN__KINDS
} hist_gen_kind;

typedef struct hist_gen hist_gen;

/* ntags tags with kinds in a fixed plant-like mix; samples from start_ns
 * every period_ns (vibration tags use period_ns / 10). */
hist_gen *hist_gen_new(uint32_t ntags, uint64_t seed, int64_t start_ns, int64_t period_ns);
void hist_gen_free(hist_gen *gen);

uint32_t hist_gen_ntags(const hist_gen *gen);
const char *hist_gen_tag_name(const hist_gen *gen, uint32_t i);
hist_type hist_gen_tag_type(const hist_gen *gen, uint32_t i);
hist_gen_kind hist_gen_tag_kind(const hist_gen *gen, uint32_t i);
const char *hist_gen_kind_name(hist_gen_kind kind);

/* The next up to max samples of tag i (ts ascending), continuing where the
 * last call for that tag stopped. Returns how many were written. */
size_t hist_gen_next(hist_gen *gen, uint32_t i, size_t max, int64_t *ts, hist_value *v,
                     uint32_t *q);

#endif
