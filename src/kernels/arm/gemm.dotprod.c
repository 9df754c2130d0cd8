/* gemm.dotprod.c: the "dotprod" level (ARMv8.2-A + SDOT/UDOT, the
 * FEAT_DotProd of Cortex-A55/A75/A76 and later phones, Apple M1, Graviton2).
 *
 * The same kernels as the neon level (arm_common.h), compiled with
 * -march=armv8.2-a+dotprod so that dot16 is one SDOT: four int8 products
 * summed into each int32 lane, a quarter of the instructions of the neon
 * fallback. */
#if defined(__aarch64__)
#include "kernels/arm/arm_common.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "gemm.dotprod.c must be compiled with -march=armv8.2-a+dotprod (CMakeLists.txt)"
#endif

void ag_kernels_setup_dotprod(ag_kernel_level *lv) { arm_fill_level(lv); }
#else
typedef int ag_kernels_dotprod_unused; /* this file is built for arm64 only */
#endif
