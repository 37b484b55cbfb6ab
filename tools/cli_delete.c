/*
 * cli_delete.c: `historian delete`: deletes a tag's samples in a time
 * range, or all of them, through the server's POST /api/v1/admin/delete
 * (admin scope; the server audits it). Destructive, so it asks for --yes.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/cli.h"
#include "tools/cli_read.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian delete TAG --from T --to T --yes [options]\n"
            "       historian delete TAG --all --yes [options]\n"
            "       historian delete TAG --remove --yes [options]\n"
            "\n"
            "Deletes the samples of TAG with FROM <= time < TO, or every sample of\n"
            "it with --all (the tag stays in the tag list), or the tag itself with\n"
            "--remove (every sample, then the tag: its name is free again and no\n"
            "listing shows it). At once for every query,\n"
            "durably, and for good: there is no undo. Needs a token with the admin\n"
            "scope; the server writes the deletion to its audit trail.\n"
            "\n"
            "  -f, --from T        start (RFC 3339, epoch ms, now, -24h, now-7d)\n"
            "  -t, --to T          end, exclusive\n"
            "      --all           every sample of the tag\n"
            "      --remove        every sample and the tag itself\n"
            "  -y, --yes           really delete (without it nothing is sent)\n"
            "      --server URL    (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN   bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC   (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "Prints what was deleted: chunks removed, chunks rewritten, samples.\n"
            "Exit status: 0 ok, 1 server or network error, 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

enum { OPT_ALL = CLI_OPT_OWN, OPT_REMOVE };

static const struct option delete_options[] = {
    {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
    {"all", no_argument, NULL, OPT_ALL},    {"remove", no_argument, NULL, OPT_REMOVE},
    {"yes", no_argument, NULL, 'y'},        CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
};

#define DELETE_CMD "historian delete"

typedef struct {
    cli_conn conn;
    const char *tag, *from, *to;
    bool all, remove, yes;
} delete_command;

static int delete_take_option(void *ctx, int opt, char **argv)
{
    delete_command *c = ctx;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'f':
        c->from = optarg;
        return CLI_CONTINUE;
    case 't':
        c->to = optarg;
        return CLI_CONTINUE;
    case OPT_ALL:
        c->all = true;
        return CLI_CONTINUE;
    case OPT_REMOVE:
        c->remove = true;
        return CLI_CONTINUE;
    case 'y':
        c->yes = true;
        return CLI_CONTINUE;
    }
    return cli_other_option(&c->conn, DELETE_CMD, opt, argv, usage);
}

static int delete_parse_options(delete_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "f:t:yh", delete_options, false, delete_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "%s: which tag? (historian delete TAG ...)\n", DELETE_CMD);
        return CLI_USAGE;
    }
    c->tag = argv[optind++];
    if ((rc = cli_no_more_args(DELETE_CMD, argc, argv)) != CLI_CONTINUE)
        return rc;
    if ((c->all || c->remove) && (c->from || c->to || (c->all && c->remove))) {
        fprintf(stderr,
                "%s: --all and --remove take every sample; give one, and no --from or --to\n",
                DELETE_CMD);
        return CLI_USAGE;
    }
    if (!c->all && !c->remove && (!c->from || !c->to)) {
        fprintf(stderr, "%s: give --from and --to, --all or --remove\n", DELETE_CMD);
        return CLI_USAGE;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (c->from && (rc = cli_check_time(DELETE_CMD, c->from, now_ns)) != CLI_CONTINUE)
        return rc;
    if (c->to && (rc = cli_check_time(DELETE_CMD, c->to, now_ns)) != CLI_CONTINUE)
        return rc;
    if (!c->yes) {
        fprintf(stderr,
                "%s: this deletes %s of '%s' for good; add --yes to do it (nothing was sent)\n",
                DELETE_CMD,
                c->remove ? "the tag and every sample"
                : c->all  ? "every sample"
                          : "the samples in the range",
                c->tag);
        return CLI_USAGE;
    }
    rc = cli_conn_ready(&c->conn, DELETE_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static long long field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* --remove: DELETE /api/v1/tags/NAME; else POST /api/v1/admin/delete. */
static int delete_target(const delete_command *c, char *target, size_t cap)
{
    if (c->remove) {
        snprintf(target, cap, "/api/v1/tags/");
        return hist_url_encode(c->tag, target, cap);
    }
    snprintf(target, cap, "/api/v1/admin/delete");
    if (cli_add_param(target, cap, "tag", c->tag) < 0 ||
        (c->all && cli_add_param(target, cap, "all", "true") < 0) ||
        (c->from && cli_add_param(target, cap, "from", c->from) < 0) ||
        (c->to && cli_add_param(target, cap, "to", c->to) < 0))
        return -1;
    return 0;
}

static int delete_send(delete_command *c)
{
    char target[2048];
    if (delete_target(c, target, sizeof target) < 0)
        return cli_too_long(DELETE_CMD);
    json_t *o = cli_fetch_object(&c->conn, DELETE_CMD, c->remove ? "DELETE" : "POST", target);
    if (!o)
        return CLI_SERVER;
    printf("deleted %lld sample(s) of %s: %lld chunk(s) removed, %lld rewritten%s\n",
           field(o, "samples_deleted"), c->tag, field(o, "chunks_removed"),
           field(o, "chunks_rewritten"),
           json_is_true(json_object_get(o, "tag_removed")) ? "; the tag is removed" : "");
    json_decref(o);
    return CLI_OK;
}

int cli_delete(int argc, char **argv)
{
    delete_command c = {0};
    cli_conn_init(&c.conn);
    int rc = delete_parse_options(&c, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = delete_send(&c);
    cli_conn_close(&c.conn);
    return rc;
}
