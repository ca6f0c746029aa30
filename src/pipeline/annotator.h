/* annotator.h — an annotator: a program that ranks answers to a prompt, run
 * as a child and spoken to one JSON line at a time:
 *
 *   to its stdin     {"prompt": <string or messages>, "responses": ["...", "...", ...]}
 *   from its stdout  {"ranking": [best, ..., worst]}   (indices into responses)
 *
 * where answers the annotator finds equally good share a list: [0, [2, 3], 1]
 * ranks 0 first, 2 and 3 equal second, 1 last (the rankings rm reads; tied
 * answers form no pair). Two wrong answers to a question are such a tie: a
 * forced order would teach the reward model noise.
 *
 * It answers each line before it reads the next. `lmforge gold annotate` is
 * one (a simulated annotator with a known gold standard); a person behind a
 * small script, or a judge model's server, can be another. PPO's --annotator
 * takes the same programs. */
#ifndef LMF_ANNOTATOR_H
#define LMF_ANNOTATOR_H

#include <cjson/cJSON.h>

typedef struct Annotator Annotator;

/* Starts `command` with /bin/sh -c. */
Annotator *annotator_start(const char *command);
/* Asks for the ranking of responses[0..k) (k >= 2) to prompt; ranking (k)
 * gets the indices, best first, and tiers (k; may be NULL) each place's tie
 * group: equal for tied answers, rising down the ranking. Dies naming the
 * command if it exits, or replies with anything but each of 0..k-1 once. */
void annotator_rank(Annotator *a, const cJSON *prompt, const char *const *responses, int k, int *ranking,
                    int *tiers);
/* The "ranking" list of ranking[0..n) with tied places (equal tiers) in one list. */
cJSON *ranking_json(const int *ranking, const int *tiers, int n);
/* Closes its stdin and waits for it; dies if it then fails. */
void annotator_stop(Annotator *a);

/* Starts `command`, has it rank the K answers to each of n prompts (answer
 * k to prompts[i] is answers[i·K + k]) and writes the rankings to path as
 * {"prompt", "responses", "ranking"} lines: the K-way comparisons lmforge rm
 * reads (PPO's reward-model refreshes). A blank answer teaches a reward
 * model nothing and rm refuses it, as annotate and rs leave it out: the
 * others are kept in their ranked order, and a prompt left with fewer than
 * two is dropped. */
void annotator_write_comparisons(const char *command, const cJSON *const *prompts, int n,
                                 const char *const *answers, int K, const char *path);

#endif
