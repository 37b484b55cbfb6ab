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
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
            "      --timeout SEC   per request (default 30)\n"
            "  -h, --help\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error (or a write error), 2 bad\n"
            "command line.\n",
            CLI_DEFAULT_SERVER);
}

int cli_export(int argc, char **argv)
{
    static const struct option opts[] = {
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
    const char *cmd = "historian export";
    cli_conn conn;
    cli_conn_init(&conn);
    size_t cap = 65536;
    char *target = malloc(cap), *base = NULL;
    if (!target)
        return CLI_SERVER;
    snprintf(target, cap, "/api/v1/query?mode=raw&time_format=rfc3339");
    const char *out_path = NULL, *page = "100000", *format = "csv";
    int rc = CLI_USAGE, opt;
    int64_t now = (int64_t)time(NULL) * 1000000000, t;
    bool any_tag = false;
    FILE *out = stdout;
    json_t *rows = NULL;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:f:t:o:n:F:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            free(target);
            return CLI_OK;
        case 'p':
            if (cli_add_param(target, cap, "pattern", optarg) < 0)
                goto too_long;
            any_tag = true;
            break;
        case 'f':
        case 't':
            if (hist_time_parse(optarg, now, &t) < 0) {
                fprintf(stderr, "%s: cannot read time '%s' (RFC 3339, epoch ms, now, -24h)\n", cmd,
                        optarg);
                goto out;
            }
            if (cli_add_param(target, cap, opt == 'f' ? "from" : "to", optarg) < 0)
                goto too_long;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'n':
            page = optarg;
            break;
        case 'F':
            format = optarg;
            if (cli_format_check(cmd, format, "csv|json"))
                goto out;
            break;
        default:
            if (cli_conn_option(&conn, opt, optarg))
                break;
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", cmd, argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
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
    bool csv = !strcmp(format, "csv");
    if (cli_add_param(target, cap, "limit", page) < 0 ||
        (csv && cli_add_param(target, cap, "format", "csv") < 0))
        goto too_long;
    if ((rc = cli_conn_ready(&conn, cmd)) != CLI_OK)
        goto out;
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "%s: cannot write %s\n", cmd, out_path);
        rc = CLI_SERVER;
        goto out;
    }
    base = strdup(target);
    rows = json_array();
    char next[1024] = "";
    for (int n = 0; base && rows; n++) {
        snprintf(target, cap, "%s", base);
        if (next[0] && cli_add_param(target, cap, "cursor", next) < 0)
            goto too_long;
        hist_http_response resp;
        rc = cli_fetch(&conn, cmd, "GET", target, NULL, NULL, &resp);
        if (rc != CLI_OK)
            break;
        if (csv) {
            const char *body = resp.body; /* every page starts with the header */
            if (n > 0 && strchr(body, '\n'))
                body = strchr(body, '\n') + 1;
            fputs(body, out);
        } else {
            json_t *arr = json_loadb(resp.body, resp.body_len, 0, NULL);
            if (json_is_array(arr))
                json_array_extend(rows, arr);
            json_decref(arr);
        }
        snprintf(next, sizeof next, "%s", resp.next);
        hist_http_response_free(&resp);
        if (!next[0])
            break;
    }
    if (rc == CLI_OK && !csv) {
        json_dumpf(rows, out, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fputc('\n', out);
    }
    if (out != stdout && fclose(out) != 0 && rc == CLI_OK) {
        fprintf(stderr, "%s: writing %s failed\n", cmd, out_path);
        rc = CLI_SERVER;
    }
    out = stdout;
    goto out;
too_long:
    fprintf(stderr, "%s: the command line is too long\n", cmd);
    rc = CLI_USAGE;
out:
    if (out != stdout)
        fclose(out);
    json_decref(rows);
    free(base);
    free(target);
    return rc;
}
