/* peak.c — the machine's fp32 FMA peak, measured, for MFU.
 *
 * The peak is that of the instruction set this build was compiled for (the
 * compiler's macros choose the path), so MFU compares the code against what
 * the same build could at best reach, not against a wider unit it never uses:
 *   AVX-512F          16-wide fused multiply-adds
 *   AVX2 + FMA         8-wide fused multiply-adds
 *   anything else      a portable multiply-add loop the compiler vectorises
 *                      (SSE2 on plain x86-64), counted as 2 FLOPs per lane
 * Each thread runs 12 independent chains: enough independent work to cover
 * the FMA latency (4 cycles) on two FMA ports (8 chains needed), so the figure
 * is a throughput, not a latency. */
#include <omp.h>

#include "../src/base/util.h"
#include "../src/kernels/kernels.h"
#include "bench.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define CHAINS 12
#define ITERS 20000000L

#if defined(__AVX512F__)
#define ISA_NAME "avx512"
#define LANES 16
/* One thread's chains; returns a sum of them so the work is not optimised away. */
static float fma_chains(long iters) {
    __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f), a[CHAINS];
    for (int k = 0; k < CHAINS; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) a[k] = _mm512_fmadd_ps(a[k], b, c);
    __m512 s = a[0];
    for (int k = 1; k < CHAINS; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}
#elif defined(__AVX2__) && defined(__FMA__)
#define ISA_NAME "avx2+fma"
#define LANES 8
static float fma_chains(long iters) {
    __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f), a[CHAINS];
    for (int k = 0; k < CHAINS; k++) a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) a[k] = _mm256_fmadd_ps(a[k], b, c);
    __m256 s = a[0];
    for (int k = 1; k < CHAINS; k++) s = _mm256_add_ps(s, a[k]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += lanes[j];
    return sum;
}
#else
#define ISA_NAME "portable"
/* Four lanes: one SSE register per chain on plain x86-64 (gcc vectorises the
 * inner loop at -O3); a multiply then an add, no fused instruction. */
#define LANES 4
static float fma_chains(long iters) {
    float a[CHAINS][LANES];
    for (int k = 0; k < CHAINS; k++)
        for (int j = 0; j < LANES; j++) a[k][j] = (float)k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++)
            for (int j = 0; j < LANES; j++) a[k][j] = a[k][j] * 0.9999f + 1e-4f;
    float sum = 0;
    for (int k = 0; k < CHAINS; k++)
        for (int j = 0; j < LANES; j++) sum += a[k][j];
    return sum;
}
#endif

const char *bench_isa_name(void) { return ISA_NAME; }

double bench_fp32_peak_flops(void) {
    static double cached;
    if (cached) return cached;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = now_seconds();
        float sink = 0;
#pragma omp parallel reduction(+ : sink)
        sink += fma_chains(ITERS);
        t = now_seconds() - t;
        double flops = (double)omp_get_max_threads() * ITERS * CHAINS * LANES * 2;
        if (flops / t > best) best = flops / t;
        if (sink == 12345.f) best += 0; /* keep the chains alive */
    }
    return cached = best;
}

/* Which ISA path and which BLAS this build runs: the first lines of every
 * benchmark run, so that figures from different machines can be told apart. */
void bench_report_machine(void) {
    bench_report_text("machine.isa", bench_isa_name());
    bench_report_text("machine.blas", blas_description());
}

BENCH(peak) {
    double p = bench_fp32_peak_flops();
    bench_report("machine.fp32.peak_gflops", p / 1e9, "GFLOP/s", NULL);
}
