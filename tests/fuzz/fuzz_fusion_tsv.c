/*
 * fuzz_fusion_tsv.c - libFuzzer harness for the fusion feature-table
 * reader (streamed from a file, so chunk refills are exercised) and the
 * labels reader, on the same bytes, with injected allocation failures.
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx__ftab t;
    struct mmdx__labels l;
    const char *path;
    char *copy;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".tsv");
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 23));
        st = mmdx__ftab_load(ctx, path, &t);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        if (!st) {
            /* every row has a non-empty id and ncols cells */
            if (t.ids.n != t.nrows)
                abort();
            mmdx__ftab_fini(&t);
        }
        unlink(path);
    }
    mmdx_ctx_clear_error(ctx);
    copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, data, size);
        copy[size] = '\0';
        st = mmdx__labels_parse(ctx, "labels.tsv", copy, size, &l);
        fuzz_check_error(ctx, st);
        mmdx__labels_fini(&l);
        free(copy);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
