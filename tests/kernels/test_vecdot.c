/* test_vecdot.c: every kernel level this CPU has against the reference level,
 * for every weight type, on awkward sizes (kernels.h, ops.c).
 *
 * For each level and type: weight rows quantized with the type's reference
 * quantizer (q8_0 rows also get -128 codes, which the quantizer never writes
 * but a file may hold), activations with blocks of very different magnitude
 * and an all-zero block; the level's gemm (through its own activation
 * quantizer) is compared with the ref level's gemm for 1, 2, 3, 7 blocks and
 * a multi-thousand row, row counts that are not a multiple of any tile, and
 * 1..9 tokens. The bound is the activation rounding itself: a quantized
 * activation differs from the f32 one by at most half a step (d/2, with d =
 * amax/127 of its block; q8_0 stores d as f16, so about 0.56 d), so
 * |y - y_ref| <= sum_i |w_i| * step_i / 2 + f32 accumulation slack. A wrong
 * lane, scale or bit anywhere gives errors of the size of y itself.
 * Where the activation format is q8_0 / q8_0s / q8_K, the output is also
 * checked against exact math on the dequantized activations the kernel saw
 * (and their partial sums), which leaves only f32 rounding: that catches a
 * slightly wrong scale that the rounding bound alone would let through.
 * Levels with f32 activations (f32/f16/bf16 weights, and the generic path)
 * get only the f32 slack.
 * Also: the activation quantizers against the portable ones (q8_K and
 * q8_0s bit-identical, q8_0 within one code), ag_matmul (threads, token blocks)
 * and ag_matmul_multi (= separate calls, bit for bit) at every level, forcing levels by name, and AIRGAP_ISA at first use. */
#include "core/cpu_features.h"
#include "core/threads.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "quant/blocks.h"
#include "quant/types.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const uint32_t types[] = {AG_TYPE_F32,  AG_TYPE_F16,  AG_TYPE_BF16, AG_TYPE_Q8_0,   AG_TYPE_Q4_0,
                                 AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_IQ4_NL, AG_TYPE_Q2_K,
                                 AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K,   AG_TYPE_IQ4_XS};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

typedef struct {
    int64_t n, nr, nt;
    uint8_t *w;   /* nr rows of rb bytes */
    uint64_t rb;
    float *wd;    /* dequantized weights */
    float *x;     /* nt rows of n */
} problem;

static void make(const ag_type_traits *tt, uint32_t type, int64_t n, int64_t nr, int64_t nt, problem *p)
{
    p->n = n; p->nr = nr; p->nt = nt;
    p->rb = ag_type_row_bytes(tt, (uint64_t)n);
    p->w = malloc((size_t)(p->rb * (uint64_t)nr));
    p->wd = malloc((size_t)(n * nr) * sizeof(float));
    p->x = malloc((size_t)(n * nt) * sizeof(float));
    float *tmp = malloc((size_t)n * sizeof(float));
    for (int64_t r = 0; r < nr; r++) {
        float rs = 0.25f + (float)(r % 4);
        for (int64_t i = 0; i < n; i++) tmp[i] = frand() * rs;
        tt->from_float(tmp, p->w + r * p->rb, n);
        if (type == AG_TYPE_Q8_0)
            for (int64_t b = 0; b < n / 32; b++) ((blk_q8_0 *)(p->w + r * p->rb))[b].qs[(b + r) % 32] = -128;
        tt->to_float(p->w + r * p->rb, p->wd + r * n, n);
    }
    for (int64_t t = 0; t < nt; t++)
        for (int64_t i = 0; i < n; i++) {
            int64_t blk = i / 32;
            float mag = (float)(1 << (blk % 5)) / 4.0f;
            if (blk % 11 == 5 && t % 2 == 1) mag = 0; /* an all-zero activation block */
            p->x[t * n + i] = frand() * mag * (1.0f + (float)t);
        }
    free(tmp);
}

static void unmake(problem *p)
{
    free(p->w);
    free(p->wd);
    free(p->x);
}

/* |y - y_ref| bound for (r, t) at an entry with activation block ab (0 = f32). */
static double bound(const problem *p, int64_t r, int64_t t, uint32_t ab)
{
    const float *w = p->wd + r * p->n, *x = p->x + t * p->n;
    double mag = 0, q = 0;
    for (int64_t i = 0; i < p->n; i++) mag += fabs((double)w[i] * x[i]);
    if (ab > 1) {
        for (int64_t b0 = 0; b0 < p->n; b0 += ab) {
            double amax = 0, sw = 0;
            for (int64_t i = b0; i < b0 + ab; i++) {
                if (fabs(x[i]) > amax) amax = fabs(x[i]);
                sw += fabs(w[i]);
            }
            double half_step = amax / 127.0 * (ab == 32 ? 0.5 + 127.0 / 2048.0 : 0.5);
            q += sw * half_step;
        }
    }
    return q * 1.001 + (double)(p->n + 64) * 6e-8 * 8 * mag + 1e-30;
}

/* y = level's gemm on p (through its activation format). If xq is not NULL
 * and the format is q8_0, q8_0s or q8_K (kernels.h), xq gets the dequantized activations
 * (nt x n), else it is left alone and 0 returned. */
static int run_gemm(const ag_kernel *k, const problem *p, float *y, size_t ldy, float *xq)
{
    if (!k->quant) {
        k->gemm(p->n, p->w, p->rb, p->x, (size_t)p->n * sizeof(float), y, ldy, p->nr, p->nt);
        return 0;
    }
    size_t row = (size_t)(p->n / k->act_block) * k->act_bytes;
    row = (row + 63) / 64 * 64;
    uint8_t *act = aligned_alloc(64, row * (size_t)p->nt);
    for (int64_t t = 0; t < p->nt; t++) k->quant(p->x + t * p->n, act + (size_t)t * row, p->n);
    k->gemm(p->n, p->w, p->rb, act, row, y, ldy, p->nr, p->nt);
    int known = 0;
    for (int64_t t = 0; xq && t < p->nt; t++) {
        const uint8_t *a = act + (size_t)t * row;
        const int64_t n = p->n;
        float *xt = xq + t * n;
        switch (k->act_fmt) {
        case AG_ACT_Q8_0S:
            for (int64_t i = 0; i < n; i++) xt[i] = rd_f32(a + n + 4 * (i / 32)) * (int8_t)a[i];
            known = 1;
            break;
        case AG_ACT_Q8_0:
            for (int64_t i = 0; i < n; i++)
                xt[i] = rd_f16(((const blk_q8_0 *)a)[i / 32].d) * ((const blk_q8_0 *)a)[i / 32].qs[i % 32];
            known = 1;
            break;
        case AG_ACT_Q8_K:
        case AG_ACT_Q8_KS:
        case AG_ACT_Q8_KM:
            for (int64_t b = 0; b < n / 256; b++) {
                const int8_t *qs;
                const uint8_t *meta; /* d, then 16 int16 sums or 8 f32 d * sums */
                if (k->act_fmt == AG_ACT_Q8_K) {
                    qs = ((const blk_q8_K *)a)[b].qs;
                    meta = ((const blk_q8_K *)a)[b].d;
                } else {
                    qs = (const int8_t *)a + 256 * b;
                    meta = a + n + 36 * b;
                }
                const float d = rd_f32(meta);
                int bad_sums = 0;
                for (int j = 0; j < 16; j++) {
                    int sum = 0;
                    /* group j/2 of 32 sits at position pos(j/2) in q8_Km */
                    const int8_t *g = qs + 32 * (k->act_fmt == AG_ACT_Q8_KM ? ag_q8_Km_pos[j / 2] : j / 2) + 16 * (j % 2);
                    for (int l = 0; l < 16; l++) sum += g[l];
                    if (k->act_fmt == AG_ACT_Q8_KM) {
                        if (j % 2 == 0) {
                            int s32 = sum;
                            for (int l = 16; l < 32; l++) s32 += g[l];
                            bad_sums |= rd_f32(meta + 4 + 2 * j) != d * (float)s32;
                        }
                    } else if (k->act_fmt == AG_ACT_Q8_K) {
                        bad_sums |= (int16_t)rd_u16(((const blk_q8_K *)a)[b].bsums + 2 * j) != sum;
                    } else {
                        bad_sums |= (int16_t)rd_u16(meta + 4 + 2 * j) != sum;
                    }
                }
                int8_t q[256];
                for (int g = 0; g < 8; g++)
                    memcpy(q + 32 * g, qs + 32 * (k->act_fmt == AG_ACT_Q8_KM ? ag_q8_Km_pos[g] : g), 32);
                for (int l = 0; l < 256; l++) xt[256 * b + l] = bad_sums ? NAN : d * q[l];
            }
            known = 1;
            break;
        default:
            break;
        }
    }
    free(act);
    return known;
}

static int check_level_type(const ag_kernel_level *lv, uint32_t type, int64_t n, int64_t nr, int64_t nt)
{
    const ag_type_traits *tt = ag_type_traits_of(type);
    const ag_kernel *k = &lv->k[type], *kr = &ag_kernels_level(0)->k[type];
    CHECK(k->gemm != NULL, "%s: no gemm for %s", lv->name, tt->name);
    if (!k->gemm) return 1;
    problem p;
    make(tt, type, n, nr, nt, &p);
    /* y with a row stride larger than nr, to catch writes past the rows */
    size_t ldy = (size_t)nr + 3;
    float *y = malloc(ldy * (size_t)nt * sizeof(float)), *yr = malloc(ldy * (size_t)nt * sizeof(float));
    for (size_t i = 0; i < ldy * (size_t)nt; i++) y[i] = yr[i] = 12345.0f;
    float *xq = malloc((size_t)(n * nt) * sizeof(float));
    run_gemm(kr, &p, yr, ldy, NULL);
    int known = run_gemm(k, &p, y, ldy, xq);
    int bad = 0;
    for (int64_t t = 0; t < nt; t++) {
        for (int64_t r = 0; r < nr; r++) {
            double b = bound(&p, r, t, k->quant ? k->act_block : 0);
            double e = fabs((double)y[t * ldy + r] - yr[t * ldy + r]);
            if (known) {
                /* tighter: exact math on the activations the kernel saw, so
                 * only f32 rounding remains */
                double ex = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    ex += (double)p.wd[r * n + i] * xq[t * n + i];
                    mag += fabs((double)p.wd[r * n + i] * xq[t * n + i]);
                }
                double e2 = fabs((double)y[t * ldy + r] - ex), b2 = (double)(n + 64) * 6e-8 * 8 * mag + 1e-30;
                if (!(e2 <= b2) && bad++ < 3)
                    CHECK(0, "%s %s n %lld nr %lld nt %lld: row %lld token %lld: %.7g vs exact on its activations %.7g "
                          "(err %.3g > %.3g)", lv->name, tt->name, (long long)n, (long long)nr, (long long)nt,
                          (long long)r, (long long)t, y[t * ldy + r], ex, e2, b2);
            }
            if (!(e <= b)) {
                if (bad++ < 3)
                    CHECK(0, "%s %s n %lld nr %lld nt %lld: row %lld token %lld: %.7g vs ref %.7g (err %.3g > %.3g)",
                          lv->name, tt->name, (long long)n, (long long)nr, (long long)nt, (long long)r, (long long)t,
                          y[t * ldy + r], yr[t * ldy + r], e, b);
            }
        }
        for (size_t r = (size_t)nr; r < ldy; r++)
            if (y[t * ldy + r] != 12345.0f && bad++ < 3) CHECK(0, "%s %s: wrote past row %lld", lv->name, tt->name, (long long)nr);
    }
    test_checks++;
    free(xq);
    free(y);
    free(yr);
    unmake(&p);
    return bad;
}

static void check_quantizers(const ag_kernel_level *lv)
{
    float x[512];
    for (int i = 0; i < 512; i++) x[i] = frand() * (float)(1 + i / 64);
    x[300] = -40.0f; /* the signed max decides q8_K's scale sign */
    x[301] = 40.0f;
    for (int i = 64; i < 96; i++) x[i] = 0; /* zero block */
    for (int i = 256 + 64; i < 256 + 96; i++) x[i] = 1e-3f * (float)(i % 7);
    uint8_t a[2 * sizeof(blk_q8_K)] __attribute__((aligned(64))), b[2 * sizeof(blk_q8_K)] __attribute__((aligned(64)));
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ag_kernel *k = &lv->k[types[ti]];
        if (!k->quant) {
            CHECK(k->act_fmt == AG_ACT_F32, "%s %s: no quantizer but format %u", lv->name,
                  ag_type_traits_of(types[ti])->name, k->act_fmt);
            continue;
        }
        ag_act_quant_fn ref = NULL;
        switch (k->act_fmt) {
        case AG_ACT_Q8_0S: ref = ag_act_quant_q8_0s_ref; break;
        case AG_ACT_Q8_K: ref = ag_act_quant_q8_K_ref; break;
        case AG_ACT_Q8_KS: ref = ag_act_quant_q8_Ks_ref; break;
        case AG_ACT_Q8_KM: ref = ag_act_quant_q8_Km_ref; break;
        default: break;
        }
        if (ref) {
            memset(a, 0x55, sizeof(a));
            memset(b, 0x55, sizeof(b));
            k->quant(x, a, 512);
            ref(x, b, 512);
            CHECK(memcmp(a, b, sizeof(a)) == 0, "%s %s: activations (format %u) differ from the reference", lv->name,
                  ag_type_traits_of(types[ti])->name, k->act_fmt);
        } else if (k->act_fmt == AG_ACT_Q8_0) {
            k->quant(x, a, 256);
            ag_act_quant_q8_0_ref(x, b, 256);
            int worst = 0, dsame = 1;
            for (int i = 0; i < 8; i++) {
                const blk_q8_0 *p = (const blk_q8_0 *)a + i, *q = (const blk_q8_0 *)b + i;
                dsame &= memcmp(p->d, q->d, 2) == 0;
                for (int j = 0; j < 32; j++) worst = abs(p->qs[j] - q->qs[j]) > worst ? abs(p->qs[j] - q->qs[j]) : worst;
            }
            CHECK(dsame && worst <= 1, "%s: q8_0 activations: scales %s, codes differ by %d", lv->name,
                  dsame ? "same" : "differ", worst);
        }
    }
}

static void check_matmul(const ag_kernel_level *lv, uint32_t type, int64_t n, int64_t n_out, int64_t T, int threads)
{
    const ag_type_traits *tt = ag_type_traits_of(type);
    problem p;
    make(tt, type, n, n_out, T, &p);
    float *y = malloc((size_t)(n_out * T) * sizeof(float)), *yr = malloc((size_t)(n_out * T) * sizeof(float));
    ag_weight wt = {p.w, tt, type, n, n_out, p.rb};
    ag_exec ex = {ag_pool_create(threads), NULL, 0};
    ag_kernels_force(lv->name);
    ag_matmul(&ex, &wt, p.x, n, T, y, n_out);
    ag_matmul(&ex, &wt, p.x, n, T, y, n_out); /* again, with the scratch already grown */
    run_gemm(&ag_kernels_level(0)->k[type], &p, yr, (size_t)n_out, NULL);
    const ag_kernel *k = &lv->k[type];
    int bad = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < n_out; r++) {
            double e = fabs((double)y[t * n_out + r] - yr[t * n_out + r]);
            if (!(e <= bound(&p, r, t, k->quant ? k->act_block : 0))) bad++;
        }
    CHECK(bad == 0, "%s matmul %s n %lld n_out %lld T %lld threads %d: %d outputs out of bound", lv->name, tt->name,
          (long long)n, (long long)n_out, (long long)T, threads, bad);
    ag_pool_free(ex.pool);
    free(ex.wbuf);
    free(y);
    free(yr);
    unmake(&p);
}

/* ag_matmul_multi == one ag_matmul per weight, bit for bit (same kernels,
 * same activations), with mixed types (so mixed activation formats) and an
 * empty product. */
static void check_multi(const ag_kernel_level *lv, int64_t T, int threads)
{
    static const uint32_t mix[] = {AG_TYPE_Q4_K, AG_TYPE_Q8_0, AG_TYPE_F32, AG_TYPE_Q3_K, AG_TYPE_Q6_K, AG_TYPE_Q4_K};
    static const int64_t outs[] = {40, 17, 3, 0, 33, 16};
    enum { NW = 6, N = 512 };
    problem p[NW];
    ag_weight wt[NW];
    const ag_weight *wp[NW];
    float *y1[NW], *y2[NW];
    int64_t ld[NW];
    float *x = malloc((size_t)(N * T) * sizeof(float));
    for (int64_t i = 0; i < N * T; i++) x[i] = frand();
    for (int i = 0; i < NW; i++) {
        const ag_type_traits *tt = ag_type_traits_of(mix[i]);
        make(tt, mix[i], N, outs[i] ? outs[i] : 1, 1, &p[i]);
        wt[i] = (ag_weight){p[i].w, tt, mix[i], N, outs[i], p[i].rb};
        wp[i] = &wt[i];
        ld[i] = outs[i] + 2;
        y1[i] = calloc((size_t)(ld[i] * T + 1), sizeof(float));
        y2[i] = calloc((size_t)(ld[i] * T + 1), sizeof(float));
    }
    ag_exec ex = {ag_pool_create(threads), NULL, 0};
    ag_kernels_force(lv->name);
    for (int i = 0; i < NW; i++) ag_matmul(&ex, &wt[i], x, N, T, y1[i], ld[i]);
    ag_matmul_multi(&ex, NW, wp, x, N, T, y2, ld);
    for (int i = 0; i < NW; i++)
        CHECK(memcmp(y1[i], y2[i], (size_t)(ld[i] * T + 1) * sizeof(float)) == 0, "%s multi T %lld threads %d: product %d",
              lv->name, (long long)T, threads, i);
    for (int i = 0; i < NW; i++) { unmake(&p[i]); free(y1[i]); free(y2[i]); }
    ag_pool_free(ex.pool);
    free(ex.wbuf);
    free(x);
}

int main(void)
{
    /* AIRGAP_ISA is read at first use */
    setenv("AIRGAP_ISA", "ref", 1);
    CHECK(strcmp(ag_kernels()->name, "ref") == 0, "AIRGAP_ISA=ref gives %s", ag_kernels()->name);
    CHECK(strstr(ag_kernels_describe(), "ref") != NULL, "describe: %s", ag_kernels_describe());

    /* the levels: ref first; on x86 the ones the CPU has */
    const int nl = ag_kernels_count();
    CHECK(nl >= 1 && strcmp(ag_kernels_level(0)->name, "ref") == 0, "level 0 is ref");
    CHECK(ag_kernels_level(nl) == NULL && ag_kernels_level(-1) == NULL, "levels out of range");
#if defined(__x86_64__)
    const ag_cpu_features *f = ag_cpu_features_get();
    int want = 1;
    if (f->avx2 && f->fma && f->f16c) {
        want++;
        if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512_vnni) want++;
    }
    CHECK(nl == want, "x86: %d levels, want %d", nl, want);
#endif
    for (int i = 0; i < nl; i++) {
        const ag_kernel_level *lv = ag_kernels_force(ag_kernels_level(i)->name);
        CHECK(lv == ag_kernels_level(i) && ag_kernels() == lv, "force %s", ag_kernels_level(i)->name);
    }
    CHECK(ag_kernels_force("no-such-isa") == NULL && ag_kernels() == ag_kernels_level(nl - 1), "unknown level");
    CHECK(ag_kernels_force(NULL) == ag_kernels_level(nl - 1), "force(NULL) = best");
    printf("levels:");
    for (int i = 0; i < nl; i++) printf(" %s", ag_kernels_level(i)->name);
    printf("; best: %s\n", ag_kernels_describe());

    /* every type has a gemm at every level; every level against ref */
    for (int l = 0; l < nl; l++) {
        const ag_kernel_level *lv = ag_kernels_level(l);
        CHECK(lv->dot_f32 != NULL, "%s: dot_f32", lv->name);
        check_quantizers(lv);
        int cases = 0, bad = 0;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const ag_type_traits *tt = ag_type_traits_of(types[ti]);
            int64_t sizes[5];
            if (tt->block == 1) {
                static const int64_t s1[5] = {1, 7, 33, 100, 1027};
                memcpy(sizes, s1, sizeof(sizes));
            } else {
                static const int64_t nb[5] = {1, 2, 3, 7, 0};
                for (int s = 0; s < 4; s++) sizes[s] = nb[s] * tt->block;
                sizes[4] = tt->block == 256 ? 4096 : 3584;
            }
            static const int64_t nts[] = {1, 2, 3, 4, 5, 8, 9};
            static const int64_t nrs[] = {1, 5, 18};
            for (int s = 0; s < 5; s++)
                for (size_t a = 0; a < sizeof(nts) / sizeof(nts[0]); a++) {
                    /* the long rows only with a few row/token shapes (time under ASan) */
                    if (s == 4 && a % 3) continue;
                    const int64_t nr = nrs[(a + (size_t)s) % 3];
                    bad += check_level_type(lv, types[ti], sizes[s], nr, nts[a]);
                    cases++;
                }
        }
        printf("%-7s %d gemm cases, %d outputs out of bound\n", lv->name, cases, bad);
    }

    /* the driver at every level: threads, odd row counts, token blocks > 64 */
    for (int l = 0; l < nl; l++) {
        const ag_kernel_level *lv = ag_kernels_level(l);
        check_matmul(lv, AG_TYPE_Q4_K, 512, 37, 1, 2);
        check_matmul(lv, AG_TYPE_Q6_K, 256, 100, 3, 3);
        check_matmul(lv, AG_TYPE_Q8_0, 96, 333, 1, 2);
        check_matmul(lv, AG_TYPE_Q8_0, 64, 70, 67, 2);
        check_matmul(lv, AG_TYPE_F16, 40, 19, 5, 1);
        check_matmul(lv, AG_TYPE_Q3_K, 256, 20, 2, 2);
        check_multi(lv, 1, 2);
        check_multi(lv, 5, 3);
        check_multi(lv, 70, 2);
    }
    ag_kernels_force(NULL);
    return REPORT();
}
