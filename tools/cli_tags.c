/*
 * cli_tags.c: `historian tags`: browse and search the tag namespace
 * (GET /api/v1/tags), show one tag, or set a tag's metadata (PUT, admin).
 *
 *   historian tags [--prefix P] [--pattern GLOB] [--limit N] [--after NAME] [--format F]
 *   historian tags --children [--prefix P] ...   (one level of the namespace)
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
            "  -c, --children        one level only: the next path segments under --prefix\n"
            "                        (the root without it), each with whether it is a tag\n"
            "                        and whether names go on below it\n"
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
            "      --timeout SEC     per request (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "Exit status: 0 ok, 1 server or network error, 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

enum { OPT_TYPE = CLI_OPT_OWN, OPT_UNIT, OPT_DESC, OPT_DEADBAND, OPT_AFTER };

/* "created" is epoch ms in the API; people read dates. (A single object's
 * stays as it is.) */
static void show_created_as_dates(json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *created = json_object_get(row, "created");
        if (json_is_integer(created)) {
            char text[HIST_RFC3339_MAX];
            hist_time_rfc3339(text, (int64_t)json_integer_value(created) * 1000000);
            json_object_set_new(row, "created", json_string(text));
        }
    }
}

/* Prints one answer (an object or an array of objects) in the format. */
static int print_answer(const char *cmd, const char *format, const hist_http_response *resp)
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
    if (json_is_object(j)) {
        json_t *arr = json_array();
        json_array_append(arr, j);
        cli_print_table(stdout, arr);
        json_decref(arr);
    } else {
        show_created_as_dates(j);
        cli_print_table(stdout, j);
    }
    json_decref(j);
    return CLI_OK;
}

static const struct option tags_options[] = {
    {"prefix", required_argument, NULL, 'P'},
    {"pattern", required_argument, NULL, 'p'},
    {"limit", required_argument, NULL, 'n'},
    {"after", required_argument, NULL, OPT_AFTER},
    {"children", no_argument, NULL, 'c'},
    {"type", required_argument, NULL, OPT_TYPE},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"description", required_argument, NULL, OPT_DESC},
    {"deadband", required_argument, NULL, OPT_DEADBAND},
    {"format", required_argument, NULL, 'F'},
    CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define TAGS_CMD "historian tags"

typedef struct {
    cli_conn conn;
    const char *prefix, *pattern, *limit, *after; /* list */
    bool children;                                /* list: one level (level=1) */
    const char *type, *unit, *desc, *deadband;    /* set */
    const char *format;
    const char *action, *name; /* list, show NAME or set NAME */
    bool is_set, is_show;
    char target[2048];
    char *body; /* set: the JSON body */
    hist_http_response resp;
} tags_command;

/* Where each option's value goes. */
static const char **tags_option_slot(tags_command *t, int opt)
{
    switch (opt) {
    case 'P':
        return &t->prefix;
    case 'p':
        return &t->pattern;
    case 'n':
        return &t->limit;
    case OPT_AFTER:
        return &t->after;
    case OPT_TYPE:
        return &t->type;
    case OPT_UNIT:
        return &t->unit;
    case OPT_DESC:
        return &t->desc;
    case OPT_DEADBAND:
        return &t->deadband;
    }
    return NULL;
}

static int tags_take_option(void *ctx, int opt, char **argv)
{
    tags_command *t = ctx;
    const char **slot = tags_option_slot(t, opt);
    if (slot) {
        *slot = optarg;
        return CLI_CONTINUE;
    }
    switch (opt) {
    case 'c':
        t->children = true;
        return CLI_CONTINUE;
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'F':
        t->format = optarg;
        return cli_format_check(TAGS_CMD, t->format, "table|csv|json");
    }
    return cli_other_option(&t->conn, TAGS_CMD, opt, argv, usage);
}

/* The action (list, show or set) and its NAME. */
static int tags_parse_action(tags_command *t, int argc, char **argv)
{
    t->action = optind < argc ? argv[optind] : "list";
    t->name = optind + 1 < argc ? argv[optind + 1] : NULL;
    t->is_set = !strcmp(t->action, "set");
    t->is_show = !strcmp(t->action, "show");
    if (!t->is_set && !t->is_show && strcmp(t->action, "list")) {
        fprintf(stderr, "%s: unknown action '%s' (list, show, set)\n", TAGS_CMD, t->action);
        usage(stderr);
        return CLI_USAGE;
    }
    if ((t->is_set || t->is_show) && (!t->name || optind + 2 != argc)) {
        fprintf(stderr, "%s %s: give exactly one tag NAME\n", TAGS_CMD, t->action);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* The metadata options go with set only; a deadband is a number >= 0. */
static int tags_check_metadata(const tags_command *t)
{
    if (t->children && (t->pattern || t->is_set || t->is_show)) {
        fprintf(stderr,
                "%s: --children lists one level under --prefix: not with --pattern, "
                "show or set\n",
                TAGS_CMD);
        return CLI_USAGE;
    }
    if (!t->is_set && (t->type || t->unit || t->desc || t->deadband)) {
        fprintf(stderr, "%s: --type, --unit, --description, --deadband go with 'set'\n", TAGS_CMD);
        return CLI_USAGE;
    }
    if (t->deadband) {
        char *end;
        double d = strtod(t->deadband, &end);
        if (*end || end == t->deadband || !(d >= 0)) {
            fprintf(stderr, "%s: --deadband must be a number >= 0\n", TAGS_CMD);
            return CLI_USAGE;
        }
    }
    return CLI_CONTINUE;
}

static int tags_parse_options(tags_command *t, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "P:p:cn:F:h", tags_options, false, tags_take_option, t);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = tags_parse_action(t, argc, argv)) != CLI_CONTINUE ||
        (rc = tags_check_metadata(t)) != CLI_CONTINUE)
        return rc;
    rc = cli_conn_ready(&t->conn, TAGS_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

/* show/set: /api/v1/tags/NAME. */
static int tags_build_one(tags_command *t)
{
    strcat(t->target, "/");
    if (hist_url_encode(t->name, t->target, sizeof t->target) < 0) {
        fprintf(stderr, "%s: name too long\n", TAGS_CMD);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* list: /api/v1/tags?prefix=...&pattern=...&limit=...&after=...[&level=1] */
static int tags_build_list(tags_command *t)
{
    const char *keys[] = {"prefix", "pattern", "limit", "after", "level"};
    const char *vals[] = {t->prefix, t->pattern, t->limit, t->after, t->children ? "1" : NULL};
    for (int i = 0; i < 5; i++) {
        if (vals[i] && cli_add_param(t->target, sizeof t->target, keys[i], vals[i]) < 0) {
            fprintf(stderr, "%s: arguments too long\n", TAGS_CMD);
            return CLI_USAGE;
        }
    }
    if (!strcmp(t->format, "csv") &&
        cli_add_param(t->target, sizeof t->target, "format", "csv") < 0) {
        fprintf(stderr, "%s: arguments too long\n", TAGS_CMD);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

/* set: the metadata given, as a JSON object. */
static int tags_build_body(tags_command *t)
{
    json_t *body = json_object();
    if (t->type)
        json_object_set_new(body, "type", json_string(t->type));
    if (t->unit)
        json_object_set_new(body, "unit", json_string(t->unit));
    if (t->desc)
        json_object_set_new(body, "description", json_string(t->desc));
    if (t->deadband)
        json_object_set_new(body, "deadband", json_real(strtod(t->deadband, NULL)));
    t->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return t->body ? CLI_CONTINUE : CLI_SERVER;
}

static int tags_build_request(tags_command *t)
{
    snprintf(t->target, sizeof t->target, "/api/v1/tags");
    if (!t->is_set && !t->is_show)
        return tags_build_list(t);
    int rc = tags_build_one(t);
    return rc == CLI_CONTINUE && t->is_set ? tags_build_body(t) : rc;
}

static int tags_fetch(tags_command *t)
{
    int rc = t->is_set ? cli_fetch(&t->conn, TAGS_CMD, "PUT", t->target, "application/json",
                                   t->body, &t->resp)
                       : cli_fetch(&t->conn, TAGS_CMD, "GET", t->target, NULL, NULL, &t->resp);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static int tags_print(tags_command *t)
{
    /* show/set answer one JSON object; csv makes no sense there. */
    bool one = t->is_set || t->is_show;
    int rc =
        print_answer(TAGS_CMD, one && !strcmp(t->format, "csv") ? "table" : t->format, &t->resp);
    if (t->resp.truncated)
        fprintf(stderr, "%s: more tags match; the next page: --after '%s'\n", TAGS_CMD,
                t->resp.next);
    return rc;
}

int cli_tags(int argc, char **argv)
{
    tags_command t = {.format = isatty(1) ? "table" : "csv"};
    cli_conn_init(&t.conn);
    int rc = tags_parse_options(&t, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = tags_build_request(&t);
    if (rc == CLI_CONTINUE)
        rc = tags_fetch(&t);
    if (rc == CLI_CONTINUE)
        rc = tags_print(&t);
    cli_conn_close(&t.conn);
    hist_http_response_free(&t.resp);
    free(t.body);
    return rc;
}
