/* cmd_predict.c - `mmdx predict`: apply a fusion model to a feature
 * table; `mmdx predict --describe MODEL` prints what a model holds. */
#include "core/common.h"
#include "cli/cli.h"

static void emit(void *user, const char *key, const char *value)
{
    MMDX_UNUSED(user);
    printf("%s\t%s\n", key, value);
}

static int predict_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    const char *model = NULL, *features = NULL, *out = NULL, *top = NULL;
    const char *labels = NULL, *split = NULL;
    bool describe = false;
    size_t n = 0;
    int i;
    enum mmdx_status st;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--describe")) {
            describe = true;
            continue;
        }
        if (!v)
            return cli_usage("predict", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            model = v;
        else if (!strcmp(a, "--features"))
            features = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            out = v;
        else if (!strcmp(a, "--top"))
            top = v;
        else if (!strcmp(a, "--labels"))
            labels = v;
        else if (!strcmp(a, "--split"))
            split = v;
        else
            return cli_usage("predict", "unknown option '%s'", a);
    }
    if (!model)
        return cli_usage("predict", "--model is required");
    if (!describe && (!features || !out))
        return cli_usage("predict", "--features and --out are required");
    ctx = cli_ctx();
    if (describe)
        st = mmdx_fusion_model_describe(ctx, model, emit, NULL);
    else
        st = mmdx_fusion_predict(ctx, model, features, out, top, &n);
    if (st) {
        cli_error("predict", ctx);
        mmdx_ctx_free(ctx);
        return EXIT_FATAL;
    }
    if (!describe)
        fprintf(stderr, "mmdx predict: %zu patients -> %s\n", n, out);
    if (!describe && labels) {
        double auc;
        size_t k, na;
        char num[32];

        st = mmdx_fusion_evaluate(ctx, out, labels, split, &auc, &k, &na);
        if (st) {
            cli_error("predict", ctx);
            mmdx_ctx_free(ctx);
            return EXIT_FATAL;
        }
        printf("auroc\t%s\npatients\t%zu\nno_risk\t%zu\n",
               mmdx__fmt_double(auc, num), k, na);
    }
    mmdx_ctx_free(ctx);
    return EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_predict = {
    "predict", "apply a fused risk model to a feature table",
    "usage: mmdx predict --model MODEL.mmdx --features FEATURES.tsv\n"
    "                    --out RISKS.tsv [--top TOP.tsv]\n"
    "                    [--labels LABELS.tsv [--split test|valid|train|all]]\n"
    "       mmdx predict --model MODEL.mmdx --describe\n\n"
    "Writes RISKS.tsv: patient_id, risk (Platt-calibrated probability),\n"
    "risk_band (low/moderate/high; bands at half and twice the training\n"
    "prevalence; 'none' when no modality of the model is present), then\n"
    "contrib_image, contrib_ecg, contrib_eeg, contrib_record (and any other\n"
    "modality of the model): the exact leave-modality-out contribution,\n"
    "risk with all present modalities minus risk without that one (NA when\n"
    "the modality is absent). --top writes each patient's 10 strongest\n"
    "features by gradient x (input - training median) on the logit.\n"
    "The table must hold exactly the model's features (columns of a\n"
    "modality the model does not use are ignored); otherwise the error\n"
    "names the features that differ. The table is streamed, so any size\n"
    "can be scored. With --labels, prints the AUROC of the written risks\n"
    "over the labelled test rows (or --split; all rows without a split\n"
    "column) as auroc, patients and no_risk lines on stdout.\n"
    "--describe prints the model's architecture,\n"
    "normalisation size, calibration and training provenance.\n",
    predict_main
};
