/* test_ppo.c — the per-token bookkeeping of PPO (train/rollout.h) on a
 * tiny random model: the log-probs PPO learns from are those of the sampled
 * tokens at the right positions (shifting them by one fails), the first
 * update of a rollout sees a ratio of exactly 1, the critic's values sit at
 * the state before each token, and the gradient of the clipped policy loss
 * reaches the parameters through the right logits (finite differences). */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/data/chat_data.h"
#include "../src/kernels/kernels.h"
#include "../src/model/generate.h"
#include "../src/train/ppo_math.h"
#include "../src/train/reward_model.h"
#include "../src/train/rollout.h"
#include "test.h"
#include "test_ppo_util.h"

enum { N_PROMPTS = 5, K = 2, N_SEQ = N_PROMPTS * K };
static const float TEMPERATURE = 0.7f;

/* Sampled answers of a sharpened random model (distributions far from
 * uniform) to prompts of different lengths, with their sampling log-probs. */
typedef struct {
    Model *m;
    Generation gens[N_SEQ];
    Rollout r;
} Sampled;

static Sampled sample_rollout(uint64_t seed) {
    static const char *asks[N_PROMPTS] = {"Name a fruit.", "Hi", "Which fruit do you like? Say a fruit name.",
                                          "Give me a fruit or a tool.", "pear"};
    Sampled s = {.m = ppo_test_random_model(HEAD_LM, seed, 3.0f)};
    const Tokenizer *t = ppo_test_tokenizer();
    Conversation convs[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) convs[i] = conversation_copy(&(ChatMessage){"user", asks[i]}, 1);
    RenderedPrompts prompts = render_prompts(t, convs, NULL, N_PROMPTS);
    int stop = tokenizer_token_id(t, "<|im_end|>");
    SampleOptions o = sample_options_default();
    o.temperature = TEMPERATURE;
    o.max_new_tokens = 12;
    o.stop_ids = &stop;
    o.n_stop_ids = 1;
    o.seed = seed;
    o.n_samples = K;
    o.batch_size = 3; /* several decoding batches */
    o.logprobs = 1;
    generate_batch(s.m, prompts.tokens, prompts.lens, N_PROMPTS, &o, s.gens);
    s.r = rollout_of_generations(N_PROMPTS, prompts.tokens, prompts.lens, s.gens, K);
    rendered_prompts_free(&prompts);
    for (int i = 0; i < N_PROMPTS; i++) conversation_free(&convs[i]);
    return s;
}

static void sampled_free(Sampled *s) {
    generations_free(s->gens, N_SEQ);
    rollout_free(&s->r);
    model_free(s->m);
}

static void all_sequences(int *idx) {
    for (int i = 0; i < N_SEQ; i++) idx[i] = i;
}

TEST(ppo_logprobs_are_those_of_the_sampled_tokens_at_their_positions) {
    Sampled s = sample_rollout(21);
    const Rollout *r = &s.r;
    int T = rollout_tokens(r), idx[N_SEQ];
    all_sequences(idx);
    CHECK(T > 3 * N_SEQ); /* answers of several tokens */
    float *logp = xalloc_floats((size_t)T), *entropy = xalloc_floats((size_t)T), *hot = xalloc_floats((size_t)T);
    /* max_tokens 48: the sequences go through several packed micro-batches */
    rollout_logprobs(s.m, r, idx, N_SEQ, TEMPERATURE, 48, logp, entropy);
    rollout_logprobs(s.m, r, idx, N_SEQ, 1.0f, 48, hot, NULL);

    double same = 0, shifted = 0, untempered = 0, sum_logp = 0;
    int n_shifted = 0;
    for (int q = 0; q < N_SEQ; q++) {
        const Generation *g = &s.gens[q];
        CHECK_EQ_INT(rollout_response_len(r, q), g->n_tokens);
        for (int j = 0; j < g->n_tokens; j++) {
            int t = r->offset[q] + j;
            same = fmax(same, fabs(logp[t] - g->logprobs[j]));
            untempered = fmax(untempered, fabs(hot[t] - g->logprobs[j]));
            CHECK(entropy[t] >= 0 && entropy[t] <= logf((float)s.m->cfg.vocab_size) + 1e-4f);
            sum_logp += logp[t];
            if (j + 1 < g->n_tokens) {
                shifted = fmax(shifted, fabs(logp[t] - g->logprobs[j + 1]));
                n_shifted++;
            }
        }
    }
    printf("sampler vs recomputed log-probs: max diff %.2g; shifted by one %.3f; at temperature 1 %.3f; mean %.3f\n",
           same, shifted, untempered, sum_logp / T);
    CHECK_MSG(same < 1e-4, "the recomputed log-probs differ from the sampler's by %g", same);
    CHECK(n_shifted > 10 && shifted > 0.1);  /* the same check one position off fails */
    CHECK(untempered > 0.05);                /* and so does one that forgets the temperature */
    CHECK(sum_logp / T < -0.3);              /* the distributions are not trivially certain */
    free(logp);
    free(entropy);
    free(hot);
    sampled_free(&s);
}

TEST(ppo_rollout_targets_are_the_response_tokens_and_scatter_inverts_gather) {
    Sampled s = sample_rollout(22);
    const Rollout *r = &s.r;
    int T = rollout_tokens(r), idx[N_SEQ];
    all_sequences(idx);
    int *masks;
    SeqRef *refs = rollout_refs(r, &masks);
    Batch b = {0};
    SeqPlace places[N_SEQ];
    int placed = pack_sequences(&b, refs, N_SEQ, N_SEQ, 64, 1, 0, places);
    CHECK_EQ_INT(placed, N_SEQ);
    size_t N = (size_t)b.B * b.T;
    /* the per-token positions hold exactly the targets: each response token, predicted from the position before */
    float *position = xalloc_floats(N), *gathered = xalloc_floats((size_t)T), *back = xalloc_floats(N);
    for (size_t i = 0; i < N; i++) position[i] = (float)i;
    rollout_gather(r, &b, idx, places, N_SEQ, position, gathered);
    long targets = 0;
    for (size_t i = 0; i < N; i++) targets += b.targets[i] >= 0;
    CHECK_EQ_INT(targets, T);
    for (int q = 0; q < N_SEQ; q++)
        for (int j = 0; j < rollout_response_len(r, q); j++) {
            size_t at = (size_t)gathered[r->offset[q] + j];
            CHECK_EQ_INT(b.targets[at], r->tokens[q][r->prompt_len[q] + j]);
            CHECK_EQ_INT(b.tokens[at], r->tokens[q][r->prompt_len[q] + j - 1]);
        }
    /* scatter writes the per-token values back where gather read them, and nowhere else */
    memset(back, 0, sizeof(float) * N);
    rollout_scatter(r, &b, idx, places, N_SEQ, gathered, back);
    for (size_t i = 0; i < N; i++) CHECK(back[i] == (b.targets[i] >= 0 ? (float)i : 0.0f));
    free(position);
    free(gathered);
    free(back);
    batch_free(&b);
    rollout_free_refs(refs, masks);
    sampled_free(&s);
}

/* Log-probs of the response tokens from a pass kept for backward, as PPO's update computes them. */
typedef struct {
    const Rollout *r;
    float *logp;
} UpdatePathCtx;

static void logprobs_for_backward(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdatePathCtx *c = ctx;
    size_t N = (size_t)b->B * b->T;
    float *lp = xalloc_floats(2 * N);
    logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, 1.0f / TEMPERATURE, lp, lp + N, NULL);
    rollout_gather(c->r, b, idx, places, k, lp, c->logp);
    free(lp);
}

TEST(ppo_first_minibatch_recomputes_the_old_logprobs_bit_for_bit) {
    Sampled s = sample_rollout(23);
    const Rollout *r = &s.r;
    int T = rollout_tokens(r);
    float *old = xalloc_floats((size_t)T), *now = xalloc_floats((size_t)T), *adv = xalloc_floats((size_t)T),
          *dlogp = xalloc_floats((size_t)T);
    /* as make_rollout does: minibatches of 3 in order, 40 tokens a forward pass (several per minibatch) */
    int minibatch[N_SEQ];
    all_sequences(minibatch);
    for (int start = 0; start < N_SEQ; start += 3)
        rollout_logprobs(s.m, r, minibatch + start, LMF_MIN(3, N_SEQ - start), TEMPERATURE, 40, old, NULL);
    int *junk = xcalloc(4 * 64, sizeof(int));
    model_forward(s.m, junk, NULL, 4, 64, 1); /* larger buffers, other contents */
    UpdatePathCtx c = {r, now};
    for (int start = 0; start < N_SEQ; start += 3)
        rollout_forward(s.m, r, minibatch + start, LMF_MIN(3, N_SEQ - start), 40, 1, logprobs_for_backward, &c);
    CHECK_MSG(memcmp(old, now, sizeof(float) * (size_t)T) == 0, "the update's log-probs differ from the rollout's");

    for (int t = 0; t < T; t++) adv[t] = (float)((t * 7) % 5 - 2);
    long clipped = 0;
    double approx_kl = 0;
    ppo_policy_loss(now, old, adv, T, 0.2f, dlogp, &clipped, &approx_kl);
    CHECK_EQ_INT(clipped, 0);
    CHECK(approx_kl == 0.0);
    int exact = 1;
    for (int t = 0; t < T; t++) exact &= dlogp[t] == -adv[t]; /* ratio 1: ∂loss/∂logp = −A */
    CHECK(exact);
    free(junk);
    free(old);
    free(now);
    free(adv);
    free(dlogp);
    sampled_free(&s);
}

TEST(ppo_values_are_read_at_the_state_before_each_answer_token) {
    Sampled s = sample_rollout(24);
    const Rollout *r = &s.r;
    int T = rollout_tokens(r), idx[N_SEQ];
    all_sequences(idx);
    Model *critic = ppo_test_random_model(HEAD_SCORE, 8, 3.0f);
    float *values = xalloc_floats((size_t)T), *prefix_scores = xalloc_floats((size_t)T);
    rollout_values(critic, r, idx, N_SEQ, 48, values);
    /* V before answer token j = the score of the sequence that ends just before it */
    SeqRef *prefixes = xmalloc(sizeof(SeqRef) * (size_t)T);
    for (int q = 0; q < N_SEQ; q++)
        for (int j = 0; j < rollout_response_len(r, q); j++)
            prefixes[r->offset[q] + j] = (SeqRef){r->tokens[q], NULL, r->prompt_len[q] + j};
    rm_score_sequences(critic, prefixes, T, prefix_scores);
    double worst = 0, spread = 0;
    for (int t = 0; t < T; t++) {
        worst = fmax(worst, fabs(values[t] - prefix_scores[t]));
        spread = fmax(spread, fabs(values[t] - values[0]));
    }
    CHECK_MSG(worst < 1e-4, "values and prefix scores differ by %g", worst);
    CHECK(spread > 1e-3); /* the values are not all the same number */
    free(prefixes);
    free(values);
    free(prefix_scores);
    model_free(critic);
    sampled_free(&s);
}

/* ---- the gradients of both clipped losses, through the model ---- */

/* The per-token inputs of the losses: old log-probs and values 0 or ±0.6 /
 * ±0.3 away from the current ones (so ratios 1, 0.55 and 1.82, some tokens
 * clipped, none near a clip boundary), advantages and returns of both signs. */
typedef struct {
    const Rollout *r;
    int value; /* 0: the policy loss; 1: the value loss */
    float *old, *adv;  /* (T) old log-probs or values; advantages or returns */
    double loss;
    long clipped;
} LossCtx;

static void loss_backward(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    LossCtx *c = ctx;
    int T = rollout_tokens(c->r);
    size_t N = (size_t)b->B * b->T;
    float *tok = xalloc_floats(2 * (size_t)T), *dtok = tok + T, *lp = xalloc_floats(3 * N), *dout = lp + 2 * N;
    double kl = 0;
    if (c->value) rollout_gather(c->r, b, idx, places, k, m->act.out, tok);
    else {
        logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, 1.0f / TEMPERATURE, lp, lp + N, NULL);
        rollout_gather(c->r, b, idx, places, k, lp, tok);
    }
    for (int i = 0; i < k; i++) {
        int o = c->r->offset[idx[i]], n = rollout_response_len(c->r, idx[i]);
        c->loss += c->value ? ppo_value_loss(tok + o, c->old + o, c->adv + o, n, 0.2f, dtok + o, &c->clipped)
                            : ppo_policy_loss(tok + o, c->old + o, c->adv + o, n, 0.2f, dtok + o, &c->clipped, &kl);
        for (int j = 0; j < n; j++) dtok[o + j] /= (float)T;
    }
    float *grad_out = c->value ? m->act.out : dout;
    memset(grad_out, 0, sizeof(float) * N);
    rollout_scatter(c->r, b, idx, places, k, dtok, grad_out);
    if (!c->value) logprob_backward(m->act.out, b->targets, dout, lp + N, (int)N, m->cfg.vocab_size, 1.0f / TEMPERATURE);
    model_backward(m);
    free(tok);
    free(lp);
}

/* The mean loss over the rollout's tokens, forward only. */
static double mean_loss(Model *m, LossCtx *c) {
    int T = rollout_tokens(c->r), idx[N_SEQ];
    all_sequences(idx);
    float *now = xalloc_floats((size_t)T), *d = xalloc_floats((size_t)T);
    if (c->value) rollout_values(m, c->r, idx, N_SEQ, 48, now);
    else rollout_logprobs(m, c->r, idx, N_SEQ, TEMPERATURE, 48, now, NULL);
    long clipped = 0;
    double kl = 0, loss = c->value ? ppo_value_loss(now, c->old, c->adv, T, 0.2f, d, &clipped)
                                   : ppo_policy_loss(now, c->old, c->adv, T, 0.2f, d, &clipped, &kl);
    free(now);
    free(d);
    return loss / T;
}

static void check_gradient_by_finite_differences(int value) {
    Sampled s = sample_rollout(25);
    const Rollout *r = &s.r;
    int T = rollout_tokens(r), idx[N_SEQ];
    all_sequences(idx);
    Model *m = value ? ppo_test_random_model(HEAD_SCORE, 10, 3.0f) : s.m;
    LossCtx c = {r, value, xalloc_floats((size_t)T), xalloc_floats((size_t)T), 0, 0};
    if (value) rollout_values(m, r, idx, N_SEQ, 48, c.old);
    else rollout_logprobs(m, r, idx, N_SEQ, TEMPERATURE, 48, c.old, NULL);
    float away = value ? 0.3f : 0.6f;
    for (int t = 0; t < T; t++) {
        c.adv[t] = value ? c.old[t] + (t % 2 ? 1.0f : -1.0f) : (float)((t * 7) % 5 - 2) * 0.5f;
        c.old[t] += t % 3 == 0 ? 0 : t % 3 == 1 ? away : -away;
    }
    model_alloc_grads(m);
    model_zero_grads(m);
    rollout_forward(m, r, idx, N_SEQ, 48, 1, loss_backward, &c);
    CHECK(c.clipped > 0 && c.clipped < T); /* both branches of the max are exercised */
    CHECK_NEAR(c.loss / T, mean_loss(m, &c), 1e-6);

    /* in every tensor, the parameter with the largest gradient */
    const float h = 1e-3f;
    int checked = 0;
    for (int k = 0; k < m->n_tensors; k++) {
        const ParamTensor *pt = &m->tensors[k];
        size_t size = (size_t)pt->rows * (size_t)(pt->cols ? pt->cols : 1), at = pt->offset;
        for (size_t i = pt->offset; i < pt->offset + size; i++)
            if (fabsf(m->grads[i]) > fabsf(m->grads[at])) at = i;
        if (m->grads[at] == 0) continue;
        float keep = m->params[at];
        m->params[at] = keep + h;
        double up = mean_loss(m, &c);
        m->params[at] = keep - h;
        double down = mean_loss(m, &c);
        m->params[at] = keep;
        double numeric = (up - down) / (2.0 * h);
        CHECK_MSG(fabs(m->grads[at] - numeric) < 0.02 * fabs(numeric) + 1e-4,
                  "%s loss: %s[%zu]: backward %.6g, finite differences %.6g", value ? "value" : "policy", pt->name,
                  at - pt->offset, m->grads[at], numeric);
        checked++;
    }
    CHECK(checked >= m->n_tensors - 1);
    free(c.old);
    free(c.adv);
    if (value) model_free(m);
    sampled_free(&s);
}

TEST(ppo_policy_loss_gradient_reaches_the_parameters_through_the_right_logits) {
    check_gradient_by_finite_differences(0);
}

TEST(ppo_value_loss_gradient_reaches_the_critic_at_the_right_positions) { check_gradient_by_finite_differences(1); }
