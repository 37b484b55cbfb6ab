/*
 * clock.h: the two clocks of the storage engine (internal to storage/), in
 * ns: monotonic for ages and intervals, the wall clock for times that are
 * stored or compared with sample times.
 */
#ifndef HIST_STORAGE_CLOCK_H
#define HIST_STORAGE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock__ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline int64_t clock__mono_ns(void)
{
    return clock__ns(CLOCK_MONOTONIC);
}

static inline int64_t clock__wall_ns(void)
{
    return clock__ns(CLOCK_REALTIME);
}

#endif
