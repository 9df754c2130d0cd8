/* pull_internal.h: what the files of tools/pull share (not for callers; see
 * pull.h for the API).
 *
 *   spec.c    model names: short-name table lookup, REPO[:QUANT] / REPO/FILE
 *             parsing, quant matching and choosing among a repo's files
 *   cache.c   cache directory, list, rm, resolve (never touches the network)
 *   fetch.c   libcurl: repo listing, download with resume + sha256, progress,
 *             disk/memory checks, ag_pull_run
 *   cli.c     the pull / list / rm subcommands
 *   models.c  data: the built-in short names
 *   sha256.c  the hash */
#ifndef AG_PULL_INTERNAL_H
#define AG_PULL_INTERNAL_H

#include "pull.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PULL_PATH_MAX 4096

#if defined(__GNUC__)
#define PULL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PULL_PRINTF(a, b)
#endif

/* Sets this thread's error text (one line) and returns code. */
int ag_pull_fail(int code, const char *fmt, ...) PULL_PRINTF(2, 3);
void ag_pull_clear_error(void);

/* ---- models.c: data -------------------------------------------------------- */
typedef struct ag_pull_builtin {
    const char *name, *spec, *desc;
} ag_pull_builtin;
extern const ag_pull_builtin ag_pull_builtins[];
extern const size_t ag_pull_n_builtins;
extern const char ag_pull_default_name[];

/* ---- spec.c ---------------------------------------------------------------- */
enum { SPEC_QUANT, SPEC_FILE };

typedef struct pull_spec {
    int kind;             /* SPEC_QUANT: repo + quant ("" = default choice); SPEC_FILE: repo + file */
    char repo[200];       /* owner/name */
    char quant[64];
    char file[512];       /* path inside the repo (SPEC_FILE) */
    char alias[64];       /* the short name it came from, or "" */
} pull_spec;

/* Parses a short name, REPO, REPO:QUANT or REPO/FILE.gguf. Returns
 * AG_PULL_ERR_USAGE for a malformed spec and AG_PULL_ERR_NOT_FOUND for an
 * unknown short name. */
int ag_pull_parse_spec(const char *s, pull_spec *out);
/* Looks a short name up (override file first, then built-ins); false if none. */
bool ag_pull_lookup_short(const char *name, ag_pull_model *out);
/* Whether file is split (NAME-00001-of-00003.gguf) / a multimodal projector. */
bool ag_pull_is_split(const char *file);
bool ag_pull_is_mmproj(const char *file);
/* The quant label in a file name ("Q4_K_M", "UD-Q4_K_XL", "F16") or "". */
void ag_pull_quant_of(const char *file, char *out, size_t cap);
/* Chooses among files (base names or repo paths; only .gguf ones count) the
 * one spec (SPEC_QUANT) names; *idx gets its index. where is "REPO" or
 * "the cache of REPO" for messages. Fails with AG_PULL_ERR_NOT_FOUND (no match)
 * or AG_PULL_ERR_USAGE (ambiguous / split only) listing the choices. */
int ag_pull_choose(const pull_spec *spec, const char *const *files, size_t n, const char *where,
                   size_t *idx);
/* A path inside a repo: non-empty '/'-separated parts, none "." or "..", no
 * control characters or backslashes, ending in .gguf, under 512 bytes. */
bool ag_pull_valid_repo_path(const char *s);
const char *ag_pull_basename(const char *path);
bool ag_pull_ends_with_ci(const char *s, const char *suffix);
/* "508 MiB", "1.2 GiB", "740 KiB", "12 B" */
void ag_pull_fmt_size(uint64_t n, char *buf, size_t cap);
/* snprintf that reports truncation: true when it fit. */
bool ag_pull_fmt(char *buf, size_t cap, const char *fmt, ...) PULL_PRINTF(3, 4);

/* ---- cache.c --------------------------------------------------------------- */
bool ag_pull_offline(const ag_pull_opts *o);
/* root/owner--name */
int ag_pull_repo_dir(const ag_pull_opts *o, const char *repo, char *out, size_t cap);
/* Finds spec's final file in the cache. Returns 0 with the path, or
 * AG_PULL_ERR_NOT_CACHED (error text not set), or another error (set). */
int ag_pull_cache_find(const ag_pull_opts *o, const pull_spec *spec, char *out, size_t cap);
/* The "not cached" message for what the user typed. */
int ag_pull_not_cached(const ag_pull_opts *o, const char *what);
int ag_pull_mkdirs(const char *path);
/* Reads FILE.partial.meta ("sha256 HEX" and "size N" lines); false unless both. */
bool ag_pull_read_meta(const char *path, char oid[65], uint64_t *size);

#endif
