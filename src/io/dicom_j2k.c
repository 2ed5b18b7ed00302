/*
 * dicom_j2k.c - JPEG 2000 frames of DICOM files, decoded with OpenJPEG
 * (DCMTK's free edition has no JPEG 2000 codec). The shim hands over one
 * frame's codestream; this file checks its geometry against the DICOM
 * header before any sample buffer is decoded.
 */
#include "core/common.h"
#include "io/dicom.h"

#include <openjpeg.h>

struct memsrc {
    const uint8_t *data;
    size_t len, pos;
};

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user)
{
    struct memsrc *m = user;
    size_t left = m->len - m->pos;

    if (!left)
        return (OPJ_SIZE_T)-1;
    if (n > left)
        n = left;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return n;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    struct memsrc *m = user;

    if (n < 0) {
        if ((size_t)-n > m->pos)
            return -1;
        m->pos -= (size_t)-n;
        return n;
    }
    if ((size_t)n > m->len - m->pos)
        n = (OPJ_OFF_T)(m->len - m->pos);
    m->pos += (size_t)n;
    return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user)
{
    struct memsrc *m = user;

    if (n < 0 || (size_t)n > m->len)
        return OPJ_FALSE;
    m->pos = (size_t)n;
    return OPJ_TRUE;
}

/* OpenJPEG reports through callbacks; keep the first error line. */
static void on_error(const char *msg, void *user)
{
    char *buf = user;

    if (!buf[0])
        mmdx__strlcpy(buf, msg, 160);
}

static void on_quiet(const char *msg, void *user)
{
    MMDX_UNUSED(msg);
    MMDX_UNUSED(user);
}

enum mmdx_status mmdx__j2k_decode(struct mmdx_ctx *ctx, const char *path,
                                  const uint8_t *data, size_t len,
                                  unsigned rows, unsigned cols, unsigned spp,
                                  int32_t *dst, unsigned *precision,
                                  bool *is_signed)
{
    struct memsrc m = { data, len, 0 };
    opj_codec_t *codec = NULL;
    opj_stream_t *stream = NULL;
    opj_image_t *img = NULL;
    opj_dparameters_t par;
    char err[160] = "";
    enum mmdx_status st = MMDX_OK;
    unsigned c;
    size_t i, npix = (size_t)rows * cols;

    if (len < 4)
        return mmdx__fail(ctx, MMDX_E_FORMAT, "io.dicom", path, 0,
                          "PixelData (7FE0,0010)",
                          "JPEG 2000 frame of %zu bytes", len);
    /* A raw codestream starts with SOC (FF 4F); a JP2 file with a box. */
    codec = opj_create_decompress(data[0] == 0xFF && data[1] == 0x4F
                                      ? OPJ_CODEC_J2K : OPJ_CODEC_JP2);
    stream = opj_stream_create(1 << 16, OPJ_TRUE);
    if (!codec || !stream) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    opj_set_error_handler(codec, on_error, err);
    opj_set_warning_handler(codec, on_quiet, NULL);
    opj_set_info_handler(codec, on_quiet, NULL);
    opj_stream_set_user_data(stream, &m, NULL);
    opj_stream_set_user_data_length(stream, len);
    opj_stream_set_read_function(stream, mem_read);
    opj_stream_set_skip_function(stream, mem_skip);
    opj_stream_set_seek_function(stream, mem_seek);
    opj_set_default_decoder_parameters(&par);
    if (!opj_setup_decoder(codec, &par) ||
        !opj_read_header(stream, codec, &img) || !img) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "io.dicom", path, 0,
                        "PixelData (7FE0,0010)",
                        "invalid JPEG 2000 header: %s", err[0] ? err : "?");
        goto out;
    }
    if (img->x1 - img->x0 != cols || img->y1 - img->y0 != rows ||
        img->numcomps != spp) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "io.dicom", path, 0,
                        "PixelData (7FE0,0010)",
                        "JPEG 2000 codestream is %ux%u with %u components, "
                        "the header declares %ux%u with %u",
                        img->x1 - img->x0, img->y1 - img->y0, img->numcomps,
                        cols, rows, spp);
        goto out;
    }
    if (!opj_decode(codec, stream, img) ||
        !opj_end_decompress(codec, stream)) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "io.dicom", path, 0,
                        "PixelData (7FE0,0010)",
                        "JPEG 2000 decoding failed: %s", err[0] ? err : "?");
        goto out;
    }
    for (c = 0; c < spp; c++) {
        const opj_image_comp_t *cp = &img->comps[c];

        if (!cp->data || cp->w != cols || cp->h != rows || cp->dx != 1 ||
            cp->dy != 1) {
            st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "io.dicom", path, 0,
                            "PixelData (7FE0,0010)",
                            "JPEG 2000 component %u is subsampled or empty",
                            c);
            goto out;
        }
    }
    for (i = 0; i < npix; i++)
        for (c = 0; c < spp; c++)
            dst[i * spp + c] = img->comps[c].data[i];
    *precision = img->comps[0].prec;
    *is_signed = img->comps[0].sgnd != 0;
out:
    if (img)
        opj_image_destroy(img);
    if (stream)
        opj_stream_destroy(stream);
    if (codec)
        opj_destroy_codec(codec);
    return st;
}
