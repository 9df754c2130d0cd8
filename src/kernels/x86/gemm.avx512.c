/* gemm.avx512.c: the "avx512" level (AVX-512 F/BW/VL/DQ + VNNI; Ice Lake,
 * Sapphire Rapids, Zen 4 and later).
 *
 * Same structure and activation formats as the avx2 level (gemm.avx2.c; it
 * inherits that level's entries and replaces the hot ones), twice the width:
 *   - q8_0 / q4_0 / iq4_nl (q8_0s activations): two 32-value blocks per zmm;
 *     signed x signed via |w| (u8) and a with w's sign applied through a
 *     byte mask (AVX-512 has no vpsignb), then one vpdpbusd per 64
 *     products; block scales eight at a time (one multiply per token,
 *     spread to the lanes by vpermps).
 *   - q4_K / q5_K (q8_Km): one 64-byte load per 128 values, its low and
 *     high nibbles meet two plain 64-byte activation loads (q8_Km's order);
 *     vpmaddubsw, then vpdpwssd multiplies by the int16 sub-block scales
 *     and accumulates in one instruction.
 *   - q6_K (q8_Ks) / iq4_xs: 64 values per zmm, vpmaddubsw + vpdpwssd the
 *     same way; vpermw spreads the scales.
 *   - f32 / f16 / bf16: 16-wide FMA with f32 activations (vcvtph2ps,
 *     shifts for bf16), so these stay within f32 rounding of the reference.
 * vpdpbusd over a whole super-block with the scales applied afterwards
 * (vpmulld) was rejected: one more instruction per 64 values than
 * vpmaddubsw + vpdpwssd. Decode prefetches the weights 4 KiB ahead with
 * the non-temporal hint, topped up before every row (X86_PF_DIST,
 * x86_common.h: from below 85% to 90-100% of the read bandwidth on Zen 5);
 * a T0 prefetch a few lines ahead had been tried first and was slower.
 * Two vpdpwssd chains per token: one chain's latency, not the ALUs, would
 * otherwise set the decode speed. */
#define X86_PF_DIST 4096 /* decode prefetch distance (x86_common.h) */
#include "kernels/x86/x86_common.h"

AG_INLINE __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

/* x86_reduce4_256 of the four 512-bit vectors folded to 256 bits */
AG_INLINE __m128 x86_reduce4_512(const __m512 *v)
{
    __m256 h[4];
    for (int k = 0; k < 4; k++)
        h[k] = _mm256_add_ps(_mm512_castps512_ps256(v[k]), _mm512_extractf32x8_ps(v[k], 1));
    return x86_reduce4_256(h);
}
AG_INLINE __m512i join256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* ---- 32-value block types x q8_0s ---- */

/* sum of w * a per int32 lane, w given as |w| (u8) and its sign mask */
AG_INLINE __m512i dot_i8(__m512i aw, __mmask64 neg, __m512i a)
{
    const __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sa);
}

/* two q4_0-ordered 16-byte nibble blocks to 64 bytes in value order */
AG_INLINE __m512i nibbles64(const uint8_t *qs0, const uint8_t *qs1)
{
    const __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(qs0)), load128(qs1), 1);
    const __m512i idx = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    const __m512i sh = _mm512_setr_epi64(0, 0, 0x0004000400040004ll, 0x0004000400040004ll, 0, 0,
                                         0x0004000400040004ll, 0x0004000400040004ll);
    const __m512i z = _mm512_permutexvar_epi64(idx, _mm512_castsi256_si512(x));
    return _mm512_and_si512(_mm512_srlv_epi16(z, sh), _mm512_set1_epi8(0x0f));
}

/* blocks i, i+1 of a q8_0 (kind 0), q4_0 (1) or iq4_nl (2) row as 64 signed bytes */
AG_INLINE __m512i wblock64(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) {
        const blk_q8_0 *b = (const blk_q8_0 *)w;
        return join256(load256(b[i].qs), load256(b[i + 1].qs));
    }
    const blk_q4_0 *b = (const blk_q4_0 *)w;
    const __m512i q = nibbles64(b[i].qs, b[i + 1].qs);
    if (kind == 1) return _mm512_sub_epi8(q, _mm512_set1_epi8(8));
    return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(load128(ag_kvalues_iq4nl)), q);
}

/* block i alone, 32 signed bytes */
AG_INLINE __m256i wblock32(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return load256(((const blk_q8_0 *)w)[i].qs);
    const __m256i q = nibbles32(((const blk_q4_0 *)w)[i].qs);
    if (kind == 1) return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(ag_kvalues_iq4nl)), q);
}

/* the f16 scales of blocks i..i+7 (the first field of each block) as f32 */
AG_INLINE __m256 wscales8(const uint8_t *w, int64_t i, const int kind)
{
    const size_t bs = kind == 0 ? sizeof(blk_q8_0) : sizeof(blk_q4_0);
    const uint8_t *p = w + (size_t)i * bs;
    __m128i v = _mm_cvtsi32_si128(rd_u16(p));
    v = _mm_insert_epi16(v, rd_u16(p + bs), 1);
    v = _mm_insert_epi16(v, rd_u16(p + 2 * bs), 2);
    v = _mm_insert_epi16(v, rd_u16(p + 3 * bs), 3);
    v = _mm_insert_epi16(v, rd_u16(p + 4 * bs), 4);
    v = _mm_insert_epi16(v, rd_u16(p + 5 * bs), 5);
    v = _mm_insert_epi16(v, rd_u16(p + 6 * bs), 6);
    v = _mm_insert_epi16(v, rd_u16(p + 7 * bs), 7);
    return _mm256_cvtph_ps(v);
}

/* Eight blocks per step: their eight weight scales times the token's eight
 * activation scales in one multiply, spread to the blocks' lanes by vpermps;
 * two blocks per vpdpbusd. */
AG_INLINE void row_b32(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out,
                       const int kind)
{
    const int64_t nb = n / 32;
    const __m512i e[4] = {
        _mm512_inserti64x4(_mm512_set1_epi32(0), _mm256_set1_epi32(1), 1),
        _mm512_inserti64x4(_mm512_set1_epi32(2), _mm256_set1_epi32(3), 1),
        _mm512_inserti64x4(_mm512_set1_epi32(4), _mm256_set1_epi32(5), 1),
        _mm512_inserti64x4(_mm512_set1_epi32(6), _mm256_set1_epi32(7), 1),
    };
    __m512 acc[4][2];
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        const __m256 wd = wscales8(w, i, kind);
        __m512i aq[4];
        __mmask64 neg[4];
        for (int k = 0; k < 4; k++) {
            const __m512i q = wblock64(w, i + 2 * k, kind);
            aq[k] = _mm512_abs_epi8(q);
            neg[k] = _mm512_movepi8_mask(q);
        }
        for (int t = 0; t < NT; t++) {
            const uint8_t *at = a + (size_t)t * as;
            const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(wd, _mm256_loadu_ps((const float *)(at + n) + i)));
            for (int k = 0; k < 4; k++) {
                const __m512i dot = dot_i8(aq[k], neg[k], load512(at + 32 * (i + 2 * k)));
                acc[t][k & 1] =
                    _mm512_fmadd_ps(_mm512_permutexvar_ps(e[k], s), _mm512_cvtepi32_ps(dot), acc[t][k & 1]);
            }
        }
    }
    float tail[4] = {0, 0, 0, 0};
    for (; i < nb; i++) {
        const __m256i q = wblock32(w, i, kind), aq = _mm256_sign_epi8(q, q);
        const float d = x86_f16(w + (size_t)i * (kind == 0 ? sizeof(blk_q8_0) : sizeof(blk_q4_0)));
        for (int t = 0; t < NT; t++) {
            const uint8_t *at = a + (size_t)t * as;
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aq, _mm256_sign_epi8(load256(at + 32 * i), q));
            tail[t] += d * ((const float *)(at + n))[i] * hsum256(_mm256_cvtepi32_ps(p));
        }
    }
    for (int t = 0; t < NT; t++)
        out[t] = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_zextps128_ps512(_mm_set_ss(tail[t])));
}
AG_INLINE void row_q8_0(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_b32(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_q4_0(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_b32(n, w, a, as, NT, out, 1);
}
AG_INLINE void row_iq4_nl(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_b32(n, w, a, as, NT, out, 2);
}
X86_TILED_GEMM(gemm_q8_0, row_q8_0, __m512, x86_reduce4_512)
X86_TILED_GEMM(gemm_q4_0, row_q4_0, __m512, x86_reduce4_512)
X86_TILED_GEMM(gemm_iq4_nl, row_iq4_nl, __m512, x86_reduce4_512)

/* ---- K-quants x q8_K ---- */

/* int16 lane pattern: 16 x word 2c, then 16 x word 2c+1 (sub-block pair c) */
AG_INLINE __m512i pair_idx(int c)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(2 * c))),
                              _mm256_set1_epi16((short)(2 * c + 1)), 1);
}
/* int16 lane pattern: 8 x word 4g, 8 x 4g+1, 8 x 4g+2, 8 x 4g+3 */
AG_INLINE __m512i quad_idx(int g)
{
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(4 * g + 1)), _mm_set1_epi16((short)(4 * g)))),
        _mm256_set_m128i(_mm_set1_epi16((short)(4 * g + 3)), _mm_set1_epi16((short)(4 * g + 2))), 1);
}

/* vpshufb pattern picking int16 word j0 in 128-bit lanes 0, 1 and word j1 in
 * lanes 2, 3 (from a vector with the same 8 words in every lane) */
AG_INLINE __m512i sub_idx(int j0, int j1)
{
    const __m128i w0 = _mm_set1_epi16((short)((2 * j0) | ((2 * j0 + 1) << 8)));
    const __m128i w1 = _mm_set1_epi16((short)((2 * j1) | ((2 * j1 + 1) << 8)));
    return _mm512_inserti64x4(_mm512_broadcast_i32x4(w0), _mm256_broadcastsi128_si256(w1), 1);
}

/* q4_K (q5 = 0) and q5_K (q5 = 1) x q8_Km. Per half h of a super-block, one
 * 64-byte load of nibbles: low nibbles are sub-blocks 4h and 4h+2, high ones
 * 4h+1 and 4h+3, which is how q8_Km stores the activations. The int16 scales
 * sit in every 128-bit lane, so vpshufb spreads them. */
AG_INLINE void row_q45_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out,
                         const int q5)
{
    const int64_t nb = n / 256;
    const size_t bsz = q5 ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[4];
    __m256 accm[4];
    for (int t = 0; t < NT; t++) { acc[t] = _mm512_setzero_ps(); accm[t] = _mm256_setzero_ps(); }
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * bsz;
        const uint8_t *qs = q5 ? ((const blk_q5_K *)b)->qs : ((const blk_q4_K *)b)->qs;
        const __m128i sm = q4k_scales(b + 4);
        const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));
        const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)rd_u32(b))); /* d, dmin */
        const __m512 dv = _mm512_broadcastss_ps(dd);
        const __m256 mins = _mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)),
                                          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        __m512i qh = _mm512_setzero_si512();
        if (q5) qh = _mm512_broadcast_i64x4(load256(((const blk_q5_K *)b)->qh));
        __m512i sumi[4][2]; /* two chains per token: vpdpwssd latency */
        for (int t = 0; t < NT; t++) sumi[t][0] = sumi[t][1] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i x = load512(qs + 64 * h);
            __m512i lo = _mm512_and_si512(x, m4), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
            if (q5) {
                /* value 64c + l (+32) gets 16 from bit 2c (2c+1) of qh[l]; c = 2h, 2h+1 */
                const __m512i blo = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * h))),
                                                       _mm256_set1_epi8((char)(1 << (4 * h + 2))), 1);
                const __m512i bhi = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * h + 1))),
                                                       _mm256_set1_epi8((char)(1 << (4 * h + 3))), 1);
                lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh, blo), lo, _mm512_set1_epi8(16));
                hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh, bhi), hi, _mm512_set1_epi8(16));
            }
            const __m512i s_lo = _mm512_shuffle_epi8(sc16, sub_idx(4 * h, 4 * h + 2));
            const __m512i s_hi = _mm512_shuffle_epi8(sc16, sub_idx(4 * h + 1, 4 * h + 3));
            for (int t = 0; t < NT; t++) {
                const uint8_t *at = a + (size_t)t * as + 256 * i + 128 * h;
                sumi[t][0] = _mm512_dpwssd_epi32(sumi[t][0], _mm512_maddubs_epi16(lo, load512(at)), s_lo);
                sumi[t][1] = _mm512_dpwssd_epi32(sumi[t][1], _mm512_maddubs_epi16(hi, load512(at + 64)), s_hi);
            }
        }
        for (int t = 0; t < NT; t++) {
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            const __m512 s = _mm512_mul_ps(dv, _mm512_set1_ps(x86_f32(meta)));
            acc[t] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_add_epi32(sumi[t][0], sumi[t][1])), acc[t]);
            accm[t] = _mm256_fmadd_ps(mins, _mm256_loadu_ps((const float *)(meta + 4)), accm[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = _mm512_sub_ps(acc[t], _mm512_zextps256_ps512(accm[t]));
}
AG_INLINE void row_q4_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_q45_K(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_q5_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_q45_K(n, w, a, as, NT, out, 1);
}
X86_TILED_GEMM(gemm_q4_K, row_q4_K, __m512, x86_reduce4_512)
X86_TILED_GEMM(gemm_q5_K, row_q5_K, __m512, x86_reduce4_512)

/* q6_K x q8_Ks */
AG_INLINE void row_q6_K(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    const int64_t nb = n / 256;
    const blk_q6_K *bw = (const blk_q6_K *)w;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i S = _mm256_cvtepi8_epi16(load128(bw[i].scales));
        const __m512i Sz = _mm512_castsi256_si512(S);
        const __m512 dv = _mm512_set1_ps(x86_f16(bw[i].d));
        __m512i sumi[4][2]; /* two chains per token: vpdpwssd latency */
        for (int t = 0; t < NT; t++) {
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            const __m256i o = _mm256_slli_epi32(_mm256_madd_epi16(S, load256(meta + 4)), 5);
            sumi[t][0] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(o));
            sumi[t][1] = _mm512_setzero_si512();
        }
        for (int k = 0; k < 2; k++) {
            const __m512i L = load512(bw[i].ql + 64 * k);
            const __m512i H = _mm512_broadcast_i64x4(load256(bw[i].qh + 32 * k));
            const __m512i q01 = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(H, shl), m30));
            const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi16(H, shr), m30));
            const __m512i s01 = _mm512_permutexvar_epi16(quad_idx(2 * k), Sz);
            const __m512i s23 = _mm512_permutexvar_epi16(quad_idx(2 * k + 1), Sz);
            for (int t = 0; t < NT; t++) {
                const uint8_t *at = a + (size_t)t * as + 256 * i;
                sumi[t][0] = _mm512_dpwssd_epi32(sumi[t][0], _mm512_maddubs_epi16(q01, load512(at + 128 * k)), s01);
                sumi[t][1] = _mm512_dpwssd_epi32(sumi[t][1], _mm512_maddubs_epi16(q23, load512(at + 128 * k + 64)), s23);
            }
        }
        for (int t = 0; t < NT; t++) {
            const uint8_t *meta = a + (size_t)t * as + n + 36 * i;
            const __m512 s = _mm512_mul_ps(dv, _mm512_set1_ps(x86_f32(meta)));
            acc[t] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_add_epi32(sumi[t][0], sumi[t][1])), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = acc[t];
}
X86_TILED_GEMM(gemm_q6_K, row_q6_K, __m512, x86_reduce4_512)

AG_INLINE void row_iq4_xs(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    const int64_t nb = n / 256;
    const blk_iq4_xs *bw = (const blk_iq4_xs *)w;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i kv = _mm512_broadcast_i32x4(load128(ag_kvalues_iq4nl));
    const __m512i idx0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), idx1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    __m512 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m512i sc16 = _mm512_castsi128_si512(iq4xs_scales(&bw[i]));
        const float d = x86_f16(bw[i].d);
        __m512i sumi[4][2]; /* two chains per token: vpdpwssd latency */
        for (int t = 0; t < NT; t++) sumi[t][0] = sumi[t][1] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            /* sub-blocks 4h..4h+3, 16 bytes each: value order is low nibbles
             * then high nibbles of each */
            const __m512i x = load512(bw[i].qs + 64 * h);
            const __m512i lo = _mm512_and_si512(x, m4), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
            for (int p = 0; p < 2; p++) {
                const __m512i q = _mm512_shuffle_epi8(kv, _mm512_permutex2var_epi64(lo, p ? idx1 : idx0, hi));
                const __m512i aq = _mm512_abs_epi8(q);
                const __mmask64 neg = _mm512_movepi8_mask(q);
                const __m512i s = _mm512_permutexvar_epi16(pair_idx(2 * h + p), sc16);
                for (int t = 0; t < NT; t++) {
                    const __m512i av = load512(a + (size_t)t * as + 256 * i + 128 * h + 64 * p);
                    const __m512i sa = _mm512_mask_sub_epi8(av, neg, _mm512_setzero_si512(), av);
                    sumi[t][p] = _mm512_dpwssd_epi32(sumi[t][p], _mm512_maddubs_epi16(aq, sa), s);
                }
            }
        }
        for (int t = 0; t < NT; t++) {
            const float da = x86_f32(a + (size_t)t * as + n + 36 * i);
            const __m512i si = _mm512_add_epi32(sumi[t][0], sumi[t][1]);
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * da), _mm512_cvtepi32_ps(si), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) out[t] = acc[t];
}
X86_TILED_GEMM(gemm_iq4_xs, row_iq4_xs, __m512, x86_reduce4_512)

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

AG_INLINE __m512 load_w16(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return _mm512_loadu_ps((const float *)w + i);
    if (kind == 1) return _mm512_cvtph_ps(load256(w + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(w + 2 * i)), 16));
}

AG_INLINE float load_w1(const uint8_t *w, int64_t i, const int kind)
{
    if (kind == 0) return x86_f32(w + 4 * i);
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    return kind == 1 ? _cvtsh_ss(h) : ag_bf16_to_f32(h);
}

AG_INLINE void row_float(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out,
                         const int kind)
{
    __m512 acc[4][2];
    for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 w0 = load_w16(w, i, kind), w1 = load_w16(w, i + 16, kind);
        for (int t = 0; t < NT; t++) {
            const float *x = (const float *)(a + (size_t)t * as);
            acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc[t][1]);
        }
    }
    float tail[4] = {0, 0, 0, 0};
    for (; i < n; i++) {
        const float wv = load_w1(w, i, kind);
        for (int t = 0; t < NT; t++) tail[t] += wv * ((const float *)(a + (size_t)t * as))[i];
    }
    for (int t = 0; t < NT; t++)
        out[t] = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_zextps128_ps512(_mm_set_ss(tail[t])));
}
AG_INLINE void row_f32(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_float(n, w, a, as, NT, out, 0);
}
AG_INLINE void row_f16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_float(n, w, a, as, NT, out, 1);
}
AG_INLINE void row_bf16(int64_t n, const uint8_t *w, const uint8_t *a, size_t as, const int NT, __m512 *out)
{
    row_float(n, w, a, as, NT, out, 2);
}
X86_TILED_GEMM(gemm_f32, row_f32, __m512, x86_reduce4_512)
X86_TILED_GEMM(gemm_f16, row_f16, __m512, x86_reduce4_512)
X86_TILED_GEMM(gemm_bf16, row_bf16, __m512, x86_reduce4_512)

static void axpby_f32_avx512(float *y, const float *x, float a, float b, int64_t n)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_mul_ps(vb, _mm512_loadu_ps(y + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, y + i)));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static float dot_f32_avx512(const float *a, const float *b, int64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        i += 16;
    }
    float r = 0;
    for (; i < n; i++) r += a[i] * b[i];
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) + r;
}

/* The fused DeltaNet step (kernels.h), four state rows at a time: their
 * dots with k (one reduce4), the four deltas in one vector, then update,
 * store and dot with q while the rows are still in L1 (a second reduce4).
 * Two horizontal sums per four rows instead of two per row, one call per
 * head instead of three per row. The update keeps axpby's rounding
 * (d * k + (decay * S)). */
AG_INLINE __m512 dstep_load(const float *p, int64_t i, int64_t n)
{
    if (i + 16 <= n) return _mm512_loadu_ps(p + i);
    return _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), p + i);
}

static void delta_step_avx512(float *S, int64_t nr, int64_t n, const float *k, const float *q, const float *v,
                              float decay, float beta, float *o)
{
    const __m512 vdec = _mm512_set1_ps(decay);
    const __mmask16 tm = (__mmask16)((1u << (n % 16)) - 1);
    for (int64_t j = 0; j < nr; j += 4) {
        const int m = nr - j < 4 ? (int)(nr - j) : 4;
        float *R[4];
        for (int r = 0; r < 4; r++) R[r] = S + (size_t)(j + (r < m ? r : 0)) * (size_t)n;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t i = 0; i < n; i += 16) {
            const __m512 kv = dstep_load(k, i, n);
            for (int r = 0; r < 4; r++) acc[r] = _mm512_fmadd_ps(dstep_load(R[r], i, n), kv, acc[r]);
        }
        float dk[4], vj[4] = {0, 0, 0, 0}, oo[4];
        for (int r = 0; r < m; r++) vj[r] = v[j + r];
        const __m128 rk = x86_reduce4_512(acc);
        _mm_storeu_ps(dk, _mm_mul_ps(_mm_set1_ps(beta),
                                     _mm_sub_ps(_mm_loadu_ps(vj), _mm_mul_ps(_mm_set1_ps(decay), rk))));
        __m512 accq[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int r = 0; r < m; r++) {
            const __m512 d = _mm512_set1_ps(dk[r]);
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                const __m512 x = _mm512_fmadd_ps(d, _mm512_loadu_ps(k + i), _mm512_mul_ps(vdec, _mm512_loadu_ps(R[r] + i)));
                _mm512_storeu_ps(R[r] + i, x);
                accq[r] = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + i), accq[r]);
            }
            if (i < n) {
                const __m512 x = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(tm, k + i),
                                                 _mm512_mul_ps(vdec, _mm512_maskz_loadu_ps(tm, R[r] + i)));
                _mm512_mask_storeu_ps(R[r] + i, tm, x);
                accq[r] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tm, q + i), accq[r]);
            }
        }
        _mm_storeu_ps(oo, x86_reduce4_512(accq));
        for (int r = 0; r < m; r++) o[j + r] = oo[r];
    }
}

void ag_kernels_setup_avx512(ag_kernel_level *lv)
{
    /* activation formats as the avx2 level (inherited entries: q8_0s,
     * q8_Ks for q6_K, q8_Km for q4_K/q5_K/iq4_xs) */
    lv->k[AG_TYPE_F32].gemm = gemm_f32;
    lv->k[AG_TYPE_F16].gemm = gemm_f16;
    lv->k[AG_TYPE_BF16].gemm = gemm_bf16;
    lv->k[AG_TYPE_Q8_0].gemm = gemm_q8_0;
    lv->k[AG_TYPE_Q4_0].gemm = gemm_q4_0;
    lv->k[AG_TYPE_IQ4_NL].gemm = gemm_iq4_nl;
    lv->k[AG_TYPE_Q4_K].gemm = gemm_q4_K;
    lv->k[AG_TYPE_Q5_K].gemm = gemm_q5_K;
    lv->k[AG_TYPE_Q6_K].gemm = gemm_q6_K;
    lv->k[AG_TYPE_IQ4_XS].gemm = gemm_iq4_xs;
    lv->dot_f32 = dot_f32_avx512;
    lv->axpby_f32 = axpby_f32_avx512;
    lv->delta_step = delta_step_avx512;
    ag_kernels_setup_attn_avx512(lv);
}
