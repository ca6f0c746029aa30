/* grad_sync.h — summing the gradients of one optimizer step over the ranks
 * of a data-parallel run (dist.h), overlapped with the backward pass.
 *
 * Each rank's gradient buffer holds the sum over its own micro-batches,
 * already divided by the step's global weight, so their sum over the ranks
 * is the gradient of the step's mean loss. With a full optimizer on every
 * rank the sum is an all-reduce; with a ZeRO-1 optimizer (AdamW sharded)
 * each rank needs only its own piece, and the sum is a reduce-scatter.
 *
 * The buffer is cut into buckets: one per layer, when the layer's tensors
 * are contiguous in the ParamSet (as in model.h's layout and LoRA's), plus
 * what lies between them (embedding, final norm, head). During the backward
 * pass of a rank's last micro-batch, model_backward reports each layer as
 * its gradients become final, and that layer's sum starts at once
 * (non-blocking) while the layers below are differentiated. The rest starts
 * after the pass. Every rank starts the buckets in the same order (layers
 * from the top down, then the rest), including a rank with no micro-batch
 * in a short last step, so the collectives match.
 *
 * LMF_OVERLAP=0 in the environment starts every bucket after the backward
 * pass instead: the same buckets in the same order, so comparing the two
 * measures the overlap alone. With one rank nothing is exchanged. */
#ifndef LMF_GRAD_SYNC_H
#define LMF_GRAD_SYNC_H

#include "../model/model.h"
#include "optimizer.h"

typedef struct GradSync GradSync;

/* Installs the per-layer hook on m (for ps's gradients, reduced for opt). */
GradSync *grad_sync_new(Model *m, const ParamSet *ps, const AdamW *opt);
/* Call just before the backward pass of this rank's last micro-batch of the
 * step: from then on each finished layer starts its sum. */
void grad_sync_arm(GradSync *g);
/* Starts whatever has not started yet and waits for every sum; returns the
 * seconds spent waiting (the communication not hidden behind compute). */
double grad_sync_finish(GradSync *g);
/* Removes the hook from the model. */
void grad_sync_free(GradSync *g);

#endif
