/*
 * error.c: names for the HIST_E* codes declared in hist_error.h.
 */
#include "common/hist_error.h"

const char *hist_strerror(int code)
{
    switch (code) {
    case HIST_OK:
        return "ok";
    case HIST_EINVAL:
        return "invalid argument";
    case HIST_ENOMEM:
        return "out of memory";
    case HIST_EIO:
        return "i/o error";
    case HIST_ECORRUPT:
        return "corrupt data";
    case HIST_ENOTFOUND:
        return "not found";
    case HIST_EEXIST:
        return "already exists";
    case HIST_ETYPE:
        return "value type conflicts with the tag's type";
    case HIST_ERANGE:
        return "out of range";
    case HIST_ENOSPC:
        return "no space left in buffer or limit";
    case HIST_EINDEX:
        return "index error";
    case HIST_ECLOSED:
        return "closed";
    case HIST_ENAME:
        return "invalid tag name";
    case HIST_EAUTH:
        return "not authorized";
    case HIST_ETOOBIG:
        return "too big";
    case HIST_EPROTO:
        return "malformed message";
    case HIST_EUNSUPPORTED:
        return "unsupported";
    case HIST_EBUSY:
        return "busy";
    case HIST_EDISKFULL:
        return "no space left on device";
    }
    return code > 0 ? "ok" : "unknown error";
}
