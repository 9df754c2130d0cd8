/* arm_common.h: the aarch64 kernels, written once for the neon, dotprod and
 * i8mm levels (issue 3, item 3; interface in kernels/kernels.h).
 *
 * Each level's file (gemm.neon.c, gemm.dotprod.c, gemm.i8mm.c) includes this
 * header and is compiled with its own -march (CMakeLists.txt), so the same
 * source becomes three sets of static functions: the one primitive that
 * differs is dot16() below, SDOT where the file is built with +dotprod
 * (__ARM_FEATURE_DOTPROD) and SMULL/SMLAL2/SADALP otherwise. The i8mm file
 * adds SMMLA tiles on top (gemm.i8mm.c). One template header was chosen over
 * three hand-kept copies (they would drift) and over one file with target
 * attributes (GCC and Clang disagree on their spelling for arm64, and an
 * attribute cannot change what the shared inline helpers compile to).
 *
 * Scheme, as llama.cpp's ARM paths (own code): activations are rounded to
 * 8 bits once per matmul -- ggml's q8_0 blocks for the 32-value block types,
 * q8_K super-blocks for the K-quants and iq4_xs (AG_ACT_Q8_0 / AG_ACT_Q8_K
 * of kernels.h) -- by quantizers that are bit-identical to the portable ones
 * (ag_act_quant_q8_0_ref / _q8_K_ref). The "split" formats of the x86
 * levels were not adopted: they save an f16 conversion and an unaligned
 * load per block there; on arm64 the conversion is one FCVT and unaligned
 * vector loads cost nothing extra. Weights are
 * unpacked to signed bytes in registers, dotted with the activation bytes in
 * int32, and scaled: K-quant sub-block scales in int32, block scales in f32.
 * f32/f16/bf16 weights keep f32 activations (FMA). Types without an integer
 * kernel (q2_K, q3_K, q4_1, q5_0, q5_1, q8_1, q8_K) dequantize pieces of the
 * row with the reference to_float and use FMA (arm_gemm_generic).
 *
 * Integer range: every activation byte is in [-127, 127] (our quantizers
 * clamp), every weight byte in [-128, 127], so a product is at most 16256 in
 * magnitude and the sum of two fits int16 -- which the non-dotprod dot16
 * relies on. Sub-block sums scaled by 6-bit/8-bit scales stay far below
 * 2^31 over a 256-value super-block (worst case q6_K: 16 x 16 x 32 x 127 x
 * 128 < 1.4e8).
 *
 * Each gemm is a "row" function over NT <= 4 tokens (a compile-time constant
 * after inlining, so the per-token accumulators live in registers): the
 * weight block is unpacked once and reused by each token of the tile, which
 * is what makes prefill cheaper than T decodes. Weight rows may sit at any
 * address (the block structs have alignment 1): only byte loads (vld1q_u8)
 * and memcpy touch them. */
#ifndef AG_KERNELS_ARM_COMMON_H
#define AG_KERNELS_ARM_COMMON_H

#include "kernels/kernels.h"
#include "quant/blocks.h"

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the arm64 kernels read little-endian block fields through vector loads"
#endif

/* ---- scalar fields ---- */

AG_INLINE float arm_f16(const uint8_t *p)
{
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

AG_INLINE float arm_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* ---- the int8 dot step ---- */

/* acc + the products of a and b, four bytes per int32 lane with SDOT; the
 * fallback puts pairs of products in int16 (see the range note above) and
 * adds those pairwise into int32 lanes: the lane split differs but the sum
 * of the four lanes is the same, which is all the kernels use. */
AG_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
#endif
}

/* dot16 of 32 bytes from zero */
AG_INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *a)
{
    return dot16(dot16(vdupq_n_s32(0), w0, vld1q_s8(a)), w1, vld1q_s8(a + 16));
}

/* ---- unpacking helpers ---- */

/* 6-bit scales and mins of a q4_K/q5_K super-block (get_scale_min_k4 order)
 * into sc[8] and mn[8]. */
AG_INLINE void arm_q4k_scales(const uint8_t *s, uint8_t *sc, uint8_t *mn)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    const uint32_t s_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t s_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &s_lo, 4);
    memcpy(sc + 4, &s_hi, 4);
    memcpy(mn, &m_lo, 4);
    memcpy(mn + 4, &m_hi, 4);
}

/* The 8 signed scales (ls - 32) of an iq4_xs super-block. */
AG_INLINE void arm_iq4xs_scales(const blk_iq4_xs *b, int32_t *s)
{
    const unsigned sh = (unsigned)b->scales_h[0] | ((unsigned)b->scales_h[1] << 8);
    for (int ib = 0; ib < 8; ib++) {
        const int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15;
        const int hi = (int)(sh >> (2 * ib)) & 3;
        s[ib] = (lo | (hi << 4)) - 32;
    }
}

/* The 8 sums of 32 activations of a q8_K super-block (pairs of its 16-value
 * bsums), as int16 (|sum| <= 32 x 127). */
AG_INLINE int16x8_t arm_q8k_bsums32(const blk_q8_K *b)
{
    const int16x8_t b0 = vreinterpretq_s16_u8(vld1q_u8(b->bsums));
    const int16x8_t b1 = vreinterpretq_s16_u8(vld1q_u8(b->bsums + 16));
    return vpaddq_s16(b0, b1);
}

/* sum of the 8 products of two int16x8 */
AG_INLINE int32_t arm_dot_s16x8(int16x8_t a, int16x8_t b)
{
    return vaddvq_s32(vmlal_high_s16(vmull_s16(vget_low_s16(a), vget_low_s16(b)), a, b));
}

/* ---- activation quantizers (bit-identical to ag_act_quant_*_ref) ---- */

/* clampf(v, -127, 127) of blocks.h, NaN going to -127 as there */
AG_INLINE float32x4_t arm_clamp127(float32x4_t v)
{
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    return vbslq_f32(vcgtq_f32(v, lo), vminq_f32(v, hi), lo);
}

/* 16 int32 lanes (|v| <= 127) to 16 bytes */
AG_INLINE int8x16_t arm_narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    const int16x8_t lo = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    const int16x8_t hi = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

/* q8_0: d = amax / 127 (f16), q = round half away from zero (FCVTAS). */
static inline void arm_quant_q8_0(const float *x, void *dst, int64_t n)
{
    blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float32x4_t v[8];
        for (int k = 0; k < 8; k++) v[k] = vld1q_f32(x + 4 * k);
        float32x4_t m = vmaxq_f32(vabsq_f32(v[0]), vabsq_f32(v[1]));
        for (int k = 2; k < 8; k++) m = vmaxq_f32(m, vabsq_f32(v[k]));
        float amax = vmaxvq_f32(m);
        if (!(amax <= 3.0e38f)) amax = 0.0f; /* NaN/inf: an all-zero block, as the reference */
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        wr_f16(b[i].d, d);
        int32x4_t q[8];
        for (int k = 0; k < 8; k++) q[k] = vcvtaq_s32_f32(arm_clamp127(vmulq_n_f32(v[k], id)));
        vst1q_s8(b[i].qs, arm_narrow16(q[0], q[1], q[2], q[3]));
        vst1q_s8(b[i].qs + 16, arm_narrow16(q[4], q[5], q[6], q[7]));
    }
}

/* q8_K: d = max / -127 of the first value of largest magnitude, q = round
 * half to even (FCVTNS, as nearest_int), bsums of 16. NaN inputs are skipped
 * by the max as in the reference (FMAXNM). */
static inline void arm_quant_q8_K(const float *x, void *dst, int64_t n)
{
    blk_q8_K *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        float32x4_t m = vabsq_f32(vld1q_f32(x));
        for (int k = 1; k < 64; k++) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + 4 * k)));
        const float amax = vmaxnmvq_f32(m);
        memset(&b[i], 0, sizeof(b[i]));
        if (!(amax > 0.0f) || !(amax <= 3.0e38f)) continue;
        float max = amax;
        for (int j = 0; j < 256; j++)
            if (__builtin_fabsf(x[j]) == amax) { max = x[j]; break; }
        const float is = -127.0f / max;
        for (int k = 0; k < 16; k++) {
            const float *xs = x + 16 * k;
            int32x4_t q0 = vcvtnq_s32_f32(arm_clamp127(vmulq_n_f32(vld1q_f32(xs), is)));
            int32x4_t q1 = vcvtnq_s32_f32(arm_clamp127(vmulq_n_f32(vld1q_f32(xs + 4), is)));
            int32x4_t q2 = vcvtnq_s32_f32(arm_clamp127(vmulq_n_f32(vld1q_f32(xs + 8), is)));
            int32x4_t q3 = vcvtnq_s32_f32(arm_clamp127(vmulq_n_f32(vld1q_f32(xs + 12), is)));
            const int8x16_t q = arm_narrow16(q0, q1, q2, q3);
            vst1q_s8(b[i].qs + 16 * k, q);
            wr_u16(b[i].bsums + 2 * k, (uint16_t)vaddlvq_s8(q));
        }
        wr_f32(b[i].d, 1.0f / is);
    }
}

/* ---- f32 dot ---- */

static inline float arm_dot_f32(const float *a, const float *b, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float r = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* ---- tiling ---- */

/* Calls row(n, w_row, a, as, NT, out) for token tiles of 4 (NT a
 * compile-time constant in each call) and stores out[t] to y. */
#define ARM_TILED_GEMM(name, row)                                                                             \
    static void name(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,     \
                     int64_t nr, int64_t nt)                                                                  \
    {                                                                                                         \
        const uint8_t *W = (const uint8_t *)w, *A = (const uint8_t *)a;                                       \
        float out[4];                                                                                         \
        for (int64_t r = 0; r < nr; r++) {                                                                    \
            const uint8_t *wr = W + (size_t)r * ws;                                                           \
            int64_t t = 0;                                                                                    \
            for (; t + 4 <= nt; t += 4) {                                                                     \
                row(n, wr, A + (size_t)t * as, as, 4, out);                                                   \
                for (int k = 0; k < 4; k++) y[(size_t)(t + k) * ldy + (size_t)r] = out[k];                    \
            }                                                                                                 \
            switch (nt - t) {                                                                                 \
            case 3: row(n, wr, A + (size_t)t * as, as, 3, out); break;                                        \
            case 2: row(n, wr, A + (size_t)t * as, as, 2, out); break;                                        \
            case 1: row(n, wr, A + (size_t)t * as, as, 1, out); break;                                        \
            default: continue;                                                                                \
            }                                                                                                 \
            for (int k = 0; k < nt - t; k++) y[(size_t)(t + k) * ldy + (size_t)r] = out[k];                   \
        }                                                                                                     \
    }

/* ---- q8_0 weights x q8_0 activations ---- */

/* 32 weight bytes of a q8_0 block as signed bytes: 0..15 in *lo, 16..31 in *hi */
AG_INLINE void arm_unpack_q8_0(const uint8_t *qs, const int nl, int8x16_t *lo, int8x16_t *hi)
{
    (void)nl;
    *lo = vreinterpretq_s8_u8(vld1q_u8(qs));
    *hi = vreinterpretq_s8_u8(vld1q_u8(qs + 16));
}

/* Rows of 32-value blocks with an f16 scale first (q8_0, q4_0, iq4_nl) x
 * q8_0 activations: sum_i d_w d_a (q . a)_i. Blocks go in pairs into two
 * accumulators per token, so that one FMA does not wait for the previous. */
#define ARM_ROW_B32(name, blk_t, unpack, nl)                                                                  \
    AG_INLINE void name##_step(const blk_t *bw, int64_t i, const uint8_t *a, size_t as, const int NT,         \
                               float32x4_t *acc)                                                              \
    {                                                                                                         \
        int8x16_t w0, w1;                                                                                     \
        unpack((const uint8_t *)bw[i].qs, nl, &w0, &w1);                                                      \
        const float d = arm_f16(bw[i].d);                                                                     \
        for (int t = 0; t < NT; t++) {                                                                        \
            const blk_q8_0 *ba = (const blk_q8_0 *)(a + (size_t)t * as) + i;                                  \
            acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(dot32(w0, w1, ba->qs)), d * arm_f16(ba->d));           \
        }                                                                                                     \
    }                                                                                                         \
    AG_INLINE void name(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)   \
    {                                                                                                         \
        const int64_t nb = n / 32;                                                                            \
        const blk_t *bw = (const blk_t *)w;                                                                   \
        float32x4_t acc0[4], acc1[4];                                                                         \
        for (int t = 0; t < NT; t++) acc0[t] = acc1[t] = vdupq_n_f32(0);                                      \
        int64_t i = 0;                                                                                        \
        for (; i + 2 <= nb; i += 2) {                                                                         \
            name##_step(bw, i, a, as, NT, acc0);                                                              \
            name##_step(bw, i + 1, a, as, NT, acc1);                                                          \
        }                                                                                                     \
        if (i < nb) name##_step(bw, i, a, as, NT, acc0);                                                      \
        for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(vaddq_f32(acc0[t], acc1[t]));                        \
    }

ARM_ROW_B32(row_q8_0, blk_q8_0, arm_unpack_q8_0, 0)
ARM_TILED_GEMM(gemm_q8_0, row_q8_0)

/* ---- q4_0 and iq4_nl weights x q8_0 activations ---- */

/* the 32 values of a q4_0-arranged block as signed bytes: 0..15 in *lo,
 * 16..31 in *hi; nl: through the iq4_nl table, else nibble - 8 */
AG_INLINE void arm_unpack_q4_0(const uint8_t *qs, const int nl, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t v = vld1q_u8(qs);
    const uint8x16_t l = vandq_u8(v, vdupq_n_u8(0x0f)), h = vshrq_n_u8(v, 4);
    if (nl) {
        const int8x16_t kv = vld1q_s8(ag_kvalues_iq4nl);
        *lo = vqtbl1q_s8(kv, l);
        *hi = vqtbl1q_s8(kv, h);
    } else {
        *lo = vsubq_s8(vreinterpretq_s8_u8(l), vdupq_n_s8(8));
        *hi = vsubq_s8(vreinterpretq_s8_u8(h), vdupq_n_s8(8));
    }
}

ARM_ROW_B32(row_q4_0, blk_q4_0, arm_unpack_q4_0, 0)
ARM_ROW_B32(row_iq4_nl, blk_iq4_nl, arm_unpack_q4_0, 1)
ARM_TILED_GEMM(gemm_q4_0, row_q4_0)
ARM_TILED_GEMM(gemm_iq4_nl, row_iq4_nl)

/* ---- q4_K / q5_K weights x q8_K activations ---- */

/* sum = d * da * sum_j sc_j * (q . a)_j - dmin * da * sum_j mn_j * asum_j
 * over the 8 sub-blocks j of 32. q5: the 5th bit from qh. */
AG_INLINE void row_q45_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out,
                         const int q5)
{
    const int64_t nb = n / QK_K;
    const size_t bytes = q5 ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *blk = w + (size_t)i * bytes;
        /* q4_K and q5_K share d, dmin, scales; qs follows qh in q5_K */
        const blk_q4_K *b4 = (const blk_q4_K *)blk;
        const uint8_t *qs = q5 ? ((const blk_q5_K *)blk)->qs : b4->qs;
        uint8_t sc[8], mn[8];
        arm_q4k_scales(b4->scales, sc, mn);
        const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
        const float d = arm_f16(b4->d), dmin = arm_f16(b4->dmin);
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = qh0;
        if (q5) {
            qh0 = vld1q_u8(((const blk_q5_K *)blk)->qh);
            qh1 = vld1q_u8(((const blk_q5_K *)blk)->qh + 16);
        }
        int32x4_t isum[4], isum2[4]; /* even / odd sub-blocks: two independent chains */
        for (int t = 0; t < NT; t++) isum[t] = isum2[t] = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t v0 = vld1q_u8(qs + 32 * c), v1 = vld1q_u8(qs + 32 * c + 16);
            uint8x16_t l0 = vandq_u8(v0, m4), l1 = vandq_u8(v1, m4);
            uint8x16_t h0 = vshrq_n_u8(v0, 4), h1 = vshrq_n_u8(v1, 4);
            if (q5) {
                const uint8x16_t one = vdupq_n_u8(1), two = vdupq_n_u8(2);
                l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(qh0, one), 4));
                l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(qh1, one), 4));
                h0 = vorrq_u8(h0, vshlq_n_u8(vandq_u8(qh0, two), 3));
                h1 = vorrq_u8(h1, vshlq_n_u8(vandq_u8(qh1, two), 3));
                qh0 = vshrq_n_u8(qh0, 2);
                qh1 = vshrq_n_u8(qh1, 2);
            }
            const int8x16_t wl0 = vreinterpretq_s8_u8(l0), wl1 = vreinterpretq_s8_u8(l1);
            const int8x16_t wh0 = vreinterpretq_s8_u8(h0), wh1 = vreinterpretq_s8_u8(h1);
            for (int t = 0; t < NT; t++) {
                const blk_q8_K *ba = (const blk_q8_K *)(a + (size_t)t * as) + i;
                const int8_t *aq = ba->qs + 64 * c;
                isum[t] = vmlaq_n_s32(isum[t], dot32(wl0, wl1, aq), sc[2 * c]);
                isum2[t] = vmlaq_n_s32(isum2[t], dot32(wh0, wh1, aq + 32), sc[2 * c + 1]);
            }
        }
        for (int t = 0; t < NT; t++) {
            const blk_q8_K *ba = (const blk_q8_K *)(a + (size_t)t * as) + i;
            const float da = arm_f32(ba->d);
            const int32_t msum = arm_dot_s16x8(mins, arm_q8k_bsums32(ba));
            sum[t] += da * (d * (float)vaddvq_s32(vaddq_s32(isum[t], isum2[t])) - dmin * (float)msum);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = sum[t];
}
AG_INLINE void row_q4_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    row_q45_K(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_q5_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    row_q45_K(n, w, a, as, NT, out, 1);
}
ARM_TILED_GEMM(gemm_q4_K, row_q4_K)
ARM_TILED_GEMM(gemm_q5_K, row_q5_K)

/* ---- q6_K weights x q8_K activations ---- */

/* The 4 x 16 values of q6_K half k, l-chunk j (l = 16j .. 16j+15) as signed
 * bytes q - 32: out[m] holds values 128k + 32m + 16j + (0..15), which belong
 * to sub-block 8k + 2m + j. */
AG_INLINE void arm_unpack_q6_K(const blk_q6_K *b, int k, int j, int8x16_t out[4])
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(0x03);
    const uint8x16_t L0 = vld1q_u8(b->ql + 64 * k + 16 * j), L1 = vld1q_u8(b->ql + 64 * k + 32 + 16 * j);
    const uint8x16_t H = vld1q_u8(b->qh + 32 * k + 16 * j);
    const uint8x16_t u0 = vorrq_u8(vandq_u8(L0, m4), vshlq_n_u8(vandq_u8(H, m3), 4));
    const uint8x16_t u1 = vorrq_u8(vandq_u8(L1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 2), m3), 4));
    const uint8x16_t u2 = vorrq_u8(vshrq_n_u8(L0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 4), m3), 4));
    const uint8x16_t u3 = vorrq_u8(vshrq_n_u8(L1, 4), vshlq_n_u8(vshrq_n_u8(H, 6), 4));
    const int8x16_t off = vdupq_n_s8(32);
    out[0] = vsubq_s8(vreinterpretq_s8_u8(u0), off);
    out[1] = vsubq_s8(vreinterpretq_s8_u8(u1), off);
    out[2] = vsubq_s8(vreinterpretq_s8_u8(u2), off);
    out[3] = vsubq_s8(vreinterpretq_s8_u8(u3), off);
}

AG_INLINE void row_q6_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    const int64_t nb = n / QK_K;
    const blk_q6_K *bw = (const blk_q6_K *)w;
    float sum[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = bw[i].scales;
        int32x4_t isum[4][2]; /* two independent chains per token */
        for (int t = 0; t < NT; t++) isum[t][0] = isum[t][1] = vdupq_n_s32(0);
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 2; j++) {
                int8x16_t q[4];
                arm_unpack_q6_K(&bw[i], k, j, q);
                for (int t = 0; t < NT; t++) {
                    const int8_t *aq = ((const blk_q8_K *)(a + (size_t)t * as) + i)->qs + 128 * k + 16 * j;
                    for (int m = 0; m < 4; m += 2) {
                        const int s0 = sc[8 * k + 2 * m + j], s1 = sc[8 * k + 2 * m + 2 + j];
                        isum[t][0] = vmlaq_n_s32(isum[t][0], dot16(vdupq_n_s32(0), q[m], vld1q_s8(aq + 32 * m)), s0);
                        isum[t][1] = vmlaq_n_s32(isum[t][1], dot16(vdupq_n_s32(0), q[m + 1], vld1q_s8(aq + 32 * m + 32)),
                                                 s1);
                    }
                }
            }
        const float d = arm_f16(bw[i].d);
        for (int t = 0; t < NT; t++) {
            const blk_q8_K *ba = (const blk_q8_K *)(a + (size_t)t * as) + i;
            sum[t] += d * arm_f32(ba->d) * (float)vaddvq_s32(vaddq_s32(isum[t][0], isum[t][1]));
        }
    }
    for (int t = 0; t < NT; t++) out[t] = sum[t];
}
ARM_TILED_GEMM(gemm_q6_K, row_q6_K)

/* ---- iq4_xs weights x q8_K activations ---- */

AG_INLINE void row_iq4_xs(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    const int64_t nb = n / QK_K;
    const blk_iq4_xs *bw = (const blk_iq4_xs *)w;
    const int8x16_t kv = vld1q_s8(ag_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        int32_t ls[8];
        arm_iq4xs_scales(&bw[i], ls);
        int32x4_t isum[4][2]; /* even / odd sub-blocks */
        for (int t = 0; t < NT; t++) isum[t][0] = isum[t][1] = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib += 2) {
            const uint8x16_t v0 = vld1q_u8(bw[i].qs + 16 * ib), v1 = vld1q_u8(bw[i].qs + 16 * ib + 16);
            const int8x16_t lo0 = vqtbl1q_s8(kv, vandq_u8(v0, m4)), hi0 = vqtbl1q_s8(kv, vshrq_n_u8(v0, 4));
            const int8x16_t lo1 = vqtbl1q_s8(kv, vandq_u8(v1, m4)), hi1 = vqtbl1q_s8(kv, vshrq_n_u8(v1, 4));
            for (int t = 0; t < NT; t++) {
                const int8_t *aq = ((const blk_q8_K *)(a + (size_t)t * as) + i)->qs + 32 * ib;
                isum[t][0] = vmlaq_n_s32(isum[t][0], dot32(lo0, hi0, aq), ls[ib]);
                isum[t][1] = vmlaq_n_s32(isum[t][1], dot32(lo1, hi1, aq + 32), ls[ib + 1]);
            }
        }
        const float d = arm_f16(bw[i].d);
        for (int t = 0; t < NT; t++) {
            const blk_q8_K *ba = (const blk_q8_K *)(a + (size_t)t * as) + i;
            sum[t] += d * arm_f32(ba->d) * (float)vaddvq_s32(vaddq_s32(isum[t][0], isum[t][1]));
        }
    }
    for (int t = 0; t < NT; t++) out[t] = sum[t];
}
ARM_TILED_GEMM(gemm_iq4_xs, row_iq4_xs)

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

/* 4 weights at w[i..i+3] as f32; fmt 0 f32, 1 f16, 2 bf16 */
AG_INLINE float32x4_t arm_load_w4(const uint8_t *w, int64_t i, const int fmt)
{
    if (fmt == 0) return vreinterpretq_f32_u8(vld1q_u8(w + 4 * i));
    const uint16x4_t h = vreinterpret_u16_u8(vld1_u8(w + 2 * i));
    if (fmt == 1) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

AG_INLINE float arm_load_w1(const uint8_t *w, int64_t i, const int fmt)
{
    if (fmt == 0) return arm_f32(w + 4 * i);
    if (fmt == 1) return arm_f16(w + 2 * i);
    return ag_bf16_to_f32(rd_u16(w + 2 * i));
}

AG_INLINE void row_float(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out,
                         const int fmt)
{
    float32x4_t acc[4][4];
    for (int t = 0; t < NT; t++)
        for (int k = 0; k < 4; k++) acc[t][k] = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const float32x4_t w0 = arm_load_w4(w, i, fmt), w1 = arm_load_w4(w, i + 4, fmt);
        const float32x4_t w2 = arm_load_w4(w, i + 8, fmt), w3 = arm_load_w4(w, i + 12, fmt);
        for (int t = 0; t < NT; t++) {
            const float *x = (const float *)(a + (size_t)t * as) + i;
            acc[t][0] = vfmaq_f32(acc[t][0], w0, vld1q_f32(x));
            acc[t][1] = vfmaq_f32(acc[t][1], w1, vld1q_f32(x + 4));
            acc[t][2] = vfmaq_f32(acc[t][2], w2, vld1q_f32(x + 8));
            acc[t][3] = vfmaq_f32(acc[t][3], w3, vld1q_f32(x + 12));
        }
    }
    for (; i + 4 <= n; i += 4) {
        const float32x4_t w0 = arm_load_w4(w, i, fmt);
        for (int t = 0; t < NT; t++)
            acc[t][0] = vfmaq_f32(acc[t][0], w0, vld1q_f32((const float *)(a + (size_t)t * as) + i));
    }
    for (int t = 0; t < NT; t++) {
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
        const float *x = (const float *)(a + (size_t)t * as);
        for (int64_t j = i; j < n; j++) s += arm_load_w1(w, j, fmt) * x[j];
        out[t] = s;
    }
}
AG_INLINE void row_f32(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    row_float(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_f16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    row_float(n, w, a, as, NT, out, 1);
}
AG_INLINE void row_bf16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, float *out)
{
    row_float(n, w, a, as, NT, out, 2);
}
ARM_TILED_GEMM(gemm_f32, row_f32)
ARM_TILED_GEMM(gemm_f16, row_f16)
ARM_TILED_GEMM(gemm_bf16, row_bf16)

/* ---- everything else: reference dequantization + FMA ---- */

/* Dequantizes a piece of the weight row (one block, or 256 values for
 * block-1 types) with the reference to_float, then FMAs it against up to 4
 * tokens. f32 activations, so these types keep the reference's accuracy. */
static inline void arm_gemm_generic(const ag_type_traits *tt, int64_t n, const void *w, size_t ws, const void *a,
                                    size_t as, float *y, size_t ldy, int64_t nr, int64_t nt)
{
    const int64_t piece = tt->block > 1 ? tt->block : 256;
    float buf[256] __attribute__((aligned(16)));
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * ws;
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {
            const int tn = nt - t0 < 4 ? (int)(nt - t0) : 4;
            float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
            float tail[4] = {0, 0, 0, 0};
            for (int64_t i0 = 0; i0 < n; i0 += piece) {
                const int64_t len = n - i0 < piece ? n - i0 : piece;
                tt->to_float(row + (size_t)(i0 / tt->block) * tt->bytes, buf, len);
                for (int t = 0; t < tn; t++) {
                    const float *x = (const float *)((const uint8_t *)a + (size_t)(t0 + t) * as) + i0;
                    int64_t i = 0;
                    for (; i + 4 <= len; i += 4) acc[t] = vfmaq_f32(acc[t], vld1q_f32(buf + i), vld1q_f32(x + i));
                    for (; i < len; i++) tail[t] += buf[i] * x[i];
                }
            }
            for (int t = 0; t < tn; t++) y[(size_t)(t0 + t) * ldy + (size_t)r] = vaddvq_f32(acc[t]) + tail[t];
        }
    }
}

#define ARM_GENERIC(id, nm)                                                                                   \
    static void gemm_generic_##nm(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,    \
                                  size_t ldy, int64_t nr, int64_t nt)                                         \
    {                                                                                                         \
        arm_gemm_generic(ag_type_traits_of(id), n, w, ws, a, as, y, ldy, nr, nt);                            \
    }
ARM_GENERIC(AG_TYPE_Q4_1, q4_1)
ARM_GENERIC(AG_TYPE_Q5_0, q5_0)
ARM_GENERIC(AG_TYPE_Q5_1, q5_1)
ARM_GENERIC(AG_TYPE_Q8_1, q8_1)
ARM_GENERIC(AG_TYPE_Q2_K, q2_K)
ARM_GENERIC(AG_TYPE_Q3_K, q3_K)
ARM_GENERIC(AG_TYPE_Q8_K, q8_K)

/* Fills a level with this file's kernels (every type above). */
static inline void arm_fill_level(ag_kernel_level *lv)
{
    const ag_kernel q8_0 = {.quant = arm_quant_q8_0, .act_block = 32, .act_bytes = sizeof(blk_q8_0),
                            .act_fmt = AG_ACT_Q8_0};
    const ag_kernel q8_K = {.quant = arm_quant_q8_K, .act_block = QK_K, .act_bytes = sizeof(blk_q8_K),
                            .act_fmt = AG_ACT_Q8_K};
    const ag_kernel f32 = {.quant = NULL, .act_block = 1, .act_bytes = 4, .act_fmt = AG_ACT_F32};
    static const struct { uint32_t id; int act; ag_gemm_fn fn; } rows[] = {
        /* act: 0 f32, 1 q8_0, 2 q8_K */
        {AG_TYPE_F32, 0, gemm_f32},        {AG_TYPE_F16, 0, gemm_f16},       {AG_TYPE_BF16, 0, gemm_bf16},
        {AG_TYPE_Q8_0, 1, gemm_q8_0},      {AG_TYPE_Q4_0, 1, gemm_q4_0},     {AG_TYPE_IQ4_NL, 1, gemm_iq4_nl},
        {AG_TYPE_Q4_K, 2, gemm_q4_K},      {AG_TYPE_Q5_K, 2, gemm_q5_K},     {AG_TYPE_Q6_K, 2, gemm_q6_K},
        {AG_TYPE_IQ4_XS, 2, gemm_iq4_xs},  {AG_TYPE_Q4_1, 0, gemm_generic_q4_1},
        {AG_TYPE_Q5_0, 0, gemm_generic_q5_0}, {AG_TYPE_Q5_1, 0, gemm_generic_q5_1},
        {AG_TYPE_Q8_1, 0, gemm_generic_q8_1}, {AG_TYPE_Q2_K, 0, gemm_generic_q2_K},
        {AG_TYPE_Q3_K, 0, gemm_generic_q3_K}, {AG_TYPE_Q8_K, 0, gemm_generic_q8_K},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (!ag_type_traits_of(rows[i].id)) continue;
        ag_kernel k = rows[i].act == 0 ? f32 : rows[i].act == 1 ? q8_0 : q8_K;
        k.gemm = rows[i].fn;
        k.to_f32 = lv->k[rows[i].id].to_f32; /* inherited */
        lv->k[rows[i].id] = k;
    }
    lv->dot_f32 = arm_dot_f32;
}

#endif
