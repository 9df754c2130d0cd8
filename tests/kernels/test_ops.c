/* test_ops.c: the reference CPU kernels (src/kernels/ops.c) against plain
 * double-precision math, on awkward sizes.
 *
 * ag_matmul has two paths (one token: vec_dot per row; several tokens:
 * dequantize a row once, dot it with every token) and splits rows across a
 * thread pool; both paths, 1-3 threads and odd row counts (not a multiple of
 * the thread count) are checked for every weight type that can be written.
 * Also rmsnorm (with and without weight) and the f32 dot product. The
 * matmuls run at the "ref" kernel level (f32 activations, so the bound is
 * f32 rounding); the other levels are checked against it in test_vecdot.c.
 * The f32 dot and the fused DeltaNet step (delta_step: nr rows x n values,
 * every tail of the 4-row and 8/16-wide loops) and silu_mul are checked at
 * every level. */
#include "core/threads.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "quant/types.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 12345;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void check_matmul(uint32_t type, int64_t n_in, int64_t n_out, int64_t T, int threads)
{
    const ag_type_traits *tt = ag_type_traits_of(type);
    if (!tt || !tt->from_float || n_in % tt->block) return;
    float *wf = malloc((size_t)(n_in * n_out) * sizeof(float));
    float *wd = malloc((size_t)n_in * sizeof(float));
    float *x = malloc((size_t)(n_in * T) * sizeof(float));
    float *y = malloc((size_t)(n_out * T) * sizeof(float));
    uint64_t rb = ag_type_row_bytes(tt, (uint64_t)n_in);
    uint8_t *w = malloc((size_t)(rb * (uint64_t)n_out));
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = frand();
    for (int64_t i = 0; i < n_in * T; i++) x[i] = frand();
    for (int64_t o = 0; o < n_out; o++) tt->from_float(wf + o * n_in, w + o * rb, n_in);

    ag_weight wt = {w, tt, type, n_in, n_out, rb};
    ag_exec ex = {ag_pool_create(threads), NULL, n_in};
    ex.wbuf = malloc((size_t)(ag_pool_size(ex.pool) * n_in) * sizeof(float));
    ag_matmul(&ex, &wt, x, n_in, T, y, n_out);

    double worst = 0;
    for (int64_t o = 0; o < n_out; o++) {
        tt->to_float(w + o * rb, wd, n_in); /* the exact weights */
        for (int64_t t = 0; t < T; t++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n_in; i++) {
                ref += (double)wd[i] * x[t * n_in + i];
                mag += fabs((double)wd[i] * x[t * n_in + i]);
            }
            double err = fabs(y[t * n_out + o] - ref) / (mag + 1e-30);
            if (err > worst) worst = err;
        }
    }
    /* f32 accumulation over n_in terms: relative to sum |w x| the error is
     * bounded by about n_in * 2^-24; use a generous multiple */
    double bound = (double)(n_in + 64) * 6e-8 * 4;
    CHECK(worst <= bound, "matmul %s n_in %lld n_out %lld T %lld threads %d: rel err %.3g > %.3g", tt->name,
          (long long)n_in, (long long)n_out, (long long)T, threads, worst, bound);
    ag_pool_free(ex.pool);
    free(ex.wbuf);
    free(wf);
    free(wd);
    free(x);
    free(y);
    free(w);
}

int main(void)
{
    static const uint32_t types[] = {AG_TYPE_F32, AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q4_0,
                                     AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_IQ4_NL, AG_TYPE_Q2_K,
                                     AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K, AG_TYPE_IQ4_XS};
    static const int64_t n_ins[] = {32, 256, 768};
    static const int64_t n_outs[] = {1, 7, 33};
    static const int64_t Ts[] = {1, 3, 17};
    int n = 0;
    CHECK(ag_kernels_force("ref") && strcmp(ag_kernels()->name, "ref") == 0, "force the ref level");
    for (size_t a = 0; a < sizeof(types) / sizeof(types[0]); a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 3; c++)
                for (size_t d = 0; d < 3; d++) {
                    check_matmul(types[a], n_ins[b], n_outs[c], Ts[d], 1 + (int)((a + b + c + d) % 3));
                    n++;
                }
    printf("matmul cases: %d\n", n);

    /* rmsnorm */
    float v[37], y[37], w[37];
    for (int i = 0; i < 37; i++) { v[i] = frand() * 3; w[i] = frand(); }
    double ss = 0;
    for (int i = 0; i < 37; i++) ss += (double)v[i] * v[i];
    double s = 1.0 / sqrt(ss / 37 + 1e-6);
    ag_rmsnorm(y, v, w, 37, 1e-6f);
    for (int i = 0; i < 37; i++) CHECK_NEAR(y[i], v[i] * s * w[i], 1e-5, "rmsnorm %d", i);
    ag_rmsnorm(y, v, NULL, 37, 1e-6f);
    for (int i = 0; i < 37; i++) CHECK_NEAR(y[i], v[i] * s, 1e-5, "rmsnorm without weight %d", i);
    memcpy(y, v, sizeof(v));
    ag_rmsnorm(y, y, w, 37, 1e-6f); /* in place */
    for (int i = 0; i < 37; i++) CHECK_NEAR(y[i], v[i] * s * w[i], 1e-5, "rmsnorm in place %d", i);

    /* dot and axpby: every length 0..80 (tails of the 8/16/32-wide loops), every level */
    for (int lv = 0; lv < ag_kernels_count(); lv++) {
        ag_kernels_force(ag_kernels_level(lv)->name);
        for (int len = 0; len <= 80; len++) {
            double ref = 0;
            float a[80], b[80];
            for (int i = 0; i < len; i++) { a[i] = v[i % 37]; b[i] = w[(i * 5) % 37]; }
            for (int i = 0; i < len; i++) ref += (double)a[i] * b[i];
            CHECK_NEAR(ag_dot_f32(a, b, len), ref, 1e-5, "dot len %d level %s", len, ag_kernels()->name);
            float y[80], yr[80];
            for (int i = 0; i < len; i++) y[i] = yr[i] = b[i] * 0.5f + 0.25f;
            for (int i = 0; i < len; i++) yr[i] = 0.75f * yr[i] + -1.5f * a[i];
            ag_axpby_f32(y, a, -1.5f, 0.75f, len);
            for (int i = 0; i < len; i++)
                CHECK_NEAR(y[i], yr[i], 1e-5, "axpby len %d index %d level %s", len, i, ag_kernels()->name);
        }
    }
    /* delta_step: every level against the step in double precision */
    static const int nrs[] = {1, 3, 4, 5, 9}, ns[] = {1, 7, 8, 16, 17, 33, 128};
    for (int lv = 0; lv < ag_kernels_count(); lv++) {
        const ag_kernel_level *kl = ag_kernels_force(ag_kernels_level(lv)->name);
        CHECK(kl->delta_step != NULL, "%s: delta_step", kl->name);
        for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
            for (size_t b = 0; b < sizeof(ns) / sizeof(ns[0]); b++) {
                const int nr = nrs[a], nn = ns[b];
                float S[9 * 128 + 1], k[128], q[128], v[9], o[10];
                double Sd[9 * 128], od[9];
                for (int i = 0; i < nr * nn; i++) Sd[i] = S[i] = frand();
                S[nr * nn] = 42.0f; /* sentinel */
                o[nr] = 42.0f;
                for (int i = 0; i < nn; i++) { k[i] = frand(); q[i] = frand(); }
                for (int j = 0; j < nr; j++) v[j] = frand();
                const float decay = 0.9f, beta = 0.7f;
                for (int j = 0; j < nr; j++) {
                    double r = 0, oj = 0;
                    for (int i = 0; i < nn; i++) r += Sd[j * nn + i] * k[i];
                    const double d = beta * (v[j] - decay * r);
                    for (int i = 0; i < nn; i++) {
                        Sd[j * nn + i] = decay * Sd[j * nn + i] + d * k[i];
                        oj += Sd[j * nn + i] * q[i];
                    }
                    od[j] = oj;
                }
                /* o = v on every other size: the model writes the output over v */
                const bool alias = (a + b) % 2 == 1;
                float va[10];
                memcpy(va, v, sizeof(float) * (size_t)nr);
                va[nr] = 42.0f;
                kl->delta_step(S, nr, nn, k, q, alias ? va : v, decay, beta, alias ? va : o);
                if (alias) memcpy(o, va, sizeof(float) * (size_t)(nr + 1));
                for (int j = 0; j < nr; j++) {
                    CHECK_NEAR(o[j], od[j], 1e-4 * (1 + nn / 16), "%s delta_step nr %d n %d%s: o[%d]", kl->name, nr, nn,
                               alias ? " (o = v)" : "", j);
                    for (int i = 0; i < nn; i++)
                        CHECK_NEAR(S[j * nn + i], Sd[j * nn + i], 1e-5 * (1 + nn / 16), "%s delta_step nr %d n %d: S[%d][%d]",
                                   kl->name, nr, nn, j, i);
                }
                CHECK(S[nr * nn] == 42.0f && o[nr] == 42.0f, "%s delta_step nr %d n %d: wrote past the end", kl->name, nr, nn);
            }
    }
    /* silu_mul: every level against double precision, every tail, in place
     * (y = g and y = u), with and without u, and the edges (0, -0, +-tiny,
     * around exp's -87.3 cut, +-inf, NaN) */
    static const int sns[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000};
    static const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 88.5f, -88.5f, -100.0f,
                                 1e30f, -1e30f, 20.0f, -20.0f, 0.5f, -0.5f};
    for (int lv = 0; lv < ag_kernels_count(); lv++) {
        const ag_kernel_level *kl = ag_kernels_force(ag_kernels_level(lv)->name);
        CHECK(kl->silu_mul != NULL, "%s: silu_mul", kl->name);
        for (size_t a = 0; a < sizeof(sns) / sizeof(sns[0]); a++)
            for (int mode = 0; mode < 3; mode++) { /* 0: y, g, u apart; 1: y = g, no u; 2: y = u */
                const int n = sns[a];
                float g[1001], u[1001], y[1001];
                double want[1000];
                for (int i = 0; i < n; i++) {
                    g[i] = i < (int)(sizeof(edge) / sizeof(edge[0])) && n >= 100 ? edge[i] : 12.0f * frand();
                    u[i] = frand();
                    const double x = g[i], s = x / (1.0 + exp(-x));
                    want[i] = mode == 1 ? s : s * u[i];
                }
                y[n] = g[n] = u[n] = 42.0f; /* sentinels */
                if (mode == 0) kl->silu_mul(y, g, u, n);
                else if (mode == 1) kl->silu_mul(g, g, NULL, n);
                else kl->silu_mul(u, g, u, n);
                const float *got = mode == 0 ? y : mode == 1 ? g : u;
                int bad = 0;
                for (int i = 0; i < n; i++)
                    if (!(fabs(got[i] - want[i]) <= 1e-6 * fabs(want[i]) + 1e-35)) bad++;
                CHECK(bad == 0, "%s silu_mul n %d mode %d: %d values off", kl->name, n, mode, bad);
                CHECK(y[n] == 42.0f && g[n] == 42.0f && u[n] == 42.0f, "%s silu_mul n %d: wrote past the end", kl->name, n);
            }
        float nan_in = NAN, inf_in[2] = {INFINITY, -INFINITY}, out[2];
        kl->silu_mul(out, &nan_in, NULL, 1);
        CHECK(isnan(out[0]), "%s silu_mul(NaN) is NaN", kl->name);
        kl->silu_mul(out, inf_in, NULL, 2);
        CHECK(out[0] == INFINITY && isnan(out[1]), "%s silu_mul(+-inf) = inf, NaN (as x / (1 + e^-x))", kl->name);
    }
    ag_kernels_force(NULL);
    CHECK(ag_sigmoid(0) == 0.5f && ag_silu(0) == 0 && ag_softplus(30) == 30, "activations");
    CHECK_NEAR(ag_softplus(1), log1p(exp(1.0)), 1e-6, "softplus");
    return REPORT();
}
