/* test_quantize_model.c: ag_quantize against llama-quantize's own output.
 *
 *  1. Every mix that has a llama-quantize fixture (tiny-<mix>.gguf, made from
 *     tiny-f32.gguf): our file has the same header bytes (keys in the same
 *     order incl. general.quantization_version / general.file_type, tensor
 *     names, order, shapes, types, offsets); tensors of the deterministic
 *     types (f16, bf16, q4_0/q4_1/q5_0/q5_1/q8_0) are byte-identical, so the
 *     F16, BF16 and Q8_0 files are identical to llama's as whole files.
 *  2. Quality: ours and llama's file both run through our engine on the 64
 *     fixture tokens; against the exact f32 logits, mean KL divergence
 *     (softmax(exact) || softmax(test)) and nrmse of ours must be <= 1.1x
 *     llama's. The numbers are printed.
 *  3. Requantizing: Q8_0 -> Q8_0 reproduces the input file (tensors already in
 *     their target type are copied); Q8_0 -> F32 gives exact-q8_0 logits.
 *  4. Rules llama-quantize applies on shapes the fixture lacks, on made-up
 *     files: the 24-layer attn_v/attn_qkv/ffn_down pattern of Q4_K_M
 *     (spec 8.3: i in {0,1,2,5,8,11,14,17,20,21,22,23}), numeric block order
 *     (blk.10 after blk.9), GQA >= 4 in Q2_K, an untied output.weight, and
 *     the fallbacks for rows that 256 (or 32) does not divide.
 *  5. Errors: unknown type (lists the supported ones), missing file,
 *     truncated file, NaN weights; no output file (or .tmp) is left behind.
 *  6. The CLI (`airgap quantize`): exit codes, the type-mix summary, the
 *     requantize warning, --help. */
#include "airgap.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "model/fixture.h"
#include "quant/types.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


static char g_dir[64];

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)len;
    return b;
}

static ag_status quantize(const char *in, const char *out, const char *type, int threads)
{
    ag_quantize_params p = ag_quantize_default_params();
    p.type = type;
    p.n_threads = threads;
    return ag_quantize(in, out, &p);
}

/* ---- 1. layout and bytes against the fixtures ---- */

static bool deterministic(uint32_t t)
{
    return t == AG_TYPE_F32 || t == AG_TYPE_F16 || t == AG_TYPE_BF16 || t == AG_TYPE_Q4_0 || t == AG_TYPE_Q4_1 ||
           t == AG_TYPE_Q5_0 || t == AG_TYPE_Q5_1 || t == AG_TYPE_Q8_0;
}

static void compare_layout(const char *mix, const char *ours, const char *theirs, bool whole_file)
{
    ag_gguf *a = NULL, *b = NULL;
    CHECK(ag_gguf_open(ours, false, &a) == AG_OK, "%s: open ours: %s", mix, ag_last_error());
    CHECK(ag_gguf_open(theirs, false, &b) == AG_OK, "%s: open fixture: %s", mix, ag_last_error());
    if (a && b) {
        CHECK(a->n_tensors == b->n_tensors && a->n_kv == b->n_kv && a->data_offset == b->data_offset,
              "%s: %llu/%llu tensors, %llu/%llu keys, data at %llu/%llu", mix, (unsigned long long)a->n_tensors,
              (unsigned long long)b->n_tensors, (unsigned long long)a->n_kv, (unsigned long long)b->n_kv,
              (unsigned long long)a->data_offset, (unsigned long long)b->data_offset);
        int type_diff = 0, byte_diff = 0;
        for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
            const ag_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
            bool same = strcmp(x->name, y->name) == 0 && x->type == y->type && x->offset == y->offset &&
                        x->n_bytes == y->n_bytes && memcmp(x->ne, y->ne, sizeof(x->ne)) == 0;
            CHECK(same, "%s: tensor #%llu: ours %s %s, llama's %s %s", mix, (unsigned long long)i, x->name,
                  ag_type_traits_of(x->type) ? ag_type_traits_of(x->type)->name : "?", y->name,
                  ag_type_traits_of(y->type) ? ag_type_traits_of(y->type)->name : "?");
            type_diff += !same;
            if (same && deterministic(x->type) && memcmp(x->data, y->data, (size_t)x->n_bytes) != 0) {
                byte_diff++;
                CHECK(0, "%s: tensor %s (%s): bytes differ from llama-quantize's", mix, x->name,
                      ag_type_traits_of(x->type)->name);
            }
        }
        size_t na, nb;
        unsigned char *fa = read_all(ours, &na), *fb = read_all(theirs, &nb);
        CHECK(fa && fb && na == nb, "%s: file sizes %zu / %zu", mix, na, nb);
        if (fa && fb && na == nb) {
            CHECK(memcmp(fa, fb, (size_t)a->data_offset) == 0, "%s: header bytes differ", mix);
            if (whole_file) CHECK(memcmp(fa, fb, na) == 0, "%s: file differs from llama-quantize's", mix);
        }
        free(fa);
        free(fb);
        if (!type_diff && !byte_diff) printf("  %-7s layout identical to llama-quantize's%s\n", mix,
                                             whole_file ? " (whole file byte-identical)" : "");
    }
    ag_gguf_close(a);
    ag_gguf_close(b);
}

/* ---- 2. logits ---- */

static float *read_f32(const char *path, size_t n)
{
    size_t got;
    unsigned char *b = read_all(path, &got);
    if (b && got != n * sizeof(float)) {
        free(b);
        return NULL;
    }
    return (float *)b;
}

/* All-position logits of a model file, or NULL. */
static float *logits_of(const char *path, const int32_t *tok, int T, int *V)
{
    ag_model *m = NULL;
    if (ag_model_load(path, NULL, &m) != AG_OK) return NULL;
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = 128;
    cp.n_threads = 1;
    ag_context *c = NULL;
    float *out = NULL;
    *V = ag_model_n_vocab(m);
    if (ag_context_create(m, &cp, &c) == AG_OK && ag_decode(c, tok, (size_t)T, true) == AG_OK) {
        out = malloc((size_t)T * *V * sizeof(float));
        for (int t = 0; out && t < T; t++)
            memcpy(out + (size_t)t * *V, ag_get_logits(c, (size_t)t), (size_t)*V * sizeof(float));
    }
    ag_context_free(c);
    ag_model_free(m);
    return out;
}

static void distance(const float *test, const float *exact, int T, int V, double *kl, double *nrmse)
{
    double se = 0, ee = 0, kl_sum = 0;
    for (int t = 0; t < T; t++) {
        const float *x = test + (size_t)t * V, *e = exact + (size_t)t * V;
        double mx = x[0], me = e[0];
        for (int v = 0; v < V; v++) {
            if (x[v] > mx) mx = x[v];
            if (e[v] > me) me = e[v];
            se += ((double)x[v] - e[v]) * ((double)x[v] - e[v]);
            ee += (double)e[v] * e[v];
        }
        double zx = 0, ze = 0;
        for (int v = 0; v < V; v++) {
            zx += exp(x[v] - mx);
            ze += exp(e[v] - me);
        }
        double lzx = log(zx), lze = log(ze), k = 0;
        for (int v = 0; v < V; v++) {
            double lp = e[v] - me - lze, lq = x[v] - mx - lzx;
            k += exp(lp) * (lp - lq);
        }
        kl_sum += k;
    }
    *kl = kl_sum / T;
    *nrmse = sqrt(se / ee);
}

static const struct {
    const char *mix, *fixture;
    bool whole_file;   /* all tensors deterministic: the file must equal llama's */
} mixes[] = {
    {"Q4_K_M", "q4_k_m", false}, {"Q5_K_M", "q5_k_m", false}, {"Q6_K", "q6_k", false},
    {"Q8_0", "q8_0", true},      {"Q4_0", "q4_0", false},     {"Q4_1", "q4_1", false},
    {"Q5_0", "q5_0", false},     {"Q5_1", "q5_1", false},     {"Q2_K", "q2_k", false},
    {"Q3_K_M", "q3_k_m", false}, {"IQ4_NL", "iq4_nl", false}, {"IQ4_XS", "iq4_xs", false},
    {"F16", "f16", true},        {"BF16", "bf16", true},
};

static void test_fixture_mixes(void)
{
    int32_t tok[256];
    int T = read_tokens(tok, 256), V = 0;
    CHECK(T == 64, "tokens.txt: %d tokens", T);
    float *exact = read_f32(FIX "exact-f32.f32", (size_t)64 * 2048);
    CHECK(exact != NULL, "read exact-f32.f32");
    printf("  %-7s %-25s %-25s\n", "mix", "KL ours / llama's", "nrmse ours / llama's");
    for (size_t i = 0; i < sizeof(mixes) / sizeof(mixes[0]); i++) {
        char ours[256], theirs[256];
        tmp_path(ours, sizeof(ours), "ours.gguf");
        snprintf(theirs, sizeof(theirs), FIX "tiny-%s.gguf", mixes[i].fixture);
        ag_status st = quantize(FIX "tiny-f32.gguf", ours, mixes[i].mix, (int)(i % 3)); /* 0 = cores, 1, 2 */
        CHECK(st == AG_OK, "quantize %s: %s", mixes[i].mix, ag_last_error());
        if (st != AG_OK) continue;
        compare_layout(mixes[i].mix, ours, theirs, mixes[i].whole_file);
        if (T != 64 || !exact) continue;
        float *a = logits_of(ours, tok, T, &V), *b = logits_of(theirs, tok, T, &V);
        CHECK(a && b && V == 2048, "%s: logits: %s", mixes[i].mix, ag_last_error());
        if (a && b && V == 2048) {
            double kl_a, nr_a, kl_b, nr_b;
            distance(a, exact, T, V, &kl_a, &nr_a);
            distance(b, exact, T, V, &kl_b, &nr_b);
            printf("  %-7s %.3e / %.3e (%.3fx)  %.5f / %.5f (%.3fx)\n", mixes[i].mix, kl_a, kl_b, kl_a / kl_b, nr_a,
                   nr_b, nr_a / nr_b);
            CHECK(kl_a <= 1.1 * kl_b, "%s: KL %.4g > 1.1 x llama's %.4g", mixes[i].mix, kl_a, kl_b);
            CHECK(nr_a <= 1.1 * nr_b, "%s: nrmse %.5f > 1.1 x llama's %.5f", mixes[i].mix, nr_a, nr_b);
        }
        free(a);
        free(b);
        unlink(ours);
    }
    free(exact);
}

/* ---- 3. requantizing ---- */

static void test_requantize(void)
{
    char out[256];
    tmp_path(out, sizeof(out), "requant.gguf");
    CHECK(quantize(FIX "tiny-q8_0.gguf", out, "q8_0", 2) == AG_OK, "q8_0 -> q8_0: %s", ag_last_error());
    size_t na, nb;
    unsigned char *a = read_all(out, &na), *b = read_all(FIX "tiny-q8_0.gguf", &nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0, "q8_0 -> q8_0 is not a copy of the input");
    free(a);
    free(b);

    CHECK(quantize(FIX "tiny-q8_0.gguf", out, "F32", 2) == AG_OK, "q8_0 -> f32: %s", ag_last_error());
    int32_t tok[256];
    int T = read_tokens(tok, 256), V = 0;
    float *exact = read_f32(FIX "exact-q8_0.f32", (size_t)64 * 2048);
    float *l = T == 64 ? logits_of(out, tok, T, &V) : NULL;
    CHECK(exact && l, "q8_0 -> f32: logits: %s", ag_last_error());
    if (exact && l) {
        double kl, nr;
        distance(l, exact, T, V, &kl, &nr);
        printf("  requantized q8_0 -> F32 vs exact q8_0 logits: nrmse %.2e\n", nr);
        CHECK(nr < 2e-4, "q8_0 -> f32: nrmse %.3g against the exact q8_0 logits", nr);
    }
    ag_gguf *g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open f32 output");
    if (g) {
        uint32_t ft = 99;
        CHECK(ag_gguf_get_u32(g, "general.file_type", &ft) == AG_OK && ft == 0, "f32 file_type %u", ft);
        for (uint64_t i = 0; i < g->n_tensors; i++)
            CHECK(g->tensors[i].type == AG_TYPE_F32, "tensor %s not f32", g->tensors[i].name);
    }
    ag_gguf_close(g);
    free(exact);
    free(l);
    unlink(out);
}

/* ---- 4. rules on made-up files ---- */

typedef struct mt {
    const char *name;
    uint64_t ne0, ne1;
} mt;

/* A qwen35-looking file with small random matrices (values only need to be
 * finite); layer i is attention when (i + 1) % 4 == 0. */
static ag_status write_fake(const char *path, int n_layer, int n_head, int n_kv, uint64_t d, bool untied,
                            float poison)
{
    ag_gguf_writer *w = ag_gguf_writer_create();
    if (!w) return AG_ERR_NOMEM;
    ag_gguf_set_str(w, "general.architecture", "qwen35");
    ag_gguf_set_u32(w, "qwen35.block_count", (uint32_t)n_layer);
    ag_gguf_set_u32(w, "qwen35.attention.head_count", (uint32_t)n_head);
    ag_gguf_set_u32(w, "qwen35.attention.head_count_kv", (uint32_t)n_kv);
    ag_gguf_set_u32(w, "general.file_type", 0);
    mt ts[1024];
    int n = 0;
    char names[1024][48];
    ts[n++] = (mt){"token_embd.weight", d, 8};
    ts[n++] = (mt){"output_norm.weight", d, 1};
    if (untied) ts[n++] = (mt){"output.weight", d, 8};
    for (int i = 0; i < n_layer; i++) {
        static const char *dn[] = {"attn_qkv", "attn_gate", "ssm_out", "ssm_alpha", "ssm_beta", "ffn_gate",
                                   "ffn_up", "ffn_down", "attn_norm"};
        static const char *at[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                   "ffn_down", "attn_norm"};
        bool attn = (i + 1) % 4 == 0;
        size_t k = attn ? sizeof(at) / sizeof(at[0]) : sizeof(dn) / sizeof(dn[0]);
        for (size_t j = 0; j < k; j++) {
            const char *s = attn ? at[j] : dn[j];
            snprintf(names[n], sizeof(names[n]), "blk.%d.%s.weight", i, s);
            ts[n] = (mt){names[n], d, strcmp(s, "attn_norm") == 0 ? 1 : 4};
            n++;
        }
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) total += ts[i].ne0 * ts[i].ne1;
    float *vals = malloc(total * sizeof(float));
    ag_status st = vals ? AG_OK : AG_ERR_NOMEM;
    uint32_t s = 12345;
    for (size_t i = 0; vals && i < total; i++) {
        s = s * 1664525u + 1013904223u;
        vals[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    char poisoned[48];
    snprintf(poisoned, sizeof(poisoned), "blk.%d.ffn_up.weight", n_layer - 1);
    size_t off = 0;
    for (int i = 0; st == AG_OK && i < n; i++) {
        uint64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        if (poison != 0 && strcmp(ts[i].name, poisoned) == 0) vals[off + ts[i].ne0 + 5] = poison; /* row 1 */
        st = ag_gguf_add_tensor(w, ts[i].name, AG_TYPE_F32, ts[i].ne1 > 1 ? 2 : 1, ne, vals + off);
        off += ts[i].ne0 * ts[i].ne1;
    }
    if (st == AG_OK) st = ag_gguf_write_file(w, path, 0);
    ag_gguf_writer_free(w);
    free(vals);
    return st;
}

static uint32_t type_of(const ag_gguf *g, const char *name)
{
    int64_t i = ag_gguf_find_tensor(g, name);
    return i < 0 ? 999 : g->tensors[i].type;
}

static void test_rules(void)
{
    char in[256], out[256], name[64];
    tmp_path(in, sizeof(in), "fake.gguf");
    tmp_path(out, sizeof(out), "fake-q.gguf");

    /* 24 layers (0.8B pattern), GQA 4, rows of 256 */
    CHECK(write_fake(in, 24, 8, 2, 256, false, 0) == AG_OK, "write fake: %s", ag_last_error());
    CHECK(quantize(in, out, "q4_k_m", 2) == AG_OK, "q4_k_m: %s", ag_last_error());
    ag_gguf *g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open: %s", ag_last_error());
    if (g) {
        static const int more[24] = {1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1};
        for (int i = 0; i < 24; i++) {
            uint32_t want = more[i] ? AG_TYPE_Q6_K : AG_TYPE_Q4_K;
            snprintf(name, sizeof(name), "blk.%d.%s.weight", i, (i + 1) % 4 == 0 ? "attn_v" : "attn_qkv");
            CHECK(type_of(g, name) == want, "q4_k_m %s: type %u", name, type_of(g, name));
            snprintf(name, sizeof(name), "blk.%d.ffn_down.weight", i);
            CHECK(type_of(g, name) == want, "q4_k_m %s: type %u", name, type_of(g, name));
            snprintf(name, sizeof(name), "blk.%d.ssm_alpha.weight", i);
            if ((i + 1) % 4) CHECK(type_of(g, name) == AG_TYPE_Q4_K, "q4_k_m %s", name);
            snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", i);
            CHECK(type_of(g, name) == AG_TYPE_F32, "q4_k_m %s", name);
        }
        CHECK(type_of(g, "token_embd.weight") == AG_TYPE_Q6_K, "q4_k_m tied token_embd");
        /* order: globals by name, then blk.0 .. blk.23 numerically, names sorted within */
        CHECK(strcmp(g->tensors[0].name, "output_norm.weight") == 0 &&
              strcmp(g->tensors[1].name, "token_embd.weight") == 0, "global tensors first, sorted");
        int last_layer = -1;
        for (uint64_t i = 2; i < g->n_tensors; i++) {
            int l = atoi(g->tensors[i].name + 4);
            CHECK(l >= last_layer, "order: %s after layer %d", g->tensors[i].name, last_layer);
            if (l == last_layer) CHECK(strcmp(g->tensors[i - 1].name, g->tensors[i].name) < 0, "order in layer");
            last_layer = l;
        }
        uint32_t ft = 0, qv = 0;
        CHECK(ag_gguf_get_u32(g, "general.file_type", &ft) == AG_OK && ft == 15, "file_type %u", ft);
        CHECK(ag_gguf_get_u32(g, "general.quantization_version", &qv) == AG_OK && qv == 2, "quantization_version");
        CHECK(strcmp(g->kv[g->n_kv - 1].key, "general.file_type") == 0 &&
              strcmp(g->kv[g->n_kv - 2].key, "general.quantization_version") == 0, "new keys appended last");
    }
    ag_gguf_close(g);

    /* Q2_K with GQA 4: attn_v-like get Q4_K (GQA 2 in the fixture gives Q3_K) */
    CHECK(quantize(in, out, "Q2_K", 1) == AG_OK, "q2_k: %s", ag_last_error());
    g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open q2_k");
    if (g) {
        CHECK(type_of(g, "blk.3.attn_v.weight") == AG_TYPE_Q4_K && type_of(g, "blk.0.attn_qkv.weight") == AG_TYPE_Q4_K,
              "q2_k gqa 4: attn_v-like not q4_K");
        CHECK(type_of(g, "blk.3.attn_output.weight") == AG_TYPE_Q3_K, "q2_k attn_output");
        CHECK(type_of(g, "blk.0.ffn_down.weight") == AG_TYPE_Q3_K, "q2_k ffn_down");
        CHECK(type_of(g, "blk.0.ffn_up.weight") == AG_TYPE_Q2_K, "q2_k ffn_up");
    }
    ag_gguf_close(g);

    /* untied output, rows of 96 (not a multiple of 256; 3 x 32): fallbacks */
    CHECK(write_fake(in, 4, 4, 2, 96, true, 0) == AG_OK, "write fake 96: %s", ag_last_error());
    CHECK(quantize(in, out, "Q4_K_M", 2) == AG_OK, "q4_k_m 96: %s", ag_last_error());
    g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open 96");
    if (g) {
        CHECK(type_of(g, "output.weight") == AG_TYPE_Q8_0, "output row 96: q8_0 (nx %% 256)");
        CHECK(type_of(g, "token_embd.weight") == AG_TYPE_Q5_0, "untied token_embd: q4_K -> q5_0 fallback");
        CHECK(type_of(g, "blk.0.ffn_up.weight") == AG_TYPE_Q5_0, "q4_K -> q5_0");
        CHECK(type_of(g, "blk.2.ffn_down.weight") == AG_TYPE_Q8_0, "q6_K -> q8_0");
    }
    ag_gguf_close(g);
    CHECK(quantize(in, out, "Q5_K_S", 2) == AG_OK, "q5_k_s 96: %s", ag_last_error());
    g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open 96 q5_k_s");
    if (g) CHECK(type_of(g, "blk.0.ffn_up.weight") == AG_TYPE_Q5_1, "q5_K -> q5_1");
    ag_gguf_close(g);
    CHECK(quantize(in, out, "IQ4_XS", 2) == AG_OK, "iq4_xs 96: %s", ag_last_error());
    g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open 96 iq4_xs");
    if (g) CHECK(type_of(g, "blk.0.ffn_up.weight") == AG_TYPE_IQ4_NL, "iq4_xs -> iq4_nl");
    ag_gguf_close(g);

    /* rows of 40: no block type fits, F16 (llama.cpp would stop here) */
    CHECK(write_fake(in, 4, 4, 2, 40, false, 0) == AG_OK, "write fake 40");
    CHECK(quantize(in, out, "Q4_0", 2) == AG_OK, "q4_0 40: %s", ag_last_error());
    g = NULL;
    CHECK(ag_gguf_open(out, false, &g) == AG_OK, "open 40");
    if (g) {
        CHECK(type_of(g, "blk.0.ffn_up.weight") == AG_TYPE_F16, "row 40: f16");
        CHECK(type_of(g, "token_embd.weight") == AG_TYPE_Q8_0 || type_of(g, "token_embd.weight") == AG_TYPE_F16,
              "row 40 token_embd");
    }
    ag_gguf_close(g);
    unlink(in);
    unlink(out);
}

/* ---- 5. errors ---- */

static void test_errors(void)
{
    char out[256], tmp[300], in[256];
    tmp_path(out, sizeof(out), "err.gguf");
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);

    ag_status st = quantize(FIX "tiny-f32.gguf", out, "Q7_K_X", 2);
    CHECK(st == AG_ERR_INVALID_ARG, "unknown type: status %d", st);
    CHECK(strstr(ag_last_error(), "Q7_K_X") && strstr(ag_last_error(), "Q4_K_M") &&
          strstr(ag_last_error(), "IQ4_XS"), "unknown type detail: %s", ag_last_error());
    CHECK(!exists(out), "unknown type left a file");

    st = quantize(FIX "no-such-file.gguf", out, "Q8_0", 2);
    CHECK(st == AG_ERR_IO, "missing input: status %d (%s)", st, ag_last_error());

    /* truncated copies of the f32 fixture */
    size_t n;
    unsigned char *b = read_all(FIX "tiny-f32.gguf", &n);
    CHECK(b != NULL, "read tiny-f32");
    static const double cut[] = {0.001, 0.003, 0.5, 0.999};
    tmp_path(in, sizeof(in), "trunc.gguf");
    for (size_t i = 0; b && i < sizeof(cut) / sizeof(cut[0]); i++) {
        FILE *f = fopen(in, "wb");
        fwrite(b, 1, (size_t)(n * cut[i]), f);
        fclose(f);
        st = quantize(in, out, "Q4_K_M", 2);
        CHECK(st == AG_ERR_FORMAT || st == AG_ERR_IO, "truncated at %.3f: status %d", cut[i], st);
        CHECK(strstr(ag_last_error(), "trunc.gguf") != NULL, "truncated: detail names the file: %s",
              ag_last_error());
        CHECK(!exists(out) && !exists(tmp), "truncated input left an output file");
    }
    free(b);
    unlink(in);

    /* not finite weights */
    tmp_path(in, sizeof(in), "nan.gguf");
    CHECK(write_fake(in, 4, 4, 2, 256, false, NAN) == AG_OK, "write nan model");
    st = quantize(in, out, "Q4_K_M", 2);
    CHECK(st == AG_ERR_FORMAT && strstr(ag_last_error(), "blk.3.ffn_up.weight"), "nan: %d %s", st,
          ag_last_error());
    CHECK(!exists(out) && !exists(tmp), "nan input left an output file");
    /* finite but too large for f16 */
    CHECK(write_fake(in, 4, 4, 2, 256, false, 1e30f) == AG_OK, "write huge model");
    st = quantize(in, out, "F16", 2);
    CHECK(st == AG_ERR_FORMAT && strstr(ag_last_error(), "too large"), "huge: %d %s", st, ag_last_error());
    unlink(in);

    /* params */
    ag_quantize_params p = ag_quantize_default_params();
    p.size = 4;
    CHECK(ag_quantize(FIX "tiny-f32.gguf", out, &p) == AG_ERR_INVALID_ARG, "small params.size accepted");
    CHECK(ag_quantize(NULL, out, NULL) == AG_ERR_INVALID_ARG, "NULL path accepted");
}


/* ---- 6. the CLI ---- */

#ifdef AG_CLI
static char g_out[16384];

/* Runs a shell command with stderr merged into g_out; returns the exit code. */
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(g_out, 1, sizeof(g_out) - 1, p);
    g_out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static void test_cli(void)
{
    char out[256];
    tmp_path(out, sizeof(out), "cli.gguf");
    int rc = sh("%s quantize %s %s q8_0 -t 2 2>&1", AG_CLI, FIX "tiny-f32.gguf", out);
    CHECK(rc == 0, "cli q8_0: rc %d: %s", rc, g_out);
    CHECK(strstr(g_out, "type mix: ") && strstr(g_out, "q8_0 x32") && strstr(g_out, "f32 x23") &&
          strstr(g_out, "bits per weight"), "cli summary: %s", g_out);
    size_t na, nb;
    unsigned char *a = read_all(out, &na), *b = read_all(FIX "tiny-q8_0.gguf", &nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0, "cli q8_0 output differs from llama-quantize's");
    free(a);
    free(b);
    rc = sh("%s quantize %s %s Q4_K_M 2>&1", AG_CLI, FIX "tiny-q8_0.gguf", out);
    CHECK(rc == 0 && strstr(g_out, "warning") && strstr(g_out, "requantized"), "cli requantize: rc %d: %s", rc,
          g_out);
    rc = sh("%s quantize %s %s Q9_Z 2>&1", AG_CLI, FIX "tiny-f32.gguf", out);
    CHECK(rc == 2 && strstr(g_out, "supported") && strstr(g_out, "Q5_K_M"), "cli unknown type: rc %d: %s", rc,
          g_out);
    rc = sh("%s quantize %s 2>&1", AG_CLI, FIX "tiny-f32.gguf");
    CHECK(rc == 2, "cli missing args: rc %d", rc);
    rc = sh("%s quantize %s/nothing-here.gguf %s Q8_0 2>&1", AG_CLI, g_dir, out);
    CHECK(rc == 1 && strstr(g_out, "nothing-here.gguf"), "cli missing input: rc %d: %s", rc, g_out);
    rc = sh("%s quantize --help 2>&1", AG_CLI);
    CHECK(rc == 0 && strstr(g_out, "Q4_K_M") && strstr(g_out, "--threads"), "cli --help: rc %d", rc);
    unlink(out);
}
#else
static void test_cli(void) {}
#endif

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/ag_quantize_XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("mkdtemp failed\n");
        return 1;
    }
    printf("fixture mixes:\n");
    test_fixture_mixes();
    test_requantize();
    test_rules();
    test_errors();
    test_cli();
    rmdir(g_dir);
    return REPORT();
}
