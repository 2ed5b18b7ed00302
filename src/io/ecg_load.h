/*
 * ecg_load.h - one entry for every ECG input format (WFDB, HL7 aECG,
 * EDF/EDF+ and DICOM waveforms where those readers exist), with leads
 * chosen by label.
 */
#ifndef MMDX_ECG_LOAD_H
#define MMDX_ECG_LOAD_H

#include "core/common.h"
#include "io/signal.h"
#include "pipeline/stage.h"

/*
 * Load an ECG file: path is a WFDB .hea (or the record path without
 * extension), an aECG XML file, ... Only the wanted leads (normalised
 * labels, in order of preference; "II" also matches MLII) are kept; want
 * NULL keeps all. None found: E_NOTFOUND naming what the file has.
 * Possibly identifying fields are reported on p (may be NULL).
 */
enum mmdx_status mmdx__ecg_load(struct mmdx_ctx *ctx, const char *path,
                                const char *const *want, size_t nwant,
                                struct mmdx_patient *p,
                                struct mmdx_signal **out);

/* Split "II,V5, I" into at most max labels (pointers into buf, which is
 * modified). Returns the count. */
/* The same; with others, the record's other ECG leads (by label, in mV)
 * follow the wanted ones, in record order; with others and want NULL,
 * every ECG lead of the record (none: E_NOTFOUND naming its labels). */
enum mmdx_status mmdx__ecg_load_ex(struct mmdx_ctx *ctx, const char *path,
                                   const char *const *want, size_t nwant,
                                   bool others, struct mmdx_patient *p,
                                   struct mmdx_signal **out);
/* Whether a normalised channel label names an ECG lead (I..V6, MLII, X,
 * ..., or any label containing ECG/EKG). */
bool mmdx__ecg_label_is_lead(const char *label);

size_t mmdx__ecg_split_leads(char *buf, const char **out, size_t max);

#endif
