/*
 * metrics_page.h: reading historiand's /metrics page in tests.
 *
 * metrics_value() finds one sample by its full name and labels as printed
 * ("historian_http_responses_total{code=\"404\"}"); metrics_check_page()
 * checks the page's shape the way Prometheus users expect it: every sample
 * belongs to a family with one # HELP and one # TYPE line, counters end in
 * _total, a histogram's samples are _bucket, _sum and _count; and, when
 * promtool is installed (Debian's prometheus package), that
 * `promtool check metrics` accepts it (skipped with a note otherwise).
 */
#ifndef HIST_TESTS_E2E_METRICS_PAGE_H
#define HIST_TESTS_E2E_METRICS_PAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* The value of the sample named exactly `series` (name and labels), or -1
 * when the page has none. */
static inline double metrics_value(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* The family line "# KIND name ..." of name in page: its type word after
 * the name ("counter"...), copied to out; 0 when found once, -1 if not,
 * -2 if more than once. */
static inline int metrics__family_line(const char *page, const char *kind, const char *name,
                                       char *out, size_t cap)
{
    char head[240];
    snprintf(head, sizeof head, "# %.8s %.200s ", kind, name);
    size_t hn = strlen(head);
    int found = 0;
    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, head, hn)) {
            found++;
            const char *e = strchr(p + hn, '\n');
            size_t len = e ? (size_t)(e - p - hn) : strlen(p + hn);
            snprintf(out, cap, "%.*s", (int)len, p + hn);
        }
    return found == 1 ? 0 : found ? -2 : -1;
}

static inline bool metrics__ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static inline void metrics_check_page(const char *page, const char *root)
{
    int samples = 0;
    for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p == '#' || *p == '\n')
            continue;
        char name[200];
        size_t n = strcspn(p, "{ \n");
        snprintf(name, sizeof name, "%.*s", (int)(n < 199 ? n : 199), p);
        samples++;
        char type[64] = "", help[400];
        char family[200];
        snprintf(family, sizeof family, "%s", name);
        if (metrics__family_line(page, "TYPE", family, type, sizeof type) != 0) {
            /* a histogram's series: the family is the name less its suffix */
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            for (int i = 0; i < 3; i++)
                if (metrics__ends(name, sfx[i])) {
                    family[strlen(name) - strlen(sfx[i])] = '\0';
                    break;
                }
            int rc = metrics__family_line(page, "TYPE", family, type, sizeof type);
            CHECKF(rc == 0 && !strcmp(type, "histogram"), "%s: no single # TYPE line (%d)", name,
                   rc);
        }
        CHECKF(metrics__family_line(page, "HELP", family, help, sizeof help) == 0,
               "%s: no single # HELP line", family);
        if (!strcmp(type, "counter"))
            CHECKF(metrics__ends(family, "_total"), "counter %s does not end in _total", family);
        CHECKF(strstr(family, "microseconds") == NULL && strstr(family, "millis") == NULL,
               "%s: not in base units", family);
    }
    CHECKF(samples > 50, "only %d samples on the page", samples);
    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("note: promtool not installed (Debian package prometheus): its check skipped\n");
        return;
    }
    char path[400], cmd[900];
    snprintf(path, sizeof path, "%s/metrics.txt", root);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(page, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "timeout 60 /usr/bin/promtool check metrics < '%s' > '%s.out' 2>&1",
             path, path);
    int rc = system(cmd);
    if (rc != 0) {
        char out[4096] = "";
        snprintf(cmd, sizeof cmd, "%s.out", path);
        FILE *o = fopen(cmd, "r");
        if (o) {
            size_t got = fread(out, 1, sizeof out - 1, o);
            out[got] = '\0';
            fclose(o);
        }
        CHECKF(0, "promtool check metrics failed (%d):\n%s", rc, out);
    } else {
        printf("promtool check metrics: ok\n");
    }
}

#endif
