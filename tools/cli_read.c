/*
 * cli_read.c: shared plumbing of the CLI's read commands (see
 * cli_read.h): connection options, the one HTTP client of a command,
 * one checked request, pages (on the same connection), tables.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hist_time.h"
#include "common/hist_tz.h"
#include "tools/cli.h"
#include "tools/cli_read.h"

int cli_conn_option(cli_conn *c, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_SERVER:
        c->server = arg;
        return 1;
    case CLI_OPT_TOKEN:
        c->token = arg;
        return 1;
    case CLI_OPT_TIMEOUT:
        c->timeout_ms = atoi(arg) * 1000; /* <= 0 is refused by cli_conn_ready() */
        return 1;
    case CLI_OPT_CACERT:
        c->tls.ca_file = arg;
        return 1;
    case CLI_OPT_CERT:
        c->tls.cert_file = arg;
        return 1;
    case CLI_OPT_KEY:
        c->tls.key_file = arg;
        return 1;
    }
    return 0;
}

int cli_other_option(cli_conn *c, const char *cmd, int opt, char **argv, void (*usage)(FILE *))
{
    if (cli_conn_option(c, opt, optarg))
        return CLI_CONTINUE;
    fprintf(stderr, "%s: unknown or incomplete option '%s'\n", cmd, argv[optind - 1]);
    usage(stderr);
    return CLI_USAGE;
}

int cli_check_time(const char *cmd, const char *text, int64_t now_ns)
{
    int64_t t;
    /* The syntax only: the server reads the text itself, zone-less times
     * and "now/d" in the request's --tz. */
    if (hist_tz_time_parse(NULL, text, now_ns, &t) == 0)
        return CLI_CONTINUE;
    fprintf(stderr, "%s: cannot read time '%s' (RFC 3339, epoch ms, now, -24h, now/d)\n", cmd,
            text);
    return CLI_USAGE;
}

int cli_too_long(const char *cmd)
{
    fprintf(stderr, "%s: the command line is too long\n", cmd);
    return CLI_USAGE;
}

int cli_add_param(char *target, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(target);
    if (n + strlen(key) + 3 >= cap)
        return -1;
    snprintf(target + n, cap - n, "%s%s=", strchr(target, '?') ? "&" : "?", key);
    return hist_url_encode(value, target, cap);
}

int cli_format_check(const char *cmd, const char *format, const char *allowed)
{
    size_t n = strlen(format);
    for (const char *a = allowed; *a;) {
        const char *bar = strchr(a, '|');
        size_t len = bar ? (size_t)(bar - a) : strlen(a);
        if (len == n && !strncmp(a, format, n))
            return CLI_CONTINUE;
        a += len + (bar != NULL);
    }
    fprintf(stderr, "%s: --format must be one of %s\n", cmd, allowed);
    return CLI_USAGE;
}

void cli_conn_init(cli_conn *c)
{
    memset(c, 0, sizeof *c);
    c->server = getenv("HISTORIAN_SERVER");
    if (!c->server || !*c->server)
        c->server = CLI_DEFAULT_SERVER;
    c->token = getenv("HISTORIAN_TOKEN");
    c->timeout_ms = 30000;
}

int cli_conn_ready(cli_conn *c, const char *cmd)
{
    hist_http_url url;
    if (hist_http_url_parse(c->server, &url) < 0) {
        fprintf(stderr, "%s: --server must look like http://host:port (got '%s')\n", cmd,
                c->server);
        return CLI_USAGE;
    }
    if (c->timeout_ms <= 0) {
        fprintf(stderr, "%s: --timeout must be a positive number of seconds\n", cmd);
        return CLI_USAGE;
    }
    if (c->tls.key_file && !c->tls.cert_file) {
        fprintf(stderr, "%s: --key needs --cert\n", cmd);
        return CLI_USAGE;
    }
    char err[512];
    if (!c->http && hist_http_client_new(c->server, &c->tls, &c->http, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return CLI_SERVER;
    }
    return CLI_OK;
}

void cli_conn_close(cli_conn *c)
{
    hist_http_client_free(c->http);
    c->http = NULL;
}

/* The server's refusal, with its message and parameter when it sent them
 * (the API's errors are {"error": ..., "param": ...}). */
static void report_refusal(const char *cmd, const hist_http_response *resp)
{
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    const char *param = json_string_value(json_object_get(j, "param"));
    if (msg && param)
        fprintf(stderr, "%s: server said %d: %s (parameter '%s')\n", cmd, resp->status, msg, param);
    else if (msg)
        fprintf(stderr, "%s: server said %d: %s\n", cmd, resp->status, msg);
    else
        fprintf(stderr, "%s: server said %d: %.200s\n", cmd, resp->status, resp->body);
    json_decref(j);
}

int cli_fetch(cli_conn *c, const char *cmd, const char *method, const char *target,
              const char *content_type, const char *body, hist_http_response *resp)
{
    char err[512];
    if (hist_http_client_request(c->http, method, target, c->token, content_type, body,
                                 body ? strlen(body) : 0, c->timeout_ms, resp, err,
                                 sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return CLI_SERVER;
    }
    if (resp->status >= 200 && resp->status < 300)
        return CLI_OK;
    report_refusal(cmd, resp);
    hist_http_response_free(resp);
    return CLI_SERVER;
}

int cli_no_more_args(const char *cmd, int argc, char **argv)
{
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CLI_USAGE;
    }
    return CLI_CONTINUE;
}

json_t *cli_fetch_object(cli_conn *c, const char *cmd, const char *method, const char *target)
{
    hist_http_response resp;
    memset(&resp, 0, sizeof(resp));
    if (cli_fetch(c, cmd, method, target, NULL, NULL, &resp) != CLI_OK)
        return NULL;
    json_t *o = json_loadb(resp.body, resp.body_len, 0, NULL);
    hist_http_response_free(&resp);
    if (!json_is_object(o)) {
        json_decref(o);
        fprintf(stderr, "%s: the server's answer is not a JSON object\n", cmd);
        return NULL;
    }
    return o;
}

double cli_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Pages ---- */

/* Fetches the page that starts at cursor (NULL: at the start) into resp. */
static int fetch_page(cli_conn *c, const cli_pager *p, char *target, const char *cursor,
                      hist_http_response *resp)
{
    snprintf(target, p->cap, "%s", p->base);
    if (cursor && cli_add_param(target, p->cap, "cursor", cursor) < 0)
        return cli_too_long(p->cmd);
    return cli_fetch(c, p->cmd, "GET", target, NULL, NULL, resp);
}

int cli_fetch_pages(cli_conn *c, const cli_pager *p)
{
    char *target = malloc(p->cap);
    if (!target)
        return CLI_SERVER;
    char next[1024];
    const char *cursor = p->cursor;
    int rc = CLI_OK;
    for (long page = 0;; page++) {
        hist_http_response resp;
        if ((rc = fetch_page(c, p, target, cursor, &resp)) != CLI_OK)
            break;
        int taken = p->take_page(p->ctx, (int)page, &resp);
        snprintf(next, sizeof next, "%s", resp.next);
        hist_http_response_free(&resp);
        if (taken != CLI_CONTINUE) {
            rc = taken;
            break;
        }
        if (!next[0])
            break;
        if (page + 1 >= p->max_pages) {
            fprintf(stderr, "%s: more data: add --all, or --cursor %s\n", p->cmd, next);
            break;
        }
        cursor = next;
    }
    free(target);
    return rc;
}

void cli_write_csv_page(FILE *out, int page, const char *body)
{
    if (page > 0 && strchr(body, '\n'))
        body = strchr(body, '\n') + 1;
    fputs(body, out);
}

/* ---- Tables ---- */

/* A cell's text: strings as they are, numbers compact, null empty. */
static char *cell_text(json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
}

/* The column names: every row's keys, in first-seen order. */
static json_t *table_columns(json_t *rows)
{
    json_t *cols = json_array();
    size_t i, k;
    json_t *row, *col;
    json_array_foreach(rows, i, row)
    {
        const char *key;
        json_t *v;
        json_object_foreach(row, key, v)
        {
            int seen = 0;
            json_array_foreach(cols, k, col) seen |= !strcmp(json_string_value(col), key);
            if (!seen)
                json_array_append_new(cols, json_string(key));
        }
    }
    return cols;
}

/* Each column's width: its name's or its longest cell's. */
static void table_widths(json_t *rows, json_t *cols, size_t *width)
{
    size_t i, k;
    json_t *row, *col;
    json_array_foreach(cols, k, col) width[k] = strlen(json_string_value(col));
    json_array_foreach(rows, i, row)
    {
        json_array_foreach(cols, k, col)
        {
            char *t = cell_text(json_object_get(row, json_string_value(col)));
            if (t && strlen(t) > width[k])
                width[k] = strlen(t);
            free(t);
        }
    }
}

/* The column names, underlined. */
static void print_table_head(FILE *out, json_t *cols, const size_t *width)
{
    size_t k, ncol = json_array_size(cols);
    json_t *col;
    json_array_foreach(cols, k, col)
        fprintf(out, "%-*s%s", (int)width[k], json_string_value(col), k + 1 < ncol ? "  " : "\n");
    json_array_foreach(cols, k, col)
    {
        for (size_t w = 0; w < width[k]; w++)
            fputc('-', out);
        fputs(k + 1 < ncol ? "  " : "\n", out);
    }
}

/* One row: numbers right-aligned, text left-aligned. */
static void print_table_row(FILE *out, json_t *row, json_t *cols, const size_t *width)
{
    size_t k, ncol = json_array_size(cols);
    json_t *col;
    json_array_foreach(cols, k, col)
    {
        json_t *v = json_object_get(row, json_string_value(col));
        char *t = cell_text(v);
        if (json_is_number(v))
            fprintf(out, "%*s", (int)width[k], t ? t : "");
        else
            fprintf(out, "%-*s", (int)width[k], t ? t : "");
        fputs(k + 1 < ncol ? "  " : "\n", out);
        free(t);
    }
}

void cli_print_table(FILE *out, json_t *rows)
{
    json_t *cols = table_columns(rows);
    size_t ncol = json_array_size(cols);
    size_t *width = calloc(ncol ? ncol : 1, sizeof *width);
    if (!width) {
        json_decref(cols);
        return;
    }
    table_widths(rows, cols, width);
    print_table_head(out, cols, width);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) print_table_row(out, row, cols, width);
    fprintf(out, "(%zu row%s)\n", json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
    free(width);
    json_decref(cols);
}
