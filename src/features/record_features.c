/*
 * record_features.c - the record.features stage: demographics, vitals,
 * labs, comorbidities, medication classes and CHA2DS2-VASc from the
 * patient record (MMDX_SLOT_RECORD).
 *
 * Code sets come from schemas/codes/ (record_codes.c), loaded once per
 * worker in init. Per patient, each observation, condition and medication
 * costs a few hash probes; the feature names are built once in init.
 *
 * Reference date: the manifest's study_date; without it, the latest dated
 * item of the record. With a study_date, items dated after it are left
 * out (no looking into the future). A value that cannot be computed is
 * NaN with a data-quality flag saying why.
 */
#include "core/common.h"
#include "features/record_codes.h"
#include "io/record.h"
#include "pipeline/stage.h"

#define MOD MMDX_MOD_RECORD

/* CHA2DS2-VASc inputs that come from comorbidity groups. */
enum { CV_CHF, CV_HTN, CV_DM, CV_STROKE, CV_TE, CV_VASC, CV_N };
static const char *const cv_groups[CV_N] = {
    "heart_failure", "hypertension", "diabetes", "stroke_tia",
    "thromboembolism", "vascular"
};

struct rf_priv {
    struct mmdx_record_codes codes;
    bool loaded;
    int cv[CV_N];                 /* group index of each input */
    char **names;                 /* every feature name, in output order */
    size_t nnames;
};

/* ---- names ------------------------------------------------------------------ */

static enum mmdx_status add_name(struct rf_priv *pv, const char *fmt, ...)
    MMDX_PRINTF(2, 3);

static enum mmdx_status add_name(struct rf_priv *pv, const char *fmt, ...)
{
    char buf[160];
    char **nn;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return MMDX_E_INTERNAL;
    nn = mmdx__realloc(pv->names, (pv->nnames + 1) * sizeof(*nn));
    if (!nn)
        return MMDX_E_NOMEM;
    pv->names = nn;
    nn[pv->nnames] = mmdx__strdup(buf);
    if (!nn[pv->nnames])
        return MMDX_E_NOMEM;
    pv->nnames++;
    return MMDX_OK;
}

/* Output order; the process function emits values in exactly this order. */
static enum mmdx_status build_names(struct rf_priv *pv)
{
    const struct mmdx_record_codes *c = &pv->codes;
    enum mmdx_status st = MMDX_OK;
    size_t i;

    st = add_name(pv, "record.demo.age_years");
    if (!st)
        st = add_name(pv, "record.demo.sex_female");
    for (i = 0; i < c->nmeasures && !st; i++) {
        const struct mmdx_measure *m = &c->measures[i];

        st = add_name(pv, "record.%s.%s_latest_%s", m->family, m->key,
                      m->unit);
        if (!st && m->mean)
            st = add_name(pv, "record.%s.%s_mean_%s", m->family, m->key,
                          m->unit);
    }
    if (!st)
        st = add_name(pv, "record.lab.egfr_ckdepi2021_ml_min_1_73m2");
    for (i = 0; i < c->conds.n && !st; i++) {
        st = add_name(pv, "record.comorb.%s", c->conds.names[i]);
        if (!st)
            st = add_name(pv, "record.comorb.%s_active", c->conds.names[i]);
    }
    for (i = 0; i < c->meds.n && !st; i++)
        st = add_name(pv, "record.med.%s", c->meds.names[i]);
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_max");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_missing_n");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_chf");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_htn");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_age");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_dm");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_stroke");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_vasc");
    if (!st)
        st = add_name(pv, "record.score.cha2ds2vasc_pts_sex");
    return st;
}

static enum mmdx_status rf_init(struct mmdx_stage *s)
{
    struct rf_priv *pv = s->priv;
    enum mmdx_status st;
    int i;

    st = mmdx__record_codes_load(s->ctx, &pv->codes);
    pv->loaded = true;
    if (st)
        return st;
    for (i = 0; i < CV_N; i++) {
        pv->cv[i] = mmdx__codeset_find(&pv->codes.conds, cv_groups[i]);
        if (pv->cv[i] < 0)
            return mmdx__fail(s->ctx, MMDX_E_FORMAT, "record.features",
                              "schemas/codes/conditions.tsv", 0, "group",
                              "group \"%s\" (needed by CHA2DS2-VASc) is "
                              "missing",
                              cv_groups[i]);
    }
    st = build_names(pv);
    if (st == MMDX_E_NOMEM)
        return mmdx__nomem(s->ctx);
    if (st)
        return mmdx__fail(s->ctx, st, "record.features", NULL, 0, NULL,
                          "feature name too long");
    return MMDX_OK;
}

static void rf_fini(struct mmdx_stage *s)
{
    struct rf_priv *pv = s->priv;
    size_t i;

    if (!pv)
        return;
    if (pv->loaded)
        mmdx__record_codes_fini(&pv->codes);
    for (i = 0; i < pv->nnames; i++)
        mmdx__free(pv->names[i]);
    mmdx__freep(&pv->names);
    pv->nnames = 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* True when d lies after ref, compared at ref's precision (an item of the
 * study day is not after the study date). Undated items are not after. */
static bool after(const struct mmdx_date *d, const struct mmdx_date *ref)
{
    long kd, kr;

    if (d->prec == MMDX_DATE_NONE || ref->prec == MMDX_DATE_NONE)
        return false;
    kd = d->year;
    kr = ref->year;
    if (ref->prec >= MMDX_DATE_MONTH) {
        kd = kd * 100 + d->month;
        kr = kr * 100 + ref->month;
    }
    if (ref->prec >= MMDX_DATE_DAY) {
        kd = kd * 100 + d->day;
        kr = kr * 100 + ref->day;
    }
    if (ref->prec >= MMDX_DATE_TIME && d->prec >= MMDX_DATE_TIME && kd == kr)
        return d->sec > ref->sec;
    return kd > kr;
}

/* Age at when for the features: Safe Harbor's category "90 or older" is
 * 90 (MMDX_RECORD_AGE_TOP), whether the birth date says so or check.deid
 * stripped it for that reason; NaN when unknown or implausible. */
static double age_at(const struct mmdx_record *r,
                     const struct mmdx_date *when,
                     enum mmdx_age_class *cls)
{
    double a;

    if (r->birth.prec == MMDX_DATE_NONE && r->age_90_stripped &&
        when->prec != MMDX_DATE_NONE) {
        *cls = MMDX_AGE_90_PLUS;
        return MMDX_RECORD_AGE_TOP;
    }
    *cls = mmdx__record_age(&r->birth, when, &a);
    switch (*cls) {
    case MMDX_AGE_OK:
        return a;
    case MMDX_AGE_90_PLUS:
        return MMDX_RECORD_AGE_TOP;
    default:
        return NAN;
    }
}

/*
 * CKD-EPI 2021 creatinine equation (race-free), Inker et al., N Engl J Med
 * 2021;385:1737-49: 142 * min(Scr/k,1)^a * max(Scr/k,1)^-1.200 *
 * 0.9938^age [* 1.012 if female]; k = 0.7 (F) / 0.9 (M), a = -0.241 (F) /
 * -0.302 (M). Scr in mg/dL, age in years; mL/min/1.73 m2.
 */
double mmdx__egfr_ckdepi2021(double scr_mg_dl, double age_years, bool female)
{
    double k = female ? 0.7 : 0.9, a = female ? -0.241 : -0.302;
    double r = scr_mg_dl / k;

    if (!(scr_mg_dl > 0) || !(age_years >= 0))
        return NAN;
    return 142.0 * pow(r < 1 ? r : 1, a) * pow(r > 1 ? r : 1, -1.200) *
           pow(0.9938, age_years) * (female ? 1.012 : 1.0);
}

struct mstat {
    double latest;
    struct mmdx_date latest_date;
    bool have;
    double sum;
    size_t n, bad_unit, bad_value;
    const char *bad_unit_name;
};

/* ---- process ---------------------------------------------------------------- */

static enum mmdx_status rf_process(struct mmdx_stage *s,
                                   struct mmdx_patient *p)
{
    struct rf_priv *pv = s->priv;
    const struct mmdx_record_codes *c = &pv->codes;
    const struct mmdx_record *r = p->slot[MMDX_SLOT_RECORD];
    struct mstat ms[MMDX_CODES_MAX_SETS];
    struct mmdx_date ref;
    double age = NAN, sex_f = NAN, egfr = NAN;
    enum mmdx_age_class acls = MMDX_AGE_UNKNOWN;
    uint64_t ever = 0, active = 0, medmask = 0;
    bool have_study, cond_list, med_list;
    enum mmdx_status st = MMDX_OK;
    size_t i, k, j, uncoded = 0;
    int creat = -1;
    double *v;
    size_t nv = 0;

#define FLAG(code, ...)                                                      \
    do {                                                                     \
        if (!st)                                                             \
            st = mmdx__patient_flag(p, MOD, code, __VA_ARGS__);              \
    } while (0)

    /* reference date */
    have_study = p->study_date && *p->study_date;
    if (!mmdx__record_ref_date(r, p->study_date, &ref))
        return mmdx__fail(s->ctx, MMDX_E_FORMAT, "record.features", NULL, 0,
                          "study_date",
                          "expected YYYY, YYYY-MM or YYYY-MM-DD");

    v = mmdx__calloc(pv->nnames, sizeof(*v));
    if (!v)
        return mmdx__nomem(s->ctx);

    /* demographics (load.record refuses a birth after the reference date
     * or an age over MMDX_RECORD_AGE_MAX; they are NaN here all the same) */
    if (r->birth.prec == MMDX_DATE_NONE && !r->age_90_stripped) {
        FLAG("record.demo.no_birth_date", "no birth date: age unknown");
    } else if (ref.prec == MMDX_DATE_NONE) {
        FLAG("record.demo.no_reference_date",
             "no study_date and no dated item in the record: age unknown");
    } else {
        age = age_at(r, &ref, &acls);
        if (acls == MMDX_AGE_BIRTH_AFTER)
            FLAG("record.demo.birth_after_reference",
                 "birth date after the reference date: age unknown");
        else if (acls == MMDX_AGE_TOO_OLD)
            FLAG("record.demo.age_implausible",
                 "age over %.0f years at the reference date: age unknown",
                 MMDX_RECORD_AGE_MAX);
        else if (acls == MMDX_AGE_90_PLUS)
            FLAG("record.demo.age_90_or_over",
                 "age 90 or over: reported as %.0f, the single category "
                 "\"90 or older\" of HIPAA Safe Harbor (eGFR uses it too)",
                 MMDX_RECORD_AGE_TOP);
        else if (r->birth.prec < MMDX_DATE_DAY)
            FLAG("record.demo.age_imprecise",
                 "birth date known to the %s only: age from its midpoint",
                 r->birth.prec == MMDX_DATE_YEAR ? "year" : "month");
    }
    if (r->sex == MMDX_SEX_FEMALE)
        sex_f = 1;
    else if (r->sex == MMDX_SEX_MALE)
        sex_f = 0;
    else
        FLAG("record.demo.sex_unknown", "sex %s",
             r->sex == MMDX_SEX_OTHER ? "other than female/male"
                                      : "not recorded");
    v[nv++] = age;
    v[nv++] = sex_f;

    /* measures */
    memset(ms, 0, sizeof(ms));
    for (i = 0; i < r->nobs; i++) {
        const struct mmdx_obs *o = &r->obs[i];
        const struct mmdx_unit_conv *cv;
        int mi;
        double x;

        if (isnan(o->value) || (have_study && after(&o->date, &ref)))
            continue;
        mi = mmdx__record_codes_measure(c, &o->code);
        if (mi < 0)
            continue;
        cv = mmdx__record_codes_unit(c, mi, o->unit[0] ? o->unit
                                                       : c->measures[mi].ucum);
        if (!cv) {
            ms[mi].bad_unit++;
            ms[mi].bad_unit_name = o->unit;
            continue;
        }
        x = o->value * cv->factor + cv->offset;
        if (!(x > 0) || !isfinite(x)) {
            /* every measure (pressures, rate, mass, length, BMI,
             * concentrations) is a positive quantity: a value of 0 or
             * less is an entry error, left out */
            ms[mi].bad_value++;
            continue;
        }
        ms[mi].sum += x;
        ms[mi].n++;
        if (!ms[mi].have || mmdx__date_cmp(&o->date, &ms[mi].latest_date) >= 0) {
            ms[mi].latest = x;
            ms[mi].latest_date = o->date;
            ms[mi].have = true;
        }
    }
    for (k = 0; k < c->nmeasures; k++) {
        const struct mmdx_measure *m = &c->measures[k];

        if (ms[k].bad_unit)
            FLAG("record.unit.unknown",
                 "%s: %zu value(s) in unit \"%s\" not in units.tsv", m->key,
                 ms[k].bad_unit, ms[k].bad_unit_name);
        if (ms[k].bad_value)
            FLAG("record.value.implausible",
                 "%s: %zu value(s) of 0 or less left out", m->key,
                 ms[k].bad_value);
        v[nv++] = ms[k].have ? ms[k].latest : NAN;
        if (m->mean)
            v[nv++] = ms[k].n ? ms[k].sum / (double)ms[k].n : NAN;
        if (strcmp(m->key, "creatinine") == 0)
            creat = (int)k;
    }

    /* eGFR from the latest creatinine, age at that measurement */
    if (creat < 0 || !ms[creat].have) {
        FLAG("record.lab.egfr_no_creatinine",
             "eGFR: no serum creatinine in the record");
    } else if (isnan(sex_f)) {
        FLAG("record.lab.egfr_no_sex", "eGFR: sex unknown");
    } else {
        double a = age;

        if (ms[creat].latest_date.prec != MMDX_DATE_NONE)
            a = age_at(r, &ms[creat].latest_date, &acls);
        if (isnan(a))
            FLAG("record.lab.egfr_no_age", "eGFR: age unknown");
        else if (a < 18)
            FLAG("record.lab.egfr_not_adult",
                 "eGFR: CKD-EPI 2021 is for adults (age >= 18)");
        else
            egfr = mmdx__egfr_ckdepi2021(ms[creat].latest, a, sex_f == 1);
    }
    v[nv++] = egfr;

    /* comorbidities: resolved conditions still count as history */
    cond_list = r->has_problem_list || r->nconds > 0;
    for (i = 0; i < r->nconds; i++) {
        const struct mmdx_condition *cd = &r->conds[i];
        uint64_t mask = 0;

        if (have_study && after(&cd->onset, &ref))
            continue;
        for (j = 0; j < cd->ncodes; j++)
            mask |= mmdx__codeset_match(&c->conds, &cd->codes[j]);
        ever |= mask;
        if (cd->status != MMDX_COND_RESOLVED &&
            !(have_study && cd->abatement.prec != MMDX_DATE_NONE &&
              !after(&cd->abatement, &ref)))
            active |= mask;
    }
    if (!cond_list)
        FLAG("record.comorb.no_problem_list",
             "no problem list in the record: comorbidities unknown");
    for (k = 0; k < c->conds.n; k++) {
        uint64_t bit = (uint64_t)1 << k;

        v[nv++] = cond_list ? (ever & bit ? 1 : 0) : NAN;
        v[nv++] = cond_list ? (active & bit ? 1 : 0) : NAN;
    }

    /* medication classes: current = not stopped, started by the reference
     * date, not ended before it */
    med_list = r->has_med_list || r->nmeds > 0;
    for (i = 0; i < r->nmeds; i++) {
        const struct mmdx_medication *md = &r->meds[i];

        if (!md->ncodes)
            uncoded++;
        if (md->status == MMDX_MED_STOPPED)
            continue;
        if (have_study && after(&md->start, &ref))
            continue;
        if (md->end.prec != MMDX_DATE_NONE && ref.prec != MMDX_DATE_NONE &&
            after(&ref, &md->end))
            continue;
        for (j = 0; j < md->ncodes; j++)
            medmask |= mmdx__codeset_match(&c->meds, &md->codes[j]);
    }
    if (!med_list)
        FLAG("record.med.no_medication_list",
             "no medication list in the record: medication classes unknown");
    if (uncoded)
        FLAG("record.med.uncoded",
             "%zu medication(s) without a code: not classified", uncoded);
    for (k = 0; k < c->meds.n; k++)
        v[nv++] = med_list ? (medmask & ((uint64_t)1 << k) ? 1 : 0) : NAN;

    /* CHA2DS2-VASc (Lip et al., Chest 2010;137:263-72): C 1, H 1, age >= 75
     * 2, D 1, stroke/TIA/thromboembolism 2, vascular 1, age 65-74 1,
     * female 1. Missing inputs count 0 in the score and their maximum in
     * cha2ds2vasc_max. */
    {
        double pts[7];
        static const double maxpts[7] = { 1, 1, 2, 1, 2, 1, 1 };
        static const char *const in_names[7] = {
            "heart failure", "hypertension", "age", "diabetes",
            "stroke/TIA/thromboembolism", "vascular disease", "sex"
        };
        double score = 0, smax = 0;
        int missing = 0, q;
        char miss[200] = "";

#define GRP(i) ((uint64_t)1 << pv->cv[i])
        pts[0] = cond_list ? (ever & GRP(CV_CHF) ? 1 : 0) : NAN;
        pts[1] = cond_list ? (ever & GRP(CV_HTN) ? 1 : 0) : NAN;
        pts[2] = isnan(age) ? NAN : age >= 75 ? 2 : age >= 65 ? 1 : 0;
        pts[3] = cond_list ? (ever & GRP(CV_DM) ? 1 : 0) : NAN;
        pts[4] = cond_list
                     ? (ever & (GRP(CV_STROKE) | GRP(CV_TE)) ? 2 : 0)
                     : NAN;
        pts[5] = cond_list ? (ever & GRP(CV_VASC) ? 1 : 0) : NAN;
        pts[6] = sex_f;
#undef GRP
        for (q = 0; q < 7; q++) {
            if (isnan(pts[q])) {
                missing++;
                smax += maxpts[q];
                if (miss[0])
                    mmdx__strlcpy(miss + strlen(miss), ", ",
                                  sizeof(miss) - strlen(miss));
                mmdx__strlcpy(miss + strlen(miss), in_names[q],
                              sizeof(miss) - strlen(miss));
            } else {
                score += pts[q];
                smax += pts[q];
            }
        }
        if (missing)
            FLAG("record.score.cha2ds2vasc_missing",
                 "CHA2DS2-VASc: %d input(s) missing (%s): score is a lower "
                 "bound",
                 missing, miss);
        v[nv++] = score;
        v[nv++] = smax;
        v[nv++] = missing;
        for (q = 0; q < 7; q++)
            v[nv++] = pts[q];
    }
#undef FLAG
    assert(nv == pv->nnames);
    for (i = 0; i < nv && !st; i++)
        st = mmdx__featset_add(&p->features, pv->names[i], v[i]);
    mmdx__free(v);
    return st ? mmdx__nomem(s->ctx) : MMDX_OK;
}

const struct mmdx_stage_def mmdx__stage_record_features = {
    .version = MMDX_STAGE_ABI,
    .name = "record.features",
    .description = "age, sex, vitals, labs (eGFR CKD-EPI 2021), comorbidity "
                   "flags, medication classes and CHA2DS2-VASc from the "
                   "patient record; code sets in schemas/codes/",
    .needs = MMDX_SLOT_BIT(MMDX_SLOT_RECORD),
    .provides = MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    .modality = MMDX_MOD_RECORD,
    .params = NULL,
    .priv_size = sizeof(struct rf_priv),
    .init = rf_init,
    .process = rf_process,
    .fini = rf_fini,
};
