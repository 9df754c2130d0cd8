/* attn.neon.c: the attention's kernel-table entries at the "neon" level
 * (exp_sum, pv_f32, to_f32; kernels.h). Baseline ARMv8.0-A Advanced SIMD
 * only, so the dotprod and i8mm levels inherit these unchanged (each level
 * starts as a copy of the one below and arm_fill_level keeps them).
 *
 *  - exp_sum: the x86 levels' expf (attn.avx2.c: k = round(d log2 e) by the
 *    1.5 * 2^23 trick in one FMA, two-step Cody-Waite reduction, degree-6
 *    polynomial, 2^k from the exponent bits multiplied in, d < -87.3 -> 0);
 *    the same IEEE operations (fused where x86 fuses), so the same bits as
 *    on x86 for every non-NaN input.
 *    The tail (< 8 values) goes through a small buffer padded with m.
 *  - pv_f32: register tiles of 4 rows x 16 columns (16 accumulators of the
 *    32 q registers). p is loaded four keys at a time per row and applied
 *    with FMLA by element (vfmaq_laneq_f32), so a key costs 4 v loads and
 *    16 FMLAs, no broadcasts. Columns outer (a 16-column strip of v stays in
 *    L1 while the row blocks pass); tails of 4 columns, then scalar ones.
 *  - to_f32: F16 by FCVTL, BF16 by SHLL #16, Q8_0 / Q4_0 by widening to
 *    int32, SCVTF and one FMUL by the block scale: bit-identical to the
 *    reference to_float (F16 signalling NaNs come out quiet, still NaN).
 *
 * Rejected: 8 rows x 8 columns (twice the p loads per FMLA for nr = 4, the
 * decode case), and a separate dotprod/i8mm version (none of these use
 * integer dot products). */
#if defined(__aarch64__)
#include "kernels/arm/arm_common.h"

#include <math.h>

/* ---- exp_sum ---- */

/* e^d for d <= 0: d < -87.3 (and -inf) gives 0, NaN stays NaN. */
AG_INLINE float32x4_t exp4(float32x4_t d)
{
    const float32x4_t magic = vdupq_n_f32(12582912.0f); /* 1.5 * 2^23 */
    const float32x4_t lo = vdupq_n_f32(-87.3f);
    const uint32x4_t zero = vcltq_f32(d, lo);
    d = vmaxq_f32(lo, d); /* k stays in [-126, 0]; FMAX keeps a NaN */
    const float32x4_t t = vfmaq_f32(magic, d, vdupq_n_f32(1.44269504088896341f));
    const float32x4_t k = vsubq_f32(t, magic);
    float32x4_t r = vfmsq_f32(d, k, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, k, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    /* 2^k: k + 127 sits in the low bits of t's mantissa */
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vreinterpretq_s32_f32(t), vdupq_n_s32(127)), 23);
    const float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), zero));
}

/* ---- max_f32 ---- */

static float max_f32_neon(const float *x, int64_t n)
{
    float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m0 = vmaxq_f32(m0, vld1q_f32(x + i));
        m1 = vmaxq_f32(m1, vld1q_f32(x + i + 4));
    }
    for (; i + 4 <= n; i += 4) m0 = vmaxq_f32(m0, vld1q_f32(x + i));
    float m = vmaxvq_f32(vmaxq_f32(m0, m1));
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* ---- silu_mul ---- */

/* x / (1 + e^-x) from e = e^-|x| (in (0, 1], exp4's range): x / (1 + e)
 * for x >= 0, x e / (1 + e) below; a NaN x stays NaN */
AG_INLINE float32x4_t silu4(float32x4_t x)
{
    const float32x4_t e = exp4(vnegq_f32(vabsq_f32(x)));
    const uint32x4_t neg = vcltq_f32(x, vdupq_n_f32(0.0f));
    const float32x4_t num = vbslq_f32(neg, vmulq_f32(x, e), x);
    return vdivq_f32(num, vaddq_f32(vdupq_n_f32(1.0f), e));
}

static void silu_mul_neon(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t s = silu4(vld1q_f32(g + i));
        if (u) s = vmulq_f32(s, vld1q_f32(u + i));
        vst1q_f32(y + i, s);
    }
    if (i < n) { /* 1..3 left: through a stack copy */
        float gb[4] = {0}, ub[4] = {0};
        const int64_t m = n - i;
        memcpy(gb, g + i, (size_t)m * sizeof(float));
        if (u) memcpy(ub, u + i, (size_t)m * sizeof(float));
        float32x4_t s = silu4(vld1q_f32(gb));
        if (u) s = vmulq_f32(s, vld1q_f32(ub));
        vst1q_f32(gb, s);
        memcpy(y + i, gb, (size_t)m * sizeof(float));
    }
}

static float exp_sum_neon(float *x, float m, int64_t n)
{
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t e0 = exp4(vsubq_f32(vld1q_f32(x + i), vm));
        const float32x4_t e1 = exp4(vsubq_f32(vld1q_f32(x + i + 4), vm));
        vst1q_f32(x + i, e0);
        vst1q_f32(x + i + 4, e1);
        s0 = vaddq_f32(s0, e0);
        s1 = vaddq_f32(s1, e1);
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i += 4) {
        const int left = n - i < 4 ? (int)(n - i) : 4;
        float buf[4] = {m, m, m, m};
        memcpy(buf, x + i, (size_t)left * sizeof(float));
        vst1q_f32(buf, exp4(vsubq_f32(vld1q_f32(buf), vm)));
        memcpy(x + i, buf, (size_t)left * sizeof(float));
        for (int j = 0; j < left; j++) s += buf[j];
    }
    return s;
}

/* ---- pv_f32 ---- */

/* y rows r < R, columns [0, 4 * CV) += p rows x v[0..nk). R and CV are
 * constants after inlining; the lane index of vfmaq_laneq_f32 must be a
 * literal, hence the macro. */
AG_INLINE void pv_tile(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nk,
                       const int R, const int CV)
{
    float32x4_t acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++) acc[r][c] = vld1q_f32(y + r * ldy + 4 * c);
    int64_t k = 0;
#define PV_KEY(lane)                                                                                          \
    do {                                                                                                      \
        const float *vk = v + (size_t)(k + lane) * ldv;                                                       \
        float32x4_t vv[4];                                                                                    \
        for (int c = 0; c < CV; c++) vv[c] = vld1q_f32(vk + 4 * c);                                          \
        for (int r = 0; r < R; r++)                                                                           \
            for (int c = 0; c < CV; c++) acc[r][c] = vfmaq_laneq_f32(acc[r][c], vv[c], pk[r], lane);        \
    } while (0)
    for (; k + 4 <= nk; k += 4) {
        float32x4_t pk[4];
        for (int r = 0; r < R; r++) pk[r] = vld1q_f32(p + r * ldp + (size_t)k);
        PV_KEY(0);
        PV_KEY(1);
        PV_KEY(2);
        PV_KEY(3);
    }
#undef PV_KEY
    for (; k < nk; k++) {
        const float *vk = v + (size_t)k * ldv;
        float32x4_t vv[4];
        for (int c = 0; c < CV; c++) vv[c] = vld1q_f32(vk + 4 * c);
        for (int r = 0; r < R; r++) {
            const float32x4_t b = vld1q_dup_f32(p + r * ldp + (size_t)k);
            for (int c = 0; c < CV; c++) acc[r][c] = vfmaq_f32(acc[r][c], b, vv[c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++) vst1q_f32(y + r * ldy + 4 * c, acc[r][c]);
}

/* all rows for one column strip of CV vectors */
AG_INLINE void pv_strip(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                        int64_t nk, const int CV)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) pv_tile(y + (size_t)r * ldy, ldy, p + (size_t)r * ldp, ldp, v, ldv, nk, 4, CV);
    float *yr = y + (size_t)r * ldy;
    const float *pr = p + (size_t)r * ldp;
    switch (nr - r) {
    case 3: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 3, CV); break;
    case 2: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 2, CV); break;
    case 1: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 1, CV); break;
    default: break;
    }
}

static void pv_f32_neon(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                        int64_t nk, int64_t n)
{
    int64_t e = 0;
    for (; e + 16 <= n; e += 16) pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 4);
    for (; e + 4 <= n; e += 4) pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 1);
    for (; e < n; e++)
        for (int64_t r = 0; r < nr; r++) {
            float acc = y[(size_t)r * ldy + (size_t)e];
            for (int64_t k = 0; k < nk; k++) acc += p[(size_t)r * ldp + (size_t)k] * v[(size_t)k * ldv + (size_t)e];
            y[(size_t)r * ldy + (size_t)e] = acc;
        }
}

/* ---- to_f32 ---- */

static void to_f32_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src; /* any alignment: byte loads only */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(s + 2 * i));
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))));
        vst1q_f32(dst + i + 4, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))));
    }
    for (; i < n; i++) dst[i] = arm_f16(s + 2 * i);
}

static void to_f32_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(s + 2 * i));
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
    }
    for (; i < n; i++) dst[i] = ag_bf16_to_f32(rd_u16(s + 2 * i));
}

/* 16 signed bytes to 16 floats times d */
AG_INLINE void store16_scaled(float *dst, int8x16_t q, float d)
{
    const int16x8_t l = vmovl_s8(vget_low_s8(q)), h = vmovl_high_s8(q);
    vst1q_f32(dst, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(l))), d));
    vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(l)), d));
    vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), d));
    vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(h)), d));
}

static void to_f32_q8_0(const void *src, float *dst, int64_t n)
{
    const blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = arm_f16(b[i].d);
        store16_scaled(dst, vld1q_s8(b[i].qs), d);
        store16_scaled(dst + 16, vld1q_s8(b[i].qs + 16), d);
    }
}

static void to_f32_q4_0(const void *src, float *dst, int64_t n)
{
    const blk_q4_0 *b = src;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = arm_f16(b[i].d);
        const uint8x16_t x = vld1q_u8(b[i].qs);
        store16_scaled(dst, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(x, m4)), eight), d);      /* values 0..15 */
        store16_scaled(dst + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(x, 4)), eight), d); /* 16..31 */
    }
}

void ag_kernels_setup_attn_neon(ag_kernel_level *lv)
{
    lv->exp_sum = exp_sum_neon;
    lv->max_f32 = max_f32_neon;
    lv->silu_mul = silu_mul_neon;
    lv->pv_f32 = pv_f32_neon;
    lv->k[AG_TYPE_F16].to_f32 = to_f32_f16;
    lv->k[AG_TYPE_BF16].to_f32 = to_f32_bf16;
    lv->k[AG_TYPE_Q8_0].to_f32 = to_f32_q8_0;
    lv->k[AG_TYPE_Q4_0].to_f32 = to_f32_q4_0;
}
#else
typedef int ag_kernels_attn_neon_unused; /* this file is built for arm64 only */
#endif
