/* fuzz_util.h - shared by the libFuzzer harnesses. */
#ifndef MMDX_FUZZ_UTIL_H
#define MMDX_FUZZ_UTIL_H

#include "core/common.h"

#include <fcntl.h>
#include <unistd.h>

/* Write the input to a per-process temporary file (the readers take
 * paths) and return its path, or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size,
                                    const char *suffix)
{
    static char path[128];
    int fd;

    snprintf(path, sizeof(path), "/tmp/mmdx-fuzz-%d%s", (int)getpid(),
             suffix);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

/* After a failed call: the context must say why (a status other than OK
 * and a message), or the harness aborts. */
static inline void fuzz_check_error(struct mmdx_ctx *ctx,
                                    enum mmdx_status st)
{
    const struct mmdx_error *e = mmdx_ctx_last_error(ctx);

    if (st != MMDX_OK && (e->status == MMDX_OK || !e->message[0]))
        abort();
}

#endif
