/*
 * eeg_bench.c - time mmdx's EEG path through the real stages: load.eeg
 * (lazy EDF) + eeg.features, configured by a pipeline file, one patient at
 * a time in one worker (FFT planned once in the stages' init, outside the
 * timing, as the runner does). Prints
 *   file  pipeline  median_ms  min_ms  reps  maxrss_kb  alpha_rel  cpu_ms
 * (median_ms, min_ms: wall clock; cpu_ms: median process CPU time, the
 * steadier figure on a shared machine)
 * maxrss_kb is the process's peak resident set after all runs: run one
 * file per process to compare memory across recording lengths.
 *
 * usage: eeg_bench [--reps N] PIPELINE.xml FILE.edf
 * bench/eeg_bench.py runs it beside MNE.
 */
#include "core/common.h"
#include "mmdx/mmdx.h"
#include "pipeline/stage.h"

#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_stage **stages = NULL;
    size_t nst = 0;
    int reps = 5, i, a = 1;
    double *t, *tc, alpha = NAN;
    struct rusage ru;
    const char *pfile, *file;

    if (argc > 2 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]); /* bench tool: trusted argument */
        a = 3;
    }
    if (argc - a != 2 || reps < 1) {
        fprintf(stderr, "usage: eeg_bench [--reps N] PIPELINE.xml FILE\n");
        return 2;
    }
    pfile = argv[a];
    file = argv[a + 1];
    t = calloc((size_t)reps, sizeof(double));
    tc = calloc((size_t)reps, sizeof(double));
    if (!t || !tc || mmdx_ctx_new(&ctx) || mmdx_ctx_set_datadir(ctx, MMDX_SRCDIR) ||
        mmdx_pipeline_load(ctx, pfile, &pipe) ||
        mmdx__stages_new(ctx, pipe, 0, &stages, &nst)) {
        char buf[1024];

        fprintf(stderr, "eeg_bench: %s\n",
                ctx ? mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                        sizeof(buf))
                    : "no memory");
        return 1;
    }
    for (i = 0; i < reps; i++) {
        struct mmdx_patient p;
        double t0, c0;
        enum mmdx_status st;
        const struct mmdx_feature *f;

        memset(&p, 0, sizeof(p));
        mmdx__featset_init(&p.features);
        p.id = mmdx__strdup("bench");
        p.path[MMDX_MOD_EEG] = mmdx__strdup(file);
        p.label = -1;
        p.ctx = ctx;
        p.deid_warn_only = true;
        c0 = cpu_s();
        t0 = now_s();
        st = mmdx__stages_run(stages, nst, &p, false);
        t[i] = now_s() - t0;
        tc[i] = cpu_s() - c0;
        f = mmdx__featset_get(&p.features, "eeg.band.alpha_rel");
        alpha = f ? f->value : NAN;
        if (st || p.nerrors) {
            fprintf(stderr, "eeg_bench: %s: %s\n", file,
                    p.nerrors ? p.errors[0].message : "failed");
            return 1;
        }
        mmdx__patient_fini(&p);
    }
    getrusage(RUSAGE_SELF, &ru);
    {
        /* the first run (cold: page cache, lazy symbol binding) is left
         * out when there are more */
        int skip = reps > 1, m = reps - skip;
        double *s = malloc((size_t)reps * sizeof(double));
        double wall_med, wall_min;

        memcpy(s, t + skip, (size_t)m * sizeof(double));
        qsort(s, (size_t)m, sizeof(double), cmp);
        wall_med = m % 2 ? s[m / 2] : 0.5 * (s[m / 2 - 1] + s[m / 2]);
        wall_min = s[0];
        memcpy(s, tc + skip, (size_t)m * sizeof(double));
        qsort(s, (size_t)m, sizeof(double), cmp);
        printf("%s\t%s\t%.3f\t%.3f\t%d\t%ld\t%.9g\t%.3f\n",
               mmdx__path_basename(file), mmdx__path_basename(pfile),
               1e3 * wall_med, 1e3 * wall_min, m, ru.ru_maxrss, alpha,
               1e3 * (m % 2 ? s[m / 2] : 0.5 * (s[m / 2 - 1] + s[m / 2])));
        free(s);
    }
    mmdx__stages_free(stages, nst);
    mmdx_pipeline_free(pipe);
    mmdx_ctx_free(ctx);
    free(t);
    free(tc);
    return 0;
}
