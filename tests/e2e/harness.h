/*
 * harness.h: run the real historiand in end-to-end tests.
 *
 * harness_start() picks free loopback ports (bind port 0, read it back),
 * starts $HIST_BIN_DIR/historiand with a temp data dir (mkdtemp under /tmp)
 * and waits for GET /healthz within a deadline. harness_stop() sends
 * SIGTERM, waits with a timeout, then SIGKILLs. The server's stdout/stderr
 * go to <root>/server.log (printed by harness_dump_log on failure).
 * Also: HTTP requests as a test writes them and, both through the gateway
 * client library (tools/client/hist_client.h), the TCP ingest client.
 */
#ifndef HIST_TESTS_E2E_HARNESS_H
#define HIST_TESTS_E2E_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/hist_storage.h"
#include "tools/client/hist_client.h"

typedef struct {
    pid_t pid;
    int http_port, ingest_port;
    char root[256];     /* temp dir, removed by harness_cleanup */
    char data_dir[300]; /* root/data */
    char log_path[300]; /* root/server.log */
    char http_addr[64], ingest_addr[64];
    /* Set after harness_init: harness_start waits for the server's
     * "historiand listening" line in its log instead of GET /healthz (a
     * TLS listener answers no plain HTTP). harness_restart would find the
     * first start's line in the appended log: restart with a new harness. */
    int wait_listening;
} hist_harness;

/* An answer of harness_http(): status, content_type, body (NUL-terminated)
 * and headers (every header line as "Name: value\n"). */
typedef hist_http_response harness_response;

/* A port nobody listens on right now (127.0.0.1). */
int harness_free_port(void);

/* Fills h for a new temp root /tmp/<name>-XXXXXX (created) with root/data
 * as the data dir and root/server.log; 0, or -1 when mkdtemp fails. For a
 * test that prepares the directory or the addresses before the start. */
int harness_init(hist_harness *h, const char *name);
/* Creates the temp root (when h->root is empty) and starts the server;
 * extra_args: NULL-terminated extra flags or NULL. 0 once healthy. */
int harness_start(hist_harness *h, const char *const *extra_args);
/* Starts again on the same data dir and ports (after a stop or kill). */
int harness_restart(hist_harness *h, const char *const *extra_args);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit status
 * (0 = clean), 128+signal if killed, -1 on error. */
int harness_stop(hist_harness *h, int timeout_ms);
/* kill -9 and reap. */
void harness_kill9(hist_harness *h);
/* Stops the server if running and removes the temp root. */
void harness_cleanup(hist_harness *h);
void harness_dump_log(const hist_harness *h);

/* GET /healthz until 200 or the deadline (with h->wait_listening: the
 * listening line in the log). */
int harness_wait_healthy(const hist_harness *h, int timeout_ms);

/* One HTTP/1.1 request on a fresh connection (Connection: close).
 * extra_headers: "Name: value\r\n" lines or NULL. 0 and *resp filled. */
int harness_http(int port, const char *method, const char *target, const char *extra_headers,
                 const void *body, size_t body_len, harness_response *resp);
void harness_response_free(harness_response *resp);

/* Runs the historian CLI ($HIST_BIN_DIR/historian) with args (NULL-ended,
 * without argv[0]) and its stdout in out_path; returns the child's pid. */
pid_t harness_run_cli(const char *out_path, const char *const *args);
/* The same for another program of $HIST_BIN_DIR ("historiand --check-data"). */
pid_t harness_run_tool(const char *tool, const char *out_path, const char *const *args);
/* Waits for pid at most timeout_s seconds: its exit code, 128 when killed
 * by a signal, -1 when it had to be killed at the deadline. */
int harness_wait_exit(pid_t pid, int timeout_s);

/* The first len - 1 bytes of a file into buf, NUL-terminated ("" when
 * it cannot be read). */
void harness_slurp(const char *path, char *buf, size_t len);

/* rm -rf for a temp dir (refuses paths outside /tmp). */
int harness_rm_rf(const char *path);

/* harness_start(), and when it fails the server's log printed and the
 * temp root removed: 0 once healthy, -1 (the test reports it). */
int harness_start_or_clean(hist_harness *h, const char *const *extra_args);
/* A request to h's HTTP port with "Authorization: Bearer token" (none when
 * token is NULL): the status, -1 when no answer came; *r filled (free it)
 * when the status is not -1. */
int harness_http_as(const hist_harness *h, const char *method, const char *target,
                    const char *token, harness_response *r);
/* The rows of a format=csv answer of /api/v1/query (a header line, then
 * tag,time,value,quality lines), body cut into lines in place (NULL: no
 * rows): how many there are, and in *wrong how many whose value is not
 * want(ctx, row), rows counted from 0 (an unreadable value is -1). */
int64_t harness_csv_rows(char *body, double (*want)(const void *ctx, int64_t row), const void *ctx,
                         int64_t *wrong);
/* Writes text as the whole file path: 0, or -1. */
int harness_write_file(const char *path, const char *text);
/* historian import csv to h's ingest port with --token token, in batches
 * of 1,000; its output in text (len bytes, NUL-terminated). The exit code
 * as harness_wait_exit() gives it (at most 120 s). */
int harness_import_csv(const hist_harness *h, const char *csv, const char *token, char *text,
                       size_t len);

#endif
