/* attn.avx2.c: the attention's kernel-table entries at the "avx2" level
 * (exp_sum, pv_f32, qk_f16 and the value-cache dequantizers to_f32;
 * kernels.h; pv_f16 and the int8 q8_0 paths are avx512-only, this level
 * has no VNNI: it converts values with to_f32 and uses pv_f32).
 *
 * These run in the decode loop over the whole KV cache, once per tile of
 * keys (typically nk = 64 keys, Dh = 256, nr = 4..64 query rows):
 *
 *  - exp_sum: a vectorized expf. d = x - m (as the reference), k =
 *    round(d * log2(e)) by the 1.5 * 2^23 trick inside one FMA, r = d - k ln2
 *    in two FMA steps (Cody-Waite: ln2 split into a short high part and the
 *    rest), e^r by a degree-6 polynomial on [-ln2/2, ln2/2] (Cephes' expf
 *    coefficients), and 2^k built in the exponent bits and multiplied in
 *    (not added to p's exponent: for k = -126 and p < 1 that would fall off
 *    the normal range). Measured: at most 1.25 ulp from the exact e^d over
 *    [-87.3, 0] (kernels.h allows 2). d < -87.3 (e^d near FLT_MIN, and the
 *    masked keys' -inf) gives exactly 0, d = 0 exactly 1, NaN stays NaN.
 *    Four independent vectors per iteration (one exp is a ~20-deep
 *    dependency chain); the last 1..7 values use masked loads and stores,
 *    so they get the same approximation as the body.
 *  - pv_f32: register tiles of 4 rows x 16 columns (8 accumulators, two v
 *    loads and one broadcast of p per row and key). Columns are the outer
 *    loop, so a strip of v (nk x 16 values) stays in L1 while every row
 *    block passes over it; y is loaded into the accumulators and stored
 *    once per tile. Column tails use masked loads/stores of 8 lanes. In
 *    the --bench of tests/kernels/test_attn_ops.c this reaches the FMA peak
 *    (2 per cycle), so wider tiles (4 x 24 fills all 16 registers) were not
 *    pursued; 6 x 16 does not fit nr = 4 (a GQA group of 4 in decode).
 *  - qk_f16: 4 keys x 2 query rows per register tile (8 accumulators over
 *    the head dim, one 4-way horizontal sum per row), each converted key
 *    vector feeding 2 FMAs and each query vector 4 (the generic f16 gemm
 *    loads more than one vector per FMA).
 *  - to_f32: F16 by vcvtph2ps, BF16 by a 16-bit shift, Q8_0 by sign
 *    extension and one multiply by the block scale, Q4_0 by nibble unpack,
 *    -8, and the scale: the same operations the reference does in the same
 *    order (int -> f32 is exact, one rounding in the product), so the values
 *    are bit-identical; for F16 except that a signalling NaN comes out
 *    quiet (vcvtph2ps), still a NaN.
 *
 * Rejected: calling libm expf per value (scalar, ~8x slower), a table-based
 * exp (gathers are slow on AVX2, and the polynomial is already within the
 * 2-ulp budget). */
#include "kernels/x86/x86_common.h"

#include <math.h>

/* ---- exp_sum ---- */

/* e^d for d <= 0: d < -87.3 (and -inf) gives 0, NaN stays NaN. */
AG_INLINE __m256 exp256(__m256 d)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f); /* 1.5 * 2^23 */
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 zero = _mm256_cmp_ps(d, lo, _CMP_LT_OQ);
    d = _mm256_max_ps(lo, d); /* k stays in [-126, 0]; a NaN d passes (max returns its 2nd operand) */
    const __m256 t = _mm256_fmadd_ps(d, _mm256_set1_ps(1.44269504088896341f), magic);
    const __m256 k = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), d);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^k: k + 127 sits in the low bits of t's mantissa */
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(zero, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* ---- max_f32 ---- */

static float max_f32_avx2(const float *x, int64_t n)
{
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m0 = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float m = _mm_cvtss_f32(h);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* ---- silu_mul ---- */

/* x / (1 + e^-x) from e = e^-|x| (in (0, 1], exp256's range): x / (1 + e)
 * for x >= 0, x e / (1 + e) below; a NaN x stays NaN */
AG_INLINE __m256 silu256(__m256 x)
{
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), ax));
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 num = _mm256_blendv_ps(x, _mm256_mul_ps(x, e), neg);
    return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static void silu_mul_avx2(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 s = silu256(_mm256_loadu_ps(g + i));
        if (u) s = _mm256_mul_ps(s, _mm256_loadu_ps(u + i));
        _mm256_storeu_ps(y + i, s);
    }
    if (i < n) { /* 1..7 left: through a stack copy */
        float gb[8] = {0}, ub[8] = {0};
        const int64_t m = n - i;
        memcpy(gb, g + i, (size_t)m * sizeof(float));
        if (u) memcpy(ub, u + i, (size_t)m * sizeof(float));
        __m256 s = silu256(_mm256_loadu_ps(gb));
        if (u) s = _mm256_mul_ps(s, _mm256_loadu_ps(ub));
        _mm256_storeu_ps(gb, s);
        memcpy(y + i, gb, (size_t)m * sizeof(float));
    }
}

static float exp_sum_avx2(float *x, float m, int64_t n)
{
    const __m256 vm = _mm256_set1_ps(m);
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    /* four independent chains: one exp is a ~20-deep dependency chain */
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++) {
            const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8 * j), vm));
            _mm256_storeu_ps(x + i + 8 * j, e);
            s[j] = _mm256_add_ps(s[j], e);
        }
    for (int j = 0; i + 8 <= n; i += 8, j++) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s[j] = _mm256_add_ps(s[j], e);
    }
    if (i < n) { /* 1..7 left: masked (vmaskmovps, once per call) */
        const __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vm)),
                                       _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        s[3] = _mm256_add_ps(s[3], e);
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
}

/* ---- pv_f32 ---- */

/* y rows r < R, columns [0, 8 * CV) += p rows x v[0..nk); with MASKED the
 * last vector only where mask is set (vmaskmovps is slow on AMD, so full
 * strips use plain loads). R, CV, MASKED are constants after inlining. */
AG_INLINE void pv_tile(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nk,
                       const int R, const int CV, const int MASKED, __m256i mask)
{
    __m256 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++)
            acc[r][c] = MASKED && c == CV - 1 ? _mm256_maskload_ps(y + r * ldy + 8 * c, mask)
                                              : _mm256_loadu_ps(y + r * ldy + 8 * c);
    for (int64_t k = 0; k < nk; k++) {
        const float *vk = v + (size_t)k * ldv;
        __m256 vv[2];
        for (int c = 0; c < CV; c++)
            vv[c] = MASKED && c == CV - 1 ? _mm256_maskload_ps(vk + 8 * c, mask) : _mm256_loadu_ps(vk + 8 * c);
        for (int r = 0; r < R; r++) {
            const __m256 b = _mm256_broadcast_ss(p + r * ldp + (size_t)k);
            for (int c = 0; c < CV; c++) acc[r][c] = _mm256_fmadd_ps(b, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++)
            if (MASKED && c == CV - 1) _mm256_maskstore_ps(y + r * ldy + 8 * c, mask, acc[r][c]);
            else _mm256_storeu_ps(y + r * ldy + 8 * c, acc[r][c]);
}

/* all rows for one column strip of CV vectors */
AG_INLINE void pv_strip(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                        int64_t nk, const int CV, const int MASKED, __m256i mask)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        pv_tile(y + (size_t)r * ldy, ldy, p + (size_t)r * ldp, ldp, v, ldv, nk, 4, CV, MASKED, mask);
    float *yr = y + (size_t)r * ldy;
    const float *pr = p + (size_t)r * ldp;
    switch (nr - r) {
    case 3: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 3, CV, MASKED, mask); break;
    case 2: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 2, CV, MASKED, mask); break;
    case 1: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 1, CV, MASKED, mask); break;
    default: break;
    }
}

static void pv_f32_avx2(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                        int64_t nk, int64_t n)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int64_t e = 0;
    for (; e + 16 <= n; e += 16) pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 2, 0, all);
    for (; e < n; e += 8) {
        const int left = n - e < 8 ? (int)(n - e) : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 1, 1, mask);
    }
}

/* ---- qk_f16 ---- */

/* y[t * ldy + r] for keys r < KR (<= 4), query rows t < TR (<= 2): 8
 * accumulators, each converted key vector used TR times, each query
 * vector KR times; values n & ~7.. n - 1 in scalar */
AG_INLINE void qk_tile(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                       const int KR, const int TR)
{
    __m256 acc[2][4];
    for (int t = 0; t < TR; t++)
        for (int r = 0; r < 4; r++) acc[t][r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 kv[4];
        for (int r = 0; r < KR; r++) kv[r] = _mm256_cvtph_ps(load128(w + r * ws + 2 * i));
        for (int t = 0; t < TR; t++) {
            const __m256 qv = _mm256_loadu_ps((const float *)(a + t * as) + i);
            for (int r = 0; r < KR; r++) acc[t][r] = _mm256_fmadd_ps(kv[r], qv, acc[t][r]);
        }
    }
    for (int t = 0; t < TR; t++) {
        float f[4];
        _mm_storeu_ps(f, x86_reduce4_256(acc[t]));
        for (int r = 0; r < KR; r++) {
            float tail = 0;
            for (int64_t j = i; j < n; j++) tail += x86_f16(w + r * ws + 2 * j) * ((const float *)(a + t * as))[j];
            y[t * ldy + r] = f[r] + tail;
        }
    }
}

AG_INLINE void qk_keys(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                       int64_t nr, const int TR)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 4, TR);
    switch (nr - r) {
    case 3: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 3, TR); break;
    case 2: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 2, TR); break;
    case 1: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 1, TR); break;
    default: break;
    }
}

static void qk_f16_avx2(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                        int64_t nr, int64_t nt)
{
    const uint8_t *W = w, *A = a;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 2);
    if (t < nt) qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 1);
}

/* ---- to_f32 ---- */

static void to_f32_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(load128(s + 2 * i)));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(load128(s + 2 * i + 16)));
    }
    for (; i < n; i++) dst[i] = x86_f16(s + 2 * i);
}

AG_INLINE __m256 bf16x8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }

static void to_f32_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(dst + i, bf16x8(load128(s + 2 * i)));
        _mm256_storeu_ps(dst + i + 8, bf16x8(load128(s + 2 * i + 16)));
    }
    for (; i < n; i++) dst[i] = ag_bf16_to_f32(rd_u16(s + 2 * i));
}

/* 8 int32 to f32 times d */
AG_INLINE void store_scaled(float *dst, __m256i q, __m256 d)
{
    _mm256_storeu_ps(dst, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
}

static void to_f32_q8_0(const void *src, float *dst, int64_t n)
{
    const blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const __m256 d = _mm256_set1_ps(x86_f16(b[i].d));
        const __m128i q0 = load128(b[i].qs), q1 = load128(b[i].qs + 16);
        store_scaled(dst, _mm256_cvtepi8_epi32(q0), d);
        store_scaled(dst + 8, _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q0, q0)), d);
        store_scaled(dst + 16, _mm256_cvtepi8_epi32(q1), d);
        store_scaled(dst + 24, _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q1, q1)), d);
    }
}

static void to_f32_q4_0(const void *src, float *dst, int64_t n)
{
    const blk_q4_0 *b = src;
    const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const __m256 d = _mm256_set1_ps(x86_f16(b[i].d));
        const __m128i x = load128(b[i].qs);
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(x, m4), eight);                    /* values 0..15 */
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(x, 4), m4), eight); /* values 16..31 */
        store_scaled(dst, _mm256_cvtepi8_epi32(lo), d);
        store_scaled(dst + 8, _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)), d);
        store_scaled(dst + 16, _mm256_cvtepi8_epi32(hi), d);
        store_scaled(dst + 24, _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)), d);
    }
}

void ag_kernels_setup_attn_avx2(ag_kernel_level *lv)
{
    lv->exp_sum = exp_sum_avx2;
    lv->max_f32 = max_f32_avx2;
    lv->silu_mul = silu_mul_avx2;
    lv->pv_f32 = pv_f32_avx2;
    lv->qk_f16 = qk_f16_avx2;
    lv->k[AG_TYPE_F16].to_f32 = to_f32_f16;
    lv->k[AG_TYPE_BF16].to_f32 = to_f32_bf16;
    lv->k[AG_TYPE_Q8_0].to_f32 = to_f32_q8_0;
    lv->k[AG_TYPE_Q4_0].to_f32 = to_f32_q4_0;
}
