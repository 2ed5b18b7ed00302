/*
 * ecg_features.c - streaming ECG analysis of one lead: QRS detection,
 * signal quality per 10 s window, powerline detection (and a notch on the
 * morphology path when needed), an ensemble-averaged beat for the QRS
 * width, then rate/HRV/rhythm features. Memory is bounded by a ring of a
 * few seconds, the average beat, one byte per 10 s window and the beat
 * list, whatever the record length. Also the ecg.features stage and
 * mmdx_ecg_detect().
 */
#include "core/common.h"
#include "features/ecg_int.h"
#include "io/ecg_load.h"
#include "io/wfdb.h"
#include "mmdx/ecg.h"
#include "pipeline/stage.h"

#define SQI_WIN_S 10.0
#define ENS_PRE_S 0.25
#define ENS_POST_S 0.40
#define ENS_MAX 500
#define PL_BLOCKS 10          /* seconds of powerline estimation */
#define PL_NOTCH_FRAC 0.05    /* notch when this much power sits at 50/60 */
#define AN_CHUNK 4096         /* samples per ensemble-average step */
#define AN_SUB 1024           /* samples per filter/statistics piece */

struct mmdx_ecg_an {
    struct mmdx_ctx *ctx;
    double fs;
    struct mmdx_qrs_det *det;
    struct mmdx_biquad hp, lp, notch;
    bool notch_on;
    double pl_hz;             /* detected powerline frequency, 0 = none */
    float *ring;              /* 0.5-40 Hz signal */
    size_t mask;
    int64_t n;
    /* ensemble average */
    double *ens;
    int pre, post;
    size_t ens_n, next_beat;
    double rr_ema;
    /* quality windows */
    int64_t win_len, win_fill;
    double s1, s2, s3, s4, wmin, wmax;
    double *buf;              /* one chunk of morphology-filtered samples */
    uint8_t *win;             /* per window: 1 = good signal */
    size_t nwin, wcap;
    /* after mmdx__ecg_an_end */
    bool ended;
    uint8_t *ok;              /* per window: good signal and 25-220 bpm */
    size_t good;
    /* powerline (Goertzel over 1 s blocks of the first PL_BLOCKS s) */
    double g50[2], g60[2], c50, c60, etot;
    int64_t blk_fill;
    int nblk;
    double frac50, frac60;
};

void mmdx__ecg_an_free(struct mmdx_ecg_an *a)
{
    if (!a)
        return;
    mmdx__qrs_det_free(a->det);
    mmdx__free(a->ring);
    mmdx__free(a->ens);
    mmdx__free(a->win);
    mmdx__free(a->ok);
    mmdx__free(a->buf);
    mmdx__free(a);
}

enum mmdx_status mmdx__ecg_an_new(struct mmdx_ctx *ctx, double fs,
                                  struct mmdx_ecg_an **out)
{
    struct mmdx_ecg_an *a;
    size_t ring = 64;
    enum mmdx_status st;

    *out = NULL;
    a = mmdx__calloc(1, sizeof(*a));
    if (!a)
        return mmdx__nomem(ctx);
    a->ctx = ctx;
    a->fs = fs;
    st = mmdx__qrs_det_new(ctx, fs, &a->det);
    if (st) {
        mmdx__ecg_an_free(a);
        return st;
    }
    a->pre = (int)lround(ENS_PRE_S * fs);
    a->post = (int)lround(ENS_POST_S * fs);
    /* At least 4 s, and room for every beat decided during one AN_CHUNK
     * step together with its window and search margin: the ensemble runs
     * once per step, and a beat that has already left the ring by then
     * would never be averaged. */
    while ((double)ring < 4.0 * fs ||
           (double)ring < AN_CHUNK + a->pre + a->post + 0.06 * fs + 2.0)
        ring *= 2;
    a->mask = ring - 1;
    a->ring = mmdx__calloc(ring, sizeof(float));
    a->ens = mmdx__calloc((size_t)(a->pre + a->post + 1), sizeof(double));
    a->buf = mmdx__malloc(AN_SUB * sizeof(double));
    if (!a->ring || !a->ens || !a->buf) {
        mmdx__ecg_an_free(a);
        return mmdx__nomem(ctx);
    }
    mmdx__biquad_highpass(&a->hp, 0.5, fs);
    mmdx__biquad_lowpass(&a->lp, fs > 100 ? 40.0 : 0.4 * fs, fs);
    a->win_len = (int64_t)lround(SQI_WIN_S * fs);
    a->wmin = INFINITY;
    a->wmax = -INFINITY;
    a->c50 = 2 * cos(2 * M_PI * 50.0 / fs);
    a->c60 = 2 * cos(2 * M_PI * 60.0 / fs);
    *out = a;
    return MMDX_OK;
}

size_t mmdx__ecg_an_bytes(const struct mmdx_ecg_an *a)
{
    size_t nb;

    mmdx__qrs_det_beats(a->det, &nb);
    return sizeof(*a) + (a->mask + 1) * sizeof(float) * 3 +
           (size_t)(a->pre + a->post + 1) * sizeof(double) + a->wcap +
           AN_SUB * sizeof(double) +
           nb * sizeof(struct mmdx_qrs_beat);
}

static enum mmdx_status end_window(struct mmdx_ecg_an *a)
{
    double n = (double)a->win_fill, m, var, kurt;
    bool good;

    if (a->nwin == a->wcap) {
        size_t cap = a->wcap ? a->wcap * 2 : 256;
        uint8_t *w = mmdx__realloc(a->win, cap);

        if (!w)
            return mmdx__nomem(a->ctx);
        a->win = w;
        a->wcap = cap;
    }
    m = a->s1 / n;
    var = a->s2 / n - m * m;
    kurt = var > 0 ? (a->s4 / n - 4 * m * a->s3 / n + 6 * m * m * a->s2 / n -
                      3 * m * m * m * m) / (var * var)
                   : 0;
    /* flat (< 10 uV sd), saturated/artefact (> 10 mV range), or not
     * no more peaked than Gaussian noise (kurtosis <= 3; Li & Clifford
     * 2008 used 5, which rejects some abnormal leads such as PTB s0010) */
    good = sqrt(fmax(var, 0)) >= 0.01 && a->wmax - a->wmin <= 10.0 &&
           kurt > 3.0;
    a->win[a->nwin++] = good;
    a->s1 = a->s2 = a->s3 = a->s4 = 0;
    a->wmin = INFINITY;
    a->wmax = -INFINITY;
    a->win_fill = 0;
    return MMDX_OK;
}

static void powerline_block(struct mmdx_ecg_an *a)
{
    double n = (double)a->blk_fill;
    double p50 = a->g50[0] * a->g50[0] + a->g50[1] * a->g50[1] -
                 a->c50 * a->g50[0] * a->g50[1];
    double p60 = a->g60[0] * a->g60[0] + a->g60[1] * a->g60[1] -
                 a->c60 * a->g60[0] * a->g60[1];

    if (a->etot > 0) {
        /* a pure tone at f gives 2|X(f)|^2 / (N sum x^2) = 1 */
        a->frac50 += 2 * p50 / (n * a->etot) / PL_BLOCKS;
        a->frac60 += 2 * p60 / (n * a->etot) / PL_BLOCKS;
    }
    a->g50[0] = a->g50[1] = a->g60[0] = a->g60[1] = a->etot = 0;
    a->blk_fill = 0;
    if (++a->nblk == PL_BLOCKS && a->fs >= 130) {
        double f = a->frac50 >= a->frac60 ? 50.0 : 60.0;
        double fr = a->frac50 >= a->frac60 ? a->frac50 : a->frac60;

        if (fr > PL_NOTCH_FRAC) {
            a->pl_hz = f;
            mmdx__biquad_notch(&a->notch, f, a->fs, 10.0);
            a->notch_on = true;
        }
    }
}

/* Add beats whose window is complete to the ensemble average. */
static void ensemble(struct mmdx_ecg_an *a)
{
    size_t nb, ring = a->mask + 1;
    const struct mmdx_qrs_beat *b = mmdx__qrs_det_beats(a->det, &nb);

    while (a->next_beat < nb && a->ens_n < ENS_MAX) {
        const struct mmdx_qrs_beat *bt = &b[a->next_beat];
        int64_t r = bt->sample, i, best;
        int search = (int)lround(0.03 * a->fs);
        double rr, bv = -1;

        if (r + a->post + search >= a->n)
            break; /* not all there yet */
        a->next_beat++;
        if (a->next_beat < 2 || r - a->pre - search < 0 ||
            (size_t)(a->n - (r - a->pre - search)) >= ring)
            continue;
        rr = (double)(r - b[a->next_beat - 2].sample);
        if (a->rr_ema == 0)
            a->rr_ema = rr;
        if (fabs(rr - a->rr_ema) > 0.15 * a->rr_ema) {
            a->rr_ema = 0.9 * a->rr_ema + 0.1 * rr;
            continue; /* premature or late: not a dominant beat */
        }
        a->rr_ema = 0.9 * a->rr_ema + 0.1 * rr;
        best = r;
        for (i = r - search; i <= r + search; i++) {
            double v = fabs(a->ring[(size_t)i & a->mask]);

            if (v > bv) {
                bv = v;
                best = i;
            }
        }
        for (i = -a->pre; i <= a->post; i++)
            a->ens[i + a->pre] += a->ring[(size_t)(best + i) & a->mask];
        a->ens_n++;
    }
}

/* The morphology path, sample by sample, while the powerline estimate
 * (Goertzel over the first PL_BLOCKS seconds) is still running. */
static enum mmdx_status morph_slow(struct mmdx_ecg_an *a, const float *x,
                                   size_t m, size_t *used)
{
    size_t i;
    enum mmdx_status st;

    for (i = 0; i < m && a->nblk < PL_BLOCKS; i++) {
        double v = (double)x[i], y, t;

        t = v + a->c50 * a->g50[0] - a->g50[1];
        a->g50[1] = a->g50[0];
        a->g50[0] = t;
        t = v + a->c60 * a->g60[0] - a->g60[1];
        a->g60[1] = a->g60[0];
        a->g60[0] = t;
        y = mmdx__biquad_step(&a->hp, v);
        a->etot += y * y;
        if (++a->blk_fill >= (int64_t)a->fs)
            powerline_block(a);
        if (a->notch_on)
            y = mmdx__biquad_step(&a->notch, y);
        y = mmdx__biquad_step(&a->lp, y);
        a->ring[(size_t)a->n & a->mask] = (float)y;
        a->n++;
        a->s1 += y;
        a->s2 += y * y;
        a->s3 += y * y * y;
        a->s4 += y * y * y * y;
        if (y < a->wmin)
            a->wmin = y;
        if (y > a->wmax)
            a->wmax = y;
        if (++a->win_fill == a->win_len) {
            st = end_window(a);
            if (st)
                return st;
        }
    }
    *used = i;
    return MMDX_OK;
}

/* Ring, moments and quality windows of morphology-filtered samples y. The
 * state is in locals (the compiler keeps it in registers: the struct
 * fields would go through memory on every sample because the ring stores
 * may alias them). With GNU C vectors the moments of each stretch inside
 * one window are summed two samples at a time (even and odd samples in
 * the two lanes, added at the stretch's end): each term is computed as
 * before ((y*y)*y and so on) but the sums are added in another order, so
 * the moments may differ from a sequential sum in the last bits (relative
 * 1e-15 for a 10 s window), far below what could move a window's
 * verdict except at an exact tie with a threshold. The extremes are
 * tracked per lane too ("y < min ? y : min", which is SSE2's minpd) and
 * merged at the stretch's end: the same extremes as a sequential scan
 * (only the sign of a zero extreme could differ, which does not change
 * max - min). The ring is written first, in one pass. */
#if defined(__GNUC__)
typedef double v2m __attribute__((vector_size(16)));
typedef int64_t v2mi __attribute__((vector_size(16)));
typedef double v4m __attribute__((vector_size(32)));
typedef float v4mf __attribute__((vector_size(16)));
#if defined(__SSE2__)
#include <emmintrin.h>
#define V2M_MIN(y, m) ((v2m)_mm_min_pd((__m128d)(y), (__m128d)(m)))
#define V2M_MAX(y, m) ((v2m)_mm_max_pd((__m128d)(y), (__m128d)(m)))
#else
static inline v2m v2m_pick(v2mi take, v2m y, v2m m)
{
    return (v2m)(((v2mi)y & take) | ((v2mi)m & ~take));
}
#define V2M_MIN(y, m) v2m_pick((y) < (m), (y), (m))
#define V2M_MAX(y, m) v2m_pick((y) > (m), (y), (m))
#endif
#endif

static void ring_store(float *ring, size_t mask, int64_t n, const double *yv,
                       size_t m)
{
    size_t pos = (size_t)n & mask, ring_n = mask + 1, i, j;

    for (i = 0; i < m;) {
        size_t len = m - i < ring_n - pos ? m - i : ring_n - pos;

        j = 0;
#if defined(__GNUC__)
        for (; j + 4 <= len; j += 4) {
            v4m y;
            v4mf f;

            memcpy(&y, yv + i + j, sizeof(y));
            f = __builtin_convertvector(y, v4mf);
            memcpy(ring + pos + j, &f, sizeof(f));
        }
#endif
        for (; j < len; j++)
            ring[pos + j] = (float)yv[i + j];
        i += len;
        pos = 0;
    }
}

static enum mmdx_status morph_stats(struct mmdx_ecg_an *a, const double *yv,
                                    size_t m)
{
    double s1 = a->s1, s2 = a->s2, s3 = a->s3, s4 = a->s4;
    double wmin = a->wmin, wmax = a->wmax;
    int64_t fill = a->win_fill, len = a->win_len;
    enum mmdx_status st = MMDX_OK;
    size_t i = 0;

    ring_store(a->ring, a->mask, a->n, yv, m);
    while (i < m) {
        size_t seg = m - i, j;

        if ((int64_t)seg > len - fill)
            seg = (size_t)(len - fill);
#if defined(__GNUC__)
        {
            v2m v1 = { 0, 0 }, v2 = v1, v3 = v1, v4 = v1;
            v2m mn = { INFINITY, INFINITY }, mx = { -INFINITY, -INFINITY };
            v2m mn2 = mn, mx2 = mx;

            /* two pairs per step, the extremes of each in its own
             * accumulators (shorter dependency chains); the sums in
             * the same order as one pair per step */
            for (j = 0; j + 3 < seg; j += 4) {
                v2m y, y2, y3, z, z2, z3;

                memcpy(&y, yv + i + j, sizeof(y));
                memcpy(&z, yv + i + j + 2, sizeof(z));
                y2 = y * y;
                y3 = y2 * y;
                z2 = z * z;
                z3 = z2 * z;
                v1 += y;
                v2 += y2;
                v3 += y3;
                v4 += y3 * y;
                v1 += z;
                v2 += z2;
                v3 += z3;
                v4 += z3 * z;
                mn = V2M_MIN(y, mn);
                mx = V2M_MAX(y, mx);
                mn2 = V2M_MIN(z, mn2);
                mx2 = V2M_MAX(z, mx2);
            }
            for (; j + 1 < seg; j += 2) {
                v2m y, y2, y3;

                memcpy(&y, yv + i + j, sizeof(y));
                y2 = y * y;
                y3 = y2 * y;
                v1 += y;
                v2 += y2;
                v3 += y3;
                v4 += y3 * y;
                mn = V2M_MIN(y, mn);
                mx = V2M_MAX(y, mx);
            }
            mn = V2M_MIN(mn2, mn);
            mx = V2M_MAX(mx2, mx);
            s1 += v1[0] + v1[1];
            s2 += v2[0] + v2[1];
            s3 += v3[0] + v3[1];
            s4 += v4[0] + v4[1];
            if (mn[0] < wmin)
                wmin = mn[0];
            if (mn[1] < wmin)
                wmin = mn[1];
            if (mx[0] > wmax)
                wmax = mx[0];
            if (mx[1] > wmax)
                wmax = mx[1];
        }
#else
        j = 0;
#endif
        for (; j < seg; j++) {
            double y = yv[i + j];

            s1 += y;
            s2 += y * y;
            s3 += y * y * y;
            s4 += y * y * y * y;
            if (y < wmin)
                wmin = y;
            if (y > wmax)
                wmax = y;
        }
        fill += (int64_t)seg;
        i += seg;
        if (fill == len) {
            a->s1 = s1;
            a->s2 = s2;
            a->s3 = s3;
            a->s4 = s4;
            a->wmin = wmin;
            a->wmax = wmax;
            a->win_fill = fill;
            st = end_window(a);
            if (st)
                break;
            s1 = s2 = s3 = s4 = 0;
            wmin = INFINITY;
            wmax = -INFINITY;
            fill = 0;
        }
    }
    a->s1 = s1;
    a->s2 = s2;
    a->s3 = s3;
    a->s4 = s4;
    a->wmin = wmin;
    a->wmax = wmax;
    a->win_fill = fill;
    a->n += (int64_t)i;
    return st;
}

/* One piece (at most AN_SUB samples) through the detector and the
 * morphology path. */
static enum mmdx_status an_piece(struct mmdx_ecg_an *a, const float *x,
                                 size_t m)
{
    size_t done = 0, i;
    enum mmdx_status st;

    if (a->nblk < PL_BLOCKS) {
        /* powerline estimate still running: the scalar path */
        st = mmdx__qrs_det_push(a->det, x, m);
        if (!st)
            st = morph_slow(a, x, m, &done);
        for (i = done; i < m && !st; i++) {
            double y = mmdx__biquad_step(&a->hp, (double)x[i]);

            if (a->notch_on)
                y = mmdx__biquad_step(&a->notch, y);
            a->buf[i - done] = mmdx__biquad_step(&a->lp, y);
        }
        if (!st && done < m)
            st = morph_stats(a, a->buf, m - done);
    } else {
        /* the morphology filter rides in the detector's loop */
        struct mmdx_biquad aux[3];

        aux[0] = a->hp;
        if (a->notch_on)
            aux[1] = a->notch;
        else
            mmdx__biquad_identity(&aux[1]);
        aux[2] = a->lp;
        st = mmdx__qrs_det_push_aux(a->det, x, m, aux, a->buf);
        a->hp = aux[0];
        if (a->notch_on)
            a->notch = aux[1];
        a->lp = aux[2];
        if (!st)
            st = morph_stats(a, a->buf, m);
    }
    return st;
}

/* The ensemble average takes the beats decided by the end of each
 * AN_CHUNK samples (which beats it can still find in the ring depends on
 * that step, so it stays fixed); the filters and statistics run on pieces
 * of AN_SUB samples so that the buffer between them stays in the L1
 * cache. */
enum mmdx_status mmdx__ecg_an_push(struct mmdx_ecg_an *a, const float *x,
                                   size_t n)
{
    size_t off = 0;
    enum mmdx_status st;

    while (off < n) {
        size_t m = n - off, sub;

        if (m > AN_CHUNK)
            m = AN_CHUNK;
        for (sub = 0; sub < m; sub += AN_SUB) {
            st = an_piece(a, x + off + sub,
                          m - sub < AN_SUB ? m - sub : AN_SUB);
            if (st)
                return st;
        }
        ensemble(a);
        off += m;
    }
    return MMDX_OK;
}

size_t mmdx__ecg_an_averaged(const struct mmdx_ecg_an *a)
{
    return a->ens_n;
}

const struct mmdx_qrs_beat *mmdx__ecg_an_beats(const struct mmdx_ecg_an *a,
                                               size_t *n)
{
    return mmdx__qrs_det_beats(a->det, n);
}

/* QRS width on the average beat: the span around R where the slope stays
 * above 6% of its peak (gaps under 10 ms bridged). */
static double qrs_width_ms(const struct mmdx_ecg_an *a)
{
    int len = a->pre + a->post + 1, i, r = a->pre, on, off, gap;
    int lim_on = (int)lround(0.12 * a->fs), lim_off = (int)lround(0.16 * a->fs);
    int bridge = (int)lround(0.010 * a->fs);
    double dmax = 0, thr;
    double *d;

    if (a->ens_n < 8)
        return NAN;
    d = mmdx__malloc((size_t)len * sizeof(double));
    if (!d)
        return NAN;
    for (i = 1; i < len; i++)
        d[i] = fabs(a->ens[i] - a->ens[i - 1]) / (double)a->ens_n;
    d[0] = d[1];
    for (i = r - (int)lround(0.05 * a->fs); i <= r + (int)lround(0.05 * a->fs);
         i++)
        if (i > 0 && i < len && d[i] > dmax)
            dmax = d[i];
    thr = 0.06 * dmax;
    on = r;
    gap = 0;
    for (i = r; i > r - lim_on && i > 0; i--) {
        if (d[i] >= thr) {
            on = i;
            gap = 0;
        } else if (++gap > bridge) {
            break;
        }
    }
    off = r;
    gap = 0;
    for (i = r; i < r + lim_off && i < len; i++) {
        if (d[i] >= thr) {
            off = i;
            gap = 0;
        } else if (++gap > bridge) {
            break;
        }
    }
    mmdx__free(d);
    if (dmax <= 0 || on - 1 <= r - lim_on || off + 1 >= r + lim_off)
        return NAN;
    return 1000.0 * (double)(off - on) / a->fs;
}

#define ADD(name, v)                                                         \
    do {                                                                     \
        st = mmdx__featset_add(&p->features, name, (v));                     \
        if (st)                                                              \
            goto out;                                                        \
    } while (0)
#define FLAG(code, ...)                                                      \
    do {                                                                     \
        st = mmdx__patient_flag(p, MMDX_MOD_ECG, code, __VA_ARGS__);         \
        if (st)                                                              \
            goto out;                                                        \
    } while (0)

enum mmdx_status mmdx__ecg_an_end(struct mmdx_ecg_an *a)
{
    enum mmdx_status st;
    const struct mmdx_qrs_beat *b;
    size_t nb, i, k = 0;

    if (a->ended)
        return MMDX_OK;
    st = mmdx__qrs_det_finish(a->det);
    if (st)
        return st;
    if (a->win_fill >= a->win_len / 2) {
        st = end_window(a);
        if (st)
            return st;
    }
    ensemble(a);
    a->ok = mmdx__malloc(a->nwin ? a->nwin : 1);
    if (!a->ok)
        return mmdx__nomem(a->ctx);
    /* a window is usable when its samples look like an ECG and its beat
     * count gives 25-220 bpm */
    b = mmdx__qrs_det_beats(a->det, &nb);
    a->good = 0;
    for (i = 0; i < a->nwin; i++) {
        int64_t s0 = (int64_t)i * a->win_len, s1 = s0 + a->win_len;
        size_t c = 0;
        double bpm;

        while (k < nb && b[k].sample < s0)
            k++;
        while (k + c < nb && b[k + c].sample < s1)
            c++;
        bpm = (double)c * 60.0 / SQI_WIN_S;
        a->ok[i] = a->win[i] && bpm >= 25 && bpm <= 220;
        a->good += a->ok[i];
    }
    a->ended = true;
    return MMDX_OK;
}

double mmdx__ecg_an_quality(const struct mmdx_ecg_an *a, size_t *nwin,
                            size_t *good, const uint8_t **ok)
{
    if (nwin)
        *nwin = a->ended ? a->nwin : 0;
    if (good)
        *good = a->ended ? a->good : 0;
    if (ok)
        *ok = a->ended ? a->ok : NULL;
    return a->ended && a->nwin ? (double)a->good / (double)a->nwin : NAN;
}

enum mmdx_status mmdx__ecg_an_finish(struct mmdx_ecg_an *a,
                                     struct mmdx_patient *p)
{
    enum mmdx_status st;
    const struct mmdx_qrs_beat *b;
    int64_t *bt = NULL;
    size_t nb, i;
    struct mmdx_hrv h;
    double sqi, width;

    st = mmdx__ecg_an_end(a);
    if (st)
        return st;
    b = mmdx__qrs_det_beats(a->det, &nb);
    bt = mmdx__malloc((nb + 1) * sizeof(*bt));
    if (!bt)
        return mmdx__nomem(a->ctx);
    for (i = 0; i < nb; i++)
        bt[i] = b[i].sample;
    st = mmdx__hrv_compute(a->ctx, bt, nb, a->fs, &h);
    if (st)
        goto out;
    sqi = mmdx__ecg_an_quality(a, NULL, NULL, NULL);
    width = qrs_width_ms(a);

    ADD("ecg.rate.beats_n", (double)nb);
    ADD("ecg.rate.hr_bpm", h.hr_bpm);
    ADD("ecg.rr.mean_ms", h.rr_mean_ms);
    ADD("ecg.rr.min_ms", h.rr_min_ms);
    ADD("ecg.rr.max_ms", h.rr_max_ms);
    ADD("ecg.rr.ectopic_pct", h.ectopic_pct);
    ADD("ecg.hrv.sdnn_ms", h.sdnn_ms);
    ADD("ecg.hrv.rmssd_ms", h.rmssd_ms);
    ADD("ecg.hrv.sdsd_ms", h.sdsd_ms);
    ADD("ecg.hrv.pnn50_pct", h.pnn50_pct);
    ADD("ecg.hrv.sd1_ms", h.sd1_ms);
    ADD("ecg.hrv.sd2_ms", h.sd2_ms);
    ADD("ecg.hrv.sampen", h.sampen);
    ADD("ecg.hrv.lf_ms2", h.lf_ms2);
    ADD("ecg.hrv.hf_ms2", h.hf_ms2);
    ADD("ecg.hrv.lf_hf", h.lf_hf);
    ADD("ecg.rhythm.af_irregularity", h.af_irregularity);
    ADD("ecg.rhythm.rr_cv", h.rr_cv);
    ADD("ecg.rhythm.af_burden_frac", h.af_burden_frac);
    ADD("ecg.qrs.width_ms", width);
    ADD("ecg.quality.sqi", sqi);
    ADD("ecg.quality.powerline_frac", fmax(a->frac50, a->frac60) *
                                          (a->nblk >= PL_BLOCKS ? 1 : NAN));

    if (nb < 3)
        FLAG("ecg.rate.too_few_beats", "%zu beats detected: rate and HRV "
             "not computable", nb);
    if (h.too_short_hf && nb >= 3)
        FLAG("ecg.hrv.too_short_hf", "NN span under 66.7 s: HF power and "
             "LF/HF not computed");
    else if (h.too_short_lf && nb >= 3)
        FLAG("ecg.hrv.too_short_lf", "NN span under 250 s: LF power and "
             "LF/HF not computed");
    if (isnan(h.af_burden_frac))
        FLAG("ecg.rhythm.too_few_beats", "fewer than 129 beats: AF burden "
             "not computed");
    if (isnan(width))
        FLAG("ecg.qrs.width_unmeasured", "no stable average beat for the "
             "QRS width");
    if (!isnan(sqi) && sqi < 0.8)
        FLAG("ecg.quality.low_sqi", "only %.0f%% of 10 s windows look like "
             "clean ECG", 100 * sqi);
    if (isnan(sqi))
        FLAG("ecg.quality.too_short", "shorter than one 10 s window");
    if (a->pl_hz > 0)
        FLAG("ecg.quality.powerline", "%.0f Hz interference: notch applied "
             "to the morphology path", a->pl_hz);
    if (h.ectopic_pct > 20)
        FLAG("ecg.rr.many_ectopic", "%.0f%% of RR intervals excluded as "
             "ectopic or artefact", h.ectopic_pct);
    if (h.sampen_truncated)
        FLAG("ecg.hrv.sampen_first_2000", "sample entropy on the first 2000 "
             "NN intervals");
out:
    mmdx__free(bt);
    return st;
}

/* ---- stage ecg.features -------------------------------------------------- */

/* Stream channel ch of s (loaded or lazy) through the analysis or, when a
 is NULL, through the detector d, in chunks of bounded size. */
static enum mmdx_status feed(struct mmdx_ctx *ctx, const struct mmdx_signal *s,
                             size_t ch, struct mmdx_ecg_an *a,
                             struct mmdx_qrs_det *d)
{
    const struct mmdx_channel *c = &s->ch[ch];
    const size_t chunk = 65536;
    double *dbuf = NULL;
    float *fbuf = NULL;
    size_t off, i;
    enum mmdx_status st = MMDX_OK;

    if (c->data)
        return a ? mmdx__ecg_an_push(a, c->data, c->n)
                 : mmdx__qrs_det_push(d, c->data, c->n);
    dbuf = mmdx__malloc(chunk * sizeof(double));
    fbuf = mmdx__malloc(chunk * sizeof(float));
    if (!dbuf || !fbuf) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (off = 0; off < c->n && !st; off += chunk) {
        size_t m = c->n - off < chunk ? c->n - off : chunk;

        st = mmdx__signal_read(ctx, s, ch, off, m, dbuf);
        if (st)
            break;
        for (i = 0; i < m; i++)
            fbuf[i] = (float)dbuf[i];
        st = a ? mmdx__ecg_an_push(a, fbuf, m) : mmdx__qrs_det_push(d, fbuf, m);
    }
out:
    mmdx__free(dbuf);
    mmdx__free(fbuf);
    return st;
}

/* Every lead of s analysed (one streaming pass each); *best = the lead
 * the features come from: the first (the preferred one) unless its SQI is
 * under LEAD_SWITCH_SQI and another lead's is at least that and higher. */
#define LEAD_SWITCH_SQI 0.8

struct leads {
    size_t n, best;
    struct mmdx_ecg_an **an;
};

static void leads_fini(struct leads *l)
{
    size_t i;

    for (i = 0; l->an && i < l->n; i++)
        mmdx__ecg_an_free(l->an[i]);
    mmdx__free(l->an);
    memset(l, 0, sizeof(*l));
}

static enum mmdx_status leads_analyse(struct mmdx_ctx *ctx,
                                      const struct mmdx_signal *s,
                                      struct leads *l)
{
    enum mmdx_status st = MMDX_OK;
    size_t i;
    double q0, qb;

    memset(l, 0, sizeof(*l));
    l->an = mmdx__calloc(s->nch ? s->nch : 1, sizeof(*l->an));
    if (!l->an)
        return mmdx__nomem(ctx);
    l->n = s->nch;
    for (i = 0; i < s->nch && !st; i++) {
        st = mmdx__ecg_an_new(ctx, s->ch[i].fs_hz, &l->an[i]);
        if (!st)
            st = feed(ctx, s, i, l->an[i], NULL);
        if (!st)
            st = mmdx__ecg_an_end(l->an[i]);
    }
    if (st) {
        leads_fini(l);
        return st;
    }
    q0 = qb = mmdx__ecg_an_quality(l->an[0], NULL, NULL, NULL);
    for (i = 1; i < l->n && !(q0 >= LEAD_SWITCH_SQI); i++) {
        double q = mmdx__ecg_an_quality(l->an[i], NULL, NULL, NULL);

        if (q >= LEAD_SWITCH_SQI && !(q <= qb)) {
            l->best = i;
            qb = q;
        }
    }
    return MMDX_OK;
}

/* Windows unusable on every lead (10 s windows: the same seconds on every
 * lead whatever its rate). */
static size_t leads_noisy(const struct leads *l, size_t *nwin, size_t *first)
{
    size_t i, w, nw = 0, bad = 0;

    *first = SIZE_MAX;
    for (i = 0; i < l->n; i++) {
        size_t n;

        mmdx__ecg_an_quality(l->an[i], &n, NULL, NULL);
        if (n > nw)
            nw = n;
    }
    for (w = 0; w < nw; w++) {
        bool any = false;

        for (i = 0; i < l->n && !any; i++) {
            const uint8_t *ok;
            size_t n;

            mmdx__ecg_an_quality(l->an[i], &n, NULL, &ok);
            any = w < n && ok[w];
        }
        if (!any) {
            bad++;
            if (*first == SIZE_MAX)
                *first = w;
        }
    }
    *nwin = nw;
    return bad;
}

static enum mmdx_status features_process(struct mmdx_stage *stg,
                                         struct mmdx_patient *p)
{
    const struct mmdx_signal *s = p->slot[MMDX_SLOT_ECG];
    struct leads l;
    enum mmdx_status st;
    size_t i;

    if (!s || s->nch == 0 || (!s->ch[0].data && !s->src))
        return mmdx__fail(stg->ctx, MMDX_E_MISSING, "ecg.features", NULL, 0,
                          NULL, "no ECG lead loaded");
    st = leads_analyse(stg->ctx, s, &l);
    if (st)
        return st;
    st = mmdx__ecg_an_finish(l.an[l.best], p);
    if (!st && l.n > 1) {
        struct mmdx_dstr d;
        size_t nw, first, bad;
        bool low = false;

        /* per-lead SQI, when some lead is under the usable level */
        for (i = 0; i < l.n; i++)
            low |= !(mmdx__ecg_an_quality(l.an[i], NULL, NULL, NULL) >=
                     LEAD_SWITCH_SQI);
        mmdx__dstr_init(&d, 4096);
        for (i = 0; low && i < l.n; i++) {
            char num[32];

            mmdx__dstr_addf(&d, "%s%s %s", i ? ", " : "", s->ch[i].label,
                            mmdx__fmt_double(mmdx__ecg_an_quality(
                                                 l.an[i], NULL, NULL, NULL),
                                             num));
        }
        if (low)
            st = mmdx__patient_flag(p, MMDX_MOD_ECG, "ecg.quality.lead_sqi",
                                    "SQI per lead: %s", d.s);
        mmdx__dstr_fini(&d);
        if (!st && l.best != 0)
            st = mmdx__patient_flag(
                p, MMDX_MOD_ECG, "ecg.quality.lead_switched",
                "features from lead %s: the preferred lead %s has SQI under "
                "%.1f", s->ch[l.best].label, s->ch[0].label,
                LEAD_SWITCH_SQI);
        bad = leads_noisy(&l, &nw, &first);
        if (!st && bad)
            st = mmdx__patient_flag(
                p, MMDX_MOD_ECG, "ecg.quality.noisy_segments",
                "%zu of %zu 10 s windows unusable on every lead (first at "
                "%.0f s)", bad, nw, (double)first * SQI_WIN_S);
    }
    leads_fini(&l);
    return st;
}

/* ---- mmdx_ecg_quality ---------------------------------------------------- */

enum mmdx_status mmdx_ecg_quality(struct mmdx_ctx *ctx, const char *path,
                                  const char *lead, mmdx_ecg_quality_fn fn,
                                  void *user, long *windows, long *noisy)
{
    struct mmdx_signal *s = NULL;
    struct leads l;
    const char *want[1];
    enum mmdx_status st;
    size_t i;

    if (windows)
        *windows = 0;
    if (noisy)
        *noisy = 0;
    want[0] = lead && lead[0] ? lead : "II";
    st = mmdx__ecg_load_ex(ctx, path, want, 1, true, NULL, &s);
    if (st == MMDX_E_NOTFOUND && !(lead && lead[0])) {
        /* no lead II: every ECG lead, in record order (none: refused,
         * as by ecg-detect) */
        mmdx_ctx_clear_error(ctx);
        st = mmdx__ecg_load_ex(ctx, path, NULL, 0, true, NULL, &s);
    }
    if (st)
        return st;
    st = leads_analyse(ctx, s, &l);
    if (st) {
        mmdx__signal_free(s);
        return st;
    }
    for (i = 0; i < l.n && !st; i++) {
        struct mmdx_ecg_lead_quality q;
        size_t nw, good, nb;

        memset(&q, 0, sizeof(q));
        mmdx__strlcpy(q.label, s->ch[i].label, sizeof(q.label));
        q.fs_hz = s->ch[i].fs_hz;
        q.sqi = mmdx__ecg_an_quality(l.an[i], &nw, &good, NULL);
        q.windows = (long)nw;
        q.good = (long)good;
        mmdx__ecg_an_beats(l.an[i], &nb);
        q.beats = (long)nb;
        q.analysed = i == l.best;
        st = fn(user, &q);
    }
    if (!st) {
        size_t nw, first, bad = leads_noisy(&l, &nw, &first);

        if (windows)
            *windows = (long)nw;
        if (noisy)
            *noisy = (long)bad;
    }
    leads_fini(&l);
    mmdx__signal_free(s);
    return st;
}

const struct mmdx_stage_def mmdx__stage_ecg_features = {
    MMDX_STAGE_ABI,
    "ecg.features",
    "R-peak detection, heart rate, HRV (time, frequency, Poincare, sample "
    "entropy), AF indicators, QRS width and signal quality on the first "
    "loaded lead (another loaded lead when the first is unusable); signal "
    "quality on every loaded lead",
    MMDX_SLOT_BIT(MMDX_SLOT_ECG),
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_ECG,
    NULL,
    0,
    NULL,
    features_process,
    NULL
};

/* ---- mmdx_ecg_detect ------------------------------------------------------ */

static enum mmdx_status write_outputs(struct mmdx_ctx *ctx,
                                      const struct mmdx_qrs_beat *b,
                                      size_t nb, double fs,
                                      const char *tsv_path,
                                      const char *wfdb_path)
{
    enum mmdx_status st = MMDX_OK;
    size_t i;

    if (tsv_path) {
        struct mmdx_dstr d;
        char num[32];

        mmdx__dstr_init(&d, (size_t)1 << 30);
        st = mmdx__dstr_adds(&d, "sample\ttime_s\tlabel\n");
        for (i = 0; i < nb && !st; i++)
            st = mmdx__dstr_addf(&d, "%lld\t%s\tN\n",
                                 (long long)b[i].sample,
                                 mmdx__fmt_double((double)b[i].sample / fs,
                                                  num));
        if (st)
            st = st == MMDX_E_NOMEM ? mmdx__nomem(ctx)
                                    : mmdx__fail(ctx, st, "ecg.detect",
                                                 tsv_path, 0, NULL,
                                                 "output too large");
        else
            st = mmdx__file_write_atomic(ctx, tsv_path, d.s, d.len);
        mmdx__dstr_fini(&d);
        if (st)
            return st;
    }
    if (wfdb_path) {
        struct mmdx_wfdb_annset as = { NULL, 0, 0 };
        unsigned char *enc = NULL;
        size_t len;

        for (i = 0; i < nb && !st; i++)
            st = mmdx__wfdb_annset_add(ctx, &as, b[i].sample,
                                       MMDX_WFDB_NORMAL, NULL);
        if (!st)
            st = mmdx__wfdb_ann_encode(ctx, &as, &enc, &len);
        if (!st)
            st = mmdx__file_write_atomic(ctx, wfdb_path, enc, len);
        mmdx__free(enc);
        mmdx__wfdb_annset_fini(&as);
    }
    return st;
}

enum mmdx_status mmdx_ecg_detect(struct mmdx_ctx *ctx, const char *path,
                                 const char *lead, const char *tsv_path,
                                 const char *wfdb_path, size_t *nbeats)
{
    struct mmdx_signal *s = NULL;
    struct mmdx_qrs_det *d = NULL;
    const struct mmdx_qrs_beat *b;
    size_t nb = 0;
    const char *want[1];
    enum mmdx_status st;

    if (nbeats)
        *nbeats = 0;
    want[0] = lead && lead[0] ? lead : "II";
    st = mmdx__ecg_load(ctx, path, want, 1, NULL, &s);
    if (st)
        return st;
    st = mmdx__qrs_det_new(ctx, s->ch[0].fs_hz, &d);
    if (!st)
        st = feed(ctx, s, 0, NULL, d);
    if (!st)
        st = mmdx__qrs_det_finish(d);
    if (!st) {
        b = mmdx__qrs_det_beats(d, &nb);
        st = write_outputs(ctx, b, nb, s->ch[0].fs_hz, tsv_path, wfdb_path);
    }
    if (!st && nbeats)
        *nbeats = nb;
    mmdx__qrs_det_free(d);
    mmdx__signal_free(s);
    return st;
}
