/* cmd_models.c: the CLI's side of the model cache (tools/pull).
 *
 * `pull`, `list` and `rm` are the pull module's own entry points; this file
 * only adds cli_model_path(), which every command uses to turn its -m
 * argument into a file: a path is taken as is, a cached name resolves to the
 * cached file, and -- for run and chat only -- a name that is not cached is
 * pulled first (nothing else in airgap touches the network). */
#include "cli.h"
#include "pull.h"

#include <stdio.h>
#include <stdlib.h>

int cli_model_path(const char *arg, bool may_pull, bool offline, char *out, size_t cap)
{
    ag_pull_opts o = ag_pull_opts_default();
    o.offline = offline;
    if (!arg) arg = ag_pull_default_model();
    int rc = may_pull ? ag_pull_ensure(&o, arg, out, cap) : ag_pull_resolve(&o, arg, out, cap);
    if (rc == AG_PULL_OK) return CLI_OK;
    fprintf(stderr, "airgap: %s\n", ag_pull_error());
    return rc == AG_PULL_ERR_INTERRUPTED ? 130 : CLI_FAIL;
}

int cmd_pull(int argc, char **argv) { return ag_pull_cli_pull(argc, argv); }
int cmd_list(int argc, char **argv) { return ag_pull_cli_list(argc, argv); }
int cmd_rm(int argc, char **argv) { return ag_pull_cli_rm(argc, argv); }
