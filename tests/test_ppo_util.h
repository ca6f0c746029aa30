/* test_ppo_util.h — fixtures shared by the PPO, rejection-sampling and
 * sample tests: a toy task with a known rule ("name a fruit", where a fruit
 * is right and a tool is wrong), a tiny SFT policy that answers it with a
 * tool twice as often as with a fruit, a reward model trained on the rule
 * with `lmforge rm`, and the gold task file that `lmforge gold annotate`
 * ranks answers with. */
#ifndef LMF_TEST_PPO_UTIL_H
#define LMF_TEST_PPO_UTIL_H

#include <cjson/cJSON.h>

#include "../src/model/model.h"
#include "../src/tokenizer/tokenizer.h"

#define PPO_N_WORDS 8
extern const char *const PPO_FRUITS[PPO_N_WORDS];
extern const char *const PPO_TOOLS[PPO_N_WORDS];
#define PPO_SFT_FRUITS 4 /* the fruits the SFT policy says: the first four */
#define PPO_N_ASKS 4
extern const char *const PPO_ASKS[PPO_N_ASKS];

/* A byte-level BPE tokenizer (ChatML specials included) trained once on
 * sentences about fruits and tools. Owned by the helper. */
const Tokenizer *ppo_test_tokenizer(void);

/* A tiny model over ppo_test_tokenizer (C 32, L 2, context 64), randomly
 * initialised from seed, with its weights scaled by `sharpen` (1: as
 * initialised; larger: far from uniform distributions). */
Model *ppo_test_random_model(HeadKind head, uint64_t seed, float sharpen);

/* Writes the SFT policy to DIR/NAME and returns the path (caller frees). The
 * policy is trained once per process, in memory: ChatML exchanges of the
 * PPO_ASKS prompts (alone, or after a system message "Be brief.") answered
 * with each of PPO_SFT_FRUITS fruits and each of the 8 tools, so it answers
 * a prompt with one of these 12 words and <|im_end|>. */
char *ppo_test_write_sft(const char *dir, const char *name);

/* Writes a reward model to DIR/NAME and returns the path: trained once per
 * process with `lmforge rm --init SFT` on pairs where a fruit beats a tool. */
char *ppo_test_write_reward_model(const char *dir, const char *name);

/* DIR/prompts.jsonl: each ask once as {"prompt"}, and once more as
 * {"messages"} (with a system message). Returns the path. */
char *ppo_test_write_prompts(const char *dir);

/* DIR/tasks.jsonl: the gold tasks (every ask, answered right by any fruit)
 * for `lmforge gold annotate --tasks` and `lmforge gold score`. */
char *ppo_test_write_tasks(const char *dir);

/* 1 if text (trimmed) is one of the fruits, for gold counts in tests. */
int ppo_test_is_fruit(const char *text);

/* The lines of a JSONL file, parsed (NULL for a line that does not parse);
 * *n gets the count. Free with ppo_test_free_jsonl. */
cJSON **ppo_test_read_jsonl(const char *path, int *n);
void ppo_test_free_jsonl(cJSON **lines, int n);

/* The values of `key` in RUN/metrics.jsonl; returns how many (values malloc'ed). */
int ppo_test_metric(const char *run, const char *key, double **values);

/* Mean of values[from, to). */
double ppo_test_mean(const double *values, int from, int to);

#endif
