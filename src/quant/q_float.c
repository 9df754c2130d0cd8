/* q_float.c: the unblocked types f32, f16 (IEEE binary16) and bf16 (upper 16
 * bits of binary32), all little-endian with block size 1.
 *
 * Values are read and written byte-wise (rd_u16/wr_u16 from blocks.h), so a
 * row may start at any address. Conversions are the ones in core/fp16.h:
 * round to nearest even on the way down, NaN stays NaN. The dot products
 * accumulate in f32 in chunks of 32 (the same "blockwise" shape as the
 * quantized types) so f16/bf16 rows do not need a conversion buffer. */
#include "quant/blocks.h"
#include "quant/ref.h"

#include <string.h>

void ag_quant_dequant_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void ag_quant_quantize_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

float ag_quant_dot_f32(const void *row, const float *x, int64_t n)
{
    const uint8_t *p = row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n;) {
        float part = 0.0f;
        for (int64_t e = i + 32 < n ? i + 32 : n; i < e; i++) part += rd_f32(p + 4 * i) * x[i];
        sum += part;
    }
    return sum;
}

void ag_quant_dequant_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(p + 2 * i);
}

void ag_quant_quantize_f16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) wr_f16(p + 2 * i, src[i]);
}

float ag_quant_dot_f16(const void *row, const float *x, int64_t n)
{
    const uint8_t *p = row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n;) {
        float part = 0.0f;
        for (int64_t e = i + 32 < n ? i + 32 : n; i < e; i++) part += rd_f16(p + 2 * i) * x[i];
        sum += part;
    }
    return sum;
}

void ag_quant_dequant_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = ag_bf16_to_f32(rd_u16(p + 2 * i));
}

void ag_quant_quantize_bf16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) wr_u16(p + 2 * i, ag_f32_to_bf16(src[i]));
}

float ag_quant_dot_bf16(const void *row, const float *x, int64_t n)
{
    const uint8_t *p = row;
    float sum = 0.0f;
    for (int64_t i = 0; i < n;) {
        float part = 0.0f;
        for (int64_t e = i + 32 < n ? i + 32 : n; i < e; i++) part += ag_bf16_to_f32(rd_u16(p + 2 * i)) * x[i];
        sum += part;
    }
    return sum;
}
