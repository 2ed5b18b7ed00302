/*
 * mmdx/status.h - status codes returned by every fallible mmdx function.
 *
 * Code numbers are permanent: never renumber or reuse one; retire a code
 * as MMDX_E_OBSOLETE_<n>.
 */
#ifndef MMDX_STATUS_H
#define MMDX_STATUS_H

#include "mmdx/export.h"

/* X(name, number, one-line description) */
#define MMDX_STATUS_MAP(X)                                                  \
    X(OK, 0, "success")                                                     \
    X(E_NOMEM, 1, "out of memory")                                          \
    X(E_INVAL, 2, "invalid argument")                                       \
    X(E_IO, 3, "input/output error")                                        \
    X(E_FORMAT, 4, "malformed input")                                       \
    X(E_UNSUPPORTED, 5, "unsupported input")                                \
    X(E_LIMIT, 6, "input exceeds a limit")                                  \
    X(E_NOTFOUND, 7, "not found")                                           \
    X(E_SCHEMA, 8, "document does not match its schema")                    \
    X(E_PIPELINE, 9, "invalid pipeline")                                    \
    X(E_BUSY, 10, "work still in flight")                                   \
    X(E_MISMATCH, 11, "inputs do not match")                                \
    X(E_PHI, 12, "identifying data found")                                  \
    X(E_INTERNAL, 13, "internal error")                                     \
    X(E_MISSING, 14, "required input missing")                              \
    X(E_QUALITY, 15, "signal or image quality too low")                     \
    X(E_USAGE, 16, "usage error")                                           \
    X(E_MODEL, 17, "invalid or mismatched model")

enum mmdx_status {
#define MMDX_STATUS_ENUM_(name, num, desc) MMDX_##name = num,
    MMDX_STATUS_MAP(MMDX_STATUS_ENUM_)
#undef MMDX_STATUS_ENUM_
    MMDX_STATUS_COUNT_
};

/**
 * The symbolic name of a status ("E_FORMAT").
 * @param st a status; unknown values give "E_UNKNOWN".
 * @return a static string; never NULL.
 */
MMDX_API const char *mmdx_status_name(enum mmdx_status st);

/**
 * A one-line description of a status ("malformed input").
 * @param st a status; unknown values give "unknown status".
 * @return a static string; never NULL.
 */
MMDX_API const char *mmdx_status_str(enum mmdx_status st);

#endif
