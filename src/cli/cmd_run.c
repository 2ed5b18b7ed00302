/* cmd_run.c - `mmdx run PIPELINE --cohort MANIFEST --out DIR`. */
#include "core/common.h"
#include "cli/cli.h"

#include <unistd.h>

struct progress {
    bool bar;
    double last_s;
};

static void on_progress(void *user, size_t done, size_t total,
                        double elapsed_s)
{
    struct progress *pg = user;
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;

    if (pg->bar) {
        int width = 30, fill = total ? (int)(width * done / total) : width;

        fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f patients/s  ETA %.0fs ",
                fill, "##############################", width - fill, "",
                done, total, rate, eta);
        if (done == total)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    if (done == total || elapsed_s - pg->last_s >= 5.0) {
        pg->last_s = elapsed_s;
        fprintf(stderr, "mmdx run: %zu/%zu patients, %.1f/s, ETA %.0fs\n",
                done, total, rate, eta);
    }
}

static bool parse_shard(const char *s, unsigned *k, unsigned *n)
{
    char buf[64], *slash;
    long a, b;

    mmdx__strlcpy(buf, s, sizeof(buf));
    slash = strchr(buf, '/');
    if (!slash)
        return false;
    *slash = '\0';
    if (!mmdx__parse_long(buf, &a) || !mmdx__parse_long(slash + 1, &b) ||
        a < 0 || b < 1 || a >= b || b > 1000000)
        return false;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return true;
}

static int run_main(int argc, char **argv)
{
    struct mmdx_run_opts o;
    struct mmdx_run_summary sum;
    struct progress pg = { false, 0 };
    struct mmdx_ctx *ctx;
    char *scanned = NULL;
    bool quiet = false;
    int i;
    enum mmdx_status st;

    memset(&o, 0, sizeof(o));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--cohort") || !strcmp(a, "--out") ||
            !strcmp(a, "--jobs") || !strcmp(a, "-j") ||
            !strcmp(a, "--shard")) {
            if (i + 1 >= argc)
                return cli_usage("run", "%s needs a value", a);
            if (!strcmp(a, "--cohort")) {
                o.manifest = argv[++i];
            } else if (!strcmp(a, "--out")) {
                o.out = argv[++i];
            } else if (!strcmp(a, "--shard")) {
                if (!parse_shard(argv[++i], &o.shard_k, &o.shard_n))
                    return cli_usage("run", "--shard expects K/N with "
                                     "0 <= K < N");
            } else {
                long j;

                if (!mmdx__parse_long(argv[++i], &j) || j < 1 || j > 256)
                    return cli_usage("run", "--jobs expects 1..256");
                o.jobs = (int)j;
            }
        } else if (!strcmp(a, "--resume")) {
            o.resume = true;
        } else if (!strcmp(a, "--strict")) {
            o.strict = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (a[0] == '-') {
            return cli_usage("run", "unknown option '%s'", a);
        } else if (!o.pipeline) {
            o.pipeline = a;
        } else {
            return cli_usage("run", "unexpected argument '%s'", a);
        }
    }
    if (!o.pipeline || !o.manifest || !o.out)
        return cli_usage("run", "PIPELINE, --cohort and --out are required");
    if (quiet)
        cli_set_verbosity(0);
    ctx = cli_ctx();
    if (!o.shard_n) {
        /* Slurm job arrays: one shard per array task; an explicit --shard
         * wins over the environment */
        struct mmdx_slurm_array sa;

        mmdx_slurm_array_from_env(&sa);
        if (mmdx_slurm_shard(ctx, &sa, &o.shard_k, &o.shard_n)) {
            cli_error("run", ctx);
            mmdx_ctx_free(ctx);
            return EXIT_USAGE;
        }
    }
    if (mmdx__is_dir(o.manifest)) {
        scanned = mmdx__path_join(o.manifest, "manifest.tsv");
        if (!scanned) {
            mmdx_ctx_free(ctx);
            return EXIT_FATAL;
        }
        if (!mmdx__is_file(scanned)) {
            st = mmdx_manifest_scan(ctx, o.manifest, scanned, NULL);
            if (st && st != MMDX_E_MISMATCH) {
                cli_error("run", ctx);
                mmdx__free(scanned);
                mmdx_ctx_free(ctx);
                return EXIT_FATAL;
            }
            mmdx_ctx_clear_error(ctx);
        }
        o.manifest = scanned;
    }
    if (!quiet) {
        pg.bar = isatty(STDERR_FILENO);
        o.progress = on_progress;
        o.progress_user = &pg;
    }
    st = mmdx_run(ctx, &o, &sum);
    if (st) {
        cli_error("run", ctx);
        mmdx__free(scanned);
        mmdx_ctx_free(ctx);
        return st == MMDX_E_USAGE ? EXIT_USAGE : EXIT_FATAL;
    }
    if (!quiet)
        fprintf(stderr,
                "mmdx run: %zu patients: %zu ok, %zu partial, %zu failed, "
                "%zu resumed in %.1fs\nmmdx run: outputs in %s/ "
                "(features.tsv, errors.tsv, run.xml, patients/)\n",
                sum.total, sum.ok, sum.partial, sum.failed, sum.skipped,
                sum.seconds, o.out);
    mmdx__free(scanned);
    mmdx_ctx_free(ctx);
    return sum.failed || sum.partial ? EXIT_SOME_FAILED : EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_run = {
    "run", "run a pipeline over a cohort",
    "usage: mmdx run PIPELINE --cohort MANIFEST|DIR --out DIR [options]\n\n"
    "Runs every stage of PIPELINE on every patient of the cohort, N\n"
    "patients at a time, and writes into the output folder:\n"
    "  patients/<id>/...   per-patient outputs (features, errors, reports)\n"
    "  features.tsv        one row a patient, one column a feature, NA missing\n"
    "  errors.tsv          patient_id modality file stage code message\n"
    "  flags.tsv           data-quality flags\n"
    "  run.xml             versions, pipeline hash, SHA-256 of every input\n"
    "  risks.tsv           (a risk stage) risk, band, modality contributions\n"
    "  index.html          (the report stage) cohort overview; each patient's\n"
    "                      report.html, report.xml, report.tsv in patients/<id>/\n"
    "A failing modality is an errors.tsv row; the patient goes on with the\n"
    "rest. Every file is written to a temporary name and renamed.\n"
    "Manifest paths are relative to its folder and may not leave it. A\n"
    "row's problem fails that patient only (errors.tsv, stage manifest):\n"
    "a missing, absolute, \"..\" or linked-out path makes that modality\n"
    "missing; a bad label, split or study_date fails the patient. Only a\n"
    "manifest unreadable as a whole (header, cell count, patient_id,\n"
    "duplicates) is fatal.\n\n"
    "options:\n"
    "  --jobs N       workers (default: all cores)\n"
    "  --resume       skip patients whose outputs match their inputs\n"
    "  --strict       any error fails the patient\n"
    "  --shard K/N    run rows K, K+N, K+2N... (in a Slurm array task\n"
    "                 without --shard: N = SLURM_ARRAY_TASK_COUNT,\n"
    "                 K = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /\n"
    "                 SLURM_ARRAY_TASK_STEP, so --array=0-3, 1-4 and\n"
    "                 0-6:2 all run shards 0..3; other arrays are a usage\n"
    "                 error, never a whole-cohort run)\n"
    "  --quiet        no progress on stderr\n"
    "A folder as cohort is scanned into DIR/manifest.tsv when it has none.\n"
    "exit status: 0 all ok, 1 fatal, 2 usage, 3 some patients failed or\n"
    "partial.\n",
    run_main
};
