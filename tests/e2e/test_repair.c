/*
 * test_repair.c: `historiand --check-data DIR --repair` and `historian
 * check --server`, end to end with the real programs.
 *
 *   1. two tags (a, b), two hours of 1 Hz data each (two chunks each),
 *      imported; `historian check --server` exits 0, "result: clean"
 *      (and 2 without the admin token);
 *   2. the server stops; a bit is flipped in a's first chunk (crc32c), b's
 *      second chunk entry gets a wrong max (statistics), and a copy of b's
 *      first entry is put under a tag id the registry does not know, and
 *      garbage is appended to the WAL; --check-data exits 1 and names all
 *      four (recovery cuts the WAL tail for good);
 *   3. the server again: `historian check --server` exits 1 and lists both
 *      damaged chunks with their reasons; /metrics says 2 damaged chunks;
 *   4. stopped: --check-data --repair exits 1 and lists the three removed
 *      entries (tag, time range, samples lost, reason); a second check
 *      exits 0, "result: clean";
 *   5. every other sample reads back value for value (a: its second hour,
 *      b: its first), and a restarted server's `historian check` exits 0.
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "chunk_damage.h"
#include "harness.h"

#define T0_MS   INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define SAMPLES 7200
#define ORPHAN  99999u /* a tag id nobody registered */

static hist_harness h;
static char tokens[400];
static char text[65536];

static const char *const server_args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};

static void import_data(void)
{
    char csv[400], msg[2048];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < SAMPLES; i++)
            fprintf(f, "plant/rep/%c,%lld,%d.25\n", 'a' + t, (long long)(T0_MS + i * 1000),
                    i % 977);
    fclose(f);
    int st = harness_import_csv(&h, csv, "admintok", msg, sizeof msg);
    CHECKF(st == 0, "import exit %d: %s", st, msg);
}

static uint32_t tag_id(hist_db *db, const char *name)
{
    hist_tag_info info;
    CHECK_OK(hist_tag_by_name(db, name, &info));
    return info.id;
}

static hist_db *open_dir(void)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = h.data_dir;
    o.no_background = true;
    o.log_level = HIST_LOG_ERROR;
    hist_db *db;
    REQUIRE(hist_db_open(&o, &db) == 0);
    return db;
}

/* The chunks of a tag in time order (at most cap). */
static int chunks_of(uint32_t tag, hist_chunk_ref *out, int cap)
{
    static hist_chunk_ref refs[64];
    int n = test_chunk_refs(h.data_dir, refs, 64), k = 0;
    for (int i = 0; i < n && k < cap; i++)
        if (refs[i].tag == tag)
            out[k++] = refs[i];
    return k;
}

static int put_txn(hist_index *idx, MDB_txn *txn, void *arg)
{
    return index__put_chunk(idx, txn, arg);
}

/* A copy of ref's entry under the tag id ORPHAN. */
static int put_orphan(const hist_chunk_ref *ref)
{
    hist_index idx;
    int rc = test_index_open_(h.data_dir, &idx);
    if (rc)
        return rc;
    hist_chunk_ref r = *ref;
    r.tag = ORPHAN;
    rc = index__write(&idx, put_txn, &r);
    index__close(&idx);
    return rc;
}

/* A WAL file of n bytes of garbage after the others (a clean stop leaves
 * none): a damaged tail that recovery cuts. */
static int damage_wal_tail(size_t n)
{
    char path[700];
    snprintf(path, sizeof path, "%s/wal/000000999999.wal", h.data_dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    for (size_t i = 0; i < n; i++)
        fputc(0xab, f);
    return fclose(f);
}

static int run_check_data(bool repair)
{
    char out[400];
    snprintf(out, sizeof out, "%s/check.txt", h.root);
    const char *args[] = {"--check-data", h.data_dir, repair ? "--repair" : NULL, NULL};
    int st = harness_wait_exit(harness_run_tool("historiand", out, args), 120);
    harness_slurp(out, text, sizeof text);
    if (getenv("HIST_TEST_VERBOSE"))                           /* the tool's output, to read it */
        printf("---- exit %d:\n%s", st, text), fflush(stdout); /* before the next fork */
    return st;
}

static int run_cli_check(const char *token)
{
    char out[400], url[96];
    snprintf(out, sizeof out, "%s/cli_check.txt", h.root);
    snprintf(url, sizeof url, "http://%s", h.http_addr);
    const char *args[] = {"check",  "--server", url,       "--share", "100",
                          "--wait", "60",       "--token", token,     NULL};
    if (!token)
        args[7] = NULL;
    int st = harness_wait_exit(harness_run_cli(out, args), 90);
    harness_slurp(out, text, sizeof text);
    if (getenv("HIST_TEST_VERBOSE"))                           /* the tool's output, to read it */
        printf("---- exit %d:\n%s", st, text), fflush(stdout); /* before the next fork */
    return st;
}

/* Every sample of tag in [from_i, to_i) of the import, value for value. */
static void read_back(hist_db *db, const char *name, int from_i, int to_i)
{
    hist_tag_info info;
    REQUIRE(hist_tag_by_name(db, name, &info) == 0);
    hist_scan *scan;
    REQUIRE(hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &scan) == 0);
    int i = from_i, bad = 0;
    hist_piece p;
    while (hist_scan_next(scan, &p) == 1)
        for (size_t k = 0; k < p.n; k++, i++) {
            int64_t want_ts = (T0_MS + (int64_t)i * 1000) * 1000000;
            double want_v = (double)(i % 977) + 0.25;
            if (i >= to_i || p.ts[k] != want_ts || p.v[k].f != want_v)
                bad++;
        }
    hist_scan_close(scan);
    CHECKF(bad == 0 && i == to_i, "%s: %d samples read up to %d, %d wrong", name, i - from_i, i,
           bad);
}

static double metric(const char *name)
{
    harness_response r;
    char hdr[] = "Authorization: Bearer readtok\r\n";
    if (harness_http(h.http_port, "GET", "/metrics", hdr, NULL, 0, &r) != 0)
        return -1;
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    harness_response_free(&r);
    return v;
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-repair") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "admintok admin\nreadtok read\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    /* 1. a clean server */
    import_data();
    CHECKF(run_cli_check("admintok") == 0 && strstr(text, "result: clean") &&
               strstr(text, "0 damaged"),
           "%s", text);
    CHECKF(run_cli_check("readtok") == 2, "%s", text);
    CHECKF(run_cli_check(NULL) == 2, "%s", text);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    /* 2. damage, found offline */
    hist_db *db = open_dir();
    uint32_t ta = tag_id(db, "plant/rep/a"), tb = tag_id(db, "plant/rep/b");
    CHECK_OK(hist_db_close(db));
    hist_chunk_ref ca[4], cb[4];
    REQUIRE(chunks_of(ta, ca, 4) == 2 && chunks_of(tb, cb, 4) == 2);
    CHECK(ca[0].stats.count == 3600 && cb[1].stats.count == 3600);
    CHECK(test_flip_chunk_bit(h.data_dir, &ca[0], ca[0].length / 2, 3) == 0);
    CHECK_OK(test_skew_entry_max(h.data_dir, &cb[1], 1.0));
    CHECK_OK(put_orphan(&cb[0]));
    CHECK(damage_wal_tail(100) == 0);
    CHECK_EQ_I64(run_check_data(false), 1);
    CHECKF(strstr(text, "problem: WAL: wal: ") && strstr(text, "cutting the last 100 byte(s)") &&
               strstr(text, "(100 bytes)"),
           "%s", text);
    CHECKF(strstr(text, "damaged (new, now marked): tag 'plant/rep/a'") &&
               strstr(text, "crc32c mismatch") &&
               strstr(text, "damaged (new, now marked): tag 'plant/rep/b'") &&
               strstr(text, "samples disagree with the entry's statistics") &&
               strstr(text, "which the registry does not know") &&
               strstr(text, "result: damage found"),
           "%s", text);

    /* 3. the running server's check lists them */
    REQUIRE(harness_restart(&h, server_args) == 0);
    char place[96];
    snprintf(place, sizeof place, "segment %u offset %llu", ca[0].segment,
             (unsigned long long)ca[0].offset);
    CHECK_EQ_I64(run_cli_check("admintok"), 1);
    CHECKF(strstr(text, "damaged: tag 'plant/rep/a', chunk 2026-01-01T00:00:00Z .. "
                        "2026-01-01T00:59:59Z") &&
               strstr(text, place) && strstr(text, "crc32c mismatch") &&
               strstr(text, "damaged: tag 'plant/rep/b'") && strstr(text, "samples disagree") &&
               strstr(text, "1 index problem(s)") && strstr(text, "2 marked in all") &&
               strstr(text, "result: damage found"),
           "%s", text);
    CHECK(metric("historian_damaged_chunks") == 2);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    /* 4. repair, then a clean check */
    CHECK_EQ_I64(run_check_data(true), 1);
    CHECKF(strstr(text, "removed: tag 'plant/rep/a'") &&
               strstr(text, "2026-01-01T00:00:00Z .. 2026-01-01T00:59:59Z, 3600 sample(s) lost: "
                            "crc32c mismatch") &&
               strstr(text, "removed: tag 'plant/rep/b'") &&
               strstr(text, "2026-01-01T01:00:00Z .. 2026-01-01T01:59:59Z, 3600 sample(s) lost: "
                            "samples disagree with the entry's statistics") &&
               strstr(text, "removed: tag '?' (id 99999)") &&
               strstr(text, "names a tag the registry does not know") &&
               strstr(text, "repair: 3 index entries removed, 10800 sample(s) lost"),
           "%s", text);
    CHECKF(run_check_data(false) == 0 && strstr(text, "result: clean") &&
               strstr(text, "chunks: 2 checked"),
           "%s", text);
    CHECKF(run_check_data(true) == 0 && strstr(text, "repair: 0 index entries removed"), "%s",
           text);

    /* 5. the rest reads back, and the server agrees */
    db = open_dir();
    read_back(db, "plant/rep/a", 3600, SAMPLES);
    read_back(db, "plant/rep/b", 0, 3600);
    hist_db_stats st;
    CHECK_OK(hist_db_get_stats(db, &st));
    CHECKF(st.chunks == 2 && st.samples_sealed == 7200 && st.damaged_chunks == 0,
           "%llu chunks, %llu samples", (unsigned long long)st.chunks,
           (unsigned long long)st.samples_sealed);
    CHECK_OK(hist_db_close(db));
    REQUIRE(harness_restart(&h, server_args) == 0);
    CHECKF(run_cli_check("admintok") == 0 && strstr(text, "result: clean"), "%s", text);
    CHECK(metric("historian_damaged_chunks") == 0);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
