/* synth.c: random-weight qwen35 GGUF files with real shapes.
 *
 * Tests and benchmarks need models of the real 0.8B/2B shapes (and of other
 * shapes: v heads > k heads, other widths) without downloading anything.
 * The file is laid out as llama.cpp's converter lays out real checkpoints and
 * as the conformance fixture is: same keys in the same order, same tensor
 * names, shapes and order, matrices in the requested type, norms/conv/decay
 * tensors in f32. Values are deterministic in (seed, tensor index, element),
 * generated while writing, so a multi-GiB file never sits in memory.
 *
 * The vocabulary is synthetic byte-level BPE: the 256 byte tokens (id = byte),
 * a few hundred letter-pair merges, pseudo-word fillers (" taeo"), "[PADn]"
 * placeholders past the added tokens as in real files, and the real
 * Qwen3.5 added tokens (<|im_start|>, <think>, ...) -- at their real ids when
 * the vocabulary has the real size -- so chat formatting works end to end. */
#include "core/status.h"
#include "gguf/gguf.h"
#include "quant/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ag_synth_params ag_synth_default_params(void)
{
    ag_synth_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    p.preset = "tiny";
    p.seed = 1;
    p.type = "f32";
    return p;
}

typedef struct shape {
    int d, L, f, H, Hkv, Dh, V, Hk, Hv, Dk, Dv, interval, ctx;
} shape;

static const struct { const char *name; shape s; } presets[] = {
    {"tiny", {256, 4, 512, 4, 2, 64, 2048, 2, 4, 64, 64, 4, 4096}},
    {"0.8b", {1024, 24, 3584, 8, 2, 256, 248320, 16, 16, 128, 128, 4, 262144}},
    {"2b", {2048, 24, 6144, 8, 2, 256, 248320, 16, 16, 128, 128, 4, 262144}},
};

/* The Qwen3.5 added tokens in id order (spec 5.1); type 3 CONTROL, 4 USER_DEFINED. */
static const struct { const char *text; int type; } added[] = {
    {"<|endoftext|>", 3}, {"<|im_start|>", 3}, {"<|im_end|>", 3}, {"<|object_ref_start|>", 3},
    {"<|object_ref_end|>", 3}, {"<|box_start|>", 3}, {"<|box_end|>", 3}, {"<|quad_start|>", 3},
    {"<|quad_end|>", 3}, {"<|vision_start|>", 3}, {"<|vision_end|>", 3}, {"<|vision_pad|>", 3},
    {"<|image_pad|>", 3}, {"<|video_pad|>", 3}, {"<tool_call>", 4}, {"</tool_call>", 4},
    {"<|fim_prefix|>", 3}, {"<|fim_middle|>", 3}, {"<|fim_suffix|>", 3}, {"<|fim_pad|>", 3},
    {"<|repo_name|>", 3}, {"<|file_sep|>", 3}, {"<tool_response>", 4}, {"</tool_response>", 4},
    {"<think>", 4}, {"</think>", 4}, {"<|audio_start|>", 3}, {"<|audio_end|>", 3},
    {"<tts_pad>", 3}, {"<tts_text_bos>", 3}, {"<tts_text_eod>", 3}, {"<tts_text_bos_single>", 3},
    {"<|audio_pad|>", 3},
};
#define N_ADDED ((int)(sizeof(added) / sizeof(added[0])))
#define REAL_VOCAB 248320
#define REAL_ADDED_BASE 248044

enum kind { K_MATRIX, K_EMBD, K_NORM, K_SSM_NORM, K_CONV, K_SSM_A, K_DT };

typedef struct tdesc {
    char name[64];
    int kind;
    uint32_t type;
    uint64_t ne0, ne1;
} tdesc;

typedef struct synth {
    tdesc *t;
    int n, cap;
    uint64_t seed;
    uint64_t total_bytes, done_bytes;
    float *row;
    const ag_synth_params *p;
} synth;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) /* in [-1, 1) */
{
    return (float)((double)(splitmix(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static ag_status add(synth *sy, int kind, uint32_t type, uint64_t ne0, uint64_t ne1, const char *fmt, int blk)
{
    if (sy->n == sy->cap) {
        int cap = sy->cap ? sy->cap * 2 : 64;
        tdesc *t = realloc(sy->t, (size_t)cap * sizeof(*t));
        if (!t) return ag_fail(AG_ERR_NOMEM, "synth: out of memory");
        sy->t = t;
        sy->cap = cap;
    }
    tdesc *t = &sy->t[sy->n++];
    snprintf(t->name, sizeof(t->name), fmt, blk);
    t->kind = kind;
    t->type = (kind == K_MATRIX || kind == K_EMBD) ? type : AG_TYPE_F32;
    t->ne0 = ne0;
    t->ne1 = ne1;
    return AG_OK;
}

static bool fill(void *user, uint64_t i, void *dst, uint64_t n_bytes)
{
    synth *sy = user;
    const tdesc *t = &sy->t[i];
    const ag_type_traits *tt = ag_type_traits_of(t->type);
    uint64_t rb = ag_type_row_bytes(tt, t->ne0);
    uint64_t rows = t->ne1 ? t->ne1 : 1;
    float scale;
    switch (t->kind) {
    case K_MATRIX: scale = sqrtf(3.0f / (float)t->ne0); break; /* variance 1/n_in */
    case K_EMBD: scale = sqrtf(3.0f) * 2.0f / sqrtf((float)t->ne0); break;
    case K_CONV: scale = 0.5f; break;
    default: scale = 0.1f; break;
    }
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t st = sy->seed * 0x2545f4914f6cdd1dull + i * 0x9e3779b97f4a7c15ull + r * 0xd1b54a32d192ed03ull;
        for (uint64_t e = 0; e < t->ne0; e++) {
            float u = uniform(&st);
            float v;
            switch (t->kind) {
            case K_NORM: v = 1.0f + 0.1f * u; break;         /* converter baked in the +1 */
            case K_SSM_NORM: v = 1.0f + 0.1f * u; break;
            case K_SSM_A: v = -expf(u); break;               /* -exp(A_log) */
            case K_DT: v = 0.5f * u; break;
            default: v = scale * u; break;
            }
            sy->row[e] = v;
        }
        if (t->type == AG_TYPE_F32)
            memcpy((uint8_t *)dst + r * rb, sy->row, t->ne0 * sizeof(float));
        else
            tt->from_float(sy->row, (uint8_t *)dst + r * rb, (int64_t)t->ne0);
    }
    (void)n_bytes;
    sy->done_bytes += n_bytes;
    if (sy->p->progress) sy->p->progress(sy->p->progress_user, (double)sy->done_bytes / (double)sy->total_bytes);
    return true;
}

/* GPT-2 byte-to-unicode: printable bytes map to themselves, the other 68 to
 * U+0100.. in byte order. Writes the UTF-8 of byte b's symbol to out. */
static int byte_symbol(int b, char *out)
{
    int cp;
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) {
        cp = b;
    } else {
        int k = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff))) k++;
        cp = 0x100 + k;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; return 1; }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    out[2] = 0;
    return 2;
}

static ag_status write_vocab(ag_gguf_writer *w, int V)
{
    static const char letters[] = "etaoinshrdlucmfwypvbgk";
    int nl = (int)strlen(letters) + 1; /* + the space symbol */
    int base = V >= REAL_ADDED_BASE + N_ADDED ? REAL_ADDED_BASE : V - N_ADDED;
    int n_merges = nl * nl;
    if (256 + n_merges > base) n_merges = base - 256;
    if (n_merges < 0)
        return ag_fail(AG_ERR_INVALID_ARG, "synth: n_vocab %d is too small (at least %d)", V, 256 + N_ADDED);
    char **tok = calloc((size_t)V, sizeof(char *));
    int32_t *type = calloc((size_t)V, sizeof(int32_t));
    char **merges = calloc((size_t)(n_merges ? n_merges : 1), sizeof(char *));
    ag_status st = AG_OK;
    if (!tok || !type || !merges) { st = ag_fail(AG_ERR_NOMEM, "synth: out of memory"); goto done; }
    char sym[3];
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, sym);
        tok[b] = strdup(sym);
        type[b] = 1;
    }
    for (int k = 0; k < n_merges; k++) {
        char a[4], c[4];
        int ia = k / nl, ic = k % nl;
        if (ia < nl - 1) { a[0] = letters[ia]; a[1] = 0; } else { strcpy(a, "\xc4\xa0"); }
        if (ic < nl - 1) { c[0] = letters[ic]; c[1] = 0; } else { strcpy(c, "\xc4\xa0"); }
        char m[16], t[16];
        snprintf(m, sizeof(m), "%s %s", a, c);
        snprintf(t, sizeof(t), "%s%s", a, c);
        merges[k] = strdup(m);
        tok[256 + k] = strdup(t);
        type[256 + k] = 1;
    }
    for (int id = 256 + n_merges; id < V; id++) {
        char buf[32];
        if (id >= base && id < base + N_ADDED) {
            tok[id] = strdup(added[id - base].text);
            type[id] = added[id - base].type;
        } else if (id < base) {
            /* a readable pseudo-word: "Ġ" + the id spelled in letters (at
             * least three, so it never equals a merge result) */
            int n = 2, x = id;
            memcpy(buf, "\xc4\xa0", 2);
            do { buf[n++] = letters[x % 22]; x /= 22; } while (x > 0 || n < 5);
            buf[n] = 0;
            tok[id] = strdup(buf);
            type[id] = 1;
        } else {
            snprintf(buf, sizeof(buf), "[PAD%d]", id);
            tok[id] = strdup(buf);
            type[id] = 5;
        }
    }
    for (int id = 0; id < V; id++)
        if (!tok[id]) { st = ag_fail(AG_ERR_NOMEM, "synth: out of memory"); goto done; }
    for (int k = 0; k < n_merges; k++)
        if (!merges[k]) { st = ag_fail(AG_ERR_NOMEM, "synth: out of memory"); goto done; }
    if ((st = ag_gguf_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = ag_gguf_set_str(w, "tokenizer.ggml.pre", "qwen35")) ||
        (st = ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V)) ||
        (st = ag_gguf_set_arr(w, "tokenizer.ggml.token_type", AG_GGUF_I32, type, (uint64_t)V)) ||
        (st = ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges)) ||
        (st = ag_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(base + 2))) ||
        (st = ag_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)base)) ||
        (st = ag_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)base)) ||
        (st = ag_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false)))
        goto done;
done:
    if (tok)
        for (int id = 0; id < V; id++) free(tok[id]);
    if (merges)
        for (int k = 0; k < n_merges; k++) free(merges[k]);
    free(tok);
    free(type);
    free(merges);
    return st;
}

static uint32_t file_type_of(uint32_t type)
{
    switch (type) {
    case AG_TYPE_F32: return 0;
    case AG_TYPE_F16: return 1;
    case AG_TYPE_Q8_0: return 7;
    case AG_TYPE_BF16: return 32;
    case AG_TYPE_Q4_0: return 2;
    default: return 0;
    }
}

#define OVERRIDE(field, value) \
    if (p->field > 0) s.value = p->field

ag_status ag_synth_write(const ag_synth_params *p, const char *path)
{
    if (!p || !path) return ag_fail(AG_ERR_INVALID_ARG, "synth: params and path are required");
    if (p->size < sizeof(ag_synth_params)) return ag_fail(AG_ERR_INVALID_ARG, "synth: params.size too small");
    const char *preset = p->preset ? p->preset : "tiny";
    int pi = -1;
    for (int i = 0; i < (int)(sizeof(presets) / sizeof(presets[0])); i++)
        if (strcmp(presets[i].name, preset) == 0) pi = i;
    if (pi < 0) return ag_fail(AG_ERR_INVALID_ARG, "synth: unknown preset '%s' (tiny, 0.8b, 2b)", preset);
    shape s = presets[pi].s;
    OVERRIDE(n_embd, d);
    OVERRIDE(n_layer, L);
    OVERRIDE(n_ff, f);
    OVERRIDE(n_head, H);
    OVERRIDE(n_head_kv, Hkv);
    OVERRIDE(head_dim, Dh);
    OVERRIDE(n_vocab, V);
    OVERRIDE(ssm_n_k_heads, Hk);
    OVERRIDE(ssm_n_v_heads, Hv);
    OVERRIDE(ssm_head_k_dim, Dk);
    OVERRIDE(ssm_head_v_dim, Dv);
    OVERRIDE(full_attn_interval, interval);

    int type = ag_type_from_name(p->type ? p->type : "f32");
    const ag_type_traits *tt = type >= 0 ? ag_type_traits_of((uint32_t)type) : NULL;
    if (!tt || (type != AG_TYPE_F32 && !tt->from_float))
        return ag_fail(AG_ERR_INVALID_ARG, "synth: weight type '%s' cannot be written (f32, f16, bf16, q8_0)",
                       p->type ? p->type : "");
    if (s.d % (int)tt->block || s.f % (int)tt->block || (s.H * s.Dh) % (int)tt->block || (s.Hv * s.Dv) % (int)tt->block)
        return ag_fail(AG_ERR_INVALID_ARG, "synth: widths must be multiples of %u for type %s", tt->block, tt->name);
    if (s.H % s.Hkv || s.Dh % 4 || s.d <= 0 || s.L <= 0)
        return ag_fail(AG_ERR_INVALID_ARG, "synth: invalid shape (heads %d/%d, head dim %d)", s.H, s.Hkv, s.Dh);
    int n_rot = s.Dh / 4, pairs = n_rot / 2;
    int32_t sect[4];
    sect[0] = (pairs + 2) / 3;
    sect[1] = (pairs - sect[0] + 1) / 2;
    sect[2] = pairs - sect[0] - sect[1];
    sect[3] = 0;
    int Cc = 2 * s.Hk * s.Dk + s.Hv * s.Dv;

    synth sy = {0};
    sy.seed = p->seed;
    sy.p = p;
    ag_gguf_writer *w = ag_gguf_writer_create();
    if (!w) return ag_fail(AG_ERR_NOMEM, "synth: out of memory");
    ag_status st;
    char name[64];
    snprintf(name, sizeof(name), "synthetic-qwen35-%s-seed%llu", preset, (unsigned long long)p->seed);
    if ((st = ag_gguf_set_str(w, "general.architecture", "qwen35")) ||
        (st = ag_gguf_set_str(w, "general.name", name)) ||
        (st = ag_gguf_set_u32(w, "qwen35.context_length", (uint32_t)s.ctx)) ||
        (st = ag_gguf_set_u32(w, "qwen35.embedding_length", (uint32_t)s.d)) ||
        (st = ag_gguf_set_u32(w, "qwen35.block_count", (uint32_t)s.L)) ||
        (st = ag_gguf_set_u32(w, "qwen35.feed_forward_length", (uint32_t)s.f)) ||
        (st = ag_gguf_set_u32(w, "qwen35.attention.head_count", (uint32_t)s.H)) ||
        (st = ag_gguf_set_u32(w, "qwen35.attention.head_count_kv", (uint32_t)s.Hkv)) ||
        (st = ag_gguf_set_u32(w, "qwen35.attention.key_length", (uint32_t)s.Dh)) ||
        (st = ag_gguf_set_u32(w, "qwen35.attention.value_length", (uint32_t)s.Dh)) ||
        (st = ag_gguf_set_f32(w, "qwen35.rope.freq_base", 1.0e7f)) ||
        (st = ag_gguf_set_u32(w, "qwen35.rope.dimension_count", (uint32_t)n_rot)) ||
        (st = ag_gguf_set_arr(w, "qwen35.rope.dimension_sections", AG_GGUF_I32, sect, 4)) ||
        (st = ag_gguf_set_f32(w, "qwen35.attention.layer_norm_rms_epsilon", 1e-6f)) ||
        (st = ag_gguf_set_u32(w, "qwen35.ssm.conv_kernel", 4)) ||
        (st = ag_gguf_set_u32(w, "qwen35.ssm.state_size", (uint32_t)s.Dk)) ||
        (st = ag_gguf_set_u32(w, "qwen35.ssm.group_count", (uint32_t)s.Hk)) ||
        (st = ag_gguf_set_u32(w, "qwen35.ssm.time_step_rank", (uint32_t)s.Hv)) ||
        (st = ag_gguf_set_u32(w, "qwen35.ssm.inner_size", (uint32_t)(s.Hv * s.Dv))) ||
        (st = ag_gguf_set_u32(w, "qwen35.full_attention_interval", (uint32_t)s.interval)) ||
        (st = ag_gguf_set_u32(w, "general.file_type", file_type_of((uint32_t)type))))
        goto done;
    if ((st = write_vocab(w, s.V))) goto done;

    uint32_t ty = (uint32_t)type;
    int vw = s.Hv * s.Dv;
    if ((st = add(&sy, K_EMBD, ty, s.d, s.V, "token_embd.weight", 0)) ||
        (st = add(&sy, K_NORM, ty, s.d, 0, "output_norm.weight", 0)))
        goto done;
    for (int i = 0; i < s.L; i++) {
        bool rec = (i + 1) % s.interval != 0;
        if ((st = add(&sy, K_NORM, ty, s.d, 0, "blk.%d.attn_norm.weight", i)) ||
            (st = add(&sy, K_NORM, ty, s.d, 0, "blk.%d.post_attention_norm.weight", i)))
            goto done;
        if (rec) {
            if ((st = add(&sy, K_MATRIX, ty, s.d, Cc, "blk.%d.attn_qkv.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.d, vw, "blk.%d.attn_gate.weight", i)) ||
                (st = add(&sy, K_CONV, ty, 4, Cc, "blk.%d.ssm_conv1d.weight", i)) ||
                (st = add(&sy, K_DT, ty, s.Hv, 0, "blk.%d.ssm_dt.bias", i)) ||
                (st = add(&sy, K_SSM_A, ty, s.Hv, 0, "blk.%d.ssm_a", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.d, s.Hv, "blk.%d.ssm_beta.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.d, s.Hv, "blk.%d.ssm_alpha.weight", i)) ||
                (st = add(&sy, K_SSM_NORM, ty, s.Dv, 0, "blk.%d.ssm_norm.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, vw, s.d, "blk.%d.ssm_out.weight", i)))
                goto done;
        } else {
            if ((st = add(&sy, K_MATRIX, ty, s.d, 2 * s.H * s.Dh, "blk.%d.attn_q.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.d, s.Hkv * s.Dh, "blk.%d.attn_k.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.d, s.Hkv * s.Dh, "blk.%d.attn_v.weight", i)) ||
                (st = add(&sy, K_MATRIX, ty, s.H * s.Dh, s.d, "blk.%d.attn_output.weight", i)) ||
                (st = add(&sy, K_NORM, ty, s.Dh, 0, "blk.%d.attn_q_norm.weight", i)) ||
                (st = add(&sy, K_NORM, ty, s.Dh, 0, "blk.%d.attn_k_norm.weight", i)))
                goto done;
        }
        if ((st = add(&sy, K_MATRIX, ty, s.d, s.f, "blk.%d.ffn_gate.weight", i)) ||
            (st = add(&sy, K_MATRIX, ty, s.d, s.f, "blk.%d.ffn_up.weight", i)) ||
            (st = add(&sy, K_MATRIX, ty, s.f, s.d, "blk.%d.ffn_down.weight", i)))
            goto done;
    }
    uint64_t max_row = 0;
    for (int i = 0; i < sy.n; i++) {
        tdesc *t = &sy.t[i];
        if (t->ne0 % ag_type_traits_of(t->type)->block) {
            st = ag_fail(AG_ERR_INVALID_ARG, "synth: tensor '%s' width %llu is not a multiple of the %s block", t->name,
                         (unsigned long long)t->ne0, ag_type_traits_of(t->type)->name);
            goto done;
        }
        uint64_t ne[2] = {t->ne0, t->ne1};
        if ((st = ag_gguf_add_tensor(w, t->name, t->type, t->ne1 ? 2 : 1, ne, NULL))) goto done;
        sy.total_bytes += ag_type_row_bytes(ag_type_traits_of(t->type), t->ne0) * (t->ne1 ? t->ne1 : 1);
        if (t->ne0 > max_row) max_row = t->ne0;
    }
    sy.row = malloc((size_t)max_row * sizeof(float));
    if (!sy.row) { st = ag_fail(AG_ERR_NOMEM, "synth: out of memory"); goto done; }
    ag_gguf_writer_set_fill(w, fill, &sy);
    st = ag_gguf_write_file(w, path, 32);
done:
    ag_gguf_writer_free(w);
    free(sy.t);
    free(sy.row);
    return st;
}
