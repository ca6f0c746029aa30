/* bench_grpo.c — the time of one GRPO step, split into generation,
 * rewards, the reference's log-probs and the update, next to the time of
 * the same work done alone: what the GRPO loop itself costs.
 *
 * Shape S (stories15M's dim 288, 6 layers, 6 heads; a BPE vocabulary of
 * about 1000 tokens, random weights). `lmforge grpo` runs 3 steps of 16
 * prompts x G = 8 answers of at most 64 tokens, β > 0 (so the reference's
 * log-probs are computed), one update per step over all 128 answers, with a
 * learning rate of 0: every update is computed and applied but the weights
 * stay as they are, so the work of a step can be redone here exactly (one
 * prompt, the same sampling seed: the same answers). Its figures come from
 * metrics.jsonl (time/...).
 *
 * Done alone, in a child process started as lmforge grpo is (OMP_WAIT_POLICY
 * passive), for steps 2-3 (1 warms up): sample_answers; the exact-match
 * verifier on every answer; rollout_logprobs of the reference; and
 * rollout_forward of the policy with the log-softmax backward, the backward
 * pass and AdamW. overhead_fraction = 1 − (alone time) / (GRPO's time).
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
#include "../src/train/verifiers.h"
#include "bench.h"

enum { PROMPTS = 16, GROUP = 8, MAX_NEW = 64, STEPS = 3, SEED = 1, ROUNDS = 2, MAX_TOKENS = 8192 };
#define PROMPT "Tell me a story about the sea and the ships."

typedef struct {
    double generation, reward, reference, update, step;
} PhaseTimes;

static void update_micro_batch(void *ctx, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    (void)ctx, (void)idx, (void)places, (void)k;
    size_t N = (size_t)b->B * b->T;
    float *lp = xalloc_floats(3 * N), *dlogp = lp + 2 * N;
    logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, 1.0f, lp, lp + N, NULL);
    for (size_t i = 0; i < N; i++) dlogp[i] = b->targets[i] >= 0 ? 1e-3f : 0.0f;
    logprob_backward(m->act.out, b->targets, dlogp, lp + N, (int)N, m->cfg.vocab_size, 1.0f);
    model_backward(m);
    free(lp);
}

/* The alone work: prints "GENERATION REWARD REFERENCE UPDATE TOKENS", summed over steps 2..STEPS. */
BENCH_CHILD(grpo_alone) {
    char *policy_dir = path_join(arg, "policy");
    ModelDir policy = model_dir_load(policy_dir), ref = model_dir_load(policy_dir);
    model_alloc_grads(policy.model);
    OptimConfig oc = optim_defaults();
    oc.weight_decay = 0;
    AdamW *opt = adamw_new(policy.model->n_params, &oc);
    ParamSet ps = model_param_set(policy.model);
    Conversation prompt = conversation_copy(&(ChatMessage){"user", PROMPT}, 1);
    int which[PROMPTS] = {0};
    PhaseTimes alone = {0};
    long tokens = 0;
    int correct = 0;
    const int S = PROMPTS * GROUP;
    int all[PROMPTS * GROUP];
    for (int s = 0; s < S; s++) all[s] = s;
    for (long step = 0; step < STEPS; step++) {
        RenderedPrompts prompts = render_prompts(policy.tokenizer, &prompt, which, PROMPTS);
        SampleOptions o = sample_options_default();
        o.max_new_tokens = MAX_NEW;
        o.n_samples = GROUP;
        o.seed = (uint64_t)SEED * 1000003ULL + (uint64_t)step * 64; /* grpo_objective.c's seed of the step */
        o.logprobs = 1;
        double start = now_seconds();
        Generation *g = sample_answers(policy.model, policy.tokenizer, &prompts, o);
        double generation = now_seconds() - start;
        start = now_seconds();
        for (int s = 0; s < S; s++) correct += verify_exact(g[s].text ? g[s].text : "", "the sea") > 0;
        double reward = now_seconds() - start;
        Rollout r = rollout_of_generations(PROMPTS, prompts.tokens, prompts.lens, g, GROUP);
        float *ref_logp = xalloc_floats((size_t)rollout_tokens(&r) + 1);
        start = now_seconds();
        rollout_logprobs(ref.model, &r, all, S, 1.0f, MAX_TOKENS, ref_logp, NULL);
        double reference = now_seconds() - start;
        start = now_seconds();
        model_zero_grads(policy.model);
        rollout_forward(policy.model, &r, all, S, MAX_TOKENS, 1, update_micro_batch, NULL);
        adamw_step(opt, &ps, 0.0f);
        double update = now_seconds() - start;
        if (step > 0) { /* step 1 warms up */
            alone.generation += generation;
            alone.reward += reward;
            alone.reference += reference;
            alone.update += update;
            tokens += rollout_tokens(&r);
        }
        free(ref_logp);
        rollout_free(&r);
        generations_free(g, S);
        free(g);
        rendered_prompts_free(&prompts);
    }
    printf("%.6f %.6f %.6f %.6f %ld\n", alone.generation, alone.reward, alone.reference, alone.update, tokens);
    if (correct > S) die("bench: impossible count"); /* (keeps the verifier's work) */
    conversation_free(&prompt);
    adamw_free(opt);
    model_dir_free(&policy);
    model_dir_free(&ref);
    free(policy_dir);
}

BENCH(grpo) {
    char *dir = xsprintf("/tmp/lmforge-bench-grpo-%d", (int)getpid());
    make_dirs(dir);
    Tokenizer *t = bench_syllable_tokenizer(dir);
    ModelConfig c = config_default(tokenizer_vocab_size(t), 288, 6, 6);
    c.ffn_hidden = 768;
    c.max_seq_len = 256;
    Model *policy = model_new(&c);
    model_init_random(policy, 1);
    char *policy_dir = path_join(dir, "policy"), *tasks = path_join(dir, "tasks.jsonl");
    model_dir_save(policy_dir, policy, t, 0, 1);
    model_free(policy);
    tokenizer_free(t);
    const char *line = "{\"prompt\": \"" PROMPT "\", \"answer\": \"the sea\"}\n";
    atomic_write(tasks, line, strlen(line));

    char *run = path_join(dir, "run");
    PhaseTimes grpo = {0}, alone = {0};
    long tokens = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char *out = bench_capture("rm -rf '%s' && OMP_WAIT_POLICY=passive build/lmforge grpo --init '%s' --prompts '%s' "
                                  "--out '%s' --steps %d --prompts-per-step %d --num-generations %d --max-new-tokens %d "
                                  "--reward exact --beta 0.04 --lr 0 --save-every 0 --eval-every 0 --seed %d 2>&1 && "
                                  "echo ok",
                                  run, policy_dir, tasks, run, STEPS, PROMPTS, GROUP, MAX_NEW, SEED);
        if (!out || !strstr(out, "ok\n")) die("bench: lmforge grpo failed:\n%s", out ? out : "");
        free(out);
        PhaseTimes p = {bench_metric_sum(run, "time/generation", STEPS), bench_metric_sum(run, "time/reward", STEPS),
                        bench_metric_sum(run, "time/reference", STEPS), bench_metric_sum(run, "time/update", STEPS),
                        bench_metric_sum(run, "time/step", STEPS)};
        if (round == 0 || p.step < grpo.step) grpo = p;

        out = bench_capture("OMP_WAIT_POLICY=passive /proc/%d/exe --child grpo_alone '%s'", (int)getpid(), dir);
        PhaseTimes a = {0};
        if (!out || sscanf(out, "%lf %lf %lf %lf %ld", &a.generation, &a.reward, &a.reference, &a.update, &tokens) != 5)
            die("bench: the grpo_alone child failed:\n%s", out ? out : "");
        free(out);
        a.step = a.generation + a.reward + a.reference + a.update;
        if (round == 0 || a.step < alone.step) alone = a;
    }

    const int n = STEPS - 1;
    bench_report("grpo.S.step_seconds", grpo.step / n, "s", NULL);
    bench_report("grpo.S.generation_seconds", grpo.generation / n, "s", NULL);
    bench_report("grpo.S.reward_seconds", grpo.reward / n, "s", NULL);
    bench_report("grpo.S.reference_seconds", grpo.reference / n, "s", NULL);
    bench_report("grpo.S.update_seconds", grpo.update / n, "s", NULL);
    bench_report("grpo.S.generation_alone_seconds", alone.generation / n, "s", NULL);
    bench_report("grpo.S.reference_alone_seconds", alone.reference / n, "s", NULL);
    bench_report("grpo.S.update_alone_seconds", alone.update / n, "s", NULL);
    bench_report("grpo.S.answer_tokens_per_step", (double)tokens / n, "tokens", NULL);
    bench_report("grpo.S.overhead_fraction", 1 - alone.step / grpo.step, "fraction", NULL);

    char *rm_cmd = xsprintf("rm -rf '%s'", dir);
    if (system(rm_cmd) != 0) warn("bench: cannot remove %s", dir);
    free(rm_cmd);
    free(run);
    free(policy_dir);
    free(tasks);
    free(dir);
}
