/* gemm.i8mm.c: the "i8mm" level (FEAT_I8MM: SMMLA; Cortex-A510/A710/X2 and
 * later phones, Apple M2, Graviton3).
 *
 * SMMLA multiplies a 2x8 int8 matrix by the transpose of another and adds
 * the 2x2 int32 result: with two weight rows in one operand and two tokens in
 * the other, one instruction does the work of four 8-byte dot products, twice
 * the arithmetic per instruction of SDOT. It only pays when several tokens
 * share the weights, so this file speeds up prefill: tiles of 2 or 4 weight
 * rows x 2 or 4 tokens for q8_0, q4_0, iq4_nl (q8_0 activations) and q4_K,
 * q5_K, q6_K, iq4_xs (q8_K activations). Decode (one token), odd rows and
 * odd tokens go to the dotprod kernels of arm_common.h, which this file also
 * compiles (with +dotprod) and which every other type keeps.
 *
 * Operands are formed in registers by interleaving 8-byte halves of two rows
 * (ZIP1/ZIP2 on 64-bit lanes); the activation layout stays ggml's q8_0 /
 * q8_K, because the interface quantizes each token on its own (a token-
 * interleaved activation format, as llama.cpp's repacking, was rejected:
 * it would need a second activation format through ops.c for one level).
 * A tile's int32 lanes are [r0.t0, r0.t1, r1.t0, r1.t1], so per-row scales
 * and per-token scales become one 4-lane vector each. */
#if defined(__aarch64__)
#include "kernels/arm/arm_common.h"

#if !defined(__ARM_FEATURE_MATMUL_INT8) || !defined(__ARM_FEATURE_DOTPROD)
#error "gemm.i8mm.c must be compiled with -march=armv8.2-a+dotprod+i8mm (CMakeLists.txt)"
#endif

/* [a bytes 0..7, b bytes 0..7] and [a bytes 8..15, b bytes 8..15] */
AG_INLINE int8x16_t zlo(int8x16_t a, int8x16_t b)
{
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
AG_INLINE int8x16_t zhi(int8x16_t a, int8x16_t b)
{
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

/* {x0, x0, x1, x1} (per-row) and {x0, x1, x0, x1} (per-token) */
AG_INLINE float32x4_t rows2(float x0, float x1) { return vcombine_f32(vdup_n_f32(x0), vdup_n_f32(x1)); }
AG_INLINE float32x4_t toks2(float x0, float x1)
{
    const float32x2_t v = vset_lane_f32(x1, vdup_n_f32(x0), 1);
    return vcombine_f32(v, v);
}
AG_INLINE int32x4_t rows2i(int32_t x0, int32_t x1) { return vcombine_s32(vdup_n_s32(x0), vdup_n_s32(x1)); }

/* Stores tile lanes [r0.t0, r0.t1, r1.t0, r1.t1] at y (row r0, token t0). */
AG_INLINE void store_tile(float *y, size_t ldy, float32x4_t v)
{
    y[0] = vgetq_lane_f32(v, 0);
    y[ldy] = vgetq_lane_f32(v, 1);
    y[1] = vgetq_lane_f32(v, 2);
    y[ldy + 1] = vgetq_lane_f32(v, 3);
}

/* ---- 32-value blocks x q8_0: q8_0 (kind 0), q4_0 (1), iq4_nl (2) ---- */

AG_INLINE void unpack_b32(const uint8_t *row, int64_t i, const int kind, int8x16_t *lo, int8x16_t *hi)
{
    if (kind == 0) {
        const blk_q8_0 *b = (const blk_q8_0 *)row + i;
        *lo = vld1q_s8(b->qs);
        *hi = vld1q_s8(b->qs + 16);
    } else {
        arm_unpack_q4_0(((const blk_q4_0 *)row + i)->qs, kind == 2, lo, hi);
    }
}

AG_INLINE float b32_d(const uint8_t *row, int64_t i, const int kind)
{
    return kind == 0 ? arm_f16(((const blk_q8_0 *)row + i)->d) : arm_f16(((const blk_q4_0 *)row + i)->d);
}

/* 2*RP rows x 2*TP tokens */
AG_INLINE void tile_b32(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                        const int RP, const int TP, const int kind)
{
    const int64_t nb = n / 32;
    float32x4_t acc[2][2];
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) acc[rp][tp] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t az[2][4];
        float32x4_t da[2];
        for (int tp = 0; tp < TP; tp++) {
            const blk_q8_0 *b0 = (const blk_q8_0 *)(a + (size_t)(2 * tp) * as) + i;
            const blk_q8_0 *b1 = (const blk_q8_0 *)(a + (size_t)(2 * tp + 1) * as) + i;
            const int8x16_t x00 = vld1q_s8(b0->qs), x01 = vld1q_s8(b0->qs + 16);
            const int8x16_t x10 = vld1q_s8(b1->qs), x11 = vld1q_s8(b1->qs + 16);
            az[tp][0] = zlo(x00, x10);
            az[tp][1] = zhi(x00, x10);
            az[tp][2] = zlo(x01, x11);
            az[tp][3] = zhi(x01, x11);
            da[tp] = toks2(arm_f16(b0->d), arm_f16(b1->d));
        }
        for (int rp = 0; rp < RP; rp++) {
            const uint8_t *r0 = w + (size_t)(2 * rp) * ws, *r1 = r0 + ws;
            int8x16_t w00, w01, w10, w11;
            unpack_b32(r0, i, kind, &w00, &w01);
            unpack_b32(r1, i, kind, &w10, &w11);
            const int8x16_t wz0 = zlo(w00, w10), wz1 = zhi(w00, w10), wz2 = zlo(w01, w11), wz3 = zhi(w01, w11);
            const float32x4_t dw = rows2(b32_d(r0, i, kind), b32_d(r1, i, kind));
            for (int tp = 0; tp < TP; tp++) {
                int32x4_t p = vmmlaq_s32(vdupq_n_s32(0), wz0, az[tp][0]);
                p = vmmlaq_s32(p, wz1, az[tp][1]);
                p = vmmlaq_s32(p, wz2, az[tp][2]);
                p = vmmlaq_s32(p, wz3, az[tp][3]);
                acc[rp][tp] = vfmaq_f32(acc[rp][tp], vcvtq_f32_s32(p), vmulq_f32(dw, da[tp]));
            }
        }
    }
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) store_tile(y + (size_t)(2 * tp) * ldy + 2 * rp, ldy, acc[rp][tp]);
}

/* ---- 256-value super-blocks with 8 sub-blocks of 32 x q8_K:
 *      q4_K (kind 0), q5_K (1), iq4_xs (2) ---- */

typedef struct {
    int32_t sc[8]; /* sub-block scales */
    int16x8_t mn;  /* sub-block mins (q4_K/q5_K) */
    float d, dmin;
} sb32_hdr;

AG_INLINE const uint8_t *sb32_blk(const uint8_t *row, int64_t i, const int kind)
{
    const size_t bytes = kind == 0 ? sizeof(blk_q4_K) : kind == 1 ? sizeof(blk_q5_K) : sizeof(blk_iq4_xs);
    return row + (size_t)i * bytes;
}

AG_INLINE void sb32_header(const uint8_t *blk, const int kind, sb32_hdr *h)
{
    if (kind == 2) {
        arm_iq4xs_scales((const blk_iq4_xs *)blk, h->sc);
        h->d = arm_f16(((const blk_iq4_xs *)blk)->d);
        h->dmin = 0;
        h->mn = vdupq_n_s16(0);
        return;
    }
    const blk_q4_K *b = (const blk_q4_K *)blk; /* q5_K starts the same */
    uint8_t sc[8], mn[8];
    arm_q4k_scales(b->scales, sc, mn);
    for (int j = 0; j < 8; j++) h->sc[j] = sc[j];
    h->mn = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    h->d = arm_f16(b->d);
    h->dmin = arm_f16(b->dmin);
}

/* the 32 values of sub-block j as signed bytes: 0..15 in *lo, 16..31 in *hi */
AG_INLINE void sb32_unpack(const uint8_t *blk, int j, const int kind, int8x16_t *lo, int8x16_t *hi)
{
    if (kind == 2) {
        const uint8x16_t v = vld1q_u8(((const blk_iq4_xs *)blk)->qs + 16 * j);
        const int8x16_t kv = vld1q_s8(ag_kvalues_iq4nl);
        *lo = vqtbl1q_s8(kv, vandq_u8(v, vdupq_n_u8(0x0f)));
        *hi = vqtbl1q_s8(kv, vshrq_n_u8(v, 4));
        return;
    }
    const uint8_t *qs = kind == 0 ? ((const blk_q4_K *)blk)->qs : ((const blk_q5_K *)blk)->qs;
    const int c = j / 2;
    uint8x16_t v0 = vld1q_u8(qs + 32 * c), v1 = vld1q_u8(qs + 32 * c + 16);
    if (j % 2) {
        v0 = vshrq_n_u8(v0, 4);
        v1 = vshrq_n_u8(v1, 4);
    } else {
        v0 = vandq_u8(v0, vdupq_n_u8(0x0f));
        v1 = vandq_u8(v1, vdupq_n_u8(0x0f));
    }
    if (kind == 1) {
        /* value 32j + l adds 16 if bit j of qh[l] */
        const uint8_t *qh = ((const blk_q5_K *)blk)->qh;
        const int8x16_t sh = vdupq_n_s8((int8_t)-j);
        const uint8x16_t one = vdupq_n_u8(1);
        v0 = vorrq_u8(v0, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh), sh), one), 4));
        v1 = vorrq_u8(v1, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh + 16), sh), one), 4));
    }
    *lo = vreinterpretq_s8_u8(v0);
    *hi = vreinterpretq_s8_u8(v1);
}

/* [a0.b0, a0.b1, a1.b0, a1.b1] sums of 8 int16 products, as int32 */
AG_INLINE int32x4_t dot_s16x8_2x2(int16x8_t a0, int16x8_t a1, int16x8_t b0, int16x8_t b1)
{
    const int32x4_t p00 = vmlal_high_s16(vmull_s16(vget_low_s16(a0), vget_low_s16(b0)), a0, b0);
    const int32x4_t p01 = vmlal_high_s16(vmull_s16(vget_low_s16(a0), vget_low_s16(b1)), a0, b1);
    const int32x4_t p10 = vmlal_high_s16(vmull_s16(vget_low_s16(a1), vget_low_s16(b0)), a1, b0);
    const int32x4_t p11 = vmlal_high_s16(vmull_s16(vget_low_s16(a1), vget_low_s16(b1)), a1, b1);
    return vpaddq_s32(vpaddq_s32(p00, p01), vpaddq_s32(p10, p11));
}

AG_INLINE void tile_sb32(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y,
                         size_t ldy, const int RP, const int TP, const int kind)
{
    const int64_t nb = n / QK_K;
    float32x4_t acc[2][2];
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) acc[rp][tp] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        const blk_q8_K *ba[4];
        for (int t = 0; t < 2 * TP; t++) ba[t] = (const blk_q8_K *)(a + (size_t)t * as) + i;
        for (int rp = 0; rp < RP; rp++) {
            const uint8_t *b0 = sb32_blk(w + (size_t)(2 * rp) * ws, i, kind);
            const uint8_t *b1 = sb32_blk(w + (size_t)(2 * rp + 1) * ws, i, kind);
            sb32_hdr h0, h1;
            sb32_header(b0, kind, &h0);
            sb32_header(b1, kind, &h1);
            int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int j = 0; j < 8; j++) {
                int8x16_t w00, w01, w10, w11;
                sb32_unpack(b0, j, kind, &w00, &w01);
                sb32_unpack(b1, j, kind, &w10, &w11);
                const int8x16_t wz0 = zlo(w00, w10), wz1 = zhi(w00, w10), wz2 = zlo(w01, w11), wz3 = zhi(w01, w11);
                const int32x4_t sc = rows2i(h0.sc[j], h1.sc[j]);
                for (int tp = 0; tp < TP; tp++) {
                    const int8_t *q0 = ba[2 * tp]->qs + 32 * j, *q1 = ba[2 * tp + 1]->qs + 32 * j;
                    const int8x16_t x00 = vld1q_s8(q0), x01 = vld1q_s8(q0 + 16);
                    const int8x16_t x10 = vld1q_s8(q1), x11 = vld1q_s8(q1 + 16);
                    int32x4_t p = vmmlaq_s32(vdupq_n_s32(0), wz0, zlo(x00, x10));
                    p = vmmlaq_s32(p, wz1, zhi(x00, x10));
                    p = vmmlaq_s32(p, wz2, zlo(x01, x11));
                    p = vmmlaq_s32(p, wz3, zhi(x01, x11));
                    isum[tp] = vmlaq_s32(isum[tp], p, sc);
                }
            }
            const float32x4_t dw = rows2(h0.d, h1.d);
            for (int tp = 0; tp < TP; tp++) {
                const float32x4_t da = toks2(arm_f32(ba[2 * tp]->d), arm_f32(ba[2 * tp + 1]->d));
                acc[rp][tp] = vfmaq_f32(acc[rp][tp], vcvtq_f32_s32(isum[tp]), vmulq_f32(dw, da));
                if (kind != 2) {
                    const int32x4_t ms = dot_s16x8_2x2(h0.mn, h1.mn, arm_q8k_bsums32(ba[2 * tp]),
                                                       arm_q8k_bsums32(ba[2 * tp + 1]));
                    acc[rp][tp] = vfmsq_f32(acc[rp][tp], vcvtq_f32_s32(ms), vmulq_f32(rows2(h0.dmin, h1.dmin), da));
                }
            }
        }
    }
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) store_tile(y + (size_t)(2 * tp) * ldy + 2 * rp, ldy, acc[rp][tp]);
}

/* ---- q6_K x q8_K: 16 sub-blocks of 16 ---- */

AG_INLINE void tile_q6_K(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y,
                         size_t ldy, const int RP, const int TP)
{
    const int64_t nb = n / QK_K;
    float32x4_t acc[2][2];
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) acc[rp][tp] = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        const blk_q8_K *ba[4];
        for (int t = 0; t < 2 * TP; t++) ba[t] = (const blk_q8_K *)(a + (size_t)t * as) + i;
        for (int rp = 0; rp < RP; rp++) {
            const blk_q6_K *b0 = (const blk_q6_K *)(w + (size_t)(2 * rp) * ws) + i;
            const blk_q6_K *b1 = (const blk_q6_K *)(w + (size_t)(2 * rp + 1) * ws) + i;
            int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < 2; j++) {
                    int8x16_t q0[4], q1[4];
                    arm_unpack_q6_K(b0, k, j, q0);
                    arm_unpack_q6_K(b1, k, j, q1);
                    for (int m = 0; m < 4; m++) {
                        const int s = 8 * k + 2 * m + j; /* sub-block of these 16 values */
                        const int8x16_t wz0 = zlo(q0[m], q1[m]), wz1 = zhi(q0[m], q1[m]);
                        const int32x4_t sc = rows2i(b0->scales[s], b1->scales[s]);
                        const int off = 128 * k + 32 * m + 16 * j;
                        for (int tp = 0; tp < TP; tp++) {
                            const int8x16_t x0 = vld1q_s8(ba[2 * tp]->qs + off);
                            const int8x16_t x1 = vld1q_s8(ba[2 * tp + 1]->qs + off);
                            int32x4_t p = vmmlaq_s32(vdupq_n_s32(0), wz0, zlo(x0, x1));
                            p = vmmlaq_s32(p, wz1, zhi(x0, x1));
                            isum[tp] = vmlaq_s32(isum[tp], p, sc);
                        }
                    }
                }
            const float32x4_t dw = rows2(arm_f16(b0->d), arm_f16(b1->d));
            for (int tp = 0; tp < TP; tp++) {
                const float32x4_t da = toks2(arm_f32(ba[2 * tp]->d), arm_f32(ba[2 * tp + 1]->d));
                acc[rp][tp] = vfmaq_f32(acc[rp][tp], vcvtq_f32_s32(isum[tp]), vmulq_f32(dw, da));
            }
        }
    }
    for (int rp = 0; rp < RP; rp++)
        for (int tp = 0; tp < TP; tp++) store_tile(y + (size_t)(2 * tp) * ldy + 2 * rp, ldy, acc[rp][tp]);
}

/* ---- the gemms: SMMLA tiles where 2 x 2 fit, dotprod kernels elsewhere ---- */

/* tile(n, w, ws, a, as, y, ldy, RP, TP) covers 2RP rows x 2TP tokens; dot is
 * the dotprod gemm for the rest (one token, the odd row, the odd token). */
#define I8MM_GEMM(name, tile, dot)                                                                            \
    static void name(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,     \
                     int64_t nr, int64_t nt)                                                                  \
    {                                                                                                         \
        const uint8_t *W = (const uint8_t *)w, *A = (const uint8_t *)a;                                       \
        if (nt < 2 || nr < 2) {                                                                               \
            dot(n, w, ws, a, as, y, ldy, nr, nt);                                                             \
            return;                                                                                           \
        }                                                                                                     \
        const int64_t nt2 = nt & ~(int64_t)1, nr2 = nr & ~(int64_t)1;                                         \
        for (int64_t r = 0; r < nr2;) {                                                                       \
            const int rp = nr2 - r >= 4 ? 2 : 1;                                                              \
            const uint8_t *wr = W + (size_t)r * ws;                                                           \
            int64_t t = 0;                                                                                    \
            for (; t + 4 <= nt2; t += 4) {                                                                    \
                if (rp == 2) tile(n, wr, ws, A + (size_t)t * as, as, y + (size_t)t * ldy + r, ldy, 2, 2);     \
                else tile(n, wr, ws, A + (size_t)t * as, as, y + (size_t)t * ldy + r, ldy, 1, 2);             \
            }                                                                                                 \
            if (t < nt2) {                                                                                    \
                if (rp == 2) tile(n, wr, ws, A + (size_t)t * as, as, y + (size_t)t * ldy + r, ldy, 2, 1);     \
                else tile(n, wr, ws, A + (size_t)t * as, as, y + (size_t)t * ldy + r, ldy, 1, 1);             \
            }                                                                                                 \
            r += 2 * rp;                                                                                      \
        }                                                                                                     \
        if (nt2 < nt) /* the odd token, rows 0 .. nr2-1 */                                                    \
            dot(n, w, ws, A + (size_t)nt2 * as, as, y + (size_t)nt2 * ldy, ldy, nr2, 1);                      \
        if (nr2 < nr) /* the odd row, every token */                                                          \
            dot(n, W + (size_t)nr2 * ws, ws, a, as, y + nr2, ldy, 1, nt);                                     \
    }

AG_INLINE void tile_q8_0(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                         const int RP, const int TP)
{
    tile_b32(n, w, ws, a, as, y, ldy, RP, TP, 0);
}
AG_INLINE void tile_q4_0(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                         const int RP, const int TP)
{
    tile_b32(n, w, ws, a, as, y, ldy, RP, TP, 1);
}
AG_INLINE void tile_iq4_nl(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y,
                           size_t ldy, const int RP, const int TP)
{
    tile_b32(n, w, ws, a, as, y, ldy, RP, TP, 2);
}
AG_INLINE void tile_q4_K(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                         const int RP, const int TP)
{
    tile_sb32(n, w, ws, a, as, y, ldy, RP, TP, 0);
}
AG_INLINE void tile_q5_K(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                         const int RP, const int TP)
{
    tile_sb32(n, w, ws, a, as, y, ldy, RP, TP, 1);
}
AG_INLINE void tile_iq4_xs(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y,
                           size_t ldy, const int RP, const int TP)
{
    tile_sb32(n, w, ws, a, as, y, ldy, RP, TP, 2);
}

I8MM_GEMM(gemm_mm_q8_0, tile_q8_0, gemm_q8_0)
I8MM_GEMM(gemm_mm_q4_0, tile_q4_0, gemm_q4_0)
I8MM_GEMM(gemm_mm_iq4_nl, tile_iq4_nl, gemm_iq4_nl)
I8MM_GEMM(gemm_mm_q4_K, tile_q4_K, gemm_q4_K)
I8MM_GEMM(gemm_mm_q5_K, tile_q5_K, gemm_q5_K)
I8MM_GEMM(gemm_mm_q6_K, tile_q6_K, gemm_q6_K)
I8MM_GEMM(gemm_mm_iq4_xs, tile_iq4_xs, gemm_iq4_xs)

void ag_kernels_setup_i8mm(ag_kernel_level *lv)
{
    /* everything from arm_common.h first (built here with +dotprod), then
     * the SMMLA gemms over the same activation formats */
    arm_fill_level(lv);
    lv->k[AG_TYPE_Q8_0].gemm = gemm_mm_q8_0;
    lv->k[AG_TYPE_Q4_0].gemm = gemm_mm_q4_0;
    lv->k[AG_TYPE_IQ4_NL].gemm = gemm_mm_iq4_nl;
    lv->k[AG_TYPE_Q4_K].gemm = gemm_mm_q4_K;
    lv->k[AG_TYPE_Q5_K].gemm = gemm_mm_q5_K;
    lv->k[AG_TYPE_Q6_K].gemm = gemm_mm_q6_K;
    lv->k[AG_TYPE_IQ4_XS].gemm = gemm_mm_iq4_xs;
}
#else
typedef int ag_kernels_i8mm_unused; /* this file is built for arm64 only */
#endif
