/* test_gguf.c: the GGUF reader and writer (src/gguf/).
 *
 * 1. Round trip: a file with every value type and tensors of several types
 *    written by the writer (data pointers and the fill callback, default and
 *    non-default alignment) reads back identically, by mmap and by read().
 *    A real fixture rewritten key by key with ag_gguf_set_kv reads back the same.
 * 2. Fixtures: every shared GGUF opens; spot checks of counts and values.
 *    String arrays are walked with the cursor, released and walked again.
 * 3. Damage: truncation at every byte of a real file's header region (and a
 *    sample of its data section), bad magic and versions, absurd counts,
 *    lying lengths, bad arrays, bad tensor infos, unknown types, bad
 *    alignment. Each must fail with the right status and a one-line message
 *    naming the file and the key or tensor, and never crash or leak (ASan).
 * Hand-made files are built byte by byte with a tiny builder (bb_*) and
 * parsed from exact-size heap copies, so ASan sees any read past the end. */
#include "gguf/gguf.h"
#include "harness.h"
#include "quant/types.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY AG_SHARED_DIR "/fixtures/qwen35-tiny/"
#define VOCAB AG_SHARED_DIR "/fixtures/vocab/"

/* ---- helpers ---- */

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) bb_u8(b, (uint8_t)(v >> (8 * i)));
}
static void bb_u64(bb *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) bb_u8(b, (uint8_t)(v >> (8 * i)));
}
static void bb_str(bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_kv(bb *b, const char *key, uint32_t type)
{
    bb_str(b, key);
    bb_u32(b, type);
}
static void bb_pad(bb *b, size_t align)
{
    while (b->n % align) bb_u8(b, 0);
}
static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Parses an exact-size heap copy of p[0..n). */
static ag_status parse_copy(const void *p, size_t n, const char *name, ag_gguf **g)
{
    if (n > ((size_t)1 << 34)) return AG_ERR_INVALID_ARG; /* a test bug */
    uint8_t *c = malloc(n ? n : 1);
    if (n) memcpy(c, p, n);
    ag_status st = ag_gguf_open_memory(c, n, name, g);
    if (st == AG_OK) ag_gguf_close(*g);
    *g = NULL;
    free(c);
    return st;
}

/* Expects the buffer to fail with status want (AG_ERR_FORMAT also accepts
 * nothing else) and a one-line message starting with the name and
 * containing word. */
static void expect_fail_at(const void *p, size_t n, ag_status want, const char *word, const char *label, int line)
{
    ag_gguf *g;
    ag_status st = parse_copy(p, n, "bad.gguf", &g);
    const char *e = ag_last_error();
    CHECK(st == want, "line %d %s: status %d (%s), want %d; error: %s", line, label, st, ag_status_str(st), want, e);
    CHECK(strncmp(e, "bad.gguf: ", 10) == 0, "line %d %s: message does not start with the name: %s", line, label, e);
    CHECK(!strchr(e, '\n'), "line %d %s: message is not one line", line, label);
    if (word) CHECK(strstr(e, word) != NULL, "line %d %s: message lacks '%s': %s", line, label, word, e);
    if (getenv("SHOW_ERRORS")) printf("  %-28s -> %s\n", label, e);
}
#define expect_fail(p, n, want, word, label) expect_fail_at(p, n, want, word, label, __LINE__)

static void expect_ok_at(const void *p, size_t n, const char *label, int line)
{
    ag_gguf *g;
    ag_status st = parse_copy(p, n, "ok.gguf", &g);
    CHECK(st == AG_OK, "line %d %s: status %d: %s", line, label, st, ag_last_error());
}
#define expect_ok(p, n, label) expect_ok_at(p, n, label, __LINE__)

/* ---- 1. round trip ---- */

static uint8_t pattern(uint64_t t, uint64_t j) { return (uint8_t)(t * 131 + j * 7 + (j >> 8) * 13 + 1); }

static bool fill_pattern(void *user, uint64_t i, void *dst, uint64_t n)
{
    int *calls = user;
    (*calls)++;
    for (uint64_t j = 0; j < n; j++) ((uint8_t *)dst)[j] = pattern(i, j);
    return true;
}

static bool fill_abort(void *user, uint64_t i, void *dst, uint64_t n)
{
    (void)user, (void)dst, (void)n;
    return i < 2;
}

typedef struct tdesc {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    bool use_ptr;
} tdesc;

static const tdesc round_tensors[] = {
    {"token_embd.weight", AG_TYPE_F32, 2, {64, 3}, true},
    {"blk.0.attn_norm.weight", AG_TYPE_F16, 1, {32}, false},
    {"blk.0.ffn_up.weight", AG_TYPE_Q4_0, 3, {64, 2, 2}, true},
    {"blk.0.ffn_down.weight", AG_TYPE_Q8_0, 4, {32, 1, 1, 3}, false},
    {"blk.0.attn_q.weight", AG_TYPE_Q4_K, 2, {256, 2}, false},
    {"blk.0.attn_k.weight", AG_TYPE_BF16, 2, {8, 5}, true},
    {"output.weight", AG_TYPE_Q6_K, 2, {512, 1}, false},
};
#define N_ROUND (sizeof(round_tensors) / sizeof(round_tensors[0]))

static uint64_t desc_bytes(const tdesc *d)
{
    const ag_type_traits *tt = ag_type_traits_of(d->type);
    uint64_t n = d->ne[0] / tt->block * tt->bytes;
    for (uint32_t i = 1; i < d->n_dims; i++) n *= d->ne[i];
    return n;
}

static ag_status set_raw(ag_gguf_writer *w, const char *key, uint32_t type, const void *data)
{
    ag_gguf_kv kv = {.key = (char *)key, .type = type, .n = 1, .data = data};
    return ag_gguf_set_kv(w, &kv);
}

static const uint32_t arr_u32[] = {1, 2, 3, 4000000000u};
static const int8_t arr_i8[] = {-128, 0, 127};
static const uint16_t arr_u16[] = {0, 65535};
static const int16_t arr_i16[] = {-32768, 5};
static const uint8_t arr_u8[] = {7};
static const int32_t arr_i32[] = {-1, 2147483647, -2147483647 - 1};
static const float arr_f32[] = {0.5f, -1.25f, 3e10f};
static const uint8_t arr_bool[] = {1, 0, 1};
static const uint64_t arr_u64[] = {0, UINT64_MAX};
static const int64_t arr_i64[] = {INT64_MIN, 42};
static const double arr_f64[] = {0.1, -2.0};
static const char *const arr_strs[] = {"hello", "", "quote\"and\\back", "new\nline", "\xc4\xa0the"};

static void build_writer(ag_gguf_writer *w, uint8_t **buffers, int *fill_calls)
{
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint8_t u16[2] = {0x34, 0x12}, i16[2] = {0xfe, 0xff}; /* 0x1234, -2 */
    uint8_t i64[8], f64[8];
    double f64v = 2.5e-300;
    put_le64(i64, (uint64_t)-1234567890123LL);
    memcpy(f64, &f64v, 8);
    CHECK(ag_gguf_set_str(w, "general.architecture", "qwen35") == AG_OK, "set_str");
    CHECK(ag_gguf_set_u32(w, "t.u32", 4000000000u) == AG_OK, "set_u32");
    CHECK(ag_gguf_set_i32(w, "t.i32", -7) == AG_OK, "set_i32");
    CHECK(ag_gguf_set_u64(w, "t.u64", 1ull << 40) == AG_OK, "set_u64");
    CHECK(ag_gguf_set_f32(w, "t.f32", 1e-6f) == AG_OK, "set_f32");
    CHECK(ag_gguf_set_bool(w, "t.bool", true) == AG_OK, "set_bool");
    CHECK(ag_gguf_set_str(w, "t.empty", "") == AG_OK, "set_str empty");
    CHECK(set_raw(w, "t.u8", AG_GGUF_U8, &u8) == AG_OK, "set_kv u8");
    CHECK(set_raw(w, "t.i8", AG_GGUF_I8, &i8) == AG_OK, "set_kv i8");
    CHECK(set_raw(w, "t.u16", AG_GGUF_U16, u16) == AG_OK, "set_kv u16");
    CHECK(set_raw(w, "t.i16", AG_GGUF_I16, i16) == AG_OK, "set_kv i16");
    CHECK(set_raw(w, "t.i64", AG_GGUF_I64, i64) == AG_OK, "set_kv i64");
    CHECK(set_raw(w, "t.f64", AG_GGUF_F64, f64) == AG_OK, "set_kv f64");
    CHECK(ag_gguf_set_arr(w, "a.u8", AG_GGUF_U8, arr_u8, 1) == AG_OK, "arr u8");
    CHECK(ag_gguf_set_arr(w, "a.i8", AG_GGUF_I8, arr_i8, 3) == AG_OK, "arr i8");
    CHECK(ag_gguf_set_arr(w, "a.u16", AG_GGUF_U16, arr_u16, 2) == AG_OK, "arr u16");
    CHECK(ag_gguf_set_arr(w, "a.i16", AG_GGUF_I16, arr_i16, 2) == AG_OK, "arr i16");
    CHECK(ag_gguf_set_arr(w, "a.u32", AG_GGUF_U32, arr_u32, 4) == AG_OK, "arr u32");
    CHECK(ag_gguf_set_arr(w, "a.i32", AG_GGUF_I32, arr_i32, 3) == AG_OK, "arr i32");
    CHECK(ag_gguf_set_arr(w, "a.f32", AG_GGUF_F32, arr_f32, 3) == AG_OK, "arr f32");
    CHECK(ag_gguf_set_arr(w, "a.bool", AG_GGUF_BOOL, arr_bool, 3) == AG_OK, "arr bool");
    CHECK(ag_gguf_set_arr(w, "a.u64", AG_GGUF_U64, arr_u64, 2) == AG_OK, "arr u64");
    CHECK(ag_gguf_set_arr(w, "a.i64", AG_GGUF_I64, arr_i64, 2) == AG_OK, "arr i64");
    CHECK(ag_gguf_set_arr(w, "a.f64", AG_GGUF_F64, arr_f64, 2) == AG_OK, "arr f64");
    CHECK(ag_gguf_set_arr(w, "a.empty", AG_GGUF_U32, NULL, 0) == AG_OK, "arr empty");
    CHECK(ag_gguf_set_arr_str(w, "a.str", arr_strs, 5) == AG_OK, "arr str");
    CHECK(ag_gguf_set_arr_str(w, "a.str_empty", NULL, 0) == AG_OK, "arr str empty");
    /* replacing keeps the position */
    CHECK(ag_gguf_set_u32(w, "t.replaced", 1) == AG_OK, "set");
    CHECK(ag_gguf_set_u32(w, "t.replaced", 2) == AG_OK, "replace");

    /* bad arguments */
    CHECK(ag_gguf_set_u32(w, "", 1) == AG_ERR_INVALID_ARG, "empty key");
    CHECK(ag_gguf_set_arr(w, "bad", AG_GGUF_STRING, arr_u32, 1) == AG_ERR_INVALID_ARG, "string as numeric array");
    CHECK(ag_gguf_set_arr(w, "bad", AG_GGUF_ARRAY, arr_u32, 1) == AG_ERR_INVALID_ARG, "nested array");

    for (size_t i = 0; i < N_ROUND; i++) {
        const tdesc *d = &round_tensors[i];
        const void *data = NULL;
        if (d->use_ptr) {
            uint64_t n = desc_bytes(d);
            buffers[i] = malloc((size_t)n);
            for (uint64_t j = 0; j < n; j++) buffers[i][j] = pattern(i, j);
            data = buffers[i];
        }
        CHECK(ag_gguf_add_tensor(w, d->name, d->type, d->n_dims, d->ne, data) == AG_OK, "add %s: %s", d->name,
              ag_last_error());
    }
    uint64_t ne[4] = {64, 1, 1, 1};
    CHECK(ag_gguf_add_tensor(w, "token_embd.weight", AG_TYPE_F32, 1, ne, NULL) == AG_ERR_INVALID_ARG, "dup tensor");
    ne[0] = 33;
    CHECK(ag_gguf_add_tensor(w, "x", AG_TYPE_Q4_0, 1, ne, NULL) == AG_ERR_INVALID_ARG, "ne0 %% block");
    CHECK(strstr(ag_last_error(), "'x'") != NULL, "names the tensor: %s", ag_last_error());
    ne[0] = 32;
    CHECK(ag_gguf_add_tensor(w, "x", 99, 1, ne, NULL) == AG_ERR_INVALID_ARG, "unknown type");
    CHECK(ag_gguf_add_tensor(w, "x", AG_TYPE_F32, 5, ne, NULL) == AG_ERR_INVALID_ARG, "n_dims 5");
    CHECK(ag_gguf_add_tensor(w, "x", AG_TYPE_F32, 0, ne, NULL) == AG_ERR_INVALID_ARG, "n_dims 0");
    ne[0] = 0;
    CHECK(ag_gguf_add_tensor(w, "x", AG_TYPE_F32, 1, ne, NULL) == AG_ERR_INVALID_ARG, "ne 0");
    ag_gguf_writer_set_fill(w, fill_pattern, fill_calls);
}

static void check_kv_str(const ag_gguf *g, const char *key, size_t max_items, const char *want)
{
    char buf[512];
    int64_t i = ag_gguf_find_key(g, key);
    CHECK(i >= 0, "key %s missing", key);
    if (i < 0) return;
    size_t n = ag_gguf_kv_to_string(&g->kv[i], max_items, buf, sizeof(buf));
    CHECK(strcmp(buf, want) == 0, "%s rendered as %s, want %s", key, buf, want);
    CHECK(n == strlen(want), "%s: length %zu, want %zu", key, n, strlen(want));
}

static void check_round(const char *path, bool use_mmap, uint32_t align)
{
    ag_gguf *g;
    ag_status st = ag_gguf_open(path, use_mmap, &g);
    CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
    if (st) return;
    CHECK(g->version == 3, "version %u", g->version);
    CHECK(g->alignment == align, "alignment %u, want %u", g->alignment, align);
    CHECK(g->data_offset % align == 0, "data offset %llu", (unsigned long long)g->data_offset);
    CHECK(g->n_kv == 28 + (align != 32), "n_kv %llu", (unsigned long long)g->n_kv);
    CHECK(strcmp(g->kv[0].key, "general.architecture") == 0, "first key %s", g->kv[0].key);
    CHECK(strcmp(g->kv[27].key, "t.replaced") == 0, "replaced key position: %s", g->kv[27].key);

    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    ag_str s;
    CHECK(ag_gguf_get_str(g, "general.architecture", &s) == AG_OK && s.n == 6 && memcmp(s.p, "qwen35", 6) == 0,
          "architecture");
    CHECK(ag_gguf_get_u32(g, "t.u32", &u32) == AG_OK && u32 == 4000000000u, "u32");
    CHECK(ag_gguf_get_u32(g, "t.replaced", &u32) == AG_OK && u32 == 2, "replaced value");
    CHECK(ag_gguf_get_i64(g, "t.i32", &i64) == AG_OK && i64 == -7, "i32 as i64");
    CHECK(ag_gguf_get_i64(g, "t.u64", &i64) == AG_OK && i64 == (1ll << 40), "u64 as i64");
    CHECK(ag_gguf_get_i64(g, "t.i64", &i64) == AG_OK && i64 == -1234567890123LL, "i64");
    CHECK(ag_gguf_get_u32(g, "t.u8", &u32) == AG_OK && u32 == 200, "u8 as u32");
    CHECK(ag_gguf_get_i64(g, "t.i8", &i64) == AG_OK && i64 == -100, "i8");
    CHECK(ag_gguf_get_u32(g, "t.u16", &u32) == AG_OK && u32 == 0x1234, "u16");
    CHECK(ag_gguf_get_i64(g, "t.i16", &i64) == AG_OK && i64 == -2, "i16");
    CHECK(ag_gguf_get_f32(g, "t.f32", &f) == AG_OK && f == 1e-6f, "f32");
    CHECK(ag_gguf_get_f32(g, "t.f64", &f) == AG_OK && f == (float)2.5e-300, "f64 as f32");
    CHECK(ag_gguf_get_bool(g, "t.bool", &b) == AG_OK && b, "bool");
    CHECK(ag_gguf_get_str(g, "t.empty", &s) == AG_OK && s.n == 0, "empty string");

    /* getter failures name the file and key */
    CHECK(ag_gguf_get_u32(g, "t.i8", &u32) == AG_ERR_FORMAT && strstr(ag_last_error(), "'t.i8'") &&
              strstr(ag_last_error(), "does not fit"),
          "negative as u32: %s", ag_last_error());
    CHECK(ag_gguf_get_u32(g, "t.u64", &u32) == AG_ERR_FORMAT, "2^40 as u32");
    CHECK(ag_gguf_get_u32(g, "general.architecture", &u32) == AG_ERR_FORMAT &&
              strstr(ag_last_error(), "general.architecture") && strstr(ag_last_error(), path),
          "string as u32: %s", ag_last_error());
    CHECK(ag_gguf_get_u32(g, "missing.key", &u32) == AG_ERR_FORMAT && strstr(ag_last_error(), "missing.key"),
          "missing: %s", ag_last_error());
    CHECK(ag_gguf_get_f32(g, "t.u32", &f) == AG_ERR_FORMAT, "u32 as f32");
    CHECK(ag_gguf_get_bool(g, "t.u8", &b) == AG_ERR_FORMAT, "u8 as bool");
    CHECK(ag_gguf_get_str(g, "a.str", &s) == AG_ERR_FORMAT, "array as str");
    CHECK(ag_gguf_find_key(g, "nope") == -1, "find missing");

    /* arrays */
    uint32_t at;
    uint64_t n;
    const ag_gguf_kv *kv;
    CHECK(ag_gguf_get_arr(g, "a.u32", &at, &n, &kv) == AG_OK && at == AG_GGUF_U32 && n == 4, "arr u32");
    if (kv && n == 4) {
        for (uint64_t j = 0; j < 4; j++) CHECK(ag_gguf_arr_i64(kv, j) == (int64_t)arr_u32[j], "u32[%d]", (int)j);
    }
    CHECK(ag_gguf_get_arr(g, "t.u32", &at, &n, &kv) == AG_ERR_FORMAT, "scalar as array");
    CHECK(ag_gguf_get_arr(g, "a.i64", &at, &n, &kv) == AG_OK && n == 2, "i64 arr");
    CHECK(ag_gguf_arr_i64(kv, 0) == INT64_MIN && ag_gguf_arr_i64(kv, 1) == 42, "i64 values");
    CHECK(ag_gguf_get_arr(g, "a.u64", &at, &n, &kv) == AG_OK, "u64 arr");
    CHECK(ag_gguf_arr_i64(kv, 1) == INT64_MAX, "u64 max saturates");
    CHECK(ag_gguf_arr_f64(kv, 1) == 18446744073709551615.0, "u64 max as f64");
    CHECK(ag_gguf_get_arr(g, "a.f32", &at, &n, &kv) == AG_OK, "f32 arr");
    CHECK(ag_gguf_arr_f64(kv, 1) == -1.25 && ag_gguf_arr_i64(kv, 1) == -1, "f32 values");
    CHECK(ag_gguf_get_arr(g, "a.f64", &at, &n, &kv) == AG_OK && ag_gguf_arr_f64(kv, 0) == 0.1, "f64 values");
    CHECK(ag_gguf_get_arr(g, "a.i8", &at, &n, &kv) == AG_OK && ag_gguf_arr_i64(kv, 0) == -128, "i8 values");
    CHECK(ag_gguf_get_arr(g, "a.i16", &at, &n, &kv) == AG_OK && ag_gguf_arr_f64(kv, 0) == -32768, "i16 values");
    CHECK(ag_gguf_get_arr(g, "a.str", &at, &n, &kv) == AG_OK && at == AG_GGUF_STRING && n == 5, "str arr");
    if (kv && n == 5)
        for (int j = 0; j < 5; j++) {
            ag_str e = ag_gguf_arr_str(kv, (uint64_t)j);
            CHECK(e.n == strlen(arr_strs[j]) && memcmp(e.p, arr_strs[j], e.n) == 0, "str[%d]", j);
        }
    CHECK(ag_gguf_get_arr(g, "a.str_empty", &at, &n, NULL) == AG_OK && n == 0 && at == AG_GGUF_STRING, "empty str arr");

    /* rendering */
    check_kv_str(g, "general.architecture", 8, "\"qwen35\"");
    check_kv_str(g, "t.u32", 8, "4000000000");
    check_kv_str(g, "t.i32", 8, "-7");
    check_kv_str(g, "t.f32", 8, "1e-06");
    check_kv_str(g, "t.bool", 8, "true");
    check_kv_str(g, "t.i8", 8, "-100");
    check_kv_str(g, "t.f64", 8, "2.5e-300");
    check_kv_str(g, "t.u64", 8, "1099511627776");
    check_kv_str(g, "t.empty", 8, "\"\"");
    check_kv_str(g, "a.u32", 8, "[1, 2, 3, 4000000000]");
    check_kv_str(g, "a.u32", 3, "[1, 2, 3, ... (4 items)]");
    check_kv_str(g, "a.u32", 0, "[... (4 items)]");
    check_kv_str(g, "a.bool", 8, "[true, false, true]");
    check_kv_str(g, "a.f32", 8, "[0.5, -1.25, 3e+10]");
    check_kv_str(g, "a.i64", 8, "[-9223372036854775808, 42]");
    check_kv_str(g, "a.empty", 8, "[]");
    check_kv_str(g, "a.str", 8, "[\"hello\", \"\", \"quote\\\"and\\\\back\", \"new\\nline\", \"\xc4\xa0the\"]");
    check_kv_str(g, "a.str", 2, "[\"hello\", \"\", ... (5 items)]");
    {
        char small[8];
        int64_t i = ag_gguf_find_key(g, "a.u32");
        size_t len = ag_gguf_kv_to_string(&g->kv[i], 8, small, sizeof(small));
        CHECK(len == strlen("[1, 2, 3, 4000000000]") && strlen(small) == 7 && memcmp(small, "[1, 2, ", 7) == 0,
              "truncated rendering: %zu '%s'", len, small);
        CHECK(ag_gguf_kv_to_string(&g->kv[i], 8, NULL, 0) == len, "length only");
    }

    /* tensors */
    CHECK(g->n_tensors == N_ROUND, "n_tensors %llu", (unsigned long long)g->n_tensors);
    for (size_t i = 0; i < N_ROUND && i < g->n_tensors; i++) {
        const tdesc *d = &round_tensors[i];
        const ag_gguf_tensor *t = &g->tensors[i];
        CHECK(strcmp(t->name, d->name) == 0, "tensor %zu name %s", i, t->name);
        CHECK(ag_gguf_find_tensor(g, d->name) == (int64_t)i, "find %s", d->name);
        CHECK(t->type == d->type && t->n_dims == d->n_dims, "tensor %s type/dims", d->name);
        for (uint32_t k = 0; k < 4; k++)
            CHECK(t->ne[k] == (k < d->n_dims ? d->ne[k] : 1), "tensor %s ne[%u]", d->name, k);
        CHECK(t->n_bytes == desc_bytes(d), "tensor %s bytes %llu", d->name, (unsigned long long)t->n_bytes);
        CHECK(t->offset % align == 0, "tensor %s offset %llu", d->name, (unsigned long long)t->offset);
        CHECK((const uint8_t *)t->data == g->base + g->data_offset + t->offset, "data pointer");
        uint64_t bad = 0;
        for (uint64_t j = 0; j < t->n_bytes; j++) bad += ((const uint8_t *)t->data)[j] != pattern(i, j);
        CHECK(bad == 0, "tensor %s: %llu wrong bytes", d->name, (unsigned long long)bad);
        /* padding up to the next tensor (or the end) is zero */
        uint64_t end = g->data_offset + t->offset + t->n_bytes;
        uint64_t next = i + 1 < g->n_tensors ? g->data_offset + g->tensors[i + 1].offset : g->file_size;
        for (uint64_t j = end; j < next; j++) CHECK(g->base[j] == 0, "padding byte %llu", (unsigned long long)j);
    }
    CHECK(ag_gguf_find_tensor(g, "nope") == -1, "find missing tensor");
    CHECK(g->file_size % align == 0, "file ends padded");
    ag_gguf_close(g);
}

static void test_round_trip(void)
{
    const char *path = "test_gguf_round.gguf";
    uint8_t *buffers[N_ROUND] = {0};
    int fill_calls = 0;
    ag_gguf_writer *w = ag_gguf_writer_create();
    CHECK(w != NULL, "writer");
    build_writer(w, buffers, &fill_calls);
    CHECK(ag_gguf_write_file(w, path, 0) == AG_OK, "write: %s", ag_last_error());
    CHECK(fill_calls == 4, "fill called %d times", fill_calls);
    CHECK(!file_exists("test_gguf_round.gguf.tmp"), "tmp file left behind");
    check_round(path, true, 32);
    check_round(path, false, 32);

    /* non-default alignment adds general.alignment */
    CHECK(ag_gguf_write_file(w, path, 64) == AG_OK, "write align 64: %s", ag_last_error());
    check_round(path, true, 64);
    CHECK(ag_gguf_write_file(w, path, 3) == AG_ERR_INVALID_ARG, "alignment 3");

    /* a file that validates byte by byte: truncating anywhere before the
     * last tensor's end fails */
    {
        size_t n;
        uint8_t *p = read_file(path, &n);
        ag_gguf *g = NULL;
        CHECK(p && ag_gguf_open_memory(p, n, "round.gguf", &g) == AG_OK, "reopen in memory");
        if (!g) return;
        uint64_t last = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            uint64_t e = g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes;
            if (e > last) last = e;
        }
        ag_gguf_close(g);
        int bad = 0;
        for (size_t k = 0; k < last; k++) {
            ag_gguf *h;
            ag_status st = parse_copy(p, k, "cut.gguf", &h);
            if (st != AG_ERR_FORMAT || !ag_last_error()[0] || strchr(ag_last_error(), '\n')) {
                if (bad++ < 5) CHECK(0, "truncated at %zu: status %d: %s", k, st, ag_last_error());
            }
        }
        CHECK(bad == 0, "%d truncations misbehaved", bad);
        for (size_t k = last; k <= n; k++) CHECK(parse_copy(p, k, "cut.gguf", &g) == AG_OK, "cut in the tail padding");
        free(p);
    }

    /* the fill callback can abort: nothing is left behind */
    remove(path);
    ag_gguf_writer_set_fill(w, fill_abort, NULL);
    CHECK(ag_gguf_write_file(w, path, 0) == AG_ERR_ABORTED, "abort: %s", ag_last_error());
    CHECK(strstr(ag_last_error(), "blk.0.ffn_down.weight") != NULL, "abort names the tensor: %s", ag_last_error());
    CHECK(!file_exists(path) && !file_exists("test_gguf_round.gguf.tmp"), "aborted write left a file");
    ag_gguf_writer_set_fill(w, NULL, NULL);
    CHECK(ag_gguf_write_file(w, path, 0) == AG_ERR_INVALID_ARG, "no fill: %s", ag_last_error());
    CHECK(ag_gguf_write_file(w, "/nonexistent-dir/x.gguf", 0) == AG_ERR_INVALID_ARG, "no fill first");
    ag_gguf_writer_set_fill(w, fill_pattern, &fill_calls);
    CHECK(ag_gguf_write_file(w, "/nonexistent-dir/x.gguf", 0) == AG_ERR_IO &&
              strstr(ag_last_error(), "/nonexistent-dir/x.gguf.tmp"),
          "unwritable dir: %s", ag_last_error());
    ag_gguf_writer_free(w);
    for (size_t i = 0; i < N_ROUND; i++) free(buffers[i]);
    ag_gguf_writer_free(NULL);

    /* a general.alignment key set by the caller is used, and checked */
    w = ag_gguf_writer_create();
    uint64_t ne1[1] = {8};
    static const float eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(ag_gguf_set_u32(w, "general.alignment", 128) == AG_OK, "set alignment");
    CHECK(ag_gguf_set_str(w, "s", "tab\there\x01") == AG_OK, "set s");
    CHECK(ag_gguf_add_tensor(w, "a", AG_TYPE_F32, 1, ne1, eight) == AG_OK, "add a");
    CHECK(ag_gguf_add_tensor(w, "b", AG_TYPE_F32, 1, ne1, eight) == AG_OK, "add b");
    CHECK(ag_gguf_write_file(w, path, 0) == AG_OK, "write with the key: %s", ag_last_error());
    {
        ag_gguf *g;
        CHECK(ag_gguf_open(path, true, &g) == AG_OK, "reopen: %s", ag_last_error());
        if (g) {
            CHECK(g->alignment == 128 && g->n_kv == 2 && g->tensors[1].offset == 128 && g->data_offset % 128 == 0,
                  "alignment from the key");
            check_kv_str(g, "s", 4, "\"tab\\there\\x01\"");
            ag_gguf_close(g);
        }
    }
    CHECK(ag_gguf_write_file(w, path, 128) == AG_OK, "same alignment twice");
    CHECK(ag_gguf_write_file(w, path, 64) == AG_ERR_INVALID_ARG && strstr(ag_last_error(), "conflicts"),
          "conflicting alignment: %s", ag_last_error());
    CHECK(ag_gguf_set_str(w, "general.alignment", "32") == AG_OK, "alignment as a string");
    CHECK(ag_gguf_write_file(w, path, 0) == AG_ERR_INVALID_ARG && strstr(ag_last_error(), "general.alignment"),
          "string alignment: %s", ag_last_error());
    ag_gguf_writer_free(w);

    /* an empty writer makes a valid empty file */
    w = ag_gguf_writer_create();
    CHECK(ag_gguf_write_file(w, path, 0) == AG_OK, "empty write");
    ag_gguf *g;
    CHECK(ag_gguf_open(path, true, &g) == AG_OK && g->n_kv == 0 && g->n_tensors == 0, "empty file reads back");
    ag_gguf_close(g);
    ag_gguf_writer_free(w);
    remove(path);
}

/* Rewrites a real file key by key (ag_gguf_set_kv) and tensor by tensor;
 * the result must read back the same, and here even byte-identical, since
 * llama.cpp lays files out the same way (kvs, infos, aligned data). */
static void test_rewrite(const char *src)
{
    const char *path = "test_gguf_rewrite.gguf";
    ag_gguf *a, *b;
    CHECK(ag_gguf_open(src, true, &a) == AG_OK, "open %s: %s", src, ag_last_error());
    ag_gguf_writer *w = ag_gguf_writer_create();
    for (uint64_t i = 0; i < a->n_kv; i++)
        CHECK(ag_gguf_set_kv(w, &a->kv[i]) == AG_OK, "set_kv %s: %s", a->kv[i].key, ag_last_error());
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const ag_gguf_tensor *t = &a->tensors[i];
        CHECK(ag_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) == AG_OK, "add %s", t->name);
    }
    CHECK(ag_gguf_write_file(w, path, 0) == AG_OK, "write: %s", ag_last_error());
    ag_gguf_writer_free(w);
    CHECK(ag_gguf_open(path, false, &b) == AG_OK, "reopen: %s", ag_last_error());
    CHECK(a->n_kv == b->n_kv && a->n_tensors == b->n_tensors, "counts");
    char *sa = malloc(1 << 16), *sb = malloc(1 << 16);
    for (uint64_t i = 0; i < a->n_kv && i < b->n_kv; i++) {
        CHECK(strcmp(a->kv[i].key, b->kv[i].key) == 0, "key %llu", (unsigned long long)i);
        ag_gguf_kv_to_string(&a->kv[i], 100000, sa, 1 << 16);
        ag_gguf_kv_to_string(&b->kv[i], 100000, sb, 1 << 16);
        CHECK(strcmp(sa, sb) == 0, "value of %s", a->kv[i].key);
    }
    free(sa);
    free(sb);
    for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const ag_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        CHECK(strcmp(x->name, y->name) == 0 && x->type == y->type && x->n_bytes == y->n_bytes &&
                  memcmp(x->ne, y->ne, sizeof(x->ne)) == 0 && memcmp(x->data, y->data, x->n_bytes) == 0,
              "tensor %s", x->name);
    }
    CHECK(a->file_size == b->file_size && memcmp(a->base, b->base, a->file_size) == 0,
          "rewrite of %s is not byte-identical", src);
    ag_gguf_close(a);
    ag_gguf_close(b);
    remove(path);
}

/* ---- 2. fixtures ---- */

static const char *const tiny_files[] = {
    "tiny-f32",  "tiny-f16",  "tiny-bf16", "tiny-q8_0",   "tiny-q4_0",    "tiny-q4_1",    "tiny-q5_0",    "tiny-q5_1",
    "tiny-q2_k", "tiny-q3_k_m", "tiny-q4_k_m", "tiny-q5_k_m", "tiny-q6_k", "tiny-iq4_nl", "tiny-iq4_xs",
};

static void test_fixtures(void)
{
    char path[512];
    for (size_t f = 0; f < sizeof(tiny_files) / sizeof(tiny_files[0]); f++) {
        ag_gguf *g;
        snprintf(path, sizeof(path), TINY "%s.gguf", tiny_files[f]);
        ag_status st = ag_gguf_open(path, true, &g);
        CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
        if (st) continue;
        ag_str arch;
        CHECK(g->n_tensors == 55, "%s: %llu tensors", path, (unsigned long long)g->n_tensors);
        CHECK(ag_gguf_get_str(g, "general.architecture", &arch) == AG_OK && arch.n == 6 &&
                  memcmp(arch.p, "qwen35", 6) == 0,
              "%s: architecture", path);
        uint32_t n_layer = 0, n_embd = 0;
        CHECK(ag_gguf_get_u32(g, "qwen35.block_count", &n_layer) == AG_OK && n_layer == 4, "%s block_count", path);
        CHECK(ag_gguf_get_u32(g, "qwen35.embedding_length", &n_embd) == AG_OK && n_embd == 256, "%s n_embd", path);
        uint64_t n_tok = 0;
        uint32_t at = 0;
        CHECK(ag_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n_tok, NULL) == AG_OK && at == AG_GGUF_STRING &&
                  n_tok == 2048,
              "%s tokens", path);
        int64_t te = ag_gguf_find_tensor(g, "token_embd.weight");
        CHECK(te >= 0 && g->tensors[te].ne[0] == 256 && g->tensors[te].ne[1] == 2048, "%s token_embd", path);
        if (f == 0) {
            CHECK(g->n_kv == 30 && g->tensors[te].type == AG_TYPE_F32, "tiny-f32 kvs/type");
            CHECK(g->tensors[te].n_bytes == 256ull * 2048 * 4, "token_embd bytes");
            char buf[256];
            int64_t k = ag_gguf_find_key(g, "qwen35.rope.dimension_sections");
            CHECK(k >= 0, "rope sections");
            if (k >= 0) {
                ag_gguf_kv_to_string(&g->kv[k], 8, buf, sizeof(buf));
                CHECK(strcmp(buf, "[3, 3, 2, 0]") == 0, "rope sections %s", buf);
            }
        }
        if (strcmp(tiny_files[f], "tiny-q4_0") == 0) {
            int counts[AG_TYPE_COUNT] = {0};
            for (uint64_t i = 0; i < g->n_tensors; i++) counts[g->tensors[i].type]++;
            CHECK(counts[AG_TYPE_F32] == 23 && counts[AG_TYPE_Q4_0] == 31 && counts[AG_TYPE_Q6_K] == 1,
                  "q4_0 type mix");
        }
        ag_gguf_close(g);
    }
    const char *vocabs[] = {"ggml-vocab-qwen35", "ggml-vocab-qwen2", "ggml-vocab-bert-bge"};
    for (int f = 0; f < 3; f++) {
        ag_gguf *g;
        snprintf(path, sizeof(path), VOCAB "%s.gguf", vocabs[f]);
        ag_status st = ag_gguf_open(path, f == 2 ? false : true, &g);
        CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
        if (st) continue;
        CHECK(g->n_tensors == 0 && g->n_kv == 20, "%s counts", path);
        if (f == 0) {
            uint32_t at;
            uint64_t n;
            const ag_gguf_kv *kv;
            CHECK(ag_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n, &kv) == AG_OK && n == 151936, "qwen vocab");
            char buf[256];
            ag_gguf_kv_to_string(kv, 3, buf, sizeof(buf));
            CHECK(strstr(buf, ", ... (151936 items)]") != NULL, "rendering %s", buf);
            ag_str pre;
            CHECK(ag_gguf_get_str(g, "tokenizer.ggml.pre", &pre) == AG_OK && pre.n == 6 &&
                      memcmp(pre.p, "qwen35", 6) == 0,
                  "pre");
        }
        ag_gguf_close(g);
    }
}

/* String arrays: the cursor walks exactly the value; ag_gguf_release gives
 * the pages back and a later read maps them again with the same bytes; a
 * value whose lengths do not add up (a file changed under the mapping)
 * ends the walk early instead of reading past it. */
static uint64_t walk_hash(const ag_gguf_kv *kv, uint64_t *count)
{
    ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
    ag_str s;
    uint64_t h = 1469598103934665603ull;
    while (ag_gguf_arr_str_next(&c, &s)) {
        for (uint64_t i = 0; i < s.n; i++) h = (h ^ (uint8_t)s.p[i]) * 1099511628211ull;
        h = (h ^ s.n) * 1099511628211ull;
    }
    *count = c.i;
    CHECK(c.p == c.end, "walk ends at the end of the value");
    return h;
}

static void test_string_arrays(void)
{
    const char *path = VOCAB "ggml-vocab-qwen35.gguf", *out = "test_gguf_strarr.gguf";
    ag_gguf *g, *h;
    const ag_gguf_kv *kv, *kv2;
    uint64_t n, n2;
    if (ag_gguf_open(path, true, &g) != AG_OK) {
        CHECK(false, "open %s: %s", path, ag_last_error());
        return;
    }
    CHECK(g->is_mmap && ag_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n, &kv) == AG_OK && n == 151936,
          "tokens");
    uint64_t h1 = walk_hash(kv, &n);
    CHECK(n == 151936, "walked %llu", (unsigned long long)n);
    ag_str first = ag_gguf_arr_str(kv, 0), last = ag_gguf_arr_str(kv, n - 1);
    CHECK(first.n == 1 && first.p[0] == '!', "first token");
    CHECK(last.n > 0 && last.p + last.n == (const char *)kv->data + kv->n_bytes, "last token ends the value");

    ag_gguf_release(g, kv);
    uint64_t h2 = walk_hash(kv, &n2);
    CHECK(h1 == h2 && n2 == n, "same strings after release");
    /* copying a released value gives the same bytes */
    ag_gguf_writer *w = ag_gguf_writer_create();
    CHECK(ag_gguf_set_kv(w, kv) == AG_OK && ag_gguf_write_file(w, out, 0) == AG_OK, "write: %s", ag_last_error());
    ag_gguf_writer_free(w);
    if (ag_gguf_open(out, false, &h) == AG_OK) {
        CHECK(ag_gguf_get_arr(h, "tokenizer.ggml.tokens", NULL, &n2, &kv2) == AG_OK && n2 == n &&
                  kv2->n_bytes == kv->n_bytes && memcmp(kv2->data, kv->data, kv->n_bytes) == 0,
              "copied string array is byte-identical");
        ag_gguf_close(h);
    } else {
        CHECK(false, "reopen %s: %s", out, ag_last_error());
    }
    remove(out);
    ag_gguf_release(g, NULL);
    ag_gguf_close(g);

    /* a value whose second length lies: the walk stops there */
    uint8_t bytes[8 + 2 + 8 + 3];
    memset(bytes, 0, sizeof(bytes));
    put_le64(bytes, 2);
    memcpy(bytes + 8, "ab", 2);
    put_le64(bytes + 10, 4); /* claims 4, 3 left */
    memcpy(bytes + 18, "cde", 3);
    ag_gguf_kv lie = {.key = "lie", .type = AG_GGUF_ARRAY, .arr_type = AG_GGUF_STRING, .n = 2, .data = bytes,
                      .n_bytes = sizeof(bytes)};
    ag_gguf_str_cursor c = ag_gguf_arr_str_begin(&lie);
    ag_str s;
    CHECK(ag_gguf_arr_str_next(&c, &s) && s.n == 2 && memcmp(s.p, "ab", 2) == 0, "first element");
    CHECK(!ag_gguf_arr_str_next(&c, &s) && c.i == 1, "lying element ends the walk");
    CHECK(ag_gguf_arr_str(&lie, 1).n == 0, "lying element reads as empty");
    w = ag_gguf_writer_create();
    CHECK(ag_gguf_set_kv(w, &lie) == AG_ERR_FORMAT && strstr(ag_last_error(), "'lie'"), "set_kv of a lying value: %s",
          ag_last_error());
    ag_gguf_writer_free(w);
}

/* The read() path gives the same result as mmap. */
static void test_read_path(void)
{
    ag_gguf *a, *b;
    const char *path = TINY "tiny-q8_0.gguf";
    CHECK(ag_gguf_open(path, true, &a) == AG_OK, "mmap open");
    CHECK(ag_gguf_open(path, false, &b) == AG_OK, "read open: %s", ag_last_error());
    CHECK(a->is_mmap && !b->is_mmap && b->owns_buf, "paths taken");
    CHECK(((uintptr_t)b->base & 31) == 0, "read buffer aligned");
    CHECK(a->n_tensors == b->n_tensors && a->data_offset == b->data_offset, "same layout");
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        CHECK(((uintptr_t)b->tensors[i].data & 31) == 0, "tensor data aligned");
        CHECK(memcmp(a->tensors[i].data, b->tensors[i].data, a->tensors[i].n_bytes) == 0, "tensor %s bytes",
              a->tensors[i].name);
    }
    ag_gguf_close(a);
    ag_gguf_close(b);
}

/* ---- 3. damage ---- */

static void test_truncation(const uint8_t *file, size_t size)
{
    ag_gguf *g;
    CHECK(ag_gguf_open_memory(file, size, "q4_0", &g) == AG_OK, "parse");
    uint64_t header = g->data_offset, last = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint64_t e = g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes;
        if (e > last) last = e;
    }
    ag_gguf_close(g);
    int bad = 0;
    for (uint64_t n = 0; n < last; n += n <= header ? 1 : 4093) {
        ag_status st = parse_copy(file, (size_t)n, "cut.gguf", &g);
        const char *e = ag_last_error();
        if (st != AG_ERR_FORMAT || strncmp(e, "cut.gguf: ", 10) != 0 || strchr(e, '\n') || strlen(e) < 20) {
            if (bad++ < 5) CHECK(0, "truncated at %llu: status %d: %s", (unsigned long long)n, st, e);
        }
    }
    CHECK(bad == 0, "%d truncations misbehaved", bad);
    CHECK(parse_copy(file, (size_t)last - 1, "cut.gguf", &g) == AG_ERR_FORMAT &&
              strstr(ag_last_error(), "extends past end of file"),
          "last byte missing: %s", ag_last_error());

    /* the same through files, by mmap and by read() */
    const char *path = "test_gguf_cut.gguf";
    const uint64_t cuts[] = {0, 3, 4, 10, 24, 1000, header - 1, header, last - 1};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        CHECK(write_file(path, file, (size_t)cuts[c]) == 0, "write cut");
        for (int m = 0; m < 2; m++) {
            ag_status st = ag_gguf_open(path, m == 0, &g);
            CHECK(st == AG_ERR_FORMAT && strstr(ag_last_error(), path), "file cut at %llu (mmap %d): %d %s",
                  (unsigned long long)cuts[c], m == 0, st, ag_last_error());
        }
    }
    remove(path);
    CHECK(ag_gguf_open("no/such/file.gguf", true, &g) == AG_ERR_IO && g == NULL &&
              strstr(ag_last_error(), "no/such/file.gguf"),
          "missing file: %s", ag_last_error());
    CHECK(ag_gguf_open(".", true, &g) == AG_ERR_IO && strstr(ag_last_error(), "directory"), "directory: %s",
          ag_last_error());
    CHECK(ag_gguf_open("/dev/null", false, &g) == AG_ERR_IO && strstr(ag_last_error(), "regular file"),
          "device: %s", ag_last_error());
}

static void test_header_damage(const uint8_t *file, size_t size)
{
    uint8_t *c = malloc(size);
    memcpy(c, file, size);
    c[3] = 'X';
    expect_fail(c, size, AG_ERR_FORMAT, "magic", "bad magic");
    expect_fail("GGU", 3, AG_ERR_FORMAT, "too small", "3 bytes");
    expect_fail("", 0, AG_ERR_FORMAT, "0 bytes", "empty");
    memcpy(c, file, size);
    struct {
        uint32_t v;
        ag_status st;
    } versions[] = {{0, AG_ERR_FORMAT}, {1, AG_ERR_UNSUPPORTED}, {4, AG_ERR_UNSUPPORTED},
                    {99, AG_ERR_UNSUPPORTED}, {0xffffffffu, AG_ERR_UNSUPPORTED}, {0x03000000u, AG_ERR_UNSUPPORTED}};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        char label[32];
        snprintf(label, sizeof(label), "version %u", versions[i].v);
        put_le32(c + 4, versions[i].v);
        expect_fail(c, size, versions[i].st, versions[i].v == 0x03000000u ? "big-endian" : "version", label);
    }
    put_le32(c + 4, 2); /* v2 has the same layout */
    expect_ok(c, size, "version 2");
    put_le32(c + 4, 3);

    const uint64_t absurd[] = {1ull << 63, 1ull << 40, UINT64_MAX, size, size / 13 + 1};
    for (size_t i = 0; i < sizeof(absurd) / sizeof(absurd[0]); i++) {
        memcpy(c, file, size);
        put_le64(c + 8, absurd[i]);
        expect_fail(c, size, AG_ERR_FORMAT, "n_tensors", "absurd n_tensors");
        memcpy(c, file, size);
        put_le64(c + 16, absurd[i]);
        expect_fail(c, size, AG_ERR_FORMAT, "n_kv", "absurd n_kv");
    }
    /* a count that fits the bound but lies: the parse runs out of bytes */
    memcpy(c, file, size);
    put_le64(c + 16, 1000);
    expect_fail(c, size, AG_ERR_FORMAT, NULL, "n_kv 1000");
    memcpy(c, file, size);
    put_le64(c + 8, 56);
    expect_fail(c, size, AG_ERR_FORMAT, "tensor", "n_tensors + 1");
    memcpy(c, file, size);
    put_le64(c + 16, 30); /* one key less: the last key is read as a tensor */
    expect_fail(c, size, AG_ERR_FORMAT, NULL, "n_kv - 1");

    /* lying string lengths: key #0's name, then its value */
    const uint64_t lens[] = {UINT64_MAX, UINT64_MAX - 7, size, size - 32, 1ull << 63};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memcpy(c, file, size);
        put_le64(c + 24, lens[i]);
        expect_fail(c, size, AG_ERR_FORMAT, "key #0", "key name length");
        memcpy(c, file, size);
        put_le64(c + 24 + 8 + 20 + 4, lens[i]); /* "general.architecture" string value */
        expect_fail(c, size, AG_ERR_FORMAT, "'general.architecture'", "string value length");
    }
    free(c);
}

/* A hand-made file: one u32 key, then the kvs/tensors the caller appends. */
typedef struct tspec {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tspec;

/* Builds a file with an optional general.alignment (align_type U32 normally)
 * and the given tensors, then data_bytes of zeros after the aligned header.
 * Returns where the tensor infos end (before the padding). */
static size_t tensor_file(bb *b, const tspec *t, int nt, uint64_t data_bytes, uint32_t align, uint32_t align_type)
{
    b->n = 0;
    bb_header(b, 3, (uint64_t)nt, align ? 2 : 1);
    bb_kv(b, "general.architecture", AG_GGUF_STRING);
    bb_str(b, "qwen35");
    if (align) {
        bb_kv(b, "general.alignment", align_type);
        if (align_type == AG_GGUF_U64) bb_u64(b, align);
        else if (align_type == AG_GGUF_STRING) bb_str(b, "32");
        else bb_u32(b, align);
    }
    for (int i = 0; i < nt; i++) {
        bb_str(b, t[i].name);
        bb_u32(b, t[i].n_dims);
        for (uint32_t d = 0; d < t[i].n_dims && d < 5; d++) bb_u64(b, t[i].ne[d]);
        bb_u32(b, t[i].type);
        bb_u64(b, t[i].offset);
    }
    size_t end = b->n;
    bb_pad(b, align && (align & (align - 1)) == 0 ? align : 32);
    for (uint64_t i = 0; i < data_bytes; i++) bb_u8(b, 0);
    return end;
}

static void test_kv_damage(void)
{
    bb b = {0};
    /* a valid file with every kind of value, as a baseline */
    bb_header(&b, 3, 0, 3);
    bb_kv(&b, "a", AG_GGUF_U32);
    bb_u32(&b, 5);
    bb_kv(&b, "s", AG_GGUF_ARRAY);
    bb_u32(&b, AG_GGUF_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "x");
    bb_str(&b, "yy");
    bb_kv(&b, "n", AG_GGUF_ARRAY);
    bb_u32(&b, AG_GGUF_U16);
    bb_u64(&b, 3);
    bb_u32(&b, 0);
    bb_u8(&b, 0);
    bb_u8(&b, 0);
    expect_ok(b.p, b.n, "baseline");
    /* every truncation of it fails */
    for (size_t k = 0; k < b.n; k++) {
        ag_gguf *g;
        ag_status st = parse_copy(b.p, k, "bad.gguf", &g);
        CHECK(st == AG_ERR_FORMAT, "cut at %zu: %d %s", k, st, ag_last_error());
    }

    struct {
        uint32_t type, elem;
        uint64_t count;
        ag_status st;
        const char *word;
        const char *label;
    } arrays[] = {
        {AG_GGUF_ARRAY, AG_GGUF_U32, 1ull << 62, AG_ERR_FORMAT, "'arr'", "u32 count 2^62"},
        {AG_GGUF_ARRAY, AG_GGUF_U64, UINT64_MAX, AG_ERR_FORMAT, "'arr'", "u64 count 2^64-1"},
        {AG_GGUF_ARRAY, AG_GGUF_U8, 100, AG_ERR_FORMAT, "extends past end", "u8 count 100"},
        {AG_GGUF_ARRAY, AG_GGUF_STRING, 1ull << 61, AG_ERR_FORMAT, "string array", "string count 2^61"},
        {AG_GGUF_ARRAY, AG_GGUF_STRING, 3, AG_ERR_FORMAT, "truncated at entry 2", "string count 3 of 2"},
        {AG_GGUF_ARRAY, AG_GGUF_ARRAY, 1, AG_ERR_UNSUPPORTED, "arrays of arrays", "array of arrays"},
        {AG_GGUF_ARRAY, 13, 1, AG_ERR_FORMAT, "element type 13", "elem type 13"},
        {AG_GGUF_ARRAY, 0x80000000u, 1, AG_ERR_FORMAT, "element type", "elem type 2^31"},
        {13, 0, 0, AG_ERR_FORMAT, "value type 13", "value type 13"},
        {UINT32_MAX, 0, 0, AG_ERR_FORMAT, "value type", "value type 2^32-1"},
    };
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
        b.n = 0;
        bb_header(&b, 3, 0, 2);
        bb_kv(&b, "first", AG_GGUF_BOOL);
        bb_u8(&b, 1);
        bb_kv(&b, "arr", arrays[i].type);
        if (arrays[i].type == AG_GGUF_ARRAY) {
            bb_u32(&b, arrays[i].elem);
            bb_u64(&b, arrays[i].count);
            if (arrays[i].elem == AG_GGUF_STRING) {
                bb_str(&b, "one");
                bb_str(&b, "two");
                bb_u64(&b, 1000);
            } else if (arrays[i].elem == AG_GGUF_ARRAY) {
                bb_u32(&b, AG_GGUF_U8);
                bb_u64(&b, 1);
                bb_u8(&b, 1);
            } else {
                bb_u64(&b, 0);
            }
        }
        expect_fail(b.p, b.n, arrays[i].st, arrays[i].word, arrays[i].label);
        expect_fail(b.p, b.n, arrays[i].st, "'arr'", arrays[i].label);
    }
    /* a lying string length inside a string array */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_kv(&b, "tokenizer.ggml.tokens", AG_GGUF_ARRAY);
    bb_u32(&b, AG_GGUF_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "ok");
    bb_u64(&b, UINT64_MAX);
    bb_put(&b, "abcdefgh", 8);
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "'tokenizer.ggml.tokens'", "string entry length 2^64-1");
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "entry 1", "string entry length 2^64-1");

    /* duplicate keys, NUL in a name, garbage in a name */
    b.n = 0;
    bb_header(&b, 3, 0, 3);
    bb_kv(&b, "general.name", AG_GGUF_U8);
    bb_u8(&b, 1);
    bb_kv(&b, "other", AG_GGUF_U8);
    bb_u8(&b, 1);
    bb_kv(&b, "general.name", AG_GGUF_STRING);
    bb_str(&b, "x");
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "'general.name' appears twice (#0 and #2)", "duplicate key");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 3);
    bb_put(&b, "a\0b", 3);
    bb_u32(&b, AG_GGUF_U8);
    bb_u8(&b, 0);
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "NUL", "NUL in key");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    char junk[300];
    for (int i = 0; i < 300; i++) junk[i] = (char)(i % 31 + 1); /* control characters */
    bb_u64(&b, 300);
    bb_put(&b, junk, 300);
    bb_u32(&b, 77);
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "value type 77", "garbage key name");
    CHECK(strlen(ag_last_error()) < 300, "long key name is shortened: %zu", strlen(ag_last_error()));
    CHECK(strstr(ag_last_error(), "...") != NULL, "shortened name ends with ...");
    free(b.p);
}

static void test_tensor_damage(void)
{
    bb b = {0};
    const uint64_t big = 1ull << 32;
    tspec ok[2] = {{"a", 2, {32, 2}, AG_TYPE_F32, 0}, {"b", 1, {64}, AG_TYPE_Q8_0, 256}};
    tensor_file(&b, ok, 2, 256 + 68, 0, 0);
    expect_ok(b.p, b.n, "tensor baseline");
    tensor_file(&b, ok, 2, 256 + 67, 0, 0);
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "tensor 'b': data [offset 256, 68 bytes] extends past end of file",
                "one byte short");
    b.n = tensor_file(&b, ok, 2, 0, 0, 0); /* no padding either: the data section starts past the end */
    expect_fail(b.p, b.n, AG_ERR_FORMAT, "data section", "no data section");

    struct {
        tspec t[2];
        int nt;
        uint64_t data;
        uint32_t align, align_type;
        ag_status st;
        const char *word;
        const char *label;
    } cases[] = {
        {{{"w", 1, {32}, AG_TYPE_F32, UINT64_MAX - 31}}, 1, 128, 0, 0, AG_ERR_FORMAT, "tensor 'w'", "offset 2^64-32"},
        {{{"w", 1, {32}, AG_TYPE_F32, 1ull << 40}}, 1, 128, 0, 0, AG_ERR_FORMAT, "past end of file", "offset 2^40"},
        {{{"w", 1, {32}, AG_TYPE_F32, 16}}, 1, 256, 0, 0, AG_ERR_FORMAT, "not a multiple of the alignment",
         "misaligned"},
        {{{"w", 1, {32}, AG_TYPE_F32, 32}}, 1, 256, 64, AG_GGUF_U32, AG_ERR_FORMAT, "alignment 64", "misaligned 64"},
        {{{"a", 1, {64}, AG_TYPE_F32, 0}, {"b", 1, {32}, AG_TYPE_F32, 128}}, 2, 512, 0, 0, AG_ERR_FORMAT, "overlaps",
         "overlap"},
        {{{"a", 1, {64}, AG_TYPE_F32, 64}, {"b", 1, {32}, AG_TYPE_F32, 64}}, 2, 512, 0, 0, AG_ERR_FORMAT,
         "overlaps", "same offset"},
        {{{"a", 1, {32}, AG_TYPE_F32, 0}, {"a", 1, {32}, AG_TYPE_F32, 128}}, 2, 512, 0, 0, AG_ERR_FORMAT,
         "'a' appears twice", "duplicate name"},
        {{{"w", 2, {big, big}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "overflows", "ne product 2^64"},
        {{{"w", 4, {big, 2, 2, big}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "overflows", "ne product 4d"},
        {{{"w", 2, {1ull << 61, 2}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "byte size", "bytes overflow"},
        {{{"w", 1, {1ull << 63}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "ne[0]", "ne 2^63"},
        {{{"w", 2, {32, 0}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "ne[1] = 0", "ne 0"},
        {{{"w", 0, {32}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "n_dims = 0", "n_dims 0"},
        {{{"w", 5, {32, 1, 1, 1, 1}, AG_TYPE_F32, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "n_dims = 5", "n_dims 5"},
        {{{"blk.0.attn_q.weight", 2, {33, 2}, AG_TYPE_Q4_0, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT,
         "tensor 'blk.0.attn_q.weight': ne[0] = 33 is not a multiple", "ne0 % block"},
        {{{"w", 1, {128}, AG_TYPE_Q4_K, 0}}, 1, 256, 0, 0, AG_ERR_FORMAT, "block size 256", "ne0 < block"},
        {{{"w", 1, {32}, 99, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "unknown type id 99", "type 99"},
        {{{"w", 1, {32}, 1u << 31, 0}}, 1, 64, 0, 0, AG_ERR_FORMAT, "type id 2147483648", "type 2^31"},
        {{{"w", 1, {32}, 4, 0}}, 1, 64, 0, 0, AG_ERR_UNSUPPORTED, "type id 4", "type 4 (removed q4_2)"},
        {{{"w", 1, {32}, AG_TYPE_F32, 0}}, 1, 128, 3, AG_GGUF_U32, AG_ERR_FORMAT, "general.alignment", "alignment 3"},
        {{{"w", 1, {32}, AG_TYPE_F32, 0}}, 1, 128, 0x80000001u, AG_GGUF_U32, AG_ERR_FORMAT, "power of two",
         "alignment 2^31+1"},
        {{{"w", 1, {32}, AG_TYPE_F32, 0}}, 1, 128, 32, AG_GGUF_U64, AG_ERR_FORMAT, "general.alignment",
         "alignment u64"},
        {{{"w", 1, {32}, AG_TYPE_F32, 0}}, 1, 128, 32, AG_GGUF_STRING, AG_ERR_FORMAT, "expected u32",
         "alignment string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tensor_file(&b, cases[i].t, cases[i].nt, cases[i].data, cases[i].align, cases[i].align_type);
        expect_fail(b.p, b.n, cases[i].st, cases[i].word, cases[i].label);
    }
    /* alignment 0: a u32 key of value 0 */
    {
        bb c = {0};
        bb_header(&c, 3, 0, 1);
        bb_kv(&c, "general.alignment", AG_GGUF_U32);
        bb_u32(&c, 0);
        expect_fail(c.p, c.n, AG_ERR_FORMAT, "general.alignment", "alignment 0");
        free(c.p);
    }
    /* valid: alignment 64 with matching offsets; tensors out of offset order */
    tspec a64[2] = {{"x", 1, {32}, AG_TYPE_F32, 128}, {"y", 3, {32, 1, 2}, AG_TYPE_F16, 0}};
    tensor_file(&b, a64, 2, 256, 64, AG_GGUF_U32);
    expect_ok(b.p, b.n, "alignment 64");
    /* tensors but no kvs at all; data right at the aligned header end */
    b.n = 0;
    bb_header(&b, 3, 1, 0);
    bb_str(&b, "t");
    bb_u32(&b, 1);
    bb_u64(&b, 8);
    bb_u32(&b, AG_TYPE_F32);
    bb_u64(&b, 0);
    bb_pad(&b, 32);
    for (int i = 0; i < 32; i++) bb_u8(&b, 0);
    expect_ok(b.p, b.n, "no kvs");
    free(b.p);
}

int main(void)
{
    size_t n;
    uint8_t *q4 = read_file(TINY "tiny-q4_0.gguf", &n);
    CHECK(q4 != NULL, "read tiny-q4_0.gguf");
    test_round_trip();
    test_rewrite(TINY "tiny-q4_0.gguf");
    test_fixtures();
    test_read_path();
    test_string_arrays();
    if (q4) {
        test_truncation(q4, n);
        test_header_damage(q4, n);
    }
    test_kv_damage();
    test_tensor_damage();
    free(q4);
    return REPORT();
}
