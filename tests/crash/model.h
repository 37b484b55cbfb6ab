/*
 * model.h: what a data directory must hold after a kill -9, and the check.
 *
 * The model keeps, for every slot of every tag of a plant (plant.h), the
 * last write known to be in the directory: every acknowledged request's,
 * applied in request order, and of the requests that were in flight at
 * the kill (sent, not acknowledged) those a check found had survived.
 * In-flight requests may or may not be there, but only as a prefix in
 * request order: each is one WAL record, written in order, and recovery
 * replays the log up to its first damaged record.
 *
 * model_check() reads every tag from an open hist_db, finds the prefix of
 * the in-flight requests that explains what it reads, and sorts every key
 * (tag, slot) that is not right into one of:
 *   lost     holds nothing, though a write it must show gave it a value;
 *   wrong    holds a value the model and that prefix do not give it (an
 *            older write's, or an in-flight one out of prefix order);
 *   phantom  holds a sample where the model has nothing and no in-flight
 *            request wrote (or at a time that is no slot at all).
 * It also loads every chunk in the index and checks its key and stats.
 */
#ifndef HIST_TESTS_CRASH_MODEL_H
#define HIST_TESTS_CRASH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plant.h"

/* What one key holds: nothing (set == 0) or a value and quality. */
typedef struct {
    uint64_t bits;
    uint32_t q;
    uint8_t set;
} model_value;

typedef struct {
    const plant *plant;                /* tags, periods and slot times; only its stream moves on */
    model_value *tags[PLANT_MAX_TAGS]; /* tags[i][slot] */
} crash_model;

/* A key that was not right, and what it held: applied to the model (after
 * the surviving requests) it makes the model agree with the directory, so
 * the next check counts each loss once, not again every round. */
typedef struct {
    int tag;
    int64_t slot;
    model_value got;
} model_fix;

typedef struct {
    uint32_t survived; /* in-flight requests found in the directory (a prefix) */
    uint64_t keys;     /* keys the model gave a value (all of them compared) */
    uint64_t lost, wrong, phantom;
    uint64_t chunks;     /* chunks in the index, all loaded */
    uint64_t bad_chunks; /* chunks that do not load, or whose key or stats are off */
    char backend[16];    /* the I/O backend the checking open used */
    size_t nfixes;       /* fixes filled (at most max_fixes; the rest are not known) */
} model_verdict;

int model_init(crash_model *m, const plant *p);
void model_free(crash_model *m);

/* Applies one request, in the order it was sent (the later write wins). */
void model_apply(crash_model *m, const plant_batch *b);

/* Compares db with the model, given the n in-flight requests in the order
 * they were sent; fills up to max_fixes fixes (fixes may be NULL). 0, or a
 * negative HIST_E* code when the directory could not be read. */
int model_check(const crash_model *m, hist_db *db, const plant_batch *const *inflight, size_t n,
                model_fix *fixes, size_t max_fixes, model_verdict *out);

void model_fix_apply(crash_model *m, const model_fix *fixes, size_t n);

#endif
