/* test_attn_ops.c: the attention's kernel-table entries (max_f32, exp_sum, pv_f32,
 * k[type].to_f32; kernels.h) at every level this CPU has, against the ref
 * level and exact math.
 *
 *  - softmax_rows: bit-identical to max_f32 + exp_sum composed as kernels.h says
 *  - max_f32: n 1..128, the max first, last or inside, -inf entries, all
 *    -inf; equal to the plain loop (a max is exact).
 *  - exp_sum: n in {1, 3, 15, 16, 17, 31, 33, 64, 100, 257} (every tail of
 *    every vector width), x - m in [-100, 0] with -inf entries (must give
 *    exactly 0) and x == m (exactly 1), for small, large and negative m;
 *    plus a dense sweep of x - m over [-90, 0]. Each value within 4e-7
 *    relative + 1e-37 absolute of the ref level's expf (about 3 ulp; below
 *    e^-87.3 ~ 1.2e-38 a level may flush to 0), the returned sum within
 *    1e-6 relative of the double sum of the ref values.
 *  Output buffers are followed by sentinels that must stay untouched: a
 *  masked vector store past the end is invisible to ASan.
 *  - pv_f32: nr in {1,2,3,4,5,7,8,13} x nk in {1,2,7,16,33,64} x n in
 *    {1,15,16,17,32,100,256}, row strides larger than the rows (ldy > n,
 *    ldp > nk, ldv > n; odd, so rows are not vector-aligned), y pre-filled
 *    (the kernel accumulates): within 1e-5 of the double-precision result,
 *    relative to |y0| + sum |p v|; the gaps between y rows must be left
 *    untouched and the buffers end exactly at the last element.
 *  - to_f32 for F16 / BF16 / Q8_0 / Q4_0: rows of n in {32, 64, 256, 288}
 *    (and short ones for the block-1 types) made by the reference
 *    quantizers from data of very different magnitudes per block (f16
 *    subnormals and overflow to inf included), at an odd address:
 *    bit-identical to the type's reference to_float. Also raw random blocks
 *    (every code, q8_0's -128) with finite scales, and all 65536 f16 / bf16
 *    bit patterns (NaNs need only stay NaN: F16C/FCVT quiet a signalling
 *    one).
 *
 *  - qk_f16 (keys nr in {1..7, 33, 64} x query rows nt in {1..7, 13, 64} x
 *    n in {1, 15, 16, 17, 64, 128, 256}, odd strides) and pv_f16 (as
 *    pv_f32, f16 value rows at a 2-byte aligned odd stride) within 1e-5 of
 *    the double result of the exactly converted f16 values.
 *  - pv_q8_0: nr in {1..7, 13, 17, 31, 64} x nk in {1..7, 16, 33, 63, 64} x
 *    n in {32, 64, 96, 128, 256}, 2-byte aligned rows, softmax-like weights
 *    (exact zeros, a zero row), NaN-filled scratch: bit-identical to
 *    ag_pv_q8_0_ref, and that (also checked alone) within its stated bound
 *    of exact math (0.5 / 255 of the largest p * d per |code|).
 *
 *  - keys_i16 + qk_i16 / values_i16 + pv_i16 / quant_i16 (the int16
 *    path; one coded tile used by two calls that split the rows):
 *    bit-identical to ag_qk_f16_i16_ref / ag_pv_f16_i16_ref /
 *    ag_act_quant_i16_ref, and
 *    the references (also checked alone) within kernels.h's bound of exact
 *    math: keys nr in {1, 2, 5, 7, 15, 16, 17, 33, 48, 63, 64} x query rows
 *    nt in {1..7, 13, 64, 300} x n in {32, 64, 96, 256, 512}; value tiles
 *    nk in {1, 2, 3, 7, 16, 33, 63, 64} x rows nr in {1..5, 7, 13, 17, 64,
 *    257, 300}; blocks / dimensions that are zero, huge (up to f16's
 *    65504), tiny (f16 subnormal), or hold an inf (codes 0), masked (-inf)
 *    scores as p = 0, rows whose weights are all below 2^-64, NaN after
 *    each p row and in the scratch.
 *
 * `test_attn_ops --bench` prints ns per call of each level's pv_f32 (nr = 4,
 * nk = 64, n = 256), exp_sum (n = 64) and to_f32 (n = 256), and the
 * GFLOP/s of one attention tile's QK and PV kernels, instead;
 * `--bench-i16` (also part of --bench) the int16 kernels against the f32
 * ones at the best level for 4..256 query rows, and their conversions. */
#include "harness.h"
#include "kernels/kernels.h"
#include "quant/blocks.h"
#include "quant/types.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double urand(void) /* [0, 1) */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float frand(void) { return (float)(urand() * 2.0 - 1.0); }

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

#define SENTINEL 12345.0f /* fills what a kernel must not write */
#define TAIL 16           /* sentinels after each output buffer */

/* A kernel wrote its nw-wide rows of y (row stride ldy, rows rows) and
 * nothing else: the gaps between rows and the TAIL values after the
 * ny-value buffer still hold SENTINEL. what names the call. */
static void check_untouched(const char *what, const float *y, size_t ldy, int64_t rows, int64_t nw, size_t ny)
{
    for (int64_t r = 0; r + 1 < rows; r++)
        for (size_t e = (size_t)nw; e < ldy; e++)
            if (y[(size_t)r * ldy + e] != SENTINEL) {
                CHECK(0, "%s: wrote into the stride gap at row %lld", what, (long long)r);
                break;
            }
    for (size_t i = 0; i < TAIL; i++)
        if (y[ny + i] != SENTINEL) {
            CHECK(0, "%s: wrote past the last row", what);
            break;
        }
}

/* ---- exp_sum ---- */

static void check_exp_one(const ag_kernel_level *lv, const ag_kernel_level *ref, const float *in, float m, int64_t n,
                          const char *what)
{
    float *x = xmalloc((size_t)(n + TAIL) * sizeof(float)), *want = xmalloc((size_t)n * sizeof(float));
    memcpy(x, in, (size_t)n * sizeof(float));
    for (int i = 0; i < TAIL; i++) x[n + i] = SENTINEL;
    memcpy(want, in, (size_t)n * sizeof(float));
    const float s = lv->exp_sum(x, m, n);
    ref->exp_sum(want, m, n);
    for (int i = 0; i < TAIL; i++) {
        CHECK(x[n + i] == SENTINEL, "%s %s n=%lld: exp_sum wrote past the end", lv->name, what, (long long)n);
        if (x[n + i] != SENTINEL) break;
    }
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 5; i++) {
        if (in[i] == -INFINITY) {
            CHECK(x[i] == 0.0f, "%s %s n=%lld m=%g: x[%lld] = -inf gave %g, want 0", lv->name, what, (long long)n,
                  m, (long long)i, x[i]);
            bad += x[i] != 0.0f;
        } else if (in[i] == m) {
            CHECK(x[i] == 1.0f, "%s %s n=%lld m=%g: x[%lld] == m gave %.9g, want 1", lv->name, what, (long long)n, m,
                  (long long)i, x[i]);
            bad += x[i] != 1.0f;
        } else {
            const double tol = 4e-7 * want[i] + 1e-37;
            const int ok = fabs((double)x[i] - want[i]) <= tol;
            CHECK(ok, "%s %s n=%lld m=%g: exp(%.9g - m) = %.9g, want %.9g", lv->name, what, (long long)n, m, in[i],
                  x[i], want[i]);
            bad += !ok;
        }
    }
    if (!bad) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += want[i];
        /* 1e-6 relative for n <= 257; the ref level's own sequential f32
         * sum of the 4099-value sweeps needs more; flushed values count
         * with their absolute bound */
        const double tol = (n <= 257 ? 1e-6 : 1e-5) * sum + (double)n * 1e-37;
        CHECK(fabs(s - sum) <= tol, "%s %s n=%lld m=%g: sum %.9g, want %.9g", lv->name, what, (long long)n, m, s,
              sum);
    }
    free(x);
    free(want);
}

/* max_f32: exact, so every level equals a plain loop; every tail of the
 * 8/16/32-wide loops, the max anywhere (first, last, a tail lane), -inf
 * entries, all -inf, and no read past n (the value after n is larger) */
static void test_max_f32(const ag_kernel_level *lv)
{
    float x[130];
    for (int n = 1; n <= 128; n++)
        for (int where = 0; where < 3; where++) {
            for (int i = 0; i < n; i++) x[i] = -(float)(urand() * 1000.0) - 1.0f;
            for (int i = 2; i < n; i += 5) x[i] = -INFINITY;
            const int at = where == 0 ? 0 : where == 1 ? n - 1 : n / 2;
            x[at] = -0.5f;
            x[n] = 1e30f; /* past the end */
            CHECK(lv->max_f32(x, n) == -0.5f, "%s max_f32 n=%d max at %d: %g", lv->name, n, at, lv->max_f32(x, n));
            for (int i = 0; i < n; i++) x[i] = -INFINITY;
            CHECK(lv->max_f32(x, n) == -INFINITY, "%s max_f32 n=%d all -inf", lv->name, n);
        }
}

/* softmax_rows: bit-identical to kernels.h's composition of the level's own
 * max_f32 and exp_sum (and libm expf), over rows that see none, part or all
 * of the tile, per 1 and 4, running maxima that grow, stay and start at
 * -inf; the level is made active first (the reference composes the active
 * level's) */
static void test_softmax_rows(const ag_kernel_level *lv)
{
    enum { NR = 13, NK = 64, N = 40, LDS = NK + 3, LDO = N + 5 };
    static const int64_t nrs[] = {1, 4, 12, 13}, pers[] = {1, 4}, nks[] = {1, 17, 64}, v0s[] = {-3, 0, 1, 5, 64, 100};
    float s[NR * LDS], sw[NR * LDS], m[NR], mw[NR], l[NR], lw[NR], o[NR * LDO], ow[NR * LDO];
    CHECK(ag_kernels_force(lv->name) == lv, "%s: could not make it active", lv->name);
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(pers) / sizeof(pers[0]); b++)
            for (size_t c = 0; c < sizeof(nks) / sizeof(nks[0]); c++)
                for (size_t d = 0; d < sizeof(v0s) / sizeof(v0s[0]); d++) {
                    const int64_t nr = nrs[a], per = pers[b], nk = nks[c], v0 = v0s[d];
                    for (int i = 0; i < NR * LDS; i++) s[i] = (float)(urand() * 20.0 - 10.0);
                    for (int i = 0; i < NR * LDO; i++) o[i] = (float)(urand() * 2.0 - 1.0);
                    for (int r = 0; r < NR; r++) {
                        m[r] = r % 3 == 0 ? -INFINITY : r % 3 == 1 ? -20.0f : 9.5f;
                        l[r] = m[r] > -INFINITY ? (float)(urand() * 5.0 + 1.0) : 0.0f;
                    }
                    memcpy(sw, s, sizeof(s));
                    memcpy(mw, m, sizeof(m));
                    memcpy(lw, l, sizeof(l));
                    memcpy(ow, o, sizeof(o));
                    for (int64_t r = 0; r < nr; r++) { /* kernels.h's composition */
                        float *sr = sw + r * LDS;
                        int64_t nv = v0 + r / per < nk ? v0 + r / per : nk;
                        if (nv <= 0) {
                            for (int64_t k = 0; k < nk; k++) sr[k] = 0;
                            continue;
                        }
                        const float tmax = lv->max_f32(sr, nv);
                        for (int64_t k = nv; k < nk; k++) sr[k] = -INFINITY;
                        if (!(tmax <= mw[r])) {
                            if (mw[r] > -INFINITY) {
                                const float alpha = expf(mw[r] - tmax);
                                lw[r] *= alpha;
                                for (int e = 0; e < N; e++) ow[r * LDO + e] *= alpha;
                            }
                            mw[r] = tmax;
                        }
                        lw[r] += lv->exp_sum(sr, mw[r], nk);
                    }
                    lv->softmax_rows(s, LDS, nr, per, nk, v0, m, l, o, LDO, N);
                    CHECK(!memcmp(s, sw, sizeof(s)) && !memcmp(m, mw, sizeof(m)) && !memcmp(l, lw, sizeof(l)) &&
                              !memcmp(o, ow, sizeof(o)),
                          "%s softmax_rows nr=%lld per=%lld nk=%lld v0=%lld: not the composition", lv->name,
                          (long long)nr, (long long)per, (long long)nk, (long long)v0);
                }
    ag_kernels_force(NULL);
}

static void test_exp_sum(const ag_kernel_level *lv, const ag_kernel_level *ref)
{
    static const int64_t ns[] = {1, 3, 15, 16, 17, 31, 33, 64, 100, 257};
    static const float ms[] = {0.0f, 3.25f, -41.5f, 1000.0f};
    float in[257];
    for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
        for (size_t b = 0; b < sizeof(ms) / sizeof(ms[0]); b++) {
            const int64_t n = ns[a];
            const float m = ms[b];
            for (int64_t i = 0; i < n; i++) in[i] = m - (float)(urand() * 100.0);
            for (int64_t i = 3; i < n; i += 7) in[i] = -INFINITY;
            in[(n - 1) / 2] = m; /* x == m; with n = 1 the only value */
            if (n > 4) in[n - 1] = -INFINITY;
            check_exp_one(lv, ref, in, m, n, "random");
        }
    /* all masked but the last value (in every level's tail), and all
     * masked (a tile of masked keys after an earlier maximum: sum 0) */
    for (int64_t i = 0; i < 33; i++) in[i] = -INFINITY;
    in[32] = 2.0f;
    check_exp_one(lv, ref, in, 2.0f, 33, "masked");
    in[32] = -INFINITY;
    check_exp_one(lv, ref, in, 2.0f, 33, "all masked");
    /* a dense sweep of x - m over [-90, 0], and values just around the
     * small end and around the reduction's breakpoints (k ln2 +- ln2/2) */
    enum { SWEEP = 4099 };
    float *sw = xmalloc(SWEEP * sizeof(float));
    for (int i = 0; i < SWEEP; i++) sw[i] = -90.0f * (float)i / (SWEEP - 1);
    check_exp_one(lv, ref, sw, 0.0f, SWEEP, "sweep");
    for (int i = 0; i < SWEEP; i++) {
        const int k = i % 126;
        sw[i] = -(float)(k + 0.5) * 0.69314718f + (float)(urand() - 0.5) * 1e-4f;
    }
    check_exp_one(lv, ref, sw, 0.0f, SWEEP, "breakpoints");
    for (int i = 0; i < SWEEP; i++) sw[i] = -87.0f - (float)urand() * 0.5f; /* near the flush threshold */
    check_exp_one(lv, ref, sw, 0.0f, SWEEP, "threshold");
    free(sw);
}

/* ---- pv_f32 ---- */

/* y (nr rows, stride ldy) = y0 + p x vf (exact values as f32 rows, stride
 * ldvf) in double, within 1e-5 of sum |terms| per value; then nothing
 * outside the rows written. `what` names the call. */
static void check_pv_exact(const char *what, const float *y, const float *y0, size_t ldy, size_t ny, const float *p,
                           size_t ldp, const float *vf, size_t ldvf, int64_t nr, int64_t nk, int64_t n)
{
    int bad = 0;
    for (int64_t r = 0; r < nr && bad < 3; r++)
        for (int64_t e = 0; e < n && bad < 3; e++) {
            const size_t iy = (size_t)r * ldy + (size_t)e;
            double want = y0[iy], mag = fabs(y0[iy]);
            for (int64_t k = 0; k < nk; k++) {
                const double t = (double)p[(size_t)r * ldp + (size_t)k] * vf[(size_t)k * ldvf + (size_t)e];
                want += t;
                mag += fabs(t);
            }
            const int ok = fabs(y[iy] - want) <= 1e-5 * mag + 1e-30;
            CHECK(ok, "%s: y[%lld][%lld] = %.9g, want %.9g", what, (long long)r, (long long)e, y[iy], want);
            bad += !ok;
        }
    check_untouched(what, y, ldy, nr, n, ny);
}

static void test_pv_one(const ag_kernel_level *lv, int64_t nr, int64_t nk, int64_t n)
{
    const size_t ldy = (size_t)n + 3, ldp = (size_t)nk + 5, ldv = (size_t)n + 7;
    const size_t ny = (size_t)(nr - 1) * ldy + (size_t)n, np = (size_t)(nr - 1) * ldp + (size_t)nk,
                 nv = (size_t)(nk - 1) * ldv + (size_t)n;
    /* one extra float in front: rows start 4 bytes off malloc's alignment;
     * TAIL sentinels after y catch a masked store past the end, which ASan
     * does not see */
    float *ybuf = xmalloc((ny + 1 + TAIL) * sizeof(float)), *pbuf = xmalloc((np + 1) * sizeof(float)),
          *vbuf = xmalloc((nv + 1) * sizeof(float));
    float *y = ybuf + 1, *p = pbuf + 1, *v = vbuf + 1;
    float *y0 = xmalloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++) y[i] = (i % ldy) < (size_t)n ? frand() : SENTINEL;
    for (size_t i = 0; i < np; i++) p[i] = (float)urand();
    for (size_t i = 0; i < nv; i++) v[i] = frand();
    for (size_t i = 0; i < TAIL; i++) y[ny + i] = SENTINEL;
    memcpy(y0, y, ny * sizeof(float));
    lv->pv_f32(y, ldy, p, ldp, v, ldv, nr, nk, n);
    char what[96];
    snprintf(what, sizeof(what), "%s pv_f32 nr=%lld nk=%lld n=%lld", lv->name, (long long)nr, (long long)nk,
             (long long)n);
    check_pv_exact(what, y, y0, ldy, ny, p, ldp, v, ldv, nr, nk, n);
    free(ybuf);
    free(pbuf);
    free(vbuf);
    free(y0);
}

static void test_pv(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 3, 4, 5, 7, 8, 13}, nks[] = {1, 2, 7, 16, 33, 64},
                         ns[] = {1, 15, 16, 17, 32, 100, 256};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nks) / sizeof(nks[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_pv_one(lv, nrs[a], nks[b], ns[c]);
}

/* ---- qk_f16 ---- */

static void test_qk_f16_one(const ag_kernel_level *lv, int64_t nr, int64_t nt, int64_t n)
{
    const size_t ws = 2 * (size_t)n + 6, as = 4 * (size_t)n + 12, ldy = (size_t)nr + 3;
    const size_t ny = (size_t)(nt - 1) * ldy + (size_t)nr;
    uint8_t *wbuf = xmalloc((size_t)nr * ws + 2), *w = wbuf + 2, *abuf = xmalloc((size_t)nt * as + 4), *a = abuf + 4;
    float *y = xmalloc((ny + TAIL) * sizeof(float)), *tmp = xmalloc((size_t)n * sizeof(float));
    const ag_type_traits *tt = ag_type_traits_of(AG_TYPE_F16);
    for (int64_t r = 0; r < nr; r++) {
        for (int64_t e = 0; e < n; e++) tmp[e] = frand() * (r % 3 == 0 ? 50.0f : 1.0f);
        tt->from_float(tmp, w + (size_t)r * ws, n);
    }
    for (int64_t t = 0; t < nt; t++)
        for (int64_t e = 0; e < n; e++) ((float *)(a + (size_t)t * as))[e] = frand();
    for (size_t i = 0; i < ny + TAIL; i++) y[i] = SENTINEL;
    lv->qk_f16(n, w, ws, a, as, y, ldy, nr, nt);
    int bad = 0;
    for (int64_t t = 0; t < nt && bad < 3; t++)
        for (int64_t r = 0; r < nr && bad < 3; r++) {
            tt->to_float(w + (size_t)r * ws, tmp, n);
            double want = 0, mag = 0;
            for (int64_t e = 0; e < n; e++) {
                const double x = (double)tmp[e] * ((const float *)(a + (size_t)t * as))[e];
                want += x;
                mag += fabs(x);
            }
            const float got = y[(size_t)t * ldy + (size_t)r];
            const int ok = fabs(got - want) <= 1e-5 * mag + 1e-30;
            CHECK(ok, "%s qk_f16 nr=%lld nt=%lld n=%lld: y[%lld][%lld] = %.9g, want %.9g", lv->name, (long long)nr,
                  (long long)nt, (long long)n, (long long)t, (long long)r, got, want);
            bad += !ok;
        }
    char what[96];
    snprintf(what, sizeof(what), "%s qk_f16 nr=%lld nt=%lld n=%lld", lv->name, (long long)nr, (long long)nt,
             (long long)n);
    check_untouched(what, y, ldy, nt, nr, ny);
    free(wbuf);
    free(abuf);
    free(y);
    free(tmp);
}

static void test_qk_f16(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 3, 4, 5, 7, 33, 64}, nts[] = {1, 2, 3, 4, 5, 7, 13, 64},
                         ns[] = {1, 15, 16, 17, 64, 128, 256};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nts) / sizeof(nts[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_qk_f16_one(lv, nrs[a], nts[b], ns[c]);
}

/* ---- qk_q8_0 ---- */

/* against the level's own k[Q8_0].gemm on the same quantized queries:
 * the same exact integer block dots, only the f32 sums in another order */
static void test_qk_q8_0_one(const ag_kernel_level *lv, int64_t nr, int64_t nt, int64_t n)
{
    const ag_kernel *kq = &lv->k[AG_TYPE_Q8_0];
    const ag_type_traits *tt = ag_type_traits_of(AG_TYPE_Q8_0);
    const size_t ws = (size_t)n / 32 * 34 + 6, as = ((size_t)n / kq->act_block * kq->act_bytes + 63) / 64 * 64,
                 ldy = (size_t)nr + 3, ny = (size_t)(nt - 1) * ldy + (size_t)nr;
    uint8_t *wbuf = xmalloc((size_t)nr * ws + 2), *w = wbuf + 2;
    uint8_t *act = aligned_alloc(64, (size_t)nt * as), *scratch = aligned_alloc(64, (AG_PV_Q8_0_SCRATCH(nt, n) + 63) / 64 * 64);
    float *y = xmalloc((ny + TAIL) * sizeof(float)), *want = xmalloc(ny * sizeof(float)), *tmp = xmalloc((size_t)n * sizeof(float));
    if (!act || !scratch) abort();
    memset(scratch, 0xff, (AG_PV_Q8_0_SCRATCH(nt, n) + 63) / 64 * 64);
    for (int64_t r = 0; r < nr; r++) {
        for (int64_t e = 0; e < n; e++) tmp[e] = frand() * (r % 3 == 0 ? 50.0f : 1.0f) * (e / 32 % 2 ? 0.1f : 1.0f);
        tt->from_float(tmp, w + (size_t)r * ws, n);
    }
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t e = 0; e < n; e++) tmp[e] = frand() * (t % 2 ? 3.0f : 0.2f);
        kq->quant(tmp, act + (size_t)t * as, n);
    }
    for (size_t i = 0; i < ny + TAIL; i++) y[i] = SENTINEL;
    kq->gemm(n, w, ws, act, as, want, ldy, nr, nt);
    lv->qk_q8_0(n, w, ws, act, as, y, ldy, nr, nt, scratch);
    int bad = 0;
    for (int64_t t = 0; t < nt && bad < 3; t++)
        for (int64_t r = 0; r < nr && bad < 3; r++) {
            /* |want| is a poor scale (cancellation): the sum of |terms| bounds the f32 rounding */
            tt->to_float(w + (size_t)r * ws, tmp, n);
            double mag = 0;
            for (int64_t e = 0; e < n; e++) mag += fabs((double)tmp[e]) * 3.1 * 1.01;
            const float got = y[(size_t)t * ldy + (size_t)r], wv = want[(size_t)t * ldy + (size_t)r];
            const int ok = fabs(got - wv) <= 2e-6 * mag + 1e-30;
            CHECK(ok, "%s qk_q8_0 nr=%lld nt=%lld n=%lld: y[%lld][%lld] = %.9g, gemm %.9g", lv->name, (long long)nr,
                  (long long)nt, (long long)n, (long long)t, (long long)r, got, wv);
            bad += !ok;
        }
    char what[96];
    snprintf(what, sizeof(what), "%s qk_q8_0 nr=%lld nt=%lld n=%lld", lv->name, (long long)nr, (long long)nt,
             (long long)n);
    check_untouched(what, y, ldy, nt, nr, ny);
    free(wbuf);
    free(act);
    free(scratch);
    free(y);
    free(want);
    free(tmp);
}

static void test_qk_q8_0(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 5, 15, 16, 17, 33, 48, 63, 64}, nts[] = {1, 2, 3, 4, 5, 7, 13, 64},
                         ns[] = {32, 64, 96, 128, 256};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nts) / sizeof(nts[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_qk_q8_0_one(lv, nrs[a], nts[b], ns[c]);
}

/* ---- pv_f16 ---- */

static void test_pv_f16_one(const ag_kernel_level *lv, int64_t nr, int64_t nk, int64_t n)
{
    const size_t ldy = (size_t)n + 3, ldp = (size_t)nk + 5, ldv = 2 * (size_t)n + 6; /* bytes; odd in f16 */
    const size_t ny = (size_t)(nr - 1) * ldy + (size_t)n, np = (size_t)(nr - 1) * ldp + (size_t)nk,
                 nvb = (size_t)(nk - 1) * ldv + 2 * (size_t)n;
    float *ybuf = xmalloc((ny + 1 + TAIL) * sizeof(float)), *p = xmalloc(np * sizeof(float));
    float *y = ybuf + 1, *y0 = xmalloc(ny * sizeof(float)), *tmp = xmalloc((size_t)n * sizeof(float));
    uint8_t *vbuf = xmalloc(nvb + 2), *v = vbuf + 2;
    const ag_type_traits *tt = ag_type_traits_of(AG_TYPE_F16);
    for (size_t i = 0; i < ny; i++) y[i] = (i % ldy) < (size_t)n ? frand() : SENTINEL;
    for (size_t i = 0; i < np; i++) p[i] = (float)urand();
    for (int64_t k = 0; k < nk; k++) {
        for (int64_t e = 0; e < n; e++) tmp[e] = frand() * (k % 3 == 0 ? 100.0f : 1.0f);
        tt->from_float(tmp, v + (size_t)k * ldv, n);
    }
    for (size_t i = 0; i < TAIL; i++) y[ny + i] = SENTINEL;
    memcpy(y0, y, ny * sizeof(float));
    lv->pv_f16(y, ldy, p, ldp, v, ldv, nr, nk, n);
    float *vf = xmalloc((size_t)(nk * n) * sizeof(float)); /* the exact values (f16 -> f32 is exact) */
    for (int64_t k = 0; k < nk; k++) tt->to_float(v + (size_t)k * ldv, vf + (size_t)(k * n), n);
    char what[96];
    snprintf(what, sizeof(what), "%s pv_f16 nr=%lld nk=%lld n=%lld", lv->name, (long long)nr, (long long)nk,
             (long long)n);
    check_pv_exact(what, y, y0, ldy, ny, p, ldp, vf, (size_t)n, nr, nk, n);
    free(ybuf);
    free(p);
    free(y0);
    free(tmp);
    free(vf);
    free(vbuf);
}

static void test_pv_f16(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 3, 4, 5, 7, 13}, nks[] = {1, 2, 7, 33, 64}, ns[] = {1, 15, 16, 17, 64, 100, 256};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nks) / sizeof(nks[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_pv_f16_one(lv, nrs[a], nks[b], ns[c]);
}

/* ---- pv_q8_0 ---- */

/* lv's pv_q8_0 (or, lv NULL, ag_pv_q8_0_ref) against the reference
 * (bit-identical) and exact math (the bound of the 8-bit weights) */
static void test_pv_q8_0_one(const ag_kernel_level *lv, int64_t nr, int64_t nk, int64_t n)
{
    const int64_t nb = n / 32;
    const size_t ldy = (size_t)n + 3, ldp = (size_t)nk + 5, ldv = (size_t)nb * 34 + 6; /* 2-byte aligned rows */
    const size_t ny = (size_t)(nr - 1) * ldy + (size_t)n, np = (size_t)(nr - 1) * ldp + (size_t)nk,
                 nvb = (size_t)(nk - 1) * ldv + (size_t)nb * 34;
    float *ybuf = xmalloc((ny + 1 + TAIL) * sizeof(float)), *p = xmalloc(np * sizeof(float));
    float *y = ybuf + 1, *y0 = xmalloc(ny * sizeof(float)), *yr = xmalloc(ny * sizeof(float));
    float *tmp = xmalloc((size_t)n * sizeof(float));
    uint8_t *vbuf = xmalloc(nvb + 2), *v = vbuf + 2;
    const size_t sb = (AG_PV_Q8_0_SCRATCH(nr, n) + 63) / 64 * 64;
    uint8_t *scratch = aligned_alloc(64, sb), *scratch_ref = aligned_alloc(64, sb);
    if (!scratch || !scratch_ref) abort();
    memset(scratch, 0xff, sb); /* NaN garbage: the kernel must not depend on it */
    const ag_type_traits *tt = ag_type_traits_of(AG_TYPE_Q8_0);
    for (size_t i = 0; i < ny; i++) y[i] = (i % ldy) < (size_t)n ? frand() : SENTINEL;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t k = 0; k < nk; k++) {
            double u = urand(); /* softmax-like: a few near 1, many tiny, some exact 0; row 2 all 0 */
            p[(size_t)r * ldp + (size_t)k] = r == 2 ? 0.0f : u < 0.1 ? 0.0f : u < 0.3 ? (float)urand() : (float)(urand() * 1e-3);
        }
    for (int64_t k = 0; k < nk; k++) {
        for (int64_t e = 0; e < n; e++) tmp[e] = frand() * (e / 32 % 2 ? 30.0f : 0.3f) * (k % 5 == 1 ? 10.0f : 1.0f);
        tt->from_float(tmp, v + (size_t)k * ldv, n);
    }
    for (size_t i = 0; i < TAIL; i++) y[ny + i] = SENTINEL;
    memcpy(y0, y, ny * sizeof(float));
    memcpy(yr, y, ny * sizeof(float));
    const char *name = lv ? lv->name : "ref-fn";
    ag_pv_q8_0_ref(yr, ldy, p, ldp, v, ldv, nr, nk, n, scratch_ref);
    if (lv) lv->pv_q8_0(y, ldy, p, ldp, v, ldv, nr, nk, n, scratch);
    else memcpy(y, yr, ny * sizeof(float));
    int bad = 0;
    for (int64_t r = 0; r < nr && bad < 3; r++)
        for (int64_t e = 0; e < n && bad < 3; e++) {
            const size_t iy = (size_t)r * ldy + (size_t)e;
            /* exact math, and the 8-bit weights' bound: 0.5 / 255 of the row's largest p * d per |code| */
            double want = y0[iy], mag = fabs(y0[iy]), m = 0, qs = 0;
            for (int64_t k = 0; k < nk; k++) {
                const blk_q8_0 *blk = (const blk_q8_0 *)(v + (size_t)k * ldv) + e / 32;
                const double d = ag_f16_to_f32((uint16_t)(blk->d[0] | blk->d[1] << 8));
                const double pk = p[(size_t)r * ldp + (size_t)k];
                want += pk * d * blk->qs[e % 32];
                mag += fabs(pk * d * blk->qs[e % 32]);
                m = pk * d > m ? pk * d : m;
                qs += fabs((double)blk->qs[e % 32]);
            }
            const int ok = fabs(y[iy] - want) <= 0.5 / 255 * m * qs * 1.001 + 1e-6 * mag + 1e-30;
            CHECK(ok, "%s pv_q8_0 nr=%lld nk=%lld n=%lld: y[%lld][%lld] = %.9g, want %.9g", name, (long long)nr,
                  (long long)nk, (long long)n, (long long)r, (long long)e, y[iy], want);
            const int same = memcmp(&y[iy], &yr[iy], sizeof(float)) == 0;
            CHECK(same, "%s pv_q8_0 nr=%lld nk=%lld n=%lld: y[%lld][%lld] = %.9g, reference %.9g", name,
                  (long long)nr, (long long)nk, (long long)n, (long long)r, (long long)e, y[iy], yr[iy]);
            bad += !ok || !same;
        }
    char what[96];
    snprintf(what, sizeof(what), "%s pv_q8_0 nr=%lld nk=%lld n=%lld", name, (long long)nr, (long long)nk,
             (long long)n);
    check_untouched(what, y, ldy, nr, n, ny);
    free(ybuf);
    free(p);
    free(y0);
    free(yr);
    free(tmp);
    free(vbuf);
    free(scratch);
    free(scratch_ref);
}

static void test_pv_q8_0(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 3, 4, 5, 7, 13, 17, 31, 64}, nks[] = {1, 2, 3, 4, 5, 7, 16, 33, 63, 64},
                         ns[] = {32, 64, 96, 128, 256};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nks) / sizeof(nks[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_pv_q8_0_one(lv, nrs[a], nks[b], ns[c]);
}

/* ---- to_f32 ---- */

/* row (n values of type t, any address) through the level and the reference */
static void check_row(const ag_kernel_level *lv, uint32_t t, const uint8_t *row, int64_t n, int nan_loose,
                      const char *what)
{
    const ag_type_traits *tt = ag_type_traits_of(t);
    float *got = xmalloc((size_t)(n + TAIL) * sizeof(float)), *want = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < TAIL; i++) got[n + i] = SENTINEL;
    lv->k[t].to_f32(row, got, n);
    tt->to_float(row, want, n);
    for (int i = 0; i < TAIL; i++) {
        CHECK(got[n + i] == SENTINEL, "%s to_f32 %s %s n=%lld: wrote past the end", lv->name, tt->name, what,
              (long long)n);
        if (got[n + i] != SENTINEL) break;
    }
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 3; i++) {
        const int ok = memcmp(&got[i], &want[i], 4) == 0 || (nan_loose && isnan(want[i]) && isnan(got[i]));
        CHECK(ok, "%s to_f32 %s %s n=%lld: value %lld is %.9g (0x%08x), want %.9g (0x%08x)", lv->name, tt->name,
              what, (long long)n, (long long)i, got[i], ag_f32_to_bits(got[i]), want[i], ag_f32_to_bits(want[i]));
        bad += !ok;
    }
    free(got);
    free(want);
}

static void test_to_f32(const ag_kernel_level *lv)
{
    static const uint32_t types[] = {AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    static const int64_t ns[] = {32, 64, 256, 288, 1, 7, 8, 15, 17, 33};
    static const float scales[] = {1.0f, 1e-3f, 250.0f, 0.0f, 3e-6f, 1e5f, 0.07f, 7e4f, 1e-8f};
    /* block scales of the raw rows: finite f16 (subnormal ones included) */
    static const float dscales[] = {1.0f, 1e-3f, 250.0f, 0.0f, 3e-6f, 0.07f, 1e-7f};
    for (size_t a = 0; a < sizeof(types) / sizeof(types[0]); a++) {
        const uint32_t t = types[a];
        const ag_type_traits *tt = ag_type_traits_of(t);
        CHECK(tt && lv->k[t].to_f32, "%s: no to_f32 for type %u", lv->name, t);
        if (!tt || !lv->k[t].to_f32) continue;
        for (size_t b = 0; b < sizeof(ns) / sizeof(ns[0]); b++) {
            const int64_t n = ns[b];
            if (n % tt->block) continue;
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; i++) x[i] = frand() * scales[(i / 32 + b) % 9];
            const size_t rb = (size_t)ag_type_row_bytes(tt, (uint64_t)n);
            uint8_t *buf = xmalloc(rb + 1);
            tt->from_float(x, buf + 1, n);
            check_row(lv, t, buf + 1, n, 0, "quantized");
            /* raw bytes: every code (q8_0's -128 too), finite block scales */
            for (size_t i = 0; i < rb; i++) buf[1 + i] = (uint8_t)(urand() * 256);
            if (tt->block > 1)
                for (size_t i = 0; i < rb; i += tt->bytes) wr_f16(buf + 1 + i, frand() * dscales[(i / tt->bytes) % 7]);
            else if (t == AG_TYPE_F16)
                for (size_t i = 0; i < rb; i += 2)
                    if ((buf[2 + i] & 0x7c) == 0x7c) buf[2 + i] ^= 0x40; /* no inf/NaN here */
            check_row(lv, t, buf + 1, n, 0, "raw");
            free(buf);
            free(x);
        }
    }
    /* every f16 and bf16 bit pattern, as one row of 65536 values */
    uint8_t *all = xmalloc(2 * 65536 + 1);
    for (uint32_t h = 0; h < 65536; h++) wr_u16(all + 1 + 2 * h, (uint16_t)h);
    if (lv->k[AG_TYPE_F16].to_f32) check_row(lv, AG_TYPE_F16, all + 1, 65536, 1, "all patterns");
    if (lv->k[AG_TYPE_BF16].to_f32) check_row(lv, AG_TYPE_BF16, all + 1, 65536, 0, "all patterns");
    free(all);
}

/* ---- the int16 path: keys_i16 + qk_i16, values_i16 + pv_i16 ---- */

/* lv's keys_i16 + qk_i16 (or, lv NULL, ag_qk_f16_i16_ref alone) against the
 * reference (bit-identical) and exact math within kernels.h's bound */
static void test_qk_i16_one(const ag_kernel_level *lv, int64_t nr, int64_t nt, int64_t n)
{
    const int64_t nb = n / 32;
    const size_t ws = 2 * (size_t)n + 6, as = (AG_ACT_I16_BYTES(n) + 63) / 64 * 64, ldy = (size_t)nr + 3,
                 ny = (size_t)(nt - 1) * ldy + (size_t)nr, sb = (AG_ATT_I16_SCRATCH(n) + 63) / 64 * 64;
    uint8_t *wbuf = xmalloc((size_t)nr * ws + 2), *w = wbuf + 2; /* 2-byte aligned rows */
    uint8_t *act = aligned_alloc(64, (size_t)nt * as), *scratch = aligned_alloc(64, sb);
    float *y = xmalloc((ny + TAIL) * sizeof(float)), *yr = xmalloc(ny * sizeof(float));
    float *kf = xmalloc((size_t)nr * n * sizeof(float)), *qf = xmalloc((size_t)nt * n * sizeof(float));
    if (!act || !scratch) abort();
    memset(scratch, 0xff, sb);
    const ag_type_traits *f16 = ag_type_traits_of(AG_TYPE_F16);
    for (int64_t r = 0; r < nr; r++) {
        float *x = kf + (size_t)r * n;
        for (int64_t e = 0; e < n; e++) {
            const int64_t b = e / 32;
            const float scale = (r + b) % 7 == 3 ? 0.0f : (r + b) % 7 == 5 ? 3e4f : (r + b) % 7 == 6 ? 2e-6f : 1.0f;
            x[e] = frand() * scale;
        }
        if (r % 11 == 4) x[n - 1] = 65504.0f; /* the f16 maximum */
        f16->from_float(x, w + (size_t)r * ws, n);
        f16->to_float(w + (size_t)r * ws, x, n); /* the exact values */
    }
    if (nr > 5) { /* an inf in a block: that block's codes are 0 */
        w[5 * ws + 2 * 1] = 0x00;
        w[5 * ws + 2 * 1 + 1] = 0x7c;
    }
    for (int64_t t = 0; t < nt; t++) {
        float *x = qf + (size_t)t * n;
        for (int64_t e = 0; e < n; e++) x[e] = frand() * ((t + e / 32) % 5 == 2 ? 0.0f : (t % 3 ? 4.0f : 0.05f));
        ag_act_quant_i16_ref(x, act + (size_t)t * as, n);
    }
    for (size_t i = 0; i < ny + TAIL; i++) y[i] = SENTINEL;
    for (size_t i = 0; i < ny; i++) yr[i] = SENTINEL;
    ag_qk_f16_i16_ref(n, w, ws, act, as, yr, ldy, nr, nt, NULL);
    const char *name = lv ? lv->name : "ref-fn";
    if (lv) { /* the coded tile serves two calls (rows split unevenly): qk_i16 only reads it */
        lv->keys_i16(n, w, ws, nr, scratch);
        const int64_t t1 = nt / 3;
        if (t1) lv->qk_i16(n, scratch, act, as, y, ldy, nr, t1);
        lv->qk_i16(n, scratch, act + (size_t)t1 * as, as, y + (size_t)t1 * ldy, ldy, nr, nt - t1);
    } else {
        memcpy(y, yr, ny * sizeof(float));
    }
    int bad = 0;
    for (int64_t t = 0; t < nt && bad < 3; t++)
        for (int64_t r = 0; r < nr && bad < 3; r++) {
            const size_t iy = (size_t)t * ldy + (size_t)r;
            const int same = memcmp(&y[iy], &yr[iy], sizeof(float)) == 0;
            CHECK(same, "%s qk_i16 nr=%lld nt=%lld n=%lld: y[%lld][%lld] = %.9g, reference %.9g", name,
                  (long long)nr, (long long)nt, (long long)n, (long long)t, (long long)r, y[iy], yr[iy]);
            int ok = 1;
            if (r != 5) {
                const float *q = qf + (size_t)t * n, *k = kf + (size_t)r * n;
                double want = 0, mag = 0, bound = 0;
                for (int64_t b = 0; b < nb; b++) {
                    double mq = 0, mk = 0, sq = 0, sk = 0;
                    for (int e = 0; e < 32; e++) {
                        const double qe = q[32 * b + e], ke = k[32 * b + e];
                        want += qe * ke;
                        mag += fabs(qe * ke);
                        mq = fabs(qe) > mq ? fabs(qe) : mq;
                        mk = fabs(ke) > mk ? fabs(ke) : mk;
                        sq += fabs(qe);
                        sk += fabs(ke);
                    }
                    const double dq = mq / 8191, dk = mk / 8191;
                    bound += 0.5 * dq * sk + 0.5 * dk * sq + 0.25 * dq * dk * 32;
                }
                ok = fabs(y[iy] - want) <= 1.001 * bound + 1e-6 * mag + 1e-30;
                CHECK(ok, "%s qk_i16 nr=%lld nt=%lld n=%lld: y[%lld][%lld] = %.9g, want %.9g (bound %.3g)", name,
                      (long long)nr, (long long)nt, (long long)n, (long long)t, (long long)r, y[iy], want, bound);
            }
            bad += !ok || !same;
        }
    char what[96];
    snprintf(what, sizeof(what), "%s qk_i16 nr=%lld nt=%lld n=%lld", name, (long long)nr, (long long)nt, (long long)n);
    check_untouched(what, y, ldy, nt, nr, ny);
    free(wbuf);
    free(act);
    free(scratch);
    free(y);
    free(yr);
    free(kf);
    free(qf);
}

/* lv's quant_i16 against ag_act_quant_i16_ref: bit-identical, on blocks of
 * very different magnitudes, zero blocks, tiny ones (8191 / max overflows),
 * inf and NaN */
static void test_quant_i16(const ag_kernel_level *lv)
{
    enum { N = 512 };
    float x[N];
    _Alignas(64) uint8_t a[AG_ACT_I16_BYTES(N)], b[AG_ACT_I16_BYTES(N)];
    for (int rep = 0; rep < 200; rep++) {
        for (int e = 0; e < N; e++) {
            const int blk = e / 32 + rep;
            const float sc = blk % 6 == 0 ? 0.0f : blk % 6 == 1 ? 1e-39f : blk % 6 == 2 ? 1e30f : blk % 6 == 3 ? 1e-3f : 1.0f;
            x[e] = frand() * sc;
        }
        if (rep % 3 == 1) x[rep % N] = INFINITY;
        if (rep % 5 == 2) x[(rep * 7) % N] = NAN;
        if (rep % 7 == 3) x[(rep * 3) % N] = -0.0f;
        memset(a, 0x55, sizeof(a));
        memset(b, 0xaa, sizeof(b));
        const int64_t n = 32 * (1 + rep % 16);
        ag_act_quant_i16_ref(x, a, n);
        lv->quant_i16(x, b, n);
        CHECK(memcmp(a, b, AG_ACT_I16_BYTES(n)) == 0, "%s quant_i16 rep %d n=%lld differs from the reference", lv->name,
              rep, (long long)n);
    }
}

static void test_qk_i16(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 5, 7, 15, 16, 17, 33, 48, 63, 64}, nts[] = {1, 2, 3, 4, 5, 6, 7, 13, 64, 300},
                         ns[] = {32, 64, 96, 256, 512};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nts) / sizeof(nts[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++)
                if (nts[b] < 300 || (ns[c] == 256 && nrs[a] % 16 != 0)) test_qk_i16_one(lv, nrs[a], nts[b], ns[c]);
}

static void test_pv_i16_one(const ag_kernel_level *lv, int64_t nr, int64_t nk, int64_t n)
{
    const size_t ldy = (size_t)n + 3, ldp = (size_t)nk + 5, ldv = 2 * (size_t)n + 6; /* bytes; odd in f16 */
    const size_t ny = (size_t)(nr - 1) * ldy + (size_t)n, np = (size_t)(nr - 1) * ldp + (size_t)nk + 5,
                 nvb = (size_t)(nk - 1) * ldv + 2 * (size_t)n, sb = (AG_ATT_I16_SCRATCH(n) + 63) / 64 * 64;
    float *ybuf = xmalloc((ny + 1 + TAIL) * sizeof(float)), *p = xmalloc(np * sizeof(float));
    float *y = ybuf + 1, *y0 = xmalloc(ny * sizeof(float)), *yr = xmalloc(ny * sizeof(float));
    float *vf = xmalloc((size_t)nk * n * sizeof(float));
    uint8_t *vbuf = xmalloc(nvb + 2), *v = vbuf + 2, *scratch = aligned_alloc(64, sb);
    if (!scratch) abort();
    memset(scratch, 0xff, sb);
    const ag_type_traits *f16 = ag_type_traits_of(AG_TYPE_F16);
    for (size_t i = 0; i < ny; i++) y[i] = (i % ldy) < (size_t)n ? frand() : SENTINEL;
    for (size_t i = 0; i < np; i++) p[i] = NAN; /* past nk: never read */
    float mt[AG_PV_TILE];
    for (int64_t r = 0; r < nr; r++) {
        /* softmax-like: scores, some masked (-inf), exp against the row max (or a larger running max) */
        float *pr = p + (size_t)r * ldp, m = -INFINITY;
        for (int64_t k = 0; k < nk; k++) {
            mt[k] = (r + k) % 9 == 4 ? -INFINITY : frand() * (r % 4 == 1 ? 30.0f : 3.0f);
            m = mt[k] > m ? mt[k] : m;
        }
        if (r % 5 == 3) m += 5.0f;       /* the running max came from an earlier tile */
        if (r % 13 == 7) m += 60.0f;     /* ... much larger: every weight below 2^-64 */
        for (int64_t k = 0; k < nk; k++) pr[k] = r == 2 || m == -INFINITY ? 0.0f : expf(mt[k] - m);
    }
    for (int64_t k = 0; k < nk; k++) {
        float *x = vf + (size_t)k * n;
        for (int64_t e = 0; e < n; e++)
            x[e] = frand() * (e % 37 == 5 ? 0.0f : e % 37 == 11 ? 5e3f : e % 37 == 20 ? 3e-6f : 1.0f) * (k % 5 == 1 ? 10.0f : 1.0f);
        f16->from_float(x, v + (size_t)k * ldv, n);
        f16->to_float(v + (size_t)k * ldv, x, n);
    }
    if (nk > 3 && n > 40) { /* an inf in dimension 40: its codes are 0 */
        v[3 * ldv + 80] = 0x00;
        v[3 * ldv + 81] = 0xfc;
    }
    for (size_t i = 0; i < TAIL; i++) y[ny + i] = SENTINEL;
    memcpy(y0, y, ny * sizeof(float));
    memcpy(yr, y, ny * sizeof(float));
    const char *name = lv ? lv->name : "ref-fn";
    ag_pv_f16_i16_ref(yr, ldy, p, ldp, v, ldv, nr, nk, n, NULL);
    if (lv) { /* as in test_qk_i16_one: one coded tile, two calls */
        lv->values_i16(n, v, ldv, nk, scratch);
        const int64_t r1 = nr / 3;
        if (r1) lv->pv_i16(y, ldy, p, ldp, scratch, r1, nk, n);
        lv->pv_i16(y + (size_t)r1 * ldy, ldy, p + (size_t)r1 * ldp, ldp, scratch, nr - r1, nk, n);
    } else {
        memcpy(y, yr, ny * sizeof(float));
    }
    int bad = 0;
    for (int64_t r = 0; r < nr && bad < 3; r++)
        for (int64_t e = 0; e < n && bad < 3; e++) {
            const size_t iy = (size_t)r * ldy + (size_t)e;
            const int same = memcmp(&y[iy], &yr[iy], sizeof(float)) == 0;
            CHECK(same, "%s pv_i16 nr=%lld nk=%lld n=%lld: y[%lld][%lld] = %.9g, reference %.9g", name,
                  (long long)nr, (long long)nk, (long long)n, (long long)r, (long long)e, y[iy], yr[iy]);
            int ok = 1;
            if (!(nk > 3 && e == 40)) {
                const float *pr = p + (size_t)r * ldp;
                double want = y0[iy], mag = fabs(y0[iy]), mp = 0, mv = 0, sv = 0, sp = 0;
                for (int64_t k = 0; k < nk; k++) {
                    const double pk = pr[k], vk = vf[(size_t)k * n + e];
                    want += pk * vk;
                    mag += fabs(pk * vk);
                    mp = pk > mp ? pk : mp;
                    mv = fabs(vk) > mv ? fabs(vk) : mv;
                    sv += fabs(vk);
                    sp += pk;
                }
                const double dp = mp / 4095, dv = mv / 8191;
                double bound = mp > 0x1p-64 ? 0.5 * dp * sv + 0.5 * dv * sp + 0.25 * dp * dv * (double)nk : mag;
                ok = fabs(y[iy] - want) <= 1.001 * bound + 1e-6 * mag + 1e-30;
                CHECK(ok, "%s pv_i16 nr=%lld nk=%lld n=%lld: y[%lld][%lld] = %.9g, want %.9g (bound %.3g)", name,
                      (long long)nr, (long long)nk, (long long)n, (long long)r, (long long)e, y[iy], want, bound);
            }
            bad += !ok || !same;
        }
    char what[96];
    snprintf(what, sizeof(what), "%s pv_i16 nr=%lld nk=%lld n=%lld", name, (long long)nr, (long long)nk, (long long)n);
    check_untouched(what, y, ldy, nr, n, ny);
    free(ybuf);
    free(p);
    free(y0);
    free(yr);
    free(vf);
    free(vbuf);
    free(scratch);
}

static void test_pv_i16(const ag_kernel_level *lv)
{
    static const int64_t nrs[] = {1, 2, 3, 4, 5, 7, 13, 17, 64}, nks[] = {1, 2, 3, 7, 16, 33, 63, 64},
                         ns[] = {32, 64, 96, 256, 512};
    for (size_t a = 0; a < sizeof(nrs) / sizeof(nrs[0]); a++)
        for (size_t b = 0; b < sizeof(nks) / sizeof(nks[0]); b++)
            for (size_t c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) test_pv_i16_one(lv, nrs[a], nks[b], ns[c]);
    test_pv_i16_one(lv, 300, 64, 256);
    test_pv_i16_one(lv, 257, 31, 96);
}

/* ---- --bench ---- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double best_of(double a, double b) { return a < b ? a : b; }

/* one attention tile (nk = 64 keys, Dh = 256) for nr = 4 (decode), 8, 16 and 64
 * (prefill) query rows: the QK and PV kernels per cache type */
static void bench_tile(void)
{
    enum { NK = 64, N = 256, NRMAX = 64 };
    const ag_type_traits *f16 = ag_type_traits_of(AG_TYPE_F16), *q8 = ag_type_traits_of(AG_TYPE_Q8_0);
    const size_t r16 = (size_t)ag_type_row_bytes(f16, N), r8 = ((size_t)ag_type_row_bytes(q8, N) + 3) / 4 * 4;
    uint8_t *k16 = xmalloc(NK * r16), *v8 = xmalloc(NK * r8);
    float *q = xmalloc(NRMAX * N * sizeof(float)), *y = xmalloc(NRMAX * N * sizeof(float)), tmp[N];
    float *sc = xmalloc(NRMAX * NK * sizeof(float)), *vf = xmalloc(NK * N * sizeof(float));
    uint8_t *scratch = aligned_alloc(64, (AG_PV_Q8_0_SCRATCH(NRMAX, N) + 63) / 64 * 64);
    uint8_t *qa = aligned_alloc(64, NRMAX * N * 4);
    if (!scratch || !qa) abort();
    for (int k = 0; k < NK; k++) {
        for (int e = 0; e < N; e++) tmp[e] = frand();
        f16->from_float(tmp, k16 + k * r16, N);
        q8->from_float(tmp, v8 + k * r8, N);
    }
    for (int i = 0; i < NRMAX * N; i++) q[i] = frand(), y[i] = 0;
    for (int i = 0; i < NRMAX * NK; i++) sc[i] = (float)urand();
    static const int nrs[4] = {4, 8, 16, 64};
    for (int l = 0; l < ag_kernels_count(); l++) {
        const ag_kernel_level *lv = ag_kernels_level(l);
        for (int ni = 0; ni < 4; ni++) {
            const int nr = nrs[ni], iters = 40000 / nr;
            double t_gemm = 1e30, t_qk = 1e30, t_pvf = 1e30, t_pv16 = 1e30, t_pv8f = 1e30, t_pv8 = 1e30, t_q8 = 1e30, t_qk8 = 1e30;
            for (int rep = 0; rep < 5; rep++) {
                double t0 = now_ns();
                for (int i = 0; i < iters; i++) lv->k[AG_TYPE_F16].gemm(N, k16, r16, q, N * 4, sc, NK, NK, nr);
                double t1 = now_ns();
                if (lv->qk_f16)
                    for (int i = 0; i < iters; i++) lv->qk_f16(N, k16, r16, q, N * 4, sc, NK, NK, nr);
                double t2 = now_ns();
                for (int i = 0; i < NRMAX * NK; i++) sc[i] = (float)urand();
                for (int i = 0; i < iters; i++) {
                    for (int k = 0; k < NK; k++) lv->k[AG_TYPE_F16].to_f32(k16 + k * r16, vf + k * N, N);
                    lv->pv_f32(y, N, sc, NK, vf, N, nr, NK, N);
                }
                double t3 = now_ns();
                if (lv->pv_f16)
                    for (int i = 0; i < iters; i++) lv->pv_f16(y, N, sc, NK, k16, r16, nr, NK, N);
                double t4 = now_ns();
                for (int i = 0; i < iters; i++) {
                    for (int k = 0; k < NK; k++) lv->k[AG_TYPE_Q8_0].to_f32(v8 + k * r8, vf + k * N, N);
                    lv->pv_f32(y, N, sc, NK, vf, N, nr, NK, N);
                }
                double t5 = now_ns();
                if (lv->pv_q8_0)
                    for (int i = 0; i < iters; i++) lv->pv_q8_0(y, N, sc, NK, v8, r8, nr, NK, N, scratch);
                double t6 = now_ns();
                {
                    const ag_kernel *kq = &lv->k[AG_TYPE_Q8_0];
                    const size_t arow = kq->quant ? ((size_t)N / kq->act_block * kq->act_bytes + 63) / 64 * 64 : N * 4;
                    if (kq->quant)
                        for (int t = 0; t < nr; t++) kq->quant(q + t * N, qa + t * arow, N);
                    const void *act = kq->quant ? (const void *)qa : (const void *)q;
                    for (int i = 0; i < iters; i++) kq->gemm(N, v8, r8, act, arow, sc, NK, NK, nr);
                }
                double t7 = now_ns();
                t_q8 = best_of(t_q8, (t7 - t6) / iters);
                if (lv->qk_q8_0)
                    for (int i = 0; i < iters; i++) lv->qk_q8_0(N, v8, r8, qa, ((size_t)N / lv->k[AG_TYPE_Q8_0].act_block * lv->k[AG_TYPE_Q8_0].act_bytes + 63) / 64 * 64, sc, NK, NK, nr, scratch);
                t_qk8 = best_of(t_qk8, (now_ns() - t7) / iters);
                t_gemm = best_of(t_gemm, (t1 - t0) / iters);
                t_qk = best_of(t_qk, (t2 - t1) / iters);
                t_pvf = best_of(t_pvf, (t3 - t2) / iters);
                t_pv16 = best_of(t_pv16, (t4 - t3) / iters);
                t_pv8f = best_of(t_pv8f, (t5 - t4) / iters);
                t_pv8 = best_of(t_pv8, (t6 - t5) / iters);
            }
            const double fl = 2.0 * nr * NK * N; /* flops of one QK or PV tile */
            printf("%-8s tile nr=%2d nk=64 Dh=256 GFLOP/s: QK f16 gemm %6.1f qk_f16 %6.1f | PV f16 to_f32+pv_f32 %6.1f "
                   "pv_f16 %6.1f | PV q8_0 to_f32+pv_f32 %6.1f pv_q8_0 %6.1f | QK q8_0 gemm %6.1f qk_q8_0 %6.1f\n",
                   lv->name, nr, fl / t_gemm, lv->qk_f16 ? fl / t_qk : 0.0, fl / t_pvf, lv->pv_f16 ? fl / t_pv16 : 0.0,
                   fl / t_pv8f, lv->pv_q8_0 ? fl / t_pv8 : 0.0, fl / t_q8,
                   lv->qk_q8_0 ? fl / t_qk8 : 0.0);
        }
    }
    free(k16);
    free(v8);
    free(q);
    free(y);
    free(sc);
    free(vf);
    free(scratch);
    free(qa);
}

/* the int16 path against the f32 kernels at the active (best) level: one
 * tile (nk = 64, Dh = 256) for nr query rows, GFLOP-equivalent/s (2 nr nk n
 * per tile; the int16 times include coding the tile once per call, and,
 * as "coded once", leave it out as the model does when many rows share a
 * tile; never the query rows' coding) */
static void bench_i16(void)
{
    enum { NK = 64, N = 256, NRMAX = 256 };
    const ag_kernel_level *lv = ag_kernels();
    if (!lv->keys_i16 || !lv->qk_i16 || !lv->values_i16 || !lv->pv_i16 || !lv->qk_f16 || !lv->pv_f16) return;
    const ag_type_traits *f16 = ag_type_traits_of(AG_TYPE_F16);
    const size_t r16 = (size_t)ag_type_row_bytes(f16, N), as = (AG_ACT_I16_BYTES(N) + 63) / 64 * 64;
    uint8_t *k16 = xmalloc(NK * r16), *qa = aligned_alloc(64, NRMAX * as);
    uint8_t *scratch = aligned_alloc(64, (AG_ATT_I16_SCRATCH(N) + 63) / 64 * 64);
    float *q = xmalloc(NRMAX * N * sizeof(float)), *y = xmalloc(NRMAX * N * sizeof(float)), tmp[N];
    float *sc = xmalloc(NRMAX * NK * sizeof(float));
    if (!qa || !scratch) abort();
    for (int k = 0; k < NK; k++) {
        for (int e = 0; e < N; e++) tmp[e] = frand();
        f16->from_float(tmp, k16 + k * r16, N);
    }
    for (int i = 0; i < NRMAX * N; i++) q[i] = frand(), y[i] = 0;
    for (int t = 0; t < NRMAX; t++) ag_act_quant_i16_ref(q + t * N, qa + t * as, N);
    for (int i = 0; i < NRMAX * NK; i++) sc[i] = (float)urand();
    { /* the tile codings alone */
        double tq = 1e30, tp = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ns();
            for (int i = 0; i < 2000; i++) lv->keys_i16(N, k16, r16, NK, scratch);
            double t1 = now_ns();
            for (int i = 0; i < 2000; i++) lv->values_i16(N, k16, r16, NK, scratch);
            double t2 = now_ns();
            tq = best_of(tq, (t1 - t0) / 2000);
            tp = best_of(tp, (t2 - t1) / 2000);
        }
        printf("%-8s int16 tile coding (nk=64, Dh=256): keys %.0f ns, values %.0f ns\n", lv->name, tq, tp);
    }
    static const int nrs[] = {4, 8, 16, 32, 64, 128, 256};
    for (size_t ni = 0; ni < sizeof(nrs) / sizeof(nrs[0]); ni++) {
        const int nr = nrs[ni], iters = 80000 / nr;
        double t[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ns();
            for (int i = 0; i < iters; i++) lv->qk_f16(N, k16, r16, q, N * 4, sc, NK, NK, nr);
            double t1 = now_ns();
            for (int i = 0; i < iters; i++) {
                lv->keys_i16(N, k16, r16, NK, scratch);
                lv->qk_i16(N, scratch, qa, as, sc, NK, NK, nr);
            }
            double t2 = now_ns();
            for (int i = 0; i < iters; i++) lv->qk_i16(N, scratch, qa, as, sc, NK, NK, nr);
            double t2b = now_ns();
            for (int i = 0; i < NRMAX * NK; i++) sc[i] = (float)urand();
            double t3 = now_ns();
            for (int i = 0; i < iters; i++) lv->pv_f16(y, N, sc, NK, k16, r16, nr, NK, N);
            double t4 = now_ns();
            for (int i = 0; i < iters; i++) {
                lv->values_i16(N, k16, r16, NK, scratch);
                lv->pv_i16(y, N, sc, NK, scratch, nr, NK, N);
            }
            double t5 = now_ns();
            for (int i = 0; i < iters; i++) lv->pv_i16(y, N, sc, NK, scratch, nr, NK, N);
            double t5b = now_ns();
            t[0] = best_of(t[0], (t1 - t0) / iters);
            t[1] = best_of(t[1], (t2 - t1) / iters);
            t[2] = best_of(t[2], (t4 - t3) / iters);
            t[3] = best_of(t[3], (t5 - t4) / iters);
            t[4] = best_of(t[4], (t2b - t2) / iters);
            t[5] = best_of(t[5], (t5b - t5) / iters);
        }
        const double fl = 2.0 * nr * NK * N;
        printf("%-8s int16 tile nr=%3d GFLOP/s: QK qk_f16 %6.1f i16 %6.1f (%.2fx; coded once %6.1f) | PV pv_f16 %6.1f "
               "i16 %6.1f (%.2fx; coded once %6.1f)\n",
               lv->name, nr, fl / t[0], fl / t[1], t[0] / t[1], fl / t[4], fl / t[2], fl / t[3], t[2] / t[3], fl / t[5]);
    }
    free(k16);
    free(qa);
    free(scratch);
    free(q);
    free(y);
    free(sc);
}

static void bench(void)
{
    enum { NR = 4, NK = 64, N = 256 };
    float *y = xmalloc(NR * N * sizeof(float)), *p = xmalloc(NR * NK * sizeof(float));
    float *v = xmalloc(NK * N * sizeof(float)), x[64], x0[64];
    for (int i = 0; i < NR * N; i++) y[i] = 0.0f;
    for (int i = 0; i < NR * NK; i++) p[i] = (float)urand() * 1e-3f;
    for (int i = 0; i < NK * N; i++) v[i] = frand();
    for (int i = 0; i < 64; i++) x0[i] = -(float)urand() * 20.0f;
    static const uint32_t cv_types[4] = {AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    uint8_t *rows[4];
    float out[N];
    for (int ti = 0; ti < 4; ti++) {
        const ag_type_traits *tt = ag_type_traits_of(cv_types[ti]);
        rows[ti] = xmalloc((size_t)ag_type_row_bytes(tt, N));
        tt->from_float(v, rows[ti], N);
    }
    for (int l = 0; l < ag_kernels_count(); l++) {
        const ag_kernel_level *lv = ag_kernels_level(l);
        double best_pv = 1e30, best_exp = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            const int iters = 2000;
            double t0 = now_ns();
            for (int i = 0; i < iters; i++) lv->pv_f32(y, N, p, NK, v, N, NR, NK, N);
            double t1 = now_ns();
            float sink = 0;
            memcpy(x, x0, sizeof(x));
            /* x stays in (0, 1] from the first call on, so x - 1 in (-1, 0] */
            for (int i = 0; i < iters; i++) sink += lv->exp_sum(x, 1.0f, 64);
            double t2 = now_ns();
            if (sink == 1234.5f) printf("!");
            best_pv = (t1 - t0) / iters < best_pv ? (t1 - t0) / iters : best_pv;
            best_exp = (t2 - t1) / iters < best_exp ? (t2 - t1) / iters : best_exp;
        }
        double best_cv[4] = {1e30, 1e30, 1e30, 1e30};
        for (int ti = 0; ti < 4; ti++)
            for (int rep = 0; rep < 5; rep++) {
                const int iters = 20000;
                const double t0 = now_ns();
                for (int i = 0; i < iters; i++) lv->k[cv_types[ti]].to_f32(rows[ti], out, N);
                const double dt = (now_ns() - t0) / iters;
                best_cv[ti] = dt < best_cv[ti] ? dt : best_cv[ti];
            }
        printf("%-8s pv_f32(nr=4, nk=64, n=256) %7.1f ns (%5.1f GFLOP/s)  exp_sum(n=64) %5.1f ns  "
               "to_f32(n=256) f16 %5.1f bf16 %5.1f q8_0 %5.1f q4_0 %5.1f ns\n",
               lv->name, best_pv, 2.0 * NR * NK * N / best_pv, best_exp, best_cv[0], best_cv[1], best_cv[2],
               best_cv[3]);
    }
    bench_tile();
    bench_i16();
    for (int ti = 0; ti < 4; ti++) free(rows[ti]);
    free(y);
    free(p);
    free(v);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench-i16") == 0) {
        bench_i16();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench();
        return 0;
    }
    const ag_kernel_level *ref = ag_kernels_level(0);
    printf("levels:");
    for (int l = 0; l < ag_kernels_count(); l++) printf(" %s", ag_kernels_level(l)->name);
    printf("\n");
    /* the ref level's own entries are the reference functions */
    static const uint32_t types[] = {AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    for (size_t a = 0; a < sizeof(types) / sizeof(types[0]); a++)
        CHECK(ref->k[types[a]].to_f32 == ag_type_traits_of(types[a])->to_float, "ref to_f32 of type %u",
              types[a]);
    test_pv_q8_0(NULL); /* the reference itself against exact math */
    test_qk_i16(NULL);
    test_pv_i16(NULL);
    for (int l = 0; l < ag_kernels_count(); l++) {
        const ag_kernel_level *lv = ag_kernels_level(l);
        const int before = test_failures;
        CHECK(lv->exp_sum && lv->pv_f32 && lv->max_f32, "%s: exp_sum/pv_f32/max_f32 missing", lv->name);
        if (!lv->exp_sum || !lv->pv_f32 || !lv->max_f32) continue;
        test_exp_sum(lv, ref);
        test_max_f32(lv);
        CHECK(lv->softmax_rows != NULL, "%s: softmax_rows missing", lv->name);
        if (lv->softmax_rows) test_softmax_rows(lv);
        test_pv(lv);
        if (lv->qk_f16) test_qk_f16(lv);
        if (lv->qk_q8_0) test_qk_q8_0(lv);
        if (lv->pv_f16) test_pv_f16(lv);
        if (lv->pv_q8_0) test_pv_q8_0(lv);
        CHECK(lv->quant_i16 != NULL, "%s: quant_i16 missing", lv->name);
        if (lv->quant_i16) test_quant_i16(lv);
        CHECK(!lv->keys_i16 == !lv->qk_i16 && !lv->values_i16 == !lv->pv_i16, "%s: half an int16 kernel pair", lv->name);
        if (lv->keys_i16 && lv->qk_i16) test_qk_i16(lv);
        if (lv->values_i16 && lv->pv_i16) test_pv_i16(lv);
        test_to_f32(lv);
        printf("%s: %s\n", lv->name, test_failures == before ? "ok" : "FAILED");
    }
    return REPORT();
}
