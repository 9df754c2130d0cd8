/* test_damaged.c: model loading refuses damaged or lying files cleanly.
 *
 * The GGUF reader's own tests cover the container; this covers what only the
 * model loader can know: hyper-parameters that contradict tensor shapes,
 * missing tensors and keys, wrong key types, absurd values, vocabulary and
 * embedding disagreeing. Each case rewrites the fixture with one lie, then
 * expects a non-OK status and a one-line message naming the culprit. It also
 * truncates the file at many offsets. Run under ASan, this also proves that
 * no failure path leaks or crashes. */
#include "airgap.h"
#include "gguf/gguf.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE AG_SHARED_DIR "/fixtures/qwen35-tiny/tiny-q4_k_m.gguf"
#define OUT "test_damaged.gguf"

typedef struct {
    const char *what;
    const char *key;        /* key to change or drop */
    int op;                 /* 0 drop key, 1 set u32, 2 set f32, 3 set string, 4 drop tensor, 5 set i32 array */
    double value;
    const char *str;
    const char *expect;     /* substring of the error message */
} lie;

static const lie lies[] = {
    {"wider embedding", "qwen35.embedding_length", 1, 512, NULL, "shape"},
    {"more blocks than tensors", "qwen35.block_count", 1, 100, NULL, "blk.4"},
    {"zero heads", "qwen35.attention.head_count", 1, 0, NULL, "head_count"},
    {"kv heads not dividing", "qwen35.attention.head_count_kv", 1, 3, NULL, "head_count"},
    {"inner size not a multiple", "qwen35.ssm.inner_size", 1, 255, NULL, "inner_size"},
    {"negative epsilon", "qwen35.attention.layer_norm_rms_epsilon", 2, -1, NULL, "epsilon"},
    {"missing conv kernel", "qwen35.ssm.conv_kernel", 0, 0, NULL, "ssm.conv_kernel"},
    {"missing merges", "tokenizer.ggml.merges", 0, 0, NULL, "merges"},
    {"unknown architecture", "general.architecture", 3, 0, "llama", "llama"},
    {"unknown tokenizer", "tokenizer.ggml.model", 3, 0, "sentencepiece", "sentencepiece"},
    {"block count as string", "qwen35.block_count", 3, 0, "four", "block_count"},
    {"missing tensor", "blk.2.ssm_a", 4, 0, NULL, "blk.2.ssm_a"},
    {"missing embedding", "token_embd.weight", 4, 0, NULL, "token_embd"},
    {"absurd context", "qwen35.embedding_length", 1, 4294967295.0, NULL, "embedding_length"},
    {"absurd conv kernel", "qwen35.ssm.conv_kernel", 1, 1000000, NULL, "conv_kernel"},
    {"wrong sections count", "qwen35.rope.dimension_sections", 5, 2, NULL, "dimension_sections"},
};

static ag_status rewrite(const ag_gguf *g, const lie *l)
{
    ag_gguf_writer *w = ag_gguf_writer_create();
    if (!w) return AG_ERR_NOMEM;
    ag_status st = AG_OK;
    for (uint64_t i = 0; i < g->n_kv && st == AG_OK; i++) {
        const ag_gguf_kv *kv = &g->kv[i];
        if (strcmp(kv->key, l->key) != 0) { st = ag_gguf_set_kv(w, kv); continue; }
        if (l->op == 1) st = ag_gguf_set_u32(w, kv->key, (uint32_t)l->value);
        else if (l->op == 2) st = ag_gguf_set_f32(w, kv->key, (float)l->value);
        else if (l->op == 3) st = ag_gguf_set_str(w, kv->key, l->str);
        else if (l->op == 5) {
            int32_t v[8] = {1, 1, 1, 1, 1, 1, 1, 1};
            st = ag_gguf_set_arr(w, kv->key, AG_GGUF_I32, v, (uint64_t)l->value);
        }
    }
    for (uint64_t i = 0; i < g->n_tensors && st == AG_OK; i++) {
        const ag_gguf_tensor *t = &g->tensors[i];
        if (l->op == 4 && strcmp(t->name, l->key) == 0) continue;
        st = ag_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    if (st == AG_OK) st = ag_gguf_write_file(w, OUT, g->alignment);
    ag_gguf_writer_free(w);
    return st;
}

static void expect_refused(const char *what, const char *expect)
{
    ag_model *m = (ag_model *)1;
    ag_status st = ag_model_load(OUT, NULL, &m);
    const char *msg = ag_last_error();
    CHECK(st != AG_OK, "%s: loaded a damaged file", what);
    CHECK(m == NULL, "%s: out not NULL on failure", what);
    CHECK(msg[0] != 0 && strchr(msg, '\n') == NULL, "%s: message must be one non-empty line: '%s'", what, msg);
    CHECK(!expect || strstr(msg, expect), "%s: message '%s' does not mention '%s'", what, msg, expect);
    if (st == AG_OK) ag_model_free(m);
}

int main(void)
{
    ag_gguf *g = NULL;
    ag_status st = ag_gguf_open(FIXTURE, false, &g);
    CHECK(st == AG_OK, "open fixture: %s", ag_last_error());
    if (st != AG_OK) return REPORT();

    /* control: an unchanged rewrite loads */
    lie same = {"unchanged", "no.such.key", 0, 0, NULL, NULL};
    CHECK(rewrite(g, &same) == AG_OK, "rewrite: %s", ag_last_error());
    ag_model *m = NULL;
    CHECK(ag_model_load(OUT, NULL, &m) == AG_OK, "unchanged rewrite must load: %s", ag_last_error());
    ag_model_free(m);

    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        CHECK(rewrite(g, &lies[i]) == AG_OK, "%s: rewrite: %s", lies[i].what, ag_last_error());
        expect_refused(lies[i].what, lies[i].expect);
    }

    /* truncation at many offsets, through the header and into the data */
    FILE *f = fopen(FIXTURE, "rb");
    CHECK(f != NULL, "open fixture");
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *buf = malloc((size_t)size);
        CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size, "read fixture");
        fclose(f);
        int n_cut = 0;
        for (long cut = 0; cut < size; cut += cut < (long)g->data_offset ? 211 : 40009) {
            FILE *o = fopen(OUT, "wb");
            fwrite(buf, 1, (size_t)cut, o);
            fclose(o);
            char what[64];
            snprintf(what, sizeof(what), "truncated at %ld", cut);
            expect_refused(what, NULL);
            n_cut++;
        }
        printf("truncations tried: %d\n", n_cut);
        free(buf);
    }
    ag_gguf_close(g);
    remove(OUT);
    return REPORT();
}
