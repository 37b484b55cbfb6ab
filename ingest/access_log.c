/*
 * access_log.c: --access-log, one line per HTTP request.
 *
 * A line is written when the request's answer is filled (conn.c's
 * conn__reply_ready), so the duration is from the complete request to the
 * complete answer, not the time on the wire. Fields: time (UTC), peer,
 * method, route (the path, without the query string, which may carry a
 * line protocol token), status, bytes of the body, duration, the grant's
 * id (never a token; "-" when none). In --log-format text:
 *   2026-12-03T04:30:00.123Z 127.0.0.1:50312 GET /api/v1/query 200 5123 1.234ms grant=ops
 * and in json one object a line with the same names. The file is opened
 * O_APPEND (audit.c's line files) and reopened at SIGHUP for log rotation.
 * Runs on the loop thread only.
 */
#include <stdio.h>

#include "ingest/ingest.h"

int access__open(hist_server *srv, char *err, size_t errlen)
{
    srv->access = NULL;
    if (!srv->access_log)
        return 0;
    return audit__open_lines(srv->access_log, "ACCESS ", &srv->access, err, errlen);
}

void access__log(hist_server *srv, const hist_reply *r)
{
    if (!srv->access || !r->note.set)
        return;
    const access_note *n = &r->note;
    char stamp[40];
    clock__wall_stamp(stamp, sizeof stamp);
    double ms = (double)(clock__now_us() - n->start_us) / 1000.0;
    const char *grant = n->grant[0] ? n->grant : "-";
    hist_buf b;
    hist_buf_init(&b);
    if (srv->opts.log_format == HIST_LOG_JSON) {
        hist_buf_printf(&b, "{\"time\":\"%s\",\"peer\":", stamp);
        audit__json_string(&b, r->conn->peer);
        hist_buf_puts(&b, ",\"method\":");
        audit__json_string(&b, n->method);
        hist_buf_puts(&b, ",\"route\":");
        audit__json_string(&b, n->route);
        hist_buf_printf(&b,
                        ",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,\"grant\":", r->status,
                        r->body_len, ms);
        audit__json_string(&b, grant);
        hist_buf_puts(&b, "}\n");
    } else {
        /* the route is a decoded path: control bytes and spaces would
         * break the line's fields, so they show as '?' */
        char route[sizeof n->route];
        size_t i = 0;
        for (; n->route[i]; i++)
            route[i] =
                (unsigned char)n->route[i] <= 0x20 || n->route[i] == 0x7f ? '?' : n->route[i];
        route[i] = 0;
        hist_buf_printf(&b, "%s %s %s %s %d %zu %.3fms grant=%s\n", stamp, r->conn->peer, n->method,
                        route, r->status, r->body_len, ms, grant);
    }
    if (!b.failed)
        audit__write_line(srv->access, b.data, b.len);
    hist_buf_free(&b);
}
