/*
 * check_data.c: `historiand --check-data DIR`, the offline check.
 *
 * Opens the data directory as the server would: it must not be in use
 * (storage holds a flock on it), recovery replays the WAL and cuts a
 * damaged tail, which the summary reports. What the WAL replayed is sealed
 * first, so every sample is in a chunk; then storage's checker runs at full
 * speed (hist_db_scrub, the same pass the server runs in the background):
 * the tag registry and every chunk against its index entry. Each problem
 * is printed as it is found; damaged chunks are marked, so the server
 * leaves them out of every answer. A chunk marked by an earlier check (or
 * by a query) is reported again, as "already marked". A WAL tail cut at
 * open counts as damage too (after a crash it is usually the one record
 * being written, never acknowledged).
 *
 * Exit status: 0 clean, 1 damage found, 2 the check could not run.
 */
#include "tools/check_data.h"

#include <stdbool.h>
#include <stdint.h>

#include "storage/hist_storage.h"

static void print_problem(void *ctx, const hist_scrub_problem *p)
{
    FILE *out = ctx;
    const char *what = p->kind != HIST_PROBLEM_CHUNK ? "problem"
                       : p->known                    ? "damaged (already marked)"
                                                     : "damaged (new, now marked)";
    fprintf(out, "%s: %s\n", what, p->message);
}

static void print_summary(FILE *out, const hist_scrub_report *r, bool damage)
{
    fprintf(out, "WAL: %llu record(s) replayed, %llu cut from a damaged tail (%llu bytes)\n",
            (unsigned long long)r->wal_records_replayed, (unsigned long long)r->wal_records_dropped,
            (unsigned long long)r->wal_bytes_dropped);
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
    fprintf(out, "result: %s\n", damage ? "damage found" : "clean");
}

int check_data__run(const char *dir, FILE *out)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.no_background = true;
    o.no_auto_create = true;
    o.log_level = HIST_LOG_ERROR; /* problems are printed below, not logged twice */
    hist_db *db;
    fprintf(out, "checking %s\n", dir);
    int rc = hist_db_open(&o, &db);
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
    so.ctx = out;
    if (rc == 0)
        rc = hist_db_scrub(db, &so, &r);
    int crc = hist_db_close(db);
    if (rc < 0 || crc < 0) {
        fprintf(out, "the check failed: %s\n", hist_strerror(rc < 0 ? rc : crc));
        return 2;
    }
    bool damage = r.damaged_new || r.damaged_known || r.index_problems || r.tag_problems ||
                  r.wal_records_dropped || r.wal_bytes_dropped;
    print_summary(out, &r, damage);
    return damage ? 1 : 0;
}
