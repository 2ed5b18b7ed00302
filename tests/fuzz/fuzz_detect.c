/*
 * fuzz_detect.c - libFuzzer harness for content-based format detection
 * (src/io/detect.c): the EDF/BDF header sniff, the WFDB record and signal
 * line sniff, the XML root scan, then the reader the detected format
 * leads to through the ECG loader, which must report any failure as an
 * error with a message.
 */
#include "core/common.h"
#include "io/ecg_load.h"
#include "mmdx/format.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_signal *s = NULL;
    enum mmdx_format f = MMDX_FMT_UNKNOWN;
    const char *want[] = { "II" };
    const char *path;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    path = fuzz_file(data, size, ".in");
    if (path) {
        st = mmdx_detect(ctx, path, &f);
        fuzz_check_error(ctx, st);
        (void)mmdx_detect_modality(ctx, path, NULL);
        mmdx_ctx_clear_error(ctx);
        if (f == MMDX_FMT_EDF || f == MMDX_FMT_EDFPLUS ||
            f == MMDX_FMT_BDF || f == MMDX_FMT_BDFPLUS ||
            f == MMDX_FMT_WFDB_HEADER || f == MMDX_FMT_AECG_XML) {
            st = mmdx__ecg_load_ex(ctx, path, want, 1, true, NULL, &s);
            fuzz_check_error(ctx, st);
            mmdx__signal_free(s);
        }
        unlink(path);
    }
    mmdx_ctx_free(ctx);
    return 0;
}
