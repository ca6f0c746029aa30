/* adamw.c — the optimizer (Loshchilov & Hutter 2019) and the reductions it needs.
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²
 *   p ← p − lr · ( m̂ / (sqrt(v̂) + eps) + wd · p ),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
 * Weight decay is decoupled from the gradient, as in PyTorch's AdamW. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "../../base/util.h"
#include "../kernels.h"
#include "reduce.h"

void adamw_update(float *param, const float *grad, float grad_scale, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, long step) {
    float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    float step_size = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2), decay = 1.0f - lr * weight_decay;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

double sum_squares(const float *x, size_t n) {
    int max_threads = omp_get_max_threads();
    double *partial = xcalloc((size_t)max_threads, sizeof(double));
    int used = 1;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        if (id == 0) used = nt;
        size_t lo = n * id / nt, hi = n * (id + 1) / nt;
        double acc = 0;
        /* float partial sums over short runs keep the loop vectorised; the runs add up in double */
        for (size_t i = lo; i < hi; i += 1024) {
            size_t end = i + 1024 < hi ? i + 1024 : hi;
            acc += dot_fixed(x + i, x + i, (int)(end - i));
        }
        partial[id] = acc;
    }
    double total = 0;
    for (int t = 0; t < used; t++) total += partial[t];
    free(partial);
    return total;
}
