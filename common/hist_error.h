/*
 * hist_error.h: the error codes every Historian module returns.
 *
 * Convention (as in libuv and LMDB): a function returns 0 or a positive
 * count on success and a negative HIST_E* code on failure; hist_strerror()
 * names a code for logs and protocol error messages. Codes are stable: they
 * travel in WriteResponse errors and must not be renumbered.
 */
#ifndef HIST_COMMON_ERROR_H
#define HIST_COMMON_ERROR_H

enum hist_error {
    HIST_OK = 0,
    HIST_EINVAL = -1,        /* an argument or a request field breaks a rule */
    HIST_ENOMEM = -2,        /* an allocation failed */
    HIST_EIO = -3,           /* a read, write or sync failed (errno logged) */
    HIST_ECORRUPT = -4,      /* a file or record failed its checksum or format check */
    HIST_ENOTFOUND = -5,     /* no such tag, chunk or key */
    HIST_EEXIST = -6,        /* already exists */
    HIST_ETYPE = -7,         /* a value type conflicts with the tag's type */
    HIST_ERANGE = -8,        /* a number (timestamp, size) is outside its allowed range */
    HIST_ENOSPC = -9,        /* an output buffer or a limit is too small */
    HIST_EINDEX = -10,       /* the LMDB index refused an operation */
    HIST_ECLOSED = -11,      /* the database or connection is closing */
    HIST_ENAME = -12,        /* a tag name breaks the naming rules */
    HIST_EAUTH = -13,        /* missing or insufficient credentials */
    HIST_ETOOBIG = -14,      /* a frame, request or batch exceeds its limit */
    HIST_EPROTO = -15,       /* a message does not decode */
    HIST_EUNSUPPORTED = -16, /* a valid request this build cannot serve */
    HIST_EBUSY = -17,        /* a resource is in use; try again */
    HIST_EDISKFULL = -18,    /* no space left on the device (or a quota or file-size limit) */
};

/* A short lower-case name for an error code ("corrupt data"); never NULL. */
const char *hist_strerror(int code);

#endif
