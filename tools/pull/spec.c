/* spec.c: model names for `airgap pull`: the error text, short names (the
 * table in models.c plus $AIRGAP_MODELS_LIST), parsing REPO[:QUANT] and
 * REPO/FILE.gguf, and choosing a repo's file for a quant.
 *
 * Quant matching is a case-insensitive match of QUANT against a whole part of
 * the file name stem delimited by '-' or '.' ("q8_0" matches X-Q8_0.gguf and
 * X.Q8_0.gguf but "Q4_K" does not match X-Q4_K_M.gguf), because a plain
 * substring match makes Q4_K silently pick Q4_K_M or Q4_K_S. Projector files
 * (mmproj-*) never match a quant: "F16" must not fetch mmproj-F16.gguf
 * instead of the F16 model; they are pulled by REPO/FILE.gguf. Among several
 * matches a non-split file beats a split one, then the shortest name wins
 * (X-Q4_K_M.gguf over X-Q4_K_M-imat.gguf). Rejected: regular expressions
 * from the user (surprising, and POSIX regex is not in C11). */
#include "pull_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- error text ------------------------------------------------------------ */

static _Thread_local char g_err[1024];

int ag_pull_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof(g_err), fmt, ap);
    va_end(ap);
    /* One line, safe on a terminal, whatever the server or user sent. */
    for (char *p = g_err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return code;
}

void ag_pull_clear_error(void) { g_err[0] = '\0'; }

const char *ag_pull_error(void) { return g_err; }

const char *ag_pull_default_model(void) { return ag_pull_default_name; }

/* ---- small string helpers -------------------------------------------------- */

bool ag_pull_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

const char *ag_pull_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

bool ag_pull_ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

void ag_pull_fmt_size(uint64_t n, char *buf, size_t cap)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return;
    }
    double v = (double)n / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    if (u >= 2 || v < 10.0)
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    else
        snprintf(buf, cap, "%.0f %s", v, units[u]);
}

/* ---- short names ----------------------------------------------------------- */

/* Splits "NAME SPEC DESC..." (tabs or spaces) into m; false for a blank,
 * comment or malformed line. */
static bool parse_list_line(char *line, ag_pull_model *m)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return false;
    char *name = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char *spec = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char *desc = p;
    size_t dn = strlen(desc);
    while (dn && (desc[dn - 1] == ' ' || desc[dn - 1] == '\t'))
        desc[--dn] = '\0';
    if (!*spec || strlen(name) >= sizeof(m->name) || strlen(spec) >= sizeof(m->spec))
        return false;
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->spec, sizeof(m->spec), "%s", spec);
    snprintf(m->desc, sizeof(m->desc), "%s", desc);
    return true;
}

/* Appends m to out[0..cap) unless a model of that name is already there. */
static size_t add_model(ag_pull_model *out, size_t cap, size_t n, const ag_pull_model *m,
                        ag_pull_model *seen, size_t n_seen_cap)
{
    for (size_t i = 0; i < n && i < n_seen_cap; i++)
        if (strcasecmp(seen[i].name, m->name) == 0)
            return n;
    if (n < n_seen_cap)
        seen[n] = *m;
    if (n < cap)
        out[n] = *m;
    return n + 1;
}

size_t ag_pull_models(ag_pull_model *out, size_t cap)
{
    enum { MAX_MODELS = 512 };
    ag_pull_model *seen = calloc(MAX_MODELS, sizeof(*seen));
    if (!seen)
        return 0;
    size_t n = 0;
    const char *list = getenv("AIRGAP_MODELS_LIST");
    FILE *f = list && *list ? fopen(list, "r") : NULL;
    if (f) {
        char line[1024];
        ag_pull_model m;
        while (fgets(line, sizeof(line), f) && n < MAX_MODELS) {
            line[strcspn(line, "\r\n")] = '\0';
            if (parse_list_line(line, &m))
                n = add_model(out, cap, n, &m, seen, MAX_MODELS);
        }
        fclose(f);
    }
    for (size_t i = 0; i < ag_pull_n_builtins && n < MAX_MODELS; i++) {
        ag_pull_model m;
        snprintf(m.name, sizeof(m.name), "%s", ag_pull_builtins[i].name);
        snprintf(m.spec, sizeof(m.spec), "%s", ag_pull_builtins[i].spec);
        snprintf(m.desc, sizeof(m.desc), "%s", ag_pull_builtins[i].desc);
        n = add_model(out, cap, n, &m, seen, MAX_MODELS);
    }
    free(seen);
    return n;
}

bool ag_pull_lookup_short(const char *name, ag_pull_model *out)
{
    size_t n = ag_pull_models(NULL, 0);
    ag_pull_model *all = n ? calloc(n, sizeof(*all)) : NULL;
    bool found = false;
    if (!all)
        return false;
    n = ag_pull_models(all, n);
    for (size_t i = 0; i < n && !found; i++) {
        if (strcasecmp(all[i].name, name) == 0) {
            *out = all[i];
            found = true;
        }
    }
    free(all);
    return found;
}

/* "qwen3.5-0.8b, qwen3.5-2b, ..." for messages. */
static void short_names(char *buf, size_t cap)
{
    ag_pull_model m[16];
    size_t n = ag_pull_models(m, 16);
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 16; i++) {
        size_t len = strlen(buf);
        ag_pull_fmt(buf + len, cap - len, "%s%s", i ? ", " : "", m[i].name);
    }
    if (n > 16) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, ", ...");
    }
}

/* ---- parsing --------------------------------------------------------------- */

/* A Hugging Face owner or repo name: [A-Za-z0-9._-], 1..96 chars, not
 * starting with '.' or '-' (so never "." or ".."). */
static bool valid_hf_name(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* A path inside the repo: non-empty '/'-separated parts, none "." or "..",
 * no control characters or backslashes, ending in .gguf. */
bool ag_pull_valid_repo_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(((pull_spec *)0)->file) || !ag_pull_ends_with_ci(s, ".gguf"))
        return false;
    const char *part = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - part);
            if (len == 0 || (len == 1 && part[0] == '.') ||
                (len == 2 && part[0] == '.' && part[1] == '.'))
                return false;
            if (*p == '\0')
                break;
            part = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
            return false;
        }
    }
    return true;
}

static int parse_repo_spec(const char *s, pull_spec *out)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "'%s' is not REPO[:QUANT] or REPO/FILE.gguf", s);
    size_t n_owner = (size_t)(slash - s);
    const char *rest = slash + 1;
    const char *slash2 = strchr(rest, '/');
    const char *colon = strchr(rest, ':');
    size_t n_name;
    if (slash2 && (!colon || colon > slash2)) {
        n_name = (size_t)(slash2 - rest);
        if (!ag_pull_valid_repo_path(slash2 + 1))
            return ag_pull_fail(AG_PULL_ERR_USAGE,
                                "'%s': the file part must be a path ending in .gguf, "
                                "without empty, '.' or '..' parts",
                                s);
        out->kind = SPEC_FILE;
        snprintf(out->file, sizeof(out->file), "%s", slash2 + 1);
    } else {
        n_name = colon ? (size_t)(colon - rest) : strlen(rest);
        out->kind = SPEC_QUANT;
        if (colon) {
            const char *q = colon + 1;
            size_t nq = strlen(q);
            bool ok = nq > 0 && nq < sizeof(out->quant);
            for (size_t i = 0; ok && i < nq; i++)
                ok = isalnum((unsigned char)q[i]) || q[i] == '_' || q[i] == '-' || q[i] == '.';
            if (!ok)
                return ag_pull_fail(AG_PULL_ERR_USAGE,
                                    "'%s': QUANT must be letters, digits, '_', '-' or '.' "
                                    "(like Q4_K_M)",
                                    s);
            memcpy(out->quant, q, nq + 1);
        }
    }
    bool dashes = false; /* "--" in the owner would make the cache folder name ambiguous */
    for (size_t i = 0; i + 1 < n_owner; i++)
        dashes |= s[i] == '-' && s[i + 1] == '-';
    if (!valid_hf_name(s, n_owner) || !valid_hf_name(rest, n_name) || dashes)
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "'%s': REPO must be OWNER/NAME made of letters, digits, '.', '_' "
                            "and '-' (like unsloth/Qwen3.5-0.8B-GGUF)",
                            s);
    snprintf(out->repo, sizeof(out->repo), "%.*s/%.*s", (int)n_owner, s, (int)n_name, rest);
    return AG_PULL_OK;
}

int ag_pull_parse_spec(const char *s, pull_spec *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return ag_pull_fail(AG_PULL_ERR_USAGE, "empty model name");
    if (strchr(s, '/'))
        return parse_repo_spec(s, out);
    ag_pull_model m;
    if (!ag_pull_lookup_short(s, &m)) {
        char names[512];
        short_names(names, sizeof(names));
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND,
                            "unknown model '%s': not a file, and not a built-in name (%s) "
                            "or REPO:QUANT or REPO/FILE.gguf",
                            s, names);
    }
    if (!strchr(m.spec, '/') || parse_repo_spec(m.spec, out) != AG_PULL_OK)
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "model name '%s' maps to '%s', which is not REPO:QUANT or "
                            "REPO/FILE.gguf (check $AIRGAP_MODELS_LIST)",
                            m.name, m.spec);
    snprintf(out->alias, sizeof(out->alias), "%s", m.name);
    return AG_PULL_OK;
}

/* ---- file names ------------------------------------------------------------ */

/* Length of the stem: the base name without .gguf. */
static size_t stem_len(const char *base)
{
    size_t n = strlen(base);
    return ag_pull_ends_with_ci(base, ".gguf") ? n - 5 : n;
}

bool ag_pull_is_split(const char *file)
{
    /* ...-00001-of-00003.gguf */
    const char *b = ag_pull_basename(file);
    size_t n = stem_len(b);
    if (n < 15)
        return false;
    const char *p = b + n - 15;
    for (int i = 0; i < 15; i++) {
        bool digit = isdigit((unsigned char)p[i]);
        if (i == 0 || i == 6 || i == 9) {
            if (p[i] != '-')
                return false;
        } else if (i == 7 || i == 8) {
            if (tolower((unsigned char)p[i]) != "of"[i - 7])
                return false;
        } else if (!digit) {
            return false;
        }
    }
    return true;
}

bool ag_pull_is_mmproj(const char *file)
{
    return strncasecmp(ag_pull_basename(file), "mmproj", 6) == 0;
}

static bool is_delim(char c) { return c == '-' || c == '.'; }

static bool quant_matches(const char *file, const char *q)
{
    const char *b = ag_pull_basename(file);
    size_t n = stem_len(b), nq = strlen(q);
    for (size_t i = 0; nq && i + nq <= n; i++) {
        if ((i == 0 || is_delim(b[i - 1])) && (i + nq == n || is_delim(b[i + nq])) &&
            strncasecmp(b + i, q, nq) == 0)
            return true;
    }
    return false;
}

static bool looks_like_quant(const char *t, size_t n)
{
    char u[16];
    if (n == 0 || n >= sizeof(u))
        return false;
    for (size_t i = 0; i < n; i++)
        u[i] = (char)toupper((unsigned char)t[i]);
    u[n] = '\0';
    if ((u[0] == 'Q' && isdigit((unsigned char)u[1])) ||
        ((u[0] == 'I' || u[0] == 'T') && u[1] == 'Q' && isdigit((unsigned char)u[2])))
        return true;
    return !strcmp(u, "F16") || !strcmp(u, "F32") || !strcmp(u, "BF16") || !strcmp(u, "F64") ||
           !strncmp(u, "MXFP", 4);
}

void ag_pull_quant_of(const char *file, char *out, size_t cap)
{
    const char *b = ag_pull_basename(file);
    size_t n = stem_len(b);
    if (ag_pull_is_split(b))
        n -= 15;
    out[0] = '\0';
    /* Scan the '-'/'.' separated parts from the end. */
    size_t end = n;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && !is_delim(b[start - 1]))
            start--;
        if (looks_like_quant(b + start, end - start)) {
            /* unsloth's dynamic quants: ...-UD-Q4_K_XL */
            if (start >= 3 && strncasecmp(b + start - 3, "UD", 2) == 0 &&
                (start == 3 || is_delim(b[start - 4])))
                start -= 3;
            snprintf(out, cap, "%.*s", (int)(end - start), b + start);
            return;
        }
        if (start == 0)
            break;
        end = start - 1;
    }
}

/* "Q4_K_M, Q8_0, X.gguf" of the candidate files, for messages. */
static void list_choices(const pull_spec *spec, const char *const *files, size_t n, char *buf,
                         size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *f = files[i];
        if (!ag_pull_ends_with_ci(f, ".gguf") || ag_pull_is_mmproj(f))
            continue;
        char q[64], item[320];
        ag_pull_quant_of(f, q, sizeof(q));
        if (q[0])
            snprintf(item, sizeof(item), "%s:%s", spec->repo, q);
        else
            snprintf(item, sizeof(item), "%s/%s", spec->repo, f);
        if (strstr(buf, item))
            continue;
        size_t len = strlen(buf);
        if (len + strlen(item) + 8 >= cap) {
            snprintf(buf + len, cap - len, ", ...");
            return;
        }
        snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", item);
    }
    if (!buf[0])
        snprintf(buf, cap, "(none)");
}

/* Whether a is a better pick than b: non-split, then shorter, then by name. */
static bool better(const char *a, const char *b)
{
    bool sa = ag_pull_is_split(a), sb = ag_pull_is_split(b);
    if (sa != sb)
        return !sa;
    size_t la = strlen(ag_pull_basename(a)), lb = strlen(ag_pull_basename(b));
    if (la != lb)
        return la < lb;
    return strcmp(a, b) < 0;
}

int ag_pull_choose(const pull_spec *spec, const char *const *files, size_t n, const char *where,
                   size_t *idx)
{
    char choices[700];
    size_t n_models = 0, only = 0;
    for (size_t i = 0; i < n; i++) {
        if (ag_pull_ends_with_ci(files[i], ".gguf") && !ag_pull_is_mmproj(files[i])) {
            n_models++;
            only = i;
        }
    }
    if (n_models == 0)
        return ag_pull_fail(AG_PULL_ERR_NOT_FOUND, "%s has no .gguf model files", where);
    const char *q = spec->quant[0] ? spec->quant : "Q4_K_M";
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
        if (!ag_pull_ends_with_ci(files[i], ".gguf") || ag_pull_is_mmproj(files[i]) ||
            !quant_matches(files[i], q))
            continue;
        if (best == n || better(files[i], files[best]))
            best = i;
    }
    if (best == n && !spec->quant[0] && n_models == 1)
        best = only;
    if (best == n) {
        list_choices(spec, files, n, choices, sizeof(choices));
        if (spec->quant[0])
            return ag_pull_fail(AG_PULL_ERR_NOT_FOUND,
                                "%s has no file for quant '%s'; available: %s", where, q, choices);
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "%s has several models and no Q4_K_M; choose one: %s", where,
                            choices);
    }
    if (ag_pull_is_split(files[best]))
        return ag_pull_fail(AG_PULL_ERR_USAGE,
                            "%s has %s only split into several files (%s); airgap loads "
                            "single-file GGUF models only",
                            where, q, ag_pull_basename(files[best]));
    *idx = best;
    return AG_PULL_OK;
}
