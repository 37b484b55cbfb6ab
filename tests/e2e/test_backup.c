/*
 * test_backup.c: `historian backup` against the real historiand while a
 * writer ingests over the TCP protocol.
 *   - the writer records when each batch was acknowledged; the backup is
 *     started through the CLI mid-stream and must exit 0;
 *   - a second historiand started on DEST (other ports) answers every
 *     sample acknowledged before the CLI ran, value for value, through the
 *     HTTP API; what it holds beyond is whole batches of the right values;
 *   - bad input, over HTTP: a relative path, an existing non-empty
 *     directory, a path inside the data directory, a token without the
 *     admin scope (403): clear errors and nothing made; the CLI refuses a
 *     relative DEST itself;
 *   - the audit trail has the backup.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define TAGS        6
#define PER         200
#define MAX_BATCHES 20000
#define T0_MS       INT64_C(1700000000000)
#define TOKEN       "boss-secret"
#define BOSS        "Authorization: Bearer boss-secret\r\n"
#define READER      "Authorization: Bearer reader-secret\r\n"

static hist_harness h, h2;
static char g_tokens[400], g_audit[400];

typedef struct {
    atomic_int stop;
    atomic_int acked;             /* batches acknowledged, in order */
    double acked_at[MAX_BATCHES]; /* monotonic seconds of each ack */
    int errors;
} writer;

static writer g_w;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&d, NULL);
}

static double value_of(int t, int64_t k)
{
    return t * 1000.0 + (double)k + 0.25;
}

static void *writer_main(void *arg)
{
    (void)arg;
    hist_tcp_client *c;
    if (hist_tcp_client_connect(h.ingest_addr, 5000, &c) != 0) {
        g_w.errors++;
        return NULL;
    }
    char names[TAGS][32];
    for (int t = 0; t < TAGS; t++)
        snprintf(names[t], sizeof names[t], "plant/backup/t%d", t);
    int64_t ts[TAGS][PER];
    hist_value v[TAGS][PER];
    double until = mono_s() + 120;
    for (int b = 0; b < MAX_BATCHES && !atomic_load(&g_w.stop) && mono_s() < until; b++) {
        hist_client_series s[TAGS];
        for (int t = 0; t < TAGS; t++) {
            for (int i = 0; i < PER; i++) {
                int64_t k = (int64_t)b * PER + i;
                ts[t][i] = (T0_MS + k * 10) * 1000000;
                v[t][i].f = value_of(t, k);
            }
            s[t] = (hist_client_series){names[t], HIST_TYPE_FLOAT64, PER, ts[t], v[t], NULL};
        }
        uint8_t *buf = NULL;
        size_t len;
        Historian__V1__WriteResponse *r = NULL;
        int rc = hist_client_encode((uint64_t)b + 1, TOKEN, s, TAGS, &buf, &len);
        if (rc == 0)
            rc = hist_tcp_client_send(c, buf, len);
        if (rc == 0)
            rc = hist_tcp_client_recv(c, 10000, &r);
        bool ok = rc == 0 && r && r->code == 0 && r->batch_id == (uint64_t)b + 1;
        if (r)
            historian__v1__write_response__free_unpacked(r, NULL);
        free(buf);
        if (!ok) {
            g_w.errors++;
            break;
        }
        g_w.acked_at[b] = mono_s();
        atomic_store(&g_w.acked, b + 1);
    }
    hist_tcp_client_close(c);
    return NULL;
}

/* One request's status, with its body kept in *r (free it). */
static int http(hist_harness *s, const char *method, const char *target, const char *auth,
                harness_response *r)
{
    if (harness_http(s->http_port, method, target, auth, NULL, 0, r) != 0) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    return r->status;
}

static void expect_refused(const char *dest_param, const char *auth, int status, const char *want)
{
    char target[1024];
    snprintf(target, sizeof target, "/api/v1/admin/backup?dest=%s", dest_param);
    harness_response r;
    int got = http(&h, "POST", target, auth, &r);
    CHECKF(got == status, "POST %s: %d, want %d (%s)", target, got, status, r.body ? r.body : "");
    CHECKF(r.body && strstr(r.body, want), "POST %s: '%s' not in %s", target, want,
           r.body ? r.body : "");
    harness_response_free(&r);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_bad_input(void)
{
    char path[600];
    expect_refused("relative/dir", BOSS, 400, "absolute");
    CHECK(!exists("relative"));
    snprintf(path, sizeof path, "%s/inside", h.data_dir);
    expect_refused(path, BOSS, 400, "inside the data directory");
    CHECK(!exists(path));
    snprintf(path, sizeof path, "%s/full", h.root);
    CHECK(mkdir(path, 0755) == 0);
    char file[700];
    snprintf(file, sizeof file, "%s/keep", path);
    FILE *f = fopen(file, "w");
    CHECK(f && fputs("mine\n", f) >= 0 && fclose(f) == 0);
    expect_refused(path, BOSS, 400, "not empty");
    char text[64];
    harness_slurp(file, text, sizeof text);
    CHECK(!strcmp(text, "mine\n"));
    snprintf(path, sizeof path, "%s/by-reader", h.root);
    expect_refused(path, READER, 403, "admin");
    CHECK(!exists(path));
    expect_refused("", BOSS, 400, "dest");
    /* The CLI refuses a relative DEST before asking the server. */
    char out[400], port[80];
    snprintf(out, sizeof out, "%s/cli_bad.out", h.root);
    snprintf(port, sizeof port, "http://%s", h.http_addr);
    const char *args[] = {"backup", "--server", port, "--token", TOKEN, "relative/x", NULL};
    CHECK_EQ_I64(harness_wait_exit(harness_run_cli(out, args), 30), 2);
}

static double row_value(const void *ctx, int64_t row)
{
    return value_of(*(const int *)ctx, row);
}

/* Rows of tag t on the second server: how many, how many wrong. */
static int64_t read_tag(int t, int64_t *wrong)
{
    char target[300];
    snprintf(target, sizeof target,
             "/api/v1/query?tag=plant/backup/t%d&from=%lld&to=%lld&limit=1000000&format=csv", t,
             (long long)T0_MS, (long long)(T0_MS + INT64_C(86400000) * 30));
    harness_response r;
    int st = http(&h2, "GET", target, BOSS, &r);
    CHECKF(st == 200, "raw of t%d: %d (%s)", t, st, r.body ? r.body : "");
    int64_t rows = harness_csv_rows(r.body, row_value, &t, wrong);
    harness_response_free(&r);
    return rows;
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-e2e-backup") == 0);
    snprintf(g_tokens, sizeof g_tokens, "%s/tokens", h.root);
    snprintf(g_audit, sizeof g_audit, "%s/audit.log", h.root);
    REQUIRE(harness_write_file(g_tokens, "boss-secret admin\nreader-secret read\n") == 0);
    const char *args[] = {"--auth-file", g_tokens, "--audit-file", g_audit, NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        REQUIRE(0);
    }
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, writer_main, NULL) == 0);
    for (int i = 0; i < 3000 && atomic_load(&g_w.acked) < 100 && !g_w.errors; i++)
        nap_ms(5);
    REQUIRE(atomic_load(&g_w.acked) >= 100);

    char dest[280], out[400], server[80];
    snprintf(dest, sizeof dest, "%s/backup", h.root);
    snprintf(out, sizeof out, "%s/cli.out", h.root);
    snprintf(server, sizeof server, "http://%s", h.http_addr);
    const char *cli[] = {"backup", "--server", server, "--token", TOKEN, dest, NULL};
    double sent = mono_s(); /* every batch acked before this must be in the copy */
    int code = harness_wait_exit(harness_run_cli(out, cli), 120);
    double done = mono_s();
    char text[4096];
    harness_slurp(out, text, sizeof text);
    printf("historian backup: exit %d after %.3f s\n%s", code, done - sent, text);
    CHECK_EQ_I64(code, 0);
    CHECK(strstr(text, "complete") != NULL && strstr(text, "lsn") != NULL);
    test_bad_input();
    { /* incremental, through the CLI: a base that is not a backup is refused */
        char dest2[300], out2[400];
        snprintf(dest2, sizeof dest2, "%s/backup2", h.root);
        snprintf(out2, sizeof out2, "%s/cli2.out", h.root);
        const char *bad[] = {"backup", "--server", server, "--token", TOKEN,
                             "--base", h.data_dir, dest2,  NULL};
        CHECK_EQ_I64(harness_wait_exit(harness_run_cli(out2, bad), 60), 1);
        CHECK(!exists(dest2));
        const char *inc[] = {"backup", "--server", server, "--token", TOKEN,
                             "--base", dest,       dest2,  NULL};
        CHECK_EQ_I64(harness_wait_exit(harness_run_cli(out2, inc), 120), 0);
        harness_slurp(out2, text, sizeof text);
        CHECK(strstr(text, "reused_files") != NULL);
    }
    int target = atomic_load(&g_w.acked) + 30;
    for (int i = 0; i < 3000 && atomic_load(&g_w.acked) < target && !g_w.errors; i++)
        nap_ms(5); /* ingest goes on after it */
    atomic_store(&g_w.stop, 1);
    pthread_join(w, NULL);
    CHECK_EQ_I64(g_w.errors, 0);
    int acked = atomic_load(&g_w.acked), before = 0, by_end = 0;
    while (before < acked && g_w.acked_at[before] < sent)
        before++;
    while (by_end < acked && g_w.acked_at[by_end] <= done)
        by_end++;

    /* A second server on the copy. */
    REQUIRE(harness_init(&h2, "hist-e2e-backup2") == 0);
    snprintf(h2.data_dir, sizeof h2.data_dir, "%s", dest);
    const char *args2[] = {"--auth-file", g_tokens, NULL};
    if (harness_start(&h2, args2) != 0) {
        harness_dump_log(&h2);
        REQUIRE(0);
    }
    int64_t n0 = -1, bad = 0;
    for (int t = 0; t < TAGS; t++) {
        int64_t wrong;
        int64_t n = read_tag(t, &wrong);
        bad += wrong;
        /* Above: a batch durable (so copied) may be acknowledged a little
         * after the CLI returned; every batch sent was acknowledged. */
        CHECKF(n >= (int64_t)before * PER && n <= (int64_t)acked * PER && n % PER == 0,
               "t%d: %lld samples in the copy; %d batches acked before the backup, %d by its end",
               t, (long long)n, before, by_end);
        if (n0 < 0)
            n0 = n;
        CHECK_EQ_I64(n, n0);
    }
    CHECK_EQ_I64(bad, 0);
    printf("copy: %lld batches (%d acked before the backup was asked for, %d by its end, %d in "
           "all)\n",
           (long long)(n0 / PER), before, by_end, acked);
    CHECK_EQ_I64(harness_stop(&h2, 20000), 0);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);

    static char audit[1 << 20];
    harness_slurp(g_audit, audit, sizeof audit);
    CHECKF(strstr(audit, "\"method\":\"POST\",\"route\":\"/api/v1/admin/backup\",\"status\":202") !=
               NULL,
           "%s", audit);
    CHECK(strstr(audit, "\"route\":\"/api/v1/admin/backup\",\"status\":403") != NULL);
    if (check_failed_) {
        harness_dump_log(&h);
        harness_dump_log(&h2);
    }
    /* h2's root holds only its log: the copy is inside h's root. */
    harness_cleanup(&h2);
    harness_cleanup(&h);
    return check_summary();
}
