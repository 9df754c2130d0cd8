/* pull.h: `airgap pull` -- fetch GGUF models from a Hugging Face compatible
 * endpoint into a local cache, list and remove cached models, and resolve a
 * `-m` argument (a path or a cached name) to a file.
 *
 * This module is tool-side, not part of the core library: it is the only code
 * in airgap that touches the network, and it may use libcurl and cJSON. It
 * does not include anything from src/.
 *
 * Usage (what `airgap run` with no -m does):
 *
 *     ag_pull_opts o = ag_pull_opts_default();
 *     o.offline = flag_offline;                  // $AIRGAP_OFFLINE=1 also works
 *     char path[4096];
 *     int rc = ag_pull_ensure(&o, arg ? arg : ag_pull_default_model(), path, sizeof path);
 *     if (rc) { fprintf(stderr, "airgap: %s\n", ag_pull_error()); return rc == AG_PULL_ERR_INTERRUPTED ? 130 : 1; }
 *
 * Model specs (what `pull` accepts, and what names resolve to):
 *     REPO:QUANT      unsloth/Qwen3.5-0.8B-GGUF:Q4_K_M  QUANT is matched
 *                     case-insensitively as a whole '-'/'.'-delimited part of
 *                     the repo's .gguf file names (mmproj files excluded);
 *                     among several matches a non-split file, then the
 *                     shortest name wins.
 *     REPO            Q4_K_M if the repo has it, else the only model file,
 *                     else an error listing the choices.
 *     REPO/FILE.gguf  unsloth/Qwen3.5-0.8B-GGUF/mmproj-F16.gguf: one file.
 *     NAME            a built-in short name (tools/pull/models.c, plus the
 *                     file $AIRGAP_MODELS_LIST if set), e.g. qwen3.5-0.8b.
 * `-m` also accepts an existing file path (returned as is) and the bare
 * file name of a cached file (Qwen3.5-0.8B-Q4_K_M.gguf).
 *
 * Cache: $AIRGAP_MODELS, else $XDG_CACHE_HOME/airgap/models, else
 * ~/.cache/airgap/models; one folder per repo (unsloth--Qwen3.5-0.8B-GGUF/)
 * holding the files under their base names. A download goes to
 * FILE.partial (with FILE.partial.meta holding the expected sha256 and
 * size), resumes with an HTTP Range request after any interruption, and is
 * renamed to FILE only after its size and sha256 match the repo's lfs.oid.
 *
 * Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (sent
 * as "Authorization: Bearer"), AIRGAP_MODELS, XDG_CACHE_HOME,
 * AIRGAP_MODELS_LIST, AIRGAP_OFFLINE=1, AIRGAP_PULL_LOW_SPEED_TIME (seconds).
 * Explicit ag_pull_opts fields win over the environment.
 *
 * Errors: every function returns 0 (AG_PULL_OK) or an AG_PULL_ERR_* code, and
 * ag_pull_error() then gives one line naming what and where, e.g.
 * "sha256 mismatch for Qwen3.5-0.8B-Q4_K_M.gguf from unsloth/Qwen3.5-0.8B-GGUF:
 *  expected 1f2e..., got 9a0b...; deleted the partial download".
 * Nothing here prints except ag_pull_run (the "pulling ..." line, progress
 * and retry notes on stderr, unless opts.quiet) and the ag_pull_cli_*
 * entry points.
 *
 * Threads: the functions may run on any thread, but ag_pull_run installs a
 * SIGINT handler for the duration of a transfer, so run one pull at a time.
 * The error text is per thread. */
#ifndef AG_PULL_H
#define AG_PULL_H

#include <stddef.h>
#include <stdint.h>

enum {
    AG_PULL_OK = 0,
    AG_PULL_ERR_USAGE,        /* malformed spec, name or option */
    AG_PULL_ERR_NOT_FOUND,    /* repo, file or quant does not exist (remote), or no such path */
    AG_PULL_ERR_NOT_CACHED,   /* a valid model name that is not in the cache (message says what
                                 to pull, and mentions --offline when offline forbade it) */
    AG_PULL_ERR_AUTH,         /* HTTP 401/403: token missing, wrong or without access */
    AG_PULL_ERR_NETWORK,      /* cannot connect, transfer failed or stalled (after retries), 5xx */
    AG_PULL_ERR_INTEGRITY,    /* size or sha256 mismatch; the partial download was deleted */
    AG_PULL_ERR_SPACE,        /* not enough free disk, or the model would not fit in memory */
    AG_PULL_ERR_IO,           /* local file system error */
    AG_PULL_ERR_INTERRUPTED,  /* Ctrl-C; the partial download is kept for resuming */
    AG_PULL_ERR_BUSY,         /* another process is downloading the same file */
    AG_PULL_ERR_PROTOCOL,     /* the server answered something malformed */
};

/* Options. A zeroed struct (or NULL where a pointer is taken) means "all
 * defaults"; ag_pull_opts_default() returns exactly that. */
typedef struct ag_pull_opts {
    const char *endpoint;   /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;      /* NULL: $HF_TOKEN (unset or empty: no Authorization header) */
    const char *cache_dir;  /* NULL: $AIRGAP_MODELS, $XDG_CACHE_HOME/airgap/models, ~/.cache/airgap/models */
    int offline;            /* nonzero: never touch the network ($AIRGAP_OFFLINE=1 forces it too) */
    int quiet;              /* nonzero: print nothing (no "pulling" line, progress, retry notes) */
    int progress;           /* 0: bar on a terminal, plain lines otherwise; 1: lines; 2: bar */
    int force;              /* nonzero: skip the memory-fit check (the disk check stays) */
    int retries;            /* automatic resumes after a dropped/stalled transfer; 0: 3; <0: none */
    int retry_delay_ms;     /* first backoff, doubled each retry; 0: 1000; <0: no delay */
    long low_speed_time;    /* abort a transfer slower than low_speed_limit for this many s;
                               0: $AIRGAP_PULL_LOW_SPEED_TIME, else 30 */
    long low_speed_limit;   /* bytes/s; 0: 1024 */
    long connect_timeout;   /* s; 0: 30 */
} ag_pull_opts;

ag_pull_opts ag_pull_opts_default(void);

/* This thread's one-line detail for the last failure ("" if none). */
const char *ag_pull_error(void);

/* The short name `run`/`chat` use when no -m is given ("qwen3.5-0.8b"). */
const char *ag_pull_default_model(void);

/* Downloads the model named by spec (see the top of this file) into the cache
 * and writes its path to out_path (cap bytes, NUL-terminated; "" on failure).
 * A file already in the cache is returned at once without contacting the
 * network. Before a download it prints "pulling REPO FILE (SIZE)" and checks
 * free disk space and ag_pull_check_fits. A dropped or stalled transfer is
 * resumed automatically (opts.retries times, saying so on stderr).
 * Returns 0 or an AG_PULL_ERR_* code; with AG_PULL_ERR_INTERRUPTED,
 * AG_PULL_ERR_NETWORK and AG_PULL_ERR_PROTOCOL the partial download stays
 * for the next call to resume; with AG_PULL_ERR_INTEGRITY it is deleted. */
int ag_pull_run(const ag_pull_opts *o, const char *spec, char *out_path, size_t cap);

/* Resolves a -m argument without touching the network: an existing file path
 * is returned as is; otherwise a short name, REPO[:QUANT], REPO/FILE.gguf or
 * a bare cached file name resolves to the cached file. Returns
 * AG_PULL_ERR_NOT_CACHED for a pullable name that is not cached (the message
 * says "run: airgap pull NAME", and that --offline forbids downloading when
 * offline is in effect) and AG_PULL_ERR_NOT_FOUND for a path-like argument
 * that does not exist. */
int ag_pull_resolve(const ag_pull_opts *o, const char *arg, char *out_path, size_t cap);

/* ag_pull_resolve, and if that says AG_PULL_ERR_NOT_CACHED and the network
 * is allowed, ag_pull_run(arg). What `run`/`chat` call for -m. */
int ag_pull_ensure(const ag_pull_opts *o, const char *arg, char *out_path, size_t cap);

/* One cached file. partial: a download in progress or interrupted (size is
 * the bytes so far, total the expected size when known, else 0). */
typedef struct ag_pull_entry {
    char name[512];         /* the shortest name that resolves to it: short name, REPO:QUANT or REPO/FILE */
    char repo[200];         /* unsloth/Qwen3.5-0.8B-GGUF */
    char file[256];         /* Qwen3.5-0.8B-Q4_K_M.gguf */
    char quant[32];         /* Q4_K_M, F16, ... ("" if the name carries none) */
    uint64_t size;
    uint64_t total;
    int partial;
    char path[4096];
} ag_pull_entry;

/* Lists the cache, sorted by name; *out is malloc'd (free with
 * ag_pull_list_free), *n its length. A missing cache directory is an empty
 * list, not an error. */
int ag_pull_list(const ag_pull_opts *o, ag_pull_entry **out, size_t *n);
void ag_pull_list_free(ag_pull_entry *e);

/* Removes a cached model (any name ag_pull_resolve accepts except plain
 * paths) with its partial download if any, and the repo folder once empty.
 * If removed_path is non-NULL it receives the removed file's path. */
int ag_pull_rm(const ag_pull_opts *o, const char *name, char *removed_path, size_t cap);

/* The cache directory in effect (not created). */
int ag_pull_cache_dir(const ag_pull_opts *o, char *out, size_t cap);

/* Built-in short names plus $AIRGAP_MODELS_LIST entries (a line per model:
 * NAME<TAB>SPEC[<TAB>DESCRIPTION], '#' comments; a name there overrides the
 * built-in one). */
typedef struct ag_pull_model {
    char name[64];
    char spec[256];
    char desc[128];
} ag_pull_model;

/* Copies up to cap models into out and returns how many there are in all. */
size_t ag_pull_models(ag_pull_model *out, size_t cap);

/* Whether a model file of `bytes` bytes can be loaded here: refuses (returns
 * AG_PULL_ERR_SPACE with a message naming `what`) when MemAvailable in
 * /proc/meminfo is below 1.2 x bytes. Passes when memory cannot be read.
 * Kept as one function so a real memory planner can replace it. */
int ag_pull_check_fits(const char *what, uint64_t bytes);

/* CLI entry points: argv[0] is the subcommand name ("pull", "list", "rm").
 * Each supports --help; output on stdout, messages and errors on stderr
 * ("airgap: <detail>"). Exit status: 0 ok, 1 failure, 2 usage error, 130
 * interrupted (pull only; the partial download is kept). */
int ag_pull_cli_pull(int argc, char **argv);
int ag_pull_cli_list(int argc, char **argv);
int ag_pull_cli_rm(int argc, char **argv);

#endif
