/* sample.c: picks the next token from a row of logits (ag_sampler_*).
 *
 * Stage 4 of 5 (sample). The pipeline follows llama.cpp's usual chain, in
 * this order:
 *   1. penalties over the last penalty_last_n accepted tokens, once per
 *      distinct token: repeat (logit > 0 ? logit / r : logit * r), then
 *      frequency (- count * f) and presence (- p if count > 0);
 *   2. temperature <= 0: greedy argmax (ties: lowest id), nothing else;
 *   3. top-k: keep the k largest logits (k <= 0 or k >= n_vocab: off);
 *   4. temperature scaling and softmax;
 *   5. top-p: keep the smallest set of most likely tokens whose probability
 *      sum reaches p (at least one);
 *   6. min-p: drop tokens with probability < min_p * the largest one;
 *   7. draw from what is left, renormalised, with the seeded xoshiro256**.
 *
 * Speed for a 248,320-token vocabulary: nothing here sorts the vocabulary.
 * Top-k is one heap pass for small k (most tokens cost one comparison with
 * the heap root) and a quickselect for large k; top-p is a quickselect-style
 * search for the nucleus boundary (partition around a pivot, keep the better
 * side if its mass already reaches p, else take it whole and continue in the
 * worse side), so only a few dozen candidates are ever fully sorted; min-p
 * and the draw are linear scans over the unsorted survivors. Candidates are
 * ordered by (logit desc, id asc), a total order, so ties never make the
 * set of survivors depend on the input order or the pivot choice; top-k = 1 picks
 * the same token as greedy. Rejected: a full qsort per token (~20 ms for
 * 248k entries) and llama.cpp's bucket sort for top-p (more code, and still
 * needs a fallback when one bucket holds everything, e.g. flat logits).
 * Measured at -O2 on the 248k vocabulary: defaults ~0.3 ms, top-p alone
 * ~3 ms, greedy ~0.2 ms per token.
 *
 * Hostile logits: NaN is treated as -inf; +inf is clamped to FLT_MAX (so a
 * +inf token wins without producing inf - inf); all -inf gives the lowest id.
 * All scratch lives in the sampler and is grown on the first call, so
 * steady-state sampling does not allocate. The logits row is read in place
 * (penalised tokens are looked up in a short sorted list), so greedy and
 * top-k <= 512 keep no per-vocabulary copy: 2 MB less resident memory for
 * a 248k vocabulary, which the memory plan counts. */
#include "airgap.h"
#include "core/status.h"
#include "sample/rng.h"

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float v;       /* logit, later unnormalised probability exp((logit - max) / T) */
    int32_t id;
} cand;

struct ag_sampler {
    ag_sampler_params p;
    ag_rng rng;
    int32_t *hist;         /* ring buffer: the last hist_cap accepted tokens */
    size_t hist_cap;       /* = penalty_last_n */
    size_t hist_len;       /* tokens in the ring (<= hist_cap) */
    size_t hist_head;      /* where the next token goes */
    int32_t *win;          /* scratch: sorted copy of the ring (hist_cap) */
    cand *pen;             /* scratch: penalised tokens (hist_cap) */
    cand *cand;            /* scratch: the candidates; one per vocabulary token only
                              when top-k is off or large, else k */
    size_t n_cand;         /* capacity of cand */
};

ag_sampler_params ag_sampler_default_params(void)
{
    ag_sampler_params p;
    memset(&p, 0, sizeof(p));
    p.size = sizeof(p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0;
    return p;
}

static ag_status check_params(const ag_sampler_params *p)
{
    if (isnan(p->temperature) || p->temperature == INFINITY)
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: temperature %g must not be NaN or +inf",
                       (double)p->temperature);
    if (isnan(p->top_p))
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: top_p is NaN");
    if (isnan(p->min_p))
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: min_p is NaN");
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: repeat_penalty %g must be finite and > 0",
                       (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: presence/frequency penalty must be finite");
    if (p->penalty_last_n < 0)
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: penalty_last_n %d must be >= 0",
                       (int)p->penalty_last_n);
    return AG_OK;
}

ag_status ag_sampler_create(const ag_sampler_params *p, ag_sampler **out)
{
    if (!out)
        return ag_fail(AG_ERR_INVALID_ARG, "sampler: out is NULL");
    *out = NULL;
    ag_sampler_params q = ag_sampler_default_params();
    if (p) {
        if (p->size < sizeof(uint32_t))
            return ag_fail(AG_ERR_INVALID_ARG, "sampler: params.size = %u is too small",
                           (unsigned)p->size);
        /* an older caller's struct: read only the fields its size covers */
        memcpy(&q, p, p->size < sizeof(q) ? p->size : sizeof(q));
        q.size = sizeof(q);
    }
    ag_status st = check_params(&q);
    if (st != AG_OK)
        return st;

    ag_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return ag_fail(AG_ERR_NOMEM, "sampler: out of memory");
    s->p = q;
    s->hist_cap = (size_t)q.penalty_last_n;
    if (s->hist_cap > 0) {
        s->hist = malloc(s->hist_cap * sizeof(*s->hist));
        s->win = malloc(s->hist_cap * sizeof(*s->win));
        s->pen = malloc(s->hist_cap * sizeof(*s->pen));
        if (!s->hist || !s->win || !s->pen) {
            ag_sampler_free(s);
            return ag_fail(AG_ERR_NOMEM, "sampler: out of memory for a penalty window of %d",
                           (int)q.penalty_last_n);
        }
    }
    ag_rng_seed(&s->rng, q.seed);
    *out = s;
    return AG_OK;
}

void ag_sampler_free(ag_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->win);
    free(s->pen);
    free(s->cand);
    free(s);
}

void ag_sampler_accept(ag_sampler *s, int32_t token)
{
    if (!s || s->hist_cap == 0)
        return;
    s->hist[s->hist_head] = token;
    s->hist_head = (s->hist_head + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap)
        s->hist_len++;
}

void ag_sampler_reset(ag_sampler *s)
{
    if (!s)
        return;
    s->hist_len = 0;
    s->hist_head = 0;
    ag_rng_seed(&s->rng, s->p.seed);
}

/* ---- helpers ---------------------------------------------------------------- */

static float sanitize(double v)       /* NaN -> -inf, too large -> FLT_MAX, too small -> -inf */
{
    if (isnan(v))
        return -INFINITY;
    if (v > FLT_MAX)
        return FLT_MAX;
    if (v < -FLT_MAX)
        return -INFINITY;             /* a double beyond float range is UB to convert */
    return (float)v;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The penalised tokens of the window, ascending by id, with their new
 * logits, into s->pen; returns how many. Other tokens keep their logit, so
 * the pipeline reads the logits row in place and looks these up in order. */
static size_t penalties(ag_sampler *s, const float *logits, int32_t n_vocab)
{
    const ag_sampler_params *p = &s->p;
    if (s->hist_len == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return 0;
    size_t n = s->hist_len, k = 0;
    memcpy(s->win, s->hist, n * sizeof(*s->win));
    qsort(s->win, n, sizeof(*s->win), cmp_i32);
    for (size_t i = 0; i < n;) {
        int32_t t = s->win[i];
        size_t j = i;
        while (j < n && s->win[j] == t)
            j++;
        double count = (double)(j - i);
        i = j;
        if (t < 0 || t >= n_vocab)
            continue;                      /* a token of another vocabulary: no effect */
        double v = sanitize(logits[t]);
        if (p->repeat_penalty != 1.0f)
            v = v > 0 ? v / p->repeat_penalty : v * p->repeat_penalty;
        v -= count * p->frequency_penalty + p->presence_penalty;
        s->pen[k++] = (cand){sanitize(v), t};
    }
    return k;
}

/* The total order of candidates: larger value first, then lower id. */
static inline int better(cand a, cand b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

static inline void swap_cand(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

static uint64_t pivot_rng(uint64_t *x)     /* splitmix64: pivot choice only, not the draw */
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Partitions c[lo, hi) (hi - lo >= 2) around a random pivot: on return
 * c[lo, m) are better than c[m], which is better than c[m+1, hi). A random
 * pivot keeps the expected cost linear whatever the logits look like. */
static size_t partition(cand *c, size_t lo, size_t hi, uint64_t *st)
{
    size_t pi = lo + (size_t)(pivot_rng(st) % (hi - lo));
    swap_cand(&c[pi], &c[hi - 1]);
    cand piv = c[hi - 1];
    size_t m = lo;
    for (size_t i = lo; i < hi - 1; i++)
        if (better(c[i], piv))
            swap_cand(&c[i], &c[m++]);
    swap_cand(&c[m], &c[hi - 1]);
    return m;
}

/* Restores the heap property below slot i of the k-slot heap c[0, k), whose
 * root is the worst of the k (a min-heap under better()). */
static void sift_down(cand *c, size_t k, size_t i)
{
    for (;;) {
        size_t w = i, l = 2 * i + 1, r = l + 1;
        if (l < k && better(c[w], c[l]))
            w = l;
        if (r < k && better(c[w], c[r]))
            w = r;
        if (w == i)
            return;
        swap_cand(&c[i], &c[w]);
        i = w;
    }
}

/* Reorders c[0, n) so that c[0, k) are the k best (in no particular order),
 * by quickselect (large k; a small k takes the heap pass in the pipeline). */
static void select_best(cand *c, size_t n, size_t k, uint64_t *st)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t m = partition(c, lo, hi, st);
        if (m == k || m + 1 == k)
            return;
        if (m < k)
            lo = m + 1;
        else
            hi = m;
    }
}

static int cmp_cand(const void *a, const void *b)
{
    cand x = *(const cand *)a, y = *(const cand *)b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

/* Top-p on unnormalised probabilities c[i].v: reorders c[0, n) and returns
 * the size of the smallest best-first prefix whose mass reaches target (at
 * least 1; n if the whole set falls short through rounding). Invariant:
 * c[0, lo) are the lo best and hold mass acc < target; c[0, hi) are the hi
 * best and the answer is at most hi. */
static size_t nucleus(cand *c, size_t n, double target, uint64_t *st)
{
    if (target <= 0.0) {
        select_best(c, n, 1, st);
        return 1;
    }
    size_t lo = 0, hi = n;
    double acc = 0.0;
    while (hi - lo > 32) {
        size_t m = partition(c, lo, hi, st);
        double s = 0.0;
        for (size_t i = lo; i < m; i++)
            s += c[i].v;
        if (acc + s >= target) {
            hi = m;                         /* s > 0 here, so m > lo */
        } else if (acc + s + c[m].v >= target) {
            return m + 1;
        } else {
            acc += s + c[m].v;
            lo = m + 1;
        }
    }
    qsort(c + lo, hi - lo, sizeof(*c), cmp_cand);
    for (size_t i = lo; i < hi; i++) {
        acc += c[i].v;
        if (acc >= target)
            return i + 1;
    }
    return hi > 0 ? hi : 1;
}

/* ---- the pipeline ------------------------------------------------------------ */

int32_t ag_sampler_sample(ag_sampler *s, const float *logits, int32_t n_vocab)
{
    if (!s || !logits || n_vocab <= 0) {
        ag_fail(AG_ERR_INVALID_ARG, "sampler: %s", !s ? "sampler is NULL" :
                !logits ? "logits is NULL" : "n_vocab <= 0");
        return -1;
    }
    size_t n = (size_t)n_vocab;
    const ag_sampler_params *p = &s->p;
    size_t n_pen = penalties(s, logits, n_vocab), ip = 0;
    const cand *pen = s->pen;
    /* candidate i in id order: the penalised value, else the sanitised logit */
#define CAND(i) (ip < n_pen && pen[ip].id == (int32_t)(i) ? pen[ip++] \
                 : (cand){isnan(logits[i]) ? -INFINITY : logits[i] > FLT_MAX ? FLT_MAX : logits[i], (int32_t)(i)})

    /* 1-2. greedy: one pass over the row */
    if (p->temperature <= 0.0f) {
        cand best = CAND(0);
        for (size_t i = 1; i < n; i++) {
            cand x = CAND(i);
            if (x.v > best.v)
                best = x;
        }
        return best.id;
    }

    /* 3. top-k: a small k keeps the k best of one pass in a heap (most tokens
     * cost one comparison with its root), so only k candidates are stored;
     * otherwise every token is a candidate and a quickselect picks k */
    uint64_t pst = 0x243f6a8885a308d3ull;   /* pivot stream, reset per call: deterministic */
    bool heap = p->top_k > 0 && (size_t)p->top_k < n && p->top_k <= 512;
    size_t need = heap ? (size_t)p->top_k : n;
    if (need > s->n_cand) {
        cand *nc = realloc(s->cand, need * sizeof(*nc));
        if (!nc) {
            ag_fail(AG_ERR_NOMEM, "sampler: out of memory for %zu candidates", need);
            return -1;
        }
        s->cand = nc;
        s->n_cand = need;
    }
    cand *c = s->cand;
    size_t nc = n;
    if (heap) {
        nc = (size_t)p->top_k;
        for (size_t i = 0; i < nc; i++)
            c[i] = CAND(i);
        for (size_t i = nc / 2; i-- > 0;)
            sift_down(c, nc, i);
        for (size_t i = nc; i < n; i++) {
            cand x = CAND(i);
            if (better(x, c[0])) {
                c[0] = x;
                sift_down(c, nc, 0);
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            c[i] = CAND(i);
        if (p->top_k > 0 && (size_t)p->top_k < n) {
            nc = (size_t)p->top_k;
            select_best(c, n, nc, &pst);
        }
    }
#undef CAND

    /* 4. temperature + softmax (unnormalised: v = exp((logit - max) / T), sum z) */
    size_t best = 0;
    for (size_t i = 1; i < nc; i++)
        if (better(c[i], c[best]))
            best = i;
    float mx = c[best].v;
    if (mx == -INFINITY)
        return c[best].id;                  /* nothing is possible: lowest id */
    double z = 0.0;
    for (size_t i = 0; i < nc; i++) {
        float e = expf((c[i].v - mx) / p->temperature);
        c[i].v = e;                          /* the max maps to exactly 1 */
        z += e;
    }

    /* 5. top-p */
    if (p->top_p < 1.0f)
        nc = nucleus(c, nc, (double)p->top_p * z, &pst);

    /* 6. min-p (ratios to the max do not depend on normalisation) */
    if (p->min_p > 0.0f) {
        float emax = 0.0f;
        for (size_t i = 0; i < nc; i++)
            emax = c[i].v > emax ? c[i].v : emax;
        float thr = (p->min_p < 1.0f ? p->min_p : 1.0f) * emax;
        size_t k = 0;
        for (size_t i = 0; i < nc; i++)
            if (c[i].v >= thr)
                c[k++] = c[i];
        nc = k;                              /* the max always passes: k >= 1 */
    }

    /* 7. draw */
    double total = 0.0;
    for (size_t i = 0; i < nc; i++)
        total += c[i].v;
    double u = ag_rng_uniform(&s->rng) * total, acc = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < nc; i++) {
        if (c[i].v <= 0.0f)
            continue;
        acc += c[i].v;
        last = i;
        if (acc > u)
            return c[i].id;
    }
    return c[last].id;                       /* rounding fallback: a token with mass */
}
