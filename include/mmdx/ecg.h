/*
 * mmdx/ecg.h - ECG tools: R-peak detection and its evaluation against
 * reference annotations (ANSI/AAMI EC57 beat-by-beat comparison).
 */
#ifndef MMDX_ECG_H
#define MMDX_ECG_H

#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One record's detection scores (one TSV row of `mmdx ecg-eval`). */
struct mmdx_ecg_eval_row {
    char record[256];   /**< record name (path basename) */
    long beats;         /**< reference beats in the scored interval */
    long tp, fn, fp;    /**< matched, missed and false beats */
    double se_pct;      /**< sensitivity tp/(tp+fn), %; NaN if no beats */
    double ppv_pct;     /**< positive predictivity tp/(tp+fp), %; NaN */
};

/**
 * Detect beats on one lead of a WFDB record and score them against the
 * record's `.atr` reference annotations: beat codes N L R B A a J S V r F
 * e j n E / f Q ?, a 150 ms match window, the first 5 minutes excluded.
 * @param record record path without extension (or its .hea); the .atr
 *        file beside it is the reference. Borrowed.
 * @param lead lead label ("II" also matches "MLII"); NULL or "" = lead II,
 *        else the record's first signal.
 * @param out receives the scores.
 * @return MMDX_OK, or the reader's error (E_NOTFOUND, E_FORMAT, E_IO,
 *         E_NOMEM ...) with file and field named on ctx.
 */
MMDX_API enum mmdx_status mmdx_ecg_eval(struct mmdx_ctx *ctx,
                                        const char *record, const char *lead,
                                        struct mmdx_ecg_eval_row *out);

/**
 * Detect R peaks in an ECG file (WFDB record or .hea, HL7 aECG XML, EDF)
 * and write them.
 * @param path input file. Borrowed.
 * @param lead wanted lead (NULL or "" = "II", which also matches MLII).
 * @param tsv_path if not NULL, a TSV "sample time_s label" is written
 *        there (atomically, 0640).
 * @param wfdb_path if not NULL, a WFDB (MIT-format) annotation file with
 *        one "N" annotation per beat is written there.
 * @param nbeats if not NULL, receives the number of beats.
 * @return MMDX_OK or an error recorded on ctx.
 */
MMDX_API enum mmdx_status mmdx_ecg_detect(struct mmdx_ctx *ctx,
                                          const char *path, const char *lead,
                                          const char *tsv_path,
                                          const char *wfdb_path,
                                          size_t *nbeats);

/** Signal quality of one lead (one row of `mmdx ecg-quality`). */
struct mmdx_ecg_lead_quality {
    char label[32];     /**< normalised lead label (MLII, V1, II, ...) */
    double fs_hz;       /**< sampling rate */
    long windows;       /**< 10 s windows (a last half window counts) */
    long good;          /**< windows that look like ECG (sd >= 10 uV, range
                             <= 10 mV, kurtosis > 3) with 25-220 bpm of
                             beats detected on this lead */
    double sqi;         /**< good / windows; NaN if under half a window */
    long beats;         /**< beats detected on this lead */
    int analysed;       /**< 1 for the lead ecg.features takes its
                             features from */
};

/** Receives one lead's quality; a non-OK return stops the walk. */
typedef enum mmdx_status (*mmdx_ecg_quality_fn)(
    void *user, const struct mmdx_ecg_lead_quality *q);

/**
 * Signal quality of every ECG lead of a file (WFDB record or .hea, HL7
 * aECG XML, EDF, DICOM waveform), each lead streamed through the
 * detector and the quality windows of `ecg.features`.
 * @param lead preferred lead (NULL or "" = "II", also matching MLII; when
 *        absent, every lead in record order): it comes first, the other
 *        ECG leads follow in record order.
 * @param fn called once per lead, in that order.
 * @param windows if not NULL, receives the number of 10 s windows.
 * @param noisy if not NULL, receives the windows unusable on every lead.
 * @return MMDX_OK, the reader's error, or fn's status.
 */
MMDX_API enum mmdx_status mmdx_ecg_quality(struct mmdx_ctx *ctx,
                                           const char *path, const char *lead,
                                           mmdx_ecg_quality_fn fn, void *user,
                                           long *windows, long *noisy);

#ifdef __cplusplus
}
#endif

#endif
