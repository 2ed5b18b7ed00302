/* patient.c - feature sets, slots, flags and error rows of one patient. */
#include "core/common.h"
#include "pipeline/stage.h"

static const char *const modality_names[MMDX_MOD_COUNT] = {
    "image", "ecg", "eeg", "record"
};

const char *mmdx__modality_name(enum mmdx_modality m)
{
    return (unsigned)m < MMDX_MOD_COUNT ? modality_names[m] : "patient";
}

int mmdx__modality_from_name(const char *name)
{
    int i;

    for (i = 0; i < MMDX_MOD_COUNT; i++)
        if (strcmp(name, modality_names[i]) == 0)
            return i;
    return -1;
}

void mmdx__featset_init(struct mmdx_featset *fs)
{
    memset(fs, 0, sizeof(*fs));
}

void mmdx__featset_fini(struct mmdx_featset *fs)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        mmdx__free(fs->v[i].name);
    mmdx__free(fs->v);
    memset(fs, 0, sizeof(*fs));
}

enum mmdx_status mmdx__featset_add(struct mmdx_featset *fs, const char *name,
                                   double value)
{
    char *copy;

    if (fs->n == fs->cap) {
        size_t ncap = fs->cap ? fs->cap * 2 : 64;
        struct mmdx_feature *nv = mmdx__realloc(fs->v, ncap * sizeof(*nv));

        if (!nv)
            return MMDX_E_NOMEM;
        fs->v = nv;
        fs->cap = ncap;
    }
    copy = mmdx__strdup(name);
    if (!copy)
        return MMDX_E_NOMEM;
    fs->v[fs->n].name = copy;
    fs->v[fs->n].value = value;
    fs->n++;
    return MMDX_OK;
}

enum mmdx_status mmdx__featset_addf(struct mmdx_featset *fs, double value,
                                    const char *fmt, ...)
{
    char name[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(name))
        return MMDX_E_LIMIT;
    return mmdx__featset_add(fs, name, value);
}

const struct mmdx_feature *mmdx__featset_get(const struct mmdx_featset *fs,
                                             const char *name)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].name, name) == 0)
            return &fs->v[i];
    return NULL;
}

static int cmp_feat(const void *a, const void *b)
{
    return strcmp(((const struct mmdx_feature *)a)->name,
                  ((const struct mmdx_feature *)b)->name);
}

void mmdx__featset_sort(struct mmdx_featset *fs)
{
    if (fs->n > 1)
        qsort(fs->v, fs->n, sizeof(*fs->v), cmp_feat);
}

void mmdx__patient_set_slot(struct mmdx_patient *p, enum mmdx_slot s,
                            void *obj, void (*free_fn)(void *))
{
    assert((unsigned)s < MMDX_SLOT_COUNT);
    if (p->slot[s] && p->slot_free[s])
        p->slot_free[s](p->slot[s]);
    p->slot[s] = obj;
    p->slot_free[s] = free_fn;
}

enum mmdx_status mmdx__patient_flag(struct mmdx_patient *p, int modality,
                                    const char *code, const char *fmt, ...)
{
    struct mmdx_flag *nf;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nf = mmdx__realloc(p->flags, (p->nflags + 1) * sizeof(*nf));
    if (!nf)
        return MMDX_E_NOMEM;
    p->flags = nf;
    nf = &p->flags[p->nflags];
    nf->modality = modality;
    nf->code = mmdx__strdup(code);
    nf->message = mmdx__strdup(msg);
    if (!nf->code || !nf->message) {
        mmdx__freep(&nf->code);
        mmdx__freep(&nf->message);
        return MMDX_E_NOMEM;
    }
    p->nflags++;
    return MMDX_OK;
}

enum mmdx_status mmdx__patient_take_error(struct mmdx_patient *p,
                                          int modality, const char *stage,
                                          enum mmdx_status code)
{
    const struct mmdx_error *e = mmdx_ctx_last_error(p->ctx);
    char msg[2048];
    const char *file = NULL;
    enum mmdx_status st;

    if (e->status != MMDX_OK) {
        struct mmdx_error copy = *e;

        copy.stage[0] = '\0'; /* the stage column says it */
        mmdx_error_format(&copy, msg, sizeof(msg));
        code = e->status;
        if (e->path[0])
            file = e->path;
    } else {
        mmdx__strlcpy(msg, mmdx_status_str(code), sizeof(msg));
    }
    if (!file && modality >= 0 && modality < MMDX_MOD_COUNT)
        file = p->path[modality];
    /* file may point into the ctx's error: clear it only after the copy */
    st = mmdx__patient_add_error(p, modality, file, stage, code, msg);
    mmdx_ctx_clear_error(p->ctx);
    return st;
}

enum mmdx_status mmdx__patient_add_error(struct mmdx_patient *p,
                                         int modality, const char *file,
                                         const char *stage,
                                         enum mmdx_status code,
                                         const char *message)
{
    struct mmdx_patient_error *ne;

    ne = mmdx__realloc(p->errors, (p->nerrors + 1) * sizeof(*ne));
    if (!ne)
        return MMDX_E_NOMEM;
    p->errors = ne;
    ne = &p->errors[p->nerrors];
    memset(ne, 0, sizeof(*ne));
    ne->modality = modality;
    ne->code = code;
    ne->file = file ? mmdx__strdup(file) : NULL;
    ne->stage = mmdx__strdup(stage ? stage : "");
    ne->message = mmdx__strdup(message ? message : "");
    if ((file && !ne->file) || !ne->stage || !ne->message) {
        mmdx__free(ne->file);
        mmdx__free(ne->stage);
        mmdx__free(ne->message);
        return MMDX_E_NOMEM;
    }
    p->nerrors++;
    return MMDX_OK;
}

enum mmdx_status mmdx__patient_add_idfield(struct mmdx_patient *p,
                                           int modality, const char *file,
                                           const char *field,
                                           enum mmdx_id_kind kind,
                                           const char *value)
{
    struct mmdx_idfield *nf;

    nf = mmdx__realloc(p->idfields, (p->nidfields + 1) * sizeof(*nf));
    if (!nf)
        return MMDX_E_NOMEM;
    p->idfields = nf;
    nf = &p->idfields[p->nidfields];
    memset(nf, 0, sizeof(*nf));
    nf->modality = modality;
    nf->kind = kind;
    nf->file = mmdx__strdup(file ? file : "");
    nf->field = mmdx__strdup(field);
    nf->value = mmdx__strdup(value ? value : "");
    if (!nf->file || !nf->field || !nf->value) {
        mmdx__free(nf->file);
        mmdx__free(nf->field);
        mmdx__free(nf->value);
        return MMDX_E_NOMEM;
    }
    p->nidfields++;
    return MMDX_OK;
}

enum mmdx_status mmdx__patient_add_idfield_live(struct mmdx_patient *p,
                                                int modality,
                                                const char *file,
                                                const char *field,
                                                enum mmdx_id_kind kind,
                                                char *live)
{
    enum mmdx_status st = mmdx__patient_add_idfield(p, modality, file, field,
                                                    kind, live);

    if (!st)
        p->idfields[p->nidfields - 1].live = live;
    return st;
}

void mmdx__patient_idfield_strip_hook(struct mmdx_patient *p,
                                      void (*fn)(void *obj,
                                                 const char *field),
                                      void *obj)
{
    assert(p->nidfields > 0);
    p->idfields[p->nidfields - 1].strip_fn = fn;
    p->idfields[p->nidfields - 1].strip_obj = obj;
}

/* Overwrite a string that may identify someone before it is freed. */
static void wipe(char *s)
{
    volatile char *v = s;

    while (v && *v)
        *v++ = '\0';
}

static void idfield_fini(struct mmdx_idfield *f)
{
    mmdx__free(f->file);
    mmdx__free(f->field);
    wipe(f->value);
    mmdx__free(f->value);
}

void mmdx__patient_drop_idfield(struct mmdx_patient *p, size_t i,
                                bool wipe_live)
{
    assert(i < p->nidfields);
    if (wipe_live)
        wipe(p->idfields[i].live);
    idfield_fini(&p->idfields[i]);
    memmove(p->idfields + i, p->idfields + i + 1,
            (p->nidfields - i - 1) * sizeof(*p->idfields));
    p->nidfields--;
}

void mmdx__patient_fini(struct mmdx_patient *p)
{
    size_t i;

    for (i = 0; i < p->nidfields; i++)
        idfield_fini(&p->idfields[i]);
    mmdx__free(p->idfields);

    for (i = 0; i < MMDX_SLOT_COUNT; i++)
        mmdx__patient_set_slot(p, (enum mmdx_slot)i, NULL, NULL);
    mmdx__featset_fini(&p->features);
    for (i = 0; i < p->nflags; i++) {
        mmdx__free(p->flags[i].code);
        mmdx__free(p->flags[i].message);
    }
    mmdx__free(p->flags);
    for (i = 0; i < p->nerrors; i++) {
        mmdx__free(p->errors[i].file);
        mmdx__free(p->errors[i].stage);
        mmdx__free(p->errors[i].message);
    }
    mmdx__free(p->errors);
    mmdx__free(p->id);
    for (i = 0; i < MMDX_MOD_COUNT; i++)
        mmdx__free(p->path[i]);
    mmdx__free(p->mask_path);
    mmdx__free(p->mask_label);
    mmdx__free(p->study_date);
    mmdx__free(p->split);
    memset(p, 0, sizeof(*p));
}
