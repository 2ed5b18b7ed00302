/*
 * pipeline.c - loading pipeline files, parameters, stage instances and the
 * per-patient stage loop.
 *
 * A pipeline is checked completely before any patient is read: the schema,
 * every stage name, every parameter name, type and range, and the wiring
 * (each stage's needs provided by an earlier one).
 */
#include "core/common.h"
#include "core/xml.h"
#include "pipeline/stage.h"
#include "mmdx/pipeline.h"

#define PIPE_MAGIC 0x50495045u
#define PIPELINE_NS "urn:mmdx:pipeline:1"

struct pparam {
    char *name, *value;
    long line;
};

struct pstage {
    const struct mmdx_stage_def *def;
    struct pparam *params;
    size_t nparams;
};

struct psetting {
    char *name, *value;
};

struct mmdx_pipeline {
    unsigned magic;
    char *path, *dir, *name;
    char hash[MMDX_SHA256_HEX];
    struct pstage *stages;
    size_t nstages;
    struct psetting *settings;
    size_t nsettings;
};

static const char *const slot_names[MMDX_SLOT_COUNT] = {
    "image", "ecg", "eeg", "record", "mask", "features", "risk",
    "extra1", "extra2"
};

static void pipeline_free_parts(struct mmdx_pipeline *p)
{
    size_t i, j;

    for (i = 0; i < p->nstages; i++) {
        for (j = 0; j < p->stages[i].nparams; j++) {
            mmdx__free(p->stages[i].params[j].name);
            mmdx__free(p->stages[i].params[j].value);
        }
        mmdx__free(p->stages[i].params);
    }
    mmdx__free(p->stages);
    for (i = 0; i < p->nsettings; i++) {
        mmdx__free(p->settings[i].name);
        mmdx__free(p->settings[i].value);
    }
    mmdx__free(p->settings);
    mmdx__free(p->path);
    mmdx__free(p->dir);
    mmdx__free(p->name);
}

void mmdx_pipeline_free(struct mmdx_pipeline *p)
{
    if (!p)
        return;
    assert(p->magic == PIPE_MAGIC);
    pipeline_free_parts(p);
    p->magic = 0;
    mmdx__free(p);
}

static char *attr_dup(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *copy;

    if (!v)
        return NULL;
    copy = mmdx__strdup((const char *)v);
    xmlFree(v);
    return copy;
}

/* Parse one textual value per the parameter's type into dst (a priv field,
 * or NULL to only check). Returns false with a reason in why. */
static bool param_parse(const struct mmdx_param *pd, const char *text,
                        void *dst, char *why, size_t whylen)
{
    switch (pd->type) {
    case MMDX_PARAM_INT: {
        long v;

        if (!mmdx__parse_long(text, &v)) {
            snprintf(why, whylen, "expected an integer, got \"%s\"", text);
            return false;
        }
        if ((double)v < pd->min || (double)v > pd->max) {
            snprintf(why, whylen, "expected %g..%g, got %ld", pd->min,
                     pd->max, v);
            return false;
        }
        if (dst)
            *(long *)dst = v;
        return true;
    }
    case MMDX_PARAM_DOUBLE: {
        double v;

        if (!mmdx__parse_double(text, &v)) {
            snprintf(why, whylen, "expected a number, got \"%s\"", text);
            return false;
        }
        if (v < pd->min || v > pd->max) {
            snprintf(why, whylen, "expected %g..%g, got %g", pd->min,
                     pd->max, v);
            return false;
        }
        if (dst)
            *(double *)dst = v;
        return true;
    }
    case MMDX_PARAM_BOOL: {
        bool v;

        if (!strcmp(text, "true") || !strcmp(text, "yes") ||
            !strcmp(text, "1"))
            v = true;
        else if (!strcmp(text, "false") || !strcmp(text, "no") ||
                 !strcmp(text, "0"))
            v = false;
        else {
            snprintf(why, whylen, "expected true or false, got \"%s\"",
                     text);
            return false;
        }
        if (dst)
            *(bool *)dst = v;
        return true;
    }
    case MMDX_PARAM_ENUM: {
        const char *c = pd->choices;
        size_t tl = strlen(text);
        int idx = 0;

        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);

            if (cl == tl && strncmp(c, text, cl) == 0) {
                if (dst)
                    *(int *)dst = idx;
                return true;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        snprintf(why, whylen, "expected one of %s, got \"%s\"",
                 pd->choices ? pd->choices : "(none)", text);
        return false;
    }
    case MMDX_PARAM_STRING:
    case MMDX_PARAM_PATH:
        return true; /* copied by the caller */
    }
    snprintf(why, whylen, "unknown parameter type");
    return false;
}

static const struct mmdx_param *param_find(const struct mmdx_stage_def *d,
                                           const char *name)
{
    const struct mmdx_param *pd;

    for (pd = d->params; pd && pd->name; pd++)
        if (strcmp(pd->name, name) == 0)
            return pd;
    return NULL;
}

static enum mmdx_status load_stage(struct mmdx_ctx *ctx,
                                   struct mmdx_pipeline *p, xmlNodePtr sn,
                                   struct pstage *ps)
{
    char *name = attr_dup(sn, "name");
    xmlNodePtr c;
    enum mmdx_status st;

    if (!name)
        return mmdx__nomem(ctx); /* the schema made it required */
    ps->def = mmdx__stage_find(name);
    if (!ps->def) {
        st = mmdx__fail(ctx, MMDX_E_PIPELINE, "pipeline", p->path,
                        xmlGetLineNo(sn), "stage",
                        "unknown stage \"%s\" (see 'mmdx stage list')",
                        name);
        mmdx__free(name);
        return st;
    }
    mmdx__free(name);
    for (c = sn->children; c; c = c->next) {
        struct pparam *np;
        const struct mmdx_param *pd;
        char why[256];

        if (!mmdx__xml_is(c, "param", PIPELINE_NS))
            continue;
        np = mmdx__realloc(ps->params, (ps->nparams + 1) * sizeof(*np));
        if (!np)
            return mmdx__nomem(ctx);
        ps->params = np;
        np = &ps->params[ps->nparams];
        np->name = attr_dup(c, "name");
        np->value = attr_dup(c, "value");
        np->line = xmlGetLineNo(c);
        if (!np->name || !np->value) {
            mmdx__free(np->name);
            mmdx__free(np->value);
            return mmdx__nomem(ctx);
        }
        ps->nparams++;
        pd = param_find(ps->def, np->name);
        if (!pd)
            return mmdx__fail(ctx, MMDX_E_PIPELINE, "pipeline", p->path,
                              np->line, np->name,
                              "stage %s has no parameter \"%s\" (see 'mmdx "
                              "stage help %s')",
                              ps->def->name, np->name, ps->def->name);
        if (!param_parse(pd, np->value, NULL, why, sizeof(why)))
            return mmdx__fail(ctx, MMDX_E_PIPELINE, "pipeline", p->path,
                              np->line, np->name, "%s.%s: %s",
                              ps->def->name, np->name, why);
    }
    return MMDX_OK;
}

static enum mmdx_status check_wiring(struct mmdx_ctx *ctx,
                                     struct mmdx_pipeline *p)
{
    unsigned have = 0;
    size_t i;
    int s;

    for (i = 0; i < p->nstages; i++) {
        const struct mmdx_stage_def *d = p->stages[i].def;
        unsigned missing = d->needs & ~have;

        if (missing) {
            for (s = 0; s < MMDX_SLOT_COUNT; s++)
                if (missing & MMDX_SLOT_BIT(s))
                    break;
            return mmdx__fail(ctx, MMDX_E_PIPELINE, "pipeline", p->path, 0,
                              d->name,
                              "stage %s needs \"%s\" but no earlier stage "
                              "provides it",
                              d->name, slot_names[s]);
        }
        have |= d->provides;
    }
    return MMDX_OK;
}

enum mmdx_status mmdx_pipeline_load(struct mmdx_ctx *ctx, const char *path,
                                    struct mmdx_pipeline **out)
{
    struct mmdx_xml_opts xo = { (size_t)1 << 20, 32, "pipeline" };
    struct mmdx_pipeline *p;
    xmlDocPtr doc = NULL;
    xmlNodePtr root, c;
    char *data = NULL, *xsd = NULL;
    size_t len;
    enum mmdx_status st;

    *out = NULL;
    p = mmdx__calloc(1, sizeof(*p));
    if (!p)
        return mmdx__nomem(ctx);
    p->magic = PIPE_MAGIC;
    p->path = mmdx__strdup(path);
    p->dir = mmdx__path_dirname(path);
    if (!p->path || !p->dir) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__file_read(ctx, path, xo.max_bytes, &data, &len);
    if (st)
        goto out;
    st = mmdx__sha256_buf(ctx, data, len, p->hash);
    if (st)
        goto out;
    st = mmdx__xml_read_mem(ctx, path, data, len, &xo, &doc);
    if (st)
        goto out;
    xsd = mmdx__data_path(ctx, "schemas/pipeline.xsd");
    if (!xsd) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    st = mmdx__xml_validate(ctx, path, doc, xsd, "pipeline");
    if (st)
        goto out;
    root = xmlDocGetRootElement(doc);
    p->name = attr_dup(root, "name");
    if (!p->name) {
        st = mmdx__nomem(ctx);
        goto out;
    }
    for (c = root->children; c && !st; c = c->next) {
        if (mmdx__xml_is(c, "stage", PIPELINE_NS)) {
            struct pstage *ns = mmdx__realloc(
                p->stages, (p->nstages + 1) * sizeof(*ns));

            if (!ns) {
                st = mmdx__nomem(ctx);
                break;
            }
            p->stages = ns;
            memset(&ns[p->nstages], 0, sizeof(*ns));
            p->nstages++;
            st = load_stage(ctx, p, c, &ns[p->nstages - 1]);
        } else if (mmdx__xml_is(c, "setting", PIPELINE_NS)) {
            struct psetting *ns = mmdx__realloc(
                p->settings, (p->nsettings + 1) * sizeof(*ns));

            if (!ns) {
                st = mmdx__nomem(ctx);
                break;
            }
            p->settings = ns;
            ns[p->nsettings].name = attr_dup(c, "name");
            ns[p->nsettings].value = attr_dup(c, "value");
            p->nsettings++;
            if (!ns[p->nsettings - 1].name || !ns[p->nsettings - 1].value)
                st = mmdx__nomem(ctx);
        }
    }
    if (!st)
        st = check_wiring(ctx, p);
out:
    if (doc)
        xmlFreeDoc(doc);
    mmdx__free(data);
    mmdx__free(xsd);
    if (st) {
        mmdx_pipeline_free(p);
        return st;
    }
    *out = p;
    return MMDX_OK;
}

const char *mmdx_pipeline_hash(const struct mmdx_pipeline *p)
{
    return p->hash;
}

const char *mmdx_pipeline_name(const struct mmdx_pipeline *p)
{
    return p->name;
}

const char *mmdx__pipeline_dir(const struct mmdx_pipeline *p)
{
    return p->dir;
}

const char *mmdx__pipeline_setting(const struct mmdx_pipeline *p,
                                   const char *name)
{
    size_t i;

    for (i = 0; p && i < p->nsettings; i++)
        if (strcmp(p->settings[i].name, name) == 0)
            return p->settings[i].value;
    return NULL;
}

size_t mmdx__pipeline_nstages(const struct mmdx_pipeline *p)
{
    return p->nstages;
}

const char *mmdx__pipeline_stage_name(const struct mmdx_pipeline *p,
                                      size_t i)
{
    return i < p->nstages ? p->stages[i].def->name : NULL;
}

/* ---- stage instances ---------------------------------------------------- */

static void stage_item_name(const void *obj, char *buf, size_t size)
{
    const struct mmdx_stage *s = obj;

    snprintf(buf, size, "%s#%d", s->def->name, s->worker);
}

static const struct mmdx_class stage_class = { "stage", stage_item_name };

static void priv_free_strings(const struct mmdx_stage_def *d, void *priv)
{
    const struct mmdx_param *pd;

    for (pd = d->params; pd && pd->name; pd++)
        if (pd->type == MMDX_PARAM_STRING || pd->type == MMDX_PARAM_PATH)
            mmdx__freep((char *)priv + pd->offset);
}

static enum mmdx_status set_string(struct mmdx_ctx *ctx,
                                   const struct mmdx_pipeline *pipe,
                                   const struct mmdx_param *pd, void *priv,
                                   const char *val)
{
    char **dst = (char **)((char *)priv + pd->offset);
    char *copy = NULL;

    if (val) {
        if (pd->type == MMDX_PARAM_PATH && val[0])
            copy = mmdx__path_join(pipe ? pipe->dir : ".", val);
        else
            copy = mmdx__strdup(val);
        if (!copy)
            return mmdx__nomem(ctx);
    }
    mmdx__free(*dst);
    *dst = copy;
    return MMDX_OK;
}

static enum mmdx_status fill_params(struct mmdx_ctx *ctx,
                                    const struct mmdx_pipeline *pipe,
                                    const struct pstage *ps, void *priv)
{
    const struct mmdx_stage_def *d = ps->def;
    const struct mmdx_param *pd;
    char why[256];
    size_t i;
    enum mmdx_status st;

    for (pd = d->params; pd && pd->name; pd++) {
        void *dst = (char *)priv + pd->offset;

        switch (pd->type) {
        case MMDX_PARAM_INT:
            *(long *)dst = (long)pd->def_num;
            break;
        case MMDX_PARAM_DOUBLE:
            *(double *)dst = pd->def_num;
            break;
        case MMDX_PARAM_BOOL:
            *(bool *)dst = pd->def_num != 0;
            break;
        case MMDX_PARAM_ENUM:
            *(int *)dst = (int)pd->def_num;
            break;
        case MMDX_PARAM_STRING:
        case MMDX_PARAM_PATH:
            st = set_string(ctx, pipe, pd, priv, pd->def_str);
            if (st)
                return st;
            break;
        }
    }
    for (i = 0; i < ps->nparams; i++) {
        pd = param_find(d, ps->params[i].name);
        if (!pd)
            return mmdx__fail(ctx, MMDX_E_PIPELINE, d->name, NULL, 0,
                              ps->params[i].name, "unknown parameter");
        if (pd->type == MMDX_PARAM_STRING || pd->type == MMDX_PARAM_PATH) {
            st = set_string(ctx, pipe, pd, priv, ps->params[i].value);
            if (st)
                return st;
        } else if (!param_parse(pd, ps->params[i].value,
                                (char *)priv + pd->offset, why,
                                sizeof(why))) {
            return mmdx__fail(ctx, MMDX_E_PIPELINE, d->name, NULL, 0,
                              pd->name, "%s", why);
        }
    }
    return MMDX_OK;
}

void mmdx__stages_free(struct mmdx_stage **stages, size_t n)
{
    size_t i;

    if (!stages)
        return;
    for (i = 0; i < n; i++) {
        struct mmdx_stage *s = stages[i];

        if (!s)
            continue;
        if (s->def->fini)
            s->def->fini(s);
        if (s->priv) {
            priv_free_strings(s->def, s->priv);
            mmdx__free(s->priv);
        }
        mmdx__free(s);
    }
    mmdx__free(stages);
}

enum mmdx_status mmdx__stages_new(struct mmdx_ctx *ctx,
                                  const struct mmdx_pipeline *pipe,
                                  int worker, struct mmdx_stage ***out,
                                  size_t *n)
{
    struct mmdx_stage **v;
    size_t i;
    enum mmdx_status st = MMDX_OK;

    *out = NULL;
    *n = 0;
    v = mmdx__calloc(pipe->nstages ? pipe->nstages : 1, sizeof(*v));
    if (!v)
        return mmdx__nomem(ctx);
    for (i = 0; i < pipe->nstages; i++) {
        const struct mmdx_stage_def *d = pipe->stages[i].def;
        struct mmdx_stage *s = mmdx__calloc(1, sizeof(*s));

        if (!s) {
            st = mmdx__nomem(ctx);
            break;
        }
        v[i] = s;
        s->cls = &stage_class;
        s->def = d;
        s->ctx = ctx;
        s->pipe = pipe;
        s->index = (int)i;
        s->worker = worker;
        if (d->priv_size) {
            s->priv = mmdx__calloc(1, d->priv_size);
            if (!s->priv) {
                st = mmdx__nomem(ctx);
                break;
            }
            st = fill_params(ctx, pipe, &pipe->stages[i], s->priv);
            if (st)
                break;
        }
        if (d->init) {
            st = d->init(s);
            if (st) {
                if (!mmdx__ctx_has_error(ctx))
                    mmdx__fail(ctx, st, d->name, NULL, 0, NULL,
                               "initialisation failed");
                break;
            }
        }
    }
    if (st) {
        mmdx__stages_free(v, pipe->nstages);
        return st;
    }
    *out = v;
    *n = pipe->nstages;
    return MMDX_OK;
}

/* A stage runs when its modality input exists and has not failed and every
 * slot it needs is filled (the FEATURES bit is always satisfied). */
static bool stage_applies(const struct mmdx_stage_def *d,
                          const struct mmdx_patient *p)
{
    int s;

    if (d->modality >= 0 && d->modality < MMDX_MOD_COUNT) {
        if (!p->path[d->modality])
            return false;
        if (p->mod_failed & (1u << d->modality))
            return false;
    }
    for (s = 0; s < MMDX_SLOT_COUNT; s++) {
        if (s == MMDX_SLOT_FEATURES)
            continue;
        if ((d->needs & MMDX_SLOT_BIT(s)) && !p->slot[s])
            return false;
    }
    return true;
}

enum mmdx_status mmdx__stages_run(struct mmdx_stage **stages, size_t n,
                                  struct mmdx_patient *p, bool strict)
{
    size_t i;
    int m, usable = 0, present = 0;

    for (i = 0; i < n; i++) {
        const struct mmdx_stage_def *d = stages[i]->def;
        enum mmdx_status st;

        if (!stage_applies(d, p))
            continue;
        mmdx_ctx_clear_error(p->ctx);
        st = d->process(stages[i], p);
        if (st == MMDX_OK)
            continue;
        if (mmdx__patient_take_error(p, d->modality, d->name, st))
            return MMDX_E_NOMEM;
        if (d->modality >= 0 && d->modality < MMDX_MOD_COUNT) {
            p->mod_failed |= 1u << d->modality;
            continue;
        }
        return st; /* a patient-level stage failed: the patient fails */
    }
    for (m = 0; m < MMDX_MOD_COUNT; m++) {
        if (!p->path[m])
            continue;
        present++;
        if (!(p->mod_failed & (1u << m)))
            usable++;
    }
    if (!usable)
        return present ? p->errors[0].code : MMDX_E_MISSING;
    if (strict && p->nerrors)
        return p->errors[0].code;
    return MMDX_OK;
}

/* ---- help and iteration -------------------------------------------------- */

const char *mmdx_stage_next(void **opaque, const char **description)
{
    const struct mmdx_stage_def *d = mmdx__stage_iterate(opaque);

    if (!d)
        return NULL;
    if (description)
        *description = d->description;
    return d->name;
}

static const char *type_name(enum mmdx_param_type t)
{
    switch (t) {
    case MMDX_PARAM_INT: return "int";
    case MMDX_PARAM_DOUBLE: return "number";
    case MMDX_PARAM_BOOL: return "bool";
    case MMDX_PARAM_STRING: return "string";
    case MMDX_PARAM_ENUM: return "choice";
    case MMDX_PARAM_PATH: return "path";
    }
    return "?";
}

static void slots_text(struct mmdx_dstr *d, unsigned mask)
{
    int s;
    bool first = true;

    for (s = 0; s < MMDX_SLOT_COUNT; s++) {
        if (!(mask & MMDX_SLOT_BIT(s)))
            continue;
        mmdx__dstr_addf(d, "%s%s", first ? "" : ", ", slot_names[s]);
        first = false;
    }
    if (first)
        mmdx__dstr_adds(d, "-");
}

/* The idx-th choice of "a|b|c" into buf. */
static const char *choice_at(const char *choices, int idx, char *buf,
                             size_t size)
{
    const char *c = choices ? choices : "";

    while (idx-- > 0 && strchr(c, '|'))
        c = strchr(c, '|') + 1;
    mmdx__strlcpy(buf, c, size);
    if (strchr(buf, '|'))
        *strchr(buf, '|') = '\0';
    return buf;
}

enum mmdx_status mmdx_stage_help(struct mmdx_ctx *ctx, const char *name,
                                 char **out)
{
    const struct mmdx_stage_def *d = mmdx__stage_find(name);
    const struct mmdx_param *pd;
    struct mmdx_dstr s;
    char b1[32], b2[32], b3[32], cb[64];

    *out = NULL;
    if (!d)
        return mmdx__fail(ctx, MMDX_E_NOTFOUND, NULL, NULL, 0, NULL,
                          "unknown stage \"%s\"", name);
    mmdx__dstr_init(&s, 0);
    mmdx__dstr_addf(&s, "%s - %s\n  modality: %s\n  needs: ", d->name,
                    d->description,
                    d->modality >= 0 ? mmdx__modality_name(
                                           (enum mmdx_modality)d->modality)
                                     : "patient");
    slots_text(&s, d->needs);
    mmdx__dstr_adds(&s, "\n  provides: ");
    slots_text(&s, d->provides);
    mmdx__dstr_adds(&s, "\n");
    if (d->params && d->params->name)
        mmdx__dstr_adds(&s, "  parameters:\n");
    for (pd = d->params; pd && pd->name; pd++) {
        mmdx__dstr_addf(&s, "    %-22s %-7s ", pd->name, type_name(pd->type));
        switch (pd->type) {
        case MMDX_PARAM_INT:
        case MMDX_PARAM_DOUBLE:
            mmdx__dstr_addf(&s, "default %s, range %s..%s",
                            mmdx__fmt_double(pd->def_num, b1),
                            mmdx__fmt_double(pd->min, b2),
                            mmdx__fmt_double(pd->max, b3));
            break;
        case MMDX_PARAM_BOOL:
            mmdx__dstr_addf(&s, "default %s", pd->def_num ? "true" : "false");
            break;
        case MMDX_PARAM_ENUM:
            mmdx__dstr_addf(&s, "default %s, one of %s",
                            choice_at(pd->choices, (int)pd->def_num, cb,
                                      sizeof(cb)),
                            pd->choices);
            break;
        case MMDX_PARAM_STRING:
        case MMDX_PARAM_PATH:
            mmdx__dstr_addf(&s, "default \"%s\"",
                            pd->def_str ? pd->def_str : "");
            break;
        }
        mmdx__dstr_addf(&s, "\n      %s\n", pd->help ? pd->help : "");
    }
    *out = mmdx__dstr_take(&s);
    if (!*out)
        return mmdx__nomem(ctx);
    return MMDX_OK;
}

void mmdx_free(void *p)
{
    mmdx__free(p);
}
