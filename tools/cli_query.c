/*
 * cli_query.c: `historian query`: reads from the server's GET /api/v1/query
 * and prints a table on a terminal, CSV or JSON for scripts.
 *
 *   historian query [options] TAG...
 *
 * Times and durations are checked here first (a typo is a usage error, exit
 * 2); everything else is the server's to judge (its 400 is exit 1 with the
 * message and the parameter it names).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hist_time.h"
#include "tools/cli.h"
#include "tools/cli_read.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian query [options] TAG...\n"
            "\n"
            "Reads tag data from the server (GET /api/v1/query).\n"
            "\n"
            "  -p, --pattern GLOB   tags by glob: site1/area2/** (* = within a segment,\n"
            "                       ** = any depth); repeatable, with or without TAGs\n"
            "  -f, --from TIME      RFC 3339, epoch ms, now, -24h, now-7d (default -1h)\n"
            "  -t, --to TIME        (default now)\n"
            "  -m, --mode MODE      raw (default), latest, interp, aggregate, plot\n"
            "  -s, --step DUR       interp/aggregate step: 1s, 5m, 1h, 1d...\n"
            "      --points N       plot width in pixels (M4), or step = range/N\n"
            "  -a, --agg LIST       aggregates: count,min,max,sum,mean,twa,stddev,first,\n"
            "                       last,range,integral,delta,duration_true (implies\n"
            "                       --mode aggregate)\n"
            "  -b, --bucket B       hour, day, week, month, shift or a duration\n"
            "      --tz ZONE        IANA time zone for calendar buckets (default UTC)\n"
            "      --shifts LIST    shift start times, e.g. 06:00,14:00,22:00\n"
            "      --fill F         empty buckets: null (default), none, previous, linear\n"
            "      --include-bad    include Bad-quality samples in aggregates\n"
            "  -n, --limit N        raw: samples per tag per request (default 10000)\n"
            "      --all            raw: follow the continuation until all data is read\n"
            "      --cursor C       raw: continue from a previous answer's cursor\n"
            "  -F, --format F       table (default on a terminal), csv (default otherwise),\n"
            "                       json, wide (one row per time, a column per tag)\n"
            "      --server URL     (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN    bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC    per request (default 30)\n"
            "  -h, --help\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error, 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

enum {
    OPT_POINTS = CLI_OPT_OWN,
    OPT_TZ,
    OPT_SHIFTS,
    OPT_FILL,
    OPT_INCLUDE_BAD,
    OPT_ALL,
    OPT_CURSOR,
};

int cli_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pattern", required_argument, NULL, 'p'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"mode", required_argument, NULL, 'm'},
        {"step", required_argument, NULL, 's'},
        {"points", required_argument, NULL, OPT_POINTS},
        {"agg", required_argument, NULL, 'a'},
        {"bucket", required_argument, NULL, 'b'},
        {"tz", required_argument, NULL, OPT_TZ},
        {"shifts", required_argument, NULL, OPT_SHIFTS},
        {"fill", required_argument, NULL, OPT_FILL},
        {"include-bad", no_argument, NULL, OPT_INCLUDE_BAD},
        {"limit", required_argument, NULL, 'n'},
        {"all", no_argument, NULL, OPT_ALL},
        {"cursor", required_argument, NULL, OPT_CURSOR},
        {"format", required_argument, NULL, 'F'},
        CLI_CONN_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "historian query";
    cli_conn conn;
    cli_conn_init(&conn);
    size_t cap = 65536;
    char *target = malloc(cap);
    char *base = NULL;
    if (!target)
        return CLI_SERVER;
    snprintf(target, cap, "/api/v1/query");
    const char *format = isatty(1) ? "table" : "csv", *cursor = NULL;
    bool all = false;
    int rc = CLI_USAGE, opt;
    int64_t now = (int64_t)time(NULL) * 1000000000, t;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:f:t:m:s:a:b:n:F:h", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (opt) {
        case 'h':
            usage(stdout);
            free(target);
            return CLI_OK;
        case 'p':
            key = "pattern";
            break;
        case 'f':
        case 't':
            if (hist_time_parse(optarg, now, &t) < 0) {
                fprintf(stderr, "%s: cannot read time '%s' (RFC 3339, epoch ms, now, -24h)\n", cmd,
                        optarg);
                goto out;
            }
            key = opt == 'f' ? "from" : "to";
            break;
        case 'm':
            key = "mode";
            break;
        case 's':
            if (hist_duration_parse(optarg, &t) < 0 || t <= 0) {
                fprintf(stderr, "%s: --step wants a duration such as 10s, 5m, 1h\n", cmd);
                goto out;
            }
            key = "step";
            break;
        case OPT_POINTS:
            key = "points";
            break;
        case 'a':
            key = "agg";
            break;
        case 'b':
            key = "bucket";
            break;
        case OPT_TZ:
            key = "tz";
            break;
        case OPT_SHIFTS:
            key = "shifts";
            break;
        case OPT_FILL:
            key = "fill";
            break;
        case OPT_INCLUDE_BAD:
            if (cli_add_param(target, cap, "include_bad", "true") < 0)
                goto too_long;
            break;
        case 'n':
            key = "limit";
            break;
        case OPT_ALL:
            all = true;
            break;
        case OPT_CURSOR:
            cursor = optarg;
            break;
        case 'F':
            format = optarg;
            if (cli_format_check(cmd, format, "table|csv|json|wide"))
                goto out;
            break;
        default:
            if (cli_conn_option(&conn, opt, optarg))
                break;
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", cmd, argv[optind - 1]);
            usage(stderr);
            goto out;
        }
        if (key && cli_add_param(target, cap, key, optarg) < 0)
            goto too_long;
    }
    bool any_tag = strstr(target, "pattern=") != NULL;
    for (int i = optind; i < argc; i++) {
        if (cli_add_param(target, cap, "tag", argv[i]) < 0)
            goto too_long;
        any_tag = true;
    }
    if (!any_tag) {
        fprintf(stderr, "%s: name at least one TAG or --pattern\n", cmd);
        usage(stderr);
        goto out;
    }
    if ((rc = cli_conn_ready(&conn, cmd)) != CLI_OK)
        goto out;
    bool csv = !strcmp(format, "csv");
    if (csv && cli_add_param(target, cap, "format", "csv") < 0)
        goto too_long;
    if (!strcmp(format, "wide") && cli_add_param(target, cap, "format", "wide") < 0)
        goto too_long;
    if (!strcmp(format, "table") && cli_add_param(target, cap, "time_format", "rfc3339") < 0)
        goto too_long;
    base = strdup(target);
    if (!base) {
        rc = CLI_SERVER;
        goto out;
    }

    /* Pages: one request, or with --all until no continuation is left. */
    json_t *rows = json_array();
    char *single = NULL;
    for (int page = 0;; page++) {
        snprintf(target, cap, "%s", base);
        if (cursor && cli_add_param(target, cap, "cursor", cursor) < 0) {
            json_decref(rows);
            free(single);
            goto too_long;
        }
        hist_http_response resp;
        rc = cli_fetch(&conn, cmd, "GET", target, NULL, NULL, &resp);
        if (rc != CLI_OK)
            break;
        if (csv) {
            /* Later pages repeat the header line: print it once. */
            const char *body = resp.body;
            if (page > 0 && strchr(body, '\n'))
                body = strchr(body, '\n') + 1;
            fputs(body, stdout);
        } else {
            json_t *arr = json_loadb(resp.body, resp.body_len, 0, NULL);
            if (!json_is_array(arr)) {
                fprintf(stderr, "%s: the server's answer is not a JSON array\n", cmd);
                json_decref(arr);
                hist_http_response_free(&resp);
                rc = CLI_SERVER;
                break;
            }
            json_array_extend(rows, arr);
            json_decref(arr);
            /* One page prints as the server sent it (its number format). */
            free(single);
            single = page == 0 ? strdup(resp.body) : NULL;
        }
        static char next[1024];
        snprintf(next, sizeof next, "%s", resp.next);
        hist_http_response_free(&resp);
        if (!next[0])
            break;
        if (!all || page >= 100000) {
            fprintf(stderr, "%s: more data: add --all, or --cursor %s\n", cmd, next);
            break;
        }
        cursor = next;
    }
    if (rc == CLI_OK && !csv) {
        if (!strcmp(format, "table"))
            cli_print_table(stdout, rows);
        else if (single)
            printf("%s\n", single);
        else {
            json_dumpf(rows, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
            fputc('\n', stdout);
        }
    }
    free(single);
    json_decref(rows);
    goto out;
too_long:
    fprintf(stderr, "%s: the command line is too long\n", cmd);
    rc = CLI_USAGE;
out:
    free(base);
    free(target);
    return rc;
}
