/* lm_loss.c — cross-entropy = −log p(target), through the shared log-prob kernels. */
#include "lm_loss.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"

static double loss_and_maybe_grad(Model *m, const int *targets, double norm, long *n_counted, int want_grad) {
    const int N = m->act.B * m->act.T, V = config_out_width(&m->cfg);
    if (m->cfg.head != HEAD_LM) die("cross-entropy needs a model with a language-model head");
    float *logp = xalloc_floats((size_t)N * 3), *lse = logp + N, *dlogp = logp + 2 * (size_t)N;
    logprob_forward(m->act.out, targets, N, V, 1.0f, logp, lse, NULL);
    double sum = 0;
    long count = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) continue;
        if (targets[n] >= V) die("target token %d is outside the vocabulary (size %d)", targets[n], V);
        sum -= logp[n];
        count++;
        dlogp[n] = (float)(-1.0 / norm);
    }
    if (want_grad) logprob_backward(m->act.out, targets, dlogp, lse, N, V, 1.0f);
    free(logp);
    if (n_counted) *n_counted = count;
    return sum;
}

double lm_loss_sum(Model *m, const int *targets, long *n_counted) {
    return loss_and_maybe_grad(m, targets, 1.0, n_counted, 0);
}

double lm_loss_sum_and_grad(Model *m, const int *targets, double norm, long *n_counted) {
    return loss_and_maybe_grad(m, targets, norm, n_counted, 1);
}

double lm_objective_loss_and_grad(void *ctx, Model *m, const Batch *b, double norm, StepStats *stats) {
    (void)ctx;
    (void)stats;
    long count;
    return lm_loss_sum_and_grad(m, b->targets, norm, &count);
}

double lm_loss_windows(Model *m, const int *tokens, long n, int T, int batch, long *n_counted,
                       LmWindowsProgress on_batch, void *ctx) {
    /* window w: inputs tokens[wT .. wT+T), targets one further */
    const long n_windows = (n - 2) / T + 1;
    int *inputs = xmalloc(sizeof(int) * (size_t)batch * T), *targets = xmalloc(sizeof(int) * (size_t)batch * T);
    double loss_sum = 0;
    long counted = 0;
    for (long w = 0; w < n_windows;) {
        long start = w * T;
        int len = (int)LMF_MIN((long)T, n - 1 - start);
        /* full windows go together; the short last one alone */
        int rows = len < T ? 1 : (int)LMF_MIN((long)batch, (n - 1) / T - w);
        for (int r = 0; r < rows; r++) {
            memcpy(inputs + (size_t)r * len, tokens + start + (long)r * T, sizeof(int) * (size_t)len);
            memcpy(targets + (size_t)r * len, tokens + start + (long)r * T + 1, sizeof(int) * (size_t)len);
        }
        long c;
        model_forward(m, inputs, NULL, rows, len, 0);
        loss_sum += lm_loss_sum(m, targets, &c);
        counted += c;
        w += rows;
        if (on_batch) on_batch(ctx, w, n_windows, loss_sum, counted);
    }
    free(inputs);
    free(targets);
    *n_counted = counted;
    return loss_sum;
}

double lm_loss_examples(Model *m, const SftData *d, const int *which, int n, int batch, int max_row, int packed,
                        int pad_id, long *n_counted) {
    Batch b = {0};
    int *idx = xmalloc(sizeof(int) * (size_t)LMF_MAX(batch, 1));
    double sum = 0;
    long count = 0;
    for (int start = 0; start < n; start += batch) {
        int k = LMF_MIN(batch, n - start);
        for (int i = 0; i < k; i++) idx[i] = which ? which[start + i] : start + i;
        sft_make_batch(&b, d, idx, k, max_row, packed, pad_id);
        model_forward(m, b.tokens, b.doc_start, b.B, b.T, 0);
        long counted;
        sum += lm_loss_sum(m, b.targets, &counted);
        count += counted;
    }
    free(idx);
    batch_free(&b);
    *n_counted = count;
    return sum;
}
