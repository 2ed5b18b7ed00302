/*
 * eeg_features.c - stage eeg.features and the engine behind it (see
 * eeg_features.h; feature names and definitions in docs/eeg.md).
 *
 * The recording is read an epoch at a time. Per epoch: the selected
 * channels (and the ear electrodes for a linked-ears reference) are read
 * as doubles, re-referenced, filtered by causal biquads whose state runs
 * on across epochs, judged against the artifact rules, folded into the
 * Hjorth statistics when clean and appended to a short buffer from which
 * every complete Welch segment that lies wholly in clean epochs is
 * transformed and accumulated. Memory is O(channels x (segment + epoch)),
 * whatever the recording's length.
 */
#include "core/common.h"
#include "features/eeg_features.h"
#include "pipeline/runner.h"

#define STAGE "eeg.features"

static const char *const band_names[MMDX_EEG_NBANDS] = {
    "delta", "theta", "alpha", "beta", "gamma"
};

/* Scalp electrodes of the 10-20/10-10 systems (normalised spelling). Ear
 * and mastoid electrodes (A1, A2, M1, M2) are references, not analysed. */
static const char *const scalp[] = {
    "Fp1", "Fp2", "Fpz", "AF3", "AF4", "AF7", "AF8", "AFz", "F1", "F2", "F3",
    "F4", "F5", "F6", "F7", "F8", "F9", "F10", "Fz", "FC1", "FC2", "FC3",
    "FC4", "FC5", "FC6", "FCz", "FT7", "FT8", "FT9", "FT10", "C1", "C2", "C3",
    "C4", "C5", "C6", "Cz", "T7", "T8", "T9", "T10", "TP7", "TP8", "TP9",
    "TP10", "CP1", "CP2", "CP3", "CP4", "CP5", "CP6", "CPz", "P1", "P2", "P3",
    "P4", "P5", "P6", "P7", "P8", "P9", "P10", "Pz", "PO3", "PO4", "PO7",
    "PO8", "POz", "O1", "O2", "Oz", "Iz"
};

/* The 19 electrodes of the classic 10-20 montage: stable per-channel
 * feature names across cohorts. */
static const char *const standard19[] = {
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
    "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2"
};

/* Homologous left/right pairs for asymmetry. */
static const char *const pairs[][2] = {
    { "Fp1", "Fp2" }, { "F7", "F8" }, { "F3", "F4" }, { "T7", "T8" },
    { "C3", "C4" },   { "P7", "P8" }, { "P3", "P4" }, { "O1", "O2" }
};

enum region { R_FRONTAL, R_CENTRAL, R_TEMPORAL, R_PARIETAL, R_OCCIPITAL,
              R_COUNT, R_NONE = -1 };
static const char *const region_names[R_COUNT] = {
    "frontal", "central", "temporal", "parietal", "occipital"
};

static bool starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Region of a scalp label by its letters: Fp/AF/F -> frontal, FC/C/CP ->
 * central, FT/T/TP -> temporal, P -> parietal, PO/O/Iz -> occipital. */
static int region_of(const char *l)
{
    if (starts(l, "FC"))
        return R_CENTRAL;
    if (starts(l, "FT") || starts(l, "TP") || l[0] == 'T')
        return R_TEMPORAL;
    if (starts(l, "Fp") || starts(l, "AF") || l[0] == 'F')
        return R_FRONTAL;
    if (starts(l, "CP") || l[0] == 'C')
        return R_CENTRAL;
    if (starts(l, "PO") || l[0] == 'O' || starts(l, "Iz"))
        return R_OCCIPITAL;
    if (l[0] == 'P')
        return R_PARIETAL;
    return R_NONE;
}

static bool is_scalp(const char *l)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(scalp); i++)
        if (strcmp(l, scalp[i]) == 0)
            return true;
    return false;
}

void mmdx__eeg_params_default(struct mmdx_eeg_params *p)
{
    static const double bands[MMDX_EEG_NBANDS][2] = {
        { 1, 4 }, { 4, 8 }, { 8, 13 }, { 13, 30 }, { 30, 45 }
    };

    memset(p, 0, sizeof(*p));
    p->reference = MMDX_EEG_REF_AVERAGE;
    p->highpass_hz = 1.0;
    p->lowpass_hz = 45.0;
    p->notch_hz = 50.0;
    p->notch_q = 30.0;
    p->filter_order = 4;
    p->reject = true;
    p->epoch_s = 2.0;
    p->reject_ptp_uv = 500.0;
    p->flat_ptp_uv = 0.5;
    p->window_s = 2.0;
    p->overlap = 0.5;
    p->window = MMDX_WIN_HANN;
    memcpy(p->band_hz, bands, sizeof(bands));
    p->total_hz[0] = 1;
    p->total_hz[1] = 45;
    p->sef_percent = 95;
    p->per_channel = MMDX_EEG_PERCH_STANDARD;
    p->fam = MMDX_EEG_FAM_ALL;
}

enum mmdx_status mmdx__eeg_families_parse(struct mmdx_ctx *ctx,
                                          const char *list, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fams[] = { { "band", MMDX_EEG_FAM_BAND },
                 { "ratio", MMDX_EEG_FAM_RATIO },
                 { "spec", MMDX_EEG_FAM_SPEC },
                 { "hjorth", MMDX_EEG_FAM_HJORTH },
                 { "asym", MMDX_EEG_FAM_ASYM },
                 { "all", MMDX_EEG_FAM_ALL } };
    const char *c = list;
    unsigned bits = 0;

    *out = MMDX_EEG_FAM_ALL;
    if (!list)
        return MMDX_OK;
    for (;;) {
        size_t l, i;

        c += strspn(c, " \t");
        l = strcspn(c, ",");
        while (l > 0 && (c[l - 1] == ' ' || c[l - 1] == '\t'))
            l--;
        for (i = 0; i < MMDX_ARRAY_SIZE(fams); i++)
            if (strlen(fams[i].name) == l && strncmp(c, fams[i].name, l) == 0)
                break;
        if (i == MMDX_ARRAY_SIZE(fams)) {
            if (l == 0)
                return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0,
                                  "families",
                                  "empty name in \"%.64s\" "
                                  "(choose from " MMDX_EEG_FAMILY_NAMES ")",
                                  list);
            return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0,
                              "families",
                              "unknown family \"%.*s\" (choose "
                              "from " MMDX_EEG_FAMILY_NAMES ")",
                              (int)(l < 32 ? l : 32), c);
        }
        bits |= fams[i].bit;
        c += strcspn(c, ",");
        if (!*c)
            break;
        c++;
    }
    *out = bits;
    return MMDX_OK;
}

bool mmdx__eeg_needs_psd(const struct mmdx_eeg_params *p)
{
    return (p->fam & MMDX_EEG_FAM_SPECTRAL) || p->write_psd;
}

enum mmdx_status mmdx__eeg_params_check(struct mmdx_ctx *ctx,
                                        const struct mmdx_eeg_params *p)
{
    size_t b;
    char field[32];

    for (b = 0; b < MMDX_EEG_NBANDS; b++)
        if (!(p->band_hz[b][0] < p->band_hz[b][1])) {
            snprintf(field, sizeof(field), "%s_hi_hz", band_names[b]);
            return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0, field,
                              "must be above %s_lo_hz",
                              band_names[b]);
        }
    if (!(p->total_hz[0] < p->total_hz[1]))
        return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0,
                          "total_hi_hz", "must be above "
                                         "total_lo_hz");
    if (p->filter_order % 2)
        return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0,
                          "filter_order",
                          "must be even, got %ld",
                          p->filter_order);
    if (p->highpass_hz > 0 && p->lowpass_hz > 0 &&
        p->highpass_hz >= p->lowpass_hz)
        return mmdx__fail(ctx, MMDX_E_PIPELINE, STAGE, NULL, 0,
                          "highpass_hz",
                          "%g must be below lowpass_hz %g",
                          p->highpass_hz, p->lowpass_hz);
    return MMDX_OK;
}

/* ---- engine: plans ---------------------------------------------------------- */

/* The plan for segments of n samples: from the cache, else made now (the
 * cache keeps the 4 most recent lengths; a cohort of one rate plans once). */
static enum mmdx_status plan_get(struct mmdx_eeg_engine *eng, size_t n,
                                 size_t *idx)
{
    size_t i, slot;
    enum mmdx_status st;
    double *w;

    for (i = 0; i < eng->nplan; i++)
        if (eng->plan[i].n == n) {
            *idx = i;
            return MMDX_OK;
        }
    if (eng->nplan < MMDX_ARRAY_SIZE(eng->plan)) {
        slot = eng->nplan++;
    } else {
        slot = MMDX_ARRAY_SIZE(eng->plan) - 1;
        mmdx__rfft_free(eng->plan[slot].fft);
        mmdx__free(eng->plan[slot].win);
    }
    memset(&eng->plan[slot], 0, sizeof(eng->plan[slot]));
    w = mmdx__malloc(n * sizeof(double));
    if (!w) {
        eng->nplan = slot; /* slot stays free */
        return mmdx__nomem(eng->ctx);
    }
    st = mmdx__rfft_new_ex(eng->ctx, n, eng->par->fft_plan == 1,
                           &eng->plan[slot].fft);
    if (st) {
        mmdx__free(w);
        eng->nplan = slot;
        return st;
    }
    mmdx__window_fill((enum mmdx_window)eng->par->window, w, n);
    eng->plan[slot].win = w;
    eng->plan[slot].n = n;
    eng->plan[slot].wss = 0;
    for (i = 0; i < n; i++)
        eng->plan[slot].wss += w[i] * w[i];
    eng->plan[slot].ncos = mmdx__window_cosines(
        (enum mmdx_window)eng->par->window, eng->plan[slot].cosw);
    *idx = slot;
    return MMDX_OK;
}

static size_t seg_len(const struct mmdx_eeg_params *par, double fs)
{
    double n = floor(par->window_s * fs + 0.5);

    return n < 1 ? 0 : (size_t)n;
}

/* PSD bins the pass accumulates for segments of nper samples: all
 * (nper/2 + 1) when the PSD is written, else those up to the highest band
 * edge (the features use no other; one bin more guards the edge against
 * rounding in k * df). */
static size_t psd_bins(const struct mmdx_eeg_params *par, size_t nper,
                       double fs)
{
    size_t all = nper / 2 + 1, b;
    double top = par->total_hz[1], k;

    if (par->write_psd)
        return all;
    for (b = 0; b < MMDX_EEG_NBANDS; b++)
        if (par->band_hz[b][1] > top)
            top = par->band_hz[b][1];
    k = floor(top / (fs / (double)nper)) + 2;
    return k < (double)all ? (size_t)k : all;
}

enum mmdx_status mmdx__eeg_engine_init(struct mmdx_eeg_engine *eng,
                                       struct mmdx_ctx *ctx,
                                       const struct mmdx_eeg_params *par,
                                       double expect_fs_hz)
{
    size_t idx, n;

    memset(eng, 0, sizeof(*eng));
    eng->ctx = ctx;
    eng->par = par;
    if (expect_fs_hz > 0 && mmdx__eeg_needs_psd(par)) {
        n = seg_len(par, expect_fs_hz);
        if (n >= 4)
            return plan_get(eng, n, &idx);
    }
    return MMDX_OK;
}

void mmdx__eeg_engine_fini(struct mmdx_eeg_engine *eng)
{
    size_t i;

    for (i = 0; i < eng->nplan; i++) {
        mmdx__rfft_free(eng->plan[i].fft);
        mmdx__free(eng->plan[i].win);
    }
    eng->nplan = 0;
}

void mmdx__eeg_result_fini(struct mmdx_eeg_result *r)
{
    mmdx__free(r->label);
    mmdx__free(r->psd);
    mmdx__free(r->hj_act);
    mmdx__free(r->hj_mob);
    mmdx__free(r->hj_cmp);
    memset(r, 0, sizeof(*r));
}

/* ---- engine: one pass ----------------------------------------------------- */

/* Running mean and sum of squared deviations, merged epoch by epoch (Chan
 * et al.'s pairwise update: no cancellation with large DC offsets). */
struct moments {
    double n, mean, m2;
};

/* Merge a block of n values with mean `mean` and sum of squared deviations
 * m2 into a. */
static void moments_merge(struct moments *a, double n, double mean, double m2)
{
    double d, tot;

    if (n <= 0)
        return;
    tot = a->n + n;
    d = mean - a->mean;
    a->m2 += m2 + d * d * a->n * n / tot;
    a->mean += d * n / tot;
    a->n = tot;
}

static double moments_var(const struct moments *a)
{
    return a->n > 1 ? a->m2 / a->n : NAN;
}

struct pass {
    size_t nsel, nread;          /* analysed channels; channels read */
    size_t *idx;                 /* signal channel of each read channel */
    size_t ear[2];               /* read positions of the ears (linked) */
    double **raw;                /* nread x E */
    double **ring;               /* nsel x cap */
    double *x0;                  /* nsel: first sample (filter offset) */
    double *mean;                /* E: channel mean per sample (average
                                  * reference) */
    struct mmdx_biquad *sec;     /* nsel x nsec */
    size_t nsec;
    struct moments *mx, *md1, *md2; /* nsel each */
    double *acc;                 /* nsel x nfreq */
    double **cur;                /* nread: this epoch's samples */
};

static void pass_free(struct pass *w, size_t nread)
{
    size_t i;

    if (w->raw)
        for (i = 0; i < nread; i++)
            mmdx__free(w->raw[i]);
    if (w->ring)
        for (i = 0; i < w->nsel; i++)
            mmdx__free(w->ring[i]);
    mmdx__free(w->raw);
    mmdx__free(w->ring);
    mmdx__free(w->idx);
    mmdx__free(w->x0);
    mmdx__free(w->sec);
    mmdx__free(w->mx);
    mmdx__free(w->md1);
    mmdx__free(w->md2);
    mmdx__free(w->acc);
    mmdx__free(w->cur);
    mmdx__free(w->mean);
}

/* Labels of polygraphic channels recorded beside the EEG. */
static bool non_eeg(const char *l)
{
    static const char *const pfx[] = { "ECG", "EKG", "EOG", "EMG", "RESP",
                                       "STATUS", "TRIG", "DIG", "SPO2",
                                       "PULSE", "ERGO", "PHOTIC", "EVENT" };
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(pfx); i++)
        if (mmdx__strncasecmp(l, pfx[i], strlen(pfx[i])) == 0)
            return true;
    return strcmp(l, "I") == 0 || strcmp(l, "II") == 0 ||
           strcmp(l, "III") == 0 || starts(l, "aV") || starts(l, "ML") ||
           (l[0] == 'V' && l[1] >= '1' && l[1] <= '6' && !l[2]);
}

static bool unit_is_uv(const char *u)
{
    return strcmp(u, "uV") == 0;
}

/* Pick the analysed channels: the named ones, else every scalp electrode
 * in uV; all at the rate of the first. Fills w->idx[0..nsel) and r. */
static enum mmdx_status select_channels(struct mmdx_eeg_engine *eng,
                                        const char *path,
                                        const struct mmdx_signal *s,
                                        struct pass *w,
                                        struct mmdx_eeg_result *r)
{
    const struct mmdx_eeg_params *par = eng->par;
    size_t i, n = 0;
    double fs = 0;

    w->idx = mmdx__calloc(s->nch + 2, sizeof(size_t));
    if (!w->idx)
        return mmdx__nomem(eng->ctx);
    if (par->channels && par->channels[0]) {
        const char *c = par->channels;

        while (*c) {
            char raw[64], norm[32];
            size_t l = strcspn(c, ",");
            int k;

            mmdx__strlcpy(raw, c, l + 1 < sizeof(raw) ? l + 1 : sizeof(raw));
            mmdx__label_normalise(raw, norm, sizeof(norm));
            k = norm[0] ? mmdx__signal_find(s, norm) : -1;
            if (k < 0) {
                r->nmissing++;
            } else {
                bool dup = false;

                for (i = 0; i < n; i++)
                    dup |= w->idx[i] == (size_t)k;
                if (!dup)
                    w->idx[n++] = (size_t)k;
            }
            c += l;
            if (*c == ',')
                c++;
        }
    } else {
        for (i = 0; i < s->nch; i++)
            if (is_scalp(s->ch[i].label) && unit_is_uv(s->ch[i].unit))
                w->idx[n++] = i;
        /* caps with their own electrode names (BioSemi A1..D32, ...):
         * every voltage channel that is not a known non-EEG one */
        if (n == 0) {
            r->nonstandard = true;
            for (i = 0; i < s->nch; i++)
                if (unit_is_uv(s->ch[i].unit) && !non_eeg(s->ch[i].label))
                    w->idx[n++] = i;
        }
    }
    /* one rate: the first channel's */
    {
        size_t k = 0;

        for (i = 0; i < n; i++) {
            const struct mmdx_channel *c = &s->ch[w->idx[i]];

            if (c->fs_hz <= 0)
                continue;
            if (fs == 0)
                fs = c->fs_hz;
            if (fabs(c->fs_hz - fs) > 1e-9 * fs) {
                r->ndrop_rate++;
                continue;
            }
            w->idx[k++] = w->idx[i];
        }
        n = k;
    }
    if (n == 0)
        return mmdx__fail(eng->ctx, MMDX_E_MISSING, STAGE, path, 0,
                          "channels",
                          "no EEG channel to analyse (%s)",
                          par->channels && par->channels[0]
                              ? "none of the named labels found"
                              : "no 10-20 scalp electrode in uV");
    w->nsel = n;
    w->nread = n;
    r->fs_hz = fs;
    if (par->reference == MMDX_EEG_REF_LINKED_EARS) {
        static const char *const ears[2][2] = { { "A1", "M1" },
                                                { "A2", "M2" } };
        size_t e;

        for (e = 0; e < 2; e++) {
            int k = mmdx__signal_find(s, ears[e][0]);

            if (k < 0)
                k = mmdx__signal_find(s, ears[e][1]);
            if (k < 0 || fabs(s->ch[k].fs_hz - fs) > 1e-9 * fs)
                return mmdx__fail(eng->ctx, MMDX_E_MISSING, STAGE, path, 0,
                                  "reference",
                                  "linked-ears needs %s (or %s) "
                                  "at %g Hz",
                                  ears[e][0], ears[e][1], fs);
            w->ear[e] = w->nread;
            w->idx[w->nread++] = (size_t)k;
        }
    }
    return MMDX_OK;
}

static enum mmdx_status pass_alloc(struct mmdx_eeg_engine *eng,
                                   struct pass *w, size_t E, size_t cap,
                                   size_t nper, size_t nfreq)
{
    size_t i;

    w->raw = mmdx__calloc(w->nread, sizeof(double *));
    w->ring = mmdx__calloc(w->nsel, sizeof(double *));
    w->x0 = mmdx__calloc(w->nsel, sizeof(double));
    w->mx = mmdx__calloc(w->nsel, sizeof(struct moments));
    w->md1 = mmdx__calloc(w->nsel, sizeof(struct moments));
    w->md2 = mmdx__calloc(w->nsel, sizeof(struct moments));
    w->cur = mmdx__calloc(w->nread, sizeof(double *));
    w->mean = mmdx__malloc(E * sizeof(double));
    if (!w->raw || !w->ring || !w->x0 || !w->mx || !w->md1 || !w->md2 ||
        !w->cur || !w->mean)
        return mmdx__nomem(eng->ctx);
    /* selected channels are read straight into their Welch buffer when
     * there is one; the rest (ears, or no PSD) into an epoch buffer */
    for (i = nper ? w->nsel : 0; i < w->nread; i++)
        if (!(w->raw[i] = mmdx__malloc(E * sizeof(double))))
            return mmdx__nomem(eng->ctx);
    if (nper) {
        for (i = 0; i < w->nsel; i++)
            if (!(w->ring[i] = mmdx__malloc(cap * sizeof(double))))
                return mmdx__nomem(eng->ctx);
        w->acc = mmdx__calloc(w->nsel * nfreq, sizeof(double));
        if (!w->acc)
            return mmdx__nomem(eng->ctx);
    }
    return MMDX_OK;
}

/*
 * Filters for one rate: per channel [highpass][lowpass][notch] sections.
 * A low-pass or notch at or above the Nyquist frequency has nothing to
 * remove (the recording holds no such frequency): it is left out and the
 * result says so (a data-quality flag, not an error). A high-pass there
 * would remove everything: that is an error naming the parameter.
 */
static enum mmdx_status filters_make(struct mmdx_eeg_engine *eng,
                                     const char *path, struct pass *w,
                                     double fs, struct mmdx_eeg_result *r)
{
    const struct mmdx_eeg_params *par = eng->par;
    struct mmdx_biquad one[16];
    size_t n = 0, c;
    int order = (int)par->filter_order;
    double nyq = fs / 2;
    bool lowpass = par->lowpass_hz > 0, notch = par->notch_hz > 0;

    if (par->highpass_hz > 0 && par->highpass_hz >= nyq)
        return mmdx__fail(eng->ctx, MMDX_E_INVAL, STAGE, path, 0,
                          "highpass_hz",
                          "%g Hz is not below the Nyquist frequency (%g Hz) "
                          "of this recording: nothing would pass",
                          par->highpass_hz, nyq);
    if (lowpass && par->lowpass_hz >= nyq) {
        lowpass = false;
        r->lowpass_skipped = true;
    }
    if (notch && par->notch_hz >= nyq) {
        notch = false;
        r->notch_skipped = true;
    }
    if (par->highpass_hz > 0)
        n += mmdx__butter_sections(one + n, order, true, par->highpass_hz,
                                   fs);
    if (lowpass)
        n += mmdx__butter_sections(one + n, order, false, par->lowpass_hz,
                                   fs);
    if (notch)
        mmdx__notch_section(&one[n++], par->notch_hz, par->notch_q, fs);
    w->nsec = n;
    if (!n)
        return MMDX_OK;
    w->sec = mmdx__malloc(w->nsel * n * sizeof(struct mmdx_biquad));
    if (!w->sec)
        return mmdx__nomem(eng->ctx);
    for (c = 0; c < w->nsel; c++)
        memcpy(w->sec + c * n, one, n * sizeof(struct mmdx_biquad));
    return MMDX_OK;
}

/* Smallest and largest of x[0..n-1], n >= 1 (a NaN is skipped unless it
 * is x[0], as with one running pair). Four running pairs: independent
 * comparisons instead of one chain. */
static void ptp_range(const double *x, size_t n, double *lo, double *hi)
{
    double l[4], h[4];
    size_t k, j;

    for (j = 0; j < 4; j++)
        l[j] = h[j] = x[0];
    for (k = 1; k + 4 <= n; k += 4)
        for (j = 0; j < 4; j++) {
            if (x[k + j] < l[j])
                l[j] = x[k + j];
            if (x[k + j] > h[j])
                h[j] = x[k + j];
        }
    for (; k < n; k++) {
        if (x[k] < l[0])
            l[0] = x[k];
        if (x[k] > h[0])
            h[0] = x[k];
    }
    for (j = 1; j < 4; j++) {
        if (l[j] < l[0])
            l[0] = l[j];
        if (h[j] > h[0])
            h[0] = h[j];
    }
    *lo = l[0];
    *hi = h[0];
}

/*
 * Hjorth: fold an epoch's samples x and their first and second differences
 * into the running moments, in one pass. Sums are taken about x[0] (the
 * epoch's values stay close to it, so the one-pass variance loses no
 * accuracy that matters); the sums of the differences telescope, so their
 * means are exact. Two interleaved accumulators per sum keep the additions
 * independent.
 */
static void hjorth_add(struct pass *w, size_t c, const double *x, size_t n)
{
    double k0, s[2] = { 0, 0 }, q[2] = { 0, 0 };
    double q1[2] = { 0, 0 }, q2[2] = { 0, 0 }, m, dp, a0, a1;
    size_t i;

    if (n == 0)
        return;
    k0 = x[0];
    if (n < 3) {
        a1 = n > 1 ? x[1] - k0 : 0;
        s[0] = a1;
        q[0] = a1 * a1;
        q1[0] = a1 * a1;
    } else {
        /* samples 0 and 1 (x[0] - k0 = 0); then one loop over the
         * samples, first differences and second differences */
        a1 = x[1] - k0;
        s[0] = a1;
        q[0] = a1 * a1;
        q1[0] = a1 * a1;
        dp = a1;  /* previous first difference */
#if defined(__GNUC__)
        {
            /* the same sums, samples i and i + 1 in the two lanes of a
             * vector (GCC and clang vector extension) */
            typedef double v2d __attribute__((vector_size(16)));
            v2d vk = { k0, k0 }, vs = { 0, 0 }, vq = { 0, 0 };
            v2d vq1 = { 0, 0 }, vq2 = { 0, 0 };

            for (i = 2; i + 1 < n; i += 2) {
                v2d c0, p1, p2, a, d, e;

                memcpy(&c0, x + i, sizeof(c0));
                memcpy(&p1, x + i - 1, sizeof(p1));
                memcpy(&p2, x + i - 2, sizeof(p2));
                a = c0 - vk;
                d = c0 - p1;
                e = d - (p1 - p2);
                vs += a;
                vq += a * a;
                vq1 += d * d;
                vq2 += e * e;
            }
            s[0] += vs[0];
            s[1] += vs[1];
            q[0] += vq[0];
            q[1] += vq[1];
            q1[0] += vq1[0];
            q1[1] += vq1[1];
            q2[0] += vq2[0];
            q2[1] += vq2[1];
            dp = x[i - 1] - x[i - 2]; /* i >= 2: first unprocessed */
        }
#else
        for (i = 2; i + 1 < n; i += 2) {
            double da = x[i] - x[i - 1], db = x[i + 1] - x[i];
            double ea = da - dp, eb = db - da;

            a0 = x[i] - k0;
            a1 = x[i + 1] - k0;
            s[0] += a0;
            s[1] += a1;
            q[0] += a0 * a0;
            q[1] += a1 * a1;
            q1[0] += da * da;
            q1[1] += db * db;
            q2[0] += ea * ea;
            q2[1] += eb * eb;
            dp = db;
        }
#endif
        if (i < n) {
            double da = x[i] - x[i - 1], ea = da - dp;

            a0 = x[i] - k0;
            s[0] += a0;
            q[0] += a0 * a0;
            q1[0] += da * da;
            q2[0] += ea * ea;
        }
    }
    m = (s[0] + s[1]) / (double)n;
    moments_merge(&w->mx[c], (double)n, k0 + m,
                  fmax(0.0, q[0] + q[1] - m * m * (double)n));
    if (n < 2)
        return;
    m = (x[n - 1] - x[0]) / (double)(n - 1);
    moments_merge(&w->md1[c], (double)(n - 1), m,
                  fmax(0.0, q1[0] + q1[1] - m * m * (double)(n - 1)));
    if (n < 3)
        return;
    m = ((x[n - 1] - x[n - 2]) - (x[1] - x[0])) / (double)(n - 2);
    moments_merge(&w->md2[c], (double)(n - 2), m,
                  fmax(0.0, q2[0] + q2[1] - m * m * (double)(n - 2)));
}

enum mmdx_status mmdx__eeg_analyse(struct mmdx_eeg_engine *eng,
                                   const char *path,
                                   const struct mmdx_signal *s,
                                   struct mmdx_eeg_result *r)
{
    const struct mmdx_eeg_params *par = eng->par;
    struct pass w;
    enum mmdx_status st;
    size_t N = SIZE_MAX, E, nper, nover, step, cap, nfreq = 0, i, c, k;
    size_t start, rb0 = 0, rlen = 0, seg_next = 0, bad_end = 0, pidx = 0;
    double fs;

    memset(r, 0, sizeof(*r));
    memset(&w, 0, sizeof(w));
    st = select_channels(eng, path, s, &w, r);
    if (st)
        goto out;
    fs = r->fs_hz;
    for (i = 0; i < w.nread; i++)
        if (s->ch[w.idx[i]].n < N)
            N = s->ch[w.idx[i]].n;
    r->nch = w.nsel;
    r->label = mmdx__calloc(w.nsel, sizeof(*r->label));
    r->hj_act = mmdx__calloc(w.nsel, sizeof(double));
    r->hj_mob = mmdx__calloc(w.nsel, sizeof(double));
    r->hj_cmp = mmdx__calloc(w.nsel, sizeof(double));
    if (!r->label || !r->hj_act || !r->hj_mob || !r->hj_cmp) {
        st = mmdx__nomem(eng->ctx);
        goto out;
    }
    for (c = 0; c < w.nsel; c++)
        mmdx__strlcpy(r->label[c], s->ch[w.idx[c]].label, 32);
    E = (size_t)floor(par->epoch_s * fs + 0.5);
    if (E < 1)
        E = 1;
    nper = mmdx__eeg_needs_psd(par) ? seg_len(par, fs) : 0;
    if (mmdx__eeg_needs_psd(par) && nper < 4)
        r->seg_few_samples = true;
    if (nper < 4 || nper > N)
        nper = 0; /* too short for one segment (or no PSD wanted): PSD
                   * features NaN */
    /* bands the recording cannot hold: features NaN (flagged by the
     * stage); a band's upper edge is exclusive, so hi = Nyquist is whole */
    for (i = 0; i < MMDX_EEG_NBANDS; i++)
        if (par->band_hz[i][1] > fs / 2)
            r->above_nyq |= 1u << i;
    if (par->total_hz[1] > fs / 2)
        r->above_nyq |= 1u << MMDX_EEG_NBANDS;
    nover = (size_t)floor(par->overlap * (double)nper);
    if (nper && nover >= nper)
        nover = nper - 1;
    step = nper - nover;
    cap = nper + E;
    if (nper) {
        nfreq = psd_bins(par, nper, fs);
        st = plan_get(eng, nper, &pidx);
        if (st)
            goto out;
    }
    r->nperseg = nper;
    r->nfreq = nfreq;
    r->df_hz = nper ? fs / (double)nper : NAN;
    st = pass_alloc(eng, &w, E, cap, nper, nfreq);
    if (!st)
        st = filters_make(eng, path, &w, fs, r);
    if (st)
        goto out;

    for (start = 0; start < N; start += E) {
        size_t len = N - start < E ? N - start : E;
        bool bad = false, amp = false, flat = false;

        for (i = 0; i < w.nread; i++) {
            w.cur[i] = nper && i < w.nsel ? w.ring[i] + rlen : w.raw[i];
            st = mmdx__signal_read(eng->ctx, s, w.idx[i], start, len,
                                   w.cur[i]);
            if (st)
                goto out;
        }
        /* re-reference */
        if (par->reference == MMDX_EEG_REF_AVERAGE && w.nsel > 1) {
            /* channel by channel over contiguous samples; each sample's
             * sum is still taken over the channels in order */
            double *m = w.mean;

            for (k = 0; k < len; k++)
                m[k] = 0.0 + w.cur[0][k]; /* as a sum from 0: -0 -> +0 */
            for (c = 1; c < w.nsel; c++)
                for (k = 0; k < len; k++)
                    m[k] += w.cur[c][k];
            for (k = 0; k < len; k++)
                m[k] /= (double)w.nsel;
            for (c = 0; c < w.nsel; c++)
                for (k = 0; k < len; k++)
                    w.cur[c][k] -= m[k];
        } else if (par->reference == MMDX_EEG_REF_LINKED_EARS) {
            const double *a = w.cur[w.ear[0]], *b = w.cur[w.ear[1]];

            for (c = 0; c < w.nsel; c++)
                for (k = 0; k < len; k++)
                    w.cur[c][k] -= 0.5 * (a[k] + b[k]);
        }
        /* filter: the first sample is taken out first so that recorded DC
         * offsets do not ring through the filters; it is added back when
         * the chain passes DC (no high-pass) */
        if (w.nsec) {
            bool dc = !(par->highpass_hz > 0);

            for (c = 0; c < w.nsel; c++) {
                double *x = w.cur[c];

                if (start == 0)
                    w.x0[c] = x[0];
                for (k = 0; k < len; k++)
                    x[k] -= w.x0[c];
            }
            mmdx__biquad_run_multi(w.sec, w.nsec, w.cur, w.nsel, len);
            if (dc)
                for (c = 0; c < w.nsel; c++)
                    for (k = 0; k < len; k++)
                        w.cur[c][k] += w.x0[c];
        }
        /* artifact rules */
        r->nepoch++;
        if (par->reject) {
            for (c = 0; c < w.nsel; c++) {
                double lo, hi;

                ptp_range(w.cur[c], len, &lo, &hi);
                if (!(hi - lo <= par->reject_ptp_uv))
                    amp = true;
                else if (hi - lo < par->flat_ptp_uv && len >= 2)
                    flat = true; /* one sample has no peak-to-peak: a
                                  * last epoch of 1 sample, or epoch_s
                                  * under 2 samples at a low rate, is not
                                  * "flat" */
            }
            bad = amp || flat;
            if (bad) {
                r->nrej++;
                r->nrej_amp += amp;
                r->nrej_flat += !amp && flat;
                bad_end = start + len;
            }
        }
        if (!bad && (par->fam & MMDX_EEG_FAM_HJORTH))
            for (c = 0; c < w.nsel; c++)
                hjorth_add(&w, c, w.cur[c], len);
        if (!nper)
            continue;
        /* Welch: the epoch is already in the buffer; every complete
         * segment */
        rlen += len;
        while (seg_next + nper <= start + len) {
            r->nseg_total++;
            if (seg_next >= bad_end) {
                const double *win = eng->plan[pidx].win;

                /* detrend (constant) and window: by the backend */
                for (c = 0; c < w.nsel; c++)
                    mmdx__rfft_welch_add(eng->plan[pidx].fft,
                                         w.ring[c] + (seg_next - rb0), win,
                                         eng->plan[pidx].cosw,
                                         eng->plan[pidx].ncos,
                                         w.acc + c * nfreq, nfreq);
                r->nseg++;
            }
            seg_next += step;
        }
        /* keep only what the next segment needs */
        if (seg_next > rb0) {
            size_t drop = seg_next - rb0;

            for (c = 0; c < w.nsel; c++)
                memmove(w.ring[c], w.ring[c] + drop,
                        (rlen - drop) * sizeof(double));
            rlen -= drop;
            rb0 = seg_next;
        }
    }
    /* Hjorth parameters (derivatives per second) */
    for (c = 0; c < w.nsel; c++) {
        double vx = moments_var(&w.mx[c]), v1 = moments_var(&w.md1[c]);
        double v2 = moments_var(&w.md2[c]);
        double mob = vx > 0 ? sqrt(v1 / vx) : NAN;
        double mob1 = v1 > 0 ? sqrt(v2 / v1) : NAN;
        bool on = par->fam & MMDX_EEG_FAM_HJORTH;

        r->hj_act[c] = on ? vx : NAN;
        r->hj_mob[c] = on ? mob * fs : NAN;
        r->hj_cmp[c] = on && mob > 0 ? mob1 / mob : NAN;
    }
    if (nper) {
        /* one-sided density, scipy's scaling='density' */
        double scale = 1.0 / (fs * eng->plan[pidx].wss);

        r->psd = mmdx__malloc(w.nsel * nfreq * sizeof(double));
        if (!r->psd) {
            st = mmdx__nomem(eng->ctx);
            goto out;
        }
        for (c = 0; c < w.nsel; c++)
            for (k = 0; k < nfreq; k++) {
                double v = r->nseg ? w.acc[c * nfreq + k] / (double)r->nseg
                                         * scale
                                   : NAN;

                if (k > 0 && !(nper % 2 == 0 && k == nper / 2))
                    v *= 2;
                r->psd[c * nfreq + k] = v;
            }
    }
out:
    pass_free(&w, w.nread);
    if (st)
        mmdx__eeg_result_fini(r);
    return st;
}

/* ---- features from the PSD -------------------------------------------------- */

double mmdx__eeg_band_power(const double *psd, size_t nfreq, double df,
                            double lo, double hi)
{
    double sum = 0;
    size_t k;
    bool any = false;

    for (k = 0; k < nfreq; k++) {
        double f = (double)k * df;

        if (f >= lo && f < hi) {
            sum += psd[k];
            any = true;
        }
    }
    return any ? sum * df : NAN;
}

enum { F_ABS = 0, F_REL = F_ABS + MMDX_EEG_NBANDS,
       F_TOTAL = F_REL + MMDX_EEG_NBANDS, F_THETA_ALPHA, F_SLOWING, F_PAF,
       F_SEF, F_ENTROPY, F_HJ_ACT, F_HJ_MOB, F_HJ_CMP, F_COUNT };

/* The family (MMDX_EEG_FAM_*) of per-channel value f. */
static unsigned feature_family(int f)
{
    if (f < F_THETA_ALPHA)
        return MMDX_EEG_FAM_BAND;
    if (f < F_PAF)
        return MMDX_EEG_FAM_RATIO;
    if (f < F_HJ_ACT)
        return MMDX_EEG_FAM_SPEC;
    return MMDX_EEG_FAM_HJORTH;
}

static void feature_name(int f, char *buf, size_t size)
{
    if (f < F_REL)
        snprintf(buf, size, "eeg.band.%s_abs_uv2", band_names[f - F_ABS]);
    else if (f < F_TOTAL)
        snprintf(buf, size, "eeg.band.%s_rel", band_names[f - F_REL]);
    else {
        static const char *const names[] = {
            "eeg.band.total_abs_uv2", "eeg.ratio.theta_alpha",
            "eeg.ratio.slowing", "eeg.spec.paf_hz", "eeg.spec.sef_hz",
            "eeg.spec.entropy", "eeg.hjorth.activity_uv2",
            "eeg.hjorth.mobility_per_s", "eeg.hjorth.complexity"
        };

        snprintf(buf, size, "%s", names[f - F_TOTAL]);
    }
}

/* All F_COUNT values of one channel. */
static void channel_values(const struct mmdx_eeg_params *par,
                           const struct mmdx_eeg_result *r, size_t c,
                           double *v)
{
    const double *p = r->psd ? r->psd + c * r->nfreq : NULL;
    double df = r->df_hz, total = NAN;
    size_t b, k;

    for (k = 0; k < F_COUNT; k++)
        v[k] = NAN;
    v[F_HJ_ACT] = r->hj_act[c];
    v[F_HJ_MOB] = r->hj_mob[c];
    v[F_HJ_CMP] = r->hj_cmp[c];
    if (!p || r->nseg == 0)
        return;
    /* a band reaching above Nyquist would be summed over part of its
     * width only: NaN rather than a value not comparable across rates */
    if (!(r->above_nyq & (1u << MMDX_EEG_NBANDS)))
        total = mmdx__eeg_band_power(p, r->nfreq, df, par->total_hz[0],
                                     par->total_hz[1]);
    v[F_TOTAL] = total;
    for (b = 0; b < MMDX_EEG_NBANDS; b++) {
        if (r->above_nyq & (1u << b))
            continue;
        v[F_ABS + b] = mmdx__eeg_band_power(p, r->nfreq, df,
                                            par->band_hz[b][0],
                                            par->band_hz[b][1]);
        v[F_REL + b] = total > 0 ? v[F_ABS + b] / total : NAN;
    }
    v[F_THETA_ALPHA] = v[F_ABS + 2] > 0 ? v[F_ABS + 1] / v[F_ABS + 2] : NAN;
    v[F_SLOWING] = (v[F_ABS + 2] + v[F_ABS + 3]) > 0
                       ? (v[F_ABS + 0] + v[F_ABS + 1]) /
                             (v[F_ABS + 2] + v[F_ABS + 3])
                       : NAN;
    if (!(par->fam & MMDX_EEG_FAM_SPEC))
        return;
    /* peak alpha frequency: the highest bin in the alpha band */
    if (!(r->above_nyq & (1u << 2))) {
        double best = -1;

        for (k = 0; k < r->nfreq; k++) {
            double f = (double)k * df;

            if (f >= par->band_hz[2][0] && f < par->band_hz[2][1] &&
                p[k] > best) {
                best = p[k];
                v[F_PAF] = f;
            }
        }
    }
    /* spectral edge and entropy over the total band */
    if (total > 0) {
        double cum = 0, h = 0, target = par->sef_percent / 100.0 * total;
        size_t m = 0;

        for (k = 0; k < r->nfreq; k++) {
            double f = (double)k * df;

            if (f < par->total_hz[0] || f >= par->total_hz[1])
                continue;
            m++;
            cum += p[k] * df;
            if (isnan(v[F_SEF]) && cum >= target * (1 - 1e-12))
                v[F_SEF] = f;
            if (p[k] > 0) {
                double q = p[k] * df / total;

                h -= q * log(q);
            }
        }
        v[F_ENTROPY] = m > 1 ? h / log((double)m) : NAN;
    }
}

static double mean_finite(const double *v, size_t n, size_t stride)
{
    double s = 0;
    size_t i, m = 0;

    for (i = 0; i < n; i++)
        if (isfinite(v[i * stride])) {
            s += v[i * stride];
            m++;
        }
    return m ? s / (double)m : NAN;
}

static int find_label(const struct mmdx_eeg_result *r, const char *l)
{
    size_t i;

    for (i = 0; i < r->nch; i++)
        if (strcmp(r->label[i], l) == 0)
            return (int)i;
    return -1;
}

enum mmdx_status mmdx__eeg_features_add(struct mmdx_ctx *ctx,
                                        const struct mmdx_eeg_params *par,
                                        const struct mmdx_eeg_result *r,
                                        struct mmdx_featset *fs)
{
    double *v = NULL, *reg = NULL;
    char name[96];
    size_t c, b, q, i;
    int f;
    enum mmdx_status st = MMDX_OK;

#define ADD(val, ...)                                                        \
    do {                                                                     \
        st = mmdx__featset_addf(fs, (val), __VA_ARGS__);                     \
        if (st)                                                              \
            goto out;                                                        \
    } while (0)

    v = mmdx__malloc((r->nch ? r->nch : 1) * F_COUNT * sizeof(double));
    reg = mmdx__malloc((r->nch > MMDX_ARRAY_SIZE(pairs)
                            ? r->nch
                            : MMDX_ARRAY_SIZE(pairs)) *
                       sizeof(double));
    if (!v || !reg) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (c = 0; c < r->nch; c++)
        channel_values(par, r, c, v + c * F_COUNT);
    for (f = 0; f < F_COUNT; f++) {
        if (!(feature_family(f) & par->fam))
            continue;
        feature_name(f, name, sizeof(name));
        ADD(mean_finite(v + f, r->nch, F_COUNT), "%s", name);
        for (q = 0; q < R_COUNT; q++) {
            size_t m = 0;

            for (c = 0; c < r->nch; c++)
                if (region_of(r->label[c]) == (int)q)
                    reg[m++] = v[c * F_COUNT + f];
            ADD(mean_finite(reg, m, 1), "%s.%s", name, region_names[q]);
        }
        if (par->per_channel == MMDX_EEG_PERCH_STANDARD) {
            for (i = 0; i < MMDX_ARRAY_SIZE(standard19); i++) {
                int k = find_label(r, standard19[i]);

                ADD(k >= 0 ? v[(size_t)k * F_COUNT + f] : NAN, "%s.%s", name,
                    standard19[i]);
            }
        } else if (par->per_channel == MMDX_EEG_PERCH_ALL) {
            for (c = 0; c < r->nch; c++)
                ADD(v[c * F_COUNT + f], "%s.%s", name, r->label[c]);
        }
    }
    /* asymmetry: ln(left / right) of absolute band power per pair */
    for (b = 0; (par->fam & MMDX_EEG_FAM_ASYM) && b < MMDX_EEG_NBANDS; b++) {
        size_t m = 0;

        for (i = 0; i < MMDX_ARRAY_SIZE(pairs); i++) {
            int l = find_label(r, pairs[i][0]), rr = find_label(r, pairs[i][1]);
            double a = NAN;

            if (l >= 0 && rr >= 0) {
                double pl = v[(size_t)l * F_COUNT + F_ABS + b];
                double pr = v[(size_t)rr * F_COUNT + F_ABS + b];

                if (pl > 0 && pr > 0)
                    a = log(pl / pr);
            }
            reg[m++] = a;
            if (par->per_channel != MMDX_EEG_PERCH_NONE)
                ADD(a, "eeg.asym.%s_lr.%s_%s", band_names[b], pairs[i][0],
                    pairs[i][1]);
        }
        ADD(mean_finite(reg, m, 1), "eeg.asym.%s_lr", band_names[b]);
    }
    ADD((double)r->nch, "eeg.quality.channels_used");
    ADD((double)r->nepoch, "eeg.quality.epochs_total");
    ADD((double)r->nrej, "eeg.quality.epochs_rejected");
    ADD(r->nepoch ? (double)r->nrej / (double)r->nepoch : NAN,
        "eeg.quality.rejected_frac");
    ADD((double)r->nseg, "eeg.quality.segments_used");
#undef ADD
out:
    mmdx__free(v);
    mmdx__free(reg);
    return st;
}

enum mmdx_status mmdx__eeg_psd_tsv(struct mmdx_ctx *ctx,
                                   const struct mmdx_eeg_result *r,
                                   struct mmdx_dstr *out)
{
    size_t c, k;
    char num[32];
    enum mmdx_status st;

    st = mmdx__dstr_adds(out, "freq_hz");
    for (c = 0; !st && c < r->nch; c++)
        st = mmdx__dstr_addf(out, "\t%s", r->label[c]);
    if (!st)
        st = mmdx__dstr_adds(out, "\n");
    for (k = 0; !st && k < r->nfreq; k++) {
        st = mmdx__dstr_adds(out, mmdx__fmt_double((double)k * r->df_hz,
                                                   num));
        for (c = 0; !st && c < r->nch; c++)
            st = mmdx__dstr_addf(out, "\t%s",
                                 mmdx__fmt_double(r->psd[c * r->nfreq + k],
                                                  num));
        if (!st)
            st = mmdx__dstr_adds(out, "\n");
    }
    if (st == MMDX_E_NOMEM)
        return mmdx__nomem(ctx);
    if (st)
        return mmdx__fail(ctx, st, STAGE, NULL, 0, NULL,
                          "PSD table exceeds its size limit");
    return MMDX_OK;
}

/* ---- the stage ------------------------------------------------------------- */

struct eeg_priv {
    struct mmdx_eeg_params par;   /* first: the params table points here */
    double expect_fs_hz;
    struct mmdx_eeg_engine eng;
    bool eng_ready;
};

static enum mmdx_status stage_init(struct mmdx_stage *st)
{
    struct eeg_priv *p = st->priv;
    enum mmdx_status s;

    s = mmdx__eeg_families_parse(st->ctx, p->par.families, &p->par.fam);
    if (!s)
        s = mmdx__eeg_params_check(st->ctx, &p->par);
    if (s)
        return s;
    /* plan the FFT for the expected rate now, once per worker */
    s = mmdx__eeg_engine_init(&p->eng, st->ctx, &p->par, p->expect_fs_hz);
    p->eng_ready = true;
    return s;
}

static void stage_fini(struct mmdx_stage *st)
{
    struct eeg_priv *p = st->priv;

    if (p && p->eng_ready)
        mmdx__eeg_engine_fini(&p->eng);
}

/* Flag the bands (and the total band) that reach above the recording's
 * Nyquist frequency: their features are NaN. */
static enum mmdx_status flag_above_nyquist(struct mmdx_patient *pt,
                                           const struct mmdx_eeg_result *r)
{
    char list[96] = "";
    size_t b, used = 0;

    for (b = 0; b <= MMDX_EEG_NBANDS; b++) {
        const char *nm = b < MMDX_EEG_NBANDS ? band_names[b] : "total";
        int n;

        if (!(r->above_nyq & (1u << b)))
            continue;
        n = snprintf(list + used, sizeof(list) - used, "%s%s",
                     used ? ", " : "", nm);
        if (n > 0 && (size_t)n < sizeof(list) - used)
            used += (size_t)n;
    }
    return mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.band.above_nyquist",
                              "band(s) %s reach above the Nyquist frequency "
                              "(%g Hz) of the recording: their features "
                              "are NaN%s",
                              list, r->fs_hz / 2,
                              (r->above_nyq >> MMDX_EEG_NBANDS) & 1
                                  ? ", and so are the relative powers, "
                                    "spectral edge and entropy"
                                  : "");
}

static enum mmdx_status stage_process(struct mmdx_stage *st,
                                      struct mmdx_patient *pt)
{
    struct eeg_priv *p = st->priv;
    const struct mmdx_signal *s = pt->slot[MMDX_SLOT_EEG];
    const char *path = pt->path[MMDX_MOD_EEG];
    struct mmdx_eeg_result r;
    enum mmdx_status rc;

    p->eng.ctx = st->ctx;
    rc = mmdx__eeg_analyse(&p->eng, path, s, &r);
    if (rc)
        return rc;
    if (r.nonstandard &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.channels.nonstandard",
                                 "no 10-20 electrode label: analysing every "
                                 "voltage channel (%zu); region and "
                                 "asymmetry features NaN",
                                 r.nch)))
        goto out;
    if (r.nmissing &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.channels.missing",
                                 "%zu requested channel(s) not found",
                                 r.nmissing)))
        goto out;
    if (r.ndrop_rate &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG,
                                 "eeg.channels.rate_mismatch",
                                 "%zu channel(s) at another rate than "
                                 "%g Hz left out",
                                 r.ndrop_rate, r.fs_hz)))
        goto out;
    if (r.nrej &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.quality.artifacts",
                                 "%zu of %zu epochs rejected (%zu amplitude "
                                 "> %g uV, %zu flat < %g uV)",
                                 r.nrej, r.nepoch, r.nrej_amp,
                                 p->par.reject_ptp_uv, r.nrej_flat,
                                 p->par.flat_ptp_uv)))
        goto out;
    if (r.notch_skipped &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.filter.notch_skipped",
                                 "notch at %g Hz not applied: at or above "
                                 "the Nyquist frequency (%g Hz) of the "
                                 "recording",
                                 p->par.notch_hz, r.fs_hz / 2)))
        goto out;
    if (r.lowpass_skipped &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG,
                                 "eeg.filter.lowpass_skipped",
                                 "low-pass at %g Hz not applied: at or "
                                 "above the Nyquist frequency (%g Hz) of "
                                 "the recording",
                                 p->par.lowpass_hz, r.fs_hz / 2)))
        goto out;
    if (r.above_nyq && r.nperseg &&
        (rc = flag_above_nyquist(pt, &r)))
        goto out;
    if (r.seg_few_samples &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.psd.too_short",
                                 "a %g s Welch segment is fewer than 4 "
                                 "samples at %g Hz: spectral features NaN",
                                 p->par.window_s, r.fs_hz)))
        goto out;
    if (r.nperseg == 0 && !r.seg_few_samples &&
        mmdx__eeg_needs_psd(&p->par) &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG, "eeg.psd.too_short",
                                 "recording shorter than one %g s Welch "
                                 "segment: spectral features NaN",
                                 p->par.window_s)))
        goto out;
    if (r.nperseg && r.nseg == 0 &&
        (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG,
                                 "eeg.quality.no_clean_segments",
                                 "no Welch segment free of rejected epochs: "
                                 "spectral features NaN")))
        goto out;
    if (p->par.per_channel == MMDX_EEG_PERCH_STANDARD) {
        size_t i, absent = 0;

        for (i = 0; i < MMDX_ARRAY_SIZE(standard19); i++)
            absent += find_label(&r, standard19[i]) < 0;
        if (absent &&
            (rc = mmdx__patient_flag(pt, MMDX_MOD_EEG,
                                     "eeg.channels.standard_absent",
                                     "%zu of the 19 standard 10-20 channels "
                                     "absent: their per-channel features "
                                     "are NaN",
                                     absent)))
            goto out;
    }
    rc = mmdx__eeg_features_add(st->ctx, &p->par, &r, &pt->features);
    if (!rc && p->par.write_psd && r.psd && pt->out_dir) {
        struct mmdx_dstr d;

        mmdx__dstr_init(&d, (size_t)1 << 28);
        rc = mmdx__eeg_psd_tsv(st->ctx, &r, &d);
        if (!rc)
            rc = mmdx__patient_write(pt, "eeg_psd.tsv", d.s, d.len);
        mmdx__dstr_fini(&d);
    }
out:
    mmdx__eeg_result_fini(&r);
    return rc;
}

#define P_(f) offsetof(struct eeg_priv, par.f)
#define BAND_(b, nm, lo, hi)                                                 \
    { nm "_lo_hz", MMDX_PARAM_DOUBLE, P_(band_hz[b][0]), lo, NULL, 0, 1000,  \
      NULL, "lower edge of the " nm " band (inclusive), Hz" },              \
    { nm "_hi_hz", MMDX_PARAM_DOUBLE, P_(band_hz[b][1]), hi, NULL, 0, 1000,  \
      NULL, "upper edge of the " nm " band (exclusive), Hz" }

static const struct mmdx_param eeg_params[] = {
    { "channels", MMDX_PARAM_STRING, P_(channels), 0, "", 0, 0, NULL,
      "comma-separated channel labels (10-20 names, matched after "
      "normalisation); empty = every scalp electrode in uV" },
    { "reference", MMDX_PARAM_ENUM, P_(reference), MMDX_EEG_REF_AVERAGE,
      NULL, 0, 0, MMDX_EEG_REF_CHOICES,
      "re-reference: as recorded, common average, or linked ears (A1/A2 or "
      "M1/M2)" },
    { "highpass_hz", MMDX_PARAM_DOUBLE, P_(highpass_hz), 1.0, NULL, 0, 1000,
      NULL, "Butterworth high-pass corner, Hz (0 = off)" },
    { "lowpass_hz", MMDX_PARAM_DOUBLE, P_(lowpass_hz), 45.0, NULL, 0, 10000,
      NULL, "Butterworth low-pass corner, Hz (0 = off; left out, flagged, "
      "at or above a recording's Nyquist frequency)" },
    { "filter_order", MMDX_PARAM_INT, P_(filter_order), 4, NULL, 2, 8, NULL,
      "Butterworth order of each of the high- and low-pass (even)" },
    { "notch_hz", MMDX_PARAM_DOUBLE, P_(notch_hz), 50.0, NULL, 0, 10000,
      NULL, "mains notch frequency, Hz (0 = off; left out, flagged, at or "
      "above a recording's Nyquist frequency)" },
    { "notch_q", MMDX_PARAM_DOUBLE, P_(notch_q), 30.0, NULL, 0.5, 1000, NULL,
      "notch quality factor (centre / -3 dB width)" },
    { "reject", MMDX_PARAM_BOOL, P_(reject), 1, NULL, 0, 0, NULL,
      "reject artifact epochs by the amplitude and flatness rules" },
    { "epoch_s", MMDX_PARAM_DOUBLE, P_(epoch_s), 2.0, NULL, 0.1, 600, NULL,
      "artifact epoch length, s (also the reading block)" },
    { "reject_ptp_uv", MMDX_PARAM_DOUBLE, P_(reject_ptp_uv), 500.0, NULL, 0,
      1e9, NULL,
      "reject an epoch when any channel's peak-to-peak exceeds this, uV" },
    { "flat_ptp_uv", MMDX_PARAM_DOUBLE, P_(flat_ptp_uv), 0.5, NULL, 0, 1e9,
      NULL,
      "reject an epoch when any channel's peak-to-peak is below this, uV" },
    { "window_s", MMDX_PARAM_DOUBLE, P_(window_s), 2.0, NULL, 0.05, 600,
      NULL, "Welch segment length, s (rounded to whole samples)" },
    { "overlap", MMDX_PARAM_DOUBLE, P_(overlap), 0.5, NULL, 0, 0.95, NULL,
      "Welch segment overlap, fraction (samples rounded down)" },
    { "window", MMDX_PARAM_ENUM, P_(window), MMDX_WIN_HANN, NULL, 0, 0,
      MMDX_WINDOW_CHOICES, "Welch window (periodic, as scipy's get_window)" },
    BAND_(0, "delta", 1, 4),
    BAND_(1, "theta", 4, 8),
    BAND_(2, "alpha", 8, 13),
    BAND_(3, "beta", 13, 30),
    BAND_(4, "gamma", 30, 45),
    { "total_lo_hz", MMDX_PARAM_DOUBLE, P_(total_hz[0]), 1, NULL, 0, 1000,
      NULL, "lower edge of the band relative powers divide by, Hz" },
    { "total_hi_hz", MMDX_PARAM_DOUBLE, P_(total_hz[1]), 45, NULL, 0, 1000,
      NULL, "upper edge (exclusive) of that band, Hz" },
    { "sef_percent", MMDX_PARAM_DOUBLE, P_(sef_percent), 95, NULL, 1, 100,
      NULL, "spectral edge: percent of total power below it" },
    { "per_channel", MMDX_PARAM_ENUM, P_(per_channel),
      MMDX_EEG_PERCH_STANDARD, NULL, 0, 0, MMDX_EEG_PERCH_CHOICES,
      "per-channel features: none, the 19 standard 10-20 channels (NaN when "
      "absent: stable names), or every analysed channel" },
    { "write_psd", MMDX_PARAM_BOOL, P_(write_psd), 0, NULL, 0, 0, NULL,
      "write the PSD to eeg_psd.tsv in the patient's folder" },
    { "families", MMDX_PARAM_STRING, P_(families), 0, "all", 0, 0, NULL,
      "feature families to compute, comma-separated: " MMDX_EEG_FAMILY_NAMES
      " (the quality counts always; the Welch PSD only for band, ratio, "
      "spec or asym, the Hjorth pass only for hjorth)" },
    { "fft_plan", MMDX_PARAM_ENUM, P_(fft_plan), 0, NULL, 0, 0,
      MMDX_EEG_FFT_PLAN_CHOICES,
      "FFTW builds only: estimate (plan in microseconds) or measure (time "
      "candidate algorithms once per worker, tens of ms; faster transforms, "
      "last bits may differ between runs)" },
    { "expect_fs_hz", MMDX_PARAM_DOUBLE, offsetof(struct eeg_priv,
                                                  expect_fs_hz),
      256, NULL, 0, 100000, NULL,
      "sampling rate to plan the FFT for at start-up (others are planned "
      "on first use and kept), Hz" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_eeg_features = {
    MMDX_STAGE_ABI,
    "eeg.features",
    "EEG re-referencing, filtering, artifact epochs, Welch PSD, band powers, "
    "ratios, peak alpha, spectral edge and entropy, Hjorth, asymmetry",
    MMDX_SLOT_BIT(MMDX_SLOT_EEG),
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_EEG,
    eeg_params,
    sizeof(struct eeg_priv),
    stage_init,
    stage_process,
    stage_fini
};
