/*
 * test_imgroi.c - imgroi_testdriver: regions of interest for images: the
 * exact convex hull (IBSI convex-hull densities), NIfTI-1 and RTSTRUCT
 * masks on the image grid, the automatic MR head mask.
 *
 * Reference values are closed-form (cube, box, tetrahedron, octahedron);
 * where none exists (lattice balls, random degenerate sets) the hull is
 * verified instead: every input point lies on or below every facet and
 * the facets close up (mmdx__hull3d_checked), which together with
 * vertices drawn from the input makes it the convex hull.
 */
#include "core/common.h"
#include "features/image_brainmask.h"
#include "features/image_features.h"
#include "features/image_hull.h"
#include "io/dicom.h"
#include "io/image.h"
#include "io/mask.h"
#include "mmdx/mmdx.h"
#include "pipeline/stage.h"
#include "test_util.h"

#include <zlib.h>

/* ---- convex hull --------------------------------------------------------- */

/* Ensure that the hull of the 27 lattice points of [0,2]^3 is the cube:
 * volume 8, area 24, 8 vertices, 12 triangles; scaled by (1, 2, 3) it is
 * the 2 x 4 x 6 box (volume 48, area 88). */
static void hull3d__cube__volume_area(void **state)
{
    int32_t p[27 * 3];
    double sc[3] = { 1, 2, 3 };
    struct mmdx_hull h;
    int x, y, z, n = 0;

    (void)state;
    for (x = 0; x <= 2; x++)
        for (y = 0; y <= 2; y++)
            for (z = 0; z <= 2; z++) {
                p[3 * n] = x;
                p[3 * n + 1] = y;
                p[3 * n + 2] = z;
                n++;
            }
    assert_int_equal(mmdx__hull3d_checked(p, 27, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 3);
    assert_true(h.volume == 8.0);
    assert_true(fabs(h.area - 24.0) < 1e-12);
    assert_int_equal(h.nverts, 8);
    assert_int_equal(h.nfacets, 12);
    assert_int_equal(mmdx__hull3d(p, 27, sc, &h), MMDX_OK);
    assert_true(fabs(h.volume - 48.0) < 1e-12);
    assert_true(fabs(h.area - 88.0) < 1e-12);
}

/* Ensure that the unit corner tetrahedron has volume 1/6 and area
 * 3/2 + sqrt(3)/2 (closed form), whatever the order of its points. */
static void hull3d__tetrahedron__exact(void **state)
{
    static const int32_t t[2][12] = {
        { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1 },
        { 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0 } };
    struct mmdx_hull h;
    int k;

    (void)state;
    for (k = 0; k < 2; k++) {
        assert_int_equal(mmdx__hull3d_checked(t[k], 4, NULL, &h), MMDX_OK);
        assert_int_equal(h.dim, 3);
        assert_true(fabs(h.volume - 1.0 / 6) < 1e-15);
        assert_true(fabs(h.area - (1.5 + sqrt(3) / 2)) < 1e-14);
        assert_int_equal(h.nfacets, 4);
        assert_int_equal(h.nverts, 4);
    }
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Ensure that the lattice points of a ball of radius 12 give a verified
 * hull whose volume lies between the balls of radius 11 and 12, whose
 * triangles obey Euler (F = 2V - 4), and whose volume and area do not
 * depend on the order of the points (shuffled: bit-identical). */
static void hull3d__lattice_ball__verified(void **state)
{
    const int R = 12;
    int32_t *p = mmdx__malloc(25 * 25 * 25 * 3 * sizeof(int32_t));
    struct mmdx_hull h, h2;
    size_t n = 0, i;
    uint32_t seed = 7;
    int x, y, z;

    (void)state;
    assert_non_null(p);
    for (x = -R; x <= R; x++)
        for (y = -R; y <= R; y++)
            for (z = -R; z <= R; z++)
                if (x * x + y * y + z * z <= R * R) {
                    p[3 * n] = x;
                    p[3 * n + 1] = y;
                    p[3 * n + 2] = z;
                    n++;
                }
    assert_int_equal(mmdx__hull3d_checked(p, n, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 3);
    assert_true(h.volume < 4.0 / 3 * M_PI * R * R * R);
    assert_true(h.volume > 4.0 / 3 * M_PI * (R - 1) * (R - 1) * (R - 1));
    assert_int_equal(h.nfacets, 2 * h.nverts - 4);
    for (i = n - 1; i > 0; i--) {
        size_t j = lcg(&seed) % (i + 1);
        int k;

        for (k = 0; k < 3; k++) {
            int32_t t = p[3 * i + k];

            p[3 * i + k] = p[3 * j + k];
            p[3 * j + k] = t;
        }
    }
    assert_int_equal(mmdx__hull3d_checked(p, n, NULL, &h2), MMDX_OK);
    assert_true(h2.volume == h.volume);
    assert_true(fabs(h2.area - h.area) < 1e-9 * h.area);
    mmdx__free(p);
}

/* Ensure that 3000 random small sets on a 4x4x4 lattice (duplicates,
 * collinear and coplanar points everywhere) all give verified hulls with
 * F = 2V - 4, and that mirroring x or swapping x and z (symmetries of the
 * lattice) leave the volume exactly unchanged. */
static void hull3d__random_degenerate__verified(void **state)
{
    int32_t p[80 * 3], q[80 * 3];
    uint32_t seed = 12345;
    int trial, dims[5] = { 0, 0, 0, 0, 0 };

    (void)state;
    for (trial = 0; trial < 3000; trial++) {
        size_t n = 1 + lcg(&seed) % 80, i;
        struct mmdx_hull h, h2;
        int flat = trial % 4;   /* some sets confined to a plane or line */

        for (i = 0; i < n; i++) {
            p[3 * i] = (int32_t)(lcg(&seed) % 4);
            p[3 * i + 1] = flat == 1 ? 2 : (int32_t)(lcg(&seed) % 4);
            p[3 * i + 2] = flat == 2 ? p[3 * i] : (int32_t)(lcg(&seed) % 4);
        }
        assert_int_equal(mmdx__hull3d_checked(p, n, NULL, &h), MMDX_OK);
        dims[h.dim + 1]++;
        if (h.dim == 3)
            assert_int_equal(h.nfacets, 2 * h.nverts - 4);
        else
            assert_true(h.volume == 0 && h.area == 0 && h.nfacets == 0);
        for (i = 0; i < n; i++) {
            q[3 * i] = -p[3 * i];
            q[3 * i + 1] = p[3 * i + 1];
            q[3 * i + 2] = p[3 * i + 2];
        }
        assert_int_equal(mmdx__hull3d_checked(q, n, NULL, &h2), MMDX_OK);
        assert_true(h2.volume == h.volume && h2.dim == h.dim);
        for (i = 0; i < n; i++) {
            q[3 * i] = p[3 * i + 2];
            q[3 * i + 1] = p[3 * i + 1];
            q[3 * i + 2] = p[3 * i];
        }
        assert_int_equal(mmdx__hull3d_checked(q, n, NULL, &h2), MMDX_OK);
        assert_true(h2.volume == h.volume && h2.dim == h.dim);
    }
    /* every dimension was exercised */
    assert_true(dims[1] > 0 && dims[2] > 0 && dims[3] > 0 && dims[4] > 0);
}

/* Ensure that degenerate inputs are reported by their dimension with zero
 * volume and area (no crash): none, one point, duplicates, collinear,
 * coplanar; a coordinate out of range is E_INVAL. */
static void hull3d__degenerate__dimension(void **state)
{
    static const int32_t one[3] = { 5, 5, 5 };
    static const int32_t dup[9] = { 1, 2, 3, 1, 2, 3, 1, 2, 3 };
    static const int32_t line[12] = { 0, 0, 0, 1, 1, 1, 3, 3, 3, 2, 2, 2 };
    static const int32_t plane[15] = { 0, 0, 0, 4, 0, 0, 0, 4, 4,
                                       4, 4, 4, 2, 2, 2 };
    int32_t bad[12] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
    struct mmdx_hull h;

    (void)state;
    assert_int_equal(mmdx__hull3d(NULL, 0, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, -1);
    assert_int_equal(mmdx__hull3d(one, 1, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 0);
    assert_int_equal(mmdx__hull3d(dup, 3, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 0);
    assert_int_equal(mmdx__hull3d(line, 4, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 1);
    assert_int_equal(mmdx__hull3d(plane, 5, NULL, &h), MMDX_OK);
    assert_int_equal(h.dim, 2);
    assert_true(h.volume == 0 && h.area == 0);
    bad[3] = MMDX_HULL_COORD_MAX;
    assert_int_equal(mmdx__hull3d(bad, 4, NULL, &h), MMDX_OK);
    assert_true(fabs(h.volume - (double)MMDX_HULL_COORD_MAX / 6) < 1e-6);
    bad[3] = MMDX_HULL_COORD_MAX + 1;
    assert_int_equal(mmdx__hull3d(bad, 4, NULL, &h), MMDX_E_INVAL);
    assert_int_equal(h.dim, -1);
}

/* Ensure that extreme coordinates (the full allowed range) stay exact:
 * the cube [-M, M]^3 has volume (2M)^3 computed without overflow. */
static void hull3d__extreme_range__exact(void **state)
{
    const int32_t M = MMDX_HULL_COORD_MAX;
    int32_t p[9 * 3];
    struct mmdx_hull h;
    int k, n = 0;

    (void)state;
    for (k = 0; k < 8; k++) {
        p[3 * n] = k & 1 ? M : -M;
        p[3 * n + 1] = k & 2 ? M : -M;
        p[3 * n + 2] = k & 4 ? M : -M;
        n++;
    }
    p[3 * n] = p[3 * n + 1] = p[3 * n + 2] = 0;
    n++;
    assert_int_equal(mmdx__hull3d_checked(p, (size_t)n, NULL, &h), MMDX_OK);
    assert_true(h.volume == 8.0 * (double)M * (double)M * (double)M);
    assert_int_equal(h.nverts, 8);
}

static struct mmdx_image *grid(size_t nx, size_t ny, size_t nz, double sp)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = mmdx__image_new();

    assert_non_null(img);
    assert_int_equal(mmdx__image_alloc(ctx, img, nx, ny, nz, 1, 0), MMDX_OK);
    img->spacing_mm[0] = img->spacing_mm[1] = img->spacing_mm[2] = sp;
    mmdx_ctx_free(ctx);
    return img;
}

/* Ensure that the mesh hull of one voxel (spacing 2 mm) is the octahedron
 * with vertices 1 mm from the centre: volume 4/3 mm3, area 4 sqrt(3) mm2;
 * and that a 3x3x3 block's hull is the cube with edges and corners cut
 * (closed form below). */
static void roi_hull__voxels__closed_form(void **state)
{
    struct mmdx_image *img = grid(3, 3, 3, 2.0);
    uint8_t roi[27];
    double sp[3] = { 2, 2, 2 };
    struct mmdx_hull h;

    (void)state;
    memset(roi, 0, sizeof(roi));
    roi[13] = 1;
    assert_int_equal(mmdx__roi_hull(img, roi, sp, &h), MMDX_OK);
    assert_int_equal(h.dim, 3);
    assert_int_equal(h.nverts, 6);
    assert_true(fabs(h.volume - 4.0 / 3) < 1e-12);
    assert_true(fabs(h.area - 4 * sqrt(3)) < 1e-12);
    /* the full 3x3x3 block, spacing 1: the vertices are the face-centre
     * midpoints, e.g. x = -0.5 or 2.5 with y, z in {0, 1, 2}: the hull is
     * the cube [-0.5, 2.5]^3 with its 12 edges and 8 corners cut by
     * planes through those points (x + y = -0.5, x + y + z = -0.5, ...).
     * Removed: 12 edge prisms (right triangle of legs 0.5, length 2:
     * 0.25 each) and, in each 0.5^3 corner cube, all but the tetrahedron
     * of legs 0.5 (1/8 - 1/48): volume 27 - 3 - 5/6. */
    memset(roi, 1, sizeof(roi));
    sp[0] = sp[1] = sp[2] = 1;
    assert_int_equal(mmdx__roi_hull(img, roi, sp, &h), MMDX_OK);
    assert_true(fabs(h.volume - (27 - 3 - 5.0 / 6)) < 1e-12);
    mmdx__image_free(img);
}

struct morph_vals {
    double V, A, vd, ad;
};

static enum mmdx_status keep_morph(void *user, const char *name, double v)
{
    struct morph_vals *m = user;

    if (!strcmp(name, "image.morph.volume_mm3"))
        m->V = v;
    else if (!strcmp(name, "image.morph.area_mm2"))
        m->A = v;
    else if (!strcmp(name, "image.morph.vol_dens_hull"))
        m->vd = v;
    else if (!strcmp(name, "image.morph.area_dens_hull"))
        m->ad = v;
    return MMDX_OK;
}

/* Ensure that on the IBSI 1 digital phantom (shared/data/ibsi, 2 mm
 * voxels) the convex-hull densities match IBSI's reference values within
 * their tolerances: volume density 0.961 +- 0.006 (R3ER), area density
 * 1.03 +- 0.01 (7T7F); the hull itself is printed for the record. */
static void roi_hull__ibsi_phantom__reference(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *vpath = test_shared("ibsi/digital_phantom/phantom_voxels.csv");
    struct mmdx_image *img = grid(5, 4, 4, 2.0);
    struct mmdx_imgfeat_opts o;
    struct morph_vals m = { NAN, NAN, NAN, NAN };
    struct mmdx_hull h;
    double sp[3] = { 2, 2, 2 };
    uint8_t roi[80];
    char *text = NULL, *p, *line;
    size_t len, n = 0;

    (void)state;
    assert_int_equal(mmdx__file_read(ctx, vpath, 1 << 20, &text, &len),
                     MMDX_OK);
    p = strchr(text, '\n') + 1;
    while (*p) {
        long f[5];
        int k;

        line = p;
        for (k = 0; k < 5; k++) {
            char *end = line + strcspn(line, ",\n");
            char save = *end;

            *end = '\0';
            assert_true(mmdx__parse_long(line, &f[k]));
            *end = save;
            line = *end ? end + 1 : end;
        }
        img->vox[f[0] + 5 * f[1] + 20 * f[2]] = (float)f[3];
        roi[f[0] + 5 * f[1] + 20 * f[2]] = (uint8_t)f[4];
        n++;
        p = line;
    }
    assert_int_equal(n, 80);
    memset(&o, 0, sizeof(o));
    o.disc = MMDX_DISC_FBS;
    o.bin_width = 1;
    o.bin_min = NAN;
    o.families = MMDX_FAM_MORPH;
    assert_int_equal(mmdx__image_features(ctx, img, roi, true, &o, keep_morph,
                                          &m), MMDX_OK);
    assert_int_equal(mmdx__roi_hull(img, roi, sp, &h), MMDX_OK);
    print_message("IBSI phantom hull: %zu vertices, %zu triangles, volume "
                  "%.4f mm3, area %.4f mm2; mesh %.4f mm3 %.4f mm2; "
                  "densities %.4f %.4f\n", h.nverts, h.nfacets, h.volume,
                  h.area, m.V, m.A, m.vd, m.ad);
    assert_true(fabs(m.vd - m.V / h.volume) < 1e-12);
    assert_true(fabs(m.vd - 0.961) <= 0.006);
    assert_true(fabs(m.ad - 1.03) <= 0.01);
    mmdx__free(text);
    mmdx__free(vpath);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* Ensure that the ROI hull returns E_NOMEM at every failed allocation and
 * leaks nothing (ASan), then succeeds. */
static void roi_hull__oom__nomem(void **state)
{
    struct mmdx_image *img = grid(6, 5, 4, 1.0);
    uint8_t roi[120];
    double sp[3] = { 1, 1, 1 };
    struct mmdx_hull h;
    unsigned long n;
    size_t i;
    enum mmdx_status st = MMDX_E_NOMEM;

    (void)state;
    for (i = 0; i < 120; i++)
        roi[i] = (uint8_t)((i * 7 + i / 5) % 3 != 0);
    for (n = 1; n < 10000 && st == MMDX_E_NOMEM; n++) {
        mmdx__alloc_fail_at(n);
        st = mmdx__roi_hull(img, roi, sp, &h);
        if (st == MMDX_E_NOMEM)
            assert_int_equal(h.dim, -1);
    }
    mmdx__alloc_fail_at(0);
    assert_int_equal(st, MMDX_OK);
    assert_true(n > 3);
    mmdx__image_free(img);
}

/* ---- NIfTI-1 masks ------------------------------------------------------ */

struct nii {
    int ndim, dim[7], datatype, bitpix;
    float qfac, pix[3], vox_offset, slope, inter;
    int qform, sform;
    float quat[3], qoff[3], srow[3][4];
    bool be;
    const char *magic;
    int sizeof_hdr;
};

static void nii_default(struct nii *s, int nx, int ny, int nz)
{
    int k;

    memset(s, 0, sizeof(*s));
    s->ndim = 3;
    s->dim[0] = nx;
    s->dim[1] = ny;
    s->dim[2] = nz;
    for (k = 3; k < 7; k++)
        s->dim[k] = 1;
    s->datatype = 2;
    s->bitpix = 8;
    s->qfac = 1;
    s->pix[0] = s->pix[1] = s->pix[2] = 1;
    s->vox_offset = 352;
    s->slope = 1;
    s->magic = "n+1";
    s->sizeof_hdr = 348;
}

static void put_u(uint8_t *p, uint64_t v, int n, bool be)
{
    int i;

    for (i = 0; i < n; i++)
        p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

static void put_f(uint8_t *p, float f, bool be)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    put_u(p, u, 4, be);
}

/* A NIfTI-1 file in buf (header, 4 extension bytes, voxels vals[] stored
 * as s->datatype; vals NULL: the header alone); returns its length. */
static size_t nii_make(uint8_t *buf, size_t cap, const struct nii *s,
                       const double *vals)
{
    size_t n = 1, i, bpv = (size_t)(s->bitpix > 0 ? s->bitpix / 8 : 1);
    int k, r;

    for (k = 0; k < 3; k++)
        n *= (size_t)(s->dim[k] > 0 ? s->dim[k] : 0);
    if (!vals)
        n = 0;   /* the header alone */
    assert_true(352 + n * bpv <= cap);
    memset(buf, 0, 352 + n * bpv);
    put_u(buf, (uint64_t)s->sizeof_hdr, 4, s->be);
    put_u(buf + 40, (uint64_t)(uint16_t)s->ndim, 2, s->be);
    for (k = 0; k < 7; k++)
        put_u(buf + 42 + 2 * k, (uint64_t)(uint16_t)s->dim[k], 2, s->be);
    put_u(buf + 70, (uint64_t)(uint16_t)s->datatype, 2, s->be);
    put_u(buf + 72, (uint64_t)(uint16_t)s->bitpix, 2, s->be);
    put_f(buf + 76, s->qfac, s->be);
    for (k = 0; k < 3; k++)
        put_f(buf + 80 + 4 * k, s->pix[k], s->be);
    put_f(buf + 108, s->vox_offset, s->be);
    put_f(buf + 112, s->slope, s->be);
    put_f(buf + 116, s->inter, s->be);
    put_u(buf + 252, (uint64_t)(uint16_t)s->qform, 2, s->be);
    put_u(buf + 254, (uint64_t)(uint16_t)s->sform, 2, s->be);
    for (k = 0; k < 3; k++) {
        put_f(buf + 256 + 4 * k, s->quat[k], s->be);
        put_f(buf + 268 + 4 * k, s->qoff[k], s->be);
    }
    for (r = 0; r < 3; r++)
        for (k = 0; k < 4; k++)
            put_f(buf + 280 + 16 * r + 4 * k, s->srow[r][k], s->be);
    memcpy(buf + 344, s->magic,
           strlen(s->magic) + 1 > 4 ? 4 : strlen(s->magic) + 1);
    for (i = 0; i < n && vals; i++) {
        uint8_t *p = buf + 352 + i * bpv;
        double v = vals[i];

        switch (s->datatype) {
        case 2: case 256: put_u(p, (uint64_t)(int64_t)v, 1, s->be); break;
        case 4: case 512: put_u(p, (uint64_t)(int64_t)v, 2, s->be); break;
        case 8: case 768: put_u(p, (uint64_t)(int64_t)v, 4, s->be); break;
        case 16: put_f(p, (float)v, s->be); break;
        case 64: {
            uint64_t u;

            memcpy(&u, &v, 8);
            put_u(p, u, 8, s->be);
            break;
        }
        default: break;
        }
    }
    return 352 + n * bpv;
}

/* gzip len bytes of src into dst (optionally as two members). */
static size_t gz_make(uint8_t *dst, size_t cap, const uint8_t *src,
                      size_t len, bool two)
{
    size_t done = 0, part = two ? len / 2 : len;
    int m;

    for (m = 0; m < (two ? 2 : 1); m++) {
        z_stream z;

        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8,
                                      Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)(src + (m ? part : 0));
        z.avail_in = (uInt)(m ? len - part : part);
        z.next_out = dst + done;
        z.avail_out = (uInt)(cap - done);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        done = cap - z.avail_out;
        deflateEnd(&z);
    }
    return done;
}

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

/* Ensure that the IBSI phantom's NIfTI image and mask (gzip, int16 and
 * uint8, sform diag(-2, -2, 2)) read voxel for voxel as
 * phantom_voxels.csv says, with 2 mm spacing and LPS axes +x, +y, +z. */
static void nifti_load__ibsi_phantom__matches_csv(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ip = test_shared("ibsi/digital_phantom/nifti/image/phantom.nii.gz");
    char *mp = test_shared("ibsi/digital_phantom/nifti/mask/mask.nii.gz");
    char *vp = test_shared("ibsi/digital_phantom/phantom_voxels.csv");
    struct mmdx_image *img = NULL, *mask = NULL;
    char *text = NULL, *p;
    size_t len, n = 0, k;

    (void)state;
    assert_int_equal(mmdx__nifti_load(ctx, ip, 0, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(mmdx__nifti_load(ctx, mp, 0, NULL, NULL, &mask),
                     MMDX_OK);
    assert_int_equal(img->nx * 100 + img->ny * 10 + img->nz, 544);
    assert_int_equal(mask->nx * 100 + mask->ny * 10 + mask->nz, 544);
    for (k = 0; k < 3; k++)
        assert_true(img->spacing_mm[k] == 2.0);
    assert_true(img->has_orientation && img->row_cos[0] == 1 &&
                img->col_cos[1] == 1 && img->normal[2] == 1);
    assert_non_null(img->pos_mm);
    assert_int_equal(mmdx__file_read(ctx, vp, 1 << 20, &text, &len), MMDX_OK);
    p = strchr(text, '\n') + 1;
    while (*p) {
        long f[5];
        int c;

        for (c = 0; c < 5; c++) {
            char *end = p + strcspn(p, ",\n"), save = *end;

            *end = '\0';
            assert_true(mmdx__parse_long(p, &f[c]));
            *end = save;
            p = *end ? end + 1 : end;
        }
        k = (size_t)(f[0] + 5 * f[1] + 20 * f[2]);
        assert_true(img->vox[k] == (float)f[3]);
        assert_true(mask->vox[k] == (float)f[4]);
        n++;
    }
    assert_int_equal(n, 80);
    mmdx__free(text);
    mmdx__free(ip);
    mmdx__free(mp);
    mmdx__free(vp);
    mmdx__image_free(img);
    mmdx__image_free(mask);
    mmdx_ctx_free(ctx);
}

/* Ensure that every malformed NIfTI header field is refused with the
 * field named and the right status, before any allocation for sizes. */
static void nifti_header__malformed__field_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    static uint8_t buf[4096];
    struct nii s;
    struct mmdx_nifti_hdr h;
    struct mmdx_image *m = NULL;
    size_t len;

#define HDR(mutate, want, field, needle)                                      \
    do {                                                                     \
        nii_default(&s, 4, 3, 2);                                            \
        mutate;                                                              \
        len = nii_make(buf, sizeof(buf), &s, NULL);                          \
        expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &m),   \
                   want, field, needle);                                     \
        assert_null(m);                                                      \
    } while (0)

    (void)state;
    HDR(s.sizeof_hdr = 349, MMDX_E_FORMAT, "sizeof_hdr",
        "expected 348 in either byte order, got 349");
    HDR(s.sizeof_hdr = 540, MMDX_E_UNSUPPORTED, "sizeof_hdr", "NIfTI-2");
    HDR(s.magic = "ni1", MMDX_E_UNSUPPORTED, "magic", "two-file NIfTI");
    HDR(s.magic = "xyz", MMDX_E_FORMAT, "magic", "expected \"n+1\"");
    HDR(s.ndim = 0, MMDX_E_FORMAT, "dim[0]", "expected 1..7 dimensions");
    HDR(s.dim[1] = -3, MMDX_E_FORMAT, "dim", "dim[2] = -3");
    HDR((s.ndim = 4, s.dim[3] = 2), MMDX_E_UNSUPPORTED, "dim",
        "dim[4] = 2: a mask must be one 3D volume");
    HDR((s.dim[0] = s.dim[1] = s.dim[2] = 30000), MMDX_E_LIMIT, "dim",
        "30000 x 30000 x 30000 voxels exceed the limit");
    HDR(s.datatype = 32, MMDX_E_UNSUPPORTED, "datatype",
        "datatype 32 is not supported");
    HDR(s.bitpix = 16, MMDX_E_FORMAT, "bitpix",
        "bitpix 16 does not match datatype 2");
    HDR(s.pix[1] = 0, MMDX_E_FORMAT, "pixdim", "pixdim[2] must be");
    HDR(s.pix[0] = NAN, MMDX_E_FORMAT, "pixdim", "pixdim[1] must be");
    HDR(s.vox_offset = 100, MMDX_E_FORMAT, "vox_offset",
        "whole number of bytes from 352");
    HDR(s.vox_offset = 352.5f, MMDX_E_FORMAT, "vox_offset", "whole number");
    HDR(s.vox_offset = 356, MMDX_E_FORMAT, "vox_offset", "file truncated");
    HDR((s.qform = 1, s.quat[0] = 0.9f, s.quat[1] = 0.9f), MMDX_E_FORMAT,
        "quatern_b", "norm <= 1");
    HDR((s.sform = 1, s.srow[1][2] = INFINITY), MMDX_E_FORMAT, "srow_y",
        "element 2 is not a finite number");
    /* too short for a header, in both forms */
    expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii", buf, 100, 0, &m),
               MMDX_E_FORMAT, "header", "file is 100 bytes");
    expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii", buf, 2, 0, &m),
               MMDX_E_FORMAT, "sizeof_hdr", "no NIfTI-1 header");
    /* the header alone parses (fuzz entry point) */
    nii_default(&s, 4, 3, 2);
    len = nii_make(buf, sizeof(buf), &s, NULL);
    assert_int_equal(mmdx__nifti_parse_header(ctx, "m.nii", buf, len, 0, &h),
                     MMDX_OK);
    assert_int_equal(h.dim[0] * 100 + h.dim[1] * 10 + h.dim[2], 432);
    assert_false(h.has_affine);
#undef HDR
    mmdx_ctx_free(ctx);
}

/* Ensure that the same mask stored little- and big-endian, as uint8,
 * int16, int32, float32 and float64, with scl_slope 2 / scl_inter -1,
 * and gzip-compressed (one or two members) decodes to the same values;
 * a truncated or corrupt gzip stream is E_FORMAT naming "data". */
static void nifti_decode__types_endianness_gzip__same_values(void **state)
{
    static const int types[5][2] = { { 2, 8 }, { 4, 16 }, { 8, 32 },
                                     { 16, 32 }, { 64, 64 } };
    struct mmdx_ctx *ctx = test_ctx();
    static uint8_t buf[8192], gz[8192];
    double vals[24];
    struct nii s;
    struct mmdx_image *m = NULL;
    size_t len, glen, i;
    int t, be, two;

    (void)state;
    for (i = 0; i < 24; i++)
        vals[i] = (double)((i * 7) % 5);
    for (t = 0; t < 5; t++)
        for (be = 0; be < 2; be++)
            for (two = 0; two < 3; two++) {
                nii_default(&s, 4, 3, 2);
                s.datatype = types[t][0];
                s.bitpix = types[t][1];
                s.be = be != 0;
                s.slope = 2;
                s.inter = -1;
                len = nii_make(buf, sizeof(buf), &s, vals);
                if (two) {
                    glen = gz_make(gz, sizeof(gz), buf, len, two == 2);
                    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii.gz", gz,
                                                        glen, 0, &m),
                                     MMDX_OK);
                } else {
                    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf,
                                                        len, 0, &m),
                                     MMDX_OK);
                }
                for (i = 0; i < 24; i++)
                    assert_true(m->vox[i] == (float)(2 * vals[i] - 1));
                mmdx__image_free(m);
                m = NULL;
            }
    glen = gz_make(gz, sizeof(gz), buf, len, false);
    expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii.gz", gz, glen - 30, 0, &m),
               MMDX_E_FORMAT, "data", "file truncated");
    /* a damaged CRC-32 is found: the stream is read to its end */
    gz[glen - 8] ^= 0x01;
    expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii.gz", gz, glen, 0, &m),
               MMDX_E_FORMAT, "data", "corrupt gzip stream");
    gz[glen - 8] ^= 0x01;
    gz[glen / 2] ^= 0x55;
    gz[glen / 2 + 1] ^= 0xAA;
    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii.gz", gz, glen, 0, &m),
                     MMDX_E_FORMAT);
    assert_null(m);
    mmdx_ctx_clear_error(ctx);
    /* a gzip of something else says so by the size field */
    memset(buf, 'x', 400);
    glen = gz_make(gz, sizeof(gz), buf, 400, false);
    expect_err(ctx, mmdx__nifti_decode(ctx, "m.nii.gz", gz, glen, 0, &m),
               MMDX_E_FORMAT, "sizeof_hdr", "expected 348");
    mmdx_ctx_free(ctx);
}

/* An axial image nx x ny x nz at (10, 20, 30) mm, spacing 0.5 x 0.5 x 2. */
static struct mmdx_image *axial(size_t nx, size_t ny, size_t nz)
{
    struct mmdx_image *img = grid(nx, ny, nz, 1.0);
    size_t k;

    img->spacing_mm[0] = img->spacing_mm[1] = 0.5;
    img->spacing_mm[2] = 2;
    img->pos_mm = mmdx__calloc(3 * nz, sizeof(double));
    assert_non_null(img->pos_mm);
    for (k = 0; k < nz; k++) {
        img->pos_mm[3 * k] = 10;
        img->pos_mm[3 * k + 1] = 20;
        img->pos_mm[3 * k + 2] = 30 + 2.0 * (double)k;
    }
    img->row_cos[0] = img->col_cos[1] = img->normal[2] = 1;
    img->has_orientation = true;
    return img;
}

/* NIfTI sform (RAS) for the mask voxel (i, j, k) -> LPS position given
 * by origin o (LPS) and LPS steps a, b, c (mm). */
static void sform_lps(struct nii *s, const double o[3], const double a[3],
                      const double b[3], const double c[3])
{
    int r;

    s->sform = 1;
    for (r = 0; r < 3; r++) {
        double f = r < 2 ? -1 : 1;

        s->srow[r][0] = (float)(f * a[r]);
        s->srow[r][1] = (float)(f * b[r]);
        s->srow[r][2] = (float)(f * c[r]);
        s->srow[r][3] = (float)(f * o[r]);
    }
}

/* Ensure that a NIfTI mask is put on the image grid by its geometry:
 * the same grid (SAME), j flipped and i/j swapped (REORDERED, values
 * moved to the right voxels), a sub-grid, and no geometry (UNCHECKED,
 * dimensions only); and that a different spacing, a half-voxel shift, an
 * oblique grid, a grid sticking out of the image and different dimensions
 * without geometry are E_MISMATCH naming the reason. */
static void mask_align__geometry__mapped_or_refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = axial(4, 3, 2), *src = NULL, *out = NULL;
    static uint8_t buf[4096];
    double vals[36], o[3] = { 10, 20, 30 }, ex[3] = { 0.5, 0, 0 },
           ey[3] = { 0, 0.5, 0 }, ez[3] = { 0, 0, 2 };
    enum mmdx_mask_geom g;
    struct nii s;
    size_t len, i, j, k;

    (void)state;
    for (i = 0; i < 36; i++)
        vals[i] = (double)i;
    /* 1. identical grid */
    nii_default(&s, 4, 3, 2);
    sform_lps(&s, o, ex, ey, ez);
    len = nii_make(buf, sizeof(buf), &s, vals);
    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &src),
                     MMDX_OK);
    assert_int_equal(mmdx__mask_align(ctx, "m.nii", img, src, &out, &g),
                     MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_SAME);
    for (i = 0; i < 24; i++)
        assert_true(out->vox[i] == (float)i);
    mmdx__image_free(src);
    mmdx__image_free(out);
    /* 2. mask axes (j, i, k) with j running backwards: mask voxel
     * (a, b, c) is image voxel (x = b, y = 2 - a, z = c) */
    {
        double o2[3] = { 10, 21, 30 }, my[3] = { 0, -0.5, 0 };

        nii_default(&s, 3, 4, 2);
        sform_lps(&s, o2, my, ex, ez);
        len = nii_make(buf, sizeof(buf), &s, vals);
        assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &src),
                         MMDX_OK);
        assert_int_equal(mmdx__mask_align(ctx, "m.nii", img, src, &out, &g),
                         MMDX_OK);
        assert_int_equal(g, MMDX_MASK_GEOM_REORDERED);
        for (k = 0; k < 2; k++)
            for (j = 0; j < 4; j++)
                for (i = 0; i < 3; i++)
                    assert_true(out->vox[j + 4 * ((2 - i) + 3 * k)] ==
                                (float)(i + 3 * (j + 4 * k)));
        mmdx__image_free(src);
        mmdx__image_free(out);
    }
    /* 3. a 2 x 2 x 1 sub-grid at image voxel (1, 1, 1) */
    {
        double o3[3] = { 10.5, 20.5, 32 };

        nii_default(&s, 2, 2, 1);
        sform_lps(&s, o3, ex, ey, ez);
        len = nii_make(buf, sizeof(buf), &s, vals + 1);
        assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &src),
                         MMDX_OK);
        assert_int_equal(mmdx__mask_align(ctx, "m.nii", img, src, &out, &g),
                         MMDX_OK);
        assert_int_equal(g, MMDX_MASK_GEOM_REORDERED);
        assert_true(out->vox[1 + 4 * (1 + 3 * 1)] == 1.0f);
        assert_true(out->vox[2 + 4 * (2 + 3 * 1)] == 4.0f);
        assert_true(out->vox[0] == 0.0f);
        mmdx__image_free(src);
        mmdx__image_free(out);
    }
    /* 4. no geometry: dimensions only */
    nii_default(&s, 4, 3, 2);
    len = nii_make(buf, sizeof(buf), &s, vals);
    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &src),
                     MMDX_OK);
    assert_int_equal(mmdx__mask_align(ctx, "m.nii", img, src, &out, &g),
                     MMDX_OK);
    assert_int_equal(g, MMDX_MASK_GEOM_UNCHECKED);
    mmdx__image_free(src);
    mmdx__image_free(out);
    nii_default(&s, 4, 3, 3);
    len = nii_make(buf, sizeof(buf), &s, vals);
    assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0, &src),
                     MMDX_OK);
    expect_err(ctx, mmdx__mask_align(ctx, "m.nii", img, src, &out, &g),
               MMDX_E_MISMATCH, "dim",
               "mask grid 4x3x3 differs from the image's 4x3x2");
    assert_null(out);
    mmdx__image_free(src);
    /* 5. refusals with geometry */
    {
        double big[3] = { 1.0, 0, 0 }, half[3] = { 10.25, 20, 30 },
               obl[3] = { 0.5 * 0.8, 0.5 * 0.6, 0 },
               out3[3] = { 11, 20, 30 };
        struct {
            const double *o, *a;
            const char *needle;
        } bad[4] = {
            { o, big, "mask voxel size along i (x, columns) is 2 image "
                      "voxels" },
            { half, ex, "of an image voxel along i (x, columns)" },
            { o, obl, "does not run along an image axis" },
            { out3, ex, "extends outside the image" },
        };
        int b;

        for (b = 0; b < 4; b++) {
            nii_default(&s, 4, 3, 2);
            sform_lps(&s, bad[b].o, bad[b].a, ey, ez);
            len = nii_make(buf, sizeof(buf), &s, vals);
            assert_int_equal(mmdx__nifti_decode(ctx, "m.nii", buf, len, 0,
                                                &src), MMDX_OK);
            expect_err(ctx, mmdx__mask_align(ctx, "m.nii", img, src, &out,
                                             &g),
                       MMDX_E_MISMATCH, "geometry", bad[b].needle);
            mmdx__image_free(src);
        }
    }
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

struct ids {
    char field[4][96], value[4][96];
    int kind[4], n;
};

static enum mmdx_status keep_id(void *user, const char *file,
                                const char *field, int kind,
                                const char *value)
{
    struct ids *d = user;

    (void)file;
    if (d->n < 4) {
        mmdx__strlcpy(d->field[d->n], field, sizeof(d->field[0]));
        mmdx__strlcpy(d->value[d->n], value, sizeof(d->value[0]));
        d->kind[d->n] = kind;
    }
    d->n++;
    return MMDX_OK;
}

/* Ensure that a NIfTI mask's free-text header fields (descrip, aux_file)
 * and a header extension are reported to the de-identification gate as
 * identifying fields (free text, private data), with the field named,
 * and that a header without them reports nothing. */
static void nifti_load__free_text__idfields(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *path = mmdx__path_join(dir, "m.nii");
    static uint8_t buf[4096];
    struct mmdx_image *img = axial(4, 3, 2), *m = NULL;
    struct mmdx_mask_opts o = { NULL, 0 };
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    struct ids d;
    struct nii s;
    size_t len;
    FILE *fp;
    int round;

    (void)state;
    for (round = 0; round < 2; round++) {
        nii_default(&s, 4, 3, 2);
        s.vox_offset = 368;
        len = nii_make(buf, sizeof(buf), &s, NULL);
        memset(buf + 352, 0, 16 + 24);
        len = 368 + 24;
        if (round == 0) {
            memcpy(buf + 148, "Name Surname 1970", 17);
            memcpy(buf + 228, "notes.txt", 9);
            buf[348] = 1;   /* an extension follows */
            put_u(buf + 352, 16, 4, false);
            put_u(buf + 356, 6, 4, false);
        }
        fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, len, fp), len);
        fclose(fp);
        memset(&d, 0, sizeof(d));
        assert_int_equal(mmdx__mask_load(ctx, path, img, &o, keep_id, &d, &m,
                                         &kind, &g, NULL), MMDX_OK);
        mmdx__image_free(m);
        m = NULL;
        if (round == 1) {
            assert_int_equal(d.n, 0);
            break;
        }
        assert_int_equal(d.n, 3);
        assert_string_equal(d.field[0], "descrip (NIfTI-1 header)");
        assert_string_equal(d.value[0], "Name Surname 1970");
        assert_int_equal(d.kind[0], MMDX_ID_FREE_TEXT);
        assert_string_equal(d.field[1], "aux_file (NIfTI-1 header)");
        assert_string_equal(d.field[2],
                            "extension (NIfTI-1 header extension)");
        assert_int_equal(d.kind[2], MMDX_ID_PRIVATE);
    }
    mmdx__image_free(img);
    mmdx__free(path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that the phantom's deprecated DICOM image (coronal frames, 1 mm
 * spacing declared) and its NIfTI mask (axial, 2 mm) are refused as
 * different grids, naming the mask file and "geometry". */
static void mask_load__phantom_dicom_vs_nifti__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ip = test_shared("ibsi/digital_phantom/dicom_deprecated/image/"
                           "phantom.deprecated");
    char *mp = test_shared("ibsi/digital_phantom/nifti/mask/mask.nii.gz");
    struct mmdx_image *img = NULL, *m = NULL;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;

    (void)state;
    assert_int_equal(mmdx__dicom_load(ctx, ip, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(mmdx__mask_load(ctx, mp, img, NULL, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_E_MISMATCH);
    assert_int_equal(kind, MMDX_MASK_NIFTI);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "geometry");
    assert_string_equal(mmdx_ctx_last_error(ctx)->path, mp);
    assert_null(m);
    mmdx__image_free(img);
    mmdx__free(ip);
    mmdx__free(mp);
    mmdx_ctx_free(ctx);
}

/* Ensure that a file of another input format given as a mask is refused
 * as no mask, naming its format (not as a DICOM parse error), and that a
 * NIfTI-1 file shorter than its header is reported as truncated. */
static void mask_load__other_formats__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ip = test_shared("dicom/CT_small.dcm");
    char *edf = test_shared("eeg/test.edf");
    char *dir = test_tmpdir(), *nii = mmdx__path_join(dir, "short.nii");
    struct mmdx_image *img = NULL, *m = NULL;
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;
    static const unsigned char head[100] = { 0x5C, 0x01, 0, 0 };

    (void)state;
    assert_int_equal(mmdx__dicom_load(ctx, ip, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(mmdx__mask_load(ctx, edf, img, NULL, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_E_FORMAT);
    assert_error_has(ctx, "not a mask (the file is edf");
    assert_null(m);
    mmdx_ctx_free(ctx);
    ctx = test_ctx();
    assert_int_equal(mmdx__file_write_atomic(ctx, nii, head, sizeof(head)),
                     MMDX_OK);
    assert_int_equal(mmdx__mask_load(ctx, nii, img, NULL, NULL, NULL, &m,
                                     &kind, &g, NULL), MMDX_E_FORMAT);
    assert_int_equal(kind, MMDX_MASK_NIFTI);
    assert_error_has(ctx, "the NIfTI-1 header needs 348");
    assert_null(m);
    mmdx__image_free(img);
    test_rmtree(dir);
    mmdx__free(nii);
    mmdx__free(ip);
    mmdx__free(edf);
    mmdx_ctx_free(ctx);
}

/* Ensure that NIfTI decoding (gzip) and alignment return E_NOMEM at
 * every failed allocation and leak nothing, then succeed. */
static void nifti_mask__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_image *img = axial(4, 3, 2), *src = NULL, *out = NULL;
    static uint8_t buf[4096], gz[4096];
    double vals[24], o[3] = { 10, 21, 30 }, ex[3] = { 0.5, 0, 0 },
           my[3] = { 0, -0.5, 0 }, ez[3] = { 0, 0, 2 };
    enum mmdx_mask_geom g;
    struct nii s;
    size_t len, glen, i;
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    (void)state;
    for (i = 0; i < 24; i++)
        vals[i] = (double)(i % 2);
    nii_default(&s, 3, 4, 2);
    sform_lps(&s, o, my, ex, ez);
    len = nii_make(buf, sizeof(buf), &s, vals);
    glen = gz_make(gz, sizeof(gz), buf, len, false);
    for (n = 1; n < 1000 && st == MMDX_E_NOMEM; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__nifti_decode(ctx, "m.nii.gz", gz, glen, 0, &src);
        if (!st) {
            st = mmdx__mask_align(ctx, "m.nii.gz", img, src, &out, &g);
            mmdx__image_free(src);
            src = NULL;
        }
        mmdx__alloc_fail_at(0);
        if (st)
            assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_int_equal(st, MMDX_OK);
    assert_true(n > 4);
    mmdx__image_free(out);
    mmdx__image_free(img);
    mmdx_ctx_free(ctx);
}

/* ---- RTSTRUCT masks ----------------------------------------------------- */

/* A CT series of 3 axial slices of 16 x 16 (0.5 mm pixels, 2 mm apart,
 * z = 0, 2, 4; image origin x = -4, y = -4) written with the shim's CT
 * writer into dir/ct, loaded back. */
static struct mmdx_image *ct_series(struct mmdx_ctx *ctx, const char *dir)
{
    char *ctdir = mmdx__path_join(dir, "ct");
    struct mmdx_image *img = NULL;
    int16_t px[256];
    int k;

    assert_non_null(ctdir);
    assert_int_equal(mmdx__mkdir_p(ctx, ctdir), MMDX_OK);
    for (k = 0; k < 256; k++)
        px[k] = (int16_t)(k % 50);
    for (k = 0; k < 3; k++) {
        struct mmdx_dicom_ct w;
        char name[32], *p;

        memset(&w, 0, sizeof(w));
        w.pixels = px;
        w.rows = w.cols = 16;
        w.slope = 1;
        w.intercept = -1000;
        w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = 0.5;
        w.slice_thickness_mm = 2;
        w.position_mm[0] = -4;
        w.position_mm[1] = -4;
        w.position_mm[2] = 2.0 * k;
        w.instance_number = k + 1;
        w.patient_id = "SYN99999";
        w.series_uid = "1.2.826.0.1.3680043.10.999.1";
        w.study_uid = "1.2.826.0.1.3680043.10.999.2";
        snprintf(name, sizeof(name), "%d.dcm", k);
        p = mmdx__path_join(ctdir, name);
        assert_int_equal(mmdx__dicom_write_ct(ctx, p, &w), MMDX_OK);
        mmdx__free(p);
    }
    assert_int_equal(mmdx__dicom_load(ctx, ctdir, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(img->nz, 3);
    mmdx__free(ctdir);
    return img;
}

/* Square contour (voxel units x0..x1, y0..y1 on the grid above) at z mm. */
static void square(double *p, double x0, double y0, double x1, double y1,
                   double z)
{
    double xs[4] = { x0, x1, x1, x0 }, ys[4] = { y0, y0, y1, y1 };
    int i;

    for (i = 0; i < 4; i++) {
        p[3 * i] = -4 + 0.5 * xs[i];
        p[3 * i + 1] = -4 + 0.5 * ys[i];
        p[3 * i + 2] = z;
    }
}

static size_t count_in(const struct mmdx_image *m, size_t z)
{
    size_t i, n = 0;

    for (i = 0; i < m->nx * m->ny; i++)
        n += m->vox[z * m->nx * m->ny + i] > 0.5f;
    return n;
}

/* Ensure that RTSTRUCT contours are rasterised onto the right slices by
 * geometry with the even-odd rule: ROI "GTV" = a 4x4-voxel square on
 * slice 0 and an 8x8 square with a 2x2 hole on slice 1 (16 and 60
 * voxels); the first ROI ("Body", a triangle) is the default; names
 * match case-insensitively; an open contour is skipped; a missing name is
 * E_NOTFOUND without echoing names; a contour off every slice, a
 * non-planar one and an image without geometry are refused by field. */
static void rtstruct_mask__series__rasterised(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *rs = mmdx__path_join(dir, "rs.dcm");
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    double g0[12], g1[12], g2[12], tri[9] = { -4, -4, 0, 3.5, -4, 0,
                                              -4, 3.5, 0 },
           line[6] = { -4, -4, 2, 3, 3, 2 };
    const double *gp[4] = { g0, g1, g2, line }, *bp[1] = { tri };
    size_t gn[4] = { 4, 4, 4, 2 }, bn[1] = { 3 };
    struct mmdx_rt_stats nc;
    struct mmdx_dicom_rt_roi rois[2];
    struct mmdx_dicom_rt_write w;
    struct mmdx_mask_opts o = { "gtv", 0 };
    enum mmdx_mask_kind kind;
    enum mmdx_mask_geom g;

    (void)state;
    square(g0, 2, 2, 6, 6, 0);
    square(g1, 1, 1, 9, 9, 2);
    square(g2, 3, 3, 5, 5, 2);
    memset(rois, 0, sizeof(rois));
    rois[0].name = "Body";
    rois[0].ncontours = 1;
    rois[0].npts = bn;
    rois[0].pts_mm = bp;
    rois[1].name = "GTV";
    rois[1].ncontours = 4;
    rois[1].npts = gn;
    rois[1].pts_mm = gp;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99999";
    w.rois = rois;
    w.nroi = 2;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    assert_true(mmdx__dicom_is_rtstruct(rs));
    /* by name (case-insensitive) */
    assert_int_equal(mmdx__mask_load(ctx, rs, img, &o, NULL, NULL, &m, &kind,
                                     &g, &nc), MMDX_OK);
    assert_int_equal(kind, MMDX_MASK_RTSTRUCT);
    assert_int_equal(nc.ncontours, 4);
    assert_int_equal(nc.placed, 3);
    assert_int_equal(nc.not_closed, 1);   /* the 2-point contour */
    assert_int_equal(nc.off_image, 0);
    assert_int_equal(count_in(m, 0), 16);
    assert_int_equal(count_in(m, 1), 60);
    assert_int_equal(count_in(m, 2), 0);
    assert_true(m->vox[2 + 16 * 2] == 1.0f && m->vox[6 + 16 * 6] == 0.0f);
    assert_true(m->vox[16 * 16 + 3 + 16 * 3] == 0.0f);   /* the hole */
    mmdx__image_free(m);
    m = NULL;
    /* default: the first ROI, a right triangle of legs 15 voxels on
     * slice 0: the centres strictly... half-open: 15 + 14 + ... + 1 */
    assert_int_equal(mmdx__rtstruct_mask(ctx, rs, img, NULL, NULL, NULL, &m,
                                         &nc), MMDX_OK);
    assert_int_equal(nc.ncontours, 1);
    assert_int_equal(count_in(m, 0), 120);
    mmdx__image_free(m);
    m = NULL;
    /* no such ROI */
    o.roi_name = "PTV";
    expect_err(ctx, mmdx__mask_load(ctx, rs, img, &o, NULL, NULL, &m, &kind,
                                    &g, NULL), MMDX_E_NOTFOUND,
               "ROIName (3006,0026)",
               "no ROI of the requested name among the 2 ROIs");
    assert_null(m);
    /* a contour 100 mm away, and a non-planar one */
    square(g0, 2, 2, 6, 6, 100);
    rois[1].ncontours = 1;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    expect_err(ctx, mmdx__rtstruct_mask(ctx, rs, img, "GTV", NULL, NULL, &m,
                                        &nc), MMDX_E_MISMATCH, "geometry",
               "none of the ROI's 1 closed contours lies on a slice");
    square(g0, 2, 2, 6, 6, 0);
    g0[5] = 1.5;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    expect_err(ctx, mmdx__rtstruct_mask(ctx, rs, img, "GTV", NULL, NULL, &m,
                                        &nc), MMDX_E_FORMAT,
               "ContourData (3006,0050)", "contour 1 of the ROI is not planar");
    /* an image without geometry */
    img->has_orientation = false;
    expect_err(ctx, mmdx__rtstruct_mask(ctx, rs, img, "GTV", NULL, NULL, &m,
                                        &nc), MMDX_E_MISMATCH, "geometry",
               "RTSTRUCT contours cannot be placed");
    mmdx__image_free(img);
    mmdx__free(rs);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

struct feats {
    double source, voxels, hull;
    int n;
};

static void keep_feat(void *user, const char *name, double v)
{
    struct feats *f = user;

    f->n++;
    if (!strcmp(name, "image.roi.source"))
        f->source = v;
    else if (!strcmp(name, "image.roi.voxels"))
        f->voxels = v;
    else if (!strcmp(name, "image.morph.vol_dens_hull"))
        f->hull = v;
}

static void keep_err(void *user, const char *line)
{
    (void)user;
    fail_msg("unexpected error: %s", line);
}

/* Ensure that load.image takes an RTSTRUCT mask end to end (pipeline
 * parameter mask_roi chooses the ROI by name): image.features then uses
 * it (image.roi.source 1, 76 voxels, convex-hull density computed). */
static void load_image__rtstruct_mask_roi__features(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *rs = mmdx__path_join(dir, "rs.dcm");
    char *pipe_path = mmdx__path_join(dir, "p.xml"), *ct;
    struct mmdx_image *img = ct_series(ctx, dir);
    double g0[12], g1[12], g2[12], tri[9] = { -4, -4, 0, 3.5, -4, 0,
                                              -4, 3.5, 0 };
    const double *gp[3] = { g0, g1, g2 }, *bp[1] = { tri };
    size_t gn[3] = { 4, 4, 4 }, bn[1] = { 3 };
    struct mmdx_dicom_rt_roi rois[2];
    struct mmdx_dicom_rt_write w;
    struct mmdx_patient_files pf;
    struct mmdx_pipeline *pipe = NULL;
    struct feats f = { NAN, NAN, NAN, 0 };

    (void)state;
    square(g0, 2, 2, 6, 6, 0);
    square(g1, 1, 1, 9, 9, 2);
    square(g2, 3, 3, 5, 5, 2);
    memset(rois, 0, sizeof(rois));
    rois[0].name = "Body";
    rois[0].ncontours = 1;
    rois[0].npts = bn;
    rois[0].pts_mm = bp;
    rois[1].name = "GTV";
    rois[1].ncontours = 3;
    rois[1].npts = gn;
    rois[1].pts_mm = gp;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99999";
    w.rois = rois;
    w.nroi = 2;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    test_write(dir, "p.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"load.image\">\n"
               "    <param name=\"mask_roi\" value=\"GTV\"/>\n"
               "  </stage>\n"
               "  <stage name=\"image.features\"/>\n"
               "</pipeline>\n");
    assert_int_equal(mmdx_pipeline_load(ctx, pipe_path, &pipe), MMDX_OK);
    ct = mmdx__path_join(dir, "ct");
    memset(&pf, 0, sizeof(pf));
    pf.image = ct;
    pf.mask = rs;
    pf.deid_warn = 1;
    assert_int_equal(mmdx_features_files(ctx, pipe, &pf, keep_feat, keep_err,
                                         &f), MMDX_OK);
    assert_true(f.source == 1);
    assert_true(f.voxels == 76);
    assert_true(f.hull > 0 && f.hull <= 1);
    mmdx_pipeline_free(pipe);
    mmdx__image_free(img);
    mmdx__free(ct);
    mmdx__free(rs);
    mmdx__free(pipe_path);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that RTSTRUCT contours on a coronal series (ImageOrientation
 * 1\0\0\0\0\-1: rows run down z, slices along +y) land on the right
 * slice and voxels: a 4x4-voxel square in the plane y = 2 mm fills
 * columns 2..5 and rows 2..5 of slice 1 only. */
static void rtstruct_mask__coronal__by_orientation(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *rs = mmdx__path_join(dir, "rs.dcm");
    char *ctdir = mmdx__path_join(dir, "ct");
    struct mmdx_image *img = NULL, *m = NULL;
    double sq[12];
    const double *pp[1] = { sq };
    size_t np[1] = { 4 }, r, c;
    struct mmdx_rt_stats nc;
    struct mmdx_dicom_rt_roi roi;
    struct mmdx_dicom_rt_write w;
    int16_t px[256];
    int k;

    (void)state;
    assert_int_equal(mmdx__mkdir_p(ctx, ctdir), MMDX_OK);
    memset(px, 0, sizeof(px));
    for (k = 0; k < 3; k++) {
        struct mmdx_dicom_ct ct;
        char name[32], *p;

        memset(&ct, 0, sizeof(ct));
        ct.pixels = px;
        ct.rows = ct.cols = 16;
        ct.slope = 1;
        ct.pixel_spacing_mm[0] = ct.pixel_spacing_mm[1] = 0.5;
        ct.slice_thickness_mm = 2;
        ct.position_mm[0] = -4;
        ct.position_mm[1] = 2.0 * k;
        ct.position_mm[2] = 4;
        ct.orientation[0] = 1;
        ct.orientation[5] = -1;
        ct.instance_number = k + 1;
        ct.patient_id = "SYN99999";
        ct.series_uid = "1.2.826.0.1.3680043.10.999.3";
        snprintf(name, sizeof(name), "%d.dcm", k);
        p = mmdx__path_join(ctdir, name);
        assert_int_equal(mmdx__dicom_write_ct(ctx, p, &ct), MMDX_OK);
        mmdx__free(p);
    }
    assert_int_equal(mmdx__dicom_load(ctx, ctdir, NULL, NULL, NULL, &img),
                     MMDX_OK);
    assert_int_equal(img->nz, 3);
    for (k = 0; k < 4; k++) {
        double cc = k == 1 || k == 2 ? 6 : 2, rr = k >= 2 ? 6 : 2;

        sq[3 * k] = -4 + 0.5 * cc;
        sq[3 * k + 1] = 2;
        sq[3 * k + 2] = 4 - 0.5 * rr;
    }
    memset(&roi, 0, sizeof(roi));
    roi.name = "GTV";
    roi.ncontours = 1;
    roi.npts = np;
    roi.pts_mm = pp;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99999";
    w.rois = &roi;
    w.nroi = 1;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    assert_int_equal(mmdx__rtstruct_mask(ctx, rs, img, NULL, NULL, NULL, &m,
                                         &nc), MMDX_OK);
    assert_int_equal(count_in(m, 0) + count_in(m, 2), 0);
    assert_int_equal(count_in(m, 1), 16);
    for (r = 2; r < 6; r++)
        for (c = 2; c < 6; c++)
            assert_true(m->vox[256 + c + 16 * r] == 1.0f);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(ctdir);
    mmdx__free(rs);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that malformed RT Structure Sets fail naming the attribute: a
 * CT image is not one (SOPClassUID), NumberOfContourPoints disagreeing
 * with ContourData, a non-numeric coordinate, a missing
 * StructureSetROISequence and a ROIContourSequence that references no
 * ROI (edited with DCMTK's dcmodify; skipped when it is absent). */
static void rtstruct_read__malformed__field_errors(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *ct = test_shared("dicom/CT_small.dcm");
    char *dir = test_tmpdir(), *rs = mmdx__path_join(dir, "rs.dcm");
    double sq[12];
    const double *pp[1] = { sq };
    size_t np[1] = { 4 };
    struct mmdx_dicom_rt_roi roi;
    struct mmdx_dicom_rt_write w;
    struct mmdx_dicom_rtstruct rt;
    char cmd[2048];
    static const struct {
        const char *edit, *field, *needle;
        enum mmdx_status st;
    } cases[] = {
        { "-m \"(3006,0039)[0].(3006,0040)[0].(3006,0046)=5\"",
          "ContourSequence[1].ContourData (3006,0050)",
          "12 values: not 3 x NumberOfContourPoints (5)", MMDX_E_FORMAT },
        { "-m \"(3006,0039)[0].(3006,0040)[0].(3006,0050)=1\\\\2\\\\x\\\\"
          "4\\\\5\\\\6\\\\7\\\\8\\\\9\\\\1\\\\2\\\\3\"",
          "ContourSequence[1].ContourData (3006,0050)",
          "value 3 is not a coordinate in mm", MMDX_E_FORMAT },
        { "-e \"(3006,0020)\"", "StructureSetROISequence (3006,0020)",
          "the file defines no ROI", MMDX_E_FORMAT },
        { "-m \"(3006,0039)[0].(3006,0084)=7\"",
          "ROIContourSequence (3006,0039)", "no item references ROINumber 1",
          MMDX_E_FORMAT },
    };
    size_t c;

    (void)state;
    expect_err(ctx, mmdx__dicom_read_rtstruct(ctx, ct, NULL, &rt),
               MMDX_E_UNSUPPORTED, "SOPClassUID (0008,0016)",
               "not an RT Structure Set");
    assert_false(mmdx__dicom_is_rtstruct(ct));
    if (system("dcmodify --version >/dev/null 2>&1") != 0) {
        mmdx__free(ct);
        mmdx__free(rs);
        test_rmtree(dir);
        mmdx_ctx_free(ctx);
        skip();
    }
    square(sq, 2, 2, 6, 6, 0);
    memset(&roi, 0, sizeof(roi));
    roi.name = "GTV";
    roi.ncontours = 1;
    roi.npts = np;
    roi.pts_mm = pp;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99999";
    w.rois = &roi;
    w.nroi = 1;
    for (c = 0; c < MMDX_ARRAY_SIZE(cases); c++) {
        assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
        snprintf(cmd, sizeof(cmd), "dcmodify -q -nb %s '%s'", cases[c].edit,
                 rs);
        assert_int_equal(system(cmd), 0);
        expect_err(ctx, mmdx__dicom_read_rtstruct(ctx, rs, NULL, &rt),
                   cases[c].st, cases[c].field, cases[c].needle);
        assert_int_equal(rt.ncontours, 0);
    }
    mmdx__free(ct);
    mmdx__free(rs);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* Ensure that reading and rasterising an RTSTRUCT returns E_NOMEM at
 * every failed allocation (inside DCMTK too) and leaks nothing. */
static void rtstruct_mask__oom__nomem(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *rs = mmdx__path_join(dir, "rs.dcm");
    struct mmdx_image *img = ct_series(ctx, dir), *m = NULL;
    double sq[12];
    const double *pp[1] = { sq };
    size_t np[1] = { 4 };
    struct mmdx_rt_stats nc;
    struct mmdx_dicom_rt_roi roi;
    struct mmdx_dicom_rt_write w;
    unsigned long n;
    enum mmdx_status st = MMDX_E_NOMEM;

    (void)state;
    square(sq, 2, 2, 6, 6, 2);
    memset(&roi, 0, sizeof(roi));
    roi.name = "GTV";
    roi.ncontours = 1;
    roi.npts = np;
    roi.pts_mm = pp;
    memset(&w, 0, sizeof(w));
    w.patient_id = "SYN99999";
    w.rois = &roi;
    w.nroi = 1;
    assert_int_equal(mmdx__dicom_write_rtstruct(ctx, rs, &w), MMDX_OK);
    for (n = 1; n < 1000 && st == MMDX_E_NOMEM; n++) {
        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = mmdx__rtstruct_mask(ctx, rs, img, NULL, NULL, NULL, &m, &nc);
        mmdx__alloc_fail_at(0);
        if (st)
            assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_int_equal(st, MMDX_OK);
    assert_int_equal(count_in(m, 1), 16);
    mmdx__image_free(m);
    mmdx__image_free(img);
    mmdx__free(rs);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

/* ---- automatic MR head mask --------------------------------------------- */

static double noise(uint32_t *seed)
{
    double u = 0;
    int k;

    for (k = 0; k < 4; k++)
        u += (double)(lcg(seed) & 0xFFFF) / 65536.0;
    return (u - 2) * 1.7;   /* roughly N(0, 1) */
}

/* Ensure that on a synthetic MR-like volume (64 x 64 x 12: an ellipsoid
 * "head" of intensity ~300 holding a dark "ventricle" of ~30, background
 * noise ~|N(0, 30)|, and a bright 3x3x3 "marker" outside the head) the
 * head mask keeps the ellipsoid (Dice > 0.97), fills the ventricle, drops
 * the marker, and states a threshold between background and head. */
static void mr_head_mask__synthetic__head_kept(void **state)
{
    struct mmdx_image *img = grid(64, 64, 12, 1.0);
    uint8_t *roi = mmdx__malloc(64 * 64 * 12);
    uint8_t *truth = mmdx__malloc(64 * 64 * 12);
    struct mmdx_headmask_info hi;
    uint32_t seed = 99;
    size_t x, y, z, v = 0, inter = 0, nm = 0, nt = 0;

    (void)state;
    assert_non_null(roi);
    assert_non_null(truth);
    for (z = 0; z < 12; z++)
        for (y = 0; y < 64; y++)
            for (x = 0; x < 64; x++, v++) {
                double dx = ((double)x - 31.5) / 24,
                       dy = ((double)y - 31.5) / 28,
                       dz = ((double)z - 5.5) / 7;
                double vx = ((double)x - 31.5) / 6,
                       vy = ((double)y - 31.5) / 4,
                       vz = ((double)z - 5.5) / 3;
                double val = fabs(30 * noise(&seed));

                truth[v] = dx * dx + dy * dy + dz * dz <= 1;
                if (truth[v])
                    val = 300 + 20 * noise(&seed);
                if (vx * vx + vy * vy + vz * vz <= 1)
                    val = 30 + 10 * noise(&seed);
                if (x >= 1 && x <= 3 && y >= 1 && y <= 3 && z >= 4 && z <= 6)
                    val = 400;
                img->vox[v] = (float)val;
            }
    assert_int_equal(mmdx__mr_head_mask(img, 2, roi, &hi), MMDX_OK);
    assert_true(hi.threshold > 60 && hi.threshold < 250);
    assert_true(hi.components >= 2);
    for (v = 0; v < 64 * 64 * 12; v++) {
        inter += roi[v] && truth[v];
        nm += roi[v];
        nt += truth[v];
    }
    print_message("synthetic MR head: threshold %.1f, %zu components, Dice "
                  "%.4f\n", hi.threshold, hi.components,
                  2.0 * (double)inter / (double)(nm + nt));
    assert_true(2.0 * (double)inter / (double)(nm + nt) > 0.97);
    assert_int_equal(nm, hi.voxels);
    /* ventricle centre filled, marker dropped */
    assert_int_equal(roi[31 + 64 * (31 + 64 * 5)], 1);
    assert_int_equal(roi[2 + 64 * (2 + 64 * 5)], 0);
    mmdx__free(roi);
    mmdx__free(truth);
    mmdx__image_free(img);
}

/* Ensure that the head mask is sensible on the real MR files of the
 * shared data (MR_small: 64 x 64 slice; emri_small: 10-frame enhanced MR;
 * MR-SIEMENS: a 484 x 484 head slice): one filled region covering 20-95 % of the image, whose
 * mean intensity is above the rest's; and that a constant image has no
 * foreground (E_INVAL). */
static void mr_head_mask__shared_mr__plausible(void **state)
{
    static const char *const files[3] = {
        "dicom/MR_small.dcm", "dicom/emri_small.dcm",
        "dicom/MR-SIEMENS-DICOM-WithOverlays.dcm" };
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_headmask_info hi;
    struct mmdx_image *c = grid(8, 8, 2, 1.0);
    uint8_t roi8[128];
    int f;

    (void)state;
    for (f = 0; f < 3; f++) {
        char *path = test_shared(files[f]);
        struct mmdx_image *img = NULL;
        uint8_t *roi;
        size_t n, v;
        double in = 0, out = 0, frac;

        assert_int_equal(mmdx__dicom_load(ctx, path, NULL, NULL, NULL, &img),
                         MMDX_OK);
        n = img->nx * img->ny * img->nz;
        roi = mmdx__malloc(n);
        assert_non_null(roi);
        assert_int_equal(mmdx__mr_head_mask(img, 2, roi, &hi), MMDX_OK);
        for (v = 0; v < n; v++) {
            if (roi[v])
                in += img->vox[v];
            else
                out += img->vox[v];
        }
        frac = (double)hi.voxels / (double)n;
        print_message("%s: %zux%zux%zu, threshold %.1f, mask %.1f %%\n",
                      files[f], img->nx, img->ny, img->nz, hi.threshold,
                      100 * frac);
        assert_true(frac > 0.2 && frac < 0.95);
        assert_true(in / (double)hi.voxels >
                    out / (double)(n - hi.voxels));
        mmdx__free(roi);
        mmdx__image_free(img);
        mmdx__free(path);
    }
    for (f = 0; f < 128; f++)
        c->vox[f] = 7;
    assert_int_equal(mmdx__mr_head_mask(c, 2, roi8, &hi), MMDX_E_INVAL);
    mmdx__image_free(c);
    mmdx_ctx_free(ctx);
}

/* Ensure that the head mask returns E_NOMEM at every failed allocation
 * and leaks nothing, then succeeds. */
static void mr_head_mask__oom__nomem(void **state)
{
    struct mmdx_image *img = grid(16, 16, 3, 1.0);
    uint8_t roi[16 * 16 * 3];
    struct mmdx_headmask_info hi;
    unsigned long n;
    size_t v;
    enum mmdx_status st = MMDX_E_NOMEM;

    (void)state;
    for (v = 0; v < 16 * 16 * 3; v++) {
        size_t x = v % 16, y = (v / 16) % 16;

        img->vox[v] = (x > 3 && x < 12 && y > 3 && y < 12) ? 100.0f : 1.0f;
    }
    for (n = 1; n < 1000 && st == MMDX_E_NOMEM; n++) {
        mmdx__alloc_fail_at(n);
        st = mmdx__mr_head_mask(img, 1, roi, &hi);
        mmdx__alloc_fail_at(0);
    }
    assert_int_equal(st, MMDX_OK);
    assert_int_equal(hi.voxels, 8 * 8 * 3);
    mmdx__image_free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hull3d__cube__volume_area),
        cmocka_unit_test(hull3d__tetrahedron__exact),
        cmocka_unit_test(hull3d__lattice_ball__verified),
        cmocka_unit_test(hull3d__random_degenerate__verified),
        cmocka_unit_test(hull3d__degenerate__dimension),
        cmocka_unit_test(hull3d__extreme_range__exact),
        cmocka_unit_test(roi_hull__voxels__closed_form),
        cmocka_unit_test(roi_hull__ibsi_phantom__reference),
        cmocka_unit_test(roi_hull__oom__nomem),
        cmocka_unit_test(nifti_load__ibsi_phantom__matches_csv),
        cmocka_unit_test(nifti_header__malformed__field_errors),
        cmocka_unit_test(nifti_decode__types_endianness_gzip__same_values),
        cmocka_unit_test(mask_align__geometry__mapped_or_refused),
        cmocka_unit_test(nifti_load__free_text__idfields),
        cmocka_unit_test(mask_load__phantom_dicom_vs_nifti__refused),
        cmocka_unit_test(mask_load__other_formats__named),
        cmocka_unit_test(nifti_mask__oom__nomem),
        cmocka_unit_test(rtstruct_mask__series__rasterised),
        cmocka_unit_test(rtstruct_mask__coronal__by_orientation),
        cmocka_unit_test(load_image__rtstruct_mask_roi__features),
        cmocka_unit_test(rtstruct_read__malformed__field_errors),
        cmocka_unit_test(rtstruct_mask__oom__nomem),
        cmocka_unit_test(mr_head_mask__synthetic__head_kept),
        cmocka_unit_test(mr_head_mask__shared_mr__plausible),
        cmocka_unit_test(mr_head_mask__oom__nomem),
    };

    return cmocka_run_group_tests_name("imgroi_testdriver", tests, NULL,
                                       NULL);
}
