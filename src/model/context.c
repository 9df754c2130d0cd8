/* context.c: one sequence's state and the decode call (Stage 3 of 5: forward).
 *
 * Generic over architectures: validates the request, splits it into steps of
 * at most n_batch tokens, keeps the logits the caller asked for, and lets the
 * architecture's forward() do the math. A request that would overflow n_ctx
 * is refused before anything changes, so the state is never half-updated by
 * a bad call. */
#include "model/arch.h"
#include "core/status.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cache_names[AG_CACHE_TYPE_COUNT] = {"f16", "f32", "q8_0", "q4_0"};

const char *ag_cache_type_name(ag_cache_type t)
{
    return (unsigned)t < AG_CACHE_TYPE_COUNT ? cache_names[t] : "?";
}

int ag_cache_type_parse(const char *name)
{
    for (int i = 0; name && i < AG_CACHE_TYPE_COUNT; i++)
        if (strcasecmp(name, cache_names[i]) == 0) return i;
    return -1;
}

ag_context_params ag_context_default_params(void)
{
    ag_context_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    return p;
}

ag_status ag_context_params_resolve(ag_context_params *cp, int32_t n_ctx_train)
{
    if (cp->n_ctx < 0 || cp->n_batch < 0)
        return ag_fail(AG_ERR_INVALID_ARG, "context: n_ctx (%d) and n_batch (%d) must be >= 0", cp->n_ctx, cp->n_batch);
    if ((unsigned)cp->type_k >= AG_CACHE_TYPE_COUNT || (unsigned)cp->type_v >= AG_CACHE_TYPE_COUNT)
        return ag_fail(AG_ERR_INVALID_ARG, "context: unknown KV cache type %d/%d (f16, f32, q8_0 or q4_0)",
                       (int)cp->type_k, (int)cp->type_v);
    if (cp->n_ctx == 0) cp->n_ctx = n_ctx_train > 0 && n_ctx_train < 4096 ? n_ctx_train : 4096;
    /* 64 tokens per step per 4096 positions of context, at most 256. Every
     * step reads the whole KV cache (and codes it, for the int16 attention)
     * and pays a partial last chunk, so a 150-token turn after a long
     * history runs ~7% faster in one step than in 64 + 64 + 22; the scratch
     * (~45 KiB a token for the 0.8B shape) stays ~6% of an f16 KV cache.
     * Small contexts, where every MiB counts against the file size, keep
     * 64 (the kernels tile up to 64 tokens; larger steps gain ~5% there). */
    if (cp->n_batch == 0) {
        int64_t b = 64 * (((int64_t)cp->n_ctx + 4095) / 4096);
        cp->n_batch = (int32_t)(b < 256 ? b : 256);
    }
    if (cp->n_batch > cp->n_ctx) cp->n_batch = cp->n_ctx;
    if (cp->n_threads <= 0) cp->n_threads = ag_physical_cores();
    return AG_OK;
}

ag_status ag_context_create(const ag_model *m, const ag_context_params *p, ag_context **out)
{
    if (!out) return ag_fail(AG_ERR_INVALID_ARG, "ag_context_create: out is NULL");
    *out = NULL;
    if (!m) return ag_fail(AG_ERR_INVALID_ARG, "ag_context_create: model is NULL");
    if (!m->arch) return ag_fail(AG_ERR_INVALID_ARG, "ag_context_create: model was loaded vocab-only");
    ag_context_params cp = ag_context_default_params();
    if (p) {
        /* older callers: the fields they know, defaults for the rest */
        if (p->size < offsetof(ag_context_params, type_k))
            return ag_fail(AG_ERR_INVALID_ARG, "ag_context_create: params.size %u too small", p->size);
        memcpy(&cp, p, p->size < sizeof(cp) ? p->size : sizeof(cp));
        cp.size = sizeof(cp);
    }

    ag_status rs = ag_context_params_resolve(&cp, m->n_ctx_train);
    if (rs != AG_OK) return rs;

    ag_context *c = calloc(1, sizeof(*c));
    if (!c) return ag_fail(AG_ERR_NOMEM, "context: out of memory");
    c->model = m;
    c->params = cp;
    c->exec.pool = cp.n_threads > 1 ? ag_pool_create(cp.n_threads) : NULL;
    int nth = ag_pool_size(c->exec.pool);
    c->exec.wbuf_len = 0;
    /* widest weight row any matmul may dequantize: bounded by the largest
     * tensor row in the file */
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
        if ((int64_t)m->gguf->tensors[i].ne[0] > c->exec.wbuf_len) c->exec.wbuf_len = (int64_t)m->gguf->tensors[i].ne[0];
    c->exec.wbuf = malloc((size_t)nth * (size_t)c->exec.wbuf_len * sizeof(float));
    c->tokens = malloc((size_t)cp.n_ctx * sizeof(int32_t));
    ag_status st = AG_OK;
    if (!c->exec.wbuf || !c->tokens) { st = ag_fail(AG_ERR_NOMEM, "context: out of memory for scratch"); goto fail; }
    st = m->arch->ctx_init(c);
    if (st != AG_OK) goto fail;
    *out = c;
    return AG_OK;
fail:
    ag_context_free(c);
    return st;
}

void ag_context_free(ag_context *c)
{
    if (!c) return;
    if (c->state && c->model->arch->ctx_free) c->model->arch->ctx_free(c);
    ag_pool_free(c->exec.pool);
    free(c->exec.wbuf);
    free(c->logits);
    free(c->tokens);
    free(c);
}

int32_t ag_context_n_ctx(const ag_context *c) { return c ? c->params.n_ctx : 0; }
int32_t ag_context_n_past(const ag_context *c) { return c ? c->n_past : 0; }

void ag_context_reset(ag_context *c)
{
    if (!c) return;
    c->model->arch->ctx_reset(c);
    c->n_past = 0; /* the cache rows stay valid for c->tokens (see state.c) */
    c->logits_rows = 0;
}

void ag_context_set_abort(ag_context *c, bool (*should_abort)(void *), void *user)
{
    if (!c) return;
    c->should_abort = should_abort;
    c->abort_user = user;
}

/* Room for rows logits rows. */
static ag_status logits_cap(ag_context *c, size_t rows)
{
    if (rows <= c->logits_cap_rows) return AG_OK;
    size_t V = (size_t)c->model->n_vocab, bytes = rows * V * sizeof(float);
    if (bytes / rows / sizeof(float) != V)
        return ag_fail(AG_ERR_NOMEM, "ag_decode: logits for %zu tokens do not fit in memory", rows);
    float *l = realloc(c->logits, bytes);
    if (!l) return ag_fail(AG_ERR_NOMEM, "ag_decode: out of memory for logits of %zu tokens (%zu MiB)", rows, bytes >> 20);
    c->logits = l;
    c->logits_cap_rows = rows;
    return AG_OK;
}

/* ag_decode, and with at > 0 the snapshot after tokens[0, at) into *snap.
 * The step that holds the mark runs it inside (ag_mark) unless the mark
 * ends the step; the snapshot is then the state after that step. */
static ag_status decode(ag_context *c, const int32_t *tokens, size_t n, bool all_logits, size_t at, ag_snapshot **snap)
{
    const ag_model *m = c->model;
    const size_t V = (size_t)m->n_vocab;
    if (n > (size_t)(c->params.n_ctx - c->n_past))
        return ag_fail(AG_ERR_CONTEXT_FULL, "context full: %d positions used + %zu new tokens > n_ctx %d", c->n_past,
                       n, c->params.n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return ag_fail(AG_ERR_INVALID_ARG, "ag_decode: token %d at index %zu is outside the vocabulary [0, %d)",
                           tokens[i], i, m->n_vocab);

    size_t rows = all_logits ? n : 1;
    /* a mark inside a step without all_logits: that step's two rows */
    ag_status st = logits_cap(c, rows > 1 || at == 0 ? rows : 2);
    if (st != AG_OK) return st;
    c->logits_rows = 0;
    ag_snapshot *sn = NULL;
    uint8_t *rec = NULL;
    float *snap_logits = NULL;
    if (at > 0) {
        st = ag_snapshot_new(c, c->n_past + (int32_t)at, &sn, &rec, &snap_logits);
        if (st != AG_OK) return st;
    }

    /* With an abort callback, steps are kept short so a stop request is
     * honoured quickly; the state always holds whole steps. */
    size_t step = (size_t)c->params.n_batch;
    if (c->should_abort && step > 64) step = 64;
    for (size_t done = 0; done < n;) {
        if (c->should_abort && c->should_abort(c->abort_user)) {
            st = ag_fail(AG_ERR_ABORTED, "aborted after %zu of %zu tokens", done, n);
            break;
        }
        size_t cnt = n - done < step ? n - done : step;
        bool last = done + cnt == n, marked = done < at && at <= done + cnt;
        ag_mark mk = {(int32_t)(at - done), rec};
        const ag_mark *mark = marked && at < done + cnt ? &mk : NULL;
        float *out = all_logits ? c->logits + done * V : last || mark ? c->logits : marked ? snap_logits : NULL;
        memcpy(c->tokens + c->n_past, tokens + done, cnt * sizeof(int32_t));
        c->kv_valid = c->n_past; /* rows past here were computed for other tokens */
        st = m->arch->forward(c, tokens + done, (int32_t)cnt, out, all_logits, mark);
        if (st != AG_OK) break;
        c->n_past += (int32_t)cnt;
        c->kv_valid = c->n_past;
        if (marked) {
            ag_snapshot_set_tokens(sn, c->tokens);
            /* the mark's logits row: in all_logits' rows, or row 0 of a
             * marked step's two or of the last step (else the step wrote
             * it to snap_logits itself) */
            if (all_logits) memcpy(snap_logits, c->logits + (at - 1) * V, V * sizeof(float));
            else if (mark || last) memcpy(snap_logits, c->logits, V * sizeof(float));
            if (mark && !all_logits && last) memmove(c->logits, c->logits + V, V * sizeof(float));
            if (!mark && (st = ag_snapshot_fill(c, sn)) != AG_OK) break; /* the mark ends this step: the state as it is */
        }
        done += cnt;
    }
    if (st != AG_OK) {
        ag_snapshot_free(sn);
        return st;
    }
    c->logits_rows = rows;
    if (snap) *snap = sn;
    return AG_OK;
}

ag_status ag_decode(ag_context *c, const int32_t *tokens, size_t n, bool all_logits)
{
    if (!c) return ag_fail(AG_ERR_INVALID_ARG, "ag_decode: context is NULL");
    if (n == 0) return AG_OK;
    if (!tokens) return ag_fail(AG_ERR_INVALID_ARG, "ag_decode: tokens is NULL");
    return decode(c, tokens, n, all_logits, 0, NULL);
}

ag_status ag_decode_snap(ag_context *c, const int32_t *tokens, size_t n, bool all_logits, size_t at, ag_snapshot **snap)
{
    if (snap) *snap = NULL;
    if (!c || !snap) return ag_fail(AG_ERR_INVALID_ARG, "ag_decode_snap: %s is NULL", c ? "snap" : "context");
    if (!tokens && n) return ag_fail(AG_ERR_INVALID_ARG, "ag_decode_snap: tokens is NULL");
    if (at == 0 || at > n)
        return ag_fail(AG_ERR_INVALID_ARG, "ag_decode_snap: the snapshot point %zu is outside the %zu tokens (1..%zu)",
                       at, n, n);
    return decode(c, tokens, n, all_logits, at, snap);
}

const float *ag_get_logits(const ag_context *c, size_t i)
{
    if (!c || i >= c->logits_rows) return NULL;
    return c->logits + i * (size_t)c->model->n_vocab;
}
