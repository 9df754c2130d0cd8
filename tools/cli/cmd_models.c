/* cmd_models.c: the CLI's side of the model cache (tools/pull).
 *
 * `pull`, `list` and `rm` are the pull module's own entry points; this file
 * only adds cli_model_path(), which every command uses to turn its -m
 * argument into a file: a path is taken as is, a cached name resolves to the
 * cached file, and -- for run and chat only -- a name that is not cached is
 * pulled first (nothing else in airgap touches the network).
 *
 * Builds without the pull module (AG_HAVE_PULL undefined: CMake -DAG_PULL=OFF,
 * the default when cross-compiling, e.g. the static aarch64 binary for
 * phones, where libcurl and cJSON are not available) have no model cache:
 * -m must name an existing file, and pull/list/rm say they are not available.
 * Stubbing here, rather than a fake pull library, keeps the rest of the CLI
 * free of #ifdefs. */
#include "cli.h"
#ifdef AG_HAVE_PULL
#include "pull.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef AG_HAVE_PULL

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

#else

int cli_model_path(const char *arg, bool may_pull, bool offline, char *out, size_t cap)
{
    (void)may_pull;
    (void)offline;
    struct stat st;
    if (!arg) {
        fprintf(stderr, "airgap: no model given: pass -m FILE.gguf (this build has no downloader: "
                        "install libcurl4-openssl-dev and libcjson-dev, then re-run cmake, "
                        "to have the default model pulled on first use)\n");
        return CLI_FAIL;
    }
    if (stat(arg, &st) != 0 || S_ISDIR(st.st_mode)) {
        fprintf(stderr, "airgap: no such file: %s (this build has no model cache)\n", arg);
        return CLI_FAIL;
    }
    size_t n = strlen(arg);
    if (n >= cap) {
        fprintf(stderr, "airgap: model path too long: %s\n", arg);
        return CLI_FAIL;
    }
    memcpy(out, arg, n + 1);
    return CLI_OK;
}

static int not_available(const char *cmd)
{
    fprintf(stderr, "airgap: %s: not available in this build (built without the model cache; "
                    "copy a .gguf file to the device and pass -m FILE)\n", cmd);
    return CLI_FAIL;
}

int cmd_pull(int argc, char **argv) { (void)argc; (void)argv; return not_available("pull"); }
int cmd_list(int argc, char **argv) { (void)argc; (void)argv; return not_available("list"); }
int cmd_rm(int argc, char **argv) { (void)argc; (void)argv; return not_available("rm"); }

#endif
