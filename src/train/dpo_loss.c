/* dpo_loss.c — see dpo_loss.h. */
#include "dpo_loss.h"

#include <math.h>
#include <string.h>

#include "../base/util.h"

DpoLossConfig dpo_loss_defaults(void) { return (DpoLossConfig){DPO_LOSS_SIGMOID, 0.1, 0.0, 0.0}; }

DpoLossKind dpo_loss_parse(const char *name) {
    if (strcmp(name, "sigmoid") == 0) return DPO_LOSS_SIGMOID;
    if (strcmp(name, "ipo") == 0) return DPO_LOSS_IPO;
    die("--loss %s: expected sigmoid (DPO) or ipo", name);
}

const char *dpo_loss_check(const DpoLossConfig *c) {
    if (!(c->beta > 0)) return "--beta must be positive";
    if (!(c->label_smoothing >= 0 && c->label_smoothing < 0.5))
        return "--label-smoothing must be in [0, 0.5): it is the probability that a label is wrong";
    if (c->label_smoothing > 0 && c->kind != DPO_LOSS_SIGMOID)
        return "--label-smoothing (conservative DPO) applies to the sigmoid loss only";
    if (!(c->nll_weight >= 0)) return "--nll-weight must be >= 0";
    return NULL;
}

/* log σ(x), without overflow for large |x|. */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

DpoPairLoss dpo_pair_loss(const DpoLossConfig *c, const DpoPairLogps *p) {
    DpoPairLoss r = {0};
    double chosen_gain = p->chosen - p->ref_chosen, rejected_gain = p->rejected - p->ref_rejected;
    double h = chosen_gain - rejected_gain, beta = c->beta;
    r.reward_chosen = beta * chosen_gain;
    r.reward_rejected = beta * rejected_gain;
    double dh; /* ∂loss/∂h; then ∂h/∂log π(y_w) = 1 and ∂h/∂log π(y_l) = −1 */
    if (c->kind == DPO_LOSS_IPO) {
        double gap = h - 1.0 / (2.0 * beta);
        r.loss = gap * gap;
        dh = 2.0 * gap;
    } else {
        double eps = c->label_smoothing;
        r.loss = -(1.0 - eps) * log_sigmoid(beta * h) - eps * log_sigmoid(-beta * h);
        /* d/dx −log σ(x) = −σ(−x) */
        dh = -(1.0 - eps) * beta * sigmoid(-beta * h) + eps * beta * sigmoid(beta * h);
    }
    r.dchosen = dh;
    r.drejected = -dh;
    if (c->nll_weight > 0) {
        if (p->chosen_tokens < 1) die("dpo: a chosen answer without tokens");
        r.loss += -c->nll_weight * p->chosen / p->chosen_tokens;
        r.dchosen += -c->nll_weight / p->chosen_tokens;
    }
    return r;
}

void sequence_logp_sums(const float *logp, int T, const SeqPlace *places, int n, double *sums) {
    for (int s = 0; s < n; s++) {
        const float *row = logp + (size_t)places[s].row * T + places[s].start;
        double sum = 0;
        for (int i = 0; i < places[s].len; i++) sum += row[i];
        sums[s] = sum;
    }
}
