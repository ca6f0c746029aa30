/* gold.h — the gold standard of the demo: for every task prompt, its family,
 * its accepted answers and its judge (see judge.h), loaded from the task
 * files that `lmforge demo-data` writes. It scores answers, and it ranks K
 * answers as a simulated annotator would.
 *
 * This is the "gold reward model" of Gao et al. (2022), Scaling Laws for
 * Reward Model Overoptimization: a judge whose verdict is known exactly, so
 * every stage of the pipeline can be measured against it. */
#ifndef LMF_DEMO_GOLD_H
#define LMF_DEMO_GOLD_H

#include <cjson/cJSON.h>

#include "../base/rng.h"

typedef struct GoldSet GoldSet; /* prompt → task (family, accepted answers, judge) */

/* Reads task JSONL files: {"id","family","prompt","answer","answers":[...],"judge"}.
 * Dies naming file, line and field on bad input, or when one prompt appears
 * twice with different answers. */
GoldSet *gold_load(const char **task_files, int n);
/* The family of a prompt, or NULL if the prompt is not a task. Prompts are
 * matched after trimming surrounding white space. */
const char *gold_family(const GoldSet *g, const char *prompt);
/* The reference answer of a prompt, or NULL if unknown. */
const char *gold_answer(const GoldSet *g, const char *prompt);
/* The judge's score of response in [0, 1]; dies if the prompt is unknown. */
double gold_score(const GoldSet *g, const char *prompt, const char *response);
int gold_n_families(const GoldSet *g);
/* Family i, 0 <= i < gold_n_families, in alphabetical order. */
const char *gold_family_name(const GoldSet *g, int i);
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
