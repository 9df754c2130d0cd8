/* gguf_write.c: the GGUF v3 writer (layout in docs/qwen35-spec.md A.1).
 *
 * Stage 1 of 5 (load), tooling side: synthetic models and rewritten files.
 * Each metadata value is serialized into its final on-disk bytes (type tag
 * and value) when it is set, so writing the header is a plain concatenation
 * and ag_gguf_set_kv can copy any value from a reader without a second
 * representation. Tensors are only described up front; their bytes come
 * from the caller's pointer or from the fill callback one tensor at a time
 * while the file is streamed, so a multi-GiB model never sits in memory
 * whole. The file is written to "<path>.tmp" and renamed on success, so a
 * failed or interrupted write never leaves a half file under the final
 * name. Padding (after the header and after each tensor) is zero bytes.
 *
 * Rejected alternatives: keeping typed values and serializing at write time
 * (two code paths for the same bytes); writing in place (a crash leaves a
 * truncated model that looks like a real one); a fill callback with byte
 * ranges (the header's fill signature produces a whole tensor, which keeps
 * generators simple; the largest tensor bounds the memory used). */
#include "gguf/gguf.h"

#include "core/status.h"
#include "quant/types.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

static const uint8_t vsize[AG_GGUF_VTYPE_COUNT] = {
    [AG_GGUF_U8] = 1, [AG_GGUF_I8] = 1, [AG_GGUF_U16] = 2, [AG_GGUF_I16] = 2,
    [AG_GGUF_U32] = 4, [AG_GGUF_I32] = 4, [AG_GGUF_F32] = 4, [AG_GGUF_BOOL] = 1,
    [AG_GGUF_U64] = 8, [AG_GGUF_I64] = 8, [AG_GGUF_F64] = 8,
};

enum { MAX_KEY = 65535, MAX_NAME = 65535 };

typedef struct wkv {
    char *key;
    uint8_t *val;   /* type tag (u32) + value, as in the file */
    size_t n_val;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    uint64_t n_bytes;
    const void *data; /* NULL: the fill callback provides the bytes */
} wtensor;

struct ag_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    bool (*fill)(void *user, uint64_t i, void *dst, uint64_t n_bytes);
    void *user;
};

/* ---- a growable byte buffer for serializing one value ---- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(bytes *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(bytes *b, const char *s, uint64_t n)
{
    if (n > SIZE_MAX) {
        b->oom = true;
        return;
    }
    put_u64(b, n);
    put(b, s, (size_t)n);
}

/* ---- metadata ---- */

ag_gguf_writer *ag_gguf_writer_create(void) { return calloc(1, sizeof(ag_gguf_writer)); }

void ag_gguf_writer_free(ag_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* Takes ownership of b's bytes (freed on failure). Setting an existing key
 * replaces its value in place, so a tool can copy every key from a reader
 * and then override a few. */
static ag_status set_value(ag_gguf_writer *w, const char *key, bytes *b)
{
    if (b->oom) {
        free(b->p);
        return ag_fail(AG_ERR_NOMEM, "gguf writer: out of memory for key '%.80s'", key ? key : "");
    }
    if (!w || !key || !key[0] || strlen(key) > MAX_KEY) {
        free(b->p);
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: bad key '%.80s' (must be 1..%d bytes)", key ? key : "(null)",
                       MAX_KEY);
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].val = b->p;
            w->kv[i].n_val = b->n;
            return AG_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *kv = realloc(w->kv, cap * sizeof(*kv));
        if (!kv) {
            free(b->p);
            return ag_fail(AG_ERR_NOMEM, "gguf writer: out of memory");
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = dup_str(key);
    if (!k) {
        free(b->p);
        return ag_fail(AG_ERR_NOMEM, "gguf writer: out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, b->p, b->n};
    return AG_OK;
}

static ag_status set_scalar(ag_gguf_writer *w, const char *key, uint32_t type, const void *le_bytes)
{
    bytes b = {0};
    put_u32(&b, type);
    put(&b, le_bytes, vsize[type]);
    return set_value(w, key, &b);
}

ag_status ag_gguf_set_u32(ag_gguf_writer *w, const char *key, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return set_scalar(w, key, AG_GGUF_U32, x);
}

ag_status ag_gguf_set_i32(ag_gguf_writer *w, const char *key, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    return set_scalar(w, key, AG_GGUF_I32, x);
}

ag_status ag_gguf_set_u64(ag_gguf_writer *w, const char *key, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    return set_scalar(w, key, AG_GGUF_U64, x);
}

ag_status ag_gguf_set_f32(ag_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t x[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    return set_scalar(w, key, AG_GGUF_F32, x);
}

ag_status ag_gguf_set_bool(ag_gguf_writer *w, const char *key, bool v)
{
    uint8_t x = v ? 1 : 0;
    return set_scalar(w, key, AG_GGUF_BOOL, &x);
}

ag_status ag_gguf_set_str(ag_gguf_writer *w, const char *key, const char *v)
{
    bytes b = {0};
    if (!v) return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': NULL string", key ? key : "(null)");
    put_u32(&b, AG_GGUF_STRING);
    put_str(&b, v, strlen(v));
    return set_value(w, key, &b);
}

/* Numeric array bytes are taken as little-endian host values (every target
 * airgap runs on is little-endian). */
ag_status ag_gguf_set_arr(ag_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n)
{
    bytes b = {0};
    if (elem_type >= AG_GGUF_VTYPE_COUNT || vsize[elem_type] == 0)
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': array element type %u is not a number type",
                       key ? key : "(null)", elem_type);
    if (n > SIZE_MAX / vsize[elem_type] || (n && !data))
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': bad array of %llu elements",
                       key ? key : "(null)", (ull)n);
    put_u32(&b, AG_GGUF_ARRAY);
    put_u32(&b, elem_type);
    put_u64(&b, n);
    put(&b, data, (size_t)n * vsize[elem_type]);
    return set_value(w, key, &b);
}

ag_status ag_gguf_set_arr_str(ag_gguf_writer *w, const char *key, const char *const *strs, uint64_t n)
{
    bytes b = {0};
    if (n && !strs) return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': NULL string array", key ? key : "");
    for (uint64_t i = 0; i < n; i++)
        if (!strs[i])
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': string #%llu is NULL", key ? key : "",
                           (ull)i);
    put_u32(&b, AG_GGUF_ARRAY);
    put_u32(&b, AG_GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, strs[i], strlen(strs[i]));
    return set_value(w, key, &b);
}

ag_status ag_gguf_set_kv(ag_gguf_writer *w, const ag_gguf_kv *kv)
{
    bytes b = {0};
    if (!kv || !kv->key || kv->type >= AG_GGUF_VTYPE_COUNT ||
        (kv->type == AG_GGUF_STRING ? kv->str.n && !kv->str.p
         : kv->type == AG_GGUF_ARRAY ? kv->n && !kv->data
                                     : !kv->data))
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: bad key/value to copy");
    put_u32(&b, kv->type);
    if (kv->type == AG_GGUF_STRING) {
        put_str(&b, kv->str.p, kv->str.n);
    } else if (kv->type != AG_GGUF_ARRAY) {
        put(&b, kv->data, vsize[kv->type]);
    } else if (kv->arr_type == AG_GGUF_STRING) {
        ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
        ag_str s;
        put_u32(&b, AG_GGUF_STRING);
        put_u64(&b, kv->n);
        while (ag_gguf_arr_str_next(&c, &s)) put_str(&b, s.p, s.n);
        if (c.i != kv->n || c.p != c.end) {
            free(b.p);
            return ag_fail(AG_ERR_FORMAT, "gguf writer: key '%.80s': string array ends after %llu of %llu entries "
                           "(file changed while open?)", kv->key, (ull)c.i, (ull)kv->n);
        }
    } else {
        if (kv->arr_type >= AG_GGUF_VTYPE_COUNT || vsize[kv->arr_type] == 0) {
            free(b.p);
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: key '%.80s': cannot copy an array of type %u", kv->key,
                           kv->arr_type);
        }
        put_u32(&b, kv->arr_type);
        put_u64(&b, kv->n);
        if (kv->n > SIZE_MAX / vsize[kv->arr_type]) b.oom = true;
        else put(&b, kv->data, (size_t)kv->n * vsize[kv->arr_type]);
    }
    return set_value(w, kv->key, &b);
}

/* ---- tensors ---- */

ag_status ag_gguf_add_tensor(ag_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                             const uint64_t *ne, const void *data)
{
    if (!w || !name || !name[0] || strlen(name) > MAX_NAME)
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: bad tensor name '%.80s'", name ? name : "(null)");
    if (n_dims < 1 || n_dims > 4 || !ne)
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s': n_dims = %u, must be 1..4", name, n_dims);
    const ag_type_traits *tt = ag_type_traits_of(type);
    if (!tt) return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s': unknown type id %u", name, type);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || nel > (uint64_t)INT64_MAX / ne[d])
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s': bad ne[%u] = %llu", name, d,
                           (ull)ne[d]);
        nel *= ne[d];
    }
    if (ne[0] % tt->block)
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s': ne[0] = %llu is not a multiple of the %s block %u",
                       name, (ull)ne[0], tt->name, tt->block);
    uint64_t blocks = ne[0] / tt->block, rows = nel / ne[0];
    if (blocks > UINT64_MAX / tt->bytes || blocks * tt->bytes > UINT64_MAX / rows)
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s': byte size overflows", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s' added twice", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *t = realloc(w->t, cap * sizeof(*t));
        if (!t) return ag_fail(AG_ERR_NOMEM, "gguf writer: out of memory");
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof(*t));
    if (!(t->name = dup_str(name))) return ag_fail(AG_ERR_NOMEM, "gguf writer: out of memory");
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->n_bytes = blocks * tt->bytes * rows;
    t->data = data;
    w->n_t++;
    return AG_OK;
}

void ag_gguf_writer_set_fill(ag_gguf_writer *w, bool (*fill)(void *user, uint64_t i, void *dst, uint64_t n_bytes),
                             void *user)
{
    w->fill = fill;
    w->user = user;
}

/* ---- the file ---- */

typedef struct sink {
    FILE *f;
    const char *path; /* the .tmp path, for messages */
    uint64_t pos;
    bool failed;
    int err;
} sink;

static void emit(sink *s, const void *p, size_t n)
{
    if (s->failed || n == 0) return;
    if (fwrite(p, 1, n, s->f) != n) {
        s->failed = true;
        s->err = errno;
    }
    s->pos += n;
}

static void emit_u32(sink *s, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    emit(s, x, 4);
}

static void emit_u64(sink *s, uint64_t v)
{
    emit_u32(s, (uint32_t)v);
    emit_u32(s, (uint32_t)(v >> 32));
}

static void emit_pad(sink *s, uint32_t align)
{
    static const uint8_t zeros[256];
    uint64_t n = (align - s->pos % align) % align;
    while (n > 0) {
        size_t k = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
        emit(s, zeros, k);
        n -= k;
    }
}

static uint64_t align_up(uint64_t x, uint32_t a) { return x + (a - x % a) % a; }

/* The alignment to write with: the argument (0 = 32), reconciled with a
 * "general.alignment" key the caller may have set. *add_key tells whether
 * the key must be added so that readers see a non-default alignment. */
static ag_status pick_alignment(const ag_gguf_writer *w, uint32_t arg, uint32_t *align, bool *add_key)
{
    uint32_t a = arg ? arg : 32;
    bool found = false;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const uint8_t *v = w->kv[i].val;
        uint32_t t = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
        if (t != AG_GGUF_U32)
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: general.alignment must be a u32");
        uint32_t k = (uint32_t)v[4] | (uint32_t)v[5] << 8 | (uint32_t)v[6] << 16 | (uint32_t)v[7] << 24;
        if (arg && k != arg)
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: general.alignment = %u conflicts with alignment %u", k,
                           arg);
        a = k;
        found = true;
        break;
    }
    if (a == 0 || (a & (a - 1)))
        return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: alignment %u is not a nonzero power of two", a);
    *add_key = a != 32 && !found;
    *align = a;
    return AG_OK;
}

ag_status ag_gguf_write_file(ag_gguf_writer *w, const char *path, uint32_t alignment)
{
    ag_status st;
    uint32_t align = 32;
    bool add_key = false;
    uint8_t *scratch = NULL;
    uint64_t scratch_n = 0;
    if (!w || !path) return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: NULL writer or path");
    if ((st = pick_alignment(w, alignment, &align, &add_key))) return st;
    for (size_t i = 0; i < w->n_t; i++) {
        if (!w->t[i].data && !w->fill)
            return ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor '%.80s' has no data and there is no fill callback",
                           w->t[i].name);
        if (w->t[i].n_bytes > SIZE_MAX)
            return ag_fail(AG_ERR_UNSUPPORTED, "gguf writer: tensor '%.80s' of %llu bytes exceeds the address space",
                           w->t[i].name, (ull)w->t[i].n_bytes);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return ag_fail(AG_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    sink s = {.f = fopen(tmp, "wb"), .path = tmp};
    if (!s.f) {
        st = ag_fail(AG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out_free_tmp;
    }

    /* header and metadata */
    emit(&s, "GGUF", 4);
    emit_u32(&s, 3);
    emit_u64(&s, w->n_t);
    emit_u64(&s, w->n_kv + (add_key ? 1 : 0));
    for (size_t i = 0; i < w->n_kv; i++) {
        size_t n = strlen(w->kv[i].key);
        emit_u64(&s, n);
        emit(&s, w->kv[i].key, n);
        emit(&s, w->kv[i].val, w->kv[i].n_val);
    }
    if (add_key) {
        static const char k[] = "general.alignment";
        emit_u64(&s, sizeof(k) - 1);
        emit(&s, k, sizeof(k) - 1);
        emit_u32(&s, AG_GGUF_U32);
        emit_u32(&s, align);
    }

    /* tensor infos: offsets laid out in add order, each aligned */
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t n = strlen(t->name);
        emit_u64(&s, n);
        emit(&s, t->name, n);
        emit_u32(&s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) emit_u64(&s, t->ne[d]);
        emit_u32(&s, t->type);
        off = align_up(off, align);
        emit_u64(&s, off);
        if (t->n_bytes > UINT64_MAX - align - off) {
            st = ag_fail(AG_ERR_INVALID_ARG, "gguf writer: tensor data exceeds 2^64 bytes");
            goto out_close;
        }
        off += t->n_bytes;
    }
    emit_pad(&s, align);

    /* tensor data */
    for (size_t i = 0; i < w->n_t && !s.failed; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            if (t->n_bytes > scratch_n) {
                free(scratch);
                scratch_n = 0;
                if (!(scratch = malloc((size_t)t->n_bytes))) {
                    st = ag_fail(AG_ERR_NOMEM, "%s: out of memory for tensor '%.80s' (%llu bytes)", path, t->name,
                                 (ull)t->n_bytes);
                    goto out_close;
                }
                scratch_n = t->n_bytes;
            }
            memset(scratch, 0, (size_t)t->n_bytes);
            if (!w->fill(w->user, i, scratch, t->n_bytes)) {
                st = ag_fail(AG_ERR_ABORTED, "%s: the fill callback stopped at tensor '%.80s'", path, t->name);
                goto out_close;
            }
            src = scratch;
        }
        emit(&s, src, (size_t)t->n_bytes);
        emit_pad(&s, align);
    }
    if (s.failed) {
        st = ag_fail(AG_ERR_IO, "%s: write failed at byte %llu: %s", tmp, (ull)s.pos, strerror(s.err));
        goto out_close;
    }
    FILE *f = s.f;
    s.f = NULL;
    if (fclose(f) != 0) {
        st = ag_fail(AG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        goto out_remove;
    }
    if (rename(tmp, path) != 0) {
        st = ag_fail(AG_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        goto out_remove;
    }
    st = AG_OK;
    goto out_free_tmp;

out_close:
    fclose(s.f);
out_remove:
    remove(tmp);
out_free_tmp:
    free(scratch);
    free(tmp);
    return st;
}
