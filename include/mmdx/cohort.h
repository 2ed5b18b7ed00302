/*
 * mmdx/cohort.h - cohort manifests and the batch runner.
 */
#ifndef MMDX_COHORT_H
#define MMDX_COHORT_H

#include <stdbool.h>
#include <stddef.h>
#include "mmdx/core.h"
#include "mmdx/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of the manifest reader. */
#define MMDX_MANIFEST_MAX_LINE 65536      /* bytes per line */
#define MMDX_MANIFEST_MAX_COLUMNS 256
#define MMDX_MANIFEST_MAX_ROWS 50000000   /* patients */

struct mmdx_manifest;

/**
 * Read and check a cohort manifest: header required with patient_id and at
 * least one modality column; one row per patient; paths relative to the
 * manifest's folder (the cohort folder) and never outside it; files must
 * exist. Errors name the line and column.
 *
 * Problems of one row do not fail the read: they fail that patient's
 * modality or that patient (DESIGN: the cohort run always goes on), and
 * are listed by mmdx_manifest_problem(); the row's path for that column is
 * then NULL. Per modality: a path cell that is absolute, holds "..", names
 * no file, cannot be resolved or leads out of the cohort folder through a
 * link (a mask or mask_label problem: the image). Per patient: a label
 * other than 0, 1, NA or empty, a split other than train, valid, test or
 * empty, a study_date that is not a valid YYYY[-MM[-DD]].
 * Fatal for the whole manifest: no header, a header without patient_id or
 * a modality column, a repeated column, a row with another number of
 * cells, an invalid or repeated patient_id, a NUL byte, the limits.
 * @param check_files false to skip the existence and link checks.
 * @return MMDX_OK, E_NOTFOUND/E_IO (the manifest itself), E_FORMAT,
 *   E_LIMIT, E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_manifest_read(struct mmdx_ctx *ctx,
                                             const char *path,
                                             bool check_files,
                                             struct mmdx_manifest **out);
MMDX_API void mmdx_manifest_free(struct mmdx_manifest *m);
MMDX_API size_t mmdx_manifest_count(const struct mmdx_manifest *m);
/** Patient id of row i (0-based); owned by the manifest. */
MMDX_API const char *mmdx_manifest_id(const struct mmdx_manifest *m,
                                      size_t i);
/** Label of row i: 0, 1 or -1 (unknown, or not valid: a problem). */
MMDX_API int mmdx_manifest_label(const struct mmdx_manifest *m, size_t i);
/** Split of row i ("train", "valid", "test") or NULL (none, or not
 * valid: a problem). */
MMDX_API const char *mmdx_manifest_split(const struct mmdx_manifest *m,
                                         size_t i);
/** Number of problems of row i (0 = none; see mmdx_manifest_read()). */
MMDX_API size_t mmdx_manifest_nproblems(const struct mmdx_manifest *m,
                                        size_t i);
/**
 * Problem k of row i as "MANIFEST:LINE: manifest: COLUMN: what is wrong"
 * (never a patient value) into @p buf (always terminated).
 * @param fails_patient if not NULL, set to true when the problem fails
 *   the whole patient, false when it fails one modality.
 * @return buf, or NULL when i or k is out of range.
 */
MMDX_API const char *mmdx_manifest_problem(const struct mmdx_manifest *m,
                                           size_t i, size_t k,
                                           bool *fails_patient, char *buf,
                                           size_t size);
/** Resolved path of a modality ("image", "ecg", "eeg", "record", "mask")
 * of row i, or NULL when empty. */
MMDX_API const char *mmdx_manifest_path(const struct mmdx_manifest *m,
                                        size_t i, const char *column);

/**
 * Scan DIR (one sub-folder per patient, named by its pseudonym), detect
 * each file's modality by content and write DIR/manifest.tsv (or @p out).
 * A DICOM folder becomes the image; a WFDB record is named by its .hea.
 * Paths are written relative to the folder of @p out, which must be DIR
 * or a folder above it (manifest paths may not leave their folder).
 * What mmdx_manifest_read() would refuse is left out with a warning (log
 * level WARN) naming it, non-printable bytes as \xHH: a sub-folder whose
 * name is not a valid patient_id, an entry reached through a symbolic
 * link leading out of the manifest's folder (or nowhere), a file that
 * cannot be read (or is not a regular file), an input whose name holds a
 * control character.
 * @return MMDX_OK or an error naming the folder; E_USAGE when @p out is
 *   not in DIR or above it; E_MISMATCH (the manifest is written) when a
 *   patient has two files of one modality (the row lists neither and says
 *   so), several mask candidates, or something was left out.
 */
MMDX_API enum mmdx_status mmdx_manifest_scan(struct mmdx_ctx *ctx,
                                             const char *dir,
                                             const char *out,
                                             size_t *npatients);

/* Progress: called after each patient from the worker that finished it
 * (serialised by the runner). done includes skipped patients. */
typedef void (*mmdx_progress_fn)(void *user, size_t done, size_t total,
                                 double elapsed_s);

struct mmdx_run_opts {
    const char *pipeline;     /* pipeline file */
    const char *manifest;     /* cohort manifest (or a folder to scan) */
    const char *out;          /* output folder */
    int jobs;                 /* workers; <= 0 = all cores */
    bool resume;              /* skip patients whose outputs match inputs */
    bool strict;              /* any error fails the patient */
    unsigned shard_k, shard_n;/* run rows with index % n == k; n 0 = all */
    mmdx_progress_fn progress;/* NULL = none */
    void *progress_user;
    unsigned long limit;      /* test hook: stop after this many (0 = all) */
};

struct mmdx_run_summary {
    size_t total;             /* patients in this shard */
    size_t ok;                /* all their modalities worked */
    size_t partial;           /* a risk/features from a subset */
    size_t failed;            /* no usable modality (or strict) */
    size_t skipped;           /* resumed: outputs already matched */
    double seconds;
};

/**
 * Run a pipeline over a cohort. Writes DIR/patients/<id>/..., features.tsv,
 * errors.tsv, run.xml (and what later stages add), every file atomically.
 * @return MMDX_OK when the run completed (patients may have failed: see the
 *   summary), or a fatal status (bad pipeline, manifest, output folder).
 */
MMDX_API enum mmdx_status mmdx_run(struct mmdx_ctx *ctx,
                                   const struct mmdx_run_opts *opts,
                                   struct mmdx_run_summary *summary);

/**
 * Join the outputs of the shard runs of one cohort (each folder a
 * `--shard K/N` run, all N given) into @p out, so that the cohort tables
 * equal those of a single-machine run (rows in manifest order).
 * @param manifest the cohort manifest, or NULL to use the path recorded in
 *   the shards' run.xml; its SHA-256 must match the one they recorded.
 * @return MMDX_OK, E_MISMATCH (shards of different runs, missing or
 *   repeated shard, changed manifest), E_MISSING (a patient without
 *   outputs), E_FORMAT (not a run.xml), E_IO.
 */
MMDX_API enum mmdx_status mmdx_merge(struct mmdx_ctx *ctx,
                                     const char *const *dirs, size_t ndirs,
                                     const char *manifest, const char *out);

#ifdef __cplusplus
}
#endif

#endif
