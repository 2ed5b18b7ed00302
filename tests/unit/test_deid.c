/*
 * test_deid.c - deid_testdriver: the de-identification rules, the
 * check.deid stage under each policy, the deid-check API, and the modes of
 * the files a run creates.
 *
 * A test loader (test.idload, record modality) reads lines
 * "KIND<TAB>FIELD<TAB>VALUE" and reports each as an identifying field,
 * keeping its own copy of the values in its slot (so that the strip policy
 * can be seen wiping it); test.idfeat turns what is left of those copies
 * into a feature. The registry is wrapped (-Wl,--wrap=mmdx__stage_find).
 */
#include "core/common.h"
#include "io/record.h"
#include "pipeline/deid.h"
#include "pipeline/stage.h"
#include "mmdx/mmdx.h"
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>

/* ---- test stages ----------------------------------------------------------- */

struct idobj {
    char *text;              /* the loader's copy of every value, joined */
    size_t n;
    char **vals;             /* pointers into separately owned strings */
    int nstripped;           /* strip hook calls */
};

static void idobj_strip(void *v, const char *field)
{
    struct idobj *o = v;

    assert_non_null(field);
    o->nstripped++;
}

static void idobj_free(void *v)
{
    struct idobj *o = v;
    size_t i;

    if (!o)
        return;
    for (i = 0; i < o->n; i++)
        mmdx__free(o->vals[i]);
    mmdx__free(o->vals);
    mmdx__free(o);
}

static int kind_from(const char *k)
{
    static const char *const names[] = { "", "NAME", "NUMBER", "DATE",
                                         "ADDRESS", "TELECOM",
                                         "INSTITUTION", "FREE_TEXT",
                                         "PRIVATE", "OTHER" };
    size_t i;

    for (i = 1; i < MMDX_ARRAY_SIZE(names); i++)
        if (!strcmp(k, names[i]))
            return (int)i;
    return MMDX_ID_OTHER;
}

static enum mmdx_status idload_process(struct mmdx_stage *s,
                                       struct mmdx_patient *p)
{
    const char *path = p->path[MMDX_MOD_RECORD];
    struct idobj *o;
    char *data, *line, *next;
    size_t len;
    enum mmdx_status st;

    st = mmdx__file_read(s->ctx, path, 1 << 20, &data, &len);
    if (st)
        return st;
    if (strstr(data, "UNREADABLE")) {
        mmdx__free(data);
        return mmdx__fail(s->ctx, MMDX_E_FORMAT, "test.idload", path, 1,
                          "header", "marker found");
    }
    o = mmdx__calloc(1, sizeof(*o));
    if (!o) {
        mmdx__free(data);
        return mmdx__nomem(s->ctx);
    }
    mmdx__patient_set_slot(p, MMDX_SLOT_RECORD, o, idobj_free);
    for (line = data; line && *line && !st; line = next) {
        char *t1, *t2, **nv;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        t1 = strchr(line, '\t');
        t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            continue;
        *t1 = *t2 = '\0';
        nv = mmdx__realloc(o->vals, (o->n + 1) * sizeof(*nv));
        if (!nv) {
            st = mmdx__nomem(s->ctx);
            break;
        }
        o->vals = nv;
        o->vals[o->n] = mmdx__strdup(t2 + 1);
        if (!o->vals[o->n]) {
            st = mmdx__nomem(s->ctx);
            break;
        }
        o->n++;
        st = mmdx__patient_add_idfield_live(p, MMDX_MOD_RECORD, path, t1 + 1,
                                            (enum mmdx_id_kind)kind_from(line),
                                            o->vals[o->n - 1]);
        if (st)
            st = mmdx__nomem(s->ctx);
        else
            mmdx__patient_idfield_strip_hook(p, idobj_strip, o);
    }
    mmdx__free(data);
    return st;
}

static const struct mmdx_stage_def idload = {
    MMDX_STAGE_ABI, "test.idload", "test loader with identifying fields", 0,
    MMDX_SLOT_BIT(MMDX_SLOT_RECORD), MMDX_MOD_RECORD, NULL, 0, NULL,
    idload_process, NULL
};

/* Feature: total length of the loader's copies (0 once stripped). */
static enum mmdx_status idfeat_process(struct mmdx_stage *s,
                                       struct mmdx_patient *p)
{
    const struct idobj *o = p->slot[MMDX_SLOT_RECORD];
    size_t i, total = 0;

    MMDX_UNUSED(s);
    for (i = 0; i < o->n; i++)
        total += strlen(o->vals[i]);
    if (mmdx__featset_add(&p->features, "record.test.stripped",
                          (double)o->nstripped))
        return MMDX_E_NOMEM;
    return mmdx__featset_add(&p->features, "record.test.idchars",
                             (double)total);
}

static const struct mmdx_stage_def idfeat = {
    MMDX_STAGE_ABI, "test.idfeat", "test feature", 
    MMDX_SLOT_BIT(MMDX_SLOT_RECORD), MMDX_SLOT_BIT(MMDX_SLOT_FEATURES),
    MMDX_MOD_RECORD, NULL, 0, NULL, idfeat_process, NULL
};

const struct mmdx_stage_def *__real_mmdx__stage_find(const char *name);
const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name);
const struct mmdx_stage_def *__wrap_mmdx__stage_find(const char *name)
{
    if (!strcmp(name, "test.idload"))
        return &idload;
    if (!strcmp(name, "test.idfeat"))
        return &idfeat;
    return __real_mmdx__stage_find(name);
}

/* ---- helpers -------------------------------------------------------------- */

static struct mmdx_idfield mkf(const char *field, enum mmdx_id_kind kind,
                               const char *value)
{
    struct mmdx_idfield f;

    memset(&f, 0, sizeof(f));
    f.modality = MMDX_MOD_IMAGE;
    f.file = (char *)"x.dcm";
    f.field = (char *)field;
    f.kind = kind;
    f.value = (char *)value;
    return f;
}

static const char *rule_of(const char *field, enum mmdx_id_kind kind,
                           const char *value, bool shifted)
{
    struct mmdx_idfield f = mkf(field, kind, value);
    struct mmdx_deid_rules r = { shifted };

    return mmdx__deid_rule(&f, "P001", &r);
}

static char *write_pipeline(const char *dir, const char *policy,
                            const char *extra)
{
    char text[2048], *p;

    snprintf(text, sizeof(text),
             "<?xml version=\"1.0\"?>\n"
             "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
             "format=\"1\">\n%s"
             "  <stage name=\"test.idload\"/>\n"
             "  <stage name=\"check.deid\"><param name=\"policy\" "
             "value=\"%s\"/></stage>\n"
             "  <stage name=\"test.idfeat\"/>\n"
             "</pipeline>\n", extra ? extra : "", policy);
    test_write(dir, "p.xml", text);
    p = mmdx__path_join(dir, "p.xml");
    assert_non_null(p);
    return p;
}

/* Canary values: every one must stay out of every output. */
static const char *const canaries[] = {
    "CANARY-NAME-7f3a", "CANARY-MRN-91c2", "19710304", "CANARY-ADDR-55d0",
    "CANARY-TEL-0e41", "CANARY-NOTE-b7aa", "CANARY-PRIV-3c19"
};

static const char *planted =
    "<Bundle xmlns=\"http://hl7.org/fhir\"><!--\n"
    "NAME\tPatientName (0010,0010)\tCANARY-NAME-7f3a\n"
    "NUMBER\tPatientID (0010,0020)\tCANARY-MRN-91c2\n"
    "DATE\tPatientBirthDate (0010,0030)\t19710304\n"
    "ADDRESS\tPatient.address\tCANARY-ADDR-55d0\n"
    "TELECOM\tPatient.telecom\tCANARY-TEL-0e41\n"
    "FREE_TEXT\tnarrative\tCANARY-NOTE-b7aa\n"
    "PRIVATE\tPrivate (0029,1010)\tCANARY-PRIV-3c19\n"
    "NUMBER\tPatientID (0010,0020)\tP002\n"
    "OTHER\tPatientSex (0010,0040)\tF\n"
    "NAME\tOtherPatientNames (0010,1001)\tANONYMOUS\n"
    "OTHER\tPatientIdentityRemoved (0012,0062)\tYES\n"
    "--></Bundle>\n";

static const char *clean =
    "<Bundle xmlns=\"http://hl7.org/fhir\"><!--\n"
    "NUMBER\tPatientID (0010,0020)\tP001\n"
    "DATE\tPatient.birthDate\t1971\n"
    "NAME\tPatientName (0010,0010)\tX\n"
    "--></Bundle>\n";

/* P001: clean, P002: the planted fields */
static char *make_cohort(void)
{
    char *dir = test_tmpdir();

    test_write(dir, "p1.txt", clean);
    test_write(dir, "p2.txt", planted);
    /* P002's record number below is its own: not a finding */
    test_write(dir, "manifest.tsv",
               "patient_id\trecord\nP001\tp1.txt\nP002\tp2.txt\n");
    return dir;
}

static char *slurp(const char *dir, const char *name)
{
    char *p = mmdx__path_join(dir, name), *data = NULL;
    size_t len;
    struct mmdx_ctx *ctx = test_ctx();

    assert_non_null(p);
    assert_int_equal(mmdx__file_read(ctx, p, 1 << 24, &data, &len), MMDX_OK);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    return data;
}

/* Search every file under dir for every canary; count the hits. */
static int canary_hits(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int hits = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char *p;
        struct stat sb;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        p = mmdx__path_join(dir, de->d_name);
        assert_non_null(p);
        assert_int_equal(lstat(p, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            hits += canary_hits(p);
        } else if (strcmp(de->d_name, "p2.txt") != 0) {
            char *data = slurp(dir, de->d_name);
            size_t i;

            for (i = 0; i < MMDX_ARRAY_SIZE(canaries); i++)
                if (strstr(data, canaries[i])) {
                    fprintf(stderr, "# canary %s in %s\n", canaries[i], p);
                    hits++;
                }
            mmdx__free(data);
        }
        mmdx__free(p);
    }
    closedir(d);
    return hits;
}

struct logbuf {
    struct mmdx_dstr d;
};

static void log_collect(void *user, enum mmdx_log_level lvl,
                        const char *prefix, const char *msg)
{
    struct logbuf *lb = user;

    mmdx__dstr_addf(&lb->d, "%d [%s] %s\n", (int)lvl, prefix ? prefix : "",
                    msg);
}

static void run_cohort(const char *dir, const char *policy, const char *extra,
                       struct mmdx_run_summary *sum, struct logbuf *lb)
{
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_run_opts o;
    char *pipe = write_pipeline(dir, policy, extra);
    char *man = mmdx__path_join(dir, "manifest.tsv");
    char *out = mmdx__path_join(dir, "out");

    mmdx__dstr_init(&lb->d, 0);
    mmdx_ctx_set_log(ctx, log_collect, lb, MMDX_LOG_DEBUG);
    memset(&o, 0, sizeof(o));
    o.pipeline = pipe;
    o.manifest = man;
    o.out = out;
    o.jobs = 2;
    assert_int_equal(mmdx_run(ctx, &o, sum), MMDX_OK);
    mmdx__free(pipe);
    mmdx__free(man);
    mmdx__free(out);
    mmdx_ctx_free(ctx);
}

static bool log_has_canary(const struct logbuf *lb)
{
    size_t i;

    for (i = 0; i < MMDX_ARRAY_SIZE(canaries); i++)
        if (strstr(lb->d.s, canaries[i]))
            return true;
    return false;
}

/* ---- rules ------------------------------------------------------------------ */

/* Ensure that removed-value placeholders are recognised and real values
 * are not. */
static void placeholder__values__recognised(void **state)
{
    static const char *const yes[] = { "", "  ", "X", "x", "X X X X", "X,X",
                                       "XXXX", "-", "^", "N/A", "n/a",
                                       "Anonymous", "ANONYMIZED^PATIENT",
                                       "unknown", "REDACTED", "none" };
    static const char *const no[] = { "Doe^Jane", "triggers_test", "0",
                                      "Xavier", "X1", "Kendall673",
                                      "anon-ish name here of some length" };
    size_t i;

    (void)state;
    for (i = 0; i < MMDX_ARRAY_SIZE(yes); i++)
        if (!mmdx__deid_placeholder(yes[i]))
            fail_msg("\"%s\" should be a placeholder", yes[i]);
    for (i = 0; i < MMDX_ARRAY_SIZE(no); i++)
        if (mmdx__deid_placeholder(no[i]))
            fail_msg("\"%s\" should not be a placeholder", no[i]);
    assert_true(mmdx__deid_placeholder(NULL));
}

/* Ensure that a year alone is year precision and anything finer is
 * finer, in DICOM, FHIR, CDA and EDF spellings. */
static void date_precision__spellings__classified(void **state)
{
    (void)state;
    assert_int_equal(mmdx__deid_date_precision("1971"), 1);
    assert_int_equal(mmdx__deid_date_precision(" 1971 "), 1);
    assert_int_equal(mmdx__deid_date_precision("1971-03"), 2);
    assert_int_equal(mmdx__deid_date_precision("1971-03-04"), 2);
    assert_int_equal(mmdx__deid_date_precision("19710304"), 2);
    assert_int_equal(mmdx__deid_date_precision("197103041230+0100"), 2);
    assert_int_equal(mmdx__deid_date_precision("04.03.71"), 2);
    assert_int_equal(mmdx__deid_date_precision("30-DEC-1899"), 2);
    assert_int_equal(mmdx__deid_date_precision("123000"), 2);
    assert_int_equal(mmdx__deid_date_precision("no date"), 0);
    assert_int_equal(mmdx__deid_date_precision(NULL), 0);
}

/* Ensure that each kind of field gets its rule, with PS3.15 for DICOM
 * attributes and Safe Harbor for the rest. */
static void rule__kinds__named(void **state)
{
    (void)state;
    assert_string_equal(rule_of("PatientName (0010,0010)", MMDX_ID_NAME,
                                "Doe^Jane", false), "ps3.15:name");
    assert_string_equal(rule_of("Patient.name", MMDX_ID_NAME, "Jane Doe",
                                false), "safe-harbor:name");
    assert_string_equal(rule_of("AccessionNumber (0008,0050)", MMDX_ID_OTHER,
                                "A123", false), "ps3.15:number");
    assert_string_equal(rule_of("InstitutionName (0008,0080)",
                                MMDX_ID_INSTITUTION, "General", false),
                        "ps3.15:institution");
    assert_string_equal(rule_of("Patient.telecom", MMDX_ID_TELECOM,
                                "555-0100", false), "safe-harbor:telecom");
    assert_string_equal(rule_of("Patient.address.line", MMDX_ID_ADDRESS,
                                "1 Main St", false), "safe-harbor:address");
    assert_string_equal(rule_of("comment line 2", MMDX_ID_FREE_TEXT,
                                "Digoxin", false), "safe-harbor:free-text");
    /* private tags: odd group, whatever kind the loader gave */
    assert_string_equal(rule_of("(0029,1010)", MMDX_ID_OTHER, "abc", false),
                        "ps3.15:private-tag");
    assert_string_equal(rule_of("(0029,1010)", MMDX_ID_PRIVATE, "abc", false),
                        "ps3.15:private-tag");
    assert_null(rule_of("(0029,1010)", MMDX_ID_PRIVATE, "", false));
    assert_string_equal(rule_of("SomeField", MMDX_ID_OTHER, "abc", false),
                        "safe-harbor:other");
}

/* Ensure that dates finer than a year identify unless shifted, and that a
 * year alone or the EDF+ unknown date never does. */
static void rule__dates__safe_harbor(void **state)
{
    (void)state;
    assert_string_equal(rule_of("PatientBirthDate (0010,0030)",
                                MMDX_ID_DATE, "19710304", false),
                        "ps3.15:date");
    assert_string_equal(rule_of("StudyTime (0008,0030)", MMDX_ID_OTHER,
                                "123000", false), "ps3.15:date");
    assert_null(rule_of("PatientBirthDate (0010,0030)", MMDX_ID_DATE,
                        "19710304", true));
    assert_null(rule_of("Patient.birthDate", MMDX_ID_DATE, "1971", false));
    assert_string_equal(rule_of("Patient.birthDate", MMDX_ID_DATE,
                                "1971-03", false), "safe-harbor:date");
    assert_null(rule_of("startdate", MMDX_ID_DATE, "01.01.85", false));
    assert_null(rule_of("startdate", MMDX_ID_DATE, "1985-01-01", false));
    assert_string_equal(rule_of("Patient.birthDate", MMDX_ID_DATE,
                                "1985-01-01", false), "safe-harbor:date");
    assert_string_equal(rule_of("startdate", MMDX_ID_DATE, "02.06.15",
                                false), "safe-harbor:date");
    assert_null(rule_of("patient.birthdate", MMDX_ID_DATE, "X", false));
}

/* Ensure that the pseudonym, sex, ages under 90, a state and the
 * de-identification declarations are not findings, and that an age over
 * 89 and BurnedInAnnotation YES are. */
static void rule__exceptions__not_findings(void **state)
{
    struct mmdx_idfield f = mkf("PatientIdentityRemoved (0012,0062)",
                                MMDX_ID_OTHER, "YES");

    (void)state;
    assert_null(rule_of("PatientID (0010,0020)", MMDX_ID_NUMBER, "P001",
                        false));
    assert_null(rule_of("PatientID (0010,0020)", MMDX_ID_NUMBER, " P001 ",
                        false));
    assert_null(rule_of("PatientName (0010,0010)", MMDX_ID_NAME, "P001",
                        false));
    assert_string_equal(rule_of("PatientID (0010,0020)", MMDX_ID_NUMBER,
                                "P0011", false), "ps3.15:number");
    assert_null(rule_of("PatientSex (0010,0040)", MMDX_ID_OTHER, "F",
                        false));
    assert_null(rule_of("Patient.gender", MMDX_ID_OTHER, "female", false));
    assert_null(rule_of("PatientAge (0010,1010)", MMDX_ID_OTHER, "045Y",
                        false));
    assert_null(rule_of("PatientAge (0010,1010)", MMDX_ID_OTHER, "006M",
                        false));
    assert_string_equal(rule_of("PatientAge (0010,1010)", MMDX_ID_NUMBER,
                                "095Y", false), "ps3.15:age-over-89");
    assert_string_equal(rule_of("comment.age", MMDX_ID_OTHER, "93", false),
                        "safe-harbor:age-over-89");
    assert_null(rule_of("Patient.address.state", MMDX_ID_ADDRESS, "MA",
                        false));
    assert_string_equal(rule_of("BurnedInAnnotation (0028,0301)",
                                MMDX_ID_OTHER, "YES", false),
                        "ps3.15:burned-in-annotation");
    assert_null(rule_of("BurnedInAnnotation (0028,0301)", MMDX_ID_OTHER,
                        "NO", false));
    assert_null(rule_of("PatientIdentityRemoved (0012,0062)", MMDX_ID_OTHER,
                        "YES", false));
    assert_null(rule_of("DeidentificationMethod (0012,0063)",
                        MMDX_ID_OTHER, "Basic Profile", false));
    assert_true(mmdx__deid_is_declaration(&f));
}

/* Ensure that an age reported as such (MMDX_ID_AGE, what the record
 * loaders derive from a birth date) is a finding from 90 on, under the
 * Safe Harbor rule, dates shifted or not, and never below. */
static void rule__age_kind__over_89(void **state)
{
    (void)state;
    assert_string_equal(rule_of("Patient.birthDate (age 90 or over)",
                                MMDX_ID_AGE, "90", false),
                        "safe-harbor:age-over-89");
    assert_string_equal(rule_of("Patient.birthDate (age 90 or over)",
                                MMDX_ID_AGE, "90", true),
                        "safe-harbor:age-over-89");
    assert_string_equal(rule_of("patient@birth (age 90 or over)",
                                MMDX_ID_AGE, "131", false),
                        "safe-harbor:age-over-89");
    assert_null(rule_of("Patient.birthDate (age 90 or over)", MMDX_ID_AGE,
                        "89", false));
    assert_null(rule_of("Patient.birthDate (age 90 or over)", MMDX_ID_AGE,
                        "", false));
}

/* ---- the stage ------------------------------------------------------------- */

/* Ensure that under refuse the patient with planted fields fails with one
 * error row per identifying field naming file and field, the clean one
 * passes, and no canary reaches any output or log. */
static void stage__refuse__fields_named_no_values(void **state)
{
    char *dir = make_cohort(), *errors, *p2;
    struct mmdx_run_summary sum;
    struct logbuf lb;
    static const char *const fields[] = {
        "PatientName (0010,0010)", "PatientID (0010,0020)",
        "PatientBirthDate (0010,0030)", "Patient.address", "Patient.telecom",
        "narrative", "Private (0029,1010)"
    };
    size_t i;

    (void)state;
    run_cohort(dir, "refuse", NULL, &sum, &lb);
    assert_int_equal(sum.ok, 1);
    assert_int_equal(sum.failed, 1);
    errors = slurp(dir, "out/errors.tsv");
    p2 = mmdx__path_join(dir, "p2.txt");
    for (i = 0; i < MMDX_ARRAY_SIZE(fields); i++) {
        char row[512];

        snprintf(row, sizeof(row), "P002\trecord\t%s\tcheck.deid\tE_PHI\t%s: "
                 "%s: identifying (", p2, p2, fields[i]);
        if (!strstr(errors, row))
            fail_msg("no row \"%s\" in\n%s", row, errors);
    }
    assert_non_null(strstr(errors, "P002\tpatient\t\tcheck.deid\tE_PHI\t"
                                   "patient refused: 7 identifying fields"));
    assert_null(strstr(errors, "P001"));
    assert_null(strstr(errors, "PatientSex"));
    assert_null(strstr(errors, "OtherPatientNames"));
    assert_int_equal(canary_hits(dir), 0);
    assert_false(log_has_canary(&lb));
    mmdx__free(p2);
    mmdx__free(errors);
    mmdx__dstr_fini(&lb.d);
    test_rmtree(dir);
}

/* Ensure that under warn both patients go on, each field is a flag and a
 * warning naming it, and no canary reaches any output or log. */
static void stage__warn__flags_and_goes_on(void **state)
{
    char *dir = make_cohort(), *flags, *feats;
    struct mmdx_run_summary sum;
    struct logbuf lb;

    (void)state;
    run_cohort(dir, "warn", NULL, &sum, &lb);
    assert_int_equal(sum.ok, 2);
    assert_int_equal(sum.failed, 0);
    flags = slurp(dir, "out/flags.tsv");
    assert_non_null(strstr(flags, "P002\trecord\tdeid.identifying\t"));
    assert_non_null(strstr(flags, "PatientName (0010,0010): identifying "
                                  "(ps3.15:name)"));
    assert_non_null(strstr(flags, "Private (0029,1010): identifying "
                                  "(ps3.15:private-tag)"));
    assert_non_null(strstr(flags, "P002\trecord\tdeid.identity_removed\t"));
    assert_non_null(strstr(lb.d.s, "narrative: identifying "
                                   "(safe-harbor:free-text); value not "
                                   "shown"));
    /* warn leaves the loader's copies alone */
    feats = slurp(dir, "out/features.tsv");
    assert_non_null(strstr(feats, "P002\t119\t0\n"));
    assert_int_equal(canary_hits(dir), 0);
    assert_false(log_has_canary(&lb));
    mmdx__free(flags);
    mmdx__free(feats);
    mmdx__dstr_fini(&lb.d);
    test_rmtree(dir);
}

/* Ensure that under strip both patients go on, the loader's copies of the
 * identifying values are wiped before the feature stage sees them (the
 * non-identifying ones stay), and no canary reaches any output or log. */
static void stage__strip__values_wiped(void **state)
{
    char *dir = make_cohort(), *flags, *feats;
    struct mmdx_run_summary sum;
    struct logbuf lb;
    char want[64];

    (void)state;
    run_cohort(dir, "strip", NULL, &sum, &lb);
    assert_int_equal(sum.ok, 2);
    flags = slurp(dir, "out/flags.tsv");
    assert_non_null(strstr(flags, "P002\trecord\tdeid.stripped\t"));
    feats = slurp(dir, "out/features.tsv");
    /* P001 keeps "P001" "1971" "X" (9 chars); P002 keeps "P002" "F"
     * "ANONYMOUS" "YES" (17 chars): everything identifying is gone */
    assert_non_null(strstr(feats, "P001\t9\t0\n"));
    /* ... and the strip hook ran once per identifying field */
    snprintf(want, sizeof(want), "P002\t%d\t7\n", 4 + 1 + 9 + 3);
    if (!strstr(feats, want))
        fail_msg("features.tsv lacks \"%s\":\n%s", want, feats);
    assert_int_equal(canary_hits(dir), 0);
    assert_false(log_has_canary(&lb));
    mmdx__free(flags);
    mmdx__free(feats);
    mmdx__dstr_fini(&lb.d);
    test_rmtree(dir);
}

/* Ensure that dates_shifted, as a pipeline setting, makes dates pass. */
static void stage__dates_shifted_setting__dates_pass(void **state)
{
    char *dir = test_tmpdir(), *errors;
    struct mmdx_run_summary sum;
    struct logbuf lb;

    (void)state;
    test_write(dir, "p1.txt", "DATE\tStudyDate (0008,0020)\t20200101\n");
    test_write(dir, "manifest.tsv", "patient_id\trecord\nP001\tp1.txt\n");
    run_cohort(dir, "refuse",
               "  <setting name=\"dates_shifted\" value=\"true\"/>\n", &sum,
               &lb);
    assert_int_equal(sum.ok, 1);
    mmdx__dstr_fini(&lb.d);
    run_cohort(dir, "refuse", NULL, &sum, &lb);
    assert_int_equal(sum.failed, 1);
    errors = slurp(dir, "out/errors.tsv");
    assert_non_null(strstr(errors, "StudyDate (0008,0020): identifying "
                                   "(ps3.15:date); value not shown"));
    mmdx__free(errors);
    mmdx__dstr_fini(&lb.d);
    test_rmtree(dir);
}

static void no_feature(void *user, const char *name, double v)
{
    (void)user;
    (void)name;
    (void)v;
}

/* Ensure that a single-file run (mmdx features) warns instead of
 * refusing, and still computes the features. */
static void stage__single_file__warns(void **state)
{
    char *dir = test_tmpdir(), *pipe, *rec;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_patient_files pf;
    struct logbuf lb;

    (void)state;
    test_write(dir, "p2.txt", planted);
    pipe = write_pipeline(dir, "refuse", NULL);
    rec = mmdx__path_join(dir, "p2.txt");
    mmdx__dstr_init(&lb.d, 0);
    mmdx_ctx_set_log(ctx, log_collect, &lb, MMDX_LOG_WARN);
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    memset(&pf, 0, sizeof(pf));
    pf.record = rec;
    pf.deid_warn = 1;
    assert_int_equal(mmdx_features_files(ctx, pl, &pf, no_feature, NULL,
                                         NULL), MMDX_OK);
    assert_non_null(strstr(lb.d.s, "PatientBirthDate (0010,0030): "
                                   "identifying (ps3.15:date)"));
    assert_false(log_has_canary(&lb));
    /* without the single-file switch the gate refuses */
    mmdx_ctx_clear_error(ctx);
    pf.deid_warn = 0;
    assert_int_equal(mmdx_features_files(ctx, pl, &pf, no_feature, NULL,
                                         NULL), MMDX_E_PHI);
    mmdx_pipeline_free(pl);
    mmdx__free(pipe);
    mmdx__free(rec);
    mmdx__dstr_fini(&lb.d);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that the gate refuses to come after a stage that uses data. */
static void stage__after_features__pipeline_error(void **state)
{
    char *dir = test_tmpdir(), *p;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_stage **stages = NULL;
    size_t n = 0;

    (void)state;
    test_write(dir, "p.xml",
               "<?xml version=\"1.0\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"test.idload\"/>\n"
               "  <stage name=\"test.idfeat\"/>\n"
               "  <stage name=\"check.deid\"/>\n"
               "</pipeline>\n");
    p = mmdx__path_join(dir, "p.xml");
    assert_int_equal(mmdx_pipeline_load(ctx, p, &pl), MMDX_OK);
    assert_int_equal(mmdx__stages_new(ctx, pl, 0, &stages, &n),
                     MMDX_E_PIPELINE);
    assert_error_has(ctx, "check.deid: must come right after the loaders, "
                          "before stage \"test.idfeat\"");
    mmdx_pipeline_free(pl);
    mmdx__free(p);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that the stage fails cleanly with E_NOMEM at every allocation
 * and leaks nothing (ASan), under each policy. */
static void stage__oom_loop__nomem(void **state)
{
    static const char *const policies[] = { "refuse", "warn", "strip" };
    char *dir = test_tmpdir(), *pipe, *rec;
    size_t k;

    (void)state;
    test_write(dir, "p2.txt", planted);
    rec = mmdx__path_join(dir, "p2.txt");
    for (k = 0; k < MMDX_ARRAY_SIZE(policies); k++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_pipeline *pl = NULL;
        struct mmdx_stage **stages = NULL;
        size_t n = 0;
        unsigned long fail_at;

        pipe = write_pipeline(dir, policies[k], NULL);
        assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
        assert_int_equal(mmdx__stages_new(ctx, pl, 0, &stages, &n), MMDX_OK);
        for (fail_at = 1; fail_at < 10000; fail_at++) {
            struct mmdx_patient p;
            enum mmdx_status st;

            memset(&p, 0, sizeof(p));
            p.ctx = ctx;
            p.label = -1;
            p.id = mmdx__strdup("P002");
            p.path[MMDX_MOD_RECORD] = mmdx__strdup(rec);
            assert_non_null(p.id);
            assert_non_null(p.path[MMDX_MOD_RECORD]);
            mmdx_ctx_clear_error(ctx);
            mmdx__alloc_fail_at(fail_at);
            st = mmdx__stages_run(stages, n, &p, false);
            mmdx__alloc_fail_at(0);
            mmdx__patient_fini(&p);
            if (st != MMDX_E_NOMEM &&
                mmdx_ctx_last_error(ctx)->status != MMDX_E_NOMEM) {
                /* success: the natural outcome of the policy */
                assert_int_equal(st, k == 0 ? MMDX_E_PHI : MMDX_OK);
                break;
            }
        }
        assert_true(fail_at > 3);
        mmdx__stages_free(stages, n);
        mmdx_pipeline_free(pl);
        mmdx__free(pipe);
        mmdx_ctx_free(ctx);
    }
    mmdx__free(rec);
    test_rmtree(dir);
}

/* Ensure that under strip the record loader's parsed birth date keeps its
 * year only, and under warn stays as written (real load.record stage). */
static void stage__strip_record__birth_year_only(void **state)
{
    static const char *const policies[] = { "warn", "strip" };
    char *dir = test_tmpdir(), *pipe, *rec;
    size_t k;

    (void)state;
    test_write(dir, "r.xml",
               "<Patient xmlns=\"http://hl7.org/fhir\"><gender "
               "value=\"female\"/><birthDate value=\"1950-07-02\"/>"
               "</Patient>\n");
    rec = mmdx__path_join(dir, "r.xml");
    for (k = 0; k < MMDX_ARRAY_SIZE(policies); k++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_pipeline *pl = NULL;
        struct mmdx_stage **stages = NULL;
        struct mmdx_patient p;
        const struct mmdx_record *r;
        char text[1024];
        size_t n = 0;

        snprintf(text, sizeof(text),
                 "<?xml version=\"1.0\"?>\n"
                 "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
                 "format=\"1\">\n"
                 "  <stage name=\"load.record\"/>\n"
                 "  <stage name=\"check.deid\"><param name=\"policy\" "
                 "value=\"%s\"/></stage>\n"
                 "</pipeline>\n", policies[k]);
        test_write(dir, "p.xml", text);
        pipe = mmdx__path_join(dir, "p.xml");
        assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
        assert_int_equal(mmdx__stages_new(ctx, pl, 0, &stages, &n), MMDX_OK);
        memset(&p, 0, sizeof(p));
        p.ctx = ctx;
        p.id = mmdx__strdup("P001");
        p.path[MMDX_MOD_RECORD] = mmdx__strdup(rec);
        assert_int_equal(mmdx__stages_run(stages, n, &p, false), MMDX_OK);
        r = p.slot[MMDX_SLOT_RECORD];
        assert_non_null(r);
        assert_int_equal(r->birth.year, 1950);
        if (k == 0) {
            assert_int_equal(r->birth.prec, MMDX_DATE_DAY);
            assert_int_equal(r->birth.day, 2);
        } else {
            assert_int_equal(r->birth.prec, MMDX_DATE_YEAR);
            assert_int_equal(r->birth.month, 0);
            assert_int_equal(r->birth.day, 0);
        }
        assert_int_equal(p.nidfields, 0); /* the gate forgot the values */
        mmdx__patient_fini(&p);
        mmdx__stages_free(stages, n);
        mmdx_pipeline_free(pl);
        mmdx__free(pipe);
        mmdx_ctx_free(ctx);
    }
    mmdx__free(rec);
    test_rmtree(dir);
}

/* ---- deid-check API ----------------------------------------------------- */

struct collect {
    struct mmdx_dstr rows, errs;
};

static void on_finding(void *user, const struct mmdx_deid_finding *f)
{
    struct collect *c = user;

    mmdx__dstr_addf(&c->rows, "%s\t%s\t%s\t%s\t%s\n", f->patient_id,
                    f->modality, mmdx__path_basename(f->file), f->field,
                    f->rule);
}

static void on_error(void *user, const char *id, const char *msg)
{
    struct collect *c = user;

    mmdx__dstr_addf(&c->errs, "%s: %s\n", id, msg);
}

/* Ensure that a record whose birth year puts the patient at 96 on the
 * study date is refused under refuse (an error naming the derived field,
 * no value, no features), goes on under warn with the age feature 90 and
 * flags, and under strip loses its birth date but keeps the category
 * "90 or older" (age 90); no error, flag or log line holds the birth year
 * or the age, 96.0 years (real load.record, check.deid and
 * record.features). */
static void stage__record_age_90__each_policy(void **state)
{
    static const char *const policies[] = { "refuse", "warn", "strip" };
    char *dir = test_tmpdir(), *pipe, *rec;
    size_t k;

    (void)state;
    test_write(dir, "r.xml",
               "<Patient xmlns=\"http://hl7.org/fhir\"><gender "
               "value=\"male\"/><birthDate value=\"1925\"/>"
               "</Patient>\n");
    rec = mmdx__path_join(dir, "r.xml");
    for (k = 0; k < MMDX_ARRAY_SIZE(policies); k++) {
        struct mmdx_ctx *ctx = test_ctx();
        struct mmdx_pipeline *pl = NULL;
        struct mmdx_stage **stages = NULL;
        struct mmdx_patient p;
        const struct mmdx_record *r;
        const struct mmdx_feature *age;
        struct logbuf lb;
        char text[1024];
        size_t n = 0, i;
        bool gate_flag = false, age_flag = false;

        snprintf(text, sizeof(text),
                 "<?xml version=\"1.0\"?>\n"
                 "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
                 "format=\"1\">\n"
                 "  <stage name=\"load.record\"/>\n"
                 "  <stage name=\"check.deid\"><param name=\"policy\" "
                 "value=\"%s\"/></stage>\n"
                 "  <stage name=\"record.features\"/>\n"
                 "</pipeline>\n", policies[k]);
        test_write(dir, "p.xml", text);
        pipe = mmdx__path_join(dir, "p.xml");
        mmdx__dstr_init(&lb.d, 0);
        mmdx_ctx_set_log(ctx, log_collect, &lb, MMDX_LOG_DEBUG);
        assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
        assert_int_equal(mmdx__stages_new(ctx, pl, 0, &stages, &n), MMDX_OK);
        memset(&p, 0, sizeof(p));
        p.ctx = ctx;
        p.id = mmdx__strdup("OLD1");
        p.study_date = mmdx__strdup("2021");
        p.path[MMDX_MOD_RECORD] = mmdx__strdup(rec);
        if (k == 0) {
            assert_int_equal(mmdx__stages_run(stages, n, &p, false),
                             MMDX_E_PHI);
            assert_int_equal(p.nerrors, 2);
            assert_string_equal(p.errors[0].stage, "check.deid");
            assert_non_null(strstr(p.errors[0].message,
                                   "r.xml: Patient.birthDate (age 90 or "
                                   "over): identifying "
                                   "(safe-harbor:age-over-89); value not "
                                   "shown"));
            assert_int_equal(p.features.n, 0);
        } else {
            assert_int_equal(mmdx__stages_run(stages, n, &p, false),
                             MMDX_OK);
            assert_int_equal(p.nerrors, 0);
            age = mmdx__featset_get(&p.features, "record.demo.age_years");
            assert_non_null(age);
            assert_true(age->value == 90);
            r = p.slot[MMDX_SLOT_RECORD];
            assert_non_null(r);
            if (k == 1) {
                assert_int_equal(r->birth.prec, MMDX_DATE_YEAR);
                assert_false(r->age_90_stripped);
            } else {
                assert_int_equal(r->birth.prec, MMDX_DATE_NONE);
                assert_true(r->age_90_stripped);
            }
            for (i = 0; i < p.nflags; i++) {
                if (!strcmp(p.flags[i].code, k == 1 ? "deid.identifying"
                                                    : "deid.stripped") &&
                    strstr(p.flags[i].message,
                           "Patient.birthDate (age 90 or over)"))
                    gate_flag = true;
                if (!strcmp(p.flags[i].code, "record.demo.age_90_or_over"))
                    age_flag = true;
            }
            assert_true(gate_flag);
            assert_true(age_flag);
        }
        assert_int_equal(p.nidfields, 0);
        for (i = 0; i < p.nerrors; i++) {
            assert_null(strstr(p.errors[i].message, "1925"));
            assert_null(strstr(p.errors[i].message, "96.0"));
        }
        for (i = 0; i < p.nflags; i++) {
            assert_null(strstr(p.flags[i].message, "1925"));
            assert_null(strstr(p.flags[i].message, "96.0"));
        }
        assert_null(strstr(lb.d.s ? lb.d.s : "", "1925"));
        assert_null(strstr(lb.d.s ? lb.d.s : "", "96.0"));
        mmdx__dstr_fini(&lb.d);
        mmdx__patient_fini(&p);
        mmdx__stages_free(stages, n);
        mmdx_pipeline_free(pl);
        mmdx__free(pipe);
        mmdx_ctx_free(ctx);
    }
    mmdx__free(rec);
    test_rmtree(dir);
}

/* Ensure that deid-check reports the age of 90 or more of a manifest's
 * record (the QA case: born 1925, study_date 2021) and passes a patient
 * of 89. */
static void check_path__record_age_90__found(void **state)
{
    char *dir = test_tmpdir(), *pipe, *man;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_deid_counts n;
    struct collect c;

    (void)state;
    test_write(dir, "r.xml",
               "<?xml version=\"1.0\"?>\n<Bundle xmlns=\"http://hl7.org/"
               "fhir\"><type value=\"collection\"/><entry><fullUrl "
               "value=\"urn:uuid:p\"/><resource><Patient><id value=\"p\"/>"
               "<gender value=\"male\"/><birthDate value=\"1925\"/>"
               "</Patient></resource></entry></Bundle>\n");
    test_write(dir, "y.xml",
               "<Patient xmlns=\"http://hl7.org/fhir\"><birthDate "
               "value=\"1932\"/></Patient>\n");
    test_write(dir, "m.tsv",
               "patient_id\trecord\tstudy_date\nOLD1\tr.xml\t2021\n"
               "YNG1\ty.xml\t2021\n");
    test_write(dir, "p.xml",
               "<?xml version=\"1.0\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n  <stage name=\"load.record\"/>\n"
               "  <stage name=\"check.deid\"/>\n</pipeline>\n");
    pipe = mmdx__path_join(dir, "p.xml");
    man = mmdx__path_join(dir, "m.tsv");
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    assert_int_equal(mmdx_deid_checker_new(ctx, pl, &chk), MMDX_OK);
    mmdx__dstr_init(&c.rows, 0);
    mmdx__dstr_init(&c.errs, 0);
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, man, on_finding, on_error, &c,
                                          &n), MMDX_OK);
    assert_int_equal(n.patients, 2);
    assert_int_equal(n.findings, 1);
    assert_int_equal(n.errors, 0);
    assert_string_equal(c.rows.s,
                        "OLD1\trecord\tr.xml\tPatient.birthDate (age 90 or "
                        "over)\tsafe-harbor:age-over-89\n");
    mmdx__dstr_fini(&c.rows);
    mmdx__dstr_fini(&c.errs);
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pl);
    mmdx__free(pipe);
    mmdx__free(man);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that a manifest, a folder and a single file are checked, every
 * finding named with its rule, no value shown, unreadable inputs counted. */
static void check_path__manifest_dir_file__findings(void **state)
{
    char *dir = make_cohort(), *pipe, *sub, *p;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_deid_counts n;
    struct collect c;
    size_t i;

    (void)state;
    pipe = write_pipeline(dir, "refuse", NULL);
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    assert_int_equal(mmdx_deid_checker_new(ctx, pl, &chk), MMDX_OK);
    mmdx__dstr_init(&c.rows, 0);
    mmdx__dstr_init(&c.errs, 0);

    /* the manifest (a folder holding one) */
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, dir, on_finding, on_error, &c,
                                          &n), MMDX_OK);
    assert_int_equal(n.patients, 2);
    assert_int_equal(n.findings, 7);
    assert_int_equal(n.errors, 0);
    assert_non_null(strstr(c.rows.s, "P002\trecord\tp2.txt\t"
                                     "PatientName (0010,0010)\tps3.15:name\n"));
    assert_non_null(strstr(c.rows.s, "P002\trecord\tp2.txt\tPatient.telecom\t"
                                     "safe-harbor:telecom\n"));
    assert_null(strstr(c.rows.s, "P001"));
    for (i = 0; i < MMDX_ARRAY_SIZE(canaries); i++)
        assert_null(strstr(c.rows.s, canaries[i]));

    /* with dates declared shifted the birth date is no finding */
    mmdx_deid_checker_set_dates_shifted(chk, true);
    memset(&n, 0, sizeof(n));
    p = mmdx__path_join(dir, "manifest.tsv");
    assert_int_equal(mmdx_deid_check_path(chk, p, NULL, NULL, NULL, &n),
                     MMDX_OK);
    assert_int_equal(n.findings, 6);
    mmdx__free(p);
    mmdx_deid_checker_set_dates_shifted(chk, false);

    /* an unreadable input is counted and named */
    test_write(dir, "p3.txt", "UNREADABLE\n");
    test_write(dir, "manifest.tsv",
               "patient_id\trecord\nP003\tp3.txt\n");
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, dir, on_finding, on_error, &c,
                                          &n), MMDX_OK);
    assert_int_equal(n.errors, 1);
    assert_non_null(strstr(c.errs.s, "P003: test.idload: E_FORMAT: "));
    assert_non_null(strstr(c.errs.s, "p3.txt:1: header: marker found"));
    mmdx__free(pipe);
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pl);
    mmdx__dstr_fini(&c.rows);
    mmdx__dstr_fini(&c.errs);
    mmdx_ctx_free(ctx);
    (void)sub;
    test_rmtree(dir);
}

/* Ensure that a folder without a manifest is walked, the first-level
 * folder naming the patient, and that files of no modality are skipped. */
static void check_path__folder__walked(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *pipe, *d;
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_deid_counts n;
    struct collect c;

    (void)state;
    pipe = write_pipeline(dir, "refuse", NULL);
    d = mmdx__path_join(dir, "S1");
    assert_int_equal(mkdir(d, 0750), 0);
    mmdx__free(d);
    d = mmdx__path_join(dir, "S1/deeper");
    assert_int_equal(mkdir(d, 0750), 0);
    mmdx__free(d);
    test_write(dir, "S1/deeper/rec.xml", planted);
    test_write(dir, "S1/notes.txt", "not an input");
    test_write(dir, "top.xml", clean);
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    assert_int_equal(mmdx_deid_checker_new(ctx, pl, &chk), MMDX_OK);
    mmdx__dstr_init(&c.rows, 0);
    mmdx__dstr_init(&c.errs, 0);
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, dir, on_finding, on_error, &c,
                                          &n), MMDX_OK);
    assert_int_equal(n.patients, 2);
    assert_int_equal(n.files, 2);
    /* checked as patients "S1" and "-", neither record number (P002,
     * P001) is the pseudonym: 7 + 1 in rec.xml, 1 in top.xml */
    assert_int_equal(n.findings, 9);
    assert_non_null(strstr(c.rows.s, "S1\trecord\trec.xml\t"
                                     "PatientName (0010,0010)\tps3.15:name\n"));
    assert_non_null(strstr(c.rows.s, "-\trecord\ttop.xml\t"
                                     "PatientID (0010,0020)\tps3.15:number\n"));
    assert_string_equal(c.errs.s, "");
    mmdx__free(pipe);
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pl);
    mmdx__dstr_fini(&c.rows);
    mmdx__dstr_fini(&c.errs);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that an input no loader of the pipeline reads is reported as not
 * checked, never silently passed. */
static void check_path__no_loader__not_checked(void **state)
{
    char *dir = make_cohort(), *pipe;
    struct mmdx_ctx *ctx = test_ctx();
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_deid_counts n;
    struct collect c;

    (void)state;
    test_write(dir, "p.xml",
               "<?xml version=\"1.0\"?>\n"
               "<pipeline xmlns=\"urn:mmdx:pipeline:1\" name=\"t\" "
               "format=\"1\">\n"
               "  <stage name=\"check.deid\"/>\n"
               "</pipeline>\n");
    pipe = mmdx__path_join(dir, "p.xml");
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    assert_int_equal(mmdx_deid_checker_new(ctx, pl, &chk), MMDX_OK);
    mmdx__dstr_init(&c.rows, 0);
    mmdx__dstr_init(&c.errs, 0);
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, dir, on_finding, on_error, &c,
                                          &n), MMDX_OK);
    assert_int_equal(n.patients, 2);
    assert_int_equal(n.files, 0);
    assert_int_equal(n.findings, 0);
    assert_int_equal(n.errors, 2);
    assert_non_null(strstr(c.errs.s, "P002: deid-check: E_UNSUPPORTED: "));
    assert_non_null(strstr(c.errs.s, "p2.txt: the pipeline has no loader "
                                     "for the record modality"));
    mmdx__free(pipe);
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pl);
    mmdx__dstr_fini(&c.rows);
    mmdx__dstr_fini(&c.errs);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* Ensure that a missing path and a file of no modality are errors naming
 * the path. */
static void check_path__missing__notfound(void **state)
{
    struct mmdx_ctx *ctx = test_ctx();
    char *dir = test_tmpdir(), *pipe;
    struct mmdx_pipeline *pl = NULL;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_deid_counts n;

    (void)state;
    pipe = write_pipeline(dir, "refuse", NULL);
    assert_int_equal(mmdx_pipeline_load(ctx, pipe, &pl), MMDX_OK);
    assert_int_equal(mmdx_deid_checker_new(ctx, pl, &chk), MMDX_OK);
    memset(&n, 0, sizeof(n));
    assert_int_equal(mmdx_deid_check_path(chk, "/nonexistent/x", NULL, NULL,
                                          NULL, &n), MMDX_E_NOTFOUND);
    assert_error_has(ctx, "/nonexistent/x: deid-check: ");
    mmdx_ctx_clear_error(ctx);
    test_write(dir, "notes.txt", "nothing to see");
    {
        char *f = mmdx__path_join(dir, "notes.txt");

        assert_int_equal(mmdx_deid_check_path(chk, f, NULL, NULL, NULL, &n),
                         MMDX_E_UNSUPPORTED);
        assert_error_has(ctx, "notes.txt: deid-check: not an input of any "
                              "modality");
        mmdx__free(f);
    }
    mmdx__free(pipe);
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pl);
    mmdx_ctx_free(ctx);
    test_rmtree(dir);
}

/* ---- file modes ------------------------------------------------------------ */

static void check_modes(const char *dir, int *bad)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char *p;
        struct stat sb;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        p = mmdx__path_join(dir, de->d_name);
        assert_int_equal(lstat(p, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            if ((sb.st_mode & 07777) != MMDX_DIR_MODE) {
                fprintf(stderr, "# %s: mode %o\n", p,
                        (unsigned)(sb.st_mode & 07777));
                (*bad)++;
            }
            check_modes(p, bad);
        } else if ((sb.st_mode & 07777) != MMDX_FILE_MODE) {
            fprintf(stderr, "# %s: mode %o\n", p,
                    (unsigned)(sb.st_mode & 07777));
            (*bad)++;
        }
        mmdx__free(p);
    }
    closedir(d);
}

/* Ensure that under umask 000 every file a run creates is 0640 and every
 * folder 0750. */
static void run__umask_000__modes(void **state)
{
    char *dir = make_cohort(), *out;
    struct mmdx_run_summary sum;
    struct logbuf lb;
    mode_t old = umask(0);
    int bad = 0;

    (void)state;
    run_cohort(dir, "warn", NULL, &sum, &lb);
    umask(old);
    out = mmdx__path_join(dir, "out");
    check_modes(out, &bad);
    assert_int_equal(bad, 0);
    mmdx__free(out);
    mmdx__dstr_fini(&lb.d);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholder__values__recognised),
        cmocka_unit_test(date_precision__spellings__classified),
        cmocka_unit_test(rule__kinds__named),
        cmocka_unit_test(rule__dates__safe_harbor),
        cmocka_unit_test(rule__exceptions__not_findings),
        cmocka_unit_test(rule__age_kind__over_89),
        cmocka_unit_test(stage__refuse__fields_named_no_values),
        cmocka_unit_test(stage__warn__flags_and_goes_on),
        cmocka_unit_test(stage__strip__values_wiped),
        cmocka_unit_test(stage__dates_shifted_setting__dates_pass),
        cmocka_unit_test(stage__single_file__warns),
        cmocka_unit_test(stage__after_features__pipeline_error),
        cmocka_unit_test(stage__oom_loop__nomem),
        cmocka_unit_test(stage__strip_record__birth_year_only),
        cmocka_unit_test(check_path__manifest_dir_file__findings),
        cmocka_unit_test(check_path__folder__walked),
        cmocka_unit_test(check_path__no_loader__not_checked),
        cmocka_unit_test(check_path__missing__notfound),
        cmocka_unit_test(stage__record_age_90__each_policy),
        cmocka_unit_test(check_path__record_age_90__found),
        cmocka_unit_test(run__umask_000__modes),
    };

    return cmocka_run_group_tests_name("deid_testdriver", tests, NULL, NULL);
}
