/* kernels.c: the reference level, the level chain and the runtime choice of
 * level (see kernels.h).
 *
 * The reference level keeps f32 activations and computes exactly what the
 * type's reference vec_dot computes (quant/types.h): for one token it calls
 * vec_dot per row; for several it dequantizes a piece of the row (one block,
 * at most 256 values) once and dots it with every token, adding the pieces
 * in the same order as vec_dot does, so decode and prefill agree bit for bit
 * on the block-quantized types.
 *
 * Levels are built once (pthread_once), each from a copy of the level below,
 * and only for levels the CPU supports: a setup function is compiled with its
 * ISA's flags and may itself use those instructions (the compiler is free to
 * fill a struct with AVX stores), so it must never run on a CPU without them.
 * The active level is an atomic pointer: ag_matmul reads it once per call.
 *
 * Library code never prints: a forced level this CPU lacks falls back to the
 * best supported one below it and the reason shows in ag_kernels_describe()
 * (and so in ag_system_info()). */
#include "kernels/kernels.h"

#include "core/cpu_features.h"
#include "kernels/ops.h"
#include "quant/blocks.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference kernels ---- */

static void axpby_f32_ref(float *y, const float *x, float a, float b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = b * y[i] + a * x[i];
}

static float dot_f32_ref(const float *a, const float *b, int64_t n)
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

static float exp_sum_ref(float *x, float m, int64_t n)
{
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

static float max_f32_ref(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void pv_f32_ref(float *y, size_t ldy, const float *p, size_t ldp, const float *v, size_t ldv, int64_t nr,
                       int64_t nk, int64_t n)
{
    for (int64_t r = 0; r < nr; r++) {
        float *yr = y + (size_t)r * ldy;
        for (int64_t k = 0; k < nk; k++) {
            const float pk = p[(size_t)r * ldp + (size_t)k], *vk = v + (size_t)k * ldv;
            for (int64_t e = 0; e < n; e++) yr[e] += pk * vk[e];
        }
    }
}

/* The scratch layout of pv_q8_0 (every level's): the repacked tile at 0
 * (AG_PV_TILE * n bytes; group g of 4 keys, column e: bytes
 * (g * n + e) * 4 + 0..3), the block scales dt[b * AG_PV_TILE + k] at
 * AG_PV_TILE * n, the weights' codes c[(r * n / 32 + b) * AG_PV_TILE + k]
 * at (AG_PV_TILE + 8) * n and their scales after them. The reference uses
 * only the last two. */
void ag_pv_q8_0_ref(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                    int64_t nk, int64_t n, void *scratch)
{
    const int64_t nb = n / 32;
    uint8_t *c = (uint8_t *)scratch + (size_t)(AG_PV_TILE + 8) * (size_t)n;
    const uint8_t *V = v;
    for (int64_t r = 0; r < nr; r++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *cr = c + (size_t)(r * nb + b) * AG_PV_TILE;
            float x[AG_PV_TILE], m = 0;
            for (int64_t k = 0; k < nk; k++) {
                const blk_q8_0 *blk = (const blk_q8_0 *)(V + (size_t)k * ldv) + b;
                x[k] = p[(size_t)r * ldp + (size_t)k] * rd_f16(blk->d);
                m = x[k] > m ? x[k] : m;
            }
            const float inv = m > 0 ? 255.0f / m : 0.0f, s = m / 255.0f;
            for (int64_t k = 0; k < nk; k++) {
                float f = nearbyintf(x[k] * inv);
                cr[k] = (uint8_t)(f < 0 ? 0 : f > 255 ? 255 : f);
            }
            for (int64_t e = 0; e < 32; e++) {
                int32_t acc = 0;
                for (int64_t k = 0; k < nk; k++) {
                    const blk_q8_0 *blk = (const blk_q8_0 *)(V + (size_t)k * ldv) + b;
                    acc += (int32_t)cr[k] * blk->qs[e];
                }
                float *ye = y + (size_t)r * ldy + (size_t)(b * 32 + e);
                *ye = fmaf((float)acc, s, *ye);
            }
        }
    }
}

/* ---- the int16 attention path (kernels.h) ---- */

/* codes and scale of n values x (stride xs) as kernels.h defines them;
 * returns d (0: all codes 0) */
static float code14(const float *x, size_t xs, int64_t n, int16_t *c, size_t cs)
{
    float m = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        const float a = fabsf(x[(size_t)i * xs]);
        if (!(a <= FLT_MAX)) finite = false;
        else m = a > m ? a : m;
    }
    if (!finite || m == 0) {
        for (int64_t i = 0; i < n; i++) c[(size_t)i * cs] = 0;
        return 0;
    }
    const float inv = 8191.0f / m;
    for (int64_t i = 0; i < n; i++) {
        const float f = nearbyintf(x[(size_t)i * xs] * inv);
        c[(size_t)i * cs] = (int16_t)(f < -8191 ? -8191 : f > 8191 ? 8191 : f); /* never clamps when inv is finite */
    }
    return m / 8191.0f;
}

void ag_act_quant_i16_ref(const float *x, void *dst, int64_t n)
{
    int16_t *c = dst;
    float *d = (float *)((uint8_t *)dst + 2 * (size_t)n);
    for (int64_t b = 0; b < n / 32; b++) {
        /* f32 queries can be tiny enough for 8191 / m to overflow: zero them */
        float m = 0;
        for (int j = 0; j < 32; j++) m = fabsf(x[32 * b + j]) > m ? fabsf(x[32 * b + j]) : m;
        if (m > 0 && !(8191.0f / m <= FLT_MAX)) {
            for (int j = 0; j < 32; j++) c[32 * b + j] = 0;
            d[b] = 0;
            continue;
        }
        d[b] = code14(x + 32 * b, 1, 32, c + 32 * b, 1);
    }
}

void ag_qk_f16_i16_ref(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                       int64_t nr, int64_t nt, void *scratch)
{
    (void)scratch;
    const int64_t nb = n / 32;
    for (int64_t k = 0; k < nr; k++) {
        const uint8_t *wk = (const uint8_t *)w + (size_t)k * ws;
        int16_t ck[32];
        float x[32];
        for (int64_t t = 0; t < nt; t++) y[(size_t)t * ldy + (size_t)k] = 0;
        for (int64_t b = 0; b < nb; b++) {
            for (int j = 0; j < 32; j++) x[j] = rd_f16(wk + 2 * (32 * b + j));
            const float dk = code14(x, 1, 32, ck, 1);
            for (int64_t t = 0; t < nt; t++) {
                const uint8_t *at = (const uint8_t *)a + (size_t)t * as;
                const int16_t *cq = (const int16_t *)(const void *)at + 32 * b;
                float dq;
                memcpy(&dq, at + 2 * (size_t)n + 4 * (size_t)b, 4);
                int32_t isum = 0;
                for (int j = 0; j < 32; j++) isum += (int32_t)cq[j] * ck[j];
                float *yt = y + (size_t)t * ldy + (size_t)k;
                *yt = fmaf((float)isum, dq * dk, *yt);
            }
        }
    }
}

void ag_pv_f16_i16_ref(float *y, size_t ldy, const float *p, size_t ldp, const void *v, size_t ldv, int64_t nr,
                       int64_t nk, int64_t n, void *scratch)
{
    (void)scratch;
    int16_t cv[AG_PV_TILE], cp[AG_PV_TILE];
    float x[AG_PV_TILE];
    for (int64_t r = 0; r < nr; r++) {
        const float *pr = p + (size_t)r * ldp;
        float mp = 0;
        for (int64_t k = 0; k < nk; k++) mp = pr[k] > mp ? pr[k] : mp;
        const bool live = mp > 0x1p-64f; /* else 4095 / mp may overflow; such weights are negligible (l >= 1) */
        const float inv = live ? 4095.0f / mp : 0.0f, sp = live ? mp / 4095.0f : 0.0f;
        for (int64_t k = 0; k < nk; k++) {
            const float f = nearbyintf(pr[k] * inv);
            cp[k] = (int16_t)(f < 0 ? 0 : f > 4095 ? 4095 : f);
        }
        for (int64_t e = 0; e < n; e++) {
            for (int64_t k = 0; k < nk; k++) x[k] = rd_f16((const uint8_t *)v + (size_t)k * ldv + 2 * (size_t)e);
            const float dv = code14(x, 1, nk, cv, 1);
            int32_t isum = 0;
            for (int64_t k = 0; k < nk; k++) isum += (int32_t)cp[k] * cv[k];
            float *ye = y + (size_t)r * ldy + (size_t)e;
            *ye = fmaf((float)isum, sp * dv, *ye);
        }
    }
}

/* softmax_rows, composed of the active level's max_f32 and exp_sum */
static void softmax_rows_ref(float *s, size_t lds, int64_t nr, int64_t per, int64_t nk, int64_t v0, float *m, float *l,
                             float *o, size_t ldo, int64_t n)
{
    const ag_kernel_level *kl = ag_kernels();
    ag_softmax_rows_with(kl->max_f32, kl->exp_sum, s, lds, nr, per, nk, v0, m, l, o, ldo, n);
}

/* the state update of kernels.h, as the unfused per-row dot / axpby / dot */
static void delta_step_ref(float *S, int64_t nr, int64_t n, const float *k, const float *q, const float *v, float decay,
                           float beta, float *o)
{
    const ag_kernel_level *kl = ag_kernels();
    for (int64_t j = 0; j < nr; j++) {
        float *Sr = S + (size_t)j * (size_t)n;
        const float d = beta * (v[j] - decay * kl->dot_f32(Sr, k, n));
        kl->axpby_f32(Sr, k, d, decay, n);
        o[j] = kl->dot_f32(Sr, q, n);
    }
}

static void silu_mul_ref(float *y, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = ag_silu(g[i]) * (u ? u[i] : 1.0f);
}

#define REF_TOKENS 16 /* tokens per pass over a row */

static void gemm_ref(const ag_type_traits *tt, int64_t n, const void *w, size_t ws, const void *a, size_t as,
                     float *y, size_t ldy, int64_t nr, int64_t nt)
{
    if (nt == 1) {
        for (int64_t r = 0; r < nr; r++) y[r] = tt->vec_dot((const uint8_t *)w + (size_t)r * ws, a, n);
        return;
    }
    /* pieces of one block (K-quants: 256 values) or, for block-1 types, of
     * 256 values; vec_dot of the 32-value types adds per block too */
    const int64_t piece = tt->block > 1 ? tt->block : 256;
    float buf[256];
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * ws;
        for (int64_t t0 = 0; t0 < nt; t0 += REF_TOKENS) {
            int64_t tn = nt - t0 < REF_TOKENS ? nt - t0 : REF_TOKENS;
            float acc[REF_TOKENS] = {0};
            for (int64_t i0 = 0; i0 < n; i0 += piece) {
                int64_t len = n - i0 < piece ? n - i0 : piece;
                tt->to_float(row + (size_t)(i0 / tt->block) * tt->bytes, buf, len);
                for (int64_t t = 0; t < tn; t++) {
                    const float *x = (const float *)((const uint8_t *)a + (size_t)(t0 + t) * as) + i0;
                    if (tt->block > 1) acc[t] += dot_f32(buf, x, (int)len);
                    else acc[t] += dot_f32_ref(buf, x, len);
                }
            }
            for (int64_t t = 0; t < tn; t++) y[(size_t)(t0 + t) * ldy + (size_t)r] = acc[t];
        }
    }
}

#define REF_GEMM(id, nm)                                                                                      \
    static void gemm_ref_##nm(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,        \
                              size_t ldy, int64_t nr, int64_t nt)                                             \
    {                                                                                                         \
        gemm_ref(ag_type_traits_of(id), n, w, ws, a, as, y, ldy, nr, nt);                                     \
    }
REF_GEMM(AG_TYPE_F32, f32)
REF_GEMM(AG_TYPE_F16, f16)
REF_GEMM(AG_TYPE_BF16, bf16)
REF_GEMM(AG_TYPE_Q4_0, q4_0)
REF_GEMM(AG_TYPE_Q4_1, q4_1)
REF_GEMM(AG_TYPE_Q5_0, q5_0)
REF_GEMM(AG_TYPE_Q5_1, q5_1)
REF_GEMM(AG_TYPE_Q8_0, q8_0)
REF_GEMM(AG_TYPE_Q8_1, q8_1)
REF_GEMM(AG_TYPE_Q2_K, q2_K)
REF_GEMM(AG_TYPE_Q3_K, q3_K)
REF_GEMM(AG_TYPE_Q4_K, q4_K)
REF_GEMM(AG_TYPE_Q5_K, q5_K)
REF_GEMM(AG_TYPE_Q6_K, q6_K)
REF_GEMM(AG_TYPE_Q8_K, q8_K)
REF_GEMM(AG_TYPE_IQ4_NL, iq4_nl)
REF_GEMM(AG_TYPE_IQ4_XS, iq4_xs)

static void setup_ref(ag_kernel_level *lv)
{
    static const struct { uint32_t id; ag_gemm_fn fn; } rows[] = {
        {AG_TYPE_F32, gemm_ref_f32},       {AG_TYPE_F16, gemm_ref_f16},   {AG_TYPE_BF16, gemm_ref_bf16},
        {AG_TYPE_Q4_0, gemm_ref_q4_0},     {AG_TYPE_Q4_1, gemm_ref_q4_1}, {AG_TYPE_Q5_0, gemm_ref_q5_0},
        {AG_TYPE_Q5_1, gemm_ref_q5_1},     {AG_TYPE_Q8_0, gemm_ref_q8_0}, {AG_TYPE_Q8_1, gemm_ref_q8_1},
        {AG_TYPE_Q2_K, gemm_ref_q2_K},     {AG_TYPE_Q3_K, gemm_ref_q3_K}, {AG_TYPE_Q4_K, gemm_ref_q4_K},
        {AG_TYPE_Q5_K, gemm_ref_q5_K},     {AG_TYPE_Q6_K, gemm_ref_q6_K}, {AG_TYPE_Q8_K, gemm_ref_q8_K},
        {AG_TYPE_IQ4_NL, gemm_ref_iq4_nl}, {AG_TYPE_IQ4_XS, gemm_ref_iq4_xs},
    };
    memset(lv, 0, sizeof(*lv));
    lv->name = "ref";
    lv->dot_f32 = dot_f32_ref;
    lv->axpby_f32 = axpby_f32_ref;
    lv->exp_sum = exp_sum_ref;
    lv->max_f32 = max_f32_ref;
    lv->softmax_rows = softmax_rows_ref;
    lv->pv_f32 = pv_f32_ref;
    lv->qk_f16 = NULL;
    lv->qk_q8_0 = NULL;
    lv->pv_f16 = NULL;
    lv->pv_q8_0 = NULL;
    lv->keys_i16 = NULL;
    lv->qk_i16 = NULL;
    lv->values_i16 = NULL;
    lv->pv_i16 = NULL;
    lv->quant_i16 = ag_act_quant_i16_ref;
    lv->delta_step = delta_step_ref;
    lv->silu_mul = silu_mul_ref;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const ag_type_traits *tt = ag_type_traits_of(rows[i].id);
        if (!tt) continue;
        lv->k[rows[i].id] = (ag_kernel){NULL, 1, 4, rows[i].fn, AG_ACT_F32, tt->to_float};
    }
}

/* ---- portable activation quantizers ---- */

void ag_act_quant_q8_0_ref(const float *x, void *dst, int64_t n)
{
    blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        if (!(amax <= 3.0e38f)) amax = 0.0f; /* NaN/inf: an all-zero block, never UB */
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        wr_f16(b[i].d, d);
        for (int j = 0; j < 32; j++) {
            float v = clampf(x[j] * id, -127.0f, 127.0f);
            b[i].qs[j] = (int8_t)(v >= 0.0f ? (int)(v + 0.5f) : -(int)(-v + 0.5f));
        }
    }
}

void ag_act_quant_q8_0s_ref(const float *x, void *dst, int64_t n)
{
    int8_t *q = dst;
    float *ds = (float *)((uint8_t *)dst + n);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        if (!(amax <= 3.0e38f)) amax = 0.0f;
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        ds[i] = ag_f16_to_f32(ag_f32_to_f16(d));
        for (int j = 0; j < 32; j++) q[32 * i + j] = (int8_t)nearest_int(x[j] * id, -127, 127);
    }
}

void ag_act_quant_q8_K_ref(const float *x, void *dst, int64_t n)
{
    blk_q8_K *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        memset(&b[i], 0, sizeof(b[i]));
        if (!(amax > 0.0f) || !(amax <= 3.0e38f)) continue; /* zero, NaN or inf: all zero */
        const float is = -127.0f / max;
        for (int j = 0; j < 256; j++) b[i].qs[j] = (int8_t)nearest_int(is * x[j], -127, 127);
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b[i].qs[16 * g + j];
            wr_u16(b[i].bsums + 2 * g, (uint16_t)(int16_t)sum);
        }
        wr_f32(b[i].d, 1.0f / is);
    }
}

const uint8_t ag_q8_Km_pos[8] = {0, 2, 1, 3, 4, 6, 5, 7};

/* q8_K blocks rearranged into the split layouts (kernels.h) */
static void split_q8_K(const float *x, void *dst, int64_t n, int mins)
{
    uint8_t *codes = dst, *meta = (uint8_t *)dst + n;
    blk_q8_K b;
    for (int64_t i = 0; i < n / 256; i++) {
        ag_act_quant_q8_K_ref(x + 256 * i, &b, 256);
        if (mins) /* 32-value groups 0,2,1,3 within each half (kernels.h) */
            for (int g = 0; g < 8; g++) memcpy(codes + 256 * i + 32 * ag_q8_Km_pos[g], b.qs + 32 * g, 32);
        else
            memcpy(codes + 256 * i, b.qs, 256);
        uint8_t *m = meta + 36 * i;
        memcpy(m, b.d, 4);
        if (!mins) {
            memcpy(m + 4, b.bsums, 32);
            continue;
        }
        const float d = rd_f32(b.d);
        for (int j = 0; j < 8; j++) {
            int sum = 0;
            for (int k = 0; k < 32; k++) sum += b.qs[32 * j + k];
            wr_f32(m + 4 + 4 * j, d * (float)sum);
        }
    }
}

void ag_act_quant_q8_Ks_ref(const float *x, void *dst, int64_t n) { split_q8_K(x, dst, n, 0); }
void ag_act_quant_q8_Km_ref(const float *x, void *dst, int64_t n) { split_q8_K(x, dst, n, 1); }

/* ---- the level chain ---- */

typedef struct {
    const char *name;
    bool (*supported)(const ag_cpu_features *f); /* given the level below is */
    void (*setup)(ag_kernel_level *lv);
    const char *detail;                          /* shown by describe */
} level_def;

static bool always(const ag_cpu_features *f) { (void)f; return true; }

#if defined(__x86_64__) || defined(_M_X64)
static bool has_avx2(const ag_cpu_features *f) { return f->avx && f->avx2 && f->fma && f->f16c; }
static bool has_avx512(const ag_cpu_features *f)
{
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512_vnni;
}
#elif defined(__aarch64__)
static bool has_neon(const ag_cpu_features *f) { return f->asimd; }
static bool has_dotprod(const ag_cpu_features *f) { return f->asimddp; }
static bool has_i8mm(const ag_cpu_features *f) { return f->i8mm; }
#endif

static const level_def defs[] = {
    {"ref", always, setup_ref, "portable C"},
#if defined(__x86_64__) || defined(_M_X64)
    {"avx2", has_avx2, ag_kernels_setup_avx2, "fma, f16c"},
    {"avx512", has_avx512, ag_kernels_setup_avx512, "vnni"},
#elif defined(__aarch64__)
    {"neon", has_neon, ag_kernels_setup_neon, "asimd"},
    {"dotprod", has_dotprod, ag_kernels_setup_dotprod, "sdot"},
    {"i8mm", has_i8mm, ag_kernels_setup_i8mm, "smmla"},
#endif
};
#define N_DEFS ((int)(sizeof(defs) / sizeof(defs[0])))

/* names of levels of the other architectures, so that forcing one is "not
 * supported here" rather than "unknown" */
static const char *const foreign[] = {"avx2", "avx512", "neon", "dotprod", "i8mm"};

static ag_kernel_level levels[N_DEFS];
static int n_levels; /* supported prefix of defs */
static _Atomic(const ag_kernel_level *) active;
static char note[128]; /* why the active level is not the requested one */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t force_mu = PTHREAD_MUTEX_INITIALIZER;

static int def_index(const char *name)
{
    for (int i = 0; i < N_DEFS; i++)
        if (strcmp(defs[i].name, name) == 0) return i;
    return -1;
}

/* Level for a request (NULL = best); sets note. -2 for an unknown name. */
static int choose(const char *name, const char *source)
{
    note[0] = 0;
    if (!name || !*name) return n_levels - 1;
    int i = def_index(name);
    if (i < 0) {
        bool known = false;
        for (size_t k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) known |= strcmp(foreign[k], name) == 0;
        if (!known) return -2;
        i = n_levels; /* another architecture's level: the best here */
    }
    if (i >= n_levels) {
        snprintf(note, sizeof(note), "%s=%.32s not supported by this CPU", source, name);
        return n_levels - 1;
    }
    return i;
}

static void init_levels(void)
{
    const ag_cpu_features *f = ag_cpu_features_get();
    for (int i = 0; i < N_DEFS; i++) {
        if (!defs[i].supported(f)) break;
        if (i > 0) levels[i] = levels[i - 1];
        defs[i].setup(&levels[i]);
        levels[i].name = defs[i].name;
        n_levels = i + 1;
    }
    const char *env = getenv("AIRGAP_ISA"), *src = "AIRGAP_ISA";
    if (!env || !*env) { env = getenv("AG_ISA"); src = "AG_ISA"; }
    int i = choose(env, src);
    if (i == -2) {
        snprintf(note, sizeof(note), "%s=%.32s unknown", src, env);
        i = n_levels - 1;
    }
    atomic_store(&active, &levels[i]);
}

const ag_kernel_level *ag_kernels(void)
{
    const ag_kernel_level *lv = atomic_load_explicit(&active, memory_order_acquire);
    if (lv) return lv;
    pthread_once(&once, init_levels);
    return atomic_load(&active);
}

const ag_kernel_level *ag_kernels_force(const char *name)
{
    pthread_once(&once, init_levels);
    pthread_mutex_lock(&force_mu);
    int i = choose(name, "level");
    const ag_kernel_level *lv = NULL;
    if (i >= 0) {
        lv = &levels[i];
        atomic_store(&active, lv);
    }
    pthread_mutex_unlock(&force_mu);
    return lv;
}

int ag_kernels_count(void)
{
    pthread_once(&once, init_levels);
    return n_levels;
}

const ag_kernel_level *ag_kernels_level(int i)
{
    pthread_once(&once, init_levels);
    return i >= 0 && i < n_levels ? &levels[i] : NULL;
}

const char *ag_kernels_describe(void)
{
    static _Thread_local char buf[192];
    const ag_kernel_level *lv = ag_kernels();
    int i = (int)(lv - levels);
    if (note[0]) snprintf(buf, sizeof(buf), "%s (%s; %s)", lv->name, defs[i].detail, note);
    else snprintf(buf, sizeof(buf), "%s (%s)", lv->name, defs[i].detail);
    return buf;
}
