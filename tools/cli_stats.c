/*
 * cli_stats.c: `historian stats`: tags, samples, bytes on disk and bytes
 * per sample, from the server's GET /api/v1/stats.
 */
#include <getopt.h>
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
            "      --timeout SEC   (default 30)\n"
            "  -h, --help\n"
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

int cli_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        CLI_CONN_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "historian stats";
    cli_conn conn;
    cli_conn_init(&conn);
    const char *format = isatty(1) ? "table" : "csv";
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "F:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            return CLI_OK;
        case 'F':
            format = optarg;
            if (cli_format_check(cmd, format, "table|csv|json"))
                return CLI_USAGE;
            break;
        default:
            if (cli_conn_option(&conn, opt, optarg))
                break;
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", cmd, argv[optind - 1]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CLI_USAGE;
    }
    int rc = cli_conn_ready(&conn, cmd);
    if (rc != CLI_OK)
        return rc;
    hist_http_response resp;
    rc = cli_fetch(&conn, cmd, "GET", "/api/v1/stats", NULL, NULL, &resp);
    if (rc != CLI_OK)
        return rc;
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (!json_is_object(j)) {
        fprintf(stderr, "%s: the server's answer is not a JSON object\n", cmd);
        json_decref(j);
        hist_http_response_free(&resp);
        return CLI_SERVER;
    }
    if (!strcmp(format, "json")) {
        printf("%s\n", resp.body);
    } else {
        const char *key;
        json_t *v;
        if (!strcmp(format, "csv"))
            printf("name,value\n");
        json_object_foreach(j, key, v)
        {
            char text[64];
            if (json_is_integer(v))
                snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(text, sizeof text, "%.3f", json_real_value(v));
            else if (json_is_string(v))
                snprintf(text, sizeof text, "%s", json_string_value(v));
            else
                text[0] = '\0';
            if (!strcmp(format, "csv")) {
                printf("%s,%s\n", key, text);
                continue;
            }
            char human[32] = "";
            if (!strncmp(key, "bytes_", 6) && strcmp(key, "bytes_per_sample") && json_is_integer(v))
                human_bytes((double)json_integer_value(v), human, sizeof human);
            else if (!strcmp(key, "memtable_bytes") && json_is_integer(v))
                human_bytes((double)json_integer_value(v), human, sizeof human);
            printf("%-22s %16s%s%s\n", key, text, human[0] ? "  " : "", human);
        }
    }
    json_decref(j);
    hist_http_response_free(&resp);
    return CLI_OK;
}
