/* trainer.h — the one training loop every stage uses.
 *
 * A stage supplies an Objective: where its micro-batches come from, and how
 * a micro-batch's loss turns into ∂loss/∂out (the head's output). Everything
 * generic is here: gradient accumulation, the backward pass, clipping, AdamW,
 * the learning-rate schedule, evaluation, the progress line, metrics.jsonl,
 * checkpoints, exact resume, and the final model and loss plot.
 *
 * RUN_DIR layout:
 *   metrics.jsonl                one JSON object per optimizer step
 *   checkpoint-STEP/             model files + trainer_state.json + optimizer.safetensors
 *   model/                       the final model (Hugging Face layout)
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
} Objective;

typedef struct {
    const char *stage;        /* "pretrain", "sft", ...: recorded in trainer_state.json */
    const char *run_dir;
    long max_steps;           /* optimizer steps; the run also ends when the data does */
    int grad_accum;           /* micro-batches per optimizer step */
    OptimConfig optim;
    Schedule schedule;
    long eval_every;          /* 0: only at the end */
    long save_every;          /* 0: only at the end */
    int keep_checkpoints;     /* the newest checkpoints kept (>= 1) */
    int resume;               /* continue from the newest checkpoint in run_dir */
    const char *plot_keys;    /* metrics drawn in loss.svg, e.g. "loss,eval/loss" */
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
} TrainConfig;

/* Defaults: 1 micro-batch per step, optim_defaults(), cosine schedule,
 * keep 2 checkpoints, plot "loss,eval/loss", no ZeRO. */
TrainConfig train_config_defaults(void);

typedef struct {
    long steps;          /* optimizer steps done in total */
    double last_loss;    /* mean training loss of the last step */
    StepStats last_eval; /* the final evaluation */
} TrainResult;

TrainResult trainer_run(Model *m, const Objective *obj, const TrainConfig *cfg);

#endif
