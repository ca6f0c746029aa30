/* evaluate.c — see evaluate.h. */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>

#include "../base/util.h"
#include "../train/rollout.h"

/* ---- arithmetic ---- */

WinRate win_rate(const double *gold_a, const double *gold_b, int n) {
    WinRate w = {0};
    for (int i = 0; i < n; i++) {
        if (gold_a[i] > gold_b[i]) w.wins++;
        else if (gold_a[i] < gold_b[i]) w.losses++;
        else w.ties++;
    }
    w.rate = n ? (w.wins + 0.5 * w.ties) / n : NAN;
    return w;
}

double kl_best_of_n(int n) { return log((double)n) - (double)(n - 1) / n; }

void pair_agreement_add(PairAgreement *acc, const double *gold, const float *rm, int k, double margin) {
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            if (!(fabs(gold[i] - gold[j]) > margin)) continue;
            int better = gold[i] > gold[j] ? i : j, worse = better == i ? j : i;
            acc->pairs++;
            if (rm[better] > rm[worse]) acc->correct += 1;
            else if (rm[better] == rm[worse]) acc->correct += 0.5;
        }
}

double pair_agreement_rate(const PairAgreement *acc) { return acc->pairs ? acc->correct / acc->pairs : NAN; }

int best_of_first(const float *rm, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (rm[i] > rm[best]) best = i;
    return best;
}

/* ---- running models ---- */

void answer_logprobs(Model *m, const RenderedPrompts *p, const Generation *answers, int k, float temperature, float *logp) {
    Rollout r = rollout_of_generations(p->n, p->tokens, p->lens, answers, k);
    int *idx = xmalloc(sizeof(int) * (size_t)LMF_MAX(r.n, 1));
    for (int s = 0; s < r.n; s++) idx[s] = s;
    float *token_logp = xmalloc(sizeof(float) * (size_t)LMF_MAX(rollout_tokens(&r), 1));
    rollout_logprobs(m, &r, idx, r.n, temperature, 8192, token_logp, NULL);
    for (int s = 0; s < r.n; s++) {
        double sum = 0;
        for (int t = r.offset[s]; t < r.offset[s + 1]; t++) sum += token_logp[t];
        logp[s] = (float)sum;
    }
    free(token_logp);
    free(idx);
    rollout_free(&r);
}

void answer_scores(Model *rm, const RenderedPrompts *p, const Generation *answers, int k, float *scores) {
    Rollout r = rollout_of_generations(p->n, p->tokens, p->lens, answers, k);
    rollout_scores(rm, &r, scores);
    rollout_free(&r);
}
