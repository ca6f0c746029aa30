/* comparisons.h — human rankings as pairwise comparisons: the unit the
 * reward-model data is made of and its loss (train/rm_loss.h) consumes. */
#ifndef LMF_COMPARISONS_H
#define LMF_COMPARISONS_H

/* One comparison between two responses of the same prompt (indices into
 * that prompt's K responses). */
typedef struct {
    int better, worse;
    float margin; /* m in −log σ(r_better − r_worse − m) */
} RmPair;

/* ranks (K): the rank of each response, 0 = best; equal ranks are ties.
 * Writes a pair (i, j) for every i, j with ranks[i] < ranks[j] into pairs
 * (room for K(K−1)/2), each with the given margin; returns their number. */
int rm_ranking_pairs(const int *ranks, int K, float margin, RmPair *pairs);

#endif
