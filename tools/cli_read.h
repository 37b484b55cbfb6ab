/*
 * cli_read.h: what the historian CLI's read commands (cli_query.c,
 * cli_tags.c, cli_export.c, cli_stats.c) share: the common options
 * (--server, --token, --timeout), one request with the error reporting and
 * exit codes of cli.h, and the aligned table printed on a terminal.
 */
#ifndef HIST_TOOLS_CLI_READ_H
#define HIST_TOOLS_CLI_READ_H

#include <jansson.h>
#include <stdio.h>

#include "tools/client/hist_client.h"

typedef struct {
    const char *server; /* default CLI_DEFAULT_SERVER */
    const char *token;  /* or NULL; $HISTORIAN_TOKEN by default */
    int timeout_ms;
    hist_http_url url;
} cli_conn;

/* getopt_long codes of the options every read command takes; a command
 * numbers its own long options from CLI_OPT_OWN on. */
enum { CLI_OPT_SERVER = 256, CLI_OPT_TOKEN, CLI_OPT_TIMEOUT, CLI_OPT_OWN };
#define CLI_CONN_LONGOPTS                                                                          \
    {"server", required_argument, NULL, CLI_OPT_SERVER},                                           \
        {"token", required_argument, NULL, CLI_OPT_TOKEN},                                         \
    {                                                                                              \
        "timeout", required_argument, NULL, CLI_OPT_TIMEOUT                                        \
    }

/* Takes --server, --token or --timeout into c: 1 if opt was one of them. */
int cli_conn_option(cli_conn *c, int opt, const char *arg);

/* 0 when format is one of `allowed` ("table|csv|json"); otherwise prints
 * "<cmd>: --format must be one of table|csv|json" and returns CLI_USAGE. */
int cli_format_check(const char *cmd, const char *format, const char *allowed);

/* Appends "?key=value" or "&key=value" (value percent-encoded) to the
 * request target in buf; -1 when it does not fit in cap. */
int cli_add_param(char *target, size_t cap, const char *key, const char *value);

/* Defaults (and $HISTORIAN_SERVER, $HISTORIAN_TOKEN). */
void cli_conn_init(cli_conn *c);
/* Parses c->server; prints and returns CLI_USAGE when malformed. */
int cli_conn_ready(cli_conn *c, const char *cmd);

/* One request. CLI_OK with *resp filled on a 2xx answer; otherwise
 * prints "<cmd>: ..." (the server's error message and parameter when it
 * sent one) and returns CLI_SERVER (resp is then empty). */
int cli_fetch(cli_conn *c, const char *cmd, const char *method, const char *target,
              const char *content_type, const char *body, hist_http_response *resp);

/* Prints a JSON array of objects as an aligned table (columns from the
 * keys, in first-seen order). */
void cli_print_table(FILE *out, json_t *rows);

#endif
