/* swiglu.c — the gated MLP activation of Llama (Shazeer 2020):
 *   h = silu(g) · u,   silu(g) = g · σ(g)
 *   dg = dh · u · σ(g) · (1 + g · (1 − σ(g))),   du = dh · silu(g)
 * gate and up come from one fused matmul, so they sit side by side in a row. */
#include "../fastmath.h"
#include "../kernels.h"

void swiglu_forward(float *h, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static) if ((size_t)N * F >= SMALL_WORK)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *hr = h + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) hr[i] = g[i] * sigmoidf_(g[i]) * u[i];
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *dhr = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = sigmoidf_(g[i]);
            du[i] = dhr[i] * g[i] * s;
            dg[i] = dhr[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        }
    }
}
