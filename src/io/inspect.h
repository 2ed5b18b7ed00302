/*
 * inspect.h - per-format inspection hooks used by mmdx_inspect().
 * Each reader area adds its function to the table in inspect.c.
 */
#ifndef MMDX_INSPECT_H
#define MMDX_INSPECT_H

#include "core/common.h"
#include "mmdx/format.h"

/* Report key/value facts about path (no identifying values). */
typedef enum mmdx_status (*mmdx__inspect_fn)(struct mmdx_ctx *ctx,
                                             const char *path,
                                             enum mmdx_format fmt,
                                             mmdx_kv_fn fn, void *user);

#endif
