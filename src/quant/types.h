/* types.h: THE table of tensor types (ggml's on-disk ids) and their traits.
 *
 * One row per type: name, block size in values, block size in bytes, and the
 * portable reference functions. Type ids equal GGUF/ggml ids so they can be
 * read straight from a file; unknown ids have no row (ag_type_traits returns
 * NULL) and the loader rejects them.
 *
 * Reference semantics (the spec, Appendix A; ggml-common.h / ggml-quants.c):
 *  - to_float: exact dequantization of n values (n a multiple of the block).
 *  - from_float: reference quantization of n values (NULL where not provided).
 *  - vec_dot: sum_i dequant(row)[i] * x[i] over n values, accumulated in f32
 *    blockwise; activations stay f32 (no activation rounding).
 * Optimized kernels (later, per ISA) must match these within a test bound. */
#ifndef AG_QUANT_TYPES_H
#define AG_QUANT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ag_type {
    AG_TYPE_F32 = 0,
    AG_TYPE_F16 = 1,
    AG_TYPE_Q4_0 = 2,
    AG_TYPE_Q4_1 = 3,
    AG_TYPE_Q5_0 = 6,
    AG_TYPE_Q5_1 = 7,
    AG_TYPE_Q8_0 = 8,
    AG_TYPE_Q8_1 = 9,
    AG_TYPE_Q2_K = 10,
    AG_TYPE_Q3_K = 11,
    AG_TYPE_Q4_K = 12,
    AG_TYPE_Q5_K = 13,
    AG_TYPE_Q6_K = 14,
    AG_TYPE_Q8_K = 15,
    AG_TYPE_IQ4_NL = 20,
    AG_TYPE_IQ4_XS = 23,
    AG_TYPE_BF16 = 30,
    AG_TYPE_COUNT = 40, /* ids below this may have a row; all others are unknown */
};

typedef void (*ag_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*ag_from_float_fn)(const float *src, void *dst, int64_t n);
typedef float (*ag_vec_dot_fn)(const void *row, const float *x, int64_t n);

typedef struct ag_type_traits {
    const char *name;         /* ggml's name: "f32", "q4_K", "iq4_nl", ... */
    uint32_t block;           /* values per block */
    uint32_t bytes;           /* bytes per block */
    ag_to_float_fn to_float;  /* never NULL for a known type */
    ag_from_float_fn from_float; /* may be NULL */
    ag_vec_dot_fn vec_dot;    /* never NULL for a known type */
} ag_type_traits;

/* Row for a type id, or NULL if the id is unknown or unsupported. */
const ag_type_traits *ag_type_traits_of(uint32_t type);
/* Type id for a name (case-insensitive), or -1. */
int ag_type_from_name(const char *name);
/* Bytes of n values (n must be a multiple of the block; callers check). */
static inline uint64_t ag_type_row_bytes(const ag_type_traits *t, uint64_t n)
{
    return n / t->block * t->bytes;
}

#endif
