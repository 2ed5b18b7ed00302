/*
 * test_report.c - report_testdriver: metric functions (checked against
 * scikit-learn), the report stage's HTML/XML/SVG output and the cohort
 * index.
 */
#include "core/common.h"
#include "core/xml.h"
#include "mmdx/mmdx.h"
#include "report/report_int.h"
#include "report/report.h"
#include "pipeline/stage.h"
#include "fusion/risk.h"
#include "io/signal.h"
#include "io/image.h"
#include "test_util.h"

/* ---- reference data ------------------------------------------------------ */

struct refset {
    char name[32];
    double *p;
    int *y;
    size_t n, cap;
};

static struct refset sets[8];
static size_t nsets;

static struct refset *set_get(const char *name)
{
    size_t i;

    for (i = 0; i < nsets; i++)
        if (strcmp(sets[i].name, name) == 0)
            return &sets[i];
    assert_true(nsets < MMDX_ARRAY_SIZE(sets));
    mmdx__strlcpy(sets[nsets].name, name, sizeof(sets[nsets].name));
    return &sets[nsets++];
}

/* Split a TSV line in place into at most 3 fields. */
static int split3(char *line, char *f[3])
{
    int k = 0;
    char *s = line, *t;

    line[strcspn(line, "\r\n")] = '\0';
    while (k < 3) {
        f[k++] = s;
        t = strchr(s, '\t');
        if (!t)
            break;
        *t = '\0';
        s = t + 1;
    }
    return k;
}

static int load_sets(void **state)
{
    FILE *fp = fopen(MMDX_SRCDIR "/tests/data/report_metrics_in.tsv", "r");
    char line[256], *f[3];
    double v;

    MMDX_UNUSED(state);
    if (!fp)
        return -1;
    if (!fgets(line, sizeof(line), fp)) {
        fclose(fp);
        return -1;
    }
    while (fgets(line, sizeof(line), fp)) {
        struct refset *s;

        if (split3(line, f) != 3 || !mmdx__parse_double(f[1], &v))
            continue;
        s = set_get(f[0]);
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->p = mmdx__realloc(s->p, s->cap * sizeof(*s->p));
            s->y = mmdx__realloc(s->y, s->cap * sizeof(*s->y));
        }
        s->p[s->n] = v;
        s->y[s->n] = f[2][0] == '1';
        s->n++;
    }
    fclose(fp);
    return nsets ? 0 : -1;
}

static int free_sets(void **state)
{
    size_t i;

    MMDX_UNUSED(state);
    for (i = 0; i < nsets; i++) {
        mmdx__free(sets[i].p);
        mmdx__free(sets[i].y);
    }
    nsets = 0;
    return 0;
}

/* Reference value of metric for dataset, from report_metrics_ref.tsv. */
static double ref_value(const char *set, const char *metric)
{
    FILE *fp = fopen(MMDX_SRCDIR "/tests/data/report_metrics_ref.tsv", "r");
    char line[256], *f[3];
    double v = NAN;

    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp))
        if (split3(line, f) == 3 && strcmp(f[0], set) == 0 &&
            strcmp(f[1], metric) == 0) {
            assert_true(mmdx__parse_double(f[2], &v));
            break;
        }
    fclose(fp);
    if (isnan(v))
        fail_msg("no reference %s/%s", set, metric);
    return v;
}

#define assert_close(got, want, tol)                                         \
    do {                                                                     \
        double g_ = (got), w_ = (want);                                      \
        if (!(fabs(g_ - w_) <= (tol) * fmax(1.0, fabs(w_))))                 \
            fail_msg("%s = %.12g, reference %.12g (tol %g)", #got, g_, w_,   \
                     (double)(tol));                                         \
    } while (0)

/* ---- metrics ------------------------------------------------------------- */

/* Ensure that AUROC, average precision, Brier score and ECE equal the
 * scikit-learn / numpy references (tests/data/gen_report_metrics.py) to
 * 1e-12 relative on every reference data set. */
static void metrics__sklearn_sets__match_reference(void **state)
{
    size_t i;

    MMDX_UNUSED(state);
    for (i = 0; i < nsets; i++) {
        const struct refset *s = &sets[i];

        assert_close(mmdx_auroc(s->p, s->y, s->n),
                     ref_value(s->name, "auroc"), 1e-12);
        assert_close(mmdx_average_precision(s->p, s->y, s->n),
                     ref_value(s->name, "auprc"), 1e-12);
        assert_close(mmdx_brier(s->p, s->y, s->n),
                     ref_value(s->name, "brier"), 1e-12);
        assert_close(mmdx_ece(s->p, s->y, s->n, 10),
                     ref_value(s->name, "ece10"), 1e-12);
    }
}

/* Ensure that the DeLong variance equals the O(n1 n0) reference to 1e-10
 * relative and the interval is AUROC -/+ 1.96 sd. */
static void auroc_delong__sklearn_sets__match_reference(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t i;

    MMDX_UNUSED(state);
    for (i = 0; i < nsets; i++) {
        const struct refset *s = &sets[i];
        double auc, lo, hi, var, want = ref_value(s->name, "delong_var");

        assert_int_equal(mmdx_auroc_delong(ctx, s->p, s->y, s->n, &auc, &lo,
                                           &hi, &var),
                         MMDX_OK);
        assert_true(fabs(var - want) <= 1e-10 * want);
        assert_close(lo, fmax(0, auc - 1.959963984540054 * sqrt(want)),
                     1e-9);
        assert_close(hi, fmin(1, auc + 1.959963984540054 * sqrt(want)),
                     1e-9);
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that the calibration intercept (offset fit) and slope (joint
 * fit) match scipy/scikit-learn's maximum-likelihood fits to 1e-9 relative. */
static void calibration__sklearn_sets__match_reference(void **state)
{
    size_t i;

    MMDX_UNUSED(state);
    for (i = 0; i < nsets; i++) {
        const struct refset *s = &sets[i];
        double a, b;

        mmdx_calibration(s->p, s->y, s->n, &a, &b);
        assert_close(a, ref_value(s->name, "cal_intercept"), 1e-9);
        assert_close(b, ref_value(s->name, "cal_slope"), 1e-9);
    }
}

/* Ensure that the confusion counts at 0.5 equal sklearn's
 * confusion_matrix(y, p >= 0.5) and the rates follow from them. */
static void confusion__threshold_half__matches_reference(void **state)
{
    size_t i;

    MMDX_UNUSED(state);
    for (i = 0; i < nsets; i++) {
        const struct refset *s = &sets[i];
        struct mmdx_confusion c;

        mmdx_confusion_at(s->p, s->y, s->n, 0.5, &c);
        assert_int_equal(c.tp, (size_t)ref_value(s->name, "tp@0.5"));
        assert_int_equal(c.fp, (size_t)ref_value(s->name, "fp@0.5"));
        assert_int_equal(c.tn, (size_t)ref_value(s->name, "tn@0.5"));
        assert_int_equal(c.fn, (size_t)ref_value(s->name, "fn@0.5"));
        assert_close(c.sensitivity, (double)c.tp / (double)(c.tp + c.fn),
                     1e-15);
        assert_close(c.npv, (double)c.tn / (double)(c.tn + c.fn), 1e-15);
    }
}

/* Ensure that the bootstrap interval is reproducible for a seed, brackets
 * the point estimate, and changes with the seed. */
static void auprc_bootstrap__seeded__reproducible(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    const struct refset *s = set_get("ties300");
    double ap, lo, hi, ap2, lo2, hi2;

    MMDX_UNUSED(state);
    assert_int_equal(mmdx_auprc_bootstrap(ctx, s->p, s->y, s->n, 500, 7, &ap,
                                          &lo, &hi),
                     MMDX_OK);
    assert_int_equal(mmdx_auprc_bootstrap(ctx, s->p, s->y, s->n, 500, 7,
                                          &ap2, &lo2, &hi2),
                     MMDX_OK);
    assert_true(lo == lo2 && hi == hi2 && ap == ap2);
    assert_true(lo < ap && ap < hi);
    assert_close(ap, ref_value("ties300", "auprc"), 1e-12);
    assert_int_equal(mmdx_auprc_bootstrap(ctx, s->p, s->y, s->n, 500, 8,
                                          &ap2, &lo2, &hi2),
                     MMDX_OK);
    assert_true(lo != lo2 || hi != hi2);
    mmdx_ctx_free(ctx);
}

/* Ensure that metrics without both classes are NaN, never 0, and that
 * unusable rows are counted as ignored. */
static void metrics__one_class__nan(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    double p[4] = { 0.2, 0.7, NAN, 0.4 };
    int y[4] = { 0, 0, 1, -1 };
    struct mmdx_metrics m;

    MMDX_UNUSED(state);
    assert_int_equal(mmdx_metrics_compute(ctx, p, y, 4, 0.5, 100, 1, 10, &m),
                     MMDX_OK);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.n_ignored, 2);
    assert_true(isnan(m.auroc) && isnan(m.auroc_lo) && isnan(m.auprc));
    assert_true(isnan(m.at.sensitivity));
    assert_close(m.at.specificity, 0.5, 1e-15);
    assert_close(m.brier, (0.04 + 0.49) / 2, 1e-15);
    mmdx_ctx_free(ctx);
}

/* Ensure that perfectly separated data give AUROC 1 and a NaN slope (the
 * likelihood has no maximum) rather than a huge number. */
static void calibration__separated__nan_slope(void **state)
{
    double p[6] = { 0.1, 0.2, 0.3, 0.7, 0.8, 0.9 }, a, b;
    int y[6] = { 0, 0, 0, 1, 1, 1 };

    MMDX_UNUSED(state);
    assert_close(mmdx_auroc(p, y, 6), 1.0, 0);
    mmdx_calibration(p, y, 6, &a, &b);
    assert_true(isnan(b));
    assert_true(isfinite(a));
}

/* Ensure that every allocation failure in mmdx_metrics_compute returns
 * MMDX_E_NOMEM and leaks nothing. */
static void metrics_compute__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    const struct refset *s = set_get("small12");
    struct mmdx_metrics m;
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    MMDX_UNUSED(state);
    for (n = 1; st == MMDX_E_NOMEM && n < 100; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx_metrics_compute(ctx, s->p, s->y, s->n, 0.5, 50, 1, 10, &m);
        mmdx__alloc_fail_at(0);
        if (st != MMDX_OK)
            assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_int_equal(st, MMDX_OK);
    mmdx_ctx_free(ctx);
}

/* ---- report stage, end to end through mmdx_run ---------------------------- */

static void free_image(void *img);
static struct mmdx_image *make_image(struct mmdx_ctx *ctx, bool mask);

static void free_signal(void *p)
{
    mmdx__signal_free(p);
}

static struct mmdx_signal *make_signal(size_t nch, const char *const *labels,
                                       double fs, double secs, bool ecg)
{
    struct mmdx_signal *s = mmdx__calloc(1, sizeof(*s));
    size_t c, i;

    if (!s)
        return NULL;
    s->ch = mmdx__calloc(nch, sizeof(*s->ch));
    if (!s->ch) {
        mmdx__free(s);
        return NULL;
    }
    s->nch = nch;
    s->duration_s = secs;
    for (c = 0; c < nch; c++) {
        struct mmdx_channel *ch = &s->ch[c];

        mmdx__strlcpy(ch->label, labels[c], sizeof(ch->label));
        mmdx__strlcpy(ch->unit, ecg ? "mV" : "uV", sizeof(ch->unit));
        ch->fs_hz = fs;
        ch->n = (size_t)(fs * secs);
        ch->data = mmdx__calloc(ch->n, sizeof(float));
        if (!ch->data) {
            mmdx__signal_free(s);
            return NULL;
        }
        for (i = 0; i < ch->n; i++) {
            double t = (double)i / fs;

            if (ecg) {
                /* 75 bpm: a narrow 1.2 mV R wave every 0.8 s, small T */
                double ph = fmod(t, 0.8) - 0.3, pt = fmod(t, 0.8) - 0.55;

                ch->data[i] = (float)(1.2 * exp(-ph * ph / (2 * 0.012 *
                                                             0.012)) +
                                      0.25 * exp(-pt * pt / (2 * 0.05 *
                                                             0.05)) +
                                      0.05 * sin(2 * M_PI * 0.3 * t));
            } else {
                /* alpha strongest at the back of the head, some delta */
                double alpha = (labels[c][0] == 'O') ? 30 : 10;

                ch->data[i] = (float)(alpha * sin(2 * M_PI * 10 * t) +
                                      8 * sin(2 * M_PI * 2.5 * t + c) +
                                      3 * sin(2 * M_PI * 21 * t + 2 * c));
            }
        }
    }
    return s;
}

/* ECG: "BAD" in the file fails the modality with the path in the message;
 * also reports an identifying field whose value must never be written. */
static enum mmdx_status tecg_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    static const char *const lead[] = { "II" };
    struct mmdx_signal *sig;
    char *data;
    size_t len;
    enum mmdx_status st;

    st = mmdx__file_read(s->ctx, p->path[MMDX_MOD_ECG], 1 << 20, &data,
                         &len);
    if (st)
        return st;
    st = mmdx__patient_add_idfield(p, MMDX_MOD_ECG, p->path[MMDX_MOD_ECG],
                                   "PatientName", MMDX_ID_NAME,
                                   "Doe^Jane");
    if (!st && strstr(data, "BAD"))
        st = mmdx__fail(s->ctx, MMDX_E_FORMAT, "test.ecg",
                        p->path[MMDX_MOD_ECG], 1, "content",
                        "marker BAD found");
    mmdx__free(data);
    if (st)
        return st;
    sig = make_signal(1, lead, 250, 20, true);
    if (!sig)
        return mmdx__nomem(s->ctx);
    mmdx__patient_set_slot(p, MMDX_SLOT_ECG, sig, free_signal);
    st = mmdx__featset_add(&p->features, "ecg.hr.mean_bpm", 75);
    if (!st)
        st = mmdx__featset_add(&p->features, "ecg.hrv.rmssd_ms", 12.5);
    if (!st)
        st = mmdx__featset_add(&p->features, "ecg.rhythm.af_irregularity",
                               0.02);
    if (!st)
        st = mmdx__featset_add(&p->features, "ecg.qrs.width_ms", NAN);
    if (!st)
        st = mmdx__patient_flag(p, MMDX_MOD_ECG, "ecg.qrs.no_width",
                                "QRS width not computable");
    return st;
}

static enum mmdx_status teeg_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    static const char *const labels[] = { "Fp1", "Fp2", "C3", "C4",
                                          "O1",  "O2",  "T7", "T8" };
    struct mmdx_signal *sig = make_signal(8, labels, 128, 30, false);
    enum mmdx_status st;

    if (!sig)
        return mmdx__nomem(s->ctx);
    mmdx__patient_set_slot(p, MMDX_SLOT_EEG, sig, free_signal);
    st = mmdx__featset_add(&p->features, "eeg.band.alpha_rel", 0.61);
    if (!st)
        st = mmdx__featset_add(&p->features, "eeg.asym.alpha_lr", -0.03);
    return st;
}

static void free_risk(void *r)
{
    mmdx__free(r);
}

static enum mmdx_status trisk_process(struct mmdx_stage *s,
                                      struct mmdx_patient *p)
{
    struct mmdx_risk *r = mmdx__calloc(1, sizeof(*r));
    int m;

    if (!r)
        return mmdx__nomem(s->ctx);
    r->risk = 0.05 + 0.3 * (double)(p->index % 3);
    r->logit = log(r->risk / (1 - r->risk));
    mmdx__strlcpy(r->band, r->risk < 0.2 ? "low" : r->risk < 0.5
                                                   ? "moderate" : "high",
                  sizeof(r->band));
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        bool used = p->path[m] && !(p->mod_failed & (1u << m));

        r->contribution[m] = used ? 0.04 * (m - 1.5) : NAN;
        if (used)
            r->modalities |= 1u << m;
    }
    mmdx__strlcpy(r->contribution_method, "leave-modality-out",
                  sizeof(r->contribution_method));
    mmdx__strlcpy(r->top[0].name, "ecg.hrv.rmssd_ms",
                  sizeof(r->top[0].name));
    r->top[0].value = 12.5;
    r->top[0].attribution = 0.42;
    mmdx__strlcpy(r->top[1].name, "eeg.band.alpha_rel",
                  sizeof(r->top[1].name));
    r->top[1].value = 0.61;
    r->top[1].attribution = -0.2;
    r->ntop = 2;
    mmdx__strlcpy(r->attribution_method, "gradient x input",
                  sizeof(r->attribution_method));
    memset(r->model_sha256, 'a', 64);
    mmdx__strlcpy(r->model_name, "test-model", sizeof(r->model_name));
    mmdx__patient_set_slot(p, MMDX_SLOT_RISK, r, free_risk);
    return MMDX_OK;
}

static const struct mmdx_stage_def tecg = {
    MMDX_STAGE_ABI, "test.ecg", "test ECG", 0,
    MMDX_SLOT_BIT(MMDX_SLOT_ECG) | MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_ECG, NULL, 0, NULL, tecg_process, NULL
};
static const struct mmdx_stage_def teeg = {
    MMDX_STAGE_ABI, "test.eeg", "test EEG", 0,
    MMDX_SLOT_BIT(MMDX_SLOT_EEG) | MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_EEG, NULL, 0, NULL, teeg_process, NULL
};
static const struct mmdx_stage_def trisk = {
    MMDX_STAGE_ABI, "fusion.risk", "test risk",
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES), MMDX_SLOT_BIT(MMDX_SLOT_RISK), -1,
    NULL, 0, NULL, trisk_process, NULL
};

const struct mmdx_stage_def *__real_mmdx__stage_find(const char *name);
const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name);
const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name)
{
    if (!strcmp(name, "test.ecg"))
        return &tecg;
    if (!strcmp(name, "test.eeg"))
        return &teeg;
    if (!strcmp(name, "fusion.risk"))
        return &trisk;
    return __real_mmdx__stage_find(name);
}

/* MMDX_REPORT_KEEP=1 keeps the rendered cohort for a look (docs/). */
static void keep_or_remove(char *dir)
{
    if (getenv("MMDX_REPORT_KEEP")) {
        fprintf(stderr, "kept %s\n", dir);
        mmdx__free(dir);
        return;
    }
    test_rmtree(dir);
}

static char *read_out(const char *dir, const char *rel)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = mmdx__path_join(dir, rel), *data = NULL;
    size_t len;

    assert_non_null(p);
    if (mmdx__file_read(ctx, p, 64 << 20, &data, &len))
        fail_msg("cannot read %s", p);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    return data;
}

/* Run a 3-patient cohort (P1 ECG+EEG, P2 bad ECG + EEG, P3 bad ECG only)
 * through the given pipeline into dir/out. */
static void run_cohort(const char *dir, bool with_risk,
                       struct mmdx_run_summary *sum)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_run_opts o;
    char *pl = mmdx__path_join(dir, "p.xml"),
         *man = mmdx__path_join(dir, "manifest.tsv"),
         *out = mmdx__path_join(dir, "out");

    test_write(dir, "p.xml",
               with_risk
                   ? "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"rt\" "
                     "format=\"1\"><stage name=\"test.ecg\"/>"
                     "<stage name=\"test.eeg\"/><stage name=\"fusion.risk\"/>"
                     "<stage name=\"report\"/></pipeline>\n"
                   : "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"rt\" "
                     "format=\"1\"><stage name=\"test.ecg\"/>"
                     "<stage name=\"test.eeg\"/><stage name=\"report\"/>"
                     "</pipeline>\n");
    test_write(dir, "ok_ecg.txt", "fine\n");
    test_write(dir, "Jane_Doe_1970-01-02_ecg.txt", "BAD\n");
    test_write(dir, "eeg.txt", "fine\n");
    test_write(dir, "manifest.tsv",
               "patient_id\timage\tecg\teeg\trecord\tlabel\n"
               "P1\t\tok_ecg.txt\teeg.txt\t\t1\n"
               "P2\t\tJane_Doe_1970-01-02_ecg.txt\teeg.txt\t\t0\n"
               "P3\t\tJane_Doe_1970-01-02_ecg.txt\t\t\t0\n");
    memset(&o, 0, sizeof(o));
    o.pipeline = pl;
    o.manifest = man;
    o.out = out;
    o.jobs = 2;
    if (mmdx_run(ctx, &o, sum) != MMDX_OK) {
        char buf[2400];

        fail_msg("run: %s",
                 mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                   sizeof(buf)));
    }
    mmdx__free(pl);
    mmdx__free(man);
    mmdx__free(out);
    mmdx_ctx_free(ctx);
}

static void assert_valid_report_xml(const char *dir, const char *rel)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = mmdx__path_join(dir, rel), *xsd;
    xmlDocPtr doc = NULL;

    xsd = mmdx__data_path(ctx, "schemas/report.xsd");
    assert_int_equal(mmdx__xml_read_file(ctx, p, NULL, &doc), MMDX_OK);
    if (mmdx__xml_validate(ctx, p, doc, xsd, "report") != MMDX_OK) {
        char buf[2400];

        fail_msg("%s", mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                         sizeof(buf)));
    }
    xmlFreeDoc(doc);
    mmdx__free(xsd);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that a run with the report stage writes report.html (notice,
 * risk, findings in words, ECG strip, EEG spectrum and scalp map,
 * contribution bars, provenance) and a report.xml valid against
 * schemas/report.xsd for each patient that reached the stage, and an
 * index.html linking them with the failed patient and its reason. */
static void report_stage__cohort__reports_and_index(void **state)
{
    char *dir = test_tmpdir(), *html, *xml, *idx, *html2;
    struct mmdx_run_summary sum;

    MMDX_UNUSED(state);
    run_cohort(dir, true, &sum);
    assert_int_equal(sum.ok, 1);
    assert_int_equal(sum.partial, 1);
    assert_int_equal(sum.failed, 1);
    html = read_out(dir, "out/patients/P1/report.html");
    assert_non_null(strstr(html, "For research use; not a medical device."));
    assert_non_null(strstr(html, "Patient <b>P1</b>"));
    assert_non_null(strstr(html, "data-plot=\"ecg\""));
    assert_non_null(strstr(html, "data-plot=\"tachogram\""));
    assert_non_null(strstr(html, "class=\"rpeak\""));
    assert_non_null(strstr(html, "data-plot=\"spectrum\""));
    assert_non_null(strstr(html, "data-plot=\"scalp\""));
    assert_non_null(strstr(html, "data-plot=\"risk\""));
    assert_non_null(strstr(html, "data-plot=\"contributions\""));
    assert_non_null(strstr(html, "data-plot=\"top-features\""));
    assert_non_null(strstr(html, "Heart-rate variability"));
    assert_non_null(strstr(html, "<td>RMSSD</td><td class=\"num\">12.5</td>"
                               "<td>ms</td>"));
    assert_non_null(strstr(html, "within 60-100 bpm"));
    assert_non_null(strstr(html, "ecg.qrs.no_width"));
    assert_non_null(strstr(html, "test-model"));
    assert_null(strstr(html, "http://") == NULL ? NULL
                : strstr(strstr(html, "http://"), "src=\"http"));
    xml = read_out(dir, "out/patients/P1/report.xml");
    assert_non_null(strstr(xml, "<risk available=\"true\" value=\"0.05\""));
    assert_valid_report_xml(dir, "out/patients/P1/report.xml");
    assert_valid_report_xml(dir, "out/patients/P2/report.xml");
    /* P2: the ECG failed; the report says so without its file name */
    html2 = read_out(dir, "out/patients/P2/report.html");
    assert_non_null(strstr(html2, "ECG <span class=\"muted\">(failed)"));
    assert_non_null(strstr(html2, "[input file]:1: content: marker BAD"));
    assert_null(strstr(html2, "Jane"));
    assert_null(strstr(html2, "1970"));
    idx = read_out(dir, "out/index.html");
    assert_non_null(strstr(idx, "<a href=\"patients/P1/report.html\">P1</a>"));
    assert_non_null(strstr(idx, "<a href=\"patients/P2/report.html\">P2</a>"));
    assert_non_null(strstr(idx, "data-plot=\"risk-distribution\""));
    assert_non_null(strstr(idx, "Failed patients (1)"));
    assert_non_null(strstr(idx, "<tr><td>P3</td><td>ecg</td>"));
    assert_null(strstr(idx, "Jane"));
    assert_null(strstr(idx, "Doe"));
    mmdx__free(html);
    mmdx__free(html2);
    mmdx__free(xml);
    mmdx__free(idx);
    keep_or_remove(dir);
}

/* Ensure that without a fusion.risk stage the report says there is no
 * risk and why, and report.xml still validates. */
static void report_stage__no_risk__says_so(void **state)
{
    char *dir = test_tmpdir(), *html, *xml;
    struct mmdx_run_summary sum;

    MMDX_UNUSED(state);
    run_cohort(dir, false, &sum);
    html = read_out(dir, "out/patients/P1/report.html");
    assert_non_null(strstr(html, "This pipeline has no fusion.risk stage"));
    assert_null(strstr(html, "data-plot=\"contributions\""));
    xml = read_out(dir, "out/patients/P1/report.xml");
    assert_non_null(strstr(xml, "<risk available=\"false\" reason=\"the "
                                "pipeline has no fusion.risk stage\"/>"));
    assert_valid_report_xml(dir, "out/patients/P1/report.xml");
    mmdx__free(html);
    mmdx__free(xml);
    test_rmtree(dir);
}

/* Ensure that every allocation failure while writing index.html returns
 * MMDX_E_NOMEM and leaks nothing, and that the index is then written. */
static void report_cohort__oom__nomem(void **state)
{
    char *dir = test_tmpdir(), *pl, *out;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_run_summary sum;
    const char *ids[3] = { "P1", "P2", "P3" };
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    MMDX_UNUSED(state);
    run_cohort(dir, true, &sum);
    pl = mmdx__path_join(dir, "p.xml");
    out = mmdx__path_join(dir, "out");
    assert_int_equal(mmdx_pipeline_load(ctx, pl, &pipe), MMDX_OK);
    for (n = 1; st == MMDX_E_NOMEM && n < 2000; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__report_cohort(ctx, out, ids, 3, pipe);
        mmdx__alloc_fail_at(0);
        if (st != MMDX_OK)
            assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_int_equal(st, MMDX_OK);
    mmdx_pipeline_free(pipe);
    mmdx__free(pl);
    mmdx__free(out);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that every allocation failure inside the report stage returns
 * MMDX_E_NOMEM and leaks nothing (run under ASan). */
static void report_stage__oom__nomem(void **state)
{
    const struct mmdx_stage_def *d = __real_mmdx__stage_find("report");
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_stage stage;
    struct mmdx_patient p;
    struct {
        double ecg_strip_s, eeg_psd_max_s;
        long max_findings;
    } priv = { 10, 60, 16 };
    static const char *const lead[] = { "II" };
    static const char *const eeg[] = { "O1", "O2", "Cz" };
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    MMDX_UNUSED(state);
    assert_non_null(d);
    assert_int_equal(d->priv_size, sizeof(priv));
    memset(&stage, 0, sizeof(stage));
    stage.def = d;
    stage.priv = &priv;
    stage.ctx = ctx;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.id = mmdx__strdup("P9");
    p.path[MMDX_MOD_ECG] = mmdx__strdup("/data/x/ecg.hea");
    mmdx__patient_set_slot(&p, MMDX_SLOT_ECG, make_signal(1, lead, 250, 12,
                                                          true),
                           free_signal);
    mmdx__patient_set_slot(&p, MMDX_SLOT_EEG, make_signal(3, eeg, 128, 10,
                                                          false),
                           free_signal);
    mmdx__patient_set_slot(&p, MMDX_SLOT_IMAGE, make_image(ctx, false),
                           free_image);
    mmdx__patient_set_slot(&p, MMDX_SLOT_MASK, make_image(ctx, true),
                           free_image);
    assert_int_equal(mmdx__featset_add(&p.features, "ecg.hr.mean_bpm", 70),
                     MMDX_OK);
    assert_int_equal(mmdx__patient_flag(&p, MMDX_MOD_ECG, "ecg.x", "at "
                                        "/data/x/ecg.hea"), MMDX_OK);
    for (n = 1; st == MMDX_E_NOMEM && n < 5000; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = d->process(&stage, &p);
        mmdx__alloc_fail_at(0);
        if (st != MMDX_OK)
            assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_int_equal(st, MMDX_OK);
    mmdx__patient_fini(&p);
    mmdx_ctx_free(ctx);
}

/* A lazy source that computes the same ECG as make_signal on demand. */
struct lazy_src {
    struct mmdx_signal_src base;
    double fs;
    int reads;
};

static enum mmdx_status lazy_read(struct mmdx_signal_src *src, size_t ch,
                                  size_t first, size_t n, double *out)
{
    struct lazy_src *l = (struct lazy_src *)src;
    size_t i;

    MMDX_UNUSED(ch);
    l->reads++;
    for (i = 0; i < n; i++) {
        double t = (double)(first + i) / l->fs, ph = fmod(t, 0.8) - 0.3;

        out[i] = 1.2 * exp(-ph * ph / (2 * 0.012 * 0.012));
    }
    return MMDX_OK;
}

static void lazy_close(struct mmdx_signal_src *src)
{
    mmdx__free(src);
}

/* Ensure that a lazy ECG (samples only through mmdx__signal_read, as the
 * EDF reader leaves long recordings) gets its strip and the R peaks of
 * the whole recording, read in chunks: 300 s at 250 Hz, 75 bpm. */
static void report_stage__lazy_ecg__strip_and_peaks(void **state)
{
    const struct mmdx_stage_def *d = __real_mmdx__stage_find("report");
    static const char *const lead[] = { "II" };
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_signal *sig = make_signal(1, lead, 250, 1, true);
    struct lazy_src *src = mmdx__calloc(1, sizeof(*src));
    struct mmdx_stage stage;
    struct mmdx_patient p;
    struct {
        double ecg_strip_s, eeg_psd_max_s;
        long max_findings;
    } priv = { 10, 60, 16 };
    char *dir = test_tmpdir(), *html;

    MMDX_UNUSED(state);
    assert_non_null(sig);
    assert_non_null(src);
    src->base.read = lazy_read;
    src->base.close = lazy_close;
    src->fs = 250;
    mmdx__freep(&sig->ch[0].data);
    sig->ch[0].n = 250 * 300;
    sig->src = &src->base;
    memset(&stage, 0, sizeof(stage));
    stage.def = d;
    stage.priv = &priv;
    stage.ctx = ctx;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.id = mmdx__strdup("P7");
    p.path[MMDX_MOD_ECG] = mmdx__strdup("x.edf");
    p.out_dir = dir;
    mmdx__patient_set_slot(&p, MMDX_SLOT_ECG, sig, free_signal);
    assert_int_equal(d->process(&stage, &p), MMDX_OK);
    assert_true(src->reads >= 2); /* more than one chunk */
    html = read_out(dir, "report.html");
    assert_non_null(strstr(html, "data-plot=\"ecg\""));
    assert_non_null(strstr(html, "data-plot=\"tachogram\""));
    /* 375 beats in 300 s; the detector may miss the first or last */
    assert_true(strstr(html, "375 R peaks over the whole recording") ||
                strstr(html, "374 R peaks over the whole recording") ||
                strstr(html, "373 R peaks over the whole recording"));
    mmdx__free(html);
    mmdx__patient_fini(&p);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

static void free_image(void *img)
{
    mmdx__image_free(img);
}

/* A 3-slice 40 x 30 image with a bright disc; the mask is the disc. */
static struct mmdx_image *make_image(struct mmdx_ctx *ctx, bool mask)
{
    struct mmdx_image *img = mmdx__image_new();
    size_t x, y, z;

    assert_non_null(img);
    assert_int_equal(mmdx__image_alloc(ctx, img, 40, 30, 3, 1, 0), 0);
    for (z = 0; z < 3; z++)
        for (y = 0; y < 30; y++)
            for (x = 0; x < 40; x++) {
                bool in = (x - 20.0) * (x - 20.0) + (y - 15.0) * (y - 15.0) <
                          64;

                img->vox[x + 40 * (y + 30 * z)] =
                    mask ? (in ? 1.0f : 0.0f)
                         : (in ? 60.0f : -1000.0f) + (float)(x % 7);
            }
    mmdx__strlcpy(img->units, mask ? "" : "HU", sizeof(img->units));
    return img;
}

/* Ensure that an image with a region of interest is drawn as a windowed
 * slice (an embedded PNG) with the region outlined. */
static void report_stage__image_mask__slice_outlined(void **state)
{
    const struct mmdx_stage_def *d = __real_mmdx__stage_find("report");
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_stage stage;
    struct mmdx_patient p;
    struct {
        double ecg_strip_s, eeg_psd_max_s;
        long max_findings;
    } priv = { 10, 60, 16 };
    char *dir = test_tmpdir(), *html;

    MMDX_UNUSED(state);
    memset(&stage, 0, sizeof(stage));
    stage.def = d;
    stage.priv = &priv;
    stage.ctx = ctx;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.id = mmdx__strdup("P8");
    p.path[MMDX_MOD_IMAGE] = mmdx__strdup("ct");
    p.out_dir = dir;
    mmdx__patient_set_slot(&p, MMDX_SLOT_IMAGE, make_image(ctx, false),
                           free_image);
    mmdx__patient_set_slot(&p, MMDX_SLOT_MASK, make_image(ctx, true),
                           free_image);
    assert_int_equal(d->process(&stage, &p), MMDX_OK);
    html = read_out(dir, "report.html");
    assert_non_null(strstr(html, "data-plot=\"image\""));
    assert_non_null(strstr(html, "href=\"data:image/png;base64,iVBORw0KGgo"));
    assert_non_null(strstr(html, "class=\"roi\""));
    assert_non_null(strstr(html, "Slice 2 of 3"));
    assert_non_null(strstr(html, "percentile of the region of interest"));
    mmdx__free(html);
    mmdx__patient_fini(&p);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that feature names read in words: family, name and unit. */
static void report_words__names__family_name_unit(void **state)
{
    struct feature_words w;

    MMDX_UNUSED(state);
    mmdx__report_words("ecg.hrv.rmssd_ms", &w);
    assert_string_equal(w.family, "Heart-rate variability");
    assert_string_equal(w.name, "RMSSD");
    assert_string_equal(w.unit, "ms");
    mmdx__report_words("eeg.asym.alpha_lr", &w);
    assert_string_equal(w.family, "Left-right asymmetry");
    assert_string_equal(w.name, "Alpha left-right");
    assert_string_equal(w.unit, "");
    mmdx__report_words("record.score.cha2ds2vasc", &w);
    assert_string_equal(w.name, "CHA\xe2\x82\x82" "DS\xe2\x82\x82-VASc");
    mmdx__report_words("odd", &w);
    assert_string_equal(w.name, "odd");
}

/* Ensure that the PNG writer emits a PNG signature and a well-formed
 * IHDR for a 3 x 2 image. */
static void png__small__signature(void **state)
{
    unsigned char px[6] = { 0, 128, 255, 255, 128, 0 };
    struct rout o;

    MMDX_UNUSED(state);
    rout_init(&o);
    mmdx__png_base64(&o, px, 3, 2);
    assert_int_equal(o.st, MMDX_OK);
    /* base64 of 89 50 4E 47 0D 0A 1A 0A 00 00 00 0D 49 48 44 52 */
    assert_memory_equal(o.d.s, "iVBORw0KGgoAAAANSUhEUgAAAAMAAAAC", 32);
    rout_fini(&o);
}

int main(void)
{
    const struct CMUnitTest metric_tests[] = {
        cmocka_unit_test(metrics__sklearn_sets__match_reference),
        cmocka_unit_test(auroc_delong__sklearn_sets__match_reference),
        cmocka_unit_test(calibration__sklearn_sets__match_reference),
        cmocka_unit_test(confusion__threshold_half__matches_reference),
        cmocka_unit_test(auprc_bootstrap__seeded__reproducible),
        cmocka_unit_test(metrics__one_class__nan),
        cmocka_unit_test(calibration__separated__nan_slope),
        cmocka_unit_test(metrics_compute__oom__nomem),
        cmocka_unit_test(report_stage__cohort__reports_and_index),
        cmocka_unit_test(report_stage__no_risk__says_so),
        cmocka_unit_test(report_stage__oom__nomem),
        cmocka_unit_test(report_cohort__oom__nomem),
        cmocka_unit_test(report_stage__lazy_ecg__strip_and_peaks),
        cmocka_unit_test(report_stage__image_mask__slice_outlined),
        cmocka_unit_test(report_words__names__family_name_unit),
        cmocka_unit_test(png__small__signature),
    };

    return cmocka_run_group_tests_name("report", metric_tests, load_sets,
                                       free_sets);
}
