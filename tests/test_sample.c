/* test_sample.c — `lmforge sample`: K answers per prompt as
 * {"prompt","responses":[...]} lines, the prompt written back as it was read;
 * deterministic for a seed whatever the batch size; and its output is what
 * `lmforge gold annotate` and `lmforge annotate` read. On the toy task of
 * test_ppo_util.h (a tiny SFT model naming fruits and tools). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

static int run_sample(const char *dir, const char *model, const char *prompts, const char *out, const char *flags) {
    return test_system(FIXTURE_ENV " %s sample '%s' '%s' --out '%s/%s' --max-new-tokens 6 %s > '%s/sample.log' 2>&1",
                       lmforge_bin(), model, prompts, dir, out, flags, dir);
}

static int same(const char *dir, const char *a, const char *b) {
    return test_system("cmp -s '%s/%s' '%s/%s'", dir, a, dir, b) == 0;
}

TEST_SLOW(sample_writes_k_answers_per_prompt_deterministically_for_a_seed) {
    char *dir = test_tmpdir("sample");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = ppo_test_write_prompts(dir);
    CHECK(run_sample(dir, sft, prompts, "a.jsonl", "--n 5 --seed 2") == 0);
    CHECK(run_sample(dir, sft, prompts, "b.jsonl", "--n 5 --seed 2 --batch-size 3") == 0);
    CHECK(run_sample(dir, sft, prompts, "c.jsonl", "--n 5 --seed 3") == 0);
    CHECK(run_sample(dir, sft, prompts, "greedy.jsonl", "--n 3 --temperature 0") == 0);
    CHECK_MSG(same(dir, "a.jsonl", "b.jsonl"), "the same seed with another batch size gives other answers");
    CHECK(!same(dir, "a.jsonl", "c.jsonl"));

    char *path = path_join(dir, "a.jsonl");
    int n, words = 0, distinct = 0;
    cJSON **lines = ppo_test_read_jsonl(path, &n);
    CHECK_EQ_INT(n, 2 * PPO_N_ASKS);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(cJSON_GetArraySize(lines[i]), 2); /* "prompt" and "responses", nothing else */
        const cJSON *prompt = cJSON_GetObjectItem(lines[i], "prompt");
        const cJSON *responses = cJSON_GetObjectItem(lines[i], "responses");
        if (i < PPO_N_ASKS) { /* a {"prompt": string} line is written back as that string */
            CHECK(cJSON_IsString(prompt) && strcmp(prompt->valuestring, PPO_ASKS[i]) == 0);
        } else { /* a {"messages"} line as its message list, the system message included */
            CHECK(cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 2);
            const cJSON *user = cJSON_GetArrayItem(prompt, 1);
            CHECK(strcmp(cJSON_GetObjectItem(user, "content")->valuestring, PPO_ASKS[i - PPO_N_ASKS]) == 0);
        }
        CHECK_EQ_INT(cJSON_GetArraySize(responses), 5);
        for (int k = 0; k < cJSON_GetArraySize(responses); k++) {
            const char *text = cJSON_GetArrayItem(responses, k)->valuestring;
            for (int w = 0; w < PPO_N_WORDS; w++)
                words += strcmp(text, PPO_FRUITS[w]) == 0 || strcmp(text, PPO_TOOLS[w]) == 0;
            distinct += k > 0 && strcmp(text, cJSON_GetArrayItem(responses, 0)->valuestring) != 0;
        }
    }
    /* the SFT model answers with its words, and sampling gives different ones */
    CHECK_MSG(words >= n * 5 * 3 / 4, "%d of %d answers are one of the 16 words", words, n * 5);
    CHECK(distinct > n);
    ppo_test_free_jsonl(lines, n);
    free(path);

    /* greedy decoding: K copies of one answer */
    path = path_join(dir, "greedy.jsonl");
    lines = ppo_test_read_jsonl(path, &n);
    for (int i = 0; i < n; i++) {
        const cJSON *responses = cJSON_GetObjectItem(lines[i], "responses");
        for (int k = 1; k < 3; k++)
            CHECK(strcmp(cJSON_GetArrayItem(responses, k)->valuestring,
                         cJSON_GetArrayItem(responses, 0)->valuestring) == 0);
    }
    ppo_test_free_jsonl(lines, n);
    free(path);

    /* errors */
    CHECK(test_system("%s sample '%s' '%s' 2>&1 | grep -q 'sample: --out FILE is required'", lmforge_bin(), sft,
                      prompts) == 0);
    CHECK(test_system("%s sample '%s' '%s' --out '%s/x.jsonl' --n 0 2>&1 | grep -q 'sample: --n must be at least 1'",
                      lmforge_bin(), sft, prompts, dir) == 0);
    CHECK(test_system("%s sample '%s' --out '%s/x.jsonl' 2>&1 | grep -q 'sample: expected MODEL PROMPTS.jsonl'",
                      lmforge_bin(), sft, dir) == 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(sft);
    free(prompts);
    free(dir);
}

/* 1 if every fruit of a ranked line comes before every other answer. */
static int fruits_first(const cJSON *responses, const cJSON *ranking) {
    int seen_other = 0, ok = cJSON_GetArraySize(ranking) == cJSON_GetArraySize(responses);
    for (int r = 0; ok && r < cJSON_GetArraySize(ranking); r++) {
        int fruit = ppo_test_is_fruit(cJSON_GetArrayItem(responses, cJSON_GetArrayItem(ranking, r)->valueint)->valuestring);
        if (fruit && seen_other) ok = 0;
        seen_other |= !fruit;
    }
    return ok;
}

TEST_SLOW(sample_output_feeds_gold_annotate_and_annotate) {
    char *dir = test_tmpdir("sample-annotate");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = ppo_test_write_prompts(dir), *tasks = ppo_test_write_tasks(dir);
    CHECK(run_sample(dir, sft, prompts, "samples.jsonl", "--n 4 --seed 5") == 0);

    /* the simulated annotator reads the lines as they are; without noise it ranks the fruits first */
    CHECK(test_system("%s gold annotate --tasks '%s' --noise 0 < '%s/samples.jsonl' > '%s/rankings.jsonl'", lmforge_bin(),
                      tasks, dir, dir) == 0);
    char *samples_path = path_join(dir, "samples.jsonl"), *rankings_path = path_join(dir, "rankings.jsonl");
    int n_samples, n_rankings;
    cJSON **samples = ppo_test_read_jsonl(samples_path, &n_samples);
    cJSON **rankings = ppo_test_read_jsonl(rankings_path, &n_rankings);
    CHECK_EQ_INT(n_rankings, n_samples);
    for (int i = 0; i < n_rankings && i < n_samples; i++)
        CHECK_MSG(fruits_first(cJSON_GetObjectItem(samples[i], "responses"), cJSON_GetObjectItem(rankings[i], "ranking")),
                  "line %d: the ranking does not put the fruits first", i + 1);

    /* lmforge annotate runs it as its annotator and writes best-against-worst pairs */
    CHECK(test_system("%s annotate '%s/samples.jsonl' --annotator \"%s gold annotate --tasks '%s' --noise 0\" "
                      "--out '%s/pairs.jsonl' > '%s/annotate.log' 2>&1",
                      lmforge_bin(), dir, lmforge_bin(), tasks, dir, dir) == 0);
    char *pairs_path = path_join(dir, "pairs.jsonl");
    int n_pairs, mixed = 0;
    cJSON **pairs = ppo_test_read_jsonl(pairs_path, &n_pairs);
    for (int i = 0; i < n_samples; i++) {
        const cJSON *responses = cJSON_GetObjectItem(samples[i], "responses");
        int fruits = 0;
        for (int k = 0; k < 4; k++) fruits += ppo_test_is_fruit(cJSON_GetArrayItem(responses, k)->valuestring);
        mixed += fruits > 0 && fruits < 4;
    }
    CHECK(mixed >= 2 && n_pairs >= mixed);
    int right = 0;
    for (int i = 0; i < n_pairs; i++) {
        const char *chosen = cJSON_GetObjectItem(pairs[i], "chosen")->valuestring;
        const char *rejected = cJSON_GetObjectItem(pairs[i], "rejected")->valuestring;
        right += ppo_test_is_fruit(chosen) && !ppo_test_is_fruit(rejected);
    }
    CHECK_MSG(right >= mixed, "%d pairs put a fruit above a non-fruit; %d prompts had both", right, mixed);
    ppo_test_free_jsonl(samples, n_samples);
    ppo_test_free_jsonl(rankings, n_rankings);
    ppo_test_free_jsonl(pairs, n_pairs);
    free(samples_path);
    free(rankings_path);
    free(pairs_path);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(sft);
    free(prompts);
    free(tasks);
    free(dir);
}

/* The length policy (README: "One length policy"): a prompt that leaves no
 * room for an answer is cut from its start with one warning naming the file,
 * in sample as in ppo and grpo, not refused; its answer still comes back. */
TEST_SLOW(sample_cuts_a_prompt_too_long_for_the_context_with_one_warning) {
    char *dir = test_tmpdir("sample-long");
    char *sft = ppo_test_write_sft(dir, "sft");
    char *prompts = path_join(dir, "long.jsonl");
    char long_prompt[400 * 6 + 1] = "apple"; /* 400 words: far more than the tiny model's context */
    for (int i = 1; i < 400; i++) strcat(long_prompt, " apple");
    char *text = xsprintf("{\"prompt\": \"%s\"}\n{\"prompt\": \"%s\"}\n", long_prompt, PPO_ASKS[0]);
    atomic_write(prompts, text, strlen(text));
    CHECK(run_sample(dir, sft, prompts, "out.jsonl", "--n 2") == 0);
    CHECK_MSG(test_system("grep -q 'long.jsonl: 1 of 2 prompts leave no room for an answer' '%s/sample.log'", dir) == 0,
              "no warning naming the file; see %s/sample.log", dir);
    char *path = path_join(dir, "out.jsonl");
    int n;
    cJSON **lines = ppo_test_read_jsonl(path, &n);
    CHECK_EQ_INT(n, 2);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lines[i], "responses")), 2);
    ppo_test_free_jsonl(lines, n);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(path);
    free(text);
    free(prompts);
    free(sft);
    free(dir);
}
