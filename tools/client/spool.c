/*
 * spool.c: the sender's store-and-forward directory (see client_internal.h).
 *
 * A batch is one file, <id as 20 digits>.batch: an 8-byte sample count
 * (little-endian), then the encoded request. It is written to a .tmp file,
 * fsync'd, renamed into place and the directory fsync'd, so a batch file
 * is whole or absent after a crash.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hist_error.h"
#include "tools/client/client_internal.h"

void client_batch_free(client_batch *b)
{
    if (!b)
        return;
    free(b->bytes);
    free(b);
}

static void spool_path(const char *dir, uint64_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/%020llu.batch", dir, (unsigned long long)id);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int client_spool_write(const char *dir, const client_batch *b)
{
    char path[1024], tmp[1100];
    spool_path(dir, b->id, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return HIST_EIO;
    uint8_t head[8];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(b->samples >> (8 * i));
    bool ok =
        write(fd, head, 8) == 8 && write(fd, b->bytes, b->len) == (ssize_t)b->len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        unlink(tmp);
        return HIST_EIO;
    }
    return 0;
}

void client_spool_remove(const char *dir, uint64_t id)
{
    char path[1024];
    spool_path(dir, id, path, sizeof path);
    unlink(path);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the batch files in dir, sorted (oldest first); NULL and
 * *n == 0 when there are none. HIST_EIO when dir cannot be read. */
static int list_batches(const char *dir, char ***names_out, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d)
        return HIST_EIO;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != 26 || strcmp(e->d_name + 20, ".batch"))
            continue;
        char **g = realloc(names, (n + 1) * sizeof *g);
        if (!g)
            break;
        names = g;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *names_out = names;
    *n_out = n;
    return 0;
}

/* Reads one batch file: the batch, or NULL when it is unreadable. */
static client_batch *read_batch(const char *path, const char *name)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    client_batch *b = calloc(1, sizeof *b);
    bool ok = false;
    if (f && b && fstat(fileno(f), &sb) == 0 && sb.st_size >= 8) {
        uint8_t head[8];
        b->len = (size_t)sb.st_size - 8;
        b->bytes = malloc(b->len + 1);
        ok = b->bytes && fread(head, 1, 8, f) == 8 && fread(b->bytes, 1, b->len, f) == b->len;
        for (int k = 0; ok && k < 8; k++)
            b->samples |= (uint64_t)head[k] << (8 * k);
        b->id = strtoull(name, NULL, 10);
    }
    if (f)
        fclose(f);
    if (ok)
        return b;
    client_batch_free(b);
    return NULL;
}

int client_spool_load(const char *dir, void (*add)(void *ctx, client_batch *b), void *ctx)
{
    char **names;
    size_t n;
    int rc = list_batches(dir, &names, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        client_batch *b = read_batch(path, names[i]);
        if (b)
            add(ctx, b);
        else
            fprintf(stderr, "spool: skipping unreadable %s\n", path);
        free(names[i]);
    }
    free(names);
    return 0;
}
