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
#include <stdbool.h>
#include <stdio.h>
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
            "  -m, --mode MODE      raw (default), latest, interp, aggregate, plot, value\n"
            "      --at TIME        the value at one time per tag (implies --mode value):\n"
            "                       step for int/bool tags, linear for float tags\n"
            "      --boundary B     raw and plot: inside (default) or outside (adds the\n"
            "                       last sample before --from and the first at/after --to)\n"
            "  -s, --step DUR       interp/aggregate step: 1s, 5m, 1h, 1d...\n"
            "      --points N       plot width in pixels (M4), or step = range/N\n"
            "  -a, --agg LIST       aggregates: count,min,max,sum,mean,twa,stddev,first,\n"
            "                       last,range,integral,delta,duration_true, pct_good,\n"
            "                       time_min,time_max,changes,time_in_state:STATE,\n"
            "                       p50,p90,p95,p99,percentile:N (implies --mode aggregate)\n"
            "  -b, --bucket B       hour, day, week, month, shift or a duration\n"
            "      --tz ZONE        IANA time zone (default UTC): calendar buckets,\n"
            "                       zone-less --from/--to/--at, now/d and now/shift\n"
            "                       (with --shifts) read there,\n"
            "                       times printed with its offset (+02:00)\n"
            "      --shifts LIST    shift start times, e.g. 06:00,14:00,22:00\n"
            "      --fill F         empty buckets: null (default), none, previous, linear\n"
            "      --include-bad    include Bad-quality samples in aggregates\n"
            "  -n, --limit N        raw: samples per tag per request (default 10000)\n"
            "      --all            raw: follow the continuation until all data is read\n"
            "      --cursor C       raw: continue from a previous answer's cursor\n"
            "  -F, --format F       table (default on a terminal), csv (default otherwise),\n"
            "                       json, wide (one row per time, a column per tag)\n"
            "      --excel          CSV as Excel opens it where the decimal mark is a\n"
            "                       comma: ';' between fields, 1,5 and a UTF-8 BOM\n"
            "      --csv-delimiter C  CSV field separator: , (default) ; or tab\n"
            "      --server URL     (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN    bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC    per request (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
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
    OPT_AT,
    OPT_BOUNDARY,
    OPT_EXCEL,
    OPT_CSV_DELIMITER,
};

static const struct option query_options[] = {
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
    {"at", required_argument, NULL, OPT_AT},
    {"boundary", required_argument, NULL, OPT_BOUNDARY},
    {"format", required_argument, NULL, 'F'},
    {"excel", no_argument, NULL, OPT_EXCEL},
    {"csv-delimiter", required_argument, NULL, OPT_CSV_DELIMITER},
    CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The options that go to the server as they are: the query parameter of each. */
static const struct {
    int opt;
    const char *key;
} query_params[] = {
    {'p', "pattern"},
    {'f', "from"},
    {'t', "to"},
    {'m', "mode"},
    {'s', "step"},
    {OPT_POINTS, "points"},
    {'a', "agg"},
    {'b', "bucket"},
    {OPT_TZ, "tz"},
    {OPT_SHIFTS, "shifts"},
    {OPT_FILL, "fill"},
    {'n', "limit"},
    {OPT_AT, "at"},
    {OPT_BOUNDARY, "boundary"},
    {OPT_CSV_DELIMITER, "csv_delimiter"},
};

#define QUERY_CMD "historian query"
#define QUERY_CAP 65536 /* the longest request target */

typedef struct {
    cli_conn conn;
    char *target;       /* the request; options append their parameters as they come */
    const char *format; /* table, csv, json or wide */
    const char *cursor; /* --cursor */
    bool all, csv;
    bool format_given, excel, csv_delimiter; /* -F, --excel, --csv-delimiter given */
    int64_t now_ns;
    json_t *rows; /* JSON answers: the rows of every page */
    char *single; /* the answer's text while it is one page */
} query_command;

static const char *query_param_key(int opt)
{
    for (size_t i = 0; i < sizeof query_params / sizeof query_params[0]; i++)
        if (query_params[i].opt == opt)
            return query_params[i].key;
    return NULL;
}

/* Checks what this command checks itself (times, steps, the format) and
 * takes the options that are no query parameters. */
static int query_check_option(query_command *q, int opt, char **argv)
{
    int64_t t;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'f':
    case 't':
    case OPT_AT:
        return cli_check_time(QUERY_CMD, optarg, q->now_ns);
    case 's':
        if (hist_duration_parse(optarg, &t) == 0 && t > 0)
            return CLI_CONTINUE;
        fprintf(stderr, "%s: --step wants a duration such as 10s, 5m, 1h\n", QUERY_CMD);
        return CLI_USAGE;
    case OPT_INCLUDE_BAD:
        if (cli_add_param(q->target, QUERY_CAP, "include_bad", "true") < 0)
            return cli_too_long(QUERY_CMD);
        return CLI_CONTINUE;
    case OPT_ALL:
        q->all = true;
        return CLI_CONTINUE;
    case OPT_CURSOR:
        q->cursor = optarg;
        return CLI_CONTINUE;
    case 'F':
        q->format = optarg;
        q->format_given = true;
        return cli_format_check(QUERY_CMD, q->format, "table|csv|json|wide");
    case OPT_EXCEL:
        q->excel = true;
        return CLI_CONTINUE;
    case OPT_CSV_DELIMITER:
        q->csv_delimiter = true; /* and sent as csv_delimiter */
        return CLI_CONTINUE;
    }
    if (query_param_key(opt))
        return CLI_CONTINUE;
    return cli_other_option(&q->conn, QUERY_CMD, opt, argv, usage);
}

static int query_take_option(void *ctx, int opt, char **argv)
{
    query_command *q = ctx;
    int rc = query_check_option(q, opt, argv);
    const char *key = query_param_key(opt);
    if (rc == CLI_CONTINUE && key && cli_add_param(q->target, QUERY_CAP, key, optarg) < 0)
        return cli_too_long(QUERY_CMD);
    return rc;
}

/* The options, then the TAGs: at least one TAG or --pattern. */
static int query_parse_options(query_command *q, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "p:f:t:m:s:a:b:n:F:h", query_options, false,
                             query_take_option, q);
    if (rc != CLI_CONTINUE)
        return rc;
    /* --at alone asks for the value mode (the server wants mode=value). */
    bool at = strstr(q->target, "?at=") || strstr(q->target, "&at=");
    bool mode = strstr(q->target, "?mode=") || strstr(q->target, "&mode=");
    if (at && !mode && cli_add_param(q->target, QUERY_CAP, "mode", "value") < 0)
        return cli_too_long(QUERY_CMD);
    bool any_tag = strstr(q->target, "pattern=") != NULL;
    for (int i = optind; i < argc; i++) {
        if (cli_add_param(q->target, QUERY_CAP, "tag", argv[i]) < 0)
            return cli_too_long(QUERY_CMD);
        any_tag = true;
    }
    if (!any_tag) {
        fprintf(stderr, "%s: name at least one TAG or --pattern\n", QUERY_CMD);
        usage(stderr);
        return CLI_USAGE;
    }
    rc = cli_conn_ready(&q->conn, QUERY_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

/* What the format asks of the server: CSV, one row per time, or RFC 3339
 * times for a table. */
static int query_build_request(query_command *q)
{
    bool csv_asked = q->csv_delimiter || q->excel;
    if (csv_asked && q->format_given && strcmp(q->format, "csv")) {
        fprintf(stderr, "%s: --excel and --csv-delimiter write CSV, not -F %s\n", QUERY_CMD,
                q->format);
        return CLI_USAGE;
    }
    if (csv_asked)
        q->format = "csv";
    if (q->excel && (cli_add_param(q->target, QUERY_CAP, "decimal", "comma") < 0 ||
                     cli_add_param(q->target, QUERY_CAP, "bom", "true") < 0))
        return cli_too_long(QUERY_CMD);
    q->csv = !strcmp(q->format, "csv");
    bool wide = !strcmp(q->format, "wide"), table = !strcmp(q->format, "table");
    if ((q->csv && cli_add_param(q->target, QUERY_CAP, "format", "csv") < 0) ||
        (wide && cli_add_param(q->target, QUERY_CAP, "format", "wide") < 0) ||
        (table && cli_add_param(q->target, QUERY_CAP, "time_format", "rfc3339") < 0))
        return cli_too_long(QUERY_CMD);
    return CLI_CONTINUE;
}

/* CSV pages are printed as they come; JSON pages are joined into rows. */
static int query_take_page(void *ctx, int page, const hist_http_response *resp)
{
    query_command *q = ctx;
    if (q->csv) {
        cli_write_csv_page(stdout, page, resp->body);
        return CLI_CONTINUE;
    }
    json_t *arr = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!json_is_array(arr)) {
        fprintf(stderr, "%s: the server's answer is not a JSON array\n", QUERY_CMD);
        json_decref(arr);
        return CLI_SERVER;
    }
    json_array_extend(q->rows, arr);
    json_decref(arr);
    /* One page prints as the server sent it (its number format). */
    free(q->single);
    q->single = page == 0 ? strdup(resp->body) : NULL;
    return CLI_CONTINUE;
}

/* One page, or with --all every page until no continuation is left. */
static int query_fetch_pages(query_command *q)
{
    char *base = strdup(q->target);
    q->rows = json_array();
    if (!base)
        return CLI_SERVER;
    cli_pager pager = {.cmd = QUERY_CMD,
                       .base = base,
                       .cap = QUERY_CAP,
                       .cursor = q->cursor,
                       .max_pages = q->all ? 100001 : 1,
                       .take_page = query_take_page,
                       .ctx = q};
    int rc = cli_fetch_pages(&q->conn, &pager);
    free(base);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static int query_print_answer(const query_command *q)
{
    if (q->csv)
        return CLI_OK; /* printed page by page */
    if (!strcmp(q->format, "table")) {
        cli_print_table(stdout, q->rows);
    } else if (q->single) {
        printf("%s\n", q->single);
    } else {
        json_dumpf(q->rows, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fputc('\n', stdout);
    }
    return CLI_OK;
}

int cli_query(int argc, char **argv)
{
    query_command q = {.format = isatty(1) ? "table" : "csv",
                       .now_ns = (int64_t)time(NULL) * 1000000000,
                       .target = malloc(QUERY_CAP)};
    if (!q.target)
        return CLI_SERVER;
    cli_conn_init(&q.conn);
    snprintf(q.target, QUERY_CAP, "/api/v1/query");
    int rc = query_parse_options(&q, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = query_build_request(&q);
    if (rc == CLI_CONTINUE)
        rc = query_fetch_pages(&q);
    if (rc == CLI_CONTINUE)
        rc = query_print_answer(&q);
    cli_conn_close(&q.conn);
    free(q.single);
    json_decref(q.rows);
    free(q.target);
    return rc;
}
