/* ppo_math.c — see ppo_math.h. */
#include "ppo_math.h"

#include <math.h>

float kl_estimate(float logp, float ref_logp, KlEstimator kind) {
    float log_ratio = ref_logp - logp; /* log(π_ref / π) */
    if (kind == KL_K3) return expf(log_ratio) - 1.0f - log_ratio;
    return -log_ratio;
}

void ppo_rewards(const float *logp, const float *ref_logp, const float *score, const int *n, int S, float beta,
                 KlEstimator kind, float *rewards) {
    int t = 0;
    for (int s = 0; s < S; s++) {
        for (int i = 0; i < n[s]; i++, t++) rewards[t] = -beta * kl_estimate(logp[t], ref_logp[t], kind);
        if (n[s] > 0) rewards[t - 1] += score[s];
    }
}

void gae(const float *rewards, const float *values, const int *n, int S, float gamma, float lam, float *advantages,
         float *returns) {
    int start = 0;
    for (int s = 0; s < S; s++) {
        float next_value = 0, next_adv = 0;
        for (int i = n[s] - 1; i >= 0; i--) {
            int t = start + i;
            float delta = rewards[t] + gamma * next_value - values[t];
            advantages[t] = delta + gamma * lam * next_adv;
            returns[t] = advantages[t] + values[t];
            next_value = values[t];
            next_adv = advantages[t];
        }
        start += n[s];
    }
}

void whiten(float *x, int N) {
    if (N <= 0) return;
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += x[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
    double inv = 1.0 / (sqrt(var / N) + 1e-8);
    for (int i = 0; i < N; i++) x[i] = (float)((x[i] - mean) * inv);
}

double ppo_policy_loss(const float *logp_new, const float *logp_old, const float *adv, int N, float eps,
                       float *dlogp_new, long *clipped, double *approx_kl) {
    double loss = 0;
    for (int t = 0; t < N; t++) {
        float diff = logp_new[t] - logp_old[t], ratio = expf(diff);
        float clipped_ratio = fminf(fmaxf(ratio, 1.0f - eps), 1.0f + eps);
        float unclipped_loss = -adv[t] * ratio, clipped_loss = -adv[t] * clipped_ratio;
        if (clipped_loss > unclipped_loss) {
            loss += clipped_loss;
            dlogp_new[t] = 0; /* the clipped ratio is constant here */
            (*clipped)++;
        } else {
            loss += unclipped_loss;
            dlogp_new[t] = -adv[t] * ratio; /* ∂ratio/∂logp = ratio */
        }
        *approx_kl += 0.5 * (double)diff * diff;
    }
    return loss;
}

double ppo_value_loss(const float *value, const float *value_old, const float *returns, int N, float eps,
                      float *dvalue, long *clipped) {
    double loss = 0;
    for (int t = 0; t < N; t++) {
        float delta = fminf(fmaxf(value[t] - value_old[t], -eps), eps);
        float v_clip = value_old[t] + delta;
        float e1 = value[t] - returns[t], e2 = v_clip - returns[t];
        if (e2 * e2 > e1 * e1) {
            loss += 0.5 * e2 * e2;
            /* v_clip moves with v only inside the clip range */
            dvalue[t] = fabsf(value[t] - value_old[t]) < eps ? e2 : 0.0f;
            (*clipped)++;
        } else {
            loss += 0.5 * e1 * e1;
            dvalue[t] = e1;
        }
    }
    return loss;
}

double explained_variance(const float *values, const float *returns, int N) {
    if (N < 2) return 0;
    double mr = 0, md = 0;
    for (int t = 0; t < N; t++) {
        mr += returns[t];
        md += returns[t] - values[t];
    }
    mr /= N;
    md /= N;
    double vr = 0, vd = 0;
    for (int t = 0; t < N; t++) {
        vr += (returns[t] - mr) * (returns[t] - mr);
        double d = returns[t] - values[t] - md;
        vd += d * d;
    }
    return vr > 0 ? 1.0 - vd / vr : 0.0;
}

float adaptive_kl_update(float beta, double observed_kl, float target, long n_steps, long horizon) {
    double error = observed_kl / target - 1.0;
    error = error < -0.2 ? -0.2 : error > 0.2 ? 0.2 : error;
    return (float)(beta * (1.0 + error * (double)n_steps / (double)horizon));
}
