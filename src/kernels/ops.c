/* ops.c: the matmul driver and small f32 ops (see ops.h).
 *
 * ag_matmul looks the weight type up in the active kernel level
 * (kernels.h), converts the T activation rows once into the entry's
 * activation format (into ex->wbuf, grown on demand; in parallel when there
 * is enough of it), then hands out blocks of output rows to the pool's
 * threads through an atomic counter (each thread starts on its own block, so
 * the common case costs no atomic at all). A block is handed to the entry's
 * gemm with all T tokens, in token blocks of at most MAX_TB, so the block's
 * weights stay in cache while every token passes over them: prefill reads
 * the weights from memory once per call rather than once per token.
 *
 * ag_matmul_multi runs several products that share their input in one such
 * job (one pool wake-up, one conversion of x per activation format): the
 * chunks of all of them form one list.
 *
 * Block sizes: decode (T == 1) is memory-bound, so blocks only need to be
 * large enough to amortize the counter (>= 16 rows) and numerous enough
 * (about 8 per thread) that a thread delayed by the OS does not hold up the
 * op; prefill blocks are 16-64 rows (weights of a block in L1/L2).
 * Rejected: a static split of rows in nth equal parts (the previous driver;
 * one preempted thread stalls the whole op), per-token calls for prefill
 * (re-reads the weights T times). */
#include "kernels/ops.h"

#include "core/status.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TB 64 /* tokens per gemm call */

float ag_dot_f32(const float *a, const float *b, int64_t n) { return ag_kernels()->dot_f32(a, b, n); }

void ag_axpby_f32(float *y, const float *x, float a, float b, int64_t n) { ag_kernels()->axpby_f32(y, x, a, b, n); }

void ag_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

/* ---- activation conversion ---- */

typedef struct {
    ag_act_quant_fn quant;
    const float *x;
    int64_t ldx, n, T;
    uint8_t *dst;
    size_t as;
} quant_job;

static void quant_worker(void *arg, int ith, int nth)
{
    const quant_job *j = arg;
    for (int64_t t = ith; t < j->T; t += nth) j->quant(j->x + t * j->ldx, j->dst + (size_t)t * j->as, j->n);
}

/* At least `bytes` of 64-byte aligned scratch in ex->wbuf, or NULL. */
static uint8_t *scratch(ag_exec *ex, size_t bytes)
{
    size_t nth = (size_t)ag_pool_size(ex->pool);
    size_t have = ex->wbuf && ex->wbuf_len > 0 ? nth * (size_t)ex->wbuf_len * sizeof(float) : 0;
    size_t need = bytes + 64;
    if (have < need) {
        size_t per = (need + nth * sizeof(float) - 1) / (nth * sizeof(float)); /* floats per thread */
        float *p = realloc(ex->wbuf, per * nth * sizeof(float));
        if (!p) return NULL;
        ex->wbuf = p;
        ex->wbuf_len = (int64_t)per;
    }
    uintptr_t u = (uintptr_t)ex->wbuf;
    return (uint8_t *)ex->wbuf + ((64 - u % 64) % 64);
}

/* ---- the driver ---- */

typedef struct {
    ag_gemm_fn gemm;
    const uint8_t *w;
    size_t rb;
    int64_t n_out;
    const uint8_t *act;
    size_t as;
    float *y;
    int64_t ldy;
    long long c0, c1; /* this product's chunks in the job's numbering */
} mm_part;

typedef struct {
    const mm_part *parts;
    int np;
    int64_t n, T, chunk;
    long long n_chunks;
    atomic_llong next;
} matmul_job;

static void matmul_worker(void *arg, int ith, int nth)
{
    matmul_job *j = arg;
    (void)nth;
    int p = 0;
    for (long long c = ith; c < j->n_chunks; c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) {
        while (c >= j->parts[p].c1) p++; /* a thread's chunks only increase */
        const mm_part *pt = &j->parts[p];
        int64_t r0 = (int64_t)(c - pt->c0) * j->chunk;
        int64_t nr = pt->n_out - r0 < j->chunk ? pt->n_out - r0 : j->chunk;
        for (int64_t t0 = 0; t0 < j->T; t0 += MAX_TB) {
            int64_t nt = j->T - t0 < MAX_TB ? j->T - t0 : MAX_TB;
            pt->gemm(j->n, pt->w + (size_t)r0 * pt->rb, pt->rb, pt->act + (size_t)t0 * pt->as, pt->as,
                     pt->y + t0 * pt->ldy + r0, (size_t)pt->ldy, nr, nt);
        }
    }
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

#define MAX_PARTS 8

static void matmul_some(ag_exec *ex, int nw, const ag_weight *const *w, const float *x, int64_t ldx, int64_t T,
                        float *const *y, const int64_t *ldy)
{
    const ag_kernel_level *lv = ag_kernels(), *ref = ag_kernels_level(0);
    const int64_t n = w[0]->n_in;
    mm_part parts[MAX_PARTS];
    /* activation formats: one conversion of x per distinct quantizer */
    ag_act_quant_fn fmt[MAX_PARTS];
    size_t fmt_row[MAX_PARTS], fmt_off[MAX_PARTS], total = 0;
    int nf = 0, fmt_of[MAX_PARTS];
    const ag_kernel *k[MAX_PARTS];
    for (int i = 0; i < nw; i++) {
        AG_ASSERT(w[i]->n_in == n);
        k[i] = &lv->k[w[i]->type];
        fmt_of[i] = -1;
        if (!k[i]->quant) continue;
        int f = 0;
        while (f < nf && fmt[f] != k[i]->quant) f++;
        if (f == nf) {
            size_t row = (size_t)(n / k[i]->act_block) * k[i]->act_bytes;
            fmt[nf] = k[i]->quant;
            fmt_row[nf] = (row + 63) / 64 * 64;
            fmt_off[nf] = total;
            total += fmt_row[nf] * (size_t)T;
            nf++;
        }
        fmt_of[i] = f;
    }
    uint8_t *buf = nf ? scratch(ex, total) : NULL;
    if (nf && !buf) { /* no memory: the reference kernels need no scratch */
        for (int i = 0; i < nw; i++) k[i] = &ref->k[w[i]->type], fmt_of[i] = -1;
        nf = 0;
    }
    for (int f = 0; f < nf; f++) {
        quant_job qj = {fmt[f], x, ldx, n, T, buf + fmt_off[f], fmt_row[f]};
        if (T > 1 && T * n >= 16384) ag_pool_run(ex->pool, quant_worker, &qj);
        else quant_worker(&qj, 0, 1);
    }

    const int nth = ag_pool_size(ex->pool);
    int64_t rows = 0;
    for (int i = 0; i < nw; i++) rows += w[i]->n_out;
    int64_t chunk;
    if (nth == 1) chunk = T == 1 ? rows : 64;
    else if (T == 1) chunk = round_up(rows / (nth * 8), 16);
    else chunk = round_up(rows / (nth * 4), 16);
    if (chunk < 16) chunk = 16;
    if (T > 1 && chunk > 64) chunk = 64;
    long long nc = 0;
    for (int i = 0; i < nw; i++) {
        mm_part *pt = &parts[i];
        pt->gemm = k[i]->gemm;
        pt->w = w[i]->data;
        pt->rb = w[i]->row_bytes;
        pt->n_out = w[i]->n_out;
        if (fmt_of[i] >= 0) {
            pt->act = buf + fmt_off[fmt_of[i]];
            pt->as = fmt_row[fmt_of[i]];
        } else {
            pt->act = (const uint8_t *)x;
            pt->as = (size_t)ldx * sizeof(float);
        }
        pt->y = y[i];
        pt->ldy = ldy[i];
        pt->c0 = nc;
        nc += (w[i]->n_out + chunk - 1) / chunk;
        pt->c1 = nc;
    }
    matmul_job j = {.parts = parts, .np = nw, .n = n, .T = T, .chunk = chunk, .n_chunks = nc};
    atomic_init(&j.next, nth);
    if (nc == 1) matmul_worker(&j, 0, 1);
    else ag_pool_run(ex->pool, matmul_worker, &j);
}

void ag_matmul_multi(ag_exec *ex, int nw, const ag_weight *const *w, const float *x, int64_t ldx, int64_t T,
                     float *const *y, const int64_t *ldy)
{
    if (T <= 0) return;
    for (int i = 0; i < nw; i += MAX_PARTS) {
        int m = nw - i < MAX_PARTS ? nw - i : MAX_PARTS;
        /* drop empty products (n_out 0) */
        const ag_weight *ws[MAX_PARTS];
        float *ys[MAX_PARTS];
        int64_t ls[MAX_PARTS];
        int k = 0;
        for (int q = 0; q < m; q++)
            if (w[i + q]->n_out > 0) ws[k] = w[i + q], ys[k] = y[i + q], ls[k] = ldy[i + q], k++;
        if (k) matmul_some(ex, k, ws, x, ldx, T, ys, ls);
    }
}

void ag_matmul(ag_exec *ex, const ag_weight *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy)
{
    ag_matmul_multi(ex, 1, &w, x, ldx, T, &y, &ldy);
}
