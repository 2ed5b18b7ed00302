/*
 * record_mmdx.c - mmdx's own record XML (schemas/record.xsd, format 1).
 * The document is validated against the schema first, so the reader only
 * converts values; a date the pattern lets through but the calendar does
 * not (2019-02-30) is still an error naming the line.
 */
#include "core/common.h"
#include "io/record_int.h"

#include <libxml/xmlschemas.h>

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

/* The first schema violation, its line and element. */
struct verr {
    char msg[512];
    char elem[128];
    long line;
    bool set;
};

static void schema_err(void *user, xmlErrorPtr e)
{
    struct verr *v = user;
    size_t n;

    if (v->set || !e)
        return;
    v->set = true;
    mmdx__strlcpy(v->msg, e->message ? e->message : "invalid",
                  sizeof(v->msg));
    n = strlen(v->msg);
    while (n && (v->msg[n - 1] == '\n' || v->msg[n - 1] == ' '))
        v->msg[--n] = '\0';
    v->line = e->line;
    if (e->node && ((xmlNodePtr)e->node)->name)
        mmdx__strlcpy(v->elem, (const char *)((xmlNodePtr)e->node)->name,
                      sizeof(v->elem));
}

/*
 * libxml2 quotes the offending value in its messages ("The value '12/03/
 * 1948' is not accepted by the pattern ..."): in a patient record that
 * value may identify someone, so every quoted string is replaced by "..."
 * except the names it quotes after Element, attribute, facet, type or
 * element, and the schema's own constants listed in braces.
 */
static void redact(char *msg)
{
    static const char *const keep[] = { "Element", "element", "attribute",
                                        "facet", "type" };
    char out[512];
    size_t o = 0, i = 0, k;
    int braces = 0;

    while (msg[i] && o + 6 < sizeof(out)) {
        if (msg[i] == '{')
            braces++;
        else if (msg[i] == '}' && braces > 0)
            braces--;
        if (msg[i] == '\'') {
            const char *end = strchr(msg + i + 1, '\'');
            size_t w = i, ws;
            bool named = braces > 0;

            while (w > 0 && msg[w - 1] == ' ')
                w--;
            ws = w;
            while (ws > 0 && isalnum_ascii(msg[ws - 1]))
                ws--;
            for (k = 0; k < MMDX_ARRAY_SIZE(keep); k++)
                if (w - ws == strlen(keep[k]) &&
                    memcmp(msg + ws, keep[k], w - ws) == 0)
                    named = true;
            if (end && !named) {
                memcpy(out + o, "'...'", 5);
                o += 5;
                i = (size_t)(end - msg) + 1;
                continue;
            }
            if (end) {
                size_t len = (size_t)(end - msg) + 1 - i;

                if (o + len >= sizeof(out))
                    break;
                memcpy(out + o, msg + i, len);
                o += len;
                i += len;
                continue;
            }
        }
        out[o++] = msg[i++];
    }
    out[o] = '\0';
    memcpy(msg, out, o + 1);
}

/* Validate against schemas/record.xsd (itself read hardened). */
static enum mmdx_status validate(struct rec_build *b, xmlDocPtr doc)
{
    struct mmdx_xml_opts o = { 0, 0, "io.record" };
    char *xsd = mmdx__data_path(b->ctx, "schemas/record.xsd");
    xmlDocPtr xsd_doc = NULL;
    xmlSchemaParserCtxtPtr spc = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaValidCtxtPtr vc = NULL;
    enum mmdx_status st;
    struct verr v;

    if (!xsd)
        return mmdx__nomem(b->ctx);
    memset(&v, 0, sizeof(v));
    st = mmdx__xml_read_file(b->ctx, xsd, &o, &xsd_doc);
    if (st)
        goto out;
    spc = xmlSchemaNewDocParserCtxt(xsd_doc);
    if (!spc) {
        st = mmdx__nomem(b->ctx);
        goto out;
    }
    xmlSchemaSetParserStructuredErrors(spc, schema_err, &v);
    schema = xmlSchemaParse(spc);
    if (!schema) {
        st = mmdx__fail(b->ctx, MMDX_E_INTERNAL, b->stage, xsd, v.line, NULL,
                        "schema does not compile: %s", v.msg);
        goto out;
    }
    vc = xmlSchemaNewValidCtxt(schema);
    if (!vc) {
        st = mmdx__nomem(b->ctx);
        goto out;
    }
    memset(&v, 0, sizeof(v));
    xmlSchemaSetValidStructuredErrors(vc, schema_err, &v);
    if (xmlSchemaValidateDoc(vc, doc) != 0) {
        redact(v.msg);
        st = mmdx__fail(b->ctx, MMDX_E_SCHEMA, b->stage, b->path, v.line,
                        v.elem[0] ? v.elem : NULL, "%s",
                        v.set ? v.msg : "document is not valid");
    }
out:
    if (vc)
        xmlSchemaFreeValidCtxt(vc);
    if (schema)
        xmlSchemaFree(schema);
    if (spc)
        xmlSchemaFreeParserCtxt(spc);
    if (xsd_doc)
        xmlFreeDoc(xsd_doc);
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
