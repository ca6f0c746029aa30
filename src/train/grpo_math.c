/* grpo_math.c — see grpo_math.h. */
#include "grpo_math.h"

#include <math.h>

#include "../base/util.h"

int group_has_no_signal(const float *rewards, int G) {
    for (int i = 1; i < G; i++)
        if (rewards[i] != rewards[0]) return 0;
    return 1;
}

/* Mean and unbiased standard deviation of x (n >= 2), in double. */
static void mean_std(const float *x, int n, double *mean, double *std) {
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    *mean = sum / n;
    for (int i = 0; i < n; i++) sq += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(sq / (n - 1));
}

int group_advantages(const float *rewards, int n_groups, int G, AdvantageKind kind, RewardScale scale, float eps,
                     double batch_std, float *adv) {
    if (G < 2) die("group advantages need at least 2 answers per prompt, not %d", G);
    if (batch_std < 0) {
        double batch_mean;
        if (n_groups > 0) mean_std(rewards, n_groups * G, &batch_mean, &batch_std);
        else batch_std = 0;
    }
    int no_signal = 0;
    for (int g = 0; g < n_groups; g++) {
        const float *r = rewards + (size_t)g * G;
        float *a = adv + (size_t)g * G;
        double mean, std;
        mean_std(r, G, &mean, &std);
        no_signal += group_has_no_signal(r, G);
        double divide = 1;
        if (kind == ADVANTAGE_RLOO) divide = (G - 1.0) / G; /* r − (G·mean − r)/(G − 1) = G/(G−1)·(r − mean) */
        else if (scale == SCALE_GROUP) divide = std + eps;
        else if (scale == SCALE_BATCH) divide = batch_std + eps;
        for (int i = 0; i < G; i++) a[i] = (float)((r[i] - mean) / divide);
    }
    return no_signal;
}

double grpo_loss_norm(GrpoLossType type, long sequences, long tokens, int max_completion_len) {
    switch (type) {
    case LOSS_GRPO: return (double)sequences;
    case LOSS_BNPO:
    case LOSS_DAPO: return (double)LMF_MAX(tokens, 1);
    case LOSS_DR_GRPO: return (double)sequences * max_completion_len;
    }
    return 1;
}

double grpo_loss(const float *logp, const float *logp_old, const float *ref_logp, const float *adv, const int *n,
                 int S, const GrpoLossConfig *c, double norm, float *dlogp, GrpoLossStats *st) {
    double share = 0;
    for (int s = 0, t = 0; s < S; s++) {
        const float A = adv[s];
        const double weight = (c->type == LOSS_GRPO ? 1.0 / LMF_MAX(n[s], 1) : 1.0) / norm;
        for (int end = t + n[s]; t < end; t++) {
            float ratio = expf(logp[t] - logp_old[t]);
            float clipped = fminf(fmaxf(ratio, 1.0f - c->eps_low), 1.0f + c->eps_high);
            float unclipped_term = A * ratio, clipped_term = A * clipped;
            /* −min(...): the unclipped term moves with logp unless the clipped one is smaller */
            float loss = -fminf(unclipped_term, clipped_term);
            float grad = clipped_term < unclipped_term ? 0.0f : -A * ratio;
            st->low_clipped += ratio < 1.0f - c->eps_low && A < 0;
            st->high_clipped += ratio > 1.0f + c->eps_high && A > 0;
            if (c->beta != 0) {
                float d = ref_logp[t] - logp[t], e = expf(d);
                float k3 = e - d - 1.0f;
                loss += c->beta * k3;
                grad += c->beta * (1.0f - e); /* ∂k3/∂logp = −e^d + 1 */
                st->kl += k3;
            }
            share += weight * loss;
            dlogp[t] = (float)(weight * grad);
        }
        st->tokens += n[s];
    }
    st->loss += share;
    return share;
}
