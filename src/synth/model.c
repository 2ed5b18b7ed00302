/*
 * model.c - the latent factors of a synthetic patient, the stroke-risk
 * label model, and the Bayes-optimal AUROCs computed from it by Monte
 * Carlo. docs/synth-model.md documents every number here; change both
 * together.
 */
#include "core/common.h"
#include "synth/synth_int.h"

/* Prior probabilities and ranges (docs/synth-model.md, "Latent factors"). */
#define P_DIABETES 0.22
#define P_AF 0.20
#define P_AF_KNOWN 0.45      /* of AF patients, documented in the record */
#define P_FOCAL 0.25
#define P_LESION 0.30
#define SD_HIDDEN 0.7

/* Log-odds coefficients (docs/synth-model.md, "Label"). */
#define B0 (-3.45)
#define B_AGE 0.06           /* per year above 66 */
#define B_MALE 0.30
#define B_VASC 0.60
#define B_DIAB 0.60
#define B_AF 0.60
#define B_AF_BURDEN 0.90
#define B_AUTO 0.35
#define B_FOCAL 0.40
#define B_FOCAL_SEV 1.00
#define B_DIFFUSE 0.35
#define B_LESION 0.30
#define B_LESION_LOAD 1.20
#define B_ATROPHY 0.35
#define B_AF_X_LESION 1.50   /* the cross-modal interaction (ECG x image) */

static void draw_record(struct synth_rng *r, struct synth_latent *l)
{
    double a = 66.0 + 11.0 * mmdx__synth_normal(r);

    if (a < 40.0)
        a = 40.0;
    if (a > 89.0)
        a = 89.0;
    l->age_y = (int)floor(a + 0.5);
    l->male = mmdx__synth_bern(r, 0.5);
    l->vascular = mmdx__synth_normal(r);
    l->diabetes = mmdx__synth_bern(r, P_DIABETES);
}

static void draw_ecg(struct synth_rng *r, struct synth_latent *l)
{
    l->af = mmdx__synth_bern(r, P_AF);
    l->af_burden = l->af ? mmdx__synth_range(r, 0.2, 1.0) : 0.0;
    l->autonomic = mmdx__synth_normal(r);
}

static void draw_eeg(struct synth_rng *r, struct synth_latent *l)
{
    l->focal = mmdx__synth_bern(r, P_FOCAL);
    l->focal_sev = l->focal ? mmdx__synth_range(r, 0.3, 1.0) : 0.0;
    l->diffuse = mmdx__synth_normal(r);
}

static void draw_image(struct synth_rng *r, struct synth_latent *l)
{
    l->lesion = mmdx__synth_bern(r, P_LESION);
    l->lesion_load = l->lesion ? mmdx__synth_range(r, 0.2, 1.0) : 0.0;
    l->atrophy = mmdx__synth_normal(r);
}

void mmdx__synth_latent_draw(struct synth_rng *r, struct synth_latent *l)
{
    memset(l, 0, sizeof(*l));
    draw_record(r, l);
    draw_ecg(r, l);
    l->af_known = l->af ? mmdx__synth_bern(r, P_AF_KNOWN) : 0;
    draw_eeg(r, l);
    draw_image(r, l);
    l->hidden = SD_HIDDEN * mmdx__synth_normal(r);
}

double mmdx__synth_logit(const struct synth_latent *l)
{
    double eta = B0;

    eta += B_AGE * (l->age_y - 66) + B_MALE * l->male;
    eta += B_VASC * l->vascular + B_DIAB * l->diabetes;
    eta += l->af ? B_AF + B_AF_BURDEN * l->af_burden : 0.0;
    eta += B_AUTO * l->autonomic;
    eta += l->focal ? B_FOCAL + B_FOCAL_SEV * l->focal_sev : 0.0;
    eta += B_DIFFUSE * l->diffuse;
    eta += l->lesion ? B_LESION + B_LESION_LOAD * l->lesion_load : 0.0;
    eta += B_ATROPHY * l->atrophy;
    eta += (l->af && l->lesion) ? B_AF_X_LESION : 0.0;
    return eta + l->hidden;
}

double mmdx__synth_sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

void mmdx__synth_latent_redraw(struct synth_rng *r, struct synth_latent *l,
                               unsigned seen)
{
    if (!(seen & SYNTH_G_RECORD)) {
        int known = l->af_known;

        draw_record(r, l);
        l->af_known = known;   /* resolved below with the ECG group */
    }
    if (!(seen & SYNTH_G_ECG)) {
        if (seen & SYNTH_G_RECORD) {
            /* The record shows af_known: AF is certain when documented;
             * otherwise P(af | not documented) by Bayes' rule. */
            double p = l->af_known ? 1.0
                                   : P_AF * (1 - P_AF_KNOWN) /
                                         (1 - P_AF * P_AF_KNOWN);
            l->af = mmdx__synth_bern(r, p);
            l->af_burden = l->af ? mmdx__synth_range(r, 0.2, 1.0) : 0.0;
            l->autonomic = mmdx__synth_normal(r);
        } else {
            draw_ecg(r, l);
        }
    }
    /* af_known does not enter the label; keep it consistent anyway. */
    if (!(seen & SYNTH_G_RECORD))
        l->af_known = l->af ? mmdx__synth_bern(r, P_AF_KNOWN) : 0;
    if (!(seen & SYNTH_G_EEG))
        draw_eeg(r, l);
    if (!(seen & SYNTH_G_IMAGE))
        draw_image(r, l);
    l->hidden = SD_HIDDEN * mmdx__synth_normal(r);
}

double mmdx__synth_posterior(struct synth_rng *r, const struct synth_latent *l,
                             unsigned seen, int k)
{
    double sum = 0.0;
    int i;

    for (i = 0; i < k; i++) {
        struct synth_latent t = *l;

        mmdx__synth_latent_redraw(r, &t, seen);
        sum += mmdx__synth_sigmoid(mmdx__synth_logit(&t));
    }
    return sum / k;
}

struct scored {
    double s, p;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;

    return (x > y) - (x < y);
}

/*
 * Expected AUROC when patient i is positive with probability p[i]: the
 * probability that a random positive outranks a random negative (distinct
 * patients), ties one half. Sorted by score, each tie group adds
 * p(group) * (negatives below) + 1/2 * the within-group cross pairs.
 */
enum mmdx_status mmdx__synth_soft_auroc(struct mmdx_ctx *ctx,
                                        const double *score, const double *p,
                                        size_t n, double *out)
{
    struct scored *v;
    double neg_below = 0.0, num = 0.0, pos = 0.0, neg = 0.0, self = 0.0;
    size_t i, j;

    v = mmdx__calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return mmdx__nomem(ctx);
    for (i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].p = p[i];
        pos += p[i];
        neg += 1.0 - p[i];
        self += p[i] * (1.0 - p[i]);
    }
    qsort(v, n, sizeof(*v), cmp_scored);
    for (i = 0; i < n; i = j) {
        double gp = 0.0, gn = 0.0, gself = 0.0;

        for (j = i; j < n && v[j].s == v[i].s; j++) {
            gp += v[j].p;
            gn += 1.0 - v[j].p;
            gself += v[j].p * (1.0 - v[j].p);
        }
        num += gp * neg_below + 0.5 * (gp * gn - gself);
        neg_below += gn;
    }
    mmdx__free(v);
    *out = (pos * neg - self) > 0 ? num / (pos * neg - self) : NAN;
    return MMDX_OK;
}

/* Inner redraws per Monte Carlo patient. */
#define MC_INNER 128

enum mmdx_status mmdx_synth_auroc(struct mmdx_ctx *ctx, uint64_t seed,
                                  size_t mc_samples, double missing_rate,
                                  struct mmdx_synth_auroc *out)
{
    static const unsigned groups[4] = { SYNTH_G_IMAGE, SYNTH_G_ECG,
                                        SYNTH_G_EEG, SYNTH_G_RECORD };
    double *p = NULL, *s = NULL, prev = 0.0, *res[6];
    struct synth_latent *lat = NULL;
    unsigned *seen_missing = NULL;
    enum mmdx_status st = MMDX_OK;
    struct synth_rng r;
    size_t i;
    int c;

    memset(out, 0, sizeof(*out));
    if (mc_samples < 100)
        mc_samples = 100;
    p = mmdx__calloc(mc_samples, sizeof(*p));
    s = mmdx__calloc(mc_samples, sizeof(*s));
    lat = mmdx__calloc(mc_samples, sizeof(*lat));
    seen_missing = mmdx__calloc(mc_samples, sizeof(*seen_missing));
    if (!p || !s || !lat || !seen_missing) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    mmdx__synth_rng_seed(&r, seed, 0, SYNTH_S_MC);
    for (i = 0; i < mc_samples; i++) {
        int m;

        mmdx__synth_latent_draw(&r, &lat[i]);
        p[i] = mmdx__synth_sigmoid(mmdx__synth_logit(&lat[i]));
        prev += p[i];
        for (m = 0; m < 4; m++)
            if (!mmdx__synth_bern(&r, missing_rate))
                seen_missing[i] |= groups[m];
    }
    out->prevalence = prev / (double)mc_samples;
    res[0] = &out->bayes_all;
    res[1] = &out->bayes_missing;
    res[2] = &out->image;
    res[3] = &out->ecg;
    res[4] = &out->eeg;
    res[5] = &out->record;
    for (c = 0; c < 6; c++) {
        struct synth_rng inner;

        mmdx__synth_rng_seed(&inner, seed, (uint64_t)c + 1, SYNTH_S_MC);
        for (i = 0; i < mc_samples; i++) {
            unsigned seen = c == 0 ? SYNTH_G_ALL
                            : c == 1 ? seen_missing[i]
                                     : groups[c - 2];
            s[i] = mmdx__synth_posterior(&inner, &lat[i], seen, MC_INNER);
        }
        st = mmdx__synth_soft_auroc(ctx, s, p, mc_samples, res[c]);
        if (st)
            goto out;
    }
out:
    mmdx__free(p);
    mmdx__free(s);
    mmdx__free(lat);
    mmdx__free(seen_missing);
    return st;
}
