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

const char *mmdx__patient_id_problem(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0)
        return "the name is empty";
    if (n > 64)
        return "the name is longer than 64 characters";
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return "\".\" and \"..\" are not names";
    for (i = 0; i < n; i++)
        if (!isalnum_ascii((unsigned char)s[i]) && s[i] != '.' &&
            s[i] != '_' && s[i] != '-')
            return "the name has characters other than A-Z a-z 0-9 . _ -";
    return NULL;
}

bool mmdx__patient_id_valid(const char *s)
{
    return mmdx__patient_id_problem(s) == NULL;
}

/* s made safe to print: bytes outside printable ASCII (and the backslash)
 * as \xHH, cut with "..." when longer than the buffer allows. Names the
 * user chose (folders, cells) may hold anything, and none of it may reach
 * a terminal raw. Returns buf. */
static const char *shown(const char *s, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    assert(size >= 8);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = (c < 0x20 || c > 0x7e || c == '\\') ? 4 : 1;

        if (o + need + 4 > size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (need == 1) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
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
    size_t k;

    mmdx__free(r->id);
    for (i = 0; i < MMDX_NPATHCOLS; i++) {
        mmdx__free(r->path[i]);
        mmdx__free(r->cell[i]);
    }
    mmdx__free(r->split);
    mmdx__free(r->study_date);
    mmdx__free(r->mask_label);
    for (k = 0; k < r->nproblems; k++) {
        mmdx__free(r->problems[k].file);
        mmdx__free(r->problems[k].text);
    }
    mmdx__free(r->problems);
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
    free(m->realdir); /* checksrc: allow (from realpath) */
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

size_t mmdx_manifest_nproblems(const struct mmdx_manifest *m, size_t i)
{
    return i < m->nrows ? m->rows[i].nproblems : 0;
}

char *mmdx__manifest_problem_format(const struct mmdx_manifest *m,
                                    const struct mmdx_manifest_row *row,
                                    const struct mmdx_manifest_problem *pr,
                                    bool with_stage, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%ld: %s%s: %s", m->path, row->line,
             with_stage ? "manifest: " : "", pr->column, pr->text);
    return buf;
}

const char *mmdx_manifest_problem(const struct mmdx_manifest *m, size_t i,
                                  size_t k, bool *fails_patient, char *buf,
                                  size_t size)
{
    const struct mmdx_manifest_row *row;

    if (i >= m->nrows || k >= m->rows[i].nproblems || !size)
        return NULL;
    row = &m->rows[i];
    if (fails_patient)
        *fails_patient = row->problems[k].modality < 0;
    return mmdx__manifest_problem_format(m, row, &row->problems[k], true,
                                         buf, size);
}

enum mmdx_status mmdx__manifest_row_apply(const struct mmdx_manifest *m,
                                          const struct mmdx_manifest_row *row,
                                          struct mmdx_patient *p)
{
    size_t k;

    for (k = 0; k < row->nproblems; k++) {
        const struct mmdx_manifest_problem *pr = &row->problems[k];
        char msg[2048];

        mmdx__manifest_problem_format(m, row, pr, false, msg, sizeof(msg));
        if (mmdx__patient_add_error(p, pr->modality, pr->file, "manifest",
                                    pr->code, msg))
            return MMDX_E_NOMEM;
        if (pr->modality < 0)
            continue;
        p->mod_failed |= 1u << pr->modality;
        /* the modality was given, so the patient has it, failed */
        if (pr->col == pr->modality && !p->path[pr->modality] && pr->file) {
            p->path[pr->modality] = mmdx__strdup(pr->file);
            if (!p->path[pr->modality])
                return MMDX_E_NOMEM;
        }
    }
    return MMDX_OK;
}

/* real (a resolved path) is dir (resolved) or inside it. */
static bool path_within(const char *real, const char *dir)
{
    size_t dl = strlen(dir);

    if (!strcmp(dir, "/"))
        return real[0] == '/';
    return strncmp(real, dir, dl) == 0 &&
           (real[dl] == '/' || real[dl] == '\0');
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

/* Record a problem of row r (see struct mmdx_manifest_problem). Only
 * allocation can fail. */
static enum mmdx_status add_problem(struct mmdx_manifest_row *r, int col,
                                    int modality, const char *column,
                                    enum mmdx_status code, const char *file,
                                    const char *fmt, ...) MMDX_PRINTF(7, 8);

static enum mmdx_status add_problem(struct mmdx_manifest_row *r, int col,
                                    int modality, const char *column,
                                    enum mmdx_status code, const char *file,
                                    const char *fmt, ...)
{
    struct mmdx_manifest_problem *np;
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    np = mmdx__realloc(r->problems, (r->nproblems + 1) * sizeof(*np));
    if (!np)
        return MMDX_E_NOMEM;
    r->problems = np;
    np = &r->problems[r->nproblems];
    memset(np, 0, sizeof(*np));
    np->col = col;
    np->modality = modality;
    np->column = column;
    np->code = code;
    np->file = file ? mmdx__strdup(file) : NULL;
    np->text = mmdx__strdup(text);
    if ((file && !np->file) || !np->text) {
        mmdx__free(np->file);
        mmdx__free(np->text);
        return MMDX_E_NOMEM;
    }
    r->nproblems++;
    if (modality < 0)
        r->patient_failed = true;
    return MMDX_OK;
}

/* A cell path must be relative, without "..", and (when files are checked)
 * must exist and resolve inside the cohort folder (the manifest's) even
 * through symbolic links. A cell that breaks a rule is a problem of the
 * row, failing its modality for that patient only (a mask: the image);
 * only allocation (or an unresolvable manifest folder) is fatal. */
static enum mmdx_status check_path(struct mmdx_ctx *ctx,
                                   struct mmdx_manifest *m,
                                   struct mmdx_manifest_row *r, int col,
                                   const char *cell, bool check_files,
                                   char **resolved)
{
    const char *s, *name = path_cols[col];
    int mod = col < MMDX_MOD_COUNT ? col : MMDX_MOD_IMAGE;
    char *full, *real = NULL, show[256];
    enum mmdx_status st = MMDX_OK;
    bool inside;

    *resolved = NULL;
    full = mmdx__path_join(m->dir, cell);
    if (!full)
        return mmdx__nomem(ctx);
    if (cell[0] == '/') {
        st = add_problem(r, col, mod, name, MMDX_E_FORMAT, full,
                         "path must be relative to the manifest's folder");
        goto out;
    }
    for (s = cell; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);

        if (len == 2 && s[0] == '.' && s[1] == '.') {
            st = add_problem(r, col, mod, name, MMDX_E_FORMAT, full,
                             "path escapes the cohort folder (\"..\")");
            goto out;
        }
        s += len;
        while (*s == '/')
            s++;
    }
    if (!check_files) {
        *resolved = full;
        return MMDX_OK;
    }
    if (!mmdx__is_file(full) && !mmdx__is_dir(full)) {
        /* a WFDB record may be named without its .hea */
        size_t n = strlen(full);
        char *hea = mmdx__malloc(n + 5);

        if (!hea) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        memcpy(hea, full, n);
        memcpy(hea + n, ".hea", 5);
        if (!mmdx__is_file(hea)) {
            mmdx__free(hea);
            st = add_problem(r, col, mod, name, MMDX_E_NOTFOUND, full,
                             "file not found: %s",
                             shown(cell, show, sizeof(show)));
            goto out;
        }
        mmdx__free(full);
        full = hea;
    }
    if (!m->realdir) {
        m->realdir = realpath(m->dir, NULL); /* checksrc: allow (libc) */
        if (!m->realdir) {
            st = errno == ENOMEM
                     ? mmdx__nomem(ctx)
                     : mmdx__fail(ctx, MMDX_E_IO, "manifest", m->path, 0,
                                  NULL, "cannot resolve the manifest's "
                                        "folder: %s", strerror(errno));
            goto out;
        }
    }
    real = realpath(full, NULL); /* checksrc: allow (libc allocation) */
    if (!real) {
        st = errno == ENOMEM
                 ? mmdx__nomem(ctx)
                 : add_problem(r, col, mod, name, MMDX_E_IO, full,
                               "cannot resolve path: %s", strerror(errno));
        goto out;
    }
    inside = path_within(real, m->realdir);
    free(real); /* checksrc: allow */
    if (!inside) {
        st = add_problem(r, col, mod, name, MMDX_E_FORMAT, full,
                         "path escapes the cohort folder (through a link)");
        goto out;
    }
    *resolved = full;
    return MMDX_OK;
out:
    mmdx__free(full);
    return st == MMDX_E_NOMEM ? mmdx__nomem(ctx) : st;
}

static enum mmdx_status parse_row(struct mmdx_ctx *ctx,
                                  struct mmdx_manifest *m, long line,
                                  char **f, int nf, const int *colmap,
                                  int ncols, bool check_files)
{
    struct mmdx_manifest_row *r;
    int c;
    char show[64];
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
    /* the id first: it is the row's identity, and a bad one is fatal */
    for (c = 0; c < ncols; c++) {
        const char *why;

        if (colmap[c] != -2)
            continue;
        why = mmdx__patient_id_problem(f[c]);
        if (why)
            return mmdx__fail(ctx, MMDX_E_FORMAT, "manifest", m->path,
                              line, "patient_id",
                              "patient_id must be 1-64 characters of "
                              "A-Z a-z 0-9 . _ - (got %zu characters)",
                              strlen(f[c]));
        r->id = mmdx__strdup(f[c]);
        if (!r->id)
            return mmdx__nomem(ctx);
    }
    for (c = 0; c < ncols && !st; c++) {
        const char *v = f[c];
        int role = colmap[c];

        if (role >= 0 && role < MMDX_NPATHCOLS) {
            if (!v[0])
                continue;
            r->cell[role] = mmdx__strdup(v);
            if (!r->cell[role])
                return mmdx__nomem(ctx);
            st = check_path(ctx, m, r, role, v, check_files,
                            &r->path[role]);
        } else if (role == -3) { /* label */
            if (!v[0] || !strcmp(v, "NA"))
                r->label = -1;
            else if (!strcmp(v, "0"))
                r->label = 0;
            else if (!strcmp(v, "1"))
                r->label = 1;
            else
                st = add_problem(r, -1, -1, "label", MMDX_E_FORMAT, NULL,
                                 "label must be 0, 1 or empty, got \"%s\"",
                                 shown(v, show, 24));
        } else if (role == -4) { /* split */
            if (!v[0])
                continue;
            if (strcmp(v, "train") && strcmp(v, "valid") &&
                strcmp(v, "test")) {
                st = add_problem(r, -1, -1, "split", MMDX_E_FORMAT, NULL,
                                 "split must be train, valid, test or "
                                 "empty, got \"%s\"",
                                 shown(v, show, 24));
                continue;
            }
            r->split = mmdx__strdup(v);
            if (!r->split)
                return mmdx__nomem(ctx);
        } else if (role == -5) { /* study_date */
            if (!v[0])
                continue;
            /* a date may identify: never echoed */
            if (!mmdx__date_valid(v)) {
                st = add_problem(r, -1, -1, "study_date", MMDX_E_FORMAT,
                                 NULL, "study_date must be YYYY, YYYY-MM "
                                       "or YYYY-MM-DD");
                continue;
            }
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
            if (n > 64 || k < n) {
                st = add_problem(r, -1, MMDX_MOD_IMAGE, "mask_label",
                                 MMDX_E_FORMAT, NULL,
                                 "mask_label must be a label number or a "
                                 "segment label of 1-64 printable "
                                 "characters");
                continue;
            }
            r->mask_label = mmdx__strdup(v);
            if (!r->mask_label)
                return mmdx__nomem(ctx);
        }
    }
    if (!st && r->mask_label && !r->cell[MMDX_COL_MASK])
        st = add_problem(r, -1, MMDX_MOD_IMAGE, "mask_label", MMDX_E_FORMAT,
                         NULL, "mask_label given without a mask");
    /* duplicate ids: a linear scan would be quadratic on big cohorts, so the
     * caller checks duplicates once at the end with a sort. */
    return st == MMDX_E_NOMEM ? mmdx__nomem(ctx) : st;
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

/* What the scan needs across patients. */
struct scan {
    const char *dir;     /* DIR as given */
    char *realbase;      /* the manifest's folder, links resolved (libc) */
    const char *prefix;  /* DIR relative to realbase: "" or "coh/x" */
    size_t nskipped;     /* patient folders left out */
    size_t nleft;        /* files left out */
};

/* What the scan found in one patient folder. */
struct scan_pat {
    char *cell[MMDX_MOD_COUNT];
    char *mask;          /* the first mask candidate ("P1/seg.dcm") */
    size_t nmask;        /* mask candidates */
    size_t ndicom;       /* DICOM images directly in the folder */
    bool conflict;
};

/* A name the manifest cannot hold (a tab or line break would break the
 * row) or no terminal should be sent: any control character. */
static bool name_writable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Whether rel (relative to DIR) may go in the manifest: a symbolic link
 * must resolve inside the manifest's folder, as `mmdx run` requires (a
 * plain entry is inside when its folder is, which was checked first), and
 * with check_name its name must be writable. Otherwise a warning names it
 * and why; the caller leaves it out. */
static enum mmdx_status scan_usable(struct mmdx_ctx *ctx,
                                    const struct scan *sc, const char *rel,
                                    bool check_name, bool *usable)
{
    char *full, *real, show[512];
    const char *why = NULL;
    struct stat sb;
    int err = 0;

    *usable = false;
    if (check_name && !name_writable(rel)) {
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "%s: its name has control characters (tab, line break, "
                 "...) that a manifest cannot hold: left out",
                 shown(rel, show, sizeof(show)));
        return MMDX_OK;
    }
    full = mmdx__path_join(sc->dir, rel);
    if (!full)
        return mmdx__nomem(ctx);
    if (lstat(full, &sb) == 0 && !S_ISLNK(sb.st_mode)) {
        mmdx__free(full);
        *usable = true;
        return MMDX_OK;
    }
    real = realpath(full, NULL); /* checksrc: allow (libc) */
    err = real ? 0 : errno;
    mmdx__free(full);
    if (err == ENOMEM)
        return mmdx__nomem(ctx);
    if (real && !path_within(real, sc->realbase))
        why = "it leads out of the cohort folder through a link";
    free(real); /* checksrc: allow */
    if (err)
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "%s: cannot resolve (%s): left out",
                 shown(rel, show, sizeof(show)), strerror(err));
    else if (why)
        mmdx_log(ctx, NULL, MMDX_LOG_WARN, "%s: %s: left out",
                 shown(rel, show, sizeof(show)), why);
    else
        *usable = true;
    return MMDX_OK;
}

/* Mask candidates in the series folder rel (= dir/rel, the patient's
 * image): the series loader skips them, so they are the mask. */
static enum mmdx_status scan_series_masks(struct mmdx_ctx *ctx,
                                          struct scan *sc, const char *rel,
                                          struct scan_pat *sp)
{
    char *sdir = mmdx__path_join(sc->dir, rel);
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
        if (is_mask_file(f, fmt, mod)) {
            char *r = mmdx__path_join(rel, files[j]);
            bool usable = false;

            if (!r)
                st = mmdx__nomem(ctx);
            else
                st = scan_usable(ctx, sc, r, true, &usable);
            if (!st && !usable)
                sc->nleft++;
            if (!st && usable && !sp->nmask++) {
                sp->mask = r;
                r = NULL;
            }
            mmdx__free(r);
        }
        mmdx__free(f);
    }
    mmdx__dir_list_free(files, n);
    mmdx__free(sdir);
    return st;
}

static enum mmdx_status scan_patient(struct mmdx_ctx *ctx, struct scan *sc,
                                     const char *pat, struct scan_pat *sp)
{
    char *pdir = mmdx__path_join(sc->dir, pat);
    char **files = NULL;
    size_t nfiles = 0, j;
    enum mmdx_format ifmt = MMDX_FMT_UNKNOWN;
    enum mmdx_status st;

    if (!pdir)
        return mmdx__nomem(ctx);
    st = mmdx__dir_list(ctx, "manifest", pdir, 0, 0, &files, &nfiles);
    for (j = 0; j < nfiles && !st; j++) {
        char *f, *rel;
        enum mmdx_format fmt = MMDX_FMT_UNKNOWN;
        const char *mod;
        char s1[256], s2[256];
        bool usable = false;
        int mi;

        rel = mmdx__path_join(pat, files[j]);
        if (!rel) {
            st = mmdx__nomem(ctx);
            break;
        }
        /* a link leading out (or nowhere) is left out, whatever it is */
        st = scan_usable(ctx, sc, rel, false, &usable);
        if (!st && !usable)
            sc->nleft++;
        f = st || !usable ? NULL : mmdx__path_join(pdir, files[j]);
        if (!f) {
            if (!st && usable)
                st = mmdx__nomem(ctx);
            mmdx__free(rel);
            continue;
        }
        mod = mmdx_detect_modality(ctx, f, &fmt);
        if (mmdx__ctx_has_error(ctx)) {
            /* there but not readable (or a pipe): said, not dropped */
            const struct mmdx_error *e = mmdx_ctx_last_error(ctx);

            if (e->status == MMDX_E_NOMEM) {
                st = MMDX_E_NOMEM;
            } else {
                mmdx_log(ctx, NULL, MMDX_LOG_WARN, "%s: %s: left out",
                         shown(rel, s1, sizeof(s1)), e->message);
                sc->nleft++;
            }
            mmdx_ctx_clear_error(ctx);
            if (st)
                st = mmdx__nomem(ctx);
            mmdx__free(f);
            mmdx__free(rel);
            continue;
        }
        /* only what would go in the manifest has its name checked:
         * notes, WFDB .dat files and the like are not inputs */
        if ((mod || fmt == MMDX_FMT_NIFTI) && !name_writable(files[j])) {
            st = scan_usable(ctx, sc, rel, true, &usable);
            sc->nleft++;
            mmdx__free(f);
            mmdx__free(rel);
            continue;
        }
        if (is_mask_file(f, fmt, mod)) {
            mmdx__free(f);
            if (!sp->nmask++) {
                sp->mask = rel;
                rel = NULL;
            }
            mmdx__free(rel);
            continue;
        }
        mmdx__free(f);
        mi = mod ? mmdx__modality_from_name(mod) : -1;
        if (mi < 0) {
            mmdx__free(rel);
            continue;
        }
        if (fmt == MMDX_FMT_DICOM)
            sp->ndicom++;
        if (sp->cell[mi] &&
            !(fmt == MMDX_FMT_DICOM && mi == MMDX_MOD_IMAGE)) {
            mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                     "%s: two %s inputs (%s, %s): left empty", pat, mod,
                     shown(sp->cell[mi], s1, sizeof(s1)),
                     shown(files[j], s2, sizeof(s2)));
            sp->conflict = true;
            mmdx__freep(&sp->cell[mi]);
            sp->cell[mi] = mmdx__strdup("");
            mmdx__free(rel);
            if (!sp->cell[mi])
                st = mmdx__nomem(ctx);
            continue;
        }
        if (sp->cell[mi]) {
            mmdx__free(rel);
            continue;
        }
        if (mi == MMDX_MOD_IMAGE)
            ifmt = fmt;
        sp->cell[mi] = rel;
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
        st = scan_series_masks(ctx, sc, sp->cell[MMDX_MOD_IMAGE], sp);
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

/* One cell: the path relative to the manifest's folder. */
static void add_cell(struct mmdx_dstr *d, const char *prefix,
                     const char *rel, enum mmdx_status *st)
{
    if (mmdx__dstr_adds(d, "\t"))
        *st = MMDX_E_NOMEM;
    if (!rel || !rel[0])
        return;
    if (prefix[0] && mmdx__dstr_addf(d, "%s/", prefix))
        *st = MMDX_E_NOMEM;
    if (mmdx__dstr_adds(d, rel))
        *st = MMDX_E_NOMEM;
}

/* Where the manifest goes decides what its paths are relative to: they
 * are written relative to its folder, which must therefore be DIR or a
 * folder above it (a path may not leave the manifest's folder). Sets
 * sc->realbase and sc->prefix (pointing into realdir, which the caller
 * frees with free()). */
static enum mmdx_status scan_base(struct mmdx_ctx *ctx, struct scan *sc,
                                  const char *outpath, char **realdir)
{
    char *odir = mmdx__path_dirname(outpath);
    enum mmdx_status st = MMDX_OK;

    *realdir = NULL;
    if (!odir)
        return mmdx__nomem(ctx);
    sc->realbase = realpath(odir, NULL); /* checksrc: allow (libc) */
    if (!sc->realbase) {
        st = mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                        "manifest", odir, 0, NULL,
                        "cannot resolve the manifest's folder: %s",
                        strerror(errno));
        goto out;
    }
    *realdir = realpath(sc->dir, NULL); /* checksrc: allow (libc) */
    if (!*realdir) {
        st = mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                        "manifest", sc->dir, 0, NULL, "cannot resolve: %s",
                        strerror(errno));
        goto out;
    }
    if (!path_within(*realdir, sc->realbase)) {
        st = mmdx__fail(ctx, MMDX_E_USAGE, "manifest", outpath, 0, NULL,
                        "the manifest must be written in %s or a folder "
                        "above it: its paths are relative to its own "
                        "folder and may not leave it", sc->dir);
        goto out;
    }
    sc->prefix = *realdir + strlen(sc->realbase);
    while (*sc->prefix == '/')
        sc->prefix++;
out:
    mmdx__free(odir);
    return st;
}

enum mmdx_status mmdx_manifest_scan(struct mmdx_ctx *ctx, const char *dir,
                                    const char *out, size_t *npatients)
{
    char **pats = NULL, *realdir = NULL, show[512];
    size_t np = 0, i, rows = 0;
    struct mmdx_dstr d;
    char *outpath = NULL;
    struct scan sc;
    enum mmdx_status st;
    bool conflict = false;

    if (npatients)
        *npatients = 0;
    memset(&sc, 0, sizeof(sc));
    sc.dir = dir;
    sc.prefix = "";
    mmdx__dstr_init(&d, 0);
    outpath = out ? mmdx__strdup(out) : mmdx__path_join(dir, "manifest.tsv");
    if (!outpath)
        return mmdx__nomem(ctx);
    st = mmdx__dir_list(ctx, "manifest", dir, 0, 0, &pats, &np);
    if (!st)
        st = scan_base(ctx, &sc, outpath, &realdir);
    if (!st && mmdx__dstr_adds(&d, "patient_id\timage\tecg\teeg\trecord\t"
                                   "mask\tmask_label\tlabel\tsplit\n"))
        st = mmdx__nomem(ctx);
    for (i = 0; i < np && !st; i++) {
        char *pdir = mmdx__path_join(dir, pats[i]);
        const char *why;
        struct scan_pat sp;
        bool isdir, usable;
        int m;

        if (!pdir) {
            st = mmdx__nomem(ctx);
            break;
        }
        isdir = mmdx__is_dir(pdir);
        mmdx__free(pdir);
        if (!isdir) /* files beside the patient folders: not patients */
            continue;
        why = mmdx__patient_id_problem(pats[i]);
        if (why) {
            /* the folder name is the pseudonym: one that cannot be a
             * patient_id is said, never silently dropped */
            mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                     "folder \"%s\" skipped: %s, so it cannot be a "
                     "patient_id",
                     shown(pats[i], show, sizeof(show)), why);
            sc.nskipped++;
            continue;
        }
        st = scan_usable(ctx, &sc, pats[i], false, &usable);
        if (!st && !usable) {
            sc.nskipped++;
            continue;
        }
        memset(&sp, 0, sizeof(sp));
        if (!st)
            st = scan_patient(ctx, &sc, pats[i], &sp);
        if (!st) {
            if (mmdx__dstr_adds(&d, pats[i]))
                st = mmdx__nomem(ctx);
            for (m = 0; m < MMDX_MOD_COUNT; m++)
                add_cell(&d, sc.prefix, sp.cell[m], &st);
            add_cell(&d, sc.prefix, sp.mask, &st);
            if (mmdx__dstr_adds(&d, "\t\t\t\n"))
                st = MMDX_E_NOMEM;
            if (st)
                st = mmdx__nomem(ctx);
            rows++;
        }
        conflict = conflict || sp.conflict;
        for (m = 0; m < MMDX_MOD_COUNT; m++)
            mmdx__free(sp.cell[m]);
        mmdx__free(sp.mask);
    }
    mmdx__dir_list_free(pats, np);
    if (!st)
        st = mmdx__file_write_atomic(ctx, outpath, d.s, d.len);
    mmdx__free(outpath);
    mmdx__dstr_fini(&d);
    free(realdir);      /* checksrc: allow */
    free(sc.realbase);  /* checksrc: allow */
    if (!st && npatients)
        *npatients = rows;
    if (st)
        return st;
    if (sc.nskipped || sc.nleft) {
        char a[64] = "", b[64] = "";

        if (sc.nskipped)
            snprintf(a, sizeof(a), "%zu folder%s skipped", sc.nskipped,
                     sc.nskipped == 1 ? "" : "s");
        if (sc.nleft)
            snprintf(b, sizeof(b), "%s%zu file%s left out",
                     sc.nskipped ? ", " : "", sc.nleft,
                     sc.nleft == 1 ? "" : "s");
        return mmdx__fail(ctx, MMDX_E_MISMATCH, "manifest", dir, 0, NULL,
                          "%s%s%s (see the warnings)", a, b,
                          conflict ? ", some cells left empty: two files "
                                     "of one modality or several mask "
                                     "candidates" : "");
    }
    if (conflict)
        return mmdx__fail(ctx, MMDX_E_MISMATCH, "manifest", dir, 0, NULL,
                          "some patients have two files of one modality or "
                          "several mask candidates; those cells were left "
                          "empty");
    return MMDX_OK;
}
