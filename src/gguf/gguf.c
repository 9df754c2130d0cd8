/* gguf.c: the GGUF reader (v2 and v3; layout in docs/qwen35-spec.md A.1).
 *
 * Stage 1 of 5 (load). The whole file is mapped (or read into one buffer)
 * and parsed in a single forward pass by a cursor that never moves past the
 * end: every count, string length, array size, dimension, type id, offset
 * and the alignment is checked against the bytes that remain before it is
 * used, so a truncated or lying file fails with one line naming the file,
 * the key or tensor, and the byte position. Counts are bounded by the
 * remaining bytes divided by the smallest possible record before anything
 * is allocated, so a header claiming 2^63 keys fails at once instead of
 * asking malloc for exabytes. Strings and tensor data stay pointers into
 * the buffer; only key and tensor names are copied (NUL-terminated). A
 * string array is walked once here to check every length, then kept as a
 * pointer to its first element and its byte size; readers walk it again
 * with a bounds-checked cursor. Rejected: a (pointer, length) entry per
 * element (16 bytes each: 8 MB for a 248k-token vocabulary and its merges,
 * kept for the model's lifetime though only the tokenizer reads them, once);
 * a uint32 offset index (still 2 MB, and nobody needs random access).
 *
 * Rejected alternatives: reading record by record with fread (needs the
 * same checks plus a copy of every string, and is slower for 150k-token
 * vocabularies); trusting the file like gguflib (a hostile file must never
 * crash us); accepting GGUF v1 (32-bit counts, obsolete since 2023: it is
 * refused with a clear "unsupported" message); nested arrays (no real file
 * uses them and ag_gguf_kv cannot describe them: refused).
 *
 * Duplicate keys, duplicate tensor names and overlapping tensor data are
 * found by sorting pointers (n log n), since a fuzzed file may hold many
 * thousands of records. The memory path (ag_gguf_open_memory) runs the same
 * parser on a caller's buffer and is what the fuzz target drives. */
#include "gguf/gguf.h"

#include "core/status.h"
#include "quant/types.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define AG_HAVE_MMAP 1
#else
#define AG_HAVE_MMAP 0
#endif

typedef unsigned long long ull; /* for printf: uint64_t is not always long long */

/* Bytes of one value of each scalar type (0: string and array, variable). */
static const uint8_t vtype_size[AG_GGUF_VTYPE_COUNT] = {
    [AG_GGUF_U8] = 1, [AG_GGUF_I8] = 1, [AG_GGUF_U16] = 2, [AG_GGUF_I16] = 2,
    [AG_GGUF_U32] = 4, [AG_GGUF_I32] = 4, [AG_GGUF_F32] = 4, [AG_GGUF_BOOL] = 1,
    [AG_GGUF_U64] = 8, [AG_GGUF_I64] = 8, [AG_GGUF_F64] = 8,
};

static const char *const vtype_names[AG_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *ag_gguf_vtype_name(uint32_t t)
{
    return t < AG_GGUF_VTYPE_COUNT ? vtype_names[t] : "unknown";
}

/* ---- little-endian reads (byte by byte: unaligned and host-independent) ---- */

static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }
static uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t rd64(const uint8_t *b) { return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32; }

/* ---- text from the file, made safe to print ---- */

enum { SHOW_MAX = 80 };
typedef struct shown {
    char s[SHOW_MAX + 4];
} shown;

/* At most SHOW_MAX bytes of p (cut at a UTF-8 boundary, "..." appended),
 * control characters and NUL replaced by '?'. */
static shown show(const char *p, uint64_t n)
{
    shown r;
    size_t lim = n > SHOW_MAX ? SHOW_MAX : (size_t)n, k = 0;
    if (n > SHOW_MAX)
        while (lim > 0 && ((unsigned char)p[lim] & 0xC0) == 0x80) lim--;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)p[i];
        r.s[k++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (n > SHOW_MAX) {
        memcpy(r.s + k, "...", 3);
        k += 3;
    }
    r.s[k] = 0;
    return r;
}

/* ---- the parser's cursor ---- */

typedef struct parser {
    ag_gguf *g;
    const uint8_t *b;
    uint64_t size;
    uint64_t pos;       /* invariant: pos <= size */
    char what[160];     /* what is being read: "header", "key #3 'general.name'" */
} parser;

/* Fails with "<path>: <what>: <message>". */
static ag_status perr(parser *ps, ag_status s, const char *fmt, ...) AG_PRINTF(3, 4);
static ag_status perr(parser *ps, ag_status s, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ag_fail(s, "%s: %s: %s", ps->g->path, ps->what, msg);
}

static uint64_t left(const parser *ps) { return ps->size - ps->pos; }

static ag_status truncated(parser *ps, const char *field, uint64_t need)
{
    return perr(ps, AG_ERR_FORMAT, "%s (%llu bytes) truncated at byte %llu: file ends at %llu", field,
                (ull)need, (ull)ps->pos, (ull)ps->size);
}

static ag_status get_u32(parser *ps, const char *field, uint32_t *v)
{
    if (left(ps) < 4) return truncated(ps, field, 4);
    *v = rd32(ps->b + ps->pos);
    ps->pos += 4;
    return AG_OK;
}

static ag_status get_u64(parser *ps, const char *field, uint64_t *v)
{
    if (left(ps) < 8) return truncated(ps, field, 8);
    *v = rd64(ps->b + ps->pos);
    ps->pos += 8;
    return AG_OK;
}

static ag_status get_str(parser *ps, const char *field, ag_str *s)
{
    uint64_t n = 0, at = ps->pos;
    ag_status st = get_u64(ps, field, &n);
    if (st) return st;
    if (n > left(ps))
        return perr(ps, AG_ERR_FORMAT, "%s at byte %llu claims %llu bytes but only %llu are left in the file",
                    field, (ull)at, (ull)n, (ull)left(ps));
    s->p = (const char *)ps->b + ps->pos;
    s->n = n;
    ps->pos += n;
    return AG_OK;
}

/* A NUL-terminated copy of a key or tensor name (which must hold no NUL). */
static ag_status copy_name(parser *ps, ag_str s, char **out)
{
    if (memchr(s.p, 0, (size_t)s.n))
        return perr(ps, AG_ERR_FORMAT, "name '%s' contains a NUL byte", show(s.p, s.n).s);
    char *c = malloc((size_t)s.n + 1);
    if (!c) return perr(ps, AG_ERR_NOMEM, "out of memory copying a name of %llu bytes", (ull)s.n);
    memcpy(c, s.p, (size_t)s.n);
    c[s.n] = 0;
    *out = c;
    return AG_OK;
}

/* ---- key/value section ---- */

static ag_status parse_value(parser *ps, ag_gguf_kv *kv)
{
    ag_status st;
    uint64_t at;
    kv->n = 1;
    if (kv->type == AG_GGUF_STRING) {
        if ((st = get_str(ps, "string value", &kv->str))) return st;
        kv->n_bytes = 8 + kv->str.n;
        return AG_OK;
    }
    if (kv->type != AG_GGUF_ARRAY) {
        uint32_t sz = vtype_size[kv->type];
        if (left(ps) < sz) return truncated(ps, ag_gguf_vtype_name(kv->type), sz);
        kv->data = ps->b + ps->pos;
        kv->n_bytes = sz;
        ps->pos += sz;
        return AG_OK;
    }
    if ((st = get_u32(ps, "array element type", &kv->arr_type))) return st;
    if (kv->arr_type == AG_GGUF_ARRAY)
        return perr(ps, AG_ERR_UNSUPPORTED, "arrays of arrays are not supported");
    if (kv->arr_type >= AG_GGUF_VTYPE_COUNT)
        return perr(ps, AG_ERR_FORMAT, "unknown array element type %u", kv->arr_type);
    if ((st = get_u64(ps, "array count", &kv->n))) return st;
    at = ps->pos;
    if (kv->arr_type != AG_GGUF_STRING) {
        uint32_t sz = vtype_size[kv->arr_type];
        if (kv->n > left(ps) / sz)
            return perr(ps, AG_ERR_FORMAT,
                        "array of %llu %s values (%u bytes each) at byte %llu extends past end of file (%llu bytes left)",
                        (ull)kv->n, ag_gguf_vtype_name(kv->arr_type), sz, (ull)at, (ull)left(ps));
        kv->data = ps->b + ps->pos;
        kv->n_bytes = kv->n * sz;
        ps->pos += kv->n_bytes;
        return AG_OK;
    }
    /* Each string takes at least its 8-byte length: this bounds the allocation. */
    if (kv->n > left(ps) / 8)
        return perr(ps, AG_ERR_FORMAT,
                    "string array of %llu entries at byte %llu cannot fit in the %llu bytes left in the file",
                    (ull)kv->n, (ull)at, (ull)left(ps));
    kv->data = ps->b + ps->pos;
    for (uint64_t j = 0; j < kv->n; j++) {
        uint64_t n;
        if (left(ps) < 8 || (n = rd64(ps->b + ps->pos)) > left(ps) - 8)
            return perr(ps, AG_ERR_FORMAT,
                        "string array of %llu entries truncated at entry %llu (byte %llu, file size %llu)",
                        (ull)kv->n, (ull)j, (ull)ps->pos, (ull)ps->size);
        ps->pos += 8;
        ps->pos += n;
    }
    kv->n_bytes = ps->pos - at;
    return AG_OK;
}

static int cmp_kv_key(const void *a, const void *b)
{
    const ag_gguf_kv *x = *(const ag_gguf_kv *const *)a, *y = *(const ag_gguf_kv *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const ag_gguf_tensor *x = *(const ag_gguf_tensor *const *)a, *y = *(const ag_gguf_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const ag_gguf_tensor *x = *(const ag_gguf_tensor *const *)a, *y = *(const ag_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

static ag_status parse_kvs(parser *ps)
{
    ag_gguf *g = ps->g;
    ag_status st;
    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof(*g->kv));
    if (!g->kv) return perr(ps, AG_ERR_NOMEM, "out of memory for %llu keys", (ull)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        ag_gguf_kv *kv = &g->kv[i];
        ag_str name;
        snprintf(ps->what, sizeof(ps->what), "key #%llu", (ull)i);
        if ((st = get_str(ps, "name", &name))) return st;
        if ((st = copy_name(ps, name, &kv->key))) return st;
        snprintf(ps->what, sizeof(ps->what), "key #%llu '%s'", (ull)i, show(name.p, name.n).s);
        if ((st = get_u32(ps, "value type", &kv->type))) return st;
        if (kv->type >= AG_GGUF_VTYPE_COUNT)
            return perr(ps, AG_ERR_FORMAT, "unknown value type %u", kv->type);
        if ((st = parse_value(ps, kv))) return st;
    }
    snprintf(ps->what, sizeof(ps->what), "metadata");
    if (g->n_kv > 1) {
        const ag_gguf_kv **byname = malloc((size_t)g->n_kv * sizeof(*byname));
        if (!byname) return perr(ps, AG_ERR_NOMEM, "out of memory");
        for (uint64_t i = 0; i < g->n_kv; i++) byname[i] = &g->kv[i];
        qsort(byname, (size_t)g->n_kv, sizeof(*byname), cmp_kv_key);
        for (uint64_t i = 1; i < g->n_kv; i++) {
            if (strcmp(byname[i - 1]->key, byname[i]->key) == 0) {
                const char *k = byname[i]->key;
                st = perr(ps, AG_ERR_FORMAT, "key '%s' appears twice (#%llu and #%llu)", show(k, strlen(k)).s,
                          (ull)(byname[i - 1] - g->kv), (ull)(byname[i] - g->kv));
                free(byname);
                return st;
            }
        }
        free(byname);
    }
    return AG_OK;
}

static ag_status parse_alignment(parser *ps)
{
    ag_gguf *g = ps->g;
    int64_t i = ag_gguf_find_key(g, "general.alignment");
    g->alignment = 32;
    if (i < 0) return AG_OK;
    snprintf(ps->what, sizeof(ps->what), "key #%lld 'general.alignment'", (long long)i);
    if (g->kv[i].type != AG_GGUF_U32)
        return perr(ps, AG_ERR_FORMAT, "has type %s, expected u32", ag_gguf_vtype_name(g->kv[i].type));
    uint32_t a = rd32(g->kv[i].data);
    if (a == 0 || (a & (a - 1)))
        return perr(ps, AG_ERR_FORMAT, "alignment %u is not a nonzero power of two", a);
    g->alignment = a;
    return AG_OK;
}

/* ---- tensor infos ---- */

static ag_status parse_tensor_info(parser *ps, uint64_t i)
{
    ag_gguf *g = ps->g;
    ag_gguf_tensor *t = &g->tensors[i];
    ag_status st;
    ag_str name;
    snprintf(ps->what, sizeof(ps->what), "tensor #%llu", (ull)i);
    if ((st = get_str(ps, "name", &name))) return st;
    if ((st = copy_name(ps, name, &t->name))) return st;
    snprintf(ps->what, sizeof(ps->what), "tensor '%s'", show(name.p, name.n).s);
    if ((st = get_u32(ps, "n_dims", &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > 4)
        return perr(ps, AG_ERR_FORMAT, "n_dims = %u, must be 1..4", t->n_dims);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        char field[16];
        snprintf(field, sizeof(field), "ne[%u]", d);
        if ((st = get_u64(ps, field, &t->ne[d]))) return st;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return perr(ps, AG_ERR_FORMAT, "ne[%u] = %llu, must be 1..2^63-1", d, (ull)t->ne[d]);
        if (nel > (uint64_t)INT64_MAX / t->ne[d])
            return perr(ps, AG_ERR_FORMAT, "element count overflows int64 at ne[%u] = %llu", d, (ull)t->ne[d]);
        nel *= t->ne[d];
    }
    if ((st = get_u32(ps, "type", &t->type))) return st;
    const ag_type_traits *tt = ag_type_traits_of(t->type);
    if (!tt) {
        if (t->type < AG_TYPE_COUNT)
            return perr(ps, AG_ERR_UNSUPPORTED, "type id %u is not supported", t->type);
        return perr(ps, AG_ERR_FORMAT, "unknown type id %u", t->type);
    }
    if (t->ne[0] % tt->block)
        return perr(ps, AG_ERR_FORMAT, "ne[0] = %llu is not a multiple of the %s block size %u",
                    (ull)t->ne[0], tt->name, tt->block);
    uint64_t blocks = t->ne[0] / tt->block, rows = nel / t->ne[0];
    if (blocks > UINT64_MAX / tt->bytes || blocks * tt->bytes > UINT64_MAX / rows)
        return perr(ps, AG_ERR_FORMAT, "byte size of %llu %s values overflows", (ull)nel, tt->name);
    t->n_bytes = blocks * tt->bytes * rows;
    if ((st = get_u64(ps, "data offset", &t->offset))) return st;
    if (t->offset % g->alignment)
        return perr(ps, AG_ERR_FORMAT, "data offset %llu is not a multiple of the alignment %u",
                    (ull)t->offset, g->alignment);
    return AG_OK;
}

static ag_status parse_tensors(parser *ps)
{
    ag_gguf *g = ps->g;
    ag_status st;
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof(*g->tensors));
    if (!g->tensors) return perr(ps, AG_ERR_NOMEM, "out of memory for %llu tensors", (ull)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((st = parse_tensor_info(ps, i))) return st;

    /* The data section starts at the next multiple of the alignment. A file
     * without tensors may end before it (vocab-only files do). */
    uint64_t a = g->alignment;
    g->data_offset = ps->pos + (a - ps->pos % a) % a;
    if (g->n_tensors == 0) return AG_OK;
    snprintf(ps->what, sizeof(ps->what), "data section");
    if (g->data_offset > ps->size)
        return perr(ps, AG_ERR_FORMAT, "starts at byte %llu, past the end of the file (size %llu)",
                    (ull)g->data_offset, (ull)ps->size);
    uint64_t avail = ps->size - g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ag_gguf_tensor *t = &g->tensors[i];
        if (t->offset > avail || t->n_bytes > avail - t->offset) {
            snprintf(ps->what, sizeof(ps->what), "tensor '%s'", show(t->name, strlen(t->name)).s);
            return perr(ps, AG_ERR_FORMAT,
                        "data [offset %llu, %llu bytes] extends past end of file (size %llu, data section at byte %llu)",
                        (ull)t->offset, (ull)t->n_bytes, (ull)ps->size, (ull)g->data_offset);
        }
        t->data = ps->b + g->data_offset + t->offset;
    }
    if (g->n_tensors == 1) return AG_OK;

    ag_gguf_tensor **sorted = malloc((size_t)g->n_tensors * sizeof(*sorted));
    if (!sorted) return perr(ps, AG_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) sorted[i] = &g->tensors[i];
    st = AG_OK;
    snprintf(ps->what, sizeof(ps->what), "tensor infos");
    qsort(sorted, (size_t)g->n_tensors, sizeof(*sorted), cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors && !st; i++) {
        const char *n = sorted[i]->name;
        if (strcmp(sorted[i - 1]->name, n) == 0)
            st = perr(ps, AG_ERR_FORMAT, "tensor name '%s' appears twice (#%llu and #%llu)", show(n, strlen(n)).s,
                      (ull)(sorted[i - 1] - g->tensors), (ull)(sorted[i] - g->tensors));
    }
    if (!st) qsort(sorted, (size_t)g->n_tensors, sizeof(*sorted), cmp_tensor_offset);
    for (uint64_t i = 1; i < g->n_tensors && !st; i++) {
        const ag_gguf_tensor *x = sorted[i - 1], *y = sorted[i];
        if (x->offset + x->n_bytes > y->offset) {
            shown sx = show(x->name, strlen(x->name)), sy = show(y->name, strlen(y->name));
            st = perr(ps, AG_ERR_FORMAT, "tensor '%s' [offset %llu, %llu bytes] overlaps tensor '%s' [offset %llu]",
                      sx.s, (ull)x->offset, (ull)x->n_bytes, sy.s, (ull)y->offset);
        }
    }
    free(sorted);
    return st;
}

/* ---- header and entry points ---- */

static ag_status parse(ag_gguf *g)
{
    parser ps = {.g = g, .b = g->base, .size = g->file_size, .pos = 0};
    ag_status st;
    snprintf(ps.what, sizeof(ps.what), "header");
    if (ps.size < 4)
        return perr(&ps, AG_ERR_FORMAT, "file is %llu bytes, too small to be GGUF", (ull)ps.size);
    if (memcmp(ps.b, "GGUF", 4) != 0) {
        char m[4];
        for (int i = 0; i < 4; i++) m[i] = (char)ps.b[i];
        return perr(&ps, AG_ERR_FORMAT, "bad magic '%s' (%02x %02x %02x %02x), not a GGUF file", show(m, 4).s,
                    ps.b[0], ps.b[1], ps.b[2], ps.b[3]);
    }
    ps.pos = 4;
    if ((st = get_u32(&ps, "version", &g->version))) return st;
    uint32_t v = g->version;
    if (v == 1)
        return perr(&ps, AG_ERR_UNSUPPORTED, "GGUF version 1 (32-bit counts) is not supported; re-convert the model");
    if ((v & 0xffff) == 0 && (v >> 24) >= 1 && (v >> 24) <= 3)
        return perr(&ps, AG_ERR_UNSUPPORTED, "big-endian GGUF (version %u byte-swapped) is not supported", v >> 24);
    if (v == 0) return perr(&ps, AG_ERR_FORMAT, "invalid version 0");
    if (v > 3) return perr(&ps, AG_ERR_UNSUPPORTED, "version %u is not supported (only 2 and 3)", v);
    if ((st = get_u64(&ps, "n_tensors", &g->n_tensors))) return st;
    if ((st = get_u64(&ps, "n_kv", &g->n_kv))) return st;
    /* Smallest records: a key/value is 8 (name length) + 4 (type) + 1 (a u8);
     * a tensor info is 8 (name length) + 4 (n_dims) + 8 (ne0) + 4 (type) + 8 (offset). */
    uint64_t rest = left(&ps);
    if (g->n_kv > rest / 13 || g->n_tensors > rest / 32 || g->n_kv * 13 + g->n_tensors * 32 > rest)
        return perr(&ps, AG_ERR_FORMAT,
                    "n_kv = %llu and n_tensors = %llu cannot fit in the %llu bytes after the header "
                    "(a key/value takes at least 13 bytes, a tensor info 32)",
                    (ull)g->n_kv, (ull)g->n_tensors, (ull)rest);
    /* ag_gguf_close frees what the arrays hold so far: they start zeroed. */
    if ((st = parse_kvs(&ps))) return st;
    if ((st = parse_alignment(&ps))) return st;
    return parse_tensors(&ps);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static ag_status new_gguf(const char *path, ag_gguf **out)
{
    ag_gguf *g = calloc(1, sizeof(*g));
    if (g) g->path = dup_str(path);
    if (!g || !g->path) {
        free(g);
        return ag_fail(AG_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = g;
    return AG_OK;
}

ag_status ag_gguf_open_memory(const void *data, size_t size, const char *name, ag_gguf **out)
{
    ag_gguf *g = NULL;
    ag_status st;
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size) return ag_fail(AG_ERR_INVALID_ARG, "%s: NULL buffer of %zu bytes", name, size);
    if ((st = new_gguf(name, &g))) return st;
    g->base = data ? data : (const uint8_t *)"";
    g->file_size = size;
    if ((st = parse(g))) {
        ag_gguf_close(g);
        return st;
    }
    *out = g;
    return AG_OK;
}

/* Reads all of fd into a 64-byte aligned buffer (so tensor data keeps the
 * file's alignment up to 64). */
static ag_status read_all(ag_gguf *g, int fd)
{
    size_t size = (size_t)g->file_size, cap = (size + 63) / 64 * 64;
    uint8_t *buf = aligned_alloc(64, cap ? cap : 64);
    if (!buf) return ag_fail(AG_ERR_NOMEM, "%s: out of memory reading %zu bytes", g->path, size);
    size_t got = 0;
    while (got < size) {
        size_t chunk = size - got > ((size_t)1 << 30) ? (size_t)1 << 30 : size - got;
        ssize_t r = read(fd, buf + got, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            ag_status st = r < 0 ? ag_fail(AG_ERR_IO, "%s: read failed at byte %zu: %s", g->path, got, strerror(errno))
                                 : ag_fail(AG_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)", g->path,
                                           got, size);
            free(buf);
            return st;
        }
        got += (size_t)r;
    }
    g->base = buf;
    g->owns_buf = true;
    return AG_OK;
}

ag_status ag_gguf_open(const char *path, bool use_mmap, ag_gguf **out)
{
    ag_gguf *g = NULL;
    ag_status st;
    struct stat sb;
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return ag_fail(AG_ERR_INVALID_ARG, "ag_gguf_open: path is NULL");
    if ((st = new_gguf(path, &g))) return st;
#ifdef O_CLOEXEC
    int fd = open(path, O_RDONLY | O_CLOEXEC);
#else
    int fd = open(path, O_RDONLY);
#endif
    if (fd < 0) {
        st = ag_fail(AG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail_free;
    }
    if (fstat(fd, &sb) != 0) {
        st = ag_fail(AG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail_close;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = ag_fail(AG_ERR_IO, "%s: is a directory", path);
        goto fail_close;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = ag_fail(AG_ERR_IO, "%s: not a regular file", path);
        goto fail_close;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > SIZE_MAX) {
        st = ag_fail(AG_ERR_UNSUPPORTED, "%s: file of %llu bytes does not fit in the address space", path,
                     (ull)sb.st_size);
        goto fail_close;
    }
    g->file_size = (uint64_t)sb.st_size;
#if AG_HAVE_MMAP
    if (use_mmap && g->file_size > 0) {
        void *m = mmap(NULL, (size_t)g->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            g->base = m;
            g->is_mmap = true;
        }
    }
#endif
    if (!g->base && (st = read_all(g, fd))) goto fail_close;
    close(fd);
    if ((st = parse(g))) {
        ag_gguf_close(g);
        return st;
    }
    *out = g;
    return AG_OK;

fail_close:
    close(fd);
fail_free:
    ag_gguf_close(g);
    return st;
}

void ag_gguf_close(ag_gguf *g)
{
    if (!g) return;
    if (g->kv) {
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
        }
        free(g->kv);
    }
    if (g->tensors) {
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
        free(g->tensors);
    }
#if AG_HAVE_MMAP
    if (g->is_mmap) munmap((void *)g->base, (size_t)g->file_size);
#endif
    if (g->owns_buf) free((void *)g->base);
    free(g->path);
    free(g);
}

/* ---- lookups and typed getters ---- */

int64_t ag_gguf_find_key(const ag_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return (int64_t)i;
    return -1;
}

int64_t ag_gguf_find_tensor(const ag_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return (int64_t)i;
    return -1;
}

static const ag_gguf_kv *lookup(const ag_gguf *g, const char *key, ag_status *st)
{
    int64_t i = ag_gguf_find_key(g, key);
    if (i < 0) {
        *st = ag_fail(AG_ERR_FORMAT, "%s: key '%s' not found", g->path, show(key, strlen(key)).s);
        return NULL;
    }
    *st = AG_OK;
    return &g->kv[i];
}

static ag_status wrong_type(const ag_gguf *g, const ag_gguf_kv *kv, const char *want)
{
    return ag_fail(AG_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path,
                   show(kv->key, strlen(kv->key)).s, ag_gguf_vtype_name(kv->type), want);
}

static bool is_int_type(uint32_t t)
{
    return t <= AG_GGUF_I32 || t == AG_GGUF_U64 || t == AG_GGUF_I64;
}

/* Integer at p of type t: *neg tells whether it is negative, *s holds it
 * when signed (or negative), *u when unsigned and non-negative. */
static void read_int(uint32_t t, const uint8_t *p, bool *neg, int64_t *s, uint64_t *u)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    bool is_signed = true;
    switch (t) {
    case AG_GGUF_U8: uv = p[0]; is_signed = false; break;
    case AG_GGUF_I8: sv = (int8_t)p[0]; break;
    case AG_GGUF_U16: uv = rd16(p); is_signed = false; break;
    case AG_GGUF_I16: sv = (int16_t)rd16(p); break;
    case AG_GGUF_U32: uv = rd32(p); is_signed = false; break;
    case AG_GGUF_I32: sv = (int32_t)rd32(p); break;
    case AG_GGUF_U64: uv = rd64(p); is_signed = false; break;
    case AG_GGUF_I64: sv = (int64_t)rd64(p); break;
    default: break;
    }
    if (is_signed && sv >= 0) {
        uv = (uint64_t)sv;
        is_signed = false;
    }
    *neg = is_signed;
    *s = sv;
    *u = uv;
}

static ag_status get_int(const ag_gguf *g, const char *key, int64_t lo, uint64_t hi, const char *tname,
                         bool *neg, int64_t *s, uint64_t *u)
{
    ag_status st;
    const ag_gguf_kv *kv = lookup(g, key, &st);
    if (!kv) return st;
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer");
    read_int(kv->type, kv->data, neg, s, u);
    if ((*neg && *s < lo) || (!*neg && *u > hi)) {
        if (*neg)
            return ag_fail(AG_ERR_FORMAT, "%s: key '%s' = %lld does not fit in %s", g->path,
                           show(key, strlen(key)).s, (long long)*s, tname);
        return ag_fail(AG_ERR_FORMAT, "%s: key '%s' = %llu does not fit in %s", g->path, show(key, strlen(key)).s,
                       (ull)*u, tname);
    }
    return AG_OK;
}

ag_status ag_gguf_get_u32(const ag_gguf *g, const char *key, uint32_t *out)
{
    bool neg;
    int64_t s;
    uint64_t u;
    ag_status st = get_int(g, key, 0, UINT32_MAX, "u32", &neg, &s, &u);
    if (!st) *out = (uint32_t)u;
    return st;
}

ag_status ag_gguf_get_i64(const ag_gguf *g, const char *key, int64_t *out)
{
    bool neg;
    int64_t s;
    uint64_t u;
    ag_status st = get_int(g, key, INT64_MIN, INT64_MAX, "i64", &neg, &s, &u);
    if (!st) *out = neg ? s : (int64_t)u;
    return st;
}

ag_status ag_gguf_get_f32(const ag_gguf *g, const char *key, float *out)
{
    ag_status st;
    const ag_gguf_kv *kv = lookup(g, key, &st);
    if (!kv) return st;
    if (kv->type == AG_GGUF_F32) {
        uint32_t b = rd32(kv->data);
        memcpy(out, &b, 4);
    } else if (kv->type == AG_GGUF_F64) {
        uint64_t b = rd64(kv->data);
        double d;
        memcpy(&d, &b, 8);
        *out = (float)d;
    } else {
        return wrong_type(g, kv, "f32 or f64");
    }
    return AG_OK;
}

ag_status ag_gguf_get_bool(const ag_gguf *g, const char *key, bool *out)
{
    ag_status st;
    const ag_gguf_kv *kv = lookup(g, key, &st);
    if (!kv) return st;
    if (kv->type != AG_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = *(const uint8_t *)kv->data != 0;
    return AG_OK;
}

ag_status ag_gguf_get_str(const ag_gguf *g, const char *key, ag_str *out)
{
    ag_status st;
    const ag_gguf_kv *kv = lookup(g, key, &st);
    if (!kv) return st;
    if (kv->type != AG_GGUF_STRING) return wrong_type(g, kv, "string");
    *out = kv->str;
    return AG_OK;
}

ag_status ag_gguf_get_arr(const ag_gguf *g, const char *key, uint32_t *arr_type, uint64_t *n,
                          const ag_gguf_kv **kvp)
{
    ag_status st;
    const ag_gguf_kv *kv = lookup(g, key, &st);
    if (!kv) return st;
    if (kv->type != AG_GGUF_ARRAY) return wrong_type(g, kv, "array");
    if (arr_type) *arr_type = kv->arr_type;
    if (n) *n = kv->n;
    if (kvp) *kvp = kv;
    return AG_OK;
}

static bool is_numeric_array(const ag_gguf_kv *kv)
{
    return kv->type == AG_GGUF_ARRAY && kv->arr_type < AG_GGUF_VTYPE_COUNT && vtype_size[kv->arr_type] != 0;
}

/* Element i of a numeric array (bool counts as 0/1). Floats are truncated
 * toward zero and saturated; u64 above INT64_MAX saturates. Calling it on a
 * non-numeric array or with i >= n is a programmer bug. */
int64_t ag_gguf_arr_i64(const ag_gguf_kv *kv, uint64_t i)
{
    AG_ASSERT(is_numeric_array(kv) && i < kv->n);
    const uint8_t *p = (const uint8_t *)kv->data + i * vtype_size[kv->arr_type];
    if (kv->arr_type == AG_GGUF_F32 || kv->arr_type == AG_GGUF_F64) {
        double d = ag_gguf_arr_f64(kv, i);
        if (!(d == d)) return 0;
        if (d >= 9223372036854775807.0) return INT64_MAX;
        if (d <= -9223372036854775808.0) return INT64_MIN;
        return (int64_t)d;
    }
    if (kv->arr_type == AG_GGUF_BOOL) return p[0] != 0;
    bool neg;
    int64_t s;
    uint64_t u;
    read_int(kv->arr_type, p, &neg, &s, &u);
    if (neg) return s;
    return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
}

double ag_gguf_arr_f64(const ag_gguf_kv *kv, uint64_t i)
{
    AG_ASSERT(is_numeric_array(kv) && i < kv->n);
    const uint8_t *p = (const uint8_t *)kv->data + i * vtype_size[kv->arr_type];
    if (kv->arr_type == AG_GGUF_F32) {
        uint32_t b = rd32(p);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    if (kv->arr_type == AG_GGUF_F64) {
        uint64_t b = rd64(p);
        double d;
        memcpy(&d, &b, 8);
        return d;
    }
    if (kv->arr_type == AG_GGUF_BOOL) return p[0] != 0;
    bool neg;
    int64_t s;
    uint64_t u;
    read_int(kv->arr_type, p, &neg, &s, &u);
    return neg ? (double)s : (double)u;
}

/* ---- string arrays ---- */

ag_gguf_str_cursor ag_gguf_arr_str_begin(const ag_gguf_kv *kv)
{
    ag_gguf_str_cursor c = {NULL, NULL, 0, 0};
    AG_ASSERT(kv->type == AG_GGUF_ARRAY && kv->arr_type == AG_GGUF_STRING);
    if (kv->data) {
        c.p = kv->data;
        c.end = c.p + kv->n_bytes;
        c.n = kv->n;
    }
    return c;
}

bool ag_gguf_arr_str_next(ag_gguf_str_cursor *c, ag_str *out)
{
    if (c->i >= c->n || (size_t)(c->end - c->p) < 8) return false;
    uint64_t n = rd64(c->p);
    if (n > (uint64_t)(c->end - c->p) - 8) return false; /* the file changed under the mapping */
    out->p = (const char *)c->p + 8;
    out->n = n;
    c->p += 8 + n;
    c->i++;
    return true;
}

ag_str ag_gguf_arr_str(const ag_gguf_kv *kv, uint64_t i)
{
    AG_ASSERT(i < kv->n);
    ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
    ag_str s = {"", 0};
    for (uint64_t j = 0; j <= i; j++)
        if (!ag_gguf_arr_str_next(&c, &s)) return (ag_str){"", 0};
    return s;
}

void ag_gguf_release_range(const ag_gguf *g, const void *p, uint64_t n)
{
#if AG_HAVE_MMAP && defined(MADV_DONTNEED)
    if (!g || !p || !g->is_mmap) return;
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    uintptr_t page = (uintptr_t)ps, lo = (uintptr_t)p, base = (uintptr_t)g->base;
    AG_ASSERT(lo >= base && lo - base <= g->file_size && n <= g->file_size - (lo - base));
    uintptr_t hi = lo + (uintptr_t)n;
    lo = (lo + page - 1) / page * page; /* whole pages inside the range only */
    hi = hi / page * page;
    if (hi > lo) madvise((void *)lo, (size_t)(hi - lo), MADV_DONTNEED); /* a failed hint changes nothing */
#else
    (void)g;
    (void)p;
    (void)n;
#endif
}

void ag_gguf_release(const ag_gguf *g, const ag_gguf_kv *kv)
{
    if (kv && kv->data) ag_gguf_release_range(g, kv->data, kv->n_bytes);
}

/* ---- rendering ---- */

typedef struct out_buf {
    char *buf;
    size_t cap, len; /* len counts what would be written with enough room */
} out_buf;

static void put_fmt(out_buf *o, const char *fmt, ...) AG_PRINTF(2, 3);
static void put_fmt(out_buf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = o->len < o->cap ? vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap) : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

static void put_ch(out_buf *o, char c)
{
    if (o->len + 1 < o->cap) {
        o->buf[o->len] = c;
        o->buf[o->len + 1] = 0;
    }
    o->len++;
}

static void put_quoted(out_buf *o, ag_str s)
{
    put_ch(o, '"');
    for (uint64_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"' || c == '\\') {
            put_ch(o, '\\');
            put_ch(o, (char)c);
        } else if (c == '\n') {
            put_fmt(o, "\\n");
        } else if (c == '\t') {
            put_fmt(o, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            put_fmt(o, "\\x%02x", c);
        } else {
            put_ch(o, (char)c);
        }
    }
    put_ch(o, '"');
}

static void put_scalar(out_buf *o, uint32_t t, const uint8_t *p)
{
    if (t == AG_GGUF_F32) {
        uint32_t b = rd32(p);
        float f;
        memcpy(&f, &b, 4);
        put_fmt(o, "%g", (double)f);
    } else if (t == AG_GGUF_F64) {
        uint64_t b = rd64(p);
        double d;
        memcpy(&d, &b, 8);
        put_fmt(o, "%g", d);
    } else if (t == AG_GGUF_BOOL) {
        put_fmt(o, "%s", p[0] ? "true" : "false");
    } else {
        bool neg;
        int64_t s;
        uint64_t u;
        read_int(t, p, &neg, &s, &u);
        if (neg) put_fmt(o, "%lld", (long long)s);
        else put_fmt(o, "%llu", (ull)u);
    }
}

/* snprintf-like: writes at most cap-1 characters and a NUL (when cap > 0)
 * and returns the full length the rendering needs. Strings are quoted with
 * C escapes; arrays show their first max_items items, then
 * "... (N items)". */
size_t ag_gguf_kv_to_string(const ag_gguf_kv *kv, size_t max_items, char *buf, size_t cap)
{
    out_buf o = {buf, buf ? cap : 0, 0};
    if (o.cap) o.buf[0] = 0;
    if (kv->type == AG_GGUF_STRING) {
        put_quoted(&o, kv->str);
    } else if (kv->type != AG_GGUF_ARRAY) {
        if (kv->type < AG_GGUF_VTYPE_COUNT) put_scalar(&o, kv->type, kv->data);
        else put_fmt(&o, "?");
    } else if (kv->arr_type >= AG_GGUF_VTYPE_COUNT || kv->arr_type == AG_GGUF_ARRAY ||
               (kv->arr_type == AG_GGUF_STRING && kv->n && !kv->data)) {
        put_fmt(&o, "[? (%llu items)]", (ull)kv->n); /* not something the reader makes */
    } else {
        uint64_t shown_n = kv->n < max_items ? kv->n : max_items;
        ag_gguf_str_cursor c = {NULL, NULL, 0, 0};
        if (kv->arr_type == AG_GGUF_STRING) c = ag_gguf_arr_str_begin(kv);
        put_ch(&o, '[');
        for (uint64_t i = 0; i < shown_n; i++) {
            ag_str s = {"", 0};
            if (i) put_fmt(&o, ", ");
            if (kv->arr_type == AG_GGUF_STRING) {
                ag_gguf_arr_str_next(&c, &s); /* s stays empty if the walk ends early */
                put_quoted(&o, s);
            } else {
                put_scalar(&o, kv->arr_type, (const uint8_t *)kv->data + i * vtype_size[kv->arr_type]);
            }
        }
        if (shown_n < kv->n) put_fmt(&o, "%s... (%llu items)", shown_n ? ", " : "", (ull)kv->n);
        put_ch(&o, ']');
    }
    return o.len;
}
