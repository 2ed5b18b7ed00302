/* cmd_deid_check.c - `mmdx deid-check`: identifying fields in a cohort,
 * named, never shown. */
#include "core/common.h"
#include "cli/cli.h"

/* Tabs and newlines would break the row (file and field names only). */
static void put_cell(const char *s, int sep)
{
    for (; s && *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
    putchar(sep);
}

static void print_finding(void *user, const struct mmdx_deid_finding *f)
{
    MMDX_UNUSED(user);
    put_cell(f->patient_id, '\t');
    put_cell(f->modality, '\t');
    put_cell(f->file, '\t');
    put_cell(f->field, '\t');
    put_cell(f->rule, '\n');
}

static void print_error(void *user, const char *patient_id,
                        const char *message)
{
    MMDX_UNUSED(user);
    fflush(stdout);
    fprintf(stderr, "mmdx deid-check: %s: not checked: %s\n", patient_id,
            message);
}

static int deid_check_main(int argc, char **argv)
{
    struct mmdx_deid_counts counts;
    struct mmdx_deid_checker *chk = NULL;
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_ctx *ctx;
    const char *pipeline = NULL;
    char *defpipe = NULL;
    bool shifted = false, quiet = false;
    int i, ninputs = 0, rc = EXIT_ALL_OK;
    enum mmdx_status st;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pipeline") || !strcmp(argv[i], "-p")) {
            if (++i >= argc)
                return cli_usage("deid-check", "--pipeline needs a file");
            pipeline = argv[i];
        } else if (!strcmp(argv[i], "--dates-shifted")) {
            shifted = true;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("deid-check", "unknown option '%s'", argv[i]);
        } else {
            ninputs++;
        }
    }
    if (!ninputs)
        return cli_usage("deid-check", "no manifest, folder or file given");
    if (quiet)
        cli_set_verbosity(0);
    ctx = cli_ctx();
    if (!pipeline) {
        defpipe = cli_default_pipeline(ctx);
        pipeline = defpipe;
    }
    st = pipeline ? mmdx_pipeline_load(ctx, pipeline, &pipe) : MMDX_E_NOMEM;
    if (!st)
        st = mmdx_deid_checker_new(ctx, pipe, &chk);
    if (st) {
        cli_error("deid-check", ctx);
        rc = EXIT_FATAL;
        goto out;
    }
    if (shifted)
        mmdx_deid_checker_set_dates_shifted(chk, true);
    memset(&counts, 0, sizeof(counts));
    fputs("patient_id\tmodality\tfile\tfield\trule\n", stdout);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pipeline") || !strcmp(argv[i], "-p")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        mmdx_ctx_clear_error(ctx);
        st = mmdx_deid_check_path(chk, argv[i], print_finding, print_error,
                                  NULL, &counts);
        if (st == MMDX_E_NOMEM) {
            cli_error("deid-check", ctx);
            rc = EXIT_FATAL;
            goto out;
        }
        if (st) {
            fflush(stdout);
            cli_error("deid-check", ctx);
            counts.errors++;
        }
    }
    fflush(stdout);
    if (!quiet)
        fprintf(stderr, "mmdx deid-check: %zu patient%s, %zu input%s "
                "checked: %zu identifying field%s, %zu input%s not "
                "checked\n", counts.patients,
                counts.patients == 1 ? "" : "s", counts.files,
                counts.files == 1 ? "" : "s", counts.findings,
                counts.findings == 1 ? "" : "s", counts.errors,
                counts.errors == 1 ? "" : "s");
    if (counts.findings || counts.errors)
        rc = EXIT_SOME_FAILED;
out:
    mmdx_deid_checker_free(chk);
    mmdx_pipeline_free(pipe);
    mmdx__free(defpipe);
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_deid_check = {
    "deid-check", "list identifying fields in a cohort, never their values",
    "usage: mmdx deid-check [--pipeline P] [--dates-shifted] [--quiet]\n"
    "                       MANIFEST|DIR|FILE...\n\n"
    "Loads every input with the loaders of pipeline P (default:\n"
    "pipelines/default.xml) and applies the rules of its check.deid stage:\n"
    "DICOM PS3.15 Annex E (basic profile, BurnedInAnnotation, private tags)\n"
    "and HIPAA Safe Harbor (names, addresses, telecom, record numbers, dates\n"
    "finer than a year, ages over 89 - DICOM PatientAge or the age a\n"
    "record's birth date gives at the study_date -, free text). See\n"
    "docs/privacy.md.\n"
    "Prints one TSV row per identifying field, after a header line:\n"
    "  patient_id  modality  file  field  rule\n"
    "never the value. A folder with a manifest.tsv is checked as that\n"
    "cohort; any other folder is searched for input files (the first-level\n"
    "sub-folder names the patient); a single file is checked alone.\n"
    "  --dates-shifted   dates were shifted: they are not identifying\n"
    "  --quiet           no summary on stderr\n"
    "exit status: 0 nothing found, 1 fatal, 2 usage, 3 identifying fields\n"
    "found or inputs that could not be read (named on stderr).\n",
    deid_check_main
};
