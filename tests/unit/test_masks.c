/*
 * test_masks.c - masks_testdriver: multi-label masks (load.image's
 * mask_label on NIfTI-1 label images and multi-segment DICOM SEG), the
 * manifest column and CLI plumbing, NIfTI-1 inspection.
 *
 * The shared data holds no SEG and no multi-label NIfTI: the tests write
 * their own, NIfTI-1 files byte by byte (the header layout of the NIfTI-1
 * standard, nifti1.h) and SEG objects with mmdx__dicom_write_seg (in the
 * DCMTK shim) onto CT series written by mmdx__dicom_write_ct. Expected
 * voxel counts are the counts the fixtures were drawn with. PALETTE
 * COLOR label maps are checked against the same map written MONOCHROME2
 * (tests/integration/labelmap.int does it again with files written by
 * DCMTK's own tools).
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/image.h"
#include "io/mask.h"
#include "mmdx/mmdx.h"
#include "pipeline/cohort_int.h"
#include "pipeline/stage.h"
#include "test_util.h"

#define NX 16
#define NY 16
#define NZ 3
#define PLANE (NX * NY)

static void expect_err(struct mmdx_ctx *ctx, enum mmdx_status got,
                       enum mmdx_status want, const char *field,
                       const char *needle)
{
    const struct mmdx_error *e = mmdx_ctx_last_error(ctx);

    if (got != want || strcmp(e->field, field) || !strstr(e->message, needle))
        fail_msg("got %s [%s] \"%s\", want %s [%s] \"...%s...\"",
                 mmdx_status_name(got), e->field, e->message,
                 mmdx_status_name(want), field, needle);
    mmdx_ctx_clear_error(ctx);
}

/* Write the 16x16x3 CT series of ct_series into the folder ctdir. */
static void ct_files(struct mmdx_ctx *ctx, const char *ctdir)
{
    int16_t px[PLANE];
    int k;

    assert_int_equal(mmdx__mkdir_p(ctx, ctdir), MMDX_OK);
    for (k = 0; k < PLANE; k++)
        px[k] = (int16_t)(k % 37 + 10 * (k / 64));
    for (k = 0; k < NZ; k++) {
        struct mmdx_dicom_ct w;
        char name[32], *p;

        memset(&w, 0, sizeof(w));
        w.pixels = px;
        w.rows = NY;
        w.cols = NX;
        w.slope = 1;
        w.intercept = -100;
        w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
        w.slice_thickness_mm = 2;
        w.position_mm[0] = -4;
        w.position_mm[1] = -4;
        w.position_mm[2] = 2.0 * k;
        w.instance_number = k + 1;
        w.patient_id = "SYN99998";
        w.series_uid = "1.2.826.0.1.3680043.10.999.11";
        w.study_uid = "1.2.826.0.1.3680043.10.999.12";
        snprintf(name, sizeof(name), "%d.dcm", k);
        p = mmdx__path_join(ctdir, name);
        assert_int_equal(mmdx__dicom_write_ct(ctx, p, &w), MMDX_OK);
        mmdx__free(p);
    }
}

/* A 16x16x3 CT series in dir/ct: 0.5 mm pixels, slices 2 mm apart at
 * z = 0, 2, 4, corner (-4, -4). */
static struct mmdx_image *ct_series(struct mmdx_ctx *ctx, const char *dir)
{
    char *ctdir = mmdx__path_join(dir, "ct");
    struct mmdx_image *img = NULL;

    ct_files(ctx, ctdir);
    assert_int_equal(mmdx__dicom_load(ctx, ctdir, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(img->nz, NZ);
    mmdx__free(ctdir);
    return img;
}

/* ---- NIfTI-1 label images --------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    put_le(p, u, 4);
}

/* Write a little-endian NIfTI-1 single file (no qform/sform: matched by
 * dimensions) of NX x NY x NZ voxels, uint8 (datatype 2) or float32
 * (16); descrip and aux_file hold planted free text. */
static char *nii_write(const char *dir, const char *name, const float *v,
                       int datatype)
{
    size_t n = PLANE * NZ, bpv = datatype == 16 ? 4 : 1, i;
    size_t len = 352 + n * bpv;
    uint8_t *b = mmdx__calloc(1, len);
    char *path = mmdx__path_join(dir, name);
    FILE *fp;

    assert_non_null(b);
    put_le(b, 348, 4);                       /* sizeof_hdr */
    put_le(b + 40, 3, 2);                    /* dim[0] */
    put_le(b + 42, NX, 2);
    put_le(b + 44, NY, 2);
    put_le(b + 46, NZ, 2);
    for (i = 0; i < 4; i++)
        put_le(b + 48 + 2 * i, 1, 2);
    put_le(b + 70, (uint64_t)datatype, 2);   /* datatype */
    put_le(b + 72, bpv * 8, 2);              /* bitpix */
    put_f32(b + 76, 1);                      /* pixdim[0] = qfac */
    put_f32(b + 80, 0.5f);
    put_f32(b + 84, 0.5f);
    put_f32(b + 88, 2);
    put_f32(b + 108, 352);                   /* vox_offset */
    put_f32(b + 112, 1);                     /* scl_slope */
    memcpy(b + 148, "SYNTHETIC FREE TEXT", 19);   /* descrip */
    memcpy(b + 228, "AUX TEXT", 8);               /* aux_file */
    memcpy(b + 344, "n+1", 4);
    for (i = 0; i < n; i++) {
        if (datatype == 16)
            put_f32(b + 352 + 4 * i, v[i]);
        else
            b[352 + i] = (uint8_t)v[i];
    }
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
    mmdx__free(b);
    return path;
}

/* A label image: 1 ("liver") = columns 2..9 of rows 2..9 on every slice
 * (64 x 3 = 192 voxels), 2 ("tumour") = columns 4..6 of rows 4..6 on
 * slice 1 inside it (9 voxels), 5 = voxel (15, 15) of slice 2. */
static void labels3(float *v)
{
    size_t x, y, z;

    memset(v, 0, sizeof(float) * PLANE * NZ);
    for (z = 0; z < NZ; z++)
        for (y = 2; y < 10; y++)
            for (x = 2; x < 10; x++)
                v[z * PLANE + y * NX + x] = 1;
    for (y = 4; y < 7; y++)
        for (x = 4; x < 7; x++)
            v[PLANE + y * NX + x] = 2;
    v[2 * PLANE + 15 * NX + 15] = 5;
}

static size_t count_in(const struct mmdx_image *m)
{
    size_t i, n = 0;

    for (i = 0; i < m->nx * m->ny * m->nz; i++)
        n += m->vox[i] > 0.5f;
    return n;
}

/* Ensure that mask_label picks the voxels of one label of a NIfTI-1
 * label image (label 2: 9 voxels, all on slice 1; label 1: 192 - 9 = 183;
 * label 5: 1), that the result is 0/1, and that the selection is reported
 * (label, 3 labels present "1, 2, 5"). */
static void mask_label__nifti_labels__selects_one(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    float v[PLANE * NZ];
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    static const struct {
        const char *label;
        size_t n;
    } want[3] = { { "2", 9 }, { "1", 183 }, { "5", 1 } };
    size_t i, k;

    (void)state;
    labels3(v);
    mp = nii_write(dir, "labels.nii", v, 2);
    memset(&o, 0, sizeof(o));
    for (k = 0; k < 3; k++) {
        o.label = want[k].label;
        assert_int_equal(mmdx__mask_load_label(ctx, mp, img, &o, NULL, NULL,
                                               &m, &kind, &g, NULL, &li),
                         MMDX_OK);
        assert_int_equal(kind, MMDX_MASK_NIFTI);
        assert_int_equal(g, MMDX_MASK_GEOM_UNCHECKED);
        assert_int_equal(count_in(m), want[k].n);
        for (i = 0; i < PLANE * NZ; i++)
            assert_true(m->vox[i] == 0.0f || m->vox[i] == 1.0f);
        assert_true(li.used);
        assert_int_equal(li.nlabels, 3);
        assert_string_equal(li.present, "1, 2, 5");
        mmdx__image_free(m);
        m = NULL;
    }
    /* label 2 lies on slice 1 only, at (4..6, 4..6) */
    o.label = "2";
    assert_int_equal(mmdx__mask_load(ctx, mp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_true(m->vox[PLANE + 4 * NX + 4] == 1.0f);
    assert_true(m->vox[4 * NX + 4] == 0.0f);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(mp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a careful refusal replaces silent merging: a label image
 * with several labels and no mask_label is E_INVAL naming mask_label and
 * listing the labels; an absent label is E_NOTFOUND listing them; a name
 * for a label image is E_INVAL; a label on a probability map (values not
 * whole numbers) is E_FORMAT; an RTSTRUCT with a mask_label is E_INVAL. */
static void mask_label__nifti_errors__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp, *pp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    float v[PLANE * NZ];
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    size_t i;

    (void)state;
    labels3(v);
    mp = nii_write(dir, "labels.nii", v, 2);
    for (i = 0; i < PLANE * NZ; i++)
        v[i] = v[i] ? 0.25f * v[i] : 0;   /* 0.25, 0.5, 1.25 */
    pp = nii_write(dir, "prob.nii", v, 16);
    memset(&o, 0, sizeof(o));
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "the NIfTI-1 mask holds 3 labels (1, 2, 5): set mask_label");
    assert_null(m);
    o.label = "3";
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_NOTFOUND, "mask_label",
               "mask_label 3 is not in the NIfTI-1 mask (labels present: "
               "1, 2, 5)");
    o.label = "Liver";
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "selected by a whole number");
    o.label = "0";
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "selected by a whole number from 1");
    o.label = "1";
    expect_err(ctx, mmdx__mask_load(ctx, pp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_FORMAT, "mask_label",
               "not whole numbers");
    /* a probability map without a label: as before, > 0.5 inside (the
     * 1.25 voxel only) */
    o.label = NULL;
    assert_int_equal(mmdx__mask_load(ctx, pp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 1);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(mp);
    mmdx__free(pp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that binary masks behave as before without a label: {0, 1} and
 * a single other value ({0, 255}) are accepted unchanged, and a label
 * given for a binary mask selects it (1) or is absent (2). */
static void mask_label__binary__unchanged(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *bp, *wp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    float v[PLANE * NZ];
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    size_t i;

    (void)state;
    labels3(v);
    for (i = 0; i < PLANE * NZ; i++)
        v[i] = v[i] != 0;
    bp = nii_write(dir, "bin.nii", v, 2);
    for (i = 0; i < PLANE * NZ; i++)
        v[i] *= 255;
    wp = nii_write(dir, "w255.nii", v, 2);
    memset(&o, 0, sizeof(o));
    assert_int_equal(mmdx__mask_load_label(ctx, bp, img, &o, NULL, NULL, &m,
                                           &kind, &g, NULL, &li), MMDX_OK);
    assert_int_equal(count_in(m), 193);
    assert_false(li.used);
    mmdx__image_free(m);
    assert_int_equal(mmdx__mask_load(ctx, wp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 193);
    assert_true(m->vox[2 * NX + 2] == 255.0f);
    mmdx__image_free(m);
    o.label = "1";
    assert_int_equal(mmdx__mask_load(ctx, bp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 193);
    mmdx__image_free(m);
    m = NULL;
    o.label = "2";
    expect_err(ctx, mmdx__mask_load(ctx, bp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_NOTFOUND, "mask_label",
               "(labels present: 1)");
    mmdx__image_free(img);
    mmdx__free(bp);
    mmdx__free(wp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a DICOM label image (a series of mask slices, stored values
 * = labels: labels3's layout) is selected like a NIfTI one: label 2 = 9
 * voxels, no label = refused naming mask_label and listing 1, 2, 5. */
static void mask_label__dicom_label_image__selects_one(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *md = mmdx__path_join(dir, "mask");
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    float v[PLANE * NZ];
    int16_t px[PLANE];
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    int k, i;

    (void)state;
    labels3(v);
    assert_int_equal(mmdx__mkdir_p(ctx, md), MMDX_OK);
    for (k = 0; k < NZ; k++) {
        struct mmdx_dicom_ct w;
        char name[32], *p;

        for (i = 0; i < PLANE; i++)
            px[i] = (int16_t)v[k * PLANE + i];
        memset(&w, 0, sizeof(w));
        w.pixels = px;
        w.rows = NY;
        w.cols = NX;
        w.slope = 1;
        w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
        w.slice_thickness_mm = 2;
        w.position_mm[0] = -4;
        w.position_mm[1] = -4;
        w.position_mm[2] = 2.0 * k;
        w.instance_number = k + 1;
        w.patient_id = "SYN99998";
        w.series_uid = "1.2.826.0.1.3680043.10.999.13";
        w.study_uid = "1.2.826.0.1.3680043.10.999.12";
        snprintf(name, sizeof(name), "%d.dcm", k);
        p = mmdx__path_join(md, name);
        assert_int_equal(mmdx__dicom_write_ct(ctx, p, &w), MMDX_OK);
        mmdx__free(p);
    }
    memset(&o, 0, sizeof(o));
    o.label = "2";
    assert_int_equal(mmdx__mask_load(ctx, md, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_DICOM);
    assert_int_equal(count_in(m), 9);
    assert_true(m->vox[PLANE + 5 * NX + 5] == 1.0f);
    mmdx__image_free(m);
    m = NULL;
    o.label = NULL;
    expect_err(ctx, mmdx__mask_load(ctx, md, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "the DICOM mask holds 3 labels (1, 2, 5)");
    mmdx__image_free(img);
    mmdx__free(md);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- DICOM SEG ------------------------------------------------------------ */

struct kv {
    char text[4096];
};

static void keep_kv(void *user, const char *key, const char *value)
{
    struct kv *k = user;
    size_t n = strlen(k->text);

    snprintf(k->text + n, sizeof(k->text) - n, "%s\t%s\n", key, value);
}


/* With MMDX_SEG_SEEDS=DIR set, keep a copy of a SEG written here as a
 * seed for tests/fuzz/fuzz_seg (see its header). */
static void seed_copy(const char *path, const char *tag, int n)
{
    const char *dir = getenv("MMDX_SEG_SEEDS");
    const char *base = strrchr(path, '/');
    char cmd[1400];

    if (!dir)
        return;
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/%s%d-%s'", path, dir, tag, n,
             base ? base + 1 : path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot copy %s\n", path);
}

/* A SEG for the CT series: segment 1 "Liver" = the 8x8 square on slices
 * 0, 1, 2 (3 frames), segment 2 "Tumour" = the 3x3 square on slice 1
 * only (its empty frames left out, as SEG writers do), written with the
 * tumour frame FIRST so that order alone would put it on slice 0. */
static char *seg_write(struct mmdx_ctx *ctx, const char *dir,
                       const char *name, bool with_pos, double zshift,
                       bool fractional)
{
    static const char *const labels[2] = { "Liver", "Tumour" };
    static const char *const codes[2] = { "10200004", "108369006" };
    uint8_t fr[4 * PLANE];
    long fs[4] = { 2, 1, 1, 1 };
    double pos[12];
    struct mmdx_dicom_seg_write w;
    char *path = mmdx__path_join(dir, name);
    size_t f, x, y;

    memset(fr, 0, sizeof(fr));
    for (y = 4; y < 7; y++)
        for (x = 4; x < 7; x++)
            fr[y * NX + x] = fractional ? 200 : 1;
    fr[0] = fractional ? 100 : 0;   /* below one half: outside */
    for (f = 1; f < 4; f++)
        for (y = 2; y < 10; y++)
            for (x = 2; x < 10; x++)
                fr[f * PLANE + y * NX + x] = fractional ? 255 : 1;
    for (f = 0; f < 4; f++) {
        pos[3 * f] = -4;
        pos[3 * f + 1] = -4;
        pos[3 * f + 2] = (f == 0 ? 2.0 : 2.0 * (double)(f - 1)) + zshift;
    }
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = NY;
    w.cols = NX;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
    w.slice_thickness_mm = 2;
    w.labels = labels;
    w.type_codes = codes;
    w.nseg = 2;
    w.fractional = fractional;
    w.nframes = 4;
    w.frames = fr;
    w.frame_segment = fs;
    w.frame_pos_mm = with_pos ? pos : NULL;
    assert_int_equal(mmdx__dicom_write_seg(ctx, path, &w), MMDX_OK);
    seed_copy(path, with_pos ? "pos" : "nopos", zshift != 0 || fractional);
    return path;
}

static size_t count_slice(const struct mmdx_image *m, size_t z)
{
    size_t i, n = 0;

    for (i = 0; i < PLANE; i++)
        n += m->vox[z * PLANE + i] > 0.5f;
    return n;
}

/* Ensure that the shim reads a multi-segment SEG's structure: 2 segments
 * numbered 1, 2 with their labels, 4 frames referencing 2, 1, 1, 1
 * (Per-frame SegmentIdentificationSequence). */
static void seg_read__two_segments__frame_map(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp = seg_write(ctx, dir, "s.dcm", true, 0,
                                               false);
    struct mmdx_dicom_seg sg;

    (void)state;
    assert_int_equal(mmdx__dicom_read_seg(ctx, sp, &sg), MMDX_OK);
    assert_int_equal(sg.nseg, 2);
    assert_int_equal(sg.seg[0].number, 1);
    assert_string_equal(sg.seg[0].label, "Liver");
    assert_int_equal(sg.seg[1].number, 2);
    assert_string_equal(sg.seg[1].label, "Tumour");
    assert_string_equal(sg.seg[0].type_code, "SCT:10200004");
    assert_string_equal(sg.seg[1].type_code, "SCT:108369006");
    assert_int_equal(sg.nframes, 4);
    assert_int_equal(sg.frame_segment[0], 2);
    assert_int_equal(sg.frame_segment[1], 1);
    assert_int_equal(sg.frame_segment[3], 1);
    assert_false(sg.fractional);
    mmdx__dicom_seg_fini(&sg);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that mask_label selects a SEG segment by SegmentNumber or by
 * SegmentLabel (exact, then case-insensitive) and places its frames by
 * position: the tumour (9 voxels) lands on slice 1 although it is the
 * first frame, the liver (64 per slice) on slices 0..2. */
static void seg_mask__by_number_and_label__placed(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    const char *tum[3] = { "2", "Tumour", "TUMOUR" };
    int k;

    (void)state;
    sp = seg_write(ctx, dir, "s.dcm", true, 0, false);
    memset(&o, 0, sizeof(o));
    for (k = 0; k < 3; k++) {
        o.label = tum[k];
        assert_int_equal(mmdx__mask_load_label(ctx, sp, img, &o, NULL, NULL,
                                               &m, &kind, &g, NULL, &li),
                         MMDX_OK);
        assert_int_equal(kind, MMDX_MASK_SEG);
        assert_int_equal(g, MMDX_MASK_GEOM_SAME);
        assert_int_equal(count_slice(m, 0), 0);
        assert_int_equal(count_slice(m, 1), 9);
        assert_int_equal(count_slice(m, 2), 0);
        assert_true(m->vox[PLANE + 5 * NX + 5] == 1.0f);
        assert_true(li.used);
        assert_int_equal(li.value, 2);
        assert_int_equal(li.nlabels, 2);
        assert_string_equal(li.present, "1, 2");
        mmdx__image_free(m);
        m = NULL;
    }
    o.label = "liver";
    assert_int_equal(mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_slice(m, 0), 64);
    assert_int_equal(count_slice(m, 1), 64);
    assert_int_equal(count_slice(m, 2), 64);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a SEG's errors name mask_label or the geometry: several
 * segments and no label (E_INVAL listing the numbers), an absent number
 * or name (E_NOTFOUND; the name is not echoed), frames off the image's
 * slices (E_MISMATCH geometry), frames without positions that are not
 * one per slice (E_MISMATCH dim). */
static void seg_mask__errors__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp, *off, *nop;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    const struct mmdx_error *e;

    (void)state;
    sp = seg_write(ctx, dir, "s.dcm", true, 0, false);
    off = seg_write(ctx, dir, "off.dcm", true, 0.9, false);
    nop = seg_write(ctx, dir, "nop.dcm", false, 0, false);
    memset(&o, 0, sizeof(o));
    expect_err(ctx, mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "the DICOM SEG holds 2 segments (numbers 1, 2): set "
               "mask_label");
    assert_null(m);
    o.label = "3";
    expect_err(ctx, mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_NOTFOUND, "mask_label",
               "no segment of the requested SegmentNumber among the 2 "
               "segments of the DICOM SEG (numbers 1, 2)");
    o.label = "Spleen";
    assert_int_equal(mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_E_NOTFOUND);
    e = mmdx_ctx_last_error(ctx);
    assert_non_null(strstr(e->message, "requested SegmentLabel"));
    assert_null(strstr(e->message, "Spleen"));
    mmdx_ctx_clear_error(ctx);
    o.label = "1";
    expect_err(ctx, mmdx__mask_load(ctx, off, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_MISMATCH, "geometry",
               "lies on no slice of the image");
    /* without positions: the liver's 3 frames go to the 3 slices in
     * order; the tumour's 1 frame cannot */
    assert_int_equal(mmdx__mask_load(ctx, nop, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_UNCHECKED);
    assert_int_equal(count_in(m), 192);
    mmdx__image_free(m);
    m = NULL;
    o.label = "2";
    expect_err(ctx, mmdx__mask_load(ctx, nop, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_MISMATCH, "dim",
               "segment 2 has 1 frames for the image's 3 slices");
    mmdx__image_free(img);
    mmdx__free(sp);
    mmdx__free(off);
    mmdx__free(nop);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a FRACTIONAL SEG counts a voxel in when value /
 * MaximumFractionalValue > 0.5 (200/255 in, 100/255 out: 9 voxels), and
 * that a single-segment SEG whose segment is named in the Shared
 * Functional Groups needs no label. */
static void seg_mask__fractional_and_shared__read(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *fp, *one = NULL;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    struct mmdx_dicom_seg_write w;
    static const char *const lab[1] = { "Lesion" };
    uint8_t fr[PLANE * NZ];
    long fs[NZ] = { 1, 1, 1 };
    double pos[3 * NZ];
    int k;

    (void)state;
    fp = seg_write(ctx, dir, "f.dcm", true, 0, true);
    memset(&o, 0, sizeof(o));
    o.label = "2";
    assert_int_equal(mmdx__mask_load(ctx, fp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 9);
    assert_int_equal(count_slice(m, 1), 9);
    mmdx__image_free(m);
    memset(fr, 0, sizeof(fr));
    fr[PLANE + 3] = fr[2 * PLANE + 7] = 1;
    for (k = 0; k < NZ; k++) {
        pos[3 * k] = -4;
        pos[3 * k + 1] = -4;
        pos[3 * k + 2] = 2.0 * k;
    }
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = NY;
    w.cols = NX;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
    w.slice_thickness_mm = 2;
    w.labels = lab;
    w.nseg = 1;
    w.nframes = NZ;
    w.frames = fr;
    w.frame_segment = fs;
    w.frame_pos_mm = pos;
    w.shared_segment = true;
    one = mmdx__path_join(dir, "one.dcm");
    assert_int_equal(mmdx__dicom_write_seg(ctx, one, &w), MMDX_OK);
    o.label = NULL;
    assert_int_equal(mmdx__mask_load_label(ctx, one, img, &o, NULL, NULL, &m,
                                           &kind, &g, NULL, &li), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_SEG);
    assert_false(li.used);
    assert_int_equal(count_in(m), 2);
    assert_true(m->vox[PLANE + 3] == 1.0f && m->vox[2 * PLANE + 7] == 1.0f);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(fp);
    mmdx__free(one);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a LABELMAP segmentation (Label Map Segmentation Storage:
 * one frame per slice, pixel value = SegmentNumber, no segment
 * identification) is read: segment 2 = the 9 tumour voxels, "Liver" =
 * the 183 of label 1, no label with 2 segments refused, and inspect says
 * LABELMAP with every frame counted for every segment. */
static void seg_mask__labelmap__by_value(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp = mmdx__path_join(dir, "lm.dcm");
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const char *const lab[2] = { "Liver", "Tumour" };
    struct mmdx_dicom_seg_write w;
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    float v[PLANE * NZ];
    uint8_t fr[PLANE * NZ];
    double pos[3 * NZ];
    struct kv k;
    int i;

    (void)state;
    labels3(v);
    for (i = 0; i < PLANE * NZ; i++)
        fr[i] = (uint8_t)(v[i] == 5 ? 0 : v[i]);
    for (i = 0; i < NZ; i++) {
        pos[3 * i] = pos[3 * i + 1] = -4;
        pos[3 * i + 2] = 2.0 * i;
    }
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = NY;
    w.cols = NX;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
    w.slice_thickness_mm = 2;
    w.labels = lab;
    w.nseg = 2;
    w.labelmap = true;
    w.nframes = NZ;
    w.frames = fr;
    w.frame_pos_mm = pos;
    assert_int_equal(mmdx__dicom_write_seg(ctx, sp, &w), MMDX_OK);
    seed_copy(sp, "labelmap", 0);
    memset(&o, 0, sizeof(o));
    o.label = "2";
    assert_int_equal(mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_SEG);
    assert_int_equal(count_in(m), 9);
    assert_int_equal(count_slice(m, 1), 9);
    mmdx__image_free(m);
    o.label = "liver";
    assert_int_equal(mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 183);
    mmdx__image_free(m);
    m = NULL;
    o.label = NULL;
    expect_err(ctx, mmdx__mask_load(ctx, sp, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_INVAL, "mask_label",
               "holds 2 segments (numbers 1, 2)");
    memset(&k, 0, sizeof(k));
    assert_int_equal(mmdx_inspect(ctx, sp, keep_kv, &k), MMDX_OK);
    assert_non_null(strstr(k.text, "seg.type\tLABELMAP\n"));
    assert_non_null(strstr(k.text, "seg.segment.2\tframes 3, type -, "
                                   "label set (not shown)\n"));
    mmdx__image_free(img);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that BINARY frames whose bit count is not a multiple of 8 (5 x 3
 * = 15 bits: frames start mid-byte, PS3.5 8.1.1) are unpacked from the
 * right bits: a diagonal on every frame of a 5 x 3 x 3 grid, placed by
 * position on an image built in memory. */
static void seg_mask__unaligned_bits__unpacked(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp = mmdx__path_join(dir, "u.dcm");
    struct mmdx_image *img = mmdx__image_new(), *m = NULL;
    struct mmdx_dicom_seg_write w;
    struct mmdx_mask_label li;
    enum mmdx_mask_geom g;
    static const char *const lab[1] = { "Line" };
    uint8_t fr[15 * 3];
    long fs[3] = { 1, 1, 1 };
    double pos[9];
    size_t i, k;

    (void)state;
    assert_non_null(img);
    assert_int_equal(mmdx__image_alloc(ctx, img, 5, 3, 3, 1, 0), MMDX_OK);
    img->pos_mm = mmdx__calloc(9, sizeof(double));
    assert_non_null(img->pos_mm);
    memset(fr, 0, sizeof(fr));
    for (k = 0; k < 3; k++) {
        img->pos_mm[3 * k + 2] = pos[3 * k + 2] = 3.0 * (double)k;
        pos[3 * k] = pos[3 * k + 1] = 0;
        for (i = 0; i < 3; i++)
            fr[15 * k + 5 * i + (i + k) % 5] = 1;
    }
    img->row_cos[0] = img->col_cos[1] = img->normal[2] = 1;
    img->spacing_mm[0] = img->spacing_mm[1] = 1;
    img->spacing_mm[2] = 3;
    img->has_orientation = true;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = 3;
    w.cols = 5;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 1;
    w.slice_thickness_mm = 3;
    w.labels = lab;
    w.nseg = 1;
    w.nframes = 3;
    w.frames = fr;
    w.frame_segment = fs;
    w.frame_pos_mm = pos;
    assert_int_equal(mmdx__dicom_write_seg(ctx, sp, &w), MMDX_OK);
    assert_int_equal(mmdx__seg_mask(ctx, sp, img, NULL, 0, NULL, NULL, &m,
                                    &g, &li), MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_SAME);
    for (i = 0; i < 45; i++)
        assert_true(m->vox[i] == (float)fr[i]);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the label selection and the SEG reader return E_NOMEM at
 * every failed allocation and leak nothing (ASan), then succeed. */
static void mask_label__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp, *sp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    float v[PLANE * NZ];
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    enum mmdx_status st = MMDX_E_NOMEM;
    int n, pass;

    (void)state;
    labels3(v);
    mp = nii_write(dir, "labels.nii", v, 2);
    sp = seg_write(ctx, dir, "s.dcm", true, 0, false);
    memset(&o, 0, sizeof(o));
    o.label = "2";
    for (pass = 0; pass < 2; pass++) {
        st = MMDX_E_NOMEM;
        for (n = 1; n < 100000 && st == MMDX_E_NOMEM; n++) {
            mmdx_ctx_clear_error(ctx);
            mmdx__alloc_fail_at(n);
            st = mmdx__mask_load(ctx, pass ? sp : mp, img, &o, NULL, NULL,
                                 &m, &kind, &g, NULL);
            mmdx__alloc_fail_at(0);
            if (st == MMDX_E_NOMEM)
                assert_null(m);
        }
        assert_int_equal(st, MMDX_OK);
        assert_true(n > 3);
        assert_int_equal(count_in(m), 9);
        mmdx__image_free(m);
        m = NULL;
    }
    mmdx__image_free(img);
    mmdx__free(mp);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- plumbing: pipeline parameter, per-patient label, manifest ------------ */

struct feats {
    double source, voxels;
    char *err;          /* the last error line */
    bool errors_ok;     /* else an error fails the test */
};

static void keep_feat(void *user, const char *name, double v)
{
    struct feats *f = user;

    if (!strcmp(name, "image.roi.source"))
        f->source = v;
    else if (!strcmp(name, "image.roi.voxels"))
        f->voxels = v;
}

static void keep_err(void *user, const char *line)
{
    struct feats *f = user;

    if (!f->errors_ok)
        fail_msg("unexpected error: %s", line);
    mmdx__free(f->err);
    f->err = mmdx__strdup(line);
}

/* Ensure that load.image's mask_label parameter reaches the mask (ROI of
 * 9 voxels with "2"), that the per-patient label (mmdx features
 * --mask-label, the manifest column) overrides it ("1": 183), and that
 * without any label the multi-label SEG fails the image naming
 * mask_label. */
static void load_image__mask_label__param_and_override(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp, *ct, *p1, *p0;
    struct mmdx_image *img = ct_series(ctx, dir);
    struct mmdx_patient_files pf;
    struct mmdx_pipeline *pipe = NULL;
    struct feats f = { NAN, NAN, NULL, false };
    float v[PLANE * NZ];
    char *np;

    (void)state;
    sp = seg_write(ctx, dir, "s.dcm", true, 0, false);
    labels3(v);
    np = nii_write(dir, "labels.nii", v, 2);
    test_write(dir, "p1.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\">\n"
               "    <param name=\"mask_label\" value=\"2\"/>\n"
               "  </stage>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    test_write(dir, "p0.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\"/>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    p1 = mmdx__path_join(dir, "p1.xml");
    p0 = mmdx__path_join(dir, "p0.xml");
    ct = mmdx__path_join(dir, "ct");
    memset(&pf, 0, sizeof(pf));
    pf.image = ct;
    pf.mask = sp;
    pf.deid_warn = 1;
    assert_int_equal(mmdx_pipeline_load(ctx, p1, &pipe), MMDX_OK);
    assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat, keep_err,
                                         &f), MMDX_OK);
    assert_true(f.source == 1);
    assert_true(f.voxels == 9);
    pf.mask = np;
    pf.mask_label = "1";
    assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat, keep_err,
                                         &f), MMDX_OK);
    assert_true(f.voxels == 183);
    mmdx_pipeline_free(pipe);
    pipe = NULL;
    assert_int_equal(mmdx_pipeline_load(ctx, p0, &pipe), MMDX_OK);
    pf.mask = sp;
    pf.mask_label = NULL;
    f.errors_ok = true;
    assert_int_not_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat,
                                             keep_err, &f), MMDX_OK);
    assert_non_null(f.err);
    assert_non_null(strstr(f.err, "load.image: E_INVAL: "));
    assert_non_null(strstr(f.err, "holds 2 segments (numbers 1, 2): set "
                                  "mask_label"));
    mmdx_ctx_clear_error(ctx);
    mmdx__free(f.err);
    mmdx_pipeline_free(pipe);
    mmdx__image_free(img);
    mmdx__free(sp);
    mmdx__free(np);
    mmdx__free(ct);
    mmdx__free(p1);
    mmdx__free(p0);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the manifest's mask_label column is read (empty = none),
 * and that one given without a mask or holding control characters fails
 * that patient's image (a problem of the row), not the manifest. */
static void manifest__mask_label__read_and_checked(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mf = mmdx__path_join(dir, "manifest.tsv");
    struct mmdx_manifest *m = NULL;
    char buf[1024];

    (void)state;
    test_write(dir, "manifest.tsv",
               "patient_id\timage\tmask\tmask_label\n"
               "P1\ta.dcm\tm.nii\t2\n"
               "P2\ta.dcm\tm.nii\t\n");
    assert_int_equal(mmdx_manifest_read(ctx, mf, false, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_count(m), 2);
    mmdx_manifest_free(m);
    m = NULL;
    /* a mask_label problem fails that patient's image, not the manifest */
    test_write(dir, "manifest.tsv",
               "patient_id\timage\tmask\tmask_label\n"
               "P1\ta.dcm\t\tLiver\n");
    assert_int_equal(mmdx_manifest_read(ctx, mf, false, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_nproblems(m, 0), 1);
    assert_int_equal(m->rows[0].problems[0].modality, MMDX_MOD_IMAGE);
    assert_string_equal(mmdx_manifest_problem(m, 0, 0, NULL, buf,
                                              sizeof(buf)) +
                            strlen(mf),
                        ":2: manifest: mask_label: mask_label given "
                        "without a mask");
    mmdx_manifest_free(m);
    m = NULL;
    test_write(dir, "manifest.tsv",
               "patient_id\timage\tmask\tmask_label\n"
               "P1\ta.dcm\tm.nii\tLi\033ver\n");
    assert_int_equal(mmdx_manifest_read(ctx, mf, false, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_nproblems(m, 0), 1);
    assert_int_equal(m->rows[0].problems[0].modality, MMDX_MOD_IMAGE);
    assert_non_null(strstr(m->rows[0].problems[0].text,
                           "printable characters"));
    assert_null(m->rows[0].mask_label);
    mmdx_manifest_free(m);
    mmdx__free(mf);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- the cohort scan: mask candidates ------------------------------------ */

struct logs {
    char text[2048];
};

static void keep_warn(void *user, enum mmdx_log_level level,
                      const char *prefix, const char *msg)
{
    struct logs *l = user;
    size_t n = strlen(l->text);

    (void)prefix;
    if (level == MMDX_LOG_WARN)
        snprintf(l->text + n, sizeof(l->text) - n, "%s\n", msg);
}

/* An RTSTRUCT with one ROI (a square on the middle slice) at dir/name. */
static void rt_write(struct mmdx_ctx *ctx, const char *dir, const char *name)
{
    static const double sq[12] = { -3, -3, 2, 1, -3, 2, 1, 1, 2, -3, 1, 2 };
    const double *pts[1] = { sq };
    size_t npts[1] = { 4 };
    struct mmdx_dicom_rt_roi roi;
    struct mmdx_dicom_rt_write w;
    char *p = mmdx__path_join(dir, name);

    memset(&roi, 0, sizeof(roi));
    roi.name = "GTV";
    roi.ncontours = 1;
    roi.npts = npts;
    roi.pts_mm = pts;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rois = &roi;
    w.nroi = 1;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, p, &w), MMDX_OK);
    mmdx__free(p);
}

static void load_nz(struct mmdx_ctx *ctx, const char *dir, const char *rel,
                    size_t nz)
{
    char *p = mmdx__path_join(dir, rel);
    struct mmdx_image *img = NULL;

    assert_int_equal(mmdx__dicom_load(ctx, p, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(img->nz, nz);
    assert_int_equal(img->nfiles, nz);
    mmdx__image_free(img);
    mmdx__free(p);
}

/* Ensure that the cohort scan puts a patient's only mask in the mask
 * column and leaves it out of the image: a SEG beside a CT series (P1),
 * a NIfTI-1 label image beside a series sub-folder (P2), an RTSTRUCT
 * beside the series (P4), a SEG inside a series sub-folder (P5), a SEG
 * beside a single slice (P6: the slice is the image, not the folder);
 * that two candidates (P3: SEG + NIfTI-1) leave mask empty, warn naming
 * the folder and the count only, and make the scan E_MISMATCH like two
 * files of one modality; that the manifest reads back with the masks;
 * and that the series loader skips the SEG and RTSTRUCT (3 slices from 3
 * files, no "mixed series"). */
static void scan__mask_candidates__mask_column(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *c = mmdx__path_join(dir, "c"), *p, *s;
    struct mmdx_manifest *m = NULL;
    struct logs lg;
    float v[PLANE * NZ];
    size_t n = 0;
    FILE *fp;
    long len;

    (void)state;
    labels3(v);
#define SUB(rel) (mmdx__freep(&p), p = mmdx__path_join(c, rel))
    p = NULL;
    ct_files(ctx, SUB("P1"));
    mmdx__free(seg_write(ctx, p, "seg.dcm", true, 0, false));
    ct_files(ctx, SUB("P2/ct"));
    mmdx__free(nii_write(SUB("P2"), "labels.nii", v, 2));
    ct_files(ctx, SUB("P3"));
    mmdx__free(seg_write(ctx, p, "seg.dcm", true, 0, false));
    mmdx__free(nii_write(p, "labels.nii", v, 2));
    ct_files(ctx, SUB("P4"));
    rt_write(ctx, p, "rs.dcm");
    ct_files(ctx, SUB("P5/ct"));
    mmdx__free(seg_write(ctx, p, "seg.dcm", true, 0, false));
    ct_files(ctx, SUB("P6"));
    mmdx__free(seg_write(ctx, p, "seg.dcm", true, 0, false));
    s = mmdx__path_join(p, "1.dcm");
    assert_int_equal(unlink(s), 0);
    mmdx__free(s);
    s = mmdx__path_join(p, "2.dcm");
    assert_int_equal(unlink(s), 0);
    mmdx__free(s);
#undef SUB
    mmdx__free(p);

    memset(&lg, 0, sizeof(lg));
    mmdx_ctx_set_log(ctx, keep_warn, &lg, MMDX_LOG_WARN);
    expect_err(ctx, mmdx_manifest_scan(ctx, c, NULL, &n), MMDX_E_MISMATCH,
               "", "several mask candidates; those cells were left empty");
    assert_int_equal(n, 6);
    assert_string_equal(lg.text, "P3: 2 mask candidates (DICOM SEG, "
                                 "RTSTRUCT, NIfTI-1): mask left empty, "
                                 "fill it in by hand\n");
    p = mmdx__path_join(c, "manifest.tsv");
    fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    rewind(fp);
    s = mmdx__calloc(1, (size_t)len + 1);
    assert_int_equal(fread(s, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    assert_string_equal(s,
        "patient_id\timage\tecg\teeg\trecord\tmask\tmask_label\tlabel\tsplit\n"
        "P1\tP1\t\t\t\tP1/seg.dcm\t\t\t\n"
        "P2\tP2/ct\t\t\t\tP2/labels.nii\t\t\t\n"
        "P3\tP3\t\t\t\t\t\t\t\n"
        "P4\tP4\t\t\t\tP4/rs.dcm\t\t\t\n"
        "P5\tP5/ct\t\t\t\tP5/ct/seg.dcm\t\t\t\n"
        "P6\tP6/0.dcm\t\t\t\tP6/seg.dcm\t\t\t\n");
    mmdx__free(s);
    assert_int_equal(mmdx_manifest_read(ctx, p, true, &m), MMDX_OK);
    assert_int_equal(mmdx_manifest_count(m), 6);
    s = strstr(mmdx_manifest_path(m, 0, "mask"), "c/P1/seg.dcm");
    assert_non_null(s);
    assert_null(mmdx_manifest_path(m, 2, "mask"));
    mmdx_manifest_free(m);
    mmdx__free(p);
    load_nz(ctx, c, "P1", NZ);
    load_nz(ctx, c, "P4", NZ);
    load_nz(ctx, c, "P5/ct", NZ);
    {
        static const struct {
            const char *rel;
            enum mmdx_dicom_kind k;
        } kinds[] = { { "P1/seg.dcm", MMDX_DICOM_KIND_SEG },
                      { "P4/rs.dcm", MMDX_DICOM_KIND_RTSTRUCT },
                      { "P1/0.dcm", MMDX_DICOM_KIND_OTHER },
                      { "P2/labels.nii", MMDX_DICOM_KIND_OTHER },
                      { "nonexistent", MMDX_DICOM_KIND_OTHER } };
        size_t i;

        for (i = 0; i < MMDX_ARRAY_SIZE(kinds); i++) {
            p = mmdx__path_join(c, kinds[i].rel);
            assert_int_equal(mmdx__dicom_kind(p), kinds[i].k);
            mmdx__free(p);
        }
    }
    mmdx__free(c);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- NIfTI-1 detection and inspection ------------------------------------ */

/* Ensure that a NIfTI-1 label image is detected by content (plain, and
 * gzip-compressed under a name without .gz) with no input modality, and
 * that mmdx inspect prints its grid, type, spacing, xform codes and the
 * labels with their voxel counts (1:183 2:9 5:1, 575 background), saying
 * the free-text fields are filled but never printing them. */
static void nifti_inspect__label_image__summary(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp, *gp, cmd[2200];
    float v[PLANE * NZ];
    enum mmdx_format fmt;
    struct kv k;

    (void)state;
    labels3(v);
    mp = nii_write(dir, "labels.nii", v, 2);
    gp = mmdx__path_join(dir, "labels.bin");
    snprintf(cmd, sizeof(cmd), "gzip -c '%s' > '%s'", mp, gp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(mmdx_detect(ctx, mp, &fmt), MMDX_OK);
    assert_int_equal(fmt, MMDX_FMT_NIFTI);
    assert_string_equal(mmdx_format_name(fmt), "nifti");
    assert_null(mmdx_format_modality(fmt));
    assert_int_equal(mmdx_detect(ctx, gp, &fmt), MMDX_OK);
    assert_int_equal(fmt, MMDX_FMT_NIFTI);
    assert_null(mmdx_detect_modality(ctx, gp, &fmt));
    memset(&k, 0, sizeof(k));
    assert_int_equal(mmdx_inspect(ctx, gp, keep_kv, &k), MMDX_OK);
    assert_non_null(strstr(k.text, "format\tnifti\nmodality\t-\n"));
    assert_non_null(strstr(k.text, "nifti.compression\tgzip\n"));
    assert_non_null(strstr(k.text, "dims\t16 16 3\n"));
    assert_non_null(strstr(k.text, "nifti.datatype\t2 (uint8)\n"));
    assert_non_null(strstr(k.text, "pixdim_mm\t0.5 0.5 2\n"));
    assert_non_null(strstr(k.text, "nifti.qform_code\t0 (unknown)\n"));
    assert_non_null(strstr(k.text, "nifti.sform_code\t0 (unknown)\n"));
    assert_non_null(strstr(k.text, "nifti.free_text\tdescrip, aux_file "
                                   "(contents not shown"));
    assert_non_null(strstr(k.text, "label_count\t3\nlabels\t1:183 2:9 "
                                   "5:1\nbackground_voxels\t575\n"));
    assert_null(strstr(k.text, "SYNTHETIC"));
    assert_null(strstr(k.text, "AUX TEXT"));
    mmdx__free(mp);
    mmdx__free(gp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that mmdx inspect on a SEG lists its segments by number with
 * their frame counts and SNOMED type codes (liver 10200004: 3 frames,
 * neoplasm 108369006: 1) and never prints a SegmentLabel. */
static void seg_inspect__two_segments__numbers_and_codes(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *sp = seg_write(ctx, dir, "s.dcm", true, 0,
                                               false);
    struct kv k;

    (void)state;
    memset(&k, 0, sizeof(k));
    assert_int_equal(mmdx_inspect(ctx, sp, keep_kv, &k), MMDX_OK);
    assert_non_null(strstr(k.text, "format\tdicom\n"));
    assert_non_null(strstr(k.text, "seg.type\tBINARY\nseg.segments\t2\n"
                                   "seg.segment_numbers\t1, 2\n"));
    assert_non_null(strstr(k.text, "seg.segment.1\tframes 3, type "
                                   "SCT:10200004, label set (not shown)\n"));
    assert_non_null(strstr(k.text, "seg.segment.2\tframes 1, type "
                                   "SCT:108369006, label set (not shown)\n"));
    assert_null(strstr(k.text, "Liver"));
    assert_null(strstr(k.text, "Tumour"));
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- mask_resample=nearest ---------------------------------------------- */

/* Write a uint8 NIfTI-1 file of n[0] x n[1] x n[2] voxels whose sform puts
 * voxel (i, j, k) at LPS o + i ax + j ay + k az (the file holds RAS:
 * x and y negated). [transfer] the path. */
static char *nii_geom(const char *dir, const char *name, const size_t n[3],
                      const uint8_t *v, const double o[3],
                      const double ax[3], const double ay[3],
                      const double az[3])
{
    size_t nv = n[0] * n[1] * n[2], len = 352 + nv, i;
    uint8_t *b = mmdx__calloc(1, len);
    char *path = mmdx__path_join(dir, name);
    const double *axes[3] = { ax, ay, az };
    FILE *fp;
    int r, a;

    assert_non_null(b);
    put_le(b, 348, 4);
    put_le(b + 40, 3, 2);
    for (a = 0; a < 3; a++)
        put_le(b + 42 + 2 * a, n[a], 2);
    put_le(b + 48, 1, 2);
    put_le(b + 70, 2, 2);                    /* uint8 */
    put_le(b + 72, 8, 2);
    put_f32(b + 76, 1);
    for (a = 0; a < 3; a++)
        put_f32(b + 80 + 4 * a,
                (float)sqrt(axes[a][0] * axes[a][0] +
                            axes[a][1] * axes[a][1] +
                            axes[a][2] * axes[a][2]));
    put_f32(b + 108, 352);
    put_f32(b + 112, 1);
    put_le(b + 254, 1, 2);                   /* sform_code: scanner */
    for (r = 0; r < 3; r++) {
        double f = r < 2 ? -1 : 1;

        for (a = 0; a < 3; a++)
            put_f32(b + 280 + 16 * r + 4 * a, (float)(f * axes[a][r]));
        put_f32(b + 280 + 16 * r + 12, (float)(f * o[r]));
    }
    memcpy(b + 344, "n+1", 4);
    for (i = 0; i < nv; i++)
        b[352 + i] = v[i];
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
    mmdx__free(b);
    return path;
}

/* An in-memory mask of n[0] x n[1] x n[2] voxels, value of voxel
 * (a, b, c) = 1 + a + 16 b + 256 c, voxel (a, b, c) at LPS
 * o + a 0.5 rc + b 0.5 cc + c (0, 0, 2). */
static struct mmdx_image *mem_mask(struct mmdx_ctx *ctx, const size_t n[3],
                                   const double o[3], const double rc[3],
                                   const double cc[3])
{
    struct mmdx_image *m = mmdx__image_new();
    size_t a, b, c;
    int r;

    assert_non_null(m);
    assert_int_equal(mmdx__image_alloc(ctx, m, n[0], n[1], n[2], 1, 0),
                     MMDX_OK);
    m->pos_mm = mmdx__calloc(3 * n[2], sizeof(double));
    assert_non_null(m->pos_mm);
    for (c = 0; c < n[2]; c++) {
        for (r = 0; r < 3; r++)
            m->pos_mm[3 * c + r] = o[r];
        m->pos_mm[3 * c + 2] += 2.0 * (double)c;
        for (b = 0; b < n[1]; b++)
            for (a = 0; a < n[0]; a++)
                m->vox[a + n[0] * (b + n[1] * c)] =
                    (float)(1 + a + 16 * b + 256 * c);
    }
    for (r = 0; r < 3; r++) {
        m->row_cos[r] = rc[r];
        m->col_cos[r] = cc[r];
    }
    m->normal[2] = 1;
    m->spacing_mm[0] = m->spacing_mm[1] = 0.5;
    m->spacing_mm[2] = 2;
    m->slice_thickness_mm = 2;
    m->has_orientation = true;
    return m;
}

/* The value of image voxel (i, j, k). */
static float at(const struct mmdx_image *m, size_t i, size_t j, size_t k)
{
    return m->vox[i + m->nx * (j + m->ny * k)];
}

/* The CT series of ct_series is at LPS (-4 + 0.5 i, -4 + 0.5 j, 2 k). A
 * mask of 8x8x3 voxels of 1 x 1 x 2 mm whose voxel (0, 0, 0) is centred
 * at (-3.75, -3.75, 0): image voxel i lies at mask index 0.5 i - 0.25,
 * so mask voxel a covers image voxels 2a and 2a + 1 (no halfway case).
 * The block a = 2..4, b = 1..3 on slice 1 is image columns 4..9, rows
 * 2..7 on slice 1: 6 x 6 = 36 voxels. */
static char *nii_2x(const char *dir, const double o[3])
{
    static const double ax[3] = { 1, 0, 0 }, ay[3] = { 0, 1, 0 },
                        az[3] = { 0, 0, 2 };
    static const size_t n[3] = { 8, 8, 3 };
    uint8_t v[8 * 8 * 3];
    size_t a, b;

    memset(v, 0, sizeof(v));
    for (b = 1; b <= 3; b++)
        for (a = 2; a <= 4; a++)
            v[64 + 8 * b + a] = 1;
    return nii_geom(dir, "m2x.nii", n, v, o, ax, ay, az);
}

/* Ensure that a NIfTI mask at twice the image's voxel size is refused by
 * default (E_MISMATCH, field geometry, "mask voxel size along i (x,
 * columns) is 2 image voxels") and with mask_resample=nearest becomes the
 * hand-computed 36 voxels: columns 4..9, rows 2..7 of slice 1 (geom
 * RESAMPLED, values 0/1 as in the file). */
static void mask_resample__nifti_2x__hand_count(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const double o[3] = { -3.75, -3.75, 0 };
    struct mmdx_mask_opts opt;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    size_t i, j, k;

    (void)state;
    mp = nii_2x(dir, o);
    memset(&opt, 0, sizeof(opt));
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &opt, NULL, NULL, &m,
                                    &kind, &g, NULL), MMDX_E_MISMATCH,
               "geometry", "mask voxel size along i (x, columns) is 2 image "
               "voxels (a different spacing)");
    assert_null(m);
    opt.resample = true;
    assert_int_equal(mmdx__mask_load(ctx, mp, img, &opt, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_NIFTI);
    assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
    assert_int_equal(m->nx, NX);
    assert_int_equal(m->nz, NZ);
    assert_int_equal(count_in(m), 36);
    for (k = 0; k < NZ; k++)
        for (j = 0; j < NY; j++)
            for (i = 0; i < NX; i++)
                assert_true(at(m, i, j, k) ==
                            (k == 1 && i >= 4 && i <= 9 && j >= 2 &&
                             j <= 7 ? 1.0f : 0.0f));
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(mp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a mask offset by exactly half an image voxel is refused by
 * default ("offset by 0.5 of an image voxel") and resampled
 * deterministically: with its origin +0.25 mm along x image column i is
 * at mask index i - 0.5, which rounds half away from zero to i (column 0,
 * at -0.5, falls outside: 0); with -0.25 mm, i + 0.5 rounds to i + 1
 * (column 15, at 15.5, outside). */
static void mask_resample__half_voxel__rounds_up(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_image *img = ct_series(ctx, dir), *src, *m = NULL;
    static const double rc[3] = { 1, 0, 0 }, cc[3] = { 0, 1, 0 };
    static const size_t n[3] = { NX, NY, NZ };
    double o[3] = { -3.75, -4, 0 };
    enum mmdx_mask_geom g;
    size_t i, j, k;
    int pass;

    (void)state;
    for (pass = 0; pass < 2; pass++) {
        o[0] = pass ? -4.25 : -3.75;
        src = mem_mask(ctx, n, o, rc, cc);
        expect_err(ctx, mmdx__mask_align_ex(ctx, "m.nii", img, src, false,
                                            &m, &g), MMDX_E_MISMATCH,
                   "geometry", pass ? "mask voxel centres are offset by 0.5 "
                                      "of an image voxel along i (x, columns)"
                                    : "mask voxel centres are offset by -0.5 "
                                      "of an image voxel along i (x, "
                                      "columns)");
        assert_int_equal(mmdx__mask_align_ex(ctx, "m.nii", img, src, true,
                                             &m, &g), MMDX_OK);
        assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
        for (k = 0; k < NZ; k++)
            for (j = 0; j < NY; j++)
                for (i = 0; i < NX; i++) {
                    size_t a = pass ? i + 1 : i;
                    float want = pass ? (i == NX - 1 ? 0.0f
                                                     : (float)(1 + a + 16 * j +
                                                               256 * k))
                                      : (i == 0 ? 0.0f
                                                : (float)(1 + a + 16 * j +
                                                          256 * k));

                    assert_true(at(m, i, j, k) == want);
                }
        mmdx__image_free(m);
        m = NULL;
        mmdx__image_free(src);
    }
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a mask rotated 90 degrees in-plane takes the exact path
 * even with resampling on (geom REORDERED: mask (a, b) is image
 * (15 - b, a)), and that one rotated 30 degrees is refused by default
 * ("does not run along an image axis") and resampled: spot voxels match
 * the mapping computed by hand (mask origin at LPS (0, 0, 0), rows along
 * (cos 30, sin 30, 0), columns along (-sin 30, cos 30, 0), 0.5 mm:
 * index a = (x cos30 + y sin30) / 0.5, b = (-x sin30 + y cos30) / 0.5),
 * and every voxel matches the same formula evaluated voxel by voxel. */
static void mask_resample__rotated__exact_or_resampled(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_image *img = ct_series(ctx, dir), *src, *m = NULL;
    static const size_t n[3] = { NX, NY, NZ };
    const double c30 = sqrt(3.0) / 2, s30 = 0.5;
    double rc[3] = { 0, 1, 0 }, cc[3] = { -1, 0, 0 },
           o[3] = { 3.5, -4, 0 };
    enum mmdx_mask_geom g;
    size_t i, j, k, a, b, nin = 0;

    (void)state;
    src = mem_mask(ctx, n, o, rc, cc);
    assert_int_equal(mmdx__mask_align_ex(ctx, "m.nii", img, src, true, &m,
                                         &g), MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_REORDERED);
    for (k = 0; k < NZ; k++)
        for (b = 0; b < NY; b++)
            for (a = 0; a < NX; a++)
                assert_true(at(m, 15 - b, a, k) ==
                            (float)(1 + a + 16 * b + 256 * k));
    mmdx__image_free(m);
    mmdx__image_free(src);
    rc[0] = c30;
    rc[1] = s30;
    cc[0] = -s30;
    cc[1] = c30;
    o[0] = o[1] = 0;
    src = mem_mask(ctx, n, o, rc, cc);
    expect_err(ctx, mmdx__mask_align_ex(ctx, "m.nii", img, src, false, &m,
                                        &g), MMDX_E_MISMATCH, "geometry",
               "mask axis i (x, columns) does not run along an image axis");
    assert_int_equal(mmdx__mask_align_ex(ctx, "m.nii", img, src, true, &m,
                                         &g), MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
    /* (12, 12, 0) at (2, 2, 0): a = 5.46 -> 5, b = 1.46 -> 1 */
    assert_true(at(m, 12, 12, 0) == 1 + 5 + 16 * 1);
    /* (8, 14, 2) at (0, 3, 4): a = 3, b = 5.20 -> 5, c = 2 */
    assert_true(at(m, 8, 14, 2) == 1 + 3 + 16 * 5 + 256 * 2);
    /* (12, 8, 1) at (2, 0, 2): b = -2: outside */
    assert_true(at(m, 12, 8, 1) == 0);
    /* (8, 8, 1) at the origin: mask voxel (0, 0, 1) */
    assert_true(at(m, 8, 8, 1) == 1 + 256);
    for (k = 0; k < NZ; k++)
        for (j = 0; j < NY; j++)
            for (i = 0; i < NX; i++) {
                double x = -4 + 0.5 * (double)i, y = -4 + 0.5 * (double)j;
                double fa = (x * c30 + y * s30) / 0.5;
                double fb = (-x * s30 + y * c30) / 0.5;
                float want = 0;

                if (fa > -0.5 && fa < 15.5 && fb > -0.5 && fb < 15.5) {
                    want = (float)(1 + lround(fa) + 16 * lround(fb) +
                                   256 * (long)k);
                    nin++;
                }
                assert_true(at(m, i, j, k) == want);
            }
    assert_true(nin > 100);
    mmdx__image_free(m);
    mmdx__image_free(src);
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* A one-segment SEG of 16x16 frames with 1 mm pixels (the image's are
 * 0.5 mm), frame (0, 0) centred at (-3.75, -3.75): SEG column a covers
 * image columns 2a and 2a + 1, so the square a = 1..3, b = 2..5 is image
 * columns 2..7, rows 4..11 (48 voxels per slice); SEG columns 8..15 lie
 * beyond the image. Frames at z = z0 + 2 f for each f in zs (nz of
 * them). */
static char *seg_2x(struct mmdx_ctx *ctx, const char *dir, const char *name,
                    const double *zs, size_t nz)
{
    static const char *const lab[1] = { "Lesion" };
    uint8_t fr[3 * PLANE];
    long fs[3] = { 1, 1, 1 };
    double pos[9];
    struct mmdx_dicom_seg_write w;
    char *path = mmdx__path_join(dir, name);
    size_t f, a, b;

    memset(fr, 0, sizeof(fr));
    for (f = 0; f < nz; f++) {
        for (b = 2; b <= 5; b++)
            for (a = 1; a <= 3; a++)
                fr[f * PLANE + b * NX + a] = 1;
        pos[3 * f] = pos[3 * f + 1] = -3.75;
        pos[3 * f + 2] = zs[f];
    }
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = NY;
    w.cols = NX;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 1;
    w.slice_thickness_mm = 2;
    w.labels = lab;
    w.nseg = 1;
    w.nframes = nz;
    w.frames = fr;
    w.frame_segment = fs;
    w.frame_pos_mm = pos;
    assert_int_equal(mmdx__dicom_write_seg(ctx, path, &w), MMDX_OK);
    return path;
}

/* Ensure that a SEG whose PixelSpacing differs from the image's is
 * refused by default (geometry: "the SEG's rows (orientation and
 * spacing) differ") and resampled frame by frame with nearest: 48 voxels
 * (columns 2..7, rows 4..11) on each slice that has a frame; with the
 * frame of z = 2 left out (empty frames may be omitted) slice 1 stays
 * empty (2 mm from both neighbours, not within half the 2 mm
 * thickness); frames shifted 100 mm away are "outside the image". */
static void mask_resample__seg_spacing__per_frame(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *s3, *s2, *sf;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const double z3[3] = { 0, 2, 4 }, z2[2] = { 0, 4 },
                        zf[2] = { 100, 102 };
    struct mmdx_mask_opts opt;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    size_t i, j, k;

    (void)state;
    s3 = seg_2x(ctx, dir, "s3.dcm", z3, 3);
    s2 = seg_2x(ctx, dir, "s2.dcm", z2, 2);
    sf = seg_2x(ctx, dir, "sf.dcm", zf, 2);
    memset(&opt, 0, sizeof(opt));
    expect_err(ctx, mmdx__mask_load(ctx, s3, img, &opt, NULL, NULL, &m,
                                    &kind, &g, NULL), MMDX_E_MISMATCH,
               "geometry", "the SEG's rows (orientation and spacing) differ "
               "from the image's");
    opt.resample = true;
    assert_int_equal(mmdx__mask_load(ctx, s3, img, &opt, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_SEG);
    assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
    assert_int_equal(count_in(m), 3 * 48);
    for (k = 0; k < NZ; k++)
        for (j = 0; j < NY; j++)
            for (i = 0; i < NX; i++)
                assert_true(at(m, i, j, k) ==
                            (i >= 2 && i <= 7 && j >= 4 && j <= 11 ? 1.0f
                                                                   : 0.0f));
    mmdx__image_free(m);
    m = NULL;
    assert_int_equal(mmdx__mask_load(ctx, s2, img, &opt, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
    assert_int_equal(count_slice(m, 0), 48);
    assert_int_equal(count_slice(m, 1), 0);
    assert_int_equal(count_slice(m, 2), 48);
    assert_true(at(m, 2, 4, 2) == 1 && at(m, 8, 4, 2) == 0);
    mmdx__image_free(m);
    m = NULL;
    expect_err(ctx, mmdx__mask_load(ctx, sf, img, &opt, NULL, NULL, &m,
                                    &kind, &g, NULL), MMDX_E_MISMATCH,
               "geometry", "lie outside the image: no image voxel centre "
               "falls on them");
    assert_null(m);
    mmdx__image_free(img);
    mmdx__free(s3);
    mmdx__free(s2);
    mmdx__free(sf);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a DICOM label image on another grid (8x8x3 slices of 1 mm
 * pixels, pixel (0, 0) centred at (-3.75, -3.75): nii_2x's geometry;
 * label 2 = pixels a = 2..4, b = 1..3 of slice 1, label 1 = pixel (0, 0)
 * of slice 0) is refused by default (its grid differs) and with
 * resampling has mask_label applied first: label 2 = the hand-computed
 * 36 voxels (columns 4..9, rows 2..7 of slice 1), label 1 = 4 voxels
 * (columns 0..1, rows 0..1 of slice 0), values 0/1. */
static void mask_resample__dicom_label_image__label_first(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *md = mmdx__path_join(dir, "mask");
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    int16_t px[64];
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    int k, a, b;

    (void)state;
    assert_int_equal(mmdx__mkdir_p(ctx, md), MMDX_OK);
    for (k = 0; k < NZ; k++) {
        struct mmdx_dicom_ct w;
        char name[32], *p;

        memset(px, 0, sizeof(px));
        if (k == 0)
            px[0] = 1;
        for (b = 1; b <= 3 && k == 1; b++)
            for (a = 2; a <= 4; a++)
                px[8 * b + a] = 2;
        memset(&w, 0, sizeof(w));
        w.pixels = px;
        w.rows = 8;
        w.cols = 8;
        w.slope = 1;
        w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 1;
        w.slice_thickness_mm = 2;
        w.position_mm[0] = -3.75;
        w.position_mm[1] = -3.75;
        w.position_mm[2] = 2.0 * k;
        w.instance_number = k + 1;
        w.patient_id = "SYN99998";
        w.series_uid = "1.2.826.0.1.3680043.10.999.14";
        w.study_uid = "1.2.826.0.1.3680043.10.999.12";
        snprintf(name, sizeof(name), "%d.dcm", k);
        p = mmdx__path_join(md, name);
        assert_int_equal(mmdx__dicom_write_ct(ctx, p, &w), MMDX_OK);
        mmdx__free(p);
    }
    memset(&o, 0, sizeof(o));
    o.label = "2";
    expect_err(ctx, mmdx__mask_load(ctx, md, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_MISMATCH, "",
               "mask grid 8x8x3 (x1) differs from the image's 16x16x3");
    o.resample = true;
    assert_int_equal(mmdx__mask_load_label(ctx, md, img, &o, NULL, NULL, &m,
                                           &kind, &g, NULL, &li), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_DICOM);
    assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
    assert_true(li.used && li.value == 2);
    assert_int_equal(count_in(m), 36);
    assert_true(at(m, 4, 2, 1) == 1.0f && at(m, 9, 7, 1) == 1.0f &&
                at(m, 10, 7, 1) == 0.0f && at(m, 4, 8, 1) == 0.0f);
    mmdx__image_free(m);
    m = NULL;
    o.label = "1";
    assert_int_equal(mmdx__mask_load(ctx, md, img, &o, NULL, NULL, &m, &kind,
                                     &g, NULL), MMDX_OK);
    assert_int_equal(count_in(m), 4);
    assert_true(at(m, 0, 0, 0) == 1.0f && at(m, 1, 1, 0) == 1.0f &&
                at(m, 2, 1, 0) == 0.0f);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(md);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that resampling agrees with the mapping evaluated voxel by voxel
 * (dot products with the mask's unit axes, no matrix inverse, lround)
 * for 40 pseudo-random rigid rotations (tilted out of plane too),
 * voxel sizes 0.3..1.5 mm and origins around the image: checks the
 * per-row range narrowing and the incremental row steps. Voxels within
 * 1e-9 of a halfway point are not compared (none are expected). */
static void mask_resample__random_geometry__matches_direct(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const size_t n[3] = { 9, 7, 5 };
    unsigned long seed = 12345;
    size_t t, i, j, k, nin = 0, nskip = 0;
    enum mmdx_mask_geom g;

    (void)state;
#define RND() (seed = seed * 6364136223846793005UL + 1442695040888963407UL, \
               (double)(seed >> 11) / 9007199254740992.0)
    for (t = 0; t < 40; t++) {
        struct mmdx_image *src = mmdx__image_new();
        double R[3][3], o[3], sp[3], ca, sa, cb, sb, cg, sg;
        double al = RND() * 6.283185307, be = RND() * 0.6,
               ga = RND() * 6.283185307;
        int r, q;

        ca = cos(al), sa = sin(al), cb = cos(be), sb = sin(be);
        cg = cos(ga), sg = sin(ga);
        /* R = Rz(al) Rx(be) Rz(ga): columns = the mask's unit axes */
        R[0][0] = ca * cg - sa * cb * sg;
        R[0][1] = -ca * sg - sa * cb * cg;
        R[0][2] = sa * sb;
        R[1][0] = sa * cg + ca * cb * sg;
        R[1][1] = -sa * sg + ca * cb * cg;
        R[1][2] = -ca * sb;
        R[2][0] = sb * sg;
        R[2][1] = sb * cg;
        R[2][2] = cb;
        for (r = 0; r < 3; r++) {
            sp[r] = 0.3 + 1.2 * RND();
            o[r] = -5 + 8 * RND();
        }
        o[2] = -2 + 6 * RND();
        assert_non_null(src);
        assert_int_equal(mmdx__image_alloc(ctx, src, n[0], n[1], n[2], 1, 0),
                         MMDX_OK);
        src->pos_mm = mmdx__calloc(3 * n[2], sizeof(double));
        assert_non_null(src->pos_mm);
        for (k = 0; k < n[2]; k++)
            for (r = 0; r < 3; r++)
                src->pos_mm[3 * k + r] = o[r] + (double)k * sp[2] * R[r][2];
        for (i = 0; i < n[0] * n[1] * n[2]; i++)
            src->vox[i] = (float)(i + 1);
        for (r = 0; r < 3; r++) {
            src->row_cos[r] = R[r][0];
            src->col_cos[r] = R[r][1];
            src->normal[r] = R[r][2];
            src->spacing_mm[r] = sp[r];
        }
        src->has_orientation = true;
        m = NULL;
        if (mmdx__mask_align_ex(ctx, "m.nii", img, src, true, &m, &g)) {
            /* only a mask beyond the image may fail */
            assert_non_null(strstr(mmdx_ctx_last_error(ctx)->message,
                                   "lies outside the image"));
            mmdx_ctx_clear_error(ctx);
            mmdx__image_free(src);
            continue;
        }
        assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
        for (k = 0; k < NZ; k++)
            for (j = 0; j < NY; j++)
                for (i = 0; i < NX; i++) {
                    double P[3] = { -4 + 0.5 * (double)i,
                                    -4 + 0.5 * (double)j, 2.0 * (double)k };
                    long idx[3];
                    bool in = true, tie = false;
                    float want = 0;

                    for (q = 0; q < 3; q++) {
                        double x = 0, f;

                        for (r = 0; r < 3; r++)
                            x += R[r][q] * (P[r] - o[r]);
                        x /= sp[q];
                        f = x - floor(x);
                        tie |= fabs(f - 0.5) < 1e-9;
                        in &= x > -0.5 && x < (double)n[q] - 0.5;
                        idx[q] = lround(x);
                    }
                    if (tie) {
                        nskip++;
                        continue;
                    }
                    if (in) {
                        want = (float)(1 + idx[0] +
                                       (long)n[0] * (idx[1] +
                                                     (long)n[1] * idx[2]));
                        nin++;
                    }
                    assert_true(at(m, i, j, k) == want);
                }
        mmdx__image_free(m);
        mmdx__image_free(src);
    }
#undef RND
    assert_true(nin > 1000);
    assert_int_equal(nskip, 0);
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that a NIfTI mask lying entirely beyond the image (its 2x grid
 * 100 mm to the side) is E_MISMATCH naming geometry, "lies outside the
 * image", with resampling on, and the usual refusal without. */
static void mask_resample__outside__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const double o[3] = { 96.25, -3.75, 0 };
    struct mmdx_mask_opts opt;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;

    (void)state;
    mp = nii_2x(dir, o);
    memset(&opt, 0, sizeof(opt));
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &opt, NULL, NULL, &m,
                                    &kind, &g, NULL), MMDX_E_MISMATCH,
               "geometry", "is 2 image voxels");
    opt.resample = true;
    expect_err(ctx, mmdx__mask_load(ctx, mp, img, &opt, NULL, NULL, &m,
                                    &kind, &g, NULL), MMDX_E_MISMATCH,
               "geometry", "the mask (8x8x3 voxels) lies outside the image: "
               "no image voxel centre falls on its grid");
    assert_null(m);
    mmdx__image_free(img);
    mmdx__free(mp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the resampling paths (NIfTI-1 and SEG) return E_NOMEM at
 * every failed allocation, leak nothing (ASan) and then succeed with the
 * hand-computed counts (36 and 144). */
static void mask_resample__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp, *sp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    static const double o[3] = { -3.75, -3.75, 0 }, z3[3] = { 0, 2, 4 };
    struct mmdx_mask_opts opt;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    enum mmdx_status st;
    int n, pass;

    (void)state;
    mp = nii_2x(dir, o);
    sp = seg_2x(ctx, dir, "s3.dcm", z3, 3);
    memset(&opt, 0, sizeof(opt));
    opt.resample = true;
    for (pass = 0; pass < 2; pass++) {
        st = MMDX_E_NOMEM;
        for (n = 1; n < 100000 && st == MMDX_E_NOMEM; n++) {
            mmdx_ctx_clear_error(ctx);
            mmdx__alloc_fail_at(n);
            st = mmdx__mask_load(ctx, pass ? sp : mp, img, &opt, NULL, NULL,
                                 &m, &kind, &g, NULL);
            mmdx__alloc_fail_at(0);
            if (st == MMDX_E_NOMEM)
                assert_null(m);
        }
        assert_int_equal(st, MMDX_OK);
        assert_true(n > 3);
        assert_int_equal(g, MMDX_MASK_GEOM_RESAMPLED);
        assert_int_equal(count_in(m), pass ? 144 : 36);
        mmdx__image_free(m);
        m = NULL;
    }
    mmdx__image_free(img);
    mmdx__free(mp);
    mmdx__free(sp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that load.image's mask_resample reaches the mask: "nearest"
 * gives the 36-voxel ROI of the 2x NIfTI, as does the default pipeline
 * with the per-patient switch (mmdx features --mask-resample); "no" (the
 * default) fails the image naming geometry; any other value is
 * E_PIPELINE naming mask_resample. */
static void load_image__mask_resample__param(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *mp, *ct, *pn, *p0, *pb;
    struct mmdx_image *img = ct_series(ctx, dir);
    static const double o[3] = { -3.75, -3.75, 0 };
    struct mmdx_patient_files pf;
    struct mmdx_pipeline *pipe = NULL;
    struct feats f = { NAN, NAN, NULL, false };
    const struct mmdx_error *e;

    (void)state;
    mp = nii_2x(dir, o);
    test_write(dir, "pn.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\">\n"
               "    <param name=\"mask_resample\" value=\"nearest\"/>\n"
               "  </stage>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    test_write(dir, "p0.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\"/>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    test_write(dir, "pb.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\">\n"
               "    <param name=\"mask_resample\" value=\"linear\"/>\n"
               "  </stage>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    pn = mmdx__path_join(dir, "pn.xml");
    p0 = mmdx__path_join(dir, "p0.xml");
    pb = mmdx__path_join(dir, "pb.xml");
    ct = mmdx__path_join(dir, "ct");
    memset(&pf, 0, sizeof(pf));
    pf.image = ct;
    pf.mask = mp;
    pf.deid_warn = 1;
    assert_int_equal(mmdx_pipeline_load(ctx, pn, &pipe), MMDX_OK);
    assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat, keep_err,
                                         &f), MMDX_OK);
    assert_true(f.voxels == 36);
    mmdx_pipeline_free(pipe);
    pipe = NULL;
    assert_int_equal(mmdx_pipeline_load(ctx, p0, &pipe), MMDX_OK);
    f.voxels = NAN;
    pf.mask_resample = 1;
    assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat, keep_err,
                                         &f), MMDX_OK);
    assert_true(f.voxels == 36);
    pf.mask_resample = 0;
    f.errors_ok = true;
    assert_int_not_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat,
                                             keep_err, &f), MMDX_OK);
    assert_non_null(f.err);
    assert_non_null(strstr(f.err, "load.image: E_MISMATCH: "));
    assert_non_null(strstr(f.err, "is 2 image voxels"));
    mmdx_ctx_clear_error(ctx);
    mmdx_pipeline_free(pipe);
    pipe = NULL;
    assert_int_equal(mmdx_pipeline_load(ctx, pb, &pipe), MMDX_E_PIPELINE);
    assert_null(pipe);
    e = mmdx_ctx_last_error(ctx);
    assert_string_equal(e->field, "mask_resample");
    assert_string_equal(e->message, "load.image.mask_resample: expected one "
                                    "of no|nearest, got \"linear\"");
    mmdx_ctx_clear_error(ctx);
    mmdx__free(f.err);
    mmdx__image_free(img);
    mmdx__free(mp);
    mmdx__free(ct);
    mmdx__free(pn);
    mmdx__free(p0);
    mmdx__free(pb);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- PALETTE COLOR label maps --------------------------------------------- */

/* The label map of seg_mask__labelmap__by_value (liver = the 183 voxels
 * of label 1, tumour = the 9 of label 2) as segment numbers nums[0],
 * nums[1], written 8- or 16-bit (bits16), with the palette kind and
 * transfer syntax given. [transfer] the path. */
static char *lm_write(struct mmdx_ctx *ctx, const char *dir, const char *name,
                      bool bits16, const long nums[2], int palette,
                      enum mmdx_dicom_ts ts)
{
    static const char *const lab[2] = { "Liver", "Tumour" };
    struct mmdx_dicom_seg_write w;
    float v[PLANE * NZ];
    uint8_t fr[PLANE * NZ];
    uint16_t fr16[PLANE * NZ];
    double pos[3 * NZ];
    char *sp = mmdx__path_join(dir, name);
    int i;

    labels3(v);
    for (i = 0; i < PLANE * NZ; i++) {
        long n = v[i] == 1 ? nums[0] : v[i] == 2 ? nums[1] : 0;

        fr[i] = (uint8_t)n;
        fr16[i] = (uint16_t)n;
    }
    for (i = 0; i < NZ; i++) {
        pos[3 * i] = pos[3 * i + 1] = -4;
        pos[3 * i + 2] = 2.0 * i;
    }
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99998";
    w.rows = NY;
    w.cols = NX;
    w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
    w.slice_thickness_mm = 2;
    w.labels = lab;
    w.nseg = 2;
    w.numbers = nums;
    w.labelmap = true;
    w.nframes = NZ;
    w.frames = bits16 ? NULL : fr;
    w.frames16 = bits16 ? fr16 : NULL;
    w.frame_pos_mm = pos;
    w.palette = palette;
    w.ts = ts;
    assert_int_equal(mmdx__dicom_write_seg(ctx, sp, &w), MMDX_OK);
    seed_copy(sp, "palette", palette);
    return sp;
}

/* Load the mask of segment label from path (E_OK expected). */
static struct mmdx_image *lm_mask(struct mmdx_ctx *ctx, const char *path,
                                  const struct mmdx_image *img,
                                  const char *label)
{
    struct mmdx_mask_opts o;
    struct mmdx_mask_label li;
    struct mmdx_image *m = NULL;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    enum mmdx_status st;

    memset(&o, 0, sizeof(o));
    o.label = label;
    st = mmdx__mask_load_label(ctx, path, img, &o, NULL, NULL, &m, &kind, &g,
                               NULL, &li);
    if (st)
        fail_msg("%s [%s]: %s", path, label,
                 mmdx_ctx_last_error(ctx)->message);
    assert_int_equal(kind, MMDX_MASK_SEG);
    assert_int_equal(g, MMDX_MASK_GEOM_SAME);
    assert_true(li.used);
    return m;
}

/* Ensure that a PALETTE COLOR label map gives, for each segment chosen by
 * number and by label, exactly the voxels of the same map written
 * MONOCHROME2 (183 liver, 9 tumour), whatever its palette (complete,
 * absent, malformed: it is not read), stored bits (8; 16 with segment
 * number 258, whose high byte is set) and transfer syntax (explicit VR
 * little endian, RLE, JPEG-LS lossless); that the colours of the
 * complete palette are not the segment numbers (the default read still
 * gives three channels of colours, and refuses the absent palette naming
 * the file and the descriptor); and that the stored-values read gives one
 * channel of segment numbers. */
static void seg_mask__labelmap_palette__same_as_monochrome2(void **state)
{
    static const long n8[2] = { 1, 2 }, n16[2] = { 258, 2 };
    static const enum mmdx_dicom_ts tss[3] = { MMDX_DICOM_TS_EXPLICIT_LE,
                                               MMDX_DICOM_TS_RLE,
                                               MMDX_DICOM_TS_JPEGLS };
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir();
    struct mmdx_image *img = ct_series(ctx, dir);
    int b, pal, t, s;

    (void)state;
    for (b = 0; b < 2; b++) {
        const long *nums = b ? n16 : n8;
        char *ref = lm_write(ctx, dir, "ref.dcm", b, nums,
                             MMDX_SEG_PALETTE_NONE,
                             MMDX_DICOM_TS_EXPLICIT_LE);
        char sel[4][16];

        snprintf(sel[0], sizeof(sel[0]), "%ld", nums[0]);
        snprintf(sel[1], sizeof(sel[1]), "%ld", nums[1]);
        snprintf(sel[2], sizeof(sel[2]), "Liver");
        snprintf(sel[3], sizeof(sel[3]), "tumour");
        for (pal = 0; pal <= MMDX_SEG_PALETTE_BAD_LUT; pal++)
            for (t = 0; t < 3; t++) {
                char name[32], *p;

                snprintf(name, sizeof(name), "lm%d_%d_%d.dcm", b, pal, t);
                p = lm_write(ctx, dir, name, b, nums, pal, tss[t]);
                for (s = 0; s < 4; s++) {
                    struct mmdx_image *m0 = lm_mask(ctx, ref, img, sel[s]);
                    struct mmdx_image *m1 = lm_mask(ctx, p, img, sel[s]);

                    assert_int_equal(count_in(m0), s % 2 ? 9 : 183);
                    assert_memory_equal(m0->vox, m1->vox,
                                        PLANE * NZ * sizeof(float));
                    mmdx__image_free(m0);
                    mmdx__image_free(m1);
                }
                mmdx__free(p);
            }
        mmdx__free(ref);
    }
    {
        char *p = lm_write(ctx, dir, "rgb.dcm", true, n16,
                           MMDX_SEG_PALETTE_LUT, MMDX_DICOM_TS_RLE);
        char *q = lm_write(ctx, dir, "nolut.dcm", false, n8,
                           MMDX_SEG_PALETTE_NO_LUT,
                           MMDX_DICOM_TS_EXPLICIT_LE);
        struct mmdx_dicom_file *f = NULL, *g = NULL;
        size_t i, c;

        assert_int_equal(mmdx__dicom_read_file(ctx, p, NULL, 0, &f),
                         MMDX_OK);
        assert_int_equal(f->img->nc, 3);
        assert_string_equal(f->img->photometric, "RGB");
        assert_int_equal(mmdx__dicom_read_file(ctx, p, NULL,
                                               MMDX_DICOM_STORED_VALUES, &g),
                         MMDX_OK);
        assert_int_equal(g->img->nc, 1);
        assert_int_equal(g->img->nz, NZ);
        assert_string_equal(g->img->photometric, "PALETTE COLOR");
        assert_true(g->img->rescale_slope == 1.0 &&
                    g->img->rescale_intercept == 0.0);
        assert_true(g->img->vox[PLANE + 5 * NX + 5] == 2.0f);
        assert_true(g->img->vox[2 * NX + 2] == 258.0f);
        assert_true(g->img->vox[0] == 0.0f);
        /* the colours are the writer's LUT entries of the stored value
         * (mmdx__dicom_write_seg: (k 40503 + 9973 (c + 1)) xor 0xA5A5,
         * 16 bits), none of them the value itself */
        for (i = 0; i < PLANE * NZ; i++)
            for (c = 0; c < 3; c++) {
                unsigned k = (unsigned)g->img->vox[i];
                float want = (float)(((k * 40503u + 9973u * (c + 1)) ^
                                      0xA5A5u) & 0xFFFFu);

                assert_true(f->img->vox[3 * i + c] == want);
                assert_true(want != g->img->vox[i]);
            }
        mmdx__dicom_file_free(f);
        mmdx__dicom_file_free(g);
        f = NULL;
        expect_err(ctx, mmdx__dicom_read_file(ctx, q, NULL, 0, &f),
                   MMDX_E_FORMAT,
                   "RedPaletteColorLookupTableDescriptor (0028,1101)",
                   "PALETTE COLOR without a valid LUT descriptor");
        assert_null(f);
        mmdx__free(p);
        mmdx__free(q);
    }
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

struct all_feats {
    char text[1 << 16];
    size_t len;
    double voxels;
};

static void keep_all(void *user, const char *name, double v)
{
    struct all_feats *a = user;
    int w = snprintf(a->text + a->len, sizeof(a->text) - a->len,
                     "%s=%.17g\n", name, v);

    assert_true(w > 0 && (size_t)w < sizeof(a->text) - a->len);
    a->len += (size_t)w;
    if (!strcmp(name, "image.roi.voxels"))
        a->voxels = v;
}

static void no_err(void *user, const char *line)
{
    (void)user;
    fail_msg("unexpected error: %s", line);
}

/* Ensure that through mmdx features (mmdx_features_files: load.image's
 * mask, then image.features) a 16-bit RLE PALETTE COLOR label map gives
 * the ROI and every feature of the MONOCHROME2 map (%.17g identical) for
 * a segment chosen by number (258: 183 voxels) and by label ("Tumour":
 * 9), and that loading it survives every allocation failure (OOM loop,
 * E_NOMEM each time, the 9 voxels at the end). */
static void load_image__labelmap_palette__features_as_monochrome2(
    void **state)
{
    static const long nums[2] = { 258, 2 };
    static const char *const sel[2] = { "258", "Tumour" };
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *ref, *pal, *ct, *pp;
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_patient_files pf;
    struct mmdx_mask_opts o;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    enum mmdx_status st = MMDX_E_NOMEM;
    int i, n;

    (void)state;
    ref = lm_write(ctx, dir, "ref.dcm", true, nums, MMDX_SEG_PALETTE_NONE,
                   MMDX_DICOM_TS_EXPLICIT_LE);
    pal = lm_write(ctx, dir, "pal.dcm", true, nums, MMDX_SEG_PALETTE_LUT,
                   MMDX_DICOM_TS_RLE);
    test_write(dir, "p.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\"/>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    pp = mmdx__path_join(dir, "p.xml");
    ct = mmdx__path_join(dir, "ct");
    assert_int_equal(mmdx_pipeline_load(ctx, pp, &pipe), MMDX_OK);
    for (i = 0; i < 2; i++) {
        struct all_feats *a = mmdx__calloc(2, sizeof(*a));

        assert_non_null(a);
        memset(&pf, 0, sizeof(pf));
        pf.image = ct;
        pf.deid_warn = 1;
        pf.mask_label = sel[i];
        pf.mask = ref;
        assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_all,
                                             no_err, &a[0]), MMDX_OK);
        pf.mask = pal;
        assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_all,
                                             no_err, &a[1]), MMDX_OK);
        assert_true(a[0].voxels == (i ? 9 : 183));
        assert_true(a[0].len > 0);
        assert_string_equal(a[0].text, a[1].text);
        mmdx__free(a);
    }
    memset(&o, 0, sizeof(o));
    o.label = "Tumour";
    for (n = 1; n < 100000 && st == MMDX_E_NOMEM; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__mask_load(ctx, pal, img, &o, NULL, NULL, &m, &kind, &g,
                             NULL);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_E_NOMEM)
            assert_null(m);
    }
    assert_int_equal(st, MMDX_OK);
    assert_true(n > 3);
    assert_int_equal(count_in(m), 9);
    mmdx__image_free(m);
    mmdx_pipeline_free(pipe);
    mmdx__image_free(img);
    mmdx__free(ref);
    mmdx__free(pal);
    mmdx__free(ct);
    mmdx__free(pp);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that an ordinary PALETTE COLOR image (the shared RLE ultrasound
 * OBXXXX1A_rle_2frame.dcm, 800 x 600 x 2, 8 bits) still reads as three
 * channels by default, and with MMDX_DICOM_STORED_VALUES as one channel
 * of whole numbers 0..255 of which the default read's colour is a
 * function (each stored value always gets the same colour), the
 * photometric kept as the file's. */
static void dicom_read__palette_image_stored_values__one_channel(
    void **state)
{
    char *path = test_shared("dicom/OBXXXX1A_rle_2frame.dcm");
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_dicom_file *rgb = NULL, *sv = NULL;
    float col[256][3];
    bool seen[256];
    size_t i, n, c, distinct = 0;

    (void)state;
    assert_int_equal(mmdx__dicom_read_file(ctx, path, NULL, 0, &rgb),
                     MMDX_OK);
    assert_int_equal(mmdx__dicom_read_file(ctx, path, NULL,
                                           MMDX_DICOM_STORED_VALUES, &sv),
                     MMDX_OK);
    assert_int_equal(rgb->img->nc, 3);
    assert_string_equal(rgb->img->photometric, "RGB");
    assert_int_equal(sv->img->nc, 1);
    assert_string_equal(sv->img->photometric, "PALETTE COLOR");
    assert_int_equal(sv->img->nx, 800);
    assert_int_equal(sv->img->ny, 600);
    assert_int_equal(sv->img->nz, 2);
    memset(seen, 0, sizeof(seen));
    n = sv->img->nx * sv->img->ny * sv->img->nz;
    for (i = 0; i < n; i++) {
        float v = sv->img->vox[i];
        size_t k = (size_t)v;

        assert_true(v >= 0 && v <= 255 && (float)k == v);
        if (!seen[k]) {
            seen[k] = true;
            distinct++;
            for (c = 0; c < 3; c++)
                col[k][c] = rgb->img->vox[3 * i + c];
        }
        for (c = 0; c < 3; c++)
            if (rgb->img->vox[3 * i + c] != col[k][c])
                fail_msg("pixel %zu: stored %zu, colour %g, earlier %g", i,
                         k, (double)rgb->img->vox[3 * i + c],
                         (double)col[k][c]);
    }
    assert_true(distinct > 100);
    mmdx__dicom_file_free(rgb);
    mmdx__dicom_file_free(sv);
    mmdx__free(path);
    mmdx_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mask_label__nifti_labels__selects_one),
        cmocka_unit_test(mask_label__nifti_errors__named),
        cmocka_unit_test(mask_label__binary__unchanged),
        cmocka_unit_test(mask_label__dicom_label_image__selects_one),
        cmocka_unit_test(seg_read__two_segments__frame_map),
        cmocka_unit_test(seg_mask__by_number_and_label__placed),
        cmocka_unit_test(seg_mask__errors__named),
        cmocka_unit_test(seg_mask__fractional_and_shared__read),
        cmocka_unit_test(seg_mask__unaligned_bits__unpacked),
        cmocka_unit_test(seg_mask__labelmap__by_value),
        cmocka_unit_test(mask_label__oom__nomem),
        cmocka_unit_test(load_image__mask_label__param_and_override),
        cmocka_unit_test(manifest__mask_label__read_and_checked),
        cmocka_unit_test(scan__mask_candidates__mask_column),
        cmocka_unit_test(nifti_inspect__label_image__summary),
        cmocka_unit_test(seg_inspect__two_segments__numbers_and_codes),
        cmocka_unit_test(mask_resample__nifti_2x__hand_count),
        cmocka_unit_test(mask_resample__half_voxel__rounds_up),
        cmocka_unit_test(mask_resample__rotated__exact_or_resampled),
        cmocka_unit_test(mask_resample__seg_spacing__per_frame),
        cmocka_unit_test(mask_resample__dicom_label_image__label_first),
        cmocka_unit_test(mask_resample__random_geometry__matches_direct),
        cmocka_unit_test(mask_resample__outside__refused),
        cmocka_unit_test(mask_resample__oom__nomem),
        cmocka_unit_test(load_image__mask_resample__param),
        cmocka_unit_test(seg_mask__labelmap_palette__same_as_monochrome2),
        cmocka_unit_test(
            load_image__labelmap_palette__features_as_monochrome2),
        cmocka_unit_test(
            dicom_read__palette_image_stored_values__one_channel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
