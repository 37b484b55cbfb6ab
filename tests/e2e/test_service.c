/*
 * test_service.c: historiand as a service runs it (docs/configuration.md,
 * docs/operations.md), on the real server:
 *
 *   - the configuration file: an unknown key, a bad value and a line
 *     without '=' stop the start with FILE:LINE (exit 2); a flag wins over
 *     the file; --check-config says good (exit 0) or names what is wrong
 *     (a bad tokens file with its FILE:LINE, a public address without
 *     tokens, a bad MQTT URL; exit 2) and starts nothing;
 *   - readiness: with $NOTIFY_SOCKET the server sends READY=1 once it
 *     listens, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 at
 *     SIGTERM;
 *   - SIGHUP: a changed log-level takes effect (connection lines appear
 *     at info that error hid), a changed memtable-mb is named as needing
 *     a restart, a broken file changes nothing and names FILE:LINE;
 *   - the access log: one line per request with method, route (no query),
 *     status, bytes and the grant id, never the token; after a rotation
 *     (rename + SIGHUP) lines go to the new file;
 *   - --log-format json: every log line is one JSON object; under the
 *     journal (JOURNAL_STREAM names stderr) lines carry "<N>" priorities
 *     and no time of their own;
 *   - the file descriptor limit: a soft limit of 1,024 is raised to what
 *     --max-connections needs; a hard limit below it lowers the
 *     connection limit, and the log says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "harness.h"

static char text[1 << 20];

static void write_file(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(body, f);
    fclose(f);
}

/* Polls path for what, 5 s at most. */
static bool wait_text(const char *path, const char *what)
{
    for (int i = 0; i < 100; i++) {
        harness_slurp(path, text, sizeof text);
        if (strstr(text, what))
            return true;
        usleep(50000);
    }
    return false;
}

/* historiand with args, its stdout and stderr in out; the exit code. */
static int run_daemon(const char *out, const char *const *args)
{
    const char *dir = getenv("HIST_BIN_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/historiand", dir ? dir : ".");
    const char *argv[16] = {bin};
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid > 0 ? harness_wait_exit(pid, 30) : -1;
}

static int get(const hist_harness *h, const char *target, const char *headers)
{
    harness_response r;
    if (harness_http(h->http_port, "GET", target, headers, NULL, 0, &r) != 0)
        return -1;
    int status = r.status;
    harness_response_free(&r);
    return status;
}

/* ---- the file and --check-config ----------------------------------- */

static void test_config_errors(const char *dir)
{
    char conf[512], out[512];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(conf, sizeof conf, "%s/bad.conf", dir);
    const char *cases[][2] = {
        {"# a comment\n\nhttp = 127.0.0.1:1\nmemtable-mb = lots\n", "bad.conf:4: bad value 'lots'"},
        {"http = 127.0.0.1:1\nmemtable = 12\n", "bad.conf:2: unknown option 'memtable'"},
        {"http 127.0.0.1:1\n", "bad.conf:1: expected key = value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file(conf, cases[i][0]);
        const char *args[] = {"--config", conf, NULL};
        int rc = run_daemon(out, args);
        harness_slurp(out, text, sizeof text);
        CHECKF(rc == 2, "case %zu: exit %d", i, rc);
        CHECKF(strstr(text, cases[i][1]) != NULL, "case %zu: no '%s' in: %s", i, cases[i][1], text);
        CHECKF(!strstr(text, "listening"), "case %zu started: %s", i, text);
    }
}

static void test_check_config(const char *dir)
{
    char conf[512], out[512], tokens[512], data[512];
    snprintf(conf, sizeof conf, "%s/check.conf", dir);
    snprintf(out, sizeof out, "%s/check.txt", dir);
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(data, sizeof data, "%s/never-made", dir);
    char body[2048];
    snprintf(body, sizeof body, "data = %s\nhttp = 127.0.0.1:%d\ningest = 127.0.0.1:%d\n", data,
             harness_free_port(), harness_free_port());
    write_file(conf, body);
    const char *good[] = {"--config", conf, "--check-config", NULL};
    CHECK_EQ_I64(run_daemon(out, good), 0);
    harness_slurp(out, text, sizeof text);
    CHECKF(strstr(text, "is good"), "%s", text);
    CHECKF(access(data, F_OK) != 0, "--check-config made the data directory");

    write_file(tokens, "admin-secret admin\nbroken rwx\n");
    const char *bad_tokens[] = {"--config", conf, "--auth-file", tokens, "--check-config", NULL};
    CHECK_EQ_I64(run_daemon(out, bad_tokens), 2);
    harness_slurp(out, text, sizeof text);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", tokens);
    CHECKF(strstr(text, want), "no '%s' in: %s", want, text);

    const char *public[] = {"--config", conf, "--http", "0.0.0.0:9", "--check-config", NULL};
    CHECK_EQ_I64(run_daemon(out, public), 2);
    harness_slurp(out, text, sizeof text);
    CHECKF(strstr(text, "without a tokens file"), "%s", text);

    const char *mqtt[] = {"--config", conf, "--mqtt", "ftp://broker", "--check-config", NULL};
    CHECK_EQ_I64(run_daemon(out, mqtt), 2);
    harness_slurp(out, text, sizeof text);
    CHECKF(strstr(text, "ftp://broker"), "%s", text);
    CHECKF(access(data, F_OK) != 0, "--check-config made the data directory");
}

/* ---- readiness, reload, access log --------------------------------- */

static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* The next datagram on fd contains what (10 s at most). */
static bool notified(int fd, const char *what)
{
    char msg[512];
    ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
    if (n <= 0)
        return false;
    msg[n] = 0;
    if (!strstr(msg, what))
        fprintf(stderr, "notify: got '%s', wanted '%s'\n", msg, what);
    return strstr(msg, what) != NULL;
}

static void test_service_run(void)
{
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-service") == 0);
    char conf[512], access_log[512], rotated[512], tokens[512], sock[512], body[2048];
    snprintf(conf, sizeof conf, "%s/historiand.conf", h.root);
    snprintf(access_log, sizeof access_log, "%s/access.log", h.root);
    snprintf(rotated, sizeof rotated, "%s/access.log.1", h.root);
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    snprintf(sock, sizeof sock, "%s/notify", h.root);
    write_file(tokens, "reader-secret read\n");
    /* the file's http address is overridden by the harness's --http flag */
    snprintf(body, sizeof body,
             "http = 127.0.0.1:1\nlog-level = error\naccess-log = %s\nauth-file = %s\n", access_log,
             tokens);
    write_file(conf, body);
    int nfd = notify_socket(sock);
    REQUIRE(nfd >= 0);
    setenv("NOTIFY_SOCKET", sock, 1);
    const char *args[] = {"--config", conf, NULL};
    int started = harness_start(&h, args);
    unsetenv("NOTIFY_SOCKET");
    if (started != 0)
        harness_dump_log(&h);
    REQUIRE(started == 0);
    CHECK(notified(nfd, "READY=1"));
    const char *auth = "Authorization: Bearer reader-secret\r\n";
    CHECK_EQ_I64(get(&h, "/api/v1/stats", auth), 200);
    CHECK_EQ_I64(get(&h, "/api/v1/stats?token=x", NULL), 401);
    CHECK(wait_text(access_log, "/api/v1/stats 401"));
    harness_slurp(access_log, text, sizeof text);
    CHECKF(strstr(text, " GET /api/v1/stats 200 ") && strstr(text, "grant=sha256:"), "%s", text);
    CHECKF(!strstr(text, "reader-secret") && !strstr(text, "token=x"), "%s", text);
    /* level error: no connection lines */
    harness_slurp(h.log_path, text, sizeof text);
    CHECKF(!strstr(text, " open http from"), "%s", text);

    /* SIGHUP: the level applies, memtable-mb needs a restart */
    snprintf(body, sizeof body,
             "http = 127.0.0.1:1\nlog-level = info\naccess-log = %s\nauth-file = %s\n"
             "memtable-mb = 300\n",
             access_log, tokens);
    write_file(conf, body);
    CHECK(rename(access_log, rotated) == 0);
    CHECK(kill(h.pid, SIGHUP) == 0);
    CHECK(notified(nfd, "RELOADING=1"));
    CHECK(notified(nfd, "READY=1"));
    CHECKF(wait_text(h.log_path, "applied log-level; changed but not applied until a restart: "
                                 "memtable-mb"),
           "%s", text);
    CHECK_EQ_I64(get(&h, "/healthz", NULL), 200);
    CHECKF(wait_text(h.log_path, " open http from"), "%s", text);
    CHECK(wait_text(access_log, "GET /healthz 200"));

    /* SIGHUP: the tokens file at another path (the old path's string is
     * freed: the audit line must name the new one); memtable-mb still
     * differs from what the server started with, so it is named again */
    char tokens2[600];
    snprintf(tokens2, sizeof tokens2, "%s.new", tokens);
    write_file(tokens2, "reader-secret read\nother-secret read\n");
    snprintf(body, sizeof body,
             "http = 127.0.0.1:1\nlog-level = info\naccess-log = %s\nauth-file = %s\n"
             "memtable-mb = 300\n",
             access_log, tokens2);
    write_file(conf, body);
    CHECK(kill(h.pid, SIGHUP) == 0);
    CHECK(notified(nfd, "RELOADING=1"));
    CHECK(notified(nfd, "READY=1"));
    char moved[800];
    snprintf(moved, sizeof moved,
             "applied auth-file; changed but not applied until a restart: "
             "memtable-mb; tokens file %s reloaded: 2 grants",
             tokens2);
    CHECKF(wait_text(h.log_path, moved), "no '%s' in: %s", moved, text);
    snprintf(moved, sizeof moved,
             "\"event\":\"reload\",\"proto\":\"signal\",\"method\":"
             "\"SIGHUP\",\"route\":\"%s\",\"status\":200",
             tokens2);
    CHECKF(wait_text(h.log_path, moved), "no '%s' in: %s", moved, text);
    CHECK_EQ_I64(get(&h, "/api/v1/stats", "Authorization: Bearer other-secret\r\n"), 200);

    /* a broken file: nothing changes, FILE:LINE in the log */
    write_file(conf, "log-level = loud\n");
    CHECK(kill(h.pid, SIGHUP) == 0);
    CHECK(notified(nfd, "RELOADING=1"));
    CHECK(notified(nfd, "READY=1"));
    char want[600];
    snprintf(want, sizeof want, "%s:1: bad value 'loud' for log-level", conf);
    CHECKF(wait_text(h.log_path, want), "no '%s' in: %s", want, text);
    CHECK_EQ_I64(get(&h, "/api/v1/stats", auth), 200);

    /* one SIGTERM (a second one exits at once): the datagram waits */
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    CHECK(notified(nfd, "STOPPING=1"));
    close(nfd);
    unlink(sock);
    harness_cleanup(&h);
}

/* ---- log shapes and the descriptor limit --------------------------- */

static void test_json_journal(void)
{
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-json") == 0);
    /* stderr is the log file: pretend it is the journal's stream */
    write_file(h.log_path, "");
    struct stat st;
    REQUIRE(stat(h.log_path, &st) == 0);
    char js[64];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    const char *args[] = {"--log-format", "json", NULL};
    int started = harness_start(&h, args);
    unsetenv("JOURNAL_STREAM");
    REQUIRE(started == 0);
    CHECK_EQ_I64(get(&h, "/healthz", NULL), 200);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    harness_slurp(h.log_path, text, sizeof text);
    int lines = 0, json_lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "historiand listening", 20) || !strncmp(line, "AUDIT ", 6))
            continue; /* stdout's one line, the audit trail's */
        lines++;
        if (line[0] != '<' || !strchr("3467", line[1]) || line[2] != '>') {
            fprintf(stderr, "no priority: %s\n", line);
            continue;
        }
        json_error_t e;
        json_t *o = json_loads(line + 3, 0, &e);
        if (o && json_is_string(json_object_get(o, "level")) &&
            json_is_string(json_object_get(o, "msg")) && !json_object_get(o, "time"))
            json_lines++;
        else
            fprintf(stderr, "not a journal JSON line: %s\n", line);
        json_decref(o);
    }
    CHECKF(lines >= 3 && json_lines == lines, "%d of %d lines", json_lines, lines);
    harness_cleanup(&h);
}

static void test_fd_limit(void)
{
    struct rlimit rl;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    /* the child inherits these limits */
    rl.rlim_cur = 1024;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 8192) {
        printf("fd limit: skipped raising (hard limit %llu < 8192)\n",
               (unsigned long long)rl.rlim_max);
    } else {
        REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        hist_harness h = {0};
        REQUIRE(harness_start(&h, NULL) == 0);
        CHECKF(wait_text(h.log_path, "file descriptor limit raised from 1024 to 4352"), "%s", text);
        CHECK_EQ_I64(harness_stop(&h, 20000), 0);
        harness_cleanup(&h);
    }
    rl.rlim_cur = rl.rlim_max = 2000; /* cannot be raised again: the last case */
    REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    hist_harness h = {0};
    REQUIRE(harness_start(&h, NULL) == 0);
    CHECKF(wait_text(h.log_path, "serving at most 1744 connections, not --max-connections 4096"),
           "%s", text);
    CHECK_EQ_I64(get(&h, "/healthz", NULL), 200);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    harness_cleanup(&h);
}

/* Every option of --help has its key in docs/configuration.md. */
static void test_keys_documented(const char *dir)
{
    char out[512], doc_path[512];
    static char doc[1 << 17];
    snprintf(out, sizeof out, "%s/help.txt", dir);
    const char *src = getenv("HIST_SOURCE_DIR");
    REQUIRE(src);
    snprintf(doc_path, sizeof doc_path, "%s/docs/configuration.md", src);
    harness_slurp(doc_path, doc, sizeof doc);
    REQUIRE(*doc);
    const char *args[] = {"--help", NULL};
    CHECK_EQ_I64(run_daemon(out, args), 0);
    harness_slurp(out, text, sizeof text);
    int keys = 0;
    for (const char *p = text; (p = strstr(p, "--")); p += 2) {
        if (p[-1] != ' ' || p[2] < 'a' || p[2] > 'z')
            continue;
        char key[64], want[70];
        size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
        snprintf(key, sizeof key, "%.*s", (int)n, p + 2);
        bool flag_only = !strcmp(key, "config") || !strcmp(key, "check-config") ||
                         !strcmp(key, "repair") || !strcmp(key, "help") || !strcmp(key, "version");
        snprintf(want, sizeof want, flag_only ? "`--%s" : "`%s`", key);
        CHECKF(strstr(doc, want), "--%s is not in docs/configuration.md", key);
        keys++;
    }
    CHECKF(keys >= 40, "%d options in --help", keys);
}

int main(void)
{
    char dir[] = "/tmp/hist-svc-XXXXXX";
    REQUIRE(mkdtemp(dir));
    test_keys_documented(dir);
    test_config_errors(dir);
    test_check_config(dir);
    test_service_run();
    test_json_journal();
    test_fd_limit(); /* lowers this process's hard limit: last */
    harness_rm_rf(dir);
    return check_summary();
}
