/* bench_matmul_invariant.c — the batch-invariant linear layer alone, against
 * BLAS (linear_forward), on the layers of a decoding step of shape S
 * (dim 288, FFN 768, vocab 32000) at batch 1 and 32.
 *
 * Batch 1 reads W once per call, so its figure is W's bytes per second
 * (memory bandwidth, or L2's for the small layers); batch 32 reuses W 32
 * times, so its figure is GFLOP/s, also as a fraction of the FMA peak of the
 * vector width this build's kernel uses (AVX2: 8 lanes, measured here; AVX-512:
 * 16 lanes, bench_fp32_peak_flops). Best of several runs. The peak and the
 * kernel are timed at different moments, so the fraction means something only
 * on a quiet machine (with the cores shared it can even pass 1). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/kernels/kernels.h"
#include "bench.h"

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
/* The 8-lane FMA peak: 12 independent chains per thread (as peak.c does with 16 lanes). */
static double avx2_fma_peak_flops(void) {
    const long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = now_seconds();
        float sink = 0;
#pragma omp parallel reduction(+ : sink)
        {
            __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f), a[12];
            for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
            for (long i = 0; i < iters; i++)
                _Pragma("GCC unroll 12") for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], b, c);
            for (int k = 1; k < 12; k++) a[0] = _mm256_add_ps(a[0], a[k]);
            float lanes[8];
            _mm256_storeu_ps(lanes, a[0]);
            for (int k = 0; k < 8; k++) sink += lanes[k];
        }
        t = now_seconds() - t;
        best = LMF_MAX(best, (double)omp_get_max_threads() * iters * 12 * 8 * 2 / t);
        if (sink == 12345.f) best += 0; /* keep the chains alive */
    }
    return best;
}
#define KERNEL_PEAK() avx2_fma_peak_flops()
#elif defined(__AVX512F__)
#define KERNEL_PEAK() bench_fp32_peak_flops()
#else
#define KERNEL_PEAK() 0.0 /* the portable path: no vector width to compare with */
#endif

typedef void (*LinearFn)(float *, const float *, const float *, const float *, int, int, int, int);

/* Best seconds per call over `reps` runs of `calls` calls. */
static double time_linear(LinearFn f, float *out, const float *in, const float *W, int N, int IN, int OUT) {
    int calls = LMF_MAX(1, (int)(2e8 / ((double)N * IN * OUT + 1e6))); /* ~0.1 s per run */
    double best = 1e30;
    f(out, in, W, NULL, N, IN, OUT, 0); /* warm-up */
    for (int rep = 0; rep < 5; rep++) {
        double t = now_seconds();
        for (int k = 0; k < calls; k++) f(out, in, W, NULL, N, IN, OUT, 0);
        best = LMF_MIN(best, (now_seconds() - t) / calls);
    }
    return best;
}

BENCH(matmul_invariant) {
    const struct { const char *name; int IN, OUT; } layers[] = {
        {"qkv", 288, 864}, {"gate_up", 288, 1536}, {"down", 768, 288}, {"head", 288, 32000}};
    double peak = KERNEL_PEAK();
    if (peak > 0) bench_report("matmul_invariant.kernel_fma_peak_gflops", peak / 1e9, "GFLOP/s", NULL);
    Rng r;
    rng_seed(&r, 1);
    for (size_t l = 0; l < LMF_ARRAY_LEN(layers); l++) {
        int IN = layers[l].IN, OUT = layers[l].OUT;
        float *W = xalloc_floats((size_t)OUT * IN), *in = xalloc_floats((size_t)32 * IN);
        float *out = xalloc_floats((size_t)32 * OUT);
        for (size_t i = 0; i < (size_t)OUT * IN; i++) W[i] = rng_normal(&r);
        for (size_t i = 0; i < (size_t)32 * IN; i++) in[i] = rng_normal(&r);
        const int batches[2] = {1, 32};
        for (int b = 0; b < 2; b++) {
            int N = batches[b];
            double ours = time_linear(linear_forward_invariant, out, in, W, N, IN, OUT);
            double blas = time_linear(linear_forward, out, in, W, N, IN, OUT);
            double flops = 2.0 * N * IN * OUT;
            char name[96];
            snprintf(name, sizeof name, "matmul_invariant.%s.b%d.ms", layers[l].name, N);
            bench_report(name, ours * 1e3, "ms", NULL);
            snprintf(name, sizeof name, "matmul_invariant.%s.b%d.blas_ms", layers[l].name, N);
            bench_report(name, blas * 1e3, "ms", NULL);
            if (N == 1) {
                snprintf(name, sizeof name, "matmul_invariant.%s.b1.weight_gb_per_s", layers[l].name);
                bench_report(name, 4.0 * IN * OUT / ours / 1e9, "GB/s", NULL);
            } else {
                snprintf(name, sizeof name, "matmul_invariant.%s.b%d.gflops", layers[l].name, N);
                bench_report(name, flops / ours / 1e9, "GFLOP/s", NULL);
                if (peak > 0) {
                    snprintf(name, sizeof name, "matmul_invariant.%s.b%d.fraction_of_peak", layers[l].name, N);
                    bench_report(name, flops / ours / peak, "fraction", NULL);
                }
            }
        }
        free(W), free(in), free(out);
    }
}
