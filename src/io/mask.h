/*
 * mask.h - region-of-interest masks for an image: NIfTI-1 files (.nii,
 * .nii.gz; mask_nifti.c), DICOM RTSTRUCT contours rasterised onto the
 * image (mask_rtstruct.c), DICOM SEG (mask_seg.c) and mask images
 * (dicom.c), labels of multi-label masks (mask_label.c), and the
 * dispatcher load.image calls (mask_load.c). Internal to libmmdx.
 */
#ifndef MMDX_MASK_H
#define MMDX_MASK_H

#include "core/common.h"
#include "io/dicom.h"
#include "io/image.h"

/* ---- NIfTI-1 ------------------------------------------------------------- */

#define MMDX_NIFTI_HDR_BYTES 348
#define MMDX_NIFTI_MAX_VOX_OFFSET (64L << 20)  /* header + extensions */
#define MMDX_NIFTI_MAX_GZ_BYTES (1ULL << 30)   /* compressed file */

struct mmdx_nifti_hdr {
    size_t dim[3];            /* voxels along i, j, k */
    int datatype;             /* NIFTI_TYPE_*: 2, 4, 8, 16, 64, 256, 512,
                                 768 */
    unsigned bytes_per_voxel;
    bool big_endian;          /* header (and data) byte order */
    double pixdim[3];         /* mm */
    size_t vox_offset;        /* bytes from the file start to voxel 0 */
    double slope, inter;      /* scl_slope (1 when 0/invalid), scl_inter */
    int qform_code, sform_code;
    bool has_affine;          /* sform (preferred) or qform usable */
    char descrip[81];         /* free text (possibly identifying) */
    char aux_file[25];
    double affine[3][4];      /* voxel (i, j, k) -> RAS+ mm */
};

/*
 * Parse and validate a NIfTI-1 single-file header (the first 348 bytes of
 * the decompressed file; len may be larger). Every check names the field
 * (sizeof_hdr, magic, dim, datatype, bitpix, vox_offset, pixdim,
 * quatern_*, srow_*). Voxel count above max_voxels (0 = the DICOM
 * default) is E_LIMIT, before any allocation.
 * @return MMDX_OK, E_FORMAT, E_UNSUPPORTED (NIfTI-2, two-file pairs,
 *         4D data, complex/RGB types), E_LIMIT.
 */
enum mmdx_status mmdx__nifti_parse_header(struct mmdx_ctx *ctx,
                                          const char *path,
                                          const uint8_t *b, size_t len,
                                          uint64_t max_voxels,
                                          struct mmdx_nifti_hdr *h);

/*
 * Decode a whole NIfTI-1 file held in memory (plain or gzip) into a
 * one-channel float image in the file's (i, j, k) order, scaled by
 * scl_slope / scl_inter; geometry (when the header has an sform or
 * qform) converted to DICOM patient coordinates (LPS) in row_cos, col_cos,
 * normal, spacing_mm and pos_mm. NaN voxels become 0.
 * @param out [transfer] on success; NULL on failure.
 * @return as mmdx__nifti_parse_header, plus E_NOMEM; a truncated or
 *         corrupt gzip stream is E_FORMAT (field "data").
 */
enum mmdx_status mmdx__nifti_decode(struct mmdx_ctx *ctx, const char *path,
                                    const uint8_t *data, size_t len,
                                    uint64_t max_voxels,
                                    struct mmdx_image **out);

/* Read the file at path (size-limited) and decode it; the header's
 * free-text fields (descrip, aux_file) and the presence of header
 * extensions are reported through idfn (may be NULL) for check.deid. */
enum mmdx_status mmdx__nifti_load(struct mmdx_ctx *ctx, const char *path,
                                  uint64_t max_voxels, mmdx__dicom_id_fn idfn,
                                  void *user, struct mmdx_image **out);

/* True when data starts like a NIfTI-1 single file or a gzip stream whose
 * name ends in .nii.gz (name may be NULL). */
bool mmdx__nifti_sniff(const uint8_t *data, size_t len, const char *name);

/* True when data is a NIfTI-1 header (sizeof_hdr 348, magic n+1 or ni1),
 * plain or as the start of a gzip stream: detection by content. */
bool mmdx__nifti_detect(const uint8_t *data, size_t len);

/* Parse the header of a NIfTI-1 file held in memory (plain or gzip; the
 * header alone is inflated); no voxel limit. */
enum mmdx_status mmdx__nifti_header(struct mmdx_ctx *ctx, const char *path,
                                    const uint8_t *data, size_t len,
                                    struct mmdx_nifti_hdr *h);

/* `mmdx inspect` hook for MMDX_FMT_NIFTI (nifti_inspect.c): dimensions,
 * datatype, spacing, qform/sform codes, the labels of whole-number data;
 * never the free-text fields descrip and aux_file. */
enum mmdx_status mmdx__nifti_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user);

/* Distinct non-zero values of vox (sorted into *labels, at most max;
 * *more when there are others; *integer false when a value is not a
 * whole number, those values skipped). [transfer] *labels. */
enum mmdx_status mmdx__mask_scan_labels(struct mmdx_ctx *ctx,
                                        const float *vox, size_t n,
                                        size_t max, long **labels,
                                        size_t *nl, bool *more,
                                        bool *integer);

/* ---- putting a mask on the image's grid -------------------------------- */

/* Voxel-to-patient transform (LPS, mm) of an image: column a of B is the
 * step along voxel axis a, o the centre of voxel 0. For one slice the
 * slice step is the normal times zstep_hint (> 0), else the spacing or
 * thickness, else 1 mm. False when the image carries no geometry. */
bool mmdx__image_frame(const struct mmdx_image *m, double B[3][3],
                       double o[3], double zstep_hint);
/* 3x3 inverse; false when (nearly) singular. */
bool mmdx__inverse3(const double A[3][3], double I[3][3]);

/* What mmdx__mask_align found (for the data-quality flags). */
enum mmdx_mask_geom {
    MMDX_MASK_GEOM_SAME = 0,      /* same grid, geometry checked */
    MMDX_MASK_GEOM_REORDERED = 1, /* same voxels, axes flipped/permuted */
    MMDX_MASK_GEOM_UNCHECKED = 2, /* one side has no geometry: dimensions
                                     only */
    MMDX_MASK_GEOM_RESAMPLED = 3  /* different grid, resampled (nearest
                                     neighbour, mask_resample=nearest) */
};

/*
 * Put src (a mask in its own voxel order) on img's grid: when both carry
 * geometry, each src axis must map onto an image axis (flips and
 * permutations are undone, within 0.1 voxel), and the grids must
 * coincide; else the dimensions must be equal in order. Errors are
 * E_MISMATCH naming path and field "geometry" or "dim".
 * @param out [transfer] a new image on img's grid (values of src).
 */
enum mmdx_status mmdx__mask_align(struct mmdx_ctx *ctx, const char *path,
                                  const struct mmdx_image *img,
                                  const struct mmdx_image *src,
                                  struct mmdx_image **out,
                                  enum mmdx_mask_geom *geom);

/*
 * Same; with resample (load.image's mask_resample=nearest) a mask whose
 * grid is not an exact match (oblique, another voxel size, offset
 * centres, partly beyond the image) is resampled instead of refused:
 * every image voxel centre is mapped into the mask's index space through
 * both geometries, rounded to the nearest index (halves away from zero)
 * and takes that voxel's value, 0 beyond the mask grid (geom RESAMPLED).
 * Exact matches (same grid, flips, permutations) take the exact path.
 * A mask on which no image voxel centre falls is E_MISMATCH "geometry"
 * ("lies outside the image"). Without geometry on one side the
 * dimensions must still agree.
 */
enum mmdx_status mmdx__mask_align_ex(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_image *img,
                                     const struct mmdx_image *src,
                                     bool resample, struct mmdx_image **out,
                                     enum mmdx_mask_geom *geom);

/* ---- DICOM RTSTRUCT ------------------------------------------------------ */

/* What became of an RTSTRUCT ROI's contours. */
struct mmdx_rt_stats {
    size_t ncontours;          /* in the ROI */
    size_t placed;             /* filled on a slice */
    size_t off_image;          /* closed, but beyond the image's slices */
    size_t not_closed;         /* POINT / OPEN_* or fewer than 3 points */
};

/*
 * Rasterise the contours of one ROI of the RT Structure Set at path onto
 * img's slices: each CLOSED_PLANAR contour is assigned to the slice whose
 * plane it lies in (within half the slice spacing) and filled by the
 * even-odd rule at the voxel centres (several contours of a slice XOR,
 * so holes stay holes). roi_name NULL or "" = the first ROI of
 * StructureSetROISequence; else the ROI with that name (exact match).
 * @param out [transfer] a 0/1 mask on img's grid.
 * @return MMDX_OK; E_NOTFOUND (no such ROI: the message lists how many
 *         there are, not their names), E_FORMAT (naming the attribute),
 *         E_MISMATCH (image without geometry, contour off every slice),
 *         E_NOMEM.
 */
enum mmdx_status mmdx__rtstruct_mask(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_image *img,
                                     const char *roi_name,
                                     mmdx__dicom_id_fn idfn, void *user,
                                     struct mmdx_image **out,
                                     struct mmdx_rt_stats *stats);

/* ---- the dispatcher ---------------------------------------------------- */

struct mmdx_mask_opts {
    const char *roi_name;      /* RTSTRUCT ROI; NULL/"" = the first */
    uint64_t max_voxels;       /* 0 = default */
    const char *label;         /* load.image's mask_label: an integer label
                                  of a label image, a SEG SegmentNumber or
                                  SegmentLabel; NULL/"" = none */
    bool resample;             /* load.image's mask_resample=nearest:
                                  resample a mask on another grid
                                  (mmdx__mask_align_ex, mmdx__seg_mask_ex)
                                  instead of refusing it */
};

/* ---- labels (mask_label.c) ----------------------------------------------- */

#define MMDX_MASK_MAX_LABEL 16777215L   /* exact in a float voxel */

/* What the label selection did (for the image.mask.label flag). */
struct mmdx_mask_label {
    bool used;                 /* a label or segment was selected */
    long value;                /* the label / SegmentNumber selected */
    size_t nlabels;            /* distinct non-zero labels / segments */
    char present[160];         /* "1, 2, 5" (truncated with ", ...") */
};

/* True when s is a whole number in 1..MMDX_MASK_MAX_LABEL (*v set);
 * false for names and everything else. */
bool mmdx__mask_label_number(const char *s, long *v);

/*
 * Apply mask_label to a label image m (NIfTI-1 or DICOM mask image, in
 * place): with a label, voxels equal to it become 1, all others 0; the
 * label must be a whole number, the mask's values whole numbers, and the
 * label present. Without one, a mask whose values are whole numbers with
 * two or more distinct non-zero values is refused (several structures:
 * naming mask_label and the labels present); binary, single-label and
 * non-integer (probability) masks are left as they are (> 0.5 inside).
 * Errors name the field "mask_label": E_INVAL (no label for a multi-label
 * mask, a name for a label image), E_NOTFOUND (label absent), E_FORMAT
 * (non-integer values).
 */
enum mmdx_status mmdx__mask_select_label(struct mmdx_ctx *ctx,
                                         const char *path, const char *kind,
                                         struct mmdx_image *m,
                                         const char *label,
                                         struct mmdx_mask_label *info);

/*
 * A DICOM Segmentation as a mask for img: the segment chosen by label
 * (SegmentNumber when a whole number, else SegmentLabel, exact then
 * case-insensitive; NULL/"" = the only segment, and an object with
 * several is refused naming mask_label and listing their numbers). Each
 * of its frames goes to the image slice at its PlanePositionSequence
 * position (orientation and spacing checked, 0.1 voxel tolerance);
 * without geometry on either side the segment's frames must be one per
 * slice, in order (geom UNCHECKED). BINARY frames are 0/1, FRACTIONAL
 * ones value / MaximumFractionalValue > 0.5.
 * @param out [transfer] a 0/1 mask on img's grid.
 */
enum mmdx_status mmdx__seg_mask(struct mmdx_ctx *ctx, const char *path,
                                const struct mmdx_image *img,
                                const char *label, uint64_t max_voxels,
                                mmdx__dicom_id_fn idfn, void *user,
                                struct mmdx_image **out,
                                enum mmdx_mask_geom *geom,
                                struct mmdx_mask_label *info);

/*
 * Same; with resample a SEG whose frames are not on the image's grid
 * (other PixelSpacing, rows/columns, orientation, in-plane shift, frames
 * between slices) is resampled: each image voxel centre takes the frame
 * of the segment whose plane is nearest along the SEG's normal, when
 * closer than half the SEG's slice spacing (SpacingBetweenSlices, else
 * SliceThickness, else the smallest gap between its frames; halfway
 * between two frames: the one further along the normal), and in it the
 * pixel nearest by the SEG's direction cosines and PixelSpacing (halves
 * away from zero); geom RESAMPLED. Needs geometry on both sides.
 */
enum mmdx_status mmdx__seg_mask_ex(struct mmdx_ctx *ctx, const char *path,
                                   const struct mmdx_image *img,
                                   const char *label, uint64_t max_voxels,
                                   bool resample, mmdx__dicom_id_fn idfn,
                                   void *user, struct mmdx_image **out,
                                   enum mmdx_mask_geom *geom,
                                   struct mmdx_mask_label *info);

/* What kind of file the mask was. */
enum mmdx_mask_kind {
    MMDX_MASK_DICOM = 0,       /* DICOM mask image */
    MMDX_MASK_NIFTI = 1,
    MMDX_MASK_RTSTRUCT = 2,
    MMDX_MASK_SEG = 3          /* DICOM Segmentation */
};

/*
 * Load the mask at path for img by content: NIfTI-1 (.nii, .nii.gz),
 * DICOM RTSTRUCT, or a DICOM SEG / mask image. The result is on img's
 * grid (checked or reordered as mmdx__mask_align says).
 * @param out [transfer] on success.
 * @param rt filled for RTSTRUCT masks (zeroed otherwise); may be NULL.
 */
enum mmdx_status mmdx__mask_load(struct mmdx_ctx *ctx, const char *path,
                                 const struct mmdx_image *img,
                                 const struct mmdx_mask_opts *o,
                                 mmdx__dicom_id_fn idfn, void *user,
                                 struct mmdx_image **out,
                                 enum mmdx_mask_kind *kind,
                                 enum mmdx_mask_geom *geom,
                                 struct mmdx_rt_stats *rt);
/* Same, also saying which label was selected (li may be NULL). */
enum mmdx_status mmdx__mask_load_label(struct mmdx_ctx *ctx, const char *path,
                                       const struct mmdx_image *img,
                                       const struct mmdx_mask_opts *o,
                                       mmdx__dicom_id_fn idfn, void *user,
                                       struct mmdx_image **out,
                                       enum mmdx_mask_kind *kind,
                                       enum mmdx_mask_geom *geom,
                                       struct mmdx_rt_stats *rt,
                                       struct mmdx_mask_label *li);

/*
 * load.image's mask step: load p->mask_path for img (mmdx__mask_load),
 * report the mask file's identifying attributes, flag how its geometry
 * was matched (image.mask.geometry_unchecked, image.mask.reoriented) and
 * put it in MMDX_SLOT_MASK. label (load.image's mask_label, NULL = none)
 * selects a label or segment (flag image.mask.label says which).
 */
struct mmdx_patient;
enum mmdx_status mmdx__load_image_mask(struct mmdx_ctx *ctx,
                                       struct mmdx_patient *p,
                                       const struct mmdx_image *img,
                                       const char *roi_name,
                                       const char *label,
                                       uint64_t max_voxels);
/* Same; resample = mask_resample=nearest (flag image.mask.resampled when
 * it resampled). */
enum mmdx_status mmdx__load_image_mask_ex(struct mmdx_ctx *ctx,
                                          struct mmdx_patient *p,
                                          const struct mmdx_image *img,
                                          const char *roi_name,
                                          const char *label,
                                          uint64_t max_voxels,
                                          bool resample);

/* Nearest-neighbour resampling (mask_load.c, mask_seg.c): x (> -0.5, a
 * voxel index) rounded to the nearest whole number, halves up (away from
 * zero); exact, x - (size_t)x loses nothing for x < 2^52. */
static inline size_t mmdx__round_half_up(double x)
{
    size_t r = (size_t)x;

    return x - (double)r >= 0.5 ? r + 1 : r;
}

#endif
