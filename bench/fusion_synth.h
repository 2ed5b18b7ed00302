/*
 * fusion_synth.h - a synthetic multimodal cohort whose true risk is known,
 * for the fusion tests and benchmark (included by tests/unit/test_fusion.c
 * and bench/fusion_gen.c; depends only on libc and libm).
 *
 * Latent-factor model. Each patient has K = 6 standard normal factors u.
 * Modality m (ecg, eeg, image, record) sees three of them: its features are
 *   x_std = A_m u / sqrt(3) * 0.9 + noise,   noise ~ N(0, 0.55^2)
 * (informative features), or pure noise (nuisance features, a few with 1%
 * gross outliers of size N(0, 30^2)). Features are then put on arbitrary
 * units: raw = scale * (x_std + shift), scale in 1e-2..1e3.
 * Each modality's score s_m is a fixed sparse combination of 4 of its
 * observed informative features (unit variance), and the true logit is
 *   eta = b0 + 0.7 s_ecg + 0.5 s_eeg + 0.6 s_image + 0.5 s_record
 *             + 1.0 s_ecg s_record - 0.8 s_image s_eeg
 * so the true probability sigmoid(eta) is a function of the observed
 * features; the AUROC of the true probabilities on held-out labels is the
 * Bayes-optimal AUROC. The two cross-modal products cannot be expressed by
 * an additive (late) or linear (early) model, nor by one modality alone.
 */
#ifndef MMDX_FUSION_SYNTH_H
#define MMDX_FUSION_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FSYN_K 6
#define FSYN_NMOD 4

struct fsyn_opts {
    unsigned long n;            /* patients */
    unsigned long seed;
    int nfeat[FSYN_NMOD];       /* per modality (ecg, eeg, image, record) */
    double missing;             /* P(modality missing) per patient, train
                                 * and valid rows only */
    double valid_frac, test_frac;
    int split_column;           /* write a split column in labels */
    int drop_test_mod;          /* -1, or modality made NA on test rows in
                                 * the second features file */
};

static const char *const fsyn_mod[FSYN_NMOD] = { "ecg", "eeg", "image",
                                                 "record" };
/* which factors each modality sees */
static const int fsyn_fac[FSYN_NMOD][3] = { { 0, 1, 2 }, { 2, 3, 4 },
                                            { 4, 5, 0 }, { 1, 3, 5 } };

struct fsyn_rng {
    uint64_t s;
};

static inline uint64_t fsyn_next(struct fsyn_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double fsyn_unif(struct fsyn_rng *r)
{
    return ((double)(fsyn_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double fsyn_norm(struct fsyn_rng *r)
{
    double u = fsyn_unif(r), v = fsyn_unif(r);

    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static inline void fsyn_default(struct fsyn_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n = 20000;
    o->seed = 7;
    o->nfeat[0] = 40;
    o->nfeat[1] = 35;
    o->nfeat[2] = 50;
    o->nfeat[3] = 25;
    o->valid_frac = 0.15;
    o->test_frac = 0.15;
    o->split_column = 1;
    o->drop_test_mod = -1;
}

struct fsyn_pair {
    double p;
    int y;
};

static inline int fsyn_cmp(const void *a, const void *b)
{
    double x = ((const struct fsyn_pair *)a)->p,
           y = ((const struct fsyn_pair *)b)->p;

    return (x > y) - (x < y);
}

/* AUROC of scores p against labels y (ties averaged). */
static inline double fsyn_auroc(struct fsyn_pair *v, size_t n)
{
    size_t i, j, np = 0;
    double rs = 0.0;

    qsort(v, n, sizeof(*v), fsyn_cmp);
    for (i = 0; i < n; i = j) {
        size_t k, pos = 0;

        for (j = i; j < n && v[j].p == v[i].p; j++)
            ;
        for (k = i; k < j; k++)
            pos += (size_t)v[k].y;
        rs += ((double)i + 1.0 + (double)j) / 2.0 * (double)pos;
        np += pos;
    }
    if (np == 0 || np == n)
        return NAN;
    return (rs - (double)np * ((double)np + 1.0) / 2.0) /
           ((double)np * (double)(n - np));
}

/*
 * Write the cohort: features (all rows), features2 (optional: test rows
 * with modality drop_test_mod NA), labels, truth (patient_id, split,
 * p_true, label). Returns the Bayes-optimal AUROC on the test rows
 * (NaN on error).
 */
static inline double fsyn_generate(const struct fsyn_opts *o, FILE *features,
                                   FILE *features2, FILE *labels,
                                   FILE *truth, double *prevalence)
{
    struct fsyn_rng r = { o->seed * 0x2545F4914F6CDD1DULL + 1 };
    int m, j, k, nf = 0;
    double *A[FSYN_NMOD], *scale[FSYN_NMOD], *shift[FSYN_NMOD];
    int *outl[FSYN_NMOD], ninf[FSYN_NMOD];
    double w[FSYN_NMOD][4];
    int widx[FSYN_NMOD][4];
    struct fsyn_pair *test;
    size_t ntest = 0, npos = 0;
    unsigned long i;
    double auc, b0 = -1.1;

    test = malloc((o->n + 1) * sizeof(*test));
    if (!test)
        return NAN;
    for (m = 0; m < FSYN_NMOD; m++) {
        int f = o->nfeat[m];

        nf += f;
        A[m] = calloc((size_t)f * FSYN_K, sizeof(double));
        scale[m] = malloc((size_t)f * sizeof(double));
        shift[m] = malloc((size_t)f * sizeof(double));
        outl[m] = calloc((size_t)f, sizeof(int));
        ninf[m] = (f * 7) / 10;           /* 70% informative */
        for (j = 0; j < f; j++) {
            if (j < ninf[m])
                for (k = 0; k < 3; k++)
                    A[m][j * FSYN_K + fsyn_fac[m][k]] = fsyn_norm(&r);
            else
                outl[m][j] = (j % 3) == 0;
            scale[m][j] = pow(10.0, -2.0 + 5.0 * fsyn_unif(&r));
            shift[m][j] = 6.0 * fsyn_unif(&r) - 3.0;
        }
        for (k = 0; k < 4; k++) {
            widx[m][k] = (k * ninf[m]) / 4;
            w[m][k] = fsyn_norm(&r) > 0 ? 1.0 : -1.0;
        }
    }
    (void)nf;
    /* header */
    fputs("patient_id", features);
    if (features2)
        fputs("patient_id", features2);
    for (m = 0; m < FSYN_NMOD; m++)
        for (j = 0; j < o->nfeat[m]; j++) {
            fprintf(features, "\t%s.syn.f%03d", fsyn_mod[m], j);
            if (features2)
                fprintf(features2, "\t%s.syn.f%03d", fsyn_mod[m], j);
        }
    fputc('\n', features);
    if (features2)
        fputc('\n', features2);
    fputs(o->split_column ? "patient_id\tlabel\tsplit\n"
                          : "patient_id\tlabel\n", labels);
    if (truth)
        fputs("patient_id\tsplit\tp_true\tlabel\n", truth);

    for (i = 0; i < o->n; i++) {
        double u[FSYN_K], s[FSYN_NMOD], eta, p, q = fsyn_unif(&r);
        const char *split = q < o->test_frac                  ? "test"
                            : q < o->test_frac + o->valid_frac ? "valid"
                                                               : "train";
        int is_test = split[1] == 'e', y, miss[FSYN_NMOD], nmiss = 0;
        char id[32];

        for (k = 0; k < FSYN_K; k++)
            u[k] = fsyn_norm(&r);
        for (m = 0; m < FSYN_NMOD; m++) {
            miss[m] = !is_test && o->missing > 0 && fsyn_unif(&r) < o->missing;
            nmiss += miss[m];
        }
        if (nmiss == FSYN_NMOD)
            miss[(int)(fsyn_unif(&r) * FSYN_NMOD) % FSYN_NMOD] = 0;
        snprintf(id, sizeof(id), "P%06lu", i + 1);
        fputs(id, features);
        if (features2)
            fputs(id, features2);
        for (m = 0; m < FSYN_NMOD; m++) {
            double xs[512];
            int f = o->nfeat[m] < 512 ? o->nfeat[m] : 512;

            for (j = 0; j < f; j++) {
                double v = 0.0;

                for (k = 0; k < FSYN_K; k++)
                    v += A[m][j * FSYN_K + k] * u[k];
                v = v / sqrt(3.0) * 0.9 + 0.55 * fsyn_norm(&r);
                if (outl[m][j] && fsyn_unif(&r) < 0.01)
                    v += 30.0 * fsyn_norm(&r);
                xs[j] = v;
            }
            s[m] = 0.0;
            for (k = 0; k < 4; k++)
                s[m] += w[m][k] * xs[widx[m][k]];
            s[m] /= 2.0;          /* ~unit variance */
            for (j = 0; j < f; j++) {
                if (miss[m]) {
                    fputs("\tNA", features);
                } else {
                    fprintf(features, "\t%.6g",
                            scale[m][j] * (xs[j] + shift[m][j]));
                }
                if (features2) {
                    if (miss[m] || (is_test && m == o->drop_test_mod))
                        fputs("\tNA", features2);
                    else
                        fprintf(features2, "\t%.6g",
                                scale[m][j] * (xs[j] + shift[m][j]));
                }
            }
        }
        fputc('\n', features);
        if (features2)
            fputc('\n', features2);
        eta = b0 + 0.7 * s[0] + 0.5 * s[1] + 0.6 * s[2] + 0.5 * s[3] +
              1.0 * s[0] * s[3] - 0.8 * s[2] * s[1];
        p = 1.0 / (1.0 + exp(-eta));
        y = fsyn_unif(&r) < p;
        npos += (size_t)y;
        if (o->split_column)
            fprintf(labels, "%s\t%d\t%s\n", id, y, split);
        else
            fprintf(labels, "%s\t%d\n", id, y);
        if (truth)
            fprintf(truth, "%s\t%s\t%.9g\t%d\n", id, split, p, y);
        if (is_test) {
            test[ntest].p = p;
            test[ntest].y = y;
            ntest++;
        }
    }
    auc = fsyn_auroc(test, ntest);
    if (prevalence)
        *prevalence = (double)npos / (double)(o->n ? o->n : 1);
    for (m = 0; m < FSYN_NMOD; m++) {
        free(A[m]);
        free(scale[m]);
        free(shift[m]);
        free(outl[m]);
    }
    free(test);
    return auc;
}

#endif
