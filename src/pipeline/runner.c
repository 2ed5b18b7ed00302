/*
 * runner.c - the batch runner: a pool of workers over the cohort's
 * patients, per-patient outputs written atomically, a commit marker per
 * patient for --resume, and the cohort tables merged at the end.
 *
 * Memory is bounded by one patient per worker: rows are read up front
 * (paths only), each worker holds one patient's data at a time, and the
 * final tables are merged by streaming the per-patient files.
 */
#include "core/common.h"
#include "core/xml.h"
#include "pipeline/cohort_int.h"
#include "pipeline/runner.h"
#include "pipeline/provenance.h"
#include "fusion/risk.h"
#include "pipeline/stage.h"
#include "report/report.h"
#include "mmdx/cohort.h"
#include "mmdx/pipeline.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_MAGIC "mmdx-patient-status 1"
#define MAX_JOBS 256

struct run {
    struct mmdx_ctx *ctx;            /* caller's: fatal errors only */
    const struct mmdx_run_opts *o;
    struct mmdx_pipeline *pipe;
    struct mmdx_manifest *man;
    char *out, *pdir;
    size_t *rows, nrows;
    size_t next, done;               /* atomics */
    size_t n_ok, n_partial, n_failed, n_skipped;
    pthread_mutex_t lock;
    enum mmdx_status fatal;
    struct mmdx_error fatal_err;
    double t0;
    mmdx_log_fn log_fn;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *status_word(int s)
{
    return s == 0 ? "ok" : s == 1 ? "partial" : "failed";
}

enum mmdx_status mmdx__patient_write(struct mmdx_patient *p,
                                     const char *name, const char *data,
                                     size_t len)
{
    char *path;
    enum mmdx_status st;

    if (!p->out_dir)
        return MMDX_OK;
    path = mmdx__path_join(p->out_dir, name);
    if (!path)
        return mmdx__nomem(p->ctx);
    st = mmdx__file_write_atomic(p->ctx, path, data, len);
    mmdx__free(path);
    return st;
}

/* Tabs and newlines would break a TSV row; messages never need them. */
static void add_cell(struct mmdx_dstr *d, const char *s)
{
    const char *c;

    for (c = s ? s : ""; *c; c++) {
        char ch = (*c == '\t' || *c == '\n' || *c == '\r') ? ' ' : *c;

        mmdx__dstr_add(d, &ch, 1);
    }
}

/* The key that decides whether a patient's outputs are current: pipeline
 * bytes, id, study date and every input's content. */
static enum mmdx_status patient_key(struct mmdx_ctx *ctx,
                                    const struct run *r,
                                    const struct mmdx_patient *p,
                                    char key[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *h;
    enum mmdx_status st = mmdx__sha256_new(ctx, &h);
    int m;

    if (st)
        return st;
    mmdx__sha256_update(h, mmdx_pipeline_hash(r->pipe), 64);
    mmdx__sha256_update(h, p->id, strlen(p->id) + 1);
    if (p->study_date)
        mmdx__sha256_update(h, p->study_date, strlen(p->study_date));
    mmdx__sha256_update(h, "|", 1);
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        mmdx__sha256_update(h, p->input_sha256[m], 65);
    mmdx__sha256_update(h, p->mask_sha256, 65);
    if (p->mask_label)
        mmdx__sha256_update(h, p->mask_label, strlen(p->mask_label) + 1);
    mmdx__sha256_update(h, p->label == 1 ? "1" : p->label == 0 ? "0" : "-",
                        1);
    mmdx__sha256_final(h, key);
    return MMDX_OK;
}

/* Outputs of a patient are current when its status file carries our key. */
static int resume_status(struct mmdx_ctx *ctx, const char *dir,
                         const char *key)
{
    char *path = mmdx__path_join(dir, "status"), *data = NULL, *k;
    size_t len;
    int result = -1;

    if (!path)
        return -1;
    if (mmdx__is_file(path) &&
        mmdx__file_read(ctx, path, 1 << 16, &data, &len) == MMDX_OK &&
        strncmp(data, STATUS_MAGIC "\n", strlen(STATUS_MAGIC) + 1) == 0) {
        k = strstr(data, "\nkey ");
        if (k && strncmp(k + 5, key, 64) == 0) {
            if (strstr(data, "\nstatus ok\n"))
                result = 0;
            else if (strstr(data, "\nstatus partial\n"))
                result = 1;
            else if (strstr(data, "\nstatus failed\n"))
                result = 2;
        }
    }
    mmdx_ctx_clear_error(ctx);
    mmdx__free(data);
    mmdx__free(path);
    return result;
}

static enum mmdx_status write_patient_outputs(struct mmdx_patient *p,
                                              const char *key, int status)
{
    struct mmdx_dstr d;
    char num[32];
    size_t i;
    int m;
    enum mmdx_status st = MMDX_OK;

    mmdx__dstr_init(&d, 0);
    mmdx__featset_sort(&p->features);
    for (i = 0; i < p->features.n; i++)
        mmdx__dstr_addf(&d, "%s\t%s\n", p->features.v[i].name,
                        mmdx__fmt_double(p->features.v[i].value, num));
    st = mmdx__patient_write(p, "features.tsv", d.s, d.len);

    mmdx__dstr_reset(&d);
    for (i = 0; i < p->nerrors && !st; i++) {
        const struct mmdx_patient_error *e = &p->errors[i];

        add_cell(&d, p->id);
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, e->modality >= 0
                         ? mmdx__modality_name((enum mmdx_modality)e->modality)
                         : "patient");
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, e->file ? e->file : "");
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, e->stage);
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, mmdx_status_name(e->code));
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, e->message);
        mmdx__dstr_adds(&d, "\n");
    }
    if (!st)
        st = mmdx__patient_write(p, "errors.tsv", d.s, d.len);

    mmdx__dstr_reset(&d);
    for (i = 0; i < p->nflags && !st; i++) {
        add_cell(&d, p->id);
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, p->flags[i].modality >= 0
                         ? mmdx__modality_name(
                               (enum mmdx_modality)p->flags[i].modality)
                         : "patient");
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, p->flags[i].code);
        mmdx__dstr_adds(&d, "\t");
        add_cell(&d, p->flags[i].message);
        mmdx__dstr_adds(&d, "\n");
    }
    if (!st)
        st = mmdx__patient_write(p, "flags.tsv", d.s, d.len);

    /* the status file goes last: it is the commit marker for --resume */
    mmdx__dstr_reset(&d);
    mmdx__dstr_addf(&d, STATUS_MAGIC "\nkey %s\nstatus %s\n", key,
                    status_word(status));
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (p->input_sha256[m][0])
            mmdx__dstr_addf(&d, "input %s %s\n",
                            mmdx__modality_name((enum mmdx_modality)m),
                            p->input_sha256[m]);
    if (p->mask_sha256[0])
        mmdx__dstr_addf(&d, "input mask %s\n", p->mask_sha256);
    if (!st)
        st = mmdx__patient_write(p, "status", d.s, d.len);
    mmdx__dstr_fini(&d);
    return st;
}

static enum mmdx_status patient_init(struct mmdx_ctx *ctx,
                                     struct mmdx_patient *p,
                                     const struct mmdx_manifest_row *row,
                                     size_t index)
{
    int m;

    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
    p->index = index;
    p->label = row->label;
    p->id = mmdx__strdup(row->id);
    if (!p->id)
        return mmdx__nomem(ctx);
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (row->path[m] && !(p->path[m] = mmdx__strdup(row->path[m])))
            return mmdx__nomem(ctx);
    if (row->path[MMDX_COL_MASK] &&
        !(p->mask_path = mmdx__strdup(row->path[MMDX_COL_MASK])))
        return mmdx__nomem(ctx);
    if (row->study_date && !(p->study_date = mmdx__strdup(row->study_date)))
        return mmdx__nomem(ctx);
    if (row->mask_label && !(p->mask_label = mmdx__strdup(row->mask_label)))
        return mmdx__nomem(ctx);
    if (row->split && !(p->split = mmdx__strdup(row->split)))
        return mmdx__nomem(ctx);
    return MMDX_OK;
}

/* Hash every input (all the files its reader reads: pipeline/provenance.h);
 * an unreadable one fails its modality, not the run. */
static enum mmdx_status hash_inputs(struct mmdx_patient *p)
{
    int m;

    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        if (!p->path[m] || (p->mod_failed & (1u << m)))
            continue; /* absent, or failed by its manifest cell */
        if (mmdx__input_sha256(p->ctx, (enum mmdx_modality)m, p->path[m],
                               p->input_sha256[m])) {
            if (mmdx_ctx_last_error(p->ctx)->status == MMDX_E_NOMEM)
                return MMDX_E_NOMEM;
            if (mmdx__patient_take_error(p, m, "load", MMDX_E_IO))
                return MMDX_E_NOMEM;
            p->mod_failed |= 1u << m;
            mmdx__strlcpy(p->input_sha256[m], "unreadable",
                          MMDX_SHA256_HEX);
        }
    }
    if (p->mask_path &&
        mmdx__sha256_path(p->ctx, p->mask_path, p->mask_sha256)) {
        if (mmdx_ctx_last_error(p->ctx)->status == MMDX_E_NOMEM)
            return MMDX_E_NOMEM;
        if (mmdx__patient_take_error(p, MMDX_MOD_IMAGE, "load", MMDX_E_IO))
            return MMDX_E_NOMEM;
        p->mod_failed |= 1u << MMDX_MOD_IMAGE;
        mmdx__strlcpy(p->mask_sha256, "unreadable", MMDX_SHA256_HEX);
    }
    return MMDX_OK;
}

/* An input without a digest cannot show that it is unchanged: such a
 * patient is always run again, never resumed. */
static bool any_unreadable(const struct mmdx_patient *p)
{
    int m;

    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (!strcmp(p->input_sha256[m], "unreadable"))
            return true;
    return !strcmp(p->mask_sha256, "unreadable");
}

/* A row's manifest problems go into its key (column, code, file, text:
 * not the line, so an edit elsewhere in the manifest reruns nothing),
 * so that fixing the cell reruns the patient under --resume. */
static enum mmdx_status key_add_problems(struct mmdx_ctx *ctx,
                                         const struct mmdx_manifest_row *row,
                                         char key[MMDX_SHA256_HEX])
{
    struct mmdx_sha256 *h;
    enum mmdx_status st = mmdx__sha256_new(ctx, &h);
    size_t k;

    if (st)
        return st;
    mmdx__sha256_update(h, key, 64);
    for (k = 0; k < row->nproblems; k++) {
        const struct mmdx_manifest_problem *pr = &row->problems[k];
        const char *code = mmdx_status_name(pr->code);

        mmdx__sha256_update(h, pr->column, strlen(pr->column) + 1);
        mmdx__sha256_update(h, code, strlen(code) + 1);
        mmdx__sha256_update(h, pr->file ? pr->file : "",
                            pr->file ? strlen(pr->file) + 1 : 1);
        mmdx__sha256_update(h, pr->text, strlen(pr->text) + 1);
    }
    mmdx__sha256_final(h, key);
    return MMDX_OK;
}

/* 0 ok, 1 partial, 2 failed */
static int classify(const struct mmdx_patient *p, enum mmdx_status st)
{
    if (st != MMDX_OK)
        return 2;
    return (p->nerrors || p->mod_failed) ? 1 : 0;
}

static enum mmdx_status run_one(struct run *r, struct mmdx_ctx *ctx,
                                struct mmdx_stage **stages, size_t nstages,
                                size_t row_index, int *status_out)
{
    const struct mmdx_manifest_row *row = &r->man->rows[row_index];
    struct mmdx_patient p;
    char key[MMDX_SHA256_HEX];
    char *dir = NULL;
    enum mmdx_status st, pst;
    int status;

    *status_out = -1;
    st = patient_init(ctx, &p, row, row_index);
    if (!st && row->nproblems && mmdx__manifest_row_apply(r->man, row, &p))
        st = mmdx__nomem(ctx);
    if (!st && !row->patient_failed)
        st = hash_inputs(&p);
    if (!st)
        st = patient_key(ctx, r, &p, key);
    if (!st && row->nproblems)
        st = key_add_problems(ctx, row, key);
    if (!st) {
        dir = mmdx__path_join(r->pdir, p.id);
        if (!dir)
            st = mmdx__nomem(ctx);
    }
    if (!st && r->o->resume && !any_unreadable(&p)) {
        status = resume_status(ctx, dir, key);
        if (status >= 0) {
            *status_out = 3 + status; /* skipped */
            goto out;
        }
    }
    if (!st)
        st = mmdx__mkdir_p(ctx, dir);
    if (st)
        goto out;
    p.out_dir = dir;
    if (row->patient_failed) /* its manifest row fails it: nothing runs */
        pst = p.errors[0].code;
    else
        pst = mmdx__stages_run(stages, nstages, &p, r->o->strict);
    if (pst == MMDX_E_NOMEM) {
        st = pst;
        goto out;
    }
    if (pst != MMDX_OK && p.nerrors == 0) {
        /* nothing usable and nothing said why: no input at all */
        mmdx__fail(ctx, pst, "run", NULL, 0, NULL,
                   "no usable modality for this patient");
        if (mmdx__patient_take_error(&p, -1, "run", pst)) {
            st = mmdx__nomem(ctx);
            goto out;
        }
    }
    status = classify(&p, pst);
    mmdx_ctx_clear_error(ctx);
    st = write_patient_outputs(&p, key, status);
    if (!st)
        *status_out = status;
out:
    mmdx__free(dir);
    mmdx__patient_fini(&p);
    return st;
}

static void *worker_main(void *arg)
{
    void **a = arg;
    struct run *r = a[0];
    int wid = (int)(intptr_t)a[1];
    struct mmdx_ctx *ctx = NULL;
    struct mmdx_stage **stages = NULL;
    size_t nstages = 0;
    enum mmdx_status st;

    st = mmdx_ctx_new(&ctx);
    if (!st)
        st = mmdx_ctx_set_datadir(ctx, mmdx_ctx_datadir(r->ctx));
    if (!st) {
        mmdx__ctx_copy_log(ctx, r->ctx);
        st = mmdx__stages_new(ctx, r->pipe, wid, &stages, &nstages);
    }
    while (!st) {
        size_t i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        int status;

        if (i >= r->nrows)
            break;
        pthread_mutex_lock(&r->lock);
        if (r->fatal) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        pthread_mutex_unlock(&r->lock);
        st = run_one(r, ctx, stages, nstages, r->rows[i], &status);
        if (st)
            break;
        pthread_mutex_lock(&r->lock);
        switch (status) {
        case 0: r->n_ok++; break;
        case 1: r->n_partial++; break;
        case 2: r->n_failed++; break;
        default: r->n_skipped++; break;
        }
        r->done++;
        if (r->o->progress)
            r->o->progress(r->o->progress_user, r->done, r->nrows,
                           now_s() - r->t0);
        pthread_mutex_unlock(&r->lock);
        if (r->o->limit && r->done >= r->o->limit)
            break;
    }
    if (st) {
        pthread_mutex_lock(&r->lock);
        if (!r->fatal) {
            r->fatal = st;
            r->fatal_err = *mmdx_ctx_last_error(ctx);
        }
        pthread_mutex_unlock(&r->lock);
    }
    mmdx__stages_free(stages, nstages);
    mmdx_ctx_free(ctx);
    return NULL;
}

/* ---- merged outputs ------------------------------------------------------ */

struct atable {
    FILE *fp;
    char *tmp, *path;
};

static enum mmdx_status atable_open(struct mmdx_ctx *ctx, const char *dir,
                                    const char *name, struct atable *t)
{
    int fd;

    memset(t, 0, sizeof(*t));
    t->path = mmdx__path_join(dir, name);
    if (!t->path)
        return mmdx__nomem(ctx);
    t->tmp = mmdx__malloc(strlen(t->path) + 16);
    if (!t->tmp)
        return mmdx__nomem(ctx);
    snprintf(t->tmp, strlen(t->path) + 16, "%s.tmp.XXXXXX", t->path);
    fd = mkostemp(t->tmp, O_CLOEXEC);
    if (fd < 0)
        return mmdx__fail(ctx, MMDX_E_IO, "run", t->path, 0, NULL,
                          "cannot create: %s", strerror(errno));
    if (fchmod(fd, MMDX_FILE_MODE) < 0 || !(t->fp = fdopen(fd, "w"))) {
        close(fd);
        unlink(t->tmp);
        return mmdx__fail(ctx, MMDX_E_IO, "run", t->path, 0, NULL,
                          "cannot create: %s", strerror(errno));
    }
    return MMDX_OK;
}

static enum mmdx_status atable_close(struct mmdx_ctx *ctx, struct atable *t,
                                     bool commit)
{
    enum mmdx_status st = MMDX_OK;

    if (t->fp) {
        bool bad = ferror(t->fp) != 0;

        if (fflush(t->fp) != 0 || fsync(fileno(t->fp)) != 0)
            bad = true;
        if (fclose(t->fp) != 0)
            bad = true;
        t->fp = NULL;
        if (commit && !bad && rename(t->tmp, t->path) == 0) {
            /* done */
        } else {
            if (commit)
                st = mmdx__fail(ctx, MMDX_E_IO, "run", t->path, 0, NULL,
                                "write failed: %s", strerror(errno));
            unlink(t->tmp);
        }
    }
    mmdx__free(t->tmp);
    mmdx__free(t->path);
    memset(t, 0, sizeof(*t));
    return st;
}

static enum mmdx_status read_patient_file(struct mmdx_ctx *ctx,
                                          const char *pdir, const char *id,
                                          const char *name, char **data,
                                          size_t *len)
{
    char *d = mmdx__path_join(pdir, id), *f = NULL;
    enum mmdx_status st = MMDX_OK;

    *data = NULL;
    *len = 0;
    if (d)
        f = mmdx__path_join(d, name);
    if (!f)
        st = mmdx__nomem(ctx);
    else if (mmdx__is_file(f))
        st = mmdx__file_read(ctx, f, (size_t)1 << 30, data, len);
    mmdx__free(f);
    mmdx__free(d);
    return st;
}

enum mmdx_status mmdx__merge_rows(struct mmdx_ctx *ctx, const char *out_dir,
                                  const char *const *ids, size_t nids,
                                  const char *name, const char *header)
{
    struct atable t;
    char *pdir = mmdx__path_join(out_dir, "patients");
    size_t i;
    enum mmdx_status st;

    if (!pdir)
        return mmdx__nomem(ctx);
    st = atable_open(ctx, out_dir, name, &t);
    if (!st)
        fprintf(t.fp, "%s\n", header);
    for (i = 0; i < nids && !st; i++) {
        char *data;
        size_t len;

        st = read_patient_file(ctx, pdir, ids[i], name, &data, &len);
        if (!st && len)
            fwrite(data, 1, len, t.fp);
        mmdx__free(data);
    }
    st = st ? (atable_close(ctx, &t, false), st) : atable_close(ctx, &t, true);
    mmdx__free(pdir);
    return st;
}

/* Sorted set of feature names, grown by insertion. */
struct nameset {
    char **v;
    size_t n, cap;
};

static long nameset_find(const struct nameset *s, const char *name,
                         bool *found)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->v[mid], name);

        if (c == 0) {
            *found = true;
            return (long)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return (long)lo;
}

static enum mmdx_status nameset_add(struct nameset *s, const char *name,
                                    size_t len)
{
    char tmp[512];
    bool found;
    long at;
    char *copy;

    if (len >= sizeof(tmp))
        return MMDX_E_LIMIT;
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    at = nameset_find(s, tmp, &found);
    if (found)
        return MMDX_OK;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        char **nv = mmdx__realloc(s->v, ncap * sizeof(*nv));

        if (!nv)
            return MMDX_E_NOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    copy = mmdx__strdup(tmp);
    if (!copy)
        return MMDX_E_NOMEM;
    memmove(s->v + at + 1, s->v + at, (s->n - (size_t)at) * sizeof(*s->v));
    s->v[at] = copy;
    s->n++;
    return MMDX_OK;
}

static void nameset_fini(struct nameset *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        mmdx__free(s->v[i]);
    mmdx__free(s->v);
}


/* features.tsv: one row a patient (manifest order), one column a feature
 * (sorted by name), NA where missing; loads directly in pandas and R. */
static enum mmdx_status merge_features(struct mmdx_ctx *ctx,
                                       const char *out_dir,
                                       const char *const *ids, size_t nids)
{
    struct nameset names = { NULL, 0, 0 };
    struct atable t;
    char *pdir = mmdx__path_join(out_dir, "patients");
    size_t i, k;
    enum mmdx_status st = MMDX_OK;

    memset(&t, 0, sizeof(t));
    if (!pdir)
        return mmdx__nomem(ctx);
    for (i = 0; i < nids && !st; i++) {
        char *data, *s;
        size_t len;

        st = read_patient_file(ctx, pdir, ids[i], "features.tsv", &data,
                               &len);
        for (s = data; !st && s && *s;) {
            char *tab = strchr(s, '\t'), *nl = strchr(s, '\n');

            if (!nl)
                nl = s + strlen(s);
            if (tab && tab < nl && nameset_add(&names, s, (size_t)(tab - s)))
                st = mmdx__nomem(ctx);
            s = *nl ? nl + 1 : nl;
        }
        mmdx__free(data);
    }
    if (!st)
        st = atable_open(ctx, out_dir, "features.tsv", &t);
    if (!st) {
        fputs("patient_id", t.fp);
        for (k = 0; k < names.n; k++)
            fprintf(t.fp, "\t%s", names.v[k]);
        fputc('\n', t.fp);
    }
    for (i = 0; i < nids && !st; i++) {
        char *data, *s;
        size_t len;

        st = read_patient_file(ctx, pdir, ids[i], "features.tsv", &data,
                               &len);
        if (st)
            break;
        fputs(ids[i], t.fp);
        s = data;
        for (k = 0; k < names.n; k++) {
            size_t nl_len = strlen(names.v[k]);

            if (s && *s && strncmp(s, names.v[k], nl_len) == 0 &&
                s[nl_len] == '\t') {
                char *v = s + nl_len + 1, *nl = strchr(v, '\n');

                if (!nl)
                    nl = v + strlen(v);
                fputc('\t', t.fp);
                fwrite(v, 1, (size_t)(nl - v), t.fp);
                s = *nl ? nl + 1 : nl;
            } else {
                fputs("\tNA", t.fp);
            }
        }
        fputc('\n', t.fp);
        mmdx__free(data);
    }
    if (t.path)
        st = st ? (atable_close(ctx, &t, false), st)
                : atable_close(ctx, &t, true);
    nameset_fini(&names);
    mmdx__free(pdir);
    return st;
}

static void xml_attr(FILE *fp, const char *name, const char *value)
{
    struct mmdx_dstr d;

    mmdx__dstr_init(&d, 0);
    mmdx__dstr_add_xml(&d, value ? value : "");
    fprintf(fp, " %s=\"%s\"", name, d.s);
    mmdx__dstr_fini(&d);
}

/* What run.xml says about a run (or a merge of shard runs). */
struct runinfo {
    const char *out;
    const char *pipeline_name, *pipeline_path, *pipeline_sha256;
    const char *manifest_path, *manifest_sha256;
    size_t cohort_rows;
    unsigned shard_k, shard_n;      /* n 0 = whole cohort */
    size_t total, ok, partial, failed, resumed;
    double seconds;
    int jobs;
};

static enum mmdx_status write_run_xml(struct mmdx_ctx *ctx,
                                      const struct runinfo *ri,
                                      const char *const *ids, size_t nids)
{
    struct atable t;
    char *pdir = mmdx__path_join(ri->out, "patients");
    const char *deps;
    size_t i;
    enum mmdx_status st;
    char num[64];

    if (!pdir)
        return mmdx__nomem(ctx);
    st = atable_open(ctx, ri->out, "run.xml", &t);
    if (st) {
        mmdx__free(pdir);
        return st;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<run xmlns=\"urn:mmdx:run:1\" format=\"1\">\n", t.fp);
    fputs("  <software", t.fp);
    xml_attr(t.fp, "name", "mmdx");
    xml_attr(t.fp, "version", mmdx_version());
    fputs(">\n", t.fp);
    for (deps = mmdx_dependency_versions(); *deps;) {
        const char *nl = strchr(deps, '\n'), *sp;
        char line[128];
        size_t n = nl ? (size_t)(nl - deps) : strlen(deps);

        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        memcpy(line, deps, n);
        line[n] = '\0';
        sp = strchr(line, ' ');
        if (sp) {
            line[sp - line] = '\0';
            fputs("    <dependency", t.fp);
            xml_attr(t.fp, "name", line);
            xml_attr(t.fp, "version", sp + 1);
            fputs("/>\n", t.fp);
        }
        deps += n + (nl ? 1 : 0);
    }
    fputs("  </software>\n  <pipeline", t.fp);
    xml_attr(t.fp, "name", ri->pipeline_name);
    xml_attr(t.fp, "path", ri->pipeline_path);
    xml_attr(t.fp, "sha256", ri->pipeline_sha256);
    fputs("/>\n  <cohort", t.fp);
    xml_attr(t.fp, "manifest", ri->manifest_path);
    xml_attr(t.fp, "sha256", ri->manifest_sha256);
    snprintf(num, sizeof(num), "%zu", ri->cohort_rows);
    xml_attr(t.fp, "patients", num);
    snprintf(num, sizeof(num), "%u/%u", ri->shard_n ? ri->shard_k : 0,
             ri->shard_n ? ri->shard_n : 1);
    xml_attr(t.fp, "shard", num);
    fputs("/>\n  <summary", t.fp);
    snprintf(num, sizeof(num), "%zu", ri->total);
    xml_attr(t.fp, "total", num);
    snprintf(num, sizeof(num), "%zu", ri->ok);
    xml_attr(t.fp, "ok", num);
    snprintf(num, sizeof(num), "%zu", ri->partial);
    xml_attr(t.fp, "partial", num);
    snprintf(num, sizeof(num), "%zu", ri->failed);
    xml_attr(t.fp, "failed", num);
    snprintf(num, sizeof(num), "%zu", ri->resumed);
    xml_attr(t.fp, "resumed", num);
    fputs("/>\n  <timing", t.fp);
    snprintf(num, sizeof(num), "%.3f", ri->seconds);
    xml_attr(t.fp, "seconds", num);
    snprintf(num, sizeof(num), "%d", ri->jobs);
    xml_attr(t.fp, "jobs", num);
    fputs("/>\n  <inputs>\n", t.fp);
    for (i = 0; i < nids && !st; i++) {
        char *data, *s;
        size_t len;

        st = read_patient_file(ctx, pdir, ids[i], "status", &data, &len);
        if (st)
            break;
        for (s = data; s && (s = strstr(s, "\ninput ")) != NULL;) {
            char mod[16], hex[80];
            const char *p = s + 7, *sp = strchr(p, ' '), *nl;

            if (!sp)
                break;
            nl = strchr(sp, '\n');
            if (!nl)
                nl = sp + strlen(sp);
            mmdx__strlcpy(mod, p, (size_t)(sp - p) + 1 < sizeof(mod)
                                      ? (size_t)(sp - p) + 1 : sizeof(mod));
            mmdx__strlcpy(hex, sp + 1, (size_t)(nl - sp) < sizeof(hex)
                                           ? (size_t)(nl - sp) : sizeof(hex));
            fputs("    <input", t.fp);
            xml_attr(t.fp, "patient", ids[i]);
            xml_attr(t.fp, "modality", mod);
            xml_attr(t.fp, "sha256", hex);
            fputs("/>\n", t.fp);
            s = (char *)nl;
        }
        mmdx__free(data);
    }
    fputs("  </inputs>\n</run>\n", t.fp);
    st = st ? (atable_close(ctx, &t, false), st) : atable_close(ctx, &t, true);
    mmdx__free(pdir);
    return st;
}

/* The cohort tables every run (and merge) ends with. */
static enum mmdx_status merge_tables(struct mmdx_ctx *ctx, const char *out,
                                     const char *const *ids, size_t nids)
{
    enum mmdx_status st = merge_features(ctx, out, ids, nids);

    if (!st)
        st = mmdx__merge_rows(ctx, out, ids, nids, "errors.tsv",
                              "patient_id\tmodality\tfile\tstage\tcode\t"
                              "message");
    if (!st)
        st = mmdx__merge_rows(ctx, out, ids, nids, "flags.tsv",
                              "patient_id\tmodality\tcode\tmessage");
    if (!st && mmdx__fusion_any_risk(out, ids, nids))
        st = mmdx__merge_rows(ctx, out, ids, nids, "risks.tsv",
                              MMDX_RISK_TSV_HEADER);
    return st;
}

/* The row still has a modality whose cell is fine. */
static bool row_has_input(const struct mmdx_manifest_row *row)
{
    size_t k;
    int m;
    unsigned bad = 0;

    for (k = 0; k < row->nproblems; k++)
        if (row->problems[k].modality >= 0)
            bad |= 1u << row->problems[k].modality;
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (row->path[m] && !(bad & (1u << m)))
            return true;
    return false;
}

/* Say on the log what the shard's manifest rows lack: the first few only
 * (a moved manifest can make every row a problem); errors.tsv has all. */
static void log_problems(struct mmdx_ctx *ctx, const struct run *r)
{
    size_t i, k, said = 0, total = 0;

    for (i = 0; i < r->nrows; i++) {
        const struct mmdx_manifest_row *row = &r->man->rows[r->rows[i]];

        for (k = 0; k < row->nproblems; k++, total++) {
            const struct mmdx_manifest_problem *pr = &row->problems[k];
            char msg[2048];

            if (said >= 10)
                continue;
            said++;
            mmdx__manifest_problem_format(r->man, row, pr, true, msg,
                                          sizeof(msg));
            if (pr->modality < 0 || !row_has_input(row))
                mmdx_log(ctx, NULL, MMDX_LOG_WARN, "%s: patient %s fails",
                         msg, row->id);
            else
                mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                         "%s: patient %s goes on without its %s", msg,
                         row->id,
                         mmdx__modality_name(
                             (enum mmdx_modality)pr->modality));
        }
    }
    if (total > said)
        mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                 "%zu more manifest problems: errors.tsv lists them all",
                 total - said);
}

static int ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > MAX_JOBS ? MAX_JOBS : (int)n;
}

enum mmdx_status mmdx_run(struct mmdx_ctx *ctx,
                          const struct mmdx_run_opts *o,
                          struct mmdx_run_summary *sum)
{
    struct run r;
    pthread_t th[MAX_JOBS];
    void *args[MAX_JOBS][2];
    const char **ids = NULL;
    int jobs, started = 0, i;
    size_t k;
    enum mmdx_status st;

    memset(&r, 0, sizeof(r));
    if (sum)
        memset(sum, 0, sizeof(*sum));
    r.ctx = ctx;
    r.o = o;
    r.t0 = now_s();
    if (o->shard_n && o->shard_k >= o->shard_n)
        return mmdx__fail(ctx, MMDX_E_USAGE, "run", NULL, 0, "shard",
                          "shard %u/%u: K must be below N", o->shard_k,
                          o->shard_n);
    st = mmdx_pipeline_load(ctx, o->pipeline, &r.pipe);
    if (st)
        return st;
    st = mmdx_manifest_read(ctx, o->manifest, true, &r.man);
    if (st)
        goto out;
    r.rows = mmdx__calloc(r.man->nrows ? r.man->nrows : 1, sizeof(*r.rows));
    ids = mmdx__calloc(r.man->nrows ? r.man->nrows : 1, sizeof(*ids));
    r.out = mmdx__strdup(o->out);
    r.pdir = mmdx__path_join(o->out, "patients");
    if (!r.rows || !ids || !r.out || !r.pdir) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (k = 0; k < r.man->nrows; k++)
        if (!o->shard_n || k % o->shard_n == o->shard_k) {
            ids[r.nrows] = r.man->rows[k].id;
            r.rows[r.nrows++] = k;
        }
    st = mmdx__mkdir_p(ctx, r.pdir);
    if (st)
        goto out;
    log_problems(ctx, &r);
    pthread_mutex_init(&r.lock, NULL);
    jobs = o->jobs > 0 ? o->jobs : ncpu();
    if (jobs > MAX_JOBS)
        jobs = MAX_JOBS;
    if ((size_t)jobs > r.nrows)
        jobs = r.nrows ? (int)r.nrows : 1;
    for (i = 0; i < jobs; i++) {
        args[i][0] = &r;
        args[i][1] = (void *)(intptr_t)i;
        if (pthread_create(&th[i], NULL, worker_main, args[i]) != 0)
            break;
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&r.lock);
    if (started == 0) {
        st = mmdx__fail(ctx, MMDX_E_INTERNAL, "run", NULL, 0, NULL,
                        "cannot start worker threads");
        goto out;
    }
    if (r.fatal) {
        st = r.fatal;
        mmdx__fail(ctx, st, r.fatal_err.stage, r.fatal_err.path,
                   r.fatal_err.line, r.fatal_err.field, "%s",
                   r.fatal_err.message);
        goto out;
    }
    if (o->limit && r.done < r.nrows) {
        /* test hook: an interrupted run writes no cohort tables */
        goto summary;
    }
    st = merge_tables(ctx, r.out, ids, r.nrows);
    if (!st) {
        struct runinfo ri;

        memset(&ri, 0, sizeof(ri));
        ri.out = r.out;
        ri.pipeline_name = mmdx_pipeline_name(r.pipe);
        ri.pipeline_path = o->pipeline;
        ri.pipeline_sha256 = mmdx_pipeline_hash(r.pipe);
        ri.manifest_path = o->manifest;
        ri.manifest_sha256 = r.man->sha256;
        ri.cohort_rows = r.man->nrows;
        ri.shard_k = o->shard_k;
        ri.shard_n = o->shard_n;
        ri.total = r.nrows;
        ri.ok = r.n_ok;
        ri.partial = r.n_partial;
        ri.failed = r.n_failed;
        ri.resumed = r.n_skipped;
        ri.seconds = now_s() - r.t0;
        ri.jobs = jobs;
        st = write_run_xml(ctx, &ri, ids, r.nrows);
    }
    if (!st)
        st = mmdx__report_cohort(ctx, r.out, ids, r.nrows, r.pipe);
summary:
    if (sum) {
        sum->total = r.nrows;
        sum->ok = r.n_ok;
        sum->partial = r.n_partial;
        sum->failed = r.n_failed;
        sum->skipped = r.n_skipped;
        sum->seconds = now_s() - r.t0;
    }
out:
    mmdx__free(ids);
    mmdx__free(r.rows);
    mmdx__free(r.out);
    mmdx__free(r.pdir);
    mmdx_manifest_free(r.man);
    mmdx_pipeline_free(r.pipe);
    return st;
}

/* ---- one patient from the command line ---------------------------------- */

enum mmdx_status mmdx_features_files(
    struct mmdx_ctx *ctx, const struct mmdx_pipeline *pipe,
    const struct mmdx_patient_files *files, mmdx_feature_fn fn,
    void (*err_fn)(void *user, const char *line), void *user)
{
    struct mmdx_patient p;
    struct mmdx_stage **stages = NULL;
    size_t nstages = 0, i;
    const char *in[MMDX_MOD_COUNT];
    enum mmdx_status st;
    int m;

    in[MMDX_MOD_IMAGE] = files->image;
    in[MMDX_MOD_ECG] = files->ecg;
    in[MMDX_MOD_EEG] = files->eeg;
    in[MMDX_MOD_RECORD] = files->record;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.label = -1;
    p.deid_warn_only = files->deid_warn != 0;
    p.mask_resample = files->mask_resample != 0;
    p.id = mmdx__strdup("cli");
    if (!p.id)
        return mmdx__nomem(ctx);
    for (m = 0; m < MMDX_MOD_COUNT; m++)
        if (in[m] && !(p.path[m] = mmdx__strdup(in[m]))) {
            mmdx__patient_fini(&p);
            return mmdx__nomem(ctx);
        }
    if ((files->mask && !(p.mask_path = mmdx__strdup(files->mask))) ||
        (files->mask_label &&
         !(p.mask_label = mmdx__strdup(files->mask_label))) ||
        (files->study_date &&
         !(p.study_date = mmdx__strdup(files->study_date)))) {
        mmdx__patient_fini(&p);
        return mmdx__nomem(ctx);
    }
    st = mmdx__stages_new(ctx, pipe, 0, &stages, &nstages);
    if (st) {
        mmdx__patient_fini(&p);
        return st;
    }
    st = mmdx__stages_run(stages, nstages, &p, false);
    for (i = 0; i < p.nerrors && err_fn; i++) {
        char line[2300];

        snprintf(line, sizeof(line), "%s: %s: %s", p.errors[i].stage,
                 mmdx_status_name(p.errors[i].code), p.errors[i].message);
        err_fn(user, line);
    }
    mmdx__featset_sort(&p.features);
    for (i = 0; i < p.features.n; i++)
        fn(user, p.features.v[i].name, p.features.v[i].value);
    if (st && !mmdx__ctx_has_error(ctx) && p.nerrors)
        mmdx__fail(ctx, st, p.errors[0].stage, p.errors[0].file, 0, NULL,
                   "%s", p.errors[0].message);
    mmdx__stages_free(stages, nstages);
    mmdx__patient_fini(&p);
    return st;
}

/* ---- merging shard runs --------------------------------------------------- */

struct shardinfo {
    char *pipeline_name, *pipeline_path, *pipeline_sha256;
    char *manifest_path, *manifest_sha256;
    unsigned k, n;
};

static void shardinfo_fini(struct shardinfo *si)
{
    mmdx__free(si->pipeline_name);
    mmdx__free(si->pipeline_path);
    mmdx__free(si->pipeline_sha256);
    mmdx__free(si->manifest_path);
    mmdx__free(si->manifest_sha256);
    memset(si, 0, sizeof(*si));
}

static char *xml_prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    char *c;

    if (!v)
        return NULL;
    c = mmdx__strdup((const char *)v);
    xmlFree(v);
    return c;
}

static enum mmdx_status read_shard(struct mmdx_ctx *ctx, const char *dir,
                                   struct shardinfo *si)
{
    struct mmdx_xml_opts xo = { 0, 16, "merge" };
    char *path = mmdx__path_join(dir, "run.xml"), *shard = NULL, *slash;
    xmlDocPtr doc = NULL;
    xmlNodePtr root, pipe, cohort;
    long k, n;
    enum mmdx_status st;

    memset(si, 0, sizeof(*si));
    if (!path)
        return mmdx__nomem(ctx);
    st = mmdx__xml_read_file(ctx, path, &xo, &doc);
    if (st) {
        mmdx__free(path);
        return st;
    }
    root = xmlDocGetRootElement(doc);
    pipe = mmdx__xml_child(root, "pipeline", "urn:mmdx:run:1");
    cohort = mmdx__xml_child(root, "cohort", "urn:mmdx:run:1");
    if (!mmdx__xml_is(root, "run", "urn:mmdx:run:1") || !pipe || !cohort) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "merge", path, 0, "run",
                        "not an mmdx run.xml");
        goto out;
    }
    si->pipeline_name = xml_prop(pipe, "name");
    si->pipeline_path = xml_prop(pipe, "path");
    si->pipeline_sha256 = xml_prop(pipe, "sha256");
    si->manifest_path = xml_prop(cohort, "manifest");
    si->manifest_sha256 = xml_prop(cohort, "sha256");
    shard = xml_prop(cohort, "shard");
    if (!si->pipeline_name || !si->pipeline_path || !si->pipeline_sha256 ||
        !si->manifest_path || !si->manifest_sha256 || !shard) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "merge", path, 0, "cohort",
                        "run.xml lacks pipeline or cohort attributes");
        goto out;
    }
    slash = strchr(shard, '/');
    if (slash)
        *slash = '\0';
    if (!slash || !mmdx__parse_long(shard, &k) ||
        !mmdx__parse_long(slash + 1, &n) || k < 0 || n < 1 || k >= n) {
        st = mmdx__fail(ctx, MMDX_E_FORMAT, "merge", path, 0, "shard",
                        "shard must be K/N with 0 <= K < N");
        goto out;
    }
    si->k = (unsigned)k;
    si->n = (unsigned)n;
out:
    mmdx__free(shard);
    mmdx__free(path);
    xmlFreeDoc(doc);
    if (st)
        shardinfo_fini(si);
    return st;
}

/* Copy the regular files of src into dst (created 0750), atomically. */
static enum mmdx_status copy_dir(struct mmdx_ctx *ctx, const char *src,
                                 const char *dst)
{
    DIR *d;
    struct dirent *de;
    enum mmdx_status st = mmdx__mkdir_p(ctx, dst);

    if (st)
        return st;
    d = opendir(src);
    if (!d)
        return mmdx__fail(ctx, MMDX_E_IO, "merge", src, 0, NULL,
                          "cannot open folder: %s", strerror(errno));
    while (!st && (de = readdir(d)) != NULL) {
        char *from, *to, *data = NULL;
        size_t len;

        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp."))
            continue;
        from = mmdx__path_join(src, de->d_name);
        to = mmdx__path_join(dst, de->d_name);
        if (!from || !to)
            st = mmdx__nomem(ctx);
        else if (mmdx__is_file(from)) {
            st = mmdx__file_read(ctx, from, (size_t)1 << 30, &data, &len);
            if (!st)
                st = mmdx__file_write_atomic(ctx, to, data, len);
        }
        mmdx__free(data);
        mmdx__free(from);
        mmdx__free(to);
    }
    closedir(d);
    return st;
}

enum mmdx_status mmdx_merge(struct mmdx_ctx *ctx, const char *const *dirs,
                            size_t ndirs, const char *manifest,
                            const char *out)
{
    struct shardinfo *si = NULL;
    struct mmdx_manifest *man = NULL;
    const char **ids = NULL, **from = NULL;
    char *pdir = NULL;
    struct runinfo ri;
    size_t i;
    double t0 = now_s();
    enum mmdx_status st = MMDX_OK;

    memset(&ri, 0, sizeof(ri));
    if (ndirs == 0)
        return mmdx__fail(ctx, MMDX_E_USAGE, "merge", NULL, 0, NULL,
                          "no shard folder given");
    si = mmdx__calloc(ndirs, sizeof(*si));
    if (!si)
        return mmdx__nomem(ctx);
    for (i = 0; i < ndirs && !st; i++)
        st = read_shard(ctx, dirs[i], &si[i]);
    /* all shards of one run: same pipeline, same cohort, N shards, each K
     * once */
    for (i = 0; i < ndirs && !st; i++) {
        size_t j;

        if (strcmp(si[i].pipeline_sha256, si[0].pipeline_sha256) ||
            strcmp(si[i].manifest_sha256, si[0].manifest_sha256))
            st = mmdx__fail(ctx, MMDX_E_MISMATCH, "merge", dirs[i], 0,
                            "run.xml",
                            "shard ran another pipeline or cohort than %s",
                            dirs[0]);
        else if (si[i].n != ndirs)
            st = mmdx__fail(ctx, MMDX_E_MISMATCH, "merge", dirs[i], 0,
                            "shard", "shard %u/%u but %zu folders given",
                            si[i].k, si[i].n, ndirs);
        for (j = 0; j < i && !st; j++)
            if (si[j].k == si[i].k)
                st = mmdx__fail(ctx, MMDX_E_MISMATCH, "merge", dirs[i], 0,
                                "shard", "shard %u given twice", si[i].k);
    }
    if (st)
        goto out;
    st = mmdx_manifest_read(ctx, manifest ? manifest : si[0].manifest_path,
                            false, &man);
    if (st)
        goto out;
    if (strcmp(man->sha256, si[0].manifest_sha256) != 0) {
        st = mmdx__fail(ctx, MMDX_E_MISMATCH, "merge", man->path, 0, NULL,
                        "the manifest changed since the shards ran");
        goto out;
    }
    ids = mmdx__calloc(man->nrows ? man->nrows : 1, sizeof(*ids));
    from = mmdx__calloc(ndirs, sizeof(*from));
    pdir = mmdx__path_join(out, "patients");
    if (!ids || !from || !pdir) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (i = 0; i < ndirs; i++)
        from[si[i].k] = dirs[i];
    st = mmdx__mkdir_p(ctx, pdir);
    for (i = 0; i < man->nrows && !st; i++) {
        const char *src_dir = from[i % ndirs];
        char *a = mmdx__path_join(src_dir, "patients"), *b = NULL, *c = NULL;
        char *status = NULL, *data = NULL;
        size_t len;

        ids[i] = man->rows[i].id;
        if (a)
            b = mmdx__path_join(a, ids[i]);
        if (b)
            status = mmdx__path_join(b, "status");
        c = mmdx__path_join(pdir, ids[i]);
        if (!status || !c) {
            st = mmdx__nomem(ctx);
        } else if (!mmdx__is_file(status)) {
            st = mmdx__fail(ctx, MMDX_E_MISSING, "merge", src_dir, 0,
                            ids[i], "patient has no outputs in its shard "
                                    "(was the shard run complete?)");
        } else {
            st = copy_dir(ctx, b, c);
            if (!st)
                st = mmdx__file_read(ctx, status, 1 << 16, &data, &len);
            if (!st) {
                ri.total++;
                if (strstr(data, "\nstatus ok\n"))
                    ri.ok++;
                else if (strstr(data, "\nstatus partial\n"))
                    ri.partial++;
                else
                    ri.failed++;
            }
        }
        mmdx__free(data);
        mmdx__free(status);
        mmdx__free(a);
        mmdx__free(b);
        mmdx__free(c);
    }
    if (!st)
        st = merge_tables(ctx, out, ids, man->nrows);
    if (!st) {
        ri.out = out;
        ri.pipeline_name = si[0].pipeline_name;
        ri.pipeline_path = si[0].pipeline_path;
        ri.pipeline_sha256 = si[0].pipeline_sha256;
        ri.manifest_path = si[0].manifest_path;
        ri.manifest_sha256 = si[0].manifest_sha256;
        ri.cohort_rows = man->nrows;
        ri.seconds = now_s() - t0;
        ri.jobs = 0;
        st = write_run_xml(ctx, &ri, ids, man->nrows);
    }
    if (!st) {
        /* index.html comes from the pipeline's report stage: load the
         * pipeline the shards recorded, if it is still there unchanged */
        struct mmdx_pipeline *pipe = NULL;

        if (mmdx_pipeline_load(ctx, si[0].pipeline_path, &pipe) == MMDX_OK &&
            strcmp(mmdx_pipeline_hash(pipe), si[0].pipeline_sha256) == 0)
            st = mmdx__report_cohort(ctx, out, ids, man->nrows, pipe);
        else
            mmdx_log(ctx, NULL, MMDX_LOG_WARN,
                     "merge: pipeline %s missing or changed: no index.html",
                     si[0].pipeline_path);
        if (!st)
            mmdx_ctx_clear_error(ctx);
        mmdx_pipeline_free(pipe);
    }
out:
    for (i = 0; si && i < ndirs; i++)
        shardinfo_fini(&si[i]);
    mmdx__free(si);
    mmdx__free(ids);
    mmdx__free(from);
    mmdx__free(pdir);
    mmdx_manifest_free(man);
    return st;
}
