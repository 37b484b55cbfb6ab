/*
 * api_internal.h: what the HTTP read API's files share. Not a door: only the
 * files of query/api/ include it (the door is hist_api.h).
 *
 * Calls go one way, from the top down; nothing calls a file above it:
 *   api.c           hist_api_handle(), the route table and the scopes: calls
 *                   the endpoints (it is the only caller of *_handle)
 *   endpoints       api_query.c, api_tags.c, api_stats.c, api_admin.c,
 *                   grafana.c: call the shared helpers below, never api.c
 *                   and never each other
 *   api_query_opts.c the options of a query (/api/v1/query and Grafana)
 *   tag_match.c     tag lists and globs (query, tags, Grafana)
 *   params.c        a request's parameters (query string, form, JSON body)
 *   reply.c         the answer: errors, JSON/buffer bodies, headers, values
 *   json_out.c      the JSON/CSV writer (json__), on common/hist_buf.h
 * and under them all the engine (query/hist_query.h) and the store.
 *
 * API_ANSWERED: a function that has set the answer (c->resp, an error or
 * not) returns API_ANSWERED, and its caller stops and returns it too. The
 * api__reply_* functions always return it. Helpers that may answer carry
 * it in their names (..._or_reply, Redis's ...OrReply habit): 0 means
 * "went through, nothing answered, go on", API_ANSWERED "failed, and the
 * error answer is already set". An endpoint returns API_ANSWERED, or a
 * negative HIST_E* code when it answered nothing (hist_api_handle then
 * answers a 500; it also notices an answer that could not be allocated,
 * c->answered false).
 *
 * Requests are turned into a flat list of string parameters (query string,
 * form body or JSON body alike), so every endpoint validates its input with
 * one set of rules and one error shape: 400 {"error": ..., "param": ...}.
 */
#ifndef HIST_API_INTERNAL_H
#define HIST_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "query/api/hist_api.h"
#include "query/api/json_out.h"
#include "query/hist_query.h"

/* The answer is set: stop and return this (see the top of this file). */
#define API_ANSWERED 1

typedef struct {
    char *key, *value;
} api_kv;

typedef struct {
    api_kv *v;
    size_t n, cap;
} api_params;

typedef struct {
    hist_db *db;
    const hist_api_request *req;
    hist_api_response *resp;
    bool answered; /* resp holds a complete answer (maybe an error) */
    /* Damaged chunks the answer left out, summed over its queries: sent as
     * X-Historian-Damaged-Chunks when not 0 (hist_api_handle). */
    uint64_t damaged_chunks;
    /* The tag an explicit read named that the caller's grant does not
     * cover (tag_match.c sets it and returns HIST_EAUTH; api__reply_internal
     * then answers the 403 naming it). */
    char refused[HIST_TAG_NAME_MAX + 1];
} api_ctx;

/* ---- Answers (reply.c) ---- */
/* Sets an error answer {"error": msg, "param": param or null}. */
int api__reply_error(api_ctx *c, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers with the JSON/buffer content (ownership is taken). */
int api__reply_json(api_ctx *c, int status, hist_json *j);
int api__reply_buf(api_ctx *c, int status, const char *content_type, hist_buf *b);
/* A storage/engine failure that is not the client's fault: a 500; but
 * HIST_EAUTH after a refused tag (c->refused) is the 403 naming it. */
int api__reply_internal(api_ctx *c, int rc);
/* Tag permissions (docs/api.md): true when the caller's grant covers the
 * tag (c->req->tags; NULL = every tag). */
bool api__may_read(const api_ctx *c, const char *name);
/* The 403 for an explicit read of a tag outside the grant, naming it. */
int api__reply_forbidden(api_ctx *c, const char *param, const char *tag);
/* Appends a header line "name: value\r\n" to the answer. */
void api__add_header(api_ctx *c, const char *name, const char *value);
/* Writes v of a tag of the given type as a JSON number (bool as 0/1). */
void api__json_value(hist_json *j, hist_type type, hist_value v);
/* ns to ms, rounded down (times before 1970 stay ordered). */
int64_t api__ns_to_ms(int64_t ns);

/* ---- Parameters (params.c) ---- */
void api__params_free(api_params *p);
int api__params_add(api_params *p, const char *key, size_t klen, const char *val, size_t vlen);
/* Adds every member of a JSON object: strings as they are, numbers in
 * decimal, booleans as "true"/"false", arrays as repeated keys. Nested
 * objects and nulls are skipped. */
int api__params_from_json(api_params *p, json_t *obj);
/* The last value given for key, or NULL. */
const char *api__param(const api_params *p, const char *key);
/* Parses the request's parameters (query string, then the body when it is
 * a form or a JSON object): 0, or API_ANSWERED (a 400 for a malformed
 * body). */
int api__params_or_reply(api_ctx *c, api_params *p);

/* ---- Tags (tag_match.c) ---- */
typedef struct {
    hist_tag_info *v;
    size_t n, cap;
} api_tag_list;

void api__tag_list_free(api_tag_list *l);
int api__tag_list_add(api_tag_list *l, const hist_tag_info *t);
bool api__has_wildcard(const char *s);
/* Tags outside the caller's grant (c->req->tags) are never listed: a glob
 * leaves them out, an exact name outside it is HIST_EAUTH with c->refused
 * set (then api__reply_internal answers the 403 naming it).
 * Adds the tags matching the glob (or, when glob has no wildcard, the tag
 * with that exact name) to out. At most max tags: HIST_ENOSPC beyond. Globs:
 * '*' any run within one segment, '?' one character (not '/'), '**' any run
 * across segments ("a/ **" also matches "a"). */
int api__tags_match(api_ctx *c, const char *glob, size_t max, api_tag_list *out);
/* Every tag starting with prefix and matching glob (either may be NULL). */
int api__tags_list(api_ctx *c, const char *prefix, const char *glob, size_t max, api_tag_list *out);
/* The same, only names sorting after `after` (NULL: from the start): paging. */
int api__tags_list_after(api_ctx *c, const char *prefix, const char *glob, const char *after,
                         size_t max, api_tag_list *out);

/* ---- Query options shared by /api/v1/query and Grafana (api_query_opts.c) ---- */
typedef enum { API_FMT_JSON = 0, API_FMT_CSV } api_format;
typedef enum { API_SHAPE_LONG = 0, API_SHAPE_WIDE, API_SHAPE_COLUMNS } api_shape;
typedef enum { API_TIME_MS = 0, API_TIME_NS, API_TIME_S, API_TIME_RFC3339 } api_time_format;

typedef struct {
    hist_query_spec spec;
    api_format format;
    api_shape shape;
    api_time_format time_format;
    bool time_format_given;
    const char *cursor; /* raw continuation, or NULL */
    bool step_given, bucket_given;
} api_query_opts;

/* What one /api/v1/query request may ask for (api_query.c, api_query_opts.c). */
#define API_MAX_TAGS      10000
#define API_DEFAULT_LIMIT 10000
#define API_MAX_LIMIT     1000000
#define API_MAX_POINTS    100000
#define API_MAX_BUCKETS   1000000
#define API_MAX_ROWS      20000000 /* rows per answer, all tags together */

/* Fills opts from parameters. from/to default to the given values; mode to
 * default_mode. 0, or API_ANSWERED (a 400 naming the parameter). */
int api__query_opts_or_reply(api_ctx *c, const api_params *p, int64_t default_from,
                             int64_t default_to, hist_mode default_mode, api_query_opts *o);

/* ---- Endpoints (called by api.c only) ---- */
int api__query_handle(api_ctx *c);
int api__tags_handle(api_ctx *c, const char *name); /* name: after /api/v1/tags/, or NULL */
int api__stats_handle(api_ctx *c);
/* GET or POST /api/v1/admin/scrub (api_admin.c). */
int api__admin_scrub_handle(api_ctx *c);
int grafana__handle(api_ctx *c, const char *sub);

#endif
