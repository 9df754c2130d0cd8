/* gemm.avx2.c: the "avx2" level (AVX2 + FMA + F16C; Haswell, Zen 1 and later).
 *
 * Integer kernels in the style of ggml's AVX2 paths (own code). Activations
 * are rounded to 8 bits once per matmul, into layouts made for these kernels
 * (kernels.h): q8_0s for the 32-value block types (codes contiguous and
 * 64-byte aligned, f32 scales: no f16 conversion per token and block),
 * q8_Ks for q6_K and iq4_xs, q8_Km for q4_K/q5_K (per-32 sums premultiplied
 * by d, so the mins cost one FMA per token and super-block, and codes in the
 * order the nibble halves come out). The numbers are ggml's (same rounding,
 * same scales), only the storage differs.
 * Weights are unpacked to bytes in registers; vpmaddubsw (u8 x s8 -> pairs
 * of s16) + vpmaddwd (s16 x s16 -> s32) form the sums; K-quant sub-block
 * scales are applied in int16, block scales in f32. Signed x signed
 * products use the abs/sign trick (|w| as u8, a * sign(w) as s8). No pair
 * sum can saturate: the largest is 2 x 128 x 127 = 32512 (q8_0 with a -128
 * weight).
 *
 * Each kernel is written once as a "row" function over NT tokens (NT <= 4,
 * a compile-time constant after inlining) returning one vector per token:
 * the weight block is unpacked once and reused by every token of the tile
 * (what makes prefill faster than T decodes), and X86_TILED_GEMM does the
 * horizontal sums four at a time. f32/f16/bf16 weights keep f32 activations
 * (F16C / shifts plus FMA) so their results stay within f32 rounding of the
 * reference. Types without an integer kernel here (q2_K, q3_K, q4_1, q5_0,
 * q5_1, q8_1) dequantize with the reference to_float and use FMA
 * (x86_gemm_generic): correct everywhere, fast nowhere. */
#include "kernels/x86/x86_common.h"

/* ---- 32-value block types x q8_0s activations ---- */

AG_INLINE __m256 dot_i8_ps(__m256i aw, __m256i w, __m256i a)
{
    /* aw = |w| (as u8); sum of w * a in 8 int32 lanes, as f32 */
    const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(a, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* block i of a q8_0 (kind 0), q4_0 (1) or iq4_nl (2) row as 32 signed bytes */
AG_INLINE __m256i wblock32(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return load256(((const blk_q8_0 *)w)[i].qs);
    const __m256i q = nibbles32(((const blk_q4_0 *)w)[i].qs);
    if (kind == 1) return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(ag_kvalues_iq4nl)), q);
}

AG_INLINE float wscale32(const uint8_t *w, int64_t i, const int kind)
{
    return kind == 0 ? x86_f16(((const blk_q8_0 *)w)[i].d) : x86_f16(((const blk_q4_0 *)w)[i].d);
}

AG_INLINE void row_b32(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out,
                       const int kind)
{
    const int64_t nb = n / 32;
    __m256 acc[4], acc2[4];
    for (int t = 0; t < NT; t++) acc[t] = acc2[t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i w0 = wblock32(w, i, kind), w1 = wblock32(w, i + 1, kind);
        const __m256i aw0 = _mm256_sign_epi8(w0, w0), aw1 = _mm256_sign_epi8(w1, w1);
        const float d0 = wscale32(w, i, kind), d1 = wscale32(w, i + 1, kind);
        for (int t = 0; t < NT; t++) {
            const uint8_t *at = a + (size_t)t * as;
            const float *da = (const float *)(at + n) + i;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * da[0]), dot_i8_ps(aw0, w0, load256(at + 32 * i)), acc[t]);
            acc2[t] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * da[1]), dot_i8_ps(aw1, w1, load256(at + 32 * i + 32)), acc2[t]);
        }
    }
    for (; i < nb; i++) {
        const __m256i w0 = wblock32(w, i, kind), aw0 = _mm256_sign_epi8(w0, w0);
        const float d0 = wscale32(w, i, kind);
        for (int t = 0; t < NT; t++) {
            const uint8_t *at = a + (size_t)t * as;
            const float da = ((const float *)(at + n))[i];
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * da), dot_i8_ps(aw0, w0, load256(at + 32 * i)), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = _mm256_add_ps(acc[t], acc2[t]);
}
AG_INLINE void row_q8_0(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_b32(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_q4_0(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_b32(n, w, a, as, NT, out, 1);
}
AG_INLINE void row_iq4_nl(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_b32(n, w, a, as, NT, out, 2);
}
X86_TILED_GEMM(gemm_q8_0, row_q8_0, __m256, x86_reduce4_256)
X86_TILED_GEMM(gemm_q4_0, row_q4_0, __m256, x86_reduce4_256)
X86_TILED_GEMM(gemm_iq4_nl, row_iq4_nl, __m256, x86_reduce4_256)

/* ---- K-quants x q8_K ---- */

/* shuffle masks that broadcast int16 lane j of each 128-bit half */
static const uint8_t bcast16[8][32] __attribute__((aligned(32))) = {
#define B2(j) (uint8_t)(2 * (j)), (uint8_t)(2 * (j) + 1)
#define B16(j) B2(j), B2(j), B2(j), B2(j), B2(j), B2(j), B2(j), B2(j)
    {B16(0), B16(0)}, {B16(1), B16(1)}, {B16(2), B16(2)}, {B16(3), B16(3)},
    {B16(4), B16(4)}, {B16(5), B16(5)}, {B16(6), B16(6)}, {B16(7), B16(7)},
};
/* low half broadcasts lane 2j, high half lane 2j + 1 */
static const uint8_t bcast16_pair[4][32] __attribute__((aligned(32))) = {
    {B16(0), B16(1)}, {B16(2), B16(3)}, {B16(4), B16(5)}, {B16(6), B16(7)},
#undef B16
#undef B2
};

/* q4_K (q5 = 0) and q5_K (q5 = 1) x q8_Km: sum_j sc_j (q . a)_j in int32 via
 * vpmaddubsw + vpmaddwd, the mins as one FMA of dmin * m[8] with the
 * activation's 8 precomputed d * sums. */
AG_INLINE void row_q45_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out,
                         const int q5)
{
    const int64_t nb = n / 256;
    const size_t bsz = q5 ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m16 = _mm256_set1_epi8(16);
    __m256 acc[4], accm[4];
    for (int t = 0; t < NT; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * bsz;
        const uint8_t *qs = q5 ? ((const blk_q5_K *)b)->qs : ((const blk_q4_K *)b)->qs;
        const __m128i sm = q4k_scales(b + 4);
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const __m256 dv = _mm256_set1_ps(x86_f16(b));
        const __m256 mins = _mm256_mul_ps(_mm256_set1_ps(x86_f16(b + 2)),
                                          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        __m256i qh = _mm256_setzero_si256();
        if (q5) qh = load256(((const blk_q5_K *)b)->qh);
        __m256i sumi[4];
        for (int t = 0; t < NT; t++) sumi[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = load256(qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (q5) {
                /* bit 2c of qh[l] -> +16 on the low nibble, bit 2c+1 on the high */
                const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * c))), b1 = _mm256_set1_epi8((char)(1 << (2 * c + 1)));
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), m16));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), m16));
            }
            const __m256i s_lo = _mm256_shuffle_epi8(scales, load256(bcast16[2 * c]));
            const __m256i s_hi = _mm256_shuffle_epi8(scales, load256(bcast16[2 * c + 1]));
            for (int t = 0; t < NT; t++) {
                /* q8_Km order: groups 2c, 2c+1 sit at positions pos(2c), pos(2c+1) */
                const uint8_t *at = a + (size_t)t * as + 256 * i + 128 * (c >> 1) + 32 * (c & 1);
                const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(at)), s_lo);
                const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(at + 64)), s_hi);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        for (int t = 0; t < NT; t++) {
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            const __m256 s = _mm256_mul_ps(dv, _mm256_broadcast_ss((const float *)meta));
            acc[t] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            accm[t] = _mm256_fmadd_ps(mins, _mm256_loadu_ps((const float *)(meta + 4)), accm[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = _mm256_sub_ps(acc[t], accm[t]);
}
AG_INLINE void row_q4_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_q45_K(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_q5_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_q45_K(n, w, a, as, NT, out, 1);
}
X86_TILED_GEMM(gemm_q4_K, row_q4_K, __m256, x86_reduce4_256)
X86_TILED_GEMM(gemm_q5_K, row_q5_K, __m256, x86_reduce4_256)

/* q6_K x q8_Ks */
AG_INLINE void row_q6_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    const int64_t nb = n / 256;
    const blk_q6_K *bw = (const blk_q6_K *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i S = _mm256_cvtepi8_epi16(load128(bw[i].scales)); /* 16 x int16 */
        const __m256 dv = _mm256_set1_ps(x86_f16(bw[i].d));
        __m256i sumi[4];
        for (int t = 0; t < NT; t++) {
            /* the -32 offset: 32 * sum_j sc_j * bsum_j */
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            sumi[t] = _mm256_slli_epi32(_mm256_madd_epi16(S, load256(meta + 4)), 5);
            sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), sumi[t]);
        }
        for (int k = 0; k < 2; k++) {
            const __m256i ql0 = load256(bw[i].ql + 64 * k), ql1 = load256(bw[i].ql + 64 * k + 32);
            const __m256i qh = load256(bw[i].qh + 32 * k);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            const __m256i Sk = k ? _mm256_permute2x128_si256(S, S, 0x11) : _mm256_permute2x128_si256(S, S, 0x00);
            for (int j = 0; j < 4; j++) {
                const __m256i sj = _mm256_shuffle_epi8(Sk, load256(bcast16_pair[j]));
                for (int t = 0; t < NT; t++) {
                    const uint8_t *at = a + (size_t)t * as + 256 * i;
                    const __m256i p = _mm256_maddubs_epi16(q[j], load256(at + 128 * k + 32 * j));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, sj));
                }
            }
        }
        for (int t = 0; t < NT; t++) {
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            const __m256 s = _mm256_mul_ps(dv, _mm256_broadcast_ss((const float *)meta));
            acc[t] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = acc[t];
}
X86_TILED_GEMM(gemm_q6_K, row_q6_K, __m256, x86_reduce4_256)

AG_INLINE void row_iq4_xs(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    const int64_t nb = n / 256;
    const blk_iq4_xs *bw = (const blk_iq4_xs *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i kv = _mm256_broadcastsi128_si256(load128(ag_kvalues_iq4nl));
    __m256 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i scales = _mm256_broadcastsi128_si256(iq4xs_scales(&bw[i]));
        const float d = x86_f16(bw[i].d);
        __m256i sumi[4];
        for (int t = 0; t < NT; t++) sumi[t] = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            /* sub-blocks 2p (bytes 0..15) and 2p+1 (16..31), each q4_0-ordered */
            const __m256i x = load256(bw[i].qs + 32 * p);
            const __m256i lo = _mm256_and_si256(x, m4), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
            const __m256i w0 = _mm256_shuffle_epi8(kv, _mm256_permute2x128_si256(lo, hi, 0x20));
            const __m256i w1 = _mm256_shuffle_epi8(kv, _mm256_permute2x128_si256(lo, hi, 0x31));
            const __m256i aw0 = _mm256_sign_epi8(w0, w0), aw1 = _mm256_sign_epi8(w1, w1);
            const __m256i s0 = _mm256_shuffle_epi8(scales, load256(bcast16[2 * p]));
            const __m256i s1 = _mm256_shuffle_epi8(scales, load256(bcast16[2 * p + 1]));
            for (int t = 0; t < NT; t++) {
                const uint8_t *at = a + (size_t)t * as + 256 * i;
                const __m256i a0 = load256(at + 64 * p), a1 = load256(at + 64 * p + 32);
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw0, _mm256_sign_epi8(a0, w0)), s0);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw1, _mm256_sign_epi8(a1, w1)), s1);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
            }
        }
        for (int t = 0; t < NT; t++) {
            const float da = x86_f32(a + (size_t)t * as + n + 36 * i);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = acc[t];
}
X86_TILED_GEMM(gemm_iq4_xs, row_iq4_xs, __m256, x86_reduce4_256)

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

AG_INLINE __m256 load_w8(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return _mm256_loadu_ps((const float *)w + i);
    if (kind == 1) return _mm256_cvtph_ps(load128(w + 2 * i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(w + 2 * i)), 16));
}

AG_INLINE float load_w1(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return x86_f32(w + 4 * i);
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    return kind == 1 ? _cvtsh_ss(h) : ag_bf16_to_f32(h);
}

AG_INLINE void row_float(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out,
                         const int kind)
{
    __m256 acc[4][2];
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = load_w8(w, i, kind), w1 = load_w8(w, i + 8, kind);
        for (int t = 0; t < NT; t++) {
            const float *x = (const float *)(a + (size_t)t * as);
            acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc[t][1]);
        }
    }
    float tail[4] = {0, 0, 0, 0};
    for (; i < n; i++) {
        const float wv = load_w1(w, i, kind);
        for (int t = 0; t < NT; t++) tail[t] += wv * ((const float *)(a + (size_t)t * as))[i];
    }
    for (int t = 0; t < NT; t++)
        out[t] = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_castps128_ps256(_mm_set_ss(tail[t])));
}
AG_INLINE void row_f32(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_float(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_f16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_float(n, w, a, as, NT, out, 1);
}
AG_INLINE void row_bf16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m256 *out)
{
    row_float(n, w, a, as, NT, out, 2);
}
X86_TILED_GEMM(gemm_f32, row_f32, __m256, x86_reduce4_256)
X86_TILED_GEMM(gemm_f16, row_f16, __m256, x86_reduce4_256)
X86_TILED_GEMM(gemm_bf16, row_bf16, __m256, x86_reduce4_256)

static void axpby_f32_avx2(float *y, const float *x, float a, float b, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_mul_ps(vb, _mm256_loadu_ps(y + i))));
    for (; i < n; i++) y[i] = b * y[i] + a * x[i];
}

static float dot_f32_avx2(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float r = 0;
    for (; i < n; i++) r += a[i] * b[i];
    return hsum256(_mm256_add_ps(s0, s1)) + r;
}

/* The fused DeltaNet step (kernels.h), as delta_step_avx512 in gemm.avx512.c
 * with 8-wide vectors: four rows' dots with k, one reduce4, update + store +
 * dot with q while the rows are in L1, a second reduce4. */
static void delta_step_avx2(float *S, int64_t nr, int64_t n, const float *k, const float *q, const float *v,
                            float decay, float beta, float *o)
{
    const __m256 vdec = _mm256_set1_ps(decay);
    const int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < nr; j += 4) {
        const int m = nr - j < 4 ? (int)(nr - j) : 4;
        float *R[4];
        for (int r = 0; r < 4; r++) R[r] = S + (size_t)(j + (r < m ? r : 0)) * (size_t)n;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float tk[4] = {0, 0, 0, 0}, vj[4] = {0, 0, 0, 0}, dk[4], oo[4];
        for (int64_t i = 0; i < n8; i += 8) {
            const __m256 kv = _mm256_loadu_ps(k + i);
            for (int r = 0; r < 4; r++) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(R[r] + i), kv, acc[r]);
        }
        for (int64_t i = n8; i < n; i++)
            for (int r = 0; r < 4; r++) tk[r] += R[r][i] * k[i];
        for (int r = 0; r < m; r++) vj[r] = v[j + r];
        const __m128 rk = _mm_add_ps(x86_reduce4_256(acc), _mm_loadu_ps(tk));
        _mm_storeu_ps(dk, _mm_mul_ps(_mm_set1_ps(beta),
                                     _mm_sub_ps(_mm_loadu_ps(vj), _mm_mul_ps(_mm_set1_ps(decay), rk))));
        __m256 accq[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float tq[4] = {0, 0, 0, 0};
        for (int r = 0; r < m; r++) {
            const __m256 d = _mm256_set1_ps(dk[r]);
            for (int64_t i = 0; i < n8; i += 8) {
                const __m256 x = _mm256_fmadd_ps(d, _mm256_loadu_ps(k + i), _mm256_mul_ps(vdec, _mm256_loadu_ps(R[r] + i)));
                _mm256_storeu_ps(R[r] + i, x);
                accq[r] = _mm256_fmadd_ps(x, _mm256_loadu_ps(q + i), accq[r]);
            }
            for (int64_t i = n8; i < n; i++) {
                R[r][i] = decay * R[r][i] + dk[r] * k[i];
                tq[r] += R[r][i] * q[i];
            }
        }
        _mm_storeu_ps(oo, _mm_add_ps(x86_reduce4_256(accq), _mm_loadu_ps(tq)));
        for (int r = 0; r < m; r++) o[j + r] = oo[r];
    }
}

/* ---- the generic rest ---- */

X86_GENERIC(AG_TYPE_Q4_1, q4_1)
X86_GENERIC(AG_TYPE_Q5_0, q5_0)
X86_GENERIC(AG_TYPE_Q5_1, q5_1)
X86_GENERIC(AG_TYPE_Q8_1, q8_1)
X86_GENERIC(AG_TYPE_Q2_K, q2_K)
X86_GENERIC(AG_TYPE_Q3_K, q3_K)
X86_GENERIC(AG_TYPE_Q8_K, q8_K)

static void quant_q8_0s(const float *x, void *dst, int64_t n) { x86_quant_q8_0s(x, dst, n); }
static void quant_q8_Ks(const float *x, void *dst, int64_t n) { x86_quant_q8_Kx(x, dst, n, 1); }
static void quant_q8_Km(const float *x, void *dst, int64_t n) { x86_quant_q8_Kx(x, dst, n, 2); }

void ag_kernels_setup_avx2(ag_kernel_level *lv)
{
    const ag_kernel f32 = {NULL, 1, 4, NULL, AG_ACT_F32, NULL};
    const ag_kernel q80 = {quant_q8_0s, 32, 36, NULL, AG_ACT_Q8_0S, NULL};
    const ag_kernel q8ks = {quant_q8_Ks, 256, 292, NULL, AG_ACT_Q8_KS, NULL};
    const ag_kernel q8km = {quant_q8_Km, 256, 292, NULL, AG_ACT_Q8_KM, NULL};
#define SET(id, base, fn) lv->k[id] = (ag_kernel){base.quant, base.act_block, base.act_bytes, fn, base.act_fmt, lv->k[id].to_f32}
    SET(AG_TYPE_F32, f32, gemm_f32);
    SET(AG_TYPE_F16, f32, gemm_f16);
    SET(AG_TYPE_BF16, f32, gemm_bf16);
    SET(AG_TYPE_Q8_0, q80, gemm_q8_0);
    SET(AG_TYPE_Q4_0, q80, gemm_q4_0);
    SET(AG_TYPE_IQ4_NL, q80, gemm_iq4_nl);
    SET(AG_TYPE_Q4_K, q8km, gemm_q4_K);
    SET(AG_TYPE_Q5_K, q8km, gemm_q5_K);
    SET(AG_TYPE_Q6_K, q8ks, gemm_q6_K);
    SET(AG_TYPE_IQ4_XS, q8ks, gemm_iq4_xs);
    SET(AG_TYPE_Q4_1, f32, gemm_generic_q4_1);
    SET(AG_TYPE_Q5_0, f32, gemm_generic_q5_0);
    SET(AG_TYPE_Q5_1, f32, gemm_generic_q5_1);
    SET(AG_TYPE_Q8_1, f32, gemm_generic_q8_1);
    SET(AG_TYPE_Q2_K, f32, gemm_generic_q2_K);
    SET(AG_TYPE_Q3_K, f32, gemm_generic_q3_K);
    SET(AG_TYPE_Q8_K, f32, gemm_generic_q8_K);
#undef SET
    lv->dot_f32 = dot_f32_avx2;
    lv->axpby_f32 = axpby_f32_avx2;
    lv->delta_step = delta_step_avx2;
    ag_kernels_setup_attn_avx2(lv);
}
