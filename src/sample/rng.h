/* rng.h: the sampler's seeded pseudo-random generator (xoshiro256**).
 *
 * Stage 4 of 5 (sample). Reproducibility is part of the sampler contract
 * (same seed, same logits -> same tokens on every platform), so the generator
 * is our own fixed algorithm rather than rand()/random(), whose sequences
 * differ between libcs. xoshiro256** (Blackman & Vigna) is small, fast and
 * statistically strong; its 256-bit state is filled from the 64-bit seed with
 * splitmix64, as its authors recommend (any seed, including 0, is valid). */
#ifndef AG_SAMPLE_RNG_H
#define AG_SAMPLE_RNG_H

#include <stdint.h>

typedef struct ag_rng {
    uint64_t s[4];
} ag_rng;

void ag_rng_seed(ag_rng *r, uint64_t seed);
uint64_t ag_rng_next(ag_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double ag_rng_uniform(ag_rng *r);

#endif
