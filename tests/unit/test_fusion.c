/*
 * test_fusion.c - fusion_testdriver: feature-table and labels readers,
 * the network's backward pass against finite differences, training on a
 * synthetic cohort with known risk, determinism, the model file and its
 * checks, prediction and attribution.
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "fusion/risk.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

#include <cblas.h>

#include "../../bench/fusion_synth.h"

/* ---- numbers ---------------------------------------------------------- */

static double cell(const char *s, bool *ok)
{
    double v = 0;

    *ok = mmdx__ftab_parse_cell(s, s + strlen(s), &v);
    return v;
}

/* Ensure that number cells parse exactly as strtod (the correctly rounded
 * reference) on the fast and the slow path, and junk is refused. */
static void ftab_parse_cell__inputs__match_strtod(void **state)
{
    static const char *const good[] = {
        "0", "-0", "1", "0.1", "-2.5", "+3", "1e-5", "1E+22", "123.456e-7",
        "4.9406564584124654e-324", "179769313486231570000", ".5", "5.",
        "0.30000000000000004", "12345678901234567890123",
        "2.2250738585072014e-308", "1e23", "9007199254740993",
        "1.7976931348623157e308"
    };
    static const char *const bad[] = {
        "abc", "1.5e", ".", "-", "1e400", "inf", "-inf", "1,5", "0x10",
        "1 ", " 1", "e5", "1e+", "--1", "1.2.3", "nanx"
    };
    size_t i;
    bool ok;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(good); i++) {
        double v = cell(good[i], &ok), ref = strtod(good[i], NULL);

        assert_true(ok);
        if (memcmp(&v, &ref, sizeof(v)))
            fail_msg("%s: got %.17g, strtod %.17g", good[i], v, ref);
    }
    for (i = 0; i < MMDX_ARRAY_SIZE(bad); i++) {
        cell(bad[i], &ok);
        if (ok)
            fail_msg("%s accepted", bad[i]);
    }
    assert_true(isnan(cell("NA", &ok)) && ok);
    assert_true(isnan(cell("NaN", &ok)) && ok);
    assert_true(isnan(cell("nan", &ok)) && ok);
    assert_true(isnan(cell("", &ok)) && ok);
}

/* ---- feature tables --------------------------------------------------- */

static const char table_ok[] =
    "patient_id\tecg.hrv.rmssd_ms\tecg.rate.hr_bpm\trecord.demo.age_years\r\n"
    "P1\t12.5\tNA\t64\r\n"
    "\n"
    "P2\tNA\tNA\t-1e2\n"
    "P3\t0.001\t70\t\n";

/* Ensure that a table with NA, CRLF and a blank line is read cell by cell,
 * ids in order. */
static void ftab_load__valid__cells(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__ftab t;

    (void)state;
    assert_int_equal(mmdx__ftab_load_mem(ctx, "t.tsv", table_ok,
                                         strlen(table_ok), &t),
                     MMDX_OK);
    assert_int_equal(t.nrows, 3);
    assert_int_equal(t.ncols, 3);
    assert_string_equal(t.names[2], "record.demo.age_years");
    assert_string_equal(mmdx__idpool_get(&t.ids, 1), "P2");
    assert_true(t.x[0] == 12.5f);
    assert_true(isnan(t.x[1]));
    assert_true(t.x[2] == 64.0f);
    assert_true(t.x[5] == -100.0f);
    assert_true(t.x[6] == 0.001f);
    assert_true(isnan(t.x[8]));
    mmdx__ftab_fini(&t);
    mmdx_ctx_free(ctx);
}

static void expect_table_error(const char *text, enum mmdx_status st,
                               long line, const char *field,
                               const char *msg)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__ftab t;
    const struct mmdx_error *e;

    assert_int_equal(mmdx__ftab_load_mem(ctx, "bad.tsv", text, strlen(text),
                                         &t),
                     st);
    e = mmdx_ctx_last_error(ctx);
    assert_string_equal(e->path, "bad.tsv");
    assert_int_equal(e->line, line);
    assert_string_equal(e->field, field);
    assert_string_equal(e->message, msg);
    mmdx_ctx_free(ctx);
}

/* Ensure that each kind of malformed table names the line, the column and
 * what is wrong, without the cell's value. */
static void ftab_load__malformed__names_line_and_field(void **state)
{
    (void)state;
    expect_table_error("id\tecg.a\nP1\t1\n", MMDX_E_FORMAT, 1, "patient_id",
                       "first header column must be patient_id");
    expect_table_error("patient_id\tecg.a\tecg.a\n", MMDX_E_FORMAT, 1,
                       "ecg.a", "feature column appears twice");
    expect_table_error("patient_id\tnodot\n", MMDX_E_FORMAT, 1, "nodot",
                       "feature name has no modality part "
                       "(modality.family.name)");
    expect_table_error("patient_id\tecg.a\tecg.b\nP1\t1\tx7\n",
                       MMDX_E_FORMAT, 2, "ecg.b",
                       "not a finite number (or NA)");
    expect_table_error("patient_id\tecg.a\tecg.b\nP1\t1\n", MMDX_E_FORMAT, 2,
                       "", "expected 3 cells, got 2");
    expect_table_error("patient_id\tecg.a\nP1\t1\t2\n", MMDX_E_FORMAT, 2, "",
                       "more cells than the 2 header columns");
    expect_table_error("patient_id\tecg.a\n\t1\n", MMDX_E_FORMAT, 2,
                       "patient_id", "empty patient_id");
    expect_table_error("patient_id\tecg.a\nP1\t1e39\n", MMDX_E_FORMAT, 2,
                       "ecg.a", "not a finite number (or NA)");
    expect_table_error("", MMDX_E_FORMAT, 0, "", "empty file: no header");
}

/* Ensure that every allocation failure while reading a table returns
 * E_NOMEM and leaks nothing. */
static void ftab_load__oom__nomem(void **state)
{
    unsigned long n;

    (void)state;
    for (n = 1;; n++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx__ftab t;
        enum mmdx_status st;

        mmdx__alloc_fail_at(n);
        st = mmdx__ftab_load_mem(ctx, "t.tsv", table_ok, strlen(table_ok),
                                 &t);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            mmdx__ftab_fini(&t);
            mmdx_ctx_free(ctx);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
        mmdx_ctx_free(ctx);
    }
    assert_true(n > 3);
}

/* Ensure that every cell read through a table (fast and full paths) is
 * the float nearest strtod's double, for random decimals of 1 to 20
 * digits, signs, exponents and NA. */
static void ftab_load__random_numbers__match_strtod(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dstr d;
    struct mmdx__ftab t;
    struct fsyn_rng r = { 99 };
    char cells[400][40];
    size_t i, k;

    (void)state;
    mmdx__dstr_init(&d, 0);
    mmdx__dstr_adds(&d, "patient_id");
    for (k = 0; k < 20; k++)
        mmdx__dstr_addf(&d, "\tecg.x.f%02zu", k);
    for (i = 0; i < 400; i++) {
        char *c = cells[i];
        int nd = 1 + (int)(fsyn_unif(&r) * 20), dot = (int)(fsyn_unif(&r) *
                                                             (nd + 1));
        int j, n = 0;

        if (fsyn_unif(&r) < 0.3)
            c[n++] = '-';
        for (j = 0; j < nd; j++) {
            if (j == dot && j > 0)
                c[n++] = '.';
            c[n++] = (char)('0' + (int)(fsyn_unif(&r) * 10));
        }
        if (fsyn_unif(&r) < 0.15)
            n += snprintf(c + n, 8, "e%d", (int)(fsyn_unif(&r) * 30) - 15);
        c[n] = '\0';
        if (i % 20 == 0)
            mmdx__dstr_addf(&d, "\nP%zu", i);
        mmdx__dstr_addf(&d, "\t%s", c);
    }
    mmdx__dstr_adds(&d, "\n");
    assert_int_equal(mmdx__ftab_load_mem(ctx, "n.tsv", d.s, d.len, &t),
                     MMDX_OK);
    assert_int_equal(t.nrows, 20);
    for (i = 0; i < 400; i++) {
        float want = (float)strtod(cells[i], NULL);

        if (memcmp(&want, &t.x[i], sizeof(float)))
            fail_msg("%s: got %.9g, want %.9g", cells[i], (double)t.x[i],
                     (double)want);
    }
    mmdx__ftab_fini(&t);
    mmdx__dstr_fini(&d);
    mmdx_ctx_free(ctx);
}

/* ---- labels ------------------------------------------------------------ */

/* Ensure that labels are read by column name with optional split, empty
 * labels unknown, and bad cells refused with line and field. */
static void labels_parse__cases__values_and_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__labels l;
    char ok[] = "x\tsplit\tpatient_id\tlabel\n"
                "a\ttest\tP1\t1\n"
                "b\t\tP2\t\n"
                "c\tvalid\tP3\t0\n";
    char bad1[] = "patient_id\tlabel\nP1\t2\n";
    char bad2[] = "patient_id\tlabel\tsplit\nP1\t1\tholdout\n";
    char bad3[] = "patient_id\tsplit\nP1\ttrain\n";

    (void)state;
    assert_int_equal(mmdx__labels_parse(ctx, "l.tsv", ok, strlen(ok), &l),
                     MMDX_OK);
    assert_int_equal(l.ids.n, 3);
    assert_true(l.has_split);
    assert_int_equal(l.label[0], 1);
    assert_int_equal(l.label[1], -1);
    assert_int_equal(l.split[0], MMDX_SPLIT_TEST);
    assert_int_equal(l.split[1], MMDX_SPLIT_NONE);
    assert_int_equal(l.split[2], MMDX_SPLIT_VALID);
    assert_string_equal(mmdx__idpool_get(&l.ids, 2), "P3");
    mmdx__labels_fini(&l);

    assert_int_equal(mmdx__labels_parse(ctx, "l.tsv", bad1, strlen(bad1),
                                        &l),
                     MMDX_E_FORMAT);
    mmdx__labels_fini(&l);
    assert_int_equal(mmdx_ctx_last_error(ctx)->line, 2);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "label");
    assert_string_equal(mmdx_ctx_last_error(ctx)->message,
                        "expected 0, 1 or empty");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__labels_parse(ctx, "l.tsv", bad2, strlen(bad2),
                                        &l),
                     MMDX_E_FORMAT);
    mmdx__labels_fini(&l);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "split");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__labels_parse(ctx, "l.tsv", bad3, strlen(bad3),
                                        &l),
                     MMDX_E_FORMAT);
    mmdx__labels_fini(&l);
    assert_string_equal(mmdx_ctx_last_error(ctx)->message,
                        "no label column");
    mmdx_ctx_free(ctx);
}

/* Ensure that allocation failures while parsing labels return E_NOMEM
 * without leaks. */
static void labels_parse__oom__nomem(void **state)
{
    unsigned long n;

    (void)state;
    for (n = 1;; n++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx__labels l;
        char text[] = "patient_id\tlabel\nP1\t1\nP2\t0\n";
        enum mmdx_status st;

        mmdx__alloc_fail_at(n);
        st = mmdx__labels_parse(ctx, "l.tsv", text, strlen(text), &l);
        mmdx__alloc_fail_at(0);
        mmdx__labels_fini(&l);
        mmdx_ctx_free(ctx);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
    }
}

/* ---- metrics ------------------------------------------------------------ */

/* Ensure that AUROC matches hand-computed values (ties count 1/2) and
 * Platt scaling recovers a known logistic relation. */
static void auroc_platt__known__values(void **state)
{
    float s[] = { 0.1f, 0.4f, 0.35f, 0.8f };
    signed char y[] = { 0, 0, 1, 1 };
    float t[] = { 1, 1, 1, 1 };
    float big[4000];
    signed char yb[4000];
    double a, b;
    size_t i;
    struct fsyn_rng r = { 3 };

    (void)state;
    /* pairs (pos, neg): (0.35,0.1) (0.35,0.4)x (0.8,0.1) (0.8,0.4): 3/4 */
    assert_float_equal(mmdx__auroc(s, y, 4), 0.75, 1e-12);
    assert_float_equal(mmdx__auroc(t, y, 4), 0.5, 1e-12);
    assert_true(isnan(mmdx__auroc(s, y, 2)));
    /* labels drawn from sigmoid(2 s - 1): Platt must find a ~2, b ~-1
     * (tolerance 0.25: sampling error of 4000 draws) */
    for (i = 0; i < 4000; i++) {
        big[i] = (float)(4.0 * fsyn_unif(&r) - 2.0);
        yb[i] = fsyn_unif(&r) < 1.0 / (1.0 + exp(-(2.0 * big[i] - 1.0)));
    }
    mmdx__platt_fit(big, yb, 4000, &a, &b);
    assert_float_equal(a, 2.0, 0.25);
    assert_float_equal(b, -1.0, 0.25);
}

/* ---- gradients ------------------------------------------------------------ */

/* A small model: 3 modalities (2, 3, 2 features); small_inter turns the
 * cross-modal product input of the head on. */
static uint32_t small_inter;

static void small_model(struct mmdx__model *m, uint32_t arch, uint32_t pool,
                        uint32_t head, size_t hid, size_t emb)
{
    static const char *const mods[] = { "ecg", "eeg", "record" };
    static const size_t len[] = { 2, 3, 2 };
    size_t k, j, f = 0;
    struct fsyn_rng r = { 11 };

    memset(m, 0, sizeof(*m));
    m->arch = arch;
    m->pool = pool;
    m->head = head;
    m->hid = hid;
    m->emb = emb;
    m->head_hid = head == MMDX_HEAD_MLP ? 5 : 0;
    m->inter = head != MMDX_HEAD_IDENTITY ? small_inter : 0;
    m->nmod = 3;
    m->nfeat = 7;
    m->mod_names = mmdx__calloc(3, sizeof(char *));
    m->mod_start = mmdx__calloc(3, sizeof(size_t));
    m->mod_len = mmdx__calloc(3, sizeof(size_t));
    m->grp_mod0 = mmdx__calloc(3, sizeof(size_t));
    m->grp_nmod = mmdx__calloc(3, sizeof(size_t));
    m->feat_names = mmdx__calloc(7, sizeof(char *));
    m->center = mmdx__calloc(7, sizeof(float));
    m->scale = mmdx__calloc(7, sizeof(float));
    for (k = 0; k < 3; k++) {
        m->mod_names[k] = mmdx__strdup(mods[k]);
        m->mod_start[k] = f;
        m->mod_len[k] = len[k];
        for (j = 0; j < len[k]; j++, f++) {
            char name[64];

            snprintf(name, sizeof(name), "%s.t.f%zu", mods[k], j);
            m->feat_names[f] = mmdx__strdup(name);
            m->center[f] = 0.0f;
            m->scale[f] = 1.0f;
        }
    }
    if (arch == MMDX_ARCH_EARLY) {
        m->ngroup = 1;
        m->grp_nmod[0] = 3;
    } else {
        m->ngroup = 3;
        for (k = 0; k < 3; k++) {
            m->grp_mod0[k] = k;
            m->grp_nmod[k] = 1;
        }
    }
    assert_int_equal(mmdx__model_layout(NULL, m), MMDX_OK);
    for (k = 0; k < m->nparam; k++)
        m->param[k] = (float)(0.8 * fsyn_norm(&r));
    m->platt_a = 1.0;
    m->prior = 0.3;
    m->band_lo = 0.15;
    m->band_hi = 0.6;
    mmdx__strlcpy(m->prov.version, "test", sizeof(m->prov.version));
}

#define GB 6            /* batch rows in the gradient test */
#define ALIGN_W 0.7
#define TEMP 0.5

/* L = sum_b c_b logit_b + ALIGN_W * align, the objective differentiated. */
static double objective(struct mmdx__model *m, struct mmdx__ws *w,
                        const float *x, const float *c)
{
    double L = 0.0;
    size_t b;

    mmdx__model_forward(m, w, x, GB);
    for (b = 0; b < GB; b++)
        L += (double)c[b] * w->logit[b];
    for (b = 0; b < m->ngroup; b++)
        memset(w->de[b], 0, GB * m->emb * sizeof(float));
    return L + ALIGN_W * mmdx__model_align(m, w, GB, TEMP, ALIGN_W);
}

/*
 * The analytic derivative must match the central difference; where a ReLU
 * kink lies within +-h the central difference averages two slopes, and the
 * analytic one (taken on the current side) must then match one of the
 * one-sided differences instead. Tolerance 2e-3 + 2%.
 */
static bool fd_ok(double an, double central, double lp, double lm, double l0,
                  double h)
{
    double tol = 2e-3 + 0.02 * fabs(central);

    return fabs(an - central) <= tol || fabs(an - (lp - l0) / h) <= tol ||
           fabs(an - (l0 - lm) / h) <= tol;
}

static void check_gradients(uint32_t arch, uint32_t pool, uint32_t head,
                            size_t hid, size_t emb)
{
    struct mmdx__model m;
    struct mmdx__ws w;
    float x[GB * 7], c[GB], dx[GB * 7], *grad;
    size_t b, k, bad = 0;
    struct fsyn_rng r = { 5 };
    const float h = 1e-3f;

    small_model(&m, arch, pool, head, hid, emb);
    assert_int_equal(mmdx__ws_init(NULL, &w, &m, GB), MMDX_OK);
    grad = mmdx__calloc(m.nparam, sizeof(float));
    assert_non_null(grad);
    for (k = 0; k < GB * 7; k++)
        x[k] = (float)fsyn_norm(&r);
    for (b = 0; b < GB; b++) {
        c[b] = (float)fsyn_norm(&r);
        for (k = 0; k < m.ngroup; k++)      /* some modalities absent */
            w.gmask[b * m.ngroup + k] = (b + k) % 4 == 3 ? 0.0f : 1.0f;
    }
    /* analytic */
    mmdx__model_forward(&m, &w, x, GB);
    memcpy(w.dlogit, c, sizeof(c));
    mmdx__model_backward_top(&m, &w, GB, grad);
    mmdx__model_align(&m, &w, GB, TEMP, ALIGN_W);
    mmdx__model_backward_enc(&m, &w, x, GB, grad, dx);
    /* central differences in float with h = 1e-3: truncation error
     * O(h^2 * f''') and rounding ~1e-7/h; tolerance 2e-3 + 2% */
    for (k = 0; k < m.nparam; k++) {
        float keep = m.param[k];
        double lp, lm, fd;

        m.param[k] = keep + h;
        lp = objective(&m, &w, x, c);
        m.param[k] = keep - h;
        lm = objective(&m, &w, x, c);
        m.param[k] = keep;
        fd = (lp - lm) / (2.0 * h);
        if (!fd_ok(grad[k], fd, lp, lm, objective(&m, &w, x, c), h)) {
            print_error("param %zu: analytic %g, numeric %g\n", k,
                        (double)grad[k], fd);
            bad++;
        }
    }
    for (k = 0; k < GB * 7; k++) {
        float keep = x[k];
        double lp, lm, fd;

        x[k] = keep + h;
        lp = objective(&m, &w, x, c);
        x[k] = keep - h;
        lm = objective(&m, &w, x, c);
        x[k] = keep;
        fd = (lp - lm) / (2.0 * h);
        if (!fd_ok(dx[k], fd, lp, lm, objective(&m, &w, x, c), h)) {
            print_error("input %zu: analytic %g, numeric %g\n", k,
                        (double)dx[k], fd);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    mmdx__free(grad);
    mmdx__ws_fini(&w, &m);
    mmdx__model_fini(&m);
}

/* Ensure that the backward pass (head, fusion, alignment, encoders and the
 * input gradient) matches central finite differences for every
 * architecture: joint mean and attention with an MLP head, a linear
 * head, late (identity head), early (one linear encoder), and joint with
 * the cross-modal product input. */
static void model_backward__finite_differences__match(void **state)
{
    (void)state;
    openblas_set_num_threads(1);
    check_gradients(MMDX_ARCH_JOINT, MMDX_POOL_MEAN, MMDX_HEAD_MLP, 4, 3);
    check_gradients(MMDX_ARCH_JOINT, MMDX_POOL_ATTENTION, MMDX_HEAD_MLP, 4,
                    3);
    check_gradients(MMDX_ARCH_JOINT, MMDX_POOL_ATTENTION, MMDX_HEAD_LINEAR,
                    0, 3);
    check_gradients(MMDX_ARCH_LATE, MMDX_POOL_MEAN, MMDX_HEAD_IDENTITY, 4, 1);
    check_gradients(MMDX_ARCH_EARLY, MMDX_POOL_MEAN, MMDX_HEAD_IDENTITY, 0,
                    1);
    small_inter = 1;
    check_gradients(MMDX_ARCH_JOINT, MMDX_POOL_MEAN, MMDX_HEAD_MLP, 4, 3);
    check_gradients(MMDX_ARCH_JOINT, MMDX_POOL_ATTENTION, MMDX_HEAD_LINEAR,
                    4, 3);
    small_inter = 0;
}

/* ---- model file ------------------------------------------------------------ */

/* Ensure that a model survives serialise/parse unchanged (same bytes when
 * written again) and that corrupt, truncated, foreign and future files are
 * refused with a message saying which check failed. */
static void model_file__roundtrip_and_damage__checked(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__model m, back;
    struct mmdx_dstr d, d2;
    unsigned char *buf;

    (void)state;
    small_model(&m, MMDX_ARCH_JOINT, MMDX_POOL_ATTENTION, MMDX_HEAD_MLP, 4,
                3);
    assert_int_equal(mmdx__model_serialise(ctx, &m, &d), MMDX_OK);
    assert_int_equal(mmdx__model_parse(ctx, "m.mmdx",
                                       (const unsigned char *)d.s, d.len,
                                       &back),
                     MMDX_OK);
    assert_int_equal(back.nparam, m.nparam);
    assert_memory_equal(back.param, m.param, m.nparam * sizeof(float));
    assert_string_equal(back.feat_names[4], "eeg.t.f2");
    assert_int_equal(mmdx__model_serialise(ctx, &back, &d2), MMDX_OK);
    assert_int_equal(d2.len, d.len);
    assert_memory_equal(d2.s, d.s, d.len);
    mmdx__dstr_fini(&d2);
    mmdx__model_fini(&back);

    buf = mmdx__malloc(d.len);
    memcpy(buf, d.s, d.len);
    buf[100] ^= 1;
    assert_int_equal(mmdx__model_parse(ctx, "m.mmdx", buf, d.len, &back),
                     MMDX_E_MODEL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "checksum");
    assert_string_equal(mmdx_ctx_last_error(ctx)->message,
                        "SHA-256 checksum mismatch: the model file is "
                        "corrupt");
    mmdx_ctx_clear_error(ctx);
    buf[100] ^= 1;
    assert_int_equal(mmdx__model_parse(ctx, "m.mmdx", buf, d.len - 1, &back),
                     MMDX_E_MODEL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "length");
    mmdx_ctx_clear_error(ctx);
    buf[8] = 2;
    assert_int_equal(mmdx__model_parse(ctx, "m.mmdx", buf, d.len, &back),
                     MMDX_E_MODEL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->message,
                        "model file format 2; this mmdx reads format 1");
    mmdx_ctx_clear_error(ctx);
    buf[0] = 'X';
    assert_int_equal(mmdx__model_parse(ctx, "m.mmdx", buf, d.len, &back),
                     MMDX_E_MODEL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->message,
                        "not an mmdx model file");
    mmdx__free(buf);
    mmdx__dstr_fini(&d);
    mmdx__model_fini(&m);
    mmdx_ctx_free(ctx);
}

/* Ensure that allocation failures while parsing a model return E_NOMEM
 * without leaks. */
static void model_parse__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__model m, back;
    struct mmdx_dstr d;
    unsigned long n;

    (void)state;
    small_model(&m, MMDX_ARCH_JOINT, MMDX_POOL_MEAN, MMDX_HEAD_MLP, 4, 3);
    assert_int_equal(mmdx__model_serialise(ctx, &m, &d), MMDX_OK);
    for (n = 1;; n++) {
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__model_parse(ctx, "m", (const unsigned char *)d.s, d.len,
                               &back);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            mmdx__model_fini(&back);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    mmdx__dstr_fini(&d);
    mmdx__model_fini(&m);
    mmdx_ctx_free(ctx);
}

/* ---- attribution ------------------------------------------------------------ */

/* Ensure that leave-modality-out contributions are exact differences of
 * calibrated risks (for a patient with one modality: risk - prior), absent
 * modalities get NaN, and top features are ordered by |attribution|. */
static void model_explain__contributions__exact(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx__model m;
    struct mmdx_risk rk[2];
    float raw[2 * 7] = { 0.5f, -1.0f, 0.3f, 0.2f, -0.7f, 1.5f, 0.9f,
                         NAN,  NAN,   NAN,  NAN,  NAN,   2.0f, -1.0f };
    double risk[2], contrib[2 * 3], r2[1];
    float only[7];
    size_t k;

    (void)state;
    small_model(&m, MMDX_ARCH_JOINT, MMDX_POOL_ATTENTION, MMDX_HEAD_MLP, 4,
                3);
    assert_int_equal(mmdx__model_explain(ctx, &m, raw, 2, risk, NULL,
                                         contrib, rk, true),
                     MMDX_OK);
    /* patient 2 has only "record": its contribution is risk - prior */
    assert_float_equal(contrib[3 + 2], risk[1] - m.prior, 1e-12);
    assert_true(isnan(contrib[3 + 0]) && isnan(contrib[3 + 1]));
    assert_float_equal(rk[1].contribution[MMDX_MOD_RECORD], contrib[5],
                       1e-12);
    assert_true(isnan(rk[1].contribution[MMDX_MOD_ECG]));
    assert_int_equal(rk[1].modalities, 1u << MMDX_MOD_RECORD);
    /* patient 1 without ecg equals a patient whose ecg is NA */
    memcpy(only, raw, sizeof(only));
    only[0] = only[1] = NAN;
    assert_int_equal(mmdx__model_explain(ctx, &m, only, 1, r2, NULL, NULL,
                                         NULL, false),
                     MMDX_OK);
    assert_float_equal(contrib[0], risk[0] - r2[0], 1e-12);
    /* features of a group whose hidden units are all inactive have zero
     * gradient and are not listed */
    assert_true(rk[0].ntop >= 1 && rk[0].ntop <= 7);
    /* the first attribution is d(logit)/d(x) * (x - median), checked
     * against a central difference of the logit (scale 1, median 0) */
    {
        double lg[2];
        float pm[2 * 7];
        size_t j;

        for (j = 0; strcmp(m.feat_names[j], rk[0].top[0].name); j++)
            ;
        memcpy(pm, raw, sizeof(only));
        memcpy(pm + 7, raw, sizeof(only));
        pm[j] += 1e-3f;
        pm[7 + j] -= 1e-3f;
        assert_int_equal(mmdx__model_explain(ctx, &m, pm, 2, NULL, lg, NULL,
                                             NULL, false),
                         MMDX_OK);
        assert_float_equal(rk[0].top[0].attribution,
                           (lg[0] - lg[1]) / 2e-3 * raw[j],
                           2e-3 + 0.02 * fabs(rk[0].top[0].attribution));
        assert_true(rk[0].top[0].value == raw[j]);
    }
    for (k = 1; k < rk[0].ntop; k++)
        assert_true(fabs(rk[0].top[k - 1].attribution) >=
                    fabs(rk[0].top[k].attribution));
    assert_int_equal(rk[1].ntop, 2);
    assert_true(risk[0] > 0 && risk[0] < 1);
    assert_string_equal(rk[0].band, mmdx__risk_band(&m, risk[0]));
    mmdx__model_fini(&m);
    mmdx_ctx_free(ctx);
}

/* ---- training on a synthetic cohort -------------------------------------- */

/* Our own temporary folders (not /tmp/mmdx-test-*: test_core globs that
 * pattern while drivers run in parallel). */
static char *fusion_tmpdir(void)
{
    char tmpl[] = "/tmp/mmdx-fusion-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return mmdx__strdup(d);
}

static void fusion_rmtree(char *dir)
{
    char cmd[1200];

    if (dir && !strncmp(dir, "/tmp/mmdx-fusion-", 17)) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    mmdx__free(dir);
}

struct cohort {
    char *dir, *features, *labels, *drop;
    double bayes, bayes_drop;
};

static void make_cohort(struct cohort *c, unsigned long n, bool small)
{
    struct fsyn_opts o;
    FILE *f, *f2, *l;

    c->dir = fusion_tmpdir();
    c->features = mmdx__path_join(c->dir, "features.tsv");
    c->labels = mmdx__path_join(c->dir, "labels.tsv");
    c->drop = mmdx__path_join(c->dir, "features_drop.tsv");
    fsyn_default(&o);
    o.n = n;
    if (small) {
        o.nfeat[0] = 10;
        o.nfeat[1] = 8;
        o.nfeat[2] = 12;
        o.nfeat[3] = 6;
    }
    o.test_frac = 0.3;
    o.drop_test_mod = 0;
    f = fopen(c->features, "w");
    f2 = fopen(c->drop, "w");
    l = fopen(c->labels, "w");
    assert_non_null(f);
    assert_non_null(f2);
    assert_non_null(l);
    c->bayes = fsyn_generate(&o, f, f2, l, NULL, NULL, &c->bayes_drop);
    fclose(f);
    fclose(f2);
    fclose(l);
}

static void free_cohort(struct cohort *c)
{
    mmdx__free(c->features);
    mmdx__free(c->labels);
    mmdx__free(c->drop);
    fusion_rmtree(c->dir);
}

static double train_arch(struct cohort *c, const char *arch, const char *out)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_fusion_train_opts o;
    struct mmdx_fusion_summary s;
    char *path = mmdx__path_join(c->dir, out);

    mmdx_fusion_train_opts_init(&o);
    o.arch = arch;
    o.epochs = 40;
    assert_int_equal(mmdx_fusion_train(ctx, c->features, c->labels, path,
                                       &o, NULL, NULL, &s),
                     MMDX_OK);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
    return s.auroc_test;
}

/* Ensure that on a synthetic cohort with cross-modal interactions (8000
 * patients, 150 features) the joint model comes near the Bayes-optimal
 * AUROC of the generator's exact posterior risk and beats early (logistic
 * regression) and late fusion, which cannot express the products (the
 * full proof, with every single modality too, is tests/integration/
 * fusion.int); and that training is deterministic for a seed. */
static void train__synthetic__joint_beats_baselines(void **state)
{
    struct cohort c;
    double joint, early, late;
    char *a, *b, *da, *db;
    size_t la, lb;
    struct mmdx_ctx *ctx = test_ctx();

    (void)state;
    make_cohort(&c, 8000, false);
    joint = train_arch(&c, "joint", "joint.mmdx");
    early = train_arch(&c, "early", "early.mmdx");
    late = train_arch(&c, "late", "late.mmdx");
    print_message("bayes %.4f joint %.4f early %.4f late %.4f\n", c.bayes,
                  joint, early, late);
    /* 2400 test patients: sampling error of an AUROC ~0.011, and less
     * for a difference on the same patients; 5600 training patients */
    assert_true(joint > c.bayes - 0.03);
    assert_true(joint > early + 0.02 && joint > late + 0.02);

    /* determinism: the same seed gives the same file */
    train_arch(&c, "joint", "joint2.mmdx");
    a = mmdx__path_join(c.dir, "joint.mmdx");
    b = mmdx__path_join(c.dir, "joint2.mmdx");
    assert_int_equal(mmdx__file_read(ctx, a, 1 << 24, &da, &la), MMDX_OK);
    assert_int_equal(mmdx__file_read(ctx, b, 1 << 24, &db, &lb), MMDX_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    mmdx__free(da);
    mmdx__free(db);
    mmdx__free(a);
    mmdx__free(b);
    mmdx_ctx_free(ctx);
    free_cohort(&c);
}

/* Ensure that predict writes one row per patient with the documented
 * columns, and refuses a table whose feature names differ, naming them. */
static void predict__tables__rows_and_mismatch(void **state)
{
    struct cohort c;
    struct mmdx_ctx *ctx = test_ctx();
    char *model, *out, *data, *bad;
    size_t len, n;

    (void)state;
    make_cohort(&c, 1200, true);
    train_arch(&c, "joint", "joint.mmdx");
    model = mmdx__path_join(c.dir, "joint.mmdx");
    out = mmdx__path_join(c.dir, "risks.tsv");
    assert_int_equal(mmdx_fusion_predict(ctx, model, c.drop, out, NULL, &n),
                     MMDX_OK);
    assert_int_equal(n, 1200);
    assert_int_equal(mmdx__file_read(ctx, out, 1 << 24, &data, &len),
                     MMDX_OK);
    assert_true(!strncmp(data,
                         "patient_id\trisk\trisk_band\tcontrib_image\t"
                         "contrib_ecg\tcontrib_eeg\tcontrib_record\n"
                         "P000001\t0.",
                         75));
    mmdx__free(data);

    bad = mmdx__path_join(c.dir, "bad.tsv");
    test_write(c.dir, "bad.tsv",
               "patient_id\tecg.syn.f000\tecg.syn.zzz\timage.other.x\n"
               "P1\t1\t2\t3\n");
    assert_int_equal(mmdx_fusion_predict(ctx, model, bad, out, NULL, &n),
                     MMDX_E_MODEL);
    assert_error_has(ctx, "feature names differ from the model's: 2 not in "
                          "the model (ecg.syn.zzz, image.other.x), 35 of "
                          "the model absent (ecg.syn.f001, ecg.syn.f002, "
                          "ecg.syn.f003, ...)");
    mmdx__free(bad);
    mmdx__free(model);
    mmdx__free(out);
    mmdx_ctx_free(ctx);
    free_cohort(&c);
}

/* Ensure that without a split column training draws a seeded stratified
 * 70/15/15 split (counts per class floor(n * share)), reports the held-out
 * AUROC, and that the evaluation API scores a predict output against the
 * same labels. */
static void train__no_split_column__stratified(void **state)
{
    struct cohort c;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_fusion_train_opts o;
    struct mmdx_fusion_summary s;
    char *data, *l2, *model, *risks, *p, *q;
    size_t len, n, na;
    double auc;
    FILE *fp;

    (void)state;
    make_cohort(&c, 1200, true);
    assert_int_equal(mmdx__file_read(ctx, c.labels, 1 << 20, &data, &len),
                     MMDX_OK);
    l2 = mmdx__path_join(c.dir, "labels2.tsv");
    fp = fopen(l2, "w");
    assert_non_null(fp);
    for (p = data; *p; p = q + 1) {       /* drop the third column */
        char *t1 = strchr(p, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;

        q = strchr(p, '\n');
        assert_non_null(q);
        assert_non_null(t2);
        fwrite(p, 1, (size_t)(t2 - p), fp);
        fputc('\n', fp);
    }
    fclose(fp);
    mmdx__free(data);
    mmdx_fusion_train_opts_init(&o);
    o.epochs = 5;
    model = mmdx__path_join(c.dir, "m.mmdx");
    assert_int_equal(mmdx_fusion_train(ctx, c.features, l2, model, &o, NULL,
                                       NULL, &s),
                     MMDX_OK);
    assert_int_equal(s.n_train + s.n_valid + s.n_test, 1200);
    assert_true(s.n_test >= 178 && s.n_test <= 180);   /* floor per class */
    assert_true(s.n_valid >= 178 && s.n_valid <= 180);
    assert_false(isnan(s.auroc_test));
    risks = mmdx__path_join(c.dir, "r.tsv");
    assert_int_equal(mmdx_fusion_predict(ctx, model, c.features, risks, NULL,
                                         &n),
                     MMDX_OK);
    assert_int_equal(mmdx_fusion_evaluate(ctx, risks, l2, NULL, &auc, &n,
                                          &na),
                     MMDX_OK);
    assert_int_equal(n, 1200);          /* no split column: all rows */
    assert_int_equal(na, 0);
    assert_true(auc > 0.5 && auc < 1.0);
    mmdx__free(risks);
    mmdx__free(model);
    mmdx__free(l2);
    mmdx_ctx_free(ctx);
    free_cohort(&c);
}

extern const struct mmdx_stage_def mmdx__stage_fusion_risk;

/* Ensure that the fusion.risk stage scores a patient from its feature set
 * (missing modality = absent features), leaves the risk in its slot,
 * writes the risks.tsv row, and refuses an unknown feature by name. */
static void stage_risk__patient__slot_and_row(void **state)
{
    struct cohort c;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_stage stg;
    struct mmdx_patient p;
    const struct mmdx_stage_def *d = &mmdx__stage_fusion_risk;
    const struct mmdx_risk *r;
    struct mmdx__ftab t;
    char *row, *path;
    size_t len, j;

    (void)state;
    make_cohort(&c, 1200, true);
    train_arch(&c, "joint", "joint.mmdx");
    memset(&stg, 0, sizeof(stg));
    stg.def = d;
    stg.ctx = ctx;
    stg.priv = mmdx__calloc(1, d->priv_size);
    *(char **)((char *)stg.priv + d->params[0].offset) =
        mmdx__path_join(c.dir, "joint.mmdx");
    assert_int_equal(d->init(&stg), MMDX_OK);

    assert_int_equal(mmdx__ftab_load(ctx, c.features, &t), MMDX_OK);
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.id = mmdx__strdup("P000001");
    p.out_dir = c.dir;
    mmdx__featset_init(&p.features);
    for (j = 0; j < t.ncols; j++)       /* no ecg: a missing modality */
        if (strncmp(t.names[j], "ecg.", 4))
            assert_int_equal(mmdx__featset_add(&p.features, t.names[j],
                                               t.x[j]),
                             MMDX_OK);
    assert_int_equal(d->process(&stg, &p), MMDX_OK);
    r = p.slot[MMDX_SLOT_RISK];
    assert_non_null(r);
    assert_true(r->risk > 0 && r->risk < 1);
    assert_true(isnan(r->contribution[MMDX_MOD_ECG]));
    assert_false(isnan(r->contribution[MMDX_MOD_EEG]));
    assert_int_equal(r->modalities, (1u << MMDX_MOD_EEG) |
                                        (1u << MMDX_MOD_IMAGE) |
                                        (1u << MMDX_MOD_RECORD));
    assert_int_equal(r->ntop, MMDX_RISK_TOP_FEATURES);
    assert_string_equal(r->model_name, "joint/mean");
    path = mmdx__path_join(c.dir, "risks.tsv");
    assert_int_equal(mmdx__file_read(ctx, path, 4096, &row, &len), MMDX_OK);
    assert_true(!strncmp(row, "P000001\t0.", 10));
    assert_non_null(strstr(row, "\tNA\t"));   /* contrib_ecg */
    mmdx__free(row);
    mmdx__free(path);

    assert_int_equal(mmdx__featset_add(&p.features, "image.new.thing", 1.0),
                     MMDX_OK);
    assert_int_equal(d->process(&stg, &p), MMDX_E_MODEL);
    assert_error_has(ctx, "1 not in the model (image.new.thing)");
    mmdx_ctx_clear_error(ctx);

    mmdx__patient_fini(&p);
    mmdx__ftab_fini(&t);
    d->fini(&stg);
    mmdx__free(*(char **)((char *)stg.priv + d->params[0].offset));
    mmdx__free(stg.priv);
    mmdx_ctx_free(ctx);
    free_cohort(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ftab_parse_cell__inputs__match_strtod),
        cmocka_unit_test(ftab_load__valid__cells),
        cmocka_unit_test(ftab_load__malformed__names_line_and_field),
        cmocka_unit_test(ftab_load__oom__nomem),
        cmocka_unit_test(ftab_load__random_numbers__match_strtod),
        cmocka_unit_test(labels_parse__cases__values_and_errors),
        cmocka_unit_test(labels_parse__oom__nomem),
        cmocka_unit_test(auroc_platt__known__values),
        cmocka_unit_test(model_backward__finite_differences__match),
        cmocka_unit_test(model_file__roundtrip_and_damage__checked),
        cmocka_unit_test(model_parse__oom__nomem),
        cmocka_unit_test(model_explain__contributions__exact),
        cmocka_unit_test(train__synthetic__joint_beats_baselines),
        cmocka_unit_test(predict__tables__rows_and_mismatch),
        cmocka_unit_test(stage_risk__patient__slot_and_row),
        cmocka_unit_test(train__no_split_column__stratified),
    };

    openblas_set_num_threads(1);
    return cmocka_run_group_tests_name("fusion_testdriver", tests, NULL,
                                       NULL);
}
