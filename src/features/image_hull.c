/*
 * image_hull.c - exact 3D convex hull (quickhull) of integer lattice
 * points, and the convex hull of a region of interest's mesh for the
 * IBSI 1 densities "volume density (convex hull)" (R3ER) and "area
 * density (convex hull)" (7T7F).
 *
 * Why integers: the ROI mesh vertices are midpoints of lattice edges, so
 * in half-voxel units they are integers; spacing is applied afterwards
 * (hull volume and area transform exactly under axis scaling). With
 * |coordinate| < 2^19 every difference is < 2^20, a facet normal
 * component < 2^41 and an orientation determinant < 3 * 2^61, so the
 * predicates are exact in int64_t and no epsilon is needed anywhere.
 *
 * Degeneracies: a point strictly above a facet is outside; the apex q of
 * a step removes every facet it sees or lies in the plane of (weak
 * visibility), so the new facets are never coplanar with the old facet
 * across their horizon edge and never degenerate; points that end up in
 * the plane of a new facet are checked against the horizon's old facets
 * too, so none that is outside the hull is ever dropped.
 */
#include "core/common.h"
#include "features/image_hull.h"

struct facet {
    int v[3];          /* vertices, counter-clockwise seen from outside */
    int nb[3];         /* facet across edge v[k] -> v[(k + 1) % 3] */
    int64_t n[3];      /* outward normal (v1 - v0) x (v2 - v0) */
    int head;          /* first point of the outside set, -1 none */
    int far;           /* highest point of the outside set */
    int64_t fard;      /* its height above the facet's plane (scaled) */
    unsigned mark;     /* visit stamp of the current step */
    bool alive;
};

struct qh {
    const int64_t *p;  /* 3 * n coordinates */
    size_t n;
    int *next;         /* outside-set chains, per point */
    int *start;        /* per point: new facet whose horizon edge starts
                          there, -1 */
    struct facet *f;
    size_t nf, fcap;
    int *stack;        /* facets that may have an outside set */
    size_t ns, scap;
    int *vis;          /* visible facets of the current step */
    size_t nvis, vcap;
    int *hz;           /* horizon: visible facet * 3 + edge */
    size_t nhz, hcap;
    unsigned stamp;
};

static int64_t height(const struct facet *f, const int64_t *P, int i)
{
    const int64_t *a = P + 3 * f->v[0], *q = P + 3 * i;

    return f->n[0] * (q[0] - a[0]) + f->n[1] * (q[1] - a[1]) +
           f->n[2] * (q[2] - a[2]);
}

static void cross(const int64_t *a, const int64_t *b, const int64_t *c,
                  int64_t out[3])
{
    int64_t u[3] = { b[0] - a[0], b[1] - a[1], b[2] - a[2] };
    int64_t w[3] = { c[0] - a[0], c[1] - a[1], c[2] - a[2] };

    out[0] = u[1] * w[2] - u[2] * w[1];
    out[1] = u[2] * w[0] - u[0] * w[2];
    out[2] = u[0] * w[1] - u[1] * w[0];
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t nc, bytes;
    void *p;

    if (need <= *cap)
        return true;
    nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return false;
        nc *= 2;
    }
    if (!mmdx__mul_size(nc, elem, &bytes))
        return false;
    p = mmdx__realloc(*arr, bytes);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

static bool push_int(int **arr, size_t *len, size_t *cap, int v)
{
    void *a = *arr;

    if (!grow(&a, cap, *len + 1, sizeof(int)))
        return false;
    *arr = a;
    (*arr)[(*len)++] = v;
    return true;
}

/* A new facet a, b, c (outward orientation); its index, or -1 on OOM. */
static int new_facet(struct qh *h, int a, int b, int c)
{
    struct facet *f;
    void *arr = h->f;

    if (h->nf >= INT_MAX || !grow(&arr, &h->fcap, h->nf + 1, sizeof(*f)))
        return -1;
    h->f = arr;
    f = &h->f[h->nf];
    f->v[0] = a;
    f->v[1] = b;
    f->v[2] = c;
    f->nb[0] = f->nb[1] = f->nb[2] = -1;
    cross(h->p + 3 * a, h->p + 3 * b, h->p + 3 * c, f->n);
    f->head = -1;
    f->far = -1;
    f->fard = 0;
    f->mark = 0;
    f->alive = true;
    return (int)h->nf++;
}

/* Put point i in facet fi's outside set when it is strictly above it. */
static bool try_assign(struct qh *h, int fi, int i)
{
    struct facet *f = &h->f[fi];
    int64_t d = height(f, h->p, i);

    if (d <= 0)
        return false;
    h->next[i] = f->head;
    f->head = i;
    if (f->far < 0 || d > f->fard) {
        f->far = i;
        f->fard = d;
    }
    return true;
}

/*
 * Affine dimension and an initial simplex: i[0] the lexicographically
 * smallest point, i[1] the farthest from it, i[2] the farthest from that
 * line, i[3] the farthest from that plane (farthest only steers speed;
 * the non-degeneracy tests are exact).
 */
static int simplex(const int64_t *P, size_t n, int idx[4])
{
    size_t i, b;
    int64_t best = 0;
    double bestd = 0;

    b = 0;
    for (i = 1; i < n; i++) {
        const int64_t *p = P + 3 * i, *q = P + 3 * b;

        if (p[0] < q[0] || (p[0] == q[0] && (p[1] < q[1] ||
                                             (p[1] == q[1] && p[2] < q[2]))))
            b = i;
    }
    idx[0] = (int)b;
    for (i = 0; i < n; i++) {
        const int64_t *p = P + 3 * i, *q = P + 3 * idx[0];
        int64_t d = (p[0] - q[0]) * (p[0] - q[0]) +
                    (p[1] - q[1]) * (p[1] - q[1]) +
                    (p[2] - q[2]) * (p[2] - q[2]);

        if (d > best) {
            best = d;
            idx[1] = (int)i;
        }
    }
    if (best == 0)
        return 0;
    for (i = 0, b = n; i < n; i++) {
        int64_t c[3];
        double d;

        cross(P + 3 * idx[0], P + 3 * idx[1], P + 3 * i, c);
        if (!c[0] && !c[1] && !c[2])
            continue;
        d = (double)c[0] * (double)c[0] + (double)c[1] * (double)c[1] +
            (double)c[2] * (double)c[2];
        if (b == n || d > bestd) {
            bestd = d;
            b = i;
        }
    }
    if (b == n)
        return 1;
    idx[2] = (int)b;
    best = 0;
    {
        int64_t nrm[3];

        cross(P + 3 * idx[0], P + 3 * idx[1], P + 3 * idx[2], nrm);
        for (i = 0; i < n; i++) {
            const int64_t *p = P + 3 * i, *a = P + 3 * idx[0];
            int64_t d = nrm[0] * (p[0] - a[0]) + nrm[1] * (p[1] - a[1]) +
                        nrm[2] * (p[2] - a[2]);

            if (d < 0)
                d = -d;
            if (d > best) {
                best = d;
                idx[3] = (int)i;
            }
        }
    }
    return best == 0 ? 2 : 3;
}

/* Link facet a's edge (u -> v) with the facet b that has edge (v -> u). */
static bool link_pair(struct qh *h, int a, int b)
{
    int ka, kb;

    for (ka = 0; ka < 3; ka++)
        for (kb = 0; kb < 3; kb++)
            if (h->f[a].v[ka] == h->f[b].v[(kb + 1) % 3] &&
                h->f[a].v[(ka + 1) % 3] == h->f[b].v[kb]) {
                h->f[a].nb[ka] = b;
                h->f[b].nb[kb] = a;
                return true;
            }
    return false;
}

/* One quickhull step on facet fi: add its highest outside point. */
static enum mmdx_status step(struct qh *h, int fi)
{
    const int64_t *P = h->p;
    int q = h->f[fi].far, i, pt;
    size_t k, first_new, j;

    /* take q out of the outside set */
    {
        int *pp = &h->f[fi].head;

        while (*pp != q)
            pp = &h->next[*pp];
        *pp = h->next[q];
    }
    /* visible region (weak: q on or above the plane), and its horizon */
    h->stamp++;
    h->nvis = 0;
    h->nhz = 0;
    if (!push_int(&h->vis, &h->nvis, &h->vcap, fi))
        return MMDX_E_NOMEM;
    h->f[fi].mark = h->stamp;
    for (k = 0; k < h->nvis; k++) {
        int e;

        for (e = 0; e < 3; e++) {
            int g = h->f[h->vis[k]].nb[e];

            if (h->f[g].mark == h->stamp)
                continue;
            if (height(&h->f[g], P, q) >= 0) {
                h->f[g].mark = h->stamp;
                if (!push_int(&h->vis, &h->nvis, &h->vcap, g))
                    return MMDX_E_NOMEM;
            }
        }
    }
    for (k = 0; k < h->nvis; k++) {
        int e;

        for (e = 0; e < 3; e++) {
            int g = h->f[h->vis[k]].nb[e];

            if (h->f[g].mark != h->stamp &&
                !push_int(&h->hz, &h->nhz, &h->hcap, h->vis[k] * 3 + e))
                return MMDX_E_NOMEM;
        }
    }
    if (h->nhz < 3)
        return MMDX_E_INTERNAL;
    /* the cone of new facets from the horizon to q */
    first_new = h->nf;
    for (k = 0; k < h->nhz; k++) {
        int vf = h->hz[k] / 3, e = h->hz[k] % 3, g, nf, a, b, kk;

        a = h->f[vf].v[e];
        b = h->f[vf].v[(e + 1) % 3];
        g = h->f[vf].nb[e];
        nf = new_facet(h, a, b, q);
        if (nf < 0)
            return MMDX_E_NOMEM;
        if (!h->f[nf].n[0] && !h->f[nf].n[1] && !h->f[nf].n[2])
            return MMDX_E_INTERNAL;
        if (h->start[a] >= 0)
            return MMDX_E_INTERNAL;   /* horizon is not a simple cycle */
        h->start[a] = nf;
        h->f[nf].nb[0] = g;
        for (kk = 0; kk < 3; kk++)
            if (h->f[g].nb[kk] == vf && h->f[g].v[kk] == b)
                h->f[g].nb[kk] = nf;
    }
    for (j = first_new; j < h->nf; j++) {
        int m = h->start[h->f[j].v[1]];

        if (m < 0)
            return MMDX_E_INTERNAL;
        h->f[j].nb[1] = m;
        h->f[m].nb[2] = (int)j;
    }
    for (j = first_new; j < h->nf; j++)
        h->start[h->f[j].v[0]] = -1;
    /* retire the visible facets; hand their points to the new facets or,
     * for a point in the plane of a new facet, to the old facet beyond
     * the horizon */
    for (k = 0; k < h->nvis; k++) {
        struct facet *vf = &h->f[h->vis[k]];

        vf->alive = false;
        pt = vf->head;
        vf->head = -1;
        while (pt >= 0) {
            int nx = h->next[pt];
            bool done = false;

            for (j = first_new; j < h->nf && !done; j++)
                done = try_assign(h, (int)j, pt);
            for (j = first_new; j < h->nf && !done; j++)
                done = try_assign(h, h->f[j].nb[0], pt);
            pt = nx;
        }
    }
    for (j = first_new; j < h->nf; j++) {
        if (h->f[j].head >= 0 &&
            !push_int(&h->stack, &h->ns, &h->scap, (int)j))
            return MMDX_E_NOMEM;
        i = h->f[j].nb[0];
        if (h->f[i].head >= 0 &&
            !push_int(&h->stack, &h->ns, &h->scap, i))
            return MMDX_E_NOMEM;
    }
    return MMDX_OK;
}

static enum mmdx_status build(struct qh *h, const int idx[4])
{
    static const int tri[4][3] = { { 1, 2, 3 }, { 0, 3, 2 }, { 0, 1, 3 },
                                   { 0, 2, 1 } };
    int fs[4], a, b;
    size_t i;

    for (a = 0; a < 4; a++) {
        int v0 = idx[tri[a][0]], v1 = idx[tri[a][1]], v2 = idx[tri[a][2]];

        fs[a] = new_facet(h, v0, v1, v2);
        if (fs[a] < 0)
            return MMDX_E_NOMEM;
        /* the vertex left out must be strictly below */
        if (height(&h->f[fs[a]], h->p, idx[a]) > 0) {
            struct facet *f = &h->f[fs[a]];

            f->v[1] = v2;
            f->v[2] = v1;
            cross(h->p + 3 * v0, h->p + 3 * v2, h->p + 3 * v1, f->n);
        }
    }
    for (a = 0; a < 4; a++)
        for (b = a + 1; b < 4; b++)
            if (!link_pair(h, fs[a], fs[b]))
                return MMDX_E_INTERNAL;
    for (i = 0; i < h->n; i++) {
        if ((int)i == idx[0] || (int)i == idx[1] || (int)i == idx[2] ||
            (int)i == idx[3])
            continue;
        for (a = 0; a < 4; a++)
            if (try_assign(h, fs[a], (int)i))
                break;
    }
    for (a = 0; a < 4; a++)
        if (h->f[fs[a]].head >= 0 &&
            !push_int(&h->stack, &h->ns, &h->scap, fs[a]))
            return MMDX_E_NOMEM;
    while (h->ns) {
        int fi = h->stack[--h->ns];
        enum mmdx_status st;

        if (!h->f[fi].alive || h->f[fi].head < 0)
            continue;
        st = step(h, fi);
        if (st)
            return st;
    }
    return MMDX_OK;
}

/* Every point on or below every facet, and every facet's neighbour
 * links back to it: the surface is closed and convex. O(n * facets). */
static bool verify(const struct qh *h)
{
    size_t i, j;
    int k, kk;

    for (i = 0; i < h->nf; i++) {
        const struct facet *f = &h->f[i];

        if (!f->alive)
            continue;
        for (k = 0; k < 3; k++) {
            const struct facet *g = &h->f[f->nb[k]];
            bool back = false;

            if (!g->alive)
                return false;
            for (kk = 0; kk < 3; kk++)
                back |= g->nb[kk] == (int)i &&
                        g->v[kk] == f->v[(k + 1) % 3] &&
                        g->v[(kk + 1) % 3] == f->v[k];
            if (!back)
                return false;
        }
        for (j = 0; j < h->n; j++)
            if (height(f, h->p, (int)j) > 0)
                return false;
    }
    return true;
}

static enum mmdx_status hull_run(const int32_t *pts, size_t n,
                                 const double scale[3], bool check,
                                 struct mmdx_hull *out)
{
    struct qh h;
    int64_t *P = NULL, vol6 = 0;
    double s[3] = { 1, 1, 1 }, area = 0;
    int idx[4] = { 0, 0, 0, 0 };
    size_t i, bytes;
    enum mmdx_status st = MMDX_OK;

    memset(out, 0, sizeof(*out));
    out->dim = -1;
    if (scale)
        for (i = 0; i < 3; i++)
            s[i] = scale[i];
    if (!n)
        return MMDX_OK;
    if (n > (size_t)1 << 28)
        return MMDX_E_INVAL;
    for (i = 0; i < 3 * n; i++)
        if (pts[i] < -MMDX_HULL_COORD_MAX || pts[i] > MMDX_HULL_COORD_MAX)
            return MMDX_E_INVAL;
    memset(&h, 0, sizeof(h));
    if (!mmdx__mul_size(3 * sizeof(int64_t), n, &bytes))
        return MMDX_E_INVAL;
    P = mmdx__malloc(bytes);
    h.next = mmdx__malloc(n * sizeof(int));
    h.start = mmdx__malloc(n * sizeof(int));
    if (!P || !h.next || !h.start) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    for (i = 0; i < 3 * n; i++)
        P[i] = pts[i];
    for (i = 0; i < n; i++) {
        h.next[i] = -1;
        h.start[i] = -1;
    }
    h.p = P;
    h.n = n;
    out->dim = simplex(P, n, idx);
    if (out->dim < 3)
        goto out;
    st = build(&h, idx);
    if (!st && check && !verify(&h))
        st = MMDX_E_INTERNAL;
    if (st)
        goto out;
    /* measure: 6 V = sum over facets of the tetrahedron (idx[0], facet),
     * every term >= 0 because idx[0] is in the hull; exact in int64_t
     * (6 V < 6 * 2^60) */
    for (i = 0; i < n; i++)
        h.start[i] = 0;
    for (i = 0; i < h.nf; i++) {
        const struct facet *f = &h.f[i];
        double nx, ny, nz;
        int k;

        if (!f->alive)
            continue;
        out->nfacets++;
        vol6 -= height(f, P, idx[0]);
        nx = (double)f->n[0] * s[1] * s[2];
        ny = (double)f->n[1] * s[0] * s[2];
        nz = (double)f->n[2] * s[0] * s[1];
        area += 0.5 * sqrt(nx * nx + ny * ny + nz * nz);
        for (k = 0; k < 3; k++)
            h.start[f->v[k]] = 1;
    }
    for (i = 0; i < n; i++)
        out->nverts += h.start[i] != 0;
    out->volume = (double)vol6 / 6 * fabs(s[0] * s[1] * s[2]);
    out->area = area;
out:
    if (st) {
        int d = st == MMDX_E_NOMEM ? -1 : out->dim;

        memset(out, 0, sizeof(*out));
        out->dim = d;
    }
    mmdx__free(P);
    mmdx__free(h.next);
    mmdx__free(h.start);
    mmdx__free(h.f);
    mmdx__free(h.stack);
    mmdx__free(h.vis);
    mmdx__free(h.hz);
    return st;
}

enum mmdx_status mmdx__hull3d(const int32_t *pts, size_t n,
                              const double scale[3], struct mmdx_hull *out)
{
    return hull_run(pts, n, scale, false, out);
}

enum mmdx_status mmdx__hull3d_checked(const int32_t *pts, size_t n,
                                      const double scale[3],
                                      struct mmdx_hull *out)
{
    return hull_run(pts, n, scale, true, out);
}

/* ---- the ROI mesh's hull ------------------------------------------------ */

static bool inside(const struct mmdx_image *img, const uint8_t *roi, long x,
                   long y, long z)
{
    if (x < 0 || y < 0 || z < 0 || x >= (long)img->nx ||
        y >= (long)img->ny || z >= (long)img->nz)
        return false;
    return roi[(size_t)x + img->nx * ((size_t)y + img->ny * (size_t)z)] != 0;
}

enum mmdx_status mmdx__roi_hull(const struct mmdx_image *img,
                                const uint8_t *roi, const double sp[3],
                                struct mmdx_hull *out)
{
    static const int nb6[6][3] = { { -1, 0, 0 }, { 1, 0, 0 }, { 0, -1, 0 },
                                   { 0, 1, 0 },  { 0, 0, -1 }, { 0, 0, 1 } };
    size_t ly, lz, nlines, i, npts = 0, bytes;
    int32_t *lo = NULL, *hi = NULL, *pts = NULL;
    long x, y, z;
    double scale[3];
    enum mmdx_status st;
    int k;

    memset(out, 0, sizeof(*out));
    out->dim = -1;
    if (img->nx > (size_t)MMDX_HULL_COORD_MAX / 2 ||
        img->ny > (size_t)MMDX_HULL_COORD_MAX / 2 ||
        img->nz > (size_t)MMDX_HULL_COORD_MAX / 2)
        return MMDX_E_INVAL;
    /* lines parallel to x at half-voxel (Y, Z) = (2y + dy + 1, 2z + dz + 1) */
    ly = 2 * img->ny + 1;
    lz = 2 * img->nz + 1;
    if (!mmdx__mul_size(ly, lz, &nlines) ||
        !mmdx__mul_size(nlines, sizeof(int32_t), &bytes))
        return MMDX_E_INVAL;
    lo = mmdx__malloc(bytes);
    hi = mmdx__malloc(bytes);
    if (!lo || !hi) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    for (i = 0; i < nlines; i++) {
        lo[i] = INT32_MAX;
        hi[i] = INT32_MIN;
    }
    for (z = 0; z < (long)img->nz; z++)
        for (y = 0; y < (long)img->ny; y++)
            for (x = 0; x < (long)img->nx; x++) {
                if (!inside(img, roi, x, y, z))
                    continue;
                for (k = 0; k < 6; k++) {
                    int32_t X;
                    size_t li;

                    if (inside(img, roi, x + nb6[k][0], y + nb6[k][1],
                               z + nb6[k][2]))
                        continue;
                    X = (int32_t)(2 * x + nb6[k][0]);
                    li = (size_t)(2 * y + nb6[k][1] + 1) +
                         ly * (size_t)(2 * z + nb6[k][2] + 1);
                    if (X < lo[li])
                        lo[li] = X;
                    if (X > hi[li])
                        hi[li] = X;
                }
            }
    for (i = 0; i < nlines; i++)
        if (lo[i] <= hi[i])
            npts += lo[i] < hi[i] ? 2 : 1;
    if (!mmdx__mul_size(npts ? npts : 1, 3 * sizeof(int32_t), &bytes)) {
        st = MMDX_E_INVAL;
        goto out;
    }
    pts = mmdx__malloc(bytes);
    if (!pts) {
        st = MMDX_E_NOMEM;
        goto out;
    }
    npts = 0;
    for (i = 0; i < nlines; i++) {
        int32_t Y = (int32_t)(i % ly) - 1, Z = (int32_t)(i / ly) - 1;

        if (lo[i] > hi[i])
            continue;
        pts[3 * npts] = lo[i];
        pts[3 * npts + 1] = Y;
        pts[3 * npts + 2] = Z;
        npts++;
        if (lo[i] < hi[i]) {
            pts[3 * npts] = hi[i];
            pts[3 * npts + 1] = Y;
            pts[3 * npts + 2] = Z;
            npts++;
        }
    }
    for (k = 0; k < 3; k++)
        scale[k] = sp[k] / 2;
    st = mmdx__hull3d(pts, npts, scale, out);
out:
    mmdx__free(lo);
    mmdx__free(hi);
    mmdx__free(pts);
    return st;
}
