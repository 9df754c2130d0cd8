/* models.c: DATA -- the built-in short model names of `airgap pull`.
 *
 * Data, not code: add rows here (NAME, SPEC, DESCRIPTION). SPEC is anything
 * `airgap pull` accepts: REPO:QUANT or REPO/FILE.gguf (not another short
 * name). A file named by $AIRGAP_MODELS_LIST (lines NAME<TAB>SPEC<TAB>DESC)
 * adds names and overrides these at run time, so a deployment can change the
 * list without a rebuild. Kept as a C table rather than a text file embedded
 * by a build step: no generator, and the compiler checks it. */
#include "pull_internal.h"

/* The model `airgap run` / `airgap chat` use when no -m is given. */
const char ag_pull_default_name[] = "qwen3.5-0.8b";

const ag_pull_builtin ag_pull_builtins[] = {
    /* data: add rows here */
    {"qwen3.5-0.8b", "unsloth/Qwen3.5-0.8B-GGUF:Q4_K_M", "Qwen3.5 0.8B, Q4_K_M (default)"},
    {"qwen3.5-2b", "unsloth/Qwen3.5-2B-GGUF:Q4_K_M", "Qwen3.5 2B, Q4_K_M"},
    {"qwen3.5-0.8b-mmproj", "unsloth/Qwen3.5-0.8B-GGUF/mmproj-F16.gguf",
     "vision projector for qwen3.5-0.8b, F16"},
    {"qwen3.5-2b-mmproj", "unsloth/Qwen3.5-2B-GGUF/mmproj-F16.gguf",
     "vision projector for qwen3.5-2b, F16"},
    {"minilm", "second-state/All-MiniLM-L6-v2-Embedding-GGUF:Q8_0",
     "all-MiniLM-L6-v2 sentence embeddings, Q8_0"},
};

const size_t ag_pull_n_builtins = sizeof(ag_pull_builtins) / sizeof(ag_pull_builtins[0]);
