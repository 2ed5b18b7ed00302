/* cmd_stage.c - `mmdx stage list|help NAME`: the stage registry. */
#include "core/common.h"
#include "cli/cli.h"

static int stage_main(int argc, char **argv)
{
    struct mmdx_ctx *ctx;
    char *text = NULL;

    if (argc < 2)
        return cli_usage("stage", "expected 'list' or 'help NAME'");
    if (!strcmp(argv[1], "list")) {
        void *it = NULL;
        const char *name, *desc;

        while ((name = mmdx_stage_next(&it, &desc)) != NULL)
            printf("%-18s %s\n", name, desc);
        return EXIT_ALL_OK;
    }
    if (!strcmp(argv[1], "help") && argc == 3) {
        ctx = cli_ctx();
        if (mmdx_stage_help(ctx, argv[2], &text)) {
            cli_error("stage", ctx);
            mmdx_ctx_free(ctx);
            return EXIT_USAGE;
        }
        fputs(text, stdout);
        mmdx_free(text);
        mmdx_ctx_free(ctx);
        return EXIT_ALL_OK;
    }
    return cli_usage("stage", "expected 'list' or 'help NAME'");
}

const struct cli_cmd cli_cmd_stage = {
    "stage", "list the compiled-in stages or describe one",
    "usage: mmdx stage list\n"
    "       mmdx stage help NAME\n\n"
    "'help' prints a stage's description, the slots it needs and provides,\n"
    "and its parameters with type, default, range and unit, generated from\n"
    "the same table that checks pipeline files.\n",
    stage_main
};
