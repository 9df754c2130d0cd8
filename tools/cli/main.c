/* main.c: the airgap command-line program: subcommand dispatch and the
 * helpers every subcommand shares (flag parsing, number checks, error lines,
 * escaping, buffers that grow to what the library asks for, Ctrl-C).
 *
 *     airgap run | chat | info | tokenize | logits | synth | quantize | bench | pull | list | rm  [flags]
 *     airgap help [CMD] | --help | --version
 *
 * Exit status: 0 ok, 1 failure (one line "airgap: <detail>"), 2 usage error
 * (one line naming the flag), 130 interrupted. Help goes to stdout, errors to
 * stderr. Why a table-driven parser instead of getopt_long: see cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------- */

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "airgap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

int cli_fail(ag_status s)
{
    const char *e = ag_last_error();
    fputs("airgap: ", stderr);
    if (e && e[0])
        cli_put_safe(stderr, e, strlen(e));
    else
        fputs(ag_status_str(s), stderr);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_fail_msg(const char *fmt, ...)
{
    va_list ap;
    fputs("airgap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

/* ---- numbers --------------------------------------------------------------- */

static void range_error(const char *cmd, const char *flag, const char *what, double min,
                        double max, const char *s)
{
    if (strcmp(what, "an integer") == 0)
        fprintf(stderr, "airgap %s: %s: expected %s in [%.0f, %.0f], got '", cmd, flag, what, min,
                max);
    else
        fprintf(stderr, "airgap %s: %s: expected %s in [%g, %g], got '", cmd, flag, what, min,
                max);
    cli_put_escaped(stderr, s, strlen(s), 0);
    fputs("'\n", stderr);
}

static void type_error(const char *cmd, const char *flag, const char *what, const char *s)
{
    fprintf(stderr, "airgap %s: %s: expected %s, got '", cmd, flag, what);
    cli_put_escaped(stderr, s, strlen(s), 0);
    fputs("'\n", stderr);
}

bool cli_parse_int(const char *cmd, const char *flag, const char *s, double min, double max,
                   int32_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == ' ' || s[0] == '\t') {
        type_error(cmd, flag, "an integer", s);
        return false;
    }
    if (errno == ERANGE || (double)v < min || (double)v > max) {
        range_error(cmd, flag, "an integer", min, max, s);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_parse_cache_type(const char *cmd, const char *flag, const char *s, ag_cache_type *out)
{
    int t = ag_cache_type_parse(s);
    if (t < 0) {
        cli_usage_error(cmd, "%s: unknown cache type '%s' (f16, f32, q8_0, q4_0)", flag, s);
        return false;
    }
    *out = (ag_cache_type)t;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || s[0] < '0' || s[0] > '9') {
        type_error(cmd, flag, "a non-negative integer", s);
        return false;
    }
    if (errno == ERANGE) {
        type_error(cmd, flag, "an integer below 2^64", s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *flag, const char *s, double min, double max,
                     float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || s[0] == ' ' || s[0] == '\t' || !isfinite(v)) {
        type_error(cmd, flag, "a number", s);
        return false;
    }
    if (v < min || v > max) {
        range_error(cmd, flag, "a number", min, max, s);
        return false;
    }
    *out = (float)v;
    return true;
}

/* ---- flag parsing ---------------------------------------------------------- */

static const cli_opt *find_opt(const cli_spec *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        if (o->shrt && strlen(o->shrt) == len && memcmp(o->shrt, name, len) == 0)
            return o;
        if (o->lng && strlen(o->lng) == len && memcmp(o->lng, name, len) == 0)
            return o;
    }
    return NULL;
}

static bool is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

/* The default shown in help is the destination's value before parsing. */
static void fmt_default(const cli_opt *o, char *buf, size_t cap)
{
    buf[0] = 0;
    if (o->no_default || o->required)
        return;
    switch (o->kind) {
    case CLI_BOOL: break;
    case CLI_INT: snprintf(buf, cap, "%d", (int)*(int32_t *)o->dest); break;
    case CLI_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(uint64_t *)o->dest); break;
    case CLI_FLOAT: snprintf(buf, cap, "%g", (double)*(float *)o->dest); break;
    case CLI_STR: {
        const char *s = *(const char **)o->dest;
        if (s)
            snprintf(buf, cap, "%s", s);
        break;
    }
    }
}

/* Prints text from column indent (the cursor is there already), breaking
 * lines at spaces before column width. */
static void put_wrapped(FILE *f, const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    while (*p) {
        const char *w = p;
        while (*w && *w != ' ')
            w++;
        int wl = (int)(w - p);
        if (col > indent && col + 1 + wl > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, (size_t)wl, f);
        col += wl;
        p = w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

void cli_print_help(const cli_spec *spec, FILE *f)
{
    fprintf(f, "usage: airgap %s %s\n\n%s\n\noptions:\n", spec->cmd, spec->usage, spec->summary);
    for (size_t i = 0; i <= spec->n_opts; i++) {
        cli_opt help = { "-h", "--help", CLI_BOOL, NULL, 0, 0, NULL, "show this help and exit",
                         false, false, NULL };
        const cli_opt *o = i < spec->n_opts ? &spec->opts[i] : &help;
        char left[64];
        snprintf(left, sizeof(left), "  %s%s%s%s%s", o->shrt ? o->shrt : "    ",
                 o->shrt && o->lng ? ", " : "", o->lng ? o->lng : "", o->meta ? " " : "",
                 o->meta ? o->meta : "");
        if (strlen(left) > 28)
            fprintf(f, "%s\n%-30s", left, "");
        else
            fprintf(f, "%-30s", left);
        char def[64], text[512];
        fmt_default(o, def, sizeof(def));
        if (o->required)
            snprintf(text, sizeof(text), "%s (required)", o->help);
        else if (def[0])
            snprintf(text, sizeof(text), "%s (default: %s)", o->help, def);
        else
            snprintf(text, sizeof(text), "%s", o->help);
        put_wrapped(f, text, 30, 80);
    }
    fprintf(f, "\nexample:\n%s\n", spec->example);
}

/* Pre-pass: is -h/--help given where a flag could be (not as a flag's value)? */
static bool wants_help(const cli_spec *spec, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return false;
        if (is_help(a))
            return true;
        if (a[0] != '-' || a[1] == 0 || strchr(a, '='))
            continue;
        const cli_opt *o = find_opt(spec, a, strlen(a));
        if (o && o->kind != CLI_BOOL)
            i++; /* skip its value */
    }
    return false;
}

static bool set_value(const cli_spec *spec, const cli_opt *o, const char *flag, const char *v)
{
    switch (o->kind) {
    case CLI_BOOL: *(bool *)o->dest = true; return true;
    case CLI_INT: return cli_parse_int(spec->cmd, flag, v, o->min, o->max, (int32_t *)o->dest);
    case CLI_U64: return cli_parse_u64(spec->cmd, flag, v, (uint64_t *)o->dest);
    case CLI_FLOAT: return cli_parse_float(spec->cmd, flag, v, o->min, o->max, (float *)o->dest);
    case CLI_STR: *(const char **)o->dest = v; return true;
    }
    return false;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, size_t *n_pos)
{
    if (n_pos)
        *n_pos = 0;
    if (wants_help(spec, argc, argv)) {
        cli_print_help(spec, stdout);
        return CLI_OK;
    }
    bool *given = calloc(spec->n_opts + 1, sizeof(bool));
    if (!given) {
        fprintf(stderr, "airgap: out of memory\n");
        return CLI_FAIL;
    }
    int rc = -1;
    bool only_pos = false;
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (!spec->pos_name) {
                fprintf(stderr, "airgap %s: unexpected argument '", spec->cmd);
                cli_put_escaped(stderr, a, strlen(a), 0);
                fprintf(stderr, "' (see 'airgap %s --help')\n", spec->cmd);
                rc = CLI_USAGE;
            } else if (*n_pos >= spec->max_pos) {
                rc = cli_usage_error(spec->cmd, "too many arguments: %s given more than once "
                                     "(quote text with spaces)", spec->pos_name);
            } else {
                pos[(*n_pos)++] = a;
            }
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = find_opt(spec, a, name_len);
        char flag[64];
        snprintf(flag, sizeof(flag), "%.*s", (int)(name_len < 60 ? name_len : 60), a);
        if (!o) {
            fprintf(stderr, "airgap %s: unknown flag '", spec->cmd);
            cli_put_escaped(stderr, a, name_len, 0);
            fprintf(stderr, "' (see 'airgap %s --help')\n", spec->cmd);
            rc = CLI_USAGE;
            continue;
        }
        const char *v = NULL;
        if (o->kind == CLI_BOOL) {
            if (eq) {
                rc = cli_usage_error(spec->cmd, "%s: takes no value", flag);
                continue;
            }
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            rc = cli_usage_error(spec->cmd, "%s: missing value (%s)", flag,
                                 o->meta ? o->meta : "value");
            continue;
        }
        if (!set_value(spec, o, flag, v)) {
            rc = CLI_USAGE;
            continue;
        }
        given[o - spec->opts] = true;
        if (o->seen)
            *o->seen = true;
    }
    for (size_t k = 0; k < spec->n_opts && rc < 0; k++) {
        const cli_opt *o = &spec->opts[k];
        if (o->required && !given[k])
            rc = cli_usage_error(spec->cmd, "%s%s%s %s is required (see 'airgap %s --help')",
                                 o->shrt ? o->shrt : "", o->shrt && o->lng ? "/" : "",
                                 o->lng ? o->lng : "", o->meta ? o->meta : "", spec->cmd);
    }
    free(given);
    return rc;
}

/* ---- text and buffers ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void put_text_escaped(FILE *f, const char *str, size_t n, char quote, bool backslash)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if ((backslash && c == '\\') || (quote && c == (unsigned char)quote)) {
            fputc('\\', f);
            fputc((int)c, f);
            i++;
        } else if (c == '\n') { fputs("\\n", f); i++; }
        else if (c == '\t') { fputs("\\t", f); i++; }
        else if (c == '\r') { fputs("\\r", f); i++; }
        else if (c < 0x20 || c == 0x7F) { fprintf(f, "\\x%02x", c); i++; }
        else {
            size_t l = utf8_len(s + i, n - i);
            if (l == 0) {
                fprintf(f, "\\x%02x", c);
                i++;
            } else {
                fwrite(s + i, 1, l, f);
                i += l;
            }
        }
    }
}

void cli_put_escaped(FILE *f, const char *s, size_t n, char quote)
{
    put_text_escaped(f, s, n, quote, true);
}

void cli_put_safe(FILE *f, const char *s, size_t n)
{
    put_text_escaped(f, s, n, 0, false);
}

bool cli_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail_msg("%s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool err = ferror(f) != 0;
    int e = errno;
    fclose(f);
    if (!buf) {
        cli_fail_msg("%s: out of memory", path);
        return false;
    }
    if (err) {
        free(buf);
        cli_fail_msg("%s: read error: %s", path, strerror(e));
        return false;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return true;
}

ag_status cli_tokenize(const ag_model *m, const char *text, size_t len, bool parse_special,
                       int32_t **tokens, size_t *n)
{
    size_t cap = len + 16;
    *tokens = NULL;
    *n = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        int32_t *buf = malloc(cap * sizeof(*buf));
        if (!buf) {
            fprintf(stderr, "airgap: out of memory tokenizing %zu bytes\n", len);
            return AG_ERR_NOMEM;
        }
        size_t need = 0;
        ag_status s = ag_tokenize(m, text, len, parse_special, buf, cap, &need);
        if (s == AG_OK) {
            *tokens = buf;
            *n = need;
            return AG_OK;
        }
        free(buf);
        if (s != AG_ERR_BUFFER_TOO_SMALL || need <= cap)
            return s;
        cap = need;
    }
    return AG_ERR_BUFFER_TOO_SMALL;
}

ag_status cli_chat_render(const ag_chat_message *msgs, size_t n, const ag_chat_options *opt,
                          char **out, size_t *len)
{
    size_t cap = 256;
    for (size_t i = 0; i < n; i++)
        cap += (msgs[i].content ? strlen(msgs[i].content) : 0) + 64;
    *out = NULL;
    *len = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        char *buf = malloc(cap);
        if (!buf)
            return AG_ERR_NOMEM;
        size_t need = 0;
        ag_status s = ag_chat_render(msgs, n, opt, buf, cap, &need);
        if (s == AG_OK) {
            *out = buf;
            *len = need;
            return AG_OK;
        }
        free(buf);
        if (s != AG_ERR_BUFFER_TOO_SMALL || need + 1 <= cap)
            return s;
        cap = need + 1;
    }
    return AG_ERR_BUFFER_TOO_SMALL;
}

cli_progress cli_progress_start(const char *label)
{
    cli_progress p = { label, isatty(STDERR_FILENO) != 0, -1 };
    return p;
}

void cli_progress_cb(void *user, double fraction)
{
    cli_progress *p = user;
    if (!(fraction >= 0))
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    int pct = (int)(fraction * 100.0);
    if (p->tty) {
        if (pct != p->last) {
            fprintf(stderr, "\r%s: %3d%%", p->label, pct);
            fflush(stderr);
            p->last = pct;
        }
    } else if (pct / 10 != p->last / 10 || p->last < 0) {
        fprintf(stderr, "%s: %d%%\n", p->label, pct / 10 * 10);
        p->last = pct;
    }
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty && p->last >= 0)
        fputc('\n', stderr);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_fmt_bytes(uint64_t n, char *buf, size_t cap)
{
    if (n < 1024)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else if (n < 1024ull * 1024)
        snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
    else if (n < 1024ull * 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, cap, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

void cli_fmt_count(uint64_t n, char *buf, size_t cap)
{
    if (n < 1000)
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    else if (n < 1000000)
        snprintf(buf, cap, "%.1f K", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(buf, cap, "%.1f M", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.2f B", (double)n / 1e9);
}

/* ---- Ctrl-C ---------------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_interrupted) {
        static const char msg[] = "\n";
        ssize_t w = write(STDERR_FILENO, msg, 1);
        (void)w;
        _exit(CLI_INTERRUPTED);
    }
    g_interrupted = 1;
}

void cli_sigint_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read at the chat prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);
}

bool cli_interrupted(void) { return g_interrupted != 0; }
void cli_interrupt_clear(void) { g_interrupted = 0; }
bool cli_should_abort(void *user)
{
    (void)user;
    return g_interrupted != 0;
}

/* ---- dispatch -------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    { "run", cmd_run, "generate text from a prompt" },
    { "chat", cmd_chat, "interactive multi-turn chat (reads lines from stdin)" },
    { "info", cmd_info, "show a model's architecture, size, tensor types and metadata" },
    { "tokenize", cmd_tokenize, "print the token ids (and pieces) of a text" },
    { "logits", cmd_logits, "dump the logits of a token sequence as float32 (for testing)" },
    { "synth", cmd_synth, "write a random-weight Qwen3.5 GGUF model (for testing)" },
    { "quantize", cmd_quantize, "rewrite a GGUF model with quantized weights (Q4_K_M, Q8_0, ...)" },
    { "bench", cmd_bench, "measure prefill and decode speed (llama-bench style table or JSON)" },
    { "plan", cmd_plan, "predict a model's peak memory for a context, and whether it fits" },
    { "pull", cmd_pull, "download a model into the local cache (REPO[:QUANT] or a short name)" },
    { "list", cmd_list, "list cached models" },
    { "rm", cmd_rm, "remove a cached model" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *f)
{
    fprintf(f, "usage: airgap <command> [flags]\n\n"
               "airgap runs Qwen3.5 GGUF models on the CPU, fully offline.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "'airgap help CMD' shows a command's flags");
    fprintf(f, "\noptions:\n  -h, --help     show this help and exit\n"
               "      --version  print the version and exit\n"
               "\n'airgap CMD --help' lists every flag of CMD with its default.\n"
               "\nexample:\n"
               "  airgap chat                      (pulls Qwen3.5-0.8B Q4_K_M on first use)\n"
               "  airgap run -m Qwen3.5-0.8B-Q4_K_M.gguf -p \"Why is the sky blue?\" -n 128\n");
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    fputs("airgap: unknown command '", stderr);
    cli_put_escaped(stderr, name, strlen(name), 0);
    fputs("' (see 'airgap --help')\n", stderr);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *a = argv[1];
    if (is_help(a)) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(a, "--version") == 0) {
        printf("airgap %s\n", ag_version());
        return CLI_OK;
    }
    if (strcmp(a, "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return CLI_OK;
        }
        const command *c = find_command(argv[2]);
        if (!c)
            return unknown_command(argv[2]);
        char *hargv[3] = { argv[2], "--help", NULL };
        return c->fn(2, hargv);
    }
    const command *c = find_command(a);
    if (!c) {
        if (a[0] == '-') {
            fputs("airgap: unknown flag '", stderr);
            cli_put_escaped(stderr, a, strlen(a), 0);
            fputs("' (see 'airgap --help')\n", stderr);
            return CLI_USAGE;
        }
        return unknown_command(a);
    }
    int rc = c->fn(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == CLI_OK)
        rc = cli_fail_msg("writing to stdout failed");
    return rc;
}
