/* test_tokenizer.c: the byte-level BPE tokenizer against llama.cpp's fixtures.
 *
 * Checks, on the vocab-only GGUFs in fixtures/vocab (internal API, no model):
 *   - every test string of ggml-vocab-qwen35.gguf.inp / qwen2 gives exactly the
 *     ids of the .out file (parse_special off, no BOS);
 *   - decode(encode(s)) == s for them, and streaming detokenization one token
 *     at a time gives valid UTF-8 chunks whose concatenation is s;
 *   - special tokens: control tokens only with parse_special, user-defined
 *     tokens always, EOG / control / eos / find;
 *   - invalid UTF-8 and random bytes never crash and round-trip byte for byte;
 *   - long inputs (100 KB single piece, 100 KB of text, many '<|') are fast;
 *   - the synthetic vocab of tiny-f32.gguf loads; malformed vocabularies fail
 *     with the documented status and a message naming the problem;
 *   - texts the vocab stores decoded or as they are (outside the byte
 *     alphabet, overlong, invalid, empty, duplicated) give the same pieces,
 *     find results and ids as the file's texts. */
#include "harness.h"

#include "airgap.h"
#include "core/status.h"
#include "gguf/gguf.h"
#include "tokenizer/detok.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/vocab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

static ag_vocab *load_vocab(const char *path, ag_gguf **g)
{
    *g = NULL;
    ag_vocab *v = NULL;
    ag_status st = ag_gguf_open(path, true, g);
    CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
    if (st) return NULL;
    st = ag_vocab_load(*g, &v);
    CHECK(st == AG_OK, "vocab %s: %s", path, ag_last_error());
    return v;
}

/* Tokenizes into a malloc'ed array. */
static int32_t *tok(const ag_vocab *v, const char *s, size_t n, bool special, size_t *n_out)
{
    size_t need = 0;
    ag_status st = ag_vocab_tokenize(v, s, n, special, NULL, 0, &need);
    CHECK(st == AG_OK || st == AG_ERR_BUFFER_TOO_SMALL, "tokenize size query: %s", ag_last_error());
    int32_t *t = malloc((need + 1) * sizeof(*t));
    st = ag_vocab_tokenize(v, s, n, special, t, need, n_out);
    CHECK(st == AG_OK && *n_out == need, "tokenize: %s", ag_last_error());
    return t;
}

/* Concatenated pieces of tokens (malloc'ed, NUL-terminated). */
static char *detok_all(const ag_vocab *v, const int32_t *t, size_t n, bool special, size_t *len)
{
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        char buf[1024];
        size_t k;
        ag_status st = ag_vocab_piece(v, t[i], special, buf, sizeof(buf), &k);
        CHECK(st == AG_OK, "piece %d: %s", t[i], ag_last_error());
        if (st) continue;
        while (o + k + 1 > cap) s = realloc(s, cap *= 2);
        memcpy(s + o, buf, k);
        o += k;
    }
    s[o] = 0;
    *len = o;
    return s;
}

static bool valid_utf8(const char *s, size_t n)
{
    char *tmp = malloc(3 * n + 1);
    size_t used, k = ag_utf8_sanitize((const uint8_t *)s, n, true, tmp, &used);
    bool ok = k == n && memcmp(tmp, s, n) == 0;
    free(tmp);
    return ok;
}

/* Streams t through a detokenizer one token at a time; returns the text. */
static char *stream(const ag_vocab *v, const int32_t *t, size_t n, size_t *len, bool *chunks_valid)
{
    ag_detok *d = NULL;
    ag_status st = ag_vocab_detok_create(v, false, &d);
    CHECK(st == AG_OK, "detok_create: %s", ag_last_error());
    size_t cap = ag_detok_max_piece(d);
    char *buf = malloc(cap);
    size_t all_cap = 64, o = 0;
    char *all = malloc(all_cap);
    *chunks_valid = true;
    for (size_t i = 0; i <= n; i++) {
        size_t k;
        st = i < n ? ag_detok_push(d, t[i], buf, cap, &k) : ag_detok_flush(d, buf, cap, &k);
        CHECK(st == AG_OK, "detok push: %s", ag_last_error());
        if (st) continue;
        CHECK(buf[k] == 0 && strlen(buf) <= k, "detok chunk is NUL-terminated");
        if (!valid_utf8(buf, k)) *chunks_valid = false;
        while (o + k + 1 > all_cap) all = realloc(all, all_cap *= 2);
        memcpy(all + o, buf, k);
        o += k;
    }
    all[o] = 0;
    *len = o;
    free(buf);
    ag_detok_free(d);
    return all;
}

static void check_roundtrip(const ag_vocab *v, const char *s, size_t n, const char *what)
{
    size_t nt, len, slen;
    bool chunks_valid;
    int32_t *t = tok(v, s, n, false, &nt);
    char *back = detok_all(v, t, nt, false, &len);
    CHECK(len == n && memcmp(back, s, n) == 0, "%s: decode(encode(s)) != s (%zu vs %zu bytes)", what, len, n);
    if (valid_utf8(s, n)) {
        char *st = stream(v, t, nt, &slen, &chunks_valid);
        CHECK(chunks_valid, "%s: a streamed chunk is not valid UTF-8", what);
        CHECK(slen == n && memcmp(st, s, n) == 0, "%s: streamed text differs", what);
        free(st);
    }
    free(back);
    free(t);
}

/* Runs one fixture pair; returns the number of matching lines. */
static void run_fixture(const char *name, int want_tests)
{
    char path[400], inp_path[512], out_path[512];
    snprintf(path, sizeof(path), "%s/fixtures/vocab/%s", AG_SHARED_DIR, name);
    snprintf(inp_path, sizeof(inp_path), "%s.inp", path);
    snprintf(out_path, sizeof(out_path), "%s.out", path);
    double t0 = now();
    ag_gguf *g;
    ag_vocab *v = load_vocab(path, &g);
    double t1 = now();
    if (!v) {
        ag_gguf_close(g);
        return;
    }
    printf("%s: %d tokens, loaded in %.0f ms (gguf+vocab)\n", name, ag_vocab_n_tokens(v), (t1 - t0) * 1e3);

    size_t ni, no;
    char *inp = read_file(inp_path, &ni), *out = read_file(out_path, &no);
    CHECK(inp && out, "read %s / .out", inp_path);
    if (!inp || !out) goto done;

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof(sep) - 1;
    char *ip = inp, *op = out;
    int n_tests = 0, n_ok = 0;
    for (;;) {
        char *e = strstr(ip, sep);
        if (!e) break;
        char *eol = strchr(op, '\n');
        CHECK(eol != NULL, "%s: .out has fewer lines than tests", name);
        if (!eol) break;
        *eol = 0;
        int32_t want[4096];
        size_t n_want = 0;
        for (char *q = strtok(op, " "); q && n_want < 4096; q = strtok(NULL, " ")) want[n_want++] = atoi(q);
        op = eol + 1;

        size_t nt;
        int32_t *got = tok(v, ip, (size_t)(e - ip), false, &nt);
        bool same = nt == n_want && memcmp(got, want, nt * sizeof(*got)) == 0;
        CHECK(same, "%s test %d ('%.40s'): ids differ", name, n_tests, ip);
        if (!same) {
            fprintf(stderr, "  got :");
            for (size_t i = 0; i < nt; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n  want:");
            for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n");
        }
        n_ok += same;
        n_tests++;
        free(got);
        check_roundtrip(v, ip, (size_t)(e - ip), name);
        ip = e + sep_len;
    }
    printf("%s: %d/%d lines match\n", name, n_ok, n_tests);
    CHECK(n_tests == want_tests, "%s: %d tests, expected %d", name, n_tests, want_tests);
    CHECK(n_ok == n_tests, "%s: %d of %d lines match", name, n_ok, n_tests);
done:
    free(inp);
    free(out);
    ag_vocab_free(v);
    ag_gguf_close(g);
}

static bool ids_are(const ag_vocab *v, const char *s, bool special, const int32_t *want, size_t n_want)
{
    size_t n;
    int32_t *t = tok(v, s, strlen(s), special, &n);
    bool ok = n == n_want && memcmp(t, want, n * sizeof(*t)) == 0;
    if (!ok) {
        fprintf(stderr, "  '%s' (special=%d) gave:", s, special);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", t[i]);
        fprintf(stderr, "\n");
    }
    free(t);
    return ok;
}

static bool contains(const int32_t *t, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] == id) return true;
    return false;
}

static void test_qwen35_specials(const ag_vocab *v)
{
    const int32_t endoftext = 151643, im_start = 151644, im_end = 151645;
    CHECK(ag_vocab_find(v, "<|im_start|>") == im_start, "find <|im_start|>");
    CHECK(ag_vocab_find(v, "Hello") == 9707, "find Hello");
    CHECK(ag_vocab_find(v, "no such token text") == -1, "find missing");
    CHECK(ag_vocab_eos(v) == endoftext, "eos");
    CHECK(ag_vocab_is_eog(v, endoftext) && ag_vocab_is_eog(v, im_end), "eog set");
    CHECK(!ag_vocab_is_eog(v, im_start) && !ag_vocab_is_eog(v, 9707) && !ag_vocab_is_eog(v, -1) &&
              !ag_vocab_is_eog(v, 1 << 30), "non-eog");
    CHECK(ag_vocab_is_control(v, im_start) && !ag_vocab_is_control(v, 9707), "control");

    const char *chat = "<|im_start|>user\nHello<|im_end|>";
    const int32_t want[] = {im_start, 872, 198, 9707, im_end};
    CHECK(ids_are(v, chat, true, want, 5), "chat with parse_special");
    size_t n;
    int32_t *t = tok(v, chat, strlen(chat), false, &n);
    CHECK(n > 5 && !contains(t, n, im_start) && !contains(t, n, im_end), "chat without parse_special is text");
    free(t);
    check_roundtrip(v, chat, strlen(chat), "chat as text");

    /* control pieces render only with special=true */
    char buf[64];
    size_t k;
    CHECK(ag_vocab_piece(v, im_end, false, buf, sizeof(buf), &k) == AG_OK && k == 0, "control piece hidden");
    CHECK(ag_vocab_piece(v, im_end, true, buf, sizeof(buf), &k) == AG_OK && k == 10 &&
              memcmp(buf, "<|im_end|>", 10) == 0, "control piece shown");
    CHECK(ag_vocab_piece(v, 9707, false, buf, 3, &k) == AG_ERR_BUFFER_TOO_SMALL && k == 5, "piece too small");
    CHECK(ag_vocab_piece(v, -1, false, buf, sizeof(buf), &k) == AG_ERR_INVALID_ARG, "piece bad id");
    CHECK(ag_vocab_piece(v, 151936, false, buf, sizeof(buf), &k) == AG_ERR_INVALID_ARG, "piece id = n");
    CHECK(ag_vocab_max_piece(v) >= 10 && ag_vocab_max_piece(v) <= 256, "max piece %zu", ag_vocab_max_piece(v));

    /* user-defined tokens ([PAD...] in this vocab) match even without parse_special */
    int32_t pad = ag_vocab_find(v, "[PAD151700]");
    CHECK(pad == 151700, "find [PAD151700]");
    const int32_t want_pad[] = {9707, 151700, 9707};
    CHECK(ids_are(v, "Hello[PAD151700]Hello", false, want_pad, 3), "user-defined always matched");

    /* adjacent and overlapping special texts */
    const int32_t want2[] = {im_start, im_start, im_end};
    CHECK(ids_are(v, "<|im_start|><|im_start|><|im_end|>", true, want2, 3), "adjacent specials");
    t = tok(v, "<|im_start|<|im_end|>|>", 23, true, &n);
    CHECK(n >= 2 && contains(t, n, im_end) && !contains(t, n, im_start), "special inside broken special");
    free(t);

    /* too small output buffer reports the count */
    int32_t small[2];
    CHECK(ag_vocab_tokenize(v, chat, strlen(chat), true, small, 2, &n) == AG_ERR_BUFFER_TOO_SMALL && n == 5,
          "tokenize too small: n=%zu", n);
    CHECK(ag_vocab_tokenize(v, "", 0, true, small, 2, &n) == AG_OK && n == 0, "empty text");
    CHECK(ag_vocab_tokenize(v, NULL, 3, true, small, 2, &n) == AG_ERR_INVALID_ARG, "NULL text");
}

static void test_streaming(const ag_vocab *v)
{
    static const char *const texts[] = {
        "\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x87\xaf\xf0\x9f\x87\xb5 emoji", /* 😀👍🏽 🇯🇵 */
        "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "e\xcc\x81 a\xcc\x80\xcc\x81\xcc\x82 \xe0\xa4\xa8\xe0\xa4\xbf \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85",
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x90\x8d\x88 \xe1\x84\x80",
        "\xc2\xa0\xe2\x80\x83\xe3\x80\x80 spaces\xe2\x80\xa8lines\xc2\x85", /* nbsp, em space, ideographic, LS, NEL */
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_roundtrip(v, texts[i], strlen(texts[i]), "multibyte");

    /* invalid bytes inside tokens become U+FFFD; a held-back prefix flushes as one */
    ag_detok *d;
    CHECK(ag_vocab_detok_create(v, false, &d) == AG_OK, "detok create");
    char buf[1024];
    size_t k;
    int32_t b_ff = v->byte_sym[0xFF], b_e4 = v->byte_sym[0xE4], b_bd = v->byte_sym[0xBD], a = v->byte_sym['a'];
    CHECK(ag_detok_push(d, b_ff, buf, sizeof(buf), &k) == AG_OK && k == 3 && memcmp(buf, "\xef\xbf\xbd", 3) == 0,
          "0xFF -> U+FFFD");
    CHECK(ag_detok_push(d, b_e4, buf, sizeof(buf), &k) == AG_OK && k == 0, "lead byte held back");
    CHECK(ag_detok_push(d, b_bd, buf, sizeof(buf), &k) == AG_OK && k == 0, "still incomplete");
    CHECK(ag_detok_push(d, a, buf, sizeof(buf), &k) == AG_OK && k == 4 && memcmp(buf, "\xef\xbf\xbd" "a", 4) == 0,
          "broken sequence -> one U+FFFD, then 'a'");
    CHECK(ag_detok_push(d, b_e4, buf, sizeof(buf), &k) == AG_OK && k == 0, "held back again");
    CHECK(ag_detok_push(d, a, buf, 2, &k) == AG_ERR_BUFFER_TOO_SMALL && k == 4, "push too small reports need");
    CHECK(ag_detok_flush(d, buf, sizeof(buf), &k) == AG_OK && k == 3 && memcmp(buf, "\xef\xbf\xbd", 3) == 0,
          "flush pending -> U+FFFD");
    CHECK(ag_detok_flush(d, buf, sizeof(buf), &k) == AG_OK && k == 0, "flush empty");
    CHECK(ag_detok_push(d, -5, buf, sizeof(buf), &k) == AG_ERR_INVALID_ARG, "push bad token");
    CHECK(ag_detok_max_piece(d) >= 3 * (ag_vocab_max_piece(v) + 3) + 1, "detok bound");
    ag_detok_free(d);

    /* the sanitizer on its own: overlong, surrogate, too large, truncated */
    static const struct { const char *in; const char *out; } cases[] = {
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xed\xa0\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf0\x9f\x98", "\xef\xbf\xbd"},
        {"\xe2\x82\xac\xe2\x82", "\xe2\x82\xac\xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t used, n = ag_utf8_sanitize((const uint8_t *)cases[i].in, strlen(cases[i].in), true, buf, &used);
        CHECK(n == strlen(cases[i].out) && memcmp(buf, cases[i].out, n) == 0, "sanitize case %zu", i);
    }
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_invalid_and_random(const ag_vocab *v)
{
    static const char bad[] = "\xff\xfe abc \xc3 \xe2\x82 \xf0\x9f\x98 \x80\x80 \xed\xa0\x80 \xc0\x80 '\xcc\x81"
                              "\xf8\x88\x80\x80\x80 end\xc3";
    check_roundtrip(v, bad, sizeof(bad) - 1, "invalid utf-8");
    char buf[64];
    static const char alphabet[] = "aZ09 \t\n\r'sSLlvV<|>[]!.,\xc3\xa9\xcc\x81\xe4\xbd\xa0\xf0\x9f\x98\x80\xff\x80";
    for (int iter = 0; iter < 400; iter++) {
        size_t n = rnd() % sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(iter & 1 ? rnd() & 0xFF : (unsigned)alphabet[rnd() % (sizeof(alphabet) - 1)]);
        check_roundtrip(v, buf, n, "random bytes");
        size_t nt;
        int32_t *t = tok(v, buf, n, true, &nt);
        free(t);
    }
}

static void test_long_inputs(const ag_vocab *v)
{
    const size_t n = 100 * 1024;
    char *s = malloc(n + 1);
    struct { const char *name; const char *unit; double limit_s; } cases[] = {
        {"one 100 KB letter run", "a", 2.0},
        {"100 KB of words", "Hello world, this is 42 text! ", 2.0},
        {"100 KB of '<|'", "<|", 2.0},
        {"100 KB of spaces", " ", 2.0},
        {"100 KB of newlines+spaces", "\n ", 2.0},
        {"100 KB of marks", "\xcc\x81", 2.0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t u = strlen(cases[c].unit);
        for (size_t i = 0; i < n; i++) s[i] = cases[c].unit[i % u];
        size_t len = n - n % u;
        double t0 = now();
        size_t nt;
        int32_t *t = tok(v, s, len, true, &nt);
        double dt = now() - t0;
        printf("%s: %zu tokens in %.0f ms\n", cases[c].name, nt, dt * 1e3);
        CHECK(dt < cases[c].limit_s, "%s took %.2f s", cases[c].name, dt);
        size_t blen;
        char *back = detok_all(v, t, nt, false, &blen);
        CHECK(blen == len && memcmp(back, s, len) == 0, "%s: round trip", cases[c].name);
        free(back);
        free(t);
    }
    free(s);
}

static void test_tiny(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/fixtures/qwen35-tiny/tiny-f32.gguf", AG_SHARED_DIR);
    ag_gguf *g;
    ag_vocab *v = load_vocab(path, &g);
    if (v) {
        CHECK(ag_vocab_n_tokens(v) == 2048, "tiny: n_tokens %d", ag_vocab_n_tokens(v));
        CHECK(ag_vocab_eos(v) == 2047 && ag_vocab_is_eog(v, 2047) && ag_vocab_is_eog(v, 2045), "tiny: eog");
        CHECK(ag_vocab_find(v, "<|im_start|>") == 2046 && ag_vocab_is_control(v, 2046), "tiny: im_start");
        const int32_t want[] = {2046, 425, 2047};
        CHECK(ids_are(v, "<|im_start|><|filler_425|><|im_end|>", true, want, 3), "tiny: specials");
        size_t n;
        int32_t *t = tok(v, "<|filler_425|>", 14, false, &n);
        CHECK(n == 1 && t[0] == 425, "tiny: user-defined without parse_special");
        free(t);
        const char *text = "the rain in spain stays mainly in the plain, 12345 times!\n";
        check_roundtrip(v, text, strlen(text), "tiny");
        t = tok(v, text, strlen(text), false, &n);
        CHECK(n < strlen(text), "tiny: merges apply (%zu tokens for %zu bytes)", n, strlen(text));
        free(t);
    }
    ag_vocab_free(v);
    ag_gguf_close(g);
}

/* The airgap.h calls on a vocab-only model (thin wrappers over the above). */
static void test_public_api(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/fixtures/vocab/ggml-vocab-qwen35.gguf", AG_SHARED_DIR);
    ag_model_params mp = ag_model_default_params();
    mp.vocab_only = true;
    ag_model *m = NULL;
    ag_status st = ag_model_load(path, &mp, &m);
    CHECK(st == AG_OK, "vocab-only model: %s", ag_last_error());
    if (st) return;
    const char *chat = "<|im_start|>user\nHello<|im_end|>";
    int32_t t[16];
    size_t n;
    CHECK(ag_tokenize(m, chat, strlen(chat), true, t, 16, &n) == AG_OK && n == 5 && t[0] == 151644 && t[3] == 9707,
          "ag_tokenize");
    CHECK(ag_tokenize(m, chat, strlen(chat), true, t, 1, &n) == AG_ERR_BUFFER_TOO_SMALL && n == 5,
          "ag_tokenize too small");
    char buf[64];
    CHECK(ag_token_to_piece(m, 9707, false, buf, sizeof(buf), &n) == AG_OK && n == 5 && memcmp(buf, "Hello", 5) == 0,
          "ag_token_to_piece");
    CHECK(ag_token_is_eog(m, 151645) && !ag_token_is_eog(m, 9707), "ag_token_is_eog");
    CHECK(ag_token_is_control(m, 151644) && !ag_token_is_control(m, 9707), "ag_token_is_control");
    CHECK(ag_token_eos(m) == 151643 && ag_token_find(m, "Hello") == 9707 && ag_token_find(m, "zzqq\x01") == -1,
          "ag_token_eos / find");
    ag_detok *d = NULL;
    CHECK(ag_detok_create(m, true, &d) == AG_OK, "ag_detok_create");
    char out[1024];
    size_t k, o = 0;
    char all[128];
    for (int i = 0; i < 5; i++) {
        CHECK(ag_detok_push(d, t[i], out, sizeof(out), &k) == AG_OK, "ag_detok_push");
        memcpy(all + o, out, k);
        o += k;
    }
    CHECK(ag_detok_flush(d, out, sizeof(out), &k) == AG_OK && k == 0, "ag_detok_flush");
    CHECK(o == strlen(chat) && memcmp(all, chat, o) == 0, "public detok with special=true");
    ag_detok_free(d);
    ag_model_free(m);

    CHECK(ag_tokenize(NULL, "x", 1, false, t, 16, &n) == AG_ERR_INVALID_ARG && n == 0, "NULL model tokenize");
    CHECK(ag_token_to_piece(NULL, 0, false, buf, sizeof(buf), &n) == AG_ERR_INVALID_ARG, "NULL model piece");
    CHECK(!ag_token_is_eog(NULL, 0) && !ag_token_is_control(NULL, 0) && ag_token_eos(NULL) == -1 &&
              ag_token_find(NULL, "x") == -1, "NULL model predicates");
    CHECK(ag_detok_create(NULL, false, &d) == AG_ERR_INVALID_ARG && d == NULL, "NULL model detok");
    ag_detok_free(NULL);
}

/* ---- malformed vocabularies ---- */

typedef struct bad_vocab {
    const char *model, *pre;
    int n_types;          /* entries in token_type (-1: omit the key) */
    int type_value;       /* value of the last type entry */
    const char *merge;    /* the extra merge string (NULL: none) */
    int64_t eos;
    bool omit_merges;
    int n_junk;           /* extra merges of texts that are not tokens */
} bad_vocab;

static ag_status try_vocab(const bad_vocab *b)
{
    static const char *const toks[] = {"a", "b", "ab", "<|im_end|>", "\xc4\xa0"};
    const char *merges[2 + 200] = {"a b", b->merge};
    char junk[200][16];
    int n_merges = b->merge ? 2 : 1;
    for (int i = 0; i < b->n_junk && i < 200; i++) {
        snprintf(junk[i], sizeof(junk[i]), "x%d y%d", i, i % 7);
        merges[n_merges++] = junk[i];
    }
    int32_t types[5] = {1, 1, 1, 3, 1};
    if (b->n_types > 0) types[b->n_types - 1] = b->type_value;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/ag_test_tokenizer_%d.gguf", (int)getpid());
    ag_gguf_writer *w = ag_gguf_writer_create();
    if (b->model) ag_gguf_set_str(w, "tokenizer.ggml.model", b->model);
    if (b->pre) ag_gguf_set_str(w, "tokenizer.ggml.pre", b->pre);
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    if (b->n_types >= 0) ag_gguf_set_arr(w, "tokenizer.ggml.token_type", AG_GGUF_I32, types, (uint64_t)b->n_types);
    if (!b->omit_merges) ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
    if (b->eos != -1) ag_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)b->eos);
    ag_status st = ag_gguf_write_file(w, path, 0);
    ag_gguf_writer_free(w);
    CHECK(st == AG_OK, "write test gguf: %s", ag_last_error());
    ag_gguf *g = NULL;
    st = ag_gguf_open(path, false, &g);
    CHECK(st == AG_OK, "open test gguf: %s", ag_last_error());
    ag_vocab *v = NULL;
    if (!st) st = ag_vocab_load(g, &v);
    if (!st) {
        size_t n;
        int32_t t[8];
        CHECK(ag_vocab_tokenize(v, "ab a", 4, true, t, 8, &n) == AG_OK && n == 3 && t[0] == 2, "mini vocab tokenizes");
        if (b->merge && strcmp(b->merge, "ab a") == 0) /* "aba" is no token: its bytes are emitted */
            CHECK(ag_vocab_tokenize(v, "aba", 3, true, t, 8, &n) == AG_OK && n == 3 && t[0] == 0 && t[1] == 1 &&
                      t[2] == 0, "merge result missing from the vocab falls back to bytes");
    }
    ag_vocab_free(v);
    ag_gguf_close(g);
    remove(path);
    return st;
}

static void test_malformed(void)
{
    bad_vocab ok = {"gpt2", "qwen35", 5, 1, NULL, 3, false, 0};
    bad_vocab b;
    CHECK(try_vocab(&ok) == AG_OK, "good mini vocab: %s", ag_last_error());
    b = ok, b.pre = NULL;
    CHECK(try_vocab(&b) == AG_OK, "missing pre reads as qwen2: %s", ag_last_error());
    b = ok, b.model = "llama";
    CHECK(try_vocab(&b) == AG_ERR_UNSUPPORTED && strstr(ag_last_error(), "llama"), "model llama: %s",
          ag_last_error());
    b = ok, b.model = NULL;
    CHECK(try_vocab(&b) == AG_ERR_FORMAT, "no model: %s", ag_last_error());
    b = ok, b.pre = "gpt-4o";
    CHECK(try_vocab(&b) == AG_ERR_UNSUPPORTED && strstr(ag_last_error(), "gpt-4o"), "pre gpt-4o: %s",
          ag_last_error());
    b = ok, b.merge = "ab";
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "merge 1"), "merge without space: %s",
          ag_last_error());
    b = ok, b.merge = "a ";
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "merge 1"), "merge with empty half: %s",
          ag_last_error());
    b = ok, b.merge = " a";
    CHECK(try_vocab(&b) == AG_ERR_FORMAT, "merge ' a' (space at 0 is part of A): %s", ag_last_error());
    b = ok, b.merge = "x y";
    CHECK(try_vocab(&b) == AG_OK, "merge of unknown texts is harmless: %s", ag_last_error());
    b = ok, b.merge = "ab a", b.n_junk = 150;
    CHECK(try_vocab(&b) == AG_OK, "many non-token merge halves (symbol table growth): %s", ag_last_error());
    b = ok, b.n_types = 4;
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "token_type"), "short token_type: %s",
          ag_last_error());
    b = ok, b.type_value = 9;
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "token 4"), "bad type value: %s",
          ag_last_error());
    b = ok, b.n_types = -1;
    CHECK(try_vocab(&b) == AG_OK, "token_type is optional: %s", ag_last_error());
    b = ok, b.eos = 5;
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "eos_token_id"), "eos out of range: %s",
          ag_last_error());
    b = ok, b.omit_merges = true;
    CHECK(try_vocab(&b) == AG_ERR_FORMAT && strstr(ag_last_error(), "merges"), "no merges: %s", ag_last_error());
}

/* Texts the vocabulary keeps decoded, kept as they are, and duplicates:
 * pieces, find and tokenization must behave as if the file's texts were
 * used directly. */
static void test_stored_forms(void)
{
    static const char *const toks[] = {
        "a", "b", "ab",
        "\xe4\xbd\xa0",              /* 3: a character outside the byte alphabet */
        "\xc4\xa0",                   /* 4: the GPT-2 space */
        "\xc1\xa1",                   /* 5: an overlong 'a' */
        "\xff",                       /* 6: an invalid byte */
        "<think>",                     /* 7: user-defined */
        "\xc4\xa0x",                  /* 8: user-defined, alphabet characters */
        "ab",                          /* 9: duplicate of 2: find gives the last */
        "",                            /* 10: empty */
        "\xc4\xa0\xe4\xbd\xa0",      /* 11: mixed */
        "<|im_end|>",                  /* 12 */
        "a\x01",                       /* 13: a control byte */
    };
    enum { N = sizeof(toks) / sizeof(toks[0]) };
    const int32_t types[N] = {1, 1, 1, 1, 1, 1, 1, 4, 4, 1, 1, 1, 3, 1};
    static const char *const merges[] = {"a b", "\xc4\xa0 \xe4\xbd\xa0", "ab ab"};
    char path[256];
    snprintf(path, sizeof(path), "/tmp/ag_test_tokenizer_forms_%d.gguf", (int)getpid());
    ag_gguf_writer *w = ag_gguf_writer_create();
    ag_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    ag_gguf_set_str(w, "tokenizer.ggml.pre", "qwen35");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, N);
    ag_gguf_set_arr(w, "tokenizer.ggml.token_type", AG_GGUF_I32, types, N);
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 3);
    CHECK(ag_gguf_write_file(w, path, 0) == AG_OK, "write: %s", ag_last_error());
    ag_gguf_writer_free(w);
    ag_gguf *g;
    ag_vocab *v = load_vocab(path, &g);
    remove(path);
    if (v) {
        static const struct { int32_t id; bool special; const char *piece; } pieces[] = {
            {2, false, "ab"}, {3, false, "\xe4\xbd\xa0"}, {4, false, " "}, {5, false, "a"}, {6, false, "\xff"},
            {7, false, "<think>"}, {8, false, "\xc4\xa0x"}, {10, false, ""}, {11, false, " \xe4\xbd\xa0"},
            {12, false, ""}, {12, true, "<|im_end|>"}, {13, false, "a\x01"},
        };
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            char buf[32];
            size_t k;
            ag_status st = ag_vocab_piece(v, pieces[i].id, pieces[i].special, buf, sizeof(buf), &k);
            CHECK(st == AG_OK && k == strlen(pieces[i].piece) && memcmp(buf, pieces[i].piece, k) == 0,
                  "piece of token %d (special %d)", pieces[i].id, pieces[i].special);
        }
        for (int32_t t = 0; t < N; t++)
            CHECK(ag_vocab_find(v, toks[t]) == (t == 2 ? 9 : t), "find token %d", t);
        CHECK(ag_vocab_find(v, "x") == -1 && ag_vocab_find(v, " ") == -1 && ag_vocab_find(v, "\xc4") == -1,
              "find missing texts");
        CHECK(ag_vocab_is_eog(v, 12) && ag_vocab_is_control(v, 12), "eog");
        CHECK(ag_vocab_max_piece(v) == 10, "max piece %zu", ag_vocab_max_piece(v));
        /* BPE runs on GPT-2 characters: the bytes of U+4F60 have no symbol here */
        const int32_t want_space[] = {4}, want_ab[] = {9}, want_abab[] = {0, 1, 0, 1};
        CHECK(ids_are(v, " \xe4\xbd\xa0", false, want_space, 1), "bytes without symbols");
        CHECK(ids_are(v, "ab", false, want_ab, 1), "merge result is the last duplicate");
        CHECK(ids_are(v, "abab", false, want_abab, 4), "result that is no token falls back to bytes");
        const int32_t want_user[] = {8, 7};
        CHECK(ids_are(v, "\xc4\xa0x<think>", false, want_user, 2), "user-defined texts split by their file text");
    }
    ag_vocab_free(v);
    ag_gguf_close(g);
}

int main(void)
{
    run_fixture("ggml-vocab-qwen35.gguf", 50);
    run_fixture("ggml-vocab-qwen2.gguf", 46);

    char path[512];
    snprintf(path, sizeof(path), "%s/fixtures/vocab/ggml-vocab-qwen35.gguf", AG_SHARED_DIR);
    ag_gguf *g;
    ag_vocab *v = load_vocab(path, &g);
    if (v) {
        test_qwen35_specials(v);
        test_streaming(v);
        test_invalid_and_random(v);
        test_long_inputs(v);
    }
    ag_vocab_free(v);
    ag_gguf_close(g);
    test_tiny();
    test_public_api();
    test_malformed();
    test_stored_forms();
    return REPORT();
}
