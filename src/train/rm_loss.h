/* rm_loss.h — the reward model's losses, as pure functions of the scores.
 *
 * Bradley–Terry: the probability that response w is preferred to response l
 * is σ(r_w − r_l), so a comparison costs −log σ(r_w − r_l − m), with m an
 * optional margin (Llama 2: how much better w is said to be).
 *
 * A prompt with K responses ranked best to worst gives every pair with
 * different ranks: C(K,2) pairs when there are no ties (InstructGPT), one
 * pair for chosen/rejected data (Llama 2). Tied responses form no pair.
 * All pairs of one prompt are scored from its K scores together, and the
 * prompt's loss is the mean over its pairs. */
#ifndef LMF_RM_LOSS_H
#define LMF_RM_LOSS_H

#include "../data/comparisons.h"

/* Accumulated over pairs: how often and by how much the better response
 * scores higher. */
typedef struct {
    long pairs;
    double correct;    /* pairs with r_better > r_worse; an exact tie counts 1/2 */
    double margin_sum; /* Σ (r_better − r_worse) */
} RmPairStats;

/* −log σ(x) = log(1 + e^−x), without overflow for any x. */
double rm_neg_log_sigmoid(double x);

/* The mean over the n_pairs pairs of −log σ(r_better − r_worse − margin),
 * scores (K) being one prompt's scores. If dscores (K) is not NULL, adds
 * weight · ∂(mean)/∂scores to it. If stats is not NULL, adds the pairs to it.
 * n_pairs must be at least 1. */
double rm_pairs_loss(const float *scores, const RmPair *pairs, int n_pairs, double weight, float *dscores,
                     RmPairStats *stats);

#endif
