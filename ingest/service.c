/*
 * service.c: what historiand does for a service manager.
 *
 * Readiness: under systemd (Type=notify, $NOTIFY_SOCKET set) the server
 * says READY=1 once both listeners are bound and the data directory is
 * recovered, RELOADING=1 ... READY=1 around a SIGHUP, and STOPPING=1 when
 * a stop begins; sd_notify() does nothing without $NOTIFY_SOCKET, so the
 * same binary runs by hand unchanged.
 *
 * File descriptors: every connection holds one, and the usual soft limit
 * (1,024) is below the default --max-connections (4,096). At start the
 * soft limit is raised to what max_connections needs plus FD_RESERVE for
 * the rest (WAL and segment files, LMDB, logs, MQTT links, libuv's own);
 * when the hard limit is lower, the connection limit is lowered to what
 * fits, and the log says so: a refused connection is better than accept()
 * failing with EMFILE for every client at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <systemd/sd-daemon.h>

#include "ingest/ingest.h"

#define FD_RESERVE 256

void service__notify(hist_server *srv, const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        hist_logf(&srv->log, HIST_LOG_WARN, "sd_notify(%s): %s", state, strerror(-rc));
}

void service__fit_fd_limit(hist_server *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t need = (rlim_t)srv->opts.max_connections + FD_RESERVE;
    if (rl.rlim_cur >= need)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        hist_logf(&srv->log, HIST_LOG_WARN, "cannot raise the file descriptor limit from %llu: %s",
                  (unsigned long long)old, strerror(errno));
        rl.rlim_cur = old;
    }
    if (rl.rlim_cur >= need) {
        hist_logf(&srv->log, HIST_LOG_INFO,
                  "file descriptor limit raised from %llu to %llu for --max-connections %u",
                  (unsigned long long)old, (unsigned long long)rl.rlim_cur,
                  srv->opts.max_connections);
        return;
    }
    unsigned fit = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                                                : (unsigned)(rl.rlim_cur / 2);
    if (fit == 0)
        fit = 1;
    hist_logf(&srv->log, HIST_LOG_WARN,
              "the file descriptor limit is %llu (hard %llu): serving at most %u connections, "
              "not --max-connections %u; raise the hard limit (LimitNOFILE=, ulimit -Hn) for more",
              (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit,
              srv->opts.max_connections);
    srv->opts.max_connections = fit;
}
