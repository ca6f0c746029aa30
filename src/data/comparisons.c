/* comparisons.c — see comparisons.h. */
#include "comparisons.h"

int rm_ranking_pairs(const int *ranks, int K, float margin, RmPair *pairs) {
    int n = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            if (ranks[i] < ranks[j]) pairs[n++] = (RmPair){i, j, margin};
    return n;
}
