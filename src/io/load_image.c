/*
 * load_image.c - stage load.image: the patient's DICOM image or series
 * (MMDX_SLOT_IMAGE) and, when the patient has one, the region-of-interest
 * mask (MMDX_SLOT_MASK: a DICOM SEG or mask image on the same grid, a
 * NIfTI-1 file or a DICOM RTSTRUCT ROI; see mask_load.c). Possibly
 * identifying attributes of every file read are reported to the
 * de-identification gate; their values never leave memory.
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/mask.h"
#include "pipeline/stage.h"

struct load_priv {
    long max_mvoxels;     /* limit, millions of values per series */
    int color;            /* 0 keep RGB, 1 luma (one channel) */
    char *mask_roi;       /* RTSTRUCT ROI name; NULL = the first */
    char *mask_label;     /* label / segment of a multi-label mask */
    int mask_resample;    /* 0 no (refuse another grid), 1 nearest */
};

static enum mmdx_status add_id(void *user, const char *file,
                               const char *field, int kind,
                               const char *value)
{
    struct mmdx_patient *p = user;

    return mmdx__patient_add_idfield(p, MMDX_MOD_IMAGE, file, field,
                                     (enum mmdx_id_kind)kind, value);
}

/* RGB to one luma channel (ITU-R BT.601 weights). */
static enum mmdx_status to_luma(struct mmdx_ctx *ctx, struct mmdx_image *img)
{
    struct mmdx_buf *old;
    const float *s;
    size_t n, i;
    enum mmdx_status st;

    if (img->nc != 3)
        return MMDX_OK;
    old = img->buf;
    s = img->vox;
    img->buf = NULL;
    st = mmdx__image_alloc(ctx, img, img->nx, img->ny, img->nz, 1, 0);
    if (st) {
        img->buf = old;
        img->vox = old->data;
        return st;
    }
    n = img->nx * img->ny * img->nz;
    for (i = 0; i < n; i++)
        img->vox[i] = 0.299f * s[3 * i] + 0.587f * s[3 * i + 1] +
                      0.114f * s[3 * i + 2];
    mmdx__buf_unref(&old);
    return MMDX_OK;
}

static enum mmdx_status load_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    struct load_priv *pr = s->priv;
    struct mmdx_dicom_limits lim = { 0, 0 };
    struct mmdx_image *img = NULL;
    enum mmdx_status st;

    lim.max_voxels = (uint64_t)pr->max_mvoxels * 1000000ULL;
    st = mmdx__dicom_load(s->ctx, p->path[MMDX_MOD_IMAGE], &lim, add_id, p,
                          &img);
    if (st)
        return st;
    if (pr->color == 1 && (st = to_luma(s->ctx, img)) != MMDX_OK) {
        mmdx__image_free(img);
        return st;
    }
    if (img->lossy)
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.quality.lossy",
                           "lossy compressed pixels (%s)",
                           img->transfer_syntax_name);
    mmdx__patient_set_slot(p, MMDX_SLOT_IMAGE, img, mmdx__image_free_v);
    if (!p->mask_path)
        return MMDX_OK;
    return mmdx__load_image_mask_ex(s->ctx, p, img, pr->mask_roi,
                                    p->mask_label ? p->mask_label
                                                  : pr->mask_label,
                                    lim.max_voxels,
                                    pr->mask_resample == 1 ||
                                        p->mask_resample == 1);
}

static const struct mmdx_param load_params[] = {
    { "max_mvoxels", MMDX_PARAM_INT, offsetof(struct load_priv, max_mvoxels),
      268, NULL, 1, 4096, NULL,
      "largest series accepted, millions of values (voxels x channels)" },
    { "color", MMDX_PARAM_ENUM, offsetof(struct load_priv, color), 0, NULL,
      0, 0, "keep|luma", "RGB images: keep 3 channels or convert to luma" },
    { "mask_roi", MMDX_PARAM_STRING, offsetof(struct load_priv, mask_roi), 0,
      NULL, 0, 0, NULL,
      "RTSTRUCT masks: name of the ROI to rasterise (default: the first)" },
    { "mask_label", MMDX_PARAM_STRING,
      offsetof(struct load_priv, mask_label), 0, NULL, 0, 0, NULL,
      "multi-label masks: the label (NIfTI-1 / DICOM label image: voxels "
      "equal to it) or DICOM SEG segment (SegmentNumber or SegmentLabel) to "
      "use; required when the mask holds several (the manifest column "
      "mask_label overrides it per patient)" },
    { "mask_resample", MMDX_PARAM_ENUM,
      offsetof(struct load_priv, mask_resample), 0, NULL, 0, 0, "no|nearest",
      "masks on another grid than the image's (oblique, another voxel size, "
      "offset voxel centres): no = refuse (error naming geometry); nearest "
      "= resample onto the image grid by nearest neighbour (flag "
      "image.mask.resampled)" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_load_image = {
    MMDX_STAGE_ABI, "load.image",
    "Read a DICOM image, multi-frame image or one-series folder (and its "
    "mask) as float voxels in real-world units",
    0, MMDX_SLOT_BIT(MMDX_SLOT_IMAGE) | MMDX_SLOT_BIT(MMDX_SLOT_MASK),
    MMDX_MOD_IMAGE, load_params, sizeof(struct load_priv), NULL,
    load_process, NULL
};
