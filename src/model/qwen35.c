/* qwen35.c: the Qwen3.5 text model (Stage 3 of 5: forward), per
 * docs/qwen35-spec.md sections 1-4.
 *
 * A hybrid stack: most layers are Gated DeltaNet (linear attention with a
 * fixed-size f32 state per head), every full_attention_interval-th layer is
 * gated softmax attention with a KV cache. Both paths run T tokens per call:
 * the projections are batched matmuls (weights read once per batch), the
 * DeltaNet runs in one pool job per layer (conv, norms, recurrence, gated
 * norm; threads split by key head). Its recurrence runs token by token for
 * short batches (decode: delta_step, one fused pass over each head's state
 * per token) and in the chunked form (spec 3.6, delta_chunk: small GEMMs per
 * chunk of 64 tokens, one state update per chunk) for batches of 16 tokens
 * or more; the two agree to float rounding (tests/model/
 * test_deltanet_chunk.c). Attention is causal over the cache.
 *
 * Attention runs straight over the cache with an online softmax, a tile of
 * 64 keys at a time: scores of a block of query rows against the tile (the
 * kernel table's gemm, reading K in its cache type as if it were a weight
 * matrix), a running max and sum per row, and the tile's values (converted
 * to f32 one tile at a time) accumulated into the output. Memory is linear in
 * the context and nothing dequantizes the whole cache.
 *
 * State layouts (per sequence):
 *   KV:   k[layer][kv head][pos] one row of Dh values in the K cache type
 *         (f16, f32, q8_0, q4_0), padded to 4 bytes; v likewise. Head-major,
 *         so one head's keys are one contiguous stream.
 *   conv: conv[layer][Kc-1][Cc], oldest first (raw, pre-conv)       (f32)
 *   ssm:  S[layer][Hv][Dv][Dk]: row j of head h holds S[.][j], so
 *         retrieve, update and read-out are contiguous dot/axpy     (f32)
 * MTP blocks (block index >= block_count - nextn_predict_layers) are never
 * bound or run. */
#include "core/status.h"
#include "kernels/kernels.h"
#include "model/arch.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layer {
    bool is_rec;
    int slot;                        /* index among attention or recurrent layers */
    const float *attn_norm, *post_norm;    /* (d) */
    ag_weight ffn_gate, ffn_up, ffn_down;
    /* gated attention */
    ag_weight wq, wk, wv, wo;        /* wq: (d -> 2*H*Dh) query|gate per head; fused: + K + V rows */
    bool fused_qkv;
    const float *q_norm, *k_norm;          /* (Dh) */
    /* Gated DeltaNet */
    ag_weight w_qkv, w_z, w_beta, w_alpha, w_out;
    const float *conv_w;                   /* (Cc, Kc): Kc taps per channel */
    const float *dt_bias, *ssm_a;          /* (Hv) */
    const float *ssm_norm;           /* (Dv) */
} layer;

typedef struct qwen35 {
    int d, f, L, n_block, n_vocab;
    int H, Hkv, Dh, n_rot, sect[4];
    float rope_base, eps, attn_scale;
    int Kc, Dk, Hk, Hv, Dv, Cc;      /* DeltaNet geometry */
    int n_attn, n_rec;
    ag_weight tok_embd, output;
    const float *output_norm;
    layer *layers;
    double *rope_freq;               /* (n_rot/2) */
} qwen35;

typedef struct qstate {
    uint8_t **k, **v;                /* [n_attn] -> (Hkv, n_ctx, krow / vrow bytes) */
    const ag_type_traits *tk, *tv;   /* cache element types */
    uint32_t tk_id, tv_id;
    size_t krow, vrow;               /* bytes per cached head row */
    float **conv;                    /* [n_rec] -> (Kc-1, Cc) */
    float **ssm;                     /* [n_rec] -> (Hv, Dv, Dk) */
    /* scratch for up to n_batch tokens */
    float *x, *u;                    /* (T, d): the residual stream, its normed copy */
    float *tmp;                      /* (T, d): a block's output (out-proj, FFN down) = u:
                                        the normed input is dead once the block's first
                                        matmuls have read it */
    float *proj;                     /* (T, proj_w) */
    float *gate;                     /* (T, gate_w): DeltaNet z; the attention's output */
    float *y;                        /* the mixer's output rows before the out-proj, row
                                        stride y_w, set per layer (no buffer of its own):
                                        the DeltaNet writes over its v rows in proj (dead
                                        once its recurrence has read them), the attention
                                        into gate (which it does not use), or on its int16
                                        path into proj, all dead by then (att16_out) */
    float *ba;                       /* (T, 2*Hv): beta | alpha logits */
    float *convhist;                 /* (Kc-1, Cc): conv state before this batch */
    uint8_t *attq;                   /* the int16 attention's query codes (att16_worker;
                                        over ba and convhist, which only the DeltaNet uses),
                                        or NULL when no batch takes that path */
    float *ffa, *ffb;                /* (T, f): the FFN runs after the mixer is done, so
                                        these share one block (mix) with the four above */
    float *mix;
    uint8_t *att;                    /* per-thread scratch, att_stride bytes each: the attention's */
    size_t att_stride;
    float *dn;                       /* ... or delta_chunk's (= att, dn_stride floats each; NULL */
    size_t dn_stride;                /*     when batches are too short for it) */
    float *rcos, *rsin;              /* (T, n_rot/2) */
    int proj_w, gate_w, y_w;
} qstate;

/* ---- hparams ---- */

static ag_status key_u32(ag_model *m, const char *suffix, bool required, uint32_t def, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch_name, suffix);
    if (ag_gguf_find_key(m->gguf, key) < 0) {
        if (required) return ag_fail(AG_ERR_FORMAT, "%s: required key '%s' is missing", m->path, key);
        *out = def;
        return AG_OK;
    }
    return ag_gguf_get_u32(m->gguf, key, out);
}

static ag_status key_f32(ag_model *m, const char *suffix, bool required, float def, float *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch_name, suffix);
    if (ag_gguf_find_key(m->gguf, key) < 0) {
        if (required) return ag_fail(AG_ERR_FORMAT, "%s: required key '%s' is missing", m->path, key);
        *out = def;
        return AG_OK;
    }
    return ag_gguf_get_f32(m->gguf, key, out);
}

static ag_status check_range(ag_model *m, const char *what, uint32_t v, uint32_t lo, uint32_t hi)
{
    if (v < lo || v > hi)
        return ag_fail(AG_ERR_FORMAT, "%s: %s = %u is out of range [%u, %u]", m->path, what, v, lo, hi);
    return AG_OK;
}

#define TRY(x)                          \
    do {                                \
        ag_status st_ = (x);            \
        if (st_ != AG_OK) return st_;   \
    } while (0)

static ag_status load_hparams(ag_model *m, qwen35 *q)
{
    uint32_t n_block, d, f, H, Hkv, Dk, Dv, n_rot, ctx, Kc, sd, gk, gv, inner, interval, nextn;
    float eps;
    TRY(key_u32(m, "block_count", true, 0, &n_block));
    TRY(key_u32(m, "embedding_length", true, 0, &d));
    TRY(key_u32(m, "feed_forward_length", true, 0, &f));
    TRY(key_u32(m, "attention.head_count", true, 0, &H));
    TRY(key_u32(m, "attention.head_count_kv", false, H, &Hkv));
    TRY(check_range(m, "attention.head_count", H, 1, 4096));
    TRY(key_u32(m, "attention.key_length", false, H ? d / H : 0, &Dk));
    TRY(key_u32(m, "attention.value_length", false, Dk, &Dv));
    TRY(key_u32(m, "rope.dimension_count", false, Dk, &n_rot));
    TRY(key_u32(m, "context_length", true, 0, &ctx));
    TRY(key_f32(m, "attention.layer_norm_rms_epsilon", true, 0, &eps));
    TRY(key_f32(m, "rope.freq_base", false, 10000.0f, &q->rope_base));
    TRY(key_f32(m, "attention.scale", false, 0.0f, &q->attn_scale));
    TRY(key_u32(m, "ssm.conv_kernel", true, 0, &Kc));
    TRY(key_u32(m, "ssm.state_size", true, 0, &sd));
    TRY(key_u32(m, "ssm.group_count", true, 0, &gk));
    TRY(key_u32(m, "ssm.time_step_rank", true, 0, &gv));
    TRY(key_u32(m, "ssm.inner_size", true, 0, &inner));
    TRY(key_u32(m, "full_attention_interval", false, 4, &interval));
    TRY(key_u32(m, "nextn_predict_layers", false, 0, &nextn));

    TRY(check_range(m, "block_count", n_block, 1, 4096));
    TRY(check_range(m, "embedding_length", d, 1, 1u << 17));
    TRY(check_range(m, "feed_forward_length", f, 1, 1u << 20));
    TRY(check_range(m, "attention.head_count_kv", Hkv, 1, H));
    TRY(check_range(m, "attention.key_length", Dk, 1, 1u << 14));
    TRY(check_range(m, "rope.dimension_count", n_rot, 0, Dk));
    TRY(check_range(m, "ssm.conv_kernel", Kc, 1, 64));
    TRY(check_range(m, "ssm.state_size", sd, 1, 1u << 14));
    TRY(check_range(m, "ssm.group_count", gk, 1, 4096));
    TRY(check_range(m, "ssm.time_step_rank", gv, 1, 4096));
    TRY(check_range(m, "ssm.inner_size", inner, 1, 1u << 20));
    TRY(check_range(m, "nextn_predict_layers", nextn, 0, n_block - 1));
    if (H % Hkv) return ag_fail(AG_ERR_FORMAT, "%s: head_count %u is not a multiple of head_count_kv %u", m->path, H, Hkv);
    if (H / Hkv > 64)
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: %u query heads per KV head (at most 64 supported)", m->path, H / Hkv);
    if (Dv != Dk)
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: attention value_length %u != key_length %u (the output gate needs equal widths)",
                       m->path, Dv, Dk);
    if (n_rot % 2) return ag_fail(AG_ERR_FORMAT, "%s: rope.dimension_count %u is odd", m->path, n_rot);
    if (inner % gv)
        return ag_fail(AG_ERR_FORMAT, "%s: ssm.inner_size %u is not a multiple of ssm.time_step_rank %u", m->path, inner, gv);
    if (!(eps > 0 && eps < 1)) return ag_fail(AG_ERR_FORMAT, "%s: layer_norm_rms_epsilon %g is out of range", m->path, eps);
    if (!(q->rope_base > 1 && isfinite(q->rope_base)))
        return ag_fail(AG_ERR_FORMAT, "%s: rope.freq_base %g is out of range", m->path, q->rope_base);
    if (!isfinite(q->attn_scale) || q->attn_scale < 0)
        return ag_fail(AG_ERR_FORMAT, "%s: attention.scale %g is invalid", m->path, q->attn_scale);

    q->n_block = (int)n_block;
    q->L = (int)(n_block - nextn);
    q->d = (int)d;
    q->f = (int)f;
    q->H = (int)H;
    q->Hkv = (int)Hkv;
    q->Dh = (int)Dk;
    q->n_rot = (int)n_rot;
    q->eps = eps;
    if (q->attn_scale == 0) q->attn_scale = 1.0f / sqrtf((float)Dk);
    q->Kc = (int)Kc;
    q->Dk = (int)sd;
    q->Hk = (int)gk;
    q->Hv = (int)gv;
    q->Dv = (int)(inner / gv);
    q->Cc = 2 * q->Hk * q->Dk + q->Hv * q->Dv;

    /* M-RoPE sections: for text every position component equals the token
     * position except the 4th (always 0), so only which pairs fall in the
     * 4th section matters. Missing key: plain NEOX RoPE over n_rot dims. */
    char key[128];
    snprintf(key, sizeof(key), "%s.rope.dimension_sections", m->arch_name);
    memset(q->sect, 0, sizeof(q->sect));
    if (ag_gguf_find_key(m->gguf, key) >= 0) {
        uint32_t at;
        uint64_t n;
        const ag_gguf_kv *kv;
        TRY(ag_gguf_get_arr(m->gguf, key, &at, &n, &kv));
        if (n < 3 || n > 4 || !(at == AG_GGUF_I32 || at == AG_GGUF_U32))
            return ag_fail(AG_ERR_FORMAT, "%s: key '%s': expected 3 or 4 integers", m->path, key);
        for (uint64_t i = 0; i < n; i++) {
            int64_t v = ag_gguf_arr_i64(kv, i);
            if (v < 0 || v > 1 << 14) return ag_fail(AG_ERR_FORMAT, "%s: key '%s': value %lld out of range", m->path, key, (long long)v);
            q->sect[i] = (int)v;
        }
    } else {
        q->sect[0] = q->n_rot / 2; /* all pairs use the token position */
    }

    q->layers = calloc((size_t)q->L, sizeof(layer));
    if (!q->layers) return ag_fail(AG_ERR_NOMEM, "%s: out of memory", m->path);
    snprintf(key, sizeof(key), "%s.attention.recurrent_layers", m->arch_name);
    const ag_gguf_kv *rl = NULL;
    if (ag_gguf_find_key(m->gguf, key) >= 0) {
        uint32_t at;
        uint64_t n;
        TRY(ag_gguf_get_arr(m->gguf, key, &at, &n, &rl));
        if (n != n_block && n != (uint64_t)q->L)
            return ag_fail(AG_ERR_FORMAT, "%s: key '%s' has %llu entries, expected block_count %u", m->path, key,
                           (unsigned long long)n, n_block);
        if (at == AG_GGUF_STRING || at == AG_GGUF_ARRAY || at == AG_GGUF_F32 || at == AG_GGUF_F64)
            return ag_fail(AG_ERR_FORMAT, "%s: key '%s': expected booleans", m->path, key);
    } else if (interval == 0) {
        return ag_fail(AG_ERR_FORMAT, "%s: full_attention_interval is 0", m->path);
    }
    for (int i = 0; i < q->L; i++) {
        layer *l = &q->layers[i];
        l->is_rec = rl ? ag_gguf_arr_i64(rl, (uint64_t)i) != 0 : ((uint32_t)(i + 1) % interval) != 0;
        l->slot = l->is_rec ? q->n_rec++ : q->n_attn++;
    }
    return AG_OK;
}

/* ---- weights ---- */

static ag_status bind_layer(ag_model *m, qwen35 *q, int i)
{
    layer *l = &q->layers[i];
    char nm[160];
    int d = q->d;
#define NAME(s) (snprintf(nm, sizeof(nm), "blk.%d.%s", i, s), nm)
    TRY(ag_model_load_f32(m, NAME("attn_norm.weight"), d, 0, &l->attn_norm));
    TRY(ag_model_load_f32(m, NAME("post_attention_norm.weight"), d, 0, &l->post_norm));
    TRY(ag_model_bind_weight(m, NAME("ffn_gate.weight"), d, q->f, &l->ffn_gate));
    TRY(ag_model_bind_weight(m, NAME("ffn_up.weight"), d, q->f, &l->ffn_up));
    TRY(ag_model_bind_weight(m, NAME("ffn_down.weight"), q->f, d, &l->ffn_down));
    if (l->is_rec) {
        int vw = q->Hv * q->Dv;
        TRY(ag_model_bind_weight(m, NAME("attn_qkv.weight"), d, q->Cc, &l->w_qkv));
        TRY(ag_model_bind_weight(m, NAME("attn_gate.weight"), d, vw, &l->w_z));
        TRY(ag_model_bind_weight(m, NAME("ssm_beta.weight"), d, q->Hv, &l->w_beta));
        TRY(ag_model_bind_weight(m, NAME("ssm_alpha.weight"), d, q->Hv, &l->w_alpha));
        TRY(ag_model_bind_weight(m, NAME("ssm_out.weight"), vw, d, &l->w_out));
        TRY(ag_model_load_f32(m, NAME("ssm_conv1d.weight"), q->Kc, q->Cc, &l->conv_w));
        TRY(ag_model_load_f32(m, NAME("ssm_dt.bias"), q->Hv, 0, &l->dt_bias));
        TRY(ag_model_load_f32(m, NAME("ssm_a"), q->Hv, 0, &l->ssm_a));
        TRY(ag_model_load_f32(m, NAME("ssm_norm.weight"), q->Dv, 0, &l->ssm_norm));
    } else {
        int qw = 2 * q->H * q->Dh, kw = q->Hkv * q->Dh;
        if (ag_model_has_tensor(m, NAME("attn_q.weight"))) {
            TRY(ag_model_bind_weight(m, NAME("attn_q.weight"), d, qw, &l->wq));
            TRY(ag_model_bind_weight(m, NAME("attn_k.weight"), d, kw, &l->wk));
            TRY(ag_model_bind_weight(m, NAME("attn_v.weight"), d, kw, &l->wv));
        } else {
            /* --fuse-qkv export: one matrix, rows Q+gate | K | V */
            l->fused_qkv = true;
            TRY(ag_model_bind_weight(m, NAME("attn_qkv.weight"), d, qw + 2 * kw, &l->wq));
        }
        TRY(ag_model_bind_weight(m, NAME("attn_output.weight"), q->H * q->Dh, d, &l->wo));
        TRY(ag_model_load_f32(m, NAME("attn_q_norm.weight"), q->Dh, 0, &l->q_norm));
        TRY(ag_model_load_f32(m, NAME("attn_k_norm.weight"), q->Dh, 0, &l->k_norm));
    }
#undef NAME
    return AG_OK;
}

static void qwen35_unload(ag_model *m)
{
    qwen35 *q = m->impl;
    if (!q) return;
    free(q->layers);
    free(q->rope_freq);
    free(q);
    m->impl = NULL;
}

static ag_status qwen35_load(ag_model *m)
{
    qwen35 *q = calloc(1, sizeof(*q));
    if (!q) return ag_fail(AG_ERR_NOMEM, "%s: out of memory", m->path);
    m->impl = q;
    ag_status st = load_hparams(m, q);
    if (st != AG_OK) goto fail;

    int64_t ie = ag_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ie < 0) { st = ag_fail(AG_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", m->path); goto fail; }
    const ag_gguf_tensor *te = &m->gguf->tensors[ie];
    if (m->vocab) {
        q->n_vocab = m->n_vocab;
    } else {
        if (te->ne[1] > (1u << 24)) { st = ag_fail(AG_ERR_FORMAT, "%s: token_embd has too many rows", m->path); goto fail; }
        q->n_vocab = m->n_vocab = (int32_t)te->ne[1];
    }
    st = ag_model_bind_weight(m, "token_embd.weight", q->d, q->n_vocab, &q->tok_embd);
    if (st != AG_OK) {
        if (te->ne[0] == (uint64_t)q->d && te->ne[1] != (uint64_t)q->n_vocab)
            st = ag_fail(AG_ERR_FORMAT, "%s: token_embd.weight has %llu rows but the vocabulary has %d tokens", m->path,
                         (unsigned long long)te->ne[1], q->n_vocab);
        goto fail;
    }
    if (ag_model_has_tensor(m, "output.weight")) {
        st = ag_model_bind_weight(m, "output.weight", q->d, q->n_vocab, &q->output);
        if (st != AG_OK) goto fail;
    } else {
        q->output = q->tok_embd; /* tied LM head */
    }
    st = ag_model_load_f32(m, "output_norm.weight", q->d, 0, &q->output_norm);
    if (st != AG_OK) goto fail;
    for (int i = 0; i < q->L; i++) {
        st = bind_layer(m, q, i);
        if (st != AG_OK) goto fail;
    }
    int half = q->n_rot / 2;
    q->rope_freq = malloc((size_t)(half > 0 ? half : 1) * sizeof(double));
    if (!q->rope_freq) { st = ag_fail(AG_ERR_NOMEM, "%s: out of memory", m->path); goto fail; }
    for (int i = 0; i < half; i++) q->rope_freq[i] = pow((double)q->rope_base, -2.0 * i / q->n_rot);

    m->n_embd = q->d;
    m->n_layer = q->L;
    uint32_t ctx = 0;
    key_u32(m, "context_length", true, 0, &ctx);
    m->n_ctx_train = ctx > (1u << 30) ? (1 << 30) : (int32_t)ctx;
    snprintf(m->desc, sizeof(m->desc),
             "qwen35: %d layers (%d Gated DeltaNet + %d gated attention)%s, d=%d, ffn=%d, attn %dx%d heads (kv %d), "
             "DeltaNet %d k-heads x %d, %d v-heads x %d, vocab %d, %s LM head",
             q->L, q->n_rec, q->n_attn, q->n_block > q->L ? " + MTP (skipped)" : "", q->d, q->f, q->H, q->Dh, q->Hkv,
             q->Hk, q->Dk, q->Hv, q->Dv, q->n_vocab, q->output.data == q->tok_embd.data ? "tied" : "separate");
    return AG_OK;
fail:
    qwen35_unload(m);
    return st;
}

/* ---- per-sequence state ---- */

static void qwen35_ctx_free(ag_context *c)
{
    qstate *s = c->state;
    const qwen35 *q = c->model->impl;
    if (!s) return;
    for (int i = 0; i < q->n_attn; i++) {
        if (s->k) free(s->k[i]);
        if (s->v) free(s->v[i]);
    }
    for (int i = 0; i < q->n_rec; i++) {
        if (s->conv) free(s->conv[i]);
        if (s->ssm) free(s->ssm[i]);
    }
    free(s->k);
    free(s->v);
    free(s->conv);
    free(s->ssm);
    free(s->x);
    free(s->u); /* s->tmp is s->u */
    free(s->mix);
    free(s->att); /* s->dn shares it */
    free(s->rcos);
    free(s->rsin);
    free(s);
    c->state = NULL;
}

/* Floats of a DeltaNet layer's live conv state (the last Kc - 1 inputs)
 * and recurrent state (Hv heads of Dv x Dk): its two state segments. */
static size_t conv_state_floats(const qwen35 *q) { return (size_t)(q->Kc - 1) * q->Cc; }
static size_t ssm_state_floats(const qwen35 *q) { return (size_t)q->Hv * q->Dv * q->Dk; }

static void qwen35_ctx_reset(ag_context *c)
{
    qstate *s = c->state;
    const qwen35 *q = c->model->impl;
    for (int i = 0; i < q->n_rec; i++) {
        memset(s->conv[i], 0, conv_state_floats(q) * sizeof(float));
        memset(s->ssm[i], 0, ssm_state_floats(q) * sizeof(float));
    }
    /* KV rows past n_past are never read, so they need no clearing */
}

static float *alloc_f(size_t a, size_t b, bool *ok)
{
    if (b && a > SIZE_MAX / sizeof(float) / b) { *ok = false; return NULL; }
    size_t n = a * b;
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

static int max_i(int a, int b) { return a > b ? a : b; }

/* Attention work: a block of query rows (tokens x the query heads of one KV
 * head) against tiles of ATT_TILE keys. */
#define ATT_TILE 64
#define ATT_ROWS 64
/* The int16 path (kernels.h keys_i16 / qk_i16 / values_i16 / pv_i16: f16
 * cache, prefill; att16_worker). Coding a key / value tile into integers
 * costs about as much as the arithmetic of 16 query rows, so one coding of
 * each tile serves every query row and head of the call that sees it.
 * (Coding it once per block of rows, as before, spent ~30% of the
 * attention's time at 8k keys on coding and on reading the cache again;
 * coding once per call, the attention takes ~11% less CPU time there
 * (perf, 150-token turns) and the coding ~10% of what is left.) A call takes at most
 * ATT_ROWS_I16 rows (tokens of one head). Calls whose tiles would serve
 * fewer than ATT_I16_MIN_ROWS rows (tokens x group; decode above all) keep
 * the exact f32 kernels (test_attn_ops --bench-i16, Dh 256: the int16
 * kernels run at ~440 GFLOP/s from 4 rows on once the tile is coded, the
 * f32 ones at ~210 / 245; coding a tile costs ~1.6 us, the arithmetic of
 * ~11 rows at that rate). */
#define ATT_ROWS_I16 128
#define ATT_I16_MIN_ROWS 32
/* att16_worker's loop order: ATT_SPAN tiles are coded at a time, then
 * each run of ATT_RUN query rows of one head goes through all of them. A
 * head's query codes and outputs are contiguous rows for the whole call
 * (attq; the outputs head-major in gate, put in token order for the
 * out-proj once all heads are done), so a run's rows sit together (12 KiB
 * of outputs at Dh 256, in L1) with nothing copied. Rows in place, 8 KiB
 * apart in the output rows (20+ KiB in proj), fall in the same L1 sets: in
 * about half the runs on a shared machine the value products then ran
 * ~1.7x slower (73-token turn after 8k keys: pv 59-76 Mcycles per thread
 * in 7 of 12, against 42-48). Copying each run's rows into thread scratch
 * and back around every span (the previous scheme) cost ~7% of the
 * attention at 8k keys (5.4 of 107 Mcycles per thread). Spans of 2 tiles
 * ran as fast as 4 (73-token turns after 8k keys) in half the scratch.
 * ATT_RUN: 2 register tiles of qk_i16 (6 rows) and 3 of pv_i16 (4). */
#define ATT_SPAN 2
#define ATT_RUN 12

static uint32_t cache_type_id(ag_cache_type t)
{
    switch (t) {
    case AG_CACHE_F32: return AG_TYPE_F32;
    case AG_CACHE_Q8_0: return AG_TYPE_Q8_0;
    case AG_CACHE_Q4_0: return AG_TYPE_Q4_0;
    default: return AG_TYPE_F16;
    }
}

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Query rows per attention block for a GQA group size. */
static int att_rows(int group) { return group > ATT_ROWS ? group : ATT_ROWS / group * group; }

/* Whether a call of T tokens takes the int16 path (the caller also checks
 * the cache types and the level's kernels). */
static bool att_i16_shape(int group, int Dh, size_t T)
{
    return Dh % 32 == 0 && T * (size_t)group >= ATT_I16_MIN_ROWS;
}

/* One thread's attention scratch (attn_worker carves it, att_scratch_bytes
 * sizes it: both through att_layout_of): byte offsets of the f32 query
 * rows, the query rows in K's activation format (worst case: 4 bytes a
 * value plus a block of scales), the scores of one tile, one tile of values
 * in f32 or the int8 kernels' scratch (qk_q8_0 then pv_q8_0 per tile; the
 * larger of the two sizes), the outputs, running max and sum. */
typedef struct att_layout {
    size_t qf, qa, arow_max, sc, vbuf, o, mx, l, bytes;
} att_layout;

static att_layout att_layout_of(int group, int Dh)
{
    att_layout a;
    size_t rows = (size_t)att_rows(group), dh = (size_t)Dh;
    size_t vf = dh * ATT_TILE * 4, pq = dh % 32 ? 0 : AG_PV_Q8_0_SCRATCH(rows, dh);
    a.arow_max = round_up(dh * 4 + 64, 64);
    a.qf = 0;
    a.qa = a.qf + round_up(rows * dh * 4, 64);
    a.sc = a.qa + rows * a.arow_max;
    a.vbuf = a.sc + round_up(rows * ATT_TILE * 4, 64);
    a.o = a.vbuf + round_up(vf > pq ? vf : pq, 64);
    a.mx = a.o + round_up(rows * dh * 4, 64);
    a.l = a.mx + round_up(rows * 4, 64);
    a.bytes = a.l + round_up(rows * 4, 64);
    return a;
}

/* The int16 path's thread scratch (att16_worker): one f32 query row (each
 * is scaled there, then coded into attq), the scores of one run of rows,
 * ATT_SPAN coded key tiles and as many value tiles (ct bytes each), and the
 * running max and sum of every row of a KV head's group (T tokens x
 * group). */
typedef struct att16_layout {
    size_t qf, sc, ct, kt, vt, mx, bytes;
} att16_layout;

/* bytes of one query row's codes in attq */
static size_t att_q_row(int Dh) { return round_up(AG_ACT_I16_BYTES(Dh), 64); }

static att16_layout att16_layout_of(int group, int Dh, size_t T)
{
    att16_layout a;
    a.qf = 0;
    a.sc = round_up((size_t)Dh * 4, 64);
    a.ct = round_up(AG_ATT_I16_SCRATCH(Dh), 64);
    a.kt = a.sc + (size_t)ATT_RUN * ATT_TILE * 4;
    a.vt = a.kt + ATT_SPAN * a.ct;
    a.mx = a.vt + ATT_SPAN * a.ct;
    a.bytes = a.mx + round_up(2 * T * (size_t)group * 4, 64);
    return a;
}

/* for batches of up to T tokens */
static size_t att_scratch_bytes(int group, int Dh, size_t T)
{
    size_t a = att_layout_of(group, Dh).bytes, b = att_i16_shape(group, Dh, T) ? att16_layout_of(group, Dh, T).bytes : 0;
    return a > b ? a : b;
}

/* The cache element types of a context, checked against the head size. */
static ag_status cache_types(const qwen35 *q, const ag_context_params *p, const ag_type_traits **tk,
                             const ag_type_traits **tv)
{
    ag_cache_type ct[2] = {p->type_k, p->type_v};
    const ag_type_traits *tt[2];
    for (int i = 0; i < 2; i++) {
        tt[i] = ag_type_traits_of(cache_type_id(ct[i]));
        if (q->Dh % (int)tt[i]->block)
            return ag_fail(AG_ERR_UNSUPPORTED, "context: %s cache type %s needs a head size that is a multiple of %u; "
                           "this model's is %d (use f16)", i ? "V" : "K", ag_cache_type_name(ct[i]), tt[i]->block, q->Dh);
    }
    *tk = tt[0];
    *tv = tt[1];
    return AG_OK;
}

/* The chunked DeltaNet (delta_chunk): tokens per chunk, and the shortest
 * batch that uses it (shorter ones, decode included, run token by token). */
#define DN_CHUNK 64
#define DN_CHUNK_MIN 16

/* Floats of one thread's delta_chunk scratch for batches of up to T tokens
 * (0 when no batch is long enough to use it). */
static size_t dn_scratch_floats(const qwen35 *q, size_t T)
{
    if (T < DN_CHUNK_MIN) return 0;
    size_t C = DN_CHUNK, Dk = (size_t)q->Dk, Dv = (size_t)q->Dv;
    return Dk * Dv + 2 * C * C + C * Dv + 2 * C * Dk + 3 * C; /* Sm, then delta_chunk's */
}

/* One thread's scratch block: the attention's layout or delta_chunk's
 * floats, whichever is larger (the two never run at the same time). */
static size_t thread_scratch_bytes(const qwen35 *q, size_t T)
{
    size_t att = att_scratch_bytes(q->H / q->Hkv, q->Dh, T), dn = dn_scratch_floats(q, T) * sizeof(float);
    return round_up(att > dn ? att : dn, 64);
}

/* Bytes a context holds, shared by ctx_init and the memory plan. */
typedef struct qsizes {
    size_t kv, rec, scratch, act;
} qsizes;

static size_t act_row(int n) { return round_up((size_t)n * 292 / 256 + 64, 64); }

/* the row widths (floats) of proj and gate, for the plan and ctx_init */
static int proj_width(const qwen35 *q) { return max_i(q->Cc, 2 * q->H * q->Dh + 2 * q->Hkv * q->Dh); }
static int gate_width(const qwen35 *q) { return max_i(q->Hv * q->Dv, q->H * q->Dh); }

/* Floats of attq for batches of up to T tokens (0: none take that path,
 * which needs an f16 cache for K and V). */
static size_t attq_floats(const qwen35 *q, const ag_context_params *cp, size_t T)
{
    int group = q->H / q->Hkv;
    if (cp->type_k != AG_CACHE_F16 || cp->type_v != AG_CACHE_F16 || !att_i16_shape(group, q->Dh, T)) return 0;
    return T * (size_t)q->H * att_q_row(q->Dh) / sizeof(float) + 16; /* + 64-byte alignment */
}

/* Floats of the block the mixer's buffers (proj, gate, y, ba, convhist,
 * attq) and, later in the layer, the FFN's two (T, f) buffers share. */
static size_t mix_floats(const qwen35 *q, const ag_context_params *cp, size_t T)
{
    size_t proj_w = (size_t)proj_width(q), gate_w = (size_t)gate_width(q);
    size_t rec = T * 2 * (size_t)q->Hv + (size_t)q->Kc * q->Cc, at = attq_floats(q, cp, T); /* ba + convhist | attq */
    size_t mixer = T * (proj_w + gate_w) + (rec > at ? rec : at);
    size_t ffn = 2 * T * (size_t)q->f;
    return mixer > ffn ? mixer : ffn;
}

static void qwen35_sizes(const qwen35 *q, const ag_context_params *cp, size_t krow, size_t vrow, qsizes *z)
{
    size_t T = (size_t)cp->n_batch, n_ctx = (size_t)cp->n_ctx, nth = (size_t)cp->n_threads;
    size_t half = (size_t)max_i(q->n_rot / 2, 1);
    z->kv = (size_t)q->n_attn * q->Hkv * n_ctx * (krow + vrow);
    z->rec = (size_t)q->n_rec * ((size_t)max_i(q->Kc - 1, 1) * q->Cc + (size_t)q->Hv * q->Dv * q->Dk) * sizeof(float);
    size_t per_tok = 2 * (size_t)q->d + 2 * half; /* x, u (= tmp), rope cos / sin */
    z->scratch = (T * per_tok + mix_floats(q, cp, T)) * sizeof(float) + nth * thread_scratch_bytes(q, T);
    /* ag_matmul's activation rows: at most 4 formats of d-wide rows at once
     * (the DeltaNet projections), or one of the other widths */
    size_t a = 4 * act_row(q->d);
    size_t w[3] = {act_row(q->H * q->Dh), act_row(q->Hv * q->Dv), act_row(q->f)};
    for (int i = 0; i < 3; i++) a = w[i] > a ? w[i] : a;
    z->act = T * a + 64;
}

static ag_status qwen35_plan(ag_model *m, const ag_context_params *cp, ag_plan *out)
{
    qwen35 q;
    memset(&q, 0, sizeof(q));
    ag_status st = load_hparams(m, &q);
    if (st == AG_OK) {
        const ag_type_traits *tk = NULL, *tv = NULL;
        st = cache_types(&q, cp, &tk, &tv);
        if (st == AG_OK) {
            qsizes z;
            qwen35_sizes(&q, cp, round_up(ag_type_row_bytes(tk, (uint64_t)q.Dh), 4),
                         round_up(ag_type_row_bytes(tv, (uint64_t)q.Dh), 4), &z);
            out->kv = z.kv;
            out->recurrent = z.rec;
            out->scratch = z.scratch + z.act;
            /* the model's own tables, and small tensors converted to f32 at load */
            out->metadata += (size_t)q.L * sizeof(layer) + (size_t)(q.n_rot / 2 + 1) * sizeof(double);
            const ag_gguf *g = m->gguf;
            static const char *const all[] = {"attn_norm.weight", "post_attention_norm.weight"};
            static const char *const rec[] = {"ssm_conv1d.weight", "ssm_dt.bias", "ssm_a", "ssm_norm.weight"};
            static const char *const att[] = {"attn_q_norm.weight", "attn_k_norm.weight"};
            char nm[160];
            out->metadata += ag_model_f32_copy_bytes(g, "output_norm.weight");
            for (int i = 0; i < q.L; i++) {
                for (int j = 0; j < 2; j++) {
                    snprintf(nm, sizeof(nm), "blk.%d.%s", i, all[j]);
                    out->metadata += ag_model_f32_copy_bytes(g, nm);
                }
                for (int j = 0; j < (q.layers[i].is_rec ? 4 : 2); j++) {
                    snprintf(nm, sizeof(nm), "blk.%d.%s", i, q.layers[i].is_rec ? rec[j] : att[j]);
                    out->metadata += ag_model_f32_copy_bytes(g, nm);
                }
            }
        }
    }
    free(q.layers);
    return st;
}

static ag_status qwen35_ctx_init(ag_context *c)
{
    const qwen35 *q = c->model->impl;
    const ag_type_traits *tk = NULL, *tv = NULL;
    TRY(cache_types(q, &c->params, &tk, &tv));
    qstate *s = calloc(1, sizeof(*s));
    if (!s) return ag_fail(AG_ERR_NOMEM, "context: out of memory");
    c->state = s;
    s->tk = tk;
    s->tv = tv;
    s->tk_id = cache_type_id(c->params.type_k);
    s->tv_id = cache_type_id(c->params.type_v);
    s->krow = round_up(ag_type_row_bytes(tk, (uint64_t)q->Dh), 4);
    s->vrow = round_up(ag_type_row_bytes(tv, (uint64_t)q->Dh), 4);
    bool ok = true;
    size_t T = (size_t)c->params.n_batch, n_ctx = (size_t)c->params.n_ctx;
    int nth = ag_pool_size(c->exec.pool);
    s->k = calloc((size_t)max_i(q->n_attn, 1), sizeof(uint8_t *));
    s->v = calloc((size_t)max_i(q->n_attn, 1), sizeof(uint8_t *));
    s->conv = calloc((size_t)max_i(q->n_rec, 1), sizeof(float *));
    s->ssm = calloc((size_t)max_i(q->n_rec, 1), sizeof(float *));
    if (!s->k || !s->v || !s->conv || !s->ssm) ok = false;
    for (int i = 0; ok && i < q->n_attn; i++) {
        s->k[i] = (uint8_t *)alloc_f(n_ctx * (size_t)q->Hkv, (s->krow + 3) / 4, &ok);
        s->v[i] = (uint8_t *)alloc_f(n_ctx * (size_t)q->Hkv, (s->vrow + 3) / 4, &ok);
    }
    for (int i = 0; ok && i < q->n_rec; i++) {
        s->conv[i] = alloc_f((size_t)max_i(q->Kc - 1, 1), (size_t)q->Cc, &ok);
        s->ssm[i] = alloc_f((size_t)q->Hv * q->Dv, (size_t)q->Dk, &ok);
    }
    s->proj_w = proj_width(q);
    s->gate_w = gate_width(q);
    if (ok) {
        s->x = alloc_f(T, (size_t)q->d, &ok);
        s->u = alloc_f(T, (size_t)q->d, &ok);
        s->tmp = s->u;
        s->mix = alloc_f(mix_floats(q, &c->params, T), 1, &ok);
        if (ok) {
            s->proj = s->mix;
            s->gate = s->proj + T * (size_t)s->proj_w;
            s->ba = s->gate + T * (size_t)s->gate_w;
            s->convhist = s->ba + T * (size_t)(2 * q->Hv);
            s->attq = attq_floats(q, &c->params, T) ? (uint8_t *)(((uintptr_t)s->ba + 63) & ~(uintptr_t)63) : NULL;
            s->ffa = s->mix;
            s->ffb = s->mix + T * (size_t)q->f;
        }
        /* attention and the chunked DeltaNet never run at once: one
         * per-thread block serves both (thread_scratch_bytes) */
        s->att_stride = thread_scratch_bytes(q, T);
        s->att = aligned_alloc(64, (size_t)nth * s->att_stride);
        if (!s->att) ok = false;
        s->dn_stride = dn_scratch_floats(q, T) ? s->att_stride / sizeof(float) : 0;
        s->dn = s->dn_stride ? (float *)s->att : NULL;
        s->rcos = alloc_f(T, (size_t)max_i(q->n_rot / 2, 1), &ok);
        s->rsin = alloc_f(T, (size_t)max_i(q->n_rot / 2, 1), &ok);
    }
    /* ag_matmul's activation scratch, sized now (it never grows later) */
    qsizes z;
    qwen35_sizes(q, &c->params, s->krow, s->vrow, &z);
    if (ok && (size_t)nth * (size_t)c->exec.wbuf_len * sizeof(float) < z.act) {
        size_t per = (z.act + (size_t)nth * sizeof(float) - 1) / ((size_t)nth * sizeof(float));
        float *w = realloc(c->exec.wbuf, per * (size_t)nth * sizeof(float));
        if (w) {
            c->exec.wbuf = w;
            c->exec.wbuf_len = (int64_t)per;
        } else {
            ok = false;
        }
    }
    if (!ok) {
        qwen35_ctx_free(c);
        return ag_fail(AG_ERR_NOMEM, "context: out of memory for n_ctx %d, n_batch %d", c->params.n_ctx,
                       c->params.n_batch);
    }
    /* scratch is resident from the start, as planned (the KV cache and the
     * recurrent state are paged in as the sequence grows) */
    memset(s->att, 0, (size_t)nth * s->att_stride);
    memset(c->exec.wbuf, 0, (size_t)nth * (size_t)c->exec.wbuf_len * sizeof(float));
    return AG_OK;
}

/* ---- forward ---- */

static void add_rows(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* NEOX-style rotation of the first n_rot dims: pair (i, i + n_rot/2). */
static void rope_apply(float *v, const float *cs, const float *sn, int n_rot)
{
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = a * sn[i] + b * cs[i];
    }
}

/* Angles for T tokens from position p0. Interleaved M-RoPE: pair i takes its
 * position from section (i mod 3) when i < 3*sect[i mod 3] (t, h, w), else
 * from the 4th component. For text, t = h = w = p and the 4th is 0. */
static void rope_tables(const qwen35 *q, qstate *s, int32_t p0, int T)
{
    int half = q->n_rot / 2;
    int sect_dims = q->sect[0] + q->sect[1] + q->sect[2] + q->sect[3];
    for (int t = 0; t < T; t++) {
        double p = (double)(p0 + t);
        for (int i = 0; i < half; i++) {
            int sector = sect_dims > 0 ? i % sect_dims : i;
            int sec = sector % 3;
            bool text_pos = sector < 3 * q->sect[sec];
            double th = text_pos ? p * q->rope_freq[i] : 0.0;
            s->rcos[t * half + i] = (float)cos(th);
            s->rsin[t * half + i] = (float)sin(th);
        }
    }
}

typedef struct {
    const qwen35 *q;
    const layer *l;
    qstate *s;
    int T;
    int32_t p0;
    int n_ctx;
    const ag_mark *mark; /* DeltaNet: the state to keep mid-step, or NULL */
} mix_job;

/* Attention, split across threads by (KV head, block of tokens) and, when
 * there are fewer such items than threads (decode: one item per KV head),
 * also by ranges of key tiles (split-K) whose partial softmax states the
 * caller merges. A block's query rows are its tokens x the query heads
 * sharing the KV head (row r = token (r / group), head kvh * group +
 * r % group), so each cached key and value is read once per block. Online
 * softmax: per row a running max mx and sum l; the output O is rescaled
 * whenever the max grows. The work units and their order depend only on
 * (T, p0, nth), never on timing, so results are reproducible. */
typedef struct att_job {
    mix_job m;
    int splits; /* key ranges per item (1: no split-K) */
    int tb;     /* tokens per block */
} att_job;

_Static_assert(ATT_TILE <= AG_PV_TILE, "pv_q8_0 takes at most AG_PV_TILE keys");

/* o = O / l gated by sigmoid of the gate rows */
static void att_store(const mix_job *j, int kvh, int t0, int rows, const float *o, const float *l)
{
    const qwen35 *q = j->q;
    const qstate *s = j->s;
    const int Dh = q->Dh, group = q->H / q->Hkv;
    for (int r = 0; r < rows; r++) {
        int t = t0 + r / group, h = kvh * group + r % group;
        const float *gv = s->proj + (size_t)t * s->proj_w + (size_t)h * 2 * Dh + Dh;
        float *out = s->y + (size_t)t * s->y_w + (size_t)h * Dh;
        float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
        for (int e = 0; e < Dh; e++) out[e] = o[(size_t)r * Dh + e] * inv * ag_sigmoid(gv[e]);
    }
}

/* item it's rows over key tiles [tile0, tile1) into base's o, mx, l */
static void att_item(const att_job *aj, uint8_t *base, const att_layout *L, int it, int tile0, int tile1)
{
    const mix_job *j = &aj->m;
    const qwen35 *q = j->q;
    const qstate *s = j->s;
    const ag_kernel_level *kl = ag_kernels();
    const ag_kernel *kk = &kl->k[s->tk_id];
    const ag_to_float_fn v_to_f32 = kl->k[s->tv_id].to_f32;
    const int Dh = q->Dh, group = q->H / q->Hkv, tb = aj->tb;
    const bool vq8 = s->tv_id == AG_TYPE_Q8_0 && kl->pv_q8_0, vf16 = s->tv_id == AG_TYPE_F16 && kl->pv_f16;
    const ag_gemm_fn qk = s->tk_id == AG_TYPE_F16 && kl->qk_f16 ? kl->qk_f16 : kk->gemm;
    /* the transposing int8 QK pays for its transpose from 8 query rows on
     * (test_attn_ops --bench: 0.8x the gemm at 4 rows, 1.4x at 8, 3.7x at 64) */
    const bool kq8 = s->tk_id == AG_TYPE_Q8_0 && kl->qk_q8_0;

    size_t arow = kk->quant ? round_up((size_t)Dh / kk->act_block * kk->act_bytes, 64) : 0;
    float *qf = (float *)(base + L->qf), *sc = (float *)(base + L->sc), *vf = (float *)(base + L->vbuf);
    float *o = (float *)(base + L->o), *mx = (float *)(base + L->mx), *l = (float *)(base + L->l);
    uint8_t *qa = base + L->qa;

    int kvh = it % q->Hkv, blk = it / q->Hkv;
    int t0 = blk * tb, t1 = t0 + tb < j->T ? t0 + tb : j->T, rows = (t1 - t0) * group;
    const uint8_t *K = s->k[j->l->slot] + (size_t)kvh * j->n_ctx * s->krow;
    const uint8_t *V = s->v[j->l->slot] + (size_t)kvh * j->n_ctx * s->vrow;
    for (int r = 0; r < rows; r++) {
        int t = t0 + r / group, h = kvh * group + r % group;
        const float *qv = s->proj + (size_t)t * s->proj_w + (size_t)h * 2 * Dh;
        float *qr = qf + (size_t)r * Dh;
        for (int e = 0; e < Dh; e++) qr[e] = qv[e] * q->attn_scale;
        if (kk->quant) kk->quant(qr, qa + (size_t)r * arow, Dh);
        mx[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, (size_t)rows * Dh * sizeof(float));
    const void *act = kk->quant ? (const void *)qa : (const void *)qf;
    size_t act_stride = kk->quant ? arow : (size_t)Dh * 4;
    int n_keys = j->p0 + t1; /* keys the block's last token sees */
    int k_end = tile1 * ATT_TILE < n_keys ? tile1 * ATT_TILE : n_keys;
    for (int k0 = tile0 * ATT_TILE; k0 < k_end; k0 += ATT_TILE) {
        int nk = k_end - k0 < ATT_TILE ? k_end - k0 : ATT_TILE;
        if (kq8 && rows >= 8) kl->qk_q8_0(Dh, K + (size_t)k0 * s->krow, s->krow, act, act_stride, sc, ATT_TILE, nk, rows, vf);
        else qk(Dh, K + (size_t)k0 * s->krow, s->krow, act, act_stride, sc, ATT_TILE, nk, rows);
        kl->softmax_rows(sc, ATT_TILE, rows, group, nk, j->p0 + t0 + 1 - k0, mx, l, o, (size_t)Dh, Dh);
        const uint8_t *Vt = V + (size_t)k0 * s->vrow;
        if (vq8) {
            kl->pv_q8_0(o, (size_t)Dh, sc, ATT_TILE, Vt, s->vrow, rows, nk, Dh, vf);
        } else if (vf16) {
            kl->pv_f16(o, (size_t)Dh, sc, ATT_TILE, Vt, s->vrow, rows, nk, Dh);
        } else {
            for (int k = 0; k < nk; k++) v_to_f32(Vt + (size_t)k * s->vrow, vf + (size_t)k * Dh, Dh);
            kl->pv_f32(o, (size_t)Dh, sc, ATT_TILE, vf, (size_t)Dh, rows, nk, Dh);
        }
    }
}

static void attn_worker(void *arg, int ith, int nth)
{
    const att_job *aj = arg;
    const mix_job *j = &aj->m;
    const qwen35 *q = j->q;
    const int group = q->H / q->Hkv, tb = aj->tb;
    const int n_blocks = (j->T + tb - 1) / tb, n_items = n_blocks * q->Hkv;
    const att_layout L = att_layout_of(group, q->Dh);
    uint8_t *base = j->s->att + (size_t)ith * j->s->att_stride;

    if (aj->splits > 1) { /* unit ith: item ith / splits, its key range ith % splits */
        int it = ith / aj->splits, part = ith % aj->splits;
        if (it >= n_items) return;
        int t1 = (it / q->Hkv + 1) * tb < j->T ? (it / q->Hkv + 1) * tb : j->T;
        int n_tiles = (j->p0 + t1 + ATT_TILE - 1) / ATT_TILE;
        att_item(aj, base, &L, it, n_tiles * part / aj->splits, n_tiles * (part + 1) / aj->splits);
        return;
    }
    for (int it = ith; it < n_items; it += nth) {
        att_item(aj, base, &L, it, 0, INT_MAX / ATT_TILE);
        att_store(j, it % q->Hkv, it / q->Hkv * tb, ((it / q->Hkv + 1) * tb < j->T ? tb : j->T - it / q->Hkv * tb) * group,
                  (const float *)(base + L.o), (const float *)(base + L.l));
    }
}

/* Merges the split-K partial states of each item (units it * splits + part
 * in thread scratch it * splits + part) and stores the outputs. */
static void att_merge(const att_job *aj, int n_items)
{
    const mix_job *j = &aj->m;
    const qwen35 *q = j->q;
    const int Dh = q->Dh, group = q->H / q->Hkv, tb = aj->tb;
    const att_layout L = att_layout_of(group, Dh);
    for (int it = 0; it < n_items; it++) {
        int t0 = it / q->Hkv * tb, rows = ((t0 + tb < j->T ? t0 + tb : j->T) - t0) * group;
        uint8_t *b0 = j->s->att + (size_t)(it * aj->splits) * j->s->att_stride;
        float *o = (float *)(b0 + L.o), *mx = (float *)(b0 + L.mx), *l = (float *)(b0 + L.l);
        for (int part = 1; part < aj->splits; part++) {
            const uint8_t *bp = j->s->att + (size_t)(it * aj->splits + part) * j->s->att_stride;
            const float *op = (const float *)(bp + L.o), *mp = (const float *)(bp + L.mx), *lp = (const float *)(bp + L.l);
            for (int r = 0; r < rows; r++) {
                if (!(mp[r] > -INFINITY)) continue; /* this range had no key for the row */
                float m = mx[r] > mp[r] ? mx[r] : mp[r];
                float a = mx[r] > -INFINITY ? expf(mx[r] - m) : 0.0f, b = expf(mp[r] - m);
                l[r] = l[r] * a + lp[r] * b;
                for (int e = 0; e < Dh; e++) o[(size_t)r * Dh + e] = o[(size_t)r * Dh + e] * a + op[(size_t)r * Dh + e] * b;
                mx[r] = m;
            }
        }
        att_store(j, it % q->Hkv, t0, rows, o, l);
    }
}

/* Reads a tile of cache rows once, in address order, before it is coded.
 * The coders read it in their own order (keys_i16: 16 rows at a time, one
 * 64-byte block of each; values_i16: a column of every row), which the
 * hardware prefetchers follow badly when the rows come from DRAM (the cache
 * outgrows L3 at long contexts): coding a 64-key tile's keys and values
 * (Dh 256, 8k keys x 12 heads streamed cold) took ~5 us, against 1.7 us
 * with the tile in cache and 1.6 us to stream its 64 KiB in order; read
 * first in order, ~3.2 us. Software prefetches of the next tile during the
 * current one's last call (the previous scheme) recovered less: fetched
 * earlier, the rows' own traffic evicted them again. */
static void stream_tile(const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    for (size_t off = 0; off < len; off += 64) {
        uint64_t v;
        memcpy(&v, p + off, sizeof(v));
        acc += v;
    }
    __asm__ volatile("" : : "r"(acc)); /* keeps the loads */
}

/* The int16 path (f16 cache, prefill): work items are (KV head, chunk of
 * token blocks; chunk c holds blocks c, c + nch, ...). An item codes its
 * query rows into attq, then walks the keys once, ATT_SPAN tiles at a
 * time: each tile is coded once and serves every block and every head of
 * the GQA group, in runs of ATT_RUN rows of one head (tokens of a block)
 * that go through the span's tiles one after the other (ATT_SPAN above).
 * The outputs O accumulate head-major in gate (row h * T + t), the running
 * max and sum of all the item's rows in thread scratch; gated at the end,
 * then put in token order by att16_out. Order and units depend only on
 * (T, p0, nth). */
typedef struct att16_job {
    mix_job m;
    int tb, n_blocks, nch; /* tokens per block, blocks, chunks per KV head */
} att16_job;

static void att16_worker(void *arg, int ith, int nth)
{
    const att16_job *aj = arg;
    const mix_job *j = &aj->m;
    const qwen35 *q = j->q;
    const qstate *s = j->s;
    const ag_kernel_level *kl = ag_kernels();
    const int Dh = q->Dh, group = q->H / q->Hkv, T = j->T, tb = aj->tb;
    const att16_layout L = att16_layout_of(group, Dh, (size_t)T);
    uint8_t *base = s->att + (size_t)ith * s->att_stride;
    float *qf = (float *)(base + L.qf), *sc = (float *)(base + L.sc);
    float *mx = (float *)(base + L.mx), *l = mx + (size_t)T * group; /* row (head hi, token t): hi * T + t */
    uint8_t *kt = base + L.kt, *vt = base + L.vt;
    const size_t qr = att_q_row(Dh);
#define Q_ROW(t, h) (s->proj + (size_t)(t) * s->proj_w + (size_t)(h) * 2 * Dh)
#define Q_CODES(t, h) (s->attq + ((size_t)(h) * T + (size_t)(t)) * qr)
#define O_ROW(t, h) (s->gate + ((size_t)(h) * T + (size_t)(t)) * Dh)
    for (int it = ith; it < q->Hkv * aj->nch; it += nth) {
        const int kvh = it % q->Hkv, ch = it / q->Hkv;
        int t_end = 0;
        for (int b = ch; b < aj->n_blocks; b += aj->nch) {
            const int t0 = b * tb, t1 = t0 + tb < T ? t0 + tb : T;
            for (int hi = 0; hi < group; hi++)
                for (int t = t0; t < t1; t++) {
                    float *qv = Q_ROW(t, kvh * group + hi);
                    for (int e = 0; e < Dh; e++) qf[e] = qv[e] * q->attn_scale;
                    kl->quant_i16(qf, Q_CODES(t, kvh * group + hi), Dh);
                    memset(O_ROW(t, kvh * group + hi), 0, (size_t)Dh * sizeof(float));
                    mx[hi * T + t] = -INFINITY;
                    l[hi * T + t] = 0;
                }
            t_end = t1;
        }
        const uint8_t *K = s->k[j->l->slot] + (size_t)kvh * j->n_ctx * s->krow;
        const uint8_t *V = s->v[j->l->slot] + (size_t)kvh * j->n_ctx * s->vrow;
        const int n_keys = j->p0 + t_end; /* keys the item's last token sees */
        for (int ks = 0; ks < n_keys; ks += ATT_SPAN * ATT_TILE) {
            const int ke = n_keys - ks < ATT_SPAN * ATT_TILE ? n_keys : ks + ATT_SPAN * ATT_TILE;
            for (int k0 = ks; k0 < ke; k0 += ATT_TILE) {
                const int nk = ke - k0 < ATT_TILE ? ke - k0 : ATT_TILE;
                const size_t ci = (size_t)(k0 - ks) / ATT_TILE * L.ct;
                stream_tile(K + (size_t)k0 * s->krow, (size_t)nk * s->krow);
                kl->keys_i16(Dh, K + (size_t)k0 * s->krow, s->krow, nk, kt + ci);
                stream_tile(V + (size_t)k0 * s->vrow, (size_t)nk * s->vrow);
                kl->values_i16(Dh, V + (size_t)k0 * s->vrow, s->vrow, nk, vt + ci);
            }
            for (int b = ch; b < aj->n_blocks; b += aj->nch) {
                const int tb0 = b * tb, tb1 = tb0 + tb < T ? tb0 + tb : T;
                for (int hi = 0; hi < group; hi++)
                    for (int t0 = tb0; t0 < tb1; t0 += ATT_RUN) {
                        const int t1 = t0 + ATT_RUN < tb1 ? t0 + ATT_RUN : tb1, h = kvh * group + hi;
                        if (ks >= j->p0 + t1) continue; /* no token of the run sees the span */
                        const uint8_t *qb = Q_CODES(t0, h);
                        float *ob = O_ROW(t0, h);
                        /* tiles no token of the run sees end it */
                        for (int k0 = ks; k0 < ke && k0 < j->p0 + t1; k0 += ATT_TILE) {
                            const int nk = ke - k0 < ATT_TILE ? ke - k0 : ATT_TILE;
                            const size_t ci = (size_t)(k0 - ks) / ATT_TILE * L.ct;
                            kl->qk_i16(Dh, kt + ci, qb, qr, sc, ATT_TILE, nk, t1 - t0);
                            kl->softmax_rows(sc, ATT_TILE, t1 - t0, 1, nk, j->p0 + t0 + 1 - k0, mx + hi * T + t0,
                                             l + hi * T + t0, ob, (size_t)Dh, Dh);
                            kl->pv_i16(ob, (size_t)Dh, sc, ATT_TILE, vt + ci, t1 - t0, nk, Dh);
                        }
                    }
            }
        }
        for (int b = ch; b < aj->n_blocks; b += aj->nch) /* O / l gated by sigmoid of the gate rows */
            for (int hi = 0; hi < group; hi++)
                for (int t = b * tb; t < (b + 1) * tb && t < T; t++) {
                    const int h = kvh * group + hi;
                    const float *gv = Q_ROW(t, h) + Dh, li = l[hi * T + t];
                    float *out = O_ROW(t, h), inv = li > 0 ? 1.0f / li : 0.0f;
                    for (int e = 0; e < Dh; e++) out[e] = out[e] * inv * ag_sigmoid(gv[e]);
                }
    }
#undef Q_ROW
#undef Q_CODES
#undef O_ROW
}

/* att16_worker's outputs (head-major in gate) into the out-proj's rows:
 * y = proj, whose every value is dead by then (the gates included) */
static void att16_out(void *arg, int ith, int nth)
{
    const mix_job *j = arg;
    const qwen35 *q = j->q;
    const qstate *s = j->s;
    const size_t Dh = (size_t)q->Dh;
    for (int t = ith; t < j->T; t += nth)
        for (int h = 0; h < q->H; h++)
            memcpy(s->proj + (size_t)t * s->proj_w + h * Dh, s->gate + ((size_t)h * j->T + t) * Dh, Dh * sizeof(float));
}

static void attention(ag_context *c, const layer *l, int T, int32_t p0)
{
    const qwen35 *q = c->model->impl;
    qstate *s = c->state;
    int Dh = q->Dh, qw = 2 * q->H * Dh, kw = q->Hkv * Dh, half = q->n_rot / 2;
    s->y = s->gate; /* the output rows: gate is the DeltaNet's z, unused here */
    s->y_w = s->gate_w;
    if (l->fused_qkv) {
        ag_matmul(&c->exec, &l->wq, s->u, q->d, T, s->proj, s->proj_w);
    } else {
        /* one activation conversion and one pool wake-up for all three */
        const ag_weight *w3[3] = {&l->wq, &l->wk, &l->wv};
        float *y3[3] = {s->proj, s->proj + qw, s->proj + qw + kw};
        const int64_t ld3[3] = {s->proj_w, s->proj_w, s->proj_w};
        ag_matmul_multi(&c->exec, 3, w3, s->u, q->d, T, y3, ld3);
    }
    size_t n_ctx = (size_t)c->params.n_ctx;
    uint8_t *K = s->k[l->slot], *V = s->v[l->slot];
    for (int t = 0; t < T; t++) {
        float *row = s->proj + (size_t)t * s->proj_w;
        const float *cs = s->rcos + (size_t)t * half, *sn = s->rsin + (size_t)t * half;
        for (int h = 0; h < q->H; h++) {
            float *qv = row + (size_t)h * 2 * Dh;
            ag_rmsnorm(qv, qv, l->q_norm, Dh, q->eps);
            rope_apply(qv, cs, sn, q->n_rot);
        }
        size_t pos = (size_t)(p0 + t);
        for (int j = 0; j < q->Hkv; j++) {
            float *kv = row + qw + (size_t)j * Dh, *vv = row + qw + kw + (size_t)j * Dh;
            ag_rmsnorm(kv, kv, l->k_norm, Dh, q->eps);
            rope_apply(kv, cs, sn, q->n_rot);
            s->tk->from_float(kv, K + ((size_t)j * n_ctx + pos) * s->krow, Dh);
            s->tv->from_float(vv, V + ((size_t)j * n_ctx + pos) * s->vrow, Dh);
        }
    }
    const ag_kernel_level *kl = ag_kernels();
    const int group = q->H / q->Hkv, nth = ag_pool_size(c->exec.pool);
    /* attq: there is one for an f16 cache (K and V) and batches this long */
    if (s->attq && kl->keys_i16 && kl->qk_i16 && kl->values_i16 && kl->pv_i16 && att_i16_shape(group, Dh, (size_t)T)) {
        /* blocks of at most ATT_ROWS_I16 tokens, as even as the tokens
         * allow; chunks of blocks when KV heads alone leave threads idle */
        int nch = (nth + q->Hkv - 1) / q->Hkv, n_blocks = (T + ATT_ROWS_I16 - 1) / ATT_ROWS_I16;
        if (n_blocks < nch) n_blocks = nch < T / 8 ? nch : max_i(T / 8, 1); /* blocks of 8 tokens or more */
        int tb = (T + n_blocks - 1) / n_blocks;
        n_blocks = (T + tb - 1) / tb;
        att16_job j = {{q, l, s, T, p0, c->params.n_ctx, NULL}, tb, n_blocks, nch < n_blocks ? nch : n_blocks};
        ag_pool_run(c->exec.pool, att16_worker, &j);
        s->y = s->proj;
        s->y_w = s->proj_w;
        ag_pool_run(c->exec.pool, att16_out, &j.m);
    } else {
        /* split-K when the (KV head, token block) items leave threads idle
         * and every range gets at least 2 tiles of keys */
        int tb = att_rows(group) / group;
        int n_items = (T + tb - 1) / tb * q->Hkv, splits = n_items < nth ? nth / n_items : 1;
        int min_tiles = (p0 + 1 + ATT_TILE - 1) / ATT_TILE;
        while (splits > 1 && min_tiles < 2 * splits) splits--;
        att_job j = {{q, l, s, T, p0, c->params.n_ctx, NULL}, splits, tb};
        ag_pool_run(c->exec.pool, attn_worker, &j);
        if (splits > 1) att_merge(&j, n_items);
    }
    ag_matmul(&c->exec, &l->wo, s->y, s->y_w, T, s->tmp, q->d);
}

static void l2norm(float *v, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    float r = (float)(1.0 / sqrt(ss + (double)eps));
    for (int i = 0; i < n; i++) v[i] *= r;
}

/* Causal depthwise conv over seq = [state (Kc-1 rows) | this batch], then
 * SiLU, for channels [c0, c1), in place: output t goes to proj row t (seq
 * row t+hist), and runs from the last token down, so no later output reads
 * an overwritten row. Channels are independent, so threads may run disjoint
 * ranges at once. One token (decode) takes a shorter path: each state value
 * is read once, used, and shifted down a row, with no copy of the state. */
static void conv_channels(const qwen35 *q, const layer *l, qstate *s, int T, int c0, int c1, int at, float *cap)
{
    int Cc = q->Cc, Kc = q->Kc, hist = Kc - 1;
    float *old = s->convhist, *cst = s->conv[l->slot];
    size_t nb = (size_t)(c1 - c0) * sizeof(float);
    if (T == 1) {
        enum { BLK = 64 };
        float acc[BLK];
        float *x = s->proj;
        for (int b0 = c0; b0 < c1; b0 += BLK) {
            const int n = c1 - b0 < BLK ? c1 - b0 : BLK;
            const float *w = l->conv_w + (size_t)b0 * Kc;
            for (int c = 0; c < n; c++) acc[c] = 0; /* the taps in the batch path's order */
            for (int k = 0; k < hist; k++) {
                float *row = cst + (size_t)k * Cc + b0;
                const float *next = k + 1 < hist ? cst + (size_t)(k + 1) * Cc + b0 : x + b0;
                for (int c = 0; c < n; c++) {
                    acc[c] += w[(size_t)c * Kc + k] * row[c];
                    row[c] = next[c];
                }
            }
            for (int c = 0; c < n; c++) acc[c] += w[(size_t)c * Kc + hist] * x[b0 + c];
            ag_kernels()->silu_mul(x + b0, acc, NULL, n);
        }
        return;
    }
    for (int r = 0; r < hist; r++) memcpy(old + (size_t)r * Cc + c0, cst + (size_t)r * Cc + c0, nb);
#define SEQ_ROW(r) ((r) < hist ? old + (size_t)(r) * Cc : s->proj + (size_t)((r) - hist) * s->proj_w)
    for (int r = 0; r < hist; r++) memcpy(cst + (size_t)r * Cc + c0, SEQ_ROW(T + r) + c0, nb);
    if (cap) /* the state after the first at tokens (ag_mark), before the outputs overwrite the inputs */
        for (int r = 0; r < hist; r++) memcpy(cap + (size_t)r * Cc + c0, SEQ_ROW(at + r) + c0, nb);
    /* taps outermost over blocks of CONV_BLK channels, so the inner loops
     * run along the channels (vectorizable); the block's sums wait in acc
     * because out is also the last tap's input */
    enum { CONV_BLK = 64 };
    float acc[CONV_BLK];
    void (*const silu)(float *, const float *, const float *, int64_t) = ag_kernels()->silu_mul;
    for (int t = T - 1; t >= 0; t--) {
        const float *rows[64]; /* Kc <= 64 (load_hparams) */
        for (int k = 0; k < Kc; k++) rows[k] = SEQ_ROW(t + k);
        float *out = s->proj + (size_t)t * s->proj_w;
        for (int b0 = c0; b0 < c1; b0 += CONV_BLK) {
            const int nb = c1 - b0 < CONV_BLK ? c1 - b0 : CONV_BLK;
            const float *w = l->conv_w + (size_t)b0 * Kc;
            for (int c = 0; c < nb; c++) acc[c] = 0;
            for (int k = 0; k < Kc; k++) {
                const float *x = rows[k] + b0;
                for (int c = 0; c < nb; c++) acc[c] += w[(size_t)c * Kc + k] * x[c];
            }
            silu(out + b0, acc, NULL, nb);
        }
    }
#undef SEQ_ROW
}

/* dst (cols x rows, row stride ldd) = src (rows x cols, row stride lds)
 * transposed, in 16 x 16 blocks: each block's 16 source and 16 destination
 * rows stay in L1 while it is copied. */
static void transpose_f32(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols)
{
    enum { B = 16 };
    for (int r0 = 0; r0 < rows; r0 += B)
        for (int c0 = 0; c0 < cols; c0 += B) {
            const int r1 = r0 + B < rows ? r0 + B : rows, c1 = c0 + B < cols ? c0 + B : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
        }
}

/* C tokens (t0 ...) of value head h (key head kh) in the chunked form of
 * docs/qwen35-spec.md 3.6, the same math as C delta_step calls up to
 * rounding. With Gamma_r the cumulative log-decay inside the chunk and S the
 * state before it (S[i][j], i key, j value; stored transposed, row j = S[.][j]):
 *   A[r][s] = beta_r (k_r . k_s) e^(G_r - G_s)   (s < r)
 *   U = (I + A)^-1 diag(beta) V,  W = (I + A)^-1 diag(beta e^G) K
 *       (forward substitution, row by row)
 *   Unew = U - W S
 *   o_r = e^G_r S^T q_r + sum_{s <= r} (q_r . k_s) e^(G_r - G_s) Unew_s
 *   S <- e^G_last S + sum_s e^(G_last - G_s) k_s Unew_s^T
 * Every exponent is <= 0, so nothing overflows. The products are small
 * row-major GEMMs through the kernel table's pv_f32 (y += p v) on Sm, S
 * itself (Dk x Dv, row i = key i), which the caller transposes in from the
 * stored layout before a call's first chunk and back out after its last
 * (transpose_f32); each chunk reads and updates Sm. The outputs go to s->y
 * unscaled (the caller applies 1/sqrt(Dk) and the gated norm).
 * Rejected: per-token dot products for the Gram matrices (one horizontal sum
 * per entry costs as much as the rest); transposing the state in and out
 * for every chunk, element by element as it was: a strided scalar copy of
 * 64 KiB per head that, with the state cold in DRAM (a long attention
 * cache streamed through L3 in between), took most of the DeltaNet's time
 * (perf, 67-token turn after 8k keys: delta_worker 32 ms CPU against 19
 * after 1k, ~75% of it in that loop; now 12 at both). */
static void delta_chunk(const mix_job *j, int h, int kh, int t0, int C, float *Sm, float *scr)
{
    const qwen35 *q = j->q;
    const layer *l = j->l;
    qstate *s = j->s;
    const ag_kernel_level *kl = ag_kernels();
    const int Dk = q->Dk, Dv = q->Dv, qk = q->Hk * Dk, NC = DN_CHUNK;
    const size_t ld = (size_t)s->proj_w, ldo = (size_t)s->y_w;
    float *A = scr, *P = A + NC * NC, *U = P + NC * NC, *Kt = U + (size_t)NC * Dv;
    float *Wn = Kt + (size_t)NC * Dk, *G = Wn + (size_t)NC * Dk, *eG = G + NC, *B = eG + NC;
    const float *Q0 = s->proj + (size_t)t0 * ld + (size_t)kh * Dk, *K0 = Q0 + qk;
    const float *V0 = s->proj + (size_t)t0 * ld + 2 * qk + (size_t)h * Dv;
    float *O0 = s->y + (size_t)t0 * ldo + (size_t)h * Dv;

    float acc = 0;
    for (int r = 0; r < C; r++) {
        const float *ba = s->ba + (size_t)(t0 + r) * 2 * q->Hv;
        B[r] = ag_sigmoid(ba[h]);
        acc += l->ssm_a[h] * ag_softplus(ba[q->Hv + h] + l->dt_bias[h]);
        G[r] = acc;
        eG[r] = expf(acc);
    }
    /* Gram matrices K K^T and Q K^T (C x C, row stride C) */
    transpose_f32(Kt, (size_t)C, K0, ld, C, Dk);
    memset(A, 0, (size_t)C * C * sizeof(float));
    memset(P, 0, (size_t)C * C * sizeof(float));
    kl->pv_f32(A, (size_t)C, K0, ld, Kt, (size_t)C, C, Dk, C);
    kl->pv_f32(P, (size_t)C, Q0, ld, Kt, (size_t)C, C, Dk, C);
    /* A negated (the substitution adds), both with their decays and masks */
    for (int r = 0; r < C; r++)
        for (int c = 0; c < C; c++) {
            const float e = c <= r ? expf(G[r] - G[c]) : 0.0f;
            A[r * C + c] = c < r ? -B[r] * A[r * C + c] * e : 0.0f;
            P[r * C + c] *= e;
        }
    /* U and -W by forward substitution: row r = its own term + sum_{c<r} -A[r][c] row c */
    for (int r = 0; r < C; r++) {
        float *u = U + (size_t)r * Dv, *w = Wn + (size_t)r * Dk;
        const float *v = V0 + (size_t)r * ld, *k = K0 + (size_t)r * ld;
        const float bw = -B[r] * eG[r];
        for (int i = 0; i < Dv; i++) u[i] = B[r] * v[i];
        for (int i = 0; i < Dk; i++) w[i] = bw * k[i];
        if (r) {
            kl->pv_f32(u, (size_t)Dv, A + (size_t)r * C, (size_t)C, U, (size_t)Dv, 1, r, Dv);
            kl->pv_f32(w, (size_t)Dk, A + (size_t)r * C, (size_t)C, Wn, (size_t)Dk, 1, r, Dk);
        }
    }
    kl->pv_f32(U, (size_t)Dv, Wn, (size_t)Dk, Sm, (size_t)Dv, C, Dk, Dv); /* U = Unew */
    /* outputs: e^G_r (q_r S) + P Unew */
    for (int r = 0; r < C; r++) memset(O0 + (size_t)r * ldo, 0, (size_t)Dv * sizeof(float));
    kl->pv_f32(O0, ldo, Q0, ld, Sm, (size_t)Dv, C, Dk, Dv);
    for (int r = 0; r < C; r++)
        for (int i = 0; i < Dv; i++) O0[(size_t)r * ldo + i] *= eG[r];
    kl->pv_f32(O0, ldo, P, (size_t)C, U, (size_t)Dv, C, C, Dv);
    /* state: e^G_last S + K^T (decayed Unew) */
    const float eL = eG[C - 1];
    for (int c = 0; c < C; c++) {
        const float e = expf(G[C - 1] - G[c]);
        for (int jv = 0; jv < Dv; jv++) U[(size_t)c * Dv + jv] *= e;
    }
    for (size_t i = 0; i < (size_t)Dk * Dv; i++) Sm[i] *= eL;
    kl->pv_f32(Sm, (size_t)Dv, Kt, (size_t)C, U, (size_t)Dv, Dk, C, Dv);
}

/* The DeltaNet mixer after the input projections, split across threads by
 * key head kh: the conv of kh's q and k channels and of the v channels of
 * the value heads that read kh (h mod Hk == kh: GGUF stores v heads tiled),
 * the L2 norms of q and k, then those heads' recurrence, token by token
 * (delta_step: one fused pass over the state per token and head), and the
 * gated RMSNorm. One pool dispatch per layer for all of it. */
static void delta_worker(void *arg, int ith, int nth)
{
    const mix_job *j = arg;
    const qwen35 *q = j->q;
    const layer *l = j->l;
    qstate *s = j->s;
    int Dk = q->Dk, Dv = q->Dv, qk = q->Hk * Dk;
    float scale = 1.0f / sqrtf((float)Dk);
    const ag_kernel_level *kl = ag_kernels();
    /* ag_mark: this layer's conv and recurrent state after token at - 1, at
     * their place among the snapshot's segments (qwen35_state_segs' order) */
    const int at = j->mark ? j->mark->at : j->T;
    const size_t conv_n = conv_state_floats(q), ssm_n = ssm_state_floats(q);
    float *cap_conv = j->mark ? (float *)j->mark->rec + (size_t)l->slot * (conv_n + ssm_n) : NULL;
    float *cap_ssm = cap_conv ? cap_conv + conv_n : NULL;
    for (int kh = ith; kh < q->Hk; kh += nth) {
        conv_channels(q, l, s, j->T, kh * Dk, (kh + 1) * Dk, at, cap_conv);
        conv_channels(q, l, s, j->T, qk + kh * Dk, qk + (kh + 1) * Dk, at, cap_conv);
        for (int h = kh; h < q->Hv; h += q->Hk)
            conv_channels(q, l, s, j->T, 2 * qk + h * Dv, 2 * qk + (h + 1) * Dv, at, cap_conv);
        for (int t = 0; t < j->T; t++) {
            float *row = s->proj + (size_t)t * s->proj_w;
            l2norm(row + (size_t)kh * Dk, Dk, q->eps);
            l2norm(row + qk + (size_t)kh * Dk, Dk, q->eps);
        }
        for (int h = kh; h < q->Hv; h += q->Hk) {
            float *S = s->ssm[l->slot] + (size_t)h * Dv * Dk;
            if (j->T >= DN_CHUNK_MIN && s->dn) {
                float *Sm = s->dn + (size_t)ith * s->dn_stride, *scr = Sm + (size_t)Dk * Dv;
                transpose_f32(Sm, (size_t)Dv, S, (size_t)Dk, Dv, Dk);
                /* chunks end at the mark (at == T: no mark), where the state is kept */
                for (int t0 = 0, C; t0 < j->T; t0 += C) {
                    const int end = t0 < at ? at : j->T;
                    C = end - t0 < DN_CHUNK ? end - t0 : DN_CHUNK;
                    delta_chunk(j, h, kh, t0, C, Sm, scr);
                    if (cap_ssm && t0 + C == at)
                        transpose_f32(cap_ssm + (size_t)h * Dv * Dk, (size_t)Dk, Sm, (size_t)Dv, Dk, Dv);
                }
                transpose_f32(S, (size_t)Dk, Sm, (size_t)Dv, Dk, Dv);
                for (int t = 0; t < j->T; t++) {
                    float *o = s->y + (size_t)t * s->y_w + (size_t)h * Dv;
                    const float *z = s->gate + (size_t)t * s->gate_w + (size_t)h * Dv;
                    for (int jv = 0; jv < Dv; jv++) o[jv] *= scale;
                    ag_rmsnorm(o, o, l->ssm_norm, Dv, q->eps);
                    kl->silu_mul(o, z, o, Dv);
                }
                continue;
            }
            for (int t = 0; t < j->T; t++) {
                const float *row = s->proj + (size_t)t * s->proj_w;
                const float *qv = row + (size_t)kh * Dk, *kv = row + qk + (size_t)kh * Dk;
                const float *vv = row + 2 * qk + (size_t)h * Dv;
                float beta = ag_sigmoid(s->ba[(size_t)t * 2 * q->Hv + h]);
                float g = l->ssm_a[h] * ag_softplus(s->ba[(size_t)t * 2 * q->Hv + q->Hv + h] + l->dt_bias[h]);
                float *o = s->y + (size_t)t * s->y_w + (size_t)h * Dv;
                /* decay, retrieve, delta write, read-out; (e^g S) k = e^g (S k) */
                kl->delta_step(S, Dv, Dk, kv, qv, vv, expf(g), beta, o);
                if (cap_ssm && t == at - 1) memcpy(cap_ssm + (size_t)h * Dv * Dk, S, (size_t)Dv * Dk * sizeof(float));
                /* gated RMSNorm: norm(o / sqrt(Dk)) * w * SiLU(z) */
                const float *z = s->gate + (size_t)t * s->gate_w + (size_t)h * Dv;
                for (int jv = 0; jv < Dv; jv++) o[jv] *= scale;
                ag_rmsnorm(o, o, l->ssm_norm, Dv, q->eps);
                kl->silu_mul(o, z, o, Dv);
            }
        }
    }
}

static void deltanet(ag_context *c, const layer *l, int T, const ag_mark *mark)
{
    const qwen35 *q = c->model->impl;
    qstate *s = c->state;
    const ag_weight *w4[4] = {&l->w_qkv, &l->w_z, &l->w_beta, &l->w_alpha};
    float *y4[4] = {s->proj, s->gate, s->ba, s->ba + q->Hv};
    const int64_t ld4[4] = {s->proj_w, s->gate_w, 2 * q->Hv, 2 * q->Hv};
    ag_matmul_multi(&c->exec, 4, w4, s->u, q->d, T, y4, ld4);
    s->y = s->proj + 2 * (size_t)q->Hk * q->Dk; /* each head's output over its v rows */
    s->y_w = s->proj_w;
    mix_job j = {q, l, s, T, 0, c->params.n_ctx, mark};
    ag_pool_run(c->exec.pool, delta_worker, &j);
    ag_matmul(&c->exec, &l->w_out, s->y, s->y_w, T, s->tmp, q->d);
}

static ag_status qwen35_forward(ag_context *c, const int32_t *tokens, int32_t T, float *logits, bool all,
                                const ag_mark *mark)
{
    const qwen35 *q = c->model->impl;
    qstate *s = c->state;
    int d = q->d;
    int32_t p0 = c->n_past;
    for (int t = 0; t < T; t++)
        q->tok_embd.tt->to_float((const uint8_t *)q->tok_embd.data + (uint64_t)tokens[t] * q->tok_embd.row_bytes,
                                 s->x + (size_t)t * d, d);
    rope_tables(q, s, p0, T);
    for (int il = 0; il < q->L; il++) {
        const layer *l = &q->layers[il];
        for (int t = 0; t < T; t++) ag_rmsnorm(s->u + (size_t)t * d, s->x + (size_t)t * d, l->attn_norm, d, q->eps);
        if (l->is_rec)
            deltanet(c, l, T, mark);
        else
            attention(c, l, T, p0);
        add_rows(s->x, s->tmp, (size_t)T * d);

        for (int t = 0; t < T; t++) ag_rmsnorm(s->u + (size_t)t * d, s->x + (size_t)t * d, l->post_norm, d, q->eps);
        const ag_weight *w2[2] = {&l->ffn_gate, &l->ffn_up};
        float *y2[2] = {s->ffa, s->ffb};
        const int64_t ld2[2] = {q->f, q->f};
        ag_matmul_multi(&c->exec, 2, w2, s->u, d, T, y2, ld2);
        ag_kernels()->silu_mul(s->ffa, s->ffa, s->ffb, (int64_t)T * q->f);
        ag_matmul(&c->exec, &l->ffn_down, s->ffa, q->f, T, s->tmp, d);
        add_rows(s->x, s->tmp, (size_t)T * d);
    }
    if (logits && mark && !all) { /* rows at - 1 and T - 1: one pass over the output weights */
        ag_rmsnorm(s->u, s->x + (size_t)(mark->at - 1) * d, q->output_norm, d, q->eps);
        ag_rmsnorm(s->u + d, s->x + (size_t)(T - 1) * d, q->output_norm, d, q->eps);
        ag_matmul(&c->exec, &q->output, s->u, d, 2, logits, q->n_vocab);
    } else if (logits) {
        int first = all ? 0 : T - 1, rows = T - first;
        for (int t = first; t < T; t++)
            ag_rmsnorm(s->u + (size_t)t * d, s->x + (size_t)t * d, q->output_norm, d, q->eps);
        ag_matmul(&c->exec, &q->output, s->u + (size_t)first * d, d, rows, logits, q->n_vocab);
    }
    return AG_OK;
}

static int qwen35_state_segs(ag_context *c, ag_state_seg *segs, int cap)
{
    const qwen35 *q = c->model->impl;
    qstate *s = c->state;
    size_t n_ctx = (size_t)c->params.n_ctx;
    int n = 0;
    for (int i = 0; i < q->n_attn; i++)
        for (int h = 0; h < q->Hkv; h++) {
            if (n + 2 > cap) return n;
            segs[n++] = (ag_state_seg){s->k[i] + (size_t)h * n_ctx * s->krow, 0, s->krow, true};
            segs[n++] = (ag_state_seg){s->v[i] + (size_t)h * n_ctx * s->vrow, 0, s->vrow, true};
        }
    for (int i = 0; i < q->n_rec; i++) {
        if (n + 2 > cap) return n;
        segs[n++] = (ag_state_seg){(uint8_t *)s->conv[i], conv_state_floats(q) * sizeof(float), 0, false};
        segs[n++] = (ag_state_seg){(uint8_t *)s->ssm[i], ssm_state_floats(q) * sizeof(float), 0, false};
    }
    return n;
}

const ag_arch ag_arch_qwen35 = {
    .name = "qwen35",
    .load = qwen35_load,
    .unload = qwen35_unload,
    .ctx_init = qwen35_ctx_init,
    .ctx_free = qwen35_ctx_free,
    .ctx_reset = qwen35_ctx_reset,
    .forward = qwen35_forward,
    .state_segs = qwen35_state_segs,
    .plan = qwen35_plan,
};
