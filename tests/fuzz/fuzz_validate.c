/*
 * fuzz_validate.c - libFuzzer harness for the tables `mmdx validate`
 * reads: a user's features.tsv (copied with modality columns masked) and
 * a predictions table (patient_id, risk, ...), both from the same input.
 * Allocation failures are injected now and then; a failure must say why.
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "report/report_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    static char ecg[] = "ecg", record[] = "record";
    char *mods[2] = { ecg, record };
    struct mmdx_ctx *ctx = NULL;
    struct mmdx__model m;
    struct evrow ev[3] = { { "a", 0, 0 }, { "b", 1, 0 }, { "p1", 0, 0 } };
    char out[128];
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    memset(&m, 0, sizeof(m));
    m.nmod = 2;
    m.mod_names = mods;
    path = fuzz_file(data, size, ".tsv");
    snprintf(out, sizeof(out), "/tmp/mmdx-fuzz-%d-masked.tsv", (int)getpid());
    if (path) {
        if (++iter % 7 == 0)
            mmdx__alloc_fail_at(1 + (unsigned long)(size % 13));
        st = mmdx__validate_mask_features(ctx, path, out, &m,
                                          (unsigned)(size & 3));
        mmdx__alloc_fail_at(0);
        fuzz_check_error(ctx, st);
        mmdx_ctx_clear_error(ctx);
        st = mmdx__validate_read_predictions(ctx, path, ev, 3);
        fuzz_check_error(ctx, st);
        unlink(out);
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
