/*
 * mmdx/synth.h - the synthetic de-identified cohort generator.
 *
 * mmdx_synth_run() writes a cohort of synthetic patients in the formats
 * the readers take (WFDB and EDF ECGs, EDF EEGs, FHIR R4 XML and C-CDA
 * records, DICOM CT slices when the DICOM writer is built in), a
 * manifest.tsv for `mmdx run`, and a truth.tsv the pipeline never reads.
 * The generative model (latent factors, the stroke-risk label, what each
 * modality shows) is documented in docs/synth-model.md. Output is a pure
 * function of the options: the same seed gives the same bytes.
 */
#ifndef MMDX_SYNTH_H
#define MMDX_SYNTH_H

#include <stdint.h>
#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of one generation run. Initialise with mmdx_synth_opts_init(). */
struct mmdx_synth_opts {
    size_t n;                  /**< patients, >= 1 */
    uint64_t seed;             /**< PRNG seed; same seed, same bytes */
    const char *out_dir;       /**< created if absent (borrowed) */
    double missing_rate;       /**< per-modality missing probability, 0..0.9 */
    size_t plant_broken;       /**< patients given one broken file */
    int plant_phi;             /**< nonzero: canaries in identifying fields */
    double ecg_seconds;        /**< ECG duration, s (10..600) */
    double eeg_seconds;        /**< EEG duration, s (4..300) */
    int image_slices;          /**< CT slices per patient (1..16) */
    int image_size;            /**< CT matrix side, pixels (64..512) */
    size_t mc_samples;         /**< Monte Carlo patients for the AUROCs */
    int jobs;                  /**< worker threads (>= 1) */
};

/** Bayes-optimal AUROCs computed from the generative model. */
struct mmdx_synth_auroc {
    double bayes_all;          /**< every modality present */
    double bayes_missing;      /**< with the run's missing rate */
    double image, ecg, eeg, record;  /**< one modality alone */
    double prevalence;         /**< expected fraction of label 1 */
};

/** What a run produced. */
struct mmdx_synth_summary {
    size_t patients;           /**< patient folders written */
    size_t positives;          /**< label 1 drawn */
    size_t files;              /**< data files written */
    size_t broken;             /**< files planted broken */
    size_t canaries;           /**< canary strings planted */
    int have_image;            /**< 1 when DICOM images were written */
    struct mmdx_synth_auroc auroc;
};

/** Fill @p o with the defaults (n 100, seed 1, ECG 120 s, EEG 20 s,
 * 3 slices of 256 x 256, 20000 Monte Carlo patients, 1 job). */
MMDX_API void mmdx_synth_opts_init(struct mmdx_synth_opts *o);

/**
 * Generate a cohort into o->out_dir: one folder per patient,
 * manifest.tsv, truth.tsv, and canaries.tsv with --plant-phi.
 * @param sum receives counts and the model's AUROCs (may be NULL).
 * @return MMDX_OK; MMDX_E_INVAL when an option is out of range;
 *         MMDX_E_IO (named path) or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_synth_run(struct mmdx_ctx *ctx,
                                         const struct mmdx_synth_opts *o,
                                         struct mmdx_synth_summary *sum);

/**
 * The model's AUROCs alone (no files): Monte Carlo over @p mc_samples
 * patients drawn with @p seed, with @p missing_rate for bayes_missing.
 * @return MMDX_OK or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_synth_auroc(struct mmdx_ctx *ctx,
                                           uint64_t seed, size_t mc_samples,
                                           double missing_rate,
                                           struct mmdx_synth_auroc *out);

#ifdef __cplusplus
}
#endif

#endif
