/*
 * cohort.c - the cohort manifest: reading with line/column errors, and
 * writing one by scanning a folder of patient folders.
 */
#include "core/common.h"
#include "io/dicom.h"
#include "pipeline/cohort_int.h"

#include <limits.h>
#include <sys/stat.h>

#define MANIFEST_MAGIC_COLS "patient_id"

static const char *const path_cols[MMDX_NPATHCOLS] = {
    "image", "ecg", "eeg", "record", "mask"
};

bool mmdx__patient_id_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (i = 0; i < n; i++)
        if (!isalnum_ascii((unsigned char)s[i]) && s[i] != '.' &&
            s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

bool mmdx__date_valid(const char *s)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };
    size_t n = strlen(s), i;
    int y, m, d;

    if (n != 4 && n != 7 && n != 10)
        return false;
    for (i = 0; i < n; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return false;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
        (s[3] - '0');
    if (y < 1800 || y > 2200)
        return false;
    if (n == 4)
        return true;
    m = (s[5] - '0') * 10 + (s[6] - '0');
    if (m < 1 || m > 12)
        return false;
    if (n == 7)
        return true;
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

static void row_fini(struct mmdx_manifest_row *r)
{
    int i;

    mmdx__free(r->id);
    for (i = 0; i < MMDX_NPATHCOLS; i++) {
        mmdx__free(r->path[i]);
        mmdx__free(r->cell[i]);
    }
    mmdx__free(r->split);
    mmdx__free(r->study_date);
    mmdx__free(r->mask_label);
}

void mmdx_manifest_free(struct mmdx_manifest *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->nrows; i++)
        row_fini(&m->rows[i]);
    mmdx__free(m->rows);
    mmdx__free(m->path);
    mmdx__free(m->dir);
    mmdx__free(m);
}

size_t mmdx_manifest_count(const struct mmdx_manifest *m)
{
    return m->nrows;
}

const char *mmdx_manifest_id(const struct mmdx_manifest *m, size_t i)
{
    return i < m->nrows ? m->rows[i].id : NULL;
}

int mmdx_manifest_label(const struct mmdx_manifest *m, size_t i)
{
    return i < m->nrows ? m->rows[i].label : -1;
}

const char *mmdx_manifest_split(const struct mmdx_manifest *m, size_t i)
{
    return i < m->nrows ? m->rows[i].split : NULL;
}

const char *mmdx_manifest_path(const struct mmdx_manifest *m, size_t i,
                               const char *column)
{
    int c;

    if (i >= m->nrows)
        return NULL;
    for (c = 0; c < MMDX_NPATHCOLS; c++)
        if (strcmp(column, path_cols[c]) == 0)
            return m->rows[i].path[c];
    return NULL;
}

/* Split line in place at tabs; returns the field count or -1 if more than
 * max. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *s = line;

    for (;;) {
        char *tab = strchr(s, '\t');

        if (n == max)
            return -1;
        fields[n++] = s;
        if (!tab)
            break;
        *tab = '\0';
        s = tab + 1;
    }
    return n;
}

/* A cell path must be relative, without "..", and (when it exists) must
 * resolve inside the cohort folder even through symbolic links. */
static enum mmdx_status check_path(struct mmdx_ctx *ctx,
                                   const struct mmdx_manifest *m, long line,
                                   const char *col, const char *cell,
                                   bool check_files, char **resolved)
{
    const char *s;
    char *full, *real = NULL, *realdir = NULL;
    enum mmdx_status st = MMDX_OK;

    *resolved = NULL;
    if (cell[0] == '/')
        return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path, line, col,
                          "path must be relative to the manifest's folder");
    for (s = cell; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);

        if (len == 2 && s[0] == '.' && s[1] == '.')
            return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path, line,
                              col, "path escapes the cohort folder (\"..\")");
        s += len;
        while (*s == '/')
            s++;
    }
    full = mmdx__path_join(m->dir, cell);
    if (!full)
        return mmdx__nomem(ctx);
    if (!check_files) {
        *resolved = full;
        return MMDX_OK;
    }
    if (!mmdx__is_file(full) && !mmdx__is_dir(full)) {
        /* a WFDB record may be named without its .hea */
        size_t n = strlen(full);
        char *hea = mmdx__malloc(n + 5);

        if (!hea) {
            mmdx__free(full);
            return mmdx__nomem(ctx);
        }
        memcpy(hea, full, n);
        memcpy(hea + n, ".hea", 5);
        if (mmdx__is_file(hea)) {
            mmdx__free(full);
            full = hea;
        } else {
            mmdx__free(hea);
            st = mmdx__fail(ctx, MMDX_E_NOTFOUND, "manifest", m->path, line,
                            col, "file not found: %s", cell);
            mmdx__free(full);
            return st;
        }
    }
    real = realpath(full, NULL); /* checksrc: allow (libc allocation) */
    realdir = realpath(m->dir, NULL);
    if (!real || !realdir) {
        st = mmdx__fail(ctx, MMDX_E_IO, "manifest", m->path, line, col,
                        "cannot resolve path: %s", strerror(errno));
    } else {
        size_t dl = strlen(realdir);

        if (strncmp(real, realdir, dl) != 0 ||
            (real[dl] != '/' && real[dl] != '\0' && strcmp(realdir, "/")))
            st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path, line,
                            col, "path escapes the cohort folder "
                                 "(through a link)");
    }
    free(real);    /* checksrc: allow */
    free(realdir); /* checksrc: allow */
    if (st) {
        mmdx__free(full);
        return st;
    }
    *resolved = full;
    return MMDX_OK;
}

static enum mmdx_status parse_row(struct mmdx_ctx *ctx,
                                  struct mmdx_manifest *m, long line,
                                  char **f, int nf, const int *colmap,
                                  int ncols, bool check_files)
{
    struct mmdx_manifest_row *r;
    int c;
    size_t i;
    enum mmdx_status st = MMDX_OK;

    if (nf != ncols)
        return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path, line,
                          NULL, "expected %d tab-separated columns, got %d",
                          ncols, nf);
    if (m->nrows == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct mmdx_manifest_row *nr;

        if (ncap > MMDX_MANIFEST_MAX_ROWS)
            ncap = MMDX_MANIFEST_MAX_ROWS;
        if (m->nrows >= ncap)
            return mmdx__fail(ctx, MMDX_E_LIMIT, "manifest", m->path, line,
                              NULL, "more than %d patients",
                              MMDX_MANIFEST_MAX_ROWS);
        nr = mmdx__realloc(m->rows, ncap * sizeof(*nr));
        if (!nr)
            return mmdx__nomem(ctx);
        m->rows = nr;
        m->cap = ncap;
    }
    r = &m->rows[m->nrows];
    memset(r, 0, sizeof(*r));
    r->label = -1;
    r->line = line;
    m->nrows++;
    for (c = 0; c < ncols && !st; c++) {
        const char *v = f[c];
        int role = colmap[c];

        if (role == -2) { /* patient_id */
            if (!mmdx__patient_id_valid(v))
                return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                                  line, "patient_id",
                                  "patient_id must be 1-64 characters of "
                                  "A-Z a-z 0-9 . _ - (got %zu characters)",
                                  strlen(v));
            r->id = mmdx__strdup(v);
            if (!r->id)
                return mmdx__nomem(ctx);
        } else if (role >= 0 && role < MMDX_NPATHCOLS) {
            if (!v[0])
                continue;
            r->cell[role] = mmdx__strdup(v);
            if (!r->cell[role])
                return mmdx__nomem(ctx);
            st = check_path(ctx, m, line, path_cols[role], v, check_files,
                            &r->path[role]);
        } else if (role == -3) { /* label */
            if (!v[0] || !strcmp(v, "NA"))
                r->label = -1;
            else if (!strcmp(v, "0"))
                r->label = 0;
            else if (!strcmp(v, "1"))
                r->label = 1;
            else
                return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                                  line, "label",
                                  "label must be 0, 1 or empty, got \"%.16s\"",
                                  v);
        } else if (role == -4) { /* split */
            if (!v[0])
                continue;
            if (strcmp(v, "train") && strcmp(v, "valid") && strcmp(v, "test"))
                return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                                  line, "split",
                                  "split must be train, valid, test or "
                                  "empty, got \"%.16s\"",
                                  v);
            r->split = mmdx__strdup(v);
            if (!r->split)
                return mmdx__nomem(ctx);
        } else if (role == -5) { /* study_date */
            if (!v[0])
                continue;
            if (!mmdx__date_valid(v))
                return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                                  line, "study_date",
                                  "study_date must be YYYY, YYYY-MM or "
                                  "YYYY-MM-DD");
            r->study_date = mmdx__strdup(v);
            if (!r->study_date)
                return mmdx__nomem(ctx);
        } else if (role == -6) { /* mask_label */
            size_t k, n = strlen(v);

            if (!n)
                continue;
            for (k = 0; k < n && (unsigned char)v[k] >= 0x20 &&
                        v[k] != 0x7f; k++)
                ;
            if (n > 64 || k < n)
                return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                                  line, "mask_label",
                                  "mask_label must be a label number or a "
                                  "segment label of 1-64 printable "
                                  "characters");
            r->mask_label = mmdx__strdup(v);
            if (!r->mask_label)
                return mmdx__nomem(ctx);
        }
    }
    if (st)
        return st;
    if (r->mask_label && !r->cell[MMDX_COL_MASK])
        return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path, line,
                          "mask_label", "mask_label given without a mask");
    /* duplicate ids: a linear scan would be quadratic on big cohorts, so the
     * caller checks duplicates once at the end with a sort. */
    MMDX_UNUSED(i);
    return MMDX_OK;
}

static int cmp_row_id(const void *a, const void *b)
{
    const struct mmdx_manifest_row *const *x = a, *const *y = b;
    int c = strcmp((*x)->id, (*y)->id);

    if (c)
        return c;
    return (*x)->line < (*y)->line ? -1 : (*x)->line > (*y)->line;
}

static enum mmdx_status check_duplicates(struct mmdx_ctx *ctx,
                                         struct mmdx_manifest *m)
{
    struct mmdx_manifest_row **v;
    size_t i;
    enum mmdx_status st = MMDX_OK;

    if (m->nrows < 2)
        return MMDX_OK;
    v = mmdx__malloc(m->nrows * sizeof(*v));
    if (!v)
        return mmdx__nomem(ctx);
    for (i = 0; i < m->nrows; i++)
        v[i] = &m->rows[i];
    qsort(v, m->nrows, sizeof(*v), cmp_row_id);
    for (i = 1; i < m->nrows; i++) {
        if (strcmp(v[i]->id, v[i - 1]->id) == 0) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                            v[i]->line, "patient_id",
                            "duplicate patient_id (first on line %ld)",
                            v[i - 1]->line);
            break;
        }
    }
    mmdx__free(v);
    return st;
}

enum mmdx_status mmdx_manifest_read(struct mmdx_ctx *ctx, const char *path,
                                    bool check_files,
                                    struct mmdx_manifest **out)
{
    struct mmdx_manifest *m;
    FILE *fp = NULL;
    char *line = NULL, *fields[MMDX_MANIFEST_MAX_COLUMNS];
    int colmap[MMDX_MANIFEST_MAX_COLUMNS];
    int ncols = 0, nf, c, have_mod = 0, have_id = 0;
    long lineno = 0;
    enum mmdx_status st = MMDX_OK;
    struct mmdx_sha256 *h = NULL;

    *out = NULL;
    m = mmdx__calloc(1, sizeof(*m));
    if (!m)
        return mmdx__nomem(ctx);
    m->path = mmdx__strdup(path);
    m->dir = mmdx__path_dirname(path);
    line = mmdx__malloc(MMDX_MANIFEST_MAX_LINE + 2);
    if (!m->path || !m->dir || !line) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__sha256_new(ctx, &h);
    if (st)
        goto out;
    fp = fopen(path, "rbe");
    if (!fp) {
        st = mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                        "manifest", path, 0, NULL, "cannot open: %s",
                        strerror(errno));
        goto out;
    }
    while (fgets(line, MMDX_MANIFEST_MAX_LINE + 2, fp)) {
        size_t len = strlen(line);
        char *s = line;

        lineno++;
        mmdx__sha256_update(h, line, len);
        if (len == MMDX_MANIFEST_MAX_LINE + 1 && line[len - 1] != '\n') {
            st = mmdx__fail(ctx, MMDX_E_LIMIT, "manifest", path, lineno, NULL,
                            "line longer than %d bytes",
                            MMDX_MANIFEST_MAX_LINE);
            goto out;
        }
        if (memchr(line, '\0', len) != NULL && strlen(line) != len) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", path, lineno,
                            NULL, "NUL byte in line");
            goto out;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (lineno == 1 && (unsigned char)s[0] == 0xEF &&
            (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
            s += 3;
        if (!s[0] || s[0] == '#')
            continue;
        nf = split_tabs(s, fields, MMDX_MANIFEST_MAX_COLUMNS);
        if (nf < 0) {
            st = mmdx__fail(ctx, MMDX_E_LIMIT, "manifest", path, lineno, NULL,
                            "more than %d columns", MMDX_MANIFEST_MAX_COLUMNS);
            goto out;
        }
        if (!ncols) { /* the header */
            for (c = 0; c < nf; c++) {
                int k, role = -1;

                for (k = 0; k < c; k++)
                    if (strcmp(fields[k], fields[c]) == 0) {
                        st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", path,
                                        lineno, fields[c],
                                        "column %d repeats column %d", c + 1,
                                        k + 1);
                        goto out;
                    }
                if (!strcmp(fields[c], "patient_id")) {
                    role = -2;
                    have_id = 1;
                } else if (!strcmp(fields[c], "label")) {
                    role = -3;
                } else if (!strcmp(fields[c], "split")) {
                    role = -4;
                } else if (!strcmp(fields[c], "study_date")) {
                    role = -5;
                } else if (!strcmp(fields[c], "mask_label")) {
                    role = -6;
                } else {
                    for (k = 0; k < MMDX_NPATHCOLS; k++)
                        if (!strcmp(fields[c], path_cols[k])) {
                            role = k;
                            if (k < MMDX_MOD_COUNT)
                                have_mod = 1;
                        }
                }
                colmap[c] = role;
            }
            if (!have_id || !have_mod) {
                st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", path, lineno,
                                have_id ? "header" : "patient_id",
                                "header must name patient_id and at least "
                                "one of image, ecg, eeg, record");
                goto out;
            }
            ncols = nf;
            continue;
        }
        st = parse_row(ctx, m, lineno, fields, nf, colmap, ncols,
                       check_files);
        if (st)
            goto out;
    }
    if (ferror(fp)) {
        st = mmdx__fail(ctx, MMDX_E_IO, "manifest", path, lineno, NULL,
                        "read error");
        goto out;
    }
    if (!ncols) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", path, 1, "header",
                        "empty manifest: a header line is required");
        goto out;
    }
    st = check_duplicates(ctx, m);
out:
    if (fp)
        fclose(fp);
    mmdx__free(line);
    if (h) {
        mmdx__sha256_final(h, m->sha256);
        h = NULL;
    }
    if (st) {
        mmdx_manifest_free(m);
        return st;
    }
    *out = m;
    return MMDX_OK;
}

/* ---- scanning ----------------------------------------------------------- */

/* A mask by content: a NIfTI-1 file, a DICOM SEG or RTSTRUCT. */
static bool is_mask_file(const char *path, enum mmdx_format fmt,
                         const char *mod)
{
    if (fmt == MMDX_FMT_NIFTI)
        return true;
    return fmt == MMDX_FMT_DICOM && mod && !strcmp(mod, "image") &&
           mmdx__dicom_kind(path) != MMDX_DICOM_KIND_OTHER;
}

/* What the scan found in one patient folder. */
struct scan_pat {
    char *cell[MMDX_MOD_COUNT];
    char *mask;          /* the first mask candidate ("P1/seg.dcm") */
    size_t nmask;        /* mask candidates */
    size_t ndicom;       /* DICOM images directly in the folder */
    bool conflict;
};

/* Mask candidates in the series folder rel (= dir/rel, the patient's
 * image): the series loader skips them, so they are the mask. */
static enum mmdx_status scan_series_masks(struct mmdx_ctx *ctx,
                                          const char *dir, const char *rel,
                                          struct scan_pat *sp)
{
    char *sdir = mmdx__path_join(dir, rel);
    char **files = NULL;
    size_t n = 0, j;
    enum mmdx_status st;

    if (!sdir)
        return mmdx__nomem(ctx);
    st = mmdx__dir_list(ctx, "manifest", sdir, MMDX_DIR_FILES_ONLY, 0,
                        &files, &n);
    for (j = 0; j < n && !st; j++) {
        char *f = mmdx__path_join(sdir, files[j]);
        enum mmdx_format fmt = MMDX_FMT_UNKNOWN;
        const char *mod;

        if (!f) {
            st = mmdx__nomem(ctx);
            break;
        }
        mod = mmdx_detect_modality(ctx, f, &fmt);
        mmdx_ctx_clear_error(ctx);
        if (is_mask_file(f, fmt, mod) && !sp->nmask++) {
            char *r = mmdx__path_join(rel, files[j]);

            if (!r)
                st = mmdx__nomem(ctx);
            sp->mask = r;
        }
        mmdx__free(f);
    }
    mmdx__dir_list_free(files, n);
    mmdx__free(sdir);
    return st;
}

static enum mmdx_status scan_patient(struct mmdx_ctx *ctx, const char *dir,
                                     const char *pat, struct scan_pat *sp)
{
    char *pdir = mmdx__path_join(dir, pat);
    char **files = NULL;
    size_t nfiles = 0, j;
    enum mmdx_format ifmt = MMDX_FMT_UNKNOWN;
    enum mmdx_status st;

    if (!pdir)
        return mmdx__nomem(ctx);
    st = mmdx__dir_list(ctx, "manifest", pdir, 0, 0, &files, &nfiles);
    for (j = 0; j < nfiles && !st; j++) {
        char *f = mmdx__path_join(pdir, files[j]);
        enum mmdx_format fmt = MMDX_FMT_UNKNOWN;
        const char *mod;
        int mi;

        if (!f) {
            st = mmdx__nomem(ctx);
            break;
        }
        mod = mmdx_detect_modality(ctx, f, &fmt);
        mmdx_ctx_clear_error(ctx);
        if (is_mask_file(f, fmt, mod)) {
            mmdx__free(f);
            if (!sp->nmask++) {
                sp->mask = mmdx__path_join(pat, files[j]);
                if (!sp->mask)
                    st = mmdx__nomem(ctx);
            }
            continue;
        }
        mmdx__free(f);
        if (!mod)
            continue;
        mi = mmdx__modality_from_name(mod);
        if (mi < 0)
            continue;
        if (fmt == MMDX_FMT_DICOM)
            sp->ndicom++;
        if (sp->cell[mi] &&
            !(fmt == MMDX_FMT_DICOM && mi == MMDX_MOD_IMAGE)) {
            mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                     "%s: two %s inputs (%s, %s): left empty", pat, mod,
                     sp->cell[mi], files[j]);
            sp->conflict = true;
            mmdx__freep(&sp->cell[mi]);
            sp->cell[mi] = mmdx__strdup("");
            continue;
        }
        if (sp->cell[mi])
            continue;
        if (mi == MMDX_MOD_IMAGE)
            ifmt = fmt;
        sp->cell[mi] = mmdx__path_join(pat, files[j]);
        if (!sp->cell[mi])
            st = mmdx__nomem(ctx);
    }
    mmdx__dir_list_free(files, nfiles);
    mmdx__free(pdir);
    /* several DICOM images directly in the folder: the folder is the
     * series */
    if (!st && sp->ndicom > 1) {
        mmdx__free(sp->cell[MMDX_MOD_IMAGE]);
        sp->cell[MMDX_MOD_IMAGE] = mmdx__strdup(pat);
        if (!sp->cell[MMDX_MOD_IMAGE])
            st = mmdx__nomem(ctx);
    } else if (!st && ifmt == MMDX_FMT_DICOM_DIR &&
               sp->cell[MMDX_MOD_IMAGE][0]) {
        /* the series is a sub-folder: a mask may sit inside it */
        st = scan_series_masks(ctx, dir, sp->cell[MMDX_MOD_IMAGE], sp);
    }
    if (!st && sp->nmask > 1) {
        /* the count only: file names may carry patient values */
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "%s: %zu mask candidates (DICOM SEG, RTSTRUCT, NIfTI-1): "
                 "mask left empty, fill it in by hand", pat, sp->nmask);
        sp->conflict = true;
        mmdx__freep(&sp->mask);
    }
    return st;
}

enum mmdx_status mmdx_manifest_scan(struct mmdx_ctx *ctx, const char *dir,
                                    const char *out, size_t *npatients)
{
    char **pats = NULL;
    size_t np = 0, i, rows = 0;
    struct mmdx_dstr d;
    char *outpath = NULL;
    enum mmdx_status st;
    bool conflict = false;

    if (npatients)
        *npatients = 0;
    st = mmdx__dir_list(ctx, "manifest", dir, 0, 0, &pats, &np);
    if (st)
        return st;
    mmdx__dstr_init(&d, 0);
    mmdx__dstr_adds(&d, "patient_id\timage\tecg\teeg\trecord\tmask\t"
                        "mask_label\tlabel\tsplit\n");
    for (i = 0; i < np && !st; i++) {
        char *pdir = mmdx__path_join(dir, pats[i]);
        struct scan_pat sp;
        bool skip;
        int m;

        if (!pdir) {
            st = mmdx__nomem(ctx);
            break;
        }
        skip = !mmdx__is_dir(pdir) || !mmdx__patient_id_valid(pats[i]);
        mmdx__free(pdir);
        if (skip)
            continue;
        memset(&sp, 0, sizeof(sp));
        st = scan_patient(ctx, dir, pats[i], &sp);
        if (!st) {
            mmdx__dstr_adds(&d, pats[i]);
            for (m = 0; m < MMDX_MOD_COUNT; m++)
                mmdx__dstr_addf(&d, "\t%s", sp.cell[m] ? sp.cell[m] : "");
            mmdx__dstr_addf(&d, "\t%s", sp.mask ? sp.mask : "");
            if (mmdx__dstr_adds(&d, "\t\t\t\n"))
                st = mmdx__nomem(ctx);
            rows++;
        }
        conflict = conflict || sp.conflict;
        for (m = 0; m < MMDX_MOD_COUNT; m++)
            mmdx__free(sp.cell[m]);
        mmdx__free(sp.mask);
    }
    mmdx__dir_list_free(pats, np);
    if (!st) {
        outpath = out ? mmdx__strdup(out) : mmdx__path_join(dir,
                                                            "manifest.tsv");
        if (!outpath)
            st = mmdx__nomem(ctx);
        else
            st = mmdx__file_write_atomic(ctx, outpath, d.s, d.len);
    }
    mmdx__free(outpath);
    mmdx__dstr_fini(&d);
    if (!st && npatients)
        *npatients = rows;
    if (!st && conflict)
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, "manifest", dir, 0, NULL,
                        "some patients have two files of one modality or "
                        "several mask candidates; those cells were left "
                        "empty");
    return st;
}
