/*
 * dicom.c - the C side of DICOM loading: images, series assembly from a
 * folder (grouping, geometric sort, duplicate and mixed-series checks),
 * the inspect hook, and the signal helpers the waveform reader uses.
 * Decoding itself is in dicom_dcmtk.cc (DCMTK) and dicom_j2k.c (OpenJPEG).
 */
#include "core/common.h"
#include "io/dicom.h"
#include "io/signal.h"

#include <sys/mman.h>


/* ---- images ------------------------------------------------------------------ */

struct mmdx_image *mmdx__image_new(void)
{
    struct mmdx_image *img = mmdx__calloc(1, sizeof(*img));

    if (!img)
        return NULL;
    img->spacing_mm[0] = img->spacing_mm[1] = img->spacing_mm[2] = NAN;
    img->slice_thickness_mm = NAN;
    img->rescale_slope = 1;
    img->nc = 1;
    img->row_cos[0] = 1;
    img->col_cos[1] = 1;
    img->normal[2] = 1;
    return img;
}

enum mmdx_status mmdx__image_alloc(struct mmdx_ctx *ctx,
                                   struct mmdx_image *img, size_t nx,
                                   size_t ny, size_t nz, unsigned nc,
                                   uint64_t max_voxels)
{
    enum mmdx_status st = mmdx__image_alloc_uninit(ctx, img, nx, ny, nz, nc,
                                                   max_voxels);

    if (!st)
        memset(img->vox, 0, img->buf->size);
    return st;
}

bool mmdx__image_size_ok(size_t nx, size_t ny, size_t nz, unsigned nc,
                         uint64_t max_voxels)
{
    size_t n, bytes;

    return nx && ny && nz && nc && mmdx__mul_size(nx, ny, &n) &&
           mmdx__mul_size(n, nz, &n) && mmdx__mul_size(n, nc, &n) &&
           (!max_voxels || n <= max_voxels) &&
           mmdx__mul_size(n, sizeof(float), &bytes);
}

enum mmdx_status mmdx__image_alloc_uninit(struct mmdx_ctx *ctx,
                                          struct mmdx_image *img, size_t nx,
                                          size_t ny, size_t nz, unsigned nc,
                                          uint64_t max_voxels)
{
    size_t bytes;
    enum mmdx_status st;

    if (!mmdx__image_size_ok(nx, ny, nz, nc, max_voxels))
        return mmdx__fail(ctx, MMDX_E_LIMIT, "io.image", NULL, 0, NULL,
                          "image of %zu x %zu x %zu x %u values is empty or "
                          "exceeds the limit of %llu", nx, ny, nz, nc,
                          (unsigned long long)max_voxels);
    bytes = nx * ny * nz * nc * sizeof(float);
    mmdx__buf_unref(&img->buf);
    img->vox = NULL;
    st = mmdx__buf_new(ctx, bytes, &img->buf);
    if (st)
        return st;
    img->vox = img->buf->data;
    img->nx = nx;
    img->ny = ny;
    img->nz = nz;
    img->nc = nc;
    return MMDX_OK;
}

void mmdx__image_free(struct mmdx_image *img)
{
    if (!img)
        return;
    mmdx__buf_unref(&img->buf);
    mmdx__free(img->pos_mm);
    mmdx__free(img);
}

void mmdx__image_free_v(void *img)
{
    mmdx__image_free(img);
}

void mmdx__dicom_ids_free(struct mmdx_dicom_idfield *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (ids[i].value) {
            memset(ids[i].value, 0, strlen(ids[i].value));
            mmdx__free(ids[i].value);
        }
    mmdx__free(ids);
}

void mmdx__dicom_file_free(struct mmdx_dicom_file *f)
{
    if (!f)
        return;
    mmdx__image_free(f->img);
    mmdx__dicom_ids_free(f->ids, f->nids);
    mmdx__free(f);
}

/* ---- waveform helpers (called from the shim) ------------------------------------ */

struct mmdx_signal *mmdx__dicom_sig_new(size_t nch);
float *mmdx__dicom_sig_channel(struct mmdx_signal *s, size_t i,
                               const char *raw_label, double fs_hz,
                               size_t n);

struct mmdx_signal *mmdx__dicom_sig_new(size_t nch)
{
    struct mmdx_signal *s = mmdx__calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->format = MMDX_FMT_DICOM;
    s->ch = mmdx__calloc(nch, sizeof(*s->ch));
    if (!s->ch) {
        mmdx__free(s);
        return NULL;
    }
    s->nch = nch;
    return s;
}

/* Set channel i ("Lead II" is stored raw and normalised to "II") and
 * return its sample buffer of n floats, in mV. */
float *mmdx__dicom_sig_channel(struct mmdx_signal *s, size_t i,
                               const char *raw_label, double fs_hz, size_t n)
{
    struct mmdx_channel *c = &s->ch[i];
    const char *l = raw_label;
    char tmp[64], *paren;

    mmdx__strlcpy(c->raw_label, raw_label, sizeof(c->raw_label));
    if (mmdx__strncasecmp(l, "Lead ", 5) == 0)
        l += 5;
    /* "Lead I (Einthoven)": the qualifier is not part of the name */
    mmdx__strlcpy(tmp, l, sizeof(tmp));
    paren = strstr(tmp, " (");
    if (paren)
        *paren = '\0';
    mmdx__label_normalise(tmp, c->label, sizeof(c->label));
    mmdx__strlcpy(c->unit, "mV", sizeof(c->unit));
    c->fs_hz = fs_hz;
    c->data = mmdx__calloc(n, sizeof(float));
    if (!c->data)
        return NULL;
    c->n = n;
    if (fs_hz > 0 && (double)n / fs_hz > s->duration_s)
        s->duration_s = (double)n / fs_hz;
    return c->data;
}

void mmdx__dicom_waveform_fini(struct mmdx_dicom_waveform *w)
{
    if (!w)
        return;
    mmdx__signal_free(w->sig);
    mmdx__dicom_ids_free(w->ids, w->nids);
    memset(w, 0, sizeof(*w));
}

/* ---- series --------------------------------------------------------------------- */

/* One slice of the series: frame `frame` of file `file`. */
struct slice {
    size_t file, frame;
    double key;          /* position along the normal, mm; or instance */
};

struct loader {
    struct mmdx_ctx *ctx;
    const struct mmdx_dicom_limits *lim;
    mmdx__dicom_id_fn idfn;
    void *user;
    char **seen;         /* idfield names already reported */
    size_t nseen;
    /* A folder: the voxels of each file, once decoded, move here (slices
     * in reading order), so that the series is held once, not once per
     * file and once more assembled; assemble() puts the slices in order
     * in place. */
    struct mmdx_buf *stage;
    size_t per;          /* values per slice */
    size_t staged, cap;  /* slices held, room */
    size_t *base;        /* per file read: its first slice in stage */
    size_t nnames;       /* files in the folder: the first room guess */
};

/* A series block is written once from start to end right after it is
 * allocated: ask for huge pages (where the kernel gives them on request),
 * so that it faults in 2 MiB at a time instead of 4 KiB (a 100-slice CT
 * series is 100 MiB: 25,600 faults). Only a hint; nothing changes if it
 * is refused. */
static void want_huge_pages(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t b = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t e = ((uintptr_t)p + bytes) & ~(huge - 1);

    if (bytes >= 4 * huge && e > b)
        (void)madvise((void *)b, (size_t)(e - b), MADV_HUGEPAGE);
#else
    MMDX_UNUSED(p);
    MMDX_UNUSED(bytes);
#endif
}

/* Room in L->stage for nz more slices of per values (the first time for
 * every file of the folder like this one, within the value limit;
 * doubling after that, for multi-frame files): *need receives the slices
 * held with them. Errors go to ctx (NULL: none reported). */
static enum mmdx_status stage_reserve(struct loader *L, struct mmdx_ctx *ctx,
                                      size_t per, size_t nz, size_t *need)
{
    size_t bytes;
    enum mmdx_status st;

    if (!mmdx__add_size(L->staged, nz, need))
        return mmdx__fail(ctx, MMDX_E_LIMIT, "io.dicom", NULL, 0, NULL,
                          "too many slices");
    if (*need > L->cap) {
        uint64_t maxv = L->lim && L->lim->max_voxels ? L->lim->max_voxels
                                                     : MMDX_DICOM_MAX_VOXELS;
        size_t cap = L->cap ? 2 * L->cap : L->nnames * nz;

        if (!L->cap && per && cap > maxv / per)
            cap = (size_t)(maxv / per);
        if (cap < *need)
            cap = *need;
        if (!mmdx__mul_size(cap, per, &bytes) ||
            !mmdx__mul_size(bytes, sizeof(float), &bytes))
            return mmdx__fail(ctx, MMDX_E_LIMIT, "io.dicom", NULL, 0, NULL,
                              "series too large");
        if (!L->stage) {
            st = mmdx__buf_new(ctx, bytes, &L->stage);
            if (st)
                return st;
            want_huge_pages(L->stage->data, bytes);
            L->per = per;
        } else {
            void *d = mmdx__realloc(L->stage->data, bytes);

            if (!d)
                return mmdx__nomem(ctx);
            L->stage->data = d;
            L->stage->size = bytes;
            want_huge_pages(d, bytes);
        }
        L->cap = cap;
    }
    return MMDX_OK;
}

/* The decoder's destination for a file of the folder (struct
 * mmdx_dicom_dest): its slices' place in L->stage, so that they are
 * decoded there and not copied in afterwards. NULL (the file gets its
 * own block, and stage_file decides) when the slices differ in size from
 * the series', would pass the value limit, or no room could be made. */
static float *stage_slot(void *user, size_t nx, size_t ny, size_t nz,
                         unsigned nc, struct mmdx_buf **buf)
{
    struct loader *L = user;
    uint64_t maxv = L->lim && L->lim->max_voxels ? L->lim->max_voxels
                                                 : MMDX_DICOM_MAX_VOXELS;
    size_t per, need, all;

    /* the decoder checked nx * ny * nz * nc against the limit */
    per = nx * ny * nc;
    if ((L->stage && per != L->per) ||
        stage_reserve(L, NULL, per, nz, &need) ||
        !mmdx__mul_size(need, per, &all) || all > maxv)
        return NULL;
    *buf = mmdx__buf_ref(L->stage);
    return (float *)L->stage->data + L->staged * per;
}

/* Move the voxels of decoded file number i into L->stage (nothing to
 * move when they were decoded there). A file whose slices differ in size
 * stays as it is (assemble() rejects the series). */
static enum mmdx_status stage_file(struct loader *L, size_t i,
                                   struct mmdx_dicom_file *f)
{
    struct mmdx_image *m = f->img;
    size_t per = m->nx * m->ny * m->nc, need;
    enum mmdx_status st;

    if (L->stage && per != L->per)
        return MMDX_OK;
    if (!(L->stage && m->buf == L->stage &&
          m->vox == (float *)L->stage->data + L->staged * per)) {
        st = stage_reserve(L, L->ctx, per, m->nz, &need);
        if (st)
            return st;
        memcpy((float *)L->stage->data + L->staged * per, m->vox,
               m->nz * per * sizeof(float));
    } else {
        need = L->staged + m->nz;
    }
    L->base[i] = L->staged;
    L->staged = need;
    mmdx__buf_unref(&m->buf);
    m->vox = NULL;
    return MMDX_OK;
}

/* Reorder the ns slices of per values in v so that slice k becomes the
 * one at src[k] (a permutation): each cycle with one slice of room. */
static enum mmdx_status permute_slices(struct mmdx_ctx *ctx, float *v,
                                       size_t per, const size_t *src,
                                       size_t ns)
{
    uint8_t *done;
    float *tmp = NULL;
    size_t k, j, bytes = per * sizeof(float);

    for (k = 0; k < ns && src[k] == k; k++)
        ;
    if (k == ns)
        return MMDX_OK;
    done = mmdx__calloc(ns, 1);
    tmp = mmdx__malloc(bytes);
    if (!done || !tmp) {
        mmdx__free(done);
        mmdx__free(tmp);
        return mmdx__nomem(ctx);
    }
    for (k = 0; k < ns; k++) {
        if (done[k] || src[k] == k)
            continue;
        memcpy(tmp, v + k * per, bytes);
        for (j = k;; j = src[j]) {
            done[j] = 1;
            if (src[j] == k) {
                memcpy(v + j * per, tmp, bytes);
                break;
            }
            memcpy(v + j * per, v + src[j] * per, bytes);
        }
    }
    mmdx__free(done);
    mmdx__free(tmp);
    return MMDX_OK;
}

static enum mmdx_status report_ids(struct loader *L, const char *file,
                                   const struct mmdx_dicom_file *f)
{
    size_t i, k;

    if (!L->idfn)
        return MMDX_OK;
    for (i = 0; i < f->nids; i++) {
        bool dup = false;
        char **ns;
        enum mmdx_status st;

        for (k = 0; k < L->nseen && !dup; k++)
            dup = strcmp(L->seen[k], f->ids[i].field) == 0;
        if (dup)
            continue;
        ns = mmdx__realloc(L->seen, (L->nseen + 1) * sizeof(*ns));
        if (!ns)
            return mmdx__nomem(L->ctx);
        L->seen = ns;
        ns[L->nseen] = mmdx__strdup(f->ids[i].field);
        if (!ns[L->nseen])
            return mmdx__nomem(L->ctx);
        L->nseen++;
        st = L->idfn(L->user, file, f->ids[i].field, f->ids[i].kind,
                     f->ids[i].value);
        if (st)
            return st == MMDX_E_NOMEM ? mmdx__nomem(L->ctx) : st;
    }
    return MMDX_OK;
}

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static int cmp_slice(const void *a, const void *b)
{
    const struct slice *x = a, *y = b;

    if (x->key < y->key)
        return -1;
    if (x->key > y->key)
        return 1;
    return x->file < y->file ? -1 : x->file > y->file;
}

/* Median spacing of sorted keys; NaN for fewer than two. */
static double median_step(const struct slice *s, size_t n)
{
    double *d, m;
    size_t i;

    if (n < 2)
        return NAN;
    d = mmdx__malloc((n - 1) * sizeof(*d));
    if (!d)
        return NAN;
    for (i = 0; i + 1 < n; i++)
        d[i] = s[i + 1].key - s[i].key;
    for (i = 1; i < n - 1; i++) { /* insertion sort: n is a slice count */
        double v = d[i];
        size_t j = i;

        while (j > 0 && d[j - 1] > v) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = v;
    }
    m = d[(n - 1) / 2];
    mmdx__free(d);
    return m;
}

/*
 * Assemble files (all decoded, same grid) into one volume. names are for
 * messages only. Takes nothing over; *out is a new image.
 */
static enum mmdx_status assemble(struct loader *L, const char *dir,
                                 struct mmdx_dicom_file **files, char **names,
                                 size_t nf, struct mmdx_image **out)
{
    struct mmdx_ctx *ctx = L->ctx;
    const struct mmdx_image *f0 = files[0]->img;
    struct slice *sl = NULL;
    struct mmdx_image *img = NULL;
    size_t i, k, ns = 0, per;
    bool by_pos = f0->has_orientation, by_inst = true;
    enum mmdx_status st = MMDX_OK;

    for (i = 0; i < nf; i++) {
        const struct mmdx_image *m = files[i]->img;

        if (files[i]->series_uid[0] && files[0]->series_uid[0] &&
            strcmp(files[i]->series_uid, files[0]->series_uid) != 0)
            return mmdx__fail(ctx, MMDX_E_MISMATCH, "io.dicom", dir, 0,
                              "SeriesInstanceUID (0020,000E)",
                              "mixed series: %s and %s belong to different "
                              "series; give one series per folder",
                              names[0], names[i]);
        if (m->nx != f0->nx || m->ny != f0->ny || m->nc != f0->nc)
            return mmdx__fail(ctx, MMDX_E_MISMATCH, "io.dicom", dir, 0,
                              "Rows (0028,0010)",
                              "slices differ in size: %s is %zux%zux%u, %s "
                              "is %zux%zux%u", names[0], f0->nx, f0->ny,
                              f0->nc, names[i], m->nx, m->ny, m->nc);
        if (!m->pos_mm || !m->has_orientation ||
            fabs(dot3(m->normal, f0->normal) - 1) > 1e-3)
            by_pos = false;
        if (files[i]->instance_number == LONG_MIN)
            by_inst = false;
        if (!mmdx__add_size(ns, m->nz, &ns))
            return mmdx__fail(ctx, MMDX_E_LIMIT, "io.dicom", dir, 0, NULL,
                              "too many slices");
    }
    sl = mmdx__calloc(ns, sizeof(*sl));
    if (!sl)
        return mmdx__nomem(ctx);
    for (i = 0, k = 0; i < nf; i++) {
        size_t fr;

        for (fr = 0; fr < files[i]->img->nz; fr++, k++) {
            sl[k].file = i;
            sl[k].frame = fr;
            if (by_pos)
                sl[k].key = dot3(files[i]->img->pos_mm + 3 * fr, f0->normal);
            else if (by_inst)
                sl[k].key = (double)files[i]->instance_number +
                            (double)fr / ((double)files[i]->img->nz + 1);
            else
                sl[k].key = (double)k;
        }
    }
    /* A single multi-frame file keeps its frame order when its positions
     * run monotonically (either way along the normal). */
    if (nf == 1 && by_pos && ns > 1 && sl[1].key < sl[0].key) {
        bool mono = true;

        for (k = 0; k + 1 < ns; k++)
            mono = mono && sl[k + 1].key < sl[k].key;
        if (mono)
            for (k = 0; k < ns; k++)
                sl[k].key = -sl[k].key;
    }
    qsort(sl, ns, sizeof(*sl), cmp_slice);
    for (i = 0; i + 1 < ns; i++) {
        double gap = sl[i + 1].key - sl[i].key;

        if ((by_pos && gap < 1e-3) || (!by_pos && by_inst && gap == 0)) {
            if (nf == 1) { /* multi-frame without distinct positions */
                for (k = 0; k < ns; k++)
                    sl[k].key = (double)sl[k].frame;
                qsort(sl, ns, sizeof(*sl), cmp_slice);
                by_pos = false;
                break;
            }
            st = mmdx__fail(ctx, MMDX_E_FORMAT, "io.dicom", dir, 0,
                            by_pos ? "ImagePositionPatient (0020,0032)"
                                   : "InstanceNumber (0020,0013)",
                            "duplicate slice %s in %s and %s",
                            by_pos ? "position" : "number",
                            names[sl[i].file], names[sl[i + 1].file]);
            goto out;
        }
    }
    if (nf > 1 && !by_pos && !by_inst)
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "%s: slices have neither positions nor instance numbers; "
                 "kept in file-name order", dir);
    for (k = 0; k < ns && sl[k].file == 0 && sl[k].frame == k; k++)
        ;
    if (L->stage && L->staged == ns) {
        /* the voxels are in the stage already, in reading order */
        size_t *src = mmdx__malloc(ns * sizeof(*src));
        void *d;

        if (!src) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        for (k = 0; k < ns; k++)
            src[k] = L->base[sl[k].file] + sl[k].frame;
        st = permute_slices(ctx, L->stage->data, L->per, src, ns);
        mmdx__free(src);
        if (st)
            goto out;
        /* give back the unused room (a shrink: cannot fail in practice,
         * and keeping the larger block is fine if it does) */
        d = mmdx__realloc(L->stage->data, ns * L->per * sizeof(float));
        if (d) {
            L->stage->data = d;
            L->stage->size = ns * L->per * sizeof(float);
        }
    }
    if (nf == 1 && k == ns && !L->stage) {
        /* one file already in order: hand its image over, no copy */
        img = files[0]->img;
        files[0]->img = NULL;
        goto geometry;
    }
    img = mmdx__image_new();
    if (!img) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    {
        /* copy the metadata of the first file, not its buffers */
        struct mmdx_image tmp = *f0;

        tmp.buf = NULL;
        tmp.vox = NULL;
        tmp.pos_mm = NULL;
        *img = tmp;
    }
    per = f0->nx * f0->ny * f0->nc;
    if (L->stage && L->staged == ns) {
        img->buf = L->stage;
        L->stage = NULL;
        img->vox = img->buf->data;
        img->nx = f0->nx;
        img->ny = f0->ny;
        img->nz = ns;
        img->nc = f0->nc;
    } else {
        st = mmdx__image_alloc(ctx, img, f0->nx, f0->ny, ns, f0->nc,
                               L->lim && L->lim->max_voxels
                                   ? L->lim->max_voxels
                                   : MMDX_DICOM_MAX_VOXELS);
        if (st)
            goto out;
    }
    if (by_pos) {
        img->pos_mm = mmdx__calloc(3 * ns, sizeof(double));
        if (!img->pos_mm) {
            st = mmdx__nomem(ctx);
            goto out;
        }
    }
    for (k = 0; k < ns; k++) {
        const struct mmdx_image *m = files[sl[k].file]->img;

        if (m->vox)
            memcpy(img->vox + k * per, m->vox + sl[k].frame * per,
                   per * sizeof(float));
        if (img->pos_mm)
            memcpy(img->pos_mm + 3 * k, m->pos_mm + 3 * sl[k].frame,
                   3 * sizeof(double));
    }
geometry:
    if (by_pos && ns > 1) {
        img->spacing_mm[2] = median_step(sl, ns);
        for (i = 0; i + 1 < ns; i++) {
            double gap = sl[i + 1].key - sl[i].key;

            if (fabs(gap - img->spacing_mm[2]) > 0.1 * img->spacing_mm[2]) {
                mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                         "%s: uneven slice spacing (%.3f mm against the "
                         "median %.3f mm)", dir, gap, img->spacing_mm[2]);
                break;
            }
        }
    } else if (isnan(img->spacing_mm[2]) && ns > 1) {
        img->spacing_mm[2] = img->slice_thickness_mm;
    } else if (ns == 1 && isnan(img->spacing_mm[2])) {
        img->spacing_mm[2] = img->slice_thickness_mm;
    }
    img->nfiles = (unsigned)nf;
    *out = img;
    img = NULL;
out:
    mmdx__image_free(img);
    mmdx__free(sl);
    return st;
}

/* DICOM by content: DICM at 128, or a preamble-less group-8 dataset. */
static bool looks_dicom(const char *path)
{
    enum mmdx_format f = MMDX_FMT_UNKNOWN;
    struct mmdx_ctx *tmp = NULL;
    bool yes;

    /* mmdx_detect records an error only for unreadable files; a private
     * context keeps that from the caller's. */
    if (mmdx_ctx_new(&tmp))
        return false;
    yes = mmdx_detect(tmp, path, &f) == MMDX_OK && f == MMDX_FMT_DICOM;
    mmdx_ctx_free(tmp);
    return yes;
}

enum mmdx_status mmdx__dicom_load(struct mmdx_ctx *ctx, const char *path,
                                  const struct mmdx_dicom_limits *limits,
                                  mmdx__dicom_id_fn idfn, void *user,
                                  struct mmdx_image **out)
{
    return mmdx__dicom_load_ex(ctx, path, limits, 0, idfn, user, out);
}

enum mmdx_status mmdx__dicom_load_ex(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_dicom_limits *limits,
                                     unsigned flags, mmdx__dicom_id_fn idfn,
                                     void *user, struct mmdx_image **out)
{
    struct loader L = { ctx, limits, idfn, user, NULL, 0, NULL, 0, 0, 0,
                        NULL, 0 };
    struct mmdx_dicom_file **files = NULL, *one = NULL;
    char **names = NULL, **used = NULL;
    size_t nnames = 0, nf = 0, i;
    size_t total = 0;
    uint64_t maxv = limits && limits->max_voxels
                                   ? limits->max_voxels
                                   : MMDX_DICOM_MAX_VOXELS;
    const struct mmdx_dicom_dest dest = { stage_slot, &L };
    enum mmdx_status st;

    *out = NULL;
    flags &= MMDX_DICOM_STORED_VALUES;
    if (!mmdx__is_dir(path)) {
        st = mmdx__dicom_read_file(ctx, path, limits, flags, &one);
        if (!st)
            st = report_ids(&L, path, one);
        if (!st) {
            st = assemble(&L, path, &one, (char **)&path, 1, out);
        }
        mmdx__dicom_file_free(one);
        goto done;
    }
    st = mmdx__dir_list(ctx, "io.dicom", path,
                       MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS,
                       MMDX_DICOM_MAX_FILES, &names, &nnames);
    if (st)
        goto done;
    files = mmdx__calloc(nnames ? nnames : 1, sizeof(*files));
    used = mmdx__calloc(nnames ? nnames : 1, sizeof(*used));
    L.base = mmdx__calloc(nnames ? nnames : 1, sizeof(*L.base));
    L.nnames = nnames;
    if (!files || !used || !L.base) {
        st = mmdx__nomem(ctx);
        goto done;
    }
    for (i = 0; i < nnames; i++) {
        struct mmdx_dicom_file *f = NULL;

        if (!looks_dicom(names[i]))
            continue;
        st = mmdx__dicom_read_file_to(ctx, names[i], limits,
                                      flags | MMDX_DICOM_SKIP_MASKS, &dest,
                                      &f);
        if (!st && f->kind != MMDX_DICOM_KIND_OTHER) {
            /* a SEG or RTSTRUCT beside the series is its mask, not a
             * slice (the manifest scan puts it in the mask column) */
            mmdx__dicom_file_free(f);
            continue;
        }
        if (st == MMDX_E_UNSUPPORTED && !f) {
            /* a non-image object (report, DICOMDIR) beside the series */
            const struct mmdx_error *e = mmdx_ctx_last_error(ctx);

            if (strstr(e->message, "no pixel data")) {
                mmdx_ctx_clear_error(ctx);
                continue;
            }
        }
        if (st)
            goto done;
        st = report_ids(&L, names[i], f);
        if (!st && !mmdx__add_size(total,
                                   f->img->nx * f->img->ny * f->img->nz *
                                       f->img->nc, &total))
            st = MMDX_E_LIMIT;
        if (!st && total > maxv)
            st = mmdx__fail(ctx, MMDX_E_LIMIT, "io.dicom", path, 0, NULL,
                            "series exceeds the limit of %llu values",
                            (unsigned long long)maxv);
        if (!st)
            st = stage_file(&L, nf, f);
        if (st) {
            mmdx__dicom_file_free(f);
            goto done;
        }
        files[nf] = f;
        used[nf] = names[i];
        nf++;
    }
    if (!nf) {
        st = mmdx__fail(ctx, MMDX_E_NOTFOUND, "io.dicom", path, 0, NULL,
                        "no DICOM image in the folder");
        goto done;
    }
    st = assemble(&L, path, files, used, nf, out);
done:
    if (files)
        for (i = 0; i < nf; i++)
            mmdx__dicom_file_free(files[i]);
    mmdx__free(files);
    mmdx__free(used);
    mmdx__free(L.base);
    mmdx__buf_unref(&L.stage);
    for (i = 0; i < nnames; i++)
        mmdx__free(names[i]);
    mmdx__free(names);
    for (i = 0; i < L.nseen; i++)
        mmdx__free(L.seen[i]);
    mmdx__free(L.seen);
    return st;
}

/* ---- inspect -------------------------------------------------------------------- */

static void kv_num(mmdx_kv_fn fn, void *user, const char *key, double v)
{
    char buf[32];

    fn(user, key, mmdx__fmt_double(v, buf));
}

static void inspect_facts(const struct mmdx_dicom_file *f, mmdx_kv_fn fn,
                          void *user)
{
    const struct mmdx_image *m = f->img;
    char buf[96];

    fn(user, "transfer_syntax_uid", m->transfer_syntax);
    fn(user, "transfer_syntax", m->transfer_syntax_name);
    fn(user, "sop_class_uid", m->sop_class[0] ? m->sop_class : "-");
    fn(user, "dicom_modality", m->modality[0] ? m->modality : "-");
    if (!f->has_pixels) {
        fn(user, "pixel_data", "none");
        return;
    }
    kv_num(fn, user, "rows", m->rows);
    kv_num(fn, user, "cols", m->cols);
    kv_num(fn, user, "frames", f->frames);
    kv_num(fn, user, "samples_per_pixel", f->samples_per_pixel);
    fn(user, "photometric", m->photometric);
    kv_num(fn, user, "bits_allocated", m->bits_allocated);
    kv_num(fn, user, "bits_stored", m->bits_stored);
    fn(user, "pixel_signed", m->pixel_signed ? "yes" : "no");
    fn(user, "lossy", m->lossy ? "yes" : "no");
    snprintf(buf, sizeof(buf), "%.9g\\%.9g", m->spacing_mm[1],
             m->spacing_mm[0]);
    fn(user, "pixel_spacing_mm", isnan(m->spacing_mm[0]) ? "NA" : buf);
    kv_num(fn, user, "slice_thickness_mm", m->slice_thickness_mm);
    kv_num(fn, user, "rescale_slope", m->rescale_slope);
    kv_num(fn, user, "rescale_intercept", m->rescale_intercept);
}

enum mmdx_status mmdx__dicom_inspect(struct mmdx_ctx *ctx, const char *path,
                                     enum mmdx_format fmt, mmdx_kv_fn fn,
                                     void *user)
{
    struct mmdx_dicom_file *f = NULL;
    char **names = NULL;
    size_t n = 0, i, ndicom = 0;
    enum mmdx_status st = MMDX_OK;

    if (fmt != MMDX_FMT_DICOM_DIR) {
        st = mmdx__dicom_read_file(ctx, path, NULL, MMDX_DICOM_HEADER_ONLY,
                                   &f);
        if (st)
            return st;
        inspect_facts(f, fn, user);
        kv_num(fn, user, "identifying_attributes", (double)f->nids);
        if (f->img->is_segmentation || !strcmp(f->img->modality, "SEG"))
            st = mmdx__seg_inspect(ctx, path, fn, user);
        mmdx__dicom_file_free(f);
        return st;
    }
    st = mmdx__dir_list(ctx, "io.dicom", path,
                       MMDX_DIR_FILES_ONLY | MMDX_DIR_FULL_PATHS,
                       MMDX_DICOM_MAX_FILES, &names, &n);
    if (st)
        return st;
    for (i = 0; i < n && !st; i++) {
        if (!looks_dicom(names[i]))
            continue;
        if (!ndicom++) {
            st = mmdx__dicom_read_file(ctx, names[i], NULL,
                                       MMDX_DICOM_HEADER_ONLY, &f);
            if (!st)
                inspect_facts(f, fn, user);
            mmdx__dicom_file_free(f);
        }
    }
    if (!st)
        kv_num(fn, user, "dicom_files", (double)ndicom);
    for (i = 0; i < n; i++)
        mmdx__free(names[i]);
    mmdx__free(names);
    return st;
}
