/*
 * tmpdir.h: scratch directories for tests.
 *
 * test_tmpdir() makes a fresh directory under /tmp (mkdtemp) named after
 * the test; test_rm_rf() removes a tree without following symlinks. Every
 * test that writes to disk uses these, so nothing is left behind in /tmp.
 * Header-only, like check.h.
 */
#ifndef HIST_TESTS_TMPDIR_H
#define HIST_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int test_rm_one_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes path and everything below it; 0 on success (or if it is gone). */
static inline int test_rm_rf(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    return nftw(path, test_rm_one_, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates /tmp/hist_<name>_XXXXXX into buf; returns buf, or NULL. */
static inline char *test_tmpdir(char *buf, size_t cap, const char *name)
{
    if ((size_t)snprintf(buf, cap, "/tmp/hist_%s_XXXXXX", name) >= cap)
        return NULL;
    return mkdtemp(buf);
}

#endif
