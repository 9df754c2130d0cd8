/* test_types.c: the tensor-type table and its reference kernels.
 *
 *  1. table sanity: block sizes and bytes per type (ggml's), names round trip
 *     case-insensitively, unknown ids/names rejected;
 *  2. ground truth: every 2-D tensor of the llama.cpp-quantized fixtures
 *     tiny-<type>.gguf, dequantized by our to_float, against the same tensor
 *     of tiny-f32.gguf (relative RMS error under a per-type bound), and our
 *     legacy quantizers reproduce llama-quantize's bytes;
 *  3. vec_dot against to_float + a double dot, on awkward row lengths, for
 *     both quantizer-made rows and random block bytes (every bit pattern);
 *  4. from_float round trips (relative RMS per type), the exact q8_0/q4_0
 *     formulas, and zero/NaN/inf inputs (defined output, no UB under UBSan).
 *
 * Error bounds (relative RMS, sqrt(sum (a-b)^2 / sum b^2)) are about 1.5-2x
 * the errors measured on Gaussian-like data: for b bits with a good scale the
 * error of a uniform quantizer is ~ step/sqrt(12) relative to the range, i.e.
 * q8_0 ~0.005, 6 bits ~0.02, 5 bits ~0.04, 4 bits ~0.08-0.1, 3 bits ~0.2,
 * 2 bits ~0.35-0.45. A layout bug (wrong nibble order, scale bits, sign)
 * gives errors near or above 1, far outside every bound. */
#include "gguf/gguf.h"
#include "harness.h"
#include "quant/blocks.h"
#include "quant/ref.h"
#include "quant/types.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) * (1.0 / 9007199254740992.0); }
static float rnd_gauss(void)
{
    double u = rnd_unit(), v = rnd_unit();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static double rel_rms(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        num += e * e;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
    return sqrt(num / den);
}

/* All types with a row, in id order. */
static const uint32_t all_types[] = {
    AG_TYPE_F32, AG_TYPE_F16, AG_TYPE_Q4_0, AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1,
    AG_TYPE_Q8_0, AG_TYPE_Q8_1, AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K,
    AG_TYPE_Q6_K, AG_TYPE_Q8_K, AG_TYPE_IQ4_NL, AG_TYPE_IQ4_XS, AG_TYPE_BF16,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Bound on the relative RMS error of ground-truth dequantization (fixtures:
 * llama-quantize's searches) and of our from_float (round trip), per type. */
static double quant_bound(uint32_t t)
{
    switch (t) {
    case AG_TYPE_F32: return 0.0;
    case AG_TYPE_F16: return 5e-4;   /* rounding: |error| <= 2^-11 |x| per (normal) value */
    case AG_TYPE_BF16: return 2e-3;  /* rounding: |error| <= 2^-9 |x| per value */
    case AG_TYPE_Q8_0: case AG_TYPE_Q8_1: case AG_TYPE_Q8_K: return 0.01;
    case AG_TYPE_Q6_K: return 0.03;
    case AG_TYPE_Q5_0: case AG_TYPE_Q5_1: case AG_TYPE_Q5_K: return 0.08;
    case AG_TYPE_Q4_0: case AG_TYPE_Q4_1: case AG_TYPE_Q4_K:
    case AG_TYPE_IQ4_NL: case AG_TYPE_IQ4_XS: return 0.15;
    case AG_TYPE_Q3_K: return 0.3;
    case AG_TYPE_Q2_K: return 0.5;
    }
    return 0.0;
}

/* Offsets of the scale fields of a block, rewritten with sane f16 (or f32
 * for q8_K) values in the random-bytes tests: random f16 bits would give
 * NaN/inf/huge scales. Returns the count; *f32 says the field is an f32. */
static int scale_fields(uint32_t t, int off[2], int *f32)
{
    *f32 = 0;
    switch (t) {
    case AG_TYPE_F16: case AG_TYPE_Q4_0: case AG_TYPE_Q5_0: case AG_TYPE_Q8_0:
    case AG_TYPE_IQ4_NL: case AG_TYPE_IQ4_XS:
        off[0] = 0; return 1;
    case AG_TYPE_Q4_1: case AG_TYPE_Q5_1: case AG_TYPE_Q8_1: case AG_TYPE_Q4_K: case AG_TYPE_Q5_K:
        off[0] = 0; off[1] = 2; return 2;
    case AG_TYPE_Q2_K: off[0] = 80; off[1] = 82; return 2;
    case AG_TYPE_Q3_K: off[0] = 108; return 1;
    case AG_TYPE_Q6_K: off[0] = 208; return 1;
    case AG_TYPE_Q8_K: off[0] = 0; *f32 = 1; return 1;
    case AG_TYPE_F32: off[0] = 0; *f32 = 1; return 1;
    case AG_TYPE_BF16: return -1; /* special: every 2 bytes */
    }
    return 0;
}

/* Fills n values' worth of blocks with random bytes, then makes the scale
 * fields finite and moderate. */
static void random_blocks(uint32_t t, uint8_t *dst, int64_t n)
{
    const ag_type_traits *tr = ag_type_traits_of(t);
    const uint64_t bytes = ag_type_row_bytes(tr, (uint64_t)n);
    for (uint64_t i = 0; i < bytes; i++) dst[i] = (uint8_t)rnd_u64();
    int off[2], f32;
    int nf = scale_fields(t, off, &f32);
    for (uint64_t b = 0; b < bytes / tr->bytes; b++) {
        uint8_t *blk = dst + b * tr->bytes;
        if (nf < 0) { /* bf16 */
            wr_u16(blk, ag_f32_to_bf16(rnd_gauss()));
            continue;
        }
        for (int k = 0; k < nf; k++) {
            float v = rnd_gauss() * (tr->block == 1 ? 1.0f : 0.05f);
            if (f32) wr_f32(blk + off[k], v);
            else wr_f16(blk + off[k], v);
        }
    }
}

/* ---- 1. table ---- */

static void test_table(void)
{
    static const struct { uint32_t id; const char *name; uint32_t block, bytes; } want[] = {
        {AG_TYPE_F32, "f32", 1, 4},       {AG_TYPE_F16, "f16", 1, 2},       {AG_TYPE_Q4_0, "q4_0", 32, 18},
        {AG_TYPE_Q4_1, "q4_1", 32, 20},   {AG_TYPE_Q5_0, "q5_0", 32, 22},   {AG_TYPE_Q5_1, "q5_1", 32, 24},
        {AG_TYPE_Q8_0, "q8_0", 32, 34},   {AG_TYPE_Q8_1, "q8_1", 32, 36},   {AG_TYPE_Q2_K, "q2_K", 256, 84},
        {AG_TYPE_Q3_K, "q3_K", 256, 110}, {AG_TYPE_Q4_K, "q4_K", 256, 144}, {AG_TYPE_Q5_K, "q5_K", 256, 176},
        {AG_TYPE_Q6_K, "q6_K", 256, 210}, {AG_TYPE_Q8_K, "q8_K", 256, 292}, {AG_TYPE_IQ4_NL, "iq4_nl", 32, 18},
        {AG_TYPE_IQ4_XS, "iq4_xs", 256, 136}, {AG_TYPE_BF16, "bf16", 1, 2},
    };
    int known = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ag_type_traits *t = ag_type_traits_of(want[i].id);
        CHECK(t != NULL, "type %u has a row", want[i].id);
        if (!t) continue;
        CHECK(strcmp(t->name, want[i].name) == 0, "type %u name %s", want[i].id, t->name);
        CHECK(t->block == want[i].block && t->bytes == want[i].bytes, "%s: block %u bytes %u", t->name,
              t->block, t->bytes);
        CHECK(t->to_float && t->vec_dot && t->from_float, "%s: functions", t->name);
        CHECK(ag_type_from_name(want[i].name) == (int)want[i].id, "name %s round trip", want[i].name);
        char up[16];
        size_t k = 0;
        for (; want[i].name[k] && k < sizeof up - 1; k++) up[k] = (char)toupper((unsigned char)want[i].name[k]);
        up[k] = 0;
        CHECK(ag_type_from_name(up) == (int)want[i].id, "upper-case name %s", up);
    }
    for (uint32_t id = 0; id < AG_TYPE_COUNT; id++) known += ag_type_traits_of(id) != NULL;
    CHECK(known == (int)(sizeof want / sizeof want[0]), "exactly the listed types have rows (%d)", known);
    CHECK(ag_type_traits_of(4) == NULL && ag_type_traits_of(5) == NULL, "removed q4_2/q4_3 ids unknown");
    CHECK(ag_type_traits_of(AG_TYPE_COUNT) == NULL && ag_type_traits_of(UINT32_MAX) == NULL, "out of range ids");
    CHECK(ag_type_from_name("Q4_k") == AG_TYPE_Q4_K && ag_type_from_name("IQ4_XS") == AG_TYPE_IQ4_XS,
          "mixed case names");
    static const char *bad[] = {"", "q4", "q4_K_M", "q4_0 ", "f32x", "q4_2", "iq4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(ag_type_from_name(bad[i]) == -1, "bad name '%s' rejected", bad[i]);
    CHECK(ag_type_from_name(NULL) == -1, "NULL name rejected");
    CHECK(ag_type_row_bytes(ag_type_traits_of(AG_TYPE_Q4_K), 4096) == 16 * 144, "row bytes q4_K");
    CHECK(ag_type_row_bytes(ag_type_traits_of(AG_TYPE_F16), 7) == 14, "row bytes f16");
}

/* ---- 2. ground truth from llama.cpp's quantizations ---- */

static const char *fixture_types[] = {"f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
                                      "q3_k_m", "q4_k_m", "q5_k_m", "q6_k", "iq4_nl", "iq4_xs"};

/* vec_dot of every row of a real tensor against a random vector, compared
 * with a double dot of the dequantized rows (checked on a few rows only). */
static void check_real_dot(const ag_type_traits *tr, const ag_gguf_tensor *t, const float *deq, const char *file)
{
    const int64_t ne0 = (int64_t)t->ne[0], rows = (int64_t)t->ne[1];
    float *x = malloc((size_t)ne0 * sizeof *x);
    if (!x) return;
    for (int64_t i = 0; i < ne0; i++) x[i] = rnd_gauss();
    const uint64_t rb = ag_type_row_bytes(tr, (uint64_t)ne0);
    const int64_t step = rows > 16 ? rows / 16 : 1;
    for (int64_t r = 0; r < rows; r += step) {
        double ref = 0.0, mag = 0.0;
        for (int64_t i = 0; i < ne0; i++) {
            ref += (double)deq[r * ne0 + i] * x[i];
            mag += fabs((double)deq[r * ne0 + i] * x[i]);
        }
        float got = tr->vec_dot((const uint8_t *)t->data + r * rb, x, ne0);
        double tol = (double)(tr->block < 32 ? 32 : tr->block) + (double)ne0 / tr->block + 2.0;
        tol *= mag / 16777216.0;
        CHECK(fabs(got - ref) <= tol + 1e-30, "%s %s row %lld: vec_dot %.9g vs %.9g (tol %g)", file, t->name,
              (long long)r, got, ref, tol);
    }
    free(x);
}

/* Our from_float on the f32 tensor must give llama-quantize's bytes for the
 * types whose ggml quantizer is the plain reference one (no search). */
static int requant_must_match(uint32_t t)
{
    return t == AG_TYPE_F16 || t == AG_TYPE_BF16 || t == AG_TYPE_Q8_0 || t == AG_TYPE_Q4_0 || t == AG_TYPE_Q4_1 ||
           t == AG_TYPE_Q5_0 || t == AG_TYPE_Q5_1;
}

static void test_fixtures(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fixtures/qwen35-tiny/tiny-f32.gguf", AG_SHARED_DIR);
    ag_gguf *ref = NULL;
    ag_status st = ag_gguf_open(path, true, &ref);
    CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
    if (st != AG_OK) return;

    double worst[AG_TYPE_COUNT] = {0};
    double worst_ratio[AG_TYPE_COUNT] = {0};
    int tensors_of[AG_TYPE_COUNT] = {0};
    for (size_t f = 0; f < sizeof fixture_types / sizeof fixture_types[0]; f++) {
        snprintf(path, sizeof path, "%s/fixtures/qwen35-tiny/tiny-%s.gguf", AG_SHARED_DIR, fixture_types[f]);
        ag_gguf *g = NULL;
        st = ag_gguf_open(path, true, &g);
        CHECK(st == AG_OK, "open %s: %s", path, ag_last_error());
        if (st != AG_OK) continue;
        int n2d = 0, nquant = 0, compared[AG_TYPE_COUNT] = {0};
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const ag_gguf_tensor *t = &g->tensors[i];
            if (t->n_dims != 2) continue;
            n2d++;
            const ag_type_traits *tr = ag_type_traits_of(t->type);
            CHECK(tr != NULL, "%s: tensor %s: type %u has a row", fixture_types[f], t->name, t->type);
            int64_t j = ag_gguf_find_tensor(ref, t->name);
            CHECK(j >= 0, "%s: tensor %s in tiny-f32", fixture_types[f], t->name);
            if (!tr || j < 0) continue;
            const ag_gguf_tensor *r = &ref->tensors[j];
            CHECK(r->type == AG_TYPE_F32 && r->ne[0] == t->ne[0] && r->ne[1] == t->ne[1],
                  "%s: tensor %s shape", fixture_types[f], t->name);
            if (r->type != AG_TYPE_F32 || r->ne[0] != t->ne[0] || r->ne[1] != t->ne[1]) continue;
            const int64_t n = (int64_t)(t->ne[0] * t->ne[1]);
            CHECK(t->ne[0] % tr->block == 0 && t->n_bytes == ag_type_row_bytes(tr, t->ne[0]) * t->ne[1],
                  "%s: tensor %s byte size", fixture_types[f], t->name);
            float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
            uint8_t *q = malloc(t->n_bytes);
            if (!a || !b || !q) {
                free(a); free(b); free(q);
                continue;
            }
            tr->to_float(t->data, a, n);
            memcpy(b, r->data, (size_t)n * sizeof *b);
            double e = rel_rms(a, b, n);
            CHECK(e <= quant_bound(t->type), "%s: tensor %s (%s): rel rms %.4g > %.4g", fixture_types[f],
                  t->name, tr->name, e, quant_bound(t->type));
            if (e > worst[t->type]) worst[t->type] = e;
            tensors_of[t->type]++;
            if (t->type != AG_TYPE_F32) {
                nquant++;
                check_real_dot(tr, t, a, fixture_types[f]);
            }
            if (requant_must_match(t->type)) {
                tr->from_float(b, q, n);
                size_t diff = 0;
                for (uint64_t k = 0; k < t->n_bytes; k++) diff += q[k] != ((const uint8_t *)t->data)[k];
                CHECK(diff == 0, "%s: tensor %s: our %s quantizer differs from llama-quantize in %zu of %llu bytes",
                      fixture_types[f], t->name, tr->name, diff, (unsigned long long)t->n_bytes);
            }
            else if (t->type != AG_TYPE_F32 && compared[t->type]++ < 2) {
                /* search quantizers: ours must be about as good as llama-quantize's
                 * (two tensors per type and file, to keep the test fast) */
                tr->from_float(b, q, n);
                tr->to_float(q, a, n);
                double ours = rel_rms(a, b, n);
                if (ours / e > worst_ratio[t->type]) worst_ratio[t->type] = ours / e;
            }
            free(a); free(b); free(q);
        }
        CHECK(n2d > 0 && nquant > 0, "%s: %d 2-D tensors, %d not f32", fixture_types[f], n2d, nquant);
        ag_gguf_close(g);
    }
    ag_gguf_close(ref);
    for (uint32_t t = 0; t < AG_TYPE_COUNT; t++)
        if (tensors_of[t])
            printf("  fixtures %-7s %3d tensors, worst rel rms %.5f (bound %.3g); our quantizer / llama's: %.3f\n",
                   ag_type_traits_of(t)->name, tensors_of[t], worst[t], quant_bound(t), worst_ratio[t]);
    for (uint32_t t = 0; t < AG_TYPE_COUNT; t++)
        CHECK(worst_ratio[t] <= 1.15, "%s: our quantizer's error is %.3f x llama-quantize's", ag_type_traits_of(t)->name,
              worst_ratio[t]);
    /* every type llama.cpp wrote into the fixtures was seen */
    static const uint32_t expect[] = {AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0, AG_TYPE_Q4_0, AG_TYPE_Q4_1,
                                      AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K,
                                      AG_TYPE_Q5_K, AG_TYPE_Q6_K, AG_TYPE_IQ4_NL, AG_TYPE_IQ4_XS};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        CHECK(tensors_of[expect[i]] > 0, "fixtures contain type %u", expect[i]);
}

/* ---- 3. vec_dot ---- */

static void test_vec_dot(void)
{
    enum { MAXN = 4096 + 256 };
    static uint8_t row[MAXN * 4 + 64];
    static float x[MAXN], deq[MAXN], src[MAXN];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ag_type_traits *tr = ag_type_traits_of(all_types[ti]);
        const int64_t lens[] = {1, 2, 3, 7, (MAXN) / tr->block};
        for (int li = 0; li < 5; li++) {
            const int64_t n = lens[li] * tr->block;
            for (int mode = 0; mode < 2; mode++) {
                for (int64_t i = 0; i < n; i++) x[i] = rnd_gauss();
                /* misaligned by one byte: rows may sit anywhere in a file */
                uint8_t *r = row + 1;
                if (mode == 0) {
                    for (int64_t i = 0; i < n; i++) src[i] = rnd_gauss() * 0.02f;
                    tr->from_float(src, r, n);
                } else {
                    random_blocks(all_types[ti], r, n);
                }
                tr->to_float(r, deq, n);
                double ref = 0.0, mag = 0.0;
                int finite = 1;
                for (int64_t i = 0; i < n; i++) {
                    finite &= isfinite(deq[i]);
                    ref += (double)deq[i] * x[i];
                    mag += fabs((double)deq[i] * x[i]);
                }
                CHECK(finite, "%s n=%lld mode %d: dequantized values finite", tr->name, (long long)n, mode);
                float got = tr->vec_dot(r, x, n);
                /* f32 summation bound: per-block sums of `block` terms, then
                 * n/block block sums, plus the product rounding */
                const double blk = tr->block < 32 ? 32 : tr->block;
                const double tol = (blk + (double)n / blk + 2.0) * mag / 16777216.0;
                CHECK(fabs(got - ref) <= tol + 1e-30, "%s n=%lld mode %d: vec_dot %.9g vs %.9g (tol %g)", tr->name,
                      (long long)n, mode, got, ref, tol);
            }
        }
    }
}

/* ---- 4. from_float ---- */

static void test_round_trip(void)
{
    enum { N = 8192 };
    static float src[N], out[N];
    static uint8_t q[N * 4];
    printf("  round trip rel rms, Gaussian (offset) data, %d values:", N);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t t = all_types[ti];
        const ag_type_traits *tr = ag_type_traits_of(t);
        for (int i = 0; i < N; i++) src[i] = rnd_gauss() * 0.03f;
        tr->from_float(src, q, N);
        tr->to_float(q, out, N);
        double e = rel_rms(out, src, N);
        printf(" %s %.4f", tr->name, e);
        CHECK(e <= quant_bound(t), "%s: round trip rel rms %.4g > %.4g", tr->name, e, quant_bound(t));

        /* data with an outlier and a constant offset (affine types use the min) */
        for (int i = 0; i < N; i++) src[i] = 0.5f + rnd_gauss() * 0.1f;
        for (int i = 0; i < N; i += 97) src[i] = 2.0f;
        tr->from_float(src, q, N);
        tr->to_float(q, out, N);
        double e2 = rel_rms(out, src, N);
        printf(" (%.4f)", e2);
        CHECK(e2 <= quant_bound(t), "%s: offset data round trip rel rms %.4g > %.4g", tr->name, e2, quant_bound(t));

        /* zeros stay exactly zero */
        memset(src, 0, sizeof src);
        tr->from_float(src, q, N);
        tr->to_float(q, out, N);
        int zeros = 1;
        for (int i = 0; i < N; i++) zeros &= out[i] == 0.0f;
        CHECK(zeros, "%s: zero input dequantizes to zero", tr->name);

        /* NaN / inf / huge values: any output, but no UB and no crash
         * (UBSan checks the float-to-int conversions) */
        for (int i = 0; i < N; i++) src[i] = rnd_gauss();
        src[3] = NAN; src[40] = INFINITY; src[300] = -INFINITY; src[600] = 3e38f; src[1000] = -1e-40f;
        tr->from_float(src, q, N);
        tr->to_float(q, out, N);
        (void)tr->vec_dot(q, src + 1, N - tr->block);
    }
    printf("\n");
}

/* The exact formulas of the legacy quantizers (ggml's *_ref), computed here
 * independently, block by block. */
static void test_exact_formulas(void)
{
    enum { NB = 64 };
    static float x[NB * 32];
    static blk_q8_0 q8[NB];
    static blk_q4_0 q4[NB];
    for (int i = 0; i < NB * 32; i++) x[i] = rnd_gauss() * (float)(1 + i / 32);
    for (int j = 0; j < 32; j++) x[5 * 32 + j] = -x[5 * 32 + j] * 0.0f; /* a zero block (with -0) */
    x[7 * 32 + 3] = -100.0f;                                     /* negative extreme */
    ag_quant_quantize_q8_0(x, q8, NB * 32);
    ag_quant_quantize_q4_0(x, q4, NB * 32);
    int bad8 = 0, bad4 = 0;
    for (int b = 0; b < NB; b++) {
        const float *v = x + 32 * b;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++)
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                max = v[j];
            }
        /* q8_0: d = amax / 127, q = round(x / d) (half away from zero) */
        const float d8 = amax / 127.0f, id8 = d8 ? 1.0f / d8 : 0.0f;
        bad8 += rd_u16(q8[b].d) != ag_f32_to_f16(d8);
        for (int j = 0; j < 32; j++) bad8 += q8[b].qs[j] != (int8_t)roundf(v[j] * id8);
        /* q4_0: d = max / -8 (max = signed value of largest magnitude),
         * q = min(15, floor(x / d + 8.5)) */
        const float d4 = max / -8.0f, id4 = d4 ? 1.0f / d4 : 0.0f;
        bad4 += rd_u16(q4[b].d) != ag_f32_to_f16(d4);
        for (int j = 0; j < 16; j++) {
            int lo = (int)floorf(v[j] * id4 + 8.5f), hi = (int)floorf(v[j + 16] * id4 + 8.5f);
            lo = lo > 15 ? 15 : lo;
            hi = hi > 15 ? 15 : hi;
            bad4 += q4[b].qs[j] != (uint8_t)(lo | (hi << 4));
        }
        if (b == 7) CHECK((q4[b].qs[3] & 15) == 0, "q4_0: extreme -100 maps to code 0");
    }
    CHECK(bad8 == 0, "q8_0 quantizer: %d fields differ from d = amax/127, q = round(x/d)", bad8);
    CHECK(bad4 == 0, "q4_0 quantizer: %d fields differ from d = max/-8, q = min(15, floor(x/d + 8.5))", bad4);

    /* q8_0/q4_0 dequantization of hand-made blocks */
    blk_q4_0 h4;
    wr_f16(h4.d, 0.5f);
    for (int j = 0; j < 16; j++) h4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    ag_quant_dequant_q4_0(&h4, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(y[j] == 0.5f * (j - 8), "q4_0 low nibble value %d", j);
        CHECK(y[j + 16] == 0.5f * (7 - j), "q4_0 high nibble value %d", j + 16);
    }
}

/* Hand-made blocks with one field set, checked against the layout text of
 * the spec (Appendix A.2) / ggml: catches swapped bit positions that a round
 * trip through our own quantizer would hide. */
static void test_layout_probes(void)
{
    float y[256];
    /* q5_0: value 17 gets its 5th bit from qh bit 17 */
    blk_q5_0 b5;
    memset(&b5, 0, sizeof b5);
    wr_f16(b5.d, 1.0f);
    wr_u32(b5.qh, 1u << 17);
    ag_quant_dequant_q5_0(&b5, y, 32);
    CHECK(y[17] == 0.0f && y[1] == -16.0f && y[16] == -16.0f, "q5_0 qh bit 17 -> value 17 (%g %g)", y[17], y[1]);
    /* q4_K: sub-block 5 scale = (scales[9] & 15) | (scales[1] >> 6) << 4 */
    blk_q4_K k4;
    memset(&k4, 0, sizeof k4);
    wr_f16(k4.d, 1.0f);
    wr_f16(k4.dmin, 1.0f);
    k4.scales[9] = 0x23; /* sc5 low = 3, m5 low = 2 */
    k4.scales[1] = 0x40; /* sc5 high bits = 1 -> sc5 = 19 */
    k4.scales[5] = 0x80; /* m5 high bits = 2 -> m5 = 34 */
    k4.qs[32 * 2 + 4] = 0x70; /* chunk 2, l = 4: high nibble 7 -> value 64*2+32+4 = 164 (sub-block 5) */
    ag_quant_dequant_q4_K(&k4, y, 256);
    CHECK(y[164] == 19.0f * 7 - 34.0f, "q4_K sub-block 5 value 164: %g", y[164]);
    CHECK(y[165] == -34.0f && y[132] == 0.0f, "q4_K sub-block 5/4 others: %g %g", y[165], y[132]);
    /* q6_K: value 128 + 96 + 17 = 241: ql[64+32+17] high nibble, qh[32+17] bits 6..7, scale 15 */
    blk_q6_K k6;
    memset(&k6, 0, sizeof k6);
    wr_f16(k6.d, 1.0f);
    for (int i = 0; i < 16; i++) k6.scales[i] = (int8_t)(i + 1);
    k6.ql[64 + 32 + 17] = 0x50;
    k6.qh[32 + 17] = 0xC0;
    ag_quant_dequant_q6_K(&k6, y, 256);
    CHECK(y[241] == 16.0f * ((5 | (3 << 4)) - 32), "q6_K value 241: %g", y[241]);
    CHECK(y[0] == 1.0f * -32 && y[255] == 16.0f * -32, "q6_K zero codes: %g %g", y[0], y[255]);
    /* q3_K: value 200 (half 1, j = 2, l = 8): hmask[8] bit 6 set -> no -4 */
    blk_q3_K k3;
    memset(&k3, 0, sizeof k3);
    wr_f16(k3.d, 1.0f);
    memset(k3.scales, 0, 12); /* all scales -32 */
    k3.scales[4] = 0x0a;          /* scale 4 low bits: byte 4 low nibble = 10 */
    k3.scales[8] = 0x0C;          /* scale 4 (i%4 = 0, i/4 = 1): bits 2..3 = 3 -> 10 | 48 = 58 -> 26 */
    k3.qs[32 + 8] = 3 << 4;
    k3.hmask[8] = 1 << 6;
    ag_quant_dequant_q3_K(&k3, y, 256);
    CHECK(y[200] == -32.0f * 3, "q3_K value 200: %g", y[200]); /* sub-block 12: scale -32, q = 3 */
    CHECK(y[64] == 26.0f * -4, "q3_K value 64 (sub-block 4): %g", y[64]);
    /* q2_K: value 128+32*3+20 = 244: qs[32+20] bits 6..7, scales[15] */
    blk_q2_K k2;
    memset(&k2, 0, sizeof k2);
    wr_f16(k2.d, 1.0f);
    wr_f16(k2.dmin, 0.5f);
    k2.scales[15] = 0x35; /* scale 5, min 3 */
    k2.qs[32 + 20] = 0x80; /* 2 */
    ag_quant_dequant_q2_K(&k2, y, 256);
    CHECK(y[244] == 5.0f * 2 - 1.5f && y[243] == -1.5f, "q2_K value 244: %g", y[244]);
    /* iq4_xs: sub-block 3 scale: scales_l[1] high nibble | scales_h bits 6..7 */
    blk_iq4_xs x4;
    memset(&x4, 0, sizeof x4);
    wr_f16(x4.d, 1.0f);
    x4.scales_l[1] = 0x50;
    wr_u16(x4.scales_h, 2 << 6); /* ls = 5 | 32 = 37 -> 5 */
    x4.qs[16 * 3 + 2] = 0xF0;
    ag_quant_dequant_iq4_xs(&x4, y, 256);
    CHECK(y[96 + 18] == 5.0f * 113 && y[96 + 2] == 5.0f * -127, "iq4_xs sub-block 3: %g %g", y[114], y[98]);
    CHECK(y[0] == -32.0f * -127, "iq4_xs sub-block 0: %g", y[0]);
}

int main(void)
{
    test_table();
    test_exact_formulas();
    test_layout_probes();
    test_vec_dot();
    test_round_trip();
    test_fixtures();
    return REPORT();
}
