/* cpu_features.c: runtime CPU feature detection (see cpu_features.h).
 *
 * x86: cpuid leaf 1 (AVX, FMA, F16C, OSXSAVE), leaf 7 subleaf 0 (AVX2 and the
 * AVX-512 family, VNNI) and subleaf 1 (AVX-VNNI, AVX512_BF16); xgetbv(0)
 * must show the OS saving SSE+AVX state (bits 1,2) for any AVX feature and
 * additionally opmask+ZMM state (bits 5,6,7) for AVX-512. cpuid and xgetbv
 * are issued as inline asm so this file needs no ISA flags.
 * arm64 Linux/Android: AT_HWCAP / AT_HWCAP2 bits (values from the kernel's
 * uapi hwcap.h, defined here in case the libc headers are old).
 * The result is computed once; racing first calls compute the same value. */
#include "core/cpu_features.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    unsigned a, b, c, d;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
    r[0] = a; r[1] = b; r[2] = c; r[3] = d;
}

static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(ag_cpu_features *f)
{
    unsigned r[4];
    cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    if (max_leaf < 1) return;
    cpuid(1, 0, r);
    bool osxsave = (r[2] >> 27) & 1;
    if (!osxsave) return; /* no xgetbv: the OS does not save AVX state */
    unsigned long long xcr0 = xgetbv0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (!ymm_ok) return;
    f->avx = (r[2] >> 28) & 1;
    f->fma = (r[2] >> 12) & 1;
    f->f16c = (r[2] >> 29) & 1;
    if (max_leaf < 7) return;
    cpuid(7, 0, r);
    unsigned max_sub = r[0];
    f->avx2 = (r[1] >> 5) & 1;
    if (zmm_ok) {
        f->avx512f = (r[1] >> 16) & 1;
        f->avx512dq = (r[1] >> 17) & 1;
        f->avx512bw = (r[1] >> 30) & 1;
        f->avx512vl = (r[1] >> 31) & 1;
        f->avx512_vnni = (r[2] >> 11) & 1;
    }
    if (max_sub >= 1) {
        cpuid(7, 1, r);
        f->avx_vnni = (r[0] >> 4) & 1;
        f->avx512_bf16 = zmm_ok && ((r[0] >> 5) & 1);
    }
}
#elif defined(__aarch64__)
static void detect(ag_cpu_features *f)
{
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f->asimd = (hw >> 1) & 1;    /* HWCAP_ASIMD */
    f->asimdhp = (hw >> 10) & 1; /* HWCAP_ASIMDHP */
    f->asimddp = (hw >> 20) & 1; /* HWCAP_ASIMDDP */
    f->sve = (hw >> 22) & 1;     /* HWCAP_SVE */
    f->i8mm = (hw2 >> 13) & 1;   /* HWCAP2_I8MM */
#else
    f->asimd = true; /* ASIMD is mandatory in ARMv8-A */
#endif
}
#else
static void detect(ag_cpu_features *f) { (void)f; }
#endif

const ag_cpu_features *ag_cpu_features_get(void)
{
    static ag_cpu_features feat;
    static atomic_int state; /* 0 unknown, 2 ready */
    if (atomic_load_explicit(&state, memory_order_acquire) == 2) return &feat;
    ag_cpu_features f;
    memset(&f, 0, sizeof(f));
    detect(&f);
    /* every racer computes the same bytes; publish once */
    int expect = 0;
    if (atomic_compare_exchange_strong(&state, &expect, 1)) {
        feat = f;
        atomic_store_explicit(&state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&state, memory_order_acquire) != 2) {
        }
    }
    return &feat;
}
