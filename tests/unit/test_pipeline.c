/*
 * test_pipeline.c - pipeline_testdriver: manifest reader, pipeline loader,
 * registry, format detection and the batch runner.
 *
 * The registry is replaced with -Wl,--wrap=mmdx__stage_find so that the
 * runner is exercised with test stages defined here; they live only in
 * this driver and are never shipped.
 */
#include "core/common.h"
#include "pipeline/stage.h"
#include "pipeline/cohort_int.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

/* ---- test stages ---------------------------------------------------------- */

struct tload_priv {
    long scale;
};

static void free_str(void *p)
{
    mmdx__free(p);
}

/* Reads its ECG input as text; "BAD" in it is a format error. */
static enum mmdx_status tload_process(struct mmdx_stage *s,
                                      struct mmdx_patient *p)
{
    struct tload_priv *pr = s->priv;
    char *data;
    size_t len;
    enum mmdx_status st;

    st = mmdx__file_read(s->ctx, p->path[MMDX_MOD_ECG], 1 << 20, &data,
                         &len);
    if (st)
        return st;
    if (strstr(data, "BAD")) {
        mmdx__free(data);
        return mmdx__fail(s->ctx, MMDX_E_FORMAT, "test.load",
                          p->path[MMDX_MOD_ECG], 1, "content",
                          "marker BAD found");
    }
    mmdx__patient_set_slot(p, MMDX_SLOT_ECG, data, free_str);
    return mmdx__featset_add(&p->features, "ecg.test.len_bytes",
                             (double)len * (double)pr->scale);
}

static const struct mmdx_param tload_params[] = {
    { "scale", MMDX_PARAM_INT, offsetof(struct tload_priv, scale), 1, NULL,
      1, 100, NULL, "multiplier" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

static const struct mmdx_stage_def tload = {
    MMDX_STAGE_ABI, "test.load", "test loader", 0,
    MMDX_SLOT_BIT(MMDX_SLOT_ECG), MMDX_MOD_ECG, tload_params,
    sizeof(struct tload_priv), NULL, tload_process, NULL
};

static enum mmdx_status tfeat_process(struct mmdx_stage *s,
                                      struct mmdx_patient *p)
{
    const char *text = p->slot[MMDX_SLOT_ECG];

    MMDX_UNUSED(s);
    mmdx__patient_flag(p, MMDX_MOD_ECG, "ecg.test.seen", "seen");
    return mmdx__featset_add(&p->features, "ecg.test.first_char",
                             text[0] ? (double)(unsigned char)text[0] : NAN);
}

static const struct mmdx_stage_def tfeat = {
    MMDX_STAGE_ABI, "test.feat", "test features",
    MMDX_SLOT_BIT(MMDX_SLOT_ECG), MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_ECG, NULL, 0, NULL, tfeat_process, NULL
};

static enum mmdx_status trec_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    MMDX_UNUSED(s);
    return mmdx__featset_add(&p->features, "record.test.one", 1);
}

static const struct mmdx_stage_def trec = {
    MMDX_STAGE_ABI, "test.rec", "test record", 0,
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES), MMDX_MOD_RECORD, NULL, 0, NULL,
    trec_process, NULL
};

const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name);
const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name)
{
    if (!strcmp(name, "test.load"))
        return &tload;
    if (!strcmp(name, "test.feat"))
        return &tfeat;
    if (!strcmp(name, "test.rec"))
        return &trec;
    return NULL;
}

static const char *good_pipeline =
    "<?xml version=\"1.0\"?>\n"
    "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">\n"
    "  <stage name=\"test.load\"><param name=\"scale\" value=\"2\"/></stage>\n"
    "  <stage name=\"test.feat\"/>\n"
    "  <stage name=\"test.rec\"/>\n"
    "</pipeline>\n";

/* ---- manifest --------------------------------------------------------------- */

static char *make_cohort(void)
{
    char *dir = test_tmpdir(), *p;

    test_write(dir, "a.txt", "hello");
    test_write(dir, "b.txt", "BAD data");
    test_write(dir, "r.xml", "<r/>");
    p = mmdx__path_join(dir, "rec");
    assert_int_equal(mkdir(p, 0750), 0);
    mmdx__free(p);
    test_write(dir, "rec/100.hea", "100 1 360 10\n");
    return dir;
}

static enum mmdx_status read_manifest(struct mmdx_ctx *ctx, const char *dir,
                                      const char *text,
                                      struct mmdx_manifest **m)
{
    char *p;
    enum mmdx_status st;

    test_write(dir, "manifest.tsv", text);
    p = mmdx__path_join(dir, "manifest.tsv");
    st = mmdx_manifest_read(ctx, p, true, m);
    mmdx__free(p);
    return st;
}

/* Ensure that a good manifest reads with labels, splits and paths. */
static void manifest__valid__rows(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = make_cohort();
    struct mmdx_manifest *m = NULL;

    (void)state;
    assert_int_equal(read_manifest(ctx, dir,
                                   "patient_id\tecg\trecord\tlabel\tsplit\t"
                                   "extra\n"
                                   "P1\ta.txt\tr.xml\t1\ttrain\tx\n"
                                   "# a comment\n"
                                   "P2\trec/100\t\t\ttest\t\n",
                                   &m),
                     MMDX_OK);
    assert_int_equal(mmdx_manifest_count(m), 2);
    assert_string_equal(mmdx_manifest_id(m, 0), "P1");
    assert_int_equal(mmdx_manifest_label(m, 0), 1);
    assert_int_equal(mmdx_manifest_label(m, 1), -1);
    assert_string_equal(mmdx_manifest_split(m, 1), "test");
    assert_null(mmdx_manifest_path(m, 1, "record"));
    /* a WFDB record named without extension resolves to its .hea */
    assert_non_null(strstr(mmdx_manifest_path(m, 1, "ecg"), "rec/100.hea"));
    mmdx_manifest_free(m);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that each kind of broken manifest (what makes the manifest
 * itself unreadable) is fatal and names its line and column. */
static void manifest__broken_rows__line_and_column(void **state)
{
    static const struct {
        const char *text, *expect;
        enum mmdx_status st;
    } cases[] = {
        { "", "header line is required", MMDX_E_FORMAT },
        { "ecg\tlabel\nP1\ta.txt\n", "patient_id", MMDX_E_FORMAT },
        { "patient_id\tecg\nP1\ta.txt\nP1\ta.txt\n",
          ":3: manifest: patient_id: duplicate patient_id (first on line 2)",
          MMDX_E_FORMAT },
        { "patient_id\tecg\nP1\ta.txt\textra\n",
          ":2: manifest: expected 2 tab-separated columns, got 3",
          MMDX_E_FORMAT },
        { "patient_id\tecg\nP/1\ta.txt\n", "patient_id must be",
          MMDX_E_FORMAT },
        { "patient_id\tecg\nP1\ta.txt\n\tr.xml\n",
          ":3: manifest: patient_id: patient_id must be", MMDX_E_FORMAT },
        { "patient_id\tecg\tecg\nP1\ta.txt\ta.txt\n", "repeats column 2",
          MMDX_E_FORMAT },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char *dir = make_cohort();
        struct mmdx_manifest *m = NULL;

        assert_int_equal(read_manifest(ctx, dir, cases[i].text, &m),
                         cases[i].st);
        assert_null(m);
        assert_error_has(ctx, cases[i].expect);
        test_rmtree(dir);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that each problem of one row is kept for that row (failing one
 * modality or the patient) while the manifest reads, naming line, column
 * and file, and that the row's path for that column is NULL. */
static void manifest__row_problems__kept_per_row(void **state)
{
    static const struct {
        const char *row;
        const char *expect;   /* the whole formatted problem, after dir */
        bool fails_patient;
        const char *column;   /* path column now NULL, or NULL */
    } cases[] = {
        { "P1\tnope.txt\t\t\t\n",
          "manifest.tsv:2: manifest: ecg: file not found: nope.txt", false,
          "ecg" },
        { "P1\t../a.txt\t\t\t\n",
          "manifest.tsv:2: manifest: ecg: path escapes the cohort folder "
          "(\"..\")", false, "ecg" },
        { "P1\t/etc/passwd\t\t\t\n",
          "manifest.tsv:2: manifest: ecg: path must be relative to the "
          "manifest's folder", false, "ecg" },
        { "P1\ta.txt\tyes\t\t\n",
          "manifest.tsv:2: manifest: label: label must be 0, 1 or empty, "
          "got \"yes\"", true, NULL },
        { "P1\ta.txt\t\ttset\t\n",
          "manifest.tsv:2: manifest: split: split must be train, valid, "
          "test or empty, got \"tset\"", true, NULL },
        { "P1\ta.txt\t\t\t2020-02-30\n",
          "manifest.tsv:2: manifest: study_date: study_date must be YYYY, "
          "YYYY-MM or YYYY-MM-DD", true, NULL },
        { "P1\tnope\x1b[2J.txt\t\t\t\n",
          "manifest.tsv:2: manifest: ecg: file not found: "
          "nope\\x1b[2J.txt", false, "ecg" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char *dir = make_cohort(), text[512], buf[1024];
        struct mmdx_manifest *m = NULL;
        bool fails = !cases[i].fails_patient;
        const char *got;

        snprintf(text, sizeof(text),
                 "patient_id\tecg\tlabel\tsplit\tstudy_date\n%s"
                 "P2\ta.txt\t1\ttest\t2020\n", cases[i].row);
        assert_int_equal(read_manifest(ctx, dir, text, &m), MMDX_OK);
        assert_int_equal(mmdx_manifest_count(m), 2);
        assert_int_equal(mmdx_manifest_nproblems(m, 0), 1);
        assert_int_equal(mmdx_manifest_nproblems(m, 1), 0);
        got = mmdx_manifest_problem(m, 0, 0, &fails, buf, sizeof(buf));
        assert_non_null(got);
        if (!strstr(got, cases[i].expect))
            fail_msg("case %zu: got \"%s\"", i, got);
        assert_true(fails == cases[i].fails_patient);
        if (cases[i].column)
            assert_null(mmdx_manifest_path(m, 0, cases[i].column));
        assert_null(mmdx_manifest_problem(m, 0, 1, NULL, buf, sizeof(buf)));
        assert_null(mmdx_manifest_problem(m, 1, 0, NULL, buf, sizeof(buf)));
        /* a bad label reads as unknown, a bad split as none */
        assert_int_equal(mmdx_manifest_label(m, 0), -1);
        assert_null(mmdx_manifest_split(m, 0));
        assert_int_equal(mmdx_manifest_label(m, 1), 1);
        assert_false(mmdx__ctx_has_error(ctx));
        mmdx_manifest_free(m);
        test_rmtree(dir);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that a symbolic link leading out of the cohort fails that cell
 * (a problem of the row), and that a mask problem or a mask_label without
 * a mask fail the image. */
static void manifest__symlink_escape__row_problem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = make_cohort(), *link, buf[1024];
    struct mmdx_manifest *m = NULL;
    const struct mmdx_manifest_row *r;
    bool fails = true;

    (void)state;
    link = mmdx__path_join(dir, "evil.txt");
    assert_int_equal(symlink("/etc/hostname", link), 0);
    assert_int_equal(read_manifest(ctx, dir,
                                   "patient_id\tecg\timage\tmask\tmask_label\n"
                                   "P1\tevil.txt\t\t\t\n"
                                   "P2\ta.txt\tr.xml\tnomask.nii\t\n"
                                   "P3\ta.txt\tr.xml\t\t2\n",
                                   &m),
                     MMDX_OK);
    assert_non_null(mmdx_manifest_problem(m, 0, 0, &fails, buf,
                                          sizeof(buf)));
    assert_non_null(strstr(buf, "manifest.tsv:2: manifest: ecg: path "
                                "escapes the cohort folder (through a "
                                "link)"));
    assert_false(fails);
    assert_null(mmdx_manifest_path(m, 0, "ecg"));
    r = &m->rows[0];
    assert_int_equal(r->problems[0].modality, MMDX_MOD_ECG);
    assert_string_equal(r->problems[0].file, link);
    r = &m->rows[1];
    assert_int_equal(r->nproblems, 1);
    assert_int_equal(r->problems[0].modality, MMDX_MOD_IMAGE);
    assert_int_equal(r->problems[0].code, MMDX_E_NOTFOUND);
    assert_string_equal(r->problems[0].column, "mask");
    assert_non_null(mmdx_manifest_path(m, 1, "image"));
    r = &m->rows[2];
    assert_int_equal(r->nproblems, 1);
    assert_int_equal(r->problems[0].modality, MMDX_MOD_IMAGE);
    assert_string_equal(r->problems[0].text,
                        "mask_label given without a mask");
    assert_false(r->patient_failed);
    mmdx_manifest_free(m);
    mmdx__free(link);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure in the manifest reader returns
 * E_NOMEM and leaks nothing. */
static void manifest__oom_loop__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = make_cohort(), *p;
    unsigned long n;

    (void)state;
    test_write(dir, "manifest.tsv",
               "patient_id\tecg\trecord\tlabel\nP1\ta.txt\tr.xml\t1\n"
               "P2\trec/100\t\t0\nP3\tnope.txt\t../r.xml\tyes\n");
    p = mmdx__path_join(dir, "manifest.tsv");
    for (n = 1; n < 1000; n++) {
        struct mmdx_manifest *m = NULL;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx_manifest_read(ctx, p, true, &m);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_int_equal(mmdx_manifest_nproblems(m, 2), 3);
            mmdx_manifest_free(m);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_null(m);
    }
    assert_true(n > 5 && n < 1000);
    mmdx__free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- pipeline --------------------------------------------------------------- */

static enum mmdx_status load_text(struct mmdx_ctx *ctx, const char *dir,
                                  const char *text,
                                  struct mmdx_pipeline **p)
{
    char *f;
    enum mmdx_status st;

    test_write(dir, "p.xml", text);
    f = mmdx__path_join(dir, "p.xml");
    st = mmdx_pipeline_load(ctx, f, p);
    mmdx__free(f);
    return st;
}

/* Ensure that a valid pipeline loads, with a hash of its bytes. */
static void pipeline__valid__loads(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_pipeline *p = NULL;

    (void)state;
    assert_int_equal(load_text(ctx, dir, good_pipeline, &p), MMDX_OK);
    assert_string_equal(mmdx_pipeline_name(p), "t");
    assert_int_equal(strlen(mmdx_pipeline_hash(p)), 64);
    assert_int_equal(mmdx__pipeline_nstages(p), 3);
    assert_string_equal(mmdx__pipeline_stage_name(p, 1), "test.feat");
    mmdx_pipeline_free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that schema, registry, parameter and wiring errors are caught
 * before any patient is read, naming the element or parameter. */
static void pipeline__invalid__named(void **state)
{
    static const struct {
        const char *text, *expect;
        enum mmdx_status st;
    } cases[] = {
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<stage/></pipeline>",
          "stage: Element '{urn:mmdx:pipeline:1}stage': The attribute 'name' "
          "is required", MMDX_E_SCHEMA },
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<bogus/></pipeline>", "bogus", MMDX_E_SCHEMA },
        { "<pipeline xmlns=\"urn:other\" name=\"t\" format=\"1\"/>",
          "No matching global declaration", MMDX_E_SCHEMA },
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<stage name=\"no.such\"/></pipeline>",
          "unknown stage \"no.such\"", MMDX_E_PIPELINE },
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<stage name=\"test.load\"><param name=\"gain\" value=\"1\"/>"
          "</stage></pipeline>",
          "stage test.load has no parameter \"gain\"", MMDX_E_PIPELINE },
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<stage name=\"test.load\"><param name=\"scale\" value=\"500\"/>"
          "</stage></pipeline>",
          "test.load.scale: expected 1..100, got 500", MMDX_E_PIPELINE },
        { "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" format=\"1\">"
          "<stage name=\"test.feat\"/><stage name=\"test.load\"/>"
          "</pipeline>",
          "stage test.feat needs \"ecg\" but no earlier stage provides it",
          MMDX_E_PIPELINE },
        { "<pipeline", "p.xml:1", MMDX_E_FORMAT },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char *dir = test_tmpdir();
        struct mmdx_pipeline *p = NULL;

        assert_int_equal(load_text(ctx, dir, cases[i].text, &p), cases[i].st);
        assert_null(p);
        assert_error_has(ctx, cases[i].expect);
        test_rmtree(dir);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that a pipeline file carrying an XML bomb is refused at once. */
static void pipeline__billion_laughs__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_pipeline *p = NULL;

    (void)state;
    assert_int_equal(
        load_text(ctx, dir,
                  "<!DOCTYPE p [<!ENTITY a \"aaaaaaaaaa\">"
                  "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
                  "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
                  "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
                  "format=\"1\"><description>&c;</description></pipeline>",
                  &p),
        MMDX_E_FORMAT);
    assert_error_has(ctx, "entity declarations are not allowed");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that stage help is generated from the parameter table. */
static void stage_help__params__listed(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *text = NULL;

    (void)state;
    assert_int_equal(mmdx_stage_help(ctx, "test.load", &text), MMDX_OK);
    assert_non_null(strstr(text, "scale"));
    assert_non_null(strstr(text, "default 1, range 1..100"));
    assert_non_null(strstr(text, "provides: ecg"));
    mmdx_free(text);
    assert_int_equal(mmdx_stage_help(ctx, "nope", &text), MMDX_E_NOTFOUND);
    mmdx_ctx_free(ctx);
}

/* ---- detection -------------------------------------------------------------- */

/* Ensure that formats are told from content on the real public files. */
static void detect__shared_files__by_content(void **state)
{
    static const struct {
        const char *rel;
        enum mmdx_format fmt;
        const char *mod;
    } cases[] = {
        { "dicom/CT_small.dcm", MMDX_FMT_DICOM, "image" },
        { "dicom/series_CT2", MMDX_FMT_DICOM_DIR, "image" },
        { "ecg/mitdb/100.hea", MMDX_FMT_WFDB_HEADER, "ecg" },
        { "ecg/mitdb/103.hea", MMDX_FMT_WFDB_HEADER, "ecg" },
        { "eeg/test_edf_stim_channel.edf", MMDX_FMT_EDF, "eeg" },
        { "eeg/test.edf", MMDX_FMT_EDFPLUS, "eeg" },
        { "eeg/test_bdf_stim_channel.bdf", MMDX_FMT_BDF, "eeg" },
        { "eeg/test_generator.bdf", MMDX_FMT_BDFPLUS, "eeg" },
        { "records/fhir-r4/IPS-bundle-01.xml", MMDX_FMT_FHIR_XML, "record" },
        { "records/ccda/CCD_2.xml", MMDX_FMT_CCDA_XML, "record" },
        { "ecg/aecg/Example_aECG.xml", MMDX_FMT_AECG_XML, "ecg" },
        { "ecg/mitdb/103.dat", MMDX_FMT_UNKNOWN, NULL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char *p;
        enum mmdx_format f;
        const char *mod;
        const char *base = getenv("MMDX_SHARED_DATA");

        if (!base)
            base = MMDX_SRCDIR "/../shared/data";
        p = mmdx__path_join(base, cases[i].rel);
        if (access(p, R_OK) != 0) { /* 100.hea is not shipped: fine */
            mmdx__free(p);
            mmdx_ctx_free(ctx);
            continue;
        }
        mod = mmdx_detect_modality(ctx, p, &f);
        if (f != cases[i].fmt)
            fail_msg("%s: got %s, want %s", cases[i].rel,
                     mmdx_format_name(f), mmdx_format_name(cases[i].fmt));
        if (cases[i].mod)
            assert_string_equal(mod, cases[i].mod);
        else
            assert_null(mod);
        mmdx__free(p);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that a file named .dcm but holding text is not called DICOM. */
static void detect__misnamed__unknown(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p;
    enum mmdx_format f;

    (void)state;
    test_write(dir, "fake.dcm", "just some text, not an image\n");
    p = mmdx__path_join(dir, "fake.dcm");
    assert_int_equal(mmdx_detect(ctx, p, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_UNKNOWN);
    mmdx__free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a device is refused unread as no regular file, and a
 * missing path as no such file. */
static void detect__device_missing__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    enum mmdx_format f;

    (void)state;
    assert_int_equal(mmdx_detect(ctx, "/dev/zero", &f), MMDX_E_FORMAT);
    assert_error_has(ctx, "not a regular file");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx_detect(ctx, "/nonexistent/x.edf", &f),
                     MMDX_E_NOTFOUND);
    assert_error_has(ctx, "no such file");
    mmdx_ctx_free(ctx);
}

/* ---- runner ----------------------------------------------------------------- */

static char *slurp(const char *dir, const char *rel)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = mmdx__path_join(dir, rel), *data = NULL;
    size_t len;

    if (mmdx__file_read(ctx, p, 1 << 24, &data, &len) != MMDX_OK)
        data = NULL;
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    return data;
}

static void run_cohort(const char *dir, const char *out, bool resume,
                       struct mmdx_run_summary *sum)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_run_opts o;
    char *man = mmdx__path_join(dir, "manifest.tsv");
    char *pipe = mmdx__path_join(dir, "p.xml");

    memset(&o, 0, sizeof(o));
    o.pipeline = pipe;
    o.manifest = man;
    o.out = out;
    o.jobs = 2;
    o.resume = resume;
    assert_int_equal(mmdx_run(ctx, &o, sum), MMDX_OK);
    mmdx__free(man);
    mmdx__free(pipe);
    mmdx_ctx_free(ctx);
}

/* Ensure that the runner writes the cohort tables: one row a patient,
 * sorted feature columns with NA, an error row for a failed modality while
 * the patient goes on, and a failed patient when nothing is usable. */
static void runner__cohort__tables(void **state)
{
    char *dir = make_cohort(), *out, *s;
    struct mmdx_run_summary sum;

    (void)state;
    test_write(dir, "p.xml", good_pipeline);
    test_write(dir, "manifest.tsv",
               "patient_id\tecg\trecord\tlabel\n"
               "P1\ta.txt\tr.xml\t1\n"
               "P2\tb.txt\tr.xml\t0\n"
               "P3\tb.txt\t\t\n");
    out = mmdx__path_join(dir, "out");
    run_cohort(dir, out, false, &sum);
    assert_int_equal(sum.total, 3);
    assert_int_equal(sum.ok, 1);
    assert_int_equal(sum.partial, 1);
    assert_int_equal(sum.failed, 1);
    s = slurp(out, "features.tsv");
    assert_non_null(s);
    assert_string_equal(s,
                        "patient_id\tecg.test.first_char\tecg.test.len_bytes"
                        "\trecord.test.one\n"
                        "P1\t104\t10\t1\n"
                        "P2\tNA\tNA\t1\n"
                        "P3\tNA\tNA\tNA\n");
    mmdx__free(s);
    s = slurp(out, "errors.tsv");
    assert_non_null(s);
    assert_non_null(strstr(s, "patient_id\tmodality\tfile\tstage\tcode\t"
                              "message\n"));
    assert_non_null(strstr(s, "\nP2\tecg\t"));
    assert_non_null(strstr(s, "b.txt\ttest.load\tE_FORMAT\t"));
    assert_non_null(strstr(s, "content: marker BAD found"));
    assert_non_null(strstr(s, "\nP3\tecg\t"));
    mmdx__free(s);
    s = slurp(out, "run.xml");
    assert_non_null(s);
    assert_non_null(strstr(s, "ok=\"1\" partial=\"1\" failed=\"1\""));
    assert_non_null(strstr(s, "<input patient=\"P1\" modality=\"ecg\" "
                              "sha256=\"2cf24dba5fb0a30e26e83b2ac5b9e29e"
                              "1b161e5c1fa7425e73043362938b9824\"/>"));
    mmdx__free(s);
    s = slurp(out, "patients/P1/status");
    assert_non_null(strstr(s, "status ok\n"));
    mmdx__free(s);
    /* resume: nothing changed, nothing recomputed */
    run_cohort(dir, out, true, &sum);
    assert_int_equal(sum.skipped, 3);
    /* an input changes: only that patient reruns */
    test_write(dir, "a.txt", "hello again");
    run_cohort(dir, out, true, &sum);
    assert_int_equal(sum.skipped, 2);
    assert_int_equal(sum.ok, 1);
    s = slurp(out, "features.tsv");
    assert_non_null(strstr(s, "P1\t104\t22\t1\n"));
    mmdx__free(s);
    mmdx__free(out);
    test_rmtree(dir);
}

/* Ensure that a row's manifest problems fail only that patient (one
 * errors.tsv row each, naming file, column and line), the other patients
 * run, the run completes, and --resume reruns a patient once its cell is
 * fixed. */
static void runner__manifest_problems__patient_only(void **state)
{
    char *dir = make_cohort(), *out, *s;
    struct mmdx_run_summary sum;

    (void)state;
    test_write(dir, "p.xml", good_pipeline);
    test_write(dir, "manifest.tsv",
               "patient_id\tecg\trecord\tlabel\n"
               "P1\ta.txt\tr.xml\t1\n"
               "P2\tnope.txt\tr.xml\t0\n"
               "P3\tnope.txt\t\t\n"
               "P4\ta.txt\tr.xml\tyes\n"
               "P5\t../a.txt\tr.xml\t\n");
    out = mmdx__path_join(dir, "out");
    run_cohort(dir, out, false, &sum);
    assert_int_equal(sum.total, 5);
    assert_int_equal(sum.ok, 1);
    assert_int_equal(sum.partial, 2);
    assert_int_equal(sum.failed, 2);
    s = slurp(out, "features.tsv");
    assert_non_null(s);
    assert_string_equal(s,
                        "patient_id\tecg.test.first_char\tecg.test.len_bytes"
                        "\trecord.test.one\n"
                        "P1\t104\t10\t1\n"
                        "P2\tNA\tNA\t1\n"
                        "P3\tNA\tNA\tNA\n"
                        "P4\tNA\tNA\tNA\n"
                        "P5\tNA\tNA\t1\n");
    mmdx__free(s);
    s = slurp(out, "errors.tsv");
    assert_non_null(s);
    /* exactly one row per problem: the runner adds none of its own */
    assert_non_null(strstr(s, "\nP2\tecg\t"));
    assert_non_null(strstr(s, "/nope.txt\tmanifest\tE_NOTFOUND\t"));
    assert_non_null(strstr(s, "manifest.tsv:3: ecg: file not found: "
                              "nope.txt\n"));
    assert_non_null(strstr(s, "manifest.tsv:4: ecg: file not found: "
                              "nope.txt\n"));
    assert_non_null(strstr(s, "\nP4\tpatient\t\tmanifest\tE_FORMAT\t"));
    assert_non_null(strstr(s, "manifest.tsv:5: label: label must be 0, 1 "
                              "or empty, got \"yes\"\n"));
    assert_non_null(strstr(s, "\nP5\tecg\t"));
    assert_non_null(strstr(s, "manifest.tsv:6: ecg: path escapes the "
                              "cohort folder (\"..\")\n"));
    {
        size_t lines = 0;
        const char *c;

        for (c = s; *c; c++)
            lines += *c == '\n';
        assert_int_equal(lines, 5); /* header + 4 */
    }
    mmdx__free(s);
    s = slurp(out, "patients/P4/status");
    assert_non_null(strstr(s, "status failed\n"));
    mmdx__free(s);
    /* resume: nothing changed, nothing recomputed */
    run_cohort(dir, out, true, &sum);
    assert_int_equal(sum.skipped, 5);
    /* the missing file appears, the label is fixed: those two rerun */
    test_write(dir, "nope.txt", "now here");
    test_write(dir, "manifest.tsv",
               "patient_id\tecg\trecord\tlabel\n"
               "P1\ta.txt\tr.xml\t1\n"
               "P2\tnope.txt\tr.xml\t0\n"
               "P3\tnope.txt\t\t\n"
               "P4\ta.txt\tr.xml\t1\n"
               "P5\t../a.txt\tr.xml\t\n");
    run_cohort(dir, out, true, &sum);
    assert_int_equal(sum.skipped, 2);
    assert_int_equal(sum.ok, 3);
    s = slurp(out, "errors.tsv");
    assert_null(strstr(s, "P2\t"));
    assert_null(strstr(s, "P4\t"));
    assert_non_null(strstr(s, "\nP5\tecg\t"));
    mmdx__free(s);
    mmdx__free(out);
    test_rmtree(dir);
}

/* Ensure that shards split the rows deterministically. */
static void runner__shard__rows_split(void **state)
{
    char *dir = make_cohort(), *out, *s;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_run_opts o;
    struct mmdx_run_summary sum;
    char *man, *pipe;

    (void)state;
    test_write(dir, "p.xml", good_pipeline);
    test_write(dir, "manifest.tsv",
               "patient_id\tecg\nP1\ta.txt\nP2\ta.txt\nP3\ta.txt\n");
    out = mmdx__path_join(dir, "out1");
    man = mmdx__path_join(dir, "manifest.tsv");
    pipe = mmdx__path_join(dir, "p.xml");
    memset(&o, 0, sizeof(o));
    o.pipeline = pipe;
    o.manifest = man;
    o.out = out;
    o.jobs = 1;
    o.shard_k = 1;
    o.shard_n = 2;
    assert_int_equal(mmdx_run(ctx, &o, &sum), MMDX_OK);
    assert_int_equal(sum.total, 1);
    s = slurp(out, "features.tsv");
    assert_non_null(strstr(s, "\nP2\t"));
    assert_null(strstr(s, "\nP1\t"));
    mmdx__free(s);
    o.shard_k = 2;
    assert_int_equal(mmdx_run(ctx, &o, &sum), MMDX_E_USAGE);
    mmdx__free(man);
    mmdx__free(pipe);
    mmdx__free(out);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that scanning patient folders writes a manifest by content. */
static void scan__patient_folders__manifest(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *s, *p;
    size_t n = 0;

    (void)state;
    p = mmdx__path_join(dir, "S001");
    assert_int_equal(mkdir(p, 0750), 0);
    mmdx__free(p);
    test_write(dir, "S001/rec.hea", "rec 1 360 100\nrec.dat 212 200 11 1024 0 0 0 MLII\n");
    test_write(dir, "S001/rec.dat", "\x01\x02");
    test_write(dir, "S001/notes.txt", "not an input");
    test_write(dir, "S001/fhir.xml",
               "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/></Bundle>");
    assert_int_equal(mmdx_manifest_scan(ctx, dir, NULL, &n), MMDX_OK);
    assert_int_equal(n, 1);
    s = slurp(dir, "manifest.tsv");
    assert_string_equal(s, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                           "mask_label\tlabel\tsplit\n"
                           "S001\t\tS001/rec.hea\t\tS001/fhir.xml\t\t\t\t\n");
    mmdx__free(s);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

struct warnings {
    char text[4096];
};

static void keep_warnings(void *user, enum mmdx_log_level level,
                          const char *prefix, const char *msg)
{
    struct warnings *w = user;
    size_t n = strlen(w->text);

    (void)prefix;
    if (level == MMDX_LOG_WARN)
        snprintf(w->text + n, sizeof(w->text) - n, "%s\n", msg);
}

static void make_dir(const char *dir, const char *rel)
{
    char *p = mmdx__path_join(dir, rel);

    assert_int_equal(mkdir(p, 0750), 0);
    mmdx__free(p);
}

/* Ensure that patient folders whose names cannot be a patient_id are
 * skipped with a warning each (name escaped, reason given) and
 * E_MISMATCH, and that the manifest written holds the others. */
static void scan__bad_folder_names__warned(void **state)
{
    static const char fhir[] =
        "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/>"
        "</Bundle>";
    struct mmdx_ctx *ctx = test_ctx();
    struct warnings w;
    char *dir = test_tmpdir(), *s, name[80];
    size_t n = 0;
    const char *folders[4] = { "P 3", "\xc3\xbc" "ber", NULL, "ok" };
    int i;

    (void)state;
    memset(name, 'x', 70);
    name[70] = '\0';
    folders[2] = name;
    for (i = 0; i < 4; i++) {
        char rel[128];

        make_dir(dir, folders[i]);
        snprintf(rel, sizeof(rel), "%s/r.xml", folders[i]);
        test_write(dir, rel, fhir);
    }
    make_dir(dir, "esc\x1b[31m");
    test_write(dir, "notes.txt", "a file beside the folders: ignored");
    make_dir(dir, ".hidden");
    memset(&w, 0, sizeof(w));
    mmdx_ctx_set_log(ctx, keep_warnings, &w, MMDX_LOG_WARN);
    assert_int_equal(mmdx_manifest_scan(ctx, dir, NULL, &n),
                     MMDX_E_MISMATCH);
    assert_int_equal(n, 1);
    assert_error_has(ctx, "4 folders skipped (see the warnings)");
    assert_string_equal(
        w.text,
        "folder \"P 3\" skipped: the name has characters other than A-Z "
        "a-z 0-9 . _ -, so it cannot be a patient_id\n"
        "folder \"esc\\x1b[31m\" skipped: the name has characters other "
        "than A-Z a-z 0-9 . _ -, so it cannot be a patient_id\n"
        "folder \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxx\" skipped: the name is longer than 64 characters, so "
        "it cannot be a patient_id\n"
        "folder \"\\xc3\\xbcber\" skipped: the name has characters other "
        "than A-Z a-z 0-9 . _ -, so it cannot be a patient_id\n");
    s = slurp(dir, "manifest.tsv");
    assert_string_equal(s, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                           "mask_label\tlabel\tsplit\n"
                           "ok\t\t\t\tok/r.xml\t\t\t\t\n");
    mmdx__free(s);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the scan applies the rule of the manifest reader: a file
 * or patient folder reached through a link leading out of the cohort
 * folder (or nowhere) is left out with a warning, a link inside it is
 * kept, a file that cannot be read (here a pipe) is left out with a
 * warning, and the manifest written reads without a problem. */
static void scan__links_out__left_out(void **state)
{
    static const char fhir[] =
        "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"collection\"/>"
        "</Bundle>";
    struct mmdx_ctx *ctx = test_ctx();
    struct warnings w;
    char *dir = test_tmpdir(), *out = test_tmpdir(), *s, *p, *t;
    struct mmdx_manifest *m = NULL;
    size_t n = 0;

    (void)state;
    test_write(out, "r.xml", fhir);
    make_dir(out, "P9");
    test_write(out, "P9/r.xml", fhir);
    make_dir(dir, "P1");
    make_dir(dir, "P2");
    test_write(dir, "P2/r.xml", fhir);
    p = mmdx__path_join(dir, "P1/r.xml");
    t = mmdx__path_join(out, "r.xml");
    assert_int_equal(symlink(t, p), 0);        /* out of the folder */
    mmdx__free(p);
    mmdx__free(t);
    p = mmdx__path_join(dir, "P1/e.edf");
    assert_int_equal(symlink("/nonexistent/e.edf", p), 0);   /* nowhere */
    mmdx__free(p);
    p = mmdx__path_join(dir, "P1/inside.xml");
    assert_int_equal(symlink("../P2/r.xml", p), 0);         /* inside */
    mmdx__free(p);
    p = mmdx__path_join(dir, "P1/fifo.edf");
    assert_int_equal(mkfifo(p, 0600), 0);      /* there, not a file */
    mmdx__free(p);
    p = mmdx__path_join(dir, "P3");
    t = mmdx__path_join(out, "P9");
    assert_int_equal(symlink(t, p), 0);        /* a whole folder out */
    mmdx__free(p);
    mmdx__free(t);
    memset(&w, 0, sizeof(w));
    mmdx_ctx_set_log(ctx, keep_warnings, &w, MMDX_LOG_WARN);
    assert_int_equal(mmdx_manifest_scan(ctx, dir, NULL, &n),
                     MMDX_E_MISMATCH);
    assert_int_equal(n, 2);
    assert_error_has(ctx, "1 folder skipped, 3 files left out");
    assert_string_equal(w.text,
                        "P1/e.edf: cannot resolve (No such file or "
                        "directory): left out\n"
                        "P1/fifo.edf: not a regular file (a device, pipe "
                        "or socket): left out\n"
                        "P1/r.xml: it leads out of the cohort folder "
                        "through a link: left out\n"
                        "P3: it leads out of the cohort folder through a "
                        "link: left out\n");
    s = slurp(dir, "manifest.tsv");
    assert_string_equal(s, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                           "mask_label\tlabel\tsplit\n"
                           "P1\t\t\t\tP1/inside.xml\t\t\t\t\n"
                           "P2\t\t\t\tP2/r.xml\t\t\t\t\n");
    mmdx__free(s);
    mmdx_ctx_clear_error(ctx);
    p = mmdx__path_join(dir, "manifest.tsv");
    assert_int_equal(mmdx_manifest_read(ctx, p, true, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_nproblems(m, 0), 0);
    assert_int_equal(mmdx_manifest_nproblems(m, 1), 0);
    mmdx_manifest_free(m);
    mmdx__free(p);
    test_rmtree(dir);
    test_rmtree(out);
    mmdx_ctx_free(ctx);
}

/* Ensure that a manifest written above DIR gets paths relative to its own
 * folder (which the reader resolves), and that one written beside DIR,
 * where no path could reach DIR without "..", is refused with E_USAGE and
 * nothing written. */
static void scan__out_outside_dir__prefixed_or_refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *top = test_tmpdir(), *dir, *p, *s;
    struct mmdx_manifest *m = NULL;
    size_t n = 0;

    (void)state;
    make_dir(top, "coh");
    make_dir(top, "else");
    make_dir(top, "coh/S1");
    test_write(top, "coh/S1/r.xml",
               "<Bundle xmlns=\"http://hl7.org/fhir\"><type "
               "value=\"collection\"/></Bundle>");
    dir = mmdx__path_join(top, "coh");
    p = mmdx__path_join(top, "m.tsv");
    assert_int_equal(mmdx_manifest_scan(ctx, dir, p, &n), MMDX_OK);
    assert_int_equal(n, 1);
    s = slurp(top, "m.tsv");
    assert_string_equal(s, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                           "mask_label\tlabel\tsplit\n"
                           "S1\t\t\t\tcoh/S1/r.xml\t\t\t\t\n");
    mmdx__free(s);
    assert_int_equal(mmdx_manifest_read(ctx, p, true, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_nproblems(m, 0), 0);
    assert_non_null(mmdx_manifest_path(m, 0, "record"));
    mmdx_manifest_free(m);
    mmdx__free(p);
    p = mmdx__path_join(top, "else/m.tsv");
    assert_int_equal(mmdx_manifest_scan(ctx, dir, p, &n), MMDX_E_USAGE);
    assert_error_has(ctx, "/coh or a folder above it: its paths are "
                          "relative to its own folder and may not leave "
                          "it");
    assert_false(mmdx__is_file(p));
    mmdx__free(p);
    mmdx__free(dir);
    test_rmtree(top);
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure in the scan (warnings, links,
 * prefix included) returns E_NOMEM, leaks nothing and writes nothing. */
static void scan__oom_loop__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *top = test_tmpdir(), *dir, *p, *mf;
    unsigned long k;

    (void)state;
    make_dir(top, "coh");
    make_dir(top, "coh/S1");
    make_dir(top, "coh/S 2");
    test_write(top, "coh/S1/r.xml",
               "<Bundle xmlns=\"http://hl7.org/fhir\"><type "
               "value=\"collection\"/></Bundle>");
    test_write(top, "coh/S1/rec.hea",
               "rec 1 360 100\nrec.dat 212 200 11 1024 0 0 0 MLII\n");
    p = mmdx__path_join(top, "coh/S1/e.edf");
    assert_int_equal(symlink("/nonexistent", p), 0);
    mmdx__free(p);
    dir = mmdx__path_join(top, "coh");
    mf = mmdx__path_join(top, "m.tsv");
    for (k = 1; k < 5000; k++) {
        enum mmdx_status st;
        size_t n = 0;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(k);
        st = mmdx_manifest_scan(ctx, dir, mf, &n);
        mmdx__alloc_fail_at(0);
        if (st != MMDX_E_NOMEM) {
            assert_int_equal(st, MMDX_E_MISMATCH);
            assert_int_equal(n, 1);
            break;
        }
        assert_false(mmdx__is_file(mf));
    }
    assert_true(k > 5 && k < 5000);
    p = slurp(top, "m.tsv");
    assert_string_equal(p, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                           "mask_label\tlabel\tsplit\n"
                           "S1\t\tcoh/S1/rec.hea\t\tcoh/S1/r.xml\t\t\t\t\n");
    mmdx__free(p);
    mmdx__free(mf);
    mmdx__free(dir);
    test_rmtree(top);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manifest__valid__rows),
        cmocka_unit_test(manifest__broken_rows__line_and_column),
        cmocka_unit_test(manifest__row_problems__kept_per_row),
        cmocka_unit_test(manifest__symlink_escape__row_problem),
        cmocka_unit_test(manifest__oom_loop__nomem),
        cmocka_unit_test(pipeline__valid__loads),
        cmocka_unit_test(pipeline__invalid__named),
        cmocka_unit_test(pipeline__billion_laughs__refused),
        cmocka_unit_test(stage_help__params__listed),
        cmocka_unit_test(detect__shared_files__by_content),
        cmocka_unit_test(detect__misnamed__unknown),
        cmocka_unit_test(detect__device_missing__named),
        cmocka_unit_test(runner__cohort__tables),
        cmocka_unit_test(runner__manifest_problems__patient_only),
        cmocka_unit_test(runner__shard__rows_split),
        cmocka_unit_test(scan__patient_folders__manifest),
        cmocka_unit_test(scan__bad_folder_names__warned),
        cmocka_unit_test(scan__links_out__left_out),
        cmocka_unit_test(scan__out_outside_dir__prefixed_or_refused),
        cmocka_unit_test(scan__oom_loop__nomem),
    };

    return cmocka_run_group_tests_name("pipeline_testdriver", tests, NULL,
                                       NULL);
}
