/* ppo_math.h — the arithmetic of PPO for language models (Ouyang et al. 2022,
 * "InstructGPT"; Ziegler et al. 2019), as pure functions on arrays, so that
 * each piece can be tested against a hand computation or PyTorch.
 *
 * A rollout holds S sequences; sequence s has n[s] response tokens, stored
 * one after another (token-major arrays of total length Σ n[s]). Per token:
 *   logp      log π_old(token)       from the policy that sampled it
 *   ref_logp  log π_ref(token)       the frozen reference (the SFT model)
 *   value     V(state before token)  the critic's estimate
 * and per sequence the reward model's (normalised) score. */
#ifndef LMF_PPO_MATH_H
#define LMF_PPO_MATH_H

typedef enum { KL_K1 = 1, KL_K3 = 3 } KlEstimator;

/* Per-token KL estimate between policy and reference, from log-probs:
 * k1 = logp − ref_logp (unbiased, can be negative);
 * k3 = exp(ref_logp − logp) − 1 − (ref_logp − logp) (unbiased, never negative). */
float kl_estimate(float logp, float ref_logp, KlEstimator kind);

/* rewards[t] = −beta · KL_t, plus score[s] on each sequence's last token. */
void ppo_rewards(const float *logp, const float *ref_logp, const float *score, const int *n, int S, float beta,
                 KlEstimator kind, float *rewards);

/* Generalised advantage estimation (Schulman et al. 2016), within each sequence:
 *   δ_t = r_t + γ·V_{t+1} − V_t (V after the last token is 0),  A_t = δ_t + γλ·A_{t+1};
 * returns_t = A_t + V_t. */
void gae(const float *rewards, const float *values, const int *n, int S, float gamma, float lam, float *advantages,
         float *returns);

/* Whitens x over all N tokens: (x − mean) / (std + 1e-8), std the population
 * standard deviation (as TRL and OpenRLHF do). */
void whiten(float *x, int N);

/* Clipped policy loss, summed over N tokens (the caller divides by its count):
 *   ratio = exp(logp_new − logp_old),
 *   loss_t = max(−A·ratio, −A·clip(ratio, 1−ε, 1+ε)).
 * dlogp_new[t] = ∂loss_t/∂logp_new: −A·ratio where the unclipped term is the
 * larger one, 0 where the clipped term wins. Adds the number of tokens whose
 * clipped term won to *clipped, and Σ ½(logp_new − logp_old)² to *approx_kl. */
double ppo_policy_loss(const float *logp_new, const float *logp_old, const float *adv, int N, float eps,
                       float *dlogp_new, long *clipped, double *approx_kl);

/* Clipped value loss, summed over N tokens:
 *   v_clip = v_old + clip(v − v_old, −ε, ε),
 *   loss_t = ½ · max((v − R)², (v_clip − R)²),
 * with its gradient ∂loss_t/∂v in dvalue. Adds the clipped count to *clipped. */
double ppo_value_loss(const float *value, const float *value_old, const float *returns, int N, float eps,
                      float *dvalue, long *clipped);

/* 1 − Var(returns − values) / Var(returns): how much of the return the critic explains. */
double explained_variance(const float *values, const float *returns, int N);

/* The adaptive KL controller of Ziegler et al. 2019: moves beta towards
 * keeping the observed KL near the target,
 *   beta ← beta · (1 + clip(KL/target − 1, −0.2, 0.2) · n_steps / horizon). */
float adaptive_kl_update(float beta, double observed_kl, float target, long n_steps, long horizon);

#endif
