/* bench_ppo.c — the time of one PPO iteration, split into generation,
 * scoring and update, next to the time of the same generation and
 * forward/backward work done alone: what the PPO loop itself costs.
 *
 * Shape "tiny" (the pretrain preset: dim 128, 4 layers, 4 heads; a BPE
 * vocabulary of about 1000 tokens, random weights), a reward model of the
 * same shape, which is also the critic's start. `lmforge ppo` runs 4
 * iterations of 32 answers of at most 48 tokens, minibatches of 8, 4 epochs,
 * with learning rates of 0: every optimizer step is computed and applied,
 * but the weights stay as they are, so the work of an iteration can be
 * redone here exactly (the same prompt 32 times, the same sampling seed:
 * the same answers). Its own figures come from metrics.jsonl (time/...).
 *
 * Done alone, in a child process started as lmforge ppo is (OMP_WAIT_POLICY
 * passive), for each of iterations 2-4 (1 warms up):
 *   generation  sample_answers, as PPO calls it;
 *   scoring     per minibatch, the policy's, reference's and critic's
 *               forward passes (with the log-softmax), then the reward
 *               model's scores;
 *   update      per epoch and minibatch, forward + log-softmax backward +
 *               backward + AdamW of the policy, forward + backward + AdamW
 *               of the critic (the batches packed once, beforehand).
 * overhead_fraction = 1 − (alone time) / (PPO's time), over the 3 iterations.
 * Both run ROUNDS times, alternately; each side's fastest round counts. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/data/chat_data.h"
#include "../src/io/model_dir.h"
#include "../src/kernels/kernels.h"
#include "../src/model/generate.h"
#include "../src/train/optimizer.h"
#include "../src/train/rollout.h"
#include "bench.h"

enum { ANSWERS = 32, MAX_NEW = 48, MINIBATCH = 8, EPOCHS = 4, ITERATIONS = 4, SEED = 1, ROUNDS = 3 };
#define PROMPT "Tell me a story about the sea and the ships."

static Model *tiny_model(const Tokenizer *t, HeadKind head, uint64_t seed) {
    ModelConfig c = config_default(tokenizer_vocab_size(t), 128, 4, 4);
    c.max_seq_len = 128;
    c.head = head;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    return m;
}

/* PPO's per-phase times of iterations 2..ITERATIONS, summed. */
typedef struct {
    double generation, scoring, update, iteration;
} PhaseTimes;

/* The sampled answers of iteration `it` (0-based), as PPO samples them. */
static Rollout sample_iteration(Model *policy, const Tokenizer *t, long it, double *seconds) {
    Conversation prompt = conversation_copy(&(ChatMessage){"user", PROMPT}, 1);
    int which[ANSWERS] = {0}; /* the one prompt, ANSWERS times */
    RenderedPrompts prompts = render_prompts(t, &prompt, which, ANSWERS);
    SampleOptions o = sample_options_default();
    o.max_new_tokens = MAX_NEW;
    o.seed = (uint64_t)SEED * 1000003ULL + (uint64_t)it; /* ppo.c's sampling seed of iteration it */
    o.logprobs = 1;
    double start = now_seconds();
    Generation *g = sample_answers(policy, t, &prompts, o);
    *seconds = now_seconds() - start;
    Rollout r = rollout_of_generations(ANSWERS, prompts.tokens, prompts.lens, g, 1);
    generations_free(g, ANSWERS);
    free(g);
    rendered_prompts_free(&prompts);
    conversation_free(&prompt);
    return r;
}

/* The minibatches of a rollout packed as rollout_forward packs them (one batch each at these sizes). */
static void pack_minibatches(const Rollout *r, Batch *batches) {
    int *masks;
    SeqRef *refs = rollout_refs(r, &masks);
    int longest = 1;
    for (int s = 0; s < r->n; s++) longest = LMF_MAX(longest, r->len[s]);
    SeqPlace places[MINIBATCH];
    for (int b = 0; b < ANSWERS / MINIBATCH; b++)
        if (pack_sequences(&batches[b], refs + b * MINIBATCH, MINIBATCH, LMF_MAX(1, 8192 / longest), longest, 1, 0,
                           places) != MINIBATCH)
            die("bench: a minibatch does not fit one forward pass");
    rollout_free_refs(refs, masks);
}

/* The forward work of scoring a rollout. */
static double score_alone(Model *policy, Model *ref, Model *critic, Model *rm, const Rollout *r, Batch *batches) {
    double start = now_seconds();
    for (int b = 0; b < ANSWERS / MINIBATCH; b++) {
        const Batch *x = &batches[b];
        size_t N = (size_t)x->B * x->T;
        float *lp = xalloc_floats(3 * N);
        model_forward(policy, x->tokens, x->doc_start, x->B, x->T, 0);
        logprob_forward(policy->act.out, x->targets, (int)N, policy->cfg.vocab_size, 1.0f, lp, lp + N, lp + 2 * N);
        model_forward(ref, x->tokens, x->doc_start, x->B, x->T, 0);
        logprob_forward(ref->act.out, x->targets, (int)N, ref->cfg.vocab_size, 1.0f, lp, lp + N, NULL);
        model_forward(critic, x->tokens, x->doc_start, x->B, x->T, 0);
        free(lp);
    }
    float scores[ANSWERS];
    rollout_scores(rm, r, scores);
    return now_seconds() - start;
}

/* The forward/backward work of PPO's epochs over a rollout. */
static double update_alone(Model *policy, Model *critic, AdamW *policy_opt, AdamW *critic_opt, Batch *batches) {
    ParamSet pps = model_param_set(policy), cps = model_param_set(critic);
    double start = now_seconds();
    for (int epoch = 0; epoch < EPOCHS; epoch++)
        for (int b = 0; b < ANSWERS / MINIBATCH; b++) {
            const Batch *x = &batches[b];
            size_t N = (size_t)x->B * x->T;
            float *lp = xalloc_floats(3 * N), *dlogp = lp + 2 * N;
            model_zero_grads(policy);
            model_forward(policy, x->tokens, x->doc_start, x->B, x->T, 1);
            logprob_forward(policy->act.out, x->targets, (int)N, policy->cfg.vocab_size, 1.0f, lp, lp + N, NULL);
            for (size_t i = 0; i < N; i++) dlogp[i] = x->targets[i] >= 0 ? 1e-3f : 0.0f;
            logprob_backward(policy->act.out, x->targets, dlogp, lp + N, (int)N, policy->cfg.vocab_size, 1.0f);
            model_backward(policy);
            adamw_step(policy_opt, &pps, 0.0f);
            model_zero_grads(critic);
            model_forward(critic, x->tokens, x->doc_start, x->B, x->T, 1);
            for (size_t i = 0; i < N; i++) critic->act.out[i] = x->targets[i] >= 0 ? 1e-3f : 0.0f;
            model_backward(critic);
            adamw_step(critic_opt, &cps, 0.0f);
            free(lp);
        }
    return now_seconds() - start;
}

/* The alone work, in a process of its own started like lmforge ppo: prints
 * "GENERATION SCORING UPDATE TOKENS", the sums over iterations 2..ITERATIONS. */
BENCH_CHILD(ppo_alone) {
    char *policy_dir = path_join(arg, "policy"), *rm_dir = path_join(arg, "rm");
    ModelDir policy = model_dir_load(policy_dir), ref = model_dir_load(policy_dir);
    ModelDir rm = model_dir_load(rm_dir), critic = model_dir_load(rm_dir);
    model_alloc_grads(policy.model);
    model_alloc_grads(critic.model);
    OptimConfig oc = optim_defaults();
    oc.weight_decay = 0;
    AdamW *policy_opt = adamw_new(policy.model->n_params, &oc), *critic_opt = adamw_new(critic.model->n_params, &oc);
    PhaseTimes alone = {0};
    long tokens = 0;
    for (long it = 0; it < ITERATIONS; it++) {
        double generation;
        Rollout r = sample_iteration(policy.model, policy.tokenizer, it, &generation);
        Batch batches[ANSWERS / MINIBATCH] = {{0}};
        pack_minibatches(&r, batches);
        double scoring = score_alone(policy.model, ref.model, critic.model, rm.model, &r, batches);
        double update = update_alone(policy.model, critic.model, policy_opt, critic_opt, batches);
        if (it > 0) { /* iteration 1 warms up */
            alone.generation += generation;
            alone.scoring += scoring;
            alone.update += update;
            tokens += rollout_tokens(&r);
        }
        for (int b = 0; b < ANSWERS / MINIBATCH; b++) batch_free(&batches[b]);
        rollout_free(&r);
    }
    printf("%.6f %.6f %.6f %ld\n", alone.generation, alone.scoring, alone.update, tokens);
    adamw_free(policy_opt);
    adamw_free(critic_opt);
    model_dir_free(&policy);
    model_dir_free(&ref);
    model_dir_free(&rm);
    model_dir_free(&critic);
    free(policy_dir);
    free(rm_dir);
}

BENCH(ppo) {
    char *dir = xsprintf("/tmp/lmforge-bench-ppo-%d", (int)getpid());
    make_dirs(dir);
    Tokenizer *t = bench_syllable_tokenizer(dir);
    Model *policy = tiny_model(t, HEAD_LM, 1), *rm = tiny_model(t, HEAD_SCORE, 2);
    char *policy_dir = path_join(dir, "policy"), *rm_dir = path_join(dir, "rm"), *prompts = path_join(dir, "prompts.jsonl");
    model_dir_save(policy_dir, policy, t, 0, 1);
    model_dir_save(rm_dir, rm, t, 0, 1);
    model_free(policy);
    model_free(rm);
    tokenizer_free(t);
    const char *line = "{\"prompt\": \"" PROMPT "\"}\n";
    atomic_write(prompts, line, strlen(line));

    /* Both processes with the same environment (threads that wait without
     * spinning, as the tests run them), in ROUNDS alternating pairs; the
     * machine may be shared, so each side's figure is its fastest round. */
    char *run = path_join(dir, "run");
    PhaseTimes ppo = {0}, alone = {0};
    long tokens = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char *out = bench_capture("rm -rf '%s' && OMP_WAIT_POLICY=passive build/lmforge ppo --policy '%s' --reward '%s' "
                                  "--prompts '%s' --out '%s' --iterations %d --rollout-prompts %d --minibatch %d "
                                  "--epochs %d --max-new-tokens %d --lr 0 --value-lr 0 --save-every 0 --seed %d 2>&1 "
                                  "&& echo ok",
                                  run, policy_dir, rm_dir, prompts, run, ITERATIONS, ANSWERS, MINIBATCH, EPOCHS, MAX_NEW,
                                  SEED);
        if (!out || !strstr(out, "ok\n")) die("bench: lmforge ppo failed:\n%s", out ? out : "");
        free(out);
        PhaseTimes p = {bench_metric_sum(run, "time/generation", ITERATIONS),
                        bench_metric_sum(run, "time/scoring", ITERATIONS),
                        bench_metric_sum(run, "time/update", ITERATIONS),
                        bench_metric_sum(run, "time/iteration", ITERATIONS)};
        if (round == 0 || p.iteration < ppo.iteration) ppo = p;

        out = bench_capture("OMP_WAIT_POLICY=passive /proc/%d/exe --child ppo_alone '%s'", (int)getpid(), dir);
        PhaseTimes a = {0};
        if (!out || sscanf(out, "%lf %lf %lf %ld", &a.generation, &a.scoring, &a.update, &tokens) != 4)
            die("bench: the ppo_alone child failed:\n%s", out ? out : "");
        free(out);
        a.iteration = a.generation + a.scoring + a.update;
        if (round == 0 || a.iteration < alone.iteration) alone = a;
    }

    const int n = ITERATIONS - 1;
    bench_report("ppo.tiny.iteration_seconds", ppo.iteration / n, "s", NULL);
    bench_report("ppo.tiny.generation_seconds", ppo.generation / n, "s", NULL);
    bench_report("ppo.tiny.scoring_seconds", ppo.scoring / n, "s", NULL);
    bench_report("ppo.tiny.update_seconds", ppo.update / n, "s", NULL);
    bench_report("ppo.tiny.generation_alone_seconds", alone.generation / n, "s", NULL);
    bench_report("ppo.tiny.scoring_alone_seconds", alone.scoring / n, "s", NULL);
    bench_report("ppo.tiny.update_alone_seconds", alone.update / n, "s", NULL);
    bench_report("ppo.tiny.answer_tokens_per_iteration", (double)tokens / n, "tokens", NULL);
    bench_report("ppo.tiny.overhead_fraction", 1 - alone.iteration / ppo.iteration, "fraction", NULL);

    char *rm_cmd = xsprintf("rm -rf '%s'", dir);
    if (system(rm_cmd) != 0) warn("bench: cannot remove %s", dir);
    free(rm_cmd);
    free(run);
    free(policy_dir);
    free(rm_dir);
    free(prompts);
    free(dir);
}
