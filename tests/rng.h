/*
 * rng.h: the tests' one pseudo-random step (xorshift64, Marsaglia 2003).
 * Each test keeps its own state with its own fixed seed, so every run of a
 * test draws the same numbers and a failure repeats.
 */
#ifndef HIST_TESTS_RNG_H
#define HIST_TESTS_RNG_H

#include <stdint.h>

/* The next number of the sequence in *state (never 0 when the seed is not). */
static inline uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
