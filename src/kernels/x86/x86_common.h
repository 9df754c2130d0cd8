/* x86_common.h: helpers shared by the x86 kernel files (*.avx2.c,
 * *.avx512.c). Included only by files compiled with at least
 * -mavx2 -mfma -mf16c, so everything here may use AVX2/FMA/F16C; compiled
 * once per including file (static inline), with that file's flags.
 *
 * Also: the activation quantizers (q8_0s, q8_K / q8_Ks / q8_Km; the avx512
 * level reuses the avx2 ones, they are a negligible share of a matmul), the
 * generic dequantize-and-FMA tile for types without an integer kernel, and
 * X86_TILED_GEMM, the loop nest every integer kernel runs in. */
#ifndef AG_KERNELS_X86_COMMON_H
#define AG_KERNELS_X86_COMMON_H

#include "kernels/kernels.h"
#include "quant/blocks.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* round to nearest even whatever MXCSR says (an immediate: a macro, not a variable) */
#define X86_RND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* f16 field of a block (any alignment) to f32, via F16C. */
AG_INLINE float x86_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AG_INLINE float x86_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

AG_INLINE float hsum128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AG_INLINE float hsum256(__m256 v)
{
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

AG_INLINE __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
AG_INLINE __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 bytes of packed nibbles (q4_0 order) to 32 bytes in value order: low
 * nibbles (values 0..15) then high nibbles (values 16..31). */
AG_INLINE __m256i nibbles32(const uint8_t *qs)
{
    const __m128i x = load128(qs), m4 = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a q4_K/q5_K
 * super-block (get_scale_min_k4 order) from its 12 packed bytes at s. Reads
 * 16 bytes: the 4 after the scales are the block's own qh/qs. Two byte
 * shuffles line the sources up: low 6 bits of bytes 0..7 for j < 4, nibbles
 * of bytes 8..11 plus the top 2 bits of bytes 0..7 for j >= 4. */
AG_INLINE __m128i q4k_scales(const uint8_t *s)
{
    const __m128i v = load128(s);
    const __m128i A = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i B = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i hiA = _mm_and_si128(_mm_srli_epi16(A, 4), _mm_set1_epi8(0x0f));
    const __m128i X = _mm_blend_epi32(A, hiA, 0x8); /* mins 4..7: high nibbles */
    const __m128i lo = _mm_and_si128(X, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi16(B, 2), _mm_set1_epi8(0x30)));
}

/* The 8 signed scales (ls - 32) of an iq4_xs super-block as int16: low 4
 * bits are the nibbles of scales_l in order, high 2 bits are bit pairs of
 * scales_h, moved to the top of each lane by a multiply and shifted down. */
AG_INLINE __m128i iq4xs_scales(const blk_iq4_xs *b)
{
    uint32_t l;
    memcpy(&l, b->scales_l, 4);
    const __m128i x = _mm_cvtsi32_si128((int)l), m4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(x, m4), _mm_and_si128(_mm_srli_epi16(x, 4), m4)));
    const __m128i sh = _mm_set1_epi16((short)(b->scales_h[0] | (b->scales_h[1] << 8)));
    const __m128i hi = _mm_srli_epi16(_mm_mullo_epi16(sh, _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1)), 14);
    return _mm_sub_epi16(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi16(32));
}

/* q8_0s activations (kernels.h), bit-identical to ag_act_quant_q8_0s_ref. */
static inline void x86_quant_q8_0s(const float *x, void *dst, int64_t n)
{
    int8_t *q = dst;
    float *ds = (float *)((uint8_t *)dst + n);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        if (!(amax <= 3.0e38f)) amax = 0.0f; /* NaN/inf: an all-zero block */
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        ds[i] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)); /* ggml's f16 scale, kept as f32 */
        const __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), X86_RND));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), X86_RND));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), X86_RND));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), X86_RND));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, perm);
        _mm256_storeu_si256((__m256i *)(q + 32 * i), p);
    }
}

/* q8_K activations in ggml's blocks (mode 0) or the split q8_Ks (1) / q8_Km
 * (2) layouts of kernels.h; bit-identical to the portable quantizers. */
AG_INLINE void x86_quant_q8_Kx(const float *x, void *dst, int64_t n, const int mode)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        int8_t *qs;
        uint8_t *dp, *sums;
        if (mode == 0) {
            blk_q8_K *b = (blk_q8_K *)dst + i;
            qs = b->qs;
            dp = b->d;
            sums = b->bsums;
        } else {
            qs = (int8_t *)dst + 256 * i;
            dp = (uint8_t *)dst + n + 36 * i;
            sums = dp + 4;
        }
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (!(amax > 0.0f) || !(amax <= 3.0e38f)) {
            memset(qs, 0, 256);
            memset(dp, 0, 4);
            memset(sums, 0, 32);
            continue;
        }
        /* the first value of largest magnitude decides the sign, as in the reference */
        float max = amax;
        const __m256 va = _mm256_set1_ps(amax);
        for (int k = 0; k < 32; k++) {
            int msk = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), va, _CMP_EQ_OQ));
            if (msk) { max = x[8 * k + __builtin_ctz((unsigned)msk)]; break; }
        }
        const float is = -127.0f / max, d = 1.0f / is;
        memcpy(dp, &d, 4);
        const __m256 mul = _mm256_set1_ps(is);
        for (int k = 0; k < 8; k++) {
            const float *xs = x + 32 * k;
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xs), mul), X86_RND));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + 8), mul), X86_RND));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + 16), mul), X86_RND));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + 24), mul), X86_RND));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, perm);
            /* |values| <= 127: the packs never saturate; q8_Km stores the
             * 32-value groups of each half in the order 0, 2, 1, 3 */
            const int pos = mode == 2 ? (k & 4) | ((k & 1) << 1) | ((k & 2) >> 1) : k;
            _mm256_storeu_si256((__m256i *)(qs + 32 * pos), p);
            /* sums of 16: pairs (maddubs with 1), quads (madd), then two hadds */
            __m256i sm = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, p), ones16);
            sm = _mm256_hadd_epi32(sm, sm);
            sm = _mm256_hadd_epi32(sm, sm);
            const int s0 = _mm256_extract_epi32(sm, 0), s1 = _mm256_extract_epi32(sm, 4);
            if (mode == 2) {
                const float f = d * (float)(s0 + s1);
                memcpy(sums + 4 * k, &f, 4);
            } else {
                const int16_t h0 = (int16_t)s0, h1 = (int16_t)s1;
                memcpy(sums + 4 * k, &h0, 2);
                memcpy(sums + 4 * k + 2, &h1, 2);
            }
        }
    }
}

/* Generic f32-activation tile for types without an integer kernel: dequantize
 * a piece of the weight row (one block or 256 values) with the reference
 * to_float, then FMA it against every token. */
AG_INLINE void x86_gemm_generic(const ag_type_traits *tt, int64_t n, const void *w, size_t ws, const void *a,
                                size_t as, float *y, size_t ldy, int64_t nr, int64_t nt)
{
    const int64_t piece = tt->block > 1 ? tt->block : 256;
    float buf[256] __attribute__((aligned(32)));
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * ws;
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {
            const int tn = nt - t0 < 4 ? (int)(nt - t0) : 4;
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            float tail[4] = {0, 0, 0, 0};
            for (int64_t i0 = 0; i0 < n; i0 += piece) {
                const int64_t len = n - i0 < piece ? n - i0 : piece;
                tt->to_float(row + (size_t)(i0 / tt->block) * tt->bytes, buf, len);
                for (int t = 0; t < tn; t++) {
                    const float *x = (const float *)((const uint8_t *)a + (size_t)(t0 + t) * as) + i0;
                    int64_t i = 0;
                    for (; i + 8 <= len; i += 8)
                        acc[t] = _mm256_fmadd_ps(_mm256_load_ps(buf + i), _mm256_loadu_ps(x + i), acc[t]);
                    for (; i < len; i++) tail[t] += buf[i] * x[i];
                }
            }
            for (int t = 0; t < tn; t++) y[(size_t)(t0 + t) * ldy + (size_t)r] = hsum256(acc[t]) + tail[t];
        }
    }
}

#define X86_GENERIC(id, nm)                                                                                   \
    static void gemm_generic_##nm(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,    \
                                  size_t ldy, int64_t nr, int64_t nt)                                         \
    {                                                                                                         \
        x86_gemm_generic(ag_type_traits_of(id), n, w, ws, a, as, y, ldy, nr, nt);                            \
    }

/* Sums of 4 vectors: [sum(v[0]), sum(v[1]), sum(v[2]), sum(v[3])]. */
AG_INLINE __m128 x86_reduce4_256(const __m256 *v)
{
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* Calls row(n, w_row, a, as, NT, out) for every row and token tile of 4 (NT
 * a compile-time constant so the per-token accumulators stay in registers);
 * out[t] is a vector (VT) whose lanes add up to the result. Loop order:
 * blocks of X86_RB rows, then token tiles, then the rows of the block, so a
 * tile's activations stay in L1 while the block's rows pass over them, and
 * the block's rows stay in L1/L2 while the tiles pass (rows outermost would
 * stream all nt tokens' activations from L2 once per row: ~100 GB/s of L2
 * traffic at n = 3584). Horizontal sums are done four at a time (reduce4:
 * four rows of one token in decode, four tokens of one row in prefill):
 * with ~1000-value rows a sum per row would cost as much as 15% of decode. */
#define X86_RB 8

/* Decode (nt == 1) prefetches the weight rows X86_PF_DIST bytes ahead of the
 * row being read, with the non-temporal hint, up to the end of this call's
 * rows (the next block of rows may go to another thread), topping the
 * window up before every row, and requesting its first X86_PF_DIST bytes at
 * the start (a call is one chunk of a few hundred rows, thousands per token,
 * each of which otherwise began with a cold ramp). Set per level by defining
 * X86_PF_DIST before including this file; 0 = none. On Zen 5 (the avx512
 * level), matrix-vector products over 200 MiB of weights as a share of a
 * plain 2-thread read loop's bandwidth (medians of 20 alternating pairs):
 *   no software prefetch                 q6_K 0.88-0.94, q4_K 0.82-0.94
 *   6 KiB ahead, topped up per 4 rows    q6_K 0.76-0.93, q4_K 0.84-0.92
 *   4 KiB ahead, topped up per row       q6_K 0.94-1.06, q4_K 1.04-1.09
 * (q6_K with 6144- and 2048-value rows, q4_K 2048). Per 4 rows, a 6144-value
 * q6_K row group issued ~300 prefetches in one burst, more than the core
 * keeps in flight; per row the bursts are a quarter of that. In decode
 * (airgap bench, % of the read bandwidth): 2B Q4_K_M 81-84% -> 92-96%, 0.8B
 * Q4_K_M 90% -> 96%. The hint matters too: T1/T2 (into L2) at 4-16 KiB gave
 * 0.66-0.80, and a T0 hint lost most of the gain (the read-once weights
 * then evict what is reused from L2/L3, e.g. the DeltaNet state). */
#ifndef X86_PF_DIST
#define X86_PF_DIST 0
#endif
/* prefetches the lines of w + [from, min(to, end)); returns where it stopped */
AG_INLINE size_t x86_prefetch_nta(const uint8_t *w, size_t from, size_t to, size_t end)
{
    if (to > end) to = end;
    for (; from < to; from += 64) _mm_prefetch((const char *)(w + from), _MM_HINT_NTA);
    return from;
}
#define X86_TILED_GEMM(name, row, VT, reduce4)                                                               \
    static void name(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,     \
                     int64_t nr, int64_t nt)                                                                  \
    {                                                                                                         \
        const uint8_t *W = (const uint8_t *)w, *A = (const uint8_t *)a;                                       \
        VT v[4];                                                                                              \
        float f[4];                                                                                           \
        if (nt == 1) {                                                                                        \
            int64_t r = 0;                                                                                    \
            size_t pf = 0;                                                                                    \
            for (; r + 4 <= nr; r += 4) {                                                                     \
                for (int k = 0; k < 4; k++) {                                                                  \
                    if (X86_PF_DIST) pf = x86_prefetch_nta(W, pf, (size_t)(r + k + 1) * ws + X86_PF_DIST, (size_t)nr * ws); \
                    row(n, W + (size_t)(r + k) * ws, A, as, 1, &v[k]);                                        \
                }                                                                                             \
                _mm_storeu_ps(y + r, reduce4(v));                                                             \
            }                                                                                                 \
            if (r < nr) {                                                                                     \
                const int m = (int)(nr - r);                                                                  \
                for (int k = 0; k < 4; k++)                                                                   \
                    if (k < m) row(n, W + (size_t)(r + k) * ws, A, as, 1, &v[k]);                            \
                    else v[k] = v[0];                                                                         \
                _mm_storeu_ps(f, reduce4(v));                                                                 \
                for (int k = 0; k < m; k++) y[r + k] = f[k];                                                  \
            }                                                                                                 \
            return;                                                                                           \
        }                                                                                                     \
        for (int64_t r0 = 0; r0 < nr; r0 += X86_RB) {                                                         \
            const int64_t r1 = nr - r0 < X86_RB ? nr : r0 + X86_RB;                                           \
            for (int64_t t = 0; t < nt; t += 4) {                                                             \
                const uint8_t *at = A + (size_t)t * as;                                                       \
                const int tn = nt - t < 4 ? (int)(nt - t) : 4;                                                \
                for (int64_t r = r0; r < r1; r++) {                                                           \
                    const uint8_t *wr = W + (size_t)r * ws;                                                   \
                    switch (tn) {                                                                             \
                    case 4: row(n, wr, at, as, 4, v); break;                                                  \
                    case 3: row(n, wr, at, as, 3, v); v[3] = v[0]; break;                                     \
                    case 2: row(n, wr, at, as, 2, v); v[2] = v[3] = v[0]; break;                              \
                    default: row(n, wr, at, as, 1, v); v[1] = v[2] = v[3] = v[0]; break;                      \
                    }                                                                                         \
                    _mm_storeu_ps(f, reduce4(v));                                                             \
                    for (int k = 0; k < tn; k++) y[(size_t)(t + k) * ldy + (size_t)r] = f[k];                 \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

#endif
