/* test_reference.c: the engine against an independent float64 implementation
 * of the spec, on synthetic models of many shapes.
 *
 * The fixtures cover one shape; the engine must be right for all (the real
 * 0.8B/2B shapes, v heads > k heads, other head dims, layer patterns). This
 * test writes f32 models with ag_synth_write, recomputes their logits here
 * with a deliberately naive double-precision transcription of
 * docs/qwen35-spec.md section 3 (HF state layout S[i][j], full score arrays,
 * no shared code with src/model), and compares both engine paths: one
 * prefill call and one decode call per token. */
#include "airgap.h"
#include "gguf/gguf.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *label;
    int d, L, f, H, Hkv, Dh, V, Hk, Hv, Dk, Dv, interval;
} shape;

static ag_gguf *G;

static const float *T(const char *fmt, int i)
{
    char name[128];
    snprintf(name, sizeof(name), fmt, i);
    int64_t k = ag_gguf_find_tensor(G, name);
    if (k < 0) { fprintf(stderr, "missing %s\n", name); exit(2); }
    return G->tensors[k].data;
}

static void matvec(const float *W, int n_in, int n_out, const double *x, double *y)
{
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void rmsnorm(double *y, const double *x, const float *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * s * (w ? w[i] : 1.0);
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Reference logits for tokens tok[0..n) (n x V), one token at a time. */
static void reference(const shape *s, const int32_t *tok, int n, double *logits)
{
    const double eps = 1e-6;
    int d = s->d, n_rot = s->Dh / 4, pairs = n_rot / 2;
    int sect[3];
    sect[0] = (pairs + 2) / 3;
    sect[1] = (pairs - sect[0] + 1) / 2;
    sect[2] = pairs - sect[0] - sect[1];
    int qk = s->Hk * s->Dk, Cc = 2 * qk + s->Hv * s->Dv, kvw = s->Hkv * s->Dh;
    /* state */
    double **Kc = calloc((size_t)s->L, sizeof(double *)), **Vc = calloc((size_t)s->L, sizeof(double *));
    double **conv = calloc((size_t)s->L, sizeof(double *)), **S = calloc((size_t)s->L, sizeof(double *));
    for (int l = 0; l < s->L; l++) {
        Kc[l] = calloc((size_t)n * kvw, sizeof(double));
        Vc[l] = calloc((size_t)n * kvw, sizeof(double));
        conv[l] = calloc((size_t)3 * Cc, sizeof(double));
        S[l] = calloc((size_t)s->Hv * s->Dk * s->Dv, sizeof(double)); /* S[h][i][j], i key, j value */
    }
    int big = Cc > 2 * s->H * s->Dh ? Cc : 2 * s->H * s->Dh;
    if (s->f > big) big = s->f;
    if (s->V > big) big = s->V;
    double *x = calloc((size_t)d, sizeof(double)), *u = calloc((size_t)d, sizeof(double));
    double *a = calloc((size_t)big, sizeof(double)), *b = calloc((size_t)big, sizeof(double));
    double *c = calloc((size_t)big, sizeof(double)), *o = calloc((size_t)big, sizeof(double));
    double *out = calloc((size_t)d, sizeof(double)), *sc = calloc((size_t)n, sizeof(double));
    for (int p = 0; p < n; p++) {
        const float *E = T("token_embd.weight", 0);
        for (int i = 0; i < d; i++) x[i] = E[(size_t)tok[p] * d + i];
        for (int l = 0; l < s->L; l++) {
            bool rec = (l + 1) % s->interval != 0;
            rmsnorm(u, x, T("blk.%d.attn_norm.weight", l), d, eps);
            if (!rec) {
                matvec(T("blk.%d.attn_q.weight", l), d, 2 * s->H * s->Dh, u, a);
                matvec(T("blk.%d.attn_k.weight", l), d, kvw, u, b);
                matvec(T("blk.%d.attn_v.weight", l), d, kvw, u, c);
                const float *qn = T("blk.%d.attn_q_norm.weight", l), *kn = T("blk.%d.attn_k_norm.weight", l);
                /* rope helper: pair i rotates (i, i+pairs) by p*base^(-2i/n_rot) unless in the 4th section */
                for (int h = 0; h < s->H + s->Hkv; h++) {
                    double *v = h < s->H ? a + (size_t)h * 2 * s->Dh : b + (size_t)(h - s->H) * s->Dh;
                    rmsnorm(v, v, h < s->H ? qn : kn, s->Dh, eps);
                    for (int i = 0; i < pairs; i++) {
                        int sec = i % 3;
                        double th = i < 3 * sect[sec] ? p * pow(1e7, -2.0 * i / n_rot) : 0.0;
                        double x0 = v[i], x1 = v[i + pairs];
                        v[i] = x0 * cos(th) - x1 * sin(th);
                        v[i + pairs] = x0 * sin(th) + x1 * cos(th);
                    }
                }
                memcpy(Kc[l] + (size_t)p * kvw, b, (size_t)kvw * sizeof(double));
                memcpy(Vc[l] + (size_t)p * kvw, c, (size_t)kvw * sizeof(double));
                for (int h = 0; h < s->H; h++) {
                    int j = h / (s->H / s->Hkv);
                    double *q = a + (size_t)h * 2 * s->Dh, *g = q + s->Dh, mx = -1e300, sum = 0;
                    for (int m = 0; m <= p; m++) {
                        double dot = 0;
                        for (int e = 0; e < s->Dh; e++) dot += q[e] * Kc[l][(size_t)m * kvw + (size_t)j * s->Dh + e];
                        sc[m] = dot / sqrt((double)s->Dh);
                        if (sc[m] > mx) mx = sc[m];
                    }
                    for (int m = 0; m <= p; m++) sum += sc[m] = exp(sc[m] - mx);
                    for (int e = 0; e < s->Dh; e++) {
                        double acc = 0;
                        for (int m = 0; m <= p; m++) acc += sc[m] / sum * Vc[l][(size_t)m * kvw + (size_t)j * s->Dh + e];
                        o[(size_t)h * s->Dh + e] = acc * sigm(g[e]);
                    }
                }
                matvec(T("blk.%d.attn_output.weight", l), s->H * s->Dh, d, o, out);
            } else {
                matvec(T("blk.%d.attn_qkv.weight", l), d, Cc, u, a);
                matvec(T("blk.%d.attn_gate.weight", l), d, s->Hv * s->Dv, u, b);
                double beta_in[64], alpha_in[64];
                matvec(T("blk.%d.ssm_beta.weight", l), d, s->Hv, u, beta_in);
                matvec(T("blk.%d.ssm_alpha.weight", l), d, s->Hv, u, alpha_in);
                const float *cw = T("blk.%d.ssm_conv1d.weight", l);
                for (int ch = 0; ch < Cc; ch++) {
                    double acc = 0;
                    for (int k = 0; k < 3; k++) acc += cw[ch * 4 + k] * conv[l][(size_t)k * Cc + ch];
                    acc += cw[ch * 4 + 3] * a[ch];
                    c[ch] = acc / (1 + exp(-acc));
                }
                memmove(conv[l], conv[l] + Cc, (size_t)2 * Cc * sizeof(double));
                memcpy(conv[l] + (size_t)2 * Cc, a, (size_t)Cc * sizeof(double));
                for (int h = 0; h < 2 * s->Hk; h++) {
                    double *v = c + (size_t)h * s->Dk, ss = 0;
                    for (int i = 0; i < s->Dk; i++) ss += v[i] * v[i];
                    for (int i = 0; i < s->Dk; i++) v[i] /= sqrt(ss + eps);
                }
                const float *A = T("blk.%d.ssm_a", l), *dt = T("blk.%d.ssm_dt.bias", l);
                const float *nw = T("blk.%d.ssm_norm.weight", l);
                for (int h = 0; h < s->Hv; h++) {
                    int kh = h % s->Hk;
                    double *q = c + (size_t)kh * s->Dk, *k = c + qk + (size_t)kh * s->Dk, *v = c + 2 * qk + (size_t)h * s->Dv;
                    double beta = sigm(beta_in[h]), z = alpha_in[h] + dt[h];
                    double gamma = A[h] * (z > 20 ? z : log1p(exp(z)));
                    double *Sh = S[l] + (size_t)h * s->Dk * s->Dv;
                    for (int i = 0; i < s->Dk * s->Dv; i++) Sh[i] *= exp(gamma);
                    for (int j = 0; j < s->Dv; j++) {
                        double r = 0;
                        for (int i = 0; i < s->Dk; i++) r += Sh[i * s->Dv + j] * k[i];
                        double delta = beta * (v[j] - r);
                        for (int i = 0; i < s->Dk; i++) Sh[i * s->Dv + j] += k[i] * delta;
                    }
                    double *oh = o + (size_t)h * s->Dv, ss = 0;
                    for (int j = 0; j < s->Dv; j++) {
                        double r = 0;
                        for (int i = 0; i < s->Dk; i++) r += Sh[i * s->Dv + j] * q[i];
                        oh[j] = r / sqrt((double)s->Dk);
                        ss += oh[j] * oh[j];
                    }
                    double rs = 1.0 / sqrt(ss / s->Dv + eps);
                    for (int j = 0; j < s->Dv; j++) {
                        double zz = b[(size_t)h * s->Dv + j];
                        oh[j] = oh[j] * rs * nw[j] * zz / (1 + exp(-zz));
                    }
                }
                matvec(T("blk.%d.ssm_out.weight", l), s->Hv * s->Dv, d, o, out);
            }
            for (int i = 0; i < d; i++) x[i] += out[i];
            rmsnorm(u, x, T("blk.%d.post_attention_norm.weight", l), d, eps);
            matvec(T("blk.%d.ffn_gate.weight", l), d, s->f, u, a);
            matvec(T("blk.%d.ffn_up.weight", l), d, s->f, u, b);
            for (int i = 0; i < s->f; i++) a[i] = a[i] / (1 + exp(-a[i])) * b[i];
            matvec(T("blk.%d.ffn_down.weight", l), s->f, d, a, out);
            for (int i = 0; i < d; i++) x[i] += out[i];
        }
        rmsnorm(u, x, T("output_norm.weight", 0), d, eps);
        matvec(T("token_embd.weight", 0), d, s->V, u, logits + (size_t)p * s->V);
    }
    for (int l = 0; l < s->L; l++) { free(Kc[l]); free(Vc[l]); free(conv[l]); free(S[l]); }
    free(Kc); free(Vc); free(conv); free(S);
    free(x); free(u); free(a); free(b); free(c); free(o); free(out); free(sc);
}

static void compare(const char *label, const char *path, const float *eng, const double *ref, int n, int V)
{
    double se = 0, ee = 0;
    int agree = 0;
    for (int t = 0; t < n; t++) {
        int ae = 0, ar = 0;
        for (int v = 0; v < V; v++) {
            double dd = eng[(size_t)t * V + v] - ref[(size_t)t * V + v];
            se += dd * dd;
            ee += ref[(size_t)t * V + v] * ref[(size_t)t * V + v];
            if (eng[(size_t)t * V + v] > eng[(size_t)t * V + ae]) ae = v;
            if (ref[(size_t)t * V + v] > ref[(size_t)t * V + ar]) ar = v;
        }
        agree += ae == ar;
    }
    double nrmse = sqrt(se / ee);
    printf("%-28s %-8s nrmse %.2e top1 %d/%d\n", label, path, nrmse, agree, n);
    CHECK(nrmse < 2e-4, "%s %s: nrmse %.3e", label, path, nrmse);
    CHECK(agree >= n - 1, "%s %s: top1 %d/%d", label, path, agree, n);
}

int main(void)
{
    static const shape shapes[] = {
        /* label                 d   L  f    H Hkv Dh  V    Hk Hv Dk  Dv  interval */
        {"v heads > k heads x3", 128, 4, 256, 4, 2, 32, 512, 2, 6, 32, 32, 4},
        {"equal heads, Dk != Dv", 96, 5, 160, 3, 1, 64, 400, 4, 4, 16, 48, 2},
        {"MHA, interval 3",       64, 6, 128, 2, 2, 16, 320, 1, 2, 64, 32, 3},
        {"0.8B-like ratios",     128, 8, 448, 8, 2, 32, 600, 8, 8, 16, 16, 4},
    };
    /* AG_REF_PRESET=0.8b|2b checks the real shapes instead (slow, GiB-sized
     * f32 files; for developers, not CI) */
    static const shape real[] = {
        {"0.8B shape", 1024, 24, 3584, 8, 2, 256, 248320, 16, 16, 128, 128, 4},
        {"2B shape", 2048, 24, 6144, 8, 2, 256, 248320, 16, 16, 128, 128, 4},
    };
    const char *preset = getenv("AG_REF_PRESET");
    const shape *list = shapes;
    size_t n_shapes = sizeof(shapes) / sizeof(shapes[0]);
    if (preset) {
        list = strcmp(preset, "2b") == 0 ? &real[1] : &real[0];
        n_shapes = 1;
    }
    const int n = preset ? 5 : 19;
    int32_t tok[19];
    for (size_t si = 0; si < n_shapes; si++) {
        const shape *s = &list[si];
        char path[256];
        snprintf(path, sizeof(path), "test_reference_%zu.gguf", si);
        ag_synth_params sp = ag_synth_default_params();
        sp.preset = "tiny";
        sp.seed = 100 + si;
        sp.n_embd = s->d; sp.n_layer = s->L; sp.n_ff = s->f; sp.n_head = s->H; sp.n_head_kv = s->Hkv;
        sp.head_dim = s->Dh; sp.n_vocab = s->V; sp.ssm_n_k_heads = s->Hk; sp.ssm_n_v_heads = s->Hv;
        sp.ssm_head_k_dim = s->Dk; sp.ssm_head_v_dim = s->Dv; sp.full_attn_interval = s->interval;
        ag_status st = ag_synth_write(&sp, path);
        CHECK(st == AG_OK, "synth %s: %s", s->label, ag_last_error());
        if (st != AG_OK) continue;
        ag_model *m;
        st = ag_model_load(path, NULL, &m);
        CHECK(st == AG_OK, "load %s: %s", s->label, ag_last_error());
        if (st != AG_OK) continue;
        CHECK(ag_gguf_open(path, true, &G) == AG_OK, "gguf open");
        int V = ag_model_n_vocab(m);
        CHECK(V == s->V, "vocab %d", V);
        for (int i = 0; i < n; i++) tok[i] = (int32_t)((i * 7919 + si * 31) % (unsigned)V);
        double *ref = malloc((size_t)n * V * sizeof(double));
        float *eng = malloc((size_t)n * V * sizeof(float));
        reference(s, tok, n, ref);

        ag_context_params cp = ag_context_default_params();
        cp.n_ctx = 64;
        cp.n_batch = 8; /* prefill in uneven steps: 8 + 8 + 3 */
        cp.type_k = cp.type_v = AG_CACHE_F32; /* exact math: no cache rounding */
        cp.n_threads = 2;
        ag_context *c;
        CHECK(ag_context_create(m, &cp, &c) == AG_OK, "context: %s", ag_last_error());
        CHECK(ag_decode(c, tok, (size_t)n, true) == AG_OK, "prefill: %s", ag_last_error());
        for (int t = 0; t < n; t++) memcpy(eng + (size_t)t * V, ag_get_logits(c, (size_t)t), (size_t)V * sizeof(float));
        compare(s->label, "prefill", eng, ref, n, V);
        ag_context_reset(c);
        for (int t = 0; t < n; t++) {
            CHECK(ag_decode(c, &tok[t], 1, false) == AG_OK, "decode: %s", ag_last_error());
            memcpy(eng + (size_t)t * V, ag_get_logits(c, 0), (size_t)V * sizeof(float));
        }
        compare(s->label, "decode", eng, ref, n, V);
        ag_context_free(c);
        free(ref);
        free(eng);
        ag_gguf_close(G);
        ag_model_free(m);
        remove(path);
    }
    return REPORT();
}
