/*
 * mask_label.c - one structure out of a multi-label mask.
 *
 * Segmentation tools write label images (0 background, 1 liver, 2
 * tumour, ...). load.image's mask_label parameter picks one label; a
 * label image with several labels and no mask_label is refused rather
 * than merged, since the union of organs is rarely the region anyone
 * meant. Binary masks (one non-zero value) and probability maps (values
 * that are not whole numbers) keep the old rule, > 0.5 inside.
 */
#include "core/common.h"
#include "io/mask.h"

#define STAGE "load.image"
#define MAX_DISTINCT 4096   /* labels tracked for the message */

bool mmdx__mask_label_number(const char *s, long *v)
{
    long x;

    if (!s || !s[0] || !mmdx__parse_long(s, &x) || x < 1 ||
        x > MMDX_MASK_MAX_LABEL)
        return false;
    *v = x;
    return true;
}

/* "1, 2, 5" into buf, at most what fits, ", ..." when cut. */
static void list_labels(const long *v, size_t n, bool more, char *buf,
                        size_t size)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        char one[32];
        int w = snprintf(one, sizeof(one), "%s%ld", i ? ", " : "", v[i]);

        if (w < 0 || len + (size_t)w + 6 >= size) {
            more = true;
            break;
        }
        memcpy(buf + len, one, (size_t)w + 1);
        len += (size_t)w;
    }
    if (more && len + 6 < size)
        memcpy(buf + len, ", ...", 6);
}

enum mmdx_status mmdx__mask_scan_labels(struct mmdx_ctx *ctx,
                                        const float *vox, size_t n,
                                        size_t max, long **labels,
                                        size_t *nl, bool *more,
                                        bool *integer)
{
    long *v = mmdx__malloc((max ? max : 1) * sizeof(long));
    size_t i, k = 0;
    float last = 0;

    *labels = NULL;
    *nl = 0;
    *more = false;
    *integer = true;
    if (!v)
        return mmdx__nomem(ctx);
    for (i = 0; i < n; i++) {
        float x = vox[i];
        size_t lo, hi;
        long l;

        if (x == 0 || x == last)
            continue;
        if (!(x == floorf(x)) || !(fabsf(x) <= (float)MMDX_MASK_MAX_LABEL)) {
            *integer = false;
            continue;
        }
        last = x;
        l = (long)x;
        lo = 0;
        hi = k;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (v[mid] < l)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < k && v[lo] == l)
            continue;
        if (k == max) {
            *more = true;
            continue;
        }
        memmove(v + lo + 1, v + lo, (k - lo) * sizeof(long));
        v[lo] = l;
        k++;
    }
    *labels = v;
    *nl = k;
    return MMDX_OK;
}

enum mmdx_status mmdx__mask_select_label(struct mmdx_ctx *ctx,
                                         const char *path, const char *kind,
                                         struct mmdx_image *m,
                                         const char *label,
                                         struct mmdx_mask_label *info)
{
    size_t n = m->nx * m->ny * m->nz * m->nc, i, nl, hit = 0;
    long *labels = NULL, want = 0;
    bool more, integer;
    char list[160];
    enum mmdx_status st;

    memset(info, 0, sizeof(*info));
    if (label && label[0] && !mmdx__mask_label_number(label, &want))
        return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, path, 0, "mask_label",
                          "a %s label image is selected by a whole number "
                          "from 1 to %ld (segment names apply to DICOM SEG "
                          "only)", kind, MMDX_MASK_MAX_LABEL);
    st = mmdx__mask_scan_labels(ctx, m->vox, n, MAX_DISTINCT, &labels, &nl,
                                &more, &integer);
    if (st)
        return st;
    list_labels(labels, nl, more, list, sizeof(list));
    info->nlabels = nl + (more ? 1 : 0);
    mmdx__strlcpy(info->present, list, sizeof(info->present));
    if (!want) {
        mmdx__free(labels);
        if (integer && (nl > 1 || more))
            return mmdx__fail(ctx, MMDX_E_INVAL, STAGE, path, 0,
                              "mask_label", "the %s mask holds %s%zu "
                              "labels (%s): set mask_label (load.image "
                              "parameter, manifest column, or mmdx features "
                              "--mask-label) to the one to use", kind,
                              more ? "more than " : "", nl, list);
        return MMDX_OK;
    }
    if (!integer) {
        mmdx__free(labels);
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "mask_label",
                          "mask_label %ld given, but the %s mask has values "
                          "that are not whole numbers (a probability map, "
                          "not a label image)", want, kind);
    }
    for (i = 0; i < n; i++)
        hit += m->vox[i] == (float)want;
    mmdx__free(labels);
    if (!hit)
        return mmdx__fail(ctx, MMDX_E_NOTFOUND, STAGE, path, 0, "mask_label",
                          "mask_label %ld is not in the %s mask (labels "
                          "present: %s)", want, kind, nl ? list : "none");
    for (i = 0; i < n; i++)
        m->vox[i] = m->vox[i] == (float)want ? 1.0f : 0.0f;
    info->used = true;
    info->value = want;
    return MMDX_OK;
}
