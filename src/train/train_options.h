/* train_options.h — the flags every training stage shares (pretrain, sft, rm,
 * dpo), declared once: one set of names, help texts and defaults, as TRL's
 * TrainingArguments sits under each method's config. A stage splices the
 * rows into its own table and may change a default before parsing (the
 * learning rate, the batch, where the run goes), as a TRL config does:
 *
 *   TrainOptions t = train_options_defaults();
 *   t.out = "runs/dpo";
 *   t.lr = 1e-5f;
 *   Option opts[] = {OPT_STR("init", &init, "..."), TRAIN_DATA_OPTIONS(&t, "pairs JSONL (required)"),
 *                    TRAIN_OPTIONS(&t, "pairs", "peak learning rate"), OPT_END};
 *   args_parse("dpo", ...);
 *   train_options_check(&t, "dpo");
 *   TrainConfig tc = train_options_config(&t, "dpo", steps);
 *
 * The renamed flags keep their old spellings for one release (base/args.h's
 * OPT_ALIAS): --clip (now --grad-clip), --max-len (--seq-len), --pack
 * (--packing); pretrain's --val and --val-fraction (--eval, --eval-fraction). */
#ifndef LMF_TRAIN_OPTIONS_H
#define LMF_TRAIN_OPTIONS_H

#include "../base/args.h"
#include "trainer.h"

typedef struct {
    const char *out, *schedule;
    OptList data, eval;   /* pretrain's training data are its positional arguments */
    float eval_fraction;  /* held out of the training data when no --eval */
    int seq_len;          /* tokens per sequence (pretrain: per window); 0: the model's context */
    int packing;          /* several sequences per row, block-diagonal mask */
    int batch, grad_accum, epochs;
    long steps;           /* 0: as many as the epochs take (pretrain has no epochs) */
    float lr, min_lr_ratio, weight_decay, beta2, grad_clip;
    long warmup;          /* steps; -1: warmup_ratio of the steps */
    float warmup_ratio;
    long eval_every, save_every; /* 0: only at the end; -1: 10 (eval) or 4 (save) times a run */
    int keep, seed, resume;
    int resume_override;  /* read back by --resume through the settings (train/run_dir.h) */
} TrainOptions;

/* The shared defaults: cosine schedule, warm-up 5 % of the steps, decay to 0.1 lr, AdamW beta2 0.95 and no weight
 * decay, gradient norm clipped to 1, 1 epoch, packing on, 5 % held out, 2 checkpoints kept, seed 1. */
TrainOptions train_options_defaults(void);

/* The optimizer, schedule and checkpoint rows. unit names what --batch counts ("pairs"); lr_help says what
 * --lr is for the stage. Both are string literals. */
#define TRAIN_OPTIONS(t, unit, lr_help)                                                                              \
    OPT_STR("out", &(t)->out, "run directory: checkpoints, metrics.jsonl, loss.svg, model/"),                        \
        OPT_INT("batch", &(t)->batch, unit " per micro-batch"),                                                      \
        OPT_INT("grad-accum", &(t)->grad_accum, "micro-batches per optimizer step (per rank under MPI)"),            \
        OPT_FLOAT("lr", &(t)->lr, lr_help),                                                                          \
        OPT_STR("schedule", &(t)->schedule, "learning-rate schedule: constant, cosine or linear"),                   \
        OPT_LONG("warmup", &(t)->warmup, "warm-up steps (-1: --warmup-ratio of the steps)"),                         \
        OPT_FLOAT("warmup-ratio", &(t)->warmup_ratio, "warm-up as a share of the steps, when --warmup is -1"),       \
        OPT_FLOAT("min-lr-ratio", &(t)->min_lr_ratio, "the decay ends at lr * this"),                                \
        OPT_FLOAT("weight-decay", &(t)->weight_decay, "AdamW weight decay (matrices only)"),                         \
        OPT_FLOAT("beta2", &(t)->beta2, "AdamW beta2"),                                                              \
        OPT_FLOAT("grad-clip", &(t)->grad_clip, "clip the gradient norm to this (0: off)"),                          \
        OPT_LONG("eval-every", &(t)->eval_every, "evaluate every N steps and at the end (0: only at the end; -1: "   \
                                                 "10 times a run)"),                                                 \
        OPT_LONG("save-every", &(t)->save_every, "checkpoint every N steps and at the end (0: only at the end; -1: " \
                                                 "4 times a run)"),                                                  \
        OPT_INT("keep", &(t)->keep, "checkpoints kept"),                                                             \
        OPT_INT("seed", &(t)->seed, "seed of the initialisation, the data order and the held-out split"),           \
        OPT_FLAG("resume", &(t)->resume, "continue the run in --out from its newest checkpoint"),                    \
        OPT_FLAG("resume-override", &(t)->resume_override, "--resume even with settings other than the run's"),     \
        OPT_ALIAS("clip", "grad-clip")

/* The data rows of the stages that learn from records in epochs (sft, rm, dpo); data_help says what --data holds. */
#define TRAIN_DATA_OPTIONS(t, data_help)                                                                             \
    OPT_LIST("data", &(t)->data, data_help),                                                                         \
        OPT_LIST("eval", &(t)->eval, "held-out data, as --data (default: --eval-fraction of --data)"),               \
        OPT_FLOAT("eval-fraction", &(t)->eval_fraction, "share of --data held out when no --eval is given"),         \
        OPT_INT("seq-len", &(t)->seq_len, "longest sequence in tokens, prompt + answer (0: the model's context)"),    \
        OPT_FLAG("packing", &(t)->packing, "pack sequences into rows with a block-diagonal mask (--no-packing: one " \
                                           "padded row each)"),                                                      \
        OPT_INT("epochs", &(t)->epochs, "passes over the training data"),                                            \
        OPT_LONG("steps", &(t)->steps, "optimizer steps (0: as many as --epochs take)"),                            \
        OPT_ALIAS("max-len", "seq-len"), OPT_ALIAS("pack", "packing")

/* Dies, naming the flag, on a value no stage can use. */
void train_options_check(const TrainOptions *t, const char *stage);

/* The trainer's configuration for a run of `steps` optimizer steps. The stage adds what is its own (tokenizer,
 * plot keys, LoRA's save hooks). */
TrainConfig train_options_config(const TrainOptions *t, const char *stage, long steps);

#endif
