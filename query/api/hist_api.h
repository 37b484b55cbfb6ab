/*
 * hist_api.h: the HTTP read API, independent of the transport.
 *
 * ingest/ owns sockets and HTTP parsing; for every request under
 * /api/v1/query, /api/v1/tags, /api/v1/stats, /api/v1/admin and /grafana/
 * it fills a hist_api_request and calls hist_api_handle() off the event
 * loop (queries can be long). The
 * handler never returns 500 for bad input: a 400 with a JSON body
 * {"error": "...", "param": "..."} names what is wrong.
 */
#ifndef HIST_API_H
#define HIST_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist_tagset.h"
#include "storage/hist_storage.h"

/* Access scopes granted by a token (ingest/ checks them for writes). */
enum { HIST_SCOPE_READ = 1, HIST_SCOPE_WRITE = 2, HIST_SCOPE_ADMIN = 4 };

/* What one request may cost (docs/api.md "Limits"; historiand's options
 * --max-rows, --max-answer-mb, --query-timeout-ms, --max-patterns). A request
 * over one of them is answered with an error naming the limit and the
 * figure that exceeded it; the server goes on with the others. */
typedef struct {
    uint64_t max_rows;     /* result rows per request, all tags and targets together */
    size_t max_bytes;      /* bytes of one answer's body */
    uint32_t timeout_ms;   /* time a request may run; 0 = no deadline */
    uint32_t max_patterns; /* tag patterns (globs, regexes) per request */
} hist_api_limits;

#define HIST_API_DEFAULT_MAX_ROWS     UINT64_C(20000000)
#define HIST_API_DEFAULT_MAX_BYTES    ((size_t)512 << 20)
#define HIST_API_DEFAULT_TIMEOUT_MS   30000u
#define HIST_API_DEFAULT_MAX_PATTERNS 100u

void hist_api_limits_init(hist_api_limits *l);

typedef struct {
    const char *method;       /* "GET", "POST", "PUT", ... */
    const char *path;         /* decoded path, no query string: "/api/v1/query" */
    const char *query;        /* raw query string without '?', or "" */
    const char *content_type; /* or NULL */
    const char *accept;       /* or NULL */
    const uint8_t *body;
    size_t body_len;
    unsigned scopes; /* HIST_SCOPE_* the caller holds */
    /* The tags the caller may read (its grant's patterns); NULL = every
     * tag. Tags outside it are left out of listings and pattern answers,
     * and an explicit read of one by name is a 403 naming it (docs/api.md,
     * "Tag permissions"). Owned by the caller for the request's life. */
    const hist_tagset *tags;
    int64_t now_ns;  /* the request's "now", for relative times */
    /* The request's budgets; NULL = the defaults. The time budget counts
     * from the call to hist_api_handle(). */
    const hist_api_limits *limits;
} hist_api_request;

typedef struct {
    int status;               /* 200, 202, 400, 403, 404, 405, 413, 422, 500 */
    const char *content_type; /* static string */
    char *body;               /* malloc'd; the caller frees it */
    size_t body_len;
    /* Extra response header lines, each "Name: value\r\n" (e.g. the raw
     * query continuation "X-Historian-Next: ..."), malloc'd, or NULL. The
     * caller sends them verbatim and frees them. */
    char *headers;
    /* For the audit trail: the route needed the admin scope (answered
     * whatever the outcome), and the tag a 403 refused (malloc'd, the
     * caller frees it; NULL when the 403 was for a scope). */
    int admin;
    char *refused_tag;
    /* For the server's latency figures (/metrics): what kind of request
     * this was, a static string: the query mode ("raw", "latest",
     * "interp", "agg", "plot"), or "tags", "stats", "admin", "grafana";
     * NULL for anything else (an unknown route, a query refused before its
     * mode was read). The caller times the request itself. */
    const char *mode;
    /* An admin action's tag and what it did ("delete from=... to=...":
     * api_delete.c), for the audit line; malloc'd, the caller frees them. */
    char *audit_tag;
    char *audit_detail;
} hist_api_response;

/* 1 if path is served here (then ingest/ queues the request to the API). */
int hist_api_owns_path(const char *path);

/* Answers a request. Returns 0 with *resp filled (any status), or a
 * negative error only when not even an error response could be built. */
int hist_api_handle(hist_db *db, const hist_api_request *req, hist_api_response *resp);

/* The built-in trend viewer (docs/viewer.md): static files embedded at
 * build time, served without a token (they hold no data) and without the
 * API's queue. ingest/ asks hist_viewer_owns_path() before the API's
 * routes; "/" and "/viewer/..." are the viewer's. */
typedef struct {
    int status;               /* 200, 304 (the ETag matched), 404, 405 */
    const char *content_type; /* 200/304: static string */
    const void *body;         /* 200/304: static bytes, never freed */
    size_t len;
    const char *etag;          /* with its quotes */
    const char *cache_control; /* "no-cache" for the page, a year for the hashed assets */
} hist_viewer_reply;

int hist_viewer_owns_path(const char *path);

/* Fills *out for method (GET or HEAD) on path; if_none_match is the
 * request's If-None-Match header or NULL. Returns 0. */
int hist_viewer_answer(const char *method, const char *path, const char *if_none_match,
                       hist_viewer_reply *out);

#endif
