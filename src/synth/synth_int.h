/*
 * synth_int.h - internals of the synthetic cohort generator (src/synth/).
 *
 * rng.c      xoshiro256** streams seeded through splitmix64
 * model.c    latent factors, the stroke-risk model, Monte Carlo AUROCs
 * ecg.c      ECGSYN-like dynamical ECG with HRV and AF episodes
 * eeg.c      19-channel 10-20 EEG: 1/f background, alpha, slowing
 * image.c    brain-like CT slices with hypodense lesions
 * record.c   FHIR R4 XML bundles and C-CDA documents
 * write.c    WFDB (.hea, format 212 .dat, .atr) and EDF/EDF+ writers
 * synth.c    the driver: patients, manifest, truth, broken files, canaries
 */
#ifndef MMDX_SYNTH_INT_H
#define MMDX_SYNTH_INT_H

#include "mmdx/synth.h"

/* ---- random numbers (rng.c) ------------------------------------------- */
struct synth_rng {
    struct mmdx_rng x;
    double spare;          /* second normal of the last polar pair */
    int has_spare;
};

/* Independent stream number `stream` of patient `index` under `seed`. */
void mmdx__synth_rng_seed(struct synth_rng *r, uint64_t seed, uint64_t index,
                          uint64_t stream);
uint64_t mmdx__synth_rng_u64(struct synth_rng *r);
/* Uniform on [0, 1) with 53 bits. */
double mmdx__synth_uniform(struct synth_rng *r);
/* Uniform on [lo, hi). */
double mmdx__synth_range(struct synth_rng *r, double lo, double hi);
/* Standard normal (polar Marsaglia; the pair's second value is kept). */
double mmdx__synth_normal(struct synth_rng *r);
/* Zero-mean unit-variance uniform noise: cheap input for noise filters,
 * whose outputs are Gaussian-like anyway (central limit). */
static inline double mmdx__synth_white(struct synth_rng *r)
{
    return 3.4641016151377544 *
           ((double)(mmdx__synth_rng_u64(r) >> 11) * 0x1.0p-53 - 0.5);
}
/* 1 with probability p. */
int mmdx__synth_bern(struct synth_rng *r, double p);
/* Integer uniform in [0, n). */
uint64_t mmdx__synth_below(struct synth_rng *r, uint64_t n);

/* Streams: one per use, so that changing one modality's generation (or an
 * option such as --missing-rate) leaves the others' bytes unchanged. */
enum synth_stream {
    SYNTH_S_LATENT = 1,
    SYNTH_S_LABEL,
    SYNTH_S_MISSING,
    SYNTH_S_ECG,
    SYNTH_S_EEG,
    SYNTH_S_IMAGE,
    SYNTH_S_RECORD,
    SYNTH_S_FORMAT,
    SYNTH_S_BROKEN,
    SYNTH_S_PHI,
    SYNTH_S_MC = 100
};

/* ---- the generative model (model.c, documented in docs/synth-model.md) - */
struct synth_latent {
    /* record */
    int age_y;             /* years at the study, 40..89 */
    int male;              /* 0/1 */
    double vascular;       /* metabolic-vascular burden, N(0,1) */
    int diabetes;          /* 0/1 */
    int af_known;          /* AF documented in the record (only if af) */
    /* ecg */
    int af;                /* atrial fibrillation present */
    double af_burden;      /* fraction of the recording in AF, 0 or 0.2..1 */
    double autonomic;      /* autonomic dysfunction, N(0,1): low HRV */
    /* eeg */
    int focal;             /* focal slowing present */
    double focal_sev;      /* 0 or 0.3..1 */
    double diffuse;        /* diffuse slowing, N(0,1) */
    /* image */
    int lesion;            /* hypodense lesion(s) present */
    double lesion_load;    /* 0 or 0.2..1 */
    double atrophy;        /* N(0,1): ventricles and sulci */
    /* seen by no modality */
    double hidden;         /* N(0, 0.7^2) */
};

/* Latent groups seen by each modality (bit per enum mmdx_modality order:
 * image 0, ecg 1, eeg 2, record 3). */
#define SYNTH_G_IMAGE 1u
#define SYNTH_G_ECG 2u
#define SYNTH_G_EEG 4u
#define SYNTH_G_RECORD 8u
#define SYNTH_G_ALL 15u

void mmdx__synth_latent_draw(struct synth_rng *r, struct synth_latent *l);
/* The linear predictor of the stroke label (log-odds). */
double mmdx__synth_logit(const struct synth_latent *l);
double mmdx__synth_sigmoid(double x);
/* Redraw the latents of the groups not in `seen` from their distribution
 * given what the seen groups show (the record's documented AF informs the
 * ECG group), and the hidden factor always. */
void mmdx__synth_latent_redraw(struct synth_rng *r, struct synth_latent *l,
                               unsigned seen);
/* Expected AUROC of `score` for labels drawn with probabilities `p`
 * (ties count one half). Scratch: n indexes. E_NOMEM only. */
enum mmdx_status mmdx__synth_soft_auroc(struct mmdx_ctx *ctx,
                                        const double *score, const double *p,
                                        size_t n, double *out);
/* E[P(y=1) | seen groups of l], by `k` redraws from r. */
double mmdx__synth_posterior(struct synth_rng *r, const struct synth_latent *l,
                             unsigned seen, int k);

/* ---- canaries for --plant-phi (synth.c) --------------------------------- */
struct synth_phi {
    int on;
    const char *pid;
    unsigned counter;
    struct mmdx_dstr *tsv;  /* canaries.tsv rows */
};

/* Make the next canary "CANARY-<kind>-<pid>-<n>" into buf (>= 96 bytes)
 * and list it with its modality, file and field. Returns buf, or "" when
 * phi is off. E_NOMEM is reported through *st. */
const char *mmdx__synth_canary(struct synth_phi *phi, const char *kind,
                               const char *modality, const char *file,
                               const char *field, char *buf,
                               enum mmdx_status *st);
/* List an identifying value that is not a canary string (a full date). */
enum mmdx_status mmdx__synth_phi_list(struct synth_phi *phi,
                                      const char *modality, const char *file,
                                      const char *field, const char *value);

/* ---- ECG (ecg.c) -------------------------------------------------------- */
struct synth_ecg {
    double fs_hz;
    size_t n;              /* samples per lead */
    float *lead[2];        /* II and V1, mV */
    size_t *rpeak;         /* R-peak sample indexes, ascending */
    unsigned char *beat_af;/* 1 when the beat is in AF */
    size_t nbeats;
    double hr_bpm;         /* mean sinus rate drawn */
};
enum mmdx_status mmdx__synth_ecg_make(struct mmdx_ctx *ctx,
                                      struct synth_rng *r,
                                      const struct synth_latent *l,
                                      double seconds, struct synth_ecg *out);
void mmdx__synth_ecg_fini(struct synth_ecg *e);

/* ---- EEG (eeg.c) -------------------------------------------------------- */
#define SYNTH_EEG_NCH 19
extern const char *const mmdx__synth_eeg_labels[SYNTH_EEG_NCH];
struct synth_eeg {
    double fs_hz;
    size_t n;              /* samples per channel */
    float *ch[SYNTH_EEG_NCH];  /* uV */
    double alpha_hz;       /* the posterior rhythm's frequency */
};
enum mmdx_status mmdx__synth_eeg_make(struct mmdx_ctx *ctx,
                                      struct synth_rng *r,
                                      const struct synth_latent *l,
                                      double seconds, struct synth_eeg *out);
void mmdx__synth_eeg_fini(struct synth_eeg *e);

/* ---- writers (write.c) -------------------------------------------------- */
struct synth_edf_signal {
    const char *label;     /* 16 chars max */
    const char *transducer;
    const char *dim;       /* physical dimension, "uV" */
    double pmin, pmax;     /* physical range */
    int dmin, dmax;        /* digital range */
    const char *prefilter;
    size_t spr;            /* samples per data record */
    const float *data;     /* physical values, nrec * spr */
};
struct synth_edf_annot {
    double onset_s, duration_s;
    const char *text;
};
/* Write an EDF (plus = 0) or EDF+C file with 1 s data records. */
enum mmdx_status mmdx__synth_edf_write(struct mmdx_ctx *ctx, const char *path,
                                       const char *patient,
                                       const char *recording, int plus,
                                       size_t nrec,
                                       const struct synth_edf_signal *sig,
                                       size_t ns,
                                       const struct synth_edf_annot *an,
                                       size_t nan);
/* Write WFDB record `name` (name.hea, name.dat format 212, name.atr) into
 * dir; comments are header lines written after the signal lines. */
enum mmdx_status mmdx__synth_wfdb_write(struct mmdx_ctx *ctx, const char *dir,
                                        const char *name,
                                        const struct synth_ecg *e,
                                        const char *const *comments,
                                        size_t ncomments);

/* ---- records (record.c) ------------------------------------------------- */
struct synth_record_in {
    const char *pid;
    const struct synth_latent *l;
    int study_year;
};
enum mmdx_status mmdx__synth_fhir_write(struct mmdx_ctx *ctx,
                                        struct synth_rng *r,
                                        const struct synth_record_in *in,
                                        const char *path, const char *rel,
                                        struct synth_phi *phi);
enum mmdx_status mmdx__synth_ccda_write(struct mmdx_ctx *ctx,
                                        struct synth_rng *r,
                                        const struct synth_record_in *in,
                                        const char *path, const char *rel,
                                        struct synth_phi *phi);

/* ---- images (image.c) --------------------------------------------------- */
/* 1 when this build can write DICOM (the image area's writer). */
int mmdx__synth_have_image(void);
enum mmdx_status mmdx__synth_image_write(struct mmdx_ctx *ctx,
                                         struct synth_rng *r,
                                         const struct synth_latent *l,
                                         const char *dir, const char *rel,
                                         const char *pid, int slices,
                                         int size, int study_year,
                                         struct synth_phi *phi);

#endif
