/* selection.c — see selection.h. */
#include "selection.h"

#include "../base/rng.h"
#include "../base/util.h"

int *selection_make(int n, int limit, int shuffle, uint64_t seed, int *n_used) {
    if (limit < 0) die("--limit must be 0 (all) or positive, not %d", limit);
    int *which = xmalloc(sizeof(int) * (size_t)LMF_MAX(n, 1));
    for (int i = 0; i < n; i++) which[i] = i;
    if (shuffle) {
        Rng rng;
        /* a stream of its own, apart from the sampling seed's */
        rng_seed(&rng, seed * 7919ULL + 3);
        rng_shuffle_ints(&rng, which, n);
    }
    *n_used = limit > 0 && limit < n ? limit : n;
    return which;
}
