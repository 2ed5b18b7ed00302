/* cli.h - shared pieces of the mmdx program (one file per subcommand). */
#ifndef MMDX_CLI_H
#define MMDX_CLI_H

#include "core/common.h"
#include "mmdx/mmdx.h"

/* Exit codes (documented in mmdx.1 and README.md). */
#define EXIT_ALL_OK 0
#define EXIT_FATAL 1
#define EXIT_USAGE 2
#define EXIT_SOME_FAILED 3

struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage;      /* full help text */
    int (*main)(int argc, char **argv);
};

/* A context with the data folder found and logs going to stderr. */
struct mmdx_ctx *cli_ctx(void);
/* Print the context's error as "mmdx CMD: <formatted error>". */
void cli_error(const char *cmd, struct mmdx_ctx *ctx);
/* Print a usage error and return EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) MMDX_PRINTF(2, 3);
/* Set the verbosity of cli_ctx() logs (0 quiet .. 3 debug). */
void cli_set_verbosity(int level);
/* The default pipeline file (pipelines/default.xml in the data folder). */
char *cli_default_pipeline(struct mmdx_ctx *ctx);

/* Each subcommand file defines one of these; main.c lists them. */
extern const struct cli_cmd cli_cmd_inspect, cli_cmd_manifest,
    cli_cmd_features, cli_cmd_run, cli_cmd_stage, cli_cmd_merge;

#endif
