/* buf.c - refcounted payloads for voxels, samples and matrices (AVBuffer). */
#include "core/common.h"

enum mmdx_status mmdx__buf_new(struct mmdx_ctx *ctx, size_t size,
                               struct mmdx_buf **out)
{
    struct mmdx_buf *b;

    *out = NULL;
    b = mmdx__calloc(1, sizeof(*b));
    if (!b)
        return mmdx__nomem(ctx);
    b->data = mmdx__malloc(size);
    if (!b->data) {
        mmdx__free(b);
        return mmdx__nomem(ctx);
    }
    b->size = size;
    __atomic_store_n(&b->refcount_, 1, __ATOMIC_RELAXED);
    *out = b;
    return MMDX_OK;
}

struct mmdx_buf *mmdx__buf_ref(struct mmdx_buf *b)
{
    if (b)
        __atomic_add_fetch(&b->refcount_, 1, __ATOMIC_RELAXED);
    return b;
}

void mmdx__buf_unref(struct mmdx_buf **pb)
{
    struct mmdx_buf *b = *pb;

    *pb = NULL;
    if (!b)
        return;
    if (__atomic_sub_fetch(&b->refcount_, 1, __ATOMIC_ACQ_REL) == 0) {
        mmdx__free(b->data);
        mmdx__free(b);
    }
}

enum mmdx_status mmdx__buf_make_writable(struct mmdx_ctx *ctx,
                                         struct mmdx_buf **pb)
{
    struct mmdx_buf *copy;
    enum mmdx_status st;

    if (__atomic_load_n(&(*pb)->refcount_, __ATOMIC_ACQUIRE) == 1)
        return MMDX_OK;
    st = mmdx__buf_new(ctx, (*pb)->size, &copy);
    if (st)
        return st;
    memcpy(copy->data, (*pb)->data, (*pb)->size);
    mmdx__buf_unref(pb);
    *pb = copy;
    return MMDX_OK;
}
