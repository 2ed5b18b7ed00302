/*
 * mask_rtstruct.c - a DICOM RT Structure Set ROI rasterised onto the
 * image's voxel grid.
 *
 * The contours (patient coordinates, mm) are read by the DCMTK shim. Each
 * closed planar contour is placed on the image slice whose plane it lies
 * in: the distance of its points along the slice normal must be within
 * half the local slice spacing of that slice's ImagePositionPatient (the
 * slices need not be equally spaced). In the slice, points are expressed
 * in voxel units along ImageOrientationPatient's row and column directions
 * and the polygon is filled by the even-odd rule at voxel centres, with
 * the half-open convention (a centre on a left or top edge is inside, on
 * a right or bottom edge outside), so a contour through voxel centres 2
 * and 5 covers voxels 2, 3, 4 - its area. Contours of the same slice are
 * combined by exclusive or: a contour inside another is a hole, which is
 * how RTSTRUCT encodes holes (and what CLOSEDPLANAR_XOR says outright).
 * POINT and OPEN_* contours enclose nothing and are skipped.
 */
#include "core/common.h"
#include "io/mask.h"

#define STAGE "load.image"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Toggle the voxels of slice s (nx * ny bytes) whose centres the polygon
 * (x, y in voxel units, n points) encloses. xs: scratch for n crossings. */
static void fill(uint8_t *s, size_t nx, size_t ny, const double *xy,
                 size_t n, double *xs)
{
    double ylo = INFINITY, yhi = -INFINITY;
    long y0, y1, yy;
    size_t i;

    for (i = 0; i < n; i++) {
        ylo = fmin(ylo, xy[2 * i + 1]);
        yhi = fmax(yhi, xy[2 * i + 1]);
    }
    y0 = (long)fmax(0, ceil(ylo));
    y1 = (long)fmin((double)ny - 1, floor(yhi));
    for (yy = y0; yy <= y1; yy++) {
        size_t nc = 0, k;

        for (i = 0; i < n; i++) {
            const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);

            if ((a[1] > (double)yy) != (b[1] > (double)yy))
                xs[nc++] = a[0] + ((double)yy - a[1]) * (b[0] - a[0]) /
                                      (b[1] - a[1]);
        }
        qsort(xs, nc, sizeof(double), cmp_double);
        for (k = 0; k + 1 < nc; k += 2) {
            double lo = fmax(0, ceil(xs[k]));
            double hi = fmin((double)nx, ceil(xs[k + 1]));
            size_t xx;

            for (xx = (size_t)lo; (double)xx < hi; xx++)
                s[xx + nx * (size_t)yy] ^= 1;
        }
    }
}

enum mmdx_status mmdx__rtstruct_mask(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_image *img,
                                     const char *roi_name,
                                     mmdx__dicom_id_fn idfn, void *user,
                                     struct mmdx_image **out,
                                     struct mmdx_rt_stats *stats)
{
    struct mmdx_dicom_rtstruct rt;
    struct mmdx_image *m = NULL;
    double B[3][3], o[3], *dist = NULL, *xy = NULL, *xs = NULL;
    size_t i, k, maxn = 0, placed = 0, open = 0, off = 0,
           plane = img->nx * img->ny;
    uint8_t *tmp = NULL;
    enum mmdx_status st;

    *out = NULL;
    memset(stats, 0, sizeof(*stats));
    st = mmdx__dicom_read_rtstruct(ctx, path, roi_name, &rt);
    if (st)
        return st;
    for (i = 0; i < rt.nids && idfn && !st; i++)
        st = idfn(user, path, rt.ids[i].field, rt.ids[i].kind,
                  rt.ids[i].value);
    if (st)
        goto out;
    if (img->nc != 1 || !mmdx__image_frame(img, B, o, 0)) {
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                        "the image has no ImagePositionPatient / "
                        "ImageOrientationPatient: RTSTRUCT contours cannot "
                        "be placed on it");
        goto out;
    }
    stats->ncontours = rt.ncontours;
    for (i = 0; i < rt.ncontours; i++)
        if (rt.c[i].npts > maxn)
            maxn = rt.c[i].npts;
    m = mmdx__image_new();
    dist = mmdx__malloc(img->nz * sizeof(double));
    xy = mmdx__malloc((2 * maxn + 2) * sizeof(double));
    xs = mmdx__malloc((maxn + 1) * sizeof(double));
    tmp = mmdx__malloc(plane);
    if (!m || !dist || !xy || !xs || !tmp) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__image_alloc(ctx, m, img->nx, img->ny, img->nz, 1, 0);
    if (st)
        goto out;
    /* each slice's distance along the normal */
    for (k = 0; k < img->nz; k++) {
        double p[3];
        int r;

        for (r = 0; r < 3; r++)
            p[r] = o[r] + (double)k * B[r][2];
        if (img->pos_mm)
            for (r = 0; r < 3; r++)
                p[r] = img->pos_mm[3 * k + r];
        dist[k] = img->normal[0] * p[0] + img->normal[1] * p[1] +
                  img->normal[2] * p[2];
    }
    for (i = 0; i < rt.ncontours; i++) {
        const struct mmdx_rt_contour *c = &rt.c[i];
        double d = 0, tol, best = INFINITY;
        size_t ks = 0, j;
        const double *pk;
        float *sl;

        if (!c->closed || c->npts < 3) {
            open++;
            continue;
        }
        for (j = 0; j < c->npts; j++)
            d += img->normal[0] * c->pts_mm[3 * j] +
                 img->normal[1] * c->pts_mm[3 * j + 1] +
                 img->normal[2] * c->pts_mm[3 * j + 2];
        d /= (double)c->npts;
        for (k = 0; k < img->nz; k++)
            if (fabs(dist[k] - d) < best) {
                best = fabs(dist[k] - d);
                ks = k;
            }
        if (img->nz > 1) {
            tol = INFINITY;
            if (ks > 0)
                tol = fabs(dist[ks] - dist[ks - 1]) / 2;
            if (ks + 1 < img->nz)
                tol = fmin(tol, fabs(dist[ks + 1] - dist[ks]) / 2);
        } else {
            tol = 0.5 * (img->slice_thickness_mm > 0 ? img->slice_thickness_mm
                         : img->spacing_mm[2] > 0 ? img->spacing_mm[2] : 1.0);
        }
        if (best > tol) {
            off++;      /* beyond the image's slices */
            continue;
        }
        pk = img->pos_mm ? img->pos_mm + 3 * ks : o;
        for (j = 0; j < c->npts; j++) {
            const double *p = c->pts_mm + 3 * j;
            double v[3] = { p[0] - pk[0], p[1] - pk[1], p[2] - pk[2] };
            double dn = img->normal[0] * p[0] + img->normal[1] * p[1] +
                        img->normal[2] * p[2];

            if (fabs(dn - dist[ks]) > tol) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                                "ContourData (3006,0050)",
                                "contour %zu of the ROI is not planar in "
                                "the image's slice plane (point %zu is "
                                "%.3g mm off slice %zu)", i + 1, j + 1,
                                fabs(dn - dist[ks]), ks);
                goto out;
            }
            xy[2 * j] = (img->row_cos[0] * v[0] + img->row_cos[1] * v[1] +
                         img->row_cos[2] * v[2]) / img->spacing_mm[0];
            xy[2 * j + 1] = (img->col_cos[0] * v[0] +
                             img->col_cos[1] * v[1] +
                             img->col_cos[2] * v[2]) / img->spacing_mm[1];
        }
        memset(tmp, 0, plane);
        fill(tmp, img->nx, img->ny, xy, c->npts, xs);
        sl = m->vox + ks * plane;
        for (j = 0; j < plane; j++)
            if (tmp[j])
                sl[j] = sl[j] != 0 ? 0.0f : 1.0f;
        placed++;
    }
    if (rt.ncontours > open && !placed) {
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, STAGE, path, 0, "geometry",
                        "none of the ROI's %zu closed contours lies on a "
                        "slice of the image (another series or frame of "
                        "reference?)", rt.ncontours - open);
        goto out;
    }
    stats->placed = placed;
    stats->off_image = off;
    stats->not_closed = open;
    mmdx__strlcpy(m->modality, "RTSTRUCT", sizeof(m->modality));
    mmdx__strlcpy(m->transfer_syntax_name, "RT Structure Set contours",
                  sizeof(m->transfer_syntax_name));
    m->is_segmentation = true;
    m->nfiles = 1;
    *out = m;
    m = NULL;
out:
    mmdx__dicom_rtstruct_fini(&rt);
    mmdx__image_free(m);
    mmdx__free(dist);
    mmdx__free(xy);
    mmdx__free(xs);
    mmdx__free(tmp);
    return st;
}
