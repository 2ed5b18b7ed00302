/*
 * record_ccda.c - HL7 C-CDA R2.1 documents (and plain CDA R2).
 *
 * Sections are recognised by templateId (with or without the R2.1
 * extension) or, failing that, by their LOINC section code, so that older
 * CDA documents without C-CDA templates are read too. Entries are read
 * from their coded values (observation/code + value, problem observation
 * value, manufacturedMaterial/code); section narrative is never parsed for
 * values, only reported as possibly identifying free text.
 */
#include "core/common.h"
#include "io/record_int.h"

enum sec_kind { SEC_OTHER = 0, SEC_VITALS, SEC_RESULTS, SEC_PROBLEMS,
                SEC_PAST, SEC_MEDS };

static const struct {
    const char *tid, *loinc;
    enum sec_kind kind;
} sections[] = {
    { "2.16.840.1.113883.10.20.22.2.4.1", "8716-3", SEC_VITALS },
    { "2.16.840.1.113883.10.20.22.2.4", NULL, SEC_VITALS },
    { "2.16.840.1.113883.10.20.22.2.3.1", "30954-2", SEC_RESULTS },
    { "2.16.840.1.113883.10.20.22.2.3", NULL, SEC_RESULTS },
    { "2.16.840.1.113883.10.20.22.2.5.1", "11450-4", SEC_PROBLEMS },
    { "2.16.840.1.113883.10.20.22.2.5", NULL, SEC_PROBLEMS },
    { "2.16.840.1.113883.10.20.22.2.20", "11348-0", SEC_PAST },
    { "2.16.840.1.113883.10.20.22.2.1.1", "10160-0", SEC_MEDS },
    { "2.16.840.1.113883.10.20.22.2.1", NULL, SEC_MEDS },
};

#define TID_PROBLEM_OBS "2.16.840.1.113883.10.20.22.4.4"
#define TID_PROBLEM_STATUS "2.16.840.1.113883.10.20.22.4.6"

/* The HL7 v3 namespace test is a pointer compare once the document's
 * xmlNs is known. */
static bool ns_v(struct rec_build *b, const xmlNs *ns)
{
    if (!ns)
        return false;
    if (ns == b->ns)
        return true;
    if (ns->href && strcmp((const char *)ns->href, MMDX_NS_V3) == 0) {
        b->ns = ns;
        return true;
    }
    return false;
}

static bool is_v(struct rec_build *b, xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && ns_v(b, n->ns) &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr vchild(struct rec_build *b, xmlNodePtr p, const char *name)
{
    xmlNodePtr c;

    for (c = p ? p->children : NULL; c; c = c->next)
        if (is_v(b, c, name))
            return c;
    return NULL;
}

static xmlNodePtr vnext(struct rec_build *b, xmlNodePtr n, const char *name)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (is_v(b, n, name))
            return n;
    return NULL;
}

#define attr mmdx__rec_attr

/* xsi:type without its prefix ("PQ"), or NULL. */
static const char *xsi_type(xmlNodePtr n)
{
    xmlAttrPtr a;

    for (a = n->properties; a; a = a->next)
        if (a->ns && a->ns->href &&
            strcmp((const char *)a->ns->href, MMDX_NS_XSI) == 0 &&
            strcmp((const char *)a->name, "type") == 0 && a->children &&
            a->children->type == XML_TEXT_NODE && a->children->content) {
            const char *v = (const char *)a->children->content;
            const char *colon = strchr(v, ':');

            return colon ? colon + 1 : v;
        }
    return NULL;
}

static bool has_tid(struct rec_build *b, xmlNodePtr n, const char *root)
{
    xmlNodePtr t;

    for (t = vchild(b, n, "templateId"); t; t = vnext(b, t, "templateId")) {
        const char *r = attr(t, "root");

        if (r && strcmp(r, root) == 0)
            return true;
    }
    return false;
}

static bool negated(xmlNodePtr n)
{
    const char *v = attr(n, "negationInd");

    return v && strcmp(v, "true") == 0;
}

static enum mmdx_status ts(struct rec_build *b, xmlNodePtr el,
                           struct mmdx_date *d, const char *field)
{
    const char *v = attr(el, "value");

    memset(d, 0, sizeof(*d));
    if (!el || !v)
        return MMDX_OK;
    if (!mmdx__date_parse_hl7(v, d))
        return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                          mmdx__rec_line(el), field,
                          "not an HL7 timestamp (YYYYMMDD[hhmm[ss]][+zzzz])");
    return MMDX_OK;
}

/* effectiveTime: @value, else low/@value (high -> *end when given). */
static enum mmdx_status eff_time(struct rec_build *b, xmlNodePtr owner,
                                 struct mmdx_date *start,
                                 struct mmdx_date *end)
{
    xmlNodePtr e, lo, hi;
    enum mmdx_status st = MMDX_OK;

    memset(start, 0, sizeof(*start));
    if (end)
        memset(end, 0, sizeof(*end));
    for (e = vchild(b, owner, "effectiveTime"); e; e = vnext(b, e, "effectiveTime")) {
        if (attr(e, "value"))
            return ts(b, e, start, "effectiveTime");
        lo = vchild(b, e, "low");
        hi = vchild(b, e, "high");
        if (!lo && !hi)
            continue; /* PIVL_TS (a frequency) and the like */
        st = ts(b, lo, start, "effectiveTime.low");
        if (!st && end)
            st = ts(b, hi, end, "effectiveTime.high");
        return st;
    }
    return st;
}

/* Codes of a CD element: the code itself, then its translations. */
static void cd_codes(struct rec_build *b, xmlNodePtr cd, struct mmdx_code *codes, size_t *n)
{
    xmlNodePtr t;

    if (!cd)
        return;
    mmdx__rec_codes_add(codes, n,
                        mmdx__codesys_from_oid(attr(cd, "codeSystem")),
                        attr(cd, "code"));
    for (t = vchild(b, cd, "translation"); t; t = vnext(b, t, "translation"))
        mmdx__rec_codes_add(codes, n,
                            mmdx__codesys_from_oid(attr(t, "codeSystem")),
                            attr(t, "code"));
}

/* The LOINC code of a code element (itself or a translation), else the
 * element's own code. */
static bool obs_code(struct rec_build *b, xmlNodePtr cd, struct mmdx_code *out)
{
    struct mmdx_code codes[MMDX_RECORD_NCODES];
    size_t n = 0, i;

    cd_codes(b, cd, codes, &n);
    for (i = 0; i < n; i++)
        if (codes[i].sys == MMDX_CS_LOINC) {
            *out = codes[i];
            return true;
        }
    if (n) {
        *out = codes[0];
        return true;
    }
    return false;
}

static enum mmdx_status observation(struct rec_build *b, xmlNodePtr ob,
                                    const struct mmdx_date *inherit)
{
    struct mmdx_obs o;
    xmlNodePtr v = vchild(b, ob, "value");
    const char *type;
    enum mmdx_status st;

    if (negated(ob))
        return MMDX_OK;
    memset(&o, 0, sizeof(o));
    o.value = NAN;
    if (!obs_code(b, vchild(b, ob, "code"), &o.code) || !v) {
        b->r->counts.entries_skipped++;
        return MMDX_OK;
    }
    st = eff_time(b, ob, &o.date, NULL);
    if (st)
        return st;
    if (o.date.prec == MMDX_DATE_NONE && inherit)
        o.date = *inherit;
    type = xsi_type(v);
    if (!type && attr(v, "value"))
        type = "PQ";
    if (type && (strcmp(type, "PQ") == 0 || strcmp(type, "INT") == 0 ||
                 strcmp(type, "REAL") == 0)) {
        const char *val = attr(v, "value"), *unit = attr(v, "unit");
        double d;

        if (val && mmdx__parse_double(val, &d))
            o.value = d;
        if (unit && strcmp(unit, "1") != 0)
            mmdx__rec_unit_set(o.unit, unit);
    } else if (type && (strcmp(type, "CD") == 0 || strcmp(type, "CE") == 0 ||
                        strcmp(type, "CO") == 0 || strcmp(type, "CV") == 0)) {
        mmdx__rec_code_set(&o.value_code,
                           mmdx__codesys_from_oid(attr(v, "codeSystem")),
                           attr(v, "code"));
    }
    if (isnan(o.value) && !o.value_code.code[0]) {
        b->r->counts.entries_skipped++;
        return MMDX_OK;
    }
    return mmdx__rec_add_obs(b, &o);
}

/* Vital signs and results: observations directly in the entry or in
 * organizer/component (organizer dates are inherited). */
static enum mmdx_status results_entry(struct rec_build *b, xmlNodePtr n,
                                      const struct mmdx_date *inherit,
                                      int depth)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;

    for (c = n->children; c && !st; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_v(b, c, "observation")) {
            st = observation(b, c, inherit);
        } else if (is_v(b, c, "organizer") && depth < 8) {
            struct mmdx_date d;

            if (negated(c))
                continue;
            st = eff_time(b, c, &d, NULL);
            if (!st)
                st = results_entry(b, c, d.prec ? &d : inherit, depth + 1);
        } else if (is_v(b, c, "component") && depth < 8) {
            st = results_entry(b, c, inherit, depth + 1);
        }
    }
    return st;
}

/* Problem status observation (templateId ...4.6, LOINC 33999-4). */
static enum mmdx_cond_status status_obs(struct rec_build *b, xmlNodePtr ob)
{
    xmlNodePtr er, o, v;

    for (er = vchild(b, ob, "entryRelationship"); er;
         er = vnext(b, er, "entryRelationship")) {
        const char *code;

        o = vchild(b, er, "observation");
        if (!o)
            continue;
        if (!has_tid(b, o, TID_PROBLEM_STATUS)) {
            const char *c = attr(vchild(b, o, "code"), "code");

            if (!c || strcmp(c, "33999-4") != 0)
                continue;
        }
        v = vchild(b, o, "value");
        code = attr(v, "code");
        if (!code)
            continue;
        if (strcmp(code, "55561003") == 0)
            return MMDX_COND_ACTIVE;
        if (strcmp(code, "73425007") == 0 || strcmp(code, "413322009") == 0)
            return MMDX_COND_RESOLVED;
    }
    return MMDX_COND_UNKNOWN;
}

static enum mmdx_status problem_obs(struct rec_build *b, xmlNodePtr ob,
                                    const char *concern, bool past)
{
    struct mmdx_condition c;
    xmlNodePtr v = vchild(b, ob, "value");
    enum mmdx_status st;

    if (negated(ob))
        return MMDX_OK;
    memset(&c, 0, sizeof(c));
    cd_codes(b, v, c.codes, &c.ncodes);
    if (!c.ncodes) {
        b->r->counts.entries_skipped++;
        return MMDX_OK;
    }
    st = eff_time(b, ob, &c.onset, &c.abatement);
    if (st)
        return st;
    c.status = status_obs(b, ob);
    if (c.status == MMDX_COND_UNKNOWN) {
        if (c.abatement.prec != MMDX_DATE_NONE || past)
            c.status = MMDX_COND_RESOLVED;
        else if (concern && (strcmp(concern, "active") == 0 ||
                             strcmp(concern, "suspended") == 0))
            c.status = MMDX_COND_ACTIVE;
        else if (concern && strcmp(concern, "completed") == 0)
            c.status = MMDX_COND_RESOLVED;
    }
    return mmdx__rec_add_cond(b, &c);
}

/* A problem entry: concern act -> entryRelationship -> problem observation
 * (C-CDA), or a bare observation with a coded value (CDA R2). */
static enum mmdx_status problem_entry(struct rec_build *b, xmlNodePtr entry,
                                      bool past)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c, er, ob;
    bool found = false;

    for (c = entry->children; c && !st; c = c->next) {
        if (is_v(b, c, "observation")) {
            st = problem_obs(b, c, NULL, past);
            found = true;
        } else if (is_v(b, c, "act") && !negated(c)) {
            const char *concern = attr(vchild(b, c, "statusCode"), "code");

            for (er = vchild(b, c, "entryRelationship"); er && !st;
                 er = vnext(b, er, "entryRelationship")) {
                ob = vchild(b, er, "observation");
                if (!ob)
                    continue;
                if (!has_tid(b, ob, TID_PROBLEM_OBS) &&
                    vchild(b, ob, "templateId"))
                    continue; /* another template: not a problem */
                st = problem_obs(b, ob, concern, past);
                found = true;
            }
        }
    }
    if (!found)
        b->r->counts.entries_skipped++;
    return st;
}

static enum mmdx_status med_entry(struct rec_build *b, xmlNodePtr entry)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr sa;

    for (sa = vchild(b, entry, "substanceAdministration"); sa && !st;
         sa = vnext(b, sa, "substanceAdministration")) {
        struct mmdx_medication m;
        xmlNodePtr mp = vchild(b, vchild(b, sa, "consumable"), "manufacturedProduct");
        xmlNodePtr mat = vchild(b, mp, "manufacturedMaterial");
        const char *s = attr(vchild(b, sa, "statusCode"), "code");

        if (negated(sa) || (s && strcmp(s, "nullified") == 0))
            continue;
        if (!mat)
            mat = vchild(b, mp, "manufacturedLabeledDrug");
        memset(&m, 0, sizeof(m));
        cd_codes(b, vchild(b, mat, "code"), m.codes, &m.ncodes);
        st = eff_time(b, sa, &m.start, &m.end);
        if (st)
            break;
        if (s && (strcmp(s, "active") == 0 || strcmp(s, "suspended") == 0 ||
                  strcmp(s, "new") == 0 || strcmp(s, "held") == 0))
            m.status = MMDX_MED_ACTIVE;
        else if (s && (strcmp(s, "aborted") == 0 ||
                       strcmp(s, "cancelled") == 0))
            m.status = MMDX_MED_STOPPED;
        else if (s && strcmp(s, "completed") == 0 &&
                 m.end.prec != MMDX_DATE_NONE)
            m.status = MMDX_MED_STOPPED;
        if (!m.ncodes)
            b->r->counts.entries_skipped++;
        st = mmdx__rec_add_med(b, &m);
    }
    return st;
}

static enum sec_kind classify(struct rec_build *b, xmlNodePtr sec)
{
    xmlNodePtr t;
    const char *code = attr(vchild(b, sec, "code"), "code");
    size_t i;

    for (t = vchild(b, sec, "templateId"); t; t = vnext(b, t, "templateId")) {
        const char *r = attr(t, "root");

        for (i = 0; r && i < MMDX_ARRAY_SIZE(sections); i++)
            if (strcmp(r, sections[i].tid) == 0)
                return sections[i].kind;
    }
    for (i = 0; code && i < MMDX_ARRAY_SIZE(sections); i++)
        if (sections[i].loinc && strcmp(code, sections[i].loinc) == 0)
            return sections[i].kind;
    return SEC_OTHER;
}

/* Names of persons (assignedPerson, relatedPerson, ...) anywhere under n:
 * authors, performers, informants. */
static enum mmdx_status person_names(struct rec_build *b, xmlNodePtr n,
                                     const char *field, int depth)
{
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;

    for (c = n->children; c && !st; c = c->next) {
        const char *nm;
        size_t len;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        nm = (const char *)c->name;
        len = strlen(nm);
        if (len > 6 && strcmp(nm + len - 6, "Person") == 0) {
            xmlNodePtr name;

            for (name = vchild(b, c, "name"); name && !st;
                 name = vnext(b, name, "name"))
                st = mmdx__rec_idfield_node(b, field, MMDX_ID_NAME, name);
        } else if (depth < 12) {
            st = person_names(b, c, field, depth + 1);
        }
    }
    return st;
}

static enum mmdx_status section(struct rec_build *b, xmlNodePtr sec,
                                int depth)
{
    enum sec_kind kind = classify(b, sec);
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr e, c;

    b->r->counts.sections++;
    if (kind != SEC_OTHER)
        b->r->counts.sections_used++;
    if (kind == SEC_PROBLEMS || kind == SEC_PAST)
        b->r->has_problem_list = true;
    if (kind == SEC_MEDS)
        b->r->has_med_list = true;
    if ((c = vchild(b, sec, "text")) != NULL)
        st = mmdx__rec_idfield_node(b, "section.text", MMDX_ID_FREE_TEXT, c);
    for (e = vchild(b, sec, "entry"); e && !st; e = vnext(b, e, "entry")) {
        switch (kind) {
        case SEC_VITALS:
        case SEC_RESULTS:
            st = results_entry(b, e, NULL, 0);
            break;
        case SEC_PROBLEMS:
        case SEC_PAST:
            st = problem_entry(b, e, kind == SEC_PAST);
            break;
        case SEC_MEDS:
            st = med_entry(b, e);
            break;
        default:
            break;
        }
        if (!st && (b->flags & MMDX_RECORD_IDFIELDS))
            st = person_names(b, e, "entry.person.name", 0);
    }
    /* nested sections */
    for (c = vchild(b, sec, "component"); c && !st; c = vnext(b, c, "component"))
        if ((e = vchild(b, c, "section")) != NULL && depth < 8)
            st = section(b, e, depth + 1);
    return st;
}

static enum mmdx_status record_target(struct rec_build *b, xmlNodePtr rt)
{
    xmlNodePtr pr = vchild(b, rt, "patientRole"), pt = vchild(b, pr, "patient");
    xmlNodePtr c;
    const char *g;
    enum mmdx_status st = MMDX_OK;

    if (!pt)
        return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                          mmdx__rec_line(rt), "recordTarget/patientRole/patient",
                          "missing");
    g = attr(vchild(b, pt, "administrativeGenderCode"), "code");
    if (g) {
        if (strcmp(g, "F") == 0)
            b->r->sex = MMDX_SEX_FEMALE;
        else if (strcmp(g, "M") == 0)
            b->r->sex = MMDX_SEX_MALE;
        else if (strcmp(g, "UN") == 0)
            b->r->sex = MMDX_SEX_OTHER;
    }
    c = vchild(b, pt, "birthTime");
    st = ts(b, c, &b->r->birth, "patient.birthTime");
    if (!st && b->r->birth.prec != MMDX_DATE_NONE) {
        b->r->birth_field = "patient.birthTime";
        b->r->birth_line = mmdx__rec_line(c);
    }
    if (!st && c && attr(c, "value"))
        st = mmdx__rec_idfield(b, "patient.birthTime", MMDX_ID_DATE,
                               attr(c, "value"));
    if (!(b->flags & MMDX_RECORD_IDFIELDS))
        return st;
    for (c = vchild(b, pr, "id"); c && !st; c = vnext(b, c, "id")) {
        const char *v = attr(c, "extension");

        st = mmdx__rec_idfield(b, "patientRole.id", MMDX_ID_NUMBER,
                               v ? v : attr(c, "root"));
    }
    for (c = vchild(b, pr, "addr"); c && !st; c = vnext(b, c, "addr"))
        st = mmdx__rec_idfield_node(b, "patientRole.addr", MMDX_ID_ADDRESS,
                                    c);
    for (c = vchild(b, pr, "telecom"); c && !st; c = vnext(b, c, "telecom"))
        st = mmdx__rec_idfield(b, "patientRole.telecom", MMDX_ID_TELECOM,
                               attr(c, "value"));
    for (c = vchild(b, pt, "name"); c && !st; c = vnext(b, c, "name"))
        st = mmdx__rec_idfield_node(b, "patient.name", MMDX_ID_NAME, c);
    if (!st && (c = vchild(b, pt, "guardian")) != NULL)
        st = person_names(b, c, "patient.guardian.name", 0);
    if (!st && (c = vchild(b, pt, "birthplace")) != NULL)
        st = mmdx__rec_idfield_node(b, "patient.birthplace", MMDX_ID_ADDRESS,
                                    c);
    return st;
}

enum mmdx_status mmdx__record_read_cda(struct rec_build *b, xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), c, body, comp;
    enum mmdx_status st = MMDX_OK;
    size_t ntargets = 0;

    for (c = root->children; c && !st; c = c->next) {
        if (is_v(b, c, "recordTarget")) {
            if (++ntargets > 1)
                return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                                  mmdx__rec_line(c), "recordTarget",
                                  "more than one recordTarget: a record file "
                                  "must describe one patient");
            st = record_target(b, c);
        } else if ((b->flags & MMDX_RECORD_IDFIELDS) &&
                   c->type == XML_ELEMENT_NODE && !is_v(b, c, "component")) {
            /* author, legalAuthenticator, documentationOf/performer ... */
            st = person_names(b, c, is_v(b, c, "author") ? "author.name"
                                    : is_v(b, c, "documentationOf")
                                        ? "performer.name"
                                        : "participant.name",
                              0);
        }
    }
    if (st)
        return st;
    if (!ntargets)
        return mmdx__fail(b->ctx, MMDX_E_FORMAT, b->stage, b->path,
                          mmdx__rec_line(root), "recordTarget", "missing");
    body = vchild(b, vchild(b, root, "component"), "structuredBody");
    for (comp = vchild(b, body, "component"); comp && !st;
         comp = vnext(b, comp, "component")) {
        xmlNodePtr sec = vchild(b, comp, "section");

        if (sec)
            st = section(b, sec, 0);
    }
    return st;
}
