/* cohort_int.h - the manifest as the runner sees it. */
#ifndef MMDX_COHORT_INT_H
#define MMDX_COHORT_INT_H

#include "core/common.h"
#include "pipeline/stage.h"
#include "mmdx/cohort.h"
#include "mmdx/format.h"

enum { MMDX_COL_MASK = MMDX_MOD_COUNT, MMDX_NPATHCOLS };

struct mmdx_manifest_row {
    char *id;
    char *path[MMDX_NPATHCOLS];   /* resolved (dir/cell), NULL = empty */
    char *cell[MMDX_NPATHCOLS];   /* as written in the manifest */
    int label;                    /* 0, 1, -1 */
    char *split;
    char *study_date;
    char *mask_label;             /* label / segment of the mask, or NULL */
    long line;
};

struct mmdx_manifest {
    char *path, *dir;
    char sha256[MMDX_SHA256_HEX];
    struct mmdx_manifest_row *rows;
    size_t nrows, cap;
};

/* Validate a study date "YYYY", "YYYY-MM" or "YYYY-MM-DD". */
bool mmdx__date_valid(const char *s);
/* Patient ids become folder names: [A-Za-z0-9._-], 1..64, not . or .. */
bool mmdx__patient_id_valid(const char *s);

#endif
