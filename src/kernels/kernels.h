/* kernels.h: the per-ISA kernel table behind ag_matmul (issue 3, items 1-3).
 *
 * One binary runs on any CPU of its architecture: every ISA's kernels live in
 * their own files, compiled with their own flags (x86: *.avx2.c, *.avx512.c;
 * arm64: src/kernels/arm/ *.neon.c, *.dotprod.c, *.i8mm.c), and at first use
 * the best "level" the CPU supports (src/core/cpu_features.h) is chosen.
 * AIRGAP_ISA=<level name> (alias AG_ISA) in the environment, or
 * ag_kernels_force() in-process, picks a lower one.
 *
 * A level is a table indexed by weight type id (quant/types.h). An entry says
 *   - in which format that type wants its activations (act_block values per
 *     act_bytes bytes; F32 is block 1, 4 bytes, and quant == NULL),
 *   - how to convert one f32 activation row into it (quant),
 *   - and the one compute kernel, gemm: nr weight rows x nt activation rows.
 * ag_matmul (ops.c) converts the T activation rows once per call into scratch,
 * splits the output rows (and, for long prompts, the tokens) across threads
 * and calls gemm on blocks of them: nt == 1 is decode (matrix-vector), nt > 1
 * prefill. A kernel that has no tiled version simply loops (see
 * AG_GEMM_FROM_DOT below).
 *
 * Levels are built by inheritance: each level starts as a copy of its parent
 * and its setup function overwrites the entries (and ops) it speeds up, so a
 * type without a fast kernel keeps the parent's (ultimately the reference's).
 *   x86-64:  ref -> avx2 (AVX2+FMA+F16C) -> avx512 (F+BW+VL+DQ+VNNI)
 *   aarch64: ref -> neon (ASIMD) -> dotprod (+SDOT) -> i8mm (+SMMLA)
 * The ref level is plain C with f32 activations (no activation rounding), so
 * it reproduces the exact-math fixtures; the SIMD levels round activations to
 * 8 bits (q8_0 or q8_0s for the 32-value block types, q8_K for the K-quants
 * and iq4_xs; formats below) as llama.cpp does, except for f32/f16/bf16
 * weights, which keep f32 activations at every level.
 *
 * Adding an ISA file (e.g. the arm64 ones): define
 *     void ag_kernels_setup_<level>(ag_kernel_level *lv);
 * which fills lv->k[type] (and optionally lv->dot_f32, lv->axpby_f32, lv->exp_sum,
 * lv->max_f32, lv->softmax_rows, lv->pv_f32, lv->qk_f16, lv->qk_q8_0, lv->pv_f16, lv->pv_q8_0,
 * lv->keys_i16, lv->qk_i16, lv->values_i16, lv->pv_i16, lv->quant_i16, lv->delta_step, lv->silu_mul,
 * lv->k[type].to_f32) for the types it
 * handles, leaving the rest as inherited. kernels.c calls it when the CPU has
 * the level's features. The file is compiled only for its architecture and
 * with its ISA flags (CMakeLists.txt); nothing outside it may call into it
 * except through the table.
 *
 * Rejected: one switch-based kernel per ISA (no per-type fallback, and every
 * new type touches every ISA), ggml's separate vec_dot / from_float / gemv /
 * gemm tables (four places to keep in sync where one gemm with any nr, nt
 * does), function multiversioning attributes (GCC/Clang-specific ifuncs,
 * unavailable on static Android/musl builds and under wasm). */
#ifndef AG_KERNELS_KERNELS_H
#define AG_KERNELS_KERNELS_H

#include "quant/types.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Converts one f32 activation row of n values (n a multiple of act_block)
 * into the entry's activation format at dst (n / act_block * act_bytes
 * bytes; dst is 64-byte aligned). */
typedef void (*ag_act_quant_fn)(const float *x, void *dst, int64_t n);

/* y[t * ldy + r] = sum_{i < n} W_r[i] * A_t[i]   for r < nr, t < nt, where
 *   W_r = (const uint8_t *)w + r * w_stride   one weight row (n values of the
 *         weight type; only 4-byte aligned, may point into an mmap'ed file),
 *   A_t = (const uint8_t *)a + t * a_stride   one activation row in the
 *         entry's format (64-byte aligned with a_stride a multiple of 64 when
 *         quant != NULL; for f32 activations it is the caller's x, 4-byte
 *         aligned).
 * n is a multiple of the weight type's block and > 0; nr >= 1 and nt >= 1 are
 * ANY values (the kernel handles its own tails). ag_matmul passes row blocks
 * of about 16-64 rows and token blocks of up to 64 tokens; the kernel chooses
 * its own register tiling within them. Must be reentrant: no allocation, no
 * global state (several threads call it at once on disjoint y). */
typedef void (*ag_gemm_fn)(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
                           size_t ldy, int64_t nr, int64_t nt);

/* Activation formats (described below), for tests and tools; a level may
 * also use one of its own (AG_ACT_OTHER). */
enum ag_act_fmt {
    AG_ACT_OTHER = 0,
    AG_ACT_F32,   /* quant == NULL */
    AG_ACT_Q8_0,
    AG_ACT_Q8_0S,
    AG_ACT_Q8_K,
    AG_ACT_Q8_KS,
    AG_ACT_Q8_KM,
};

typedef struct ag_kernel {
    ag_act_quant_fn quant;  /* NULL: f32 activations straight from the caller */
    uint32_t act_block;     /* activation values per block (1 for f32) */
    uint32_t act_bytes;     /* bytes per activation block (4 for f32) */
    ag_gemm_fn gemm;        /* NULL only for type ids with no traits */
    uint32_t act_fmt;       /* enum ag_act_fmt */
    /* Dequantizes n values of one row (n a multiple of the block) to f32,
     * exactly as the type's reference to_float does (the attention reads the
     * value cache through it); NULL only for type ids with no traits. */
    ag_to_float_fn to_f32;
} ag_kernel;

typedef struct ag_kernel_level {
    const char *name;                 /* "ref", "avx2", "avx512", "neon", "dotprod", "i8mm" */
    ag_kernel k[AG_TYPE_COUNT];       /* by weight type id */
    /* f32 dot product of n values (ag_dot_f32); never NULL */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    /* y[i] = b * y[i] + a * x[i] for i < n (ag_axpby_f32); never NULL. The
     * attention value sum and the DeltaNet state update are made of these. */
    void (*axpby_f32)(float *y, const float *x, float a, float b, int64_t n);
    /* The attention's online softmax (model/qwen35.c) is made of the next two.
     * exp_sum: x[i] = exp(x[i] - m) for i < n, returns their sum (in f32, any
     * order). x[i] may be -INFINITY (a masked key: becomes 0); m is finite
     * and >= every x[i]. SIMD levels may use an approximation of exp within
     * 2 ulp over [-87, 0] (results below e^-87 may flush to 0). */
    float (*exp_sum)(float *x, float m, int64_t n);
    /* The largest of x[0..n), n >= 1 (a tile's running-max update; a max
     * is exact, so every level returns the same value; with a NaN among
     * the x the result is unspecified, never a crash). */
    float (*max_f32)(const float *x, int64_t n);
    /* One tile of the online softmax for nr rows of scores s[r * lds + k]
     * (k < nk): row r sees keys k < nv = min(nk, v0 + r / per) (per rows a
     * token; v0 may be <= 0). A row that sees none gets s = 0 for k < nk.
     * Otherwise, with tmax the max of its nv scores (max_f32): if tmax >
     * m[r] or m[r] is -inf, its output row o + r * ldo (n floats) and l[r]
     * are scaled by expf(m[r] - tmax) (libm; skipped when m[r] is -inf) and
     * m[r] = tmax; then s[r][k] = -inf for nv <= k < nk and l[r] +=
     * exp_sum(s row, m[r], nk). Bit-identical to that composition of the
     * same level's max_f32 and exp_sum (the reference composes the ACTIVE
     * level's); never NULL. One call per tile saves two calls per row. */
    void (*softmax_rows)(float *s, size_t lds, int64_t nr, int64_t per, int64_t nk, int64_t v0, float *m, float *l,
                         float *o, size_t ldo, int64_t n);
    /* The softmax-weighted value sum of a tile of keys, a small row-major
     * f32 GEMM accumulating into y:
     *   y[r * ldy + e] += sum_{k < nk} p[r * ldp + k] * v[k * ldv + e]
     * for r < nr, e < n. Any nr, nk, n >= 1; no alignment beyond float. */
    void (*pv_f32)(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                   int64_t nk, int64_t n);
    /* The scores of a tile of F16 keys: k[F16].gemm's contract (w the key
     * rows, a the f32 query rows), register-blocked for the attention's
     * shapes (many query rows per key; every f16 key vector converted once
     * per 4 rows, not per row). NULL: the caller uses k[F16].gemm. */
    ag_gemm_fn qk_f16;
    /* The scores of a tile of Q8_0 keys (nr <= AG_PV_TILE of them) against
     * query rows in this level's k[Q8_0] activation format: k[Q8_0].gemm's
     * contract and numbers (exact integer block dots, f32 scaling; only the
     * order of the f32 sums differs), with the keys transposed once per
     * call into scratch (AG_PV_Q8_0_SCRATCH(nt, n) bytes, 64-byte aligned:
     * the same buffer as pv_q8_0's, which runs after it) so that each
     * 32-bit lane accumulates one key and no horizontal sums are needed.
     * NULL: the caller uses k[Q8_0].gemm. */
    void (*qk_q8_0)(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                    int64_t nr, int64_t nt, void *scratch);
    /* pv_f32 with the values a tile of F16 cache rows: key k's n values at
     * (const uint8_t *)v + k * ldv (bytes; any 2-byte alignment), converted
     * exactly (f16 -> f32 is exact), same contract and rounding class as
     * pv_f32 otherwise. NULL: the caller converts with k[F16].to_f32 and
     * calls pv_f32. */
    void (*pv_f16)(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                   int64_t nk, int64_t n);
    /* pv_f32 with the values a tile of Q8_0 cache rows (key k's n values,
     * n a multiple of 32, at (const uint8_t *)v + k * ldv bytes, 2-byte
     * aligned), nk <= AG_PV_TILE, p[r * ldp + k] in [0, 1] (softmax weights
     * after the running max), computed in integers as ag_pv_q8_0_ref
     * defines (8-bit weights; see there): bit-identical to it. scratch:
     * AG_PV_Q8_0_SCRATCH(nr, n) bytes, 64-byte aligned. NULL at levels
     * without a fast one (the ref level keeps exact f32 math): the caller
     * converts with k[Q8_0].to_f32 and calls pv_f32. */
    void (*pv_q8_0)(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                    int64_t nk, int64_t n, void *scratch);
    /* The int16 (VNNI vpdpwssd) attention path for an F16 cache in
     * prefill, defined by the portable references below (ag_qk_f16_i16_ref,
     * ag_pv_f16_i16_ref) and bit-identical to them; NULL at levels without
     * it (the caller then keeps qk_f16 / pv_f16). Each tile is coded once
     * into a buffer of AG_ATT_I16_SCRATCH(n) bytes (64-byte aligned, its
     * layout the level's own) that the products then only read, so one
     * coding serves every query row and head that sees the tile.
     * keys_i16: nr <= AG_PV_TILE f16 key rows (w, ws bytes apart, 2-byte
     * aligned), n a multiple of 32, into kt. qk_i16: k[F16].gemm's contract
     * for those keys with the query rows a in ag_act_quant_i16_ref's
     * format: y[t * ldy + k] = the reference's score of row t, key k. */
    void (*keys_i16)(int64_t n, const void *w, size_t ws, int64_t nr, void *kt);
    void (*qk_i16)(int64_t n, const void *kt, const void *a, size_t as, float *y, size_t ldy, int64_t nr, int64_t nt);
    /* values_i16: nk <= AG_PV_TILE f16 value rows into vt; pv_i16:
     * pv_f16's contract for those values, n a multiple of 32, p[r * ldp +
     * k] in [0, 1] for k < nk (entries past nk are not read). */
    void (*values_i16)(int64_t n, const void *v, size_t ldv, int64_t nk, void *vt);
    void (*pv_i16)(float *y, size_t ldy, const float *p, size_t ldp, const void *vt, int64_t nr, int64_t nk, int64_t n);
    /* ag_act_quant_i16_ref, bit-identical (the query rows of qk_i16);
     * never NULL. */
    void (*quant_i16)(const float *x, void *dst, int64_t n);
    /* One token's Gated DeltaNet step for one head (model/qwen35.c), fused so
     * the state passes through the core once: for each of the nr state rows
     * S_j = S + j * n (n values),
     *   d = beta * (v[j] - decay * (S_j . k));  S_j = decay * S_j + d * k;
     *   o[j] = S_j . q
     * Any nr, n >= 1. o may be v (the model writes each head's output over
     * its v values): v[j] is read before o[j] is written, and never after.
     * The reference composes the ACTIVE level's dot_f32 and axpby_f32 (so
     * levels without their own step keep their vector dot). */
    void (*delta_step)(float *S, int64_t nr, int64_t n, const float *k, const float *q, const float *v, float decay,
                       float beta, float *o);
    /* y[i] = silu(g[i]) * u[i] (u NULL: * 1) for i < n, silu(x) = x / (1 +
     * e^-x): the FFN's SwiGLU, the conv's and the gated norm's SiLU. y may
     * alias g or u. SIMD levels use exp_sum's exp (2 ulp), so each value is
     * within a few ulp of the reference's libm expf. */
    void (*silu_mul)(float *y, const float *g, const float *u, int64_t n);
} ag_kernel_level;

/* A function the kernels want inlined at every call (the ISA files'
 * helpers, and the body below). */
#if defined(__GNUC__)
#define AG_INLINE static inline __attribute__((always_inline))
#else
#define AG_INLINE static inline
#endif

/* softmax_rows's body over a level's max_f32 and exp_sum: the reference
 * passes the active level's (calls through the table), a SIMD level its own
 * static ones (inlined into it, with nothing called per row). */
AG_INLINE void ag_softmax_rows_with(float (*max_f32)(const float *, int64_t),
                                    float (*exp_sum)(float *, float, int64_t), float *s, size_t lds, int64_t nr,
                                    int64_t per, int64_t nk, int64_t v0, float *m, float *l, float *o, size_t ldo,
                                    int64_t n)
{
    for (int64_t r = 0; r < nr; r++) {
        float *sr = s + (size_t)r * lds;
        int64_t nv = v0 + r / per;
        if (nv > nk) nv = nk;
        if (nv <= 0) {
            for (int64_t k = 0; k < nk; k++) sr[k] = 0;
            continue;
        }
        const float tmax = max_f32(sr, nv);
        for (int64_t k = nv; k < nk; k++) sr[k] = -INFINITY;
        if (!(tmax <= m[r])) { /* grows (or the first tile) */
            if (m[r] > -INFINITY) {
                const float alpha = expf(m[r] - tmax);
                float *orow = o + (size_t)r * ldo;
                l[r] *= alpha;
                for (int64_t e = 0; e < n; e++) orow[e] *= alpha;
            }
            m[r] = tmax;
        }
        l[r] += exp_sum(sr, m[r], nk);
    }
}

/* Keys per pv_q8_0 call at most, and its scratch: the value tile repacked
 * (4 keys interleaved per 32-bit lane, AG_PV_TILE * n bytes), its block
 * scales (n / 32 x AG_PV_TILE f32), the 8-bit weights (nr x n / 32 x
 * AG_PV_TILE bytes) and their scales (nr x n / 32 f32). */
#define AG_PV_TILE 64
#define AG_PV_Q8_0_SCRATCH(nr, n)                                                                          \
    ((size_t)(AG_PV_TILE + 8) * (size_t)(n) + (size_t)(nr) * ((size_t)(n) / 32) * (AG_PV_TILE + 4))

/* The portable definition of pv_q8_0 (tests compare every level's against
 * it). Per row r and 32-value block b of the value rows, with d[k] key k's
 * block scale and q[k][e] its codes:
 *   x[k] = p[r][k] * d[k] (f32),  m = max_k x[k],
 *   c[k] = nearbyint(x[k] * (255.0f / m)) in 0..255 (0 for all k if m == 0),
 *   y[r][e] = fmaf((float)sum_k c[k] * q[k][e], m / 255.0f, y[r][e]).
 * The integer sum is exact; the only rounding added to exact math is the
 * weights' 8 bits: |error| <= 0.5 / 255 of the row's largest p * d per
 * weight, far below q8_0's own 0.5 / 127 of each block's largest value. */
void ag_pv_q8_0_ref(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                    int64_t nk, int64_t n, void *scratch);

/* The int16 attention path (keys_i16 + qk_i16, values_i16 + pv_i16).
 *
 * Codes: a group of values x (32 consecutive values of a key or query row,
 * or one value dimension over a tile's keys) with m = max |x| gets codes
 * c = nearbyintf(x * (8191.0f / m)) in [-8191, 8191] and scale
 * d = m / 8191.0f; all codes and d are 0 when m == 0 or any x of the group
 * is not finite. 14 bits, so that 32 products of two codes (32 x 8191^2 <
 * 2^31) sum exactly in int32.
 *
 * Query rows (ag_act_quant_i16_ref): n int16 codes per 32-value block, then
 * at byte 2 n the n / 32 f32 block scales dq; AG_ACT_I16_BYTES(n) bytes.
 *
 * ag_qk_f16_i16_ref: key k's blocks coded as above (ck, dk; f16 -> f32 is
 * exact), and per query row t
 *   y[t][k] = sum over blocks b in order of
 *             acc = fmaf((float)isum_b, dq_b * dk_b, acc)   (acc from 0)
 * with isum_b = sum_{e in b} cq[e] * ck[e] exact in int32. Error: each code
 * is within 0.5 / 8191 of its block's max (f16 keys carry 2^-11 of their
 * own value), plus one f32 rounding per block.
 *
 * ag_pv_f16_i16_ref: value dimension e coded over the tile's nk keys (cv,
 * dv[e]); row r's weights p[r][0..nk) (in [0, 1]) with mp = max_k p,
 * cp = nearbyintf(p * (4095.0f / mp)) in [0, 4095] (all 0, and mp taken
 * as 0, if mp <= 2^-64: 4095 / mp could overflow, and the softmax sum
 * l >= 1 makes such weights negligible), and
 *   y[r][e] = fmaf((float)isum, (mp / 4095.0f) * dv[e], y[r][e])
 * isum = sum_{k < nk} cp[k] * cv[k][e], exact: 64 x 4095 x 8191 < 2^31.
 * Error: weights within 0.5 / 4095 of the row's tile max, values within
 * 0.5 / 8191 of their dimension's tile max. */
#define AG_ACT_I16_BYTES(n) ((size_t)(n) * 2 + (size_t)(n) / 32 * 4)
#define AG_ATT_I16_SCRATCH(n) ((size_t)AG_PV_TILE * (size_t)(n) * 2 + (size_t)(n) / 32 * AG_PV_TILE * 4 + (size_t)(n) * 4)
void ag_act_quant_i16_ref(const float *x, void *dst, int64_t n);
void ag_qk_f16_i16_ref(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                       int64_t nr, int64_t nt, void *scratch);
void ag_pv_f16_i16_ref(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                       int64_t nk, int64_t n, void *scratch);

/* The active level: chosen at first use from the CPU's features and
 * AIRGAP_ISA / AG_ISA, or the last ag_kernels_force(). Thread-safe; never NULL. */
const ag_kernel_level *ag_kernels(void);

/* Switches the active level in-process (tests, benchmarks). name is a level
 * name or NULL for the best one. A known level this CPU lacks falls back to
 * the best supported level below it. Returns the level now active, or NULL
 * (and changes nothing) for an unknown name. Do not call while another
 * thread is inside ag_matmul if both must see the same level. */
const ag_kernel_level *ag_kernels_force(const char *name);

/* Levels this CPU supports, lowest (ref) first: i < ag_kernels_count(). */
int ag_kernels_count(void);
const ag_kernel_level *ag_kernels_level(int i);

/* One line for ag_system_info(), e.g. "avx512 (vnni, bf16)" or
 * "avx2 (AIRGAP_ISA=avx512 not supported by this CPU)". */
const char *ag_kernels_describe(void);

/* ---- for ISA files ---------------------------------------------------------- */

/* Setup functions, one per level (defined in the level's ISA files). */
void ag_kernels_setup_avx2(ag_kernel_level *lv);
void ag_kernels_setup_avx512(ag_kernel_level *lv);
void ag_kernels_setup_neon(ag_kernel_level *lv);
void ag_kernels_setup_dotprod(ag_kernel_level *lv);
void ag_kernels_setup_i8mm(ag_kernel_level *lv);
/* The attention's entries (exp_sum, pv_f32, qk_*, pv_*, to_f32), kept in their own files
 * (x86/attn.avx2.c, x86/attn.avx512.c, arm/attn.neon.c); each is called at
 * the end of its level's setup above. */
void ag_kernels_setup_attn_avx2(ag_kernel_level *lv);
void ag_kernels_setup_attn_avx512(ag_kernel_level *lv);
void ag_kernels_setup_attn_neon(ag_kernel_level *lv);

/* Activation formats the SIMD levels share, with portable quantizers (for
 * tests, and for ISA files without a vectorised one):
 *   q8_0  ggml's block (quant/blocks.h): f16 d + 32 codes, 34 B per 32
 *         values; d = amax/127, codes rounded half away from zero.
 *   q8_0s "split" q8_0, 36 B per 32 values: the n int8 codes of the row
 *         first (so 64 codes load aligned from a 64-byte aligned row), then
 *         n/32 f32 scales (at byte n). The numbers are exactly those of
 *         ggml's x86 quantize_row_q8_0 (codes round(x * 127/amax) half to
 *         even, scale amax/127 rounded to f16), only stored for SIMD: no f16
 *         conversion per token and block. Used by the x86 levels. (Keeping
 *         the scale unrounded was tried: as accurate on average, but it
 *         flips near-tied argmaxes of the q4_0 fixture, whose bar is
 *         llama.cpp's own rounding.)
 *   q8_K  ggml's block: f32 d + 256 codes + 16 int16 sums of 16, 292 B per
 *         256 values; as ggml's quantize_row_q8_K (d = -max/127 of the
 *         signed max, half to even).
 *   q8_Ks "split" q8_K, 292 B per 256 values: the n codes of the row first,
 *         then per super-block i, at byte n + 36 i: f32 d, 16 int16 sums of
 *         16 codes (the q8_K numbers; for q6_K's -32 offset).
 *   q8_Km as q8_Ks but the 32 bytes after d hold 8 f32 d * (sum of the 32
 *         codes of sub-block j), j in value order: the mins term of
 *         q4_K/q5_K becomes one FMA per token and super-block (dmin * m[8] is
 *         shared by the tokens). And the codes of each 128 values are stored
 *         as 32-value groups 0, 2, 1, 3 (group g of the row at position
 *         ag_q8_Km_pos[g] within its super-block): a 64-byte load of q4_K
 *         nibbles holds groups 0 and 2 in its low nibbles and 1 and 3 in its
 *         high ones, so both halves meet their activations with plain
 *         64-byte loads.
 * The x86 quantizers are bit-identical to the ones here for finite input.
 * NaN/inf input gives an all-zero block here (never UB). */
void ag_act_quant_q8_0_ref(const float *x, void *dst, int64_t n);
void ag_act_quant_q8_0s_ref(const float *x, void *dst, int64_t n);
void ag_act_quant_q8_K_ref(const float *x, void *dst, int64_t n);
void ag_act_quant_q8_Ks_ref(const float *x, void *dst, int64_t n);
void ag_act_quant_q8_Km_ref(const float *x, void *dst, int64_t n);
extern const uint8_t ag_q8_Km_pos[8];

/* Defines static ag_gemm_fn `name` from a one-row, one-token dot
 * `float dot(int64_t n, const void *w_row, const void *a_row)`: the simplest
 * correct gemm (decode is memory-bound; this is what it costs per row). */
#define AG_GEMM_FROM_DOT(name, dot)                                                                        \
    static void name(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,   \
                     int64_t nr, int64_t nt)                                                                \
    {                                                                                                       \
        for (int64_t t = 0; t < nt; t++)                                                                    \
            for (int64_t r = 0; r < nr; r++)                                                                \
                y[(size_t)t * ldy + (size_t)r] =                                                            \
                    dot(n, (const uint8_t *)w + (size_t)r * ws, (const uint8_t *)a + (size_t)t * as);       \
    }

#endif
