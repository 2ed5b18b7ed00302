/*
 * xml.h - hardened XML parsing shared by every XML reader.
 *
 * Never XML_PARSE_NOENT or XML_PARSE_DTDLOAD; always XML_PARSE_NONET.
 * Documents that declare entities are refused outright (billion laughs,
 * external entities), files are read with a size limit before parsing and
 * the tree depth is bounded. Errors go to the context, never to stderr.
 */
#ifndef MMDX_XML_H
#define MMDX_XML_H

#include "core/common.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#define MMDX_XML_MAX_BYTES ((size_t)64 << 20) /* 64 MiB */
#define MMDX_XML_MAX_DEPTH 256

struct mmdx_xml_opts {
    size_t max_bytes;    /* 0 = MMDX_XML_MAX_BYTES */
    int max_depth;       /* 0 = MMDX_XML_MAX_DEPTH */
    const char *stage;   /* component named in errors ("io.fhir") */
};

/* Parse a file. *out is freed with xmlFreeDoc. */
enum mmdx_status mmdx__xml_read_file(struct mmdx_ctx *ctx, const char *path,
                                     const struct mmdx_xml_opts *opts,
                                     xmlDocPtr *out);
/* Parse a buffer; path is used in messages only. */
enum mmdx_status mmdx__xml_read_mem(struct mmdx_ctx *ctx, const char *path,
                                    const char *data, size_t len,
                                    const struct mmdx_xml_opts *opts,
                                    xmlDocPtr *out);
/*
 * Validate doc against the XSD at xsd_path (itself parsed hardened). The
 * first violation is reported with element and line.
 */
enum mmdx_status mmdx__xml_validate(struct mmdx_ctx *ctx, const char *path,
                                    xmlDocPtr doc, const char *xsd_path,
                                    const char *stage);
/* The same for patient documents: every value libxml2 quotes in its
 * message is replaced by '...' (names of elements, attributes, facets and
 * types are kept), since a quoted value may identify the patient. */
enum mmdx_status mmdx__xml_validate_redacted(struct mmdx_ctx *ctx,
                                             const char *path, xmlDocPtr doc,
                                             const char *xsd_path,
                                             const char *stage);
/* Path of a data file under the context's data folder; new string. */
char *mmdx__data_path(const struct mmdx_ctx *ctx, const char *rel);

/* Small tree helpers: attribute value (owned by libxml2? no: a copy freed
 * with xmlFree) and first child element by local name (any namespace when
 * ns is NULL). */
xmlNodePtr mmdx__xml_child(xmlNodePtr parent, const char *name,
                           const char *ns);
xmlNodePtr mmdx__xml_next(xmlNodePtr node, const char *name, const char *ns);
bool mmdx__xml_is(xmlNodePtr node, const char *name, const char *ns);

#endif
