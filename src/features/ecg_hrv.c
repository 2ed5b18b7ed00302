/*
 * ecg_hrv.c - heart rate, RR statistics, HRV (time, frequency, Poincare,
 * sample entropy) and RR-irregularity indicators of atrial fibrillation,
 * from beat times. Definitions and how they differ from Kubios and
 * NeuroKit2: docs/ecg-features.md.
 */
#include "core/common.h"
#include "features/ecg_int.h"

#include <kiss_fftr.h>

#define RR_MIN_MS 250.0    /* 240 bpm */
#define RR_MAX_MS 2500.0   /* 24 bpm */
#define ECTOPIC_TOL 0.20   /* deviation from the local median RR */
#define MED_HALF 5         /* local median over 11 intervals */
#define SAMPEN_MAX_N 2000
#define INTERP_HZ 4.0
#define WELCH_S 256.0
#define LF_LO 0.04
#define LF_HI 0.15
#define HF_HI 0.40
#define LF_MIN_S 250.0     /* 10 cycles of 0.04 Hz (Task Force 1996) */
#define HF_MIN_S 66.7      /* 10 cycles of 0.15 Hz */
#define AF_WIN 128         /* beats per AF window (Dash et al. 2009) */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median_of(double *tmp, size_t n)
{
    if (n <= 16) { /* the 11-interval windows: insertion sort */
        size_t i, j;

        for (i = 1; i < n; i++) {
            double v = tmp[i];

            for (j = i; j > 0 && tmp[j - 1] > v; j--)
                tmp[j] = tmp[j - 1];
            tmp[j] = v;
        }
    } else {
        qsort(tmp, n, sizeof(*tmp), cmp_double);
    }
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

struct vi {
    double v;
    size_t i;
};

/* Sort a[0..n) by v (tmp: n more entries); returns the array that holds
 * the result (a or tmp). LSD radix sort on the bits of v, made an
 * unsigned key whose order is that of the values (sign bit flipped for
 * positive values, every bit for negative ones), 8 bits per pass, passes
 * where every key has the same digit skipped: O(n), no comparisons.
 * Equal values may come out in either order (-0 before +0), which is all
 * sample entropy needs (its counts do not depend on how ties are
 * ordered). */
static uint64_t vi_key(double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    return u >> 63 ? ~u : u | (uint64_t)1 << 63;
}

static const struct vi *sort_vi(struct vi *a, struct vi *tmp, size_t n)
{
    size_t cnt[8][256], i, pass;

    memset(cnt, 0, sizeof(cnt));
    for (i = 0; i < n; i++) {
        uint64_t k = vi_key(a[i].v);

        for (pass = 0; pass < 8; pass++)
            cnt[pass][(k >> (8 * pass)) & 255]++;
    }
    for (pass = 0; pass < 8; pass++) {
        size_t *c = cnt[pass], sum = 0, d;
        struct vi *t;

        if (n == 0 || c[(vi_key(a[0].v) >> (8 * pass)) & 255] == n)
            continue; /* one digit for all: the order stays */
        for (d = 0; d < 256; d++) {
            size_t v = c[d];

            c[d] = sum;
            sum += v;
        }
        for (i = 0; i < n; i++)
            tmp[c[(vi_key(a[i].v) >> (8 * pass)) & 255]++] = a[i];
        t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/*
 * Sample entropy SampEn(m = 2, r) of x[0..n) (Richman & Moorman 2000):
 * -ln(A/B), B = pairs of 2-point templates within r (Chebyshev), A = pairs
 * of 3-point templates, over the same n - 2 start points, no self-matches.
 * Exact, in O(n log n + matches): templates sorted by their first value,
 * so only pairs whose first values lie within r are looked at (x[q] - x[p]
 * in sorted order is exactly |x[p] - x[q]|, and rounding is monotone, so
 * the scan stops at the same pairs the all-pairs count would reject).
 * The sorted templates are copied to three arrays (first, second, third
 * value) so the pair scan streams through memory; the end of each scan
 * (the first q whose first value exceeds the p-th one by more than r)
 * only moves forward as p does, so it is found once for all p (two
 * pointers); inside it the counting is branch-free. The counts, and so
 * the result, are those of the all-pairs definition (the set of pairs
 * within r of each other does not depend on how ties are ordered).
 * Returns false when out of memory.
 */
#if defined(__GNUC__)
typedef double sv2 __attribute__((vector_size(16)));
typedef int64_t sv2i __attribute__((vector_size(16)));
#endif

/* The pair scan, four pairs at a time, for x86-64 CPUs with AVX2 (chosen
 * at run time): the same subtraction, |.| and comparison per pair as
 * below; q advances over [q, e) in steps of 4, the caller finishes the
 * rest. */
#if defined(__GNUC__) && defined(__x86_64__)
#define SAMPEN_AVX2 1
typedef double sv4 __attribute__((vector_size(32)));
typedef int64_t sv4i __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static size_t
pairs_avx2(const double *v1, const double *v2, size_t q, size_t e,
           double y1, double y2, double r, long *ca, long *cb)
{
    const sv4 y1v = { y1, y1, y1, y1 }, y2v = { y2, y2, y2, y2 };
    const sv4 rv = { r, r, r, r };
    const sv4i absm = { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };
    sv4i vb = { 0, 0, 0, 0 }, va = { 0, 0, 0, 0 };

    for (; q + 3 < e; q += 4) {
        sv4 a1, a2;
        sv4i c1, c2;

        memcpy(&a1, v1 + q, sizeof(a1));
        memcpy(&a2, v2 + q, sizeof(a2));
        c1 = (sv4)((sv4i)(y1v - a1) & absm) <= rv;
        c2 = (sv4)((sv4i)(y2v - a2) & absm) <= rv;
        vb += c1;
        va += c1 & c2;
    }
    *cb -= (long)(vb[0] + vb[1] + vb[2] + vb[3]);
    *ca -= (long)(va[0] + va[1] + va[2] + va[3]);
    return q;
}
#endif

static bool sampen(const double *x, size_t n, double r, double *out)
{
    size_t m, p, q, e;
    double a = 0, b = 0;
    struct vi *s;
    const struct vi *sv;
    double *v0, *v1, *v2;
#if defined(SAMPEN_AVX2)
    const bool avx2 = __builtin_cpu_supports("avx2");
#endif

    *out = NAN;
    if (n < 10)
        return true;
    m = n - 2;
    s = mmdx__malloc(2 * m * sizeof(*s));
    v0 = mmdx__malloc(3 * m * sizeof(*v0));
    if (!s || !v0) {
        mmdx__free(s);
        mmdx__free(v0);
        return false;
    }
    v1 = v0 + m;
    v2 = v1 + m;
    for (p = 0; p < m; p++) {
        s[p].v = x[p];
        s[p].i = p;
    }
    sv = sort_vi(s, s + m, m);
    for (p = 0; p < m; p++) {
        v0[p] = sv[p].v;
        v1[p] = x[sv[p].i + 1];
        v2[p] = x[sv[p].i + 2];
    }
    mmdx__free(s);
    for (p = 0, e = 0; p < m; p++) {
        const double lim = v0[p], y1 = v1[p], y2 = v2[p];
        long ca = 0, cb = 0;

        if (e < p + 1)
            e = p + 1;
        while (e < m && v0[e] - lim <= r)
            e++;
        q = p + 1;
#if defined(SAMPEN_AVX2)
        if (avx2)
            q = pairs_avx2(v1, v2, q, e, y1, y2, r, &ca, &cb);
#endif
#if defined(__GNUC__)
        {
            /* two pairs at a time: the same subtraction, |.| and
             * comparison per pair, counted as 0 / -1 lane masks */
            const sv2 y1v = { y1, y1 }, y2v = { y2, y2 }, rv = { r, r };
            const sv2i absm = { INT64_MAX, INT64_MAX };
            sv2i vb = { 0, 0 }, va = { 0, 0 };

            for (; q + 1 < e; q += 2) {
                sv2 a1, a2;
                sv2i c1, c2;

                memcpy(&a1, v1 + q, sizeof(a1));
                memcpy(&a2, v2 + q, sizeof(a2));
                c1 = (sv2)((sv2i)(y1v - a1) & absm) <= rv;
                c2 = (sv2)((sv2i)(y2v - a2) & absm) <= rv;
                vb += c1;
                va += c1 & c2;
            }
            cb -= (long)(vb[0] + vb[1]);
            ca -= (long)(va[0] + va[1]);
        }
#endif
        for (; q < e; q++) {
            long c1 = fabs(y1 - v1[q]) <= r;

            cb += c1;
            ca += c1 & (fabs(y2 - v2[q]) <= r);
        }
        a += (double)ca;
        b += (double)cb;
    }
    mmdx__free(v0);
    if (a > 0 && b > 0)
        *out = -log(a / b);
    return true;
}

/* Welch PSD of y (fs_i Hz, n points) with Hann segments of seg points and
 * 50% overlap, linear detrend per segment (real FFT: KissFFT); band powers
 * in units of y^2. Returns false when out of memory. */
static bool welch_bands(const double *y, size_t n, double fs_i, size_t seg,
                        double *lf, double *hf)
{
    size_t start, k, i, nseg = 0, lenmem = 0;
    double wss = 0, df, *w = NULL;
    kiss_fft_scalar *buf = NULL;
    kiss_fft_cpx *spec = NULL;
    kiss_fftr_cfg cfg = NULL;
    void *mem = NULL;
    bool ok = false;

    *lf = *hf = 0;
    if (seg > n)
        seg = n;
    seg &= ~(size_t)1; /* the real FFT wants an even length */
    if (seg < 4)
        return true;
    kiss_fftr_alloc((int)seg, 0, NULL, &lenmem);
    mem = mmdx__malloc(lenmem);
    w = mmdx__malloc(seg * sizeof(double));
    buf = mmdx__malloc(seg * sizeof(*buf));
    spec = mmdx__malloc((seg / 2 + 1) * sizeof(*spec));
    if (!mem || !w || !buf || !spec)
        goto out;
    cfg = kiss_fftr_alloc((int)seg, 0, mem, &lenmem);
    if (!cfg)
        goto out;
    for (i = 0; i < seg; i++) {
        w[i] = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)seg);
        wss += w[i] * w[i];
    }
    df = fs_i / (double)seg;
    for (start = 0; start + seg <= n; start += seg / 2) {
        double mean = 0, sx = 0, sxx = 0, sxy = 0, slope;

        for (i = 0; i < seg; i++) {
            mean += y[start + i];
            sx += (double)i;
            sxx += (double)i * (double)i;
            sxy += (double)i * y[start + i];
        }
        mean /= (double)seg;
        slope = (sxy - sx * mean) / (sxx - sx * sx / (double)seg);
        for (i = 0; i < seg; i++)
            buf[i] = (kiss_fft_scalar)((y[start + i] - mean -
                                        slope * ((double)i -
                                                 sx / (double)seg)) *
                                       w[i]);
        kiss_fftr(cfg, buf, spec);
        for (k = 1; k <= seg / 2; k++) {
            double f = (double)k * df;
            double p = 2.0 * ((double)spec[k].r * spec[k].r +
                              (double)spec[k].i * spec[k].i) /
                       (fs_i * wss); /* one-sided density, y^2/Hz */

            if (f >= HF_HI)
                break;
            if (f >= LF_LO && f < LF_HI)
                *lf += p * df;
            else if (f >= LF_HI)
                *hf += p * df;
        }
        nseg++;
        if (seg == n)
            break;
    }
    if (nseg) {
        *lf /= (double)nseg;
        *hf /= (double)nseg;
    }
    ok = true;
out:
    mmdx__free(mem);
    mmdx__free(w);
    mmdx__free(buf);
    mmdx__free(spec);
    return ok;
}

enum mmdx_status mmdx__hrv_compute(struct mmdx_ctx *ctx, const int64_t *bt,
                                   size_t n, double fs, struct mmdx_hrv *o)
{
    double *rr = NULL, *tmp = NULL, *nn = NULL, *tn = NULL, *yi = NULL;
    bool *ok = NULL;
    size_t nrr, i, nnn = 0, nd = 0, n50 = 0;
    double s = 0, s2 = 0, sd = 0, sd2 = 0;
    enum mmdx_status st = MMDX_OK;

    memset(o, 0, sizeof(*o));
    o->nbeats = n;
    o->hr_bpm = o->rr_mean_ms = o->rr_min_ms = o->rr_max_ms = NAN;
    o->ectopic_pct = o->sdnn_ms = o->rmssd_ms = o->sdsd_ms = NAN;
    o->pnn50_pct = o->sd1_ms = o->sd2_ms = o->sampen = NAN;
    o->lf_ms2 = o->hf_ms2 = o->lf_hf = NAN;
    o->af_irregularity = o->rr_cv = o->af_burden_frac = NAN;
    o->too_short_lf = o->too_short_hf = true;
    if (n < 3)
        return MMDX_OK;
    nrr = n - 1;
    rr = mmdx__malloc(nrr * sizeof(double));
    tmp = mmdx__malloc((nrr + 2 * MED_HALF + 1) * sizeof(double));
    nn = mmdx__malloc(nrr * sizeof(double));
    tn = mmdx__malloc(nrr * sizeof(double));
    ok = mmdx__calloc(nrr, sizeof(bool));
    if (!rr || !tmp || !nn || !tn || !ok) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < nrr; i++)
        rr[i] = 1000.0 * (double)(bt[i + 1] - bt[i]) / fs;

    /* ---- AF indicators on every RR (irregularity is the point) ---- */
    {
        double m = 0, v = 0, d2 = 0;
        size_t w, nwin = 0, naf = 0;

        for (i = 0; i < nrr; i++)
            m += rr[i];
        m /= (double)nrr;
        for (i = 0; i < nrr; i++)
            v += (rr[i] - m) * (rr[i] - m);
        for (i = 1; i < nrr; i++)
            d2 += (rr[i] - rr[i - 1]) * (rr[i] - rr[i - 1]);
        o->rr_cv = nrr > 1 ? sqrt(v / (double)(nrr - 1)) / m : NAN;
        o->af_irregularity = nrr > 1 ? sqrt(d2 / (double)(nrr - 1)) / m
                                     : NAN;
        /* Dash et al. 2009: per 128-beat window, normalised RMSSD >= 0.1,
         * turning-point ratio within its 95% band for random series and
         * Shannon entropy of the RR histogram >= 0.7 */
        for (w = 0; w + AF_WIN <= nrr; w += AF_WIN) {
            const double *x = rr + w;
            double wm = 0, wd = 0, lo, hi, se = 0;
            size_t tp = 0, hist[16] = { 0 }, j, cnt = 0;

            for (j = 0; j < AF_WIN; j++)
                wm += x[j];
            wm /= AF_WIN;
            for (j = 1; j < AF_WIN; j++)
                wd += (x[j] - x[j - 1]) * (x[j] - x[j - 1]);
            for (j = 1; j + 1 < AF_WIN; j++)
                tp += (x[j] > x[j - 1] && x[j] > x[j + 1]) ||
                      (x[j] < x[j - 1] && x[j] < x[j + 1]);
            /* The histogram of the middle 112 values (8 trimmed each
             * side) needs no sort: lo and hi are the 9th smallest and
             * 9th largest values (kept in two short sorted lists), the
             * middle is every value in [lo, hi] less the copies of lo
             * and hi that rank among the 8 trimmed at either end, and
             * each value's bin is computed as before. */
            {
                double sm[9], lg[9];
                size_t ns = 0, nl = 0, below = 0, above = 0, q;

                for (j = 0; j < AF_WIN; j++) {
                    double xv = x[j];

                    if (ns < 9 || xv < sm[8]) {
                        q = ns < 9 ? ns++ : 8;
                        for (; q > 0 && sm[q - 1] > xv; q--)
                            sm[q] = sm[q - 1];
                        sm[q] = xv;
                    }
                    if (nl < 9 || xv > lg[8]) {
                        q = nl < 9 ? nl++ : 8;
                        for (; q > 0 && lg[q - 1] < xv; q--)
                            lg[q] = lg[q - 1];
                        lg[q] = xv;
                    }
                }
                lo = sm[8];
                hi = lg[8];
                for (j = 0; j < AF_WIN; j++) {
                    double xv = x[j];

                    if (xv < lo) {
                        below++;
                    } else if (xv > hi) {
                        above++;
                    } else {
                        size_t b = hi > lo ? (size_t)((xv - lo) / (hi - lo) *
                                                      15.999)
                                           : 0;
                        hist[b]++;
                        cnt++;
                    }
                }
#define AF_BIN(v) (hi > lo ? (size_t)(((v) - lo) / (hi - lo) * 15.999) : 0)
                hist[AF_BIN(lo)] -= 8 - below;
                hist[AF_BIN(hi)] -= 8 - above;
#undef AF_BIN
                cnt -= 16 - below - above;
            }
            for (j = 0; j < 16; j++)
                if (hist[j]) {
                    double p = (double)hist[j] / (double)cnt;

                    se -= p * log(p) / log(16.0);
                }
            {
                double tpr = (double)tp / (AF_WIN - 2);
                double nrmssd = sqrt(wd / (AF_WIN - 1)) / wm;
                /* TPR of a random series: mean (2N-4)/3 / (N-2), sd
                 * sqrt((16N-29)/90)/(N-2); 95% band */
                double mu = (2.0 * AF_WIN - 4) / 3 / (AF_WIN - 2);
                double sg = sqrt((16.0 * AF_WIN - 29) / 90) / (AF_WIN - 2);

                naf += nrmssd >= 0.1 && se >= 0.7 &&
                       fabs(tpr - mu) <= 1.96 * sg;
            }
            nwin++;
        }
        if (nwin)
            o->af_burden_frac = (double)naf / (double)nwin;
    }

    /* ---- ectopic / artefact intervals: out of physiological range, or
     * more than 20% off the median of the 11 surrounding intervals; the
     * interval after an abnormal one (compensatory pause) goes too ---- */
    {
        /* the window's intervals kept sorted as it slides (one leaves,
         * one enters): the same multiset, so the same median */
        double win[2 * MED_HALF + 2];
        size_t c = 0, wlo = 0, whi = 0, j; /* window = rr[wlo, whi) */

        for (i = 0; i < nrr; i++) {
            size_t lo = i >= MED_HALF ? i - MED_HALF : 0;
            size_t hi = i + MED_HALF < nrr ? i + MED_HALF : nrr - 1;
            double med;

            for (; wlo < lo; wlo++) {
                for (j = 0; win[j] != rr[wlo]; j++)
                    ;
                for (; j + 1 < c; j++)
                    win[j] = win[j + 1];
                c--;
            }
            for (; whi <= hi; whi++) {
                double v = rr[whi];

                for (j = c; j > 0 && win[j - 1] > v; j--)
                    win[j] = win[j - 1];
                win[j] = v;
                c++;
            }
            med = c % 2 ? win[c / 2] : 0.5 * (win[c / 2 - 1] + win[c / 2]);
            ok[i] = rr[i] >= RR_MIN_MS && rr[i] <= RR_MAX_MS &&
                    fabs(rr[i] - med) <= ECTOPIC_TOL * med;
        }
    }
    for (i = nrr; i-- > 1;)
        if (!ok[i - 1] && ok[i]) {
            /* only drop a following interval that is itself long */
            size_t lo = i >= MED_HALF ? i - MED_HALF : 0, j, c = 0;
            size_t hi = i + MED_HALF < nrr ? i + MED_HALF : nrr - 1;

            for (j = lo; j <= hi; j++)
                tmp[c++] = rr[j];
            if (rr[i] > median_of(tmp, c))
                ok[i] = false;
        }
    {
        size_t bad = 0;

        for (i = 0; i < nrr; i++)
            bad += !ok[i];
        o->ectopic_pct = 100.0 * (double)bad / (double)nrr;
    }
    for (i = 0; i < nrr; i++)
        if (ok[i]) {
            nn[nnn] = rr[i];
            tn[nnn] = (double)bt[i + 1] / fs;
            nnn++;
            s += rr[i];
            s2 += rr[i] * rr[i];
            if (i > 0 && ok[i - 1]) {
                double d = rr[i] - rr[i - 1];

                sd += d;
                sd2 += d * d;
                nd++;
                n50 += fabs(d) > 50.0;
            }
        }
    o->nnn = nnn;
    if (nnn >= 2) {
        double mean = s / (double)nnn;

        o->rr_mean_ms = mean;
        o->hr_bpm = 60000.0 / mean;
        o->rr_min_ms = o->rr_max_ms = nn[0];
        for (i = 0; i < nnn; i++) {
            if (nn[i] < o->rr_min_ms)
                o->rr_min_ms = nn[i];
            if (nn[i] > o->rr_max_ms)
                o->rr_max_ms = nn[i];
        }
        o->sdnn_ms = sqrt(fmax(0, (s2 - s * mean) / (double)(nnn - 1)));
    }
    if (nd >= 2) {
        double md = sd / (double)nd;

        o->rmssd_ms = sqrt(sd2 / (double)nd);
        o->sdsd_ms = sqrt(fmax(0, (sd2 - sd * md) / (double)(nd - 1)));
        o->pnn50_pct = 100.0 * (double)n50 / (double)nd;
        o->sd1_ms = sqrt(0.5) * o->sdsd_ms;
        if (!isnan(o->sdnn_ms))
            o->sd2_ms = sqrt(fmax(0, 2 * o->sdnn_ms * o->sdnn_ms -
                                         0.5 * o->sdsd_ms * o->sdsd_ms));
    }
    if (nnn >= 10 && !isnan(o->sdnn_ms)) {
        size_t m = nnn > SAMPEN_MAX_N ? SAMPEN_MAX_N : nnn;

        o->sampen_truncated = nnn > SAMPEN_MAX_N;
        if (!sampen(nn, m, 0.2 * o->sdnn_ms, &o->sampen)) {
            st = mmdx__nomem(ctx);
            goto out;
        }
    }

    /* ---- frequency domain: NN interpolated at 4 Hz, Welch ---- */
    if (nnn >= 4) {
        double t0 = tn[0], span = tn[nnn - 1] - tn[0];
        size_t ni = (size_t)(span * INTERP_HZ) + 1, j = 0;

        o->too_short_hf = span < HF_MIN_S;
        o->too_short_lf = span < LF_MIN_S;
        if (!o->too_short_hf) {
            double lf, hf;
            size_t seg = (size_t)(WELCH_S * INTERP_HZ);

            yi = mmdx__malloc(ni * sizeof(double));
            if (!yi) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            for (i = 0; i < ni; i++) {
                double t = t0 + (double)i / INTERP_HZ;

                while (j + 2 < nnn && tn[j + 1] < t)
                    j++;
                yi[i] = nn[j] + (nn[j + 1] - nn[j]) * (t - tn[j]) /
                                    (tn[j + 1] - tn[j]);
            }
            if (!welch_bands(yi, ni, INTERP_HZ, seg, &lf, &hf)) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            o->hf_ms2 = hf;
            if (!o->too_short_lf) {
                o->lf_ms2 = lf;
                o->lf_hf = hf > 0 ? lf / hf : NAN;
            }
        }
    }
out:
    mmdx__free(rr);
    mmdx__free(tmp);
    mmdx__free(nn);
    mmdx__free(tn);
    mmdx__free(ok);
    mmdx__free(yi);
    return st;
}
