/* system.c: version and a one-line description of the machine and of what
 * airgap chose to run on it (kernel level, threads). The kernel level is the
 * one ag_matmul uses now (kernels/kernels.h: CPU features, AIRGAP_ISA). */
#include "airgap.h"
#include "core/threads.h"
#include "kernels/kernels.h"

#include <stdio.h>

#ifndef AG_VERSION_STRING
#define AG_VERSION_STRING "0.1.0"
#endif

const char *ag_version(void) { return AG_VERSION_STRING; }

const char *ag_system_info(void)
{
    static _Thread_local char buf[256];
    const char *arch =
#if defined(__x86_64__)
        "x86-64";
#elif defined(__aarch64__)
        "arm64";
#elif defined(__wasm__)
        "wasm32";
#else
        "unknown";
#endif
    snprintf(buf, sizeof(buf), "airgap %s | cpu %s, %d physical cores | kernels: %s", ag_version(), arch,
             ag_physical_cores(), ag_kernels_describe());
    return buf;
}
