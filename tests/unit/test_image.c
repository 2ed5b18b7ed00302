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
#include "features/image_features.h"
#include "pipeline/stage.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

#include <zlib.h>

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
        { "MR_truncated.dcm", MMDX_E_FORMAT,
          "PixelData (7FE0,0010): declared length 8192 bytes exceeds the "
          "8130 bytes left in the file" },
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

/* A 16-bit MONOCHROME2 CT header of side x side pixels and "99999 "
 * frames with 4 bytes of pixel data, into buf (512 bytes); its length. */
static size_t absurd_header(uint8_t *buf, uint16_t side)
{
    uint16_t bits = 16, one = 1, zero = 0, high = 15;
    size_t n = 132;

    memset(buf, 0, 512);
    memcpy(buf + 128, "DICM", 4);
    n += put_el(buf + n, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1\0", 20);
    n += put_el(buf + n, 0x0008, 0x0060, "CS", "CT", 2);
    n += put_el(buf + n, 0x0028, 0x0002, "US", &one, 2);
    n += put_el(buf + n, 0x0028, 0x0004, "CS", "MONOCHROME2 ", 12);
    n += put_el(buf + n, 0x0028, 0x0008, "IS", "99999 ", 6);
    n += put_el(buf + n, 0x0028, 0x0010, "US", &side, 2);
    n += put_el(buf + n, 0x0028, 0x0011, "US", &side, 2);
    n += put_el(buf + n, 0x0028, 0x0100, "US", &bits, 2);
    n += put_el(buf + n, 0x0028, 0x0101, "US", &bits, 2);
    n += put_el(buf + n, 0x0028, 0x0102, "US", &high, 2);
    n += put_el(buf + n, 0x0028, 0x0103, "US", &zero, 2);
    n += put_el(buf + n, 0x7FE0, 0x0010, "OW", "\0\0\0\0", 4);
    return n;
}

/* Ensure that an absurd declared size is refused with E_LIMIT before any
 * pixel buffer is allocated, naming what is too large: one frame of
 * 65535 x 65535 (Rows, Columns), or 99999 frames of 4096 x 4096
 * (NumberOfFrames). */
static void dicom_read__absurd_size__refused(void **state)
{
    uint8_t buf[512];
    size_t n = absurd_header(buf, 65535);
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = NULL;
    unsigned long allocs;

    (void)state;
    mmdx__alloc_fail_at(0);
    assert_int_equal(mmdx__dicom_read_mem(ctx, "absurd.dcm", buf, n, NULL, 0,
                                          &f), MMDX_E_LIMIT);
    allocs = mmdx__alloc_fail_at(0);
    assert_true(allocs < 20);   /* no pixel buffer was asked for */
    assert_null(f);
    assert_error_has(ctx, "absurd.dcm: io.dicom: Rows (0028,0010), Columns "
                          "(0028,0011): declared frame of 65535 x 65535 x 1 "
                          "values (of 99999) exceeds the limit");
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    n = absurd_header(buf, 4096);
    assert_int_equal(mmdx__dicom_read_mem(ctx, "absurd.dcm", buf, n, NULL, 0,
                                          &f), MMDX_E_LIMIT);
    assert_null(f);
    assert_error_has(ctx, "absurd.dcm: io.dicom: NumberOfFrames (0028,0008): "
                          "declared image of 4096 x 4096 x 99999 x 1 "
                          "values exceeds the limit");
    mmdx_ctx_free(ctx);
}

/* Ensure that an element whose declared length (2.4 GB) exceeds the file
 * is refused before DCMTK allocates it, naming the element and the 40
 * bytes left (a fuzzer finding: DCMTK checks lengths only on file
 * streams, which is why every input goes through one). */
static void dicom_read__huge_element_length__refused(void **state)
{
    uint8_t buf[256];
    size_t n = 132;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = NULL;
    uint32_t huge = 0x92929292u;

    (void)state;
    memset(buf, 0, sizeof(buf));
    memcpy(buf + 128, "DICM", 4);
    n += put_el(buf + n, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1\0", 20);
    n += put_el(buf + n, 0x0008, 0x0060, "CS", "CT", 2);
    n += put_el(buf + n, 0x9292, 0x9292, "UN", "", 0);
    memcpy(buf + n - 4, &huge, 4);    /* the declared length */
    memset(buf + n, 0x92, 40);
    n += 40;
    assert_int_equal(mmdx__dicom_read_mem(ctx, "huge.dcm", buf, n, NULL, 0,
                                          &f), MMDX_E_FORMAT);
    assert_null(f);
    assert_error_has(ctx, "huge.dcm: io.dicom: Unknown (9292,9292): "
                          "declared length 2459079314 bytes exceeds the 40 "
                          "bytes left in the file");
    mmdx_ctx_free(ctx);
}

/* Write buf[0..n) to dir/name; returns the path [transfer]. */
static char *write_bytes(const char *dir, const char *name, const void *buf,
                         size_t n)
{
    char *p = mmdx__path_join(dir, name);
    FILE *fp = fopen(p, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return p;
}

/* A Part 10 file of 4 KB or so whose dataset (ts: the transfer syntax UID,
 * 20 bytes with its padding) holds CT essentials, then the element tail
 * (already encoded); deflated (raw deflate, PS3.5 A.5) when deflate. */
static size_t absurd_file(uint8_t *buf, size_t cap, const char *ts,
                          const uint8_t *tail, size_t ntail, bool dfl)
{
    uint8_t ds[4096];
    uint16_t v16;
    size_t n = 132, m = 0;

    memset(buf, 0, 132);
    memcpy(buf + 128, "DICM", 4);
    n += put_el(buf + n, 0x0002, 0x0010, "UI", ts, (uint32_t)strlen(ts) + 1);
    m += put_el(ds + m, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2", 26);
    m += put_el(ds + m, 0x0008, 0x0060, "CS", "CT", 2);
    v16 = 16;
    m += put_el(ds + m, 0x0028, 0x0010, "US", &v16, 2);
    m += put_el(ds + m, 0x0028, 0x0011, "US", &v16, 2);
    assert_true(m + ntail <= sizeof(ds));
    memcpy(ds + m, tail, ntail);
    m += ntail;
    if (!dfl) {
        assert_true(n + m <= cap);
        memcpy(buf + n, ds, m);
        return n + m;
    } else {
        z_stream z;

        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8,
                                      Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = ds;
        z.avail_in = (uInt)m;
        z.next_out = buf + n;
        z.avail_out = (uInt)(cap - n);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        n += z.total_out;
        deflateEnd(&z);
        return n;
    }
}

/* Ensure that an element declaring 3.7 GB (0xDDDDDDDD) in a file of a
 * few KB is refused naming the file, the element and the bytes left, for
 * each way DCMTK meets it: a top-level OB (pixel data), a UT inside a
 * sequence item, a long string in an implicit VR dataset, the same in a
 * deflated dataset (DCMTK's inflating filter cannot postpone values: it
 * allocated the declared 3.7 GB before finding out, which is why the
 * dataset is inflated into a file first), and an encapsulated fragment.
 * Without the limit nothing shows whether DCMTK reserved the memory:
 * tests/integration/image.int runs these under ulimit -v. */
static void dicom_read__absurd_element_length__named(void **state)
{
    static const char *const ts_expl = "1.2.840.10008.1.2.1";
    static const char *const ts_impl = "1.2.840.10008.1.2";
    static const char *const ts_dfl = "1.2.840.10008.1.2.1.99";
    static const char *const ts_rle = "1.2.840.10008.1.2.5";
    uint8_t tail[512], buf[8192];
    uint32_t huge = 0xDDDDDDDDu, undef = 0xFFFFFFFFu;
    char *dir = test_tmpdir();
    size_t t, n, i;

    (void)state;
    for (i = 0; i < 6; i++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_dicom_file *f = NULL;
        const char *ts = ts_expl, *want;
        bool dfl = false;
        char name[32], *p;

        t = 0;
        memset(tail, 0x41, sizeof(tail));
        switch (i) {
        case 0: /* a top-level OB, 200 bytes of it present */
        case 4: /* the same, deflated */
            t += put_el(tail + t, 0x7FE0, 0x0010, "OB", "", 0);
            memcpy(tail + t - 4, &huge, 4);
            t += 200;
            dfl = i == 4;
            ts = dfl ? ts_dfl : ts_expl;
            want = dfl ? "PixelData (7FE0,0010): declared length 3722304989 "
                         "bytes exceeds the 200 bytes left in the inflated "
                         "dataset"
                       : "PixelData (7FE0,0010): declared length 3722304989 "
                         "bytes exceeds the 200 bytes left in the file";
            break;
        case 1: /* ContentSequence > item > TextValue (UT) */
        case 5: /* the same, deflated */
            {
                /* SQ and item of undefined length, then the UT */
                static const uint8_t hdr[32] = {
                    0x40, 0x00, 0x30, 0xA7, 'S', 'Q', 0, 0,
                    0xFF, 0xFF, 0xFF, 0xFF,
                    0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF,
                    0x40, 0x00, 0x60, 0xA1, 'U', 'T', 0, 0,
                    0xDD, 0xDD, 0xDD, 0xDD
                };

                memcpy(tail, hdr, sizeof(hdr));
                t = sizeof(hdr) + 100;
            }
            dfl = i == 5;
            ts = dfl ? ts_dfl : ts_expl;
            want = dfl ? "TextValue (0040,A160): declared length 3722304989 "
                         "bytes exceeds the 100 bytes left in the inflated "
                         "dataset"
                       : "TextValue (0040,A160): declared length 3722304989 "
                         "bytes exceeds the 100 bytes left in the file";
            break;
        case 2: /* implicit VR: PatientName (PN) with a 4-byte length */
            ts = ts_impl;
            tail[t++] = 0x10; tail[t++] = 0x00;
            tail[t++] = 0x10; tail[t++] = 0x00;
            memcpy(tail + t, &huge, 4);
            t += 4 + 60;
            want = "PatientName (0010,0010): declared length 3722304989 "
                   "bytes exceeds the 60 bytes left in the file";
            break;
        default: /* RLE: the first fragment after an empty offset table */
            ts = ts_rle;
            t += put_el(tail + t, 0x7FE0, 0x0010, "OB", "", 0);
            memcpy(tail + t - 4, &undef, 4);
            tail[t++] = 0xFE; tail[t++] = 0xFF;
            tail[t++] = 0x00; tail[t++] = 0xE0;
            memset(tail + t, 0, 4);
            t += 4;
            tail[t++] = 0xFE; tail[t++] = 0xFF;
            tail[t++] = 0x00; tail[t++] = 0xE0;
            memcpy(tail + t, &huge, 4);
            t += 4 + 64;
            want = "PixelData (7FE0,0010) item 2: declared length 3722304989 "
                   "bytes exceeds the 64 bytes left in the file";
            break;
        }
        /* the implicit VR case's dataset: every element implicit */
        if (i == 2) {
            static const uint8_t ds[] = {
                0x08, 0x00, 0x16, 0x00, 26, 0, 0, 0,
                '1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0',
                '8', '.', '5', '.', '1', '.', '4', '.', '1', '.', '1', '.',
                '2', 0,
                0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, 'C', 'T',
                0x28, 0x00, 0x10, 0x00, 2, 0, 0, 0, 16, 0,
                0x28, 0x00, 0x11, 0x00, 2, 0, 0, 0, 16, 0
            };
            size_t m = 132;

            memset(buf, 0, 132);
            memcpy(buf + 128, "DICM", 4);
            m += put_el(buf + m, 0x0002, 0x0010, "UI", ts,
                        (uint32_t)strlen(ts) + 1);
            memcpy(buf + m, ds, sizeof(ds));
            m += sizeof(ds);
            memcpy(buf + m, tail, t);
            n = m + t;
        } else {
            n = absurd_file(buf, sizeof(buf), ts, tail, t, dfl);
        }
        snprintf(name, sizeof(name), "absurd%zu.dcm", i);
        p = write_bytes(dir, name, buf, n);
        assert_true(n < 4096);
        assert_int_equal(mmdx__dicom_read_file(ctx, p, NULL, 0, &f),
                         MMDX_E_FORMAT);
        assert_null(f);
        if (!strstr(mmdx_ctx_last_error(ctx)->message, "declared length") ||
            !strstr(mmdx_ctx_last_error(ctx)->path, name))
            fail_msg("case %zu: %s: %s: %s", i, mmdx_ctx_last_error(ctx)->path,
                     mmdx_ctx_last_error(ctx)->field,
                     mmdx_ctx_last_error(ctx)->message);
        {
            char line[2400];

            mmdx_error_format(mmdx_ctx_last_error(ctx), line, sizeof(line));
            if (!strstr(line, want))
                fail_msg("case %zu: got \"%s\", want \"...%s\"", i, line,
                         want);
        }
        /* the header-only read (mmdx inspect) says the same */
        mmdx_ctx_clear_error(ctx);
        assert_int_equal(mmdx__dicom_read_file(ctx, p, NULL,
                                               MMDX_DICOM_HEADER_ONLY, &f),
                         MMDX_E_FORMAT);
        assert_error_has(ctx, want);
        mmdx__free(p);
        mmdx_ctx_free(ctx);
    }
    if (!getenv("MMDX_KEEP_ABSURD"))
        test_rmtree(dir);
    else
        fprintf(stderr, "kept %s\n", dir);
}

/* Ensure that a deflated dataset (inflated into a file before DCMTK
 * reads it) gives the pixels of the file: 512 x 512 8-bit values summing
 * to 33322688, the sum of the PixelData bytes of the dataset inflated by
 * Python's zlib (an independent reference; exact), and keeps its transfer
 * syntax name; that the inflated size is held to max_file_bytes (E_LIMIT
 * before DCMTK reads anything) and corrupt deflate data is E_FORMAT. */
static void dicom_read__deflated__pixels(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *f = NULL;
    struct mmdx_dicom_limits lim = { 100000, 0 };
    char *src = test_shared("dicom/image_dfl.dcm"), *dir = test_tmpdir(), *p;
    char *data = NULL;
    double sum = 0;
    size_t i, len;

    (void)state;
    assert_int_equal(mmdx__dicom_read_file(ctx, src, &lim, 0, &f),
                     MMDX_E_LIMIT);
    assert_error_has(ctx, "image_dfl.dcm: io.dicom: TransferSyntaxUID "
                          "(0002,0010): deflated dataset inflates to more "
                          "than the limit of 100000 bytes");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(mmdx__file_read(ctx, src, 1 << 20, &data, &len),
                     MMDX_OK);
    assert_true(len > 400);
    for (i = 340; i < 400; i++)   /* inside the deflate stream */
        data[i] = (char)0xFF;
    p = write_bytes(dir, "bad_dfl.dcm", data, len);
    assert_int_equal(mmdx__dicom_read_file(ctx, p, NULL, 0, &f),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "bad_dfl.dcm: io.dicom: TransferSyntaxUID "
                          "(0002,0010): deflated dataset: corrupt deflate "
                          "data");
    mmdx_ctx_clear_error(ctx);
    mmdx__free(p);
    mmdx__free(data);
    mmdx__free(src);
    test_rmtree(dir);
    f = read_ok(ctx, "dicom/image_dfl.dcm");
    assert_int_equal(f->img->nx, 512);
    assert_int_equal(f->img->ny, 512);
    assert_int_equal(f->img->nz, 1);
    assert_string_equal(f->img->transfer_syntax, "1.2.840.10008.1.2.1.99");
    assert_string_equal(f->img->transfer_syntax_name,
                        "Deflated Explicit VR Little Endian");
    for (i = 0; i < 512 * 512; i++)
        sum += f->img->vox[i];
    assert_true(sum == 33322688.0);
    mmdx__dicom_file_free(f);
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

/* Ensure that each slice of a series (decoded straight into the volume)
 * holds exactly the values of its file loaded alone, whatever the order
 * of the file names. */
static void dicom_load__series__slices_equal_files(void **state)
{
    static const char *const names[] = { "17106.dcm", "17136.dcm",
                                         "17166.dcm", "17196.dcm" };
    struct mmdx_ctx *ctx = test_ctx();
    char *src = test_shared("dicom/series_CT2"), *dir = test_tmpdir();
    struct mmdx_image *vol = NULL;
    size_t i, k, per;

    (void)state;
    for (i = 0; i < 4; i++) {
        char *from = mmdx__path_join(src, names[i]), to[16];

        snprintf(to, sizeof(to), "s%zu", (i * 3) % 4);
        copy_file(from, dir, to);
        mmdx__free(from);
    }
    assert_int_equal(mmdx__dicom_load(ctx, dir, NULL, NULL, NULL, &vol),
                     MMDX_OK);
    assert_int_equal(vol->nz, 4);
    per = vol->nx * vol->ny * vol->nc;
    for (i = 0; i < 4; i++) {
        char *from = mmdx__path_join(src, names[i]);
        struct mmdx_image *one = NULL;
        bool found = false;

        assert_int_equal(mmdx__dicom_load(ctx, from, NULL, NULL, NULL, &one),
                         MMDX_OK);
        assert_int_equal(one->nx * one->ny * one->nc, per);
        for (k = 0; k < 4; k++) {
            if (memcmp(vol->pos_mm + 3 * k, one->pos_mm, 3 * sizeof(double)))
                continue;
            assert_memory_equal(vol->vox + k * per, one->vox,
                                per * sizeof(float));
            found = true;
        }
        assert_true(found);
        mmdx__image_free(one);
        mmdx__free(from);
    }
    mmdx__image_free(vol);
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

/* Ensure that 16-bit uncompressed pixels, read from the file in slices
 * (36,743 values: a full 32,768-word slice and a partial one), are the
 * stored values through the modality LUT, exactly: float addition for an
 * integer intercept, the double expression otherwise; the RLE copy
 * (decoded in memory) reads the same. */
static void dicom_read__16bit_slices__exact(void **state)
{
    enum { R = 203, C = 181 };
    static int16_t px[R * C];
    static const double slope[2] = { 1, 0.5 }, icpt[2] = { -1024, -1024.25 };
    struct mmdx_dicom_ct w;
    char *dir = test_tmpdir();
    size_t i;
    int k, ts;

    (void)state;
    for (i = 0; i < R * C; i++)
        px[i] = (int16_t)((long)((i * 7919u) % 4096u) - 1024);
    px[0] = -32768;
    px[R * C - 1] = 32767;
    memset(&w, 0, sizeof(w));
    w.pixels = px;
    w.rows = R;
    w.cols = C;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
    w.slice_thickness_mm = 1;
    w.instance_number = 1;
    w.patient_id = "P0001";
    for (k = 0; k < 2; k++)
        for (ts = 0; ts < 2; ts++) {
            struct mmdx_ctx *ctx = test_ctx();
            struct mmdx_dicom_file *f = NULL;
            char name[32], *path;

            w.slope = slope[k];
            w.intercept = icpt[k];
            w.ts = ts ? MMDX_DICOM_TS_RLE : MMDX_DICOM_TS_EXPLICIT_LE;
            snprintf(name, sizeof(name), "s%d%d.dcm", k, ts);
            path = mmdx__path_join(dir, name);
            assert_int_equal(mmdx__dicom_write_ct(ctx, path, &w), MMDX_OK);
            assert_int_equal(mmdx__dicom_read_file(ctx, path, NULL, 0, &f),
                             MMDX_OK);
            assert_int_equal(f->img->nx, C);
            assert_int_equal(f->img->ny, R);
            for (i = 0; i < R * C; i++) {
                float want = k == 0 ? (float)px[i] + (float)icpt[k]
                                    : (float)(slope[k] * (double)px[i] +
                                              icpt[k]);

                if (f->img->vox[i] != want)
                    fail_msg("voxel %zu: %.9g, want %.9g (slope %g, %s)", i,
                             (double)f->img->vox[i], (double)want, slope[k],
                             ts ? "RLE" : "explicit LE");
            }
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


/* ---- IBSI 1 conformance on the digital phantom -------------------------------- */

/* IBSI tag (without family prefix handling) -> our feature name. */
static const struct {
    const char *tag, *name;
} ibsi_map[] = {
    { "morph_vol_approx", "image.morph.volume_approx_mm3" },
    { "morph_com", "image.morph.com_shift_mm" },
    { "morph_pca_maj_axis", "image.morph.major_axis_mm" },
    { "morph_pca_min_axis", "image.morph.minor_axis_mm" },
    { "morph_pca_least_axis", "image.morph.least_axis_mm" },
    { "morph_pca_elongation", "image.morph.elongation" },
    { "morph_pca_flatness", "image.morph.flatness" },
    { "morph_moran_i", "image.morph.moran_i" },
    { "morph_geary_c", "image.morph.geary_c" },
    { "morph_volume", "image.morph.volume_mm3" },
    { "morph_area_mesh", "image.morph.area_mm2" },
    { "morph_av", "image.morph.av_ratio_per_mm" },
    { "morph_comp_1", "image.morph.compactness1" },
    { "morph_comp_2", "image.morph.compactness2" },
    { "morph_sph_dispr", "image.morph.sph_disproportion" },
    { "morph_sphericity", "image.morph.sphericity" },
    { "morph_asphericity", "image.morph.asphericity" },
    { "morph_diam", "image.morph.max_diameter_mm" },
    { "morph_vol_dens_aabb", "image.morph.vol_dens_aabb" },
    { "morph_area_dens_aabb", "image.morph.area_dens_aabb" },
    { "morph_vol_dens_aee", "image.morph.vol_dens_aee" },
    { "morph_area_dens_aee", "image.morph.area_dens_aee" },
    { "morph_vol_dens_conv_hull", "image.morph.vol_dens_hull" },
    { "morph_area_dens_conv_hull", "image.morph.area_dens_hull" },
    { "morph_integ_int", "image.morph.integrated_intensity" },
    { "loc_peak_loc", "image.loc.peak_local" },
    { "loc_peak_glob", "image.loc.peak_global" },
    { "ivh_v10", "image.ivh.v10" },
    { "ivh_v90", "image.ivh.v90" },
    { "ivh_i10", "image.ivh.i10" },
    { "ivh_i90", "image.ivh.i90" },
    { "ivh_diff_v10_v90", "image.ivh.v10_minus_v90" },
    { "ivh_diff_i10_i90", "image.ivh.i10_minus_i90" },
    { "stat_mean", "image.stat.mean" }, { "stat_var", "image.stat.variance" },
    { "stat_skew", "image.stat.skewness" },
    { "stat_kurt", "image.stat.kurtosis" },
    { "stat_median", "image.stat.median" }, { "stat_min", "image.stat.min" },
    { "stat_p10", "image.stat.p10" }, { "stat_p90", "image.stat.p90" },
    { "stat_max", "image.stat.max" }, { "stat_iqr", "image.stat.iqr" },
    { "stat_range", "image.stat.range" }, { "stat_mad", "image.stat.mad" },
    { "stat_rmad", "image.stat.rmad" }, { "stat_medad", "image.stat.medad" },
    { "stat_cov", "image.stat.cov" }, { "stat_qcod", "image.stat.qcod" },
    { "stat_energy", "image.stat.energy" }, { "stat_rms", "image.stat.rms" },
    { "ih_mean", "image.ih.mean" }, { "ih_var", "image.ih.variance" },
    { "ih_skew", "image.ih.skewness" }, { "ih_kurt", "image.ih.kurtosis" },
    { "ih_median", "image.ih.median" }, { "ih_min", "image.ih.min" },
    { "ih_p10", "image.ih.p10" }, { "ih_p90", "image.ih.p90" },
    { "ih_max", "image.ih.max" }, { "ih_mode", "image.ih.mode" },
    { "ih_iqr", "image.ih.iqr" }, { "ih_range", "image.ih.range" },
    { "ih_mad", "image.ih.mad" }, { "ih_rmad", "image.ih.rmad" },
    { "ih_medad", "image.ih.medad" }, { "ih_cov", "image.ih.cov" },
    { "ih_qcod", "image.ih.qcod" }, { "ih_entropy", "image.ih.entropy" },
    { "ih_uniformity", "image.ih.uniformity" },
    { "ih_max_grad", "image.ih.max_grad" },
    { "ih_max_grad_g", "image.ih.max_grad_level" },
    { "ih_min_grad", "image.ih.min_grad" },
    { "ih_min_grad_g", "image.ih.min_grad_level" },
    { "cm_joint_max", "image.glcm.joint_max" },
    { "cm_joint_avg", "image.glcm.joint_average" },
    { "cm_joint_var", "image.glcm.joint_variance" },
    { "cm_joint_entr", "image.glcm.joint_entropy" },
    { "cm_diff_avg", "image.glcm.diff_average" },
    { "cm_diff_var", "image.glcm.diff_variance" },
    { "cm_diff_entr", "image.glcm.diff_entropy" },
    { "cm_sum_avg", "image.glcm.sum_average" },
    { "cm_sum_var", "image.glcm.sum_variance" },
    { "cm_sum_entr", "image.glcm.sum_entropy" },
    { "cm_energy", "image.glcm.energy" },
    { "cm_contrast", "image.glcm.contrast" },
    { "cm_dissimilarity", "image.glcm.dissimilarity" },
    { "cm_inv_diff", "image.glcm.inv_diff" },
    { "cm_inv_diff_norm", "image.glcm.inv_diff_norm" },
    { "cm_inv_diff_mom", "image.glcm.inv_diff_moment" },
    { "cm_inv_diff_mom_norm", "image.glcm.inv_diff_moment_norm" },
    { "cm_inv_var", "image.glcm.inv_variance" },
    { "cm_corr", "image.glcm.correlation" },
    { "cm_auto_corr", "image.glcm.autocorrelation" },
    { "cm_clust_tend", "image.glcm.cluster_tendency" },
    { "cm_clust_shade", "image.glcm.cluster_shade" },
    { "cm_clust_prom", "image.glcm.cluster_prominence" },
    { "cm_info_corr1", "image.glcm.info_corr1" },
    { "cm_info_corr2", "image.glcm.info_corr2" },
    { "rlm_sre", "image.glrlm.sre" }, { "rlm_lre", "image.glrlm.lre" },
    { "rlm_lgre", "image.glrlm.lgre" }, { "rlm_hgre", "image.glrlm.hgre" },
    { "rlm_srlge", "image.glrlm.srlge" }, { "rlm_srhge", "image.glrlm.srhge" },
    { "rlm_lrlge", "image.glrlm.lrlge" }, { "rlm_lrhge", "image.glrlm.lrhge" },
    { "rlm_glnu", "image.glrlm.glnu" },
    { "rlm_glnu_norm", "image.glrlm.glnu_norm" },
    { "rlm_rlnu", "image.glrlm.rlnu" },
    { "rlm_rlnu_norm", "image.glrlm.rlnu_norm" },
    { "rlm_r_perc", "image.glrlm.run_percentage" },
    { "rlm_gl_var", "image.glrlm.gl_variance" },
    { "rlm_rl_var", "image.glrlm.rl_variance" },
    { "rlm_rl_entr", "image.glrlm.run_entropy" },
    { "szm_sze", "image.glszm.sze" }, { "szm_lze", "image.glszm.lze" },
    { "szm_lgze", "image.glszm.lgze" }, { "szm_hgze", "image.glszm.hgze" },
    { "szm_szlge", "image.glszm.szlge" }, { "szm_szhge", "image.glszm.szhge" },
    { "szm_lzlge", "image.glszm.lzlge" }, { "szm_lzhge", "image.glszm.lzhge" },
    { "szm_glnu", "image.glszm.glnu" },
    { "szm_glnu_norm", "image.glszm.glnu_norm" },
    { "szm_zsnu", "image.glszm.zsnu" },
    { "szm_zsnu_norm", "image.glszm.zsnu_norm" },
    { "szm_z_perc", "image.glszm.zone_percentage" },
    { "szm_gl_var", "image.glszm.gl_variance" },
    { "szm_zs_var", "image.glszm.zs_variance" },
    { "szm_zs_entr", "image.glszm.zone_entropy" },
    { "dzm_sde", "image.gldzm.sde" }, { "dzm_lde", "image.gldzm.lde" },
    { "dzm_lgze", "image.gldzm.lgze" }, { "dzm_hgze", "image.gldzm.hgze" },
    { "dzm_sdlge", "image.gldzm.sdlge" }, { "dzm_sdhge", "image.gldzm.sdhge" },
    { "dzm_ldlge", "image.gldzm.ldlge" }, { "dzm_ldhge", "image.gldzm.ldhge" },
    { "dzm_glnu", "image.gldzm.glnu" },
    { "dzm_glnu_norm", "image.gldzm.glnu_norm" },
    { "dzm_zdnu", "image.gldzm.zdnu" },
    { "dzm_zdnu_norm", "image.gldzm.zdnu_norm" },
    { "dzm_z_perc", "image.gldzm.zone_percentage" },
    { "dzm_gl_var", "image.gldzm.gl_variance" },
    { "dzm_zd_var", "image.gldzm.zd_variance" },
    { "dzm_zd_entr", "image.gldzm.zd_entropy" },
    { "ngt_coarseness", "image.ngtdm.coarseness" },
    { "ngt_contrast", "image.ngtdm.contrast" },
    { "ngt_busyness", "image.ngtdm.busyness" },
    { "ngt_complexity", "image.ngtdm.complexity" },
    { "ngt_strength", "image.ngtdm.strength" },
    { "ngl_lde", "image.ngldm.lde" }, { "ngl_hde", "image.ngldm.hde" },
    { "ngl_lgce", "image.ngldm.lgce" }, { "ngl_hgce", "image.ngldm.hgce" },
    { "ngl_ldlge", "image.ngldm.ldlge" }, { "ngl_ldhge", "image.ngldm.ldhge" },
    { "ngl_hdlge", "image.ngldm.hdlge" }, { "ngl_hdhge", "image.ngldm.hdhge" },
    { "ngl_glnu", "image.ngldm.glnu" },
    { "ngl_glnu_norm", "image.ngldm.glnu_norm" },
    { "ngl_dcnu", "image.ngldm.dcnu" },
    { "ngl_dcnu_norm", "image.ngldm.dcnu_norm" },
    { "ngl_dc_perc", "image.ngldm.dc_percentage" },
    { "ngl_gl_var", "image.ngldm.gl_variance" },
    { "ngl_dc_var", "image.ngldm.dc_variance" },
    { "ngl_dc_entr", "image.ngldm.dc_entropy" },
    { "ngl_dc_energy", "image.ngldm.dc_energy" },
};

struct fvals {
    char name[200][64];
    double v[200];
    size_t n;
};

static enum mmdx_status keep(void *user, const char *name, double v)
{
    struct fvals *f = user;

    if (f->n < 200) {
        mmdx__strlcpy(f->name[f->n], name, 64);
        f->v[f->n++] = v;
    }
    return MMDX_OK;
}

/* Split one CSV record (quotes may hold commas and newlines) into at most
 * nf fields; returns the position after the record. */
static char *csv_record(char *p, char **f, size_t nf, size_t *got)
{
    size_t n = 0;

    *got = 0;
    if (!*p)
        return NULL;
    while (*p) {
        char *w = p, *o = p;

        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    break;
                if (*p == '"' && p[1] == '"') {
                    *o++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *o++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',' && *p != '\n')
                *o++ = *p++;
        }
        if (n < nf)
            f[n++] = w;
        if (*p == ',') {
            *o = '\0';
            p++;
            continue;
        }
        if (*p == '\n') {
            *o = '\0';
            p++;
        } else {
            *o = '\0';
        }
        break;
    }
    *got = n;
    return p;
}

static double round3(double v)
{
    double m;

    if (v == 0 || !isfinite(v))
        return v;
    m = pow(10, 2 - floor(log10(fabs(v))));
    return round(v * m) / m;
}

/* Ensure that every implemented IBSI 1 feature matches the digital
 * phantom's reference value (shared/data/ibsi: IBSI manual values,
 * rounded to 3 significant digits; tolerance from the CSV, 0 meaning
 * equal at that precision), for every aggregation. No discretisation:
 * fixed bin size 1 from the ROI minimum, as IBSI prescribes. */
static void ibsi_phantom__all_features__match_reference(void **state)
{
    static const char *const aggcode[6] = { "IAZD", "ITBB", "BTW3", "SUJT",
                                            "JJUI", "ZW7Z" };
    struct mmdx_ctx *ctx = test_ctx();
    char *vpath = test_shared("ibsi/digital_phantom/phantom_voxels.csv");
    char *rpath = test_shared(
        "ibsi/reference_values/ibsi1_reference_values_digital_phantom.csv");
    char *text = NULL, *p, *f[12];
    size_t len, got, checked = 0, skipped = 0, bad = 0;
    struct mmdx_image *img = mmdx__image_new();
    uint8_t roi[80];
    static struct fvals res[6];
    struct mmdx_imgfeat_opts o;
    int a;

    (void)state;
    assert_non_null(img);
    assert_int_equal(mmdx__image_alloc(ctx, img, 5, 4, 4, 1, 0), MMDX_OK);
    img->spacing_mm[0] = img->spacing_mm[1] = img->spacing_mm[2] = 2.0;
    assert_int_equal(mmdx__file_read(ctx, vpath, 1 << 20, &text, &len),
                     MMDX_OK);
    p = strchr(text, '\n') + 1;
    while ((p = csv_record(p, f, 12, &got)) != NULL && got == 5) {
        long ii, jj, kk, g, in;

        assert_true(mmdx__parse_long(f[0], &ii) && mmdx__parse_long(f[1], &jj)
                    && mmdx__parse_long(f[2], &kk) &&
                    mmdx__parse_long(f[3], &g) && mmdx__parse_long(f[4], &in));
        img->vox[ii + 5 * jj + 20 * kk] = (float)g;
        roi[ii + 5 * jj + 20 * kk] = (uint8_t)in;
    }
    mmdx__free(text);
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBS;
    o.bin_width = 1;
    o.bin_min = NAN;
    o.families = MMDX_FAM_ALL;
    o.max_moran_voxels = 1000;
    for (a = 0; a < 6; a++) {
        o.agg = a;
        memset(&res[a], 0, sizeof(res[a]));
        assert_int_equal(mmdx__image_features(ctx, img, roi, true, &o, keep,
                                              &res[a]), MMDX_OK);
    }
    assert_int_equal(mmdx__file_read(ctx, rpath, 1 << 22, &text, &len),
                     MMDX_OK);
    p = strchr(text, '\n') + 1;
    while ((p = csv_record(p, f, 12, &got)) != NULL) {
        const char *tag, *ours = NULL;
        char base[64];
        double ref, tol, v = NAN;
        int ag = 0;
        size_t k, tl;
        static const char *const suf[] = { "_2D_avg", "_2D_comb",
                                           "_2_5D_avg", "_2_5D_comb",
                                           "_3D_avg", "_3D_comb", "_2_5D",
                                           "_2D", "_3D" };

        if (got < 10 || !f[5][0])
            continue;   /* no reference value */
        assert_true(mmdx__parse_double(f[5], &ref));
        tol = 0;
        if (f[6][0])
            assert_true(mmdx__parse_double(f[6], &tol));
        tag = f[9];
        mmdx__strlcpy(base, tag, sizeof(base));
        tl = strlen(base);
        for (k = 0; k < MMDX_ARRAY_SIZE(suf); k++) {
            size_t sl = strlen(suf[k]);

            if (tl > sl && !strcmp(base + tl - sl, suf[k])) {
                base[tl - sl] = '\0';
                break;
            }
        }
        if (!strcmp(f[4], "8QNN"))
            ag = 2;
        else if (!strcmp(f[4], "62GR"))
            ag = 4;
        for (k = 0; k < 6; k++)
            if (!strcmp(f[4], aggcode[k]))
                ag = (int)k;
        for (k = 0; k < MMDX_ARRAY_SIZE(ibsi_map); k++)
            if (!strcmp(ibsi_map[k].tag, base))
                ours = ibsi_map[k].name;
        if (!ours) {
            skipped++;
            continue;
        }
        for (k = 0; k < res[ag].n; k++)
            if (!strcmp(res[ag].name[k], ours))
                v = res[ag].v[k];
        checked++;
        if (!(fabs(round3(v) - ref) <= tol + 1e-9 * fabs(ref))) {
            print_message("IBSI mismatch: %s (%s, %s): got %.6g, reference "
                          "%g +- %g\n", tag, f[3], ours, v, ref, tol);
            bad++;
        }
    }
    print_message("IBSI digital phantom: %zu reference values checked, %zu "
                  "differ, %zu not implemented\n",
                  checked, bad, skipped);
    assert_int_equal(bad, 0);
    assert_int_equal(skipped, 0);
    /* 458 + 14 mesh + 2 local + 6 IVH + 2 convex hull */
    assert_true(checked >= 482);
    mmdx__free(text);
    mmdx__free(vpath);
    mmdx__free(rpath);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* Ensure that the phantom's DICOM multi-frame image and its DICOM SEG
 * (1 bit per pixel) read voxel for voxel as phantom_voxels.csv says:
 * frame f, row r, column c is voxel (i = c, j = 3 - f, k = r). */
static void ibsi_phantom__dicom_and_seg__match_csv(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ip = test_shared("ibsi/digital_phantom/dicom_deprecated/image/"
                           "phantom.deprecated");
    char *mp = test_shared("ibsi/digital_phantom/dicom_deprecated/mask/"
                           "mask.deprecated");
    char *vp = test_shared("ibsi/digital_phantom/phantom_voxels.csv");
    struct mmdx_image *img = NULL, *mask = NULL;
    char *text = NULL, *p, *f[8];
    size_t len, got, n = 0;

    (void)state;
    assert_int_equal(mmdx__dicom_load(ctx, ip, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(mmdx__dicom_load(ctx, mp, NULL, NULL, NULL, &mask),
                     MMDX_OK);
    assert_true(mask->is_segmentation);
    assert_int_equal(img->nx, 5);
    assert_int_equal(img->ny, 4);
    assert_int_equal(img->nz, 4);
    assert_int_equal(mask->nx * mask->ny * mask->nz, 80);
    assert_int_equal(mmdx__file_read(ctx, vp, 1 << 20, &text, &len),
                     MMDX_OK);
    p = strchr(text, '\n') + 1;
    while ((p = csv_record(p, f, 8, &got)) != NULL && got == 5) {
        long i, j, k, g, in;
        size_t v;

        assert_true(mmdx__parse_long(f[0], &i) && mmdx__parse_long(f[1], &j)
                    && mmdx__parse_long(f[2], &k) &&
                    mmdx__parse_long(f[3], &g) && mmdx__parse_long(f[4], &in));
        v = (size_t)i + 5 * ((size_t)k + 4 * (size_t)(3 - j));
        assert_true(img->vox[v] == (float)g);
        assert_true(mask->vox[v] == (float)in);
        n++;
    }
    assert_int_equal(n, 80);
    mmdx__free(text);
    mmdx__image_free(img);
    mmdx__image_free(mask);
    mmdx__free(ip);
    mmdx__free(mp);
    mmdx__free(vp);
    mmdx_ctx_free(ctx);
}

/* Ensure that feature extraction returns E_NOMEM at every failed
 * allocation and leaks nothing. */
static void image_features__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = mmdx__image_new();
    uint8_t roi[60];
    struct mmdx_imgfeat_opts o;
    static struct fvals fv;
    unsigned long n;
    size_t i;

    (void)state;
    assert_int_equal(mmdx__image_alloc(ctx, img, 5, 4, 3, 1, 0), MMDX_OK);
    for (i = 0; i < 60; i++) {
        img->vox[i] = (float)((i * 7) % 5);
        roi[i] = i % 11 != 0;
    }
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 4;
    o.families = MMDX_FAM_ALL;
    o.max_moran_voxels = 100;
    for (n = 1; n < 500; n++) {
        struct mmdx_ctx *c2 = test_ctx();
        enum mmdx_status st;

        fv.n = 0;
        mmdx__alloc_fail_at(n);
        st = mmdx__image_features(c2, img, roi, true, &o, keep, &fv);
        mmdx__alloc_fail_at(0);
        mmdx_ctx_free(c2);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 1 && n < 500);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* A 37 x 29 x 3 test volume with levels 1..8 (FBN 8 over [1, 8] keeps
 * them): uniform blocks on the left (the counting's eight-pair runs),
 * a busy pattern on the right; the ROI is a disc with a hole, so rows have
 * spans and gaps. Rows of 37 leave tails after eight-voxel blocks. */
#define TV_NX 37
#define TV_NY 29
#define TV_NZ 3

static void test_volume(struct mmdx_ctx *ctx, struct mmdx_image **img,
                        uint8_t *roi)
{
    size_t x, y, z;

    *img = mmdx__image_new();
    assert_non_null(*img);
    assert_int_equal(mmdx__image_alloc(ctx, *img, TV_NX, TV_NY, TV_NZ, 1, 0),
                     MMDX_OK);
    for (z = 0; z < TV_NZ; z++)
        for (y = 0; y < TV_NY; y++)
            for (x = 0; x < TV_NX; x++) {
                size_t v = x + TV_NX * (y + TV_NY * z);
                long dx = (long)x - 18, dy = (long)y - 14;

                (*img)->vox[v] =
                    x < 20 ? (float)(1 + (x / 9 + y / 7 + z) % 8)
                           : (float)(1 + (x * 7 + y * 13 + z * 5) % 8);
                roi[v] = dx * dx + dy * dy < 13 * 13 &&
                         !(x >= 15 && x <= 20 && y >= 12 && y <= 16);
            }
    /* the range [1, 8] must be inside the ROI for FBN to keep levels */
    (*img)->vox[18 + TV_NX * 14] = 1;
    (*img)->vox[19 + TV_NX * 14] = 8;
    roi[18 + TV_NX * 14] = roi[19 + TV_NX * 14] = 1;
}

/* Contrast, energy and joint average of the symmetric co-occurrence
 * matrix over the directions dirs[0..nd-1], counted pair by pair. */
static void glcm_naive(const struct mmdx_image *img, const uint8_t *roi,
                       const int (*dirs)[3], int nd, double out[3])
{
    double m[9][9], tot = 0;
    long x, y, z;
    int d, i, j;

    memset(m, 0, sizeof(m));
    for (z = 0; z < TV_NZ; z++)
        for (y = 0; y < TV_NY; y++)
            for (x = 0; x < TV_NX; x++)
                for (d = 0; d < nd; d++) {
                    long x2 = x + dirs[d][0], y2 = y + dirs[d][1],
                         z2 = z + dirs[d][2];
                    size_t a = (size_t)(x + TV_NX * (y + TV_NY * z)), b;

                    if (x2 < 0 || x2 >= TV_NX || y2 < 0 || y2 >= TV_NY ||
                        z2 < 0 || z2 >= TV_NZ)
                        continue;
                    b = (size_t)(x2 + TV_NX * (y2 + TV_NY * z2));
                    if (!roi[a] || !roi[b])
                        continue;
                    m[(int)img->vox[a]][(int)img->vox[b]] += 1;
                    m[(int)img->vox[b]][(int)img->vox[a]] += 1;
                    tot += 2;
                }
    out[0] = out[1] = out[2] = 0;
    for (i = 1; i <= 8; i++)
        for (j = 1; j <= 8; j++) {
            double p = m[i][j] / tot;

            out[0] += (i - j) * (i - j) * p;
            out[1] += p * p;
            out[2] += i * p;
        }
}

static double fval(const struct fvals *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name))
            return f->v[i];
    fail_msg("no feature %s", name);
    return NAN;
}

/* Ensure that the GLCM of a merged aggregation (3D: 13 directions; 2.5D:
 * the 4 in-plane ones) equals the matrix counted pair by pair, on a
 * volume whose rows have ROI gaps, uniform runs and odd tails (reference:
 * the direct count in this test; tolerance 1e-12 relative, the two sum
 * in different orders). */
static void image_features__glcm_merged__match_direct_count(void **state)
{
    static const int d13[13][3] = {
        { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, -1, 0 },
        { 0, 0, 1 }, { 1, 0, 1 }, { 1, 0, -1 }, { 0, 1, 1 }, { 0, 1, -1 },
        { 1, 1, 1 }, { 1, 1, -1 }, { 1, -1, 1 }, { 1, -1, -1 }
    };
    static const int agg[2] = { MMDX_AGG_3D_MERGED, MMDX_AGG_25D_MERGED };
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = NULL;
    static uint8_t roi[TV_NX * TV_NY * TV_NZ];
    static struct fvals fv;
    struct mmdx_imgfeat_opts o;
    int k;

    (void)state;
    test_volume(ctx, &img, roi);
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 8;
    o.families = MMDX_FAM_GLCM;
    for (k = 0; k < 2; k++) {
        double ref[3];

        glcm_naive(img, roi, d13, k == 0 ? 13 : 4, ref);
        o.agg = agg[k];
        fv.n = 0;
        assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o, keep,
                                              &fv), MMDX_OK);
        assert_true(fabs(fval(&fv, "image.glcm.contrast") - ref[0]) <=
                    1e-12 * ref[0]);
        assert_true(fabs(fval(&fv, "image.glcm.energy") - ref[1]) <=
                    1e-12 * ref[1]);
        assert_true(fabs(fval(&fv, "image.glcm.joint_average") - ref[2]) <=
                    1e-12 * ref[2]);
    }
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* A wide image (rows longer than the vector paths' 32-voxel steps) of
 * levels with uniform runs, noise and ROI holes, for the SIMD tests. */
#define WV_NX 301
#define WV_NY 23
#define WV_NZ 3

static void wide_volume(struct mmdx_ctx *ctx, struct mmdx_image **img,
                        uint8_t *roi, int levels)
{
    uint64_t st = 0x9E3779B97F4A7C15u;
    size_t x, y, z;

    *img = mmdx__image_new();
    assert_non_null(*img);
    assert_int_equal(mmdx__image_alloc(ctx, *img, WV_NX, WV_NY, WV_NZ, 1, 0),
                     MMDX_OK);
    for (z = 0; z < WV_NZ; z++)
        for (y = 0; y < WV_NY; y++)
            for (x = 0; x < WV_NX; x++) {
                size_t v = x + WV_NX * (y + WV_NY * z);
                unsigned r;

                st = st * 6364136223846793005u + 1442695040888963407u;
                r = (unsigned)(st >> 33);
                /* a "tissue" level in bands, broken by noise */
                (*img)->vox[v] = (float)(r % 5 ? 1 + (x / 40 + z) %
                                                         (unsigned)levels
                                               : 1 + r % (unsigned)levels);
                roi[v] = (x > 3 + y % 5 && x < WV_NX - 2 - z &&
                          !(x > 120 && x < 139 && y > 5 && y < 15) &&
                          (r >> 8) % 23) ? 1 : 0;
            }
    (*img)->vox[10 + WV_NX * 10] = 1;
    (*img)->vox[11 + WV_NX * 10] = (float)levels;
    roi[10 + WV_NX * 10] = roi[11 + WV_NX * 10] = 1;
}

/* Contrast of the symmetric co-occurrence matrix over nd of the 13
 * directions, counted pair by pair (levels 1..ng, values as levels). */
static double glcm_naive_contrast(const struct mmdx_image *img,
                                  const uint8_t *roi, const int (*dirs)[3],
                                  int nd)
{
    double num = 0, tot = 0;
    long x, y, z;
    int d;

    for (z = 0; z < (long)img->nz; z++)
        for (y = 0; y < (long)img->ny; y++)
            for (x = 0; x < (long)img->nx; x++)
                for (d = 0; d < nd; d++) {
                    long x2 = x + dirs[d][0], y2 = y + dirs[d][1],
                         z2 = z + dirs[d][2];
                    size_t a = (size_t)x + img->nx * ((size_t)y +
                                                      img->ny * (size_t)z),
                           b;
                    double dl;

                    if (x2 < 0 || x2 >= (long)img->nx || y2 < 0 ||
                        y2 >= (long)img->ny || z2 < 0 || z2 >= (long)img->nz)
                        continue;
                    b = (size_t)x2 + img->nx * ((size_t)y2 +
                                                img->ny * (size_t)z2);
                    if (!roi[a] || !roi[b])
                        continue;
                    dl = (double)img->vox[a] - (double)img->vox[b];
                    num += 2 * dl * dl;
                    tot += 2;
                }
    return num / tot;
}

/* Ensure that every vector path (MMDX_SIMD base, avx2, avx512; the
 * processor's best at most) gives bit-identical features, and that the
 * GLCM contrast equals a pair-by-pair count (reference: the direct count
 * in this test; tolerance 1e-12 relative) - on rows long enough for the
 * 32-voxel AVX-512 steps, 8 to 300 levels (the AVX-512 GLCM path takes
 * up to 255), merged 3D and 2.5D and per-direction aggregation, integer
 * data, some non-integers, and NaN/infinities inside the ROI. */
static void image_features__simd_levels__identical(void **state)
{
    static const int d13[13][3] = {
        { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, -1, 0 },
        { 0, 0, 1 }, { 1, 0, 1 }, { 1, 0, -1 }, { 0, 1, 1 }, { 0, 1, -1 },
        { 1, 1, 1 }, { 1, 1, -1 }, { 1, -1, 1 }, { 1, -1, -1 }
    };
    static const int levels[4] = { 8, 32, 255, 300 };
    static const int agg[3] = { MMDX_AGG_3D_MERGED, MMDX_AGG_25D_MERGED,
                                MMDX_AGG_3D_AVERAGED };
    struct mmdx_ctx *ctx = test_ctx();
    static uint8_t roi[WV_NX * WV_NY * WV_NZ];
    static struct fvals ref, got;
    struct mmdx_imgfeat_opts o;
    int li, ai, cap;
    size_t i;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.families = MMDX_FAM_STAT | MMDX_FAM_GLCM | MMDX_FAM_GLRLM;
    for (li = 0; li < 6; li++) {
        struct mmdx_image *img = NULL;

        wide_volume(ctx, &img, roi, levels[li < 4 ? li : 1]);
        o.bins = levels[li < 4 ? li : 1];
        if (li == 4) /* some values not integers: the general path */
            for (i = 0; i < WV_NX * WV_NY * WV_NZ; i += 97)
                img->vox[i] += 0.5f;
        if (li == 5) /* NaN and infinities inside the ROI */
            for (i = 0; i < WV_NX * WV_NY * WV_NZ; i += 89)
                img->vox[i] = i % 3 ? NAN : (i % 2 ? INFINITY : -INFINITY);
        for (ai = 0; ai < 3; ai++) {
            o.agg = agg[ai];
            for (cap = MMDX_SIMD_AVX512; cap >= MMDX_SIMD_BASE; cap--) {
                struct fvals *f = cap == MMDX_SIMD_AVX512 ? &ref : &got;

                mmdx__simd_cap(cap);
                f->n = 0;
                assert_int_equal(mmdx__image_features(ctx, img, roi, false,
                                                      &o, keep, f), MMDX_OK);
                if (f == &ref) {
                    if (agg[ai] != MMDX_AGG_3D_AVERAGED && li < 4) {
                        double c = glcm_naive_contrast(
                            img, roi, d13,
                            agg[ai] == MMDX_AGG_3D_MERGED ? 13 : 4);

                        assert_true(fabs(fval(f, "image.glcm.contrast") - c) <=
                                    1e-12 * c);
                    }
                    continue;
                }
                assert_int_equal(ref.n, got.n);
                for (i = 0; i < ref.n; i++) {
                    assert_string_equal(ref.name[i], got.name[i]);
                    if (!(ref.v[i] == got.v[i] ||
                          (isnan(ref.v[i]) && isnan(got.v[i]))))
                        fail_msg("%s: %.17g at the top level, %.17g at "
                                 "level %d (case %d)", ref.name[i],
                                 ref.v[i], got.v[i], cap, li);
                }
            }
        }
        mmdx__image_free(img);
    }
    mmdx__simd_cap(-1);
    mmdx_ctx_free(ctx);
}

/* The local intensity peaks counted voxel by voxel over the 1 cm3
 * sphere (IBSI 3.2), as the reference for the sliding-window sums. */
static void local_naive(const struct mmdx_image *img, const uint8_t *roi,
                        double *loc, double *glob)
{
    double r = 10.0 * cbrt(3.0 / (4.0 * M_PI)), mx = -INFINITY;
    const double *sp = img->spacing_mm;
    long R[3], x, y, z, a, b, c;
    size_t v, nv = img->nx * img->ny * img->nz;
    int k;

    for (k = 0; k < 3; k++)
        R[k] = (long)floor(r / sp[k]);
    for (v = 0; v < nv; v++)
        if (roi[v] && isfinite(img->vox[v]) && img->vox[v] > mx)
            mx = img->vox[v];
    *loc = *glob = -INFINITY;
    for (z = 0; z < (long)img->nz; z++)
        for (y = 0; y < (long)img->ny; y++)
            for (x = 0; x < (long)img->nx; x++) {
                double s = 0, m;
                long n = 0;

                v = (size_t)x + img->nx * ((size_t)y + img->ny * (size_t)z);
                if (!roi[v] || !isfinite(img->vox[v]))
                    continue;
                for (c = z - R[2]; c <= z + R[2]; c++)
                    for (b = y - R[1]; b <= y + R[1]; b++)
                        for (a = x - R[0]; a <= x + R[0]; a++) {
                            double fx = (double)(a - x) * sp[0],
                                   fy = (double)(b - y) * sp[1],
                                   fz = (double)(c - z) * sp[2];
                            float w;

                            if (a < 0 || b < 0 || c < 0 ||
                                a >= (long)img->nx || b >= (long)img->ny ||
                                c >= (long)img->nz ||
                                !(fx * fx + fy * fy + fz * fz <=
                                  r * r * (1 + 1e-12)))
                                continue;
                            w = img->vox[(size_t)a +
                                         img->nx * ((size_t)b +
                                                    img->ny * (size_t)c)];
                            if (isfinite(w)) {
                                s += w;
                                n++;
                            }
                        }
                m = n ? s / (double)n : NAN;
                if (img->vox[v] == mx && m > *loc)
                    *loc = m;
                if (m > *glob)
                    *glob = m;
            }
}

/* Ensure that the local intensity peaks equal a voxel-by-voxel count
 * (reference: the direct count in this test; tolerance 1e-12 relative,
 * the sums run in other orders), on anisotropic grids, with ROI holes,
 * for every way they are summed: integers (running sums as int32, equal
 * exactly), non-integers (running sums as doubles), NaN/inf in and
 * around the ROI (sliding sums) - each with the vector code of every
 * level; and NaN peaks, at once, for an absurd spacing. */
static void image_features__local_peaks__match_direct_count(void **state)
{
    static const double spacing[3][3] = {
        { 0.7, 0.7, 2.5 }, { 2.0, 1.3, 0.9 }, { 5.0, 0.4, 7.0 }
    };
    struct mmdx_ctx *ctx = test_ctx();
    static uint8_t roi[WV_NX * WV_NY * WV_NZ];
    static struct fvals fv;
    struct mmdx_imgfeat_opts o;
    int c, sk;
    size_t i;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 16;
    o.families = MMDX_FAM_LOCAL;
    for (c = 0; c < 8; c++)
        for (sk = 0; sk < 3; sk++) {
            struct mmdx_image *img = NULL;
            double loc, glob;

            /* c >= 4: the same cases with SSE2 only */
            mmdx__simd_cap(c >= 4 ? MMDX_SIMD_BASE : -1);
            wide_volume(ctx, &img, roi, 40);
            for (i = 0; i < WV_NX * WV_NY * WV_NZ; i += 7)
                img->vox[i] += (float)(i % 13) * (c % 4 == 3 ? 1 : 0.37f);
            if (c % 4 == 1)
                for (i = 0; i < WV_NX * WV_NY * WV_NZ; i += 53)
                    img->vox[i] = i % 2 ? NAN : INFINITY;
            if (c % 4 == 2)  /* the highest value twice, far apart */
                img->vox[5 + WV_NX * 3] = img->vox[250 + WV_NX * 20] = 99,
                roi[5 + WV_NX * 3] = roi[250 + WV_NX * 20] = 1;
            memcpy(img->spacing_mm, spacing[sk], sizeof(spacing[sk]));
            local_naive(img, roi, &loc, &glob);
            fv.n = 0;
            assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o,
                                                  keep, &fv), MMDX_OK);
            assert_true(isfinite(loc) && isfinite(glob));
            assert_true(fabs(fval(&fv, "image.loc.peak_local") - loc) <=
                        1e-12 * fabs(loc));
            assert_true(fabs(fval(&fv, "image.loc.peak_global") - glob) <=
                        1e-12 * fabs(glob));
            if (c % 4 == 3)  /* integers: the int32 sums are exact */
                assert_true(fval(&fv, "image.loc.peak_global") == glob);
            mmdx__image_free(img);
        }
    mmdx__simd_cap(-1);
    /* an absurd spacing (1e-4 mm: a sphere of ~1e15 voxels) gives NaN
     * peaks at once, not a walk over the sphere */
    {
        struct mmdx_image *img = NULL;
        static const double tiny[3] = { 1e-4, 1e-4, 1e-4 };

        wide_volume(ctx, &img, roi, 40);
        memcpy(img->spacing_mm, tiny, sizeof(tiny));
        fv.n = 0;
        assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o,
                                              keep, &fv), MMDX_OK);
        assert_true(isnan(fval(&fv, "image.loc.peak_local")));
        assert_true(isnan(fval(&fv, "image.loc.peak_global")));
        mmdx__image_free(img);
    }
    mmdx_ctx_free(ctx);
}

/* Short and long run emphasis and run percentage of the run-length
 * matrix merged over the 13 directions (or the 4 in-plane ones per
 * slice), runs found voxel by voxel: a run starts where the previous
 * voxel along the direction is outside the image (or, with per-slice
 * runs, the slice) or has another level. */
static void glrlm_naive(const struct mmdx_image *img, const uint8_t *roi,
                        const int (*dirs)[3], int nd, bool per_slice,
                        double out[3])
{
    double nruns = 0, sre = 0, lre = 0, nvox = 0;
    long nx = (long)img->nx, ny = (long)img->ny, nz = (long)img->nz;
    long x, y, z;
    int d;

    for (d = 0; d < nd; d++)
        for (z = 0; z < nz; z++)
            for (y = 0; y < ny; y++)
                for (x = 0; x < nx; x++) {
                    const int *e = dirs[d];
                    long px = x - e[0], py = y - e[1], pz = z - e[2];
                    long cx = x, cy = y, cz = z, len = 0;
                    size_t v = (size_t)(x + nx * (y + ny * z));
                    float a = img->vox[v];

                    if (!roi[v])
                        continue;
                    nvox += 1;
                    if (px >= 0 && py >= 0 && pz >= 0 && px < nx &&
                        py < ny && pz < nz && (!per_slice || pz == z) &&
                        roi[(size_t)(px + nx * (py + ny * pz))] &&
                        img->vox[(size_t)(px + nx * (py + ny * pz))] == a)
                        continue;
                    while (cx >= 0 && cy >= 0 && cz >= 0 && cx < nx &&
                           cy < ny && cz < nz && (!per_slice || cz == z) &&
                           roi[(size_t)(cx + nx * (cy + ny * cz))] &&
                           img->vox[(size_t)(cx + nx * (cy + ny * cz))] ==
                               a) {
                        len++;
                        cx += e[0];
                        cy += e[1];
                        cz += e[2];
                    }
                    nruns += 1;
                    sre += 1.0 / ((double)len * (double)len);
                    lre += (double)len * (double)len;
                }
    out[0] = sre / nruns;
    out[1] = lre / nruns;
    out[2] = nruns / nvox;
}

/* Ensure that the GLRLM (runs followed line by line with a per-line
 * state) equals runs found voxel by voxel (reference: the direct count
 * in this test; tolerance 1e-12 relative), merged over 13 directions
 * and over the 4 in-plane ones slice by slice, on a volume with ROI
 * holes, uneven spans and every level count from 8 to 300, at every
 * vector level. */
static void image_features__glrlm_merged__match_direct_count(void **state)
{
    static const int d13[13][3] = {
        { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, -1, 0 },
        { 0, 0, 1 }, { 1, 0, 1 }, { 1, 0, -1 }, { 0, 1, 1 }, { 0, 1, -1 },
        { 1, 1, 1 }, { 1, 1, -1 }, { 1, -1, 1 }, { 1, -1, -1 }
    };
    static const int levels[3] = { 8, 40, 300 };
    static const int agg[2] = { MMDX_AGG_3D_MERGED, MMDX_AGG_25D_MERGED };
    static const char *const nm[3] = { "image.glrlm.sre", "image.glrlm.lre",
                                       "image.glrlm.run_percentage" };
    struct mmdx_ctx *ctx = test_ctx();
    static uint8_t roi[WV_NX * WV_NY * WV_NZ];
    static struct fvals fv;
    struct mmdx_imgfeat_opts o;
    int li, ai, k;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.families = MMDX_FAM_GLRLM;
    for (li = 0; li < 3; li++) {
        struct mmdx_image *img = NULL;

        wide_volume(ctx, &img, roi, levels[li]);
        o.bins = levels[li];
        for (ai = 0; ai < 2; ai++) {
            double ref[3];

            glrlm_naive(img, roi, d13, ai == 0 ? 13 : 4, ai == 1, ref);
            o.agg = agg[ai];
            fv.n = 0;
            assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o,
                                                  keep, &fv), MMDX_OK);
            for (k = 0; k < 3; k++)
                if (!(fabs(fval(&fv, nm[k]) - ref[k]) <= 1e-12 * ref[k]))
                    fail_msg("%s: %.17g, direct count %.17g (%d levels, "
                             "aggregation %d)", nm[k], fval(&fv, nm[k]),
                             ref[k], levels[li], agg[ai]);
        }
        mmdx__image_free(img);
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that features computed with a kept scratch (bigger, then
 * smaller, then bigger again; integer and non-integer values) are the
 * very values computed without one (exact). */
static void image_features_ws__reused__same_values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = NULL;
    static uint8_t roi[TV_NX * TV_NY * TV_NZ];
    static struct fvals a, b;
    struct mmdx_imgfeat_ws *ws = mmdx__imgfeat_ws_new();
    struct mmdx_imgfeat_opts o;
    size_t run, i, nz[3] = { TV_NZ, 1, TV_NZ };

    (void)state;
    assert_non_null(ws);
    test_volume(ctx, &img, roi);
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 6;
    o.families = MMDX_FAM_STAT | MMDX_FAM_IH | MMDX_FAM_GLCM |
                 MMDX_FAM_GLRLM | MMDX_FAM_GLSZM;
    for (run = 0; run < 3; run++) {
        img->nz = nz[run];
        if (run == 1)  /* not integers: the general path */
            for (i = 0; i < TV_NX * TV_NY; i++)
                img->vox[i] += 0.25f;
        a.n = b.n = 0;
        assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o, keep,
                                              &a), MMDX_OK);
        assert_int_equal(mmdx__image_features_ws(ctx, ws, img, roi, false,
                                                 &o, keep, &b), MMDX_OK);
        assert_int_equal(a.n, b.n);
        for (i = 0; i < a.n; i++) {
            assert_string_equal(a.name[i], b.name[i]);
            assert_true(a.v[i] == b.v[i] || (isnan(a.v[i]) && isnan(b.v[i])));
        }
        if (run == 1)
            for (i = 0; i < TV_NX * TV_NY; i++)
                img->vox[i] -= 0.25f;
    }
    mmdx__imgfeat_ws_free(ws);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* Ensure that ROI voxels that are not finite (NaN, +inf) inside runs of
 * integer values are left out exactly as if they were outside the ROI:
 * same features, bit for bit (the ROI scan takes runs of eight inside
 * voxels without testing each, and redoes a row that holds one). */
static void image_features__nonfinite_in_roi__as_outside(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = mmdx__image_new();
    enum { NX = 40, NY = 9, NZ = 2, N = NX * NY * NZ };
    static uint8_t roi_a[N], roi_b[N];
    static struct fvals a, b;
    struct mmdx_imgfeat_opts o;
    size_t i;

    (void)state;
    assert_int_equal(mmdx__image_alloc(ctx, img, NX, NY, NZ, 1, 0), MMDX_OK);
    for (i = 0; i < N; i++) {
        img->vox[i] = (float)((long)((i * 37u) % 23u) - 5);
        roi_a[i] = roi_b[i] = i % 17 != 3;
    }
    img->vox[NX * 3 + 12] = NAN;
    img->vox[NX * NY + NX * 5 + 30] = INFINITY;
    img->vox[NX * 7 + 1] = -INFINITY;
    roi_b[NX * 3 + 12] = roi_b[NX * NY + NX * 5 + 30] = roi_b[NX * 7 + 1] = 0;
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.bins = 8;
    o.families = MMDX_FAM_STAT | MMDX_FAM_IH | MMDX_FAM_GLCM | MMDX_FAM_GLRLM;
    assert_int_equal(mmdx__image_features(ctx, img, roi_a, false, &o, keep,
                                          &a), MMDX_OK);
    assert_int_equal(mmdx__image_features(ctx, img, roi_b, false, &o, keep,
                                          &b), MMDX_OK);
    assert_int_equal(a.n, b.n);
    assert_true(a.n > 50);
    for (i = 0; i < a.n; i++) {
        assert_string_equal(a.name[i], b.name[i]);
        if (!(a.v[i] == b.v[i] || (isnan(a.v[i]) && isnan(b.v[i]))))
            fail_msg("%s: %.17g against %.17g", a.name[i], a.v[i], b.v[i]);
    }
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* Ensure that integer data over a wide range (4,001 HU-like values) get
 * the grey level of IBSI's fixed bin number formula for every voxel
 * (the level table is filled by halving, not value by value): the mean
 * level equals the mean of the levels computed here voxel by voxel
 * (reference: IBSI 1 reference manual, 2.7, FBN; tolerance 1e-12
 * relative, the sums run in different orders; one voxel off would move
 * it by about 1e-5). */
static void image_features__fbn_wide_integers__ibsi_levels(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = mmdx__image_new();
    enum { NX = 61, NY = 47, NZ = 4, N = NX * NY * NZ };
    static uint8_t roi[N];
    static struct fvals fv;
    static const long bins[4] = { 32, 7, 1000, 3 };
    struct mmdx_imgfeat_opts o;
    uint32_t h = 12345;
    double mn = INFINITY, mx = -INFINITY;
    size_t i;
    int b;

    (void)state;
    assert_int_equal(mmdx__image_alloc(ctx, img, NX, NY, NZ, 1, 0), MMDX_OK);
    for (i = 0; i < N; i++) {
        h = h * 1103515245u + 12345u;
        /* most values in soft tissue, some spread over the whole range */
        img->vox[i] = (float)((h >> 8) % 5 ? (long)((h >> 12) % 301) - 100
                                           : (long)((h >> 12) % 4001) - 1000);
        roi[i] = (h >> 4) % 11 != 0;
    }
    img->vox[5] = -1000;
    img->vox[N - 3] = 3000;
    roi[5] = roi[N - 3] = 1;
    for (i = 0; i < N; i++)
        if (roi[i]) {
            mn = fmin(mn, img->vox[i]);
            mx = fmax(mx, img->vox[i]);
        }
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBN;
    o.agg = MMDX_AGG_3D_MERGED;
    o.families = MMDX_FAM_IH;
    for (b = 0; b < 4; b++) {
        double sum = 0, cnt = 0, ref;

        for (i = 0; i < N; i++)
            if (roi[i]) {
                double l = floor(((double)img->vox[i] - mn) *
                                 (double)bins[b] / (mx - mn)) + 1;

                sum += l > (double)bins[b] ? (double)bins[b] : l;
                cnt++;
            }
        ref = sum / cnt;
        o.bins = bins[b];
        fv.n = 0;
        assert_int_equal(mmdx__image_features(ctx, img, roi, false, &o, keep,
                                              &fv), MMDX_OK);
        if (!(fabs(fval(&fv, "image.ih.mean") - ref) <= 1e-12 * ref))
            fail_msg("bins %ld: mean level %.17g, expected %.17g", bins[b],
                     fval(&fv, "image.ih.mean"), ref);
    }
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* Ensure that the threshold ROI keeps exactly the voxels whose value, as
 * a double, is >= the threshold (a threshold between two floats, NaN
 * and -inf outside, +inf inside), and counts them, at every vector level
 * (64-, 32- and 16-wide steps and the tails). */
static void image_roi_min__threshold__exact(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = mmdx__image_new();
    static uint8_t roi[301];
    const double thr = -500.3;
    size_t i, n, got;
    int cap;

    (void)state;
    /* 301 values: the 64- and 32-voxel steps and the tails, at every
     * vector level */
    assert_int_equal(mmdx__image_alloc(ctx, img, 301, 1, 1, 1, 0), MMDX_OK);
    for (i = 0; i < 301; i++)
        img->vox[i] = (float)thr + (float)((long)(i % 37) - 18) * 0.00003f;
    img->vox[5] = NAN;
    img->vox[30] = NAN;
    img->vox[200] = INFINITY;
    img->vox[201] = -INFINITY;
    for (cap = MMDX_SIMD_AVX512; cap >= MMDX_SIMD_BASE; cap--) {
        mmdx__simd_cap(cap);
        memset(roi, 7, sizeof(roi));
        got = mmdx__image_roi_min(img, thr, roi);
        for (i = 0, n = 0; i < 301; i++) {
            bool in = (double)img->vox[i] >= thr;

            assert_int_equal(roi[i], in);
            n += in;
        }
        assert_int_equal(got, n);
        assert_true(n > 0 && n < 290);
    }
    mmdx__simd_cap(-1);
    mmdx__image_free(img);
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
        cmocka_unit_test(dicom_read__huge_element_length__refused),
        cmocka_unit_test(dicom_read__absurd_element_length__named),
        cmocka_unit_test(dicom_read__deflated__pixels),
        cmocka_unit_test(dicom_load__series__sorted),
        cmocka_unit_test(dicom_load__series__slices_equal_files),
        cmocka_unit_test(dicom_load__duplicates_mixed__errors),
        cmocka_unit_test(dicom_load__idfields__reported),
        cmocka_unit_test(dicom_load__oom__nomem),
        cmocka_unit_test(dicom_write_ct__roundtrip__same_hu),
        cmocka_unit_test(dicom_read__16bit_slices__exact),
        cmocka_unit_test(dicom_waveform__ecg__mv),
        cmocka_unit_test(ibsi_phantom__all_features__match_reference),
        cmocka_unit_test(ibsi_phantom__dicom_and_seg__match_csv),
        cmocka_unit_test(image_features__oom__nomem),
        cmocka_unit_test(image_features__glcm_merged__match_direct_count),
        cmocka_unit_test(image_features__simd_levels__identical),
        cmocka_unit_test(image_features__local_peaks__match_direct_count),
        cmocka_unit_test(image_features__glrlm_merged__match_direct_count),
        cmocka_unit_test(image_features_ws__reused__same_values),
        cmocka_unit_test(image_features__nonfinite_in_roi__as_outside),
        cmocka_unit_test(image_features__fbn_wide_integers__ibsi_levels),
        cmocka_unit_test(image_roi_min__threshold__exact),
    };

    return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
