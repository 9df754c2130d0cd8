/* cpu_features.h: what the CPU we run on can execute (issue 3, item 1).
 *
 * Detected once, at first call, with no compiler flags needed: cpuid plus
 * xgetbv on x86 (an instruction set only counts when the OS also saves the
 * register state it needs: YMM for AVX2, ZMM/opmask for AVX-512), and the
 * kernel's HWCAP bits (getauxval) on Linux/Android arm64. Other targets
 * (wasm, unknown) report nothing, which selects the portable kernels.
 *
 * Rejected: __builtin_cpu_supports (GCC/Clang-only, knows no avx512_bf16 on
 * older compilers and does not exist for arm64 on all toolchains), reading
 * /proc/cpuinfo (slow, absent on some Android builds, text format varies). */
#ifndef AG_CORE_CPU_FEATURES_H
#define AG_CORE_CPU_FEATURES_H

#include <stdbool.h>

typedef struct ag_cpu_features {
    /* x86-64 (all false elsewhere) */
    bool avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_vnni, avx512_bf16, avx_vnni;
    /* aarch64 (all false elsewhere) */
    bool asimd, asimddp, i8mm, asimdhp, sve;
} ag_cpu_features;

/* The running CPU's features; detected once, thread-safe, never NULL. */
const ag_cpu_features *ag_cpu_features_get(void);

#endif
