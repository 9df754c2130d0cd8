#!/usr/bin/env bash
# test.sh: builds airgap and runs every test, twice: an optimized build, then
# an AddressSanitizer + UndefinedBehaviorSanitizer build (leaks, overflows and
# UB fail the run). Installs the build tools and the two libraries the CLI's
# downloader uses (libcurl, cJSON) on Debian/Ubuntu if they are missing.
# Fixtures are read from ../shared (override: AG_SHARED_DIR=/path).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(build-essential)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)      # the pull tests' HTTP server
[ -f /usr/include/cjson/cJSON.h ] || need_pkgs+=(libcjson-dev)   # tools/pull
command -v curl-config >/dev/null 2>&1 || [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] ||
    [ -f /usr/include/curl/curl.h ] || need_pkgs+=(libcurl4-openssl-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need_pkgs[@]}"
fi

shared=${AG_SHARED_DIR:-$(cd .. && pwd)/shared}
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAG_WERROR=ON -DAG_PULL=ON -DAG_SHARED_DIR="$shared" >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

echo "== ASan + UBSan build + tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_SANITIZE=ON -DAG_WERROR=ON -DAG_PULL=ON -DAG_SHARED_DIR="$shared" >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" --timeout 1500)
echo "== all tests passed"
