/*
 * inspect.c - `mmdx inspect`: detection, size and hash for every file, then
 * the reader's own summary where one is registered below.
 */
#include "core/common.h"
#include "io/inspect.h"

#include <sys/stat.h>

/* ---- reader hooks (areas add their declarations here) -------------------- */
/* image */
enum mmdx_status mmdx__dicom_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user);
/* image masks: NIfTI-1 (io/mask.h, nifti_inspect.c) */
enum mmdx_status mmdx__nifti_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user);
/* ecg */
enum mmdx_status mmdx__wfdb_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user);
enum mmdx_status mmdx__aecg_inspect(struct mmdx_ctx *ctx, const char *path,
                                    enum mmdx_format fmt, mmdx_kv_fn fn,
                                    void *user);
/* eeg (also serves EDF ECGs) */
#include "io/edf.h"
/* record */
#include "io/record.h"


static const struct {
    enum mmdx_format fmt;
    mmdx__inspect_fn fn;
} hooks[] = {
    /* image */
    { MMDX_FMT_DICOM, mmdx__dicom_inspect },
    { MMDX_FMT_DICOM_DIR, mmdx__dicom_inspect },
    { MMDX_FMT_NIFTI, mmdx__nifti_inspect },
    /* ecg */
    { MMDX_FMT_WFDB_HEADER, mmdx__wfdb_inspect },
    { MMDX_FMT_AECG_XML, mmdx__aecg_inspect },

    /* eeg */
    { MMDX_FMT_EDF, mmdx__edf_inspect },
    { MMDX_FMT_EDFPLUS, mmdx__edf_inspect },
    { MMDX_FMT_BDF, mmdx__edf_inspect },
    { MMDX_FMT_BDFPLUS, mmdx__edf_inspect },

    /* record */
    { MMDX_FMT_FHIR_XML, mmdx__record_inspect },
    { MMDX_FMT_CCDA_XML, mmdx__record_inspect },
    { MMDX_FMT_MMDX_RECORD_XML, mmdx__record_inspect },

    { MMDX_FMT_UNKNOWN, NULL }
};

enum mmdx_status mmdx_inspect(struct mmdx_ctx *ctx, const char *path,
                              mmdx_kv_fn fn, void *user)
{
    enum mmdx_format fmt;
    const char *mod;
    char hex[MMDX_SHA256_HEX], num[32];
    struct stat sb;
    enum mmdx_status st;
    size_t i;

    mod = mmdx_detect_modality(ctx, path, &fmt);
    if (mmdx__ctx_has_error(ctx))
        return mmdx_ctx_last_error(ctx)->status;
    if (fmt == MMDX_FMT_UNKNOWN)
        return mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "inspect", path, 0, NULL,
                          "unknown format (not DICOM, NIfTI-1, WFDB, "
                          "EDF/BDF, FHIR, C-CDA, aECG or mmdx XML)");
    fn(user, "format", mmdx_format_name(fmt));
    fn(user, "modality", mod ? mod : "-");
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        snprintf(num, sizeof(num), "%lld", (long long)sb.st_size);
        fn(user, "bytes", num);
    }
    st = mmdx__sha256_path(ctx, path, hex);
    if (st)
        return st;
    fn(user, "sha256", hex);
    for (i = 0; hooks[i].fn; i++)
        if (hooks[i].fmt == fmt)
            return hooks[i].fn(ctx, path, fmt, fn, user);
    return MMDX_OK;
}
