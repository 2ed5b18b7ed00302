/*
 * ecg_bench.c - throughput of mmdx's ECG path on one lead of a WFDB
 * record: decoding (format 212 -> mV), R-peak detection alone, and
 * detection + every ecg.* feature (quality, morphology, HRV). Prints
 *   stage  samples  median_s  msamples_per_s
 * over --reps runs (median of the thread's CPU time, i.e. per core). With --score TSV it instead scores the beats
 * in a TSV (first column: sample) against RECORD.atr like `mmdx ecg-eval`,
 * which bench/ecg_bench.sh uses for MNE's detections. With --dump it
 * prints, for every ECG lead of FILE (any format mmdx reads), the beats
 * of the detector alone and of the analysis, the quality windows and
 * every ecg.* feature and flag at %.17g: the before/after check of
 * bench/ecg_identical.sh for speed work that must not change results.
 */
#include "core/common.h"
#include "features/ecg_int.h"
#include "io/ecg_load.h"
#include "io/wfdb.h"
#include "pipeline/stage.h"

#include <time.h>

/* CPU time of this thread: "per core" throughput on a shared machine,
 * where wall time also counts the time other processes hold the core. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int score(struct mmdx_ctx *ctx, const char *rec, const char *tsv)
{
    struct mmdx_wfdb_annset a;
    struct mmdx_ecg_score sc;
    char path[1024], line[256];
    int64_t *ref, *test = NULL;
    size_t nref = 0, ntest = 0, cap = 0, i;
    FILE *fp;

    snprintf(path, sizeof(path), "%s.atr", rec);
    if (mmdx__wfdb_ann_read(ctx, path, &a))
        return 1;
    ref = mmdx__malloc((a.n + 1) * sizeof(*ref));
    for (i = 0; i < a.n; i++)
        if (mmdx__wfdb_ann_is_beat(a.a[i].code))
            ref[nref++] = a.a[i].sample;
    fp = fopen(tsv, "r");
    if (!fp)
        return 1;
    while (fgets(line, sizeof(line), fp)) {
        char *e;
        long long v = strtoll(line, &e, 10);

        if (e == line)
            continue; /* header */
        if (ntest == cap) {
            cap = cap ? 2 * cap : 4096;
            test = mmdx__realloc(test, cap * sizeof(*test));
        }
        test[ntest++] = v;
    }
    fclose(fp);
    /* 360 Hz MIT-BIH: 5 min = 108000 samples, 150 ms = 54 */
    mmdx__ecg_score(ref, nref, test, ntest, 108000, 54, &sc);
    printf("beats\t%ld\ttp\t%ld\tfn\t%ld\tfp\t%ld\tse_pct\t%.2f\tppv_pct\t%.2f\n",
           sc.beats, sc.tp, sc.fn, sc.fp,
           100.0 * (double)sc.tp / (double)(sc.tp + sc.fn),
           100.0 * (double)sc.tp / (double)(sc.tp + sc.fp));
    mmdx__free(ref);
    mmdx__free(test);
    mmdx__wfdb_annset_fini(&a);
    return 0;
}

static int dump(struct mmdx_ctx *ctx, const char *path)
{
    struct mmdx_signal *s = NULL;
    const char *want[] = { "II" };
    size_t ch, i;
    char buf[2048];

    if (mmdx__ecg_load_ex(ctx, path, want, 1, true, NULL, &s)) {
        mmdx_ctx_clear_error(ctx);
        if (mmdx__ecg_load_ex(ctx, path, NULL, 0, false, NULL, &s)) {
            fprintf(stderr, "%s\n", mmdx_error_format(
                                        mmdx_ctx_last_error(ctx), buf,
                                        sizeof(buf)));
            return 1;
        }
    }
    for (ch = 0; ch < s->nch; ch++) {
        const struct mmdx_channel *c = &s->ch[ch];
        struct mmdx_qrs_beat *b = NULL;
        const struct mmdx_qrs_beat *ab;
        struct mmdx_ecg_an *a = NULL;
        struct mmdx_patient p;
        const uint8_t *ok;
        size_t nb, nab, nwin, good;
        double q;

        if (!c->data)
            continue;
        printf("lead\t%zu\t%s\t%.17g\t%zu\n", ch, c->label, c->fs_hz, c->n);
        if (mmdx__qrs_detect(ctx, c->data, c->n, c->fs_hz, &b, &nb)) {
            printf("detect_error\t%s\n",
                   mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                     sizeof(buf)));
            mmdx_ctx_clear_error(ctx);
            continue;
        }
        for (i = 0; i < nb; i++)
            printf("det\t%lld\t%.9g\t%d\n", (long long)b[i].sample,
                   (double)b[i].amplitude, b[i].searchback);
        mmdx__free(b);
        memset(&p, 0, sizeof(p));
        if (mmdx__ecg_an_new(ctx, c->fs_hz, &a) ||
            mmdx__ecg_an_push(a, c->data, c->n) || mmdx__ecg_an_end(a)) {
            printf("an_error\n");
            mmdx__ecg_an_free(a);
            mmdx_ctx_clear_error(ctx);
            continue;
        }
        ab = mmdx__ecg_an_beats(a, &nab);
        for (i = 0; i < nab; i++)
            printf("an\t%lld\t%.9g\t%d\n", (long long)ab[i].sample,
                   (double)ab[i].amplitude, ab[i].searchback);
        q = mmdx__ecg_an_quality(a, &nwin, &good, &ok);
        printf("sqi\t%.17g\t%zu\t%zu\t", q, nwin, good);
        for (i = 0; i < nwin; i++)
            putchar('0' + ok[i]);
        printf("\naveraged\t%zu\n", mmdx__ecg_an_averaged(a));
        if (mmdx__ecg_an_finish(a, &p)) {
            printf("finish_error\n");
            mmdx_ctx_clear_error(ctx);
        }
        for (i = 0; i < p.features.n; i++)
            printf("feature\t%s\t%.17g\n", p.features.v[i].name,
                   p.features.v[i].value);
        for (i = 0; i < p.nflags; i++)
            printf("flag\t%s\t%s\n", p.flags[i].code, p.flags[i].message);
        mmdx__ecg_an_free(a);
        mmdx__patient_fini(&p);
    }
    mmdx__signal_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    struct mmdx_signal *s = NULL;
    const char *want[] = { "II" };
    int reps = 5, r, i;
    double t[64], t0;
    size_t n;

    if (argc < 2) {
        fprintf(stderr, "usage: ecg_bench RECORD [--reps N] | "
                        "ecg_bench RECORD --score TSV | "
                        "ecg_bench FILE --dump\n");
        return 2;
    }
    if (mmdx_ctx_new(&ctx))
        return 1;
    if (argc >= 3 && !strcmp(argv[2], "--dump"))
        return dump(ctx, argv[1]);
    if (argc >= 4 && !strcmp(argv[2], "--score"))
        return score(ctx, argv[1], argv[3]);
    if (argc >= 4 && !strcmp(argv[2], "--reps"))
        reps = (int)strtol(argv[3], NULL, 10);
    if (reps < 1 || reps > 64)
        reps = 5;
    for (r = 0; r < reps; r++) {
        mmdx__signal_free(s);
        s = NULL;
        t0 = now_s();
        if (mmdx__wfdb_load(ctx, argv[1], want, 1, &s, NULL)) {
            char buf[2048];

            fprintf(stderr, "%s\n", mmdx_error_format(mmdx_ctx_last_error(ctx),
                                                      buf, sizeof(buf)));
            return 1;
        }
        t[r] = now_s() - t0;
    }
    n = s->ch[0].n;
    printf("stage\tsamples\tmedian_s\tmsamples_per_s\n");
    {
        double m = median(t, reps);

        printf("decode_212_one_lead\t%zu\t%.6f\t%.1f\n", n, m, n / m / 1e6);
    }
    for (r = 0; r < reps; r++) {
        struct mmdx_qrs_beat *b = NULL;
        size_t nb;

        t0 = now_s();
        mmdx__qrs_detect(ctx, s->ch[0].data, n, s->ch[0].fs_hz, &b, &nb);
        t[r] = now_s() - t0;
        mmdx__free(b);
    }
    {
        double m = median(t, reps);

        printf("detect\t%zu\t%.6f\t%.1f\n", n, m, n / m / 1e6);
    }
    for (r = 0; r < reps; r++) {
        struct mmdx_ecg_an *a = NULL;
        struct mmdx_patient p;

        memset(&p, 0, sizeof(p));
        t0 = now_s();
        if (mmdx__ecg_an_new(ctx, s->ch[0].fs_hz, &a) ||
            mmdx__ecg_an_push(a, s->ch[0].data, n) ||
            mmdx__ecg_an_finish(a, &p))
            return 1;
        t[r] = now_s() - t0;
        if (r == 0)
            for (i = 0; i < (int)p.features.n; i++)
                fprintf(stderr, "%s\t%g\n", p.features.v[i].name,
                        p.features.v[i].value);
        mmdx__ecg_an_free(a);
        mmdx__patient_fini(&p);
    }
    {
        double m = median(t, reps);

        printf("detect_and_features\t%zu\t%.6f\t%.1f\n", n, m, n / m / 1e6);
    }
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
    return 0;
}
