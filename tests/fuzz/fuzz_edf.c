/*
 * fuzz_edf.c - libFuzzer harness for the EDF/EDF+/BDF reader: the header
 * parser on the bytes as they are, then (when the header holds) a whole
 * read through a file: record cache, sample decoding, TAL parsing, lazy
 * and loaded signals. Allocation failures are injected now and then and
 * must be reported, never crash or leak.
 */
#include "core/common.h"
#include "io/edf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_edf *e = NULL;
    struct mmdx_signal *s = NULL;
    struct mmdx_edf_opts o = { "uV", false, false };
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    st = mmdx__edf_parse_header(ctx, "fuzz.edf", data, size, size, &e);
    fuzz_check_error(ctx, st);
    if (st || !e) {
        mmdx_ctx_free(ctx);
        return 0;
    }
    mmdx__edf_close(e);
    mmdx_ctx_free(ctx);
    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".edf");
    if (path) {
        o.lazy = (size & 1) != 0;
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 23));
        st = mmdx__edf_read(ctx, path, &o, &s);
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        if (!st && s && s->nch && s->ch[0].n) {
            double v[64];
            size_t n = s->ch[0].n < 64 ? s->ch[0].n : 64;

            st = mmdx__signal_read(ctx, s, 0, s->ch[0].n - n, n, v);
            fuzz_check_error(ctx, st);
        }
        mmdx__signal_free(s);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
