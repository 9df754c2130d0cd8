/* test_cli.c: the `airgap` program end to end, as a user runs it.
 *
 * Runs the built binary (AG_CLI, set by CMake) through the shell and checks
 * exit codes and output: help everywhere, synth -> info -> run/chat on the
 * synthetic model, tokenize on the fixture vocabulary, logits in both modes
 * against the exact fixture logits, determinism of seeded sampling, that a
 * second chat turn costs only its own tokens (at a terminal, through
 * script(1), not even the re-rendered answer), and that damaged files and bad
 * flags give one clear line and a non-zero exit. */
#include "harness.h"
#include "shell.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define FIX AG_SHARED_DIR "/fixtures/"

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* The prompt token counts of the first two chat stats lines in out_buf
 * ("[prompt N tok, ..."), -1 where missing. */
static void turn_prompt_tokens(int *p1, int *p2)
{
    *p1 = *p2 = -1;
    const char *s = strstr(out_buf, "[prompt ");
    if (s) *p1 = atoi(s + 8), s = strstr(s + 8, "[prompt ");
    if (s) *p2 = atoi(s + 8);
}

static double logits_nrmse(const char *a, const char *b, long n, int *top1, int V)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    if (!fa || !fb) { if (fa) fclose(fa); if (fb) fclose(fb); return 1e9; }
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    size_t ga = fread(x, 4, (size_t)n, fa), gb = fread(y, 4, (size_t)n, fb);
    fclose(fa);
    fclose(fb);
    double se = 0, ee = 0;
    *top1 = 0;
    if (ga == (size_t)n && gb == (size_t)n) {
        for (long i = 0; i < n; i++) { se += (double)(x[i] - y[i]) * (x[i] - y[i]); ee += (double)y[i] * y[i]; }
        for (long r = 0; r < n / V; r++) {
            int ax = 0, ay = 0;
            for (int v = 0; v < V; v++) {
                if (x[r * V + v] > x[r * V + ax]) ax = v;
                if (y[r * V + v] > y[r * V + ay]) ay = v;
            }
            *top1 += ax == ay;
        }
    } else {
        se = 1e9, ee = 1;
    }
    free(x);
    free(y);
    return sqrt(se / ee);
}

int main(void)
{
    const char *cli = AG_CLI;
    int rc;

    /* help everywhere, exit 0 */
    const char *cmds[] = {"run", "chat", "info", "tokenize", "logits", "synth"};
    CHECK(sh("%s --help", cli) == 0 && strstr(out_buf, "run"), "airgap --help");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        rc = sh("%s %s --help 2>&1", cli, cmds[i]);
        CHECK(rc == 0 && strlen(out_buf) > 40, "airgap %s --help: rc %d", cmds[i], rc);
    }
    /* bad flags: exit 2, one line */
    rc = sh("%s run -m x.gguf -n abc 2>&1 >/dev/null", cli);
    CHECK(rc == 2 && count_lines(out_buf) == 1, "bad -n value: rc %d, '%s'", rc, out_buf);
    rc = sh("%s run --no-such-flag 2>&1 >/dev/null", cli);
    CHECK(rc == 2 && count_lines(out_buf) == 1, "unknown flag: rc %d, '%s'", rc, out_buf);
    rc = sh("%s frobnicate 2>&1 >/dev/null", cli);
    CHECK(rc == 2, "unknown command: rc %d", rc);

    /* synth -> info */
    rc = sh("%s synth --preset tiny --seed 7 -o cli_tiny.gguf 2>&1", cli);
    CHECK(rc == 0 && file_size("cli_tiny.gguf") > 0, "synth: rc %d %s", rc, out_buf);
    rc = sh("%s info -m cli_tiny.gguf", cli);
    CHECK(rc == 0 && strstr(out_buf, "qwen35") && strstr(out_buf, "f32"), "info: rc %d", rc);

    /* tokenize on the fixture vocabulary */
    rc = sh("%s tokenize -m " FIX "vocab/ggml-vocab-qwen35.gguf --ids-only 'Hello world'", cli);
    CHECK(rc == 0 && strncmp(out_buf, "9707 1879", 9) == 0, "tokenize: rc %d '%s'", rc, out_buf);

    /* logits, both modes, against the exact fixture logits */
    const char *modes[] = {"prefill", "decode"};
    for (int i = 0; i < 2; i++) {
        rc = sh("%s logits -m " FIX "qwen35-tiny/tiny-q4_k_m.gguf --tokens " FIX "qwen35-tiny/tokens.txt --mode %s "
                "-o cli_logits.f32 2>&1", cli, modes[i]);
        CHECK(rc == 0, "logits %s: rc %d %s", modes[i], rc, out_buf);
        long n = 64L * 2048;
        CHECK(file_size("cli_logits.f32") == n * 4, "logits %s: size %ld", modes[i], file_size("cli_logits.f32"));
        int top1 = 0;
        double e = logits_nrmse("cli_logits.f32", FIX "qwen35-tiny/exact-q4_k_m.f32", n, &top1, 2048);
        CHECK(e < 0.0537 * 1.5 && top1 >= 63, "logits %s: nrmse %g top1 %d", modes[i], e, top1);
    }
    rc = sh("%s logits -m cli_tiny.gguf --tokens 1,2,99999 --mode decode -o cli_logits.f32 2>&1", cli);
    CHECK(rc != 0 && count_lines(out_buf) == 1, "logits with an out-of-vocab id: rc %d '%s'", rc, out_buf);

    /* run: seeded sampling is deterministic; stats line on stderr */
    rc = sh("%s run -m cli_tiny.gguf -p 'hello there' -n 12 --seed 5 2>/dev/null", cli);
    char first[4096];
    snprintf(first, sizeof(first), "%s", out_buf);
    CHECK(rc == 0, "run: rc %d", rc);
    rc = sh("%s run -m cli_tiny.gguf -p 'hello there' -n 12 --seed 5 2>/dev/null", cli);
    CHECK(rc == 0 && strcmp(first, out_buf) == 0, "run: same seed, different output");
    rc = sh("%s run -m cli_tiny.gguf -p 'hello there' -n 12 --seed 5 2>&1 >/dev/null | tail -n 1", cli);
    CHECK(rc == 0 && strstr(out_buf, "tok/s") && strstr(out_buf, "ttft"), "run stats line: '%s'", out_buf);

    /* chat: the second turn processes only its own tokens */
    rc = sh("printf 'tell me about the sea and the sky and the sun and the moon and the stars\\nok\\n' | "
            "%s chat -m cli_tiny.gguf -n 6 --seed 1 --system 'you are a helpful assistant who answers with care "
            "and detail about every topic under the sun, always' 2>&1 >/dev/null | grep 'prompt'", cli);
    CHECK(rc == 0, "chat: rc %d", rc);
    int p1, p2;
    turn_prompt_tokens(&p1, &p2);
    printf("chat prompt tokens: turn 1 %d, turn 2 %d\n", p1, p2);
    CHECK(p1 > 100 && p2 > 0 && p2 < p1 / 2, "chat turn costs: %d then %d", p1, p2);

    /* at a terminal the first answer, as the template re-renders it, is
     * processed while the user types: a message sent after that waits only
     * for itself ("ok", its end, the assistant's opening and the generation
     * prompt: 16 tokens here; the re-rendered answer would add 10+). Through
     * script(1)'s pseudo-terminal, the second line sent 4 s later. */
    if (sh("script -qec true /dev/null >/dev/null 2>&1") == 0) {
        rc = sh("(printf 'tell me about the sea and the sky and the sun\\n'; sleep 4; printf 'ok\\n'; sleep 1) | "
                "script -qec '%s chat -m cli_tiny.gguf -n 6 --seed 1' /dev/null | tr '\\r' '\\n' | "
                "grep -a '^\\[prompt '", cli);
        turn_prompt_tokens(&p1, &p2);
        printf("chat at a terminal, prompt tokens: turn 1 %d, turn 2 %d\n", p1, p2);
        CHECK(rc == 0 && p1 > 20 && p2 > 0 && p2 <= 20, "chat at a terminal: turn costs %d then %d", p1, p2);
    } else {
        printf("script(1) cannot make a pseudo-terminal here: chat at a terminal not tested\n");
    }

    /* damaged and missing files: non-zero exit, one line on stderr */
    FILE *in = fopen("cli_tiny.gguf", "rb"), *o = fopen("cli_trunc.gguf", "wb");
    if (in && o) {
        char buf[5000];
        size_t n = fread(buf, 1, sizeof(buf), in);
        fwrite(buf, 1, n, o);
    }
    if (in) fclose(in);
    if (o) fclose(o);
    const char *bad[] = {"cli_trunc.gguf", "no_such_file.gguf", FIX "qwen35-tiny/tokens.txt"};
    for (size_t i = 0; i < 3; i++) {
        rc = sh("%s info -m %s 2>&1 >/dev/null", cli, bad[i]);
        CHECK(rc != 0 && rc < 128 && count_lines(out_buf) == 1, "info on %s: rc %d '%s'", bad[i], rc, out_buf);
        rc = sh("%s run -m %s -p hi 2>&1 >/dev/null", cli, bad[i]);
        CHECK(rc != 0 && rc < 128 && count_lines(out_buf) == 1, "run on %s: rc %d '%s'", bad[i], rc, out_buf);
    }
    remove("cli_tiny.gguf");
    remove("cli_trunc.gguf");
    remove("cli_logits.f32");
    return REPORT();
}
