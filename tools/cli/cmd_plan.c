/* cmd_plan.c: `airgap plan` and the memory check every generating command
 * makes before it loads anything (cli_plan_check).
 *
 * The numbers come from the library's ag_plan (src/model/plan.c); this file
 * only parses --budget, prints the breakdown, and turns "does not fit" into
 * one actionable error: how much is missing and which flags would close the
 * gap, computed by asking the planner again (a smaller context, a quantized
 * KV cache) rather than guessed. */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MiB (1024.0 * 1024.0)

bool cli_parse_bytes(const char *cmd, const char *flag, const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    static const struct { const char *suf; double mul; } units[] = {
        { "", 1 }, { "b", 1 }, { "k", 1024.0 }, { "kib", 1024.0 }, { "kb", 1e3 },
        { "m", MiB }, { "mib", MiB }, { "mb", 1e6 }, { "g", MiB * 1024 }, { "gib", MiB * 1024 },
        { "gb", 1e9 }, { "t", MiB * MiB }, { "tib", MiB * MiB }, { "tb", 1e12 },
    };
    if (end != s && v >= 0 && v < 1e18)
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcasecmp(end, units[i].suf) == 0) {
                *out = (uint64_t)(v * units[i].mul);
                return true;
            }
    cli_usage_error(cmd, "%s: '%s' is not a size (e.g. 3GiB, 512MiB, 2G)", flag, s);
    return false;
}

void cli_plan_print(FILE *f, const char *path, const ag_plan *p)
{
    fprintf(f, "memory plan for %s\n", path);
    fprintf(f, "  context      %d tokens, KV cache K %s / V %s, batch %d, %d threads\n",
            (int)p->ctx.n_ctx, ag_cache_type_name(p->ctx.type_k), ag_cache_type_name(p->ctx.type_v),
            (int)p->ctx.n_batch, (int)p->ctx.n_threads);
    const struct { const char *name; uint64_t v; const char *what; } rows[] = {
        { "weights", p->weights, "mapped from the file, never copied" },
        { "metadata", p->metadata, "tokenizer tables, small tensors as f32" },
        { "KV cache", p->kv, "attention layers, at the full context" },
        { "recurrent", p->recurrent, "DeltaNet conv + state" },
        { "scratch", p->scratch, "activations and kernel scratch" },
        { "logits", p->logits, "" },
        { "snapshots", p->snapshots, "chat turn boundaries" },
        { "runtime", p->runtime, "the process: code, libraries, stacks" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].v || i < 5)
            fprintf(f, "  %-10s %9.1f MiB  %s\n", rows[i].name, rows[i].v / MiB, rows[i].what);
    fprintf(f, "  %-10s %9.1f MiB  predicted peak resident memory\n", "total", p->total / MiB);
    if (p->budget)
        fprintf(f, "  %-10s %9.1f MiB  %s\n", "budget", p->budget / MiB,
                p->available ? "" : "(memory available: unknown)");
    if (p->available)
        fprintf(f, "  %-10s %9.1f MiB  now (MemAvailable)\n", "available", p->available / MiB);
    fprintf(f, "  %s\n", !p->budget ? "fits: unknown (no budget and available memory unknown)"
                         : p->fits ? "fits" : "DOES NOT FIT");
}

/* "try -c N" / "--cache-type... q4_0" suggestions that the planner confirms. */
static void suggest(const char *path, const ag_plan_params *pp, char *buf, size_t cap)
{
    ag_plan_params t = *pp;
    ag_plan q;
    if (ag_plan_fit(path, &t, &q) == AG_OK) {
        if (t.ctx.type_k == pp->ctx.type_k && t.ctx.type_v == pp->ctx.type_v)
            snprintf(buf, cap, "-c %d, or --fit", (int)t.ctx.n_ctx);
        else
            snprintf(buf, cap, "-c %d --cache-type-k %s --cache-type-v %s, or --fit", (int)t.ctx.n_ctx,
                     ag_cache_type_name(t.ctx.type_k), ag_cache_type_name(t.ctx.type_v));
    } else {
        snprintf(buf, cap, "a smaller model, or free memory");
    }
}

int cli_plan_check(const char *cmd, const char *path, ag_plan_params *pp, bool fit, bool quiet, ag_plan *out)
{
    ag_status st;
    if (fit) {
        st = ag_plan_fit(path, pp, out);
        if (st != AG_OK)
            return cli_fail(st);
        if (!quiet)
            fprintf(stderr, "airgap %s: --fit: context %d tokens, KV cache %s/%s (%.0f MiB of %.0f MiB)\n",
                    cmd, (int)pp->ctx.n_ctx, ag_cache_type_name(pp->ctx.type_k),
                    ag_cache_type_name(pp->ctx.type_v), out->total / MiB, out->budget / MiB);
        return CLI_OK;
    }
    st = ag_plan_model(path, pp, out);
    if (st != AG_OK)
        return cli_fail(st);
    if (out->fits)
        return CLI_OK;
    char hint[160];
    suggest(path, pp, hint, sizeof(hint));
    fprintf(stderr,
            "airgap: not enough memory: %s with %d tokens of context needs %.0f MiB (weights %.0f, KV "
            "%.0f, recurrent %.0f, other %.0f) but the budget is %.0f MiB, %.0f MiB short; nothing was "
            "loaded. Try %s\n",
            path, (int)out->ctx.n_ctx, out->total / MiB, out->weights / MiB, out->kv / MiB,
            out->recurrent / MiB,
            (out->total - out->weights - out->kv - out->recurrent) / MiB, out->budget / MiB,
            (out->total - out->budget) / MiB, hint);
    return CLI_FAIL;
}

int cmd_plan(int argc, char **argv)
{
    const char *model = NULL, *ctk = "f16", *ctv = "f16", *budget_s = NULL;
    int32_t n_ctx = 0, n_threads = 0, n_batch = 0, snaps = 0;
    bool fit = false, json = false;
    cli_opt opts[] = {
        { "-m", "--model", CLI_STR, &model, 0, 0, "FILE|NAME", "model file or cached name", true,
          false, NULL },
        { "-c", "--ctx-size", CLI_INT, &n_ctx, 0, INT32_MAX, "N",
          "context size in tokens, 0 = min(4096, training context)", false, false, NULL },
        { "-ctk", "--cache-type-k", CLI_STR, &ctk, 0, 0, "TYPE", "K cache type: f16, f32, q8_0, q4_0",
          false, false, NULL },
        { "-ctv", "--cache-type-v", CLI_STR, &ctv, 0, 0, "TYPE", "V cache type: f16, f32, q8_0, q4_0",
          false, false, NULL },
        { "-t", "--threads", CLI_INT, &n_threads, 0, 4096, "N", "threads, 0 = physical cores", false,
          false, NULL },
        { "-b", "--batch-size", CLI_INT, &n_batch, 0, 1 << 20, "N",
          "max tokens per forward step, 0 = 64 per 4096 of context (at most 256)", false, false, NULL },
        { NULL, "--snapshots", CLI_INT, &snaps, 0, 64, "N",
          "in-memory snapshots kept (airgap chat keeps 2)", false, false, NULL },
        { NULL, "--budget", CLI_STR, &budget_s, 0, 0, "SIZE",
          "memory budget, e.g. 3GiB (default: memory available now minus a reserve)", false, true,
          NULL },
        { NULL, "--fit", CLI_BOOL, &fit, 0, 0, NULL,
          "pick the largest context (up to -c, else the training context) and the least lossy KV "
          "type that fit", false, false, NULL },
        { NULL, "--json", CLI_BOOL, &json, 0, 0, NULL, "print the plan as JSON", false, false, NULL },
    };
    cli_spec spec = {
        "plan", "-m FILE [-c N] [--cache-type-k T] [--budget SIZE] [--fit]",
        "Predicts the peak resident memory of running a model with a context, from\n"
        "the file's header alone (nothing is loaded), broken down by what holds it,\n"
        "and says whether it fits the budget. Exit status 0 if it fits, 1 if not.",
        "  airgap plan -m model.gguf -c 32768 --cache-type-k q4_0 --cache-type-v q4_0\n"
        "  airgap plan -m model.gguf --budget 3GiB --fit",
        opts, sizeof(opts) / sizeof(opts[0]), NULL, 0
    };
    int prc = cli_parse(&spec, argc, argv, NULL, NULL);
    if (prc >= 0)
        return prc;
    ag_plan_params pp = ag_plan_default_params();
    pp.ctx.n_ctx = n_ctx;
    pp.ctx.n_threads = n_threads;
    pp.ctx.n_batch = n_batch;
    pp.n_snapshots = snaps;
    if (!cli_parse_cache_type("plan", "--cache-type-k", ctk, &pp.ctx.type_k) ||
        !cli_parse_cache_type("plan", "--cache-type-v", ctv, &pp.ctx.type_v))
        return CLI_USAGE;
    if (budget_s && !cli_parse_bytes("plan", "--budget", budget_s, &pp.budget))
        return CLI_USAGE;
    if (budget_s && pp.budget == 0)
        return cli_usage_error("plan", "--budget: must be more than 0");
    char path[4096];
    int rc = cli_model_path(model, false, true, path, sizeof(path));
    if (rc != CLI_OK)
        return rc;
    ag_plan p;
    ag_status st = fit ? ag_plan_fit(path, &pp, &p) : ag_plan_model(path, &pp, &p);
    if (st != AG_OK)
        return cli_fail(st);
    if (json) {
        printf("{\"n_ctx\": %d, \"type_k\": \"%s\", \"type_v\": \"%s\", \"n_batch\": %d, "
               "\"n_threads\": %d, \"weights\": %llu, \"metadata\": %llu, \"kv\": %llu, "
               "\"recurrent\": %llu, \"scratch\": %llu, \"logits\": %llu, \"snapshots\": %llu, "
               "\"runtime\": %llu, \"total\": %llu, \"budget\": %llu, \"available\": %llu, "
               "\"fits\": %s}\n",
               (int)p.ctx.n_ctx, ag_cache_type_name(p.ctx.type_k), ag_cache_type_name(p.ctx.type_v),
               (int)p.ctx.n_batch, (int)p.ctx.n_threads, (unsigned long long)p.weights,
               (unsigned long long)p.metadata, (unsigned long long)p.kv,
               (unsigned long long)p.recurrent, (unsigned long long)p.scratch,
               (unsigned long long)p.logits, (unsigned long long)p.snapshots,
               (unsigned long long)p.runtime, (unsigned long long)p.total,
               (unsigned long long)p.budget, (unsigned long long)p.available,
               p.fits ? "true" : "false");
    } else {
        cli_plan_print(stdout, path, &p);
        if (!p.fits) {
            char hint[160];
            suggest(path, &pp, hint, sizeof(hint));
            printf("  %.0f MiB short: try %s\n", (p.total - p.budget) / MiB, hint);
        }
    }
    return p.fits ? CLI_OK : CLI_FAIL;
}
