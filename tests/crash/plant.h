/*
 * plant.h: a deterministic, plant-like stream of write requests for the
 * kill -9 tests (tests/storage/test_crash.c, tests/e2e/test_crash.c) and
 * the soak (tests/soak/).
 *
 * The plant has a few fast ("hot") tags and slower analog and counter tags
 * (10 s to 1 h), each sampled on its own period. Its gateway sends requests
 * of four kinds:
 *   live        what the tags sampled since their last request, up to the
 *               live clock: 10 s to 10 min of plant time, or after an
 *               "outage" 1 to 3 h in one request, so single series cross one
 *               or more hour boundaries; several tags per request, some
 *               samples swapped (out of order), some slots written twice in
 *               one series (the later one wins);
 *   correction  the last minutes to an hour before a tag's live edge again,
 *               newest first (overwrites unsealed and held samples);
 *   backfill    a run of old slots anywhere in the ring, shuffled
 *               (overwrites sealed samples, out of order);
 *   scatter     single slots all over the ring: one request touching many
 *               hours and days.
 *
 * Plant time is a ring of shape.span (days) from a UTC midnight: when the
 * live clock passes its end the plant starts again at the beginning, so
 * every pass overwrites the last one and the keyspace stays bounded.
 *
 * Invariants the model (model.h) relies on:
 *   - every slot of a tag has one fixed timestamp (its period grid, plus a
 *     jitter below the period fixed per slot on jittery tags), so writing a
 *     slot again writes the same (tag, ts), and a timestamp names its slot;
 *   - every value written is unique (a counter), so a value read back names
 *     the write it came from;
 *   - a request names a tag at most once.
 * The generator is a plain struct: a copy (a fork) continues the same stream.
 */
#ifndef HIST_TESTS_CRASH_PLANT_H
#define HIST_TESTS_CRASH_PLANT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/hist_storage.h"

#define PLANT_MAX_TAGS 12
#define PLANT_SECOND   INT64_C(1000000000)
#define PLANT_HOUR     (3600 * PLANT_SECOND)
#define PLANT_DAY      (24 * PLANT_HOUR)

typedef struct {
    int ntags;          /* <= PLANT_MAX_TAGS */
    int hot;            /* tags 0 .. hot-1 sample every hot_period */
    int64_t hot_period; /* ns */
    int64_t span;       /* the ring of plant time, ns */
    size_t series_max;  /* samples in one series at most (a live series lags behind) */
} plant_shape;

typedef struct {
    char name[48];
    hist_type type;
    int64_t period; /* ns between slots */
    int jittery;    /* slot times are off the grid by a fixed amount each */
    int64_t nslots; /* slots in the ring */
    int64_t next;   /* the first slot the next live request sends */
} plant_tag;

typedef struct {
    plant_shape shape;
    int64_t origin; /* the ring starts here (a UTC midnight) */
    int64_t clock;  /* live edge, ns after origin */
    int laps;       /* times the ring started again */
    uint64_t rng;
    uint64_t counter; /* the last value handed out */
    plant_tag tags[PLANT_MAX_TAGS];
} plant;

/* One tag's part of a request, in the order it is sent. */
typedef struct {
    int tag; /* index into plant.tags */
    size_t n, cap;
    int64_t *ts;
    hist_value *v;
    uint32_t *q;
} plant_series;

typedef struct {
    int nseries;
    plant_series series[PLANT_MAX_TAGS];
    size_t samples;
} plant_batch;

/* Shapes sized for the storage engine with 64-sample chunks (the storage
 * test and soak) and for historiand with its fixed 8192 (two 1 Hz tags fill
 * a buffer in a few dozen requests). */
plant_shape plant_shape_storage(void);
plant_shape plant_shape_server(void);

void plant_init(plant *p, const plant_shape *shape, uint64_t seed);

/* The next request into b (its arrays are reused and grown). */
void plant_next(plant *p, plant_batch *b);
void plant_batch_free(plant_batch *b);

/* The fixed timestamp of a slot, and the slot of a timestamp (-1 when
 * none of the tag's slots has exactly that time). */
int64_t plant_slot_ts(const plant *p, int tag, int64_t slot);
int64_t plant_ts_slot(const plant *p, int tag, int64_t ts);

#endif
