/* fuzz_gguf.c: fuzz target for the GGUF reader (src/gguf/gguf.c).
 *
 * Each input is parsed with ag_gguf_open_memory. On success everything the
 * reader hands out is walked: every key rendered and read through every
 * typed getter, numeric array elements read back, every tensor's first and
 * last data byte touched and looked up by name. On failure the error must be
 * one nonempty line. Both outcomes must be free of crashes, leaks and
 * sanitizer reports. Seeds: two real files (a quantized model, whose header
 * is where the mutations go, and a vocab-only file) plus small hand-made
 * files with every value type, tensors of several types and a non-default
 * alignment (see tests/fuzz/driver.c for the seed contract). */
#include "gguf/gguf.h"
#include "quant/types.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *ag_fuzz_seed_files[] = {
    AG_SHARED_DIR "/fixtures/qwen35-tiny/tiny-q4_0.gguf",
    AG_SHARED_DIR "/fixtures/vocab/ggml-vocab-bert-bge.gguf",
    NULL,
};
const size_t ag_fuzz_focus_bytes = 65536; /* tiny-q4_0's metadata and tensor infos end at ~56 KiB */

static volatile unsigned sink;

static void walk(const ag_gguf *g)
{
    char small[24], big[512];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const ag_gguf_kv *kv = &g->kv[i];
        size_t n = ag_gguf_kv_to_string(kv, 4, big, sizeof(big));
        if (ag_gguf_kv_to_string(kv, 4, small, sizeof(small)) != n || strlen(small) >= sizeof(small)) abort();
        if (ag_gguf_kv_to_string(kv, 0, NULL, 0) == 0) abort();
        if (ag_gguf_find_key(g, kv->key) != (int64_t)i) abort(); /* duplicates were rejected */
        uint32_t u32;
        int64_t i64;
        float f;
        bool b;
        ag_str s;
        uint32_t at;
        uint64_t cnt;
        const ag_gguf_kv *akv;
        ag_gguf_get_u32(g, kv->key, &u32);
        ag_gguf_get_i64(g, kv->key, &i64);
        ag_gguf_get_f32(g, kv->key, &f);
        ag_gguf_get_bool(g, kv->key, &b);
        if (ag_gguf_get_str(g, kv->key, &s) == AG_OK && s.n) sink += (unsigned char)s.p[s.n - 1];
        if (ag_gguf_get_arr(g, kv->key, &at, &cnt, &akv) == AG_OK) {
            if (at == AG_GGUF_STRING) {
                ag_gguf_str_cursor c = ag_gguf_arr_str_begin(akv);
                ag_str e;
                while (ag_gguf_arr_str_next(&c, &e))
                    if (e.n) sink += (unsigned char)e.p[e.n - 1] + (unsigned char)e.p[0];
                if (c.i != cnt || c.p != c.end) abort(); /* validated at open: the walk must cover the value */
                if (cnt) {
                    e = ag_gguf_arr_str(akv, cnt - 1);
                    if (e.n) sink += (unsigned char)e.p[0];
                }
            } else {
                for (uint64_t j = 0; j < cnt && j < 64; j++) sink += (unsigned)ag_gguf_arr_i64(akv, j);
                double d = cnt ? ag_gguf_arr_f64(akv, cnt - 1) : 0; /* may be NaN or huge */
                sink += d > -1e9 && d < 1e9 ? (unsigned)(int64_t)d : 1u;
            }
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const ag_gguf_tensor *t = &g->tensors[i];
        const uint8_t *d = t->data;
        if (!ag_type_traits_of(t->type) || t->n_bytes == 0 || t->offset % g->alignment) abort();
        sink += d[0] + d[t->n_bytes - 1];
        if (ag_gguf_find_tensor(g, t->name) != (int64_t)i) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ag_gguf *g;
    ag_status st = ag_gguf_open_memory(data, size, "fuzz.gguf", &g);
    if (st == AG_OK) {
        walk(g);
        ag_gguf_close(g);
    } else {
        const char *e = ag_last_error();
        if (g || !e[0] || strchr(e, '\n') || strncmp(e, "fuzz.gguf: ", 11) != 0) abort();
    }
    return 0;
}

/* ---- hand-made seeds ---- */

typedef struct bb {
    uint8_t p[4096];
    size_t n;
} bb;

static void put(bb *b, const void *s, size_t n)
{
    if (b->n + n <= sizeof(b->p)) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void u8(bb *b, uint8_t v) { put(b, &v, 1); }
static void u32(bb *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) u8(b, (uint8_t)(v >> (8 * i)));
}
static void u64(bb *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) u8(b, (uint8_t)(v >> (8 * i)));
}
static void str(bb *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void key(bb *b, const char *k, uint32_t type)
{
    str(b, k);
    u32(b, type);
}
static void tensor(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off)
{
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}

/* version 2 or 3, alignment 32 (no key) or 64 (key) */
static void make_seed(bb *b, uint32_t version, uint32_t align)
{
    static const uint64_t ne_a[2] = {8, 2}, ne_b[1] = {32}, ne_c[3] = {32, 1, 2}, ne_d[1] = {256};
    b->n = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, 4);                   /* tensors */
    u64(b, 17 + (align != 32)); /* keys */
    key(b, "general.architecture", AG_GGUF_STRING), str(b, "qwen35");
    key(b, "u8", AG_GGUF_U8), u8(b, 200);
    key(b, "i8", AG_GGUF_I8), u8(b, 0x80);
    key(b, "u16", AG_GGUF_U16), u8(b, 1), u8(b, 2);
    key(b, "i16", AG_GGUF_I16), u8(b, 0xff), u8(b, 0xff);
    key(b, "u32", AG_GGUF_U32), u32(b, 4000000000u);
    key(b, "i32", AG_GGUF_I32), u32(b, (uint32_t)-5);
    key(b, "f32", AG_GGUF_F32), u32(b, 0x3f800000u);
    key(b, "bool", AG_GGUF_BOOL), u8(b, 1);
    key(b, "u64", AG_GGUF_U64), u64(b, UINT64_MAX);
    key(b, "i64", AG_GGUF_I64), u64(b, (uint64_t)INT64_MIN);
    key(b, "f64", AG_GGUF_F64), u64(b, 0x3ff8000000000000ull);
    key(b, "arr.u32", AG_GGUF_ARRAY), u32(b, AG_GGUF_U32), u64(b, 3), u32(b, 1), u32(b, 2), u32(b, 3);
    key(b, "arr.f32", AG_GGUF_ARRAY), u32(b, AG_GGUF_F32), u64(b, 2), u32(b, 0xbf800000u), u32(b, 0x7fc00000u);
    key(b, "arr.i16", AG_GGUF_ARRAY), u32(b, AG_GGUF_I16), u64(b, 1), u8(b, 0), u8(b, 0x80);
    key(b, "arr.str", AG_GGUF_ARRAY), u32(b, AG_GGUF_STRING), u64(b, 3), str(b, "a"), str(b, ""), str(b, "\xc4\xa0x\n");
    key(b, "arr.empty", AG_GGUF_ARRAY), u32(b, AG_GGUF_BOOL), u64(b, 0);
    if (align != 32) key(b, "general.alignment", AG_GGUF_U32), u32(b, align);
    /* f32 8x2 (64 B), q8_0 32 (34 B), f16 32x1x2 (128 B), q4_K 256 (144 B) */
#define UP(x) (((x) + align - 1) / align * align)
    uint64_t off_b = UP(64), off_c = UP(off_b + 34), off_d = UP(off_c + 128);
#undef UP
    tensor(b, "t.f32", 2, ne_a, AG_TYPE_F32, 0);
    tensor(b, "t.q8_0", 1, ne_b, AG_TYPE_Q8_0, off_b);
    tensor(b, "t.f16", 3, ne_c, AG_TYPE_F16, off_c);
    tensor(b, "t.q4_K", 1, ne_d, AG_TYPE_Q4_K, off_d);
    while (b->n % align) u8(b, 0);
    for (uint64_t i = 0; i < off_d + 144; i++) u8(b, (uint8_t)(i * 37));
}

void ag_fuzz_seeds(void (*add)(void *ctx, const uint8_t *data, size_t size), void *ctx)
{
    static bb b;
    make_seed(&b, 3, 32);
    add(ctx, b.p, b.n);
    make_seed(&b, 2, 64);
    add(ctx, b.p, b.n);
}
