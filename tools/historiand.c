/*
 * historiand.c: the historian server process.
 *
 * With no arguments it runs the embedded default: data in ./historian-data,
 * HTTP on 127.0.0.1:9460, TCP ingest on 127.0.0.1:9461. Options come from
 * the flags and from --config FILE (daemon_config.c; flags win); SIGHUP
 * reads the file again. Everything else is in ingest/ (hist_server_run).
 * `historiand --check-data DIR` checks a data directory instead of serving
 * it (check_data.c); `historiand --check-config ...` checks the options
 * and the files they name, and starts nothing.
 */
#include <malloc.h>
#include <stdio.h>

#include "common/hist_version.h"
#include "ingest/hist_server.h"
#include "tools/check_data.h"
#include "tools/daemon_config.h"

/*
 * Query answers are built in arrays of up to tens of MiB (a raw page of a
 * million samples). glibc serves such blocks with fresh mmaps and gives
 * them back at free, so every answer paid a page fault per 4 KiB again
 * (a third of a raw read's time). Keeping blocks up to 32 MiB (glibc's
 * ceiling for this knob) in the heap and not trimming it lets the next
 * answer reuse the pages. What stays resident is the largest answer's
 * working set, per malloc arena.
 */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

/* --check-config: exit 0 when the options and their files are good. */
static int check_config(const daemon_config *c)
{
    char err[512];
    if (hist_server_check(&c->o, err, sizeof err) < 0) {
        fprintf(stderr, "historiand: configuration%s%s is not usable: %s\n",
                c->config_path ? " " : "", c->config_path ? c->config_path : "", err);
        return 2;
    }
    printf("historiand: configuration%s%s is good\n", c->config_path ? " " : "",
           c->config_path ? c->config_path : "");
    return 0;
}

static int run(daemon_config *c, int argc, char **argv)
{
    if (daemon_config__parse(c, argc, argv, stderr) < 0) {
        fprintf(stderr, "historiand --help lists the options\n");
        return 2;
    }
    if (c->help) {
        daemon_config__usage(stdout);
        return 0;
    }
    if (c->version) {
        printf("historiand %s (git %s)\n", HIST_VERSION, HIST_GIT_DESCRIBE);
        return 0;
    }
    if (c->repair && !c->check_dir) {
        fprintf(stderr, "historiand: --repair goes with --check-data DIR\n");
        return 2;
    }
    if (c->check_dir)
        return check_data__run(c->check_dir, c->repair, stdout);
    if (c->check_config)
        return check_config(c);
    c->o.reload = daemon_config__reload;
    c->o.reload_ctx = c;
    return hist_server_run(&c->o) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    tune_malloc();
    daemon_config c;
    int rc = run(&c, argc, argv);
    daemon_config__free(&c);
    return rc;
}
