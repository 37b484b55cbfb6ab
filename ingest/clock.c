/*
 * clock.c: the monotonic millisecond clock of the front end (idle and
 * slow-client timeouts, drain deadlines). Calls nothing of ingest/.
 */
#include <time.h>

#include "ingest/ingest.h"

uint64_t clock__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
