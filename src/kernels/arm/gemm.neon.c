/* gemm.neon.c: the "neon" level (ARMv8.0-A Advanced SIMD, every arm64 CPU).
 *
 * The kernels are arm_common.h's, built here without the dotprod extension,
 * so int8 dots use SMULL/SMLAL2 + SADALP (see dot16 there). This is the
 * level of the oldest phones (Cortex-A53/A57/A72/A73). */
#if defined(__aarch64__)
#include "kernels/arm/arm_common.h"

void ag_kernels_setup_neon(ag_kernel_level *lv)
{
    arm_fill_level(lv);
    ag_kernels_setup_attn_neon(lv);
}
#else
typedef int ag_kernels_neon_unused; /* this file is built for arm64 only */
#endif
