/*
 * cli_read.h: what the historian CLI's read commands (cli_query.c,
 * cli_tags.c, cli_export.c, cli_stats.c) share: the common options
 * (--server, --token, --timeout, and TLS: --cacert, --cert, --key) and
 * their checks, the one HTTP client (one connection, reused by every
 * request of the command), one request with the
 * error reporting and exit codes of cli.h, the pages of a raw query
 * followed through the server's continuation, and the aligned table
 * printed on a terminal.
 */
#ifndef HIST_TOOLS_CLI_READ_H
#define HIST_TOOLS_CLI_READ_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/client/hist_client.h"

typedef struct {
    const char *server; /* default CLI_DEFAULT_SERVER */
    const char *token;  /* or NULL; $HISTORIAN_TOKEN by default */
    int timeout_ms;
    hist_tls_opts tls;      /* --cacert, --cert, --key */
    hist_http_client *http; /* made by cli_conn_ready(), freed by cli_conn_close() */
} cli_conn;

/* getopt_long codes of the options every read command takes; a command
 * numbers its own long options from CLI_OPT_OWN on. */
enum {
    CLI_OPT_SERVER = 256,
    CLI_OPT_TOKEN,
    CLI_OPT_TIMEOUT,
    CLI_OPT_CACERT,
    CLI_OPT_CERT,
    CLI_OPT_KEY,
    CLI_OPT_OWN
};
#define CLI_CONN_LONGOPTS                                                                          \
    {"server", required_argument, NULL, CLI_OPT_SERVER},                                           \
        {"token", required_argument, NULL, CLI_OPT_TOKEN},                                         \
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                                     \
        {"cacert", required_argument, NULL, CLI_OPT_CACERT},                                       \
        {"cert", required_argument, NULL, CLI_OPT_CERT},                                           \
    {                                                                                              \
        "key", required_argument, NULL, CLI_OPT_KEY                                                \
    }
/* The usage lines of the TLS options, the same for every read command. */
#define CLI_CONN_TLS_USAGE                                                                         \
    "      --cacert FILE    CA certificates (PEM) that verify an https:// server\n"                \
    "      --cert FILE      client certificate (PEM); --key FILE its key\n"

/* Takes --server, --token, --timeout, --cacert, --cert or --key into c:
 * 1 if opt was one of them. */
int cli_conn_option(cli_conn *c, int opt, const char *arg);
/* An option the command itself does not know: CLI_CONTINUE when it was
 * --server, --token or --timeout (taken into c), else prints "<cmd>:
 * unknown or incomplete option" and the usage on stderr: CLI_USAGE. */
int cli_other_option(cli_conn *c, const char *cmd, int opt, char **argv, void (*usage)(FILE *));

/* CLI_CONTINUE when text is a time hist_tz_time_parse() reads, else prints
 * "<cmd>: cannot read time" and returns CLI_USAGE. */
int cli_check_time(const char *cmd, const char *text, int64_t now_ns);
/* CLI_CONTINUE when argv has no argument left after the options (optind),
 * else prints "<cmd>: unexpected argument '...'" and returns CLI_USAGE. */
int cli_no_more_args(const char *cmd, int argc, char **argv);
/* Prints "<cmd>: the command line is too long"; CLI_USAGE. */
int cli_too_long(const char *cmd);

/* CLI_CONTINUE when format is one of `allowed` ("table|csv|json");
 * otherwise prints "<cmd>: --format must be one of table|csv|json" and
 * returns CLI_USAGE. */
int cli_format_check(const char *cmd, const char *format, const char *allowed);

/* Appends "?key=value" or "&key=value" (value percent-encoded) to the
 * request target in buf; -1 when it does not fit in cap. */
int cli_add_param(char *target, size_t cap, const char *key, const char *value);

/* Defaults (and $HISTORIAN_SERVER, $HISTORIAN_TOKEN). */
void cli_conn_init(cli_conn *c);
/* Parses c->server and makes the HTTP client; prints and returns
 * CLI_USAGE when the URL is malformed (CLI_SERVER when the client cannot
 * be made). */
int cli_conn_ready(cli_conn *c, const char *cmd);
/* Frees the HTTP client (and closes its connection); c may be unready. */
void cli_conn_close(cli_conn *c);

/* One request. CLI_OK with *resp filled on a 2xx answer; otherwise
 * prints "<cmd>: ..." (the server's error message and parameter when it
 * sent one) and returns CLI_SERVER (resp is then empty). */
int cli_fetch(cli_conn *c, const char *cmd, const char *method, const char *target,
              const char *content_type, const char *body, hist_http_response *resp);

/* One request whose answer must be a JSON object: the object (the
 * caller's to json_decref), or NULL after printing why ("<cmd>: ..."). */
json_t *cli_fetch_object(cli_conn *c, const char *cmd, const char *method, const char *target);

/* Seconds on the monotonic clock: for deadlines and rates. */
double cli_mono_s(void);

/* Pages of one request, following the server's continuation
 * (X-Historian-Next): every page asks for base plus "cursor=<where the
 * last one stopped>", the first for base plus cursor when it is set. */
typedef struct {
    const char *cmd;
    const char *base;   /* the request target without a cursor */
    size_t cap;         /* the longest target with its cursor, NUL included */
    const char *cursor; /* where the first page starts, or NULL */
    long max_pages;     /* past them: "<cmd>: more data: add --all, or --cursor C" */
    /* Takes one page (page 0 first): CLI_CONTINUE, or the exit code to stop with. */
    int (*take_page)(void *ctx, int page, const hist_http_response *resp);
    void *ctx;
} cli_pager;

/* Fetches the pages; CLI_OK when all were taken, or the exit code of the
 * first failure (a failed request prints its message). */
int cli_fetch_pages(cli_conn *c, const cli_pager *p);

/* Writes one page of a CSV answer: later pages repeat the header line,
 * so it is written for page 0 only. */
void cli_write_csv_page(FILE *out, int page, const char *body);

/* Prints a JSON array of objects as an aligned table (columns from the
 * keys, in first-seen order). */
void cli_print_table(FILE *out, json_t *rows);

#endif
