/* evaluate.h — what `lmforge evaluate` measures about a checkpoint: its
 * answers to held-out prompts scored by the judge program (the gold
 * standard), how often it beats the baseline, how far it has moved from it
 * (KL), and how well the reward model agrees with the judge.
 *
 * The arithmetic comes first, as pure functions (unit-tested); then the
 * parts that run models on answers sampled with sample_answers
 * (train/rollout.h): their log-probs under another model, and their
 * reward-model scores. */
#ifndef LMF_DEMO_EVALUATE_H
#define LMF_DEMO_EVALUATE_H

#include "../data/chat_data.h"
#include "../model/generate.h"
#include "../model/model.h"
#include "../tokenizer/tokenizer.h"

/* ---- arithmetic ---- */

/* Win rate of answers a against answers b to the same n prompts, by gold
 * score: per prompt a win (a > b) counts 1, a tie ½, a loss 0, and the rate
 * is the mean over prompts, (wins + ties/2) / n. */
typedef struct {
    int wins, ties, losses;
    double rate;
} WinRate;

WinRate win_rate(const double *gold_a, const double *gold_b, int n);

/* The KL divergence of best-of-n sampling from the policy it samples,
 * log n − (n − 1)/n nats (Stiennon et al. 2020; Gao et al. 2022). */
double kl_best_of_n(int n);

/* Agreement of reward-model scores with gold scores on the pairs of answers
 * to one prompt whose gold scores differ by more than a margin: a pair
 * counts 1 when the reward model orders it as the gold judge does, ½ when it
 * scores both the same. */
typedef struct {
    long pairs;     /* pairs whose gold scores differ by more than the margin */
    double correct; /* of them, ordered right (ties ½) */
} PairAgreement;

/* Adds those of the C(k,2) pairs among k answers to one prompt whose gold
 * scores differ by more than margin (0: any difference). */
void pair_agreement_add(PairAgreement *acc, const double *gold, const float *rm, int k, double margin);
/* correct / pairs, or NaN without pairs. */
double pair_agreement_rate(const PairAgreement *acc);

/* The index of the highest of rm[0..n); ties go to the earlier answer. */
int best_of_first(const float *rm, int n);

/* ---- running models ---- */

/* The summed log-probability of each answer (its tokens, the stop token
 * included) under model m at a sampling temperature: logp[i*k + j] for
 * answer j to prompt i. */
void answer_logprobs(Model *m, const RenderedPrompts *p, const Generation *answers, int k, float temperature, float *logp);

/* The reward model's score of each answer after its prompt, read at the
 * answer's last token, as PPO and rejection sampling read it. */
void answer_scores(Model *rm, const RenderedPrompts *p, const Generation *answers, int k, float *scores);

#endif
