/*
 * io.h: durable writes through io_uring, or pwritev + fdatasync where the
 * kernel refuses io_uring (internal to storage/; used by the WAL and by
 * segment files).
 *
 * A hist_io is used by one thread at a time (it owns one ring). With
 * HIST_IO_AUTO, io__open() tries io_uring and falls back to the sync
 * backend, logging the reason once.
 */
#ifndef HIST_STORAGE_IO_H
#define HIST_STORAGE_IO_H

#include <sys/types.h>
#include <sys/uio.h>

#include "storage/hist_storage.h"

typedef struct hist_io hist_io;

int io__open(hist_io_mode mode, hist_log_fn log, void *log_ctx, hist_io **out);
void io__close(hist_io *io);

/* "io_uring" or "sync". */
const char *io__backend(const hist_io *io);

/* Writes all of iov at offset; with sync != 0 the data is durable
 * (fdatasync, linked after the write on io_uring) when this returns. */
int io__pwritev(hist_io *io, int fd, const struct iovec *iov, int iovcnt, off_t offset, int sync);

/* Makes earlier writes to fd durable (fdatasync). */
int io__fdatasync(hist_io *io, int fd);

#endif
