/*
 * image.h - a decoded image or volume as the image loader hands it forward
 * (MMDX_SLOT_IMAGE, and MMDX_SLOT_MASK for a region of interest).
 *
 * Plain C with no dependency on core/common.h, so that the C++ DCMTK shim
 * can fill it. Voxels are float, in real-world units: the modality LUT
 * (rescale slope/intercept; Hounsfield units for CT) is applied and
 * MONOCHROME1 images are inverted so that larger always means brighter.
 * Nothing here identifies the patient.
 */
#ifndef MMDX_IMAGE_H
#define MMDX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmdx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mmdx_buf;
struct mmdx_ctx;

struct mmdx_image {
    size_t nx, ny, nz;        /* columns, rows, slices (frames) */
    unsigned nc;              /* channels per voxel: 1 grey, 3 RGB */
    /*
     * Voxel (c, x, y, z) is vox[c + nc * (x + nx * (y + ny * z))]. vox
     * points into buf (refcounted); NULL when only the header was read.
     */
    struct mmdx_buf *buf;
    float *vox;

    double spacing_mm[3];     /* column (x), row (y), slice (z); NaN unknown */
    double row_cos[3];        /* direction of increasing x (patient LPS) */
    double col_cos[3];        /* direction of increasing y */
    double normal[3];         /* row_cos x col_cos: increasing z */
    bool has_orientation;     /* row_cos/col_cos/normal are from the file */
    double *pos_mm;           /* 3 * nz: ImagePositionPatient per slice, or
                                 NULL when unknown */
    double slice_thickness_mm;/* NaN unknown */

    /* Metadata the report and inspection use (never identifying). */
    char modality[17];        /* "CT", "MR", "CR", "SEG", ... */
    char units[16];           /* "HU" (CT), "" when not known */
    char photometric[17];     /* as stored in the file */
    char transfer_syntax[65]; /* UID */
    char transfer_syntax_name[64];
    char sop_class[65];       /* UID */
    char body_part[17];       /* BodyPartExamined, may be "" */
    char manufacturer[65];    /* may be "" */
    unsigned rows, cols;      /* as declared */
    unsigned bits_allocated, bits_stored;
    bool pixel_signed;        /* PixelRepresentation 1 */
    bool lossy;               /* lossy compression in the transfer syntax or
                                 LossyImageCompression "01" */
    double rescale_slope, rescale_intercept;  /* of the first frame */
    unsigned nfiles;          /* files the series came from */
    bool is_segmentation;     /* DICOM SEG (binary, fractional or
                                 label map mask) */
};

/* A new header-only image (vox NULL); NULL on out-of-memory. */
struct mmdx_image *mmdx__image_new(void);
/* Allocate nc*nx*ny*nz zeroed voxels (size checked; E_LIMIT past
 * max_voxels, 0 = no limit). */
enum mmdx_status mmdx__image_alloc(struct mmdx_ctx *ctx, struct mmdx_image *img,
                      size_t nx, size_t ny, size_t nz, unsigned nc,
                      uint64_t max_voxels);
/* The same without zeroing: the caller writes every value. */
enum mmdx_status mmdx__image_alloc_uninit(struct mmdx_ctx *ctx,
                                          struct mmdx_image *img, size_t nx,
                                          size_t ny, size_t nz, unsigned nc,
                                          uint64_t max_voxels);
/* True when nx * ny * nz * nc values are a valid image size: none zero,
 * no overflow (in bytes too), at most max_voxels (0 = no limit). */
bool mmdx__image_size_ok(size_t nx, size_t ny, size_t nz, unsigned nc,
                         uint64_t max_voxels);
/* Free an image and its voxels (a reference); NULL is a no-op. */
void mmdx__image_free(struct mmdx_image *img);
/* Same, with the slot-free signature. */
void mmdx__image_free_v(void *img);

#ifdef __cplusplus
}
#endif

#endif
