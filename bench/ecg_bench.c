/*
 * ecg_bench.c - throughput of mmdx's ECG path on one lead of a WFDB
 * record: decoding (format 212 -> mV), R-peak detection alone, and
 * detection + every ecg.* feature (quality, morphology, HRV). Prints
 *   stage  samples  median_s  msamples_per_s
 * over --reps runs (median of the thread's CPU time, i.e. per core). With --score TSV it instead scores the beats
 * in a TSV (first column: sample) against RECORD.atr like `mmdx ecg-eval`,
 * which bench/ecg_bench.sh uses for MNE's detections.
 */
#include "core/common.h"
#include "features/ecg_int.h"
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
                        "ecg_bench RECORD --score TSV\n");
        return 2;
    }
    if (mmdx_ctx_new(&ctx))
        return 1;
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
