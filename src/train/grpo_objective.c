/* grpo_objective.c — see grpo_objective.h. */
#include "grpo_objective.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/dist.h"
#include "../base/json_util.h"
#include "../base/jsonl.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "../model/lora.h"
#include "rollout.h"

struct GrpoObjective {
    GrpoConfig c;
    GrpoInputs in;
    int *order, cursor; /* the prompts' seeded shuffle, and the next one to answer */
    Rng rng;
    Regex *regex;
    Model *reward_model;
    double reward_mean, reward_std;
    /* the prompt order and RNG as the current step found them: a checkpoint
     * saved when the reward program fails mid-step holds these */
    int step_cursor, *step_order;
    Rng step_rng;
};

/* Everything one step learns from. Sequence s = g·G + k is answer k to the
 * rollout's prompt g; per-token arrays are rollout.h's. */
typedef struct {
    int n_groups;
    int *task_of;       /* (n_groups) which training prompt */
    IntVec *prompts;    /* (n_groups) rendered */
    Generation *gens;   /* (n_groups · G) */
    Rollout r;
    float *reward;      /* (S) the weighted sum */
    float *by_fn;       /* (n_rewards, S) each reward function's value */
    float *adv;         /* (S) */
    float *logp_old, *ref_logp, *entropy; /* (tokens) */
    int zero_signal, groups_sampled;
    double generation_seconds, reward_seconds, reference_seconds;
} StepData;

/* ---- the rollout source ---- */

static int next_task(GrpoObjective *g) {
    if (g->cursor == g->in.n_tasks) {
        rng_shuffle_ints(&g->rng, g->order, g->in.n_tasks);
        g->cursor = 0;
    }
    return g->order[g->cursor++];
}

/* G answers to each of tasks which[0..n), the sampler's log-probs kept. */
static Generation *sample_groups(GrpoObjective *g, const int *which, int n, IntVec *rendered, uint64_t seed,
                                 int first_index) {
    if (n == 0) return xcalloc(1, sizeof(Generation)); /* a rank with no share this round */
    RenderedPrompts r = {n, rendered, xmalloc(sizeof(int *) * (size_t)n), xmalloc(sizeof(int) * (size_t)n)};
    for (int i = 0; i < n; i++) {
        render_prompt(g->in.tok, &g->in.tasks[which[i]].prompt, &rendered[i]);
        /* the length policy: the stage warned about prompts cut here */
        fit_prompt(&rendered[i], g->in.policy->cfg.max_seq_len, g->c.max_new_tokens);
        r.tokens[i] = rendered[i].data;
        r.lens[i] = rendered[i].len;
    }
    SampleOptions so = sample_options_default();
    so.temperature = g->c.temperature;
    so.top_p = g->c.top_p;
    so.max_new_tokens = g->c.max_new_tokens;
    so.seed = seed;
    so.n_samples = g->c.group;
    so.first_index = first_index; /* on one rank of several: the streams a single process would give them */
    so.logprobs = 1;
    Generation *gens = sample_answers(g->in.policy, g->in.tok, &r, so);
    free(r.tokens);
    free(r.lens);
    return gens;
}

/* ---- rewards ---- */

static const char *text_of(const Generation *gen) { return gen->text ? gen->text : ""; }

static float verifier_reward(const GrpoObjective *g, VerifierKind kind, const TaskPrompt *task, const Generation *gen) {
    switch (kind) {
    case VERIFY_EXACT: return verify_exact(text_of(gen), task->answer);
    case VERIFY_NUMBER: return verify_number(text_of(gen), task->answer);
    case VERIFY_REGEX: return verify_regex(g->regex, text_of(gen), gen->text ? gen->text_len : 0);
    case VERIFY_LENGTH: return verify_length(gen->finished_by_stop != STOP_LENGTH);
    case VERIFY_N_KINDS: break;
    }
    return 0;
}

/* by_fn (n_rewards, n) for answers gens[0..n) to tasks task_of[s / G], and
 * their weighted sum. Returns NULL, or the reward program's error message
 * (malloc'ed). */
static char *compute_rewards(GrpoObjective *g, const int *task_of, const Generation *gens, int n, const Rollout *r,
                             float *by_fn, float *total) {
    const int G = g->c.group;
    for (int f = 0; f < g->c.n_rewards; f++) {
        const RewardFn *fn = &g->c.rewards[f];
        float *out = by_fn + (size_t)f * n;
        if (fn->source == REWARD_VERIFIER) {
            for (int s = 0; s < n; s++) out[s] = verifier_reward(g, fn->verifier, &g->in.tasks[task_of[s / G]], &gens[s]);
        } else if (fn->source == REWARD_MODEL) {
            if (n > 0) rollout_scores(g->reward_model, r, out);
            for (int s = 0; s < n; s++) out[s] = (float)((out[s] - g->reward_mean) / g->reward_std);
        } else {
            cJSON **requests = xmalloc(sizeof(cJSON *) * (size_t)LMF_MAX(n, 1));
            for (int s = 0; s < n; s++) requests[s] = task_reward_request(&g->in.tasks[task_of[s / G]], text_of(&gens[s]));
            char *error = n > 0 ? g->in.program_rewards(g->in.program_ctx, requests, n, out) : NULL;
            for (int s = 0; s < n; s++) cJSON_Delete(requests[s]);
            free(requests);
            if (error) return error;
        }
    }
    for (int s = 0; s < n; s++) {
        total[s] = 0;
        for (int f = 0; f < g->c.n_rewards; f++) total[s] += g->c.rewards[f].weight * by_fn[(size_t)f * n + s];
    }
    return NULL;
}

/* A reward program failed on some rank: every rank saves the state the
 * step started from (trainer_checkpoint, the prompt order as the step found
 * it), so that --resume redoes this step, and the run ends. */
static void stop_with_state_saved(GrpoObjective *g, Trainer *t, char *error) {
    double failed = error != NULL;
    dist_sum_doubles(&failed, 1);
    if (failed == 0) return;
    g->cursor = g->step_cursor;
    memcpy(g->order, g->step_order, sizeof(int) * (size_t)g->in.n_tasks);
    g->rng = g->step_rng;
    trainer_checkpoint(t);
    if (error) die("grpo: %s; the run's state is saved: --resume redoes this step", error);
    die("grpo: another rank's reward program failed; the run's state is saved: --resume redoes this step");
}

/* The control run of --shuffle-rewards: the same rewards, given to answers at random, so that they say nothing
 * about the answer they go with. */
static void shuffle_answers_rewards(Rng *rng, float *by_fn, float *total, int n, int F) {
    int *perm = xmalloc(sizeof(int) * (size_t)n);
    float *copy = xmalloc(sizeof(float) * (size_t)n * (F + 1));
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle_ints(rng, perm, n);
    memcpy(copy, total, sizeof(float) * (size_t)n);
    memcpy(copy + n, by_fn, sizeof(float) * (size_t)n * F);
    for (int i = 0; i < n; i++) {
        total[i] = copy[perm[i]];
        for (int f = 0; f < F; f++) by_fn[(size_t)f * n + i] = copy[n + (size_t)f * n + perm[i]];
    }
    free(perm);
    free(copy);
}

/* ---- 1–3: one step's rollout, rewards and advantages ---- */

static int uses_reward_model(const GrpoConfig *c) {
    for (int f = 0; f < c->n_rewards; f++)
        if (c->rewards[f].source == REWARD_MODEL) return 1;
    return 0;
}

/* Rounds of sampling until P groups are kept: one round, or with dynamic
 * sampling up to 1 + resample_rounds, each asking fresh prompts for the
 * groups without signal. Then the rollout of the kept groups and their
 * advantages. */
static void make_step_data(GrpoObjective *g, Trainer *t, long step, StepData *d) {
    const GrpoConfig *c = &g->c;
    const int G = c->group, P = c->prompts, F = c->n_rewards, rank = dist_rank(), ranks = dist_size();
    const int rounds = c->dynamic_sampling ? 1 + c->resample_rounds : 1;
    double start = now_seconds();
    d->task_of = xmalloc(sizeof(int) * (size_t)P);
    d->prompts = xcalloc((size_t)P, sizeof(IntVec));
    d->gens = xcalloc((size_t)P * G, sizeof(Generation));
    d->reward = xmalloc(sizeof(float) * (size_t)P * G);
    d->by_fn = xmalloc(sizeof(float) * (size_t)P * G * F); /* answer-major: by_fn[s·F + f] */
    int kept_total = 0; /* groups kept by all ranks */
    for (int round = 0; round < rounds && kept_total < P; round++) {
        /* every rank draws the round's prompts (the order stays the same everywhere) and answers its share */
        int want_total = P - kept_total;
        int *drawn = xmalloc(sizeof(int) * (size_t)want_total);
        for (int i = 0; i < want_total; i++) drawn[i] = next_task(g);
        DistRange mine = dist_split_range((size_t)want_total, rank, ranks);
        int want = (int)(mine.end - mine.begin), n = want * G;
        const int *which = drawn + mine.begin;
        IntVec *rendered = xcalloc((size_t)LMF_MAX(want, 1), sizeof(IntVec));
        uint64_t seed = (uint64_t)c->seed * 1000003ULL + (uint64_t)step * 64 + (uint64_t)round;
        Generation *gens = sample_groups(g, which, want, rendered, seed, (int)mine.begin * G);
        double reward_start = now_seconds();
        Rollout r = {0}; /* the reward model reads whole sequences */
        if (uses_reward_model(c) && want > 0) {
            const int **ptrs = xmalloc(sizeof(int *) * (size_t)want);
            int *lens = xmalloc(sizeof(int) * (size_t)want);
            for (int i = 0; i < want; i++) ptrs[i] = rendered[i].data, lens[i] = rendered[i].len;
            r = rollout_of_generations(want, ptrs, lens, gens, G);
            free(ptrs);
            free(lens);
        }
        float *by_fn = xmalloc(sizeof(float) * (size_t)LMF_MAX(F * n, 1)), *total = xmalloc(sizeof(float) * (size_t)LMF_MAX(n, 1));
        stop_with_state_saved(g, t, compute_rewards(g, which, gens, n, &r, by_fn, total));
        if (c->shuffle_rewards) shuffle_answers_rewards(&g->rng, by_fn, total, n, F);
        if (uses_reward_model(c) && want > 0) rollout_free(&r);
        d->reward_seconds += now_seconds() - reward_start;
        d->groups_sampled += want;
        int kept = 0;
        for (int i = 0; i < want; i++) {
            int no_signal = group_has_no_signal(total + (size_t)i * G, G);
            d->zero_signal += no_signal;
            if (no_signal && c->dynamic_sampling && round + 1 < rounds) { /* the last round keeps what it has */
                generations_free(gens + (size_t)i * G, G);
                intvec_free(&rendered[i]);
                continue;
            }
            int dst = d->n_groups++;
            kept++;
            d->task_of[dst] = which[i];
            d->prompts[dst] = rendered[i];
            for (int k = 0; k < G; k++) {
                int from = i * G + k, to = dst * G + k;
                d->gens[to] = gens[from];
                d->reward[to] = total[from];
                for (int f = 0; f < F; f++) d->by_fn[(size_t)to * F + f] = by_fn[(size_t)f * n + from];
            }
        }
        double kept_all = kept;
        dist_sum_doubles(&kept_all, 1);
        kept_total += (int)kept_all;
        free(gens); /* the kept generations now belong to d->gens */
        free(rendered);
        free(by_fn);
        free(total);
        free(drawn);
    }
    const int S = d->n_groups * G;
    const int **ptrs = xmalloc(sizeof(int *) * (size_t)LMF_MAX(d->n_groups, 1));
    int *lens = xmalloc(sizeof(int) * (size_t)LMF_MAX(d->n_groups, 1));
    for (int i = 0; i < d->n_groups; i++) ptrs[i] = d->prompts[i].data, lens[i] = d->prompts[i].len;
    d->r = rollout_of_generations(d->n_groups, ptrs, lens, d->gens, G);
    free(ptrs);
    free(lens);
    d->adv = xmalloc(sizeof(float) * (size_t)LMF_MAX(S, 1));
    double batch_std = -1; /* the std of every rank's rewards, for --scale-rewards batch */
    if (ranks > 1 && c->scale == SCALE_BATCH) {
        double mean, pop_std, count = S;
        dist_mean_std(d->reward, (size_t)S, &mean, &pop_std);
        dist_sum_doubles(&count, 1);
        batch_std = count > 1 ? pop_std * sqrt(count / (count - 1)) : 0;
    }
    group_advantages(d->reward, d->n_groups, G, c->advantage, c->scale, c->scale_eps, batch_std, d->adv);

    /* the old policy is the sampler: its log-probs of the tokens it drew */
    int T = rollout_tokens(&d->r);
    d->logp_old = xalloc_floats((size_t)T * 3 + 1);
    d->ref_logp = d->logp_old + T;
    d->entropy = d->ref_logp + T;
    for (int s = 0; s < S; s++)
        memcpy(d->logp_old + d->r.offset[s], d->gens[s].logprobs, sizeof(float) * (size_t)d->gens[s].n_tokens);
    d->generation_seconds = now_seconds() - start - d->reward_seconds;
    if (g->in.ref && S > 0) {
        double ref_start = now_seconds();
        int *all = xmalloc(sizeof(int) * (size_t)S);
        for (int s = 0; s < S; s++) all[s] = s;
        rollout_logprobs(g->in.ref, &d->r, all, S, c->temperature, c->max_tokens, d->ref_logp, NULL);
        free(all);
        d->reference_seconds = now_seconds() - ref_start;
    }
}

static void free_step_data(StepData *d) {
    int S = d->n_groups > 0 ? d->r.n : 0;
    generations_free(d->gens, S);
    free(d->gens);
    for (int i = 0; i < d->n_groups; i++) intvec_free(&d->prompts[i]);
    free(d->prompts);
    free(d->task_of);
    free(d->reward);
    free(d->by_fn);
    free(d->adv);
    free(d->logp_old);
    rollout_free(&d->r);
}

/* ---- 4: the updates ---- */

typedef struct {
    GrpoObjective *g;
    StepData *d;
    double norm;        /* the minibatch's loss denominator (grpo_loss_norm) */
    int first_pass;     /* measure the entropy */
    GrpoLossStats st;
} UpdateCtx;

/* GRPO's clipped loss (and KL) on the tokens of a micro-batch's sequences, as a share of the minibatch's loss. */
static void policy_token_loss(void *ctx, const int *idx, int k, const float *lp, float *dlp) {
    UpdateCtx *u = ctx;
    const StepData *d = u->d;
    const GrpoConfig *c = &u->g->c;
    for (int i = 0; i < k; i++) {
        int s = idx[i], o = d->r.offset[s], n = rollout_response_len(&d->r, s);
        grpo_loss(lp + o, d->logp_old + o, u->g->in.ref ? d->ref_logp + o : NULL, &d->adv[s], &n, 1, &c->loss,
                  u->norm, dlp + o, &u->st);
    }
}

static void policy_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    UpdateCtx *u = ctx;
    rollout_policy_gradient(m, &u->d->r, b, idx, places, k, u->g->c.temperature, u->first_pass ? u->d->entropy : NULL,
                            policy_token_loss, u);
}

/* The step's answers over all ranks: this rank holds [first, first + S) of
 * the n_total in rank order; len (n_total) is each one's number of tokens. */
typedef struct {
    int first, n_total;
    int *len;
} GlobalAnswers;

static GlobalAnswers global_answers(const Rollout *r) {
    int S = r->n;
    size_t total, lens[64];
    if (dist_size() > 64) die("grpo: at most 64 ranks");
    int *mine = xmalloc(sizeof(int) * (size_t)LMF_MAX(S, 1));
    for (int s = 0; s < S; s++) mine[s] = rollout_response_len(r, s);
    GlobalAnswers a = {0, 0, dist_allgather_bytes(mine, sizeof(int) * (size_t)S, &total, lens)};
    a.n_total = (int)(total / sizeof(int));
    for (int k = 0; k < dist_rank(); k++) a.first += (int)(lens[k] / sizeof(int));
    free(mine);
    return a;
}

/* μ passes over the step's answers (all ranks'), the first in order and the
 * others shuffled, one optimizer update per minibatch: each rank computes
 * the gradient of its own answers in the minibatch, with the minibatch's
 * denominator, and trainer_update adds them up over the ranks. */
static void update(GrpoObjective *g, Trainer *t, StepData *d, GrpoLossStats *st, double *loss) {
    const GrpoConfig *c = &g->c;
    GlobalAnswers all = global_answers(&d->r);
    const int S = all.n_total, M = c->minibatch > 0 ? LMF_MIN(c->minibatch, S) : S;
    int *order = xmalloc(sizeof(int) * (size_t)LMF_MAX(S, 1)), *local = xmalloc(sizeof(int) * (size_t)LMF_MAX(S, 1));
    int updates = 0;
    *loss = 0;
    for (int pass = 0; pass < c->updates; pass++) {
        for (int i = 0; i < S; i++) order[i] = i;
        if (pass > 0) rng_shuffle_ints(&g->rng, order, S);
        for (int start = 0; start < S; start += M) {
            int k = LMF_MIN(M, S - start), k_local = 0;
            long tokens = 0;
            for (int i = 0; i < k; i++) {
                int answer = order[start + i];
                tokens += all.len[answer];
                if (answer >= all.first && answer < all.first + d->r.n) local[k_local++] = answer - all.first;
            }
            UpdateCtx u = {.g = g, .d = d, .norm = grpo_loss_norm(c->loss.type, k, tokens, c->max_new_tokens),
                           .first_pass = pass == 0};
            trainer_zero_grads(t, 0);
            if (k_local > 0)
                rollout_forward(g->in.policy, &d->r, local, k_local, c->max_tokens, 1, policy_micro_batch, &u);
            trainer_update(t, 0);
            *loss += u.st.loss;
            updates++;
            if (pass == 0) {
                st->tokens += u.st.tokens;
                st->low_clipped += u.st.low_clipped;
                st->high_clipped += u.st.high_clipped;
                st->kl += u.st.kl;
            }
        }
    }
    *loss /= LMF_MAX(updates, 1);
    free(order);
    free(local);
    free(all.len);
}

/* ---- one step ---- */

/* Mean and unbiased std of x[i·stride] over every rank's n values (two passes, as on one process). */
static void add_mean_std(StepStats *stats, const char *name, const float *x, int n, int stride) {
    double sum[2] = {0, (double)n}, sq = 0;
    for (int i = 0; i < n; i++) sum[0] += x[(size_t)i * stride];
    dist_sum_doubles(sum, 2);
    double mean = sum[0] / LMF_MAX(sum[1], 1);
    for (int i = 0; i < n; i++) sq += (x[(size_t)i * stride] - mean) * (x[(size_t)i * stride] - mean);
    dist_sum_doubles(&sq, 1);
    char key[64];
    stats_add(stats, name, mean);
    snprintf(key, sizeof key, "%s_std", name);
    stats_add(stats, key, sum[1] > 1 ? sqrt(sq / (sum[1] - 1)) : 0);
}

static long grpo_take_step(void *ctx, Trainer *t, long step, StepStats *stats) {
    GrpoObjective *g = ctx;
    const GrpoConfig *c = &g->c;
    double start = now_seconds();
    /* what the step found, to save if the reward program fails (stop_with_state_saved) */
    g->step_cursor = g->cursor;
    memcpy(g->step_order, g->order, sizeof(int) * (size_t)g->in.n_tasks);
    g->step_rng = g->rng;
    StepData d = {0};
    make_step_data(g, t, step, &d);
    const int S = d.r.n, T = rollout_tokens(&d.r);
    GrpoLossStats st = {0};
    double loss = 0, update_start = now_seconds();
    update(g, t, &d, &st, &loss);
    double update_seconds = now_seconds() - update_start;

    add_mean_std(stats, "reward", d.reward, S, 1);
    for (int f = 0; f < c->n_rewards; f++) {
        char key[48];
        snprintf(key, sizeof key, "reward/%s", c->rewards[f].name);
        add_mean_std(stats, key, d.by_fn + f, S, c->n_rewards);
    }
    /* counts over every rank's answers */
    enum { ZERO, SAMPLED, TOKENS, LOW, HIGH, KL, ENTROPY, HIT_LIMIT, RESPONSE_TOKENS, ANSWERS, N_COUNTS };
    double n[N_COUNTS] = {d.zero_signal, d.groups_sampled, (double)st.tokens, (double)st.low_clipped,
                          (double)st.high_clipped, st.kl, 0, 0, T, S};
    for (int i = 0; i < T; i++) n[ENTROPY] += d.entropy[i];
    for (int s = 0; s < S; s++) n[HIT_LIMIT] += d.gens[s].finished_by_stop == STOP_LENGTH;
    dist_sum_doubles(n, N_COUNTS);
    dist_sum_doubles(&loss, 1); /* each rank's share of the loss */
    double tokens = LMF_MAX(n[TOKENS], 1);
    stats_add(stats, "zero_signal", n[ZERO] / LMF_MAX(n[SAMPLED], 1));
    stats_add(stats, "clip/low", n[LOW] / tokens);
    stats_add(stats, "clip/high", n[HIGH] / tokens);
    stats_add(stats, "clip/region", (n[LOW] + n[HIGH]) / tokens);
    if (g->in.ref) stats_add(stats, "kl", n[KL] / tokens);
    stats_add(stats, "entropy", n[ENTROPY] / LMF_MAX(n[RESPONSE_TOKENS], 1));
    stats_add(stats, "length", n[RESPONSE_TOKENS] / LMF_MAX(n[ANSWERS], 1));
    stats_add(stats, "hit_limit", n[HIT_LIMIT] / LMF_MAX(n[ANSWERS], 1));
    stats_add(stats, "loss", loss);
    stats_add(stats, "time/generation", d.generation_seconds);
    stats_add(stats, "time/reward", d.reward_seconds);
    stats_add(stats, "time/reference", d.reference_seconds);
    stats_add(stats, "time/update", update_seconds);
    stats_add(stats, "time/step", now_seconds() - start);
    free_step_data(&d);
    return (long)n[RESPONSE_TOKENS];
}

/* ---- held-out evaluation ---- */

/* Greedy answers to the held-out prompts, scored by each verifier. */
static void grpo_evaluate(void *ctx, Model *m, StepStats *stats) {
    GrpoObjective *g = ctx;
    (void)m;
    if (!g->in.eval) return;
    /* --eval-limit prompts spread evenly over the file, which may hold one family after another */
    int n = g->in.eval_limit > 0 ? LMF_MIN(g->in.eval_limit, g->in.n_eval) : g->in.n_eval;
    int *which = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) which[i] = (int)((long)i * g->in.n_eval / n);
    IntVec *rendered = xcalloc((size_t)n, sizeof(IntVec));
    RenderedPrompts r = {n, rendered, xmalloc(sizeof(int *) * (size_t)n), xmalloc(sizeof(int) * (size_t)n)};
    for (int i = 0; i < n; i++) {
        render_prompt(g->in.tok, &g->in.eval[which[i]].prompt, &rendered[i]);
        fit_prompt(&rendered[i], g->in.policy->cfg.max_seq_len, g->c.max_new_tokens);
        r.tokens[i] = rendered[i].data;
        r.lens[i] = rendered[i].len;
    }
    SampleOptions so = sample_options_default();
    so.temperature = 0;
    so.max_new_tokens = g->c.max_new_tokens;
    Generation *gens = sample_answers(g->in.policy, g->in.tok, &r, so);
    double total = 0;
    for (int f = 0; f < g->c.n_rewards; f++) {
        const RewardFn *fn = &g->c.rewards[f];
        if (fn->source != REWARD_VERIFIER) continue;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += verifier_reward(g, fn->verifier, &g->in.eval[which[i]], &gens[i]);
        char key[48];
        snprintf(key, sizeof key, "eval/%s", fn->name);
        stats_add(stats, key, sum / n);
        total += fn->weight * sum / n;
    }
    stats_add(stats, "eval/reward", total);
    if (g->in.judge) {
        cJSON **requests = xmalloc(sizeof(cJSON *) * (size_t)n);
        float *scores = xmalloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            requests[i] = task_reward_request(&g->in.eval[which[i]], gens[i].text ? gens[i].text : "");
        char *why = g->in.judge(g->in.judge_ctx, requests, n, scores);
        if (why) die("grpo: --judge: %s", why);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += scores[i];
        stats_add(stats, "eval/judge", sum / n);
        for (int i = 0; i < n; i++) cJSON_Delete(requests[i]);
        free(requests);
        free(scores);
    }
    generations_free(gens, n);
    free(gens);
    free(which);
    rendered_prompts_free(&r);
}

/* ---- resume ---- */

static cJSON *grpo_save_state(void *ctx) {
    const GrpoObjective *g = ctx;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "cursor", g->cursor);
    cJSON_AddItemToObject(s, "order", cJSON_CreateIntArray(g->order, g->in.n_tasks));
    cJSON_AddItemToObject(s, "rng", rng_to_json(&g->rng));
    if (g->in.policy->lora) cJSON_AddNumberToObject(s, "lora_dropout_pass", (double)g->in.policy->lora->pass);
    return s;
}

static void grpo_load_state(void *ctx, const cJSON *s) {
    GrpoObjective *g = ctx;
    const char *where = "trainer_state.json: data";
    g->cursor = json_get_int(s, "cursor", where);
    const cJSON *order = json_get_array(s, "order", where);
    if (cJSON_GetArraySize(order) != g->in.n_tasks || g->cursor < 0 || g->cursor > g->in.n_tasks)
        die("%s: the prompt file has changed since this run began", where);
    for (int i = 0; i < g->in.n_tasks; i++) g->order[i] = cJSON_GetArrayItem(order, i)->valueint;
    rng_from_json(&g->rng, json_get_array(s, "rng", where), where);
    if (g->in.policy->lora) g->in.policy->lora->pass = (uint64_t)json_get_int64(s, "lora_dropout_pass", where);
}

/* ---- set-up ---- */

GrpoObjective *grpo_objective_new(const GrpoConfig *c, const GrpoInputs *in) {
    if (c->group < 2) die("grpo: --group must be at least 2 (advantages compare answers within a group)");
    if (c->prompts < 1 || c->updates < 1) die("grpo: --prompts and --updates must be positive");
    if (c->n_rewards < 1) die("grpo: no reward: give --reward NAME[:WEIGHT] (exact, number, regex, length, cmd, model)");
    if (!(c->temperature > 0)) die("grpo: --temperature must be positive (the ratio needs the sampling distribution)");
    if ((c->loss.beta != 0) != (in->ref != NULL)) die("grpo: a reference model is needed exactly when --beta is not 0");
    if (c->shuffle_rewards && dist_size() > 1) die("grpo: --shuffle-rewards runs in one process (not under mpirun)");
    GrpoObjective *g = xcalloc(1, sizeof *g);
    g->c = *c;
    g->in = *in;
    for (int f = 0; f < c->n_rewards; f++) {
        const RewardFn *fn = &c->rewards[f];
        if (fn->source == REWARD_VERIFIER && fn->verifier == VERIFY_REGEX) {
            if (!in->regex) die("grpo: --reward regex needs --regex PATTERN");
            if (!g->regex) g->regex = regex_compile(in->regex, "grpo: --regex");
        }
        if (fn->source == REWARD_PROGRAM && !in->program_rewards) die("grpo: --reward cmd needs --reward-cmd CMD");
        if (fn->source == REWARD_MODEL && !g->reward_model) {
            if (!in->reward_model) die("grpo: --reward model needs --reward-model DIR");
            ModelDir md = model_dir_load(in->reward_model);
            if (md.model->cfg.head != HEAD_SCORE) die("grpo: %s is not a reward model (no score head)", in->reward_model);
            if (!md.tokenizer || tokenizer_fingerprint(md.tokenizer) != tokenizer_fingerprint(in->tok))
                die("grpo: the reward model %s does not use the policy's tokenizer", in->reward_model);
            g->reward_model = md.model;
            g->reward_mean = md.reward_mean;
            g->reward_std = md.reward_std > 0 ? md.reward_std : 1.0;
            tokenizer_free(md.tokenizer);
        }
    }
    rng_seed(&g->rng, (uint64_t)c->seed * 31337ULL + 11);
    g->order = xmalloc(sizeof(int) * (size_t)in->n_tasks);
    g->step_order = xmalloc(sizeof(int) * (size_t)in->n_tasks);
    for (int i = 0; i < in->n_tasks; i++) g->order[i] = i;
    rng_shuffle_ints(&g->rng, g->order, in->n_tasks);
    return g;
}

void grpo_objective_free(GrpoObjective *g) {
    if (!g) return;
    regex_free(g->regex);
    model_free(g->reward_model);
    free(g->order);
    free(g->step_order);
    free(g);
}

Objective grpo_objective(GrpoObjective *g) {
    return (Objective){.ctx = g,
                       .take_step = grpo_take_step,
                       .evaluate = grpo_evaluate,
                       .save_state = grpo_save_state,
                       .load_state = grpo_load_state,
                       .progress_keys = "reward,zero_signal,clip/region,kl,entropy,length,eval/reward",
                       .data_parallel = 1};
}
