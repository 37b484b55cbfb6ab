/*
 * metrics_proc.c: the standard process_* families of /metrics (the names
 * Prometheus client libraries use), read from /proc at scrape time:
 *
 *   process_cpu_seconds_total       utime + stime of /proc/self/stat
 *   process_resident_memory_bytes   rss pages of /proc/self/stat
 *   process_virtual_memory_bytes    vsize of /proc/self/stat
 *   process_start_time_seconds      btime of /proc/stat + starttime
 *   process_open_fds                entries of /proc/self/fd
 *   process_max_fds                 the soft RLIMIT_NOFILE
 *
 * A figure that cannot be read (no /proc) is left out, not given as 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ingest/ingest.h"

typedef struct {
    double utime, stime; /* clock ticks */
    double starttime;    /* clock ticks after boot */
    double vsize;        /* bytes */
    double rss;          /* pages */
} proc_stat;

/* Fields 14, 15, 22, 23, 24 of /proc/self/stat (proc(5)); 0 when read. */
static int read_stat(proc_stat *out)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields that follow start after its last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    double v[24];
    int field = 3; /* the first after the name */
    char *save, *tok;
    for (tok = strtok_r(p, " ", &save); tok && field <= 24; tok = strtok_r(NULL, " ", &save))
        v[field++ - 1] = strtod(tok, NULL);
    if (field <= 24)
        return -1;
    out->utime = v[13], out->stime = v[14], out->starttime = v[21];
    out->vsize = v[22], out->rss = v[23];
    return 0;
}

/* The boot time in seconds since the epoch (btime of /proc/stat), or -1. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6)) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void family(hist_buf *t, const char *name, const char *type, const char *help, double v)
{
    hist_buf_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void metrics__process(hist_buf *t)
{
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    proc_stat st;
    if (ticks > 0 && page > 0 && read_stat(&st) == 0) {
        family(t, "process_cpu_seconds_total", "counter",
               "CPU time of the process, user and system, in seconds.",
               (st.utime + st.stime) / ticks);
        family(t, "process_virtual_memory_bytes", "gauge", "Bytes of the process's address space.",
               st.vsize);
        family(t, "process_resident_memory_bytes", "gauge", "Bytes of the process's memory in RAM.",
               st.rss * page);
        double bt = boot_time();
        if (bt >= 0)
            family(t, "process_start_time_seconds", "gauge",
                   "When the process started, in seconds since 1970 (UTC).",
                   bt + st.starttime / ticks);
    }
    long fds = open_fds();
    if (fds >= 0)
        family(t, "process_open_fds", "gauge", "File descriptors the process holds open.",
               (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        family(t, "process_max_fds", "gauge",
               "File descriptors the process may open (the soft limit).", (double)rl.rlim_cur);
}
