/* ppo_objective.c — see ppo_objective.h. */
#include "ppo_objective.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/json_util.h"
#include "../base/jsonl.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "lm_loss.h"
#include "rollout.h"

struct PpoObjective {
    PpoConfig c;
    PpoInputs in;
    Model *critic; /* trained; it starts as a copy of the reward model, score head included */
    Model *reward; /* frozen between refreshes */
    double reward_mean, reward_std;
    char *reward_dir;
    int *order, cursor; /* the prompts' seeded shuffle, and the next one to answer */
    Rng rng;
    float beta;
    long iteration;   /* iterations done */
    int trim_samples; /* resumed: samples.jsonl may hold lines of iterations to redo */
    int refresh_every;
    PpoRefreshFn refresh;
    void *refresh_ctx;
};

/* Everything one iteration learns from, in per-token arrays (rollout.h). */
typedef struct {
    Rollout r;
    Generation *gens;
    int *prompt_of;   /* (n) which prompt each answer is for */
    float *logp_old, *ref_logp, *values, *entropy, *advantages, *returns, *rewards; /* (tokens) */
    float *score_raw, *score; /* (n) the reward model's score, and the normalised one in the rewards */
    int **minibatches, *minibatch_len, n_minibatches; /* epoch 1's minibatches: in order */
    double generation_seconds, scoring_seconds;       /* sampling; the forward passes and the rewards */
} RolloutData;

/* ---- the models ---- */

static Model *load_scorer(const char *dir, const char *what, const Tokenizer *tok, double *mean, double *std) {
    ModelDir ck = model_dir_load(dir);
    if (ck.model->cfg.head != HEAD_SCORE) die("ppo: the %s %s has a language-model head, not a score head", what, dir);
    if (!ck.tokenizer) die("ppo: the %s %s has no tokenizer.json", what, dir);
    if (tokenizer_fingerprint(ck.tokenizer) != tokenizer_fingerprint(tok))
        die("ppo: the %s %s uses another tokenizer than the policy", what, dir);
    if (mean) *mean = ck.reward_mean, *std = ck.reward_std > 0 ? ck.reward_std : 1.0;
    tokenizer_free(ck.tokenizer);
    return ck.model;
}

void ppo_use_reward_model(PpoObjective *p, const char *dir) {
    Model *m = load_scorer(dir, p->reward ? "refreshed reward model" : "reward model", p->in.tok, &p->reward_mean,
                           &p->reward_std);
    if (p->reward) model_free(p->reward);
    p->reward = m;
    char *copy = xstrdup(dir);
    free(p->reward_dir);
    p->reward_dir = copy;
}

const char *ppo_reward_dir(const PpoObjective *p) { return p->reward_dir; }

/* ---- 1: the rollout source: prompts, answers ---- */

static int *next_prompts(PpoObjective *p, int n) {
    int *chosen = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (p->cursor == p->in.n_prompts) {
            rng_shuffle_ints(&p->rng, p->order, p->in.n_prompts);
            p->cursor = 0;
        }
        chosen[i] = p->order[p->cursor++];
    }
    return chosen;
}

static SampleOptions sampling(const PpoObjective *p, int n_samples, uint64_t seed) {
    SampleOptions so = sample_options_default();
    so.temperature = p->c.temperature;
    so.top_p = p->c.top_p;
    so.max_new_tokens = p->c.max_new_tokens;
    so.seed = seed;
    so.n_samples = n_samples;
    so.logprobs = 1;
    return so;
}

/* Prompts which[0..n) of `prompts` rendered with the generation prompt, one
 * that leaves no room for an answer cut from its start (fit_prompt; the
 * stage warned about them when it read them). */
static RenderedPrompts render_answerable_prompts(const PpoObjective *p, const Conversation *prompts, const int *which,
                                                 int n) {
    RenderedPrompts r = render_prompts(p->in.tok, prompts, which, n);
    fit_rendered_prompts(NULL, &r, p->in.policy->cfg.max_seq_len, p->c.max_new_tokens);
    return r;
}

Generation *ppo_fresh_answers(PpoObjective *p, long step, int n, int K, int **which_out) {
    int *which = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) which[i] = (int)rng_below(&p->rng, (uint64_t)p->in.n_prompts);
    RenderedPrompts rendered = render_answerable_prompts(p, p->in.prompts, which, n);
    SampleOptions so = sampling(p, K, (uint64_t)p->c.seed * 7777777ULL + (uint64_t)step);
    so.logprobs = 0;
    Generation *g = sample_answers(p->in.policy, p->in.tok, &rendered, so);
    rendered_prompts_free(&rendered);
    *which_out = which;
    return g;
}

/* ---- 1, 2 and 3: answers, their log-probs, values, rewards and advantages ---- */

static void make_rollout(PpoObjective *p, RolloutData *d) {
    const PpoConfig *o = &p->c;
    int n = o->rollout_prompts;
    double start = now_seconds();
    d->prompt_of = next_prompts(p, n);
    RenderedPrompts rendered = render_answerable_prompts(p, p->in.prompts, d->prompt_of, n);
    SampleOptions so = sampling(p, 1, (uint64_t)o->seed * 1000003ULL + (uint64_t)p->iteration);
    d->gens = sample_answers(p->in.policy, p->in.tok, &rendered, so);
    d->r = rollout_of_generations(n, rendered.tokens, rendered.lens, d->gens, 1);
    rendered_prompts_free(&rendered);

    /* epoch 1's minibatches, in order: the old log-probs are computed over
     * exactly these batches, so the first update sees a ratio of exactly 1 */
    d->n_minibatches = (n + o->minibatch - 1) / o->minibatch;
    d->minibatches = xmalloc(sizeof(int *) * (size_t)d->n_minibatches);
    d->minibatch_len = xmalloc(sizeof(int) * (size_t)d->n_minibatches);
    for (int b = 0; b < d->n_minibatches; b++) {
        d->minibatch_len[b] = LMF_MIN(o->minibatch, n - b * o->minibatch);
        d->minibatches[b] = xmalloc(sizeof(int) * (size_t)d->minibatch_len[b]);
        for (int i = 0; i < d->minibatch_len[b]; i++) d->minibatches[b][i] = b * o->minibatch + i;
    }
    d->generation_seconds = now_seconds() - start;
    start = now_seconds();
    int T = rollout_tokens(&d->r);
    d->logp_old = xalloc_floats((size_t)T * 7 + 1);
    d->ref_logp = d->logp_old + T;
    d->values = d->ref_logp + T;
    d->entropy = d->values + T;
    d->advantages = d->entropy + T;
    d->returns = d->advantages + T;
    d->rewards = d->returns + T;
    for (int b = 0; b < d->n_minibatches; b++) {
        rollout_logprobs(p->in.policy, &d->r, d->minibatches[b], d->minibatch_len[b], o->temperature, o->max_tokens,
                         d->logp_old, d->entropy);
        rollout_logprobs(p->in.ref, &d->r, d->minibatches[b], d->minibatch_len[b], o->temperature, o->max_tokens,
                         d->ref_logp, NULL);
        rollout_values(p->critic, &d->r, d->minibatches[b], d->minibatch_len[b], o->max_tokens, d->values);
    }

    /* 2: the reward model reads each whole sequence, which ends at the answer's <|im_end|> when it stopped */
    d->score_raw = xmalloc(sizeof(float) * (size_t)n * 2);
    d->score = d->score_raw + n;
    rollout_scores(p->reward, &d->r, d->score_raw);
    for (int s = 0; s < n; s++) {
        float z = (float)((d->score_raw[s] - p->reward_mean) / p->reward_std);
        if (o->score_clip > 0) z = fminf(fmaxf(z, -o->score_clip), o->score_clip);
        if (d->gens[s].finished_by_stop == STOP_LENGTH) z += o->eos_penalty; /* ran out of room without ending */
        d->score[s] = z;
    }

    /* 3: rewards, advantages, returns */
    int *resp_n = xmalloc(sizeof(int) * (size_t)n);
    for (int s = 0; s < n; s++) resp_n[s] = rollout_response_len(&d->r, s);
    ppo_rewards(d->logp_old, d->ref_logp, d->score, resp_n, n, p->beta, o->kl, d->rewards);
    gae(d->rewards, d->values, resp_n, n, o->gamma, o->lam, d->advantages, d->returns);
    if (o->whiten) whiten(d->advantages, T);
    free(resp_n);
    d->scoring_seconds = now_seconds() - start;
}

static void free_rollout(RolloutData *d) {
    generations_free(d->gens, d->r.n);
    free(d->gens);
    for (int b = 0; b < d->n_minibatches; b++) free(d->minibatches[b]);
    free(d->minibatches);
    free(d->minibatch_len);
    free(d->prompt_of);
    free(d->logp_old);
    free(d->score_raw);
    rollout_free(&d->r);
}

/* ---- 4: the update ---- */

typedef struct {
    PpoObjective *p;
    RolloutData *d;
    double norm;        /* response tokens in the minibatch */
    double loss;        /* summed over tokens */
    long clipped;
    double approx_kl;
} UpdateCtx;

/* PPO's clipped loss on the tokens of a micro-batch's sequences, per token of the minibatch. */
static void policy_token_loss(void *ctx, const int *idx, int k, const float *lp, float *dlp) {
    UpdateCtx *u = ctx;
    const RolloutData *d = u->d;
    for (int i = 0; i < k; i++) {
        int s = idx[i], o = d->r.offset[s], n = rollout_response_len(&d->r, s);
        u->loss += ppo_policy_loss(lp + o, d->logp_old + o, d->advantages + o, n, u->p->c.clip, dlp + o, &u->clipped,
                                   &u->approx_kl);
        for (int j = 0; j < n; j++) dlp[o + j] /= (float)u->norm;
    }
}

static void policy_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdateCtx *u = ctx;
    rollout_policy_gradient(m, &u->d->r, b, idx, places, k, u->p->c.temperature, NULL, policy_token_loss, u);
}

static void value_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdateCtx *u = ctx;
    const RolloutData *d = u->d;
    int T = rollout_tokens(&d->r);
    float *v_tok = xalloc_floats((size_t)T * 2), *dv_tok = v_tok + T;
    rollout_gather(&d->r, b, idx, places, k, m->act.out, v_tok);
    for (int i = 0; i < k; i++) {
        int s = idx[i], o = d->r.offset[s], n = rollout_response_len(&d->r, s);
        u->loss += ppo_value_loss(v_tok + o, d->values + o, d->returns + o, n, u->p->c.value_clip, dv_tok + o,
                                  &u->clipped);
        for (int j = 0; j < n; j++) dv_tok[o + j] *= u->p->c.vf_coef / (float)u->norm;
    }
    memset(m->act.out, 0, sizeof(float) * (size_t)b->B * b->T); /* ∂loss/∂score: zero but at response positions */
    rollout_scatter(&d->r, b, idx, places, k, dv_tok, m->act.out);
    model_backward(m);
    free(v_tok);
}

/* PPO-ptx windows: 64 tokens, or the context if shorter (a window also needs the token after it). */
static int ptx_window(const Model *policy) { return LMF_MIN(64, policy->cfg.max_seq_len); }

/* PPO-ptx: the pretraining loss, weighted by ptx_coef, added to the policy's gradient. */
static void add_ptx_gradient(PpoObjective *p, int n_windows, int T) {
    const TokenShard *text = &p->in.ptx->train;
    int *tokens = xmalloc(sizeof(int) * (size_t)n_windows * T), *targets = xmalloc(sizeof(int) * (size_t)n_windows * T);
    size_t max_start = text->n_tokens - (size_t)T - 1;
    for (int i = 0; i < n_windows; i++) {
        size_t start = (size_t)rng_below(&p->rng, max_start + 1);
        for (int t = 0; t < T; t++) {
            tokens[i * T + t] = shard_token(text, start + (size_t)t);
            targets[i * T + t] = shard_token(text, start + (size_t)t + 1);
        }
    }
    long count;
    model_forward(p->in.policy, tokens, NULL, n_windows, T, 1);
    lm_loss_sum_and_grad(p->in.policy, targets, (double)n_windows * T / p->c.ptx_coef, &count);
    model_backward(p->in.policy);
    free(tokens);
    free(targets);
}

typedef struct {
    double policy_loss, value_loss, clipfrac, value_clipfrac, approx_kl;
    long policy_tokens;
} UpdateStats;

static void update(PpoObjective *p, Trainer *t, RolloutData *d, UpdateStats *st) {
    const PpoConfig *o = &p->c;
    int n = d->r.n;
    int *order = xmalloc(sizeof(int) * (size_t)n);
    memset(st, 0, sizeof *st);
    long value_tokens = 0, value_clipped = 0, policy_clipped = 0;
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        for (int i = 0; i < n; i++) order[i] = i;
        if (epoch > 0) rng_shuffle_ints(&p->rng, order, n);
        for (int start = 0; start < n; start += o->minibatch) {
            int k = LMF_MIN(o->minibatch, n - start);
            const int *idx = epoch == 0 ? d->minibatches[start / o->minibatch] : order + start;
            double tokens = 0;
            for (int i = 0; i < k; i++) tokens += rollout_response_len(&d->r, idx[i]);

            UpdateCtx u = {p, d, tokens, 0, 0, 0};
            model_zero_grads(p->in.policy);
            rollout_forward(p->in.policy, &d->r, idx, k, o->max_tokens, 1, policy_micro_batch, &u);
            if (p->in.ptx) add_ptx_gradient(p, LMF_MAX(1, k / 2), ptx_window(p->in.policy));
            trainer_update(t, PPO_POLICY);
            st->policy_loss += u.loss;
            st->approx_kl += u.approx_kl;
            policy_clipped += u.clipped;
            st->policy_tokens += (long)tokens;

            UpdateCtx v = {p, d, tokens, 0, 0, 0};
            model_zero_grads(p->critic);
            rollout_forward(p->critic, &d->r, idx, k, o->max_tokens, 1, value_micro_batch, &v);
            trainer_update(t, PPO_CRITIC);
            st->value_loss += v.loss;
            value_clipped += v.clipped;
            value_tokens += (long)tokens;
        }
    }
    st->policy_loss /= (double)st->policy_tokens;
    st->approx_kl /= (double)st->policy_tokens;
    st->clipfrac = (double)policy_clipped / (double)st->policy_tokens;
    st->value_loss /= (double)value_tokens;
    st->value_clipfrac = (double)value_clipped / (double)value_tokens;
    free(order);
}

/* ---- samples.jsonl ---- */

static void write_samples(const PpoObjective *p, const RolloutData *d, int how_many) {
    char *path = path_join(p->in.run_dir, "samples.jsonl");
    FILE *f = fopen(path, "ab");
    if (!f) die_errno("cannot append to %s", path);
    for (int s = 0; s < LMF_MIN(how_many, d->r.n); s++) {
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "iteration", (double)p->iteration);
        cJSON_AddItemToObject(line, "prompt", conversation_to_json(&p->in.prompts[d->prompt_of[s]]));
        cJSON_AddStringToObject(line, "response", d->gens[s].text ? d->gens[s].text : "");
        cJSON_AddNumberToObject(line, "score", d->score_raw[s]);
        jsonl_print(f, line);
        cJSON_Delete(line);
    }
    fclose(f);
    free(path);
}

/* A resumed run redoes the iterations after its checkpoint, so the samples
 * they wrote before the interruption are dropped (the trainer does the same
 * for their metrics). */
static void keep_samples_up_to(const char *run_dir, long iteration) {
    char *path = path_join(run_dir, "samples.jsonl");
    char *text = file_exists(path) ? read_file(path, NULL) : NULL;
    if (text) {
        AtomicFile out = atomic_open(path);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "iteration");
            if (cJSON_IsNumber(it) && it->valuedouble <= (double)iteration) fprintf(out.f, "%s\n", line);
            cJSON_Delete(j);
        }
        atomic_commit(&out);
    }
    free(text);
    free(path);
}

/* ---- one iteration: the trainer's step ---- */

static long ppo_take_step(void *ctx, Trainer *t, long step, StepStats *stats) {
    PpoObjective *p = ctx;
    const PpoConfig *o = &p->c;
    p->iteration = step;
    if (p->trim_samples) keep_samples_up_to(p->in.run_dir, step);
    p->trim_samples = 0;
    if (p->refresh && step > 0 && step % p->refresh_every == 0) {
        p->refresh(p->refresh_ctx, p, t, step);
        stats_add(stats, "reward_model_refresh", 1); /* the score's scale changes here: plots mark it */
    }

    double start = now_seconds();
    RolloutData d = {0};
    make_rollout(p, &d);
    int n = d.r.n, T = rollout_tokens(&d.r);
    double score = 0, score_norm = 0, kl = 0, entropy = 0, stopped = 0;
    for (int s = 0; s < n; s++) {
        score += d.score_raw[s];
        score_norm += d.score[s];
        stopped += d.gens[s].finished_by_stop != STOP_LENGTH;
        for (int i = d.r.offset[s]; i < d.r.offset[s + 1]; i++) kl += kl_estimate(d.logp_old[i], d.ref_logp[i], o->kl);
    }
    for (int i = 0; i < T; i++) entropy += d.entropy[i];
    UpdateStats st;
    double update_start = now_seconds();
    update(p, t, &d, &st);
    double update_seconds = now_seconds() - update_start;
    p->iteration++;
    double mean_kl = kl / n, explained = explained_variance(d.values, d.returns, T);
    float beta_used = p->beta;
    if (o->target_kl > 0) p->beta = adaptive_kl_update(p->beta, mean_kl, o->target_kl, n, o->kl_horizon);

    stats_add(stats, "score", score / n);
    stats_add(stats, "score_normalized", score_norm / n);
    stats_add(stats, "kl", mean_kl);
    stats_add(stats, "entropy", entropy / T);
    stats_add(stats, "policy_loss", st.policy_loss);
    stats_add(stats, "clipfrac", st.clipfrac);
    stats_add(stats, "approx_kl", st.approx_kl);
    stats_add(stats, "value_loss", st.value_loss);
    stats_add(stats, "value_clipfrac", st.value_clipfrac);
    stats_add(stats, "explained_variance", explained);
    stats_add(stats, "length", (double)T / n);
    stats_add(stats, "stopped", stopped / n);
    stats_add(stats, "beta", beta_used);
    write_samples(p, &d, 4);
    stats_add(stats, "time/generation", d.generation_seconds);
    stats_add(stats, "time/scoring", d.scoring_seconds);
    stats_add(stats, "time/update", update_seconds);
    stats_add(stats, "time/iteration", now_seconds() - start);
    free_rollout(&d);
    return T;
}

/* ---- held-out evaluation ---- */

static void ppo_evaluate(void *ctx, Model *m, StepStats *stats) {
    (void)m; /* a take_step objective's models are its parts */
    PpoObjective *p = ctx;
    const PpoConfig *o = &p->c;
    int n = p->in.n_eval_prompts, *all = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) all[i] = i;
    RenderedPrompts rendered = render_answerable_prompts(p, p->in.eval_prompts, all, n);
    /* the same seed every time: the answers change only as the policy does */
    Generation *g = sample_answers(p->in.policy, p->in.tok, &rendered, sampling(p, 1, (uint64_t)o->seed * 104729ULL));
    Rollout r = rollout_of_generations(n, rendered.tokens, rendered.lens, g, 1);
    rendered_prompts_free(&rendered);
    int T = rollout_tokens(&r);
    float *lp = xalloc_floats(2 * (size_t)T + 1), *ref_lp = lp + T, *score = xmalloc(sizeof(float) * (size_t)n);
    for (int b = 0; b < n; b += o->minibatch) {
        int k = LMF_MIN(o->minibatch, n - b);
        rollout_logprobs(p->in.policy, &r, all + b, k, o->temperature, o->max_tokens, lp, NULL);
        rollout_logprobs(p->in.ref, &r, all + b, k, o->temperature, o->max_tokens, ref_lp, NULL);
    }
    rollout_scores(p->reward, &r, score);
    double total = 0, kl = 0;
    for (int s = 0; s < n; s++) total += score[s];
    for (int i = 0; i < T; i++) kl += kl_estimate(lp[i], ref_lp[i], o->kl);
    stats_add(stats, "eval/score", total / n);
    stats_add(stats, "eval/kl", kl / n);
    stats_add(stats, "eval/length", (double)T / n);
    if (p->in.judge) {
        p->in.judge(p->in.judge_ctx, p->in.eval_prompts, g, n, score);
        total = 0;
        for (int s = 0; s < n; s++) total += score[s];
        stats_add(stats, "eval/judge", total / n);
    }
    free(score);
    free(lp);
    rollout_free(&r);
    generations_free(g, n);
    free(g);
    free(all);
}

/* ---- resume ---- */

static cJSON *ppo_save_state(void *ctx) {
    const PpoObjective *p = ctx;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "beta", p->beta);
    cJSON_AddNumberToObject(s, "cursor", p->cursor);
    cJSON_AddItemToObject(s, "order", cJSON_CreateIntArray(p->order, p->in.n_prompts));
    cJSON_AddItemToObject(s, "rng", rng_to_json(&p->rng));
    cJSON_AddStringToObject(s, "reward_dir", p->reward_dir);
    return s;
}

static void ppo_load_state(void *ctx, const cJSON *s) {
    PpoObjective *p = ctx;
    const char *where = "trainer_state.json: data";
    p->beta = json_get_float(s, "beta", where);
    p->cursor = json_get_int(s, "cursor", where);
    const cJSON *order = json_get_array(s, "order", where);
    if (cJSON_GetArraySize(order) != p->in.n_prompts)
        die("%s: the prompt file has changed since this run began", where);
    for (int i = 0; i < p->in.n_prompts; i++) p->order[i] = cJSON_GetArrayItem(order, i)->valueint;
    rng_from_json(&p->rng, json_get_array(s, "rng", where), where);
    const char *reward_dir = json_get_string(s, "reward_dir", where);
    if (strcmp(reward_dir, p->reward_dir) != 0) ppo_use_reward_model(p, reward_dir);
    p->trim_samples = 1;
}

/* ---- set-up ---- */

PpoObjective *ppo_objective_new(const PpoConfig *c, const PpoInputs *in) {
    PpoObjective *p = xcalloc(1, sizeof *p);
    p->c = *c;
    p->in = *in;
    p->beta = c->beta;
    ppo_use_reward_model(p, in->reward_dir);
    p->critic = load_scorer(in->critic_dir ? in->critic_dir : in->reward_dir, "value model", in->tok, NULL, NULL);
    rng_seed(&p->rng, (uint64_t)c->seed * 31337ULL + 5);
    p->order = xmalloc(sizeof(int) * (size_t)in->n_prompts);
    for (int i = 0; i < in->n_prompts; i++) p->order[i] = i;
    rng_shuffle_ints(&p->rng, p->order, in->n_prompts);
    if (in->ptx && in->ptx->train.n_tokens <= (size_t)ptx_window(in->policy))
        die("ppo: --ptx-data %s has %zu tokens, fewer than one window of %d", in->ptx_source, in->ptx->train.n_tokens,
            ptx_window(in->policy) + 1);
    return p;
}

void ppo_objective_free(PpoObjective *p) {
    if (!p) return;
    model_free(p->reward);
    model_free(p->critic);
    free(p->reward_dir);
    free(p->order);
    free(p);
}

Objective ppo_objective(PpoObjective *p) {
    return (Objective){
        .ctx = p,
        .take_step = ppo_take_step,
        .evaluate = p->in.n_eval_prompts > 0 ? ppo_evaluate : NULL,
        .save_state = ppo_save_state,
        .load_state = ppo_load_state,
        .progress_keys = "score,kl,entropy,clipfrac,approx_kl,value_loss,explained_variance,length,beta",
    };
}

/* The critic is saved with the reward model's statistics, as a reward model is. */
static void save_critic(void *ctx, const char *dir) {
    const PpoObjective *p = ctx;
    model_dir_save(dir, p->critic, p->in.tok, p->reward_mean, p->reward_std);
}

void ppo_objective_parts(PpoObjective *p, TrainPart parts[PPO_PARTS]) {
    OptimConfig oc = optim_defaults();
    oc.weight_decay = 0;
    oc.grad_clip = p->c.grad_clip;
    oc.lr = p->c.lr;
    parts[PPO_POLICY] = (TrainPart){.name = "policy", .final_dir = "model", .model = p->in.policy, .optim = oc};
    oc.lr = p->c.value_lr;
    parts[PPO_CRITIC] = (TrainPart){
        .name = "value", .final_dir = "value", .model = p->critic, .optim = oc, .save = save_critic, .ctx = p};
}

void ppo_objective_on_refresh(PpoObjective *p, int every, PpoRefreshFn fn, void *ctx) {
    p->refresh_every = every;
    p->refresh = every > 0 ? fn : NULL;
    p->refresh_ctx = ctx;
}
