/*
 * api_backup.c: the online backup route (scope ADMIN, checked in api.c;
 * audited like every admin route).
 *
 *   POST /api/v1/admin/backup  dest=PATH (query, form or JSON body): starts
 *                              a backup of the data directory into PATH, a
 *                              directory on the server's machine (absolute;
 *                              missing or empty; not inside the data
 *                              directory) on storage's backup thread: 202
 *                              and the status; 400 for a bad dest, 409
 *                              while one runs. base=PATH (optional): an
 *                              earlier backup to link unchanged closed
 *                              segments from (incremental)
 *   GET  /api/v1/admin/backup  the status: running, the job's id and dest,
 *                              and the last finished job's report
 * The backup runs as a background job (storage/backup.c), so it is not
 * bound by the request's time budget; a client polls the GET until the
 * job it started (its id) is the last one and it is not running.
 */
#include <string.h>

#include "query/api/api_internal.h"

static void json_report(hist_json *j, const hist_backup_report *r)
{
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"lsn", offsetof(hist_backup_report, lsn)},
        {"files", offsetof(hist_backup_report, files)},
        {"bytes", offsetof(hist_backup_report, bytes)},
        {"linked_files", offsetof(hist_backup_report, linked_files)},
        {"linked_bytes", offsetof(hist_backup_report, linked_bytes)},
        {"copied_files", offsetof(hist_backup_report, copied_files)},
        {"copied_bytes", offsetof(hist_backup_report, copied_bytes)},
        {"reused_files", offsetof(hist_backup_report, reused_files)},
        {"reused_bytes", offsetof(hist_backup_report, reused_bytes)},
        {"segment_files", offsetof(hist_backup_report, segment_files)},
        {"wal_files", offsetof(hist_backup_report, wal_files)},
        {"index_bytes", offsetof(hist_backup_report, index_bytes)},
        {"wal_bytes", offsetof(hist_backup_report, wal_bytes)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)r + fields[i].off, sizeof v);
        json__key(j, fields[i].key);
        json__uint(j, v);
    }
    json__key(j, "started");
    json__int(j, api__ns_to_ms(r->time_ns));
    json__key(j, "seconds");
    json__double(j, r->seconds);
}

static int reply_status(api_ctx *c, int status, const uint64_t *started)
{
    hist_backup_status st;
    int rc = hist_db_backup_status(c->db, &st);
    if (rc < 0)
        return api__reply_internal(c, rc);
    hist_json j;
    json__init(&j);
    json__begin_object(&j);
    if (started) {
        json__key(&j, "started");
        json__uint(&j, *started);
    }
    json__key(&j, "running");
    json__bool(&j, st.running);
    json__key(&j, "id");
    json__uint(&j, st.id);
    json__key(&j, "dest");
    if (st.id)
        json__string(&j, st.dest);
    else
        json__null(&j);
    json__key(&j, "last");
    if (st.has_last) {
        json__begin_object(&j);
        json__key(&j, "id");
        json__uint(&j, st.last_id);
        json__key(&j, "ok");
        json__bool(&j, st.last_error == 0);
        json__key(&j, "error");
        if (st.last_error)
            json__string(&j, st.last_why[0] ? st.last_why : hist_strerror(st.last_error));
        else
            json__null(&j);
        json_report(&j, &st.last);
        json__end_object(&j);
    } else
        json__null(&j);
    json__end_object(&j);
    return api__reply_json(c, status, &j);
}

static int backup_start(api_ctx *c)
{
    api_params p = {0};
    if (api__params_or_reply(c, &p))
        return API_ANSWERED;
    const char *dest = api__param(&p, "dest");
    if (!dest || !*dest) {
        api__params_free(&p);
        return api__reply_error(c, 400, "dest",
                                "dest is required: an absolute directory path on the server's "
                                "machine, missing or empty");
    }
    const char *base = api__param(&p, "base");
    if (base && !*base)
        base = NULL;
    char why[256] = "";
    uint64_t id = 0;
    int rc = hist_db_backup_start(c->db, dest, base, &id, why, sizeof(why));
    bool base_bad = base && !strncmp(why, "base", 4);
    api__params_free(&p);
    if (rc == HIST_EINVAL || rc == HIST_EEXIST)
        return api__reply_error(c, 400, base_bad ? "base" : "dest", "%s", why);
    if (rc == HIST_EBUSY)
        return api__reply_error(c, 409, NULL, "a backup is already running");
    if (rc < 0)
        return api__reply_internal(c, rc);
    return reply_status(c, 202, &id);
}

int api__admin_backup_handle(api_ctx *c)
{
    if (!strcmp(c->req->method, "POST"))
        return backup_start(c);
    return reply_status(c, 200, NULL);
}
