/*
 * fusion.h - the fusion area's internal interface: feature tables and
 * labels, the multimodal model (per-modality encoders into a shared
 * embedding, fusion over present modalities, risk head), its training,
 * model file and attribution. BLAS is used only by src/fusion/.
 *
 * Layout conventions: matrices are row-major float32 with an explicit
 * leading dimension; a batch is B rows. Feature columns inside a model are
 * grouped by modality (modalities sorted by name, features sorted by name
 * within a modality), so modality m's features are the contiguous column
 * range [mod_start[m], mod_start[m] + mod_len[m]).
 */
#ifndef MMDX_FUSION_H
#define MMDX_FUSION_H

#include "core/common.h"
#include "mmdx/fusion.h"

/* ---- limits ------------------------------------------------------------- */
#define MMDX_FTAB_MAX_COLS 100000      /* feature columns */
#define MMDX_FTAB_MAX_LINE (16u << 20) /* bytes per line */
#define MMDX_FTAB_MAX_NAME 127         /* bytes per feature name */
#define MMDX_FTAB_MAX_ID 255           /* bytes per patient id */
#define MMDX_FUSION_MAX_MOD 64         /* modalities in a model */
#define MMDX_FUSION_MAX_WIDTH 4096     /* hidden / embedding units */
#define MMDX_FUSION_MAX_PARAMS (1u << 28)
#define MMDX_LABELS_MAX_BYTES ((size_t)1 << 30)

/* ---- patient ids: one string pool ---------------------------------------- */
struct mmdx__idpool {
    char *s;            /* NUL-separated ids */
    size_t len, cap;    /* bytes */
    size_t *off;        /* offset of id i in s */
    size_t n, ncap;
};
void mmdx__idpool_init(struct mmdx__idpool *p);
void mmdx__idpool_fini(struct mmdx__idpool *p);
void mmdx__idpool_reset(struct mmdx__idpool *p);
enum mmdx_status mmdx__idpool_add(struct mmdx__idpool *p, const char *id,
                                  size_t len);
static inline const char *mmdx__idpool_get(const struct mmdx__idpool *p,
                                           size_t i)
{
    return p->s + p->off[i];
}

/* ---- feature table (table.c) --------------------------------------------- */
/*
 * A streaming reader of features.tsv: header "patient_id" then feature
 * names; cells are numbers, "NA"/"NaN"/"nan" or empty for missing. Rows are
 * read in chunks so that tables larger than memory can be applied.
 * Limits: MMDX_FTAB_MAX_COLS columns, MMDX_FTAB_MAX_LINE bytes a line.
 */
struct mmdx__ftab_reader;
enum mmdx_status mmdx__ftab_open(struct mmdx_ctx *ctx, const char *path,
                                 struct mmdx__ftab_reader **out);
/* Same over a memory buffer (borrowed; must outlive the reader). */
enum mmdx_status mmdx__ftab_open_mem(struct mmdx_ctx *ctx, const char *name,
                                     const char *data, size_t len,
                                     struct mmdx__ftab_reader **out);
size_t mmdx__ftab_ncols(const struct mmdx__ftab_reader *r);
const char *mmdx__ftab_name(const struct mmdx__ftab_reader *r, size_t j);
/*
 * Read up to maxrows rows into x (maxrows x ncols floats, row-major, ld =
 * ncols; NaN = NA) and append their ids to ids. *nread = 0 at the end.
 * col_map (optional, ncols entries) sends file column j to x column
 * col_map[j] with ld = x_cols; SIZE_MAX drops the column.
 */
enum mmdx_status mmdx__ftab_read(struct mmdx__ftab_reader *r, size_t maxrows,
                                 float *x, size_t x_cols,
                                 const size_t *col_map,
                                 struct mmdx__idpool *ids, size_t *nread);
void mmdx__ftab_close(struct mmdx__ftab_reader *r);

/* A whole table in memory. */
struct mmdx__ftab {
    size_t nrows, ncols;
    char **names;           /* ncols */
    float *x;               /* nrows x ncols, NaN = NA */
    struct mmdx__idpool ids;
};
enum mmdx_status mmdx__ftab_load(struct mmdx_ctx *ctx, const char *path,
                                 struct mmdx__ftab *t);
/* The same, hashing the file's bytes as they are read (the SHA-256 that
 * mmdx__sha256_path would give, without a second read). */
enum mmdx_status mmdx__ftab_load_hashed(struct mmdx_ctx *ctx,
                                        const char *path,
                                        struct mmdx__ftab *t,
                                        char hex[MMDX_SHA256_HEX]);
enum mmdx_status mmdx__ftab_load_mem(struct mmdx_ctx *ctx, const char *name,
                                     const char *data, size_t len,
                                     struct mmdx__ftab *t);
void mmdx__ftab_fini(struct mmdx__ftab *t);

/* Parse one number cell [s, e): true and *v (NaN for NA) or false. */
bool mmdx__ftab_parse_cell(const char *s, const char *e, double *v);

/* ---- labels (table.c) ----------------------------------------------------- */
enum { MMDX_SPLIT_NONE = -1, MMDX_SPLIT_TRAIN = 0, MMDX_SPLIT_VALID = 1,
       MMDX_SPLIT_TEST = 2 };
struct mmdx__labels {
    struct mmdx__idpool ids;
    signed char *label;     /* 0, 1, or -1 unknown */
    signed char *split;     /* MMDX_SPLIT_* */
    bool has_split;         /* the file has a split column */
};
enum mmdx_status mmdx__labels_load(struct mmdx_ctx *ctx, const char *path,
                                   struct mmdx__labels *l);
enum mmdx_status mmdx__labels_parse(struct mmdx_ctx *ctx, const char *name,
                                    char *data, size_t len,
                                    struct mmdx__labels *l);
void mmdx__labels_fini(struct mmdx__labels *l);

/* id -> index map over an idpool (open addressing). */
struct mmdx__idmap {
    size_t *slot;           /* index + 1, 0 = empty */
    size_t cap;             /* power of two */
    const struct mmdx__idpool *pool;
};
enum mmdx_status mmdx__idmap_build(struct mmdx__idmap *m,
                                   const struct mmdx__idpool *pool,
                                   size_t *dup);
/* SIZE_MAX when absent. */
size_t mmdx__idmap_find(const struct mmdx__idmap *m, const char *id);
void mmdx__idmap_fini(struct mmdx__idmap *m);

/* ---- the model (model.c) -------------------------------------------------- */
enum mmdx__arch { MMDX_ARCH_JOINT = 0, MMDX_ARCH_EARLY = 1,
                  MMDX_ARCH_LATE = 2, MMDX_ARCH_SINGLE = 3 };
enum mmdx__pool { MMDX_POOL_MEAN = 0, MMDX_POOL_ATTENTION = 1 };
enum mmdx__head { MMDX_HEAD_IDENTITY = 0, MMDX_HEAD_LINEAR = 1,
                  MMDX_HEAD_MLP = 2 };

struct mmdx__provenance {
    char features_sha256[MMDX_SHA256_HEX];
    char labels_sha256[MMDX_SHA256_HEX];
    char version[32];           /* mmdx version that trained it */
    uint64_t seed;
    uint32_t epochs;            /* epochs run; best epoch below */
    uint32_t best_epoch;
    uint64_t n_train, n_valid, n_test;
    double auroc_train, auroc_valid, auroc_test;   /* NaN = none */
    double lr, weight_decay, align_weight, mod_dropout;
    uint32_t batch, patience;
};

struct mmdx__model {
    uint32_t arch, pool, head;
    size_t hid;                 /* encoder hidden units (0 = linear) */
    size_t emb;                 /* embedding width D */
    size_t head_hid;            /* head hidden units (MLP head) */
    uint32_t inter;             /* 1: head also sees cross-modal products */

    size_t nmod;
    char **mod_names;           /* sorted */
    size_t *mod_start, *mod_len;/* feature column ranges */
    size_t ngroup;              /* encoders */
    size_t *grp_mod0, *grp_nmod;/* modality range of each encoder */

    size_t nfeat;
    char **feat_names;
    float *center, *scale;      /* robust standardisation, per feature */

    size_t nparam;
    float *param;
    /* parameter offsets (derived from the architecture) */
    size_t *o_w1, *o_b1, *o_w2, *o_b2;  /* per group */
    size_t o_watt, o_catt, o_wh, o_bh, o_wo, o_bo;

    double platt_a, platt_b;    /* risk = sigmoid(a * logit + b) */
    double prior;               /* risk with no modality: training rate */
    double band_lo, band_hi;    /* risk band thresholds */
    struct mmdx__provenance prov;
    char sha256[MMDX_SHA256_HEX];   /* of the file it was loaded from */
};

/* Width of the head's input: the fused embedding, and with interactions
 * the mean of pairwise products after it. */
static inline size_t mmdx__model_head_in(const struct mmdx__model *m)
{
    return m->inter ? 2 * m->emb : m->emb;
}

/*
 * Set up an architecture: fills groups, offsets and nparam, allocates
 * param (zeroed). Modalities, features must already be set.
 */
enum mmdx_status mmdx__model_layout(struct mmdx_ctx *ctx,
                                    struct mmdx__model *m);
void mmdx__model_fini(struct mmdx__model *m);
const char *mmdx__arch_name(uint32_t arch);

/* Per-batch work space. */
struct mmdx__ws {
    size_t cap;                 /* rows */
    float **h, **e, **dh, **de; /* per group: B x hid, B x emb */
    float *gmask;               /* B x ngroup, 1 = present */
    float *alpha;               /* B x ngroup fusion weights */
    float *z, *dz;              /* B x head_in */
    float *g, *dg;              /* B x head_hid */
    float *logit, *dlogit;      /* B */
    float *tmp;                 /* B x B + 4 B x emb scratch (alignment) */
    size_t *idx;                /* B row indices (alignment) */
};
enum mmdx_status mmdx__ws_init(struct mmdx_ctx *ctx, struct mmdx__ws *w,
                               const struct mmdx__model *m, size_t rows);
void mmdx__ws_fini(struct mmdx__ws *w, const struct mmdx__model *m);

/*
 * Standardise raw rows in place-free fashion: out (B x nfeat) from raw
 * (B x nfeat, NaN = NA) with mask (B x nmod, 1 = modality present).
 * NA -> 0 (the training median); values clipped to +-MMDX_FUSION_CLIP.
 */
#define MMDX_FUSION_CLIP 5.0f
void mmdx__model_standardise(const struct mmdx__model *m, const float *raw,
                             size_t ld_raw, size_t rows, float *out,
                             unsigned char *mod_present);
/* gmask from modality presence (rows x nmod bytes). */
void mmdx__model_group_mask(const struct mmdx__model *m,
                            const unsigned char *mod_present, size_t rows,
                            float *gmask);
/* Forward pass on B standardised rows (ld = nfeat) with w->gmask set. */
void mmdx__model_forward(const struct mmdx__model *m, struct mmdx__ws *w,
                         const float *x, size_t rows);
/*
 * Backward pass from w->dlogit through head and fusion into w->de, then
 * (after the caller may add to w->de) through the encoders. grad (nparam)
 * is accumulated into when non-NULL; dx (B x nfeat) receives input
 * gradients when non-NULL.
 */
void mmdx__model_backward_top(const struct mmdx__model *m, struct mmdx__ws *w,
                              size_t rows, float *grad);
void mmdx__model_backward_enc(const struct mmdx__model *m, struct mmdx__ws *w,
                              const float *x, size_t rows, float *grad,
                              float *dx);
/*
 * Cross-modal contrastive (InfoNCE) term over the embeddings in w->e, for
 * each pair of groups over the first MMDX_ALIGN_ROWS rows of the batch
 * where both are present (in-batch negatives); adds
 * weight * d(loss)/d(e) to w->de. Returns the mean loss.
 */
#define MMDX_ALIGN_ROWS 64            /* rows of a batch in the term */
double mmdx__model_align(const struct mmdx__model *m, struct mmdx__ws *w,
                         size_t rows, double temperature, double weight);

/* ---- training (train.c) --------------------------------------------------- */
double mmdx__auroc(const float *score, const signed char *y, size_t n);
/* Fit a, b of sigmoid(a s + b) to labels by Newton's method (Platt). */
void mmdx__platt_fit(const float *s, const signed char *y, size_t n,
                     double *a, double *b);

/* ---- model file (modelfile.c) -------------------------------------------- */
#define MMDX_MODEL_MAGIC "MMDXMODL"
#define MMDX_MODEL_FORMAT 1u
enum mmdx_status mmdx__model_serialise(struct mmdx_ctx *ctx,
                                       const struct mmdx__model *m,
                                       struct mmdx_dstr *out);
enum mmdx_status mmdx__model_parse(struct mmdx_ctx *ctx, const char *path,
                                   const unsigned char *data, size_t len,
                                   struct mmdx__model *m);
enum mmdx_status mmdx__model_save(struct mmdx_ctx *ctx,
                                  const struct mmdx__model *m,
                                  const char *path);
enum mmdx_status mmdx__model_load(struct mmdx_ctx *ctx, const char *path,
                                  struct mmdx__model *m);

/* ---- applying (predict.c) ------------------------------------------------- */
struct mmdx_risk;
/*
 * Map a feature set's names onto the model's columns: map[j] = model
 * column of name j or SIZE_MAX for an ignored name (a modality the model
 * does not use). A name of a used modality unknown to the model, or a
 * model feature absent from names, is E_MODEL naming the first ones.
 */
enum mmdx_status mmdx__model_match(struct mmdx_ctx *ctx,
                                   const struct mmdx__model *m,
                                   const char *what,
                                   char *const *names, size_t n,
                                   size_t *map, bool require_all);
/*
 * Apply the model to rows of raw values (ld = nfeat, model order, NaN =
 * NA). Outputs (each optional): risk and logit (rows; NaN when no
 * modality of the model is present), contrib (rows x nmod: exact
 * leave-modality-out difference in calibrated risk, NaN for absent
 * modalities), risks (rows structs, with the top features by gradient x
 * input when top is true).
 */
enum mmdx_status mmdx__model_explain(struct mmdx_ctx *ctx,
                                     const struct mmdx__model *m,
                                     const float *raw, size_t rows,
                                     double *risk, double *logit,
                                     double *contrib, struct mmdx_risk *risks,
                                     bool top);
/* Risks and contributions as risks.tsv writes them: "0.123457" (fixed,
 * 6 decimals) in [-1, 1], "NA" for NaN; returns the length (no NUL). */
size_t mmdx__fmt_prob(double v, char *buf);
const char *mmdx__risk_band(const struct mmdx__model *m, double risk);

#endif
