/*
 * mmdx/report.h - performance metrics of a binary risk model, validation
 * reports and plots.
 *
 * Conventions shared by every function here:
 * - prob[i] is a predicted probability (or any score for the rank metrics),
 *   label[i] is 0 or 1; rows whose label is not 0/1 or whose prob is NaN
 *   are ignored (they are counted in mmdx_metrics.n_ignored).
 * - A metric that cannot be computed (e.g. AUROC without any positive) is
 *   NaN, never 0.
 */
#ifndef MMDX_REPORT_H
#define MMDX_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "mmdx/export.h"
#include "mmdx/status.h"
#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Counts and rates at one decision threshold (positive when prob >= t). */
struct mmdx_confusion {
    double threshold;
    size_t tp, fp, tn, fn;
    double sensitivity;   /**< TP / (TP + FN) */
    double specificity;   /**< TN / (TN + FP) */
    double ppv;           /**< TP / (TP + FP) */
    double npv;           /**< TN / (TN + FN) */
};

/** Everything mmdx_metrics_compute() reports for one set of predictions. */
struct mmdx_metrics {
    size_t n, n_pos, n_neg, n_ignored;
    double auroc, auroc_lo, auroc_hi;   /**< 95 % CI by DeLong */
    double auprc, auprc_lo, auprc_hi;   /**< average precision; 95 % CI by
                                             percentile bootstrap */
    unsigned n_boot;                    /**< bootstrap resamples used */
    uint64_t seed;                      /**< bootstrap seed */
    double brier;                       /**< mean squared error of prob */
    double cal_intercept;               /**< calibration-in-the-large:
                                             a in logit P(y) = a + logit p */
    double cal_slope;                   /**< b in logit P(y) = a' + b logit p */
    double ece;                         /**< expected calibration error */
    unsigned ece_bins;                  /**< equal-width bins on [0, 1] */
    struct mmdx_confusion at;           /**< at the operating threshold */
};

/**
 * Area under the ROC curve (Mann-Whitney statistic, ties count one half;
 * equal to scikit-learn's roc_auc_score).
 * @return the AUROC, NaN without both classes.
 */
MMDX_API double mmdx_auroc(const double *prob, const int *label, size_t n);

/**
 * AUROC with its DeLong (1988) variance, as a 95 % normal-approximation
 * interval clipped to [0, 1].
 * @param var receives the DeLong variance (may be NULL).
 * @return MMDX_OK or MMDX_E_NOMEM (recorded on ctx). Without both classes
 *         every output is NaN and the call still succeeds.
 */
MMDX_API enum mmdx_status mmdx_auroc_delong(struct mmdx_ctx *ctx,
                                            const double *prob,
                                            const int *label, size_t n,
                                            double *auc, double *lo,
                                            double *hi, double *var);

/**
 * Average precision as scikit-learn defines it (average_precision_score):
 * sum over distinct thresholds of (R_k - R_{k-1}) * P_k, no interpolation.
 * @return AP, NaN without any positive.
 */
MMDX_API double mmdx_average_precision(const double *prob, const int *label,
                                       size_t n);

/**
 * Average precision with a 95 % percentile-bootstrap interval: n_boot
 * resamples of the rows with replacement (xoshiro256** seeded by seed);
 * resamples without a positive are drawn again.
 * @return MMDX_OK or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_auprc_bootstrap(struct mmdx_ctx *ctx,
                                               const double *prob,
                                               const int *label, size_t n,
                                               unsigned n_boot, uint64_t seed,
                                               double *ap, double *lo,
                                               double *hi);

/** Brier score: mean of (prob - label)^2. NaN when n is 0. */
MMDX_API double mmdx_brier(const double *prob, const int *label, size_t n);

/**
 * Logistic recalibration on logit(prob) (prob clipped to [1e-12, 1-1e-12]):
 * the calibration intercept is a in logit P(y=1) = a + logit(p) (slope
 * fixed at 1, "calibration-in-the-large"); the slope is b in
 * logit P(y=1) = a' + b logit(p). Maximum likelihood by Newton-Raphson;
 * NaN when it does not converge (e.g. perfectly separated data).
 */
MMDX_API void mmdx_calibration(const double *prob, const int *label,
                               size_t n, double *intercept, double *slope);

/**
 * Expected calibration error with nbins equal-width bins on [0, 1] (bin k
 * holds k/nbins <= p < (k+1)/nbins, p = 1 in the last bin):
 * sum over bins of (n_bin / n) * |mean(prob) - mean(label)|.
 */
MMDX_API double mmdx_ece(const double *prob, const int *label, size_t n,
                         unsigned nbins);

/** Confusion counts and rates at threshold (positive when prob >= it);
 * rates with a zero denominator are NaN. */
MMDX_API void mmdx_confusion_at(const double *prob, const int *label,
                                size_t n, double threshold,
                                struct mmdx_confusion *out);

/**
 * All of the above. Rows with NaN prob or a label other than 0/1 are left
 * out (counted in n_ignored).
 * @param n_boot bootstrap resamples for the AUPRC interval (0 = 2000).
 * @param ece_bins ECE bins (0 = 10).
 * @return MMDX_OK or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_metrics_compute(struct mmdx_ctx *ctx,
                                               const double *prob,
                                               const int *label, size_t n,
                                               double threshold,
                                               unsigned n_boot, uint64_t seed,
                                               unsigned ece_bins,
                                               struct mmdx_metrics *out);


/** Options of mmdx_validate(); mmdx_validate_opts_init() fills defaults. */
struct mmdx_validate_opts {
    const char *model;      /**< model file (mmdx train) */
    const char *manifest;   /**< labelled cohort manifest */
    const char *features;   /**< features.tsv of `mmdx run`; NULL = run the
                                 feature pipeline into OUT/run */
    const char *pipeline;   /**< pipeline for that run; NULL = default */
    const char *out;        /**< output folder */
    double threshold;       /**< operating threshold; NaN = the model's
                                 low/moderate band boundary */
    unsigned n_boot;        /**< bootstrap resamples (AUPRC CI) */
    uint64_t seed;          /**< bootstrap seed */
    int all_rows;           /**< evaluate every labelled row even when the
                                 manifest has split=test rows */
    int jobs;               /**< workers for the feature run (0 = all) */
};

/** Fill @p o with the defaults (2000 resamples, fixed seed). */
MMDX_API void mmdx_validate_opts_init(struct mmdx_validate_opts *o);

/**
 * Validate a model on a labelled cohort: OUT/validation.html (metrics
 * with CIs, ROC and reliability plots, modality ablation, model card),
 * OUT/validation.tsv, OUT/ablation.tsv, OUT/predictions.tsv.
 * @param result receives the metrics of the full model.
 * @return MMDX_OK; E_USAGE for missing options; E_INVAL when no labelled
 *   patient is left; model, table and run errors as reported by the
 *   fusion and pipeline APIs; E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_validate(struct mmdx_ctx *ctx,
                                        const struct mmdx_validate_opts *o,
                                        struct mmdx_metrics *result);

#ifdef __cplusplus
}
#endif

#endif
