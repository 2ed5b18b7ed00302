/*
 * image_features.h - IBSI 1 image features on a region of interest
 * (src/features/image_features.c); the stage image.features uses it, and
 * so do the conformance test and the benchmark.
 */
#ifndef MMDX_IMAGE_FEATURES_H
#define MMDX_IMAGE_FEATURES_H

#include "core/common.h"
#include "io/image.h"

/* Discretisation of intensities into grey levels (IBSI 2.7). */
enum mmdx_imgfeat_disc {
    MMDX_DISC_FBN = 0,      /* fixed bin number: bins over [ROI min, max] */
    MMDX_DISC_FBS = 1       /* fixed bin size: bin_width from bin_min */
};

/* Texture aggregation (IBSI 3.1.1). GLCM and GLRLM use all six; GLSZM,
 * NGTDM and NGLDM use 2D (per-slice average), 2.5D (slices merged) or 3D. */
enum mmdx_imgfeat_agg {
    MMDX_AGG_3D_MERGED = 0,       /* IAZD: one matrix, all 13 directions */
    MMDX_AGG_3D_AVERAGED = 1,     /* ITBB: a matrix per direction, averaged */
    MMDX_AGG_2D_AVERAGED = 2,     /* BTW3: per slice and direction */
    MMDX_AGG_2D_SLICE_MERGED = 3, /* SUJT: directions merged per slice */
    MMDX_AGG_25D_DIR_MERGED = 4,  /* JJUI: slices merged per direction */
    MMDX_AGG_25D_MERGED = 5       /* ZW7Z: one matrix of all 2D directions */
};

/* Feature families (bits). */
#define MMDX_FAM_MORPH (1u << 0)
#define MMDX_FAM_STAT (1u << 1)
#define MMDX_FAM_IH (1u << 2)
#define MMDX_FAM_GLCM (1u << 3)
#define MMDX_FAM_GLRLM (1u << 4)
#define MMDX_FAM_GLSZM (1u << 5)
#define MMDX_FAM_NGTDM (1u << 6)
#define MMDX_FAM_NGLDM (1u << 7)
#define MMDX_FAM_GLDZM (1u << 8)
#define MMDX_FAM_LOCAL (1u << 9)  /* local intensity peaks */
#define MMDX_FAM_IVH (1u << 10)   /* intensity-volume histogram */
#define MMDX_FAM_ALL 0x7FFu

struct mmdx_imgfeat_opts {
    int disc;               /* enum mmdx_imgfeat_disc */
    long bins;              /* FBN: number of bins */
    double bin_width;       /* FBS: bin width, image units */
    double bin_min;         /* FBS: lower edge of bin 1; NaN = ROI minimum */
    int agg;                /* enum mmdx_imgfeat_agg */
    unsigned families;      /* MMDX_FAM_* bits */
    long max_moran_voxels;  /* Moran's I / Geary's C are O(N^2): above
                               this many ROI voxels they are NaN */
};

/* Called once per feature ("image.glcm.contrast", value; NaN allowed). */
typedef enum mmdx_status (*mmdx__imgfeat_fn)(void *user, const char *name,
                                             double value);

/*
 * Compute the selected families on img (one channel) inside roi (nx*ny*nz
 * bytes, non-zero = inside). Morphology only when has_mask. Spacing NaN
 * counts as 1 mm.
 * @return MMDX_OK, E_NOMEM, E_INVAL (empty ROI, several channels).
 */
enum mmdx_status mmdx__image_features(struct mmdx_ctx *ctx,
                                      const struct mmdx_image *img,
                                      const uint8_t *roi, bool has_mask,
                                      const struct mmdx_imgfeat_opts *o,
                                      mmdx__imgfeat_fn fn, void *user);

/* Scratch kept from one call to the next (the grey-level map), so that a
 * worker going through many volumes does not map fresh memory (page
 * faults) for each; one per thread. */
struct mmdx_imgfeat_ws;
/* NULL on out-of-memory. */
struct mmdx_imgfeat_ws *mmdx__imgfeat_ws_new(void);
void mmdx__imgfeat_ws_free(struct mmdx_imgfeat_ws *ws);
/* mmdx__image_features() with scratch from ws (NULL: none). */
enum mmdx_status mmdx__image_features_ws(struct mmdx_ctx *ctx,
                                         struct mmdx_imgfeat_ws *ws,
                                         const struct mmdx_image *img,
                                         const uint8_t *roi, bool has_mask,
                                         const struct mmdx_imgfeat_opts *o,
                                         mmdx__imgfeat_fn fn, void *user);

/*
 * Threshold ROI: roi[v] = 1 where img->vox[v] >= min (the CT body mask),
 * else 0 (NaN included); roi holds nx*ny*nz*nc bytes.
 * @return how many voxels are inside.
 */
size_t mmdx__image_roi_min(const struct mmdx_image *img, double min,
                           uint8_t *roi);

#endif
