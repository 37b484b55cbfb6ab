/*
 * cli_stats.c: placeholder for `historian stats` until its real implementation
 * (helper h6) replaces this file.
 */
#include <stdio.h>

#include "tools/cli.h"

int hist_cli_stats(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "historian stats: not built yet\n");
    return HIST_CLI_USAGE;
}
