/*
 * model.c - the multimodal network on CBLAS: per-modality encoders into a
 * shared embedding, fusion over the modalities present (masked mean or
 * attention pooling), a risk head, their backward passes and the
 * cross-modal contrastive alignment term.
 *
 * All parameters live in one float array (m->param) at offsets derived
 * from the architecture, so the optimiser, the model file and the
 * finite-difference test treat them as one vector. Matrices are row-major;
 * weights of a layer with n_in inputs and n_out outputs are n_out x n_in.
 * Every BLAS call goes through gemm() below, which checks that the sizes
 * fit an int before calling cblas_sgemm.
 */
#include "core/common.h"
#include "fusion/fusion.h"

#include <cblas.h>

static const char *const arch_names[] = { "joint", "early", "late",
                                          "single" };

const char *mmdx__arch_name(uint32_t arch)
{
    return arch < MMDX_ARRAY_SIZE(arch_names) ? arch_names[arch] : "?";
}

/* C (m x n, ldc) = alpha op(A) op(B) + beta C. Sizes were validated when
 * the model was laid out (every dimension and leading dimension is at most
 * MMDX_FUSION_MAX_WIDTH, nfeat or a batch size checked in mmdx__ws_init),
 * so the int conversions are exact; the asserts document it. */
static void gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                 const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc)
{
    assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
    assert(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Vector pieces of embedding width (a few floats): plain loops, a BLAS
 * call costs more than the work. Matrix products all go through gemm(). */
static inline float dot(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    size_t i;

    for (i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline void axpy(float a, const float *x, float *y, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        y[i] += a * x[i];
}

static size_t grp_col0(const struct mmdx__model *m, size_t g)
{
    return m->mod_start[m->grp_mod0[g]];
}

static size_t grp_in(const struct mmdx__model *m, size_t g)
{
    size_t k, n = 0;

    for (k = 0; k < m->grp_nmod[g]; k++)
        n += m->mod_len[m->grp_mod0[g] + k];
    return n;
}

/* ---- layout ------------------------------------------------------------- */

static bool take(size_t *o, size_t n, size_t *at)
{
    *at = *o;
    if (n > MMDX_FUSION_MAX_PARAMS || *o > MMDX_FUSION_MAX_PARAMS - n)
        return false;
    *o += n;
    return true;
}

enum mmdx_status mmdx__model_layout(struct mmdx_ctx *ctx,
                                    struct mmdx__model *m)
{
    size_t g, o = 0, k;
    bool ok = true;

    if (m->nmod == 0 || m->nmod > MMDX_FUSION_MAX_MOD || m->nfeat == 0 ||
        m->nfeat > MMDX_FTAB_MAX_COLS || m->hid > MMDX_FUSION_MAX_WIDTH ||
        m->emb == 0 || m->emb > MMDX_FUSION_MAX_WIDTH ||
        m->head_hid > MMDX_FUSION_MAX_WIDTH || m->arch > MMDX_ARCH_SINGLE ||
        m->pool > MMDX_POOL_ATTENTION || m->head > MMDX_HEAD_MLP ||
        (m->head == MMDX_HEAD_IDENTITY && (m->emb != 1 || m->inter)) ||
        m->inter > 1 ||
        (m->head == MMDX_HEAD_MLP && m->head_hid == 0))
        return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                          "architecture", "invalid architecture");
    for (k = 0, o = 0; k < m->nmod; k++) {
        if (m->mod_start[k] != o || m->mod_len[k] == 0)
            return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                              "modalities",
                              "modality feature ranges are not contiguous");
        o += m->mod_len[k];
    }
    if (o != m->nfeat)
        return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                          "modalities",
                          "modality feature ranges do not cover the features");
    o = 0;
    if (m->ngroup == 0 || m->ngroup > m->nmod)
        return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                          "groups", "invalid encoder groups");
    m->o_w1 = mmdx__calloc(m->ngroup, sizeof(size_t));
    m->o_b1 = mmdx__calloc(m->ngroup, sizeof(size_t));
    m->o_w2 = mmdx__calloc(m->ngroup, sizeof(size_t));
    m->o_b2 = mmdx__calloc(m->ngroup, sizeof(size_t));
    if (!m->o_w1 || !m->o_b1 || !m->o_w2 || !m->o_b2)
        return mmdx__nomem(ctx);
    for (g = 0, k = 0; g < m->ngroup; g++) {
        size_t in;

        if (m->grp_mod0[g] != k || m->grp_nmod[g] == 0 ||
            m->grp_nmod[g] > m->nmod - k)
            return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                              "groups", "encoder groups do not tile the "
                              "modalities");
        k += m->grp_nmod[g];
        in = grp_in(m, g);
        if (m->hid) {
            ok = ok && take(&o, m->hid * in, &m->o_w1[g]);
            ok = ok && take(&o, m->hid, &m->o_b1[g]);
            ok = ok && take(&o, m->emb * m->hid, &m->o_w2[g]);
        } else {
            m->o_w1[g] = m->o_b1[g] = SIZE_MAX;
            ok = ok && take(&o, m->emb * in, &m->o_w2[g]);
        }
        ok = ok && take(&o, m->emb, &m->o_b2[g]);
    }
    if (k != m->nmod)
        return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                          "groups", "encoder groups do not tile the "
                          "modalities");
    m->o_watt = m->o_catt = SIZE_MAX;
    if (m->pool == MMDX_POOL_ATTENTION) {
        ok = ok && take(&o, m->emb, &m->o_watt);
        ok = ok && take(&o, m->ngroup, &m->o_catt);
    }
    m->o_wh = m->o_bh = m->o_wo = m->o_bo = SIZE_MAX;
    if (m->head == MMDX_HEAD_MLP) {
        ok = ok && take(&o, m->head_hid * mmdx__model_head_in(m), &m->o_wh);
        ok = ok && take(&o, m->head_hid, &m->o_bh);
        ok = ok && take(&o, m->head_hid, &m->o_wo);
        ok = ok && take(&o, 1, &m->o_bo);
    } else if (m->head == MMDX_HEAD_LINEAR) {
        ok = ok && take(&o, mmdx__model_head_in(m), &m->o_wo);
        ok = ok && take(&o, 1, &m->o_bo);
    }
    if (!ok)
        return mmdx__fail(ctx, MMDX_E_LIMIT, "fusion.model", NULL, 0,
                          "architecture", "more than %u parameters",
                          (unsigned)MMDX_FUSION_MAX_PARAMS);
    if (m->param && m->nparam != o)
        return mmdx__fail(ctx, MMDX_E_MODEL, "fusion.model", NULL, 0,
                          "parameters",
                          "%zu parameters stored, the architecture has %zu",
                          m->nparam, o);
    m->nparam = o;
    if (!m->param) {
        m->param = mmdx__calloc(o ? o : 1, sizeof(float));
        if (!m->param)
            return mmdx__nomem(ctx);
    }
    return MMDX_OK;
}

void mmdx__model_fini(struct mmdx__model *m)
{
    size_t k;

    if (m->mod_names)
        for (k = 0; k < m->nmod; k++)
            mmdx__free(m->mod_names[k]);
    if (m->feat_names)
        for (k = 0; k < m->nfeat; k++)
            mmdx__free(m->feat_names[k]);
    mmdx__free(m->mod_names);
    mmdx__free(m->feat_names);
    mmdx__free(m->mod_start);
    mmdx__free(m->mod_len);
    mmdx__free(m->grp_mod0);
    mmdx__free(m->grp_nmod);
    mmdx__free(m->center);
    mmdx__free(m->scale);
    mmdx__free(m->param);
    mmdx__free(m->o_w1);
    mmdx__free(m->o_b1);
    mmdx__free(m->o_w2);
    mmdx__free(m->o_b2);
    memset(m, 0, sizeof(*m));
}

/* ---- work space ---------------------------------------------------------- */

static float *falloc(size_t a, size_t b, bool *ok)
{
    size_t n;
    float *p;

    if (!*ok || !mmdx__mul_size(a, b, &n) || n > SIZE_MAX / sizeof(float)) {
        *ok = false;
        return NULL;
    }
    p = mmdx__malloc((n ? n : 1) * sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

enum mmdx_status mmdx__ws_init(struct mmdx_ctx *ctx, struct mmdx__ws *w,
                               const struct mmdx__model *m, size_t rows)
{
    bool ok = true;
    size_t g, hid = m->hid ? m->hid : 1, hh = m->head_hid ? m->head_hid : 1;

    memset(w, 0, sizeof(*w));
    if (rows == 0 || rows > (size_t)1 << 20 ||
        m->nfeat > INT_MAX)
        return mmdx__fail(ctx, MMDX_E_INVAL, "fusion.model", NULL, 0, NULL,
                          "batch of %zu rows out of range", rows);
    w->cap = rows;
    w->h = mmdx__calloc(m->ngroup, sizeof(float *));
    w->e = mmdx__calloc(m->ngroup, sizeof(float *));
    w->dh = mmdx__calloc(m->ngroup, sizeof(float *));
    w->de = mmdx__calloc(m->ngroup, sizeof(float *));
    if (!w->h || !w->e || !w->dh || !w->de) {
        mmdx__ws_fini(w, m);
        return mmdx__nomem(ctx);
    }
    for (g = 0; g < m->ngroup; g++) {
        w->h[g] = falloc(rows, hid, &ok);
        w->dh[g] = falloc(rows, hid, &ok);
        w->e[g] = falloc(rows, m->emb, &ok);
        w->de[g] = falloc(rows, m->emb, &ok);
    }
    w->gmask = falloc(rows, m->ngroup, &ok);
    w->alpha = falloc(rows, m->ngroup, &ok);
    w->z = falloc(rows, mmdx__model_head_in(m), &ok);
    w->dz = falloc(rows, mmdx__model_head_in(m), &ok);
    w->g = falloc(rows, hh, &ok);
    w->dg = falloc(rows, hh, &ok);
    w->logit = falloc(rows, 1, &ok);
    w->dlogit = falloc(rows, 1, &ok);
    w->tmp = falloc(rows, rows + 4 * m->emb, &ok);
    if (ok) {
        w->idx = mmdx__malloc(rows * sizeof(size_t));
        ok = w->idx != NULL;
    }
    if (!ok) {
        mmdx__ws_fini(w, m);
        return mmdx__nomem(ctx);
    }
    return MMDX_OK;
}

void mmdx__ws_fini(struct mmdx__ws *w, const struct mmdx__model *m)
{
    size_t g;

    for (g = 0; g < m->ngroup; g++) {
        if (w->h)
            mmdx__free(w->h[g]);
        if (w->dh)
            mmdx__free(w->dh[g]);
        if (w->e)
            mmdx__free(w->e[g]);
        if (w->de)
            mmdx__free(w->de[g]);
    }
    mmdx__free(w->h);
    mmdx__free(w->dh);
    mmdx__free(w->e);
    mmdx__free(w->de);
    mmdx__free(w->gmask);
    mmdx__free(w->alpha);
    mmdx__free(w->z);
    mmdx__free(w->dz);
    mmdx__free(w->g);
    mmdx__free(w->dg);
    mmdx__free(w->logit);
    mmdx__free(w->dlogit);
    mmdx__free(w->tmp);
    mmdx__free(w->idx);
    memset(w, 0, sizeof(*w));
}

/* ---- standardisation ------------------------------------------------------ */

void mmdx__model_standardise(const struct mmdx__model *m, const float *raw,
                             size_t ld_raw, size_t rows, float *out,
                             unsigned char *mod_present)
{
    size_t b, k, j;

    for (b = 0; b < rows; b++) {
        const float *r = raw + b * ld_raw;
        float *o = out + b * m->nfeat;

        for (k = 0; k < m->nmod; k++) {
            size_t j0 = m->mod_start[k], j1 = j0 + m->mod_len[k];
            unsigned char any = 0;

            for (j = j0; j < j1; j++) {
                float v = r[j];

                if (isnan(v)) {
                    o[j] = 0.0f;
                    continue;
                }
                any = 1;
                v = (v - m->center[j]) / m->scale[j];
                o[j] = v > MMDX_FUSION_CLIP    ? MMDX_FUSION_CLIP
                       : v < -MMDX_FUSION_CLIP ? -MMDX_FUSION_CLIP
                                               : v;
            }
            if (mod_present)
                mod_present[b * m->nmod + k] = any;
        }
    }
}

void mmdx__model_group_mask(const struct mmdx__model *m,
                            const unsigned char *mod_present, size_t rows,
                            float *gmask)
{
    size_t b, g, k;

    for (b = 0; b < rows; b++)
        for (g = 0; g < m->ngroup; g++) {
            unsigned char any = 0;

            for (k = 0; k < m->grp_nmod[g]; k++)
                any |= mod_present[b * m->nmod + m->grp_mod0[g] + k];
            gmask[b * m->ngroup + g] = any ? 1.0f : 0.0f;
        }
}

/* ---- forward ------------------------------------------------------------- */

static void add_bias(float *y, size_t rows, size_t n, const float *bias,
                     bool relu)
{
    size_t b, j;

    for (b = 0; b < rows; b++) {
        float *r = y + b * n;

        for (j = 0; j < n; j++) {
            float v = r[j] + bias[j];

            r[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/*
 * Cross-modal interaction (Hadamard products): q = mean over the pairs of
 * present encoders g < h of e_g * e_h (elementwise), appended to the
 * fused vector so the head sees multiplicative cross-modal terms that a
 * mean of embeddings cannot express. q = 0 with fewer than two present.
 */
static void interact_forward(const struct mmdx__model *m, struct mmdx__ws *w,
                             size_t b, float *q)
{
    size_t g, h, d, D = m->emb, G = m->ngroup, npair = 0;
    const float *gm = w->gmask + b * G;

    for (d = 0; d < D; d++)
        q[d] = 0.0f;
    for (g = 0; g < G; g++)
        for (h = g + 1; h < G; h++) {
            const float *eg = w->e[g] + b * D, *eh = w->e[h] + b * D;

            if (gm[g] == 0.0f || gm[h] == 0.0f)
                continue;
            npair++;
            for (d = 0; d < D; d++)
                q[d] += eg[d] * eh[d];
        }
    if (npair > 1)
        for (d = 0; d < D; d++)
            q[d] /= (float)npair;
}

static void interact_backward(const struct mmdx__model *m, struct mmdx__ws *w,
                              size_t b, const float *dq)
{
    size_t g, h, d, D = m->emb, G = m->ngroup, npair = 0;
    const float *gm = w->gmask + b * G;
    float inv;

    for (g = 0; g < G; g++)
        for (h = g + 1; h < G; h++)
            npair += gm[g] != 0.0f && gm[h] != 0.0f;
    if (!npair)
        return;
    inv = 1.0f / (float)npair;
    for (g = 0; g < G; g++)
        for (h = g + 1; h < G; h++) {
            const float *eg = w->e[g] + b * D, *eh = w->e[h] + b * D;
            float *deg = w->de[g] + b * D, *deh = w->de[h] + b * D;

            if (gm[g] == 0.0f || gm[h] == 0.0f)
                continue;
            for (d = 0; d < D; d++) {
                deg[d] += dq[d] * eh[d] * inv;
                deh[d] += dq[d] * eg[d] * inv;
            }
        }
}

void mmdx__model_forward(const struct mmdx__model *m, struct mmdx__ws *w,
                         const float *x, size_t rows)
{
    const float *P = m->param;
    size_t g, b, d, G = m->ngroup, D = m->emb, HI = mmdx__model_head_in(m);

    assert(rows <= w->cap);
    for (g = 0; g < G; g++) {
        const float *xg = x + grp_col0(m, g);
        size_t in = grp_in(m, g);

        if (m->hid) {
            gemm(false, true, rows, m->hid, in, 1.0f, xg, m->nfeat,
                 P + m->o_w1[g], in, 0.0f, w->h[g], m->hid);
            add_bias(w->h[g], rows, m->hid, P + m->o_b1[g], true);
            gemm(false, true, rows, D, m->hid, 1.0f, w->h[g], m->hid,
                 P + m->o_w2[g], m->hid, 0.0f, w->e[g], D);
        } else {
            gemm(false, true, rows, D, in, 1.0f, xg, m->nfeat,
                 P + m->o_w2[g], in, 0.0f, w->e[g], D);
        }
        add_bias(w->e[g], rows, D, P + m->o_b2[g], false);
    }
    /* fusion weights over present groups */
    for (b = 0; b < rows; b++) {
        float *al = w->alpha + b * G;
        const float *gm = w->gmask + b * G;
        float sum = 0.0f, *z = w->z + b * HI;

        if (m->pool == MMDX_POOL_ATTENTION && G > 1) {
            float mx = -INFINITY;

            for (g = 0; g < G; g++) {
                if (gm[g] == 0.0f)
                    continue;
                al[g] = P[m->o_catt + g] +
                        dot(P + m->o_watt, w->e[g] + b * D, D);
                if (al[g] > mx)
                    mx = al[g];
            }
            for (g = 0; g < G; g++) {
                al[g] = gm[g] != 0.0f ? expf(al[g] - mx) : 0.0f;
                sum += al[g];
            }
        } else {
            for (g = 0; g < G; g++) {
                al[g] = gm[g];
                sum += al[g];
            }
        }
        for (g = 0; g < G; g++)
            al[g] = sum > 0.0f ? al[g] / sum : 0.0f;
        for (d = 0; d < D; d++)
            z[d] = 0.0f;
        for (g = 0; g < G; g++)
            if (al[g] != 0.0f)
                axpy(al[g], w->e[g] + b * D, z, D);
        if (m->inter)
            interact_forward(m, w, b, z + D);
    }
    /* head */
    if (m->head == MMDX_HEAD_MLP) {
        gemm(false, true, rows, m->head_hid, HI, 1.0f, w->z, HI,
             P + m->o_wh, HI, 0.0f, w->g, m->head_hid);
        add_bias(w->g, rows, m->head_hid, P + m->o_bh, true);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows,
                    (int)m->head_hid, 1.0f, w->g, (int)m->head_hid,
                    P + m->o_wo, 1, 0.0f, w->logit, 1);
        for (b = 0; b < rows; b++)
            w->logit[b] += P[m->o_bo];
    } else if (m->head == MMDX_HEAD_LINEAR) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)HI, 1.0f,
                    w->z, (int)HI, P + m->o_wo, 1, 0.0f, w->logit, 1);
        for (b = 0; b < rows; b++)
            w->logit[b] += P[m->o_bo];
    } else {
        for (b = 0; b < rows; b++)
            w->logit[b] = w->z[b * HI];
    }
}

/* ---- backward ------------------------------------------------------------ */

static void col_sum_add(const float *y, size_t rows, size_t n, float *out)
{
    size_t b, j;

    for (b = 0; b < rows; b++)
        for (j = 0; j < n; j++)
            out[j] += y[b * n + j];
}

void mmdx__model_backward_top(const struct mmdx__model *m, struct mmdx__ws *w,
                              size_t rows, float *grad)
{
    const float *P = m->param;
    size_t b, g, d, G = m->ngroup, D = m->emb, HI = mmdx__model_head_in(m);

    if (m->head == MMDX_HEAD_MLP) {
        size_t H = m->head_hid;

        for (b = 0; b < rows; b++) {
            float dl = w->dlogit[b];
            const float *gr = w->g + b * H;
            float *dgr = w->dg + b * H;
            size_t j;

            if (grad)
                grad[m->o_bo] += dl;
            for (j = 0; j < H; j++)
                dgr[j] = gr[j] > 0.0f ? dl * P[m->o_wo + j] : 0.0f;
        }
        if (grad) {
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)rows, (int)H, 1.0f,
                        w->g, (int)H, w->dlogit, 1, 1.0f, grad + m->o_wo, 1);
            gemm(true, false, H, HI, rows, 1.0f, w->dg, H, w->z, HI, 1.0f,
                 grad + m->o_wh, HI);
            col_sum_add(w->dg, rows, H, grad + m->o_bh);
        }
        gemm(false, false, rows, HI, H, 1.0f, w->dg, H, P + m->o_wh, HI,
             0.0f, w->dz, HI);
    } else if (m->head == MMDX_HEAD_LINEAR) {
        for (b = 0; b < rows; b++) {
            for (d = 0; d < HI; d++)
                w->dz[b * HI + d] = w->dlogit[b] * P[m->o_wo + d];
            if (grad)
                grad[m->o_bo] += w->dlogit[b];
        }
        if (grad)
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)rows, (int)HI, 1.0f,
                        w->z, (int)HI, w->dlogit, 1, 1.0f, grad + m->o_wo, 1);
    } else {
        for (b = 0; b < rows; b++)
            w->dz[b * HI] = w->dlogit[b];
    }
    /* fusion */
    for (b = 0; b < rows; b++) {
        const float *al = w->alpha + b * G, *dz = w->dz + b * HI;

        for (g = 0; g < G; g++) {
            float *de = w->de[g] + b * D;

            for (d = 0; d < D; d++)
                de[d] = al[g] * dz[d];
        }
        if (m->pool == MMDX_POOL_ATTENTION && G > 1) {
            float dots[MMDX_FUSION_MAX_MOD], s = 0.0f;

            for (g = 0; g < G; g++) {
                dots[g] = al[g] != 0.0f ? dot(dz, w->e[g] + b * D, D)
                                        : 0.0f;
                s += al[g] * dots[g];
            }
            for (g = 0; g < G; g++) {
                float ds = al[g] * (dots[g] - s);

                if (al[g] == 0.0f)
                    continue;
                axpy(ds, P + m->o_watt, w->de[g] + b * D, D);
                if (grad) {
                    axpy(ds, w->e[g] + b * D, grad + m->o_watt, D);
                    grad[m->o_catt + g] += ds;
                }
            }
        }
        if (m->inter)
            interact_backward(m, w, b, dz + D);
    }
}

void mmdx__model_backward_enc(const struct mmdx__model *m, struct mmdx__ws *w,
                              const float *x, size_t rows, float *grad,
                              float *dx)
{
    const float *P = m->param;
    size_t g, b, j, D = m->emb;

    for (g = 0; g < m->ngroup; g++) {
        const float *xg = x + grp_col0(m, g);
        size_t in = grp_in(m, g), H = m->hid;

        if (H) {
            if (grad) {
                gemm(true, false, D, H, rows, 1.0f, w->de[g], D, w->h[g], H,
                     1.0f, grad + m->o_w2[g], H);
                col_sum_add(w->de[g], rows, D, grad + m->o_b2[g]);
            }
            gemm(false, false, rows, H, D, 1.0f, w->de[g], D,
                 P + m->o_w2[g], H, 0.0f, w->dh[g], H);
            for (b = 0; b < rows; b++)
                for (j = 0; j < H; j++)
                    if (w->h[g][b * H + j] <= 0.0f)
                        w->dh[g][b * H + j] = 0.0f;
            if (grad) {
                gemm(true, false, H, in, rows, 1.0f, w->dh[g], H, xg,
                     m->nfeat, 1.0f, grad + m->o_w1[g], in);
                col_sum_add(w->dh[g], rows, H, grad + m->o_b1[g]);
            }
            if (dx)
                gemm(false, false, rows, in, H, 1.0f, w->dh[g], H,
                     P + m->o_w1[g], in, 0.0f, dx + grp_col0(m, g),
                     m->nfeat);
        } else {
            if (grad) {
                gemm(true, false, D, in, rows, 1.0f, w->de[g], D, xg,
                     m->nfeat, 1.0f, grad + m->o_w2[g], in);
                col_sum_add(w->de[g], rows, D, grad + m->o_b2[g]);
            }
            if (dx)
                gemm(false, false, rows, in, D, 1.0f, w->de[g], D,
                     P + m->o_w2[g], in, 0.0f, dx + grp_col0(m, g),
                     m->nfeat);
        }
    }
}

/* ---- cross-modal alignment -------------------------------------------------- */

/*
 * Symmetric InfoNCE between the L2-normalised embeddings of groups g and h
 * over the n rows where both are present: S = U_g U_h^T / t, loss = mean
 * cross-entropy of each row (and each column) against its own patient.
 */
static double align_pair(const struct mmdx__model *m, struct mmdx__ws *w,
                         size_t g, size_t h, size_t n, double temp,
                         double weight)
{
    size_t D = m->emb, i, j;
    float *S = w->tmp, *Ug = S + n * n, *Uh = Ug + n * D, *dUg = Uh + n * D,
          *dUh = dUg + n * D;
    float ng[MMDX_ALIGN_ROWS], nh[MMDX_ALIGN_ROWS];
    float inv_t = (float)(1.0 / temp);
    double loss = 0.0;

    assert(n <= MMDX_ALIGN_ROWS);
    for (i = 0; i < n; i++) {
        const float *eg = w->e[g] + w->idx[i] * D,
                    *eh = w->e[h] + w->idx[i] * D;

        ng[i] = cblas_snrm2((int)D, eg, 1) + 1e-6f;
        nh[i] = cblas_snrm2((int)D, eh, 1) + 1e-6f;
        for (j = 0; j < D; j++) {
            Ug[i * D + j] = eg[j] / ng[i];
            Uh[i * D + j] = eh[j] / nh[i];
        }
    }
    gemm(false, true, n, n, D, inv_t, Ug, D, Uh, D, 0.0f, S, n);
    /* dS = ((P_row - I) + (P_col - I)) / (2 n), built in place of S.
     * |S| <= 1/t because U rows are unit vectors, so exp(S) cannot
     * overflow for t >= 1e-2 (checked by the options) and no max shift
     * is needed; one exp per entry. */
    {
        float cinv[MMDX_ALIGN_ROWS];
        double colsum[MMDX_ALIGN_ROWS], lrow = 0.0, lcol = 0.0;
        float half_n = (float)(1.0 / (2.0 * (double)n));

        for (j = 0; j < n; j++)
            colsum[j] = 0.0;
        for (i = 0; i < n; i++) {
            float *Si = S + i * n;

            for (j = 0; j < n; j++) {
                Si[j] = expf(Si[j]);
                colsum[j] += Si[j];
            }
        }
        for (j = 0; j < n; j++)
            cinv[j] = (float)(1.0 / colsum[j]);
        for (i = 0; i < n; i++) {
            float *Si = S + i * n, rinv;
            double rowsum = 0.0;

            for (j = 0; j < n; j++)
                rowsum += Si[j];
            rinv = (float)(1.0 / rowsum);
            /* -log softmax at the diagonal, row-wise and column-wise */
            lrow += log(rowsum) - log((double)Si[i]);
            lcol += log(colsum[i]) - log((double)Si[i]);
            for (j = 0; j < n; j++)
                Si[j] = Si[j] * (rinv + cinv[j]) * half_n;
            Si[i] -= 2.0f * half_n;
        }
        loss = (lrow + lcol) / (2.0 * (double)n);
    }
    /* dU_g = dS U_h / t, dU_h = dS^T U_g / t */
    gemm(false, false, n, D, n, inv_t, S, n, Uh, D, 0.0f, dUg, D);
    gemm(true, false, n, D, n, inv_t, S, n, Ug, D, 0.0f, dUh, D);
    /* through the normalisation: de = (du - u (u.du)) / |e| */
    for (i = 0; i < n; i++) {
        float *deg = w->de[g] + w->idx[i] * D, *deh = w->de[h] + w->idx[i] * D;
        const float *ug = Ug + i * D, *uh = Uh + i * D;
        float *dug = dUg + i * D, *duh = dUh + i * D;
        float pg = cblas_sdot((int)D, ug, 1, dug, 1),
              ph = cblas_sdot((int)D, uh, 1, duh, 1);

        for (j = 0; j < D; j++) {
            deg[j] += (float)weight * (dug[j] - ug[j] * pg) / ng[i];
            deh[j] += (float)weight * (duh[j] - uh[j] * ph) / nh[i];
        }
    }
    return loss;
}

double mmdx__model_align(const struct mmdx__model *m, struct mmdx__ws *w,
                         size_t rows, double temperature, double weight)
{
    size_t g, h, b, n, npairs = 0, G = m->ngroup;
    double total = 0.0;

    if (G < 2 || m->emb < 2 || weight <= 0.0)
        return 0.0;
    for (g = 0; g < G; g++)
        for (h = g + 1; h < G; h++) {
            for (b = 0, n = 0; b < rows && n < MMDX_ALIGN_ROWS; b++)
                if (w->gmask[b * G + g] != 0.0f &&
                    w->gmask[b * G + h] != 0.0f)
                    w->idx[n++] = b;
            if (n < 2)
                continue;
            npairs++;
            total += align_pair(m, w, g, h, n, temperature, weight);
        }
    /* each pair's gradient was added at full weight; the reported loss is
     * the sum over pairs, matching the gradient */
    MMDX_UNUSED(npairs);
    return total;
}
