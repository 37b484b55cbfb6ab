/*
 * cli_tags.c: `historian tags`: browse and search the tag namespace
 * (GET /api/v1/tags), show one tag, or set a tag's metadata (PUT, admin).
 *
 *   historian tags [--prefix P] [--pattern GLOB] [--limit N] [--after NAME] [--format F]
 *   historian tags show NAME
 *   historian tags set NAME [--type T] [--unit U] [--description D] [--deadband X]
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist_time.h"
#include "tools/cli.h"
#include "tools/cli_read.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian tags [options]               list tags\n"
            "       historian tags show NAME [options]     one tag's metadata\n"
            "       historian tags set NAME [options]      create a tag or update metadata\n"
            "\n"
            "  -P, --prefix P        names starting with P (e.g. site1/area2/)\n"
            "  -p, --pattern GLOB    names matching GLOB (* within a segment, ** any depth)\n"
            "  -n, --limit N         at most N tags (default 1000)\n"
            "      --after NAME      only tags after NAME in name order (the next page)\n"
            "      --type T          set: float64, int64 or bool (needed for a new tag)\n"
            "      --unit U          set: engineering unit\n"
            "      --description D   set: description\n"
            "      --deadband X      set: deadband (>= 0)\n"
            "  -F, --format F        table (default on a terminal), csv (default otherwise),\n"
            "                        json\n"
            "      --server URL      (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN     bearer token (or $HISTORIAN_TOKEN); set needs admin\n"
            "      --timeout SEC     per request (default 30)\n"
            "  -h, --help\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error, 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

enum { OPT_TYPE = CLI_OPT_OWN, OPT_UNIT, OPT_DESC, OPT_DEADBAND, OPT_AFTER };

/* Prints one answer (an object or an array of objects) in the format. */
static int print_answer(const char *cmd, const char *format, hist_http_response *resp)
{
    if (!strcmp(format, "json") || !strcmp(format, "csv")) {
        fputs(resp->body, stdout);
        if (resp->body_len && resp->body[resp->body_len - 1] != '\n')
            fputc('\n', stdout);
        return CLI_OK;
    }
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!j) {
        fprintf(stderr, "%s: the server's answer is not JSON\n", cmd);
        return CLI_SERVER;
    }
    /* "created" is epoch ms in the API; people read dates. */
    json_t *rows = json_is_object(j) ? NULL : j, *row;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        json_t *created = json_object_get(row, "created");
        if (json_is_integer(created)) {
            char text[HIST_RFC3339_MAX];
            hist_time_rfc3339(text, (int64_t)json_integer_value(created) * 1000000);
            json_object_set_new(row, "created", json_string(text));
        }
    }
    if (json_is_object(j)) {
        json_t *arr = json_array();
        json_array_append(arr, j);
        cli_print_table(stdout, arr);
        json_decref(arr);
    } else {
        cli_print_table(stdout, j);
    }
    json_decref(j);
    return CLI_OK;
}

int cli_tags(int argc, char **argv)
{
    static const struct option opts[] = {
        {"prefix", required_argument, NULL, 'P'},
        {"pattern", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'n'},
        {"after", required_argument, NULL, OPT_AFTER},
        {"type", required_argument, NULL, OPT_TYPE},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"description", required_argument, NULL, OPT_DESC},
        {"deadband", required_argument, NULL, OPT_DEADBAND},
        {"format", required_argument, NULL, 'F'},
        CLI_CONN_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "historian tags";
    cli_conn conn;
    cli_conn_init(&conn);
    const char *prefix = NULL, *pattern = NULL, *limit = NULL, *after = NULL, *type = NULL,
               *unit = NULL, *desc = NULL, *deadband = NULL;
    const char *format = isatty(1) ? "table" : "csv";
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "P:p:n:F:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            return CLI_OK;
        case 'P':
            prefix = optarg;
            break;
        case 'p':
            pattern = optarg;
            break;
        case 'n':
            limit = optarg;
            break;
        case OPT_AFTER:
            after = optarg;
            break;
        case OPT_TYPE:
            type = optarg;
            break;
        case OPT_UNIT:
            unit = optarg;
            break;
        case OPT_DESC:
            desc = optarg;
            break;
        case OPT_DEADBAND:
            deadband = optarg;
            break;
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
    const char *action = optind < argc ? argv[optind] : "list";
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool is_set = !strcmp(action, "set"), is_show = !strcmp(action, "show");
    if (!is_set && !is_show && strcmp(action, "list")) {
        fprintf(stderr, "%s: unknown action '%s' (list, show, set)\n", cmd, action);
        usage(stderr);
        return CLI_USAGE;
    }
    if ((is_set || is_show) && (!name || optind + 2 != argc)) {
        fprintf(stderr, "%s %s: give exactly one tag NAME\n", cmd, action);
        return CLI_USAGE;
    }
    if (!is_set && (type || unit || desc || deadband)) {
        fprintf(stderr, "%s: --type, --unit, --description, --deadband go with 'set'\n", cmd);
        return CLI_USAGE;
    }
    if (deadband) {
        char *end;
        double d = strtod(deadband, &end);
        if (*end || end == deadband || !(d >= 0)) {
            fprintf(stderr, "%s: --deadband must be a number >= 0\n", cmd);
            return CLI_USAGE;
        }
    }
    int rc = cli_conn_ready(&conn, cmd);
    if (rc != CLI_OK)
        return rc;

    char target[2048] = "/api/v1/tags";
    if (is_set || is_show) {
        strcat(target, "/");
        if (hist_url_encode(name, target, sizeof target) < 0) {
            fprintf(stderr, "%s: name too long\n", cmd);
            return CLI_USAGE;
        }
    } else {
        const char *keys[] = {"prefix", "pattern", "limit", "after"};
        const char *vals[] = {prefix, pattern, limit, after};
        for (int i = 0; i < 4; i++) {
            if (!vals[i])
                continue;
            size_t n = strlen(target);
            snprintf(target + n, sizeof target - n, "%s%s=", strchr(target, '?') ? "&" : "?",
                     keys[i]);
            if (hist_url_encode(vals[i], target, sizeof target) < 0) {
                fprintf(stderr, "%s: arguments too long\n", cmd);
                return CLI_USAGE;
            }
        }
        if (!strcmp(format, "csv"))
            strcat(target, strchr(target, '?') ? "&format=csv" : "?format=csv");
    }
    hist_http_response resp;
    if (is_set) {
        json_t *body = json_object();
        if (type)
            json_object_set_new(body, "type", json_string(type));
        if (unit)
            json_object_set_new(body, "unit", json_string(unit));
        if (desc)
            json_object_set_new(body, "description", json_string(desc));
        if (deadband)
            json_object_set_new(body, "deadband", json_real(strtod(deadband, NULL)));
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
            return CLI_SERVER;
        rc = cli_fetch(&conn, cmd, "PUT", target, "application/json", text, &resp);
        free(text);
    } else {
        rc = cli_fetch(&conn, cmd, "GET", target, NULL, NULL, &resp);
    }
    if (rc != CLI_OK)
        return rc;
    /* show/set answer one JSON object; csv makes no sense there. */
    rc = print_answer(cmd, (is_set || is_show) && !strcmp(format, "csv") ? "table" : format, &resp);
    if (resp.truncated)
        fprintf(stderr, "%s: more tags match; the next page: --after '%s'\n", cmd, resp.next);
    hist_http_response_free(&resp);
    return rc;
}
