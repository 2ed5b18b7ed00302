/*
 * train.c - learning a fusion model: the join of features and labels, the
 * split, robust standardisation, mini-batch Adam with decoupled weight
 * decay, modality dropout, the class-weighted BCE plus cross-modal
 * alignment objective, early stopping on validation AUROC and Platt
 * calibration on the validation split.
 *
 * Determinism: every random draw comes from one xoshiro256** stream seeded
 * from the seed; OpenBLAS runs on one thread; nothing depends on time or
 * addresses, so one seed gives the same model file bit for bit.
 */
#include "core/common.h"
#include "fusion/fusion.h"

#include <cblas.h>
#include <time.h>

#define STAGE "fusion.train"

/* ---- random numbers ------------------------------------------------------ */

/* Uniform integer in [0, n). */
static size_t rng_below(struct mmdx_rng *r, size_t n)
{
    return (size_t)(mmdx__rng_unif(r) * (double)n);
}

static void shuffle(struct mmdx_rng *r, size_t *v, size_t n)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j = rng_below(r, i), t = v[i - 1];

        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ---- metrics ------------------------------------------------------------- */

struct scored {
    float s;
    signed char y;
};

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;

    return (x > y) - (x < y);
}

/* Rank-sum AUROC with ties averaged; NaN when a class is absent. */
double mmdx__auroc(const float *score, const signed char *y, size_t n)
{
    struct scored *v;
    size_t i, j, npos = 0, nneg = 0;
    double rsum = 0.0, auc;

    v = mmdx__malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return NAN;
    for (i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].y = y[i];
        if (y[i] == 1)
            npos++;
        else
            nneg++;
    }
    if (!npos || !nneg) {
        mmdx__free(v);
        return NAN;
    }
    qsort(v, n, sizeof(*v), cmp_scored);
    for (i = 0; i < n; i = j) {
        size_t k, pos = 0;
        double rank;

        for (j = i; j < n && v[j].s == v[i].s; j++)
            ;
        rank = ((double)i + 1.0 + (double)j) / 2.0;
        for (k = i; k < j; k++)
            pos += v[k].y == 1;
        rsum += rank * (double)pos;
    }
    auc = (rsum - (double)npos * ((double)npos + 1.0) / 2.0) /
          ((double)npos * (double)nneg);
    mmdx__free(v);
    return auc;
}

/* Platt's method with his smoothed targets, Newton steps with backtracking
 * on the negative log-likelihood. */
void mmdx__platt_fit(const float *s, const signed char *y, size_t n,
                     double *a, double *b)
{
    double np = 0, nn = 0, tp, tn, A = 1.0, B = 0.0, f = 0.0;
    size_t i;
    int it;

    for (i = 0; i < n; i++) {
        if (y[i] == 1)
            np++;
        else
            nn++;
    }
    *a = 1.0;
    *b = 0.0;
    if (np == 0 || nn == 0)
        return;
    tp = (np + 1.0) / (np + 2.0);
    tn = 1.0 / (nn + 2.0);
    for (i = 0; i < n; i++) {
        double t = y[i] == 1 ? tp : tn, z = A * s[i] + B;

        f += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - t * z;
    }
    for (it = 0; it < 100; it++) {
        double h11 = 1e-12, h22 = 1e-12, h21 = 0, g1 = 0, g2 = 0, det, dA,
               dB, step = 1.0;

        for (i = 0; i < n; i++) {
            double t = y[i] == 1 ? tp : tn, z = A * s[i] + B;
            double p = 1.0 / (1.0 + exp(-z)), d = p * (1.0 - p);

            g1 += (p - t) * s[i];
            g2 += p - t;
            h11 += d * s[i] * s[i];
            h22 += d;
            h21 += d * s[i];
        }
        if (fabs(g1) < 1e-9 && fabs(g2) < 1e-9)
            break;
        det = h11 * h22 - h21 * h21;
        if (!(det > 0))
            break;
        dA = -(h22 * g1 - h21 * g2) / det;
        dB = -(-h21 * g1 + h11 * g2) / det;
        for (; step > 1e-10; step /= 2) {
            double nf = 0.0, nA = A + step * dA, nB = B + step * dB;

            for (i = 0; i < n; i++) {
                double t = y[i] == 1 ? tp : tn, z = nA * s[i] + nB;

                nf += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - t * z;
            }
            if (nf < f + 1e-4 * step * (g1 * dA + g2 * dB)) {
                A = nA;
                B = nB;
                f = nf;
                break;
            }
        }
        if (step <= 1e-10)
            break;
    }
    *a = A;
    *b = B;
}

/* ---- robust standardisation ------------------------------------------------ */

/*
 * center = median; scale = IQR / 1.349 (the standard deviation of a normal
 * with that IQR); when the IQR is 0 (a mostly constant or binary feature)
 * the mean absolute deviation * 1.2533, and 1 when that is 0 too.
 */
static void robust_stats(const float *x, size_t ld, const size_t *rows,
                         size_t nrows, size_t col, float *buf, float *center,
                         float *scale)
{
    size_t i, n = 0;
    float q1, q2, q3, s;
    double mad = 0.0;

    for (i = 0; i < nrows; i++) {
        float v = x[rows[i] * ld + col];

        if (!isnan(v))
            buf[n++] = v;
    }
    if (n == 0) {
        *center = 0.0f;
        *scale = 1.0f;
        return;
    }
    /* after selecting the median, buf[0..k2) <= q2 <= buf(k2..n), so the
     * quartiles are selected within each half */
    {
        size_t k2 = (n - 1) / 2, k1 = (n - 1) / 4, k3 = (3 * (n - 1)) / 4;

        q2 = mmdx__select_float(buf, n, k2);
        q1 = k1 < k2 ? mmdx__select_float(buf, k2, k1) : q2;
        q3 = k3 > k2 ? mmdx__select_float(buf + k2 + 1, n - k2 - 1,
                                          k3 - k2 - 1)
                     : q2;
    }
    s = (q3 - q1) / 1.349f;
    if (!(s > 0.0f) || !isfinite(s)) {
        for (i = 0; i < n; i++)
            mad += fabs((double)buf[i] - (double)q2);
        s = (float)(mad / (double)n * 1.2533);
        if (!(s > 0.0f) || !isfinite(s))
            s = 1.0f;
    }
    *center = q2;
    *scale = s;
}

/* ---- options ----------------------------------------------------------------- */

void mmdx_fusion_train_opts_init(struct mmdx_fusion_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->epochs = 60;
    o->patience = 5;
    o->batch = 256;
    o->lr = 1e-2;
    o->weight_decay = 0.05;
    o->align_weight = 0.05;
    o->ema = 0.99;
    o->interactions = 1;
    o->l1 = 1e-3;
    o->temperature = 0.2;
    o->mod_dropout = 0.15;
    o->valid_frac = 0.15;
    o->test_frac = 0.15;
    o->hidden = 0;
    o->embed = 8;
    o->head_hidden = 32;
    o->arch = "joint";
    o->pool = "mean";
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread (training is single-threaded), s: comparable
 * across runs on a loaded machine where wall time is not. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- model set-up from a table ------------------------------------------ */

static int cmp_idx_name(const void *a, const void *b, void *names)
{
    char **n = names;

    return strcmp(n[*(const size_t *)a], n[*(const size_t *)b]);
}

static size_t mod_prefix_len(const char *name)
{
    const char *dot = strchr(name, '.');

    return dot ? (size_t)(dot - name) : strlen(name);
}

/*
 * Choose the model's columns from the table's names (sorted; for
 * single:<m> only modality m) and fill modalities and groups. col_of[k] =
 * table column of model column k.
 */
static enum mmdx_status model_from_names(struct mmdx_ctx *ctx,
                                         struct mmdx__model *m,
                                         char *const *names, size_t n,
                                         uint32_t arch, const char *only,
                                         size_t **col_of)
{
    size_t *ord, i, k, nm = 0;

    *col_of = NULL;
    ord = mmdx__malloc((n ? n : 1) * sizeof(size_t));
    if (!ord)
        return mmdx__nomem(ctx);
    for (i = 0, k = 0; i < n; i++) {
        if (only && (mod_prefix_len(names[i]) != strlen(only) ||
                     strncmp(names[i], only, strlen(only))))
            continue;
        ord[k++] = i;
    }
    if (k == 0) {
        mmdx__free(ord);
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, NULL, 0, "arch",
                          only ? "no feature of modality '%s' in the table"
                               : "the table has no feature column%s",
                          only ? only : "");
    }
    qsort_r(ord, k, sizeof(size_t), cmp_idx_name, (void *)names);
    m->nfeat = k;
    m->feat_names = mmdx__calloc(k, sizeof(char *));
    m->center = mmdx__calloc(k, sizeof(float));
    m->scale = mmdx__calloc(k, sizeof(float));
    m->mod_names = mmdx__calloc(MMDX_FUSION_MAX_MOD, sizeof(char *));
    m->mod_start = mmdx__calloc(MMDX_FUSION_MAX_MOD, sizeof(size_t));
    m->mod_len = mmdx__calloc(MMDX_FUSION_MAX_MOD, sizeof(size_t));
    m->grp_mod0 = mmdx__calloc(MMDX_FUSION_MAX_MOD, sizeof(size_t));
    m->grp_nmod = mmdx__calloc(MMDX_FUSION_MAX_MOD, sizeof(size_t));
    if (!m->feat_names || !m->center || !m->scale || !m->mod_names ||
        !m->mod_start || !m->mod_len || !m->grp_mod0 || !m->grp_nmod) {
        mmdx__free(ord);
        return mmdx__nomem(ctx);
    }
    for (i = 0; i < k; i++) {
        const char *nm_i = names[ord[i]];
        size_t pl = mod_prefix_len(nm_i);

        m->feat_names[i] = mmdx__strdup(nm_i);
        if (!m->feat_names[i]) {
            mmdx__free(ord);
            return mmdx__nomem(ctx);
        }
        if (nm == 0 || strlen(m->mod_names[nm - 1]) != pl ||
            strncmp(m->mod_names[nm - 1], nm_i, pl)) {
            if (nm == MMDX_FUSION_MAX_MOD) {
                mmdx__free(ord);
                return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, NULL, 0, NULL,
                                  "more than %d modalities",
                                  MMDX_FUSION_MAX_MOD);
            }
            m->mod_names[nm] = mmdx__strndup(nm_i, pl);
            if (!m->mod_names[nm]) {
                mmdx__free(ord);
                return mmdx__nomem(ctx);
            }
            m->mod_start[nm] = i;
            nm++;
            m->nmod = nm;
        }
        m->mod_len[nm - 1]++;
    }
    m->nmod = nm;
    if (arch == MMDX_ARCH_EARLY) {
        m->ngroup = 1;
        m->grp_mod0[0] = 0;
        m->grp_nmod[0] = nm;
    } else {
        m->ngroup = nm;
        for (i = 0; i < nm; i++) {
            m->grp_mod0[i] = i;
            m->grp_nmod[i] = 1;
        }
    }
    *col_of = ord;
    return MMDX_OK;
}

/* ---- training ------------------------------------------------------------ */

struct trainer {
    struct mmdx_ctx *ctx;
    const struct mmdx_fusion_train_opts *o;
    struct mmdx__model *m;
    size_t n;                   /* usable rows */
    float *xs;                  /* n x nfeat standardised */
    unsigned char *pres;        /* n x nmod */
    signed char *y;             /* n */
    signed char *split;         /* n */
    size_t *tr, ntr, *va, nva, *te, nte;
};

static void init_params(struct mmdx__model *m, struct mmdx_rng *r)
{
    float *P = m->param;
    size_t g, i;

#define UNIF(off, count, lim)                                                 \
    for (i = 0; i < (count); i++)                                             \
        P[(off) + i] = (float)((2.0 * mmdx__rng_unif(r) - 1.0) * (lim))
    for (g = 0; g < m->ngroup; g++) {
        size_t in = 0, k;

        for (k = 0; k < m->grp_nmod[g]; k++)
            in += m->mod_len[m->grp_mod0[g] + k];
        if (m->hid) {
            UNIF(m->o_w1[g], m->hid * in, sqrt(6.0 / (double)in));
            UNIF(m->o_w2[g], m->emb * m->hid,
                 sqrt(6.0 / (double)(m->hid + m->emb)));
        } else {
            UNIF(m->o_w2[g], m->emb * in, sqrt(6.0 / (double)(in + m->emb)));
        }
    }
    if (m->head == MMDX_HEAD_MLP) {
        UNIF(m->o_wh, m->head_hid * mmdx__model_head_in(m),
             sqrt(6.0 / (double)mmdx__model_head_in(m)));
        UNIF(m->o_wo, m->head_hid, sqrt(6.0 / (double)(m->head_hid + 1)));
    } else if (m->head == MMDX_HEAD_LINEAR) {
        UNIF(m->o_wo, mmdx__model_head_in(m),
             sqrt(6.0 / (double)(mmdx__model_head_in(m) + 1)));
    }
#undef UNIF
}

/* Logits of rows idx[0..n) (no dropout) into out. */
static void eval_logits(const struct trainer *t, struct mmdx__ws *w,
                        const size_t *idx, size_t n, float *xb, float *out)
{
    const struct mmdx__model *m = t->m;
    size_t i, b;

    for (i = 0; i < n; i += w->cap) {
        size_t rows = n - i < w->cap ? n - i : w->cap;

        for (b = 0; b < rows; b++) {
            size_t r = idx[i + b], g, k;

            memcpy(xb + b * m->nfeat, t->xs + r * m->nfeat,
                   m->nfeat * sizeof(float));
            for (g = 0; g < m->ngroup; g++) {
                unsigned char any = 0;

                for (k = 0; k < m->grp_nmod[g]; k++)
                    any |= t->pres[r * m->nmod + m->grp_mod0[g] + k];
                w->gmask[b * m->ngroup + g] = any ? 1.0f : 0.0f;
            }
        }
        mmdx__model_forward(m, w, xb, rows);
        memcpy(out + i, w->logit, rows * sizeof(float));
    }
}

static double bce(float z, int y, double wpos, double wneg)
{
    double l = z > 0 ? z + log1p(exp(-(double)z)) : log1p(exp((double)z));

    return y ? wpos * (l - z) : wneg * l;
}

static enum mmdx_status run_training(struct trainer *t,
                                     mmdx_fusion_progress_fn progress,
                                     void *user,
                                     struct mmdx_fusion_summary *sum)
{
    const struct mmdx_fusion_train_opts *o = t->o;
    struct mmdx__model *m = t->m;
    struct mmdx__ws w;
    struct mmdx_rng r;
    size_t B = o->batch, np = m->nparam, i, b, k, npos = 0;
    float *grad = NULL, *am = NULL, *av = NULL, *best = NULL, *xb = NULL,
          *vl = NULL, *ema = NULL, *live = NULL;
    double lr = o->lr;
    signed char *vy = NULL;
    unsigned char *pb = NULL;
    size_t *order = NULL;
    double wpos, wneg, best_auc = -1.0, t0 = now_s(), c0 = cpu_s(),
           b1t = 1.0, b2t = 1.0;
    unsigned epoch, since = 0;
    unsigned long step = 0;
    enum mmdx_status st;

    mmdx__rng_seed(&r, o->seed);
    init_params(m, &r);
    st = mmdx__ws_init(t->ctx, &w, m, B);
    if (st)
        return st;
    grad = mmdx__calloc(np, sizeof(float));
    am = mmdx__calloc(np, sizeof(float));
    av = mmdx__calloc(np, sizeof(float));
    best = mmdx__calloc(np, sizeof(float));
    ema = mmdx__calloc(np, sizeof(float));
    live = mmdx__calloc(np, sizeof(float));
    xb = mmdx__malloc(B * m->nfeat * sizeof(float));
    pb = mmdx__malloc(B * m->nmod);
    order = mmdx__malloc(t->ntr * sizeof(size_t));
    vl = mmdx__malloc((t->nva + t->ntr + t->nte + 1) * sizeof(float));
    vy = mmdx__malloc(t->nva + t->ntr + t->nte + 1);
    if (!grad || !am || !av || !best || !ema || !live || !xb || !pb ||
        !order || !vl || !vy) {
        st = mmdx__nomem(t->ctx);
        goto out;
    }
    memcpy(best, m->param, np * sizeof(float));
    memcpy(ema, m->param, np * sizeof(float));
    memcpy(order, t->tr, t->ntr * sizeof(size_t));
    for (i = 0; i < t->ntr; i++)
        npos += t->y[t->tr[i]] == 1;
    wpos = (double)t->ntr / (2.0 * (double)npos);
    wneg = (double)t->ntr / (2.0 * (double)(t->ntr - npos));
    for (i = 0; i < t->nva; i++)
        vy[i] = t->y[t->va[i]];

    for (epoch = 1; epoch <= o->epochs; epoch++) {
        double loss_sum = 0.0, align_sum = 0.0, vloss = 0.0, auc;
        struct mmdx_fusion_progress pr;
        size_t nb = 0;

        shuffle(&r, order, t->ntr);
        for (i = 0; i < t->ntr; i += B) {
            size_t rows = t->ntr - i < B ? t->ntr - i : B;
            double bl = 0.0;

            for (b = 0; b < rows; b++) {
                size_t row = order[i + b], kept = 0, present = 0;
                unsigned char *p = pb + b * m->nmod;

                memcpy(xb + b * m->nfeat, t->xs + row * m->nfeat,
                       m->nfeat * sizeof(float));
                memcpy(p, t->pres + row * m->nmod, m->nmod);
                /* modality dropout; keep at least one present modality */
                for (k = 0; k < m->nmod; k++) {
                    if (!p[k])
                        continue;
                    present++;
                    if (o->mod_dropout > 0 && mmdx__rng_unif(&r) < o->mod_dropout)
                        p[k] = 2;   /* marked for dropping */
                    else
                        kept++;
                }
                if (present && !kept) {
                    size_t keep = rng_below(&r, present), c = 0;

                    for (k = 0; k < m->nmod; k++)
                        if (p[k] == 2 && c++ == keep)
                            p[k] = 1;
                }
                for (k = 0; k < m->nmod; k++)
                    if (p[k] == 2) {
                        p[k] = 0;
                        memset(xb + b * m->nfeat + m->mod_start[k], 0,
                               m->mod_len[k] * sizeof(float));
                    }
            }
            mmdx__model_group_mask(m, pb, rows, w.gmask);
            mmdx__model_forward(m, &w, xb, rows);
            for (b = 0; b < rows; b++) {
                int y = t->y[order[i + b]] == 1;
                float z = w.logit[b];
                double p = 1.0 / (1.0 + exp(-(double)z));

                bl += bce(z, y, wpos, wneg);
                w.dlogit[b] = (float)((y ? wpos : wneg) * (p - y) /
                                      (double)rows);
            }
            loss_sum += bl / (double)rows;
            memset(grad, 0, np * sizeof(float));
            mmdx__model_backward_top(m, &w, rows, grad);
            align_sum += mmdx__model_align(m, &w, rows, o->temperature,
                                           o->align_weight);
            mmdx__model_backward_enc(m, &w, xb, rows, grad, NULL);
            /* L1 on the encoders' input weights: most features carry no
             * signal, and a sparse first layer ignores them */
            if (o->l1 > 0) {
                size_t g2;

                for (g2 = 0; g2 < m->ngroup; g2++) {
                    size_t off = m->hid ? m->o_w1[g2] : m->o_w2[g2],
                           cnt = m->hid ? m->o_b1[g2] - off
                                        : m->o_b2[g2] - off;

                    for (k = off; k < off + cnt; k++)
                        grad[k] += m->param[k] > 0   ? (float)o->l1
                                   : m->param[k] < 0 ? -(float)o->l1
                                                     : 0.0f;
                }
            }
            /* Adam with decoupled weight decay */
            step++;
            b1t *= 0.9;
            b2t *= 0.999;
            {
                float flr = (float)lr, wd = (float)o->weight_decay;
                /* Polyak average of the iterates, warmed up */
                float eb = (float)fmin(o->ema, (1.0 + (double)step) /
                                                   (10.0 + (double)step));
                float c1 = (float)(1.0 / (1.0 - b1t)),
                      c2 = (float)(1.0 / (1.0 - b2t));
                float *P = m->param;

                for (k = 0; k < np; k++) {
                    float gk = grad[k];

                    am[k] = 0.9f * am[k] + 0.1f * gk;
                    av[k] = 0.999f * av[k] + 0.001f * gk * gk;
                    P[k] -= flr * (am[k] * c1 / (sqrtf(av[k] * c2) + 1e-8f) +
                                   wd * P[k]);
                    ema[k] = eb * ema[k] + (1.0f - eb) * P[k];
                }
            }
            nb++;
        }
        /* validate the averaged weights */
        memcpy(live, m->param, np * sizeof(float));
        if (o->ema > 0)
            memcpy(m->param, ema, np * sizeof(float));
        eval_logits(t, &w, t->va, t->nva, xb, vl);
        for (i = 0; i < t->nva; i++)
            vloss += bce(vl[i], vy[i] == 1, wpos, wneg);
        vloss /= (double)(t->nva ? t->nva : 1);
        auc = mmdx__auroc(vl, vy, t->nva);
        memset(&pr, 0, sizeof(pr));
        pr.epoch = epoch;
        pr.train_loss = loss_sum / (double)(nb ? nb : 1);
        pr.align_loss = align_sum / (double)(nb ? nb : 1);
        pr.valid_loss = vloss;
        pr.valid_auroc = auc;
        pr.seconds = now_s() - t0;
        pr.cpu_seconds = cpu_s() - c0;
        if (auc > best_auc + 1e-5 || best_auc < 0) {
            best_auc = auc;
            memcpy(best, m->param, np * sizeof(float));
            m->prov.best_epoch = epoch;
            since = 0;
            pr.best = 1;
        } else {
            since++;
            /* halve the step after two epochs without gain */
            if (since % 2 == 0)
                lr *= 0.5;
        }
        memcpy(m->param, live, np * sizeof(float));
        m->prov.epochs = epoch;
        if (progress)
            progress(user, &pr);
        if (!isfinite(pr.train_loss)) {
            st = mmdx__fail(t->ctx, MMDX_E_INTERNAL, STAGE, NULL, 0, NULL,
                            "training diverged at epoch %u (loss not "
                            "finite); lower --lr", epoch);
            goto out;
        }
        if (since >= o->patience)
            break;
    }
    memcpy(m->param, best, np * sizeof(float));

    /* calibration and metrics */
    eval_logits(t, &w, t->va, t->nva, xb, vl);
    mmdx__platt_fit(vl, vy, t->nva, &m->platt_a, &m->platt_b);
    m->prov.auroc_valid = mmdx__auroc(vl, vy, t->nva);
    eval_logits(t, &w, t->tr, t->ntr, xb, vl);
    for (i = 0; i < t->ntr; i++)
        vy[i] = t->y[t->tr[i]];
    m->prov.auroc_train = mmdx__auroc(vl, vy, t->ntr);
    m->prov.auroc_test = NAN;
    if (t->nte) {
        eval_logits(t, &w, t->te, t->nte, xb, vl);
        for (i = 0; i < t->nte; i++)
            vy[i] = t->y[t->te[i]];
        m->prov.auroc_test = mmdx__auroc(vl, vy, t->nte);
    }
    m->prior = (double)npos / (double)t->ntr;
    m->band_lo = m->prior / 2.0;
    m->band_hi = fmin(2.0 * m->prior, (1.0 + m->prior) / 2.0);
    if (sum) {
        sum->epochs = m->prov.epochs;
        sum->best_epoch = m->prov.best_epoch;
        sum->auroc_train = m->prov.auroc_train;
        sum->auroc_valid = m->prov.auroc_valid;
        sum->auroc_test = m->prov.auroc_test;
        sum->train_seconds = now_s() - t0;
        sum->train_cpu_seconds = cpu_s() - c0;
    }
out:
    mmdx__ws_fini(&w, m);
    mmdx__free(grad);
    mmdx__free(am);
    mmdx__free(av);
    mmdx__free(best);
    mmdx__free(ema);
    mmdx__free(live);
    mmdx__free(xb);
    mmdx__free(pb);
    mmdx__free(order);
    mmdx__free(vl);
    mmdx__free(vy);
    return st;
}

/* Parse arch/pool options into the model. */
static enum mmdx_status set_arch(struct mmdx_ctx *ctx,
                                 const struct mmdx_fusion_train_opts *o,
                                 struct mmdx__model *m, const char **only)
{
    const char *a = o->arch ? o->arch : "joint";

    *only = NULL;
    if (!strcmp(a, "joint"))
        m->arch = MMDX_ARCH_JOINT;
    else if (!strcmp(a, "early"))
        m->arch = MMDX_ARCH_EARLY;
    else if (!strcmp(a, "late"))
        m->arch = MMDX_ARCH_LATE;
    else if (!strncmp(a, "single:", 7) && a[7]) {
        m->arch = MMDX_ARCH_SINGLE;
        *only = a + 7;
    } else
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, NULL, 0, "arch",
                          "unknown architecture '%s' (joint, early, late, "
                          "single:<modality>)", a);
    if (!o->pool || !strcmp(o->pool, "mean"))
        m->pool = MMDX_POOL_MEAN;
    else if (!strcmp(o->pool, "attention"))
        m->pool = MMDX_POOL_ATTENTION;
    else
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, NULL, 0, "pool",
                          "unknown pooling '%s' (mean, attention)", o->pool);
    if (o->batch < 2 || o->batch > 4096 || o->epochs < 1 ||
        o->hidden > MMDX_FUSION_MAX_WIDTH || o->embed < 1 ||
        o->embed > MMDX_FUSION_MAX_WIDTH || o->head_hidden < 1 ||
        o->head_hidden > MMDX_FUSION_MAX_WIDTH || !(o->lr > 0) ||
        !(o->weight_decay >= 0) || !(o->align_weight >= 0) ||
        !(o->temperature >= 0.02) || !(o->mod_dropout >= 0 &&
                                   o->mod_dropout < 1) || !(o->ema >= 0 && o->ema < 1) || !(o->l1 >= 0) ||
        !(o->valid_frac > 0 && o->test_frac >= 0 &&
          o->valid_frac + o->test_frac < 0.9))
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, NULL, 0, NULL,
                          "training option out of range");
    switch (m->arch) {
    case MMDX_ARCH_EARLY:       /* logistic regression on all features */
        m->hid = 0;
        m->emb = 1;
        m->head = MMDX_HEAD_IDENTITY;
        m->pool = MMDX_POOL_MEAN;
        break;
    case MMDX_ARCH_LATE:        /* per-modality MLP logits, averaged */
        m->hid = o->hidden;
        m->emb = 1;
        m->head = MMDX_HEAD_IDENTITY;
        m->pool = MMDX_POOL_MEAN;
        break;
    default:
        m->hid = o->hidden;
        m->emb = o->embed;
        m->head_hid = o->head_hidden;
        m->head = MMDX_HEAD_MLP;
        m->inter = m->arch == MMDX_ARCH_JOINT && o->interactions;
        break;
    }
    return MMDX_OK;
}

/*
 * The split: the labels' split column when it has one (rows without a
 * split count as train); else a seeded stratified split. Without
 * validation rows, a stratified share of the training rows becomes the
 * validation split. Test rows are only ever evaluated.
 */
static enum mmdx_status make_split(struct trainer *t, bool has_split,
                                   struct mmdx_rng *r)
{
    const struct mmdx_fusion_train_opts *o = t->o;
    size_t i, c, ntr = 0, nva = 0, nte = 0;
    bool have_valid;

    t->tr = mmdx__malloc((t->n + 1) * sizeof(size_t));
    t->va = mmdx__malloc((t->n + 1) * sizeof(size_t));
    t->te = mmdx__malloc((t->n + 1) * sizeof(size_t));
    if (!t->tr || !t->va || !t->te)
        return mmdx__nomem(t->ctx);
    if (has_split) {
        for (i = 0; i < t->n; i++) {
            if (t->split[i] == MMDX_SPLIT_TEST)
                t->te[nte++] = i;
            else if (t->split[i] == MMDX_SPLIT_VALID)
                t->va[nva++] = i;
        }
    }
    have_valid = nva > 0;
    for (c = 0; c < 2; c++) {
        size_t *cls, nc = 0, ntest, nval;

        cls = mmdx__malloc((t->n + 1) * sizeof(size_t));
        if (!cls)
            return mmdx__nomem(t->ctx);
        for (i = 0; i < t->n; i++)
            if (t->y[i] == (signed char)c &&
                (!has_split || (t->split[i] != MMDX_SPLIT_TEST &&
                                t->split[i] != MMDX_SPLIT_VALID)))
                cls[nc++] = i;
        shuffle(r, cls, nc);
        ntest = has_split ? 0 : (size_t)floor((double)nc * o->test_frac);
        nval = have_valid
                   ? 0
                   : (size_t)floor((double)nc * o->valid_frac);
        for (i = 0; i < nc; i++) {
            if (i < ntest)
                t->te[nte++] = cls[i];
            else if (i < ntest + nval)
                t->va[nva++] = cls[i];
            else
                t->tr[ntr++] = cls[i];
        }
        mmdx__free(cls);
    }
    t->ntr = ntr;
    t->nva = nva;
    t->nte = nte;
    return MMDX_OK;
}

static void trainer_fini(struct trainer *t)
{
    mmdx__free(t->xs);
    mmdx__free(t->pres);
    mmdx__free(t->y);
    mmdx__free(t->split);
    mmdx__free(t->tr);
    mmdx__free(t->va);
    mmdx__free(t->te);
}

static bool both_classes(const struct trainer *t, const size_t *idx, size_t n)
{
    size_t i, pos = 0;

    for (i = 0; i < n; i++)
        pos += t->y[idx[i]] == 1;
    return pos > 0 && pos < n;
}

enum mmdx_status mmdx_fusion_train(struct mmdx_ctx *ctx,
                                   const char *features_path,
                                   const char *labels_path,
                                   const char *out_path,
                                   const struct mmdx_fusion_train_opts *opts,
                                   mmdx_fusion_progress_fn progress,
                                   void *user,
                                   struct mmdx_fusion_summary *sum)
{
    struct mmdx_fusion_train_opts defo;
    struct mmdx__ftab tab;
    struct mmdx__labels lab;
    struct mmdx__idmap lmap, tmap;
    struct mmdx__model m;
    struct trainer t;
    struct mmdx_fusion_summary s;
    struct mmdx_rng r;
    size_t *col_of = NULL, *used = NULL, i, k, dup;
    const char *only;
    float *buf = NULL;
    double t0 = now_s(), c0 = cpu_s();
    enum mmdx_status st;

    if (!opts) {
        mmdx_fusion_train_opts_init(&defo);
        opts = &defo;
    }
    openblas_set_num_threads(1);
    memset(&tab, 0, sizeof(tab));
    memset(&lab, 0, sizeof(lab));
    memset(&lmap, 0, sizeof(lmap));
    memset(&tmap, 0, sizeof(tmap));
    memset(&m, 0, sizeof(m));
    memset(&t, 0, sizeof(t));
    memset(&s, 0, sizeof(s));
    t.ctx = ctx;
    t.o = opts;
    t.m = &m;

    st = set_arch(ctx, opts, &m, &only);
    if (!st)
        st = mmdx__ftab_load_hashed(ctx, features_path, &tab,
                                    m.prov.features_sha256);
    if (!st)
        st = mmdx__labels_load(ctx, labels_path, &lab);
    if (st)
        goto out;
    s.read_seconds = now_s() - t0;
    s.read_cpu_seconds = cpu_s() - c0;
    st = model_from_names(ctx, &m, tab.names, tab.ncols, m.arch, only,
                          &col_of);
    if (st)
        goto out;
    if (m.arch == MMDX_ARCH_LATE && m.nmod < 2)
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "late fusion over a single modality");
    if (mmdx__idmap_build(&lmap, &lab.ids, &dup)) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    if (dup != SIZE_MAX) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, labels_path,
                        (long)dup + 2, "patient_id",
                        "patient_id appears twice");
        goto out;
    }
    if (mmdx__idmap_build(&tmap, &tab.ids, &dup)) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    if (dup != SIZE_MAX) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, features_path, 0,
                        "patient_id", "patient_id appears twice (row %zu)",
                        dup + 1);
        goto out;
    }
    for (i = 0; i < lab.ids.n; i++)
        if (lab.label[i] >= 0 &&
            mmdx__idmap_find(&tmap, mmdx__idpool_get(&lab.ids, i)) ==
                SIZE_MAX)
            s.n_no_features++;

    /* the usable rows: labelled, with at least one model feature */
    used = mmdx__malloc((tab.nrows + 1) * sizeof(size_t));
    t.y = mmdx__malloc(tab.nrows + 1);
    t.split = mmdx__malloc(tab.nrows + 1);
    if (!used || !t.y || !t.split) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < tab.nrows; i++) {
        size_t li = mmdx__idmap_find(&lmap, mmdx__idpool_get(&tab.ids, i));
        const float *row = tab.x + i * tab.ncols;
        bool any = false;

        if (li == SIZE_MAX || lab.label[li] < 0) {
            s.n_unlabelled++;
            continue;
        }
        for (k = 0; k < m.nfeat && !any; k++)
            any = !isnan(row[col_of[k]]);
        if (!any) {
            s.n_no_features++;
            continue;
        }
        used[t.n] = i;
        t.y[t.n] = lab.label[li];
        t.split[t.n] = lab.split[li];
        t.n++;
    }
    mmdx__rng_seed(&r, opts->seed ^ 0x5eed5eed5eed5eedULL);
    st = make_split(&t, lab.has_split, &r);
    if (st)
        goto out;
    if (t.ntr < 10 || !both_classes(&t, t.tr, t.ntr) || t.nva < 4 ||
        !both_classes(&t, t.va, t.nva)) {
        st = mmdx__fail(ctx, MMDX_E_MISSING, STAGE, labels_path, 0, "label",
                        "too few labelled patients: %zu training and %zu "
                        "validation, each needs both classes", t.ntr,
                        t.nva);
        goto out;
    }

    /* raw values in model order, robust statistics on training rows,
     * then standardised in place */
    st = mmdx__model_layout(ctx, &m);
    if (st)
        goto out;
    {
        size_t bytes;

        if (!mmdx__mul_size(t.n ? t.n : 1, m.nfeat * sizeof(float),
                            &bytes) ||
            !(t.xs = mmdx__malloc(bytes)) ||
            !(t.pres = mmdx__malloc((t.n ? t.n : 1) * m.nmod)) ||
            !(buf = mmdx__malloc((t.ntr + 1) * sizeof(float)))) {
            st = mmdx__nomem(ctx);
            goto out;
        }
    }
    for (i = 0; i < t.n; i++) {
        const float *row = tab.x + used[i] * tab.ncols;
        float *o = t.xs + i * m.nfeat;

        for (k = 0; k < m.nfeat; k++)
            o[k] = row[col_of[k]];
    }
    for (k = 0; k < m.nfeat; k++)
        robust_stats(t.xs, m.nfeat, t.tr, t.ntr, k, buf, &m.center[k],
                     &m.scale[k]);
    mmdx__model_standardise(&m, t.xs, m.nfeat, t.n, t.xs, t.pres);
    mmdx__ftab_fini(&tab);          /* the raw table is no longer needed */

    /* provenance */
    st = mmdx__sha256_path(ctx, labels_path, m.prov.labels_sha256);
    if (st)
        goto out;
    mmdx__strlcpy(m.prov.version, mmdx_version(), sizeof(m.prov.version));
    m.prov.seed = opts->seed;
    m.prov.n_train = t.ntr;
    m.prov.n_valid = t.nva;
    m.prov.n_test = t.nte;
    m.prov.lr = opts->lr;
    m.prov.weight_decay = opts->weight_decay;
    m.prov.align_weight = opts->align_weight;
    m.prov.mod_dropout = opts->mod_dropout;
    m.prov.batch = opts->batch;
    m.prov.patience = opts->patience;
    s.n_train = t.ntr;
    s.n_valid = t.nva;
    s.n_test = t.nte;

    st = run_training(&t, progress, user, &s);
    if (!st)
        st = mmdx__model_save(ctx, &m, out_path);
    if (!st)
        mmdx__strlcpy(s.model_sha256, m.sha256, sizeof(s.model_sha256));
out:
    if (sum)
        *sum = s;
    mmdx__free(buf);
    mmdx__free(used);
    mmdx__free(col_of);
    trainer_fini(&t);
    mmdx__model_fini(&m);
    mmdx__idmap_fini(&lmap);
    mmdx__idmap_fini(&tmap);
    mmdx__labels_fini(&lab);
    mmdx__ftab_fini(&tab);
    return st;
}

/* ---- evaluation ---------------------------------------------------------- */

/*
 * AUROC of a risks table (patient_id, risk, ...; as written by predict)
 * against labels: over the labelled rows of the given split (test rows
 * when the labels have a split column and split is NULL), NA risks
 * skipped and counted.
 */
enum mmdx_status mmdx_fusion_evaluate(struct mmdx_ctx *ctx,
                                      const char *risks_path,
                                      const char *labels_path,
                                      const char *split, double *auroc,
                                      size_t *n, size_t *n_na)
{
    struct mmdx__labels lab;
    struct mmdx__idmap map;
    char *data = NULL, *s, *end;
    float *sc = NULL;
    signed char *y = NULL, want = MMDX_SPLIT_TEST;
    size_t cap = 0, k = 0, na = 0, dup;
    long line = 0;
    enum mmdx_status st;

    *auroc = NAN;
    memset(&map, 0, sizeof(map));
    st = mmdx__labels_load(ctx, labels_path, &lab);
    if (st)
        return st;
    if (split && !strcmp(split, "all"))
        want = 127;
    else if (split && !strcmp(split, "train"))
        want = MMDX_SPLIT_TRAIN;
    else if (split && !strcmp(split, "valid"))
        want = MMDX_SPLIT_VALID;
    else if (!lab.has_split)
        want = 127;
    if (mmdx__idmap_build(&map, &lab.ids, &dup)) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__file_read(ctx, risks_path, (size_t)1 << 32, &data, &cap);
    if (st)
        goto out;
    end = data + cap;
    cap = 0;
    for (s = data; s < end;) {
        char *nl = memchr(s, '\n', (size_t)(end - s)), *t1, *t2;
        size_t li;
        double v;

        if (!nl)
            nl = end;
        *nl = '\0';
        line++;
        t1 = strchr(s, '\t');
        if (line > 1 && t1) {
            *t1 = '\0';
            t2 = strchr(t1 + 1, '\t');
            if (t2)
                *t2 = '\0';
            li = mmdx__idmap_find(&map, s);
            if (li != SIZE_MAX && lab.label[li] >= 0 &&
                (want == 127 || lab.split[li] == want)) {
                if (!mmdx__ftab_parse_cell(t1 + 1, t1 + 1 + strlen(t1 + 1),
                                           &v)) {
                    st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, risks_path,
                                    line, "risk", "not a number");
                    goto out;
                }
                if (isnan(v)) {
                    na++;
                } else {
                    if (k == cap) {
                        size_t nc = cap ? cap * 2 : 4096;
                        float *ns = mmdx__realloc(sc, nc * sizeof(float));
                        signed char *ny;

                        if (!ns) {
                            st = mmdx__nomem(ctx);
                            goto out;
                        }
                        sc = ns;
                        ny = mmdx__realloc(y, nc);
                        if (!ny) {
                            st = mmdx__nomem(ctx);
                            goto out;
                        }
                        y = ny;
                        cap = nc;
                    }
                    sc[k] = (float)v;
                    y[k] = lab.label[li];
                    k++;
                }
            }
        }
        s = nl + 1;
    }
    *auroc = mmdx__auroc(sc, y, k);
out:
    if (n)
        *n = k;
    if (n_na)
        *n_na = na;
    mmdx__free(data);
    mmdx__free(sc);
    mmdx__free(y);
    mmdx__idmap_fini(&map);
    mmdx__labels_fini(&lab);
    return st;
}
