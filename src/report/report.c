/*
 * report.c - the "report" stage: patients/<id>/report.html (self-
 * contained, printable, inline SVG) and patients/<id>/report.xml (the same
 * facts, schemas/report.xsd), plus a one-line report.tsv the cohort index
 * reads.
 *
 * What reaches a report: the pseudonym id, features, flags, errors (with
 * input paths replaced by the modality name), hashes and pictures drawn
 * from signal samples and pixels. Never a loader's identifying fields,
 * file names, dates or annotation texts.
 */
#include "core/common.h"
#include "pipeline/stage.h"
#include "pipeline/runner.h"
#include "fusion/risk.h"
#include "io/signal.h"
#include "mmdx/pipeline.h"
#include "report/report.h"
#include "report/report_int.h"

#if defined(__has_include)
#if __has_include("features/ecg_int.h")
#include "features/ecg_int.h"
#define HAVE_ECG_QRS 1
#endif
#if __has_include("io/image.h")
#include "io/image.h"
#define HAVE_IMAGE_H 1
#endif
#endif

#define NOTICE "For research use; not a medical device."
#define REPORT_FORMAT 1
#define MAX_FINDINGS 16      /* key findings shown per modality */
#define MAX_PER_FAMILY 6     /* of them from one feature family */
#define RASTER_MAX 256       /* image pixels per side in the report */

struct report_priv {
    double ecg_strip_s;      /* seconds of ECG drawn */
    double eeg_psd_max_s;    /* seconds of EEG used for the plotted PSD */
    long max_findings;       /* key findings per modality */
};

/* What one report says, gathered once for the HTML and the XML. */
struct facts {
    const struct mmdx_patient *p;
    const struct mmdx_pipeline *pipe;
    const struct mmdx_risk *risk;        /* NULL = none */
    bool pipeline_has_fusion;
    const char *mod_state[MMDX_MOD_COUNT];  /* used / missing / failed */
    double score;                        /* CHA2DS2-VASc or NaN */
    /* pictures, built before writing */
    double *peaks_s;
    size_t npeaks;
    float *strip;                        /* first seconds of the lead */
    size_t strip_n;
    int ecg_lead;
    const char *peaks_source;
    struct eeg_spectrum eeg;
};

static const char *const mod_names[MMDX_MOD_COUNT] = { "image", "ecg", "eeg",
                                                       "record" };
static const char *const mod_titles[MMDX_MOD_COUNT] = {
    "Image", "ECG", "EEG", "Patient record"
};

/* Feature families shown as key findings, in order, per modality. */
static const char *const key_families[MMDX_MOD_COUNT][10] = {
    { "roi", "stat", "firstorder", "shape", "lesion", "glcm", "glrlm", NULL },
    { "rate", "hr", "rhythm", "af", "rr", "hrv", "qrs", "quality", NULL },
    { "band", "ratio", "slowing", "asym", "spectral", NULL },
    { "score", "demo", "comorb", "hx", "vital", "vitals", "lab", "labs",
      "med", NULL },
};

/* ---- gathering ----------------------------------------------------------- */

static bool pipeline_has(const struct mmdx_pipeline *pipe, const char *name)
{
    size_t i, n = pipe ? mmdx__pipeline_nstages(pipe) : 0;

    for (i = 0; i < n; i++)
        if (strcmp(mmdx__pipeline_stage_name(pipe, i), name) == 0)
            return true;
    return false;
}

static int feature_modality(const char *name)
{
    int m;

    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        size_t n = strlen(mod_names[m]);

        if (strncmp(name, mod_names[m], n) == 0 && name[n] == '.')
            return m;
    }
    return -1;
}

/* Error messages name the input file; a report says the modality
 * instead (file names may carry names or dates). */
static void sanitise(const struct mmdx_patient *p, const char *msg,
                     char *out, size_t size)
{
    char buf[2048];
    int m;

    mmdx__strlcpy(buf, msg ? msg : "", sizeof(buf));
    for (m = -1; m < MMDX_MOD_COUNT; m++) {
        const char *path = m < 0 ? p->mask_path : p->path[m];
        char *hit;

        if (!path || !path[0])
            continue;
        while ((hit = strstr(buf, path)) != NULL) {
            char tail[2048];
            const char *rep = m < 0 ? "[mask file]" : "[input file]";

            mmdx__strlcpy(tail, hit + strlen(path), sizeof(tail));
            *hit = '\0';
            mmdx__strlcpy(hit, rep, sizeof(buf) - (size_t)(hit - buf));
            mmdx__strlcpy(hit + strlen(rep), tail,
                          sizeof(buf) - (size_t)(hit - buf) - strlen(rep));
        }
    }
    mmdx__strlcpy(out, buf, size);
}

#define ECG_CHUNK 65536  /* samples read at a time from a lazy signal */

/*
 * The ECG lead drawn (II, else the first), the first strip_s seconds of it
 * as floats for the strip, and its R peaks over the whole recording from
 * the ECG area's streaming QRS detector. Signals may be lazy (ch->data
 * NULL, samples read from the file on demand), so everything goes through
 * mmdx__signal_read in chunks: memory stays bounded for long recordings.
 */
static enum mmdx_status ecg_prepare(struct mmdx_ctx *ctx, struct facts *f,
                                    double strip_s)
{
    const struct mmdx_signal *s = f->p->slot[MMDX_SLOT_ECG];
    const struct mmdx_channel *ch;
    double *buf = NULL;
    float *fb = NULL;
    size_t first, i, nstrip;
    enum mmdx_status st = MMDX_OK;
    int li;
#ifdef HAVE_ECG_QRS
    struct mmdx_qrs_det *det = NULL;
    bool detect;
#endif

    f->ecg_lead = -1;
    if (!s || !s->nch)
        return MMDX_OK;
    li = mmdx__signal_find(s, "II");
    f->ecg_lead = li >= 0 ? li : 0;
    ch = &s->ch[f->ecg_lead];
    if (!ch->n || !(ch->fs_hz > 0))
        return MMDX_OK;
    nstrip = (size_t)(strip_s * ch->fs_hz);
    if (nstrip > ch->n)
        nstrip = ch->n;
    f->strip = mmdx__calloc(nstrip ? nstrip : 1, sizeof(float));
    buf = mmdx__calloc(ECG_CHUNK, sizeof(*buf));
    fb = mmdx__calloc(ECG_CHUNK, sizeof(*fb));
    if (!f->strip || !buf || !fb) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    f->strip_n = nstrip;
#ifdef HAVE_ECG_QRS
    detect = ch->fs_hz >= MMDX_QRS_MIN_FS_HZ &&
             ch->fs_hz <= MMDX_QRS_MAX_FS_HZ;
    if (detect) {
        st = mmdx__qrs_det_new(ctx, ch->fs_hz, &det);
        if (st)
            goto out;
    }
#endif
    for (first = 0; first < ch->n; first += ECG_CHUNK) {
        size_t k = ch->n - first < ECG_CHUNK ? ch->n - first : ECG_CHUNK;
        const float *x;

        if (ch->data) {
            x = ch->data + first;
        } else {
            st = mmdx__signal_read(ctx, s, (size_t)f->ecg_lead, first, k,
                                   buf);
            if (st)
                goto out;
            for (i = 0; i < k; i++)
                fb[i] = (float)buf[i];
            x = fb;
        }
        for (i = 0; i < k && first + i < nstrip; i++)
            f->strip[first + i] = x[i];
#ifdef HAVE_ECG_QRS
        if (!detect)
            continue;
        st = mmdx__qrs_det_push(det, x, k);
        if (st)
            goto out;
#else
        if (first + k >= nstrip)
            break;
#endif
    }
#ifdef HAVE_ECG_QRS
    if (detect) {
        const struct mmdx_qrs_beat *beats;
        size_t nb;

        st = mmdx__qrs_det_finish(det);
        if (st)
            goto out;
        beats = mmdx__qrs_det_beats(det, &nb);
        f->peaks_s = mmdx__calloc(nb ? nb : 1, sizeof(double));
        if (!f->peaks_s) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        for (i = 0; i < nb; i++)
            f->peaks_s[i] = (double)beats[i].sample / ch->fs_hz;
        f->npeaks = nb;
        f->peaks_source = "the ECG stage's QRS detector";
    }
#endif
out:
#ifdef HAVE_ECG_QRS
    mmdx__qrs_det_free(det);
#endif
    mmdx__free(buf);
    mmdx__free(fb);
    if (st && st != MMDX_E_NOMEM) {
        /* the pictures go without this ECG; the ECG stage says why */
        mmdx_ctx_clear_error(ctx);
        mmdx__freep(&f->peaks_s);
        f->npeaks = 0;
        f->strip_n = 0;
        st = MMDX_OK;
    }
    return st;
}

static enum mmdx_status gather(struct mmdx_stage *s,
                               const struct mmdx_patient *p, struct facts *f)
{
    const struct report_priv *pr = s->priv;
    const struct mmdx_feature *sc;
    enum mmdx_status st;
    int m;

    memset(f, 0, sizeof(*f));
    f->p = p;
    f->pipe = s->pipe;
    f->risk = p->slot[MMDX_SLOT_RISK];
    f->pipeline_has_fusion = pipeline_has(s->pipe, "fusion.risk");
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        size_t i;
        bool any = p->slot[m] != NULL; /* slots 0..3 are the modalities */

        for (i = 0; i < p->features.n && !any; i++)
            any = feature_modality(p->features.v[i].name) == m;
        f->mod_state[m] = !p->path[m] ? "missing"
                          : (p->mod_failed & (1u << m)) ? "failed"
                          : any ? "used"
                                : "unprocessed";
    }
    sc = mmdx__featset_get(&p->features, "record.score.cha2ds2vasc");
    f->score = sc ? sc->value : NAN;
    st = ecg_prepare(s->ctx, f, pr->ecg_strip_s);
    if (!st && p->slot[MMDX_SLOT_EEG])
        st = mmdx__eeg_spectrum(s->ctx, p->slot[MMDX_SLOT_EEG],
                                pr->eeg_psd_max_s, &f->eeg);
    return st;
}

static void facts_fini(struct facts *f)
{
    mmdx__free(f->peaks_s);
    mmdx__free(f->strip);
    mmdx__eeg_spectrum_fini(&f->eeg);
}

/* ---- HTML ---------------------------------------------------------------- */

static const char css[] =
    "body{font-family:sans-serif;margin:24px auto;max-width:980px;"
    "color:#222;line-height:1.35}"
    "h1{font-size:22px;margin:0}h2{font-size:17px;border-bottom:2px solid "
    "#ddd;padding-bottom:3px;margin-top:26px}h3{font-size:14px;margin:14px "
    "0 4px}"
    ".notice{background:#fff3cd;border:1px solid #e0c36a;padding:6px 10px;"
    "font-weight:bold;margin:10px 0}"
    ".boxes{display:flex;gap:16px;flex-wrap:wrap}.box{border:1px solid #ccc;"
    "border-radius:4px;padding:10px 14px;min-width:200px;max-width:500px}"
    ".big{font-size:30px;font-weight:bold}.band-low{color:#238b45}"
    ".band-moderate{color:#b8860b}.band-high{color:#cb181d}"
    "table{border-collapse:collapse;margin:6px 0;font-size:13px}"
    "td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;"
    "vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".muted{color:#777}.mono{font-family:monospace;font-size:11px;"
    "word-break:break-all}svg.plot{display:block;margin:6px 0;"
    "max-width:100%;height:auto}"
    "@media print{body{margin:0;max-width:none}h2{break-after:avoid}"
    "svg.plot,table{break-inside:avoid}.notice{border:2px solid #000}}";

static void html_head(struct rout *o, const char *title)
{
    rout_adds(o, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                 "<meta charset=\"utf-8\">"
                 "<meta name=\"generator\" content=\"mmdx ");
    rout_esc(o, mmdx_version());
    rout_adds(o, "\"><meta http-equiv=\"Content-Security-Policy\" "
                 "content=\"default-src 'none'; style-src 'unsafe-inline'; "
                 "img-src data:; script-src 'unsafe-inline'\"><title>");
    rout_esc(o, title);
    rout_adds(o, "</title><style>");
    rout_adds(o, css);
    rout_adds(o, "</style></head><body>\n");
}

static void feature_row(struct rout *o, const struct mmdx_feature *ft)
{
    struct feature_words w;
    const char *why = mmdx__report_interpret(ft->name, ft->value);

    mmdx__report_words(ft->name, &w);
    rout_adds(o, "<tr><td>");
    rout_esc(o, w.name);
    rout_adds(o, "</td><td class=\"num\">");
    rout_g(o, ft->value);
    rout_adds(o, "</td><td>");
    rout_esc(o, w.unit);
    rout_adds(o, "</td><td>");
    if (why)
        rout_esc(o, why);
    rout_adds(o, "</td><td class=\"mono\">");
    rout_esc(o, ft->name);
    rout_adds(o, "</td></tr>\n");
}

static void findings_html(struct rout *o, const struct facts *f, int m,
                          long max_findings)
{
    const struct mmdx_featset *fs = &f->p->features;
    size_t i, shown = 0, total = 0;
    int k;

    for (i = 0; i < fs->n; i++)
        total += feature_modality(fs->v[i].name) == m;
    if (!total) {
        rout_addf(o, "<p class=\"muted\">No %s features (modality %s).</p>\n",
                  mod_titles[m], f->mod_state[m]);
        return;
    }
    rout_adds(o, "<table><tr><th>finding</th><th>value</th><th>unit</th>"
                 "<th>reading</th><th>feature</th></tr>\n");
    /* key families first, in their order */
    for (k = 0; key_families[m][k] && (long)shown < max_findings; k++) {
        const char *fam = key_families[m][k];
        bool header = false;

        size_t in_family = 0;

        for (i = 0; i < fs->n && (long)shown < max_findings &&
                    in_family < MAX_PER_FAMILY;
             i++) {
            const char *name = fs->v[i].name, *a = strchr(name, '.');

            if (feature_modality(name) != m ||
                strncmp(a + 1, fam, strlen(fam)) != 0 ||
                a[1 + strlen(fam)] != '.')
                continue;
            if (!header) {
                const char *fw = mmdx__report_family_words(fam);

                rout_adds(o, "<tr><th colspan=\"5\">");
                rout_esc(o, fw ? fw : fam);
                rout_adds(o, "</th></tr>\n");
                header = true;
            }
            feature_row(o, &fs->v[i]);
            shown++;
            in_family++;
        }
    }
    rout_adds(o, "</table>\n");
    if (total > shown)
        rout_addf(o, "<p class=\"muted\">%zu key findings shown; all %zu %s "
                     "features are listed under \"All features\".</p>\n",
                  shown, total, mod_titles[m]);
}

static void risk_html(struct rout *o, const struct facts *f)
{
    const struct mmdx_risk *r = f->risk;
    char num[64];

    rout_adds(o, "<h2>Risk</h2>\n<div class=\"boxes\"><div class=\"box\">");
    if (r) {
        rout_adds(o, "<div>Calibrated risk</div><div class=\"big band-");
        rout_esc(o, r->band);
        rout_adds(o, "\">");
        rout_num(o, r->risk * 100, 1);
        rout_adds(o, " %</div><div>band: <b>");
        rout_esc(o, r->band[0] ? r->band : "not given");
        rout_adds(o, "</b></div>");
        mmdx__svg_risk_scale(o, r->risk, NAN, NAN);
        /* filled in by mmdx__report_cohort() once every patient of the
         * run has a risk (the model file carries no training
         * distribution, so the cohort is this run's) */
        rout_adds(o, REPORT_COHORT_OPEN "<div class=\"muted\">Cohort "
                     "percentile: given when the run completes (see "
                     "index.html).</div>" REPORT_COHORT_CLOSE);
    } else if (!f->pipeline_has_fusion) {
        rout_adds(o, "<div>Calibrated risk</div><div class=\"big\">none</div>"
                     "<div>This pipeline has no fusion.risk stage, so no "
                     "risk was computed.</div>");
    } else {
        rout_adds(o, "<div>Calibrated risk</div><div class=\"big\">none</div>"
                     "<div>fusion.risk produced no risk for this patient; "
                     "see the errors below.</div>");
    }
    rout_adds(o, "</div><div class=\"box\"><div>Reference clinical score"
                 "</div><div class=\"big\">");
    if (isfinite(f->score)) {
        snprintf(num, sizeof(num), "%.0f", f->score);
        rout_esc(o, num);
        rout_adds(o, "</div><div>CHA\xe2\x82\x82" "DS\xe2\x82\x82-VASc "
                     "(0-9), from the patient record</div>");
    } else {
        rout_adds(o, "NA</div><div>CHA\xe2\x82\x82" "DS\xe2\x82\x82-VASc not "
                     "available (no record, or the record lacks what it "
                     "needs)</div>");
    }
    rout_adds(o, "</div></div>\n");
    if (!r)
        return;
    /* contributions */
    {
        const char *labels[MMDX_MOD_COUNT];
        double vals[MMDX_MOD_COUNT];
        size_t n = 0;
        int m;

        rout_adds(o, "<h3>Contribution of each modality</h3>\n");
        for (m = 0; m < MMDX_MOD_COUNT; m++)
            if (r->modalities & (1u << m)) {
                labels[n] = mod_titles[m];
                vals[n++] = r->contribution[m];
            }
        if (n) {
            mmdx__svg_bars(o, "contributions", labels, vals, n,
                           "percentage points of risk", 100);
            rout_adds(o, "<table><tr><th>modality</th><th>contribution "
                         "(percentage points)</th><th>in words</th></tr>\n");
            for (m = 0; m < MMDX_MOD_COUNT; m++) {
                double c = r->contribution[m];

                if (!(r->modalities & (1u << m)))
                    continue;
                rout_addf(o, "<tr><td>%s</td><td class=\"num\">",
                          mod_titles[m]);
                rout_num(o, c * 100, 2);
                rout_addf(o, "</td><td>%s</td></tr>\n",
                          !isfinite(c) ? "not available"
                          : fabs(c) < 0.005 ? "little effect"
                          : c > 0 ? "raises the risk"
                                  : "lowers the risk");
            }
            rout_adds(o, "</table><p class=\"muted\">Method: ");
            rout_esc(o, r->contribution_method[0] ? r->contribution_method
                                                  : "not stated");
            rout_adds(o, "</p>\n");
        } else {
            rout_adds(o, "<p class=\"muted\">The risk rests on no stated "
                         "modality.</p>\n");
        }
    }
    /* top features */
    if (r->ntop) {
        const char *labels[MMDX_RISK_TOP_FEATURES];
        double vals[MMDX_RISK_TOP_FEATURES];
        struct feature_words w[MMDX_RISK_TOP_FEATURES];
        size_t i, n = r->ntop < MMDX_RISK_TOP_FEATURES
                          ? r->ntop : MMDX_RISK_TOP_FEATURES;

        rout_adds(o, "<h3>Top features</h3>\n");
        char lab[MMDX_RISK_TOP_FEATURES][80];

        for (i = 0; i < n; i++) {
            mmdx__report_words(r->top[i].name, &w[i]);
            snprintf(lab[i], sizeof(lab[i]), "%s: %s", w[i].family,
                     w[i].name);
            labels[i] = lab[i];
            vals[i] = r->top[i].attribution;
        }
        mmdx__svg_bars(o, "top-features", labels, vals, n, "logit units", 1);
        rout_adds(o, "<table><tr><th>feature</th><th>value</th><th>unit</th>"
                     "<th>attribution (logit)</th><th>name</th></tr>\n");
        for (i = 0; i < n; i++) {
            rout_adds(o, "<tr><td>");
            rout_esc(o, w[i].family);
            rout_adds(o, ": ");
            rout_esc(o, w[i].name);
            rout_adds(o, "</td><td class=\"num\">");
            rout_g(o, r->top[i].value);
            rout_adds(o, "</td><td>");
            rout_esc(o, w[i].unit);
            rout_adds(o, "</td><td class=\"num\">");
            rout_num(o, r->top[i].attribution, 3);
            rout_adds(o, "</td><td class=\"mono\">");
            rout_esc(o, r->top[i].name);
            rout_adds(o, "</td></tr>\n");
        }
        rout_adds(o, "</table><p class=\"muted\">Attribution method: ");
        rout_esc(o, r->attribution_method[0] ? r->attribution_method
                                             : "not stated");
        rout_adds(o, "</p>\n");
    }
}

#ifdef HAVE_IMAGE_H
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

/* The middle slice, windowed to the 1st-99th percentile of the slice (or
 * of the region of interest), nearest-neighbour downsampled. */
static void image_picture(struct rout *o, const struct mmdx_patient *p)
{
    const struct mmdx_image *img = p->slot[MMDX_SLOT_IMAGE];
    const struct mmdx_image *mask = p->slot[MMDX_SLOT_MASK];
    size_t z, w, h, x, y, n = 0, step;
    unsigned char *grey = NULL, *roi = NULL;
    float *vals = NULL;
    double lo, hi;
    bool use_mask;

    if (!img || !img->vox || !img->nx || !img->ny || !img->nz)
        return;
    z = img->nz / 2;
    use_mask = mask && mask->vox && mask->nx == img->nx &&
               mask->ny == img->ny && mask->nz == img->nz;
    step = (img->nx > img->ny ? img->nx : img->ny) / RASTER_MAX + 1;
    w = (img->nx + step - 1) / step;
    h = (img->ny + step - 1) / step;
    grey = mmdx__calloc(w * h, 1);
    vals = mmdx__calloc(w * h, sizeof(*vals));
    roi = use_mask ? mmdx__calloc(w * h, 1) : NULL;
    if (!grey || !vals || (use_mask && !roi)) {
        o->st = MMDX_E_NOMEM;
        goto out;
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t idx = img->nc * ((x * step) + img->nx *
                                    ((y * step) + img->ny * z));
            float v = img->vox[idx];

            if (roi)
                roi[y * w + x] = mask->vox[mask->nc *
                                           ((x * step) + mask->nx *
                                            ((y * step) + mask->ny * z))] >
                                 0.5f;
            if (isfinite(v) && (!roi || roi[y * w + x]))
                vals[n++] = v;
        }
    if (roi && n < 16) {
        n = 0;
        for (x = 0; x < w * h; x++) {
            float v = img->vox[img->nc * (((x % w) * step) +
                                          img->nx * (((x / w) * step) +
                                                     img->ny * z))];

            if (isfinite(v))
                vals[n++] = v;
        }
    }
    qsort(vals, n, sizeof(*vals), cmp_float);
    lo = n ? vals[n / 100] : 0;
    hi = n ? vals[n - 1 - n / 100] : 1;
    if (hi <= lo)
        hi = lo + 1;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t idx = img->nc * ((x * step) + img->nx *
                                    ((y * step) + img->ny * z));
            double t = (img->vox[idx] - lo) / (hi - lo);

            grey[y * w + x] = (unsigned char)(255 * fmin(1, fmax(0, t)) + 0.5);
        }
    rout_addf(o, "<h3>Slice %zu of %zu</h3>\n", z + 1, img->nz);
    mmdx__svg_raster(o, grey, w, h, 360.0 / (double)(w > h ? w : h), roi);
    rout_addf(o, "<p class=\"muted\">Window %.4g to %.4g %s (1st-99th "
                 "percentile of the %s)%s.</p>\n",
              lo, hi, img->units[0] ? img->units : "(stored units)",
              roi ? "region of interest" : "slice",
              roi ? "; region of interest outlined in red" : "");
out:
    mmdx__free(grey);
    mmdx__free(vals);
    mmdx__free(roi);
}
#endif

static void pictures_html(struct rout *o, const struct facts *f,
                          const struct report_priv *pr, int m)
{
    const struct mmdx_patient *p = f->p;

    if (m == MMDX_MOD_ECG && p->slot[MMDX_SLOT_ECG] && f->ecg_lead >= 0) {
        const struct mmdx_signal *s = p->slot[MMDX_SLOT_ECG];
        struct mmdx_channel strip = s->ch[f->ecg_lead];

        /* the strip's samples, read whatever the signal's storage */
        strip.data = f->strip;
        strip.n = f->strip_n;
        if (strip.n && strip.fs_hz > 0) {
            mmdx__svg_ecg_strip(o, &strip, pr->ecg_strip_s, f->peaks_s,
                                f->npeaks);
            if (f->npeaks >= 3) {
                mmdx__svg_tachogram(o, f->peaks_s, f->npeaks);
                rout_addf(o, "<p class=\"muted\">%zu R peaks over the whole "
                             "recording, found by %s.</p>\n",
                          f->npeaks, f->peaks_source);
            } else {
                rout_adds(o, "<p class=\"muted\">No RR tachogram: fewer than "
                             "three R peaks were available for the plot."
                             "</p>\n");
            }
        }
    }
    if (m == MMDX_MOD_EEG && f->eeg.nch) {
        double *fr = mmdx__calloc(f->eeg.nf, sizeof(double));
        const char *labels[64];
        size_t i;

        if (!fr) {
            o->st = MMDX_E_NOMEM;
            return;
        }
        for (i = 0; i < f->eeg.nf; i++)
            fr[i] = (double)i * f->eeg.df_hz;
        rout_adds(o, "<div class=\"boxes\">");
        mmdx__svg_spectrum(o, fr, f->eeg.mean_psd, f->eeg.nf, 45);
        for (i = 0; i < f->eeg.nch && i < 64; i++)
            labels[i] = f->eeg.label[i];
        mmdx__svg_scalp(o, labels, f->eeg.alpha_rel, f->eeg.nch,
                        "relative alpha power (8-13 Hz / 1-45 Hz)");
        rout_adds(o, "</div>");
        rout_addf(o, "<p class=\"muted\">Pictures only: Welch PSD (Hann, 2 s "
                     "windows, 50 %% overlap) of the first %.0f s of %zu "
                     "channels; the numbers above are the EEG stage's."
                     "</p>\n",
                  f->eeg.seconds, f->eeg.nch);
        mmdx__free(fr);
    }
#ifdef HAVE_IMAGE_H
    if (m == MMDX_MOD_IMAGE && p->slot[MMDX_SLOT_IMAGE])
        image_picture(o, p);
#endif
}

static void quality_html(struct rout *o, const struct facts *f)
{
    const struct mmdx_patient *p = f->p;
    char msg[2048];
    size_t i;
    int m;

    rout_adds(o, "<h2>Data quality</h2>\n<table><tr><th>modality</th>"
                 "<th>status</th></tr>\n");
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        rout_addf(o, "<tr><td>%s</td><td>%s</td></tr>\n", mod_titles[m],
                  f->mod_state[m]);
    rout_adds(o, "</table>\n");
    if (p->nflags) {
        rout_adds(o, "<h3>Flags</h3><table><tr><th>modality</th><th>code</th>"
                     "<th>meaning</th></tr>\n");
        for (i = 0; i < p->nflags; i++) {
            const struct mmdx_flag *fl = &p->flags[i];

            rout_addf(o, "<tr><td>%s</td><td class=\"mono\">",
                      fl->modality >= 0 && fl->modality < MMDX_MOD_COUNT
                          ? mod_names[fl->modality] : "patient");
            rout_esc(o, fl->code);
            rout_adds(o, "</td><td>");
            sanitise(p, fl->message, msg, sizeof(msg));
            rout_esc(o, msg);
            rout_adds(o, "</td></tr>\n");
        }
        rout_adds(o, "</table>\n");
    } else {
        rout_adds(o, "<p>No data-quality flags.</p>\n");
    }
    if (p->nerrors) {
        rout_adds(o, "<h3>Errors</h3><table><tr><th>modality</th>"
                     "<th>stage</th><th>code</th><th>message</th></tr>\n");
        for (i = 0; i < p->nerrors; i++) {
            const struct mmdx_patient_error *e = &p->errors[i];

            rout_addf(o, "<tr><td>%s</td><td>",
                      e->modality >= 0 && e->modality < MMDX_MOD_COUNT
                          ? mod_names[e->modality] : "patient");
            rout_esc(o, e->stage);
            rout_addf(o, "</td><td>%s</td><td>", mmdx_status_name(e->code));
            sanitise(p, e->message, msg, sizeof(msg));
            rout_esc(o, msg);
            rout_adds(o, "</td></tr>\n");
        }
        rout_adds(o, "</table>\n");
    }
}

static void provenance_html(struct rout *o, const struct facts *f)
{
    const struct mmdx_patient *p = f->p;
    int m;

    rout_adds(o, "<h2>Provenance</h2>\n<table>\n<tr><th>software</th><td>"
                 "mmdx ");
    rout_esc(o, mmdx_version());
    rout_adds(o, "</td></tr>\n<tr><th>pipeline</th><td>");
    rout_esc(o, f->pipe ? mmdx_pipeline_name(f->pipe) : "");
    rout_adds(o, " <span class=\"mono\">sha256 ");
    rout_esc(o, f->pipe ? mmdx_pipeline_hash(f->pipe) : "");
    rout_adds(o, "</span></td></tr>\n<tr><th>model</th><td>");
    if (f->risk) {
        rout_esc(o, f->risk->model_name);
        rout_adds(o, " <span class=\"mono\">sha256 ");
        rout_esc(o, f->risk->model_sha256);
        rout_adds(o, "</span>");
    } else {
        rout_adds(o, "none");
    }
    rout_adds(o, "</td></tr>\n");
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (p->input_sha256[m][0]) {
            rout_addf(o, "<tr><th>%s input</th><td class=\"mono\">sha256 ",
                      mod_names[m]);
            rout_esc(o, p->input_sha256[m]);
            rout_adds(o, "</td></tr>\n");
        }
    if (p->mask_sha256[0]) {
        rout_adds(o, "<tr><th>mask input</th><td class=\"mono\">sha256 ");
        rout_esc(o, p->mask_sha256);
        rout_adds(o, "</td></tr>\n");
    }
    rout_adds(o, "</table>\n");
}

static void build_html(struct rout *o, const struct facts *f,
                       const struct report_priv *pr)
{
    const struct mmdx_patient *p = f->p;
    size_t i;
    int m;

    html_head(o, "mmdx report");
    rout_adds(o, "<h1>Multimodal diagnostic research report</h1>\n"
                 "<p>Patient <b>");
    rout_esc(o, p->id);
    rout_adds(o, "</b> (pseudonym)</p>\n<div class=\"notice\">" NOTICE
                 "</div>\n");
    risk_html(o, f);
    rout_adds(o, "<h2>Findings</h2>\n");
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        rout_addf(o, "<h3>%s <span class=\"muted\">(%s)</span></h3>\n",
                  mod_titles[m], f->mod_state[m]);
        findings_html(o, f, m, pr->max_findings);
        pictures_html(o, f, pr, m);
    }
    quality_html(o, f);
    rout_adds(o, "<h2>All features</h2>\n<details open><summary>");
    rout_addf(o, "%zu features</summary>\n<table><tr><th>finding</th>"
                 "<th>value</th><th>unit</th><th>reading</th>"
                 "<th>feature</th></tr>\n", p->features.n);
    for (i = 0; i < p->features.n; i++)
        feature_row(o, &p->features.v[i]);
    rout_adds(o, "</table></details>\n");
    provenance_html(o, f);
    rout_adds(o, "<p class=\"notice\">" NOTICE "</p>\n");
    rout_adds(o, mmdx__report_probe_js);
    rout_adds(o, "</body></html>\n");
}

/* ---- XML ----------------------------------------------------------------- */

static void xattr(struct rout *o, const char *name, const char *value)
{
    rout_addf(o, " %s=\"", name);
    rout_esc(o, value);
    rout_adds(o, "\"");
}

static void xnum(struct rout *o, const char *name, double v)
{
    rout_addf(o, " %s=\"", name);
    rout_g(o, v);
    rout_adds(o, "\"");
}

static void build_xml(struct rout *o, const struct facts *f)
{
    const struct mmdx_patient *p = f->p;
    const struct mmdx_risk *r = f->risk;
    char msg[2048];
    size_t i;
    int m;

    rout_addf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<report xmlns=\"urn:mmdx:report:1\" format=\"%d\">\n",
              REPORT_FORMAT);
    rout_adds(o, "  <patient");
    xattr(o, "id", p->id);
    rout_adds(o, "/>\n  <notice>" NOTICE "</notice>\n  <modalities>\n");
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        rout_adds(o, "    <modality");
        xattr(o, "name", mod_names[m]);
        xattr(o, "status", f->mod_state[m]);
        if (p->input_sha256[m][0])
            xattr(o, "sha256", p->input_sha256[m]);
        rout_adds(o, "/>\n");
    }
    rout_adds(o, "  </modalities>\n");
    if (r) {
        rout_adds(o, "  <risk available=\"true\"");
        xnum(o, "value", r->risk);
        xnum(o, "logit", r->logit);
        xattr(o, "band", r->band);
        xattr(o, "contributionMethod", r->contribution_method);
        xattr(o, "attributionMethod", r->attribution_method);
        rout_adds(o, ">\n");
        for (m = 0; m < MMDX_MOD_COUNT; m++)
            if (r->modalities & (1u << m)) {
                rout_adds(o, "    <contribution");
                xattr(o, "modality", mod_names[m]);
                xnum(o, "value", r->contribution[m]);
                rout_adds(o, "/>\n");
            }
        for (i = 0; i < r->ntop && i < MMDX_RISK_TOP_FEATURES; i++) {
            rout_adds(o, "    <topFeature");
            xattr(o, "name", r->top[i].name);
            xnum(o, "value", r->top[i].value);
            xnum(o, "attribution", r->top[i].attribution);
            rout_adds(o, "/>\n");
        }
        rout_adds(o, "  </risk>\n");
    } else {
        rout_adds(o, "  <risk available=\"false\"");
        xattr(o, "reason", f->pipeline_has_fusion
                               ? "fusion.risk produced no risk"
                               : "the pipeline has no fusion.risk stage");
        rout_adds(o, "/>\n");
    }
    if (isfinite(f->score)) {
        rout_adds(o, "  <referenceScore name=\"CHA2DS2-VASc\" "
                     "feature=\"record.score.cha2ds2vasc\"");
        xnum(o, "value", f->score);
        rout_adds(o, "/>\n");
    }
    rout_adds(o, "  <features>\n");
    for (i = 0; i < p->features.n; i++) {
        struct feature_words w;

        mmdx__report_words(p->features.v[i].name, &w);
        rout_adds(o, "    <feature");
        xattr(o, "name", p->features.v[i].name);
        xnum(o, "value", p->features.v[i].value);
        if (w.unit[0])
            xattr(o, "unit", w.unit);
        {
            char label[240];

            snprintf(label, sizeof(label), "%s: %s", w.family, w.name);
            xattr(o, "label", label);
        }
        rout_adds(o, "/>\n");
    }
    rout_adds(o, "  </features>\n  <flags>\n");
    for (i = 0; i < p->nflags; i++) {
        const struct mmdx_flag *fl = &p->flags[i];

        rout_adds(o, "    <flag");
        xattr(o, "modality", fl->modality >= 0 && fl->modality < MMDX_MOD_COUNT
                                 ? mod_names[fl->modality] : "patient");
        xattr(o, "code", fl->code);
        sanitise(p, fl->message, msg, sizeof(msg));
        xattr(o, "message", msg);
        rout_adds(o, "/>\n");
    }
    rout_adds(o, "  </flags>\n  <errors>\n");
    for (i = 0; i < p->nerrors; i++) {
        const struct mmdx_patient_error *e = &p->errors[i];

        rout_adds(o, "    <error");
        xattr(o, "modality", e->modality >= 0 && e->modality < MMDX_MOD_COUNT
                                 ? mod_names[e->modality] : "patient");
        xattr(o, "stage", e->stage);
        xattr(o, "code", mmdx_status_name(e->code));
        sanitise(p, e->message, msg, sizeof(msg));
        xattr(o, "message", msg);
        rout_adds(o, "/>\n");
    }
    rout_adds(o, "  </errors>\n  <provenance");
    xattr(o, "software", "mmdx");
    xattr(o, "version", mmdx_version());
    xattr(o, "pipeline", f->pipe ? mmdx_pipeline_name(f->pipe) : "");
    xattr(o, "pipelineSha256", f->pipe ? mmdx_pipeline_hash(f->pipe) : "");
    if (r) {
        xattr(o, "model", r->model_name);
        xattr(o, "modelSha256", r->model_sha256);
    }
    if (p->mask_sha256[0])
        xattr(o, "maskSha256", p->mask_sha256);
    rout_adds(o, "/>\n</report>\n");
}

/* One row for the cohort index: id, risk, band, score, used, missing,
 * failed, flags, errors. */
static void build_row(struct rout *o, const struct facts *f)
{
    const struct mmdx_patient *p = f->p;
    const char *sep[3] = { "", "", "" };
    int m, k;

    rout_esc(o, p->id);
    rout_adds(o, "\t");
    rout_g(o, f->risk ? f->risk->risk : NAN);
    rout_adds(o, "\t");
    rout_adds(o, f->risk && f->risk->band[0] ? f->risk->band : "NA");
    rout_adds(o, "\t");
    rout_g(o, f->score);
    for (k = 0; k < 3; k++) {
        const char *want = k == 0 ? "used" : k == 1 ? "missing" : "failed";
        bool any = false;

        rout_adds(o, "\t");
        for (m = 0; m < MMDX_MOD_COUNT; m++)
            if (strcmp(f->mod_state[m], want) == 0) {
                rout_addf(o, "%s%s", sep[k], mod_names[m]);
                sep[k] = ",";
                any = true;
            }
        if (!any)
            rout_adds(o, "-");
    }
    rout_addf(o, "\t%zu\t%zu\n", p->nflags, p->nerrors);
}

/* ---- the stage ------------------------------------------------------------ */

static enum mmdx_status report_process(struct mmdx_stage *s,
                                       struct mmdx_patient *p)
{
    const struct report_priv *pr = s->priv;
    struct facts f;
    struct rout html, xml, row;
    enum mmdx_status st;

    rout_init(&html);
    rout_init(&xml);
    rout_init(&row);
    st = gather(s, p, &f);
    if (!st) {
        build_html(&html, &f, pr);
        build_xml(&xml, &f);
        build_row(&row, &f);
        st = html.st ? html.st : xml.st ? xml.st : row.st;
        if (st == MMDX_E_NOMEM)
            mmdx__nomem(s->ctx);
        else if (st)
            mmdx__fail(s->ctx, st, "report", NULL, 0, NULL,
                       "report too large or not writable");
    }
    if (!st)
        st = mmdx__patient_write(p, "report.html", html.d.s, html.d.len);
    if (!st)
        st = mmdx__patient_write(p, "report.xml", xml.d.s, xml.d.len);
    if (!st)
        st = mmdx__patient_write(p, "report.tsv", row.d.s, row.d.len);
    facts_fini(&f);
    rout_fini(&html);
    rout_fini(&xml);
    rout_fini(&row);
    return st;
}

static const struct mmdx_param report_params[] = {
    { "ecg_strip_s", MMDX_PARAM_DOUBLE,
      offsetof(struct report_priv, ecg_strip_s), 10, NULL, 2, 60, NULL,
      "seconds of ECG drawn in the strip (s)" },
    { "eeg_psd_max_s", MMDX_PARAM_DOUBLE,
      offsetof(struct report_priv, eeg_psd_max_s), 120, NULL, 4, 86400,
      NULL, "seconds of each EEG channel used for the plotted spectrum (s)" },
    { "max_findings", MMDX_PARAM_INT,
      offsetof(struct report_priv, max_findings), MAX_FINDINGS, NULL, 1,
      1000, NULL, "key findings listed per modality" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_report = {
    MMDX_STAGE_ABI,
    "report",
    "per-patient report.html (self-contained, inline SVG) and report.xml "
    "(schemas/report.xsd); place it last",
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    0,
    -1,
    report_params,
    sizeof(struct report_priv),
    NULL,
    report_process,
    NULL
};
