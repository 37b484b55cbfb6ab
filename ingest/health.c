/*
 * health.c: what GET /healthz says.
 *
 * 200 "ok" while the server takes writes and seals them. 503 with the
 * reason while it is degraded (storage/degraded.c): the WAL refuses writes
 * (a full disk, an I/O error: gateways keep their data in their spool and
 * retry), or sealing fails (writes are still acknowledged and safe in the
 * WAL, which grows). A load balancer or systemd watchdog reads the status;
 * a person reads the line.
 */
#include <stdio.h>
#include <string.h>

#include "ingest/ingest.h"

int health__text(hist_db *db, char *out, size_t cap)
{
    hist_db_stats st;
    memset(&st, 0, sizeof st);
    if (!db || hist_db_get_stats(db, &st) != 0) {
        snprintf(out, cap, "degraded: storage statistics unavailable\n");
        return 503;
    }
    if (st.fatal_error) {
        snprintf(out, cap, "failed: %s after a WAL append; writes refused until a restart\n",
                 hist_strerror(st.fatal_error));
        return 503;
    }
    if (st.wal_error) {
        snprintf(out, cap, "degraded: writes refused: %s (WAL failures since start: %llu)\n",
                 hist_strerror(st.wal_error), (unsigned long long)st.wal_failures);
        return 503;
    }
    if (st.seal_error) {
        snprintf(out, cap,
                 "degraded: sealing chunks fails: %s; writes are acknowledged and kept in the "
                 "WAL\n",
                 hist_strerror(st.seal_error));
        return 503;
    }
    snprintf(out, cap, "ok\n");
    return 200;
}
