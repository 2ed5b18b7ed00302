/*
 * record_load.c - the load.record stage and the record inspect hook.
 */
#include "core/common.h"
#include "io/record_int.h"

static const char *const sex_names[] = { "unknown", "female", "male",
                                         "other" };
static const char *const prec_names[] = { "none", "year", "month", "day",
                                          "time" };

enum mmdx_status mmdx__record_inspect(struct mmdx_ctx *ctx, const char *path,
                                      enum mmdx_format fmt, mmdx_kv_fn fn,
                                      void *user)
{
    struct mmdx_record *r;
    enum mmdx_status st;
    char num[32];

    (void)fmt;
    st = mmdx__record_read_file(ctx, path, 0, &r);
    if (st)
        return st;
    fn(user, "record.source",
       r->source == MMDX_RECORD_SRC_FHIR  ? "fhir-r4"
       : r->source == MMDX_RECORD_SRC_CDA ? "cda"
                                          : "mmdx-record");
    if (r->source == MMDX_RECORD_SRC_FHIR) {
        snprintf(num, sizeof(num), "%zu", r->counts.resources);
        fn(user, "record.resources", num);
    } else if (r->source == MMDX_RECORD_SRC_CDA) {
        snprintf(num, sizeof(num), "%zu", r->counts.sections);
        fn(user, "record.sections", num);
        snprintf(num, sizeof(num), "%zu", r->counts.sections_used);
        fn(user, "record.sections_read", num);
    } else {
        fn(user, "record.schema", "valid");
    }
    fn(user, "record.sex", sex_names[r->sex]);
    fn(user, "record.birth_precision", prec_names[r->birth.prec]);
    snprintf(num, sizeof(num), "%zu", r->nobs);
    fn(user, "record.observations", num);
    snprintf(num, sizeof(num), "%zu", r->nconds);
    fn(user, "record.conditions", num);
    snprintf(num, sizeof(num), "%zu", r->nmeds);
    fn(user, "record.medications", num);
    snprintf(num, sizeof(num), "%zu", r->counts.entries_skipped);
    fn(user, "record.entries_skipped", num);
    fn(user, "record.problem_list", r->has_problem_list ? "yes" : "no");
    fn(user, "record.medication_list", r->has_med_list ? "yes" : "no");
    mmdx__record_free(r);
    return MMDX_OK;
}

/* check.deid strip hook for the birth date: keep the year only (Safe
 * Harbor), so ages come from what is left (added by the deid area). */
static void strip_birth(void *obj, const char *field)
{
    struct mmdx_record *r = obj;

    (void)field;
    if (r->birth.prec > MMDX_DATE_YEAR) {
        r->birth.month = 0;
        r->birth.day = 0;
        r->birth.sec = 0;
        r->birth.prec = MMDX_DATE_YEAR;
    }
}

/* Read the record, hand its identifying fields to the gate, leave the
 * record in MMDX_SLOT_RECORD. */
static enum mmdx_status load_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    const char *path = p->path[MMDX_MOD_RECORD];
    struct mmdx_record *r;
    enum mmdx_status st;
    size_t i;

    st = mmdx__record_read_file(s->ctx, path, MMDX_RECORD_IDFIELDS, &r);
    if (st)
        return st;
    for (i = 0; i < r->nidf; i++) {
        if (mmdx__patient_add_idfield(p, MMDX_MOD_RECORD, path,
                                      r->idf[i].field,
                                      (enum mmdx_id_kind)r->idf[i].kind,
                                      r->idf[i].value) != MMDX_OK) {
            mmdx__record_free(r);
            return mmdx__nomem(s->ctx);
        }
        if (r->idf[i].kind == MMDX_ID_DATE &&
            strstr(r->idf[i].field, "irth"))
            mmdx__patient_idfield_strip_hook(p, strip_birth, r);
    }
    /* the patient holds the copies now; wipe ours early */
    for (i = 0; i < r->nidf; i++) {
        memset(r->idf[i].value, 0, strlen(r->idf[i].value));
        mmdx__freep(&r->idf[i].value);
    }
    r->nidf = 0;
    mmdx_log(s->ctx, s, MMDX_LOG_DEBUG,
             "record: %zu observations, %zu conditions, %zu medications, "
             "%zu entries without a usable code",
             r->nobs, r->nconds, r->nmeds, r->counts.entries_skipped);
    if (r->counts.entries_skipped)
        st = mmdx__patient_flag(p, MMDX_MOD_RECORD,
                                "record.load.uncoded_entries",
                                "%zu entries without a usable coded value "
                                "were skipped",
                                r->counts.entries_skipped);
    mmdx__patient_set_slot(p, MMDX_SLOT_RECORD, r, mmdx__record_free_v);
    return st == MMDX_OK ? MMDX_OK : mmdx__nomem(s->ctx);
}

const struct mmdx_stage_def mmdx__stage_load_record = {
    .version = MMDX_STAGE_ABI,
    .name = "load.record",
    .description = "read the patient record (FHIR R4 XML, C-CDA R2.1 or "
                   "mmdx record XML) and report its identifying fields",
    .needs = 0,
    .provides = MMDX_SLOT_BIT(MMDX_SLOT_RECORD),
    .modality = MMDX_MOD_RECORD,
    .params = NULL,
    .priv_size = 0,
    .init = NULL,
    .process = load_process,
    .fini = NULL,
};
