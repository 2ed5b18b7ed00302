/*
 * test_imgroi.c - imgroi_testdriver: regions of interest for images: the
 * exact convex hull (IBSI convex-hull densities).
 *
 * Reference values are closed-form (cube, box, tetrahedron, octahedron);
 * where none exists (lattice balls, random degenerate sets) the hull is
 * verified instead: every input point lies on or below every facet and
 * the facets close up (mmdx__hull3d_checked), which together with
 * vertices drawn from the input makes it the convex hull.
 */
#include "core/common.h"
#include "features/image_features.h"
#include "features/image_hull.h"
#include "io/image.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

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
    };

    return cmocka_run_group_tests_name("imgroi_testdriver", tests, NULL,
                                       NULL);
}
