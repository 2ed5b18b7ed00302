/*
 * mask_nifti.c - NIfTI-1 single files (.nii, and .nii.gz through zlib) as
 * region-of-interest masks.
 *
 * The header is checked field by field before anything is allocated:
 * sizeof_hdr (348, which also gives the byte order), magic ("n+1"; the
 * two-file "ni1" form and NIfTI-2 are refused by name), dim (one 3D
 * volume, every extent >= 1, the voxel count within the limit), datatype
 * and bitpix (integers and reals only), vox_offset (>= 352, integral,
 * bounded), pixdim, and the sform/qform when they are used. Geometry
 * follows the NIfTI-1 standard: sform when sform_code > 0, else qform when
 * qform_code > 0 (quaternion b, c, d with a = sqrt(1 - b^2 - c^2 - d^2),
 * qfac = pixdim[0] = -1 flips k); the world is RAS+, turned into DICOM's
 * LPS by negating x and y.
 */
#include "core/common.h"
#include "io/mask.h"
#include "pipeline/stage.h"

#include <zlib.h>

#define STAGE "io.nifti"

static uint16_t rd16(const uint8_t *p, bool be)
{
    return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const uint8_t *p, bool be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                    (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[1] << 8 | p[0];
}

static uint64_t rd64(const uint8_t *p, bool be)
{
    uint64_t hi = rd32(p + (be ? 0 : 4), be), lo = rd32(p + (be ? 4 : 0), be);

    return hi << 32 | lo;
}

static double rdf32(const uint8_t *p, bool be)
{
    uint32_t u = rd32(p, be);
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

static double rdf64(const uint8_t *p, bool be)
{
    uint64_t u = rd64(p, be);
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

static int16_t rds16(const uint8_t *p, bool be)
{
    uint16_t u = rd16(p, be);
    int16_t s;

    memcpy(&s, &u, sizeof(s));
    return s;
}

static unsigned type_bytes(int datatype)
{
    switch (datatype) {
    case 2:     /* UINT8 */
    case 256:   /* INT8 */
        return 1;
    case 4:     /* INT16 */
    case 512:   /* UINT16 */
        return 2;
    case 8:     /* INT32 */
    case 768:   /* UINT32 */
    case 16:    /* FLOAT32 */
        return 4;
    case 64:    /* FLOAT64 */
        return 8;
    default:
        return 0;
    }
}

/* A fixed-width header text: up to the first NUL, trailing blanks cut,
 * control bytes as '?'. */
static void text_field(char *dst, size_t size, const uint8_t *src,
                       size_t width)
{
    size_t n = 0, i;

    while (n < width && n + 1 < size && src[n])
        n++;
    for (i = 0; i < n; i++)
        dst[i] = src[i] < 0x20 || src[i] == 0x7f ? '?' : (char)src[i];
    while (n && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

enum mmdx_status mmdx__nifti_parse_header(struct mmdx_ctx *ctx,
                                          const char *path,
                                          const uint8_t *b, size_t len,
                                          uint64_t max_voxels,
                                          struct mmdx_nifti_hdr *h)
{
    bool be;
    uint32_t sz;
    int ndim, k;
    size_t n = 1;
    double vo;

    memset(h, 0, sizeof(*h));
    if (!max_voxels)
        max_voxels = MMDX_DICOM_MAX_VOXELS;
    if (len < 4)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "sizeof_hdr",
                          "file is %zu bytes: no NIfTI-1 header", len);
    sz = rd32(b, false);
    if (sz == 348)
        be = false;
    else if (rd32(b, true) == 348)
        be = true;
    else if (sz == 540 || rd32(b, true) == 540)
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0,
                          "sizeof_hdr", "NIfTI-2 (540-byte header) is not "
                          "supported; save the mask as NIfTI-1");
    else
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "sizeof_hdr",
                          "expected 348 in either byte order, got %lu",
                          (unsigned long)sz);
    h->big_endian = be;
    if (len < MMDX_NIFTI_HDR_BYTES)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "header",
                          "file is %zu bytes, the NIfTI-1 header needs 348",
                          len);
    if (!memcmp(b + 344, "ni1", 4))
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0, "magic",
                          "two-file NIfTI (.hdr/.img) is not supported; "
                          "convert it to a single .nii");
    if (memcmp(b + 344, "n+1", 4))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "magic",
                          "expected \"n+1\" at byte 344");
    ndim = rds16(b + 40, be);
    if (ndim < 1 || ndim > 7)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "dim[0]",
                          "expected 1..7 dimensions, got %d", ndim);
    for (k = 1; k <= ndim; k++) {
        int d = rds16(b + 40 + 2 * k, be);

        if (d < 1)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "dim",
                              "dim[%d] = %d: every extent must be >= 1", k,
                              d);
        if (k > 3 && d != 1)
            return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0, "dim",
                              "dim[%d] = %d: a mask must be one 3D volume",
                              k, d);
        if (k <= 3)
            h->dim[k - 1] = (size_t)d;
    }
    for (k = ndim + 1; k <= 3; k++)
        h->dim[k - 1] = 1;
    for (k = 0; k < 3; k++)
        n *= h->dim[k];   /* <= 32767^3: no overflow in size_t */
    if ((uint64_t)n > max_voxels)
        return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path, 0, "dim",
                          "%zu x %zu x %zu voxels exceed the limit of %llu",
                          h->dim[0], h->dim[1], h->dim[2],
                          (unsigned long long)max_voxels);
    h->datatype = rds16(b + 70, be);
    h->bytes_per_voxel = type_bytes(h->datatype);
    if (!h->bytes_per_voxel)
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path, 0,
                          "datatype", "datatype %d is not supported for a "
                          "mask (integers and reals only)", h->datatype);
    if (rds16(b + 72, be) != (int)(8 * h->bytes_per_voxel))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "bitpix",
                          "bitpix %d does not match datatype %d (%u bits)",
                          rds16(b + 72, be), h->datatype,
                          8 * h->bytes_per_voxel);
    for (k = 0; k < 3; k++) {
        double p = rdf32(b + 76 + 4 * (k + 1), be);

        if (!isfinite(p) || p <= 0 || p > 1e6)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "pixdim",
                              "pixdim[%d] must be a positive voxel size in "
                              "mm", k + 1);
        h->pixdim[k] = p;
    }
    vo = rdf32(b + 108, be);
    if (!isfinite(vo) || vo < 352 || vo != floor(vo) ||
        vo > (double)MMDX_NIFTI_MAX_VOX_OFFSET)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "vox_offset",
                          "expected a whole number of bytes from 352 to "
                          "%ld", (long)MMDX_NIFTI_MAX_VOX_OFFSET);
    h->vox_offset = (size_t)vo;
    h->slope = rdf32(b + 112, be);
    h->inter = rdf32(b + 116, be);
    if (!isfinite(h->slope) || h->slope == 0) {
        h->slope = 1;
        h->inter = 0;
    }
    if (!isfinite(h->inter))
        h->inter = 0;
    text_field(h->descrip, sizeof(h->descrip), b + 148, 80);
    text_field(h->aux_file, sizeof(h->aux_file), b + 228, 24);
    h->qform_code = rds16(b + 252, be);
    h->sform_code = rds16(b + 254, be);
    if (h->sform_code > 0) {
        int r, c;

        for (r = 0; r < 3; r++)
            for (c = 0; c < 4; c++) {
                double v = rdf32(b + 280 + 16 * r + 4 * c, be);

                if (!isfinite(v) || fabs(v) > 1e9)
                    return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                                      r == 0 ? "srow_x" : r == 1 ? "srow_y"
                                                                 : "srow_z",
                                      "element %d is not a finite number",
                                      c);
                h->affine[r][c] = v;
            }
        h->has_affine = true;
    } else if (h->qform_code > 0) {
        double qb = rdf32(b + 256, be), qc = rdf32(b + 260, be),
               qd = rdf32(b + 264, be), qa, qfac = rdf32(b + 76, be), ss;
        double R[3][3];
        int r;

        ss = qb * qb + qc * qc + qd * qd;
        if (!isfinite(ss) || ss > 1.0 + 1e-6)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                              "quatern_b", "quaternion (b, c, d) must have "
                              "norm <= 1");
        qa = ss < 1 ? sqrt(1 - ss) : 0;
        qfac = qfac < 0 ? -1 : 1;
        R[0][0] = qa * qa + qb * qb - qc * qc - qd * qd;
        R[0][1] = 2 * (qb * qc - qa * qd);
        R[0][2] = 2 * (qb * qd + qa * qc);
        R[1][0] = 2 * (qb * qc + qa * qd);
        R[1][1] = qa * qa + qc * qc - qb * qb - qd * qd;
        R[1][2] = 2 * (qc * qd - qa * qb);
        R[2][0] = 2 * (qb * qd - qa * qc);
        R[2][1] = 2 * (qc * qd + qa * qb);
        R[2][2] = qa * qa + qd * qd - qc * qc - qb * qb;
        for (r = 0; r < 3; r++) {
            double o = rdf32(b + 268 + 4 * r, be);

            if (!isfinite(o) || fabs(o) > 1e9)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0,
                                  r == 0 ? "qoffset_x" : r == 1 ? "qoffset_y"
                                                               : "qoffset_z",
                                  "not a finite position in mm");
            h->affine[r][0] = R[r][0] * h->pixdim[0];
            h->affine[r][1] = R[r][1] * h->pixdim[1];
            h->affine[r][2] = R[r][2] * h->pixdim[2] * qfac;
            h->affine[r][3] = o;
        }
        h->has_affine = true;
    }
    return MMDX_OK;
}

bool mmdx__nifti_sniff(const uint8_t *data, size_t len, const char *name)
{
    size_t nl;

    if (len >= MMDX_NIFTI_HDR_BYTES &&
        (rd32(data, false) == 348 || rd32(data, true) == 348) &&
        (!memcmp(data + 344, "n+1", 4) || !memcmp(data + 344, "ni1", 4)))
        return true;
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b && name) {
        nl = strlen(name);
        return nl > 7 && !strcmp(name + nl - 7, ".nii.gz");
    }
    return false;
}

/* ---- gzip through zlib, with mmdx's allocator --------------------------- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    size_t bytes;

    (void)opaque;
    if (!mmdx__mul_size(items, size, &bytes))
        return Z_NULL;
    return mmdx__malloc(bytes);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    mmdx__free(p);
}

struct gz {
    z_stream zs;
    bool open, ended;
};

/* Inflate exactly want bytes into dst (gzip members may be concatenated);
 * fewer available is E_FORMAT (truncated). */
static enum mmdx_status gz_read(struct mmdx_ctx *ctx, const char *path,
                                struct gz *g, uint8_t *dst, size_t want)
{
    while (want) {
        uInt chunk = want > (1u << 30) ? (1u << 30) : (uInt)want;
        int zr;

        if (g->ended) {
            if (g->zs.avail_in < 2 || g->zs.next_in[0] != 0x1f ||
                g->zs.next_in[1] != 0x8b)
                break;
            if (inflateReset(&g->zs) != Z_OK)
                break;
            g->ended = false;
        }
        g->zs.next_out = dst;
        g->zs.avail_out = chunk;
        zr = inflate(&g->zs, Z_NO_FLUSH);
        want -= chunk - g->zs.avail_out;
        dst += chunk - g->zs.avail_out;
        if (zr == Z_STREAM_END) {
            g->ended = true;
            continue;
        }
        if (zr == Z_MEM_ERROR)
            return mmdx__nomem(ctx);
        if (zr != Z_OK)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "data",
                              "corrupt gzip stream (%s)",
                              g->zs.msg ? g->zs.msg : "inflate failed");
        if (g->zs.avail_out && !g->zs.avail_in)
            break;
    }
    if (want)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "data",
                          "file truncated: %zu bytes of the header or voxels "
                          "are missing", want);
    return MMDX_OK;
}

/* Read the rest of the stream so that its CRC-32 and length are checked;
 * trailing data after the voxels is allowed (up to 64 MiB is inflated,
 * then the check is given up). */
static enum mmdx_status gz_finish(struct mmdx_ctx *ctx, const char *path,
                                  struct gz *g)
{
    uint8_t scratch[4096];
    size_t total = 0;

    while (!g->ended && total < ((size_t)64 << 20)) {
        int zr;

        g->zs.next_out = scratch;
        g->zs.avail_out = sizeof(scratch);
        zr = inflate(&g->zs, Z_NO_FLUSH);
        total += sizeof(scratch) - g->zs.avail_out;
        if (zr == Z_STREAM_END)
            g->ended = true;
        else if (zr == Z_MEM_ERROR)
            return mmdx__nomem(ctx);
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "data",
                              "corrupt gzip stream (%s)",
                              g->zs.msg ? g->zs.msg : "inflate failed");
        else if (zr == Z_BUF_ERROR || (!g->zs.avail_in &&
                                       g->zs.avail_out == sizeof(scratch)))
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "data",
                              "file truncated: the gzip stream does not "
                              "end");
    }
    return MMDX_OK;
}

/* ---- decoding ------------------------------------------------------------ */

static double voxel(const uint8_t *p, int type, bool be)
{
    switch (type) {
    case 2:
        return p[0];
    case 256:
        return (int8_t)p[0];
    case 4:
        return rds16(p, be);
    case 512:
        return rd16(p, be);
    case 8: {
        uint32_t u = rd32(p, be);
        int32_t s;

        memcpy(&s, &u, sizeof(s));
        return s;
    }
    case 768:
        return rd32(p, be);
    case 16:
        return rdf32(p, be);
    default:
        return rdf64(p, be);
    }
}

static void set_geometry(struct mmdx_image *img, const struct mmdx_nifti_hdr *h)
{
    double col[3][3];
    size_t k;
    int a, r;

    for (k = 0; k < 3; k++)
        img->spacing_mm[k] = h->pixdim[k];
    img->slice_thickness_mm = h->pixdim[2];
    if (!h->has_affine || !img->pos_mm)
        return;
    /* RAS -> LPS: negate x and y */
    for (a = 0; a < 3; a++)
        for (r = 0; r < 3; r++)
            col[a][r] = (r < 2 ? -1 : 1) * h->affine[r][a];
    for (a = 0; a < 3; a++) {
        double L = sqrt(col[a][0] * col[a][0] + col[a][1] * col[a][1] +
                        col[a][2] * col[a][2]);

        if (!(L > 0)) {
            mmdx__freep(&img->pos_mm);
            return;
        }
        img->spacing_mm[a] = L;
        for (r = 0; r < 3; r++) {
            double u = col[a][r] / L;

            if (a == 0)
                img->row_cos[r] = u;
            else if (a == 1)
                img->col_cos[r] = u;
        }
    }
    img->normal[0] = img->row_cos[1] * img->col_cos[2] -
                     img->row_cos[2] * img->col_cos[1];
    img->normal[1] = img->row_cos[2] * img->col_cos[0] -
                     img->row_cos[0] * img->col_cos[2];
    img->normal[2] = img->row_cos[0] * img->col_cos[1] -
                     img->row_cos[1] * img->col_cos[0];
    img->has_orientation = true;
    for (k = 0; k < img->nz; k++)
        for (r = 0; r < 3; r++)
            img->pos_mm[3 * k + r] = (r < 2 ? -1 : 1) * h->affine[r][3] +
                                     (double)k * col[2][r];
}

/* The header's free-text fields and extensions, for check.deid. */
static enum mmdx_status report_ids(const struct mmdx_nifti_hdr *h,
                                   bool has_ext, const char *path,
                                   mmdx__dicom_id_fn idfn, void *user)
{
    enum mmdx_status st = MMDX_OK;

    if (!idfn)
        return MMDX_OK;
    if (h->descrip[0])
        st = idfn(user, path, "descrip (NIfTI-1 header)", MMDX_ID_FREE_TEXT,
                  h->descrip);
    if (!st && h->aux_file[0])
        st = idfn(user, path, "aux_file (NIfTI-1 header)", MMDX_ID_FREE_TEXT,
                  h->aux_file);
    if (!st && has_ext)
        st = idfn(user, path, "extension (NIfTI-1 header extension)",
                  MMDX_ID_PRIVATE, "(extension data)");
    return st;
}

static enum mmdx_status decode(struct mmdx_ctx *ctx, const char *path,
                               const uint8_t *data, size_t len,
                               uint64_t max_voxels, mmdx__dicom_id_fn idfn,
                               void *user, struct mmdx_image **out)
{
    bool has_ext = false;
    struct mmdx_nifti_hdr h;
    struct gz g;
    struct mmdx_image *img = NULL;
    uint8_t hdr[MMDX_NIFTI_HDR_BYTES], *raw = NULL;
    const uint8_t *vox;
    size_t n, bytes, i;
    bool gz = len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    enum mmdx_status st;

    *out = NULL;
    memset(&g, 0, sizeof(g));
    if (gz) {
        g.zs.zalloc = z_alloc;
        g.zs.zfree = z_free;
        g.zs.next_in = (Bytef *)(uintptr_t)data;
        g.zs.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
        if (inflateInit2(&g.zs, 15 + 16) != Z_OK)
            return mmdx__nomem(ctx);
        g.open = true;
        st = gz_read(ctx, path, &g, hdr, 4);
        /* the size field first: "not NIfTI" says more than "short" */
        if (!st && rd32(hdr, false) != 348 && rd32(hdr, true) != 348)
            st = mmdx__nifti_parse_header(ctx, path, hdr, 4, max_voxels, &h);
        if (!st)
            st = gz_read(ctx, path, &g, hdr + 4, sizeof(hdr) - 4);
        if (!st)
            st = mmdx__nifti_parse_header(ctx, path, hdr, sizeof(hdr),
                                          max_voxels, &h);
    } else {
        st = mmdx__nifti_parse_header(ctx, path, data, len, max_voxels, &h);
    }
    if (st)
        goto out;
    n = h.dim[0] * h.dim[1] * h.dim[2];
    bytes = n * h.bytes_per_voxel;   /* <= 2^28 * 8 */
    if (gz) {
        size_t skip = h.vox_offset - MMDX_NIFTI_HDR_BYTES;

        raw = mmdx__malloc((skip > bytes ? skip : bytes) + 1);
        if (!raw) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        st = gz_read(ctx, path, &g, raw, skip);
        has_ext = !st && skip >= 4 && raw[0] != 0;
        if (!st)
            st = gz_read(ctx, path, &g, raw, bytes);
        if (!st)
            st = gz_finish(ctx, path, &g);
        if (st)
            goto out;
        vox = raw;
    } else {
        if (h.vox_offset > len || len - h.vox_offset < bytes) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "vox_offset",
                            "file truncated: %zu voxel bytes from byte %zu "
                            "need %zu bytes, the file has %zu", bytes,
                            h.vox_offset, h.vox_offset + bytes, len);
            goto out;
        }
        vox = data + h.vox_offset;
        has_ext = h.vox_offset >= 356 && data[348] != 0;
    }
    st = report_ids(&h, has_ext, path, idfn, user);
    if (st)
        goto out;
    img = mmdx__image_new();
    if (!img) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__image_alloc(ctx, img, h.dim[0], h.dim[1], h.dim[2], 1, 0);
    if (st)
        goto out;
    if (h.has_affine) {
        img->pos_mm = mmdx__calloc(3 * h.dim[2], sizeof(double));
        if (!img->pos_mm) {
            st = mmdx__nomem(ctx);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        double v = voxel(vox + i * h.bytes_per_voxel, h.datatype,
                         h.big_endian) * h.slope + h.inter;

        img->vox[i] = isfinite(v) && fabs(v) < 3e38 ? (float)v : 0.0f;
    }
    set_geometry(img, &h);
    mmdx__strlcpy(img->modality, "SEG", sizeof(img->modality));
    mmdx__strlcpy(img->transfer_syntax_name, gz ? "NIfTI-1 (gzip)"
                                                : "NIfTI-1",
                  sizeof(img->transfer_syntax_name));
    img->rows = (unsigned)h.dim[1];
    img->cols = (unsigned)h.dim[0];
    img->bits_allocated = 8 * h.bytes_per_voxel;
    img->bits_stored = img->bits_allocated;
    img->rescale_slope = h.slope;
    img->rescale_intercept = h.inter;
    img->nfiles = 1;
    img->is_segmentation = true;
    *out = img;
    img = NULL;
out:
    if (g.open)
        inflateEnd(&g.zs);
    mmdx__free(raw);
    mmdx__image_free(img);
    return st;
}

enum mmdx_status mmdx__nifti_decode(struct mmdx_ctx *ctx, const char *path,
                                    const uint8_t *data, size_t len,
                                    uint64_t max_voxels,
                                    struct mmdx_image **out)
{
    return decode(ctx, path, data, len, max_voxels, NULL, NULL, out);
}

enum mmdx_status mmdx__nifti_load(struct mmdx_ctx *ctx, const char *path,
                                  uint64_t max_voxels, mmdx__dicom_id_fn idfn,
                                  void *user, struct mmdx_image **out)
{
    char *data = NULL;
    size_t len = 0;
    uint64_t lim = max_voxels ? max_voxels : MMDX_DICOM_MAX_VOXELS;
    uint64_t maxb = (uint64_t)MMDX_NIFTI_MAX_VOX_OFFSET + lim * 8;
    enum mmdx_status st;

    *out = NULL;
    if (maxb > MMDX_DICOM_MAX_FILE_BYTES)
        maxb = MMDX_DICOM_MAX_FILE_BYTES;
    st = mmdx__file_read(ctx, path, (size_t)maxb, &data, &len);
    if (st)
        return st;
    st = decode(ctx, path, (const uint8_t *)data, len, max_voxels, idfn,
                user, out);
    mmdx__free(data);
    return st;
}

/* ---- detection and the header alone (mmdx inspect) ----------------------- */

/* The first 348 bytes of data, inflated when it is a gzip stream; false
 * when there are not that many. */
static bool head_bytes(const uint8_t *data, size_t len,
                       uint8_t hdr[MMDX_NIFTI_HDR_BYTES])
{
    z_stream zs;
    int zr;

    if (!(len >= 2 && data[0] == 0x1f && data[1] == 0x8b)) {
        if (len < MMDX_NIFTI_HDR_BYTES)
            return false;
        memcpy(hdr, data, MMDX_NIFTI_HDR_BYTES);
        return true;
    }
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return false;
    zs.next_out = hdr;
    zs.avail_out = MMDX_NIFTI_HDR_BYTES;
    do
        zr = inflate(&zs, Z_NO_FLUSH);
    while (zr == Z_OK && zs.avail_out && zs.avail_in);
    inflateEnd(&zs);
    return zs.avail_out == 0;
}

bool mmdx__nifti_detect(const uint8_t *data, size_t len)
{
    uint8_t hdr[MMDX_NIFTI_HDR_BYTES];

    return head_bytes(data, len, hdr) &&
           mmdx__nifti_sniff(hdr, sizeof(hdr), NULL);
}

enum mmdx_status mmdx__nifti_header(struct mmdx_ctx *ctx, const char *path,
                                    const uint8_t *data, size_t len,
                                    struct mmdx_nifti_hdr *h)
{
    uint8_t hdr[MMDX_NIFTI_HDR_BYTES];

    if (!head_bytes(data, len, hdr))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "sizeof_hdr",
                          "file truncated: shorter than the 348-byte "
                          "NIfTI-1 header");
    return mmdx__nifti_parse_header(ctx, path, hdr, sizeof(hdr), 0, h);
}
