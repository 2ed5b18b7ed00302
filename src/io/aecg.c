/*
 * aecg.c - HL7 v3 annotated ECG (aECG, PORT_MT020001) waveforms.
 *
 * Reads the first RHYTHM series (else the first series): its sequence set
 * holds one TIME_ABSOLUTE/TIME_RELATIVE sequence (GLIST: head + increment)
 * and one SLIST_PQ sequence per lead (origin + scale * digits). Values go
 * to mV. Limits: the hardened XML reader's size/depth limits, at most
 * MMDX_AECG_MAX_LEADS leads and MMDX_AECG_MAX_SAMPLES samples per lead.
 * Possibly identifying fields (names, ids, dates, addresses, free text)
 * are reported through a callback, never logged.
 */
#include "core/common.h"
#include "core/xml.h"
#include "io/aecg.h"
#include "mmdx/format.h"

#include <float.h>

#define STAGE "io.aecg"
#define NS "urn:hl7-org:v3"

static char *attr(xmlNodePtr n, const char *name)
{
    return n ? (char *)xmlGetProp(n, (const xmlChar *)name) : NULL;
}

/* The code attribute of n's <code> child, or NULL (xmlFree). */
static char *code_of(xmlNodePtr n)
{
    return attr(mmdx__xml_child(n, "code", NS), "code");
}

static double unit_to_mv(const char *u)
{
    if (!u || !strcmp(u, "uV"))
        return 1e-3; /* HL7 aECG default unit for leads is uV */
    if (!strcmp(u, "mV"))
        return 1.0;
    if (!strcmp(u, "V"))
        return 1e3;
    if (!strcmp(u, "nV"))
        return 1e-6;
    return 0;
}

static enum mmdx_status num_attr(struct mmdx_ctx *ctx, const char *path,
                                 xmlNodePtr n, const char *field,
                                 double *v, char **unit)
{
    char *s = attr(n, "value");
    bool ok = s && mmdx__parse_double(s, v);

    if (s)
        xmlFree(s);
    if (!ok)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                          n ? (long)xmlGetLineNo(n) : 0, field,
                          "expected a numeric value attribute");
    if (unit)
        *unit = attr(n, "unit");
    return MMDX_OK;
}

/*
 * Parse whitespace-separated integers (decimals tolerated) from text. The
 * values are ADC counts: one beyond 32 bits, or whose scaled value does
 * not fit a float, is refused, as is an element without any value (a lead
 * of no samples would go on as a flat, beatless ECG).
 */
static enum mmdx_status parse_digits(struct mmdx_ctx *ctx, const char *path,
                                     xmlNodePtr dn, const char *label,
                                     const char *text, double origin,
                                     double scale, double mv, float **out,
                                     size_t *n)
{
    size_t cap = 1024, k = 0;
    float *v = mmdx__malloc(cap * sizeof(float));
    const char *p = text;
    const char *why = NULL;

    if (!v)
        return mmdx__nomem(ctx);
    for (;;) {
        char *e;
        double d, x = 0;

        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        errno = 0;
        d = strtod(p, &e);
        if (e == p ||
            (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r'))
            why = "is not a number";
        else if (errno == ERANGE && fabs(d) > 1)
            why = "overflows a 32-bit count";
        else if (!isfinite(d)) /* "inf", "nan" */
            why = "is not a number";
        else if (fabs(d) > 2147483647.0)
            why = "overflows a 32-bit count";
        if (!why) {
            x = (origin + scale * d) * mv;
            if (!(fabs(x) <= FLT_MAX))
                why = "overflows once scaled (origin, scale)";
        }
        if (why) {
            mmdx__free(v);
            return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                              (long)xmlGetLineNo(dn), "digits",
                              "lead %s: sample %zu %s", label, k, why);
        }
        p = e;
        if (k == MMDX_AECG_MAX_SAMPLES) {
            mmdx__free(v);
            return mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path,
                              (long)xmlGetLineNo(dn), "digits",
                              "more than %d samples in a lead",
                              MMDX_AECG_MAX_SAMPLES);
        }
        if (k == cap) {
            float *nv = mmdx__realloc(v, 2 * cap * sizeof(float));

            if (!nv) {
                mmdx__free(v);
                return mmdx__nomem(ctx);
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (float)x;
    }
    if (k == 0) {
        mmdx__free(v);
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                          (long)xmlGetLineNo(dn), "digits",
                          "lead %s: no sample", label);
    }
    *out = v;
    *n = k;
    return MMDX_OK;
}

/* Report possibly identifying elements (by name) below root. */
static enum mmdx_status report_ids(xmlNodePtr n, mmdx__aecg_id_fn fn,
                                   void *user)
{
    static const struct {
        const char *name;
        enum mmdx_id_kind kind;
    } ids[] = {
        { "name", MMDX_ID_NAME },       { "birthTime", MMDX_ID_DATE },
        { "addr", MMDX_ID_ADDRESS },    { "telecom", MMDX_ID_TELECOM },
        { "effectiveTime", MMDX_ID_DATE }, { "activityTime", MMDX_ID_DATE },
        { "text", MMDX_ID_FREE_TEXT },  { "title", MMDX_ID_FREE_TEXT },
    };
    enum mmdx_status st = MMDX_OK;
    xmlNodePtr c;

    for (c = n->children; c && !st; c = c->next) {
        size_t i;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        for (i = 0; i < MMDX_ARRAY_SIZE(ids); i++)
            if (!strcmp((const char *)c->name, ids[i].name))
                break;
        if (i < MMDX_ARRAY_SIZE(ids)) {
            xmlChar *v = xmlNodeGetContent(c);
            char field[160];
            xmlChar *val = NULL;

            if (ids[i].kind == MMDX_ID_DATE) {
                xmlNodePtr t = mmdx__xml_child(c, "center", NS);

                if (!t)
                    t = mmdx__xml_child(c, "low", NS);
                val = xmlGetProp(t ? t : c, (const xmlChar *)"value");
            }
            snprintf(field, sizeof(field), "%s/%s (line %ld)",
                     n->name ? (const char *)n->name : "",
                     (const char *)c->name, (long)xmlGetLineNo(c));
            st = fn(user, field, ids[i].kind,
                    val ? (const char *)val : v ? (const char *)v : "");
            if (val)
                xmlFree(val);
            if (v)
                xmlFree(v);
            continue; /* the subtree is reported as one field */
        }
        if (!strcmp((const char *)c->name, "id") && n->name &&
            (strstr((const char *)n->name, "Subject") ||
             !strcmp((const char *)n->name, "subject") ||
             !strcmp((const char *)n->name, "trialSubject"))) {
            char *ext = attr(c, "extension");
            char field[160];

            snprintf(field, sizeof(field), "%s/id (line %ld)",
                     (const char *)n->name, (long)xmlGetLineNo(c));
            st = fn(user, field, MMDX_ID_NUMBER, ext ? ext : "");
            if (ext)
                xmlFree(ext);
            continue;
        }
        st = report_ids(c, fn, user);
    }
    return st;
}

static xmlNodePtr find_series(xmlNodePtr root)
{
    xmlNodePtr c, first = NULL;

    for (c = mmdx__xml_child(root, "component", NS); c;
         c = mmdx__xml_next(c, "component", NS)) {
        xmlNodePtr s = mmdx__xml_child(c, "series", NS);
        char *code;
        bool rhythm;

        if (!s)
            continue;
        if (!first)
            first = s;
        code = code_of(s);
        rhythm = code && !strcmp(code, "RHYTHM");
        if (code)
            xmlFree(code);
        if (rhythm)
            return s;
    }
    return first;
}

enum mmdx_status mmdx__aecg_parse(struct mmdx_ctx *ctx, const char *path,
                                  xmlDocPtr doc, mmdx__aecg_id_fn idfn,
                                  void *user, struct mmdx_signal **out)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), series, set, c;
    struct mmdx_signal *sig = NULL;
    double fs = 0;
    enum mmdx_status st = MMDX_OK;
    char *u = NULL;

    *out = NULL;
    if (!root || !mmdx__xml_is(root, "AnnotatedECG", NS))
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path, 0, "AnnotatedECG",
                          "root element is not an HL7 v3 AnnotatedECG");
    if (idfn) {
        st = report_ids(root, idfn, user);
        if (st)
            return st == MMDX_E_NOMEM ? mmdx__nomem(ctx) : st;
    }
    series = find_series(root);
    set = series ? mmdx__xml_child(mmdx__xml_child(series, "component", NS),
                                   "sequenceSet", NS)
                 : NULL;
    if (!set)
        return mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                          series ? (long)xmlGetLineNo(series) : 0,
                          "series/component/sequenceSet",
                          "no waveform series");
    sig = mmdx__calloc(1, sizeof(*sig));
    if (!sig)
        return mmdx__nomem(ctx);
    sig->format = MMDX_FMT_AECG_XML;
    /* time sequence first: the sampling interval */
    for (c = mmdx__xml_child(set, "component", NS); c;
         c = mmdx__xml_next(c, "component", NS)) {
        xmlNodePtr seq = mmdx__xml_child(c, "sequence", NS), val;
        char *code = code_of(seq);
        bool is_time = code && (!strcmp(code, "TIME_ABSOLUTE") ||
                                !strcmp(code, "TIME_RELATIVE"));
        double inc;

        if (code)
            xmlFree(code);
        if (!is_time)
            continue;
        val = mmdx__xml_child(seq, "value", NS);
        st = num_attr(ctx, path, mmdx__xml_child(val, "increment", NS),
                      "sequence/value/increment", &inc, &u);
        if (st)
            goto out;
        if (u && !strcmp(u, "ms"))
            inc *= 1e-3;
        else if (u && strcmp(u, "s")) {
            st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path,
                            (long)xmlGetLineNo(val), "increment",
                            "time unit is not s or ms");
            goto out;
        }
        if (!(inc > 0) || 1.0 / inc > 1e6 || 1.0 / inc < 1.0) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                            (long)xmlGetLineNo(val), "increment",
                            "sampling interval %g s gives an absurd rate",
                            inc);
            goto out;
        }
        fs = 1.0 / inc;
        break;
    }
    if (fs == 0) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                        (long)xmlGetLineNo(set), "sequence",
                        "no TIME_ABSOLUTE or TIME_RELATIVE sequence");
        goto out;
    }
    for (c = mmdx__xml_child(set, "component", NS); c;
         c = mmdx__xml_next(c, "component", NS)) {
        xmlNodePtr seq = mmdx__xml_child(c, "sequence", NS), val, dn;
        char *code = code_of(seq);
        const char *lead;
        double origin = 0, scale = 1, mv;
        struct mmdx_channel *ch, *nch;
        xmlChar *txt;

        if (!code)
            continue;
        if (strncmp(code, "MDC_ECG_LEAD_", 13) != 0) {
            xmlFree(code);
            continue;
        }
        if (sig->nch == MMDX_AECG_MAX_LEADS) {
            xmlFree(code);
            st = mmdx__fail(ctx, MMDX_E_LIMIT, STAGE, path,
                            (long)xmlGetLineNo(seq), "sequence",
                            "more than %d leads", MMDX_AECG_MAX_LEADS);
            goto out;
        }
        nch = mmdx__realloc(sig->ch, (sig->nch + 1) * sizeof(*nch));
        if (!nch) {
            xmlFree(code);
            st = mmdx__nomem(ctx);
            goto out;
        }
        sig->ch = nch;
        ch = &sig->ch[sig->nch];
        memset(ch, 0, sizeof(*ch));
        lead = code + 13;
        mmdx__strlcpy(ch->raw_label, code, sizeof(ch->raw_label));
        mmdx__label_normalise(lead, ch->label, sizeof(ch->label));
        xmlFree(code);
        mmdx__strlcpy(ch->unit, "mV", sizeof(ch->unit));
        ch->fs_hz = fs;
        val = mmdx__xml_child(seq, "value", NS);
        if (mmdx__xml_child(val, "origin", NS)) {
            if (u) {
                xmlFree(u);
                u = NULL;
            }
            st = num_attr(ctx, path, mmdx__xml_child(val, "origin", NS),
                          "origin", &origin, &u);
            if (st)
                goto out;
        }
        if (u) {
            xmlFree(u);
            u = NULL;
        }
        st = num_attr(ctx, path, mmdx__xml_child(val, "scale", NS),
                      "sequence/value/scale", &scale, &u);
        if (st)
            goto out;
        mv = unit_to_mv(u);
        if (mv == 0) {
            st = mmdx__fail(ctx, MMDX_E_UNSUPPORTED, STAGE, path,
                            (long)xmlGetLineNo(val), "scale",
                            "unit \"%.16s\" is not a voltage", u);
            goto out;
        }
        dn = mmdx__xml_child(val, "digits", NS);
        if (!dn) {
            st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                            (long)xmlGetLineNo(val), "digits",
                            "lead %s has no digits", ch->label);
            goto out;
        }
        txt = xmlNodeGetContent(dn);
        if (!txt) {
            st = mmdx__nomem(ctx);
            goto out;
        }
        st = parse_digits(ctx, path, dn, ch->label, (const char *)txt,
                          origin, scale, mv, &ch->data, &ch->n);
        xmlFree(txt);
        if (st)
            goto out;
        sig->nch++;
        if ((double)ch->n / fs > sig->duration_s)
            sig->duration_s = (double)ch->n / fs;
    }
    if (sig->nch == 0)
        st = mmdx__fail(ctx, MMDX_E_FORMAT, STAGE, path,
                        (long)xmlGetLineNo(set), "sequence",
                        "no lead (MDC_ECG_LEAD_*) sequence");
out:
    if (u)
        xmlFree(u);
    if (st) {
        mmdx__signal_free(sig);
        return st;
    }
    *out = sig;
    return MMDX_OK;
}

enum mmdx_status mmdx__aecg_read(struct mmdx_ctx *ctx, const char *path,
                                 mmdx__aecg_id_fn idfn, void *user,
                                 struct mmdx_signal **out)
{
    struct mmdx_xml_opts o = { 0, 0, STAGE };
    xmlDocPtr doc = NULL;
    enum mmdx_status st;

    *out = NULL;
    st = mmdx__xml_read_file(ctx, path, &o, &doc);
    if (st)
        return st;
    st = mmdx__aecg_parse(ctx, path, doc, idfn, user, out);
    xmlFreeDoc(doc);
    return st;
}
