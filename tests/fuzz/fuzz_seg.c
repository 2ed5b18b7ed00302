/*
 * fuzz_seg.c - libFuzzer harness for the DICOM Segmentation reader
 * (mmdx__dicom_read_seg_mem: SegmentationType, SegmentSequence, the
 * per-frame / shared SegmentIdentificationSequence) and for
 * mmdx__seg_mask, which decodes the frames and places the chosen
 * segment's frames on a fixed axial 16 x 16 x 3 image by position (segment
 * chosen as none, "1", "2" or "Tumour" in turn), and every 3rd input
 * through the inspect lines (mmdx__seg_inspect). Every failure must be
 * reported on the context; allocation failures are injected on every 7th
 * input. Seeds: SEG objects written by mmdx__dicom_write_seg (as
 * tests/unit/test_masks.c writes them).
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/mask.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void kv_sink(void *user, const char *key, const char *value)
{
    (void)user;
    if (!key[0] || !value)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const labels[4] = { NULL, "1", "2", "Tumour" };
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_dicom_seg sg;
    struct mmdx_image *img = NULL, *m = NULL;
    struct mmdx_mask_label li;
    enum mmdx_mask_geom geom;
    enum mmdx_status st;
    size_t i;

    if (mmdx_ctx_new(&ctx))
        return 0;
    iter++;
    if (iter % 7 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 17));
    st = mmdx__dicom_read_seg_mem(ctx, "fuzz.dcm", data, size, &sg);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (st) {
        mmdx_ctx_free(ctx);
        return 0;
    }
    if (!sg.nseg || !sg.seg || (sg.nframes && !sg.frame_segment))
        abort();
    for (i = 0; i < sg.nseg; i++)
        if (!sg.seg[i].label || sg.seg[i].number < 1)
            abort();
    mmdx__dicom_seg_fini(&sg);
    img = mmdx__image_new();
    if (img && !mmdx__image_alloc(ctx, img, 16, 16, 3, 1, 0)) {
        img->pos_mm = mmdx__calloc(9, sizeof(double));
        if (img->pos_mm) {
            const char *path = fuzz_file(data, size, ".dcm");

            for (i = 0; i < 3; i++) {
                img->pos_mm[3 * i] = -4;
                img->pos_mm[3 * i + 1] = -4;
                img->pos_mm[3 * i + 2] = 2.0 * (double)i;
            }
            img->row_cos[0] = img->col_cos[1] = img->normal[2] = 1;
            img->spacing_mm[0] = img->spacing_mm[1] = 0.5;
            img->spacing_mm[2] = 2;
            img->has_orientation = true;
            if (path) {
                mmdx_ctx_clear_error(ctx);
                if (iter % 5 == 0)
                    mmdx__alloc_fail_at(1 + (unsigned long)(size % 23));
                st = mmdx__seg_mask_ex(ctx, path, img, labels[iter % 4],
                                       1u << 20, iter % 2 == 1, NULL, NULL,
                                       &m, &geom, &li);
                mmdx__alloc_fail_at(0);
                fuzz_check_error(ctx, st);
                if (!st && (!m || m->nx != 16 || m->ny != 16 || m->nz != 3))
                    abort();
                if (iter % 3 == 0) {
                    mmdx_ctx_clear_error(ctx);
                    st = mmdx__seg_inspect(ctx, path, kv_sink, NULL);
                    fuzz_check_error(ctx, st);
                }
                unlink(path);
            }
        }
    }
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
    return 0;
}
