/*
 * api_internal.h: what the HTTP read API's files share. Not a door: only the
 * files of query/api/ include it (the door is hist_api.h).
 *
 * Calls go one way, from the top down; nothing calls a file above it:
 *   api.c           hist_api_handle(), the route table and the scopes: calls
 *                   the endpoints (it is the only caller of *_handle)
 *   endpoints       api_query.c, api_tags.c, api_stats.c, api_admin.c, api_backup.c,
 *                   grafana.c: call the shared helpers below, never api.c
 *                   and never each other
 *   grafana_filter.c Grafana's namespace levels and ad hoc filters
 *                   (grafana.c's)
 *   api_query_opts.c the options of a query (/api/v1/query and Grafana)
 *   tag_match.c     tag lists and globs (query, tags, Grafana);
 *   regex.c         Grafana's regex filters: a linear-time matcher
 *   budget.c        a request's budgets (rows, bytes, time, patterns)
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

#include "common/hist_tz.h"
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

/* A request's budgets and what it has spent (budget.c). */
typedef struct {
    hist_api_limits lim;
    uint64_t rows;     /* rows the answer may hold, as counted before each query */
    uint32_t patterns; /* tag patterns used */
    int64_t deadline;  /* CLOCK_MONOTONIC ns; 0 = none */
} api_budget;

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
    api_budget budget; /* what the request may still spend (budget.c) */
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

/* An error answer over a budget: {"error": msg, "param": param or null,
 * "limit": limit, "value": value, "max": max}: the limit's name (as the
 * option of historiand), the figure that exceeded it and the limit. */
int api__reply_limit(api_ctx *c, int status, const char *param, const char *limit, uint64_t value,
                     uint64_t max, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---- Budgets (budget.c) ---- */
/* Sets c->budget from the request's limits (or the defaults); the deadline
 * counts from now. */
void api__budget_start(api_ctx *c);
/* Adds rows to the request's row count: 0, or API_ANSWERED (a 400 naming
 * max_rows and the count it would reach). */
int api__budget_rows_or_reply(api_ctx *c, const char *param, uint64_t rows);
/* The same for the rows a spec can produce over ntags tags. */
int api__budget_spec_or_reply(api_ctx *c, const char *param, const hist_query_spec *s,
                              size_t ntags);
/* One more tag pattern: 0, or API_ANSWERED (a 400 naming max_patterns). */
int api__budget_pattern_or_reply(api_ctx *c, const char *param);
/* 0 while the deadline has not passed, else API_ANSWERED (a 422 naming
 * timeout_ms and the time spent). */
int api__budget_time_or_reply(api_ctx *c);
/* Whether the deadline has passed (answers nothing). */
bool api__budget_past(const api_budget *b);
/* The answer so far holds bytes: 0, or API_ANSWERED (a 413, max_bytes). */
int api__budget_bytes_or_reply(api_ctx *c, size_t bytes);
/* The most values the percentile aggregates may hold at once: max_bytes / 8
 * (hist_query_spec.max_values). */
uint64_t api__budget_max_values(const api_budget *b);
/* Answers an engine failure: HIST_ETIMEDOUT as the time budget, HIST_EINVAL
 * and HIST_ERANGE as a 400 on param, HIST_ENOSPC (percentile values past
 * max_values) as a 400 naming max_bytes, the rest as a 500. API_ANSWERED. */
int api__budget_engine_reply(api_ctx *c, int rc, const char *param);
/* Rows per tag a spec can produce (an upper bound, overflow-safe). */
uint64_t api__rows_per_tag(const hist_query_spec *s);
/* to - from of a range, as unsigned, never overflowing (from <= to). */
uint64_t api__span(int64_t from, int64_t to);

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
/* The time parameter key (hist_time_parse, relative to the request's now)
 * in *out: 0, or API_ANSWERED (a 400 naming key for a time that does not
 * read or is out of range). Absent or empty: *def when def is given, else
 * a 400 "key is required". Zone-less times and "now/d" read in tz (NULL:
 * UTC), "now/shift" with shifts (NULL: 06:00, 14:00, 22:00);
 * hist_tz_time_parse_shifts(). */
int api__params_time_or_reply(api_ctx *c, const api_params *p, const char *key, const int64_t *def,
                              const hist_tz *tz, const hist_tz_shifts *shifts, int64_t *out);

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

/* ---- Regular expressions (regex.c) ---- */
/* Linear time (Pike VM), bounded memory: see the top of regex.c. */
#define RE_MAX_PATTERN      256 /* bytes of pattern */
#define RE_MAX_PATTERN_TEXT "256"
/* A tag name is at most 255 bytes: larger counts match nothing more. The
 * program bound keeps a match under 255 x 1024 thread steps. */
#define RE_MAX_PROG        1024 /* instructions after {m,n} are written out */
#define RE_MAX_PROG_TEXT   "1024"
#define RE_MAX_REPEAT      255
#define RE_MAX_REPEAT_TEXT "255"
#define RE_MAX_NODES       1024
#define RE_MAX_CLASSES     64
#define RE_MAX_DEPTH       32

typedef struct re_prog re_prog;
/* Compiles pattern: 0 and *out, or HIST_EINVAL (bad syntax) / HIST_ETOOBIG
 * (over a limit) with *err a static message, or HIST_ENOMEM. */
int re__compile(const char *pattern, re_prog **out, const char **err);
/* The same for a pattern that must match the whole text: "^(pattern)$". */
int re__compile_whole(const char *pattern, re_prog **out, const char **err);
/* 1 when the pattern matches somewhere in text[0, len), 0 when not,
 * HIST_ENOMEM. O(len x program) time, O(program) memory. */
int re__match(const re_prog *r, const char *text, size_t len);
void re__free(re_prog *r);

/* ---- Query options shared by /api/v1/query and Grafana (api_query_opts.c) ---- */
typedef enum { API_FMT_JSON = 0, API_FMT_CSV } api_format;
typedef enum { API_SHAPE_LONG = 0, API_SHAPE_WIDE, API_SHAPE_COLUMNS } api_shape;
typedef enum { API_TIME_MS = 0, API_TIME_NS, API_TIME_S, API_TIME_RFC3339 } api_time_format;

/* How a CSV answer is spelled: the defaults are RFC 4180 with a decimal
 * point; Excel in a locale with a decimal comma wants ';', ',' and a BOM. */
typedef struct {
    char sep;           /* ',' (default), ';' or '\t' */
    bool decimal_comma; /* numbers written with ',' for the decimal point */
    bool bom;           /* a UTF-8 byte order mark before the header */
} api_csv_style;

typedef struct {
    hist_query_spec spec;
    api_format format;
    api_csv_style csv;
    api_shape shape;
    api_time_format time_format;
    bool time_format_given;
    const char *cursor; /* raw continuation, or NULL */
    bool step_given, bucket_given;
    hist_tz *tz; /* the request's tz (NULL: UTC), owned: api__query_opts_free() */
} api_query_opts;

/* What one /api/v1/query request may ask for (api_query.c, api_query_opts.c). */
#define API_MAX_TAGS      10000
#define API_DEFAULT_LIMIT 10000
#define API_MAX_LIMIT     1000000
#define API_MAX_POINTS    100000
#define API_MAX_BUCKETS   1000000
/* rows per answer, all tags together: the request budget max_rows (hist_api.h) */

/* Fills opts from parameters. from/to default to the given values; mode to
 * default_mode. 0, or API_ANSWERED (a 400 naming the parameter). */
int api__query_opts_or_reply(api_ctx *c, const api_params *p, int64_t default_from,
                             int64_t default_to, hist_mode default_mode, api_query_opts *o);
/* Frees what a successful api__query_opts_or_reply() holds (the zone). */
void api__query_opts_free(api_query_opts *o);
/* time_in_state asks for states: a float64 tag among tags is a 400 naming
 * agg. 0, or API_ANSWERED. */
int api__agg_types_or_reply(api_ctx *c, const hist_query_spec *spec, const api_tag_list *tags);
/* Room for an aggregate's column name (hist_agg_label). */
#define AGG_LABEL_MAX 48

/* ---- Endpoints (called by api.c only) ---- */
int api__query_handle(api_ctx *c);
int api__tags_handle(api_ctx *c, const char *name); /* name: after /api/v1/tags/, or NULL */
int api__stats_handle(api_ctx *c);
/* GET or POST /api/v1/admin/scrub (api_admin.c). */
int api__admin_scrub_handle(api_ctx *c);
/* GET or POST /api/v1/admin/backup (api_backup.c). */
int api__admin_backup_handle(api_ctx *c);
int api__admin_delete_handle(api_ctx *c);                 /* api_delete.c */
int api__tag_delete_handle(api_ctx *c, const char *name); /* api_delete.c */
int grafana__handle(api_ctx *c, const char *sub);

/* ---- Grafana's namespace levels and ad hoc filters (grafana_filter.c) ---- */
#define GF_NLEVELS 5
extern const char *const grafana_filter__levels[GF_NLEVELS]; /* site ... signal */
/* Copies level `key` of tag t into out ("" when the name is shorter).
 * false for a key that is not a level or "unit". */
bool grafana_filter__tag_field(const hist_tag_info *t, const char *key, char *out, size_t cap);
typedef struct {
    const char *key, *op, *value;
    re_prog *re; /* =~ and !~ (regex.c: linear time, bounded memory) */
} gf_filter;

typedef struct {
    gf_filter *v;
    size_t n;
    const api_budget *budget; /* past its deadline no tag passes: the caller answers 422 */
} gf_filters;

/* Reads "adhocFilters" and "filters" (both spellings are in use). The
 * strings stay owned by root. 0, or API_ANSWERED (a 400). */
int grafana_filter__read_or_reply(api_ctx *c, json_t *root, gf_filters *f);
bool grafana_filter__pass(const gf_filters *f, const hist_tag_info *t);
void grafana_filter__free(gf_filters *f);

#endif
