/*
 * report.h - what other areas use from the report area: the cohort hook
 * the batch runner calls at the end of a run, and feature names in words.
 */
#ifndef MMDX_REPORT_AREA_H
#define MMDX_REPORT_AREA_H

#include "core/common.h"

struct mmdx_pipeline;

/*
 * Cohort outputs after the tables are merged: DIR/index.html (patient
 * table linking to the reports, risk distribution, failed patients with
 * their reasons from DIR/errors.tsv). Does nothing unless the pipeline
 * has the "report" stage.
 */
enum mmdx_status mmdx__report_cohort(struct mmdx_ctx *ctx,
                                     const char *out_dir,
                                     const char *const *ids, size_t nids,
                                     const struct mmdx_pipeline *pipe);

/* A feature name in words (words.c). */
struct feature_words {
    char family_key[32];    /* "hrv" */
    char family[64];        /* "Heart-rate variability" */
    char name[160];         /* "RMSSD" */
    char unit[24];          /* "ms", "" when none */
};
void mmdx__report_words(const char *name, struct feature_words *w);
const char *mmdx__report_family_words(const char *family);
/* A conventional reading of a value when there is one (else NULL). */
const char *mmdx__report_interpret(const char *name, double v);

#endif
