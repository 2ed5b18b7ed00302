/*
 * ctx.c - contexts: first-error-wins error records and level-tested logging.
 */
#include "core/common.h"

#include <libxml/xmlversion.h>
#include <openssl/opensslv.h>
#include <openjpeg.h>

#define CTX_MAGIC 0x6d6d6478u /* "mmdx" */

struct mmdx_ctx {
    unsigned magic;
    struct mmdx_error err;
    mmdx_log_fn log_fn;
    void *log_user;
    enum mmdx_log_level log_max;
    char *datadir;
};

enum mmdx_status mmdx_ctx_new(struct mmdx_ctx **out)
{
    struct mmdx_ctx *ctx;

    *out = NULL;
    ctx = mmdx__calloc(1, sizeof(*ctx));
    if (!ctx)
        return MMDX_E_NOMEM;
    ctx->magic = CTX_MAGIC;
    ctx->log_max = MMDX_LOG_WARN;
    *out = ctx;
    return MMDX_OK;
}

void mmdx_ctx_free(struct mmdx_ctx *ctx)
{
    if (!ctx)
        return;
    assert(ctx->magic == CTX_MAGIC);
    mmdx__free(ctx->datadir);
    ctx->magic = 0xdeadbeefu; /* poison: a later use trips the assert */
    mmdx__free(ctx);
}

void mmdx_ctx_set_log(struct mmdx_ctx *ctx, mmdx_log_fn fn, void *user,
                      enum mmdx_log_level max_level)
{
    assert(ctx && ctx->magic == CTX_MAGIC);
    ctx->log_fn = fn;
    ctx->log_user = user;
    ctx->log_max = max_level;
}

enum mmdx_status mmdx_ctx_set_datadir(struct mmdx_ctx *ctx, const char *dir)
{
    char *copy = NULL;

    assert(ctx && ctx->magic == CTX_MAGIC);
    if (dir) {
        copy = mmdx__strdup(dir);
        if (!copy)
            return mmdx__nomem(ctx);
    }
    mmdx__free(ctx->datadir);
    ctx->datadir = copy;
    return MMDX_OK;
}

const char *mmdx_ctx_datadir(const struct mmdx_ctx *ctx)
{
    return ctx->datadir ? ctx->datadir : MMDX_PKGDATADIR;
}

const struct mmdx_error *mmdx_ctx_last_error(const struct mmdx_ctx *ctx)
{
    return &ctx->err;
}

void mmdx_ctx_clear_error(struct mmdx_ctx *ctx)
{
    memset(&ctx->err, 0, sizeof(ctx->err));
}

void mmdx__ctx_copy_log(struct mmdx_ctx *dst, const struct mmdx_ctx *src)
{
    dst->log_fn = src->log_fn;
    dst->log_user = src->log_user;
    dst->log_max = src->log_max;
}

bool mmdx__ctx_has_error(const struct mmdx_ctx *ctx)
{
    return ctx && ctx->err.status != MMDX_OK;
}

enum mmdx_status mmdx__vfail_at(struct mmdx_ctx *ctx, enum mmdx_status st,
                                const char *stage, const char *path,
                                long line, const char *field,
                                const char *src_file, int src_line,
                                const char *fmt, va_list ap)
{
    struct mmdx_error *e;

    if (!ctx || st == MMDX_OK || ctx->err.status != MMDX_OK)
        return st;
    e = &ctx->err;
    e->status = st;
    mmdx__strlcpy(e->stage, stage ? stage : "", sizeof(e->stage));
    mmdx__strlcpy(e->path, path ? path : "", sizeof(e->path));
    e->line = line;
    mmdx__strlcpy(e->field, field ? field : "", sizeof(e->field));
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    e->src_file = src_file;
    e->src_line = src_line;
    return st;
}

enum mmdx_status mmdx__fail_at(struct mmdx_ctx *ctx, enum mmdx_status st,
                               const char *stage, const char *path,
                               long line, const char *field,
                               const char *src_file, int src_line,
                               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mmdx__vfail_at(ctx, st, stage, path, line, field, src_file, src_line,
                   fmt, ap);
    va_end(ap);
    return st;
}

char *mmdx_error_format(const struct mmdx_error *e, char *buf, size_t size)
{
    size_t used = 0;
    int n;

    if (size == 0)
        return buf;
    buf[0] = '\0';
#define APPEND(...)                                                          \
    do {                                                                     \
        if (used < size) {                                                   \
            n = snprintf(buf + used, size - used, __VA_ARGS__);              \
            if (n > 0)                                                       \
                used += (size_t)n;                                           \
        }                                                                    \
    } while (0)
    if (e->path[0]) {
        APPEND("%s", e->path);
        if (e->line > 0)
            APPEND(":%ld", e->line);
        APPEND(": ");
    }
    if (e->stage[0])
        APPEND("%s: ", e->stage);
    if (e->field[0])
        APPEND("%s: ", e->field);
    APPEND("%s", e->message[0] ? e->message : mmdx_status_str(e->status));
#undef APPEND
    return buf;
}

bool mmdx__log_enabled(const struct mmdx_ctx *ctx, enum mmdx_log_level lvl)
{
    return ctx && ctx->log_fn && lvl <= ctx->log_max;
}

void mmdx__log(struct mmdx_ctx *ctx, const void *obj,
               enum mmdx_log_level lvl, const char *fmt, ...)
{
    char msg[2048], prefix[128] = "";
    va_list ap;

    if (!mmdx__log_enabled(ctx, lvl))
        return;
    if (obj) {
        const struct mmdx_class *cls = *(const struct mmdx_class *const *)obj;

        if (cls && cls->item_name)
            cls->item_name(obj, prefix, sizeof(prefix));
        else if (cls)
            mmdx__strlcpy(prefix, cls->name, sizeof(prefix));
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, lvl, prefix, msg);
}

const char *mmdx_version(void)
{
    return PACKAGE_VERSION;
}

const char *mmdx_dependency_versions(void)
{
    /* Compile-time versions, except OpenJPEG, which reports at run time;
     * the string is built once per call site into static storage. */
    static _Thread_local char buf[512];

    snprintf(buf, sizeof(buf),
             "libxml2 %s\nopenssl %s\nopenjpeg %s\ndcmtk 3.6\n"
             "eeg-fft %s\n",
             LIBXML_DOTTED_VERSION, OPENSSL_VERSION_STR, opj_version(),
             MMDX_FFT_BACKEND);
    return buf;
}
