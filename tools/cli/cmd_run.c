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
 * Chat keeps ONE ag_context for the whole conversation and never re-reads
 * earlier turns. Each turn re-renders the whole conversation through the
 * library's template (so the model sees exactly what the Qwen3.5 template
 * gives, including earlier answers re-rendered without their <think> block)
 * and splits it after the answer's "<|im_start|>assistant\n": the part
 * before is shared by every later render, the part after is the generation
 * prompt. ag_context_resume finds the longest saved point that the new
 * prefix extends -- a snapshot taken at the previous turn boundary -- so a
 * turn costs the previous answer as re-rendered plus the new message, however
 * long the conversation is. /regen resumes from the newest boundary. The
 * recurrent DeltaNet state cannot be rewound, which is why the boundaries
 * are snapshots. --session keeps the newest boundary and the messages in a
 * file. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- flags shared by run and chat ------------------------------------------ */

typedef struct gen_flags {
    const char *model, *prompt, *file, *system, *ctk, *ctv, *budget, *session;
    int32_t n_predict, n_ctx, n_threads, n_batch;
    ag_sampler_params sp;
    bool seed_set, think, raw, verbose, offline, fit;
} gen_flags;

#define MAX_OPTS 40

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
    o[n++] = (cli_opt){ "-b", "--batch-size", CLI_INT, &g->n_batch, 0, 1 << 20, "N",
                        "max tokens per forward step, 0 = 64 per 4096 of context (at most 256)", false, false, NULL };
    o[n++] = (cli_opt){ "-ctk", "--cache-type-k", CLI_STR, &g->ctk, 0, 0, "TYPE",
                        "K cache type: f16, f32, q8_0, q4_0", false, false, NULL };
    o[n++] = (cli_opt){ "-ctv", "--cache-type-v", CLI_STR, &g->ctv, 0, 0, "TYPE",
                        "V cache type: f16, f32, q8_0, q4_0", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--budget", CLI_STR, &g->budget, 0, 0, "SIZE",
                        "memory budget, e.g. 3GiB; refuse to load what does not fit (default: "
                        "memory available now minus a reserve)", false, true, NULL };
    o[n++] = (cli_opt){ NULL, "--fit", CLI_BOOL, &g->fit, 0, 0, NULL,
                        "pick the largest context (up to -c, else the training context) and the "
                        "least lossy KV cache type that fit the budget", false, false, NULL };
    o[n++] = (cli_opt){ NULL, "--session", CLI_STR, &g->session, 0, 0, "FILE",
                        chat ? "resume the conversation saved in FILE (if it exists) and save it "
                               "after every turn"
                             : "reuse the state saved in FILE when the prompt extends it, and save "
                               "the state after the prompt to FILE",
                        false, true, NULL };
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
    g->ctk = g->ctv = "f16";
    g->sp = ag_sampler_default_params();
}

/* ---- a loaded model with everything needed to generate ----------------------- */

typedef struct session {
    ag_plan plan;
    ag_model *model;
    ag_context *ctx;
    ag_sampler *smp;
    ag_detok *detok;
    char *piece;            /* detokenizer output buffer */
    char *capture;          /* the generated text, when capturing (chat) */
    size_t cap_len, cap_cap;
    bool capturing;
    size_t piece_cap;
    int32_t n_vocab;
    bool at_line_start;     /* nothing written yet, or the last byte was '\n' */
} session;

static void session_free(session *s)
{
    free(s->capture);
    free(s->piece);
    ag_detok_free(s->detok);
    ag_sampler_free(s->smp);
    ag_context_free(s->ctx);
    ag_model_free(s->model);
    memset(s, 0, sizeof(*s));
}

static int session_open(session *s, gen_flags *g, const char *cmd, int n_snapshots)
{
    memset(s, 0, sizeof(*s));
    s->at_line_start = true;
    ag_plan_params pp = ag_plan_default_params();
    pp.ctx.n_ctx = g->n_ctx;
    pp.ctx.n_threads = g->n_threads;
    pp.ctx.n_batch = g->n_batch;
    pp.n_snapshots = n_snapshots;
    if (!cli_parse_cache_type(cmd, "--cache-type-k", g->ctk, &pp.ctx.type_k) ||
        !cli_parse_cache_type(cmd, "--cache-type-v", g->ctv, &pp.ctx.type_v))
        return CLI_USAGE;
    if (g->budget && !cli_parse_bytes(cmd, "--budget", g->budget, &pp.budget))
        return CLI_USAGE;
    if (g->budget && pp.budget == 0)
        return cli_usage_error(cmd, "--budget: must be more than 0");
    char path[4096];
    int prc = cli_model_path(g->model, true, g->offline, path, sizeof(path));
    if (prc != CLI_OK)
        return prc;
    /* the plan first: refuse before anything is allocated */
    if ((prc = cli_plan_check(cmd, path, &pp, g->fit, false, &s->plan)) != CLI_OK)
        return prc;
    ag_model_params mp = ag_model_default_params();
    ag_status st = ag_model_load(path, &mp, &s->model);
    if (st != AG_OK)
        return cli_fail(st);
    ag_context_params cp = pp.ctx;
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
    if (s->capturing) {
        if (s->cap_len + n + 1 > s->cap_cap) {
            size_t cap = (s->cap_len + n + 1) * 2;
            char *c = realloc(s->capture, cap);
            if (c) {
                s->capture = c;
                s->cap_cap = cap;
            }
        }
        if (s->cap_len + n + 1 <= s->cap_cap) {
            memcpy(s->capture + s->cap_len, p, n);
            s->cap_len += n;
            s->capture[s->cap_len] = 0;
        }
    }
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

static void print_stats(const session *s, const gen_stats *st)
{
    double pps = st->t_prompt > 0 ? (double)st->n_prompt / st->t_prompt : 0.0;
    double dt = st->t_last - st->t_first;
    double gps = st->n_sampled > 1 && dt > 0 ? (double)(st->n_sampled - 1) / dt : 0.0;
    fprintf(stderr, "[prompt %zu tok, %.1f tok/s | gen %zu tok, %.1f tok/s | ttft %.0f ms | peak RSS "
                    "%.1f MiB, plan %.1f MiB]\n",
            st->n_prompt, pps, st->n_gen, gps, st->ttft * 1000.0,
            (double)ag_mem_peak_rss() / (1024.0 * 1024.0), (double)s->plan.total / (1024.0 * 1024.0));
}

/* Feeds n_feed new tokens (0: the context already holds the prompt and its
 * logits), calls hook (if any), then generates up to n_predict
 * tokens (-1: no limit), streaming their text to stdout. t_start is when the
 * request began (for time to first token). *pending receives a sampled token
 * that was printed but not decoded (the loop stopped right after sampling it),
 * or -1; a conversation that continues must feed it first. */
typedef void (*after_prompt_fn)(session *s, void *user);

static gen_stop generate(session *s, const int32_t *feed, size_t n_feed, int32_t n_predict,
                         double t_start, gen_stats *st, int32_t *pending, after_prompt_fn hook,
                         void *hook_user)
{
    memset(st, 0, sizeof(*st));
    *pending = -1;
    int32_t past0 = ag_context_n_past(s->ctx);
    double t0 = cli_now();
    ag_status rc = n_feed ? ag_decode(s->ctx, feed, n_feed, false) : AG_OK;
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
    if (hook)
        hook(s, hook_user);

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

/* --session: the state right after the prompt, so the same prompt (or one
 * that extends it) costs nothing next time */
static void save_after_prompt(session *s, void *path)
{
    ag_status st = ag_context_save_file(s->ctx, NULL, path, NULL, 0);
    if (st != AG_OK)
        fprintf(stderr, "airgap: warning: session not saved: %s\n", ag_last_error());
}

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
    if ((rc = session_open(&s, &g, "run", 0)) != CLI_OK)
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
    size_t reused = 0;
    if (g.session && access(g.session, F_OK) == 0) {
        /* a damaged or foreign file is refused, never silently replaced */
        if ((st = ag_context_load_file(s.ctx, g.session, NULL, NULL)) != AG_OK) {
            cli_fail(st);
            goto out;
        }
        if ((st = ag_context_resume(s.ctx, NULL, 0, toks, n_toks, &reused)) != AG_OK) {
            cli_fail(st);
            goto out;
        }
        fprintf(stderr, "airgap run: session %s: %zu of the prompt's %zu tokens reused\n", g.session,
                reused, n_toks);
    }
    if (g.verbose)
        print_feed(&s, toks + reused, n_toks - reused);
    gen_stats gs;
    int32_t pending;
    gen_stop stop = generate(&s, toks + reused, n_toks - reused, g.n_predict, t_start, &gs,
                             &pending, g.session ? save_after_prompt : NULL, (void *)g.session);
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
    print_stats(&s, &gs);
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

typedef struct chat_msg {
    char *role, *content;
} chat_msg;

typedef struct chat {
    chat_msg *msgs;
    size_t n, cap;
    ag_snapshot *snaps[2];  /* the last two turn boundaries, newest last */
    const char *session;    /* --session FILE or NULL */
} chat;

static bool chat_push(chat *ch, const char *role, const char *content)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 16;
        chat_msg *m = realloc(ch->msgs, cap * sizeof(*m));
        if (!m)
            return false;
        ch->msgs = m;
        ch->cap = cap;
    }
    char *r = strdup(role), *c = strdup(content ? content : "");
    if (!r || !c) {
        free(r);
        free(c);
        return false;
    }
    ch->msgs[ch->n++] = (chat_msg){ r, c };
    return true;
}

static void chat_pop(chat *ch)
{
    if (!ch->n)
        return;
    ch->n--;
    free(ch->msgs[ch->n].role);
    free(ch->msgs[ch->n].content);
}

static void chat_clear(chat *ch, bool keep_system)
{
    while (ch->n > (keep_system && ch->n && strcmp(ch->msgs[0].role, "system") == 0 ? 1u : 0u))
        chat_pop(ch);
    for (int i = 0; i < 2; i++) {
        ag_snapshot_free(ch->snaps[i]);
        ch->snaps[i] = NULL;
    }
}

/* The session file's user blob: role NUL content NUL, per message. */
static char *chat_blob(const chat *ch, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < ch->n; i++)
        n += strlen(ch->msgs[i].role) + strlen(ch->msgs[i].content) + 2;
    char *b = malloc(n ? n : 1), *p = b;
    if (!b)
        return NULL;
    for (size_t i = 0; i < ch->n; i++) {
        size_t a = strlen(ch->msgs[i].role) + 1, c = strlen(ch->msgs[i].content) + 1;
        memcpy(p, ch->msgs[i].role, a);
        memcpy(p + a, ch->msgs[i].content, c);
        p += a + c;
    }
    *len = n;
    return b;
}

static bool chat_unblob(chat *ch, const char *b, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *role = b + i, *z = memchr(role, 0, len - i);
        if (!z || (size_t)(z + 1 - b) >= len)
            return false;
        const char *content = z + 1, *z2 = memchr(content, 0, len - (size_t)(content - b));
        if (!z2)
            return false;
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant"))
            return false;
        if (!chat_push(ch, role, content))
            return false;
        i = (size_t)(z2 + 1 - b);
    }
    return true;
}

static void chat_save(session *s, chat *ch)
{
    if (!ch->session || !ch->snaps[1])
        return;
    size_t len = 0;
    char *blob = chat_blob(ch, &len);
    ag_status st = blob ? ag_context_save_file(s->ctx, ch->snaps[1], ch->session, blob, len) : AG_ERR_NOMEM;
    if (st != AG_OK)
        fprintf(stderr, "airgap: warning: session not saved: %s\n",
                blob ? ag_last_error() : "out of memory");
    free(blob);
}

/* The conversation rendered (with the generation prompt if gen_prompt),
 * split after the last occurrence of marker: *pre = the tokens of the text
 * up to there, *rest (if rest is not NULL) those of the remainder. */
static ag_status chat_render_split(session *s, const chat *ch, bool gen_prompt, bool think, const char *marker,
                                   int32_t **pre, size_t *n_pre, int32_t **rest, size_t *n_rest)
{
    ag_chat_message *m = calloc(ch->n ? ch->n : 1, sizeof(*m));
    if (!m)
        return AG_ERR_NOMEM;
    for (size_t i = 0; i < ch->n; i++) {
        m[i].role = ch->msgs[i].role;
        m[i].content = ch->msgs[i].content;
    }
    ag_chat_options opt = ag_chat_default_options();
    opt.add_generation_prompt = gen_prompt;
    opt.enable_thinking = think;
    char *text = NULL;
    size_t len = 0;
    ag_status st = cli_chat_render(m, ch->n, &opt, &text, &len);
    free(m);
    if (st != AG_OK)
        return st;
    size_t split = len;
    for (const char *p = text; (p = strstr(p, marker)) != NULL; p++)
        split = (size_t)(p - text) + strlen(marker);
    st = cli_tokenize(s->model, text, split, true, pre, n_pre);
    if (st == AG_OK && rest)
        st = cli_tokenize(s->model, text + split, len - split, true, rest, n_rest);
    if (st != AG_OK) {
        free(*pre);
        *pre = NULL;
    }
    free(text);
    return st;
}

/* The conversation rendered with the generation prompt, split where the
 * answer's own opening ends: prefix = everything up to and including the
 * last "<|im_start|>assistant\n", gen = the rest ("<think>\n\n</think>\n\n"
 * or "<think>\n"). The prefix is what the next turn's render shares. */
static ag_status chat_tokens(session *s, const chat *ch, bool think, int32_t **pre, size_t *n_pre,
                             int32_t **gen, size_t *n_gen)
{
    return chat_render_split(s, ch, true, think, "<|im_start|>assistant\n", pre, n_pre, gen, n_gen);
}

/* Between turns, before the next message is read: processes what the next
 * turn shares whatever the user writes -- the last answer as the template
 * re-renders it (without its thinking block), then the next user message's
 * opening "<|im_start|>user\n" (or, before the first turn, the system
 * prompt). At a terminal this runs after the prompt is shown, while the
 * user reads and types, so a message typed after it finished waits only for
 * itself; the caller counts it into the turn's time and tokens whenever the
 * message was already waiting (piped input, or typed ahead). Ctrl-C here is
 * Ctrl-C at the prompt: returns false. *n_fed receives the tokens
 * processed. A context too full for it leaves it to the next turn, whose
 * resume checks the tokens: a message whose first bytes tokenize together
 * with the opening only falls back to the turn boundary. */
static bool chat_ahead(session *s, chat *ch, const gen_flags *g, size_t *n_fed)
{
    *n_fed = 0;
    if (!chat_push(ch, "user", ""))
        return true;
    int32_t *toks = NULL;
    size_t n = 0, reused = 0;
    ag_status st = chat_render_split(s, ch, false, g->think, "<|im_start|>user\n", &toks, &n, NULL, NULL);
    chat_pop(ch);
    if (st == AG_OK)
        st = ag_context_resume(s->ctx, ch->snaps, 2, toks, n, &reused);
    if (st == AG_OK && reused < n && n < (size_t)ag_context_n_ctx(s->ctx)) {
        if (g->verbose)
            print_feed(s, toks + reused, n - reused);
        int32_t before = ag_context_n_past(s->ctx);
        st = ag_decode(s->ctx, toks + reused, n - reused, false);
        *n_fed = (size_t)(ag_context_n_past(s->ctx) - before);
        for (size_t i = reused; i < reused + *n_fed; i++)
            ag_sampler_accept(s->smp, toks[i]);
    }
    if (st != AG_OK && st != AG_ERR_ABORTED && st != AG_ERR_CONTEXT_FULL)
        fprintf(stderr, "airgap: warning: could not prepare the next turn: %s\n", ag_last_error());
    free(toks);
    return st != AG_ERR_ABORTED;
}

typedef enum { TURN_OK, TURN_SKIP, TURN_FAIL, TURN_INTERRUPTED } turn_rc;

/* One answer to the conversation as it stands (its last message is the
 * user's). Resumes from the longest saved point (the context itself, or a
 * turn-boundary snapshot), feeds the rest of the prefix and the generation
 * prompt in one ag_decode_snap (the new boundary, between the two, kept as a
 * snapshot), then generates. n_ahead tokens
 * processed in t_ahead seconds by chat_ahead count into the stats (the
 * caller passes 0 when the message arrived after that work). */
static turn_rc chat_turn(session *s, chat *ch, const gen_flags *g, double t_start, size_t n_ahead, double t_ahead)
{
    int32_t *pre = NULL, *gen = NULL;
    size_t n_pre = 0, n_gen = 0, reused = 0;
    ag_status st = chat_tokens(s, ch, g->think, &pre, &n_pre, &gen, &n_gen);
    if (st == AG_OK)
        st = ag_context_resume(s->ctx, ch->snaps, 2, pre, n_pre, &reused);
    if (st != AG_OK) {
        cli_fail(st);
        free(pre);
        free(gen);
        return TURN_FAIL;
    }
    if (g->verbose) {
        print_feed(s, pre + reused, n_pre - reused);
        print_feed(s, gen, n_gen);
    }
    const size_t n_new = n_pre - reused;
    if ((size_t)ag_context_n_past(s->ctx) + n_new + n_gen >= (size_t)ag_context_n_ctx(s->ctx)) {
        fprintf(stderr, "airgap: context full: the conversation needs %zu tokens, the context "
                        "holds %d; /reset to start a new one (or raise -c)\n",
                n_pre + n_gen, (int)ag_context_n_ctx(s->ctx));
        free(pre);
        free(gen);
        return TURN_SKIP;
    }
    /* the oldest boundary goes first, so that no more than the two the
     * memory plan counts (n_snapshots) are ever held at once */
    ag_snapshot_free(ch->snaps[0]);
    ch->snaps[0] = ch->snaps[1];
    ch->snaps[1] = NULL;
    /* the new part of the prefix and the generation prompt in the same
     * steps (one pass over the weights and the cache), the new boundary
     * kept from between the two; with nothing new (/regen) the boundary is
     * where the context stands */
    double t0 = cli_now();
    size_t n_fed = 0;
    if (n_new == 0) {
        if (ag_snapshot_take(s->ctx, &ch->snaps[1]) != AG_OK)
            ch->snaps[1] = NULL; /* the turn goes on; only its reuse is lost */
    } else {
        int32_t *feed = realloc(pre, (n_pre + n_gen) * sizeof(int32_t));
        st = feed ? AG_OK : AG_ERR_NOMEM;
        if (feed) {
            pre = feed;
            memcpy(pre + n_pre, gen, n_gen * sizeof(int32_t));
            st = ag_decode_snap(s->ctx, pre + reused, n_new + n_gen, false, n_new, &ch->snaps[1]);
            n_fed = n_new + n_gen;
        }
    }
    double t_pre = cli_now() - t0;
    if (st == AG_OK)
        for (size_t i = reused; i < reused + n_fed; i++)
            ag_sampler_accept(s->smp, pre[i]);
    free(pre);
    if (st != AG_OK) {
        free(gen);
        if (st == AG_ERR_ABORTED)
            return TURN_INTERRUPTED;
        cli_fail(st);
        return TURN_FAIL;
    }
    s->capturing = true;
    s->cap_len = 0;
    if (s->capture)
        s->capture[0] = 0;
    gen_stats gs;
    int32_t pending;
    gen_stop stop = generate(s, gen, n_fed ? 0 : n_gen, g->n_predict, t_start, &gs, &pending, NULL, NULL);
    s->capturing = false;
    free(gen);
    end_line(s);
    if (stop == GEN_ERROR)
        return TURN_FAIL;
    gs.n_prompt += n_fed + n_ahead;
    gs.t_prompt += t_pre + t_ahead;
    if (!chat_push(ch, "assistant", s->capture ? s->capture : "")) {
        cli_fail_msg("out of memory");
        return TURN_FAIL;
    }
    chat_save(s, ch);
    if (stop == GEN_CTX_FULL)
        fprintf(stderr, "airgap: context full (%d tokens): answer cut; /reset to start a "
                        "new conversation (or raise -c)\n", (int)ag_context_n_ctx(s->ctx));
    else if (stop_note(stop))
        fprintf(stderr, "(%s)\n", stop_note(stop));
    print_stats(s, &gs);
    return TURN_OK;
}

/* Whether a line (or EOF) is waiting on the terminal / pipe right now. */
static bool stdin_waiting(void)
{
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

static void chat_help(void)
{
    fprintf(stderr, "commands: /regen answers the last message again, /reset clears the "
                    "conversation (keeps --system), /exit or /quit ends (so does EOF);\n"
                    "Ctrl-C stops an answer, Ctrl-C at the prompt exits.\n");
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
        "answers to stdout (a stats line per answer on stderr). Earlier turns are never\n"
        "re-read: each turn resumes from the snapshot kept at the previous turn's\n"
        "boundary and processes only what is new. What the next turn shares whatever\n"
        "the user writes (the answer as the template re-renders it, the next message's\n"
        "opening; the system prompt before the first) is processed while waiting for\n"
        "the next message, so its time to first token covers the message itself.\n"
        "Commands: /regen, /reset (clear the conversation, keep --system), /exit, /quit, EOF.\n"
        "Ctrl-C stops the current answer; Ctrl-C at the prompt (or twice) exits.",
        "  airgap chat -m Qwen3.5-0.8B-Q4_K_M.gguf --system \"You are terse.\"\n"
        "  airgap chat --session notes.chat        (resume where you left off)\n"
        "  printf 'hi\\nwhat did I just say?\\n' | airgap chat -m model.gguf --temp 0",
        opts, n, NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;

    session s;
    cli_sigint_install();
    int orc = session_open(&s, &g, "chat", 2);
    if (orc != CLI_OK)
        return orc;
    chat ch;
    memset(&ch, 0, sizeof(ch));
    ch.session = g.session;
    int rc = CLI_OK;
    if (g.session && access(g.session, F_OK) == 0) {
        void *blob = NULL;
        size_t blen = 0;
        ag_status st = ag_context_load_file(s.ctx, g.session, &blob, &blen);
        if (st == AG_OK && !chat_unblob(&ch, blob, blen)) {
            cli_fail_msg("%s: the session's conversation is malformed", g.session);
            st = AG_ERR_FORMAT;
        } else if (st != AG_OK) {
            cli_fail(st);
        }
        free(blob);
        if (st != AG_OK) {
            chat_clear(&ch, false);
            free(ch.msgs);
            session_free(&s);
            return CLI_FAIL;
        }
        /* the loaded state is the last turn boundary */
        if (ag_snapshot_take(s.ctx, &ch.snaps[1]) != AG_OK)
            ch.snaps[1] = NULL;
        fprintf(stderr, "airgap chat: resumed %zu messages (%d tokens) from %s\n", ch.n,
                (int)ag_context_n_past(s.ctx), g.session);
    } else if (g.system && !chat_push(&ch, "system", g.system)) {
        session_free(&s);
        return cli_fail_msg("out of memory");
    }
    bool tty = isatty(STDIN_FILENO) != 0;
    if (tty) {
        const char *d = ag_model_desc(s.model);
        fprintf(stderr, "airgap chat: %s, context %d tokens\n", d ? d : "",
                (int)ag_context_n_ctx(s.ctx));
        chat_help();
    }
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        /* t_ready: when the next message was known to be waiting (0: it
         * came after chat_ahead, which then is not part of its wait) */
        double t_ready = 0;
        bool eof = false;
        if (tty) {
            fputs("> ", stderr);
            fflush(stderr);
            if (stdin_waiting())
                t_ready = cli_now();
        } else {
            int c = getc(stdin); /* blocks until the next message (or EOF) is there */
            if (c == EOF)
                eof = true;
            else
                ungetc(c, stdin);
            t_ready = cli_now();
        }
        size_t n_ahead = 0;
        double t_prep = cli_now();
        if (!eof && !chat_ahead(&s, &ch, &g, &n_ahead)) {
            if (tty)
                fputc('\n', stderr);
            rc = CLI_INTERRUPTED;
            break;
        }
        double t_ahead = cli_now() - t_prep;
        if (!t_ready && stdin_waiting())
            t_ready = t_prep; /* sent while the turn was being prepared */
        if (!t_ready)
            n_ahead = 0, t_ahead = 0;
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
            chat_clear(&ch, true);
            ag_context_reset(s.ctx);
            ag_sampler_reset(s.smp);
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        double t_start = t_ready ? t_ready : cli_now();
        if (is_cmd(line, "/regen")) {
            if (!ch.n || strcmp(ch.msgs[ch.n - 1].role, "assistant") != 0) {
                fprintf(stderr, "(nothing to regenerate)\n");
                continue;
            }
            chat_pop(&ch);
        } else if (!chat_push(&ch, "user", line)) {
            rc = cli_fail_msg("out of memory");
            break;
        }
        turn_rc tr = chat_turn(&s, &ch, &g, t_start, n_ahead, t_ahead);
        if (tr == TURN_FAIL) {
            rc = CLI_FAIL;
            break;
        }
        if (tr == TURN_SKIP || tr == TURN_INTERRUPTED) {
            chat_pop(&ch); /* the message did not get an answer */
            if (tr == TURN_INTERRUPTED)
                fprintf(stderr, "(interrupted)\n");
        }
        cli_interrupt_clear();
    }
    free(line);
    chat_clear(&ch, false);
    free(ch.msgs);
    session_free(&s);
    return rc;
}
