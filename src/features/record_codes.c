/*
 * record_codes.c - load the record.features code sets (schemas/codes/).
 *
 * Each file is UTF-8 TSV: a first line "#mmdx-codes<TAB>NAME<TAB>VERSION",
 * comment lines starting with '#', one header line naming the columns,
 * then rows. A file of another name or an unsupported version is refused,
 * as is a row with the wrong number of columns, naming file, line and
 * column.
 */
#include "core/common.h"
#include "core/xml.h"
#include "features/record_codes.h"
#include "io/record_int.h"

#define CODES_VERSION 1
#define CODES_MAX_BYTES ((size_t)4 << 20)
#define CODES_MAX_COLS 8
#define STAGE "record.features"

struct tsv {
    struct mmdx_ctx *ctx;
    char *path;
    char *data;
    char *cur;
    long line;
    char *col[CODES_MAX_COLS];
    size_t ncol;
};

/* Next data row into t->col; 0 at end, 1 for a row, <0 on error. */
static int tsv_next(struct tsv *t)
{
    while (*t->cur) {
        char *s = t->cur, *nl = strchr(s, '\n'), *p;

        if (nl) {
            *nl = '\0';
            t->cur = nl + 1;
        } else {
            t->cur = s + strlen(s);
        }
        t->line++;
        if (nl && nl > s && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        t->ncol = 0;
        for (p = s;; p++) {
            if (*p == '\t' || *p == '\0') {
                bool end = *p == '\0';

                if (t->ncol == CODES_MAX_COLS) {
                    mmdx__fail(t->ctx, MMDX_E_FORMAT, STAGE, t->path, t->line,
                               NULL, "more than %d columns", CODES_MAX_COLS);
                    return -1;
                }
                t->col[t->ncol++] = s;
                *p = '\0';
                s = p + 1;
                if (end)
                    break;
            }
        }
        return 1;
    }
    return 0;
}

static enum mmdx_status tsv_open(struct mmdx_ctx *ctx, struct tsv *t,
                                 const char *name, const char *header)
{
    char rel[128], want[128];
    size_t len;
    enum mmdx_status st;
    char *nl;
    int r;

    memset(t, 0, sizeof(*t));
    t->ctx = ctx;
    snprintf(rel, sizeof(rel), "schemas/codes/%s.tsv", name);
    t->path = mmdx__data_path(ctx, rel);
    if (!t->path)
        return mmdx__nomem(ctx);
    st = mmdx__file_read(ctx, t->path, CODES_MAX_BYTES, &t->data, &len);
    if (st)
        return st;
    if (memchr(t->data, '\0', len))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, t->path, 0, NULL,
                          "NUL byte in a code set");
    snprintf(want, sizeof(want), "#mmdx-codes\t%s\t%d", name, CODES_VERSION);
    nl = strchr(t->data, '\n');
    if (!nl || (size_t)(nl - t->data) != strlen(want) ||
        memcmp(t->data, want, strlen(want)) != 0)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, t->path, 1, NULL,
                          "expected the first line \"#mmdx-codes<TAB>%s<TAB>"
                          "%d\"",
                          name, CODES_VERSION);
    t->cur = t->data;
    r = tsv_next(t);
    if (r < 0)
        return MMDX_E_FORMAT;
    {
        char got[256] = "";
        size_t i;

        for (i = 0; r > 0 && i < t->ncol; i++) {
            if (i)
                mmdx__strlcpy(got + strlen(got), "\t",
                              sizeof(got) - strlen(got));
            mmdx__strlcpy(got + strlen(got), t->col[i],
                          sizeof(got) - strlen(got));
        }
        if (strcmp(got, header) != 0)
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, t->path, t->line,
                              NULL, "expected the header line \"%s\"",
                              header);
    }
    return MMDX_OK;
}

static void tsv_close(struct tsv *t)
{
    mmdx__free(t->path);
    mmdx__free(t->data);
}

static enum mmdx_status bad(struct tsv *t, const char *col, const char *why)
{
    return mmdx__fail(t->ctx, MMDX_E_FORMAT, STAGE, t->path, t->line, col,
                      "%s", why);
}

static bool copy_name(char *dst, const char *src)
{
    size_t n = strlen(src), i;

    if (n == 0 || n >= MMDX_CODES_NAME_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!isalnum_ascii(src[i]) && src[i] != '_')
            return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* "sys\tcode" with ICD dots removed; false when too long. */
static bool code_key(char *buf, size_t size, enum mmdx_codesys sys,
                     const char *code, size_t *len)
{
    bool icd = sys == MMDX_CS_ICD10 || sys == MMDX_CS_ICD10CM ||
               sys == MMDX_CS_ICD9CM;
    size_t n = 0;

    if (size < 4)
        return false;
    buf[n++] = (char)('a' + (int)sys);
    buf[n++] = '\t';
    for (; *code; code++) {
        if (icd && *code == '.')
            continue;
        if (n + 1 >= size)
            return false;
        buf[n++] = icd ? (char)toupper_ascii(*code) : *code;
    }
    buf[n] = '\0';
    *len = n;
    return true;
}

static enum mmdx_status load_measures(struct mmdx_ctx *ctx,
                                      struct mmdx_record_codes *c)
{
    struct tsv t;
    enum mmdx_status st = tsv_open(ctx, &t, "measures",
                                   "key\tfamily\tunit\tucum\tstats");
    int r;

    while (!st && (r = tsv_next(&t)) != 0) {
        struct mmdx_measure *m, *nm;

        if (r < 0) {
            st = MMDX_E_FORMAT;
            break;
        }
        if (t.ncol != 5) {
            st = bad(&t, NULL, "expected 5 columns");
            break;
        }
        if (c->nmeasures >= MMDX_CODES_MAX_SETS) {
            st = bad(&t, NULL, "too many measures");
            break;
        }
        nm = mmdx__realloc(c->measures, (c->nmeasures + 1) * sizeof(*nm));
        if (!nm) {
            st = mmdx__nomem(ctx);
            break;
        }
        c->measures = nm;
        m = &nm[c->nmeasures];
        memset(m, 0, sizeof(*m));
        if (!copy_name(m->key, t.col[0]))
            st = bad(&t, "key", "not a name ([A-Za-z0-9_], < 32 bytes)");
        else if (!copy_name(m->family, t.col[1]))
            st = bad(&t, "family", "not a name");
        else if (!copy_name(m->unit, t.col[2]))
            st = bad(&t, "unit", "not a name");
        else if (!mmdx__rec_unit_set(m->ucum, t.col[3]) || !m->ucum[0])
            st = bad(&t, "ucum", "empty or too long");
        else if (strcmp(t.col[4], "latest") != 0 &&
                 strcmp(t.col[4], "latest+mean") != 0)
            st = bad(&t, "stats", "expected latest or latest+mean");
        if (st)
            break;
        m->mean = strcmp(t.col[4], "latest+mean") == 0;
        c->nmeasures++;
    }
    tsv_close(&t);
    return st;
}

static int measure_index(const struct mmdx_record_codes *c, const char *key)
{
    size_t i;

    for (i = 0; i < c->nmeasures; i++)
        if (strcmp(c->measures[i].key, key) == 0)
            return (int)i;
    return -1;
}

static enum mmdx_status load_obs_codes(struct mmdx_ctx *ctx,
                                       struct mmdx_record_codes *c)
{
    struct tsv t;
    enum mmdx_status st = tsv_open(ctx, &t, "observation-codes",
                                   "system\tcode\tmeasure");
    int r;

    while (!st && (r = tsv_next(&t)) != 0) {
        enum mmdx_codesys cs;
        char key[64];
        size_t klen;
        int mi;

        if (r < 0) {
            st = MMDX_E_FORMAT;
            break;
        }
        if (t.ncol != 3) {
            st = bad(&t, NULL, "expected 3 columns");
            break;
        }
        cs = mmdx__codesys_from_name(t.col[0]);
        mi = measure_index(c, t.col[2]);
        if (cs == MMDX_CS_OTHER)
            st = bad(&t, "system", "unknown code system");
        else if (!*t.col[1] || !code_key(key, sizeof(key), cs, t.col[1], &klen))
            st = bad(&t, "code", "empty or too long");
        else if (mi < 0)
            st = bad(&t, "measure", "not in measures.tsv");
        else if (mmdx__strmap_put(&c->obs, key, klen,
                                  (void *)(intptr_t)(mi + 1)) != MMDX_OK)
            st = mmdx__nomem(ctx);
    }
    tsv_close(&t);
    return st;
}

static enum mmdx_status load_units(struct mmdx_ctx *ctx,
                                   struct mmdx_record_codes *c)
{
    struct tsv t;
    enum mmdx_status st = tsv_open(ctx, &t, "units",
                                   "measure\tunit\tfactor\toffset");
    int r;

    /* conversions live in one array: size it first so that the map's
     * pointers into it stay valid */
    if (!st) {
        size_t rows = 0;
        const char *p;

        for (p = t.cur; *p; p++)
            rows += *p == '\n';
        c->convs = mmdx__calloc(rows + 1, sizeof(*c->convs));
        if (!c->convs)
            st = mmdx__nomem(ctx);
        c->cap_convs = rows + 1;
    }
    while (!st && (r = tsv_next(&t)) != 0) {
        char key[64];
        double f, o;
        int mi;

        if (r < 0) {
            st = MMDX_E_FORMAT;
            break;
        }
        if (t.ncol != 4) {
            st = bad(&t, NULL, "expected 4 columns");
            break;
        }
        mi = measure_index(c, t.col[0]);
        if (mi < 0)
            st = bad(&t, "measure", "not in measures.tsv");
        else if (!*t.col[1] || strlen(t.col[1]) >= MMDX_RECORD_UNIT_MAX)
            st = bad(&t, "unit", "empty or too long");
        else if (!mmdx__parse_double(t.col[2], &f) || f <= 0)
            st = bad(&t, "factor", "expected a number > 0");
        else if (!mmdx__parse_double(t.col[3], &o))
            st = bad(&t, "offset", "expected a number");
        else if (c->nconvs >= c->cap_convs)
            st = bad(&t, NULL, "too many rows");
        if (st)
            break;
        c->convs[c->nconvs].factor = f;
        c->convs[c->nconvs].offset = o;
        snprintf(key, sizeof(key), "%d\t%s", mi, t.col[1]);
        if (mmdx__strmap_put(&c->units, key, strlen(key),
                             &c->convs[c->nconvs]) != MMDX_OK)
            st = mmdx__nomem(ctx);
        c->nconvs++;
    }
    tsv_close(&t);
    return st;
}

static enum mmdx_status load_codeset(struct mmdx_ctx *ctx,
                                     struct mmdx_codeset *s, const char *name,
                                     const char *header)
{
    struct tsv t;
    enum mmdx_status st = tsv_open(ctx, &t, name, header);
    int r;

    if (!st) {
        size_t rows = 0;
        const char *p;

        for (p = t.cur; *p; p++)
            rows += *p == '\n';
        s->masks = mmdx__calloc(rows + 1, sizeof(*s->masks));
        if (!s->masks)
            st = mmdx__nomem(ctx);
        s->cap_masks = rows + 1;
    }
    while (!st && (r = tsv_next(&t)) != 0) {
        enum mmdx_codesys cs;
        struct mmdx_strmap *m;
        char key[64];
        size_t klen;
        void **ref;
        int gi;

        if (r < 0) {
            st = MMDX_E_FORMAT;
            break;
        }
        if (t.ncol != 4) {
            st = bad(&t, NULL, "expected 4 columns");
            break;
        }
        gi = mmdx__codeset_find(s, t.col[0]);
        if (gi < 0) {
            if (s->n >= MMDX_CODES_MAX_SETS) {
                st = bad(&t, NULL, "more than 64 sets");
                break;
            }
            if (!copy_name(s->names[s->n], t.col[0])) {
                st = bad(&t, "name",
                         "not a name ([A-Za-z0-9_], < 32 bytes)");
                break;
            }
            gi = (int)s->n++;
        }
        cs = mmdx__codesys_from_name(t.col[1]);
        if (cs == MMDX_CS_OTHER) {
            st = bad(&t, "system", "unknown code system");
            break;
        }
        if (!*t.col[2] || !code_key(key, sizeof(key), cs, t.col[2], &klen)) {
            st = bad(&t, "code", "empty or too long");
            break;
        }
        if (strcmp(t.col[3], "exact") == 0) {
            m = &s->exact;
        } else if (strcmp(t.col[3], "prefix") == 0) {
            m = &s->prefix;
            if (klen - 2 > s->max_prefix)
                s->max_prefix = klen - 2;
        } else {
            st = bad(&t, "match", "expected exact or prefix");
            break;
        }
        ref = mmdx__strmap_ref(m, key, klen);
        if (ref) {
            *(uint64_t *)*ref |= (uint64_t)1 << gi;
            continue;
        }
        if (s->nmasks >= s->cap_masks) {
            st = bad(&t, NULL, "too many rows");
            break;
        }
        s->masks[s->nmasks] = (uint64_t)1 << gi;
        if (mmdx__strmap_put(m, key, klen, &s->masks[s->nmasks]) != MMDX_OK) {
            st = mmdx__nomem(ctx);
            break;
        }
        s->nmasks++;
    }
    tsv_close(&t);
    return st;
}

enum mmdx_status mmdx__record_codes_load(struct mmdx_ctx *ctx,
                                         struct mmdx_record_codes *c)
{
    enum mmdx_status st;

    memset(c, 0, sizeof(*c));
    st = load_measures(ctx, c);
    if (!st)
        st = load_obs_codes(ctx, c);
    if (!st)
        st = load_units(ctx, c);
    if (!st)
        st = load_codeset(ctx, &c->conds, "conditions",
                          "group\tsystem\tcode\tmatch");
    if (!st)
        st = load_codeset(ctx, &c->meds, "medications",
                          "class\tsystem\tcode\tmatch");
    return st;
}

static void codeset_fini(struct mmdx_codeset *s)
{
    mmdx__strmap_fini(&s->exact);
    mmdx__strmap_fini(&s->prefix);
    mmdx__free(s->masks);
}

void mmdx__record_codes_fini(struct mmdx_record_codes *c)
{
    mmdx__free(c->measures);
    mmdx__strmap_fini(&c->obs);
    mmdx__strmap_fini(&c->units);
    mmdx__free(c->convs);
    codeset_fini(&c->conds);
    codeset_fini(&c->meds);
    memset(c, 0, sizeof(*c));
}

int mmdx__record_codes_measure(const struct mmdx_record_codes *c,
                               const struct mmdx_code *code)
{
    char key[MMDX_RECORD_CODE_MAX + 4];
    size_t klen;

    if (!code->code[0] ||
        !code_key(key, sizeof(key), code->sys, code->code, &klen))
        return -1;
    return (int)(intptr_t)mmdx__strmap_get(&c->obs, key, klen) - 1;
}

const struct mmdx_unit_conv *
mmdx__record_codes_unit(const struct mmdx_record_codes *c, int i,
                        const char *unit)
{
    char key[MMDX_RECORD_UNIT_MAX + 16];
    int n = snprintf(key, sizeof(key), "%d\t%s", i, unit);

    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    return mmdx__strmap_get(&c->units, key, (size_t)n);
}

uint64_t mmdx__codeset_match(const struct mmdx_codeset *s,
                             const struct mmdx_code *code)
{
    char key[MMDX_RECORD_CODE_MAX + 4];
    size_t klen, n;
    uint64_t mask = 0;
    const uint64_t *v;

    if (!code->code[0] ||
        !code_key(key, sizeof(key), code->sys, code->code, &klen))
        return 0;
    v = mmdx__strmap_get(&s->exact, key, klen);
    if (v)
        mask |= *v;
    /* prefixes, longest first: at most max_prefix probes */
    n = klen - 2 < s->max_prefix ? klen - 2 : s->max_prefix;
    for (; n > 0; n--) {
        v = mmdx__strmap_get(&s->prefix, key, n + 2);
        if (v)
            mask |= *v;
    }
    return mask;
}

int mmdx__codeset_find(const struct mmdx_codeset *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (int)i;
    return -1;
}
