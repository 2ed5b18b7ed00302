/*
 * deid_check.c - the deid-check API (mmdx/deid.h): a pipeline's loaders
 * and the check.deid rules, without features, outputs or the runner.
 */
#include "core/common.h"
#include "pipeline/cohort_int.h"
#include "pipeline/deid.h"
#include "pipeline/stage.h"
#include "mmdx/deid.h"
#include "mmdx/format.h"

#include <sys/stat.h>

#define CHECKER_MAGIC 0x44454944u
#define WALK_MAX_DEPTH 8

struct mmdx_deid_checker {
    unsigned magic;
    struct mmdx_ctx *ctx;
    const struct mmdx_pipeline *pipe;
    struct mmdx_stage **stages;
    size_t nstages;
    struct mmdx_deid_rules rules;
};

enum mmdx_status mmdx_deid_checker_new(struct mmdx_ctx *ctx,
                                       const struct mmdx_pipeline *pipe,
                                       struct mmdx_deid_checker **out)
{
    struct mmdx_deid_checker *c;
    enum mmdx_status st;

    *out = NULL;
    c = mmdx__calloc(1, sizeof(*c));
    if (!c)
        return mmdx__nomem(ctx);
    c->magic = CHECKER_MAGIC;
    c->ctx = ctx;
    c->pipe = pipe;
    st = mmdx__stages_new(ctx, pipe, 0, &c->stages, &c->nstages);
    if (st) {
        mmdx__free(c);
        return st;
    }
    mmdx__deid_stage_rules(c->stages, c->nstages, pipe, &c->rules);
    *out = c;
    return MMDX_OK;
}

void mmdx_deid_checker_free(struct mmdx_deid_checker *c)
{
    if (!c)
        return;
    assert(c->magic == CHECKER_MAGIC);
    mmdx__stages_free(c->stages, c->nstages);
    c->magic = 0;
    mmdx__free(c);
}

void mmdx_deid_checker_set_dates_shifted(struct mmdx_deid_checker *c,
                                         bool shifted)
{
    assert(c && c->magic == CHECKER_MAGIC);
    c->rules.dates_shifted = shifted;
}

/* A loader reads its modality's file and needs nothing before it. */
static bool is_loader(const struct mmdx_stage_def *d)
{
    return d->modality >= 0 && d->modality < MMDX_MOD_COUNT && !d->needs;
}

static void report_errors(const struct mmdx_patient *p, size_t from,
                          mmdx_deid_error_fn err_fn, void *user,
                          struct mmdx_deid_counts *counts)
{
    size_t i;

    for (i = from; i < p->nerrors; i++) {
        char line[2400];
        const struct mmdx_patient_error *e = &p->errors[i];

        snprintf(line, sizeof(line), "%s: %s: %s", e->stage,
                 mmdx_status_name(e->code), e->message);
        if (err_fn)
            err_fn(user, p->id, line);
        counts->errors++;
    }
}

/* Load p with the loaders and report its findings. */
static enum mmdx_status check_patient(struct mmdx_deid_checker *c,
                                      struct mmdx_patient *p,
                                      mmdx_deid_finding_fn fn,
                                      mmdx_deid_error_fn err_fn, void *user,
                                      struct mmdx_deid_counts *counts)
{
    size_t i;
    unsigned loaded = 0;
    int m;

    for (i = 0; i < c->nstages; i++) {
        const struct mmdx_stage_def *d = c->stages[i]->def;
        enum mmdx_status st;

        if (!is_loader(d) || !p->path[d->modality] ||
            (p->mod_failed & (1u << d->modality)))
            continue;
        loaded |= 1u << d->modality;
        mmdx_ctx_clear_error(c->ctx);
        st = d->process(c->stages[i], p);
        if (st == MMDX_OK)
            continue;
        if (st == MMDX_E_NOMEM)
            return mmdx__nomem(c->ctx);
        if (mmdx__patient_take_error(p, d->modality, d->name, st))
            return mmdx__nomem(c->ctx);
        p->mod_failed |= 1u << d->modality;
    }
    /* an input no loader read was not checked: say so */
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        if (!p->path[m])
            continue;
        if (loaded & (1u << m)) {
            counts->files++;
            continue;
        }
        mmdx_ctx_clear_error(c->ctx);
        mmdx__fail(c->ctx, MMDX_E_UNSUPPORTED, "deid-check", p->path[m], 0,
                   NULL, "the pipeline has no loader for the %s modality",
                   mmdx__modality_name((enum mmdx_modality)m));
        if (mmdx__patient_take_error(p, m, "deid-check", MMDX_E_UNSUPPORTED))
            return mmdx__nomem(c->ctx);
    }
    counts->patients++;
    report_errors(p, 0, err_fn, user, counts);
    for (i = 0; i < p->nidfields; i++) {
        const struct mmdx_idfield *f = &p->idfields[i];
        struct mmdx_deid_finding fd;

        fd.rule = mmdx__deid_rule(f, p->id, &c->rules);
        if (!fd.rule)
            continue;
        fd.patient_id = p->id;
        fd.modality = f->modality >= 0 && f->modality < MMDX_MOD_COUNT
                          ? mmdx__modality_name((enum mmdx_modality)f->modality)
                          : "patient";
        fd.file = f->file;
        fd.field = f->field;
        counts->findings++;
        if (fn)
            fn(user, &fd);
    }
    mmdx_ctx_clear_error(c->ctx);
    return MMDX_OK;
}

static enum mmdx_status patient_setup(struct mmdx_deid_checker *c,
                                      struct mmdx_patient *p, const char *id,
                                      const char *const in[MMDX_MOD_COUNT],
                                      const char *study_date)
{
    int m;

    memset(p, 0, sizeof(*p));
    p->ctx = c->ctx;
    p->label = -1;
    p->id = mmdx__strdup(id && id[0] ? id : "-");
    if (!p->id)
        return mmdx__nomem(c->ctx);
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (in[m] && !(p->path[m] = mmdx__strdup(in[m])))
            return mmdx__nomem(c->ctx);
    if (study_date && !(p->study_date = mmdx__strdup(study_date)))
        return mmdx__nomem(c->ctx);
    return MMDX_OK;
}

static enum mmdx_status check_one(struct mmdx_deid_checker *c,
                                  const char *id,
                                  const char *const in[MMDX_MOD_COUNT],
                                  const char *study_date,
                                  mmdx_deid_finding_fn fn,
                                  mmdx_deid_error_fn err_fn, void *user,
                                  struct mmdx_deid_counts *counts)
{
    struct mmdx_patient p;
    enum mmdx_status st;

    st = patient_setup(c, &p, id, in, study_date);
    if (!st)
        st = check_patient(c, &p, fn, err_fn, user, counts);
    mmdx__patient_fini(&p);
    return st;
}

enum mmdx_status mmdx_deid_check_files(struct mmdx_deid_checker *c,
                                       const char *patient_id,
                                       const struct mmdx_patient_files *files,
                                       mmdx_deid_finding_fn fn,
                                       mmdx_deid_error_fn err_fn, void *user,
                                       struct mmdx_deid_counts *counts)
{
    const char *in[MMDX_MOD_COUNT];

    assert(c && c->magic == CHECKER_MAGIC);
    in[MMDX_MOD_IMAGE] = files->image;
    in[MMDX_MOD_ECG] = files->ecg;
    in[MMDX_MOD_EEG] = files->eeg;
    in[MMDX_MOD_RECORD] = files->record;
    return check_one(c, patient_id, in, files->study_date, fn, err_fn, user,
                     counts);
}

static enum mmdx_status check_manifest(struct mmdx_deid_checker *c,
                                       const char *path,
                                       mmdx_deid_finding_fn fn,
                                       mmdx_deid_error_fn err_fn, void *user,
                                       struct mmdx_deid_counts *counts)
{
    struct mmdx_manifest *man = NULL;
    enum mmdx_status st;
    size_t i;

    st = mmdx_manifest_read(c->ctx, path, true, &man);
    for (i = 0; !st && i < man->nrows; i++) {
        const struct mmdx_manifest_row *r = &man->rows[i];
        const char *in[MMDX_MOD_COUNT];
        size_t k;
        int m;

        for (m = 0; m < MMDX_MOD_COUNT; m++)
            in[m] = r->path[m];
        /* what `mmdx run` would not load is not checked, and said so: a
         * modality whose cell has a problem, or the whole patient */
        for (k = 0; k < r->nproblems; k++) {
            const struct mmdx_manifest_problem *pr = &r->problems[k];
            char msg[2048], line[2400];

            if (pr->modality >= 0)
                in[pr->modality] = NULL;
            mmdx__manifest_problem_format(man, r, pr, false, msg,
                                          sizeof(msg));
            snprintf(line, sizeof(line), "manifest: %s: %s",
                     mmdx_status_name(pr->code), msg);
            if (err_fn)
                err_fn(user, r->id, line);
            counts->errors++;
        }
        for (m = 0; m < MMDX_MOD_COUNT && !in[m]; m++)
            ;
        if (!r->patient_failed && (m < MMDX_MOD_COUNT || !r->nproblems))
            st = check_one(c, r->id, in, r->study_date, fn, err_fn, user,
                           counts);
    }
    mmdx_manifest_free(man);
    return st;
}

/* One input file alone. Files of no modality (WFDB .dat, notes) are
 * skipped: the loaders reach them through their header. */
static enum mmdx_status check_file(struct mmdx_deid_checker *c,
                                   const char *id, const char *path,
                                   mmdx_deid_finding_fn fn,
                                   mmdx_deid_error_fn err_fn, void *user,
                                   struct mmdx_deid_counts *counts)
{
    const char *in[MMDX_MOD_COUNT] = { NULL, NULL, NULL, NULL };
    enum mmdx_format fmt;
    const char *mod = mmdx_detect_modality(c->ctx, path, &fmt);
    int m;

    if (mmdx__ctx_has_error(c->ctx)) {
        char line[2400];

        if (mmdx_ctx_last_error(c->ctx)->status == MMDX_E_NOMEM)
            return MMDX_E_NOMEM;
        mmdx_error_format(mmdx_ctx_last_error(c->ctx), line, sizeof(line));
        mmdx_ctx_clear_error(c->ctx);
        if (err_fn)
            err_fn(user, id, line);
        counts->errors++;
        return MMDX_OK;
    }
    if (!mod || (m = mmdx__modality_from_name(mod)) < 0)
        return MMDX_OK;
    in[m] = path;
    return check_one(c, id, in, NULL, fn, err_fn, user, counts);
}

static enum mmdx_status walk(struct mmdx_deid_checker *c, const char *dir,
                             const char *id, int depth,
                             mmdx_deid_finding_fn fn,
                             mmdx_deid_error_fn err_fn, void *user,
                             struct mmdx_deid_counts *counts)
{
    char **names = NULL;
    size_t n = 0, i;
    enum mmdx_status st;

    st = mmdx__dir_list(c->ctx, "deid-check", dir, 0, 0, &names, &n);
    if (st) {
        if (st == MMDX_E_NOMEM || depth == 0)
            return st;
        /* an unreadable sub-folder is one unchecked input, not the end */
        if (err_fn) {
            char line[2400];

            mmdx_error_format(mmdx_ctx_last_error(c->ctx), line,
                              sizeof(line));
            err_fn(user, id, line);
        }
        counts->errors++;
        mmdx_ctx_clear_error(c->ctx);
        return MMDX_OK;
    }
    for (i = 0; i < n && !st; i++) {
        char *p = mmdx__path_join(dir, names[i]);
        struct stat sb;

        if (!p) {
            st = mmdx__nomem(c->ctx);
            break;
        }
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (depth < WALK_MAX_DEPTH)
                st = walk(c, p, depth == 0 ? names[i] : id, depth + 1, fn,
                          err_fn, user, counts);
        } else if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
                   !(depth == 0 && strcmp(names[i], "manifest.tsv") == 0)) {
            st = check_file(c, depth == 0 ? "-" : id, p, fn, err_fn, user,
                            counts);
        }
        mmdx__free(p);
    }
    for (i = 0; i < n; i++)
        mmdx__free(names[i]);
    mmdx__free(names);
    return st;
}

/* A manifest starts with its header line, "patient_id" first. */
static bool looks_like_manifest(const char *path)
{
    FILE *fp = fopen(path, "rbe");
    char head[16] = "";
    size_t n;

    if (!fp)
        return false;
    n = fread(head, 1, 10, fp);
    fclose(fp);
    head[n] = '\0';
    return strncmp(head, "patient_id", 10) == 0;
}

enum mmdx_status mmdx_deid_check_path(struct mmdx_deid_checker *c,
                                      const char *path,
                                      mmdx_deid_finding_fn fn,
                                      mmdx_deid_error_fn err_fn, void *user,
                                      struct mmdx_deid_counts *counts)
{
    struct stat sb;
    enum mmdx_status st;
    size_t before;

    assert(c && c->magic == CHECKER_MAGIC);
    if (stat(path, &sb) != 0)
        return mmdx__fail(c->ctx, errno == ENOENT ? MMDX_E_NOTFOUND
                                                  : MMDX_E_IO,
                          "deid-check", path, 0, NULL, "%s",
                          strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char *man = mmdx__path_join(path, "manifest.tsv");

        if (!man)
            return mmdx__nomem(c->ctx);
        if (mmdx__is_file(man))
            st = check_manifest(c, man, fn, err_fn, user, counts);
        else
            st = walk(c, path, "-", 0, fn, err_fn, user, counts);
        mmdx__free(man);
        return st;
    }
    if (looks_like_manifest(path))
        return check_manifest(c, path, fn, err_fn, user, counts);
    before = counts->files + counts->errors;
    st = check_file(c, "-", path, fn, err_fn, user, counts);
    if (!st && counts->files + counts->errors == before)
        return mmdx__fail(c->ctx, MMDX_E_UNSUPPORTED, "deid-check", path, 0,
                          NULL, "not an input of any modality");
    return st;
}
