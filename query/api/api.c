/*
 * api.c: the HTTP read API's entry (hist_api.h): the route table and the
 * access scopes. The top of the API's call order (api_internal.h): it calls
 * the endpoints, nothing calls it.
 *
 * Routes (see docs/api.md):
 *   GET|POST /api/v1/query          api_query.c      scope READ
 *   GET      /api/v1/tags[/{name}]  api_tags.c       scope READ
 *   PUT      /api/v1/tags/{name}    api_tags.c       scope ADMIN
 *   DELETE   /api/v1/tags/{name}    api_delete.c     scope ADMIN
 *   GET      /api/v1/stats          api_stats.c      scope READ
 *   GET|POST /api/v1/admin/scrub    api_admin.c      scope ADMIN
 *   GET|POST /api/v1/admin/backup   api_backup.c     scope ADMIN
 *   POST     /api/v1/admin/delete   api_delete.c     scope ADMIN
 *   GET|POST /grafana/...           grafana.c        scope READ
 * Tag permissions (docs/api.md): req->tags, the caller's grant, filters
 * every tag walk (tag_match.c) and refuses an exact name outside it with a
 * 403 naming the tag; a route that needs ADMIN sets resp->admin for the
 * audit trail, which ingest/ writes on its loop thread.
 * An answer that left damaged chunks out says how many in the header
 * X-Historian-Damaged-Chunks.
 * Bad input always gets a 4xx with {"error": "...", "param": "..."}; a 500
 * only reports a storage failure. Every request runs under its budgets
 * (budget.c): rows, answer bytes, patterns and time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/api/api_internal.h"

/* ---- Routing ------------------------------------------------------------------------- */

/* path == prefix, or path continues with '/' after it. */
static bool path_under(const char *path, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return false;
    if (path[n] != '\0' && path[n] != '/')
        return false;
    *rest = path + n;
    return true;
}

int hist_api_owns_path(const char *path)
{
    const char *rest;
    if (!path)
        return 0;
    return path_under(path, "/api/v1/query", &rest) || path_under(path, "/api/v1/tags", &rest) ||
           path_under(path, "/api/v1/stats", &rest) || path_under(path, "/api/v1/admin", &rest) ||
           path_under(path, "/grafana", &rest);
}

static bool method_is(const api_ctx *c, const char *m)
{
    return c->req->method && !strcmp(c->req->method, m);
}

/* 0 when the caller holds scope, else API_ANSWERED (a 403). */
static int scope_or_reply(api_ctx *c, unsigned scope)
{
    if (scope == HIST_SCOPE_ADMIN)
        c->resp->admin = 1; /* audited whatever the outcome (ingest/audit.c) */
    if (c->req->scopes & scope)
        return 0;
    return api__reply_error(
        c, 403, NULL, "this token lacks the %s scope",
        scope == HIST_SCOPE_ADMIN ? "admin" : (scope == HIST_SCOPE_WRITE ? "write" : "read"));
}

static int reply_not_allowed(api_ctx *c, const char *allow)
{
    api__add_header(c, "Allow", allow);
    return api__reply_error(c, 405, NULL, "method %s not allowed here (allowed: %s)",
                            c->req->method ? c->req->method : "?", allow);
}

static int route(api_ctx *c)
{
    const char *path = c->req->path ? c->req->path : "", *rest;
    if (path_under(path, "/api/v1/query", &rest) && *rest == '\0') {
        if (!method_is(c, "GET") && !method_is(c, "POST"))
            return reply_not_allowed(c, "GET, POST");
        if (scope_or_reply(c, HIST_SCOPE_READ))
            return API_ANSWERED;
        return api__query_handle(c); /* sets resp->mode once the mode is read */
    }
    if (path_under(path, "/api/v1/tags", &rest)) {
        c->resp->mode = "tags";
        const char *name = *rest ? rest + 1 : NULL;
        if (name && !*name)
            name = NULL;
        if (method_is(c, "PUT")) {
            if (!name)
                return reply_not_allowed(c, "GET");
            if (scope_or_reply(c, HIST_SCOPE_ADMIN))
                return API_ANSWERED;
            return api__tags_handle(c, name);
        }
        if (method_is(c, "DELETE")) {
            if (!name)
                return reply_not_allowed(c, "GET");
            if (scope_or_reply(c, HIST_SCOPE_ADMIN))
                return API_ANSWERED;
            return api__tag_delete_handle(c, name);
        }
        if (!method_is(c, "GET"))
            return reply_not_allowed(c, name ? "GET, PUT, DELETE" : "GET");
        if (scope_or_reply(c, HIST_SCOPE_READ))
            return API_ANSWERED;
        return api__tags_handle(c, name);
    }
    if (path_under(path, "/api/v1/stats", &rest) && *rest == '\0') {
        c->resp->mode = "stats";
        if (!method_is(c, "GET"))
            return reply_not_allowed(c, "GET");
        if (scope_or_reply(c, HIST_SCOPE_READ))
            return API_ANSWERED;
        return api__stats_handle(c);
    }
    if (path_under(path, "/api/v1/admin/scrub", &rest) && *rest == '\0') {
        c->resp->mode = "admin";
        if (!method_is(c, "GET") && !method_is(c, "POST"))
            return reply_not_allowed(c, "GET, POST");
        if (scope_or_reply(c, HIST_SCOPE_ADMIN))
            return API_ANSWERED;
        return api__admin_scrub_handle(c);
    }
    if (path_under(path, "/api/v1/admin/backup", &rest) && *rest == '\0') {
        c->resp->mode = "admin";
        if (!method_is(c, "GET") && !method_is(c, "POST"))
            return reply_not_allowed(c, "GET, POST");
        if (scope_or_reply(c, HIST_SCOPE_ADMIN))
            return API_ANSWERED;
        return api__admin_backup_handle(c);
    }
    if (path_under(path, "/api/v1/admin/delete", &rest) && *rest == '\0') {
        c->resp->mode = "admin";
        if (!method_is(c, "POST"))
            return reply_not_allowed(c, "POST");
        if (scope_or_reply(c, HIST_SCOPE_ADMIN))
            return API_ANSWERED;
        return api__admin_delete_handle(c);
    }
    if (path_under(path, "/grafana", &rest)) {
        c->resp->mode = "grafana";
        if (scope_or_reply(c, HIST_SCOPE_READ))
            return API_ANSWERED;
        return grafana__handle(c, *rest ? rest : "/");
    }
    return api__reply_error(c, 404, NULL, "no such endpoint: %s", path);
}

int hist_api_handle(hist_db *db, const hist_api_request *req, hist_api_response *resp)
{
    memset(resp, 0, sizeof *resp);
    api_ctx c = {.db = db, .req = req, .resp = resp};
    api__budget_start(&c);
    int rc = route(&c);
    if (c.answered && resp->status == 200 && resp->body_len > c.budget.lim.max_bytes) {
        free(resp->headers); /* a continuation of an answer that is not sent */
        resp->headers = NULL;
        api__budget_bytes_or_reply(&c, resp->body_len);
    }
    if (rc < 0 && !c.answered)
        rc = api__reply_internal(&c, rc);
    if (!c.answered)
        api__reply_error(&c, 500, NULL, "no answer was produced");
    if (c.damaged_chunks && resp->status == 200) {
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)c.damaged_chunks);
        api__add_header(&c, "X-Historian-Damaged-Chunks", n);
    }
    return c.answered ? 0 : HIST_ENOMEM;
}
