/*
 * fuzz_pipeline.c - libFuzzer harness for the pipeline loader (hardened
 * XML, schema validation, registry and parameter checks). Every failure
 * must be reported on the context; allocation failures are injected on
 * every 7th input.
 */
#include "core/common.h"
#include "mmdx/pipeline.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_pipeline *p = NULL;
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    mmdx_ctx_set_datadir(ctx, MMDX_SRCDIR);
    path = fuzz_file(data, size, ".xml");
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 97));
        st = mmdx_pipeline_load(ctx, path, &p);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        mmdx_pipeline_free(p);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
