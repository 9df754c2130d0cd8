/* test_fp16.c: the f16 / bf16 conversions of core/fp16.h, which every f16,
 * bf16 and block-scale read and write in src/quant/ goes through.
 *
 *  - all 65536 f16 and all 65536 bf16 bit patterns: f16 -> f32 is exact
 *    (checked against ldexp), and f32 -> f16 gives the pattern back (NaNs:
 *    stay NaN with their sign; payloads are not kept);
 *  - f32 -> f16 / bf16 against an independent double-precision reference
 *    (round to nearest, ties to even, overflow to inf) on every f16/bf16
 *    value, the midpoints between neighbours and one f32 ulp either side,
 *    and random f32 bit patterns;
 *  - hand cases for ties, overflow and the subnormal boundary. */
#include "core/fp16.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 12345;
static uint32_t rnd_u32(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static int f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }
static int bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f); }

/* Exact value of an f16 pattern (finite or inf), from the definition. */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* Reference f32 -> f16: pick the nearer of the two f16 neighbours of |f| in
 * double arithmetic (exact for these magnitudes), ties to the even pattern.
 * Above 65504 the upper neighbour is 65536 (= inf after encoding). */
static uint16_t ref_f32_to_f16(float f)
{
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00); /* includes inf; 65520 is the tie -> even (inf) */
    /* the largest pattern p with value <= a, by binary search over 0..0x7bff */
    uint16_t lo = 0, hi = 0x7bff;
    if (f16_value(hi) <= a) {
        lo = hi;
    } else {
        while (hi - lo > 1) {
            uint16_t mid = (uint16_t)((lo + hi) / 2);
            if (f16_value(mid) <= a) lo = mid;
            else hi = mid;
        }
    }
    uint16_t below = lo, above = (uint16_t)(lo + 1);
    double vb = f16_value(below), va = below == 0x7bff ? 65536.0 : f16_value(above);
    if (vb == a) return (uint16_t)(sign | below);
    double db = a - vb, da = va - a;
    uint16_t r = db < da ? below : da < db ? above : (below & 1 ? above : below);
    return (uint16_t)(sign | r);
}

/* Reference f32 -> bf16: the two candidates are the truncation and the next
 * pattern; the one past the largest finite value is 2^128 (inf). */
static uint16_t ref_f32_to_bf16(float f)
{
    uint32_t x = ag_f32_to_bits(f);
    if (isnan(f)) return (uint16_t)((x >> 16) | 0x40);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax == 0x7f800000u) return (uint16_t)(sign | 0x7f80);
    uint16_t below = (uint16_t)(ax >> 16), above = (uint16_t)(below + 1);
    double a = (double)ag_bits_to_f32(ax);
    double vb = (double)ag_bits_to_f32((uint32_t)below << 16);
    double va = above == 0x7f80 ? ldexp(1.0, 128) : (double)ag_bits_to_f32((uint32_t)above << 16);
    double db = a - vb, da = va - a;
    uint16_t r = db < da ? below : da < db ? above : (below & 1 ? above : below);
    return (uint16_t)(sign | r);
}

static int check_f16(float f)
{
    uint16_t got = ag_f32_to_f16(f), want = ref_f32_to_f16(f);
    if (isnan(f)) return f16_is_nan(got) && (got & 0x8000) == (want & 0x8000);
    return got == want;
}

static int check_bf16(float f)
{
    uint16_t got = ag_f32_to_bf16(f), want = ref_f32_to_bf16(f);
    if (isnan(f)) return bf16_is_nan(got) && (got & 0x8000) == (want & 0x8000);
    return got == want;
}

static void test_f16_all_patterns(void)
{
    int bad_value = 0, bad_trip = 0, bad_near = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ag_f16_to_f32((uint16_t)h);
        if (f16_is_nan((uint16_t)h)) {
            bad_value += !isnan(f) || (signbit(f) != 0) != ((h & 0x8000) != 0);
            uint16_t back = ag_f32_to_f16(f);
            bad_trip += !f16_is_nan(back) || (back & 0x8000) != (h & 0x8000);
            continue;
        }
        bad_value += (double)f != f16_value((uint16_t)h) || (signbit(f) != 0) != ((h & 0x8000) != 0);
        bad_trip += ag_f32_to_f16(f) != h;
        /* the midpoint to the next pattern and one f32 ulp either side */
        if ((h & 0x7fff) < 0x7c00) {
            double mid = (f16_value((uint16_t)h) + ((h & 0x7fff) == 0x7bff ? copysign(65536.0, f) :
                                                    f16_value((uint16_t)(h + 1)))) / 2;
            float m = (float)mid; /* exact: midpoints need 12 significant bits */
            bad_near += !check_f16(m) + !check_f16(nextafterf(m, 0.0f)) + !check_f16(nextafterf(m, INFINITY)) +
                        !check_f16(nextafterf(m, -INFINITY));
        }
    }
    CHECK(bad_value == 0, "f16 -> f32 exact for all patterns (%d wrong)", bad_value);
    CHECK(bad_trip == 0, "f16 -> f32 -> f16 round trip for all patterns (%d wrong)", bad_trip);
    CHECK(bad_near == 0, "f32 -> f16 at midpoints +- 1 ulp (%d wrong)", bad_near);
}

static void test_bf16_all_patterns(void)
{
    int bad_value = 0, bad_trip = 0, bad_near = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ag_bf16_to_f32((uint16_t)h);
        bad_value += ag_f32_to_bits(f) != h << 16;
        uint16_t back = ag_f32_to_bf16(f);
        if (bf16_is_nan((uint16_t)h)) bad_trip += !bf16_is_nan(back) || (back & 0x8000) != (h & 0x8000);
        else bad_trip += back != h;
        if ((h & 0x7fff) < 0x7f80) {
            uint32_t mid = (h << 16) | 0x8000; /* exactly halfway to the next pattern */
            bad_near += !check_bf16(ag_bits_to_f32(mid)) + !check_bf16(ag_bits_to_f32(mid - 1)) +
                        !check_bf16(ag_bits_to_f32(mid + 1));
        }
    }
    CHECK(bad_value == 0, "bf16 -> f32 is the upper half (%d wrong)", bad_value);
    CHECK(bad_trip == 0, "bf16 -> f32 -> bf16 round trip (%d wrong)", bad_trip);
    CHECK(bad_near == 0, "f32 -> bf16 at midpoints +- 1 ulp (%d wrong)", bad_near);
}

static void test_random(void)
{
    int bad16 = 0, bad_b = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t x = rnd_u32();
        if (i & 1) x = (x & 0x8fffffffu) | 0x30000000u; /* bias half of them into the f16 range */
        float f = ag_bits_to_f32(x);
        bad16 += !check_f16(f);
        bad_b += !check_bf16(f);
    }
    CHECK(bad16 == 0, "f32 -> f16 on random patterns (%d wrong)", bad16);
    CHECK(bad_b == 0, "f32 -> bf16 on random patterns (%d wrong)", bad_b);
}

static void test_hand_cases(void)
{
    static const struct { float f; uint16_t h; } c16[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {1.0f + 0x1p-11f, 0x3c00},          /* tie between 0x3c00 and 0x3c01: even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},      /* tie between 0x3c01 and 0x3c02: even */
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01}, /* just above the tie */
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff},
        {65520.0f, 0x7c00},                 /* tie with 65536: even -> inf */
        {1e10f, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},                 /* smallest normal */
        {0x1p-14f - 0x1p-25f, 0x0400},      /* tie between 0x03ff and 0x0400: even */
        {0x1p-24f, 0x0001},                 /* smallest subnormal */
        {0x1p-25f, 0x0000},                 /* tie between 0 and 1: even */
        {0x1.000002p-25f, 0x0001},
        {3 * 0x1p-25f, 0x0002},             /* tie between 1 and 2: even */
        {-5 * 0x1p-25f, 0x8002},            /* tie between 2 and 3: even */
        {1e-10f, 0x0000},
    };
    for (size_t i = 0; i < sizeof c16 / sizeof c16[0]; i++)
        CHECK(ag_f32_to_f16(c16[i].f) == c16[i].h, "f16(%a) = 0x%04x, want 0x%04x", c16[i].f,
              ag_f32_to_f16(c16[i].f), c16[i].h);
    CHECK(f16_is_nan(ag_f32_to_f16(NAN)), "f16(NaN) is NaN");
    CHECK(f16_is_nan(ag_f32_to_f16(ag_bits_to_f32(0x7f800001u))), "f16(NaN with low payload) stays NaN");
    CHECK(ag_f16_to_f32(0x7c00) == INFINITY && ag_f16_to_f32(0xfc00) == -INFINITY, "f16 inf");

    static const struct { uint32_t x; uint16_t h; } cb[] = {
        {0x3f800000u, 0x3f80},
        {0x3f808000u, 0x3f80}, /* tie, even */
        {0x3f818000u, 0x3f82}, /* tie, even */
        {0x3f808001u, 0x3f81},
        {0x3f80ffffu, 0x3f81},
        {0x7f7fffffu, 0x7f80}, /* rounds to inf */
        {0x7f7f7fffu, 0x7f7f},
        {0xff800000u, 0xff80},
        {0x00000001u, 0x0000}, /* f32 subnormals */
        {0x00008000u, 0x0000}, /* tie, even */
        {0x00018000u, 0x0002},
        {0x80000000u, 0x8000},
    };
    for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++)
        CHECK(ag_f32_to_bf16(ag_bits_to_f32(cb[i].x)) == cb[i].h, "bf16(0x%08x) = 0x%04x, want 0x%04x", cb[i].x,
              ag_f32_to_bf16(ag_bits_to_f32(cb[i].x)), cb[i].h);
    CHECK(bf16_is_nan(ag_f32_to_bf16(ag_bits_to_f32(0x7f800001u))), "bf16(NaN with low payload) stays NaN");
    CHECK(bf16_is_nan(ag_f32_to_bf16(ag_bits_to_f32(0xffffffffu))), "bf16(all-ones NaN) stays NaN");
}

int main(void)
{
    test_f16_all_patterns();
    test_bf16_all_patterns();
    test_random();
    test_hand_cases();
    return REPORT();
}
