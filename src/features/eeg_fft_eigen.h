/*
 * eeg_fft_eigen.h - C interface of the Eigen FFT backend (eeg_fft_eigen.cc),
 * used by eeg_dsp.c only. Real forward transforms in double precision.
 */
#ifndef MMDX_EEG_FFT_EIGEN_H
#define MMDX_EEG_FFT_EIGEN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmdx_eigen_rfft;

/* Plan a real FFT of n points; NULL when out of memory. */
struct mmdx_eigen_rfft *mmdx__eigen_rfft_new(size_t n);
void mmdx__eigen_rfft_free(struct mmdx_eigen_rfft *p);
/* |X_k|^2 of x[0..n-1], k = 0..n/2, stored (add = 0) or added (add = 1)
 * to pow[]. */
void mmdx__eigen_rfft_power(struct mmdx_eigen_rfft *p, const double *x,
                            double *pow, int add);
/* The transform of x: bins 0..n/2 as interleaved re/im, in p's memory
 * (valid until the next call). */
double *mmdx__eigen_rfft_fwd(struct mmdx_eigen_rfft *p, const double *x);

#ifdef __cplusplus
}
#endif

#endif
