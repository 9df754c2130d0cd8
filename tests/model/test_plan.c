/* test_plan.c: the memory plan against measured peak RSS, --fit, and
 * budget refusal.
 *
 * Each case runs in a fresh process (the test re-executes itself: peak RSS
 * is per process and only goes up, and a forked child would inherit this
 * one's heap): plan, load, create the context the plan describes, fill it to the
 * last position (the plan is the peak of a full context), then compare the
 * process's VmHWM with plan.total: within +-5%. The matrix is model shape x
 * context x KV cache type, on synthetic models big enough (tens of MiB)
 * that the comparison means something. Under ASan the resident set is
 * dominated by shadow memory, so the RSS comparison is skipped there (the
 * rest still runs). */
#include "airgap.h"
#include "harness.h"
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define MiB (1024.0 * 1024.0)

static int synth(const char *path, int d, int layers, int ff, int vocab)
{
    ag_synth_params sp = ag_synth_default_params();
    sp.preset = "tiny";
    sp.seed = 5;
    sp.type = "q8_0";
    sp.n_embd = d;
    sp.n_layer = layers;
    sp.n_ff = ff;
    sp.n_vocab = vocab;
    sp.n_head = 4;
    sp.n_head_kv = 2;
    sp.head_dim = 128;
    ag_status st = ag_synth_write(&sp, path);
    CHECK(st == AG_OK, "synth %s: %s", path, ag_last_error());
    return st == AG_OK ? 0 : -1;
}

/* In a fresh process (the test re-executes itself): plan, load, fill;
 * writes "total peak" to fd. */
static void child(const char *path, int n_ctx, ag_cache_type kv, int fd)
{
    ag_plan_params pp = ag_plan_default_params();
    pp.ctx.n_ctx = n_ctx;
    pp.ctx.n_threads = 2;
    pp.ctx.type_k = pp.ctx.type_v = kv;
    ag_plan p;
    ag_model *m = NULL;
    ag_context *c = NULL;
    if (ag_plan_model(path, &pp, &p) != AG_OK) _exit(2);
    if (ag_model_load(path, NULL, &m) != AG_OK) _exit(3);
    if (ag_context_create(m, &p.ctx, &c) != AG_OK) _exit(4);
    int V = ag_model_n_vocab(m);
    int32_t *tok = malloc((size_t)n_ctx * sizeof(int32_t));
    for (int i = 0; i < n_ctx; i++) tok[i] = (int32_t)((i * 7919u + 13) % (unsigned)V);
    if (ag_decode(c, tok, (size_t)n_ctx - 1, false) != AG_OK) _exit(5);
    if (ag_decode(c, tok + n_ctx - 1, 1, false) != AG_OK) _exit(6); /* decode at the last position */
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%llu %llu", (unsigned long long)p.total,
                     (unsigned long long)ag_mem_peak_rss());
    if (write(fd, buf, (size_t)n) != n) _exit(7);
    _exit(0);
}

static const char *self;

static void measure(const char *path, const char *label, int n_ctx, ag_cache_type kv)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char a1[16], a2[16], a3[16];
        snprintf(a1, sizeof(a1), "%d", n_ctx);
        snprintf(a2, sizeof(a2), "%d", (int)kv);
        snprintf(a3, sizeof(a3), "%d", fds[1]);
        execl(self, self, "child", path, a1, a2, a3, (char *)NULL);
        _exit(9);
    }
    close(fds[1]);
    char buf[128] = {0};
    ssize_t got = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child failed (status %d)", label, status);
    unsigned long long total = 0, peak = 0;
    CHECK(got > 0 && sscanf(buf, "%llu %llu", &total, &peak) == 2, "%s: no result", label);
    if (!total || !peak) return;
    double ratio = (double)peak / (double)total;
    printf("%-10s ctx %6d kv %-4s  plan %7.1f MiB  measured peak %7.1f MiB  (%+.1f%%)\n", label, n_ctx,
           ag_cache_type_name(kv), total / MiB, peak / MiB, (ratio - 1) * 100);
    CHECK(ratio > 0.95 && ratio < 1.05, "%s ctx %d kv %s: measured %.1f MiB vs plan %.1f MiB (%+.1f%%)", label,
          n_ctx, ag_cache_type_name(kv), peak / MiB, total / MiB, (ratio - 1) * 100);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "child") == 0) {
        child(argv[2], atoi(argv[3]), (ag_cache_type)atoi(argv[4]), atoi(argv[5]));
        return 1;
    }
    self = argv[0];
    char a[512], b[512];
    snprintf(a, sizeof(a), "%s/test_plan_a.gguf", AG_BUILD_DIR);
    snprintf(b, sizeof(b), "%s/test_plan_b.gguf", AG_BUILD_DIR);
    if (synth(a, 512, 8, 1536, 32000) || synth(b, 768, 4, 2048, 64000)) return REPORT();

    /* prediction vs measured peak RSS */
    if (UNDER_ASAN) {
        printf("ASan build: RSS comparison skipped\n");
    } else {
        static const ag_cache_type kvs[] = {AG_CACHE_F16, AG_CACHE_Q8_0, AG_CACHE_Q4_0};
        for (int k = 0; k < 3; k++) {
            measure(a, "shape-a", 1024, kvs[k]);
            measure(b, "shape-b", 4096, kvs[k]);
        }
        measure(a, "shape-a", 8192, AG_CACHE_Q4_0);
        measure(b, "shape-b", 512, AG_CACHE_F32);
    }

    /* the plan grows with the context and shrinks with the cache type */
    ag_plan_params pp = ag_plan_default_params();
    ag_plan p16, p4, big;
    pp.ctx.n_ctx = 4096;
    CHECK(ag_plan_model(a, &pp, &p16) == AG_OK, "plan: %s", ag_last_error());
    pp.ctx.type_k = pp.ctx.type_v = AG_CACHE_Q4_0;
    CHECK(ag_plan_model(a, &pp, &p4) == AG_OK, "plan: %s", ag_last_error());
    CHECK(p4.kv * 3 < p16.kv, "q4_0 KV %llu vs f16 %llu", (unsigned long long)p4.kv, (unsigned long long)p16.kv);
    pp.ctx.n_ctx = 16384;
    CHECK(ag_plan_model(a, &pp, &big) == AG_OK && big.kv == 4 * p4.kv, "KV linear in n_ctx");

    /* --fit: a budget that holds 65536 tokens at q8_0 but not at f16 (the KV
     * caches differ by tens of MiB there, far more than the process's own
     * RSS drifts between two plans, even under ASan) */
    ag_plan_params fp = ag_plan_default_params();
    fp.ctx.n_ctx = 65536;
    ag_plan f8, f16;
    fp.ctx.type_k = fp.ctx.type_v = AG_CACHE_Q8_0;
    CHECK(ag_plan_model(a, &fp, &f8) == AG_OK, "plan q8_0");
    fp.ctx.type_k = fp.ctx.type_v = AG_CACHE_F16;
    CHECK(ag_plan_model(a, &fp, &f16) == AG_OK, "plan f16");
    const uint64_t mid = (f8.total + f16.total) / 2;
    fp.budget = mid;
    ag_plan fit;
    CHECK(ag_plan_fit(a, &fp, &fit) == AG_OK, "fit: %s", ag_last_error());
    CHECK(fp.ctx.n_ctx == 65536 && fp.ctx.type_k == AG_CACHE_Q8_0 && fit.fits, "fit chose %d tokens %s",
          fp.ctx.n_ctx, ag_cache_type_name(fp.ctx.type_k));
    /* a budget below the weights: nothing fits, a clear error */
    fp.budget = p16.weights / 2;
    fp.ctx.n_ctx = 65536;
    CHECK(ag_plan_fit(a, &fp, &fit) == AG_ERR_NOMEM, "fit with no room");
    CHECK(strstr(ag_last_error(), "does not fit") != NULL, "message: %s", ag_last_error());

    /* the CLI refuses before loading, naming the shortfall and the fix */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s run -m %s -p hi -n 4 --budget 10MiB 2>&1", AG_CLI, a);
    int rc = sh("%s", cmd);
    CHECK(rc == 1, "run with a tiny budget: exit %d", rc);
    CHECK(strstr(out_buf, "not enough memory") && strstr(out_buf, "short") && strstr(out_buf, "nothing was loaded"),
          "refusal message: %s", out_buf);
    CHECK(count_lines(out_buf) == 1, "refusal is one line: %s", out_buf);
    snprintf(cmd, sizeof(cmd), "%s plan -m %s -c 2048 --budget 64GiB 2>&1", AG_CLI, a);
    CHECK(sh("%s", cmd) == 0 && strstr(out_buf, "fits"), "plan: %s", out_buf);
    snprintf(cmd, sizeof(cmd), "%s plan -m %s --budget 5MiB 2>&1", AG_CLI, a);
    CHECK(sh("%s", cmd) == 1 && strstr(out_buf, "DOES NOT FIT") && strstr(out_buf, "short"), "plan no fit: %s", out_buf);
    snprintf(cmd, sizeof(cmd), "%s run -m %s -c 65536 -p hi -n 2 --temp 0 --fit --budget %lluB 2>&1", AG_CLI, a,
             (unsigned long long)mid);
    CHECK(sh("%s", cmd) == 0 && strstr(out_buf, "--fit: context"), "run --fit: %s", out_buf);
    snprintf(cmd, sizeof(cmd), "%s plan -m %s --budget lots 2>&1", AG_CLI, a);
    CHECK(sh("%s", cmd) == 2 && strstr(out_buf, "not a size"), "bad budget: %s", out_buf);
    remove(a);
    remove(b);
    return REPORT();
}
