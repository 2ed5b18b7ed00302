/*
 * stage.h - the stage interface: what every loader, checker, feature
 * extractor, fusion and report stage implements, and the patient they
 * hand forward. Internal to libmmdx (stages are compiled in).
 *
 * A stage is a const descriptor at the bottom of its own file, listed in
 * stage_list.c (libavfilter's FFFilter). Each runner worker instantiates
 * the pipeline's stages for itself, so process() never shares a stage
 * instance between threads; state built in init() is per worker.
 */
#ifndef MMDX_STAGE_H
#define MMDX_STAGE_H

#include "core/common.h"

#define MMDX_STAGE_ABI 1

/* Modalities of a cohort row. Order is the manifest column order. */
enum mmdx_modality {
    MMDX_MOD_IMAGE = 0,
    MMDX_MOD_ECG = 1,
    MMDX_MOD_EEG = 2,
    MMDX_MOD_RECORD = 3,
    MMDX_MOD_COUNT
};
const char *mmdx__modality_name(enum mmdx_modality m);
/* -1 when name is not a modality. */
int mmdx__modality_from_name(const char *name);

/* Slots: typed objects a stage leaves on the patient for later stages. */
enum mmdx_slot {
    MMDX_SLOT_IMAGE = 0,   /* struct mmdx_image (src/io/image.h) */
    MMDX_SLOT_ECG = 1,     /* struct mmdx_signal (src/io/signal.h), mV */
    MMDX_SLOT_EEG = 2,     /* struct mmdx_signal, uV */
    MMDX_SLOT_RECORD = 3,  /* struct mmdx_record (src/io/record.h) */
    MMDX_SLOT_MASK = 4,    /* struct mmdx_image: region of interest */
    MMDX_SLOT_FEATURES = 5,/* (bit only: the patient's feature set) */
    MMDX_SLOT_RISK = 6,    /* struct mmdx_risk (src/fusion/fusion.h) */
    MMDX_SLOT_EXTRA1 = 7,  /* free for an area that needs one more */
    MMDX_SLOT_EXTRA2 = 8,
    MMDX_SLOT_COUNT
};
#define MMDX_SLOT_BIT(s) (1u << (s))

/* ---- parameters (AVOption-like table) ---------------------------------- */
enum mmdx_param_type {
    MMDX_PARAM_INT,     /* long */
    MMDX_PARAM_DOUBLE,  /* double */
    MMDX_PARAM_BOOL,    /* bool: true/false/yes/no/1/0 */
    MMDX_PARAM_STRING,  /* char *, framework-owned */
    MMDX_PARAM_ENUM,    /* int: index into choices "a|b|c" */
    MMDX_PARAM_PATH     /* char *: resolved against the pipeline's folder */
};

struct mmdx_param {
    const char *name;
    enum mmdx_param_type type;
    size_t offset;          /* offsetof(priv struct, field) */
    double def_num;         /* default for INT, DOUBLE, BOOL, ENUM */
    const char *def_str;    /* default for STRING, PATH (NULL allowed) */
    double min, max;        /* range for INT, DOUBLE */
    const char *choices;    /* ENUM: "mean|attention" */
    const char *help;       /* one line, units included */
};

/* ---- features ---------------------------------------------------------- */
/* A feature: "modality.family.name_unit" = value; NaN = not computable
 * (the reason is a data-quality flag, never a 0). */
struct mmdx_feature {
    char *name;
    double value;
};

struct mmdx_featset {
    struct mmdx_feature *v;
    size_t n, cap;
};

/* ---- per-patient diagnostics ------------------------------------------- */
struct mmdx_patient_error {
    int modality;        /* enum mmdx_modality, or -1 for the patient */
    char *file;          /* may be NULL */
    char *stage;
    enum mmdx_status code;
    char *message;       /* formatted error: no identifying value */
};

struct mmdx_flag {
    int modality;        /* enum mmdx_modality, or -1 */
    char *code;          /* "ecg.quality.low_sqi" */
    char *message;
};

/* A field that may identify the patient, reported by a loader for the
 * de-identification gate (check.deid). The value stays in memory: it is
 * never logged, written or put in an error message. */
enum mmdx_id_kind {
    MMDX_ID_NAME = 1,        /* person names (patient, physician, author) */
    MMDX_ID_NUMBER,          /* record/accession/insurance numbers, ids */
    MMDX_ID_DATE,            /* dates: identifying when finer than a year */
    MMDX_ID_ADDRESS,
    MMDX_ID_TELECOM,         /* phone, e-mail, URL */
    MMDX_ID_INSTITUTION,
    MMDX_ID_FREE_TEXT,       /* narrative, comments */
    MMDX_ID_PRIVATE,         /* DICOM private tags: may carry anything */
    MMDX_ID_OTHER,
    MMDX_ID_AGE              /* an age in years ("96"; "095Y" and "6 M"
                                read too): identifying from 90 on */
};

struct mmdx_idfield {
    int modality;            /* enum mmdx_modality */
    char *file;
    char *field;             /* "PatientName (0010,0010)", "Patient.name" */
    enum mmdx_id_kind kind;
    char *value;             /* in memory only */
    /* The loader's own copy of the value inside a slot object (a
     * NUL-terminated buffer it owns), or NULL. check.deid wipes it under
     * the strip policy, so later stages see an empty string there. */
    char *live;
    /* Optional, for what the loader derived from the value (a parsed birth
     * date, ...): called by check.deid under the strip policy with the
     * object and the field, to drop or coarsen it. */
    void (*strip_fn)(void *obj, const char *field);
    void *strip_obj;
};

struct mmdx_patient {
    const struct mmdx_class *cls;
    size_t index;                   /* row in the cohort (0-based) */
    char *id;                       /* pseudonym */
    char *path[MMDX_MOD_COUNT];     /* resolved input path, NULL = missing */
    char *mask_path;                /* NULL = none */
    char *mask_label;               /* label / segment of the mask for
                                       load.image, NULL = the pipeline's
                                       mask_label */
    int mask_resample;              /* 1: resample the mask as load.image's
                                       mask_resample=nearest (mmdx features
                                       --mask-resample); 0: the
                                       pipeline's */
    char *study_date;               /* "YYYY[-MM[-DD]]" or NULL */
    int label;                      /* 0, 1, or -1 unknown */
    char *split;                    /* "train"/"valid"/"test" or NULL */
    char input_sha256[MMDX_MOD_COUNT][MMDX_SHA256_HEX]; /* "" = none */
    char mask_sha256[MMDX_SHA256_HEX];

    void *slot[MMDX_SLOT_COUNT];
    void (*slot_free[MMDX_SLOT_COUNT])(void *);

    unsigned mod_failed;            /* bit per modality that failed */
    struct mmdx_featset features;
    struct mmdx_flag *flags;
    size_t nflags;
    struct mmdx_patient_error *errors;
    size_t nerrors;

    struct mmdx_idfield *idfields;  /* from loaders, for check.deid */
    size_t nidfields;
    bool deid_warn_only;            /* single-file runs: the gate warns */

    struct mmdx_ctx *ctx;           /* the worker's context */
    const char *out_dir;            /* patients/<id>/ folder, or NULL */
};

struct mmdx_pipeline;
struct mmdx_stage;

struct mmdx_stage_def {
    int version;                    /* MMDX_STAGE_ABI */
    const char *name;               /* "ecg.features" */
    const char *description;
    unsigned needs, provides;       /* MMDX_SLOT_BIT() masks */
    int modality;                   /* modality it serves, -1 = patient */
    const struct mmdx_param *params;/* terminated by a NULL name; may be NULL */
    size_t priv_size;               /* framework allocates, zeroes, frees */
    enum mmdx_status (*init)(struct mmdx_stage *);       /* optional */
    /*
     * Process one patient. Return MMDX_OK, or an error status after
     * recording the reason (mmdx__fail on stage->ctx): the runner turns it
     * into an errors.tsv row and marks the modality failed. A stage whose
     * needed slot is absent (modality missing or failed) is not called.
     */
    enum mmdx_status (*process)(struct mmdx_stage *, struct mmdx_patient *);
    void (*fini)(struct mmdx_stage *);                   /* optional; always runs */
};

struct mmdx_stage {
    const struct mmdx_class *cls;
    const struct mmdx_stage_def *def;
    void *priv;
    struct mmdx_ctx *ctx;
    const struct mmdx_pipeline *pipe;
    int index;                      /* position in the pipeline */
    int worker;                     /* worker number, for log prefixes */
};

/* ---- registry (stage_list.c) ------------------------------------------- */
const struct mmdx_stage_def *mmdx__stage_iterate(void **opaque);
const struct mmdx_stage_def *mmdx__stage_find(const char *name);

/* ---- features and patients (patient.c) ---------------------------------- */
void mmdx__featset_init(struct mmdx_featset *fs);
void mmdx__featset_fini(struct mmdx_featset *fs);
enum mmdx_status mmdx__featset_add(struct mmdx_featset *fs, const char *name,
                                   double value);
enum mmdx_status mmdx__featset_addf(struct mmdx_featset *fs, double value,
                                    const char *fmt, ...) MMDX_PRINTF(3, 4);
/* NULL if absent. */
const struct mmdx_feature *mmdx__featset_get(const struct mmdx_featset *fs,
                                             const char *name);
void mmdx__featset_sort(struct mmdx_featset *fs);

/* Set a slot, freeing what was there. obj is transferred (freed with
 * free_fn on every path). */
void mmdx__patient_set_slot(struct mmdx_patient *p, enum mmdx_slot s,
                            void *obj, void (*free_fn)(void *));
/* Add a data-quality flag. */
enum mmdx_status mmdx__patient_flag(struct mmdx_patient *p, int modality,
                                    const char *code, const char *fmt, ...)
    MMDX_PRINTF(4, 5);
/* Record the ctx's current error as a patient error row, then clear it. */
enum mmdx_status mmdx__patient_take_error(struct mmdx_patient *p,
                                          int modality, const char *stage,
                                          enum mmdx_status code);
/* Add an error row with the given parts (copied; file may be NULL). */
enum mmdx_status mmdx__patient_add_error(struct mmdx_patient *p,
                                         int modality, const char *file,
                                         const char *stage,
                                         enum mmdx_status code,
                                         const char *message);
/* Report a possibly identifying field found while loading (copied). */
enum mmdx_status mmdx__patient_add_idfield(struct mmdx_patient *p,
                                           int modality, const char *file,
                                           const char *field,
                                           enum mmdx_id_kind kind,
                                           const char *value);
/* The same for a value the loader keeps in its slot object: live is that
 * buffer (NUL-terminated; it must stay valid until check.deid has run).
 * Under the strip policy check.deid overwrites it with zeros. */
enum mmdx_status mmdx__patient_add_idfield_live(struct mmdx_patient *p,
                                                int modality,
                                                const char *file,
                                                const char *field,
                                                enum mmdx_id_kind kind,
                                                char *live);
/* Give the idfield added last a strip hook (see struct mmdx_idfield). */
void mmdx__patient_idfield_strip_hook(struct mmdx_patient *p,
                                      void (*fn)(void *obj,
                                                 const char *field),
                                      void *obj);
/* Drop idfield i: wipe its value (and, when wipe_live, the loader's copy)
 * and remove it from the list. */
void mmdx__patient_drop_idfield(struct mmdx_patient *p, size_t i,
                                bool wipe_live);
void mmdx__patient_fini(struct mmdx_patient *p);

/* ---- pipeline access for stages (pipeline.c) ---------------------------- */
/* The folder of the pipeline file (for PATH params; never NULL). */
const char *mmdx__pipeline_dir(const struct mmdx_pipeline *pipe);
/* A pipeline-level setting (<setting name="..." value="..."/>) or NULL. */
const char *mmdx__pipeline_setting(const struct mmdx_pipeline *pipe,
                                   const char *name);
/* The pipeline's <stage> names in order. */
size_t mmdx__pipeline_nstages(const struct mmdx_pipeline *pipe);
const char *mmdx__pipeline_stage_name(const struct mmdx_pipeline *pipe,
                                      size_t i);

/* Stage instances for one worker: parse params, init. fini always runs. */
enum mmdx_status mmdx__stages_new(struct mmdx_ctx *ctx,
                                  const struct mmdx_pipeline *pipe,
                                  int worker, struct mmdx_stage ***out,
                                  size_t *n);
void mmdx__stages_free(struct mmdx_stage **stages, size_t n);
/* Run every stage on one patient; errors become patient rows. Returns
 * MMDX_OK when the patient has at least one usable modality. */
enum mmdx_status mmdx__stages_run(struct mmdx_stage **stages, size_t n,
                                  struct mmdx_patient *p, bool strict);

#endif
