/* ops.h: the CPU math the forward passes are built from (Stage 3 of 5: forward).
 *
 * These are the portable reference kernels: plain C11, f32 activations, no
 * activation rounding, so they reproduce the exact-math fixtures closely.
 * ISA-specific variants (later) plug in behind the same names through a
 * dispatch table; tests compare every variant against these.
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

/* Execution resources of one context: the worker pool and per-thread scratch
 * for dequantized weight rows (n_threads x wbuf_len floats). */
typedef struct ag_exec {
    ag_pool *pool;
    float *wbuf;
    int64_t wbuf_len;
} ag_exec;

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < T. x is T x n_in, y is T x n_out
 * (row strides ldx, ldy in floats; pass n_in / n_out for dense). */
void ag_matmul(const ag_exec *ex, const ag_weight *w, const float *x, int64_t ldx, int64_t T, float *y,
               int64_t ldy);

float ag_dot_f32(const float *a, const float *b, int64_t n);
/* y = x * rsqrt(mean(x^2) + eps) * w (w may be NULL for no weight). y may equal x. */
void ag_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
static inline float ag_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float ag_silu(float x) { return x / (1.0f + expf(-x)); }
static inline float ag_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

#endif
