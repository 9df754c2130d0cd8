/* cache.c: the model cache on disk -- where it is, what is in it, resolving
 * names to files, listing and removing. Nothing here touches the network, so
 * `-m NAME` and `--offline` work with the endpoint unreachable.
 *
 * Layout: ROOT/OWNER--NAME/FILE.gguf, plus FILE.gguf.partial and
 * FILE.gguf.partial.meta while a download is incomplete. The directory is the
 * only index: no database or manifest that could disagree with the files, and
 * a user may drop a .gguf into a repo folder by hand. Files keep their base
 * name (a repo's subfolder is dropped), so `-m Qwen3.5-0.8B-Q4_K_M.gguf`
 * finds them. "--" separates owner and name because Hugging Face owner names
 * cannot contain it (the parser also refuses it) and '/' cannot be used. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pull_internal.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

bool ag_pull_offline(const ag_pull_opts *o)
{
    if (o && o->offline)
        return true;
    const char *e = getenv("AIRGAP_OFFLINE");
    return e && *e && strcmp(e, "0") != 0 && strcasecmp(e, "false") != 0 &&
           strcasecmp(e, "no") != 0;
}

ag_pull_opts ag_pull_opts_default(void)
{
    ag_pull_opts o;
    memset(&o, 0, sizeof(o));
    return o;
}

int ag_pull_cache_dir(const ag_pull_opts *o, char *out, size_t cap)
{
    const char *e;
    bool ok;
    if (o && o->cache_dir && *o->cache_dir) {
        ok = ag_pull_fmt(out, cap, "%s", o->cache_dir);
    } else if ((e = getenv("AIRGAP_MODELS")) && *e) {
        ok = ag_pull_fmt(out, cap, "%s", e);
    } else if ((e = getenv("XDG_CACHE_HOME")) && e[0] == '/') {
        ok = ag_pull_fmt(out, cap, "%s/airgap/models", e);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return ag_pull_fail(AG_PULL_ERR_IO,
                                "cannot find the model cache: HOME is not set; set AIRGAP_MODELS "
                                "to a directory");
        ok = ag_pull_fmt(out, cap, "%s/.cache/airgap/models", home);
    }
    if (!ok)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "the model cache path is too long");
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return AG_PULL_OK;
}

int ag_pull_repo_dir(const ag_pull_opts *o, const char *repo, char *out, size_t cap)
{
    char root[PULL_PATH_MAX];
    int rc = ag_pull_cache_dir(o, root, sizeof(root));
    if (rc)
        return rc;
    const char *slash = strchr(repo, '/');
    if (!slash || !ag_pull_fmt(out, cap, "%s/%.*s--%s", root, (int)(slash - repo), repo, slash + 1))
        return ag_pull_fail(AG_PULL_ERR_USAGE, "bad repo name or path too long: '%s'", repo);
    return AG_PULL_OK;
}

int ag_pull_mkdirs(const char *path)
{
    char tmp[PULL_PATH_MAX];
    if (!ag_pull_fmt(tmp, sizeof(tmp), "%s", path))
        return ag_pull_fail(AG_PULL_ERR_USAGE, "path too long: '%s'", path);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return ag_pull_fail(AG_PULL_ERR_IO, "cannot create directory %s: %s", tmp,
                                    strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ag_pull_fail(AG_PULL_ERR_IO, "%s is not a directory", path);
    return AG_PULL_OK;
}

static bool is_regular(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    if (size)
        *size = (uint64_t)st.st_size;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorted malloc'd names of the entries of dir for which keep(dir, name) is
 * true. A missing directory is an empty list. */
static int read_dir(const char *dir, bool (*keep)(const char *, const char *), char ***out,
                    size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR
                   ? AG_PULL_OK
                   : ag_pull_fail(AG_PULL_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = AG_PULL_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !keep(dir, e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                rc = ag_pull_fail(AG_PULL_ERR_IO, "out of memory reading %s", dir);
                break;
            }
            v = nv;
            cap = nc;
        }
        if (!(v[n] = strdup(e->d_name))) {
            rc = ag_pull_fail(AG_PULL_ERR_IO, "out of memory reading %s", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        free_names(v, n);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    *n_out = n;
    return AG_PULL_OK;
}

static bool keep_gguf(const char *dir, const char *name)
{
    char p[PULL_PATH_MAX];
    return ag_pull_ends_with_ci(name, ".gguf") && ag_pull_fmt(p, sizeof(p), "%s/%s", dir, name) &&
           is_regular(p, NULL);
}

static bool keep_partial(const char *dir, const char *name)
{
    char p[PULL_PATH_MAX];
    return ag_pull_ends_with_ci(name, ".gguf.partial") &&
           ag_pull_fmt(p, sizeof(p), "%s/%s", dir, name) && is_regular(p, NULL);
}

static bool keep_repo_dir(const char *dir, const char *name)
{
    char p[PULL_PATH_MAX];
    struct stat st;
    return strstr(name, "--") && ag_pull_fmt(p, sizeof(p), "%s/%s", dir, name) &&
           stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int ag_pull_cache_find(const ag_pull_opts *o, const pull_spec *spec, char *out, size_t cap)
{
    char dir[PULL_PATH_MAX];
    int rc = ag_pull_repo_dir(o, spec->repo, dir, sizeof(dir));
    if (rc)
        return rc;
    if (spec->kind == SPEC_FILE) {
        if (!ag_pull_fmt(out, cap, "%s/%s", dir, ag_pull_basename(spec->file)))
            return ag_pull_fail(AG_PULL_ERR_USAGE, "path too long in %s", dir);
        return is_regular(out, NULL) ? AG_PULL_OK : AG_PULL_ERR_NOT_CACHED;
    }
    char **names;
    size_t n, idx;
    if ((rc = read_dir(dir, keep_gguf, &names, &n)))
        return rc;
    if (n == 0) {
        free(names);
        return AG_PULL_ERR_NOT_CACHED;
    }
    char where[300];
    snprintf(where, sizeof(where), "the cache of %s", spec->repo);
    rc = ag_pull_choose(spec, (const char *const *)names, n, where, &idx);
    if (rc == AG_PULL_ERR_NOT_FOUND)
        rc = AG_PULL_ERR_NOT_CACHED;
    if (rc == AG_PULL_OK && !ag_pull_fmt(out, cap, "%s/%s", dir, names[idx]))
        rc = ag_pull_fail(AG_PULL_ERR_USAGE, "path too long in %s", dir);
    free_names(names, n);
    return rc;
}

int ag_pull_not_cached(const ag_pull_opts *o, const char *what)
{
    if (ag_pull_offline(o))
        return ag_pull_fail(AG_PULL_ERR_NOT_CACHED,
                            "model '%s' is not cached and --offline forbids downloading; run: "
                            "airgap pull %s",
                            what, what);
    return ag_pull_fail(AG_PULL_ERR_NOT_CACHED, "model '%s' is not cached; run: airgap pull %s",
                        what, what);
}

/* A bare file name (X.gguf) in any repo folder. */
static int find_bare(const ag_pull_opts *o, const char *file, char *out, size_t cap)
{
    char root[PULL_PATH_MAX], p[PULL_PATH_MAX], first[PULL_PATH_MAX] = "";
    char **dirs;
    size_t n, hits = 0;
    int rc = ag_pull_cache_dir(o, root, sizeof(root));
    if (rc || (rc = read_dir(root, keep_repo_dir, &dirs, &n)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (ag_pull_fmt(p, sizeof(p), "%s/%s/%s", root, dirs[i], file) && is_regular(p, NULL)) {
            if (hits++ == 0)
                snprintf(first, sizeof(first), "%s", p);
        }
    }
    free_names(dirs, n);
    if (hits > 1)
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "'%s' is cached from several repos; name it as REPO/%s (see airgap "
                            "list)",
                            file, file);
    if (hits == 0)
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "no such file or cached model: '%s'", file);
    if (!ag_pull_fmt(out, cap, "%s", first))
        return ag_pull_fail(AG_PULL_ERR_USAGE, "output buffer too small for %s", first);
    return AG_PULL_OK;
}

/* An argument that can only mean a file on disk: absolute, ./ ../ ~, or
 * DIR/X.gguf (a repo spec with a file has two slashes). */
static bool path_like(const char *s)
{
    if (s[0] == '/' || s[0] == '~' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3))
        return true;
    const char *a = strchr(s, '/');
    return a && !strchr(a + 1, '/') && ag_pull_ends_with_ci(s, ".gguf");
}

int ag_pull_resolve(const ag_pull_opts *o, const char *arg, char *out, size_t cap)
{
    ag_pull_clear_error();
    if (!out || cap == 0)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "no output buffer");
    out[0] = '\0';
    if (!arg || !*arg)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "empty model name");
    struct stat st;
    if (stat(arg, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "'%s' is a directory, not a model file",
                                arg);
        if (!ag_pull_fmt(out, cap, "%s", arg))
            return ag_pull_fail(AG_PULL_ERR_USAGE, "path too long: '%s'", arg);
        return AG_PULL_OK;
    }
    if (path_like(arg))
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "no such file: '%s'", arg);
    if (!strchr(arg, '/') && ag_pull_ends_with_ci(arg, ".gguf"))
        return find_bare(o, arg, out, cap);
    pull_spec spec;
    int rc = ag_pull_parse_spec(arg, &spec);
    if (rc)
        return rc;
    rc = ag_pull_cache_find(o, &spec, out, cap);
    if (rc == AG_PULL_ERR_NOT_CACHED)
        return ag_pull_not_cached(o, arg);
    return rc;
}

int ag_pull_ensure(const ag_pull_opts *o, const char *arg, char *out, size_t cap)
{
    int rc = ag_pull_resolve(o, arg, out, cap);
    if (rc == AG_PULL_ERR_NOT_CACHED && !ag_pull_offline(o))
        rc = ag_pull_run(o, arg, out, cap);
    return rc;
}

/* ---- list ------------------------------------------------------------------ */

bool ag_pull_read_meta(const char *path, char oid[65], uint64_t *size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256];
    bool has_oid = false, has_size = false;
    oid[0] = '\0';
    *size = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        char hex[65];
        if (sscanf(line, "sha256 %64s", hex) == 1 && strlen(hex) == 64 &&
            strspn(hex, "0123456789abcdef") == 64) {
            memcpy(oid, hex, 65);
            has_oid = true;
        } else if (sscanf(line, "size %llu", &v) == 1) {
            *size = v;
            has_size = true;
        }
    }
    fclose(f);
    return has_oid && has_size;
}

/* The name `list` shows: the first of short name, REPO:QUANT, REPO/FILE that
 * resolves back to this very file (so `rm NAME` and `-m NAME` hit it). */
static void entry_name(const ag_pull_opts *o, const ag_pull_model *models, size_t n_models,
                       ag_pull_entry *e)
{
    char p[PULL_PATH_MAX];
    pull_spec spec;
    for (size_t i = 0; i < n_models; i++) {
        if (ag_pull_parse_spec(models[i].spec, &spec) == AG_PULL_OK &&
            strcmp(spec.repo, e->repo) == 0 && ag_pull_cache_find(o, &spec, p, sizeof(p)) == 0 &&
            strcmp(p, e->path) == 0) {
            snprintf(e->name, sizeof(e->name), "%s", models[i].name);
            return;
        }
    }
    if (e->quant[0] && !ag_pull_is_mmproj(e->file)) {
        memset(&spec, 0, sizeof(spec));
        spec.kind = SPEC_QUANT;
        snprintf(spec.repo, sizeof(spec.repo), "%s", e->repo);
        snprintf(spec.quant, sizeof(spec.quant), "%s", e->quant);
        if (ag_pull_cache_find(o, &spec, p, sizeof(p)) == 0 && strcmp(p, e->path) == 0) {
            snprintf(e->name, sizeof(e->name), "%s:%s", e->repo, e->quant);
            return;
        }
    }
    snprintf(e->name, sizeof(e->name), "%s/%s", e->repo, e->file);
}

static int cmp_entry(const void *a, const void *b)
{
    const ag_pull_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->partial - y->partial;
}

/* Adds the files of one repo folder (finals, then partials) to *v. */
static int list_repo(const ag_pull_opts *o, const char *root, const char *dname,
                     const ag_pull_model *models, size_t n_models, ag_pull_entry **v, size_t *n,
                     size_t *cap)
{
    char dir[PULL_PATH_MAX], repo[200];
    const char *sep = strstr(dname, "--");
    if (!ag_pull_fmt(dir, sizeof(dir), "%s/%s", root, dname) ||
        !ag_pull_fmt(repo, sizeof(repo), "%.*s/%s", (int)(sep - dname), dname, sep + 2))
        return AG_PULL_OK;
    for (int partial = 0; partial < 2; partial++) {
        char **names;
        size_t k;
        int rc = read_dir(dir, partial ? keep_partial : keep_gguf, &names, &k);
        if (rc)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 16;
                ag_pull_entry *nv = realloc(*v, nc * sizeof(*nv));
                if (!nv) {
                    free_names(names, k);
                    return ag_pull_fail(AG_PULL_ERR_IO, "out of memory listing %s", dir);
                }
                *v = nv;
                *cap = nc;
            }
            ag_pull_entry *e = &(*v)[*n];
            memset(e, 0, sizeof(*e));
            size_t len = strlen(names[i]) - (partial ? 8 : 0); /* drop ".partial" */
            if (len >= sizeof(e->file) ||
                !ag_pull_fmt(e->path, sizeof(e->path), "%s/%s", dir, names[i]))
                continue;
            snprintf(e->repo, sizeof(e->repo), "%s", repo);
            snprintf(e->file, sizeof(e->file), "%.*s", (int)len, names[i]);
            ag_pull_quant_of(e->file, e->quant, sizeof(e->quant));
            is_regular(e->path, &e->size);
            e->partial = partial;
            if (partial) {
                char meta[PULL_PATH_MAX], oid[65];
                if (ag_pull_fmt(meta, sizeof(meta), "%s.meta", e->path))
                    ag_pull_read_meta(meta, oid, &e->total);
                snprintf(e->name, sizeof(e->name), "%s/%s", e->repo, e->file);
            } else {
                e->total = e->size;
                entry_name(o, models, n_models, e);
            }
            (*n)++;
        }
        free_names(names, k);
    }
    return AG_PULL_OK;
}

int ag_pull_list(const ag_pull_opts *o, ag_pull_entry **out, size_t *n_out)
{
    ag_pull_clear_error();
    *out = NULL;
    *n_out = 0;
    char root[PULL_PATH_MAX];
    char **dirs;
    size_t n_dirs;
    int rc = ag_pull_cache_dir(o, root, sizeof(root));
    if (rc || (rc = read_dir(root, keep_repo_dir, &dirs, &n_dirs)))
        return rc;
    size_t n_models = ag_pull_models(NULL, 0);
    ag_pull_model *models = n_models ? calloc(n_models, sizeof(*models)) : NULL;
    n_models = models ? ag_pull_models(models, n_models) : 0;
    ag_pull_entry *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < n_dirs && !rc; i++)
        rc = list_repo(o, root, dirs[i], models, n_models, &v, &n, &cap);
    free(models);
    free_names(dirs, n_dirs);
    if (rc) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_entry);
    *out = v;
    *n_out = n;
    return AG_PULL_OK;
}

void ag_pull_list_free(ag_pull_entry *e) { free(e); }

/* ---- rm -------------------------------------------------------------------- */

static int remove_file(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return ag_pull_fail(AG_PULL_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return AG_PULL_OK;
}

/* Removes path, path.partial and path.partial.meta. */
static int remove_with_partial(const char *path)
{
    char p[PULL_PATH_MAX];
    int rc = remove_file(path);
    if (!rc && ag_pull_fmt(p, sizeof(p), "%s.partial", path))
        rc = remove_file(p);
    if (!rc && ag_pull_fmt(p, sizeof(p), "%s.partial.meta", path))
        rc = remove_file(p);
    return rc;
}

int ag_pull_rm(const ag_pull_opts *o, const char *name, char *removed, size_t cap)
{
    ag_pull_clear_error();
    char path[PULL_PATH_MAX], partial[PULL_PATH_MAX + 16];
    if (!name || !*name)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "empty model name");
    if (name[0] == '/' || name[0] == '.' || name[0] == '~' || path_like(name))
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "'%s' looks like a path; airgap rm takes a cached model name (see "
                            "airgap list)",
                            name);
    int rc;
    if (!strchr(name, '/') && ag_pull_ends_with_ci(name, ".gguf")) {
        rc = find_bare(o, name, path, sizeof(path));
    } else {
        pull_spec spec;
        if ((rc = ag_pull_parse_spec(name, &spec)))
            return rc;
        rc = ag_pull_cache_find(o, &spec, path, sizeof(path));
        if (rc == AG_PULL_ERR_NOT_CACHED && spec.kind == SPEC_FILE) {
            /* Nothing final, but maybe an abandoned partial download. */
            char dir[PULL_PATH_MAX];
            if (ag_pull_repo_dir(o, spec.repo, dir, sizeof(dir)) == 0 &&
                ag_pull_fmt(path, sizeof(path), "%s/%s", dir, ag_pull_basename(spec.file)) &&
                ag_pull_fmt(partial, sizeof(partial), "%s.partial", path) &&
                is_regular(partial, NULL))
                rc = AG_PULL_OK;
        }
    }
    if (rc == AG_PULL_ERR_NOT_CACHED || rc == AG_PULL_ERR_NOT_FOUND)
        return ag_pull_fail(AG_PULL_ERR_NOT_CACHED, "model '%s' is not cached (see airgap list)",
                            name);
    if (rc)
        return rc;
    if ((rc = remove_with_partial(path)))
        return rc;
    if (removed)
        snprintf(removed, cap, "%s", path);
    /* Drop the repo folder once nothing is left in it (fails harmlessly otherwise). */
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(path);
    }
    return AG_PULL_OK;
}
