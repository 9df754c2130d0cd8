/* q_iq.c: the non-linear 4-bit types iq4_nl and iq4_xs.
 *
 * Both map a 4-bit code to one of 16 fixed, unevenly spaced levels
 * (ag_kvalues_iq4nl, denser near zero, from ggml-common.h) times a scale:
 *   iq4_nl  18 B  32 values: d f16, qs[16]; x = d * kv[code], codes arranged
 *                 as q4_0 (value j low nibble of qs[j], j + 16 high nibble)
 *   iq4_xs 136 B  256 values: d f16, scales_h u16, scales_l[4], qs[128];
 *                 8 sub-blocks of 32 with a 6-bit scale ls (4 low bits in a
 *                 nibble of scales_l[ib/2], 2 high bits at bit 2ib of
 *                 scales_h), x = d * (ls - 32) * kv[code]; sub-block ib uses
 *                 qs[16ib ..] arranged as iq4_nl.
 *
 * Quantizer: for each block (iq4_nl) or sub-block (iq4_xs), try scales
 * around max / kv[0] (the signed extreme on the -127 level, +-9 levels, i.e.
 * +-7%, as wide as ggml's search), pick the nearest
 * level per value, re-fit the scale by least squares and keep the best. This
 * is ggml's idea (quantize_row_iq4_nl_impl) without the importance weights;
 * codes are then re-picked against the scale actually stored. */
#include "quant/blocks.h"
#include "quant/ref.h"

const int8_t ag_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static void deq_iq4_nl(const blk_iq4_nl *b, float *y)
{
    const float d = rd_f16(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * ag_kvalues_iq4nl[b->qs[j] & 15];
        y[j + 16] = d * ag_kvalues_iq4nl[b->qs[j] >> 4];
    }
}

static void deq_iq4_xs(const blk_iq4_xs *b, float *y)
{
    const float d = rd_f16(b->d);
    const uint16_t sh = rd_u16(b->scales_h);
    for (int ib = 0; ib < 8; ib++) {
        const int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
        const float dl = d * (ls - 32);
        const uint8_t *qs = b->qs + 16 * ib;
        for (int j = 0; j < 16; j++) {
            y[32 * ib + j] = dl * ag_kvalues_iq4nl[qs[j] & 15];
            y[32 * ib + j + 16] = dl * ag_kvalues_iq4nl[qs[j] >> 4];
        }
    }
}

AG_DEFINE_ROW_FNS(iq4_nl, blk_iq4_nl, 32, deq_iq4_nl)
AG_DEFINE_ROW_FNS(iq4_xs, blk_iq4_xs, 256, deq_iq4_xs)

/* Index of the level nearest to v: the number of midpoints between
 * neighbouring levels that v exceeds (branch-free; NaN -> 0; an exact
 * midpoint goes to the lower level). */
static const float iq4_mid[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f, 19.0f, 31.5f, 45.5f, 61.0f, 79.0f, 101.0f};

static int nearest_level(float v)
{
    int idx = 0;
    for (int k = 0; k < 15; k++) idx += v > iq4_mid[k];
    return idx;
}

/* Best scale for x ~= s * kv[code] over n values (0 for an all-zero block). */
static float fit_iq4(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (!(amax > 1e-30f) || !isfinite(amax)) return 0.0f;
    float best_s = max / ag_kvalues_iq4nl[0], best = -1.0f;
    for (int t = -9; t <= 9; t++) {
        const float is = ((float)ag_kvalues_iq4nl[0] + t) / max; /* maps max near level 0, +-7% */
        float sxq = 0.0f, sqq = 0.0f;
        for (int i = 0; i < n; i++) {
            float q = ag_kvalues_iq4nl[nearest_level(is * x[i])];
            sxq += x[i] * q;
            sqq += q * q;
        }
        if (sqq > 0.0f && sxq * sxq / sqq > best) {
            best = sxq * sxq / sqq;
            best_s = sxq / sqq;
        }
    }
    return best_s;
}

/* Codes for 32 values against scale s, packed as q4_0 nibbles. */
static void pack_iq4(const float *x, float s, uint8_t *qs)
{
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(nearest_level(x[j] * is) | (nearest_level(x[j + 16] * is) << 4));
}

void ag_quant_quantize_iq4_nl(const float *src, void *dst, int64_t n)
{
    blk_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        const float d = ag_f16_to_f32(ag_f32_to_f16(fit_iq4(src, 32)));
        wr_f16(b[i].d, d);
        pack_iq4(src, d, b[i].qs);
    }
}

void ag_quant_quantize_iq4_xs(const float *src, void *dst, int64_t n)
{
    blk_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / 256; i++, src += 256) {
        float s[8], amax = 0.0f, max = 0.0f;
        for (int ib = 0; ib < 8; ib++) {
            s[ib] = fit_iq4(src + 32 * ib, 32);
            if (fabsf(s[ib]) > amax) {
                amax = fabsf(s[ib]);
                max = s[ib];
            }
        }
        /* 6-bit signed sub-block scales: the extreme scale maps to -32 */
        const float d = ag_f16_to_f32(ag_f32_to_f16(max / -32.0f));
        uint16_t sh = 0;
        memset(b[i].scales_l, 0, sizeof b[i].scales_l);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = (d != 0.0f ? nearest_int(s[ib] / d, -32, 31) : 0) + 32;
            b[i].scales_l[ib / 2] |= (uint8_t)((ls & 15) << (4 * (ib % 2)));
            sh |= (uint16_t)((ls >> 4) << (2 * ib));
            pack_iq4(src + 32 * ib, d * (ls - 32), b[i].qs + 16 * ib);
        }
        wr_f16(b[i].d, d);
        wr_u16(b[i].scales_h, sh);
    }
}
