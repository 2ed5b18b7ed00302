/*
 * image.c - brain-like axial CT slices (HU): air, an elliptical skull,
 * grey and white matter, CSF in the ventricles and sulci (wider with the
 * atrophy latent), and hypodense ellipsoidal lesions (old infarcts, larger
 * with the lesion-load latent), plus quantum noise. Written as DICOM CT
 * Image Storage through the image area's writer (src/io/dicom.h), some
 * slices RLE or JPEG-LS lossless; without that writer this build writes
 * no images and the manifest's image column stays empty.
 */
#include "core/common.h"
#include "synth/synth_int.h"

#if defined(__has_include)
#if __has_include("io/dicom.h")
#include "io/dicom.h"
#define SYNTH_HAVE_DICOM 1
#endif
#endif

#define FOV_MM 230.0      /* field of view: 0.9 mm pixels at 256 */
#define SLICE_MM 5.0

int mmdx__synth_have_image(void)
{
#ifdef SYNTH_HAVE_DICOM
    return 1;
#else
    return 0;
#endif
}

#ifdef SYNTH_HAVE_DICOM
/*
 * DCMTK 3.6.7's JPEG-LS encoder pads an odd-length fragment with one
 * uninitialised byte (the standard asks for a trailing NUL), so the bytes
 * would vary from run to run. Set that byte to 0: the file ends with
 * FF D9 (end of image), the pad, then the sequence delimiter item
 * (FFFE,E0DD) of length 0.
 */
static enum mmdx_status fix_jpegls_pad(struct mmdx_ctx *ctx, const char *path)
{
    static const unsigned char tail[8] = { 0xfe, 0xff, 0xdd, 0xe0,
                                           0, 0, 0, 0 };
    enum mmdx_status st;
    unsigned char *b;
    char *data = NULL;
    size_t len = 0;

    st = mmdx__file_read(ctx, path, (size_t)64 << 20, &data, &len);
    if (st)
        return st;
    b = (unsigned char *)data;
    if (len > 12 && !memcmp(b + len - 8, tail, 8) && b[len - 11] == 0xff &&
        b[len - 10] == 0xd9 && b[len - 9] != 0) {
        b[len - 9] = 0;
        st = mmdx__file_write_atomic(ctx, path, data, len);
    }
    mmdx__free(data);
    return st;
}
#endif

struct blob {
    double cx, cy, cz, rx, ry, rz;  /* mm */
};

static double ell(double x, double y, double cx, double cy, double rx,
                  double ry)
{
    double a = (x - cx) / rx, b = (y - cy) / ry;

    return a * a + b * b;
}

/* Fill hu[size*size] for the slice at height z_mm (0 = mid-ventricles). */
static void render(struct synth_rng *r, const struct synth_latent *l,
                   const struct blob *les, int nles, int size, double z_mm,
                   double head_rx, double head_ry, int16_t *px)
{
    double shrink = sqrt(fmax(0.2, 1.0 - (z_mm / 80.0) * (z_mm / 80.0)));
    double rx = head_rx * shrink, ry = head_ry * shrink, skull_mm = 6.0;
    double atro = 1.0 + 0.25 * l->atrophy, sp = FOV_MM / size;
    double vent = fmax(0.4, atro);
    int i, j, k;

    for (i = 0; i < size; i++) {
        for (j = 0; j < size; j++) {
            double x = (j - size / 2.0) * sp;
            double y = (i - size / 2.0) * sp;
            double e = ell(x, y, 0, 0, rx, ry), hu;
            double ein = ell(x, y, 0, 0, rx - skull_mm, ry - skull_mm);

            if (e > 1.0) {
                hu = -1000.0;
            } else if (ein > 1.0) {
                hu = 1100.0;   /* cortical bone */
            } else {
                /* White matter inside, grey matter rim and cortex, CSF in
                 * the sulci (outermost band, wider with atrophy). */
                double depth = 1.0 - sqrt(ein);
                double csf_band = 0.02 + 0.025 * fmax(0.0, atro - 0.6);

                hu = depth < csf_band ? 6.0 : depth < 0.16 ? 38.0 : 28.0;
                /* Lateral ventricles: two ellipses, within +-25 mm. */
                if (fabs(z_mm) < 25.0) {
                    double vs = vent * sqrt(1 - (z_mm / 25.0) *
                                                    (z_mm / 25.0));
                    if (ell(x, y, -9.0, -8.0, 6.0 * vs, 22.0 * vs) < 1.0 ||
                        ell(x, y, 9.0, -8.0, 6.0 * vs, 22.0 * vs) < 1.0)
                        hu = 5.0;
                }
                for (k = 0; k < nles; k++) {
                    const struct blob *b = &les[k];
                    double dz = (z_mm - b->cz) / b->rz;

                    if (fabs(dz) < 1.0 &&
                        ell(x, y, b->cx, b->cy, b->rx, b->ry) <
                            1.0 - dz * dz)
                        hu = 14.0;
                }
            }
            if (hu > -1000.0)
                hu += 4.0 * mmdx__synth_normal(r);
            else
                hu += 2.0 * mmdx__synth_normal(r);
            if (hu < -1024.0)
                hu = -1024.0;
            px[i * size + j] = (int16_t)lround(hu + 1024.0);
        }
    }
}

enum mmdx_status mmdx__synth_image_write(struct mmdx_ctx *ctx,
                                         struct synth_rng *r,
                                         const struct synth_latent *l,
                                         const char *dir, const char *rel,
                                         const char *pid, int slices,
                                         int size, int study_year,
                                         struct synth_phi *phi)
{
    struct blob les[3];
    int nles = 0, s, k;
    double head_rx = 68.0 + 4.0 * mmdx__synth_normal(r);
    double head_ry = 85.0 + 4.0 * mmdx__synth_normal(r);
    int16_t *px = NULL;
    enum mmdx_status st = MMDX_OK;
    size_t npx;

    MMDX_UNUSED(study_year);
    if (l->lesion) {
        /* Total lesion volume grows with the load: the radii of nles
         * ellipsoids share it. */
        double vol_ml = 2.0 + 38.0 * l->lesion_load;

        nles = 1 + (int)mmdx__synth_below(r, 3);
        for (k = 0; k < nles; k++) {
            double v = vol_ml / nles * 1000.0;   /* mm^3 */
            double rad = cbrt(v * 3.0 / (4.0 * M_PI));
            double ang = mmdx__synth_range(r, 0, 2 * M_PI);
            double rho = mmdx__synth_range(r, 0.25, 0.6);

            les[k].cx = rho * (head_rx - 15.0) * cos(ang);
            les[k].cy = rho * (head_ry - 15.0) * sin(ang);
            les[k].cz = mmdx__synth_range(r, -0.5, 0.5) * SLICE_MM *
                        (slices - 1);
            les[k].rx = rad * mmdx__synth_range(r, 0.8, 1.25);
            les[k].ry = rad * mmdx__synth_range(r, 0.8, 1.25);
            les[k].rz = rad * rad * rad / (les[k].rx * les[k].ry);
        }
    }
    npx = (size_t)size * (size_t)size;
    px = mmdx__calloc(npx, sizeof(*px));
    if (!px)
        return mmdx__nomem(ctx);
    if (mmdx__mkdir_p(ctx, dir)) {
        mmdx__free(px);
        return mmdx_ctx_last_error(ctx)->status;
    }
#ifdef SYNTH_HAVE_DICOM
    {
        /* One transfer syntax per series: most uncompressed, some RLE,
         * some JPEG-LS lossless. */
        double u = mmdx__synth_uniform(r);
        enum mmdx_dicom_ts ts = u < 0.6 ? MMDX_DICOM_TS_EXPLICIT_LE
                                : u < 0.8 ? MMDX_DICOM_TS_RLE
                                          : MMDX_DICOM_TS_JPEGLS;
        char uid_st[80], uid_se[80];
        uint64_t a = mmdx__synth_rng_u64(r), b = mmdx__synth_rng_u64(r);

        /* UUID-derived UIDs (2.25 root) from our stream, so bytes repeat
         * for a seed. */
        snprintf(uid_st, sizeof(uid_st), "2.25.%llu%llu",
                 (unsigned long long)(a >> 4), (unsigned long long)(b >> 40));
        a = mmdx__synth_rng_u64(r);
        snprintf(uid_se, sizeof(uid_se), "2.25.%llu%llu",
                 (unsigned long long)(a >> 4), (unsigned long long)(b & 0xffffff));
        for (s = 0; !st && s < slices; s++) {
            double z = (s - (slices - 1) / 2.0) * SLICE_MM;
            struct mmdx_dicom_ct w;
            struct mmdx_dicom_attr extra[12];
            char fname[32], uid_sop[96], *path, relf[256];
            char cb[12][128];
            size_t ne = 0;

            render(r, l, les, nles, size, z, head_rx, head_ry, px);
            snprintf(fname, sizeof(fname), "ct%03d.dcm", s + 1);
            snprintf(uid_sop, sizeof(uid_sop), "%s.%d", uid_se, s + 1);
            snprintf(relf, sizeof(relf), "%s/%s", rel, fname);
            if (phi->on) {
                static const struct {
                    uint16_t g, e;
                    const char *kind, *field;
                } tags[] = {
                    { 0x0010, 0x0010, "name", "PatientName (0010,0010)" },
                    { 0x0008, 0x0080, "institution",
                      "InstitutionName (0008,0080)" },
                    { 0x0008, 0x0090, "name",
                      "ReferringPhysicianName (0008,0090)" },
                    { 0x0008, 0x1050, "name",
                      "PerformingPhysicianName (0008,1050)" },
                    { 0x0008, 0x0050, "accession",
                      "AccessionNumber (0008,0050)" },
                    { 0x0010, 0x1000, "otherid",
                      "OtherPatientIDs (0010,1000)" },
                    { 0x0008, 0x0081, "address",
                      "InstitutionAddress (0008,0081)" },
                };
                size_t t;

                for (t = 0; !st && t < MMDX_ARRAY_SIZE(tags); t++) {
                    mmdx__synth_canary(phi, tags[t].kind, "image", relf,
                                       tags[t].field, cb[t], &st);
                    extra[ne].group = tags[t].g;
                    extra[ne].element = tags[t].e;
                    extra[ne].value = cb[t];
                    ne++;
                }
                snprintf(cb[10], sizeof(cb[10]), "%04d%02d%02d",
                         study_year - l->age_y, 1 + (int)((a >> 8) % 12),
                         1 + (int)((a >> 16) % 28));
                extra[ne].group = 0x0010;
                extra[ne].element = 0x0030;
                extra[ne].value = cb[10];
                ne++;
                if (!st)
                    st = mmdx__synth_phi_list(phi, "image", relf,
                                              "PatientBirthDate (0010,0030)",
                                              cb[10]);
                if (st)
                    break;
            }
            memset(&w, 0, sizeof(w));
            w.pixels = px;
            w.rows = w.cols = (unsigned)size;
            w.slope = 1.0;
            w.intercept = -1024.0;
            w.pixel_spacing_mm[0] = w.pixel_spacing_mm[1] = FOV_MM / size;
            w.slice_thickness_mm = SLICE_MM;
            w.position_mm[0] = -FOV_MM / 2.0;
            w.position_mm[1] = -FOV_MM / 2.0;
            w.position_mm[2] = z;
            w.orientation[0] = 1.0;
            w.orientation[4] = 1.0;
            w.instance_number = s + 1;
            w.patient_id = pid;
            w.study_uid = uid_st;
            w.series_uid = uid_se;
            w.sop_uid = uid_sop;
            w.ts = ts;
            w.extra = ne ? extra : NULL;
            w.nextra = ne;
            path = mmdx__path_join(dir, fname);
            if (!path) {
                st = mmdx__nomem(ctx);
                break;
            }
            st = mmdx__dicom_write_ct(ctx, path, &w);
            if (!st && ts == MMDX_DICOM_TS_JPEGLS)
                st = fix_jpegls_pad(ctx, path);
            mmdx__free(path);
        }
    }
#else
    MMDX_UNUSED(pid);
    MMDX_UNUSED(rel);
    MMDX_UNUSED(phi);
    for (s = 0; s < slices; s++)
        render(r, l, les, nles, size, (s - (slices - 1) / 2.0) * SLICE_MM,
               head_rx, head_ry, px);
#endif
    mmdx__free(px);
    return st;
}
