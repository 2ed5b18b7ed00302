/*
 * record_codes.h - the code sets of record.features, loaded once per worker
 * from versioned TSV files under schemas/codes/ (docs/record-features.md):
 * measures, observation codes, unit conversions, comorbidity groups and
 * medication classes. Lookups are hash-map probes (a few per item).
 */
#ifndef MMDX_RECORD_CODES_H
#define MMDX_RECORD_CODES_H

#include "core/common.h"
#include "io/record.h"
#include "io/record_map.h"

#define MMDX_CODES_MAX_SETS 64    /* groups / classes (bits of a mask) */
#define MMDX_CODES_NAME_MAX 32

struct mmdx_measure {
    char key[MMDX_CODES_NAME_MAX];      /* "sbp" */
    char family[MMDX_CODES_NAME_MAX];   /* "vital" */
    char unit[MMDX_CODES_NAME_MAX];     /* "mmhg" (feature name suffix) */
    char ucum[MMDX_RECORD_UNIT_MAX];    /* canonical unit "mm[Hg]" */
    bool mean;                          /* also report the mean */
};

struct mmdx_unit_conv {
    double factor, offset;              /* canonical = v * factor + offset */
};

/* Code -> bit mask of the sets it belongs to. */
struct mmdx_codeset {
    char names[MMDX_CODES_MAX_SETS][MMDX_CODES_NAME_MAX];
    size_t n;
    struct mmdx_strmap exact;           /* "sys\tcode" -> uint64_t * */
    struct mmdx_strmap prefix;          /* "sys\tprefix" -> uint64_t * */
    uint64_t *masks;                    /* storage of the map values */
    size_t nmasks, cap_masks;
    size_t max_prefix;                  /* longest prefix, bytes */
};

struct mmdx_record_codes {
    struct mmdx_measure *measures;
    size_t nmeasures;
    struct mmdx_strmap obs;             /* "sys\tcode" -> measure index + 1 */
    struct mmdx_strmap units;           /* "index\tunit" -> conv */
    struct mmdx_unit_conv *convs;
    size_t nconvs, cap_convs;
    struct mmdx_codeset conds;          /* comorbidity groups */
    struct mmdx_codeset meds;           /* medication classes */
};

/* Load every file from the context's data folder. Errors name file, line
 * and column. */
enum mmdx_status mmdx__record_codes_load(struct mmdx_ctx *ctx,
                                         struct mmdx_record_codes *c);
void mmdx__record_codes_fini(struct mmdx_record_codes *c);

/* Measure index of an observation code, or -1. */
int mmdx__record_codes_measure(const struct mmdx_record_codes *c,
                               const struct mmdx_code *code);
/* Conversion of unit for measure i, or NULL (unit unknown). */
const struct mmdx_unit_conv *
mmdx__record_codes_unit(const struct mmdx_record_codes *c, int i,
                        const char *unit);
/* Bit mask of the sets of a code (0 = none). */
uint64_t mmdx__codeset_match(const struct mmdx_codeset *s,
                             const struct mmdx_code *code);
/* Index of a set by name, or -1. */
int mmdx__codeset_find(const struct mmdx_codeset *s, const char *name);

/* eGFR by CKD-EPI 2021 (mL/min/1.73 m2) from serum creatinine in mg/dL;
 * NaN for a non-positive creatinine or negative age. */
double mmdx__egfr_ckdepi2021(double scr_mg_dl, double age_years, bool female);

#endif
