/* test_sample.c: the sampler pipeline (src/sample/sample.c, rng.c).
 *
 * Greedy and its tie/NaN/inf rules; determinism per seed and after reset;
 * temperature sampling against the softmax (chi-square bound, fixed seed);
 * top-k, top-p and min-p never drawing what they exclude; repeat, presence and
 * frequency penalties observed through greedy picks; the window; a full
 * 248,320-token vocabulary with its per-token time printed. */
#include "airgap.h"
#include "harness.h"
#include "sample/rng.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static ag_sampler *make(float temp, int32_t top_k, float top_p, float min_p, uint64_t seed)
{
    ag_sampler_params p = ag_sampler_default_params();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    ag_sampler *s = NULL;
    ag_status st = ag_sampler_create(&p, &s);
    CHECK(st == AG_OK && s, "create: %s", ag_last_error());
    return s;
}

static void random_logits(ag_rng *r, float *l, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        l[i] = (float)((ag_rng_uniform(r) * 2.0 - 1.0) * scale);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Known answers, computed with an independent Python transcription of
 * splitmix64 + xoshiro256**: a change here changes every seeded run. */
static void test_rng(void)
{
    ag_rng r;
    ag_rng_seed(&r, 0);
    CHECK(ag_rng_next(&r) == 0x99ec5f36cb75f2b4ull, "seed 0, draw 1");
    CHECK(ag_rng_next(&r) == 0xbf6e1f784956452aull, "seed 0, draw 2");
    CHECK(ag_rng_next(&r) == 0x1a5f849d4933e6e0ull, "seed 0, draw 3");
    ag_rng_seed(&r, 42);
    CHECK(ag_rng_next(&r) == 0x15780b2e0c2ec716ull, "seed 42, draw 1");
    double lo = 1.0, hi = 0.0;
    for (int i = 0; i < 100000; i++) {
        double u = ag_rng_uniform(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    CHECK(lo >= 0.0 && lo < 1e-3 && hi < 1.0 && hi > 0.999, "uniform range [%g, %g]", lo, hi);
}

static void test_defaults_and_args(void)
{
    ag_sampler_params p = ag_sampler_default_params();
    CHECK(p.size == sizeof(p), "size");
    CHECK(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f &&
              p.repeat_penalty == 1.0f && p.penalty_last_n == 64 && p.presence_penalty == 0.0f &&
              p.frequency_penalty == 0.0f,
          "default values");
    ag_sampler_free(NULL);
    ag_sampler_accept(NULL, 1);
    ag_sampler_reset(NULL);

    ag_sampler *s = NULL;
    CHECK(ag_sampler_create(NULL, &s) == AG_OK && s, "NULL params = defaults");
    float l[3] = {0, 1, 2};
    CHECK(ag_sampler_sample(s, NULL, 3) == -1, "NULL logits");
    CHECK(ag_sampler_sample(s, l, 0) == -1, "n_vocab 0");
    CHECK(ag_sampler_sample(s, l, -4) == -1, "n_vocab < 0");
    CHECK(ag_sampler_sample(NULL, l, 3) == -1, "NULL sampler");
    ag_sampler_free(s);
    CHECK(ag_sampler_create(&p, NULL) == AG_ERR_INVALID_ARG, "NULL out");

    struct {
        const char *what;
        ag_sampler_params p;
    } bad[8];
    for (size_t i = 0; i < N(bad); i++)
        bad[i].p = ag_sampler_default_params();
    bad[0].what = "NaN temperature", bad[0].p.temperature = NAN;
    bad[1].what = "inf temperature", bad[1].p.temperature = INFINITY;
    bad[2].what = "NaN top_p", bad[2].p.top_p = NAN;
    bad[3].what = "NaN min_p", bad[3].p.min_p = NAN;
    bad[4].what = "zero repeat penalty", bad[4].p.repeat_penalty = 0.0f;
    bad[5].what = "negative window", bad[5].p.penalty_last_n = -1;
    bad[6].what = "inf presence", bad[6].p.presence_penalty = INFINITY;
    bad[7].what = "size 0", bad[7].p.size = 0;
    for (size_t i = 0; i < N(bad); i++) {
        s = (ag_sampler *)&s;                 /* must be reset to NULL */
        CHECK(ag_sampler_create(&bad[i].p, &s) == AG_ERR_INVALID_ARG && s == NULL, "%s",
              bad[i].what);
        CHECK(ag_last_error()[0] != 0, "%s: detail set", bad[i].what);
    }

    /* an older caller's struct: fields past its size keep their defaults */
    p = ag_sampler_default_params();
    p.size = (uint32_t)offsetof(ag_sampler_params, top_k);
    p.temperature = 0.0f;
    p.top_k = -77;                            /* not read */
    CHECK(ag_sampler_create(&p, &s) == AG_OK, "short struct");
    CHECK(ag_sampler_sample(s, l, 3) == 2, "short struct: temperature was read");
    ag_sampler_free(s);
    /* -inf temperature is <= 0: greedy */
    p = ag_sampler_default_params();
    p.temperature = -INFINITY;
    CHECK(ag_sampler_create(&p, &s) == AG_OK && ag_sampler_sample(s, l, 3) == 2, "-inf temp");
    ag_sampler_free(s);
}

static void test_greedy(void)
{
    ag_sampler *s = make(0.0f, 40, 0.95f, 0.05f, 1);
    float a[] = {0.1f, -3.0f, 2.5f, 2.4f, -INFINITY};
    CHECK(ag_sampler_sample(s, a, 5) == 2, "argmax");
    float b[] = {1.0f, 3.0f, 0.0f, 3.0f, 3.0f};
    CHECK(ag_sampler_sample(s, b, 5) == 1, "ties: lowest id");
    float c[] = {NAN, 1.0f, NAN, 2.0f};
    CHECK(ag_sampler_sample(s, c, 4) == 3, "NaN is -inf");
    float d[] = {1e30f, INFINITY, 5.0f, INFINITY};
    CHECK(ag_sampler_sample(s, d, 4) == 1, "+inf wins, first of ties");
    float e[] = {-INFINITY, -INFINITY, NAN};
    CHECK(ag_sampler_sample(s, e, 3) == 0, "all -inf: id 0");
    float one[] = {-5.0f};
    CHECK(ag_sampler_sample(s, one, 1) == 0, "vocab of one");
    float copy[N(a)];
    memcpy(copy, a, sizeof(a));
    ag_sampler_sample(s, a, 5);
    CHECK(memcmp(copy, a, sizeof(a)) == 0, "logits not modified");
    ag_sampler_free(s);

    /* the stochastic path copes with the same hostile rows */
    s = make(1.0f, 0, 1.0f, 0.0f, 2);
    for (int i = 0; i < 50; i++) {
        CHECK(ag_sampler_sample(s, e, 3) == 0, "all -inf, stochastic");
        int32_t t = ag_sampler_sample(s, d, 4);
        CHECK(t == 1 || t == 3, "only the +inf tokens: got %d", t);
        t = ag_sampler_sample(s, c, 4);
        CHECK(t == 1 || t == 3, "NaN never drawn: got %d", t);
    }
    ag_sampler_free(s);
}

static void test_determinism(void)
{
    enum { V = 1000, DRAWS = 100 };
    static float rows[DRAWS][V];
    ag_rng r;
    ag_rng_seed(&r, 7);
    for (int i = 0; i < DRAWS; i++)
        random_logits(&r, rows[i], V, 4.0f);

    int32_t seq[3][DRAWS];
    uint64_t seeds[3] = {123, 123, 124};
    for (int k = 0; k < 3; k++) {
        ag_sampler *s = make(1.0f, 0, 1.0f, 0.0f, seeds[k]);
        for (int i = 0; i < DRAWS; i++)
            seq[k][i] = ag_sampler_sample(s, rows[i], V);
        ag_sampler_free(s);
    }
    CHECK(memcmp(seq[0], seq[1], sizeof(seq[0])) == 0, "same seed, same tokens");
    int differ = 0;
    for (int i = 0; i < DRAWS; i++)
        differ += seq[0][i] != seq[2][i];
    CHECK(differ > 50, "different seeds differ (%d of %d)", differ, DRAWS);

    /* reset re-seeds (and clears the history): the sequence repeats */
    ag_sampler_params p = ag_sampler_default_params();
    p.seed = 99;
    p.repeat_penalty = 1.3f;
    ag_sampler *s = NULL;
    ag_sampler_create(&p, &s);
    int32_t a[DRAWS], b[DRAWS];
    for (int i = 0; i < DRAWS; i++)
        ag_sampler_accept(s, a[i] = ag_sampler_sample(s, rows[i], V));
    ag_sampler_reset(s);
    for (int i = 0; i < DRAWS; i++)
        ag_sampler_accept(s, b[i] = ag_sampler_sample(s, rows[i], V));
    CHECK(memcmp(a, b, sizeof(a)) == 0, "reset replays the sequence");
    ag_sampler_free(s);
}

/* Draws n times from logits (vocab v) and checks the frequencies against
 * probs with a chi-square statistic (fixed seed, so this is deterministic). */
static void check_distribution(const char *what, ag_sampler *s, const float *logits, int v,
                               const double *probs, int n, double max_chi2)
{
    int count[16] = {0};
    for (int i = 0; i < n; i++) {
        int32_t t = ag_sampler_sample(s, logits, v);
        CHECK(t >= 0 && t < v, "%s: token %d in range", what, t);
        if (t >= 0 && t < v)
            count[t]++;
    }
    double chi2 = 0.0;
    for (int i = 0; i < v; i++) {
        if (probs[i] == 0.0) {
            CHECK(count[i] == 0, "%s: excluded token %d drawn %d times", what, i, count[i]);
            continue;
        }
        double want = probs[i] * n;
        chi2 += (count[i] - want) * (count[i] - want) / want;
    }
    CHECK(chi2 < max_chi2, "%s: chi-square %.2f >= %.1f", what, chi2, max_chi2);
}

static void softmax(const float *l, int v, double temp, double *p)
{
    double mx = l[0], z = 0.0;
    for (int i = 1; i < v; i++)
        mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < v; i++)
        z += p[i] = exp((l[i] - mx) / temp);
    for (int i = 0; i < v; i++)
        p[i] /= z;
}

static void test_temperature_distribution(void)
{
    /* 8 tokens, 7 degrees of freedom: P(chi2 > 24.3) = 0.001 */
    const float l[8] = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.25f};
    double p[8];
    ag_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 2024);
    softmax(l, 8, 1.0, p);
    check_distribution("temperature 1", s, l, 8, p, 40000, 24.3);
    ag_sampler_free(s);

    s = make(0.5f, 0, 1.0f, 0.0f, 5);
    softmax(l, 8, 0.5, p);
    check_distribution("temperature 0.5", s, l, 8, p, 40000, 24.3);
    ag_sampler_free(s);

    /* top-k = 3 at temperature 2: the 3 best renormalised, the rest never */
    s = make(2.0f, 3, 1.0f, 0.0f, 6);
    const float top3[3] = {2.0f, 1.5f, 1.0f};
    double p3[3], pk[8] = {0};
    softmax(top3, 3, 2.0, p3);
    pk[2] = p3[0], pk[5] = p3[1], pk[0] = p3[2];
    check_distribution("top-k 3", s, l, 8, pk, 30000, 13.8);   /* 2 dof, p = 0.001 */
    ag_sampler_free(s);
}

static void test_top_k_one_is_greedy(void)
{
    enum { V = 3000 };
    static float l[V];
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_sampler *g = make(0.0f, 0, 1.0f, 0.0f, 1);
    ag_sampler *k1 = make(1.5f, 1, 0.9f, 0.1f, 2);
    int same = 0;
    for (int i = 0; i < 200; i++) {
        random_logits(&r, l, V, 3.0f);
        if (i % 3 == 0) {                        /* ties at the top: lowest id in both */
            l[V - 5] = 10.0f;
            l[17] = 10.0f;
        }
        same += ag_sampler_sample(g, l, V) == ag_sampler_sample(k1, l, V);
    }
    CHECK(same == 200, "top-k 1 == greedy (%d of 200)", same);
    ag_sampler_free(g);
    ag_sampler_free(k1);
}

/* Top-k through both selection paths (heap for small k, quickselect for
 * large k) on logits with many ties: the survivors must be exactly the k best
 * by (logit desc, id asc). */
static const float *rank_logits;
static int by_rank(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    float lx = rank_logits[x], ly = rank_logits[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

static void test_top_k_sets(void)
{
    enum { V = 3000 };
    static float l[V];
    static int order[V];
    static char in_top[V];
    ag_rng r;
    ag_rng_seed(&r, 21);
    for (int i = 0; i < V; i++)
        l[i] = floorf((float)ag_rng_uniform(&r) * 20.0f) * 0.25f;   /* 20 levels: many ties */
    rank_logits = l;
    for (int i = 0; i < V; i++)
        order[i] = i;
    qsort(order, V, sizeof(order[0]), by_rank);
    const int ks[] = {7, 512, 513, 1000, 2999};
    for (size_t j = 0; j < N(ks); j++) {
        int k = ks[j];
        memset(in_top, 0, sizeof(in_top));
        for (int i = 0; i < k; i++)
            in_top[order[i]] = 1;
        ag_sampler *s = make(50.0f, k, 1.0f, 0.0f, 100 + j);   /* hot: spreads the draws */
        int outside = 0;
        for (int i = 0; i < 3000; i++) {
            int32_t t = ag_sampler_sample(s, l, V);
            outside += t < 0 || t >= V || !in_top[t];
        }
        CHECK(outside == 0, "top-k %d: %d draws outside the k best", k, outside);
        ag_sampler_free(s);
    }
}

static void test_top_p_min_p(void)
{
    /* probabilities 0.5, 0.3, 0.15, 0.05 */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    const double keep2[4] = {0.5 / 0.8, 0.3 / 0.8, 0, 0};
    const double keep3[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    const double keep1[4] = {1, 0, 0, 0};
    ag_sampler *s = make(1.0f, 0, 0.75f, 0.0f, 3);
    check_distribution("top-p 0.75", s, l, 4, keep2, 20000, 10.8);  /* 1 dof, p = 0.001 */
    ag_sampler_free(s);
    s = make(1.0f, 0, 0.85f, 0.0f, 4);
    check_distribution("top-p 0.85", s, l, 4, keep3, 20000, 13.8);
    ag_sampler_free(s);
    s = make(1.0f, 0, 0.0f, 0.0f, 4);
    check_distribution("top-p 0: one kept", s, l, 4, keep1, 2000, 1.0);
    ag_sampler_free(s);
    s = make(1.0f, 0, 1.0f, 0.2f, 5);                  /* 0.15 >= 0.2 * 0.5, 0.05 < */
    check_distribution("min-p 0.2", s, l, 4, keep3, 20000, 13.8);
    ag_sampler_free(s);
    s = make(1.0f, 0, 1.0f, 0.5f, 6);                  /* 0.3 >= 0.25 */
    check_distribution("min-p 0.5", s, l, 4, keep2, 20000, 10.8);
    ag_sampler_free(s);
    s = make(1.0f, 0, 1.0f, 7.0f, 6);                  /* > 1: only the max survives */
    check_distribution("min-p 7", s, l, 4, keep1, 2000, 1.0);
    ag_sampler_free(s);
    s = make(1.0f, 0, 0.85f, 0.5f, 7);                 /* both: the stricter wins */
    check_distribution("top-p 0.85 + min-p 0.5", s, l, 4, keep2, 20000, 10.8);
    ag_sampler_free(s);

    /* A large vocabulary where the nucleus boundary falls among tied tokens:
     * 100 head tokens at logit 5 spread over 20000, the rest at 0. Head mass
     * is 100 e^5 / (100 e^5 + 19900) = 0.427, so top-p 0.3 needs
     * ceil(0.3 Z / e^5) = 71 head tokens: the 71 lowest ids among them. */
    enum { V = 20000 };
    static float big[V];
    int head[100];
    for (int i = 0; i < V; i++)
        big[i] = 0.0f;
    for (int i = 0; i < 100; i++) {
        head[i] = 37 + i * 199;                          /* increasing ids */
        big[head[i]] = 5.0f;
    }
    double z = 100 * exp(5.0) + (V - 100);
    int need = (int)ceil(0.3 * z / exp(5.0));
    CHECK(need == 71, "nucleus size %d", need);
    int seen[100] = {0}, outside = 0, distinct = 0;
    s = make(1.0f, 0, 0.3f, 0.0f, 8);
    for (int i = 0; i < 3000; i++) {
        int32_t t = ag_sampler_sample(s, big, V);
        int j = 0;
        while (j < 100 && head[j] != t)
            j++;
        if (j >= need)
            outside++;
        else
            seen[j]++;
    }
    for (int j = 0; j < need; j++)
        distinct += seen[j] > 0;
    CHECK(outside == 0, "top-p: %d draws outside the nucleus", outside);
    CHECK(distinct == need, "top-p: all %d nucleus tokens drawn (saw %d)", need, distinct);
    ag_sampler_free(s);

    /* the same with top-k in front (k = 90: the 90 lowest-id head tokens) */
    s = make(1.0f, 90, 0.5f, 0.0f, 9);
    /* after top-k every candidate has logit 5: top-p 0.5 keeps 45 of them */
    outside = 0;
    for (int i = 0; i < 3000; i++) {
        int32_t t = ag_sampler_sample(s, big, V);
        int j = 0;
        while (j < 100 && head[j] != t)
            j++;
        outside += j >= 45;
    }
    CHECK(outside == 0, "top-k then top-p: %d draws outside", outside);
    ag_sampler_free(s);
}

static ag_sampler *make_pen(float repeat, float presence, float freq, int32_t last_n)
{
    ag_sampler_params p = ag_sampler_default_params();
    p.temperature = 0.0f;
    p.repeat_penalty = repeat;
    p.presence_penalty = presence;
    p.frequency_penalty = freq;
    p.penalty_last_n = last_n;
    ag_sampler *s = NULL;
    CHECK(ag_sampler_create(&p, &s) == AG_OK, "create: %s", ag_last_error());
    return s;
}

static void test_penalties(void)
{
    ag_sampler *s = make_pen(1.1f, 0, 0, 64);
    const float a[] = {2.0f, 1.9f, -1.0f};
    CHECK(ag_sampler_sample(s, a, 3) == 0, "no history: argmax");
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, a, 3) == 1, "repeat: 2.0 / 1.1 < 1.9");
    const float b[] = {2.0f, 1.7f};
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, b, 2) == 0, "repeat applied once per distinct token");
    const float c[] = {-1.0f, -1.05f};
    CHECK(ag_sampler_sample(s, c, 2) == 1, "repeat on a negative logit multiplies");
    ag_sampler_reset(s);
    CHECK(ag_sampler_sample(s, a, 3) == 0, "reset clears the history");
    ag_sampler_accept(s, -5);
    ag_sampler_accept(s, 1000000);
    CHECK(ag_sampler_sample(s, a, 3) == 0, "out-of-vocabulary history is ignored");
    ag_sampler_free(s);

    s = make_pen(1.0f, 0.3f, 0, 64);
    const float d[] = {1.0f, 0.8f}, e[] = {1.0f, 0.6f};
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, d, 2) == 1, "presence: 1.0 - 0.3 < 0.8");
    CHECK(ag_sampler_sample(s, e, 2) == 0, "presence does not scale with count");
    ag_sampler_free(s);

    s = make_pen(1.0f, 0, 0.1f, 64);
    const float f[] = {1.0f, 0.75f};
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, f, 2) == 0, "frequency: 1.0 - 2 * 0.1 > 0.75");
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, f, 2) == 1, "frequency: 1.0 - 3 * 0.1 < 0.75");
    ag_sampler_free(s);

    /* all three: 2.0 / 2 = 1.0, - 2 * 0.25 - 0.1 = 0.4 */
    s = make_pen(2.0f, 0.1f, 0.25f, 64);
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 0);
    const float g1[] = {2.0f, 0.45f}, g2[] = {2.0f, 0.35f};
    CHECK(ag_sampler_sample(s, g1, 2) == 1, "combined: 0.4 < 0.45");
    CHECK(ag_sampler_sample(s, g2, 2) == 0, "combined: 0.4 > 0.35");
    ag_sampler_free(s);

    /* the window: only the last penalty_last_n accepted tokens count */
    s = make_pen(1.1f, 0, 0, 2);
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 2);
    CHECK(ag_sampler_sample(s, a, 3) == 1, "in the window");
    ag_sampler_accept(s, 2);
    CHECK(ag_sampler_sample(s, a, 3) == 0, "slid out of the window");
    ag_sampler_free(s);
    s = make_pen(1.1f, 0.5f, 0.5f, 0);
    ag_sampler_accept(s, 0);
    CHECK(ag_sampler_sample(s, a, 3) == 0, "penalty_last_n 0: off");
    ag_sampler_free(s);

    /* penalties never push a logit to inf/NaN: a boosted FLT_MAX stays finite */
    s = make_pen(1.0f, -3e38f, 0, 4);
    const float h[] = {3e38f, 3.3e38f, 1.0f};
    ag_sampler_accept(s, 0);
    ag_sampler_accept(s, 1);
    int32_t t = ag_sampler_sample(s, h, 3);
    CHECK(t == 0 || t == 1, "boosted huge logits: %d", t);
    ag_sampler_free(s);
}

static void test_big_vocab(void)
{
    enum { V = 248320 };
    float *l = malloc(V * sizeof(*l));
    ag_rng r;
    ag_rng_seed(&r, 3);
    /* roughly the shape of real logits: a wide bulk and a few strong tokens */
    for (int i = 0; i < V; i++)
        l[i] = (float)((ag_rng_uniform(&r) + ag_rng_uniform(&r) + ag_rng_uniform(&r) - 1.5) * 4.0);
    for (int i = 0; i < 20; i++)
        l[(i * 7919) % V] = 12.0f + (float)i * 0.1f;

    struct {
        const char *what;
        float temp;
        int32_t k;
        float top_p, min_p;
    } cfg[] = {
        {"defaults (k 40, p 0.95, min-p 0.05)", 0.8f, 40, 0.95f, 0.05f},
        {"top-p 0.95 only", 1.0f, 0, 0.95f, 0.0f},
        {"min-p 0.05 only", 1.0f, 0, 1.0f, 0.05f},
        {"no filters", 1.0f, 0, 1.0f, 0.0f},
        {"flat logits, top-p 0.9", 1.0f, 0, 0.9f, 0.0f},
        {"greedy", 0.0f, 40, 0.95f, 0.05f},
    };
    float *flat = calloc(V, sizeof(*flat));
    for (size_t c = 0; c < N(cfg); c++) {
        ag_sampler_params p = ag_sampler_default_params();
        p.temperature = cfg[c].temp;
        p.top_k = cfg[c].k;
        p.top_p = cfg[c].top_p;
        p.min_p = cfg[c].min_p;
        p.repeat_penalty = 1.1f;
        ag_sampler *s = NULL;
        ag_sampler_create(&p, &s);
        const float *row = c == 4 ? flat : l;
        const int reps = 10;
        int bad = 0;
        double t0 = now_ms();
        for (int i = 0; i < reps; i++) {
            int32_t t = ag_sampler_sample(s, row, V);
            bad += t < 0 || t >= V;
            ag_sampler_accept(s, t);
        }
        double ms = (now_ms() - t0) / reps;
        CHECK(bad == 0, "%s: tokens in range", cfg[c].what);
        printf("  248320 vocab, %-38s %7.3f ms/token\n", cfg[c].what, ms);
        ag_sampler_free(s);
    }

    /* a smaller row after a big one reuses the scratch */
    ag_sampler *s = make(0.0f, 40, 0.95f, 0.05f, 1);
    ag_sampler_sample(s, l, V);
    const float small[] = {0.0f, 1.0f};
    CHECK(ag_sampler_sample(s, small, 2) == 1, "shrinking vocabulary");
    ag_sampler_free(s);
    free(flat);
    free(l);
}

int main(void)
{
    test_rng();
    test_defaults_and_args();
    test_greedy();
    test_determinism();
    test_temperature_distribution();
    test_top_k_one_is_greedy();
    test_top_k_sets();
    test_top_p_min_p();
    test_penalties();
    test_big_vocab();
    return REPORT();
}
