/*
 * mmdx/fusion.h - training and applying the multimodal risk model.
 *
 * A model is learned from a feature table (features.tsv as written by
 * `mmdx run`: a patient_id column, then one column per feature named
 * modality.family.name_unit, NA for missing) and a labels table (any TSV
 * with patient_id, label 0/1 and optionally split train/valid/test).
 */
#ifndef MMDX_FUSION_PUBLIC_H
#define MMDX_FUSION_PUBLIC_H

#include <stddef.h>
#include <stdint.h>
#include "mmdx/export.h"
#include "mmdx/status.h"
#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Training options; mmdx_fusion_train_opts_init() fills the defaults. */
struct mmdx_fusion_train_opts {
    uint64_t seed;          /**< RNG seed (split, init, batches, dropout) */
    unsigned epochs;        /**< maximum epochs */
    unsigned patience;      /**< early stopping: epochs without gain */
    unsigned batch;         /**< mini-batch rows */
    double lr;              /**< Adam step size */
    double weight_decay;    /**< decoupled weight decay, per step * lr */
    double align_weight;    /**< weight of the contrastive alignment term */
    double temperature;     /**< contrastive temperature */
    double mod_dropout;     /**< probability of dropping a present modality */
    double l1;              /**< L1 penalty on encoder input weights */
    double ema;             /**< Polyak averaging of weights (0 = off) */
    double valid_frac;      /**< validation share when no split given */
    double test_frac;       /**< held-out share when no split given */
    unsigned hidden;        /**< encoder hidden units */
    unsigned embed;         /**< shared embedding width */
    unsigned head_hidden;   /**< risk head hidden units */
    /** "joint", "early", "late" or "single:<modality>" */
    const char *arch;
    /** "mean" or "attention" (joint only) */
    const char *pool;
    /** joint: the head also sees the mean of pairwise elementwise products
     * of the present modalities' embeddings (1, default) or not (0) */
    int interactions;
};

/** Fill @p o with the defaults. */
MMDX_API void mmdx_fusion_train_opts_init(struct mmdx_fusion_train_opts *o);

/** Progress of one epoch, for display. */
struct mmdx_fusion_progress {
    unsigned epoch;
    double train_loss;      /**< class-weighted BCE, training mean */
    double align_loss;      /**< contrastive term, training mean */
    double valid_loss;      /**< class-weighted BCE on validation */
    double valid_auroc;
    double seconds;         /**< since training started (wall) */
    double cpu_seconds;     /**< CPU time since training started */
    int best;               /**< 1 when this epoch is the best so far */
};
typedef void (*mmdx_fusion_progress_fn)(void *user,
                                        const struct mmdx_fusion_progress *p);

/** What a training run achieved. */
struct mmdx_fusion_summary {
    size_t n_train, n_valid, n_test;
    size_t n_unlabelled;    /**< feature rows without a usable label */
    size_t n_no_features;   /**< labelled ids absent from the features */
    unsigned epochs, best_epoch;
    double auroc_train, auroc_valid, auroc_test;   /**< NaN = no rows */
    double read_seconds, train_seconds;           /**< wall clock */
    double read_cpu_seconds, train_cpu_seconds;   /**< CPU (thread) */
    char model_sha256[65];
};

/**
 * Train a model and write it to @p out_path (atomically).
 * @param features_path features.tsv; @param labels_path labels TSV.
 * @param progress optional per-epoch callback.
 * @param sum optional summary.
 * @return MMDX_OK; E_IO/E_FORMAT/E_LIMIT naming file, line and column for
 * bad tables; E_INVAL for bad options or too few labelled patients;
 * E_NOMEM.
 */
MMDX_API enum mmdx_status
mmdx_fusion_train(struct mmdx_ctx *ctx, const char *features_path,
                  const char *labels_path, const char *out_path,
                  const struct mmdx_fusion_train_opts *opts,
                  mmdx_fusion_progress_fn progress, void *user,
                  struct mmdx_fusion_summary *sum);

/**
 * Apply a model to a feature table; writes @p out_path (TSV, atomically)
 * with columns patient_id, risk, risk_band, then one contribution column
 * per modality of the model (contrib_<modality>, exact leave-modality-out
 * difference in calibrated risk; NA when the modality is absent).
 * When @p top_path is non-NULL, writes the top features per patient
 * (patient_id, rank, feature, value, attribution; gradient x input).
 * @param nrows optional: patients written.
 * @return MMDX_OK; E_MODEL for a corrupt model or one whose feature names
 * differ from the table's (the message names them); table errors as for
 * training.
 */
MMDX_API enum mmdx_status
mmdx_fusion_predict(struct mmdx_ctx *ctx, const char *model_path,
                    const char *features_path, const char *out_path,
                    const char *top_path, size_t *nrows);

/**
 * AUROC of a risks table (first columns patient_id, risk) against a
 * labels table, over the labelled patients of @p split ("test", "valid",
 * "train" or "all"; NULL = the test rows when the labels have a split
 * column, else all). Risks of NA are skipped and counted in @p n_na.
 * @return MMDX_OK (auroc NaN when a class is absent) or a table error.
 */
MMDX_API enum mmdx_status
mmdx_fusion_evaluate(struct mmdx_ctx *ctx, const char *risks_path,
                     const char *labels_path, const char *split,
                     double *auroc, size_t *n, size_t *n_na);

/**
 * Describe a model file: one "key<TAB>value" line per property into @p fp
 * style callback.
 */
MMDX_API enum mmdx_status
mmdx_fusion_model_describe(struct mmdx_ctx *ctx, const char *model_path,
                           void (*emit)(void *user, const char *key,
                                        const char *value),
                           void *user);

#ifdef __cplusplus
}
#endif

#endif
