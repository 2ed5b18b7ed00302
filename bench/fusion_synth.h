/*
 * fusion_synth.h - a synthetic multimodal cohort whose true risk is known,
 * for the fusion tests and benchmark (included by tests/unit/test_fusion.c
 * and bench/fusion_gen.c; depends only on libc and libm).
 *
 * Latent-factor model. Each patient has K = 6 independent standard normal
 * factors u. Modality m (ecg, eeg, image, record) sees three of them
 * (ecg 0,1,2; eeg 2,3,4; image 4,5,0; record 1,3,5): 70% of its features
 * are x_j = a_j . u + e_j with loadings a_j ~ N(0, 0.5^2) on its factors
 * and noise e_j ~ N(0, 1.5^2); the rest are pure noise N(0, 1), a third of
 * them with 1% gross outliers N(0, 30^2). Features are then put on
 * arbitrary units: raw = scale_j * (x_j + shift_j), scale in 1e-2..1e3.
 * The label is y ~ Bernoulli(sigmoid(eta(u))) with
 *   eta = -1 + 0.6 u0 + 0.5 u2 - 0.4 u5 + 0.9 u1 u4 - 0.7 u0 u3,
 * whose two products join factors that no single modality sees together,
 * so early (linear) and late (additive) fusion and single modalities
 * cannot express them.
 *
 * The Bayes-optimal risk given what a model can observe is
 *   p(x) = E[sigmoid(eta(u)) | observed features],
 * where u | x is Gaussian (precision I + sum_j a_j a_j^T / psi_j over the
 * observed informative features, psi = 1.5^2; nuisance features carry no
 * information) and the expectation is taken by Monte Carlo over 2048
 * common standard normal draws (common random numbers keep the ranking of
 * patients smooth). The AUROC of p(x) on the held-out labels is the
 * Bayes-optimal AUROC; it is computed for the full features and, with
 * drop_test_mod, for the test rows without that modality.
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

/* AUROC of scores p against labels y (ties averaged); sorts v. */
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

#define FSYN_MC 2048
#define FSYN_PSI (1.5 * 1.5)

static inline double fsyn_eta(const double *u)
{
    return -1.0 + 0.6 * u[0] + 0.5 * u[2] - 0.4 * u[5] + 0.9 * u[1] * u[4] -
           0.7 * u[0] * u[3];
}

/*
 * E[sigmoid(eta(u)) | x] for the observed informative features: A (nobs x
 * K loadings), x (nobs values, standard units). Z: FSYN_MC x K draws.
 */
static inline double fsyn_posterior_risk(const double *A, const double *x,
                                         int nobs, const double *Z)
{
    double P[FSYN_K][FSYN_K], L[FSYN_K][FSYN_K], h[FSYN_K], mu[FSYN_K];
    double acc = 0.0;
    int i, j, k, s;

    for (i = 0; i < FSYN_K; i++) {
        h[i] = 0.0;
        for (j = 0; j < FSYN_K; j++)
            P[i][j] = i == j ? 1.0 : 0.0;
    }
    for (k = 0; k < nobs; k++) {
        const double *a = A + k * FSYN_K;

        for (i = 0; i < FSYN_K; i++) {
            h[i] += a[i] * x[k] / FSYN_PSI;
            for (j = 0; j < FSYN_K; j++)
                P[i][j] += a[i] * a[j] / FSYN_PSI;
        }
    }
    /* Cholesky P = L L^T */
    for (i = 0; i < FSYN_K; i++)
        for (j = 0; j <= i; j++) {
            double v = P[i][j];

            for (k = 0; k < j; k++)
                v -= L[i][k] * L[j][k];
            if (i == j)
                L[i][i] = sqrt(v);
            else
                L[i][j] = v / L[j][j];
            L[j][i] = i == j ? L[i][i] : 0.0;
        }
    /* mu = P^-1 h: forward then backward substitution */
    for (i = 0; i < FSYN_K; i++) {
        double v = h[i];

        for (k = 0; k < i; k++)
            v -= L[i][k] * mu[k];
        mu[i] = v / L[i][i];
    }
    for (i = FSYN_K - 1; i >= 0; i--) {
        double v = mu[i];

        for (k = i + 1; k < FSYN_K; k++)
            v -= L[k][i] * mu[k];
        mu[i] = v / L[i][i];
    }
    /* u = mu + L^-T z has covariance P^-1 */
    for (s = 0; s < FSYN_MC; s++) {
        const double *z = Z + s * FSYN_K;
        double v[FSYN_K], u[FSYN_K];

        for (i = FSYN_K - 1; i >= 0; i--) {
            double t = z[i];

            for (k = i + 1; k < FSYN_K; k++)
                t -= L[k][i] * v[k];
            v[i] = t / L[i][i];
        }
        for (i = 0; i < FSYN_K; i++)
            u[i] = mu[i] + v[i];
        acc += 1.0 / (1.0 + exp(-fsyn_eta(u)));
    }
    return acc / FSYN_MC;
}

/*
 * Write the cohort: features (all rows), features2 (optional: test rows
 * without modality drop_test_mod), labels, truth (patient_id, split,
 * p_bayes, p_latent, label; p_bayes for every row). Returns the
 * Bayes-optimal AUROC on the test rows (NaN on error); *bayes_drop gets
 * the one without the dropped modality.
 */
static inline double fsyn_generate(const struct fsyn_opts *o, FILE *features,
                                   FILE *features2, FILE *labels,
                                   FILE *truth, double *prevalence,
                                   double *bayes_drop)
{
    struct fsyn_rng r = { o->seed * 0x2545F4914F6CDD1DULL + 1 };
    struct fsyn_rng rz = { 0x5eedULL };
    int m, j, k, nf = 0, ninf[FSYN_NMOD];
    double *A[FSYN_NMOD], *scale[FSYN_NMOD], *shift[FSYN_NMOD], *Z;
    double *obsA, *obsx;
    int *outl[FSYN_NMOD];
    struct fsyn_pair *test, *test2;
    size_t ntest = 0, npos = 0;
    unsigned long i;
    double auc;

    for (m = 0; m < FSYN_NMOD; m++)
        nf += o->nfeat[m];
    test = malloc((o->n + 1) * sizeof(*test));
    test2 = malloc((o->n + 1) * sizeof(*test2));
    Z = malloc(FSYN_MC * FSYN_K * sizeof(double));
    obsA = malloc(((size_t)nf + 1) * FSYN_K * sizeof(double));
    obsx = malloc(((size_t)nf + 1) * sizeof(double));
    if (!test || !test2 || !Z || !obsA || !obsx)
        return NAN;
    for (k = 0; k < FSYN_MC * FSYN_K; k++)
        Z[k] = fsyn_norm(&rz);
    for (m = 0; m < FSYN_NMOD; m++) {
        int f = o->nfeat[m];

        A[m] = calloc((size_t)f * FSYN_K, sizeof(double));
        scale[m] = malloc((size_t)f * sizeof(double));
        shift[m] = malloc((size_t)f * sizeof(double));
        outl[m] = calloc((size_t)f, sizeof(int));
        ninf[m] = (f * 7) / 10;
        for (j = 0; j < f; j++) {
            if (j < ninf[m])
                for (k = 0; k < 3; k++)
                    A[m][j * FSYN_K + fsyn_fac[m][k]] = 0.5 * fsyn_norm(&r);
            else
                outl[m][j] = (j % 3) == 0;
            scale[m][j] = pow(10.0, -2.0 + 5.0 * fsyn_unif(&r));
            shift[m][j] = 6.0 * fsyn_unif(&r) - 3.0;
        }
    }
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
        fputs("patient_id\tsplit\tp_bayes\tp_latent\tlabel\n", truth);

    for (i = 0; i < o->n; i++) {
        double u[FSYN_K], pl, pb, q = fsyn_unif(&r);
        const char *split = q < o->test_frac                  ? "test"
                            : q < o->test_frac + o->valid_frac ? "valid"
                                                               : "train";
        int is_test = split[1] == 'e', y, miss[FSYN_NMOD], nmiss = 0;
        int nobs = 0, nobs2 = 0;
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
            int f = o->nfeat[m];

            for (j = 0; j < f; j++) {
                double v;

                if (j < ninf[m]) {
                    v = 1.5 * fsyn_norm(&r);
                    for (k = 0; k < FSYN_K; k++)
                        v += A[m][j * FSYN_K + k] * u[k];
                    if (!miss[m]) {
                        memcpy(obsA + nobs * FSYN_K, A[m] + j * FSYN_K,
                               FSYN_K * sizeof(double));
                        obsx[nobs++] = v;
                        if (m != o->drop_test_mod)
                            nobs2++;
                    }
                } else {
                    v = fsyn_norm(&r);
                    if (outl[m][j] && fsyn_unif(&r) < 0.01)
                        v += 30.0 * fsyn_norm(&r);
                }
                if (miss[m])
                    fputs("\tNA", features);
                else
                    fprintf(features, "\t%.6g",
                            scale[m][j] * (v + shift[m][j]));
                if (features2) {
                    if (miss[m] || (is_test && m == o->drop_test_mod))
                        fputs("\tNA", features2);
                    else
                        fprintf(features2, "\t%.6g",
                                scale[m][j] * (v + shift[m][j]));
                }
            }
        }
        fputc('\n', features);
        if (features2)
            fputc('\n', features2);
        pl = 1.0 / (1.0 + exp(-fsyn_eta(u)));
        y = fsyn_unif(&r) < pl;
        npos += (size_t)y;
        pb = (is_test || truth) ? fsyn_posterior_risk(obsA, obsx, nobs, Z)
                                : NAN;
        if (o->split_column)
            fprintf(labels, "%s\t%d\t%s\n", id, y, split);
        else
            fprintf(labels, "%s\t%d\n", id, y);
        if (truth)
            fprintf(truth, "%s\t%s\t%.9g\t%.9g\t%d\n", id, split, pb, pl, y);
        if (is_test) {
            test[ntest].p = pb;
            test[ntest].y = y;
            if (bayes_drop && o->drop_test_mod >= 0) {
                /* the drop modality's rows were appended in modality
                 * order: rebuild the observed set without them */
                int kk = 0, mm, jj, at = 0;

                for (mm = 0; mm < FSYN_NMOD; mm++)
                    for (jj = 0; jj < ninf[mm]; jj++) {
                        if (miss[mm])
                            continue;
                        if (mm != o->drop_test_mod) {
                            memmove(obsA + kk * FSYN_K, obsA + at * FSYN_K,
                                    FSYN_K * sizeof(double));
                            obsx[kk] = obsx[at];
                            kk++;
                        }
                        at++;
                    }
                (void)nobs2;
                test2[ntest].p = fsyn_posterior_risk(obsA, obsx, kk, Z);
                test2[ntest].y = y;
            }
            ntest++;
        }
    }
    auc = fsyn_auroc(test, ntest);
    if (bayes_drop)
        *bayes_drop = o->drop_test_mod >= 0 ? fsyn_auroc(test2, ntest) : NAN;
    if (prevalence)
        *prevalence = (double)npos / (double)(o->n ? o->n : 1);
    for (m = 0; m < FSYN_NMOD; m++) {
        free(A[m]);
        free(scale[m]);
        free(shift[m]);
        free(outl[m]);
    }
    free(test);
    free(test2);
    free(Z);
    free(obsA);
    free(obsx);
    return auc;
}

#endif
