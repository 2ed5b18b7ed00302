/*
 * mmdx/deid.h - checking inputs for identifying fields without running a
 * whole pipeline (what `mmdx deid-check` does).
 *
 * A checker runs the loaders of a pipeline (the stages that read a
 * modality's file) on each patient and applies the rules of the check.deid
 * stage to every field the loaders report. Findings name the patient, the
 * modality, the file, the field and the rule - never the value.
 * The rules: DICOM PS3.15 Annex E (Basic Application Level
 * Confidentiality Profile) for DICOM attributes, HIPAA Safe Harbor for the
 * rest; docs/privacy.md lists what is checked and what is not.
 */
#ifndef MMDX_DEID_H
#define MMDX_DEID_H

#include <stdbool.h>
#include <stddef.h>
#include "mmdx/core.h"
#include "mmdx/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One identifying field. Every string is borrowed for the duration of the
 * callback only. */
struct mmdx_deid_finding {
    const char *patient_id;  /* pseudonym ("-" for a file given alone) */
    const char *modality;    /* "image", "ecg", "eeg" or "record" */
    const char *file;        /* the input file */
    const char *field;       /* "PatientName (0010,0010)", "Patient.name" */
    const char *rule;        /* "ps3.15:name", "safe-harbor:date", ... */
};

/* Called once per finding. */
typedef void (*mmdx_deid_finding_fn)(void *user,
                                     const struct mmdx_deid_finding *f);
/* Called once per input that could not be checked (unreadable, or no
 * loader of the pipeline for its modality): message is a formatted error
 * (file, field; no patient value). */
typedef void (*mmdx_deid_error_fn)(void *user, const char *patient_id,
                                   const char *message);

struct mmdx_deid_checker;

/**
 * Prepare a checker: instantiate the loaders of @p pipe and read the
 * check.deid settings (dates_shifted parameter, or the pipeline setting
 * of that name).
 * @param pipe borrowed; must outlive the checker.
 * @param out receives the checker (free with mmdx_deid_checker_free()),
 *   NULL on failure.
 * @return MMDX_OK, E_NOMEM, or the error of a loader's initialisation.
 */
MMDX_API enum mmdx_status mmdx_deid_checker_new(
    struct mmdx_ctx *ctx, const struct mmdx_pipeline *pipe,
    struct mmdx_deid_checker **out);

/** Free a checker; NULL is a no-op. */
MMDX_API void mmdx_deid_checker_free(struct mmdx_deid_checker *c);

/** Declare that dates were shifted (dates are then not identifying),
 * whatever the pipeline says. */
MMDX_API void mmdx_deid_checker_set_dates_shifted(struct mmdx_deid_checker *c,
                                                  bool shifted);

/* Counts accumulated by the check functions (never reset by them). */
struct mmdx_deid_counts {
    size_t patients;         /* patients checked */
    size_t files;            /* inputs a loader read (or tried to) */
    size_t findings;         /* identifying fields */
    size_t errors;           /* inputs that could not be read, or that no
                                loader of the pipeline reads */
};

/**
 * Check one patient's files (at most one per modality, NULL = absent).
 * @param patient_id the pseudonym: a record number equal to it is not a
 *   finding.
 * @return MMDX_OK (findings and unreadable inputs are reported through the
 *   callbacks and counted), or E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_deid_check_files(
    struct mmdx_deid_checker *c, const char *patient_id,
    const struct mmdx_patient_files *files, mmdx_deid_finding_fn fn,
    mmdx_deid_error_fn err_fn, void *user, struct mmdx_deid_counts *counts);

/**
 * Check every input under @p path:
 * - a cohort manifest: every row, as `mmdx run` would load it;
 * - a folder with a manifest.tsv: that manifest;
 * - any other folder: every input file found in it (detected by content,
 *   sub-folders included), each checked alone; the patient id is the name
 *   of the first-level sub-folder holding it ("-" for files directly in
 *   the folder). Nothing is written;
 * - an input file: that file alone, patient id "-".
 * @return MMDX_OK (see the counts), E_NOTFOUND/E_IO for an unreadable
 *   @p path, E_FORMAT for a bad manifest, E_NOMEM.
 */
MMDX_API enum mmdx_status mmdx_deid_check_path(
    struct mmdx_deid_checker *c, const char *path, mmdx_deid_finding_fn fn,
    mmdx_deid_error_fn err_fn, void *user, struct mmdx_deid_counts *counts);

#ifdef __cplusplus
}
#endif

#endif
