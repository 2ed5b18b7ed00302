/*
 * mmdx/pipeline.h - pipelines, stages and single-patient feature runs.
 */
#ifndef MMDX_PIPELINE_H
#define MMDX_PIPELINE_H

#include <stdio.h>
#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mmdx_pipeline;

/**
 * Load a pipeline file, validate it against schemas/pipeline.xsd (from the
 * context's data folder), resolve every stage and parameter, and check the
 * wiring (each stage's needs are provided by an earlier stage).
 * @param path pipeline XML file.
 * @param out receives the pipeline; NULL on failure.
 * @return MMDX_OK, MMDX_E_NOTFOUND/E_IO (file), E_FORMAT (not XML, entity
 *   declarations), E_SCHEMA (invalid), E_PIPELINE (unknown stage, bad
 *   parameter, mis-wired). Free with mmdx_pipeline_free().
 */
MMDX_API enum mmdx_status mmdx_pipeline_load(struct mmdx_ctx *ctx,
                                             const char *path,
                                             struct mmdx_pipeline **out);

/** Free a pipeline; NULL is a no-op. */
MMDX_API void mmdx_pipeline_free(struct mmdx_pipeline *pipe);

/** SHA-256 (hex) of the pipeline file's bytes; owned by the pipeline. */
MMDX_API const char *mmdx_pipeline_hash(const struct mmdx_pipeline *pipe);

/** The pipeline's name attribute; owned by the pipeline. */
MMDX_API const char *mmdx_pipeline_name(const struct mmdx_pipeline *pipe);

/**
 * Iterate over compiled-in stages.
 * @param opaque start with a pointer to NULL.
 * @return the next stage's name, or NULL at the end.
 */
MMDX_API const char *mmdx_stage_next(void **opaque,
                                     const char **description);

/**
 * Write the help text of a stage (description, slots, parameter table) to
 * a new string.
 * @param out receives the text; free with mmdx_free().
 * @return MMDX_OK, MMDX_E_NOTFOUND (unknown stage) or MMDX_E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_stage_help(struct mmdx_ctx *ctx,
                                          const char *name, char **out);

/** Free memory the library returned to you. */
MMDX_API void mmdx_free(void *p);

/* Files of one patient for mmdx_features_files(). NULL = absent. */
struct mmdx_patient_files {
    const char *image, *ecg, *eeg, *record, *mask;
    const char *study_date;  /* "YYYY[-MM[-DD]]" or NULL */
    int deid_warn;           /* nonzero: the check.deid gate warns (names
                                the fields in the log) instead of refusing */
    const char *mask_label;  /* label / segment of a multi-label mask (as
                                load.image's mask_label), or NULL */
    int mask_resample;       /* nonzero: resample a mask on another grid
                                by nearest neighbour (as load.image's
                                mask_resample="nearest"); 0: the
                                pipeline's setting */
};

/* One feature or message from a single-patient run. */
typedef void (*mmdx_feature_fn)(void *user, const char *name, double value);

/**
 * Run a pipeline's stages on one patient's files and report every feature
 * (sorted by name; NaN = not computable) through @p fn. Errors of a
 * modality are reported through @p err_fn (one line each) and do not stop
 * the others.
 * @return MMDX_OK when at least one modality worked, otherwise the first
 *   error status.
 */
MMDX_API enum mmdx_status mmdx_features_files(
    struct mmdx_ctx *ctx, const struct mmdx_pipeline *pipe,
    const struct mmdx_patient_files *files, mmdx_feature_fn fn,
    void (*err_fn)(void *user, const char *line), void *user);

#ifdef __cplusplus
}
#endif

#endif
