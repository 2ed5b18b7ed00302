/*
 * eeg.c - a synthetic 19-channel scalp EEG (10-20 system, common
 * reference, uV): a 1/f background, a posterior alpha rhythm whose
 * frequency drops with diffuse slowing, extra theta with diffuse slowing,
 * and polymorphic delta over one hemisphere's temporal region for focal
 * slowing.
 *
 * The 1/f background is a sum of first-order (Lorentzian) processes with
 * corner frequencies an octave apart and equal variance: each contributes
 * sigma^2 / (fc (1 + (f/fc)^2)) to the spectrum, and their sum is close to
 * 1/f between the lowest and highest corner. Rhythms are AR(2) resonators
 * driven by white noise (pole radius sets the bandwidth). Channels share a
 * common component, as volume conduction makes neighbours correlated.
 */
#include "core/common.h"
#include "synth/synth_int.h"

#define EEG_FS_HZ 256.0
#define NCORNER 9          /* corners 0.25 .. 64 Hz */

const char *const mmdx__synth_eeg_labels[SYNTH_EEG_NCH] = {
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz",
    "C4", "T4", "T5", "P3", "Pz", "P4", "T6", "O1", "O2"
};

/* Alpha weight (posterior dominance) and side (-1 left, 0 mid, 1 right),
 * and weight in the temporal region where focal slowing is placed. */
static const double alpha_w[SYNTH_EEG_NCH] = {
    0.15, 0.15, 0.2, 0.25, 0.25, 0.25, 0.2, 0.35, 0.4, 0.4,
    0.4, 0.35, 0.7, 0.75, 0.8, 0.75, 0.7, 1.0, 1.0
};
static const int side[SYNTH_EEG_NCH] = {
    -1, 1, -1, -1, 0, 1, 1, -1, -1, 0, 1, 1, -1, -1, 0, 1, 1, -1, 1
};
static const double temporal_w[SYNTH_EEG_NCH] = {
    0.2, 0.2, 0.8, 0.5, 0.1, 0.5, 0.8, 1.0, 0.6, 0.1,
    0.6, 1.0, 0.9, 0.5, 0.1, 0.5, 0.9, 0.4, 0.4
};

struct ar2 {
    double a1, a2, x1, x2;
};

static void ar2_init(struct ar2 *f, double f_hz, double radius)
{
    f->a1 = 2.0 * radius * cos(2.0 * M_PI * f_hz / EEG_FS_HZ);
    f->a2 = -radius * radius;
    f->x1 = f->x2 = 0.0;
}

static double ar2_step(struct ar2 *f, double e)
{
    double x = f->a1 * f->x1 + f->a2 * f->x2 + e;

    f->x2 = f->x1;
    f->x1 = x;
    return x;
}

/* Fill x[0..n) with a unit-variance resonance (burn-in discarded). */
static void resonance(struct synth_rng *r, double f_hz, double radius,
                      float *x, size_t n)
{
    struct ar2 f;
    double ss = 0.0, sd;
    size_t i;

    ar2_init(&f, f_hz, radius);
    for (i = 0; i < 512; i++)
        ar2_step(&f, mmdx__synth_white(r));
    for (i = 0; i < n; i++) {
        x[i] = (float)ar2_step(&f, mmdx__synth_white(r));
        ss += (double)x[i] * x[i];
    }
    sd = n ? sqrt(ss / (double)n) : 1.0;
    for (i = 0; i < n; i++)
        x[i] = (float)(x[i] / (sd > 0 ? sd : 1.0));
}

/* Unit-variance approximately 1/f noise. */
static void pink(struct synth_rng *r, float *x, size_t n)
{
    double a[NCORNER], g[NCORNER], st[NCORNER], ss = 0.0, sd;
    size_t i;
    int k;

    for (k = 0; k < NCORNER; k++) {
        double fc = 0.25 * pow(2.0, k);

        a[k] = exp(-2.0 * M_PI * fc / EEG_FS_HZ);
        g[k] = sqrt(1.0 - a[k] * a[k]);  /* unit variance per process */
        st[k] = mmdx__synth_normal(r);
    }
    for (i = 0; i < n; i++) {
        double v = 0.0;

        for (k = 0; k < NCORNER; k++) {
            st[k] = a[k] * st[k] + g[k] * mmdx__synth_white(r);
            v += st[k];
        }
        x[i] = (float)v;
        ss += v * v;
    }
    sd = n ? sqrt(ss / (double)n) : 1.0;
    for (i = 0; i < n; i++)
        x[i] = (float)(x[i] / (sd > 0 ? sd : 1.0));
}

void mmdx__synth_eeg_fini(struct synth_eeg *e)
{
    int c;

    for (c = 0; c < SYNTH_EEG_NCH; c++)
        mmdx__freep(&e->ch[c]);
}

enum mmdx_status mmdx__synth_eeg_make(struct mmdx_ctx *ctx,
                                      struct synth_rng *r,
                                      const struct synth_latent *l,
                                      double seconds, struct synth_eeg *e)
{
    float *common = NULL, *alpha = NULL, *tmp = NULL;
    double alpha_hz, alpha_uv, theta_uv, delta_uv, bg_uv;
    int c, focal_side;
    size_t i, n;
    enum mmdx_status st = MMDX_OK;

    memset(e, 0, sizeof(*e));
    e->fs_hz = EEG_FS_HZ;
    n = (size_t)(seconds * EEG_FS_HZ);
    e->n = n;
    /* Diffuse slowing lowers the alpha frequency and raises theta. */
    alpha_hz = 10.2 - 0.8 * l->diffuse + 0.3 * mmdx__synth_normal(r);
    alpha_hz = alpha_hz < 7.0 ? 7.0 : alpha_hz > 12.5 ? 12.5 : alpha_hz;
    e->alpha_hz = alpha_hz;
    alpha_uv = 22.0 * exp(0.2 * mmdx__synth_normal(r)) *
               exp(-0.15 * l->diffuse);
    theta_uv = 6.0 * exp(0.35 * l->diffuse);
    bg_uv = 12.0 * exp(0.15 * mmdx__synth_normal(r));
    delta_uv = l->focal ? 40.0 * l->focal_sev : 0.0;
    focal_side = mmdx__synth_bern(r, 0.5) ? -1 : 1;

    common = mmdx__calloc(n ? n : 1, sizeof(float));
    alpha = mmdx__calloc(n ? n : 1, sizeof(float));
    tmp = mmdx__calloc(n ? n : 1, sizeof(float));
    if (!common || !alpha || !tmp) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    pink(r, common, n);
    /* One alpha generator seen by all channels with posterior weights
     * (alpha is coherent over the occiput), plus local alpha. */
    resonance(r, alpha_hz, 0.985, alpha, n);
    for (c = 0; c < SYNTH_EEG_NCH; c++) {
        float *x = mmdx__calloc(n ? n : 1, sizeof(float));
        double fw;

        if (!x) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        e->ch[c] = x;
        pink(r, tmp, n);
        for (i = 0; i < n; i++)
            x[i] = (float)(bg_uv * (0.75 * tmp[i] + 0.45 * common[i]) +
                           alpha_uv * alpha_w[c] * 0.8 * alpha[i]);
        resonance(r, alpha_hz, 0.98, tmp, n);
        for (i = 0; i < n; i++)
            x[i] += (float)(alpha_uv * alpha_w[c] * 0.4 * tmp[i]);
        resonance(r, 6.0, 0.96, tmp, n);
        for (i = 0; i < n; i++)
            x[i] += (float)(theta_uv * tmp[i]);
        fw = side[c] == focal_side ? temporal_w[c]
             : side[c] == 0        ? 0.15 * temporal_w[c]
                                   : 0.0;
        if (delta_uv > 0 && fw > 0) {
            /* Polymorphic delta: a broad 1.5-3 Hz resonance. */
            resonance(r, 2.0, 0.97, tmp, n);
            for (i = 0; i < n; i++)
                x[i] += (float)(delta_uv * fw * tmp[i]);
        }
        /* Amplifier noise. */
        for (i = 0; i < n; i++)
            x[i] += (float)(0.8 * mmdx__synth_white(r));
    }
out:
    mmdx__free(common);
    mmdx__free(alpha);
    mmdx__free(tmp);
    if (st)
        mmdx__synth_eeg_fini(e);
    return st;
}
