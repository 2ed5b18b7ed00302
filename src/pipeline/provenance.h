/* provenance.h - the digest of a patient's input, as run.xml and the
 * --resume key record it (docs/provenance.md). */
#ifndef MMDX_PIPELINE_PROVENANCE_H
#define MMDX_PIPELINE_PROVENANCE_H

#include "core/common.h"
#include "pipeline/stage.h"

/*
 * SHA-256 of everything the readers read for input path of modality m:
 * - an ECG that is a WFDB record: mmdx__sha256_files over its header and
 *   every file mmdx__wfdb_files lists (segment headers and signal files),
 *   so editing a .dat changes it; a signal file the header names that the
 *   reader would refuse (outside the header's folder, missing, not a
 *   regular file) is the reader's error, naming the file, and nothing
 *   outside what the reader would open is read; a header the reader
 *   cannot parse (E_FORMAT, E_LIMIT, E_UNSUPPORTED) is all it reads, so
 *   its digest is the header's own SHA-256 (the loader then reports the
 *   error);
 * - a folder (a DICOM series): mmdx__sha256_files over its files;
 * - any other file (EDF, BDF, XML, DICOM, a mask): its own SHA-256.
 */
enum mmdx_status mmdx__input_sha256(struct mmdx_ctx *ctx,
                                    enum mmdx_modality m, const char *path,
                                    char hex[MMDX_SHA256_HEX]);

#endif
