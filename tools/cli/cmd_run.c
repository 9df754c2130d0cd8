/* cmd_run.c: `airgap run` (one prompt, streamed answer) and `airgap chat`
 * (multi-turn REPL), sharing one generation loop (generate()).
 *
 * generate() is the whole data flow in one place: accept the new tokens into
 * the sampler's penalty history, prefill them with one ag_decode, then loop
 * sample -> detokenize -> print -> decode until an end-of-generation token,
 * the token limit, a full context or Ctrl-C. Text goes to stdout through
 * ag_detok (valid UTF-8 chunks, flushed per token); the stats line goes to
 * stderr so stdout stays the model's text only.
 *
 * Chat keeps ONE ag_context for the whole conversation and never re-processes
 * earlier turns: each new user turn feeds only its own tokens. A full
 * re-render of the conversation cannot be used to find the new suffix,
 * because the Qwen3.5 template re-renders earlier assistant turns without
 * their <think> block, so the rendered text stops matching what is already in
 * the context. Instead the new turn's text is appended:
 *     "<|im_end|>" (closes the previous answer: the end token the model
 *                   sampled is never decoded, so it is fed here, batched with
 *                   the turn; the same closes an answer cut by -n or Ctrl-C)
 *     "\n" + ag_chat_render([user msg], generation prompt)
 * and the first turn is ag_chat_render([system, user]). Rendering the user
 * turn through the library keeps the exact template bytes (including the
 * thinking on/off generation prompt) in one place. A generated token that was
 * sampled but not decoded (the answer stopped right after it) is fed first.
 * The recurrent DeltaNet state cannot be rewound, which is another reason
 * the design is append-only; /reset starts over. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- flags shared by run and chat ------------------------------------------ */

typedef struct gen_flags {
    const char *model, *prompt, *file, *system;
    int32_t n_predict, n_ctx, n_threads;
    ag_sampler_params sp;
    bool seed_set, think, raw, verbose, offline;
} gen_flags;

#define MAX_OPTS 32

static size_t model_opt(gen_flags *g, cli_opt *o, size_t n)
{
    o[n++] = (cli_opt){ "-m", "--model", CLI_STR, &g->model, 0, 0, "FILE|NAME",
                        "model file, or a cached/pullable name (default: qwen3.5-0.8b, pulled on "
                        "first use)", false, true, NULL };
    o[n++] = (cli_opt){ NULL, "--offline", CLI_BOOL, &g->offline, 0, 0, NULL,
                        "never touch the network (also AIRGAP_OFFLINE=1); fail if the model is "
                        "not cached", false, false, NULL };
    return n;
}

/* Appends the flags both commands take (length, context, sampling). */
static size_t common_opts(gen_flags *g, cli_opt *o, size_t n, bool chat)
{
    o[n++] = (cli_opt){ "-n", "--n-predict", CLI_INT, &g->n_predict, -1, INT32_MAX, "N",
                        chat ? "max tokens per answer, -1 = until the model ends it"
                             : "max tokens to generate, -1 = until the model ends",
                        false, false, NULL };
    o[n++] = (cli_opt){ "-c", "--ctx-size", CLI_INT, &g->n_ctx, 0, INT32_MAX, "N",
                        "context size in tokens, 0 = min(4096, training context)", false, false,
                        NULL };
    o[n++] = (cli_opt){ "-t", "--threads", CLI_INT, &g->n_threads, 0, 4096, "N",
                        "threads, 0 = physical cores", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--system", CLI_STR, &g->system, 0, 0, "TEXT",
                        "system prompt", false, true, NULL };
    o[n++] = (cli_opt){ NULL, "--think", CLI_BOOL, &g->think, 0, 0, NULL,
                        "let the model think first (enable_thinking; off by default)", false,
                        false, NULL };
    o[n++] = (cli_opt){ NULL, "--verbose-prompt", CLI_BOOL, &g->verbose, 0, 0, NULL,
                        chat ? "print each turn's new tokens (ids and text) to stderr"
                             : "print the prompt's tokens (ids and text) to stderr",
                        false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--temp", CLI_FLOAT, &g->sp.temperature, 0, 100, "F",
                        "temperature, 0 = greedy", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--top-k", CLI_INT, &g->sp.top_k, 0, INT32_MAX, "N",
                        "top-k sampling, 0 = off", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--top-p", CLI_FLOAT, &g->sp.top_p, 0, 1, "F",
                        "top-p (nucleus) sampling, 1 = off", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--min-p", CLI_FLOAT, &g->sp.min_p, 0, 1, "F",
                        "min-p sampling, 0 = off", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--seed", CLI_U64, &g->sp.seed, 0, 0, "N",
                        "sampling seed (default: random)", false, true, &g->seed_set };
    o[n++] = (cli_opt){ NULL, "--repeat-penalty", CLI_FLOAT, &g->sp.repeat_penalty, 0, 100, "F",
                        "penalize repeated tokens, 1 = off", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--repeat-last-n", CLI_INT, &g->sp.penalty_last_n, 0, INT32_MAX,
                        "N", "how many recent tokens the penalties look at", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--presence-penalty", CLI_FLOAT, &g->sp.presence_penalty, -100, 100,
                        "F", "presence penalty, 0 = off", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--frequency-penalty", CLI_FLOAT, &g->sp.frequency_penalty, -100,
                        100, "F", "frequency penalty, 0 = off", false, false, NULL };
    return n;
}

static void flags_init(gen_flags *g, int32_t n_predict)
{
    memset(g, 0, sizeof(*g));
    g->n_predict = n_predict;
    g->sp = ag_sampler_default_params();
}

/* ---- a loaded model with everything needed to generate ----------------------- */

typedef struct session {
    ag_model *model;
    ag_context *ctx;
    ag_sampler *smp;
    ag_detok *detok;
    char *piece;            /* detokenizer output buffer */
    size_t piece_cap;
    int32_t n_vocab;
    bool at_line_start;     /* nothing written yet, or the last byte was '\n' */
} session;

static void session_free(session *s)
{
    free(s->piece);
    ag_detok_free(s->detok);
    ag_sampler_free(s->smp);
    ag_context_free(s->ctx);
    ag_model_free(s->model);
    memset(s, 0, sizeof(*s));
}

static int session_open(session *s, gen_flags *g)
{
    memset(s, 0, sizeof(*s));
    s->at_line_start = true;
    char path[4096];
    int prc = cli_model_path(g->model, true, g->offline, path, sizeof(path));
    if (prc != CLI_OK)
        return prc;
    ag_model_params mp = ag_model_default_params();
    ag_status st = ag_model_load(path, &mp, &s->model);
    if (st != AG_OK)
        return cli_fail(st);
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = g->n_ctx;
    cp.n_threads = g->n_threads;
    if ((st = ag_context_create(s->model, &cp, &s->ctx)) != AG_OK)
        goto fail;
    ag_context_set_abort(s->ctx, cli_should_abort, NULL);
    if (!g->seed_set)
        g->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
    if ((st = ag_sampler_create(&g->sp, &s->smp)) != AG_OK)
        goto fail;
    if ((st = ag_detok_create(s->model, false, &s->detok)) != AG_OK)
        goto fail;
    s->n_vocab = ag_model_n_vocab(s->model);
    s->piece_cap = ag_detok_max_piece(s->detok) + 16;
    if (s->piece_cap < 4 * 64 + 8)
        s->piece_cap = 4 * 64 + 8;
    s->piece = malloc(s->piece_cap);
    if (!s->piece) {
        session_free(s);
        return cli_fail_msg("out of memory");
    }
    return CLI_OK;
fail:
    cli_fail(st);
    session_free(s);
    return CLI_FAIL;
}

static void put_text(session *s, const char *p, size_t n)
{
    if (n == 0)
        return;
    fwrite(p, 1, n, stdout);
    fflush(stdout);
    s->at_line_start = p[n - 1] == '\n';
}

/* Ends the model's text with a newline on stdout (so the stats line on stderr
 * starts on its own line and saved text ends like a text file). */
static void end_line(session *s)
{
    if (!s->at_line_start) {
        fputc('\n', stdout);
        fflush(stdout);
        s->at_line_start = true;
    }
}

/* --verbose-prompt: the ids, then the text they stand for (special tokens
 * shown), escaped, on stderr. */
static void print_feed(const session *s, const int32_t *toks, size_t n)
{
    fprintf(stderr, "[%zu new tokens:", n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", (int)toks[i]);
    fputs("]\n[text: '", stderr);
    char piece[512];
    for (size_t i = 0; i < n; i++) {
        size_t pn = 0;
        if (ag_token_to_piece(s->model, toks[i], true, piece, sizeof(piece), &pn) == AG_OK)
            cli_put_escaped(stderr, piece, pn < sizeof(piece) ? pn : sizeof(piece), '\'');
        else
            fprintf(stderr, "<%d?>", (int)toks[i]);
    }
    fputs("']\n", stderr);
}

/* ---- the generation loop --------------------------------------------------- */

typedef enum gen_stop {
    GEN_EOG,          /* the model ended its answer */
    GEN_LIMIT,        /* -n tokens generated */
    GEN_CTX_FULL,     /* the context filled up while generating */
    GEN_PROMPT_FULL,  /* the new tokens do not fit: nothing was processed */
    GEN_INTERRUPTED,  /* Ctrl-C */
    GEN_ERROR,        /* a library failure, already reported */
} gen_stop;

typedef struct gen_stats {
    size_t n_prompt;        /* new tokens processed by the prefill */
    double t_prompt;        /* seconds in the prefill */
    size_t n_gen;           /* text tokens generated (the end token not counted) */
    size_t n_sampled;       /* tokens sampled, the end token included */
    double t_first, t_last; /* when the first and the last token were sampled */
    double ttft;            /* seconds from t_start to the first token */
} gen_stats;

static void print_stats(const gen_stats *st)
{
    double pps = st->t_prompt > 0 ? (double)st->n_prompt / st->t_prompt : 0.0;
    double dt = st->t_last - st->t_first;
    double gps = st->n_sampled > 1 && dt > 0 ? (double)(st->n_sampled - 1) / dt : 0.0;
    fprintf(stderr, "[prompt %zu tok, %.1f tok/s | gen %zu tok, %.1f tok/s | ttft %.0f ms]\n",
            st->n_prompt, pps, st->n_gen, gps, st->ttft * 1000.0);
}

/* Feeds n_feed new tokens (n_feed >= 1), then generates up to n_predict
 * tokens (-1: no limit), streaming their text to stdout. t_start is when the
 * request began (for time to first token). *pending receives a sampled token
 * that was printed but not decoded (the loop stopped right after sampling it),
 * or -1; a conversation that continues must feed it first. */
static gen_stop generate(session *s, const int32_t *feed, size_t n_feed, int32_t n_predict,
                         double t_start, gen_stats *st, int32_t *pending)
{
    memset(st, 0, sizeof(*st));
    *pending = -1;
    int32_t past0 = ag_context_n_past(s->ctx);
    double t0 = cli_now();
    ag_status rc = ag_decode(s->ctx, feed, n_feed, false);
    st->t_prompt = cli_now() - t0;
    st->n_prompt = (size_t)(ag_context_n_past(s->ctx) - past0);
    for (size_t i = 0; i < st->n_prompt && i < n_feed; i++)
        ag_sampler_accept(s->smp, feed[i]);
    if (rc == AG_ERR_ABORTED)
        return GEN_INTERRUPTED;
    if (rc == AG_ERR_CONTEXT_FULL)
        return GEN_PROMPT_FULL;
    if (rc != AG_OK) {
        cli_fail(rc);
        return GEN_ERROR;
    }

    gen_stop stop = GEN_ERROR;
    size_t n_out = 0;
    for (;;) {
        if (n_predict >= 0 && st->n_gen >= (size_t)n_predict) {
            stop = GEN_LIMIT;
            break;
        }
        if (cli_interrupted()) {
            stop = GEN_INTERRUPTED;
            break;
        }
        const float *logits = ag_get_logits(s->ctx, 0);
        if (!logits) {
            cli_fail_msg("no logits after decoding (library returned NULL)");
            break;
        }
        int32_t t = ag_sampler_sample(s->smp, logits, s->n_vocab);
        double now = cli_now();
        if (st->n_sampled++ == 0) {
            st->ttft = now - t_start;
            st->t_first = now;
        }
        st->t_last = now;
        if (t < 0 || t >= s->n_vocab) {
            cli_fail_msg("sampler returned token %d (n_vocab %d): %s", (int)t, (int)s->n_vocab,
                         ag_last_error());
            break;
        }
        ag_sampler_accept(s->smp, t);
        if (ag_token_is_eog(s->model, t)) {
            stop = GEN_EOG;
            break;
        }
        ag_status ps = ag_detok_push(s->detok, t, s->piece, s->piece_cap, &n_out);
        if (ps != AG_OK) {
            cli_fail(ps);
            break;
        }
        put_text(s, s->piece, n_out);
        st->n_gen++;
        *pending = t;
        if (n_predict >= 0 && st->n_gen >= (size_t)n_predict) {
            stop = GEN_LIMIT;
            break;
        }
        if (cli_interrupted()) {
            stop = GEN_INTERRUPTED;
            break;
        }
        if (ag_context_n_past(s->ctx) >= ag_context_n_ctx(s->ctx)) {
            stop = GEN_CTX_FULL;
            break;
        }
        int32_t before = ag_context_n_past(s->ctx);
        rc = ag_decode(s->ctx, &t, 1, false);
        if (ag_context_n_past(s->ctx) > before)
            *pending = -1;
        if (rc == AG_ERR_ABORTED) {
            stop = GEN_INTERRUPTED;
            break;
        }
        if (rc == AG_ERR_CONTEXT_FULL) {
            stop = GEN_CTX_FULL;
            break;
        }
        if (rc != AG_OK) {
            cli_fail(rc);
            break;
        }
    }
    if (ag_detok_flush(s->detok, s->piece, s->piece_cap, &n_out) == AG_OK)
        put_text(s, s->piece, n_out);
    return stop;
}

/* ---- prompts ------------------------------------------------------------- */

/* Text of a turn: [system +] user message, then the generation prompt. */
static ag_status render_turn(const char *system, const char *user, bool think, char **text,
                             size_t *len)
{
    ag_chat_message msgs[2];
    size_t n = 0;
    memset(msgs, 0, sizeof(msgs));
    if (system) {
        msgs[n].role = "system";
        msgs[n++].content = system;
    }
    msgs[n].role = "user";
    msgs[n++].content = user;
    ag_chat_options opt = ag_chat_default_options();
    opt.add_generation_prompt = true;
    opt.enable_thinking = think;
    return cli_chat_render(msgs, n, &opt, text, len);
}

static const char *stop_note(gen_stop stop)
{
    switch (stop) {
    case GEN_CTX_FULL: return "context full";
    case GEN_INTERRUPTED: return "interrupted";
    default: return NULL;
    }
}

/* ---- airgap run ------------------------------------------------------------ */

int cmd_run(int argc, char **argv)
{
    gen_flags g;
    flags_init(&g, 256);
    cli_opt opts[MAX_OPTS];
    size_t n = model_opt(&g, opts, 0);
    opts[n++] = (cli_opt){ "-p", "--prompt", CLI_STR, &g.prompt, 0, 0, "TEXT",
                           "the prompt (the user message)", false, true, NULL };
    opts[n++] = (cli_opt){ "-f", "--file", CLI_STR, &g.file, 0, 0, "FILE",
                           "read the prompt from FILE instead of -p", false, true, NULL };
    opts[n++] = (cli_opt){ NULL, "--raw", CLI_BOOL, &g.raw, 0, 0, NULL,
                           "no chat template: tokenize the prompt as is (special tokens parsed)",
                           false, false, NULL };
    n = common_opts(&g, opts, n, false);
    cli_spec spec = {
        "run", "[-m FILE|NAME] (-p TEXT | -f FILE) [options]",
        "Generates an answer to one prompt and streams it to stdout. The prompt is\n"
        "wrapped in the model's chat template (system + user message) unless --raw.\n"
        "A stats line goes to stderr at the end. Ctrl-C stops generation (exit 130).",
        "  airgap run -m Qwen3.5-0.8B-Q4_K_M.gguf -p \"Why is the sky blue?\" -n 128\n"
        "  airgap run -m model.gguf --raw -p \"<|im_start|>user\\nHi<|im_end|>\\n\" --temp 0",
        opts, n, NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    if (!g.prompt == !g.file)
        return cli_usage_error("run", g.prompt ? "give the prompt with -p or -f, not both"
                                                : "no prompt: give -p TEXT or -f FILE");
    if (g.raw && g.system)
        return cli_usage_error("run", "--system cannot be used with --raw (write it into the "
                                      "prompt)");

    char *file_text = NULL, *text = NULL;
    size_t file_len = 0, text_len = 0;
    int32_t *toks = NULL;
    size_t n_toks = 0;
    session s;
    int rc = CLI_FAIL;
    double t_start;
    const char *user = g.prompt;
    if (g.file) {
        if (!cli_read_file(g.file, &file_text, &file_len))
            return CLI_FAIL;
        user = file_text;
        if (strlen(file_text) != file_len) {
            free(file_text);
            return cli_fail_msg("%s: the prompt file contains a NUL byte", g.file);
        }
    }
    cli_sigint_install();
    if ((rc = session_open(&s, &g)) != CLI_OK)
        goto out_text;
    rc = CLI_FAIL;
    t_start = cli_now();
    ag_status st;
    if (g.raw) {
        st = cli_tokenize(s.model, user, strlen(user), true, &toks, &n_toks);
    } else {
        st = render_turn(g.system, user, g.think, &text, &text_len);
        if (st == AG_OK)
            st = cli_tokenize(s.model, text, text_len, true, &toks, &n_toks);
    }
    if (st != AG_OK) {
        cli_fail(st);
        goto out;
    }
    if (n_toks == 0) {
        cli_fail_msg("the prompt is empty (0 tokens)");
        goto out;
    }
    if (g.verbose)
        print_feed(&s, toks, n_toks);
    gen_stats gs;
    int32_t pending;
    gen_stop stop = generate(&s, toks, n_toks, g.n_predict, t_start, &gs, &pending);
    end_line(&s);
    if (stop == GEN_ERROR)
        goto out;
    if (stop == GEN_PROMPT_FULL) {
        cli_fail_msg("the prompt has %zu tokens but the context holds %d (raise -c)", n_toks,
                     (int)ag_context_n_ctx(s.ctx));
        goto out;
    }
    if (stop == GEN_CTX_FULL)
        fprintf(stderr, "airgap: context full (%d tokens): stopped; raise -c for longer "
                        "answers\n", (int)ag_context_n_ctx(s.ctx));
    print_stats(&gs);
    rc = stop == GEN_INTERRUPTED ? CLI_INTERRUPTED : CLI_OK;
out:
    free(toks);
    free(text);
    session_free(&s);
out_text:
    free(file_text);
    return rc;
}

/* ---- airgap chat ----------------------------------------------------------- */

typedef struct chat_state {
    bool need_close;    /* the context ends inside an assistant turn: feed <|im_end|> first */
    int32_t pending;    /* a printed token not yet decoded, or -1 */
    size_t turns;
} chat_state;

/* Builds the new tokens of a user turn (see the design comment at the top). */
static ag_status turn_tokens(session *s, const chat_state *cs, const gen_flags *g,
                             const char *user, int32_t **feed, size_t *n_feed)
{
    char *text = NULL, *joined = NULL;
    size_t len = 0;
    int32_t *toks = NULL;
    size_t n = 0;
    bool first = ag_context_n_past(s->ctx) == 0;
    ag_status st = render_turn(first ? g->system : NULL, user, g->think, &text, &len);
    if (st != AG_OK)
        return st;
    if (!first) {
        const char *prefix = cs->need_close ? "<|im_end|>\n" : "\n";
        size_t pl = strlen(prefix);
        joined = malloc(pl + len + 1);
        if (!joined) {
            free(text);
            return AG_ERR_NOMEM;
        }
        memcpy(joined, prefix, pl);
        memcpy(joined + pl, text, len + 1);
        free(text);
        text = joined;
        len += pl;
    }
    st = cli_tokenize(s->model, text, len, true, &toks, &n);
    free(text);
    if (st != AG_OK)
        return st;
    size_t extra = cs->pending >= 0 ? 1 : 0;
    int32_t *out = malloc((n + extra) * sizeof(*out) + sizeof(*out));
    if (!out) {
        free(toks);
        return AG_ERR_NOMEM;
    }
    if (extra)
        out[0] = cs->pending;
    if (n)
        memcpy(out + extra, toks, n * sizeof(*toks));
    free(toks);
    *feed = out;
    *n_feed = n + extra;
    return AG_OK;
}

static void chat_help(void)
{
    fprintf(stderr, "commands: /reset clears the conversation (keeps --system), /exit or /quit "
                    "ends (so does EOF);\nCtrl-C stops an answer, Ctrl-C at the prompt exits.\n");
}

static bool is_cmd(const char *line, const char *cmd)
{
    size_t n = strlen(cmd);
    if (strncmp(line, cmd, n) != 0)
        return false;
    for (const char *p = line + n; *p; p++)
        if (*p != ' ' && *p != '\t')
            return false;
    return true;
}

int cmd_chat(int argc, char **argv)
{
    gen_flags g;
    flags_init(&g, 1024);
    cli_opt opts[MAX_OPTS];
    size_t n = common_opts(&g, opts, model_opt(&g, opts, 0), true);
    cli_spec spec = {
        "chat", "[-m FILE|NAME] [options]",
        "Interactive chat: reads one user message per line from stdin and streams the\n"
        "answers to stdout (a stats line per answer on stderr). The whole conversation\n"
        "stays in one context: each turn processes only its own new tokens.\n"
        "Commands: /reset (clear the conversation, keep --system), /exit, /quit, EOF.\n"
        "Ctrl-C stops the current answer; Ctrl-C at the prompt (or twice) exits.",
        "  airgap chat -m Qwen3.5-0.8B-Q4_K_M.gguf --system \"You are terse.\"\n"
        "  printf 'hi\\nwhat did I just say?\\n' | airgap chat -m model.gguf --temp 0",
        opts, n, NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;

    session s;
    cli_sigint_install();
    int orc = session_open(&s, &g);
    if (orc != CLI_OK)
        return orc;
    bool tty = isatty(STDIN_FILENO) != 0;
    if (tty) {
        const char *d = ag_model_desc(s.model);
        fprintf(stderr, "airgap chat: %s, context %d tokens\n", d ? d : "",
                (int)ag_context_n_ctx(s.ctx));
        chat_help();
    }
    chat_state cs = { false, -1, 0 };
    char *line = NULL;
    size_t line_cap = 0;
    int rc = CLI_OK;
    for (;;) {
        if (tty) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        errno = 0;
        ssize_t r = getline(&line, &line_cap, stdin);
        if (r < 0) {
            if (cli_interrupted()) {
                if (tty)
                    fputc('\n', stderr);
                rc = CLI_INTERRUPTED;
            } else if (ferror(stdin)) {
                rc = cli_fail_msg("reading stdin: %s", strerror(errno));
            }
            break;
        }
        while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r'))
            line[--r] = 0;
        if (strlen(line) != (size_t)r) {
            fprintf(stderr, "airgap: the message contains a NUL byte; ignored\n");
            continue;
        }
        if (r == 0)
            continue;
        if (is_cmd(line, "/exit") || is_cmd(line, "/quit"))
            break;
        if (is_cmd(line, "/help")) {
            chat_help();
            continue;
        }
        if (is_cmd(line, "/reset")) {
            ag_context_reset(s.ctx);
            ag_sampler_reset(s.smp);
            cs = (chat_state){ false, -1, 0 };
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        double t_start = cli_now();
        int32_t *feed = NULL;
        size_t n_feed = 0;
        ag_status st = turn_tokens(&s, &cs, &g, line, &feed, &n_feed);
        if (st != AG_OK) {
            rc = cli_fail(st);
            break;
        }
        if (g.verbose)
            print_feed(&s, feed, n_feed);
        gen_stats gs;
        int32_t pending;
        gen_stop stop = generate(&s, feed, n_feed, g.n_predict, t_start, &gs, &pending);
        free(feed);
        end_line(&s);
        if (stop == GEN_ERROR) {
            rc = CLI_FAIL;
            break;
        }
        if (stop == GEN_PROMPT_FULL) {
            fprintf(stderr, "airgap: context full: this message needs %zu tokens, %d of %d are "
                            "used; /reset to start a new conversation (or raise -c)\n",
                    n_feed, (int)ag_context_n_past(s.ctx), (int)ag_context_n_ctx(s.ctx));
            continue;
        }
        if (gs.n_prompt > 0) {
            /* the new turn (at least partly) entered the context */
            cs.need_close = true;
            cs.pending = pending;
            cs.turns++;
        }
        if (stop == GEN_CTX_FULL)
            fprintf(stderr, "airgap: context full (%d tokens): answer cut; /reset to start a "
                            "new conversation (or raise -c)\n", (int)ag_context_n_ctx(s.ctx));
        else if (stop_note(stop))
            fprintf(stderr, "(%s)\n", stop_note(stop));
        print_stats(&gs);
        cli_interrupt_clear();
    }
    free(line);
    session_free(&s);
    return rc;
}
