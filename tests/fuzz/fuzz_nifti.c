/*
 * fuzz_nifti.c - libFuzzer harness for the NIfTI-1 mask reader: header
 * validation (both byte orders), gzip inflation (members, truncation),
 * voxel conversion and geometry; every decoded mask is also aligned onto a
 * fixed image (flips/permutations, sub-grids, refusals). Every failure
 * must be reported on the context; allocation failures are injected on
 * every 7th input; every 3rd goes through the file reader with its
 * identifying-field reports and through `mmdx inspect`'s NIfTI hook.
 * Detection by content and the label selection of multi-label masks
 * (mask_label: none, "1", or a label taken from the input) run on every
 * input / decoded mask. Seeds: shared/data/ibsi/digital_phantom/nifti
 * (and their decompressed copies).
 */
#include "core/common.h"
#include "io/mask.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void kv_sink(void *user, const char *key, const char *value)
{
    (void)user;
    if (!key[0] || !value)
        abort();
}

static enum mmdx_status count_id(void *user, const char *file,
                                 const char *field, int kind,
                                 const char *value)
{
    (void)file;
    (void)kind;
    if (!field[0] || !value)
        abort();
    ++*(int *)user;
    return MMDX_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long iter;
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_image *m = NULL, *img = NULL, *al = NULL;
    struct mmdx_nifti_hdr h;
    enum mmdx_mask_geom geom;
    enum mmdx_status st;

    if (mmdx_ctx_new(&ctx))
        return 0;
    iter++;
    st = mmdx__nifti_parse_header(ctx, "fuzz.nii", data, size, 1u << 20, &h);
    fuzz_check_error(ctx, st);
    mmdx_ctx_clear_error(ctx);
    if (iter % 7 == 0)
        mmdx__alloc_fail_at(1 + (unsigned long)(size % 13));
    st = mmdx__nifti_decode(ctx, "fuzz.nii", data, size, 1u << 20, &m);
    mmdx__alloc_fail_at(0);
    fuzz_check_error(ctx, st);
    if (!st && (!m || !m->vox))
        abort();
    if (!st && !mmdx__nifti_detect(data, size))
        abort();   /* what decodes is detected as NIfTI */
    if (!st) {
        struct mmdx_mask_label li;
        char lab[24];
        size_t i;

        snprintf(lab, sizeof(lab), "%u", size ? 1u + data[size - 1] % 7 : 1u);
        mmdx_ctx_clear_error(ctx);
        st = mmdx__mask_select_label(ctx, "fuzz.nii", "NIfTI-1", m,
                                     iter % 3 == 0 ? NULL
                                     : iter % 3 == 1 ? "1" : lab, &li);
        fuzz_check_error(ctx, st);
        if (!st && li.used)
            for (i = 0; i < m->nx * m->ny * m->nz; i++)
                if (m->vox[i] != 0.0f && m->vox[i] != 1.0f)
                    abort();
        st = MMDX_OK;
    }
    if (!st) {
        /* a 5 x 4 x 4 image, axial at 2 mm: what the phantom would be */
        img = mmdx__image_new();
        if (img && !mmdx__image_alloc(ctx, img, 5, 4, 4, 1, 0)) {
            img->pos_mm = mmdx__calloc(12, sizeof(double));
            if (img->pos_mm) {
                size_t k;

                for (k = 0; k < 4; k++)
                    img->pos_mm[3 * k + 2] = 2.0 * (double)k;
                img->row_cos[0] = img->col_cos[1] = img->normal[2] = 1;
                img->spacing_mm[0] = img->spacing_mm[1] = 2;
                img->spacing_mm[2] = 2;
                img->has_orientation = true;
            }
            mmdx_ctx_clear_error(ctx);
            st = mmdx__mask_align_ex(ctx, "fuzz.nii", img, m, iter % 2 == 1,
                                     &al, &geom);
            fuzz_check_error(ctx, st);
            if (!st && (!al || al->nx != 5 || al->ny != 4 || al->nz != 4))
                abort();
        }
    }
    if (iter % 3 == 0) {
        const char *path = fuzz_file(data, size, ".nii");
        struct mmdx_image *f = NULL;
        int nids = 0;

        if (path) {
            mmdx_ctx_clear_error(ctx);
            st = mmdx__nifti_load(ctx, path, 1u << 20, count_id, &nids, &f);
            fuzz_check_error(ctx, st);
            mmdx_ctx_clear_error(ctx);
            st = mmdx__nifti_inspect(ctx, path, MMDX_FMT_NIFTI, kv_sink,
                                     NULL);
            fuzz_check_error(ctx, st);
            mmdx__image_free(f);
            unlink(path);
        }
    }
    mmdx__image_free(al);
    mmdx__image_free(img);
    mmdx__image_free(m);
    mmdx_ctx_free(ctx);
    return 0;
}
