/*
 * ecg.c - a synthetic two-lead ECG (II, V1) from a dynamical model in the
 * spirit of McSharry et al., "A dynamical model for generating synthetic
 * electrocardiogram signals", IEEE TBME 50(3), 2003 (ECGSYN).
 *
 * The trajectory moves round the unit limit cycle with angular speed
 * omega = 2 pi / RR; the ECG is the z coordinate,
 *     dz/dt = -sum_i a_i dtheta_i exp(-dtheta_i^2 / (2 b_i^2)) - (z - z0(t)),
 * with one Gaussian event each for P, Q, R, S and T (theta_i, a_i, b_i as
 * published, positions and widths scaled by sqrt(HR/60)) and z0 the
 * respiratory baseline. As the limit cycle is attracting with radius 1,
 * we advance the angle directly (theta = 0 exactly at each beat time), so
 * the R-peak times are known; z is integrated with RK4 at twice the output
 * rate.
 *
 * RR intervals in sinus rhythm come from a bimodal spectrum (Mayer waves
 * around 0.1 Hz, respiratory sinus arrhythmia at the breathing rate) built
 * from random-phase sinusoids, as in ECGSYN; the autonomic latent lowers
 * their amplitude and raises the rate. Atrial fibrillation episodes have
 * independent, irregular RR intervals, no P wave and fibrillatory waves.
 */
#include "core/common.h"
#include "synth/synth_int.h"

#define ECG_FS_HZ 250.0
#define OVERSAMPLE 2
#define NSPEC 80           /* sinusoids in the RR spectrum */

struct wave {
    double theta, a, b;    /* rad, event amplitude, width rad */
};

/* McSharry 2003, Table 1 (P Q R S T): the lead II morphology. */
static const struct wave lead_ii[5] = {
    { -M_PI / 3.0, 1.2, 0.25 },
    { -M_PI / 12.0, -5.0, 0.1 },
    { 0.0, 30.0, 0.1 },
    { M_PI / 12.0, -7.5, 0.1 },
    { M_PI / 2.0, 0.75, 0.4 },
};
/* A V1-like morphology: small r, deep S, low T (our choice). */
static const struct wave lead_v1[5] = {
    { -M_PI / 3.0, 0.6, 0.25 },
    { -M_PI / 12.0, 0.0, 0.1 },
    { 0.0, 9.0, 0.09 },
    { M_PI / 14.0, -22.0, 0.12 },
    { M_PI / 2.0, 0.35, 0.4 },
};

static double wrap_pi(double x)
{
    x = fmod(x + M_PI, 2.0 * M_PI);
    if (x < 0)
        x += 2.0 * M_PI;
    return x - M_PI;
}

/* The forcing term at angle theta; p_on = 0 drops the P wave (AF). */
static double forcing(const struct wave *w, double scale, double theta,
                      int p_on)
{
    double f = 0.0;
    int i;

    for (i = p_on ? 0 : 1; i < 5; i++) {
        double b = w[i].b * scale;
        double d = wrap_pi(theta - w[i].theta * scale);

        /* Beyond 6 widths the event adds less than 1e-8 of its size. */
        if (w[i].a != 0.0 && fabs(d) < 6.0 * b)
            f -= w[i].a * d * exp(-d * d / (2.0 * b * b));
    }
    return f;
}

void mmdx__synth_ecg_fini(struct synth_ecg *e)
{
    mmdx__freep(&e->lead[0]);
    mmdx__freep(&e->lead[1]);
    mmdx__freep(&e->rpeak);
    mmdx__freep(&e->beat_af);
    e->nbeats = 0;
}

/* AF episodes: up to three windows covering `burden` of [0, dur). */
static int make_episodes(struct synth_rng *r, double burden, double dur,
                         double on[3], double off[3])
{
    int m, i;

    if (burden <= 0.0)
        return 0;
    if (burden >= 0.95) {
        on[0] = 0.0;
        off[0] = dur + 10.0;
        return 1;
    }
    m = 1 + (int)mmdx__synth_below(r, 3);
    for (i = 0; i < m; i++) {
        double seg = dur / m, len = burden * seg;
        double start = i * seg + mmdx__synth_range(r, 0.0, seg - len);

        on[i] = start;
        off[i] = start + len;
    }
    return m;
}

static int in_af(double t, const double *on, const double *off, int m)
{
    int i;

    for (i = 0; i < m; i++)
        if (t >= on[i] && t < off[i])
            return 1;
    return 0;
}

enum mmdx_status mmdx__synth_ecg_make(struct mmdx_ctx *ctx,
                                      struct synth_rng *r,
                                      const struct synth_latent *l,
                                      double seconds, struct synth_ecg *e)
{
    double spec_f[NSPEC], spec_c[NSPEC], spec_ph[NSPEC];
    double af_on[3], af_off[3], hr, rr_mean, sd_rr, lfhf, resp_hz, var;
    double af_rr_mean, fwave_hz, fwave_ph = 0.0, resp_ph, t, dt;
    double *beat_t = NULL, scale;
    size_t nmax, nb = 0, i, k, n;
    int m, lead;
    enum mmdx_status st = MMDX_OK;

    memset(e, 0, sizeof(*e));
    e->fs_hz = ECG_FS_HZ;
    n = (size_t)(seconds * ECG_FS_HZ);
    e->n = n;

    /* Sinus rate and variability from the autonomic latent (plus
     * individual variation the label does not depend on). */
    hr = 68.0 + 6.0 * l->autonomic + 5.0 * mmdx__synth_normal(r);
    hr = hr < 48.0 ? 48.0 : hr > 105.0 ? 105.0 : hr;
    e->hr_bpm = hr;
    rr_mean = 60.0 / hr;
    sd_rr = 0.045 * exp(-0.35 * l->autonomic) *
            exp(0.15 * mmdx__synth_normal(r));
    lfhf = 0.5 * exp(0.4 * l->autonomic + 0.2 * mmdx__synth_normal(r));
    resp_hz = mmdx__synth_range(r, 0.2, 0.3);
    resp_ph = mmdx__synth_range(r, 0.0, 2.0 * M_PI);
    /* S(f) = LF Gaussian at 0.1 Hz + HF Gaussian at the breathing rate,
     * both 0.01 Hz wide (ECGSYN), LF/HF power ratio lfhf. */
    var = 0.0;
    for (k = 0; k < NSPEC; k++) {
        double f = 0.0025 + 0.005 * (double)k;
        double s = lfhf * exp(-(f - 0.1) * (f - 0.1) / (2 * 1e-4)) +
                   exp(-(f - resp_hz) * (f - resp_hz) / (2 * 1e-4));

        spec_f[k] = f;
        spec_c[k] = sqrt(s);
        spec_ph[k] = mmdx__synth_range(r, 0.0, 2.0 * M_PI);
        var += s / 2.0;
    }
    for (k = 0; k < NSPEC; k++)
        spec_c[k] *= sd_rr / sqrt(var);

    m = make_episodes(r, l->af ? l->af_burden : 0.0, seconds, af_on, af_off);
    af_rr_mean = 60.0 / mmdx__synth_range(r, 80.0, 115.0);
    fwave_hz = mmdx__synth_range(r, 5.0, 8.0);

    /* Beat times: theta = 0 at each. */
    nmax = (size_t)(seconds / 0.3) + 4;
    beat_t = mmdx__calloc(nmax, sizeof(*beat_t));
    e->beat_af = mmdx__calloc(nmax, 1);
    e->rpeak = mmdx__calloc(nmax, sizeof(*e->rpeak));
    e->lead[0] = mmdx__calloc(n ? n : 1, sizeof(float));
    e->lead[1] = mmdx__calloc(n ? n : 1, sizeof(float));
    if (!beat_t || !e->beat_af || !e->rpeak || !e->lead[0] || !e->lead[1]) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    t = -mmdx__synth_range(r, 0.0, rr_mean);   /* a beat before the start */
    while (nb < nmax && t < seconds + 2.0) {
        double rr;

        beat_t[nb] = t;
        e->beat_af[nb] = (unsigned char)in_af(t, af_on, af_off, m);
        if (e->beat_af[nb]) {
            rr = af_rr_mean * exp(0.22 * mmdx__synth_normal(r));
        } else {
            rr = rr_mean;
            for (k = 0; k < NSPEC; k++)
                rr += spec_c[k] * cos(2 * M_PI * spec_f[k] * t + spec_ph[k]);
        }
        rr = rr < 0.3 ? 0.3 : rr > 2.0 ? 2.0 : rr;
        t += rr;
        nb++;
    }

    /* Integrate z for each lead at OVERSAMPLE x the output rate. */
    dt = 1.0 / (ECG_FS_HZ * OVERSAMPLE);
    scale = sqrt(hr / 60.0);
    for (lead = 0; lead < 2; lead++) {
        const struct wave *w = lead ? lead_v1 : lead_ii;
        size_t b = 0;
        double zz = 0.0, amp = (lead ? 0.08 : 0.06);
        /* mV per model unit: an R wave of about 1.2 mV (lead II) at the
         * mean rate, as ECGSYN rescales its output. */
        double gain = 1.2 * (2 * M_PI / rr_mean) / (30.0 * 0.01);

        for (i = 0; i < n * OVERSAMPLE; i++) {
            double tt = (double)i * dt, k1, k2, k3, k4, th[3], z0, f0, f1, f2;
            double om, h = dt;
            int p_on, s;

            while (b + 1 < nb && beat_t[b + 1] <= tt)
                b++;
            om = 2 * M_PI / (beat_t[b + 1] - beat_t[b]);
            /* The P wave before beat b+1 belongs to this interval. */
            p_on = !e->beat_af[b + 1];
            for (s = 0; s < 3; s++)
                th[s] = om * (tt + s * h / 2 - beat_t[b]);
            /* The forcing does not depend on z: the two midpoint stages
             * share one evaluation. The respiratory baseline z0 is added
             * after integration (it is linear), so it is 0 here. */
            z0 = 0.0;
            f0 = forcing(w, scale, th[0], p_on);
            f1 = forcing(w, scale, th[1], p_on);
            f2 = forcing(w, scale, th[2], p_on);
            k1 = f0 - (zz - z0);
            k2 = f1 - (zz + h / 2 * k1 - z0);
            k3 = f1 - (zz + h / 2 * k2 - z0);
            k4 = f2 - (zz + h * k3 - z0);
            zz += h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4);
            if (i % OVERSAMPLE == 0) {
                double v = zz * gain;

                /* Fibrillatory waves while in AF. */
                if (e->beat_af[b]) {
                    fwave_ph += 2 * M_PI * fwave_hz * OVERSAMPLE * dt;
                    v += amp * sin(fwave_ph + 0.6 * sin(0.9 * tt));
                }
                e->lead[lead][i / OVERSAMPLE] = (float)v;
            }
        }
    }

    /* True R peaks: the lead II maximum within 40 ms of each beat time,
     * taken on the clean signal, before baseline and noise are added. */
    for (k = 0; k < nb; k++) {
        long c = lround(beat_t[k] * ECG_FS_HZ), lo = c - 10, hi = c + 10, q;
        long best = -1;

        if (c < 10 || c + 10 >= (long)n)
            continue;
        for (q = lo; q <= hi; q++)
            if (best < 0 || e->lead[0][q] > e->lead[0][best])
                best = q;
        e->rpeak[e->nbeats] = (size_t)best;
        e->beat_af[e->nbeats] = e->beat_af[k];
        e->nbeats++;
    }

    /* Respiratory baseline wander and sensor noise. */
    for (lead = 0; lead < 2; lead++)
        for (i = 0; i < n; i++) {
            double tt = (double)i / ECG_FS_HZ;

            e->lead[lead][i] += (float)(0.08 * sin(2 * M_PI * resp_hz * tt +
                                                   resp_ph) +
                                        0.012 * mmdx__synth_normal(r));
        }
out:
    mmdx__free(beat_t);
    if (st)
        mmdx__synth_ecg_fini(e);
    return st;
}
