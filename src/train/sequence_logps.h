/* sequence_logps.h — the summed log-probability of whole sequences (answers)
 * of a packed batch, and its way back to the logits: where an objective over
 * answers, such as DPO's, meets the model.
 *
 *   SequenceLogps s = {0};
 *   model_forward(m, b->tokens, b->doc_start, b->B, b->T, 1);
 *   sequence_logps_forward(&s, m, b, places, n, sums);    // sums[i] = log π(sequence i)
 *   ... dsums[i] = ∂loss/∂sums[i] ...
 *   sequence_logps_backward(&s, m, b, places, n, dsums);  // then model_backward(m)
 *   sequence_logps_free(&s);
 *
 * Only the tokens with a target count (the answer's, as the data marks them). */
#ifndef LMF_SEQUENCE_LOGPS_H
#define LMF_SEQUENCE_LOGPS_H

#include <stddef.h>

#include "../data/batch.h"
#include "../data/packing.h"
#include "../model/model.h"

/* Per-token buffers, grown as needed; zero-initialise. */
typedef struct {
    float *logp, *lse, *dlogp; /* (N) each */
    size_t cap;
} SequenceLogps;

/* After model_forward over b: sums[i] = the summed log-probs of the n
 * sequences at places[i] (pack_sequences). Keeps what the backward needs. */
void sequence_logps_forward(SequenceLogps *s, const Model *m, const Batch *b, const SeqPlace *places, int n,
                            double *sums);
/* Overwrites m->act.out with ∂loss/∂logits, given dsums[i] = ∂loss/∂sums[i]
 * for the sums of the last sequence_logps_forward (each counted token of
 * sequence i has ∂loss/∂logp = dsums[i]). */
void sequence_logps_backward(SequenceLogps *s, Model *m, const Batch *b, const SeqPlace *places, int n,
                             const double *dsums);
void sequence_logps_free(SequenceLogps *s);

#endif
