/*
 * record.c - synthetic patient records: the facts (demographics with the
 * birth YEAR only, vitals, LOINC labs, coded conditions, medications) and
 * their rendering as a FHIR R4 XML Bundle or an HL7 C-CDA R2.1 document.
 *
 * Facts that the label depends on are always present and exact (systolic
 * pressure shows the vascular latent, HbA1c shows diabetes, a documented
 * AF shows af_known; docs/synth-model.md); the rest is sometimes left out,
 * as real records are incomplete.
 */
#include "core/common.h"
#include "synth/synth_int.h"

#define LOINC_OID "2.16.840.1.113883.6.1"
#define SNOMED_OID "2.16.840.1.113883.6.96"
#define ICD10_OID "2.16.840.1.113883.6.90"
#define RXNORM_OID "2.16.840.1.113883.6.88"
#define ATC_OID "2.16.840.1.113883.6.73"
#define P_OMIT 0.12        /* a non-essential item is left out */

struct obs {
    const char *loinc, *name, *unit;
    double value;
    int decimals;
    int vital;             /* vital sign (else laboratory) */
};

struct cond {
    const char *icd10, *snomed, *name;
};

struct med {
    const char *rxnorm, *atc, *name;
};

static const struct cond C_HTN = { "I10", "38341003",
                                   "Hypertensive disorder" };
static const struct cond C_DM = { "E11.9", "44054006",
                                  "Diabetes mellitus type 2" };
static const struct cond C_AF = { "I48.91", "49436004",
                                  "Atrial fibrillation" };
static const struct cond C_HLD = { "E78.5", "55822004", "Hyperlipidemia" };
static const struct cond C_CAD = { "I25.10", "53741008",
                                   "Coronary arteriosclerosis" };
static const struct cond C_CHF = { "I50.9", "42343007",
                                   "Congestive heart failure" };

static const struct med M_LISINOPRIL = { "29046", "C09AA03", "lisinopril" };
static const struct med M_AMLODIPINE = { "17767", "C08CA01", "amlodipine" };
static const struct med M_METFORMIN = { "6809", "A10BA02", "metformin" };
static const struct med M_ATORVA = { "83367", "C10AA05", "atorvastatin" };
static const struct med M_APIXABAN = { "1364430", "B01AF02", "apixaban" };
static const struct med M_WARFARIN = { "11289", "B01AA03", "warfarin" };
static const struct med M_ASPIRIN = { "1191", "B01AC06", "aspirin" };

struct facts {
    int birth_year, study_year, male;
    struct obs obs[12];
    size_t nobs;
    const struct cond *cond[8];
    size_t ncond;
    const struct med *med[8];
    size_t nmed;
    char uuid[8][40];      /* urn:uuid values for FHIR entries/ids */
};

static void add_obs(struct facts *f, const char *loinc, const char *name,
                    const char *unit, double v, int dec, int vital)
{
    struct obs *o = &f->obs[f->nobs++];

    o->loinc = loinc;
    o->name = name;
    o->unit = unit;
    o->value = v;
    o->decimals = dec;
    o->vital = vital;
}

static double round_to(double v, int dec)
{
    double m = pow(10.0, dec);

    return floor(v * m + 0.5) / m;
}

static void make_facts(struct synth_rng *r, const struct synth_record_in *in,
                       struct facts *f)
{
    const struct synth_latent *l = in->l;
    double sbp = round_to(128.0 + 15.0 * l->vascular, 0);
    double ldl = 118.0 + 20.0 * l->vascular + 25.0 * mmdx__synth_normal(r);
    double bmi = 27.0 + 2.0 * l->vascular + 3.0 * mmdx__synth_normal(r);
    double height = (l->male ? 176.0 : 163.0) + 7.0 * mmdx__synth_normal(r);
    double a1c = l->diabetes ? mmdx__synth_range(r, 6.6, 9.5)
                             : mmdx__synth_range(r, 4.8, 6.2);
    int htn = sbp >= 140.0, hld = ldl >= 160.0, i;

    memset(f, 0, sizeof(*f));
    f->study_year = in->study_year;
    f->birth_year = in->study_year - l->age_y;
    f->male = l->male;
    if (sbp < 85)
        sbp = 85;
    if (bmi < 16)
        bmi = 16;
    if (ldl < 40)
        ldl = 40;
    add_obs(f, "8480-6", "Systolic blood pressure", "mm[Hg]", sbp, 0, 1);
    if (!mmdx__synth_bern(r, P_OMIT))
        add_obs(f, "8462-4", "Diastolic blood pressure", "mm[Hg]",
                round_to(sbp * 0.6 + 2.0 + 5.0 * mmdx__synth_normal(r), 0),
                0, 1);
    if (!mmdx__synth_bern(r, P_OMIT))
        add_obs(f, "8867-4", "Heart rate", "/min",
                round_to(72.0 + 9.0 * mmdx__synth_normal(r), 0), 0, 1);
    if (!mmdx__synth_bern(r, P_OMIT)) {
        add_obs(f, "8302-2", "Body height", "cm", round_to(height, 0), 0, 1);
        add_obs(f, "29463-7", "Body weight", "kg",
                round_to(bmi * height * height / 1e4, 1), 1, 1);
        add_obs(f, "39156-5", "Body mass index", "kg/m2", round_to(bmi, 1),
                1, 1);
    }
    add_obs(f, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%",
            round_to(a1c, 1), 1, 0);
    if (!mmdx__synth_bern(r, P_OMIT))
        add_obs(f, "2345-7", "Glucose [Mass/volume] in Serum or Plasma",
                "mg/dL", round_to(a1c * 28.7 - 46.7 +
                                  8.0 * mmdx__synth_normal(r), 0), 0, 0);
    if (!mmdx__synth_bern(r, P_OMIT)) {
        add_obs(f, "13457-7", "Cholesterol in LDL [Mass/volume] in Serum or "
                "Plasma by calculation", "mg/dL", round_to(ldl, 0), 0, 0);
        add_obs(f, "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma",
                "mg/dL", round_to(ldl + 75.0 + 15.0 * mmdx__synth_normal(r),
                                  0), 0, 0);
    }
    if (!mmdx__synth_bern(r, P_OMIT))
        add_obs(f, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma",
                "mg/dL", round_to(0.8 + 0.004 * (l->age_y - 40) +
                                  (l->male ? 0.15 : 0.0) +
                                  0.12 * fabs(mmdx__synth_normal(r)), 2),
                2, 0);

    if (htn && !mmdx__synth_bern(r, 0.15))
        f->cond[f->ncond++] = &C_HTN;
    if (l->diabetes && !mmdx__synth_bern(r, 0.15))
        f->cond[f->ncond++] = &C_DM;
    if (l->af_known)
        f->cond[f->ncond++] = &C_AF;
    if (hld && !mmdx__synth_bern(r, 0.3))
        f->cond[f->ncond++] = &C_HLD;
    if (mmdx__synth_bern(r, 0.10))
        f->cond[f->ncond++] = &C_CAD;
    if (mmdx__synth_bern(r, 0.05))
        f->cond[f->ncond++] = &C_CHF;

    if (!mmdx__synth_bern(r, 0.1)) {   /* else no medication list at all */
        if (htn && mmdx__synth_bern(r, 0.8))
            f->med[f->nmed++] = mmdx__synth_bern(r, 0.6) ? &M_LISINOPRIL
                                                         : &M_AMLODIPINE;
        if (l->diabetes && mmdx__synth_bern(r, 0.8))
            f->med[f->nmed++] = &M_METFORMIN;
        if (hld || mmdx__synth_bern(r, 0.2))
            f->med[f->nmed++] = &M_ATORVA;
        if (l->af_known && mmdx__synth_bern(r, 0.85))
            f->med[f->nmed++] = mmdx__synth_bern(r, 0.7) ? &M_APIXABAN
                                                         : &M_WARFARIN;
        else if (mmdx__synth_bern(r, 0.2))
            f->med[f->nmed++] = &M_ASPIRIN;
    }
    for (i = 0; i < 8; i++) {
        uint64_t a = mmdx__synth_rng_u64(r), b = mmdx__synth_rng_u64(r);

        /* A version 4 (random) UUID from our stream. */
        snprintf(f->uuid[i], sizeof(f->uuid[i]),
                 "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
                 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
                 (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
                 (unsigned long long)(b & 0xffffffffffffULL));
    }
}

static const char *fmt_val(const struct obs *o, char *buf)
{
    snprintf(buf, 32, "%.*f", o->decimals, o->value);
    return buf;
}

/* ---- FHIR R4 ------------------------------------------------------------ */

#define X(s) do { if (!st) st = mmdx__dstr_adds(d, (s)); } while (0)
#define XF(...) do { if (!st) st = mmdx__dstr_addf(d, __VA_ARGS__); } while (0)
#define XE(s) do { if (!st) st = mmdx__dstr_add_xml(d, (s)); } while (0)

/* A canary for `field`, or NULL on error (st set). */
#define CANARY(kind, mod, field)                                             \
    mmdx__synth_canary(phi, (kind), (mod), rel, (field), cbuf, &st)

static void fhir_coding(struct mmdx_dstr *d, enum mmdx_status *pst,
                        const char *system, const char *code,
                        const char *display)
{
    enum mmdx_status st = *pst;

    XF("<coding><system value=\"%s\"/><code value=\"", system);
    XE(code);
    X("\"/><display value=\"");
    XE(display);
    X("\"/></coding>");
    *pst = st;
}

static enum mmdx_status fhir_patient(struct mmdx_dstr *d,
                                     const struct facts *f,
                                     struct synth_phi *phi, const char *rel,
                                     struct synth_rng *r)
{
    enum mmdx_status st = MMDX_OK;
    char cbuf[128], date[40];

    X("<Patient><id value=\"pat\"/>");
    if (phi->on) {
        X("<text><status value=\"generated\"/>"
          "<div xmlns=\"http://www.w3.org/1999/xhtml\">");
        XE(CANARY("narrative", "record", "Patient.text.div"));
        X("</div></text><identifier><system value=\"urn:oid:2.16.840.1."
          "113883.19.5\"/><value value=\"");
        XE(CANARY("mrn", "record", "Patient.identifier.value"));
        X("\"/></identifier><name><family value=\"");
        XE(CANARY("name", "record", "Patient.name.family"));
        X("\"/><given value=\"");
        XE(CANARY("name", "record", "Patient.name.given"));
        X("\"/></name><telecom><system value=\"phone\"/><value value=\"");
        XE(CANARY("phone", "record", "Patient.telecom.value"));
        X("\"/></telecom>");
    }
    XF("<gender value=\"%s\"/>", f->male ? "male" : "female");
    if (phi->on) {
        snprintf(date, sizeof(date), "%04d-%02d-%02d", f->birth_year,
                 1 + (int)mmdx__synth_below(r, 12),
                 1 + (int)mmdx__synth_below(r, 28));
        XF("<birthDate value=\"%s\"/>", date);
        if (!st)
            st = mmdx__synth_phi_list(phi, "record", rel,
                                      "Patient.birthDate", date);
        X("<address><line value=\"");
        XE(CANARY("address", "record", "Patient.address.line"));
        X("\"/><city value=\"");
        XE(CANARY("city", "record", "Patient.address.city"));
        X("\"/><postalCode value=\"");
        XE(CANARY("zip", "record", "Patient.address.postalCode"));
        X("\"/></address>");
    } else {
        XF("<birthDate value=\"%04d\"/>", f->birth_year);
    }
    X("</Patient>");
    return st;
}

enum mmdx_status mmdx__synth_fhir_write(struct mmdx_ctx *ctx,
                                        struct synth_rng *r,
                                        const struct synth_record_in *in,
                                        const char *path, const char *rel,
                                        struct synth_phi *phi)
{
    struct mmdx_dstr dd, *d = &dd;
    struct facts f;
    enum mmdx_status st = MMDX_OK;
    char v[32];
    size_t i;

    make_facts(r, in, &f);
    mmdx__dstr_init(d, (size_t)1 << 24);
    X("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Bundle xmlns=\"http://hl7.org/fhir\">\n");
    XF("  <id value=\"%s\"/>\n  <type value=\"collection\"/>\n", f.uuid[0]);
    XF("  <entry><fullUrl value=\"urn:uuid:%s\"/><resource>", f.uuid[1]);
    if (!st)
        st = fhir_patient(d, &f, phi, rel, r);
    X("</resource></entry>\n");
    for (i = 0; i < f.nobs; i++) {
        const struct obs *o = &f.obs[i];

        XF("  <entry><fullUrl value=\"urn:uuid:%s-%zu\"/><resource>"
           "<Observation><id value=\"obs%zu\"/><status value=\"final\"/>"
           "<category><coding><system value=\"http://terminology.hl7.org/"
           "CodeSystem/observation-category\"/><code value=\"%s\"/>"
           "</coding></category><code>", f.uuid[2], i, i,
           o->vital ? "vital-signs" : "laboratory");
        fhir_coding(d, &st, "http://loinc.org", o->loinc, o->name);
        XF("</code><subject><reference value=\"urn:uuid:%s\"/></subject>"
           "<effectiveDateTime value=\"%04d\"/><valueQuantity>"
           "<value value=\"%s\"/><unit value=\"", f.uuid[1], f.study_year,
           fmt_val(o, v));
        XE(o->unit);
        X("\"/><system value=\"http://unitsofmeasure.org\"/><code value=\"");
        XE(o->unit);
        X("\"/></valueQuantity></Observation></resource></entry>\n");
    }
    for (i = 0; i < f.ncond; i++) {
        const struct cond *c = f.cond[i];

        XF("  <entry><fullUrl value=\"urn:uuid:%s-%zu\"/><resource>"
           "<Condition><id value=\"cond%zu\"/><clinicalStatus><coding>"
           "<system value=\"http://terminology.hl7.org/CodeSystem/"
           "condition-clinical\"/><code value=\"active\"/></coding>"
           "</clinicalStatus><code>", f.uuid[3], i, i);
        fhir_coding(d, &st, "http://hl7.org/fhir/sid/icd-10-cm", c->icd10,
                    c->name);
        fhir_coding(d, &st, "http://snomed.info/sct", c->snomed, c->name);
        XF("</code><subject><reference value=\"urn:uuid:%s\"/></subject>"
           "<recordedDate value=\"%04d\"/></Condition></resource>"
           "</entry>\n", f.uuid[1], f.study_year);
    }
    for (i = 0; i < f.nmed; i++) {
        const struct med *m = f.med[i];

        XF("  <entry><fullUrl value=\"urn:uuid:%s-%zu\"/><resource>"
           "<MedicationStatement><id value=\"med%zu\"/>"
           "<status value=\"active\"/><medicationCodeableConcept>",
           f.uuid[4], i, i);
        fhir_coding(d, &st, "http://www.nlm.nih.gov/research/umls/rxnorm",
                    m->rxnorm, m->name);
        fhir_coding(d, &st, "http://www.whocc.no/atc", m->atc, m->name);
        XF("</medicationCodeableConcept><subject><reference value=\""
           "urn:uuid:%s\"/></subject><effectiveDateTime value=\"%04d\"/>"
           "</MedicationStatement></resource></entry>\n", f.uuid[1],
           f.study_year);
    }
    X("</Bundle>\n");
    if (st)
        st = st == MMDX_E_NOMEM ? mmdx__nomem(ctx)
                                : mmdx__fail(ctx, st, "synth", path, 0, NULL,
                                             "record too large");
    else
        st = mmdx__file_write_atomic(ctx, path, d->s, d->len);
    mmdx__dstr_fini(d);
    return st;
}

/* ---- C-CDA R2.1 --------------------------------------------------------- */

/* A section header. The narrative block is left empty: de-identified
 * documents have their free text removed (everything is in the coded
 * entries). */
static void cda_section(struct mmdx_dstr *d, enum mmdx_status *pst,
                        const char *tmpl, const char *loinc,
                        const char *title)
{
    enum mmdx_status st = *pst;

    XF("<component><section><templateId root=\"%s\" extension=\"2015-08-01\""
       "/><code code=\"%s\" codeSystem=\"" LOINC_OID "\" codeSystemName=\""
       "LOINC\"/><title>%s</title><text/>", tmpl, loinc, title);
    *pst = st;
}

static enum mmdx_status cda_header(struct mmdx_dstr *d, const struct facts *f,
                                   struct synth_phi *phi, const char *rel,
                                   struct synth_rng *r)
{
    enum mmdx_status st = MMDX_OK;
    char cbuf[128], date[40];

    X("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
      "<realmCode code=\"US\"/>"
      "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
      "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" "
      "extension=\"2015-08-01\"/>"
      "<templateId root=\"2.16.840.1.113883.10.20.22.1.2\" "
      "extension=\"2015-08-01\"/>\n");
    XF("<id root=\"%s\"/>", f->uuid[0]);
    X("<code code=\"34133-9\" codeSystem=\"" LOINC_OID "\" "
      "codeSystemName=\"LOINC\" displayName=\"Summary of episode note\"/>"
      "<title>Synthetic patient summary</title>");
    XF("<effectiveTime value=\"%04d\"/>", f->study_year);
    X("<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\""
      "/><languageCode code=\"en-US\"/>\n<recordTarget><patientRole>");
    if (phi->on) {
        X("<id root=\"2.16.840.1.113883.19.5\" extension=\"");
        XE(CANARY("mrn", "record", "recordTarget/patientRole/id"));
        X("\"/><addr use=\"HP\"><streetAddressLine>");
        XE(CANARY("address", "record",
                  "recordTarget/patientRole/addr/streetAddressLine"));
        X("</streetAddressLine><city>");
        XE(CANARY("city", "record", "recordTarget/patientRole/addr/city"));
        X("</city><postalCode>");
        XE(CANARY("zip", "record",
                  "recordTarget/patientRole/addr/postalCode"));
        X("</postalCode></addr><telecom use=\"HP\" value=\"tel:");
        XE(CANARY("phone", "record", "recordTarget/patientRole/telecom"));
        X("\"/><patient><name><given>");
        XE(CANARY("name", "record", "recordTarget/patientRole/patient/name/"
                  "given"));
        X("</given><family>");
        XE(CANARY("name", "record", "recordTarget/patientRole/patient/name/"
                  "family"));
        X("</family></name>");
    } else {
        X("<id nullFlavor=\"MSK\"/><patient>");
    }
    XF("<administrativeGenderCode code=\"%s\" "
       "codeSystem=\"2.16.840.1.113883.5.1\"/>", f->male ? "M" : "F");
    if (phi->on) {
        snprintf(date, sizeof(date), "%04d%02d%02d", f->birth_year,
                 1 + (int)mmdx__synth_below(r, 12),
                 1 + (int)mmdx__synth_below(r, 28));
        XF("<birthTime value=\"%s\"/>", date);
        if (!st)
            st = mmdx__synth_phi_list(phi, "record", rel,
                                      "recordTarget/patientRole/patient/"
                                      "birthTime", date);
    } else {
        XF("<birthTime value=\"%04d\"/>", f->birth_year);
    }
    X("</patient></patientRole></recordTarget>\n");
    XF("<author><time value=\"%04d\"/><assignedAuthor>", f->study_year);
    if (phi->on) {
        X("<id root=\"2.16.840.1.113883.4.6\" extension=\"");
        XE(CANARY("npi", "record", "author/assignedAuthor/id"));
        X("\"/><assignedPerson><name><given>");
        XE(CANARY("name", "record", "author/assignedAuthor/assignedPerson/"
                  "name/given"));
        X("</given><family>");
        XE(CANARY("name", "record", "author/assignedAuthor/assignedPerson/"
                  "name/family"));
        X("</family></name></assignedPerson>");
    } else {
        X("<id nullFlavor=\"MSK\"/><assignedAuthoringDevice>"
          "<softwareName>mmdx synth</softwareName>"
          "</assignedAuthoringDevice>");
    }
    X("</assignedAuthor></author>\n<custodian><assignedCustodian>"
      "<representedCustodianOrganization><id nullFlavor=\"MSK\"/><name>");
    if (phi->on)
        XE(CANARY("institution", "record", "custodian/"
                  "representedCustodianOrganization/name"));
    else
        X("Synthetic cohort");
    X("</name></representedCustodianOrganization></assignedCustodian>"
      "</custodian>\n");
    return st;
}

enum mmdx_status mmdx__synth_ccda_write(struct mmdx_ctx *ctx,
                                        struct synth_rng *r,
                                        const struct synth_record_in *in,
                                        const char *path, const char *rel,
                                        struct synth_phi *phi)
{
    struct mmdx_dstr dd, *d = &dd;
    struct facts f;
    enum mmdx_status st = MMDX_OK;
    char v[32];
    size_t i;
    int pass;

    make_facts(r, in, &f);
    mmdx__dstr_init(d, (size_t)1 << 24);
    st = cda_header(d, &f, phi, rel, r);
    X("<component><structuredBody>\n");
    /* Problems */
    cda_section(d, &st, "2.16.840.1.113883.10.20.22.2.5.1", "11450-4",
                "Problems");
    for (i = 0; i < f.ncond; i++) {
        const struct cond *c = f.cond[i];

        X("<entry><act classCode=\"ACT\" moodCode=\"EVN\"><templateId "
          "root=\"2.16.840.1.113883.10.20.22.4.3\" extension=\"2015-08-01\"/>"
          "<code code=\"CONC\" codeSystem=\"2.16.840.1.113883.5.6\"/>"
          "<statusCode code=\"active\"/><entryRelationship typeCode=\"SUBJ\">"
          "<observation classCode=\"OBS\" moodCode=\"EVN\"><templateId "
          "root=\"2.16.840.1.113883.10.20.22.4.4\" extension=\"2015-08-01\"/>"
          "<code code=\"55607006\" codeSystem=\"" SNOMED_OID "\" "
          "displayName=\"Problem\"/><statusCode code=\"completed\"/>");
        XF("<effectiveTime><low value=\"%04d\"/></effectiveTime>",
           f.study_year);
        XF("<value xsi:type=\"CD\" code=\"%s\" codeSystem=\"" SNOMED_OID
           "\" codeSystemName=\"SNOMED CT\" displayName=\"%s\"><translation "
           "code=\"%s\" codeSystem=\"" ICD10_OID "\" codeSystemName=\""
           "ICD-10-CM\" displayName=\"%s\"/></value></observation>"
           "</entryRelationship></act></entry>", c->snomed, c->name,
           c->icd10, c->name);
    }
    X("</section></component>\n");
    /* Medications */
    cda_section(d, &st, "2.16.840.1.113883.10.20.22.2.1.1", "10160-0",
                "Medications");
    for (i = 0; i < f.nmed; i++) {
        const struct med *m = f.med[i];

        XF("<entry><substanceAdministration classCode=\"SBADM\" "
           "moodCode=\"EVN\"><templateId root=\"2.16.840.1.113883.10.20.22."
           "4.16\" extension=\"2014-06-09\"/><statusCode code=\"active\"/>"
           "<effectiveTime xsi:type=\"IVL_TS\"><low value=\"%04d\"/>"
           "</effectiveTime><consumable><manufacturedProduct classCode=\""
           "MANU\"><templateId root=\"2.16.840.1.113883.10.20.22.4.23\" "
           "extension=\"2014-06-09\"/><manufacturedMaterial><code code=\"%s"
           "\" codeSystem=\"" RXNORM_OID "\" codeSystemName=\"RxNorm\" "
           "displayName=\"%s\"><translation code=\"%s\" codeSystem=\""
           ATC_OID "\" codeSystemName=\"ATC\" displayName=\"%s\"/></code>"
           "</manufacturedMaterial></manufacturedProduct></consumable>"
           "</substanceAdministration></entry>", f.study_year, m->rxnorm,
           m->name, m->atc, m->name);
    }
    X("</section></component>\n");
    /* Vital signs (pass 0) and results (pass 1) */
    for (pass = 0; pass < 2; pass++) {
        if (pass == 0)
            cda_section(d, &st, "2.16.840.1.113883.10.20.22.2.4.1", "8716-3",
                        "Vital signs");
        else
            cda_section(d, &st, "2.16.840.1.113883.10.20.22.2.3.1",
                        "30954-2", "Results");
        XF("<entry><organizer classCode=\"%s\" moodCode=\"EVN\">"
           "<templateId root=\"2.16.840.1.113883.10.20.22.4.%s\" "
           "extension=\"2015-08-01\"/><id root=\"%s\"/>"
           "<code code=\"%s\" codeSystem=\"" LOINC_OID "\"/>"
           "<statusCode code=\"completed\"/><effectiveTime value=\"%04d\"/>",
           pass ? "BATTERY" : "CLUSTER", pass ? "1" : "26",
           f.uuid[5 + pass], pass ? "24323-8" : "74728-7", f.study_year);
        for (i = 0; i < f.nobs; i++) {
            const struct obs *o = &f.obs[i];

            if (o->vital != !pass)
                continue;
            XF("<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
               "<templateId root=\"2.16.840.1.113883.10.20.22.4.%s\" "
               "extension=\"2015-08-01\"/><code code=\"%s\" codeSystem=\""
               LOINC_OID "\" codeSystemName=\"LOINC\" displayName=\"",
               pass ? "2" : "27", o->loinc);
            XE(o->name);
            XF("\"/><statusCode code=\"completed\"/><effectiveTime "
               "value=\"%04d\"/><value xsi:type=\"PQ\" value=\"%s\" unit=\"",
               f.study_year, fmt_val(o, v));
            XE(o->unit);
            X("\"/></observation></component>");
        }
        X("</organizer></entry></section></component>\n");
    }
    X("</structuredBody></component>\n</ClinicalDocument>\n");
    if (st)
        st = st == MMDX_E_NOMEM ? mmdx__nomem(ctx)
                                : mmdx__fail(ctx, st, "synth", path, 0, NULL,
                                             "record too large");
    else
        st = mmdx__file_write_atomic(ctx, path, d->s, d->len);
    mmdx__dstr_fini(d);
    return st;
}
