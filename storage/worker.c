/*
 * worker.c: the throttled background thread of worker.h.
 */
#include <time.h>

#include "storage/worker.h"

void worker__init(bg_worker *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->stop = false;
    w->has_thread = false;
}

void worker__stop(bg_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    bool join = w->has_thread;
    w->has_thread = false;
    pthread_mutex_unlock(&w->mu);
    if (join)
        pthread_join(w->thread, NULL);
}

void worker__destroy(bg_worker *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

bool worker__stop_asked(bg_worker *w)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

bool worker__nap(bg_worker *w, int64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t t = until.tv_nsec + ns % 1000000000;
    until.tv_sec += (time_t)(ns / 1000000000 + t / 1000000000);
    until.tv_nsec = (long)(t % 1000000000);
    pthread_mutex_lock(&w->mu);
    while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
        ;
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return !stop;
}

bool worker__throttle(bg_worker *w, int64_t *work_ns, double share, int64_t slice_ns)
{
    if (share >= 1.0 || *work_ns < slice_ns)
        return !worker__stop_asked(w);
    int64_t pause = (int64_t)((double)*work_ns * (1.0 - share) / share);
    *work_ns = 0;
    return worker__nap(w, pause);
}
