/* grpo.c — `lmforge grpo`: RL with verifiable rewards, critic-free
 * (DeepSeekMath's GRPO; Dr. GRPO, DAPO and RLOO as options; the recipe of
 * Tulu 3's RLVR and DeepSeek-R1):
 *
 *   repeat for each step:
 *     1. the policy answers each of P prompts G times (sampling, KV cache);
 *     2. programs check the answers: verifiers against the prompt's gold
 *        answer, the user's reward program, or a learned reward model;
 *     3. each answer's advantage is its reward against its group's;
 *     4. clipped policy-gradient updates, with an optional KL to the
 *        starting model.
 *
 * The objective is train/grpo_objective.h; the loop, checkpoints and resume
 * are the shared trainer's. Here: the flags, loading, and the reward program. */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/plot.h"
#include "../base/util.h"
#include "../data/task_prompts.h"
#include "../io/model_dir.h"
#include "../pipeline/reward_program.h"
#include "../train/adapter.h"
#include "../train/grpo_objective.h"
#include "stages.h"

typedef struct {
    const char *init, *prompts, *eval, *out, *loss_type, *scale, *advantage, *regex, *reward_cmd, *reward_model;
    const char *schedule, *judge;
    OptList rewards;
    long steps, warmup, eval_every, save_every;
    int prompts_per_step, group, minibatch, updates, max_new_tokens, max_tokens, eval_limit, dynamic_sampling;
    int resample_rounds, keep, seed, resume, resume_override, eval_at_start, shuffle_rewards;
    float temperature, top_p, epsilon, epsilon_high, beta, scale_eps, lr, min_lr_ratio, grad_clip, reward_timeout;
} GrpoOptions;

/* --reward NAME[:WEIGHT] → a reward function. */
static RewardFn parse_reward(const char *spec) {
    RewardFn fn = {.weight = 1.0f};
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 0 || len >= sizeof fn.name) die("grpo: --reward %s: expected NAME or NAME:WEIGHT", spec);
    memcpy(fn.name, spec, len);
    if (colon) {
        char *end;
        fn.weight = strtof(colon + 1, &end);
        if (end == colon + 1 || *end) die("grpo: --reward %s: the weight after ':' is not a number", spec);
    }
    int kind = verifier_kind(fn.name);
    if (kind >= 0) fn.source = REWARD_VERIFIER, fn.verifier = (VerifierKind)kind;
    else if (strcmp(fn.name, "cmd") == 0) fn.source = REWARD_PROGRAM;
    else if (strcmp(fn.name, "model") == 0) fn.source = REWARD_MODEL;
    else die("grpo: --reward %s: unknown reward \"%s\" (exact, number, regex, length, cmd or model)", spec, fn.name);
    return fn;
}

static int pick(const char *value, const char *flag, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) return i;
    die("grpo: %s %s: expected one of %s%s%s%s%s%s%s", flag, value, names[0], n > 1 ? ", " : "", n > 1 ? names[1] : "",
        n > 2 ? ", " : "", n > 2 ? names[2] : "", n > 3 ? ", " : "", n > 3 ? names[3] : "");
}

static char *score_with_program(void *ctx, cJSON *const *requests, int n, float *rewards) {
    return reward_program_score(ctx, requests, n, rewards);
}

/* The length policy's one warning about prompts cut to leave room for an answer (fit_prompt). */
static void warn_long_prompts(const char *path, const Tokenizer *tok, const TaskPrompt *tasks, int n, int context,
                              int room) {
    Conversation *prompts = xmalloc(sizeof(Conversation) * (size_t)LMF_MAX(n, 1));
    for (int i = 0; i < n; i++) prompts[i] = tasks[i].prompt;
    prompts_length_report(path, tok, prompts, n, context, room);
    free(prompts);
}

int cmd_grpo(int argc, char **argv) {
    GrpoOptions o = {.out = "runs/grpo", .loss_type = "dapo", .scale = "group", .advantage = "grpo",
                     .schedule = "constant", .steps = 100, .warmup = 0, .eval_every = 10, .save_every = 20,
                     .prompts_per_step = 16, .group = 8, .minibatch = 0, .updates = 1, .max_new_tokens = 64,
                     .max_tokens = 8192, .eval_limit = 200, .resample_rounds = 2, .keep = 2, .seed = 1,
                     .temperature = 1.0f, .top_p = 1.0f, .epsilon = 0.2f, .epsilon_high = 0, .beta = 0,
                     .scale_eps = 1e-4f, .lr = 0, .min_lr_ratio = 1.0f, .grad_clip = 1.0f, .reward_timeout = 60};
    LoraOptions lora = lora_options_defaults();
    Option opts[] = {
        OPT_STR("init", &o.init, "the model to start from (an SFT model; required)"),
        OPT_STR("prompts", &o.prompts, "JSONL prompts with their gold answers: {\"prompt\"|\"messages\", \"answer\", ...} "
                                       "(required)"),
        OPT_STR("eval", &o.eval, "held-out prompts with answers: greedy answers scored by the verifiers at each "
                                 "evaluation"),
        OPT_INT("eval-limit", &o.eval_limit, "held-out prompts evaluated, spread over the file (0: all)"),
        OPT_STR("judge", &o.judge, "program scoring the held-out greedy answers (eval/judge): JSON lines "
                                   "{\"prompt\",\"completion\",...} in, {\"reward\": x} out (needs --eval)"),
        OPT_STR("out", &o.out, "run directory: checkpoints, metrics.jsonl, reward.svg, model/"),
        OPT_LIST("reward", &o.rewards, "NAME[:WEIGHT], repeatable: exact, number, regex, length (verifiers), cmd "
                                       "(--reward-cmd), model (--reward-model); the reward is the weighted sum"),
        OPT_STR("regex", &o.regex, "the pattern of --reward regex (PCRE2): 1 when the answer matches"),
        OPT_STR("reward-cmd", &o.reward_cmd, "a reward program: JSON lines {\"prompt\",\"completion\",...} in, "
                                             "{\"reward\": x} out"),
        OPT_FLOAT("reward-timeout", &o.reward_timeout, "seconds the reward program may take per answer"),
        OPT_STR("reward-model", &o.reward_model, "a reward model (lmforge rm) for --reward model"),
        OPT_LONG("steps", &o.steps, "steps: each samples, scores and updates"),
        OPT_INT("prompts-per-step", &o.prompts_per_step, "P: prompts answered per step"),
        OPT_INT("num-generations", &o.group, "G: answers per prompt (a group)"),
        OPT_INT("minibatch", &o.minibatch, "answers per optimizer update (0: the whole step's P x G)"),
        OPT_INT("num-iterations", &o.updates, "mu: passes of updates over each step's answers"),
        OPT_FLOAT("temperature", &o.temperature, "sampling temperature (log-probs are taken at it)"),
        OPT_FLOAT("top-p", &o.top_p, "nucleus sampling threshold (1: off)"),
        OPT_INT("max-new-tokens", &o.max_new_tokens, "the longest answer (Dr. GRPO's normaliser too)"),
        OPT_STR("loss-type", &o.loss_type, "dapo, grpo, bnpo or dr_grpo: how token losses are averaged (TRL's names)"),
        OPT_STR("advantage", &o.advantage, "grpo (reward - group mean, scaled) or rloo (leave-one-out, unscaled)"),
        OPT_STR("scale-rewards", &o.scale, "group, batch or none (Dr. GRPO): the std that grpo advantages divide by"),
        OPT_FLOAT("scale-eps", &o.scale_eps, "added to the std before dividing"),
        OPT_FLOAT("epsilon", &o.epsilon, "the ratio's lower clip: 1 - epsilon"),
        OPT_FLOAT("epsilon-high", &o.epsilon_high, "the ratio's upper clip: 1 + epsilon-high (0: --epsilon; DAPO: 0.28)"),
        OPT_FLOAT("beta", &o.beta, "weight of the k3 KL to the starting model (0: none, and no reference is loaded)"),
        OPT_FLAG("dynamic-sampling", &o.dynamic_sampling, "replace groups whose rewards are all equal by fresh "
                                                          "prompts (DAPO)"),
        OPT_INT("resample-rounds", &o.resample_rounds, "with --dynamic-sampling: rounds of fresh prompts per step"),
        OPT_FLAG("shuffle-rewards", &o.shuffle_rewards, "a control run: each step's rewards go to its answers at "
                                                        "random (nothing should be learnt)"),
        OPT_FLOAT("lr", &o.lr, "peak learning rate; 0: 1e-5, or 1e-4 with --lora"),
        LORA_OPTIONS(&lora),
        OPT_STR("schedule", &o.schedule, "learning-rate schedule: constant, cosine or linear"),
        OPT_LONG("warmup", &o.warmup, "warm-up steps"),
        OPT_FLOAT("min-lr-ratio", &o.min_lr_ratio, "the decay ends at lr * this"),
        OPT_FLOAT("grad-clip", &o.grad_clip, "clip the gradient norm to this (0: off)"),
        OPT_INT("max-tokens", &o.max_tokens, "tokens per forward pass (bounds memory)"),
        OPT_LONG("eval-every", &o.eval_every, "evaluate every N steps and at the end (0: only at the end)"),
        OPT_FLAG("eval-at-start", &o.eval_at_start, "evaluate the starting model too (metrics.jsonl step 0)"),
        OPT_LONG("save-every", &o.save_every, "checkpoint every N steps and at the end (0: only at the end)"),
        OPT_INT("keep", &o.keep, "checkpoints kept"),
        OPT_INT("seed", &o.seed, "seed of sampling, prompt order and minibatches"),
        OPT_FLAG("resume", &o.resume, "continue the run in --out from its newest checkpoint"),
        OPT_FLAG("resume-override", &o.resume_override, "--resume even with settings other than the run's"),
        OPT_END};
    char **pos;
    int npos = args_parse("grpo", "", "RL with verifiable rewards: G answers per prompt, checked by programs; "
                          "group-relative advantages, clipped updates, no critic (GRPO, Dr. GRPO, DAPO, RLOO).",
                          opts, argc, argv, &pos);
    free(pos);
    if (npos) die("grpo: unexpected argument (see lmforge grpo --help)");
    if (!o.init || !o.prompts) die("grpo: --init and --prompts are required");
    if (o.steps < 1) die("grpo: --steps must be positive");
    if (o.minibatch < 0 || o.max_tokens < 1) die("grpo: --minibatch must be 0 or positive, --max-tokens positive");
    if (o.epsilon < 0 || o.epsilon_high < 0 || o.beta < 0) die("grpo: --epsilon, --epsilon-high and --beta are >= 0");
    if (o.reward_cmd && !(o.reward_timeout > 0)) die("grpo: --reward-timeout must be positive");
    if (!o.lr) o.lr = lora.use ? 1e-4f : 1e-5f;

    GrpoConfig c = {.prompts = o.prompts_per_step, .group = o.group, .minibatch = o.minibatch, .updates = o.updates,
                    .temperature = o.temperature, .top_p = o.top_p, .max_new_tokens = o.max_new_tokens,
                    .max_tokens = o.max_tokens, .scale_eps = o.scale_eps, .dynamic_sampling = o.dynamic_sampling,
                    .resample_rounds = o.resample_rounds, .shuffle_rewards = o.shuffle_rewards, .lr = o.lr, .grad_clip = o.grad_clip, .seed = o.seed};
    c.loss = (GrpoLossConfig){.eps_low = o.epsilon, .eps_high = o.epsilon_high > 0 ? o.epsilon_high : o.epsilon,
                              .beta = o.beta};
    static const char *const loss_names[] = {"grpo", "bnpo", "dapo", "dr_grpo"};
    c.loss.type = (GrpoLossType)pick(o.loss_type, "--loss-type", loss_names, 4);
    static const char *const scale_names[] = {"group", "batch", "none"};
    c.scale = (RewardScale)pick(o.scale, "--scale-rewards", scale_names, 3);
    static const char *const advantage_names[] = {"grpo", "rloo"};
    c.advantage = (AdvantageKind)pick(o.advantage, "--advantage", advantage_names, 2);
    int needs_answer = 0;
    for (int i = 0; i < o.rewards.n; i++) {
        if (c.n_rewards == GRPO_MAX_REWARDS) die("grpo: at most %d --reward flags", GRPO_MAX_REWARDS);
        RewardFn fn = parse_reward(o.rewards.items[i]);
        needs_answer |= fn.source == REWARD_VERIFIER && (fn.verifier == VERIFY_EXACT || fn.verifier == VERIFY_NUMBER);
        c.rewards[c.n_rewards++] = fn;
    }
    if (o.reward_cmd && o.rewards.n == 0) c.rewards[c.n_rewards++] = parse_reward("cmd");

    ModelDir policy = model_dir_load(o.init);
    if (policy.model->cfg.head != HEAD_LM) die("grpo: %s has no language-model head", o.init);
    if (!policy.tokenizer) die("grpo: %s has no tokenizer.json", o.init);
    ModelDir ref = {0};
    if (o.beta > 0) ref = model_dir_load(o.init);
    int n_tasks, n_eval = 0;
    TaskPrompt *tasks = load_task_prompts(o.prompts, needs_answer, &n_tasks);
    TaskPrompt *eval = o.eval ? load_task_prompts(o.eval, needs_answer, &n_eval) : NULL;
    warn_long_prompts(o.prompts, policy.tokenizer, tasks, n_tasks, policy.model->cfg.max_seq_len, o.max_new_tokens);
    if (eval) warn_long_prompts(o.eval, policy.tokenizer, eval, n_eval, policy.model->cfg.max_seq_len, o.max_new_tokens);
    RewardProgram *program = o.reward_cmd ? reward_program_start(o.reward_cmd, o.reward_timeout) : NULL;
    if (o.judge && !eval) die("grpo: --judge needs --eval FILE (the held-out prompts it judges)");
    RewardProgram *judge = o.judge ? reward_program_start(o.judge, o.reward_timeout) : NULL;

    GrpoInputs in = {.policy = policy.model, .ref = ref.model, .tok = policy.tokenizer, .tasks = tasks,
                     .n_tasks = n_tasks, .eval = eval, .n_eval = n_eval, .eval_limit = o.eval_limit,
                     .regex = o.regex, .program_rewards = program ? score_with_program : NULL,
                     .program_ctx = program, .judge = judge ? score_with_program : NULL, .judge_ctx = judge,
                     .reward_model = o.reward_model, .run_dir = o.out};
    GrpoObjective *grpo = grpo_objective_new(&c, &in);
    info("grpo: %d prompts, %d per step x %d answers, %ld steps; policy %.2fM parameters", n_tasks,
         o.prompts_per_step, o.group, o.steps, policy.model->n_params / 1e6);

    OptimConfig oc = optim_defaults();
    oc.lr = o.lr;
    oc.weight_decay = 0;
    oc.grad_clip = o.grad_clip;
    TrainPart part = {.name = NULL, .final_dir = "model", .model = policy.model, .optim = oc};
    Adapter adapter = {0};
    char *base_path = realpath(o.init, NULL);
    if (lora.use) { /* the adapters are trained and saved; the model stays as it is, and is the reference */
        adapter = adapter_attach(policy.model, &lora, policy.tokenizer, base_path ? base_path : o.init,
                                 (uint64_t)o.seed);
        part.trainable = adapter_params;
        part.save = adapter_save;
        part.load = adapter_load;
        part.ctx = &adapter;
        info("LoRA: rank %d, alpha %g on %s: %.3fM trainable parameters", adapter.lora->cfg.rank,
             adapter.lora->cfg.alpha, lora.targets, adapter.lora->n_params / 1e6);
    }
    TrainConfig tc = train_config_defaults();
    tc.stage = lora.use ? "grpo-lora" : "grpo";
    tc.run_dir = o.out;
    tc.max_steps = o.steps;
    tc.schedule = (Schedule){schedule_parse(o.schedule), o.warmup, o.steps, o.min_lr_ratio};
    tc.eval_every = o.eval_every;
    tc.eval_at_start = o.eval_at_start;
    tc.save_every = o.save_every;
    tc.keep_checkpoints = o.keep;
    tc.resume = o.resume;
    tc.tokenizer = policy.tokenizer;
    tc.plot_keys = NULL;
    tc.parts = &part;
    tc.n_parts = 1;
    Objective obj = grpo_objective(grpo);
    trainer_run(NULL, &obj, &tc);

    char *svg = path_join(o.out, "reward.svg");
    plot_metrics(o.out, eval ? "reward,eval/reward" : "reward", svg, PLOT_LINEAR_Y);
    free(svg);
    if (o.beta > 0) {
        svg = path_join(o.out, "kl.svg");
        plot_metrics(o.out, "kl", svg, PLOT_LINEAR_Y);
        free(svg);
    }
    info("reward curves in %s/reward.svg%s", o.out, o.beta > 0 ? ", KL in kl.svg" : "");
    if (lora.use) info("adapter in %s/model; lmforge merge --adapter %s/model --out DIR makes a full checkpoint", o.out,
                       o.out);
    adapter_detach(&adapter, policy.model);
    free(base_path);
    grpo_objective_free(grpo);
    reward_program_stop(program);
    reward_program_stop(judge);
    task_prompts_free(tasks, n_tasks);
    if (eval) task_prompts_free(eval, n_eval);
    if (ref.model) model_dir_free(&ref);
    model_dir_free(&policy);
    free(o.rewards.items);
    return 0;
}
