/* test_ppo_cli.c — `lmforge ppo` end to end on a toy task with a known rule:
 * a tiny SFT policy names a fruit or a tool about equally often, a reward
 * model trained with `lmforge rm` prefers fruits, and PPO must make the
 * policy name fruits (gold-checked with `lmforge gold score`) while the KL
 * to the reference stays bounded. Also: the first update of a rollout sees a
 * ratio of exactly 1, the adaptive KL controller follows its formula (with k3),
 * PPO-ptx runs, the reward-model refresh through an annotator, exact resume
 * (across a refresh, and after an annotator failed), and clear errors. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"
#include "test_rm_util.h"

/* The files every run needs, in a fresh folder. */
typedef struct {
    char *dir, *sft, *rm, *prompts, *tasks;
} Setup;

static Setup setup(const char *tag) {
    Setup s;
    s.dir = test_tmpdir(tag);
    s.sft = ppo_test_write_sft(s.dir, "sft");
    s.rm = ppo_test_write_reward_model(s.dir, "rm");
    s.prompts = ppo_test_write_prompts(s.dir);
    s.tasks = ppo_test_write_tasks(s.dir);
    return s;
}

static void teardown(Setup *s) {
    if (!test_failed()) test_system("rm -rf '%s'", s->dir);
    free(s->dir);
    free(s->sft);
    free(s->rm);
    free(s->prompts);
    free(s->tasks);
}

/* Runs lmforge ppo on the toy task into DIR/RUN with the flags given after
 * the common ones; returns its exit status. Output goes to DIR/RUN.log. */
static int run_ppo(const Setup *s, const char *run, const char *flags) {
    return test_system(FIXTURE_ENV " %s ppo --policy '%s' --reward '%s' --prompts '%s' --out '%s/%s' "
                       "--rollout-prompts 16 --minibatch 8 --epochs 2 --max-new-tokens 6 --lr 3e-4 --value-lr 1e-3 "
                       "%s >> '%s/%s.log' 2>&1",
                       lmforge_bin(), s->sft, s->rm, s->prompts, s->dir, run, flags, s->dir, run);
}

/* The mean gold score (share of fruits) of 8 answers per prompt sampled from MODEL. */
static double gold_share(const Setup *s, const char *model) {
    char *out = path_join(s->dir, "gold.json");
    double mean = NAN;
    if (test_system(FIXTURE_ENV " %s sample '%s' '%s' --n 8 --seed 9 --out '%s/gold_samples.jsonl' > /dev/null 2>&1 && "
                    "%s gold score --tasks '%s' '%s/gold_samples.jsonl' --json > '%s'",
                    lmforge_bin(), model, s->prompts, s->dir, lmforge_bin(), s->tasks, s->dir, out) == 0) {
        cJSON *j = json_read_file(out);
        mean = json_get_double(cJSON_GetObjectItem(j, "overall"), "mean", out);
        cJSON_Delete(j);
    }
    free(out);
    return mean;
}

static int file_in(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    int ok = file_exists(p);
    free(p);
    return ok;
}

TEST_SLOW(ppo_raises_the_reward_of_a_toy_task_while_the_kl_stays_bounded) {
    Setup s = setup("ppo-toy");
    CHECK(run_ppo(&s, "run", "--iterations 30 --rollout-prompts 32 --beta 0.2 --save-every 10") == 0);
    char *run = path_join(s.dir, "run");
    double *score, *kl, *entropy, *clipfrac, *length;
    int n = ppo_test_metric(run, "score_normalized", &score);
    CHECK_EQ_INT(n, 30);
    CHECK_EQ_INT(ppo_test_metric(run, "kl", &kl), n);
    CHECK_EQ_INT(ppo_test_metric(run, "entropy", &entropy), n);
    CHECK_EQ_INT(ppo_test_metric(run, "clipfrac", &clipfrac), n);
    CHECK_EQ_INT(ppo_test_metric(run, "length", &length), n);
    if (n == 30) {
        double early = ppo_test_mean(score, 0, 3), late = ppo_test_mean(score, 25, 30), late_kl = ppo_test_mean(kl, 20, 30);
        double max_kl = 0;
        for (int i = 0; i < n; i++) max_kl = fmax(max_kl, kl[i]);
        char *model = path_join(run, "model");
        double sft_gold = gold_share(&s, s.sft), ppo_gold = gold_share(&s, model);
        free(model);
        printf("normalised score %.3f (iterations 1-3) -> %.3f (26-30); KL %.3f (21-30), at most %.3f; "
               "entropy %.3f -> %.3f; gold share of fruits %.3f -> %.3f\n",
               early, late, late_kl, max_kl, entropy[0], entropy[n - 1], sft_gold, ppo_gold);
        CHECK(kl[0] == 0); /* the first rollout comes from the reference itself */
        /* the RM's normalised scores are about +1 for a fruit and -1 for a tool: from a third of fruits to most */
        CHECK_MSG(late > early + 0.4 && late > 0.8, "normalised score %.3f -> %.3f", early, late);
        /* the KL penalty holds the policy near the reference: answering with the 4 fruits instead of all 12 words
         * costs log 3 (1.1 nats), with a single one of them log 12 (2.5 nats) */
        CHECK_MSG(max_kl < 6 && late_kl < 3, "KL to the reference: %.3f in iterations 21-30, at most %.3f", late_kl,
                  max_kl);
        /* and in truth: more fruits, by the gold judge (not all: the policy may find misspelt words the reward
         * model likes, "pllum", a small case of reward hacking) */
        CHECK_MSG(ppo_gold > sft_gold + 0.25 && ppo_gold > 0.8, "gold share %.3f -> %.3f", sft_gold, ppo_gold);
    }
    /* the run directory */
    const char *files = "model/config.json\0value/config.json\0score.svg\0kl.svg\0samples.jsonl\0"
                        "checkpoint-30/trainer_state.json\0checkpoint-30/policy/model.safetensors\0"
                        "checkpoint-30/value/model.safetensors\0checkpoint-30/policy_optimizer.safetensors\0"
                        "checkpoint-30/value_optimizer.safetensors\0checkpoint-20/trainer_state.json\0";
    for (const char *f = files; *f; f += strlen(f) + 1) CHECK_MSG(file_in(run, f), "%s/%s is missing", run, f);
    CHECK(!file_in(run, "checkpoint-10")); /* --keep 2 */
    char *samples_path = path_join(run, "samples.jsonl"), *samples = read_file(samples_path, NULL);
    int lines = 0;
    for (char *c = samples; *c; c++) lines += *c == '\n';
    CHECK_EQ_INT(lines, 30 * 4); /* four answers an iteration */
    CHECK(strstr(samples, "{\"iteration\":30,\"prompt\":") && strstr(samples, "\"response\":") &&
          strstr(samples, "\"score\":"));
    char *metrics_path = path_join(run, "metrics.jsonl"), *metrics = read_file(metrics_path, NULL);
    for (const char *key = "\"approx_kl\"\0\"value_loss\"\0\"explained_variance\"\0\"beta\"\0\"time/generation\"\0"
                           "\"time/scoring\"\0\"time/update\"\0\"time/iteration\"\0";
         *key; key += strlen(key) + 1)
        CHECK_MSG(strstr(metrics, key), "metrics.jsonl has no %s", key);
    free(metrics);
    free(metrics_path);
    free(samples);
    free(samples_path);
    free(score);
    free(kl);
    free(entropy);
    free(clipfrac);
    free(length);
    free(run);
    teardown(&s);
}

TEST_SLOW(ppo_first_update_of_every_rollout_has_a_ratio_of_exactly_one) {
    Setup s = setup("ppo-ratio");
    /* one minibatch and one epoch: each update is a first minibatch, so no token is clipped and the
     * old and new policies agree exactly; with more epochs they no longer do */
    CHECK(run_ppo(&s, "one", "--iterations 3 --minibatch 16 --epochs 1 --lr 1e-2 --save-every 0") == 0);
    CHECK(run_ppo(&s, "more", "--iterations 3 --minibatch 16 --epochs 3 --lr 1e-2") == 0);
    char *one = path_join(s.dir, "one"), *more = path_join(s.dir, "more");
    double *clip1, *kl1, *clip3, *kl3;
    CHECK_EQ_INT(ppo_test_metric(one, "clipfrac", &clip1), 3);
    CHECK_EQ_INT(ppo_test_metric(one, "approx_kl", &kl1), 3);
    CHECK_EQ_INT(ppo_test_metric(more, "clipfrac", &clip3), 3);
    CHECK_EQ_INT(ppo_test_metric(more, "approx_kl", &kl3), 3);
    for (int i = 0; clip1 && kl1 && i < 3; i++)
        CHECK_MSG(clip1[i] == 0 && kl1[i] == 0, "iteration %d: clipfrac %g, approx_kl %g", i + 1, clip1[i], kl1[i]);
    CHECK(kl3 && kl3[0] > 0); /* the later epochs see the policy the first one changed */
    CHECK(file_in(one, "checkpoint-3/trainer_state.json") && !file_in(one, "checkpoint-2/trainer_state.json")); /* --save-every 0 */
    free(clip1);
    free(kl1);
    free(clip3);
    free(kl3);
    free(one);
    free(more);
    teardown(&s);
}

TEST_SLOW(ppo_adaptive_kl_controller_and_ptx_follow_their_definitions) {
    Setup s = setup("ppo-kl");
    /* a text for PPO-ptx: the pretraining loss is mixed into the policy's gradient */
    char *text = path_join(s.dir, "ptx.txt");
    FILE *f = xfopen(text, "w");
    for (int i = 0; i < 40; i++)
        fprintf(f, "%s %s and %s.\n", PPO_ASKS[i % PPO_N_ASKS], PPO_FRUITS[i % 8], PPO_TOOLS[i % 7]);
    fclose(f);
    char *flags = xsprintf("--iterations 4 --lr 1e-3 --beta 0.1 --kl k3 --target-kl 0.5 --kl-horizon 100 --ptx-data '%s' "
                           "--ptx-coef 0.5",
                           text);
    CHECK(run_ppo(&s, "run", flags) == 0);
    char *run = path_join(s.dir, "run");
    double *beta, *kl;
    CHECK_EQ_INT(ppo_test_metric(run, "beta", &beta), 4);
    CHECK_EQ_INT(ppo_test_metric(run, "kl", &kl), 4);
    /* Ziegler et al.: β ← β (1 + clip(KL/target − 1, ±0.2) · answers / horizon), after each iteration */
    for (int i = 0; beta && kl && i + 1 < 4; i++) {
        double e = fmin(fmax(kl[i] / 0.5 - 1, -0.2), 0.2);
        CHECK_NEAR(beta[i + 1], beta[i] * (1 + e * 16.0 / 100.0), 1e-6);
    }
    CHECK(beta && fabs(beta[0] - 0.1) < 1e-8);
    CHECK(kl && beta[1] < beta[0]); /* the first KL is 0, below the target */
    for (int i = 0; kl && i < 4; i++) CHECK(kl[i] >= 0); /* k3 is never negative */
    char *shards = path_join(run, "ptx_shards");
    CHECK(dir_exists(shards));
    free(shards);
    free(beta);
    free(kl);
    free(run);
    free(flags);
    free(text);
    teardown(&s);
}

/* The metrics of a run without its timings, which differ from run to run. */
static char *metrics_without_times(const char *run) {
    char *path = path_join(run, "metrics.jsonl"), *text = read_file(path, NULL);
    char *out = xcalloc(strlen(text) + 1, 1), *w = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *times = strstr(line, ",\"time/");
        size_t n = times ? (size_t)(times - line) : strlen(line);
        memcpy(w, line, n);
        w += n;
        *w++ = '\n';
    }
    free(text);
    free(path);
    return out;
}

static int same_file(const Setup *s, const char *a, const char *b, const char *name) {
    return test_system("cmp -s '%s/%s/%s' '%s/%s/%s'", s->dir, a, name, s->dir, b, name) == 0;
}

TEST_SLOW(ppo_resume_is_exact_across_a_reward_model_refresh_and_after_a_failed_annotator) {
    Setup s = setup("ppo-resume");
    char *annotator = xsprintf("%s gold annotate --tasks '%s' --noise 0.5 --seed 4", lmforge_bin(), s.tasks);
    char *flags = xsprintf("--iterations 8 --save-every 2 --keep 10 --refresh-every 3 --refresh-prompts 6 "
                           "--refresh-k 4 --refresh-lr 1e-3 --annotator \"%s\"",
                           annotator);
    CHECK(run_ppo(&s, "a", flags) == 0);

    /* the refreshes: ranked comparisons of fresh answers, and the reward model trained further on them */
    char *comparisons_path = path_join(s.dir, "a/comparisons-3.jsonl"), *comparisons = read_file(comparisons_path, NULL);
    int lines = 0, ranked = 1;
    for (char *line = strtok(comparisons, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(line);
        ranked &= cJSON_GetArraySize(cJSON_GetObjectItem(j, "responses")) == 4 &&
                  cJSON_GetArraySize(cJSON_GetObjectItem(j, "ranking")) == 4 && cJSON_GetObjectItem(j, "prompt");
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(lines, 6);
    CHECK(ranked);
    CHECK(file_in(s.dir, "a/comparisons-6.jsonl"));
    char *rm6 = path_join(s.dir, "a/rm-6/model");
    ModelDir ck = model_dir_load(rm6);
    CHECK(ck.model->cfg.head == HEAD_SCORE && ck.reward_std > 0);
    model_dir_free(&ck);
    CHECK(test_system("grep -q '\"reward_dir\":.*/a/rm-6/model\"' '%s/a/checkpoint-8/trainer_state.json'", s.dir) == 0);
    /* the second refresh trains on both refreshes' comparisons */
    CHECK(test_system("grep -q 'training the reward model further on .*/a/comparisons-3.jsonl. .*/a/comparisons-6.jsonl.; "
                      "log in .*/a/rm-6.log' '%s/a.log'",
                      s.dir) == 0);

    /* b: the annotator writes garbage at the first refresh; the run stops with a clear error and keeps its state */
    CHECK(run_ppo(&s, "b", "--iterations 8 --save-every 2 --keep 10 --refresh-every 3 --refresh-prompts 6 "
                           "--refresh-k 4 --refresh-lr 1e-3 --annotator 'yes garbage'") == 1);
    CHECK(test_system("grep -q \"lmforge: annotator 'yes garbage': reply 1 must be {\\\"ranking\\\": \\[...\\]} holding "
                      "each of 0..3 once, got: garbage\" '%s/b.log'",
                      s.dir) == 0);
    char *b3 = path_join(s.dir, "b/checkpoint-3/policy");
    ck = model_dir_load(b3);
    CHECK(ck.model->cfg.head == HEAD_LM);
    model_dir_free(&ck);
    /* resumed with a working annotator, it ends exactly as the uninterrupted run */
    char *resume_flags = xsprintf("%s --resume", flags);
    CHECK(run_ppo(&s, "b", resume_flags) == 0);
    CHECK(test_system("grep -q 'resumed from .*/b/checkpoint-3' '%s/b.log'", s.dir) == 0);
    for (const char *f = "model/model.safetensors\0value/model.safetensors\0rm-6/model/model.safetensors\0"
                         "comparisons-3.jsonl\0comparisons-6.jsonl\0samples.jsonl\0";
         *f; f += strlen(f) + 1)
        CHECK_MSG(same_file(&s, "a", "b", f), "b/%s differs from the uninterrupted run's", f);
    char *ma = path_join(s.dir, "a"), *mb = path_join(s.dir, "b");
    char *metrics_a = metrics_without_times(ma), *metrics_b = metrics_without_times(mb);
    CHECK_MSG(strcmp(metrics_a, metrics_b) == 0, "the metrics of the resumed run differ");
    free(metrics_b);

    /* b again, as if killed after iteration 4: it redoes iteration 5, 6, the refresh at 6 (retraining rm-6), 7 and 8 */
    CHECK(test_system("cd '%s/b' && rm -rf checkpoint-6 checkpoint-8 rm-6 rm-6.log comparisons-6.jsonl model value",
                      s.dir) == 0);
    CHECK(run_ppo(&s, "b", resume_flags) == 0);
    CHECK(test_system("grep -q 'resumed from .*/b/checkpoint-4' '%s/b.log'", s.dir) == 0);
    for (const char *f = "model/model.safetensors\0value/model.safetensors\0rm-6/model/model.safetensors\0"
                         "comparisons-6.jsonl\0samples.jsonl\0checkpoint-8/policy_optimizer.safetensors\0"
                         "checkpoint-8/value_optimizer.safetensors\0";
         *f; f += strlen(f) + 1)
        CHECK_MSG(same_file(&s, "a", "b", f), "b/%s differs from the uninterrupted run's after the second resume", f);
    /* the saved state too (RNG, KL controller, prompt order), but for the run directory's name */
    CHECK(test_system("sed 's#/a/rm-6/#/b/rm-6/#' '%s/a/checkpoint-8/trainer_state.json' | "
                      "cmp -s - '%s/b/checkpoint-8/trainer_state.json'",
                      s.dir, s.dir) == 0);
    metrics_b = metrics_without_times(mb);
    CHECK_MSG(strcmp(metrics_a, metrics_b) == 0, "the metrics of the run resumed at 4 differ");

    free(metrics_a);
    free(metrics_b);
    free(ma);
    free(mb);
    free(resume_flags);
    free(b3);
    free(rm6);
    free(comparisons);
    free(comparisons_path);
    free(flags);
    free(annotator);
    teardown(&s);
}

/* Runs lmforge ppo with `args` (policy, reward and prompts included); checks
 * that it exits with status 1 and a message containing `expected`. */
static void check_ppo_dies(const Setup *s, const char *args, const char *expected) {
    char *err = path_join(s->dir, "err.txt");
    int rc = test_system(FIXTURE_ENV " %s ppo --out '%s/bad' --rollout-prompts 4 --minibatch 4 --max-new-tokens 4 %s "
                         "> /dev/null 2> '%s'",
                         lmforge_bin(), s->dir, args, err);
    char *text = read_file(err, NULL);
    CHECK_MSG(rc == 1 && strstr(text, expected) && strncmp(text, "lmforge: ", 9) == 0,
              "ppo %s\n      exit status %d, expected 1 and \"%s\"; stderr:\n%s", args, rc, expected, text);
    free(text);
    free(err);
    test_system("rm -rf '%s/bad'", s->dir);
}

TEST_SLOW(ppo_bad_input_and_configuration_die_with_clear_errors) {
    Setup s = setup("ppo-bad");
    /* a reward model and a critic whose tokenizer is not the policy's */
    Model *other = rm_test_model(HEAD_SCORE, 1);
    char *other_rm = path_join(s.dir, "other_rm");
    model_dir_save(other_rm, other, rm_test_tokenizer(), 0, 1);
    model_free(other);
    char *empty = path_join(s.dir, "empty.jsonl"), *bad = path_join(s.dir, "bad.jsonl");
    char *long_prompt = path_join(s.dir, "long.jsonl");
    write_bytes(empty, "\n", 1);
    const char *bad_text = "{\"prompt\":\"Name a fruit.\"}\n{\"prompt\":3}\n";
    write_bytes(bad, bad_text, strlen(bad_text));
    FILE *f = xfopen(long_prompt, "w");
    fprintf(f, "{\"prompt\":\"");
    for (int i = 0; i < 40; i++) fprintf(f, "%s %s ", PPO_FRUITS[i % 8], PPO_TOOLS[i % 8]);
    fprintf(f, "\"}\n");
    fclose(f);
    char *tiny_text = path_join(s.dir, "tiny.txt");
    write_bytes(tiny_text, "a pear", 6);

    char *base = xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, s.rm, s.prompts);
    struct {
        char *args;
        const char *expected;
    } cases[] = {
        {xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, s.rm, empty), "empty.jsonl: no prompts"},
        {xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, s.rm, bad), "bad.jsonl:2: field \"prompt\""},
        {xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, other_rm, s.prompts),
         "ppo: the reward model"},
        {xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, other_rm, s.prompts),
         "uses another tokenizer than the policy"},
        {xsprintf("%s --value '%s'", base, other_rm), "the value model"},
        {xsprintf("--policy '%s' --reward '%s' --prompts '%s'", s.sft, s.sft, s.prompts),
         "has a language-model head, not a score head"},
        {xsprintf("--reward '%s' --prompts '%s'", s.rm, s.prompts), "--policy, --reward and --prompts are required"},
        {xsprintf("%s --kl k2", base), "--kl must be k1 or k3"},
        {xsprintf("%s --temperature 0", base), "--temperature must be positive"},
        {xsprintf("%s --minibatch 0", base), "must be positive"},
        {xsprintf("%s --refresh-every 1", base), "--refresh-every needs --annotator"},
        {xsprintf("%s --target-kl 1 --kl-horizon 0", base), "--kl-horizon must be positive"},
        {xsprintf("%s --ptx-coef 0.1", base), "--ptx-coef needs --ptx-data"},
        {xsprintf("%s --ptx-coef 0.1 --ptx-data '%s'", base, tiny_text), "fewer than one window"},
        /* annotators that exit, or answer with something else than a ranking of the answers */
        {xsprintf("%s --iterations 2 --refresh-every 1 --refresh-prompts 2 --annotator true", base),
         "annotator 'true' exited without answering request 1"},
        {xsprintf("%s --iterations 2 --refresh-every 1 --refresh-prompts 2 "
                  "--annotator 'yes {\\\"ranking\\\":[0,0,1,2]}'",
                  base),
         "reply 1 must be {\"ranking\": [...]} holding each of 0..3 once, got: {\"ranking\":[0,0,1,2]}"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        check_ppo_dies(&s, cases[i].args, cases[i].expected);
        free(cases[i].args);
    }

    /* a prompt that leaves no room for an answer is cut from its start (the
     * length policy of every stage), with one warning, not refused */
    CHECK(test_system(FIXTURE_ENV " %s ppo --policy '%s' --reward '%s' --prompts '%s' --out '%s/long' --iterations 1 "
                      "--rollout-prompts 2 --minibatch 2 --max-new-tokens 4 > '%s/long.log' 2>&1 && grep -q "
                      "'long.jsonl: 1 of 1 prompts leave no room for an answer in the context of 64 tokens: cut from "
                      "the start to 60 tokens' '%s/long.log'",
                      lmforge_bin(), s.sft, s.rm, long_prompt, s.dir, s.dir, s.dir) == 0);

    /* a run directory with checkpoints is not overwritten */
    CHECK(test_system(FIXTURE_ENV " %s ppo %s --out '%s/done' --iterations 1 --rollout-prompts 4 --max-new-tokens 4 "
                      "> /dev/null 2>&1",
                      lmforge_bin(), base, s.dir) == 0);
    CHECK(test_system(FIXTURE_ENV " %s ppo %s --out '%s/done' --iterations 1 > /dev/null 2> '%s/err.txt'; test $? -eq 1 "
                      "&& grep -q 'already holds checkpoints: pass --resume' '%s/err.txt'",
                      lmforge_bin(), base, s.dir, s.dir, s.dir) == 0);
    free(base);
    free(tiny_text);
    free(empty);
    free(bad);
    free(long_prompt);
    free(other_rm);
    teardown(&s);
}

/* --eval-prompts with --judge: every --eval-every iterations the held-out
 * prompts are answered, scored by the reward model and by the judge program
 * (which sees each prompt and completion), with the KL to the reference; the
 * score plot marks the reward-model refresh. */
TEST_SLOW(ppo_held_out_evaluation_logs_the_reward_model_the_judge_and_the_kl) {
    Setup s = setup("ppo-eval");
    char *judge = path_join(s.dir, "judge.sh");
    char *script = xsprintf("#!/bin/sh\nwhile IFS= read -r line; do printf '%%s\\n' \"$line\" >> '%s/judged.jsonl'; "
                            "echo '{\"reward\": 0.25}'; done\n", s.dir);
    write_bytes(judge, script, strlen(script));
    char *annotator = xsprintf("%s gold annotate --tasks '%s' --seed 4", lmforge_bin(), s.tasks);
    char *flags = xsprintf("--iterations 4 --eval-prompts '%s' --eval-every 2 --judge 'sh %s' --refresh-every 2 "
                           "--refresh-prompts 4 --refresh-k 2 --annotator \"%s\"",
                           s.prompts, judge, annotator);
    CHECK(run_ppo(&s, "run", flags) == 0);
    char *run = path_join(s.dir, "run");
    double *score, *judged, *kl;
    int n_score = ppo_test_metric(run, "eval/score", &score), n_judge = ppo_test_metric(run, "eval/judge", &judged);
    int n_kl = ppo_test_metric(run, "eval/kl", &kl);
    CHECK_EQ_INT(n_score, 2); /* after iterations 2 and 4 */
    CHECK_EQ_INT(n_judge, 2);
    CHECK_EQ_INT(n_kl, 2);
    for (int i = 0; i < n_judge; i++) CHECK(judged[i] == 0.25);
    for (int i = 0; i < n_kl; i++) CHECK(isfinite(kl[i]) && kl[i] != 0);
    for (int i = 0; i < n_score; i++) CHECK(isfinite(score[i]));
    /* the judge saw every held-out prompt at both evaluations, with its completion */
    CHECK(test_system("test $(wc -l < '%s/judged.jsonl') -eq $((2 * $(grep -c . '%s'))) && "
                      "grep -c '\"completion\"' '%s/judged.jsonl' | grep -q . && grep -q '\"prompt\"' '%s/judged.jsonl'",
                      s.dir, s.prompts, s.dir, s.dir) == 0);
    /* the refresh is logged and marked on the plots */
    CHECK(test_system("grep -q '\"reward_model_refresh\"' '%s/metrics.jsonl'", run) == 0);
    CHECK(test_system("grep -q 'class=\"mark\"' '%s/score.svg' && grep -q 'class=\"mark\"' '%s/judge.svg'", run, run) == 0);
    free(score);
    free(judged);
    free(kl);
    free(run);
    free(flags);
    free(annotator);
    free(script);
    free(judge);
    teardown(&s);
}
