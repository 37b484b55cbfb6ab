/*
 * cli_check.c: `historian check --server URL [--token T]`: the check of a
 * running server's data, through its admin scrub route (docs/api.md,
 * "Admin: the scrub"; the admin scope).
 *
 *   1. GET /api/v1/admin/scrub: how many passes have finished; while one
 *      runs already, it is waited for (its start predates ours);
 *   2. POST /api/v1/admin/scrub[?share=N] starts a pass (the same checker
 *      as `historiand --check-data`: the tag registry, every chunk against
 *      its index entry; what fails is marked, and queries leave it out);
 *   3. GET every 200 ms until the pass count rose and none runs, within
 *      --wait seconds;
 *   4. the last pass's report and every chunk marked damaged (the server
 *      lists the first 1,000; the count says if there are more).
 *
 * Exit status: 0 clean, 1 damage found, 2 could not check (bad command
 * line, the server or the network failed, the pass did not finish in
 * time or was stopped). The WAL figures are the server's last start's.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist_time.h"
#include "tools/cli.h"
#include "tools/cli_read.h"

#define CHECK_CMD          "historian check"
#define CHECK_ROUTE        "/api/v1/admin/scrub"
#define CHECK_DEFAULT_WAIT 3600
#define CHECK_POLL_US      200000

enum {
    CHECK_CLEAN = 0,
    CHECK_DAMAGED = 1,
    CHECK_FAILED = 2,
    CHECK_OPT_WAIT = CLI_OPT_OWN,
    CHECK_OPT_SHARE
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian check [options]\n"
            "\n"
            "Checks a running server's data: starts a scrub pass (the tag registry and\n"
            "every chunk against its index entry: checksum, decode, statistics), waits\n"
            "for it and prints its report with every damaged chunk. Needs the admin scope.\n"
            "Damaged chunks are marked and left out of every answer; to remove them,\n"
            "stop the server and run historiand --check-data DIR --repair.\n"
            "\n"
            "      --server URL    (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN   bearer token with the admin scope (or $HISTORIAN_TOKEN)\n"
            "      --share PCT     the share of the time the pass may spend checking,\n"
            "                      1..100 (default: the server's, 10)\n"
            "      --wait SEC      the longest to wait for the pass (default %d)\n"
            "      --timeout SEC   per request (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "Exit status: 0 clean, 1 damage found, 2 could not check.\n",
            CLI_DEFAULT_SERVER, CHECK_DEFAULT_WAIT);
}

static const struct option check_options[] = {
    {"wait", required_argument, NULL, CHECK_OPT_WAIT},
    {"share", required_argument, NULL, CHECK_OPT_SHARE},
    CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    cli_conn conn;
    long wait_s;
    const char *share; /* NULL: the server's default */
    json_t *status;    /* the last status answer */
} check_command;

static int bad_number(const char *what, const char *text)
{
    fprintf(stderr, "%s: %s must be a whole number, not '%s'\n", CHECK_CMD, what, text);
    return CLI_USAGE;
}

static int check_take_option(void *ctx, int opt, char **argv)
{
    check_command *c = ctx;
    char *end;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case CHECK_OPT_WAIT:
        c->wait_s = strtol(optarg, &end, 10);
        return *optarg && !*end && c->wait_s > 0 ? CLI_CONTINUE : bad_number("--wait", optarg);
    case CHECK_OPT_SHARE: {
        long v = strtol(optarg, &end, 10);
        c->share = optarg;
        return *optarg && !*end && v >= 1 && v <= 100 ? CLI_CONTINUE
                                                      : bad_number("--share (1..100)", optarg);
    }
    }
    return cli_other_option(&c->conn, CHECK_CMD, opt, argv, usage);
}

static int check_parse_options(check_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "h", check_options, false, check_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = cli_no_more_args(CHECK_CMD, argc, argv)) != CLI_CONTINUE)
        return rc;
    rc = cli_conn_ready(&c->conn, CHECK_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static uint64_t field_u(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* One request to the scrub route; its answer, an object, in c->status. */
static int check_request(check_command *c, const char *method, const char *target)
{
    json_decref(c->status);
    c->status = cli_fetch_object(&c->conn, CHECK_CMD, method, target);
    return c->status ? CLI_OK : CLI_SERVER;
}

/* Starts a pass and waits for it: CLI_CONTINUE with its status in
 * c->status, or CHECK_FAILED. */
static int check_run(check_command *c)
{
    double deadline = cli_mono_s() + (double)c->wait_s;
    char target[64];
    snprintf(target, sizeof target, "%s%s%s", CHECK_ROUTE, c->share ? "?share=" : "",
             c->share ? c->share : "");
    uint64_t before = 0;
    bool started = false;
    while (!started) {
        if (check_request(c, "GET", CHECK_ROUTE) != CLI_OK)
            return CHECK_FAILED;
        before = field_u(c->status, "passes");
        if (!json_is_true(json_object_get(c->status, "running"))) {
            if (check_request(c, "POST", target) != CLI_OK)
                return CHECK_FAILED;
            started = json_is_true(json_object_get(c->status, "started"));
        }
        if (!started) { /* a pass that began before ours runs: wait it out */
            if (cli_mono_s() > deadline)
                break;
            usleep(CHECK_POLL_US);
        }
    }
    if (started)
        printf("scrub pass started on %s\n", c->conn.server);
    while (started) {
        if (check_request(c, "GET", CHECK_ROUTE) != CLI_OK)
            return CHECK_FAILED;
        if (field_u(c->status, "passes") > before &&
            !json_is_true(json_object_get(c->status, "running")))
            return CLI_CONTINUE;
        if (cli_mono_s() > deadline)
            break;
        usleep(CHECK_POLL_US);
    }
    fprintf(stderr, "%s: the scrub pass did not finish within %ld s (--wait); not checked\n",
            CHECK_CMD, c->wait_s);
    return CHECK_FAILED;
}

static const char *text_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "?";
}

/* Epoch milliseconds as RFC 3339 UTC (milliseconds only when there are
 * any): hist_time_rfc3339, which takes nanoseconds; a value past their
 * range stays a number. */
static void format_ms(json_t *v, char *out, size_t cap)
{
    long long ms = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    char text[HIST_RFC3339_MAX];
    if (ms < INT64_MIN / 1000000 || ms > INT64_MAX / 1000000)
        snprintf(out, cap, "%lld ms", ms);
    else {
        hist_time_rfc3339(text, (int64_t)ms * 1000000);
        snprintf(out, cap, "%s", text);
    }
}

static int check_print(check_command *c)
{
    json_t *last = json_object_get(c->status, "last");
    if (!json_is_object(last)) {
        fprintf(stderr, "%s: the server gave no report of the pass\n", CHECK_CMD);
        return CHECK_FAILED;
    }
    json_t *list = json_object_get(c->status, "damaged");
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        json_t *tag = json_object_get(d, "tag");
        char from[48], to[48];
        format_ms(json_object_get(d, "start"), from, sizeof from);
        format_ms(json_object_get(d, "end"), to, sizeof to);
        printf("damaged: tag '%s', chunk %s .. %s (seq %llu), segment %llu offset %llu, "
               "%llu bytes: %s\n",
               json_is_string(tag) ? json_string_value(tag) : "? (unknown tag)", from, to,
               (unsigned long long)field_u(d, "seq"), (unsigned long long)field_u(d, "segment"),
               (unsigned long long)field_u(d, "offset"), (unsigned long long)field_u(d, "length"),
               text_of(d, "reason"));
    }
    uint64_t marked = field_u(c->status, "damaged_chunks");
    if (marked > json_array_size(list))
        printf("damaged: %llu more not listed (the server lists the first %zu it may show)\n",
               (unsigned long long)(marked - json_array_size(list)), json_array_size(list));
    uint64_t dn = field_u(last, "damaged_new"), dk = field_u(last, "damaged_known");
    uint64_t ip = field_u(last, "index_problems"), tp = field_u(last, "tag_problems");
    uint64_t wd = field_u(last, "wal_records_dropped"), wb = field_u(last, "wal_bytes_dropped");
    json_t *secs = json_object_get(last, "seconds");
    printf("WAL (at the server's start): %llu record(s) cut or lost (%llu bytes)\n",
           (unsigned long long)wd, (unsigned long long)wb);
    printf("tags: %llu checked, %llu problem(s)\n",
           (unsigned long long)field_u(last, "tags_checked"), (unsigned long long)tp);
    printf("chunks: %llu checked (%.1f MiB in %.2f s), %llu damaged (%llu new, %llu already "
           "marked), %llu repaired, %llu not checked, %llu index problem(s); %llu marked in all\n",
           (unsigned long long)field_u(last, "chunks_checked"),
           (double)field_u(last, "bytes_checked") / 1048576.0,
           json_is_number(secs) ? json_number_value(secs) : 0.0, (unsigned long long)(dn + dk),
           (unsigned long long)dn, (unsigned long long)dk,
           (unsigned long long)field_u(last, "repaired"),
           (unsigned long long)field_u(last, "chunks_unchecked"), (unsigned long long)ip,
           (unsigned long long)marked);
    if (json_is_true(json_object_get(last, "stopped"))) {
        printf("result: not checked (the pass was stopped: the server is shutting down)\n");
        return CHECK_FAILED;
    }
    bool damage = dn || dk || ip || tp || wd || wb || marked;
    printf("result: %s\n", damage ? "damage found" : "clean");
    return damage ? CHECK_DAMAGED : CHECK_CLEAN;
}

int cli_check(int argc, char **argv)
{
    check_command c = {.wait_s = CHECK_DEFAULT_WAIT};
    cli_conn_init(&c.conn);
    int rc = check_parse_options(&c, argc, argv);
    if (rc == CLI_SERVER)
        rc = CHECK_FAILED;
    if (rc == CLI_CONTINUE)
        rc = check_run(&c);
    if (rc == CLI_CONTINUE)
        rc = check_print(&c);
    cli_conn_close(&c.conn);
    json_decref(c.status);
    return rc;
}
