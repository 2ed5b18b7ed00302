/* test_ecg.c - ecg_testdriver: WFDB readers, annotations, R-peak
 * detection scored on MIT-BIH, features. */
#include "core/common.h"
#include "features/ecg_int.h"
#include "io/aecg.h"
#include "io/ecg_load.h"
#include "io/wfdb.h"
#include "pipeline/stage.h"
#include "mmdx/ecg.h"
#include "mmdx/format.h"
#include "test_util.h"

/* Ensure that every storage format of the binformats record decodes to
 * the header's checksums and initial values (reference: the checksum and
 * initial-value fields written by wfdb-python; exact). */
static void wfdb_load__binformats__checksums_match(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/wfdb-formats/binformats.hea");
    struct mmdx_signal *s = NULL;
    struct mmdx_wfdb_header *h = NULL;
    size_t i;

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, p, NULL, 0, &s, &h), MMDX_OK);
    assert_int_equal(s->nch, 10);
    for (i = 0; i < s->nch; i++) {
        double first = (h->sig[i].init_value_adu - h->sig[i].baseline_adu) /
                       h->sig[i].gain_adu_per_unit;

        assert_int_equal(s->ch[i].n, 499);
        assert_true(h->sig[i].has_checksum);
        /* float holds 24 bits: relative tolerance 1e-6 */
        assert_true(fabs(s->ch[i].data[0] - first) <=
                    1e-6 * fmax(1.0, fabs(first)));
    }
    assert_int_equal(h->sig[6].fmt, 310);
    assert_string_equal(s->ch[6].raw_label, "sig 6, fmt 310");
    mmdx__signal_free(s);
    mmdx__wfdb_header_free(h);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that a format-212 MIT-BIH record loads in mV with its lead
 * labels, and that lead "II" picks MLII (reference: 103.hea, gain 200,
 * baseline 1024, first sample 949 adu -> -0.375 mV; exact). */
static void wfdb_load__mitdb_212__mv_and_labels(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    struct mmdx_signal *s = NULL;
    const char *want[] = { "V1", "II" };

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, p, want, 2, &s, NULL), MMDX_OK);
    assert_int_equal(s->nch, 1);
    assert_string_equal(s->ch[0].label, "MLII");
    assert_string_equal(s->ch[0].unit, "mV");
    assert_int_equal(s->ch[0].n, 650000);
    assert_true(s->ch[0].fs_hz == 360.0);
    assert_true(s->ch[0].data[0] == -0.375f);
    assert_true(fabs(s->duration_s - 650000 / 360.0) < 1e-9);
    mmdx__signal_free(s);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that a record with two signal files (PTB s0010_re: .dat and
 * .xyz, format 16, gain 2000) loads all 15 leads (reference: header
 * initial values -489 and -3 adu / 2000 = -0.2445 and -0.0015 mV). */
static void wfdb_load__two_signal_files__all_leads(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/ptbdb/s0010_re.hea");
    struct mmdx_signal *s = NULL;
    struct mmdx_wfdb_header *h = NULL;

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, p, NULL, 0, &s, &h), MMDX_OK);
    assert_int_equal(s->nch, 15);
    assert_string_equal(s->ch[1].label, "II");
    assert_string_equal(s->ch[3].label, "aVR");
    assert_string_equal(s->ch[12].raw_label, "vx");
    assert_true(fabs(s->ch[0].data[0] - -0.2445) < 1e-6);
    assert_true(fabs(s->ch[12].data[0] - -0.0015) < 1e-6);
    assert_true(h->ncomments > 20);
    mmdx__signal_free(s);
    mmdx__wfdb_header_free(h);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

static void write_bytes(const char *dir, const char *name, size_t n)
{
    char *p = mmdx__path_join(dir, name);
    FILE *fp = fopen(p, "wb");
    size_t i;

    assert_non_null(fp);
    for (i = 0; i < n; i++)
        fputc((int)(i * 7 & 0xff), fp);
    fclose(fp);
    mmdx__free(p);
}

static enum mmdx_status load_in(struct mmdx_ctx *ctx, const char *dir,
                                const char *hea, struct mmdx_signal **s)
{
    char *p = mmdx__path_join(dir, hea);
    enum mmdx_status st = mmdx__wfdb_load(ctx, p, NULL, 0, s, NULL);

    mmdx__free(p);
    return st;
}

/* Ensure that truncated data, oversized data, absurd rates, negative
 * gains and missing leads give errors naming file, line and field. */
static void wfdb_load__bad_inputs__named_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_signal *s = NULL;
    char *p;
    const char *want[] = { "V5" };

    (void)state;
    /* 100 frames x 2 signals x 2 bytes = 400 bytes expected */
    test_write(dir, "t.hea", "t 2 250 100\nt.dat 16 200 16 0 0 0 0 II\n"
                             "t.dat 16 200 16 0 0 0 0 V1\n");
    write_bytes(dir, "t.dat", 300);
    assert_int_equal(load_in(ctx, dir, "t.hea", &s), MMDX_E_FORMAT);
    assert_null(s);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "nsamp");
    assert_error_has(ctx, "t.dat: io.wfdb: nsamp: truncated: header says "
                          "100 samples per signal, the file holds 75");
    mmdx_ctx_clear_error(ctx);
    write_bytes(dir, "t.dat", 500);
    assert_int_equal(load_in(ctx, dir, "t.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "size mismatch: the header says 100 samples per "
                          "signal (400 bytes), the file has 500 bytes");
    mmdx_ctx_clear_error(ctx);
    /* checksums (0) do not match the pattern written */
    write_bytes(dir, "t.dat", 400);
    assert_int_equal(load_in(ctx, dir, "t.hea", &s), MMDX_E_FORMAT);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field,
                        "signal[0].checksum");
    assert_int_equal(mmdx_ctx_last_error(ctx)->line, 2);
    mmdx_ctx_clear_error(ctx);
    /* wanted lead absent: the message lists what the record has */
    p = mmdx__path_join(dir, "t.hea");
    assert_int_equal(mmdx__wfdb_load(ctx, p, want, 1, &s, NULL),
                     MMDX_E_NOTFOUND);
    assert_error_has(ctx, "lead: none of the wanted leads (V5) is in the "
                          "record (it has II,V1)");
    mmdx__free(p);
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "f.hea", "# c\nf 1 5000000 10\nf.dat 16 200 II\n");
    assert_int_equal(load_in(ctx, dir, "f.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "f.hea:2: io.wfdb: record.fs: sampling rate 5e+06 "
                          "Hz is outside (0, 1e+06]");
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "g.hea", "g 1 360 10\ng.dat 16 -200 II\n");
    assert_int_equal(load_in(ctx, dir, "g.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "g.hea:2: io.wfdb: signal[0].gain: expected >= 0, "
                          "got -200");
    mmdx_ctx_clear_error(ctx);
    /* a multi-segment record whose segments are missing */
    test_write(dir, "m.hea", "m/2 1 360 10\nm_1 5\nm_2 5\n");
    assert_int_equal(load_in(ctx, dir, "m.hea", &s), MMDX_E_NOTFOUND);
    assert_error_has(ctx, "m_1.hea");
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "u.hea", "u 1 360 10\nu.dat 999 200 II\n");
    assert_int_equal(load_in(ctx, dir, "u.hea", &s), MMDX_E_UNSUPPORTED);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "signal[0].format");
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "n.hea", "n 2 360 10\nn.dat 16 200 16 0 0 0 0 II\n");
    assert_int_equal(load_in(ctx, dir, "n.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "header declares 2 signals, has 1 signal lines");
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "x.hea", "x 1 360 10\nx.dat 16 200 16 0 0 0 0 II\n");
    assert_int_equal(load_in(ctx, dir, "x.hea", &s), MMDX_E_NOTFOUND);
    assert_error_has(ctx, "x.dat: io.wfdb: cannot open");
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that absent or zero gains default to 200 adu/mV, baselines
 * default to the ADC zero, uV units are converted to mV, and a header
 * without nsamp takes the length from the file (WFDB header(5)). */
static void wfdb_load__defaults__gain200_and_units(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_signal *s = NULL;
    char *p = mmdx__path_join(dir, "d.dat");
    FILE *fp = fopen(p, "wb");
    const unsigned char raw[] = { 0x90, 0x01, 0x00, 0x00,   /* 400, 0 */
                                  0xc8, 0x00, 0xe8, 0x03 }; /* 200, 1000 */

    (void)state;
    fwrite(raw, 1, sizeof(raw), fp);
    fclose(fp);
    test_write(dir, "d.hea", "d 2 500\nd.dat 16\nd.dat 16 0(100)/uV 16 7\n");
    assert_int_equal(load_in(ctx, dir, "d.hea", &s), MMDX_OK);
    assert_int_equal(s->ch[0].n, 2);
    assert_true(s->ch[0].data[0] == 2.0f);   /* 400 / 200 */
    assert_true(s->ch[0].data[1] == 1.0f);
    /* (0 - 100) / 200 uV = -0.5 uV = -0.0005 mV */
    assert_true(fabs(s->ch[1].data[0] - -0.0005) < 1e-9);
    assert_true(fabs(s->ch[1].data[1] - 0.0045) < 1e-9);
    assert_string_equal(s->ch[1].unit, "mV");
    mmdx__signal_free(s);
    mmdx__free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the MIT-BIH reference annotations decode to the published
 * beat counts (reference: MIT-BIH Arrhythmia Database directory, record
 * 103: N 2082, A 2, 6 noise annotations; exact) and that encoding them
 * again gives back the same annotations. */
static void wfdb_ann__mitdb_103__counts_and_roundtrip(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.atr");
    struct mmdx_wfdb_annset a, b;
    unsigned char *enc = NULL;
    size_t len, i, n_n = 0, n_a = 0, n_noise = 0, n_beat = 0;

    (void)state;
    assert_int_equal(mmdx__wfdb_ann_read(ctx, p, &a), MMDX_OK);
    for (i = 0; i < a.n; i++) {
        n_n += a.a[i].code == mmdx__wfdb_ann_code("N");
        n_a += a.a[i].code == mmdx__wfdb_ann_code("A");
        n_noise += a.a[i].code == mmdx__wfdb_ann_code("~");
        n_beat += mmdx__wfdb_ann_is_beat(a.a[i].code);
    }
    assert_int_equal(n_n, 2082);
    assert_int_equal(n_a, 2);
    assert_int_equal(n_noise, 6);
    assert_int_equal(n_beat, 2084);
    assert_int_equal(mmdx__wfdb_ann_encode(ctx, &a, &enc, &len), MMDX_OK);
    assert_int_equal(mmdx__wfdb_ann_parse(ctx, "mem", enc, len, &b),
                     MMDX_OK);
    assert_int_equal(a.n, b.n);
    for (i = 0; i < a.n; i++) {
        assert_true(a.a[i].sample == b.a[i].sample);
        assert_int_equal(a.a[i].code, b.a[i].code);
        assert_int_equal(a.a[i].subtype, b.a[i].subtype);
        assert_int_equal(a.a[i].chan, b.a[i].chan);
        assert_int_equal(a.a[i].num, b.a[i].num);
        if (a.a[i].aux)
            assert_string_equal(a.a[i].aux, b.a[i].aux);
        else
            assert_null(b.a[i].aux);
    }
    mmdx__free(enc);
    mmdx__wfdb_annset_fini(&a);
    mmdx__wfdb_annset_fini(&b);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that SKIP, AUX, NUM, SUB and CHN words decode as the MIT format
 * defines them, and truncated files give a named error. */
static void wfdb_ann__pseudo_codes__decoded(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_wfdb_annset a;
    /* N at 5; SKIP 100000; V at +0 with SUB 2, CHN 1, NUM 3, AUX "(N" */
    const unsigned char f[] = {
        0x05, 0x04,             /* N (1<<10 | 5) */
        0x00, 0xec,             /* SKIP (59<<10) */
        0x01, 0x00, 0xa0, 0x86, /* 0x0001 0x86a0 = 100000 */
        0x00, 0x14,             /* V (5<<10 | 0) */
        0x02, 0xf4,             /* SUB 2 */
        0x01, 0xf8,             /* CHN 1 */
        0x03, 0xf0,             /* NUM 3 */
        0x02, 0xfc, '(', 'N',   /* AUX 2 bytes */
        0x01, 0x04,             /* N +1: chan/num carried over */
        0x00, 0x00
    };

    (void)state;
    assert_int_equal(mmdx__wfdb_ann_parse(ctx, "f.atr", f, sizeof(f), &a),
                     MMDX_OK);
    assert_int_equal(a.n, 3);
    assert_true(a.a[0].sample == 5);
    assert_true(a.a[1].sample == 100005);
    assert_int_equal(a.a[1].code, 5);
    assert_int_equal(a.a[1].subtype, 2);
    assert_int_equal(a.a[1].chan, 1);
    assert_int_equal(a.a[1].num, 3);
    assert_string_equal(a.a[1].aux, "(N");
    assert_true(a.a[2].sample == 100006);
    assert_int_equal(a.a[2].chan, 1);
    assert_int_equal(a.a[2].num, 3);
    assert_int_equal(a.a[2].subtype, 0);
    assert_null(a.a[2].aux);
    mmdx__wfdb_annset_fini(&a);
    assert_int_equal(mmdx__wfdb_ann_parse(ctx, "f.atr", f, 6, &a),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "f.atr: io.wfdb.ann: SKIP: truncated at byte 2");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__wfdb_ann_parse(ctx, "f.atr", f + 10, 4, &a),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "modifier before the first annotation");
    mmdx_ctx_free(ctx);
}

/* Ensure that the header and annotation parsers return E_NOMEM at every
 * allocation failure and leak nothing (ASan checks the leaks). */
static void wfdb_parsers__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    const char *hea = "# comment one\nr 2 360 10 10:00:00 01/01/2000\n"
                      "r.dat 212 200(1024)/mV 11 1024 0 0 0 MLII\n"
                      "r.dat 212 200 11 1024 0 0 0 V1\n# tail\n";
    const unsigned char ann[] = { 0x05, 0x04, 0x02, 0xfc, '(', 'N',
                                  0x01, 0x04, 0x00, 0x00 };
    unsigned long n;

    (void)state;
    for (n = 1;; n++) {
        struct mmdx_wfdb_header *h = NULL;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__wfdb_header_parse(ctx, "r.hea", hea, strlen(hea), &h);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_int_equal(h->nsig, 2);
            assert_int_equal(h->ncomments, 2);
            mmdx__wfdb_header_free(h);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_null(h);
    }
    assert_true(n > 5);
    for (n = 1;; n++) {
        struct mmdx_wfdb_annset a;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__wfdb_ann_parse(ctx, "a", ann, sizeof(ann), &a);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_int_equal(a.n, 2);
            mmdx__wfdb_annset_fini(&a);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_int_equal(a.n, 0);
    }
    assert_true(n > 1);
    mmdx_ctx_free(ctx);
}

/* Ensure that EC57 matching counts a beat within 150 ms once, and
 * that beats before the start are not scored. */
static void ecg_score__matching__one_to_one(void **state)
{
    const int64_t ref[] = { 10, 100, 200, 300, 400 };
    const int64_t test[] = { 12, 101, 104, 260, 330, 500 };
    struct mmdx_ecg_score sc;

    (void)state;
    mmdx__ecg_score(ref, 5, test, 6, 50, 30, &sc);
    assert_int_equal(sc.beats, 4);
    assert_int_equal(sc.tp, 2);   /* 100-101, 300-330 */
    assert_int_equal(sc.fn, 2);   /* 200, 400 */
    assert_int_equal(sc.fp, 3);   /* 104, 260, 500 */
}

/* Ensure that R-peak detection on lead MLII of MIT-BIH records 103, 105,
 * 106 and 208 keeps its scores (reference: the records' .atr beat
 * annotations, ANSI/AAMI EC57 matching with a 150 ms window and the first
 * 5 minutes excluded; counts exact, so any change to the detector shows
 * here, and gross Se/+P bounds as the quality floor). */
static void ecg_eval__mitdb__scores(void **state)
{
    static const struct {
        const char *rec;
        long beats, tp, fn, fp;
    } want[] = {
        { "103", 1729, 1729, 0, 0 },
        { "105", 2155, 2147, 8, 21 },
        { "106", 1696, 1695, 1, 0 },
        { "208", 2437, 2424, 13, 2 },
    };
    struct mmdx_ctx *ctx = test_ctx();
    long tp = 0, fn = 0, fp = 0;
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(want); i++) {
        char rel[64], *p, *rec;
        struct mmdx_ecg_eval_row r;

        snprintf(rel, sizeof(rel), "ecg/mitdb/%s.hea", want[i].rec);
        p = test_shared(rel);
        rec = mmdx__strndup(p, strlen(p) - 4);
        assert_int_equal(mmdx_ecg_eval(ctx, rec, NULL, &r), MMDX_OK);
        assert_string_equal(r.record, want[i].rec);
        assert_int_equal(r.beats, want[i].beats);
        assert_int_equal(r.tp, want[i].tp);
        assert_int_equal(r.fn, want[i].fn);
        assert_int_equal(r.fp, want[i].fp);
        tp += r.tp;
        fn += r.fn;
        fp += r.fp;
        mmdx__free(rec);
        mmdx__free(p);
    }
    /* gross 99.73 % / 99.71 % (the floor: 99.7 % each) */
    assert_true(100.0 * (double)tp / (double)(tp + fn) >= 99.7);
    assert_true(100.0 * (double)tp / (double)(tp + fp) >= 99.7);
    mmdx_ctx_free(ctx);
}

/* Ensure that the HL7 aECG example loads its 12 rhythm leads at 500 Hz in
 * mV (reference: the example's increment 0.002 s, scale 2.5 uV, 5000
 * samples per lead as documented in shared/data/SOURCES.md; exact) and
 * reports identifying elements. */
static void aecg_load__example__twelve_leads(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/aecg/Example_aECG.xml");
    struct mmdx_patient pt;
    struct mmdx_signal *s = NULL;
    size_t i;
    bool have_date = false;

    (void)state;
    memset(&pt, 0, sizeof(pt));
    assert_int_equal(mmdx__ecg_load(ctx, p, NULL, 0, &pt, &s), MMDX_OK);
    assert_int_equal(s->nch, 12);
    assert_string_equal(s->ch[0].label, "I");
    assert_string_equal(s->ch[2].label, "V1");
    assert_string_equal(s->ch[9].label, "aVR");
    assert_string_equal(s->ch[11].label, "aVF");
    for (i = 0; i < s->nch; i++) {
        assert_int_equal(s->ch[i].n, 5000);
        assert_true(s->ch[i].fs_hz == 500.0);
    }
    for (i = 0; i < pt.nidfields; i++)
        have_date |= pt.idfields[i].kind == MMDX_ID_DATE;
    assert_true(have_date);
    mmdx__signal_free(s);
    mmdx__patient_fini(&pt);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that the minimal aECG loads lead II and that a missing lead is
 * a named error. */
static void aecg_load__minimum__lead_choice(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/aecg/minimum_aecg.xml");
    struct mmdx_signal *s = NULL;
    const char *want[] = { "V5" }, *want2[] = { "V5", "II" };

    (void)state;
    assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, NULL, &s),
                     MMDX_E_NOTFOUND);
    assert_error_has(ctx, "io.ecg: lead: none of the wanted leads (V5) is "
                          "in the record (it has II)");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__ecg_load(ctx, p, want2, 2, NULL, &s), MMDX_OK);
    assert_int_equal(s->nch, 1);
    assert_string_equal(s->ch[0].label, "II");
    /* first digit -2 x 2.5 uV = -0.005 mV */
    assert_true(fabs(s->ch[0].data[0] - -0.005) < 1e-9);
    mmdx__signal_free(s);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that an aECG <digits> element without any value, or with a value
 * that is not a number or overflows a 32-bit ADC count (or a float once
 * scaled), is refused as E_FORMAT naming the element, its line and the
 * lead, instead of loading a flat or infinite lead (the minimal aECG's
 * only lead II, <digits> on line 52). */
static void aecg_load__bad_digits__named(void **state)
{
    static const struct {
        const char *digits;
        const char *msg;
    } cases[] = {
        { "", "lead II: no sample" },
        { " \n\t ", "lead II: no sample" },
        { "-2 99999999999 -2", "lead II: sample 1 overflows a 32-bit count" },
        { "1e400", "lead II: sample 0 overflows a 32-bit count" },
        { "-2 -2 x", "lead II: sample 2 is not a number" },
        { "inf", "lead II: sample 0 is not a number" },
        { "1.5e20", "lead II: sample 0 overflows a 32-bit count" },
    };
    char *src = test_shared("ecg/aecg/minimum_aecg.xml");
    char *dir = test_tmpdir(), *text = NULL, *p;
    const char *want[] = { "II" };
    size_t len, i;
    struct mmdx_ctx *ctx;
    struct mmdx_signal *s = NULL;

    (void)state;
    ctx = test_ctx();
    assert_int_equal(mmdx__file_read(ctx, src, 1 << 20, &text, &len),
                     MMDX_OK);
    mmdx_ctx_free(ctx);
    p = mmdx__path_join(dir, "a.xml");
    assert_non_null(p);
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        char *b = strstr(text, "<digits>"), *e = strstr(text, "</digits>");
        char want_msg[160];
        FILE *fp;

        assert_non_null(b);
        assert_non_null(e);
        b += strlen("<digits>");
        fp = fopen(p, "wb");
        assert_non_null(fp);
        fwrite(text, 1, (size_t)(b - text), fp);
        fputs(cases[i].digits, fp);
        fputs(e, fp);
        fclose(fp);
        ctx = test_ctx();
        assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, NULL, &s),
                         MMDX_E_FORMAT);
        assert_null(s);
        snprintf(want_msg, sizeof(want_msg), "a.xml:52: io.aecg: digits: %s",
                 cases[i].msg);
        assert_error_has(ctx, want_msg);
        mmdx_ctx_free(ctx);
    }
    mmdx__free(p);
    mmdx__free(text);
    mmdx__free(src);
    test_rmtree(dir);
}

/* Ensure that a WFDB header whose record line has a malformed signal
 * count is still recognised as WFDB (by its signal lines), so that the
 * reader names the field, and that text which merely starts like a record
 * line ("name word") is not taken for WFDB. */
static void wfdb_detect__bad_nsig__named_by_reader(void **state)
{
    char *dir = test_tmpdir(), *p;
    struct mmdx_ctx *ctx = test_ctx();
    enum mmdx_format f;
    struct mmdx_signal *s = NULL;
    const char *want[] = { "II" };

    (void)state;
    test_write(dir, "r.hea", "# comment\nr x 250 30000\n"
                             "r.dat 212 200 12 0 -31 -2104 0 II\n"
                             "r.dat 212 200 12 0 -33 -12602 0 V1\n");
    test_write(dir, "notes.txt", "Notes on patient\nline 2 was fine\n");
    test_write(dir, "notes2.txt", "Notes on patient\nsee 16 leads\n");
    p = mmdx__path_join(dir, "r.hea");
    assert_int_equal(mmdx_detect(ctx, p, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_WFDB_HEADER);
    assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, NULL, &s),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "r.hea:2: io.wfdb: record.nsig: expected a count, "
                          "got \"x\"");
    mmdx__free(p);
    p = mmdx__path_join(dir, "notes.txt");
    assert_int_equal(mmdx_detect(ctx, p, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_UNKNOWN);
    mmdx__free(p);
    p = mmdx__path_join(dir, "notes2.txt");
    assert_int_equal(mmdx_detect(ctx, p, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_UNKNOWN);
    mmdx__free(p);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the WFDB loader reports header comment lines (by line
 * number) as free-text identifying fields. */
static void ecg_load__wfdb_comments__idfields(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    struct mmdx_patient pt;
    struct mmdx_signal *s = NULL;
    const char *want[] = { "II" };

    (void)state;
    memset(&pt, 0, sizeof(pt));
    assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, &pt, &s), MMDX_OK);
    assert_int_equal(pt.nidfields, 2);
    assert_string_equal(pt.idfields[0].field, "header comment line 4");
    assert_int_equal(pt.idfields[0].kind, MMDX_ID_FREE_TEXT);
    assert_int_equal(pt.idfields[0].modality, MMDX_MOD_ECG);
    mmdx__signal_free(s);
    mmdx__patient_fini(&pt);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Synthetic ECG: narrow Gaussian R waves (1 mV, 12 ms sd) at the given
 * beat times plus a small 1 Hz baseline wander. */
static void synth(float *x, size_t n, double fs, int64_t first,
                  int64_t rr_a, int64_t rr_b, int64_t t0)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int64_t t = t0 + (int64_t)i, k, cyc = rr_a + rr_b, ph;
        double v = 0.1 * sin(2 * M_PI * (double)t / fs);

        /* beats at first + j*cyc and first + j*cyc + rr_a */
        ph = (t - first) % cyc;
        if (ph < 0)
            ph += cyc;
        for (k = -1; k <= 1; k++) {
            double d1 = (double)(ph - k * cyc) / fs;
            double d2 = (double)(ph - rr_a - k * cyc) / fs;

            v += exp(-d1 * d1 / (2 * 0.012 * 0.012)) +
                 exp(-d2 * d2 / (2 * 0.012 * 0.012));
        }
        x[i] = (float)v;
    }
}

/* Ensure that HRV of an alternating RR series matches its closed form:
 * RR 850/950 ms alternating -> mean 900, SDNN = 50 * sqrt(n/(n-1)),
 * RMSSD = 100, pNN50 = 100 % (tolerance 1e-6 ms). */
static void hrv__alternating_rr__closed_form(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    int64_t bt[201];
    struct mmdx_hrv h;
    size_t i;

    (void)state;
    bt[0] = 0;
    for (i = 1; i < 201; i++)
        bt[i] = bt[i - 1] + (i % 2 ? 850 : 950);
    /* within 20% of the local median: no interval is called ectopic */
    assert_int_equal(mmdx__hrv_compute(ctx, bt, 201, 1000.0, &h), MMDX_OK);
    assert_true(fabs(h.rr_mean_ms - 900) < 1e-9);
    assert_true(fabs(h.hr_bpm - 60000.0 / 900) < 1e-9);
    assert_true(fabs(h.sdnn_ms - 50 * sqrt(200.0 / 199)) < 1e-6);
    assert_true(fabs(h.rmssd_ms - 100) < 1e-9);
    assert_true(fabs(h.pnn50_pct - 100) < 1e-9);
    assert_true(fabs(h.ectopic_pct) < 1e-12);
    /* 180 s of NN: HF computed, LF not (needs 250 s) */
    assert_false(h.too_short_hf);
    assert_true(h.too_short_lf);
    assert_true(isnan(h.lf_ms2));
    /* perfectly alternating: every window has TPR 1 -> not AF */
    assert_true(fabs(h.af_burden_frac) < 1e-12);
    mmdx_ctx_free(ctx);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Ensure that sample entropy and the AF burden of an RR series with many
 * ties (values on a 1000/360 ms grid, as at 360 Hz) equal their
 * definitions computed the slow way: SampEn (m = 2, r = 0.2 SDNN) over
 * all template pairs i < j, and per 128-RR window the histogram of the
 * sorted middle 112 values (Dash et al. 2009); exact (the same counts). */
static void hrv__tied_rr__sampen_and_af_as_defined(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    enum { NB = 700 };
    int64_t bt[NB];
    double rr[NB - 1], r, a = 0, b = 0, sampen;
    size_t i, j, w, naf = 0, nwin = 0;
    struct mmdx_hrv h;
    uint32_t seed = 12345;

    (void)state;
    bt[0] = 0;
    for (i = 1; i < NB; i++) {
        seed = seed * 1103515245u + 12345u;
        /* 288 +- 24 samples at 360 Hz: within 20 % of any local median,
         * so no interval is excluded; alternating bursts make some
         * windows irregular */
        bt[i] = bt[i - 1] + 288 + (int64_t)((seed >> 16) % 49) - 24 +
                ((i / 128) % 2 ? (int64_t)((seed >> 8) % 9) * 6 - 24 : 0);
        rr[i - 1] = 1000.0 * (double)(bt[i] - bt[i - 1]) / 360.0;
    }
    assert_int_equal(mmdx__hrv_compute(ctx, bt, NB, 360.0, &h), MMDX_OK);
    assert_true(h.ectopic_pct == 0);
    r = 0.2 * h.sdnn_ms;
    for (i = 0; i + 2 < NB - 1; i++)
        for (j = i + 1; j + 2 < NB - 1; j++)
            if (fabs(rr[i] - rr[j]) <= r && fabs(rr[i + 1] - rr[j + 1]) <= r) {
                b++;
                a += fabs(rr[i + 2] - rr[j + 2]) <= r;
            }
    sampen = -log(a / b);
    assert_true(h.sampen == sampen);
    for (w = 0; w + 128 <= NB - 1; w += 128) {
        double srt[128], lo, hi, se = 0, wm = 0, wd = 0;
        size_t hist[16] = { 0 }, tp = 0;

        memcpy(srt, rr + w, sizeof(srt));
        qsort(srt, 128, sizeof(double), cmp_dbl);
        lo = srt[8];
        hi = srt[119];
        for (j = 8; j < 120; j++)
            hist[hi > lo ? (size_t)((srt[j] - lo) / (hi - lo) * 15.999) : 0]++;
        for (j = 0; j < 16; j++)
            if (hist[j]) {
                double p = (double)hist[j] / 112.0;

                se -= p * log(p) / log(16.0);
            }
        for (j = 0; j < 128; j++)
            wm += rr[w + j];
        wm /= 128;
        for (j = 1; j < 128; j++)
            wd += (rr[w + j] - rr[w + j - 1]) * (rr[w + j] - rr[w + j - 1]);
        for (j = 1; j + 1 < 128; j++)
            tp += (rr[w + j] > rr[w + j - 1] && rr[w + j] > rr[w + j + 1]) ||
                  (rr[w + j] < rr[w + j - 1] && rr[w + j] < rr[w + j + 1]);
        naf += sqrt(wd / 127) / wm >= 0.1 && se >= 0.7 &&
               fabs((double)tp / 126 - (2.0 * 128 - 4) / 3 / 126) <=
                   1.96 * sqrt((16.0 * 128 - 29) / 90) / 126;
        nwin++;
    }
    assert_int_equal(nwin, 5);
    assert_true(naf > 0 && naf < nwin); /* both verdicts exercised */
    assert_true(a > 100 && b > a);
    assert_true(h.af_burden_frac == (double)naf / (double)nwin);
    mmdx_ctx_free(ctx);
}

/* Ensure that the detector's beats do not depend on how the samples are
 * pushed (the per-sample work runs in blocks of 256 with state carried
 * between blocks and calls): MIT-BIH 105's first 60 s (noisy: search-back
 * and held beats) at 360 Hz, and synthetic records at 50 Hz (the lowest
 * rate: 1-sample derivative lag, 5-sample MWI) and 1000 Hz, pushed 1, 2,
 * 3, 255, 257 and 1000 samples at a time give the beats of one push of
 * everything (same sample, amplitude and search-back flag), and with a
 * second cascade riding along (0.5 Hz high-pass, identity, 40 Hz
 * low-pass, as the feature path's) the same filtered values, exactly.
 * Blocks of 1 to 3 samples reach the edges of the AVX cascade's
 * pipeline. */
static void qrs_det__push_sizes__same_beats(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *hea = test_shared("ecg/mitdb/105.hea");
    struct mmdx_signal *s = NULL;
    const char *want[] = { "II" };
    static const size_t step[] = { 1, 2, 3, 255, 257, 1000 };
    static const double rates[] = { 360, 50, 1000 };
    size_t ri, si;

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, hea, want, 1, &s, NULL), MMDX_OK);
    for (ri = 0; ri < 3; ri++) {
        double fs = rates[ri];
        size_t n = (size_t)(60 * fs), i, nref, nb;
        float *x = mmdx__malloc(n * sizeof(float));
        struct mmdx_qrs_beat *ref = NULL;
        double *yref = mmdx__malloc(n * sizeof(double));
        double *y = mmdx__malloc(n * sizeof(double));
        struct mmdx_biquad aux0[3];

        mmdx__biquad_highpass(&aux0[0], 0.5, fs);
        mmdx__biquad_identity(&aux0[1]);
        mmdx__biquad_lowpass(&aux0[2], fs > 100 ? 40.0 : 0.4 * fs, fs);
        if (ri == 0)
            memcpy(x, s->ch[0].data, n * sizeof(float));
        else
            synth(x, n, fs, (int64_t)(0.3 * fs), (int64_t)(0.7 * fs),
                  (int64_t)(0.9 * fs), 0);
        assert_int_equal(mmdx__qrs_detect(ctx, x, n, fs, &ref, &nref),
                         MMDX_OK);
        assert_true(nref > 60);
        {
            struct mmdx_qrs_det *d = NULL;
            struct mmdx_biquad aux[3];

            memcpy(aux, aux0, sizeof(aux));
            assert_int_equal(mmdx__qrs_det_new(ctx, fs, &d), MMDX_OK);
            assert_int_equal(mmdx__qrs_det_push_aux(d, x, n, aux, yref),
                             MMDX_OK);
            mmdx__qrs_det_free(d);
        }
        for (si = 0; si < 12; si++) {
            struct mmdx_qrs_det *d = NULL;
            const struct mmdx_qrs_beat *b;
            struct mmdx_biquad aux[3];
            size_t st = step[si % 6];

            memcpy(aux, aux0, sizeof(aux));
            assert_int_equal(mmdx__qrs_det_new(ctx, fs, &d), MMDX_OK);
            for (i = 0; i < n; i += st) {
                size_t m = n - i < st ? n - i : st;

                if (si < 6)
                    assert_int_equal(mmdx__qrs_det_push(d, x + i, m),
                                     MMDX_OK);
                else
                    assert_int_equal(mmdx__qrs_det_push_aux(d, x + i, m, aux,
                                                            y + i),
                                     MMDX_OK);
            }
            if (si >= 6)
                assert_memory_equal(y, yref, n * sizeof(double));
            assert_int_equal(mmdx__qrs_det_finish(d), MMDX_OK);
            b = mmdx__qrs_det_beats(d, &nb);
            assert_int_equal(nb, nref);
            for (i = 0; i < nb; i++) {
                assert_true(b[i].sample == ref[i].sample);
                assert_true(b[i].amplitude == ref[i].amplitude);
                assert_int_equal(b[i].searchback, ref[i].searchback);
            }
            mmdx__qrs_det_free(d);
        }
        mmdx__free(ref);
        mmdx__free(x);
        mmdx__free(y);
        mmdx__free(yref);
    }
    mmdx__signal_free(s);
    mmdx__free(hea);
    mmdx_ctx_free(ctx);
}

/* Ensure that the ensemble average behind QRS width takes every regular
 * beat, whatever its place in the analysis step: 120 beats at 60 bpm,
 * 360 Hz, pushed at once -> all but the first two (no RR yet, RR average
 * starting) and the last (window incomplete) are averaged. Before the
 * ring held a whole step, beats early in each 4096-sample step had left
 * it and about half were lost. */
static void ecg_an__regular_beats__all_averaged(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_ecg_an *a = NULL;
    struct mmdx_patient pt;
    const double fs = 360;
    const size_t n = 120 * 360;
    float *x = mmdx__malloc(n * sizeof(float));
    size_t nb;

    (void)state;
    memset(&pt, 0, sizeof(pt));
    synth(x, n, fs, 180, 360, 360, 0);
    assert_int_equal(mmdx__ecg_an_new(ctx, fs, &a), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_push(a, x, n), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_finish(a, &pt), MMDX_OK);
    mmdx__ecg_an_beats(a, &nb);
    assert_true(nb >= 119 && nb <= 120);
    assert_true(mmdx__ecg_an_averaged(a) + 4 >= nb);
    mmdx__ecg_an_free(a);
    mmdx__patient_fini(&pt);
    mmdx__free(x);
    mmdx_ctx_free(ctx);
}

/* Ensure that a long synthetic record streamed in chunks (2 hours at
 * 250 Hz, 1.8 M samples) is detected beat for beat with memory that stays
 * bounded (the analysis holds well under 1 MB besides the beat list). */
static void ecg_an__long_stream__bounded_memory(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_ecg_an *a = NULL;
    struct mmdx_patient pt;
    const double fs = 250;
    const size_t total = 2 * 3600 * 250, chunk = 10000;
    float *x = mmdx__malloc(chunk * sizeof(float));
    size_t off, nb, max_bytes = 0;
    const struct mmdx_feature *f;

    (void)state;
    memset(&pt, 0, sizeof(pt));
    assert_int_equal(mmdx__ecg_an_new(ctx, fs, &a), MMDX_OK);
    for (off = 0; off < total; off += chunk) {
        size_t b;

        synth(x, chunk, fs, 100, 200, 225, (int64_t)off);
        assert_int_equal(mmdx__ecg_an_push(a, x, chunk), MMDX_OK);
        mmdx__ecg_an_beats(a, &nb);
        b = mmdx__ecg_an_bytes(a) - nb * sizeof(struct mmdx_qrs_beat);
        if (b > max_bytes)
            max_bytes = b;
    }
    assert_int_equal(mmdx__ecg_an_finish(a, &pt), MMDX_OK);
    mmdx__ecg_an_beats(a, &nb);
    /* beats every 0.8 s / 0.9 s alternately: 2 per 425 samples */
    assert_true(labs((long)nb - (long)(total * 2 / 425)) <= 2);
    assert_true(max_bytes < (1u << 20));
    f = mmdx__featset_get(&pt.features, "ecg.rate.hr_bpm");
    assert_non_null(f);
    assert_true(fabs(f->value - 60000.0 / 850) < 0.1);
    f = mmdx__featset_get(&pt.features, "ecg.quality.sqi");
    assert_true(f->value > 0.99);
    mmdx__ecg_an_free(a);
    mmdx__patient_fini(&pt);
    mmdx__free(x);
    mmdx_ctx_free(ctx);
}

/* Ensure that ecg.features on MIT-BIH 103 gives the record's mean rate
 * (reference: 2084 annotated beats in 650000 samples at 360 Hz = 69.3
 * bpm; tolerance 1 %), every feature name, and quality flags only where
 * due. */
static void ecg_features__mitdb_103__rate(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    struct mmdx_patient pt;
    struct mmdx_signal *s = NULL;
    struct mmdx_ecg_an *a = NULL;
    const struct mmdx_feature *f;
    const char *want[] = { "II" };

    (void)state;
    memset(&pt, 0, sizeof(pt));
    assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, NULL, &s), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_new(ctx, s->ch[0].fs_hz, &a), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_push(a, s->ch[0].data, s->ch[0].n),
                     MMDX_OK);
    assert_int_equal(mmdx__ecg_an_finish(a, &pt), MMDX_OK);
    assert_int_equal(pt.features.n, 22);
    f = mmdx__featset_get(&pt.features, "ecg.rate.hr_bpm");
    assert_true(fabs(f->value - 2084 * 60.0 / (650000 / 360.0)) < 0.7);
    f = mmdx__featset_get(&pt.features, "ecg.hrv.lf_hf");
    assert_false(isnan(f->value));
    /* 2000+ NN intervals: sample entropy uses the first 2000 */
    assert_int_equal(pt.nflags, 1);
    assert_string_equal(pt.flags[0].code, "ecg.hrv.sampen_first_2000");
    mmdx__ecg_an_free(a);
    mmdx__signal_free(s);
    mmdx__patient_fini(&pt);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that a lazily loaded WFDB record (samples read on demand, in
 * chunks) gives exactly the features of the loaded one (reference: the
 * eager path on MIT-BIH 106; exact equality). */
static void wfdb_lazy__mitdb_106__same_features(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/106.hea");
    struct mmdx_signal *s[2] = { NULL, NULL };
    struct mmdx_patient pt[2];
    const char *want[] = { "II" };
    const struct mmdx_stage_def *def = mmdx__stage_find("ecg.features");
    struct mmdx_stage stg;
    size_t i, k;

    (void)state;
    assert_non_null(def);
    memset(&stg, 0, sizeof(stg));
    stg.def = def;
    stg.ctx = ctx;
    assert_int_equal(mmdx__wfdb_load_ex(ctx, p, want, 1, SIZE_MAX, &s[0],
                                        NULL), MMDX_OK);
    assert_int_equal(mmdx__wfdb_load_ex(ctx, p, want, 1, 0, &s[1], NULL),
                     MMDX_OK);
    assert_non_null(s[0]->ch[0].data);
    assert_null(s[1]->ch[0].data);
    assert_non_null(s[1]->src);
    assert_int_equal(s[1]->ch[0].n, 650000);
    for (k = 0; k < 2; k++) {
        memset(&pt[k], 0, sizeof(pt[k]));
        pt[k].ctx = ctx;
        mmdx__patient_set_slot(&pt[k], MMDX_SLOT_ECG, s[k],
                               mmdx__signal_free_v);
        assert_int_equal(def->process(&stg, &pt[k]), MMDX_OK);
    }
    assert_int_equal(pt[0].features.n, pt[1].features.n);
    for (i = 0; i < pt[0].features.n; i++) {
        double a = pt[0].features.v[i].value, b = pt[1].features.v[i].value;

        assert_string_equal(pt[0].features.v[i].name,
                            pt[1].features.v[i].name);
        assert_true((isnan(a) && isnan(b)) || a == b);
    }
    for (k = 0; k < 2; k++)
        mmdx__patient_fini(&pt[k]);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Write a 2-signal format-16 WFDB record NAME (II, V1) at 250 Hz into dir:
 * II flat (0 mV) throughout, V1 the synthetic ECG except flat after
 * v1_flat_s seconds. Checksums are the 16-bit sums WFDB defines. */
static void write_two_lead(const char *dir, const char *name, double secs,
                           double v1_flat_s)
{
    const double fs = 250;
    size_t n = (size_t)(secs * fs), i;
    float *v1 = mmdx__malloc(n * sizeof(float));
    unsigned char *buf = mmdx__malloc(4 * n);
    int sum1 = 0;
    char hea[512], dat[64];
    char *path;
    struct mmdx_ctx *ctx = test_ctx();

    synth(v1, n, fs, 50, 200, 225, 0);
    for (i = 0; i < n; i++) {
        int v = (double)i >= v1_flat_s * fs ? 0 : (int)lround(200 * v1[i]);

        buf[4 * i] = buf[4 * i + 1] = 0;
        buf[4 * i + 2] = (unsigned char)(v & 0xff);
        buf[4 * i + 3] = (unsigned char)((v >> 8) & 0xff);
        sum1 += v;
    }
    snprintf(dat, sizeof(dat), "%s.dat", name);
    snprintf(hea, sizeof(hea),
             "%s 2 250 %zu\n%s 16 200 16 0 0 0 0 II\n%s 16 200 16 0 0 %d 0 "
             "V1\n", name, n, dat, dat, (int)(int16_t)(uint16_t)(sum1 & 0xffff));
    path = mmdx__path_join(dir, dat);
    assert_int_equal(mmdx__file_write_atomic(ctx, path, buf, 4 * n), MMDX_OK);
    mmdx__free(path);
    snprintf(dat, sizeof(dat), "%s.hea", name);
    path = mmdx__path_join(dir, dat);
    assert_int_equal(mmdx__file_write_atomic(ctx, path, hea, strlen(hea)),
                     MMDX_OK);
    mmdx__free(path);
    mmdx__free(v1);
    mmdx__free(buf);
    mmdx_ctx_free(ctx);
}

/* Run ecg.features on a signal; the patient is initialised here. */
static void run_features(struct mmdx_ctx *ctx, struct mmdx_signal *s,
                         struct mmdx_patient *pt)
{
    const struct mmdx_stage_def *def = mmdx__stage_find("ecg.features");
    struct mmdx_stage stg;

    assert_non_null(def);
    memset(&stg, 0, sizeof(stg));
    stg.def = def;
    stg.ctx = ctx;
    memset(pt, 0, sizeof(*pt));
    pt->ctx = ctx;
    mmdx__patient_set_slot(pt, MMDX_SLOT_ECG, s, mmdx__signal_free_v);
    assert_int_equal(def->process(&stg, pt), MMDX_OK);
}

static const struct mmdx_flag *find_flag(const struct mmdx_patient *pt,
                                         const char *code)
{
    size_t i;

    for (i = 0; i < pt->nflags; i++)
        if (!strcmp(pt->flags[i].code, code))
            return &pt->flags[i];
    return NULL;
}

/* Ensure that the loader keeps the record's other ECG leads after the
 * wanted one when asked (MIT-BIH 103: MLII, V2; the aECG example: II then
 * its 11 other leads in file order) and only the wanted one otherwise. */
static void ecg_load__other_leads__after_wanted(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    char *x = test_shared("ecg/aecg/Example_aECG.xml");
    struct mmdx_signal *s = NULL;
    const char *ii[] = { "II" }, *v2[] = { "V2" };

    (void)state;
    assert_int_equal(mmdx__ecg_load_ex(ctx, p, ii, 1, true, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 2);
    assert_string_equal(s->ch[0].label, "MLII");
    assert_string_equal(s->ch[1].label, "V2");
    mmdx__signal_free(s);
    assert_int_equal(mmdx__ecg_load_ex(ctx, p, v2, 1, true, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 2);
    assert_string_equal(s->ch[0].label, "V2");
    assert_string_equal(s->ch[1].label, "MLII");
    mmdx__signal_free(s);
    assert_int_equal(mmdx__ecg_load_ex(ctx, p, ii, 1, false, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 1);
    mmdx__signal_free(s);
    assert_int_equal(mmdx__ecg_load_ex(ctx, x, ii, 1, true, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 12);
    assert_string_equal(s->ch[0].label, "II");
    assert_string_equal(s->ch[1].label, "I");
    mmdx__signal_free(s);
    assert_true(mmdx__ecg_label_is_lead("aVF"));
    assert_true(mmdx__ecg_label_is_lead("ECG1"));
    assert_false(mmdx__ecg_label_is_lead("ABP"));
    assert_false(mmdx__ecg_label_is_lead("Fp1"));
    mmdx__free(p);
    mmdx__free(x);
    mmdx_ctx_free(ctx);
}

struct qrows {
    size_t n;
    struct mmdx_ecg_lead_quality q[16];
};

static enum mmdx_status keep_row(void *user,
                                 const struct mmdx_ecg_lead_quality *q)
{
    struct qrows *r = user;

    if (r->n < 16)
        r->q[r->n] = *q;
    r->n++;
    return MMDX_OK;
}/* Ensure that ecg-quality lists every ECG lead of a record whose leads lie
 * in two signal files (PTB s0010_re: 12 leads in .dat, the Frank leads
 * vx, vy, vz in .xyz; reference: its .hea lists 15 signals), with lead II
 * analysed first, or the lead asked for (--lead vx) and then the other 14,
 * and that the loader's other_leads takes the Frank leads too. */
static void ecg_quality__ptb_two_files__all_15_leads(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/ptbdb/s0010_re.hea");
    static const char *const order[15] = { "II", "I", "III", "aVR", "aVL",
                                           "aVF", "V1", "V2", "V3", "V4",
                                           "V5", "V6", "vx", "vy", "vz" };
    struct qrows r;
    long nw = 0, noisy = -1;
    size_t i;

    (void)state;
    assert_true(mmdx__ecg_label_is_lead("vx"));
    assert_true(mmdx__ecg_label_is_lead("VZ"));
    memset(&r, 0, sizeof(r));
    assert_int_equal(mmdx_ecg_quality(ctx, p, NULL, keep_row, &r, &nw,
                                      &noisy), MMDX_OK);
    assert_int_equal(r.n, 15);
    for (i = 0; i < 15; i++) {
        assert_string_equal(r.q[i].label, order[i]);
        assert_int_equal(r.q[i].analysed, i == 0);
        assert_true(fabs(r.q[i].fs_hz - 1000) < 1e-9);
    }
    memset(&r, 0, sizeof(r));
    assert_int_equal(mmdx_ecg_quality(ctx, p, "vx", keep_row, &r, &nw,
                                      &noisy), MMDX_OK);
    assert_int_equal(r.n, 15);
    assert_string_equal(r.q[0].label, "vx");
    assert_int_equal(r.q[0].analysed, 1);
    assert_string_equal(r.q[1].label, "I");
    assert_string_equal(r.q[13].label, "vy");
    assert_string_equal(r.q[14].label, "vz");
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that ecg-quality refuses an EEG-only EDF (no ECG lead), naming
 * the field and the labels the file has, as ecg-detect does, and still
 * analyses an EDF whose ECG leads sit beside EEG channels (the EEG ones
 * not listed). */
static void ecg_quality__eeg_only_edf__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *e = test_shared("eeg/test_subsecond.edf");
    char *m = test_shared("eeg/test_edf_stim_channel.edf");
    struct qrows r;
    long nw = 0, noisy = -1;
    size_t i;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(mmdx_ecg_quality(ctx, e, NULL, keep_row, &r, &nw,
                                      &noisy), MMDX_E_NOTFOUND);
    assert_int_equal(r.n, 0);
    assert_error_has(ctx, "test_subsecond.edf: io.ecg: lead: no ECG lead "
                          "in the record (it has Fp1;");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx_ecg_detect(ctx, e, NULL, NULL, NULL, NULL),
                     MMDX_E_NOTFOUND);
    assert_error_has(ctx, "lead: none of the wanted leads (II)");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    memset(&r, 0, sizeof(r));
    assert_int_equal(mmdx_ecg_quality(ctx, m, NULL, keep_row, &r, &nw,
                                      &noisy), MMDX_OK);
    assert_true(r.n >= 1);
    for (i = 0; i < r.n && i < 16; i++)
        assert_true(mmdx__ecg_label_is_lead(r.q[i].label));
    mmdx__free(e);
    mmdx__free(m);
    mmdx_ctx_free(ctx);
}



/* Ensure that signal quality is reported for every lead of MIT-BIH 103
 * (reference: 650000 samples at 360 Hz = 180.6 s -> 181 windows of 10 s,
 * the last half window counted; lead MLII analysed; exact counts), and
 * that ecg.features raises no lead flag when every lead is usable. */
static void ecg_quality__mitdb_103__every_lead(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    struct qrows r;
    long nw = 0, noisy = -1;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(mmdx_ecg_quality(ctx, p, NULL, keep_row, &r, &nw,
                                      &noisy), MMDX_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.q[0].label, "MLII");
    assert_string_equal(r.q[1].label, "V2");
    assert_int_equal(r.q[0].windows, 181);
    assert_int_equal(r.q[1].windows, 181);
    assert_int_equal(r.q[0].good, 181);
    assert_true(r.q[1].good >= 170);
    assert_int_equal(r.q[0].analysed, 1);
    assert_int_equal(r.q[1].analysed, 0);
    assert_true(fabs(r.q[0].sqi - 1.0) < 1e-12);
    /* 2084 annotated beats */
    assert_true(labs(r.q[0].beats - 2084) <= 2);
    assert_int_equal(nw, 181);
    assert_int_equal(noisy, 0);
    /* ecg.features on both leads: every lead usable, so no lead flag */
    {
        struct mmdx_signal *s = NULL;
        struct mmdx_patient pt;
        const char *ii[] = { "II" };

        assert_int_equal(mmdx__ecg_load_ex(ctx, p, ii, 1, true, NULL, &s),
                         MMDX_OK);
        run_features(ctx, s, &pt);
        assert_null(find_flag(&pt, "ecg.quality.lead_sqi"));
        assert_null(find_flag(&pt, "ecg.quality.lead_switched"));
        assert_null(find_flag(&pt, "ecg.quality.noisy_segments"));
        mmdx__patient_fini(&pt);
    }
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that when the preferred lead is unusable (II flat) the features
 * come from the clean lead (V1: beats every 0.8/0.9 s, 70.6 bpm; tolerance
 * 0.5 bpm), with flags naming the per-lead SQI (II 0, V1 7/8), the switch
 * and the one 10 s window (70-80 s) where no lead is usable. */
static void ecg_features__flat_preferred_lead__uses_other(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p = mmdx__path_join(dir, "two.hea");
    struct mmdx_signal *s = NULL;
    struct mmdx_patient pt;
    const char *ii[] = { "II" };
    const struct mmdx_feature *f;
    const struct mmdx_flag *fl;

    (void)state;
    write_two_lead(dir, "two", 80, 70);
    assert_int_equal(mmdx__ecg_load_ex(ctx, p, ii, 1, true, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 2);
    run_features(ctx, s, &pt);
    f = mmdx__featset_get(&pt.features, "ecg.rate.hr_bpm");
    assert_non_null(f);
    assert_true(fabs(f->value - 60000.0 / 850) < 0.5);
    f = mmdx__featset_get(&pt.features, "ecg.quality.sqi");
    assert_true(fabs(f->value - 7.0 / 8) < 1e-12);
    fl = find_flag(&pt, "ecg.quality.lead_sqi");
    assert_non_null(fl);
    assert_string_equal(fl->message, "SQI per lead: II 0, V1 0.875");
    fl = find_flag(&pt, "ecg.quality.lead_switched");
    assert_non_null(fl);
    assert_non_null(strstr(fl->message, "lead V1"));
    fl = find_flag(&pt, "ecg.quality.noisy_segments");
    assert_non_null(fl);
    assert_string_equal(fl->message, "1 of 8 10 s windows unusable on every "
                                     "lead (first at 70 s)");
    mmdx__patient_fini(&pt);
    /* V1 clean throughout: no window is unusable on every lead */
    write_two_lead(dir, "one", 80, 80);
    mmdx__free(p);
    p = mmdx__path_join(dir, "one.hea");
    assert_int_equal(mmdx__ecg_load_ex(ctx, p, ii + 0, 1, true, NULL, &s),
                     MMDX_OK);
    assert_int_equal(s->nch, 2);
    run_features(ctx, s, &pt);
    assert_null(find_flag(&pt, "ecg.quality.noisy_segments"));
    mmdx__patient_fini(&pt);
    mmdx__free(p);
    mmdx__free(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that loading with the other leads, the per-lead analysis, the
 * lead switch and the quality flags fail cleanly at every allocation
 * (E_NOMEM, no leak under ASan). */
static void ecg_multi_lead__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *p = mmdx__path_join(dir, "m.hea");
    const struct mmdx_stage_def *def = mmdx__stage_find("ecg.features");
    const char *ii[] = { "II" };
    unsigned long n;

    (void)state;
    write_two_lead(dir, "m", 50, 40);
    for (n = 1;; n++) {
        struct mmdx_signal *s = NULL;
        struct mmdx_patient pt;
        struct mmdx_stage stg;
        enum mmdx_status st;

        memset(&pt, 0, sizeof(pt));
        memset(&stg, 0, sizeof(stg));
        stg.def = def;
        stg.ctx = ctx;
        pt.ctx = ctx;
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__ecg_load_ex(ctx, p, ii, 1, true, NULL, &s);
        if (!st) {
            mmdx__patient_set_slot(&pt, MMDX_SLOT_ECG, s,
                                   mmdx__signal_free_v);
            st = def->process(&stg, &pt);
        }
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_non_null(find_flag(&pt, "ecg.quality.lead_switched"));
            assert_non_null(find_flag(&pt, "ecg.quality.noisy_segments"));
            mmdx__patient_fini(&pt);
            break;
        }
        mmdx__patient_fini(&pt);
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 10);
    mmdx__free(p);
    mmdx__free(dir);
    mmdx_ctx_free(ctx);
}

static char *multiseg(const char *name)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "tests/data/wfdb-multiseg/%s", name);
    return mmdx__path_join(MMDX_SRCDIR, rel);
}

/* Ensure that a variable-layout multi-segment record (layout header, two
 * segments, a null segment; tests/data/wfdb-multiseg/README.md) reads as
 * its segments concatenated, sample for sample equal to the segment
 * records read alone (exact), with zeros for the null segment and for the
 * signal a segment lacks; and a fixed-layout one likewise. */
static void wfdb_multiseg__layouts__segments_concatenated(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *v = multiseg("vseg.hea"), *v1 = multiseg("vseg_0001.hea");
    char *v2 = multiseg("vseg_0002.hea"), *f = multiseg("fseg.hea");
    char *f1 = multiseg("fseg_1.hea"), *f2 = multiseg("fseg_2.hea");
    struct mmdx_signal *m = NULL, *a = NULL, *b = NULL;
    const char *want[] = { "V1", "II" };
    size_t i;

    (void)state;
    assert_int_equal(mmdx__wfdb_load(ctx, v, want, 2, &m, NULL), MMDX_OK);
    assert_int_equal(m->nch, 2);
    assert_string_equal(m->ch[0].label, "V1");
    assert_string_equal(m->ch[1].label, "II");
    assert_int_equal(m->ch[0].n, 1250);
    assert_true(fabs(m->ch[0].fs_hz - 250) < 1e-12);
    assert_true(fabs(m->duration_s - 5) < 1e-12);
    assert_int_equal(mmdx__wfdb_load(ctx, v1, NULL, 0, &a, NULL), MMDX_OK);
    assert_int_equal(mmdx__wfdb_load(ctx, v2, NULL, 0, &b, NULL), MMDX_OK);
    for (i = 0; i < 500; i++) {
        assert_true(m->ch[1].data[i] == a->ch[0].data[i]);       /* II */
        assert_true(m->ch[0].data[i] == a->ch[1].data[i]);       /* V1 */
        assert_true(m->ch[0].data[750 + i] == b->ch[0].data[i]); /* V1 */
    }
    for (i = 500; i < 750; i++)
        assert_true(m->ch[0].data[i] == 0);
    for (i = 500; i < 1250; i++)
        assert_true(m->ch[1].data[i] == 0);
    mmdx__signal_free(m);
    mmdx__signal_free(a);
    mmdx__signal_free(b);
    assert_int_equal(mmdx__wfdb_load(ctx, f, NULL, 0, &m, NULL), MMDX_OK);
    assert_int_equal(mmdx__wfdb_load(ctx, f1, NULL, 0, &a, NULL), MMDX_OK);
    assert_int_equal(mmdx__wfdb_load(ctx, f2, NULL, 0, &b, NULL), MMDX_OK);
    assert_int_equal(m->nch, 1);
    assert_int_equal(m->ch[0].n, 500);
    for (i = 0; i < 300; i++)
        assert_true(m->ch[0].data[i] == a->ch[0].data[i]);
    for (i = 0; i < 200; i++)
        assert_true(m->ch[0].data[300 + i] == b->ch[0].data[i]);
    mmdx__signal_free(m);
    mmdx__signal_free(a);
    mmdx__signal_free(b);
    /* the ECG loader takes the layout's other leads too */
    assert_int_equal(mmdx__ecg_load_ex(ctx, v, want + 1, 1, true, NULL, &m),
                     MMDX_OK);
    assert_int_equal(m->nch, 2);
    assert_string_equal(m->ch[0].label, "II");
    assert_string_equal(m->ch[1].label, "V1");
    mmdx__signal_free(m);
    mmdx__free(v);
    mmdx__free(v1);
    mmdx__free(v2);
    mmdx__free(f);
    mmdx__free(f1);
    mmdx__free(f2);
    mmdx_ctx_free(ctx);
}

/* Ensure that broken multi-segment records give errors naming file, line
 * and field: too few segment lines, a path in a segment name, a nested
 * multi-segment record, a segment at another rate, a sample count that
 * disagrees with the record line, a missing segment, and that the reader
 * refuses a multi-segment header (it has no signal files). */
static void wfdb_multiseg__bad_inputs__named_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_signal *s = NULL;
    struct mmdx_wfdb_header *h = NULL;
    struct mmdx_wfdb_reader *r = NULL;
    /* s1.dat: bytes 7i: samples 1792, 5390, 8988, 12586 (checksum 28756) */
    const char *seg = "s1 1 250 4\ns1.dat 16 200 16 0 0 28756 0 II\n";
    char *p;

    (void)state;
    test_write(dir, "s1.hea", seg);
    write_bytes(dir, "s1.dat", 8);
    test_write(dir, "s2.hea",
               "s2 1 500 4\ns1.dat 16 200 16 0 0 28756 0 II\n");
    test_write(dir, "a.hea", "a/3 1 250 8\ns1 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "a.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "a.hea:2: io.wfdb: segment: header declares 3 "
                          "segments, has 1 segment lines");
    test_write(dir, "b.hea", "b/1 1 250 4\n../s1 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "b.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "b.hea:2: io.wfdb: segment[0]: segment records "
                          "must lie beside the header");
    test_write(dir, "n.hea", "n/1 1 250 4\ns1 4\n");
    test_write(dir, "c.hea", "c/1 1 250 4\nn 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "c.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "c.hea:2: io.wfdb: segment: segment n is itself a "
                          "multi-segment record");
    test_write(dir, "d.hea", "d/2 1 250 8\ns1 4\ns2 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "d.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "d.hea:3: io.wfdb: segment: segment s2 is sampled "
                          "at 500 Hz, the record at 250 Hz");
    test_write(dir, "e.hea", "e/2 1 250 9\ns1 4\ns1 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "e.hea", &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "e.hea: io.wfdb: record.nsamp: segments hold 8 "
                          "samples, the record line says 9");
    test_write(dir, "f.hea", "f/2 1 250 8\ns1 4\nnope 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "f.hea", &s), MMDX_E_NOTFOUND);
    assert_error_has(ctx, "nope.hea");
    test_write(dir, "g.hea", "g/2 1 250 8\ns1 4\ns1 4\n");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(load_in(ctx, dir, "g.hea", &s), MMDX_OK);
    assert_int_equal(s->ch[0].n, 8);
    mmdx__signal_free(s);
    s = NULL;
    p = mmdx__path_join(dir, "g.hea");
    assert_int_equal(mmdx__wfdb_header_read(ctx, p, &h), MMDX_OK);
    assert_int_equal(h->nseg, 2);
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__wfdb_reader_new(ctx, h, &r), MMDX_E_UNSUPPORTED);
    assert_null(r);
    mmdx__wfdb_header_free(h);
    mmdx__free(p);
    mmdx__free(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that reading a multi-segment record fails cleanly at every
 * allocation (E_NOMEM, no leak under ASan). */
static void wfdb_multiseg__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *v = multiseg("vseg.hea");
    unsigned long n;

    (void)state;
    for (n = 1;; n++) {
        struct mmdx_signal *s = NULL;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__wfdb_load(ctx, v, NULL, 0, &s, NULL);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            assert_int_equal(s->nch, 2);
            mmdx__signal_free(s);
            break;
        }
        assert_null(s);
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 10);
    mmdx__free(v);
    mmdx_ctx_free(ctx);
}

/* Ensure that ecg-detect's WFDB annotation output reads back (our MIT
 * reader) as the same beats as its TSV output, all labelled N. */
static void ecg_detect__wfdb_output__roundtrip(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/mitdb/103.hea");
    char *dir = test_tmpdir(), *tsv = mmdx__path_join(dir, "b.tsv");
    char *qrs = mmdx__path_join(dir, "103.qrs"), *text = NULL;
    struct mmdx_wfdb_annset a;
    size_t nb = 0, len, i, lines = 0;
    const char *q;

    (void)state;
    assert_int_equal(mmdx_ecg_detect(ctx, p, NULL, tsv, qrs, &nb), MMDX_OK);
    assert_int_equal(mmdx__wfdb_ann_read(ctx, qrs, &a), MMDX_OK);
    assert_int_equal(a.n, nb);
    for (i = 0; i < a.n; i++)
        assert_int_equal(a.a[i].code, mmdx__wfdb_ann_code("N"));
    assert_int_equal(mmdx__file_read(ctx, tsv, 1 << 24, &text, &len),
                     MMDX_OK);
    assert_true(strncmp(text, "sample\ttime_s\tlabel\n", 20) == 0);
    for (q = text; *q; q++)
        lines += *q == '\n';
    assert_int_equal(lines, nb + 1);
    /* second row is the second beat: same sample as in the .qrs */
    q = strchr(strchr(text, '\n') + 1, '\n') + 1;
    assert_int_equal(strtoll(q, NULL, 10), a.a[1].sample);
    mmdx__free(text);
    mmdx__wfdb_annset_fini(&a);
    mmdx__free(tsv);
    mmdx__free(qrs);
    test_rmtree(dir);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

/* Ensure that the ECG loader (aECG reader, WFDB signal reader) and the
 * features analysis return E_NOMEM at every allocation failure and leak
 * nothing (ASan checks the leaks). */
static void ecg_load__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *files[2];
    unsigned long n;
    size_t f;

    (void)state;
    files[0] = test_shared("ecg/aecg/minimum_aecg.xml");
    files[1] = test_shared("ecg/wfdb-formats/binformats.hea");
    for (f = 0; f < 2; f++) {
        for (n = 1;; n++) {
            const char *p = files[f];
            struct mmdx_signal *s = NULL;
            struct mmdx_patient pt;
            enum mmdx_status st;

            memset(&pt, 0, sizeof(pt));
            mmdx_ctx_clear_error(ctx);
            mmdx__alloc_fail_at(n);
            st = mmdx__ecg_load(ctx, p, NULL, 0, &pt, &s);
            mmdx__alloc_fail_at(0);
            mmdx__patient_fini(&pt);
            if (st == MMDX_OK) {
                assert_int_equal(s->nch, f ? 10 : 1);
                mmdx__signal_free(s);
                break;
            }
            assert_null(s);
            assert_int_equal(st, MMDX_E_NOMEM);
            assert_int_equal(mmdx_ctx_last_error(ctx)->status, MMDX_E_NOMEM);
        }
    }
    /* the analysis of 60 s of synthetic ECG */
    {
        float *x = mmdx__malloc(15000 * sizeof(float));

        synth(x, 15000, 250, 100, 200, 225, 0);
        for (n = 1;; n++) {
            struct mmdx_ecg_an *a = NULL;
            struct mmdx_patient pt;
            enum mmdx_status st;

            memset(&pt, 0, sizeof(pt));
            mmdx_ctx_clear_error(ctx);
            mmdx__alloc_fail_at(n);
            st = mmdx__ecg_an_new(ctx, 250, &a);
            if (!st)
                st = mmdx__ecg_an_push(a, x, 15000);
            if (!st)
                st = mmdx__ecg_an_finish(a, &pt);
            mmdx__alloc_fail_at(0);
            mmdx__ecg_an_free(a);
            mmdx__patient_fini(&pt);
            if (st == MMDX_OK)
                break;
            assert_int_equal(st, MMDX_E_NOMEM);
        }
        assert_true(n > 10);
        mmdx__free(x);
    }
    mmdx__free(files[0]);
    mmdx__free(files[1]);
    mmdx_ctx_free(ctx);
}

/* Ensure that lead II of the DICOM 12-lead example gives the device's own
 * global measurements (reference: the file's WaveformAnnotationSequence,
 * RR interval 982 ms and QRS duration 75 ms; tolerances 1 % for RR and
 * 10 ms for the QRS width, whose device value spans all 12 leads). */
static void ecg_features__dicom_waveform__device_measurements(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *p = test_shared("ecg/dicom-waveform/waveform_ecg.dcm");
    struct mmdx_patient pt;
    struct mmdx_signal *s = NULL;
    struct mmdx_ecg_an *a = NULL;
    const struct mmdx_feature *f;
    const char *want[] = { "II" };

    (void)state;
    memset(&pt, 0, sizeof(pt));
    assert_int_equal(mmdx__ecg_load(ctx, p, want, 1, NULL, &s), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_new(ctx, s->ch[0].fs_hz, &a), MMDX_OK);
    assert_int_equal(mmdx__ecg_an_push(a, s->ch[0].data, s->ch[0].n),
                     MMDX_OK);
    assert_int_equal(mmdx__ecg_an_finish(a, &pt), MMDX_OK);
    f = mmdx__featset_get(&pt.features, "ecg.rr.mean_ms");
    assert_true(fabs(f->value - 982) < 9.82);
    f = mmdx__featset_get(&pt.features, "ecg.qrs.width_ms");
    assert_true(fabs(f->value - 75) <= 10);
    mmdx__ecg_an_free(a);
    mmdx__signal_free(s);
    mmdx__patient_fini(&pt);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wfdb_load__binformats__checksums_match),
        cmocka_unit_test(wfdb_load__mitdb_212__mv_and_labels),
        cmocka_unit_test(wfdb_load__two_signal_files__all_leads),
        cmocka_unit_test(wfdb_load__bad_inputs__named_errors),
        cmocka_unit_test(wfdb_load__defaults__gain200_and_units),
        cmocka_unit_test(wfdb_ann__mitdb_103__counts_and_roundtrip),
        cmocka_unit_test(wfdb_ann__pseudo_codes__decoded),
        cmocka_unit_test(wfdb_parsers__oom__nomem),
        cmocka_unit_test(ecg_score__matching__one_to_one),
        cmocka_unit_test(ecg_eval__mitdb__scores),
        cmocka_unit_test(aecg_load__example__twelve_leads),
        cmocka_unit_test(aecg_load__minimum__lead_choice),
        cmocka_unit_test(aecg_load__bad_digits__named),
        cmocka_unit_test(wfdb_detect__bad_nsig__named_by_reader),
        cmocka_unit_test(ecg_load__wfdb_comments__idfields),
        cmocka_unit_test(hrv__alternating_rr__closed_form),
        cmocka_unit_test(hrv__tied_rr__sampen_and_af_as_defined),
        cmocka_unit_test(qrs_det__push_sizes__same_beats),
        cmocka_unit_test(ecg_an__regular_beats__all_averaged),
        cmocka_unit_test(ecg_an__long_stream__bounded_memory),
        cmocka_unit_test(ecg_features__mitdb_103__rate),
        cmocka_unit_test(wfdb_lazy__mitdb_106__same_features),
        cmocka_unit_test(ecg_detect__wfdb_output__roundtrip),
        cmocka_unit_test(ecg_load__other_leads__after_wanted),
        cmocka_unit_test(ecg_quality__mitdb_103__every_lead),
        cmocka_unit_test(ecg_quality__ptb_two_files__all_15_leads),
        cmocka_unit_test(ecg_quality__eeg_only_edf__refused),
        cmocka_unit_test(ecg_features__flat_preferred_lead__uses_other),
        cmocka_unit_test(ecg_multi_lead__oom__nomem),
        cmocka_unit_test(wfdb_multiseg__layouts__segments_concatenated),
        cmocka_unit_test(wfdb_multiseg__bad_inputs__named_errors),
        cmocka_unit_test(wfdb_multiseg__oom__nomem),
        cmocka_unit_test(ecg_load__oom__nomem),
        cmocka_unit_test(ecg_features__dicom_waveform__device_measurements),
    };

    return cmocka_run_group_tests_name("ecg", tests, NULL, NULL);
}
