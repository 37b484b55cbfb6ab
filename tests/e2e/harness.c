/*
 * harness.c: see harness.h.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "tests/tmpdir.h"

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int spawn(hist_harness *h, const char *const *extra)
{
    const char *bindir = getenv("HIST_BIN_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/historiand", bindir ? bindir : "./tools");
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--data";
    argv[n++] = h->data_dir;
    argv[n++] = "--http";
    argv[n++] = h->http_addr;
    argv[n++] = "--ingest";
    argv[n++] = h->ingest_addr;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    h->pid = pid;
    return 0;
}

int harness_init(hist_harness *h, const char *name)
{
    memset(h, 0, sizeof *h);
    snprintf(h->root, sizeof h->root, "/tmp/%s-XXXXXX", name);
    if (!mkdtemp(h->root))
        return -1;
    snprintf(h->data_dir, sizeof h->data_dir, "%s/data", h->root);
    snprintf(h->log_path, sizeof h->log_path, "%s/server.log", h->root);
    return 0;
}

int harness_start(hist_harness *h, const char *const *extra_args)
{
    if (!h->root[0] && harness_init(h, "hist-e2e") != 0)
        return -1;
    /* a port may be taken between the probe and the bind: retry */
    for (int attempt = 0; attempt < 5; attempt++) {
        h->http_port = harness_free_port();
        h->ingest_port = harness_free_port();
        if (h->http_port < 0 || h->ingest_port < 0 || h->http_port == h->ingest_port)
            continue;
        snprintf(h->http_addr, sizeof h->http_addr, "127.0.0.1:%d", h->http_port);
        snprintf(h->ingest_addr, sizeof h->ingest_addr, "127.0.0.1:%d", h->ingest_port);
        if (spawn(h, extra_args) < 0)
            return -1;
        if (harness_wait_healthy(h, 20000) == 0)
            return 0;
        harness_stop(h, 2000);
    }
    return -1;
}

int harness_restart(hist_harness *h, const char *const *extra_args)
{
    if (spawn(h, extra_args) < 0)
        return -1;
    return harness_wait_healthy(h, 30000);
}

static int wait_pid(pid_t pid, int timeout_ms, int *status)
{
    long long end = ms_now() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0)
            return -1;
        if (ms_now() > end)
            return 1;
        usleep(10000);
    }
}

int harness_stop(hist_harness *h, int timeout_ms)
{
    int status = 0;
    if (h->pid <= 0)
        return -1;
    kill(h->pid, SIGTERM);
    int r = wait_pid(h->pid, timeout_ms, &status);
    if (r == 1) {
        fprintf(stderr, "harness: historiand %d did not stop in %d ms: SIGKILL\n", (int)h->pid,
                timeout_ms);
        kill(h->pid, SIGKILL);
        r = wait_pid(h->pid, 10000, &status);
    }
    h->pid = 0;
    if (r != 0)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

void harness_kill9(hist_harness *h)
{
    int status;
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGKILL);
    wait_pid(h->pid, 10000, &status);
    h->pid = 0;
}

int harness_rm_rf(const char *path)
{
    if (strncmp(path, "/tmp/", 5) || strstr(path, ".."))
        return -1;
    return test_rm_rf(path);
}

pid_t harness_run_cli(const char *out_path, const char *const *args)
{
    return harness_run_tool("historian", out_path, args);
}

pid_t harness_run_tool(const char *tool, const char *out_path, const char *const *args)
{
    char bin[512];
    const char *dir = getenv("HIST_BIN_DIR");
    snprintf(bin, sizeof bin, "%s/%s", dir ? dir : "./tools", tool);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out_path, "w", stdout))
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

void harness_slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
}

int harness_wait_exit(pid_t pid, int timeout_s)
{
    for (int i = 0; i < timeout_s * 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

void harness_dump_log(const hist_harness *h)
{
    FILE *f = fopen(h->log_path, "r");
    char line[1024];
    if (!f)
        return;
    fprintf(stderr, "---- %s ----\n", h->log_path);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

void harness_cleanup(hist_harness *h)
{
    if (h->pid > 0)
        harness_stop(h, 10000);
    if (h->root[0])
        harness_rm_rf(h->root);
    h->root[0] = 0;
}

int harness_wait_healthy(const hist_harness *h, int timeout_ms)
{
    long long end = ms_now() + timeout_ms;
    while (ms_now() < end) {
        harness_response r;
        if (h->wait_listening) {
            char log[8192];
            harness_slurp(h->log_path, log, sizeof log);
            if (strstr(log, "historiand listening"))
                return 0;
        } else if (harness_http(h->http_port, "GET", "/healthz", NULL, NULL, 0, &r) == 0) {
            int ok = r.status == 200;
            harness_response_free(&r);
            if (ok)
                return 0;
        }
        /* Died? Left unreaped (WNOWAIT), so the pid stays ours until
         * harness_stop() reaps it and never names another process. */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (h->pid > 0 && waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == h->pid)
            return -1;
        usleep(20000);
    }
    return -1;
}

/* ---- HTTP ------------------------------------------------------------ */

int harness_http(int port, const char *method, const char *target, const char *extra_headers,
                 const void *body, size_t body_len, harness_response *resp)
{
    hist_http_url url = {.host = "127.0.0.1"};
    snprintf(url.port, sizeof url.port, "%d", port);
    size_t cap =
        512 + strlen(method) + strlen(target) + (extra_headers ? strlen(extra_headers) : 0);
    char *head = malloc(cap);
    if (!head) {
        memset(resp, 0, sizeof *resp);
        return -1;
    }
    snprintf(head, cap,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n%s\r\n",
             method, target, port, body_len, extra_headers ? extra_headers : "");
    char err[256];
    /* the server may answer (431, 413) and close before it read it all:
     * hist_http_send_raw() reads the answer all the same */
    int rc = hist_http_send_raw(&url, head, body, body_len, 60000, resp, err, sizeof err);
    free(head);
    return rc;
}

void harness_response_free(harness_response *resp)
{
    hist_http_response_free(resp);
}

int harness_start_or_clean(hist_harness *h, const char *const *extra_args)
{
    if (harness_start(h, extra_args) == 0)
        return 0;
    harness_dump_log(h);
    harness_cleanup(h);
    return -1;
}

int harness_http_as(const hist_harness *h, const char *method, const char *target,
                    const char *token, harness_response *r)
{
    char hdr[128] = "";
    if (token &&
        (size_t)snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token) >= sizeof hdr)
        return -1;
    if (harness_http(h->http_port, method, target, token ? hdr : NULL, NULL, 0, r) != 0)
        return -1;
    return r->status;
}

int harness_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

int harness_import_csv(const hist_harness *h, const char *csv, const char *token, char *text,
                       size_t len)
{
    char out[400];
    snprintf(out, sizeof out, "%s/import.txt", h->root);
    const char *args[] = {"import",  csv,    "--ingest", h->ingest_addr, "--token", token,
                          "--batch", "1000", NULL};
    int st = harness_wait_exit(harness_run_cli(out, args), 120);
    harness_slurp(out, text, len);
    return st;
}

int64_t harness_csv_rows(char *body, double (*want)(const void *ctx, int64_t row), const void *ctx,
                         int64_t *wrong)
{
    int64_t row = -1; /* the first line is the header */
    *wrong = 0;
    for (char *line = body; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (row >= 0) {
            char *c1 = strchr(line, ','); /* tag,time,value,quality */
            char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            double v = c2 ? strtod(c2 + 1, NULL) : -1;
            *wrong += v != want(ctx, row);
        }
        row++;
        line = nl ? nl + 1 : NULL;
    }
    return row < 0 ? 0 : row;
}
