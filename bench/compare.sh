#!/bin/sh
# compare.sh: airgap vs llama.cpp on the same GGUF files, same threads, one run.
#
#     sh bench/compare.sh [-t N] [-p 128] [-n 64] [-r 5] [-d 0] MODEL.gguf [MODEL.gguf ...]
#
# For each model it runs `airgap bench --json`, then llama.cpp's benchmark
# with the same -p/-n/-t/-r/-d and -o json: the real llama-bench built by
# setup.sh when present (bench/.llama/bin/llama-bench, or $LLAMA_BENCH), else
# bench/llama_bench.mjs through node-llama-cpp. The JSON goes to
# bench/results/, and a table with the ratios goes to stdout: t/s of both,
# airgap/llama.cpp, and for decode the effective GB/s of both (airgap's
# bytes_per_token x t/s: same file, same formula) as a share of the read
# bandwidth airgap bench measured in the same run.
#
# AIRGAP=path picks the airgap binary (default: build/airgap). Run setup.sh
# once first. On a 2-core machine anything else that runs (a build, a test
# suite) skews both engines badly; where other jobs cannot be stopped, run
# this under a real-time policy: sudo chrt -r 1 sh bench/compare.sh ...
# (README.md, "Measuring on a 2-core machine").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
airgap=${AIRGAP:-$root/build/airgap}
t=""; p=128; n=64; r=5; d=0
usage() { echo "usage: sh bench/compare.sh [-t N] [-p N] [-n N] [-r N] [-d N] MODEL.gguf..." >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -t) [ $# -ge 2 ] || usage; t=$2; shift 2 ;;
        -p) [ $# -ge 2 ] || usage; p=$2; shift 2 ;;
        -n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
        -r) [ $# -ge 2 ] || usage; r=$2; shift 2 ;;
        -d) [ $# -ge 2 ] || usage; d=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "compare.sh: unknown flag '$1'" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
[ -x "$airgap" ] || { echo "compare.sh: no airgap binary at $airgap (build it, or set AIRGAP=)" >&2; exit 1; }
[ -d "$here/node_modules/node-llama-cpp" ] || { echo "compare.sh: run 'sh bench/setup.sh' first" >&2; exit 1; }
if [ -z "$t" ]; then
    # physical cores, as both engines default to
    t=$(lscpu -p=core,socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
    [ "$t" -ge 1 ] 2>/dev/null || t=$(nproc)
fi
lb=${LLAMA_BENCH:-$here/.llama/bin/llama-bench}
mkdir -p "$here/results"
files=""
for m in "$@"; do
    [ -f "$m" ] || { echo "compare.sh: no such file: $m" >&2; exit 1; }
    base=$(basename "$m" .gguf)
    a="$here/results/$base.airgap.json"
    l="$here/results/$base.llama.json"
    echo "== $base: airgap bench" >&2
    "$airgap" bench -m "$m" -p "$p" -n "$n" -t "$t" -r "$r" -d "$d" --json > "$a"
    if [ -x "$lb" ]; then
        echo "== $base: llama-bench ($lb)" >&2
        "$lb" -m "$m" -p "$p" -n "$n" -t "$t" -r "$r" -d "$d" -o json 2>/dev/null > "$l"
    else
        echo "== $base: llama_bench.mjs (node-llama-cpp)" >&2
        node "$here/llama_bench.mjs" -m "$m" -p "$p" -n "$n" -t "$t" -r "$r" -d "$d" --json > "$l"
    fi
    files="$files $a $l"
done

# shellcheck disable=SC2086
node --input-type=module - $files <<'EOF'
import fs from "node:fs";
import path from "node:path";
const args = process.argv.slice(2);
const rows = [["model", "test", "threads", "airgap t/s", "llama.cpp t/s", "airgap/llama", "airgap GB/s",
               "llama GB/s", "read GB/s"]];
const f = (x, d = 2) => x.toFixed(d);
let build = "";
for (let i = 0; i + 1 < args.length; i += 2) {
    const a = JSON.parse(fs.readFileSync(args[i], "utf8"));
    const l = JSON.parse(fs.readFileSync(args[i + 1], "utf8"));
    build = `llama.cpp ${l[0]?.build_commit ?? "?"}${l[0]?.engine ? " via " + l[0].engine : " (llama-bench)"}`;
    for (const ra of a) {
        const rl = l.find((x) => x.n_prompt === ra.n_prompt && x.n_gen === ra.n_gen);
        if (!rl) continue;
        const test = (ra.n_prompt > 0 ? `pp${ra.n_prompt}` : `tg${ra.n_gen}`) + (ra.n_depth > 0 ? ` @ d${ra.n_depth}` : "");
        let ga = "-", gl = "-", rd = ra.read_gbps ? f(ra.read_gbps) : "-";
        const bpt = ra.bytes_per_token ?? ra.weight_bytes_per_token;
        if (ra.n_gen > 0 && bpt) {
            const pa = bpt * ra.avg_ts / 1e9, pl = bpt * rl.avg_ts / 1e9;
            const pct = (g) => (ra.read_gbps ? ` (${f(100 * g / ra.read_gbps, 0)}%)` : "");
            ga = f(pa) + pct(pa);
            gl = f(pl) + pct(pl);
        }
        rows.push([path.basename(ra.model_filename), test, String(ra.n_threads),
                   `${f(ra.avg_ts)} ± ${f(ra.stddev_ts)}`, `${f(rl.avg_ts)} ± ${f(rl.stddev_ts)}`,
                   f(ra.avg_ts / rl.avg_ts) + "x", ga, gl, rd]);
    }
}
const w = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
const line = (r) => "| " + r.map((s, c) => (c < 2 ? s.padEnd(w[c]) : s.padStart(w[c] + s.length - [...s].length))).join(" | ") + " |";
console.log(line(rows[0]));
console.log("| " + w.map((x, c) => (c < 2 ? "-".repeat(x) : "-".repeat(x - 1) + ":")).join(" | ") + " |");
for (const r of rows.slice(1)) console.log(line(r));
console.log(`\n${build}; GB/s = the bytes a decoded token moves (airgap bench's bytes_per_token: weights, recurrent state read and written, KV cache) x t/s; read = airgap bench's memory-read test, between its decode repetitions`);
EOF
