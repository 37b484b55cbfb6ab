/*
 * test_delete.c: deleting data end to end, with the real historiand.
 *
 *   1. two tags, two hours of 1 Hz data each (value i % 100 + 0.5),
 *      imported; `historian delete` without --yes sends nothing (exit 2);
 *      with it, 1,000 s of tag a go: count (chunk statistics), raw and
 *      latest agree;
 *   2. bad input: an unknown tag 404, from >= to 400, a read token 403, an
 *      admin token limited to tag a's pattern 403 on tag b (and 200 on a);
 *   3. all=true deletes b's samples and keeps the tag (still listed);
 *      DELETE /api/v1/tags/b then removes the tag: its queries and its entry
 *      answer 404, the tag list leaves it out, `historian delete --remove`
 *      of it again is a 404, and a write with its name makes a new tag
 *      holding only that write (also after kill -9);
 *   4. the audit file holds an admin line per delete with the tag and the
 *      range;
 *   5. a delete acknowledged, then kill -9 at once: after the restart the
 *      deleted samples stay deleted and every other one is there, value
 *      for value.
 * Every wait is bounded; the server is stopped by its pid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define T0_MS   INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define SAMPLES 7200

static hist_harness h;
static char tokens[400], audit[400], server_url[64];
static bool g_gone[SAMPLES]; /* tag a's deleted seconds */
static bool g_b_gone;        /* tag b deleted whole */

static const char *const server_args[] = {
    "--auth-file", tokens, "--audit-file", audit, "--log-level", "warn", NULL};

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

static int http(const char *method, const char *target, const char *token, harness_response *r)
{
    return harness_http_as(&h, method, target, token, r);
}

static int expect_a(void)
{
    int n = 0;
    for (int i = 0; i < SAMPLES; i++)
        n += !g_gone[i];
    return n;
}

/* count over a day (from chunk statistics), raw value for value, latest. */
static int g_b_new; /* samples written into b since it was removed */

/* b removed: every read of it is a 404 and the list leaves it out. */
static void check_removed(const char *when)
{
    harness_response r;
    char target[256];
    snprintf(target, sizeof target, "/api/v1/query?tag=plant/e2e/b&from=%lld&to=%lld",
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    CHECKF(http("GET", target, "readtok", &r) == 404, "%s: query of b: %d %s", when, r.status,
           r.body);
    harness_response_free(&r);
    CHECKF(http("GET", "/api/v1/tags/plant/e2e/b", "readtok", &r) == 404, "%s: entry of b: %d",
           when, r.status);
    harness_response_free(&r);
    CHECKF(http("GET", "/api/v1/tags?prefix=plant/e2e/", "readtok", &r) == 200 &&
               strstr(r.body, "plant/e2e/a") && !strstr(r.body, "plant/e2e/b"),
           "%s: list: %s", when, r.body);
    harness_response_free(&r);
}

static void check_tag(char tag, const char *when)
{
    char target[256];
    harness_response r;
    if (tag == 'b' && g_b_gone && !g_b_new) {
        check_removed(when);
        return;
    }
    int want = tag == 'a' ? expect_a() : g_b_gone ? g_b_new : SAMPLES;
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/%c&from=%lld&to=%lld&agg=count&step=1d&fill=none", tag,
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    REQUIRE(http("GET", target, "readtok", &r) == 200);
    char count[64];
    snprintf(count, sizeof count, "\"count\":%d", want);
    CHECKF(want == 0 ? !strstr(r.body, "\"count\":") || strstr(r.body, "\"count\":0")
                     : strstr(r.body, count) != NULL,
           "%s: count of %c, want %d: %s", when, tag, want, r.body);
    harness_response_free(&r);

    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/e2e/%c&from=%lld&to=%lld&limit=100000&format=csv", tag,
             (long long)T0_MS, (long long)(T0_MS + 86400000));
    REQUIRE(http("GET", target, "readtok", &r) == 200);
    /* lines after the header: tag,time,value[,...]; time in ms or RFC 3339 */
    int rows = 0, bad = 0, i = 0;
    char *save = NULL;
    char *line = strtok_r(r.body, "\n", &save);
    for (line = line ? strtok_r(NULL, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        rows++;
        if (tag != 'a')
            continue;
        while (i < SAMPLES && g_gone[i])
            i++;
        char want_v[32];
        snprintf(want_v, sizeof want_v, ",%d.5", i % 100);
        if (i >= SAMPLES || !strstr(line, want_v))
            bad++;
        i++;
    }
    CHECKF(rows == want && !bad, "%s: raw of %c: %d rows (want %d), %d differ", when, tag, rows,
           want, bad);
    harness_response_free(&r);

    snprintf(target, sizeof target, "/api/v1/query?tag=plant/e2e/%c&mode=latest&format=json", tag);
    REQUIRE(http("GET", target, "readtok", &r) == 200);
    int last = -1;
    for (int k = 0; k < SAMPLES; k++)
        if (tag == 'a' ? !g_gone[k] : !g_b_gone)
            last = k;
    if (tag == 'b' && g_b_new)
        last = 30; /* the one write after the removal */
    if (last < 0) {
        CHECKF(!strstr(r.body, "\"value\""), "%s: latest of %c: %s", when, tag, r.body);
    } else {
        char v[32];
        snprintf(v, sizeof v, "%d.5", last % 100);
        CHECKF(strstr(r.body, v) != NULL, "%s: latest of %c, want %s: %s", when, tag, v, r.body);
    }
    harness_response_free(&r);
}

static int cli(const char *const *args, char *text, size_t len)
{
    char out[400];
    snprintf(out, sizeof out, "%s/cli.txt", h.root);
    int st = harness_wait_exit(harness_run_cli(out, args), 60);
    harness_slurp(out, text, len);
    return st;
}

static void gone(int from_s, int to_s)
{
    for (int i = from_s; i < to_s && i < SAMPLES; i++)
        g_gone[i] = true;
}

static void test_cli(void)
{
    char from[32], to[32], text[2048];
    snprintf(from, sizeof from, "%lld", (long long)(T0_MS + 1000 * 1000));
    snprintf(to, sizeof to, "%lld", (long long)(T0_MS + 2000 * 1000));
    const char *no_yes[] = {"delete",   "plant/e2e/a", "--from",  from,       "--to", to,
                            "--server", server_url,    "--token", "admintok", NULL};
    CHECK_EQ_I64(cli(no_yes, text, sizeof text), 2); /* it says why on stderr */
    check_tag('a', "without --yes");
    const char *args[] = {"delete", "plant/e2e/a", "--from",   from,      "--to",     to,
                          "--yes",  "--server",    server_url, "--token", "admintok", NULL};
    CHECK_EQ_I64(cli(args, text, sizeof text), 0);
    CHECKF(strstr(text, "deleted 1000 sample(s) of plant/e2e/a"), "%s", text);
    gone(1000, 2000);
    check_tag('a', "after the CLI delete");
    check_tag('b', "b untouched");
}

static void test_bad_input(void)
{
    harness_response r;
    char t[256];
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/none&from=%lld&to=%lld",
             (long long)T0_MS, (long long)T0_MS + 1000);
    CHECKF(http("POST", t, "admintok", &r) == 404, "unknown tag: %d %s", r.status, r.body);
    harness_response_free(&r);
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/a&from=%lld&to=%lld",
             (long long)T0_MS + 1000, (long long)T0_MS + 1000);
    CHECKF(http("POST", t, "admintok", &r) == 400 && strstr(r.body, "from must be before to"),
           "from >= to: %d %s", r.status, r.body);
    harness_response_free(&r);
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/a&from=nonsense&to=now");
    CHECK(http("POST", t, "admintok", &r) == 400);
    harness_response_free(&r);
    CHECK(http("POST", "/api/v1/admin/delete?tag=plant/e2e/a&from=-1h", "admintok", &r) == 400);
    harness_response_free(&r);
    CHECK(http("GET", "/api/v1/admin/delete?tag=plant/e2e/a&all=true", "admintok", &r) == 405);
    harness_response_free(&r);
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/a&from=%lld&to=%lld",
             (long long)T0_MS, (long long)T0_MS + 10000);
    CHECK(http("POST", t, NULL, &r) == 401);
    harness_response_free(&r);
    CHECK(http("POST", t, "readtok", &r) == 403);
    harness_response_free(&r);
    CHECK(http("DELETE", "/api/v1/tags/plant/e2e/a", "readtok", &r) == 403);
    harness_response_free(&r);
    /* an admin token limited to plant/e2e/a */
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/b&from=%lld&to=%lld",
             (long long)T0_MS, (long long)T0_MS + 10000);
    CHECKF(http("POST", t, "aadmin", &r) == 403 && strstr(r.body, "plant/e2e/b"), "%d %s", r.status,
           r.body);
    harness_response_free(&r);
    CHECK(http("DELETE", "/api/v1/tags/plant/e2e/b", "aadmin", &r) == 403);
    harness_response_free(&r);
    check_tag('b', "after refused deletes");
    check_tag('a', "after bad input");
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/a&from=%lld&to=%lld",
             (long long)T0_MS, (long long)T0_MS + 10000);
    CHECKF(http("POST", t, "aadmin", &r) == 200 && strstr(r.body, "\"samples_deleted\":10"),
           "%d %s", r.status, r.body);
    harness_response_free(&r);
    gone(0, 10);
    check_tag('a', "after the limited admin's delete");
}

static void test_whole_tag(void)
{
    harness_response r;
    /* all=true: every sample, the tag stays */
    CHECKF(http("POST", "/api/v1/admin/delete?tag=plant/e2e/b&all=true", "admintok", &r) == 200 &&
               strstr(r.body, "\"samples_deleted\":7200") &&
               strstr(r.body, "\"tag_removed\":false"),
           "%d %s", r.status, r.body);
    harness_response_free(&r);
    CHECKF(http("GET", "/api/v1/tags/plant/e2e/b", "readtok", &r) == 200, "b after all=true: %d",
           r.status);
    harness_response_free(&r);
    /* DELETE: the tag itself */
    CHECKF(http("DELETE", "/api/v1/tags/plant/e2e/b", "admintok", &r) == 200 &&
               strstr(r.body, "\"samples_deleted\":0") && strstr(r.body, "\"tag_removed\":true"),
           "%d %s", r.status, r.body);
    harness_response_free(&r);
    g_b_gone = true;
    check_tag('b', "after DELETE /api/v1/tags/b");
    /* again, through the CLI: the tag is unknown now */
    char out[400];
    snprintf(out, sizeof out, "%s/remove.txt", h.root);
    const char *args[] = {"delete",   "plant/e2e/b", "--remove", "--yes", "--server",
                          server_url, "--token",     "admintok", NULL};
    int st = harness_wait_exit(harness_run_cli(out, args), 30);
    CHECKF(st == 1, "historian delete --remove of a removed tag: exit %d", st);
    /* the name is free: a write makes a new tag with only that write */
    char csv[400], text[2048];
    snprintf(csv, sizeof csv, "%s/b-again.csv", h.root);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "plant/e2e/b,%lld,30.5\n", (long long)(T0_MS + 30 * 1000));
    fclose(f);
    const char *imp[] = {"import", csv, "--ingest", h.ingest_addr, "--token", "admintok", NULL};
    st = harness_wait_exit(harness_run_cli(out, imp), 60);
    harness_slurp(out, text, sizeof text);
    CHECKF(st == 0, "import into the removed name: exit %d: %s", st, text);
    g_b_new = 1;
    check_tag('b', "b written again");
    CHECK(http("GET", "/api/v1/tags/plant/e2e/b", "readtok", &r) == 200);
    harness_response_free(&r);
}

static void test_audit(void)
{
    static char text[65536];
    harness_slurp(audit, text, sizeof text);
    char want[160];
    snprintf(want, sizeof want, "\"tag\":\"plant/e2e/a\",\"detail\":\"delete from=%lld to=%lld",
             (long long)(T0_MS + 1000 * 1000), (long long)(T0_MS + 2000 * 1000));
    CHECKF(strstr(text, "\"event\":\"admin\"") &&
               strstr(text, "\"route\":\"/api/v1/admin/delete\"") && strstr(text, want),
           "audit: %s", text);
    CHECKF(strstr(text, "\"route\":\"/api/v1/tags/plant/e2e/b\"") &&
               strstr(text, "\"tag\":\"plant/e2e/b\",\"detail\":\"delete every sample: 7200") &&
               strstr(text, "\"tag\":\"plant/e2e/b\",\"detail\":\"delete every sample: 0"),
           "audit: %s", text);
}

static void test_kill9(void)
{
    harness_response r;
    char t[256];
    snprintf(t, sizeof t, "/api/v1/admin/delete?tag=plant/e2e/a&from=%lld&to=%lld",
             (long long)T0_MS + 5000 * 1000 + 500, (long long)T0_MS + 6100 * 1000);
    CHECKF(http("POST", t, "admintok", &r) == 200, "%d %s", r.status, r.body);
    harness_response_free(&r);
    harness_kill9(&h);
    gone(5001, 6100);
    REQUIRE(harness_restart(&h, server_args) == 0);
    check_tag('a', "after kill -9");
    check_tag('b', "b after kill -9");
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-delete") == 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    snprintf(audit, sizeof audit, "%s/audit.log", h.root);
    REQUIRE(harness_write_file(tokens,
                               "admintok admin\nreadtok read\naadmin admin plant/e2e/a\n") == 0);
    if (harness_start_or_clean(&h, server_args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    snprintf(server_url, sizeof server_url, "http://127.0.0.1:%d", h.http_port);
    import_data();
    check_tag('a', "imported");
    test_cli();
    test_bad_input();
    test_whole_tag();
    test_audit();
    test_kill9();
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
