/*
 * record_int.h - private to the record readers (record*.c).
 */
#ifndef MMDX_RECORD_INT_H
#define MMDX_RECORD_INT_H

#include "core/common.h"
#include "core/xml.h"
#include "io/record.h"
#include "pipeline/stage.h"

/* What every reader works with. */
struct rec_build {
    struct mmdx_ctx *ctx;
    const char *path;       /* for errors */
    const char *stage;      /* "io.fhir", "io.ccda", "io.record" */
    unsigned flags;         /* MMDX_RECORD_* */
    struct mmdx_record *r;
    const xmlNs *ns;        /* last namespace found to be the format's */
};

/* Append one item (copied); E_NOMEM / E_LIMIT recorded on ctx. */
enum mmdx_status mmdx__rec_add_obs(struct rec_build *b,
                                   const struct mmdx_obs *o);
enum mmdx_status mmdx__rec_add_cond(struct rec_build *b,
                                    const struct mmdx_condition *c);
enum mmdx_status mmdx__rec_add_med(struct rec_build *b,
                                   const struct mmdx_medication *m);
/* Report an identifying field when MMDX_RECORD_IDFIELDS is set; value may
 * be NULL. field must be a static string. */
enum mmdx_status mmdx__rec_idfield(struct rec_build *b, const char *field,
                                   enum mmdx_id_kind kind, const char *value);
/* The same with the text content of node (bounded to 4 KiB). */
enum mmdx_status mmdx__rec_idfield_node(struct rec_build *b,
                                        const char *field,
                                        enum mmdx_id_kind kind,
                                        xmlNodePtr node);
/* Store a code; false (and c->code "") when empty or too long. */
bool mmdx__rec_code_set(struct mmdx_code *c, enum mmdx_codesys sys,
                        const char *code);
/* Add a coding to a list of MMDX_RECORD_NCODES (extra ones dropped). */
void mmdx__rec_codes_add(struct mmdx_code *codes, size_t *n,
                         enum mmdx_codesys sys, const char *code);
/* Copy a unit; false when too long (unit left ""). */
bool mmdx__rec_unit_set(char *dst, const char *unit);

/* Attribute value without copying (NULL when absent). Only for attributes
 * whose value is a single text node, which libxml2 always builds without
 * entities. */
const char *mmdx__rec_attr(xmlNodePtr n, const char *name);
/* Line of a node for errors (0 when unknown). */
long mmdx__rec_line(xmlNodePtr n);

/* The readers: doc is borrowed. */
enum mmdx_status mmdx__record_read_fhir(struct rec_build *b, xmlDocPtr doc);
enum mmdx_status mmdx__record_read_cda(struct rec_build *b, xmlDocPtr doc);
enum mmdx_status mmdx__record_read_mmdx(struct rec_build *b, xmlDocPtr doc);

#define MMDX_NS_FHIR "http://hl7.org/fhir"
#define MMDX_NS_V3 "urn:hl7-org:v3"
#define MMDX_NS_XHTML "http://www.w3.org/1999/xhtml"
#define MMDX_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define MMDX_NS_RECORD "urn:mmdx:record:1"

#endif
