/* dpo_loss.h — the preference losses of Direct Preference Optimization and
 * its variants, as pure functions of summed response log-probabilities.
 *
 * For a prompt x with a chosen answer y_w and a rejected answer y_l, the
 * policy π and the frozen reference π_ref, the implicit reward of an answer
 * is r(y) = β · (log π(y|x) − log π_ref(y|x)), and
 *   h = [log π(y_w) − log π_ref(y_w)] − [log π(y_l) − log π_ref(y_l)]
 * is how much more than the reference the policy prefers y_w. The losses:
 *   sigmoid (DPO, Rafailov et al. 2023)  −log σ(β h)
 *   conservative DPO (label smoothing ε, Mitchell 2023: a label is wrong with
 *     probability ε)                    −(1 − ε) log σ(β h) − ε log σ(−β h)
 *   IPO (Azar et al. 2023)              (h − 1/(2β))²
 * plus, optionally, α · NLL of the chosen answer per token
 * (−log π(y_w|x) / |y_w|; Pang et al. 2024, Llama 3.1 uses α = 0.2), which
 * keeps the chosen answer's likelihood from falling.
 *
 * Log-probabilities are sums over the answer's tokens only (the prompt is
 * context, not something the policy is judged on). */
#ifndef LMF_DPO_LOSS_H
#define LMF_DPO_LOSS_H

#include "../data/packing.h"

typedef enum { DPO_LOSS_SIGMOID, DPO_LOSS_IPO } DpoLossKind;

typedef struct {
    DpoLossKind kind;
    double beta;            /* β: how far the policy may move from the reference (0.1) */
    double label_smoothing; /* ε of conservative DPO (sigmoid loss only); 0 = plain DPO */
    double nll_weight;      /* α of the NLL term on the chosen answer; 0 = none */
} DpoLossConfig;

/* β 0.1, sigmoid, no smoothing, no NLL term. */
DpoLossConfig dpo_loss_defaults(void);
/* Parses "sigmoid" or "ipo"; dies naming --loss otherwise. */
DpoLossKind dpo_loss_parse(const char *name);
/* NULL when the configuration is usable, else a one-line reason. */
const char *dpo_loss_check(const DpoLossConfig *c);

/* One pair's summed answer log-probabilities. */
typedef struct {
    double chosen, rejected;         /* log π(y_w|x), log π(y_l|x) */
    double ref_chosen, ref_rejected; /* the same under the reference */
    int chosen_tokens;               /* |y_w|, counted tokens, for the NLL term */
} DpoPairLogps;

typedef struct {
    double loss;
    double dchosen, drejected;              /* ∂loss/∂log π(y_w), ∂loss/∂log π(y_l) */
    double reward_chosen, reward_rejected;  /* β (log π − log π_ref) of each answer */
} DpoPairLoss;

DpoPairLoss dpo_pair_loss(const DpoLossConfig *c, const DpoPairLogps *p);

/* sums[s] = the sum of logp (B, T) over the tokens of sequence s, placed at
 * places[s] by pack_sequences. logp holds 0 where no target is taken, so the
 * sum covers exactly the answer's tokens. */
void sequence_logp_sums(const float *logp, int T, const SeqPlace *places, int n, double *sums);

#endif
