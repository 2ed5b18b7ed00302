/*
 * ecg_int.h - the ECG area's internals: filters, the streaming QRS
 * detector, beat-by-beat scoring (ANSI/AAMI EC57) and the features.
 */
#ifndef MMDX_ECG_INT_H
#define MMDX_ECG_INT_H

#include "core/common.h"
#include "io/signal.h"

/* ---- second-order IIR sections (RBJ cookbook, bilinear transform) ----- */
struct mmdx_biquad {
    double b0, b1, b2, a1, a2;   /* a0 normalised to 1 */
    double z1, z2;               /* transposed direct form II state */
};
void mmdx__biquad_lowpass(struct mmdx_biquad *q, double f0_hz, double fs_hz);
void mmdx__biquad_highpass(struct mmdx_biquad *q, double f0_hz,
                           double fs_hz);
/* y = x (a placeholder section in a cascade) */
void mmdx__biquad_identity(struct mmdx_biquad *q);
void mmdx__biquad_notch(struct mmdx_biquad *q, double f0_hz, double fs_hz,
                        double quality);
static inline double mmdx__biquad_step(struct mmdx_biquad *q, double x)
{
    double y = q->b0 * x + q->z1;

    q->z1 = q->b1 * x - q->a1 * y + q->z2;
    q->z2 = q->b2 * x - q->a2 * y;
    return y;
}

/* ---- streaming QRS detector ------------------------------------------- */
/*
 * Pan-Tompkins-style: band-pass (5-18 Hz), derivative, square, 150 ms
 * moving integration, local maxima as candidates, adaptive signal/noise
 * thresholds with search-back and T-wave rejection. Memory is a fixed
 * ring of about one second plus the beat list, whatever the input length.
 */
#define MMDX_QRS_MIN_FS_HZ 50.0
#define MMDX_QRS_MAX_FS_HZ 20000.0

struct mmdx_qrs_beat {
    int64_t sample;          /* R peak, samples from the start */
    float amplitude;         /* band-passed peak value (signed) */
    float width_s;           /* QRS width estimate, seconds (NaN if none) */
    uint8_t searchback;      /* found by search-back */
};

struct mmdx_qrs_det;

enum mmdx_status mmdx__qrs_det_new(struct mmdx_ctx *ctx, double fs_hz,
                                   struct mmdx_qrs_det **out);
/* Feed n more samples (mV). Beats are appended as they are decided. */
enum mmdx_status mmdx__qrs_det_push(struct mmdx_qrs_det *d, const float *x,
                                    size_t n);
/* The same, also running x through the 3-section cascade aux (state
 * updated; an identity section where no filter is wanted) into out[0..n):
 * both cascades share the loop (the feature path's morphology filter). */
enum mmdx_status mmdx__qrs_det_push_aux(struct mmdx_qrs_det *d,
                                        const float *x, size_t n,
                                        struct mmdx_biquad aux[3],
                                        double *out);
/* End of input: decide what is pending. */
enum mmdx_status mmdx__qrs_det_finish(struct mmdx_qrs_det *d);
/* Beats decided so far (sorted by sample). Owned by d. */
const struct mmdx_qrs_beat *mmdx__qrs_det_beats(const struct mmdx_qrs_det *d,
                                                size_t *n);
/* Samples pushed so far. */
int64_t mmdx__qrs_det_samples(const struct mmdx_qrs_det *d);
void mmdx__qrs_det_free(struct mmdx_qrs_det *d);

/* Whole-array convenience: detect beats on x[0..n). *beats freed with
 * mmdx__free. */
enum mmdx_status mmdx__qrs_detect(struct mmdx_ctx *ctx, const float *x,
                                  size_t n, double fs_hz,
                                  struct mmdx_qrs_beat **beats,
                                  size_t *nbeats);

/* ---- EC57 beat-by-beat comparison ------------------------------------- */
struct mmdx_ecg_score {
    long beats;              /* reference beats in the scored interval */
    long tp, fn, fp;
};
/*
 * Match test beats to reference beats (both sorted sample numbers) within
 * window samples, one-to-one, counting only beats at or after start.
 */
void mmdx__ecg_score(const int64_t *ref, size_t nref, const int64_t *test,
                     size_t ntest, int64_t start, int64_t window,
                     struct mmdx_ecg_score *out);

/* ---- streaming analysis: detection, quality, morphology, features ---- */
struct mmdx_patient;
struct mmdx_ecg_an;

enum mmdx_status mmdx__ecg_an_new(struct mmdx_ctx *ctx, double fs_hz,
                                  struct mmdx_ecg_an **out);
/* Feed the next n samples (mV) of the analysed lead. */
enum mmdx_status mmdx__ecg_an_push(struct mmdx_ecg_an *a, const float *x,
                                   size_t n);
/* End of input: finish detection and the quality windows (idempotent;
 * mmdx__ecg_an_finish calls it). */
enum mmdx_status mmdx__ecg_an_end(struct mmdx_ecg_an *a);
/* After mmdx__ecg_an_end: the SQI (usable 10 s windows / windows, NaN when
 * shorter than one window); optionally the window count, the usable
 * count and the per-window verdicts (owned by a). */
double mmdx__ecg_an_quality(const struct mmdx_ecg_an *a, size_t *nwin,
                            size_t *good, const uint8_t **ok);
/* End of input: add every ecg.* feature (NaN + a flag when one cannot be
 * computed) to p. */
enum mmdx_status mmdx__ecg_an_finish(struct mmdx_ecg_an *a,
                                     struct mmdx_patient *p);
const struct mmdx_qrs_beat *mmdx__ecg_an_beats(const struct mmdx_ecg_an *a,
                                               size_t *n);
/* Bytes the analysis holds now (for the bounded-memory test). */
size_t mmdx__ecg_an_bytes(const struct mmdx_ecg_an *a);
/* Beats in the ensemble average (QRS width is measured on it). */
size_t mmdx__ecg_an_averaged(const struct mmdx_ecg_an *a);
void mmdx__ecg_an_free(struct mmdx_ecg_an *a);

/* HRV on beat times (samples): the pieces, for tests. */
struct mmdx_hrv {
    size_t nbeats, nnn;          /* beats; valid NN intervals */
    double hr_bpm, rr_mean_ms, rr_min_ms, rr_max_ms, ectopic_pct;
    double sdnn_ms, rmssd_ms, sdsd_ms, pnn50_pct, sd1_ms, sd2_ms, sampen;
    double lf_ms2, hf_ms2, lf_hf;
    double af_irregularity, rr_cv, af_burden_frac;
    bool too_short_lf, too_short_hf, sampen_truncated;
};
enum mmdx_status mmdx__hrv_compute(struct mmdx_ctx *ctx, const int64_t *beats,
                                   size_t n, double fs_hz,
                                   struct mmdx_hrv *out);

#endif
