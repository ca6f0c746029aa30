/* reduce.h — sums whose order the code fixes, not the compiler.
 *
 * `#pragma omp simd reduction(+ : s)` lets the compiler split a sum into as
 * many partial sums as its vectors have lanes (16 with AVX-512, 8 with AVX2,
 * 4 with SSE2) and start them wherever it peels iterations to align a
 * pointer. The result then depends on the ISA the build targets and on where
 * the data sits: a row packed at another offset of a batch sums differently,
 * and a run resumed from a checkpoint drifts from the uninterrupted one in
 * the 7th digit (seen on AVX2 builds).
 *
 * Here every sum keeps REDUCE_LANES partial sums, element i going to lane
 * i % REDUCE_LANES counted from the start of the summed range, and adds them
 * in one fixed tree at the end. The lanes are independent, so a compiler
 * vectorises them at any width without reordering anything: the same bits on
 * every ISA, at every address, wherever the range starts in its buffer. */
#ifndef LMF_REDUCE_H
#define LMF_REDUCE_H

#define REDUCE_LANES 16

/* The REDUCE_LANES partial sums added in a fixed tree: lane l with l + 8, then l + 4, l + 2, l + 1. */
static inline float lanes_total(const float acc[REDUCE_LANES]) {
    float a[8];
    for (int l = 0; l < 8; l++) a[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) a[l] += a[l + 4];
    return (a[0] + a[2]) + (a[1] + a[3]);
}

/* Σ x[i], i < n. */
static inline float sum_fixed(const float *x, int n) {
    float acc[REDUCE_LANES] = {0};
    int i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
#pragma omp simd
        for (int l = 0; l < REDUCE_LANES; l++) acc[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += x[i];
    return lanes_total(acc);
}

/* Σ a[i]·b[i], i < n. */
static inline float dot_fixed(const float *a, const float *b, int n) {
    float acc[REDUCE_LANES] = {0};
    int i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
#pragma omp simd
        for (int l = 0; l < REDUCE_LANES; l++) acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += a[i] * b[i];
    return lanes_total(acc);
}

/* Σ a[i]·b[i]·c[i], i < n, each product taken left to right. */
static inline float dot3_fixed(const float *a, const float *b, const float *c, int n) {
    float acc[REDUCE_LANES] = {0};
    int i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
#pragma omp simd
        for (int l = 0; l < REDUCE_LANES; l++) acc[l] += a[i + l] * b[i + l] * c[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += a[i] * b[i] * c[i];
    return lanes_total(acc);
}

#endif
