/* cli.c: the `airgap pull`, `airgap list` and `airgap rm` subcommands, as
 * plain int f(argc, argv) functions the CLI's dispatcher calls (argv[0] is
 * the subcommand name).
 *
 * Exit status as in the rest of the CLI: 0 ok, 1 failure (one line
 * "airgap: <detail>"), 2 usage error, 130 interrupted. Results go to stdout
 * (pull prints the cached path, list a table, rm the removed path), so
 * `m=$(airgap pull qwen3.5-0.8b)` works; notes and progress go to stderr.
 * The flag parsing is a small loop of its own rather than tools/cli's table
 * parser so that this module builds and tests without the CLI. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pull_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

static int fail(int rc)
{
    fprintf(stderr, "airgap: %s\n", ag_pull_error());
    return rc == AG_PULL_ERR_INTERRUPTED ? EXIT_INTERRUPTED
           : rc == AG_PULL_ERR_USAGE     ? EXIT_USAGE
                                         : EXIT_FAIL;
}

static int usage_error(const char *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "airgap %s: %s%s%s%s (see airgap %s --help)\n", cmd, what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "", cmd);
    return EXIT_USAGE;
}

static bool is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

static void print_models(FILE *f)
{
    ag_pull_model m[64];
    size_t n = ag_pull_models(m, 64);
    fprintf(f, "\nModel names:\n");
    for (size_t i = 0; i < n && i < 64; i++)
        fprintf(f, "  %-22s %-48s %s\n", m[i].name, m[i].spec, m[i].desc);
}

static void pull_help(FILE *f)
{
    char dir[PULL_PATH_MAX];
    if (ag_pull_cache_dir(NULL, dir, sizeof(dir)) != 0)
        snprintf(dir, sizeof(dir), "(unknown: set AIRGAP_MODELS)");
    fprintf(f,
            "Usage: airgap pull [options] MODEL...\n"
            "\n"
            "Downloads GGUF models into the cache and prints their paths. MODEL is\n"
            "  REPO:QUANT       unsloth/Qwen3.5-0.8B-GGUF:Q4_K_M (QUANT matches the file name)\n"
            "  REPO             the repo's Q4_K_M file (or its only model file)\n"
            "  REPO/FILE.gguf   unsloth/Qwen3.5-0.8B-GGUF/mmproj-F16.gguf\n"
            "  NAME             a model name from the list below\n"
            "A download resumes where it stopped (run the same command again after Ctrl-C\n"
            "or a network failure) and becomes visible only after its sha256 matches.\n"
            "\n"
            "Options:\n"
            "  --offline     never touch the network: only report whether MODEL is cached\n"
            "                (also AIRGAP_OFFLINE=1)\n"
            "  --force       download even if the model looks too big for this machine's memory\n"
            "  -q, --quiet   no progress or notes on stderr\n"
            "  -h, --help    this help\n"
            "\n"
            "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (for private\n"
            "or gated repos), AIRGAP_MODELS (cache folder, now %s),\n"
            "AIRGAP_MODELS_LIST (extra model names: NAME<TAB>SPEC<TAB>DESCRIPTION lines),\n"
            "AIRGAP_PULL_LOW_SPEED_TIME (seconds below 1 KiB/s before a stalled transfer fails).\n",
            dir);
    print_models(f);
    fprintf(f, "\nExample:\n  airgap pull qwen3.5-0.8b\n  airgap pull unsloth/Qwen3.5-2B-GGUF:Q8_0\n");
}

int ag_pull_cli_pull(int argc, char **argv)
{
    const char *cmd = "pull";
    ag_pull_opts o = ag_pull_opts_default();
    int first = 0, n_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            pull_help(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--offline")) {
            o.offline = 1;
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown flag", a);
        } else {
            if (!n_models++)
                first = i;
        }
    }
    if (!n_models)
        return usage_error(cmd, "missing MODEL, e.g. airgap pull qwen3.5-0.8b", NULL);
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        char path[PULL_PATH_MAX];
        int rc = ag_pull_run(&o, argv[i], path, sizeof(path));
        if (rc)
            return fail(rc);
        printf("%s\n", path);
        fflush(stdout);
    }
    return EXIT_OK;
}

int ag_pull_cli_list(int argc, char **argv)
{
    const char *cmd = "list";
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("Usage: airgap list\n\n"
                   "Lists the cached models: NAME (what -m, run, chat and rm accept), QUANT,\n"
                   "SIZE and PATH. Downloads that are not finished are marked 'partial'.\n"
                   "The cache is $AIRGAP_MODELS, else $XDG_CACHE_HOME/airgap/models, else\n"
                   "~/.cache/airgap/models.\n");
            return EXIT_OK;
        }
        return usage_error(cmd, argv[i][0] == '-' ? "unknown flag" : "unexpected argument",
                           argv[i]);
    }
    ag_pull_entry *e;
    size_t n;
    char dir[PULL_PATH_MAX];
    int rc = ag_pull_cache_dir(NULL, dir, sizeof(dir));
    if (rc || (rc = ag_pull_list(NULL, &e, &n)))
        return fail(rc);
    if (n == 0) {
        fprintf(stderr, "no models cached in %s (airgap pull %s downloads the default one)\n",
                dir, ag_pull_default_model());
        ag_pull_list_free(e);
        return EXIT_OK;
    }
    int wn = 4, wq = 5;
    for (size_t i = 0; i < n; i++) {
        int ln = (int)strlen(e[i].name), lq = (int)strlen(e[i].quant);
        wn = ln > wn ? ln : wn;
        wq = lq > wq ? lq : wq;
    }
    printf("%-*s  %-*s  %12s  %s\n", wn, "NAME", wq, "QUANT", "SIZE", "PATH");
    for (size_t i = 0; i < n; i++) {
        char sz[48], s1[24];
        ag_pull_fmt_size(e[i].size, s1, sizeof(s1));
        if (e[i].partial && e[i].total) {
            snprintf(sz, sizeof(sz), "partial %d%%", (int)(e[i].size * 100 / e[i].total));
        } else if (e[i].partial) {
            snprintf(sz, sizeof(sz), "partial");
        } else {
            snprintf(sz, sizeof(sz), "%s", s1);
        }
        printf("%-*s  %-*s  %12s  %s\n", wn, e[i].name, wq, e[i].quant[0] ? e[i].quant : "-", sz,
               e[i].path);
    }
    ag_pull_list_free(e);
    return EXIT_OK;
}

int ag_pull_cli_rm(int argc, char **argv)
{
    const char *cmd = "rm";
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("Usage: airgap rm NAME...\n\n"
                   "Removes cached models (and any unfinished download of them). NAME is what\n"
                   "airgap list shows, or REPO:QUANT, REPO/FILE.gguf, a model name or a cached\n"
                   "file name. Files outside the cache are never touched.\n");
            return EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return usage_error(cmd, "unknown flag", argv[i]);
        n_names++;
    }
    if (!n_names)
        return usage_error(cmd, "missing NAME, e.g. airgap rm qwen3.5-0.8b", NULL);
    for (int i = 1; i < argc; i++) {
        char path[PULL_PATH_MAX];
        int rc = ag_pull_rm(NULL, argv[i], path, sizeof(path));
        if (rc)
            return fail(rc);
        printf("removed %s\n", path);
    }
    return EXIT_OK;
}
