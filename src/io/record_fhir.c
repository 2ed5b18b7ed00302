/*
 * record_fhir.c - HL7 FHIR R4 XML: a Bundle or a single resource.
 *
 * A direct walk of the tree, namespace-checked at every step (elements
 * must be in http://hl7.org/fhir): each resource is visited once, and
 * references (medicationReference) resolve through a hash map of the
 * Bundle's fullUrl (urn:uuid:...) and Type/id keys, or "#id" for contained
 * resources. Values come from coded elements only, never from narrative.
 */
#include "core/common.h"
#include "io/record_int.h"
#include "io/record_map.h"



struct fhir {
    struct rec_build *b;
    struct mmdx_strmap urls;    /* fullUrl -> resource node */
    struct mmdx_strmap ids;     /* Resource.id -> resource node (the keys
                                   are the document's own strings) */
    xmlNodePtr bundle;          /* the Bundle root, NULL for one resource */
    bool indexed;               /* refs built (lazily: most bundles never
                                   need it) */
    size_t npatients;
    const xmlNs *ns;            /* last namespace seen to be FHIR's */
    bool composition;           /* a Composition says which lists exist */
};

/* The FHIR namespace test costs a pointer compare once the document's
 * xmlNs is known (all elements usually share the root's declaration). */
static bool ns_f(struct fhir *f, const xmlNs *ns)
{
    if (!ns)
        return false;
    if (ns == f->ns)
        return true;
    if (ns->href && strcmp((const char *)ns->href, MMDX_NS_FHIR) == 0) {
        f->ns = ns;
        return true;
    }
    return false;
}

static bool is_f(struct fhir *f, xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && ns_f(f, n->ns) &&
           strcmp((const char *)n->name, name) == 0;
}

static bool is_any_f(struct fhir *f, xmlNodePtr n)
{
    return n && n->type == XML_ELEMENT_NODE && ns_f(f, n->ns);
}

static xmlNodePtr fchild(struct fhir *f, xmlNodePtr p, const char *name)
{
    xmlNodePtr c;

    for (c = p ? p->children : NULL; c; c = c->next)
        if (is_f(f, c, name))
            return c;
    return NULL;
}

static xmlNodePtr fnext(struct fhir *f, xmlNodePtr n, const char *name)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (is_f(f, n, name))
            return n;
    return NULL;
}

/* The @value of child `name` of p. */
static const char *fval(struct fhir *f, xmlNodePtr p, const char *name)
{
    return mmdx__rec_attr(fchild(f, p, name), "value");
}

/* First element child of n in the FHIR namespace (a resource). */
static xmlNodePtr first_f(struct fhir *f, xmlNodePtr n)
{
    xmlNodePtr c;

    for (c = n ? n->children : NULL; c; c = c->next)
        if (is_any_f(f, c))
            return c;
    return NULL;
}

/* Concatenate every descendant @value (FHIR primitive values) of n. */
static enum mmdx_status values_of(struct mmdx_dstr *d, xmlNodePtr n,
                                  int depth)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;

    for (c = n->children; c && !st; c = c->next) {
        const char *v;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        v = mmdx__rec_attr(c, "value");
        if (v && *v) {
            if (d->len)
                st = mmdx__dstr_add(d, " ", 1);
            if (!st)
                st = mmdx__dstr_adds(d, v);
        }
        if (!st && depth < 16)
            st = values_of(d, c, depth + 1);
    }
    return st;
}

/* Report the FHIR values under n as one identifying field. */
static enum mmdx_status idf_values(struct fhir *f, const char *field,
                                   enum mmdx_id_kind kind, xmlNodePtr n)
{
    struct mmdx_dstr d;
    enum mmdx_status st;

    if (!(f->b->flags & MMDX_RECORD_IDFIELDS))
        return MMDX_OK;
    mmdx__dstr_init(&d, 4096);
    st = values_of(&d, n, 0);
    if (st == MMDX_E_NOMEM)
        st = mmdx__nomem(f->b->ctx);
    else
        st = mmdx__rec_idfield(f->b, field, kind, d.s);
    memset(d.s, 0, d.len);
    mmdx__dstr_fini(&d);
    return st;
}

/* Resource.text/div (XHTML narrative), and Reference.display of the
 * subject/patient, which often names the patient. */
static enum mmdx_status common_idfields(struct fhir *f, xmlNodePtr res)
{
    xmlNodePtr t = fchild(f, res, "text"), c;
    enum mmdx_status st = MMDX_OK;

    if (!(f->b->flags & MMDX_RECORD_IDFIELDS))
        return MMDX_OK;
    for (c = t ? t->children : NULL; c && !st; c = c->next)
        if (c->type == XML_ELEMENT_NODE && c->ns &&
            strcmp((const char *)c->ns->href, MMDX_NS_XHTML) == 0 &&
            strcmp((const char *)c->name, "div") == 0)
            st = mmdx__rec_idfield_node(f->b, "Resource.text.div",
                                        MMDX_ID_FREE_TEXT, c);
    if (!st && (c = fchild(f, fchild(f, res, "subject"), "display")) != NULL)
        st = mmdx__rec_idfield(f->b, "Reference.display", MMDX_ID_NAME,
                               mmdx__rec_attr(c, "value"));
    if (!st && (c = fchild(f, fchild(f, res, "patient"), "display")) != NULL)
        st = mmdx__rec_idfield(f->b, "Reference.display", MMDX_ID_NAME,
                               mmdx__rec_attr(c, "value"));
    for (c = fchild(f, res, "note"); c && !st; c = fnext(f, c, "note"))
        st = idf_values(f, "Annotation.text", MMDX_ID_FREE_TEXT, c);
    return st;
}

/* Malformed dates are an error naming the element: a wrong date would give
 * a wrong age silently. */
static enum mmdx_status date_of(struct fhir *f, xmlNodePtr el,
                                struct mmdx_date *d, const char *field)
{
    const char *v = mmdx__rec_attr(el, "value");

    memset(d, 0, sizeof(*d));
    if (!el || !v)
        return MMDX_OK;
    if (!mmdx__date_parse_fhir(v, d))
        return mmdx__fail(f->b->ctx, MMDX_E_FORMAT, f->b->stage, f->b->path,
                          mmdx__rec_line(el), field,
                          "not a FHIR date or dateTime");
    return MMDX_OK;
}

/* Codings of a CodeableConcept: known systems first. */
static void codings(struct fhir *f, xmlNodePtr cc, struct mmdx_code *codes, size_t *n)
{
    xmlNodePtr c;
    int pass;

    *n = 0;
    for (pass = 0; pass < 2; pass++)
        for (c = fchild(f, cc, "coding"); c; c = fnext(f, c, "coding")) {
            enum mmdx_codesys cs = mmdx__codesys_from_uri(fval(f, c, "system"));

            if ((cs != MMDX_CS_OTHER) == (pass == 0))
                mmdx__rec_codes_add(codes, n, cs, fval(f, c, "code"));
        }
}

/* The LOINC coding of a CodeableConcept (else the first coding). */
static bool main_code(struct fhir *f, xmlNodePtr cc, struct mmdx_code *out)
{
    struct mmdx_code codes[MMDX_RECORD_NCODES];
    size_t n, i;

    codings(f, cc, codes, &n);
    for (i = 0; i < n; i++)
        if (codes[i].sys == MMDX_CS_LOINC) {
            *out = codes[i];
            return true;
        }
    if (n) {
        *out = codes[0];
        return true;
    }
    memset(out, 0, sizeof(*out));
    return false;
}

static enum mmdx_status patient(struct fhir *f, xmlNodePtr res)
{
    struct mmdx_record *r = f->b->r;
    const char *g;
    xmlNodePtr c;
    enum mmdx_status st = MMDX_OK;
    static const struct {
        const char *el, *field;
        enum mmdx_id_kind kind;
    } idf[] = {
        { "identifier", "Patient.identifier", MMDX_ID_NUMBER },
        { "name", "Patient.name", MMDX_ID_NAME },
        { "telecom", "Patient.telecom", MMDX_ID_TELECOM },
        { "address", "Patient.address", MMDX_ID_ADDRESS },
        { "contact", "Patient.contact", MMDX_ID_NAME },
        { "photo", "Patient.photo", MMDX_ID_OTHER },
    };
    size_t i;

    if (++f->npatients > 1)
        return mmdx__fail(f->b->ctx, MMDX_E_FORMAT, f->b->stage, f->b->path,
                          mmdx__rec_line(res), "Patient",
                          "more than one Patient resource: a record file "
                          "must describe one patient");
    g = fval(f, res, "gender");
    if (g) {
        if (strcmp(g, "female") == 0)
            r->sex = MMDX_SEX_FEMALE;
        else if (strcmp(g, "male") == 0)
            r->sex = MMDX_SEX_MALE;
        else if (strcmp(g, "other") == 0)
            r->sex = MMDX_SEX_OTHER;
    }
    c = fchild(f, res, "birthDate");
    st = date_of(f, c, &r->birth, "Patient.birthDate");
    if (!st && r->birth.prec != MMDX_DATE_NONE) {
        r->birth_field = "Patient.birthDate";
        r->birth_line = mmdx__rec_line(c);
    }
    if (!st && c)
        st = mmdx__rec_idfield(f->b, "Patient.birthDate", MMDX_ID_DATE,
                               mmdx__rec_attr(c, "value"));
    if (!st && (c = fchild(f, res, "deceasedDateTime")) != NULL)
        st = mmdx__rec_idfield(f->b, "Patient.deceasedDateTime",
                               MMDX_ID_DATE, mmdx__rec_attr(c, "value"));
    for (i = 0; i < MMDX_ARRAY_SIZE(idf) && !st; i++)
        for (c = fchild(f, res, idf[i].el); c && !st; c = fnext(f, c, idf[i].el))
            st = idf_values(f, idf[i].field, idf[i].kind, c);
    return st;
}

/* Practitioner / RelatedPerson / Person: names and contacts only. */
static enum mmdx_status person(struct fhir *f, xmlNodePtr res)
{
    static const struct {
        const char *el;
        enum mmdx_id_kind kind;
    } idf[] = {
        { "identifier", MMDX_ID_NUMBER }, { "name", MMDX_ID_NAME },
        { "telecom", MMDX_ID_TELECOM },   { "address", MMDX_ID_ADDRESS },
    };
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(idf) && !st; i++)
        for (c = fchild(f, res, idf[i].el); c && !st; c = fnext(f, c, idf[i].el))
            st = idf_values(f, strcmp((const char *)res->name,
                                      "Practitioner") == 0
                                   ? "Practitioner"
                                   : "RelatedPerson",
                            idf[i].kind, c);
    return st;
}

/* valueQuantity / valueCodeableConcept / valueInteger of an Observation
 * or a component. */
static void obs_value(struct fhir *f, xmlNodePtr n, struct mmdx_obs *o)
{
    xmlNodePtr q = fchild(f, n, "valueQuantity"), c;
    const char *v;

    o->value = NAN;
    if (q) {
        double d;

        v = fval(f, q, "value");
        if (v && mmdx__parse_double(v, &d))
            o->value = d;
        /* the UCUM code is the unit; "unit" is for display */
        if (!mmdx__rec_unit_set(o->unit, fval(f, q, "code")) || !o->unit[0])
            mmdx__rec_unit_set(o->unit, fval(f, q, "unit"));
        return;
    }
    if ((v = fval(f, n, "valueInteger")) != NULL) {
        double d;

        if (mmdx__parse_double(v, &d))
            o->value = d;
        return;
    }
    if ((c = fchild(f, n, "valueCodeableConcept")) != NULL)
        main_code(f, c, &o->value_code);
}

static enum mmdx_status effective(struct fhir *f, xmlNodePtr res,
                                  struct mmdx_date *d)
{
    xmlNodePtr c;

    if ((c = fchild(f, res, "effectiveDateTime")) != NULL)
        return date_of(f, c, d, "effectiveDateTime");
    if ((c = fchild(f, res, "effectiveInstant")) != NULL)
        return date_of(f, c, d, "effectiveInstant");
    if ((c = fchild(f, fchild(f, res, "effectivePeriod"), "start")) != NULL)
        return date_of(f, c, d, "effectivePeriod.start");
    if ((c = fchild(f, res, "issued")) != NULL)
        return date_of(f, c, d, "issued");
    memset(d, 0, sizeof(*d));
    return MMDX_OK;
}

static bool unusable_status(const char *s)
{
    return s && (strcmp(s, "entered-in-error") == 0 ||
                 strcmp(s, "cancelled") == 0);
}

static enum mmdx_status observation(struct fhir *f, xmlNodePtr res)
{
    struct mmdx_obs o, base;
    enum mmdx_status st;
    xmlNodePtr c;
    bool any = false;

    if (unusable_status(fval(f, res, "status")))
        return MMDX_OK;
    memset(&base, 0, sizeof(base));
    base.value = NAN;
    st = effective(f, res, &base.date);
    if (st)
        return st;
    o = base;
    if (main_code(f, fchild(f, res, "code"), &o.code)) {
        obs_value(f, res, &o);
        if (!isnan(o.value) || o.value_code.code[0]) {
            st = mmdx__rec_add_obs(f->b, &o);
            any = true;
        }
    }
    /* components (blood pressure panels) share the observation's date */
    for (c = fchild(f, res, "component"); c && !st; c = fnext(f, c, "component")) {
        o = base;
        if (!main_code(f, fchild(f, c, "code"), &o.code))
            continue;
        obs_value(f, c, &o);
        if (!isnan(o.value) || o.value_code.code[0]) {
            st = mmdx__rec_add_obs(f->b, &o);
            any = true;
        }
    }
    if (!st && !any && !fchild(f, res, "hasMember"))
        f->b->r->counts.entries_skipped++;
    return st;
}

static enum mmdx_status condition(struct fhir *f, xmlNodePtr res)
{
    struct mmdx_condition c;
    const char *s;
    xmlNodePtr n;
    enum mmdx_status st;
    struct mmdx_code vs;

    f->b->r->has_problem_list = true;
    if (main_code(f, fchild(f, res, "verificationStatus"), &vs) &&
        (strcmp(vs.code, "entered-in-error") == 0 ||
         strcmp(vs.code, "refuted") == 0))
        return MMDX_OK;
    memset(&c, 0, sizeof(c));
    codings(f, fchild(f, res, "code"), c.codes, &c.ncodes);
    if (!c.ncodes) {
        f->b->r->counts.entries_skipped++;
        return MMDX_OK;
    }
    n = fchild(f, fchild(f, res, "clinicalStatus"), "coding");
    s = n ? fval(f, n, "code") : NULL;
    if (s && (strcmp(s, "active") == 0 || strcmp(s, "recurrence") == 0 ||
              strcmp(s, "relapse") == 0))
        c.status = MMDX_COND_ACTIVE;
    else if (s && (strcmp(s, "inactive") == 0 ||
                   strcmp(s, "remission") == 0 ||
                   strcmp(s, "resolved") == 0))
        c.status = MMDX_COND_RESOLVED;
    if ((n = fchild(f, res, "onsetDateTime")) != NULL)
        st = date_of(f, n, &c.onset, "Condition.onsetDateTime");
    else
        st = date_of(f, fchild(f, fchild(f, res, "onsetPeriod"), "start"),
                     &c.onset, "Condition.onsetPeriod.start");
    if (!st && (n = fchild(f, res, "abatementDateTime")) != NULL)
        st = date_of(f, n, &c.abatement, "Condition.abatementDateTime");
    else if (!st)
        st = date_of(f, fchild(f, fchild(f, res, "abatementPeriod"), "start"),
                     &c.abatement, "Condition.abatementPeriod.start");
    if (st)
        return st;
    if (c.status == MMDX_COND_UNKNOWN &&
        (c.abatement.prec != MMDX_DATE_NONE ||
         fchild(f, res, "abatementString") || fchild(f, res, "abatementBoolean")))
        c.status = MMDX_COND_RESOLVED;
    return mmdx__rec_add_cond(f->b, &c);
}

static enum mmdx_status build_index(struct fhir *f);

/* Resolve a reference string to a resource node: "#id" among contained
 * resources of res, else fullUrl or Type/id in the Bundle. NULL when not
 * found; *st reports E_NOMEM while building the index. */
static xmlNodePtr resolve(struct fhir *f, xmlNodePtr res, const char *ref,
                          enum mmdx_status *st)
{
    xmlNodePtr c;

    if (!ref || !*ref)
        return NULL;
    if (ref[0] == '#') {
        for (c = fchild(f, res, "contained"); c; c = fnext(f, c, "contained")) {
            xmlNodePtr r = first_f(f, c);
            const char *id = fval(f, r, "id");

            if (id && strcmp(id, ref + 1) == 0)
                return r;
        }
        return NULL;
    }
    if (!f->indexed && (*st = build_index(f)) != MMDX_OK)
        return NULL;
    c = mmdx__strmap_get(&f->urls, ref, strlen(ref));
    if (!c) {
        /* Type/id, also as the tail of an absolute URL */
        const char *id = strrchr(ref, '/'), *type;
        size_t tlen;

        if (!id || id == ref)
            return NULL;
        for (type = id - 1; type > ref && type[-1] != '/'; type--)
            ;
        tlen = (size_t)(id - type);
        id++;
        c = mmdx__strmap_get(&f->ids, id, strlen(id));
        if (c && (strlen((const char *)c->name) != tlen ||
                  memcmp(c->name, type, tlen) != 0))
            c = NULL;
    }
    return c;
}

static enum mmdx_status medication(struct fhir *f, xmlNodePtr res)
{
    struct mmdx_medication m;
    const char *s = fval(f, res, "status");
    xmlNodePtr n, cc = fchild(f, res, "medicationCodeableConcept");
    enum mmdx_status st = MMDX_OK;

    f->b->r->has_med_list = true;
    if (s && strcmp(s, "entered-in-error") == 0)
        return MMDX_OK;
    memset(&m, 0, sizeof(m));
    if (!cc) {
        xmlNodePtr med = resolve(f, res,
                                 fval(f, fchild(f, res, "medicationReference"),
                                      "reference"),
                                 &st);

        if (st)
            return st;
        if (med && is_f(f, med, "Medication"))
            cc = fchild(f, med, "code");
    }
    codings(f, cc, m.codes, &m.ncodes);
    if (s) {
        if (!strcmp(s, "active") || !strcmp(s, "on-hold") ||
            !strcmp(s, "intended"))
            m.status = MMDX_MED_ACTIVE;
        else if (!strcmp(s, "completed") || !strcmp(s, "stopped") ||
                 !strcmp(s, "cancelled") || !strcmp(s, "not-taken"))
            m.status = MMDX_MED_STOPPED;
    }
    if ((n = fchild(f, res, "effectiveDateTime")) != NULL)
        st = date_of(f, n, &m.start, "effectiveDateTime");
    else if ((n = fchild(f, res, "authoredOn")) != NULL)
        st = date_of(f, n, &m.start, "MedicationRequest.authoredOn");
    else
        st = date_of(f, fchild(f, fchild(f, res, "effectivePeriod"), "start"),
                     &m.start, "effectivePeriod.start");
    if (!st)
        st = date_of(f, fchild(f, fchild(f, res, "effectivePeriod"), "end"),
                     &m.end, "effectivePeriod.end");
    if (st)
        return st;
    if (!m.ncodes)
        f->b->r->counts.entries_skipped++;
    return mmdx__rec_add_med(f->b, &m);
}

/* Sections of a Composition tell whether a problem or medication list
 * was part of the document even when it is empty. */
static void composition(struct fhir *f, xmlNodePtr res)
{
    xmlNodePtr s;

    for (s = fchild(f, res, "section"); s; s = fnext(f, s, "section")) {
        struct mmdx_code c;

        if (!main_code(f, fchild(f, s, "code"), &c) || c.sys != MMDX_CS_LOINC)
            continue;
        if (strcmp(c.code, "11450-4") == 0)
            f->b->r->has_problem_list = true;
        else if (strcmp(c.code, "10160-0") == 0)
            f->b->r->has_med_list = true;
    }
}

static enum mmdx_status resource(struct fhir *f, xmlNodePtr res)
{
    const char *t = (const char *)res->name;
    enum mmdx_status st;

    f->b->r->counts.resources++;
    st = common_idfields(f, res);
    if (st)
        return st;
    if (strcmp(t, "Patient") == 0)
        return patient(f, res);
    if (strcmp(t, "Observation") == 0)
        return observation(f, res);
    if (strcmp(t, "Condition") == 0)
        return condition(f, res);
    if (strcmp(t, "MedicationStatement") == 0 ||
        strcmp(t, "MedicationRequest") == 0 ||
        strcmp(t, "MedicationAdministration") == 0)
        return medication(f, res);
    if (strcmp(t, "Practitioner") == 0 || strcmp(t, "RelatedPerson") == 0 ||
        strcmp(t, "Person") == 0)
        return person(f, res);
    if (strcmp(t, "Composition") == 0) {
        f->composition = true;
        composition(f, res);
    }
    return MMDX_OK;
}

static enum mmdx_status index_entry(struct fhir *f, xmlNodePtr e)
{
    xmlNodePtr res = first_f(f, fchild(f, e, "resource"));
    const char *url = fval(f, e, "fullUrl"), *id;

    if (!res)
        return MMDX_OK;
    if (url && *url &&
        mmdx__strmap_put(&f->urls, url, strlen(url), res) != MMDX_OK)
        return mmdx__nomem(f->b->ctx);
    id = fval(f, res, "id");
    if (id && *id && mmdx__strmap_put(&f->ids, id, strlen(id), res) != MMDX_OK)
        return mmdx__nomem(f->b->ctx);
    return MMDX_OK;
}

static enum mmdx_status build_index(struct fhir *f)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr e;

    f->indexed = true;
    for (e = fchild(f, f->bundle, "entry"); e && !st; e = fnext(f, e, "entry"))
        st = index_entry(f, e);
    return st;
}

enum mmdx_status mmdx__record_read_fhir(struct rec_build *b, xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), e;
    struct fhir f;
    enum mmdx_status st = MMDX_OK;

    memset(&f, 0, sizeof(f));
    f.b = b;
    mmdx__strmap_init_borrowed(&f.urls);
    mmdx__strmap_init_borrowed(&f.ids);
    if (strcmp((const char *)root->name, "Bundle") == 0) {
        f.bundle = root;
        for (e = fchild(&f, root, "entry"); e && !st;
             e = fnext(&f, e, "entry")) {
            xmlNodePtr res = first_f(&f, fchild(&f, e, "resource"));

            if (res)
                st = resource(&f, res);
        }
        /* A Bundle holding one Patient and clinical resources, without a
         * Composition listing its sections, is taken as that patient's
         * export: a condition or medication absent from it is absent
         * (0), not unknown. Single resources stay unknown. */
        if (!st && !f.composition && f.npatients == 1 &&
            b->r->nobs + b->r->nconds + b->r->nmeds > 0) {
            b->r->has_problem_list = true;
            b->r->has_med_list = true;
        }
    } else {
        st = resource(&f, root);
    }
    mmdx__strmap_fini(&f.urls);
    mmdx__strmap_fini(&f.ids);
    return st;
}
