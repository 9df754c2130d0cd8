/* quantize_model.c: ag_quantize, rewriting a GGUF model with quantized weights.
 *
 * What: reads a model (any GGUF the reader accepts, any tensor type it knows),
 * picks a target type per tensor by llama-quantize's rules for the requested
 * mix (llama.cpp src/llama-quant.cpp, without importance matrix), and streams
 * the new file through the GGUF writer one tensor at a time; each tensor's
 * rows are converted in parallel on a thread pool.
 *
 * Why this shape:
 *  - Same per-tensor types, key order and tensor order as llama-quantize, so
 *    that our Q4_K_M of a file is laid out like llama.cpp's Q4_K_M of it (the
 *    tests compare against llama-quantize's fixtures tensor by tensor). The
 *    rules are evaluated in llama's visiting order: tensors sorted by block
 *    index, then by name (weight_name_comparer), because the attn_v-like and
 *    ffn_down rules count tensors as they go. Metadata is copied in file
 *    order; general.quantization_version and general.file_type are removed
 *    and appended last, as gguf_set_val does in llama-quantize.
 *  - Row-wise conversion through f32: each worker claims chunks of rows,
 *    dequantizes/copies a source row into its own f32 buffer (byte-safe for
 *    any file alignment), checks it is finite, quantizes it with the type's
 *    from_float, and dequantizes the result to check that too (llama.cpp's
 *    ggml_validate_row_data does the same job). A whole-tensor f32 buffer was
 *    rejected: the 0.8B embedding would need 1 GB.
 *  - Only what llama.cpp would also do without extra flags, with two
 *    deliberate differences: quantized inputs are requantized from their
 *    dequantized values (llama needs --allow-requantize; callers are expected
 *    to warn), and a row width no block type divides falls back to F16
 *    where llama would stop with "no tensor type fallback".
 * Rules implemented: every branch of llama_tensor_get_type_impl that a
 * supported mix can reach, including the MoE (expert_count), Falcon and
 * LLaMA-70B special cases; the IQ1/IQ2/IQ3 and imatrix-only mixes (Q2_K_S)
 * are not offered. */
#include "airgap.h"
#include "core/status.h"
#include "core/threads.h"
#include "gguf/gguf.h"
#include "quant/types.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

/* llama_ftype values (general.file_type) of the mixes offered. */
enum {
    FT_ALL_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32,
};

static const struct mix {
    const char *name;
    int ftype;
    uint32_t deftype; /* llama_ftype_get_default_type */
} mixes[] = {
    {"Q4_K_M", FT_Q4_K_M, AG_TYPE_Q4_K}, {"Q5_K_M", FT_Q5_K_M, AG_TYPE_Q5_K},
    {"Q6_K", FT_Q6_K, AG_TYPE_Q6_K},     {"Q8_0", FT_Q8_0, AG_TYPE_Q8_0},
    {"Q4_0", FT_Q4_0, AG_TYPE_Q4_0},     {"Q4_1", FT_Q4_1, AG_TYPE_Q4_1},
    {"Q5_0", FT_Q5_0, AG_TYPE_Q5_0},     {"Q5_1", FT_Q5_1, AG_TYPE_Q5_1},
    {"Q4_K_S", FT_Q4_K_S, AG_TYPE_Q4_K}, {"Q5_K_S", FT_Q5_K_S, AG_TYPE_Q5_K},
    {"Q3_K_S", FT_Q3_K_S, AG_TYPE_Q3_K}, {"Q3_K_M", FT_Q3_K_M, AG_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, AG_TYPE_Q3_K}, {"Q2_K", FT_Q2_K, AG_TYPE_Q2_K},
    {"IQ4_NL", FT_IQ4_NL, AG_TYPE_IQ4_NL}, {"IQ4_XS", FT_IQ4_XS, AG_TYPE_IQ4_XS},
    {"F16", FT_F16, AG_TYPE_F16},        {"BF16", FT_BF16, AG_TYPE_BF16},
    {"F32", FT_ALL_F32, AG_TYPE_F32},
};
#define N_MIXES (sizeof(mixes) / sizeof(mixes[0]))

static const struct { const char *alias, *name; } aliases[] = {
    {"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"},
};

static bool name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (toupper((unsigned char)*a) != toupper((unsigned char)*b)) return false;
    return *a == *b;
}

static const struct mix *find_mix(const char *name)
{
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (name_eq(name, aliases[i].alias)) name = aliases[i].name;
    for (size_t i = 0; i < N_MIXES; i++)
        if (name_eq(name, mixes[i].name)) return &mixes[i];
    return NULL;
}

ag_quantize_params ag_quantize_default_params(void)
{
    ag_quantize_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    p.type = "Q4_K_M";
    return p;
}

/* ---- which tensors, which types (llama-quant.cpp's rules) ---- */

enum cat {
    C_TOKEN_EMBD, C_ATTN_Q, C_ATTN_V, C_ATTN_K, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUT,
    C_FFN_UP, C_FFN_GATE, C_FFN_DOWN, C_OUTPUT, C_OTHER,
};

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static enum cat category(const char *name)
{
    if (strcmp(name, "output.weight") == 0) return C_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return C_TOKEN_EMBD;
    if (has(name, "attn_qkv.weight")) return C_ATTN_QKV;
    if (has(name, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (has(name, "attn_v.weight")) return C_ATTN_V;
    if (has(name, "attn_k.weight")) return C_ATTN_K;
    if (has(name, "attn_q.weight")) return C_ATTN_Q;
    if (has(name, "attn_output.weight")) return C_ATTN_OUT;
    if (has(name, "ffn_up")) return C_FFN_UP;
    if (has(name, "ffn_gate")) return C_FFN_GATE;
    if (has(name, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

static bool attn_v_like(enum cat c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* ggml_n_dims: trailing dimensions of size 1 do not count. */
static uint32_t eff_dims(const ag_gguf_tensor *t)
{
    uint32_t n = 4;
    while (n > 1 && t->ne[n - 1] == 1) n--;
    return n;
}

/* tensor_allows_quantization: matrices named *weight, minus norms, small
 * special tensors and embeddings that llama.cpp keeps as they are. */
static bool quantizable(const ag_gguf_tensor *t)
{
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
        "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
        "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
        "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
        "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
        "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
        "mm.a.code_embd",
    };
    const char *name = t->name;
    if (eff_dims(t) < 2 || !ends_with(name, "weight")) return false;
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (has(name, never[i])) return false;
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

typedef struct rules {
    int ftype;
    uint32_t deftype;
    int n_wv, i_wv;          /* attn_v-like tensors: total, seen so far */
    int n_layer, i_down;     /* ffn_down: n = block_count, index = count seen */
    int n_gqa, n_expert;
    bool tied, falcon, is70b;
    int n_fallback;
    const char *path;
} rules;

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* layer_info: with experts, the layer comes from the name ("blk.N."). */
static ag_status layer_of(const rules *r, const char *name, int counter, int *layer)
{
    *layer = counter;
    if (r->n_expert <= 1) return AG_OK;
    long v = -1;
    if (strncmp(name, "blk.", 4) == 0 && isdigit((unsigned char)name[4])) v = strtol(name + 4, NULL, 10);
    if (v < 0 || v >= r->n_layer)
        return ag_fail(AG_ERR_FORMAT, "%s: tensor '%.80s': cannot tell its layer (must be blk.N. with N < %d)",
                       r->path, name, r->n_layer);
    *layer = (int)v;
    return AG_OK;
}

/* llama_tensor_get_type_impl for the mixes offered here. */
static ag_status mix_type(rules *r, const ag_gguf_tensor *t, enum cat c, uint32_t *out)
{
    const int ft = r->ftype;
    uint32_t nt = r->deftype;
    int layer;
    ag_status st;
    if (c == C_OUTPUT || (r->tied && c == C_TOKEN_EMBD)) {
        if (r->falcon || t->ne[0] % ag_type_traits_of(nt)->block) nt = AG_TYPE_Q8_0;
        else if (nt != AG_TYPE_Q8_0) nt = AG_TYPE_Q6_K;
    } else if (c == C_TOKEN_EMBD) {
        /* untied embedding: the default type for every mix offered */
    } else if (attn_v_like(c)) {
        if (ft == FT_Q2_K) nt = r->n_gqa >= 4 ? AG_TYPE_Q4_K : AG_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = r->i_wv < 2 ? AG_TYPE_Q5_K : AG_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = AG_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && r->n_gqa >= 4) nt = AG_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && more_bits(r->i_wv, r->n_wv)) nt = AG_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && r->i_wv < 4) nt = AG_TYPE_Q5_K;
        if (r->is70b && (nt == AG_TYPE_Q3_K || nt == AG_TYPE_Q4_K)) nt = AG_TYPE_Q5_K;
        if (r->n_expert == 8) nt = AG_TYPE_Q8_0;
        r->i_wv++;
    } else if (c == C_ATTN_K) {
        if (r->n_expert == 8) nt = AG_TYPE_Q8_0;
    } else if (c == C_FFN_DOWN) {
        if ((st = layer_of(r, t->name, r->i_down, &layer))) return st;
        const int i = layer, n = r->n_layer;
        if (ft == FT_Q2_K) nt = AG_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = i < n / 16 ? AG_TYPE_Q5_K : !r->falcon || more_bits(i, n) ? AG_TYPE_Q4_K : AG_TYPE_Q3_K;
        else if (ft == FT_Q3_K_L) nt = r->falcon ? AG_TYPE_Q4_K : AG_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (r->falcon) nt = i < n / 16 ? AG_TYPE_Q6_K : more_bits(i, n) ? AG_TYPE_Q5_K : AG_TYPE_Q4_K;
            else if (more_bits(i, n)) nt = AG_TYPE_Q6_K;
        } else if (i < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS)) nt = AG_TYPE_Q5_K; /* no imatrix */
        else if (ft == FT_Q5_K_M && more_bits(i, n)) nt = AG_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && !r->falcon && i < n / 8) nt = AG_TYPE_Q5_K;
        r->i_down++;
    } else if (c == C_ATTN_OUT) {
        if (!r->falcon) {
            if (r->n_expert == 8) {
                if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL || ft == FT_Q4_K_S ||
                    ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                    nt = AG_TYPE_Q5_K;
            } else if (ft == FT_Q2_K) nt = AG_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M) nt = AG_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L) nt = AG_TYPE_Q5_K;
        } else if (ft == FT_Q3_K_L) {
            nt = AG_TYPE_Q4_K;
        }
    } else if (c == C_FFN_GATE || c == C_FFN_UP) {
        /* only IQ3_XS changes these; llama still insists on a layer index */
        if ((st = layer_of(r, t->name, 0, &layer))) return st;
    }
    *out = nt;
    return AG_OK;
}

/* tensor_type_fallback: a row width the block does not divide. */
static uint32_t fallback(rules *r, const ag_gguf_tensor *t, uint32_t nt)
{
    if (t->ne[0] % ag_type_traits_of(nt)->block == 0) return nt;
    r->n_fallback++;
    switch (nt) {
    case AG_TYPE_IQ4_XS: nt = AG_TYPE_IQ4_NL; break;
    case AG_TYPE_Q2_K:
    case AG_TYPE_Q3_K: nt = AG_TYPE_Q4_0; break;
    case AG_TYPE_Q4_K: nt = AG_TYPE_Q5_0; break;
    case AG_TYPE_Q5_K: nt = AG_TYPE_Q5_1; break;
    case AG_TYPE_Q6_K: nt = AG_TYPE_Q8_0; break;
    default: nt = AG_TYPE_F16; break; /* llama.cpp gives up here */
    }
    if (t->ne[0] % ag_type_traits_of(nt)->block) nt = AG_TYPE_F16;
    return nt;
}

/* llama_tensor_get_type: the final type of one tensor. */
static ag_status pick_type(rules *r, const ag_gguf_tensor *t, uint32_t *out)
{
    *out = t->type;
    if (!quantizable(t)) return AG_OK;
    if (ag_type_traits_of(r->deftype)->block == 1) { /* F32/F16/BF16 mixes: no per-tensor rules */
        *out = r->deftype;
        return AG_OK;
    }
    uint32_t nt;
    ag_status st = mix_type(r, t, category(t->name), &nt);
    if (st) return st;
    *out = fallback(r, t, nt);
    return AG_OK;
}

/* weight_name_comparer: block index (-1 for none), then name. */
static int layer_key(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    long v = 0;
    for (; isdigit((unsigned char)*p); p++) v = v < 100000000 ? v * 10 + (*p - '0') : v;
    return (int)(neg ? -v : v);
}

/* Merge sort of tensor indices by (block, name): stable, O(n log n), and no
 * global comparator state as qsort would need. tmp has room for n. */
static void sort_indices(const ag_gguf *g, uint64_t *idx, uint64_t *tmp, uint64_t n)
{
    if (n < 2) return;
    uint64_t h = n / 2;
    sort_indices(g, idx, tmp, h);
    sort_indices(g, idx + h, tmp, n - h);
    uint64_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const ag_gguf_tensor *x = &g->tensors[idx[i]], *y = &g->tensors[idx[j]];
        int lx = layer_key(x->name), ly = layer_key(y->name);
        bool take_right = ly < lx || (ly == lx && strcmp(y->name, x->name) < 0);
        tmp[k++] = take_right ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(*idx));
}

/* ---- converting one tensor ---- */

enum { BAD_NONE, BAD_INPUT, BAD_OUTPUT, BAD_NOMEM };

typedef struct job {
    const ag_type_traits *st, *dt; /* source and target types */
    const uint8_t *src;
    uint8_t *dst;
    uint64_t n_per_row, n_rows, src_row, dst_row, chunk;
    atomic_uint_fast64_t next;     /* next row to claim */
    atomic_int bad;                /* BAD_*: first failure wins */
    atomic_uint_fast64_t bad_row;
    /* progress, reported by thread 0 (the caller's thread) */
    const ag_quantize_params *p;
    double done_before, total;
    double last_reported;
} job;

static void set_bad(job *j, int kind, uint64_t row)
{
    int none = BAD_NONE;
    if (atomic_compare_exchange_strong(&j->bad, &none, kind)) atomic_store(&j->bad_row, row);
}

static bool all_finite(const float *x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static void convert_rows(void *arg, int ith, int nth)
{
    (void)nth;
    job *j = arg;
    float *buf = malloc((size_t)j->n_per_row * sizeof(float));
    if (!buf) {
        set_bad(j, BAD_NOMEM, 0);
        return;
    }
    for (;;) {
        if (atomic_load_explicit(&j->bad, memory_order_relaxed) != BAD_NONE) break;
        uint64_t r0 = atomic_fetch_add(&j->next, j->chunk);
        if (r0 >= j->n_rows) break;
        uint64_t r1 = r0 + j->chunk < j->n_rows ? r0 + j->chunk : j->n_rows;
        for (uint64_t r = r0; r < r1; r++) {
            const int64_t n = (int64_t)j->n_per_row;
            j->st->to_float(j->src + r * j->src_row, buf, n);
            if (!all_finite(buf, j->n_per_row)) {
                set_bad(j, BAD_INPUT, r);
                break;
            }
            uint8_t *d = j->dst + r * j->dst_row;
            j->dt->from_float(buf, d, n);
            j->dt->to_float(d, buf, n);
            if (!all_finite(buf, j->n_per_row)) {
                set_bad(j, BAD_OUTPUT, r);
                break;
            }
        }
        if (ith == 0 && j->p->progress) {
            uint64_t claimed = atomic_load(&j->next);
            double f = (j->done_before + (double)(claimed < j->n_rows ? claimed : j->n_rows) * j->n_per_row) /
                       j->total;
            if (f - j->last_reported >= 0.002) {
                j->last_reported = f;
                j->p->progress(j->p->progress_user, f);
            }
        }
    }
    free(buf);
}

/* ---- the whole file ---- */

typedef struct plan {
    uint64_t src;     /* index into the input's tensors */
    uint32_t type;    /* target type */
} plan;

typedef struct qctx {
    const ag_gguf *g;
    const ag_quantize_params *p;
    ag_pool *pool;
    plan *plans;
    double total, done;
    double last_reported;
    ag_status st;           /* a failure inside fill, re-raised after the write */
    char msg[512];
} qctx;

static bool fill(void *user, uint64_t i, void *dst, uint64_t n_bytes)
{
    qctx *q = user;
    const ag_gguf_tensor *t = &q->g->tensors[q->plans[i].src];
    const uint64_t nel = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (q->plans[i].type == t->type) {
        memcpy(dst, t->data, (size_t)n_bytes);
    } else {
        job j = {
            .st = ag_type_traits_of(t->type), .dt = ag_type_traits_of(q->plans[i].type),
            .src = t->data, .dst = dst, .n_per_row = t->ne[0], .n_rows = nel / t->ne[0],
            .p = q->p, .done_before = q->done, .total = q->total, .last_reported = q->last_reported,
        };
        j.src_row = ag_type_row_bytes(j.st, j.n_per_row);
        j.dst_row = ag_type_row_bytes(j.dt, j.n_per_row);
        j.chunk = 32768 / j.n_per_row ? 32768 / j.n_per_row : 1;
        atomic_init(&j.next, 0);
        atomic_init(&j.bad, BAD_NONE);
        atomic_init(&j.bad_row, 0);
        AG_ASSERT(j.dst_row * j.n_rows == n_bytes);
        ag_pool_run(q->pool, convert_rows, &j);
        q->last_reported = j.last_reported;
        int bad = atomic_load(&j.bad);
        if (bad != BAD_NONE) {
            ull row = (ull)atomic_load(&j.bad_row);
            if (bad == BAD_NOMEM) {
                q->st = AG_ERR_NOMEM;
                snprintf(q->msg, sizeof(q->msg), "%s: out of memory converting tensor '%.80s'", q->g->path, t->name);
            } else if (bad == BAD_INPUT) {
                q->st = AG_ERR_FORMAT;
                snprintf(q->msg, sizeof(q->msg), "%s: tensor '%.80s' row %llu: NaN or infinite weight, not quantized",
                         q->g->path, t->name, row);
            } else {
                q->st = AG_ERR_FORMAT;
                snprintf(q->msg, sizeof(q->msg),
                         "%s: tensor '%.80s' row %llu: weights too large for %s (the result is not finite)",
                         q->g->path, t->name, row, j.dt->name);
            }
            return false;
        }
    }
    q->done += (double)nel;
    if (q->p->progress && q->done / q->total > q->last_reported) {
        q->last_reported = q->done / q->total;
        q->p->progress(q->p->progress_user, q->last_reported);
    }
    return true;
}

static bool skip_key(const char *k)
{
    return strcmp(k, "general.quantization_version") == 0 || strcmp(k, "general.file_type") == 0 ||
           strcmp(k, "split.no") == 0 || strcmp(k, "split.count") == 0 || strcmp(k, "split.tensors.count") == 0;
}

/* First element of a u32 key that may also be a per-layer array; dflt if absent. */
static ag_status hparam(const ag_gguf *g, const char *arch, const char *suffix, int64_t dflt, int64_t *out)
{
    char key[256];
    snprintf(key, sizeof(key), "%s.%s", arch, suffix);
    *out = dflt;
    int64_t i = ag_gguf_find_key(g, key);
    if (i < 0) return AG_OK;
    const ag_gguf_kv *kv = &g->kv[i];
    if (kv->type == AG_GGUF_ARRAY) {
        if (kv->arr_type == AG_GGUF_STRING || kv->arr_type == AG_GGUF_ARRAY)
            return ag_fail(AG_ERR_FORMAT, "%s: key '%s': expected a number or an array of numbers", g->path, key);
        *out = kv->n ? ag_gguf_arr_i64(kv, 0) : dflt;
        return AG_OK;
    }
    return ag_gguf_get_i64(g, key, out);
}

static ag_status setup_rules(const ag_gguf *g, const struct mix *mx, rules *r)
{
    memset(r, 0, sizeof(*r));
    r->ftype = mx->ftype;
    r->deftype = mx->deftype;
    r->path = g->path;
    ag_str a;
    ag_status st = ag_gguf_get_str(g, "general.architecture", &a);
    if (st) return st;
    char arch[64];
    if (a.n == 0 || a.n >= sizeof(arch) || memchr(a.p, 0, a.n))
        return ag_fail(AG_ERR_FORMAT, "%s: key 'general.architecture': invalid value", g->path);
    memcpy(arch, a.p, a.n);
    arch[a.n] = 0;
    int64_t n_layer, n_head, n_head_kv, n_expert;
    char key[96];
    snprintf(key, sizeof(key), "%s.block_count", arch);
    if ((st = ag_gguf_get_i64(g, key, &n_layer))) return st;
    if (n_layer < 0 || n_layer > 100000)
        return ag_fail(AG_ERR_FORMAT, "%s: key '%s' = %lld is out of range", g->path, key, (long long)n_layer);
    if ((st = hparam(g, arch, "attention.head_count", 0, &n_head))) return st;
    if ((st = hparam(g, arch, "attention.head_count_kv", n_head, &n_head_kv))) return st;
    if ((st = hparam(g, arch, "expert_count", 0, &n_expert))) return st;
    r->n_layer = (int)n_layer;
    r->n_gqa = n_head_kv > 0 && n_head > 0 && n_head / n_head_kv < 1000000 ? (int)(n_head / n_head_kv) : 0;
    r->n_expert = n_expert > 0 && n_expert < 1000000 ? (int)n_expert : 0;
    r->falcon = strcmp(arch, "falcon") == 0;
    r->is70b = strcmp(arch, "llama") == 0 && n_layer == 80 && n_head != n_head_kv;
    r->tied = true;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        enum cat c = category(g->tensors[i].name);
        if (attn_v_like(c)) r->n_wv++;
        if (c == C_OUTPUT) r->tied = false;
    }
    return AG_OK;
}

static ag_status unknown_type(const char *type)
{
    char list[256];
    size_t n = 0;
    for (size_t i = 0; i < N_MIXES && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? " " : "", mixes[i].name);
    return ag_fail(AG_ERR_INVALID_ARG, "unknown quantization type '%.40s' (supported: %s; aliases Q3_K Q4_K Q5_K)",
                   type, list);
}

ag_status ag_quantize(const char *in_path, const char *out_path, const ag_quantize_params *pp)
{
    if (!in_path || !out_path) return ag_fail(AG_ERR_INVALID_ARG, "ag_quantize: NULL path");
    ag_quantize_params p = ag_quantize_default_params();
    if (pp) {
        if (pp->size < offsetof(ag_quantize_params, progress_user) + sizeof(void *))
            return ag_fail(AG_ERR_INVALID_ARG, "ag_quantize: params.size %u too small", pp->size);
        p = *pp;
    }
    if (!p.type) p.type = "Q4_K_M";
    const struct mix *mx = find_mix(p.type);
    if (!mx) return unknown_type(p.type);

    ag_gguf *g = NULL;
    ag_gguf_writer *w = NULL;
    ag_pool *pool = NULL;
    uint64_t *order = NULL, *tmp = NULL;
    plan *plans = NULL;
    ag_status st = ag_gguf_open(in_path, true, &g);
    if (st) return st;

    rules r;
    if ((st = setup_rules(g, mx, &r))) goto out;
    const uint64_t nt = g->n_tensors;
    order = malloc((nt ? nt : 1) * sizeof(*order));
    tmp = malloc((nt ? nt : 1) * sizeof(*tmp));
    plans = malloc((nt ? nt : 1) * sizeof(*plans));
    w = ag_gguf_writer_create();
    if (!order || !tmp || !plans || !w) {
        st = ag_fail(AG_ERR_NOMEM, "%s: out of memory", in_path);
        goto out;
    }
    for (uint64_t i = 0; i < nt; i++) order[i] = i;
    sort_indices(g, order, tmp, nt);

    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (skip_key(g->kv[i].key)) continue;
        if ((st = ag_gguf_set_kv(w, &g->kv[i]))) goto out;
    }
    if ((st = ag_gguf_set_u32(w, "general.quantization_version", 2))) goto out;
    if ((st = ag_gguf_set_u32(w, "general.file_type", (uint32_t)mx->ftype))) goto out;

    double total = 0;
    for (uint64_t k = 0; k < nt; k++) {
        const ag_gguf_tensor *t = &g->tensors[order[k]];
        if (!t->data) {
            st = ag_fail(AG_ERR_FORMAT, "%s: tensor '%.80s' has no data", in_path, t->name);
            goto out;
        }
        uint32_t type;
        if ((st = pick_type(&r, t, &type))) goto out;
        plans[k].src = order[k];
        plans[k].type = type;
        if ((st = ag_gguf_add_tensor(w, t->name, type, eff_dims(t), t->ne, NULL))) goto out;
        total += (double)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }

    pool = ag_pool_create(p.n_threads);
    qctx q = {.g = g, .p = &p, .pool = pool, .plans = plans, .total = total > 0 ? total : 1};
    if (p.progress) p.progress(p.progress_user, 0.0);
    ag_gguf_writer_set_fill(w, fill, &q);
    st = ag_gguf_write_file(w, out_path, g->alignment);
    if (st && q.st) st = ag_fail(q.st, "%s", q.msg);
    if (!st && p.progress && q.last_reported < 1.0) p.progress(p.progress_user, 1.0);
out:
    ag_pool_free(pool);
    ag_gguf_writer_free(w);
    free(plans);
    free(tmp);
    free(order);
    ag_gguf_close(g);
    return st;
}
