/* ppo.c — RLHF with PPO, the InstructGPT recipe (Ouyang et al. 2022):
 *
 *   repeat for each iteration:
 *     1. the policy answers a batch of prompts (sampling, KV cache);
 *     2. the reward model scores each answer, and a per-token KL penalty
 *        keeps the policy near the reference (the SFT model it started as);
 *     3. GAE turns these rewards and the critic's values into advantages;
 *     4. a few epochs of clipped PPO updates of the policy and of the critic,
 *        over minibatches of the answers;
 *     5. every N iterations, K fresh answers per prompt go to an annotator,
 *        and the reward model continues training on all comparisons so far
 *        ("the coach improves as the player does").
 *
 * Four models are in memory: the policy (trained), its frozen reference, the
 * reward model (frozen between refreshes) and the critic (trained; it starts
 * as a copy of the reward model, score head included). The arithmetic lives
 * in train/ppo_math.h, the per-token bookkeeping in train/rollout.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/args.h"
#include "../base/json_util.h"
#include "../base/metrics.h"
#include "../base/plot.h"
#include "../base/progress.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"
#include "../data/text_data.h"
#include "../io/model_dir.h"
#include "../kernels/kernels.h"
#include "../model/generate.h"
#include "../pipeline/annotator.h"
#include "../train/lm_loss.h"
#include "../train/optimizer.h"
#include "../train/ppo_math.h"
#include "../train/rollout.h"
#include "../train/run_dir.h"
#include "stages.h"

typedef struct {
    const char *policy, *reward, *value, *prompts_path, *out, *kl_name, *annotator, *ptx_data;
    long iterations;
    int rollout_prompts, minibatch, epochs, max_new_tokens, max_tokens, save_every, keep, seed, resume, resume_override;
    float temperature, top_p, lr, value_lr, beta, target_kl, gamma, lam, clip, value_clip, vf_coef, grad_clip;
    float score_clip, eos_penalty, ptx_coef;
    long kl_horizon;
    int whiten;
    /* reward-model refresh */
    int refresh_every, refresh_prompts, refresh_k, refresh_epochs;
    float refresh_lr;
} PpoOptions;

typedef struct {
    PpoOptions o;
    Tokenizer *tok;
    Model *policy, *ref, *value, *reward;
    double reward_mean, reward_std;
    char *reward_dir;
    AdamW *policy_opt, *value_opt;
    Conversation *prompts;
    int n_prompts, *order, cursor;
    Rng rng;
    float beta;
    long iteration;
    TokenData ptx;
    int has_ptx;
    MetricsLog *log;
} Ppo;

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

/* ---- loading ---- */

static void load_prompt_order(Ppo *p) {
    p->prompts = load_prompts(p->o.prompts_path, &p->n_prompts);
    p->order = xmalloc(sizeof(int) * (size_t)p->n_prompts);
    for (int i = 0; i < p->n_prompts; i++) p->order[i] = i;
    rng_shuffle_ints(&p->rng, p->order, p->n_prompts);
}

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

/* ---- 1 and 2: answers, their log-probs, values and rewards ---- */

static int *next_prompts(Ppo *p, int n) {
    int *chosen = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (p->cursor == p->n_prompts) {
            rng_shuffle_ints(&p->rng, p->order, p->n_prompts);
            p->cursor = 0;
        }
        chosen[i] = p->order[p->cursor++];
    }
    return chosen;
}

static SampleOptions sampling(const Ppo *p, int n_samples, uint64_t seed) {
    SampleOptions so = sample_options_default();
    so.temperature = p->o.temperature;
    so.top_p = p->o.top_p;
    so.max_new_tokens = p->o.max_new_tokens;
    so.seed = seed;
    so.n_samples = n_samples;
    so.logprobs = 1;
    return so;
}

/* Prompts which[0..n) rendered with the generation prompt; dies if one leaves no room for an answer. */
static RenderedPrompts render_answerable_prompts(const Ppo *p, const int *which, int n) {
    RenderedPrompts r = render_prompts(p->tok, p->prompts, which, n);
    for (int i = 0; i < n; i++)
        if (r.lens[i] + 1 >= p->policy->cfg.max_seq_len)
            die("ppo: prompt %d has %d tokens and leaves no room for an answer in the context of %d", which[i] + 1,
                r.lens[i], p->policy->cfg.max_seq_len);
    return r;
}

static void make_rollout(Ppo *p, RolloutData *d) {
    const PpoOptions *o = &p->o;
    int n = o->rollout_prompts;
    double start = now_seconds();
    d->prompt_of = next_prompts(p, n);
    RenderedPrompts rendered = render_answerable_prompts(p, d->prompt_of, n);
    SampleOptions so = sampling(p, 1, (uint64_t)o->seed * 1000003ULL + (uint64_t)p->iteration);
    d->gens = sample_answers(p->policy, p->tok, &rendered, so);
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
        rollout_logprobs(p->policy, &d->r, d->minibatches[b], d->minibatch_len[b], o->temperature, o->max_tokens,
                         d->logp_old, d->entropy);
        rollout_logprobs(p->ref, &d->r, d->minibatches[b], d->minibatch_len[b], o->temperature, o->max_tokens,
                         d->ref_logp, NULL);
        rollout_values(p->value, &d->r, d->minibatches[b], d->minibatch_len[b], o->max_tokens, d->values);
    }

    /* the reward model reads each whole sequence, which ends at the answer's <|im_end|> when it stopped */
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
    KlEstimator kl = strcmp(o->kl_name, "k3") == 0 ? KL_K3 : KL_K1;
    ppo_rewards(d->logp_old, d->ref_logp, d->score, resp_n, n, p->beta, kl, d->rewards);
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
    Ppo *p;
    RolloutData *d;
    double norm;        /* response tokens in the minibatch */
    double loss;        /* summed over tokens */
    long clipped;
    double approx_kl;
} UpdateCtx;

static void policy_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdateCtx *u = ctx;
    const RolloutData *d = u->d;
    size_t N = (size_t)b->B * b->T;
    int T = rollout_tokens(&d->r);
    float inv_temp = 1.0f / u->p->o.temperature;
    float *lp = xalloc_floats(3 * N), *lse = lp + N, *dlogp = lp + 2 * N;
    float *lp_tok = xalloc_floats((size_t)T * 2), *dlp_tok = lp_tok + T;
    logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, inv_temp, lp, lse, NULL);
    rollout_gather(&d->r, b, idx, places, k, lp, lp_tok);
    for (int i = 0; i < k; i++) {
        int s = idx[i], o = d->r.offset[s], n = rollout_response_len(&d->r, s);
        u->loss += ppo_policy_loss(lp_tok + o, d->logp_old + o, d->advantages + o, n, u->p->o.clip, dlp_tok + o,
                                   &u->clipped, &u->approx_kl);
        for (int j = 0; j < n; j++) dlp_tok[o + j] /= (float)u->norm;
    }
    memset(dlogp, 0, sizeof(float) * N);
    rollout_scatter(&d->r, b, idx, places, k, dlp_tok, dlogp);
    logprob_backward(m->act.out, b->targets, dlogp, lse, (int)N, m->cfg.vocab_size, inv_temp);
    model_backward(m);
    free(lp);
    free(lp_tok);
}

static void value_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdateCtx *u = ctx;
    const RolloutData *d = u->d;
    int T = rollout_tokens(&d->r);
    float *v_tok = xalloc_floats((size_t)T * 2), *dv_tok = v_tok + T;
    rollout_gather(&d->r, b, idx, places, k, m->act.out, v_tok);
    for (int i = 0; i < k; i++) {
        int s = idx[i], o = d->r.offset[s], n = rollout_response_len(&d->r, s);
        u->loss += ppo_value_loss(v_tok + o, d->values + o, d->returns + o, n, u->p->o.value_clip, dv_tok + o,
                                  &u->clipped);
        for (int j = 0; j < n; j++) dv_tok[o + j] *= u->p->o.vf_coef / (float)u->norm;
    }
    memset(m->act.out, 0, sizeof(float) * (size_t)b->B * b->T); /* ∂loss/∂score: zero but at response positions */
    rollout_scatter(&d->r, b, idx, places, k, dv_tok, m->act.out);
    model_backward(m);
    free(v_tok);
}

/* PPO-ptx windows: 64 tokens, or the context if shorter (a window also needs the token after it). */
static int ptx_window(const Ppo *p) { return LMF_MIN(64, p->policy->cfg.max_seq_len); }

/* PPO-ptx: the pretraining loss, weighted by ptx_coef, added to the policy's gradient. */
static void add_ptx_gradient(Ppo *p, int n_windows, int T) {
    int *tokens = xmalloc(sizeof(int) * (size_t)n_windows * T), *targets = xmalloc(sizeof(int) * (size_t)n_windows * T);
    size_t max_start = p->ptx.train.n_tokens - (size_t)T - 1;
    for (int i = 0; i < n_windows; i++) {
        size_t start = (size_t)rng_below(&p->rng, max_start + 1);
        for (int t = 0; t < T; t++) {
            tokens[i * T + t] = shard_token(&p->ptx.train, start + (size_t)t);
            targets[i * T + t] = shard_token(&p->ptx.train, start + (size_t)t + 1);
        }
    }
    long count;
    model_forward(p->policy, tokens, NULL, n_windows, T, 1);
    lm_loss_sum_and_grad(p->policy, targets, (double)n_windows * T / p->o.ptx_coef, &count);
    model_backward(p->policy);
    free(tokens);
    free(targets);
}

typedef struct {
    double policy_loss, value_loss, clipfrac, value_clipfrac, approx_kl;
    long policy_tokens;
} UpdateStats;

static void update(Ppo *p, RolloutData *d, UpdateStats *st) {
    const PpoOptions *o = &p->o;
    int n = d->r.n;
    int *order = xmalloc(sizeof(int) * (size_t)n);
    memset(st, 0, sizeof *st);
    long value_tokens = 0, value_clipped = 0, policy_clipped = 0;
    ParamSet pps = model_param_set(p->policy), vps = model_param_set(p->value);
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        for (int i = 0; i < n; i++) order[i] = i;
        if (epoch > 0) rng_shuffle_ints(&p->rng, order, n);
        for (int start = 0; start < n; start += o->minibatch) {
            int k = LMF_MIN(o->minibatch, n - start);
            const int *idx = epoch == 0 ? d->minibatches[start / o->minibatch] : order + start;
            double tokens = 0;
            for (int i = 0; i < k; i++) tokens += rollout_response_len(&d->r, idx[i]);

            UpdateCtx u = {p, d, tokens, 0, 0, 0};
            model_zero_grads(p->policy);
            rollout_forward(p->policy, &d->r, idx, k, o->max_tokens, 1, policy_micro_batch, &u);
            if (p->has_ptx) add_ptx_gradient(p, LMF_MAX(1, k / 2), ptx_window(p));
            adamw_step(p->policy_opt, &pps, o->lr);
            st->policy_loss += u.loss;
            st->approx_kl += u.approx_kl;
            policy_clipped += u.clipped;
            st->policy_tokens += (long)tokens;

            UpdateCtx v = {p, d, tokens, 0, 0, 0};
            model_zero_grads(p->value);
            rollout_forward(p->value, &d->r, idx, k, o->max_tokens, 1, value_micro_batch, &v);
            adamw_step(p->value_opt, &vps, o->value_lr);
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

/* ---- 5: refreshing the reward model on fresh comparisons ---- */

static void save_checkpoint(Ppo *p);

/* Each refresh writes its comparisons to RUN_DIR/comparisons-ITER.jsonl and
 * trains the reward model further on all of them, from the current one. The
 * state is saved first: a resumed run redoes the refresh exactly (same
 * prompts, same samples, the annotator started afresh), and only skips the
 * training when its model is already complete. */
static void refresh_reward_model(Ppo *p) {
    const PpoOptions *o = &p->o;
    save_checkpoint(p);
    int n = LMF_MIN(o->refresh_prompts, p->n_prompts), K = o->refresh_k;
    int *which = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) which[i] = (int)rng_below(&p->rng, (uint64_t)p->n_prompts);
    RenderedPrompts rendered = render_answerable_prompts(p, which, n);
    SampleOptions so = sampling(p, K, (uint64_t)o->seed * 7777777ULL + (uint64_t)p->iteration);
    so.logprobs = 0;
    Generation *g = sample_answers(p->policy, p->tok, &rendered, so);

    info("ppo: %d prompts x %d answers go to the annotator; the state is saved in %s/checkpoint-%ld, from which "
         "--resume redoes this refresh if the annotator fails", n, K, o->out, p->iteration);
    char *comparisons = xsprintf("%s/comparisons-%ld.jsonl", o->out, p->iteration);
    JsonlWriter *w = jsonl_writer_open(comparisons);
    Annotator *a = annotator_start(o->annotator);
    const char **texts = xmalloc(sizeof(char *) * (size_t)K), **kept = xmalloc(sizeof(char *) * (size_t)K);
    int *ranking = xmalloc(sizeof(int) * (size_t)K), *new_index = xmalloc(sizeof(int) * (size_t)K);
    int *kept_ranking = xmalloc(sizeof(int) * (size_t)K), blank = 0, dropped = 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < K; k++) texts[k] = g[i * K + k].text ? g[i * K + k].text : "";
        cJSON *prompt = conversation_to_json(&p->prompts[which[i]]);
        annotator_rank(a, prompt, texts, K, ranking);
        /* a blank answer (a policy that stopped at once) teaches the reward model nothing and rm refuses it, as
         * annotate and rs leave it out: keep the others, in their ranked order */
        int n_kept = 0;
        for (int k = 0; k < K; k++) {
            new_index[k] = preference_answer_is_blank(texts[k]) ? -1 : n_kept;
            if (new_index[k] < 0) blank++;
            else kept[n_kept++] = texts[k];
        }
        for (int r = 0, j = 0; r < K; r++)
            if (new_index[ranking[r]] >= 0) kept_ranking[j++] = new_index[ranking[r]];
        if (n_kept < 2) {
            dropped++;
            cJSON_Delete(prompt);
            continue;
        }
        cJSON *line = cJSON_CreateObject();
        cJSON_AddItemToObject(line, "prompt", prompt);
        cJSON_AddItemToObject(line, "responses", cJSON_CreateStringArray(kept, n_kept));
        cJSON_AddItemToObject(line, "ranking", cJSON_CreateIntArray(kept_ranking, n_kept));
        jsonl_write(w, line);
        cJSON_Delete(line);
    }
    if (blank)
        info("ppo: %d blank answers left out of the comparisons (%d prompts with fewer than 2 others dropped)", blank,
             dropped);
    free(kept);
    free(new_index);
    free(kept_ranking);
    annotator_stop(a);
    jsonl_writer_close(w);

    char *rm_out = xsprintf("%s/rm-%ld", o->out, p->iteration);
    char *rm_model = path_join(rm_out, "model");
    char *rm_done = path_join(rm_model, "config.json");
    if (!file_exists(rm_done)) {
        remove_tree(rm_out);
        char *data = xstrdup("");
        for (long it = o->refresh_every; it <= p->iteration; it += o->refresh_every) {
            char *more = xsprintf("%s --data '%s/comparisons-%ld.jsonl'", data, o->out, it);
            free(data);
            data = more;
        }
        char *cmd = xsprintf("'/proc/%d/exe' rm --init '%s' --out '%s' --epochs %d --lr %g --seed %d%s > '%s.log' 2>&1",
                             (int)getpid(), p->reward_dir, rm_out, o->refresh_epochs, (double)o->refresh_lr, o->seed,
                             data, rm_out);
        info("ppo: training the reward model further on%s; log in %s.log", data, rm_out);
        fflush(stdout);
        if (system(cmd) != 0) die("ppo: retraining the reward model failed; see %s.log (resume with --resume)", rm_out);
        free(cmd);
        free(data);
    }
    model_free(p->reward);
    p->reward = load_scorer(rm_model, "refreshed reward model", p->tok, &p->reward_mean, &p->reward_std);
    free(p->reward_dir);
    p->reward_dir = rm_model;
    info("reward model trained further on %ld refreshes of comparisons: %s", p->iteration / o->refresh_every,
         p->reward_dir);
    free(rm_done);
    free(rm_out);
    free(comparisons);
    free(texts);
    free(ranking);
    generations_free(g, n * K);
    free(g);
    rendered_prompts_free(&rendered);
    free(which);
}

/* ---- checkpoints ---- */

static void save_checkpoint(Ppo *p) {
    char *tmp = checkpoint_begin(p->o.out, p->iteration);
    char *dir = path_join(tmp, "policy");
    model_dir_save(dir, p->policy, p->tok, 0, 1);
    free(dir);
    dir = path_join(tmp, "value");
    model_dir_save(dir, p->value, p->tok, p->reward_mean, p->reward_std);
    free(dir);
    char *path = path_join(tmp, "policy_optimizer.safetensors");
    adamw_save(p->policy_opt, path);
    free(path);
    path = path_join(tmp, "value_optimizer.safetensors");
    adamw_save(p->value_opt, path);
    free(path);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "iteration", (double)p->iteration);
    cJSON_AddNumberToObject(s, "beta", p->beta);
    cJSON_AddNumberToObject(s, "cursor", p->cursor);
    cJSON_AddItemToObject(s, "order", cJSON_CreateIntArray(p->order, p->n_prompts));
    cJSON_AddItemToObject(s, "rng", rng_to_json(&p->rng));
    cJSON_AddStringToObject(s, "reward_dir", p->reward_dir);
    cJSON_AddNumberToObject(s, "policy_optimizer_step", (double)p->policy_opt->step);
    cJSON_AddNumberToObject(s, "value_optimizer_step", (double)p->value_opt->step);
    cJSON *settings = run_settings_to_save();
    if (settings) cJSON_AddItemToObject(s, "settings", settings);
    path = path_join(tmp, "ppo_state.json");
    json_write_file(path, s); /* last: it marks the checkpoint complete */
    free(path);
    cJSON_Delete(s);
    checkpoint_commit(p->o.out, p->iteration, p->o.keep);
    free(tmp);
}

/* A resumed run redoes the iterations after its checkpoint, so the samples
 * they wrote before the interruption are dropped (metrics_open_resume does
 * the same for their metrics). */
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

static void resume(Ppo *p) {
    long it = newest_checkpoint(p->o.out, "ppo_state.json");
    if (it < 0) {
        info("ppo: --resume: no checkpoint in %s yet; starting the run from the beginning", p->o.out);
        return;
    }
    char *dir = xsprintf("%s/checkpoint-%ld", p->o.out, it);
    char *sub = path_join(dir, "policy");
    model_dir_load_params(sub, p->policy);
    free(sub);
    sub = path_join(dir, "value");
    model_dir_load_params(sub, p->value);
    free(sub);
    char *path = path_join(dir, "policy_optimizer.safetensors");
    adamw_load(p->policy_opt, path);
    free(path);
    path = path_join(dir, "value_optimizer.safetensors");
    adamw_load(p->value_opt, path);
    free(path);
    path = path_join(dir, "ppo_state.json");
    cJSON *s = json_read_file(path);
    run_settings_check(cJSON_GetObjectItemCaseSensitive(s, "settings"), path, "ppo");
    p->iteration = json_get_int64(s, "iteration", path);
    p->beta = json_get_float(s, "beta", path);
    p->cursor = json_get_int(s, "cursor", path);
    const cJSON *order = json_get_array(s, "order", path);
    if (cJSON_GetArraySize(order) != p->n_prompts) die("%s: the prompt file has changed since this run began", path);
    for (int i = 0; i < p->n_prompts; i++) p->order[i] = cJSON_GetArrayItem(order, i)->valueint;
    rng_from_json(&p->rng, json_get_array(s, "rng", path), path);
    p->policy_opt->step = json_get_int64(s, "policy_optimizer_step", path);
    p->value_opt->step = json_get_int64(s, "value_optimizer_step", path);
    const char *reward_dir = json_get_string(s, "reward_dir", path);
    if (strcmp(reward_dir, p->reward_dir) != 0) {
        model_free(p->reward);
        p->reward = load_scorer(reward_dir, "reward model", p->tok, &p->reward_mean, &p->reward_std);
        free(p->reward_dir);
        p->reward_dir = xstrdup(reward_dir);
    }
    cJSON_Delete(s);
    free(path);
    free(dir);
    keep_samples_up_to(p->o.out, p->iteration);
    info("resumed from %s/checkpoint-%ld", p->o.out, it);
}

/* ---- the loop ---- */

static void write_samples(const Ppo *p, const RolloutData *d, int how_many) {
    char *path = path_join(p->o.out, "samples.jsonl");
    FILE *f = fopen(path, "ab");
    if (!f) die_errno("cannot append to %s", path);
    for (int s = 0; s < LMF_MIN(how_many, d->r.n); s++) {
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "iteration", (double)p->iteration);
        cJSON_AddItemToObject(line, "prompt", conversation_to_json(&p->prompts[d->prompt_of[s]]));
        cJSON_AddStringToObject(line, "response", d->gens[s].text ? d->gens[s].text : "");
        cJSON_AddNumberToObject(line, "score", d->score_raw[s]);
        jsonl_print(f, line);
        cJSON_Delete(line);
    }
    fclose(f);
    free(path);
}

static void one_iteration(Ppo *p, Progress *progress) {
    const PpoOptions *o = &p->o;
    double start = now_seconds();
    RolloutData d = {0};
    make_rollout(p, &d);
    int n = d.r.n, T = rollout_tokens(&d.r);
    double score = 0, score_norm = 0, kl = 0, entropy = 0, stopped = 0;
    KlEstimator kind = strcmp(o->kl_name, "k3") == 0 ? KL_K3 : KL_K1;
    for (int s = 0; s < n; s++) {
        score += d.score_raw[s];
        score_norm += d.score[s];
        stopped += d.gens[s].finished_by_stop != STOP_LENGTH;
        for (int t = d.r.offset[s]; t < d.r.offset[s + 1]; t++) kl += kl_estimate(d.logp_old[t], d.ref_logp[t], kind);
    }
    for (int t = 0; t < T; t++) entropy += d.entropy[t];
    UpdateStats st;
    double update_start = now_seconds();
    update(p, &d, &st);
    double update_seconds = now_seconds() - update_start;
    p->iteration++;
    double mean_kl = kl / n, explained = explained_variance(d.values, d.returns, T);
    float beta_used = p->beta;
    if (o->target_kl > 0) p->beta = adaptive_kl_update(p->beta, mean_kl, o->target_kl, n, o->kl_horizon);

    metrics_begin(p->log, p->iteration);
    metrics_add(p->log, "score", score / n);
    metrics_add(p->log, "score_normalized", score_norm / n);
    metrics_add(p->log, "kl", mean_kl);
    metrics_add(p->log, "entropy", entropy / T);
    metrics_add(p->log, "policy_loss", st.policy_loss);
    metrics_add(p->log, "clipfrac", st.clipfrac);
    metrics_add(p->log, "approx_kl", st.approx_kl);
    metrics_add(p->log, "value_loss", st.value_loss);
    metrics_add(p->log, "value_clipfrac", st.value_clipfrac);
    metrics_add(p->log, "explained_variance", explained);
    metrics_add(p->log, "length", (double)T / n);
    metrics_add(p->log, "stopped", stopped / n);
    metrics_add(p->log, "beta", beta_used);
    write_samples(p, &d, 4);
    metrics_add(p->log, "time/generation", d.generation_seconds);
    metrics_add(p->log, "time/scoring", d.scoring_seconds);
    metrics_add(p->log, "time/update", update_seconds);
    metrics_add(p->log, "time/iteration", now_seconds() - start);
    metrics_end(p->log);
    progress_add_tokens(progress, (double)T);
    progress_update(progress, p->iteration,
                    "score %.3f | kl %.3f | ent %.2f | clip %.3f | akl %.4f | vloss %.4f | ev %.2f | len %.1f | beta %.3g",
                    score / n, mean_kl, entropy / T, st.clipfrac, st.approx_kl, st.value_loss, explained,
                    (double)T / n, beta_used);
    free_rollout(&d);
}

int cmd_ppo(int argc, char **argv) {
    Ppo p = {0};
    PpoOptions *o = &p.o;
    *o = (PpoOptions){.out = "runs/ppo", .kl_name = "k1", .iterations = 100, .rollout_prompts = 64, .minibatch = 16,
                      .epochs = 4, .max_new_tokens = 64, .max_tokens = 8192, .save_every = 20, .keep = 2, .seed = 1,
                      .temperature = 1.0f, .top_p = 1.0f, .lr = 1e-5f, .value_lr = 1e-5f, .beta = 0.05f,
                      .target_kl = 0, .kl_horizon = 10000, .gamma = 1.0f, .lam = 0.95f, .clip = 0.2f,
                      .value_clip = 0.2f, .vf_coef = 0.1f, .grad_clip = 1.0f, .score_clip = 0, .eos_penalty = 0,
                      .ptx_coef = 0, .whiten = 1, .refresh_every = 0, .refresh_prompts = 64, .refresh_k = 4,
                      .refresh_epochs = 1, .refresh_lr = 1e-5f};
    Option opts[] = {
        OPT_STR("policy", &o->policy, "the SFT model to start from; also the frozen reference (required)"),
        OPT_STR("reward", &o->reward, "the reward model (required)"),
        OPT_STR("value", &o->value, "the critic's starting point (default: the reward model)"),
        OPT_STR("prompts", &o->prompts_path, "JSONL prompts: {\"prompt\"} or {\"messages\"} (required)"),
        OPT_STR("out", &o->out, "run directory: checkpoints, metrics.jsonl, samples.jsonl, plots, model/"),
        OPT_LONG("iterations", &o->iterations, "rollout + update iterations"),
        OPT_INT("rollout-prompts", &o->rollout_prompts, "prompts answered per iteration"),
        OPT_INT("minibatch", &o->minibatch, "answers per PPO update"),
        OPT_INT("epochs", &o->epochs, "PPO epochs over each rollout"),
        OPT_FLOAT("temperature", &o->temperature, "sampling temperature (log-probs are recomputed at it)"),
        OPT_FLOAT("top-p", &o->top_p, "nucleus sampling threshold (1: off)"),
        OPT_INT("max-new-tokens", &o->max_new_tokens, "longest answer"),
        OPT_FLOAT("lr", &o->lr, "policy learning rate"),
        OPT_FLOAT("value-lr", &o->value_lr, "critic learning rate"),
        OPT_FLOAT("beta", &o->beta, "KL penalty coefficient (the starting value with --target-kl)"),
        OPT_STR("kl", &o->kl_name, "KL estimator: k1 (log ratio) or k3"),
        OPT_FLOAT("target-kl", &o->target_kl, "adaptive KL controller's target (0: fixed beta)"),
        OPT_LONG("kl-horizon", &o->kl_horizon, "adaptive KL controller's horizon, in answers"),
        OPT_FLOAT("gamma", &o->gamma, "GAE discount"),
        OPT_FLOAT("lam", &o->lam, "GAE lambda"),
        OPT_FLAG("whiten", &o->whiten, "whiten advantages over the rollout's tokens"),
        OPT_FLOAT("cliprange", &o->clip, "policy ratio clip epsilon"),
        OPT_FLOAT("cliprange-value", &o->value_clip, "value clip epsilon"),
        OPT_FLOAT("vf-coef", &o->vf_coef, "value loss coefficient"),
        OPT_FLOAT("grad-clip", &o->grad_clip, "clip each model's gradient norm to this (0: off)"),
        OPT_FLOAT("score-clip", &o->score_clip, "clip normalised scores to +-this (0: off)"),
        OPT_FLOAT("eos-penalty", &o->eos_penalty, "added to the score of answers that hit the length limit"),
        OPT_STR("ptx-data", &o->ptx_data, "pretraining text for PPO-ptx (.txt/.jsonl/folders/shards)"),
        OPT_FLOAT("ptx-coef", &o->ptx_coef, "weight of the pretraining loss (PPO-ptx; 0: off)"),
        OPT_STR("annotator", &o->annotator, "program ranking fresh answers for reward-model refreshes"),
        OPT_INT("refresh-every", &o->refresh_every, "retrain the reward model every N iterations (needs --annotator)"),
        OPT_INT("refresh-prompts", &o->refresh_prompts, "prompts sampled for each refresh"),
        OPT_INT("refresh-k", &o->refresh_k, "answers per prompt ranked at each refresh"),
        OPT_INT("refresh-epochs", &o->refresh_epochs, "epochs of reward-model training per refresh"),
        OPT_FLOAT("refresh-lr", &o->refresh_lr, "reward-model learning rate at refreshes"),
        OPT_INT("max-tokens", &o->max_tokens, "tokens per forward pass (bounds memory)"),
        OPT_INT("save-every", &o->save_every, "checkpoint every N iterations (and at the end; 0: only at the end)"),
        OPT_INT("keep", &o->keep, "checkpoints kept"),
        OPT_INT("seed", &o->seed, "seed of sampling and prompt order"),
        OPT_FLAG("resume", &o->resume, "continue the run in --out from its newest checkpoint"),
        OPT_FLAG("resume-override", &o->resume_override, "--resume even with settings other than the run's"),
        OPT_ALIAS("clip", "cliprange"),
        OPT_ALIAS("value-clip", "cliprange-value"),
        OPT_END};
    char **pos;
    int npos = args_parse("ppo", "", "RLHF with PPO: the policy answers prompts, the reward model scores the answers, "
                          "clipped PPO updates policy and critic (InstructGPT).", opts, argc, argv, &pos);
    free(pos);
    if (npos) die("ppo: unexpected argument (see lmforge ppo --help)");
    if (!o->policy || !o->reward || !o->prompts_path) die("ppo: --policy, --reward and --prompts are required");
    if (o->rollout_prompts < 1 || o->minibatch < 1 || o->epochs < 1 || o->iterations < 1)
        die("ppo: --rollout-prompts, --minibatch, --epochs and --iterations must be positive");
    if (!(o->temperature > 0)) die("ppo: --temperature must be positive (PPO needs the sampling distribution)");
    if (strcmp(o->kl_name, "k1") != 0 && strcmp(o->kl_name, "k3") != 0) die("ppo: --kl must be k1 or k3");
    if (o->refresh_every > 0 && !o->annotator) die("ppo: --refresh-every needs --annotator CMD");
    if (o->refresh_k < 2 && o->refresh_every > 0) die("ppo: --refresh-k must be at least 2");
    if (o->refresh_prompts < 1 && o->refresh_every > 0) die("ppo: --refresh-prompts must be positive");
    if (o->target_kl > 0 && o->kl_horizon < 1) die("ppo: --kl-horizon must be positive");

    ModelDir policy = model_dir_load(o->policy);
    if (policy.model->cfg.head != HEAD_LM) die("ppo: the policy %s has no language-model head", o->policy);
    if (!policy.tokenizer) die("ppo: the policy %s has no tokenizer.json", o->policy);
    p.policy = policy.model;
    p.tok = policy.tokenizer;
    ModelDir ref = model_dir_load(o->policy);
    p.ref = ref.model;
    tokenizer_free(ref.tokenizer);
    p.reward = load_scorer(o->reward, "reward model", p.tok, &p.reward_mean, &p.reward_std);
    p.reward_dir = xstrdup(o->reward);
    p.value = load_scorer(o->value ? o->value : o->reward, "value model", p.tok, NULL, NULL);
    model_alloc_grads(p.policy);
    model_alloc_grads(p.value);
    OptimConfig oc = optim_defaults();
    oc.lr = o->lr;
    oc.weight_decay = 0;
    oc.grad_clip = o->grad_clip;
    p.policy_opt = adamw_new(p.policy->n_params, &oc);
    oc.lr = o->value_lr;
    p.value_opt = adamw_new(p.value->n_params, &oc);
    p.beta = o->beta;
    rng_seed(&p.rng, (uint64_t)o->seed * 31337ULL + 5);
    load_prompt_order(&p);
    if (o->ptx_coef > 0) {
        if (!o->ptx_data) die("ppo: --ptx-coef needs --ptx-data");
        char *shards = path_join(o->out, "ptx_shards");
        const char *inputs[1] = {o->ptx_data};
        p.ptx = token_data_prepare(inputs, 1, NULL, 0, p.tok, shards, 0.0, (uint64_t)o->seed);
        p.has_ptx = 1;
        if (p.ptx.train.n_tokens <= (size_t)ptx_window(&p))
            die("ppo: --ptx-data %s has %zu tokens, fewer than one window of %d", o->ptx_data, p.ptx.train.n_tokens,
                ptx_window(&p) + 1);
        free(shards);
    }
    make_dirs(o->out);
    run_dir_lock(o->out, "ppo");
    run_dir_hint_resume_on_interrupt(o->out);
    if (o->resume) resume(&p);
    else if (newest_checkpoint(o->out, "ppo_state.json") >= 0)
        die("ppo: %s already holds checkpoints: pass --resume to continue that run, or choose another --out", o->out);
    p.log = o->resume ? metrics_open_resume(o->out, p.iteration) : metrics_open(o->out);
    info("ppo: %d prompts, %d answers per iteration, %ld iterations; policy %.2fM parameters, critic %.2fM",
         p.n_prompts, o->rollout_prompts, o->iterations, p.policy->n_params / 1e6, p.value->n_params / 1e6);

    Progress progress;
    progress_init(&progress, "iter", p.iteration, o->iterations);
    while (p.iteration < o->iterations) {
        if (o->refresh_every > 0 && p.iteration > 0 && p.iteration % o->refresh_every == 0) refresh_reward_model(&p);
        one_iteration(&p, &progress);
        if ((o->save_every > 0 && p.iteration % o->save_every == 0) || p.iteration == o->iterations) save_checkpoint(&p);
    }
    progress_finish(&progress);
    char *final = path_join(o->out, "model"), *value_final = path_join(o->out, "value");
    model_dir_save(final, p.policy, p.tok, 0, 1);
    model_dir_save(value_final, p.value, p.tok, p.reward_mean, p.reward_std);
    char *svg = path_join(o->out, "score.svg");
    plot_metrics(o->out, "score,score_normalized", svg, PLOT_LINEAR_Y);
    free(svg);
    svg = path_join(o->out, "kl.svg");
    plot_metrics(o->out, "kl", svg, PLOT_LINEAR_Y);
    info("policy written to %s; score and KL curves in %s/score.svg and kl.svg", final, o->out);
    free(svg);
    free(final);
    free(value_final);
    metrics_close(p.log);
    for (int i = 0; i < p.n_prompts; i++) conversation_free(&p.prompts[i]);
    free(p.prompts);
    free(p.order);
    if (p.has_ptx) token_data_close(&p.ptx);
    adamw_free(p.policy_opt);
    adamw_free(p.value_opt);
    model_free(p.ref);
    model_free(p.value);
    model_free(p.reward);
    free(p.reward_dir);
    model_dir_free(&policy);
    return 0;
}
