/*
 * test_api_e2e.c: the read API end to end: the real historiand (started by
 * tests/e2e/harness.h on free loopback ports, with a tokens file), data
 * written over TCP ingest, read back over HTTP (/api/v1/query with its
 * continuation header, /grafana/query, scopes through bearer tokens) and
 * through the `historian` CLI ($HIST_BIN_DIR/historian): output and exit
 * codes 0 (ok), 1 (server or network error) and 2 (usage).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define SEC INT64_C(1000000000)
static const int64_t T0 = INT64_C(1767225600) * SEC; /* 2026-01-01T00:00:00Z */
#define N 3600

static hist_harness h;
static char server[64];

static void write_data(void)
{
    hist_tcp_client *c = NULL;
    REQUIRE(hist_tcp_client_connect(h.ingest_addr, 5000, &c) == 0);
    int64_t *ts = malloc(N * sizeof *ts);
    hist_value *fv = malloc(N * sizeof *fv), *iv = malloc(N * sizeof *iv);
    REQUIRE(ts && fv && iv);
    for (int i = 0; i < N; i++) {
        ts[i] = T0 + i * SEC;
        fv[i].f = 50.0 + (i % 60) * 0.25;
        iv[i].i = i * 7;
    }
    hist_client_series s[2] = {
        {"plant/a/l/c/temp", HIST_TYPE_FLOAT64, N, ts, fv, NULL},
        {"plant/a/l/c/count", HIST_TYPE_INT64, N, ts, iv, NULL},
    };
    uint8_t *buf;
    size_t len;
    CHECK_OK(hist_client_encode(1, "w-tok", s, 2, &buf, &len));
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    free(buf);
    Historian__V1__WriteResponse *r = NULL;
    CHECK(hist_tcp_client_recv(c, 20000, &r) == 0 && r && r->code == 0 && r->written == 2 * N);
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    hist_tcp_client_close(c);
    free(ts);
    free(fv);
    free(iv);
}

static json_t *http_json(const char *method, const char *target, const char *token,
                         const char *body, int *status, char *next, size_t next_cap)
{
    char hdr[256] = "";
    if (token)
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    if (body)
        snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr), "Content-Type: application/json\r\n");
    harness_response resp;
    memset(&resp, 0, sizeof resp);
    int rc = harness_http(h.http_port, method, target, hdr, body, body ? strlen(body) : 0, &resp);
    CHECKF(rc == 0, "%s %s: %d", method, target, rc);
    *status = resp.status;
    if (next) {
        next[0] = '\0';
        const char *p = resp.headers ? strstr(resp.headers, "X-Historian-Next:") : NULL;
        if (p) {
            p += strlen("X-Historian-Next:");
            while (*p == ' ')
                p++;
            size_t l = strcspn(p, "\r\n");
            snprintf(next, next_cap, "%.*s", (int)l, p);
        }
    }
    json_t *j = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    harness_response_free(&resp);
    return j;
}

static void test_http(void)
{
    int status;
    char next[256];
    json_t *j = http_json("GET",
                          "/api/v1/query?tag=plant/a/l/c/temp&from=2026-01-01T00:00:00Z"
                          "&to=2026-01-01T01:00:00Z&limit=1000",
                          "r-tok", NULL, &status, next, sizeof next);
    CHECK(status == 200);
    CHECK(json_array_size(j) == 1000);
    CHECKF(next[0] != '\0', "no X-Historian-Next header");
    json_decref(j);
    size_t total = 1000;
    for (int page = 0; next[0] && page < 10; page++) {
        char target[512];
        snprintf(target, sizeof target,
                 "/api/v1/query?tag=plant/a/l/c/temp&from=2026-01-01T00:00:00Z"
                 "&to=2026-01-01T01:00:00Z&limit=1000&cursor=%s",
                 next);
        j = http_json("GET", target, "r-tok", NULL, &status, next, sizeof next);
        CHECK(status == 200);
        total += json_array_size(j);
        json_decref(j);
    }
    CHECK(total == N);

    /* A token without the read scope, and none at all. */
    j = http_json("GET", "/api/v1/query?tag=plant/a/l/c/temp", "w-tok", NULL, &status, NULL, 0);
    CHECKF(status == 403 || status == 401, "status %d", status);
    json_decref(j);
    j = http_json("GET", "/api/v1/query?tag=plant/a/l/c/temp", NULL, NULL, &status, NULL, 0);
    CHECKF(status == 401 || status == 403, "status %d", status);
    json_decref(j);
    /* Bad input over the wire: 400 naming the parameter. */
    j = http_json("GET", "/api/v1/query?tag=plant/a/l/c/temp&step=fast&mode=interp", "r-tok", NULL,
                  &status, NULL, 0);
    CHECK(status == 400);
    const char *param = json_string_value(json_object_get(j, "param"));
    CHECK(param && !strcmp(param, "step"));
    json_decref(j);

    /* Grafana, as the plugin posts it. */
    j = http_json("POST", "/grafana/query", "r-tok",
                  "{\"range\":{\"from\":\"2026-01-01T00:00:00.000Z\",\"to\":"
                  "\"2026-01-01T01:00:00.000Z\"},\"intervalMs\":5000,\"maxDataPoints\":300,"
                  "\"targets\":[{\"refId\":\"A\",\"target\":\"plant/**\"}]}",
                  &status, NULL, 0);
    CHECK(status == 200);
    CHECK(json_array_size(j) == 2);
    json_t *dps = json_object_get(json_array_get(j, 0), "datapoints");
    CHECK(json_array_size(dps) > 0 && json_array_size(dps) <= 1200);
    json_decref(j);
    j = http_json("GET", "/grafana/", "r-tok", NULL, &status, NULL, 0);
    CHECK(status == 200);
    json_decref(j);
}

/* Runs the CLI; returns its exit code, stdout in *out (malloc'd). */
static int run_cli(const char *args, char **out)
{
    const char *bin = getenv("HIST_BIN_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/historian %s 2>>%s/cli.err", bin ? bin : ".", args, h.root);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void test_cli(void)
{
    char args[1024], *out = NULL;
    const char *range = "--from 2026-01-01T00:00:00Z --to 2026-01-01T01:00:00Z";

    snprintf(args, sizeof args, "query --server %s --token r-tok %s plant/a/l/c/temp", server,
             range);
    CHECK(run_cli(args, &out) == 0);
    CHECK(out && strncmp(out, "tag,time,value,quality\n", 23) == 0);
    CHECK(count_lines(out) == 1 + N);
    CHECK(out && strstr(out, "plant/a/l/c/temp,2026-01-01T00:00:01Z,50.25,0\n") != NULL);
    free(out);

    /* --all follows the continuation: same lines as one big page. */
    snprintf(args, sizeof args,
             "query --server %s --token r-tok %s --limit 500 --all -p 'plant/a/l/c/*'", server,
             range);
    CHECK(run_cli(args, &out) == 0);
    CHECK(count_lines(out) == 1 + 2 * N);
    free(out);

    snprintf(args, sizeof args,
             "query --server %s --token r-tok %s --agg min,max,twa --bucket hour --format json "
             "plant/a/l/c/temp",
             server, range);
    CHECK(run_cli(args, &out) == 0);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    CHECK(json_array_size(j) == 1);
    CHECK(json_number_value(json_object_get(json_array_get(j, 0), "min")) == 50.0);
    CHECK(json_number_value(json_object_get(json_array_get(j, 0), "max")) == 50.0 + 59 * 0.25);
    json_decref(j);
    free(out);

    /* Usage errors: exit 2. */
    snprintf(args, sizeof args, "query --server %s", server);
    CHECK(run_cli(args, NULL) == 2);
    snprintf(args, sizeof args, "query --server %s --from yesterday plant/a/l/c/temp", server);
    CHECK(run_cli(args, NULL) == 2);
    CHECK(run_cli("query --bogus x", NULL) == 2);
    CHECK(run_cli("query --server ftp://x plant/a", NULL) == 2);
    CHECK(run_cli("stats extra", NULL) == 2);
    CHECK(run_cli("tags show", NULL) == 2);
    CHECK(run_cli("export --format xml a", NULL) == 2);
    /* --help: exit 0 with usage on stdout, for every command. */
    const char *cmds[] = {"query", "tags", "export", "stats"};
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        CHECK(run_cli(args, &out) == 0);
        CHECK(out && strstr(out, "usage: historian") != NULL);
        free(out);
    }

    /* Server and network errors: exit 1. */
    snprintf(args, sizeof args, "query --server %s --token r-tok no/such/tag", server);
    CHECK(run_cli(args, NULL) == 1);
    snprintf(args, sizeof args, "query --server %s --token w-tok plant/a/l/c/temp", server);
    CHECK(run_cli(args, NULL) == 1);
    snprintf(args, sizeof args, "query --server %s --token r-tok --mode interp plant/a/l/c/temp",
             server); /* interp without step: the server's 400 */
    CHECK(run_cli(args, NULL) == 1);
    snprintf(args, sizeof args, "stats --server http://127.0.0.1:%d --timeout 5",
             harness_free_port());
    CHECK(run_cli(args, NULL) == 1);

    /* stats, tags. */
    snprintf(args, sizeof args, "stats --server %s --token r-tok --format json", server);
    CHECK(run_cli(args, &out) == 0);
    j = out ? json_loads(out, 0, NULL) : NULL;
    CHECK(json_integer_value(json_object_get(j, "samples")) == 2 * N);
    CHECK(json_integer_value(json_object_get(j, "tags")) == 2);
    json_decref(j);
    free(out);
    snprintf(args, sizeof args, "stats --server %s --token r-tok --format table", server);
    CHECK(run_cli(args, &out) == 0);
    CHECK(out && strstr(out, "bytes_on_disk") != NULL);
    free(out);
    snprintf(args, sizeof args, "tags --server %s --token r-tok --prefix plant/ --format json",
             server);
    CHECK(run_cli(args, &out) == 0);
    j = out ? json_loads(out, 0, NULL) : NULL;
    CHECK(json_array_size(j) == 2);
    json_decref(j);
    free(out);
    snprintf(args, sizeof args, "tags --server %s --token r-tok --format table", server);
    CHECK(run_cli(args, &out) == 0);
    CHECK(out && strstr(out, "plant/a/l/c/count") && strstr(out, "(2 rows)"));
    free(out);
    snprintf(args, sizeof args,
             "tags set plant/a/l/c/flow --type float64 --unit m3/h --server %s --token r-tok",
             server);
    CHECK(run_cli(args, NULL) == 1); /* needs admin */
    snprintf(args, sizeof args,
             "tags set plant/a/l/c/flow --type float64 --unit m3/h --server %s --token a-tok "
             "--format json",
             server);
    CHECK(run_cli(args, &out) == 0);
    CHECK(out && strstr(out, "\"unit\":\"m3/h\"") != NULL);
    free(out);
    snprintf(args, sizeof args,
             "tags show plant/a/l/c/flow --server %s --token r-tok --format json", server);
    CHECK(run_cli(args, &out) == 0);
    CHECK(out && strstr(out, "\"type\":\"float64\"") != NULL);
    free(out);
    /* --children: one level of the namespace (level=1). */
    snprintf(args, sizeof args,
             "tags --children --prefix plant/a/l --server %s --token r-tok --format json", server);
    CHECK(run_cli(args, &out) == 0);
    j = out ? json_loads(out, 0, NULL) : NULL;
    json_t *child = json_array_get(j, 0);
    const char *child_name = json_string_value(json_object_get(child, "name"));
    CHECKF(json_array_size(j) == 1 && child_name && !strcmp(child_name, "plant/a/l/c") &&
               json_is_false(json_object_get(child, "tag")) &&
               json_is_true(json_object_get(child, "children")),
           "tags --children: %s", out ? out : "(none)");
    json_decref(j);
    free(out);
    snprintf(args, sizeof args, "tags --children --server %s --token r-tok --format table", server);
    CHECK(run_cli(args, &out) == 0);
    CHECKF(out && strstr(out, "plant") && strstr(out, "(1 row"), "root: %s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, "tags --children --pattern 'plant/**' --server %s", server);
    CHECK(run_cli(args, NULL) == 2);

    /* export: every page, the import format, to a file. */
    char path[400];
    snprintf(path, sizeof path, "%s/export.csv", h.root);
    snprintf(args, sizeof args,
             "export --server %s --token r-tok %s --page 700 --out %s plant/a/l/c/temp "
             "plant/a/l/c/count",
             server, range, path);
    CHECK(run_cli(args, NULL) == 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        char line[256];
        size_t lines = 0, temp = 0;
        while (fgets(line, sizeof line, f)) {
            if (lines == 0)
                CHECK(strcmp(line, "tag,time,value,quality\n") == 0);
            lines++;
            temp += strncmp(line, "plant/a/l/c/temp,", 17) == 0;
        }
        fclose(f);
        CHECK(lines == 1 + 2 * N);
        CHECK(temp == N);
    }

    /* export -> import -> export gives the same file (import knows float64
     * and bool values, so only the float tag). */
    char path2[400];
    snprintf(path, sizeof path, "%s/temp1.csv", h.root);
    snprintf(path2, sizeof path2, "%s/temp2.csv", h.root);
    snprintf(args, sizeof args, "export --server %s --token r-tok %s --out %s plant/a/l/c/temp",
             server, range, path);
    CHECK(run_cli(args, NULL) == 0);
    snprintf(args, sizeof args, "import %s --ingest %s --token w-tok", path, h.ingest_addr);
    CHECK(run_cli(args, NULL) == 0);
    snprintf(args, sizeof args, "export --server %s --token r-tok %s --out %s plant/a/l/c/temp",
             server, range, path2);
    CHECK(run_cli(args, NULL) == 0);
    snprintf(args, sizeof args, "cmp -s %s %s", path, path2);
    CHECK(system(args) == 0);
}

int main(void)
{
    REQUIRE(harness_init(&h, "hist-api-e2e") == 0);
    char tokens[400];
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    REQUIRE(harness_write_file(tokens, "w-tok write\nr-tok read\na-tok read,admin\n") == 0);
    const char *args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};
    if (harness_start_or_clean(&h, args) != 0) {
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    snprintf(server, sizeof server, "http://127.0.0.1:%d", h.http_port);
    write_data();
    test_http();
    test_cli();
    int status = harness_stop(&h, 20000);
    CHECKF(status == 0, "exit status %d", status);
    if (check_failed_) {
        harness_dump_log(&h);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "cat %s/cli.err >&2", h.root);
        if (system(cmd) != 0)
            fprintf(stderr, "(no CLI stderr)\n");
    }
    harness_cleanup(&h);
    return check_summary();
}
