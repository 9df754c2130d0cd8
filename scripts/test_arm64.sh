#!/usr/bin/env bash
# test_arm64.sh: cross-builds the static aarch64 airgap (the binary for phones,
# docs/android.md) with Debian's gcc-aarch64-linux-gnu and tests it under
# qemu-aarch64 at every ARM kernel level: ref, neon, dotprod, i8mm.
#
#   scripts/test_arm64.sh            # build-arm64/, then the tests below (~6 min CPU on
#                                    # this 2-core machine, most of it test_conformance)
#   scripts/test_arm64.sh --all      # also the whole ctest suite under qemu (~5 min more)
#
# What runs (qemu -cpu max emulates every extension, so every level runs here):
#   - test_vecdot: every level's kernels against the reference level, every
#     weight type, awkward sizes (it loops over the levels itself);
#   - test_ops: the reference matmul and every level's f32 dot;
#   - test_conformance: the 15 fixture models against the exact-math logits
#     at every level (it switches levels in-process); the worst nrmse per
#     fixture and level is summarized at the end;
#   - `airgap info --system` with AIRGAP_ISA=ref|neon|dotprod|i8mm: the static
#     CLI starts and picks the forced level.
# Not run: the ASan build (no sanitizer runtime for static cross builds) and
# the downloader tests (the cross build has no tools/pull: no libcurl/cJSON).
# Installs the cross compiler, the target libc and qemu-user on Debian/Ubuntu
# if they are missing. Fixtures are read from ../shared (AG_SHARED_DIR=...).
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
[ "${1:-}" = "--all" ] && all=1

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_pkgs+=(gcc-aarch64-linux-gnu)
[ -f /usr/aarch64-linux-gnu/lib/libc.a ] || need_pkgs+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || need_pkgs+=(qemu-user)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need_pkgs[@]}"
fi

shared=${AG_SHARED_DIR:-$(cd .. && pwd)/shared}
jobs=$(nproc 2>/dev/null || echo 2)
bdir=build-arm64
emu=(qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu)
start=$(date +%s)

echo "== cross build (aarch64, static) into $bdir"
cmake -S . -B "$bdir" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
    -DAG_STATIC=ON -DAG_WERROR=ON -DAG_SHARED_DIR="$shared" >/dev/null
if [ $all -eq 1 ]; then
    cmake --build "$bdir" -j"$jobs"
else
    cmake --build "$bdir" -j"$jobs" --target airgap test_vecdot test_ops test_conformance
fi
file "$bdir/airgap" 2>/dev/null || true

logdir="$bdir/arm64-logs"
mkdir -p "$logdir"
fails=0
summary=()

# run NAME LOG CMD...: runs a test under qemu, records pass/fail
run() {
    local name=$1 log=$2
    shift 2
    local t0=$(date +%s) rc=0
    (cd "$bdir" && "$@") >"$log" 2>&1 || rc=$?
    local dt=$(( $(date +%s) - t0 ))
    local checks
    checks=$(grep -Eo '[0-9]+ checks, [0-9]+ failures' "$log" | tail -1 || true)
    if [ $rc -eq 0 ]; then
        summary+=("$(printf '%-28s PASS  %4ss  %s' "$name" "$dt" "$checks")")
    else
        summary+=("$(printf '%-28s FAIL  %4ss  %s (rc %d, log %s)' "$name" "$dt" "$checks" "$rc" "$log")")
        fails=$((fails + 1))
        tail -20 "$log" >&2
    fi
}

levels=(ref neon dotprod i8mm)

echo "== kernel tests under qemu (every level)"
run test_vecdot "$logdir/test_vecdot.log" "${emu[@]}" ./test_vecdot
grep -E '^(levels|ref|neon|dotprod|i8mm) ' "$logdir/test_vecdot.log" || true
run test_ops "$logdir/test_ops.log" "${emu[@]}" ./test_ops

echo "== conformance fixtures under qemu (test_conformance switches through every level itself)"
run test_conformance "$logdir/test_conformance.log" "${emu[@]}" ./test_conformance

echo "== the CLI at each level (AIRGAP_ISA)"
for lv in "${levels[@]}"; do
    run "airgap info [AIRGAP_ISA=$lv]" "$logdir/info-$lv.log" env AIRGAP_ISA="$lv" "${emu[@]}" ./airgap info --system
    if ! grep -q "kernels: $lv " "$logdir/info-$lv.log"; then
        summary+=("$(printf '%-28s FAIL  level not chosen: %s' "AIRGAP_ISA=$lv" "$(cat "$logdir/info-$lv.log")")")
        fails=$((fails + 1))
    fi
done

if [ $all -eq 1 ]; then
    echo "== the whole ctest suite under qemu"
    rc=0
    (cd "$bdir" && ctest -j"$jobs" --timeout 1800 --output-on-failure) >"$logdir/ctest.log" 2>&1 || rc=$?
    tail -5 "$logdir/ctest.log"
    if [ $rc -eq 0 ]; then summary+=("$(printf '%-28s PASS  %s' ctest "$(grep -Eo '[0-9]+% tests passed.*' "$logdir/ctest.log")")")
    else summary+=("$(printf '%-28s FAIL  (log %s)' ctest "$logdir/ctest.log")"); fails=$((fails + 1)); fi
fi

echo
echo "== conformance: worst nrmse per fixture and level over its 4 paths (prefill, decode, steps, 2 threads)"
awk -v levels="${levels[*]}" '
    $4 == "nrmse" {
        # "<level> <fixture> <path> nrmse X (bound B) ..."
        lv = $1; fx = $2; v = $5; b = $7; sub(/\)/, "", b)
        if (!(fx in seen)) { seen[fx] = 1; order[++nf] = fx }
        if (!((lv, fx) in worst) || v + 0 > worst[lv, fx] + 0) worst[lv, fx] = v
        bound[fx] = b
    }
    END {
        nl = split(levels, L, " ")
        printf "%-8s", "fixture"; for (i = 1; i <= nl; i++) printf " %10s", L[i]; printf " %10s\n", "bound"
        for (k = 1; k <= nf; k++) {
            fx = order[k]; printf "%-8s", fx
            for (i = 1; i <= nl; i++) printf " %10s", ((L[i], fx) in worst) ? worst[L[i], fx] : "-"
            printf " %10s\n", bound[fx]
        }
    }' "$logdir/test_conformance.log"
echo
echo "== summary (qemu-aarch64 -cpu max, $(( $(date +%s) - start ))s in all)"
printf '%s\n' "${summary[@]}"
if [ $fails -ne 0 ]; then
    echo "== $fails FAILED"
    exit 1
fi
echo "== all arm64 tests passed"
