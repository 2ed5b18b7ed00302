/*
 * mmdx/format.h - input format detection from content, and inspection.
 */
#ifndef MMDX_FORMAT_H
#define MMDX_FORMAT_H

#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mmdx_format {
    MMDX_FMT_UNKNOWN = 0,
    MMDX_FMT_DICOM,          /* Part 10 file (DICM magic) */
    MMDX_FMT_DICOM_DIR,      /* a folder holding a DICOM series */
    MMDX_FMT_WFDB_HEADER,    /* .hea record line */
    MMDX_FMT_WFDB_ANNOT,     /* MIT annotation file (by the .hea beside it) */
    MMDX_FMT_EDF,
    MMDX_FMT_EDFPLUS,
    MMDX_FMT_BDF,
    MMDX_FMT_BDFPLUS,
    MMDX_FMT_FHIR_XML,
    MMDX_FMT_CCDA_XML,
    MMDX_FMT_MMDX_RECORD_XML,
    MMDX_FMT_AECG_XML,
    MMDX_FMT_PIPELINE_XML,
    MMDX_FMT_NIFTI,          /* NIfTI-1 single file, plain or gzip (a mask:
                                no input modality) */
    MMDX_FMT_COUNT_
};

/** Short name of a format ("edf+"). Static. */
MMDX_API const char *mmdx_format_name(enum mmdx_format f);

/**
 * Modality a format usually carries: "image", "ecg", "eeg", "record", or
 * NULL. EDF/BDF files are told apart by their signal labels (ECG leads vs
 * 10-20 electrodes) by mmdx_detect_modality().
 */
MMDX_API const char *mmdx_format_modality(enum mmdx_format f);

/**
 * Detect a file's (or folder's) format from its content, never from its
 * name alone.
 * @return MMDX_OK (format may be MMDX_FMT_UNKNOWN), or E_IO/E_NOTFOUND.
 */
MMDX_API enum mmdx_status mmdx_detect(struct mmdx_ctx *ctx, const char *path,
                                      enum mmdx_format *fmt);

/**
 * The modality of a file by content: for EDF/BDF, "ecg" when its signals
 * are ECG leads and no 10-20 electrodes, else "eeg".
 * @return a static string or NULL (not an input of any modality).
 */
MMDX_API const char *mmdx_detect_modality(struct mmdx_ctx *ctx,
                                          const char *path,
                                          enum mmdx_format *fmt);

/* A key/value line of an inspection summary. */
typedef void (*mmdx_kv_fn)(void *user, const char *key, const char *value);

/**
 * Inspect a file: format, modality, size, SHA-256, then what the format's
 * reader can tell without identifying values (dimensions, rates, channel
 * labels, resource counts).
 * @return MMDX_OK, or the reader's error (named file and field).
 */
MMDX_API enum mmdx_status mmdx_inspect(struct mmdx_ctx *ctx, const char *path,
                                       mmdx_kv_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif
