/*
 * mmdx/core.h - the context: errors, logging and configuration.
 *
 * A context carries the first error of the current call, the log callback
 * and explicit configuration (the library reads no environment variable).
 * A context is used by one thread at a time; the batch runner gives each
 * worker its own.
 */
#ifndef MMDX_CORE_H
#define MMDX_CORE_H

#include <stddef.h>
#include <stdint.h>
#include "mmdx/export.h"
#include "mmdx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mmdx_ctx;

enum mmdx_log_level {
    MMDX_LOG_ERROR = 0,
    MMDX_LOG_WARN = 1,
    MMDX_LOG_INFO = 2,
    MMDX_LOG_DEBUG = 3
};

/* Details of the first failure within a call. All strings are NUL-terminated
 * and hold no identifying patient value. */
struct mmdx_error {
    enum mmdx_status status;
    char stage[64];       /* stage or component ("io.wfdb"), may be "" */
    char path[1024];      /* input file, may be "" */
    long line;            /* 1-based line/record; 0 = not applicable */
    char field[128];      /* field or element, may be "" */
    char message[1024];   /* what is wrong, no trailing newline */
    const char *src_file; /* raising source file (debug aid) */
    int src_line;
};

/**
 * Log callback. Called from the thread that logs; must be thread-safe when
 * several contexts share it.
 * @param prefix the logging object's name ("ecg.features#2"), or "".
 */
typedef void (*mmdx_log_fn)(void *user, enum mmdx_log_level level,
                            const char *prefix, const char *msg);

/**
 * Create a context.
 * @param out receives the context; NULL on failure.
 * @return MMDX_OK or MMDX_E_NOMEM. Free with mmdx_ctx_free().
 */
MMDX_API enum mmdx_status mmdx_ctx_new(struct mmdx_ctx **out);

/** Free a context; NULL is a no-op. */
MMDX_API void mmdx_ctx_free(struct mmdx_ctx *ctx);

/** Route log lines at or below @p max_level to @p fn (NULL: discard). */
MMDX_API void mmdx_ctx_set_log(struct mmdx_ctx *ctx, mmdx_log_fn fn,
                               void *user, enum mmdx_log_level max_level);

/**
 * Set the folder holding schemas/, pipelines/ and data files.
 * @param dir borrowed; copied. NULL restores the installed default.
 * @return MMDX_OK or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_ctx_set_datadir(struct mmdx_ctx *ctx,
                                               const char *dir);

/** The data folder in use (never NULL; owned by the context). */
MMDX_API const char *mmdx_ctx_datadir(const struct mmdx_ctx *ctx);

/** The first error since the last mmdx_ctx_clear_error(); status OK if none.
 * Owned by the context. */
MMDX_API const struct mmdx_error *mmdx_ctx_last_error(const struct mmdx_ctx *ctx);

/** Forget the recorded error. */
MMDX_API void mmdx_ctx_clear_error(struct mmdx_ctx *ctx);

/**
 * Format an error as one line: "path:line: stage: field: message".
 * @return @p buf.
 */
MMDX_API char *mmdx_error_format(const struct mmdx_error *err, char *buf,
                                 size_t size);

/** The library version ("0.1.0"). */
MMDX_API const char *mmdx_version(void);

/** Versions of the libraries mmdx is built on, one "name version" a line. */
MMDX_API const char *mmdx_dependency_versions(void);

#ifdef __cplusplus
}
#endif

#endif
