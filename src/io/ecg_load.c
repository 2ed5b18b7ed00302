/*
 * ecg_load.c - ECG input by content (never by name): WFDB records and HL7
 * aECG XML; leads chosen by label; identifying fields reported for the
 * de-identification gate; the load.ecg stage. EDF/EDF+ come through the
 * EEG area's reader (src/io/edf.c), DICOM waveforms through the image
 * area's (src/io/dicom.h).
 */
#include "core/common.h"
#include "io/aecg.h"
#include "io/dicom.h"
#include "io/edf.h"
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

bool mmdx__ecg_label_is_lead(const char *label)
{
    static const char *const leads[] = {
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5",
        "V6", "MLI", "MLII", "MLIII", "V", "X", "Y", "Z",
        "VX", "VY", "VZ" /* Frank leads as PTB labels them */
    };
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(leads); i++)
        if (mmdx__strcasecmp(label, leads[i]) == 0)
            return true;
    for (i = 0; label[i]; i++)
        if (mmdx__strncasecmp(label + i, "ECG", 3) == 0 ||
            mmdx__strncasecmp(label + i, "EKG", 3) == 0)
            return true;
    return false;
}

/* The error for a record without any ECG lead (have: its labels). */
static enum mmdx_status no_ecg_lead(struct mmdx_ctx *ctx, const char *path,
                                    const char *have)
{
    return mmdx__fail(ctx, MMDX_E_NOTFOUND, "io.ecg", path, 0, "lead",
                      "no ECG lead in the record (it has %s; ECG leads are "
                      "I-III, aVR/aVL/aVF, V1-V6, MLI-MLIII, V, X/Y/Z or "
                      "vx/vy/vz, or a label containing ECG/EKG, in volts)",
                      have && have[0] ? have : "no signal");
}

/* A lazy signal's source seen through a channel map (kept channels in
 * wanted order), so that lead selection works without loading samples. */
struct remap_src {
    struct mmdx_signal_src base;
    struct mmdx_signal_src *inner;
    size_t n;
    size_t map[];
};

static enum mmdx_status remap_read(struct mmdx_signal_src *src, size_t ch,
                                   size_t first, size_t n, double *out)
{
    struct remap_src *r = (struct remap_src *)src;

    return r->inner->read(r->inner, r->map[ch], first, n, out);
}

static void remap_close(struct mmdx_signal_src *src)
{
    struct remap_src *r = (struct remap_src *)src;

    if (r->inner && r->inner->close)
        r->inner->close(r->inner);
    mmdx__free(r);
}

/* Keep the wanted channels of s, in the order of want; with others, then
 * the record's other ECG leads (by label, in mV) in record order. Without
 * want: every channel, or with others every ECG lead (none is an error
 * naming the record's labels). */
static enum mmdx_status select_leads(struct mmdx_ctx *ctx, const char *path,
                                     struct mmdx_signal *s,
                                     const char *const *want, size_t nwant,
                                     bool others)
{
    struct mmdx_channel *keep;
    struct remap_src *rs = NULL;
    bool *used;
    size_t k, i, n = 0;

    if (!want && !others)
        return MMDX_OK;
    keep = mmdx__calloc(s->nch ? s->nch : 1, sizeof(*keep));
    used = mmdx__calloc(s->nch ? s->nch : 1, sizeof(*used));
    if (s->src)
        rs = mmdx__calloc(1, sizeof(*rs) + (s->nch + 1) * sizeof(size_t));
    if (!keep || !used || (s->src && !rs)) {
        mmdx__free(keep);
        mmdx__free(used);
        mmdx__free(rs);
        return mmdx__nomem(ctx);
    }
    for (k = 0; k < nwant; k++)
        for (i = 0; i < s->nch; i++)
            if (!used[i] && label_is(s->ch[i].label, want[k])) {
                if (rs)
                    rs->map[n] = i;
                keep[n++] = s->ch[i];
                used[i] = true;
                s->ch[i].data = NULL;
                break;
            }
    for (i = 0; others && (n > 0 || !want) && i < s->nch; i++)
        if (!used[i] && !strcmp(s->ch[i].unit, "mV") &&
            mmdx__ecg_label_is_lead(s->ch[i].label)) {
            if (rs)
                rs->map[n] = i;
            keep[n++] = s->ch[i];
            used[i] = true;
            s->ch[i].data = NULL;
        }
    mmdx__free(used);
    if (n == 0) {
        struct mmdx_dstr have, w;
        enum mmdx_status st;

        mmdx__dstr_init(&have, 512);
        mmdx__dstr_init(&w, 256);
        for (i = 0; i < s->nch; i++)
            mmdx__dstr_addf(&have, "%s%s", i ? "," : "", s->ch[i].label);
        for (k = 0; k < nwant; k++)
            mmdx__dstr_addf(&w, "%s%s", k ? "," : "", want[k]);
        if (want)
            st = mmdx__fail(ctx, MMDX_E_NOTFOUND, "io.ecg", path, 0, "lead",
                            "none of the wanted leads (%s) is in the record "
                            "(it has %s)", w.s, have.s);
        else
            st = no_ecg_lead(ctx, path, have.s);
        mmdx__dstr_fini(&have);
        mmdx__dstr_fini(&w);
        mmdx__free(keep);
        mmdx__free(rs);
        return st;
    }
    for (i = 0; i < s->nch; i++)
        mmdx__free(s->ch[i].data);
    mmdx__free(s->ch);
    s->ch = keep;
    s->nch = n;
    if (rs) {
        rs->base.read = remap_read;
        rs->base.close = remap_close;
        rs->inner = s->src;
        rs->n = n;
        s->src = &rs->base;
    }
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

static enum mmdx_status add_id_int(void *user, const char *field, int kind,
                                   const char *value)
{
    return add_id(user, field, (enum mmdx_id_kind)kind, value);
}

/* EDF files longer than this many samples (all signals) are read lazily:
 * the analysis streams them in chunks. */
#define EDF_EAGER_MAX_SAMPLES ((size_t)32 << 20)

static enum mmdx_status load_edf(struct mmdx_ctx *ctx, const char *path,
                                 struct idctx *ic, struct mmdx_signal **out)
{
    struct mmdx_edf *e = NULL;
    struct mmdx_edf_opts o;
    enum mmdx_status st;
    size_t i, total = 0;

    memset(&o, 0, sizeof(o));
    o.voltage_unit = "mV";
    st = mmdx__edf_open(ctx, path, &e);
    if (st)
        return st;
    st = mmdx__edf_idfields(e, add_id_int, ic);
    if (st) {
        mmdx__edf_close(e);
        return st == MMDX_E_NOMEM ? mmdx__nomem(ctx) : st;
    }
    /* the gate has them; a lazily read signal keeps the handle open, so
     * the header's identifying text must not stay in it (deid area) */
    memset(e->patient, 0, sizeof(e->patient));
    memset(e->recording, 0, sizeof(e->recording));
    for (i = 0; i < e->ns; i++)
        total += mmdx__edf_nsamples(e, i);
    o.lazy = total > EDF_EAGER_MAX_SAMPLES;
    return mmdx__edf_to_signal(e, &o, out);
}

static enum mmdx_status load_dicom(struct mmdx_ctx *ctx, const char *path,
                                   struct idctx *ic, struct mmdx_signal **out)
{
    struct mmdx_dicom_waveform w;
    enum mmdx_status st;
    size_t i;

    memset(&w, 0, sizeof(w));
    st = mmdx__dicom_read_waveform(ctx, path, &w);
    for (i = 0; !st && i < w.nids; i++)
        st = add_id(ic, w.ids[i].field, (enum mmdx_id_kind)w.ids[i].kind,
                    w.ids[i].value ? w.ids[i].value : "");
    if (!st) {
        *out = w.sig;
        w.sig = NULL;
    } else if (st == MMDX_E_NOMEM) {
        st = mmdx__nomem(ctx);
    }
    mmdx__dicom_waveform_fini(&w);
    return st;
}

/* The wanted labels followed by the header's other ECG leads (in mV), as
 * a want list for the WFDB reader: *ext (freed by the caller) holds the
 * strings. Without any wanted lead in the header, the list is want alone
 * (the reader's error then names the wanted leads). */
static enum mmdx_status wfdb_want_others(struct mmdx_ctx *ctx,
                                         const char *path,
                                         const char *const *want,
                                         size_t nwant, const char ***list,
                                         size_t *nlist, char **ext)
{
    struct mmdx_wfdb_header *h = NULL, *lay = NULL;
    enum mmdx_status st;
    size_t i, k, n = 0;
    bool any = nwant == 0; /* no wanted lead: every ECG lead */
    char (*lab)[32];

    *list = NULL;
    *ext = NULL;
    *nlist = 0;
    st = mmdx__wfdb_header_read(ctx, path, &h);
    if (!st)
        st = mmdx__wfdb_layout(ctx, h, &lay, NULL);
    if (st) {
        mmdx__wfdb_header_free(h);
        return st;
    }
    if (lay) { /* multi-segment: the signals its layout describes */
        mmdx__wfdb_header_free(h);
        h = lay;
    }
    *list = mmdx__calloc(nwant + h->nsig + 1, sizeof(**list));
    *ext = mmdx__calloc(h->nsig + 1, 32);
    if (!*list || !*ext) {
        mmdx__wfdb_header_free(h);
        return mmdx__nomem(ctx);
    }
    lab = (char (*)[32])(void *)*ext;
    for (k = 0; k < nwant; k++)
        (*list)[n++] = want[k];
    for (i = 0; i < h->nsig; i++) {
        mmdx__label_normalise(h->sig[i].desc, lab[i], sizeof(lab[i]));
        for (k = 0; k < nwant; k++)
            any |= label_is(lab[i], want[k]);
    }
    for (i = 0; any && i < h->nsig; i++) {
        bool dup = false;

        for (k = 0; k < n; k++)
            dup |= label_is(lab[i], (*list)[k]);
        if (!dup && mmdx__wfdb_unit_to_mv(h->sig[i].units) != 0 &&
            mmdx__ecg_label_is_lead(lab[i]))
            (*list)[n++] = lab[i];
    }
    *nlist = n;
    if (nwant == 0 && n == 0) {
        struct mmdx_dstr have;

        mmdx__dstr_init(&have, 512);
        for (i = 0; i < h->nsig; i++)
            mmdx__dstr_addf(&have, "%s%s", i ? "," : "", lab[i]);
        st = no_ecg_lead(ctx, path, have.s);
        mmdx__dstr_fini(&have);
    }
    mmdx__wfdb_header_free(h);
    return st;
}

enum mmdx_status mmdx__ecg_load(struct mmdx_ctx *ctx, const char *path,
                                const char *const *want, size_t nwant,
                                struct mmdx_patient *p,
                                struct mmdx_signal **out)
{
    return mmdx__ecg_load_ex(ctx, path, want, nwant, false, p, out);
}

enum mmdx_status mmdx__ecg_load_ex(struct mmdx_ctx *ctx, const char *path,
                                   const char *const *want, size_t nwant,
                                   bool others, struct mmdx_patient *p,
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
        const char **list = NULL;
        char *ext = NULL;
        size_t i, nlist = 0;

        if (others) {
            st = wfdb_want_others(ctx, use, want, nwant, &list, &nlist, &ext);
            if (!st)
                st = mmdx__wfdb_load_ex(ctx, use, list, nlist,
                                        MMDX_WFDB_LAZY_SAMPLES, out, &h);
        } else {
            st = mmdx__wfdb_load_ex(ctx, use, want, nwant,
                                    MMDX_WFDB_LAZY_SAMPLES, out, &h);
        }
        mmdx__free(list);
        mmdx__free(ext);
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
    if (fmt == MMDX_FMT_AECG_XML || fmt == MMDX_FMT_EDF ||
        fmt == MMDX_FMT_EDFPLUS || fmt == MMDX_FMT_DICOM) {
        struct idctx ic = { p, use };

        if (fmt == MMDX_FMT_AECG_XML)
            st = mmdx__aecg_read(ctx, use, add_id, &ic, out);
        else if (fmt == MMDX_FMT_DICOM)
            st = load_dicom(ctx, use, &ic, out);
        else
            st = load_edf(ctx, use, &ic, out);
        if (!st) {
            st = select_leads(ctx, use, *out, want, nwant, others);
            if (st) {
                mmdx__signal_free(*out);
                *out = NULL;
            }
        }
        goto out;
    }
    st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "io.ecg", use, 0, NULL,
                    "not an ECG format (%s); WFDB records, HL7 aECG XML, "
                    "EDF/EDF+ and DICOM waveforms are read",
                    mmdx_format_name(fmt));
out:
    mmdx__free(alt);
    return st;
}

/* ---- stage load.ecg ------------------------------------------------------ */

struct load_priv {
    char *leads;
    bool others;
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
    st = mmdx__ecg_load_ex(stg->ctx, p->path[MMDX_MOD_ECG], want, nwant,
                           lp->others, p, &s);
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
    { "other_leads", MMDX_PARAM_BOOL, offsetof(struct load_priv, others), 1,
      NULL, 0, 0, NULL,
      "also keep the record's other ECG leads (after the wanted ones), for "
      "signal quality on every lead and the fallback to a cleaner lead" },
    { NULL, MMDX_PARAM_INT, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_load_ecg = {
    MMDX_STAGE_ABI,
    "load.ecg",
    "read the ECG (WFDB record, HL7 aECG XML, EDF/EDF+, DICOM waveform) and "
    "keep the wanted leads, in mV",
    0,
    MMDX_SLOT_BIT(MMDX_SLOT_ECG),
    MMDX_MOD_ECG,
    load_params,
    sizeof(struct load_priv),
    NULL,
    load_process,
    NULL
};

/* ---- inspect hooks -------------------------------------------------------- */

enum mmdx_status mmdx__wfdb_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user);
enum mmdx_status mmdx__aecg_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user);

enum mmdx_status mmdx__wfdb_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user)
{
    struct mmdx_wfdb_header *h = NULL;
    struct mmdx_wfdb_reader *r = NULL;
    enum mmdx_status st;
    char num[32], key[48], val[200];
    size_t i;

    MMDX_UNUSED(fmt);
    st = mmdx__wfdb_header_read(ctx, path, &h);
    if (st)
        return st;
    snprintf(num, sizeof(num), "%zu", h->nsig);
    fn(user, "wfdb.signals", num);
    fn(user, "wfdb.fs_hz", mmdx__fmt_double(h->fs_hz, num));
    if (h->nseg) {
        struct mmdx_wfdb_header *lay = NULL;
        long total = 0;

        snprintf(num, sizeof(num), "%zu", h->nseg);
        fn(user, "wfdb.segments", num);
        for (i = 0; i < h->nseg; i++)
            if (total <= LONG_MAX - h->seg[i].nsamp)
                total += h->seg[i].nsamp;
        snprintf(num, sizeof(num), "%ld", total);
        fn(user, "wfdb.samples", num);
        fn(user, "wfdb.duration_s",
           mmdx__fmt_double((double)total / h->fs_hz, num));
        st = mmdx__wfdb_layout(ctx, h, &lay, NULL);
        for (i = 0; !st && i < lay->nsig; i++) {
            char lab[32];

            mmdx__label_normalise(lay->sig[i].desc, lab, sizeof(lab));
            snprintf(key, sizeof(key), "wfdb.signal[%zu]", i);
            fn(user, key, lab);
        }
        mmdx__wfdb_header_free(lay);
        mmdx__wfdb_header_free(h);
        return st;
    }
    /* opening the reader checks every signal file against the header */
    st = mmdx__wfdb_reader_new(ctx, h, &r);
    if (!st) {
        size_t fr = mmdx__wfdb_reader_frames(r);

        snprintf(num, sizeof(num), "%zu", fr);
        fn(user, "wfdb.samples", num);
        fn(user, "wfdb.duration_s",
           mmdx__fmt_double((double)fr / h->fs_hz, num));
    }
    for (i = 0; !st && i < h->nsig; i++) {
        char lab[32];

        mmdx__label_normalise(h->sig[i].desc, lab, sizeof(lab));
        snprintf(key, sizeof(key), "wfdb.signal[%zu]", i);
        snprintf(val, sizeof(val), "%s format=%d gain=%g adu/%s%s", lab,
                 h->sig[i].fmt, h->sig[i].gain_adu_per_unit, h->sig[i].units,
                 h->sig[i].gain_given ? "" : " (default)");
        fn(user, key, val);
    }
    if (!st) {
        snprintf(num, sizeof(num), "%zu", h->ncomments);
        fn(user, "wfdb.comment_lines", num);
    }
    mmdx__wfdb_reader_free(r);
    mmdx__wfdb_header_free(h);
    return st;
}

enum mmdx_status mmdx__aecg_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user)
{
    struct mmdx_signal *s = NULL;
    enum mmdx_status st;
    char num[32], key[48];
    size_t i;

    MMDX_UNUSED(fmt);
    st = mmdx__aecg_read(ctx, path, NULL, NULL, &s);
    if (st)
        return st;
    snprintf(num, sizeof(num), "%zu", s->nch);
    fn(user, "aecg.leads", num);
    fn(user, "aecg.fs_hz", mmdx__fmt_double(s->ch[0].fs_hz, num));
    fn(user, "aecg.duration_s", mmdx__fmt_double(s->duration_s, num));
    for (i = 0; i < s->nch; i++) {
        char val[64];

        snprintf(key, sizeof(key), "aecg.lead[%zu]", i);
        snprintf(val, sizeof(val), "%s samples=%zu", s->ch[i].label,
                 s->ch[i].n);
        fn(user, key, val);
    }
    mmdx__signal_free(s);
    return MMDX_OK;
}
