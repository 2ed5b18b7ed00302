/*
 * provenance.c - what identifies a run's inputs and shards: the digest of
 * each patient input (a WFDB record is its header and its signal files,
 * not the header alone) and the shard of a Slurm array task.
 */
#include "core/common.h"
#include "io/wfdb.h"
#include "mmdx/format.h"
#include "mmdx/provenance.h"
#include "pipeline/provenance.h"

#include <stdlib.h>

/* ---- input digests ------------------------------------------------------ */

struct file_list {
    struct mmdx_ctx *ctx;
    struct mmdx_sha256_file *v;
    char **names, **paths;
    size_t n, cap;
};

static enum mmdx_status list_add(void *user, const char *name,
                                 const char *path)
{
    struct file_list *l = user;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **nn = mmdx__realloc(l->names, cap * sizeof(*nn));

        if (!nn)
            return mmdx__nomem(l->ctx);
        l->names = nn;
        nn = mmdx__realloc(l->paths, cap * sizeof(*nn));
        if (!nn)
            return mmdx__nomem(l->ctx);
        l->paths = nn;
        l->cap = cap;
    }
    l->names[l->n] = mmdx__strdup(name);
    l->paths[l->n] = mmdx__strdup(path);
    if (!l->names[l->n] || !l->paths[l->n]) {
        mmdx__free(l->names[l->n]);
        mmdx__free(l->paths[l->n]);
        return mmdx__nomem(l->ctx);
    }
    l->n++;
    return MMDX_OK;
}

static void list_fini(struct file_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        mmdx__free(l->names[i]);
        mmdx__free(l->paths[i]);
    }
    mmdx__free(l->names);
    mmdx__free(l->paths);
    mmdx__free(l->v);
}

static enum mmdx_status wfdb_digest(struct mmdx_ctx *ctx, const char *path,
                                    char hex[MMDX_SHA256_HEX])
{
    struct file_list l;
    enum mmdx_status st;
    size_t i;

    memset(&l, 0, sizeof(l));
    l.ctx = ctx;
    st = mmdx__wfdb_files(ctx, path, list_add, &l);
    if (l.n == 0 && (st == MMDX_E_FORMAT || st == MMDX_E_LIMIT ||
                     st == MMDX_E_UNSUPPORTED)) {
        /* a header the reader cannot parse is all it reads: its own
         * SHA-256, and the loader reports the error under its stage */
        list_fini(&l);
        mmdx_ctx_clear_error(ctx);
        return mmdx__sha256_path(ctx, path, hex);
    }
    if (!st) {
        l.v = mmdx__calloc(l.n ? l.n : 1, sizeof(*l.v));
        if (!l.v)
            st = mmdx__nomem(ctx);
    }
    for (i = 0; !st && i < l.n; i++) {
        l.v[i].name = l.names[i];
        l.v[i].path = l.paths[i];
    }
    if (!st)
        st = mmdx__sha256_files(ctx, l.v, l.n, hex);
    list_fini(&l);
    return st;
}

enum mmdx_status mmdx__input_sha256(struct mmdx_ctx *ctx,
                                    enum mmdx_modality m, const char *path,
                                    char hex[MMDX_SHA256_HEX])
{
    enum mmdx_format fmt = MMDX_FMT_UNKNOWN;

    /* the ECG loader reads a WFDB header's signal files too (the EEG
     * loader takes EDF/BDF only: one file) */
    if (m == MMDX_MOD_ECG && mmdx__is_file(path)) {
        enum mmdx_status st = mmdx_detect(ctx, path, &fmt);

        if (st == MMDX_E_NOMEM)
            return st;
        if (st)
            mmdx_ctx_clear_error(ctx); /* hashing the file says why */
        else if (fmt == MMDX_FMT_WFDB_HEADER)
            return wfdb_digest(ctx, path, hex);
    }
    return mmdx__sha256_path(ctx, path, hex);
}

/* ---- Slurm job arrays --------------------------------------------------- */

static bool set(const char *s)
{
    return s && *s;
}

/* A whole number >= 0 in a variable, or a usage error naming it. */
static enum mmdx_status env_number(struct mmdx_ctx *ctx, const char *name,
                                   const char *value, long *out)
{
    if (!mmdx__parse_long(value, out) || *out < 0)
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0, name,
                          "\"%.40s\" is not a whole number >= 0: cannot "
                          "tell this Slurm array task's shard (or pass "
                          "--shard K/N)", value);
    return MMDX_OK;
}

void mmdx_slurm_array_from_env(struct mmdx_slurm_array *a)
{
    a->task_id = getenv("SLURM_ARRAY_TASK_ID");
    a->task_min = getenv("SLURM_ARRAY_TASK_MIN");
    a->task_max = getenv("SLURM_ARRAY_TASK_MAX");
    a->task_step = getenv("SLURM_ARRAY_TASK_STEP");
    a->task_count = getenv("SLURM_ARRAY_TASK_COUNT");
}

enum mmdx_status mmdx_slurm_shard(struct mmdx_ctx *ctx,
                                  const struct mmdx_slurm_array *a,
                                  unsigned *k, unsigned *n)
{
    long id, min = 0, max = -1, step = 1, count, off;
    enum mmdx_status st;

    *k = 0;
    *n = 0;
    if (!set(a->task_id))
        return MMDX_OK; /* not an array task */
    if (!set(a->task_count))
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0,
                          "SLURM_ARRAY_TASK_COUNT",
                          "not set while SLURM_ARRAY_TASK_ID is: cannot "
                          "tell how many shards the array has (pass "
                          "--shard K/N)");
    st = env_number(ctx, "SLURM_ARRAY_TASK_ID", a->task_id, &id);
    if (!st)
        st = env_number(ctx, "SLURM_ARRAY_TASK_COUNT", a->task_count,
                        &count);
    if (!st && set(a->task_min))
        st = env_number(ctx, "SLURM_ARRAY_TASK_MIN", a->task_min, &min);
    if (!st && set(a->task_max))
        st = env_number(ctx, "SLURM_ARRAY_TASK_MAX", a->task_max, &max);
    if (!st && set(a->task_step))
        st = env_number(ctx, "SLURM_ARRAY_TASK_STEP", a->task_step, &step);
    if (st)
        return st;
    if (count < 1 || (unsigned long)count > MMDX_MAX_SHARDS)
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0,
                          "SLURM_ARRAY_TASK_COUNT",
                          "%ld shards: the count must be 1 to %u (or pass "
                          "--shard K/N)", count, MMDX_MAX_SHARDS);
    if (step < 1)
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0,
                          "SLURM_ARRAY_TASK_STEP",
                          "0: the step must be 1 or more (or pass --shard "
                          "K/N)");
    /* the task ids must be MIN, MIN+STEP, ..., MAX: one per shard (Slurm
     * 22.05 gives a list such as --array=1,3,5 STEP 1: refused here) */
    if (max >= 0 && (max < min || (max - min) % step != 0 ||
                     (max - min) / step != count - 1))
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0,
                          "SLURM_ARRAY_TASK_MAX",
                          "the array's task ids are not one range with a "
                          "task for each shard: SLURM_ARRAY_TASK_MIN=%ld to "
                          "SLURM_ARRAY_TASK_MAX=%ld by SLURM_ARRAY_TASK_STEP="
                          "%ld does not make SLURM_ARRAY_TASK_COUNT=%ld tasks "
                          "(an array given as a list, such as "
                          "--array=1,3,5?): submit --array=FIRST-LAST[:STEP] "
                          "or pass --shard K/N", min, max, step, count);
    off = id - min;
    if (off < 0 || off % step != 0 || off / step >= count)
        return mmdx__fail(ctx, MMDX_E_USAGE, NULL, NULL, 0,
                          "SLURM_ARRAY_TASK_ID",
                          "task %ld has no shard: (SLURM_ARRAY_TASK_ID - "
                          "SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP = "
                          "(%ld - %ld) / %ld must be a whole number from 0 "
                          "to SLURM_ARRAY_TASK_COUNT - 1 = %ld (or pass "
                          "--shard K/N)", id, id, min, step, count - 1);
    *k = (unsigned)(off / step);
    *n = (unsigned)count;
    return MMDX_OK;
}
