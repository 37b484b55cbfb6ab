/*
 * cli_options.c: the option loop every historian command runs (see cli.h).
 */
#include <getopt.h>
#include <stddef.h>

#include "tools/cli.h"

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
