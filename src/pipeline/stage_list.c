/*
 * stage_list.c - the registry: one const NULL-terminated list, walked by
 * mmdx__stage_iterate() (libavfilter's av_filter_iterate). Areas add their
 * stages in their own section; compiled-out stages are simply absent.
 */
#include "core/common.h"
#include "pipeline/stage.h"

/* ---- check --------------------------------------------------------------- */
extern const struct mmdx_stage_def mmdx__stage_check_deid;

/* ---- image ---------------------------------------------------------------- */
extern const struct mmdx_stage_def mmdx__stage_load_image;
extern const struct mmdx_stage_def mmdx__stage_image_features;

/* ---- ecg ------------------------------------------------------------------ */
extern const struct mmdx_stage_def mmdx__stage_load_ecg;
extern const struct mmdx_stage_def mmdx__stage_ecg_features;

/* ---- eeg ------------------------------------------------------------------ */
extern const struct mmdx_stage_def mmdx__stage_load_eeg;
extern const struct mmdx_stage_def mmdx__stage_eeg_features;


/* ---- record --------------------------------------------------------------- */
extern const struct mmdx_stage_def mmdx__stage_load_record;
extern const struct mmdx_stage_def mmdx__stage_record_features;


/* ---- fusion --------------------------------------------------------------- */
extern const struct mmdx_stage_def mmdx__stage_fusion_risk;

/* ---- report --------------------------------------------------------------- */
extern const struct mmdx_stage_def mmdx__stage_report;


static const struct mmdx_stage_def *const stage_list[] = {
    /* check */
    &mmdx__stage_check_deid,

    /* image */
    &mmdx__stage_load_image,
    &mmdx__stage_image_features,

    /* ecg */
    &mmdx__stage_load_ecg,
    &mmdx__stage_ecg_features,

    /* eeg */
    &mmdx__stage_load_eeg,
    &mmdx__stage_eeg_features,


    /* record */
    &mmdx__stage_load_record,
    &mmdx__stage_record_features,


    /* fusion */
    &mmdx__stage_fusion_risk,

    /* report */
    &mmdx__stage_report,


    NULL
};

const struct mmdx_stage_def *mmdx__stage_iterate(void **opaque)
{
    uintptr_t i = (uintptr_t)*opaque;
    const struct mmdx_stage_def *d = stage_list[i];

    if (d)
        *opaque = (void *)(i + 1);
    return d;
}

const struct mmdx_stage_def *mmdx__stage_find(const char *name)
{
    size_t i;

    for (i = 0; stage_list[i]; i++)
        if (strcmp(stage_list[i]->name, name) == 0)
            return stage_list[i];
    return NULL;
}
