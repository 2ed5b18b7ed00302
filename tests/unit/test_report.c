/*
 * test_report.c - report_testdriver: metric functions (checked against
 * scikit-learn), the report stage's HTML/XML/SVG output and the cohort
 * index.
 */
#include "core/common.h"
#include "core/xml.h"
#include "mmdx/mmdx.h"
#include "report/report_int.h"
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
    };

    return cmocka_run_group_tests_name("metrics", metric_tests, load_sets,
                                       free_sets);
}
