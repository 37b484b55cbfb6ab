/*
 * hist_error.h: the error codes every Historian module returns.
 *
 * Convention (as in libuv and LMDB): a function returns 0 or a positive
 * count on success and a negative HIST_E* code on failure; hist_strerror()
 * names a code for logs and protocol error messages, hist_errname() gives
 * its symbol ("HIST_ECORRUPT") for triage. Codes are stable: they travel in
 * WriteResponse errors and must not be renumbered.
 *
 * One list, HIST_ERRNO_MAP, makes the enum and both name functions (the
 * habit of libuv's UV_ERRNO_MAP), so a new code cannot lack a name.
 */
#ifndef HIST_COMMON_ERROR_H
#define HIST_COMMON_ERROR_H

/* X(name, value, message) */
#define HIST_ERRNO_MAP(X)                                                                          \
    X(EINVAL, -1, "invalid argument") /* an argument or a request field breaks a rule */           \
    X(ENOMEM, -2, "out of memory")    /* an allocation failed */                                   \
    X(EIO, -3, "i/o error")           /* a read, write or sync failed (errno logged) */            \
    X(ECORRUPT, -4, "corrupt data")   /* a checksum or format check failed */                      \
    X(ENOTFOUND, -5, "not found")     /* no such tag, chunk or key */                              \
    X(EEXIST, -6, "already exists")                                                                \
    X(ETYPE, -7, "value type conflicts with the tag's type")                                       \
    X(ERANGE, -8, "out of range")                     /* a timestamp or size outside its range */  \
    X(ENOSPC, -9, "no space left in buffer or limit") /* an output buffer or limit too small */    \
    X(EINDEX, -10, "index error")                     /* the LMDB index refused an operation */    \
    X(ECLOSED, -11, "closed")                         /* the database or connection is closing */  \
    X(ENAME, -12, "invalid tag name")                 /* a tag name breaks the naming rules */     \
    X(EAUTH, -13, "not authorized")                   /* missing or insufficient credentials */    \
    X(ETOOBIG, -14, "too big")                   /* a frame, request or batch over its limit */    \
    X(EPROTO, -15, "malformed message")          /* a message does not decode */                   \
    X(EUNSUPPORTED, -16, "unsupported")          /* a valid request this build cannot serve */     \
    X(EBUSY, -17, "busy")                        /* a resource is in use; try again */             \
    X(EDISKFULL, -18, "no space left on device") /* the disk, a quota or a file-size limit */      \
    X(ETIMEDOUT, -19, "time budget exceeded")    /* a request ran past its deadline */

enum hist_error {
    HIST_OK = 0,
#define HIST_ERROR_ENUM_(name, value, msg) HIST_##name = value,
    HIST_ERRNO_MAP(HIST_ERROR_ENUM_)
#undef HIST_ERROR_ENUM_
};

/* A short lower-case name for an error code ("corrupt data"); never NULL. */
const char *hist_strerror(int code);

/* The code's symbol ("HIST_ECORRUPT", "HIST_OK"); "HIST_E?" when unknown. */
const char *hist_errname(int code);

#endif
