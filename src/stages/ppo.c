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
 * as a copy of the reward model, score head included). Steps 1–4 are the
 * objective of train/ppo_objective.h, which the shared trainer drives (one
 * trainer step = one iteration; checkpoints, resume and metrics are the
 * trainer's); step 5 is here: the annotator, then lmforge rm's training
 * (rm_train) in this process. */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/output_log.h"
#include "../base/plot.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "../pipeline/annotator.h"
#include "../pipeline/reward_program.h"
#include "../train/ppo_objective.h"
#include "../train/run_dir.h"
#include "stages.h"

typedef struct {
    const char *policy, *reward, *value, *prompts_path, *out, *kl_name, *annotator, *ptx_data;
    const char *eval_prompts, *judge; /* held-out evaluation */
    long iterations, eval_every;
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
    const PpoOptions *o;
    const Conversation *prompts;
    int n_prompts;
} Refresh;

/* ---- 5: refreshing the reward model on fresh comparisons ---- */

/* Trains the reward model further, from the one in use, on every refresh's
 * comparisons so far, as `lmforge rm --init CURRENT --out RM_OUT --epochs
 * --lr --seed --data ...` does. */
static void train_reward_model(const PpoOptions *o, const char *current, const char *rm_out, long step) {
    remove_tree(rm_out);
    RmTrainOptions rm = rm_train_defaults();
    rm.init = current;
    rm.train.out = rm_out;
    rm.train.epochs = o->refresh_epochs;
    rm.train.lr = o->refresh_lr;
    rm.train.seed = o->seed;
    rm.nested = 1;
    char *files = xstrdup("");
    for (long it = o->refresh_every; it <= step; it += o->refresh_every) {
        rm.train.data.items = xrealloc(rm.train.data.items, sizeof(char *) * (size_t)(rm.train.data.n + 1));
        rm.train.data.items[rm.train.data.n++] = xsprintf("%s/comparisons-%ld.jsonl", o->out, it);
        char *more = xsprintf("%s '%s'", files, rm.train.data.items[rm.train.data.n - 1]);
        free(files);
        files = more;
    }
    char *log = xsprintf("%s.log", rm_out);
    char *on_death = xsprintf("ppo: retraining the reward model failed; see %s (resume with --resume)", log);
    info("ppo: training the reward model further on%s; log in %s", files, log);
    output_log_begin(log, on_death);
    rm_train(&rm);
    output_log_end();
    free(on_death);
    free(log);
    for (int i = 0; i < rm.train.data.n; i++) free((char *)rm.train.data.items[i]);
    free(rm.train.data.items);
    free(files);
}

/* Each refresh writes its comparisons to RUN_DIR/comparisons-ITER.jsonl and
 * trains the reward model further on all of them, from the current one. The
 * state is saved first: a resumed run redoes the refresh exactly (same
 * prompts, same samples, the annotator started afresh), and only skips the
 * training when its model is already complete. */
static void refresh_reward_model(void *ctx, PpoObjective *p, Trainer *t, long step) {
    const Refresh *r = ctx;
    const PpoOptions *o = r->o;
    trainer_checkpoint(t);
    int n = LMF_MIN(o->refresh_prompts, r->n_prompts), K = o->refresh_k, *which;
    Generation *g = ppo_fresh_answers(p, step, n, K, &which);
    info("ppo: %d prompts x %d answers go to the annotator; the state is saved in %s/checkpoint-%ld, from which "
         "--resume redoes this refresh if the annotator fails", n, K, o->out, step);
    char *comparisons = xsprintf("%s/comparisons-%ld.jsonl", o->out, step);
    cJSON **prompts = xmalloc(sizeof(cJSON *) * (size_t)n);
    const char **answers = xmalloc(sizeof(char *) * (size_t)n * K);
    for (int i = 0; i < n; i++) prompts[i] = conversation_to_json(&r->prompts[which[i]]);
    for (int i = 0; i < n * K; i++) answers[i] = g[i].text ? g[i].text : "";
    annotator_write_comparisons(o->annotator, (const cJSON *const *)prompts, n, answers, K, comparisons);
    for (int i = 0; i < n; i++) cJSON_Delete(prompts[i]);
    free(prompts);
    free(answers);

    char *rm_out = xsprintf("%s/rm-%ld", o->out, step), *rm_model = path_join(rm_out, "model");
    char *rm_done = path_join(rm_model, "config.json");
    if (!file_exists(rm_done)) train_reward_model(o, ppo_reward_dir(p), rm_out, step);
    ppo_use_reward_model(p, rm_model);
    info("reward model trained further on %ld refreshes of comparisons: %s", step / o->refresh_every, rm_model);
    free(rm_done);
    free(rm_model);
    free(rm_out);
    free(comparisons);
    generations_free(g, n * K);
    free(g);
    free(which);
}

/* ---- held-out evaluation by an outside judge ---- */

/* The --judge program (reward_program.h) scores each held-out answer:
 * {"prompt": ..., "completion": ...} in, {"reward": x} out. */
static void judge_answers(void *ctx, const Conversation *prompts, const Generation *g, int n, float *out) {
    cJSON **requests = xmalloc(sizeof(cJSON *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        requests[i] = cJSON_CreateObject();
        cJSON_AddItemToObject(requests[i], "prompt", conversation_to_json(&prompts[i]));
        cJSON_AddStringToObject(requests[i], "completion", g[i].text ? g[i].text : "");
    }
    char *why = reward_program_score(ctx, requests, n, out);
    if (why) die("ppo: --judge: %s", why);
    for (int i = 0; i < n; i++) cJSON_Delete(requests[i]);
    free(requests);
}

/* ---- the run ---- */

int cmd_ppo(int argc, char **argv) {
    PpoOptions options, *o = &options;
    *o = (PpoOptions){.out = "runs/ppo", .kl_name = "k1", .iterations = 100, .rollout_prompts = 64, .minibatch = 16,
                      .epochs = 4, .max_new_tokens = 64, .max_tokens = 8192, .save_every = 20, .keep = 2, .seed = 1,
                      .temperature = 1.0f, .top_p = 1.0f, .lr = 1e-5f, .value_lr = 1e-5f, .beta = 0.05f,
                      .target_kl = 0, .kl_horizon = 10000, .gamma = 1.0f, .lam = 0.95f, .clip = 0.2f,
                      .value_clip = 0.2f, .vf_coef = 0.1f, .grad_clip = 1.0f, .score_clip = 0, .eos_penalty = 0,
                      .ptx_coef = 0, .whiten = 1, .refresh_every = 0, .refresh_prompts = 64, .refresh_k = 4,
                      .refresh_epochs = 1, .refresh_lr = 1e-5f, .eval_every = 10};
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
        OPT_STR("eval-prompts", &o->eval_prompts, "held-out JSONL prompts: every --eval-every iterations the policy "
                                                  "answers them (sampled at --temperature, a fixed seed) and "
                                                  "eval/score, eval/kl (and eval/judge) are logged"),
        OPT_LONG("eval-every", &o->eval_every, "evaluate on --eval-prompts every N iterations and at the end "
                                               "(0: only at the end)"),
        OPT_STR("judge", &o->judge, "program scoring the held-out answers: {\"prompt\",\"completion\"} JSON lines in, "
                                    "{\"reward\": x} out (needs --eval-prompts)"),
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
    if (o->judge && !o->eval_prompts) die("ppo: --judge needs --eval-prompts FILE (the held-out prompts it judges)");
    if (o->eval_every < 0) die("ppo: --eval-every must be 0 or positive");

    ModelDir policy = model_dir_load(o->policy);
    if (policy.model->cfg.head != HEAD_LM) die("ppo: the policy %s has no language-model head", o->policy);
    if (!policy.tokenizer) die("ppo: the policy %s has no tokenizer.json", o->policy);
    ModelDir ref = model_dir_load(o->policy);
    int n_prompts;
    Conversation *prompts = load_prompts(o->prompts_path, &n_prompts);
    int n_eval = 0;
    Conversation *eval_prompts = o->eval_prompts ? load_prompts(o->eval_prompts, &n_eval) : NULL;
    RewardProgram *judge = o->judge ? reward_program_start(o->judge, 0) : NULL;
    int context = policy.model->cfg.max_seq_len;
    prompts_length_report(o->prompts_path, policy.tokenizer, prompts, n_prompts, context, o->max_new_tokens);
    if (eval_prompts)
        prompts_length_report(o->eval_prompts, policy.tokenizer, eval_prompts, n_eval, context, o->max_new_tokens);
    TokenData ptx = {0};
    if (o->ptx_coef > 0) {
        if (!o->ptx_data) die("ppo: --ptx-coef needs --ptx-data");
        char *shards = path_join(o->out, "ptx_shards");
        const char *inputs[1] = {o->ptx_data};
        ptx = token_data_prepare(inputs, 1, NULL, 0, policy.tokenizer, shards, 0.0, (uint64_t)o->seed);
        free(shards);
    }
    PpoConfig pc = {.rollout_prompts = o->rollout_prompts, .minibatch = o->minibatch, .epochs = o->epochs,
                    .temperature = o->temperature, .top_p = o->top_p, .max_new_tokens = o->max_new_tokens,
                    .max_tokens = o->max_tokens, .beta = o->beta, .target_kl = o->target_kl,
                    .kl_horizon = o->kl_horizon, .kl = strcmp(o->kl_name, "k3") == 0 ? KL_K3 : KL_K1,
                    .gamma = o->gamma, .lam = o->lam, .whiten = o->whiten, .clip = o->clip,
                    .value_clip = o->value_clip, .vf_coef = o->vf_coef, .score_clip = o->score_clip,
                    .eos_penalty = o->eos_penalty, .ptx_coef = o->ptx_coef, .lr = o->lr, .value_lr = o->value_lr,
                    .grad_clip = o->grad_clip, .seed = o->seed};
    PpoInputs in = {.policy = policy.model, .ref = ref.model, .tok = policy.tokenizer, .reward_dir = o->reward,
                    .critic_dir = o->value, .prompts = prompts, .n_prompts = n_prompts,
                    .ptx = o->ptx_coef > 0 ? &ptx : NULL, .ptx_source = o->ptx_data, .run_dir = o->out,
                    .eval_prompts = eval_prompts, .n_eval_prompts = n_eval, .judge = judge ? judge_answers : NULL,
                    .judge_ctx = judge};
    PpoObjective *ppo = ppo_objective_new(&pc, &in);
    Refresh refresh = {o, prompts, n_prompts};
    ppo_objective_on_refresh(ppo, o->refresh_every, refresh_reward_model, &refresh);
    info("ppo: %d prompts, %d answers per iteration, %ld iterations; policy %.2fM parameters",
         n_prompts, o->rollout_prompts, o->iterations, policy.model->n_params / 1e6);

    TrainPart parts[PPO_PARTS];
    ppo_objective_parts(ppo, parts);
    TrainConfig tc = train_config_defaults();
    tc.stage = "ppo";
    tc.run_dir = o->out;
    tc.max_steps = o->iterations;
    tc.schedule = (Schedule){SCHEDULE_CONSTANT, 0, o->iterations, 1.0f};
    tc.save_every = o->save_every;
    tc.keep_checkpoints = o->keep;
    tc.resume = o->resume;
    tc.tokenizer = policy.tokenizer;
    tc.eval_every = o->eval_every;
    tc.plot_keys = NULL;
    tc.parts = parts;
    tc.n_parts = PPO_PARTS;
    Objective obj = ppo_objective(ppo);
    trainer_run(NULL, &obj, &tc);

    /* a refresh changes the reward model's scale: the plots mark each one */
    char *svg = path_join(o->out, "score.svg");
    plot_metrics_marked(o->out, eval_prompts ? "score,score_normalized,eval/score" : "score,score_normalized", svg,
                        PLOT_LINEAR_Y, "reward_model_refresh");
    free(svg);
    svg = path_join(o->out, "kl.svg");
    plot_metrics_marked(o->out, eval_prompts ? "kl,eval/kl" : "kl", svg, PLOT_LINEAR_Y, "reward_model_refresh");
    free(svg);
    if (judge) {
        svg = path_join(o->out, "judge.svg");
        plot_metrics_marked(o->out, "eval/judge", svg, PLOT_LINEAR_Y, "reward_model_refresh");
        free(svg);
    }
    info("score and KL curves in %s/score.svg and kl.svg%s", o->out, judge ? ", the judge's in judge.svg" : "");
    reward_program_stop(judge);
    for (int i = 0; i < n_eval; i++) conversation_free(&eval_prompts[i]);
    free(eval_prompts);
    ppo_objective_free(ppo);
    if (o->ptx_coef > 0) token_data_close(&ptx);
    for (int i = 0; i < n_prompts; i++) conversation_free(&prompts[i]);
    free(prompts);
    model_dir_free(&ref);
    model_dir_free(&policy);
    return 0;
}
