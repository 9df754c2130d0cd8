# aarch64-linux-gnu.cmake: cross-compiles airgap for 64-bit ARM Linux (and,
# linked with -DAG_STATIC=ON, for Android's adb shell / Termux) with Debian's
# gcc-aarch64-linux-gnu, and runs the tests through qemu-aarch64.
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DAG_STATIC=ON
#   cmake --build build-arm64 -j2 && (cd build-arm64 && ctest)
#
# -cpu max gives the emulated CPU every extension qemu knows (NEON, dotprod,
# i8mm, fp16, bf16, SVE), so every kernel level can be tested; AIRGAP_ISA /
# AG_ISA force a lower one. -L lets a dynamically linked test find the
# target's loader and libc. The downloader (tools/pull) is off by default
# when cross-compiling (AG_PULL): libcurl and cJSON are host libraries.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(AG_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "cross toolchain prefix")
set(CMAKE_C_COMPILER ${AG_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${AG_CROSS_PREFIX}g++)

set(AG_CROSS_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "target libraries (for qemu -L)")
set(CMAKE_FIND_ROOT_PATH ${AG_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;max;-L;${AG_CROSS_SYSROOT})
