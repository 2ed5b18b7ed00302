/*
 * record_mmdx.c - mmdx's own record XML (schemas/record.xsd, format 1).
 * The document is validated against the schema first, so the reader only
 * converts values; a date the pattern lets through but the calendar does
 * not (2019-02-30) is still an error naming the line.
 */
#include "core/common.h"
#include "io/record_int.h"


static bool is_r(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns &&
           strcmp((const char *)n->ns->href, MMDX_NS_RECORD) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr rchild(xmlNodePtr p, const char *name)
{
    xmlNodePtr c;

    for (c = p ? p->children : NULL; c; c = c->next)
        if (is_r(c, name))
            return c;
    return NULL;
}

static xmlNodePtr rnext(xmlNodePtr n, const char *name)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (is_r(n, name))
            return n;
    return NULL;
}

#define attr mmdx__rec_attr

static enum mmdx_status date_attr(struct rec_build *b, xmlNodePtr n,
                                  const char *name, struct mmdx_date *d)
{
    const char *v = attr(n, name);

    memset(d, 0, sizeof(*d));
    if (!v)
        return MMDX_OK;
    if (!mmdx__date_parse_fhir(v, d))
        return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                          mmdx__rec_line(n), name, "not a calendar date");
    return MMDX_OK;
}

static void codes_of(xmlNodePtr n, struct mmdx_code *codes, size_t *nc)
{
    xmlNodePtr c;

    for (c = rchild(n, "code"); c; c = rnext(c, "code"))
        mmdx__rec_codes_add(codes, nc,
                            mmdx__codesys_from_name(attr(c, "system")),
                            attr(c, "code"));
}

/* Validate against schemas/record.xsd (itself read hardened); quoted
 * values are redacted from the message, since they may identify. */
static enum mmdx_status validate(struct rec_build *b, xmlDocPtr doc)
{
    char *xsd = mmdx__data_path(b->ctx, "schemas/record.xsd");
    enum mmdx_status st;

    if (!xsd)
        return mmdx__nomem(b->ctx);
    st = mmdx__xml_validate_redacted(b->ctx, b->path, doc, xsd, b->stage);
    mmdx__free(xsd);
    return st;
}

enum mmdx_status mmdx__record_read_mmdx(struct rec_build *b, xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), pt, list, n;
    enum mmdx_status st = MMDX_OK;
    const char *v;

    if (!(b->flags & MMDX_RECORD_NOVALIDATE)) {
        st = validate(b, doc);
        if (st)
            return st;
    }
    if (!is_r(root, "record") || !(pt = rchild(root, "patient")))
        return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                          mmdx__rec_line(root), "record/patient", "missing");
    v = attr(pt, "sex");
    if (v && strcmp(v, "female") == 0)
        b->r->sex = MMDX_SEX_FEMALE;
    else if (v && strcmp(v, "male") == 0)
        b->r->sex = MMDX_SEX_MALE;
    else if (v && strcmp(v, "other") == 0)
        b->r->sex = MMDX_SEX_OTHER;
    st = date_attr(b, pt, "birth", &b->r->birth);
    if (!st && b->r->birth.prec != MMDX_DATE_NONE) {
        b->r->birth_field = "patient@birth";
        b->r->birth_line = mmdx__rec_line(pt);
    }
    if (!st && attr(pt, "birth"))
        st = mmdx__rec_idfield(b, "patient@birth", MMDX_ID_DATE,
                               attr(pt, "birth"));

    list = rchild(root, "observations");
    for (n = rchild(list, "observation"); n && !st;
         n = rnext(n, "observation")) {
        struct mmdx_obs o;
        double d;

        memset(&o, 0, sizeof(o));
        o.value = NAN;
        mmdx__rec_code_set(&o.code, mmdx__codesys_from_name(attr(n, "system")),
                           attr(n, "code"));
        if ((v = attr(n, "value")) != NULL) {
            if (!mmdx__parse_double(v, &d))
                return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                                  mmdx__rec_line(n), "observation@value",
                                  "not a finite number");
            o.value = d;
        }
        mmdx__rec_unit_set(o.unit, attr(n, "unit"));
        if (attr(n, "value-code"))
            mmdx__rec_code_set(&o.value_code,
                               mmdx__codesys_from_name(attr(n, "value-system")),
                               attr(n, "value-code"));
        st = date_attr(b, n, "date", &o.date);
        if (!st && (isnan(o.value) && !o.value_code.code[0]))
            b->r->counts.entries_skipped++;
        else if (!st)
            st = mmdx__rec_add_obs(b, &o);
    }

    list = rchild(root, "conditions");
    if (list)
        b->r->has_problem_list = true;
    for (n = rchild(list, "condition"); n && !st; n = rnext(n, "condition")) {
        struct mmdx_condition c;

        memset(&c, 0, sizeof(c));
        codes_of(n, c.codes, &c.ncodes);
        v = attr(n, "status");
        c.status = v && strcmp(v, "active") == 0     ? MMDX_COND_ACTIVE
                   : v && strcmp(v, "resolved") == 0 ? MMDX_COND_RESOLVED
                                                     : MMDX_COND_UNKNOWN;
        st = date_attr(b, n, "onset", &c.onset);
        if (!st)
            st = date_attr(b, n, "abatement", &c.abatement);
        if (!st)
            st = mmdx__rec_add_cond(b, &c);
    }

    list = rchild(root, "medications");
    if (list)
        b->r->has_med_list = true;
    for (n = rchild(list, "medication"); n && !st;
         n = rnext(n, "medication")) {
        struct mmdx_medication m;

        memset(&m, 0, sizeof(m));
        codes_of(n, m.codes, &m.ncodes);
        v = attr(n, "status");
        m.status = v && strcmp(v, "active") == 0    ? MMDX_MED_ACTIVE
                   : v && strcmp(v, "stopped") == 0 ? MMDX_MED_STOPPED
                                                    : MMDX_MED_UNKNOWN;
        st = date_attr(b, n, "start", &m.start);
        if (!st)
            st = date_attr(b, n, "end", &m.end);
        if (!st)
            st = mmdx__rec_add_med(b, &m);
    }
    return st;
}
