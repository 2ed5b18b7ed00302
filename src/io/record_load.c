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

/* check.deid strip hook for an age of 90 or more: the birth date goes
 * (its year says the age) and the age becomes the category "90 or older". */
static void strip_age(void *obj, const char *field)
{
    struct mmdx_record *r = obj;

    (void)field;
    memset(&r->birth, 0, sizeof(r->birth));
    r->age_90_stripped = true;
}

/* What the birth date says about the age at the reference date. */
struct age_check {
    enum mmdx_age_class cls;
    bool have_ref;          /* a study date or a dated item; else today */
    bool identifying;       /* report "<birth field> (age 90 or over)" */
    bool fatal;             /* implausible: the record fails */
};

/*
 * The age the birth date gives at the reference date (the study date, else
 * the latest dated item of the record - what record.features uses - else,
 * for the gate alone, today). 90 or more is identifying (Safe Harbor); a
 * birth after the reference date or an age over MMDX_RECORD_AGE_MAX is
 * an error of the record. Returns E_FORMAT (recorded) for a malformed
 * study date.
 */
static enum mmdx_status check_age(struct mmdx_stage *s,
                                  const struct mmdx_patient *p,
                                  const struct mmdx_record *r,
                                  struct age_check *ac)
{
    struct mmdx_date ref;
    double years;

    memset(ac, 0, sizeof(*ac));
    if (!mmdx__record_ref_date(r, p->study_date, &ref))
        return mmdx__fail(s->ctx, MMDX_E_FORMAT, s->def->name, NULL, 0,
                          "study_date",
                          "expected YYYY, YYYY-MM or YYYY-MM-DD");
    ac->have_ref = ref.prec != MMDX_DATE_NONE;
    if (!ac->have_ref)
        mmdx__date_today(&ref);
    ac->cls = mmdx__record_age(&r->birth, &ref, &years);
    ac->identifying = ac->cls == MMDX_AGE_90_PLUS ||
                      ac->cls == MMDX_AGE_TOO_OLD;
    ac->fatal = ac->have_ref && (ac->cls == MMDX_AGE_BIRTH_AFTER ||
                                 ac->cls == MMDX_AGE_TOO_OLD);
    return MMDX_OK;
}

/* The error for an implausible birth date (never the dates themselves). */
static enum mmdx_status age_error(struct mmdx_stage *s,
                                  const struct mmdx_patient *p,
                                  const struct mmdx_record *r,
                                  const struct age_check *ac)
{
    const char *what = p->study_date && *p->study_date
                           ? "the study date"
                           : "the latest dated item of the record (the "
                             "reference date, no study_date given)";

    if (ac->cls == MMDX_AGE_BIRTH_AFTER)
        return mmdx__fail(s->ctx, MMDX_E_FORMAT, s->def->name,
                          p->path[MMDX_MOD_RECORD], r->birth_line,
                          r->birth_field,
                          "birth date after %s: the birth date or the "
                          "reference date is wrong", what);
    return mmdx__fail(s->ctx, MMDX_E_FORMAT, s->def->name,
                      p->path[MMDX_MOD_RECORD], r->birth_line,
                      r->birth_field,
                      "age at %s over %.0f years: the birth date or the "
                      "reference date is wrong", what, MMDX_RECORD_AGE_MAX);
}

/* Read the record, hand its identifying fields to the gate - with an age
 * of 90 or more one more, named after the birth date's field - and leave
 * the record in MMDX_SLOT_RECORD. */
static enum mmdx_status load_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    const char *path = p->path[MMDX_MOD_RECORD];
    struct mmdx_record *r;
    struct age_check ac;
    enum mmdx_status st;
    size_t i;

    st = mmdx__record_read_file(s->ctx, path, MMDX_RECORD_IDFIELDS, &r);
    if (st)
        return st;
    st = check_age(s, p, r, &ac);
    if (st) {
        mmdx__record_free(r);
        return st;
    }
    /* an implausible record is not kept: its fields still go to the gate,
     * without strip hooks into the record freed below */
    for (i = 0; i < r->nidf; i++) {
        if (mmdx__patient_add_idfield(p, MMDX_MOD_RECORD, path,
                                      r->idf[i].field,
                                      (enum mmdx_id_kind)r->idf[i].kind,
                                      r->idf[i].value) != MMDX_OK) {
            mmdx__record_free(r);
            return mmdx__nomem(s->ctx);
        }
        if (r->idf[i].kind == MMDX_ID_DATE &&
            strstr(r->idf[i].field, "irth") && !ac.fatal)
            mmdx__patient_idfield_strip_hook(p, strip_birth, r);
    }
    if (ac.identifying) {
        char field[96], value[16];

        snprintf(field, sizeof(field), "%s (age 90 or over)",
                 r->birth_field ? r->birth_field : "birth date");
        /* the gate needs only to know the age is 90 or more */
        snprintf(value, sizeof(value), "%.0f", MMDX_RECORD_AGE_TOP);
        if (mmdx__patient_add_idfield(p, MMDX_MOD_RECORD, path, field,
                                      MMDX_ID_AGE, value) != MMDX_OK) {
            mmdx__record_free(r);
            return mmdx__nomem(s->ctx);
        }
        if (!ac.fatal)
            mmdx__patient_idfield_strip_hook(p, strip_age, r);
    }
    /* the patient holds the copies now; wipe ours early */
    for (i = 0; i < r->nidf; i++) {
        memset(r->idf[i].value, 0, strlen(r->idf[i].value));
        mmdx__freep(&r->idf[i].value);
    }
    r->nidf = 0;
    if (ac.fatal) {
        st = age_error(s, p, r, &ac);
        mmdx__record_free(r);
        return st;
    }
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
