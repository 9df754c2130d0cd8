/* arch.h: the architecture registry.
 *
 * An architecture is a table of functions keyed by general.architecture.
 * model.c and context.c are generic: they open the GGUF, load the vocabulary,
 * look the architecture up here, and call through this table. Adding BERT
 * encoders or the vision tower means adding a file and a row in arch.c, not
 * touching qwen35.c. */
#ifndef AG_MODEL_ARCH_H
#define AG_MODEL_ARCH_H

#include "airgap.h"
#include "gguf/gguf.h"
#include "kernels/ops.h"
#include "tokenizer/vocab.h"

struct ag_arch;

struct ag_model {
    char *path;
    ag_gguf *gguf;
    ag_vocab *vocab;            /* NULL if the file has no tokenizer */
    const struct ag_arch *arch; /* NULL when loaded vocab-only */
    void *impl;                 /* the architecture's hparams and weights */
    char arch_name[64];
    char desc[256];
    int32_t n_vocab, n_embd, n_layer, n_ctx_train;
    uint64_t n_params, tensor_bytes;
    float **copies;             /* ag_model_load_f32's conversions, freed with the model */
    size_t n_copies;
};

struct ag_context {
    const ag_model *model;
    ag_context_params params;
    int32_t n_past;
    int32_t *tokens;            /* (n_ctx) the token at each position written */
    int32_t kv_valid;           /* cache rows [0, kv_valid) belong to tokens[0, kv_valid) */
    ag_exec exec;
    float *logits;              /* rows x n_vocab */
    size_t logits_rows, logits_cap_rows;
    void *state;                /* the architecture's per-sequence state and scratch */
    bool (*should_abort)(void *);
    void *abort_user;
};

/* A piece of a sequence's state (model/state.c saves and restores them).
 * per_pos: n_ctx rows of row bytes at p, of which the first n_past are live
 * (KV cache); else bytes at p, all live (recurrent state). */
typedef struct ag_state_seg {
    uint8_t *p;
    size_t bytes;               /* !per_pos */
    size_t row;                 /* per_pos */
    bool per_pos;
} ag_state_seg;

/* A point inside a forward step whose state a snapshot keeps (ag_decode_snap):
 * after the step's first `at` tokens (0 < at < n). rec receives the state's
 * non-per-position segments as they stood there, concatenated in
 * state_segs order; the step's logits are then two rows, token at - 1's and
 * the last token's. */
typedef struct ag_mark {
    int32_t at;
    uint8_t *rec;
} ag_mark;

/* A snapshot of n tokens of c (model/state.c) with room for them, the
 * recurrent state (*rec) and, if logits != NULL, one logits row, all to be
 * filled: by the caller (ag_decode_snap), or the tokens from an array
 * (set_tokens, s's n of them) and the state from the context as it is now
 * (fill). */
ag_status ag_snapshot_new(const ag_context *c, int32_t n, ag_snapshot **out, uint8_t **rec, float **logits);
void ag_snapshot_set_tokens(ag_snapshot *s, const int32_t *tokens);
ag_status ag_snapshot_fill(const ag_context *c, ag_snapshot *s);

typedef struct ag_arch {
    const char *name;
    /* Reads hparams and binds tensors; sets m->impl, n_embd, n_layer, desc. */
    ag_status (*load)(ag_model *m);
    void (*unload)(ag_model *m);
    /* Allocates c->state for c->params (n_ctx, n_batch). */
    ag_status (*ctx_init)(ag_context *c);
    void (*ctx_free)(ag_context *c);
    void (*ctx_reset)(ag_context *c);
    /* Runs n <= n_batch tokens at positions n_past..; writes logits for every
     * token (all) or the last one (!all) to logits when logits != NULL.
     * mark (may be NULL; never with all): see ag_mark. */
    ag_status (*forward)(ag_context *c, const int32_t *tokens, int32_t n, float *logits, bool all,
                         const ag_mark *mark);
    /* Fills kv, recurrent, scratch (and adds its copied tensors to metadata)
     * for the model whose header is m->gguf (m has path, gguf, arch_name,
     * n_vocab only: nothing is bound) and resolved params cp. */
    ag_status (*plan)(ag_model *m, const ag_context_params *cp, ag_plan *out);
    /* The state's pieces, in a fixed order; returns how many (<= cap). */
    int (*state_segs)(ag_context *c, ag_state_seg *segs, int cap);
} ag_arch;

const ag_arch *ag_arch_find(const char *name);

/* Fills in the defaults of context params (n_ctx, n_batch, n_threads) and
 * checks them. */
ag_status ag_context_params_resolve(ag_context_params *cp, int32_t n_ctx_train);

/* Helpers for architectures: bind a tensor by name with shape checks.
 * ne1 = 0 for 1-D. Errors name the file and tensor. */
ag_status ag_model_bind_weight(ag_model *m, const char *name, int64_t n_in, int64_t n_out, ag_weight *out);
/* A small tensor of exactly ne0 x ne1 values as f32: the mapped data itself
 * when the file stores it as aligned f32 (no second copy in memory), else a
 * conversion the model owns. */
ag_status ag_model_load_f32(ag_model *m, const char *name, int64_t ne0, int64_t ne1, const float **out);
/* Heap bytes ag_model_load_f32 will use for that tensor (0 when borrowed
 * or absent); for the memory plan. */
uint64_t ag_model_f32_copy_bytes(const ag_gguf *g, const char *name);
bool ag_model_has_tensor(const ag_model *m, const char *name);

#endif
