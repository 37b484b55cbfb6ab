/*
 * check_data.h: `historiand --check-data DIR [--repair]`, the offline check of a data
 * directory (check_data.c).
 */
#ifndef HIST_TOOLS_CHECK_DATA_H
#define HIST_TOOLS_CHECK_DATA_H

#include <stdbool.h>
#include <stdio.h>

/* Checks dir, printing every problem and a summary to out; with repair,
 * then removes the index entries of the damaged chunks (hist_db_repair),
 * listing each. Returns the exit status: 0 clean, 1 damage found (with
 * repair: found, and what can be removed was), 2 the check could not run. */
int check_data__run(const char *dir, bool repair, FILE *out);

#endif
