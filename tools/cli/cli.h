/* cli.h: what the airgap command-line program's files share.
 *
 * The CLI is a client of include/airgap.h only (never src/), so it doubles as
 * a check that the public API is enough to build a real program. Each
 * subcommand lives in its own cmd_*.c and is a plain int cmd_x(argc, argv)
 * returning the process exit status: 0 ok, 1 runtime/library failure
 * ("airgap: <detail>" on stderr), 2 usage error (one line on stderr),
 * 130 interrupted by Ctrl-C.
 *
 * Flags are declared as a table (cli_opt) per command, and one parser
 * (cli_parse) handles every command: this keeps the error messages uniform and
 * makes --help print every flag with its current default straight from the
 * table, so help and behaviour cannot drift apart. Rejected: getopt_long (no
 * range checks, no generated help, GNU-specific permutation rules) and a
 * hand-written strcmp chain per command (help text would drift). */
#ifndef AG_CLI_H
#define AG_CLI_H

#include "airgap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

typedef enum cli_kind {
    CLI_BOOL,   /* bool *: present = true, takes no value */
    CLI_INT,    /* int32_t *, range [min, max] */
    CLI_U64,    /* uint64_t * (seeds); range ignored */
    CLI_FLOAT,  /* float *, range [min, max] */
    CLI_STR,    /* const char ** (points into argv) */
} cli_kind;

typedef struct cli_opt {
    const char *shrt;     /* "-n" or NULL */
    const char *lng;      /* "--n-predict" or NULL */
    cli_kind kind;
    void *dest;
    double min, max;      /* CLI_INT / CLI_FLOAT range, inclusive */
    const char *meta;     /* value placeholder in help: "N", "F", "FILE" */
    const char *help;     /* one line; the default is appended automatically */
    bool required;
    bool no_default;      /* do not print "(default: ...)" (help says it) */
    bool *seen;           /* optional: set to true when the flag is given */
} cli_opt;

typedef struct cli_spec {
    const char *cmd;        /* "run" */
    const char *usage;      /* "-m FILE -p TEXT [options]" */
    const char *summary;    /* what the command does, one or more lines */
    const char *example;    /* one or more example command lines */
    const cli_opt *opts;
    size_t n_opts;
    const char *pos_name;   /* positional argument name ("TEXT") or NULL: none allowed */
    size_t max_pos;         /* how many positionals may be given */
} cli_spec;

/* Parses argv[1..argc) (argv[0] is the command name) into the table's
 * destinations; positionals go to pos[0..max_pos) and their count to *n_pos.
 * Returns -1 to go on, else the exit status to return right away: 0 after
 * printing --help to stdout, 2 after printing one error line to stderr. */
int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, size_t *n_pos);
void cli_print_help(const cli_spec *spec, FILE *f);

/* "airgap <cmd>: <message>" on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "airgap: <ag_last_error()>" (or the status text if the detail is empty) on
 * stderr; returns CLI_FAIL. */
int cli_fail(ag_status s);
/* "airgap: <message>" on stderr; returns CLI_FAIL. For failures outside the
 * library (a prompt file that cannot be read, a write that fails). */
int cli_fail_msg(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Number parsing with the CLI's error wording; return false (message
 * already printed) on failure. flag is the flag as the user typed it. */
bool cli_parse_int(const char *cmd, const char *flag, const char *s, double min, double max,
                   int32_t *out);
bool cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
bool cli_parse_float(const char *cmd, const char *flag, const char *s, double min, double max,
                     float *out);

/* A KV cache type name (f16, f32, q8_0, q4_0) for flag; false (message
 * printed, naming the choices) if unknown. */
bool cli_parse_cache_type(const char *cmd, const char *flag, const char *s, ag_cache_type *out);

/* A size such as 3GiB, 512MiB, 2G, 1e9 into bytes; false (message printed). */
bool cli_parse_bytes(const char *cmd, const char *flag, const char *s, uint64_t *out);

/* The memory check before loading (cmd_plan.c): plans path with *pp (with
 * fit: picks n_ctx and the KV types into pp->ctx, saying so on stderr unless
 * quiet). Returns CLI_OK, or CLI_FAIL after printing why it does not fit,
 * by how much and which flags would fit. */
int cli_plan_check(const char *cmd, const char *path, ag_plan_params *pp, bool fit, bool quiet, ag_plan *out);
void cli_plan_print(FILE *f, const char *path, const ag_plan *p);

/* Reads a whole file into a NUL-terminated malloc'd buffer. On failure prints
 * "airgap: PATH: <reason>" and returns false. */
bool cli_read_file(const char *path, char **data, size_t *len);

/* Writes n bytes of s so that any bytes are safe on a terminal: valid UTF-8
 * passes through; control bytes, invalid UTF-8, backslash and the quote
 * character (if nonzero) are escaped (\n, \t, \xNN, ...). */
void cli_put_escaped(FILE *f, const char *s, size_t n, char quote);
/* The same, but a backslash passes through: for text the library already
 * escaped (metadata values, error details). */
void cli_put_safe(FILE *f, const char *s, size_t n);

/* Tokenizes text into a malloc'd array (retrying with the size the library
 * asks for). */
ag_status cli_tokenize(const ag_model *m, const char *text, size_t len, bool parse_special,
                       int32_t **tokens, size_t *n);
/* Renders a chat into a malloc'd NUL-terminated string. */
ag_status cli_chat_render(const ag_chat_message *msgs, size_t n, const ag_chat_options *opt,
                          char **out, size_t *len);

/* Progress of a long library call on stderr: one line rewritten with \r on
 * a terminal, a plain line every 10% otherwise ("synth: 40%"). Pass
 * cli_progress_cb and &p as the call's progress callback and user pointer. */
typedef struct cli_progress {
    const char *label;
    bool tty;
    int last;   /* last percentage shown, -1 = none */
} cli_progress;
cli_progress cli_progress_start(const char *label);
void cli_progress_cb(void *user, double fraction);
void cli_progress_end(cli_progress *p); /* ends the \r line on a terminal */

double cli_now(void);                    /* monotonic seconds */
void cli_fmt_bytes(uint64_t n, char *buf, size_t cap); /* "300.1 MiB" */
void cli_fmt_count(uint64_t n, char *buf, size_t cap); /* "752.4 M" */

/* Ctrl-C handling shared by run and chat: the first SIGINT sets the flag,
 * a second one while it is still set exits at once with status 130. */
void cli_sigint_install(void);
bool cli_interrupted(void);
void cli_interrupt_clear(void);
bool cli_should_abort(void *user);       /* for ag_context_set_abort */

/* Turns a -m argument (a path, a cached name, or NULL for the default model)
 * into a file path. may_pull: download a pullable name that is not cached
 * (run and chat), unless offline. Prints one error line on failure and
 * returns the exit status (CLI_FAIL, or 130 when a download was interrupted). */
int cli_model_path(const char *arg, bool may_pull, bool offline, char *out, size_t cap);

int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plan(int argc, char **argv);

#endif
