/* runner.h - what other areas need from the batch runner. */
#ifndef MMDX_RUNNER_H
#define MMDX_RUNNER_H

#include "core/common.h"
#include "pipeline/stage.h"

/*
 * Concatenate patients/<id>/<name> of the listed patients (in order) into
 * out_dir/<name> under a header line, atomically. Per-patient files hold
 * rows without a header; absent files contribute nothing.
 */
enum mmdx_status mmdx__merge_rows(struct mmdx_ctx *ctx, const char *out_dir,
                                  const char *const *ids, size_t nids,
                                  const char *name, const char *header);

/* Write a per-patient output file patients/<id>/<name> atomically. */
enum mmdx_status mmdx__patient_write(struct mmdx_patient *p,
                                     const char *name, const char *data,
                                     size_t len);

#endif
