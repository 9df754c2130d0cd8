/* blocks.h: ggml's on-disk block layouts, byte for byte, plus the helpers the
 * reference kernels share.
 *
 * Every multi-byte field is declared as a byte array and read through
 * rd_f16()/rd_u16()/rd_f32() (little-endian): a block pointer inside a mapped
 * file or a caller's buffer may sit at any address (a hostile file can choose
 * alignment 1), so the structs have alignment 1 and no field is ever loaded
 * through a misaligned uint16_t/float lvalue. The alternative, ggml's structs
 * with ggml_half members, needs 2- or 4-byte aligned rows and a little-endian
 * host; the cost here is a few explicit loads per block.
 *
 * The static_asserts pin both the size and the field offsets to ggml's
 * (ggml/src/ggml-common.h), so a typo in a layout fails the build.
 *
 * Internal to src/quant/ (and its tests). */
#ifndef AG_QUANT_BLOCKS_H
#define AG_QUANT_BLOCKS_H

#include "core/fp16.h"

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define QK_LEGACY 32 /* values per block of q4_0 .. q8_1 and iq4_nl */
#define QK_K 256     /* values per super-block of the K-quants and iq4_xs */

/* q4_0: x = d * (nibble - 8). Value j < 16 is the low nibble of qs[j], value
 * j + 16 the high nibble of qs[j]. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t qs[16];
} blk_q4_0;

/* q4_1: x = d * nibble + m, nibbles arranged as q4_0. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t m[2];      /* f16 */
    uint8_t qs[16];
} blk_q4_1;

/* q5_0: x = d * (q - 16), q = nibble | (bit j of qh) << 4, where qh is the
 * little-endian u32 in qh[4] and j is the value index 0..31 (nibbles as q4_0). */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t qh[4];     /* u32 LE: 5th bit of value j at bit j */
    uint8_t qs[16];
} blk_q5_0;

/* q5_1: x = d * q + m, q as q5_0. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t m[2];      /* f16 */
    uint8_t qh[4];
    uint8_t qs[16];
} blk_q5_1;

/* q8_0: x = d * q. */
typedef struct {
    uint8_t d[2];      /* f16 */
    int8_t qs[32];
} blk_q8_0;

/* q8_1: x = d * q; s = d * sum(q) is a cached helper for dot products. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t s[2];      /* f16 */
    int8_t qs[32];
} blk_q8_1;

/* q2_K: 16 sub-blocks of 16. scales[i]: low nibble = scale, high nibble =
 * min of sub-block i; x = d * scale * q - dmin * min with q a 2-bit field.
 * Bit layout: for half h (128 values) and shift s = 0,2,4,6 (j = s/2), values
 * 128h + 32j + l (l < 32) are bits s..s+1 of qs[32h + l]; sub-block index is
 * (128h + 32j + l) / 16. */
typedef struct {
    uint8_t scales[16];
    uint8_t qs[64];
    uint8_t d[2];      /* f16 */
    uint8_t dmin[2];   /* f16 */
} blk_q2_K;

/* q3_K: 16 sub-blocks of 16, signed 6-bit scales (stored + 32), x = d *
 * (scale - 32) * (q - 4 * !hbit). Low 2 bits of q as q2_K's qs; the high bit
 * of value v = 32k + l (k = 0..7, l < 32) is bit k of hmask[l]; note a SET
 * bit means "no -4". Scale i: low 4 bits are scales[i] & 15 for i < 8 or
 * scales[i-8] >> 4 for i >= 8; high 2 bits are (scales[8 + i%4] >> 2*(i/4)) & 3. */
typedef struct {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint8_t d[2];      /* f16 */
} blk_q3_K;

/* q4_K: 8 sub-blocks of 32 with 6-bit scale and min packed in scales[12]
 * (see get_scale_min_k4), x = d * sc * q - dmin * m. Chunk c (64 values)
 * uses qs[32c .. 32c+31]: low nibbles are values 64c + l, high nibbles
 * 64c + 32 + l. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t dmin[2];   /* f16 */
    uint8_t scales[12];
    uint8_t qs[128];
} blk_q4_K;

/* q5_K: q4_K plus a 5th bit: value 64c + l adds 16 if qh[l] bit 2c, value
 * 64c + 32 + l if qh[l] bit 2c+1. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t dmin[2];   /* f16 */
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} blk_q5_K;

/* q6_K: 16 sub-blocks of 16 with int8 scales, x = d * scale * (q - 32), q 6
 * bits: 4 low in ql, 2 high in qh. For half k (128 values), l < 32:
 *   v 128k+l    = ql[64k+l] & 15    | ((qh[32k+l] >> 0) & 3) << 4
 *   v 128k+32+l = ql[64k+32+l] & 15 | ((qh[32k+l] >> 2) & 3) << 4
 *   v 128k+64+l = ql[64k+l] >> 4    | ((qh[32k+l] >> 4) & 3) << 4
 *   v 128k+96+l = ql[64k+32+l] >> 4 | ((qh[32k+l] >> 6) & 3) << 4
 * and value v uses scales[v / 16]. */
typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint8_t d[2];      /* f16 */
} blk_q6_K;

/* q8_K (activations): f32 scale, x = d * q; bsums[i] = sum of q over values
 * 16i .. 16i+15 (int16 LE). */
typedef struct {
    uint8_t d[4];      /* f32 */
    int8_t qs[256];
    uint8_t bsums[32]; /* 16 x int16 */
} blk_q8_K;

/* iq4_nl: x = d * kvalues_iq4nl[nibble], nibbles arranged as q4_0. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t qs[16];
} blk_iq4_nl;

/* iq4_xs: 8 sub-blocks of 32 with 6-bit scales ls (stored + 32): low 4 bits
 * in scales_l[ib/2] (low nibble for even ib), high 2 bits at bits 2ib..2ib+1
 * of scales_h (u16 LE). x = d * (ls - 32) * kvalues_iq4nl[nibble]; sub-block
 * ib uses qs[16ib .. 16ib+15] arranged as q4_0. */
typedef struct {
    uint8_t d[2];      /* f16 */
    uint8_t scales_h[2];
    uint8_t scales_l[4];
    uint8_t qs[128];
} blk_iq4_xs;

_Static_assert(sizeof(blk_q4_0) == 18 && offsetof(blk_q4_0, qs) == 2, "q4_0 layout");
_Static_assert(sizeof(blk_q4_1) == 20 && offsetof(blk_q4_1, qs) == 4, "q4_1 layout");
_Static_assert(sizeof(blk_q5_0) == 22 && offsetof(blk_q5_0, qh) == 2 && offsetof(blk_q5_0, qs) == 6,
               "q5_0 layout");
_Static_assert(sizeof(blk_q5_1) == 24 && offsetof(blk_q5_1, qh) == 4 && offsetof(blk_q5_1, qs) == 8,
               "q5_1 layout");
_Static_assert(sizeof(blk_q8_0) == 34 && offsetof(blk_q8_0, qs) == 2, "q8_0 layout");
_Static_assert(sizeof(blk_q8_1) == 36 && offsetof(blk_q8_1, qs) == 4, "q8_1 layout");
_Static_assert(sizeof(blk_q2_K) == 84 && offsetof(blk_q2_K, qs) == 16 && offsetof(blk_q2_K, d) == 80,
               "q2_K layout");
_Static_assert(sizeof(blk_q3_K) == 110 && offsetof(blk_q3_K, qs) == 32 && offsetof(blk_q3_K, scales) == 96 &&
               offsetof(blk_q3_K, d) == 108, "q3_K layout");
_Static_assert(sizeof(blk_q4_K) == 144 && offsetof(blk_q4_K, scales) == 4 && offsetof(blk_q4_K, qs) == 16,
               "q4_K layout");
_Static_assert(sizeof(blk_q5_K) == 176 && offsetof(blk_q5_K, qh) == 16 && offsetof(blk_q5_K, qs) == 48,
               "q5_K layout");
_Static_assert(sizeof(blk_q6_K) == 210 && offsetof(blk_q6_K, qh) == 128 && offsetof(blk_q6_K, scales) == 192 &&
               offsetof(blk_q6_K, d) == 208, "q6_K layout");
_Static_assert(sizeof(blk_q8_K) == 292 && offsetof(blk_q8_K, qs) == 4 && offsetof(blk_q8_K, bsums) == 260,
               "q8_K layout");
_Static_assert(sizeof(blk_iq4_nl) == 18 && offsetof(blk_iq4_nl, qs) == 2, "iq4_nl layout");
_Static_assert(sizeof(blk_iq4_xs) == 136 && offsetof(blk_iq4_xs, scales_l) == 4 && offsetof(blk_iq4_xs, qs) == 8,
               "iq4_xs layout");

/* The 16 non-linear levels of iq4_nl / iq4_xs (ggml's kvalues_iq4nl). */
extern const int8_t ag_kvalues_iq4nl[16];

/* ---- little-endian field access ---- */

static inline uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline float rd_f16(const uint8_t *p) { return ag_f16_to_f32(rd_u16(p)); }
static inline float rd_f32(const uint8_t *p) { return ag_bits_to_f32(rd_u32(p)); }
static inline void wr_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wr_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void wr_f16(uint8_t *p, float f) { wr_u16(p, ag_f32_to_f16(f)); }
static inline void wr_f32(uint8_t *p, float f) { wr_u32(p, ag_f32_to_bits(f)); }

/* Scale and min of sub-block j (0..7) of q4_K / q5_K: 6 bits each, packed in
 * 12 bytes. j < 4: low 6 bits of bytes j (scale) and j+4 (min). j >= 4: low
 * nibble (scale) / high nibble (min) of byte j+4, with the top 2 bits taken
 * from bits 6..7 of bytes j-4 (scale) and j (min). */
static inline void get_scale_min_k4(int j, const uint8_t *s, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Dot of n floats, f32 accumulation (the reference vec_dot's inner step). */
static inline float dot_f32(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Defines the row-level to_float and vec_dot of a block type from its
 * per-block dequantizer deq(const blk_t *, float *out). vec_dot dequantizes
 * one block into a stack buffer, dots it in f32 and adds the block's sum to
 * an f32 total: the semantics of types.h, no allocation. */
#define AG_DEFINE_ROW_FNS(name, blk_t, QK, deq)                                  \
    void ag_quant_dequant_##name(const void *src, float *dst, int64_t n)      \
    {                                                                         \
        const blk_t *b = (const blk_t *)src;                                  \
        for (int64_t i = 0; i < n / (QK); i++) deq(&b[i], dst + i * (QK));    \
    }                                                                         \
    float ag_quant_dot_##name(const void *row, const float *x, int64_t n)     \
    {                                                                         \
        const blk_t *b = (const blk_t *)row;                                  \
        float buf[QK], sum = 0.0f;                                            \
        for (int64_t i = 0; i < n / (QK); i++) {                              \
            deq(&b[i], buf);                                                  \
            sum += dot_f32(buf, x + i * (QK), (QK));                          \
        }                                                                     \
        return sum;                                                           \
    }

/* Clamps v to [lo, hi]; NaN goes to lo, so a float-to-int cast after it is
 * always defined (quantizers must not invoke UB on NaN/inf input). Plain
 * compares, not fminf/fmaxf, which are libm calls on baseline x86-64. */
static inline float clampf(float v, float lo, float hi)
{
    return v > lo ? (v < hi ? v : hi) : lo;
}
/* Round half to even, as ggml's nearest_int, after clamping to [lo, hi]
 * (|lo|, |hi| < 2^22): adding and removing 1.5 * 2^23 leaves the rounded
 * integer (f32 arithmetic rounds to nearest even; C11 on SSE has no excess
 * precision). rintf would be a libm call without SSE4.1. */
static inline int nearest_int(float v, int lo, int hi)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    return (int)((clampf(v, (float)lo, (float)hi) + magic) - magic);
}

#endif
