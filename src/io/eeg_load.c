/*
 * eeg_load.c - stage load.eeg: an EDF/EDF+/BDF/BDF+ recording into
 * MMDX_SLOT_EEG (struct mmdx_signal, voltages in uV).
 *
 * By default the signal is lazy: the header is checked, the annotations
 * are parsed, and samples are read on demand by eeg.features an epoch at
 * a time, so memory does not grow with the recording's length. With
 * preload=true every sample is loaded as float (for stages that want
 * ch[].data).
 */
#include "core/common.h"
#include "io/edf.h"
#include "pipeline/stage.h"

#define STAGE "load.eeg"

struct load_priv {
    bool preload;
};

struct idf_ctx {
    struct mmdx_patient *p;
    const char *path;
};

static enum mmdx_status report_idfield(void *user, const char *field,
                                       int kind, const char *value)
{
    struct idf_ctx *c = user;
    char name[64];

    snprintf(name, sizeof(name), "EDF %s", field);
    return mmdx__patient_add_idfield(c->p, MMDX_MOD_EEG, c->path, name,
                                     (enum mmdx_id_kind)kind, value);
}

static enum mmdx_status load_process(struct mmdx_stage *st,
                                     struct mmdx_patient *p)
{
    struct load_priv *pr = st->priv;
    const char *path = p->path[MMDX_MOD_EEG];
    struct mmdx_edf *e = NULL;
    struct mmdx_signal *s = NULL;
    struct mmdx_edf_opts o = { "uV", !pr->preload, false };
    struct idf_ctx ic = { p, path };
    enum mmdx_status rc;
    enum mmdx_format fmt;
    size_t ngaps, i, nuv = 0;

    rc = mmdx_detect(st->ctx, path, &fmt);
    if (rc)
        return rc;
    if (fmt != MMDX_FMT_EDF && fmt != MMDX_FMT_EDFPLUS &&
        fmt != MMDX_FMT_BDF && fmt != MMDX_FMT_BDFPLUS)
        return mmdx__fail(st->ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0, NULL,
                          "not an EDF, EDF+, BDF or BDF+ file (detected %s)",
                          mmdx_format_name(fmt));
    rc = mmdx__edf_open(st->ctx, path, &e);
    if (rc)
        return rc;
    rc = mmdx__edf_idfields(e, report_idfield, &ic);
    if (rc) {
        mmdx__edf_close(e);
        return rc;
    }
    /* The handle lives on in a lazy signal: keep no identifying value in
     * it (the gate has its copies; nothing downstream needs them). */
    memset(e->patient, 0, sizeof(e->patient));
    memset(e->recording, 0, sizeof(e->recording));
    memset(e->startdate, 0, sizeof(e->startdate));
    rc = mmdx__edf_to_signal(e, &o, &s); /* takes e */
    if (rc)
        return rc;
    ngaps = 0;
    for (i = 0; i < s->nann; i++)
        ngaps += strcmp(s->ann[i].text, "EDF+D gap") == 0;
    for (i = 0; i < s->nch; i++)
        nuv += strcmp(s->ch[i].unit, "uV") == 0;
    mmdx__patient_set_slot(p, MMDX_SLOT_EEG, s, mmdx__signal_free_v);
    if (ngaps) {
        rc = mmdx__patient_flag(p, MMDX_MOD_EEG, "eeg.record.discontinuous",
                                "EDF+D with %zu gap(s): samples are joined "
                                "across them",
                                ngaps);
        if (rc)
            return rc;
    }
    if (nuv == 0)
        return mmdx__patient_flag(p, MMDX_MOD_EEG, "eeg.record.no_voltage",
                                  "no channel in a voltage unit");
    return MMDX_OK;
}

static const struct mmdx_param load_params[] = {
    { "preload", MMDX_PARAM_BOOL, offsetof(struct load_priv, preload), 0,
      NULL, 0, 0, NULL,
      "load every sample into memory (float) instead of reading on demand" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_load_eeg = {
    MMDX_STAGE_ABI,
    "load.eeg",
    "read an EDF/EDF+/BDF/BDF+ recording (uV); report identifying header "
    "fields to the de-identification gate",
    0,
    MMDX_SLOT_BIT(MMDX_SLOT_EEG),
    MMDX_MOD_EEG,
    load_params,
    sizeof(struct load_priv),
    NULL,
    load_process,
    NULL
};
