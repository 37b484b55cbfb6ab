/*
 * health.c: what GET /healthz says.
 *
 * 200 "ok" while the server takes writes and seals them. 503 with the
 * reason while it is degraded (storage/degraded.c): the WAL refuses writes
 * (a full disk, an I/O error: gateways keep their data in their spool and
 * retry), or sealing fails (writes are still acknowledged and safe in the
 * WAL, which grows). A load balancer or systemd watchdog reads the status;
 * a person reads the line. One more line per MQTT broker says its
 * connection's state.
 */
#include <stdio.h>
#include <string.h>

#include "ingest/ingest.h"

/* One line a broker after the storage's: "mqtt HOST:PORT connected". A
 * broker that is down does not make the server unhealthy (the broker keeps
 * the messages of our session until we are back); the line says why. */
static void brokers_text(const hist_metrics *m, char *out, size_t cap)
{
    size_t len = strlen(out);
    for (size_t i = 0; i < m->n_mqtt && len < cap; i++) {
        int k = snprintf(out + len, cap - len, "mqtt %s %s\n", m->mqtt[i]->broker,
                         m->mqtt[i]->state);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

static int storage_text(hist_db *db, char *out, size_t cap)
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

int health__text(hist_db *db, const hist_metrics *m, char *out, size_t cap)
{
    int status = storage_text(db, out, cap);
    if (m)
        brokers_text(m, out, cap);
    return status;
}
