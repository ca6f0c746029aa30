/* grpo_objective.h — critic-free RL with group-relative advantages (GRPO,
 * Dr. GRPO, DAPO, RLOO; see grpo_math.h) as an objective the trainer drives:
 * one trainer step is
 *
 *   1. rollout: G answers to each of the next P prompts of a seeded shuffle,
 *      with the sampler's log-probs (the "old" policy of the ratio);
 *   2. rewards: a weighted sum of reward functions (verifiers, a reward
 *      program, a learned reward model) per answer;
 *   3. advantages within each group of G; a group whose rewards are all
 *      equal carries no signal: counted, and with dynamic sampling (DAPO)
 *      replaced by fresh prompts;
 *   4. μ passes of clipped updates over the rollout, in minibatches, with
 *      an optional k3 KL to the frozen reference (β > 0).
 * The policy is the trainer's only part: the whole model, or its LoRA
 * adapters. */
#ifndef LMF_GRPO_OBJECTIVE_H
#define LMF_GRPO_OBJECTIVE_H

#include "../data/task_prompts.h"
#include "grpo_math.h"
#include "trainer.h"
#include "verifiers.h"

/* Where a reward comes from. */
typedef enum { REWARD_VERIFIER, REWARD_PROGRAM, REWARD_MODEL } RewardSource;

typedef struct {
    RewardSource source;
    VerifierKind verifier; /* REWARD_VERIFIER */
    float weight;
    char name[32];         /* in metrics: reward/NAME */
} RewardFn;

#define GRPO_MAX_REWARDS 8

typedef struct {
    int prompts;              /* P: prompts per step */
    int group;                /* G: answers per prompt */
    int minibatch;            /* answers per optimizer update (0: the whole rollout) */
    int updates;              /* μ: passes over each rollout */
    float temperature, top_p; /* sampling; log-probs are taken at the temperature */
    int max_new_tokens;       /* the longest answer (and DR_GRPO's normaliser) */
    int max_tokens;           /* tokens per forward pass (bounds memory) */
    GrpoLossConfig loss;      /* ε_low, ε_high, β, aggregation */
    AdvantageKind advantage;
    RewardScale scale;
    float scale_eps;          /* added to the std before dividing (TRL: 1e-4) */
    int dynamic_sampling;     /* replace groups without signal by fresh prompts (DAPO) */
    int resample_rounds;      /* at most this many rounds of fresh prompts per step */
    int shuffle_rewards;      /* a control: each step's rewards permuted at random among its answers */
    RewardFn rewards[GRPO_MAX_REWARDS];
    int n_rewards;
    float lr, grad_clip;
    int seed;                 /* sampling seeds and the RNG of prompt order and minibatches */
} GrpoConfig;

typedef struct {
    Model *policy;            /* trained (its LoRA adapters when policy->lora is set) */
    Model *ref;               /* frozen reference; NULL when β is 0 */
    const Tokenizer *tok;
    const TaskPrompt *tasks;  /* the training prompts, with answers where verifiers need them */
    int n_tasks;
    const TaskPrompt *eval;   /* held-out prompts for evaluation, or NULL */
    int n_eval, eval_limit;   /* evaluate on the first eval_limit of them (0: all) */
    const char *regex;        /* the pattern of the regex verifier, or NULL */
    /* REWARD_PROGRAM: rewards[0..n) of the answers in requests ({"prompt", "completion", ...}); returns NULL, or
     * a message (malloc'ed) when the program failed. The stage runs the program (pipeline/reward_program.h). */
    char *(*program_rewards)(void *ctx, cJSON *const *requests, int n, float *rewards);
    void *program_ctx;
    /* An outside judge of the held-out answers (eval/judge), called as program_rewards is; NULL for none. */
    char *(*judge)(void *ctx, cJSON *const *requests, int n, float *rewards);
    void *judge_ctx;
    const char *reward_model; /* REWARD_MODEL: a reward model's directory */
    const char *run_dir;      /* samples.jsonl: four answers a step */
} GrpoInputs;

typedef struct GrpoObjective GrpoObjective;

GrpoObjective *grpo_objective_new(const GrpoConfig *c, const GrpoInputs *in);
void grpo_objective_free(GrpoObjective *g);
/* take_step, evaluation (greedy answers to the held-out prompts: eval/reward
 * and eval/NAME for each verifier), the resume state (prompt order, RNG)
 * and the progress line. Metrics per step: reward, reward_std, reward/NAME
 * and reward/NAME_std per reward function, zero_signal (share of groups
 * whose rewards were all equal), clip/low, clip/high, clip/region, kl,
 * entropy, length, hit_limit (share of answers that hit the token limit),
 * loss, time/generation, time/reward, time/reference (the reference's
 * log-probs, β > 0), time/update, time/step. */
Objective grpo_objective(GrpoObjective *g);

#endif
