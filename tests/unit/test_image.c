/*
 * test_image.c - image_testdriver: DICOM loading (DCMTK shim, OpenJPEG),
 * series assembly, identifying attributes, the CT writer, the ECG
 * waveform reader, and the image features (IBSI digital phantom).
 *
 * Reference pixel values come from pydicom 2.3.1 (Debian) on the same
 * files: pixel_array with the modality LUT applied
 * (bench/dicom_crosscheck.py checks every file of shared/data/dicom).
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/signal.h"
#include "pipeline/stage.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

static struct mmdx_dicom_file *read_ok(struct mmdx_ctx *ctx, const char *rel)
{
    char *path = test_shared(rel);
    struct mmdx_dicom_file *f = NULL;
    enum mmdx_status st = mmdx__dicom_read_file(ctx, path, NULL, 0, &f);

    if (st) {
        char buf[2400];

        mmdx_error_format(mmdx_ctx_last_error(ctx), buf, sizeof(buf));
        fail_msg("%s: %s", rel, buf);
    }
    mmdx__free(path);
    return f;
}

/* ---- loading ---------------------------------------------------------------- */

/* Ensure that a CT slice loads in Hounsfield units with its geometry
 * (reference: pydicom apply_modality_lut(pixel_array), exact). */
static void dicom_read__ct_small__hu(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = read_ok(ctx, "dicom/CT_small.dcm");
    const struct mmdx_image *m = f->img;

    (void)state;
    assert_int_equal(m->nx, 128);
    assert_int_equal(m->ny, 128);
    assert_int_equal(m->nz, 1);
    assert_int_equal(m->nc, 1);
    assert_true(m->vox[0] == -849.0f);
    assert_true(m->vox[64 * 128 + 64] == 904.0f);
    assert_true(m->vox[127 * 128 + 127] == -115.0f);
    assert_true(m->vox[10 * 128 + 100] == 203.0f);
    assert_float_equal(m->spacing_mm[0], 0.661468, 1e-9);
    assert_float_equal(m->spacing_mm[1], 0.661468, 1e-9);
    assert_float_equal(m->slice_thickness_mm, 5.0, 1e-9);
    assert_non_null(m->pos_mm);
    assert_float_equal(m->pos_mm[2], -75.699997, 1e-6);
    assert_string_equal(m->modality, "CT");
    assert_string_equal(m->units, "HU");
    assert_string_equal(m->transfer_syntax, "1.2.840.10008.1.2.1");
    mmdx__dicom_file_free(f);
    mmdx_ctx_free(ctx);
}

/* Ensure that every encoding of MR_small decodes to identical voxels
 * (implicit/big-endian, RLE, JPEG-LS and JPEG 2000 lossless). */
static void dicom_read__mr_variants__identical(void **state)
{
    static const char *const v[] = {
        "dicom/MR_small_implicit.dcm", "dicom/MR_small_bigendian.dcm",
        "dicom/MR_small_RLE.dcm", "dicom/MR_small_jpeg_ls_lossless.dcm",
        "dicom/MR_small_jp2klossless.dcm"
    };
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *ref = read_ok(ctx, "dicom/MR_small.dcm");
    size_t i;

    (void)state;
    /* pydicom: pixel_array[0,0] = 905, [32,32] = 182 */
    assert_true(ref->img->vox[0] == 905.0f);
    assert_true(ref->img->vox[32 * 64 + 32] == 182.0f);
    for (i = 0; i < MMDX_ARRAY_SIZE(v); i++) {
        struct mmdx_dicom_file *f = read_ok(ctx, v[i]);

        assert_int_equal(f->img->nx * f->img->ny, 64 * 64);
        assert_memory_equal(f->img->vox, ref->img->vox, 64 * 64 * 4);
        mmdx__dicom_file_free(f);
    }
    mmdx__dicom_file_free(ref);
    mmdx_ctx_free(ctx);
}

/* Ensure that MONOCHROME1 is inverted over the rescaled stored range:
 * stored 1994, slope 0.684, intercept 200, 12 bits -> 3200.98 - 1563.896. */
static void dicom_read__monochrome1__inverted(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = read_ok(ctx, "dicom/CR_small_16x16_6154.dcm");

    (void)state;
    assert_float_equal(f->img->vox[0], 3200.98 - 1563.896, 1e-3);
    assert_string_equal(f->img->photometric, "MONOCHROME1");
    mmdx__dicom_file_free(f);
    mmdx_ctx_free(ctx);
}

/* Ensure that multi-frame enhanced objects give one slice per frame with
 * per-frame positions, and RGB/palette images three channels. */
static void dicom_read__multiframe_color__shapes(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = read_ok(ctx, "dicom/emri_small_RLE.dcm");

    (void)state;
    assert_int_equal(f->img->nz, 10);
    mmdx__dicom_file_free(f);
    f = read_ok(ctx, "dicom/eCT_Supplemental.dcm");
    assert_int_equal(f->img->nz, 2);
    assert_non_null(f->img->pos_mm);
    assert_float_equal(f->img->pos_mm[5], -149.0, 1e-9);
    mmdx__dicom_file_free(f);
    f = read_ok(ctx, "dicom/OBXXXX1A_rle_2frame.dcm");
    assert_int_equal(f->img->nc, 3);
    assert_int_equal(f->img->nz, 2);
    mmdx__dicom_file_free(f);
    f = read_ok(ctx, "dicom/SC_rgb_jpeg_dcmtk.dcm");
    assert_int_equal(f->img->nc, 3);
    assert_true(f->img->lossy);
    mmdx__dicom_file_free(f);
    mmdx_ctx_free(ctx);
}

/* Ensure that each malformed file fails with a status and a message that
 * names the file and the problem. */
static void dicom_read__malformed__clear_errors(void **state)
{
    static const struct {
        const char *file;
        enum mmdx_status st;
        const char *msg;
    } cases[] = {
        { "MR_truncated.dcm", MMDX_E_FORMAT, "truncated or corrupt" },
        { "rtplan_truncated.dcm", MMDX_E_FORMAT, "truncated or corrupt" },
        { "no_meta.dcm", MMDX_E_FORMAT, "not a readable bare dataset" },
        { "meta_missing_tsyntax.dcm", MMDX_E_FORMAT,
          "TransferSyntaxUID (0002,0010): the File Meta Information lacks" },
        { "badVR.dcm", MMDX_E_FORMAT,
          "NumberOfFrames (0028,0008): expected a positive integer, got "
          "\"1A\"" },
        { "JPEG2000-embedded-sequence-delimiter.dcm", MMDX_E_FORMAT,
          "invalid JPEG 2000 header" },
        { "emri_small_jpeg_2k_lossless_too_short.dcm", MMDX_E_FORMAT,
          "Sequence Delimitation Item missing" },
        { "rle_mutated_partial_access_crash.dcm", MMDX_E_FORMAT,
          "corrupt RLE Lossless pixel data" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(cases); i++) {
        struct mmdx_ctx *ctx = test_ctx();
        char rel[200], *path;
        struct mmdx_dicom_file *f = NULL;

        snprintf(rel, sizeof(rel), "dicom/malformed/%s", cases[i].file);
        path = test_shared(rel);
        assert_int_equal(mmdx__dicom_read_file(ctx, path, NULL, 0, &f),
                         cases[i].st);
        assert_null(f);
        assert_error_has(ctx, cases[i].file);
        assert_error_has(ctx, cases[i].msg);
        mmdx__free(path);
        mmdx_ctx_free(ctx);
    }
}

/* A small explicit-VR LE Part 10 file built by hand. */
static size_t put_el(uint8_t *b, uint16_t g, uint16_t e, const char *vr,
                     const void *val, uint32_t len)
{
    size_t n = 0;
    bool longvr = !strcmp(vr, "OB") || !strcmp(vr, "OW") ||
                  !strcmp(vr, "UN");

    b[n++] = g & 0xFF; b[n++] = g >> 8; b[n++] = e & 0xFF; b[n++] = e >> 8;
    b[n++] = (uint8_t)vr[0]; b[n++] = (uint8_t)vr[1];
    if (longvr) {
        b[n++] = 0; b[n++] = 0;
        memcpy(b + n, &len, 4);
        n += 4;
    } else {
        b[n++] = len & 0xFF; b[n++] = (len >> 8) & 0xFF;
    }
    memcpy(b + n, val, len);
    return n + len;
}

/* Ensure that an absurd declared size (65535 x 65535 x 99999) is refused
 * with E_LIMIT before any pixel buffer is allocated. */
static void dicom_read__absurd_size__refused(void **state)
{
    uint8_t buf[512];
    uint16_t big = 65535, bits = 16, one = 1, zero = 0;
    size_t n = 132;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = NULL;
    unsigned long allocs;

    (void)state;
    memset(buf, 0, sizeof(buf));
    memcpy(buf + 128, "DICM", 4);
    n += put_el(buf + n, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1\0", 20);
    n += put_el(buf + n, 0x0008, 0x0060, "CS", "CT", 2);
    n += put_el(buf + n, 0x0028, 0x0002, "US", &one, 2);
    n += put_el(buf + n, 0x0028, 0x0004, "CS", "MONOCHROME2 ", 12);
    n += put_el(buf + n, 0x0028, 0x0008, "IS", "99999 ", 6);
    n += put_el(buf + n, 0x0028, 0x0010, "US", &big, 2);
    n += put_el(buf + n, 0x0028, 0x0011, "US", &big, 2);
    n += put_el(buf + n, 0x0028, 0x0100, "US", &bits, 2);
    n += put_el(buf + n, 0x0028, 0x0101, "US", &bits, 2);
    n += put_el(buf + n, 0x0028, 0x0102, "US", &(uint16_t){ 15 }, 2);
    n += put_el(buf + n, 0x0028, 0x0103, "US", &zero, 2);
    n += put_el(buf + n, 0x7FE0, 0x0010, "OW", "\0\0\0\0", 4);
    mmdx__alloc_fail_at(0);
    assert_int_equal(mmdx__dicom_read_mem(ctx, "absurd.dcm", buf, n, NULL, 0,
                                          &f), MMDX_E_LIMIT);
    allocs = mmdx__alloc_fail_at(0);
    assert_true(allocs < 20);   /* no pixel buffer was asked for */
    assert_null(f);
    assert_error_has(ctx, "absurd.dcm: io.dicom: NumberOfFrames (0028,0008): "
                          "declared image of 65535 x 65535 x 99999 x 1 "
                          "values exceeds the limit");
    mmdx_ctx_free(ctx);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    char *to = mmdx__path_join(dir, name), *data = NULL;
    size_t len;
    struct mmdx_ctx *ctx = test_ctx();

    assert_int_equal(mmdx__file_read(ctx, from, 1 << 24, &data, &len),
                     MMDX_OK);
    assert_int_equal(mmdx__file_write_atomic(ctx, to, data, len), MMDX_OK);
    mmdx__free(data);
    mmdx__free(to);
    mmdx_ctx_free(ctx);
}

/* Ensure that a series folder is sorted along the slice normal, and that
 * non-DICOM files in it are ignored. */
static void dicom_load__series__sorted(void **state)
{
    static const char *const names[] = { "17106.dcm", "17136.dcm",
                                         "17166.dcm", "17196.dcm" };
    struct mmdx_ctx *ctx = test_ctx();
    char *src = test_shared("dicom/series_CT2"), *dir = test_tmpdir();
    struct mmdx_image *img = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        char *from = mmdx__path_join(src, names[i]), to[16];

        snprintf(to, sizeof(to), "s%zu", 3 - i);  /* scramble name order */
        copy_file(from, dir, to);
        mmdx__free(from);
    }
    test_write(dir, "README.txt", "not DICOM\n");
    assert_int_equal(mmdx__dicom_load(ctx, dir, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(img->nz, 4);
    assert_int_equal(img->nfiles, 4);
    assert_non_null(img->pos_mm);
    for (i = 0; i + 1 < 4; i++)
        assert_true(img->pos_mm[3 * (i + 1)] * img->normal[0] +
                        img->pos_mm[3 * (i + 1) + 1] * img->normal[1] +
                        img->pos_mm[3 * (i + 1) + 2] * img->normal[2] >
                    img->pos_mm[3 * i] * img->normal[0] +
                        img->pos_mm[3 * i + 1] * img->normal[1] +
                        img->pos_mm[3 * i + 2] * img->normal[2]);
    assert_true(img->spacing_mm[2] > 0);
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx__free(src);
    mmdx_ctx_free(ctx);
}

/* Ensure that two files at the same position, and files of two series,
 * are errors naming the files. */
static void dicom_load__duplicates_mixed__errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *a = test_shared("dicom/series_CT2/17106.dcm");
    char *b = test_shared("dicom/CT_small.dcm");
    char *dir = test_tmpdir();
    struct mmdx_image *img = NULL;

    (void)state;
    copy_file(a, dir, "a.dcm");
    copy_file(a, dir, "b.dcm");
    assert_int_equal(mmdx__dicom_load(ctx, dir, NULL, NULL, NULL, &img),
                     MMDX_E_FORMAT);
    assert_null(img);
    assert_error_has(ctx, "ImagePositionPatient (0020,0032): duplicate slice "
                          "position in ");
    assert_error_has(ctx, "/a.dcm and ");
    assert_error_has(ctx, "/b.dcm");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    copy_file(b, dir, "b.dcm");
    assert_int_equal(mmdx__dicom_load(ctx, dir, NULL, NULL, NULL, &img),
                     MMDX_E_MISMATCH);
    assert_error_has(ctx, "SeriesInstanceUID (0020,000E): mixed series: ");
    test_rmtree(dir);
    mmdx__free(a);
    mmdx__free(b);
    mmdx_ctx_free(ctx);
}

struct idrec {
    char field[64];
    int kind;
    char value[64];
};

struct idlist {
    struct idrec v[64];
    size_t n;
};

static enum mmdx_status collect(void *user, const char *file,
                                const char *field, int kind,
                                const char *value)
{
    struct idlist *l = user;

    (void)file;
    if (l->n < 64) {
        mmdx__strlcpy(l->v[l->n].field, field, 64);
        l->v[l->n].kind = kind;
        mmdx__strlcpy(l->v[l->n].value, value, 64);
        l->n++;
    }
    return MMDX_OK;
}

static const struct idrec *find_id(const struct idlist *l, const char *f)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].field, f))
            return &l->v[i];
    return NULL;
}

/* Ensure that identifying attributes are reported with "Name (gggg,eeee)"
 * fields and kinds (CT_small carries a name, an ID, dates, an institution
 * and private groups). */
static void dicom_load__idfields__reported(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("dicom/CT_small.dcm");
    struct mmdx_image *img = NULL;
    struct idlist l;
    const struct idrec *r;

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(mmdx__dicom_load(ctx, path, NULL, collect, &l, &img),
                     MMDX_OK);
    r = find_id(&l, "PatientName (0010,0010)");
    assert_non_null(r);
    assert_int_equal(r->kind, MMDX_ID_NAME);
    r = find_id(&l, "PatientID (0010,0020)");
    assert_non_null(r);
    assert_int_equal(r->kind, MMDX_ID_NUMBER);
    r = find_id(&l, "StudyDate (0008,0020)");
    assert_non_null(r);
    assert_int_equal(r->kind, MMDX_ID_DATE);
    r = find_id(&l, "InstitutionName (0008,0080)");
    assert_non_null(r);
    assert_int_equal(r->kind, MMDX_ID_INSTITUTION);
    r = find_id(&l, "Private (0009,1001)");
    assert_non_null(r);
    assert_int_equal(r->kind, MMDX_ID_PRIVATE);
    mmdx__image_free(img);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

/* Ensure that every parser path returns E_NOMEM on each failed
 * allocation and leaks nothing (run under ASan). */
static void dicom_load__oom__nomem(void **state)
{
    const char *rels[] = { "dicom/MR_small_RLE.dcm", "dicom/series_CT2",
                           "dicom/MR_small_jp2klossless.dcm" };
    size_t r;

    (void)state;
    for (r = 0; r < MMDX_ARRAY_SIZE(rels); r++) {
        char *path = test_shared(rels[r]);
        unsigned long n;

        for (n = 1; n < 1000; n++) {
            struct mmdx_ctx *ctx = test_ctx();
            struct mmdx_image *img = NULL;
            struct idlist l;
            enum mmdx_status st;

            memset(&l, 0, sizeof(l));
            mmdx__alloc_fail_at(n);
            st = mmdx__dicom_load(ctx, path, NULL, collect, &l, &img);
            mmdx__alloc_fail_at(0);
            mmdx_ctx_free(ctx);
            if (st == MMDX_OK) {
                mmdx__image_free(img);
                break;
            }
            assert_int_equal(st, MMDX_E_NOMEM);
            assert_null(img);
        }
        assert_true(n > 1 && n < 1000);
        mmdx__free(path);
    }
}

/* ---- writer ---------------------------------------------------------------- */

/* Ensure that the CT writer's files read back with the same HU in every
 * transfer syntax, with the pseudonym and the planted attributes. */
static void dicom_write_ct__roundtrip__same_hu(void **state)
{
    static const char *const uids[] = { "1.2.840.10008.1.2.1",
                                        "1.2.840.10008.1.2.5",
                                        "1.2.840.10008.1.2.4.80" };
    int16_t px[12 * 10];
    struct mmdx_dicom_attr extra[] = {
        { 0x0010, 0x0010, "Planted^Name" },
        { 0x0008, 0x0080, "Planted Hospital" },
    };
    struct mmdx_dicom_ct w;
    char *dir = test_tmpdir();
    int ts;
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(px); i++)
        px[i] = (int16_t)((int)i * 37 - 1500);
    memset(&w, 0, sizeof(w));
    w.pixels = px;
    w.rows = 10;
    w.cols = 12;
    w.slope = 1;
    w.intercept = -1024;
    w.pixel_spacing_mm[0] = 0.7;
    w.pixel_spacing_mm[1] = 0.8;
    w.slice_thickness_mm = 2.5;
    w.position_mm[2] = -30;
    w.instance_number = 7;
    w.patient_id = "P0042";
    w.extra = extra;
    w.nextra = 2;
    for (ts = 0; ts < 3; ts++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_dicom_file *f = NULL;
        char name[32], *path;
        const struct mmdx_dicom_idfield *pn = NULL, *pid = NULL;

        snprintf(name, sizeof(name), "ct%d.dcm", ts);
        path = mmdx__path_join(dir, name);
        w.ts = (enum mmdx_dicom_ts)ts;
        assert_int_equal(mmdx__dicom_write_ct(ctx, path, &w), MMDX_OK);
        assert_int_equal(mmdx__dicom_read_file(ctx, path, NULL, 0, &f),
                         MMDX_OK);
        assert_string_equal(f->img->transfer_syntax, uids[ts]);
        assert_int_equal(f->img->nx, 12);
        assert_int_equal(f->img->ny, 10);
        for (i = 0; i < MMDX_ARRAY_SIZE(px); i++)
            assert_true(f->img->vox[i] == (float)(px[i] - 1024));
        assert_float_equal(f->img->spacing_mm[1], 0.7, 1e-12);
        assert_float_equal(f->img->spacing_mm[0], 0.8, 1e-12);
        assert_int_equal(f->instance_number, 7);
        for (i = 0; i < f->nids; i++) {
            if (!strcmp(f->ids[i].field, "PatientName (0010,0010)"))
                pn = &f->ids[i];
            if (!strcmp(f->ids[i].field, "PatientID (0010,0020)"))
                pid = &f->ids[i];
        }
        assert_non_null(pn);
        assert_string_equal(pn->value, "Planted^Name");
        assert_non_null(pid);
        assert_string_equal(pid->value, "P0042");
        mmdx__dicom_file_free(f);
        mmdx__free(path);
        mmdx_ctx_free(ctx);
    }
    test_rmtree(dir);
}

/* ---- waveform ---------------------------------------------------------------- */

/* Ensure that the rhythm group of the DICOM ECG reads as 12 leads in mV
 * (reference: pydicom waveform_array(0), in uV: lead II samples 0, 100,
 * 5000 = 112.5, 37.5, 68.75). */
static void dicom_waveform__ecg__mv(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *path = test_shared("ecg/dicom-waveform/waveform_ecg.dcm");
    struct mmdx_dicom_waveform w;
    int ii;

    (void)state;
    assert_int_equal(mmdx__dicom_read_waveform(ctx, path, &w), MMDX_OK);
    assert_string_equal(w.group_label, "RHYTHM");
    assert_int_equal(w.sig->nch, 12);
    assert_string_equal(w.sig->ch[0].label, "I");
    assert_string_equal(w.sig->ch[1].raw_label, "Lead II");
    ii = mmdx__signal_find(w.sig, "II");
    assert_int_equal(ii, 1);
    assert_float_equal(w.sig->ch[1].fs_hz, 1000, 0);
    assert_int_equal(w.sig->ch[1].n, 10000);
    assert_string_equal(w.sig->ch[1].unit, "mV");
    assert_float_equal(w.sig->ch[1].data[0], 0.1125, 1e-6);
    assert_float_equal(w.sig->ch[1].data[100], 0.0375, 1e-6);
    assert_float_equal(w.sig->ch[1].data[5000], 0.06875, 1e-6);
    assert_float_equal(w.sig->duration_s, 10, 1e-9);
    mmdx__dicom_waveform_fini(&w);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dicom_read__ct_small__hu),
        cmocka_unit_test(dicom_read__mr_variants__identical),
        cmocka_unit_test(dicom_read__monochrome1__inverted),
        cmocka_unit_test(dicom_read__multiframe_color__shapes),
        cmocka_unit_test(dicom_read__malformed__clear_errors),
        cmocka_unit_test(dicom_read__absurd_size__refused),
        cmocka_unit_test(dicom_load__series__sorted),
        cmocka_unit_test(dicom_load__duplicates_mixed__errors),
        cmocka_unit_test(dicom_load__idfields__reported),
        cmocka_unit_test(dicom_load__oom__nomem),
        cmocka_unit_test(dicom_write_ct__roundtrip__same_hu),
        cmocka_unit_test(dicom_waveform__ecg__mv),
    };

    return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
