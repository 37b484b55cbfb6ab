/*
 * api_admin.c: administration routes (scope ADMIN, checked in api.c).
 *
 *   POST /api/v1/admin/scrub  starts a scrub pass on storage's background
 *                             thread (share=1..100, the percent of the time
 *                             it may spend checking; default 10): 202 and
 *                             the status, or 200 with "started": false
 *                             while a pass runs already
 *   GET  /api/v1/admin/scrub  the status: progress, the last pass's report
 *                             and the chunks marked damaged (first 1000)
 * The pass is the same checker as historiand's start-up pass and
 * `historiand --check-data` (storage/scrub.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

#define ADMIN_SCRUB_SHARE 10
#define ADMIN_MAX_DAMAGED 1000

static void json_report(hist_json *j, const hist_scrub_report *r)
{
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"chunks_checked", offsetof(hist_scrub_report, chunks_checked)},
        {"bytes_checked", offsetof(hist_scrub_report, bytes_checked)},
        {"damaged_new", offsetof(hist_scrub_report, damaged_new)},
        {"damaged_known", offsetof(hist_scrub_report, damaged_known)},
        {"repaired", offsetof(hist_scrub_report, repaired)},
        {"marks_dropped", offsetof(hist_scrub_report, marks_dropped)},
        {"chunks_unchecked", offsetof(hist_scrub_report, chunks_unchecked)},
        {"index_problems", offsetof(hist_scrub_report, index_problems)},
        {"tags_checked", offsetof(hist_scrub_report, tags_checked)},
        {"tag_problems", offsetof(hist_scrub_report, tag_problems)},
        {"wal_records_dropped", offsetof(hist_scrub_report, wal_records_dropped)},
        {"wal_bytes_dropped", offsetof(hist_scrub_report, wal_bytes_dropped)},
    };
    json__begin_object(j);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)r + fields[i].off, sizeof v);
        json__key(j, fields[i].key);
        json__uint(j, v);
    }
    json__key(j, "seconds");
    json__double(j, r->seconds);
    json__key(j, "stopped");
    json__bool(j, r->stopped);
    json__end_object(j);
}

typedef struct {
    hist_db *db;
    hist_json *j;
    size_t n;
    const hist_tagset *allow; /* the caller's grant; NULL = every tag */
} damaged_ctx;

static int json_damaged(void *arg, const hist_damaged_chunk *d)
{
    damaged_ctx *c = arg;
    hist_tag_info info;
    bool named = hist_tag_by_id(c->db, d->tag, &info) == 0;
    if (named && !hist_tagset_matches(c->allow, info.name))
        return 0; /* outside the caller's grant */
    if (c->n++ >= ADMIN_MAX_DAMAGED)
        return 1;
    hist_json *j = c->j;
    json__begin_object(j);
    json__key(j, "tag");
    if (named)
        json__string(j, info.name);
    else
        json__null(j);
    json__key(j, "start");
    json__int(j, api__ns_to_ms(d->start_ts));
    json__key(j, "end");
    json__int(j, api__ns_to_ms(d->end_ts));
    json__key(j, "seq");
    json__uint(j, d->seq);
    json__key(j, "segment");
    json__uint(j, d->segment);
    json__key(j, "offset");
    json__uint(j, d->offset);
    json__key(j, "length");
    json__uint(j, d->length);
    json__key(j, "reason");
    json__string(j, hist_damage_reason_name(d->reason));
    json__key(j, "found");
    json__int(j, api__ns_to_ms(d->found_ns));
    json__end_object(j);
    return 0;
}

/* The status object; started: NULL on a GET, else whether the POST began a pass. */
static int reply_status(api_ctx *c, int status, const bool *started)
{
    hist_scrub_status st;
    hist_db_stats ds;
    int rc = hist_db_scrub_status(c->db, &st);
    if (rc == 0)
        rc = hist_db_get_stats(c->db, &ds);
    if (rc < 0)
        return api__reply_internal(c, rc);
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    if (started) {
        json__key(&j, "started");
        json__bool(&j, *started);
    }
    json__key(&j, "running");
    json__bool(&j, st.running);
    json__key(&j, "passes");
    json__uint(&j, st.passes);
    json__key(&j, "chunks_checked");
    json__uint(&j, st.chunks_checked);
    json__key(&j, "damaged_found");
    json__uint(&j, st.damaged_found);
    json__key(&j, "damaged_chunks");
    json__uint(&j, ds.damaged_chunks);
    json__key(&j, "last");
    if (st.has_last)
        json_report(&j, &st.last);
    else
        json__null(&j);
    json__key(&j, "damaged");
    json__begin_array(&j);
    damaged_ctx dc = {c->db, &j, 0, c->req->tags};
    rc = hist_db_damaged_foreach(c->db, json_damaged, &dc);
    json__end_array(&j);
    json__end_object(&j);
    if (rc < 0) {
        json__free(&j);
        return api__reply_internal(c, rc);
    }
    return api__reply_json(c, status, &j);
}

static int scrub_start(api_ctx *c)
{
    api_params p = {0};
    if (api__params_or_reply(c, &p))
        return API_ANSWERED;
    hist_scrub_options o;
    hist_scrub_options_init(&o);
    o.share_pct = ADMIN_SCRUB_SHARE;
    const char *s = api__param(&p, "share");
    if (s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (!*s || *end || v < 1 || v > 100) {
            api__params_free(&p);
            return api__reply_error(c, 400, "share", "share must be a whole number from 1 to 100");
        }
        o.share_pct = (unsigned)v;
    }
    api__params_free(&p);
    int rc = hist_db_scrub_start(c->db, &o);
    if (rc < 0 && rc != HIST_EBUSY)
        return api__reply_internal(c, rc);
    bool started = rc == 0;
    return reply_status(c, started ? 202 : 200, &started);
}

int api__admin_scrub_handle(api_ctx *c)
{
    if (!strcmp(c->req->method, "POST"))
        return scrub_start(c);
    return reply_status(c, 200, NULL);
}
