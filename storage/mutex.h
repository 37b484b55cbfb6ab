/*
 * mutex.h: the storage engine's mutexes (internal to storage/), with an
 * owner check for "mu held" (SQLite's assert(sqlite3_mutex_held())).
 *
 * A function whose comment says that its caller holds a mutex states it as
 * HIST_ASSERT(mu_held(&db->mu)) at its start. In builds with
 * HIST_DEBUG_CHECKS (Debug, sanitizer, fuzz) mu_lock() records the owning
 * thread and mu_unlock() and mu_wait() clear it while the mutex is not
 * held; mu_held() is true only on the thread that holds it. Otherwise the
 * struct is the bare pthread mutex, the helpers are the pthread calls and
 * the assertion is compiled out: release builds pay nothing.
 */
#ifndef HIST_STORAGE_MUTEX_H
#define HIST_STORAGE_MUTEX_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

typedef struct {
    pthread_mutex_t m;
#ifdef HIST_DEBUG_CHECKS
    pthread_t owner; /* valid while held */
    _Atomic bool held;
#endif
} db_mutex;

static inline void mu_init(db_mutex *mu)
{
    pthread_mutex_init(&mu->m, NULL);
#ifdef HIST_DEBUG_CHECKS
    mu->held = false;
#endif
}

static inline void mu_destroy(db_mutex *mu)
{
    pthread_mutex_destroy(&mu->m);
}

static inline void mu_note_owner(db_mutex *mu)
{
#ifdef HIST_DEBUG_CHECKS
    mu->owner = pthread_self();
    mu->held = true;
#else
    (void)mu;
#endif
}

static inline void mu_note_released(db_mutex *mu)
{
#ifdef HIST_DEBUG_CHECKS
    mu->held = false;
#else
    (void)mu;
#endif
}

static inline void mu_lock(db_mutex *mu)
{
    pthread_mutex_lock(&mu->m);
    mu_note_owner(mu);
}

static inline void mu_unlock(db_mutex *mu)
{
    mu_note_released(mu);
    pthread_mutex_unlock(&mu->m);
}

/* pthread_cond_wait / pthread_cond_timedwait (until != NULL) on mu. */
static inline int mu_wait(pthread_cond_t *cv, db_mutex *mu, const struct timespec *until)
{
    mu_note_released(mu);
    int rc = until ? pthread_cond_timedwait(cv, &mu->m, until) : pthread_cond_wait(cv, &mu->m);
    mu_note_owner(mu);
    return rc;
}

/* Whether the calling thread holds mu (debug builds; elsewhere it is only
 * named inside a HIST_ASSERT, which never runs it). */
static inline bool mu_held(db_mutex *mu)
{
#ifdef HIST_DEBUG_CHECKS
    return mu->held && pthread_equal(mu->owner, pthread_self());
#else
    (void)mu;
    return true;
#endif
}

#endif
