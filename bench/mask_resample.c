/*
 * mask_resample.c - time of putting a mask on a 512 x 512 x 100 image
 * grid (0.7 x 0.7 x 2.5 mm, built in memory): the exact path (a mask on
 * the same grid, copied) as the baseline, and mask_resample=nearest for
 * a mask at twice the voxel size (256 x 256 x 50) and for a mask of the
 * image's size rotated 30 degrees in-plane. Then DICOM SEG objects
 * (one segment, BINARY, written to a temporary folder): 100 frames of
 * 512 x 512 on the image grid (the exact path, baseline) and 50 frames of
 * 256 x 256 at twice the voxel size (resampled); their times include
 * reading and decoding the file. Not run by make check.
 *
 * usage: mask_resample REPEATS
 * prints one line per case: "<case> median_ms M inside N ratio R" (CPU
 * time of this process; N = non-zero voxels of the result; R = median /
 * the exact path's median of the same kind)
 */
#include "core/common.h"
#include "io/mask.h"

#include "io/dicom.h"

#include <time.h>
#include <unistd.h>

#define NXY 512
#define NZ 100

static double now_ms(void)
{
    struct timespec ts;

    /* CPU time of this process: the machine is shared */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* An nx x ny x nz grid, voxel (i, j, k) at o + i s rc + j s cc + k dz z,
 * a ball of radius 60 mm around (0, 0, 0) set to 1 (when fill). */
static struct mmdx_image *grid(struct mmdx_ctx *ctx, size_t nx, size_t ny,
                               size_t nz, double s, double dz,
                               const double o[3], const double rc[3],
                               const double cc[3], bool fill)
{
    struct mmdx_image *m = mmdx__image_new();
    size_t i, j, k;
    int r;

    if (!m || mmdx__image_alloc(ctx, m, nx, ny, nz, 1, 0) ||
        !(m->pos_mm = mmdx__calloc(3 * nz, sizeof(double)))) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (r = 0; r < 3; r++) {
        m->row_cos[r] = rc[r];
        m->col_cos[r] = cc[r];
    }
    m->normal[2] = 1;
    m->spacing_mm[0] = m->spacing_mm[1] = s;
    m->spacing_mm[2] = m->slice_thickness_mm = dz;
    m->has_orientation = true;
    for (k = 0; k < nz; k++) {
        for (r = 0; r < 3; r++)
            m->pos_mm[3 * k + r] = o[r];
        m->pos_mm[3 * k + 2] += dz * (double)k;
        if (!fill)
            continue;
        for (j = 0; j < ny; j++)
            for (i = 0; i < nx; i++) {
                double p[3];

                for (r = 0; r < 3; r++)
                    p[r] = o[r] + s * ((double)i * rc[r] +
                                       (double)j * cc[r]);
                p[2] += dz * (double)k;
                m->vox[i + nx * (j + ny * k)] =
                    p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= 3600 ? 1.0f
                                                                    : 0.0f;
            }
    }
    return m;
}

/* A one-segment SEG of m's frames (values > 0.5 = 1) at path. */
static void seg_of(struct mmdx_ctx *ctx, const struct mmdx_image *m,
                   const char *path)
{
    static const char *const lab[1] = { "Ball" };
    struct mmdx_dicom_seg_write w;
    size_t n = m->nx * m->ny * m->nz, i;
    uint8_t *fr = malloc(n);
    long *fs = malloc(m->nz * sizeof(long));

    if (!fr || !fs)
        exit(1);
    for (i = 0; i < n; i++)
        fr[i] = m->vox[i] > 0.5f;
    for (i = 0; i < m->nz; i++)
        fs[i] = 1;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99997";
    w.rows = (unsigned)m->ny;
    w.cols = (unsigned)m->nx;
    w.pixel_spacing_mm[0] = m->spacing_mm[1];
    w.pixel_spacing_mm[1] = m->spacing_mm[0];
    w.slice_thickness_mm = m->spacing_mm[2];
    w.labels = lab;
    w.nseg = 1;
    w.nframes = m->nz;
    w.frames = fr;
    w.frame_segment = fs;
    w.frame_pos_mm = m->pos_mm;
    if (mmdx__dicom_write_seg(ctx, path, &w)) {
        fprintf(stderr, "%s: %s\n", path, mmdx_ctx_last_error(ctx)->message);
        exit(1);
    }
    free(fr);
    free(fs);
}

int main(int argc, char **argv)
{
    static const double ax[3] = { 1, 0, 0 }, ay[3] = { 0, 1, 0 };
    const double c30 = sqrt(3.0) / 2, s30 = 0.5;
    const double rc30[3] = { c30, s30, 0 }, cc30[3] = { -s30, c30, 0 };
    const double oi[3] = { -179.2, -179.2, -125 };
    const double o2[3] = { -179.2 + 0.35, -179.2 + 0.35, -125 + 1.25 };
    const double o30[3] = { -60, -200, -125 };
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_image *img, *src[3];
    static const char *const name[3] = { "exact_same_grid",
                                         "nearest_2x_voxels",
                                         "nearest_oblique_30deg" };
    double base = 0, *t;
    long reps, r;
    int c;

    if (argc != 2 || !mmdx__parse_long(argv[1], &reps) || reps < 1 ||
        reps > 100 || mmdx_ctx_new(&ctx)) {
        fprintf(stderr, "usage: mask_resample REPEATS (1..100)\n");
        return 2;
    }
    t = calloc((size_t)reps, sizeof(double));
    img = grid(ctx, NXY, NXY, NZ, 0.7, 2.5, oi, ax, ay, false);
    src[0] = grid(ctx, NXY, NXY, NZ, 0.7, 2.5, oi, ax, ay, true);
    src[1] = grid(ctx, NXY / 2, NXY / 2, NZ / 2, 1.4, 5, o2, ax, ay, true);
    src[2] = grid(ctx, NXY, NXY, NZ, 0.7, 2.5, o30, rc30, cc30, true);
    if (!t)
        return 1;
    for (c = 0; c < 3; c++) {
        size_t n = 0, i;

        for (r = 0; r < reps; r++) {
            struct mmdx_image *out = NULL;
            enum mmdx_mask_geom g;
            double t0 = now_ms();

            if (mmdx__mask_align_ex(ctx, "bench", img, src[c], true, &out,
                                    &g)) {
                fprintf(stderr, "%s: %s\n", name[c],
                        mmdx_ctx_last_error(ctx)->message);
                return 1;
            }
            t[r] = now_ms() - t0;
            if (r == 0)
                for (i = 0, n = 0; i < out->nx * out->ny * out->nz; i++)
                    n += out->vox[i] > 0.5f;
            mmdx__image_free(out);
        }
        qsort(t, (size_t)reps, sizeof(double), cmp_d);
        if (c == 0)
            base = t[reps / 2];
        printf("%s median_ms %.1f inside %zu ratio %.2f\n", name[c],
               t[reps / 2], n, t[reps / 2] / base);
    }
    {
        char tmpl[] = "/tmp/mmdx-mask-resample-XXXXXX", *dir = mkdtemp(tmpl);
        char path[2][96];
        static const char *const sname[2] = { "seg_exact_same_grid",
                                              "seg_nearest_2x_voxels" };

        if (!dir)
            return 1;
        for (c = 0; c < 2; c++) {
            snprintf(path[c], sizeof(path[c]), "%s/s%d.dcm", dir, c);
            seg_of(ctx, src[c], path[c]);
        }
        for (c = 0; c < 2; c++) {
            size_t n = 0, i;

            for (r = 0; r < reps; r++) {
                struct mmdx_image *out = NULL;
                struct mmdx_mask_label li;
                enum mmdx_mask_geom g;
                double t0 = now_ms();

                if (mmdx__seg_mask_ex(ctx, path[c], img, NULL, 0, true, NULL,
                                      NULL, &out, &g, &li)) {
                    fprintf(stderr, "%s: %s\n", sname[c],
                            mmdx_ctx_last_error(ctx)->message);
                    return 1;
                }
                t[r] = now_ms() - t0;
                if (r == 0)
                    for (i = 0, n = 0; i < out->nx * out->ny * out->nz; i++)
                        n += out->vox[i] > 0.5f;
                mmdx__image_free(out);
            }
            qsort(t, (size_t)reps, sizeof(double), cmp_d);
            if (c == 0)
                base = t[reps / 2];
            printf("%s median_ms %.1f inside %zu ratio %.2f\n", sname[c],
                   t[reps / 2], n, t[reps / 2] / base);
            unlink(path[c]);
        }
        rmdir(dir);
    }
    for (c = 0; c < 3; c++)
        mmdx__image_free(src[c]);
    mmdx__image_free(img);
    free(t);
    mmdx_ctx_free(ctx);
    return 0;
}
