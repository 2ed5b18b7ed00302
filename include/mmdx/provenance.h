/*
 * mmdx/provenance.h - which shard of a cohort a Slurm array task runs, and
 * the digest that identifies a patient's input in run.xml and --resume.
 */
#ifndef MMDX_PROVENANCE_H
#define MMDX_PROVENANCE_H

#include <stdbool.h>
#include "mmdx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The Slurm job-array variables of a task (NULL or "" = not set). */
struct mmdx_slurm_array {
    const char *task_id;     /**< SLURM_ARRAY_TASK_ID */
    const char *task_min;    /**< SLURM_ARRAY_TASK_MIN (absent: 0) */
    const char *task_max;    /**< SLURM_ARRAY_TASK_MAX (absent: unchecked) */
    const char *task_step;   /**< SLURM_ARRAY_TASK_STEP (absent: 1) */
    const char *task_count;  /**< SLURM_ARRAY_TASK_COUNT */
};

/** Largest shard count accepted (as `--shard K/N`). */
#define MMDX_MAX_SHARDS 1000000u

/**
 * The shard K/N an array task runs: N = SLURM_ARRAY_TASK_COUNT and
 * K = (ID - MIN) / STEP, so that `--array=0-3`, `--array=1-4` and
 * `--array=0-6:2` each run shards 0..3 once. Without a task id, *n is 0
 * (not an array task: the whole cohort).
 * @return MMDX_OK, or MMDX_E_USAGE (message names the variables and their
 *   values) when a variable is not a whole number, COUNT is missing,
 *   0 or above MMDX_MAX_SHARDS, STEP is 0, ID is not MIN + i * STEP with
 *   0 <= i < COUNT, or MAX is not MIN + (COUNT - 1) * STEP (an array given
 *   as a list such as `--array=1,3,7` is no range of shards). Never a
 *   silent whole-cohort run for an array task.
 */
MMDX_API enum mmdx_status mmdx_slurm_shard(struct mmdx_ctx *ctx,
                                           const struct mmdx_slurm_array *a,
                                           unsigned *k, unsigned *n);

/** The variables of the current process's environment. */
MMDX_API void mmdx_slurm_array_from_env(struct mmdx_slurm_array *a);

#ifdef __cplusplus
}
#endif

#endif
