/*
 * cli_tags.c: placeholder for `historian tags` until its real implementation
 * (helper h6) replaces this file.
 */
#include <stdio.h>

#include "tools/cli.h"

int hist_cli_tags(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "historian tags: not built yet\n");
    return HIST_CLI_USAGE;
}
