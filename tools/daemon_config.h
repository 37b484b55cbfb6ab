/*
 * daemon_config.h: historiand's options from its flags and its --config
 * file (daemon_config.c), for tools/historiand.c.
 */
#ifndef HIST_TOOLS_DAEMON_CONFIG_H
#define HIST_TOOLS_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "common/hist_buf.h"
#include "ingest/hist_server.h"

typedef struct {
    const char *key, *val;
} daemon_config_entry;

typedef struct daemon_config {
    hist_server_options o;
    int argc;
    char **argv;
    const char *config_path; /* --config FILE, or NULL */
    const char *check_dir;   /* --check-data: check this directory and exit */
    bool check_config;       /* --check-config: check the options and exit */
    bool repair;             /* --repair (with --check-data): remove damaged entries */
    bool help, version; /* --help, --version: print and exit */
    /* repeatable: every --mqtt and --mqtt-topic, config file's first */
    const char *mqtt_urls[16], *mqtt_topics[64];
    char **strings; /* owned copies of the file's keys and values */
    size_t n_strings;
    daemon_config_entry *given; /* every key given, in order (file, then flags) */
    size_t n_given;
    struct daemon_config *prev; /* the configuration a reload replaced */
} daemon_config;

/* Fills c from argv: the --config file first, then the flags. Returns 0,
 * or -1 after printing what is wrong (FILE:LINE for the file) to errout.
 * --help sets c->help and stops. Free c with daemon_config__free in both
 * cases. */
int daemon_config__parse(daemon_config *c, int argc, char **argv, FILE *errout);
void daemon_config__free(daemon_config *c);
void daemon_config__usage(FILE *out);
/* hist_server_options.reload with ctx the daemon_config: parses the same
 * argv again (the file may have changed), says which keys changed, and
 * makes the new configuration current. */
int daemon_config__reload(void *ctx, hist_server_reload *out, char *err, size_t errlen);

#endif
