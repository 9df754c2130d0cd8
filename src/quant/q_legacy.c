/* q_legacy.c: the 32-value block types q4_0, q4_1, q5_0, q5_1, q8_0, q8_1.
 *
 * Layouts (blocks.h has the structs; ggml-common.h is the source):
 *   q4_0  18 B  d f16, qs[16]           x = d * (q - 8),  q 4 bits
 *   q4_1  20 B  d f16, m f16, qs[16]    x = d * q + m,    q 4 bits
 *   q5_0  22 B  d f16, qh u32, qs[16]   x = d * (q - 16), q 5 bits
 *   q5_1  24 B  d, m f16, qh, qs[16]    x = d * q + m,    q 5 bits
 *   q8_0  34 B  d f16, qs[32] i8        x = d * q
 *   q8_1  36 B  d f16, s f16, qs[32]    x = d * q (s = d * sum q, for dots)
 * The 4/5-bit types split the block in halves: value j < 16 is the low
 * nibble of qs[j], value j + 16 the high nibble; the 5th bit of value j is
 * bit j of qh.
 *
 * Quantizers are the simple round-to-nearest schemes that ggml uses to write
 * files without an importance matrix (its *_ref functions), with the same
 * arithmetic (scale from the extreme value, multiply by 1/d computed before
 * d is rounded to f16), so quantizing an f32 model here reproduces
 * llama-quantize's bytes. Unlike ggml, every float-to-int conversion is
 * clamped first, so NaN/inf input gives defined (if meaningless) output
 * instead of undefined behaviour. */
#include "quant/blocks.h"
#include "quant/ref.h"

#include <float.h>

/* ---- dequantization, one block ---- */

static void deq_q4_0(const blk_q4_0 *b, float *y)
{
    const float d = rd_f16(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * ((b->qs[j] & 15) - 8);
        y[j + 16] = d * ((b->qs[j] >> 4) - 8);
    }
}

static void deq_q4_1(const blk_q4_1 *b, float *y)
{
    const float d = rd_f16(b->d), m = rd_f16(b->m);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (b->qs[j] & 15) + m;
        y[j + 16] = d * (b->qs[j] >> 4) + m;
    }
}

static void deq_q5_0(const blk_q5_0 *b, float *y)
{
    const float d = rd_f16(b->d);
    const uint32_t qh = rd_u32(b->qh);
    for (int j = 0; j < 16; j++) {
        int lo = (b->qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (lo - 16);
        y[j + 16] = d * (hi - 16);
    }
}

static void deq_q5_1(const blk_q5_1 *b, float *y)
{
    const float d = rd_f16(b->d), m = rd_f16(b->m);
    const uint32_t qh = rd_u32(b->qh);
    for (int j = 0; j < 16; j++) {
        int lo = (b->qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * lo + m;
        y[j + 16] = d * hi + m;
    }
}

static void deq_q8_0(const blk_q8_0 *b, float *y)
{
    const float d = rd_f16(b->d);
    for (int j = 0; j < 32; j++) y[j] = d * b->qs[j];
}

static void deq_q8_1(const blk_q8_1 *b, float *y)
{
    const float d = rd_f16(b->d);
    for (int j = 0; j < 32; j++) y[j] = d * b->qs[j];
}

AG_DEFINE_ROW_FNS(q4_0, blk_q4_0, 32, deq_q4_0)
AG_DEFINE_ROW_FNS(q4_1, blk_q4_1, 32, deq_q4_1)
AG_DEFINE_ROW_FNS(q5_0, blk_q5_0, 32, deq_q5_0)
AG_DEFINE_ROW_FNS(q5_1, blk_q5_1, 32, deq_q5_1)
AG_DEFINE_ROW_FNS(q8_0, blk_q8_0, 32, deq_q8_0)
AG_DEFINE_ROW_FNS(q8_1, blk_q8_1, 32, deq_q8_1)

/* ---- quantization ---- */

/* The signed value of largest magnitude (first one on ties) and its |.|. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* Symmetric 4/5-bit: d = max / -(2^(bits-1)) maps the extreme value to code
 * 0, q = floor(x / d + 2^(bits-1) + 0.5) clamped to the code range. */
static void quant_sym(const float *x, int bits, float *d_out, uint8_t *q)
{
    const float half = (float)(1 << (bits - 1)), top = (float)((1 << bits) - 1);
    float amax, max = signed_absmax(x, 32, &amax);
    const float d = max / -half;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)clampf(x[j] * id + (half + 0.5f), 0.0f, top);
    *d_out = d;
}

/* Affine 4/5-bit: d = (max - min) / (2^bits - 1), q = floor((x - min) / d + 0.5). */
static void quant_affine(const float *x, int bits, float *d_out, float *m_out, uint8_t *q)
{
    const float top = (float)((1 << bits) - 1);
    float mn, mx;
    min_max(x, 32, &mn, &mx);
    const float d = (mx - mn) / top;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)clampf((x[j] - mn) * id + 0.5f, 0.0f, top);
    *d_out = d;
    *m_out = mn;
}

static void pack_nibbles(const uint8_t *q, uint8_t *qs)
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

static uint32_t pack_high_bits(const uint8_t *q)
{
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j;
    return qh;
}

void ag_quant_quantize_q4_0(const float *src, void *dst, int64_t n)
{
    blk_q4_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        uint8_t q[32];
        float d;
        quant_sym(src, 4, &d, q);
        wr_f16(b[i].d, d);
        pack_nibbles(q, b[i].qs);
    }
}

void ag_quant_quantize_q4_1(const float *src, void *dst, int64_t n)
{
    blk_q4_1 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        uint8_t q[32];
        float d, m;
        quant_affine(src, 4, &d, &m, q);
        wr_f16(b[i].d, d);
        wr_f16(b[i].m, m);
        pack_nibbles(q, b[i].qs);
    }
}

void ag_quant_quantize_q5_0(const float *src, void *dst, int64_t n)
{
    blk_q5_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        uint8_t q[32];
        float d;
        quant_sym(src, 5, &d, q);
        wr_f16(b[i].d, d);
        wr_u32(b[i].qh, pack_high_bits(q));
        pack_nibbles(q, b[i].qs);
    }
}

void ag_quant_quantize_q5_1(const float *src, void *dst, int64_t n)
{
    blk_q5_1 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        uint8_t q[32];
        float d, m;
        quant_affine(src, 5, &d, &m, q);
        wr_f16(b[i].d, d);
        wr_f16(b[i].m, m);
        wr_u32(b[i].qh, pack_high_bits(q));
        pack_nibbles(q, b[i].qs);
    }
}

/* q8_0 / q8_1: d = amax / 127, q = round-half-away(x / d). Returns sum q. */
static int quant_q8(const float *x, float *d_out, int8_t *q)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)roundf(clampf(x[j] * id, -127.0f, 127.0f));
        sum += q[j];
    }
    *d_out = d;
    return sum;
}

void ag_quant_quantize_q8_0(const float *src, void *dst, int64_t n)
{
    blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float d;
        quant_q8(src, &d, b[i].qs);
        wr_f16(b[i].d, d);
    }
}

void ag_quant_quantize_q8_1(const float *src, void *dst, int64_t n)
{
    blk_q8_1 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float d;
        int sum = quant_q8(src, &d, b[i].qs);
        wr_f16(b[i].d, d);
        wr_f16(b[i].s, (float)sum * d);
    }
}
