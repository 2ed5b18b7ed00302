/*
 * fuzz_rtstruct.c - libFuzzer harness for the DICOM RTSTRUCT contour
 * reader (DCMTK parsing, ROI choice, ContourSequence / ContourData checks)
 * and the rasteriser: the input is read twice (the first ROI, and an ROI
 * by name), and a file that reads is also rasterised onto a fixed axial
 * 32 x 32 x 8 image through the same path load.image uses. Every failure
 * must be reported on the context; allocation failures are injected on
 * every 7th input. Seeds: RT Structure Sets written by
 * mmdx__dicom_write_rtstruct (tests/unit/test_imgroi.c makes them; see
 * docs/image-features.md).
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/mask.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_dicom_rtstruct rt;
    struct mmdx_image *img = NULL, *m = NULL;
    enum mmdx_status st;
    struct mmdx_rt_stats nc;

    if (mmdx_ctx_new(&ctx))
        return 0;
    iter++;
    if (iter % 7 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 17));
    st = mmdx__dicom_read_rtstruct_mem(ctx, "fuzz.dcm", data, size,
                                       iter % 2 ? NULL : "gtv", &rt);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (!st) {
        size_t i;

        for (i = 0; i < rt.ncontours; i++)
            if (!rt.c[i].pts_mm || !rt.c[i].npts)
                abort();
        mmdx__dicom_rtstruct_fini(&rt);
        img = mmdx__image_new();
        if (img && !mmdx__image_alloc(ctx, img, 32, 32, 8, 1, 0)) {
            img->pos_mm = mmdx__calloc(24, sizeof(double));
            if (img->pos_mm) {
                const char *path = fuzz_file(data, size, ".dcm");

                for (i = 0; i < 8; i++)
                    img->pos_mm[3 * i + 2] = 2.5 * (double)i;
                img->row_cos[0] = img->col_cos[1] = img->normal[2] = 1;
                img->spacing_mm[0] = img->spacing_mm[1] = 1;
                img->spacing_mm[2] = 2.5;
                img->has_orientation = true;
                if (path) {
                    mmdx_ctx_clear_error(ctx);
                    st = mmdx__rtstruct_mask(ctx, path, img, NULL, NULL,
                                             NULL, &m, &nc);
                    fuzz_check_error(ctx, st);
                    unlink(path);
                }
            }
        }
    }
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
    return 0;
}
