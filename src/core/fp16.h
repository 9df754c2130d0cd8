/* fp16.h: IEEE binary16 and bfloat16 conversions, portable C (no F16C needed).
 * Round-to-nearest-even on the way down; NaN stays NaN. */
#ifndef AG_CORE_FP16_H
#define AG_CORE_FP16_H

#include <stdint.h>
#include <string.h>

static inline float ag_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t ag_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float ag_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return ag_bits_to_f32(sign | 0x7f800000u | (man << 13));
    return ag_bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t ag_f32_to_f16(float f)
{
    uint32_t x = ag_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
    if (ax < 0x38800000u) {                                    /* subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign;           /* < half the smallest subnormal */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                              /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float ag_bf16_to_f32(uint16_t h) { return ag_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t ag_f32_to_bf16(float f)
{
    uint32_t x = ag_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

#endif
