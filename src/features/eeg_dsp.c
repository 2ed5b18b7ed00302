/*
 * eeg_dsp.c - FFT backend, windows and biquads (see eeg_dsp.h).
 *
 * FFT backend, chosen by ./configure --with-fft (docs/eeg.md):
 *  - eigen (default): Eigen's FFT module in double precision (MPL-2.0
 *    headers, eeg_fft_eigen.cc); one transform per Welch segment.
 *  - kissfft: KissFFT (BSD-3-Clause). Debian builds it in single
 *    precision only, so each power spectrum is assembled from four single
 *    precision transforms by exact identities in double (see below).
 *  - fftw: FFTW3 in double precision (GPL: the binary is then
 *    GPL-covered).
 * The Welch PSD removes each segment's mean and applies the window in
 * double before the transform; bench/eeg_scipy_compare.py and the unit
 * test measure the agreement with scipy.signal.welch.
 */
#include "core/common.h"
#include "features/eeg_dsp.h"

#if defined(MMDX_WITH_FFTW)
#include <fftw3.h>
#include <pthread.h>
#elif defined(MMDX_FFT_EIGEN)
#include "features/eeg_fft_eigen.h"
#else
#include <kiss_fft.h>
#include <kiss_fftr.h>
#endif

struct mmdx_rfft {
    size_t n;
#if defined(MMDX_WITH_FFTW)
    double *in;
    fftw_complex *out;
    fftw_plan plan;
#elif defined(MMDX_FFT_EIGEN)
    struct mmdx_eigen_rfft *eig;
    double *in;               /* n: short segments */
    double *pw;               /* n/2 + 1: their power */
#else
    double *in;               /* n: windowed segment */
    bool real;              /* even n: kiss_fftr; odd: complex transform */
    void *cfg;              /* kiss_fftr_cfg or kiss_fft_cfg, in our memory */
    kiss_fft_scalar *rin;   /* n */
    kiss_fft_cpx *cin;      /* n (odd n only) */
    kiss_fft_cpx *out;      /* n/2 + 1 (n for odd) */
    double *dx, *res, *best;  /* differences, residual, error bounds */
    double *xr, *xi;          /* first transform, n/2 + 1 */
    double *cos_t, *sin_t;    /* cos, sin(2 pi t / n), t < n */
    double *gain;             /* (2 sin(pi k / n))^2, k <= n/2 */
    double *pw;               /* n/2 + 1: power before accumulation */
    unsigned char *mark;      /* deflated bins */
#endif
};

/* Segments at least this long are windowed in the spectrum. */
#define MMDX_SPECTRAL_MIN 16

#if defined(__GNUC__)
/* two doubles in one SSE2/NEON register (GCC and clang vector extension) */
typedef double v2d __attribute__((vector_size(16)));
#endif

/* Bin i of a real signal's spectrum X (bins 0..n/2 stored), for any i
 * in [-2, n/2 + 2]: X[-i] = conj X[i], X[n - i] = conj X[i]. */
static inline void bin_get(const double *X, size_t n, long i, double *re,
                           double *im)
{
    long h = (long)(n / 2);

    if (i < 0) {
        *re = X[2 * -i];
        *im = -X[2 * -i + 1];
    } else if (i > h) {
        long j = (long)n - i;

        *re = X[2 * j];
        *im = -X[2 * j + 1];
    } else {
        *re = X[2 * i];
        *im = X[2 * i + 1];
    }
}

/*
 * X: the transform of an unwindowed segment of n points, bins 0..n/2 as
 * interleaved re/im (modified). Removes the mean (bin 0 is the sum of
 * the samples, and the only bin the mean changes), applies the cosine-sum
 * window c[0..nc) as a convolution of the spectrum -- Y[k] = c0 X[k] +
 * sum_j (c_j / 2) (X[k-j] + X[k+j]) -- and adds |Y[k]|^2 to acc[k] for
 * k < nbins (<= n/2 + 1). The two bins at each end take their neighbours
 * through bin_get.
 */
static void welch_spectral(double *X, size_t n, const double *c, size_t nc,
                           double *acc, size_t nbins)
{
    size_t h = n / 2, k;
    double c0 = c[0], c1 = nc > 1 ? 0.5 * c[1] : 0;
    double c2 = nc > 2 ? 0.5 * c[2] : 0;
    static const long edge[4] = { 0, 1, -1, 0 };

    assert(nc >= 1 && nc <= 3 && n >= MMDX_SPECTRAL_MIN && nbins <= h + 1);
    X[0] = 0;
    X[1] = 0;
    if (nc == 1) {
        for (k = 0; k < nbins; k++)
            acc[k] += c0 * c0 * (X[2 * k] * X[2 * k] +
                                 X[2 * k + 1] * X[2 * k + 1]);
        return;
    }
    if (nc == 2) {
#if defined(__GNUC__)
        /* a bin (re, im) per two-lane vector: half the instructions; four
         * bins per iteration, each loaded once, their |Y|^2 paired into
         * vectors so that two bins of acc are updated at a time (the same
         * operations per bin as one at a time: the same values) */
        v2d vc0 = { c0, c0 }, vc1 = { c1, c1 }, xl, x0;

        memcpy(&xl, X + 2, sizeof(xl));
        memcpy(&x0, X + 4, sizeof(x0));
        for (k = 2; k + 5 <= h && k + 4 <= nbins; k += 4) {
            v2d x1, x2, x3, x4, y0, y1, y2, y3, a01, a23;

            memcpy(&x1, X + 2 * k + 2, sizeof(x1));
            memcpy(&x2, X + 2 * k + 4, sizeof(x2));
            memcpy(&x3, X + 2 * k + 6, sizeof(x3));
            memcpy(&x4, X + 2 * k + 8, sizeof(x4));
            y0 = vc0 * x0 + vc1 * (xl + x1);
            y1 = vc0 * x1 + vc1 * (x0 + x2);
            y2 = vc0 * x2 + vc1 * (x1 + x3);
            y3 = vc0 * x3 + vc1 * (x2 + x4);
            y0 *= y0;
            y1 *= y1;
            y2 *= y2;
            y3 *= y3;
            memcpy(&a01, acc + k, sizeof(a01));
            memcpy(&a23, acc + k + 2, sizeof(a23));
            a01 += (v2d){ y0[0], y1[0] } + (v2d){ y0[1], y1[1] };
            a23 += (v2d){ y2[0], y3[0] } + (v2d){ y2[1], y3[1] };
            memcpy(acc + k, &a01, sizeof(a01));
            memcpy(acc + k + 2, &a23, sizeof(a23));
            xl = x3;
            x0 = x4;
        }
        for (; k + 2 <= h && k < nbins; k++) {
            v2d a, b, m, y;

            memcpy(&a, X + 2 * k - 2, sizeof(a));
            memcpy(&b, X + 2 * k + 2, sizeof(b));
            memcpy(&m, X + 2 * k, sizeof(m));
            y = vc0 * m + vc1 * (a + b);
            y *= y;
            acc[k] += y[0] + y[1];
        }
#else
        for (k = 2; k + 2 <= h && k < nbins; k++) {
            const double *q = X + 2 * k;
            double re = c0 * q[0] + c1 * (q[-2] + q[2]);
            double im = c0 * q[1] + c1 * (q[-1] + q[3]);

            acc[k] += re * re + im * im;
        }
#endif
    } else {
        for (k = 2; k + 2 <= h && k < nbins; k++) {
            const double *q = X + 2 * k;
            double re = c0 * q[0] + c1 * (q[-2] + q[2]) + c2 * (q[-4] + q[4]);
            double im = c0 * q[1] + c1 * (q[-1] + q[3]) + c2 * (q[-3] + q[5]);

            acc[k] += re * re + im * im;
        }
    }
    /* bins 0, 1, h - 1, h */
    for (k = 0; k < 4; k++) {
        long b = k < 2 ? edge[k] : (long)h + edge[k];
        double re, im, r1, i1, r2, i2;

        if ((size_t)b >= nbins)
            continue;
        bin_get(X, n, b, &re, &im);
        re *= c0;
        im *= c0;
        bin_get(X, n, b - 1, &r1, &i1);
        bin_get(X, n, b + 1, &r2, &i2);
        re += c1 * (r1 + r2);
        im += c1 * (i1 + i2);
        if (nc > 2) {
            bin_get(X, n, b - 2, &r1, &i1);
            bin_get(X, n, b + 2, &r2, &i2);
            re += c2 * (r1 + r2);
            im += c2 * (i1 + i2);
        }
        acc[b] += re * re + im * im;
    }
}

/* Time-domain path: (x - mean) * win into in[]. */
static void welch_input(const double *x, const double *win, size_t n,
                        double *in)
{
    double m = 0;
    size_t k;

    for (k = 0; k < n; k++)
        m += x[k];
    m /= (double)n;
    for (k = 0; k < n; k++)
        in[k] = (x[k] - m) * win[k];
}

enum mmdx_status mmdx__rfft_new(struct mmdx_ctx *ctx, size_t n,
                                struct mmdx_rfft **out)
{
    return mmdx__rfft_new_ex(ctx, n, false, out);
}

#ifdef MMDX_WITH_FFTW
/* FFTW's planner is not thread-safe; plans are made and destroyed under
 * this lock (the one process-wide state of the library, for FFTW only). */
static pthread_mutex_t fftw_plan_lock = PTHREAD_MUTEX_INITIALIZER;

const char *mmdx__rfft_backend(void)
{
    return "fftw3-double";
}

enum mmdx_status mmdx__rfft_new_ex(struct mmdx_ctx *ctx, size_t n,
                                   bool measure, struct mmdx_rfft **out)
{
    struct mmdx_rfft *p;

    *out = NULL;
    if (n < 2 || n > (1u << 26))
        return mmdx__fail(ctx, MMDX_E_INVAL, "eeg.dsp", NULL, 0, NULL,
                          "FFT length %zu outside 2..2^26", n);
    p = mmdx__calloc(1, sizeof(*p));
    if (!p)
        return mmdx__nomem(ctx);
    p->n = n;
    /* fftw_malloc for SIMD alignment; not counted by the OOM hooks */
    p->in = fftw_malloc(sizeof(double) * n);
    p->out = fftw_malloc(sizeof(fftw_complex) * (n / 2 + 1));
    if (!p->in || !p->out) {
        mmdx__rfft_free(p);
        return mmdx__nomem(ctx);
    }
    pthread_mutex_lock(&fftw_plan_lock);
    p->plan = fftw_plan_dft_r2c_1d((int)n, p->in, p->out,
                                   measure ? FFTW_MEASURE : FFTW_ESTIMATE);
    pthread_mutex_unlock(&fftw_plan_lock);
    if (!p->plan) {
        mmdx__rfft_free(p);
        return mmdx__nomem(ctx);
    }
    *out = p;
    return MMDX_OK;
}

void mmdx__rfft_free(struct mmdx_rfft *p)
{
    if (!p)
        return;
    if (p->plan) {
        pthread_mutex_lock(&fftw_plan_lock);
        fftw_destroy_plan(p->plan);
        pthread_mutex_unlock(&fftw_plan_lock);
    }
    fftw_free(p->in);
    fftw_free(p->out);
    mmdx__free(p);
}

void mmdx__rfft_power(struct mmdx_rfft *p, const double *x, double *pow)
{
    size_t k;

    memcpy(p->in, x, sizeof(double) * p->n);
    fftw_execute(p->plan);
    for (k = 0; k <= p->n / 2; k++)
        pow[k] = p->out[k][0] * p->out[k][0] + p->out[k][1] * p->out[k][1];
}

void mmdx__rfft_power_add(struct mmdx_rfft *p, const double *x, double *acc)
{
    size_t k;

    memcpy(p->in, x, sizeof(double) * p->n);
    fftw_execute(p->plan);
    for (k = 0; k <= p->n / 2; k++)
        acc[k] += p->out[k][0] * p->out[k][0] + p->out[k][1] * p->out[k][1];
}

void mmdx__rfft_welch_add(struct mmdx_rfft *p, const double *x,
                          const double *win, const double *cosw, size_t ncos,
                          double *acc, size_t nbins)
{
    size_t k;

    assert(nbins <= p->n / 2 + 1);
    if (p->n < MMDX_SPECTRAL_MIN) {
        welch_input(x, win, p->n, p->in);
        fftw_execute(p->plan);
        for (k = 0; k < nbins; k++)
            acc[k] += p->out[k][0] * p->out[k][0] +
                      p->out[k][1] * p->out[k][1];
        return;
    }
    /* the plan's input is preserved (out of place r2c); another array
     * may be given when its alignment is the planned one */
    if (fftw_alignment_of((double *)(uintptr_t)x) ==
        fftw_alignment_of(p->in)) {
        fftw_execute_dft_r2c(p->plan, (double *)(uintptr_t)x, p->out);
    } else {
        memcpy(p->in, x, p->n * sizeof(double));
        fftw_execute(p->plan);
    }
    welch_spectral(&p->out[0][0], p->n, cosw, ncos, acc, nbins);
}

#elif defined(MMDX_FFT_EIGEN)

const char *mmdx__rfft_backend(void)
{
    return "eigen-double";
}

enum mmdx_status mmdx__rfft_new_ex(struct mmdx_ctx *ctx, size_t n,
                                   bool measure, struct mmdx_rfft **out)
{
    struct mmdx_rfft *p;

    (void)measure;
    *out = NULL;
    if (n < 2 || n > (1u << 26))
        return mmdx__fail(ctx, MMDX_E_INVAL, "eeg.dsp", NULL, 0, NULL,
                          "FFT length %zu outside 2..2^26", n);
    p = mmdx__calloc(1, sizeof(*p));
    if (!p)
        return mmdx__nomem(ctx);
    p->n = n;
    p->in = mmdx__malloc(n * sizeof(double));
    p->pw = mmdx__malloc((n / 2 + 1) * sizeof(double));
    if (p->in && p->pw)
        p->eig = mmdx__eigen_rfft_new(n);
    if (!p->eig) {
        mmdx__rfft_free(p);
        return mmdx__nomem(ctx);
    }
    *out = p;
    return MMDX_OK;
}

void mmdx__rfft_free(struct mmdx_rfft *p)
{
    if (!p)
        return;
    mmdx__eigen_rfft_free(p->eig);
    mmdx__free(p->in);
    mmdx__free(p->pw);
    mmdx__free(p);
}

void mmdx__rfft_power(struct mmdx_rfft *p, const double *x, double *pow)
{
    mmdx__eigen_rfft_power(p->eig, x, pow, 0);
}

void mmdx__rfft_power_add(struct mmdx_rfft *p, const double *x, double *acc)
{
    mmdx__eigen_rfft_power(p->eig, x, acc, 1);
}

void mmdx__rfft_welch_add(struct mmdx_rfft *p, const double *x,
                          const double *win, const double *cosw, size_t ncos,
                          double *acc, size_t nbins)
{
    assert(nbins <= p->n / 2 + 1);
    if (p->n < MMDX_SPECTRAL_MIN) {
        size_t k;

        welch_input(x, win, p->n, p->in);
        mmdx__eigen_rfft_power(p->eig, p->in, p->pw, 0);
        for (k = 0; k < nbins; k++)
            acc[k] += p->pw[k];
        return;
    }
    welch_spectral(mmdx__eigen_rfft_fwd(p->eig, x), p->n, cosw, ncos, acc,
                   nbins);
}

#else /* KissFFT */

const char *mmdx__rfft_backend(void)
{
    return "kissfft-float";
}

enum mmdx_status mmdx__rfft_new_ex(struct mmdx_ctx *ctx, size_t n,
                                   bool measure, struct mmdx_rfft **out)
{
    struct mmdx_rfft *p;
    size_t len = 0;

    (void)measure;
    *out = NULL;
    if (n < 2 || n > (1u << 26))
        return mmdx__fail(ctx, MMDX_E_INVAL, "eeg.dsp", NULL, 0, NULL,
                          "FFT length %zu outside 2..2^26", n);
    p = mmdx__calloc(1, sizeof(*p));
    if (!p)
        return mmdx__nomem(ctx);
    p->n = n;
    p->real = n % 2 == 0;
    /* KissFFT sizes its state for us; we give it our own memory so the
     * allocation-failure tests reach it. */
    if (p->real)
        kiss_fftr_alloc((int)n, 0, NULL, &len);
    else
        kiss_fft_alloc((int)n, 0, NULL, &len);
    p->cfg = mmdx__malloc(len);
    p->rin = mmdx__malloc(sizeof(kiss_fft_scalar) * n);
    p->out = mmdx__malloc(sizeof(kiss_fft_cpx) * n);
    if (!p->real)
        p->cin = mmdx__malloc(sizeof(kiss_fft_cpx) * n);
    p->dx = mmdx__malloc(sizeof(double) * n);
    p->res = mmdx__malloc(sizeof(double) * n);
    p->best = mmdx__malloc(sizeof(double) * (n / 2 + 1));
    p->xr = mmdx__malloc(sizeof(double) * (n / 2 + 1));
    p->xi = mmdx__malloc(sizeof(double) * (n / 2 + 1));
    p->cos_t = mmdx__malloc(sizeof(double) * n);
    p->sin_t = mmdx__malloc(sizeof(double) * n);
    p->gain = mmdx__malloc(sizeof(double) * (n / 2 + 1));
    p->pw = mmdx__malloc(sizeof(double) * (n / 2 + 1));
    p->in = mmdx__malloc(sizeof(double) * n);
    p->mark = mmdx__calloc(n / 2 + 1, 1);
    if (!p->cfg || !p->rin || !p->out || (!p->real && !p->cin) || !p->dx ||
        !p->res || !p->best || !p->xr || !p->xi || !p->cos_t || !p->sin_t ||
        !p->gain || !p->pw || !p->in || !p->mark) {
        mmdx__rfft_free(p);
        return mmdx__nomem(ctx);
    }
    if (p->real)
        kiss_fftr_alloc((int)n, 0, p->cfg, &len);
    else
        kiss_fft_alloc((int)n, 0, p->cfg, &len);
    for (len = 0; len < n; len++) {
        p->cos_t[len] = cos(2.0 * M_PI * (double)len / (double)n);
        p->sin_t[len] = sin(2.0 * M_PI * (double)len / (double)n);
    }
    for (len = 0; len <= n / 2; len++) {
        double sn = 2.0 * sin(M_PI * (double)len / (double)n);

        p->gain[len] = sn * sn;
    }
    *out = p;
    return MMDX_OK;
}

void mmdx__rfft_free(struct mmdx_rfft *p)
{
    if (!p)
        return;
    mmdx__free(p->cfg);
    mmdx__free(p->rin);
    mmdx__free(p->cin);
    mmdx__free(p->out);
    mmdx__free(p->dx);
    mmdx__free(p->res);
    mmdx__free(p->best);
    mmdx__free(p->xr);
    mmdx__free(p->xi);
    mmdx__free(p->cos_t);
    mmdx__free(p->sin_t);
    mmdx__free(p->gain);
    mmdx__free(p->pw);
    mmdx__free(p->in);
    mmdx__free(p->mark);
    mmdx__free(p);
}

/* One single-precision transform of x (double in); the complex result is
 * left in p->out[0..n/2]. */
static void kiss_transform(struct mmdx_rfft *p, const double *x)
{
    size_t k, n = p->n;

    if (p->real) {
        for (k = 0; k < n; k++)
            p->rin[k] = (kiss_fft_scalar)x[k];
        kiss_fftr((kiss_fftr_cfg)p->cfg, p->rin, p->out);
    } else {
        for (k = 0; k < n; k++) {
            p->cin[k].r = (kiss_fft_scalar)x[k];
            p->cin[k].i = 0;
        }
        kiss_fft((kiss_fft_cfg)p->cfg, p->cin, p->out);
    }
}

/*
 * Single precision leaves each bin with an error of about eps * ||x||
 * (eps = 6e-8), so bins far below the strongest ones lose relative
 * accuracy. Two exact identities recover it, in double, around three
 * more single precision transforms:
 *
 *  1. Deflation: the MMDX_RFFT_DEFLATE strongest bins of a first
 *     transform are subtracted from x as sinusoids computed in double;
 *     the residual r has the same spectrum at every other bin and a far
 *     smaller norm (a spectral line, the alpha peak). Those bins are the
 *     first transform's value plus the residual's.
 *  2. Whitening: the circular first and second differences of r have
 *     its spectrum times (2 sin(pi k/n))^2 and ^4 exactly, with a much
 *     smaller norm when low frequencies dominate (1/f EEG). Each other
 *     bin comes from the transform (r, dr, d2r) whose error bound
 *     ||.||^2 / gain is smallest there.
 *
 * Measured against scipy (double): see docs/eeg.md.
 */
#define MMDX_RFFT_DEFLATE 8

void mmdx__rfft_power(struct mmdx_rfft *p, const double *x, double *pow)
{
    size_t k, n = p->n, h = n / 2, o, j, i;
    size_t top[MMDX_RFFT_DEFLATE], ntop = 0;
    double norm[3] = { 0, 0, 0 };
    double *r = p->res, *d = p->dx;

    /* 1. first transform, strongest bins, residual */
    kiss_transform(p, x);
    for (k = 0; k <= h; k++) {
        p->xr[k] = p->out[k].r;
        p->xi[k] = p->out[k].i;
        pow[k] = p->xr[k] * p->xr[k] + p->xi[k] * p->xi[k];
    }
    for (k = 0; k <= h; k++) {
        /* keep the MMDX_RFFT_DEFLATE largest, insertion into top[] */
        if (ntop < MMDX_RFFT_DEFLATE || pow[k] > pow[top[ntop - 1]]) {
            j = ntop < MMDX_RFFT_DEFLATE ? ntop++ : ntop - 1;
            while (j > 0 && pow[top[j - 1]] < pow[k]) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = k;
        }
    }
    memcpy(r, x, n * sizeof(double));
    for (j = 0; j < ntop; j++) {
        size_t kk = top[j], idx = 0;
        /* a bin's sinusoid: (w/n) Re(X e^(2 pi i k t/n)); w = 2 except
         * for DC and the Nyquist bin of even n */
        double w = (kk == 0 || (n % 2 == 0 && kk == h)) ? 1.0 : 2.0;
        double ar = w * p->xr[kk] / (double)n, ai = w * p->xi[kk] / (double)n;

        for (i = 0; i < n; i++) {
            r[i] -= ar * p->cos_t[idx] - ai * p->sin_t[idx];
            idx += kk;
            if (idx >= n)
                idx -= n;
        }
        p->mark[kk] = 1;
    }
    /* 2. residual and its differences */
    for (k = 0; k <= h; k++)
        p->best[k] = HUGE_VAL;
    for (o = 0; o <= 2; o++) {
        const double *src = o == 0 ? r : o == 1 ? r : d;
        double prev = src[n - 1];

        if (o > 0)
            for (i = 0; i < n; i++) {
                double cur = src[i];

                d[i] = cur - prev;
                prev = cur;
            }
        src = o == 0 ? r : d;
        for (i = 0; i < n; i++)
            norm[o] += src[i] * src[i];
        kiss_transform(p, src);
        for (k = 0; k <= h; k++) {
            double g, bound, re = p->out[k].r, im = p->out[k].i;

            if (p->mark[k]) {
                if (o == 0) { /* deflated bin: first value + residual */
                    re += p->xr[k];
                    im += p->xi[k];
                    pow[k] = re * re + im * im;
                }
                continue;
            }
            if (o == 0) {
                g = 1.0;
            } else {
                if (k == 0)
                    continue;
                g = o == 1 ? p->gain[k] : p->gain[k] * p->gain[k];
            }
            bound = norm[o] / g;
            if (bound < p->best[k]) {
                p->best[k] = bound;
                pow[k] = (re * re + im * im) / g;
            }
        }
    }
    for (j = 0; j < ntop; j++)
        p->mark[top[j]] = 0;
    /* DC needs no transform */
    {
        double sum = 0;

        for (i = 0; i < n; i++)
            sum += x[i];
        pow[0] = sum * sum;
    }
}

void mmdx__rfft_power_add(struct mmdx_rfft *p, const double *x, double *acc)
{
    size_t k;

    mmdx__rfft_power(p, x, p->pw);
    for (k = 0; k <= p->n / 2; k++)
        acc[k] += p->pw[k];
}

/* Single precision: the mean and the window are applied to the input,
 * in double, before the transform sees it. */
void mmdx__rfft_welch_add(struct mmdx_rfft *p, const double *x,
                          const double *win, const double *cosw, size_t ncos,
                          double *acc, size_t nbins)
{
    size_t k;

    (void)cosw;
    (void)ncos;
    assert(nbins <= p->n / 2 + 1);
    welch_input(x, win, p->n, p->in);
    mmdx__rfft_power(p, p->in, p->pw);
    for (k = 0; k < nbins; k++)
        acc[k] += p->pw[k];
}
#endif

size_t mmdx__rfft_size(const struct mmdx_rfft *p)
{
    return p->n;
}

/* ---- windows --------------------------------------------------------------- */

void mmdx__window_fill(enum mmdx_window w, double *out, size_t n)
{
    size_t i;
    const double tau = 2.0 * M_PI;

    for (i = 0; i < n; i++) {
        double t = (double)i / (double)n; /* periodic: divide by n */

        switch (w) {
        case MMDX_WIN_HANN:
            out[i] = 0.5 - 0.5 * cos(tau * t);
            break;
        case MMDX_WIN_HAMMING:
            out[i] = 0.54 - 0.46 * cos(tau * t);
            break;
        case MMDX_WIN_BLACKMAN:
            out[i] = 0.42 - 0.5 * cos(tau * t) + 0.08 * cos(2 * tau * t);
            break;
        case MMDX_WIN_BOXCAR:
        default:
            out[i] = 1.0;
            break;
        }
    }
}

size_t mmdx__window_cosines(enum mmdx_window w, double *c)
{
    switch (w) {
    case MMDX_WIN_HANN:
        c[0] = 0.5;
        c[1] = -0.5;
        return 2;
    case MMDX_WIN_HAMMING:
        c[0] = 0.54;
        c[1] = -0.46;
        return 2;
    case MMDX_WIN_BLACKMAN:
        c[0] = 0.42;
        c[1] = -0.5;
        c[2] = 0.08;
        return 3;
    case MMDX_WIN_BOXCAR:
    default:
        c[0] = 1.0;
        return 1;
    }
}

/* ---- biquads (bilinear transform, RBJ forms) --------------------------------- */

static void biquad_set(struct mmdx_biquad *s, double b0, double b1, double b2,
                       double a0, double a1, double a2)
{
    s->b0 = b0 / a0;
    s->b1 = b1 / a0;
    s->b2 = b2 / a0;
    s->a1 = a1 / a0;
    s->a2 = a2 / a0;
    s->z1 = s->z2 = 0;
}

size_t mmdx__butter_sections(struct mmdx_biquad *sec, int order, bool high,
                             double f_hz, double fs_hz)
{
    int k, nsec = order / 2;
    double w0 = 2.0 * M_PI * f_hz / fs_hz, c = cos(w0), sn = sin(w0);

    assert(order >= 2 && order <= 8 && order % 2 == 0);
    for (k = 0; k < nsec; k++) {
        /* Butterworth pole pairs: Q = 1 / (2 cos((2k+1) pi / (2 order))) */
        double q = 1.0 / (2.0 * cos((2.0 * k + 1.0) * M_PI / (2.0 * order)));
        double alpha = sn / (2.0 * q);

        if (high)
            biquad_set(&sec[k], (1 + c) / 2, -(1 + c), (1 + c) / 2,
                       1 + alpha, -2 * c, 1 - alpha);
        else
            biquad_set(&sec[k], (1 - c) / 2, 1 - c, (1 - c) / 2, 1 + alpha,
                       -2 * c, 1 - alpha);
    }
    return (size_t)nsec;
}

void mmdx__notch_section(struct mmdx_biquad *sec, double f_hz, double q,
                         double fs_hz)
{
    double w0 = 2.0 * M_PI * f_hz / fs_hz, c = cos(w0);
    double alpha = sin(w0) / (2.0 * q);

    biquad_set(sec, 1, -2 * c, 1, 1 + alpha, -2 * c, 1 - alpha);
}

void mmdx__biquad_run(struct mmdx_biquad *sec, size_t nsec, double *x,
                      size_t n)
{
    size_t s, i;

    for (s = 0; s < nsec; s++) {
        struct mmdx_biquad *q = &sec[s];
        double b0 = q->b0, b1 = q->b1, b2 = q->b2, a1 = q->a1, a2 = q->a2;
        double z1 = q->z1, z2 = q->z2;

        for (i = 0; i < n; i++) {
            double in = x[i], y = b0 * in + z1;

            z1 = b1 * in - a1 * y + z2;
            z2 = b2 * in - a2 * y;
            x[i] = y;
        }
        q->z1 = z1;
        q->z2 = z2;
    }
}

#if defined(__GNUC__)
/* Two channels' section in the lanes of vectors, as loaded by
 * biquad_lanes_load. */
struct biquad_lanes {
    v2d b0, b1, b2, a1, a2, z1, z2;
};

static void biquad_lanes_load(struct biquad_lanes *l,
                              const struct mmdx_biquad *p,
                              const struct mmdx_biquad *q)
{
    l->b0 = (v2d){ p->b0, q->b0 };
    l->b1 = (v2d){ p->b1, q->b1 };
    l->b2 = (v2d){ p->b2, q->b2 };
    l->a1 = (v2d){ p->a1, q->a1 };
    l->a2 = (v2d){ p->a2, q->a2 };
    l->z1 = (v2d){ p->z1, q->z1 };
    l->z2 = (v2d){ p->z2, q->z2 };
}

static void biquad_lanes_store(const struct biquad_lanes *l,
                               struct mmdx_biquad *p, struct mmdx_biquad *q)
{
    p->z1 = l->z1[0];
    q->z1 = l->z1[1];
    p->z2 = l->z2[0];
    q->z2 = l->z2[1];
}

/* One sample of two channels through their section (the operations of
 * mmdx__biquad_run, lane by lane). */
static inline v2d biquad_lanes_step(struct biquad_lanes *l, v2d in)
{
    v2d y = l->b0 * in + l->z1;

    l->z1 = l->b1 * in - l->a1 * y + l->z2;
    l->z2 = l->b2 * in - l->a2 * y;
    return y;
}
#endif

/*
 * A biquad's recursion is a chain of dependent multiply-adds: one channel
 * at a time leaves the CPU waiting on each result. Here 8 channels go
 * through a section together -- two per vector, four independent chains;
 * a last group of fewer repeats its last channel in the lanes left over
 * (the same input and state give the same output, written twice). Each
 * channel's arithmetic is that of mmdx__biquad_run: the same values.
 */
void mmdx__biquad_run_multi(struct mmdx_biquad *sec, size_t nsec,
                            double *const *x, size_t nch, size_t n)
{
#if defined(__GNUC__)
    size_t c, s, i, j;

    for (c = 0; c < nch; c += 8) {
        size_t ch[8];
        double *p[8];

        for (j = 0; j < 8; j++) {
            ch[j] = c + j < nch ? c + j : nch - 1;
            p[j] = x[ch[j]];
        }
        for (s = 0; s < nsec; s++) {
            struct biquad_lanes l[4];

            for (j = 0; j < 4; j++)
                biquad_lanes_load(&l[j], &sec[ch[2 * j] * nsec + s],
                                  &sec[ch[2 * j + 1] * nsec + s]);
            for (i = 0; i < n; i++) {
                /* all inputs are read before any output is written */
                v2d y0 = biquad_lanes_step(&l[0], (v2d){ p[0][i], p[1][i] });
                v2d y1 = biquad_lanes_step(&l[1], (v2d){ p[2][i], p[3][i] });
                v2d y2 = biquad_lanes_step(&l[2], (v2d){ p[4][i], p[5][i] });
                v2d y3 = biquad_lanes_step(&l[3], (v2d){ p[6][i], p[7][i] });

                p[0][i] = y0[0];
                p[1][i] = y0[1];
                p[2][i] = y1[0];
                p[3][i] = y1[1];
                p[4][i] = y2[0];
                p[5][i] = y2[1];
                p[6][i] = y3[0];
                p[7][i] = y3[1];
            }
            for (j = 0; j < 4; j++)
                biquad_lanes_store(&l[j], &sec[ch[2 * j] * nsec + s],
                                   &sec[ch[2 * j + 1] * nsec + s]);
        }
    }
#else
    size_t c;

    for (c = 0; c < nch; c++)
        mmdx__biquad_run(sec + c * nsec, nsec, x[c], n);
#endif
}
