/* cmd_merge.c - `mmdx merge --out DIR SHARD...`: join shard runs. */
#include "core/common.h"
#include "cli/cli.h"

static int merge_main(int argc, char **argv)
{
    const char **dirs;
    const char *out = NULL, *cohort = NULL;
    struct mmdx_ctx *ctx;
    size_t n = 0;
    int i, rc = EXIT_ALL_OK;

    dirs = mmdx__calloc((size_t)argc, sizeof(*dirs));
    if (!dirs)
        return EXIT_FATAL;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "--cohort")) {
            if (i + 1 >= argc) {
                mmdx__free(dirs);
                return cli_usage("merge", "%s needs a value", argv[i]);
            }
            if (!strcmp(argv[i], "--out"))
                out = argv[++i];
            else
                cohort = argv[++i];
        } else if (argv[i][0] == '-') {
            mmdx__free(dirs);
            return cli_usage("merge", "unknown option '%s'", argv[i]);
        } else {
            dirs[n++] = argv[i];
        }
    }
    if (!out || n == 0) {
        mmdx__free(dirs);
        return cli_usage("merge", "--out and at least one shard folder are "
                                  "required");
    }
    ctx = cli_ctx();
    if (mmdx_merge(ctx, dirs, n, cohort, out) != MMDX_OK) {
        cli_error("merge", ctx);
        rc = EXIT_FATAL;
    }
    mmdx_ctx_free(ctx);
    mmdx__free(dirs);
    return rc;
}

const struct cli_cmd cli_cmd_merge = {
    "merge", "join the outputs of shard runs into one",
    "usage: mmdx merge --out DIR [--cohort MANIFEST] SHARD_DIR...\n\n"
    "Joins the output folders of the N runs of one cohort made with\n"
    "'mmdx run --shard K/N' (for example a Slurm job array) into DIR, whose\n"
    "features.tsv, errors.tsv, flags.tsv and per-patient outputs equal those\n"
    "of a single-machine run. All N shard folders must be given; they must\n"
    "have run the same pipeline bytes on the same manifest (checked by\n"
    "SHA-256). --cohort names the manifest when it has moved since.\n",
    merge_main
};
