/*
 * cli_stats.c: `historian stats`: tags, samples, bytes on disk and bytes
 * per sample, from the server's GET /api/v1/stats.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/cli_read.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian stats [options]\n"
            "\n"
            "Storage statistics of the server: tags, samples (sealed and in memory),\n"
            "chunks, bytes on disk (segments + WAL + index) and bytes per sample.\n"
            "\n"
            "  -F, --format F      table (default on a terminal), csv (default otherwise), json\n"
            "      --server URL    (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN   bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC   (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error, 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

static void human_bytes(double b, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static const struct option stats_options[] = {
    {"format", required_argument, NULL, 'F'},
    CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define STATS_CMD "historian stats"

typedef struct {
    cli_conn conn;
    const char *format;
    hist_http_response resp;
    json_t *stats; /* the answer, an object */
} stats_command;

static int stats_take_option(void *ctx, int opt, char **argv)
{
    stats_command *c = ctx;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'F':
        c->format = optarg;
        return cli_format_check(STATS_CMD, c->format, "table|csv|json");
    }
    return cli_other_option(&c->conn, STATS_CMD, opt, argv, usage);
}

static int stats_parse_options(stats_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "F:h", stats_options, false, stats_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = cli_no_more_args(STATS_CMD, argc, argv)) != CLI_CONTINUE)
        return rc;
    rc = cli_conn_ready(&c->conn, STATS_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

/* GET /api/v1/stats: the request has no options. */
static int stats_fetch(stats_command *c)
{
    int rc = cli_fetch(&c->conn, STATS_CMD, "GET", "/api/v1/stats", NULL, NULL, &c->resp);
    if (rc != CLI_OK)
        return rc;
    c->stats = json_loadb(c->resp.body, c->resp.body_len, 0, NULL);
    if (!json_is_object(c->stats)) {
        fprintf(stderr, "%s: the server's answer is not a JSON object\n", STATS_CMD);
        return CLI_SERVER;
    }
    return CLI_CONTINUE;
}

/* A figure's text: integers whole, reals with 3 decimals. */
static void stats_value_text(json_t *v, char *text, size_t cap)
{
    if (json_is_integer(v))
        snprintf(text, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(text, cap, "%.3f", json_real_value(v));
    else if (json_is_string(v))
        snprintf(text, cap, "%s", json_string_value(v));
    else
        text[0] = '\0';
}

/* A table row: name, value and, for byte counts, the size for people. */
static void stats_print_row(const char *key, json_t *v, const char *text)
{
    char human[32] = "";
    if (((!strncmp(key, "bytes_", 6) && strcmp(key, "bytes_per_sample")) ||
         !strcmp(key, "compact_bytes")) &&
        json_is_integer(v))
        human_bytes((double)json_integer_value(v), human, sizeof human);
    else if (!strcmp(key, "memtable_bytes") && json_is_integer(v))
        human_bytes((double)json_integer_value(v), human, sizeof human);
    printf("%-22s %16s%s%s\n", key, text, human[0] ? "  " : "", human);
}

static int stats_print(const stats_command *c)
{
    if (!strcmp(c->format, "json")) {
        printf("%s\n", c->resp.body);
        return CLI_OK;
    }
    bool csv = !strcmp(c->format, "csv");
    if (csv)
        printf("name,value\n");
    const char *key;
    json_t *v;
    json_object_foreach(c->stats, key, v)
    {
        char text[64];
        stats_value_text(v, text, sizeof text);
        if (csv)
            printf("%s,%s\n", key, text);
        else
            stats_print_row(key, v, text);
    }
    return CLI_OK;
}

int cli_stats(int argc, char **argv)
{
    stats_command c = {.format = isatty(1) ? "table" : "csv"};
    cli_conn_init(&c.conn);
    int rc = stats_parse_options(&c, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = stats_fetch(&c);
    if (rc == CLI_CONTINUE)
        rc = stats_print(&c);
    cli_conn_close(&c.conn);
    json_decref(c.stats);
    hist_http_response_free(&c.resp);
    return rc;
}
