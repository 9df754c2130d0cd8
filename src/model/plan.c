/* plan.c: the memory plan (issue 4, item 2), made before anything is loaded.
 *
 * The OS kills an app that overreaches; the only defence is to know the
 * footprint before committing to it. The plan reads the GGUF header (the
 * file is mapped, no tensor page is touched) and adds up what a loaded model
 * and one context keep resident, with the same size formulas the
 * allocations use (the architecture's plan hook shares its code with
 * ctx_init), so prediction and reality cannot drift apart silently:
 *   weights    every tensor's bytes: mapped, paged in as used, never copied;
 *              decode reads all of them, so all end up resident
 *   metadata   the vocabulary's tables, tensors copied as f32 (norms,
 *              conv); the header's pages are released after load
 *   kv, recurrent, scratch    from the architecture
 *   logits, snapshots         what the front end says it keeps
 *   runtime    the process as it is now (code, libraries, heap), plus
 *              thread stacks
 * The KV cache and scratch are allocated zeroed and paged in as used: the
 * plan is the peak, reached once the context is full.
 *
 * --fit searches the context size by bisection on the same formulas. */
#include "model/arch.h"
#include "core/status.h"
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024.0 * 1024.0)
#define STACK_TOUCHED (64u << 10) /* stack pages a pool thread touches */

ag_plan_params ag_plan_default_params(void)
{
    ag_plan_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    p.ctx = ag_context_default_params();
    p.n_logits = 1;
    return p;
}

/* "Key:   N kB" from a /proc file, in bytes; 0 if absent (not Linux). */
static uint64_t proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            sscanf(line + kl + 1, "%llu", &kb);
            break;
        }
    fclose(f);
    return (uint64_t)kb * 1024;
}

static uint64_t meminfo(const char *key) { return proc_kb("/proc/meminfo", key); }
static uint64_t status_kb(const char *key) { return proc_kb("/proc/self/status", key); }

uint64_t ag_mem_available(void) { return meminfo("MemAvailable"); }
uint64_t ag_mem_peak_rss(void) { return status_kb("VmHWM"); }
uint64_t ag_mem_rss(void) { return status_kb("VmRSS"); }

/* What is available now minus a reserve for the rest of the system: 5% of
 * the machine (at least 128 MiB, at most 512 MiB). */
uint64_t ag_mem_default_budget(void)
{
    uint64_t avail = ag_mem_available(), total = meminfo("MemTotal");
    if (!avail) return 0;
    uint64_t reserve = total / 20;
    if (reserve < (128u << 20)) reserve = 128u << 20;
    if (reserve > (512u << 20)) reserve = 512u << 20;
    return avail > reserve ? avail - reserve : 0;
}

static uint32_t bits_for(uint64_t max_value)
{
    uint32_t b = 0;
    while (b < 64 && (max_value >> b)) b++;
    return b;
}

/* The vocabulary's heap tables (tokenizer/vocab.c): the token texts back to
 * back, a type byte per token, and bit-packed arrays sized to their largest
 * value: text offsets and the hash-sorted id list per token, the first merge
 * per symbol, and right symbol, rank and result per merge. The header pages
 * the tables were read from are released after load (ag_model_load). */
static uint64_t vocab_bytes(const ag_gguf *g)
{
    uint64_t n_tok = 0, n_merges = 0, text = 0;
    int64_t i = ag_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (i >= 0 && g->kv[i].type == AG_GGUF_ARRAY) {
        n_tok = g->kv[i].n;
        text = g->kv[i].n_bytes > 8 * n_tok ? g->kv[i].n_bytes - 8 * n_tok : 0;
    }
    i = ag_gguf_find_key(g, "tokenizer.ggml.merges");
    if (i >= 0 && g->kv[i].type == AG_GGUF_ARRAY) n_merges = g->kv[i].n;
    uint64_t b_tok = bits_for(n_tok), b_text = bits_for(text), b_merge = bits_for(n_merges);
    uint64_t bits = n_tok * (8 + b_text + b_tok + b_merge) + n_merges * 3 * b_tok;
    return text + bits / 8 + (64u << 10);
}

static ag_status plan_open(const char *path, ag_gguf **g, ag_model *m)
{
    ag_status st = ag_gguf_open(path, true, g);
    if (st != AG_OK) return st;
    memset(m, 0, sizeof(*m));
    m->path = (char *)path;
    m->gguf = *g;
    ag_str arch;
    st = ag_gguf_get_str(*g, "general.architecture", &arch);
    if (st != AG_OK) return st;
    if (arch.n == 0 || arch.n >= sizeof(m->arch_name) || memchr(arch.p, 0, arch.n))
        return ag_fail(AG_ERR_FORMAT, "%s: key 'general.architecture': invalid value", path);
    memcpy(m->arch_name, arch.p, arch.n);
    m->arch = ag_arch_find(m->arch_name);
    if (!m->arch || !m->arch->plan)
        return ag_fail(AG_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: qwen35)", path,
                       m->arch_name);
    int64_t ti = ag_gguf_find_key(*g, "tokenizer.ggml.tokens");
    int64_t ei = ag_gguf_find_tensor(*g, "token_embd.weight");
    m->n_vocab = ti >= 0 && (*g)->kv[ti].type == AG_GGUF_ARRAY ? (int32_t)(*g)->kv[ti].n
                 : ei >= 0 ? (int32_t)(*g)->tensors[ei].ne[1] : 0;
    char key[96];
    uint32_t ctx = 0;
    snprintf(key, sizeof(key), "%s.context_length", m->arch_name);
    if (ag_gguf_find_key(*g, key) >= 0 && ag_gguf_get_u32(*g, key, &ctx) == AG_OK)
        m->n_ctx_train = ctx > (1u << 30) ? (1 << 30) : (int32_t)ctx;
    return AG_OK;
}

static ag_status plan_with(ag_model *m, const ag_plan_params *p, uint64_t runtime, uint64_t avail, ag_plan *out)
{
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    out->ctx = p->ctx;
    ag_status st = ag_context_params_resolve(&out->ctx, m->n_ctx_train);
    if (st != AG_OK) return st;
    const ag_gguf *g = m->gguf;
    for (uint64_t i = 0; i < g->n_tensors; i++) out->weights += g->tensors[i].n_bytes;
    out->metadata = vocab_bytes(g);
    st = m->arch->plan(m, &out->ctx, out);
    if (st != AG_OK) return st;
    uint64_t V = m->n_vocab > 0 ? (uint64_t)m->n_vocab : 0;
    out->logits = (uint64_t)(p->n_logits > 0 ? p->n_logits : 1) * V * sizeof(float);
    /* ag_context: the token history; snapshots: recurrent state + tokens + logits */
    out->scratch += (uint64_t)out->ctx.n_ctx * sizeof(int32_t);
    if (p->n_snapshots > 0)
        out->snapshots = (uint64_t)p->n_snapshots *
                         (out->recurrent + (uint64_t)out->ctx.n_ctx * sizeof(int32_t) + V * sizeof(float));
    out->runtime = runtime + (uint64_t)out->ctx.n_threads * STACK_TOUCHED;
    out->total = out->weights + out->metadata + out->kv + out->recurrent + out->scratch + out->logits +
                 out->snapshots + out->runtime;
    out->available = avail;
    out->budget = p->budget ? p->budget : ag_mem_default_budget();
    out->fits = out->budget == 0 ? true : out->total <= out->budget; /* unknown memory: cannot refuse */
    return AG_OK;
}

static ag_status check_params(const ag_plan_params *p, ag_plan_params *cp)
{
    *cp = ag_plan_default_params();
    if (!p) return AG_OK;
    if (p->size < sizeof(ag_plan_params)) return ag_fail(AG_ERR_INVALID_ARG, "ag_plan: params.size %u too small", p->size);
    *cp = *p;
    return AG_OK;
}

ag_status ag_plan_model(const char *path, const ag_plan_params *p, ag_plan *out)
{
    if (!path || !out) return ag_fail(AG_ERR_INVALID_ARG, "ag_plan_model: NULL argument");
    ag_plan_params pp;
    ag_status st = check_params(p, &pp);
    if (st != AG_OK) return st;
    uint64_t runtime = ag_mem_rss(), avail = ag_mem_available();
    ag_gguf *g = NULL;
    ag_model m;
    st = plan_open(path, &g, &m);
    if (st == AG_OK) st = plan_with(&m, &pp, runtime, avail, out);
    ag_gguf_close(g);
    return st;
}

ag_status ag_plan_fit(const char *path, ag_plan_params *p, ag_plan *out)
{
    if (!path || !p || !out) return ag_fail(AG_ERR_INVALID_ARG, "ag_plan_fit: NULL argument");
    ag_plan_params pp;
    ag_status st = check_params(p, &pp);
    if (st != AG_OK) return st;
    uint64_t runtime = ag_mem_rss(), avail = ag_mem_available();
    ag_gguf *g = NULL;
    ag_model m;
    st = plan_open(path, &g, &m);
    if (st != AG_OK) goto done;
    int32_t want = pp.ctx.n_ctx > 0 ? pp.ctx.n_ctx : (m.n_ctx_train > 0 ? m.n_ctx_train : 4096);
    static const ag_cache_type order[3] = {AG_CACHE_F16, AG_CACHE_Q8_0, AG_CACHE_Q4_0};
    int32_t best_ctx = 0;
    ag_cache_type best_type = AG_CACHE_F16;
    for (int k = 0; k < 3; k++) {
        ag_plan_params t = pp;
        t.ctx.type_k = t.ctx.type_v = order[k];
        /* the largest n_ctx in [256, want] that fits (the plan grows with n_ctx) */
        int32_t lo = 0, hi = want;
        while (lo < hi) {
            int32_t mid = lo + (hi - lo + 1) / 2;
            t.ctx.n_ctx = mid;
            ag_plan q;
            st = plan_with(&m, &t, runtime, avail, &q);
            if (st != AG_OK) break;
            if (q.fits) lo = mid;
            else hi = mid - 1;
        }
        if (st != AG_OK) {
            if (k == 0) goto done;
            st = AG_OK; /* this type does not suit the model (head size): skip it */
            continue;
        }
        if (lo > best_ctx) {
            best_ctx = lo;
            best_type = order[k];
        }
        if (lo == want) break; /* the least lossy type that reaches the target */
    }
    pp.ctx.type_k = pp.ctx.type_v = best_type;
    pp.ctx.n_ctx = best_ctx < 256 ? 256 : best_ctx;
    st = plan_with(&m, &pp, runtime, avail, out);
    if (st == AG_OK && (best_ctx < 256 || !out->fits)) {
        st = ag_fail(AG_ERR_NOMEM,
                     "%s: does not fit: even 256 tokens of context with a q4_0 KV cache need %.0f MiB, the budget "
                     "is %.0f MiB (free memory, or choose a smaller model)", path, out->total / MiB,
                     out->budget / MiB);
        goto done;
    }
    if (st == AG_OK) *p = pp;
done:
    ag_gguf_close(g);
    return st;
}
