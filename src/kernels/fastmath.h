/* fastmath.h — exp and friends written so that the compiler vectorises them.
 *
 * glibc's expf is a function call the compiler cannot turn into AVX-512 code
 * (without -ffast-math), and softmax over a 32000-word vocabulary spends most
 * of its time in exp. This one: range reduction x = k·ln2 + r with |r| <= ln2/2,
 * a degree-6 polynomial for e^r (relative error about 2e-7, close to
 * float rounding), and 2^k built from its exponent bits. */
#ifndef LMF_FASTMATH_H
#define LMF_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float fast_expf(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float k = __builtin_rintf(x * 1.44269504088896341f); /* one vector instruction, unlike roundf */
    float r = x - k * 0.693145751953125f - k * 1.42860682030941723212e-6f; /* ln2 split in two for accuracy */
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

/* fmaxf must honour NaN rules and becomes a library call; this does not. */
static inline float max_f(float a, float b) { return a > b ? a : b; }

#endif
