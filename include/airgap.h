/* airgap.h: the one public header of airgap, an on-device LLM engine.
 *
 * Usage (error handling elided; every fallible call returns ag_status and
 * ag_last_error() gives this thread's one-line detail):
 *
 *     ag_model_params mp = ag_model_default_params();
 *     ag_model *m;   ag_model_load("qwen.gguf", &mp, &m);
 *     ag_context_params cp = ag_context_default_params();
 *     ag_context *c; ag_context_create(m, &cp, &c);
 *     int32_t tok[512]; size_t n;
 *     ag_tokenize(m, text, strlen(text), true, tok, 512, &n);
 *     ag_decode(c, tok, n, false);                  // prefill, logits of last token
 *     ag_sampler_params sp = ag_sampler_default_params();
 *     ag_sampler *s; ag_sampler_create(&sp, &s);
 *     int32_t t = ag_sampler_sample(s, ag_get_logits(c, 0), ag_model_n_vocab(m));
 *     ... ag_decode(c, &t, 1, false) ... until ag_token_is_eog(m, t)
 *     ag_sampler_free(s); ag_context_free(c); ag_model_free(m);
 *
 * Ownership: X_load and X_create pair with X_free; freeing NULL is a no-op. A
 * context borrows its model: the model must outlive every context made from it.
 * Threads: an ag_model is immutable after load and may be shared by threads;
 * an ag_context or ag_sampler is used by one thread at a time.
 * Params structs carry their own size (set by the defaults function) so fields
 * can be appended without breaking callers built against an older header. */
#ifndef AIRGAP_H
#define AIRGAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AG_API __attribute__((visibility("default")))
#else
#define AG_API
#endif

/* ---- status --------------------------------------------------------------- */

typedef enum ag_status {       /* stable values: append only, never renumber */
    AG_OK = 0,
    AG_ERR_IO = 1,             /* file missing, unreadable, short read */
    AG_ERR_FORMAT = 2,         /* malformed or inconsistent file contents */
    AG_ERR_UNSUPPORTED = 3,    /* valid but not handled (architecture, type) */
    AG_ERR_NOMEM = 4,          /* allocation failed */
    AG_ERR_INVALID_ARG = 5,    /* bad argument from the caller */
    AG_ERR_CONTEXT_FULL = 6,   /* the sequence would exceed n_ctx */
    AG_ERR_BUFFER_TOO_SMALL = 7, /* output did not fit; *n_out says what is needed */
    AG_ERR_ABORTED = 8,        /* the abort callback asked to stop */
} ag_status;

AG_API const char *ag_status_str(ag_status s); /* static text, never NULL */
/* This thread's detail for the most recent failure, one line naming what and
 * where, e.g. "model.gguf: tensor 'blk.3.attn_q.weight': data past end of file".
 * Never NULL; "" when nothing failed yet. Valid until the next failing call. */
AG_API const char *ag_last_error(void);

/* ---- model ---------------------------------------------------------------- */

typedef struct ag_model ag_model;     /* weights + vocabulary, immutable */

typedef struct ag_model_params {
    uint32_t size;        /* = sizeof(ag_model_params) */
    bool use_mmap;        /* map the file (default); false reads it into memory */
    bool vocab_only;      /* load only metadata and tokenizer, no tensors */
} ag_model_params;

AG_API ag_model_params ag_model_default_params(void);
/* Loads a GGUF file. Returns AG_ERR_IO, AG_ERR_FORMAT, AG_ERR_UNSUPPORTED or
 * AG_ERR_NOMEM on failure, with *out = NULL. */
AG_API ag_status ag_model_load(const char *path, const ag_model_params *p, ag_model **out);
AG_API void ag_model_free(ag_model *m);

AG_API const char *ag_model_arch(const ag_model *m);      /* "qwen35", ... */
AG_API int32_t ag_model_n_vocab(const ag_model *m);
AG_API int32_t ag_model_n_embd(const ag_model *m);
AG_API int32_t ag_model_n_layer(const ag_model *m);       /* trunk layers */
AG_API int32_t ag_model_n_ctx_train(const ag_model *m);
AG_API uint64_t ag_model_n_params(const ag_model *m);     /* elements in all tensors */
AG_API uint64_t ag_model_file_size(const ag_model *m);
AG_API uint64_t ag_model_tensor_bytes(const ag_model *m); /* bytes of all tensor data */
/* Human-readable, e.g. "GGUF v3, 24 layers (18 DeltaNet + 6 attention), d=1024". */
AG_API const char *ag_model_desc(const ag_model *m);

/* Metadata, in file order. Values are rendered as text (arrays abbreviated
 * to at most max_items items, with the count). Returns NULL past the end. */
AG_API size_t ag_model_n_meta(const ag_model *m);
AG_API const char *ag_model_meta_key(const ag_model *m, size_t i);
AG_API ag_status ag_model_meta_value(const ag_model *m, size_t i, size_t max_items,
                                     char *buf, size_t cap, size_t *n_out);

typedef struct ag_tensor_info {
    const char *name;       /* borrowed from the model */
    const char *type_name;  /* "q4_K", "f32", ... */
    uint32_t n_dims;
    uint64_t ne[4];         /* ne[0] is the contiguous dimension */
    uint64_t n_bytes;
    uint64_t offset;        /* in the file */
} ag_tensor_info;
AG_API size_t ag_model_n_tensors(const ag_model *m);
AG_API ag_status ag_model_tensor(const ag_model *m, size_t i, ag_tensor_info *out);

/* ---- tokenizer ------------------------------------------------------------ */

/* Tokenizes text (len bytes, no NUL needed). parse_special: recognise control
 * token texts such as "<|im_start|>" (user-defined tokens like "<think>" are
 * always recognised). No BOS is added. If cap is too small returns
 * AG_ERR_BUFFER_TOO_SMALL with *n_out = the number needed. */
AG_API ag_status ag_tokenize(const ag_model *m, const char *text, size_t len, bool parse_special,
                             int32_t *tokens, size_t cap, size_t *n_out);
/* The bytes of one token (GPT-2 byte decoding applied). Control tokens give
 * their text only if special is true, else nothing. May be a partial UTF-8
 * sequence: use ag_detok to stream text. */
AG_API ag_status ag_token_to_piece(const ag_model *m, int32_t token, bool special,
                                   char *buf, size_t cap, size_t *n_out);
AG_API bool ag_token_is_eog(const ag_model *m, int32_t token); /* end of generation */
AG_API bool ag_token_is_control(const ag_model *m, int32_t token);
AG_API int32_t ag_token_eos(const ag_model *m);                 /* -1 if none */
/* Id of a token whose text is exactly s, or -1. */
AG_API int32_t ag_token_find(const ag_model *m, const char *s);

/* Streaming detokenizer: holds back the bytes of an incomplete UTF-8 sequence
 * so that every chunk it returns is valid UTF-8. Invalid bytes in token text
 * become U+FFFD. */
typedef struct ag_detok ag_detok;
AG_API ag_status ag_detok_create(const ag_model *m, bool special, ag_detok **out);
AG_API void ag_detok_free(ag_detok *d);
/* Writes the text that token completes to out (NUL-terminated). On
 * AG_ERR_BUFFER_TOO_SMALL, *n_out is the text length without the NUL (cap
 * must be at least *n_out + 1) and the detokenizer state is unchanged. */
AG_API ag_status ag_detok_push(ag_detok *d, int32_t token, char *out, size_t cap, size_t *n_out);
/* Emits whatever is held back (as U+FFFD if incomplete) and resets. */
AG_API ag_status ag_detok_flush(ag_detok *d, char *out, size_t cap, size_t *n_out);
/* A cap that always suffices for one push or flush. */
AG_API size_t ag_detok_max_piece(const ag_detok *d);

/* ---- chat format ---------------------------------------------------------- */

typedef struct ag_chat_param {          /* one argument of a tool call */
    const char *name;
    const char *value;                  /* rendered as is: strings raw, others as JSON */
} ag_chat_param;

typedef struct ag_chat_tool_call {
    const char *name;
    const ag_chat_param *params;
    size_t n_params;
} ag_chat_tool_call;

typedef struct ag_chat_message {
    const char *role;                   /* "system", "user", "assistant", "tool" */
    const char *content;                /* NULL = empty */
    const char *reasoning;              /* assistant only; NULL = split out of content at </think> */
    const ag_chat_tool_call *tool_calls; /* assistant only */
    size_t n_tool_calls;
} ag_chat_message;

typedef struct ag_chat_options {
    uint32_t size;                      /* = sizeof(ag_chat_options) */
    bool add_generation_prompt;         /* end with "<|im_start|>assistant\n<think>..." (default true) */
    bool enable_thinking;               /* default false, as for Qwen3.5 0.8B/2B */
    const char *const *tools_json;      /* one JSON object per tool, rendered verbatim */
    size_t n_tools;
} ag_chat_options;

AG_API ag_chat_options ag_chat_default_options(void);
/* Renders messages as Qwen3.5 ChatML (the spec's template). Output is
 * NUL-terminated; AG_ERR_BUFFER_TOO_SMALL gives the needed length (without the
 * NUL) in *n_out. AG_ERR_INVALID_ARG for what the template rejects (unknown
 * role, system not first, no user query). */
AG_API ag_status ag_chat_render(const ag_chat_message *msgs, size_t n_msgs,
                                const ag_chat_options *opt, char *buf, size_t cap, size_t *n_out);

/* ---- context: one sequence's state (KV cache, DeltaNet state) ------------- */

typedef struct ag_context ag_context;

/* Element types of the attention KV cache (llama.cpp's --cache-type names:
 * "f16", "f32", "q8_0", "q4_0"). The attention reads the quantized blocks
 * directly. q8_0 and q4_0 need a head size that is a multiple of 32. */
typedef enum ag_cache_type {
    AG_CACHE_F16 = 0,   /* the default */
    AG_CACHE_F32 = 1,
    AG_CACHE_Q8_0 = 2,
    AG_CACHE_Q4_0 = 3,
} ag_cache_type;
#define AG_CACHE_TYPE_COUNT 4
AG_API const char *ag_cache_type_name(ag_cache_type t);   /* "f16", ...; "?" if unknown */
/* Parses a name (case-insensitive); returns -1 if unknown. */
AG_API int ag_cache_type_parse(const char *name);

typedef struct ag_context_params {
    uint32_t size;      /* = sizeof(ag_context_params) */
    int32_t n_ctx;      /* max positions in the sequence; 0 = min(4096, training context) */
    int32_t n_batch;    /* max tokens per internal forward step; 0 = 64 per
                           4096 positions of n_ctx, at most 256 */
    int32_t n_threads;  /* 0 = physical cores */
    ag_cache_type type_k, type_v; /* KV cache element types (default f16) */
} ag_context_params;

AG_API ag_context_params ag_context_default_params(void);
AG_API ag_status ag_context_create(const ag_model *m, const ag_context_params *p, ag_context **out);
AG_API void ag_context_free(ag_context *c);
AG_API int32_t ag_context_n_ctx(const ag_context *c);
AG_API int32_t ag_context_n_past(const ag_context *c);  /* positions already in the state */
/* Clears the sequence (empty KV, zero recurrent state). */
AG_API void ag_context_reset(ag_context *c);
/* Called between internal steps of ag_decode; returning true stops it with
 * AG_ERR_ABORTED. The state then holds the tokens processed before the stop
 * (ag_context_n_past tells how many). */
AG_API void ag_context_set_abort(ag_context *c, bool (*should_abort)(void *), void *user);

/* Appends n tokens to the sequence and runs the model over them in as few
 * steps as n_batch allows. all_logits: keep logits for every token (row i is
 * token i), else only for the last (row 0). AG_ERR_CONTEXT_FULL leaves the
 * state unchanged. */
AG_API ag_status ag_decode(ag_context *c, const int32_t *tokens, size_t n, bool all_logits);
/* Borrowed logits row i of the last ag_decode (n_vocab floats), or NULL.
 * Valid until the next ag_decode or reset. */
AG_API const float *ag_get_logits(const ag_context *c, size_t i);

/* ---- memory plan ------------------------------------------------------------ */

/* What a model and a context will keep resident, predicted from the file's
 * header before anything is loaded, so a front end can refuse (or shrink the
 * context) instead of being killed by the OS. Every figure is bytes. */
typedef struct ag_plan_params {
    uint32_t size;            /* = sizeof(ag_plan_params) */
    ag_context_params ctx;    /* n_ctx, n_batch, n_threads, type_k, type_v as for ag_context_create */
    int32_t n_logits;         /* logits rows kept at once (default 1: generation) */
    int32_t n_snapshots;      /* in-memory snapshots kept (chat keeps 2) */
    uint64_t budget;          /* 0 = memory available now minus a reserve */
} ag_plan_params;

typedef struct ag_plan {
    uint32_t size;            /* = sizeof(ag_plan) */
    ag_context_params ctx;    /* with defaults resolved (n_ctx, n_batch, n_threads) */
    uint64_t weights;         /* tensor data: mapped from the file, never copied */
    uint64_t metadata;        /* the vocabulary's tables, small tensors converted to f32 (the
                                 header's pages are released after load) */
    uint64_t kv;              /* the KV cache at n_ctx positions */
    uint64_t recurrent;       /* DeltaNet conv + recurrent state */
    uint64_t scratch;         /* activations and kernel scratch for n_batch tokens */
    uint64_t logits;
    uint64_t snapshots;
    uint64_t runtime;         /* the process itself: code, libraries, heap so far, thread stacks */
    uint64_t total;           /* the predicted peak resident set */
    uint64_t budget;          /* what total was checked against */
    uint64_t available;       /* memory available now (0 = unknown) */
    bool fits;                /* total <= budget */
} ag_plan;

AG_API ag_plan_params ag_plan_default_params(void);
/* Plans the model at path with p (NULL = defaults). Reads only the GGUF
 * header. AG_ERR_IO / AG_ERR_FORMAT / AG_ERR_UNSUPPORTED as ag_model_load. */
AG_API ag_status ag_plan_model(const char *path, const ag_plan_params *p, ag_plan *out);
/* --fit: the largest context (up to p->ctx.n_ctx, or the training context
 * when 0) that fits the budget, then the least lossy KV type (f16, q8_0,
 * q4_0, K and V alike) that keeps it; writes the choice into p->ctx and the
 * plan into out. AG_ERR_NOMEM (with the numbers) if not even 256 tokens fit. */
AG_API ag_status ag_plan_fit(const char *path, ag_plan_params *p, ag_plan *out);
/* MemAvailable (Linux), 0 if unknown; and the default budget (that minus a reserve). */
AG_API uint64_t ag_mem_available(void);
AG_API uint64_t ag_mem_default_budget(void);
/* This process's peak and current resident set (VmHWM, VmRSS), 0 if unknown. */
AG_API uint64_t ag_mem_peak_rss(void);
AG_API uint64_t ag_mem_rss(void);

/* ---- sequence state: snapshots, prefix reuse, session files -------------- */

/* The sequence's tokens (ag_context_n_past of them), borrowed until the next
 * ag_decode, reset or restore. */
AG_API const int32_t *ag_context_tokens(const ag_context *c, size_t *n);

/* A snapshot of a sequence in memory: its tokens, the recurrent (DeltaNet)
 * state and the last logits row. The KV cache is append-only, so a snapshot
 * does not copy it: it stays restorable into the same context as long as the
 * context's cache still holds the snapshot's tokens (always, unless the
 * context was since reset or restored to an earlier point and then fed other
 * tokens over those positions). Cost: the recurrent state (19.27 MiB for the
 * 0.8B shape) + 4 bytes per token + one logits row. */
typedef struct ag_snapshot ag_snapshot;
AG_API ag_status ag_snapshot_take(const ag_context *c, ag_snapshot **out);
/* Puts the context back to the snapshot (n_past, state, logits row 0).
 * AG_ERR_INVALID_ARG if it came from another context or the context's cache
 * no longer holds its tokens; the context is then unchanged. */
AG_API ag_status ag_snapshot_restore(ag_context *c, const ag_snapshot *s);
AG_API void ag_snapshot_free(ag_snapshot *s);
AG_API const int32_t *ag_snapshot_tokens(const ag_snapshot *s, size_t *n);
/* ag_decode, and *snap receives the snapshot (as ag_snapshot_take) of the
 * sequence after the first `at` of the tokens (1 <= at <= n), with token
 * at - 1's logits. The same steps run all n tokens: the ones after the
 * point do not wait for a second pass over the weights and the KV cache, as
 * they would in ag_decode(at), ag_snapshot_take, ag_decode(the rest) (a chat
 * turn: its boundary, then the generation prompt). The snapshot is that
 * sequence's state exactly when the point ends a step (n_batch tokens), else
 * within the rounding of the steps' other grouping. *snap is NULL on failure;
 * an error leaves the context as ag_decode's would. */
AG_API ag_status ag_decode_snap(ag_context *c, const int32_t *tokens, size_t n, bool all_logits, size_t at,
                                ag_snapshot **snap);

/* Prepares the context to process tokens[0, n): finds the longest state whose
 * tokens are a prefix of them -- the context as it is, or any restorable
 * snapshot in snaps -- and moves to it (else resets). *n_reused says how many
 * leading tokens need no processing: decode tokens[*n_reused, n) next (when
 * *n_reused == n, ag_get_logits(c, 0) already holds the last token's logits).
 * The recurrent state cannot be rewound, so only these exact points can be
 * resumed from. */
AG_API ag_status ag_context_resume(ag_context *c, ag_snapshot *const *snaps, size_t n_snaps,
                                   const int32_t *tokens, size_t n, size_t *n_reused);

/* Session files: the whole sequence state (tokens, the KV rows in use, the
 * recurrent state, the last logits row) plus an optional opaque blob for the
 * application (a chat history), versioned, checksummed and tied to the
 * model (a fingerprint of its tensors) and to the KV cache types. Loading
 * checks everything before it changes the context: a truncated, corrupt,
 * wrong-version or wrong-model file is refused with AG_ERR_FORMAT (or
 * AG_ERR_INVALID_ARG for a mismatched model / cache type / too small n_ctx)
 * and a one-line detail. *user (malloc'd, free() it) and *user_len receive
 * the blob; pass NULL to ignore it. */
/* snap: save that snapshot's state (it must be restorable into c; its KV
 * rows are read from c) instead of the context's current one; may be NULL. */
AG_API ag_status ag_context_save_file(const ag_context *c, const ag_snapshot *snap, const char *path,
                                      const void *user, size_t user_len);
AG_API ag_status ag_context_load_file(ag_context *c, const char *path, void **user, size_t *user_len);

/* ---- sampling ------------------------------------------------------------- */

typedef struct ag_sampler ag_sampler;

typedef struct ag_sampler_params {
    uint32_t size;            /* = sizeof(ag_sampler_params) */
    float temperature;        /* <= 0: greedy (default 0.8) */
    int32_t top_k;            /* <= 0: off (default 40) */
    float top_p;              /* >= 1: off (default 0.95) */
    float min_p;              /* <= 0: off (default 0.05) */
    float repeat_penalty;     /* 1: off (default 1.0) */
    int32_t penalty_last_n;   /* window of recent tokens for penalties (default 64) */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    uint64_t seed;            /* same seed, same logits -> same tokens (default 0) */
} ag_sampler_params;

AG_API ag_sampler_params ag_sampler_default_params(void);
AG_API ag_status ag_sampler_create(const ag_sampler_params *p, ag_sampler **out);
AG_API void ag_sampler_free(ag_sampler *s);
/* Picks a token from n_vocab logits (not modified), applying penalties over
 * the accepted history, then top-k, temperature, top-p, min-p. Returns -1 on
 * bad arguments or out of memory (see ag_last_error). */
AG_API int32_t ag_sampler_sample(ag_sampler *s, const float *logits, int32_t n_vocab);
/* Records a token in the penalty history (prompt and generated tokens). */
AG_API void ag_sampler_accept(ag_sampler *s, int32_t token);
AG_API void ag_sampler_reset(ag_sampler *s); /* clears history, re-seeds */

/* ---- synthetic models ----------------------------------------------------- */

typedef struct ag_synth_params {
    uint32_t size;            /* = sizeof(ag_synth_params) */
    const char *preset;       /* "tiny", "0.8b", "2b" */
    uint64_t seed;
    const char *type;         /* weight type for matrices: "f32" (default), "f16", "bf16", "q8_0" */
    /* Shape overrides (0 = preset value), for testing other shapes. */
    int32_t n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_vocab;
    int32_t ssm_n_k_heads, ssm_n_v_heads, ssm_head_k_dim, ssm_head_v_dim;
    int32_t full_attn_interval;
    void (*progress)(void *user, double fraction); /* optional */
    void *progress_user;
} ag_synth_params;

AG_API ag_synth_params ag_synth_default_params(void);
/* Writes a random-weight qwen35 GGUF with the preset's shapes, laid out as
 * llama.cpp's converter lays out real files (keys, names, order), with a
 * synthetic byte-level BPE vocabulary of n_vocab tokens. */
AG_API ag_status ag_synth_write(const ag_synth_params *p, const char *path);

/* ---- quantizing models ---------------------------------------------------- */

typedef struct ag_quantize_params {
    uint32_t size;            /* = sizeof(ag_quantize_params) */
    /* Target mix, llama-quantize's names, case-insensitive (default "Q4_K_M"):
     * F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S
     * Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS; aliases Q3_K, Q4_K, Q5_K (= _M). */
    const char *type;
    int32_t n_threads;        /* <= 0: physical cores */
    void (*progress)(void *user, double fraction); /* optional, called on this thread */
    void *progress_user;
} ag_quantize_params;

AG_API ag_quantize_params ag_quantize_default_params(void);
/* Rewrites the GGUF model in_path as out_path with its weights quantized to
 * the mix p->type, choosing each tensor's type as llama-quantize (no
 * importance matrix) does: 1-D tensors, norms and ssm_conv1d stay as they
 * are; a tied token_embd (or output.weight) gets Q6_K (Q8_0 in Q8_0 files);
 * the _M mixes give some attn_v/attn_qkv/ffn_down tensors more bits; rows
 * that a block type does not divide fall back as llama.cpp does (Q4_K to
 * Q5_0, ..., else F16). Metadata is copied in order with
 * general.quantization_version = 2 and general.file_type appended; tensors
 * are written in llama-quantize's order (by block, then name). Tensors in a
 * quantized type are requantized from their dequantized values (lossier than
 * quantizing the original); tensors already in their target type are copied
 * bit for bit. The file is streamed one tensor at a time and written to
 * "out_path.tmp", then renamed. AG_ERR_INVALID_ARG for an unknown type (the
 * detail lists the supported ones), AG_ERR_IO / AG_ERR_FORMAT for unreadable
 * or malformed input (including NaN/inf weights), AG_ERR_NOMEM. */
AG_API ag_status ag_quantize(const char *in_path, const char *out_path, const ag_quantize_params *p);

/* ---- system --------------------------------------------------------------- */

AG_API const char *ag_version(void);
/* One line describing what the CPU offers and what airgap chose. */
AG_API const char *ag_system_info(void);

#ifdef __cplusplus
}
#endif
#endif /* AIRGAP_H */
