/*
 * cli_backup.c: `historian backup DEST`: starts an online backup of the
 * server's data directory into DEST (POST /api/v1/admin/backup, admin
 * scope), waits for it (polling GET /api/v1/admin/backup) and prints its
 * report. DEST is a path on the server's machine: the server writes it.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/cli.h"
#include "tools/cli_read.h"

#define BACKUP_CMD "historian backup"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: historian backup [options] DEST\n"
            "\n"
            "Makes a consistent copy of the server's data directory while ingest goes\n"
            "on: every sample acknowledged before the command started is in it, and\n"
            "`historiand --data DEST` opens it as it is. DEST is a directory on the\n"
            "SERVER's machine (the server writes it): an absolute path that does not\n"
            "exist yet (its parent does) or an empty directory, outside the data\n"
            "directory. Closed segment files are hard-linked when DEST is on the same\n"
            "filesystem, else copied. Needs a token with the admin scope.\n"
            "\n"
            "  -b, --base PREV     incremental: link the closed segments that did not\n"
            "                      change from PREV, an earlier backup (a path on the\n"
            "                      server's machine), instead of taking them from the\n"
            "                      data directory; the new backup is complete by itself\n"
            "  -F, --format F      text (default) or json: the report\n"
            "      --wait SEC      give up waiting after this long (default 86400);\n"
            "                      the backup itself goes on on the server\n"
            "      --server URL    (default %s, or $HISTORIAN_SERVER)\n"
            "      --token TOKEN   bearer token (or $HISTORIAN_TOKEN)\n"
            "      --timeout SEC   per request (default 30)\n" CLI_CONN_TLS_USAGE "  -h, --help\n"
            "\n"
            "Exit status: 0 the backup is complete, 1 it failed (or a server or network\n"
            "error), 2 bad command line.\n",
            CLI_DEFAULT_SERVER);
}

static const struct option backup_options[] = {
    {"format", required_argument, NULL, 'F'}, {"base", required_argument, NULL, 'b'},
    {"wait", required_argument, NULL, 'W'},   CLI_CONN_LONGOPTS,
    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
};

typedef struct {
    cli_conn conn;
    const char *format;
    double wait_s;
    const char *dest;
    const char *base;
    json_int_t id;
    json_t *last; /* the finished job's report */
} backup_command;

static int backup_take_option(void *ctx, int opt, char **argv)
{
    backup_command *c = ctx;
    switch (opt) {
    case 'h':
        usage(stdout);
        return CLI_OK;
    case 'F':
        c->format = optarg;
        return cli_format_check(BACKUP_CMD, c->format, "text|json");
    case 'b':
        c->base = optarg;
        if (c->base[0] != '/') {
            fprintf(stderr, "%s: --base must be an absolute path on the server's machine: %s\n",
                    BACKUP_CMD, c->base);
            return CLI_USAGE;
        }
        return CLI_CONTINUE;
    case 'W': {
        char *end;
        c->wait_s = strtod(optarg, &end);
        if (!*optarg || *end || !(c->wait_s > 0)) {
            fprintf(stderr, "%s: --wait must be a number of seconds above 0\n", BACKUP_CMD);
            return CLI_USAGE;
        }
        return CLI_CONTINUE;
    }
    }
    return cli_other_option(&c->conn, BACKUP_CMD, opt, argv, usage);
}

static int backup_parse_options(backup_command *c, int argc, char **argv)
{
    int rc = cli_each_option(argc, argv, "F:b:h", backup_options, false, backup_take_option, c);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: %s\n", BACKUP_CMD,
                optind >= argc ? "DEST is missing (a directory path on the server's machine)"
                               : "one DEST only");
        return CLI_USAGE;
    }
    c->dest = argv[optind];
    if (c->dest[0] != '/') {
        fprintf(stderr, "%s: DEST must be an absolute path on the server's machine: %s\n",
                BACKUP_CMD, c->dest);
        return CLI_USAGE;
    }
    rc = cli_conn_ready(&c->conn, BACKUP_CMD);
    return rc == CLI_OK ? CLI_CONTINUE : rc;
}

static int backup_start(backup_command *c)
{
    char target[12400] = "/api/v1/admin/backup";
    if (cli_add_param(target, sizeof target, "dest", c->dest) < 0 ||
        (c->base && cli_add_param(target, sizeof target, "base", c->base) < 0))
        return cli_too_long(BACKUP_CMD);
    json_t *o = cli_fetch_object(&c->conn, BACKUP_CMD, "POST", target);
    if (!o)
        return CLI_SERVER;
    c->id = json_integer_value(json_object_get(o, "started"));
    json_decref(o);
    if (c->id <= 0) {
        fprintf(stderr, "%s: the server did not say which job it started\n", BACKUP_CMD);
        return CLI_SERVER;
    }
    return CLI_CONTINUE;
}

/* Polls the status until our job is the last finished one. */
static int backup_wait(backup_command *c)
{
    double until = cli_mono_s() + c->wait_s;
    for (long i = 0; cli_mono_s() < until; i++) {
        json_t *o = cli_fetch_object(&c->conn, BACKUP_CMD, "GET", "/api/v1/admin/backup");
        if (!o)
            return CLI_SERVER;
        json_t *last = json_object_get(o, "last");
        bool done = !json_is_true(json_object_get(o, "running")) && json_is_object(last) &&
                    json_integer_value(json_object_get(last, "id")) == c->id;
        if (done) {
            c->last = json_incref(last);
            json_decref(o);
            return CLI_CONTINUE;
        }
        json_decref(o);
        /* Every poll is an admin request in the audit trail: quick at
         * first (a small backup takes milliseconds), then once a second. */
        long ms = i < 20 ? 50 : i < 40 ? 250 : 1000;
        struct timespec nap = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "%s: gave up waiting after %.0f s; the backup goes on on the server\n",
            BACKUP_CMD, c->wait_s);
    return CLI_SERVER;
}

static int backup_print(backup_command *c)
{
    bool ok = json_is_true(json_object_get(c->last, "ok"));
    if (!strcmp(c->format, "json")) {
        char *s = json_dumps(c->last, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else if (ok) {
        printf("backup into %s complete\n", c->dest);
        const char *key;
        json_t *v;
        json_object_foreach(c->last, key, v)
        {
            if (json_is_integer(v))
                printf("  %-14s %lld\n", key, (long long)json_integer_value(v));
            else if (json_is_real(v))
                printf("  %-14s %.3f\n", key, json_real_value(v));
        }
    }
    if (!ok) {
        const char *e = json_string_value(json_object_get(c->last, "error"));
        fprintf(stderr, "%s: the backup into %s failed: %s\n", BACKUP_CMD, c->dest,
                e ? e : "no reason given");
        return CLI_SERVER;
    }
    return CLI_OK;
}

int cli_backup(int argc, char **argv)
{
    backup_command c = {.format = "text", .wait_s = 86400};
    cli_conn_init(&c.conn);
    int rc = backup_parse_options(&c, argc, argv);
    if (rc == CLI_CONTINUE)
        rc = backup_start(&c);
    if (rc == CLI_CONTINUE)
        rc = backup_wait(&c);
    if (rc == CLI_CONTINUE)
        rc = backup_print(&c);
    cli_conn_close(&c.conn);
    json_decref(c.last);
    return rc;
}
