/*
 * record.h - a patient record read from HL7 FHIR R4 XML, HL7 C-CDA R2.1
 * (and older CDA R2) or mmdx's own record XML (schemas/record.xsd).
 *
 * The record keeps only coded, structured facts: sex, birth date with its
 * precision, observations (LOINC code, numeric value + UCUM unit or a coded
 * value, effective date), conditions (codes, clinical status, onset) and
 * medications (codes, status). Narrative text is never read for values.
 *
 * It is the object in MMDX_SLOT_RECORD; record.features reads it. Fields
 * that may identify the patient (names, addresses, ids, birth date,
 * narrative) are collected separately when asked (MMDX_RECORD_IDFIELDS),
 * for the de-identification gate; they are never logged.
 */
#ifndef MMDX_RECORD_H
#define MMDX_RECORD_H

#include "core/common.h"

/* Limits (documented in docs/record-format.md). */
#define MMDX_RECORD_CODE_MAX 40     /* bytes of a code incl. NUL */
#define MMDX_RECORD_UNIT_MAX 32     /* bytes of a UCUM unit incl. NUL */
#define MMDX_RECORD_NCODES 4        /* codings kept per condition/medication */
#define MMDX_RECORD_MAX_ITEMS 200000 /* observations (or conditions, ...) */
#define MMDX_RECORD_TEXT_MAX 256    /* bytes of narrative kept for the gate */

/* Precision of a date, coarsest first. */
enum mmdx_date_prec {
    MMDX_DATE_NONE = 0,   /* absent or unreadable */
    MMDX_DATE_YEAR,
    MMDX_DATE_MONTH,
    MMDX_DATE_DAY,
    MMDX_DATE_TIME        /* day plus time of day */
};

/* A calendar date as written (no time-zone shift applied). */
struct mmdx_date {
    int year;             /* 1..9999 */
    int month;            /* 1..12, 0 when precision < MONTH */
    int day;              /* 1..31, 0 when precision < DAY */
    int sec;              /* seconds into the day, 0 when precision < TIME */
    enum mmdx_date_prec prec;
};

enum mmdx_sex {
    MMDX_SEX_UNKNOWN = 0,
    MMDX_SEX_FEMALE,
    MMDX_SEX_MALE,
    MMDX_SEX_OTHER
};

/* Code systems we recognise (by FHIR URI or HL7 OID). */
enum mmdx_codesys {
    MMDX_CS_OTHER = 0,
    MMDX_CS_LOINC,
    MMDX_CS_SNOMED,
    MMDX_CS_ICD10CM,
    MMDX_CS_ICD10,
    MMDX_CS_ICD9CM,
    MMDX_CS_RXNORM,
    MMDX_CS_ATC,
    MMDX_CS_COUNT
};

struct mmdx_code {
    enum mmdx_codesys sys;
    char code[MMDX_RECORD_CODE_MAX];  /* "" = none */
};

/* An observation: a vital sign or a result. */
struct mmdx_obs {
    struct mmdx_code code;            /* LOINC when the source has one */
    double value;                     /* NaN when not a quantity */
    char unit[MMDX_RECORD_UNIT_MAX];  /* UCUM as written, "" = none */
    struct mmdx_code value_code;      /* coded value (sys OTHER, "" = none) */
    struct mmdx_date date;            /* effective date */
};

enum mmdx_cond_status {
    MMDX_COND_UNKNOWN = 0,
    MMDX_COND_ACTIVE,     /* active, recurrence, relapse */
    MMDX_COND_RESOLVED    /* inactive, remission, resolved: still history */
};

struct mmdx_condition {
    struct mmdx_code codes[MMDX_RECORD_NCODES];
    size_t ncodes;
    enum mmdx_cond_status status;
    struct mmdx_date onset;
    struct mmdx_date abatement;
};

enum mmdx_med_status {
    MMDX_MED_UNKNOWN = 0,
    MMDX_MED_ACTIVE,      /* active, on-hold, intended */
    MMDX_MED_STOPPED      /* completed, stopped, cancelled, not-taken, ... */
};

struct mmdx_medication {
    struct mmdx_code codes[MMDX_RECORD_NCODES]; /* ncodes may be 0 when
                                                   the product is uncoded */
    size_t ncodes;
    enum mmdx_med_status status;
    struct mmdx_date start, end;
};

enum mmdx_record_source {
    MMDX_RECORD_SRC_FHIR = 1,
    MMDX_RECORD_SRC_CDA,      /* C-CDA R2.1 or plain CDA R2 */
    MMDX_RECORD_SRC_MMDX
};

/* A possibly identifying field met while reading (value in memory only). */
struct mmdx_record_idfield {
    const char *field;        /* static: "Patient.name" */
    int kind;                 /* enum mmdx_id_kind (pipeline/stage.h) */
    char *value;              /* owned; may be "" */
};

/* Counts for inspection: never values. */
struct mmdx_record_counts {
    size_t resources;         /* FHIR resources (Bundle entries) */
    size_t sections;          /* C-CDA sections */
    size_t sections_used;     /* of which read (vitals, results, ...) */
    size_t entries_skipped;   /* entries without a usable coded value */
};

struct mmdx_record {
    enum mmdx_record_source source;
    enum mmdx_sex sex;
    struct mmdx_date birth;
    struct mmdx_obs *obs;
    size_t nobs, cap_obs;
    struct mmdx_condition *conds;
    size_t nconds, cap_conds;
    struct mmdx_medication *meds;
    size_t nmeds, cap_meds;
    bool has_problem_list;    /* the source had a problem list/conditions */
    bool has_med_list;        /* ... a medication list */
    struct mmdx_record_idfield *idf;
    size_t nidf, cap_idf;
    struct mmdx_record_counts counts;
    /* Where the birth date came from, for errors: the source's name of the
     * field (static: "Patient.birthDate", "patient.birthTime",
     * "patient@birth"; NULL without a birth date) and its line (0 when
     * unknown). */
    const char *birth_field;
    long birth_line;
    /* Set by check.deid under the strip policy when it removed a birth
     * date that put the age at 90 or more: birth is then NONE and the
     * age is Safe Harbor's single category "90 or older". */
    bool age_90_stripped;
};

/* Reader options. */
#define MMDX_RECORD_IDFIELDS 1u  /* collect identifying fields */
#define MMDX_RECORD_NOVALIDATE 2u /* skip the XSD check of mmdx record XML */

/*
 * Read a record file (FHIR, C-CDA/CDA or mmdx record XML, told apart by the
 * root element and namespace). mmdx record XML is validated against
 * schemas/record.xsd unless MMDX_RECORD_NOVALIDATE.
 * @return MMDX_OK; E_FORMAT (not well formed, not a record, bad value:
 * the error names file, line and field), E_SCHEMA, E_LIMIT, E_IO, E_NOMEM.
 * *out is NULL on failure; free it with mmdx__record_free().
 */
enum mmdx_status mmdx__record_read_file(struct mmdx_ctx *ctx,
                                        const char *path, unsigned flags,
                                        struct mmdx_record **out);
/* The same from memory; path names the document in errors. */
enum mmdx_status mmdx__record_read_mem(struct mmdx_ctx *ctx, const char *path,
                                       const char *data, size_t len,
                                       unsigned flags,
                                       struct mmdx_record **out);
void mmdx__record_free(struct mmdx_record *r);
/* For mmdx__patient_set_slot. */
void mmdx__record_free_v(void *r);

/* Parse an FHIR date/dateTime ("2015", "2015-03", "2015-03-01T10:00:00Z")
 * or an HL7 TS ("20150301101500-0800"). false when malformed. */
bool mmdx__date_parse_fhir(const char *s, struct mmdx_date *d);
bool mmdx__date_parse_hl7(const char *s, struct mmdx_date *d);
/* Manifest-style "YYYY[-MM[-DD]]" (also accepts the FHIR forms). */
bool mmdx__date_parse(const char *s, struct mmdx_date *d);
/* Compare two dates (NONE sorts first; coarser dates compare at their
 * start). <0, 0, >0. */
int mmdx__date_cmp(const struct mmdx_date *a, const struct mmdx_date *b);
/* Days since 0000-03-01 of the date's midpoint at its precision (a year
 * -> 1 July, a month -> its 15th): used for ages. NaN for NONE. */
double mmdx__date_mid_days(const struct mmdx_date *d);

/* ---- ages ----------------------------------------------------------------
 * HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)) counts ages over 89, and
 * every date element (the year too) indicative of such an age, as
 * identifying; such ages may be aggregated into one category "90 or
 * older". mmdx reports ages of 90 or more as MMDX_RECORD_AGE_TOP and holds
 * an age over MMDX_RECORD_AGE_MAX for a wrong birth or study date. */
#define MMDX_RECORD_AGE_TOP 90.0
#define MMDX_RECORD_AGE_MAX 130.0

enum mmdx_age_class {
    MMDX_AGE_UNKNOWN = 0,   /* no birth date or no reference date */
    MMDX_AGE_OK,            /* under 90 */
    MMDX_AGE_90_PLUS,       /* 90 to 130 years: identifying */
    MMDX_AGE_BIRTH_AFTER,   /* born after the reference date */
    MMDX_AGE_TOO_OLD        /* over 130 years: implausible */
};

/*
 * Age at ref of someone born on birth. *years gets the difference of the
 * two dates' midpoints at their precision (mmdx__date_mid_days) in years
 * of 365.2425 days; 0 when the midpoints are reversed but the dates agree
 * at their common precision (born in the study year); NaN for UNKNOWN.
 * The class is 90_PLUS when the age is 90 or more either way it can be
 * counted: calendar years (the 90th birthday at the birth date's
 * precision - 28 February for one born on 29 February - is not after ref,
 * each date taken at its midpoint) or *years >= 90. BIRTH_AFTER when birth is after ref at their common
 * precision; TOO_OLD when *years > MMDX_RECORD_AGE_MAX.
 */
enum mmdx_age_class mmdx__record_age(const struct mmdx_date *birth,
                                     const struct mmdx_date *ref,
                                     double *years);

/* The reference date for ages and "latest" values: the study date when
 * one is given (study_date non-NULL and not empty), else the latest dated
 * item of the record (observation, condition onset/abatement, medication
 * start/end), else NONE. false (ref NONE) when study_date is malformed. */
bool mmdx__record_ref_date(const struct mmdx_record *r,
                           const char *study_date, struct mmdx_date *ref);

/* Today's date (UTC), day precision. */
void mmdx__date_today(struct mmdx_date *d);

/* Code system from a FHIR system URI or an HL7 OID (OTHER if unknown). */
enum mmdx_codesys mmdx__codesys_from_uri(const char *uri);
enum mmdx_codesys mmdx__codesys_from_oid(const char *oid);
/* "loinc", "snomed", "icd10cm", ... (the names used by data files). */
const char *mmdx__codesys_name(enum mmdx_codesys cs);
enum mmdx_codesys mmdx__codesys_from_name(const char *name);

/* `mmdx inspect` hook (io/inspect.h): counts and precisions, never a
 * value that could identify the patient. */
#include "mmdx/format.h"
enum mmdx_status mmdx__record_inspect(struct mmdx_ctx *ctx, const char *path,
                                      enum mmdx_format fmt, mmdx_kv_fn fn,
                                      void *user);

#endif
