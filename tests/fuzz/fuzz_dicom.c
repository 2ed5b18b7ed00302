/*
 * fuzz_dicom.c - libFuzzer harness for the DICOM loader: DCMTK parsing,
 * header checks, every decoder (RLE, JPEG, JPEG-LS through DCMTK, JPEG 2000
 * through OpenJPEG), rescale and colour conversion (every 3rd input read
 * as stored values instead: MMDX_DICOM_STORED_VALUES), identifying-attribute
 * collection; every 5th input also goes through the ECG waveform reader.
 * Every failure must be reported on the context; allocation failures are
 * injected on every 7th input. Seeds: shared/data/dicom.
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/signal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_dicom_file *f = NULL;
    struct mmdx_dicom_limits lim = { 1u << 24, 1u << 22 };
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    iter++;
    if (iter % 7 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 31));
    st = mmdx__dicom_read_mem(ctx, "fuzz.dcm", data, size, &lim,
                              iter % 3 == 0   ? MMDX_DICOM_HEADER_ONLY
                              : iter % 3 == 1 ? MMDX_DICOM_STORED_VALUES
                                              : 0,
                              &f);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (!st && (!f || !f->img))
        abort();
    mmdx__dicom_file_free(f);
    if (iter % 5 == 0) {
        const char *path = fuzz_file(data, size, ".dcm");
        struct mmdx_dicom_waveform w;

        if (path) {
            mmdx_ctx_clear_error(ctx);
            st = mmdx__dicom_read_waveform(ctx, path, &w);
            fuzz_check_error(ctx, st);
            if (!st)
                mmdx__dicom_waveform_fini(&w);
            unlink(path);
        }
    }
    mmdx_ctx_free(ctx);
    return 0;
}
