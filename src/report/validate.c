/*
 * validate.c - `mmdx validate`: a trained model on a labelled cohort.
 *
 * Features come from --features (a features.tsv of `mmdx run`) or from
 * running the feature pipeline on the cohort. The model is applied with
 * mmdx_fusion_predict(); the evaluation rows are the manifest's labelled
 * rows, restricted to split "test" when the manifest has such rows (the
 * model never trained on them) unless all rows are asked for. Writes:
 *
 *   OUT/validation.html   metrics with CIs, ROC and reliability plots,
 *                         modality ablation, model card
 *   OUT/validation.tsv    metric<TAB>value
 *   OUT/ablation.tsv      modalities<TAB>n<TAB>auroc<TAB>lo<TAB>hi<TAB>...
 *   OUT/predictions.tsv   the model's output on every feature row
 *
 * The ablation applies the same model with the other modalities' feature
 * columns set to NA, which is how a patient missing those modalities is
 * scored (the model was trained with modality dropout for this).
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "mmdx/cohort.h"
#include "mmdx/fusion.h"
#include "mmdx/pipeline.h"
#include "mmdx/report.h"
#include "report/report.h"
#include "report/report_int.h"
#include "core/xml.h"

#include <unistd.h>

#define STAGE "validate"
#define TABLE_MAX ((size_t)1 << 31)

MMDX_API void mmdx_validate_opts_init(struct mmdx_validate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->threshold = NAN;
    o->n_boot = 2000;
    o->seed = 20261127;
}

int mmdx__validate_cmp_ev(const void *a, const void *b)
{
    return strcmp(((const struct evrow *)a)->id,
                  ((const struct evrow *)b)->id);
}

static struct evrow *ev_find(struct evrow *v, size_t n, const char *id)
{
    struct evrow key;

    key.id = id;
    return bsearch(&key, v, n, sizeof(*v), mmdx__validate_cmp_ev);
}

/* Read predictions.tsv (patient_id, risk, ...) into the rows' prob. */
enum mmdx_status mmdx__validate_read_predictions(struct mmdx_ctx *ctx,
                                                 const char *path,
                                                 struct evrow *v, size_t n)
{
    char *data = NULL, *s, *nl;
    size_t len, i;
    enum mmdx_status st;

    for (i = 0; i < n; i++)
        v[i].prob = NAN;
    st = mmdx__file_read(ctx, path, TABLE_MAX, &data, &len);
    if (st)
        return st;
    s = strchr(data, '\n');
    if (!s || strncmp(data, "patient_id\trisk", 15) != 0) {
        mmdx__free(data);
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 1, "header",
                          "expected patient_id and risk columns");
    }
    for (s = s + 1; *s; s = nl + 1) {
        char *tab, *tab2;
        struct evrow *r;
        double p;

        nl = strchr(s, '\n');
        if (!nl)
            nl = s + strlen(s);
        tab = memchr(s, '\t', (size_t)(nl - s));
        if (tab) {
            *tab = '\0';
            tab2 = memchr(tab + 1, '\t', (size_t)(nl - tab - 1));
            if (tab2)
                *tab2 = '\0';
            else
                *nl = '\0';
            r = ev_find(v, n, s);
            if (r && mmdx__parse_double(tab + 1, &p))
                r->prob = p;
        }
        if (!*nl)
            break;
    }
    mmdx__free(data);
    return MMDX_OK;
}

/* Write a copy of the feature table with the columns of modalities not
 * in keep (bit per model modality) set to NA. */
enum mmdx_status mmdx__validate_mask_features(struct mmdx_ctx *ctx,
                                              const char *in, const char *out,
                                              const struct mmdx__model *m,
                                              unsigned keep)
{
    char *data = NULL, *s;
    size_t len, col, ncol = 0, cap = 0;
    bool *drop = NULL, header;
    struct mmdx_dstr d;
    enum mmdx_status st;

    st = mmdx__file_read(ctx, in, TABLE_MAX, &data, &len);
    if (st)
        return st;
    mmdx__dstr_init(&d, TABLE_MAX);
    /* header: decide per column */
    for (s = data, col = 0; *s && *s != '\n'; col++) {
        size_t w = strcspn(s, "\t\n"), k;
        bool dr = false;

        if (col > 0) {
            for (k = 0; k < m->nmod; k++) {
                size_t ml = strlen(m->mod_names[k]);

                if (w > ml && strncmp(s, m->mod_names[k], ml) == 0 &&
                    s[ml] == '.')
                    dr = !(keep & (1u << k));
            }
        }
        if (ncol == cap) {
            bool *nd;

            cap = cap ? 2 * cap : 256;
            nd = mmdx__realloc(drop, cap * sizeof(*drop));
            if (!nd) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            drop = nd;
        }
        drop[ncol++] = dr;
        s += w;
        if (*s == '\t')
            s++;
    }
    /* copy, replacing dropped cells below the header line */
    for (s = data, header = true; *s && !st; header = false) {
        for (col = 0; *s && *s != '\n' && !st; col++) {
            size_t w = strcspn(s, "\t\n");

            if (col > 0)
                st = mmdx__dstr_add(&d, "\t", 1);
            if (!st)
                st = !header && col < ncol && drop[col]
                         ? mmdx__dstr_add(&d, "NA", 2)
                         : mmdx__dstr_add(&d, s, w);
            s += w;
            if (*s == '\t')
                s++;
        }
        if (!st)
            st = mmdx__dstr_add(&d, "\n", 1);
        if (*s == '\n')
            s++;
    }
    if (st) {
        if (st == MMDX_E_NOMEM)
            mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__file_write_atomic(ctx, out, d.s, d.len);
out:
    mmdx__dstr_fini(&d);
    mmdx__free(drop);
    mmdx__free(data);
    return st;
}

struct ablation {
    unsigned keep;
    char label[128];
    struct mmdx_metrics mt;
};

static void describe_cb(void *user, const char *key, const char *value)
{
    struct rout *o = user;

    rout_adds(o, "<tr><th>");
    rout_esc(o, key);
    rout_adds(o, "</th><td>");
    rout_esc(o, value);
    rout_adds(o, "</td></tr>\n");
}

static void metric_row(struct rout *o, const char *name, double v,
                       double lo, double hi, const char *how)
{
    rout_adds(o, "<tr><td>");
    rout_esc(o, name);
    rout_adds(o, "</td><td class=\"num\">");
    rout_num(o, v, 3);
    rout_adds(o, "</td><td class=\"num\">");
    if (isfinite(lo)) {
        rout_num(o, lo, 3);
        rout_adds(o, " &ndash; ");
        rout_num(o, hi, 3);
    }
    rout_adds(o, "</td><td>");
    rout_esc(o, how);
    rout_adds(o, "</td></tr>\n");
}

static void tsv_metric(struct rout *t, const char *name, double v)
{
    rout_adds(t, name);
    rout_adds(t, "\t");
    rout_g(t, v);
    rout_adds(t, "\n");
}

static void write_html(struct rout *o, struct mmdx_ctx *ctx,
                       const struct mmdx_validate_opts *opt,
                       const struct mmdx__model *m, const char *scope,
                       const struct mmdx_metrics *mt, const double *prob,
                       const int *label, size_t n,
                       const struct ablation *ab, size_t nab)
{
    size_t i, k;

    rout_adds(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                 "charset=\"utf-8\"><meta http-equiv=\"Content-Security-"
                 "Policy\" content=\"default-src 'none'; style-src "
                 "'unsafe-inline'; img-src data:; script-src 'unsafe-inline'"
                 "\"><title>mmdx validation"
                 "</title><style>body{font-family:sans-serif;margin:24px "
                 "auto;max-width:1000px;color:#222}h2{font-size:17px;"
                 "border-bottom:2px solid #ddd}table{border-collapse:"
                 "collapse;font-size:13px;margin:6px 0}td,th{border:1px "
                 "solid #ddd;padding:3px 7px;text-align:left}th{background:"
                 "#f4f4f4}td.num{text-align:right}.notice{background:"
                 "#fff3cd;border:1px solid #e0c36a;padding:6px 10px;"
                 "font-weight:bold}.plots{display:flex;gap:20px;flex-wrap:"
                 "wrap}.muted{color:#777}</style></head><body>\n"
                 "<h1>Model validation</h1>\n<div class=\"notice\">For "
                 "research use; not a medical device.</div>\n<p>Model <span "
                 "style=\"font-family:monospace\">sha256 ");
    rout_esc(o, m->sha256);
    rout_addf(o, "</span> on %zu labelled patients (%zu with the outcome, "
                 "%zu without) &mdash; ",
              mt->n, mt->n_pos, mt->n_neg);
    rout_esc(o, scope);
    rout_adds(o, ".</p>\n<h2>Performance</h2>\n<table><tr><th>metric</th>"
                 "<th>value</th><th>95 % CI</th><th>method</th></tr>\n");
    metric_row(o, "AUROC", mt->auroc, mt->auroc_lo, mt->auroc_hi,
               "DeLong variance, normal approximation");
    {
        char how[128];

        snprintf(how, sizeof(how), "average precision (scikit-learn "
                 "definition); percentile bootstrap, %u resamples, seed "
                 "%llu", mt->n_boot, (unsigned long long)mt->seed);
        metric_row(o, "AUPRC", mt->auprc, mt->auprc_lo, mt->auprc_hi, how);
    }
    metric_row(o, "Brier score", mt->brier, NAN, NAN,
               "mean squared error of the calibrated risk");
    metric_row(o, "Calibration intercept", mt->cal_intercept, NAN, NAN,
               "logit P(y) = a + logit(p) (0 is ideal)");
    metric_row(o, "Calibration slope", mt->cal_slope, NAN, NAN,
               "logit P(y) = a + b logit(p) (1 is ideal)");
    {
        char how[96];

        snprintf(how, sizeof(how), "%u equal-width bins on [0, 1]",
                 mt->ece_bins);
        metric_row(o, "Expected calibration error", mt->ece, NAN, NAN, how);
    }
    rout_adds(o, "</table>\n<h3>At the operating threshold</h3>\n");
    rout_addf(o, "<p>Positive when the risk is at least %.4g (%s).</p>\n",
              mt->at.threshold,
              isfinite(opt->threshold) ? "given with --threshold"
                                       : "the model's low/moderate band "
                                         "boundary");
    rout_addf(o, "<table><tr><th>TP</th><th>FP</th><th>TN</th><th>FN</th>"
                 "<th>sensitivity</th><th>specificity</th><th>PPV</th>"
                 "<th>NPV</th></tr><tr><td class=\"num\">%zu</td>"
                 "<td class=\"num\">%zu</td><td class=\"num\">%zu</td>"
                 "<td class=\"num\">%zu</td>",
              mt->at.tp, mt->at.fp, mt->at.tn, mt->at.fn);
    rout_adds(o, "<td class=\"num\">");
    rout_num(o, mt->at.sensitivity, 3);
    rout_adds(o, "</td><td class=\"num\">");
    rout_num(o, mt->at.specificity, 3);
    rout_adds(o, "</td><td class=\"num\">");
    rout_num(o, mt->at.ppv, 3);
    rout_adds(o, "</td><td class=\"num\">");
    rout_num(o, mt->at.npv, 3);
    rout_adds(o, "</td></tr></table>\n<div class=\"plots\">");
    mmdx__svg_roc(o, prob, label, n, mt->auroc);
    mmdx__svg_calibration(o, prob, label, n, mt->ece_bins);
    rout_adds(o, "</div>\n<h2>Modality ablation</h2>\n<p>The same model "
                 "applied with the feature columns of the left-out "
                 "modalities set to missing.</p>\n<table><tr><th>"
                 "modalities</th><th>AUROC</th><th>95 % CI</th><th>AUPRC"
                 "</th><th>Brier</th></tr>\n");
    for (i = 0; i < nab; i++) {
        rout_adds(o, "<tr><td>");
        rout_esc(o, ab[i].label);
        rout_adds(o, "</td><td class=\"num\">");
        rout_num(o, ab[i].mt.auroc, 3);
        rout_adds(o, "</td><td class=\"num\">");
        rout_num(o, ab[i].mt.auroc_lo, 3);
        rout_adds(o, " &ndash; ");
        rout_num(o, ab[i].mt.auroc_hi, 3);
        rout_adds(o, "</td><td class=\"num\">");
        rout_num(o, ab[i].mt.auprc, 3);
        rout_adds(o, "</td><td class=\"num\">");
        rout_num(o, ab[i].mt.brier, 4);
        rout_adds(o, "</td></tr>\n");
    }
    rout_adds(o, "</table>\n<h2>Model card</h2>\n<p class=\"muted\">TRIPOD+"
                 "AI items this software can answer from the model file and "
                 "this validation; the others (source population, "
                 "eligibility, outcome definition and timing, ethics, "
                 "funding, fairness in subgroups) must come from the study "
                 "that uses it.</p>\n<table>\n");
    rout_adds(o, "<tr><th>intended use</th><td>research on multimodal "
                 "stroke-risk prediction; not a medical device</td></tr>\n"
                 "<tr><th>outcome</th><td>the manifest's binary label "
                 "column</td></tr>\n<tr><th>predictors</th><td>");
    rout_addf(o, "%zu features in %zu modalities:", m->nfeat, m->nmod);
    for (k = 0; k < m->nmod; k++) {
        rout_adds(o, k ? ", " : " ");
        rout_esc(o, m->mod_names[k]);
    }
    rout_adds(o, "</td></tr>\n<tr><th>missing data</th><td>missing "
                 "feature values and whole modalities are allowed; the "
                 "model was trained with modality dropout and scores the "
                 "modalities present</td></tr>\n<tr><th>model "
                 "development</th><td>per-modality encoders into a shared "
                 "embedding, fusion, risk head, Platt calibration on a "
                 "validation split (see below)</td></tr>\n"
                 "<tr><th>evaluation data</th><td>");
    rout_esc(o, scope);
    rout_addf(o, "; %zu patients, %zu events</td></tr>\n", mt->n,
              mt->n_pos);
    rout_adds(o, "<tr><th>performance</th><td>see Performance above; "
                 "discrimination with 95 % CIs, calibration intercept/"
                 "slope, ECE and a reliability diagram</td></tr>\n");
    mmdx_fusion_model_describe(ctx, opt->model, describe_cb, o);
    mmdx_ctx_clear_error(ctx);
    rout_adds(o, "</table>\n");
    rout_adds(o, mmdx__report_probe_js);
    rout_adds(o, "</body></html>\n");
}

MMDX_API enum mmdx_status mmdx_validate(struct mmdx_ctx *ctx,
                                        const struct mmdx_validate_opts *opt,
                                        struct mmdx_metrics *result)
{
    struct mmdx_manifest *man = NULL;
    struct mmdx__model model;
    struct evrow *ev = NULL;
    struct ablation *ab = NULL;
    double *prob = NULL;
    int *label = NULL;
    char *features = NULL, *pred = NULL, *mfeat = NULL, *mpred = NULL,
         *path = NULL;
    size_t nrows, i, n = 0, nab = 0, k;
    bool has_test = false, model_loaded = false;
    const char *scope;
    double thr;
    struct rout html, tsv, abl;
    enum mmdx_status st;

    rout_init(&html);
    rout_init(&tsv);
    rout_init(&abl);
    memset(result, 0, sizeof(*result));
    if (!opt->model || !opt->manifest || !opt->out)
        return mmdx__fail(ctx, MMDX_E_USAGE, STAGE, NULL, 0, NULL,
                          "model, cohort and output folder are required");
    st = mmdx__model_load(ctx, opt->model, &model);
    if (st)
        goto out;
    model_loaded = true;
    st = mmdx_manifest_read(ctx, opt->manifest, opt->features == NULL,
                            &man);
    if (!st)
        st = mmdx__mkdir_p(ctx, opt->out);
    if (st)
        goto out;
    /* features: given, or from running the feature pipeline */
    if (opt->features) {
        features = mmdx__strdup(opt->features);
    } else {
        struct mmdx_run_opts ro;
        struct mmdx_run_summary sum;
        char *pl = opt->pipeline ? mmdx__strdup(opt->pipeline)
                                 : mmdx__data_path(ctx,
                                                   "pipelines/default.xml");
        char *rdir = mmdx__path_join(opt->out, "run");

        if (!pl || !rdir) {
            mmdx__free(pl);
            mmdx__free(rdir);
            st = mmdx__nomem(ctx);
            goto out;
        }
        memset(&ro, 0, sizeof(ro));
        ro.pipeline = pl;
        ro.manifest = opt->manifest;
        ro.out = rdir;
        ro.jobs = opt->jobs;
        st = mmdx_run(ctx, &ro, &sum);
        if (!st)
            features = mmdx__path_join(rdir, "features.tsv");
        mmdx__free(pl);
        mmdx__free(rdir);
        if (st)
            goto out;
    }
    pred = mmdx__path_join(opt->out, "predictions.tsv");
    mfeat = mmdx__path_join(opt->out, ".ablation-features.tsv");
    mpred = mmdx__path_join(opt->out, ".ablation-predictions.tsv");
    nrows = mmdx_manifest_count(man);
    ev = mmdx__calloc(nrows ? nrows : 1, sizeof(*ev));
    prob = mmdx__calloc(nrows ? nrows : 1, sizeof(*prob));
    label = mmdx__calloc(nrows ? nrows : 1, sizeof(*label));
    ab = mmdx__calloc((size_t)2 * model.nmod + 1, sizeof(*ab));
    if (!features || !pred || !mfeat || !mpred || !ev || !prob || !label ||
        !ab) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    /* evaluation rows */
    for (i = 0; i < nrows; i++) {
        const char *sp = mmdx_manifest_split(man, i);

        if (sp && strcmp(sp, "test") == 0 &&
            mmdx_manifest_label(man, i) >= 0)
            has_test = true;
    }
    for (i = 0; i < nrows; i++) {
        const char *sp = mmdx_manifest_split(man, i);
        int y = mmdx_manifest_label(man, i);
        size_t pk;
        bool fails = false;

        /* a row whose label, split or date is not valid is no evidence
         * (`mmdx run` fails that patient): left out, and said so */
        for (pk = 0; pk < mmdx_manifest_nproblems(man, i) && !fails; pk++) {
            char msg[2048];

            mmdx_manifest_problem(man, i, pk, &fails, msg, sizeof(msg));
            if (fails)
                mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                         "%s: patient %s left out of the evaluation", msg,
                         mmdx_manifest_id(man, i));
        }
        if (fails)
            continue;
        if (y < 0)
            continue;
        if (has_test && !opt->all_rows && !(sp && strcmp(sp, "test") == 0))
            continue;
        ev[n].id = mmdx_manifest_id(man, i);
        ev[n].label = y;
        n++;
    }
    if (n == 0) {
        st = mmdx__fail(ctx, MMDX_E_INVAL, STAGE, opt->manifest, 0, "label",
                        "no labelled patient to evaluate");
        goto out;
    }
    qsort(ev, n, sizeof(*ev), mmdx__validate_cmp_ev);
    scope = has_test && !opt->all_rows
                ? "the manifest's split=test rows (held out from training)"
                : has_test ? "all labelled rows, including those the model "
                             "was trained on (--all)"
                           : "all labelled rows (the manifest has no "
                             "split=test rows)";
    thr = isfinite(opt->threshold) ? opt->threshold : model.band_lo;
    /* the full model */
    st = mmdx_fusion_predict(ctx, opt->model, features, pred, NULL, NULL);
    if (!st)
        st = mmdx__validate_read_predictions(ctx, pred, ev, n);
    if (st)
        goto out;
    for (i = 0; i < n; i++) {
        prob[i] = ev[i].prob;
        label[i] = ev[i].label;
    }
    st = mmdx_metrics_compute(ctx, prob, label, n, thr, opt->n_boot,
                              opt->seed, 10, result);
    if (st)
        goto out;
    /* ablation: each modality alone, all but one, all */
    if (model.nmod > 1 && model.nmod <= 16) {
        unsigned all = (1u << model.nmod) - 1;

        for (k = 0; k < 2 * model.nmod + 1; k++) {
            struct ablation *a = &ab[nab];
            size_t j;
            double *pp = mmdx__calloc(n, sizeof(double));

            if (!pp) {
                st = mmdx__nomem(ctx);
                goto out;
            }
            a->keep = k < model.nmod       ? 1u << k
                      : k < 2 * model.nmod ? all & ~(1u << (k - model.nmod))
                                           : all;
            a->label[0] = '\0';
            if (k >= model.nmod && k < 2 * model.nmod)
                snprintf(a->label, sizeof(a->label), "all but %s",
                         model.mod_names[k - model.nmod]);
            else if (k < model.nmod)
                snprintf(a->label, sizeof(a->label), "%s alone",
                         model.mod_names[k]);
            else
                mmdx__strlcpy(a->label, "all", sizeof(a->label));
            if (a->keep == all) {
                a->mt = *result;
                nab++;
                mmdx__free(pp);
                continue;
            }
            st = mmdx__validate_mask_features(ctx, features, mfeat, &model,
                                              a->keep);
            if (!st)
                st = mmdx_fusion_predict(ctx, opt->model, mfeat, mpred, NULL,
                                         NULL);
            if (!st)
                st = mmdx__validate_read_predictions(ctx, mpred, ev, n);
            for (j = 0; j < n && !st; j++)
                pp[j] = ev[j].prob;
            if (!st)
                st = mmdx_metrics_compute(ctx, pp, label, n, thr,
                                          opt->n_boot, opt->seed, 10,
                                          &a->mt);
            mmdx__free(pp);
            if (st)
                goto out;
            nab++;
        }
        unlink(mfeat);
        unlink(mpred);
    }
    /* outputs */
    write_html(&html, ctx, opt, &model, scope, result, prob, label, n, ab,
               nab);
    rout_adds(&tsv, "metric\tvalue\n");
    tsv_metric(&tsv, "n", (double)result->n);
    tsv_metric(&tsv, "n_pos", (double)result->n_pos);
    tsv_metric(&tsv, "auroc", result->auroc);
    tsv_metric(&tsv, "auroc_lo_delong", result->auroc_lo);
    tsv_metric(&tsv, "auroc_hi_delong", result->auroc_hi);
    tsv_metric(&tsv, "auprc", result->auprc);
    tsv_metric(&tsv, "auprc_lo_bootstrap", result->auprc_lo);
    tsv_metric(&tsv, "auprc_hi_bootstrap", result->auprc_hi);
    tsv_metric(&tsv, "brier", result->brier);
    tsv_metric(&tsv, "calibration_intercept", result->cal_intercept);
    tsv_metric(&tsv, "calibration_slope", result->cal_slope);
    tsv_metric(&tsv, "ece_10bins", result->ece);
    tsv_metric(&tsv, "threshold", result->at.threshold);
    tsv_metric(&tsv, "sensitivity", result->at.sensitivity);
    tsv_metric(&tsv, "specificity", result->at.specificity);
    tsv_metric(&tsv, "ppv", result->at.ppv);
    tsv_metric(&tsv, "npv", result->at.npv);
    rout_adds(&abl, "modalities\tn\tauroc\tauroc_lo\tauroc_hi\tauprc\t"
                    "brier\n");
    for (i = 0; i < nab; i++) {
        rout_esc(&abl, ab[i].label);
        rout_addf(&abl, "\t%zu\t", ab[i].mt.n);
        rout_g(&abl, ab[i].mt.auroc);
        rout_adds(&abl, "\t");
        rout_g(&abl, ab[i].mt.auroc_lo);
        rout_adds(&abl, "\t");
        rout_g(&abl, ab[i].mt.auroc_hi);
        rout_adds(&abl, "\t");
        rout_g(&abl, ab[i].mt.auprc);
        rout_adds(&abl, "\t");
        rout_g(&abl, ab[i].mt.brier);
        rout_adds(&abl, "\n");
    }
    st = html.st ? html.st : tsv.st ? tsv.st : abl.st;
    if (st) {
        mmdx__nomem(ctx);
        goto out;
    }
    path = mmdx__path_join(opt->out, "validation.html");
    st = path ? mmdx__file_write_atomic(ctx, path, html.d.s, html.d.len)
              : mmdx__nomem(ctx);
    mmdx__freep(&path);
    if (!st) {
        path = mmdx__path_join(opt->out, "validation.tsv");
        st = path ? mmdx__file_write_atomic(ctx, path, tsv.d.s, tsv.d.len)
                  : mmdx__nomem(ctx);
        mmdx__freep(&path);
    }
    if (!st) {
        path = mmdx__path_join(opt->out, "ablation.tsv");
        st = path ? mmdx__file_write_atomic(ctx, path, abl.d.s, abl.d.len)
                  : mmdx__nomem(ctx);
        mmdx__freep(&path);
    }
out:
    if (model_loaded)
        mmdx__model_fini(&model);
    mmdx_manifest_free(man);
    mmdx__free(ev);
    mmdx__free(ab);
    mmdx__free(prob);
    mmdx__free(label);
    mmdx__free(features);
    mmdx__free(pred);
    mmdx__free(mfeat);
    mmdx__free(mpred);
    rout_fini(&html);
    rout_fini(&tsv);
    rout_fini(&abl);
    return st;
}
