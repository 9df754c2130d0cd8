/* gguf.h: reading and writing GGUF files (v2 and v3).
 *
 * The reader treats every file as hostile: each count, string length, array
 * size, tensor dimension, type id, offset and alignment is checked against
 * the file size before use, so a truncated or lying file fails with a clear
 * one-line error naming the file and the key or tensor. Strings and tensor
 * data are pointers into the mapping (or into the buffer read with read()),
 * never copied except for key and tensor names, which are NUL-terminated
 * copies for convenience. String arrays are not indexed either: a 248k-token
 * vocabulary would need 4 MB of (pointer, length) pairs that only the
 * tokenizer reads, once, in order. They are validated at open and then read
 * with a cursor (ag_gguf_arr_str_next); ag_gguf_release lets a reader that
 * has taken what it needs from a big value give its mapped pages back.
 *
 * The writer collects metadata and tensor descriptions, then streams the
 * file: tensor bytes come from a caller's pointer or a fill callback, so a
 * multi-GiB synthetic model never has to sit in memory. */
#ifndef AG_GGUF_H
#define AG_GGUF_H

#include "airgap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ag_gguf_vtype {
    AG_GGUF_U8 = 0, AG_GGUF_I8 = 1, AG_GGUF_U16 = 2, AG_GGUF_I16 = 3,
    AG_GGUF_U32 = 4, AG_GGUF_I32 = 5, AG_GGUF_F32 = 6, AG_GGUF_BOOL = 7,
    AG_GGUF_STRING = 8, AG_GGUF_ARRAY = 9, AG_GGUF_U64 = 10, AG_GGUF_I64 = 11,
    AG_GGUF_F64 = 12, AG_GGUF_VTYPE_COUNT = 13,
};

typedef struct ag_str {          /* a string inside the file: not NUL-terminated */
    const char *p;
    uint64_t n;
} ag_str;

typedef struct ag_gguf_kv {
    char *key;                   /* NUL-terminated copy */
    uint32_t type;               /* enum ag_gguf_vtype */
    uint32_t arr_type;           /* element type when type == ARRAY */
    uint64_t n;                  /* element count when type == ARRAY, else 1 */
    const void *data;            /* scalars and numeric arrays: little-endian bytes in the file;
                                    ARRAY of STRING: the first element (its 8-byte length) */
    uint64_t n_bytes;            /* bytes of the value in the file (arrays: all elements, after
                                    the element type and count) */
    ag_str str;                  /* type == STRING */
} ag_gguf_kv;

typedef struct ag_gguf_tensor {
    char *name;                  /* NUL-terminated copy */
    uint32_t n_dims;             /* 1..4 */
    uint64_t ne[4];              /* unused dims are 1 */
    uint32_t type;               /* ggml type id, known to quant/types.h */
    uint64_t offset;             /* relative to the data section */
    uint64_t n_bytes;
    const void *data;            /* NULL when opened with tensors unread */
} ag_gguf_tensor;

typedef struct ag_gguf {
    char *path;                  /* for error messages ("<memory>" for buffers) */
    uint32_t version;
    uint64_t file_size;
    uint64_t n_kv;
    ag_gguf_kv *kv;
    uint64_t n_tensors;
    ag_gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset;        /* start of the data section in the file (may be past
                                    the end in a file without tensors) */
    /* private */
    const uint8_t *base;
    bool is_mmap, owns_buf;
} ag_gguf;

/* Opens and validates a file. use_mmap=false reads it with read(); mmap
 * failure also falls back to read(). */
ag_status ag_gguf_open(const char *path, bool use_mmap, ag_gguf **out);
/* Parses a caller-owned buffer (not copied; must outlive the result). */
ag_status ag_gguf_open_memory(const void *data, size_t size, const char *name, ag_gguf **out);
void ag_gguf_close(ag_gguf *g);

/* Lookups: index or -1. */
int64_t ag_gguf_find_key(const ag_gguf *g, const char *key);
int64_t ag_gguf_find_tensor(const ag_gguf *g, const char *name);

/* Typed getters. They return AG_OK, or AG_ERR_FORMAT (with a detail naming the
 * file and key) when the key is absent or has an incompatible type. Integer
 * getters accept any integer type whose value fits. Use ag_gguf_find_key
 * first for optional keys. */
ag_status ag_gguf_get_u32(const ag_gguf *g, const char *key, uint32_t *out);
ag_status ag_gguf_get_i64(const ag_gguf *g, const char *key, int64_t *out);
ag_status ag_gguf_get_f32(const ag_gguf *g, const char *key, float *out); /* f32 or f64 */
ag_status ag_gguf_get_bool(const ag_gguf *g, const char *key, bool *out);
ag_status ag_gguf_get_str(const ag_gguf *g, const char *key, ag_str *out);
/* Array element access, with the element type checked by the caller via kv. */
ag_status ag_gguf_get_arr(const ag_gguf *g, const char *key, uint32_t *arr_type, uint64_t *n,
                          const ag_gguf_kv **kv);
/* Reads element i of a numeric array as int64 / double (any numeric element type). */
int64_t ag_gguf_arr_i64(const ag_gguf_kv *kv, uint64_t i);
double ag_gguf_arr_f64(const ag_gguf_kv *kv, uint64_t i);

/* String arrays are read in order with a cursor:
 *     ag_gguf_str_cursor c = ag_gguf_arr_str_begin(kv);
 *     ag_str s;
 *     while (ag_gguf_arr_str_next(&c, &s)) ...
 * The elements were validated at open; the cursor still checks each length
 * against the value's bytes, so a file changed on disk under the mapping
 * ends the walk early instead of reading out of bounds (callers that need
 * all n elements compare c.i with kv->n afterwards). */
typedef struct ag_gguf_str_cursor {
    const uint8_t *p, *end;
    uint64_t i, n;               /* elements read so far, element count */
} ag_gguf_str_cursor;
ag_gguf_str_cursor ag_gguf_arr_str_begin(const ag_gguf_kv *kv);
bool ag_gguf_arr_str_next(ag_gguf_str_cursor *c, ag_str *out);
/* Element i of a string array by walking from the start (O(i): for tools and
 * tests; loops use the cursor). Empty if the walk ends early. */
ag_str ag_gguf_arr_str(const ag_gguf_kv *kv, uint64_t i);

/* Hint that bytes of the file will not be read again soon. For a mapped
 * file the whole pages inside [p, p + n) are dropped from the process (they
 * are clean, read-only file pages: a later read maps them again from the
 * file, so pointers into them stay valid). No effect for files read into
 * memory or caller buffers. ag_gguf_release does it for a key's value: the
 * tokenizer calls it once it has copied what it needs from
 * tokenizer.ggml.tokens / merges (several MB for a 248k vocabulary). */
void ag_gguf_release_range(const ag_gguf *g, const void *p, uint64_t n);
void ag_gguf_release(const ag_gguf *g, const ag_gguf_kv *kv);

/* Text rendering of a value for `airgap info` (arrays: first max_items items).
 * snprintf-like: returns the full length needed, writes at most cap-1 chars + NUL. */
size_t ag_gguf_kv_to_string(const ag_gguf_kv *kv, size_t max_items, char *buf, size_t cap);
const char *ag_gguf_vtype_name(uint32_t t);

/* ---- writer ---- */

typedef struct ag_gguf_writer ag_gguf_writer;

ag_gguf_writer *ag_gguf_writer_create(void); /* NULL on OOM */
void ag_gguf_writer_free(ag_gguf_writer *w);
/* Metadata setters copy their arguments; keys are written in call order.
 * Setting a key again replaces its value in place. */
ag_status ag_gguf_set_u32(ag_gguf_writer *w, const char *key, uint32_t v);
ag_status ag_gguf_set_i32(ag_gguf_writer *w, const char *key, int32_t v);
ag_status ag_gguf_set_u64(ag_gguf_writer *w, const char *key, uint64_t v);
ag_status ag_gguf_set_f32(ag_gguf_writer *w, const char *key, float v);
ag_status ag_gguf_set_bool(ag_gguf_writer *w, const char *key, bool v);
ag_status ag_gguf_set_str(ag_gguf_writer *w, const char *key, const char *v);
/* Array of numbers: elem_type one of the scalar types; n elements of its size. */
ag_status ag_gguf_set_arr(ag_gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
ag_status ag_gguf_set_arr_str(ag_gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Copies one key/value from a reader (for tools that rewrite files). */
ag_status ag_gguf_set_kv(ag_gguf_writer *w, const ag_gguf_kv *kv);

/* Adds a tensor. data may be NULL, then the fill callback produces its bytes
 * at write time. data (if given) must stay valid until ag_gguf_write_file. */
ag_status ag_gguf_add_tensor(ag_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                             const uint64_t *ne, const void *data);
/* fill(user, tensor_index, dst, n_bytes) writes tensor i's bytes to dst;
 * returns false to abort the write. */
void ag_gguf_writer_set_fill(ag_gguf_writer *w,
                             bool (*fill)(void *user, uint64_t i, void *dst, uint64_t n_bytes), void *user);
/* Writes a GGUF v3 file with the given alignment (0 = 32). Writes to
 * "path.tmp" then renames, so no half file is left under the final name. */
ag_status ag_gguf_write_file(ag_gguf_writer *w, const char *path, uint32_t alignment);

#endif
