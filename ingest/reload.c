/*
 * reload.c: SIGHUP, what an operator changes without a restart.
 *
 * In order, on the loop thread:
 *   1. With a reload callback (historiand's --config file), the
 *      configuration is read again; a bad file changes nothing (the error
 *      names FILE:LINE). Keys that changed and can take effect at run time
 *      are applied: log-level (the server's and the storage engine's
 *      sinks, atomically), auth-file, access-log. Every other changed key
 *      is named in the log as needing a restart.
 *   2. The tokens file is loaded again. A good file replaces the server's
 *      snapshot (its reference dropped: requests and connections holding
 *      one keep theirs, see auth.c); a bad one is logged with FILE:LINE
 *      and the old grants stay.
 *   3. The access log and the audit file are opened again (log rotation).
 * systemd hears RELOADING=1 before and READY=1 after; the outcome is one
 * log line and one audit event ("reload").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

/* Step 1: the configuration file; 0, or < 0 when it could not be read. */
static int reload_config(hist_server *srv, hist_buf *said, audit_event *ev)
{
    if (!srv->opts.reload)
        return 0;
    hist_server_reload r = {0};
    char err[512] = "";
    if (srv->opts.reload(srv->opts.reload_ctx, &r, err, sizeof err) < 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR,
                  "SIGHUP: configuration not reloaded, nothing changed: %s", err);
        ev->status = 400;
        ev->detail = err;
        audit__log(srv->audit, ev);
        return -1;
    }
    if (r.log_level != srv->opts.log_level) {
        hist_log_sink_set_level(&srv->log, r.log_level);
        hist_db_set_log_level(srv->db, r.log_level);
        srv->opts.log_level = r.log_level;
    }
    /* Adding or removing the tokens file waits for a restart (the
     * callback names it so): with one or without decides what may be
     * bound. */
    if (r.auth_file && srv->auth_file && strcmp(r.auth_file, srv->auth_file)) {
        char *copy = strdup(r.auth_file);
        if (copy) {
            free(srv->auth_file);
            srv->opts.auth_file = srv->auth_file = copy;
        }
    }
    if ((r.access_log == NULL) != (srv->access_log == NULL) ||
        (r.access_log && strcmp(r.access_log, srv->access_log))) {
        char *copy = r.access_log ? strdup(r.access_log) : NULL;
        if (!r.access_log || copy) {
            free(srv->access_log);
            srv->opts.access_log = srv->access_log = copy;
            audit__close(srv->access);
            char why[400];
            if (access__open(srv, why, sizeof why) < 0)
                hist_logf(&srv->log, HIST_LOG_ERROR, "SIGHUP: access log off: %s", why);
        }
    }
    if (*r.applied)
        hist_buf_printf(said, "applied %s; ", r.applied);
    if (*r.restart)
        hist_buf_printf(said, "changed but not applied until a restart: %s; ", r.restart);
    if (!*r.applied && !*r.restart)
        hist_buf_puts(said, "configuration unchanged; ");
    return 0;
}

/* Step 2: the tokens file; 0, or < 0 when the old grants stay. */
static int reload_tokens(hist_server *srv, hist_buf *said, audit_event *ev)
{
    if (!srv->auth_file) {
        hist_buf_puts(said, "no tokens file");
        return 0;
    }
    char err[512];
    hist_auth *fresh;
    if (auth__load(srv->auth_file, &fresh, err, sizeof err) < 0) {
        hist_logf(&srv->log, HIST_LOG_ERROR, "tokens file not reloaded, the old grants stay: %s",
                  err);
        ev->status = 400;
        ev->detail = err;
        audit__log(srv->audit, ev);
        return -1;
    }
    hist_auth *old = srv->auth;
    srv->auth = fresh;
    auth__unref(old);
    hist_buf_printf(said, "tokens file %s reloaded: %zu grants", srv->auth_file,
                    auth__count(fresh));
    return 0;
}

/* Step 3: the log files again, where rotation may have moved them. */
static void reopen_logs(hist_server *srv)
{
    char why[400];
    if (srv->access && audit__reopen(srv->access, srv->access_log, why, sizeof why) < 0)
        hist_logf(&srv->log, HIST_LOG_ERROR, "SIGHUP: access log not reopened: %s", why);
    if (audit__reopen(srv->audit, srv->opts.audit_file, why, sizeof why) < 0)
        hist_logf(&srv->log, HIST_LOG_ERROR, "SIGHUP: audit file not reopened: %s", why);
}

void reload__run(hist_server *srv)
{
    audit_event ev = {
        .event = "reload", .proto = "signal", .method = "SIGHUP", .route = srv->auth_file};
    service__notify(srv, "RELOADING=1");
    hist_buf said;
    hist_buf_init(&said);
    int rc = reload_config(srv, &said, &ev);
    ev.route = srv->auth_file; /* a reload may have freed the old path */
    if (rc == 0 && reload_tokens(srv, &said, &ev) == 0) {
        reopen_logs(srv);
        const char *msg = said.failed ? "reloaded" : said.data;
        hist_logf(&srv->log, HIST_LOG_INFO, "SIGHUP: %s", msg);
        ev.status = 200;
        ev.detail = msg;
        audit__log(srv->audit, &ev);
    }
    hist_buf_free(&said);
    service__notify(srv, "READY=1");
}
