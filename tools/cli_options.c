/*
 * cli_options.c: the option loop every historian command runs, the end
 * of its switch, and the TLS options of the ingest commands (see cli.h).
 */
#include <getopt.h>
#include <stddef.h>

#include "tools/cli.h"

int cli_help_or_usage(int opt, void (*usage)(FILE *out))
{
    usage(opt == 'h' ? stdout : stderr);
    return opt == 'h' ? CLI_OK : CLI_USAGE;
}

int cli_each_option(int argc, char **argv, const char *shorts, const struct option *longs,
                    bool report, int (*take)(void *ctx, int opt, char **argv), void *ctx)
{
    int opt, rc;
    optind = 1;
    if (!report)
        opterr = 0;
    while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1)
        if ((rc = take(ctx, opt, argv)) != CLI_CONTINUE)
            return rc;
    return CLI_CONTINUE;
}

bool cli_tls_option(hist_tls_opts *tls, int opt, const char *arg)
{
    switch (opt) {
    case 'L':
        tls->on = true;
        return true;
    case 'A':
        tls->ca_file = arg;
        return true;
    case 'E':
        tls->cert_file = arg;
        return true;
    case 'K':
        tls->key_file = arg;
        return true;
    }
    return false;
}
