/* test_kill_resume.c — every training stage, killed with SIGKILL at random
 * moments while it saves a checkpoint after every step, resumes with
 * --resume to the same final weights as a run that was never interrupted:
 * sft (full and LoRA), rm, dpo, ppo and grpo, on the toy task of
 * test_ppo_util.h. (pretrain has its own, in test_pretrain.c.) */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/train/run_dir.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

/* The fruit data: chats answered with a fruit, pairs where a fruit beats a tool, tasks whose answer is "pear". */
static void write_fruit_files(const char *dir) {
    char *paths[3] = {path_join(dir, "chats.jsonl"), path_join(dir, "pairs.jsonl"), path_join(dir, "tasks.jsonl")};
    FILE *chats = fopen(paths[0], "w"), *pairs = fopen(paths[1], "w"), *tasks = fopen(paths[2], "w");
    for (int i = 0; i < 24; i++) {
        const char *ask = PPO_ASKS[i % PPO_N_ASKS];
        fprintf(chats, "{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}, {\"role\": \"assistant\", "
                       "\"content\": \"%s\"}]}\n", ask, PPO_FRUITS[i % PPO_N_WORDS]);
        fprintf(pairs, "{\"prompt\": \"%s\", \"chosen\": \"%s\", \"rejected\": \"%s\"}\n", ask, PPO_FRUITS[i % 8],
                PPO_TOOLS[(i * 3) % 8]);
        fprintf(tasks, "{\"prompt\": \"%s\", \"answer\": \"pear\"}\n", ask);
    }
    fclose(chats);
    fclose(pairs);
    fclose(tasks);
    for (int i = 0; i < 3; i++) free(paths[i]);
}

static pid_t start(const char *cmd) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL); /* exec: the pid becomes lmforge's */
        _exit(127);
    }
    return pid;
}

static void sleep_seconds(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Runs `lmforge ARGS --out DIR/NAME` (ARGS holding the flags of a run that saves every step) once through, then
 * again killed at random moments and resumed until it ends; the final weights (file `weights` in model/) must be the
 * same bytes. */
static void check_kill_resume(const char *dir, const char *name, const char *args, const char *weights) {
    char *ref = xsprintf("%s/%s-ref", dir, name), *run = xsprintf("%s/%s", dir, name);
    char *log = xsprintf("%s/%s.log", dir, name);
    CHECK_MSG(test_system(FIXTURE_ENV " %s %s --out %s > %s 2>&1", lmforge_bin(), args, ref, log) == 0,
              "%s: the uninterrupted run failed; see %s", name, log);
    Rng r;
    rng_seed(&r, 5);
    int kills = 0, finished = 0;
    for (int round = 0; round < 6 && !finished; round++) {
        long before = newest_checkpoint(run, "trainer_state.json");
        char *cmd = xsprintf(FIXTURE_ENV " exec %s %s --out %s %s >> %s 2>&1", lmforge_bin(), args, run,
                             before >= 0 ? "--resume" : "", log);
        pid_t pid = start(cmd);
        free(cmd);
        int status;
        double deadline = INFINITY;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (isinf(deadline) && newest_checkpoint(run, "trainer_state.json") > before)
                deadline = now_seconds() + 0.030 * rng_uniform(&r);
            if (now_seconds() >= deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            sleep_seconds(0.0002);
        }
        if (!WIFSIGNALED(status)) {
            CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: round %d failed; see %s", name, round, log);
            finished = 1;
        } else {
            kills++;
        }
    }
    CHECK_MSG(kills >= 2, "%s: only %d kills before the run ended", name, kills);
    if (!finished)
        CHECK_MSG(test_system(FIXTURE_ENV " %s %s --out %s --resume >> %s 2>&1", lmforge_bin(), args, run, log) == 0,
                  "%s: the last --resume failed; see %s", name, log);
    CHECK_MSG(test_system("cmp -s %s/model/%s %s/model/%s", ref, weights, run, weights) == 0,
              "%s: killed %d times and resumed, it ends with other weights than the uninterrupted run", name, kills);
    free(ref);
    free(run);
    free(log);
}

TEST_SLOW(every_training_stage_killed_at_random_resumes_to_the_same_weights) {
    char *dir = test_tmpdir("kill");
    char *sft = ppo_test_write_sft(dir, "sft"), *rm = ppo_test_write_reward_model(dir, "rm");
    char *prompts = ppo_test_write_prompts(dir);
    write_fruit_files(dir);
    char *args = xsprintf("sft --init %s --data %s/chats.jsonl --steps 16 --epochs 20 --batch 4 --save-every 1 --eval-every 0 "
                          "--eval-prompts 0", sft, dir);
    check_kill_resume(dir, "sft", args, "model.safetensors");
    free(args);
    args = xsprintf("sft --init %s --data %s/chats.jsonl --steps 16 --epochs 20 --batch 4 --save-every 1 --eval-every 0 "
                    "--eval-prompts 0 --lora", sft, dir);
    check_kill_resume(dir, "sft-lora", args, "adapter_model.safetensors");
    free(args);
    args = xsprintf("rm --init %s --data %s/pairs.jsonl --steps 16 --epochs 20 --batch 4 --save-every 1", sft, dir);
    check_kill_resume(dir, "rm", args, "model.safetensors");
    free(args);
    args = xsprintf("dpo --init %s --data %s/pairs.jsonl --steps 16 --epochs 20 --batch 4 --save-every 1", sft, dir);
    check_kill_resume(dir, "dpo", args, "model.safetensors");
    free(args);
    args = xsprintf("ppo --policy %s --reward %s --prompts %s --iterations 10 --rollout-prompts 8 --minibatch 4 "
                    "--max-new-tokens 6 --lr 1e-3 --save-every 1", sft, rm, prompts);
    check_kill_resume(dir, "ppo", args, "model.safetensors");
    free(args);
    args = xsprintf("grpo --init %s --prompts %s/tasks.jsonl --reward exact --steps 12 --prompts-per-step 4 "
                    "--max-new-tokens 6 --lr 3e-3 --save-every 1 --eval-every 0", sft, dir);
    check_kill_resume(dir, "grpo", args, "model.safetensors");
    free(args);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(sft);
    free(rm);
    free(prompts);
    free(dir);
}
