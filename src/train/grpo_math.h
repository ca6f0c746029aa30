/* grpo_math.h — the arithmetic of critic-free, group-relative policy
 * optimisation, as pure functions on arrays (tested against a PyTorch
 * reference written from TRL's GRPOTrainer):
 *
 *   GRPO     (Shao et al. 2024, DeepSeekMath): G answers per prompt; each
 *            answer's advantage is its reward minus the group's mean,
 *            divided by the group's standard deviation;
 *   Dr. GRPO (Liu et al. 2025): no division by the std, and a loss whose
 *            normaliser does not depend on the answer's length;
 *   DAPO     (Yu et al. 2025): separate clip ranges ε_low / ε_high, a
 *            token-level mean over the batch, groups without signal dropped;
 *   RLOO     (Ahmadian et al. 2024): the baseline of an answer is the mean
 *            of the other G − 1 rewards of its group.
 *
 * Rollouts are stored as in ppo_math.h: S sequences, sequence s with n[s]
 * completion tokens, token-major arrays of total length Σ n[s]. The answers
 * of one prompt are G consecutive sequences. */
#ifndef LMF_GRPO_MATH_H
#define LMF_GRPO_MATH_H

typedef enum { ADVANTAGE_GRPO, ADVANTAGE_RLOO } AdvantageKind;
/* What the group-relative advantage is divided by (TRL's scale_rewards). */
typedef enum { SCALE_GROUP, SCALE_BATCH, SCALE_NONE } RewardScale;

/* rewards, adv (n_groups · G). GRPO: adv = r − mean(group), divided by
 * (std + eps) of the group (SCALE_GROUP) or of the whole batch (SCALE_BATCH),
 * std being the unbiased (N − 1) sample standard deviation, as torch.std;
 * not divided with SCALE_NONE. RLOO: adv = r − mean of the group's other
 * rewards = G/(G−1) · (r − mean(group)), never scaled. G >= 2.
 * batch_std < 0: SCALE_BATCH takes the std of these rewards; else the given
 * one (the std of a batch spread over several ranks).
 * Returns the number of groups whose rewards are all equal: their
 * advantages are 0 and they teach nothing. */
int group_advantages(const float *rewards, int n_groups, int G, AdvantageKind kind, RewardScale scale, float eps,
                     double batch_std, float *adv);

/* Whether group g's rewards (G of them, from rewards + g·G) are all equal. */
int group_has_no_signal(const float *rewards, int G);

/* How token losses are aggregated into the step's loss (TRL's loss_type):
 *   GRPO     mean over sequences of each sequence's token mean;
 *   BNPO     Σ loss / Σ tokens over the step's sequences;
 *   DAPO     the same, over the tokens of the whole global batch;
 *   DR_GRPO  Σ loss / (sequences · max_completion_len). */
typedef enum { LOSS_GRPO, LOSS_BNPO, LOSS_DAPO, LOSS_DR_GRPO } GrpoLossType;

typedef struct {
    float eps_low, eps_high; /* the ratio is clipped to [1 − eps_low, 1 + eps_high] */
    float beta;              /* weight of the k3 KL to the reference; 0: none (ref_logp unused) */
    GrpoLossType type;
} GrpoLossConfig;

typedef struct {
    double loss;           /* this call's share of the step's loss */
    long tokens;           /* completion tokens seen */
    long low_clipped;      /* tokens with ratio < 1 − eps_low and A < 0 (the clip holds the update back) */
    long high_clipped;     /* tokens with ratio > 1 + eps_high and A > 0 */
    double kl;             /* Σ k3(logp, ref_logp) over the tokens (0 when beta is 0) */
} GrpoLossStats;

/* The denominator of the step's loss: the sequences of the step (GRPO), its
 * completion tokens (BNPO, DAPO) or sequences · max_completion_len
 * (DR_GRPO). */
double grpo_loss_norm(GrpoLossType type, long sequences, long tokens, int max_completion_len);

/* The loss of sequences 0..S-1 (adv (S): one advantage per sequence), as a
 * share of the step's loss whose denominator is norm (grpo_loss_norm over
 * every sequence of the step), per token
 *   ratio = exp(logp − logp_old),
 *   loss_t = −min(A·ratio, A·clip(ratio, 1 − eps_low, 1 + eps_high)) + beta·k3_t,
 *   k3_t = exp(ref − logp) − (ref − logp) − 1,
 * weighted 1/n[s] under LOSS_GRPO. Writes dlogp (Σ n[s]) = ∂(share)/∂logp
 * and adds to st. Returns the share. */
double grpo_loss(const float *logp, const float *logp_old, const float *ref_logp, const float *adv, const int *n,
                 int S, const GrpoLossConfig *c, double norm, float *dlogp, GrpoLossStats *st);

#endif
