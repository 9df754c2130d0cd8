/* ops.c: reference CPU kernels (see ops.h).
 *
 * ag_matmul splits output rows across the pool's threads. For one token it
 * calls the type's vec_dot on each row straight from the file; for several
 * tokens it dequantizes each weight row once into the thread's scratch and
 * dots it with every token, so prefill reads the weights once per batch
 * rather than once per token. */
#include "kernels/ops.h"

#include <math.h>

float ag_dot_f32(const float *a, const float *b, int64_t n)
{
    /* eight independent partial sums: lets the compiler vectorize without
     * -ffast-math, and halves the rounding error growth of one long chain */
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float r = 0;
    for (; i < n; i++) r += a[i] * b[i];
    return r + ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

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

typedef struct {
    const ag_exec *ex;
    const ag_weight *w;
    const float *x;
    int64_t ldx, T;
    float *y;
    int64_t ldy;
} matmul_job;

static void matmul_worker(void *arg, int ith, int nth)
{
    const matmul_job *j = arg;
    const ag_weight *w = j->w;
    int64_t per = (w->n_out + nth - 1) / nth;
    int64_t o0 = per * ith, o1 = o0 + per < w->n_out ? o0 + per : w->n_out;
    const uint8_t *base = w->data;
    if (j->T == 1) {
        for (int64_t o = o0; o < o1; o++)
            j->y[o] = w->tt->vec_dot(base + (uint64_t)o * w->row_bytes, j->x, w->n_in);
        return;
    }
    float *buf = j->ex->wbuf + (int64_t)ith * j->ex->wbuf_len;
    for (int64_t o = o0; o < o1; o++) {
        w->tt->to_float(base + (uint64_t)o * w->row_bytes, buf, w->n_in);
        for (int64_t t = 0; t < j->T; t++) j->y[t * j->ldy + o] = ag_dot_f32(buf, j->x + t * j->ldx, w->n_in);
    }
}

void ag_matmul(const ag_exec *ex, const ag_weight *w, const float *x, int64_t ldx, int64_t T, float *y,
               int64_t ldy)
{
    matmul_job j = {ex, w, x, ldx, T, y, ldy};
    ag_pool_run(ex->pool, matmul_worker, &j);
}
