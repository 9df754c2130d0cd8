/* ref.h: the portable reference kernels behind the rows of types.c.
 *
 * One family per file: q_float.c (f32, f16, bf16), q_legacy.c (q4_0 .. q8_1),
 * q_k.c (q2_K .. q8_K), q_iq.c (iq4_nl, iq4_xs). Names follow
 * ag_quant_<verb>_<type> so types.c can build its table with one macro per
 * row. Internal to src/quant/ and its tests: everyone else goes through
 * ag_type_traits_of(). (One generic function taking a type id was rejected:
 * a switch per call in the matmul inner loop, and no per-type symbol for
 * later SIMD versions to stand beside.) */
#ifndef AG_QUANT_REF_H
#define AG_QUANT_REF_H

#include <stdint.h>

#define AG_DECLARE_TYPE_FNS(name)                                              \
    void ag_quant_dequant_##name(const void *src, float *dst, int64_t n);      \
    void ag_quant_quantize_##name(const float *src, void *dst, int64_t n);     \
    float ag_quant_dot_##name(const void *row, const float *x, int64_t n);

AG_DECLARE_TYPE_FNS(f32)
AG_DECLARE_TYPE_FNS(f16)
AG_DECLARE_TYPE_FNS(bf16)
AG_DECLARE_TYPE_FNS(q4_0)
AG_DECLARE_TYPE_FNS(q4_1)
AG_DECLARE_TYPE_FNS(q5_0)
AG_DECLARE_TYPE_FNS(q5_1)
AG_DECLARE_TYPE_FNS(q8_0)
AG_DECLARE_TYPE_FNS(q8_1)
AG_DECLARE_TYPE_FNS(q2_K)
AG_DECLARE_TYPE_FNS(q3_K)
AG_DECLARE_TYPE_FNS(q4_K)
AG_DECLARE_TYPE_FNS(q5_K)
AG_DECLARE_TYPE_FNS(q6_K)
AG_DECLARE_TYPE_FNS(q8_K)
AG_DECLARE_TYPE_FNS(iq4_nl)
AG_DECLARE_TYPE_FNS(iq4_xs)

#undef AG_DECLARE_TYPE_FNS

#endif
