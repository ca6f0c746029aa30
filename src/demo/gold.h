/* gold.h — the gold standard of the demo: for every task prompt, its family,
 * its group, its accepted answers and its judge (see judge.h), loaded from
 * the task files that `lmforge demo-data` writes. It scores answers, and it
 * ranks K answers as a simulated annotator would.
 *
 * The sentiment family has no right answer: its gold is the positivity of
 * the answer, VADER's compound score c in [-1, 1] mapped to (c + 1) / 2, from
 * the npm package vader-sentiment run by scripts/sentiment_judge.js (a
 * reward program, reward_program.h), started at the first sentiment answer
 * scored and kept running until gold_free.
 *
 * This is the "gold reward model" of Gao et al. (2022), Scaling Laws for
 * Reward Model Overoptimization: a judge whose verdict is known exactly, so
 * every stage of the pipeline can be measured against it. */
#ifndef LMF_DEMO_GOLD_H
#define LMF_DEMO_GOLD_H

#include <cjson/cJSON.h>

#include "../base/rng.h"

typedef struct GoldSet GoldSet; /* prompt → task (family, accepted answers, judge) */

/* Reads task JSONL files: {"id","family","group","prompt","answer","answers":[...],"judge"}.
 * "group" may be missing (the demo's group of the family, else "other");
 * "judge" may be missing (exact). Dies naming file, line and field on bad
 * input, when one prompt appears twice with different answers, or one family
 * in two groups. */
GoldSet *gold_load(const char **task_files, int n);
/* The family of a prompt, or NULL if the prompt is not a task. Prompts are
 * matched after trimming surrounding white space. */
const char *gold_family(const GoldSet *g, const char *prompt);
/* The reference answer of a prompt, or NULL if unknown. */
const char *gold_answer(const GoldSet *g, const char *prompt);
/* The group of a prompt ("knowledge", "computation", "sentiment"), or NULL
 * if the prompt is not a task. */
const char *gold_group(const GoldSet *g, const char *prompt);
/* The group of a family, or NULL for a family not in the task files. */
const char *gold_family_group(const GoldSet *g, const char *family);
/* The judge's score of response in [0, 1]; dies if the prompt is unknown, or
 * the sentiment scorer cannot be started or fails. */
double gold_score(const GoldSet *g, const char *prompt, const char *response);
/* gold_score of n (prompt, response) pairs into scores[0..n): the sentiment
 * answers among them go to the scorer in one batch. */
void gold_score_many(const GoldSet *g, const char *const *prompts, const char *const *responses, int n,
                     double *scores);
/* Exact match (0 or 1) with the task's exact judge (judge_exact_kind), for
 * reports that show it beside the graded score; -1 for a sentiment task. */
double gold_exact(const GoldSet *g, const char *prompt, const char *response);
int gold_n_families(const GoldSet *g);
/* Family i, 0 <= i < gold_n_families, in alphabetical order. */
const char *gold_family_name(const GoldSet *g, int i);
int gold_n_groups(const GoldSet *g);
/* Group i, 0 <= i < gold_n_groups, in alphabetical order. */
const char *gold_group_name(const GoldSet *g, int i);
/* The command that scores the sentiment family: a reward program (JSON lines,
 * reward_program.h). NULL or "" restores the default,
 * gold_sentiment_default_command(). Call before the first score. */
void gold_set_sentiment_command(GoldSet *g, const char *command);
/* $LMF_SENTIMENT_CMD if set, else `node '<source tree>/scripts/sentiment_judge.js'`;
 * dies with how to get it when node or the vader-sentiment package (in
 * $LMF_NPM_CACHE or ~/.cache/lmforge-npm, put there by scripts/npm_cache.sh)
 * is missing. Caller frees. */
char *gold_sentiment_default_command(void);
/* Also stops the sentiment scorer. */
void gold_free(GoldSet *g);

/* A simulated annotator's ranking of k answers with gold scores gold[0..k-1]:
 * a Plackett–Luce draw with utilities gold/noise, i.e. a sort by
 * gold_i/noise + Gumbel noise, so that P(i ranked above j) = σ((g_i − g_j)/noise).
 * noise 0 sorts by gold score exactly, ties in random order.
 * ranking_out gets the k indices, best first. */
void gold_rank(const double *gold, int k, double noise, Rng *rng, int *ranking_out);

/* The prompt text of a "prompt" field: the string itself, or, for a list of
 * chat messages, the content of the last user message. NULL if neither. */
const char *gold_prompt_text(const cJSON *prompt_field);

#endif
