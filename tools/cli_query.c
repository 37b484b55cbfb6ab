/*
 * cli_query.c: placeholder for `historian query` until its real implementation
 * (helper h6) replaces this file.
 */
#include <stdio.h>

#include "tools/cli.h"

int hist_cli_query(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "historian query: not built yet\n");
    return HIST_CLI_USAGE;
}
