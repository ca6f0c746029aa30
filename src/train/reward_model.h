/* reward_model.h — training and reading a reward model: the transformer with
 * a scalar head (score.weight), read at the last token of prompt + response.
 *
 * Training (InstructGPT's recipe): a micro-batch holds whole prompts, each
 * with its K responses (packed or padded, see packing.h), so the C(K,2)
 * pairs of a prompt are scored from K forward passes in the same step. Each
 * prompt's loss is the mean over its pairs, and the step's loss the mean
 * over its prompts: every prompt counts the same, whether it brings one
 * chosen/rejected pair or a ranking of nine responses (36 pairs), as in
 * InstructGPT's loss, which divides each prompt's sum by C(K,2). Batch.weight
 * is the number of prompts. ∂loss/∂score goes to the scored (last) tokens,
 * zero elsewhere, and the shared backward pass does the rest. */
#ifndef LMF_REWARD_MODEL_H
#define LMF_REWARD_MODEL_H

#include <stdint.h>

#include "../data/rm_data.h"
#include "trainer.h"

/* Scores each sequence at its last token: batched, packed forward passes
 * without backward. scores has room for n. Dies unless rm has a score head.
 * A response is scored as in training when its sequence ends at the
 * response's closing <|im_end|> (seq_set_add_exchanges renders it so; a
 * generation that stops at <|im_end|> ends there too). */
void rm_score_sequences(Model *rm, const SeqRef *seqs, int n, float *scores);

/* Figures over some prompts of a preference set. */
typedef struct {
    double loss;     /* mean over prompts of the mean loss of their pairs */
    double accuracy; /* share of all pairs whose better response scores higher (ties 1/2) */
    double margin;   /* mean over all pairs of r_better − r_worse */
    long pairs;
    int prompts;
} RmEval;

RmEval rm_evaluate(Model *rm, const PreferenceSet *data, const int *groups, int n_groups);

typedef struct {
    const PreferenceSet *data;
    const int *groups; /* the training prompts (groups of data) */
    int n_groups;
    const PreferenceSet *eval_data; /* held-out prompts; n_eval 0: no evaluation */
    const int *eval_groups;
    int n_eval;
    int prompts_per_batch; /* prompts in a micro-batch */
    int seq_len;           /* T: row length, at least the longest sequence */
    int packed;            /* several sequences per row (1) or one, padded (0) */
    int epochs;            /* passes over the training prompts; the data ends after them */
    uint64_t seed;         /* of the order of the prompts, reshuffled every epoch */
} RmTrainData;

typedef struct RmObjective RmObjective;

RmObjective *rm_objective_new(const RmTrainData *d);
void rm_objective_free(RmObjective *o);
/* The trainer's callbacks (next_batch, loss_and_grad, evaluate, resume
 * state), all with o as their context. Reports rm/accuracy and rm/margin
 * (averaged over the step's prompts) and eval/loss, eval/accuracy,
 * eval/margin. */
Objective rm_objective(RmObjective *o);
/* Optimizer steps that cover the epochs at grad_accum micro-batches a step. */
long rm_objective_steps(const RmObjective *o, int grad_accum);

#endif
