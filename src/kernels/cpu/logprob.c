/* logprob.c — log-probabilities of chosen tokens, the start of every objective.
 *
 * Cross-entropy (pretraining, SFT) is −mean(logp); DPO sums logp over a
 * response; PPO takes ratios of exp(logp). Each stage turns its loss into
 * ∂loss/∂logp per token, and logprob_backward turns that into ∂loss/∂logits,
 * the gradient the shared backward pass starts from.
 *
 * With z = logits · inv_temp and p = softmax(z):
 *   logp = z[y] − logsumexp(z)
 *   ∂logp/∂logits = inv_temp · (onehot(y) − p)
 * Rows are independent, so threads split the rows. */
#include <math.h>

#include "../fastmath.h"
#include "../kernels.h"
#include "reduce.h"

/* Σ e^d over the row, d = z·inv_temp − max, and Σ e^d·d when weighted is not NULL (for the entropy), in the
 * fixed lane order of reduce.h: the same bits whatever the ISA or the row's address. */
static float sum_exp(const float *z, int V, float inv_temp, float max, float *weighted) {
    float acc[REDUCE_LANES] = {0}, wacc[REDUCE_LANES] = {0};
    int i = 0;
    if (weighted) {
        for (; i + REDUCE_LANES <= V; i += REDUCE_LANES)
#pragma omp simd
            for (int l = 0; l < REDUCE_LANES; l++) {
                float d = z[i + l] * inv_temp - max, e = fast_expf(d);
                acc[l] += e;
                wacc[l] += e * d;
            }
        for (int l = 0; i < V; i++, l++) {
            float d = z[i] * inv_temp - max, e = fast_expf(d);
            acc[l] += e;
            wacc[l] += e * d;
        }
        *weighted = lanes_total(wacc);
    } else {
        for (; i + REDUCE_LANES <= V; i += REDUCE_LANES)
#pragma omp simd
            for (int l = 0; l < REDUCE_LANES; l++) acc[l] += fast_expf(z[i + l] * inv_temp - max);
        for (int l = 0; i < V; i++, l++) acc[l] += fast_expf(z[i] * inv_temp - max);
    }
    return lanes_total(acc);
}

void logprob_forward(const float *logits, const int *targets, int N, int V, float inv_temp, float *logp, float *lse,
                     float *entropy) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        if (targets[n] < 0) {
            logp[n] = 0;
            lse[n] = 0;
            if (entropy) entropy[n] = 0;
            continue;
        }
        float max = -INFINITY;
#pragma omp simd reduction(max : max)
        for (int i = 0; i < V; i++) max = max_f(max, z[i] * inv_temp);
        float weighted = 0, sum = sum_exp(z, V, inv_temp, max, entropy ? &weighted : NULL);
        float log_sum = logf(sum);
        lse[n] = max + log_sum;
        logp[n] = z[targets[n]] * inv_temp - lse[n];
        /* H = −Σ p log p = log Σe^d − Σ e^d·d / Σ e^d, with d = z − max */
        if (entropy) entropy[n] = log_sum - weighted / sum;
    }
}

void logprob_backward(float *logits, const int *targets, const float *dlogp, const float *lse, int N, int V,
                      float inv_temp) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *z = logits + (size_t)n * V;
        float g = targets[n] >= 0 ? dlogp[n] : 0.0f;
        if (g == 0.0f) {
#pragma omp simd
            for (int i = 0; i < V; i++) z[i] = 0;
            continue;
        }
        float a = -g * inv_temp, l = lse[n];
#pragma omp simd
        for (int i = 0; i < V; i++) z[i] = a * fast_expf(z[i] * inv_temp - l);
        z[targets[n]] += g * inv_temp;
    }
}
