/*
 * aecg.h - HL7 v3 annotated ECG (aECG) XML waveform reader.
 */
#ifndef MMDX_AECG_H
#define MMDX_AECG_H

#include "core/common.h"
#include "core/xml.h"
#include "io/signal.h"
#include "pipeline/stage.h"

#define MMDX_AECG_MAX_LEADS 64
#define MMDX_AECG_MAX_SAMPLES (64 * 1024 * 1024)

/* Called for each possibly identifying field; value is never to be
 * logged. Return MMDX_OK or MMDX_E_NOMEM. */
typedef enum mmdx_status (*mmdx__aecg_id_fn)(void *user, const char *field,
                                             enum mmdx_id_kind kind,
                                             const char *value);

/* Read the rhythm waveforms of a parsed document; *out in mV. */
enum mmdx_status mmdx__aecg_parse(struct mmdx_ctx *ctx, const char *path,
                                  xmlDocPtr doc, mmdx__aecg_id_fn idfn,
                                  void *user, struct mmdx_signal **out);
/* Same from a file (hardened XML reader). idfn may be NULL. */
enum mmdx_status mmdx__aecg_read(struct mmdx_ctx *ctx, const char *path,
                                 mmdx__aecg_id_fn idfn, void *user,
                                 struct mmdx_signal **out);

#endif
