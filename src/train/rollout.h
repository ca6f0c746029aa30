/* rollout.h — a batch of sampled answers and the per-token quantities that
 * PPO and rejection sampling compute over them.
 *
 * Sequence s is prompt s followed by its response: tokens[s] (len[s] tokens,
 * the first prompt_len[s] of them the prompt). Response token j sits at
 * position prompt_len[s] + j; the model predicts it at the position before,
 * which is where its log-prob and the critic's value (of the state before
 * it) are read. Per-token arrays are response-token-major: sequence 0's
 * response tokens, then sequence 1's, ... (offset[s] is where s starts). */
#ifndef LMF_ROLLOUT_H
#define LMF_ROLLOUT_H

#include "../data/chat_data.h"
#include "../data/packing.h"
#include "../model/generate.h"
#include "../model/model.h"

typedef struct {
    int n;           /* sequences */
    int **tokens;    /* (n) each (len[s]) prompt then response */
    int *len, *prompt_len;
    int *offset;     /* (n + 1) where each sequence's response tokens start in per-token arrays */
} Rollout;

static inline int rollout_response_len(const Rollout *r, int s) { return r->len[s] - r->prompt_len[s]; }
static inline int rollout_tokens(const Rollout *r) { return r->offset[r->n]; }

/* Takes ownership of nothing: copies prompt + response of each sequence. */
Rollout rollout_new(int n, const int *const *prompts, const int *prompt_lens, const int *const *responses,
                    const int *response_lens);
/* K = so.n_samples answers to each rendered prompt from the policy, decoded
 * by t and ended by the end of text or of the turn (generation_stop_ids):
 * answer k to prompt i is g[i·K + k]. Returns the n·K generations (free
 * with generations_free, then free). */
Generation *sample_answers(Model *policy, const Tokenizer *t, const RenderedPrompts *prompts, SampleOptions so);

/* Each prompt followed by each of its K answers, as generate_batch returns
 * them with n_samples = K: sequence i·K + k is prompts[i] then g[i·K + k]. */
Rollout rollout_of_generations(int n_prompts, const int *const *prompts, const int *prompt_lens, const Generation *g,
                               int K);
void rollout_free(Rollout *r);

/* The reward model's score of each whole sequence, prompt and answer, into scores (r->n). */
void rollout_scores(Model *reward_model, const Rollout *r, float *scores);
/* The sequences as SeqRefs whose marked tokens are the responses (so that
 * packing puts targets on exactly the response tokens); masks (len) are
 * allocated in *masks, free with rollout_free_refs. */
SeqRef *rollout_refs(const Rollout *r, int **masks_out);
void rollout_free_refs(SeqRef *refs, int *masks);

/* Runs sequences idx[0..k) through m in packed micro-batches of at most
 * max_tokens tokens, forward only, and calls fn for each micro-batch with
 * the places of its sequences. */
typedef void (*RolloutBatchFn)(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k);
void rollout_forward(Model *m, const Rollout *r, const int *idx, int k, int max_tokens, int for_backward,
                     RolloutBatchFn fn, void *ctx);

/* Log-probs (and entropies, if not NULL) of the response tokens of
 * sequences idx[0..k) under m at `temperature`, into per-token arrays
 * (rollout_tokens(r) long). The same idx and max_tokens give the same packed
 * batches, hence bit-identical numbers: PPO relies on it for its first ratio
 * of exactly 1. */
void rollout_logprobs(Model *m, const Rollout *r, const int *idx, int k, float temperature, int max_tokens,
                      float *logp, float *entropy);
/* The value model's estimate at each response token's predicting position. */
void rollout_values(Model *value_model, const Rollout *r, const int *idx, int k, int max_tokens, float *values);

/* The policy-gradient step of an RL objective, for one micro-batch of
 * rollout_forward (with for_backward): the log-probs of its sequences'
 * response tokens at `temperature` (and their entropies into `entropy`, a
 * per-token array, if not NULL) go to `loss`, which writes ∂loss/∂logp for
 * each of those tokens; the gradient then flows back through the
 * log-softmax and the model (model_backward). lp and dlp are per-token
 * arrays (rollout_tokens(r) long), only the sequences idx[0..k) filled. */
typedef void (*TokenLossFn)(void *ctx, const int *idx, int k, const float *lp, float *dlp);
void rollout_policy_gradient(Model *m, const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k,
                             float temperature, float *entropy, TokenLossFn loss, void *ctx);

/* Gathers a per-position array of the packed batch (B, T) into the per-token
 * arrays of the sequences placed there: dst[offset[idx[i]] + j] =
 * src[row, start + prompt_len − 1 + j]. scatter does the reverse (zeroing
 * nothing: the caller clears src first). */
void rollout_gather(const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k, const float *src,
                    float *dst);
void rollout_scatter(const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k, const float *src,
                     float *dst);

#endif
