/*
 * image_hull.h - exact 3D convex hull of integer lattice points
 * (src/features/image_hull.c) and the convex hull of a region of
 * interest's marching-cubes mesh, for the IBSI 1 convex-hull densities.
 */
#ifndef MMDX_IMAGE_HULL_H
#define MMDX_IMAGE_HULL_H

#include "core/common.h"
#include "io/image.h"

/* Coordinates given to mmdx__hull3d must lie in
 * [-MMDX_HULL_COORD_MAX, MMDX_HULL_COORD_MAX]: then every orientation
 * determinant fits a 64-bit integer and the predicates are exact. */
#define MMDX_HULL_COORD_MAX ((int32_t)((1L << 19) - 1))

struct mmdx_hull {
    int dim;            /* affine dimension of the points: -1 (no point),
                           0 (all equal), 1 (collinear), 2 (coplanar), 3 */
    size_t nfacets;     /* triangles of the hull surface (dim 3 only) */
    size_t nverts;      /* points that are hull vertices (dim 3 only) */
    double volume;      /* scaled units^3; 0 when dim < 3 */
    double area;        /* scaled units^2; 0 when dim < 3 (a flat or
                           lower-dimensional set encloses no solid) */
};

/*
 * Convex hull of n points (x, y, z triples of integers, pts[3 * i + k]),
 * by quickhull with exact 64-bit orientation predicates. Volume and area
 * are reported after scaling axis k by scale[k] (an affine map, so the
 * hull of the scaled points is the scaled hull); scale NULL = 1.
 * Duplicate, collinear and coplanar points are allowed: a set of
 * dimension < 3 gives dim < 3 and zero volume and area.
 * @return MMDX_OK; MMDX_E_INVAL when a coordinate is out of range (out
 *         zeroed, dim -1); MMDX_E_NOMEM; MMDX_E_INTERNAL if the hull
 *         surface came out inconsistent (never seen; guards the build).
 * Nothing is recorded on a context: callers map the status.
 */
enum mmdx_status mmdx__hull3d(const int32_t *pts, size_t n,
                              const double scale[3], struct mmdx_hull *out);

/* Same, then verify the result (every point on or below every facet,
 * neighbour links consistent): MMDX_E_INTERNAL when not. O(n * facets);
 * for tests and fuzzing. */
enum mmdx_status mmdx__hull3d_checked(const int32_t *pts, size_t n,
                                      const double scale[3],
                                      struct mmdx_hull *out);

/*
 * Convex hull of the ROI's mesh vertices: the midpoints between each ROI
 * voxel centre and each of its 6 face neighbours outside the ROI (the
 * vertices of the marching-cubes mesh image_features.c builds), at voxel
 * spacing sp (mm). Only the two extreme vertices of every lattice line
 * parallel to x are kept (a point between two others on a line is never
 * a hull vertex), so the hull sees O(ny * nz) points.
 * @return as mmdx__hull3d; MMDX_E_INVAL when the grid is too large for
 *         exact coordinates (more than 262,143 voxels along an axis).
 */
enum mmdx_status mmdx__roi_hull(const struct mmdx_image *img,
                                const uint8_t *roi, const double sp[3],
                                struct mmdx_hull *out);

#endif
