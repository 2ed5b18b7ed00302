/*
 * test_eeg.c - eeg_testdriver: the EDF/EDF+/BDF reader, the EEG loader and
 * the EEG feature stage (Welch PSD checked against scipy reference values).
 */
#include "core/common.h"
#include "io/edf.h"
#include "features/eeg_dsp.h"
#include "features/eeg_features.h"
#include "io/signal.h"
#include "pipeline/stage.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

#include <fcntl.h>
#include <unistd.h>

/* ---- a small EDF writer for synthetic files ------------------------------- */

struct tsig {
    const char *label, *dim;
    double pmin, pmax;
    long dmin, dmax;
    long spr;
};

static void put(unsigned char *h, size_t off, size_t w, const char *v)
{
    size_t n = strlen(v);

    memset(h + off, ' ', w);
    memcpy(h + off, v, n < w ? n : w);
}

/* Header for ns signals; caller frees. reserved e.g. "EDF+C" or "". */
static unsigned char *edf_header(bool bdf, const char *patient,
                                 const char *recording, const char *reserved,
                                 long nrec, const char *dur,
                                 const struct tsig *s, size_t ns,
                                 size_t *len)
{
    size_t hb = 256 * (ns + 1), i, off;
    unsigned char *h = calloc(1, hb);
    char num[32];

    assert_non_null(h);
    memset(h, ' ', hb);
    if (bdf) {
        h[0] = 0xFF;
        memcpy(h + 1, "BIOSEMI", 7);
    } else {
        put(h, 0, 8, "0");
    }
    put(h, 8, 80, patient);
    put(h, 88, 80, recording);
    put(h, 168, 8, "02.05.21");
    put(h, 176, 8, "10.11.12");
    snprintf(num, sizeof(num), "%zu", hb);
    put(h, 184, 8, num);
    put(h, 192, 44, reserved);
    snprintf(num, sizeof(num), "%ld", nrec);
    put(h, 236, 8, num);
    put(h, 244, 8, dur);
    snprintf(num, sizeof(num), "%zu", ns);
    put(h, 252, 4, num);
    off = 256;
    for (i = 0; i < ns; i++)
        put(h, off + i * 16, 16, s[i].label);
    off += ns * 16;
    off += ns * 80; /* transducer */
    for (i = 0; i < ns; i++)
        put(h, off + i * 8, 8, s[i].dim);
    off += ns * 8;
    for (i = 0; i < ns; i++) {
        snprintf(num, sizeof(num), "%.8g", s[i].pmin);
        put(h, off + i * 8, 8, num);
    }
    off += ns * 8;
    for (i = 0; i < ns; i++) {
        snprintf(num, sizeof(num), "%.8g", s[i].pmax);
        put(h, off + i * 8, 8, num);
    }
    off += ns * 8;
    for (i = 0; i < ns; i++) {
        snprintf(num, sizeof(num), "%ld", s[i].dmin);
        put(h, off + i * 8, 8, num);
    }
    off += ns * 8;
    for (i = 0; i < ns; i++) {
        snprintf(num, sizeof(num), "%ld", s[i].dmax);
        put(h, off + i * 8, 8, num);
    }
    off += ns * 8;
    off += ns * 80; /* prefiltering */
    for (i = 0; i < ns; i++) {
        snprintf(num, sizeof(num), "%ld", s[i].spr);
        put(h, off + i * 8, 8, num);
    }
    *len = hb;
    return h;
}

static size_t hdr_sig_off(size_t ns, size_t field_off_per_sig, size_t i,
                          size_t w)
{
    return 256 + ns * field_off_per_sig + i * w;
}

static const struct tsig two_sigs[] = {
    { "EEG Fp1-REF", "uV", -3276.8, 3276.7, -32768, 32767, 4 },
    { "EEG T3-REF", "mV", -1, 1, -100, 100, 2 },
};

/* Parse a header built from two_sigs with 3 records; returns the status. */
static enum mmdx_status parse_mut(struct mmdx_ctx *ctx, unsigned char *h,
                                  size_t len)
{
    struct mmdx_edf *e = NULL;
    enum mmdx_status st;
    uint64_t size = len + 3 * (4 + 2) * 2;

    st = mmdx__edf_parse_header(ctx, "t.edf", h, len, size, &e);
    if (st == MMDX_OK)
        assert_non_null(e);
    else
        assert_null(e);
    mmdx__edf_close(e);
    return st;
}

/* Ensure that a well-formed synthetic header parses with scaling, rates
 * and normalised labels. */
static void edf_header__synthetic__parsed(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t len;
    unsigned char *h = edf_header(false, "X X X X", "Startdate X X X X", "",
                                  3, "0.5", two_sigs, 2, &len);
    struct mmdx_edf *e = NULL;

    (void)state;
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len,
                                            len + 36, &e),
                     MMDX_OK);
    assert_int_equal(e->ns, 2);
    assert_int_equal(e->nrec, 3);
    assert_false(e->plus);
    assert_string_equal(e->sig[0].label, "Fp1");
    assert_string_equal(e->sig[1].label, "T7");
    assert_string_equal(e->sig[1].raw_label, "EEG T3-REF");
    assert_true(fabs(e->sig[0].fs_hz - 8.0) < 1e-12);
    assert_true(fabs(e->sig[1].fs_hz - 4.0) < 1e-12);
    assert_true(fabs(e->sig[0].gain - 0.1) < 1e-12);
    assert_int_equal(e->rec_bytes, 12);
    assert_int_equal(e->sig[1].byte_off, 8);
    mmdx__edf_close(e);
    free(h);
    mmdx_ctx_free(ctx);
}

/* The error's field is printed once: the message does not repeat it. */
static void assert_field_once(struct mmdx_ctx *ctx)
{
    const struct mmdx_error *e = mmdx_ctx_last_error(ctx);
    char twice[2 * sizeof(e->field) + 8];

    assert_true(e->field[0] != '\0');
    snprintf(twice, sizeof(twice), "%s: %s:", e->field, e->field);
    {
        char buf[2400];

        mmdx_error_format(e, buf, sizeof(buf));
        if (strstr(buf, twice))
            fail_msg("field named twice: %s", buf);
    }
}

/* Ensure that each malformed header field is refused with E_FORMAT (or
 * E_LIMIT) and an error that names the field (once): a start date that is
 * no calendar date (EDF+: dd.mm.yy; 2023 is no leap year), a start time
 * that is no clock time, a record duration giving a rate above 1 MHz or
 * below 1e-4 Hz. */
static void edf_header__malformed__field_named(void **state)
{
    static const struct {
        size_t off;         /* 0 = computed below */
        const char *value;  /* written at off (space padded to w) */
        size_t w;
        enum mmdx_status st;
        const char *needle;
    } cases[] = {
        { 0, "1", 8, MMDX_E_FORMAT, "version" },
        { 168, "2.5.2021", 8, MMDX_E_FORMAT, "startdate" },
        { 176, "10:11:12", 8, MMDX_E_FORMAT, "starttime" },
        { 184, "abc", 8, MMDX_E_FORMAT, "header_bytes" },
        { 184, "1024", 8, MMDX_E_FORMAT, "header_bytes: 1024 disagrees" },
        { 236, "4", 8, MMDX_E_FORMAT, "records: 4 records of 12 bytes" },
        { 236, "x1", 8, MMDX_E_FORMAT, "records: expected" },
        { 244, "-1", 8, MMDX_E_FORMAT, "record_duration" },
        { 244, "0", 8, MMDX_E_FORMAT, "record_duration: 0 but" },
        { 252, "0", 4, MMDX_E_FORMAT, "signals: expected" },
        { 252, "5000", 4, MMDX_E_LIMIT, "signals: 5000 exceeds" },
        { 192, "EDF+X", 44, MMDX_E_FORMAT, "reserved" },
        { 168, "32.13.99", 8, MMDX_E_FORMAT,
          "startdate: not a calendar date (expected dd.mm.yy" },
        { 168, "29.02.23", 8, MMDX_E_FORMAT, "startdate: not a calendar" },
        { 168, "00.01.85", 8, MMDX_E_FORMAT, "startdate: not a calendar" },
        { 176, "24.00.00", 8, MMDX_E_FORMAT,
          "starttime: not a clock time (expected hh.mm.ss" },
        { 244, "1e-300", 8, MMDX_E_FORMAT,
          "record_duration: 1e-300 s with 4 samples per record gives "
          "signal[0] 4e+300 Hz, outside 0.0001-1e+06 Hz" },
        { 244, "1e6", 8, MMDX_E_FORMAT,
          "record_duration: 1e+06 s with 4 samples per record gives "
          "signal[0] 4e-06 Hz" },
    };
    struct mmdx_ctx *ctx;
    size_t len, i;
    unsigned char *h;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        ctx = test_ctx();
        h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2, &len);
        put(h, cases[i].off, cases[i].w, cases[i].value);
        assert_int_equal(parse_mut(ctx, h, len), cases[i].st);
        assert_error_has(ctx, cases[i].needle);
        assert_error_has(ctx, "t.edf");
        assert_field_once(ctx);
        free(h);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that malformed per-signal fields are named with their index,
 * once. */
static void edf_header__bad_signal_fields__indexed(void **state)
{
    static const struct {
        size_t per_sig;     /* bytes of the fields before, per signal */
        size_t w;
        size_t sig;
        const char *value;
        enum mmdx_status st;
        const char *needle;
    } cases[] = {
        { 16 + 80 + 8, 8, 1, "1e", MMDX_E_FORMAT,
          "signal[1].physical_min: expected a number, got \"1e\"" },
        { 16 + 80 + 8 * 3, 8, 0, "1.5", MMDX_E_FORMAT,
          "signal[0].digital_min: expected an integer" },
        { 16 + 80 + 8 * 4, 8, 0, "40000", MMDX_E_FORMAT,
          "signal[0].digital_max: 40000 outside the 16-bit range" },
        { 16 + 80 + 8 * 4, 8, 1, "-200", MMDX_E_FORMAT,
          "signal[1].digital_max: -200 not above digital_min -100" },
        { 16 + 80 + 8 * 5 + 80, 8, 1, "0", MMDX_E_FORMAT,
          "signal[1].samples_per_record: expected >= 1, got 0" },
        { 16 + 80 + 8 * 5 + 80, 8, 1, "99999999", MMDX_E_LIMIT,
          "signal[1].samples_per_record: 99999999 samples" },
        { 16 + 80 + 8, 8, 0, "3", MMDX_E_FORMAT,
          "signal[0].physical_max: equals physical_min" },
    };
    struct mmdx_ctx *ctx;
    size_t len, i;
    unsigned char *h;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        ctx = test_ctx();
        h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2, &len);
        if (i == 6) { /* physical_min = physical_max = 3 */
            put(h, hdr_sig_off(2, 16 + 80 + 8, 0, 8), 8, "3");
            put(h, hdr_sig_off(2, 16 + 80 + 16, 0, 8), 8, "3");
        } else {
            put(h, hdr_sig_off(2, cases[i].per_sig, cases[i].sig,
                               cases[i].w),
                cases[i].w, cases[i].value);
        }
        assert_int_equal(parse_mut(ctx, h, len), cases[i].st);
        assert_error_has(ctx, cases[i].needle);
        assert_field_once(ctx);
        free(h);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that non-ASCII bytes where ASCII is required are refused, the
 * identifying fields without showing their content, and that the micro
 * sign is accepted in the physical dimension. */
static void edf_header__non_ascii__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t len;
    unsigned char *h;
    struct mmdx_edf *e = NULL;

    (void)state;
    h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2, &len);
    h[20] = 0xE9; /* patient name with a Latin-1 accent */
    assert_int_equal(parse_mut(ctx, h, len), MMDX_E_FORMAT);
    assert_error_has(ctx, "patient: non-ASCII byte at offset 12");
    mmdx_ctx_free(ctx);

    ctx = test_ctx();
    h[20] = 'X';
    h[256 + 3] = 0x01; /* label */
    assert_int_equal(parse_mut(ctx, h, len), MMDX_E_FORMAT);
    assert_error_has(ctx, "signal[0].label: non-ASCII byte at offset 3");
    mmdx_ctx_free(ctx);

    ctx = test_ctx();
    h[256 + 3] = ' ';
    /* physical dimension "\xB5V" (Latin-1 micro sign) */
    put(h, hdr_sig_off(2, 16 + 80, 0, 8), 8, "xV");
    h[hdr_sig_off(2, 16 + 80, 0, 8)] = 0xB5;
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len, len + 36,
                                            &e),
                     MMDX_OK);
    assert_string_equal(e->sig[0].physdim, "uV");
    mmdx__edf_close(e);
    free(h);
    mmdx_ctx_free(ctx);
}

/* The whole formatted error of ctx must equal want (no repeated field). */
#define assert_error_is(ctx, want)                                           \
    do {                                                                     \
        char eb_[2400];                                                      \
        mmdx_error_format(mmdx_ctx_last_error(ctx), eb_, sizeof(eb_));      \
        assert_string_equal(eb_, (want));                                    \
    } while (0)

/* Ensure that a header shorter than 256 bytes or than its signal part is
 * refused as truncated, the field named once. */
static void edf_header__truncated__format(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t len;
    unsigned char *h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2,
                                  &len);
    struct mmdx_edf *e = NULL;

    (void)state;
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, 100, 100, &e),
                     MMDX_E_FORMAT);
    assert_error_is(ctx, "t.edf: io.edf: header: truncated (100 bytes, need "
                         "256)");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, 600, 600, &e),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "header: truncated (600 bytes, need 768)");
    assert_null(e);
    free(h);
    mmdx_ctx_free(ctx);
}

/* Write header + records to dir/name; returns the path (mmdx__free). */
static char *write_file(const char *dir, const char *name,
                        const unsigned char *h, size_t hl,
                        const unsigned char *d, size_t dl)
{
    char *p = mmdx__path_join(dir, name);
    FILE *fp;

    assert_non_null(p);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(h, 1, hl, fp), hl);
    if (dl)
        assert_int_equal(fwrite(d, 1, dl, fp), dl);
    fclose(fp);
    return p;
}

/* Ensure that a file with the EDF version and most fixed header parts
 * right is detected as EDF even when a size field is garbage (as
 * `mmdx synth --plant-broken` writes: header_bytes "garbage!", signals
 * "-1"), so the reader names the field, while a file starting with "0"
 * and little else of an EDF header is not taken for one; and that an
 * accepted leap day (29.02.24) parses. */
static void edf_detect__one_bad_size_field__reader_names_it(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path;
    unsigned char *h, junk[300];
    size_t len;
    enum mmdx_format f;
    struct mmdx_signal *s = NULL;
    unsigned char d[3 * 12];

    (void)state;
    memset(d, 0, sizeof(d));
    h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2, &len);
    put(h, 168, 8, "29.02.24");
    path = write_file(dir, "ok.edf", h, len, d, sizeof(d));
    assert_int_equal(mmdx_detect(ctx, path, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_EDF);
    assert_int_equal(mmdx__edf_read(ctx, path, NULL, &s), MMDX_OK);
    mmdx__signal_free(s);
    s = NULL;
    mmdx__free(path);
    put(h, 184, 8, "garbage!");
    put(h, 252, 4, "-1");
    path = write_file(dir, "g.edf", h, len, d, sizeof(d));
    assert_int_equal(mmdx_detect(ctx, path, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_EDF);
    assert_int_equal(mmdx__edf_read(ctx, path, NULL, &s), MMDX_E_FORMAT);
    assert_error_has(ctx, "/g.edf: io.edf: header_bytes: expected a "
                          "multiple of 256 >= 512, got \"garbage!\"");
    assert_field_once(ctx);
    mmdx__free(path);
    memset(junk, 'z', sizeof(junk));
    memcpy(junk, "0       ", 8);
    path = write_file(dir, "j.txt", junk, sizeof(junk), NULL, 0);
    assert_int_equal(mmdx_detect(ctx, path, &f), MMDX_OK);
    assert_int_equal(f, MMDX_FMT_UNKNOWN);
    mmdx__free(path);
    free(h);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that BDF 24-bit samples (negative ones too) are decoded and
 * scaled, and that lazy and loaded reads agree. */
static void bdf_read__24bit__scaled(void **state)
{
    static const struct tsig s[] = {
        { "Cz", "uV", -8388608, 8388607, -8388608, 8388607, 3 },
    };
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path;
    size_t len;
    unsigned char *h = edf_header(true, "X", "X", "24BIT", 2, "1", s, 1,
                                  &len);
    /* samples: -8388608, -1, 1, 8388607, 256, -256 */
    static const unsigned char d[] = { 0x00, 0x00, 0x80, 0xFF, 0xFF, 0xFF,
                                       0x01, 0x00, 0x00, 0xFF, 0xFF, 0x7F,
                                       0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF };
    static const double want[] = { -8388608, -1, 1, 8388607, 256, -256 };
    struct mmdx_signal *sig = NULL;
    struct mmdx_edf_opts o = { "mV", false, false };
    double v[6];
    size_t i;

    (void)state;
    path = write_file(dir, "t.bdf", h, len, d, sizeof(d));
    assert_int_equal(mmdx__edf_read(ctx, path, &o, &sig), MMDX_OK);
    assert_int_equal(sig->format, MMDX_FMT_BDF);
    assert_int_equal(sig->nch, 1);
    assert_int_equal(sig->ch[0].n, 6);
    assert_string_equal(sig->ch[0].unit, "mV");
    for (i = 0; i < 6; i++)
        assert_true(fabs(sig->ch[0].data[i] - want[i] * 1e-3) <
                    1e-6 * fabs(want[i] * 1e-3));
    mmdx__signal_free(sig);
    o.lazy = true;
    o.voltage_unit = NULL;
    assert_int_equal(mmdx__edf_read(ctx, path, &o, &sig), MMDX_OK);
    assert_null(sig->ch[0].data);
    assert_int_equal(mmdx__signal_read(ctx, sig, 0, 0, 6, v), MMDX_OK);
    for (i = 0; i < 6; i++)
        assert_true(fabs(v[i] - want[i]) < 1e-9);
    assert_int_equal(mmdx__signal_read(ctx, sig, 0, 2, 5, v), MMDX_E_INVAL);
    mmdx__signal_free(sig);
    free(h);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that an EDF+D file's time-keeping TALs give the record onsets,
 * a gap annotation, and that TAL durations and multiple texts are kept. */
static void edfplus_d__gaps_and_tals__parsed(void **state)
{
    static const struct tsig s[] = {
        { "Fp1", "uV", -100, 100, -100, 100, 2 },
        { "EDF Annotations", "", -1, 1, -32768, 32767, 20 },
    };
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path;
    size_t len, rb = (2 + 20) * 2, i;
    unsigned char *h = edf_header(false, "X X X X", "Startdate X X X X",
                                  "EDF+D", 3, "1", s, 2, &len);
    unsigned char d[3 * 44];
#define T_(x) { x, sizeof(x) - 1 }
    static const struct {
        const char *s;
        size_t n;
    } tal[3] = { T_("+0.5\x14\x14\0+1\x15" "0.25\x14" "a\x14" "b\x14"),
                 T_("+1.5\x14\x14\0"),
                 T_("+10.5\x14\x14\0-0.5\x14pre\x14") };
#undef T_
    struct mmdx_signal *sig = NULL;

    (void)state;
    memset(d, 0, sizeof(d));
    for (i = 0; i < 3; i++) {
        d[i * rb] = (unsigned char)(10 * i);
        memcpy(d + i * rb + 4, tal[i].s, tal[i].n);
    }
    path = write_file(dir, "d.edf", h, len, d, sizeof(d));
    assert_int_equal(mmdx__edf_read(ctx, path, NULL, &sig), MMDX_OK);
    assert_int_equal(sig->format, MMDX_FMT_EDFPLUS);
    assert_int_equal(sig->nch, 1);
    assert_int_equal(sig->ch[0].n, 6);
    assert_true(fabs(sig->ch[0].data[2] - 10) < 1e-6);
    assert_int_equal(sig->nann, 4);
    /* onsets relative to the first record's time stamp (+0.5 s) */
    assert_string_equal(sig->ann[0].text, "a");
    assert_true(fabs(sig->ann[0].onset_s - 0.5) < 1e-12);
    assert_true(fabs(sig->ann[0].duration_s - 0.25) < 1e-12);
    assert_string_equal(sig->ann[1].text, "b");
    assert_string_equal(sig->ann[2].text, "pre");
    assert_true(fabs(sig->ann[2].onset_s + 1.0) < 1e-12);
    assert_string_equal(sig->ann[3].text, "EDF+D gap");
    assert_true(fabs(sig->ann[3].onset_s - 2.0) < 1e-12);
    assert_true(fabs(sig->ann[3].duration_s - 8.0) < 1e-12);
    mmdx__signal_free(sig);

    /* a record without its time-keeping TAL */
    memset(d + 2 * rb + 4, 0, 40);
    memcpy(d + 2 * rb + 4, "+3\x14x\x14", 5);
    mmdx__free(path);
    path = write_file(dir, "d.edf", h, len, d, sizeof(d));
    assert_int_equal(mmdx__edf_read(ctx, path, NULL, &sig), MMDX_E_FORMAT);
    assert_error_has(ctx, "record[2].annotations: EDF+D record without a "
                          "time-keeping TAL");
    free(h);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/*
 * Ensure that a real EDF+D recording reads with its gap: no EDF+D file
 * with a clear licence exists in the shared data, so this one is made
 * from the real EDF+C test.edf (6 records of 1 s, 139 signals at 512 Hz
 * and an annotation signal whose first TAL in each record stamps it
 * +0 .. +5) by keeping records 0, 1, 4 and 5 unchanged and writing
 * "EDF+D" and 4 records into the header -- what a recorder writes when it
 * pauses for 2 s. Expected: 4 s of samples, record 4's samples right
 * after record 1's, one "EDF+D gap" of 2 s at 2 s, the annotations stored
 * in the dropped records gone and the others at their original onsets.
 */
static void edfplus_d__real_recording_with_gap__read(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *src = test_shared("eeg/test.edf"), *dir, *path;
    struct mmdx_edf *e = NULL;
    struct mmdx_signal *orig = NULL, *sig = NULL;
    unsigned char *all, *out;
    size_t hb, rb, size, i, ngap = 0;
    static const size_t keep[4] = { 0, 1, 4, 5 };
    FILE *fp;
    double a[512], b[512];

    (void)state;
    assert_int_equal(mmdx__edf_open(ctx, src, &e), MMDX_OK);
    hb = e->header_bytes;
    rb = e->rec_bytes;
    assert_int_equal(e->nrec, 6);
    assert_false(e->discontinuous);
    mmdx__edf_close(e);
    size = hb + 6 * rb;
    all = malloc(size);
    out = malloc(hb + 4 * rb);
    assert_non_null(all);
    assert_non_null(out);
    fp = fopen(src, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(all, 1, size, fp), size);
    fclose(fp);
    memcpy(out, all, hb);
    assert_memory_equal(out + 192, "EDF+C", 5);
    put(out, 192, 44, "EDF+D");
    put(out, 236, 8, "4");
    for (i = 0; i < 4; i++)
        memcpy(out + hb + i * rb, all + hb + keep[i] * rb, rb);
    dir = test_tmpdir();
    path = write_file(dir, "gap.edf", out, hb + 4 * rb, NULL, 0);

    assert_int_equal(mmdx__edf_read(ctx, src, NULL, &orig), MMDX_OK);
    {
        struct mmdx_edf_opts o = { NULL, true, false };

        assert_int_equal(mmdx__edf_read(ctx, path, &o, &sig), MMDX_OK);
    }
    assert_int_equal(sig->format, MMDX_FMT_EDFPLUS);
    assert_int_equal(sig->nch, orig->nch);
    assert_int_equal(sig->ch[0].n, 4 * 512);
    assert_true(fabs(sig->duration_s - 4.0) < 1e-12);
    /* record 4 follows record 1 */
    for (i = 0; i < sig->nch; i += 23) {
        size_t k;

        assert_int_equal(mmdx__signal_read(ctx, sig, i, 2 * 512, 512, a),
                         MMDX_OK);
        for (k = 0; k < 512; k++)
            b[k] = orig->ch[i].data[4 * 512 + k];
        for (k = 0; k < 512; k++)
            assert_true(fabs(a[k] - b[k]) <= 1e-6 * (fabs(b[k]) + 1));
    }
    for (i = 0; i < sig->nann; i++) {
        if (strcmp(sig->ann[i].text, "EDF+D gap") == 0) {
            ngap++;
            assert_true(fabs(sig->ann[i].onset_s - 2.0) < 1e-9);
            assert_true(fabs(sig->ann[i].duration_s - 2.0) < 1e-9);
        } else {
            /* the annotations stored in the kept records, on the
             * recording's time axis: "start" at 0 and "type A" at 0.1344
             * (record 0 and 1), "type A" at 2.5 (record 4); those of
             * records 2 and 3 ("type A" at 0.3904, "type B" at 2) are
             * gone with them */
            static const struct {
                const char *text;
                double onset_s, duration_s;
            } want[3] = { { "start", 0, 0 },
                          { "type A", 0.1344, 0.256 },
                          { "type A", 2.5, 2.5 } };
            size_t j;
            bool found = false;

            for (j = 0; j < 3; j++)
                found |= strcmp(want[j].text, sig->ann[i].text) == 0 &&
                         fabs(want[j].onset_s - sig->ann[i].onset_s) <
                             1e-9 &&
                         fabs(want[j].duration_s - sig->ann[i].duration_s) <
                             1e-9;
            assert_true(found);
        }
    }
    assert_int_equal(sig->nann, 4);
    assert_int_equal(ngap, 1);
    mmdx__signal_free(sig);
    mmdx__signal_free(orig);
    free(all);
    free(out);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx__free(src);
    mmdx_ctx_free(ctx);
}

/*
 * Ensure that samples beyond 4 GiB are read at the right place (64-bit
 * offsets through the record cache): a sparse file of 2,100 records of
 * 2 MiB (one signal, 1,048,576 samples per record; 4.1 GiB apparent,
 * a few blocks on disk) whose last record and one record straddling the
 * 4 GiB mark hold known samples. Skipped where the file system has no
 * sparse files or no room.
 */
static void edf_read_samples__beyond_4gib__right_place(void **state)
{
    static const struct tsig s[] = {
        { "Cz", "uV", -32768, 32767, -32768, 32767, 1048576 },
    };
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path;
    size_t len, spr = 1048576, nrec = 2100, i;
    /* records of 2 s: 524,288 Hz, within the 1 MHz rate limit */
    unsigned char *h = edf_header(false, "X", "X", "", (long)nrec, "2", s, 1,
                                  &len);
    uint64_t rb = 2 * (uint64_t)spr, size = len + nrec * rb, at4g;
    struct mmdx_edf *e = NULL;
    double v[8];
    int fd;
    unsigned char pat[16];

    (void)state;
    assert_true(size > ((uint64_t)1 << 32));
    path = write_file(dir, "big.edf", h, len, NULL, 0);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        mmdx__free(path);
        test_rmtree(dir);
        free(h);
        mmdx_ctx_free(ctx);
        skip();
    }
    /* samples 1..8 at the start of the last record, and 8 samples
     * -1..-8 that cross the 4 GiB byte offset */
    for (i = 0; i < 8; i++) {
        pat[2 * i] = (unsigned char)(i + 1);
        pat[2 * i + 1] = 0;
    }
    assert_int_equal(pwrite(fd, pat, 16, (off_t)(len + (nrec - 1) * rb)),
                     16);
    at4g = ((uint64_t)1 << 32) - 8; /* even offset from the data start */
    assert_int_equal((at4g - len) % 2, 0);
    for (i = 0; i < 8; i++) {
        int16_t x = (int16_t)-(int16_t)(i + 1);

        pat[2 * i] = (unsigned char)((uint16_t)x & 0xFF);
        pat[2 * i + 1] = (unsigned char)((uint16_t)x >> 8);
    }
    assert_int_equal(pwrite(fd, pat, 16, (off_t)at4g), 16);
    close(fd);

    assert_int_equal(mmdx__edf_open(ctx, path, &e), MMDX_OK);
    assert_int_equal(e->nrec, nrec);
    assert_int_equal(mmdx__edf_nsamples(e, 0), (size_t)nrec * spr);
    assert_int_equal(mmdx__edf_read_samples(e, 0, (nrec - 1) * spr, 8, 1.0,
                                            v),
                     MMDX_OK);
    for (i = 0; i < 8; i++)
        assert_true(fabs(v[i] - (double)(i + 1)) < 1e-9);
    assert_int_equal(mmdx__edf_read_samples(e, 0, (size_t)(at4g - len) / 2,
                                            8, 1.0, v),
                     MMDX_OK);
    for (i = 0; i < 8; i++)
        assert_true(fabs(v[i] + (double)(i + 1)) < 1e-9);
    /* and a sample in between is the zero the hole reads as */
    assert_int_equal(mmdx__edf_read_samples(e, 0, 1000 * spr + 3, 1, 1.0, v),
                     MMDX_OK);
    assert_true(fabs(v[0]) < 1e-9);
    mmdx__edf_close(e);
    free(h);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a malformed TAL is refused naming its record. */
static void edf_tal__bad_onset__format(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_edf e;
    struct mmdx_annotation *a = NULL;
    size_t n = 0, cap = 0;
    double on;
    static const unsigned char b[] = "+0\x14\x14\0" "12\x14x\x14";

    (void)state;
    memset(&e, 0, sizeof(e));
    e.ctx = ctx;
    e.path = (char *)"t.edf";
    assert_int_equal(mmdx__edf_parse_tals(&e, 7, b, sizeof(b), &a, &n, &cap,
                                          &on),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "record[7].annotations: TAL at byte 5 has no "
                          "valid onset");
    assert_int_equal(n, 0);
    mmdx__free(a);
    mmdx_ctx_free(ctx);
}

struct idf {
    char buf[1024];
};

static enum mmdx_status idf_cb(void *user, const char *field, int kind,
                               const char *value)
{
    struct idf *r = user;
    size_t l = strlen(r->buf);

    snprintf(r->buf + l, sizeof(r->buf) - l, "%s=%d:%s;", field, kind,
             value);
    return MMDX_OK;
}

/* Ensure that EDF+ patient/recording subfields are reported as
 * identifying fields, "X" meaning removed, and plain EDF fields whole. */
static void edf_idfields__subfields__reported(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t len;
    unsigned char *h;
    struct mmdx_edf *e = NULL;
    struct idf r = { "" };
    char want[512];

    (void)state;
    h = edf_header(false, "MCH-0234567 F 02-MAY-1951 Haagse_Harry",
                   "Startdate 02-MAR-2002 EMG561 BK/JOP Sony. MNC R Median",
                   "EDF+C", 3, "0.5", two_sigs, 2, &len);
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len, len + 36,
                                            &e),
                     MMDX_OK);
    assert_int_equal(mmdx__edf_idfields(e, idf_cb, &r), MMDX_OK);
    snprintf(want, sizeof(want),
             "startdate=%d:02.05.21;patient.code=%d:MCH-0234567;"
             "patient.birthdate=%d:02-MAY-1951;patient.name=%d:Haagse_Harry;"
             "recording.startdate=%d:02-MAR-2002;recording.admincode=%d:"
             "EMG561;recording.technician=%d:BK/JOP;recording.additional=%d:"
             "Sony. MNC R Median;",
             MMDX_ID_DATE, MMDX_ID_NUMBER, MMDX_ID_DATE, MMDX_ID_NAME,
             MMDX_ID_DATE, MMDX_ID_NUMBER, MMDX_ID_NAME, MMDX_ID_FREE_TEXT);
    assert_string_equal(r.buf, want);
    mmdx__edf_close(e);
    free(h);

    h = edf_header(false, "X X X X", "Startdate X X X X", "EDF+C", 3, "0.5",
                   two_sigs, 2, &len);
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len, len + 36,
                                            &e),
                     MMDX_OK);
    r.buf[0] = '\0';
    assert_int_equal(mmdx__edf_idfields(e, idf_cb, &r), MMDX_OK);
    snprintf(want, sizeof(want), "startdate=%d:02.05.21;", MMDX_ID_DATE);
    assert_string_equal(r.buf, want);
    mmdx__edf_close(e);
    free(h);

    /* plain EDF written with EDF+ subfields: parsed as such */
    h = edf_header(false, "X X X X", "Startdate X X X X", "", 3, "0.5",
                   two_sigs, 2, &len);
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len, len + 36,
                                            &e),
                     MMDX_OK);
    r.buf[0] = '\0';
    assert_int_equal(mmdx__edf_idfields(e, idf_cb, &r), MMDX_OK);
    snprintf(want, sizeof(want), "startdate=%d:02.05.21;", MMDX_ID_DATE);
    assert_string_equal(r.buf, want);
    mmdx__edf_close(e);
    free(h);

    /* plain EDF: whole fields (unless they follow the EDF+ convention) */
    h = edf_header(false, "Jane Roe 1961", "", "", 3, "0.5", two_sigs, 2,
                   &len);
    assert_int_equal(mmdx__edf_parse_header(ctx, "t.edf", h, len, len + 36,
                                            &e),
                     MMDX_OK);
    r.buf[0] = '\0';
    assert_int_equal(mmdx__edf_idfields(e, idf_cb, &r), MMDX_OK);
    snprintf(want, sizeof(want), "startdate=%d:02.05.21;patient=%d:Jane "
                                 "Roe 1961;",
             MMDX_ID_DATE, MMDX_ID_NAME);
    assert_string_equal(r.buf, want);
    mmdx__edf_close(e);
    free(h);
    mmdx_ctx_free(ctx);
}

/* ---- the shared real files ------------------------------------------------ */

/* Ensure that the physical values of test_edf_stim_channel.edf match the
 * reference decode shipped with it (MNE's test data, 7 significant digits):
 * tolerance 0.05 uV (printing) + 1e-6 relative (float copy) + one ADC step
 * of the channel (the reference's own rounding differs by up to that). */
static void edf_read__stim_channel__matches_reference(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *edf = test_shared("eeg/test_edf_stim_channel.edf");
    char *txt = test_shared("eeg/test_edf_stim_channel.txt");
    struct mmdx_signal *sig = NULL, *lazy = NULL;
    struct mmdx_edf_opts o = { "uV", true, false };
    char *text, *p, *end;
    size_t len, row = 0, col;
    double *col_d;

    struct mmdx_edf *e = NULL;

    (void)state;
    assert_int_equal(mmdx__edf_read(ctx, edf, NULL, &sig), MMDX_OK);
    assert_int_equal(mmdx__edf_read(ctx, edf, &o, &lazy), MMDX_OK);
    assert_int_equal(mmdx__edf_open(ctx, edf, &e), MMDX_OK);
    assert_int_equal(sig->format, MMDX_FMT_EDF);
    assert_int_equal(sig->nch, 25);
    assert_int_equal(sig->ch[0].n, 1228);
    assert_true(fabs(sig->ch[0].fs_hz - 128.0) < 1e-9);
    assert_true(fabs(sig->duration_s - 9.59375) < 1e-12);
    assert_string_equal(sig->ch[0].label, "Fp1");
    assert_string_equal(sig->ch[7].label, "T7");
    assert_string_equal(sig->ch[7].raw_label, "EEG T3");
    col_d = mmdx__calloc(25 * 1228, sizeof(double));
    assert_non_null(col_d);
    for (col = 0; col < 25; col++)
        assert_int_equal(mmdx__signal_read(ctx, lazy, col, 0, 1228,
                                           col_d + col * 1228),
                         MMDX_OK);
    assert_int_equal(mmdx__file_read(ctx, txt, 1 << 22, &text, &len),
                     MMDX_OK);
    p = text;
    while (*p) {
        for (col = 0; col < 25; col++) {
            double ref = strtod(p, &end), got, tol;

            assert_true(end != p);
            p = end;
            /* the reference is within one ADC step of ours */
            tol = 0.05 + 1e-6 * fabs(ref) + fabs(e->sig[col].gain);
            got = sig->ch[col].data[row];
            if (fabs(got - ref) > tol)
                fail_msg("row %zu col %zu: %.7g vs %.7g", row, col, got, ref);
            got = col_d[col * 1228 + row];
            if (fabs(got - ref) > tol)
                fail_msg("lazy row %zu col %zu: %.9g vs %.7g", row, col, got,
                         ref);
        }
        while (*p == ' ' || *p == '\r' || *p == '\n')
            p++;
        row++;
    }
    assert_int_equal(row, 717);
    mmdx__free(text);
    mmdx__free(col_d);
    mmdx__signal_free(sig);
    mmdx__signal_free(lazy);
    mmdx__edf_close(e);
    mmdx__free(edf);
    mmdx__free(txt);
    mmdx_ctx_free(ctx);
}

/* Ensure that every file in shared/data/eeg reads, with the channel
 * counts, rates, lengths and annotation counts found in their headers
 * (see shared/data/SOURCES.md). */
static void edf_read__every_shared_file__reads(void **state)
{
    static const struct {
        const char *file;
        int format;
        size_t nch;
        double fs0_hz;
        size_t n0;
        size_t nann;
        const char *label0;
    } files[] = {
        { "eeg/test.edf", MMDX_FMT_EDFPLUS, 139, 512, 3072, 5, "A1" },
        { "eeg/test_bdf_stim_channel.bdf", MMDX_FMT_BDF, 4, 500, 5000, 0,
          "C3" },
        { "eeg/test_edf_stim_channel.edf", MMDX_FMT_EDF, 25, 128, 1228, 0,
          "Fp1" },
        /* 857 TALs: one time-keeping, 856 annotations */
        { "eeg/test_edfann.edf", MMDX_FMT_EDFPLUS, 0, 0, 0, 856, NULL },
        { "eeg/test_generator.bdf", MMDX_FMT_BDFPLUS, 5, 1000, 30000, 0,
          "sine 5Hz" },
        { "eeg/test_subsecond.edf", MMDX_FMT_EDFPLUS, 1, 128, 89344, 0,
          "Fp1" },
        { "eeg/test_uneven_samp.edf", MMDX_FMT_EDF, 2, 100, 11000, 0,
          "3Hz +5/-5 V" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(files); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char *path = test_shared(files[i].file);
        struct mmdx_signal *sig = NULL;
        struct mmdx_edf_opts o = { "uV", false, false };

        if (mmdx__edf_read(ctx, path, &o, &sig) != MMDX_OK) {
            char buf[512];

            fail_msg("%s: %s", files[i].file,
                     mmdx_error_format(mmdx_ctx_last_error(ctx), buf,
                                       sizeof(buf)));
        }
        assert_int_equal(sig->format, files[i].format);
        assert_int_equal(sig->nch, files[i].nch);
        if (files[i].nch) {
            assert_true(fabs(sig->ch[0].fs_hz - files[i].fs0_hz) < 1e-9);
            assert_int_equal(sig->ch[0].n, files[i].n0);
            assert_string_equal(sig->ch[0].label, files[i].label0);
        }
        if (files[i].nann)
            assert_int_equal(sig->nann, files[i].nann);
        mmdx__signal_free(sig);
        mmdx__free(path);
        mmdx_ctx_free(ctx);
    }
}

/* Ensure that per-signal rates and units differ as recorded in
 * test_uneven_samp.edf (100 Hz in V, 12.8 Hz in uV) and that volts are
 * converted to the requested unit. */
static void edf_read__uneven_rates__per_channel(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("eeg/test_uneven_samp.edf");
    struct mmdx_signal *sig = NULL;
    struct mmdx_edf_opts o = { "uV", false, false };

    (void)state;
    assert_int_equal(mmdx__edf_read(ctx, path, &o, &sig), MMDX_OK);
    assert_true(fabs(sig->ch[1].fs_hz - 12.8) < 1e-12);
    assert_int_equal(sig->ch[1].n, 128 * 11);
    assert_string_equal(sig->ch[0].unit, "uV");
    assert_string_equal(sig->ch[1].unit, "uV");
    assert_true(fabs(sig->duration_s - 110) < 1e-12);
    mmdx__signal_free(sig);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

/* Ensure that the TALs of test.edf (EDF+C) and test_subsecond.edf are
 * parsed: durations, texts and the sub-second start offset. */
static void edf_annotations__real_files__parsed(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("eeg/test.edf");
    struct mmdx_edf *e = NULL;
    struct mmdx_annotation *a = NULL;
    size_t n = 0, i;
    bool found = false;

    (void)state;
    assert_int_equal(mmdx__edf_open(ctx, path, &e), MMDX_OK);
    assert_int_equal(mmdx__edf_annotations(e, &a, &n), MMDX_OK);
    /* 6 time-keeping TALs and 5 annotations */
    assert_int_equal(n, 5);
    assert_string_equal(a[0].text, "start");
    for (i = 0; i < n; i++)
        if (strcmp(a[i].text, "type A") == 0 &&
            fabs(a[i].onset_s - 0.1344) < 1e-12 &&
            fabs(a[i].duration_s - 0.256) < 1e-12)
            found = true;
    assert_true(found);
    for (i = 0; i < n; i++)
        mmdx__free(a[i].text);
    mmdx__free(a);
    mmdx__edf_close(e);
    mmdx__free(path);

    path = test_shared("eeg/test_subsecond.edf");
    assert_int_equal(mmdx__edf_open(ctx, path, &e), MMDX_OK);
    assert_int_equal(mmdx__edf_annotations(e, &a, &n), MMDX_OK);
    assert_true(fabs(e->start_offset_s - 0.3945312) < 1e-12);
    assert_true(n > 0);
    assert_string_equal(a[0].text, "XLSpike");
    assert_true(fabs(a[0].onset_s - (2.3457031 - 0.3945312)) < 1e-9);
    for (i = 0; i < n; i++)
        mmdx__free(a[i].text);
    mmdx__free(a);
    mmdx__edf_close(e);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

/* Ensure that windows read through the bounded record cache equal the
 * same samples of a whole read (test.edf: 139 x 512 Hz, cache smaller
 * than the file is forced by reading across every record boundary). */
static void edf_read_samples__windows__match_whole(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("eeg/test.edf");
    struct mmdx_signal *sig = NULL;
    struct mmdx_edf *e = NULL;
    double buf[1100];
    size_t c, i, first;

    (void)state;
    assert_int_equal(mmdx__edf_read(ctx, path, NULL, &sig), MMDX_OK);
    assert_int_equal(mmdx__edf_open(ctx, path, &e), MMDX_OK);
    {
        const unsigned char *d;

        /* allocate the cache, then let it hold only 2 of the 6 records */
        assert_int_equal(mmdx__edf_records(e, 0, 1, &d), MMDX_OK);
        e->cache_cap_rec = 2;
    }
    for (c = 0; c < 139; c += 17)
        for (first = 0; first + 1100 <= 3072; first += 733) {
            assert_int_equal(mmdx__edf_read_samples(e, c, first, 1100, 1.0,
                                                    buf),
                             MMDX_OK);
            for (i = 0; i < 1100; i++)
                assert_true(fabs(buf[i] - sig->ch[c].data[first + i]) <
                            1e-4);
        }
    assert_int_equal(mmdx__edf_read_samples(e, 0, 3000, 100, 1.0, buf),
                     MMDX_E_INVAL);
    mmdx__edf_close(e);
    mmdx__signal_free(sig);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure while reading an EDF+ file with
 * annotations returns E_NOMEM and leaks nothing (ASan checks leaks). */
static void edf_read__oom_loop__nomem(void **state)
{
    static const char *const files[] = { "eeg/test_edfann.edf",
                                         "eeg/test_generator.bdf" };
    size_t f;

    (void)state;
    for (f = 0; f < MMDX_ARRAY_SIZE(files); f++) {
        char *path = test_shared(files[f]);
        unsigned long n;
        int lazy;

        for (lazy = 0; lazy < 2; lazy++)
            for (n = 1;; n++) {
                struct mmdx_ctx *ctx = test_ctx();
                struct mmdx_signal *sig = NULL;
                struct mmdx_edf_opts o = { "uV", lazy != 0, false };
                enum mmdx_status st;

                mmdx__alloc_fail_at(n);
                st = mmdx__edf_read(ctx, path, &o, &sig);
                mmdx__alloc_fail_at(0);
                if (st == MMDX_OK) {
                    assert_non_null(sig);
                    mmdx__signal_free(sig);
                    mmdx_ctx_free(ctx);
                    break;
                }
                assert_int_equal(st, MMDX_E_NOMEM);
                assert_null(sig);
                mmdx_ctx_free(ctx);
                assert_true(n < 5000);
            }
        mmdx__free(path);
    }
}

/* Ensure that a file whose size disagrees with its record count is
 * refused (truncated download). */
static void edf_open__truncated_file__records_named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path;
    size_t len;
    unsigned char *h = edf_header(false, "X", "X", "", 3, "0.5", two_sigs, 2,
                                  &len);
    unsigned char d[30] = { 0 };
    struct mmdx_edf *e = NULL;

    (void)state;
    path = write_file(dir, "t.edf", h, len, d, sizeof(d));
    assert_int_equal(mmdx__edf_open(ctx, path, &e), MMDX_E_FORMAT);
    assert_error_has(ctx, "records: 3 records of 12 bytes disagree with the "
                          "file size (30 data bytes)");
    assert_null(e);
    free(h);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the inspect hook reports the EDF facts without the patient
 * or recording fields. */
struct kv {
    char buf[8192];
};

static void kv_cb(void *user, const char *key, const char *value)
{
    struct kv *k = user;
    size_t l = strlen(k->buf);

    snprintf(k->buf + l, sizeof(k->buf) - l, "%s=%s\n", key, value);
}

static void edf_inspect__subsecond__summary(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("eeg/test_subsecond.edf");
    struct kv k = { "" };

    (void)state;
    assert_int_equal(mmdx_inspect(ctx, path, kv_cb, &k), MMDX_OK);
    assert_non_null(strstr(k.buf, "format=edf+\n"));
    assert_non_null(strstr(k.buf, "edf.variant=EDF+C\n"));
    assert_non_null(strstr(k.buf, "edf.records=698\n"));
    assert_non_null(strstr(k.buf, "edf.signal.0=Fp1 (Fp1) 128 Hz uV\n"));
    assert_non_null(strstr(k.buf, "edf.start_offset_s=0.3945312\n"));
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}


/* ---- EEG features ----------------------------------------------------------- */

static void raw_psd_params(struct mmdx_eeg_params *p)
{
    mmdx__eeg_params_default(p);
    p->reference = MMDX_EEG_REF_AS_RECORDED;
    p->highpass_hz = p->lowpass_hz = p->notch_hz = 0;
    p->reject = false;
    p->per_channel = MMDX_EEG_PERCH_ALL;
    p->fam = MMDX_EEG_FAM_BAND; /* pipelines/eeg-raw-psd.xml: families=band */
}

/* Ensure that, with the eeg-raw-psd settings (no reference, filter or
 * rejection; Welch 2 s periodic Hann, 50 % overlap), the band powers and
 * PSD bins of the shared EDF/BDF files match scipy.signal.welch on the
 * same samples to 1e-4 relative (tests/data/eeg_scipy_reference.tsv, made
 * by bench/eeg_scipy_compare.py; values below 1e-9 of the channel's total
 * power are compared absolutely against that floor). */
static void eeg_psd__scipy_reference__matches(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ref = mmdx__path_join(MMDX_SRCDIR, "tests/data/eeg_scipy_reference.tsv");
    char *text, *line, *save = NULL;
    size_t len, checked = 0;
    char cur_file[128] = "";
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    struct mmdx_signal *sig = NULL;
    double total = NAN;
    bool have = false;

    (void)state;
    memset(&r, 0, sizeof(r));
    raw_psd_params(&par);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__file_read(ctx, ref, 1 << 20, &text, &len),
                     MMDX_OK);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[4], *p = line;
        size_t i, k;
        int c = -1;
        double want, got;

        if (line[0] == '#')
            continue;
        for (i = 0; i < 4; i++) {
            f[i] = p;
            p = strchr(p, '\t');
            if (i < 3) {
                assert_non_null(p);
                *p++ = '\0';
            }
        }
        want = strtod(f[3], NULL);
        if (strcmp(f[0], cur_file) != 0) {
            char rel[160];
            char *path;

            if (have)
                mmdx__eeg_result_fini(&r);
            mmdx__signal_free(sig);
            sig = NULL;
            have = false;
            snprintf(rel, sizeof(rel), "eeg/%s", f[0]);
            path = test_shared(rel);
            {
                struct mmdx_edf_opts o = { "uV", true, false };

                assert_int_equal(mmdx__edf_read(ctx, path, &o, &sig),
                                 MMDX_OK);
            }
            assert_int_equal(mmdx__eeg_analyse(&eng, path, sig, &r), MMDX_OK);
            have = true;
            mmdx__strlcpy(cur_file, f[0], sizeof(cur_file));
            mmdx__free(path);
        }
        for (i = 0; i < r.nch; i++)
            if (strcmp(r.label[i], f[1]) == 0)
                c = (int)i;
        if (c < 0)
            fail_msg("%s: channel %s not analysed", f[0], f[1]);
        {
            const double *psd = r.psd + (size_t)c * r.nfreq;
            static const char *const bn[] = { "delta", "theta", "alpha",
                                              "beta", "gamma" };

            got = NAN;
            total = mmdx__eeg_band_power(psd, r.nfreq, r.df_hz,
                                         par.total_hz[0], par.total_hz[1]);
            for (k = 0; k < 5; k++)
                if (strcmp(f[2], bn[k]) == 0)
                    got = mmdx__eeg_band_power(psd, r.nfreq, r.df_hz,
                                               par.band_hz[k][0],
                                               par.band_hz[k][1]);
            if (strcmp(f[2], "total") == 0)
                got = total;
            if (strncmp(f[2], "psd@", 4) == 0) {
                double fq = strtod(f[2] + 4, NULL);

                k = (size_t)floor(fq / r.df_hz + 0.5);
                got = psd[k];
            }
        }
        if (want >= 1e-9 * total) {
            if (!(fabs(got - want) <= 1e-4 * want))
                fail_msg("%s %s %s: %.12g vs scipy %.12g (rel %.2e)", f[0],
                         f[1], f[2], got, want, fabs(got - want) / want);
        } else if (!(fabs(got - want) <= 1e-9 * total)) {
            fail_msg("%s %s %s: %.12g vs scipy %.12g (abs floor)", f[0],
                     f[1], f[2], got, want);
        }
        checked++;
    }
    assert_true(checked > 300);
    if (have)
        mmdx__eeg_result_fini(&r);
    mmdx__signal_free(sig);
    mmdx__eeg_engine_fini(&eng);
    mmdx__free(text);
    mmdx__free(ref);
    mmdx_ctx_free(ctx);
}

/* A synthetic loaded recording: nch channels at fs, n samples each. */
static struct mmdx_signal *synth(const char *const *labels, size_t nch,
                                 double fs, size_t n)
{
    struct mmdx_signal *s = mmdx__calloc(1, sizeof(*s));
    size_t c;

    assert_non_null(s);
    s->ch = mmdx__calloc(nch, sizeof(*s->ch));
    assert_non_null(s->ch);
    s->nch = nch;
    for (c = 0; c < nch; c++) {
        mmdx__strlcpy(s->ch[c].label, labels[c], sizeof(s->ch[c].label));
        mmdx__strlcpy(s->ch[c].unit, "uV", sizeof(s->ch[c].unit));
        s->ch[c].fs_hz = fs;
        s->ch[c].n = n;
        s->ch[c].data = mmdx__calloc(n, sizeof(float));
        assert_non_null(s->ch[c].data);
    }
    s->duration_s = (double)n / fs;
    return s;
}

/* Deterministic pseudo-noise in [-1, 1). */
static double noise(unsigned *st)
{
    *st = *st * 1103515245u + 12345u;
    return ((double)((*st >> 8) & 0xFFFF) / 32768.0) - 1.0;
}

static double feat(const struct mmdx_featset *fs, const char *name)
{
    const struct mmdx_feature *f = mmdx__featset_get(fs, name);

    if (!f)
        fail_msg("feature %s absent", name);
    return f->value;
}

static const char *const std19[] = { "Fp1", "Fp2", "F7", "F3", "Fz",
                                     "F4",  "F8",  "T7", "C3", "Cz",
                                     "C4",  "T8",  "P7", "P3", "Pz",
                                     "P4",  "P8",  "O1", "O2" };

/* Ensure that a 10 Hz alpha rhythm (20 uV, left hemisphere twice the
 * amplitude) over small noise gives alpha-dominated relative power, a peak
 * alpha frequency of 10 Hz, Hjorth mobility of a 10 Hz sine (2 fs
 * sin(pi f / fs) per second) and alpha asymmetry ln(4) = 1.386, through
 * the default processing (average reference, filters, rejection). */
static void eeg_features__alpha_rhythm__expected_values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 60, c, i;
    struct mmdx_signal *s = synth(std19, 19, 256, n);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    struct mmdx_featset fs;
    unsigned seed = 7;

    (void)state;
    for (c = 0; c < 19; c++) {
        /* odd-numbered = left (x2), even-numbered = right, z = midline */
        const char *l = std19[c];
        char last = l[strlen(l) - 1];
        double amp = last == 'z' ? 15 : ((last - '0') % 2 ? 20 : 10);

        for (i = 0; i < n; i++)
            s->ch[c].data[i] =
                (float)(amp * sin(2 * M_PI * 10.0 * (double)i / 256.0 +
                                  0.1 * (double)c) +
                        0.2 * noise(&seed) + 1000.0);
    }
    mmdx__eeg_params_default(&par);
    par.reference = MMDX_EEG_REF_AS_RECORDED; /* keep the asymmetry */
    mmdx__featset_init(&fs);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    assert_int_equal(r.nch, 19);
    assert_int_equal(r.nrej, 0);
    assert_int_equal(r.nseg, 59);
    assert_int_equal(mmdx__eeg_features_add(ctx, &par, &r, &fs), MMDX_OK);
    assert_true(feat(&fs, "eeg.band.alpha_rel") > 0.99);
    assert_true(feat(&fs, "eeg.band.alpha_rel.occipital") > 0.99);
    assert_true(fabs(feat(&fs, "eeg.spec.paf_hz") - 10.0) < 1e-12);
    assert_true(fabs(feat(&fs, "eeg.spec.paf_hz.O1") - 10.0) < 1e-12);
    assert_true(fabs(feat(&fs, "eeg.spec.sef_hz") - 10.5) < 0.51);
    /* mobility of a sampled 10 Hz sine: 2 fs sin(pi 10 / fs) = 62.67 /s */
    assert_true(fabs(feat(&fs, "eeg.hjorth.mobility_per_s.Cz") -
                     2 * 256 * sin(M_PI * 10 / 256)) < 0.5);
    assert_true(fabs(feat(&fs, "eeg.hjorth.complexity.Cz") - 1.0) < 0.05);
    /* activity: variance of a 15 uV sine = 112.5 (filters pass 10 Hz) */
    assert_true(fabs(feat(&fs, "eeg.hjorth.activity_uv2.Cz") - 112.5) < 3);
    assert_true(fabs(feat(&fs, "eeg.asym.alpha_lr.C3_C4") - log(4.0)) <
                0.01);
    assert_true(fabs(feat(&fs, "eeg.asym.alpha_lr") - log(4.0)) < 0.01);
    assert_true(feat(&fs, "eeg.ratio.theta_alpha") < 0.01);
    assert_true(feat(&fs, "eeg.spec.entropy") < 0.3);
    assert_true(fabs(feat(&fs, "eeg.quality.epochs_total") - 30) < 1e-12);
    assert_true(fabs(feat(&fs, "eeg.quality.epochs_rejected")) < 1e-12);
    mmdx__featset_fini(&fs);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that an epoch with a 1000 uV artifact and an epoch where one
 * channel is flat are rejected and counted, that Welch segments touching
 * them are left out, and that a recording of only bad epochs leaves the
 * spectral features NaN (never 0). */
static void eeg_features__artifacts__rejected_and_counted(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 20, c, i;
    struct mmdx_signal *s = synth(std19, 19, 256, n);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    struct mmdx_featset fs;
    unsigned seed = 3;

    (void)state;
    for (c = 0; c < 19; c++)
        for (i = 0; i < n; i++)
            s->ch[c].data[i] = (float)(10 * sin(2 * M_PI * 6.0 * (double)i /
                                                256.0) +
                                       2 * noise(&seed));
    /* epoch 3 (samples 1536..2047): a 1000 uV step on F3 */
    for (i = 1600; i < 1700; i++)
        s->ch[3].data[i] += 1000;
    /* epoch 7 (3584..4095): O2 flat */
    for (i = 3584; i < 4096; i++)
        s->ch[18].data[i] = 5;
    mmdx__eeg_params_default(&par);
    par.highpass_hz = par.lowpass_hz = par.notch_hz = 0;
    par.reference = MMDX_EEG_REF_AS_RECORDED;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    assert_int_equal(r.nepoch, 10);
    assert_int_equal(r.nrej, 2);
    assert_int_equal(r.nrej_amp, 1);
    assert_int_equal(r.nrej_flat, 1);
    /* 19 segments of 2 s at 1 s steps; those overlapping epochs 3 or 7
     * (starts 5..7 s and 13..15 s) are left out: 3 + 3 */
    assert_int_equal(r.nseg_total, 19);
    assert_int_equal(r.nseg, 13);
    mmdx__eeg_result_fini(&r);

    /* every epoch bad */
    par.reject_ptp_uv = 1;
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    assert_int_equal(r.nrej, 10);
    assert_int_equal(r.nseg, 0);
    mmdx__featset_init(&fs);
    assert_int_equal(mmdx__eeg_features_add(ctx, &par, &r, &fs), MMDX_OK);
    assert_true(isnan(feat(&fs, "eeg.band.alpha_rel")));
    assert_true(isnan(feat(&fs, "eeg.hjorth.activity_uv2")));
    assert_true(fabs(feat(&fs, "eeg.quality.rejected_frac") - 1) < 1e-12);
    mmdx__featset_fini(&fs);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that the average reference removes a component common to all
 * channels and that linked ears remove the ears' mean, and that linked
 * ears without A1/A2 is a clear error. */
static void eeg_reference__average_and_ears__common_removed(void **state)
{
    static const char *const labels[] = { "C3", "C4", "Cz", "A1", "A2" };
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 10, c, i;
    struct mmdx_signal *s = synth(labels, 5, 256, n);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    double a;

    (void)state;
    for (c = 0; c < 5; c++)
        for (i = 0; i < n; i++) {
            double common = 50 * sin(2 * M_PI * 20.0 * (double)i / 256.0);
            double own = c == 0 ? 10 * sin(2 * M_PI * 6.0 * (double)i / 256.0)
                                : 0;

            /* the ears carry only the common 20 Hz signal */
            s->ch[c].data[i] = (float)(common + own);
        }
    raw_psd_params(&par);
    par.reference = MMDX_EEG_REF_LINKED_EARS;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    assert_int_equal(r.nch, 3); /* ears are references, not analysed */
    /* C4 and Cz were only the common signal: nothing left */
    a = mmdx__eeg_band_power(r.psd + r.nfreq, r.nfreq, r.df_hz, 1, 45);
    assert_true(a < 1e-6);
    a = mmdx__eeg_band_power(r.psd, r.nfreq, r.df_hz, 4, 8);
    assert_true(fabs(a - 50.0) < 1.0); /* 10 uV sine: power 50 uV^2 */
    mmdx__eeg_result_fini(&r);

    par.reference = MMDX_EEG_REF_AVERAGE;
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    /* the common 20 Hz is gone from every channel */
    for (c = 0; c < 3; c++)
        assert_true(mmdx__eeg_band_power(r.psd + c * r.nfreq, r.nfreq,
                                         r.df_hz, 13, 30) < 1e-6);
    mmdx__eeg_result_fini(&r);

    s->ch[3].label[0] = 'X'; /* no A1 any more */
    par.reference = MMDX_EEG_REF_LINKED_EARS;
    assert_int_equal(mmdx__eeg_analyse(&eng, "t.edf", s, &r), MMDX_E_MISSING);
    assert_error_has(ctx, "reference: linked-ears needs A1 (or M1) at 256 Hz");
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that the Butterworth sections are -3 dB at their corner and the
 * notch removes its frequency (steady-state sine power ratios). */
static void eeg_filters__corner_and_notch__response(void **state)
{
    struct mmdx_biquad sec[4];
    size_t n = 256 * 40, i, ns;
    double *x = mmdx__malloc(n * sizeof(double));
    double pin, pout;
    int order;

    (void)state;
    assert_non_null(x);
    for (order = 2; order <= 8; order += 2) {
        int hi;

        for (hi = 0; hi < 2; hi++) {
            double f = hi ? 1.0 : 45.0;

            for (i = 0; i < n; i++)
                x[i] = sin(2 * M_PI * f * (double)i / 256.0);
            ns = mmdx__butter_sections(sec, order, hi != 0, f, 256);
            assert_int_equal(ns, (size_t)order / 2);
            mmdx__biquad_run(sec, ns, x, n);
            pin = 0.5;
            pout = 0;
            for (i = n / 2; i < n; i++)
                pout += x[i] * x[i];
            pout /= (double)(n - n / 2);
            assert_true(fabs(pout / pin - 0.5) < 0.01);
        }
    }
    for (i = 0; i < n; i++)
        x[i] = sin(2 * M_PI * 50.0 * (double)i / 256.0);
    mmdx__notch_section(sec, 50, 30, 256);
    mmdx__biquad_run(sec, 1, x, n);
    pout = 0;
    for (i = n / 2; i < n; i++)
        pout += x[i] * x[i];
    assert_true(pout / (double)(n - n / 2) < 1e-6);
    mmdx__free(x);
}

/* Ensure that running many channels through their sections together
 * gives each channel bit for bit what mmdx__biquad_run gives it, with the
 * filter state carried over a second call, for 1 to 19 channels (groups
 * of 8, pairs and single channels) with different coefficients. */
static void eeg_biquad_multi__channels__same_as_one(void **state)
{
    size_t nch, c, i, s, n = 300, nsec = 5;

    (void)state;
    for (nch = 1; nch <= 19; nch++) {
        struct mmdx_biquad *a = mmdx__malloc(nch * nsec * sizeof(*a));
        struct mmdx_biquad *b = mmdx__malloc(nch * nsec * sizeof(*b));
        double **xa = mmdx__calloc(nch, sizeof(double *));
        double **xb = mmdx__calloc(nch, sizeof(double *));
        unsigned seed = 9;
        int call;

        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(xa);
        assert_non_null(xb);
        for (c = 0; c < nch; c++) {
            size_t k = mmdx__butter_sections(a + c * nsec, 4, true,
                                             0.5 + 0.1 * (double)c, 256);

            k += mmdx__butter_sections(a + c * nsec + k, 4, false,
                                       40.0 - (double)c, 256);
            mmdx__notch_section(a + c * nsec + k, 50, 30, 256);
            xa[c] = mmdx__malloc(n * sizeof(double));
            xb[c] = mmdx__malloc(n * sizeof(double));
            assert_non_null(xa[c]);
            assert_non_null(xb[c]);
        }
        memcpy(b, a, nch * nsec * sizeof(*a));
        for (call = 0; call < 2; call++) {
            for (c = 0; c < nch; c++)
                for (i = 0; i < n; i++)
                    xa[c][i] = xb[c][i] =
                        100 * noise(&seed) + 20 * (double)c;
            for (c = 0; c < nch; c++)
                mmdx__biquad_run(a + c * nsec, nsec, xa[c], n);
            mmdx__biquad_run_multi(b, nsec, xb, nch, n);
            for (c = 0; c < nch; c++)
                assert_memory_equal(xa[c], xb[c], n * sizeof(double));
            for (s = 0; s < nch * nsec; s++) {
                assert_memory_equal(&a[s].z1, &b[s].z1, sizeof(double));
                assert_memory_equal(&a[s].z2, &b[s].z2, sizeof(double));
            }
        }
        for (c = 0; c < nch; c++) {
            mmdx__free(xa[c]);
            mmdx__free(xb[c]);
        }
        mmdx__free(xa);
        mmdx__free(xb);
        mmdx__free(a);
        mmdx__free(b);
    }
}

/* Ensure that the FFT backend's power spectrum matches a direct DFT in
 * double to 1e-5 relative on every bin down to 1e-12 of the peak (even
 * and odd lengths; a 1/f^2 walk plus a strong tone), the single precision
 * backend included (measured worst: 3.8e-6). */
static void rfft_power__dft__matches(void **state)
{
    static const size_t lens[] = { 512, 25, 200, 1950 };
    struct mmdx_ctx *ctx = test_ctx();
    size_t li;

    (void)state;
    for (li = 0; li < MMDX_ARRAY_SIZE(lens); li++) {
        size_t n = lens[li], k, t;
        struct mmdx_rfft *p = NULL;
        double *x = mmdx__malloc(n * sizeof(double));
        double *pw = mmdx__malloc((n / 2 + 1) * sizeof(double));
        double peak = 0;
        unsigned seed = 11;

        assert_non_null(x);
        assert_non_null(pw);
        /* 1/f^2-like: a random walk, windowed, plus a strong tone */
        x[0] = 0;
        for (t = 1; t < n; t++)
            x[t] = x[t - 1] + noise(&seed);
        for (t = 0; t < n; t++)
            x[t] = (x[t] + 100 * sin(2 * M_PI * 0.1 * (double)t)) *
                   (0.5 - 0.5 * cos(2 * M_PI * (double)t / (double)n));
        assert_int_equal(mmdx__rfft_new(ctx, n, &p), MMDX_OK);
        mmdx__rfft_power(p, x, pw);
        for (k = 0; k <= n / 2; k++) {
            double re = 0, im = 0, ref;

            for (t = 0; t < n; t++) {
                double a = -2 * M_PI * (double)((k * t) % n) / (double)n;

                re += x[t] * cos(a);
                im += x[t] * sin(a);
            }
            ref = re * re + im * im;
            if (ref > peak)
                peak = ref;
            if (ref > 1e-12 * peak && fabs(pw[k] - ref) > 1e-5 * ref)
                fail_msg("n=%zu bin %zu: %.10g vs DFT %.10g (%s)", n, k,
                         pw[k], ref, mmdx__rfft_backend());
        }
        mmdx__rfft_free(p);
        mmdx__free(x);
        mmdx__free(pw);
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that a Welch segment through the backend (mean and window taken
 * out in the spectrum by the double precision backends, in the input by
 * KissFFT and for short segments) equals the direct DFT of
 * (x - mean) * window in double, for every window, even and odd lengths
 * and a DC offset 1e4 times the signal: 1e-8 relative (double backends;
 * measured ~1e-11), 2e-5 for single precision KissFFT, on every bin
 * above 1e-9 of the peak; and that asking for fewer bins gives those bins
 * bit for bit and leaves the others alone. */
static void rfft_welch_add__windows__match_direct(void **state)
{
    static const size_t lens[] = { 512, 250, 501, 16, 10 };
    struct mmdx_ctx *ctx = test_ctx();
    double tol = strcmp(mmdx__rfft_backend(), "kissfft-float") == 0 ? 2e-5
                                                                     : 1e-8;
    size_t li;
    int wi;

    (void)state;
    for (li = 0; li < MMDX_ARRAY_SIZE(lens); li++) {
        for (wi = MMDX_WIN_HANN; wi <= MMDX_WIN_BOXCAR; wi++) {
            size_t n = lens[li], k, t, ncos;
            struct mmdx_rfft *p = NULL;
            double *x = mmdx__malloc(n * sizeof(double));
            double *win = mmdx__malloc(n * sizeof(double));
            double *acc = mmdx__calloc(n / 2 + 1, sizeof(double));
            double *ref = mmdx__malloc((n / 2 + 1) * sizeof(double));
            double cosw[3], m = 0, peak = 0;
            unsigned seed = 5;

            assert_non_null(x);
            assert_non_null(win);
            assert_non_null(acc);
            assert_non_null(ref);
            x[0] = 0;
            for (t = 1; t < n; t++)
                x[t] = x[t - 1] + noise(&seed);
            for (t = 0; t < n; t++) {
                x[t] += 1e4 + 3 * sin(2 * M_PI * 0.13 * (double)t);
                m += x[t];
            }
            m /= (double)n;
            mmdx__window_fill((enum mmdx_window)wi, win, n);
            ncos = mmdx__window_cosines((enum mmdx_window)wi, cosw);
            assert_int_equal(mmdx__rfft_new(ctx, n, &p), MMDX_OK);
            mmdx__rfft_welch_add(p, x, win, cosw, ncos, acc, n / 2 + 1);
            {
                /* fewer bins: every count from 0 to all */
                double *part = mmdx__malloc((n / 2 + 1) * sizeof(double));
                size_t nb;

                assert_non_null(part);
                for (nb = 0; nb <= n / 2 + 1; nb++) {
                    for (k = 0; k <= n / 2; k++)
                        part[k] = -1;
                    for (k = 0; k < nb; k++)
                        part[k] = 0;
                    mmdx__rfft_welch_add(p, x, win, cosw, ncos, part, nb);
                    for (k = 0; k <= n / 2; k++)
                        if (k < nb ? memcmp(&part[k], &acc[k], sizeof(double))
                                   : part[k] != -1)
                            fail_msg("n=%zu window %d nbins %zu bin %zu", n,
                                     wi, nb, k);
                }
                mmdx__free(part);
            }
            for (k = 0; k <= n / 2; k++) {
                double re = 0, im = 0;

                for (t = 0; t < n; t++) {
                    double a = -2 * M_PI * (double)((k * t) % n) / (double)n;
                    double v = (x[t] - m) * win[t];

                    re += v * cos(a);
                    im += v * sin(a);
                }
                ref[k] = re * re + im * im;
                if (ref[k] > peak)
                    peak = ref[k];
            }
            for (k = 0; k <= n / 2; k++)
                if (ref[k] > 1e-9 * peak &&
                    fabs(acc[k] - ref[k]) > tol * ref[k])
                    fail_msg("n=%zu window %d bin %zu: %.12g vs %.12g (%s)",
                             n, wi, k, acc[k], ref[k], mmdx__rfft_backend());
            mmdx__rfft_free(p);
            mmdx__free(x);
            mmdx__free(win);
            mmdx__free(acc);
            mmdx__free(ref);
        }
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that the one-pass Hjorth statistics equal a direct two-pass
 * computation: population variances of the samples, and of the first and
 * second differences taken within each epoch (epochs of 511 samples, so
 * odd and even lengths and a short last epoch occur), on a random walk
 * with a 5000 uV offset; 1e-9 relative. */
static void eeg_hjorth__epochs__match_two_pass(void **state)
{
    static const char *const lab[] = { "Cz", "Pz" };
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 21 + 77, E = 511, c, i, st;
    struct mmdx_signal *s = synth(lab, 2, 256, n);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    unsigned seed = 3;

    (void)state;
    for (c = 0; c < 2; c++) {
        double v = 5000;

        for (i = 0; i < n; i++) {
            v += noise(&seed) * (c ? 3 : 1);
            s->ch[c].data[i] = (float)v;
        }
    }
    raw_psd_params(&par);
    par.fam = MMDX_EEG_FAM_ALL;
    par.epoch_s = (double)E / 256.0;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &r), MMDX_OK);
    for (c = 0; c < 2; c++) {
        const float *x = s->ch[c].data;
        double m[3] = { 0, 0, 0 }, v[3] = { 0, 0, 0 }, cnt[3] = { 0, 0, 0 };
        int pass, o;

        for (pass = 0; pass < 2; pass++)
            for (st = 0; st < n; st += E) {
                size_t len = n - st < E ? n - st : E;

                for (i = 0; i < len; i++)
                    for (o = 0; o < 3; o++) {
                        double val;

                        if ((size_t)o > i)
                            continue;
                        val = o == 0 ? (double)x[st + i]
                              : o == 1
                                  ? (double)x[st + i] - (double)x[st + i - 1]
                                  : (double)x[st + i] -
                                        2.0 * (double)x[st + i - 1] +
                                        (double)x[st + i - 2];
                        if (pass == 0) {
                            m[o] += val;
                            cnt[o] += 1;
                        } else {
                            v[o] += (val - m[o]) * (val - m[o]);
                        }
                    }
                if (pass == 0 && st + E >= n)
                    for (o = 0; o < 3; o++)
                        m[o] /= cnt[o];
            }
        for (o = 0; o < 3; o++)
            v[o] /= cnt[o];
        assert_true(fabs(r.hj_act[c] - v[0]) < 1e-9 * v[0]);
        assert_true(fabs(r.hj_mob[c] - 256.0 * sqrt(v[1] / v[0])) <
                    1e-9 * r.hj_mob[c]);
        assert_true(fabs(r.hj_cmp[c] - sqrt(v[2] / v[1]) / sqrt(v[1] / v[0])) <
                    1e-9 * r.hj_cmp[c]);
    }
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that inconsistent parameters are refused naming the parameter. */
static void eeg_params__inconsistent__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_eeg_params par;

    (void)state;
    mmdx__eeg_params_default(&par);
    par.band_hz[2][1] = 7;
    assert_int_equal(mmdx__eeg_params_check(ctx, &par), MMDX_E_PIPELINE);
    assert_error_has(ctx, "alpha_hi_hz: must be above alpha_lo_hz");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    mmdx__eeg_params_default(&par);
    par.filter_order = 3;
    assert_int_equal(mmdx__eeg_params_check(ctx, &par), MMDX_E_PIPELINE);
    assert_error_has(ctx, "filter_order: must be even, got 3");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    mmdx__eeg_params_default(&par);
    par.highpass_hz = 50;
    assert_int_equal(mmdx__eeg_params_check(ctx, &par), MMDX_E_PIPELINE);
    assert_error_has(ctx, "highpass_hz: 50 must be below lowpass_hz 45");
    mmdx_ctx_free(ctx);
}

/* Fill every channel of s with a 10 Hz sine (20 uV) over small noise. */
static void fill_alpha(struct mmdx_signal *s)
{
    unsigned seed = 11;
    size_t c, i;

    for (c = 0; c < s->nch; c++)
        for (i = 0; i < s->ch[c].n; i++)
            s->ch[c].data[i] = (float)(
                20 * sin(2 * M_PI * 10.0 * (double)i / s->ch[c].fs_hz +
                         0.3 * (double)c) +
                2 * noise(&seed));
}

/* Ensure that a high-pass at or above the recording's Nyquist frequency
 * (nothing would pass) is an error naming the parameter once, the file and
 * the Nyquist frequency. */
static void eeg_filters__highpass_above_nyquist__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_signal *s = synth(std19, 3, 64, 64 * 10);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;

    (void)state;
    mmdx__eeg_params_default(&par);
    par.highpass_hz = 40;
    par.lowpass_hz = 0;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 0), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "low.edf", s, &r),
                     MMDX_E_INVAL);
    assert_error_is(ctx, "low.edf: eeg.features: highpass_hz: 40 Hz is not "
                         "below the Nyquist frequency (32 Hz) of this "
                         "recording: nothing would pass");
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that at 100 Hz (Nyquist 50 Hz) the default 50 Hz notch is left
 * out and said so, not an error, and every default band (up to 45 Hz) is
 * computed; at 64 Hz the 45 Hz low-pass is left out too and the bands
 * reaching above 32 Hz (gamma, the total band) are NaN with what depends
 * on them (relative powers, spectral edge, entropy), the others finite. */
static void eeg_filters__notch_at_nyquist__skipped(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_signal *s = synth(std19, 19, 100, 100 * 30);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;
    struct mmdx_featset fs;

    (void)state;
    fill_alpha(s);
    mmdx__eeg_params_default(&par);
    mmdx__featset_init(&fs);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 0), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "a100.edf", s, &r), MMDX_OK);
    assert_true(r.notch_skipped);
    assert_false(r.lowpass_skipped);
    assert_int_equal(r.above_nyq, 0);
    assert_int_equal(r.nrej, 0);
    assert_int_equal(mmdx__eeg_features_add(ctx, &par, &r, &fs), MMDX_OK);
    assert_true(feat(&fs, "eeg.band.alpha_rel") > 0.9);
    assert_true(isfinite(feat(&fs, "eeg.band.gamma_abs_uv2")));
    assert_true(fabs(feat(&fs, "eeg.spec.paf_hz") - 10.0) < 1e-12);
    assert_true(isfinite(feat(&fs, "eeg.spec.sef_hz")));
    mmdx__featset_fini(&fs);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);

    s = synth(std19, 19, 64, 64 * 30);
    fill_alpha(s);
    mmdx__featset_init(&fs);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 0), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "a64.edf", s, &r), MMDX_OK);
    assert_true(r.notch_skipped);
    assert_true(r.lowpass_skipped);
    assert_int_equal(r.above_nyq, (1u << 4) | (1u << MMDX_EEG_NBANDS));
    assert_int_equal(mmdx__eeg_features_add(ctx, &par, &r, &fs), MMDX_OK);
    assert_true(isnan(feat(&fs, "eeg.band.gamma_abs_uv2")));
    assert_true(isnan(feat(&fs, "eeg.band.gamma_abs_uv2.O1")));
    assert_true(isnan(feat(&fs, "eeg.asym.gamma_lr")));
    assert_true(isnan(feat(&fs, "eeg.band.total_abs_uv2")));
    assert_true(isnan(feat(&fs, "eeg.band.alpha_rel")));
    assert_true(isnan(feat(&fs, "eeg.spec.sef_hz")));
    assert_true(isnan(feat(&fs, "eeg.spec.entropy")));
    assert_true(feat(&fs, "eeg.band.alpha_abs_uv2") > 100);
    assert_true(isfinite(feat(&fs, "eeg.band.beta_abs_uv2")));
    assert_true(isfinite(feat(&fs, "eeg.ratio.slowing")));
    assert_true(fabs(feat(&fs, "eeg.spec.paf_hz") - 10.0) < 1e-12);
    mmdx__featset_fini(&fs);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that a last epoch of a single sample (30 s + 1 sample at 100 Hz,
 * 2 s epochs) is not rejected as flat: one sample has no peak-to-peak
 * (it was counted as a flat epoch before). */
static void eeg_artifacts__one_sample_epoch__not_flat(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_signal *s = synth(std19, 4, 100, 100 * 30 + 1);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;

    (void)state;
    fill_alpha(s);
    mmdx__eeg_params_default(&par);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 0), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "a.edf", s, &r), MMDX_OK);
    assert_int_equal(r.nepoch, 16);
    assert_int_equal(r.nrej, 0);
    assert_int_equal(r.nrej_flat, 0);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that a Welch segment of fewer than 4 samples (window_s x fs) is
 * reported as such (spectral features NaN), not as a short recording. */
static void eeg_psd__segment_few_samples__flagged(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_signal *s = synth(std19, 3, 20, 20 * 60);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result r;

    (void)state;
    fill_alpha(s);
    mmdx__eeg_params_default(&par);
    par.highpass_hz = 0.5;
    par.window_s = 0.1;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 0), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "a20.edf", s, &r), MMDX_OK);
    assert_true(r.seg_few_samples);
    assert_int_equal(r.nperseg, 0);
    assert_null(r.psd);
    mmdx__eeg_result_fini(&r);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Run the analysis and the feature table of s with families fam. */
static void families_run(struct mmdx_ctx *ctx, const struct mmdx_signal *s,
                         unsigned fam, struct mmdx_eeg_result *r,
                         struct mmdx_featset *fs)
{
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;

    mmdx__eeg_params_default(&par);
    par.fam = fam;
    mmdx__featset_init(fs);
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, r), MMDX_OK);
    assert_int_equal(mmdx__eeg_features_add(ctx, &par, r, fs), MMDX_OK);
    mmdx__eeg_engine_fini(&eng);
}

/* Ensure that families=band yields exactly the band and quality features,
 * bit for bit the values of the full set; that families=hjorth computes
 * no PSD (no Welch segment, no band feature) and the same Hjorth values;
 * and that the default set has every family. */
static void eeg_features__families__selected_only(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 20, c, i, k;
    struct mmdx_signal *s = synth(std19, 19, 256, n);
    struct mmdx_eeg_result ra, rb, rh;
    struct mmdx_featset fa, fb, fh;
    unsigned seed = 11;

    (void)state;
    for (c = 0; c < 19; c++)
        for (i = 0; i < n; i++)
            s->ch[c].data[i] =
                (float)(10 * sin(2 * M_PI * 9.0 * (double)i / 256.0) +
                        5 * noise(&seed));
    families_run(ctx, s, MMDX_EEG_FAM_ALL, &ra, &fa);
    families_run(ctx, s, MMDX_EEG_FAM_BAND, &rb, &fb);
    families_run(ctx, s, MMDX_EEG_FAM_HJORTH, &rh, &fh);
    /* band: every name is band.* or quality.*, each equal to the full run */
    for (k = 0; k < fb.n; k++) {
        const char *nm = fb.v[k].name;

        assert_true(strncmp(nm, "eeg.band.", 9) == 0 ||
                    strncmp(nm, "eeg.quality.", 12) == 0);
        assert_memory_equal(&fb.v[k].value, &mmdx__featset_get(&fa, nm)->value,
                            sizeof(double));
    }
    assert_non_null(mmdx__featset_get(&fb, "eeg.band.alpha_rel.O1"));
    assert_non_null(mmdx__featset_get(&fb, "eeg.quality.segments_used"));
    assert_null(mmdx__featset_get(&fb, "eeg.hjorth.mobility_per_s"));
    assert_null(mmdx__featset_get(&fb, "eeg.asym.alpha_lr"));
    assert_null(mmdx__featset_get(&fb, "eeg.spec.paf_hz"));
    assert_null(mmdx__featset_get(&fb, "eeg.ratio.slowing"));
    assert_true(isnan(rb.hj_act[0]));
    /* hjorth only: no Welch PSD at all */
    assert_null(rh.psd);
    assert_int_equal(rh.nperseg, 0);
    assert_int_equal(rh.nseg, 0);
    assert_null(mmdx__featset_get(&fh, "eeg.band.alpha_rel"));
    assert_true(feat(&fh, "eeg.hjorth.complexity.Cz") ==
                feat(&fa, "eeg.hjorth.complexity.Cz"));
    assert_true(feat(&fh, "eeg.hjorth.activity_uv2") ==
                feat(&fa, "eeg.hjorth.activity_uv2"));
    /* all: one name of each family */
    assert_true(isfinite(feat(&fa, "eeg.spec.paf_hz")));
    assert_true(isfinite(feat(&fa, "eeg.ratio.theta_alpha")));
    assert_true(isfinite(feat(&fa, "eeg.asym.alpha_lr")));
    assert_true(fa.n > fb.n + fh.n);
    mmdx__featset_fini(&fa);
    mmdx__featset_fini(&fb);
    mmdx__featset_fini(&fh);
    mmdx__eeg_result_fini(&ra);
    mmdx__eeg_result_fini(&rb);
    mmdx__eeg_result_fini(&rh);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that without write_psd the pass keeps only the PSD bins up to
 * just above the highest band edge (45 Hz at 0.5 Hz bins: 0..91) and that
 * they, and every feature, are bit for bit those of the full PSD; with a
 * band edge above Nyquist every bin is kept. */
static void eeg_psd__bins_up_to_bands__same_values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    size_t n = 256 * 12, c, i, k;
    struct mmdx_signal *s = synth(std19, 4, 256, n);
    struct mmdx_eeg_params par;
    struct mmdx_eeg_engine eng;
    struct mmdx_eeg_result rl, rf;
    struct mmdx_featset fl, ff;
    unsigned seed = 3;
    int pass;

    (void)state;
    for (c = 0; c < 4; c++)
        for (i = 0; i < n; i++)
            s->ch[c].data[i] = (float)(20 * noise(&seed) + 100 * (double)c);
    for (pass = 0; pass < 2; pass++) {
        mmdx__eeg_params_default(&par);
        par.write_psd = pass == 1;
        mmdx__featset_init(pass ? &ff : &fl);
        assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256),
                         MMDX_OK);
        assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s,
                                           pass ? &rf : &rl),
                         MMDX_OK);
        assert_int_equal(mmdx__eeg_features_add(ctx, &par, pass ? &rf : &rl,
                                                pass ? &ff : &fl),
                         MMDX_OK);
        mmdx__eeg_engine_fini(&eng);
    }
    assert_int_equal(rl.nfreq, 92);
    assert_int_equal(rf.nfreq, 257);
    for (c = 0; c < 4; c++)
        assert_memory_equal(rl.psd + c * rl.nfreq, rf.psd + c * rf.nfreq,
                            rl.nfreq * sizeof(double));
    assert_int_equal(fl.n, ff.n);
    for (k = 0; k < fl.n; k++) {
        assert_string_equal(fl.v[k].name, ff.v[k].name);
        assert_memory_equal(&fl.v[k].value, &ff.v[k].value, sizeof(double));
    }
    mmdx__featset_fini(&fl);
    mmdx__featset_fini(&ff);
    mmdx__eeg_result_fini(&rl);
    mmdx__eeg_result_fini(&rf);
    /* gamma up to 200 Hz at 256 Hz: every bin up to Nyquist */
    mmdx__eeg_params_default(&par);
    par.band_hz[4][1] = 200;
    par.lowpass_hz = 0;
    assert_int_equal(mmdx__eeg_engine_init(&eng, ctx, &par, 256), MMDX_OK);
    assert_int_equal(mmdx__eeg_analyse(&eng, "synth", s, &rl), MMDX_OK);
    assert_int_equal(rl.nfreq, 257);
    mmdx__eeg_result_fini(&rl);
    mmdx__eeg_engine_fini(&eng);
    mmdx__signal_free(s);
    mmdx_ctx_free(ctx);
}

/* Ensure that a families list parses with blanks around the names, that
 * "all" and NULL select every family, and that an unknown or empty name
 * is E_PIPELINE naming the parameter and the name. */
static void eeg_families__lists__parsed_or_named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    unsigned f = 0;

    (void)state;
    assert_int_equal(mmdx__eeg_families_parse(ctx, " band , hjorth", &f),
                     MMDX_OK);
    assert_int_equal(f, MMDX_EEG_FAM_BAND | MMDX_EEG_FAM_HJORTH);
    assert_int_equal(mmdx__eeg_families_parse(ctx, "all", &f), MMDX_OK);
    assert_int_equal(f, MMDX_EEG_FAM_ALL);
    assert_int_equal(mmdx__eeg_families_parse(ctx, NULL, &f), MMDX_OK);
    assert_int_equal(f, MMDX_EEG_FAM_ALL);
    assert_int_equal(mmdx__eeg_families_parse(ctx, "band,psd", &f),
                     MMDX_E_PIPELINE);
    assert_error_has(ctx, "families: unknown family \"psd\" (choose from "
                          "band, ratio, spec, hjorth, asym or all)");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx__eeg_families_parse(ctx, "band,,spec", &f),
                     MMDX_E_PIPELINE);
    assert_error_has(ctx, "families: empty name in \"band,,spec\"");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx__eeg_families_parse(ctx, "", &f), MMDX_E_PIPELINE);
    assert_error_has(ctx, "families: empty name");
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure in the analysis and the feature
 * table returns E_NOMEM and leaks nothing. */
static void eeg_analyse__oom_loop__nomem(void **state)
{
    size_t n = 128 * 8, c, i;
    struct mmdx_signal *s = synth(std19, 19, 128, n);
    struct mmdx_eeg_params par;
    unsigned long k;
    unsigned seed = 5;

    (void)state;
    for (c = 0; c < 19; c++)
        for (i = 0; i < n; i++)
            s->ch[c].data[i] = (float)(5 * noise(&seed));
    mmdx__eeg_params_default(&par);
    for (k = 1;; k++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_eeg_engine eng;
        struct mmdx_eeg_result r;
        struct mmdx_featset fs;
        enum mmdx_status st;

        mmdx__featset_init(&fs);
        mmdx__alloc_fail_at(k);
        st = mmdx__eeg_engine_init(&eng, ctx, &par, 128);
        if (!st) {
            st = mmdx__eeg_analyse(&eng, "synth", s, &r);
            if (!st) {
                st = mmdx__eeg_features_add(ctx, &par, &r, &fs);
                mmdx__eeg_result_fini(&r);
            }
        }
        mmdx__alloc_fail_at(0);
        mmdx__eeg_engine_fini(&eng);
        mmdx__featset_fini(&fs);
        mmdx_ctx_free(ctx);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_true(k < 5000);
    }
    mmdx__signal_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edf_header__synthetic__parsed),
        cmocka_unit_test(edf_header__malformed__field_named),
        cmocka_unit_test(edf_header__bad_signal_fields__indexed),
        cmocka_unit_test(edf_header__non_ascii__refused),
        cmocka_unit_test(edf_header__truncated__format),
        cmocka_unit_test(edf_detect__one_bad_size_field__reader_names_it),
        cmocka_unit_test(bdf_read__24bit__scaled),
        cmocka_unit_test(edfplus_d__gaps_and_tals__parsed),
        cmocka_unit_test(edfplus_d__real_recording_with_gap__read),
        cmocka_unit_test(edf_read_samples__beyond_4gib__right_place),
        cmocka_unit_test(edf_tal__bad_onset__format),
        cmocka_unit_test(edf_idfields__subfields__reported),
        cmocka_unit_test(edf_read__stim_channel__matches_reference),
        cmocka_unit_test(edf_read__every_shared_file__reads),
        cmocka_unit_test(edf_read__uneven_rates__per_channel),
        cmocka_unit_test(edf_annotations__real_files__parsed),
        cmocka_unit_test(edf_read_samples__windows__match_whole),
        cmocka_unit_test(edf_read__oom_loop__nomem),
        cmocka_unit_test(edf_open__truncated_file__records_named),
        cmocka_unit_test(edf_inspect__subsecond__summary),
        cmocka_unit_test(eeg_psd__scipy_reference__matches),
        cmocka_unit_test(eeg_features__alpha_rhythm__expected_values),
        cmocka_unit_test(eeg_features__artifacts__rejected_and_counted),
        cmocka_unit_test(eeg_reference__average_and_ears__common_removed),
        cmocka_unit_test(eeg_filters__corner_and_notch__response),
        cmocka_unit_test(eeg_biquad_multi__channels__same_as_one),
        cmocka_unit_test(rfft_power__dft__matches),
        cmocka_unit_test(rfft_welch_add__windows__match_direct),
        cmocka_unit_test(eeg_hjorth__epochs__match_two_pass),
        cmocka_unit_test(eeg_params__inconsistent__named),
        cmocka_unit_test(eeg_filters__highpass_above_nyquist__named),
        cmocka_unit_test(eeg_filters__notch_at_nyquist__skipped),
        cmocka_unit_test(eeg_psd__segment_few_samples__flagged),
        cmocka_unit_test(eeg_artifacts__one_sample_epoch__not_flat),
        cmocka_unit_test(eeg_features__families__selected_only),
        cmocka_unit_test(eeg_families__lists__parsed_or_named),
        cmocka_unit_test(eeg_psd__bins_up_to_bands__same_values),
        cmocka_unit_test(eeg_analyse__oom_loop__nomem),
    };

    return cmocka_run_group_tests_name("eeg_testdriver", tests, NULL, NULL);
}
