/* lm_loss.h — next-token cross-entropy, the objective of pretraining and SFT. */
#ifndef LMF_LM_LOSS_H
#define LMF_LM_LOSS_H

#include "../data/sft_data.h"
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

/* Evaluation on a token stream (perplexity): tokens[0..n) cut into
 * consecutive windows of T + 1 tokens, each predicting its last T (the last
 * window may be shorter), run `batch` windows per forward pass. Returns the
 * summed cross-entropy; *n_counted gets the number of predicted tokens.
 * on_batch, if not NULL, is called after each forward pass with the
 * windows done so far, for a progress line. */
typedef void (*LmWindowsProgress)(void *ctx, long windows_done, long n_windows, double loss_sum, long counted);
double lm_loss_windows(Model *m, const int *tokens, long n, int T, int batch, long *n_counted,
                       LmWindowsProgress on_batch, void *ctx);

/* Evaluation on SFT examples (sft_data.h): examples which[0..n) of d (which
 * NULL: the first n), `batch` per forward pass laid out by sft_make_batch
 * (rows of max_row tokens, packed or padded with pad_id). Returns the summed
 * cross-entropy of their trained tokens (the answers); *n_counted gets their
 * number. SFT's held-out loss is sum / *n_counted; `lmforge evaluate
 * --references` reports minus it. */
double lm_loss_examples(Model *m, const SftData *d, const int *which, int n, int batch, int max_row, int packed,
                        int pad_id, long *n_counted);

#endif
