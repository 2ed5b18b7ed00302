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
 * stores every segment in each frame as pixel value = SegmentNumber; its
 * frames are placed the same way and the chosen number selects voxels.
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
                                     long segno, size_t *slice,
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
                return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0,
                                  "geometry", "the SEG's %s (orientation "
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
            return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0,
                              "geometry", "frame %zu of the SEG is shifted "
                              "in its plane by (%.3g, %.3g) voxels against "
                              "the image", f + 1, t[0], t[1]);
        if (!near(t[2], kk, TOL) || kk < 0 || kk >= (double)img->nz)
            return mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0,
                              "geometry", "frame %zu of the SEG lies on no "
                              "slice of the image (at slice %.3g of "
                              "0..%zu)", f + 1, t[2],
                              img->nz - 1);
        slice[f] = (size_t)kk;
    }
    *geom = MMDX_MASK_GEOM_SAME;
    return MMDX_OK;
}

enum mmdx_status mmdx__seg_mask(struct mmdx_ctx *ctx, const char *path,
                                const struct mmdx_image *img,
                                const char *label, uint64_t max_voxels,
                                mmdx__dicom_id_fn idfn, void *user,
                                struct mmdx_image **out,
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
    st = mmdx__dicom_load(ctx, path, &lim, idfn, user, &src);
    if (st)
        goto out;
    if (sg.labelmap && src->nc != 1) {
        st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0,
                        "PhotometricInterpretation (0028,0004)",
                        "a PALETTE COLOR label map (MONOCHROME2 only)");
        goto out;
    }
    if (src->nz != sg.nframes || src->nc != 1) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                        "NumberOfFrames (0028,0008)",
                        "%zu frames of %u channel(s) decoded for %zu "
                        "frame entries", src->nz, src->nc, sg.nframes);
        goto out;
    }
    if (src->nx != img->nx || src->ny != img->ny) {
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
                      sg.labelmap ? 0 : sg.seg[pick].number, slice, geom);
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
    for (f = 0; f < sg.nframes; f++) {
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
