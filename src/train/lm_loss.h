/* lm_loss.h — next-token cross-entropy, the objective of pretraining and SFT. */
#ifndef LMF_LM_LOSS_H
#define LMF_LM_LOSS_H

#include "../model/model.h"
#include "trainer.h"

/* After model_forward: the summed cross-entropy of the counted tokens (targets
 * (N) >= 0; -100 or any negative value is not counted), and their number. */
double lm_loss_sum(Model *m, const int *targets, long *n_counted);
/* Like lm_loss_sum, and also writes ∂loss/∂logits over the logits for a loss
 * normalised by `norm` (the counted tokens of the whole accumulated batch),
 * ready for model_backward. */
double lm_loss_sum_and_grad(Model *m, const int *targets, double norm, long *n_counted);

/* The Objective callback for next-token prediction (pretraining, SFT):
 * the batch's targets, normalised by the step's counted tokens. */
double lm_objective_loss_and_grad(void *ctx, Model *m, const Batch *b, double norm, StepStats *stats);

#endif
