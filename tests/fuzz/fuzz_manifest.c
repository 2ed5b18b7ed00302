/*
 * fuzz_manifest.c - libFuzzer harness for the cohort manifest reader.
 * Paths are not checked for existence (the fuzzer cannot make files), so
 * the parser, limits and duplicate detection are what is exercised.
 */
#include "core/common.h"
#include "mmdx/cohort.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_manifest *m = NULL;
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".tsv");
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 61));
        st = mmdx_manifest_read(ctx, path, false, &m);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        mmdx_manifest_free(m);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
