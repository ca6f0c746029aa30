/* report.h — the demo's report: every figure `lmforge demo-eval` measured,
 * written as RUN_DIR/report.md (tables, with the plots beside it in
 * plots/), as RUN_DIR/report.json (the same figures for programs), and as
 * a table on the terminal. */
#ifndef LMF_DEMO_REPORT_H
#define LMF_DEMO_REPORT_H

#include <stdio.h>

#include "../base/plot.h"
#include "evaluate.h"

/* One evaluated checkpoint. */
typedef struct {
    const char *name, *dir;
    double *family_gold;     /* (n_families) mean gold score of the greedy answers, per family */
    double gold;             /* over all held-out prompts */
    WinRate win;             /* greedy answers against the baseline's, prompt by prompt */
    double kl;               /* nats: mean over sampled answers of log π(y) − log π_baseline(y) */
    double sample_gold;      /* mean gold score of those sampled answers */
    double sample_rm;        /* and their mean reward-model score */
    double loss, perplexity; /* on the held-out text */
} CheckpointFigures;

/* A point of the over-optimisation plot: a policy at some KL from the
 * baseline, its gold score and its reward-model score. */
typedef struct {
    long x;    /* best-of-n: n; PPO: the iteration */
    double kl, gold, rm;
} PolicyPoint;

/* A step of the pipeline and its wall time (pipeline.jsonl). */
typedef struct {
    char *step;
    int round; /* 0 outside rounds */
    char *status;
    double seconds; /* NaN when it did not run in the pipeline's last invocation */
} StageTime;

typedef struct {
    /* what was evaluated */
    const char *baseline; /* name of the checkpoint win rates and KL are measured against */
    int n_families;
    const char **families;  /* (n_families) */
    int *family_prompts;    /* (n_families) held-out prompts per family */
    int n_prompts;          /* held-out prompts answered by every checkpoint */
    int kl_prompts, kl_samples, max_new_tokens;
    float temperature;      /* of the sampled answers */
    long ppl_tokens;
    CheckpointFigures *checkpoints;
    int n_checkpoints;
    const char **win_targets; /* checkpoints held to the win-rate target */
    int n_win_targets;
    /* the reward model against the gold judge */
    const char *reward_model;
    PairAgreement rm_agreement;
    PairAgreement *rm_family_agreement; /* (n_families) the same pairs, by family */
    int rm_prompts, rm_answers; /* held-out prompts, answers sampled from the baseline for each */
    /* best-of-n on the baseline's samples, and the PPO checkpoints */
    PolicyPoint *best_of_n;
    int n_best_of_n;
    double gold_mean, gold_sd, rm_mean, rm_sd; /* of the baseline's samples: the plot's units */
    PolicyPoint *ppo;
    int n_ppo;
    /* wall times */
    StageTime *stages;
    int n_stages;
    double eval_seconds;
    double time_target_minutes;
    /* plots, as files in the report's folder */
    const char **plots, **plot_captions;
    int n_plots;
} DemoReport;

/* One series per (run, key): metrics.jsonl values of key against the step.
 * Writes the SVG and returns 1, or returns 0 (writing nothing) when none of
 * the runs has a value of its key. */
typedef struct {
    const char *run_dir, *key, *label;
} CurveSpec;
int plot_curves(const char *svg_path, const char *title, const char *ylabel, const CurveSpec *curves, int n,
                PlotScale scale);

/* The over-optimisation plot: gold and reward-model scores of best-of-n and
 * of the PPO checkpoints against their KL from the baseline, both in
 * standard deviations of the baseline's samples from their mean. */
void plot_overoptimization(const char *svg_path, const DemoReport *r);

void report_write_markdown(const char *path, const DemoReport *r);
void report_write_json(const char *path, const DemoReport *r);
/* The checkpoint table and the headline figures, for the terminal. */
void report_print_summary(FILE *f, const DemoReport *r);

/* The pipeline's steps and wall times from RUN_DIR/pipeline.jsonl; *n 0 if
 * the file does not exist. */
StageTime *stage_times_load(const char *path, int *n);
void stage_times_free(StageTime *t, int n);

#endif
