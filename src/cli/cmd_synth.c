/* cmd_synth.c - `mmdx synth`: generate a synthetic de-identified cohort. */
#include "core/common.h"
#include "cli/cli.h"
#include "mmdx/synth.h"

#include <time.h>

static int num_arg(const char *opt, const char *v, double lo, double hi,
                   double *out)
{
    if (!v || !mmdx__parse_double(v, out) || *out < lo || *out > hi) {
        cli_usage("synth", "%s needs a number within %g..%g", opt, lo, hi);
        return -1;
    }
    return 0;
}

static int synth_main(int argc, char **argv)
{
    struct mmdx_synth_opts o;
    struct mmdx_synth_summary s;
    struct mmdx_ctx *ctx;
    struct timespec t0, t1;
    enum mmdx_status st;
    double v, secs;
    int i, quiet = 0;

    mmdx_synth_opts_init(&o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

#define NUM(name, lo, hi, dst, cast)                                         \
        if (!strcmp(a, name)) {                                              \
            if (num_arg(name, val, lo, hi, &v))                              \
                return EXIT_USAGE;                                           \
            dst = (cast)v;                                                   \
            i++;                                                             \
            continue;                                                        \
        }
        NUM("--n", 1, 10000000, o.n, size_t)
        NUM("--seed", 0, 9007199254740991.0, o.seed, uint64_t)
        NUM("--missing-rate", 0, 0.9, o.missing_rate, double)
        NUM("--plant-broken", 0, 10000000, o.plant_broken, size_t)
        NUM("--ecg-seconds", 10, 600, o.ecg_seconds, double)
        NUM("--eeg-seconds", 4, 300, o.eeg_seconds, double)
        NUM("--image-slices", 1, 16, o.image_slices, int)
        NUM("--image-size", 64, 512, o.image_size, int)
        NUM("--mc", 100, 10000000, o.mc_samples, size_t)
        NUM("--jobs", 1, 256, o.jobs, int)
#undef NUM
        if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (!val)
                return cli_usage("synth", "--out needs a folder");
            o.out_dir = val;
            i++;
        } else if (!strcmp(a, "--plant-phi")) {
            o.plant_phi = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else {
            return cli_usage("synth", "unknown argument '%s'", a);
        }
    }
    if (!o.out_dir)
        return cli_usage("synth", "--out DIR is required");
    if (o.plant_broken > o.n)
        return cli_usage("synth", "--plant-broken exceeds --n");
    ctx = cli_ctx();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = mmdx_synth_run(ctx, &o, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st) {
        cli_error("synth", ctx);
        mmdx_ctx_free(ctx);
        return EXIT_FATAL;
    }
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!quiet) {
        printf("patients\t%zu\n", s.patients);
        printf("positives\t%zu\n", s.positives);
        printf("files\t%zu\n", s.files);
        printf("images\t%s\n", s.have_image ? "dicom"
                                            : "none (no DICOM writer built in)");
        printf("broken_files\t%zu\n", s.broken);
        printf("canaries\t%zu\n", s.canaries);
        printf("model_prevalence\t%.4f\n", s.auroc.prevalence);
        printf("auroc_bayes_all\t%.4f\n", s.auroc.bayes_all);
        printf("auroc_bayes_with_missing\t%.4f\n", s.auroc.bayes_missing);
        printf("auroc_image_alone\t%.4f\n", s.auroc.image);
        printf("auroc_ecg_alone\t%.4f\n", s.auroc.ecg);
        printf("auroc_eeg_alone\t%.4f\n", s.auroc.eeg);
        printf("auroc_record_alone\t%.4f\n", s.auroc.record);
        printf("seconds\t%.2f\n", secs);
        printf("patients_per_second\t%.1f\n",
               secs > 0 ? (double)s.patients / secs : 0.0);
    }
    mmdx_ctx_free(ctx);
    return EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_synth = {
    "synth", "generate a synthetic de-identified cohort (stroke risk)",
    "usage: mmdx synth --n N --seed S --out DIR [--missing-rate R]\n"
    "                  [--plant-broken K] [--plant-phi] [--jobs J]\n"
    "                  [--ecg-seconds S] [--eeg-seconds S]\n"
    "                  [--image-slices K] [--image-size PX] [--mc M]\n\n"
    "Writes N synthetic patients into DIR, one folder each: CT slices\n"
    "(DICOM, some RLE or JPEG-LS), an ECG (WFDB .hea/.dat/.atr or EDF+),\n"
    "an EEG (19-channel 10-20 EDF/EDF+) and a record (FHIR R4 XML bundle\n"
    "or C-CDA), plus DIR/manifest.tsv for `mmdx run` and DIR/truth.tsv\n"
    "(label, true risk, latent factors, per-modality ideal scores, true\n"
    "R peaks), which pipelines must not read. The label is stroke risk\n"
    "from the model in docs/synth-model.md; the Bayes-optimal AUROC and\n"
    "what each modality alone could reach are printed (Monte Carlo over\n"
    "--mc model patients, default 20000). Output depends on the seed\n"
    "only: the same seed gives the same bytes, whatever --jobs.\n\n"
    "  --missing-rate R   drop each modality with probability R (0..0.9);\n"
    "                     every patient keeps at least its record\n"
    "  --plant-broken K   break one file of K patients: truncated, corrupt\n"
    "                     header, XML not well-formed (listed in truth.tsv)\n"
    "  --plant-phi        put a unique CANARY-<kind>-<patient>-<n> string in\n"
    "                     every identifying field (and full dates), listed\n"
    "                     in DIR/canaries.tsv; default: no names, birth\n"
    "                     year only, EDF patient field \"X X X X\"\n",
    synth_main
};
