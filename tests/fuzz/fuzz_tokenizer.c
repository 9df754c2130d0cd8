/* fuzz_tokenizer.c: arbitrary bytes through the tokenizer and back.
 *
 * Inputs starting with the GGUF magic are instead opened as a GGUF and given
 * to ag_vocab_load (a hostile vocabulary must fail cleanly or work: every
 * token's piece within max_piece, tokenization ids in range, valid UTF-8 out
 * of the detokenizer); the seed for that is a small vocabulary written here
 * with every token type, special prefixes and non-token merge halves.
 *
 * With the Qwen2 vocabulary + qwen35 pre-tokenizer fixture (loaded once),
 * every input is tokenized with parse_special off and on, and each result is
 * detokenized twice: piece by piece (must give back the input byte for byte,
 * control tokens rendered as text) and through the streaming detokenizer
 * (every chunk must be valid UTF-8; for valid UTF-8 input the chunks must
 * concatenate to the input). Any violation aborts, which the driver (or
 * libFuzzer) reports with the input saved. Seeds: the fixture test strings
 * plus a few hand-made inputs (chat markup, broken UTF-8, mark runs). */
#include "core/status.h"
#include "gguf/gguf.h"
#include "tokenizer/detok.h"
#include "tokenizer/vocab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ag_fuzz_seed_files[] = {
    AG_SHARED_DIR "/fixtures/vocab/ggml-vocab-qwen35.gguf.inp",
    AG_SHARED_DIR "/fixtures/vocab/ggml-vocab-qwen2.gguf.inp",
    NULL,
};

void ag_fuzz_seeds(void (*add)(void *ctx, const uint8_t *data, size_t size), void *ctx)
{
    static const char *const seeds[] = {
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|<|im_end|>|> [PAD151700][PAD1517 <|endoftext|>",
        "\xff\xfe\xc3\xe2\x82\xf0\x9f\x98\x80\x80\xed\xa0\x80\xc0\x80'\xcc\x81\xf8\x88\x80\x80\x80",
        "e\xcc\x81\xcc\x81\xcc\x81 ' \xcc\x81 1\xcc\x81 \n\xcc\x81 's 'LL 'Ve\r\n\r\n  \t x",
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 \xe4\xbd\xa0\xe5\xa5\xbd 123 \xc2\xbd \xe2\x80\xa8 \xc2\x85",
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        add(ctx, (const uint8_t *)seeds[i], strlen(seeds[i]));

    /* a small vocabulary GGUF (the writer only writes files: go through /tmp) */
    static const char *const toks[] = {"a", "b", "ab", "\xc4\xa0", ("\xc4\xa0" "a"), "<|im_end|>", "<|im_start|>",
                                       "<think>", "<th", "[PAD9]", "\xc3\xa9", "c"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 3, 3, 4, 4, 5, 6, 2};
    static const char *const merges[] = {"a b", "\xc4\xa0 a", "ab a", "x y", "\xc3 \xa9"};
    char path[] = "/tmp/ag_fuzz_tokenizer_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    ag_gguf_writer *w = ag_gguf_writer_create();
    if (!w) return;
    ag_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    ag_gguf_set_str(w, "tokenizer.ggml.pre", "qwen35");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 12);
    ag_gguf_set_arr(w, "tokenizer.ggml.token_type", AG_GGUF_I32, types, 12);
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 5);
    ag_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 5);
    ag_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 6);
    if (ag_gguf_write_file(w, path, 0) == AG_OK) {
        FILE *f = fopen(path, "rb");
        uint8_t buf[4096];
        size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
        if (f) fclose(f);
        if (n) add(ctx, buf, n);
    }
    ag_gguf_writer_free(w);
    remove(path);
}

#define FUZZ_CHECK(cond, what)                                                          \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_tokenizer: %s (%s:%d) %s\n", what, __FILE__, __LINE__, \
                    ag_last_error());                                                   \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static ag_gguf *gguf;
static ag_vocab *vocab;

static void load_once(void)
{
    if (vocab) return;
    const char *path = AG_SHARED_DIR "/fixtures/vocab/ggml-vocab-qwen35.gguf";
    FUZZ_CHECK(ag_gguf_open(path, true, &gguf) == AG_OK, "cannot open the vocab fixture");
    FUZZ_CHECK(ag_vocab_load(gguf, &vocab) == AG_OK, "cannot load the vocab fixture");
}

static bool is_valid_utf8(const char *s, size_t n, char *tmp)
{
    size_t used, k = ag_utf8_sanitize((const uint8_t *)s, n, true, tmp, &used);
    return k == n && memcmp(tmp, s, n) == 0;
}

/* A GGUF input: load it as a vocabulary; if that works, use it. */
static void fuzz_vocab_file(const uint8_t *data, size_t size)
{
    ag_gguf *g = NULL;
    ag_vocab *v = NULL;
    if (ag_gguf_open_memory(data, size, "<fuzz>", &g) != AG_OK) return;
    if (ag_vocab_load(g, &v) == AG_OK) {
        int32_t n_tok = ag_vocab_n_tokens(v);
        size_t max_piece = ag_vocab_max_piece(v);
        char *piece = malloc(max_piece + 1);
        FUZZ_CHECK(piece != NULL, "out of memory");
        for (int32_t t = 0; t < n_tok && t < 4096; t++) {
            size_t k;
            FUZZ_CHECK(ag_vocab_piece(v, t, true, piece, max_piece, &k) == AG_OK && k <= max_piece,
                       "piece longer than max_piece");
        }
        static const char text[] = "ab aba <|im_start|>a\xc3\xa9<think><th [PAD9] \xff\xc3 abab  \n\n c";
        int32_t ids[sizeof(text)];
        ag_detok *d = NULL;
        FUZZ_CHECK(ag_vocab_detok_create(v, true, &d) == AG_OK, "detok_create failed");
        size_t cap = ag_detok_max_piece(d);
        char *chunk = malloc(cap);
        char *tmp = malloc(3 * cap + 1);
        FUZZ_CHECK(chunk && tmp, "out of memory");
        for (int special = 0; special < 2; special++) {
            size_t n;
            FUZZ_CHECK(ag_vocab_tokenize(v, text, sizeof(text) - 1, special, ids, sizeof(text), &n) == AG_OK &&
                           n < sizeof(text), "tokenize failed on a loaded vocab");
            for (size_t i = 0; i <= n; i++) {
                size_t k;
                FUZZ_CHECK(i == n || (ids[i] >= 0 && ids[i] < n_tok), "token out of range");
                ag_status st = i < n ? ag_detok_push(d, ids[i], chunk, cap, &k) : ag_detok_flush(d, chunk, cap, &k);
                FUZZ_CHECK(st == AG_OK && is_valid_utf8(chunk, k, tmp), "detok output not valid UTF-8");
            }
        }
        free(chunk);
        free(tmp);
        free(piece);
        ag_detok_free(d);
    }
    ag_vocab_free(v);
    ag_gguf_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        fuzz_vocab_file(data, size);
        return 0;
    }
    load_once();
    /* every token consumes at least one byte, so size + 1 ids always fit */
    int32_t *tok = malloc((size + 1) * sizeof(*tok));
    size_t max_piece = ag_vocab_max_piece(vocab);
    char *back = malloc(size + max_piece + 1);
    char *tmp = malloc(3 * (size + max_piece + 4) + 1);
    FUZZ_CHECK(tok && back && tmp, "out of memory");
    bool input_valid = is_valid_utf8((const char *)data, size, tmp);

    for (int special = 0; special < 2; special++) {
        size_t n;
        ag_status st = ag_vocab_tokenize(vocab, (const char *)data, size, special, tok, size + 1, &n);
        FUZZ_CHECK(st == AG_OK && n <= size, "tokenize failed");

        /* piece by piece: the exact input back */
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k;
            FUZZ_CHECK(tok[i] >= 0 && tok[i] < ag_vocab_n_tokens(vocab), "token out of range");
            st = ag_vocab_piece(vocab, tok[i], true, back + o, size + max_piece - o, &k);
            FUZZ_CHECK(st == AG_OK, "piece failed");
            o += k;
            FUZZ_CHECK(o <= size, "decoded text longer than the input");
        }
        FUZZ_CHECK(o == size && memcmp(back, data, size) == 0, "decode(encode(x)) != x");

        /* streaming: valid chunks, and the input back when it was valid */
        ag_detok *d;
        FUZZ_CHECK(ag_vocab_detok_create(vocab, true, &d) == AG_OK, "detok_create failed");
        size_t cap = ag_detok_max_piece(d);
        char *chunk = malloc(cap);
        char *all = malloc(3 * size + 4);
        FUZZ_CHECK(chunk && all, "out of memory");
        o = 0;
        for (size_t i = 0; i <= n; i++) {
            size_t k;
            st = i < n ? ag_detok_push(d, tok[i], chunk, cap, &k) : ag_detok_flush(d, chunk, cap, &k);
            FUZZ_CHECK(st == AG_OK && chunk[k] == 0, "detok push failed");
            FUZZ_CHECK(is_valid_utf8(chunk, k, tmp), "detok chunk is not valid UTF-8");
            FUZZ_CHECK(o + k <= 3 * size + 3, "detok output too long");
            memcpy(all + o, chunk, k);
            o += k;
        }
        if (input_valid) FUZZ_CHECK(o == size && memcmp(all, data, size) == 0, "streamed text != input");
        free(chunk);
        free(all);
        ag_detok_free(d);
    }
    free(tok);
    free(back);
    free(tmp);
    return 0;
}
