/*
 * worker.h: a background thread of the storage engine that works in slices
 * and sleeps in proportion to its share of one core: the scrub's and the
 * compactor's (internal to storage/).
 *
 * Invariant: stop is only ever set (never cleared), under mu; a sleeping
 * worker wakes on it at once, a working one sees it at its next
 * worker__throttle() or worker__stop_asked(), so worker__stop() waits for
 * one slice at most. mu also guards what the owner keeps beside the worker
 * (the scrub's running flag and reports).
 */
#ifndef HIST_STORAGE_WORKER_H
#define HIST_STORAGE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC: wakes a sleeping worker when stop is set */
    bool stop, has_thread;
    pthread_t thread; /* valid while has_thread */
} bg_worker;

void worker__init(bg_worker *w);
/* Sets stop, wakes the thread and joins it (when there is one). */
void worker__stop(bg_worker *w);
/* After worker__stop(). */
void worker__destroy(bg_worker *w);
bool worker__stop_asked(bg_worker *w);
/* Sleeps up to ns or until stopped; false when the worker must stop. */
bool worker__nap(bg_worker *w, int64_t ns);
/* Once *work_ns (the work since the last sleep) reaches slice_ns, sleeps
 * *work_ns * (1 - share) / share so that the work takes share (0, 1] of
 * the time, and starts a new slice. false when the worker must stop. */
bool worker__throttle(bg_worker *w, int64_t *work_ns, double share, int64_t slice_ns);

#endif
