/*
 * diskfull.h: taking every free byte of a (small, test-mounted)
 * filesystem, for the tests of a full disk (tests/storage, tests/e2e).
 * Header-only, like check.h.
 */
#ifndef HIST_TESTS_DISKFULL_H
#define HIST_TESTS_DISKFULL_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* Writes path until the filesystem refuses more, the last partial page
 * included; stops the test if path does not open. Bounded: at most 6 GiB
 * and 64 short writes, far above the tests' tmpfs. */
static inline void test_fill_disk(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    static char block[1 << 16];
    memset(block, 0x5a, sizeof block);
    for (int i = 0; i < 100000; i++)
        if (write(fd, block, sizeof block) <= 0)
            break;
    for (int i = 0; i < 64; i++) /* the last partial page */
        if (write(fd, block, 64) <= 0)
            break;
    close(fd);
}

#endif
