/*
 * test_scrub.c: damaged chunks end to end, with the real historiand.
 *
 *   1. two tags, two hours of 1 Hz data each, imported; the server stops;
 *   2. a bit flipped in tag a's first chunk: `historiand --check-data`
 *      exits 1 and names the chunk (tag, segment, offset) as new; run
 *      again, it still exits 1 and says the chunk was marked already;
 *   3. the server again: count (from chunk statistics) and raw over HTTP
 *      agree (3600, not 7200), and both answers carry
 *      X-Historian-Damaged-Chunks: 1;
 *   4. POST /api/v1/admin/scrub: 401 without a token, 403 with a read
 *      token, 202 with the admin token; its status (GET) ends with the
 *      chunk known damaged and listed;
 *   5. a bit flipped in tag b's chunk while the server is down: the
 *      start-up scrub finds it on its own (/metrics shows the pass and the
 *      find), and count and raw of b agree too.
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

static hist_harness h;
static char tokens[400];

static const char *const server_args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};

static void import_data(void)
{
    char csv[400], text[2048];
    snprintf(csv, sizeof csv, "%s/in.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < SAMPLES; i++)
            fprintf(f, "plant/e2e/%c,%lld,%d.5\n", 'a' + t, (long long)(T0_MS + i * 1000), i % 100);
    fclose(f);
    int st = harness_import_csv(&h, csv, "admintok", text, sizeof text);
    CHECKF(st == 0, "import exit %d: %s", st, text);
}

/* The first chunk of a tag, found through the stopped directory's index. */
static hist_chunk_ref first_chunk(const char *name)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = h.data_dir;
    o.no_background = true;
    o.log_level = HIST_LOG_ERROR;
    hist_db *db;
    REQUIRE(hist_db_open(&o, &db) == 0);
    hist_tag_info info;
    CHECK_OK(hist_tag_by_name(db, name, &info));
    CHECK_OK(hist_db_close(db));
    static hist_chunk_ref refs[64];
    int n = test_chunk_refs(h.data_dir, refs, 64);
    for (int i = 0; i < n; i++)
        if (refs[i].tag == info.id)
            return refs[i];
    REQUIRE(!"no chunk of the tag");
    return refs[0];
}

static int check_data(char *text, size_t len)
{
    char out[400];
    snprintf(out, sizeof out, "%s/check.txt", h.root);
    const char *args[] = {"--check-data", h.data_dir, NULL};
    int st = harness_wait_exit(harness_run_tool("historiand", out, args), 120);
    harness_slurp(out, text, len);
    return st;
}

static bool has_damaged_header(const harness_response *r, int n)
{
    char want[64];
    snprintf(want, sizeof want, "X-Historian-Damaged-Chunks: %d", n);
    return r->headers && strstr(r->headers, want);
}

/* count over one day (answered from chunk statistics) and the number of
 * raw samples; both answers must say they left one chunk out. */
static void check_count_and_raw(char tag, int want)
{
    char target[256];
    harness_response r;
    const char *auth = "Authorization: Bearer readtok\r\n";
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/%c&from=%lld&to=%lld&agg=count&step=1d&fill=none", tag,
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    REQUIRE(harness_http(h.http_port, "GET", target, auth, NULL, 0, &r) == 0);
    char count[64];
    snprintf(count, sizeof count, "\"count\":%d", want);
    CHECKF(r.status == 200 && strstr(r.body, count), "count of %c: %d %s", tag, r.status, r.body);
    CHECKF(has_damaged_header(&r, 1), "count of %c: headers %s", tag,
           r.headers ? r.headers : "(none)");
    harness_response_free(&r);

    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/%c&from=%lld&to=%lld&limit=100000&format=csv", tag,
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    REQUIRE(harness_http(h.http_port, "GET", target, auth, NULL, 0, &r) == 0);
    int lines = 0;
    for (size_t i = 0; r.body && i < r.body_len; i++)
        lines += r.body[i] == '\n';
    CHECKF(r.status == 200 && lines - 1 == want, "raw of %c: %d rows", tag, lines - 1);
    CHECK(has_damaged_header(&r, 1));
    harness_response_free(&r);
}

static void test_admin_route(void)
{
    harness_response r;
    CHECK(harness_http_as(&h, "POST", "/api/v1/admin/scrub", NULL, &r) == 401);
    harness_response_free(&r);
    CHECK(harness_http_as(&h, "POST", "/api/v1/admin/scrub", "readtok", &r) == 403);
    harness_response_free(&r);
    CHECK(harness_http_as(&h, "GET", "/api/v1/admin/scrub", "readtok", &r) == 403);
    harness_response_free(&r);
    /* The start-up pass may still run: then wait for it and ask again. */
    int st = 0;
    for (int i = 0; i < 200 && (st = harness_http_as(&h, "POST", "/api/v1/admin/scrub?share=100",
                                                     "admintok", &r)) == 200;
         i++) {
        harness_response_free(&r);
        usleep(20000);
    }
    CHECKF(st == 202 && strstr(r.body, "\"started\":true"), "%d %s", st, r.body);
    harness_response_free(&r);
    bool done = false;
    for (int i = 0; i < 500 && !done; i++) {
        if (harness_http_as(&h, "GET", "/api/v1/admin/scrub", "admintok", &r) == 200 &&
            strstr(r.body, "\"running\":false"))
            done = true;
        else
            usleep(20000);
        if (!done)
            harness_response_free(&r);
    }
    REQUIRE(done);
    CHECKF(strstr(r.body, "\"damaged_known\":1") && strstr(r.body, "\"damaged_new\":0") &&
               strstr(r.body, "\"tag\":\"plant/e2e/a\"") &&
               strstr(r.body, "\"reason\":\"crc32c mismatch\""),
           "%s", r.body);
    harness_response_free(&r);
}

/* /metrics (read token) until the start-up pass has finished. */
static bool wait_startup_scrub(char *text, size_t len)
{
    for (int i = 0; i < 500; i++) {
        harness_response r;
        if (harness_http_as(&h, "GET", "/metrics", "readtok", &r) == 200 &&
            strstr(r.body, "historian_scrub_passes_total 1\n")) {
            snprintf(text, len, "%s", r.body);
            harness_response_free(&r);
            return true;
        }
        harness_response_free(&r);
        usleep(20000);
    }
    return false;
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-scrub") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "admintok admin\nreadtok read\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    import_data();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    /* 2. the offline check */
    static char text[65536];
    CHECKF(check_data(text, sizeof text) == 0 && strstr(text, "result: clean"), "%s", text);
    hist_chunk_ref ra = first_chunk("plant/e2e/a");
    CHECK(ra.stats.count == 3600);
    CHECK(test_flip_chunk_bit(h.data_dir, &ra, ra.length / 2, 5) == 0);
    char place[96];
    snprintf(place, sizeof place, "segment %u offset %llu", ra.segment,
             (unsigned long long)ra.offset);
    CHECK_EQ_I64(check_data(text, sizeof text), 1);
    CHECKF(strstr(text, "damaged (new, now marked): tag 'plant/e2e/a'") && strstr(text, place) &&
               strstr(text, "crc32c mismatch") && strstr(text, "result: damage found"),
           "%s", text);
    CHECK_EQ_I64(check_data(text, sizeof text), 1);
    CHECKF(strstr(text, "damaged (already marked): tag 'plant/e2e/a'") &&
               strstr(text, "(0 new, 1 already marked)"),
           "%s", text);

    /* 3. queries over HTTP */
    REQUIRE(harness_restart(&h, server_args) == 0);
    check_count_and_raw('a', SAMPLES - 3600);
    /* 4. the admin route */
    test_admin_route();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    /* 5. the start-up scrub finds what nobody checked */
    hist_chunk_ref rb = first_chunk("plant/e2e/b");
    CHECK(test_flip_chunk_bit(h.data_dir, &rb, rb.length / 3, 1) == 0);
    REQUIRE(harness_restart(&h, server_args) == 0);
    CHECKF(wait_startup_scrub(text, sizeof text), "the start-up scrub did not finish");
    CHECKF(strstr(text, "historian_scrub_damaged_found_total 1\n") &&
               strstr(text, "historian_damaged_chunks 2\n") &&
               strstr(text, "historian_scrub_chunks_checked_total 4\n"),
           "%s", text);
    check_count_and_raw('b', SAMPLES - 3600);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
