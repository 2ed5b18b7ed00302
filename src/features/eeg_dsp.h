/*
 * eeg_dsp.h - signal processing for the EEG features: real FFT power
 * spectra (Eigen's FFT by default; KissFFT or FFTW with ./configure
 * --with-fft=kissfft|fftw), Welch
 * windows, Butterworth/notch biquads. Internal to the eeg area (the ECG
 * area may use it too: nothing here is EEG specific).
 */
#ifndef MMDX_EEG_DSP_H
#define MMDX_EEG_DSP_H

#include "core/common.h"

/* ---- real FFT power spectrum --------------------------------------------- */

/* A plan for one length; per worker (plans are not shared by threads). */
struct mmdx_rfft;

/* Plan a real FFT of n points (any n >= 2). */
enum mmdx_status mmdx__rfft_new(struct mmdx_ctx *ctx, size_t n,
                                struct mmdx_rfft **out);
/* Same; measure = true lets FFTW time candidate algorithms
 * (FFTW_MEASURE: tens of ms per plan, faster transforms, last bits may
 * differ from run to run); the other backends ignore it. */
enum mmdx_status mmdx__rfft_new_ex(struct mmdx_ctx *ctx, size_t n,
                                   bool measure, struct mmdx_rfft **out);
void mmdx__rfft_free(struct mmdx_rfft *p);
size_t mmdx__rfft_size(const struct mmdx_rfft *p);
/* pow[k] = |X_k|^2 for k = 0..n/2 of x[0..n-1] (unnormalised DFT). */
void mmdx__rfft_power(struct mmdx_rfft *p, const double *x, double *pow);
/* acc[k] += |X_k|^2, k = 0..n/2 (Welch accumulation). */
void mmdx__rfft_power_add(struct mmdx_rfft *p, const double *x, double *acc);
/*
 * One Welch segment: acc[k] += |DFT((x - mean(x)) * w)_k|^2, k < nbins
 * (<= n/2 + 1: the bins above are left alone, their work not done),
 * for the periodic window w of mmdx__window_fill(), given both as its
 * values win[0..n-1] and as its cosine coefficients cosw[0..ncos)
 * (mmdx__window_cosines). x is not modified. The double precision
 * backends transform x itself (no copy when it is aligned as planned):
 * the mean is bin 0 of that transform, and the window is applied in the
 * spectrum as the (at most 5-tap) convolution it is there. KissFFT, and
 * segments shorter than 16, remove the mean and window in the input.
 */
void mmdx__rfft_welch_add(struct mmdx_rfft *p, const double *x,
                          const double *win, const double *cosw, size_t ncos,
                          double *acc, size_t nbins);
/* "eigen-double", "kissfft-float" or "fftw3-double". */
const char *mmdx__rfft_backend(void);

/* ---- windows --------------------------------------------------------------- */
enum mmdx_window {
    MMDX_WIN_HANN = 0,     /* periodic (DFT-even), as scipy.signal.get_window */
    MMDX_WIN_HAMMING,
    MMDX_WIN_BLACKMAN,
    MMDX_WIN_BOXCAR
};
#define MMDX_WINDOW_CHOICES "hann|hamming|blackman|boxcar"
void mmdx__window_fill(enum mmdx_window w, double *out, size_t n);
/* The window as a sum of cosines: w[t] = sum_j c[j] cos(2 pi j t / n),
 * j < the returned count (1..3). */
size_t mmdx__window_cosines(enum mmdx_window w, double *c);

/* ---- biquad filters ---------------------------------------------------------- */
struct mmdx_biquad {
    double b0, b1, b2, a1, a2;   /* normalised by a0 */
    double z1, z2;               /* transposed direct form II state */
};

/* Butterworth low/high-pass of even order (2..8) as order/2 sections;
 * notch of quality q. f_hz must be in (0, fs/2). Return the number of
 * sections written (<= 4). */
size_t mmdx__butter_sections(struct mmdx_biquad *sec, int order, bool high,
                             double f_hz, double fs_hz);
void mmdx__notch_section(struct mmdx_biquad *sec, double f_hz, double q,
                         double fs_hz);
/* Filter x in place through the sections (state carried across calls). */
void mmdx__biquad_run(struct mmdx_biquad *sec, size_t nsec, double *x,
                      size_t n);
/* The same for nch channels x[c][0..n-1], channel c through its sections
 * sec[c * nsec .. c * nsec + nsec) (several channels at a time: the
 * values of mmdx__biquad_run on each). */
void mmdx__biquad_run_multi(struct mmdx_biquad *sec, size_t nsec,
                            double *const *x, size_t nch, size_t n);

#endif
