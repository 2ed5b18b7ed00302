/*
 * fuzz_wfdb_ann.c - libFuzzer harness for the MIT annotation parser; what
 * parses and can be written must come back identical after encoding.
 */
#include "core/common.h"
#include "io/wfdb.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_wfdb_annset a, b;
    enum mmdx_status st;
    unsigned char *enc = NULL;
    size_t len, i;

    if (mmdx_ctx_new(&ctx))
        return 0;
    if (++iter % 7 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 17));
    st = mmdx__wfdb_ann_parse(ctx, "f.atr", data, size, &a);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (!st) {
        mmdx_ctx_clear_error(ctx);
        if (mmdx__wfdb_ann_encode(ctx, &a, &enc, &len) == MMDX_OK) {
            if (mmdx__wfdb_ann_parse(ctx, "enc", enc, len, &b) != MMDX_OK ||
                b.n != a.n)
                abort();
            for (i = 0; i < a.n; i++)
                if (a.a[i].sample != b.a[i].sample ||
                    a.a[i].code != b.a[i].code ||
                    a.a[i].chan != b.a[i].chan || a.a[i].num != b.a[i].num)
                    abort();
            mmdx__wfdb_annset_fini(&b);
        }
        mmdx__free(enc);
        mmdx__wfdb_annset_fini(&a);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
