/*
 * check_data.c: `historiand --check-data DIR [--repair]`, the offline
 * check and repair.
 *
 * Opens the data directory as the server would: it must not be in use
 * (storage holds a flock on it). Recovery replays the WAL, checking every
 * record's checksum and decoding it: what it cuts or skips (a damaged
 * tail, records missing by LSN, damaged stretches, records that do not
 * decode, samples of unknown tags) is logged by storage at warning level;
 * those lines are printed here as WAL problems. What the WAL replayed is
 * sealed first, so every sample is in a chunk; then storage's checker runs
 * at full speed (hist_db_scrub, the same pass the server runs in the
 * background): the tag registry and every chunk against its index entry
 * (checksum, decode, and the samples against the entry's statistics).
 * Each problem is printed as it is found; damaged chunks are marked, so
 * the server leaves them out of every answer. A chunk marked by an earlier
 * check (or by a query) is reported again, as "already marked". A WAL tail
 * cut at open counts as damage too (after a crash it is usually the one
 * record being written, never acknowledged).
 *
 * --repair: after the check, hist_db_repair() removes, in one LMDB txn,
 * the entries of every marked chunk and every entry that does not parse or
 * names an unknown tag; each is listed (tag, time range, samples lost,
 * reason). Tag registry problems are reported, not repaired.
 *
 * Exit status: 0 clean, 1 damage found (with --repair too: the run found
 * damage and removed what it could; a second check says 0 once nothing is
 * left), 2 the check could not run.
 */
#include "tools/check_data.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "storage/hist_storage.h"

typedef struct {
    FILE *out;
    bool opening;          /* hist_db_open() runs: WAL recovery's warnings are problems */
    uint64_t wal_problems; /* such lines printed */
} check_ctx;

static void on_log(void *arg, int level, const char *msg)
{
    check_ctx *c = arg;
    if (level > HIST_LOG_WARN)
        return;
    bool wal = !strncmp(msg, "wal:", 4) || !strncmp(msg, "recovery:", 9);
    if (c->opening && wal) {
        c->wal_problems++;
        fprintf(c->out, "problem: WAL: %s\n", msg);
    } else if (level == HIST_LOG_ERROR) {
        fprintf(c->out, "error: %s\n", msg);
    }
    /* other warnings (a chunk marked...) are printed as problems below */
}

static void print_problem(void *ctx, const hist_scrub_problem *p)
{
    check_ctx *c = ctx;
    const char *what = p->kind != HIST_PROBLEM_CHUNK ? "problem"
                       : p->known                    ? "damaged (already marked)"
                                                     : "damaged (new, now marked)";
    fprintf(c->out, "%s: %s\n", what, p->message);
}

/* RFC 3339 UTC, with nanoseconds only when there are any. */
static void format_time(int64_t ns, char *out, size_t cap)
{
    int64_t s = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0)
        s--, frac += 1000000000;
    time_t t = (time_t)s;
    struct tm tm;
    size_t n = gmtime_r(&t, &tm) ? strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    if (!n)
        snprintf(out, cap, "%lld ns", (long long)ns);
    else if (frac)
        snprintf(out + n, cap - n, ".%09lldZ", (long long)frac);
    else
        snprintf(out + n, cap - n, "Z");
}

typedef struct {
    check_ctx *c;
    hist_db *db;
} repair_ctx;

static void print_removed(void *arg, const hist_repaired_entry *e)
{
    repair_ctx *r = arg;
    hist_tag_info info;
    if (hist_tag_by_id(r->db, e->chunk.tag, &info) != 0)
        snprintf(info.name, sizeof info.name, "?");
    char from[48], to[48];
    format_time(e->chunk.start_ts, from, sizeof from);
    format_time(e->chunk.end_ts, to, sizeof to);
    fprintf(r->c->out,
            "removed: tag '%s' (id %u), %s .. %s, %llu sample(s) lost: %s (segment %u offset "
            "%llu, %u bytes)\n",
            info.name, e->chunk.tag, from, to, (unsigned long long)e->samples, e->why,
            e->chunk.segment, (unsigned long long)e->chunk.offset, e->chunk.length);
}

static void print_summary(FILE *out, const hist_scrub_report *r, uint64_t wal_problems)
{
    fprintf(out,
            "WAL: %llu record(s) replayed, %llu cut from a damaged tail or lost (%llu bytes), "
            "%llu problem(s)\n",
            (unsigned long long)r->wal_records_replayed, (unsigned long long)r->wal_records_dropped,
            (unsigned long long)r->wal_bytes_dropped, (unsigned long long)wal_problems);
    fprintf(out, "tags: %llu checked, %llu problem(s)\n", (unsigned long long)r->tags_checked,
            (unsigned long long)r->tag_problems);
    fprintf(out,
            "chunks: %llu checked (%.1f MiB in %.2f s), %llu damaged (%llu new, %llu already "
            "marked), %llu repaired, %llu not checked, %llu index problem(s)\n",
            (unsigned long long)r->chunks_checked, (double)r->bytes_checked / 1048576.0, r->seconds,
            (unsigned long long)(r->damaged_new + r->damaged_known),
            (unsigned long long)r->damaged_new, (unsigned long long)r->damaged_known,
            (unsigned long long)r->repaired, (unsigned long long)r->chunks_unchecked,
            (unsigned long long)r->index_problems);
}

int check_data__run(const char *dir, bool repair, FILE *out)
{
    check_ctx cc = {.out = out, .opening = true};
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.no_background = true;
    o.no_auto_create = true;
    o.log = on_log;
    o.log_ctx = &cc;
    o.log_level = HIST_LOG_WARN;
    hist_db *db;
    fprintf(out, "checking %s\n", dir);
    int rc = hist_db_open(&o, &db);
    cc.opening = false;
    if (rc < 0) {
        fprintf(out, "cannot check %s: %s%s\n", dir, hist_strerror(rc),
                rc == HIST_EBUSY ? " (stop historiand first)" : "");
        return 2;
    }
    rc = hist_db_flush(db);
    hist_scrub_report r;
    hist_scrub_options so;
    hist_scrub_options_init(&so);
    so.problem = print_problem;
    so.ctx = &cc;
    if (rc == 0)
        rc = hist_db_scrub(db, &so, &r);
    bool damage =
        rc == 0 && (r.damaged_new || r.damaged_known || r.index_problems || r.tag_problems ||
                    r.wal_records_dropped || r.wal_bytes_dropped || cc.wal_problems);
    hist_repair_totals tot = {0};
    if (rc == 0 && repair) {
        repair_ctx rx = {&cc, db};
        rc = hist_db_repair(db, print_removed, &rx, &tot);
    }
    int crc = hist_db_close(db);
    if (rc < 0 || crc < 0) {
        fprintf(out, "the %s failed: %s\n", repair ? "check or repair" : "check",
                hist_strerror(rc < 0 ? rc : crc));
        return 2;
    }
    print_summary(out, &r, cc.wal_problems);
    if (repair) {
        fprintf(out, "repair: %llu index entr%s removed, %llu sample(s) lost\n",
                (unsigned long long)tot.entries, tot.entries == 1 ? "y" : "ies",
                (unsigned long long)tot.samples);
        if (r.tag_problems)
            fprintf(out, "repair: %llu tag registry problem(s) left as they are (not repaired)\n",
                    (unsigned long long)r.tag_problems);
    }
    fprintf(out, "result: %s\n",
            !damage  ? "clean"
            : repair ? "damage found and repaired as listed; check again to confirm"
                     : "damage found");
    return damage ? 1 : 0;
}
