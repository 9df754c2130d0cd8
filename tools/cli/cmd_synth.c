/* cmd_synth.c: `airgap synth`, writes a random-weight Qwen3.5 GGUF.
 *
 * A thin front end to ag_synth_write: preset, seed, weight type, and one flag
 * per shape override of ag_synth_params (0 = the preset's value), so tests
 * and benchmarks can make full-size-shaped models (0.8b, 2b) without
 * downloading anything. Progress goes to stderr through the library's
 * progress callback: one line rewritten with \r on a terminal, a plain line
 * every 10% otherwise (so logs stay readable). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_synth(int argc, char **argv)
{
    ag_synth_params sp = ag_synth_default_params();
    const char *preset = "tiny", *type = "f32", *out = NULL;
    uint64_t seed = 1;
    cli_opt opts[] = {
        { NULL, "--preset", CLI_STR, &preset, 0, 0, "tiny|0.8b|2b", "shapes to use", false,
          false, NULL },
        { NULL, "--seed", CLI_U64, &seed, 0, 0, "N", "random seed for the weights", false,
          false, NULL },
        { NULL, "--type", CLI_STR, &type, 0, 0, "f32|f16|bf16|q8_0", "weight type of matrices",
          false, false, NULL },
        { "-o", "--output", CLI_STR, &out, 0, 0, "FILE", "where to write the GGUF", true, false,
          NULL },
        { NULL, "--n-embd", CLI_INT, &sp.n_embd, 0, 1 << 20, "N",
          "override embedding width, 0 = preset", false, false, NULL },
        { NULL, "--n-layer", CLI_INT, &sp.n_layer, 0, 4096, "N",
          "override layer count, 0 = preset", false, false, NULL },
        { NULL, "--n-ff", CLI_INT, &sp.n_ff, 0, 1 << 22, "N",
          "override feed-forward width, 0 = preset", false, false, NULL },
        { NULL, "--n-head", CLI_INT, &sp.n_head, 0, 4096, "N",
          "override attention heads, 0 = preset", false, false, NULL },
        { NULL, "--n-head-kv", CLI_INT, &sp.n_head_kv, 0, 4096, "N",
          "override attention kv heads, 0 = preset", false, false, NULL },
        { NULL, "--head-dim", CLI_INT, &sp.head_dim, 0, 65536, "N",
          "override attention head dim, 0 = preset", false, false, NULL },
        { NULL, "--n-vocab", CLI_INT, &sp.n_vocab, 0, 1 << 24, "N",
          "override vocabulary size, 0 = preset", false, false, NULL },
        { NULL, "--ssm-k-heads", CLI_INT, &sp.ssm_n_k_heads, 0, 4096, "N",
          "override DeltaNet key heads, 0 = preset", false, false, NULL },
        { NULL, "--ssm-v-heads", CLI_INT, &sp.ssm_n_v_heads, 0, 4096, "N",
          "override DeltaNet value heads, 0 = preset", false, false, NULL },
        { NULL, "--ssm-k-dim", CLI_INT, &sp.ssm_head_k_dim, 0, 65536, "N",
          "override DeltaNet key head dim, 0 = preset", false, false, NULL },
        { NULL, "--ssm-v-dim", CLI_INT, &sp.ssm_head_v_dim, 0, 65536, "N",
          "override DeltaNet value head dim, 0 = preset", false, false, NULL },
        { NULL, "--full-attn-interval", CLI_INT, &sp.full_attn_interval, 0, 4096, "N",
          "override: every Nth layer is attention, 0 = preset", false, false, NULL },
    };
    cli_spec spec = {
        "synth", "--preset tiny|0.8b|2b --seed N [--type T] -o FILE [shape overrides]",
        "Writes a random-weight qwen35 GGUF laid out like llama.cpp's converter output,\n"
        "with a synthetic byte-level BPE vocabulary. For tests and benchmarks: its text\n"
        "is meaningless.",
        "  airgap synth --preset tiny --seed 1 -o tiny.gguf\n"
        "  airgap synth --preset 0.8b --seed 7 --type q8_0 -o synth-0.8b-q8_0.gguf",
        opts, sizeof(opts) / sizeof(opts[0]), NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    cli_progress pr = cli_progress_start("synth");
    sp.preset = preset;
    sp.seed = seed;
    sp.type = type;
    sp.progress = cli_progress_cb;
    sp.progress_user = &pr;
    double t0 = cli_now();
    ag_status st = ag_synth_write(&sp, out);
    cli_progress_end(&pr);
    if (st != AG_OK)
        return cli_fail(st);
    struct stat sb;
    char sz[32] = "?";
    if (stat(out, &sb) == 0)
        cli_fmt_bytes((uint64_t)sb.st_size, sz, sizeof(sz));
    fprintf(stderr, "wrote ");
    cli_put_escaped(stderr, out, strlen(out), 0);
    fprintf(stderr, " (%s preset, seed %llu, %s, %s) in %.2f s\n", preset,
            (unsigned long long)seed, type, sz, cli_now() - t0);
    return CLI_OK;
}
