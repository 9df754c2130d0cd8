/* cmd_quantize.c: `airgap quantize IN.gguf OUT.gguf TYPE`, a front end to
 * ag_quantize (llama-quantize's per-tensor mixes, so benchmark models can be
 * made from `airgap synth` output).
 *
 * Before: a metadata-only look at the input (ag_model_load with vocab_only)
 * to warn when it already holds quantized tensors, which are requantized from
 * their dequantized values. During: progress on stderr (one line rewritten
 * with \r on a terminal, every 10% otherwise, as synth does). After: the type
 * mix actually written (read back from the output file, so it shows what is
 * on disk rather than what was planned) and the size before and after.
 * Rejected: a --dry-run and per-tensor overrides (--tensor-type) as in
 * llama-quantize: not needed to make benchmark files, and each is a second
 * code path for the mix rules to drift from. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ctrl-C: ag_quantize has no abort hook, so the handler removes the partial
 * "OUT.tmp" the GGUF writer is filling (unlink is async-signal-safe) and
 * exits; the final name is only ever created by the rename at the end. */
static char g_tmp_path[4096];

static void on_sigint(int sig)
{
    (void)sig;
    if (g_tmp_path[0])
        unlink(g_tmp_path);
    _exit(CLI_INTERRUPTED);
}

typedef struct type_count {
    const char *name;   /* borrowed from the model */
    uint32_t n;
    uint64_t bytes;
} type_count;

typedef struct summary {
    bool ok;
    uint64_t bytes, params;
    type_count types[32];
    size_t n_types;
} summary;

/* Reads the tensor table of a GGUF file (metadata only; no weights touched). */
static summary summarize(const char *path)
{
    summary s;
    memset(&s, 0, sizeof(s));
    ag_model_params mp = ag_model_default_params();
    mp.vocab_only = true;
    ag_model *m = NULL;
    if (ag_model_load(path, &mp, &m) != AG_OK)
        return s;
    s.ok = true;
    s.bytes = ag_model_tensor_bytes(m);
    s.params = ag_model_n_params(m);
    for (size_t i = 0; i < ag_model_n_tensors(m); i++) {
        ag_tensor_info ti;
        if (ag_model_tensor(m, i, &ti) != AG_OK)
            continue;
        size_t k = 0;
        while (k < s.n_types && strcmp(s.types[k].name, ti.type_name) != 0)
            k++;
        if (k == s.n_types) {
            if (s.n_types == sizeof(s.types) / sizeof(s.types[0]))
                continue;
            s.types[s.n_types++].name = ti.type_name; /* static type names */
        }
        s.types[k].n++;
        s.types[k].bytes += ti.n_bytes;
    }
    ag_model_free(m);
    return s;
}

static bool is_float_type(const char *t)
{
    return strcmp(t, "f32") == 0 || strcmp(t, "f16") == 0 || strcmp(t, "bf16") == 0;
}

static void print_mix(const summary *s)
{
    for (size_t k = 0; k < s->n_types; k++) {
        char b[32];
        cli_fmt_bytes(s->types[k].bytes, b, sizeof(b));
        fprintf(stderr, "%s%s x%u (%s)", k ? ", " : "", s->types[k].name, s->types[k].n, b);
    }
}

int cmd_quantize(int argc, char **argv)
{
    int32_t threads = 0;
    cli_opt opts[] = {
        { "-t", "--threads", CLI_INT, &threads, 0, 1024, "N", "threads, 0 = physical cores", false, false,
          NULL },
    };
    cli_spec spec = {
        "quantize", "IN.gguf OUT.gguf TYPE [-t N]",
        "Writes IN.gguf with its weights quantized, choosing each tensor's type as\n"
        "llama-quantize does for TYPE (no importance matrix): norms and 1-D tensors stay\n"
        "f32, the tied embedding gets q6_K (q8_0 in Q8_0), the _M mixes give some\n"
        "attn_v/attn_qkv/ffn_down tensors more bits. Already quantized inputs are\n"
        "requantized from their dequantized values (lossier: quantize the f32/f16 original).\n"
        "TYPE: Q4_K_M Q5_K_M Q6_K Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q5_K_S Q3_K_S Q3_K_M\n"
        "Q3_K_L Q2_K IQ4_NL IQ4_XS F16 BF16 F32 (case-insensitive; Q4_K = Q4_K_M).",
        "  airgap synth --preset 0.8b -o m-f32.gguf\n"
        "  airgap quantize m-f32.gguf m-q4_k_m.gguf Q4_K_M -t 2",
        opts, sizeof(opts) / sizeof(opts[0]), "IN OUT TYPE", 3
    };
    const char *pos[3];
    size_t n_pos = 0;
    int prc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (prc >= 0)
        return prc;
    if (n_pos != 3)
        return cli_usage_error("quantize", "expected IN.gguf OUT.gguf TYPE (see 'airgap quantize --help')");
    const char *in = pos[0], *out = pos[1], *type = pos[2];

    summary before = summarize(in);
    if (before.ok) {
        for (size_t k = 0; k < before.n_types; k++) {
            if (is_float_type(before.types[k].name))
                continue;
            fprintf(stderr, "airgap quantize: warning: the input has %u %s tensors; they are requantized from "
                            "their dequantized values (quantizing the f32/f16 original is more accurate)\n",
                    before.types[k].n, before.types[k].name);
        }
    }

    if (strlen(out) + 5 <= sizeof(g_tmp_path)) {
        snprintf(g_tmp_path, sizeof(g_tmp_path), "%s.tmp", out);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    ag_quantize_params qp = ag_quantize_default_params();
    cli_progress pr = cli_progress_start("quantize");
    qp.type = type;
    qp.n_threads = threads;
    qp.progress = cli_progress_cb;
    qp.progress_user = &pr;
    double t0 = cli_now();
    ag_status st = ag_quantize(in, out, &qp);
    cli_progress_end(&pr);
    if (st == AG_ERR_INVALID_ARG) {
        fprintf(stderr, "airgap quantize: ");
        const char *e = ag_last_error();
        cli_put_safe(stderr, e, strlen(e));
        fputc('\n', stderr);
        return CLI_USAGE;
    }
    if (st != AG_OK)
        return cli_fail(st);
    double secs = cli_now() - t0;

    summary after = summarize(out);
    fprintf(stderr, "wrote ");
    cli_put_escaped(stderr, out, strlen(out), 0);
    fprintf(stderr, " (%s) in %.2f s\n", type, secs);
    if (after.ok) {
        fprintf(stderr, "type mix: ");
        print_mix(&after);
        fputc('\n', stderr);
        char a[32], b[32];
        cli_fmt_bytes(before.bytes, a, sizeof(a));
        cli_fmt_bytes(after.bytes, b, sizeof(b));
        if (before.ok && after.params > 0)
            fprintf(stderr, "size: %s -> %s (%.2f -> %.2f bits per weight)\n", a, b,
                    8.0 * (double)before.bytes / (double)before.params,
                    8.0 * (double)after.bytes / (double)after.params);
        else
            fprintf(stderr, "size: %s\n", b);
    }
    return CLI_OK;
}
