/*
 * api_internal.h: what the HTTP read API's files share (api.c routes,
 * api_query.c, api_tags.c, grafana.c). Not a door: only the files of
 * query/api/ include it.
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
#include "query/hist_query.h"
#include "query/api/json_out.h"

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
} api_ctx;

/* ---- Answers (api.c) ---- */
/* Sets an error answer {"error": msg, "param": param or null}. Returns 0. */
int api_error(api_ctx *c, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers with the JSON/buffer content (ownership is taken). */
int api_reply_json(api_ctx *c, int status, hist_json *j);
int api_reply_buf(api_ctx *c, int status, const char *content_type, hist_buf *b);
/* Appends a header line "name: value\r\n" to the answer. */
void api_add_header(api_ctx *c, const char *name, const char *value);
/* A storage/engine failure that is not the client's fault. */
int api_internal_error(api_ctx *c, int rc);

/* ---- Parameters (api.c) ---- */
void api_params_free(api_params *p);
int api_params_add(api_params *p, const char *key, size_t klen, const char *val, size_t vlen);
/* Parses a URL query string or a form body (percent-decoding, '+' = space). */
int api_params_from_urlencoded(api_params *p, const char *s, size_t len);
/* Adds every member of a JSON object: strings as they are, numbers in
 * decimal, booleans as "true"/"false", arrays as repeated keys. Nested
 * objects and nulls are skipped. */
int api_params_from_json(api_params *p, json_t *obj);
/* The last value given for key, or NULL. */
const char *api_param(const api_params *p, const char *key);
/* Parses the request's parameters (query string, then the body when it is
 * a form or a JSON object). 0, or 1 when an error answer was set. */
int api_params_from_request(api_ctx *c, api_params *p);

/* ---- Tags (api_tags.c) ---- */
typedef struct {
    hist_tag_info *v;
    size_t n, cap;
} api_tag_list;

void api_tag_list_free(api_tag_list *l);
int api_tag_list_add(api_tag_list *l, const hist_tag_info *t);
bool api_has_wildcard(const char *s);
/* Glob over tag names: '*' any run within one segment, '?' one character
 * (not '/'), '**' any run across segments ("a/ **" also matches "a"). */
bool api_glob_match(const char *pattern, const char *name);
/* Adds the tags matching the glob (or, when glob has no wildcard, the tag
 * with that exact name) to out. At most max tags: HIST_ENOSPC beyond. */
int api_tags_match(hist_db *db, const char *glob, size_t max, api_tag_list *out);
/* Every tag starting with prefix and matching glob (either may be NULL). */
int api_tags_list(hist_db *db, const char *prefix, const char *glob, size_t max, api_tag_list *out);
/* The same, only names sorting after `after` (NULL: from the start): paging. */
int api_tags_list_after(hist_db *db, const char *prefix, const char *glob, const char *after,
                        size_t max, api_tag_list *out);

/* ---- Query options shared by /api/v1/query and Grafana (api_query.c) ---- */
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

/* Fills opts from parameters. from/to default to the given values; mode to
 * default_mode. 0, or 1 when an error answer was set. */
/* What one /api/v1/query request may ask for (api_query.c, api_query_opts.c). */
#define API_MAX_TAGS      10000
#define API_DEFAULT_LIMIT 10000
#define API_MAX_LIMIT     1000000
#define API_MAX_POINTS    100000
#define API_MAX_BUCKETS   1000000
#define API_MAX_ROWS      20000000 /* rows per answer, all tags together */

int api_query_opts_parse(api_ctx *c, const api_params *p, int64_t default_from, int64_t default_to,
                         hist_mode default_mode, api_query_opts *o);
/* Writes v of a tag of the given type as a JSON number (bool as 0/1). */
void api_json_value(hist_json *j, hist_type type, hist_value v);
int64_t api_ns_to_ms(int64_t ns);

/* ---- Endpoints ---- */
int api_query_handle(api_ctx *c);
int api_tags_handle(api_ctx *c, const char *name); /* name: after /api/v1/tags/, or NULL */
int api_grafana_handle(api_ctx *c, const char *sub);
int api_stats_handle(api_ctx *c);
/* GET or POST /api/v1/admin/scrub (api_admin.c). */
int api_admin_scrub_handle(api_ctx *c);

#endif
