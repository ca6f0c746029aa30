/* report.h — the evaluation report: every figure `lmforge evaluate`
 * measured, written as OUT/report.md (tables, with the plots beside it in
 * plots/), as OUT/report.json (the same figures for programs), and as a
 * table on the terminal. */
#ifndef LMF_DEMO_REPORT_H
#define LMF_DEMO_REPORT_H

#include <stdio.h>

#include "../base/plot.h"
#include "evaluate.h"
#include "frontier_fit.h"

/* One evaluated checkpoint. */
typedef struct {
    const char *name, *dir;
    double *family_gold;     /* (n_families) mean gold score of the greedy answers, per family */
    double *group_gold;      /* (n_groups) the same per group */
    double gold;             /* over all held-out prompts */
    WinRate win;             /* greedy answers against the baseline's, prompt by prompt */
    WinRate target_win;      /* the same on the target groups' prompts */
    double kl;               /* nats: mean over sampled answers of log π(y) − log π_baseline(y) */
    double sample_gold;      /* mean gold score of those sampled answers */
    double sample_rm;        /* and their mean reward-model score (NaN without a reward model) */
    double loss, perplexity; /* on the held-out text (NaN without it) */
    double target_gold;      /* mean gold score of the greedy answers on the target groups' prompts */
    double reference_loglik; /* nats per answer token of the --references answers, teacher forced (NaN without) */
} CheckpointFigures;

/* A route to alignment (--route ROUTE=NAME1,NAME2,...): checkpoints, in order. */
typedef struct {
    char *name;
    int *members; /* (n) indices into the report's checkpoints */
    int n;
} EvalRoute;

/* A point of the frontier: a policy at some KL from the baseline, its gold
 * score and its reward-model score. */
typedef struct {
    long x;           /* best-of-n: n; PPO, GRPO: the iteration or step; --frontier models: their order */
    const char *name; /* --frontier models: their NAME; NULL otherwise */
    double kl, gold, rm;
} PolicyPoint;

/* One series of the reward–KL frontier: its points (the first at KL 0, the
 * baseline itself), the fit of Gao et al.'s form to their gold gain over
 * that first point, and whether the gold score peaked before the last point
 * while the reward-model score still rose. */
typedef struct {
    const char *label;
    FrontierForm form;
    PolicyPoint *points;
    int n;
    FrontierFit fit;
    int peak_passed;
} FrontierSeries;

/* A step of the pipeline and its wall time (pipeline.jsonl). */
typedef struct {
    char *step;
    int round; /* 0 outside rounds */
    char *status;
    double seconds; /* NaN when it did not run in the pipeline's last invocation */
} StageTime;

typedef struct {
    /* what was evaluated */
    const char *judge, *prompts_path; /* the judge program's command, the prompts file */
    const char *baseline; /* name of the checkpoint win rates and KL are measured against */
    int n_families, n_groups;
    const char **families;  /* (n_families) */
    int *family_group;      /* (n_families) the group each family is in */
    int *family_prompts;    /* (n_families) held-out prompts per family */
    const char **groups;    /* (n_groups) */
    int *group_prompts;     /* (n_groups) */
    int *target_group;      /* (n_groups) 1 for the groups the targets are measured on */
    int target_prompts;     /* prompts in those groups */
    int n_prompts;          /* held-out prompts answered by every checkpoint */
    int kl_prompts, kl_samples, max_new_tokens;
    float temperature;      /* of the sampled answers */
    const char *heldout_text; /* NULL: no perplexity */
    long ppl_tokens;
    CheckpointFigures *checkpoints;
    int n_checkpoints;
    /* the reference answers' log-likelihood (references NULL: not measured) */
    const char *references;
    int reference_examples; /* examples scored, of reference_total in the file */
    int reference_total;
    long reference_tokens; /* answer tokens scored */
    EvalRoute *routes;
    int n_routes;
    /* targets */
    const char **win_targets; /* checkpoints held to the win-rate target */
    int n_win_targets;
    double win_min;
    const char **gain_targets; /* checkpoints held to the gold-gain target on gain_group */
    int n_gain_targets;
    const char *gain_group;
    double gain_min;
    double agreement_min;
    /* the reward model against the gold judge (reward_model NULL: none) */
    const char *reward_model;
    double agreement_margin;
    PairAgreement rm_agreement, rm_target_agreement;
    PairAgreement *rm_group_agreement; /* (n_groups) */
    int rm_prompts, rm_answers; /* held-out prompts, answers sampled from the baseline for each */
    double gold_mean, gold_sd, rm_mean, rm_sd; /* of the baseline's samples: the over-optimisation plot's units */
    /* the frontier: best-of-n first, when there is a reward model */
    int frontier_prompts; /* held-out prompts its policies answer */
    FrontierSeries *frontier;
    int n_frontier;
    /* wall times */
    StageTime *stages;
    int n_stages;
    double eval_seconds;
    double time_target_minutes; /* 0: no wall-time target */
    /* plots, as files in the report's folder */
    const char **plots, **plot_captions;
    int n_plots;
} EvalReport;

/* One series per (run, key): metrics.jsonl values of key against the step.
 * Writes the SVG and returns 1, or returns 0 (writing nothing) when none of
 * the runs has a value of its key. */
typedef struct {
    const char *run_dir, *key, *label;
} CurveSpec;
int plot_curves(const char *svg_path, const char *title, const char *ylabel, const CurveSpec *curves, int n,
                PlotScale scale);

/* The frontier plot: each series' gold gain over the baseline against KL,
 * its points and its fitted curve. */
void plot_frontier(const char *svg_path, const EvalReport *r);
/* The over-optimisation plot: gold and reward-model scores of each frontier
 * series against KL, both in standard deviations of the baseline's samples
 * from their mean. */
void plot_overoptimization(const char *svg_path, const EvalReport *r);

/* 1 if the series passed a peak of the gold score: its highest gold score is
 * at neither end (it rose, then fell), while the reward-model score at the
 * last point is above the one at the peak. */
int frontier_peak_passed(const PolicyPoint *p, int n);

void report_write_markdown(const char *path, const EvalReport *r);
void report_write_json(const char *path, const EvalReport *r);
/* The checkpoint table and the headline figures, for the terminal. */
void report_print_summary(FILE *f, const EvalReport *r);

/* The pipeline's steps and wall times from RUN_DIR/pipeline.jsonl; *n 0 if
 * the file does not exist. */
StageTime *stage_times_load(const char *path, int *n);
void stage_times_free(StageTime *t, int n);

#endif
