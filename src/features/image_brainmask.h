/*
 * image_brainmask.h - automatic ROI for MR images without a mask: a head
 * (foreground) mask by a stated rule (src/features/image_brainmask.c).
 */
#ifndef MMDX_IMAGE_BRAINMASK_H
#define MMDX_IMAGE_BRAINMASK_H

#include "core/common.h"
#include "io/image.h"

struct mmdx_patient;

struct mmdx_headmask_info {
    double threshold;     /* Otsu threshold, image units */
    size_t components;    /* 6-connected foreground components */
    size_t voxels;        /* voxels in the final mask */
};

/*
 * Head mask of a one-channel image into roi (nx*ny*nz bytes, 1 inside):
 * Otsu threshold, largest 6-connected component, closing with a
 * (2r+1)^2 square per slice (r = close_radius voxels, 0 = none), holes
 * filled per slice. See image_brainmask.c for the rule in full.
 * @return MMDX_OK; MMDX_E_INVAL (several channels, constant image: no
 *         foreground; roi content then undefined); MMDX_E_NOMEM.
 */
enum mmdx_status mmdx__mr_head_mask(const struct mmdx_image *img,
                                    long close_radius, uint8_t *roi,
                                    struct mmdx_headmask_info *info);

/*
 * image.features' MR rule: the head mask with its flag
 * image.roi.auto_mr_head stating the rule and threshold (*source = 4),
 * or, when the image has no foreground, the whole image with the flag
 * image.roi.whole_image (*source = 3).
 * @return MMDX_OK or MMDX_E_NOMEM.
 */
enum mmdx_status mmdx__roi_auto_mr(struct mmdx_patient *p,
                                   const struct mmdx_image *img,
                                   long close_radius, uint8_t *roi,
                                   double *source);

#endif
