/* cmd_train.c - `mmdx train`: learn a fusion model from a feature table
 * and labels. */
#include "core/common.h"
#include "cli/cli.h"

static void show_progress(void *user, const struct mmdx_fusion_progress *p)
{
    char a[32], b[32], c[32], d[32];

    MMDX_UNUSED(user);
    fprintf(stderr,
            "mmdx train: epoch %3u  loss %s  align %s  valid loss %s  "
            "valid AUROC %s  %.2f s (cpu %.2f s)%s\n",
            p->epoch, mmdx__fmt_double(p->train_loss, a),
            mmdx__fmt_double(p->align_loss, b),
            mmdx__fmt_double(p->valid_loss, c),
            mmdx__fmt_double(p->valid_auroc, d), p->seconds, p->cpu_seconds,
            p->best ? "  *" : "");
}

/* Parse a number option value; false on junk or out of [lo, hi]. */
static bool num_arg(const char *s, double lo, double hi, double *out)
{
    return mmdx__parse_double(s, out) && *out >= lo && *out <= hi;
}

static int train_main(int argc, char **argv)
{
    struct mmdx_fusion_train_opts o;
    struct mmdx_fusion_summary sum;
    struct mmdx_ctx *ctx;
    const char *features = NULL, *labels = NULL, *out = NULL;
    bool quiet = false;
    int i;
    enum mmdx_status st;

    mmdx_fusion_train_opts_init(&o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;

        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
            continue;
        }
        if (a[0] != '-' || !v)
            return cli_usage("train", "unexpected argument '%s'", a);
        i++;
        if (!strcmp(a, "--features"))
            features = v;
        else if (!strcmp(a, "--labels"))
            labels = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            out = v;
        else if (!strcmp(a, "--arch"))
            o.arch = v;
        else if (!strcmp(a, "--pool"))
            o.pool = v;
        else if (!strcmp(a, "--seed") && num_arg(v, 0, 9007199254740992.0, &d))
            o.seed = (uint64_t)d;
        else if (!strcmp(a, "--epochs") && num_arg(v, 1, 100000, &d))
            o.epochs = (unsigned)d;
        else if (!strcmp(a, "--patience") && num_arg(v, 1, 100000, &d))
            o.patience = (unsigned)d;
        else if (!strcmp(a, "--batch") && num_arg(v, 2, 4096, &d))
            o.batch = (unsigned)d;
        else if (!strcmp(a, "--lr") && num_arg(v, 1e-8, 10, &d))
            o.lr = d;
        else if (!strcmp(a, "--weight-decay") && num_arg(v, 0, 1, &d))
            o.weight_decay = d;
        else if (!strcmp(a, "--align") && num_arg(v, 0, 100, &d))
            o.align_weight = d;
        else if (!strcmp(a, "--temperature") && num_arg(v, 1e-3, 100, &d))
            o.temperature = d;
        else if (!strcmp(a, "--modality-dropout") && num_arg(v, 0, 0.95, &d))
            o.mod_dropout = d;
        else if (!strcmp(a, "--interactions") && num_arg(v, 0, 1, &d))
            o.interactions = (int)d;
        else if (!strcmp(a, "--l1") && num_arg(v, 0, 10, &d))
            o.l1 = d;
        else if (!strcmp(a, "--ema") && num_arg(v, 0, 0.9999, &d))
            o.ema = d;
        else if (!strcmp(a, "--valid-frac") && num_arg(v, 0.01, 0.5, &d))
            o.valid_frac = d;
        else if (!strcmp(a, "--test-frac") && num_arg(v, 0, 0.5, &d))
            o.test_frac = d;
        else if (!strcmp(a, "--hidden") && num_arg(v, 0, 4096, &d))
            o.hidden = (unsigned)d;
        else if (!strcmp(a, "--embed") && num_arg(v, 1, 4096, &d))
            o.embed = (unsigned)d;
        else if (!strcmp(a, "--head-hidden") && num_arg(v, 1, 4096, &d))
            o.head_hidden = (unsigned)d;
        else
            return cli_usage("train", "unknown option or bad value: %s %s",
                             a, v);
    }
    if (!features || !labels || !out)
        return cli_usage("train", "--features, --labels and --out are "
                                  "required");
    ctx = cli_ctx();
    st = mmdx_fusion_train(ctx, features, labels, out, &o,
                           quiet ? NULL : show_progress, NULL, &sum);
    if (st) {
        cli_error("train", ctx);
        mmdx_ctx_free(ctx);
        return st == MMDX_E_INVAL ? EXIT_USAGE : EXIT_FATAL;
    }
    {
        char a[32], b[32], c[32];
        const char *vs = mmdx__fmt_double(sum.auroc_valid, b),
                   *ts = mmdx__fmt_double(sum.auroc_test, c);

        fprintf(stderr,
                "mmdx train: %s: %zu train, %zu valid, %zu test patients "
                "(%zu unlabelled rows, %zu labelled without features); "
                "best epoch %u of %u; AUROC train %s valid %s test %s; "
                "read %.3f s (cpu %.3f s), train %.3f s (cpu %.3f s)\n",
                out, sum.n_train, sum.n_valid, sum.n_test, sum.n_unlabelled,
                sum.n_no_features, sum.best_epoch, sum.epochs,
                mmdx__fmt_double(sum.auroc_train, a), vs, ts,
                sum.read_seconds, sum.read_cpu_seconds, sum.train_seconds,
                sum.train_cpu_seconds);
        printf("model\t%s\nsha256\t%s\nauroc_valid\t%s\nauroc_test\t%s\n",
               out, sum.model_sha256, vs, ts);
    }
    mmdx_ctx_free(ctx);
    return EXIT_ALL_OK;
}

const struct cli_cmd cli_cmd_train = {
    "train", "learn a fused risk model from features and labels",
    "usage: mmdx train --features FEATURES.tsv --labels LABELS.tsv\n"
    "                  --out MODEL.mmdx [options]\n\n"
    "FEATURES.tsv is a feature table as written by 'mmdx run' (patient_id,\n"
    "then one column per feature named modality.family.name, NA missing);\n"
    "a feature's modality is its name's first part, and a modality is\n"
    "missing for a patient when all its features are NA. LABELS.tsv is any\n"
    "TSV with patient_id and label (0/1, empty = unknown) columns and\n"
    "optionally split (train/valid/test; test rows are never used for\n"
    "training; rows without a split count as train). Without a split\n"
    "column a seeded stratified split is drawn.\n\n"
    "The model standardises each feature robustly (median, IQR), encodes\n"
    "each modality with a small MLP into a shared embedding, fuses the\n"
    "modalities present (masked mean or attention pooling) and predicts\n"
    "with an MLP head; it is trained with class-weighted BCE plus a\n"
    "cross-modal contrastive alignment term and modality dropout (Adam,\n"
    "mini-batches, weight decay, early stopping on validation AUROC), then\n"
    "Platt-calibrated on the validation split. Training is deterministic\n"
    "for a seed: the same inputs give the same model file bit for bit.\n\n"
    "options:\n"
    "  --arch A            joint (default), early (logistic regression on\n"
    "                      all features), late (per-modality MLP logits\n"
    "                      averaged) or single:MODALITY\n"
    "  --pool P            mean (default) or attention (joint only)\n"
    "  --seed S            random seed (default 1)\n"
    "  --epochs N          maximum epochs (60)\n"
    "  --patience N        stop after N epochs without gain (5)\n"
    "  --batch N           mini-batch size (256)\n"
    "  --lr X              Adam step size (0.01)\n"
    "  --weight-decay X    decoupled weight decay (0.05)\n"
    "  --l1 X              L1 penalty on encoder input weights (0.001)\n"
    "  --ema X             Polyak averaging of weights, 0 = off (0.99)\n"
    "  --interactions 0|1  joint: head also sees cross-modal products (1)\n"
    "  --align X           weight of the alignment term (0.05)\n"
    "  --temperature X     contrastive temperature (0.2)\n"
    "  --modality-dropout X  probability of dropping a modality (0.15)\n"
    "  --valid-frac X --test-frac X  split shares without a split (0.15)\n"
    "  --hidden N --embed N --head-hidden N  widths (0, 8, 32);\n"
    "                      --hidden 0 (the default) makes the encoders\n"
    "                      linear, N > 0 gives them a hidden layer\n"
    "  --quiet             no per-epoch progress on stderr\n\n"
    "Prints model, sha256, auroc_valid and auroc_test lines on stdout.\n",
    train_main
};
