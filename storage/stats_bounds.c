/*
 * stats_bounds.c: the bucket bounds of the WAL sync latency histogram,
 * declared in hist_storage.h and shared by the WAL (which counts), the
 * storage stats and the /metrics exporter (which print them).
 */
#include <math.h>

#include "storage/hist_storage.h"

const double hist_sync_hist_bounds_us[HIST_SYNC_HIST_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, INFINITY,
};
