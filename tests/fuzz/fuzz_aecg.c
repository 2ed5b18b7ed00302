/*
 * fuzz_aecg.c - libFuzzer harness for the HL7 aECG reader (through the
 * hardened XML parser), identifying-field reports included.
 */
#include "core/common.h"
#include "io/aecg.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum mmdx_status count_id(void *user, const char *field,
                                 enum mmdx_id_kind kind, const char *value)
{
    (void)field;
    (void)kind;
    (void)value;
    ++*(size_t *)user;
    return MMDX_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_signal *s = NULL;
    enum mmdx_status st;
    size_t nid = 0;
    const char *path;

    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".xml");
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 53));
        st = mmdx__aecg_read(ctx, path, count_id, &nid, &s);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        mmdx__signal_free(s);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
