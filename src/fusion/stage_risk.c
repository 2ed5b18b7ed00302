/*
 * stage_risk.c - the fusion.risk stage: applies a trained model to each
 * patient's feature set inside `mmdx run`, leaves a struct mmdx_risk in
 * MMDX_SLOT_RISK for the report stage and writes patients/<id>/risks.tsv
 * (one row; the runner merges them into DIR/risks.tsv).
 *
 * The model is loaded once per worker in init(). A patient feature of a
 * modality the model uses but which the model does not know is an error
 * naming it; model features the patient lacks are NA (a modality missing
 * or failed for that patient).
 */
#include "core/common.h"
#include "fusion/fusion.h"
#include "fusion/risk.h"
#include "pipeline/runner.h"

#include <cblas.h>

struct risk_priv {
    char *model;                /* PATH param */
    struct mmdx__model m;
    bool loaded;
    float *raw;                 /* nfeat */
    size_t *map;                /* scratch */
    size_t map_cap;
};

static enum mmdx_status risk_init(struct mmdx_stage *s)
{
    struct risk_priv *pr = s->priv;
    enum mmdx_status st;

    openblas_set_num_threads(1);
    if (!pr->model || !pr->model[0])
        return mmdx__fail(s->ctx, MMDX_E_PIPELINE, "fusion.risk", NULL, 0,
                          "model", "parameter 'model' (a model file from "
                          "'mmdx train') is required");
    st = mmdx__model_load(s->ctx, pr->model, &pr->m);
    if (st)
        return st;
    pr->loaded = true;
    pr->raw = mmdx__malloc(pr->m.nfeat * sizeof(float));
    if (!pr->raw)
        return mmdx__nomem(s->ctx);
    return MMDX_OK;
}

static void risk_fini(struct mmdx_stage *s)
{
    struct risk_priv *pr = s->priv;

    if (pr->loaded)
        mmdx__model_fini(&pr->m);
    mmdx__free(pr->raw);
    mmdx__free(pr->map);
    pr->raw = NULL;
    pr->map = NULL;
    pr->loaded = false;
}

/* The row of risks.tsv (header MMDX_RISK_TSV_HEADER). */
static enum mmdx_status write_row(struct mmdx_patient *p,
                                  const struct mmdx_risk *r)
{
    struct mmdx_dstr d;
    char num[32];
    int e;
    enum mmdx_status st;

    mmdx__dstr_init(&d, 4096);
    mmdx__dstr_addf(&d, "%s\t", p->id);
    mmdx__dstr_add(&d, num, mmdx__fmt_prob(r->risk, num));
    mmdx__dstr_addf(&d, "\t%s", r->band);
    for (e = 0; e < MMDX_MOD_COUNT; e++) {
        mmdx__dstr_adds(&d, "\t");
        mmdx__dstr_add(&d, num, mmdx__fmt_prob(r->contribution[e], num));
    }
    st = mmdx__dstr_adds(&d, "\n");
    if (st) {
        mmdx__dstr_fini(&d);
        return st == MMDX_E_NOMEM ? mmdx__nomem(p->ctx)
                                  : mmdx__fail(p->ctx, st, "fusion.risk",
                                               NULL, 0, "patient_id",
                                               "row too long");
    }
    st = mmdx__patient_write(p, "risks.tsv", d.s, d.len);
    mmdx__dstr_fini(&d);
    return st;
}

static enum mmdx_status risk_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    struct risk_priv *pr = s->priv;
    const struct mmdx_featset *fs = &p->features;
    struct mmdx_risk *r;
    char **names;
    size_t j;
    enum mmdx_status st;

    if (fs->n + 1 > pr->map_cap) {
        size_t *nm = mmdx__realloc(pr->map, (fs->n + 1) * 2 *
                                                sizeof(size_t));

        if (!nm)
            return mmdx__nomem(s->ctx);
        pr->map = nm;
        pr->map_cap = (fs->n + 1) * 2;
    }
    names = mmdx__malloc((fs->n + 1) * sizeof(char *));
    if (!names)
        return mmdx__nomem(s->ctx);
    for (j = 0; j < fs->n; j++)
        names[j] = fs->v[j].name;
    st = mmdx__model_match(s->ctx, &pr->m, "patient feature set", names,
                           fs->n, pr->map, false);
    mmdx__free(names);
    if (st)
        return st;
    for (j = 0; j < pr->m.nfeat; j++)
        pr->raw[j] = NAN;
    for (j = 0; j < fs->n; j++)
        if (pr->map[j] != SIZE_MAX)
            pr->raw[pr->map[j]] = (float)fs->v[j].value;
    r = mmdx__calloc(1, sizeof(*r));
    if (!r)
        return mmdx__nomem(s->ctx);
    st = mmdx__model_explain(s->ctx, &pr->m, pr->raw, 1, NULL, NULL, NULL,
                             r, true);
    if (st) {
        mmdx__free(r);
        return st;
    }
    if (isnan(r->risk)) {
        mmdx__free(r);
        return mmdx__fail(s->ctx, MMDX_E_MISSING, "fusion.risk", NULL, 0,
                          "features",
                          "no feature of the model's modalities is present");
    }
    st = write_row(p, r);
    if (st) {
        mmdx__free(r);
        return st;
    }
    mmdx__patient_set_slot(p, MMDX_SLOT_RISK, r, mmdx__free);
    return MMDX_OK;
}

bool mmdx__fusion_any_risk(const char *out_dir, const char *const *ids,
                           size_t nids)
{
    size_t i;
    bool any = false;

    for (i = 0; i < nids && !any; i++) {
        char *d = mmdx__path_join(out_dir, "patients"), *e = NULL, *f = NULL;

        if (d)
            e = mmdx__path_join(d, ids[i]);
        if (e)
            f = mmdx__path_join(e, "risks.tsv");
        /* on out-of-memory, merge anyway: merge_rows reports it */
        any = !f || mmdx__is_file(f);
        mmdx__free(f);
        mmdx__free(e);
        mmdx__free(d);
    }
    return any;
}

static const struct mmdx_param risk_params[] = {
    { "model", MMDX_PARAM_PATH, offsetof(struct risk_priv, model), 0, NULL,
      0, 0, NULL, "model file written by 'mmdx train' (relative to the "
                  "pipeline file)" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

const struct mmdx_stage_def mmdx__stage_fusion_risk = {
    MMDX_STAGE_ABI, "fusion.risk",
    "fused risk from the patient's features with a trained model: "
    "calibrated risk, band, leave-modality-out contributions, top "
    "features by gradient x input",
    MMDX_SLOT_BIT(MMDX_SLOT_FEATURES), MMDX_SLOT_BIT(MMDX_SLOT_RISK), -1,
    risk_params, sizeof(struct risk_priv), risk_init, risk_process,
    risk_fini
};
