/*
 * cli_export.c: `historian export`: writes the raw samples of tags over a
 * time range as CSV in the format `historian import` reads:
 *
 *   tag,time,value,quality
 *   site1/area1/line1/cell1/temp,2026-01-01T00:00:00.25Z,20.5,0
 *
 * Times are RFC 3339 with nanoseconds when needed, so an export imported
 * again gives back the same samples. Pages of the raw query are followed
 * through the server's continuation (X-Historian-Next) until the end.
 * On a terminal (stderr), while the output goes to a file or a pipe, a
 * progress line counts the pages, lines and bytes written so far.
 */
#include <getopt.h>
#include <limits.h>
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
            "usage: historian export [options] TAG...\n"
            "\n"
            "Writes raw samples as CSV (tag,time,value,quality), all of them: the\n"
            "command follows the server's continuation page by page.\n"
            "\n"
            "  -p, --pattern GLOB  tags by glob (repeatable)\n"
            "  -f, --from TIME     RFC 3339, epoch ms, now, -24h (default -1h)\n"
            "  -t, --to TIME       (default now)\n"
            "  -o, --out FILE      write to FILE instead of standard output\n"
            "  -n, --page N        samples per tag per request (default 100000)\n"
            "  -F, --format F      csv (default) or json (one array of rows)\n"
            "      --server URL    (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN   bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC   per request (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "On a terminal, while the CSV goes to a file or a pipe, stderr shows the\n"
            "pages, lines and bytes written so far.\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error (or a write error), 2 bad\n"
            "command line.\n",
            CLI_DEFAULT_SERVER);
}

static const struct option export_options[] = {
    {"pattern", required_argument, NULL, 'p'},
    {"from", required_argument, NULL, 'f'},
    {"to", required_argument, NULL, 't'},
    {"out", required_argument, NULL, 'o'},
    {"page", required_argument, NULL, 'n'},
    {"format", required_argument, NULL, 'F'},
    CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define EXPORT_CMD "historian export"
#define EXPORT_CAP 65536 /* the longest request target */

typedef struct {
    cli_conn conn;
    char *target; /* the request; options append their parameters as they come */
    const char *out_path, *page, *format;
    bool any_tag, csv;
    int64_t now_ns;
    FILE *out;                    /* stdout, or the --out file */
    json_t *rows;                 /* -F json: the rows of every page */
    bool bar;                     /* the progress line on stderr */
    uint64_t pages, lines, bytes; /* lines: rows, and the newlines in tag names */
    struct timespec t0;
} export_command;

static double export_elapsed(const export_command *e)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - e->t0.tv_sec) + (double)(t.tv_nsec - e->t0.tv_nsec) / 1e9;
}

/* "page N  L lines  B bytes  X lines/s", redrawn after every page. */
static void export_progress(const export_command *e, bool last)
{
    if (!e->bar)
        return;
    double el = export_elapsed(e);
    fprintf(stderr, "\rpage %llu  %llu lines  %llu bytes  %.0f lines/s ",
            (unsigned long long)e->pages, (unsigned long long)e->lines,
            (unsigned long long)e->bytes, el > 0 ? (double)e->lines / el : 0.0);
    if (last)
        fputc('\n', stderr);
}

static int export_add_param(export_command *e, const char *key, const char *value)
{
    return cli_add_param(e->target, EXPORT_CAP, key, value) < 0 ? cli_too_long(EXPORT_CMD)
                                                                : CLI_CONTINUE;
}

static int export_take_option(void *ctx, int opt, char **argv)
{
    export_command *e = ctx;
    int rc;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'p':
        e->any_tag = true;
        return export_add_param(e, "pattern", optarg);
    case 'f':
    case 't':
        rc = cli_check_time(EXPORT_CMD, optarg, e->now_ns);
        return rc != CLI_CONTINUE ? rc : export_add_param(e, opt == 'f' ? "from" : "to", optarg);
    case 'o':
        e->out_path = optarg;
        return CLI_CONTINUE;
    case 'n':
        e->page = optarg;
        return CLI_CONTINUE;
    case 'F':
        e->format = optarg;
        return cli_format_check(EXPORT_CMD, e->format, "csv|json");
    }
    return cli_other_option(&e->conn, EXPORT_CMD, opt, argv, usage);
}

/* The options, then the TAGs: at least one TAG or --pattern. */
static int export_parse_options(export_command *e, int argc, char **argv)
{
    int rc =
        cli_each_option(argc, argv, "p:f:t:o:n:F:h", export_options, false, export_take_option, e);
    if (rc != CLI_CONTINUE)
        return rc;
    for (int i = optind; i < argc; i++) {
        if ((rc = export_add_param(e, "tag", argv[i])) != CLI_CONTINUE)
            return rc;
        e->any_tag = true;
    }
    if (!e->any_tag) {
        fprintf(stderr, "%s: name at least one TAG or --pattern\n", EXPORT_CMD);
        usage(stderr);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* The page size and the format, then the server named. */
static int export_build_request(export_command *e)
{
    e->csv = !strcmp(e->format, "csv");
    if (cli_add_param(e->target, EXPORT_CAP, "limit", e->page) < 0 ||
        (e->csv && cli_add_param(e->target, EXPORT_CAP, "format", "csv") < 0))
        return cli_too_long(EXPORT_CMD);
    int rc = cli_conn_ready(&e->conn, EXPORT_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static int export_open_output(export_command *e)
{
    clock_gettime(CLOCK_MONOTONIC, &e->t0);
    e->bar = e->csv && isatty(2) && (e->out_path || !isatty(1));
    if (!e->out_path)
        return CLI_CONTINUE;
    FILE *f = fopen(e->out_path, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s\n", EXPORT_CMD, e->out_path);
        return CLI_SERVER;
    }
    e->out = f;
    return CLI_CONTINUE;
}

/* CSV pages are written as they come; JSON pages are joined into rows. */
static int export_take_page(void *ctx, int page, const hist_http_response *resp)
{
    export_command *e = ctx;
    e->pages++;
    if (e->csv) {
        cli_write_csv_page(e->out, page, resp->body);
        uint64_t lines = 0;
        for (const char *p = resp->body; (p = memchr(p, '\n', resp->body + resp->body_len - p));
             p++)
            lines++;
        e->lines += lines > 0 ? lines - 1 : 0; /* less the header */
        e->bytes += resp->body_len;
        export_progress(e, false);
        return CLI_CONTINUE;
    }
    json_t *arr = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (json_is_array(arr))
        json_array_extend(e->rows, arr);
    json_decref(arr);
    return CLI_CONTINUE;
}

/* Every page: the command follows the continuation to the end. */
static int export_fetch_pages(export_command *e)
{
    char *base = strdup(e->target);
    e->rows = json_array();
    if (!base || !e->rows) {
        free(base);
        return CLI_SERVER;
    }
    cli_pager pager = {.cmd = EXPORT_CMD,
                       .base = base,
                       .cap = EXPORT_CAP,
                       .max_pages = LONG_MAX,
                       .take_page = export_take_page,
                       .ctx = e};
    int rc = cli_fetch_pages(&e->conn, &pager);
    export_progress(e, true);
    free(base);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

/* -F json: the joined rows; then the output file closes. */
static int export_print_answer(export_command *e)
{
    if (!e->csv) {
        json_dumpf(e->rows, e->out, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fputc('\n', e->out);
    }
    if (e->out == stdout)
        return CLI_OK;
    FILE *f = e->out;
    e->out = stdout;
    if (fclose(f) == 0)
        return CLI_OK;
    fprintf(stderr, "%s: writing %s failed\n", EXPORT_CMD, e->out_path);
    return CLI_SERVER;
}

int cli_export(int argc, char **argv)
{
    export_command e = {.page = "100000",
                        .format = "csv",
                        .now_ns = (int64_t)time(NULL) * 1000000000,
                        .out = stdout,
                        .target = malloc(EXPORT_CAP)};
    if (!e.target)
        return CLI_SERVER;
    cli_conn_init(&e.conn);
    snprintf(e.target, EXPORT_CAP, "/api/v1/query?mode=raw&time_format=rfc3339");
    int rc = export_parse_options(&e, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = export_build_request(&e);
    if (rc == CLI_CONTINUE)
        rc = export_open_output(&e);
    if (rc == CLI_CONTINUE)
        rc = export_fetch_pages(&e);
    if (rc == CLI_CONTINUE)
        rc = export_print_answer(&e);
    cli_conn_close(&e.conn);
    if (e.out != stdout)
        fclose(e.out);
    json_decref(e.rows);
    free(e.target);
    return rc;
}
