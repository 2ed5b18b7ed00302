/*
 * deid.c - the de-identification gate: rules and the check.deid stage.
 *
 * Loaders report every field that may identify the patient (stage.h,
 * struct mmdx_idfield) with a kind; the rules here decide which of them do
 * identify, and the stage applies the pipeline's policy:
 *   refuse  the patient fails; one errors.tsv row per field, naming the
 *           file and the field, never the value (the default);
 *   warn    a flag and a warning per field, the patient goes on;
 *   strip   identifying values are wiped - our copy and, where the loader
 *           said where it keeps one, the loader's - and the patient goes
 *           on with a flag per field.
 * Whatever the policy, the gate then forgets every reported value: later
 * stages have no use for them, so they do not stay in memory.
 *
 * Standards: DICOM attributes follow PS3.15 Annex E (Basic Application
 * Level Confidentiality Profile, Table E.1-1), with the Retain Patient
 * Characteristics option for sex, size and weight; everything else follows
 * HIPAA Safe Harbor, 45 CFR 164.514(b)(2): names, geographic units below a
 * state, dates finer than a year (and ages over 89), telephone/fax/e-mail/
 * URL, and record, account, device and other identifying numbers.
 */
#include "core/common.h"
#include "pipeline/deid.h"
#include "pipeline/stage.h"

/* ---- rule names ----------------------------------------------------------- */

enum cat {
    CAT_NONE = 0,      /* not identifying */
    CAT_NAME,
    CAT_NUMBER,
    CAT_DATE,
    CAT_ADDRESS,
    CAT_TELECOM,
    CAT_INSTITUTION,
    CAT_FREE_TEXT,
    CAT_PRIVATE,
    CAT_BURNED_IN,
    CAT_AGE,
    CAT_OTHER,
    CAT_DECLARATION,   /* PatientIdentityRemoved & co: information only */
    CAT_COUNT
};

/* [0] DICOM attributes (PS3.15 Annex E), [1] everything else (Safe
 * Harbor). */
static const char *const rule_names[2][CAT_COUNT] = {
    { NULL, "ps3.15:name", "ps3.15:number", "ps3.15:date", "ps3.15:address",
      "ps3.15:telecom", "ps3.15:institution", "ps3.15:free-text",
      "ps3.15:private-tag", "ps3.15:burned-in-annotation",
      "ps3.15:age-over-89", "ps3.15:other", NULL },
    { NULL, "safe-harbor:name", "safe-harbor:number", "safe-harbor:date",
      "safe-harbor:address", "safe-harbor:telecom",
      "safe-harbor:institution", "safe-harbor:free-text",
      "safe-harbor:private-tag", "safe-harbor:burned-in-annotation",
      "safe-harbor:age-over-89", "safe-harbor:other", NULL }
};

/*
 * DICOM attributes of PS3.15 Table E.1-1 that loaders may report with the
 * generic kind OTHER, and the few that are explicitly not identifying
 * here. Sorted by tag (binary search). A reported attribute not listed is
 * classified by the kind the loader gave it.
 */
#define TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))
static const struct {
    uint32_t tag;
    unsigned char cat;
} annex_e[] = {
    { TAG(0x0008, 0x0012), CAT_DATE },        /* InstanceCreationDate */
    { TAG(0x0008, 0x0013), CAT_DATE },        /* InstanceCreationTime */
    { TAG(0x0008, 0x0020), CAT_DATE },        /* StudyDate */
    { TAG(0x0008, 0x0021), CAT_DATE },        /* SeriesDate */
    { TAG(0x0008, 0x0022), CAT_DATE },        /* AcquisitionDate */
    { TAG(0x0008, 0x0023), CAT_DATE },        /* ContentDate */
    { TAG(0x0008, 0x0024), CAT_DATE },        /* OverlayDate */
    { TAG(0x0008, 0x0025), CAT_DATE },        /* CurveDate */
    { TAG(0x0008, 0x002A), CAT_DATE },        /* AcquisitionDateTime */
    { TAG(0x0008, 0x0030), CAT_DATE },        /* StudyTime */
    { TAG(0x0008, 0x0031), CAT_DATE },        /* SeriesTime */
    { TAG(0x0008, 0x0032), CAT_DATE },        /* AcquisitionTime */
    { TAG(0x0008, 0x0033), CAT_DATE },        /* ContentTime */
    { TAG(0x0008, 0x0050), CAT_NUMBER },      /* AccessionNumber */
    { TAG(0x0008, 0x0080), CAT_INSTITUTION }, /* InstitutionName */
    { TAG(0x0008, 0x0081), CAT_ADDRESS },     /* InstitutionAddress */
    { TAG(0x0008, 0x0082), CAT_INSTITUTION }, /* InstitutionCodeSequence */
    { TAG(0x0008, 0x0090), CAT_NAME },        /* ReferringPhysicianName */
    { TAG(0x0008, 0x0092), CAT_ADDRESS },     /* ReferringPhysicianAddress */
    { TAG(0x0008, 0x0094), CAT_TELECOM },     /* ReferringPhysicianTelephoneNumbers */
    { TAG(0x0008, 0x009C), CAT_NAME },        /* ConsultingPhysicianName */
    { TAG(0x0008, 0x1010), CAT_INSTITUTION }, /* StationName */
    { TAG(0x0008, 0x1040), CAT_INSTITUTION }, /* InstitutionalDepartmentName */
    { TAG(0x0008, 0x1048), CAT_NAME },        /* PhysiciansOfRecord */
    { TAG(0x0008, 0x1050), CAT_NAME },        /* PerformingPhysicianName */
    { TAG(0x0008, 0x1060), CAT_NAME },        /* NameOfPhysiciansReadingStudy */
    { TAG(0x0008, 0x1070), CAT_NAME },        /* OperatorsName */
    { TAG(0x0008, 0x4000), CAT_FREE_TEXT },   /* IdentifyingComments */
    { TAG(0x0010, 0x0010), CAT_NAME },        /* PatientName */
    { TAG(0x0010, 0x0020), CAT_NUMBER },      /* PatientID */
    { TAG(0x0010, 0x0021), CAT_NUMBER },      /* IssuerOfPatientID */
    { TAG(0x0010, 0x0030), CAT_DATE },        /* PatientBirthDate */
    { TAG(0x0010, 0x0032), CAT_DATE },        /* PatientBirthTime */
    { TAG(0x0010, 0x0040), CAT_NONE },        /* PatientSex */
    { TAG(0x0010, 0x0050), CAT_NUMBER },      /* PatientInsurancePlanCodeSequence */
    { TAG(0x0010, 0x1000), CAT_NUMBER },      /* OtherPatientIDs */
    { TAG(0x0010, 0x1001), CAT_NAME },        /* OtherPatientNames */
    { TAG(0x0010, 0x1002), CAT_NUMBER },      /* OtherPatientIDsSequence */
    { TAG(0x0010, 0x1005), CAT_NAME },        /* PatientBirthName */
    { TAG(0x0010, 0x1010), CAT_AGE },         /* PatientAge */
    { TAG(0x0010, 0x1020), CAT_NONE },        /* PatientSize */
    { TAG(0x0010, 0x1030), CAT_NONE },        /* PatientWeight */
    { TAG(0x0010, 0x1040), CAT_ADDRESS },     /* PatientAddress */
    { TAG(0x0010, 0x1060), CAT_NAME },        /* PatientMotherBirthName */
    { TAG(0x0010, 0x1090), CAT_NUMBER },      /* MedicalRecordLocator */
    { TAG(0x0010, 0x2154), CAT_TELECOM },     /* PatientTelephoneNumbers */
    { TAG(0x0010, 0x2180), CAT_FREE_TEXT },   /* Occupation */
    { TAG(0x0010, 0x21B0), CAT_FREE_TEXT },   /* AdditionalPatientHistory */
    { TAG(0x0010, 0x2297), CAT_NAME },        /* ResponsiblePerson */
    { TAG(0x0010, 0x4000), CAT_FREE_TEXT },   /* PatientComments */
    { TAG(0x0012, 0x0062), CAT_DECLARATION }, /* PatientIdentityRemoved */
    { TAG(0x0012, 0x0063), CAT_DECLARATION }, /* DeidentificationMethod */
    { TAG(0x0012, 0x0064), CAT_DECLARATION }, /* DeidentificationMethodCodeSequence */
    { TAG(0x0018, 0x1000), CAT_NUMBER },      /* DeviceSerialNumber */
    { TAG(0x0018, 0x1012), CAT_DATE },        /* DateOfSecondaryCapture */
    { TAG(0x0018, 0x1014), CAT_DATE },        /* TimeOfSecondaryCapture */
    { TAG(0x0018, 0x1200), CAT_DATE },        /* DateOfLastCalibration */
    { TAG(0x0018, 0x1201), CAT_DATE },        /* TimeOfLastCalibration */
    { TAG(0x0020, 0x0010), CAT_NUMBER },      /* StudyID */
    { TAG(0x0020, 0x4000), CAT_FREE_TEXT },   /* ImageComments */
    { TAG(0x0028, 0x0301), CAT_BURNED_IN },   /* BurnedInAnnotation */
    { TAG(0x0032, 0x1032), CAT_NAME },        /* RequestingPhysician */
    { TAG(0x0032, 0x4000), CAT_FREE_TEXT },   /* StudyComments */
    { TAG(0x0038, 0x0010), CAT_NUMBER },      /* AdmissionID */
    { TAG(0x0038, 0x0300), CAT_ADDRESS },     /* CurrentPatientLocation */
    { TAG(0x0040, 0x0006), CAT_NAME },        /* ScheduledPerformingPhysicianName */
    { TAG(0x0040, 0x0241), CAT_INSTITUTION }, /* PerformedStationAETitle */
    { TAG(0x0040, 0x0242), CAT_INSTITUTION }, /* PerformedStationName */
    { TAG(0x0040, 0x0243), CAT_INSTITUTION }, /* PerformedLocation */
    { TAG(0x0040, 0x0244), CAT_DATE },        /* PerformedProcedureStepStartDate */
    { TAG(0x0040, 0x0245), CAT_DATE },        /* PerformedProcedureStepStartTime */
    { TAG(0x0040, 0x0250), CAT_DATE },        /* PerformedProcedureStepEndDate */
    { TAG(0x0040, 0x0251), CAT_DATE },        /* PerformedProcedureStepEndTime */
    { TAG(0x0040, 0x0253), CAT_NUMBER },      /* PerformedProcedureStepID */
    { TAG(0x0040, 0x0280), CAT_FREE_TEXT },   /* CommentsOnThePerformedProcedureStep */
    { TAG(0x0040, 0x1001), CAT_NUMBER },      /* RequestedProcedureID */
    { TAG(0x0040, 0x2008), CAT_NAME },        /* OrderEnteredBy */
    { TAG(0x0040, 0x2016), CAT_NUMBER },      /* PlacerOrderNumberImagingServiceRequest */
    { TAG(0x0040, 0x2017), CAT_NUMBER },      /* FillerOrderNumberImagingServiceRequest */
    { TAG(0x0040, 0x2400), CAT_FREE_TEXT },   /* ImagingServiceRequestComments */
    { TAG(0x0040, 0xA123), CAT_NAME },        /* PersonName */
    { TAG(0x0070, 0x0084), CAT_NAME },        /* ContentCreatorName */
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower_ascii(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The DICOM tag in a field string ("PatientName (0010,0010)"): the last
 * "(gggg,eeee)" in it (a nested attribute names its own tag last). */
static bool field_tag(const char *field, uint32_t *tag)
{
    const char *p;
    bool found = false;

    for (p = field; (p = strchr(p, '(')) != NULL; p++) {
        uint32_t t = 0;
        int i, h;

        for (i = 1; i <= 9; i++) {
            if (i == 5) {
                if (p[i] != ',')
                    break;
                continue;
            }
            h = hexval((unsigned char)p[i]);
            if (h < 0)
                break;
            t = (t << 4) | (uint32_t)h;
        }
        if (i == 10 && p[10] == ')') {
            *tag = t;
            found = true;
        }
    }
    return found;
}

static int annex_e_cat(uint32_t tag)
{
    size_t lo = 0, hi = MMDX_ARRAY_SIZE(annex_e);

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (annex_e[mid].tag == tag)
            return annex_e[mid].cat;
        if (annex_e[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- values ---------------------------------------------------------------- */

/* Lower-case letters and digits of s, nothing else (at most size-1). */
static void alnum_lower(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; s && *s && n + 1 < size; s++)
        if (isalnum_ascii((unsigned char)*s))
            out[n++] = (char)tolower_ascii((unsigned char)*s);
    out[n] = '\0';
}

bool mmdx__deid_placeholder(const char *value)
{
    static const char *const words[] = {
        "anonymous", "anonymized", "anonymised", "anon", "unknown", "unk",
        "removed", "redacted", "deidentified", "none", "na", "null", "nil",
        "notknown", "notapplicable", "masked", "withheld", "empty"
    };
    char norm[64];
    size_t i, len;

    if (!value)
        return true;
    len = strlen(value);
    if (len >= sizeof(norm) - 1)
        return false; /* long text is never a placeholder */
    alnum_lower(value, norm, sizeof(norm));
    if (!norm[0])
        return true; /* blanks, "-", "^^", "..." */
    for (i = 0; norm[i] == 'x'; i++)
        ;
    if (!norm[i])
        return true; /* "X", "X X X X", "X,X", "XXXX" */
    for (i = 0; i < MMDX_ARRAY_SIZE(words); i++)
        if (strcmp(norm, words[i]) == 0)
            return true;
    /* "Anonymized^Patient", "ANONYMOUS-1": a stated removal */
    return strncmp(norm, "anonym", 6) == 0;
}

int mmdx__deid_date_precision(const char *value)
{
    const char *s = value, *e;
    size_t digits = 0;
    const char *c;

    if (!s)
        return 0;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
                     e[-1] == '\n'))
        e--;
    for (c = s; c < e; c++)
        if (*c >= '0' && *c <= '9')
            digits++;
    if (!digits)
        return 0;
    if (e - s == 4 && digits == 4)
        return 1; /* "1970": Safe Harbor keeps the year */
    return 2;
}

/* Age in years from "095Y", "89", "6 M", "93 years"; -1 when unreadable. */
static double age_years(const char *v)
{
    double n = 0;
    int digits = 0;

    while (*v == ' ')
        v++;
    for (; *v >= '0' && *v <= '9' && digits < 9; v++, digits++)
        n = n * 10 + (*v - '0');
    if (!digits)
        return -1;
    while (*v == ' ')
        v++;
    switch (toupper_ascii((unsigned char)*v)) {
    case 'D': return n / 365.25;
    case 'W': return n * 7.0 / 365.25;
    case 'M': return n / 12.0;
    default: return n; /* "Y", "years" or no unit */
    }
}

static bool same_trimmed(const char *a, const char *b)
{
    size_t la, lb;

    while (*a == ' ')
        a++;
    la = strlen(a);
    while (la && a[la - 1] == ' ')
        la--;
    lb = strlen(b);
    return la == lb && strncmp(a, b, la) == 0;
}

static bool is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

/* A word of the field name, case-insensitively, at word or camelCase
 * boundaries: "PatientAge" and "Patient.age" have "age", "page" has not. */
static bool field_has_word(const char *field, const char *word)
{
    size_t n = strlen(word);
    const char *p;

    for (p = field; *p; p++) {
        bool start, end;

        if (mmdx__strncasecmp(p, word, n) != 0)
            continue;
        start = p == field || !(is_lower(p[-1]) || is_upper(p[-1])) ||
                (is_upper(p[0]) && is_lower(p[-1]));
        end = !is_lower(p[n]);
        if (start && end)
            return true;
    }
    return false;
}

bool mmdx__deid_is_declaration(const struct mmdx_idfield *f)
{
    uint32_t tag;

    return field_tag(f->field, &tag) && annex_e_cat(tag) == CAT_DECLARATION;
}

static int kind_cat(enum mmdx_id_kind k)
{
    switch (k) {
    case MMDX_ID_NAME: return CAT_NAME;
    case MMDX_ID_NUMBER: return CAT_NUMBER;
    case MMDX_ID_DATE: return CAT_DATE;
    case MMDX_ID_ADDRESS: return CAT_ADDRESS;
    case MMDX_ID_TELECOM: return CAT_TELECOM;
    case MMDX_ID_INSTITUTION: return CAT_INSTITUTION;
    case MMDX_ID_FREE_TEXT: return CAT_FREE_TEXT;
    case MMDX_ID_PRIVATE: return CAT_PRIVATE;
    case MMDX_ID_OTHER: return CAT_OTHER;
    case MMDX_ID_AGE: return CAT_AGE;
    }
    return CAT_OTHER;
}

const char *mmdx__deid_rule(const struct mmdx_idfield *f,
                            const char *patient_id,
                            const struct mmdx_deid_rules *rules)
{
    const char *v = f->value ? f->value : "";
    uint32_t tag = 0;
    bool dicom = field_tag(f->field, &tag);
    int cat = kind_cat(f->kind);

    if (dicom) {
        int tcat = annex_e_cat(tag);

        if (tag >> 16 & 1)
            cat = CAT_PRIVATE; /* odd group: private, may carry anything */
        else if (tcat >= 0 && (f->kind == MMDX_ID_OTHER ||
                               tcat == CAT_NONE || tcat == CAT_AGE ||
                               tcat == CAT_BURNED_IN ||
                               tcat == CAT_DECLARATION))
            cat = tcat;
    } else if (f->kind == MMDX_ID_OTHER) {
        if (field_has_word(f->field, "sex") ||
            field_has_word(f->field, "gender"))
            cat = CAT_NONE;
        else if (field_has_word(f->field, "age"))
            cat = CAT_AGE;
    }

    switch (cat) {
    case CAT_NONE:
    case CAT_DECLARATION:
        return NULL;
    case CAT_BURNED_IN: {
        char norm[8];

        alnum_lower(v, norm, sizeof(norm));
        return strcmp(norm, "yes") == 0 ? rule_names[!dicom][cat] : NULL;
    }
    default:
        break;
    }
    if (mmdx__deid_placeholder(v))
        return NULL;
    switch (cat) {
    case CAT_NUMBER:
    case CAT_NAME:
        /* the manifest's pseudonym is what the cohort is keyed on; a name
         * or record number replaced by it identifies nobody */
        if (patient_id && patient_id[0] && same_trimmed(v, patient_id))
            return NULL;
        break;
    case CAT_DATE:
        /* EDF+ writes 01.01.85 when the start date is unknown (readers
         * may hand it on as 1985-01-01) */
        if (!dicom && field_has_word(f->field, "startdate") &&
            (same_trimmed(v, "01.01.85") || same_trimmed(v, "1985-01-01")))
            return NULL;
        if (rules && rules->dates_shifted)
            return NULL;
        if (mmdx__deid_date_precision(v) < 2)
            return NULL;
        break;
    case CAT_AGE: {
        double y = age_years(v);

        if (y >= 0 && y < 90)
            return NULL;
        break;
    }
    case CAT_ADDRESS:
        /* Safe Harbor keeps the state (and the country) */
        if (!dicom && (field_has_word(f->field, "state") ||
                       field_has_word(f->field, "country")))
            return NULL;
        break;
    default:
        break;
    }
    return rule_names[!dicom][cat];
}

bool mmdx__deid_truthy(const char *s)
{
    return s && (!mmdx__strcasecmp(s, "true") || !mmdx__strcasecmp(s, "yes") ||
                 !strcmp(s, "1") || !mmdx__strcasecmp(s, "on"));
}

/* ---- the stage ------------------------------------------------------------- */

struct deid_priv {
    int policy;                 /* enum mmdx_deid_policy */
    bool dates_shifted;         /* param */
    struct mmdx_deid_rules rules;   /* effective (param or setting) */
};

static const struct mmdx_param deid_params[] = {
    { "policy", MMDX_PARAM_ENUM, offsetof(struct deid_priv, policy), 0, NULL,
      0, 0, "refuse|warn|strip",
      "refuse: the patient fails naming file and field; warn: flag and go "
      "on; strip: wipe identifying values and go on" },
    { "dates_shifted", MMDX_PARAM_BOOL,
      offsetof(struct deid_priv, dates_shifted), 0, NULL, 0, 1, NULL,
      "dates were shifted by the de-identification (also the pipeline "
      "setting dates_shifted): dates are then not identifying" },
    { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL }
};

static enum mmdx_status deid_init(struct mmdx_stage *s)
{
    struct deid_priv *pr = s->priv;
    size_t i;

    pr->rules.dates_shifted =
        pr->dates_shifted ||
        mmdx__deid_truthy(mmdx__pipeline_setting(s->pipe, "dates_shifted"));
    /* The gate must see the patient before anything uses its data. */
    for (i = 0; i < (size_t)s->index; i++) {
        const struct mmdx_stage_def *d =
            mmdx__stage_find(mmdx__pipeline_stage_name(s->pipe, i));

        if (d && d->needs)
            return mmdx__fail(s->ctx, MMDX_E_PIPELINE, s->def->name, NULL,
                              0, NULL,
                              "must come right after the loaders, before "
                              "stage \"%s\"", d->name);
    }
    return MMDX_OK;
}

bool mmdx__deid_stage_rules(struct mmdx_stage **stages, size_t n,
                            const struct mmdx_pipeline *pipe,
                            struct mmdx_deid_rules *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->dates_shifted =
        mmdx__deid_truthy(mmdx__pipeline_setting(pipe, "dates_shifted"));
    for (i = 0; i < n; i++)
        if (stages[i]->def == &mmdx__stage_check_deid) {
            *out = ((struct deid_priv *)stages[i]->priv)->rules;
            return true;
        }
    return false;
}

static const char *mod_name(int m)
{
    return m >= 0 && m < MMDX_MOD_COUNT
               ? mmdx__modality_name((enum mmdx_modality)m) : "patient";
}

/* What the DICOM declarations say, without their free text. */
static enum mmdx_status note_declaration(struct mmdx_stage *s,
                                         struct mmdx_patient *p,
                                         const struct mmdx_idfield *f)
{
    char norm[8];

    alnum_lower(f->value, norm, sizeof(norm));
    if (strstr(f->field, "(0012,0062)"))
        return mmdx__patient_flag(p, f->modality, "deid.identity_removed",
                                  "%s: %s = %s", f->file, f->field,
                                  !strcmp(norm, "yes") ? "YES"
                                  : !strcmp(norm, "no") ? "NO" : "other");
    mmdx_log(s->ctx, s, MMDX_LOG_INFO, "%s: %s is present", f->file,
             f->field);
    return mmdx__patient_flag(p, f->modality, "deid.method_declared",
                              "%s: %s present", f->file, f->field);
}

static enum mmdx_status deid_process(struct mmdx_stage *s,
                                     struct mmdx_patient *p)
{
    struct deid_priv *pr = s->priv;
    int policy = p->deid_warn_only && pr->policy == MMDX_DEID_REFUSE
                     ? MMDX_DEID_WARN : pr->policy;
    size_t i, nfound = 0;
    enum mmdx_status st = MMDX_OK;

    for (i = 0; i < p->nidfields && !st; i++) {
        struct mmdx_idfield *f = &p->idfields[i];
        const char *rule = mmdx__deid_rule(f, p->id, &pr->rules);

        if (!rule) {
            if (mmdx__deid_is_declaration(f))
                st = note_declaration(s, p, f);
            continue;
        }
        nfound++;
        switch (policy) {
        case MMDX_DEID_REFUSE:
            mmdx__fail(s->ctx, MMDX_E_PHI, s->def->name, f->file, 0,
                       f->field, "identifying (%s); value not shown", rule);
            if (mmdx__patient_take_error(p, f->modality, s->def->name,
                                         MMDX_E_PHI))
                st = mmdx__nomem(s->ctx);
            break;
        case MMDX_DEID_WARN:
            mmdx_log(s->ctx, s, MMDX_LOG_WARN,
                     "%s: %s: %s: identifying (%s); value not shown",
                     mod_name(f->modality), f->file, f->field, rule);
            st = mmdx__patient_flag(p, f->modality, "deid.identifying",
                                    "%s: %s: identifying (%s)", f->file,
                                    f->field, rule);
            break;
        default:
            mmdx_log(s->ctx, s, MMDX_LOG_INFO,
                     "%s: %s: %s: identifying (%s); value stripped",
                     mod_name(f->modality), f->file, f->field, rule);
            st = mmdx__patient_flag(p, f->modality, "deid.stripped",
                                    "%s: %s: identifying (%s); value "
                                    "stripped", f->file, f->field, rule);
            if (f->live)
                memset(f->live, 0, strlen(f->live));
            if (f->strip_fn)
                f->strip_fn(f->strip_obj, f->field);
            break;
        }
    }
    if (st)
        return st == MMDX_E_NOMEM ? mmdx__nomem(s->ctx) : st;
    /* Nothing after the gate needs the values: forget them all now. */
    while (p->nidfields)
        mmdx__patient_drop_idfield(p, p->nidfields - 1, false);
    if (nfound && policy == MMDX_DEID_REFUSE)
        return mmdx__fail(s->ctx, MMDX_E_PHI, s->def->name, NULL, 0, NULL,
                          "patient refused: %zu identifying field%s "
                          "(policy refuse; see the rows above)", nfound,
                          nfound == 1 ? "" : "s");
    return MMDX_OK;
}

const struct mmdx_stage_def mmdx__stage_check_deid = {
    MMDX_STAGE_ABI, "check.deid",
    "de-identification gate: finds identifying fields the loaders reported "
    "(DICOM PS3.15 Annex E, HIPAA Safe Harbor) and refuses, warns or strips",
    0, 0, -1, deid_params, sizeof(struct deid_priv), deid_init,
    deid_process, NULL
};
