/*
 * mask_load.c - the region-of-interest mask of an image, whatever file
 * holds it (NIfTI-1, DICOM RTSTRUCT, DICOM SEG or mask image), put on the
 * image's voxel grid.
 *
 * A mask with its own geometry (a NIfTI sform/qform) is mapped onto the
 * image through both voxel-to-patient transforms: every mask axis must
 * run along an image axis (either direction) with the image's spacing, and
 * the voxel centres must coincide (0.1 voxel tolerance over the whole
 * extent); the mask may cover part of the image (the rest is outside).
 * That undoes the axis flips NIfTI converters make. Without geometry on
 * one side the dimensions must match in order, and the flag says the
 * geometry was not checked. With load.image's mask_resample=nearest a
 * mask on another grid is resampled instead of refused (resample_nearest:
 * nearest neighbour, halves away from zero, 0 beyond the mask grid).
 */
#include "core/common.h"
#include "mmdx/format.h"
#include "io/mask.h"
#include "pipeline/stage.h"

#define STAGE "load.image"
#define TOL 0.1   /* voxels */

bool mmdx__image_frame(const struct mmdx_image *m, double B[3][3],
                       double o[3], double zstep_hint)
{
    double zs;
    int r;

    if (!m->has_orientation || !m->pos_mm || !(m->spacing_mm[0] > 0) ||
        !(m->spacing_mm[1] > 0))
        return false;
    for (r = 0; r < 3; r++) {
        B[r][0] = m->row_cos[r] * m->spacing_mm[0];
        B[r][1] = m->col_cos[r] * m->spacing_mm[1];
        o[r] = m->pos_mm[r];
    }
    if (m->nz > 1) {
        for (r = 0; r < 3; r++)
            B[r][2] = (m->pos_mm[3 * (m->nz - 1) + r] - m->pos_mm[r]) /
                      (double)(m->nz - 1);
    } else {
        zs = zstep_hint > 0 ? zstep_hint
             : m->spacing_mm[2] > 0 ? m->spacing_mm[2]
             : m->slice_thickness_mm > 0 ? m->slice_thickness_mm : 1.0;
        for (r = 0; r < 3; r++)
            B[r][2] = m->normal[r] * zs;
    }
    return true;
}

bool mmdx__inverse3(const double A[3][3], double I[3][3])
{
    double det, sc = 0;
    int r, c;

    I[0][0] = A[1][1] * A[2][2] - A[1][2] * A[2][1];
    I[0][1] = A[0][2] * A[2][1] - A[0][1] * A[2][2];
    I[0][2] = A[0][1] * A[1][2] - A[0][2] * A[1][1];
    I[1][0] = A[1][2] * A[2][0] - A[1][0] * A[2][2];
    I[1][1] = A[0][0] * A[2][2] - A[0][2] * A[2][0];
    I[1][2] = A[0][2] * A[1][0] - A[0][0] * A[1][2];
    I[2][0] = A[1][0] * A[2][1] - A[1][1] * A[2][0];
    I[2][1] = A[0][1] * A[2][0] - A[0][0] * A[2][1];
    I[2][2] = A[0][0] * A[1][1] - A[0][1] * A[1][0];
    det = A[0][0] * I[0][0] + A[0][1] * I[1][0] + A[0][2] * I[2][0];
    for (r = 0; r < 3; r++)
        for (c = 0; c < 3; c++)
            sc = fmax(sc, fabs(A[r][c]));
    if (!(fabs(det) > 1e-9 * sc * sc * sc))
        return false;
    for (r = 0; r < 3; r++)
        for (c = 0; c < 3; c++)
            I[r][c] /= det;
    return true;
}

/* With mask_resample=nearest a geometry that is not an exact match is
 * resampled instead of refused. */
#define GEOM_FAIL(...)                                                      \
    do {                                                                    \
        if (resample)                                                       \
            goto resample;                                                  \
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry", \
                          __VA_ARGS__);                                     \
    } while (0)

/* A new one-channel image on img's voxel grid, zeroed, into *m. */
static enum mmdx_status grid_image(struct mmdx_ctx *ctx,
                                   const struct mmdx_image *img,
                                   struct mmdx_image **m)
{
    enum mmdx_status st;

    *m = mmdx__image_new();
    if (!*m)
        return mmdx__nomem(ctx);
    st = mmdx__image_alloc(ctx, *m, img->nx, img->ny, img->nz, 1, 0);
    if (st) {
        mmdx__image_free(*m);
        *m = NULL;
    }
    return st;
}

/*
 * Nearest-neighbour resampling of src onto img's grid: image voxel
 * (i, j, k) is at o + B (i, j, k) in the patient frame, which is mask
 * index Si (o + B (i, j, k) - os) = c + M (i, j, k); each coordinate is
 * rounded (halves away from zero) and the voxel takes the mask value
 * there, or 0 outside the mask grid. Along an image row the index moves
 * by the constant column M[.][0], so a row costs one multiply-add per
 * axis and voxel, and only the range of i that can land on the grid is
 * visited.
 */
static enum mmdx_status resample_nearest(struct mmdx_ctx *ctx,
                                         const char *path,
                                         const struct mmdx_image *img,
                                         const struct mmdx_image *src,
                                         const double B[3][3],
                                         const double o[3],
                                         const double S[3][3],
                                         const double os[3],
                                         struct mmdx_image **out)
{
    double Si[3][3], M[3][3], c[3], hi_x[3];
    size_t sdim[3] = { src->nx, src->ny, src->nz }, j, k, inside = 0;
    struct mmdx_image *m;
    enum mmdx_status st;
    int r, a, q;

    if (!mmdx__inverse3(S, Si))
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                          "the mask's voxel axes are degenerate (its "
                          "geometry cannot be inverted to resample it)");
    for (r = 0; r < 3; r++) {
        c[r] = 0;
        for (q = 0; q < 3; q++)
            c[r] += Si[r][q] * (o[q] - os[q]);
        for (a = 0; a < 3; a++) {
            M[r][a] = 0;
            for (q = 0; q < 3; q++)
                M[r][a] += Si[r][q] * B[q][a];
        }
        hi_x[r] = (double)sdim[r] - 0.5;
    }
    st = grid_image(ctx, img, &m);
    if (st)
        return st;
    for (k = 0; k < img->nz; k++)
        for (j = 0; j < img->ny; j++) {
            double p[3], lo = 0, hi = (double)img->nx;
            float *d = m->vox + img->nx * (j + img->ny * k);
            size_t i, i0, i1;

            for (r = 0; r < 3; r++) {
                p[r] = c[r] + M[r][1] * (double)j + M[r][2] * (double)k;
                if (M[r][0] == 0) {
                    if (!(p[r] > -0.5 && p[r] < hi_x[r]))
                        hi = -1;
                } else {
                    /* the i where -0.5 < p + M i < n - 0.5, widened by
                     * one (the test below is exact) */
                    double t0 = (-0.5 - p[r]) / M[r][0];
                    double t1 = (hi_x[r] - p[r]) / M[r][0];

                    lo = fmax(lo, floor(fmin(t0, t1)) - 1);
                    hi = fmin(hi, ceil(fmax(t0, t1)) + 1);
                }
            }
            if (!(hi > lo))
                continue;
            i0 = (size_t)lo;
            i1 = (size_t)hi;
            for (i = i0; i < i1; i++) {
                double x = p[0] + M[0][0] * (double)i;
                double y = p[1] + M[1][0] * (double)i;
                double z = p[2] + M[2][0] * (double)i;

                if (!(x > -0.5 && x < hi_x[0] && y > -0.5 &&
                      y < hi_x[1] && z > -0.5 && z < hi_x[2]))
                    continue;
                d[i] = src->vox[mmdx__round_half_up(x) +
                                src->nx * (mmdx__round_half_up(y) +
                                           src->ny *
                                           mmdx__round_half_up(z))];
                inside++;
            }
        }
    if (!inside) {
        mmdx__image_free(m);
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                          "the mask (%zux%zux%zu voxels) lies outside the "
                          "image: no image voxel centre falls on its grid",
                          sdim[0], sdim[1], sdim[2]);
    }
    *out = m;
    return MMDX_OK;
}

static const char *const axis_name[3] = { "i (x, columns)", "j (y, rows)",
                                          "k (z, slices)" };

enum mmdx_status mmdx__mask_align(struct mmdx_ctx *ctx, const char *path,
                                  const struct mmdx_image *img,
                                  const struct mmdx_image *src,
                                  struct mmdx_image **out,
                                  enum mmdx_mask_geom *geom)
{
    return mmdx__mask_align_ex(ctx, path, img, src, false, out, geom);
}

/* What a mask on the image's grid keeps of its source: modality,
 * transfer syntax, file count; it is a segmentation. */
static void mask_meta(struct mmdx_image *m, const struct mmdx_image *src)
{
    mmdx__strlcpy(m->modality, src->modality, sizeof(m->modality));
    mmdx__strlcpy(m->transfer_syntax_name, src->transfer_syntax_name,
                  sizeof(m->transfer_syntax_name));
    m->is_segmentation = true;
    m->nfiles = src->nfiles;
}

enum mmdx_status mmdx__mask_align_ex(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_image *img,
                                     const struct mmdx_image *src,
                                     bool resample, struct mmdx_image **out,
                                     enum mmdx_mask_geom *geom)
{
    double B[3][3], Bi[3][3], S[3][3], o[3], os[3], t[3];
    size_t idim[3] = { img->nx, img->ny, img->nz };
    size_t sdim[3] = { src->nx, src->ny, src->nz };
    int perm[3], sgn[3], a, b, r;
    long start[3];
    bool used[3] = { false, false, false }, same = true;
    struct mmdx_image *m = NULL;
    size_t i, j, k;
    enum mmdx_status st;

    *out = NULL;
    *geom = MMDX_MASK_GEOM_SAME;
    if (src->nc != 1)
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "channels",
                          "a mask has one value per voxel, this one %u",
                          src->nc);
    if (!mmdx__image_frame(src, S, os, 0) ||
        !mmdx__image_frame(img, B, o,
                           src->nz == 1 ? src->spacing_mm[2] : 0) ||
        !mmdx__inverse3(B, Bi)) {
        /* no geometry on one side: the dimensions must agree in order */
        if (sdim[0] != idim[0] || sdim[1] != idim[1] || sdim[2] != idim[2])
            return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "dim",
                              "mask grid %zux%zux%zu differs from the "
                              "image's %zux%zux%zu (and one of them has no "
                              "geometry to map it by)", sdim[0], sdim[1],
                              sdim[2], idim[0], idim[1], idim[2]);
        for (a = 0; a < 3; a++) {
            perm[a] = a;
            sgn[a] = 1;
            start[a] = 0;
        }
        *geom = MMDX_MASK_GEOM_UNCHECKED;
        same = false;
        goto copy;
    }
    for (r = 0; r < 3; r++)
        t[r] = Bi[r][0] * (os[0] - o[0]) + Bi[r][1] * (os[1] - o[1]) +
               Bi[r][2] * (os[2] - o[2]);
    for (a = 0; a < 3; a++) {
        double u[3], ext = sdim[a] > 1 ? (double)(sdim[a] - 1) : 1.0;

        for (r = 0; r < 3; r++)
            u[r] = Bi[r][0] * S[0][a] + Bi[r][1] * S[1][a] +
                   Bi[r][2] * S[2][a];
        b = 0;
        for (r = 1; r < 3; r++)
            if (fabs(u[r]) > fabs(u[b]))
                b = r;
        sgn[a] = u[b] < 0 ? -1 : 1;
        for (r = 0; r < 3; r++)
            if (r != b && fabs(u[r]) * ext > TOL)
                GEOM_FAIL("mask axis %s does not run "
                                  "along an image axis (oblique or "
                                  "differently oriented grid)",
                                  axis_name[a]);
        if (used[b])
            GEOM_FAIL("two mask axes run along image "
                              "axis %s", axis_name[b]);
        used[b] = true;
        perm[a] = b;
        if (sdim[a] == 1 && idim[b] == 1) {
            /* one slice each: the slice steps need not agree, the planes
             * must (within half a slice) */
            if (fabs(t[b]) > 0.5)
                GEOM_FAIL("the mask's slice is %.3g "
                                  "slice(s) away from the image's plane",
                                  t[b]);
            start[b] = 0;
            continue;
        }
        if (fabs(fabs(u[b]) - 1) * ext > TOL)
            GEOM_FAIL("mask voxel size along %s is %.4g "
                              "image voxels (a different spacing)",
                              axis_name[a], fabs(u[b]));
        if (fabs(t[b] - round(t[b])) > TOL)
            GEOM_FAIL("mask voxel centres are offset by "
                              "%.3g of an image voxel along %s",
                              t[b] - round(t[b]), axis_name[b]);
        if (!(fabs(t[b]) < 1e9))
            GEOM_FAIL("mask lies far outside the image");
        start[b] = (long)round(t[b]);
    }
    for (a = 0; a < 3; a++) {
        long lo, hi;

        b = perm[a];
        lo = start[b];
        hi = start[b] + sgn[a] * (long)(sdim[a] - 1);
        if (lo > hi) {
            long s = lo;

            lo = hi;
            hi = s;
        }
        if (lo < 0 || hi >= (long)idim[b])
            GEOM_FAIL("mask grid %zux%zux%zu extends "
                              "outside the image's %zux%zux%zu along image "
                              "axis %s (voxels %ld..%ld of 0..%zu)",
                              sdim[0], sdim[1], sdim[2], idim[0], idim[1],
                              idim[2], axis_name[b], lo, hi, idim[b] - 1);
        if (perm[a] != a || sgn[a] != 1 || start[b] != 0 ||
            sdim[a] != idim[b])
            same = false;
    }
    *geom = same ? MMDX_MASK_GEOM_SAME : MMDX_MASK_GEOM_REORDERED;
copy:
    st = grid_image(ctx, img, &m);
    if (st)
        return st;
    for (k = 0; k < sdim[2]; k++)
        for (j = 0; j < sdim[1]; j++)
            for (i = 0; i < sdim[0]; i++) {
                size_t s3[3] = { i, j, k }, d3[3];

                for (a = 0; a < 3; a++)
                    d3[perm[a]] = (size_t)(start[perm[a]] +
                                           sgn[a] * (long)s3[a]);
                m->vox[d3[0] + img->nx * (d3[1] + img->ny * d3[2])] =
                    src->vox[i + src->nx * (j + src->ny * k)];
            }
    mask_meta(m, src);
    *out = m;
    return MMDX_OK;
resample:
    st = resample_nearest(ctx, path, img, src, B, o, S, os, out);
    if (st)
        return st;
    m = *out;
    mask_meta(m, src);
    *geom = MMDX_MASK_GEOM_RESAMPLED;
    return MMDX_OK;
}

enum mmdx_status mmdx__mask_load(struct mmdx_ctx *ctx, const char *path,
                                 const struct mmdx_image *img,
                                 const struct mmdx_mask_opts *o,
                                 mmdx__dicom_id_fn idfn, void *user,
                                 struct mmdx_image **out,
                                 enum mmdx_mask_kind *kind,
                                 enum mmdx_mask_geom *geom,
                                 struct mmdx_rt_stats *rt)
{
    return mmdx__mask_load_label(ctx, path, img, o, idfn, user, out, kind,
                                 geom, rt, NULL);
}

/* True when path is one DICOM file holding a Segmentation (header only;
 * *st set when it cannot be read at all). */
static bool is_seg(struct mmdx_ctx *ctx, const char *path,
                   const struct mmdx_dicom_limits *lim, enum mmdx_status *st)
{
    struct mmdx_dicom_file *f = NULL;
    bool seg;

    *st = MMDX_OK;
    if (mmdx__is_dir(path))
        return false;
    *st = mmdx__dicom_read_file(ctx, path, lim, MMDX_DICOM_HEADER_ONLY, &f);
    if (*st)
        return false;
    seg = f->img->is_segmentation || !strcmp(f->img->modality, "SEG");
    mmdx__dicom_file_free(f);
    return seg;
}

enum mmdx_status mmdx__mask_load_label(struct mmdx_ctx *ctx, const char *path,
                                       const struct mmdx_image *img,
                                       const struct mmdx_mask_opts *o,
                                       mmdx__dicom_id_fn idfn, void *user,
                                       struct mmdx_image **out,
                                       enum mmdx_mask_kind *kind,
                                       enum mmdx_mask_geom *geom,
                                       struct mmdx_rt_stats *rt,
                                       struct mmdx_mask_label *li)
{
    struct mmdx_dicom_limits lim = { 0, 0 };
    struct mmdx_image *src = NULL;
    struct mmdx_mask_label lab;
    uint8_t head[MMDX_NIFTI_HDR_BYTES];
    const char *label = o ? o->label : NULL;
    size_t got = 0;
    enum mmdx_status st;
    FILE *fp;

    *out = NULL;
    *kind = MMDX_MASK_DICOM;
    *geom = MMDX_MASK_GEOM_SAME;
    if (rt)
        memset(rt, 0, sizeof(*rt));
    if (!li)
        li = &lab;
    memset(li, 0, sizeof(*li));
    lim.max_voxels = o ? o->max_voxels : 0;
    fp = mmdx__is_dir(path) ? NULL : fopen(path, "rb");
    if (fp) {
        got = fread(head, 1, sizeof(head), fp);
        fclose(fp);
    }
    {
        /* another input format is no mask (told here, not as a DICOM
         * parse error); a file starting with NIfTI-1's header size but
         * shorter than its header goes to the NIfTI reader, which says it
         * is truncated */
        enum mmdx_format fmt = MMDX_FMT_UNKNOWN;
        bool nifti_start = got >= 4 && got < sizeof(head) &&
                           ((head[0] == 0x5C && head[1] == 0x01 &&
                             !head[2] && !head[3]) ||
                            (!head[0] && !head[1] && head[2] == 0x01 &&
                             head[3] == 0x5C));

        if (got && !nifti_start && !mmdx_detect(NULL, path, &fmt) &&
            fmt != MMDX_FMT_UNKNOWN && fmt != MMDX_FMT_DICOM &&
            fmt != MMDX_FMT_DICOM_DIR && fmt != MMDX_FMT_NIFTI)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, NULL,
                              "not a mask (the file is %s); a mask is a "
                              "DICOM SEG, RTSTRUCT or label image, or a "
                              "NIfTI-1 file", mmdx_format_name(fmt));
        if (nifti_start) {
            *kind = MMDX_MASK_NIFTI;
            return mmdx__nifti_load(ctx, path, lim.max_voxels, idfn, user,
                                    &src);
        }
    }
    if (got && mmdx__nifti_sniff(head, got, path)) {
        *kind = MMDX_MASK_NIFTI;
        st = mmdx__nifti_load(ctx, path, lim.max_voxels, idfn, user, &src);
        if (!st)
            st = mmdx__mask_select_label(ctx, path, "NIfTI-1", src, label,
                                         li);
        if (!st)
            st = mmdx__mask_align_ex(ctx, path, img, src,
                                     o && o->resample, out, geom);
        mmdx__image_free(src);
        return st;
    }
    if (got && mmdx__dicom_is_rtstruct(path)) {
        struct mmdx_rt_stats rs;

        *kind = MMDX_MASK_RTSTRUCT;
        if (label && label[0])
            return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, path, 0,
                              "mask_label", "mask_label applies to label "
                              "images and DICOM SEG; an RTSTRUCT's ROI is "
                              "chosen by mask_roi");
        return mmdx__rtstruct_mask(ctx, path, img, o ? o->roi_name : NULL,
                                   idfn, user, out, rt ? rt : &rs);
    }
    if (is_seg(ctx, path, &lim, &st)) {
        *kind = MMDX_MASK_SEG;
        return mmdx__seg_mask_ex(ctx, path, img, label, lim.max_voxels,
                                 o && o->resample, idfn, user, out, geom,
                                 li);
    }
    if (st)
        return st;
    st = mmdx__dicom_load(ctx, path, &lim, idfn, user, &src);
    if (st)
        return st;
    if (o && o->resample && src->nc == 1 &&
        (src->nx != img->nx || src->ny != img->ny || src->nz != img->nz)) {
        /* another grid: the label first, then by geometry */
        st = mmdx__mask_select_label(ctx, path, "DICOM", src, label, li);
        if (!st)
            st = mmdx__mask_align_ex(ctx, path, img, src, true, out, geom);
        mmdx__image_free(src);
        return st;
    }
    if (src->nx != img->nx || src->ny != img->ny || src->nz != img->nz ||
        src->nc != 1) {
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, NULL,
                        "mask grid %zux%zux%zu (x%u) differs from the "
                        "image's %zux%zux%zu", src->nx, src->ny, src->nz,
                        src->nc, img->nx, img->ny, img->nz);
        mmdx__image_free(src);
        return st;
    }
    st = mmdx__mask_select_label(ctx, path, "DICOM", src, label, li);
    if (st) {
        mmdx__image_free(src);
        return st;
    }
    *out = src;
    return MMDX_OK;
}

static enum mmdx_status add_id(void *user, const char *file,
                               const char *field, int kind,
                               const char *value)
{
    return mmdx__patient_add_idfield(user, MMDX_MOD_IMAGE, file, field,
                                     (enum mmdx_id_kind)kind, value);
}

enum mmdx_status mmdx__load_image_mask(struct mmdx_ctx *ctx,
                                       struct mmdx_patient *p,
                                       const struct mmdx_image *img,
                                       const char *roi_name,
                                       const char *label,
                                       uint64_t max_voxels)
{
    return mmdx__load_image_mask_ex(ctx, p, img, roi_name, label,
                                    max_voxels, false);
}

enum mmdx_status mmdx__load_image_mask_ex(struct mmdx_ctx *ctx,
                                          struct mmdx_patient *p,
                                          const struct mmdx_image *img,
                                          const char *roi_name,
                                          const char *label,
                                          uint64_t max_voxels,
                                          bool resample)
{
    static const char *const kinds[4] = { "DICOM", "NIfTI-1", "RTSTRUCT",
                                          "DICOM SEG" };
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    struct mmdx_image *mask = NULL;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom geom;
    struct mmdx_rt_stats rt;
    enum mmdx_status st;

    o.roi_name = roi_name;
    o.max_voxels = max_voxels;
    o.label = label;
    o.resample = resample;
    st = mmdx__mask_load_label(ctx, p->mask_path, img, &o, add_id, p, &mask,
                               &kind, &geom, &rt, &li);
    if (st)
        return st;
    if (li.used)
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.mask.label",
                           "ROI = %s %ld of the %s mask (%s present: %s)",
                           kind == MMDX_MASK_SEG ? "segment" : "label",
                           li.value, kinds[kind],
                           kind == MMDX_MASK_SEG ? "segments" : "labels",
                           li.present);
    if (kind == MMDX_MASK_RTSTRUCT &&
        (rt.off_image || rt.not_closed || !rt.placed))
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.mask.rtstruct_contours",
                           "RTSTRUCT ROI: %zu of %zu contours filled, %zu "
                           "beyond the image's slices, %zu not closed",
                           rt.placed, rt.ncontours, rt.off_image,
                           rt.not_closed);
    if (geom == MMDX_MASK_GEOM_UNCHECKED)
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.mask.geometry_unchecked",
                           "%s mask and image matched by dimensions only "
                           "(one has no position/orientation)",
                           kinds[kind]);
    else if (geom == MMDX_MASK_GEOM_RESAMPLED)
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.mask.resampled",
                           "%s mask on another grid (orientation, voxel "
                           "size or offset) resampled onto the image's by "
                           "nearest neighbour (mask_resample=nearest)",
                           kinds[kind]);
    else if (geom == MMDX_MASK_GEOM_REORDERED)
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.mask.reoriented",
                           "%s mask put on the image grid by its geometry "
                           "(axes flipped/permuted or a sub-grid)",
                           kinds[kind]);
    mmdx__patient_set_slot(p, MMDX_SLOT_MASK, mask, mmdx__image_free_v);
    return MMDX_OK;
}
