/* test_variants.c: the file-layout variants real Qwen3.5 GGUFs come in give
 * the same logits as the plain layout.
 *
 * Starting from a synthetic f32 model, each case rewrites the file the way
 * some converter or publisher does, then compares all-position logits with
 * the original's (they must match to rounding):
 *   - an exported MTP block (block_count + 1, nextn_predict_layers = 1, the
 *     blk.L.* and nextn tensors present): loaded or skipped, never run;
 *   - per-layer attention.recurrent_layers flags instead of
 *     full_attention_interval;
 *   - --fuse-qkv: attention layers with one attn_qkv (Q+gate | K | V);
 *   - an untied output.weight equal to token_embd. */
#include "airgap.h"
#include "gguf/gguf.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE "test_variants_base.gguf"
#define OUT "test_variants_out.gguf"
#define N_TOK 12

enum { MTP, RECURRENT_FLAGS, FUSED_QKV, UNTIED };

static float *logits_of(const char *path, const int32_t *tok, int *V)
{
    ag_model *m;
    if (ag_model_load(path, NULL, &m) != AG_OK) {
        fprintf(stderr, "load %s: %s\n", path, ag_last_error());
        return NULL;
    }
    ag_context_params cp = ag_context_default_params();
    cp.n_ctx = 32;
    ag_context *c;
    float *out = NULL;
    *V = ag_model_n_vocab(m);
    if (ag_context_create(m, &cp, &c) == AG_OK && ag_decode(c, tok, N_TOK, true) == AG_OK) {
        out = malloc((size_t)N_TOK * *V * sizeof(float));
        for (int t = 0; t < N_TOK; t++) memcpy(out + (size_t)t * *V, ag_get_logits(c, (size_t)t), (size_t)*V * sizeof(float));
    } else {
        fprintf(stderr, "decode %s: %s\n", path, ag_last_error());
    }
    ag_context_free(c);
    ag_model_free(m);
    return out;
}

static const ag_gguf_tensor *find(const ag_gguf *g, const char *name)
{
    int64_t i = ag_gguf_find_tensor(g, name);
    return i >= 0 ? &g->tensors[i] : NULL;
}

/* Rewrites BASE into OUT with one variant; returns a buffer to free after
 * writing (fused data) or NULL. */
static ag_status rewrite(const ag_gguf *g, int variant, uint32_t n_layer, uint32_t interval)
{
    ag_gguf_writer *w = ag_gguf_writer_create();
    ag_status st = AG_OK;
    void *owned[64];
    int n_owned = 0;
    for (uint64_t i = 0; i < g->n_kv && st == AG_OK; i++) {
        const ag_gguf_kv *kv = &g->kv[i];
        if (variant == MTP && strcmp(kv->key, "qwen35.block_count") == 0) {
            st = ag_gguf_set_u32(w, kv->key, n_layer + 1);
            if (st == AG_OK) st = ag_gguf_set_u32(w, "qwen35.nextn_predict_layers", 1);
        } else if (variant == RECURRENT_FLAGS && strcmp(kv->key, "qwen35.full_attention_interval") == 0) {
            bool flags[64];
            for (uint32_t l = 0; l < n_layer; l++) flags[l] = (l + 1) % interval != 0;
            st = ag_gguf_set_arr(w, "qwen35.attention.recurrent_layers", AG_GGUF_BOOL, flags, n_layer);
        } else {
            st = ag_gguf_set_kv(w, kv);
        }
    }
    for (uint64_t i = 0; i < g->n_tensors && st == AG_OK; i++) {
        const ag_gguf_tensor *t = &g->tensors[i];
        const char *q = strstr(t->name, ".attn_q.weight");
        if (variant == FUSED_QKV && q) {
            char base[64], name[96];
            snprintf(base, sizeof(base), "%.*s", (int)(q - t->name), t->name);
            snprintf(name, sizeof(name), "%s.attn_k.weight", base);
            const ag_gguf_tensor *k = find(g, name);
            snprintf(name, sizeof(name), "%s.attn_v.weight", base);
            const ag_gguf_tensor *v = find(g, name);
            uint8_t *buf = malloc(t->n_bytes + k->n_bytes + v->n_bytes);
            memcpy(buf, t->data, t->n_bytes);
            memcpy(buf + t->n_bytes, k->data, k->n_bytes);
            memcpy(buf + t->n_bytes + k->n_bytes, v->data, v->n_bytes);
            owned[n_owned++] = buf;
            uint64_t ne[2] = {t->ne[0], t->ne[1] + k->ne[1] + v->ne[1]};
            snprintf(name, sizeof(name), "%s.attn_qkv.weight", base);
            st = ag_gguf_add_tensor(w, name, t->type, 2, ne, buf);
            continue;
        }
        if (variant == FUSED_QKV && (strstr(t->name, ".attn_k.weight") || strstr(t->name, ".attn_v.weight"))) continue;
        st = ag_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
        if (variant == UNTIED && st == AG_OK && strcmp(t->name, "token_embd.weight") == 0)
            st = ag_gguf_add_tensor(w, "output.weight", t->type, t->n_dims, t->ne, t->data);
    }
    if (variant == MTP) {
        /* an MTP block: the attention tensors of the last attention layer
         * under blk.L, plus the nextn tensors */
        char last[16];
        snprintf(last, sizeof(last), "blk.%u.", interval * (n_layer / interval) - 1);
        for (uint64_t i = 0; i < g->n_tensors && st == AG_OK; i++) {
            const ag_gguf_tensor *t = &g->tensors[i];
            if (strncmp(t->name, last, strlen(last)) != 0) continue;
            char name[96];
            snprintf(name, sizeof(name), "blk.%u.%s", n_layer, t->name + strlen(last));
            st = ag_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data);
        }
        const ag_gguf_tensor *norm = find(g, "output_norm.weight");
        const char *nn[] = {"enorm", "hnorm", "shared_head_norm"};
        for (int k = 0; k < 3 && st == AG_OK; k++) {
            char name[96];
            snprintf(name, sizeof(name), "blk.%u.nextn.%s.weight", n_layer, nn[k]);
            st = ag_gguf_add_tensor(w, name, norm->type, 1, norm->ne, norm->data);
        }
    }
    if (st == AG_OK) st = ag_gguf_write_file(w, OUT, 32);
    ag_gguf_writer_free(w);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return st;
}

int main(void)
{
    ag_synth_params sp = ag_synth_default_params();
    sp.seed = 42;
    sp.n_layer = 6;
    sp.full_attn_interval = 3;
    CHECK(ag_synth_write(&sp, BASE) == AG_OK, "synth: %s", ag_last_error());
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = 11 + 97 * i;
    int V = 0, V2 = 0;
    float *ref = logits_of(BASE, tok, &V);
    CHECK(ref != NULL, "base logits");
    ag_gguf *g = NULL;
    CHECK(ag_gguf_open(BASE, true, &g) == AG_OK, "open base: %s", ag_last_error());
    static const char *names[] = {"MTP block", "recurrent_layers flags", "fused qkv", "untied output"};
    for (int v = 0; ref && g && v < 4; v++) {
        ag_status st = rewrite(g, v, 6, 3);
        CHECK(st == AG_OK, "%s: rewrite: %s", names[v], ag_last_error());
        float *got = logits_of(OUT, tok, &V2);
        CHECK(got != NULL && V2 == V, "%s: logits", names[v]);
        if (!got) continue;
        double maxd = 0;
        for (size_t i = 0; i < (size_t)N_TOK * V; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (d > maxd) maxd = d;
        }
        printf("%-24s max |diff| %.3g\n", names[v], maxd);
        CHECK(maxd < 1e-4, "%s: logits differ by %g", names[v], maxd);
        free(got);
    }
    ag_gguf_close(g);
    free(ref);
    remove(BASE);
    remove(OUT);
    return REPORT();
}
