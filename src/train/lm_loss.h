/* lm_loss.h — next-token cross-entropy, the objective of pretraining and SFT. */
#ifndef LMF_LM_LOSS_H
#define LMF_LM_LOSS_H

#include "../model/model.h"

/* After model_forward: the summed cross-entropy of the counted tokens (targets
 * (N) >= 0; -100 or any negative value is not counted), and their number. */
double lm_loss_sum(Model *m, const int *targets, long *n_counted);
/* Like lm_loss_sum, and also writes ∂loss/∂logits over the logits for a loss
 * normalised by `norm` (the counted tokens of the whole accumulated batch),
 * ready for model_backward. */
double lm_loss_sum_and_grad(Model *m, const int *targets, double norm, long *n_counted);

#endif
