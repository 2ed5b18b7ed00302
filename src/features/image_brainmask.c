/*
 * image_brainmask.c - the automatic region of interest for MR images
 * without a mask: a head (foreground) mask.
 *
 * The rule, stated in the flag image.roi.auto_mr_head:
 *  1. threshold: Otsu's threshold on a 256-bin histogram of the finite
 *     voxel values between their minimum and maximum; foreground = value
 *     above the threshold (the upper edge of Otsu's bin);
 *  2. the largest 6-connected 3D component of the foreground (drops
 *     isolated noise, markers, ghosts);
 *  3. morphological closing in each slice with a (2r+1) x (2r+1) square,
 *     r = close_radius voxels (outside the image counts as background
 *     for the dilation and as foreground for the erosion, so the mask
 *     never shrinks at the image edge);
 *  4. holes filled in each slice: background not 4-connected to the
 *     slice border becomes foreground (ventricles, dark CSF, air in the
 *     sinuses inside the head outline).
 * This is a head mask, not a skull-stripped brain mask: scalp, skull
 * marrow and meninges above the threshold stay in. The intensity
 * features then describe the head; morphology is not computed for
 * automatic masks.
 */
#include "core/common.h"
#include "features/image_brainmask.h"
#include "pipeline/stage.h"

#define NBINS 256

static double otsu(const float *v, size_t n, double lo, double hi)
{
    double hist[NBINS], w = (hi - lo) / NBINS, sum = 0, sumb = 0, wb = 0,
           best = -1, tot = 0, thr = lo;
    size_t i;
    int k;

    memset(hist, 0, sizeof(hist));
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        k = (int)((v[i] - lo) / w);
        if (k >= NBINS)
            k = NBINS - 1;
        if (k < 0)
            k = 0;
        hist[k]++;
    }
    for (k = 0; k < NBINS; k++) {
        sum += k * hist[k];
        tot += hist[k];
    }
    for (k = 0; k < NBINS - 1; k++) {
        double wf, mb, mf, between;

        wb += hist[k];
        sumb += k * hist[k];
        wf = tot - wb;
        if (wb == 0 || wf == 0)
            continue;
        mb = sumb / wb;
        mf = (sum - sumb) / wf;
        between = wb * wf * (mb - mf) * (mb - mf);
        if (between > best) {
            best = between;
            thr = lo + (k + 1) * w;
        }
    }
    return thr;
}

struct stack {
    size_t *v, n, cap;
};

static bool push(struct stack *s, size_t x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 4096, bytes;
        size_t *nv;

        if (!mmdx__mul_size(nc, sizeof(size_t), &bytes))
            return false;
        nv = mmdx__realloc(s->v, bytes);
        if (!nv)
            return false;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return true;
}

/* Flood the 6-connected component of m[seed] == from, setting it to to;
 * returns its size, or (size_t)-1 on out-of-memory. */
static size_t flood3(uint8_t *m, size_t nx, size_t ny, size_t nz,
                     size_t seed, uint8_t from, uint8_t to, struct stack *s)
{
    size_t cnt = 0, plane = nx * ny;

    s->n = 0;
    m[seed] = to;
    if (!push(s, seed))
        return (size_t)-1;
    while (s->n) {
        size_t v = s->v[--s->n], x = v % nx, y = (v / nx) % ny, z = v / plane;
        size_t nb[6];
        int k, c = 0;

        cnt++;
        if (x > 0)
            nb[c++] = v - 1;
        if (x + 1 < nx)
            nb[c++] = v + 1;
        if (y > 0)
            nb[c++] = v - nx;
        if (y + 1 < ny)
            nb[c++] = v + nx;
        if (z > 0)
            nb[c++] = v - plane;
        if (z + 1 < nz)
            nb[c++] = v + plane;
        for (k = 0; k < c; k++)
            if (m[nb[k]] == from) {
                m[nb[k]] = to;
                if (!push(s, nb[k]))
                    return (size_t)-1;
            }
    }
    return cnt;
}

/* One pass of a 1D max (dilate) or min (erode) filter of half-width r
 * along x (step 1, n = nx) or y (step nx, n = ny) of one slice. */
static void filt1(uint8_t *sl, uint8_t *tmp, size_t nx, size_t ny, bool along_x,
                  long r, bool dilate)
{
    size_t lines = along_x ? ny : nx, len = along_x ? nx : ny,
           step = along_x ? 1 : nx, l, i;

    for (l = 0; l < lines; l++) {
        uint8_t *p = sl + (along_x ? l * nx : l);

        for (i = 0; i < len; i++) {
            long j, lo = (long)i - r, hi = (long)i + r;
            uint8_t acc = dilate ? 0 : 1;

            for (j = lo; j <= hi; j++) {
                uint8_t val;

                if (j < 0 || j >= (long)len)
                    val = dilate ? 0 : 1;
                else
                    val = p[(size_t)j * step];
                if (dilate && val) {
                    acc = 1;
                    break;
                }
                if (!dilate && !val) {
                    acc = 0;
                    break;
                }
            }
            tmp[i] = acc;
        }
        for (i = 0; i < len; i++)
            p[i * step] = tmp[i];
    }
}

enum mmdx_status mmdx__mr_head_mask(const struct mmdx_image *img,
                                    long close_radius, uint8_t *roi,
                                    struct mmdx_headmask_info *info)
{
    size_t n = img->nx * img->ny * img->nz, plane = img->nx * img->ny, i, z;
    size_t best = 0, bestseed = 0, comps = 0;
    double lo = INFINITY, hi = -INFINITY;
    struct stack s = { NULL, 0, 0 };
    uint8_t *tmp = NULL;
    enum mmdx_status st = MMDX_OK;

    memset(info, 0, sizeof(*info));
    info->threshold = NAN;
    if (img->nc != 1 || !n)
        return MMDX_E_INVAL;
    for (i = 0; i < n; i++)
        if (isfinite(img->vox[i])) {
            lo = fmin(lo, img->vox[i]);
            hi = fmax(hi, img->vox[i]);
        }
    if (!(hi > lo))
        return MMDX_E_INVAL;   /* constant or empty: no foreground */
    info->threshold = otsu(img->vox, n, lo, hi);
    for (i = 0; i < n; i++)
        roi[i] = img->vox[i] > info->threshold;
    /* largest component: label every component 2, remember the largest */
    for (i = 0; i < n; i++) {
        size_t c;

        if (roi[i] != 1)
            continue;
        c = flood3(roi, img->nx, img->ny, img->nz, i, 1, 2, &s);
        if (c == (size_t)-1) {
            st = MMDX_E_NOMEM;
            goto out;
        }
        comps++;
        if (c > best) {
            best = c;
            bestseed = i;
        }
    }
    info->components = comps;
    if (!best) {
        st = MMDX_E_INVAL;
        goto out;
    }
    if (flood3(roi, img->nx, img->ny, img->nz, bestseed, 2, 3, &s) ==
        (size_t)-1) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    for (i = 0; i < n; i++)
        roi[i] = roi[i] == 3;
    tmp = mmdx__malloc((img->nx > img->ny ? img->nx : img->ny) + plane);
    if (!tmp) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    for (z = 0; z < img->nz; z++) {
        uint8_t *sl = roi + z * plane, *fill = tmp + (img->nx > img->ny
                                                          ? img->nx
                                                          : img->ny);
        size_t x, y;

        if (close_radius > 0) {
            filt1(sl, tmp, img->nx, img->ny, true, close_radius, true);
            filt1(sl, tmp, img->nx, img->ny, false, close_radius, true);
            filt1(sl, tmp, img->nx, img->ny, true, close_radius, false);
            filt1(sl, tmp, img->nx, img->ny, false, close_radius, false);
        }
        /* holes: background reached from the border stays background */
        for (i = 0; i < plane; i++)
            fill[i] = sl[i] ? 1 : 0;
        for (y = 0; y < img->ny; y++)
            for (x = 0; x < img->nx; x++) {
                size_t v = x + img->nx * y;

                if ((x == 0 || y == 0 || x + 1 == img->nx ||
                     y + 1 == img->ny) && fill[v] == 0 &&
                    flood3(fill, img->nx, img->ny, 1, v, 0, 2, &s) ==
                        (size_t)-1) {
                    st = MMDX_E_NOMEM;
                    goto out;
                }
            }
        for (i = 0; i < plane; i++)
            sl[i] = fill[i] != 2;
    }
    for (i = 0; i < n; i++)
        info->voxels += roi[i];
out:
    mmdx__free(s.v);
    mmdx__free(tmp);
    return st;
}

enum mmdx_status mmdx__roi_auto_mr(struct mmdx_patient *p,
                                   const struct mmdx_image *img,
                                   long close_radius, uint8_t *roi,
                                   double *source)
{
    struct mmdx_headmask_info hi;
    enum mmdx_status st = mmdx__mr_head_mask(img, close_radius, roi, &hi);

    if (st == MMDX_E_NOMEM)
        return st;
    if (st) {
        memset(roi, 1, img->nx * img->ny * img->nz);
        *source = 3;
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.roi.whole_image",
                           "no mask, MR image without a foreground "
                           "(constant intensity): ROI = the whole image; "
                           "morphology not computed");
        return MMDX_OK;
    }
    *source = 4;
    mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.roi.auto_mr_head",
                       "no mask: ROI = MR head (foreground) mask: values > "
                       "%.6g (Otsu, 256 bins), largest 6-connected "
                       "component (of %zu), closing with a %ldx%ld square "
                       "in each slice, holes filled in each slice; not "
                       "skull-stripped; morphology not computed",
                       hi.threshold, hi.components, 2 * close_radius + 1,
                       2 * close_radius + 1);
    return MMDX_OK;
}
