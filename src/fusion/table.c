/*
 * table.c - feature tables (features.tsv) and labels tables for fusion.
 *
 * The feature reader streams: a file is read in large chunks and parsed a
 * line at a time without copying, so a table larger than memory can be
 * applied in pieces. Numbers take a fast exact path (Clinger: up to 19
 * significant digits whose value is exactly representable and a power of
 * ten up to 1e22 give the correctly rounded double with one multiply or
 * divide); anything else goes through strtod on a bounded copy. The double
 * is then rounded to float, the model's precision.
 */
#include "core/common.h"
#include "fusion/fusion.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <float.h>
#include <unistd.h>

#define STAGE "fusion.table"
#define CHUNK ((size_t)4 << 20)

/* ---- id pool ----------------------------------------------------------- */

void mmdx__idpool_init(struct mmdx__idpool *p)
{
    memset(p, 0, sizeof(*p));
}

void mmdx__idpool_fini(struct mmdx__idpool *p)
{
    mmdx__free(p->s);
    mmdx__free(p->off);
    memset(p, 0, sizeof(*p));
}

void mmdx__idpool_reset(struct mmdx__idpool *p)
{
    p->len = 0;
    p->n = 0;
}

enum mmdx_status mmdx__idpool_add(struct mmdx__idpool *p, const char *id,
                                  size_t len)
{
    if (p->len + len + 1 > p->cap) {
        size_t ncap = p->cap ? p->cap : 4096;
        char *ns;

        while (ncap < p->len + len + 1) {
            if (ncap > SIZE_MAX / 2)
                return MMDX_E_NOMEM;
            ncap *= 2;
        }
        ns = mmdx__realloc(p->s, ncap);
        if (!ns)
            return MMDX_E_NOMEM;
        p->s = ns;
        p->cap = ncap;
    }
    if (p->n == p->ncap) {
        size_t ncap = p->ncap ? p->ncap * 2 : 1024, bytes;
        size_t *no;

        if (!mmdx__mul_size(ncap, sizeof(*no), &bytes))
            return MMDX_E_NOMEM;
        no = mmdx__realloc(p->off, bytes);
        if (!no)
            return MMDX_E_NOMEM;
        p->off = no;
        p->ncap = ncap;
    }
    memcpy(p->s + p->len, id, len);
    p->s[p->len + len] = '\0';
    p->off[p->n++] = p->len;
    p->len += len + 1;
    return MMDX_OK;
}

/* ---- id map ------------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;     /* FNV-1a */

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

enum mmdx_status mmdx__idmap_build(struct mmdx__idmap *m,
                                   const struct mmdx__idpool *pool,
                                   size_t *dup)
{
    size_t cap = 16, i, bytes;

    memset(m, 0, sizeof(*m));
    *dup = SIZE_MAX;
    while (cap < pool->n * 2 + 1) {
        if (cap > SIZE_MAX / 4)
            return MMDX_E_NOMEM;
        cap *= 2;
    }
    if (!mmdx__mul_size(cap, sizeof(size_t), &bytes))
        return MMDX_E_NOMEM;
    m->slot = mmdx__calloc(cap, sizeof(size_t));
    if (!m->slot)
        return MMDX_E_NOMEM;
    m->cap = cap;
    m->pool = pool;
    for (i = 0; i < pool->n; i++) {
        const char *id = mmdx__idpool_get(pool, i);
        size_t k = (size_t)hash_str(id) & (cap - 1);

        while (m->slot[k]) {
            if (!strcmp(mmdx__idpool_get(pool, m->slot[k] - 1), id)) {
                if (*dup == SIZE_MAX)
                    *dup = i;
                break;
            }
            k = (k + 1) & (cap - 1);
        }
        if (!m->slot[k])
            m->slot[k] = i + 1;
    }
    return MMDX_OK;
}

size_t mmdx__idmap_find(const struct mmdx__idmap *m, const char *id)
{
    size_t k;

    if (!m->cap)
        return SIZE_MAX;
    k = (size_t)hash_str(id) & (m->cap - 1);
    while (m->slot[k]) {
        if (!strcmp(mmdx__idpool_get(m->pool, m->slot[k] - 1), id))
            return m->slot[k] - 1;
        k = (k + 1) & (m->cap - 1);
    }
    return SIZE_MAX;
}

void mmdx__idmap_fini(struct mmdx__idmap *m)
{
    mmdx__free(m->slot);
    memset(m, 0, sizeof(*m));
}

/* ---- numbers --------------------------------------------------------------- */

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static bool is_na(const char *s, size_t n)
{
    return n == 0 || (n == 2 && s[0] == 'N' && s[1] == 'A') ||
           (n == 3 && (s[0] == 'N' || s[0] == 'n') && s[1] == 'a' &&
            (s[2] == 'N' || s[2] == 'n'));
}

/* Slow path: strtod on a bounded copy; the syntax was already checked. */
static bool parse_slow(const char *s, size_t n, double *v)
{
    char buf[128];
    char *end;

    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *v = strtod(buf, &end);
    if (end != buf + n || !isfinite(*v))
        return false;
    return true;
}

bool mmdx__ftab_parse_cell(const char *s, const char *e, double *v)
{
    const char *p = s;
    uint64_t mant = 0;
    int ndig = 0, exp10 = 0, eexp = 0;
    bool neg = false, any = false, exact = true;

    if (is_na(s, (size_t)(e - s))) {
        *v = NAN;
        return true;
    }
    if (p < e && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        any = true;
        if (ndig < 19) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            if (mant)
                ndig++;
        } else {
            exp10++;
            if (*p != '0')
                exact = false;
        }
    }
    if (p < e && *p == '.') {
        p++;
        for (; p < e && *p >= '0' && *p <= '9'; p++) {
            any = true;
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant)
                    ndig++;
                exp10--;
            } else if (*p != '0') {
                exact = false;
            }
        }
    }
    if (!any)
        return false;
    if (p < e && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        int nd = 0;

        p++;
        if (p < e && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        for (; p < e && *p >= '0' && *p <= '9'; p++, nd++)
            if (eexp < 100000)
                eexp = eexp * 10 + (*p - '0');
        if (!nd)
            return false;
        if (eneg)
            eexp = -eexp;
    }
    if (p != e)
        return false;
    exp10 += eexp;
    if (exact && mant < ((uint64_t)1 << 53) && exp10 >= -22 &&
        exp10 <= 22) {
        double d = (double)mant;

        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *v = neg ? -d : d;
        return true;
    }
    if (mant == 0 && exact) {
        *v = neg ? -0.0 : 0.0;
        return true;
    }
    return parse_slow(s, (size_t)(e - s), v);
}

/*
 * [-]digits[.digits] with at most 15 digits (exact in a double) and ending at a tab
 * or the line end: *p advanced to that delimiter, the exact double by one
 * division by an exact power of ten (as mmdx__ftab_parse_cell). Returns
 * false (and leaves *p) for anything else.
 */
static inline bool fast_cell(const char **pp, const char *e, double *v)
{
    const char *p = *pp;
    uint64_t mant = 0;
    int nd = 0, frac = 0;
    bool neg = false;

    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    while (p < e && (unsigned)(*p - '0') < 10) {
        mant = mant * 10 + (uint64_t)(*p++ - '0');
        nd++;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && (unsigned)(*p - '0') < 10) {
            mant = mant * 10 + (uint64_t)(*p++ - '0');
            nd++;
            frac++;
        }
    }
    if (nd == 0 || nd > 15 || frac > 22 || (p < e && *p != '\t'))
        return false;
    *v = frac ? (double)mant / pow10_exact[frac] : (double)mant;
    if (neg)
        *v = -*v;
    *pp = p;
    return true;
}

/* ---- the streaming reader ------------------------------------------------ */

struct mmdx__ftab_reader {
    struct mmdx_ctx *ctx;
    char *path;
    int fd;                 /* -1 for memory */
    char *buf;              /* owned for files */
    size_t cap, start, end; /* bytes */
    bool eof;
    long line;              /* line number of the last line returned */
    size_t ncols;
    char **names;
    struct mmdx_sha256 *hash;   /* optional: SHA-256 of the bytes read */
};

static enum mmdx_status rd_fail(struct mmdx__ftab_reader *r,
                                enum mmdx_status st, const char *field,
                                const char *fmt, ...) MMDX_PRINTF(4, 5);

static enum mmdx_status rd_fail(struct mmdx__ftab_reader *r,
                                enum mmdx_status st, const char *field,
                                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    st = mmdx__vfail_at(r->ctx, st, STAGE, r->path, r->line, field,
                        __FILE__, __LINE__, fmt, ap);
    va_end(ap);
    return st;
}

/* Next line into [*s, *e) without its newline (and '\r'); false at end. */
static enum mmdx_status next_line(struct mmdx__ftab_reader *r,
                                  const char **s, const char **e, bool *got)
{
    char *nl;

    *got = false;
    for (;;) {
        nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl || r->eof)
            break;
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap) {
            size_t ncap = r->cap * 2;
            char *nb;

            if (r->cap >= MMDX_FTAB_MAX_LINE + CHUNK)
                return rd_fail(r, MMDX_E_LIMIT, NULL,
                               "line longer than %u bytes",
                               (unsigned)MMDX_FTAB_MAX_LINE);
            nb = mmdx__realloc(r->buf, ncap);
            if (!nb)
                return mmdx__nomem(r->ctx);
            r->buf = nb;
            r->cap = ncap;
        }
        {
            ssize_t k = read(r->fd, r->buf + r->end, r->cap - r->end);

            if (k < 0) {
                if (errno == EINTR)
                    continue;
                return rd_fail(r, MMDX_E_IO, NULL, "read failed: %s",
                               strerror(errno));
            }
            if (k == 0)
                r->eof = true;
            if (r->hash && k > 0)
                mmdx__sha256_update(r->hash, r->buf + r->end, (size_t)k);
            r->end += (size_t)k;
        }
    }
    if (r->start == r->end)
        return MMDX_OK;
    *s = r->buf + r->start;
    if (nl) {
        *e = nl;
        r->start = (size_t)(nl - r->buf) + 1;
    } else {
        *e = r->buf + r->end;
        r->start = r->end;
    }
    if (*e > *s && (*e)[-1] == '\r')
        (*e)--;
    if ((size_t)(*e - *s) > MMDX_FTAB_MAX_LINE)
        return rd_fail(r, MMDX_E_LIMIT, NULL, "line longer than %u bytes",
                       (unsigned)MMDX_FTAB_MAX_LINE);
    r->line++;
    *got = true;
    return MMDX_OK;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum mmdx_status parse_header(struct mmdx__ftab_reader *r)
{
    const char *s, *e, *p, *t;
    bool got;
    size_t n = 0, j;
    char **sorted;
    enum mmdx_status st;

    st = next_line(r, &s, &e, &got);
    if (st)
        return st;
    if (!got)
        return rd_fail(r, MMDX_E_FORMAT, NULL, "empty file: no header");
    if (e - s >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        s += 3;
    t = memchr(s, '\t', (size_t)(e - s));
    if (!t)
        t = e;
    if ((size_t)(t - s) != 10 || memcmp(s, "patient_id", 10))
        return rd_fail(r, MMDX_E_FORMAT, "patient_id",
                       "first header column must be patient_id");
    for (p = t; p < e; p++)
        if (*p == '\t')
            n++;
    if (n > MMDX_FTAB_MAX_COLS)
        return rd_fail(r, MMDX_E_LIMIT, NULL, "more than %u feature columns",
                       (unsigned)MMDX_FTAB_MAX_COLS);
    r->names = mmdx__calloc(n ? n : 1, sizeof(char *));
    if (!r->names)
        return mmdx__nomem(r->ctx);
    for (j = 0, p = t; j < n; j++) {
        const char *q = ++p;
        size_t len;

        while (p < e && *p != '\t')
            p++;
        len = (size_t)(p - q);
        if (len == 0 || len > MMDX_FTAB_MAX_NAME) {
            r->ncols = j;
            return rd_fail(r, MMDX_E_FORMAT, NULL,
                           "header column %zu: feature name %s", j + 2,
                           len ? "longer than 127 bytes" : "is empty");
        }
        r->names[j] = mmdx__strndup(q, len);
        if (!r->names[j]) {
            r->ncols = j;
            return mmdx__nomem(r->ctx);
        }
        if (!memchr(q, '.', len) || q[0] == '.') {
            r->ncols = j + 1;
            return rd_fail(r, MMDX_E_FORMAT, r->names[j],
                           "feature name has no modality part "
                           "(modality.family.name)");
        }
    }
    r->ncols = n;
    sorted = mmdx__malloc((n ? n : 1) * sizeof(char *));
    if (!sorted)
        return mmdx__nomem(r->ctx);
    if (n)
        memcpy(sorted, r->names, n * sizeof(char *));
    qsort(sorted, n, sizeof(char *), cmp_strp);
    for (j = 1; j < n; j++)
        if (!strcmp(sorted[j - 1], sorted[j])) {
            st = rd_fail(r, MMDX_E_FORMAT, sorted[j],
                         "feature column appears twice");
            mmdx__free(sorted);
            return st;
        }
    mmdx__free(sorted);
    return MMDX_OK;
}

static enum mmdx_status reader_new(struct mmdx_ctx *ctx, const char *path,
                                   struct mmdx__ftab_reader **out)
{
    struct mmdx__ftab_reader *r;

    *out = NULL;
    r = mmdx__calloc(1, sizeof(*r));
    if (!r)
        return mmdx__nomem(ctx);
    r->ctx = ctx;
    r->fd = -1;
    r->path = mmdx__strdup(path);
    if (!r->path) {
        mmdx__free(r);
        return mmdx__nomem(ctx);
    }
    *out = r;
    return MMDX_OK;
}

static enum mmdx_status open_file(struct mmdx_ctx *ctx, const char *path,
                                  bool hash, struct mmdx__ftab_reader **out)
{
    struct mmdx__ftab_reader *r;
    enum mmdx_status st;
    struct stat sb;

    st = reader_new(ctx, path, &r);
    if (st)
        return st;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        st = mmdx__fail(ctx, errno == ENOENT ? MMDX_E_NOTFOUND : MMDX_E_IO,
                        STAGE, path, 0, NULL, "cannot open: %s",
                        strerror(errno));
        mmdx__ftab_close(r);
        return st;
    }
    /* a small file gets a small buffer; lines longer than it grow it */
    r->cap = CHUNK;
    if (fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uintmax_t)sb.st_size < CHUNK)
        r->cap = (size_t)sb.st_size + 64;
    r->buf = mmdx__malloc(r->cap);
    if (!r->buf) {
        mmdx__ftab_close(r);
        return mmdx__nomem(ctx);
    }
    if (hash && (st = mmdx__sha256_new(ctx, &r->hash)) != MMDX_OK) {
        mmdx__ftab_close(r);
        return st;
    }
    st = parse_header(r);
    if (st) {
        mmdx__ftab_close(r);
        return st;
    }
    *out = r;
    return MMDX_OK;
}

enum mmdx_status mmdx__ftab_open(struct mmdx_ctx *ctx, const char *path,
                                 struct mmdx__ftab_reader **out)
{
    return open_file(ctx, path, false, out);
}

enum mmdx_status mmdx__ftab_open_mem(struct mmdx_ctx *ctx, const char *name,
                                     const char *data, size_t len,
                                     struct mmdx__ftab_reader **out)
{
    struct mmdx__ftab_reader *r;
    enum mmdx_status st;

    st = reader_new(ctx, name, &r);
    if (st)
        return st;
    r->buf = (char *)(uintptr_t)data;   /* never written: eof is set */
    r->cap = r->end = len;
    r->eof = true;
    st = parse_header(r);
    if (st) {
        mmdx__ftab_close(r);
        return st;
    }
    *out = r;
    return MMDX_OK;
}

size_t mmdx__ftab_ncols(const struct mmdx__ftab_reader *r)
{
    return r->ncols;
}

const char *mmdx__ftab_name(const struct mmdx__ftab_reader *r, size_t j)
{
    return r->names[j];
}

void mmdx__ftab_close(struct mmdx__ftab_reader *r)
{
    size_t j;

    if (!r)
        return;
    if (r->fd >= 0) {
        close(r->fd);
        mmdx__free(r->buf);
    }
    mmdx__sha256_free(r->hash);
    if (r->names)
        for (j = 0; j < r->ncols; j++)
            mmdx__free(r->names[j]);
    mmdx__free(r->names);
    mmdx__free(r->path);
    mmdx__free(r);
}

enum mmdx_status mmdx__ftab_read(struct mmdx__ftab_reader *r, size_t maxrows,
                                 float *x, size_t x_cols,
                                 const size_t *col_map,
                                 struct mmdx__idpool *ids, size_t *nread)
{
    size_t row = 0, j;
    enum mmdx_status st = MMDX_OK;

    *nread = 0;
    while (row < maxrows) {
        const char *s, *e, *p, *t;
        float *xr;
        bool got;

        st = next_line(r, &s, &e, &got);
        if (st || !got)
            break;
        if (s == e)
            continue;       /* blank line */
        t = memchr(s, '\t', (size_t)(e - s));
        if (!t)
            t = e;
        if (t == s)
            return rd_fail(r, MMDX_E_FORMAT, "patient_id",
                           "empty patient_id");
        if ((size_t)(t - s) > MMDX_FTAB_MAX_ID)
            return rd_fail(r, MMDX_E_LIMIT, "patient_id",
                           "patient_id longer than %d bytes",
                           MMDX_FTAB_MAX_ID);
        if (mmdx__idpool_add(ids, s, (size_t)(t - s)))
            return mmdx__nomem(r->ctx);
        xr = x + row * x_cols;
        if (col_map)
            for (j = 0; j < x_cols; j++)
                xr[j] = NAN;
        for (j = 0, p = t; j < r->ncols; j++) {
            const char *q;
            double v;

            if (p >= e) {
                ids->n--;
                return rd_fail(r, MMDX_E_FORMAT, NULL,
                               "expected %zu cells, got %zu", r->ncols + 1,
                               j + 1);
            }
            q = ++p;
            /* one pass for the common short decimal; anything else (NA,
             * exponents, long mantissas) takes the full parser */
            if (!fast_cell(&p, e, &v)) {
                p = q;
                while (p < e && *p != '\t')
                    p++;
                if (!mmdx__ftab_parse_cell(q, p, &v))
                    v = INFINITY;       /* refused below */
            }
            if (isinf(v) ||
                (!isnan(v) && fabs(v) > (double)FLT_MAX)) {
                ids->n--;
                return rd_fail(r, MMDX_E_FORMAT, r->names[j],
                               "not a finite number (or NA)");
            }
            if (!col_map)
                xr[j] = (float)v;
            else if (col_map[j] != SIZE_MAX)
                xr[col_map[j]] = (float)v;
        }
        if (p < e) {
            ids->n--;
            return rd_fail(r, MMDX_E_FORMAT, NULL,
                           "more cells than the %zu header columns",
                           r->ncols + 1);
        }
        row++;
    }
    *nread = row;
    return st;
}

/* ---- whole tables ------------------------------------------------------ */

static enum mmdx_status load_all(struct mmdx_ctx *ctx,
                                 struct mmdx__ftab_reader *r,
                                 struct mmdx__ftab *t)
{
    size_t cap = 0, got, rowbytes;
    enum mmdx_status st;

    t->ncols = r->ncols;
    if (!mmdx__mul_size(t->ncols ? t->ncols : 1, sizeof(float), &rowbytes))
        return mmdx__nomem(ctx);
    for (;;) {
        size_t want = 4096, bytes;

        if (t->nrows + want > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            float *nx;

            if (!mmdx__mul_size(ncap, rowbytes, &bytes))
                return mmdx__nomem(ctx);
            nx = mmdx__realloc(t->x, bytes);
            if (!nx)
                return mmdx__nomem(ctx);
            t->x = nx;
            cap = ncap;
        }
        st = mmdx__ftab_read(r, want, t->x + t->nrows * t->ncols, t->ncols,
                             NULL, &t->ids, &got);
        if (st)
            return st;
        if (!got)
            break;
        t->nrows += got;
    }
    t->names = r->names;        /* take the names (errors above used them) */
    r->names = NULL;
    return MMDX_OK;
}

enum mmdx_status mmdx__ftab_load(struct mmdx_ctx *ctx, const char *path,
                                 struct mmdx__ftab *t)
{
    return mmdx__ftab_load_hashed(ctx, path, t, NULL);
}

enum mmdx_status mmdx__ftab_load_hashed(struct mmdx_ctx *ctx,
                                        const char *path,
                                        struct mmdx__ftab *t,
                                        char hex[MMDX_SHA256_HEX])
{
    struct mmdx__ftab_reader *r;
    enum mmdx_status st;

    memset(t, 0, sizeof(*t));
    st = open_file(ctx, path, hex != NULL, &r);
    if (st)
        return st;
    st = load_all(ctx, r, t);
    if (!st && hex) {
        mmdx__sha256_final(r->hash, hex);   /* frees it */
        r->hash = NULL;
    }
    mmdx__ftab_close(r);
    if (st)
        mmdx__ftab_fini(t);
    return st;
}

enum mmdx_status mmdx__ftab_load_mem(struct mmdx_ctx *ctx, const char *name,
                                     const char *data, size_t len,
                                     struct mmdx__ftab *t)
{
    struct mmdx__ftab_reader *r;
    enum mmdx_status st;

    memset(t, 0, sizeof(*t));
    st = mmdx__ftab_open_mem(ctx, name, data, len, &r);
    if (st)
        return st;
    st = load_all(ctx, r, t);
    mmdx__ftab_close(r);
    if (st)
        mmdx__ftab_fini(t);
    return st;
}

void mmdx__ftab_fini(struct mmdx__ftab *t)
{
    size_t j;

    if (t->names)
        for (j = 0; j < t->ncols; j++)
            mmdx__free(t->names[j]);
    mmdx__free(t->names);
    mmdx__free(t->x);
    mmdx__idpool_fini(&t->ids);
    memset(t, 0, sizeof(*t));
}

/* ---- labels ------------------------------------------------------------ */

/* Split [s, e) into cells at tabs; returns the count (up to max). */
static size_t split_cells(const char *s, const char *e, const char **cs,
                          const char **ce, size_t max)
{
    size_t n = 0;

    for (;;) {
        const char *t = memchr(s, '\t', (size_t)(e - s));

        if (!t)
            t = e;
        if (n < max) {
            cs[n] = s;
            ce[n] = t;
        }
        n++;
        if (t == e)
            break;
        s = t + 1;
    }
    return n;
}

static bool cell_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(e - s) == n && !mmdx__strncasecmp(s, word, n);
}

#define LABEL_MAX_COLS 256

enum mmdx_status mmdx__labels_parse(struct mmdx_ctx *ctx, const char *name,
                                    char *data, size_t len,
                                    struct mmdx__labels *l)
{
    const char *cs[LABEL_MAX_COLS], *ce[LABEL_MAX_COLS];
    const char *s = data, *end = data + len;
    long line = 0;
    size_t ncol = 0, cap = 0, j;
    int c_id = -1, c_label = -1, c_split = -1;

    memset(l, 0, sizeof(*l));
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s)), *e;
        size_t n;

        e = nl ? nl : end;
        line++;
        if (e > s && e[-1] == '\r')
            e--;
        if (line == 1 && e - s >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
            s += 3;
        if (e == s) {
            if (line == 1)
                goto empty;
            s = nl ? nl + 1 : end;
            continue;
        }
        n = split_cells(s, e, cs, ce, LABEL_MAX_COLS);
        if (line == 1) {
            if (n > LABEL_MAX_COLS)
                return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, name, 1, NULL,
                                  "more than %d columns", LABEL_MAX_COLS);
            ncol = n;
            for (j = 0; j < n; j++) {
                if (cell_is(cs[j], ce[j], "patient_id"))
                    c_id = (int)j;
                else if (cell_is(cs[j], ce[j], "label"))
                    c_label = (int)j;
                else if (cell_is(cs[j], ce[j], "split"))
                    c_split = (int)j;
            }
            if (c_id < 0)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, 1,
                                  "patient_id", "no patient_id column");
            if (c_label < 0)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, 1,
                                  "label", "no label column");
            l->has_split = c_split >= 0;
        } else {
            signed char lab = -1, sp = MMDX_SPLIT_NONE;
            const char *a, *b;

            if (n != ncol)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, line,
                                  NULL, "expected %zu cells, got %zu", ncol,
                                  n);
            a = cs[c_label];
            b = ce[c_label];
            if (cell_is(a, b, "1") || cell_is(a, b, "1.0") ||
                cell_is(a, b, "true") || cell_is(a, b, "yes"))
                lab = 1;
            else if (cell_is(a, b, "0") || cell_is(a, b, "0.0") ||
                     cell_is(a, b, "false") || cell_is(a, b, "no"))
                lab = 0;
            else if (!(a == b || cell_is(a, b, "NA")))
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, line,
                                  "label", "expected 0, 1 or empty");
            if (c_split >= 0) {
                a = cs[c_split];
                b = ce[c_split];
                if (cell_is(a, b, "train"))
                    sp = MMDX_SPLIT_TRAIN;
                else if (cell_is(a, b, "valid") ||
                         cell_is(a, b, "validation") || cell_is(a, b, "val"))
                    sp = MMDX_SPLIT_VALID;
                else if (cell_is(a, b, "test"))
                    sp = MMDX_SPLIT_TEST;
                else if (a != b)
                    return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, line,
                                      "split",
                                      "expected train, valid, test or "
                                      "empty");
            }
            a = cs[c_id];
            b = ce[c_id];
            if (a == b)
                return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, line,
                                  "patient_id", "empty patient_id");
            if ((size_t)(b - a) > MMDX_FTAB_MAX_ID)
                return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, name, line,
                                  "patient_id",
                                  "patient_id longer than %d bytes",
                                  MMDX_FTAB_MAX_ID);
            if (l->ids.n == cap) {
                size_t ncap = cap ? cap * 2 : 1024;
                signed char *nl2 = mmdx__realloc(l->label, ncap), *ns;

                if (!nl2)
                    return mmdx__nomem(ctx);
                l->label = nl2;
                ns = mmdx__realloc(l->split, ncap);
                if (!ns)
                    return mmdx__nomem(ctx);
                l->split = ns;
                cap = ncap;
            }
            if (mmdx__idpool_add(&l->ids, a, (size_t)(b - a)))
                return mmdx__nomem(ctx);
            l->label[l->ids.n - 1] = lab;
            l->split[l->ids.n - 1] = sp;
        }
        s = nl ? nl + 1 : end;
    }
    if (line == 0) {
empty:
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, name, 1, NULL,
                          "empty file: no header");
    }
    return MMDX_OK;
}

enum mmdx_status mmdx__labels_load(struct mmdx_ctx *ctx, const char *path,
                                   struct mmdx__labels *l)
{
    char *data;
    size_t len;
    enum mmdx_status st;

    memset(l, 0, sizeof(*l));
    st = mmdx__file_read(ctx, path, MMDX_LABELS_MAX_BYTES, &data, &len);
    if (st)
        return st;
    st = mmdx__labels_parse(ctx, path, data, len, l);
    mmdx__free(data);
    if (st)
        mmdx__labels_fini(l);
    return st;
}

void mmdx__labels_fini(struct mmdx__labels *l)
{
    mmdx__idpool_fini(&l->ids);
    mmdx__free(l->label);
    mmdx__free(l->split);
    memset(l, 0, sizeof(*l));
}
