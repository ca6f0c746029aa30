/* rmsnorm.c — root-mean-square layer norm (Zhang & Sennrich 2019), as Llama uses it:
 *   y = x · rstd · w,   rstd = 1 / sqrt(mean(x²) + eps)
 * Backward, with g = dy · w:
 *   dx = rstd · g − x · rstd³ · mean(g · x),   dw = Σ_rows dy · x · rstd */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "../../base/util.h"
#include "../kernels.h"
#include "reduce.h"

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SMALL_WORK)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = out + (size_t)n * C;
        float ss = dot_fixed(xr, xr, C), r = 1.0f / sqrtf(ss / C + eps);
        rstd[n] = r;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = xr[c] * r * w[c];
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int C) {
    /* dw needs a sum over rows: every thread sums its own rows into a private
     * row, and the rows are then added in thread order (deterministic). */
    int max_threads = omp_get_max_threads();
    float *partial = dw ? xalloc_floats((size_t)max_threads * C) : NULL;
    int used_threads = 1;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        if (id == 0) used_threads = nt;
        float *dw_part = dw ? partial + (size_t)id * C : NULL;
        int lo = (int)((long)N * id / nt), hi = (int)((long)N * (id + 1) / nt);
        for (int n = lo; n < hi; n++) {
            const float *xr = x + (size_t)n * C, *dyr = dout + (size_t)n * C;
            float *dxr = dx + (size_t)n * C;
            float r = rstd[n], gx = dot3_fixed(dyr, w, xr, C);
            float k = r * r * r * gx / C;
#pragma omp simd
            for (int c = 0; c < C; c++) dxr[c] += r * dyr[c] * w[c] - k * xr[c];
            if (dw_part) {
#pragma omp simd
                for (int c = 0; c < C; c++) dw_part[c] += dyr[c] * xr[c] * r;
            }
        }
    }
    if (!dw) return;
    for (int t = 0; t < used_threads; t++)
        for (int c = 0; c < C; c++) dw[c] += partial[(size_t)t * C + c];
    free(partial);
}

/* The heads are rows of HS of their own: (row n, head h) is virtual row n·n_heads + h. */
void rmsnorm_heads_forward(float *out, int out_stride, float *rstd, const float *x, int x_stride, const float *w,
                           int N, int n_heads, int HS, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * n_heads * HS >= SMALL_WORK)
    for (int n = 0; n < N; n++)
        for (int h = 0; h < n_heads; h++) {
            const float *xr = x + (size_t)n * x_stride + (size_t)h * HS;
            float *yr = out + (size_t)n * out_stride + (size_t)h * HS;
            float ss = dot_fixed(xr, xr, HS), r = 1.0f / sqrtf(ss / HS + eps);
            if (rstd) rstd[(size_t)n * n_heads + h] = r;
#pragma omp simd
            for (int c = 0; c < HS; c++) yr[c] = xr[c] * r * w[c];
        }
}

void rmsnorm_heads_backward(float *dx, int dx_stride, float *dw, const float *dout, int dout_stride, const float *x,
                            int x_stride, const float *w, const float *rstd, int N, int n_heads, int HS) {
    /* as rmsnorm_backward: private dw rows per thread, added in thread order */
    int max_threads = omp_get_max_threads();
    float *partial = dw ? xcalloc((size_t)max_threads * HS, sizeof(float)) : NULL;
    int used_threads = 1;
#pragma omp parallel if ((size_t)N * n_heads * HS >= SMALL_WORK)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        if (id == 0) used_threads = nt;
        float *dw_part = dw ? partial + (size_t)id * HS : NULL;
        int lo = (int)((long)N * id / nt), hi = (int)((long)N * (id + 1) / nt);
        for (int n = lo; n < hi; n++)
            for (int h = 0; h < n_heads; h++) {
                const float *xr = x + (size_t)n * x_stride + (size_t)h * HS;
                const float *dyr = dout + (size_t)n * dout_stride + (size_t)h * HS;
                float *dxr = dx + (size_t)n * dx_stride + (size_t)h * HS;
                float r = rstd[(size_t)n * n_heads + h], gx = dot3_fixed(dyr, w, xr, HS);
                float k = r * r * r * gx / HS;
                /* dw first: dx may overwrite dout */
                if (dw_part) {
#pragma omp simd
                    for (int c = 0; c < HS; c++) dw_part[c] += dyr[c] * xr[c] * r;
                }
#pragma omp simd
                for (int c = 0; c < HS; c++) dxr[c] = r * dyr[c] * w[c] - k * xr[c];
            }
    }
    if (!dw) return;
    for (int t = 0; t < used_threads; t++)
        for (int c = 0; c < HS; c++) dw[c] += partial[(size_t)t * HS + c];
    free(partial);
}
