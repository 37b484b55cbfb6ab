/*
 * cli.h: the subcommands of the `historian` CLI, one file each
 * (tools/cli_<name>.c). historian.c only dispatches.
 *
 * Each command gets argv with argv[0] = its own name, parses its own
 * options (every command has --help) and returns the process exit code:
 * HIST_CLI_OK, HIST_CLI_SERVER (the server or the network reported an
 * error) or HIST_CLI_USAGE (bad command line).
 */
#ifndef HIST_TOOLS_CLI_H
#define HIST_TOOLS_CLI_H

enum { HIST_CLI_OK = 0, HIST_CLI_SERVER = 1, HIST_CLI_USAGE = 2 };

#define HIST_CLI_DEFAULT_SERVER "http://127.0.0.1:9460"
#define HIST_CLI_DEFAULT_INGEST "127.0.0.1:9461"

int hist_cli_query(int argc, char **argv);
int hist_cli_tags(int argc, char **argv);
int hist_cli_export(int argc, char **argv);
int hist_cli_stats(int argc, char **argv);
int hist_cli_import(int argc, char **argv);
int hist_cli_simulate(int argc, char **argv);

#endif
