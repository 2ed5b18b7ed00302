/*
 * risk.h - the fused risk of one patient, as fusion.risk leaves it in
 * MMDX_SLOT_RISK for the report stage. Shared by the fusion and report
 * areas.
 */
#ifndef MMDX_RISK_H
#define MMDX_RISK_H

#include "core/common.h"
#include "pipeline/stage.h"

#define MMDX_RISK_TOP_FEATURES 10

struct mmdx_risk_feature {
    char name[128];          /* feature name */
    double value;            /* the patient's raw value */
    double attribution;      /* contribution to the logit (method below) */
};

struct mmdx_risk {
    double risk;             /* calibrated probability, 0..1 */
    double logit;            /* before calibration */
    char band[16];           /* "low", "moderate", "high" */
    unsigned modalities;     /* bit per enum mmdx_modality the risk rests on */
    /* Contribution of each modality to the calibrated risk (method named
     * below); NaN for modalities not present. */
    double contribution[MMDX_MOD_COUNT];
    char contribution_method[64];   /* "leave-modality-out" ... */
    struct mmdx_risk_feature top[MMDX_RISK_TOP_FEATURES];
    size_t ntop;
    char attribution_method[64];    /* "gradient x input" ... */
    char model_sha256[MMDX_SHA256_HEX];
    char model_name[64];
};

/* Columns of DIR/risks.tsv (and of each patients/<id>/risks.tsv row):
 * contributions by the leave-modality-out method, NA when absent. */
#define MMDX_RISK_TSV_HEADER                                                 \
    "patient_id\trisk\trisk_band\tcontrib_image\tcontrib_ecg\t"          \
    "contrib_eeg\tcontrib_record"

/* True when any of the listed patients has out_dir/patients/<id>/risks.tsv
 * (fusion.risk ran): the runner then merges them into DIR/risks.tsv. */
bool mmdx__fusion_any_risk(const char *out_dir, const char *const *ids,
                           size_t nids);

#endif
