/*
 * check_data.h: `historiand --check-data DIR`, the offline check of a data
 * directory (check_data.c).
 */
#ifndef HIST_TOOLS_CHECK_DATA_H
#define HIST_TOOLS_CHECK_DATA_H

#include <stdio.h>

/* Checks dir, printing every problem and a summary to out. Returns the
 * exit status: 0 clean, 1 damage found, 2 the check could not run. */
int check_data__run(const char *dir, FILE *out);

#endif
