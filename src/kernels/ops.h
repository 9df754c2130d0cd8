/* ops.h: the CPU math the forward passes are built from (Stage 3 of 5: forward).
 *
 * ag_matmul dispatches through the per-ISA kernel table of kernels.h: the
 * "ref" level is portable C11 with f32 activations (no activation rounding,
 * so it reproduces the exact-math fixtures closely); the SIMD levels (avx2,
 * avx512, neon, ...) round activations to 8 bits for quantized weights as
 * llama.cpp does. ag_dot_f32 uses the active level's f32 dot.
 *
 * Weights are described by ag_weight: a matrix of n_out rows of n_in values
 * (ggml {n_in, n_out}), any type from quant/types.h, usually pointing into
 * the mapped GGUF file. */
#ifndef AG_KERNELS_OPS_H
#define AG_KERNELS_OPS_H

#include "core/threads.h"
#include "quant/types.h"

#include <math.h>
#include <stdint.h>

typedef struct ag_weight {
    const void *data;            /* row-major blocks, n_out rows of row_bytes */
    const ag_type_traits *tt;
    uint32_t type;
    int64_t n_in, n_out;
    uint64_t row_bytes;
} ag_weight;

/* Execution resources of one context: the worker pool and scratch memory.
 * wbuf is a malloc'ed buffer of ag_pool_size(pool) x wbuf_len floats (may be
 * NULL / 0) that ag_matmul uses for the quantized activations; it grows it
 * with realloc when a call needs more (updating wbuf and wbuf_len), so the
 * owner must free(wbuf) at the end, and the exec is used by one thread at a
 * time (as its context is). */
typedef struct ag_exec {
    ag_pool *pool;
    float *wbuf;
    int64_t wbuf_len;
} ag_exec;

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < T. x is T x n_in, y is T x n_out
 * (row strides ldx, ldy in floats; pass n_in / n_out for dense). If the
 * scratch cannot grow, falls back to the reference kernels (which need
 * none), so the call cannot fail. */
void ag_matmul(ag_exec *ex, const ag_weight *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy);

/* Several products with the same input: y[j] = W[j] x for j < nw (all W[j]
 * with the same n_in), e.g. a layer's q/k/v or gate/up projections. One pool
 * wake-up instead of nw and one conversion of x per activation format:
 * decode runs a few hundred small products per token, and each wake-up and
 * conversion is a fixed cost. Same results as nw ag_matmul calls. */
void ag_matmul_multi(ag_exec *ex, int nw, const ag_weight *const *w, const float *x, int64_t ldx, int64_t T,
                     float *const *y, const int64_t *ldy);

float ag_dot_f32(const float *a, const float *b, int64_t n);
/* y = b * y + a * x, n values (the active kernel level's). */
void ag_axpby_f32(float *y, const float *x, float a, float b, int64_t n);
/* y = x * rsqrt(mean(x^2) + eps) * w (w may be NULL for no weight). y may equal x. */
void ag_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
static inline float ag_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float ag_silu(float x) { return x / (1.0f + expf(-x)); }
static inline float ag_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

#endif
