/*
 * cli_export.c: placeholder for `historian export` until its real implementation
 * (helper h6) replaces this file.
 */
#include <stdio.h>

#include "tools/cli.h"

int hist_cli_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "historian export: not built yet\n");
    return HIST_CLI_USAGE;
}
