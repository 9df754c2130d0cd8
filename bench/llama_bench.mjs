#!/usr/bin/env node
// llama_bench.mjs: llama.cpp's prefill and decode speed, measured the way
// `airgap bench` measures airgap's, through node-llama-cpp's prebuilt CPU
// libraries (no compiler needed).
//
//     node llama_bench.mjs -m M -p 128 -n 64 -t N [-r 5] [-d DEPTH] [--json]
//
// Same tests as tools/cli/cmd_bench.c: ppP = an empty sequence, then one
// timed evaluation of P random token ids, logits of the last one only; tgN =
// an untimed prefix (DEPTH tokens, or 8 when DEPTH is 0), then N timed
// single-token evaluations of random ids. Each test runs once untimed
// (warm-up), then R timed repetitions; t/s is the mean and sample standard
// deviation of the per-repetition rates. The ids come from the same
// xorshift64* stream as airgap's. --json prints llama-bench's `-o json`
// records (plus "engine").
//
// Differences from llama-bench on the same libraries: every
// evaluation goes through node-llama-cpp's JavaScript batch queue (under
// 0.1 ms per call on the tiny fixture), a logits row is turned into a token
// by greedy sampling, because node-llama-cpp's public API computes logits
// only when something is generated from them, and the addon loads the model
// with its own settings. Measured: equal to llama-bench on a 0.8B Q8_0, up to
// 11% slower decode on a 0.8B Q4_K_M (README.md). For llama-bench's own
// numbers build it against the same libraries: setup.sh does that.
//
// Rejected: LlamaContextSequence.evaluate (it feeds back the sampled token,
// so the sequence depends on the weights) and
// evaluateWithoutGeneratingNewTokens for decode (it skips the LM head, a
// third of the work of a 0.8B decode step).
import fs from "node:fs";
import path from "node:path";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const TG_PROMPT = 8;

function usage(msg) {
    if (msg) process.stderr.write(`llama_bench.mjs: ${msg}\n`);
    process.stderr.write(
        "usage: node llama_bench.mjs -m FILE [-p 128] [-n 64] [-t N] [-r 5] [-d 0] [-b 512] [--fa auto|on|off] [--json]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = {model: null, p: 128, n: 64, t: 0, r: 5, d: 0, b: 512, fa: "auto", json: false};
    const ints = {"-p": "p", "--n-prompt": "p", "-n": "n", "--n-gen": "n", "-t": "t", "--threads": "t",
                  "-r": "r", "--repetitions": "r", "-d": "d", "--depth": "d", "-b": "b", "--batch-size": "b"};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--json") { o.json = true; continue; }
        if (a === "-h" || a === "--help") usage();
        if (i + 1 >= argv.length) usage(`${a}: missing value`);
        const v = argv[++i];
        if (a === "-m" || a === "--model") o.model = v;
        else if (a === "--fa") {
            if (!["auto", "on", "off"].includes(v)) usage(`--fa: expected auto, on or off, got '${v}'`);
            o.fa = v;
        } else if (a in ints) {
            if (!/^[0-9]+$/.test(v)) usage(`${a}: expected a non-negative integer, got '${v}'`);
            o[ints[a]] = Number(v);
        } else usage(`unknown flag '${a}'`);
    }
    if (!o.model) usage("-m FILE is required");
    if (o.p === 0 && o.n === 0) usage("-p and -n are both 0: nothing to measure");
    if (o.r < 1) usage("-r must be at least 1");
    if (o.b < 1) usage("-b must be at least 1");
    return o;
}

// xorshift64*, the same stream as cmd_bench.c's next_token()
function makeRng(nVocab) {
    let s = 0x243F6A8885A308D3n;
    const M = (1n << 64n) - 1n;
    return () => {
        s ^= s >> 12n;
        s = (s ^ (s << 25n)) & M;
        s ^= s >> 27n;
        const r = (s * 0x2545F4914F6CDD1Dn) & M;
        return Number((r >> 33n) % BigInt(nVocab));
    };
}

function cpuName() {
    try {
        const m = fs.readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m);
        return m ? m[1].trim() : "";
    } catch {
        return "";
    }
}

const o = parseArgs(process.argv.slice(2));
const llama = await getLlama({gpu: false, build: "never", maxThreads: 0, logLevel: LlamaLogLevel.error,
                              progressLogs: false});
const threads = o.t > 0 ? o.t : llama.cpuMathCores;
const model = await llama.loadModel({modelPath: o.model, gpuLayers: 0, useMmap: true});
const embd = (model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo ?? [])
    .find((t) => t.name === "token_embd.weight");
if (!embd || embd.dimensions.length < 2) {
    process.stderr.write(`llama_bench.mjs: ${o.model}: no token_embd.weight to size the vocabulary\n`);
    process.exit(1);
}
const nVocab = Number(embd.dimensions[1]);
const tgPrefix = o.d > 0 ? o.d : TG_PROMPT;
const nCtx = Math.max(o.p > 0 ? o.d + o.p : 0, o.n > 0 ? tgPrefix + o.n : 0) + 1;
const ctx = await model.createContext({contextSize: nCtx, batchSize: o.b, threads, sequences: 1,
                                       flashAttention: o.fa === "auto" ? "auto" : o.fa === "on"});
const seq = ctx.getSequence();
const next = makeRng(nVocab);
const GEN = {generateNext: {token: true, options: {temperature: 0}}};

async function runOnce(nPrompt, nGen, depth) {
    await seq.clearHistory();
    let prefix = depth;
    if (nPrompt === 0 && prefix === 0) prefix = TG_PROMPT;
    if (prefix > 0) await seq.evaluateWithoutGeneratingNewTokens(Array.from({length: prefix}, next));
    const prompt = Array.from({length: nPrompt}, next);
    const t0 = process.hrtime.bigint();
    if (nPrompt > 0) await seq.controlledEvaluate(prompt.map((t, i) => (i === nPrompt - 1 ? [t, GEN] : t)));
    for (let i = 0; i < nGen; i++) await seq.controlledEvaluate([[next(), GEN]]);
    return Number(process.hrtime.bigint() - t0);
}

function mean(a) { return a.reduce((x, y) => x + y, 0) / a.length; }
function stddev(a) {
    if (a.length < 2) return 0;
    const m = mean(a);
    return Math.sqrt(a.reduce((s, x) => s + (x - m) * (x - m), 0) / (a.length - 1));
}

const tests = [];
if (o.p > 0) tests.push({n_prompt: o.p, n_gen: 0});
if (o.n > 0) tests.push({n_prompt: 0, n_gen: o.n});
const records = [];
const name = path.basename(o.model);
const fmtBytes = (n) => (n < 1 << 30 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1073741824).toFixed(2)} GiB`);
const fmtCount = (n) => (n < 1e9 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e9).toFixed(2)} B`);
const params = model.fileInsights.totalParameters;
if (!o.json) {
    console.log(`node-llama-cpp (llama.cpp ${llama.llamaCppRelease.release}) | ${llama.systemInfo.trim()}`);
    console.log(`\n| ${"model".padEnd(Math.max(5, name.length))} |       size |     params | threads |           test |                  t/s |`);
    console.log(`| ${"-".repeat(Math.max(5, name.length))} | ---------: | ---------: | ------: | -------------: | -------------------: |`);
}
for (const t of tests) {
    await runOnce(t.n_prompt, t.n_gen > 0 ? 1 : 0, 0); // warm-up, as llama-bench
    const start = new Date();
    const ns = [];
    for (let r = 0; r < o.r; r++) ns.push(await runOnce(t.n_prompt, t.n_gen, o.d));
    const nTok = t.n_prompt + t.n_gen;
    const ts = ns.map((x) => (nTok * 1e9) / x);
    const rec = {
        build_commit: llama.llamaCppRelease.release,
        build_number: 0,
        engine: "node-llama-cpp " + JSON.parse(fs.readFileSync(
            new URL("./node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version,
        cpu_info: cpuName(),
        gpu_info: "",
        backends: "CPU",
        model_filename: o.model,
        model_type: model.typeDescription,
        model_size: model.size,
        model_n_params: params,
        n_batch: o.b,
        n_ubatch: o.b,
        n_threads: threads,
        flash_attn: o.fa,
        n_gpu_layers: 0,
        use_mmap: true,
        embeddings: false,
        n_prompt: t.n_prompt,
        n_gen: t.n_gen,
        n_depth: o.d,
        test_time: start.toISOString().replace(/\.\d+Z$/, "Z"),
        avg_ns: Math.round(mean(ns)),
        stddev_ns: Math.round(stddev(ns)),
        avg_ts: mean(ts),
        stddev_ts: stddev(ts),
        samples_ns: ns,
        samples_ts: ts,
    };
    records.push(rec);
    if (!o.json) {
        const test = (t.n_prompt > 0 ? `pp${t.n_prompt}` : `tg${t.n_gen}`) + (o.d > 0 ? ` @ d${o.d}` : "");
        const tps = `${rec.avg_ts.toFixed(2)} ± ${rec.stddev_ts.toFixed(2)}`;
        console.log(`| ${name.padEnd(Math.max(5, name.length))} | ${fmtBytes(rec.model_size).padStart(10)} | ` +
                    `${fmtCount(params).padStart(10)} | ${String(threads).padStart(7)} | ${test.padStart(14)} | ${tps.padStart(20)} |`);
    }
}
if (o.json) process.stdout.write(JSON.stringify(records, null, 2) + "\n");
await ctx.dispose();
await model.dispose();
await llama.dispose();
