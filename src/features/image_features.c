/*
 * image_features.c - IBSI 1 features of an image inside a region of
 * interest: morphology (voxel-based), intensity statistics, intensity
 * histogram, GLCM, GLRLM, GLSZM, NGTDM and NGLDM, with the discretisation
 * and texture aggregation of IBSI 1 (Zwanenburg et al., arXiv:1612.07003).
 * Conformance is tested on the IBSI digital phantom (tests/unit/
 * test_image.c); where we differ from PyRadiomics' defaults is listed in
 * docs/image-features.md.
 *
 * Layout: voxel (x, y, z) is at x + nx * (y + ny * z). Grey levels are
 * 1..ng, 0 marks voxels outside the ROI.
 */
#include "core/common.h"
#include "features/image_features.h"
#include "features/image_hull.h"

#include <float.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* AVX2 versions of a few loops, chosen at run time (x86-64 with GCC or
 * clang); they give the same results as the SSE2 ones */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATHS 1
static bool has_avx2(void)
{
    return mmdx__simd_level() >= MMDX_SIMD_AVX2;
}

/* AVX-512 (BW + VBMI2) versions of the GLCM counting, also chosen at run
 * time; they count the same pairs */
#define HAVE_AVX512_PATHS 1
static bool has_avx512(void)
{
    return mmdx__simd_level() >= MMDX_SIMD_AVX512;
}
#endif

#define MAX_LEVELS 1024       /* texture matrices: ng <= this */

static const int dirs13[13][3] = {
    /* the four in-plane directions first (2D, 2.5D) */
    { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, -1, 0 },
    { 0, 0, 1 }, { 1, 0, 1 }, { 1, 0, -1 }, { 0, 1, 1 }, { 0, 1, -1 },
    { 1, 1, 1 }, { 1, 1, -1 }, { 1, -1, 1 }, { 1, -1, -1 }
};

struct tex {
    size_t nx, ny, nz;
    uint16_t *q;              /* level per voxel, 0 = outside */
    int ng;                   /* highest level */
    size_t nroi;
    uint32_t *span;           /* NULL, or per row (y + ny * z) the x range
                                 [span[2r], span[2r+1]) holding its levels */
};

struct emit {
    mmdx__imgfeat_fn fn;
    void *user;
    enum mmdx_status st;
};

static void put(struct emit *e, const char *name, double v)
{
    if (!e->st)
        e->st = e->fn(e->user, name, v);
}

/* ---- order statistics by selection (no full sort, mmdx__select_float) --------- */

/*
 * Percentiles p[0..np-1] (ascending, 0..100) of v[0..n-1] with linear
 * interpolation between order statistics (numpy's default). v is
 * reordered.
 */
static void percentiles(float *v, size_t n, const double *p, size_t np,
                        double *out)
{
    size_t lo = 0, i;

    for (i = 0; i < np; i++) {
        double pos = p[i] / 100.0 * (double)(n - 1);
        size_t k = (size_t)floor(pos), m;
        double frac = pos - (double)k, a, b;

        a = mmdx__select_float(v + lo, n - lo, k - lo);
        b = a;
        if (frac > 0 && k + 1 < n) {
            b = v[k + 1];
            for (m = k + 2; m < n; m++)  /* min of the upper part */
                if (v[m] < b)
                    b = v[m];
        }
        out[i] = a + frac * (b - a);
        lo = k;
    }
}

/* ---- intensity statistics (IBSI 3.3) and histogram (3.4) ------------------------ */

/* The 18 statistics, from the moments and order statistics. */
struct fo {
    double n, mean, m2, m3, m4, min, max, energy;
    double p[5];             /* P10, P25, P50, P75, P90 */
    double mad, rmad, medad;
};

static void fo_emit(struct emit *e, const char *fam, const struct fo *s)
{
    char name[96];

#define F(nm, v)                                                             \
    do {                                                                     \
        snprintf(name, sizeof(name), "image.%s.%s", fam, nm);               \
        put(e, name, v);                                                     \
    } while (0)
    F("mean", s->mean);
    F("variance", s->m2);
    F("skewness", s->m2 > 0 ? s->m3 / pow(s->m2, 1.5) : NAN);
    F("kurtosis", s->m2 > 0 ? s->m4 / (s->m2 * s->m2) - 3 : NAN);
    F("median", s->p[2]);
    F("min", s->min);
    F("p10", s->p[0]);
    F("p90", s->p[4]);
    F("max", s->max);
    F("iqr", s->p[3] - s->p[1]);
    F("range", s->max - s->min);
    F("mad", s->mad);
    F("rmad", s->rmad);
    F("medad", s->medad);
    F("cov", s->mean != 0 ? sqrt(s->m2) / s->mean : NAN);
    F("qcod", s->p[3] + s->p[1] != 0
                  ? (s->p[3] - s->p[1]) / (s->p[3] + s->p[1]) : NAN);
    if (!strcmp(fam, "stat")) {
        F("energy", s->energy);
        F("rms", sqrt(s->energy / s->n));
    }
#undef F
}

static const double pct5[5] = { 10, 25, 50, 75, 90 };

/*
 * Integer-valued data over a modest range (CT in HU, discretised levels):
 * everything from a count per value, h[k] = how many values are mn + k
 * (h[0] and h[range - 1] non-zero; n values in all). No sort and no
 * selection.
 */
static void first_order_hist(struct emit *e, const char *fam,
                             const uint32_t *h, size_t range, double mn,
                             size_t n)
{
    double mx = mn + (double)(range - 1), rs = 0, rn = 0, frac[5];
    size_t i, k, cum = 0, got = 0, at[10], tgt[10], slot[10];
    struct fo s;

    memset(&s, 0, sizeof(s));
    s.n = (double)n;
    s.min = mn;
    s.max = mx;
    /* order statistics with numpy's linear interpolation between the
     * values of rank r and r + 1 (0-based): the ten ranks found in the
     * same pass as the sums, in rising order (an unknown rank r + 1 -
     * past the last value - takes the value of rank r) */
    for (i = 0; i < 5; i++) {
        double pos = pct5[i] / 100.0 * (s.n - 1);
        size_t r = (size_t)floor(pos);

        frac[i] = pos - (double)r;
        for (k = 0; k < 2; k++) {
            size_t j = 2 * i + k;

            /* insertion by rank: at most ten */
            while (j > 0 && tgt[j - 1] > r + k) {
                tgt[j] = tgt[j - 1];
                slot[j] = slot[j - 1];
                j--;
            }
            tgt[j] = r + k;
            slot[j] = 2 * i + k;
            at[2 * i + k] = SIZE_MAX;
        }
    }
    for (k = 0; k < range; k++)
        if (h[k]) {
            double v = mn + (double)k;

            s.mean += v * h[k];
            s.energy += v * v * h[k];
            cum += h[k];
            while (got < 10 && cum > tgt[got])
                at[slot[got++]] = k;
        }
    s.mean /= s.n;
    for (i = 0; i < 5; i++) {
        size_t a = at[2 * i], b = at[2 * i + 1] == SIZE_MAX ? a
                                                             : at[2 * i + 1];

        s.p[i] = mn + (double)a + frac[i] * (double)(b - a);
    }
    for (k = 0; k < range; k++)
        if (h[k]) {
            double v = mn + (double)k, d = v - s.mean, d2 = d * d;

            s.m2 += d2 * h[k];
            s.m3 += d2 * d * h[k];
            s.m4 += d2 * d2 * h[k];
            s.mad += fabs(d) * h[k];
            if (v >= s.p[0] && v <= s.p[4]) {
                rs += v * h[k];
                rn += h[k];
            }
        }
    s.m2 /= s.n;
    s.m3 /= s.n;
    s.m4 /= s.n;
    s.mad /= s.n;
    for (k = 0; k < range; k++)
        if (h[k]) {
            double v = mn + (double)k;

            if (v >= s.p[0] && v <= s.p[4])
                s.rmad += fabs(v - rs / rn) * h[k];
            s.medad += fabs(v - s.p[2]) * h[k];
        }
    s.rmad = rn > 0 ? s.rmad / rn : NAN;
    s.medad /= s.n;
    fo_emit(e, fam, &s);
}

/* The same for values in vals: false (nothing done) unless they are
 * integers over at most 2^20 + 1 values. */
static bool first_order_counts(struct emit *e, const char *fam,
                               const float *vals, size_t n)
{
    double mn = INFINITY, mx = -INFINITY;
    uint32_t *h;
    size_t i, range;

    for (i = 0; i < n; i++) {
        float x = vals[i];

        if (!(x >= -1e9f && x <= 1e9f) || x != (float)(int32_t)x)
            return false;
        if (x < mn)
            mn = x;
        if (x > mx)
            mx = x;
    }
    if (mx - mn > 1 << 20)
        return false;
    range = (size_t)(mx - mn) + 1;
    h = mmdx__calloc(range, sizeof(*h));
    if (!h)
        return false;
    for (i = 0; i < n; i++)
        h[(size_t)(vals[i] - (float)mn)]++;
    first_order_hist(e, fam, h, range, mn, n);
    mmdx__free(h);
    return true;
}

/* Statistics shared by both families; vals may be reordered. */
static void first_order(struct emit *e, const char *fam, float *vals,
                        size_t n, double shift)
{
    struct fo s;
    double rsum = 0;
    size_t i, rn = 0;

    MMDX_UNUSED(shift);
    if (first_order_counts(e, fam, vals, n))
        return;
    memset(&s, 0, sizeof(s));
    s.n = (double)n;
    s.min = INFINITY;
    s.max = -INFINITY;
    for (i = 0; i < n; i++) {
        double x = vals[i];

        s.mean += x;
        s.energy += x * x;
        if (x < s.min)
            s.min = x;
        if (x > s.max)
            s.max = x;
    }
    s.mean /= s.n;
    for (i = 0; i < n; i++) {
        double d = vals[i] - s.mean, d2 = d * d;

        s.m2 += d2;
        s.m3 += d2 * d;
        s.m4 += d2 * d2;
        s.mad += fabs(d);
    }
    s.m2 /= s.n;
    s.m3 /= s.n;
    s.m4 /= s.n;
    s.mad /= s.n;
    percentiles(vals, n, pct5, 5, s.p);
    for (i = 0; i < n; i++)
        if (vals[i] >= s.p[0] && vals[i] <= s.p[4]) {
            rsum += vals[i];
            rn++;
        }
    for (i = 0; i < n; i++) {
        if (vals[i] >= s.p[0] && vals[i] <= s.p[4])
            s.rmad += fabs(vals[i] - rsum / (double)rn);
        s.medad += fabs(vals[i] - s.p[2]);
    }
    s.rmad = rn ? s.rmad / (double)rn : NAN;
    s.medad /= s.n;
    fo_emit(e, fam, &s);
}

static void histogram(struct emit *e, const struct tex *t, size_t n)
{
    double *h = mmdx__calloc((size_t)t->ng + 2, sizeof(double));
    double ent = 0, uni = 0, gmax = -INFINITY, gmin = INFINITY;
    int i, mode = 1, gmaxi = 1, gmini = 1;
    size_t v;

    if (!h) {
        e->st = MMDX_E_NOMEM;
        return;
    }
    for (v = 0; v < t->nx * t->ny * t->nz; v++)
        if (t->q[v])
            h[t->q[v]]++;
    for (i = 1; i <= t->ng; i++) {
        double p = h[i] / (double)n, g;

        if (p > 0)
            ent -= p * log2(p);
        uni += p * p;
        if (h[i] > h[mode])
            mode = i;
        if (t->ng == 1)
            g = 0;
        else if (i == 1)
            g = h[2] - h[1];
        else if (i == t->ng)
            g = h[i] - h[i - 1];
        else
            g = (h[i + 1] - h[i - 1]) / 2;
        if (g > gmax) {
            gmax = g;
            gmaxi = i;
        }
        if (g < gmin) {
            gmin = g;
            gmini = i;
        }
    }
    put(e, "image.ih.mode", mode);
    put(e, "image.ih.entropy", ent);
    put(e, "image.ih.uniformity", uni);
    put(e, "image.ih.max_grad", gmax);
    put(e, "image.ih.max_grad_level", gmaxi);
    put(e, "image.ih.min_grad", gmin);
    put(e, "image.ih.min_grad_level", gmini);
    mmdx__free(h);
}

/* ---- GLCM (IBSI 3.6) --------------------------------------------------------------- */

#define GLCM_N 25
static const char *const glcm_names[GLCM_N] = {
    "joint_max", "joint_average", "joint_variance", "joint_entropy",
    "diff_average", "diff_variance", "diff_entropy", "sum_average",
    "sum_variance", "sum_entropy", "energy", "contrast", "dissimilarity",
    "inv_diff", "inv_diff_norm", "inv_diff_moment", "inv_diff_moment_norm",
    "inv_variance", "correlation", "autocorrelation", "cluster_tendency",
    "cluster_shade", "cluster_prominence", "info_corr1", "info_corr2"
};

/* Add the four counting tables (ng+1)^2, made symmetric and without level
 * 0, to m (ng x ng), and zero them. */
static void glcm_flush(size_t ng, uint32_t *cnt, double *m)
{
    size_t ng1 = ng + 1, tab = ng1 * ng1, a, b;
    const uint32_t *c0 = cnt, *c1 = cnt + tab, *c2 = cnt + 2 * tab,
                   *c3 = cnt + 3 * tab;

    for (a = 1; a <= ng; a++)
        for (b = 1; b <= ng; b++) {
            size_t ab = a * ng1 + b, ba = b * ng1 + a;

            m[(a - 1) * ng + (b - 1)] +=
                (double)c0[ab] + (double)c1[ab] + (double)c2[ab] +
                (double)c3[ab] + (double)c0[ba] + (double)c1[ba] +
                (double)c2[ba] + (double)c3[ba];
        }
    memset(cnt, 0, 4 * tab * sizeof(*cnt));
}

/* Counter indices of pairs waiting to be counted (the AVX-512 paths
 * gather them over many rows, so that counting loops are long). */
#define GLCM_BUF 2048
struct gbuf {
    size_t n;
    uint16_t v[GLCM_BUF + 4 * 32];
};

/* Where pairs are counted: four tables used in turn (in uniform regions
 * the same counter would otherwise be incremented back to back, each
 * increment waiting for the previous store), and the waiting indices. */
struct gcount {
    uint32_t *c[4];
    struct gbuf *b;
};

/* Count the waiting pairs into the four tables in turn. */
static void glcm_drain(const struct gcount *g)
{
    uint32_t *c0 = g->c[0], *c1 = g->c[1], *c2 = g->c[2], *c3 = g->c[3];
    const uint16_t *buf = g->b->v;
    size_t i = 0, nb = g->b->n;

    for (; i + 4 <= nb; i += 4) {
        c0[buf[i]]++;
        c1[buf[i + 1]]++;
        c2[buf[i + 2]]++;
        c3[buf[i + 3]]++;
    }
    for (; i < nb; i++)
        c0[buf[i]]++;
    g->b->n = 0;
}

#ifdef HAVE_AVX512_PATHS
/* Append the indices p of the lanes k to the waiting ones (buf[nb..]);
 * returns the new count, the buffer counted and emptied when full. */
__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"))) static inline
size_t glcm_wait512(const struct gcount *g, size_t nb, __mmask32 k,
                    __m512i p)
{
    _mm512_storeu_si512((void *)(g->b->v + nb),
                        _mm512_maskz_compress_epi16(k, p));
    return nb + (size_t)_mm_popcnt_u32(k);
}

/* After a step: count the waiting pairs when the buffer is full. */
static inline size_t glcm_spill(const struct gcount *g, size_t nb)
{
    if (nb < GLCM_BUF)
        return nb;
    g->b->n = nb;
    glcm_drain(g);
    return 0;
}

/*
 * glcm_row() 32 pairs a step (AVX-512), for ng1 <= 256: pairs with a
 * voxel outside the ROI are dropped, those equal to the diagonal entry of
 * the level last seen first in a step are counted with one add, and the
 * others are packed into a buffer and counted one by one (see
 * glcm_block512). Returns the first x not done.
 */
__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"))) static long
glcm_row512(const uint16_t *row, const uint16_t *nrow, long x, long xe,
            size_t ng1, const struct gcount *g)
{
    uint32_t *c0 = g->c[0];
    const __m512i vn = _mm512_set1_epi16((short)ng1);
    size_t nb = g->b->n, dom = 0;

    for (; x + 32 <= xe; x += 32) {
        __m512i a = _mm512_loadu_si512((const void *)(row + x));
        __m512i b = _mm512_loadu_si512((const void *)(nrow + x));
        __m512i p = _mm512_add_epi16(_mm512_mullo_epi16(a, vn), b);
        __mmask32 k = _mm512_test_epi16_mask(a, a) &
                      _mm512_test_epi16_mask(b, b), e;

        if (!k)
            continue;
        if (row[x])
            dom = (size_t)row[x] * (ng1 + 1);
        e = _mm512_mask_cmpeq_epi16_mask(k, p, _mm512_set1_epi16((short)dom));
        c0[dom] += (uint32_t)_mm_popcnt_u32(e);
        nb = glcm_spill(g, glcm_wait512(g, nb, k & ~e, p));
    }
    g->b->n = nb;
    return x;
}

/*
 * The block part of glcm_inplane() 32 voxels a step, for ng1 <= 256 (a
 * counter index then fits 16 bits): the 4 x 32 pair indices are computed
 * in vectors; the pairs equal to the current "common" pair - the diagonal
 * entry of the level last seen first in a block, usually the tissue that
 * fills the region - are counted with one add of their number, the pairs
 * with a voxel outside the ROI (level 0) are dropped, and the indices of
 * the others are packed into the buffer (vpcompressw) and counted one by
 * one.
 * In a CT slice about half the pairs are of the common kind. Returns the
 * first x not done.
 */
__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"))) static long
glcm_block512(const uint16_t *row, const uint16_t *nrow, long x, long fe,
              size_t ng1, const struct gcount *g)
{
    uint32_t *c0 = g->c[0];
    const __m512i vn = _mm512_set1_epi16((short)ng1);
    size_t nb = g->b->n, dom = 0;

    for (; x + 32 <= fe; x += 32) {
        __m512i a = _mm512_loadu_si512((const void *)(row + x));
        __m512i a1 = _mm512_loadu_si512((const void *)(row + x + 1));
        __m512i b = _mm512_loadu_si512((const void *)(nrow + x));
        __m512i b1 = _mm512_loadu_si512((const void *)(nrow + x + 1));
        __mmask32 in_a = _mm512_test_epi16_mask(a, a);
        __mmask32 in_a1 = _mm512_test_epi16_mask(a1, a1);
        __mmask32 in_b = _mm512_test_epi16_mask(b, b);
        __mmask32 in_b1 = _mm512_test_epi16_mask(b1, b1);
        __m512i ra = _mm512_mullo_epi16(a, vn);
        __m512i p0 = _mm512_add_epi16(ra, a1);
        __m512i p1 = _mm512_add_epi16(ra, b);
        __m512i p2 = _mm512_add_epi16(ra, b1);
        __m512i p3 = _mm512_add_epi16(_mm512_mullo_epi16(b, vn), a1);
        __m512i vd;
        __mmask32 k0 = in_a & in_a1, k1 = in_a & in_b, k2 = in_a & in_b1,
                  k3 = in_b & in_a1, e0, e1, e2, e3;

        if (row[x])
            dom = (size_t)row[x] * (ng1 + 1);
        vd = _mm512_set1_epi16((short)dom);
        e0 = _mm512_mask_cmpeq_epi16_mask(k0, p0, vd);
        e1 = _mm512_mask_cmpeq_epi16_mask(k1, p1, vd);
        e2 = _mm512_mask_cmpeq_epi16_mask(k2, p2, vd);
        e3 = _mm512_mask_cmpeq_epi16_mask(k3, p3, vd);
        c0[dom] += (uint32_t)(_mm_popcnt_u32(e0) + _mm_popcnt_u32(e1) +
                              _mm_popcnt_u32(e2) + _mm_popcnt_u32(e3));
        nb = glcm_wait512(g, nb, k0 & ~e0, p0);
        nb = glcm_wait512(g, nb, k1 & ~e1, p1);
        nb = glcm_wait512(g, nb, k2 & ~e2, p2);
        nb = glcm_spill(g, glcm_wait512(g, nb, k3 & ~e3, p3));
    }
    g->b->n = nb;
    return x;
}
#endif

/* Count the pairs of row against nrow (already offset by the direction's
 * dx) for x in [xb, xe) into the tables c[0..3]. */
static void glcm_row(const uint16_t *row, const uint16_t *nrow, long xb,
                     long xe, size_t ng1, const struct gcount *g)
{
    uint32_t *c0 = g->c[0], *c1 = g->c[1], *c2 = g->c[2], *c3 = g->c[3];
    long x = xb;

#ifdef HAVE_AVX512_PATHS
    if (ng1 <= 256 && xe - x >= 32 && has_avx512())
        x = glcm_row512(row, nrow, x, xe, ng1, g);
#endif
#ifdef __SSE2__
    /* eight pairs at a time; where all sixteen levels are the same
     * (uniform tissue, holes in the ROI) one add counts them */
    for (; x + 8 <= xe; x += 8) {
        __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(row + x));
        __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)
                                         (nrow + x));
        __m128i l = _mm_set1_epi16((short)row[x]);
        long k;

        if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi16(va, l),
                                            _mm_cmpeq_epi16(vb, l))) ==
            0xFFFF) {
            c0[(size_t)row[x] * (ng1 + 1)] += 8;
            continue;
        }
        for (k = x; k < x + 8; k += 4) {
            c0[(size_t)row[k] * ng1 + (size_t)nrow[k]]++;
            c1[(size_t)row[k + 1] * ng1 + (size_t)nrow[k + 1]]++;
            c2[(size_t)row[k + 2] * ng1 + (size_t)nrow[k + 2]]++;
            c3[(size_t)row[k + 3] * ng1 + (size_t)nrow[k + 3]]++;
        }
    }
#endif
    for (; x + 3 < xe; x += 4) {
        c0[(size_t)row[x] * ng1 + (size_t)nrow[x]]++;
        c1[(size_t)row[x + 1] * ng1 + (size_t)nrow[x + 1]]++;
        c2[(size_t)row[x + 2] * ng1 + (size_t)nrow[x + 2]]++;
        c3[(size_t)row[x + 3] * ng1 + (size_t)nrow[x + 3]]++;
    }
    for (; x < xe; x++)
        c0[(size_t)row[x] * ng1 + (size_t)nrow[x]]++;
}

/* Count row against nrow over [b, e) minus [fb, fe) (fb >= fe: nothing
 * taken out). */
static void glcm_row_out(const uint16_t *row, const uint16_t *nrow, long b,
                         long e, long fb, long fe, size_t ng1,
                         const struct gcount *g)
{
    if (fb >= fe) {
        if (e > b)
            glcm_row(row, nrow, b, e, ng1, g);
        return;
    }
    if ((fb < e ? fb : e) > b)
        glcm_row(row, nrow, b, fb < e ? fb : e, ng1, g);
    if (e > (fe > b ? fe : b))
        glcm_row(row, nrow, fe > b ? fe : b, e, ng1, g);
}


/*
 * The four in-plane directions at once for row (span [sb, se)) and the
 * next row of the slice nrow (span [nb, ne); NULL for the last row): the
 * pairs (x, x+1) of row, and between the rows (x, x) and (x, x+1) from
 * row and (x, x+1) from nrow - the last being direction (1, -1) seen
 * from the row below, the same pairs. Where both rows are inside for x
 * and x+1, a block of 2 x 9 levels gives 32 pairs, counted with one add
 * when it is uniform.
 */
static void glcm_inplane(const uint16_t *row, const uint16_t *nrow, long sb,
                         long se, long nb, long ne, size_t ng1,
                         const struct gcount *g)
{
    uint32_t *const *c = g->c;
    const struct gcount g1 = { { c[1], c[2], c[3], c[0] }, g->b };
    const struct gcount g2 = { { c[2], c[3], c[0], c[1] }, g->b };
    const struct gcount g3 = { { c[3], c[0], c[1], c[2] }, g->b };
    long fb, fe, x;

    if (!nrow || nb >= ne || sb >= se) {
        if (se - 1 > sb)
            glcm_row(row, row + 1, sb, se - 1, ng1, g);
        return;
    }
    fb = sb > nb ? sb : nb;
    fe = (se < ne ? se : ne) - 1;
    /* each direction's own range, less the block part */
    glcm_row_out(row, row + 1, sb, se - 1, fb, fe, ng1, g);
    glcm_row_out(row, nrow, fb, fe + 1, fb, fe, ng1, &g1);
    glcm_row_out(row, nrow + 1, sb > nb - 1 ? sb : nb - 1,
                 se < ne - 1 ? se : ne - 1, fb, fe, ng1, &g2);
    glcm_row_out(nrow, row + 1, nb > sb - 1 ? nb : sb - 1,
                 ne < se - 1 ? ne : se - 1, fb, fe, ng1, &g3);
    x = fb;
#ifdef HAVE_AVX512_PATHS
    if (ng1 <= 256 && fe - x >= 32 && has_avx512())
        x = glcm_block512(row, nrow, x, fe, ng1, g);
#endif
#ifdef __SSE2__
    for (; x + 8 <= fe; x += 8) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(row + x));
        __m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)
                                         (row + x + 1));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)
                                        (nrow + x));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)
                                         (nrow + x + 1));
        __m128i l = _mm_set1_epi16((short)row[x]);
        __m128i eq = _mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi16(a, l), _mm_cmpeq_epi16(a1, l)),
            _mm_and_si128(_mm_cmpeq_epi16(b, l), _mm_cmpeq_epi16(b1, l)));
        long k;

        if (_mm_movemask_epi8(eq) == 0xFFFF) {
            c[0][(size_t)row[x] * (ng1 + 1)] += 32;
            continue;
        }
        for (k = x; k < x + 8; k++) {
            size_t ra = (size_t)row[k] * ng1;

            c[0][ra + row[k + 1]]++;
            c[1][ra + nrow[k]]++;
            c[2][ra + nrow[k + 1]]++;
            c[3][(size_t)nrow[k] * ng1 + row[k + 1]]++;
        }
    }
#endif
    for (; x < fe; x++) {
        size_t ra = (size_t)row[x] * ng1;

        c[0][ra + row[x + 1]]++;
        c[1][ra + nrow[x]]++;
        c[2][ra + nrow[x + 1]]++;
        c[3][(size_t)nrow[x] * ng1 + row[x + 1]]++;
    }
}

/*
 * Count co-occurrences along the nd directions dl for z in [z0, z1) and
 * add them, made symmetric, to m (ng x ng). cnt is scratch of 4 x (ng+1)^2
 * counters: level 0 (outside the ROI) gets its own row and column, so the
 * inner loop has no branch. Rows are visited once, every direction at a
 * time, so that the few rows a voxel's neighbours lie in stay in cache;
 * only the x range where both rows hold ROI voxels is counted.
 */
static void glcm_acc(const struct tex *t, const int (*dl)[3], int nd,
                     size_t z0, size_t z1, double *m, uint32_t *cnt)
{
    size_t ng = (size_t)t->ng, ng1 = ng + 1, z, y, tab = ng1 * ng1;
    struct gbuf gb;
    const struct gcount g = { { cnt, cnt + tab, cnt + 2 * tab,
                                cnt + 3 * tab }, &gb };
    uint64_t pending = 0, per_slice = (uint64_t)nd * t->nx * t->ny;
    int k, k0 = 0;

    /* the four in-plane directions first, as in dirs13: counted together
     * (with spans only: without, every row is whole) */
    if (nd >= 4 && t->span && !memcmp(dl, dirs13, 4 * sizeof(*dl)))
        k0 = 4;

    gb.n = 0;
    memset(cnt, 0, 4 * tab * sizeof(*cnt));
    for (z = z0; z < z1; z++) {
        if (pending + per_slice > UINT32_MAX) {
            /* a counter could overflow: move the counts on */
            glcm_drain(&g);
            glcm_flush(ng, cnt, m);
            pending = 0;
        }
        pending += per_slice;
        for (y = 0; y < t->ny; y++) {
            size_t r = y + t->ny * z;
            const uint16_t *row = t->q + t->nx * r;

            if (k0) {
                bool last = y + 1 == t->ny;

                glcm_inplane(row, last ? NULL : row + t->nx,
                             t->span[2 * r], t->span[2 * r + 1],
                             last ? 0 : t->span[2 * r + 2],
                             last ? 0 : t->span[2 * r + 3], ng1, &g);
            }
            for (k = k0; k < nd; k++) {
                const int *d = dl[k];
                long zz = (long)z + d[2], yy = (long)y + d[1];
                long xb = d[0] < 0 ? -d[0] : 0;
                long xe = (long)t->nx - (d[0] > 0 ? d[0] : 0);
                size_t nr;

                if (zz < 0 || zz >= (long)t->nz || yy < 0 ||
                    yy >= (long)t->ny)
                    continue;
                nr = (size_t)yy + t->ny * (size_t)zz;
                if (t->span) {
                    /* only where both voxels can be inside: level 0 pairs
                     * are dropped anyway */
                    long sb = t->span[2 * r], se = t->span[2 * r + 1];
                    long nb = (long)t->span[2 * nr] - d[0],
                         ne = (long)t->span[2 * nr + 1] - d[0];

                    if (sb > xb)
                        xb = sb;
                    if (nb > xb)
                        xb = nb;
                    if (se < xe)
                        xe = se;
                    if (ne < xe)
                        xe = ne;
                }
                if (xe > xb)
                    glcm_row(row, t->q + t->nx * nr + d[0], xb, xe, ng1, &g);
            }
        }
    }
    glcm_drain(&g);
    glcm_flush(ng, cnt, m);
}

static bool glcm_feats(const double *cnt, double nv, const struct tex *t,
                       double *out, double *scratch)
{
    size_t ng = (size_t)t->ng, i, j, k;
    double tot = 0, *pi = scratch, *pd = scratch + ng, *ps = pd + ng;
    double *lg = ps + 2 * ng + 2;  /* after 4 ng + 2 doubles */
    double mu = 0, mui = 0, var_i = 0, f[GLCM_N];
    double hx = 0, hxy = 0, hxy1 = 0, hxy2 = 0;

    MMDX_UNUSED(nv);
    for (i = 0; i < ng * ng; i++)
        tot += cnt[i];
    if (tot <= 0)
        return false;
    memset(scratch, 0, (4 * ng + 2) * sizeof(double));
    memset(f, 0, sizeof(f));
    for (i = 0; i < ng; i++)
        for (j = 0; j < ng; j++) {
            double p = cnt[i * ng + j] / tot;
            double a = (double)(i + 1), b = (double)(j + 1);
            double dd = fabs(a - b);

            if (p == 0)
                continue;
            pi[i] += p;
            pd[(size_t)dd] += p;
            ps[i + j] += p;   /* sum k = i+j+2, index i+j */
            if (p > f[0])
                f[0] = p;
            mu += a * p;
            f[3] -= p * log2(p);
            f[10] += p * p;
            f[11] += dd * dd * p;
            f[12] += dd * p;
            f[13] += p / (1 + dd);
            f[14] += p / (1 + dd / (double)ng);
            f[15] += p / (1 + dd * dd);
            f[16] += p / (1 + dd * dd / ((double)ng * (double)ng));
            if (dd > 0)
                f[17] += p / (dd * dd);
            f[19] += a * b * p;
        }
    f[1] = mu;
    mui = mu;  /* symmetric: row and column marginals are equal */
    for (i = 0; i < ng; i++) {
        double a = (double)(i + 1);

        var_i += (a - mui) * (a - mui) * pi[i];
        if (pi[i] > 0)
            hx -= pi[i] * log2(pi[i]);
    }
    hxy = f[3];
    /* log2(pi[i] pi[j]): the product is the same both ways round, so
     * each logarithm is taken once for (i, j) and (j, i) */
    for (i = 0; i < ng; i++)
        for (j = i; j < ng; j++) {
            double pp = pi[i] * pi[j];

            lg[i * ng + j] = lg[j * ng + i] = pp > 0 ? log2(pp) : 0;
        }
    for (i = 0; i < ng; i++)
        for (j = 0; j < ng; j++) {
            double p = cnt[i * ng + j] / tot, pp = pi[i] * pi[j];
            double a = (double)(i + 1), b = (double)(j + 1);
            double c = a + b - 2 * mui;

            if (pp > 0) {
                double lpp = lg[i * ng + j];

                hxy2 -= pp * lpp;
                if (p > 0)
                    hxy1 -= p * lpp;
            }
            if (p == 0)
                continue;
            f[2] += (a - mu) * (a - mu) * p;
            f[18] += (a - mui) * (b - mui) * p;
            f[20] += c * c * p;
            f[21] += c * c * c * p;
            f[22] += c * c * c * c * p;
        }
    for (k = 0; k < ng; k++) {
        f[4] += (double)k * pd[k];
        if (pd[k] > 0)
            f[6] -= pd[k] * log2(pd[k]);
    }
    for (k = 0; k < ng; k++)
        f[5] += ((double)k - f[4]) * ((double)k - f[4]) * pd[k];
    for (k = 0; k + 1 < 2 * ng; k++) {
        f[7] += (double)(k + 2) * ps[k];
        if (ps[k] > 0)
            f[9] -= ps[k] * log2(ps[k]);
    }
    for (k = 0; k + 1 < 2 * ng; k++)
        f[8] += ((double)(k + 2) - f[7]) * ((double)(k + 2) - f[7]) * ps[k];
    f[18] = var_i > 0 ? f[18] / var_i : NAN;
    f[23] = hx > 0 ? (hxy - hxy1) / hx : NAN;
    f[24] = hxy2 > hxy ? sqrt(1 - exp(-2 * (hxy2 - hxy))) : 0;
    memcpy(out, f, sizeof(f));
    return true;
}

/* ---- run-length-like matrices: GLRLM, GLSZM, NGLDM -------------------------------- */

#define RL_N 17
static const char *const glrlm_names[RL_N] = {
    "sre", "lre", "lgre", "hgre", "srlge", "srhge", "lrlge", "lrhge",
    "glnu", "glnu_norm", "rlnu", "rlnu_norm", "run_percentage", "gl_variance",
    "rl_variance", "run_entropy", NULL
};
static const char *const glszm_names[RL_N] = {
    "sze", "lze", "lgze", "hgze", "szlge", "szhge", "lzlge", "lzhge",
    "glnu", "glnu_norm", "zsnu", "zsnu_norm", "zone_percentage",
    "gl_variance", "zs_variance", "zone_entropy", NULL
};
static const char *const ngldm_names[RL_N] = {
    "lde", "hde", "lgce", "hgce", "ldlge", "ldhge", "hdlge", "hdhge",
    "glnu", "glnu_norm", "dcnu", "dcnu_norm", "dc_percentage", "gl_variance",
    "dc_variance", "dc_entropy", "dc_energy"
};

/*
 * Features of a matrix m[i * nj + k] (level i+1, second index value
 * jv[k]), Nv voxels. scratch holds ng + nj doubles.
 */
static bool rl_feats(const double *m, size_t ng, size_t nj, const double *jv,
                     double nv, double *out, double *scratch)
{
    double ns = 0, *gi = scratch, *gj = scratch + ng, f[RL_N];
    double mui = 0, muj = 0;
    size_t i, k;

    memset(f, 0, sizeof(f));
    memset(scratch, 0, (ng + nj) * sizeof(double));
    for (i = 0; i < ng; i++)
        for (k = 0; k < nj; k++) {
            double c = m[i * nj + k];
            double a = (double)(i + 1), b = jv[k], a2 = a * a, b2 = b * b;

            if (c == 0)
                continue;
            ns += c;
            gi[i] += c;
            gj[k] += c;
            f[0] += c / b2;
            f[1] += c * b2;
            f[2] += c / a2;
            f[3] += c * a2;
            f[4] += c / (a2 * b2);
            f[5] += c * a2 / b2;
            f[6] += c * b2 / a2;
            f[7] += c * a2 * b2;
        }
    if (ns <= 0)
        return false;
    for (i = 0; i < 8; i++)
        f[i] /= ns;
    for (i = 0; i < ng; i++) {
        f[8] += gi[i] * gi[i];
        mui += (double)(i + 1) * gi[i] / ns;
    }
    for (k = 0; k < nj; k++) {
        f[10] += gj[k] * gj[k];
        muj += jv[k] * gj[k] / ns;
    }
    f[9] = f[8] / (ns * ns);
    f[8] /= ns;
    f[11] = f[10] / (ns * ns);
    f[10] /= ns;
    f[12] = nv > 0 ? ns / nv : NAN;
    for (i = 0; i < ng; i++)
        for (k = 0; k < nj; k++) {
            double p = m[i * nj + k] / ns;

            if (p == 0)
                continue;
            f[13] += ((double)(i + 1) - mui) * ((double)(i + 1) - mui) * p;
            f[14] += (jv[k] - muj) * (jv[k] - muj) * p;
            f[15] -= p * log2(p);
            f[16] += p * p;
        }
    memcpy(out, f, sizeof(f));
    return true;
}

/* GLRLM: runs along d within z in [z0, z1); m is ng x (L+1), column k =
 * run length k. nv += ROI voxels visited. */
struct rl_acc {
    size_t nj;
};

/* One run: level a (>= 1), len voxels (clamped to the last column). */
static inline void rl_emit(double *m, size_t nj, unsigned a, size_t len)
{
    if (len >= nj)
        len = nj - 1;
    m[(size_t)(a - 1) * nj + len] += 1;
}

/*
 * The runs of one family of lines: units (the rows of a slice, or the
 * slices of the range) follow one another along the direction, and voxel
 * (x, y) of unit k continues the run of voxel (x - dx, y - dy) of unit
 * k - 1. plev/plen hold the previous unit's run ends (level, length so
 * far); a run is counted when no voxel of the next unit continues it, or
 * after the last unit. q0 is the first unit, ustep the distance between
 * units; span0 the ROI spans of the first unit's rows (NULL: whole rows),
 * rows of a unit being consecutive rows of the span table.
 */
struct rl_unit {
    size_t n, nx;          /* voxels per unit; row length */
    long dx, dy;           /* the predecessor is (x - dx, y - dy) */
};

/* One voxel of level a whose predecessor is (px, py) of the previous
 * unit (in it when yin and px is inside the row): its run state into
 * *cl, *cn; a continued run's end is taken out of plev. Returns 1 for a
 * ROI voxel. */
static inline size_t rl_step(unsigned a, bool yin, long px, long py,
                             const struct rl_unit *u, uint16_t *plev,
                             const uint32_t *plen, uint16_t *cl,
                             uint32_t *cn)
{
    *cl = (uint16_t)a;
    if (!a)
        return 0;
    *cn = 1;
    if (yin && px >= 0 && px < (long)u->nx) {
        size_t pv = (size_t)px + u->nx * (size_t)py;

        if (plev[pv] == a) {
            *cn = plen[pv] + 1;
            plev[pv] = 0;   /* continued: not a run end */
        }
    }
    return 1;
}

static void rl_units(const uint16_t *q0, size_t ustep, size_t nunits,
                     const uint32_t *span0, const struct rl_unit *u,
                     uint16_t *plev, uint32_t *plen, uint16_t *clev,
                     uint32_t *clen, double *m, double *nv, size_t nj)
{
    size_t k, ny = u->n / u->nx, cnt = 0, x, y;

    for (k = 0; k < nunits; k++) {
        const uint16_t *q = q0 + k * ustep;
        const uint32_t *sp = span0 ? span0 + 2 * ny * k : NULL;

        for (y = 0; y < ny; y++) {
            long py = (long)y - u->dy;
            bool yin = k > 0 && py >= 0 && py < (long)ny;
            size_t row = u->nx * y, sb = sp ? sp[2 * y] : 0,
                   se = sp ? sp[2 * y + 1] : u->nx;
            /* [mb, me): the predecessor lies inside the previous unit
             * (most of the span); there without a branch per voxel, as
             * levels and runs change too often for branches to be
             * predicted */
            long mb = u->dx > (long)sb ? u->dx : (long)sb;
            long me = (long)u->nx + u->dx < (long)se ? (long)u->nx + u->dx
                                                      : (long)se;

            /* outside the span: no ROI voxel */
            memset(clev + row, 0, sb * sizeof(*clev));
            memset(clev + row + se, 0, (u->nx - se) * sizeof(*clev));
            if (!yin || mb > me)
                mb = me = (long)se;
            for (x = sb; (long)x < mb; x++)
                cnt += rl_step(q[row + x], yin, (long)x - u->dx, py, u,
                               plev, plen, clev + row + x, clen + row + x);
            if ((long)x < me) {
                const uint16_t *restrict qq = q + row;
                uint16_t *restrict cl = clev + row;
                uint32_t *restrict cn = clen + row;
                uint16_t *restrict pw = plev + u->nx * (size_t)py - u->dx;
                const uint32_t *restrict pn = plen + u->nx * (size_t)py -
                                              u->dx;

                for (; (long)x < me; x++) {
                    unsigned b = qq[x], pl = pw[x];
                    bool mt = pl == b && b != 0;

                    cl[x] = (uint16_t)b;
                    cn[x] = mt ? pn[x] + 1 : 1;
                    pw[x] = (uint16_t)(mt ? 0 : pl);
                    cnt += b != 0;
                }
            }
            for (; x < se; x++)
                cnt += rl_step(q[row + x], yin, (long)x - u->dx, py, u,
                               plev, plen, clev + row + x, clen + row + x);
        }
        if (k > 0) {
            const uint32_t *pp = span0 ? span0 + 2 * ny * (k - 1) : NULL;

            for (y = 0; y < ny; y++)
                for (x = pp ? pp[2 * y] : 0; x < (pp ? pp[2 * y + 1] : u->nx);
                     x++)
                    if (plev[u->nx * y + x])
                        rl_emit(m, nj, plev[u->nx * y + x],
                                plen[u->nx * y + x]);
        }
        {
            uint16_t *tl = plev;
            uint32_t *tn = plen;

            plev = clev;
            plen = clen;
            clev = tl;
            clen = tn;
        }
    }
    if (nunits) {
        const uint32_t *pp = span0 ? span0 + 2 * ny * (nunits - 1) : NULL;

        for (y = 0; y < ny; y++)
            for (x = pp ? pp[2 * y] : 0; x < (pp ? pp[2 * y + 1] : u->nx); x++)
                if (plev[u->nx * y + x])
                    rl_emit(m, nj, plev[u->nx * y + x], plen[u->nx * y + x]);
    }
    *nv += (double)cnt;
}

/*
 * Run lengths along direction d for z in [z0, z1) into m (ng x nj) and
 * the voxel count into *nv. A direction and its opposite give the same
 * runs, so d is turned to point to rising z (then rising y, then rising
 * x): along x the runs of each row are read off directly; otherwise each
 * voxel is compared with its predecessor one row (in-plane directions)
 * or one slice back, whose run state is kept, so the level map is read
 * once per direction in memory order. rlev, rlen: scratch of 2 x nx x
 * ny each (levels and run lengths of two units).
 */
static void glrlm_acc(const struct tex *t, const int *dir, size_t z0,
                      size_t z1, double *m, double *nv, size_t nj,
                      uint16_t *rlev, uint32_t *rlen)
{
    long d[3] = { dir[0], dir[1], dir[2] };
    size_t plane = t->nx * t->ny, z, y;
    struct rl_unit u;

    if (d[2] < 0 || (d[2] == 0 && (d[1] < 0 || (d[1] == 0 && d[0] < 0)))) {
        d[0] = -d[0];
        d[1] = -d[1];
        d[2] = -d[2];
    }
    if (z1 <= z0)
        return;
    if (d[2] == 0 && d[1] == 0) {
        /* along the rows */
        size_t cnt = 0;

        for (z = z0; z < z1; z++)
            for (y = 0; y < t->ny; y++) {
                const uint16_t *row = t->q + t->nx * (y + t->ny * z);
                size_t x = 0, e = t->nx;

                if (t->span) {
                    x = t->span[2 * (y + t->ny * z)];
                    e = t->span[2 * (y + t->ny * z) + 1];
                }
                while (x < e) {
                    unsigned a = row[x];
                    size_t s0 = x;

                    if (!a) {
                        x++;
                        continue;
                    }
                    while (x < e && row[x] == a)
                        x++;
                    cnt += x - s0;
                    rl_emit(m, nj, a, x - s0);
                }
            }
        *nv += (double)cnt;
        return;
    }
    if (d[2] == 0) {
        /* in-plane: the units are the rows of each slice */
        u.n = t->nx;
        u.nx = t->nx;
        u.dx = d[0];
        u.dy = 0;
        for (z = z0; z < z1; z++)
            rl_units(t->q + plane * z, t->nx, t->ny,
                     t->span ? t->span + 2 * t->ny * z : NULL, &u, rlev,
                     rlen, rlev + plane, rlen + plane, m, nv, nj);
        return;
    }
    /* out of plane: the units are the slices */
    u.n = plane;
    u.nx = t->nx;
    u.dx = d[0];
    u.dy = d[1];
    rl_units(t->q + plane * z0, plane, z1 - z0,
             t->span ? t->span + 2 * t->ny * z0 : NULL, &u, rlev, rlen,
             rlev + plane, rlen + plane, m, nv, nj);
}

/* ---- directional aggregation (GLCM, GLRLM) ----------------------------------------- */

enum dfam { D_GLCM, D_GLRLM };

struct dctx {
    const struct tex *t;
    enum dfam fam;
    size_t msize, nj, nfeat;
    double *m, *scratch, *jv, *sum, *tmp;
    size_t *cnt;
    uint32_t *pairs;       /* GLCM counting scratch, 4 x (ng+1)^2 */
    uint16_t *rlev;        /* GLRLM run state, 2 x nx x ny each */
    uint32_t *rlen;
    double nv;
};

static void d_zero(struct dctx *c)
{
    memset(c->m, 0, c->msize * sizeof(double));
    c->nv = 0;
}

static void d_acc(struct dctx *c, int dir, size_t z0, size_t z1)
{
    if (c->fam == D_GLCM)
        glcm_acc(c->t, &dirs13[dir], 1, z0, z1, c->m, c->pairs);
    else
        glrlm_acc(c->t, dirs13[dir], z0, z1, c->m, &c->nv, c->nj, c->rlev,
                  c->rlen);
}

/* Directions first .. first+nd-1 into one matrix: GLCM counts them in
 * one sweep over the rows. */
static void d_acc_dirs(struct dctx *c, int first, int nd, size_t z0,
                       size_t z1)
{
    int d;

    if (c->fam == D_GLCM) {
        glcm_acc(c->t, &dirs13[first], nd, z0, z1, c->m, c->pairs);
        return;
    }
    for (d = first; d < first + nd; d++)
        d_acc(c, d, z0, z1);
}

/* Features of the current matrix added to the running average. */
static void d_feat(struct dctx *c)
{
    bool ok;
    size_t k;

    if (c->fam == D_GLCM)
        ok = glcm_feats(c->m, c->nv, c->t, c->tmp, c->scratch);
    else
        ok = rl_feats(c->m, (size_t)c->t->ng, c->nj, c->jv, c->nv, c->tmp,
                      c->scratch);
    if (!ok)
        return;
    for (k = 0; k < c->nfeat; k++)
        if (isfinite(c->tmp[k])) {
            c->sum[k] += c->tmp[k];
            c->cnt[k]++;
        }
}

static enum mmdx_status directional(struct emit *e, const struct tex *t,
                                    enum dfam fam, int agg)
{
    struct dctx c;
    size_t ng = (size_t)t->ng, k, z;
    int d;
    char name[96];
    const char *const *names = fam == D_GLCM ? glcm_names : glrlm_names;
    const char *fname = fam == D_GLCM ? "glcm" : "glrlm";
    enum mmdx_status st = MMDX_OK;

    memset(&c, 0, sizeof(c));
    c.t = t;
    c.fam = fam;
    c.nfeat = fam == D_GLCM ? GLCM_N : RL_N - 1;
    c.nj = t->nx;
    if (t->ny > c.nj)
        c.nj = t->ny;
    if (t->nz > c.nj)
        c.nj = t->nz;
    c.nj += 1;
    c.msize = fam == D_GLCM ? ng * ng : ng * c.nj;
    c.m = mmdx__calloc(c.msize, sizeof(double));
    /* GLCM: 4 ng + 2 marginal sums and an ng x ng table of logarithms */
    c.scratch = mmdx__calloc(4 * ng + 2 + c.nj +
                                 (fam == D_GLCM ? ng * ng : 0),
                             sizeof(double));
    c.jv = mmdx__calloc(c.nj, sizeof(double));
    c.sum = mmdx__calloc(RL_N + GLCM_N, sizeof(double));
    c.tmp = mmdx__calloc(RL_N + GLCM_N, sizeof(double));
    c.cnt = mmdx__calloc(RL_N + GLCM_N, sizeof(size_t));
    if (fam == D_GLCM) {
        c.pairs = mmdx__malloc(4 * (ng + 1) * (ng + 1) * sizeof(uint32_t));
    } else {
        c.rlev = mmdx__malloc(2 * t->nx * t->ny * sizeof(*c.rlev));
        c.rlen = mmdx__malloc(2 * t->nx * t->ny * sizeof(*c.rlen));
    }
    if (!c.m || !c.scratch || !c.jv || !c.sum || !c.tmp || !c.cnt ||
        (fam == D_GLCM ? !c.pairs : !c.rlev || !c.rlen)) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    for (k = 0; k < c.nj; k++)
        c.jv[k] = (double)k;
    switch (agg) {
    case MMDX_AGG_3D_MERGED:
        d_zero(&c);
        d_acc_dirs(&c, 0, 13, 0, t->nz);
        d_feat(&c);
        break;
    case MMDX_AGG_3D_AVERAGED:
        for (d = 0; d < 13; d++) {
            d_zero(&c);
            d_acc(&c, d, 0, t->nz);
            d_feat(&c);
        }
        break;
    case MMDX_AGG_2D_AVERAGED:
        for (z = 0; z < t->nz; z++)
            for (d = 0; d < 4; d++) {
                d_zero(&c);
                d_acc(&c, d, z, z + 1);
                d_feat(&c);
            }
        break;
    case MMDX_AGG_2D_SLICE_MERGED:
        for (z = 0; z < t->nz; z++) {
            d_zero(&c);
            d_acc_dirs(&c, 0, 4, z, z + 1);
            d_feat(&c);
        }
        break;
    case MMDX_AGG_25D_DIR_MERGED:
        for (d = 0; d < 4; d++) {
            d_zero(&c);
            for (z = 0; z < t->nz; z++)
                d_acc(&c, d, z, z + 1);
            d_feat(&c);
        }
        break;
    default: /* MMDX_AGG_25D_MERGED */
        d_zero(&c);
        if (fam == D_GLCM) /* in-plane pairs: the same as slice by slice */
            d_acc_dirs(&c, 0, 4, 0, t->nz);
        else
            for (d = 0; d < 4; d++)
                for (z = 0; z < t->nz; z++)
                    d_acc(&c, d, z, z + 1);
        d_feat(&c);
        break;
    }
    for (k = 0; k < c.nfeat; k++) {
        snprintf(name, sizeof(name), "image.%s.%s", fname, names[k]);
        put(e, name, c.cnt[k] ? c.sum[k] / (double)c.cnt[k] : NAN);
    }
out:
    mmdx__free(c.m);
    mmdx__free(c.scratch);
    mmdx__free(c.jv);
    mmdx__free(c.sum);
    mmdx__free(c.tmp);
    mmdx__free(c.cnt);
    mmdx__free(c.pairs);
    mmdx__free(c.rlev);
    mmdx__free(c.rlen);
    return st;
}

/* ---- zone families: GLSZM, NGTDM, NGLDM ---------------------------------------------- */

/* Neighbour offsets at Chebyshev distance 1: 26 in 3D, 8 in-plane. */
static int neighbours(bool in3d, int off[26][3])
{
    int n = 0, dx, dy, dz;

    for (dz = in3d ? -1 : 0; dz <= (in3d ? 1 : 0); dz++)
        for (dy = -1; dy <= 1; dy++)
            for (dx = -1; dx <= 1; dx++)
                if (dx || dy || dz) {
                    off[n][0] = dx;
                    off[n][1] = dy;
                    off[n][2] = dz;
                    n++;
                }
    return n;
}

struct zone {
    int level;
    size_t size;
    uint32_t dist;       /* GLDZM: smallest distance to the ROI edge */
};

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

struct zacc {
    /* GLSZM */
    struct zone *zones;
    size_t nzones, capz;
    /* NGTDM */
    double *ngt_n, *ngt_s;
    /* NGLDM: ng x 28 */
    double *ngl;
    double nv;           /* ROI voxels */
    uint32_t *dist;      /* GLDZM distance map, or NULL */
    /* zones as connected runs (zone_runs) */
    struct zrun *run;
    size_t caprun;
    size_t *rowrun;      /* first run of each row, and the end */
    size_t caprow;
};

/*
 * Distance of every ROI voxel to the ROI edge (IBSI 3.8): the number of
 * steps to leave the ROI, 6-connected in 3D, 4-connected in-plane in 2D;
 * voxels outside the ROI (and beyond the image) count as outside, so an
 * edge voxel is at 1. Every shortest such path runs straight towards the
 * nearest outside voxel, so this is the city-block distance to the
 * nearest outside voxel, which two raster passes give exactly (each
 * voxel takes 1 + the smallest of its already visited face neighbours:
 * x-1, y-1, z-1 forwards, x+1, y+1, z+1 backwards). Memory is read in
 * order; a breadth-first search from the edge jumped a slice away.
 */
static void distance_map(const struct tex *t, bool in3d, uint32_t *dist)
{
    size_t nx = t->nx, ny = t->ny, nz = t->nz, plane = nx * ny;
    size_t v = 0, x, y, z;

    for (z = 0; z < nz; z++)
        for (y = 0; y < ny; y++)
            for (x = 0; x < nx; x++, v++) {
                uint32_t m;

                if (!t->q[v]) {
                    dist[v] = 0;
                    continue;
                }
                m = x ? dist[v - 1] : 0;
                if (!y)
                    m = 0;
                else if (dist[v - nx] < m)
                    m = dist[v - nx];
                if (in3d) {
                    if (!z)
                        m = 0;
                    else if (dist[v - plane] < m)
                        m = dist[v - plane];
                }
                dist[v] = m + 1;
            }
    for (z = nz; z-- > 0;)
        for (y = ny; y-- > 0;)
            for (x = nx; x-- > 0;) {
                uint32_t m;

                v = x + nx * (y + ny * z);
                if (!t->q[v])
                    continue;
                m = x + 1 < nx ? dist[v + 1] : 0;
                if (y + 1 >= ny)
                    m = 0;
                else if (dist[v + nx] < m)
                    m = dist[v + nx];
                if (in3d) {
                    if (z + 1 >= nz)
                        m = 0;
                    else if (dist[v + plane] < m)
                        m = dist[v + plane];
                }
                if (m + 1 < dist[v])
                    dist[v] = m + 1;
            }
}

/* Accumulate zones, NGTDM and NGLDM counts of slices [z0, z1) with the
 * 2D (in3d false) or 3D neighbourhood. */
/* A run of one level along x: [x0, x1) of its row; up: the union-find
 * parent (the run itself at a root); size and dist: the zone's voxel
 * count and smallest edge distance, gathered at its root. */
struct zrun {
    size_t up, size;
    uint32_t x0, x1, lv, dist;   /* 32 bytes a run */
};

static size_t zr_find(struct zrun *r, size_t i)
{
    while (r[i].up != i) {
        r[i].up = r[r[i].up].up;   /* path halving */
        i = r[i].up;
    }
    return i;
}

/* The smaller index stays the root: a zone's root is its first run in
 * raster order, where a flood fill from the first voxel would start. */
static void zr_union(struct zrun *r, size_t i, size_t j)
{
    i = zr_find(r, i);
    j = zr_find(r, j);
    if (i < j)
        r[j].up = i;
    else if (j < i)
        r[i].up = j;
}

/* Join the runs of rows a and b (run index ranges, each sorted by x)
 * that touch - x ranges overlapping once widened by one voxel (diagonal
 * neighbours: [a0, a1) and [b0, b1) touch when a0 <= b1 and b0 <= a1) -
 * and have the same level. Runs of b ending before a run of a starts
 * touch no later run of a either. */
static void zr_join(struct zrun *r, size_t ab, size_t ae, size_t bb,
                    size_t be)
{
    for (; ab < ae; ab++) {
        size_t j;

        while (bb < be && r[bb].x1 < r[ab].x0)
            bb++;
        for (j = bb; j < be && r[j].x0 <= r[ab].x1; j++)
            if (r[j].lv == r[ab].lv)
                zr_union(r, ab, j);
    }
}

/*
 * GLSZM/GLDZM zones of z in [z0, z1) (26-connected in 3D, 8-connected
 * in-plane otherwise), appended to a->zones in the order a flood fill
 * from each zone's first voxel (raster order) would find them: the rows
 * become runs of one level, runs of adjacent rows (the row above; in 3D
 * also the three rows of the slice before) that touch and share a level
 * are joined (union-find), and each zone is counted at its root. Each
 * voxel is read once, not once per neighbour.
 */
static enum mmdx_status zone_runs(const struct tex *t, struct zacc *a,
                                  size_t z0, size_t z1, bool in3d)
{
    size_t ny = t->ny, nrows = ny * (z1 - z0), n = 0, r, i, y, z;

    if (nrows + 1 > a->caprow) {
        size_t *nr = mmdx__realloc(a->rowrun, (nrows + 1) * sizeof(*nr));

        if (!nr)
            return MMDX_E_NOMEM;
        a->rowrun = nr;
        a->caprow = nrows + 1;
    }
    for (z = z0; z < z1; z++)
        for (y = 0; y < ny; y++) {
            size_t row = y + ny * z, x = 0, e = t->nx;
            const uint16_t *q = t->q + t->nx * row;

            if (t->span) {
                x = t->span[2 * row];
                e = t->span[2 * row + 1];
            }
            a->rowrun[y + ny * (z - z0)] = n;
            while (x < e) {
                unsigned lv = q[x];
                size_t x0 = x;

                if (!lv) {
                    x++;
                    continue;
                }
                while (x < e && q[x] == lv)
                    x++;
                if (n == a->caprun) {
                    size_t nc = a->caprun ? 2 * a->caprun : 4096;
                    struct zrun *nr = mmdx__realloc(a->run,
                                                    nc * sizeof(*nr));

                    if (!nr)
                        return MMDX_E_NOMEM;
                    a->run = nr;
                    a->caprun = nc;
                }
                a->run[n].x0 = (uint32_t)x0;
                a->run[n].x1 = (uint32_t)x;
                a->run[n].lv = lv;
                a->run[n].up = n;
                a->run[n].size = 0;
                a->run[n].dist = UINT32_MAX;
                n++;
            }
        }
    a->rowrun[nrows] = n;
    for (z = z0; z < z1; z++)
        for (y = 0; y < ny; y++) {
            size_t rr = y + ny * (z - z0);
            size_t b0 = a->rowrun[rr], b1 = a->rowrun[rr + 1];

            if (y > 0)
                zr_join(a->run, b0, b1, a->rowrun[rr - 1], a->rowrun[rr]);
            if (in3d && z > z0) {
                size_t p = rr - ny;   /* same y, slice before */

                if (y > 0)
                    zr_join(a->run, b0, b1, a->rowrun[p - 1],
                            a->rowrun[p]);
                zr_join(a->run, b0, b1, a->rowrun[p], a->rowrun[p + 1]);
                if (y + 1 < ny)
                    zr_join(a->run, b0, b1, a->rowrun[p + 1],
                            a->rowrun[p + 2]);
            }
        }
    /* sizes and distances at the roots */
    for (r = 0; r < nrows; r++) {
        size_t row = (r % ny) + ny * (z0 + r / ny);

        for (i = a->rowrun[r]; i < a->rowrun[r + 1]; i++) {
            struct zrun *root = &a->run[zr_find(a->run, i)];

            root->size += a->run[i].x1 - a->run[i].x0;
            if (a->dist) {
                const uint32_t *d = a->dist + t->nx * row;
                uint32_t x;

                for (x = a->run[i].x0; x < a->run[i].x1; x++)
                    if (d[x] < root->dist)
                        root->dist = d[x];
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (a->run[i].up != i)
            continue;
        if (a->nzones == a->capz) {
            size_t nc = a->capz ? 2 * a->capz : 256;
            struct zone *nzs = mmdx__realloc(a->zones, nc * sizeof(*nzs));

            if (!nzs)
                return MMDX_E_NOMEM;
            a->zones = nzs;
            a->capz = nc;
        }
        a->zones[a->nzones].level = (int)a->run[i].lv;
        a->zones[a->nzones].size = a->run[i].size;
        a->zones[a->nzones].dist = a->run[i].dist;
        a->nzones++;
    }
    return MMDX_OK;
}

static enum mmdx_status zone_acc(const struct tex *t, struct zacc *a,
                                 size_t z0, size_t z1, bool in3d,
                                 unsigned fams)
{
    int off[26][3], nn = neighbours(in3d, off), k;
    long lin[26];
    size_t x, y, z;
    long nx = (long)t->nx, ny = (long)t->ny;

    /* the neighbours as index steps: a voxel away from every edge of the
     * range (inner) needs no bounds test per neighbour */
    for (k = 0; k < nn; k++)
        lin[k] = off[k][0] + nx * (off[k][1] + ny * (long)off[k][2]);
    for (z = z0; z < z1; z++)
        for (y = 0; y < t->ny; y++)
            for (x = 0; x < t->nx; x++) {
                size_t v = x + t->nx * (y + t->ny * z);
                int lv = t->q[v], cnt = 0, same = 0;
                double sum = 0;
                bool inner = x > 0 && (long)x + 1 < nx && y > 0 &&
                             (long)y + 1 < ny &&
                             (!in3d || (z > z0 && z + 1 < z1));

                if (!lv)
                    continue;
                a->nv += 1;
                for (k = 0; k < nn; k++) {
                    int b;

                    if (inner) {
                        b = t->q[(size_t)((long)v + lin[k])];
                    } else {
                        long xx = (long)x + off[k][0],
                             yy = (long)y + off[k][1],
                             zz = (long)z + off[k][2];

                        if (xx < 0 || xx >= nx || yy < 0 || yy >= ny ||
                            zz < (long)z0 || zz >= (long)z1)
                            continue;
                        b = t->q[(size_t)xx + t->nx * ((size_t)yy +
                                                       t->ny * (size_t)zz)];
                    }
                    if (!b)
                        continue;
                    cnt++;
                    sum += b;
                    same += b == lv;
                }
                if ((fams & MMDX_FAM_NGTDM) && cnt) {
                    a->ngt_n[lv - 1] += 1;
                    a->ngt_s[lv - 1] += fabs(lv - sum / cnt);
                }
                if (fams & MMDX_FAM_NGLDM)
                    a->ngl[(size_t)(lv - 1) * 28 + (size_t)(same + 1)] += 1;
            }
    if (fams & (MMDX_FAM_GLSZM | MMDX_FAM_GLDZM))
        return zone_runs(t, a, z0, z1, in3d);
    return MMDX_OK;
}

static void zacc_reset(struct zacc *a, const struct tex *t)
{
    size_t ng = (size_t)t->ng;

    a->nzones = 0;
    a->nv = 0;
    memset(a->ngt_n, 0, ng * sizeof(double));
    memset(a->ngt_s, 0, ng * sizeof(double));
    memset(a->ngl, 0, ng * 28 * sizeof(double));
}

static const char *const gldzm_names[RL_N] = {
    "sde", "lde", "lgze", "hgze", "sdlge", "sdhge", "ldlge", "ldhge",
    "glnu", "glnu_norm", "zdnu", "zdnu_norm", "zone_percentage",
    "gl_variance", "zd_variance", "zd_entropy", NULL
};

#define NGT_N 5
static const char *const ngtdm_names[NGT_N] = {
    "coarseness", "contrast", "busyness", "complexity", "strength"
};

static bool ngtdm_feats(const struct zacc *a, size_t ng, double *f)
{
    double nv = 0, ssum = 0, ps = 0, num, den;
    size_t i, j, ngp = 0;

    for (i = 0; i < ng; i++) {
        nv += a->ngt_n[i];
        ssum += a->ngt_s[i];
        ngp += a->ngt_n[i] > 0;
    }
    if (nv <= 0)
        return false;
    for (i = 0; i < ng; i++)
        ps += a->ngt_n[i] / nv * a->ngt_s[i];
    f[0] = ps > 0 ? 1 / ps : 1e6;
    num = 0;
    den = 0;
    f[3] = 0;
    f[4] = 0;
    for (i = 0; i < ng; i++)
        for (j = 0; j < ng; j++) {
            double pi = a->ngt_n[i] / nv, pj = a->ngt_n[j] / nv;
            double d = (double)i - (double)j;

            if (pi == 0 || pj == 0)
                continue;
            num += pi * pj * d * d;
            den += fabs((double)(i + 1) * pi - (double)(j + 1) * pj);
            f[3] += fabs(d) * (pi * a->ngt_s[i] + pj * a->ngt_s[j]) /
                    (pi + pj);
            f[4] += (pi + pj) * d * d;
        }
    f[1] = ngp > 1 ? num / ((double)ngp * (double)(ngp - 1)) * ssum / nv
                   : 0;
    f[2] = den > 0 ? ps / den : 0;
    f[3] /= nv;
    f[4] = ssum > 0 ? f[4] / ssum : 0;
    return true;
}

/* Features of one zone accumulation into out (GLSZM 16, NGTDM 5, NGLDM
 * 17, in that order); ok[] says which families produced values. */
#define ZF_N (RL_N - 1 + NGT_N + RL_N + RL_N - 1)
#define ZF_DZM (RL_N - 1 + NGT_N + RL_N)   /* offset of GLDZM */

static int zf_family(size_t k)
{
    return k < RL_N - 1 ? 0 : k < RL_N - 1 + NGT_N ? 1 : k < ZF_DZM ? 2 : 3;
}

static enum mmdx_status zone_feats(const struct tex *t, struct zacc *a,
                                   unsigned fams, double *out, bool *ok)
{
    size_t ng = (size_t)t->ng, i, nu = 0;
    double *m = NULL, *jv = NULL, *scratch = NULL, j28[28];
    size_t *sizes = NULL;
    enum mmdx_status st = MMDX_OK;

    ok[0] = ok[1] = ok[2] = ok[3] = false;
    if ((fams & MMDX_FAM_GLDZM) && a->nzones && a->dist) {
        size_t maxd = 0, nj;
        double *dm, *djv, *dsc;

        for (i = 0; i < a->nzones; i++)
            if (a->zones[i].dist > maxd)
                maxd = a->zones[i].dist;
        nj = maxd + 1;
        dm = mmdx__calloc(ng * nj, sizeof(double));
        djv = mmdx__malloc(nj * sizeof(double));
        dsc = mmdx__calloc(ng + nj, sizeof(double));
        if (!dm || !djv || !dsc) {
            mmdx__free(dm);
            mmdx__free(djv);
            mmdx__free(dsc);
            return MMDX_E_NOMEM;
        }
        for (i = 0; i < nj; i++)
            djv[i] = (double)i;
        for (i = 0; i < a->nzones; i++)
            dm[(size_t)(a->zones[i].level - 1) * nj + a->zones[i].dist] += 1;
        ok[3] = rl_feats(dm, ng, nj, djv, a->nv, out + ZF_DZM, dsc);
        mmdx__free(dm);
        mmdx__free(djv);
        mmdx__free(dsc);
    }
    if ((fams & MMDX_FAM_GLSZM) && a->nzones) {
        sizes = mmdx__malloc(a->nzones * sizeof(*sizes));
        if (!sizes)
            return MMDX_E_NOMEM;
        for (i = 0; i < a->nzones; i++)
            sizes[i] = a->zones[i].size;
        qsort(sizes, a->nzones, sizeof(*sizes), cmp_size);
        for (i = 0; i < a->nzones; i++)
            if (!i || sizes[i] != sizes[nu - 1])
                sizes[nu++] = sizes[i];
        m = mmdx__calloc(ng * nu, sizeof(double));
        jv = mmdx__malloc(nu * sizeof(double));
        scratch = mmdx__calloc(ng + nu + 28, sizeof(double));
        if (!m || !jv || !scratch) {
            st = MMDX_E_NOMEM;
            goto out;
        }
        for (i = 0; i < nu; i++)
            jv[i] = (double)sizes[i];
        for (i = 0; i < a->nzones; i++) {
            size_t lo = 0, hi = nu - 1;

            while (lo < hi) { /* the size's column: binary search */
                size_t mid = (lo + hi) / 2;

                if (sizes[mid] < a->zones[i].size)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            m[(size_t)(a->zones[i].level - 1) * nu + lo] += 1;
        }
        ok[0] = rl_feats(m, ng, nu, jv, a->nv, out, scratch);
    }
    if (fams & MMDX_FAM_NGTDM)
        ok[1] = ngtdm_feats(a, ng, out + RL_N - 1);
    if (fams & MMDX_FAM_NGLDM) {
        if (!scratch) {
            scratch = mmdx__calloc(ng + 28, sizeof(double));
            if (!scratch) {
                st = MMDX_E_NOMEM;
                goto out;
            }
        }
        for (i = 0; i < 28; i++)
            j28[i] = (double)i;
        ok[2] = rl_feats(a->ngl, ng, 28, j28, a->nv, out + RL_N - 1 + NGT_N,
                         scratch);
    }
out:
    mmdx__free(sizes);
    mmdx__free(m);
    mmdx__free(jv);
    mmdx__free(scratch);
    return st;
}

static enum mmdx_status zone_families(struct emit *e, const struct tex *t,
                                      int agg, unsigned fams)
{
    struct zacc a;
    size_t ng = (size_t)t->ng, nvox = t->nx * t->ny * t->nz, k, z;
    double f[ZF_N + 1], sum[ZF_N]; /* rl_feats writes RL_N values: the
                                      last family needs one spare */
    size_t cnt[ZF_N];
    bool ok[4];
    int mode = agg <= MMDX_AGG_3D_AVERAGED ? 3
               : agg <= MMDX_AGG_2D_SLICE_MERGED ? 2 : 25;
    enum mmdx_status st = MMDX_OK;
    char name[96];

    memset(&a, 0, sizeof(a));
    memset(sum, 0, sizeof(sum));
    memset(cnt, 0, sizeof(cnt));
    a.ngt_n = mmdx__calloc(ng, sizeof(double));
    a.ngt_s = mmdx__calloc(ng, sizeof(double));
    a.ngl = mmdx__calloc(ng * 28, sizeof(double));
    if (fams & MMDX_FAM_GLDZM)
        a.dist = mmdx__malloc(nvox * sizeof(uint32_t));
    if (!a.ngt_n || !a.ngt_s || !a.ngl ||
        ((fams & MMDX_FAM_GLDZM) && !a.dist)) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    if (a.dist)
        distance_map(t, mode == 3, a.dist);
    zacc_reset(&a, t);
    if (mode == 3) {
        st = zone_acc(t, &a, 0, t->nz, true, fams);
    } else {
        for (z = 0; z < t->nz && !st; z++) {
            if (mode == 2)
                zacc_reset(&a, t);
            st = zone_acc(t, &a, z, z + 1, false, fams);
            if (st || mode != 2)
                continue;
            st = zone_feats(t, &a, fams, f, ok);
            for (k = 0; k < ZF_N && !st; k++) {
                int fam = zf_family(k);

                if (ok[fam] && isfinite(f[k])) {
                    sum[k] += f[k];
                    cnt[k]++;
                }
            }
        }
    }
    if (st)
        goto out;
    if (mode != 2) {
        st = zone_feats(t, &a, fams, f, ok);
        if (st)
            goto out;
        for (k = 0; k < ZF_N; k++) {
            int fam = zf_family(k);

            if (ok[fam] && isfinite(f[k])) {
                sum[k] = f[k];
                cnt[k] = 1;
            }
        }
    }
    for (k = 0; k < ZF_N; k++) {
        double v = cnt[k] ? sum[k] / (double)cnt[k] : NAN;

        if (k < RL_N - 1) {
            if (!(fams & MMDX_FAM_GLSZM))
                continue;
            snprintf(name, sizeof(name), "image.glszm.%s", glszm_names[k]);
        } else if (k < RL_N - 1 + NGT_N) {
            if (!(fams & MMDX_FAM_NGTDM))
                continue;
            snprintf(name, sizeof(name), "image.ngtdm.%s",
                     ngtdm_names[k - (RL_N - 1)]);
        } else if (k < ZF_DZM) {
            if (!(fams & MMDX_FAM_NGLDM))
                continue;
            snprintf(name, sizeof(name), "image.ngldm.%s",
                     ngldm_names[k - (RL_N - 1 + NGT_N)]);
        } else {
            if (!(fams & MMDX_FAM_GLDZM))
                continue;
            snprintf(name, sizeof(name), "image.gldzm.%s",
                     gldzm_names[k - ZF_DZM]);
        }
        put(e, name, v);
    }
out:
    mmdx__free(a.zones);
    mmdx__free(a.ngt_n);
    mmdx__free(a.ngt_s);
    mmdx__free(a.ngl);
    mmdx__free(a.dist);
    mmdx__free(a.run);
    mmdx__free(a.rowrun);
    return st;
}

/* ---- morphology (voxel-based part of IBSI 3.1) ---------------------------------------- */

/* Eigenvalues of a symmetric 3x3 matrix, descending (trigonometric form). */
static void eig3(const double a[6], double ev[3])
{
    /* a = xx, yy, zz, xy, xz, yz */
    double p1 = a[3] * a[3] + a[4] * a[4] + a[5] * a[5];
    double q = (a[0] + a[1] + a[2]) / 3, p2, p, b[6], r, phi, detb;

    if (p1 == 0) {
        ev[0] = a[0];
        ev[1] = a[1];
        ev[2] = a[2];
    } else {
        p2 = (a[0] - q) * (a[0] - q) + (a[1] - q) * (a[1] - q) +
             (a[2] - q) * (a[2] - q) + 2 * p1;
        p = sqrt(p2 / 6);
        b[0] = (a[0] - q) / p;
        b[1] = (a[1] - q) / p;
        b[2] = (a[2] - q) / p;
        b[3] = a[3] / p;
        b[4] = a[4] / p;
        b[5] = a[5] / p;
        detb = b[0] * (b[1] * b[2] - b[5] * b[5]) -
               b[3] * (b[3] * b[2] - b[5] * b[4]) +
               b[4] * (b[3] * b[5] - b[1] * b[4]);
        r = detb / 2;
        phi = r <= -1 ? M_PI / 3 : r >= 1 ? 0 : acos(r) / 3;
        ev[0] = q + 2 * p * cos(phi);
        ev[2] = q + 2 * p * cos(phi + 2 * M_PI / 3);
        ev[1] = 3 * q - ev[0] - ev[2];
    }
    /* sort descending */
    if (ev[0] < ev[1]) { double s = ev[0]; ev[0] = ev[1]; ev[1] = s; }
    if (ev[1] < ev[2]) { double s = ev[1]; ev[1] = ev[2]; ev[2] = s; }
    if (ev[0] < ev[1]) { double s = ev[0]; ev[0] = ev[1]; ev[1] = s; }
}

/* ---- mesh-based morphology (IBSI 3.1.1 - 3.1.10, 3.1.17 - 3.1.20) --------------------
 *
 * The ROI surface is a marching-cubes mesh whose cases are derived here at
 * run time rather than read from a case table: the lattice of voxel
 * centres (padded by one outside voxel on each side) is cut into cubes;
 * in each cube the iso-surface (iso-level 0.5 of the 0/1 mask, so every
 * vertex is the midpoint of a cube edge joining an inside and an outside
 * corner) meets each cube face in one or two segments.  Every segment is
 * oriented so that, seen from outside the cube, the inside corners lie to
 * its left; the segments then chain into closed loops (each crossing point
 * lies on two faces: one segment arrives there, one leaves), and each loop
 * is one polygon of the surface.  A polygon with more than three vertices
 * is usually not planar; it is fan-triangulated from the vertex whose fan
 * encloses the most volume (with the first vertex instead, the phantom's
 * volume is 553 mm3 and compactness 2 / asphericity leave IBSI's
 * tolerance; with this rule all mesh features match).
 * A face with two diagonal inside corners (the ambiguous face) is cut so
 * that the inside corners are separated.  The orientation makes every
 * triangle's normal point out of the ROI, so the signed tetrahedron sum
 * (origin, triangle) is the enclosed volume.  docs/image-features.md says
 * how this compares with IBSI's reference values. */

struct mesh {
    double vol, area;
    double lo[3], hi[3];      /* bounding box of the vertices */
};

#define MESH_MAX_VERTS 20000  /* the maximum diameter is O(V^2) */

static void mesh_vertex(struct mesh *m, const double p[3])
{
    int k;

    for (k = 0; k < 3; k++) {
        if (p[k] < m->lo[k])
            m->lo[k] = p[k];
        if (p[k] > m->hi[k])
            m->hi[k] = p[k];
    }
}

/* one triangle, already oriented (normal out of the ROI) */
static void mesh_tri(struct mesh *m, const double a[3], const double b[3],
                     const double c[3])
{
    double u[3] = { b[0] - a[0], b[1] - a[1], b[2] - a[2] };
    double w[3] = { c[0] - a[0], c[1] - a[1], c[2] - a[2] };
    double nrm[3] = { u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                      u[0] * w[1] - u[1] * w[0] };
    double det = a[0] * (b[1] * c[2] - b[2] * c[1]) -
                 a[1] * (b[0] * c[2] - b[2] * c[0]) +
                 a[2] * (b[0] * c[1] - b[1] * c[0]);

    m->area += 0.5 * sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]);
    m->vol += det / 6;
    mesh_vertex(m, a);
    mesh_vertex(m, b);
    mesh_vertex(m, c);
}

static int roi_at(const struct mmdx_image *img, const uint8_t *roi, long x,
                  long y, long z)
{
    if (x < 0 || y < 0 || z < 0 || x >= (long)img->nx || y >= (long)img->ny ||
        z >= (long)img->nz)
        return 0;
    return roi[(size_t)x + img->nx * ((size_t)y + img->ny * (size_t)z)] != 0;
}

/* cube corner k is at offset (k & 1, k >> 1 & 1, k >> 2 & 1); a cube edge
 * is named by its two corners i < j as i * 8 + j */
static int edge_id(int i, int j)
{
    return i < j ? i * 8 + j : j * 8 + i;
}

/* Add segment p -> q (edge ids) on a face with outward normal `nrm`,
 * oriented so that corner `ref` is on its left (ref_in) or right. */
static void face_seg(int *next, double pt[64][3], int p, int q,
                     const double nrm[3], const double cref[3], int ref_in)
{
    double d[3] = { pt[q][0] - pt[p][0], pt[q][1] - pt[p][1],
                    pt[q][2] - pt[p][2] };
    double c[3] = { d[1] * nrm[2] - d[2] * nrm[1], d[2] * nrm[0] - d[0] * nrm[2],
                    d[0] * nrm[1] - d[1] * nrm[0] };
    double r[3] = { cref[0] - (pt[p][0] + pt[q][0]) / 2,
                    cref[1] - (pt[p][1] + pt[q][1]) / 2,
                    cref[2] - (pt[p][2] + pt[q][2]) / 2 };
    double dot = c[0] * r[0] + c[1] * r[1] + c[2] * r[2];

    if ((dot > 0) == (ref_in != 0))
        next[p] = q;
    else
        next[q] = p;
}

static void mesh_cube(struct mesh *m, const int in[8], double P[8][3])
{
    int next[64], f, k, i;
    double pt[64][3];

    for (k = 0; k < 64; k++)
        next[k] = -1;
    for (f = 0; f < 6; f++) {
        int ax = f / 2, side = f % 2, b = (ax + 1) % 3, c = (ax + 2) % 3;
        int cc[4], ncross = 0, ce[4];
        double nrm[3] = { 0, 0, 0 };

        nrm[ax] = side ? 1 : -1;
        /* the face's corners in cyclic order */
        cc[0] = side << ax;
        cc[1] = cc[0] | 1 << b;
        cc[2] = cc[0] | 1 << b | 1 << c;
        cc[3] = cc[0] | 1 << c;
        for (k = 0; k < 4; k++) {
            int u = cc[k], w = cc[(k + 1) % 4];

            ce[k] = -1;
            if (in[u] != in[w]) {
                int e = edge_id(u, w);

                for (i = 0; i < 3; i++)
                    pt[e][i] = (P[u][i] + P[w][i]) / 2;
                ce[k] = e;
                ncross++;
            }
        }
        if (ncross == 2) {
            int p = -1, q = -1, ref = 0;

            for (k = 0; k < 4; k++) {
                if (ce[k] >= 0) {
                    if (p < 0)
                        p = ce[k];
                    else
                        q = ce[k];
                }
                if (in[cc[k]])
                    ref = cc[k];
            }
            face_seg(next, pt, p, q, nrm, P[ref], 1);
        } else if (ncross == 4) {
            /* ambiguous face: cut off each inside corner on its own */
            for (k = 0; k < 4; k++)
                if (in[cc[k]])
                    face_seg(next, pt, ce[(k + 3) % 4], ce[k], nrm, P[cc[k]],
                             1);
        }
    }
    /* chain the segments into loops and fan-triangulate each */
    for (k = 0; k < 64; k++) {
        int loop[12], nl = 0, e = k;

        if (next[k] < 0)
            continue;
        while (e >= 0 && next[e] >= 0 && nl < 12) {
            int nx = next[e];

            loop[nl++] = e;
            next[e] = -1;
            e = nx;
        }
        {
            /* of the fans from each loop vertex take the one enclosing the
             * most volume (the outward-bulging triangulation) */
            int s0 = 0, st;
            double bestv = -INFINITY;

            for (st = 0; st < nl && nl > 3; st++) {
                struct mesh t;

                memset(&t, 0, sizeof(t));
                for (i = 1; i + 1 < nl; i++)
                    mesh_tri(&t, pt[loop[st]], pt[loop[(st + i) % nl]],
                             pt[loop[(st + i + 1) % nl]]);
                if (t.vol > bestv + 1e-12) {
                    bestv = t.vol;
                    s0 = st;
                }
            }
            for (i = 1; i + 1 < nl; i++)
                mesh_tri(m, pt[loop[s0]], pt[loop[(s0 + i) % nl]],
                         pt[loop[(s0 + i + 1) % nl]]);
        }
    }
}

static void mesh_build(struct mesh *m, const struct mmdx_image *img,
                       const uint8_t *roi, const double sp[3])
{
    long x, y, z;
    int k;

    for (k = 0; k < 3; k++) {
        m->lo[k] = INFINITY;
        m->hi[k] = -INFINITY;
    }
    for (z = -1; z < (long)img->nz; z++)
        for (y = -1; y < (long)img->ny; y++)
            for (x = -1; x < (long)img->nx; x++) {
                int corner[8], any = 0, all = 1;
                double P[8][3];

                for (k = 0; k < 8; k++) {
                    long cx = x + (k & 1), cy = y + (k >> 1 & 1),
                         cz = z + (k >> 2 & 1);

                    corner[k] = roi_at(img, roi, cx, cy, cz);
                    any |= corner[k];
                    all &= corner[k];
                    P[k][0] = (double)cx * sp[0];
                    P[k][1] = (double)cy * sp[1];
                    P[k][2] = (double)cz * sp[2];
                }
                if (any && !all)
                    mesh_cube(m, corner, P);
            }
}

/* Maximum 3D diameter: the largest distance between two mesh vertices,
 * i.e. between midpoints of axis-parallel lattice edges joining an inside
 * voxel to an outside one.  NaN (not computed) above MESH_MAX_VERTS
 * vertices. */
static enum mmdx_status mesh_diameter(const struct mmdx_image *img,
                                      const uint8_t *roi, const double sp[3],
                                      double *out)
{
    static const int kd[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
    double *v = NULL, best = 0;
    size_t n = 0, cap = 0, i, j;
    long x, y, z;
    int d, sgn;

    *out = NAN;
    for (z = 0; z < (long)img->nz; z++)
        for (y = 0; y < (long)img->ny; y++)
            for (x = 0; x < (long)img->nx; x++) {
                if (!roi_at(img, roi, x, y, z))
                    continue;
                for (d = 0; d < 3; d++)
                    for (sgn = -1; sgn <= 1; sgn += 2) {
                        long a = x + sgn * kd[d][0], b = y + sgn * kd[d][1],
                             c = z + sgn * kd[d][2];

                        if (roi_at(img, roi, a, b, c))
                            continue;
                        if (n == cap) {
                            double *nv;

                            if (cap >= MESH_MAX_VERTS) {
                                mmdx__free(v);
                                return MMDX_OK;
                            }
                            cap = cap ? 2 * cap : 256;
                            nv = mmdx__realloc(v, cap * 3 * sizeof(double));
                            if (!nv) {
                                mmdx__free(v);
                                return MMDX_E_NOMEM;
                            }
                            v = nv;
                        }
                        v[3 * n] = (double)(x + a) / 2 * sp[0];
                        v[3 * n + 1] = (double)(y + b) / 2 * sp[1];
                        v[3 * n + 2] = (double)(z + c) / 2 * sp[2];
                        n++;
                    }
            }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) {
            double dx = v[3 * i] - v[3 * j], dy = v[3 * i + 1] - v[3 * j + 1],
                   dz = v[3 * i + 2] - v[3 * j + 2],
                   dd = dx * dx + dy * dy + dz * dz;

            if (dd > best)
                best = dd;
        }
    mmdx__free(v);
    *out = n ? sqrt(best) : NAN;
    return MMDX_OK;
}

/* Surface area of an ellipsoid with semi-axes a >= b >= c: the Legendre
 * series IBSI 1 gives for the approximate enclosing ellipsoid (20 terms). */
static double ellipsoid_area(double a, double b, double c)
{
    double al, be, x, sum = 0, pprev = 1, pcur, ab, pw = 1;
    int nu;

    if (!(a > 0) || !(b > 0) || !(c > 0))
        return NAN;
    al = sqrt(1 - b * b / (a * a));
    be = sqrt(1 - c * c / (a * a));
    ab = al * be;
    if (ab == 0)
        return NAN;  /* spheroid cases: the series' argument is undefined */
    x = (al * al + be * be) / (2 * ab);
    pcur = x;
    for (nu = 0; nu <= 20; nu++) {
        double p = nu == 0 ? 1 : nu == 1 ? x : pcur;

        sum += pw / (1 - 4.0 * nu * nu) * p;
        pw *= ab;
        if (nu >= 1) {
            /* P_{nu+1} = ((2nu+1) x P_nu - nu P_{nu-1}) / (nu+1) */
            double pn = ((2.0 * nu + 1) * x * pcur - nu * pprev) / (nu + 1);

            pprev = pcur;
            pcur = pn;
        }
    }
    return 4 * M_PI * a * b * sum;
}

/* IBSI 3.1.17-18 convex-hull densities (hull in image_hull.c); NaN when
 * the hull has no volume or the grid is too large for exact coordinates.
 * Returns true after out-of-memory (e->st set). */
static bool hull_densities(struct emit *e, const struct mmdx_image *img,
                           const uint8_t *roi, const double sp[3], double V,
                           double A)
{
    struct mmdx_hull h;
    enum mmdx_status hs = mmdx__roi_hull(img, roi, sp, &h);

    if (hs == MMDX_E_NOMEM) {
        e->st = MMDX_E_NOMEM;
        return true;
    }
    put(e, "image.morph.vol_dens_hull",
        !hs && h.volume > 0 ? V / h.volume : NAN);
    put(e, "image.morph.area_dens_hull", !hs && h.area > 0 ? A / h.area : NAN);
    return false;
}

static void morphology(struct emit *e, const struct mmdx_image *img,
                       const uint8_t *roi, size_t n, const double sp[3],
                       long max_moran)
{
    size_t x, y, z, v = 0;
    double c[3] = { 0, 0, 0 }, ci[3] = { 0, 0, 0 }, wsum = 0, cov[6];
    double ev[3], d;

    memset(cov, 0, sizeof(cov));
    for (z = 0; z < img->nz; z++)
        for (y = 0; y < img->ny; y++)
            for (x = 0; x < img->nx; x++, v++) {
                double p[3] = { (double)x * sp[0], (double)y * sp[1],
                                (double)z * sp[2] };
                double w = img->vox[v];
                int k;

                if (!roi[v])
                    continue;
                for (k = 0; k < 3; k++) {
                    c[k] += p[k];
                    ci[k] += w * p[k];
                }
                wsum += w;
            }
    for (x = 0; x < 3; x++) {
        c[x] /= (double)n;
        ci[x] = wsum != 0 ? ci[x] / wsum : NAN;
    }
    v = 0;
    for (z = 0; z < img->nz; z++)
        for (y = 0; y < img->ny; y++)
            for (x = 0; x < img->nx; x++, v++) {
                double dx = (double)x * sp[0] - c[0],
                       dy = (double)y * sp[1] - c[1],
                       dz = (double)z * sp[2] - c[2];

                if (!roi[v])
                    continue;
                cov[0] += dx * dx;
                cov[1] += dy * dy;
                cov[2] += dz * dz;
                cov[3] += dx * dy;
                cov[4] += dx * dz;
                cov[5] += dy * dz;
            }
    /* IBSI's reference values use the sample covariance (n - 1) */
    for (x = 0; x < 6; x++)
        cov[x] /= n > 1 ? (double)(n - 1) : 1.0;
    eig3(cov, ev);
    for (x = 0; x < 3; x++)
        if (ev[x] < 0)
            ev[x] = 0;
    put(e, "image.morph.voxels", (double)n);
    put(e, "image.morph.volume_approx_mm3", (double)n * sp[0] * sp[1] * sp[2]);
    d = sqrt((c[0] - ci[0]) * (c[0] - ci[0]) + (c[1] - ci[1]) * (c[1] - ci[1]) +
             (c[2] - ci[2]) * (c[2] - ci[2]));
    put(e, "image.morph.com_shift_mm", d);
    put(e, "image.morph.major_axis_mm", 4 * sqrt(ev[0]));
    put(e, "image.morph.minor_axis_mm", 4 * sqrt(ev[1]));
    put(e, "image.morph.least_axis_mm", 4 * sqrt(ev[2]));
    put(e, "image.morph.elongation", ev[0] > 0 ? sqrt(ev[1] / ev[0]) : NAN);
    put(e, "image.morph.flatness", ev[0] > 0 ? sqrt(ev[2] / ev[0]) : NAN);

    /* mesh-based features */
    {
        struct mesh m;
        double V, A, a3, aee_a = 2 * sqrt(ev[0]), aee_b = 2 * sqrt(ev[1]),
               aee_c = 2 * sqrt(ev[2]), diam, mean = 0, box;
        size_t cnt = 0;

        memset(&m, 0, sizeof(m));
        mesh_build(&m, img, roi, sp);
        V = m.vol;
        A = m.area;
        a3 = A * A * A;
        put(e, "image.morph.volume_mm3", V);
        put(e, "image.morph.area_mm2", A);
        put(e, "image.morph.av_ratio_per_mm", V > 0 ? A / V : NAN);
        put(e, "image.morph.compactness1",
            A > 0 ? V / (sqrt(M_PI) * pow(A, 1.5)) : NAN);
        put(e, "image.morph.compactness2",
            A > 0 ? 36 * M_PI * V * V / a3 : NAN);
        put(e, "image.morph.sph_disproportion",
            V > 0 ? A / cbrt(36 * M_PI * V * V) : NAN);
        put(e, "image.morph.sphericity",
            A > 0 ? cbrt(36 * M_PI * V * V) / A : NAN);
        put(e, "image.morph.asphericity",
            V > 0 ? cbrt(a3 / (36 * M_PI * V * V)) - 1 : NAN);
        if (mesh_diameter(img, roi, sp, &diam)) {
            e->st = MMDX_E_NOMEM;
            return;
        }
        put(e, "image.morph.max_diameter_mm", diam);
        box = (m.hi[0] - m.lo[0]) * (m.hi[1] - m.lo[1]) * (m.hi[2] - m.lo[2]);
        put(e, "image.morph.vol_dens_aabb", box > 0 ? V / box : NAN);
        box = 2 * ((m.hi[0] - m.lo[0]) * (m.hi[1] - m.lo[1]) +
                   (m.hi[0] - m.lo[0]) * (m.hi[2] - m.lo[2]) +
                   (m.hi[1] - m.lo[1]) * (m.hi[2] - m.lo[2]));
        put(e, "image.morph.area_dens_aabb", box > 0 ? A / box : NAN);
        box = 4 * M_PI / 3 * aee_a * aee_b * aee_c;
        put(e, "image.morph.vol_dens_aee", box > 0 ? V / box : NAN);
        box = ellipsoid_area(aee_a, aee_b, aee_c);
        put(e, "image.morph.area_dens_aee", box > 0 ? A / box : NAN);
        if (hull_densities(e, img, roi, sp, V, A))
            return;
        for (v = 0; v < img->nx * img->ny * img->nz; v++)
            if (roi[v] && isfinite(img->vox[v])) {
                mean += img->vox[v];
                cnt++;
            }
        put(e, "image.morph.integrated_intensity",
            cnt ? V * mean / (double)cnt : NAN);
    }

    /* Moran's I and Geary's C: inverse-distance weights over all pairs */
    if ((long)n > max_moran || n < 2) {
        put(e, "image.morph.moran_i", NAN);
        put(e, "image.morph.geary_c", NAN);
        return;
    }
    {
        size_t *idx = mmdx__malloc(n * sizeof(size_t)), i, j, k = 0;
        double mu = 0, s2 = 0, W = 0, num_i = 0, num_c = 0;

        if (!idx) {
            e->st = MMDX_E_NOMEM;
            return;
        }
        for (v = 0; v < img->nx * img->ny * img->nz; v++)
            if (roi[v]) {
                idx[k++] = v;
                mu += img->vox[v];
            }
        mu /= (double)n;
        for (i = 0; i < n; i++)
            s2 += (img->vox[idx[i]] - mu) * (img->vox[idx[i]] - mu);
        for (i = 0; i < n; i++) {
            size_t a = idx[i];
            double ax = (double)(a % img->nx) * sp[0],
                   ay = (double)((a / img->nx) % img->ny) * sp[1],
                   az = (double)(a / (img->nx * img->ny)) * sp[2];
            double va = img->vox[a] - mu;

            for (j = i + 1; j < n; j++) {
                size_t b = idx[j];
                double bx = (double)(b % img->nx) * sp[0] - ax,
                       by = (double)((b / img->nx) % img->ny) * sp[1] - ay,
                       bz = (double)(b / (img->nx * img->ny)) * sp[2] - az;
                double w = 1 / sqrt(bx * bx + by * by + bz * bz);
                double vb = img->vox[b] - mu, dv = img->vox[a] - img->vox[b];

                W += 2 * w;
                num_i += 2 * w * va * vb;
                num_c += 2 * w * dv * dv;
            }
        }
        mmdx__free(idx);
        put(e, "image.morph.moran_i",
            s2 > 0 ? (double)n / W * num_i / s2 : NAN);
        put(e, "image.morph.geary_c",
            s2 > 0 ? (double)(n - 1) / (2 * W) * num_c / s2 : NAN);
    }
}

/* ---- intensity-volume histogram (IBSI 3.5) ---------------------------------------------
 *
 * Over the discretised levels i = lmin .. lmax (every level in between,
 * present or not): volume fraction nu_i = share of ROI voxels with level
 * >= i, intensity fraction gamma_i = (i - lmin) / (lmax - lmin).  V_x is nu
 * at the lowest level with gamma >= x; I_x the lowest level with nu <= x
 * (lmax + 1 when none: nu is 0 there), reported as an intensity, i.e. the
 * bin's lower edge lo + (i - 1) w for fixed bin size, the level for a
 * fixed bin number. */
static void ivh(struct emit *e, const struct tex *t, size_t n, bool fbs,
                double lo, double w)
{
    static const double xs[2] = { 0.10, 0.90 };
    size_t nvox = t->nx * t->ny * t->nz, v, *cnt;
    int lmin = t->ng, i, k;
    double vx[2], ix[2];

    cnt = mmdx__calloc((size_t)t->ng + 2, sizeof(*cnt));
    if (!cnt) {
        e->st = MMDX_E_NOMEM;
        return;
    }
    for (v = 0; v < nvox; v++)
        if (t->q[v]) {
            cnt[t->q[v]]++;
            if (t->q[v] < lmin)
                lmin = t->q[v];
        }
    /* cnt[i] := voxels with level >= i */
    for (i = t->ng - 1; i >= 1; i--)
        cnt[i] += cnt[i + 1];
    for (k = 0; k < 2; k++) {
        vx[k] = NAN;
        ix[k] = t->ng + 1;
        if (t->ng > lmin)
            for (i = lmin; i <= t->ng; i++)
                if ((double)(i - lmin) / (t->ng - lmin) >= xs[k] - 1e-12) {
                    vx[k] = (double)cnt[i] / (double)n;
                    break;
                }
        for (i = lmin; i <= t->ng; i++)
            if ((double)cnt[i] / (double)n <= xs[k]) {
                ix[k] = i;
                break;
            }
        if (fbs)
            ix[k] = lo + (ix[k] - 1) * w;
    }
    mmdx__free(cnt);
    put(e, "image.ivh.v10", vx[0]);
    put(e, "image.ivh.v90", vx[1]);
    put(e, "image.ivh.i10", ix[0]);
    put(e, "image.ivh.i90", ix[1]);
    put(e, "image.ivh.v10_minus_v90", vx[0] - vx[1]);
    put(e, "image.ivh.i10_minus_i90", ix[0] - ix[1]);
}

/* ---- local intensity (IBSI 3.2) ---------------------------------------------------------
 *
 * The mean intensity of all image voxels (inside the ROI or not) whose
 * centres lie within a sphere of 1 cm3 (radius (3 / (4 pi))^(1/3) cm,
 * about 6.2 mm) around a centre voxel.  Local peak: centred on the ROI
 * voxel(s) of highest intensity (the largest mean when several); global
 * peak: the largest mean over all ROI voxels.
 *
 * The sphere is a set of rows along x (one per (dy, dz), each x within
 * a half-width w): for a row of centres, each sphere row adds a sliding
 * window sum of its image row, updated by one voxel in and one out per
 * step. A centre costs one add per sphere row, not one per sphere voxel
 * (on a 0.7 mm CT slice 17 rows instead of 241 voxels). The global peak
 * (every ROI voxel a centre) uses running sums instead when every voxel
 * is finite (struct lring below, ~3x faster), and is NaN when it would
 * take more than LOCAL_MAX_WORK_PREFIX steps that way, LOCAL_MAX_WORK
 * sliding (about a second either way; a whole-body ROI of a 100-slice
 * CT needs ~3e9, a tumour far fewer); the local peak is always computed.
 * Without NaN or infinite voxels in the image (checked first) the
 * window's size is known and the steps need no test. */
#define LOCAL_MAX_WORK 1e9
#define LOCAL_MAX_WORK_PREFIX 4e9
#define LOCAL_MAX_SPHERE 1e7

struct srow {
    long dy, dz, w;
};

/* Add the window sums of the sphere rows sr[0..ns) around the centres
 * x in [sb, se) of row (y, z) to sum[x] and cnt[x] (finite voxels only;
 * fin: the image has no other). */
static void local_rows(const struct mmdx_image *img, const struct srow *sr,
                       size_t ns, long y, long z, long sb, long se, bool fin,
                       double *sum, uint32_t *cnt)
{
    long nx = (long)img->nx, x;
    size_t j;

    for (x = sb; x < se; x++) {
        sum[x] = 0;
        cnt[x] = 0;
    }
    for (j = 0; j < ns; j++) {
        long yy = y + sr[j].dy, zz = z + sr[j].dz, w = sr[j].w;
        const float *src;
        double ws = 0;
        uint32_t wc = 0;

        if (yy < 0 || zz < 0 || yy >= (long)img->ny || zz >= (long)img->nz)
            continue;
        src = img->vox + img->nx * ((size_t)yy + img->ny * (size_t)zz);
        for (x = sb - w > 0 ? sb - w : 0; x <= sb + w && x < nx; x++)
            if (isfinite(src[x])) {
                ws += src[x];
                wc++;
            }
        if (fin) {
            /* every voxel finite: the window's size is known, and where
             * it lies inside the row one voxel comes in and one goes out
             * without a test */
            long core_b = w > sb ? w : sb, core_e = nx - w - 1 < se
                                                        ? nx - w - 1 : se;

            for (x = sb; x < se && x < core_b; x++) {
                sum[x] += ws;
                cnt[x] += wc;
                if (x + w + 1 < nx) {
                    ws += src[x + w + 1];
                    wc++;
                }
                if (x - w >= 0) {
                    ws -= src[x - w];
                    wc--;
                }
            }
            for (; x < core_e; x++) {
                sum[x] += ws;
                cnt[x] += wc;
                ws += (double)src[x + w + 1] - (double)src[x - w];
            }
            for (; x < se; x++) {
                sum[x] += ws;
                cnt[x] += wc;
                if (x + w + 1 < nx) {
                    ws += src[x + w + 1];
                    wc++;
                }
                if (x - w >= 0) {
                    ws -= src[x - w];
                    wc--;
                }
            }
            continue;
        }
        for (x = sb; x < se; x++) {
            long xi = x + w + 1, xo = x - w;

            sum[x] += ws;
            cnt[x] += wc;
            if (xi < nx && isfinite(src[xi])) {
                ws += src[xi];
                wc++;
            }
            if (xo >= 0 && isfinite(src[xo])) {
                ws -= src[xo];
                wc--;
            }
        }
    }
}

/* The global peak from running sums: each image row's running sums are
 * made once, for the slices a sphere around the current centre slice
 * reaches (a ring of min(2 R + 1, nz) slices over z); a sphere row then
 * adds P[x + w + 1] - P[x - w] to the centre x. Nothing is carried from
 * one centre to the next, so that LOCAL_BLOCK centres are summed at once
 * in registers over all the sphere rows (the sliding sums wait for the
 * previous add at every step). Only when every voxel is finite (the
 * sliding sums otherwise); integer intensities (CT) give the same sums
 * exactly. */
struct lring {
    double *P;                /* nsl x ny rows of nx + 1 running sums */
    int32_t *I;               /* the same as integers (integer images whose
                                 sums fit: half the bytes); P NULL then */
    size_t nsl;
};

/* Ring holding more than this many bytes: the sliding sums instead. */
#define LOCAL_RING_MAX ((size_t)512 << 20)
#define LOCAL_BLOCK 16

static void lring_fill(const struct mmdx_image *img, const struct lring *lr,
                       size_t zz)
{
    size_t nx = img->nx, ny = img->ny, y, x, at = zz % lr->nsl;

    for (y = 0; y < ny; y++) {
        const float *src = img->vox + nx * (y + ny * zz);

        if (lr->I) {
            int32_t *I = lr->I + (at * ny + y) * (nx + 1), acc = 0;

            I[0] = 0;
            for (x = 0; x < nx; x++) {
                acc += (int32_t)src[x];
                I[x + 1] = acc;
            }
        } else {
            double *P = lr->P + (at * ny + y) * (nx + 1), acc = 0;

            P[0] = 0;
            for (x = 0; x < nx; x++) {
                acc += src[x];
                P[x + 1] = acc;
            }
        }
    }
}

/* The integer blocks: sum[k] = sum over the rows of I[k + w + 1] -
 * I[k - w] (exact; the caller checked that no sum leaves int32). */
static void local_block_i32_c(const int32_t *const *rp, const long *w,
                              size_t nr, long x0, double *sum)
{
    int32_t acc[LOCAL_BLOCK] = { 0 };
    size_t r;
    int k;

    for (r = 0; r < nr; r++) {
        const int32_t *hi = rp[r] + x0 + w[r] + 1, *lo = rp[r] + x0 - w[r];

        for (k = 0; k < LOCAL_BLOCK; k++)
            acc[k] += hi[k] - lo[k];
    }
    for (k = 0; k < LOCAL_BLOCK; k++)
        sum[k] = (double)acc[k];
}

#ifdef HAVE_AVX2_PATHS
__attribute__((target("avx2"))) static void
local_block_i32_avx2(const int32_t *const *rp, const long *w, size_t nr,
                     long x0, double *sum)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    size_t r;

    for (r = 0; r < nr; r++) {
        const int32_t *hi = rp[r] + x0 + w[r] + 1, *lo = rp[r] + x0 - w[r];

        a0 = _mm256_add_epi32(
            a0, _mm256_sub_epi32(
                    _mm256_loadu_si256((const __m256i *)(const void *)hi),
                    _mm256_loadu_si256((const __m256i *)(const void *)lo)));
        a1 = _mm256_add_epi32(
            a1, _mm256_sub_epi32(
                    _mm256_loadu_si256((const __m256i *)(const void *)
                                           (hi + 8)),
                    _mm256_loadu_si256((const __m256i *)(const void *)
                                           (lo + 8))));
    }
    _mm256_storeu_pd(sum, _mm256_cvtepi32_pd(_mm256_castsi256_si128(a0)));
    _mm256_storeu_pd(sum + 4, _mm256_cvtepi32_pd(
                                  _mm256_extracti128_si256(a0, 1)));
    _mm256_storeu_pd(sum + 8, _mm256_cvtepi32_pd(_mm256_castsi256_si128(a1)));
    _mm256_storeu_pd(sum + 12, _mm256_cvtepi32_pd(
                                   _mm256_extracti128_si256(a1, 1)));
}
#endif

/* sum[k] for the LOCAL_BLOCK centres x0 + k: over the nr sphere rows,
 * row r's running sums P = rp[r] (at offset x0 + k) and half-width w[r],
 * P[k + w + 1] - P[k - w] added in row order (every level of vector code
 * below adds in the same order: the same sums). */
#ifndef __SSE2__
static void local_block_c(const double *const *rp, const long *w, size_t nr,
                          long x0, double *sum)
{
    double acc[LOCAL_BLOCK] = { 0 };
    size_t r;
    int k;

    for (r = 0; r < nr; r++) {
        const double *hi = rp[r] + x0 + w[r] + 1, *lo = rp[r] + x0 - w[r];

        for (k = 0; k < LOCAL_BLOCK; k++)
            acc[k] += hi[k] - lo[k];
    }
    memcpy(sum, acc, sizeof(acc));
}
#endif

#ifdef __SSE2__
static void local_block_sse2(const double *const *rp, const long *w,
                             size_t nr, long x0, double *sum)
{
    __m128d a[LOCAL_BLOCK / 2];
    size_t r;
    int k;

    for (k = 0; k < LOCAL_BLOCK / 2; k++)
        a[k] = _mm_setzero_pd();
    for (r = 0; r < nr; r++) {
        const double *hi = rp[r] + x0 + w[r] + 1, *lo = rp[r] + x0 - w[r];

        for (k = 0; k < LOCAL_BLOCK / 2; k++)
            a[k] = _mm_add_pd(a[k], _mm_sub_pd(_mm_loadu_pd(hi + 2 * k),
                                               _mm_loadu_pd(lo + 2 * k)));
    }
    for (k = 0; k < LOCAL_BLOCK / 2; k++)
        _mm_storeu_pd(sum + 2 * k, a[k]);
}
#endif

#ifdef HAVE_AVX2_PATHS
__attribute__((target("avx2"))) static void
local_block_avx2(const double *const *rp, const long *w, size_t nr, long x0,
                 double *sum)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    size_t r;

    for (r = 0; r < nr; r++) {
        const double *hi = rp[r] + x0 + w[r] + 1, *lo = rp[r] + x0 - w[r];

        a0 = _mm256_add_pd(a0, _mm256_sub_pd(_mm256_loadu_pd(hi),
                                             _mm256_loadu_pd(lo)));
        a1 = _mm256_add_pd(a1, _mm256_sub_pd(_mm256_loadu_pd(hi + 4),
                                             _mm256_loadu_pd(lo + 4)));
        a2 = _mm256_add_pd(a2, _mm256_sub_pd(_mm256_loadu_pd(hi + 8),
                                             _mm256_loadu_pd(lo + 8)));
        a3 = _mm256_add_pd(a3, _mm256_sub_pd(_mm256_loadu_pd(hi + 12),
                                             _mm256_loadu_pd(lo + 12)));
    }
    _mm256_storeu_pd(sum, a0);
    _mm256_storeu_pd(sum + 4, a1);
    _mm256_storeu_pd(sum + 8, a2);
    _mm256_storeu_pd(sum + 12, a3);
}
#endif

/* local_rows() (every voxel finite) from the ring's running sums: the
 * same sum[x] (exactly, for integer intensities) and cnt[x]. rp (or ri,
 * for the integer ring) and rw: room for ns row pointers and
 * half-widths. */
static void local_rows_prefix(const struct mmdx_image *img,
                              const struct lring *lr, const struct srow *sr,
                              size_t ns, long wmax, long y, long z, long sb,
                              long se, const double **rp,
                              const int32_t **ri, long *rw, double *sum,
                              uint32_t *cnt)
{
    long nx = (long)img->nx, x, x0;
    size_t j, ny = img->ny, nr = 0, at;
    uint32_t inner = 0;   /* the count of a centre away from the row ends */
    long cb = sb > wmax ? sb : wmax;   /* [cb, ce): every window inside */
    long ce = se < nx - wmax ? se : nx - wmax;

    /* the sphere rows inside the image, their running sums */
    for (j = 0; j < ns; j++) {
        long yy = y + sr[j].dy, zz = z + sr[j].dz;

        if (yy < 0 || zz < 0 || yy >= (long)ny || zz >= (long)img->nz)
            continue;
        at = ((size_t)zz % lr->nsl * ny + (size_t)yy) * (size_t)(nx + 1);
        if (lr->I)
            ri[nr] = lr->I + at;
        else
            rp[nr] = lr->P + at;
        rw[nr++] = sr[j].w;
        inner += (uint32_t)(2 * sr[j].w + 1);
    }
    for (x0 = cb; x0 + LOCAL_BLOCK <= ce; x0 += LOCAL_BLOCK) {
        int k;

        if (lr->I) {
#ifdef HAVE_AVX2_PATHS
            if (has_avx2())
                local_block_i32_avx2(ri, rw, nr, x0, sum + x0);
            else
#endif
                local_block_i32_c(ri, rw, nr, x0, sum + x0);
        } else
#ifdef HAVE_AVX2_PATHS
        if (has_avx2())
            local_block_avx2(rp, rw, nr, x0, sum + x0);
        else
#endif
#ifdef __SSE2__
            local_block_sse2(rp, rw, nr, x0, sum + x0);
#else
            local_block_c(rp, rw, nr, x0, sum + x0);
#endif
        for (k = 0; k < LOCAL_BLOCK; k++)
            cnt[x0 + k] = inner;
    }
    /* the rest one centre at a time, windows cut at the row ends */
    for (x = sb; x < se; x++) {
        double a = 0;
        uint32_t c = 0;
        size_t r;

        if (x >= cb && x < x0)
            continue;
        for (r = 0; r < nr; r++) {
            long lo = x - rw[r] > 0 ? x - rw[r] : 0;
            long hi = x + rw[r] + 1 < nx ? x + rw[r] + 1 : nx;

            a += lr->I ? (double)(ri[r][hi] - ri[r][lo])
                       : rp[r][hi] - rp[r][lo];
            c += (uint32_t)(hi - lo);
        }
        sum[x] = a;
        cnt[x] = c;
    }
}

static void local_intensity(struct emit *e, const struct mmdx_image *img,
                            const uint8_t *roi, const double sp[3])
{
    double r = 10.0 * cbrt(3.0 / (4.0 * M_PI)), mx = -INFINITY;
    double loc = -INFINITY, glob = -INFINITY, work = 0, rb;
    struct lring lr = { NULL, NULL, 1 };
    const double **rp = NULL;
    const int32_t **ri = NULL;
    long wmax = 0, *rw = NULL;
    bool integral = true, use_int;
    double amax = 0;
    size_t filled = 0;
    long R[3], dx, dy, dz, y, z, x, nx = (long)img->nx;
    struct srow *sr = NULL;
    double *sum = NULL;
    uint32_t *cnt = NULL;
    size_t ns = 0, v, nv = img->nx * img->ny * img->nz;
    bool all, fin = true;
    int k;

    /* a sphere of more than LOCAL_MAX_SPHERE voxels (voxels under ~0.03
     * mm: an absurd spacing) is not walked: both peaks NaN */
    for (k = 0; k < 3; k++) {
        double rk = floor(r / sp[k]);

        if (!(rk >= 0 && rk < 1e6)) {
            put(e, "image.loc.peak_local", NAN);
            put(e, "image.loc.peak_global", NAN);
            return;
        }
        R[k] = (long)rk;
    }
    if ((double)(2 * R[0] + 1) * (double)(2 * R[1] + 1) *
            (double)(2 * R[2] + 1) > LOCAL_MAX_SPHERE) {
        put(e, "image.loc.peak_local", NAN);
        put(e, "image.loc.peak_global", NAN);
        return;
    }
    sr = mmdx__malloc((size_t)(2 * R[1] + 1) * (size_t)(2 * R[2] + 1) *
                      sizeof(*sr));
    sum = mmdx__malloc(img->nx * sizeof(*sum));
    cnt = mmdx__malloc(img->nx * sizeof(*cnt));
    if (!sr || !sum || !cnt) {
        e->st = MMDX_E_NOMEM;
        goto out;
    }
    /* the sphere's rows: the same membership test for every voxel as
     * one by one (it only grows as |dx| falls) */
    for (dz = -R[2]; dz <= R[2]; dz++)
        for (dy = -R[1]; dy <= R[1]; dy++) {
            double fy = (double)dy * sp[1], fz = (double)dz * sp[2];
            long w = -1;

            for (dx = 0; dx <= R[0]; dx++) {
                double fx = (double)dx * sp[0];

                if (!(fx * fx + fy * fy + fz * fz <= r * r * (1 + 1e-12)))
                    break;
                w = dx;
            }
            if (w < 0)
                continue;
            sr[ns].dy = dy;
            sr[ns].dz = dz;
            sr[ns].w = w;
            ns++;
        }
    for (v = 0; v < nv; v++) {
        float a = img->vox[v];

        if (!isfinite(a)) {
            fin = false;
            continue;
        }
        if (roi[v] && a > mx)
            mx = a;
        if (integral && !(fabsf(a) <= 65536.0f && a == (float)(int32_t)a))
            integral = false;
        else if (fabsf(a) > amax)
            amax = fabsf(a);
    }
    /* the work of the global peak: per row, its ROI extent per sphere row */
    for (z = 0; z < (long)img->nz; z++)
        for (y = 0; y < (long)img->ny; y++) {
            const uint8_t *rr = roi + img->nx * ((size_t)y +
                                                 img->ny * (size_t)z);
            long b = 0, f = nx;

            while (b < nx && !rr[b])
                b++;
            while (f > b && !rr[f - 1])
                f--;
            if (f > b)
                work += (double)ns * (double)(f - b + 2 * R[0] + 1);
        }
    /* the running sums when every ROI voxel is a centre and their ring
     * fits; else the sliding sums */
    lr.nsl = (size_t)(2 * R[2] + 1) < img->nz ? (size_t)(2 * R[2] + 1)
                                               : img->nz;
    /* integers whose running sums and sphere sums stay in int32: the
     * sums as int32 (exact, half the bytes) */
    use_int = integral &&
              amax * (double)img->nx < 2147483647.0 &&
              amax * (double)(2 * R[0] + 1) * (double)(2 * R[1] + 1) *
                      (double)(2 * R[2] + 1) < 2147483647.0;
    rb = (double)lr.nsl * (double)img->ny * (double)(img->nx + 1) *
         (double)(use_int ? sizeof(int32_t) : sizeof(double));
    all = fin && work <= LOCAL_MAX_WORK_PREFIX &&
          rb <= (double)LOCAL_RING_MAX;
    if (all) {
        size_t cells = lr.nsl * img->ny * (img->nx + 1);

        if (use_int)
            lr.I = mmdx__malloc(cells * sizeof(*lr.I));
        else
            lr.P = mmdx__malloc(cells * sizeof(*lr.P));
        rp = mmdx__malloc(ns * sizeof(*rp));
        ri = mmdx__malloc(ns * sizeof(*ri));
        rw = mmdx__malloc(ns * sizeof(*rw));
        if ((!lr.P && !lr.I) || !rp || !ri || !rw) {
            e->st = MMDX_E_NOMEM;
            goto out;
        }
        for (k = 0; k < (int)ns; k++)
            if (sr[k].w > wmax)
                wmax = sr[k].w;
    } else {
        all = work <= LOCAL_MAX_WORK;
    }
    for (z = 0; z < (long)img->nz; z++) {
        /* the ring: every slice up to z + R[2] (each made once) */
        while ((lr.P || lr.I) && filled < img->nz &&
               filled <= (size_t)(z + R[2]))
            lring_fill(img, &lr, filled++);
        for (y = 0; y < (long)img->ny; y++) {
            size_t row = img->nx * ((size_t)y + img->ny * (size_t)z);
            const uint8_t *rr = roi + row;
            const float *rv = img->vox + row;
            long b = 0, f = nx;

            /* the centres: every ROI voxel, or only those of the highest
             * intensity when the global peak is out of reach */
            while (b < nx && !(rr[b] && (all || rv[b] == mx)))
                b++;
            while (f > b && !(rr[f - 1] && (all || rv[f - 1] == mx)))
                f--;
            if (f <= b)
                continue;
            if (lr.P || lr.I)
                local_rows_prefix(img, &lr, sr, ns, wmax, y, z, b, f, rp, ri,
                                  rw, sum, cnt);
            else
                local_rows(img, sr, ns, y, z, b, f, fin, sum, cnt);
            for (x = b; x < f; x++) {
                double mean;

                if (!rr[x] || !isfinite(rv[x]))
                    continue;
                mean = cnt[x] ? sum[x] / (double)cnt[x] : NAN;
                if (rv[x] == mx && mean > loc)
                    loc = mean;
                if (mean > glob)
                    glob = mean;
            }
        }
    }
    put(e, "image.loc.peak_local", isfinite(loc) ? loc : NAN);
    put(e, "image.loc.peak_global", !all || !isfinite(glob) ? NAN : glob);
out:
    mmdx__free(lr.P);
    mmdx__free(lr.I);
    mmdx__free((void *)rp);
    mmdx__free((void *)ri);
    mmdx__free(rw);
    mmdx__free(sr);
    mmdx__free(sum);
    mmdx__free(cnt);
}

/* ---- discretisation (IBSI 2.7) ----------------------------------------------------- */

struct disc {
    bool fbn;
    long bins;                /* FBN */
    double mn, mx;            /* ROI range (FBN) */
    double lo, inv_w;         /* FBS: lower edge of bin 1, 1 / bin width */
};

/* Grey level of x (>= 1; may exceed 65535, which the caller rejects). */
static long level_of(const struct disc *d, double x)
{
    long lv;

    /* x >= mn (and usually >= lo): truncation is floor there; the FBN
     * expression keeps IBSI's order of operations so that values on a bin
     * edge land where IBSI puts them */
    if (d->fbn)
        lv = d->mx > d->mn
                 ? (long)((x - d->mn) * (double)d->bins / (d->mx - d->mn)) + 1
                 : 1;
    else if (x >= d->lo)
        lv = (long)((x - d->lo) * d->inv_w) + 1;
    else
        lv = (long)floor((x - d->lo) * d->inv_w) + 1;
    if (d->fbn && lv > d->bins)
        lv = d->bins;
    if (lv < 1)
        lv = 1;
    return lv;
}

/*
 * lut[k] = level_of(d, mn + k) for a < k < b, given la and lb, the levels
 * of a and b. With FBN, level_of() never falls as its argument rises
 * (each of its steps, subtraction, multiplication and division by
 * positive numbers, truncation and the clamps, keeps the order), so
 * between two values of the same level every value has that level: the
 * range is halved until the ends agree, and only about
 * levels x log2(range) values are computed (of thousands of HU values,
 * each a division).
 */
static void lut_fill(const struct disc *d, double mn, uint16_t *lut,
                     size_t a, size_t b, long la, long lb)
{
    while (b - a > 1) {
        size_t m, k;
        long lm;

        if (la == lb) {
            for (k = a + 1; k < b; k++)
                lut[k] = (uint16_t)la;
            return;
        }
        m = a + (b - a) / 2;
        lm = level_of(d, mn + (double)m);
        lut[m] = (uint16_t)lm;
        lut_fill(d, mn, lut, a, m, la, lm);
        a = m;
        la = lm;
    }
}

/* Integer data: the level of each of len voxels (0 outside the ROI) and
 * the count of each ROI value, through the per-value table lut (index =
 * value - imn). The counts go to h0 and h1 in turn (their sum is the
 * count; they may be the same table): neighbours often have the same
 * value, and incrementing one counter back to back makes each increment
 * wait for the previous one. Every level of the run is written, so q
 * needs no zeroing beforehand. */
static void disc_lut(const float *vox, const uint8_t *roi, size_t len,
                     long imn, const uint16_t *lut, uint32_t *h0,
                     uint32_t *h1, uint16_t *q)
{
    size_t v = 0;

#ifdef __SSE2__
    /* value - imn eight at a time (fits int32: integers of int32 range
     * over a range < 2^20); eights outside the ROI are zeroed whole, and
     * the others go without a branch per voxel */
    {
        const __m128i base = _mm_set1_epi32((int32_t)imn);

        for (; v + 8 <= len; v += 8) {
            uint64_t r8, lo = 0, hi = 0;
            int32_t ix[8];
            int k;

            memcpy(&r8, roi + v, 8);
            if (!r8) {
                _mm_storeu_si128((__m128i *)(void *)(q + v),
                                 _mm_setzero_si128());
                continue;
            }
            _mm_storeu_si128((__m128i *)(void *)ix,
                             _mm_sub_epi32(_mm_cvttps_epi32(
                                               _mm_loadu_ps(vox + v)),
                                           base));
            _mm_storeu_si128((__m128i *)(void *)(ix + 4),
                             _mm_sub_epi32(_mm_cvttps_epi32(
                                               _mm_loadu_ps(vox + v + 4)),
                                           base));
            /* the levels go out packed four to a 64-bit store (stored
             * level by level, compilers gather them in vector registers
             * through the stack, which stalls) */
            if ((r8 - 0x0101010101010101u) & ~r8 & 0x8080808080808080u) {
                /* a voxel outside: it takes index 0, adds 0 to that
                 * count and gets level 0 */
                for (k = 0; k < 8; k++) {
                    uint32_t m = 0u - (uint32_t)(roi[v + (size_t)k] != 0);
                    uint32_t i = (uint32_t)ix[k] & m;

                    h0[i] += m & 1u;
                    if (k < 4)
                        lo |= (uint64_t)(lut[i] & m) << (16 * k);
                    else
                        hi |= (uint64_t)(lut[i] & m) << (16 * (k - 4));
                }
            } else {
                /* unrolled by hand: constant shifts */
                h0[ix[0]]++;
                h1[ix[1]]++;
                h0[ix[2]]++;
                h1[ix[3]]++;
                lo = (uint64_t)lut[ix[0]] | (uint64_t)lut[ix[1]] << 16 |
                     (uint64_t)lut[ix[2]] << 32 | (uint64_t)lut[ix[3]] << 48;
                h0[ix[4]]++;
                h1[ix[5]]++;
                h0[ix[6]]++;
                h1[ix[7]]++;
                hi = (uint64_t)lut[ix[4]] | (uint64_t)lut[ix[5]] << 16 |
                     (uint64_t)lut[ix[6]] << 32 | (uint64_t)lut[ix[7]] << 48;
            }
            memcpy(q + v, &lo, 8);
            memcpy(q + v + 4, &hi, 8);
        }
    }
#endif
    for (; v < len; v++)
        if (roi[v]) {
            size_t i = (size_t)((long)vox[v] - imn);

            h0[i]++;
            q[v] = lut[i];
        } else {
            q[v] = 0;
        }
}

/* What roi_scan() found: n ROI voxels with a finite value, their range
 * [mn, mx] (+inf, -inf when none); integral: every ROI voxel is an
 * integer of int32 range (so finite). */
struct scan {
    size_t n;
    float mn, mx;
    bool integral;
};

/* The n lanes of a vector scan folded into the range [*lo, *hi] and the
 * count *cnt (in lane order, as the scalar scan would meet them). */
static inline void scan_fold(const float *tl, const float *th,
                             const int32_t *tc, int n, float *lo, float *hi,
                             size_t *cnt)
{
    int k;

    for (k = 0; k < n; k++) {
        if (tl[k] < *lo)
            *lo = tl[k];
        if (th[k] > *hi)
            *hi = th[k];
        *cnt += (size_t)(uint32_t)tc[k];
    }
}

/* The voxels v..nvox-1 one at a time (the end of every roi_scan
 * variant): ROI voxels with a finite value counted into *cnt and the
 * range [*lo, *hi]; *ok cleared by any value that is not an integer. */
static inline void roi_scan_tail(const float *vox, const uint8_t *roi,
                                 size_t v, size_t nvox, size_t *cnt,
                                 float *lo, float *hi, bool *ok)
{
    for (; v < nvox; v++) {
        float x = vox[v];

        if (!roi[v])
            continue;
        if (isfinite(x)) {
            (*cnt)++;
            if (x < *lo)
                *lo = x;
            if (x > *hi)
                *hi = x;
        }
        if (!(x >= -2147483648.0f && x < 2147483648.0f) ||
            x != (float)(int32_t)x)
            *ok = false;
    }
}

/* Add nvox voxels to *sc (start with { 0, INFINITY, -INFINITY, true }).
 * Four voxels at a time with SSE2. With fast, eight voxels all inside
 * the ROI are taken without the finiteness test: if one of them is not
 * finite, nothing is added and the result is false (call again without
 * fast). Both give the same *sc (min and max per lane in the same
 * order). */
static bool roi_scan(const float *vox, const uint8_t *roi, size_t nvox,
                     struct scan *sc, bool fast)
{
    size_t v = 0, cnt = 0;
    float lo = sc->mn, hi = sc->mx;
    bool ok = sc->integral;

#ifdef __SSE2__
    {
        const __m128i zero = _mm_setzero_si128();
        const __m128 pinf = _mm_set1_ps(INFINITY), ninf = _mm_set1_ps(-INFINITY);
        const __m128 fmax = _mm_set1_ps(FLT_MAX);
        const __m128 absm = _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF));
        __m128 vlo = pinf, vhi = ninf, bad = _mm_setzero_ps();
        __m128 nonfin = _mm_setzero_ps();
        __m128i vcnt = zero;
        float tl[4], th[4];
        int32_t tc[4];

        for (; v + 4 <= nvox; v += 4) {
            int32_t r4;
            __m128i r;
            __m128 in, use, x = _mm_loadu_ps(vox + v), eq;

            if (fast && v + 8 <= nvox) {
                uint64_t r8;

                memcpy(&r8, roi + v, 8);
                if (!((r8 - 0x0101010101010101u) & ~r8 &
                      0x8080808080808080u)) {
                    /* all eight inside */
                    __m128 x1 = _mm_loadu_ps(vox + v + 4);

                    eq = _mm_and_ps(
                        _mm_cmpeq_ps(x, _mm_cvtepi32_ps(_mm_cvttps_epi32(x))),
                        _mm_cmpeq_ps(x1,
                                     _mm_cvtepi32_ps(_mm_cvttps_epi32(x1))));
                    if (_mm_movemask_ps(eq) != 0xF) {
                        /* not all integers (which are finite) */
                        nonfin = _mm_or_ps(
                            nonfin,
                            _mm_or_ps(
                                _mm_cmpnle_ps(_mm_and_ps(x, absm), fmax),
                                _mm_cmpnle_ps(_mm_and_ps(x1, absm), fmax)));
                        bad = _mm_or_ps(bad, _mm_xor_ps(eq, _mm_castsi128_ps(
                                                                _mm_set1_epi32(-1))));
                    }
                    vlo = _mm_min_ps(_mm_min_ps(vlo, x), x1);
                    vhi = _mm_max_ps(_mm_max_ps(vhi, x), x1);
                    cnt += 8;
                    v += 4;
                    continue;
                }
            }
            memcpy(&r4, roi + v, 4);
            r = _mm_cvtsi32_si128(r4);
            r = _mm_unpacklo_epi16(_mm_unpacklo_epi8(r, zero), zero);
            in = _mm_castsi128_ps(_mm_cmpgt_epi32(r, zero));
            use = _mm_and_ps(in, _mm_cmple_ps(_mm_and_ps(x, absm), fmax));
            vcnt = _mm_sub_epi32(vcnt, _mm_castps_si128(use));
            vlo = _mm_min_ps(vlo, _mm_or_ps(_mm_and_ps(use, x),
                                            _mm_andnot_ps(use, pinf)));
            vhi = _mm_max_ps(vhi, _mm_or_ps(_mm_and_ps(use, x),
                                            _mm_andnot_ps(use, ninf)));
            eq = _mm_cmpeq_ps(x, _mm_cvtepi32_ps(_mm_cvttps_epi32(x)));
            bad = _mm_or_ps(bad, _mm_andnot_ps(eq, in));
        }
        if (_mm_movemask_ps(nonfin))
            return false;
        _mm_storeu_ps(tl, vlo);
        _mm_storeu_ps(th, vhi);
        _mm_storeu_si128((__m128i *)(void *)tc, vcnt);
        scan_fold(tl, th, tc, 4, &lo, &hi, &cnt);
        if (_mm_movemask_ps(bad))
            ok = false;
    }
#else
    MMDX_UNUSED(fast);
#endif
    roi_scan_tail(vox, roi, v, nvox, &cnt, &lo, &hi, &ok);
    sc->n += cnt;
    sc->mn = lo;
    sc->mx = hi;
    sc->integral = ok;
    return true;
}

#ifdef HAVE_AVX2_PATHS
/* roi_scan() eight voxels at a time. False (nothing added) when it cannot
 * give the same *sc: a non-integer among eight inside voxels (they are
 * taken without the finiteness test), or a range bound of 0 (which of
 * -0 and +0 it is depends on the order of comparisons). */
__attribute__((target("avx2"))) static bool
roi_scan_avx2(const float *vox, const uint8_t *roi, size_t nvox,
              struct scan *sc)
{
    const __m256 pinf = _mm256_set1_ps(INFINITY);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256 fmax = _mm256_set1_ps(FLT_MAX);
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 vlo = pinf, vhi = ninf, bad = _mm256_setzero_ps();
    __m256i vcnt = _mm256_setzero_si256();
    float tl[8], th[8], lo = sc->mn, hi = sc->mx;
    int32_t tc[8];
    size_t v = 0, cnt = 0;
    bool ok = sc->integral;

    for (; v + 8 <= nvox; v += 8) {
        uint64_t r8;
        __m256 x, eq, in, use;

        memcpy(&r8, roi + v, 8);
        if (!r8)
            continue;
        x = _mm256_loadu_ps(vox + v);
        eq = _mm256_cmp_ps(x, _mm256_cvtepi32_ps(_mm256_cvttps_epi32(x)),
                           _CMP_EQ_OQ);
        if (!((r8 - 0x0101010101010101u) & ~r8 & 0x8080808080808080u)) {
            /* all eight inside: integers are finite */
            if (_mm256_movemask_ps(eq) != 0xFF)
                return false;
            vlo = _mm256_min_ps(vlo, x);
            vhi = _mm256_max_ps(vhi, x);
            cnt += 8;
            continue;
        }
        in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                (const __m128i *)(const void *)(roi + v))),
            _mm256_setzero_si256()));
        use = _mm256_and_ps(in, _mm256_cmp_ps(_mm256_and_ps(x, absm), fmax,
                                              _CMP_LE_OQ));
        vcnt = _mm256_sub_epi32(vcnt, _mm256_castps_si256(use));
        vlo = _mm256_min_ps(vlo, _mm256_blendv_ps(pinf, x, use));
        vhi = _mm256_max_ps(vhi, _mm256_blendv_ps(ninf, x, use));
        bad = _mm256_or_ps(bad, _mm256_andnot_ps(eq, in));
    }
    _mm256_storeu_ps(tl, vlo);
    _mm256_storeu_ps(th, vhi);
    _mm256_storeu_si256((__m256i *)(void *)tc, vcnt);
    scan_fold(tl, th, tc, 8, &lo, &hi, &cnt);
    if (_mm256_movemask_ps(bad))
        ok = false;
    roi_scan_tail(vox, roi, v, nvox, &cnt, &lo, &hi, &ok);
    if (lo == 0 || hi == 0)
        return false;
    sc->n += cnt;
    sc->mn = lo;
    sc->mx = hi;
    sc->integral = ok;
    return true;
}

#endif

#ifdef __SSE2__
/* True when the 32 bytes at p are all 0. */
static inline bool zero32(const uint8_t *p)
{
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));

    return _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(a, b),
                                            _mm_setzero_si128())) == 0xFFFF;
}
#endif

/* Per row r (y + ny * z), span[2r] and span[2r + 1]: the x range from the
 * first to the last ROI voxel ([0, 0) when none). Counting and scanning
 * loops then skip the air around a body. 32 bytes at a time, then eight. */
static void roi_spans(const uint8_t *roi, size_t nx, size_t nrow,
                      uint32_t *span)
{
    size_t r;

    for (r = 0; r < nrow; r++) {
        const uint8_t *row = roi + nx * r;
        size_t b = 0, e = nx;
        uint64_t w;

#ifdef __SSE2__
        while (b + 32 <= e && zero32(row + b))
            b += 32;
#endif
        while (b + 8 <= e && (memcpy(&w, row + b, 8), !w))
            b += 8;
        while (b < e && !row[b])
            b++;
#ifdef __SSE2__
        while (e >= b + 32 && zero32(row + e - 32))
            e -= 32;
#endif
        while (e >= b + 8 && (memcpy(&w, row + e - 8, 8), !w))
            e -= 8;
        while (e > b && !row[e - 1])
            e--;
        if (b == e)
            b = e = 0;
        span[2 * r] = (uint32_t)b;
        span[2 * r + 1] = (uint32_t)e;
    }
}

/* ---- automatic ROI --------------------------------------------------------------- */

#ifdef HAVE_AVX2_PATHS
/* roi[v] = vox[v] >= fmin for v in [0, *done), 32 at a time; *done is a
 * multiple of 32; returns how many are inside. */
__attribute__((target("avx2"))) static size_t
roi_min_avx2(const float *vox, size_t n, float fmin, uint8_t *roi,
             size_t *done)
{
    const __m256 thr = _mm256_set1_ps(fmin);
    const __m256i one = _mm256_set1_epi8(1), zero = _mm256_setzero_si256();
    /* packing works within 128-bit lanes: this puts the dwords back in
     * order */
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i acc = zero;
    uint64_t sums[4];
    size_t v = 0;

    for (; v + 32 <= n; v += 32) {
        __m256i a = _mm256_castps_si256(
            _mm256_cmp_ps(_mm256_loadu_ps(vox + v), thr, _CMP_GE_OQ));
        __m256i b = _mm256_castps_si256(
            _mm256_cmp_ps(_mm256_loadu_ps(vox + v + 8), thr, _CMP_GE_OQ));
        __m256i c = _mm256_castps_si256(
            _mm256_cmp_ps(_mm256_loadu_ps(vox + v + 16), thr, _CMP_GE_OQ));
        __m256i d = _mm256_castps_si256(
            _mm256_cmp_ps(_mm256_loadu_ps(vox + v + 24), thr, _CMP_GE_OQ));
        __m256i m = _mm256_packs_epi16(_mm256_packs_epi32(a, b),
                                       _mm256_packs_epi32(c, d));

        m = _mm256_and_si256(_mm256_permutevar8x32_epi32(m, perm), one);
        _mm256_storeu_si256((__m256i *)(void *)(roi + v), m);
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(m, zero));
    }
    _mm256_storeu_si256((__m256i *)(void *)sums, acc);
    *done = v;
    return (size_t)(sums[0] + sums[1] + sums[2] + sums[3]);
}
#endif

#ifdef HAVE_AVX512_PATHS
/* roi_min_avx2() 64 at a time: four compares into mask registers, one
 * 64-byte store of 0/1 bytes, the count by popcount; the same result. */
__attribute__((target("avx512f,avx512bw,popcnt"))) static size_t
roi_min512(const float *vox, size_t n, float fmin, uint8_t *roi,
           size_t *done)
{
    const __m512 thr = _mm512_set1_ps(fmin);
    const __m512i one = _mm512_set1_epi8(1);
    size_t v = 0, in = 0;

    for (; v + 64 <= n; v += 64) {
        __mmask16 a = _mm512_cmp_ps_mask(_mm512_loadu_ps(vox + v), thr,
                                         _CMP_GE_OQ);
        __mmask16 b = _mm512_cmp_ps_mask(_mm512_loadu_ps(vox + v + 16), thr,
                                         _CMP_GE_OQ);
        __mmask16 c = _mm512_cmp_ps_mask(_mm512_loadu_ps(vox + v + 32), thr,
                                         _CMP_GE_OQ);
        __mmask16 d = _mm512_cmp_ps_mask(_mm512_loadu_ps(vox + v + 48), thr,
                                         _CMP_GE_OQ);
        __mmask64 m = (__mmask64)a | (__mmask64)b << 16 |
                      (__mmask64)c << 32 | (__mmask64)d << 48;

        _mm512_storeu_si512((void *)(roi + v), _mm512_maskz_mov_epi8(m, one));
        in += (size_t)_mm_popcnt_u64(m);
    }
    *done = v;
    return in;
}
#endif

size_t mmdx__image_roi_min(const struct mmdx_image *img, double min,
                           uint8_t *roi)
{
    size_t n = img->nx * img->ny * img->nz * img->nc, v = 0, in = 0;
    const float *vox = img->vox;
    /* the smallest float >= min: x >= fmin exactly when (double)x >= min */
    float fmin = (float)min;

    if ((double)fmin < min)
        fmin = nextafterf(fmin, INFINITY);
#ifdef HAVE_AVX512_PATHS
    if (has_avx512())
        in = roi_min512(vox, n, fmin, roi, &v);
    else
#endif
#ifdef HAVE_AVX2_PATHS
    if (has_avx2())
        in = roi_min_avx2(vox, n, fmin, roi, &v);
#endif
#ifdef __SSE2__
    {
        const __m128 thr = _mm_set1_ps(fmin);
        const __m128i one = _mm_set1_epi8(1), zero = _mm_setzero_si128();
        __m128i acc = zero;

        for (; v + 16 <= n; v += 16) {
            __m128i a = _mm_packs_epi32(
                _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(vox + v), thr)),
                _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(vox + v + 4), thr)));
            __m128i b = _mm_packs_epi32(
                _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(vox + v + 8), thr)),
                _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(vox + v + 12),
                                              thr)));
            __m128i m = _mm_and_si128(_mm_packs_epi16(a, b), one);

            _mm_storeu_si128((__m128i *)(void *)(roi + v), m);
            acc = _mm_add_epi64(acc, _mm_sad_epu8(m, zero));
        }
        {
            uint64_t sums[2];

            _mm_storeu_si128((__m128i *)(void *)sums, acc);
            in += (size_t)(sums[0] + sums[1]);
        }
    }
#endif
    for (; v < n; v++) {
        roi[v] = vox[v] >= fmin;
        in += roi[v];
    }
    return in;
}

/* ---- entry ------------------------------------------------------------------------------- */

struct mmdx_imgfeat_ws {
    uint16_t *q;              /* grey levels, room for qcap voxels */
    size_t qcap;
};

struct mmdx_imgfeat_ws *mmdx__imgfeat_ws_new(void)
{
    return mmdx__calloc(1, sizeof(struct mmdx_imgfeat_ws));
}

void mmdx__imgfeat_ws_free(struct mmdx_imgfeat_ws *ws)
{
    if (!ws)
        return;
    mmdx__free(ws->q);
    mmdx__free(ws);
}

/* Room for nvox levels, zeroed if zero: from ws when there is one (kept
 * for the next call), else a new block. */
static uint16_t *levels_get(struct mmdx_imgfeat_ws *ws, size_t nvox,
                            bool zero)
{
    if (!ws)
        return zero ? mmdx__calloc(nvox, sizeof(uint16_t))
                    : mmdx__malloc(nvox * sizeof(uint16_t));
    if (ws->qcap < nvox) {
        mmdx__free(ws->q);
        ws->qcap = 0;
        ws->q = mmdx__malloc(nvox * sizeof(uint16_t));
        if (!ws->q)
            return NULL;
        ws->qcap = nvox;
    }
    if (zero)
        memset(ws->q, 0, nvox * sizeof(uint16_t));
    return ws->q;
}

enum mmdx_status mmdx__image_features(struct mmdx_ctx *ctx,
                                      const struct mmdx_image *img,
                                      const uint8_t *roi, bool has_mask,
                                      const struct mmdx_imgfeat_opts *o,
                                      mmdx__imgfeat_fn fn, void *user)
{
    return mmdx__image_features_ws(ctx, NULL, img, roi, has_mask, o, fn,
                                   user);
}

enum mmdx_status mmdx__image_features_ws(struct mmdx_ctx *ctx,
                                         struct mmdx_imgfeat_ws *ws,
                                         const struct mmdx_image *img,
                                         const uint8_t *roi, bool has_mask,
                                         const struct mmdx_imgfeat_opts *o,
                                         mmdx__imgfeat_fn fn, void *user)
{
    struct emit e = { fn, user, MMDX_OK };
    struct tex t;
    size_t nvox = img->nx * img->ny * img->nz, n = 0, v, k;
    float *vals = NULL;
    uint32_t *hist = NULL;      /* integer data: count per value */
    size_t range = 0, nrow, r;
    struct scan sc = { 0, INFINITY, -INFINITY, true };
    double sp[3], mn, mx;
    long maxlevel = 0;

    memset(&t, 0, sizeof(t));
    if (img->nc != 1)
        return mmdx__fail(ctx, MMDX_E_INVAL, "image.features", NULL, 0, NULL,
                          "features need one channel, the image has %u",
                          img->nc);
    for (k = 0; k < 3; k++)
        sp[k] = isfinite(img->spacing_mm[k]) && img->spacing_mm[k] > 0
                    ? img->spacing_mm[k] : 1.0;
    nrow = img->ny * img->nz;
    t.span = mmdx__malloc(2 * (nrow ? nrow : 1) * sizeof(*t.span));
    if (!t.span)
        return mmdx__nomem(ctx);
    roi_spans(roi, img->nx, nrow, t.span);
    for (r = 0; r < nrow; r++) {
        const float *rv = img->vox + img->nx * r + t.span[2 * r];
        const uint8_t *rr = roi + img->nx * r + t.span[2 * r];
        size_t len = t.span[2 * r + 1] - t.span[2 * r];

#ifdef HAVE_AVX2_PATHS
        if (has_avx2() && roi_scan_avx2(rv, rr, len, &sc))
            continue;
#endif
        if (!roi_scan(rv, rr, len, &sc, true))
            roi_scan(rv, rr, len, &sc, false);
    }
    n = sc.n;
    if (!n) {
        mmdx__free(t.span);
        return mmdx__fail(ctx, MMDX_E_INVAL, "image.features", NULL, 0,
                          "roi", "the region of interest is empty");
    }
    mn = sc.mn;
    mx = sc.mx;
    t.nx = img->nx;
    t.ny = img->ny;
    t.nz = img->nz;
    t.nroi = n;
    /* discretise (IBSI 2.7) */
    {
        struct disc d;

        d.fbn = o->disc == MMDX_DISC_FBN;
        d.bins = o->bins;
        d.mn = mn;
        d.mx = mx;
        d.lo = o->disc == MMDX_DISC_FBS && isfinite(o->bin_min) ? o->bin_min
                                                                 : mn;
        d.inv_w = o->disc == MMDX_DISC_FBS ? 1.0 / o->bin_width : 0;
        range = (size_t)(mx - mn) + 1;
        if (sc.integral && mx - mn < (double)(1 << 20) &&
            range <= 2 * n + 65536) {
            /* integers (CT in HU): a count per value and a level per
             * value, so each voxel costs a table look-up, not a division;
             * the levels are those of level_of() on the same values. The
             * levels rise with the value, so the highest is the table's
             * last, that of mx (a ROI value). */
            uint16_t *lut;
            long imn = (long)mn, top = level_of(&d, mx);

            if (top > 65535) {
                maxlevel = top;
            } else {
                size_t nx = img->nx;

                /* two count tables (see disc_lut), one for wide ranges */
                size_t nh = range <= 65536 ? 2 : 1;

                t.q = levels_get(ws, nvox, false);
                hist = mmdx__calloc(nh * range, sizeof(*hist));
                lut = mmdx__malloc(range * sizeof(*lut));
                if (!t.q || !hist || !lut) {
                    mmdx__free(lut);
                    e.st = MMDX_E_NOMEM;
                    goto out;
                }
                if (d.fbn && range > 2) {
                    long l0 = level_of(&d, mn);

                    lut[0] = (uint16_t)l0;
                    lut[range - 1] = (uint16_t)top;
                    lut_fill(&d, mn, lut, 0, range - 1, l0, top);
                } else {
                    for (k = 0; k < range; k++)
                        lut[k] = (uint16_t)level_of(&d, mn + (double)k);
                }
                /* each row written whole: levels in the span, zeros
                 * around it (the block is not zeroed beforehand) */
                for (r = 0; r < nrow; r++) {
                    size_t off = nx * r, sb = t.span[2 * r],
                           se = t.span[2 * r + 1];

                    memset(t.q + off, 0, sb * sizeof(*t.q));
                    disc_lut(img->vox + off + sb, roi + off + sb, se - sb,
                             imn, lut, hist, hist + (nh - 1) * range,
                             t.q + off + sb);
                    memset(t.q + off + se, 0, (nx - se) * sizeof(*t.q));
                }
                if (nh == 2)
                    for (k = 0; k < range; k++)
                        hist[k] += hist[range + k];
                maxlevel = lut[range - 1];
                mmdx__free(lut);
            }
        } else {
            t.q = levels_get(ws, nvox, true);
            vals = mmdx__malloc(n * sizeof(float));
            if (!t.q || !vals) {
                e.st = MMDX_E_NOMEM;
                goto out;
            }
            for (v = 0, k = 0; v < nvox; v++) {
                double x = img->vox[v];
                long lv;

                if (!roi[v] || !isfinite(x))
                    continue;
                vals[k++] = (float)x;
                lv = level_of(&d, x);
                if (lv > 65535) {
                    maxlevel = lv;
                    break;
                }
                t.q[v] = (uint16_t)lv;
                if (lv > maxlevel)
                    maxlevel = lv;
            }
        }
        if (maxlevel > 65535) {
            mmdx__fail(ctx, MMDX_E_LIMIT, "image.features", NULL, 0,
                       "discretisation", "more than 65535 grey levels "
                       "after discretisation (use fewer bins or a wider "
                       "bin)");
            e.st = MMDX_E_LIMIT;
            goto out;
        }
        t.ng = (int)maxlevel;
    }
    if (has_mask && (o->families & MMDX_FAM_MORPH))
        morphology(&e, img, roi, n, sp, o->max_moran_voxels);
    if ((o->families & MMDX_FAM_STAT) && hist)
        first_order_hist(&e, "stat", hist, range, mn, n);
    else if (o->families & MMDX_FAM_STAT)
        first_order(&e, "stat", vals, n, 0);
    if (!e.st && (o->families & MMDX_FAM_LOCAL))
        local_intensity(&e, img, roi, sp);
    if (e.st)
        goto out;
    if (o->families & MMDX_FAM_IH) {
        if (!vals && !(vals = mmdx__malloc(n * sizeof(float)))) {
            e.st = MMDX_E_NOMEM;
            goto out;
        }
        for (v = 0, k = 0; v < nvox; v++)
            if (t.q[v])
                vals[k++] = (float)t.q[v];
        first_order(&e, "ih", vals, n, 0);
        histogram(&e, &t, n);
    }
    if (!e.st && (o->families & MMDX_FAM_IVH))
        ivh(&e, &t, n, o->disc == MMDX_DISC_FBS,
            isfinite(o->bin_min) ? o->bin_min : mn, o->bin_width);
    if (e.st)
        goto out;
    if (t.ng > MAX_LEVELS &&
        (o->families & (MMDX_FAM_GLCM | MMDX_FAM_GLRLM | MMDX_FAM_GLSZM |
                        MMDX_FAM_NGTDM | MMDX_FAM_NGLDM | MMDX_FAM_GLDZM))) {
        mmdx__fail(ctx, MMDX_E_LIMIT, "image.features", NULL, 0,
                   "discretisation", "%d grey levels after discretisation; "
                   "texture features allow at most %d (use fewer bins or a "
                   "wider bin)", t.ng, MAX_LEVELS);
        e.st = MMDX_E_LIMIT;
        goto out;
    }
    {
        enum mmdx_status st = MMDX_OK;

        if (!e.st && (o->families & MMDX_FAM_GLCM))
            st = directional(&e, &t, D_GLCM, o->agg);
        if (!st && !e.st && (o->families & MMDX_FAM_GLRLM))
            st = directional(&e, &t, D_GLRLM, o->agg);
        if (!st && !e.st &&
            (o->families & (MMDX_FAM_GLSZM | MMDX_FAM_NGTDM |
                            MMDX_FAM_NGLDM | MMDX_FAM_GLDZM)))
            st = zone_families(&e, &t, o->agg, o->families);
        if (st)
            e.st = st;
    }
out:
    mmdx__free(vals);
    mmdx__free(hist);
    if (!ws)
        mmdx__free(t.q);
    mmdx__free(t.span);
    if (e.st == MMDX_E_NOMEM)
        return mmdx__nomem(ctx);
    return e.st;
}
