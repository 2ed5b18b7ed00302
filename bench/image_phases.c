/*
 * image_phases.c - the image path's phases timed alone, for before/after
 * comparisons of one build against another (bench/image_phases.sh runs
 * it): each phase is repeated and the fastest and median times (thread
 * CPU time) are printed, with a checksum of what it computed.
 *
 * usage: image_phases load FILE|DIR REPS
 *        image_phases roi FILE REPS          threshold ROI (HU >= -500)
 *        image_phases features FILE|DIR REPS FAMILIES [AGG...]
 * FAMILIES: MMDX_FAM_* bits (image_features.h: 10 = intensity statistics
 * + GLCM, the bench's work; 16 GLRLM; 480 the four zone families);
 * AGG: aggregations (0 3D merged, 1 3D averaged, 2 2D averaged, ...),
 * default 0. The ROI is HU >= -500, FBN 32 levels.
 */
#include "core/common.h"
#include "io/dicom.h"
#include "features/image_features.h"

#include <time.h>

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static enum mmdx_status sink(void *user, const char *name, double v)
{
    MMDX_UNUSED(name);
    if (isfinite(v))
        *(double *)user += v;
    return MMDX_OK;
}

static void report(const char *what, double *t, long reps, double sum)
{
    qsort(t, (size_t)reps, sizeof(*t), cmp_d);
    printf("%s: fastest %.1f us, median %.1f us (checksum %.10g)\n", what,
           t[0], t[reps / 2], sum);
}

static struct mmdx_image *load(struct mmdx_ctx *ctx, const char *path)
{
    struct mmdx_image *img = NULL;

    if (mmdx__dicom_load(ctx, path, NULL, NULL, NULL, &img)) {
        char msg[2400];

        mmdx_error_format(mmdx_ctx_last_error(ctx), msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return NULL;
    }
    return img;
}

int main(int argc, char **argv)
{
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_image *img;
    uint8_t *roi;
    double *t, sum = 0;
    long reps, r;
    size_t n;

    if (argc < 4 || !mmdx__parse_long(argv[3], &reps) || reps < 1 ||
        (strcmp(argv[1], "load") && strcmp(argv[1], "roi") &&
         strcmp(argv[1], "features")) ||
        (!strcmp(argv[1], "features") && argc < 5)) {
        fprintf(stderr, "usage: image_phases load|roi|features FILE|DIR "
                        "REPS [FAMILIES [AGG...]]\n");
        return 2;
    }
    t = calloc((size_t)reps, sizeof(*t));
    if (!t || mmdx_ctx_new(&ctx))
        return 1;
    if (!strcmp(argv[1], "load")) {
        for (r = 0; r < reps; r++) {
            double t0 = now_us();

            img = load(ctx, argv[2]);
            t[r] = now_us() - t0;
            if (!img)
                return 1;
            sum += img->vox[img->nx * img->ny * img->nz / 2];
            mmdx__image_free(img);
        }
        report("load", t, reps, sum);
        return 0;
    }
    if (!(img = load(ctx, argv[2])))
        return 1;
    n = img->nx * img->ny * img->nz;
    roi = malloc(n);
    if (!roi)
        return 1;
    if (!strcmp(argv[1], "roi")) {
        for (r = 0; r < reps; r++) {
            double t0 = now_us();

            sum += (double)mmdx__image_roi_min(img, -500.0, roi);
            t[r] = now_us() - t0;
        }
        report("roi", t, reps, sum);
    } else {
        struct mmdx_imgfeat_ws *ws = mmdx__imgfeat_ws_new();
        long fam, agg;
        int a;

        if (!ws || !mmdx__parse_long(argv[4], &fam) || fam <= 0)
            return 2;
        mmdx__image_roi_min(img, -500.0, roi);
        for (a = argc > 5 ? 5 : 4; a < (argc > 5 ? argc : 5); a++) {
            struct mmdx_imgfeat_opts o;
            char what[64];

            agg = 0;
            if (argc > 5 && !mmdx__parse_long(argv[a], &agg))
                return 2;
            memset(&o, 0, sizeof(o));
            o.disc = MMDX_DISC_FBN;
            o.bins = 32;
            o.agg = (int)agg;
            o.families = (unsigned)fam;
            sum = 0;
            for (r = 0; r < reps; r++) {
                double t0 = now_us();

                if (mmdx__image_features_ws(ctx, ws, img, roi, false, &o,
                                            sink, &sum))
                    return 1;
                t[r] = now_us() - t0;
            }
            snprintf(what, sizeof(what), "features %ld, aggregation %ld",
                     fam, agg);
            report(what, t, reps, sum / (double)reps);
        }
        mmdx__imgfeat_ws_free(ws);
    }
    free(roi);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
    free(t);
    return 0;
}
