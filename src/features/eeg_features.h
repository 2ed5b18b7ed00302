/*
 * eeg_features.h - the EEG analysis engine behind the eeg.features stage,
 * exposed for the bench tools and tests.
 *
 * One pass over the recording, an epoch at a time (memory flat in its
 * length): channel selection, re-referencing, filtering, artifact epochs,
 * Hjorth statistics and Welch PSD accumulation. Then spectral features
 * from the PSD. Feature names are listed in docs/eeg.md.
 */
#ifndef MMDX_EEG_FEATURES_H
#define MMDX_EEG_FEATURES_H

#include "core/common.h"
#include "features/eeg_dsp.h"
#include "io/signal.h"
#include "pipeline/stage.h"

enum mmdx_eeg_ref {
    MMDX_EEG_REF_AS_RECORDED = 0,
    MMDX_EEG_REF_AVERAGE,
    MMDX_EEG_REF_LINKED_EARS
};
#define MMDX_EEG_REF_CHOICES "as-recorded|average|linked-ears"

enum mmdx_eeg_perch {
    MMDX_EEG_PERCH_NONE = 0,   /* aggregates only */
    MMDX_EEG_PERCH_STANDARD,   /* the 19 channels of the 10-20 system, NaN if absent */
    MMDX_EEG_PERCH_ALL         /* every analysed channel */
};
#define MMDX_EEG_PERCH_CHOICES "none|standard|all"

#define MMDX_EEG_NBANDS 5      /* delta theta alpha beta gamma */

/* Feature families (parameter `families`): bits of mmdx_eeg_params.fam.
 * The quality counts are always reported. */
enum {
    MMDX_EEG_FAM_BAND = 1u << 0,   /* band.*: absolute, relative, total */
    MMDX_EEG_FAM_RATIO = 1u << 1,  /* ratio.theta_alpha, ratio.slowing */
    MMDX_EEG_FAM_SPEC = 1u << 2,   /* spec.paf_hz, spec.sef_hz, spec.entropy */
    MMDX_EEG_FAM_HJORTH = 1u << 3, /* hjorth.* */
    MMDX_EEG_FAM_ASYM = 1u << 4,   /* asym.* */
    MMDX_EEG_FAM_ALL = (1u << 5) - 1,
    /* the families computed from the Welch PSD */
    MMDX_EEG_FAM_SPECTRAL = MMDX_EEG_FAM_BAND | MMDX_EEG_FAM_RATIO |
                            MMDX_EEG_FAM_SPEC | MMDX_EEG_FAM_ASYM
};
#define MMDX_EEG_FAMILY_NAMES "band, ratio, spec, hjorth, asym or all"

/* The stage's parameters (filled by the framework from the pipeline). */
struct mmdx_eeg_params {
    char *channels;            /* comma-separated labels; NULL/"" = scalp */
    int reference;             /* enum mmdx_eeg_ref */
    double highpass_hz;        /* 0 = off */
    double lowpass_hz;         /* 0 = off */
    double notch_hz;           /* 0 = off */
    double notch_q;
    long filter_order;         /* Butterworth order, even */
    bool reject;               /* artifact epochs */
    double epoch_s;            /* artifact epoch length, s */
    double reject_ptp_uv;      /* epoch rejected when any channel exceeds */
    double flat_ptp_uv;        /* epoch rejected when any channel is below */
    double window_s;           /* Welch segment, s */
    double overlap;            /* fraction of the segment, 0..<1 */
    int window;                /* enum mmdx_window */
    double band_hz[MMDX_EEG_NBANDS][2]; /* [lo, hi) */
    double total_hz[2];        /* relative power denominator band */
    double sef_percent;        /* spectral edge, percent of total power */
    int per_channel;           /* enum mmdx_eeg_perch */
    bool write_psd;            /* eeg_psd.tsv in the patient folder */
    int fft_plan;              /* 0 estimate, 1 measure (FFTW only) */
    char *families;            /* the parameter as written; NULL = all */
    unsigned fam;              /* MMDX_EEG_FAM_* bits parsed from it */
};
#define MMDX_EEG_FFT_PLAN_CHOICES "estimate|measure"

/* What one pass over a recording yields. */
struct mmdx_eeg_result {
    size_t nch;                /* analysed channels */
    char (*label)[32];         /* their normalised labels */
    double fs_hz;
    size_t nperseg;
    size_t nfreq;              /* PSD bins computed, from 0 Hz: all
                                * (nperseg/2 + 1) with write_psd, else up
                                * to just above the highest band edge */
    double df_hz;              /* PSD bin width */
    double *psd;               /* nch x nfreq, uV^2/Hz, one-sided density */
    size_t nseg;               /* Welch segments averaged */
    size_t nseg_total;         /* segments the clean-or-not data held */
    size_t nepoch, nrej, nrej_amp, nrej_flat;
    double *hj_act, *hj_mob, *hj_cmp; /* per channel: uV^2, 1/s, ratio;
                                       * NaN when the hjorth family is off */
    size_t ndrop_rate;         /* channels dropped for another rate */
    bool notch_skipped;        /* notch_hz >= Nyquist: nothing to remove */
    bool lowpass_skipped;      /* lowpass_hz >= Nyquist: nothing to remove */
    bool seg_few_samples;      /* window_s x fs < 4 samples: no PSD */
    unsigned above_nyq;        /* bit b: band b reaches above Nyquist;
                                * bit MMDX_EEG_NBANDS: the total band */
    size_t nmissing;           /* requested channels not found */
    bool nonstandard;          /* no 10-20 label: every voltage channel */
};

/* Per-worker state: parameters and FFT plans (planned once, reused). */
struct mmdx_eeg_engine {
    struct mmdx_ctx *ctx;
    const struct mmdx_eeg_params *par;
    struct {
        size_t n;
        struct mmdx_rfft *fft;
        double *win;
        double wss;            /* sum of window squares */
        double cosw[3];        /* the window as cosines, ncos of them */
        size_t ncos;
    } plan[4];
    size_t nplan;
};

void mmdx__eeg_params_default(struct mmdx_eeg_params *p);
/* Check parameter consistency (band order, filter order). */
enum mmdx_status mmdx__eeg_params_check(struct mmdx_ctx *ctx,
                                        const struct mmdx_eeg_params *p);

/* Parse a `families` list ("band,spec", "all"; names separated by commas,
 * blanks around them ignored) into MMDX_EEG_FAM_* bits; NULL = all. An
 * empty list or an unknown name is E_PIPELINE naming `families`. */
enum mmdx_status mmdx__eeg_families_parse(struct mmdx_ctx *ctx,
                                          const char *list, unsigned *out);
/* Whether the pass needs the Welch PSD (a spectral family or write_psd). */
bool mmdx__eeg_needs_psd(const struct mmdx_eeg_params *p);

/* Engine lifecycle; expect_fs_hz (> 0) plans the FFT for that rate now. */
enum mmdx_status mmdx__eeg_engine_init(struct mmdx_eeg_engine *eng,
                                       struct mmdx_ctx *ctx,
                                       const struct mmdx_eeg_params *par,
                                       double expect_fs_hz);
void mmdx__eeg_engine_fini(struct mmdx_eeg_engine *eng);

/* One pass over s (loaded or lazy); path is for error messages. */
enum mmdx_status mmdx__eeg_analyse(struct mmdx_eeg_engine *eng,
                                   const char *path,
                                   const struct mmdx_signal *s,
                                   struct mmdx_eeg_result *r);
void mmdx__eeg_result_fini(struct mmdx_eeg_result *r);

/* Sum of PSD bins with lo <= f < hi, times the bin width (uV^2). */
double mmdx__eeg_band_power(const double *psd, size_t nfreq, double df,
                            double lo, double hi);

/* Add every feature of r to fs (names in docs/eeg.md). */
enum mmdx_status mmdx__eeg_features_add(struct mmdx_ctx *ctx,
                                        const struct mmdx_eeg_params *par,
                                        const struct mmdx_eeg_result *r,
                                        struct mmdx_featset *fs);

/* The PSD as TSV: "freq_hz<TAB>label..." then one row per bin. */
enum mmdx_status mmdx__eeg_psd_tsv(struct mmdx_ctx *ctx,
                                   const struct mmdx_eeg_result *r,
                                   struct mmdx_dstr *out);

#endif
