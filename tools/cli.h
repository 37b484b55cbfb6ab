/*
 * cli.h: the subcommands of the `historian` CLI, one file each
 * (tools/cli_<name>.c). historian.c only dispatches. This header, like
 * every tools/cli_*.h, is the program's own: its names carry the cli_
 * prefix, not hist_ (the CLI is no library; its door is the command line).
 *
 * Each command gets argv with argv[0] = its own name, parses its own
 * options (every command has --help) and returns the process exit code:
 * CLI_OK, CLI_SERVER (the server or the network reported an error) or
 * CLI_USAGE (bad command line).
 *
 * A command runs in phases, each a short function: parse the options,
 * build the request, fetch it (page by page where the server pages), print
 * the answer. A phase returns CLI_CONTINUE to let the next one run, or the
 * exit code to stop with.
 */
#ifndef HIST_TOOLS_CLI_H
#define HIST_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "tools/client/hist_client.h"

enum { CLI_CONTINUE = -1, CLI_OK = 0, CLI_SERVER = 1, CLI_USAGE = 2 };

#define CLI_DEFAULT_SERVER "http://127.0.0.1:9460"
#define CLI_DEFAULT_INGEST "127.0.0.1:9461"

struct option;

/* Runs getopt_long over argv from its start and hands every option to
 * take(ctx, opt, argv) (optarg and optind as getopt left them):
 * CLI_CONTINUE once all were taken, else the first answer of take that was
 * not. report: getopt prints its own messages about unknown options. */
int cli_each_option(int argc, char **argv, const char *shorts, const struct option *longs,
                    bool report, int (*take)(void *ctx, int opt, char **argv), void *ctx);

/* The end of an option switch: --help (opt 'h') prints the usage on
 * stdout (CLI_OK), any other option the usage on stderr (CLI_USAGE). */
int cli_help_or_usage(int opt, void (*usage)(FILE *out));

/* The TLS options of the commands that write over TCP ingest (import,
 * simulate), by their short codes: 'L' --tls, 'A' --cacert FILE, 'E'
 * --cert FILE, 'K' --key FILE. true when opt was one (taken into tls). */
bool cli_tls_option(hist_tls_opts *tls, int opt, const char *arg);

int cli_query(int argc, char **argv);
int cli_tags(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_simulate(int argc, char **argv);
/* check exits 0 clean, 1 damage found, 2 could not check (cli_check.c). */
int cli_check(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_delete(int argc, char **argv);

#endif
