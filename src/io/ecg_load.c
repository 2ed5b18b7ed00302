/*
 * ecg_load.c - ECG input by content (never by name): WFDB records and HL7
 * aECG XML; leads chosen by label; identifying fields reported for the
 * de-identification gate; the load.ecg stage.
 */
#include "core/common.h"
#include "io/aecg.h"
#include "io/ecg_load.h"
#include "io/wfdb.h"
#include "mmdx/format.h"

#define STAGE "load.ecg"

size_t mmdx__ecg_split_leads(char *buf, const char **out, size_t max)
{
    size_t n = 0;
    char *p = buf;

    while (*p && n < max) {
        char *e;

        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        e = p;
        while (*e && *e != ',')
            e++;
        if (*e)
            *e++ = '\0';
        {
            size_t l = strlen(p);

            while (l && p[l - 1] == ' ')
                p[--l] = '\0';
        }
        if (*p)
            out[n++] = p;
        p = e;
    }
    return n;
}

static bool label_is(const char *label, const char *w)
{
    return mmdx__strcasecmp(label, w) == 0 ||
           (mmdx__strcasecmp(w, "II") == 0 &&
            mmdx__strcasecmp(label, "MLII") == 0);
}

/* Keep the wanted channels of s, in the order of want. */
static enum mmdx_status select_leads(struct mmdx_ctx *ctx, const char *path,
                                     struct mmdx_signal *s,
                                     const char *const *want, size_t nwant)
{
    struct mmdx_channel *keep;
    size_t k, i, n = 0;

    if (!want)
        return MMDX_OK;
    keep = mmdx__calloc(s->nch ? s->nch : 1, sizeof(*keep));
    if (!keep)
        return mmdx__nomem(ctx);
    for (k = 0; k < nwant; k++)
        for (i = 0; i < s->nch; i++)
            if (s->ch[i].data && label_is(s->ch[i].label, want[k])) {
                keep[n++] = s->ch[i];
                s->ch[i].data = NULL;
                break;
            }
    if (n == 0) {
        struct mmdx_dstr have, w;
        enum mmdx_status st;

        mmdx__dstr_init(&have, 512);
        mmdx__dstr_init(&w, 256);
        for (i = 0; i < s->nch; i++)
            mmdx__dstr_addf(&have, "%s%s", i ? "," : "", s->ch[i].label);
        for (k = 0; k < nwant; k++)
            mmdx__dstr_addf(&w, "%s%s", k ? "," : "", want[k]);
        st = mmdx__fail(ctx, MMDX_E_NOTFOUND, "io.ecg", path, 0, "lead",
                        "none of the wanted leads (%s) is in the record "
                        "(it has %s)", w.s, have.s);
        mmdx__dstr_fini(&have);
        mmdx__dstr_fini(&w);
        mmdx__free(keep);
        return st;
    }
    for (i = 0; i < s->nch; i++)
        mmdx__free(s->ch[i].data);
    mmdx__free(s->ch);
    s->ch = keep;
    s->nch = n;
    return MMDX_OK;
}

struct idctx {
    struct mmdx_patient *p;
    const char *file;
};

static enum mmdx_status add_id(void *user, const char *field,
                               enum mmdx_id_kind kind, const char *value)
{
    struct idctx *ic = user;

    if (!ic->p)
        return MMDX_OK;
    return mmdx__patient_add_idfield(ic->p, MMDX_MOD_ECG, ic->file, field,
                                     kind, value);
}

enum mmdx_status mmdx__ecg_load(struct mmdx_ctx *ctx, const char *path,
                                const char *const *want, size_t nwant,
                                struct mmdx_patient *p,
                                struct mmdx_signal **out)
{
    enum mmdx_format fmt = MMDX_FMT_UNKNOWN;
    char *alt = NULL;
    const char *use = path;
    enum mmdx_status st;

    *out = NULL;
    if (!mmdx__is_file(path)) {
        size_t l = strlen(path);

        alt = mmdx__malloc(l + 5);
        if (!alt)
            return mmdx__nomem(ctx);
        memcpy(alt, path, l);
        memcpy(alt + l, ".hea", 5);
        if (mmdx__is_file(alt))
            use = alt;
    }
    st = mmdx_detect(ctx, use, &fmt);
    if (st)
        goto out;
    if (fmt == MMDX_FMT_WFDB_HEADER) {
        struct mmdx_wfdb_header *h = NULL;
        size_t i;

        st = mmdx__wfdb_load(ctx, use, want, nwant, out, &h);
        if (st)
            goto out;
        for (i = 0; p && i < h->ncomments && !st; i++) {
            char field[64];

            snprintf(field, sizeof(field), "header comment line %ld",
                     h->comments[i].line);
            st = mmdx__patient_add_idfield(p, MMDX_MOD_ECG, use, field,
                                           MMDX_ID_FREE_TEXT,
                                           h->comments[i].text);
        }
        if (p && !st && h->base_date)
            st = mmdx__patient_add_idfield(p, MMDX_MOD_ECG, use,
                                           "record line base date",
                                           MMDX_ID_DATE, h->base_date);
        mmdx__wfdb_header_free(h);
        if (st) {
            mmdx__signal_free(*out);
            *out = NULL;
            st = mmdx__nomem(ctx);
        }
        goto out;
    }
    if (fmt == MMDX_FMT_AECG_XML) {
        struct idctx ic = { p, use };

        st = mmdx__aecg_read(ctx, use, add_id, &ic, out);
        if (!st) {
            st = select_leads(ctx, use, *out, want, nwant);
            if (st) {
                mmdx__signal_free(*out);
                *out = NULL;
            }
        }
        goto out;
    }
    if (fmt == MMDX_FMT_EDF || fmt == MMDX_FMT_EDFPLUS ||
        fmt == MMDX_FMT_DICOM) {
        st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "io.ecg", use, 0, NULL,
                        "%s ECGs are not read by this build yet (WFDB and "
                        "HL7 aECG are)", mmdx_format_name(fmt));
        goto out;
    }
    st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "io.ecg", use, 0, NULL,
                    "not an ECG format (%s); WFDB records and HL7 aECG XML "
                    "are read", mmdx_format_name(fmt));
out:
    mmdx__free(alt);
    return st;
}

/* ---- stage load.ecg ------------------------------------------------------ */

struct load_priv {
    char *leads;
};

static enum mmdx_status load_process(struct mmdx_stage *stg,
                                     struct mmdx_patient *p)
{
    struct load_priv *lp = stg->priv;
    const char *want[16];
    char buf[256];
    size_t nwant;
    struct mmdx_signal *s = NULL;
    enum mmdx_status st;

    mmdx__strlcpy(buf, lp->leads ? lp->leads : "II", sizeof(buf));
    nwant = mmdx__ecg_split_leads(buf, want, MMDX_ARRAY_SIZE(want));
    if (nwant == 0)
        return mmdx__fail(stg->ctx, MMDX_E_INVAL, STAGE, NULL, 0, "leads",
                          "no lead label given");
    st = mmdx__ecg_load(stg->ctx, p->path[MMDX_MOD_ECG], want, nwant, p, &s);
    if (st)
        return st;
    mmdx__patient_set_slot(p, MMDX_SLOT_ECG, s, mmdx__signal_free_v);
    return MMDX_OK;
}

static const struct mmdx_param load_params[] = {
    { "leads", MMDX_PARAM_STRING, offsetof(struct load_priv, leads), 0, "II",
      0, 0, NULL,
      "wanted leads by label, in order of preference (comma-separated; "
      "II also matches MLII); the first found drives rhythm analysis" },
    { NULL, MMDX_PARAM_INT, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_load_ecg = {
    MMDX_STAGE_ABI,
    "load.ecg",
    "read the ECG (WFDB record, HL7 aECG XML) and keep the wanted leads, in "
    "mV",
    0,
    MMDX_SLOT_BIT(MMDX_SLOT_ECG),
    MMDX_MOD_ECG,
    load_params,
    sizeof(struct load_priv),
    NULL,
    load_process,
    NULL
};
