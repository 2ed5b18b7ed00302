/* test_synth.c - synth_testdriver: the synthetic cohort generator. */
#include "core/common.h"
#include "test_util.h"
#include "core/xml.h"
#include "mmdx/format.h"
#include "synth/synth_int.h"
#include "io/edf.h"
#include "io/dicom.h"
#include "io/image.h"
#include "io/record.h"
#include "io/signal.h"
#include "pipeline/stage.h"
#include "pipeline/deid.h"

/* A small, fast cohort: 10 s ECGs, 4 s EEGs, small images. */
static void small_opts(struct mmdx_synth_opts *o, const char *dir, size_t n)
{
    mmdx_synth_opts_init(o);
    o->n = n;
    o->seed = 42;
    o->out_dir = dir;
    o->ecg_seconds = 10;
    o->eeg_seconds = 4;
    o->image_slices = 1;
    o->image_size = 64;
    o->mc_samples = 200;
}

static char *slurp(const char *dir, const char *rel, size_t *len)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = mmdx__path_join(dir, rel), *data = NULL;
    size_t n = 0;

    assert_non_null(p);
    assert_int_equal(mmdx__file_read(ctx, p, (size_t)1 << 28, &data, &n),
                     MMDX_OK);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    if (len)
        *len = n;
    return data;
}

/* Split a TSV line in place into at most max cells; returns the count. */
static int cells(char *line, char **c, int max)
{
    int n = 0;

    while (n < max) {
        c[n++] = line;
        line = strchr(line, '\t');
        if (!line)
            break;
        *line++ = '\0';
    }
    return n;
}

/* The column index of name in a TSV header line (copy). */
static int column(const char *header, const char *name)
{
    char *h = mmdx__strdup(header), *c[64], *nl;
    int n, i, r = -1;

    assert_non_null(h);
    nl = strchr(h, '\n');
    if (nl)
        *nl = '\0';
    n = cells(h, c, 64);
    for (i = 0; i < n; i++)
        if (!strcmp(c[i], name))
            r = i;
    mmdx__free(h);
    return r;
}

/* Ensure that one (seed, patient, stream) gives one sequence and that
 * streams and patients differ. */
static void rng__same_seed__same_sequence(void **state)
{
    struct synth_rng a, b, c;
    int i, same = 0;

    (void)state;
    mmdx__synth_rng_seed(&a, 9, 3, SYNTH_S_ECG);
    mmdx__synth_rng_seed(&b, 9, 3, SYNTH_S_ECG);
    mmdx__synth_rng_seed(&c, 9, 3, SYNTH_S_EEG);
    for (i = 0; i < 100; i++) {
        uint64_t x = mmdx__synth_rng_u64(&a);

        assert_true(x == mmdx__synth_rng_u64(&b));
        same += x == mmdx__synth_rng_u64(&c);
    }
    assert_int_equal(same, 0);
}

/* Ensure that the normal generator has mean 0 and variance 1 (100000
 * draws: tolerance 5 standard errors, 0.016 and 0.022). */
static void rng_normal__many__unit_moments(void **state)
{
    struct synth_rng r;
    double s = 0, ss = 0;
    int i, n = 100000;

    (void)state;
    mmdx__synth_rng_seed(&r, 1, 0, 1);
    for (i = 0; i < n; i++) {
        double x = mmdx__synth_normal(&r);

        s += x;
        ss += x * x;
    }
    assert_true(fabs(s / n) < 0.016);
    assert_true(fabs(ss / n - 1.0) < 0.022);
}

/* Ensure that the soft-label AUROC is 1 for a perfect ranking of hard
 * labels, 0 reversed, 0.5 for ties, and the pair formula otherwise. */
static void soft_auroc__known_cases__exact(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    double p[4] = { 0, 0, 1, 1 }, s[4] = { 1, 2, 3, 4 }, r[4] = { 4, 3, 2, 1 };
    double t[4] = { 1, 1, 1, 1 }, q[3] = { 0.5, 0.2, 0.9 };
    double sq[3] = { 2, 1, 3 }, auc;

    (void)state;
    assert_int_equal(mmdx__synth_soft_auroc(ctx, s, p, 4, &auc), MMDX_OK);
    assert_true(fabs(auc - 1.0) < 1e-12);
    assert_int_equal(mmdx__synth_soft_auroc(ctx, r, p, 4, &auc), MMDX_OK);
    assert_true(fabs(auc) < 1e-12);
    assert_int_equal(mmdx__synth_soft_auroc(ctx, t, p, 4, &auc), MMDX_OK);
    assert_true(fabs(auc - 0.5) < 1e-12);
    /* By hand: pairs (i pos, j neg), i != j, weight p_i (1 - p_j):
     * num = sum over s_i > s_j, den = sum over all i != j. */
    {
        double num = 0, den = 0;
        int i, j;

        for (i = 0; i < 3; i++)
            for (j = 0; j < 3; j++) {
                if (i == j)
                    continue;
                den += q[i] * (1 - q[j]);
                if (sq[i] > sq[j])
                    num += q[i] * (1 - q[j]);
            }
        assert_int_equal(mmdx__synth_soft_auroc(ctx, sq, q, 3, &auc),
                         MMDX_OK);
        assert_true(fabs(auc - num / den) < 1e-12);
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that the model's AUROCs are ordered as designed: all modalities
 * beat each one alone, and each modality carries some signal. */
static void synth_auroc__model__fusion_beats_each(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_synth_auroc a;

    (void)state;
    assert_int_equal(mmdx_synth_auroc(ctx, 5, 3000, 0.2, &a), MMDX_OK);
    assert_true(a.prevalence > 0.1 && a.prevalence < 0.3);
    assert_true(a.bayes_all > a.bayes_missing);
    assert_true(a.bayes_all > a.image + 0.05);
    assert_true(a.bayes_all > a.ecg + 0.05);
    assert_true(a.bayes_all > a.eeg + 0.05);
    assert_true(a.bayes_all > a.record + 0.05);
    assert_true(a.image > 0.55 && a.ecg > 0.55 && a.eeg > 0.55 &&
                a.record > 0.55);
    mmdx_ctx_free(ctx);
}

/* Ensure that one seed gives the same bytes, with 1 or 2 workers, and
 * another seed different ones. */
static void synth_run__same_seed__same_bytes(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d1 = test_tmpdir(), *d2 = test_tmpdir(), *d3 = test_tmpdir();
    char h1[MMDX_SHA256_HEX], h2[MMDX_SHA256_HEX], h3[MMDX_SHA256_HEX];
    struct mmdx_synth_opts o;
    struct mmdx_synth_summary s;

    (void)state;
    small_opts(&o, d1, 4);
    o.plant_phi = 1;
    assert_int_equal(mmdx_synth_run(ctx, &o, &s), MMDX_OK);
    assert_int_equal(s.patients, 4);
    small_opts(&o, d2, 4);
    o.plant_phi = 1;
    o.jobs = 2;
    assert_int_equal(mmdx_synth_run(ctx, &o, &s), MMDX_OK);
    small_opts(&o, d3, 4);
    o.plant_phi = 1;
    o.seed = 43;
    assert_int_equal(mmdx_synth_run(ctx, &o, &s), MMDX_OK);
    assert_int_equal(mmdx__sha256_path(ctx, d1, h1), MMDX_OK);
    assert_int_equal(mmdx__sha256_path(ctx, d2, h2), MMDX_OK);
    assert_int_equal(mmdx__sha256_path(ctx, d3, h3), MMDX_OK);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
    /* Patient folders too (sha256_path hashes regular files only). */
    {
        static const char *const rel[] = {
            "SYN00001/record.xml", "SYN00002/eeg.edf", "SYN00003/record.xml",
            "SYN00001/ct/ct001.dcm", "SYN00002/ct/ct001.dcm",
            "SYN00003/ct/ct001.dcm", "SYN00004/ct/ct001.dcm"
        };
        size_t i, n1, n2;

        for (i = 0; i < MMDX_ARRAY_SIZE(rel); i++) {
            char *a, *b;

            if (strstr(rel[i], ".dcm") && !mmdx__synth_have_image())
                continue;
            a = slurp(d1, rel[i], &n1);
            b = slurp(d2, rel[i], &n2);

            assert_int_equal(n1, n2);
            assert_memory_equal(a, b, n1);
            mmdx__free(a);
            mmdx__free(b);
        }
    }
    test_rmtree(d1);
    test_rmtree(d2);
    test_rmtree(d3);
    mmdx_ctx_free(ctx);
}

/* Ensure that every manifest file is detected, by content, as the format
 * and modality of its column. */
static void synth_run__files__detected_by_content(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *man, *line, *next;
    struct mmdx_synth_opts o;
    int rows = 0, seen_ccda = 0, seen_fhir = 0, seen_wfdb = 0, seen_edf = 0;

    (void)state;
    small_opts(&o, d, 12);
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    man = slurp(d, "manifest.tsv", NULL);
    assert_non_null(strstr(man, "patient_id\timage\tecg\teeg\trecord\tlabel"
                                "\tsplit\tstudy_date\n"));
    for (line = strchr(man, '\n') + 1; *line; line = next) {
        char *c[8], *nl = strchr(line, '\n');
        int m;

        next = nl + 1;
        *nl = '\0';
        assert_int_equal(cells(line, c, 8), 8);
        rows++;
        for (m = 1; m <= 4; m++) {
            static const char *const mods[5] = { NULL, "image", "ecg", "eeg",
                                                 "record" };
            enum mmdx_format f;
            char *p;
            const char *got;

            if (!c[m][0])
                continue;
            p = mmdx__path_join(d, c[m]);
            got = mmdx_detect_modality(ctx, p, &f);
            assert_non_null(got);
            assert_string_equal(got, mods[m]);
            seen_ccda += f == MMDX_FMT_CCDA_XML;
            seen_fhir += f == MMDX_FMT_FHIR_XML;
            seen_wfdb += f == MMDX_FMT_WFDB_HEADER;
            seen_edf += m == 2 && (f == MMDX_FMT_EDFPLUS);
            mmdx__free(p);
        }
        assert_true(!strcmp(c[5], "0") || !strcmp(c[5], "1"));
        assert_int_equal(strlen(c[7]), 4);
    }
    assert_int_equal(rows, 12);
    assert_true(seen_ccda > 0 && seen_fhir > 0 && seen_wfdb > 0 &&
                seen_edf > 0);
    mmdx__free(man);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Read a MIT annotation file: the samples of beat annotations (code 1). */
static size_t read_atr(const unsigned char *b, size_t n, size_t *out,
                       size_t max)
{
    size_t i = 0, t = 0, k = 0;

    while (i + 1 < n) {
        unsigned w = b[i] | (unsigned)b[i + 1] << 8;
        unsigned code = w >> 10, v = w & 0x3ff;

        i += 2;
        if (w == 0)
            break;
        if (code == 59) {           /* SKIP: PDP-11 32-bit interval */
            t += ((size_t)(b[i] | b[i + 1] << 8) << 16) |
                 (size_t)(b[i + 2] | b[i + 3] << 8);
            i += 4;
        } else if (code == 63) {    /* AUX: v bytes, padded */
            i += v + (v & 1);
        } else {
            t += v;
            if (code == 1 && k < max)
                out[k++] = t;
        }
    }
    return k;
}

/* Ensure that the R peaks of truth.tsv are the beats of the .atr file,
 * and sit on local maxima of lead II in the .dat file. */
static void synth_ecg__truth_rpeaks__match_atr(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *tru, *line, *next;
    struct mmdx_synth_opts o;
    int col_r, col_f, checked = 0;

    (void)state;
    small_opts(&o, d, 8);
    o.ecg_seconds = 30;
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    tru = slurp(d, "truth.tsv", NULL);
    col_r = column(tru, "rpeaks");
    col_f = column(tru, "ecg_format");
    assert_true(col_r > 0 && col_f > 0);
    for (line = strchr(tru, '\n') + 1; *line; line = next) {
        char *c[64], *nl = strchr(line, '\n'), rel[64], *s;
        size_t atr[512], natr, len, dlen, k = 0;
        unsigned char *a, *dat;

        next = nl + 1;
        *nl = '\0';
        cells(line, c, 64);
        if (strcmp(c[col_f], "wfdb") != 0)
            continue;
        snprintf(rel, sizeof(rel), "%s/ecg.atr", c[0]);
        a = (unsigned char *)slurp(d, rel, &len);
        natr = read_atr(a, len, atr, 512);
        snprintf(rel, sizeof(rel), "%s/ecg.dat", c[0]);
        dat = (unsigned char *)slurp(d, rel, &dlen);
        for (s = c[col_r]; *s; k++) {
            long v, x0, xm, xp;
            char *e = strchr(s, ',');
            size_t q;

            if (e)
                *e = '\0';
            assert_true(mmdx__parse_long(s, &v));
            assert_true(k < natr);
            assert_int_equal((size_t)v, atr[k]);
            /* Lead II samples (format 212, first of each 3-byte pair). */
            q = (size_t)v;
#define S212(i) ((long)(int16_t)(uint16_t)((dat[3 * (i)] |                   \
                  (dat[3 * (i) + 1] & 0x0f) << 8) << 4) >> 4)
            if (q > 0 && q + 1 < dlen / 3) {
                x0 = S212(q);
                xm = S212(q - 1);
                xp = S212(q + 1);
                /* Noise of 0.012 mV (2.4 adu) may shift the sample peak
                 * by one; the R peak stays within 3 adu of the maximum. */
                assert_true(x0 + 6 >= xm && x0 + 6 >= xp);
                assert_true(x0 > 100);   /* > 0.5 mV: an R wave */
            }
#undef S212
            s = e ? e + 1 : s + strlen(s);
        }
        assert_int_equal(k, natr);
        checked++;
        mmdx__free(a);
        mmdx__free(dat);
    }
    assert_true(checked > 0);
    mmdx__free(tru);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that records give sex and birth year (only) consistent with the
 * truth's age and the manifest's study year. */
static void synth_record__demographics__match_truth(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *tru, *man, *line, *next, *mline;
    struct mmdx_synth_opts o;
    int col_age, col_male, checked = 0;

    (void)state;
    small_opts(&o, d, 10);
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    tru = slurp(d, "truth.tsv", NULL);
    man = slurp(d, "manifest.tsv", NULL);
    col_age = column(tru, "age_y");
    col_male = column(tru, "male");
    mline = strchr(man, '\n') + 1;
    for (line = strchr(tru, '\n') + 1; *line; line = next) {
        char *c[64], *m[8], *nl = strchr(line, '\n'), *rec, *b;
        char *mnl = strchr(mline, '\n'), want[64];
        long age, year;

        next = nl + 1;
        *nl = '\0';
        *mnl = '\0';
        cells(line, c, 64);
        cells(mline, m, 8);
        mline = mnl + 1;
        assert_string_equal(c[0], m[0]);
        assert_true(mmdx__parse_long(c[col_age], &age));
        assert_true(mmdx__parse_long(m[7], &year));
        assert_true(age >= 40 && age <= 89);
        rec = slurp(d, m[4], NULL);
        if (strstr(rec, "http://hl7.org/fhir")) {
            snprintf(want, sizeof(want), "<birthDate value=\"%ld\"/>",
                     year - age);
            assert_non_null(strstr(rec, want));
            assert_non_null(strstr(rec, !strcmp(c[col_male], "1")
                                            ? "<gender value=\"male\"/>"
                                            : "<gender value=\"female\"/>"));
        } else {
            snprintf(want, sizeof(want), "<birthTime value=\"%ld\"/>",
                     year - age);
            assert_non_null(strstr(rec, want));
            snprintf(want, sizeof(want), "administrativeGenderCode code=\""
                     "%s\"", !strcmp(c[col_male], "1") ? "M" : "F");
            assert_non_null(strstr(rec, want));
        }
        /* De-identified by default: no canary, no names. */
        assert_null(strstr(rec, "CANARY"));
        assert_null(strstr(rec, "<given>"));
        assert_null(strstr(rec, "<family>"));
        b = strstr(rec, "8480-6");   /* systolic pressure always present */
        assert_non_null(b);
        mmdx__free(rec);
        checked++;
    }
    assert_int_equal(checked, 10);
    mmdx__free(tru);
    mmdx__free(man);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that records and EDF headers are well-formed and de-identified
 * by default: XML parses, EDF patient field is "X X X X". */
static void synth_run__default__deidentified(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), rel[64];
    struct mmdx_synth_opts o;
    size_t i;

    (void)state;
    small_opts(&o, d, 6);
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    for (i = 1; i <= 6; i++) {
        char *edf, *p;
        xmlDocPtr doc = NULL;
        size_t n;

        snprintf(rel, sizeof(rel), "SYN%05zu/eeg.edf", i);
        edf = slurp(d, rel, &n);
        assert_true(n > 256);
        assert_memory_equal(edf + 8, "X X X X ", 8);
        assert_memory_equal(edf + 88, "Startdate X X X X", 17);
        mmdx__free(edf);
        snprintf(rel, sizeof(rel), "SYN%05zu/record.xml", i);
        p = mmdx__path_join(d, rel);
        assert_int_equal(mmdx__xml_read_file(ctx, p, NULL, &doc), MMDX_OK);
        xmlFreeDoc(doc);
        mmdx__free(p);
    }
    {
        char *p = mmdx__path_join(d, "canaries.tsv");

        assert_false(mmdx__is_file(p));
        mmdx__free(p);
    }
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that --plant-phi lists every canary once, each canary string is
 * unique, and each is present in the file it names. */
static void synth_phi__canaries__in_their_files(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *can, *line, *next;
    struct mmdx_synth_opts o;
    struct mmdx_synth_summary s;
    size_t rows = 0;

    (void)state;
    small_opts(&o, d, 5);
    o.plant_phi = 1;
    assert_int_equal(mmdx_synth_run(ctx, &o, &s), MMDX_OK);
    can = slurp(d, "canaries.tsv", NULL);
    for (line = strchr(can, '\n') + 1; *line; line = next) {
        char *c[6], *nl = strchr(line, '\n'), *file;
        size_t len;

        next = nl + 1;
        *nl = '\0';
        assert_int_equal(cells(line, c, 6), 6);
        if (strcmp(c[4], "date") != 0) {
            char needle[128];

            rows++;
            snprintf(needle, sizeof(needle), "CANARY-%s-%s-", c[4], c[0]);
            assert_memory_equal(c[5], needle, strlen(needle));
            /* unique: appears once in the whole table */
            snprintf(needle, sizeof(needle), "%s\n", c[5]);
            assert_non_null(strstr(next, needle) == NULL ? needle : NULL);
        }
        if (!strcmp(c[2], "") || strstr(c[2], "/ct"))
            continue;
        file = slurp(d, c[2], &len);
        assert_non_null(memmem(file, len, c[5], strlen(c[5])));
        mmdx__free(file);
    }
    assert_int_equal(rows, s.canaries);
    assert_true(rows >= 5 * 10);
    mmdx__free(can);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that --plant-broken breaks as many files as asked, notes them in
 * truth.tsv, and that broken XML no longer parses. */
static void synth_broken__planted__noted_and_broken(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *tru, *line, *next;
    struct mmdx_synth_opts o;
    struct mmdx_synth_summary s;
    int col, noted = 0, xml = 0;

    (void)state;
    small_opts(&o, d, 9);
    o.plant_broken = 6;
    assert_int_equal(mmdx_synth_run(ctx, &o, &s), MMDX_OK);
    assert_int_equal(s.broken, 6);
    tru = slurp(d, "truth.tsv", NULL);
    col = column(tru, "broken");
    for (line = strchr(tru, '\n') + 1; *line; line = next) {
        char *c[64], *nl = strchr(line, '\n');

        next = nl + 1;
        *nl = '\0';
        cells(line, c, 64);
        if (!c[col][0])
            continue;
        noted++;
        if (!strcmp(c[col], "record:malformed-xml")) {
            char rel[64], *p;
            xmlDocPtr doc = NULL;

            snprintf(rel, sizeof(rel), "%s/record.xml", c[0]);
            p = mmdx__path_join(d, rel);
            assert_int_equal(mmdx__xml_read_file(ctx, p, NULL, &doc),
                             MMDX_E_FORMAT);
            mmdx_ctx_clear_error(ctx);
            mmdx__free(p);
            xml++;
        }
    }
    assert_int_equal(noted, 6);
    assert_int_equal(xml, 2);
    mmdx__free(tru);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that options out of range are refused naming the option. */
static void synth_run__bad_options__inval(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_synth_opts o;

    (void)state;
    small_opts(&o, "/tmp/mmdx-test-never", 0);
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_E_INVAL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "n");
    mmdx_ctx_clear_error(ctx);
    small_opts(&o, "/tmp/mmdx-test-never", 2);
    o.missing_rate = 0.95;
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_E_INVAL);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "missing_rate");
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure is reported as E_NOMEM, with no
 * leak (ASan), until the run succeeds. */
static void synth_run__oom__nomem(void **state)
{
    char *d = test_tmpdir();
    struct mmdx_synth_opts o;
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    (void)state;
    small_opts(&o, d, 1);
    o.plant_phi = 1;
    o.plant_broken = 1;
    o.mc_samples = 100;
    for (n = 1; st == MMDX_E_NOMEM && n < 5000; n++) {
        struct mmdx_ctx *ctx = test_ctx();

        mmdx__alloc_fail_at(n);
        st = mmdx_synth_run(ctx, &o, NULL);
        mmdx__alloc_fail_at(0);
        if (st)
            assert_int_equal(st, MMDX_E_NOMEM);
        mmdx_ctx_free(ctx);
    }
    assert_int_equal(st, MMDX_OK);
    test_rmtree(d);
}

/* Truth row of patient index i (0-based) split into cells (in tru). */
static int truth_row(char *tru, size_t i, char **c, int max)
{
    char *line = strchr(tru, '\n') + 1, *nl;
    size_t k;

    for (k = 0; k < i; k++)
        line = strchr(line, '\n') + 1;
    nl = strchr(line, '\n');
    *nl = '\0';
    return cells(line, c, max);
}

/* Every CANARY-... token of value is a row of canaries.tsv. Returns the
 * number of tokens. */
static int canaries_listed(const char *can, const char *value)
{
    const char *p = value;
    int n = 0;

    while ((p = strstr(p, "CANARY-")) != NULL) {
        char tok[160];
        size_t k = 0;

        int dashes = 0;

        /* CANARY-<kind>-<patient>-<digits>: readers may join neighbouring
         * texts, so stop after the digits. */
        k = 7;
        while (k + 3 < sizeof(tok) && dashes < 2 &&
               (isalnum_ascii((unsigned char)p[k]) || p[k] == '-'))
            dashes += p[k++] == '-';
        while (k + 3 < sizeof(tok) && p[k] >= '0' && p[k] <= '9')
            k++;
        tok[0] = '\t';
        memcpy(tok + 1, p, k);
        tok[k + 1] = '\n';
        tok[k + 2] = '\0';
        if (!strstr(can, tok))
            fail_msg("canary %.*s not listed", (int)k, p);
        n++;
        p += k;
    }
    return n;
}

/* Ensure that mmdx's EDF reader reads the synthetic EEGs: 19 channels with
 * normalised 10-20 labels at 256 Hz, and the generator's values to within
 * the 0.1 uV resolution (half a step, plus float rounding). */
static void synth_eeg__edf_reader__same_values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *p;
    struct mmdx_synth_opts o;
    struct mmdx_signal *sig = NULL;
    struct mmdx_edf_opts eo;
    struct synth_rng rl, re;
    struct synth_latent l;
    struct synth_eeg eeg;
    size_t c, i;

    (void)state;
    small_opts(&o, d, 2);
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    p = mmdx__path_join(d, "SYN00002/eeg.edf");
    memset(&eo, 0, sizeof(eo));
    eo.voltage_unit = "uV";
    assert_int_equal(mmdx__edf_read(ctx, p, &eo, &sig), MMDX_OK);
    assert_int_equal(sig->nch, SYNTH_EEG_NCH);
    assert_string_equal(sig->ch[0].label, "Fp1");
    assert_string_equal(sig->ch[7].label, "T7");   /* recorded as T3 */
    assert_string_equal(sig->ch[18].label, "O2");
    /* The generator again, from the same streams as patient index 1. */
    mmdx__synth_rng_seed(&rl, o.seed, 1, SYNTH_S_LATENT);
    mmdx__synth_latent_draw(&rl, &l);
    mmdx__synth_rng_seed(&re, o.seed, 1, SYNTH_S_EEG);
    assert_int_equal(mmdx__synth_eeg_make(ctx, &re, &l, o.eeg_seconds, &eeg),
                     MMDX_OK);
    for (c = 0; c < SYNTH_EEG_NCH; c++) {
        assert_true(fabs(sig->ch[c].fs_hz - 256.0) < 1e-9);
        assert_int_equal(sig->ch[c].n, eeg.n);
        for (i = 0; i < eeg.n; i++)
            assert_true(fabs(sig->ch[c].data[i] - eeg.ch[c][i]) < 0.051);
    }
    mmdx__synth_eeg_fini(&eeg);
    mmdx__signal_free(sig);
    mmdx__free(p);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

struct idf_seen {
    size_t n;
    char values[64][128];
};

static enum mmdx_status idf_collect(void *user, const char *field, int kind,
                                    const char *value)
{
    struct idf_seen *s = user;

    (void)field;
    (void)kind;
    if (s->n < 64)
        mmdx__strlcpy(s->values[s->n++], value, 128);
    return MMDX_OK;
}

/* Ensure that EDF ECGs read as leads II and V1 in mV with one annotation
 * per AF episode of the truth, and that the EDF reader reports no
 * identifying field by default but every planted canary with
 * --plant-phi. */
static void synth_ecg_edf__reader__leads_episodes_canaries(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir(), *tru, *can;
    struct mmdx_synth_opts o;
    int col_f, col_af, found = 0, phi;

    (void)state;
    for (phi = 0; phi < 2; phi++) {
        size_t i;

        small_opts(&o, d, 16);
        o.ecg_seconds = 40;
        o.plant_phi = phi;
        assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
        can = phi ? slurp(d, "canaries.tsv", NULL) : NULL;
        for (i = 0; i < o.n; i++) {
            char *c[64], rel[64], *p, *s;
            struct mmdx_signal *sig = NULL;
            struct mmdx_edf *e = NULL;
            struct mmdx_edf_opts eo;
            struct idf_seen seen;
            size_t episodes = 0, k;

            tru = slurp(d, "truth.tsv", NULL);
            col_f = column(tru, "ecg_format");
            col_af = column(tru, "rpeak_af");
            truth_row(tru, i, c, 64);
            if (strcmp(c[col_f], "edf") != 0) {
                mmdx__free(tru);
                continue;
            }
            for (s = c[col_af]; *s; s++)
                episodes += *s == '1' && (s == c[col_af] || s[-1] == '0');
            snprintf(rel, sizeof(rel), "%s/ecg.edf", c[0]);
            p = mmdx__path_join(d, rel);
            memset(&eo, 0, sizeof(eo));
            eo.voltage_unit = "mV";
            assert_int_equal(mmdx__edf_read(ctx, p, &eo, &sig), MMDX_OK);
            assert_int_equal(sig->nch, 2);
            assert_string_equal(sig->ch[0].label, "II");
            assert_string_equal(sig->ch[1].label, "V1");
            assert_string_equal(sig->ch[0].unit, "mV");
            assert_int_equal(sig->ch[0].n, 40 * 250);
            assert_int_equal(sig->nann, episodes);
            mmdx__signal_free(sig);
            assert_int_equal(mmdx__edf_open(ctx, p, &e), MMDX_OK);
            memset(&seen, 0, sizeof(seen));
            assert_int_equal(mmdx__edf_idfields(e, idf_collect, &seen),
                             MMDX_OK);
            if (!phi) {
                /* Only the header start date, 01.01.85: EDF+'s "unknown". */
                assert_int_equal(seen.n, 1);
                assert_string_equal(seen.values[0], "01.01.85"); /* as recorded */
            } else {
                assert_true(seen.n >= 4);
                int toks = 0;

                for (k = 0; k < seen.n; k++)
                    toks += canaries_listed(can, seen.values[k]);
                assert_int_equal(toks, 4);
            }
            mmdx__edf_close(e);
            mmdx__free(p);
            mmdx__free(tru);
            found++;
        }
        mmdx__free(can);
    }
    assert_true(found >= 2);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

static const struct mmdx_obs *find_obs(const struct mmdx_record *r,
                                       const char *loinc)
{
    size_t i;

    for (i = 0; i < r->nobs; i++)
        if (r->obs[i].code.sys == MMDX_CS_LOINC &&
            !strcmp(r->obs[i].code.code, loinc))
            return &r->obs[i];
    return NULL;
}

static int has_cond(const struct mmdx_record *r, const char *icd10)
{
    size_t i, k;

    for (i = 0; i < r->nconds; i++)
        for (k = 0; k < r->conds[i].ncodes; k++)
            if (!strcmp(r->conds[i].codes[k].code, icd10))
                return 1;
    return 0;
}

/* Ensure that mmdx's record reader reads both FHIR and C-CDA records: sex,
 * birth year at year precision, systolic pressure = 128 + 15 vascular,
 * HbA1c on the right side of 6.5 % for diabetes, AF documented exactly when
 * af_known; no identifying field by default, the canaries with
 * --plant-phi. */
static void synth_record__reader__facts_match_truth(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir();
    struct mmdx_synth_opts o;
    int phi, nf = 0, nc = 0;

    (void)state;
    for (phi = 0; phi < 2; phi++) {
        char *tru, *man, *can;
        size_t i;

        small_opts(&o, d, 12);
        o.plant_phi = phi;
        assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
        can = phi ? slurp(d, "canaries.tsv", NULL) : NULL;
        for (i = 0; i < o.n; i++) {
            char *c[64], *m[8], *p;
            struct mmdx_record *r = NULL;
            const struct mmdx_obs *ob;
            double vasc;
            long age, year, male, diab, afk;
            size_t k;

            tru = slurp(d, "truth.tsv", NULL);
            man = slurp(d, "manifest.tsv", NULL);
            truth_row(tru, i, c, 64);
            truth_row(man, i, m, 8);
            assert_true(mmdx__parse_long(c[column(tru, "age_y")], &age));
            assert_true(mmdx__parse_long(c[column(tru, "male")], &male));
            assert_true(mmdx__parse_long(c[column(tru, "diabetes")], &diab));
            assert_true(mmdx__parse_long(c[column(tru, "af_known")], &afk));
            assert_true(mmdx__parse_double(c[column(tru, "vascular")],
                                           &vasc));
            assert_true(mmdx__parse_long(m[7], &year));
            p = mmdx__path_join(d, m[4]);
            assert_int_equal(mmdx__record_read_file(ctx, p,
                                                    MMDX_RECORD_IDFIELDS, &r),
                             MMDX_OK);
            nf += r->source == MMDX_RECORD_SRC_FHIR;
            nc += r->source == MMDX_RECORD_SRC_CDA;
            assert_int_equal(r->sex, male ? MMDX_SEX_MALE : MMDX_SEX_FEMALE);
            assert_int_equal(r->birth.year, year - age);
            if (!phi)
                assert_int_equal(r->birth.prec, MMDX_DATE_YEAR);
            ob = find_obs(r, "8480-6");
            assert_non_null(ob);
            assert_true(fabs(ob->value - fmax(85.0, floor(128.0 + 15.0 * vasc
                                                          + 0.5))) < 1e-9);
            ob = find_obs(r, "4548-4");
            assert_non_null(ob);
            assert_true(diab ? ob->value > 6.5 : ob->value < 6.3);
            assert_int_equal(has_cond(r, "I48.91"), (int)afk);
            if (!phi) {
                /* Only dates, and those at year precision (the gate's
                 * Safe Harbor rule lets years through). */
                for (k = 0; k < r->nidf; k++) {
                    if (r->idf[k].kind == MMDX_ID_DATE)
                        assert_int_equal(strlen(r->idf[k].value), 4);
                    else
                        assert_true(mmdx__deid_placeholder(r->idf[k].value));
                }
            } else {
                assert_true(r->nidf >= 6);
                int toks = 0;

                for (k = 0; k < r->nidf; k++)
                    toks += canaries_listed(can, r->idf[k].value);
                assert_true(toks >= 6);
            }
            mmdx__record_free(r);
            mmdx__free(p);
            mmdx__free(tru);
            mmdx__free(man);
        }
        mmdx__free(can);
    }
    assert_true(nf > 0 && nc > 0);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

/* Ensure that the CT series load through mmdx's DICOM reader (all three
 * transfer syntaxes occur) as HU volumes of the asked size: air at
 * -1024, bone above 1000, integer HU (lossless). */
static void synth_image__dicom_reader__lossless_hu(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *d = test_tmpdir();
    struct mmdx_synth_opts o;
    int ts_seen[3] = { 0, 0, 0 };
    size_t i;

    (void)state;
    if (!mmdx__synth_have_image())
        skip();
    small_opts(&o, d, 14);
    o.image_slices = 2;
    assert_int_equal(mmdx_synth_run(ctx, &o, NULL), MMDX_OK);
    for (i = 1; i <= o.n; i++) {
        struct mmdx_image *img = NULL;
        char rel[64], *p;
        double mn = 1e9, mx = -1e9;
        size_t k, nv;

        snprintf(rel, sizeof(rel), "SYN%05zu/ct", i);
        p = mmdx__path_join(d, rel);
        assert_int_equal(mmdx__dicom_load(ctx, p, NULL, NULL, NULL, &img),
                         MMDX_OK);
        assert_int_equal(img->nx, 64);
        assert_int_equal(img->ny, 64);
        assert_int_equal(img->nz, 2);
        assert_string_equal(img->modality, "CT");
        assert_true(fabs(img->spacing_mm[0] - 230.0 / 64) < 1e-6);
        ts_seen[0] += !strcmp(img->transfer_syntax, "1.2.840.10008.1.2.1");
        ts_seen[1] += !strcmp(img->transfer_syntax, "1.2.840.10008.1.2.5");
        ts_seen[2] += !strcmp(img->transfer_syntax,
                              "1.2.840.10008.1.2.4.80");
        nv = img->nx * img->ny * img->nz;
        for (k = 0; k < nv; k++) {
            double v = img->vox[k];

            assert_true(v == floor(v));
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        assert_true(mn >= -1024.0 && mn < -1000.0);
        assert_true(mx > 1000.0 && mx < 1200.0);
        mmdx__image_free(img);
        mmdx__free(p);
    }
    assert_true(ts_seen[0] > 0 && ts_seen[1] > 0 && ts_seen[2] > 0);
    test_rmtree(d);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rng__same_seed__same_sequence),
        cmocka_unit_test(rng_normal__many__unit_moments),
        cmocka_unit_test(soft_auroc__known_cases__exact),
        cmocka_unit_test(synth_auroc__model__fusion_beats_each),
        cmocka_unit_test(synth_run__same_seed__same_bytes),
        cmocka_unit_test(synth_run__files__detected_by_content),
        cmocka_unit_test(synth_ecg__truth_rpeaks__match_atr),
        cmocka_unit_test(synth_record__demographics__match_truth),
        cmocka_unit_test(synth_run__default__deidentified),
        cmocka_unit_test(synth_phi__canaries__in_their_files),
        cmocka_unit_test(synth_broken__planted__noted_and_broken),
        cmocka_unit_test(synth_run__bad_options__inval),
        cmocka_unit_test(synth_run__oom__nomem),
        cmocka_unit_test(synth_eeg__edf_reader__same_values),
        cmocka_unit_test(synth_ecg_edf__reader__leads_episodes_canaries),
        cmocka_unit_test(synth_record__reader__facts_match_truth),
        cmocka_unit_test(synth_image__dicom_reader__lossless_hu),
    };

    return cmocka_run_group_tests_name("synth_testdriver", tests, NULL, NULL);
}
