/*
 * nifti_inspect.c - `mmdx inspect` for NIfTI-1 files (.nii, .nii.gz):
 * what a reader needs to know before using one as a mask - grid, voxel
 * type, spacing, which geometry it carries, and the labels of a label
 * image with their voxel counts. The free-text fields descrip and
 * aux_file may name a patient (docs/privacy.md): only whether they are
 * filled is said, never what they hold.
 */
#include "core/common.h"
#include "io/mask.h"

#define MAX_LABELS 256   /* listed one by one; more: a count */

static const char *type_name(int t)
{
    switch (t) {
    case 2: return "uint8";
    case 4: return "int16";
    case 8: return "int32";
    case 16: return "float32";
    case 64: return "float64";
    case 256: return "int8";
    case 512: return "uint16";
    case 768: return "uint32";
    default: return "other";
    }
}

/* NIfTI-1 xform codes (nifti1.h). */
static const char *xform_name(int c)
{
    switch (c) {
    case 0: return "0 (unknown)";
    case 1: return "1 (scanner)";
    case 2: return "2 (aligned)";
    case 3: return "3 (talairach)";
    case 4: return "4 (mni_152)";
    default: return "other";
    }
}

/* "1:192 2:9 5:1" (label:voxels) for the labels of img. */
static enum mmdx_status label_lines(struct mmdx_ctx *ctx,
                                    const struct mmdx_image *img,
                                    mmdx_kv_fn fn, void *user)
{
    size_t n = img->nx * img->ny * img->nz, i, nl, *cnt = NULL, zero = 0;
    long *labels = NULL;
    bool more, integer;
    struct mmdx_dstr d;
    char num[64];
    float lo = 0, hi = 0;
    enum mmdx_status st;

    st = mmdx__mask_scan_labels(ctx, img->vox, n, MAX_LABELS, &labels, &nl,
                                &more, &integer);
    if (st)
        return st;
    for (i = 0; i < n; i++) {
        float v = img->vox[i];

        zero += v == 0;
        lo = i ? fminf(lo, v) : v;
        hi = i ? fmaxf(hi, v) : v;
    }
    if (!integer || more) {
        mmdx__free(labels);
        snprintf(num, sizeof(num), "%.6g .. %.6g", (double)lo, (double)hi);
        fn(user, "value_range", num);
        fn(user, "labels", !integer ? "- (values are not all whole numbers)"
                                    : "- (more than 256 distinct values)");
        return MMDX_OK;
    }
    cnt = mmdx__calloc(nl ? nl : 1, sizeof(size_t));
    if (!cnt) {
        mmdx__free(labels);
        return mmdx__nomem(ctx);
    }
    for (i = 0; i < n; i++) {
        long v = (long)img->vox[i];
        size_t a = 0, b = nl;

        if (img->vox[i] == 0)
            continue;
        while (a < b) {
            size_t mid = a + (b - a) / 2;

            if (labels[mid] < v)
                a = mid + 1;
            else
                b = mid;
        }
        if (a < nl && labels[a] == v)
            cnt[a]++;
    }
    snprintf(num, sizeof(num), "%zu", nl);
    fn(user, "label_count", num);
    mmdx__dstr_init(&d, 16384);
    for (i = 0; i < nl && !st; i++)
        st = mmdx__dstr_addf(&d, "%s%ld:%zu", i ? " " : "", labels[i],
                             cnt[i]);
    if (st) {
        st = mmdx__nomem(ctx);
    } else {
        fn(user, "labels", nl ? d.s : "- (all voxels 0)");
        snprintf(num, sizeof(num), "%zu", zero);
        fn(user, "background_voxels", num);
    }
    mmdx__dstr_fini(&d);
    mmdx__free(cnt);
    mmdx__free(labels);
    return st;
}

enum mmdx_status mmdx__nifti_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user)
{
    struct mmdx_nifti_hdr h;
    struct mmdx_image *img = NULL;
    char *data = NULL, num[160];
    size_t len = 0;
    bool gz;
    enum mmdx_status st;

    MMDX_UNUSED(fmt);
    st = mmdx__file_read(ctx, path, (size_t)MMDX_DICOM_MAX_FILE_BYTES, &data,
                         &len);
    if (st)
        return st;
    gz = len >= 2 && (uint8_t)data[0] == 0x1f && (uint8_t)data[1] == 0x8b;
    st = mmdx__nifti_header(ctx, path, (const uint8_t *)data, len, &h);
    if (st)
        goto out;
    fn(user, "nifti.compression", gz ? "gzip" : "none");
    fn(user, "nifti.byte_order", h.big_endian ? "big-endian"
                                              : "little-endian");
    snprintf(num, sizeof(num), "%zu %zu %zu", h.dim[0], h.dim[1], h.dim[2]);
    fn(user, "dims", num);
    snprintf(num, sizeof(num), "%d (%s)", h.datatype,
             type_name(h.datatype));
    fn(user, "nifti.datatype", num);
    snprintf(num, sizeof(num), "%.6g %.6g %.6g", h.pixdim[0], h.pixdim[1],
             h.pixdim[2]);
    fn(user, "pixdim_mm", num);
    snprintf(num, sizeof(num), "%.9g %.9g", h.slope, h.inter);
    fn(user, "nifti.scl_slope_inter", num);
    fn(user, "nifti.qform_code", xform_name(h.qform_code));
    fn(user, "nifti.sform_code", xform_name(h.sform_code));
    fn(user, "nifti.geometry", h.sform_code > 0   ? "sform"
                               : h.qform_code > 0 ? "qform"
                                                  : "none (matched to an "
                                                    "image by dimensions)");
    if (h.descrip[0] || h.aux_file[0])
        snprintf(num, sizeof(num), "%s%s%s (contents not shown: free text, "
                 "reported to check.deid)", h.descrip[0] ? "descrip" : "",
                 h.descrip[0] && h.aux_file[0] ? ", " : "",
                 h.aux_file[0] ? "aux_file" : "");
    else
        snprintf(num, sizeof(num), "none");
    fn(user, "nifti.free_text", num);
    st = mmdx__nifti_decode(ctx, path, (const uint8_t *)data, len, 0, &img);
    if (st)
        goto out;
    st = label_lines(ctx, img, fn, user);
out:
    mmdx__image_free(img);
    mmdx__free(data);
    return st;
}
