/*
 * xml.c - hardened libxml2 parsing and XSD validation.
 */
#include "core/common.h"
#include "core/xml.h"

#include <libxml/xmlschemas.h>

static const char *stage_of(const struct mmdx_xml_opts *o)
{
    return o && o->stage ? o->stage : "xml";
}

static int depth_of(xmlNodePtr n, int limit)
{
    /* Iterative walk: a deep document must not blow our stack either. */
    int depth = 0, max = 0;
    xmlNodePtr cur = n;

    while (cur) {
        if (cur->type == XML_ELEMENT_NODE && cur->children) {
            cur = cur->children;
            depth++;
            if (depth > max)
                max = depth;
            if (max > limit)
                return max;
            continue;
        }
        while (cur && !cur->next) {
            cur = cur->parent;
            depth--;
            if (cur == n || depth <= 0)
                return max;
        }
        if (cur)
            cur = cur->next;
    }
    return max;
}

/* Refuse before parsing: an internal DTD subset that declares entities is
 * how billion-laughs and XXE documents start, and none of our formats uses
 * one. (UTF-16 documents are caught after parsing, below.) */
static bool declares_entities(const char *data, size_t len)
{
    const char *dt = memmem(data, len, "<!DOCTYPE", 9), *end;

    if (!dt)
        return false;
    end = memmem(dt, len - (size_t)(dt - data), "]>", 2);
    if (!end)
        end = data + len;
    return memmem(dt, (size_t)(end - dt), "<!ENTITY", 8) != NULL;
}

enum mmdx_status mmdx__xml_read_mem(struct mmdx_ctx *ctx, const char *path,
                                    const char *data, size_t len,
                                    const struct mmdx_xml_opts *opts,
                                    xmlDocPtr *out)
{
    size_t max_bytes = opts && opts->max_bytes ? opts->max_bytes
                                               : MMDX_XML_MAX_BYTES;
    int max_depth = opts && opts->max_depth ? opts->max_depth
                                            : MMDX_XML_MAX_DEPTH;
    xmlParserCtxtPtr pc;
    xmlDocPtr doc;
    int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                XML_PARSE_NOCDATA | XML_PARSE_NOBLANKS;

    *out = NULL;
    if (len > max_bytes)
        return mmdx__fail(ctx, MMDX_E_LIMIT, stage_of(opts), path, 0, NULL,
                          "document is %zu bytes, limit is %zu", len,
                          max_bytes);
    if (len > INT_MAX)
        return mmdx__fail(ctx, MMDX_E_LIMIT, stage_of(opts), path, 0, NULL,
                          "document too large");
    if (declares_entities(data, len))
        return mmdx__fail(ctx, MMDX_E_FORMAT, stage_of(opts), path, 0,
                          "DOCTYPE",
                          "entity declarations are not allowed "
                          "(possible XML bomb or external entity)");
    pc = xmlNewParserCtxt();
    if (!pc)
        return mmdx__nomem(ctx);
    doc = xmlCtxtReadMemory(pc, data, (int)len, NULL, NULL, flags);
    /* Namespace errors (an unbound prefix) leave wellFormed set: a
     * document that is not namespace-well-formed is refused too. */
    if (!doc || !pc->wellFormed || !pc->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(pc);
        char msg[512] = "not well-formed XML";
        long line = 0;

        if (e && e->message) {
            size_t n;

            mmdx__strlcpy(msg, e->message, sizeof(msg));
            n = strlen(msg);
            while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0';
            line = e->line;
        }
        if (doc)
            xmlFreeDoc(doc);
        xmlFreeParserCtxt(pc);
        return mmdx__fail(ctx, MMDX_E_FORMAT, stage_of(opts), path, line,
                          NULL, "%s", msg);
    }
    xmlFreeParserCtxt(pc);
    /* Entities are never needed by the formats we read; their presence is
     * the signature of an XML bomb or an XXE attempt. */
    if (doc->intSubset &&
        (doc->intSubset->entities || doc->intSubset->pentities)) {
        xmlFreeDoc(doc);
        return mmdx__fail(ctx, MMDX_E_FORMAT, stage_of(opts), path, 0,
                          "DOCTYPE",
                          "entity declarations are not allowed "
                          "(possible XML bomb or external entity)");
    }
    if (doc->extSubset) {
        xmlFreeDoc(doc);
        return mmdx__fail(ctx, MMDX_E_FORMAT, stage_of(opts), path, 0,
                          "DOCTYPE", "external DTDs are not allowed");
    }
    if (!xmlDocGetRootElement(doc)) {
        xmlFreeDoc(doc);
        return mmdx__fail(ctx, MMDX_E_FORMAT, stage_of(opts), path, 0, NULL,
                          "document has no root element");
    }
    if (depth_of(xmlDocGetRootElement(doc), max_depth) > max_depth) {
        xmlFreeDoc(doc);
        return mmdx__fail(ctx, MMDX_E_LIMIT, stage_of(opts), path, 0, NULL,
                          "element nesting deeper than %d", max_depth);
    }
    *out = doc;
    return MMDX_OK;
}

enum mmdx_status mmdx__xml_read_file(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_xml_opts *opts,
                                     xmlDocPtr *out)
{
    size_t max_bytes = opts && opts->max_bytes ? opts->max_bytes
                                               : MMDX_XML_MAX_BYTES;
    char *data;
    size_t len;
    enum mmdx_status st;

    *out = NULL;
    st = mmdx__file_read(ctx, path, max_bytes, &data, &len);
    if (st)
        return st;
    st = mmdx__xml_read_mem(ctx, path, data, len, opts, out);
    mmdx__free(data);
    return st;
}

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
    mmdx__strlcpy(v->msg, e->message ? e->message : "invalid", sizeof(v->msg));
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

static enum mmdx_status validate(struct mmdx_ctx *ctx, const char *path,
                                 xmlDocPtr doc, const char *xsd_path,
                                 const char *stage, bool redact_values)
{
    struct mmdx_xml_opts o = { 0, 0, stage };
    xmlDocPtr xsd_doc = NULL;
    xmlSchemaParserCtxtPtr spc = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaValidCtxtPtr vc = NULL;
    struct verr v;
    enum mmdx_status st;
    int rc;

    memset(&v, 0, sizeof(v));
    st = mmdx__xml_read_file(ctx, xsd_path, &o, &xsd_doc);
    if (st)
        return st;
    spc = xmlSchemaNewDocParserCtxt(xsd_doc);
    if (!spc) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    xmlSchemaSetParserStructuredErrors(spc, schema_err, &v);
    schema = xmlSchemaParse(spc);
    if (!schema) {
        st = mmdx__fail(ctx, MMDX_E_INTERNAL, stage, xsd_path, v.line, NULL,
                        "schema does not compile: %s", v.msg);
        goto out;
    }
    vc = xmlSchemaNewValidCtxt(schema);
    if (!vc) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    memset(&v, 0, sizeof(v));
    xmlSchemaSetValidStructuredErrors(vc, schema_err, &v);
    rc = xmlSchemaValidateDoc(vc, doc);
    if (rc != 0 && redact_values)
        redact(v.msg);
    if (rc != 0)
        st = mmdx__fail(ctx, MMDX_E_SCHEMA, stage, path, v.line,
                        v.elem[0] ? v.elem : NULL, "%s",
                        v.set ? v.msg : "document is not valid");
out:
    if (vc)
        xmlSchemaFreeValidCtxt(vc);
    if (schema)
        xmlSchemaFree(schema);
    if (spc)
        xmlSchemaFreeParserCtxt(spc);
    xmlFreeDoc(xsd_doc);
    return st;
}

char *mmdx__data_path(const struct mmdx_ctx *ctx, const char *rel)
{
    return mmdx__path_join(mmdx_ctx_datadir(ctx), rel);
}

bool mmdx__xml_is(xmlNodePtr node, const char *name, const char *ns)
{
    if (!node || node->type != XML_ELEMENT_NODE)
        return false;
    if (strcmp((const char *)node->name, name) != 0)
        return false;
    if (!ns)
        return true;
    return node->ns && node->ns->href &&
           strcmp((const char *)node->ns->href, ns) == 0;
}

xmlNodePtr mmdx__xml_child(xmlNodePtr parent, const char *name,
                           const char *ns)
{
    xmlNodePtr c;

    if (!parent)
        return NULL;
    for (c = parent->children; c; c = c->next)
        if (mmdx__xml_is(c, name, ns))
            return c;
    return NULL;
}

xmlNodePtr mmdx__xml_next(xmlNodePtr node, const char *name, const char *ns)
{
    xmlNodePtr c;

    if (!node)
        return NULL;
    for (c = node->next; c; c = c->next)
        if (mmdx__xml_is(c, name, ns))
            return c;
    return NULL;
}

enum mmdx_status mmdx__xml_validate(struct mmdx_ctx *ctx, const char *path,
                                    xmlDocPtr doc, const char *xsd_path,
                                    const char *stage)
{
    return validate(ctx, path, doc, xsd_path, stage, false);
}

enum mmdx_status mmdx__xml_validate_redacted(struct mmdx_ctx *ctx,
                                             const char *path, xmlDocPtr doc,
                                             const char *xsd_path,
                                             const char *stage)
{
    return validate(ctx, path, doc, xsd_path, stage, true);
}
