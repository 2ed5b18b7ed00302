/* cmd_features.c - `mmdx features FILE...`: one patient's features. */
#include "core/common.h"
#include "cli/cli.h"

static void print_feature(void *user, const char *name, double value)
{
    char num[32];

    MMDX_UNUSED(user);
    printf("%s\t%s\n", name, mmdx__fmt_double(value, num));
}

static void print_err(void *user, const char *line)
{
    int *nerr = user;

    (*nerr)++;
    fprintf(stderr, "mmdx features: %s\n", line);
}

static int features_main(int argc, char **argv)
{
    struct mmdx_patient_files pf;
    struct mmdx_pipeline *pipe = NULL;
    struct mmdx_ctx *ctx;
    const char *pipeline = NULL;
    char *defpipe = NULL;
    int i, nfiles = 0, nerr = 0, rc = EXIT_ALL_OK;
    enum mmdx_status st;

    memset(&pf, 0, sizeof(pf));
    pf.deid_warn = 1; /* one patient at hand: name identifying fields, go on */
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pipeline") || !strcmp(argv[i], "-p")) {
            if (++i >= argc)
                return cli_usage("features", "--pipeline needs a file");
            pipeline = argv[i];
        } else if (!strcmp(argv[i], "--mask")) {
            if (++i >= argc)
                return cli_usage("features", "--mask needs a file");
            pf.mask = argv[i];
        } else if (!strcmp(argv[i], "--mask-label")) {
            if (++i >= argc || !argv[i][0])
                return cli_usage("features", "--mask-label needs a label "
                                 "number or a segment label");
            pf.mask_label = argv[i];
        } else if (!strcmp(argv[i], "--mask-resample")) {
            pf.mask_resample = 1;
        } else if (!strcmp(argv[i], "--study-date")) {
            if (++i >= argc)
                return cli_usage("features", "--study-date needs a date");
            pf.study_date = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("features", "unknown option '%s'", argv[i]);
        }
    }
    ctx = cli_ctx();
    for (i = 1; i < argc; i++) {
        enum mmdx_format fmt;
        const char *mod, **slot = NULL;

        if (!strcmp(argv[i], "--pipeline") || !strcmp(argv[i], "-p") ||
            !strcmp(argv[i], "--mask") || !strcmp(argv[i], "--mask-label") ||
            !strcmp(argv[i], "--study-date")) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--mask-resample"))
            continue;
        mod = mmdx_detect_modality(ctx, argv[i], &fmt);
        if (!mod) {
            if (!mmdx__ctx_has_error(ctx))
                mmdx__fail(ctx, MMDX_E_UNSUPPORTED, "detect", argv[i], 0,
                           NULL, "not an input of any modality");
            cli_error("features", ctx);
            mmdx_ctx_free(ctx);
            return EXIT_FATAL;
        }
        if (!strcmp(mod, "image"))
            slot = &pf.image;
        else if (!strcmp(mod, "ecg"))
            slot = &pf.ecg;
        else if (!strcmp(mod, "eeg"))
            slot = &pf.eeg;
        else
            slot = &pf.record;
        if (*slot) {
            fprintf(stderr, "mmdx features: %s and %s are both %s inputs; "
                    "one patient has one of each\n", *slot, argv[i], mod);
            mmdx_ctx_free(ctx);
            return EXIT_USAGE;
        }
        *slot = argv[i];
        nfiles++;
    }
    if (pf.mask_label && !pf.mask) {
        mmdx_ctx_free(ctx);
        return cli_usage("features", "--mask-label needs --mask");
    }
    if (pf.mask_resample && !pf.mask) {
        mmdx_ctx_free(ctx);
        return cli_usage("features", "--mask-resample needs --mask");
    }
    if (!nfiles) {
        mmdx_ctx_free(ctx);
        return cli_usage("features", "no input file given");
    }
    if (!pipeline) {
        defpipe = cli_default_pipeline(ctx);
        pipeline = defpipe;
    }
    st = pipeline ? mmdx_pipeline_load(ctx, pipeline, &pipe) : MMDX_E_NOMEM;
    if (st) {
        cli_error("features", ctx);
        rc = EXIT_FATAL;
        goto out;
    }
    st = mmdx_features_files(ctx, pipe, &pf, print_feature, print_err, &nerr);
    if (st && !nerr) {
        /* nothing ran: a stage refused the pipeline's parameters */
        cli_error("features", ctx);
        rc = EXIT_FATAL;
    } else if (st) {
        rc = EXIT_SOME_FAILED;
    }
out:
    mmdx_pipeline_free(pipe);
    mmdx__free(defpipe);
    mmdx_ctx_free(ctx);
    return rc;
}

const struct cli_cmd cli_cmd_features = {
    "features", "print the features of one patient's files",
    "usage: mmdx features [--pipeline P] [--mask MASK [--mask-label L]\n"
    "                     [--mask-resample]] [--study-date D] FILE...\n\n"
    "Runs the feature stages of pipeline P (default: pipelines/default.xml)\n"
    "on one patient's inputs - at most one per modality, each detected by\n"
    "content - and prints one 'name<TAB>value' line per feature, sorted by\n"
    "name, NA where a value cannot be computed. A modality that fails is\n"
    "reported on stderr and the others still print (exit status 3; also\n"
    "when a stage finds its parameters unfit for this input); a pipeline\n"
    "whose parameters no stage accepts at all stops it (status 1).\n"
    "Identifying fields (check.deid) are named on stderr; the features\n"
    "still print.\n"
    "  --mask MASK       region of interest for the image: DICOM SEG or mask\n"
    "                    image, NIfTI-1 (.nii/.nii.gz) or DICOM RTSTRUCT (first\n"
    "                    ROI, or load.image's mask_roi)\n"
    "  --mask-label L    multi-label masks: use label L (NIfTI-1 or DICOM\n"
    "                    label image: the voxels equal to L) or DICOM SEG\n"
    "                    segment L (SegmentNumber or SegmentLabel); a mask\n"
    "                    with several labels is refused without it\n"
    "  --mask-resample   a mask on another grid (oblique, other voxel size,\n"
    "                    offset centres) is resampled onto the image by\n"
    "                    nearest neighbour instead of refused (load.image's\n"
    "                    mask_resample=\"nearest\"; flag image.mask.resampled)\n"
    "  --study-date D    reference date for ages (YYYY[-MM[-DD]]); an age\n"
    "                    of 90 or more prints as 90 (Safe Harbor) and is\n"
    "                    named on stderr\n",
    features_main
};
