/* arch.c: the list of architectures airgap runs (see arch.h). */
#include "model/arch.h"

#include <string.h>

extern const ag_arch ag_arch_qwen35;

static const ag_arch *const archs[] = {
    &ag_arch_qwen35,
};

const ag_arch *ag_arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
        if (strcmp(archs[i]->name, name) == 0) return archs[i];
    return NULL;
}
