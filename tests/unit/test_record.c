/* test_record.c - record_testdriver: FHIR, C-CDA and mmdx record XML
 * readers, the load.record and record.features stages.
 *
 * Expected values are read off the documents themselves (the shared files
 * under records/, see ../shared/data/SOURCES.md); numbers are compared
 * exactly unless a tolerance is stated. */
#include "core/common.h"
#include "features/record_codes.h"
#include "io/record.h"
#include "pipeline/deid.h"
#include "pipeline/stage.h"
#include "test_util.h"

extern const struct mmdx_stage_def mmdx__stage_load_record;
extern const struct mmdx_stage_def mmdx__stage_record_features;

#define KENDALL                                                              \
    "records/synthea-ccda/"                                                  \
    "Kendall673_Schroeder447_7cac15d9-1074-2a73-2b4f-052623f2dc81.xml"
#define LEMUEL                                                               \
    "records/synthea-ccda/"                                                  \
    "Lemuel304_Corwin846_7be26793-9525-17d3-3fe7-f6750e1aaec5.xml"

static struct mmdx_record *read_shared(struct mmdx_ctx *ctx, const char *rel,
                                       unsigned flags)
{
    char *p = test_shared(rel);
    struct mmdx_record *r = NULL;
    enum mmdx_status st = mmdx__record_read_file(ctx, p, flags, &r);

    if (st) {
        char buf[1024];

        mmdx__free(p);
        fail_msg("%s: %s", rel,
                 mmdx_error_format(mmdx_ctx_last_error(ctx), buf, sizeof(buf)));
    }
    mmdx__free(p);
    return r;
}

static enum mmdx_status read_text(struct mmdx_ctx *ctx, const char *text,
                                  struct mmdx_record **r)
{
    return mmdx__record_read_mem(ctx, "mem.xml", text, strlen(text),
                                 MMDX_RECORD_IDFIELDS, r);
}

/* The n-th observation with this code (NULL if fewer). */
static const struct mmdx_obs *find_obs(const struct mmdx_record *r,
                                       const char *code, size_t nth)
{
    size_t i;

    for (i = 0; i < r->nobs; i++)
        if (strcmp(r->obs[i].code.code, code) == 0 && nth-- == 0)
            return &r->obs[i];
    return NULL;
}

static const struct mmdx_condition *find_cond(const struct mmdx_record *r,
                                              const char *code)
{
    size_t i, j;

    for (i = 0; i < r->nconds; i++)
        for (j = 0; j < r->conds[i].ncodes; j++)
            if (strcmp(r->conds[i].codes[j].code, code) == 0)
                return &r->conds[i];
    return NULL;
}

static size_t count_idf(const struct mmdx_record *r, const char *field)
{
    size_t i, n = 0;

    for (i = 0; i < r->nidf; i++)
        if (strcmp(r->idf[i].field, field) == 0)
            n++;
    return n;
}

static const char *idf_value(const struct mmdx_record *r, const char *field)
{
    size_t i;

    for (i = 0; i < r->nidf; i++)
        if (strcmp(r->idf[i].field, field) == 0)
            return r->idf[i].value;
    return NULL;
}

static void assert_date(const struct mmdx_date *d, int y, int m, int day,
                        enum mmdx_date_prec prec)
{
    assert_int_equal(d->prec, prec);
    assert_int_equal(d->year, y);
    assert_int_equal(d->month, m);
    assert_int_equal(d->day, day);
}

/* ---- dates -------------------------------------------------------------- */

/* Ensure that FHIR and HL7 dates keep their precision and reject junk. */
static void date__forms__precision(void **state)
{
    struct mmdx_date d;

    (void)state;
    assert_true(mmdx__date_parse_fhir("2015", &d));
    assert_date(&d, 2015, 0, 0, MMDX_DATE_YEAR);
    assert_true(mmdx__date_parse_fhir("2016-10", &d));
    assert_date(&d, 2016, 10, 0, MMDX_DATE_MONTH);
    assert_true(mmdx__date_parse_fhir("2018-02-16T09:17:00+01:00", &d));
    assert_date(&d, 2018, 2, 16, MMDX_DATE_TIME);
    assert_int_equal(d.sec, 9 * 3600 + 17 * 60);
    assert_true(mmdx__date_parse_fhir("2020-02-29", &d));
    assert_false(mmdx__date_parse_fhir("2019-02-29", &d));
    assert_false(mmdx__date_parse_fhir("2019-13", &d));
    assert_false(mmdx__date_parse_fhir("19", &d));
    assert_false(mmdx__date_parse_fhir("2019-01-01T25:00", &d));
    assert_false(mmdx__date_parse_fhir("2019-01-01x", &d));
    assert_int_equal(d.prec, MMDX_DATE_NONE);
    assert_true(mmdx__date_parse_hl7("19501219", &d));
    assert_date(&d, 1950, 12, 19, MMDX_DATE_DAY);
    assert_true(mmdx__date_parse_hl7("201307061145-0800", &d));
    assert_date(&d, 2013, 7, 6, MMDX_DATE_TIME);
    assert_true(mmdx__date_parse_hl7("20240505075152", &d));
    assert_int_equal(d.sec, 7 * 3600 + 51 * 60 + 52);
    assert_true(mmdx__date_parse_hl7("2014", &d));
    assert_date(&d, 2014, 0, 0, MMDX_DATE_YEAR);
    assert_false(mmdx__date_parse_hl7("2014-01-01", &d));
    assert_false(mmdx__date_parse_hl7("201", &d));
    assert_false(mmdx__date_parse_hl7("20140231", &d));
}

/* Ensure that dates order by time and midpoints follow the precision. */
static void date__compare_mid__ordered(void **state)
{
    struct mmdx_date a, b;

    (void)state;
    assert_true(mmdx__date_parse_fhir("2015", &a));
    assert_true(mmdx__date_parse_fhir("2015-01-01", &b));
    assert_int_equal(mmdx__date_cmp(&a, &b), -1);
    assert_true(mmdx__date_parse_fhir("2014-12-31", &b));
    assert_int_equal(mmdx__date_cmp(&a, &b), 1);
    /* 2015 is not a leap year: its midpoint is 182.5 days after 1 Jan */
    assert_true(mmdx__date_mid_days(&a) - mmdx__date_mid_days(&b) ==
                182.5 + 1.0 - 0.5);
    memset(&b, 0, sizeof(b));
    assert_int_equal(mmdx__date_cmp(&b, &a), -1);
    assert_true(isnan(mmdx__date_mid_days(&b)));
}

/* Age of birth b at reference r (FHIR date forms); *years out. */
static enum mmdx_age_class age_of(const char *b, const char *r,
                                  double *years)
{
    struct mmdx_date db, dr;

    assert_true(mmdx__date_parse_fhir(b, &db));
    assert_true(mmdx__date_parse_fhir(r, &dr));
    return mmdx__record_age(&db, &dr, years);
}

/* Ensure that ages of 90 or more are told from younger ones for a year,
 * a year-month and a full birth date, by calendar years as well as by
 * elapsed time, and that a birth after the reference date or an age over
 * 130 years is classed implausible. Reference: Python datetime day
 * differences divided by 365.2425 (tolerance 1e-9). */
static void age__birth_precisions__classified(void **state)
{
    struct mmdx_date none, d;
    double y;

    (void)state;
    /* the QA case: born 1925, studied 2021: 35064 days */
    assert_int_equal(age_of("1925", "2021", &y), MMDX_AGE_90_PLUS);
    assert_true(fabs(y - 35064 / 365.2425) < 1e-9);
    /* a year alone: midpoints a year apart */
    assert_int_equal(age_of("1931", "2021", &y), MMDX_AGE_90_PLUS);
    assert_int_equal(age_of("1932", "2021", &y), MMDX_AGE_OK);
    assert_true(y > 88.99 && y < 89.01);
    /* 1931 (midpoint 2 July) to 1 March 2021: 89.67 */
    assert_int_equal(age_of("1931", "2021-03-01", &y), MMDX_AGE_OK);
    assert_true(fabs(y - (32932 + 0.5 - 182.5) / 365.2425) < 1e-9);
    /* a year-month */
    assert_int_equal(age_of("1931-06", "2021-06", &y), MMDX_AGE_90_PLUS);
    assert_int_equal(age_of("1931-07", "2021-06", &y), MMDX_AGE_OK);
    assert_int_equal(age_of("1931-06", "2021-06-30", &y), MMDX_AGE_90_PLUS);
    /* a full date: 89.99 is not 90, the 90th birthday is */
    assert_int_equal(age_of("1931-06-20", "2021-06-15", &y), MMDX_AGE_OK);
    assert_true(fabs(y - 32868 / 365.2425) < 1e-9); /* 89.9895 */
    assert_int_equal(age_of("1931-06-15", "2021-06-15", &y),
                     MMDX_AGE_90_PLUS);
    assert_int_equal(age_of("1931-06-15T10:00:00Z", "2021-06-15", &y),
                     MMDX_AGE_90_PLUS);
    /* 90 calendar years with only 21 leap days: 32871 days = 89.998 y */
    assert_int_equal(age_of("1896-03-01", "1986-03-01", &y),
                     MMDX_AGE_90_PLUS);
    assert_true(fabs(y - 32871 / 365.2425) < 1e-9);
    assert_int_equal(age_of("1896-03-01", "1986-02-28", &y), MMDX_AGE_OK);
    /* born on 29 February: 90 on 28 February of a common year */
    assert_int_equal(age_of("1896-02-29", "1986-02-28", &y),
                     MMDX_AGE_90_PLUS);
    assert_int_equal(age_of("1896-02-29", "1986-02-27", &y), MMDX_AGE_OK);
    /* born in the study's year: possible, age 0 */
    assert_int_equal(age_of("2021", "2021-03-01", &y), MMDX_AGE_OK);
    assert_true(y == 0);
    /* implausible */
    assert_int_equal(age_of("2030", "2021", &y), MMDX_AGE_BIRTH_AFTER);
    assert_true(isnan(y));
    assert_int_equal(age_of("2021-04", "2021-03-31", &y),
                     MMDX_AGE_BIRTH_AFTER);
    assert_int_equal(age_of("2021-06-16", "2021-06-15", &y),
                     MMDX_AGE_BIRTH_AFTER);
    assert_int_equal(age_of("1890", "2021", &y), MMDX_AGE_TOO_OLD);
    assert_true(y > 130);
    assert_int_equal(age_of("1925", "9999-12-31", &y), MMDX_AGE_TOO_OLD);
    assert_true(y > 8000);
    assert_int_equal(age_of("1892", "2021", &y), MMDX_AGE_90_PLUS);
    /* unknown */
    memset(&none, 0, sizeof(none));
    assert_true(mmdx__date_parse_fhir("2021", &d));
    assert_int_equal(mmdx__record_age(&none, &d, &y), MMDX_AGE_UNKNOWN);
    assert_true(isnan(y));
    assert_int_equal(mmdx__record_age(&d, &none, &y), MMDX_AGE_UNKNOWN);
    /* today is a day of this century */
    mmdx__date_today(&d);
    assert_int_equal(d.prec, MMDX_DATE_DAY);
    assert_true(d.year >= 2024 && d.year < 2200);
}

/* ---- FHIR ----------------------------------------------------------------- */

/* Ensure that the IPS bundle yields the patient, coded observations,
 * conditions with status and medications resolved by urn:uuid. */
static void fhir__ips_bundle__values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = read_shared(ctx, "records/fhir-r4/IPS-bundle-01.xml",
                                        MMDX_RECORD_IDFIELDS);
    const struct mmdx_obs *o;
    const struct mmdx_condition *c;

    (void)state;
    assert_int_equal(r->source, MMDX_RECORD_SRC_FHIR);
    assert_int_equal(r->sex, MMDX_SEX_FEMALE);
    assert_date(&r->birth, 1972, 5, 1, MMDX_DATE_DAY);
    assert_int_equal(r->counts.resources, 20);
    /* 6 observations with a value; the "Blood typing" panel has none */
    assert_int_equal(r->nobs, 6);
    o = find_obs(r, "17856-6", 0);
    assert_non_null(o);
    assert_int_equal(o->code.sys, MMDX_CS_LOINC);
    assert_true(o->value == 7.5);
    assert_string_equal(o->unit, "%");
    assert_date(&o->date, 2017, 11, 10, MMDX_DATE_TIME);
    o = find_obs(r, "882-1", 0);
    assert_non_null(o);
    assert_true(isnan(o->value));
    assert_string_equal(o->value_code.code, "278149003");
    assert_int_equal(o->value_code.sys, MMDX_CS_SNOMED);

    assert_int_equal(r->nconds, 2);
    c = find_cond(r, "198436008");
    assert_non_null(c);
    assert_int_equal(c->ncodes, 2);
    assert_int_equal(c->codes[1].sys, MMDX_CS_ICD10);
    assert_string_equal(c->codes[1].code, "N95.1");
    assert_int_equal(c->status, MMDX_COND_ACTIVE);
    assert_date(&c->onset, 2015, 0, 0, MMDX_DATE_YEAR);
    c = find_cond(r, "254837009");
    assert_non_null(c);
    assert_int_equal(c->status, MMDX_COND_RESOLVED); /* "remission" */
    assert_date(&c->onset, 2015, 1, 0, MMDX_DATE_MONTH);
    assert_date(&c->abatement, 2015, 3, 0, MMDX_DATE_MONTH);
    assert_true(r->has_problem_list);

    assert_int_equal(r->nmeds, 2);
    assert_int_equal(r->meds[0].ncodes, 4);
    assert_int_equal(r->meds[0].codes[0].sys, MMDX_CS_SNOMED);
    assert_string_equal(r->meds[0].codes[0].code, "108774000");
    assert_int_equal(r->meds[0].codes[1].sys, MMDX_CS_ATC);
    assert_string_equal(r->meds[0].codes[1].code, "L02BG03");
    assert_int_equal(r->meds[0].status, MMDX_MED_ACTIVE);
    assert_date(&r->meds[0].start, 2015, 3, 0, MMDX_DATE_MONTH);
    assert_string_equal(r->meds[1].codes[1].code, "G02CX04");

    /* identifying fields: reported, values kept for the gate */
    assert_int_equal(count_idf(r, "Patient.name"), 1);
    assert_string_equal(idf_value(r, "Patient.birthDate"), "1972-05-01");
    assert_int_equal(count_idf(r, "Patient.telecom"), 1);
    assert_int_equal(count_idf(r, "Patient.address"), 1);
    assert_int_equal(count_idf(r, "Patient.identifier"), 1);
    assert_int_equal(count_idf(r, "Patient.contact"), 1);
    assert_true(count_idf(r, "Resource.text.div") >= 1);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that single FHIR resources read: creatinine with its UCUM unit,
 * a condition, an unresolvable medication reference. */
static void fhir__single_resources__values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r;
    const struct mmdx_obs *o;

    (void)state;
    r = read_shared(ctx, "records/fhir-r4/observation-serum-creatinine-adult.xml",
                    0);
    assert_int_equal(r->nobs, 1);
    o = &r->obs[0];
    assert_string_equal(o->code.code, "2160-0");
    assert_true(o->value == 2.46);
    assert_string_equal(o->unit, "mg/dL");
    assert_date(&o->date, 2018, 2, 16, MMDX_DATE_TIME);
    assert_int_equal(r->sex, MMDX_SEX_UNKNOWN);
    assert_int_equal(r->birth.prec, MMDX_DATE_NONE);
    assert_int_equal(r->nidf, 0); /* not asked */
    mmdx__record_free(r);

    r = read_shared(ctx, "records/fhir-r4/condition-39-07-1.xml",
                    MMDX_RECORD_IDFIELDS);
    assert_int_equal(r->nconds, 1);
    assert_string_equal(r->conds[0].codes[0].code, "54329005");
    assert_int_equal(r->conds[0].codes[0].sys, MMDX_CS_SNOMED);
    assert_int_equal(r->conds[0].status, MMDX_COND_ACTIVE);
    assert_date(&r->conds[0].onset, 2014, 0, 0, MMDX_DATE_YEAR);
    /* subject.display names the patient */
    assert_int_equal(count_idf(r, "Reference.display"), 1);
    mmdx__record_free(r);

    r = read_shared(ctx, "records/fhir-r4/medicationStatement-39-07-1.xml", 0);
    assert_int_equal(r->nmeds, 1);
    assert_int_equal(r->meds[0].ncodes, 0); /* Medication/... not present */
    assert_int_equal(r->meds[0].status, MMDX_MED_ACTIVE);
    assert_int_equal(r->counts.entries_skipped, 1);
    mmdx__record_free(r);

    r = read_shared(ctx, "records/fhir-r4/patient-example-female.xml",
                    MMDX_RECORD_IDFIELDS);
    assert_int_equal(r->sex, MMDX_SEX_FEMALE);
    assert_date(&r->birth, 1992, 5, 1, MMDX_DATE_DAY);
    assert_int_equal(r->nidf, 6);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that references resolve by Type/id and #contained, components
 * become observations, and elements outside the FHIR namespace are
 * ignored. */
static void fhir__references_components__resolved(void **state)
{
    static const char doc[] =
        "<Bundle xmlns='http://hl7.org/fhir'><type value='collection'/>"
        "<entry><fullUrl value='http://x.org/fhir/Medication/m1'/>"
        "<resource><Medication><id value='m1'/><code><coding>"
        "<system value='http://www.nlm.nih.gov/research/umls/rxnorm'/>"
        "<code value='855332'/></coding></code></Medication></resource>"
        "</entry>"
        "<entry><resource><MedicationRequest><status value='active'/>"
        "<medicationReference><reference value='Medication/m1'/>"
        "</medicationReference><authoredOn value='2020-01-02'/>"
        "</MedicationRequest></resource></entry>"
        "<entry><resource><MedicationStatement><contained><Medication>"
        "<id value='c'/><code><coding><system value='http://www.whocc.no/atc'/>"
        "<code value='C10AA05'/></coding></code></Medication></contained>"
        "<status value='completed'/><medicationReference>"
        "<reference value='#c'/></medicationReference>"
        "</MedicationStatement></resource></entry>"
        "<entry><resource><Observation><status value='final'/><code><coding>"
        "<system value='http://loinc.org'/><code value='85354-9'/></coding>"
        "</code><effectiveDateTime value='2021-06'/>"
        "<component><code><coding><system value='http://loinc.org'/>"
        "<code value='8480-6'/></coding></code><valueQuantity>"
        "<value value='141'/><system value='http://unitsofmeasure.org'/>"
        "<code value='mm[Hg]'/></valueQuantity></component>"
        "<component><code><coding><system value='http://loinc.org'/>"
        "<code value='8462-4'/></coding></code><valueQuantity>"
        "<value value='92'/><code value='mm[Hg]'/></valueQuantity>"
        "</component></Observation></resource></entry>"
        "<entry><resource><Observation xmlns='urn:other'><code><coding>"
        "<system value='http://loinc.org'/><code value='8867-4'/></coding>"
        "</code><valueQuantity><value value='70'/></valueQuantity>"
        "</Observation></resource></entry>"
        "<entry><resource><Condition><verificationStatus><coding>"
        "<code value='entered-in-error'/></coding></verificationStatus>"
        "<code><coding><system value='http://hl7.org/fhir/sid/icd-10-cm'/>"
        "<code value='I48.0'/></coding></code></Condition></resource></entry>"
        "</Bundle>";
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(read_text(ctx, doc, &r), MMDX_OK);
    assert_int_equal(r->nmeds, 2);
    assert_int_equal(r->meds[0].codes[0].sys, MMDX_CS_RXNORM);
    assert_string_equal(r->meds[0].codes[0].code, "855332");
    assert_int_equal(r->meds[0].status, MMDX_MED_ACTIVE);
    assert_date(&r->meds[0].start, 2020, 1, 2, MMDX_DATE_DAY);
    assert_string_equal(r->meds[1].codes[0].code, "C10AA05");
    assert_int_equal(r->meds[1].status, MMDX_MED_STOPPED);
    assert_int_equal(r->nobs, 2); /* the urn:other one is not FHIR */
    assert_string_equal(r->obs[0].code.code, "8480-6");
    assert_true(r->obs[0].value == 141);
    assert_string_equal(r->obs[0].unit, "mm[Hg]");
    assert_date(&r->obs[1].date, 2021, 6, 0, MMDX_DATE_MONTH);
    assert_int_equal(r->nconds, 0); /* entered-in-error */
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that a malformed date and a second Patient are refused, naming
 * the field and line, never the value. */
static void fhir__bad_input__named(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(read_text(ctx,
                               "<Patient xmlns='http://hl7.org/fhir'>\n"
                               "<birthDate value='1972-02-30'/></Patient>",
                               &r),
                     MMDX_E_FORMAT);
    assert_null(r);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "Patient.birthDate");
    assert_int_equal(mmdx_ctx_last_error(ctx)->line, 2);
    assert_error_has(ctx, "mem.xml:2: io.fhir: Patient.birthDate: not a FHIR "
                          "date or dateTime");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(
        read_text(ctx,
                  "<Bundle xmlns='http://hl7.org/fhir'>"
                  "<entry><resource><Patient/></resource></entry>"
                  "<entry><resource><Patient/></resource></entry></Bundle>",
                  &r),
        MMDX_E_FORMAT);
    assert_error_has(ctx, "more than one Patient resource");
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that a Bundle holding one Patient and clinical resources but no
 * Composition counts as the patient's export (lists present), while a
 * document Bundle follows its Composition sections. */
static void fhir__export_bundle__lists_present(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(
        read_text(ctx,
                  "<Bundle xmlns='http://hl7.org/fhir'><entry><resource>"
                  "<Patient><gender value='male'/></Patient></resource>"
                  "</entry><entry><resource><Observation><code><coding>"
                  "<system value='http://loinc.org'/><code value='8867-4'/>"
                  "</coding></code><valueInteger value='71'/></Observation>"
                  "</resource></entry></Bundle>",
                  &r),
        MMDX_OK);
    assert_true(r->has_problem_list);
    assert_true(r->has_med_list);
    assert_true(r->obs[0].value == 71);
    mmdx__record_free(r);
    assert_int_equal(
        read_text(ctx,
                  "<Bundle xmlns='http://hl7.org/fhir'><entry><resource>"
                  "<Composition><section><code><coding>"
                  "<system value='http://loinc.org'/><code value='10160-0'/>"
                  "</coding></code></section></Composition></resource></entry>"
                  "<entry><resource><Patient/></resource></entry>"
                  "<entry><resource><Observation><code><coding>"
                  "<system value='http://loinc.org'/><code value='8867-4'/>"
                  "</coding></code><valueInteger value='71'/></Observation>"
                  "</resource></entry></Bundle>",
                  &r),
        MMDX_OK);
    assert_false(r->has_problem_list);
    assert_true(r->has_med_list);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* ---- C-CDA ------------------------------------------------------------- */

/* Ensure that the CCD's vital signs are read from coded values. */
static void ccda__ccd_vitals__values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = read_shared(ctx, "records/ccda/CCD_2.xml",
                                        MMDX_RECORD_IDFIELDS);
    const struct mmdx_obs *o;

    (void)state;
    assert_int_equal(r->source, MMDX_RECORD_SRC_CDA);
    assert_int_equal(r->sex, MMDX_SEX_FEMALE);
    assert_date(&r->birth, 1950, 12, 19, MMDX_DATE_DAY);
    assert_int_equal(r->counts.sections, 7);
    assert_int_equal(r->nobs, 9);
    o = find_obs(r, "8480-6", 0);
    assert_true(o->value == 120);
    assert_string_equal(o->unit, "mm[Hg]");
    assert_date(&o->date, 2014, 10, 1, MMDX_DATE_TIME);
    assert_true(find_obs(r, "8462-4", 0)->value == 80);
    assert_true(find_obs(r, "8867-4", 0)->value == 80);
    assert_string_equal(find_obs(r, "8867-4", 0)->unit, "/min");
    assert_true(find_obs(r, "39156-5", 0)->value == 37.58);
    assert_string_equal(find_obs(r, "39156-5", 0)->unit, "kg/m2");
    assert_true(find_obs(r, "3141-9", 0)->value == 108.863);
    /* the problem and medication sections exist but are empty */
    assert_int_equal(r->nconds, 0);
    assert_int_equal(r->nmeds, 0);
    assert_true(r->has_problem_list);
    assert_true(r->has_med_list);
    assert_int_equal(count_idf(r, "patient.name"), 1);
    assert_int_equal(count_idf(r, "patientRole.addr"), 1);
    assert_int_equal(count_idf(r, "patientRole.telecom"), 2);
    assert_int_equal(count_idf(r, "patientRole.id"), 2);
    assert_string_equal(idf_value(r, "patient.birthTime"), "19501219");
    assert_int_equal(count_idf(r, "author.name"), 1);
    assert_int_equal(count_idf(r, "section.text"), 7);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that problem status comes from the status observation or the
 * concern act, and medications from manufacturedMaterial codes. */
static void ccda__progress_note__problems_meds(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = read_shared(ctx, "records/ccda/Progress_Note.xml",
                                        0);
    const struct mmdx_condition *c;

    (void)state;
    assert_int_equal(r->sex, MMDX_SEX_MALE);
    assert_date(&r->birth, 1954, 11, 25, MMDX_DATE_DAY);
    assert_int_equal(r->nconds, 3);
    c = find_cond(r, "190389009"); /* type II diabetes with ulcer */
    assert_non_null(c);
    assert_int_equal(c->codes[0].sys, MMDX_CS_SNOMED);
    assert_int_equal(c->status, MMDX_COND_ACTIVE);
    assert_date(&c->onset, 2000, 7, 3, MMDX_DATE_DAY);
    c = find_cond(r, "233604007"); /* pneumonia, resolved */
    assert_non_null(c);
    assert_int_equal(c->status, MMDX_COND_RESOLVED);
    assert_int_equal(r->nmeds, 2);
    assert_int_equal(r->meds[0].codes[0].sys, MMDX_CS_RXNORM);
    assert_string_equal(r->meds[0].codes[0].code, "573621");
    assert_int_equal(r->meds[0].status, MMDX_MED_ACTIVE);
    assert_date(&r->meds[0].start, 2013, 1, 3, MMDX_DATE_DAY);
    /* vitals on two dates and one CBC */
    assert_true(find_obs(r, "8480-6", 0)->value == 132);
    assert_date(&find_obs(r, "8480-6", 0)->date, 2012, 9, 10, MMDX_DATE_DAY);
    assert_true(find_obs(r, "8480-6", 1)->value == 128);
    assert_true(find_obs(r, "718-7", 0)->value == 13.2);
    assert_string_equal(find_obs(r, "718-7", 0)->unit, "g/dL");
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that the Synthea CCDs give hypertension, lisinopril, vitals and
 * lipids with their dates. */
static void ccda__synthea__values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = read_shared(ctx, KENDALL, 0);
    const struct mmdx_condition *c;
    size_t i, nlis = 0;

    (void)state;
    assert_int_equal(r->sex, MMDX_SEX_MALE);
    assert_date(&r->birth, 1976, 1, 18, MMDX_DATE_TIME);
    assert_int_equal(r->counts.sections, 11);
    assert_int_equal(r->counts.sections_used, 4);
    c = find_cond(r, "59621000"); /* essential hypertension */
    assert_non_null(c);
    assert_int_equal(c->status, MMDX_COND_ACTIVE);
    assert_date(&c->onset, 2024, 2, 11, MMDX_DATE_TIME);
    assert_int_equal(r->nconds, 25);
    assert_int_equal(r->nmeds, 5);
    for (i = 0; i < r->nmeds; i++)
        if (strcmp(r->meds[i].codes[0].code, "314076") == 0)
            nlis++;
    assert_int_equal(nlis, 2);
    assert_true(find_obs(r, "8867-4", 5)->value == 96);
    assert_date(&find_obs(r, "8867-4", 5)->date, 2024, 2, 11, MMDX_DATE_TIME);
    assert_true(find_obs(r, "18262-6", 0)->value == 92.23);
    assert_string_equal(find_obs(r, "18262-6", 0)->unit, "mg/dL");
    assert_true(find_obs(r, "2093-3", 1)->value == 177.05);
    mmdx__record_free(r);

    r = read_shared(ctx, LEMUEL, 0);
    assert_int_equal(r->nmeds, 0);
    assert_int_equal(r->nconds, 9);
    assert_date(&r->birth, 1990, 10, 17, MMDX_DATE_TIME);
    assert_true(find_obs(r, "39156-5", 2)->value == 28.49);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that a plain CDA R2 document (no C-CDA templates) is read by its
 * LOINC section codes. */
static void ccda__plain_cda__by_section_code(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = read_shared(ctx, "records/cda/SampleCDADocument.xml",
                                        0);

    (void)state;
    assert_int_equal(r->sex, MMDX_SEX_MALE);
    assert_date(&r->birth, 1932, 9, 24, MMDX_DATE_DAY);
    assert_int_equal(r->counts.sections, 15);
    assert_true(find_obs(r, "50373000", 0)->value == 1.77); /* SNOMED height */
    assert_string_equal(find_obs(r, "50373000", 0)->unit, "m");
    assert_int_equal(r->nmeds, 4);
    assert_string_equal(r->meds[0].codes[0].code, "66493003");
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that the imaging report and discharge summary read too. */
static void ccda__other_documents__read(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r;

    (void)state;
    r = read_shared(ctx, "records/ccda/Diagnostic_Imaging_Report.xml", 0);
    assert_int_equal(r->sex, MMDX_SEX_MALE);
    assert_int_equal(r->nobs + r->nconds + r->nmeds, 0);
    assert_int_equal(r->counts.sections, 5);
    mmdx__record_free(r);
    r = read_shared(ctx, "records/ccda/Discharge_Summary.xml", 0);
    assert_int_equal(r->sex, MMDX_SEX_FEMALE);
    assert_date(&r->birth, 2005, 5, 1, MMDX_DATE_DAY);
    assert_int_equal(r->nconds, 2);
    assert_true(find_obs(r, "8480-6", 0)->value == 80);
    assert_true(find_obs(r, "8462-4", 0)->value == 55);
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that the C-CDA fragments (unbound xsi: prefix) are refused as
 * not well-formed, with the libxml2 reason and line. */
static void ccda__fragments__not_well_formed(void **state)
{
    static const char *const frags[] = {
        "records/ccda/fragments/Heart_Rate_Rhythm_C-CDA2.1.xml",
        "records/ccda/fragments/Basic_Metabolic_Panel_with_Troponin_C-CDA2.1.xml",
    };
    struct mmdx_ctx *ctx = test_ctx();
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(frags); i++) {
        char *p = test_shared(frags[i]);
        struct mmdx_record *r = NULL;

        mmdx_ctx_clear_error(ctx);
        assert_int_equal(mmdx__record_read_file(ctx, p, 0, &r),
                         MMDX_E_FORMAT);
        assert_null(r);
        assert_error_has(ctx, "io.record: Namespace prefix xsi");
        assert_true(mmdx_ctx_last_error(ctx)->line > 0);
        mmdx__free(p);
    }
    mmdx_ctx_free(ctx);
}

/* ---- hostile XML ------------------------------------------------------- */

/* Ensure that XML bombs and external entities are refused before any
 * expansion, in every record format. */
static void record__bomb_xxe__refused(void **state)
{
    static const char *const docs[] = {
        "<?xml version='1.0'?><!DOCTYPE Patient [<!ENTITY a 'aaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;'>]>"
        "<Patient xmlns='http://hl7.org/fhir'><gender value='&c;'/></Patient>",
        "<?xml version='1.0'?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "
        "'file:///etc/passwd'>]><ClinicalDocument xmlns='urn:hl7-org:v3'>"
        "<title>&x;</title></ClinicalDocument>",
        "<?xml version='1.0'?><!DOCTYPE record [<!ENTITY % p SYSTEM "
        "'http://127.0.0.1:1/x.dtd'> %p;]><record xmlns='urn:mmdx:record:1'/>",
    };
    struct mmdx_ctx *ctx = test_ctx();
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(docs); i++) {
        struct mmdx_record *r = NULL;

        mmdx_ctx_clear_error(ctx);
        assert_int_equal(read_text(ctx, docs[i], &r), MMDX_E_FORMAT);
        assert_null(r);
        assert_error_has(ctx, "entity declarations are not allowed");
    }
    /* an external DTD is neither fetched nor needed: the document reads
     * (port 1 on loopback would refuse a connection anyway) */
    mmdx_ctx_clear_error(ctx);
    {
        struct mmdx_record *r = NULL;

        assert_int_equal(read_text(ctx,
                                   "<?xml version='1.0'?><!DOCTYPE Patient "
                                   "SYSTEM 'http://127.0.0.1:1/p.dtd'>"
                                   "<Patient xmlns='http://hl7.org/fhir'>"
                                   "<gender value='male'/></Patient>",
                                   &r),
                         MMDX_OK);
        assert_int_equal(r->sex, MMDX_SEX_MALE);
        mmdx__record_free(r);
    }
    mmdx_ctx_free(ctx);
}

/* Ensure that a well-formed document that is no record is refused by its
 * root namespace. */
static void record__not_a_record__refused(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(read_text(ctx, "<pipeline xmlns='urn:mmdx:pipeline:1'/>",
                               &r),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "mem.xml:1: io.record: pipeline: not a patient "
                          "record: root element in namespace "
                          "\"urn:mmdx:pipeline:1\"");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(read_text(ctx, "<ClinicalDocument xmlns='urn:hl7-org:v3'/>",
                               &r),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "io.ccda: recordTarget: missing");
    mmdx_ctx_free(ctx);
}

/* ---- mmdx record XML --------------------------------------------------- */

static const char mmdx_doc[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<record xmlns='urn:mmdx:record:1' format='1'>\n"
    "  <patient sex='female' birth='1948-03'/>\n"
    "  <observations>\n"
    "    <observation system='loinc' code='8480-6' value='150' "
    "unit='mm[Hg]' date='2023-05-02'/>\n"
    "    <observation system='loinc' code='4548-4' value='7.1' unit='%' "
    "date='2023-05-02T08:00:00Z'/>\n"
    "    <observation system='loinc' code='882-1' value-system='snomed' "
    "value-code='278149003'/>\n"
    "  </observations>\n"
    "  <conditions>\n"
    "    <condition status='active' onset='2010'>"
    "<code system='icd10cm' code='I48.91'/>"
    "<code system='snomed' code='49436004'/></condition>\n"
    "    <condition status='resolved' onset='2019-04-01' "
    "abatement='2019-06'><code system='icd10cm' code='I63.9'/></condition>\n"
    "  </conditions>\n"
    "  <medications>\n"
    "    <medication status='active' start='2020'>"
    "<code system='atc' code='B01AF02'/></medication>\n"
    "  </medications>\n"
    "</record>\n";

/* Ensure that mmdx record XML validates and reads. */
static void mmdx_record__valid__values(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(read_text(ctx, mmdx_doc, &r), MMDX_OK);
    assert_int_equal(r->source, MMDX_RECORD_SRC_MMDX);
    assert_int_equal(r->sex, MMDX_SEX_FEMALE);
    assert_date(&r->birth, 1948, 3, 0, MMDX_DATE_MONTH);
    assert_int_equal(r->nobs, 3);
    assert_true(r->obs[1].value == 7.1);
    assert_date(&r->obs[1].date, 2023, 5, 2, MMDX_DATE_TIME);
    assert_string_equal(r->obs[2].value_code.code, "278149003");
    assert_int_equal(r->nconds, 2);
    assert_int_equal(r->conds[0].ncodes, 2);
    assert_int_equal(r->conds[0].codes[0].sys, MMDX_CS_ICD10CM);
    assert_int_equal(r->conds[1].status, MMDX_COND_RESOLVED);
    assert_date(&r->conds[1].abatement, 2019, 6, 0, MMDX_DATE_MONTH);
    assert_int_equal(r->nmeds, 1);
    assert_int_equal(r->meds[0].codes[0].sys, MMDX_CS_ATC);
    assert_string_equal(idf_value(r, "patient@birth"), "1948-03");
    mmdx__record_free(r);
    mmdx_ctx_free(ctx);
}

/* Ensure that schema violations name the element and line, and a
 * calendar-invalid date the pattern allows is still refused. */
static void mmdx_record__invalid__element_line(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;

    (void)state;
    assert_int_equal(read_text(ctx,
                               "<record xmlns='urn:mmdx:record:1' format='1'>\n"
                               "<patient sex='F'/></record>",
                               &r),
                     MMDX_E_SCHEMA);
    assert_null(r);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "patient");
    assert_int_equal(mmdx_ctx_last_error(ctx)->line, 2);
    assert_error_has(ctx, "mem.xml:2: io.record: patient: Element "
                          "'{urn:mmdx:record:1}patient', attribute 'sex'");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(read_text(ctx,
                               "<record xmlns='urn:mmdx:record:1' format='1'>"
                               "<patient sex='male'/><observations>\n"
                               "<observation system='loinc' code='1-8' "
                               "date='2019-02-30'/></observations></record>",
                               &r),
                     MMDX_E_FORMAT);
    assert_error_has(ctx, "mem.xml:2: io.record: date: not a calendar date");
    mmdx_ctx_free(ctx);
}

/* Ensure that a schema error never echoes the offending value (it may be
 * a birth date) but keeps element, attribute and the allowed values. */
static void mmdx_record__schema_error__value_redacted(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_record *r = NULL;
    char buf[1024];

    (void)state;
    assert_int_equal(read_text(ctx,
                               "<record xmlns='urn:mmdx:record:1' format='1'>"
                               "<patient sex='female' birth='12/03/1948'/>"
                               "</record>",
                               &r),
                     MMDX_E_SCHEMA);
    mmdx_error_format(mmdx_ctx_last_error(ctx), buf, sizeof(buf));
    assert_null(strstr(buf, "1948"));
    assert_error_has(ctx, "Element '{urn:mmdx:record:1}patient', attribute "
                          "'birth': [facet 'pattern'] The value '...'");
    mmdx_ctx_clear_error(ctx);
    assert_int_equal(read_text(ctx,
                               "<record xmlns='urn:mmdx:record:1' format='1'>"
                               "<patient sex='Fem'/></record>",
                               &r),
                     MMDX_E_SCHEMA);
    assert_error_has(ctx, "The value '...' is not an element of the set "
                          "{'female', 'male', 'other', 'unknown'}");
    mmdx_ctx_free(ctx);
}

/* ---- OOM ------------------------------------------------------------------ */

static void oom_loop(const char *path, const char *text)
{
    struct mmdx_ctx *ctx = test_ctx();
    unsigned long n;

    for (n = 1; n < 100000; n++) {
        struct mmdx_record *r = NULL;
        enum mmdx_status st;

        mmdx_ctx_clear_error(ctx);
        mmdx__alloc_fail_at(n);
        st = path ? mmdx__record_read_file(ctx, path, MMDX_RECORD_IDFIELDS, &r)
                  : read_text(ctx, text, &r);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK) {
            mmdx__record_free(r);
            break;
        }
        assert_int_equal(st, MMDX_E_NOMEM);
        assert_null(r);
    }
    assert_true(n > 3 && n < 100000);
    mmdx_ctx_free(ctx);
}

/* Ensure that every allocation failure in each reader returns E_NOMEM
 * and leaks nothing (ASan checks the leaks). */
static void record__oom_loop__nomem(void **state)
{
    char *p;

    (void)state;
    p = test_shared("records/fhir-r4/IPS-bundle-01.xml");
    oom_loop(p, NULL);
    mmdx__free(p);
    p = test_shared("records/ccda/Progress_Note.xml");
    oom_loop(p, NULL);
    mmdx__free(p);
    oom_loop(NULL, mmdx_doc);
}

/* ---- stages ---------------------------------------------------------------- */

static const struct mmdx_class test_cls = { "test", NULL };

struct harness {
    struct mmdx_ctx *ctx;
    struct mmdx_stage load, feat;
    struct mmdx_patient p;
};

static enum mmdx_status stage_open(struct mmdx_ctx *ctx, struct mmdx_stage *s,
                                   const struct mmdx_stage_def *d)
{
    memset(s, 0, sizeof(*s));
    s->cls = &test_cls;
    s->def = d;
    s->ctx = ctx;
    if (d->priv_size) {
        s->priv = mmdx__calloc(1, d->priv_size);
        if (!s->priv)
            return MMDX_E_NOMEM;
    }
    return d->init ? d->init(s) : MMDX_OK;
}

static void stage_close(struct mmdx_stage *s)
{
    if (s->def && s->def->fini)
        s->def->fini(s);
    mmdx__freep(&s->priv);
}

/* Load path (a file) and run record.features; the features end in h->p. */
static void run_stages(struct harness *h, const char *path,
                       const char *study_date)
{
    memset(h, 0, sizeof(*h));
    h->ctx = test_ctx();
    assert_int_equal(stage_open(h->ctx, &h->load, &mmdx__stage_load_record),
                     MMDX_OK);
    assert_int_equal(stage_open(h->ctx, &h->feat,
                                &mmdx__stage_record_features),
                     MMDX_OK);
    h->p.ctx = h->ctx;
    h->p.path[MMDX_MOD_RECORD] = mmdx__strdup(path);
    h->p.study_date = study_date ? mmdx__strdup(study_date) : NULL;
    assert_int_equal(h->load.def->process(&h->load, &h->p), MMDX_OK);
    assert_non_null(h->p.slot[MMDX_SLOT_RECORD]);
    assert_int_equal(h->feat.def->process(&h->feat, &h->p), MMDX_OK);
}

static void harness_close(struct harness *h)
{
    mmdx__patient_fini(&h->p);
    stage_close(&h->load);
    stage_close(&h->feat);
    mmdx_ctx_free(h->ctx);
}

static double feat(const struct harness *h, const char *name)
{
    const struct mmdx_feature *f = mmdx__featset_get(&h->p.features, name);

    if (!f)
        fail_msg("feature %s missing", name);
    return f->value;
}

static const struct mmdx_flag *flag(const struct harness *h, const char *code)
{
    size_t i;

    for (i = 0; i < h->p.nflags; i++)
        if (strcmp(h->p.flags[i].code, code) == 0)
            return &h->p.flags[i];
    return NULL;
}

static char *write_tmp(char **dir, const char *text)
{
    *dir = test_tmpdir();
    test_write(*dir, "record.xml", text);
    return mmdx__path_join(*dir, "record.xml");
}

/* Ensure that the Synthea CCD gives age at the latest dated item, vitals,
 * lipids, hypertension, an antihypertensive and CHA2DS2-VASc 1. */
static void features__synthea__values(void **state)
{
    struct harness h;
    char *p = test_shared(KENDALL);

    (void)state;
    run_stages(&h, p, NULL);
    /* birth 1976-01-18T07:51:52, latest item 2024-02-11T09:55:02:
     * (17556 d + 7390 s) / 365.2425 (Python datetime difference) */
    assert_true(fabs(feat(&h, "record.demo.age_years") -
                     (17556 + 7390.0 / 86400) / 365.2425) < 1e-9);
    assert_true(feat(&h, "record.demo.sex_female") == 0);
    assert_true(feat(&h, "record.vital.hr_latest_bpm") == 96);
    /* mean of the six heart rates in the document */
    assert_true(fabs(feat(&h, "record.vital.hr_mean_bpm") -
                     (88 + 77 + 97 + 92.9603 + 81 + 96) / 6.0) < 1e-3);
    assert_true(feat(&h, "record.vital.bmi_latest_kg_m2") == 29.14);
    assert_true(isnan(feat(&h, "record.vital.sbp_latest_mmhg")));
    assert_true(feat(&h, "record.lab.ldl_latest_mg_dl") == 94.02);
    assert_true(feat(&h, "record.lab.chol_latest_mg_dl") == 177.05);
    assert_true(feat(&h, "record.comorb.hypertension") == 1);
    assert_true(feat(&h, "record.comorb.hypertension_active") == 1);
    assert_true(feat(&h, "record.comorb.diabetes") == 0);
    assert_true(feat(&h, "record.med.antihypertensive") == 1);
    assert_true(feat(&h, "record.med.statin") == 0);
    assert_true(feat(&h, "record.score.cha2ds2vasc") == 1);
    assert_true(feat(&h, "record.score.cha2ds2vasc_pts_htn") == 1);
    assert_true(feat(&h, "record.score.cha2ds2vasc_missing_n") == 0);
    assert_true(isnan(feat(&h, "record.lab.egfr_ckdepi2021_ml_min_1_73m2")));
    assert_non_null(flag(&h, "record.lab.egfr_no_creatinine"));
    /* identifying fields went to the patient for the gate */
    assert_true(h.p.nidfields >= 5);
    assert_int_equal(h.p.idfields[0].modality, MMDX_MOD_RECORD);
    assert_int_equal(h.p.idfields[0].kind, MMDX_ID_DATE);
    assert_string_equal(h.p.idfields[0].field, "patient.birthTime");
    harness_close(&h);
    mmdx__free(p);
}

/* Ensure that a study date bounds the data, a resolved stroke counts as
 * history, ATC prefixes classify, units convert and CHA2DS2-VASc adds up
 * (female 1 + age >= 75 2 + stroke 2 = 5). */
static void features__mmdx_record__score(void **state)
{
    static const char doc[] =
        "<record xmlns='urn:mmdx:record:1' format='1'>"
        "<patient sex='female' birth='1948-03'/><observations>"
        "<observation system='loinc' code='8480-6' value='150' "
        "unit='mm[Hg]' date='2023-05-02'/>"
        "<observation system='loinc' code='8480-6' value='130' "
        "unit='mm[Hg]' date='2022-05-02'/>"
        "<observation system='loinc' code='8480-6' value='190' "
        "unit='mm[Hg]' date='2023-07-01'/>"
        "<observation system='loinc' code='8480-6' value='-120' "
        "unit='mm[Hg]' date='2023-05-20'/>"
        "<observation system='loinc' code='2345-7' value='5.5' "
        "unit='mmol/L' date='2023-05-02'/>"
        "<observation system='loinc' code='59261-8' value='54' "
        "unit='mmol/mol' date='2023-05-02'/>"
        "<observation system='loinc' code='2160-0' value='88.42' "
        "unit='umol/L' date='2023-05-02'/>"
        "<observation system='loinc' code='8867-4' value='70' "
        "unit='{furlongs}' date='2023-05-02'/>"
        "</observations><conditions>"
        "<condition status='active'><code system='icd10cm' code='I48.91'/>"
        "</condition>"
        "<condition status='resolved' onset='2019-04-01'>"
        "<code system='snomed' code='230690007'/></condition>"
        "<condition status='active' onset='2024'>"
        "<code system='icd10' code='E11.9'/></condition>"
        "</conditions><medications>"
        "<medication status='active' start='2020'>"
        "<code system='atc' code='B01AF02'/></medication>"
        "<medication status='stopped'><code system='atc' code='C10AA05'/>"
        "</medication><medication/>"
        "</medications></record>";
    struct harness h;
    char *dir, *p = write_tmp(&dir, doc);
    double egfr_ref;

    (void)state;
    run_stages(&h, p, "2023-06-01");
    /* birth month midpoint 1948-03-16.5 to 2023-06-01.5 */
    assert_true(fabs(feat(&h, "record.demo.age_years") - 75.21) < 0.01);
    assert_non_null(flag(&h, "record.demo.age_imprecise"));
    assert_true(feat(&h, "record.vital.sbp_latest_mmhg") == 150);
    assert_true(feat(&h, "record.vital.sbp_mean_mmhg") == 140); /* 190 is later */
    /* -120 (the latest before the study date) left out, and said */
    assert_non_null(flag(&h, "record.value.implausible"));
    assert_string_equal(flag(&h, "record.value.implausible")->message,
                        "sbp: 1 value(s) of 0 or less left out");
    /* 5.5 mmol/L * 18.016 = 99.088 mg/dL */
    assert_true(fabs(feat(&h, "record.lab.glucose_latest_mg_dl") - 99.088) <
                1e-9);
    /* IFCC 54 mmol/mol -> NGSP 0.09148 * 54 + 2.152 = 7.09192 % */
    assert_true(fabs(feat(&h, "record.lab.hba1c_latest_pct") - 7.09192) <
                1e-9);
    assert_true(fabs(feat(&h, "record.lab.creatinine_latest_mg_dl") - 1.0) <
                1e-9);
    assert_true(isnan(feat(&h, "record.vital.hr_latest_bpm")));
    assert_non_null(flag(&h, "record.unit.unknown"));
    assert_string_equal(flag(&h, "record.unit.unknown")->message,
                        "hr: 1 value(s) in unit \"{furlongs}\" not in "
                        "units.tsv");
    /* creatinine 1.0 mg/dL, female, age at 2023-05-02 */
    egfr_ref = mmdx__egfr_ckdepi2021(1.0, 75.13, true);
    assert_true(fabs(feat(&h, "record.lab.egfr_ckdepi2021_ml_min_1_73m2") -
                     egfr_ref) < 0.01);
    assert_true(feat(&h, "record.comorb.af") == 1);
    assert_true(feat(&h, "record.comorb.stroke_tia") == 1);
    assert_true(feat(&h, "record.comorb.stroke_tia_active") == 0);
    assert_true(feat(&h, "record.comorb.diabetes") == 0); /* onset 2024 */
    assert_true(feat(&h, "record.med.anticoagulant") == 1);
    assert_true(feat(&h, "record.med.statin") == 0); /* stopped */
    assert_non_null(flag(&h, "record.med.uncoded"));
    assert_true(feat(&h, "record.score.cha2ds2vasc") == 5);
    assert_true(feat(&h, "record.score.cha2ds2vasc_max") == 5);
    assert_true(feat(&h, "record.score.cha2ds2vasc_pts_age") == 2);
    assert_true(feat(&h, "record.score.cha2ds2vasc_pts_stroke") == 2);
    assert_true(feat(&h, "record.score.cha2ds2vasc_pts_sex") == 1);
    assert_null(flag(&h, "record.score.cha2ds2vasc_missing"));
    harness_close(&h);
    mmdx__free(p);
    test_rmtree(dir);
}

/* Ensure that missing inputs are NaN with flags naming them, and the
 * score is a lower bound with its maximum and missing count. */
static void features__missing_inputs__flagged(void **state)
{
    struct harness h;
    char *p = test_shared("records/fhir-r4/observation-serum-creatinine-adult.xml");
    const struct mmdx_flag *f;

    (void)state;
    run_stages(&h, p, NULL);
    assert_true(isnan(feat(&h, "record.demo.age_years")));
    assert_true(isnan(feat(&h, "record.demo.sex_female")));
    assert_true(feat(&h, "record.lab.creatinine_latest_mg_dl") == 2.46);
    assert_true(isnan(feat(&h, "record.lab.egfr_ckdepi2021_ml_min_1_73m2")));
    assert_non_null(flag(&h, "record.lab.egfr_no_sex"));
    assert_true(isnan(feat(&h, "record.comorb.hypertension")));
    assert_non_null(flag(&h, "record.comorb.no_problem_list"));
    assert_true(isnan(feat(&h, "record.med.statin")));
    assert_true(feat(&h, "record.score.cha2ds2vasc") == 0);
    assert_true(feat(&h, "record.score.cha2ds2vasc_max") == 9);
    assert_true(feat(&h, "record.score.cha2ds2vasc_missing_n") == 7);
    assert_true(isnan(feat(&h, "record.score.cha2ds2vasc_pts_chf")));
    f = flag(&h, "record.score.cha2ds2vasc_missing");
    assert_non_null(f);
    assert_string_equal(f->message,
                        "CHA2DS2-VASc: 7 input(s) missing (heart failure, "
                        "hypertension, age, diabetes, "
                        "stroke/TIA/thromboembolism, vascular disease, "
                        "sex): score is a lower bound");
    harness_close(&h);
    mmdx__free(p);
}

/* Ensure that the feature names are the same for every record (the model
 * contract) and follow record.<family>.<name>_<unit>. */
static void features__names__stable(void **state)
{
    struct harness a, b;
    char *pa = test_shared("records/fhir-r4/IPS-bundle-01.xml");
    char *pb = test_shared("records/ccda/CCD_2.xml");
    size_t i;

    (void)state;
    run_stages(&a, pa, "2020");
    run_stages(&b, pb, NULL);
    assert_int_equal(a.p.features.n, b.p.features.n);
    assert_int_equal(a.p.features.n, 54);
    for (i = 0; i < a.p.features.n; i++) {
        assert_string_equal(a.p.features.v[i].name, b.p.features.v[i].name);
        assert_true(strncmp(a.p.features.v[i].name, "record.", 7) == 0);
    }
    /* CCD_2: BP 120/80, HR 80, BMI 37.58, female born 1950-12-19 */
    assert_true(feat(&b, "record.vital.sbp_latest_mmhg") == 120);
    assert_true(feat(&b, "record.vital.dbp_latest_mmhg") == 80);
    assert_true(feat(&b, "record.vital.bmi_latest_kg_m2") == 37.58);
    assert_true(feat(&b, "record.comorb.hypertension") == 0); /* empty list */
    /* IPS: HbA1c 7.5 % (2017-11-10), age at the middle of 2020 */
    assert_true(feat(&a, "record.lab.hba1c_latest_pct") == 7.5);
    assert_true(fabs(feat(&a, "record.demo.age_years") - 48.17) < 0.01);
    harness_close(&a);
    harness_close(&b);
    mmdx__free(pa);
    mmdx__free(pb);
}

/* Ensure that CKD-EPI 2021 matches reference values: male 60 y, Scr 1.0
 * mg/dL -> 86; female 50 y, Scr 0.8 -> 90 (mL/min/1.73 m2, as the NKF
 * eGFR calculator reports them, rounded to integers: tolerance 0.5). */
static void egfr__ckdepi2021__reference(void **state)
{
    (void)state;
    assert_true(fabs(mmdx__egfr_ckdepi2021(1.0, 60, false) - 86) < 0.5);
    assert_true(fabs(mmdx__egfr_ckdepi2021(0.8, 50, true) - 90) < 0.5);
    /* below kappa the alpha branch applies: female 40 y, Scr 0.5 */
    assert_true(fabs(mmdx__egfr_ckdepi2021(0.5, 40, true) -
                     142 * pow(0.5 / 0.7, -0.241) * pow(0.9938, 40) * 1.012) <
                1e-9);
    assert_true(isnan(mmdx__egfr_ckdepi2021(0, 40, true)));
}

/* Ensure that a code set of the wrong version or with a bad row stops
 * init with file, line and column. */
static void codes__bad_files__named(void **state)
{
    static const char *const files[] = { "measures", "observation-codes",
                                         "units", "conditions",
                                         "medications" };
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_stage s;
    char *dir = test_tmpdir(), *codes, *src, *text, *bad;
    size_t i, len;

    (void)state;
    codes = mmdx__path_join(dir, "schemas/codes");
    assert_int_equal(mmdx__mkdir_p(ctx, codes), MMDX_OK);
    for (i = 0; i < MMDX_ARRAY_SIZE(files); i++) {
        char rel[1024];

        snprintf(rel, sizeof(rel), "%s/schemas/codes/%s.tsv", MMDX_SRCDIR,
                 files[i]);
        assert_int_equal(mmdx__file_read(ctx, rel, 1 << 20, &text, &len),
                         MMDX_OK);
        snprintf(rel, sizeof(rel), "schemas/codes/%s.tsv", files[i]);
        test_write(dir, rel, text);
        mmdx__free(text);
    }
    assert_int_equal(mmdx_ctx_set_datadir(ctx, dir), MMDX_OK);
    test_write(dir, "schemas/codes/units.tsv",
               "#mmdx-codes\tunits\t1\nmeasure\tunit\tfactor\toffset\n"
               "sbp\tmm[Hg]\t1\t0\nhr\t/min\t-1\t0\n");
    assert_int_equal(stage_open(ctx, &s, &mmdx__stage_record_features),
                     MMDX_E_FORMAT);
    stage_close(&s);
    bad = mmdx__path_join(dir, "schemas/codes/units.tsv");
    src = mmdx__strdup(mmdx_ctx_last_error(ctx)->path);
    assert_string_equal(src, bad);
    assert_int_equal(mmdx_ctx_last_error(ctx)->line, 4);
    assert_string_equal(mmdx_ctx_last_error(ctx)->field, "factor");
    assert_error_has(ctx, "expected a number > 0");
    mmdx__free(src);
    mmdx__free(bad);
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "schemas/codes/units.tsv",
               "#mmdx-codes\tunits\t2\nmeasure\tunit\tfactor\toffset\n");
    assert_int_equal(stage_open(ctx, &s, &mmdx__stage_record_features),
                     MMDX_E_FORMAT);
    stage_close(&s);
    assert_error_has(ctx, "expected the first line \"#mmdx-codes<TAB>units"
                          "<TAB>1\"");
    mmdx__free(codes);
    test_rmtree(dir);
    mmdx_ctx_free(ctx);
}

static void log_capture(void *user, enum mmdx_log_level level,
                        const char *prefix, const char *msg)
{
    struct mmdx_dstr *d = user;

    (void)level;
    (void)prefix;
    mmdx__dstr_adds(d, msg);
    mmdx__dstr_adds(d, "\n");
}

/* Ensure that load.record logs no identifying value, even at debug level,
 * and its error for a hostile document names no value either. */
static void load__logs__no_values(void **state)
{
    struct harness h;
    struct mmdx_dstr log;
    char *p = test_shared("records/fhir-r4/IPS-bundle-01.xml");

    (void)state;
    memset(&h, 0, sizeof(h));
    h.ctx = test_ctx();
    mmdx__dstr_init(&log, 0);
    mmdx_ctx_set_log(h.ctx, log_capture, &log, MMDX_LOG_DEBUG);
    assert_int_equal(stage_open(h.ctx, &h.load, &mmdx__stage_load_record),
                     MMDX_OK);
    h.p.ctx = h.ctx;
    h.p.path[MMDX_MOD_RECORD] = mmdx__strdup(p);
    assert_int_equal(h.load.def->process(&h.load, &h.p), MMDX_OK);
    assert_non_null(strstr(log.s, "6 observations"));
    assert_null(strstr(log.s, "DeLarosa"));
    assert_null(strstr(log.s, "1972"));
    assert_int_equal(h.p.nidfields, 11);
    mmdx__dstr_fini(&log);
    mmdx__patient_fini(&h.p);
    stage_close(&h.load);
    mmdx_ctx_free(h.ctx);
    mmdx__free(p);
}

/* ---- ages of 90 or more, implausible birth dates ------------------------ */

static const char fhir_1925[] =
    "<Bundle xmlns='http://hl7.org/fhir'><type value='collection'/><entry>"
    "<fullUrl value='urn:uuid:p'/><resource><Patient><id value='p'/>"
    "<gender value='male'/><birthDate value='1925'/></Patient></resource>"
    "</entry></Bundle>\n";
static const char cda_1925_06[] =
    "<ClinicalDocument xmlns='urn:hl7-org:v3'><recordTarget><patientRole>"
    "<patient><administrativeGenderCode code='F'/>"
    "<birthTime value='192506'/></patient></patientRole></recordTarget>"
    "</ClinicalDocument>\n";
static const char mmdx_1925_03_04[] =
    "<record xmlns='urn:mmdx:record:1' format='1'>"
    "<patient sex='female' birth='1925-03-04'/><observations>"
    "<observation system='loinc' code='2160-0' value='1.0' unit='mg/dL' "
    "date='2021-01-10'/></observations></record>\n";

/* Run load.record alone on path; its status. */
static enum mmdx_status load_only(struct harness *h, const char *path,
                                  const char *study_date)
{
    memset(h, 0, sizeof(*h));
    h->ctx = test_ctx();
    assert_int_equal(stage_open(h->ctx, &h->load, &mmdx__stage_load_record),
                     MMDX_OK);
    h->p.ctx = h->ctx;
    h->p.path[MMDX_MOD_RECORD] = mmdx__strdup(path);
    h->p.study_date = study_date ? mmdx__strdup(study_date) : NULL;
    return h->load.def->process(&h->load, &h->p);
}

static const struct mmdx_idfield *idfield_named(const struct harness *h,
                                                const char *field)
{
    size_t i;

    for (i = 0; i < h->p.nidfields; i++)
        if (strcmp(h->p.idfields[i].field, field) == 0)
            return &h->p.idfields[i];
    return NULL;
}

/* Write text as dir/name and return its path. */
static char *write_named(const char *dir, const char *name, const char *text)
{
    test_write(dir, name, text);
    return mmdx__path_join(dir, name);
}

/* Ensure that each record format reports an age of 90 or more at the
 * study date to the gate - as a field named after the birth date, with
 * the Safe Harbor rule and a strip hook, whatever the birth date's
 * precision (year, year-month, full date) - and that record.features then
 * reports the age as 90 with a flag (eGFR computed with 90 too: the
 * CKD-EPI 2021 equation of this file, tolerance 1e-9). */
static void load__age_90_plus__reported_and_capped(void **state)
{
    static const struct {
        const char *name, *text, *study, *field;
    } cases[] = {
        { "f.xml", fhir_1925, "2021", "Patient.birthDate (age 90 or over)" },
        { "c.xml", cda_1925_06, "2021-06",
          "patient.birthTime (age 90 or over)" },
        { "m.xml", mmdx_1925_03_04, "2021-06-15",
          "patient@birth (age 90 or over)" },
    };
    char *dir = test_tmpdir();
    size_t k;

    (void)state;
    for (k = 0; k < MMDX_ARRAY_SIZE(cases); k++) {
        struct harness h;
        char *p = write_named(dir, cases[k].name, cases[k].text);
        const struct mmdx_idfield *f;
        struct mmdx_deid_rules rules = { false };
        const struct mmdx_flag *fl;

        run_stages(&h, p, cases[k].study);
        f = idfield_named(&h, cases[k].field);
        if (!f)
            fail_msg("%s: no field \"%s\"", cases[k].name, cases[k].field);
        assert_int_equal(f->kind, MMDX_ID_AGE);
        assert_int_equal(f->modality, MMDX_MOD_RECORD);
        assert_string_equal(f->file, p);
        assert_non_null(f->strip_fn);
        assert_string_equal(mmdx__deid_rule(f, "OLD1", &rules),
                            "safe-harbor:age-over-89");
        /* dates shifted or not, an age of 90 or more identifies */
        rules.dates_shifted = true;
        assert_string_equal(mmdx__deid_rule(f, "OLD1", &rules),
                            "safe-harbor:age-over-89");
        assert_true(feat(&h, "record.demo.age_years") == 90);
        assert_true(feat(&h, "record.score.cha2ds2vasc_pts_age") == 2);
        fl = flag(&h, "record.demo.age_90_or_over");
        assert_non_null(fl);
        assert_string_equal(fl->message,
                            "age 90 or over: reported as 90, the single "
                            "category \"90 or older\" of HIPAA Safe Harbor "
                            "(eGFR uses it too)");
        assert_null(flag(&h, "record.demo.age_imprecise"));
        if (k == 2)
            assert_true(fabs(feat(&h,
                                  "record.lab.egfr_ckdepi2021_ml_min_1_73m2") -
                             mmdx__egfr_ckdepi2021(1.0, 90, true)) < 1e-9);
        harness_close(&h);
        mmdx__free(p);
    }
    test_rmtree(dir);
}

/* Ensure that an age just under 90 (89.99 years) is neither reported nor
 * capped, and exactly 90 (the 90th birthday) is. */
static void load__age_89_99__not_identifying(void **state)
{
    char *dir = test_tmpdir();
    char *p = write_named(dir, "r.xml",
                          "<Patient xmlns='http://hl7.org/fhir'><gender "
                          "value='female'/><birthDate value='1931-06-20'/>"
                          "</Patient>\n");
    struct harness h;
    size_t i;

    (void)state;
    run_stages(&h, p, "2021-06-15");
    for (i = 0; i < h.p.nidfields; i++)
        assert_int_not_equal(h.p.idfields[i].kind, MMDX_ID_AGE);
    assert_non_null(idfield_named(&h, "Patient.birthDate"));
    /* 32868 days (Python datetime) / 365.2425 */
    assert_true(fabs(feat(&h, "record.demo.age_years") - 32868 / 365.2425) <
                1e-9);
    assert_null(flag(&h, "record.demo.age_90_or_over"));
    harness_close(&h);
    run_stages(&h, p, "2021-06-20");
    assert_non_null(idfield_named(&h, "Patient.birthDate (age 90 or over)"));
    assert_true(feat(&h, "record.demo.age_years") == 90);
    harness_close(&h);
    mmdx__free(p);
    test_rmtree(dir);
}

/* Ensure that a birth date after the study date (or, without one, after
 * the record's latest dated item) and an age over 130 years fail the
 * record with an error naming the file, line and birth date field but no
 * date or age; an age over 89 is still reported to the gate, without a
 * strip hook into the record that is not kept. */
static void load__implausible_birth__error_names_field(void **state)
{
    static const struct {
        const char *text, *study, *field, *msg;
        bool age_field;
    } cases[] = {
        { "<Patient xmlns='http://hl7.org/fhir'>\n<birthDate value='2030'/>"
          "</Patient>\n", "2021", "Patient.birthDate",
          "birth date after the study date", false },
        { "<Patient xmlns='http://hl7.org/fhir'>\n<birthDate value='1890'/>"
          "</Patient>\n", "2021", "Patient.birthDate",
          "age at the study date over 130 years", true },
        { "<Patient xmlns='http://hl7.org/fhir'>\n<birthDate value='1925'/>"
          "</Patient>\n", "9999-12-31", "Patient.birthDate",
          "age at the study date over 130 years", true },
        { "<ClinicalDocument xmlns='urn:hl7-org:v3'><recordTarget>"
          "<patientRole><patient>\n<birthTime value='20300101'/></patient>"
          "</patientRole></recordTarget></ClinicalDocument>\n",
          "2021-06-15", "patient.birthTime",
          "birth date after the study date", false },
        { "<record xmlns='urn:mmdx:record:1' format='1'>\n<patient "
          "sex='male' birth='2022-01'/><observations>"
          "<observation system='loinc' code='8480-6' value='150' "
          "unit='mm[Hg]' date='2021-12-31'/>"
          "</observations></record>\n", NULL, "patient@birth",
          "birth date after the latest dated item of the record", false },
    };
    char *dir = test_tmpdir();
    size_t k, i;

    (void)state;
    for (k = 0; k < MMDX_ARRAY_SIZE(cases); k++) {
        struct harness h;
        char *p = write_named(dir, "r.xml", cases[k].text);
        char want[1200], buf[2400];
        const char *rest;

        assert_int_equal(load_only(&h, p, cases[k].study), MMDX_E_FORMAT);
        snprintf(want, sizeof(want), "%s:2: load.record: %s: %s", p,
                 cases[k].field, cases[k].msg);
        assert_error_has(h.ctx, want);
        mmdx_error_format(mmdx_ctx_last_error(h.ctx), buf, sizeof(buf));
        rest = strstr(buf, p);
        assert_non_null(rest);
        rest += strlen(p); /* no date or age after the file name */
        assert_null(strstr(rest, "2030"));
        assert_null(strstr(rest, "1890"));
        assert_null(strstr(rest, "1925"));
        assert_null(strstr(rest, "131"));
        assert_null(strstr(rest, "8074"));
        assert_null(h.p.slot[MMDX_SLOT_RECORD]);
        for (i = 0; i < h.p.nidfields; i++)
            assert_null(h.p.idfields[i].strip_fn);
        if (cases[k].age_field) {
            char name[96];

            snprintf(name, sizeof(name), "%s (age 90 or over)",
                     cases[k].field);
            assert_non_null(idfield_named(&h, name));
        }
        harness_close(&h);
        mmdx__free(p);
    }
    /* a malformed study date is the record's error too */
    {
        struct harness h;
        char *p = write_named(dir, "r.xml", fhir_1925);

        assert_int_equal(load_only(&h, p, "2021-13"), MMDX_E_FORMAT);
        assert_error_has(h.ctx, "study_date: expected YYYY, YYYY-MM or "
                                "YYYY-MM-DD");
        harness_close(&h);
        mmdx__free(p);
    }
    test_rmtree(dir);
}

/* Ensure that without a study date or any dated item the gate is told of
 * a birth date that makes the patient 90 or more today, while the age
 * feature stays unknown; a recent birth date is not reported. */
static void load__no_reference_date__age_today(void **state)
{
    char *dir = test_tmpdir();
    char *p = write_named(dir, "r.xml",
                          "<Patient xmlns='http://hl7.org/fhir'><birthDate "
                          "value='1900'/></Patient>\n");
    struct harness h;

    (void)state;
    run_stages(&h, p, NULL);
    assert_non_null(idfield_named(&h, "Patient.birthDate (age 90 or over)"));
    assert_true(isnan(feat(&h, "record.demo.age_years")));
    assert_non_null(flag(&h, "record.demo.no_reference_date"));
    harness_close(&h);
    mmdx__free(p);
    p = write_named(dir, "r.xml",
                    "<Patient xmlns='http://hl7.org/fhir'><birthDate "
                    "value='2020'/></Patient>\n");
    run_stages(&h, p, NULL);
    assert_null(idfield_named(&h, "Patient.birthDate (age 90 or over)"));
    harness_close(&h);
    mmdx__free(p);
    test_rmtree(dir);
}

/* Ensure that every allocation failure while loading a record of a
 * patient aged 90 or more (and computing its features) returns E_NOMEM
 * and leaks nothing. */
static void load__oom_loop_age_90__nomem(void **state)
{
    char *dir = test_tmpdir();
    char *p = write_named(dir, "m.xml", mmdx_1925_03_04);
    unsigned long n;

    (void)state;
    for (n = 1; n < 100000; n++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_stage l, f;
        struct mmdx_patient pt;
        enum mmdx_status st;

        memset(&pt, 0, sizeof(pt));
        memset(&l, 0, sizeof(l));
        memset(&f, 0, sizeof(f));
        pt.ctx = ctx;
        pt.path[MMDX_MOD_RECORD] = mmdx__strdup(p);
        pt.study_date = mmdx__strdup("2021");
        mmdx__alloc_fail_at(n);
        st = stage_open(ctx, &l, &mmdx__stage_load_record);
        if (!st)
            st = stage_open(ctx, &f, &mmdx__stage_record_features);
        if (!st)
            st = l.def->process(&l, &pt);
        if (!st)
            st = f.def->process(&f, &pt);
        mmdx__alloc_fail_at(0);
        if (st == MMDX_OK)
            assert_int_equal(pt.nidfields, 2);
        stage_close(&l);
        stage_close(&f);
        mmdx__patient_fini(&pt);
        mmdx_ctx_free(ctx);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 10 && n < 100000);
    mmdx__free(p);
    test_rmtree(dir);
}

/* Ensure that every allocation failure in the features stage (init and
 * process) returns E_NOMEM and leaks nothing. */
static void features__oom_loop__nomem(void **state)
{
    char *p = test_shared("records/ccda/Progress_Note.xml");
    unsigned long n;

    (void)state;
    for (n = 1; n < 100000; n++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_stage l, f;
        struct mmdx_patient pt;
        enum mmdx_status st;

        memset(&pt, 0, sizeof(pt));
        memset(&l, 0, sizeof(l));
        memset(&f, 0, sizeof(f));
        pt.ctx = ctx;
        pt.path[MMDX_MOD_RECORD] = mmdx__strdup(p);
        mmdx__alloc_fail_at(n);
        st = stage_open(ctx, &l, &mmdx__stage_load_record);
        if (!st)
            st = stage_open(ctx, &f, &mmdx__stage_record_features);
        if (!st)
            st = l.def->process(&l, &pt);
        if (!st)
            st = f.def->process(&f, &pt);
        mmdx__alloc_fail_at(0);
        stage_close(&l);
        stage_close(&f);
        mmdx__patient_fini(&pt);
        mmdx_ctx_free(ctx);
        if (st == MMDX_OK)
            break;
        assert_int_equal(st, MMDX_E_NOMEM);
    }
    assert_true(n > 10 && n < 100000);
    mmdx__free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(date__forms__precision),
        cmocka_unit_test(date__compare_mid__ordered),
        cmocka_unit_test(age__birth_precisions__classified),
        cmocka_unit_test(fhir__ips_bundle__values),
        cmocka_unit_test(fhir__single_resources__values),
        cmocka_unit_test(fhir__references_components__resolved),
        cmocka_unit_test(fhir__bad_input__named),
        cmocka_unit_test(fhir__export_bundle__lists_present),
        cmocka_unit_test(ccda__ccd_vitals__values),
        cmocka_unit_test(ccda__progress_note__problems_meds),
        cmocka_unit_test(ccda__synthea__values),
        cmocka_unit_test(ccda__plain_cda__by_section_code),
        cmocka_unit_test(ccda__other_documents__read),
        cmocka_unit_test(ccda__fragments__not_well_formed),
        cmocka_unit_test(record__bomb_xxe__refused),
        cmocka_unit_test(record__not_a_record__refused),
        cmocka_unit_test(mmdx_record__valid__values),
        cmocka_unit_test(mmdx_record__invalid__element_line),
        cmocka_unit_test(mmdx_record__schema_error__value_redacted),
        cmocka_unit_test(record__oom_loop__nomem),
        cmocka_unit_test(features__synthea__values),
        cmocka_unit_test(features__mmdx_record__score),
        cmocka_unit_test(features__missing_inputs__flagged),
        cmocka_unit_test(features__names__stable),
        cmocka_unit_test(egfr__ckdepi2021__reference),
        cmocka_unit_test(codes__bad_files__named),
        cmocka_unit_test(load__logs__no_values),
        cmocka_unit_test(features__oom_loop__nomem),
        cmocka_unit_test(load__age_90_plus__reported_and_capped),
        cmocka_unit_test(load__age_89_99__not_identifying),
        cmocka_unit_test(load__implausible_birth__error_names_field),
        cmocka_unit_test(load__no_reference_date__age_today),
        cmocka_unit_test(load__oom_loop_age_90__nomem),
    };

    return cmocka_run_group_tests_name("record_testdriver", tests, NULL, NULL);
}
