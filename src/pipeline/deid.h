/*
 * deid.h - the de-identification rules, shared by the check.deid stage and
 * the deid-check API (both in src/pipeline/). Internal to libmmdx.
 *
 * Loaders report possibly identifying fields (struct mmdx_idfield, see
 * stage.h); the rules below decide which of them identify the patient:
 * DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile)
 * for DICOM attributes, HIPAA Safe Harbor (45 CFR 164.514(b)(2)) for the
 * rest. docs/privacy.md describes them for users.
 */
#ifndef MMDX_DEID_INT_H
#define MMDX_DEID_INT_H

#include "core/common.h"
#include "pipeline/stage.h"

enum mmdx_deid_policy {
    MMDX_DEID_REFUSE = 0,   /* the patient fails, naming file and field */
    MMDX_DEID_WARN = 1,     /* a flag and a warning per field; go on */
    MMDX_DEID_STRIP = 2     /* identifying values wiped at load; go on */
};

/* What the gate knows beyond the field itself. */
struct mmdx_deid_rules {
    bool dates_shifted;     /* the pipeline declares dates shifted */
};

/*
 * The rule an identifying field breaks ("ps3.15:name", "safe-harbor:date",
 * ...; a static string), or NULL when the field does not identify the
 * patient: an empty or placeholder value ("X", "anonymous", ...), a year
 * alone, any date when dates are declared shifted, a record number equal
 * to the patient's pseudonym, sex, an age under 90, and the DICOM fields
 * that only describe de-identification (PatientIdentityRemoved, ...).
 * patient_id may be NULL.
 */
const char *mmdx__deid_rule(const struct mmdx_idfield *f,
                            const char *patient_id,
                            const struct mmdx_deid_rules *rules);

/* True for the DICOM attributes that declare de-identification
 * (PatientIdentityRemoved, DeidentificationMethod and its code sequence):
 * reported as information, never findings. */
bool mmdx__deid_is_declaration(const struct mmdx_idfield *f);

/* True when a value is empty or a placeholder for a removed value ("X",
 * "anonymous", "unknown", "N/A", "XXXX", ...). */
bool mmdx__deid_placeholder(const char *value);

/* Precision of a date or date-time value: 0 none (no digits), 1 a year
 * alone, 2 finer than a year. */
int mmdx__deid_date_precision(const char *value);

/* The check.deid stage's settings as a worker instantiated them: for the
 * deid-check API, which runs a pipeline's loaders without the stage loop.
 * Returns false when the stage is not in the list (the rules then use
 * the pipeline setting "dates_shifted" only). */
bool mmdx__deid_stage_rules(struct mmdx_stage **stages, size_t n,
                            const struct mmdx_pipeline *pipe,
                            struct mmdx_deid_rules *out);

/* A pipeline setting or parameter value read as true ("true", "yes",
 * "1", "on"). */
bool mmdx__deid_truthy(const char *s);

extern const struct mmdx_stage_def mmdx__stage_check_deid;

#endif
