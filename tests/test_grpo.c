/* test_grpo.c — `lmforge grpo` end to end on the toy task of
 * test_ppo_util.h (a tiny SFT policy that names a tool twice as often as a
 * fruit): with a verifier that rewards fruits, the share of fruits rises on
 * held-out prompts, and does not with shuffled (meaningless) rewards; a run
 * killed and resumed ends bit-identical to one that was not; a reward
 * program that dies, hangs or writes garbage stops the run with a clear
 * message and its state saved, and --resume continues exactly. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

/* DIR/tasks.jsonl (training) and DIR/heldout.jsonl: every ask, with "pear" as its answer (the SFT policy says it in one answer of twelve, and greedily says "plum"), plus a "kind" field
 * that reward programs see. */
static void write_tasks(const char *dir) {
    const char *names[2] = {"tasks.jsonl", "heldout.jsonl"};
    for (int k = 0; k < 2; k++) {
        char *path = path_join(dir, names[k]);
        FILE *f = fopen(path, "w");
        for (int r = 0; r < 4; r++)
            for (int a = 0; a < PPO_N_ASKS; a++)
                fprintf(f, k == 0 ? "{\"prompt\": \"%s\", \"answer\": \"pear\", \"kind\": \"fruit\"}\n"
                                  : "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": "
                                    "\"user\", \"content\": \"%s\"}], \"answer\": \"pear\"}\n",
                        PPO_ASKS[a]);
        fclose(f);
        free(path);
    }
}

static int grpo(const char *dir, const char *sft, const char *out, const char *flags) {
    return test_system(FIXTURE_ENV " %s grpo --init %s --prompts %s/tasks.jsonl --eval %s/heldout.jsonl --out %s/%s "
                       "--max-new-tokens 6 --prompts-per-step 8 "
                       "--num-generations 8 --lr 3e-3 --eval-every 5 %s > %s/%s.log 2>&1",
                       lmforge_bin(), sft, dir, dir, dir, out, flags, dir, out);
}

/* The first and the last eval/regex of a run. */
static void first_last(const char *dir, const char *run, double *first, double *last) {
    char *path = path_join(dir, run);
    double *v;
    int n = ppo_test_metric(path, "eval/exact", &v);
    *first = n > 0 ? v[0] : -1;
    *last = n > 0 ? v[n - 1] : -1;
    free(v);
    free(path);
}

TEST_SLOW(grpo_learns_a_verifiable_reward_and_not_a_shuffled_one) {
    char *dir = test_tmpdir("grpo");
    char *sft = ppo_test_write_sft(dir, "sft");
    write_tasks(dir);
    CHECK(grpo(dir, sft, "run", "--steps 20 --eval-at-start --reward exact") == 0);
    double first, last;
    first_last(dir, "run", &first, &last);
    CHECK_MSG(last >= first + 0.3, "held-out fruit share %.3f -> %.3f", first, last);
    /* the same rewards given to answers at random teach nothing */
    CHECK(grpo(dir, sft, "shuffled", "--steps 20 --eval-at-start --reward exact --shuffle-rewards") == 0);
    double sfirst, slast;
    first_last(dir, "shuffled", &sfirst, &slast);
    CHECK_MSG(slast < sfirst + 0.2, "shuffled rewards moved the fruit share %.3f -> %.3f", sfirst, slast);
    CHECK(test_system("test -f %s/run/model/model.safetensors && test -f %s/run/reward.svg", dir, dir) == 0);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(sft);
    free(dir);
}

/* A reward program that fails once, at its 150th answer (in step 3), in the given way; every other answer gets 1
 * when it is "pear". */
static char *write_judge(const char *dir) {
    char *path = path_join(dir, "judge.py");
    const char *text = "import json, os, sys, time\n"
                     "mode, flag = sys.argv[1], sys.argv[2]\n"
                     "n = 0\n"
                     "for line in sys.stdin:\n"
                     "    n += 1\n"
                     "    d = json.loads(line)\n"
                     "    assert d['kind'] == 'fruit' and d['answer'] == 'pear'\n"
                     "    if n == 150 and mode != 'none' and not os.path.exists(flag):\n"
                     "        open(flag, 'w').close()\n"
                     "        if mode == 'die': sys.exit(3)\n"
                     "        if mode == 'hang': time.sleep(60)\n"
                     "        if mode == 'garbage':\n"
                     "            print('not json', flush=True)\n"
                     "            continue\n"
                     "    print(json.dumps({'reward': 1.0 if d['completion'].strip() == 'pear' else 0.0}), flush=True)\n";
    write_bytes(path, text, strlen(text));
    return path;
}

static int grpo_with_judge(const char *dir, const char *sft, const char *out, const char *mode, const char *more) {
    char *flags = xsprintf("--steps 6 --save-every 0 --reward-timeout 2 --reward-cmd '/usr/bin/python3 %s/judge.py %s "
                           "%s/%s.flag' %s", dir, mode, dir, out, more);
    int rc = grpo(dir, sft, out, flags);
    free(flags);
    return rc;
}

TEST_SLOW(grpo_reward_program_failures_stop_with_the_state_saved_and_resume_exactly) {
    char *dir = test_tmpdir("grpo-judge");
    char *sft = ppo_test_write_sft(dir, "sft");
    write_tasks(dir);
    free(write_judge(dir));
    CHECK(grpo_with_judge(dir, sft, "whole", "none", "") == 0);
    static const struct {
        const char *mode, *message;
    } cases[] = {
        {"die", "exited without answering request 150 (exit status 3)"},
        {"hang", "did not answer request 150 within 2 s"},
        {"garbage", "reply 150 must be {\"reward\": a finite number}, got: not json"},
    };
    for (int i = 0; i < 3; i++) {
        const char *m = cases[i].mode;
        CHECK_MSG(grpo_with_judge(dir, sft, m, m, "") == 1, "%s: the run should stop", m);
        CHECK_MSG(test_system("grep -qF '%s' %s/%s.log && grep -q 'state is saved: --resume redoes this step' %s/%s.log",
                              cases[i].message, dir, m, dir, m) == 0,
                  "%s: no clear message in the log", m);
        CHECK_MSG(test_system("test -f %s/%s/checkpoint-2/trainer_state.json", dir, m) == 0, "%s: no state saved", m);
        CHECK_MSG(grpo_with_judge(dir, sft, m, m, "--resume") == 0, "%s: --resume failed", m);
        CHECK(test_system("grep -q 'resumed from %s/%s/checkpoint-2' %s/%s.log", dir, m, dir, m) == 0);
        CHECK_MSG(test_system("cmp -s %s/whole/model/model.safetensors %s/%s/model/model.safetensors", dir, dir, m) == 0,
                  "%s: the resumed run ends with another model than the uninterrupted one", m);
    }
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(sft);
    free(dir);
}

/* recipes/rlvr.recipe in miniature: GRPO, its shuffled control and PPO from one SFT model, then the report. */
TEST_SLOW(rlvr_recipe_runs_grpo_beside_ppo_in_miniature) {
    char *dir = test_tmpdir("rlvr");
    CHECK(test_system(FIXTURE_ENV " %s pipeline recipes/rlvr.recipe --run-dir %s --set tasks_per_family=30 "
                      "--set max_pretrain_mb=0.3 --set vocab=512 --set dim=64 --set layers=2 --set heads=2 "
                      "--set pretrain_steps=20 --set sft_epochs=1 --set grpo_steps=3 --set ppo_iterations=2 "
                      "--set ppo_prompts=8 --set rm_epochs=1 > %s/log 2>&1",
                      lmforge_bin(), dir, dir) == 0);
    CHECK(test_system("grep -q '^| grpo |' %s/report.md && grep -q '^| grpo-shuffled |' %s/report.md && "
                      "grep -q '^| ppo |' %s/report.md", dir, dir, dir) == 0);
    double *v;
    char *run = path_join(dir, "grpo");
    CHECK_EQ_INT(ppo_test_metric(run, "eval/number", &v), 2); /* at the start and at the end */
    free(v);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(run);
    free(dir);
}

/* With --lora only the adapters train (the model files are PEFT's), generation runs them unmerged, the reward is
 * learnt as well, and a run stopped by its reward program resumes exactly (the dropout state included). */
TEST_SLOW(grpo_trains_lora_adapters_and_resumes_them_exactly) {
    char *dir = test_tmpdir("grpo-lora");
    char *sft = ppo_test_write_sft(dir, "sft");
    write_tasks(dir);
    free(write_judge(dir));
    CHECK(grpo(dir, sft, "learn", "--steps 20 --eval-at-start --reward exact --lora --lr 1e-2") == 0);
    double first, last;
    first_last(dir, "learn", &first, &last);
    CHECK_MSG(last >= first + 0.3, "held-out exact match with LoRA %.3f -> %.3f", first, last);
    CHECK(test_system("test -f %s/learn/model/adapter_model.safetensors && test ! -f %s/learn/model/model.safetensors",
                      dir, dir) == 0);
    CHECK(grpo_with_judge(dir, sft, "whole", "none", "--lora --lr 1e-2") == 0);
    CHECK(grpo_with_judge(dir, sft, "die", "die", "--lora --lr 1e-2") == 1);
    CHECK(grpo_with_judge(dir, sft, "die", "die", "--lora --lr 1e-2 --resume") == 0);
    CHECK_MSG(test_system("cmp -s %s/whole/model/adapter_model.safetensors %s/die/model/adapter_model.safetensors", dir,
                          dir) == 0,
              "the resumed LoRA run ends with other adapters than the uninterrupted one");
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(sft);
    free(dir);
}

/* Under mpirun, each rank answers its share of a step's prompts (the samples a single process would draw) and
 * the gradients are summed: the first step's rewards are those of one process, its loss the same to rounding, and
 * the run learns as one process does. */
TEST_SLOW(grpo_under_mpirun_shares_each_step_over_the_ranks) {
    const char *mpi = getenv("LMFORGE_MPI") && *getenv("LMFORGE_MPI") ? getenv("LMFORGE_MPI") : "build/lmforge-mpi";
    if (test_system("command -v mpirun >/dev/null 2>&1") != 0) SKIP("mpirun not found (scripts/deps.sh installs it)");
    if (!file_exists(mpi)) SKIP("the MPI build is not there: run make mpi");
    char *dir = test_tmpdir("grpo-mpi");
    char *sft = ppo_test_write_sft(dir, "sft");
    write_tasks(dir);
    const char *flags = "--reward exact --steps 12 --prompts-per-step 8 --num-generations 8 --max-new-tokens 6 "
                        "--lr 3e-3 --eval-every 12 --eval-at-start --dynamic-sampling";
    CHECK(test_system("OMP_NUM_THREADS=1 %s grpo --init %s --prompts %s/tasks.jsonl --eval %s/heldout.jsonl --out "
                      "%s/one %s > %s/one.log 2>&1", lmforge_bin(), sft, dir, dir, dir, flags, dir) == 0);
    CHECK(test_system("OMP_NUM_THREADS=1 timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "
                      "%s grpo --init %s --prompts %s/tasks.jsonl --eval %s/heldout.jsonl --out %s/two %s > "
                      "%s/two.log 2>&1", mpi, sft, dir, dir, dir, flags, dir) == 0);
    char *one = path_join(dir, "one"), *two = path_join(dir, "two");
    double *r1, *r2, *l1, *l2;
    int n1 = ppo_test_metric(one, "reward", &r1), n2 = ppo_test_metric(two, "reward", &r2);
    CHECK(n1 == 12 && n2 == 12);
    if (n1 > 0 && n2 > 0) CHECK_MSG(r1[0] == r2[0], "step 1's reward: %.6f on one process, %.6f on two ranks", r1[0], r2[0]);
    n1 = ppo_test_metric(one, "loss", &l1);
    n2 = ppo_test_metric(two, "loss", &l2);
    if (n1 > 0 && n2 > 0)
        CHECK_MSG(fabs(l1[0] - l2[0]) <= 1e-5 * (1 + fabs(l1[0])), "step 1's loss: %.8f vs %.8f", l1[0], l2[0]);
    double first, last;
    first_last(dir, "two", &first, &last);
    CHECK_MSG(last >= first + 0.3, "on two ranks, held-out exact match %.3f -> %.3f", first, last);
    free(r1);
    free(r2);
    free(l1);
    free(l2);
    free(one);
    free(two);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(sft);
    free(dir);
}

/* --judge: an outside program scores the held-out greedy answers at each
 * evaluation (eval/judge), seeing each prompt, completion and gold answer. */
TEST_SLOW(grpo_judge_scores_the_held_out_answers) {
    char *dir = test_tmpdir("grpo-judge");
    char *sft = ppo_test_write_sft(dir, "sft");
    write_tasks(dir);
    char *script = xsprintf("while IFS= read -r line; do printf '%%s\\n' \"$line\" >> '%s/judged.jsonl'; "
                            "echo '{\"reward\": 0.75}'; done\n", dir);
    char *judge = path_join(dir, "judge.sh");
    write_bytes(judge, script, strlen(script));
    char *flags = xsprintf("--steps 2 --eval-every 1 --eval-limit 4 --reward exact --judge 'sh %s'", judge);
    CHECK(grpo(dir, sft, "run", flags) == 0);
    char *run = path_join(dir, "run");
    double *v;
    int n = ppo_test_metric(run, "eval/judge", &v);
    CHECK_EQ_INT(n, 2);
    for (int i = 0; i < n; i++) CHECK(v[i] == 0.75);
    CHECK(test_system("test $(wc -l < '%s/judged.jsonl') -eq 8 && grep -q '\"completion\"' '%s/judged.jsonl' && "
                      "grep -q '\"answer\":\"pear\"' '%s/judged.jsonl'",
                      dir, dir, dir) == 0);
    /* without held-out prompts there is nothing to judge */
    CHECK(test_system(FIXTURE_ENV " %s grpo --init %s --prompts %s/tasks.jsonl --judge true --out %s/bad > /dev/null "
                      "2> %s/err.txt; test $? -eq 1 && grep -q -- '--judge needs --eval' %s/err.txt",
                      lmforge_bin(), sft, dir, dir, dir, dir) == 0);
    free(v);
    free(run);
    free(flags);
    free(judge);
    free(script);
    free(sft);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}
