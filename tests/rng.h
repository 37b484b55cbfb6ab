/*
 * rng.h: the tests' pseudo-random steps (xorshift64, Marsaglia 2003, and
 * xorshift64*, Vigna 2016, whose multiply spreads every bit into the top:
 * the codec tests take uniform doubles from it).
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

/* The next number of the xorshift64* sequence in *state. */
static inline uint64_t xorshift64star(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
