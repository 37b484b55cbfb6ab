/*
 * error.c: names for the HIST_E* codes, both made from HIST_ERRNO_MAP
 * (hist_error.h).
 */
#include "common/hist_error.h"

const char *hist_strerror(int code)
{
    switch (code) {
    case HIST_OK:
        return "ok";
#define HIST_ERROR_MSG_(name, value, msg)                                                          \
    case HIST_##name:                                                                              \
        return msg;
        HIST_ERRNO_MAP(HIST_ERROR_MSG_)
#undef HIST_ERROR_MSG_
    }
    return code > 0 ? "ok" : "unknown error";
}

const char *hist_errname(int code)
{
    switch (code) {
    case HIST_OK:
        return "HIST_OK";
#define HIST_ERROR_NAME_(name, value, msg)                                                         \
    case HIST_##name:                                                                              \
        return "HIST_" #name;
        HIST_ERRNO_MAP(HIST_ERROR_NAME_)
#undef HIST_ERROR_NAME_
    }
    return code > 0 ? "HIST_OK" : "HIST_E?";
}
