/*
 * api_delete.c: deleting data (scope ADMIN, checked in api.c; audited with
 * the tag and what was deleted).
 *
 *   POST   /api/v1/admin/delete  tag=, from=, to=  (query string, form or
 *                                JSON body): the tag's samples with
 *                                from <= ts < to (times as /api/v1/query's:
 *                                RFC 3339, epoch ms, now, -1h); the tag stays.
 *                                tag=, all=true instead of from/to: every
 *                                sample; the tag stays
 *   DELETE /api/v1/tags/{name}   the tag: every sample, then the tag itself
 *                                (hist_tag_remove: its name is free again,
 *                                no listing shows it; a write with the name
 *                                makes a new tag). 409 when a write came in
 *                                between (the samples up to it are gone,
 *                                the tag stays: delete again).
 * Both answer {"tag", "from", "to" (ms; null for a whole tag),
 * "chunks_removed", "chunks_rewritten", "chunks_written",
 * "samples_deleted", "tag_removed"}. An admin token limited to patterns may
 * delete only its own tags (403 naming the tag); an unknown tag is a 404,
 * from >= to a 400. Storage: hist_db_delete (storage/delete.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api/api_internal.h"

/* What goes into the audit line (ingest/http.c prints it). */
static void note_audit(api_ctx *c, const char *tag, const char *detail)
{
    free(c->resp->audit_tag);
    free(c->resp->audit_detail);
    c->resp->audit_tag = strdup(tag);
    c->resp->audit_detail = strdup(detail);
}

static int reply_report(api_ctx *c, const char *tag, const int64_t *from, const int64_t *to,
                        const hist_delete_report *r, bool removed)
{
    char detail[160];
    if (from)
        snprintf(detail, sizeof detail, "delete from=%lld to=%lld ms: %llu sample(s)",
                 (long long)api__ns_to_ms(*from), (long long)api__ns_to_ms(*to),
                 (unsigned long long)r->samples_deleted);
    else
        snprintf(detail, sizeof detail, "delete every sample: %llu sample(s)",
                 (unsigned long long)r->samples_deleted);
    note_audit(c, tag, detail);
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    json__key(&j, "tag");
    json__string(&j, tag);
    json__key(&j, "from");
    if (from)
        json__int(&j, api__ns_to_ms(*from));
    else
        json__null(&j);
    json__key(&j, "to");
    if (to)
        json__int(&j, api__ns_to_ms(*to));
    else
        json__null(&j);
    json__key(&j, "chunks_removed");
    json__uint(&j, r->chunks_removed);
    json__key(&j, "chunks_rewritten");
    json__uint(&j, r->chunks_rewritten);
    json__key(&j, "chunks_written");
    json__uint(&j, r->chunks_written);
    json__key(&j, "samples_deleted");
    json__uint(&j, r->samples_deleted);
    json__key(&j, "tag_removed");
    json__bool(&j, removed);
    json__end_object(&j);
    return api__reply_json(c, 200, &j);
}

/* The tag named, checked against the grant before the lookup (a 404 would
 * tell): 0 with *id, or API_ANSWERED. */
static int tag_or_reply(api_ctx *c, const char *name, uint32_t *id)
{
    if (!api__may_read(c, name))
        return api__reply_forbidden(c, "tag", name);
    hist_tag_info info;
    int rc = hist_tag_by_name(c->db, name, &info);
    if (rc == HIST_ENOTFOUND)
        return api__reply_error(c, 404, "tag", "unknown tag '%s'", name);
    if (rc < 0)
        return api__reply_internal(c, rc);
    *id = info.id;
    return 0;
}

/* Deletes [*from, *to) of the tag named (from and to NULL: every sample)
 * and answers with the report, or the error. */
/* Deletes name's samples in [from, to) (NULL, NULL: all of them) and,
 * with remove_tag, then the tag itself (hist_tag_remove). */
static int delete_and_reply(api_ctx *c, const char *name, const int64_t *from, const int64_t *to,
                            bool remove_tag)
{
    uint32_t id;
    if (tag_or_reply(c, name, &id))
        return API_ANSWERED;
    hist_delete_report r;
    int rc = hist_db_delete(c->db, id, from ? *from : HIST_TS_MIN, to ? *to : HIST_TS_MAX + 1, &r);
    if (rc == HIST_ENOTFOUND)
        return api__reply_error(c, 404, "tag", "unknown tag '%s'", name);
    if (rc == HIST_ECORRUPT && from)
        return api__reply_error(c, 409, "tag",
                                "a damaged chunk of '%s' crosses the range; nothing was deleted "
                                "(see GET /api/v1/admin/scrub)",
                                name);
    if (rc == HIST_ECORRUPT)
        return api__reply_error(c, 409, "tag",
                                "a damaged chunk of '%s' could not be deleted; nothing was "
                                "deleted (see GET /api/v1/admin/scrub)",
                                name);
    if (rc < 0)
        return api__reply_internal(c, rc);
    if (!remove_tag)
        return reply_report(c, name, from, to, &r, false);
    /* then the tag itself: its name is free, no listing shows it */
    rc = hist_tag_remove(c->db, id);
    if (rc == HIST_EBUSY)
        return api__reply_error(c, 409, "tag",
                                "'%s' was written while it was deleted: its samples up to then "
                                "are gone, the tag stays; delete it again",
                                name);
    if (rc < 0 && rc != HIST_ENOTFOUND)
        return api__reply_internal(c, rc);
    return reply_report(c, name, NULL, NULL, &r, rc == 0);
}

static int delete_range(api_ctx *c, const api_params *p)
{
    const char *name = api__param(p, "tag");
    if (!name || !*name)
        return api__reply_error(c, 400, "tag", "tag is required");
    const char *all = api__param(p, "all");
    if (all && strcmp(all, "true") && strcmp(all, "1") && strcmp(all, "false") && strcmp(all, "0"))
        return api__reply_error(c, 400, "all", "all must be true or false");
    if (all && (!strcmp(all, "true") || !strcmp(all, "1"))) {
        if (api__param(p, "from") || api__param(p, "to"))
            return api__reply_error(c, 400, "all", "all=true deletes every sample: no from or to");
        return delete_and_reply(c, name, NULL, NULL, false); /* the tag stays */
    }
    int64_t from, to;
    if (api__params_time_or_reply(c, p, "from", NULL, NULL, NULL, &from) ||
        api__params_time_or_reply(c, p, "to", NULL, NULL, NULL, &to))
        return API_ANSWERED;
    if (from >= to)
        return api__reply_error(c, 400, "from", "from must be before to");
    return delete_and_reply(c, name, &from, &to, false);
}

int api__admin_delete_handle(api_ctx *c)
{
    api_params p = {0};
    if (api__params_or_reply(c, &p))
        return API_ANSWERED;
    int ret = delete_range(c, &p);
    api__params_free(&p);
    return ret;
}

int api__tag_delete_handle(api_ctx *c, const char *name)
{
    return delete_and_reply(c, name, NULL, NULL, true);
}
