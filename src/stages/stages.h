/* stages.h — the subcommands of lmforge, one per stage of the pipeline.
 * Each is `int cmd_NAME(int argc, char **argv)`, argv[0] being its name. */
#ifndef LMF_STAGES_H
#define LMF_STAGES_H

#include "../base/args.h"
#include "../train/train_options.h"

/* the stages, in pipeline order */
int cmd_data(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_annotate(int argc, char **argv);
int cmd_label(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_ppo(int argc, char **argv);
int cmd_grpo(int argc, char **argv);
int cmd_rs(int argc, char **argv);
int cmd_dpo(int argc, char **argv);
int cmd_pairs_from_data(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
/* using a model */
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* The sampling flags that `lmforge sample` and `lmforge rs` share, as rows of
 * their Option tables (args.h); so is a SampleOptions *, seed an int *. */
#define SAMPLE_ANSWER_OPTIONS(so, seed)                                             \
    OPT_INT("top-k", &(so)->top_k, "sample among the k likeliest tokens (0: off)"), \
    OPT_FLOAT("top-p", &(so)->top_p, "nucleus sampling threshold (1: off)"),        \
    OPT_INT("max-new-tokens", &(so)->max_new_tokens, "longest answer"),             \
    OPT_INT("batch-size", &(so)->batch_size, "sequences decoded together"),         \
    OPT_INT("seed", (seed), "sampling seed")

/* rm.c: training a reward model, what `lmforge rm` does with its flags
 * (PPO's reward-model refreshes call it in process). */
typedef struct {
    const char *init, *tokenizer;
    OptList norm_files;
    int norm_max;
    float margin;
    TrainOptions train; /* the flags every training stage shares */
    int nested;         /* called inside another command (trainer.h's TrainConfig.nested) */
} RmTrainOptions;
/* The flags' defaults. */
RmTrainOptions rm_train_defaults(void);
/* Trains into o->out: checkpoints, metrics.jsonl, and model/ with the reward statistics. */
void rm_train(const RmTrainOptions *o);

/* --limit N and --shuffle, on every command that reads prompts or records
 * (data/selection.h); `what` names the records ("prompts"). The shuffle
 * draws from --seed. */
#define SELECTION_OPTIONS(limit, shuffle, what)                                    \
    OPT_INT("limit", (limit), "use only the first N " what " (0: all)"),          \
    OPT_FLAG("shuffle", (shuffle), "with --limit: N " what " drawn at random (by --seed) instead of the first")

/* rs.c: the index of the best (best = 1) or worst of k scores; ties go to the earlier one. */
int rs_pick(const float *scores, int k, int best);

#endif
