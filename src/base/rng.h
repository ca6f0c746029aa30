/* rng.h — a small, fast, reproducible random number generator.
 *
 * xoshiro256** seeded through splitmix64. The whole state is four 64-bit
 * words, saved in trainer_state.json so that a resumed run draws the same
 * numbers as an uninterrupted one. */
#ifndef LMF_RNG_H
#define LMF_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1). */
float rng_uniform(Rng *r);
double rng_uniform_double(Rng *r);
/* Uniform integer in [0, n). n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box–Muller, one value per call). */
float rng_normal(Rng *r);
/* In-place Fisher–Yates shuffle of n ints. */
void rng_shuffle_ints(Rng *r, int *a, int n);

#endif
