/* attn.avx512.c: the attention's kernel-table entries at the "avx512" level
 * (exp_sum, pv_f32, qk_f16, qk_q8_0, pv_f16, pv_q8_0, keys_i16, qk_i16,
 * values_i16, pv_i16, quant_i16, to_f32; kernels.h).
 * exp_sum, pv_f32 and to_f32 are the same algorithms as attn.avx2.c
 * (see there for the exp approximation and why), 16 lanes wide, with
 * AVX-512 masks for the tails (cheap here, unlike AVX2's vmaskmovps
 * stores on AMD):
 *
 *  - exp_sum: the avx2 level's expf (same constants, same bits per lane).
 *  - pv_f32: register tiles of 4 rows x 64 columns (16 zmm accumulators,
 *    four v loads and one broadcast per row and key; 21 of 32 registers).
 *    Columns outer, so a 64-column strip of v (nk x 64 values, 16 KB at
 *    nk = 64) stays in L1 while the row blocks pass over it. A tail strip
 *    of 1..63 columns is one tile of 1..4 vectors, the last masked. 4 rows
 *    keep nr = 4 (decode with a GQA group of 4) a single tile that streams
 *    v once, and reach the FMA peak in test_attn_ops --bench.
 *  - to_f32: F16 via vcvtph2ps on zmm, BF16 by shifts, Q8_0 / Q4_0 by
 *    widening to int32, converting and one multiply by the block scale:
 *    bit-identical to the reference to_float (F16 signalling NaNs come out
 *    quiet, as at the avx2 level).
 *  - qk_f16: 4 keys x 4 query rows per register tile (16 accumulators over
 *    the head dim, one 4-way horizontal sum per row at the end), so each
 *    converted key vector feeds 4 FMAs and each query vector 4; query
 *    tiles outer so the 64-key tile stays in L1. 2x the generic f16 gemm
 *    (which converts every key vector once per 4 rows but loads 2.5
 *    vectors per FMA).
 *  - pv_f16: pv_f32's tiles with vcvtph2ps fused into the value loads (no
 *    f32 copy of the tile).
 *  - qk_q8_0: the key tile transposed once (32-bit gathers: lane j = key j,
 *    4 codes per lane, biased by +128 to be vpdpbusd's unsigned side; the
 *    query codes, broadcast 4 at a time, are the signed side), so vpdpbusd
 *    accumulates 16 keys' block dots without horizontal sums; per block one
 *    correction (128 x the query block's code sum), conversion and FMA by
 *    key scale x query scale. 4 rows x 32 keys per register tile. The
 *    transpose costs about 1.2 us per tile: below 8 query rows the generic
 *    gemm_q8_0 stays faster (decode uses it).
 *  - pv_q8_0: as ag_pv_q8_0_ref (the 8-bit weights quantized per row and
 *    value block against that block's key scales), the value tile repacked
 *    4 keys per 32-bit lane by unpacks (u8 weights x s8 codes: vpdpbusd),
 *    4 rows x 64 columns per register tile. bf16 (vdpbf16ps) was rejected:
 *    half vpdpbusd's products per instruction, and it would round the f16
 *    weights.
 *  - the int16 path (the f16 cache in prefill): the exact f32
 *    kernels above run near the FMA peak, and vpdpwssd (int16 pairs into
 *    int32) does twice an FMA's multiply-adds per instruction at the same
 *    rate here, so the f16 keys, values, queries and softmax weights are
 *    coded to 14 / 12-bit integers as kernels.h defines (errors 4-8x
 *    below f16's own rounding; bf16 was rejected: 8 bits of mantissa
 *    failed the f16 cache's accuracy bar). Bit-identical to the portable
 *    references (integer sums are exact, the f32 steps the same ops in
 *    the same order). QK: the key tile is transposed in registers (16 x 16
 *    32-bit transposes of f16 pairs, no gathers), each key's block max
 *    found by vertical u16 max of the |f16| bit patterns, coded and stored
 *    16 keys per vector, a pair of values per lane, in the lane order
 *    packs_epi32 leaves (undone once per score vector); 6 query rows x 32
 *    keys per register tile, the exact int32 block sums flushed per
 *    32-value block (cvt, scale, FMA). PV: the tile's values coded per
 *    dimension (vertical max over the keys), two keys per 32-bit lane; each
 *    4 rows' weights coded into 64 int16 on the stack; 4 rows x 64 columns
 *    per register tile, one flush per tile. Coding a 64-key tile costs
 *    about 1 us (keys) and 0.7 us (values), so keys_i16 / values_i16 code
 *    it once into a buffer that qk_i16 / pv_i16 only read, for every query
 *    row and head that sees the tile (qwen35.c). Measured (test_attn_ops
 *    --bench-i16, Dh 256): ~440 GFLOP/s for QK and PV alike from 4 rows
 *    on with the tile coded, 2.1x / 1.8x the f32 kernels; with one coding
 *    per call of 128 rows, 1.9x / 1.6x. */
#include "kernels/x86/x86_common.h"

#include <math.h>

#include <float.h>

/* ---- exp_sum ---- */

/* e^d for d <= 0: d < -87.3 (and -inf) gives 0, NaN stays NaN. */
AG_INLINE __m512 exp512(__m512 d)
{
    const __m512 magic = _mm512_set1_ps(12582912.0f); /* 1.5 * 2^23 */
    const __m512 lo = _mm512_set1_ps(-87.3f);
    const __mmask16 zero = _mm512_cmp_ps_mask(d, lo, _CMP_LT_OQ);
    d = _mm512_max_ps(lo, d); /* k stays in [-126, 0]; a NaN d passes (max returns its 2nd operand) */
    const __m512 t = _mm512_fmadd_ps(d, _mm512_set1_ps(1.44269504088896341f), magic);
    const __m512 k = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), d);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    /* 2^k: k + 127 sits in the low bits of t's mantissa */
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps((__mmask16)~zero, p, _mm512_castsi512_ps(e));
}

AG_INLINE __mmask16 mask16(int64_t left) { return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1); }

AG_INLINE float exp_sum_avx512(float *x, float m, int64_t n)
{
    const __m512 vm = _mm512_set1_ps(m);
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    /* four independent chains: one exp is a ~20-deep dependency chain, and
     * a 64-key tile is then a single iteration */
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++) {
            const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16 * j), vm));
            _mm512_storeu_ps(x + i + 16 * j, e);
            s[j] = _mm512_add_ps(s[j], e);
        }
    for (int j = 0; i < n; i += 16, j++) {
        const __mmask16 k = mask16(n - i);
        /* masked-off lanes are computed from x = m (e^0) and dropped */
        const __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_mask_loadu_ps(vm, k, x + i), vm)));
        _mm512_mask_storeu_ps(x + i, k, e);
        s[j] = _mm512_add_ps(s[j], e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
}

/* ---- max_f32 ---- */

AG_INLINE float max_f32_avx512(const float *x, int64_t n)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m0 = ninf, m1 = ninf;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(ninf, mask16(n - i), x + i));
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

/* ---- softmax_rows ---- */

/* kernels.h's composition, with this level's max_f32 and exp_sum inlined */
static void softmax_rows_avx512(float *s, size_t lds, int64_t nr, int64_t per, int64_t nk, int64_t v0, float *m,
                                float *l, float *o, size_t ldo, int64_t n)
{
    ag_softmax_rows_with(max_f32_avx512, exp_sum_avx512, s, lds, nr, per, nk, v0, m, l, o, ldo, n);
}

/* ---- silu_mul ---- */

/* x / (1 + e^-x) from e = e^-|x| (in (0, 1], exp512's range):
 * x / (1 + e) for x >= 0, x e / (1 + e) below; a NaN x stays NaN */
AG_INLINE __m512 silu512(__m512 x)
{
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 num = _mm512_mask_mul_ps(x, neg, x, e);
    return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static void silu_mul_avx512(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 s = silu512(_mm512_loadu_ps(g + i));
        if (u) s = _mm512_mul_ps(s, _mm512_loadu_ps(u + i));
        _mm512_storeu_ps(y + i, s);
    }
    if (i < n) {
        const __mmask16 k = mask16(n - i);
        __m512 s = silu512(_mm512_maskz_loadu_ps(k, g + i));
        if (u) s = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i));
        _mm512_mask_storeu_ps(y + i, k, s);
    }
}

/* ---- pv_f32 ---- */

/* y rows r < R, columns [0, 16 * CV) += p rows x v[0..nk), the last vector
 * only in the lanes of mask. R and CV are constants after inlining. */
AG_INLINE void pv_tile(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nk,
                       const int R, const int CV, __mmask16 mask)
{
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++)
            acc[r][c] = _mm512_maskz_loadu_ps(c == CV - 1 ? mask : 0xffff, y + r * ldy + 16 * c);
    for (int64_t k = 0; k < nk; k++) {
        const float *vk = v + (size_t)k * ldv;
        __m512 vv[4];
        for (int c = 0; c < CV; c++) vv[c] = _mm512_maskz_loadu_ps(c == CV - 1 ? mask : 0xffff, vk + 16 * c);
        for (int r = 0; r < R; r++) {
            const __m512 b = _mm512_set1_ps(p[r * ldp + (size_t)k]);
            for (int c = 0; c < CV; c++) acc[r][c] = _mm512_fmadd_ps(b, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++) _mm512_mask_storeu_ps(y + r * ldy + 16 * c, c == CV - 1 ? mask : 0xffff, acc[r][c]);
}

/* all rows for one column strip of CV vectors */
AG_INLINE void pv_strip(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                        int64_t nk, const int CV, __mmask16 mask)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        pv_tile(y + (size_t)r * ldy, ldy, p + (size_t)r * ldp, ldp, v, ldv, nk, 4, CV, mask);
    float *yr = y + (size_t)r * ldy;
    const float *pr = p + (size_t)r * ldp;
    switch (nr - r) {
    case 3: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 3, CV, mask); break;
    case 2: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 2, CV, mask); break;
    case 1: pv_tile(yr, ldy, pr, ldp, v, ldv, nk, 1, CV, mask); break;
    default: break;
    }
}

static void pv_f32_avx512(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv,
                          int64_t nr, int64_t nk, int64_t n)
{
    int64_t e = 0;
    for (; e + 64 <= n; e += 64) pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 4, 0xffff);
    const int64_t left = n - e; /* 0..63 */
    const __mmask16 mask = mask16(left - 16 * ((left - 1) / 16));
    switch ((left + 15) / 16) {
    case 4: pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 4, mask); break;
    case 3: pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 3, mask); break;
    case 2: pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 2, mask); break;
    case 1: pv_strip(y + e, ldy, p, ldp, v + e, ldv, nr, nk, 1, mask); break;
    default: break;
    }
}

/* ---- prefetch ---- */

/* A tile of cache rows is one contiguous run of bytes (head-major cache),
 * and consecutive tiles are consecutive runs. The int8 kernels walk a tile
 * in an order the hardware prefetchers do not follow (32-bit gathers across
 * 16 rows), so they request it line by line first: the lines then arrive in
 * parallel instead of one miss at a time (measured in situ at depth 7850:
 * the int8 QK spent 70% of its time in gather misses), and the next tile
 * goes to L2 meanwhile. The f16 kernels read 4 rows as 4 sequential
 * streams and prefetch ATT_PF_DIST bytes ahead of the row they are on, a
 * few lines per key, spread over the compute (decode at depth 4096, A/B
 * median: 1.03x the previous form, one burst of the next whole tile to L2
 * per call, whose 512 requests queued behind each other; 8 to 24 KiB ahead
 * measured alike, 4 KiB and the L2 hint less). Past the end of the tile
 * they run into the next call's rows (a prefetch never faults). */
#define ATT_PF_DIST 16384
#define ATT_PF_HINT _MM_HINT_T0

AG_INLINE void prefetch_ahead(const void *p, size_t bytes)
{
    const char *c = (const char *)p + ATT_PF_DIST;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, ATT_PF_HINT);
}

AG_INLINE void prefetch_tile(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
    for (size_t o = bytes; o < 2 * bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T1);
}

/* ---- qk_f16 ---- */

/* y[t * ldy + r] for keys r < KR, query rows t < TR (a 4 x 4 tile at most:
 * 16 accumulators, each f16 key vector converted once and used TR times,
 * each query vector loaded once and used KR times) */
AG_INLINE void qk_tile(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                       const int KR, const int TR)
{
    __m512 acc[4][4];
    for (int t = 0; t < TR; t++)
        for (int r = 0; r < KR; r++) acc[t][r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 kv[4];
        for (int r = 0; r < KR; r++) kv[r] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + r * ws + 2 * i)));
        for (int t = 0; t < TR; t++) {
            const __m512 qv = _mm512_loadu_ps((const float *)(a + t * as) + i);
            for (int r = 0; r < KR; r++) acc[t][r] = _mm512_fmadd_ps(kv[r], qv, acc[t][r]);
        }
    }
    if (i < n) {
        const __mmask16 m = mask16(n - i);
        __m512 kv[4];
        for (int r = 0; r < KR; r++) kv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + r * ws + 2 * i));
        for (int t = 0; t < TR; t++) {
            const __m512 qv = _mm512_maskz_loadu_ps(m, (const float *)(a + t * as) + i);
            for (int r = 0; r < KR; r++) acc[t][r] = _mm512_fmadd_ps(kv[r], qv, acc[t][r]);
        }
    }
    for (int t = 0; t < TR; t++) {
        __m256 h[4];
        for (int r = 0; r < 4; r++) {
            const __m512 v = acc[t][r < KR ? r : 0];
            h[r] = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
        }
        const __m128 s = x86_reduce4_256(h);
        if (KR == 4) _mm_storeu_ps(y + t * ldy, s);
        else _mm_mask_storeu_ps(y + t * ldy, (__mmask8)((1u << KR) - 1), s);
    }
}

/* all keys for one tile of TR query rows: the key tile (64 f16 keys of
 * 256 values = 32 KB) stays in L1 while the query tiles pass over it */
AG_INLINE void qk_keys(int64_t n, const uint8_t *w, size_t ws, const uint8_t *a, size_t as, float *y, size_t ldy,
                       int64_t nr, const int TR, bool pf)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        if (pf) prefetch_ahead(w + r * ws, 4 * ws);
        qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 4, TR);
    }
    switch (nr - r) {
    case 3: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 3, TR); break;
    case 2: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 2, TR); break;
    case 1: qk_tile(n, w + r * ws, ws, a, as, y + r, ldy, 1, TR); break;
    default: break;
    }
}

static void qk_f16_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                          int64_t nr, int64_t nt)
{
    const uint8_t *W = w, *A = a;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 4, t == 0);
    switch (nt - t) {
    case 3: qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 3, t == 0); break;
    case 2: qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 2, t == 0); break;
    case 1: qk_keys(n, W, ws, A + t * as, as, y + t * ldy, ldy, nr, 1, t == 0); break;
    default: break;
    }
}

/* ---- qk_q8_0 (VNNI) ---- */

/* Scratch (kernels.c's pv_q8_0 layout, reused): the keys transposed at 0,
 * 16 keys per group g, for every 4 values i4 of the row one 64-byte vector
 * (lane j: key 16 g + j's codes 4 i4..4 i4 + 3, plus 128 so that they are
 * the unsigned side of vpdpbusd), at byte (g * n / 4 + i4) * 64; the key
 * block scales dk[b * 64 + key] at 64 n; 128 x the sum of each query row's
 * codes per block at 72 n (sum (k + 128) q = sum k q + 128 sum q). */

/* rows r < R x key groups g0 .. g0 + G - 1 */
AG_INLINE void qkq_tile(const uint8_t *kp, const float *dk, const uint8_t *a, size_t as, const int32_t *qs,
                        int64_t n, float *y, size_t ldy, int64_t nr, int64_t g0, const int R, const int G)
{
    const int64_t nb = n / 32;
    __m512 accf[4][2];
    for (int r = 0; r < R; r++)
        for (int gi = 0; gi < G; gi++) accf[r][gi] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i ai[4][2];
        for (int r = 0; r < R; r++)
            for (int gi = 0; gi < G; gi++) ai[r][gi] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const int64_t i4 = 8 * b + j;
            __m512i kv[2];
            for (int gi = 0; gi < G; gi++) kv[gi] = _mm512_load_si512(kp + ((g0 + gi) * (n / 4) + i4) * 64);
            for (int r = 0; r < R; r++) {
                int32_t q4;
                memcpy(&q4, a + r * as + 4 * i4, 4);
                const __m512i bq = _mm512_set1_epi32(q4);
                for (int gi = 0; gi < G; gi++) ai[r][gi] = _mm512_dpbusd_epi32(ai[r][gi], kv[gi], bq);
            }
        }
        for (int r = 0; r < R; r++) {
            const __m512 sa = _mm512_set1_ps(x86_f32(a + r * as + n + 4 * b));
            const __m512i corr = _mm512_set1_epi32(qs[r * nb + b]);
            for (int gi = 0; gi < G; gi++) {
                const __m512 d = _mm512_mul_ps(_mm512_load_ps(dk + b * AG_PV_TILE + 16 * (g0 + gi)), sa);
                accf[r][gi] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(ai[r][gi], corr)), d, accf[r][gi]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int gi = 0; gi < G; gi++)
            _mm512_mask_storeu_ps(y + r * ldy + 16 * (g0 + gi), mask16(nr - 16 * (g0 + gi)), accf[r][gi]);
}

AG_INLINE void qkq_rows(const uint8_t *kp, const float *dk, const uint8_t *a, size_t as, const int32_t *qs,
                        int64_t n, float *y, size_t ldy, int64_t nr, const int R)
{
    const int64_t ng = (nr + 15) / 16;
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2) qkq_tile(kp, dk, a, as, qs, n, y, ldy, nr, g, R, 2);
    if (g < ng) qkq_tile(kp, dk, a, as, qs, n, y, ldy, nr, g, R, 1);
}

static void qk_q8_0_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                           int64_t nr, int64_t nt, void *scratch)
{
    const uint8_t *W = w, *A = a;
    const int64_t nb = n / 32, ng = (nr + 15) / 16;
    uint8_t *kp = scratch;
    float *dk = (float *)(kp + (size_t)AG_PV_TILE * n);
    int32_t *qs = (int32_t *)(kp + (size_t)(AG_PV_TILE + 8) * n);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)ws));
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    prefetch_tile(W, (size_t)nr * ws);
    for (int64_t g = 0; g < ng; g++) {
        const __mmask16 m = mask16(nr - 16 * g);
        const uint8_t *wg = W + (size_t)(16 * g) * ws;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *wb = wg + 34 * (size_t)b;
            const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, wb, 1);
            _mm512_store_ps(dk + b * AG_PV_TILE + 16 * g, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
            for (int j = 0; j < 8; j++) {
                const __m512i c = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, wb + 2 + 4 * j, 1);
                _mm512_store_si512(kp + (g * (n / 4) + 8 * b + j) * 64, _mm512_xor_si512(c, bias));
            }
        }
    }
    const __m256i bias32 = _mm256_set1_epi8((char)0x80);
    for (int64_t t = 0; t < nt; t++)
        for (int64_t b = 0; b < nb; b++) {
            /* sum of (code + 128) by vpsadbw, four 64-bit partial sums */
            const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(load256(A + t * as + 32 * b), bias32), _mm256_setzero_si256());
            const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            const int32_t sum = (int32_t)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 32 * 128;
            qs[t * nb + b] = 128 * sum;
        }
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) qkq_rows(kp, dk, A + t * as, as, qs + t * nb, n, y + t * ldy, ldy, nr, 4);
    switch (nt - t) {
    case 3: qkq_rows(kp, dk, A + t * as, as, qs + t * nb, n, y + t * ldy, ldy, nr, 3); break;
    case 2: qkq_rows(kp, dk, A + t * as, as, qs + t * nb, n, y + t * ldy, ldy, nr, 2); break;
    case 1: qkq_rows(kp, dk, A + t * as, as, qs + t * nb, n, y + t * ldy, ldy, nr, 1); break;
    default: break;
    }
}

/* ---- pv_f16 ---- */

/* pv_tile with f16 value rows: each v vector converted by vcvtph2ps as it
 * is loaded (exact), so no f32 copy of the tile is written and re-read */
AG_INLINE void pv16_tile(float *y, size_t ldy, const float *p, size_t ldp, const uint8_t *v, size_t ldv, int64_t nk,
                         const int R, const int CV, __mmask16 mask, const uint8_t *pf)
{
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++)
            acc[r][c] = _mm512_maskz_loadu_ps(c == CV - 1 ? mask : 0xffff, y + r * ldy + 16 * c);
    for (int64_t k = 0; k < nk; k++) {
        const uint8_t *vk = v + (size_t)k * ldv;
        if (pf) prefetch_ahead(pf + (size_t)k * ldv, ldv);
        __m512 vv[4];
        for (int c = 0; c < CV; c++)
            vv[c] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(c == CV - 1 ? mask : 0xffff, vk + 32 * c));
        for (int r = 0; r < R; r++) {
            const __m512 b = _mm512_set1_ps(p[r * ldp + (size_t)k]);
            for (int c = 0; c < CV; c++) acc[r][c] = _mm512_fmadd_ps(b, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++) _mm512_mask_storeu_ps(y + r * ldy + 16 * c, c == CV - 1 ? mask : 0xffff, acc[r][c]);
}

AG_INLINE void pv16_strip(float *y, size_t ldy, const float *p, size_t ldp, const uint8_t *v, size_t ldv, int64_t nr,
                          int64_t nk, const int CV, __mmask16 mask, const uint8_t *pf)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4, pf = NULL)
        pv16_tile(y + (size_t)r * ldy, ldy, p + (size_t)r * ldp, ldp, v, ldv, nk, 4, CV, mask, pf);
    float *yr = y + (size_t)r * ldy;
    const float *pr = p + (size_t)r * ldp;
    switch (nr - r) {
    case 3: pv16_tile(yr, ldy, pr, ldp, v, ldv, nk, 3, CV, mask, pf); break;
    case 2: pv16_tile(yr, ldy, pr, ldp, v, ldv, nk, 2, CV, mask, pf); break;
    case 1: pv16_tile(yr, ldy, pr, ldp, v, ldv, nk, 1, CV, mask, pf); break;
    default: break;
    }
}

static void pv_f16_avx512(float *y, size_t ldy, const float *p, size_t ldp, const void *vv, size_t ldv,
                          int64_t nr, int64_t nk, int64_t n)
{
    const uint8_t *v = vv;
    int64_t e = 0;
    for (; e + 64 <= n; e += 64) pv16_strip(y + e, ldy, p, ldp, v + 2 * e, ldv, nr, nk, 4, 0xffff, e ? NULL : v);
    const int64_t left = n - e;
    const __mmask16 mask = mask16(left - 16 * ((left - 1) / 16));
    const uint8_t *pf = e ? NULL : v;
    switch ((left + 15) / 16) {
    case 4: pv16_strip(y + e, ldy, p, ldp, v + 2 * e, ldv, nr, nk, 4, mask, pf); break;
    case 3: pv16_strip(y + e, ldy, p, ldp, v + 2 * e, ldv, nr, nk, 3, mask, pf); break;
    case 2: pv16_strip(y + e, ldy, p, ldp, v + 2 * e, ldv, nr, nk, 2, mask, pf); break;
    case 1: pv16_strip(y + e, ldy, p, ldp, v + 2 * e, ldv, nr, nk, 1, mask, pf); break;
    default: break;
    }
}

/* ---- pv_q8_0 (VNNI) ---- */

/* The tile's q8_0 codes, 4 keys interleaved per 32-bit lane (scratch
 * layout in kernels.c: group g, column e at bytes (g * n + e) * 4), keys
 * nk..63 of the last group zero; and the block scales as f32. */
static void repack_q8_0(const uint8_t *v, size_t ldv, int64_t nk, int64_t n, uint8_t *vp, float *dt)
{
    const int64_t nb = n / 32, ng = (nk + 3) / 4;
    for (int64_t g = 0; g < ng; g++) {
        const blk_q8_0 *row[4];
        for (int j = 0; j < 4; j++) row[j] = 4 * g + j < nk ? (const blk_q8_0 *)(v + (size_t)(4 * g + j) * ldv) : NULL;
        for (int64_t b = 0; b < nb; b++) {
            __m256i a[4];
            for (int j = 0; j < 4; j++) a[j] = row[j] ? load256(row[j][b].qs) : _mm256_setzero_si256();
            const __m256i lo01 = _mm256_unpacklo_epi8(a[0], a[1]), hi01 = _mm256_unpackhi_epi8(a[0], a[1]);
            const __m256i lo23 = _mm256_unpacklo_epi8(a[2], a[3]), hi23 = _mm256_unpackhi_epi8(a[2], a[3]);
            /* 128-bit lanes: A = cols 0-3 | 16-19, B = 4-7 | 20-23, C = 8-11 | 24-27, D = 12-15 | 28-31 */
            const __m256i A = _mm256_unpacklo_epi16(lo01, lo23), B = _mm256_unpackhi_epi16(lo01, lo23);
            const __m256i C = _mm256_unpacklo_epi16(hi01, hi23), D = _mm256_unpackhi_epi16(hi01, hi23);
            __m256i *o = (__m256i *)(vp + (size_t)(g * n + 32 * b) * 4);
            _mm256_store_si256(o, _mm256_permute2x128_si256(A, B, 0x20));
            _mm256_store_si256(o + 1, _mm256_permute2x128_si256(C, D, 0x20));
            _mm256_store_si256(o + 2, _mm256_permute2x128_si256(A, B, 0x31));
            _mm256_store_si256(o + 3, _mm256_permute2x128_si256(C, D, 0x31));
        }
    }
    /* the scales of 16 keys at once: 32-bit gathers at each row's block
     * (its f16 d and the first code byte), all 64 lanes written (the
     * weights' masked lanes multiply them: 0, never garbage) */
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)ldv));
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k = 0; k < AG_PV_TILE; k += 16) {
            const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask16(nk - k), idx,
                                                          v + (size_t)k * ldv + 34 * (size_t)b, 1);
            _mm512_store_ps(dt + b * AG_PV_TILE + k, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
        }
}

/* y rows r < R, columns [0, 16 * CV) of block pair (b, b + 1) += the 8-bit
 * weights x codes; CV = 2 is one block */
AG_INLINE void pvq_tile(float *y, size_t ldy, const uint8_t *c, const float *cs, int64_t nb, const uint8_t *vp,
                        int64_t n, int64_t ng, const int R, const int CV)
{
    __m512i acc[4][4];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < CV; j++) acc[r][j] = _mm512_setzero_si512();
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *vg = vp + (size_t)g * n * 4;
        __m512i vv[4];
        for (int j = 0; j < CV; j++) vv[j] = _mm512_load_si512(vg + 64 * j);
        for (int r = 0; r < R; r++) {
            const uint8_t *cr = c + (size_t)r * nb * AG_PV_TILE + 4 * g;
            int32_t c0, c1;
            memcpy(&c0, cr, 4);
            const __m512i b0 = _mm512_set1_epi32(c0);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], b0, vv[0]);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], b0, vv[1]);
            if (CV == 4) {
                memcpy(&c1, cr + AG_PV_TILE, 4);
                const __m512i b1 = _mm512_set1_epi32(c1);
                acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], b1, vv[2]);
                acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], b1, vv[3]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < CV; j++) {
            float *yr = y + (size_t)r * ldy + 16 * j;
            const __m512 s = _mm512_set1_ps(cs[r * nb + j / 2]);
            _mm512_storeu_ps(yr, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][j]), s, _mm512_loadu_ps(yr)));
        }
}

AG_INLINE void pvq_strip(float *y, size_t ldy, const uint8_t *c, const float *cs, int64_t nb, const uint8_t *vp,
                         int64_t n, int64_t ng, int64_t nr, const int CV)
{
    int64_t r = 0;
    const size_t cst = (size_t)nb * AG_PV_TILE;
    for (; r + 4 <= nr; r += 4)
        pvq_tile(y + (size_t)r * ldy, ldy, c + r * cst, cs + r * nb, nb, vp, n, ng, 4, CV);
    float *yr = y + (size_t)r * ldy;
    switch (nr - r) {
    case 3: pvq_tile(yr, ldy, c + r * cst, cs + r * nb, nb, vp, n, ng, 3, CV); break;
    case 2: pvq_tile(yr, ldy, c + r * cst, cs + r * nb, nb, vp, n, ng, 2, CV); break;
    case 1: pvq_tile(yr, ldy, c + r * cst, cs + r * nb, nb, vp, n, ng, 1, CV); break;
    default: break;
    }
}

/* the 8-bit weights per row and block (ag_pv_q8_0_ref), NV = 16-key
 * vectors of the tile */
AG_INLINE void pvq_weights(const float *p, size_t ldp, int64_t nr, int64_t nk, int64_t nb, const float *dt, uint8_t *c,
                           float *cs, const int NV)
{
    for (int64_t r = 0; r < nr; r++) {
        __m512 pr[4];
        for (int i = 0; i < NV; i++) pr[i] = _mm512_maskz_loadu_ps(mask16(nk - 16 * i), p + (size_t)r * ldp + 16 * i);
        for (int64_t b = 0; b < nb; b++) {
            __m512 x[4], mx = _mm512_setzero_ps();
            for (int i = 0; i < NV; i++) {
                x[i] = _mm512_mul_ps(pr[i], _mm512_load_ps(dt + b * AG_PV_TILE + 16 * i));
                mx = _mm512_max_ps(mx, x[i]);
            }
            const float m = _mm512_reduce_max_ps(mx);
            const float inv = m > 0 ? 255.0f / m : 0.0f;
            cs[r * nb + b] = m / 255.0f;
            const __m512 vi = _mm512_set1_ps(inv);
            uint8_t *cr = c + (size_t)(r * nb + b) * AG_PV_TILE;
            for (int i = 0; i < NV; i++) {
                const __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(x[i], vi), X86_RND);
                _mm_store_si128((__m128i *)(cr + 16 * i), _mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512())));
            }
        }
    }
}

static void pv_q8_0_avx512(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv,
                           int64_t nr, int64_t nk, int64_t n, void *scratch)
{
    const int64_t nb = n / 32, ng = (nk + 3) / 4; /* codes of keys nk..4 ng - 1 come out 0 (masked p) */
    uint8_t *vp = scratch;
    float *dt = (float *)(vp + (size_t)AG_PV_TILE * n);
    uint8_t *c = vp + (size_t)(AG_PV_TILE + 8) * n;
    float *cs = (float *)(c + (size_t)nr * nb * AG_PV_TILE);
    prefetch_tile(v, (size_t)nk * ldv);
    repack_q8_0(v, ldv, nk, n, vp, dt);
    switch ((nk + 15) / 16) { /* NV a constant: the x[] stay in registers */
    case 4: pvq_weights(p, ldp, nr, nk, nb, dt, c, cs, 4); break;
    case 3: pvq_weights(p, ldp, nr, nk, nb, dt, c, cs, 3); break;
    case 2: pvq_weights(p, ldp, nr, nk, nb, dt, c, cs, 2); break;
    default: pvq_weights(p, ldp, nr, nk, nb, dt, c, cs, 1); break;
    }
    int64_t e = 0;
    for (; e + 64 <= n; e += 64)
        pvq_strip(y + e, ldy, c + (e / 32) * AG_PV_TILE, cs + e / 32, nb, vp + 4 * e, n, ng, nr, 4);
    if (e < n) pvq_strip(y + e, ldy, c + (e / 32) * AG_PV_TILE, cs + e / 32, nb, vp + 4 * e, n, ng, nr, 2);
}

/* ---- the int16 path: keys_i16, qk_i16, values_i16, pv_i16 (VNNI vpdpwssd) ---- */

/* keys_i16's buffer: the tile's key codes transposed at 0, 16 keys per
 * group g, for each pair i2 of values one 64-byte vector at byte
 * (g * n / 2 + i2) * 64 whose 32-bit lane j holds codes 2 i2, 2 i2 + 1 of
 * key sigma(j) (the order packs_epi32 leaves them in: sigma below; the
 * scores are put back in key order once, when stored); the key block
 * scales dk[b * AG_PV_TILE + 16 g + j] (same lane order) at byte
 * AG_PV_TILE * n * 2. */
#define I16_SIGMA 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15      /* lane -> key */
#define I16_SIGMA_INV 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15  /* key -> lane */
#define SETR16(...) _mm512_setr_epi32(__VA_ARGS__) /* expands the lists above first */

/* acc + the pairwise int16 products of a and b (vpdpwssd). GCC (12) keeps
 * an array of accumulators of _mm512_dpwssd_epi32 in registers only by
 * copying all of them twice per step (two vmovdqa per vpdpwssd: the
 * kernels ran at 0.65x of the instruction's throughput); the same
 * instruction as an asm statement with a tied operand does not. */
AG_INLINE __m512i dpwssd(__m512i acc, __m512i a, __m512i b)
{
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
#else
    return _mm512_dpwssd_epi32(acc, a, b);
#endif
}

/* 16 x 16 32-bit transpose: r[j] lane c -> r[c] lane j */
AG_INLINE void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* r[4 i + c] 128-bit lane L: column 4 L + c of rows 4 i .. 4 i + 3 */
    for (int c = 0; c < 4; c++) {
        const __m512i v0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xee);
        const __m512i v2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44), v3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xee);
        t[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        t[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
        t[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        t[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* keys [16 g, 16 g + kn) of the tile, all blocks, into the scratch layout */
static void qki_keys(const uint8_t *W, size_t ws, int64_t n, int64_t g, int64_t kn, uint8_t *kt, float *dk)
{
    const __m512i abs16 = _mm512_set1_epi16(0x7fff), lo16 = _mm512_set1_epi32(0xffff);
    const __m512i sig = SETR16(I16_SIGMA);
    const __m512i dup_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i dup_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m512 c8191 = _mm512_set1_ps(8191.0f);
    for (int64_t b = 0; b < n / 32; b++) {
        __m512i r[16];
        for (int j = 0; j < 16; j++)
            r[j] = j < kn ? _mm512_loadu_si512(W + (size_t)(16 * g + j) * ws + 64 * b) : _mm512_setzero_si512();
        transpose16(r); /* r[c]: lane j = key j's values 2 c, 2 c + 1 of the block (f16 bits) */
        __m512i mx = _mm512_and_si512(r[0], abs16);
        for (int c = 1; c < 16; c++) mx = _mm512_max_epu16(mx, _mm512_and_si512(r[c], abs16));
        mx = _mm512_and_si512(_mm512_max_epu16(mx, _mm512_srli_epi32(mx, 16)), lo16); /* lane j: key j's max |x| */
        const __mmask16 bad = _mm512_cmpge_epu32_mask(mx, _mm512_set1_epi32(0x7c00)); /* inf / NaN in the block */
        const __mmask16 ok = (__mmask16)(_mm512_test_epi32_mask(mx, mx) & ~bad);
        const __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(mx));
        const __m512 inv = _mm512_maskz_div_ps(ok, c8191, m);
        _mm512_store_ps(dk + b * AG_PV_TILE + 16 * g, _mm512_permutexvar_ps(sig, _mm512_maskz_div_ps(ok, m, c8191)));
        if (bad)
            for (int c = 0; c < 16; c++) r[c] = _mm512_maskz_mov_epi32((__mmask16)~bad, r[c]);
        const __m512 inv_lo = _mm512_permutexvar_ps(dup_lo, inv), inv_hi = _mm512_permutexvar_ps(dup_hi, inv);
        for (int c = 0; c < 16; c++) {
            const __m512 xl = _mm512_cvtph_ps(_mm512_castsi512_si256(r[c]));
            const __m512 xh = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(r[c], 1));
            const __m512i cl = _mm512_cvt_roundps_epi32(_mm512_mul_ps(xl, inv_lo), X86_RND);
            const __m512i ch = _mm512_cvt_roundps_epi32(_mm512_mul_ps(xh, inv_hi), X86_RND);
            /* 128-bit lane L: keys 2L, 2L+1 from cl then 8+2L, 9+2L from ch: lane order sigma */
            _mm512_store_si512(kt + (size_t)(g * (n / 2) + 16 * b + c) * 64, _mm512_packs_epi32(cl, ch));
        }
    }
}

/* query rows r < R x key groups g0 .. g0 + G - 1 */
AG_INLINE void qki_tile(const uint8_t *kt, const float *dk, const uint8_t *a, size_t as, int64_t n, float *y,
                        size_t ldy, int64_t nr, int64_t g0, const int R, const int G)
{
    const int64_t nb = n / 32, half = n / 2;
    __m512 accf[6][4];
    for (int r = 0; r < R; r++)
        for (int gi = 0; gi < G; gi++) accf[r][gi] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i ai[6][4];
        for (int r = 0; r < R; r++)
            for (int gi = 0; gi < G; gi++) ai[r][gi] = _mm512_setzero_si512();
        for (int j = 0; j < 16; j++) {
            const int64_t i2 = 16 * b + j;
            __m512i kv[4];
            for (int gi = 0; gi < G; gi++) kv[gi] = _mm512_load_si512(kt + ((g0 + gi) * half + i2) * 64);
            for (int r = 0; r < R; r++) {
                int32_t q2;
                memcpy(&q2, a + r * as + 4 * i2, 4);
                const __m512i bq = _mm512_set1_epi32(q2);
                for (int gi = 0; gi < G; gi++) ai[r][gi] = dpwssd(ai[r][gi], bq, kv[gi]);
            }
        }
        for (int r = 0; r < R; r++) {
            const __m512 dq = _mm512_set1_ps(x86_f32(a + r * as + 2 * n + 4 * b));
            for (int gi = 0; gi < G; gi++) {
                const __m512 d = _mm512_mul_ps(dq, _mm512_load_ps(dk + b * AG_PV_TILE + 16 * (g0 + gi)));
                accf[r][gi] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[r][gi]), d, accf[r][gi]);
            }
        }
    }
    const __m512i unsig = SETR16(I16_SIGMA_INV);
    for (int r = 0; r < R; r++)
        for (int gi = 0; gi < G; gi++)
            _mm512_mask_storeu_ps(y + r * ldy + 16 * (g0 + gi), mask16(nr - 16 * (g0 + gi)),
                                  _mm512_permutexvar_ps(unsig, accf[r][gi]));
}

#define QKI_R 6 /* query rows per register tile (x 2 groups of 16 keys; 3 x 4 measured 0.95x) */

/* qki_tile(..., 6, 2) written out: accumulators as named variables (see
 * pvi_tile44) and the rows addressed from two bases (GCC otherwise kept
 * row addresses in vector registers and moved them back per block) */
__attribute__((noinline)) static void qki_tile62(const uint8_t *kt, const float *dk, const uint8_t *a, size_t as,
                                                 int64_t n, float *y, size_t ldy, int64_t nr, int64_t g0)
{
    const int64_t nb = n / 32, half = n / 2;
    const uint8_t *k0 = kt + (size_t)(g0 * half) * 64, *k1 = k0 + (size_t)half * 64;
    const uint8_t *a0 = a, *a3 = a + 3 * as;
    const size_t as2 = 2 * as;
    __m512 f00 = _mm512_setzero_ps(), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00,
           f40 = f00, f41 = f00, f50 = f00, f51 = f00;
    for (int64_t b = 0; b < nb; b++) {
        __m512i i00 = _mm512_setzero_si512(), i01 = i00, i10 = i00, i11 = i00, i20 = i00, i21 = i00, i30 = i00,
                i31 = i00, i40 = i00, i41 = i00, i50 = i00, i51 = i00;
        for (int64_t i2 = 16 * b; i2 < 16 * b + 16; i2++) {
            const __m512i kv0 = _mm512_load_si512(k0 + i2 * 64), kv1 = _mm512_load_si512(k1 + i2 * 64);
            int32_t q2;
            __m512i bq;
#define QKI_ROW(r, base, off)                                                                                \
            memcpy(&q2, base + off + 4 * i2, 4);                                                             \
            bq = _mm512_set1_epi32(q2);                                                                      \
            i##r##0 = dpwssd(i##r##0, bq, kv0);                                                              \
            i##r##1 = dpwssd(i##r##1, bq, kv1);
            QKI_ROW(0, a0, 0) QKI_ROW(1, a0, as) QKI_ROW(2, a0, as2)
            QKI_ROW(3, a3, 0) QKI_ROW(4, a3, as) QKI_ROW(5, a3, as2)
#undef QKI_ROW
        }
        const __m512 dk0 = _mm512_load_ps(dk + b * AG_PV_TILE + 16 * g0);
        const __m512 dk1 = _mm512_load_ps(dk + b * AG_PV_TILE + 16 * (g0 + 1));
        const uint8_t *s0 = a0 + 2 * n + 4 * b, *s3 = a3 + 2 * n + 4 * b;
        __m512 dq;
#define QKI_FLUSH(r, base, off)                                                                              \
        dq = _mm512_set1_ps(x86_f32(base + off));                                                            \
        f##r##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##r##0), _mm512_mul_ps(dq, dk0), f##r##0);             \
        f##r##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##r##1), _mm512_mul_ps(dq, dk1), f##r##1);
        QKI_FLUSH(0, s0, 0) QKI_FLUSH(1, s0, as) QKI_FLUSH(2, s0, as2)
        QKI_FLUSH(3, s3, 0) QKI_FLUSH(4, s3, as) QKI_FLUSH(5, s3, as2)
#undef QKI_FLUSH
    }
    const __m512 f[6][2] = {{f00, f01}, {f10, f11}, {f20, f21}, {f30, f31}, {f40, f41}, {f50, f51}};
    const __m512i unsig = SETR16(I16_SIGMA_INV);
    for (int r = 0; r < 6; r++)
        for (int gi = 0; gi < 2; gi++)
            _mm512_mask_storeu_ps(y + r * ldy + 16 * (g0 + gi), mask16(nr - 16 * (g0 + gi)),
                                  _mm512_permutexvar_ps(unsig, f[r][gi]));
}

AG_INLINE void qki_rows(const uint8_t *kt, const float *dk, const uint8_t *a, size_t as, int64_t n, float *y,
                        size_t ldy, int64_t nr, const int R)
{
    const int64_t ng = (nr + 15) / 16;
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2) {
        if (R == 6) qki_tile62(kt, dk, a, as, n, y, ldy, nr, g);
        else qki_tile(kt, dk, a, as, n, y, ldy, nr, g, R, 2);
    }
    if (g < ng) qki_tile(kt, dk, a, as, n, y, ldy, nr, g, R, 1);
}

static void keys_i16_avx512(int64_t n, const void *w, size_t ws, int64_t nr, void *kt)
{
    float *dk = (float *)((uint8_t *)kt + (size_t)AG_PV_TILE * n * 2);
    for (int64_t g = 0; g < (nr + 15) / 16; g++) qki_keys(w, ws, n, g, nr - 16 * g < 16 ? nr - 16 * g : 16, kt, dk);
}

static void qk_i16_avx512(int64_t n, const void *kt_, const void *a, size_t as, float *y, size_t ldy, int64_t nr,
                          int64_t nt)
{
    const uint8_t *kt = kt_, *A = a;
    const float *dk = (const float *)(kt + (size_t)AG_PV_TILE * n * 2);
    int64_t t = 0;
    for (; t + QKI_R <= nt; t += QKI_R) qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, QKI_R);
    switch (nt - t) {
    case 5: qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, 5); break;
    case 4: qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, 4); break;
    case 3: qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, 3); break;
    case 2: qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, 2); break;
    case 1: qki_rows(kt, dk, A + t * as, as, n, y + t * ldy, ldy, nr, 1); break;
    default: break;
    }
}

/* values_i16's buffer: the tile's value codes at 0 in strips of 64
 * dimensions (the last one 32 wide when n % 64 == 32), each strip a
 * contiguous block of AG_PV_TILE * 128 bytes at byte s * AG_PV_TILE * 2
 * (s its first dimension): key pair kp and dimension e at bytes
 * (kp * w + e - s) * 4 of it, w its width (codes of keys 2 kp, 2 kp + 1;
 * the missing partner of an odd nk is 0); the dimension scales dv[e] at
 * byte AG_PV_TILE * n * 2, their inverses 8191 / max after them. A strip
 * is what one register tile of pv_i16 reads for every key pair: kept
 * contiguous, it spreads over every L1 set (key-pair rows of all n
 * dimensions, 1 KiB apart at Dh 256, put a strip's 128 lines into 16 sets,
 * 8 to a set, so that any other line there evicted one). */
static void pvi_values(const uint8_t *v, size_t ldv, int64_t nk, int64_t n, uint8_t *vp, float *dv, float *inv)
{
    const __m512i abs16 = _mm512_set1_epi16(0x7fff);
    const __m512 c8191 = _mm512_set1_ps(8191.0f);
    for (int64_t e = 0; e < n; e += 32) {
        __m512i mx = _mm512_setzero_si512();
        for (int64_t k = 0; k < nk; k++)
            mx = _mm512_max_epu16(mx, _mm512_and_si512(_mm512_loadu_si512(v + (size_t)k * ldv + 2 * e), abs16));
        const __mmask32 ok = _mm512_cmplt_epu16_mask(mx, _mm512_set1_epi16(0x7c00)) & _mm512_test_epi16_mask(mx, mx);
        for (int h = 0; h < 2; h++) {
            const __mmask16 okh = (__mmask16)(ok >> (16 * h));
            const __m512 m = _mm512_cvtph_ps(h ? _mm512_extracti64x4_epi64(mx, 1) : _mm512_castsi512_si256(mx));
            _mm512_store_ps(dv + e + 16 * h, _mm512_maskz_div_ps(okh, m, c8191));
            _mm512_store_ps(inv + e + 16 * h, _mm512_maskz_div_ps(okh, c8191, m));
        }
    }
    for (int64_t k = 0; k < nk; k += 2) {
        const uint8_t *v0 = v + (size_t)k * ldv, *v1 = k + 1 < nk ? v0 + ldv : NULL;
        for (int64_t e = 0; e < n; e += 16) {
            const __m512 iv = _mm512_load_ps(inv + e);
            /* a dimension with a non-finite value has inv 0 and codes 0 (lanes masked) */
            const __mmask16 ok = _mm512_test_epi32_mask(_mm512_castps_si512(iv), _mm512_castps_si512(iv));
            const __m512i c0 = _mm512_maskz_cvt_roundps_epi32(ok, _mm512_mul_ps(_mm512_cvtph_ps(load256(v0 + 2 * e)), iv), X86_RND);
            __m512i c1 = _mm512_setzero_si512();
            if (v1) c1 = _mm512_maskz_cvt_roundps_epi32(ok, _mm512_mul_ps(_mm512_cvtph_ps(load256(v1 + 2 * e)), iv), X86_RND);
            const int64_t s0 = e / 64 * 64, w = n - s0 < 64 ? n - s0 : 64;
            _mm512_store_si512(vp + (size_t)s0 * AG_PV_TILE * 2 + (size_t)((k / 2) * w + e - s0) * 4,
                               _mm512_mask_blend_epi16(0xaaaaaaaau, c0, _mm512_slli_epi32(c1, 16)));
        }
    }
}

/* y rows r < R, columns [0, 16 CV) += the integer sums acc, scaled by
 * their row's weight scale sp[r] and their dimension's value scale */
AG_INLINE void pvi_flush(float *y, size_t ldy, const float *sp, const float *dv, const __m512i acc[4][4], const int R,
                         const int CV)
{
    for (int r = 0; r < R; r++) {
        const __m512 s = _mm512_set1_ps(sp[r]);
        for (int c = 0; c < CV; c++) {
            float *yr = y + (size_t)r * ldy + 16 * c;
            const __m512 d = _mm512_mul_ps(s, _mm512_load_ps(dv + 16 * c));
            _mm512_storeu_ps(yr, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][c]), d, _mm512_loadu_ps(yr)));
        }
    }
}

/* y rows r < R, columns [0, 16 CV) += the 12-bit weights cp (R rows of
 * AG_PV_TILE int16) x the value codes, scaled */
AG_INLINE void pvi_tile(float *y, size_t ldy, const int16_t *cp, const float *sp, const uint8_t *vp, const float *dv,
                        int64_t nkp, const int R, const int CV)
{
    __m512i acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CV; c++) acc[r][c] = _mm512_setzero_si512();
    for (int64_t kp = 0; kp < nkp; kp++) {
        const uint8_t *vk = vp + (size_t)kp * CV * 64;
        __m512i vv[4];
        for (int c = 0; c < CV; c++) vv[c] = _mm512_load_si512(vk + 64 * c);
        for (int r = 0; r < R; r++) {
            int32_t c2;
            memcpy(&c2, cp + r * AG_PV_TILE + 2 * kp, 4);
            const __m512i bp = _mm512_set1_epi32(c2);
            for (int c = 0; c < CV; c++) acc[r][c] = dpwssd(acc[r][c], bp, vv[c]);
        }
    }
    pvi_flush(y, ldy, sp, dv, acc, R, CV);
}

/* the full register tiles as functions of their own: inlined into the row
 * loop, GCC kept loop invariants of the surrounding code in registers and
 * spilled value vectors to the stack inside the key loop. pvi_tile44 is
 * pvi_tile(..., 4, 4) written out with the accumulators as named
 * variables: as an array, GCC kept them on the stack, stored them back
 * each tile and copied three through other registers every key pair
 * (test_attn_ops --bench-i16, coded once: ~0.82x of vpdpwssd's peak rate
 * then, ~0.85x now). Pinning them to registers (register asm) was faster
 * still but not safe: calls that the sanitizers insert clobber them. */
__attribute__((noinline)) static void pvi_tile44(float *y, size_t ldy, const int16_t *cp, const float *sp,
                                                 const uint8_t *vp, const float *dv, int64_t nkp)
{
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
            a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int64_t kp = 0; kp < nkp; kp++) {
        const uint8_t *vk = vp + (size_t)kp * 256;
        const __m512i v0 = _mm512_load_si512(vk), v1 = _mm512_load_si512(vk + 64), v2 = _mm512_load_si512(vk + 128),
                      v3 = _mm512_load_si512(vk + 192);
        int32_t c2;
        __m512i b;
#define PVI_ROW(r)                                                                                           \
        memcpy(&c2, cp + r * AG_PV_TILE + 2 * kp, 4);                                                        \
        b = _mm512_set1_epi32(c2);                                                                           \
        a##r##0 = dpwssd(a##r##0, b, v0);                                                                    \
        a##r##1 = dpwssd(a##r##1, b, v1);                                                                    \
        a##r##2 = dpwssd(a##r##2, b, v2);                                                                    \
        a##r##3 = dpwssd(a##r##3, b, v3);
        PVI_ROW(0) PVI_ROW(1) PVI_ROW(2) PVI_ROW(3)
#undef PVI_ROW
    }
    const __m512i acc[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}, {a30, a31, a32, a33}};
    pvi_flush(y, ldy, sp, dv, acc, 4, 4);
}

/* R rows: their weights quantized once, then every column strip */
AG_INLINE void pvi_rows(float *y, size_t ldy, const float *p, size_t ldp, const uint8_t *vp, const float *dv,
                        int64_t nk, int64_t n, const int R)
{
    _Alignas(64) int16_t cp[4 * AG_PV_TILE];
    float sp[4];
    for (int r = 0; r < R; r++) {
        __m512 pr[AG_PV_TILE / 16], mx = _mm512_setzero_ps();
        for (int i = 0; i < AG_PV_TILE / 16; i++) {
            pr[i] = _mm512_maskz_loadu_ps(mask16(nk - 16 * i), p + (size_t)r * ldp + 16 * i);
            mx = _mm512_max_ps(mx, pr[i]);
        }
        const float m = _mm512_reduce_max_ps(mx);
        const bool live = m > 0x1p-64f; /* as ag_pv_f16_i16_ref */
        const __m512 vi = _mm512_set1_ps(live ? 4095.0f / m : 0.0f);
        sp[r] = live ? m / 4095.0f : 0.0f;
        for (int i = 0; i < AG_PV_TILE / 16; i++)
            _mm256_store_si256((__m256i *)(cp + r * AG_PV_TILE + 16 * i),
                               _mm512_cvtepi32_epi16(_mm512_cvt_roundps_epi32(_mm512_mul_ps(pr[i], vi), X86_RND)));
    }
    const int64_t nkp = (nk + 1) / 2;
    int64_t e = 0;
    for (; e + 64 <= n; e += 64) {
        if (R == 4) pvi_tile44(y + e, ldy, cp, sp, vp + e * AG_PV_TILE * 2, dv + e, nkp);
        else pvi_tile(y + e, ldy, cp, sp, vp + e * AG_PV_TILE * 2, dv + e, nkp, R, 4);
    }
    if (e < n) pvi_tile(y + e, ldy, cp, sp, vp + e * AG_PV_TILE * 2, dv + e, nkp, R, 2); /* n % 64 == 32 */
}

static void values_i16_avx512(int64_t n, const void *v, size_t ldv, int64_t nk, void *vt)
{
    float *dv = (float *)((uint8_t *)vt + (size_t)AG_PV_TILE * n * 2);
    pvi_values(v, ldv, nk, n, vt, dv, dv + n);
}

static void pv_i16_avx512(float *y, size_t ldy, const float *p, size_t ldp, const void *vt, int64_t nr, int64_t nk,
                          int64_t n)
{
    const uint8_t *vp = vt;
    const float *dv = (const float *)(vp + (size_t)AG_PV_TILE * n * 2);
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) pvi_rows(y + (size_t)r * ldy, ldy, p + (size_t)r * ldp, ldp, vp, dv, nk, n, 4);
    float *yr = y + (size_t)r * ldy;
    const float *pr = p + (size_t)r * ldp;
    switch (nr - r) {
    case 3: pvi_rows(yr, ldy, pr, ldp, vp, dv, nk, n, 3); break;
    case 2: pvi_rows(yr, ldy, pr, ldp, vp, dv, nk, n, 2); break;
    case 1: pvi_rows(yr, ldy, pr, ldp, vp, dv, nk, n, 1); break;
    default: break;
    }
}

/* ag_act_quant_i16_ref, 32 values per step */
static void quant_i16_avx512(const float *x, void *dst, int64_t n)
{
    int16_t *c = dst;
    float *d = (float *)((uint8_t *)dst + 2 * (size_t)n);
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)), fmax = _mm512_set1_ps(FLT_MAX);
    for (int64_t b = 0; b < n / 32; b++) {
        const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        const __m512 a0 = _mm512_and_ps(x0, absm), a1 = _mm512_and_ps(x1, absm);
        /* not <= FLT_MAX: inf or NaN */
        const __mmask16 bad = _mm512_cmp_ps_mask(a0, fmax, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, fmax, _CMP_NLE_UQ);
        const float m = bad ? 0.0f : _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        const float inv = m > 0 ? 8191.0f / m : 0.0f;
        if (!(m > 0) || !(inv <= FLT_MAX)) {
            _mm512_storeu_si512(c + 32 * b, _mm512_setzero_si512());
            d[b] = 0;
            continue;
        }
        const __m512 vi = _mm512_set1_ps(inv);
        const __m512i c0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(x0, vi), X86_RND);
        const __m512i c1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(x1, vi), X86_RND);
        _mm256_storeu_si256((__m256i *)(c + 32 * b), _mm512_cvtepi32_epi16(c0));
        _mm256_storeu_si256((__m256i *)(c + 32 * b + 16), _mm512_cvtepi32_epi16(c1));
        d[b] = m / 8191.0f;
    }
}

/* ---- to_f32 ---- */

static void to_f32_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src; /* any alignment: only unaligned (masked) loads touch it */
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i))));
        _mm512_storeu_ps(dst + i + 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i + 32))));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = mask16(n - i);
        _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, s + 2 * i)));
    }
}

AG_INLINE __m512 bf16x16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

static void to_f32_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(dst + i, bf16x16(_mm256_loadu_si256((const __m256i *)(s + 2 * i))));
        _mm512_storeu_ps(dst + i + 16, bf16x16(_mm256_loadu_si256((const __m256i *)(s + 2 * i + 32))));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = mask16(n - i);
        _mm512_mask_storeu_ps(dst + i, k, bf16x16(_mm256_maskz_loadu_epi16(k, s + 2 * i)));
    }
}

static void to_f32_q8_0(const void *src, float *dst, int64_t n)
{
    const blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const __m512 d = _mm512_set1_ps(x86_f16(b[i].d));
        _mm512_storeu_ps(dst, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(b[i].qs)))));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(b[i].qs + 16)))));
    }
}

static void to_f32_q4_0(const void *src, float *dst, int64_t n)
{
    const blk_q4_0 *b = src;
    const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const __m512 d = _mm512_set1_ps(x86_f16(b[i].d));
        const __m128i x = load128(b[i].qs);
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(x, m4), eight);                    /* values 0..15 */
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(x, 4), m4), eight); /* values 16..31 */
        _mm512_storeu_ps(dst, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
    }
}

void ag_kernels_setup_attn_avx512(ag_kernel_level *lv)
{
    lv->exp_sum = exp_sum_avx512;
    lv->max_f32 = max_f32_avx512;
    lv->softmax_rows = softmax_rows_avx512;
    lv->silu_mul = silu_mul_avx512;
    lv->pv_f32 = pv_f32_avx512;
    lv->qk_f16 = qk_f16_avx512;
    if (lv->k[AG_TYPE_Q8_0].act_fmt == AG_ACT_Q8_0S) lv->qk_q8_0 = qk_q8_0_avx512; /* reads q8_0s rows */
    lv->pv_f16 = pv_f16_avx512;
    lv->pv_q8_0 = pv_q8_0_avx512;
    lv->keys_i16 = keys_i16_avx512;
    lv->qk_i16 = qk_i16_avx512;
    lv->values_i16 = values_i16_avx512;
    lv->pv_i16 = pv_i16_avx512;
    lv->quant_i16 = quant_i16_avx512;
    lv->k[AG_TYPE_F16].to_f32 = to_f32_f16;
    lv->k[AG_TYPE_BF16].to_f32 = to_f32_bf16;
    lv->k[AG_TYPE_Q8_0].to_f32 = to_f32_q8_0;
    lv->k[AG_TYPE_Q4_0].to_f32 = to_f32_q4_0;
}
