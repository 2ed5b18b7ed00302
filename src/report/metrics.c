/*
 * metrics.c - discrimination and calibration metrics of a binary risk
 * model: AUROC (DeLong interval), average precision (bootstrap interval),
 * Brier score, logistic recalibration intercept and slope, expected
 * calibration error, confusion rates at a threshold.
 *
 * Definitions follow scikit-learn where it has one (roc_auc_score,
 * average_precision_score, brier_score_loss, confusion_matrix) so that
 * numbers can be checked side by side; tests/data/report_metrics_ref.tsv
 * holds the reference values (tests/data/gen_report_metrics.py).
 */
#include "core/common.h"
#include "mmdx/report.h"
#include "report/report_int.h"

#define Z975 1.959963984540054 /* standard normal 97.5 % quantile */

struct scored {
    double s;
    int y;
};

static int cmp_asc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;

    return x->s < y->s ? -1 : x->s > y->s ? 1 : 0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

static bool usable(double p, int y)
{
    return !isnan(p) && (y == 0 || y == 1);
}

/* Copy the usable rows, sorted by score ascending. *out NULL when none. */
static enum mmdx_status sorted_rows(const double *prob, const int *label,
                                    size_t n, struct scored **out,
                                    size_t *m)
{
    struct scored *v;
    size_t i, k = 0;

    *out = NULL;
    *m = 0;
    v = mmdx__calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return MMDX_E_NOMEM;
    for (i = 0; i < n; i++)
        if (usable(prob[i], label[i])) {
            v[k].s = prob[i];
            v[k].y = label[i];
            k++;
        }
    qsort(v, k, sizeof(*v), cmp_asc);
    *out = v;
    *m = k;
    return MMDX_OK;
}

/*
 * DeLong placements from mid-ranks (Sun and Xu 2014): for a positive,
 * the fraction of negatives scored below it (ties one half); for a
 * negative, the fraction of positives scored above it. v is sorted
 * ascending. Returns the AUROC; *var the DeLong variance.
 */
static double delong_sorted(const struct scored *v, size_t m, double *var)
{
    size_t i = 0, n1 = 0, n0 = 0;
    double pos_below = 0, neg_below = 0; /* counts of strictly lower */
    double s10 = 0, ss10 = 0, ss01 = 0, auc, d;

    for (i = 0; i < m; i++) {
        if (v[i].y)
            n1++;
        else
            n0++;
    }
    *var = NAN;
    if (!n1 || !n0)
        return NAN;
    /* two passes over tie groups: the AUROC, then the placements' spread */
    for (i = 0; i < m;) {
        size_t j = i, gp = 0, gn = 0;

        while (j < m && v[j].s == v[i].s) {
            if (v[j].y)
                gp++;
            else
                gn++;
            j++;
        }
        /* each positive in the group: negatives below + half the tied */
        s10 += (double)gp * (neg_below + 0.5 * (double)gn) / (double)n0;
        pos_below += (double)gp;
        neg_below += (double)gn;
        i = j;
    }
    auc = s10 / (double)n1;
    pos_below = neg_below = 0;
    for (i = 0; i < m;) {
        size_t j = i, gp = 0, gn = 0;
        double v10, v01;

        while (j < m && v[j].s == v[i].s) {
            if (v[j].y)
                gp++;
            else
                gn++;
            j++;
        }
        v10 = (neg_below + 0.5 * (double)gn) / (double)n0;
        v01 = ((double)n1 - pos_below - 0.5 * (double)gp) / (double)n1;
        d = v10 - auc;
        ss10 += (double)gp * d * d;
        d = v01 - auc;
        ss01 += (double)gn * d * d;
        pos_below += (double)gp;
        neg_below += (double)gn;
        i = j;
    }
    if (n1 > 1 && n0 > 1)
        *var = ss10 / (double)(n1 - 1) / (double)n1 +
               ss01 / (double)(n0 - 1) / (double)n0;
    return auc;
}

MMDX_API double mmdx_auroc(const double *prob, const int *label, size_t n)
{
    struct scored *v;
    size_t m;
    double auc, var;

    if (sorted_rows(prob, label, n, &v, &m))
        return NAN;
    auc = delong_sorted(v, m, &var);
    mmdx__free(v);
    return auc;
}

MMDX_API enum mmdx_status mmdx_auroc_delong(struct mmdx_ctx *ctx,
                                            const double *prob,
                                            const int *label, size_t n,
                                            double *auc, double *lo,
                                            double *hi, double *var)
{
    struct scored *v;
    size_t m;
    double a, vv, half;

    if (sorted_rows(prob, label, n, &v, &m))
        return mmdx__nomem(ctx);
    a = delong_sorted(v, m, &vv);
    mmdx__free(v);
    half = Z975 * sqrt(vv);
    if (auc)
        *auc = a;
    if (lo)
        *lo = isnan(half) ? NAN : fmax(0.0, a - half);
    if (hi)
        *hi = isnan(half) ? NAN : fmin(1.0, a + half);
    if (var)
        *var = vv;
    return MMDX_OK;
}

/*
 * Weighted average precision over rows sorted ascending, walked from the
 * top score down; w[i] is the multiplicity of row i (NULL = 1 each).
 * Distinct scores are the thresholds, as in scikit-learn.
 */
static double ap_sorted(const struct scored *v, size_t m,
                        const unsigned *w)
{
    double P = 0, tp = 0, fp = 0, ap = 0, prev_recall = 0;
    size_t i;

    for (i = 0; i < m; i++)
        P += (double)(w ? w[i] : 1) * v[i].y;
    if (P <= 0)
        return NAN;
    for (i = m; i > 0;) {
        size_t j = i;

        while (j > 0 && v[j - 1].s == v[i - 1].s) {
            double c = (double)(w ? w[j - 1] : 1);

            if (v[j - 1].y)
                tp += c;
            else
                fp += c;
            j--;
        }
        if (tp + fp > 0) {
            double recall = tp / P;

            ap += (recall - prev_recall) * (tp / (tp + fp));
            prev_recall = recall;
        }
        i = j;
    }
    return ap;
}

MMDX_API double mmdx_average_precision(const double *prob, const int *label,
                                       size_t n)
{
    struct scored *v;
    size_t m;
    double ap;

    if (sorted_rows(prob, label, n, &v, &m))
        return NAN;
    ap = ap_sorted(v, m, NULL);
    mmdx__free(v);
    return ap;
}

/* Uniform integer below n (n > 0), without modulo bias. */
static size_t rng_below(struct mmdx_rng *r, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;

    do
        x = mmdx__rng_next(r);
    while (x >= lim);
    return (size_t)(x % n);
}

/* Quantile q of sorted x[0..n) with linear interpolation (numpy default). */
static double quantile_sorted(const double *x, size_t n, double q)
{
    double pos;
    size_t k;

    if (!n)
        return NAN;
    pos = q * (double)(n - 1);
    k = (size_t)pos;
    if (k + 1 >= n)
        return x[n - 1];
    return x[k] + (pos - (double)k) * (x[k + 1] - x[k]);
}

MMDX_API enum mmdx_status mmdx_auprc_bootstrap(struct mmdx_ctx *ctx,
                                               const double *prob,
                                               const int *label, size_t n,
                                               unsigned n_boot, uint64_t seed,
                                               double *ap, double *lo,
                                               double *hi)
{
    struct scored *v = NULL;
    unsigned *w = NULL;
    double *boots = NULL, a;
    size_t m, b, i, got = 0;
    struct mmdx_rng rng;

    *ap = *lo = *hi = NAN;
    if (sorted_rows(prob, label, n, &v, &m))
        return mmdx__nomem(ctx);
    a = ap_sorted(v, m, NULL);
    *ap = a;
    if (isnan(a) || !n_boot || !m) {
        mmdx__free(v);
        return MMDX_OK;
    }
    w = mmdx__calloc(m, sizeof(*w));
    boots = mmdx__calloc(n_boot, sizeof(*boots));
    if (!w || !boots) {
        mmdx__free(v);
        mmdx__free(w);
        mmdx__free(boots);
        return mmdx__nomem(ctx);
    }
    mmdx__rng_seed(&rng, seed);
    for (b = 0; b < n_boot; b++) {
        int tries;
        double x = NAN;

        /* a resample without a positive has no AP: draw again */
        for (tries = 0; tries < 100 && isnan(x); tries++) {
            memset(w, 0, m * sizeof(*w));
            for (i = 0; i < m; i++)
                w[rng_below(&rng, m)]++;
            x = ap_sorted(v, m, w);
        }
        if (!isnan(x))
            boots[got++] = x;
    }
    qsort(boots, got, sizeof(*boots), cmp_dbl);
    *lo = quantile_sorted(boots, got, 0.025);
    *hi = quantile_sorted(boots, got, 0.975);
    mmdx__free(v);
    mmdx__free(w);
    mmdx__free(boots);
    return MMDX_OK;
}

MMDX_API double mmdx_brier(const double *prob, const int *label, size_t n)
{
    double s = 0;
    size_t i, k = 0;

    for (i = 0; i < n; i++)
        if (usable(prob[i], label[i])) {
            double d = prob[i] - label[i];

            s += d * d;
            k++;
        }
    return k ? s / (double)k : NAN;
}

static double logit_clipped(double p)
{
    const double eps = 1e-12;

    if (p < eps)
        p = eps;
    if (p > 1 - eps)
        p = 1 - eps;
    return log(p / (1 - p));
}

static double sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

MMDX_API void mmdx_calibration(const double *prob, const int *label,
                               size_t n, double *intercept, double *slope)
{
    double a = 0, b = 1, a1 = 0;
    size_t i, k = 0;
    int it;
    bool ok = false;

    *intercept = *slope = NAN;
    for (i = 0; i < n; i++)
        k += usable(prob[i], label[i]);
    if (!k)
        return;
    /* intercept with logit(p) as an offset: one-dimensional Newton */
    for (it = 0; it < 100; it++) {
        double g = 0, h = 0, step;

        for (i = 0; i < n; i++) {
            double q;

            if (!usable(prob[i], label[i]))
                continue;
            q = sigmoid(a1 + logit_clipped(prob[i]));
            g += label[i] - q;
            h += q * (1 - q);
        }
        if (!(h > 0))
            break;
        step = g / h;
        a1 += step;
        if (!isfinite(a1) || fabs(a1) > 1e6)
            break;
        if (fabs(step) < 1e-12 * (1 + fabs(a1))) {
            ok = true;
            break;
        }
    }
    if (ok)
        *intercept = a1;
    /* classes separated by logit(p): the slope has no finite maximum */
    {
        double max0 = -INFINITY, min1 = INFINITY, max1 = -INFINITY,
               min0 = INFINITY;

        for (i = 0; i < n; i++) {
            double x;

            if (!usable(prob[i], label[i]))
                continue;
            x = logit_clipped(prob[i]);
            if (label[i]) {
                min1 = fmin(min1, x);
                max1 = fmax(max1, x);
            } else {
                min0 = fmin(min0, x);
                max0 = fmax(max0, x);
            }
        }
        if (max0 <= min1 || max1 <= min0)
            return;
    }
    /* intercept and slope jointly: two-dimensional Newton */
    ok = false;
    for (it = 0; it < 200; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0, det, da, db;

        for (i = 0; i < n; i++) {
            double x, q, wq;

            if (!usable(prob[i], label[i]))
                continue;
            x = logit_clipped(prob[i]);
            q = sigmoid(a + b * x);
            wq = q * (1 - q);
            ga += label[i] - q;
            gb += (label[i] - q) * x;
            haa += wq;
            hab += wq * x;
            hbb += wq * x * x;
        }
        det = haa * hbb - hab * hab;
        if (!(det > 0) || !isfinite(det))
            break;
        da = (hbb * ga - hab * gb) / det;
        db = (haa * gb - hab * ga) / det;
        a += da;
        b += db;
        if (!isfinite(a) || !isfinite(b) || fabs(b) > 1e6)
            break;
        if (fabs(da) < 1e-12 * (1 + fabs(a)) &&
            fabs(db) < 1e-12 * (1 + fabs(b))) {
            ok = true;
            break;
        }
    }
    if (ok)
        *slope = b;
}

MMDX_API double mmdx_ece(const double *prob, const int *label, size_t n,
                         unsigned nbins)
{
    double sp[64] = { 0 }, sy[64] = { 0 }, ece = 0;
    size_t cnt[64] = { 0 }, i, k = 0;
    unsigned b;

    if (nbins == 0)
        nbins = 10;
    if (nbins > 64)
        nbins = 64;
    for (i = 0; i < n; i++) {
        double p = prob[i];

        if (!usable(p, label[i]))
            continue;
        b = p <= 0 ? 0 : p >= 1 ? nbins - 1 : (unsigned)(p * nbins);
        if (b >= nbins)
            b = nbins - 1;
        sp[b] += p;
        sy[b] += label[i];
        cnt[b]++;
        k++;
    }
    if (!k)
        return NAN;
    for (b = 0; b < nbins; b++)
        if (cnt[b])
            ece += (double)cnt[b] / (double)k *
                   fabs(sp[b] / (double)cnt[b] - sy[b] / (double)cnt[b]);
    return ece;
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : NAN;
}

MMDX_API void mmdx_confusion_at(const double *prob, const int *label,
                                size_t n, double threshold,
                                struct mmdx_confusion *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->threshold = threshold;
    for (i = 0; i < n; i++) {
        bool pos;

        if (!usable(prob[i], label[i]))
            continue;
        pos = prob[i] >= threshold;
        if (label[i])
            pos ? out->tp++ : out->fn++;
        else
            pos ? out->fp++ : out->tn++;
    }
    out->sensitivity = ratio(out->tp, out->tp + out->fn);
    out->specificity = ratio(out->tn, out->tn + out->fp);
    out->ppv = ratio(out->tp, out->tp + out->fp);
    out->npv = ratio(out->tn, out->tn + out->fn);
}

MMDX_API enum mmdx_status mmdx_metrics_compute(struct mmdx_ctx *ctx,
                                               const double *prob,
                                               const int *label, size_t n,
                                               double threshold,
                                               unsigned n_boot, uint64_t seed,
                                               unsigned ece_bins,
                                               struct mmdx_metrics *out)
{
    size_t i;
    enum mmdx_status st;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < n; i++) {
        if (!usable(prob[i], label[i]))
            out->n_ignored++;
        else if (label[i])
            out->n_pos++;
        else
            out->n_neg++;
    }
    out->n = out->n_pos + out->n_neg;
    out->n_boot = n_boot ? n_boot : 2000;
    out->seed = seed;
    out->ece_bins = ece_bins ? ece_bins : 10;
    st = mmdx_auroc_delong(ctx, prob, label, n, &out->auroc, &out->auroc_lo,
                           &out->auroc_hi, NULL);
    if (!st)
        st = mmdx_auprc_bootstrap(ctx, prob, label, n, out->n_boot, seed,
                                  &out->auprc, &out->auprc_lo,
                                  &out->auprc_hi);
    if (st)
        return st;
    out->brier = mmdx_brier(prob, label, n);
    mmdx_calibration(prob, label, n, &out->cal_intercept, &out->cal_slope);
    out->ece = mmdx_ece(prob, label, n, out->ece_bins);
    mmdx_confusion_at(prob, label, n, threshold, &out->at);
    return MMDX_OK;
}
