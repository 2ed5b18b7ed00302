/*
 * image_stage.c - stage image.features: IBSI 1 features of the patient's
 * image inside its region of interest. The ROI is the mask (MMDX_SLOT_MASK)
 * when there is one; else, for CT, an automatic body mask (every voxel at
 * or above roi_ct_min_hu, -500 HU by default: air and the table's foam
 * fall outside); for MR an automatic head mask (image_brainmask.c); else
 * the whole image. The rule used is stated by the feature
 * image.roi.source (1 mask, 2 CT body threshold, 3 whole image, 4 MR head
 * mask) and a data-quality flag.
 */
#include "core/common.h"
#include "features/image_brainmask.h"
#include "features/image_features.h"
#include "io/image.h"
#include "pipeline/stage.h"

struct feat_priv {
    int disc;             /* fbn|fbs */
    long bins;
    double bin_width;
    double bin_min;       /* NaN-able through "auto": see init */
    bool bin_min_auto;
    int agg;
    double roi_ct_min_hu;
    int roi_mr;           /* 0 head mask, 1 whole image */
    long roi_mr_close;    /* head mask closing radius, voxels */
    bool morphology, stat, ih, glcm, glrlm, glszm, ngtdm, ngldm, gldzm;
    bool local, ivh;
    long max_moran_voxels;
    struct mmdx_imgfeat_ws *ws;  /* this worker's scratch, kept between
                                    patients */
};

struct fs_user {
    struct mmdx_patient *p;
};

static enum mmdx_status add_feat(void *user, const char *name, double v)
{
    struct fs_user *u = user;

    return mmdx__featset_add(&u->p->features, name, v);
}

static enum mmdx_status feat_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    struct feat_priv *pr = s->priv;
    const struct mmdx_image *img = p->slot[MMDX_SLOT_IMAGE];
    const struct mmdx_image *mask = p->slot[MMDX_SLOT_MASK];
    struct mmdx_imgfeat_opts o;
    struct fs_user u = { p };
    uint8_t *roi;
    size_t n = img->nx * img->ny * img->nz, v, nin = 0;
    double source;
    enum mmdx_status st;

    if (img->nc != 1)
        return mmdx__fail(s->ctx, MMDX_E_UNSUPPORTED, "image.features",
                          p->path[MMDX_MOD_IMAGE], 0, "channels",
                          "colour image (%u channels): set load.image "
                          "color=luma for grey-level features", img->nc);
    roi = mmdx__malloc(n ? n : 1);
    if (!roi)
        return mmdx__nomem(s->ctx);
    if (mask) {
        for (v = 0; v < n; v++)
            nin += (roi[v] = mask->vox[v] > 0.5f);
        source = 1;
    } else if (!strcmp(img->modality, "CT")) {
        nin = mmdx__image_roi_min(img, pr->roi_ct_min_hu, roi);
        source = 2;
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.roi.auto_ct_body",
                           "no mask: ROI = voxels >= %g HU (automatic body "
                           "mask); morphology not computed",
                           pr->roi_ct_min_hu);
    } else if (!strcmp(img->modality, "MR") && pr->roi_mr == 0) {
        if (mmdx__roi_auto_mr(p, img, pr->roi_mr_close, roi, &source)) {
            mmdx__free(roi);
            return mmdx__nomem(s->ctx);
        }
        for (v = 0; v < n; v++)
            nin += roi[v];
    } else {
        memset(roi, 1, n);
        nin = n;
        source = 3;
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.roi.whole_image",
                           "no mask and not CT: ROI = the whole image; "
                           "morphology not computed");
    }
    st = mmdx__featset_add(&p->features, "image.roi.source", source);
    if (!st)
        st = mmdx__featset_add(&p->features, "image.roi.voxels", (double)nin);
    if (st) {
        mmdx__free(roi);
        return mmdx__nomem(s->ctx);
    }
    if (!nin) {
        mmdx__free(roi);
        mmdx__patient_flag(p, MMDX_MOD_IMAGE, "image.roi.empty",
                           "the region of interest is empty");
        return mmdx__fail(s->ctx, MMDX_E_QUALITY, "image.features",
                          p->path[MMDX_MOD_IMAGE], 0, "roi",
                          "the region of interest is empty");
    }
    memset(&o, 0, sizeof(o));
    o.disc = pr->disc;
    o.bins = pr->bins;
    o.bin_width = pr->bin_width;
    o.bin_min = pr->bin_min_auto ? NAN : pr->bin_min;
    o.agg = pr->agg;
    o.max_moran_voxels = pr->max_moran_voxels;
    o.families = (pr->morphology ? MMDX_FAM_MORPH : 0) |
                 (pr->stat ? MMDX_FAM_STAT : 0) | (pr->ih ? MMDX_FAM_IH : 0) |
                 (pr->glcm ? MMDX_FAM_GLCM : 0) |
                 (pr->glrlm ? MMDX_FAM_GLRLM : 0) |
                 (pr->glszm ? MMDX_FAM_GLSZM : 0) |
                 (pr->ngtdm ? MMDX_FAM_NGTDM : 0) |
                 (pr->ngldm ? MMDX_FAM_NGLDM : 0) |
                 (pr->gldzm ? MMDX_FAM_GLDZM : 0) |
                 (pr->local ? MMDX_FAM_LOCAL : 0) |
                 (pr->ivh ? MMDX_FAM_IVH : 0);
    if (!pr->ws && !(pr->ws = mmdx__imgfeat_ws_new())) {
        mmdx__free(roi);
        return mmdx__nomem(s->ctx);
    }
    st = mmdx__image_features_ws(s->ctx, pr->ws, img, roi, mask != NULL, &o,
                                 add_feat, &u);
    mmdx__free(roi);
    return st;
}

static void feat_fini(struct mmdx_stage *s)
{
    struct feat_priv *pr = s->priv;

    if (!pr)
        return;
    mmdx__imgfeat_ws_free(pr->ws);
    pr->ws = NULL;
}

#define B(name, field, help)                                                 \
    { name, MMDX_PARAM_BOOL, offsetof(struct feat_priv, field), 1, NULL, 0, \
      1, NULL, help }

static const struct mmdx_param feat_params[] = {
    { "discretisation", MMDX_PARAM_ENUM, offsetof(struct feat_priv, disc), 0,
      NULL, 0, 0, "fbn|fbs",
      "fixed bin number (fbn) or fixed bin size (fbs), IBSI 2.7" },
    { "bins", MMDX_PARAM_INT, offsetof(struct feat_priv, bins), 32, NULL, 2,
      1024, NULL, "fbn: number of bins over the ROI's [min, max]" },
    { "bin_width", MMDX_PARAM_DOUBLE, offsetof(struct feat_priv, bin_width),
      25, NULL, 1e-6, 1e6, NULL, "fbs: bin width, image units (HU for CT)" },
    { "bin_min", MMDX_PARAM_DOUBLE, offsetof(struct feat_priv, bin_min), 0,
      NULL, -1e9, 1e9, NULL,
      "fbs: lower edge of bin 1 when bin_min_auto is false (image units)" },
    { "bin_min_auto", MMDX_PARAM_BOOL,
      offsetof(struct feat_priv, bin_min_auto), 1, NULL, 0, 1, NULL,
      "fbs: bin 1 starts at the ROI minimum (IBSI without re-segmentation)" },
    { "aggregation", MMDX_PARAM_ENUM, offsetof(struct feat_priv, agg), 0,
      NULL, 0, 0,
      "3d_merged|3d_averaged|2d_averaged|2d_slice_merged|"
      "2.5d_direction_merged|2.5d_merged",
      "texture aggregation (IBSI 3.1.1); GLSZM/NGTDM/NGLDM use its 3D, 2D "
      "or 2.5D" },
    { "roi_ct_min_hu", MMDX_PARAM_DOUBLE,
      offsetof(struct feat_priv, roi_ct_min_hu), -500, NULL, -2000, 4000,
      NULL, "CT without mask: automatic body ROI = voxels >= this, HU" },
    { "roi_mr", MMDX_PARAM_ENUM, offsetof(struct feat_priv, roi_mr), 0,
      NULL, 0, 0, "head|whole",
      "MR without mask: automatic head mask (Otsu, largest component, "
      "closing, holes filled; docs/image-features.md) or the whole image" },
    { "roi_mr_close_voxels", MMDX_PARAM_INT,
      offsetof(struct feat_priv, roi_mr_close), 2, NULL, 0, 20, NULL,
      "MR head mask: closing radius in each slice, voxels" },
    { "max_moran_voxels", MMDX_PARAM_INT,
      offsetof(struct feat_priv, max_moran_voxels), 20000, NULL, 0, 1e7,
      NULL, "Moran's I / Geary's C (O(N^2)) only up to this many voxels" },
    B("morphology", morphology, "morphology (needs a mask)"),
    B("stat", stat, "intensity statistics"),
    B("histogram", ih, "intensity histogram"),
    B("glcm", glcm, "grey level co-occurrence matrix"),
    B("glrlm", glrlm, "grey level run length matrix"),
    B("glszm", glszm, "grey level size zone matrix"),
    B("ngtdm", ngtdm, "neighbourhood grey tone difference matrix"),
    B("ngldm", ngldm, "neighbouring grey level dependence matrix"),
    B("gldzm", gldzm, "grey level distance zone matrix"),
    B("local_intensity", local, "local and global intensity peaks"),
    B("ivh", ivh, "intensity-volume histogram"),
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_image_features = {
    MMDX_STAGE_ABI, "image.features",
    "IBSI 1 image features (morphology, intensity statistics and histogram, "
    "GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM) in the mask or an automatic "
    "ROI",
    MMDX_SLOT_BIT(MMDX_SLOT_IMAGE), MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_IMAGE, feat_params, sizeof(struct feat_priv), NULL,
    feat_process, feat_fini
};
