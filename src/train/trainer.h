/* trainer.h — the one training loop every stage uses.
 *
 * A stage supplies an Objective, in one of two forms:
 *   - micro-batches (pretrain, sft, rm, dpo): where they come from, and how
 *     a micro-batch's loss turns into ∂loss/∂out (the head's output); the
 *     trainer does gradient accumulation, the backward pass, clipping and
 *     AdamW on the one model it trains;
 *   - whole steps (RL: ppo): take_step samples, scores and updates as the
 *     method says, calling trainer_update for each optimizer update of each
 *     trained part (PPO: the policy and the critic, each with its AdamW).
 * Everything else is here, the same for both: the learning-rate schedule,
 * evaluation, the progress line, metrics.jsonl, checkpoints, exact resume,
 * the run-folder lock, the settings check, and the final models.
 *
 * RUN_DIR layout:
 *   metrics.jsonl                one JSON object per step
 *   checkpoint-STEP/             trainer_state.json, and for each trained part its model files and
 *                                AdamW moments: at the top and optimizer.safetensors for a single
 *                                unnamed part; in NAME/ and NAME_optimizer.safetensors for part NAME
 *   model/                       the final model (Hugging Face layout); a named part's goes to its final_dir
 *   loss.svg                     the loss curves
 *
 * Under mpirun (the MPI build) every rank calls trainer_run with the same
 * arguments; the ranks share each step's micro-batches (data parallelism,
 * see trainer.c) and only rank 0 writes RUN_DIR. */
#ifndef LMF_TRAINER_H
#define LMF_TRAINER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "../data/batch.h"
#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "optimizer.h"
#include "step_stats.h"

typedef struct Trainer Trainer;

typedef struct {
    void *ctx;
    /* Fills the next micro-batch; returns 0 when the data has ended. */
    int (*next_batch)(void *ctx, Batch *b);
    /* After model_forward over b: returns b's summed loss and writes
     * ∂(loss / norm)/∂out over m->act.out, norm being the total weight of the
     * step's micro-batches. May add values to stats. */
    double (*loss_and_grad)(void *ctx, Model *m, const Batch *b, double norm, StepStats *stats);
    /* Held-out evaluation adding "eval/..." values; NULL for none. */
    void (*evaluate)(void *ctx, Model *m, StepStats *stats);
    /* The data position, for exact resume (NULL: nothing to save). */
    cJSON *(*save_state)(void *ctx);
    void (*load_state)(void *ctx, const cJSON *state);
    /* Comma-separated stats shown on the progress line ("dpo/acc,dpo/margin"). */
    const char *progress_keys;
    /* Instead of next_batch and loss_and_grad: takes one whole step itself
     * (PPO: a rollout and the epochs of updates over it), updating the parts
     * with trainer_update; step is the number of steps done before it.
     * Returns the tokens it trained on, or -1 when its data has ended. Its
     * stats are the step's metrics: the trainer adds no loss, lr or
     * grad_norm of its own. */
    long (*take_step)(void *ctx, Trainer *t, long step, StepStats *stats);
    /* A take_step objective that runs under mpirun: every rank takes the step on its share of the work, with the
     * same stats on every rank, and trainer_update sums the parts' gradients over the ranks (0: one process). */
    int data_parallel;
} Objective;

/* A model trained with its own AdamW, saved in each checkpoint and at the end. */
typedef struct {
    const char *name;      /* checkpoint-STEP/NAME/ and NAME_optimizer.safetensors */
    const char *final_dir; /* RUN_DIR/final_dir gets the final model */
    Model *model;
    OptimConfig optim;     /* optim.lr is the schedule's peak for this part */
    /* Hugging Face checkpoint I/O; NULL: model_dir_save with the tokenizer, model_dir_load_params */
    void (*save)(void *ctx, const char *dir);
    void (*load)(void *ctx, const char *dir);
    void *ctx;
    /* What is trained: NULL for the whole model; LoRA gives its adapter's parameters (the base stays frozen) */
    ParamSet (*trainable)(void *ctx);
} TrainPart;

typedef struct {
    const char *stage;        /* "pretrain", "sft", ...: recorded in trainer_state.json */
    const char *run_dir;
    long max_steps;           /* optimizer steps; the run also ends when the data does */
    int grad_accum;           /* micro-batches per optimizer step */
    OptimConfig optim;
    Schedule schedule;
    long eval_every;          /* 0: only at the end */
    int eval_at_start;        /* also evaluate the starting model, logged as step 0 (not on resume) */
    long save_every;          /* 0: only at the end */
    int keep_checkpoints;     /* the newest checkpoints kept (>= 1) */
    int resume;               /* continue from the newest checkpoint in run_dir */
    const char *plot_keys;    /* metrics drawn in loss.svg, e.g. "loss,eval/loss"; NULL: no loss.svg */
    const Tokenizer *tokenizer; /* saved with each checkpoint */
    /* What is trained and how it is saved: by default the whole model, as a
     * Hugging Face checkpoint. LoRA replaces these with its adapter's. */
    ParamSet (*trainable)(void *ctx);
    void (*save_model)(void *ctx, const char *dir);
    void (*load_model)(void *ctx, const char *dir);
    void *model_ctx;
    /* Under MPI: 1 shards the AdamW state and update over the ranks (ZeRO
     * stage 1), 0 keeps a full copy on each. No effect on one process. */
    int zero_stage;
    /* For a take_step objective: the models it trains (all of each), in
     * place of m, optim, trainable, save_model and load_model. */
    const TrainPart *parts;
    int n_parts;
    /* A run inside another command's (PPO's reward-model refreshes train a
     * reward model in process): the command line's settings are the outer
     * command's, so none are saved or checked, and Ctrl-C's hint stays the
     * outer run's. */
    int nested;
} TrainConfig;

/* Defaults: 1 micro-batch per step, optim_defaults(), cosine schedule,
 * keep 2 checkpoints, plot "loss,eval/loss", no ZeRO. */
TrainConfig train_config_defaults(void);

typedef struct {
    long steps;          /* optimizer steps done in total */
    double last_loss;    /* mean training loss of the last step */
    StepStats last_eval; /* the final evaluation */
} TrainResult;

/* m: the model a micro-batch objective trains; NULL with cfg->parts (evaluate then gets NULL). */
TrainResult trainer_run(Model *m, const Objective *obj, const TrainConfig *cfg);

/* For take_step. Clips part's gradients (summed over the ranks first, under
 * mpirun) and takes an AdamW step at the scheduled learning rate of this
 * step; returns the gradient norm. */
float trainer_update(Trainer *t, int part);
/* Zeroes part's gradients, before the micro-batches of an update add theirs. */
void trainer_zero_grads(Trainer *t, int part);
/* Saves a checkpoint of the steps done so far, as at the end of the last
 * one: take_step calls it before it changes anything, ahead of a risky
 * action (PPO's annotator) that --resume should be able to redo. */
void trainer_checkpoint(Trainer *t);

#endif
