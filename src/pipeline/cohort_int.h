/* cohort_int.h - the manifest as the runner sees it. */
#ifndef MMDX_COHORT_INT_H
#define MMDX_COHORT_INT_H

#include "core/common.h"
#include "pipeline/stage.h"
#include "mmdx/cohort.h"
#include "mmdx/format.h"

enum { MMDX_COL_MASK = MMDX_MOD_COUNT, MMDX_NPATHCOLS };

/* Something wrong in one row that the run reports for that patient and
 * goes on (DESIGN: "the cohort run always goes on"): a path cell that
 * cannot be used fails its modality (a mask cell or mask_label: the
 * image), a bad label, split or study_date fails the patient. Only what
 * makes the manifest itself unreadable (header, column count, patient_id,
 * duplicates, limits) is fatal. */
struct mmdx_manifest_problem {
    int col;                      /* 0..MMDX_NPATHCOLS-1: a path column;
                                     -1: another column */
    int modality;                 /* modality it fails, -1 = the patient */
    const char *column;           /* column name (static) */
    enum mmdx_status code;
    char *file;                   /* path as the runner would open it, or
                                     NULL */
    char *text;                   /* what is wrong: no patient value */
};

struct mmdx_manifest_row {
    char *id;
    char *path[MMDX_NPATHCOLS];   /* resolved (dir/cell), NULL = empty */
    char *cell[MMDX_NPATHCOLS];   /* as written in the manifest */
    int label;                    /* 0, 1, -1 */
    char *split;
    char *study_date;
    char *mask_label;             /* label / segment of the mask, or NULL */
    long line;
    struct mmdx_manifest_problem *problems;
    size_t nproblems;
    bool patient_failed;          /* a problem fails the whole patient */
};

struct mmdx_manifest {
    char *path, *dir;
    char *realdir;                /* dir with links resolved (libc
                                     allocation), when files are checked */
    char sha256[MMDX_SHA256_HEX];
    struct mmdx_manifest_row *rows;
    size_t nrows, cap;
};

/* "MANIFEST:LINE: [manifest: ]COLUMN: text" into buf (always
 * terminated); returns buf. */
char *mmdx__manifest_problem_format(const struct mmdx_manifest *m,
                                    const struct mmdx_manifest_row *row,
                                    const struct mmdx_manifest_problem *pr,
                                    bool with_stage, char *buf, size_t size);
/* Give patient p (set up from row) the row's problems: one error row each
 * (stage "manifest", code, the file), the modality they concern marked
 * failed (its path set to the file, so the patient counts it as present
 * but unusable). Returns MMDX_OK or MMDX_E_NOMEM. */
enum mmdx_status mmdx__manifest_row_apply(const struct mmdx_manifest *m,
                                          const struct mmdx_manifest_row *row,
                                          struct mmdx_patient *p);

/* Why s is not a valid patient id (a static phrase), or NULL when it is. */
const char *mmdx__patient_id_problem(const char *s);

/* Validate a study date "YYYY", "YYYY-MM" or "YYYY-MM-DD". */
bool mmdx__date_valid(const char *s);
/* Patient ids become folder names: [A-Za-z0-9._-], 1..64, not . or .. */
bool mmdx__patient_id_valid(const char *s);

#endif
