/*
 * historian.c: the `historian` command-line tool. It only picks the
 * subcommand; each lives in its own tools/cli_<name>.c (see cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/hist_version.h"
#include "tools/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"query", cli_query, "read raw, latest, interpolated, aggregated or plot data"},
    {"tags", cli_tags, "browse and search the tag namespace"},
    {"import", cli_import, "load a CSV file (tag,time,value[,quality])"},
    {"export", cli_export, "write a tag range as CSV"},
    {"stats", cli_stats, "tags, samples, bytes on disk, bytes per sample"},
    {"backup", cli_backup, "online backup of the server's data into a directory on its machine"},
    {"delete", cli_delete, "delete a tag's samples in a time range, or all of them"},
    {"simulate", cli_simulate, "gateway simulator: stream plant data with store-and-forward"},
    {"check", cli_check, "check a running server's data (a scrub pass): 0 clean, 1 damaged"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: historian <command> [options]   (historian <command> --help)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n  --help    print this help and exit\n"
                 "  --version print the version and exit\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("historian %s (git %s)\n", HIST_VERSION, HIST_GIT_DESCRIBE);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "historian: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
