/*
 * record.c - the patient record: allocation, dates, code systems and the
 * entry point that picks a reader from the root element.
 */
#include "core/common.h"
#include "io/record_int.h"

#include <time.h>

/* ---- dates ---------------------------------------------------------------- */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool date_ok(const struct mmdx_date *d)
{
    if (d->year < 1 || d->year > 9999)
        return false;
    if (d->prec >= MMDX_DATE_MONTH && (d->month < 1 || d->month > 12))
        return false;
    if (d->prec >= MMDX_DATE_DAY &&
        (d->day < 1 || d->day > days_in_month(d->year, d->month)))
        return false;
    return d->sec >= 0 && d->sec < 86400 + 1; /* leap second */
}

/* Time-zone suffix: "Z", "+hh:mm", "-hh:mm" (FHIR) or "+hhmm" (HL7). */
static bool tz_ok(const char *s, bool colon)
{
    if (*s == '\0')
        return true;
    if (colon && strcmp(s, "Z") == 0)
        return true;
    if (*s != '+' && *s != '-')
        return false;
    s++;
    if (digits(s, 2) < 0 || digits(s, 2) > 14)
        return false;
    s += 2;
    if (colon) {
        if (*s++ != ':')
            return false;
    }
    return digits(s, 2) >= 0 && digits(s, 2) < 60 && s[2] == '\0';
}

bool mmdx__date_parse_fhir(const char *s, struct mmdx_date *d)
{
    int h, mi, se = 0;

    memset(d, 0, sizeof(*d));
    if (!s || (d->year = digits(s, 4)) < 0)
        goto bad;
    s += 4;
    d->prec = MMDX_DATE_YEAR;
    if (*s == '-') {
        if ((d->month = digits(s + 1, 2)) < 0)
            goto bad;
        s += 3;
        d->prec = MMDX_DATE_MONTH;
        if (*s == '-') {
            if ((d->day = digits(s + 1, 2)) < 0)
                goto bad;
            s += 3;
            d->prec = MMDX_DATE_DAY;
            if (*s == 'T') {
                h = digits(s + 1, 2);
                if (h < 0 || h > 23 || s[3] != ':')
                    goto bad;
                mi = digits(s + 4, 2);
                if (mi < 0 || mi > 59)
                    goto bad;
                s += 6;
                if (*s == ':') {
                    se = digits(s + 1, 2);
                    if (se < 0 || se > 60)
                        goto bad;
                    s += 3;
                    if (*s == '.') {
                        s++;
                        if (*s < '0' || *s > '9')
                            goto bad;
                        while (*s >= '0' && *s <= '9')
                            s++;
                    }
                }
                d->sec = h * 3600 + mi * 60 + se;
                d->prec = MMDX_DATE_TIME;
                if (!tz_ok(s, true))
                    goto bad;
                s += strlen(s);
            }
        }
    }
    if (*s != '\0' || !date_ok(d))
        goto bad;
    return true;
bad:
    memset(d, 0, sizeof(*d));
    return false;
}

bool mmdx__date_parse_hl7(const char *s, struct mmdx_date *d)
{
    size_t n = 0;
    int h = 0, mi = 0, se = 0;

    memset(d, 0, sizeof(*d));
    if (!s)
        return false;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14)
        goto bad;
    d->year = digits(s, 4);
    d->prec = MMDX_DATE_YEAR;
    if (n >= 6) {
        d->month = digits(s + 4, 2);
        d->prec = MMDX_DATE_MONTH;
    }
    if (n >= 8) {
        d->day = digits(s + 6, 2);
        d->prec = MMDX_DATE_DAY;
    }
    if (n >= 10) {
        h = digits(s + 8, 2);
        if (n >= 12)
            mi = digits(s + 10, 2);
        if (n >= 14)
            se = digits(s + 12, 2);
        if (h > 23 || mi > 59 || se > 60)
            goto bad;
        d->sec = h * 3600 + mi * 60 + se;
        d->prec = MMDX_DATE_TIME;
    }
    s += n;
    if (*s == '.') {
        if (n != 14)
            goto bad;
        s++;
        if (*s < '0' || *s > '9')
            goto bad;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (!tz_ok(s, false) || !date_ok(d))
        goto bad;
    return true;
bad:
    memset(d, 0, sizeof(*d));
    return false;
}

bool mmdx__date_parse(const char *s, struct mmdx_date *d)
{
    return mmdx__date_parse_fhir(s, d);
}

int mmdx__date_cmp(const struct mmdx_date *a, const struct mmdx_date *b)
{
    long ka, kb;

    if (a->prec == MMDX_DATE_NONE || b->prec == MMDX_DATE_NONE)
        return (a->prec != MMDX_DATE_NONE) - (b->prec != MMDX_DATE_NONE);
    ka = (long)a->year * 10000 + a->month * 100 + a->day;
    kb = (long)b->year * 10000 + b->month * 100 + b->day;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return (a->sec > b->sec) - (a->sec < b->sec);
}

/* Days from 0000-03-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days-from-civil shifted so no negative numbers arise for y >= 1). */
static long civil_days(int y, int m, int d)
{
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe;
}

double mmdx__date_mid_days(const struct mmdx_date *d)
{
    switch (d->prec) {
    case MMDX_DATE_YEAR:
        return (double)civil_days(d->year, 1, 1) +
               (is_leap(d->year) ? 366.0 : 365.0) / 2.0;
    case MMDX_DATE_MONTH:
        return (double)civil_days(d->year, d->month, 1) +
               days_in_month(d->year, d->month) / 2.0;
    case MMDX_DATE_DAY:
        return (double)civil_days(d->year, d->month, d->day) + 0.5;
    case MMDX_DATE_TIME:
        return (double)civil_days(d->year, d->month, d->day) +
               d->sec / 86400.0;
    default:
        return NAN;
    }
}

/* a and b compared at the coarser of their precisions: <0, 0, >0. */
static int cmp_common(const struct mmdx_date *a, const struct mmdx_date *b)
{
    enum mmdx_date_prec p = a->prec < b->prec ? a->prec : b->prec;
    long ka = a->year, kb = b->year;

    if (p >= MMDX_DATE_MONTH) {
        ka = ka * 100 + a->month;
        kb = kb * 100 + b->month;
    }
    if (p >= MMDX_DATE_DAY) {
        ka = ka * 100 + a->day;
        kb = kb * 100 + b->day;
    }
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (p >= MMDX_DATE_TIME)
        return (a->sec > b->sec) - (a->sec < b->sec);
    return 0;
}

enum mmdx_age_class mmdx__record_age(const struct mmdx_date *birth,
                                     const struct mmdx_date *ref,
                                     double *years)
{
    struct mmdx_date b90;
    double y;

    *years = NAN;
    if (birth->prec == MMDX_DATE_NONE || ref->prec == MMDX_DATE_NONE)
        return MMDX_AGE_UNKNOWN;
    if (cmp_common(birth, ref) > 0)
        return MMDX_AGE_BIRTH_AFTER;
    y = (mmdx__date_mid_days(ref) - mmdx__date_mid_days(birth)) / 365.2425;
    if (y < 0)
        y = 0; /* born in the study's year (or month): midpoints reversed */
    *years = y;
    if (y > MMDX_RECORD_AGE_MAX)
        return MMDX_AGE_TOO_OLD;
    if (y >= MMDX_RECORD_AGE_TOP)
        return MMDX_AGE_90_PLUS;
    /* the 90th birthday, at the birth date's precision */
    b90 = *birth;
    b90.year += 90;
    if (b90.year > 9999)
        return MMDX_AGE_OK;
    if (b90.prec >= MMDX_DATE_DAY && b90.month == 2 && b90.day == 29 &&
        !is_leap(b90.year))
        b90.day = 28;
    return mmdx__date_mid_days(&b90) <= mmdx__date_mid_days(ref)
               ? MMDX_AGE_90_PLUS : MMDX_AGE_OK;
}

static void latest_of(struct mmdx_date *best, const struct mmdx_date *d)
{
    if (d->prec != MMDX_DATE_NONE && mmdx__date_cmp(d, best) > 0)
        *best = *d;
}

bool mmdx__record_ref_date(const struct mmdx_record *r,
                           const char *study_date, struct mmdx_date *ref)
{
    size_t i;

    memset(ref, 0, sizeof(*ref));
    if (study_date && *study_date)
        return mmdx__date_parse(study_date, ref);
    for (i = 0; i < r->nobs; i++)
        latest_of(ref, &r->obs[i].date);
    for (i = 0; i < r->nconds; i++) {
        latest_of(ref, &r->conds[i].onset);
        latest_of(ref, &r->conds[i].abatement);
    }
    for (i = 0; i < r->nmeds; i++) {
        latest_of(ref, &r->meds[i].start);
        latest_of(ref, &r->meds[i].end);
    }
    return true;
}

void mmdx__date_today(struct mmdx_date *d)
{
    time_t now = time(NULL);
    struct tm tm;

    memset(d, 0, sizeof(*d));
    if (now == (time_t)-1 || !gmtime_r(&now, &tm))
        return;
    d->year = tm.tm_year + 1900;
    d->month = tm.tm_mon + 1;
    d->day = tm.tm_mday;
    d->prec = MMDX_DATE_DAY;
}

/* ---- code systems ----------------------------------------------------------- */

static const struct {
    enum mmdx_codesys cs;
    const char *name, *uri, *uri2, *oid;
} codesys[] = {
    { MMDX_CS_LOINC, "loinc", "http://loinc.org", NULL,
      "2.16.840.1.113883.6.1" },
    { MMDX_CS_SNOMED, "snomed", "http://snomed.info/sct", NULL,
      "2.16.840.1.113883.6.96" },
    { MMDX_CS_ICD10CM, "icd10cm", "http://hl7.org/fhir/sid/icd-10-cm", NULL,
      "2.16.840.1.113883.6.90" },
    { MMDX_CS_ICD10, "icd10", "http://hl7.org/fhir/sid/icd-10", NULL,
      "2.16.840.1.113883.6.3" },
    { MMDX_CS_ICD9CM, "icd9cm", "http://hl7.org/fhir/sid/icd-9-cm", NULL,
      "2.16.840.1.113883.6.103" },
    { MMDX_CS_RXNORM, "rxnorm", "http://www.nlm.nih.gov/research/umls/rxnorm",
      NULL, "2.16.840.1.113883.6.88" },
    { MMDX_CS_ATC, "atc", "http://www.whocc.no/atc",
      "http://www.whocc.no/atc/", "2.16.840.1.113883.6.73" },
};

enum mmdx_codesys mmdx__codesys_from_uri(const char *uri)
{
    size_t i;

    if (!uri)
        return MMDX_CS_OTHER;
    if (strncmp(uri, "urn:oid:", 8) == 0)
        return mmdx__codesys_from_oid(uri + 8);
    for (i = 0; i < MMDX_ARRAY_SIZE(codesys); i++)
        if (strcmp(uri, codesys[i].uri) == 0 ||
            (codesys[i].uri2 && strcmp(uri, codesys[i].uri2) == 0))
            return codesys[i].cs;
    return MMDX_CS_OTHER;
}

enum mmdx_codesys mmdx__codesys_from_oid(const char *oid)
{
    size_t i;

    if (!oid)
        return MMDX_CS_OTHER;
    for (i = 0; i < MMDX_ARRAY_SIZE(codesys); i++)
        if (strcmp(oid, codesys[i].oid) == 0)
            return codesys[i].cs;
    return MMDX_CS_OTHER;
}

const char *mmdx__codesys_name(enum mmdx_codesys cs)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(codesys); i++)
        if (codesys[i].cs == cs)
            return codesys[i].name;
    return "other";
}

enum mmdx_codesys mmdx__codesys_from_name(const char *name)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(codesys); i++)
        if (strcmp(name, codesys[i].name) == 0)
            return codesys[i].cs;
    return MMDX_CS_OTHER;
}

/* ---- building --------------------------------------------------------------- */

/* Grow an array of items of size sz to hold one more. */
static enum mmdx_status grow(struct rec_build *b, void **v, size_t n,
                             size_t *cap, size_t sz)
{
    size_t ncap, bytes;
    void *nv;

    if (n < *cap)
        return MMDX_OK;
    if (n >= MMDX_RECORD_MAX_ITEMS)
        return mmdx__fail(b->ctx, MMDX_E_LIMIT, b->stage, b->path, 0, NULL,
                          "more than %d entries of one kind",
                          MMDX_RECORD_MAX_ITEMS);
    ncap = *cap ? *cap * 2 : 16;
    if (!mmdx__mul_size(ncap, sz, &bytes))
        return mmdx__nomem(b->ctx);
    nv = mmdx__realloc(*v, bytes);
    if (!nv)
        return mmdx__nomem(b->ctx);
    *v = nv;
    *cap = ncap;
    return MMDX_OK;
}

enum mmdx_status mmdx__rec_add_obs(struct rec_build *b,
                                   const struct mmdx_obs *o)
{
    struct mmdx_record *r = b->r;
    enum mmdx_status st = grow(b, (void **)&r->obs, r->nobs, &r->cap_obs,
                               sizeof(*o));

    if (st)
        return st;
    r->obs[r->nobs++] = *o;
    return MMDX_OK;
}

enum mmdx_status mmdx__rec_add_cond(struct rec_build *b,
                                    const struct mmdx_condition *c)
{
    struct mmdx_record *r = b->r;
    enum mmdx_status st = grow(b, (void **)&r->conds, r->nconds,
                               &r->cap_conds, sizeof(*c));

    if (st)
        return st;
    r->conds[r->nconds++] = *c;
    return MMDX_OK;
}

enum mmdx_status mmdx__rec_add_med(struct rec_build *b,
                                   const struct mmdx_medication *m)
{
    struct mmdx_record *r = b->r;
    enum mmdx_status st = grow(b, (void **)&r->meds, r->nmeds, &r->cap_meds,
                               sizeof(*m));

    if (st)
        return st;
    r->meds[r->nmeds++] = *m;
    return MMDX_OK;
}

enum mmdx_status mmdx__rec_idfield(struct rec_build *b, const char *field,
                                   enum mmdx_id_kind kind, const char *value)
{
    struct mmdx_record *r = b->r;
    enum mmdx_status st;
    char *copy;

    if (!(b->flags & MMDX_RECORD_IDFIELDS))
        return MMDX_OK;
    st = grow(b, (void **)&r->idf, r->nidf, &r->cap_idf, sizeof(*r->idf));
    if (st)
        return st;
    copy = mmdx__strdup(value ? value : "");
    if (!copy)
        return mmdx__nomem(b->ctx);
    r->idf[r->nidf].field = field;
    r->idf[r->nidf].kind = (int)kind;
    r->idf[r->nidf].value = copy;
    r->nidf++;
    return MMDX_OK;
}

/* Append the text under n to d, stopping quietly at d's limit. */
static enum mmdx_status node_text(struct mmdx_dstr *d, xmlNodePtr n,
                                  int depth)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;

    for (c = n->children; c && !st && d->len < d->max; c = c->next) {
        if (c->type == XML_TEXT_NODE && c->content) {
            const char *t = (const char *)c->content;
            size_t room = d->max - d->len, len;

            if (d->len == 0) /* leading white space says nothing */
                while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
                    t++;
            len = strlen(t);
            st = mmdx__dstr_add(d, t, len < room ? len : room);
        } else if (c->type == XML_ELEMENT_NODE && depth < 64) {
            st = node_text(d, c, depth + 1);
        }
    }
    return st == MMDX_E_NOMEM ? st : MMDX_OK;
}

enum mmdx_status mmdx__rec_idfield_node(struct rec_build *b,
                                        const char *field,
                                        enum mmdx_id_kind kind,
                                        xmlNodePtr node)
{
    struct mmdx_dstr d;
    enum mmdx_status st;

    if (!(b->flags & MMDX_RECORD_IDFIELDS))
        return MMDX_OK;
    /* narrative is cut short: the gate needs to see that text is there,
     * not all of it (and copying whole narratives would cost more than
     * the extraction) */
    mmdx__dstr_init(&d, kind == MMDX_ID_FREE_TEXT ? MMDX_RECORD_TEXT_MAX
                                                  : 4096);
    st = node_text(&d, node, 0);
    if (!st)
        st = mmdx__rec_idfield(b, field, kind, d.s);
    else
        st = mmdx__nomem(b->ctx);
    memset(d.s, 0, d.len);
    mmdx__dstr_fini(&d);
    return st;
}

bool mmdx__rec_code_set(struct mmdx_code *c, enum mmdx_codesys sys,
                        const char *code)
{
    size_t n = code ? strlen(code) : 0;

    c->code[0] = '\0';
    c->sys = sys;
    if (n == 0 || n >= sizeof(c->code))
        return false;
    memcpy(c->code, code, n + 1);
    return true;
}

void mmdx__rec_codes_add(struct mmdx_code *codes, size_t *n,
                         enum mmdx_codesys sys, const char *code)
{
    if (*n >= MMDX_RECORD_NCODES)
        return;
    if (mmdx__rec_code_set(&codes[*n], sys, code))
        (*n)++;
}

bool mmdx__rec_unit_set(char *dst, const char *unit)
{
    size_t n = unit ? strlen(unit) : 0;

    dst[0] = '\0';
    if (n == 0 || n >= MMDX_RECORD_UNIT_MAX)
        return n == 0;
    memcpy(dst, unit, n + 1);
    return true;
}

const char *mmdx__rec_attr(xmlNodePtr n, const char *name)
{
    xmlAttrPtr a;

    if (!n || n->type != XML_ELEMENT_NODE)
        return NULL;
    for (a = n->properties; a; a = a->next) {
        if (a->ns == NULL && strcmp((const char *)a->name, name) == 0) {
            if (a->children && a->children->type == XML_TEXT_NODE &&
                !a->children->next && a->children->content)
                return (const char *)a->children->content;
            return a->children ? NULL : "";
        }
    }
    return NULL;
}

long mmdx__rec_line(xmlNodePtr n)
{
    return n ? (long)xmlGetLineNo(n) : 0;
}

/* ---- entry points ---------------------------------------------------------- */

void mmdx__record_free(struct mmdx_record *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nidf; i++) {
        if (r->idf[i].value) /* wipe: it may identify someone */
            memset(r->idf[i].value, 0, strlen(r->idf[i].value));
        mmdx__free(r->idf[i].value);
    }
    mmdx__free(r->idf);
    mmdx__free(r->obs);
    mmdx__free(r->conds);
    mmdx__free(r->meds);
    mmdx__free(r);
}

void mmdx__record_free_v(void *r)
{
    mmdx__record_free(r);
}

static enum mmdx_status read_doc(struct mmdx_ctx *ctx, const char *path,
                                 xmlDocPtr doc, unsigned flags,
                                 struct mmdx_record **out)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    struct rec_build b;
    enum mmdx_status st;
    const char *ns = root->ns && root->ns->href ? (const char *)root->ns->href
                                                : NULL;

    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    b.path = path;
    b.flags = flags;
    b.r = mmdx__calloc(1, sizeof(*b.r));
    if (!b.r)
        return mmdx__nomem(ctx);
    if (ns && strcmp(ns, MMDX_NS_FHIR) == 0) {
        b.stage = "io.fhir";
        b.r->source = MMDX_RECORD_SRC_FHIR;
        st = mmdx__record_read_fhir(&b, doc);
    } else if (ns && strcmp(ns, MMDX_NS_V3) == 0 &&
               strcmp((const char *)root->name, "ClinicalDocument") == 0) {
        b.stage = "io.ccda";
        b.r->source = MMDX_RECORD_SRC_CDA;
        st = mmdx__record_read_cda(&b, doc);
    } else if (ns && strcmp(ns, MMDX_NS_RECORD) == 0) {
        b.stage = "io.record";
        b.r->source = MMDX_RECORD_SRC_MMDX;
        st = mmdx__record_read_mmdx(&b, doc);
    } else {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "io.record", path,
                        mmdx__rec_line(root), (const char *)root->name,
                        "not a patient record: root element in namespace "
                        "\"%s\" (expected FHIR, HL7 v3 ClinicalDocument or "
                        "urn:mmdx:record:1)",
                        ns ? ns : "");
    }
    if (st) {
        mmdx__record_free(b.r);
        return st;
    }
    *out = b.r;
    return MMDX_OK;
}

enum mmdx_status mmdx__record_read_mem(struct mmdx_ctx *ctx, const char *path,
                                       const char *data, size_t len,
                                       unsigned flags,
                                       struct mmdx_record **out)
{
    struct mmdx_xml_opts o = { 0, 0, "io.record" };
    xmlDocPtr doc;
    enum mmdx_status st;

    *out = NULL;
    st = mmdx__xml_read_mem(ctx, path, data, len, &o, &doc);
    if (st)
        return st;
    st = read_doc(ctx, path, doc, flags, out);
    xmlFreeDoc(doc);
    return st;
}

enum mmdx_status mmdx__record_read_file(struct mmdx_ctx *ctx,
                                        const char *path, unsigned flags,
                                        struct mmdx_record **out)
{
    struct mmdx_xml_opts o = { 0, 0, "io.record" };
    xmlDocPtr doc;
    enum mmdx_status st;

    *out = NULL;
    st = mmdx__xml_read_file(ctx, path, &o, &doc);
    if (st)
        return st;
    st = read_doc(ctx, path, doc, flags, out);
    xmlFreeDoc(doc);
    return st;
}
