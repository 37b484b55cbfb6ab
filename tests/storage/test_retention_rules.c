/*
 * test_retention_rules.c: retention per tag pattern (storage/retention.c,
 * hist_db_options.retention_rules).
 *
 * Rules (see `rules` below): site/a and below 1 h, site/a/x 5 h (never
 * used: the first match wins), one level under site/b 2 h, keep and below
 * forever, and the global retention 3 h. Five tags
 * get a sample every 10 minutes over the last 8 hours of the wall clock,
 * sealed into hourly chunks; one retention pass; then each tag holds no
 * sample older than its point minus one chunk span (an hour: chunks are
 * dropped whole once they end before the point) and every sample newer
 * than the point, value for value. Bad rules are refused at open and by
 * hist_retention_rule_parse.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "db_fixture.h"
#include "tmpdir.h"
#include "storage/hist_storage.h"

#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)
#define STEP (600 * SEC)
#define N    48 /* 8 hours */

static const char *const rules[] = {"site/a/**=1h", "site/a/x=5h", "site/b/*=2h",
                                    "keep/**=forever"};

static int open_db(const char *dir, const char *const *r, size_t nr, hist_db **db)
{
    hist_db_options o;
    fixture_options(&o, dir);
    o.compact_share = 0;
    o.chunk_samples = 16; /* chunks cut at hour boundaries from 1 sample on */
    o.retention_ns = 3 * HOUR;
    o.retention_rules = r;
    o.nretention_rules = nr;
    return hist_db_open(&o, db);
}

int main(void)
{
    char dir[256];
    REQUIRE(test_tmpdir(dir, sizeof dir, "test_retention_rules") != NULL);

    /* Parsing. */
    size_t len;
    int64_t ns;
    CHECK(hist_retention_rule_parse("a/**=30d", &len, &ns) == 0 && len == 4 &&
          ns == 30 * 24 * HOUR);
    CHECK(hist_retention_rule_parse("a=forever", &len, &ns) == 0 && len == 1 && ns == 0);
    CHECK(hist_retention_rule_parse("a/b", NULL, NULL) == HIST_EINVAL);
    CHECK(hist_retention_rule_parse("=1h", NULL, NULL) == HIST_EINVAL);
    CHECK(hist_retention_rule_parse("a//b=1h", NULL, NULL) == HIST_EINVAL);
    CHECK(hist_retention_rule_parse("a=soon", NULL, NULL) == HIST_EINVAL);
    hist_db *db = NULL;
    const char *bad[] = {"ok/**=1h", "nope"};
    CHECK(open_db(dir, bad, 2, &db) == HIST_EINVAL);

    REQUIRE(open_db(dir, rules, 4, &db) == 0);
    const char *names[] = {"site/a/x", "site/a/y/z", "site/b/q", "site/c", "keep/me"};
    const int64_t keep[] = {HOUR, HOUR, 2 * HOUR, 3 * HOUR, 0};
    enum { NT = 5 };
    uint32_t id[NT];
    struct timespec now_ts;
    clock_gettime(CLOCK_REALTIME, &now_ts);
    int64_t now = (int64_t)now_ts.tv_sec * SEC + now_ts.tv_nsec;
    int64_t t0 = now - 8 * HOUR;
    for (int t = 0; t < NT; t++) {
        REQUIRE(hist_tag_resolve(db, names[t], strlen(names[t]), HIST_TYPE_FLOAT64, true, &id[t]) ==
                0);
        int64_t ts[N];
        hist_value v[N];
        for (int i = 0; i < N; i++)
            ts[i] = t0 + i * STEP, v[i].f = t * 1000 + i;
        hist_series s = {id[t], N, ts, v, NULL};
        uint64_t lsn;
        REQUIRE(hist_db_write(db, &s, 1, &lsn) == 0);
        REQUIRE(hist_db_sync(db, lsn) == 0);
    }
    CHECK_OK(hist_db_flush(db));
    uint64_t dropped = 0;
    CHECK_OK(hist_db_apply_retention(db, &dropped));
    CHECKF(dropped > 0, "no chunk dropped");
    int64_t after = now + HOUR; /* the pass ran a little after `now` */
    for (int t = 0; t < NT; t++) {
        hist_scan *sc;
        REQUIRE(hist_scan_open(db, id[t], t0 - HOUR, now + HOUR, HIST_SCAN_DECODE, &sc) == 0);
        bool have[N] = {false};
        hist_piece p;
        int rc, bad_v = 0;
        while ((rc = hist_scan_next(sc, &p)) > 0)
            for (size_t k = 0; k < p.n; k++) {
                int64_t i = (p.ts[k] - t0) / STEP;
                if (i >= 0 && i < N && p.v[k].f == t * 1000 + i)
                    have[i] = true;
                else
                    bad_v++;
            }
        CHECK(rc == 0);
        hist_scan_close(sc);
        (void)after;
        int too_old = 0, missing = 0, kept = 0;
        for (int i = 0; i < N; i++) {
            int64_t ts = t0 + i * STEP;
            kept += have[i];
            if (keep[t] == 0) {
                missing += !have[i];
                continue;
            }
            int64_t point = now - keep[t];
            if (have[i] && ts < point - HOUR)
                too_old++;
            if (!have[i] && ts >= point + 60 * SEC)
                missing++;
        }
        CHECKF(!too_old && !missing && !bad_v,
               "%s: %d samples kept, %d too old, %d missing, %d wrong", names[t], kept, too_old,
               missing, bad_v);
        if (getenv("TEST_VERBOSE"))
            printf("%-12s kept %d of %d\n", names[t], kept, N);
    }
    CHECK_OK(hist_db_close(db));
    test_rm_rf(dir);
    return check_summary();
}
