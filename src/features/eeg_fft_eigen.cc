/*
 * eeg_fft_eigen.cc - the default FFT backend of the EEG spectra: Eigen's
 * FFT module (unsupported/Eigen/FFT, MPL-2.0, header-only; Debian's
 * libeigen3-dev) in double precision, behind a C interface for
 * eeg_dsp.c. One plan per length and per worker; nothing is shared.
 *
 * Rules as in the DICOM shim: every extern "C" entry catches every
 * exception; no C++ type crosses. Eigen allocates its twiddles and work
 * buffers with operator new (not through mmdx__malloc, so the allocation
 * failure tests cannot reach them); all of that happens in new(), the
 * transforms themselves do not allocate.
 */
#include "config.h"

#include <complex>
#include <cstddef>
#include <new>
#include <vector>

#include <unsupported/Eigen/FFT>

#include "features/eeg_fft_eigen.h"

struct mmdx_eigen_rfft {
    int n;
    Eigen::FFT<double> fft;
    std::vector<std::complex<double>> out; /* n/2 + 1 (n for odd n) */
};

extern "C" struct mmdx_eigen_rfft *mmdx__eigen_rfft_new(size_t n)
{
    try {
        mmdx_eigen_rfft *p = new mmdx_eigen_rfft;

        p->n = (int)n;
        p->fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
        p->out.resize(n);
        /* a first transform makes the plan (twiddles, scratch) now */
        std::vector<double> zero(n, 0.0);
        p->fft.fwd(p->out.data(), zero.data(), p->n);
        return p;
    } catch (...) {
        return nullptr;
    }
}

extern "C" void mmdx__eigen_rfft_free(struct mmdx_eigen_rfft *p)
{
    try {
        delete p;
    } catch (...) {
    }
}

extern "C" void mmdx__eigen_rfft_power(struct mmdx_eigen_rfft *p,
                                       const double *x, double *pow, int add)
{
    try {
        const std::complex<double> *X = p->out.data();
        size_t k, h = (size_t)p->n / 2;

        p->fft.fwd(p->out.data(), x, p->n);
        if (add)
            for (k = 0; k <= h; k++)
                pow[k] += X[k].real() * X[k].real() + X[k].imag() * X[k].imag();
        else
            for (k = 0; k <= h; k++)
                pow[k] = X[k].real() * X[k].real() + X[k].imag() * X[k].imag();
    } catch (...) {
        /* not reached: the plan exists, fwd does not allocate */
    }
}

extern "C" double *mmdx__eigen_rfft_fwd(struct mmdx_eigen_rfft *p,
                                        const double *x)
{
    try {
        p->fft.fwd(p->out.data(), x, p->n);
    } catch (...) {
        /* not reached: the plan exists, fwd does not allocate */
    }
    /* std::complex<double> is laid out as double[2] */
    return reinterpret_cast<double *>(p->out.data());
}
