#!/bin/sh
# setup.sh: installs llama.cpp's prebuilt CPU libraries (npm: node-llama-cpp,
# versions pinned in package.json / package-lock.json) and builds the real
# llama-bench (and llama-quantize) against them, for bench/compare.sh.
#
# node-llama-cpp ships no llama.cpp executables: its platform package
# (@node-llama-cpp/linux-x64) holds libllama.so, libllama-common.so,
# libggml-base.so, one libggml-cpu-<microarch>.so per x86 level (picked at
# run time: zen4, icelake, haswell, ...) and the Node addon; the main package
# holds the matching llama.cpp source tree as a git bundle
# (llama/gitRelease.bundle). Compiling llama-bench's two .cpp files against
# the prebuilt libraries takes seconds, needs only git and g++, and gives
# llama.cpp's own benchmark on exactly the kernels node-llama-cpp runs. If
# that step fails, compare.sh falls back to llama_bench.mjs (Node only).
#
# Rejected: building all of llama.cpp from the bundle with CMake (a
# different build of the kernels than the prebuilt ones, and many minutes on
# two cores); installing all of node-llama-cpp's optional dependencies (npm
# would fetch ~700 MB of CUDA and Vulkan builds we never load).
#
# Usage: sh bench/setup.sh          (re-running it is cheap)
# Needs: node >= 20, npm; for llama-bench also git and g++ (C++17).
set -eu
cd "$(dirname "$0")"

# package.json pins the linux-x64 platform package (the machine kind the
# issue measures on). Elsewhere replace it there with the platform's own
# (@node-llama-cpp/linux-arm64, mac-arm64-metal, ...), same version.
plat=linux-x64
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
    echo "setup.sh: warning: not linux-x86_64; edit package.json first (see README.md)" >&2

# npm ci cannot be used: npm leaves other platforms' optional packages out of
# the lockfile and then reports it out of sync; npm install with the lockfile
# installs the same pinned versions. --omit=optional skips the CUDA/Vulkan
# builds node-llama-cpp lists as optional.
npm install --omit=optional --no-audit --no-fund

libs="node_modules/@node-llama-cpp/$plat/bins/$plat"
bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -d "$libs" ] || { echo "setup.sh: $libs missing after npm install" >&2; exit 1; }

if ! command -v git >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
    echo "setup.sh: git or g++ missing: llama-bench not built; compare.sh will use llama_bench.mjs" >&2
    exit 0
fi
rm -rf .llama
mkdir -p .llama/bin
git clone -q -c advice.detachedHead=false "$bundle" .llama/src
src=.llama/src
lib_of() { ls "$libs" | grep -E "^lib$1(\.v[0-9.]+)?\.so\$" | head -n 1; }
# build TOOL SOURCES...: one llama.cpp tool against the prebuilt libraries
build() {
    out=$1
    shift
    g++ -std=c++17 -O2 -DNDEBUG -I$src/include -I$src/common -I$src/ggml/include -I$src/vendor \
        "$@" -o ".llama/bin/$out" -L"$libs" -l:"$(lib_of llama-common)" -l:"$(lib_of llama)" \
        -l:"$(lib_of ggml)" -l:"$(lib_of ggml-base)" -Wl,-rpath,'$ORIGIN' -pthread
}
if ! build llama-bench -I$src/tools/llama-bench $src/tools/llama-bench/llama-bench.cpp \
        $src/tools/llama-bench/main.cpp; then
    rm -f .llama/bin/llama-bench
    echo "setup.sh: building llama-bench failed; compare.sh will use llama_bench.mjs" >&2
    exit 0
fi
# llama-quantize too: it makes the Q4_K_M benchmark files from `airgap synth`
# output (airgap synth --type f16, then llama-quantize IN OUT Q4_K_M)
build llama-quantize $src/tools/quantize/quantize.cpp $src/tools/quantize/main.cpp ||
    echo "setup.sh: building llama-quantize failed (optional)" >&2
# ggml loads its CPU backend (libggml-cpu-<level>.so) from the executable's
# directory: link the libraries in beside it.
for f in "$libs"/*.so; do ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" .llama/bin/; done
echo "setup.sh: built $(pwd)/.llama/bin/llama-bench and llama-quantize against node-llama-cpp \
$(node -p 'require("./node_modules/node-llama-cpp/package.json").version')'s libraries"
