/* cmd_validate.c - `mmdx validate --model M --cohort MANIFEST --out DIR`. */
#include "core/common.h"
#include "cli/cli.h"

/* A metric with 4 decimals, "NA" when it could not be computed. */
static const char *num(double v, char *buf)
{
    if (!isfinite(v))
        return "NA";
    snprintf(buf, 32, "%.4f", v);
    return buf;
}

static int validate_main(int argc, char **argv)
{
    char b[3][32];
    struct mmdx_validate_opts o;
    struct mmdx_metrics m;
    struct mmdx_ctx *ctx;
    int i;
    enum mmdx_status st;

    mmdx_validate_opts_init(&o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--all")) {
            o.all_rows = 1;
            continue;
        }
        if (a[0] != '-')
            return cli_usage("validate", "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage("validate", "%s needs a value", a);
        if (!strcmp(a, "--model")) {
            o.model = argv[++i];
        } else if (!strcmp(a, "--cohort")) {
            o.manifest = argv[++i];
        } else if (!strcmp(a, "--features")) {
            o.features = argv[++i];
        } else if (!strcmp(a, "--pipeline")) {
            o.pipeline = argv[++i];
        } else if (!strcmp(a, "--out")) {
            o.out = argv[++i];
        } else if (!strcmp(a, "--threshold")) {
            if (!mmdx__parse_double(argv[++i], &o.threshold) ||
                o.threshold < 0 || o.threshold > 1)
                return cli_usage("validate", "--threshold expects 0..1");
        } else if (!strcmp(a, "--boot")) {
            long n;

            if (!mmdx__parse_long(argv[++i], &n) || n < 0 || n > 100000)
                return cli_usage("validate", "--boot expects 0..100000");
            o.n_boot = (unsigned)n;
        } else if (!strcmp(a, "--seed")) {
            long s;

            if (!mmdx__parse_long(argv[++i], &s) || s < 0)
                return cli_usage("validate", "--seed expects a number >= 0");
            o.seed = (uint64_t)s;
        } else if (!strcmp(a, "--jobs") || !strcmp(a, "-j")) {
            long j;

            if (!mmdx__parse_long(argv[++i], &j) || j < 1 || j > 256)
                return cli_usage("validate", "--jobs expects 1..256");
            o.jobs = (int)j;
        } else {
            return cli_usage("validate", "unknown option '%s'", a);
        }
    }
    if (!o.model || !o.manifest || !o.out)
        return cli_usage("validate", "--model, --cohort and --out are "
                         "required");
    ctx = cli_ctx();
    st = mmdx_validate(ctx, &o, &m);
    if (st) {
        cli_error("validate", ctx);
        mmdx_ctx_free(ctx);
        return st == MMDX_E_USAGE ? EXIT_USAGE : EXIT_FATAL;
    }
    printf("n\t%zu\nn_pos\t%zu\n", m.n, m.n_pos);
    printf("auroc\t%s\t[%s, %s] DeLong\n", num(m.auroc, b[0]),
           num(m.auroc_lo, b[1]), num(m.auroc_hi, b[2]));
    printf("auprc\t%s\t[%s, %s] bootstrap %u\n", num(m.auprc, b[0]),
           num(m.auprc_lo, b[1]), num(m.auprc_hi, b[2]), m.n_boot);
    printf("brier\t%s\ncalibration_intercept\t%s\n", num(m.brier, b[0]),
           num(m.cal_intercept, b[1]));
    printf("calibration_slope\t%s\nece_10bins\t%s\n",
           num(m.cal_slope, b[0]), num(m.ece, b[1]));
    printf("threshold\t%s\nsensitivity\t%s\nspecificity\t%s\n",
           num(m.at.threshold, b[0]), num(m.at.sensitivity, b[1]),
           num(m.at.specificity, b[2]));
    printf("ppv\t%s\nnpv\t%s\n", num(m.at.ppv, b[0]), num(m.at.npv, b[1]));
    fprintf(stderr, "mmdx validate: %s/validation.html\n", o.out);
    mmdx_ctx_free(ctx);
    return EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_validate = {
    "validate",
    "metrics, plots, modality ablation and model card of a model on a "
    "labelled cohort",
    "usage: mmdx validate --model MODEL --cohort MANIFEST --out DIR\n"
    "                     [--features FEATURES.tsv] [--pipeline P]\n"
    "                     [--threshold T] [--boot N] [--seed S] [--all]\n"
    "                     [--jobs J]\n\n"
    "Applies MODEL to the labelled patients of MANIFEST (only its\n"
    "split=test rows when it has any, unless --all) and writes\n"
    "DIR/validation.html (AUROC with a DeLong 95% CI, AUPRC with a\n"
    "percentile-bootstrap 95% CI, Brier score, calibration intercept and\n"
    "slope, ECE over 10 bins, sensitivity/specificity/PPV/NPV at the\n"
    "operating threshold, ROC and reliability plots, modality ablation:\n"
    "each modality alone, all but one, all; a model card), plus\n"
    "validation.tsv, ablation.tsv and predictions.tsv. Features come from\n"
    "--features (features.tsv of `mmdx run`) or from running the\n"
    "pipeline (default: pipelines/default.xml) into DIR/run.\n"
    "The threshold defaults to the model's low/moderate band boundary.\n",
    validate_main
};
