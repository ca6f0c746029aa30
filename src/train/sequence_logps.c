/* sequence_logps.c — see sequence_logps.h. */
#include "sequence_logps.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "dpo_loss.h"

static void reserve(SequenceLogps *s, size_t n) {
    if (n <= s->cap) return;
    free(s->logp);
    s->logp = xalloc_floats(3 * n);
    s->lse = s->logp + n;
    s->dlogp = s->logp + 2 * n;
    s->cap = n;
}

void sequence_logps_forward(SequenceLogps *s, const Model *m, const Batch *b, const SeqPlace *places, int n,
                            double *sums) {
    int N = b->B * b->T;
    reserve(s, (size_t)N);
    logprob_forward(m->act.out, b->targets, N, config_out_width(&m->cfg), 1.0f, s->logp, s->lse, NULL);
    sequence_logp_sums(s->logp, b->T, places, n, sums);
}

void sequence_logps_backward(SequenceLogps *s, Model *m, const Batch *b, const SeqPlace *places, int n,
                             const double *dsums) {
    int N = b->B * b->T;
    memset(s->dlogp, 0, sizeof(float) * (size_t)N);
    for (int i = 0; i < n; i++) { /* the tokens outside every sequence have no target: logprob_backward zeroes them */
        float *row = s->dlogp + (size_t)places[i].row * b->T + places[i].start;
        for (int t = 0; t < places[i].len; t++) row[t] = (float)dsums[i];
    }
    logprob_backward(m->act.out, b->targets, s->dlogp, s->lse, N, config_out_width(&m->cfg), 1.0f);
}

void sequence_logps_free(SequenceLogps *s) {
    free(s->logp);
    *s = (SequenceLogps){0};
}
