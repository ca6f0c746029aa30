/* ppo_objective.h — RLHF with PPO (InstructGPT: Ouyang et al. 2022) as an
 * objective the trainer drives: one trainer step is one PPO iteration,
 *
 *   1. rollout: the policy answers the next prompts of a seeded shuffle
 *      (sampling, KV cache); the rollout source;
 *   2. scoring: the reward model scores each answer, and a per-token KL
 *      penalty keeps the policy near the reference;
 *   3. GAE turns these rewards and the critic's values into advantages;
 *   4. a few epochs of clipped PPO updates of the policy and of the critic
 *      over minibatches of the answers (trainer parts PPO_POLICY and
 *      PPO_CRITIC, each with its own AdamW), plus PPO-ptx if asked;
 *   5. the adaptive KL controller moves β.
 * The arithmetic is ppo_math.h's, the per-token bookkeeping rollout.h's.
 * What the stage adds: loading the models, and refreshing the reward model
 * every N iterations (an annotator and reward-model training), which the
 * objective calls before the iteration through a hook. */
#ifndef LMF_PPO_OBJECTIVE_H
#define LMF_PPO_OBJECTIVE_H

#include "../data/chat_data.h"
#include "../data/text_data.h"
#include "../model/generate.h"
#include "ppo_math.h"
#include "trainer.h"

typedef struct {
    int rollout_prompts;        /* answers per iteration, one per prompt */
    int minibatch, epochs;      /* answers per update; passes over each rollout */
    float temperature, top_p;   /* sampling; log-probs are recomputed at the temperature */
    int max_new_tokens;         /* longest answer */
    int max_tokens;             /* tokens per forward pass (bounds memory) */
    float beta, target_kl;      /* KL penalty; target_kl > 0: adaptive controller */
    long kl_horizon;            /* the controller's horizon, in answers */
    KlEstimator kl;
    float gamma, lam;           /* GAE */
    int whiten;                 /* whiten advantages over the rollout's tokens */
    float clip, value_clip, vf_coef;
    float score_clip;           /* clip normalised scores to ±this (0: off) */
    float eos_penalty;          /* added to the score of answers that hit the length limit */
    float ptx_coef;             /* PPO-ptx: weight of the pretraining loss (0: off) */
    float lr, value_lr, grad_clip;
    int seed;                   /* sampling seeds and the RNG of prompt order, epochs and ptx windows */
} PpoConfig;

/* Writes out[i], a judge's score of answer g[i] to prompts[i], i < n. */
typedef void (*PpoJudgeFn)(void *ctx, const Conversation *prompts, const Generation *g, int n, float *out);

/* What PPO works on. The objective keeps the pointers (the stage owns what
 * they point to); it loads the reward model and the critic itself, and
 * dies if either has no score head or another tokenizer than the policy. */
typedef struct {
    Model *policy, *ref;      /* trained; frozen (the SFT model both start as) */
    const Tokenizer *tok;
    const char *reward_dir;
    const char *critic_dir;   /* the critic's start; NULL: the reward model */
    const Conversation *prompts;
    int n_prompts;
    const TokenData *ptx;     /* PPO-ptx text, or NULL */
    const char *ptx_source;   /* its files, for messages */
    const char *run_dir;      /* samples.jsonl: four answers an iteration */
    /* Held-out evaluation (the trainer's eval steps; none when n_eval_prompts is 0) */
    const Conversation *eval_prompts;
    int n_eval_prompts;
    PpoJudgeFn judge;         /* an outside judge's score of each answer, or NULL */
    void *judge_ctx;
} PpoInputs;

typedef struct PpoObjective PpoObjective;

enum { PPO_POLICY, PPO_CRITIC, PPO_PARTS }; /* the trainer's parts */

PpoObjective *ppo_objective_new(const PpoConfig *c, const PpoInputs *in);
void ppo_objective_free(PpoObjective *p);
/* take_step, the resume state (β, the prompt order, the RNG, the reward
 * model in use) and the progress line. Metrics per iteration: score,
 * score_normalized, kl, entropy, policy_loss, clipfrac, approx_kl,
 * value_loss, value_clipfrac, explained_variance, length, stopped, beta,
 * time/generation, time/scoring, time/update, time/iteration, and
 * reward_model_refresh (1) at an iteration that starts with a refreshed
 * reward model. With eval prompts, at the trainer's eval steps: the policy
 * samples one answer per held-out prompt at the run's temperature, with the
 * same seed at every evaluation, and logs eval/score (the reward model in
 * use, raw), eval/kl (summed per answer, the run's estimator),
 * eval/length and, with a judge, eval/judge. */
Objective ppo_objective(PpoObjective *p);
/* The policy (final copy in RUN_DIR/model) and the critic (RUN_DIR/value,
 * saved with the reward model's statistics), with AdamW at lr and value_lr,
 * no weight decay, gradients clipped to grad_clip. */
void ppo_objective_parts(PpoObjective *p, TrainPart parts[PPO_PARTS]);

/* ---- reward-model refreshes ---- */

/* Called before iteration step + 1 when step is a positive multiple of every. */
typedef void (*PpoRefreshFn)(void *ctx, PpoObjective *p, Trainer *t, long step);
void ppo_objective_on_refresh(PpoObjective *p, int every, PpoRefreshFn fn, void *ctx);
/* K fresh answers from the policy to each of n prompts drawn at random with
 * the objective's RNG: answer k to prompt which[i] is g[i·K + k]. Free the
 * generations (generations_free, free) and *which. */
Generation *ppo_fresh_answers(PpoObjective *p, long step, int n, int K, int **which);
const char *ppo_reward_dir(const PpoObjective *p);
/* Scores with the reward model in dir from now on. */
void ppo_use_reward_model(PpoObjective *p, const char *dir);

#endif
