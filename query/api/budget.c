/*
 * budget.c: what one read request may cost (api_internal.h, above reply.c):
 * rows across all its tags and Grafana targets, bytes of its answer, tag
 * patterns, and time. Each endpoint counts what it will build before it
 * builds it (api__budget_rows_or_reply) and passes the deadline down to
 * the engine (hist_query_spec.deadline_ns), which stops its loops with
 * HIST_ETIMEDOUT. The values the percentile aggregates hold in memory
 * (one bucket's samples, 8 bytes each) count against max_bytes
 * (hist_query_spec.max_values = max_bytes / 8). Every refusal names the limit (as historiand's
 * option spells it), the figure that exceeded it and the limit itself.
 */
#include <string.h>
#include <time.h>

#include "query/api/api_internal.h"

void hist_api_limits_init(hist_api_limits *l)
{
    l->max_rows = HIST_API_DEFAULT_MAX_ROWS;
    l->max_bytes = HIST_API_DEFAULT_MAX_BYTES;
    l->timeout_ms = HIST_API_DEFAULT_TIMEOUT_MS;
    l->max_patterns = HIST_API_DEFAULT_MAX_PATTERNS;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void api__budget_start(api_ctx *c)
{
    memset(&c->budget, 0, sizeof c->budget);
    if (c->req && c->req->limits)
        c->budget.lim = *c->req->limits;
    else
        hist_api_limits_init(&c->budget.lim);
    if (c->budget.lim.timeout_ms)
        c->budget.deadline = mono_ns() + (int64_t)c->budget.lim.timeout_ms * 1000000;
}

int api__budget_rows_or_reply(api_ctx *c, const char *param, uint64_t rows)
{
    api_budget *b = &c->budget;
    uint64_t total = rows > UINT64_MAX - b->rows ? UINT64_MAX : b->rows + rows;
    if (total > b->lim.max_rows)
        return api__reply_limit(c, 400, param, "max_rows", total, b->lim.max_rows,
                                "the answer could reach %llu rows, over this request's budget "
                                "of %llu rows (max_rows; all tags and targets together): fewer "
                                "tags, a shorter range, a wider step or a smaller limit",
                                (unsigned long long)total, (unsigned long long)b->lim.max_rows);
    b->rows = total;
    return 0;
}

int api__budget_spec_or_reply(api_ctx *c, const char *param, const hist_query_spec *s, size_t ntags)
{
    uint64_t per_tag = api__rows_per_tag(s);
    return api__budget_rows_or_reply(
        c, param, ntags && per_tag > UINT64_MAX / ntags ? UINT64_MAX : per_tag * ntags);
}

int api__budget_pattern_or_reply(api_ctx *c, const char *param)
{
    api_budget *b = &c->budget;
    if (b->patterns >= b->lim.max_patterns)
        return api__reply_limit(
            c, 400, param, "max_patterns", (uint64_t)b->patterns + 1, b->lim.max_patterns,
            "more than %u tag patterns in one request (max_patterns)", b->lim.max_patterns);
    b->patterns++;
    return 0;
}

bool api__budget_past(const api_budget *b)
{
    return b->deadline && mono_ns() > b->deadline;
}

int api__budget_time_or_reply(api_ctx *c)
{
    api_budget *b = &c->budget;
    if (!b->deadline)
        return 0;
    int64_t now = mono_ns();
    if (now <= b->deadline)
        return 0;
    /* ms spent, rounded up: over the budget, so always more than timeout_ms */
    uint64_t spent_ns = (uint64_t)(now - b->deadline) + (uint64_t)b->lim.timeout_ms * 1000000;
    uint64_t spent = (spent_ns + 999999) / 1000000;
    return api__reply_limit(c, 422, NULL, "timeout_ms", spent, b->lim.timeout_ms,
                            "the request ran %llu ms, past its time budget of %u ms "
                            "(timeout_ms): a shorter range or fewer tags",
                            (unsigned long long)spent, b->lim.timeout_ms);
}

int api__budget_bytes_or_reply(api_ctx *c, size_t bytes)
{
    api_budget *b = &c->budget;
    if (bytes <= b->lim.max_bytes)
        return 0;
    return api__reply_limit(c, 413, NULL, "max_bytes", bytes, b->lim.max_bytes,
                            "the answer reached %zu bytes, over this request's budget of %zu "
                            "bytes (max_bytes)",
                            bytes, b->lim.max_bytes);
}

uint64_t api__budget_max_values(const api_budget *b)
{
    return b->lim.max_bytes / sizeof(double);
}

int api__budget_engine_reply(api_ctx *c, int rc, const char *param)
{
    if (rc == HIST_ENOSPC) { /* the percentiles' values past spec.max_values */
        uint64_t max = api__budget_max_values(&c->budget);
        return api__reply_limit(c, 400, param, "max_bytes", max + 1, max,
                                "percentiles hold one bucket's values in memory and a bucket has "
                                "more than %llu values (this request's max_bytes / 8): smaller "
                                "buckets or a shorter range",
                                (unsigned long long)max);
    }
    if (rc == HIST_ETIMEDOUT) {
        if (api__budget_time_or_reply(c))
            return API_ANSWERED;
        /* the engine's clock passed the deadline a moment before ours */
        return api__reply_internal(c, rc);
    }
    if (rc == HIST_EINVAL || rc == HIST_ERANGE || rc == HIST_ETOOBIG)
        return api__reply_error(c, 400, param, "the query engine refused the query: %s",
                                hist_strerror(rc));
    return api__reply_internal(c, rc);
}

uint64_t api__span(int64_t from, int64_t to)
{
    return from < to ? (uint64_t)to - (uint64_t)from : 0;
}

uint64_t api__rows_per_tag(const hist_query_spec *s)
{
    uint64_t span = api__span(s->from, s->to);
    const uint64_t hour = UINT64_C(3600) * 1000000000;
    switch (s->mode) {
    case HIST_MODE_RAW:
        /* the engine's default limit; boundary=outside adds two rows */
        return (s->limit ? s->limit : 100000) + (s->boundary ? 2 : 0);
    case HIST_MODE_LATEST:
    case HIST_MODE_VALUE:
        return 1;
    case HIST_MODE_INTERP:
        return s->step_ns > 0 ? span / (uint64_t)s->step_ns + 1 : UINT64_MAX;
    case HIST_MODE_PLOT:
        return (uint64_t)s->points * 4 + (s->boundary ? 2 : 0);
    case HIST_MODE_AGG:
        /* Every bucket is a row; a local day can be 23 h long (DST), a week
         * 167 h, a month 28 days less an hour. */
        switch (s->bucket) {
        case HIST_BUCKET_FIXED:
            return s->step_ns > 0 ? span / (uint64_t)s->step_ns + 2 : UINT64_MAX;
        case HIST_BUCKET_HOUR:
            return span / hour + 2;
        case HIST_BUCKET_DAY:
            return span / (23 * hour) + 2;
        case HIST_BUCKET_WEEK:
            return span / (167 * hour) + 2;
        case HIST_BUCKET_MONTH:
            return span / (28 * 24 * hour - hour) + 2;
        case HIST_BUCKET_SHIFT: /* nshifts a day, however short */
            return (span / (23 * hour) + 2) * (uint64_t)(s->nshifts > 0 ? s->nshifts : 1);
        }
        return UINT64_MAX;
    }
    return UINT64_MAX;
}
