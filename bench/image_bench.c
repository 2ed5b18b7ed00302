/*
 * image_bench.c - per-image feature extraction time: read + decode +
 * rescale (DCMTK / OpenJPEG), then the ROI (CT body mask, HU >= -500),
 * FBN 32 discretisation, intensity statistics and GLCM (3D merged).
 * The same work as bench/image_bench_numpy.py; bench/image_bench.sh runs
 * both and prints the ratios.
 *
 * usage: image_bench FILE_OR_SERIES_DIR REPEATS
 * prints: "load_ms M features_ms M total_ms M checksum C": medians of the
 * process CPU time, and the sum of all feature values (per run) to check
 * that both sides computed the same thing
 */
#include "core/common.h"
#include "io/dicom.h"
#include "features/image_features.h"

#include <time.h>

static double now_ms(void)
{
    struct timespec ts;

    /* CPU time of this process: the machine is shared, and wall time
     * would measure the neighbours */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static enum mmdx_status sink(void *user, const char *name, double v)
{
    double *acc = user;

    MMDX_UNUSED(name);
    if (isfinite(v))
        *acc += v;
    return MMDX_OK;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long reps;
    double *tl, *tf, *tt, acc = 0;
    struct mmdx_imgfeat_opts o;
    struct mmdx_imgfeat_ws *ws;
    long r;

    if (argc != 3 || !mmdx__parse_long(argv[2], &reps) || reps < 1) {
        fprintf(stderr, "usage: image_bench FILE|DIR REPEATS\n");
        return 2;
    }
    tl = calloc((size_t)reps, sizeof(double));
    tf = calloc((size_t)reps, sizeof(double));
    tt = calloc((size_t)reps, sizeof(double));
    if (!tl || !tf || !tt)
        return 1;
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 32;
    o.agg = MMDX_AGG_3D_MERGED;
    o.families = MMDX_FAM_STAT | MMDX_FAM_GLCM;
    /* one scratch for all runs, as a pipeline worker keeps it from one
     * patient to the next (src/features/image_stage.c) */
    ws = mmdx__imgfeat_ws_new();
    if (!ws)
        return 1;
    for (r = 0; r < reps; r++) {
        struct mmdx_ctx *ctx = NULL;
        struct mmdx_image *img = NULL;
        uint8_t *roi;
        size_t n;
        double t0, t1, t2;

        if (mmdx_ctx_new(&ctx))
            return 1;
        t0 = now_ms();
        if (mmdx__dicom_load(ctx, argv[1], NULL, NULL, NULL, &img)) {
            char msg[2400];

            mmdx_error_format(mmdx_ctx_last_error(ctx), msg, sizeof(msg));
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        t1 = now_ms();
        n = img->nx * img->ny * img->nz;
        roi = malloc(n);
        if (!roi)
            return 1;
        if (!mmdx__image_roi_min(img, -500.0, roi))
            return 1;
        if (mmdx__image_features_ws(ctx, ws, img, roi, false, &o, sink,
                                    &acc))
            return 1;
        t2 = now_ms();
        tl[r] = t1 - t0;
        tf[r] = t2 - t1;
        tt[r] = t2 - t0;
        free(roi);
        mmdx__image_free(img);
        mmdx_ctx_free(ctx);
    }
    qsort(tl, (size_t)reps, sizeof(double), cmp_d);
    qsort(tf, (size_t)reps, sizeof(double), cmp_d);
    qsort(tt, (size_t)reps, sizeof(double), cmp_d);
    printf("load_ms %.3f features_ms %.3f total_ms %.3f checksum %.6g\n",
           tl[reps / 2], tf[reps / 2], tt[reps / 2], acc / (double)reps);
    mmdx__imgfeat_ws_free(ws);
    free(tl);
    free(tf);
    free(tt);
    return 0;
}
