/*
 * mask_seg.c - a DICOM Segmentation (PS3.3 A.51, C.8.20) as the region of
 * interest of an image.
 *
 * A SEG object stores its frames segment by segment (each frame names its
 * segment in the Segment Identification functional group) and may leave
 * out empty frames, so frames are put on the image by their position
 * (PlanePositionSequence) rather than by their order. One segment is
 * used: the one mask_label names (number or label), or the only one.
 * A LABELMAP segmentation (Label Map Segmentation Storage, DICOM 2024)
 * stores every segment in each frame as pixel value = SegmentNumber,
 * shown as MONOCHROME2 or through a palette (PALETTE COLOR); its frames
 * are placed the same way and the chosen number selects voxels by stored
 * value, never by colour.
 * With mask_resample=nearest a SEG on another grid (other PixelSpacing,
 * rows/columns or orientation, frames between slices) is resampled
 * (resample_frames) instead of refused.
 */
#include "core/common.h"
#include "io/mask.h"

#define STAGE "load.image"
#define TOL 0.1   /* voxels */

/* Case-insensitive ASCII equality. */
static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;

        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return false;
    }
    return !*a && !*b;
}

static void list_segments(const struct mmdx_dicom_seg *sg, char *buf,
                          size_t size)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < sg->nseg; i++) {
        char one[32];
        int w = snprintf(one, sizeof(one), "%s%ld", i ? ", " : "",
                         sg->seg[i].number);

        if (w < 0 || len + (size_t)w + 6 >= size) {
            memcpy(buf + len, ", ...", 6);
            return;
        }
        memcpy(buf + len, one, (size_t)w + 1);
        len += (size_t)w;
    }
}

/* The SegmentSequence index label names, into *idx. */
static enum mmdx_status pick_segment(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_dicom_seg *sg,
                                     const char *label, size_t *idx)
{
    char list[160];
    long num;
    size_t i;

    list_segments(sg, list, sizeof(list));
    *idx = 0;
    if (!label || !label[0]) {
        if (sg->nseg == 1)
            return MMDX_OK;
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, path, 0, "mask_label",
                   "the DICOM SEG holds %zu segments (numbers %s): set "
                   "mask_label (load.image parameter, manifest column, or "
                   "mmdx features --mask-label) to the SegmentNumber or "
                   "SegmentLabel to use", sg->nseg, list);
    }
    for (i = 0; i < sg->nseg; i++) {
        *idx = i;
        if (mmdx__mask_label_number(label, &num) ? sg->seg[i].number == num
                                                 : !strcmp(sg->seg[i].label,
                                                           label))
            return MMDX_OK;
    }
    for (i = 0; i < sg->nseg && !mmdx__mask_label_number(label, &num); i++) {
        *idx = i;
        if (ieq(sg->seg[i].label, label))
            return MMDX_OK;
    }
    /* segment labels are free text: never echoed */
    return mmdx__fail(ctx, MMDX_E_NOTFOUND, STAGE, path, 0, "mask_label",
               "no segment of the requested %s among the %zu segments of "
               "the DICOM SEG (numbers %s)",
               mmdx__mask_label_number(label, &num) ? "SegmentNumber"
                                                    : "SegmentLabel",
               sg->nseg, list);
}

/* A geometry that is not an exact match: refused, or with
 * mask_resample=nearest left to resample_frames. */
#define GEOM_FAIL(...)                                                      \
    do {                                                                    \
        if (resample) {                                                     \
            *geom = MMDX_MASK_GEOM_RESAMPLED;                               \
            return MMDX_OK;                                                 \
        }                                                                   \
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry", \
                          __VA_ARGS__);                                     \
    } while (0)

static bool near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/*
 * The image slice each frame of the segment goes to, into slice[] (nframes
 * entries, SIZE_MAX for frames of other segments; a label map's frames
 * all have segment 0). By geometry when both sides have it, else in
 * order.
 */
static enum mmdx_status place_frames(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_image *img,
                                     const struct mmdx_image *src,
                                     const struct mmdx_dicom_seg *sg,
                                     long segno, bool resample,
                                     size_t *slice,
                                     enum mmdx_mask_geom *geom)
{
    double B[3][3], Bi[3][3], o[3];
    size_t f, nmine = 0, k = 0;
    int r, a;

    for (f = 0; f < sg->nframes; f++) {
        slice[f] = SIZE_MAX;
        nmine += sg->frame_segment[f] == segno;
    }
    if (!src->pos_mm || !src->has_orientation ||
        !mmdx__image_frame(img, B, o, 0) || !mmdx__inverse3(B, Bi)) {
        if (nmine != img->nz)
            return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "dim",
                              "%s%.0ld has %zu frames for the image's "
                              "%zu slices (and the SEG or the image has no "
                              "geometry to place them by)",
                              segno ? "segment " : "the label map", segno,
                              nmine, img->nz);
        for (f = 0; f < sg->nframes; f++)
            if (sg->frame_segment[f] == segno)
                slice[f] = k++;
        *geom = MMDX_MASK_GEOM_UNCHECKED;
        return MMDX_OK;
    }
    if (resample && (src->nx != img->nx || src->ny != img->ny) &&
        src->spacing_mm[0] > 0 && src->spacing_mm[1] > 0) {
        *geom = MMDX_MASK_GEOM_RESAMPLED;
        return MMDX_OK;
    }
    /* same in-plane axes and spacing as the image */
    for (a = 0; a < 2; a++) {
        const double *d = a ? src->col_cos : src->row_cos;
        double sp = src->spacing_mm[a], u[3];
        double ext = (double)(a ? img->ny : img->nx);

        if (!(sp > 0))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                              "PixelSpacing (0028,0030)",
                              "missing in the SEG's Pixel Measures");
        for (r = 0; r < 3; r++)
            u[r] = sp * (Bi[r][0] * d[0] + Bi[r][1] * d[1] +
                         Bi[r][2] * d[2]);
        for (r = 0; r < 3; r++)
            if (!near(u[r], r == a ? 1.0 : 0.0, TOL / ext))
                GEOM_FAIL("the SEG's %s (orientation "
                                  "and spacing) differ from the image's",
                                  a ? "columns" : "rows");
    }
    for (f = 0; f < sg->nframes; f++) {
        const double *p = src->pos_mm + 3 * f;
        double t[3], kk;

        if (sg->frame_segment[f] != segno)
            continue;
        for (r = 0; r < 3; r++)
            t[r] = Bi[r][0] * (p[0] - o[0]) + Bi[r][1] * (p[1] - o[1]) +
                   Bi[r][2] * (p[2] - o[2]);
        kk = round(t[2]);
        if (!near(t[0], 0, TOL) || !near(t[1], 0, TOL))
            GEOM_FAIL("frame %zu of the SEG is shifted "
                              "in its plane by (%.3g, %.3g) voxels against "
                              "the image", f + 1, t[0], t[1]);
        if (!near(t[2], kk, TOL) || kk < 0 || kk >= (double)img->nz)
            GEOM_FAIL("frame %zu of the SEG lies on no "
                              "slice of the image (at slice %.3g of "
                              "0..%zu)", f + 1, t[2],
                              img->nz - 1);
        slice[f] = (size_t)kk;
    }
    *geom = MMDX_MASK_GEOM_SAME;
    return MMDX_OK;
}

/* True when the image and the SEG both carry position and orientation. */
static bool both_geometry(const struct mmdx_image *img,
                          const struct mmdx_image *src)
{
    double B[3][3], Bi[3][3], o[3];

    return src->pos_mm && src->has_orientation &&
           mmdx__image_frame(img, B, o, 0) && mmdx__inverse3(B, Bi);
}

/* A plane of the segment: the frames at one position along the normal
 * (several = their union). */
struct seg_plane {
    double d;                  /* along the SEG's normal, mm */
    size_t first, n;           /* in the sorted frame list */
};

struct seg_frame {
    double d;                  /* along the normal, mm */
    double u, v;               /* along the rows / columns, in pixels */
    size_t f;                  /* frame number (0-based) */
};

static int cmp_frame(const void *a, const void *b)
{
    const struct seg_frame *x = a, *y = b;

    return x->d < y->d ? -1 : x->d > y->d ? 1
           : x->f < y->f ? -1 : x->f > y->f;
}

/* Index of the plane nearest to s (halfway: the further one), or SIZE_MAX
 * when none is closer than half. */
static size_t nearest_plane(const struct seg_plane *pl, size_t np, double s,
                            double half)
{
    size_t lo = 0, hi = np, best;

    while (lo < hi) {          /* lo = the first plane with d >= s */
        size_t mid = lo + (hi - lo) / 2;

        if (pl[mid].d < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == np)
        best = np - 1;
    else if (lo == 0)
        best = 0;
    else
        best = s - pl[lo - 1].d < pl[lo].d - s ? lo - 1 : lo;
    return fabs(s - pl[best].d) < half ? best : SIZE_MAX;
}

/*
 * Resample the frames of segment segno (label map: all, pixel value =
 * value) onto m (img's grid, zeroed): see mmdx__seg_mask_ex. Along an
 * image row the position along the normal and in the frame advance by
 * constant steps; the plane is looked up once per row when the row runs
 * parallel to the SEG's planes, else per voxel (binary search).
 */
static enum mmdx_status resample_frames(struct mmdx_ctx *ctx,
                                        const char *path,
                                        const struct mmdx_image *img,
                                        const struct mmdx_image *src,
                                        const struct mmdx_dicom_seg *sg,
                                        long segno, float value,
                                        double scale, struct mmdx_image *m)
{
    const double *rc = src->row_cos, *cc = src->col_cos;
    double B[3][3], o[3], nrm[3], len, sx = src->spacing_mm[0],
           sy = src->spacing_mm[1], sp, half, gap = INFINITY;
    struct seg_frame *fr = NULL;
    struct seg_plane *pl = NULL;
    size_t f, nf = 0, np = 0, j, k, inside = 0, splane = src->nx * src->ny;
    enum mmdx_status st = MMDX_OK;
    int r;

    if (!mmdx__image_frame(img, B, o, 0))
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                          "the image has no geometry to resample the SEG "
                          "onto");
    if (!(sx > 0 && sy > 0 && isfinite(sx) && isfinite(sy)))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                          "PixelSpacing (0028,0030)",
                          "missing in the SEG's Pixel Measures");
    nrm[0] = rc[1] * cc[2] - rc[2] * cc[1];
    nrm[1] = rc[2] * cc[0] - rc[0] * cc[2];
    nrm[2] = rc[0] * cc[1] - rc[1] * cc[0];
    len = sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]);
    if (!(len > 1e-6))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                          "ImageOrientationPatient (0020,0037)",
                          "the SEG's row and column directions are "
                          "parallel");
    for (r = 0; r < 3; r++)
        nrm[r] /= len;
    for (f = 0; f < sg->nframes; f++)
        nf += sg->frame_segment[f] == segno;
    if (!nf)
        return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                          "the segment has no frame to resample");
    fr = mmdx__malloc(nf * sizeof(*fr));
    pl = mmdx__malloc(nf * sizeof(*pl));
    if (!fr || !pl) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (f = 0, nf = 0; f < sg->nframes; f++) {
        const double *p = src->pos_mm + 3 * f;

        if (sg->frame_segment[f] != segno)
            continue;
        fr[nf].d = nrm[0] * p[0] + nrm[1] * p[1] + nrm[2] * p[2];
        fr[nf].u = (rc[0] * p[0] + rc[1] * p[1] + rc[2] * p[2]) / sx;
        fr[nf].v = (cc[0] * p[0] + cc[1] * p[1] + cc[2] * p[2]) / sy;
        fr[nf].f = f;
        if (!isfinite(fr[nf].d) || !isfinite(fr[nf].u) ||
            !isfinite(fr[nf].v)) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                            "ImagePositionPatient (0020,0032)",
                            "frame %zu of the SEG has no finite position "
                            "to resample it by", f + 1);
            goto out;
        }
        nf++;
    }
    qsort(fr, nf, sizeof(*fr), cmp_frame);
    /* planes: frames within 1 um along the normal are one plane */
    for (f = 0; f < nf; f++) {
        if (np && fr[f].d - pl[np - 1].d < 1e-3) {
            pl[np - 1].n++;
            continue;
        }
        if (np)
            gap = fmin(gap, fr[f].d - pl[np - 1].d);
        pl[np].d = fr[f].d;
        pl[np].first = f;
        pl[np++].n = 1;
    }
    sp = src->spacing_mm[2] > 0 ? src->spacing_mm[2]
         : src->slice_thickness_mm > 0 ? src->slice_thickness_mm : gap;
    if (!(sp > 0 && sp < INFINITY)) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                        "SliceThickness (0018,0050)",
                        "the SEG has one frame position and neither "
                        "SpacingBetweenSlices nor SliceThickness: no "
                        "slab to resample by");
        goto out;
    }
    half = sp / 2;
    for (k = 0; k < img->nz; k++)
        for (j = 0; j < img->ny; j++) {
            double P[3], s0, ds, u0, du, v0, dv;
            float *d = m->vox + img->nx * (j + img->ny * k);
            size_t i, g = SIZE_MAX;
            bool flat;

            for (r = 0; r < 3; r++)
                P[r] = o[r] + B[r][1] * (double)j + B[r][2] * (double)k;
            s0 = nrm[0] * P[0] + nrm[1] * P[1] + nrm[2] * P[2];
            ds = nrm[0] * B[0][0] + nrm[1] * B[1][0] + nrm[2] * B[2][0];
            u0 = (rc[0] * P[0] + rc[1] * P[1] + rc[2] * P[2]) / sx;
            du = (rc[0] * B[0][0] + rc[1] * B[1][0] + rc[2] * B[2][0]) / sx;
            v0 = (cc[0] * P[0] + cc[1] * P[1] + cc[2] * P[2]) / sy;
            dv = (cc[0] * B[0][0] + cc[1] * B[1][0] + cc[2] * B[2][0]) / sy;
            flat = ds == 0;
            if (flat) {
                g = nearest_plane(pl, np, s0, half);
                if (g == SIZE_MAX)
                    continue;
            }
            for (i = 0; i < img->nx; i++) {
                double u = u0 + du * (double)i, v = v0 + dv * (double)i;
                size_t e;

                if (!flat) {
                    g = nearest_plane(pl, np, s0 + ds * (double)i, half);
                    if (g == SIZE_MAX)
                        continue;
                }
                for (e = pl[g].first; e < pl[g].first + pl[g].n; e++) {
                    double x = u - fr[e].u, y = v - fr[e].v;
                    float val;

                    if (!(x > -0.5 && x < (double)src->nx - 0.5 &&
                          y > -0.5 && y < (double)src->ny - 0.5))
                        continue;
                    inside++;
                    val = src->vox[fr[e].f * splane + mmdx__round_half_up(x) +
                                   src->nx * mmdx__round_half_up(y)];
                    if (sg->labelmap ? val == value
                                     : (double)val * scale > 0.5)
                        d[i] = 1.0f;
                }
            }
        }
    if (!inside)
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                        "the SEG's frames (%zux%zu pixels, %zu plane(s)) "
                        "lie outside the image: no image voxel centre "
                        "falls on them", src->nx, src->ny, np);
out:
    mmdx__free(fr);
    mmdx__free(pl);
    return st;
}

enum mmdx_status mmdx__seg_mask(struct mmdx_ctx *ctx, const char *path,
                                const struct mmdx_image *img,
                                const char *label, uint64_t max_voxels,
                                mmdx__dicom_id_fn idfn, void *user,
                                struct mmdx_image **out,
                                enum mmdx_mask_geom *geom,
                                struct mmdx_mask_label *info)
{
    return mmdx__seg_mask_ex(ctx, path, img, label, max_voxels, false, idfn,
                             user, out, geom, info);
}

enum mmdx_status mmdx__seg_mask_ex(struct mmdx_ctx *ctx, const char *path,
                                   const struct mmdx_image *img,
                                   const char *label, uint64_t max_voxels,
                                   bool resample, mmdx__dicom_id_fn idfn,
                                   void *user, struct mmdx_image **out,
                                   enum mmdx_mask_geom *geom,
                                   struct mmdx_mask_label *info)
{
    struct mmdx_dicom_limits lim = { 0, 0 };
    struct mmdx_dicom_seg sg;
    struct mmdx_image *src = NULL, *m = NULL;
    size_t *slice = NULL, f, plane = img->nx * img->ny, i, pick;
    double scale;
    enum mmdx_status st;

    *out = NULL;
    *geom = MMDX_MASK_GEOM_SAME;
    memset(info, 0, sizeof(*info));
    st = mmdx__dicom_read_seg(ctx, path, &sg);
    if (st)
        return st;
    st = pick_segment(ctx, path, &sg, label, &pick);
    if (st)
        goto out;
    lim.max_voxels = max_voxels;
    /* The stored values: a label map's are segment numbers whether it is
     * MONOCHROME2 or PALETTE COLOR (the palette only colours them for
     * display and is not read), and a SEG has no modality LUT. */
    st = mmdx__dicom_load_ex(ctx, path, &lim, MMDX_DICOM_STORED_VALUES, idfn,
                             user, &src);
    if (st)
        goto out;
    if (src->nc != 1) {
        st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0,
                        "SamplesPerPixel (0028,0002)",
                        "%u samples per pixel (a Segmentation has 1)",
                        src->nc);
        goto out;
    }
    if (src->nz != sg.nframes) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                        "NumberOfFrames (0028,0008)",
                        "%zu frames decoded for %zu frame entries", src->nz,
                        sg.nframes);
        goto out;
    }
    if ((src->nx != img->nx || src->ny != img->ny) &&
        !(resample && both_geometry(img, src))) {
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "dim",
                        "SEG frames of %zux%zu voxels, image slices of "
                        "%zux%zu", src->nx, src->ny, img->nx, img->ny);
        goto out;
    }
    slice = mmdx__malloc((sg.nframes ? sg.nframes : 1) * sizeof(size_t));
    if (!slice) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = place_frames(ctx, path, img, src, &sg,
                      sg.labelmap ? 0 : sg.seg[pick].number, resample, slice,
                      geom);
    if (st)
        goto out;
    m = mmdx__image_new();
    if (!m) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__image_alloc(ctx, m, img->nx, img->ny, img->nz, 1, 0);
    if (st)
        goto out;
    scale = sg.fractional ? 1.0 / sg.max_fractional : 1.0;
    if (*geom == MMDX_MASK_GEOM_RESAMPLED) {
        st = resample_frames(ctx, path, img, src, &sg,
                             sg.labelmap ? 0 : sg.seg[pick].number,
                             (float)sg.seg[pick].number, scale, m);
        if (st)
            goto out;
    }
    for (f = 0; f < sg.nframes && *geom != MMDX_MASK_GEOM_RESAMPLED; f++) {
        const float *s = src->vox + f * plane;
        float *d;

        if (slice[f] == SIZE_MAX)
            continue;
        d = m->vox + slice[f] * plane;
        /* frames of one segment on one slice: their union */
        if (sg.labelmap) {
            for (i = 0; i < plane; i++)
                if (s[i] == (float)sg.seg[pick].number)
                    d[i] = 1.0f;
            continue;
        }
        for (i = 0; i < plane; i++)
            if ((double)s[i] * scale > 0.5)
                d[i] = 1.0f;
    }
    mmdx__strlcpy(m->modality, "SEG", sizeof(m->modality));
    mmdx__strlcpy(m->transfer_syntax_name, src->transfer_syntax_name,
                  sizeof(m->transfer_syntax_name));
    m->is_segmentation = true;
    m->nfiles = 1;
    info->used = label && label[0];
    info->value = sg.seg[pick].number;
    info->nlabels = sg.nseg;
    list_segments(&sg, info->present, sizeof(info->present));
    *out = m;
    m = NULL;
out:
    mmdx__image_free(m);
    mmdx__image_free(src);
    mmdx__free(slice);
    mmdx__dicom_seg_fini(&sg);
    return st;
}

enum mmdx_status mmdx__seg_inspect(struct mmdx_ctx *ctx, const char *path,
                                   mmdx_kv_fn fn, void *user)
{
    struct mmdx_dicom_seg sg;
    char list[160], key[48], val[96];
    size_t i, f, n;
    enum mmdx_status st;

    st = mmdx__dicom_read_seg(ctx, path, &sg);
    if (st)
        return st;
    fn(user, "seg.type", sg.labelmap     ? "LABELMAP"
                         : sg.fractional ? "FRACTIONAL"
                                         : "BINARY");
    snprintf(val, sizeof(val), "%zu", sg.nseg);
    fn(user, "seg.segments", val);
    list_segments(&sg, list, sizeof(list));
    fn(user, "seg.segment_numbers", list);
    for (i = 0; i < sg.nseg && i < 256; i++) {
        for (f = 0, n = 0; f < sg.nframes; f++)
            n += sg.frame_segment[f] == sg.seg[i].number ||
                 sg.frame_segment[f] == 0;
        snprintf(key, sizeof(key), "seg.segment.%ld", sg.seg[i].number);
        snprintf(val, sizeof(val), "frames %zu, type %s%s", n,
                 sg.seg[i].type_code[0] ? sg.seg[i].type_code : "-",
                 sg.seg[i].label[0] ? ", label set (not shown)" : "");
        fn(user, key, val);
    }
    mmdx__dicom_seg_fini(&sg);
    return MMDX_OK;
}
