/* test_prompt_selection.c — the commands that read prompts can be
 * shortened and show their progress: `sample`, `rs`, `generate` and
 * `annotate` take --limit N (the first N) and --shuffle (N at random, by
 * --seed), and sample and rs print a progress line counting the samples.
 * And `annotate --rankings` writes the K-way rankings that `rm` trains on.
 * On the toy task of test_ppo_util.h (a tiny SFT model naming fruits and
 * tools; the gold annotator ranks fruits first). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

/* Runs lmforge with the arguments; its output goes to DIR/log. */
static int run(const char *dir, const char *args) {
    return test_system(FIXTURE_ENV " %s %s > '%s/log' 2>&1", lmforge_bin(), args, dir);
}

static int log_has(const char *dir, const char *text) {
    return test_system("grep -qF -- '%s' '%s/log'", text, dir) == 0;
}

/* The prompt of each line of DIR/NAME, as compact JSON (malloc'ed, *n of them). */
static char **prompts_of(const char *dir, const char *name, int *n) {
    char *path = path_join(dir, name);
    cJSON **lines = ppo_test_read_jsonl(path, n);
    char **out = xcalloc((size_t)*n + 1, sizeof(char *));
    for (int i = 0; i < *n; i++) out[i] = cJSON_PrintUnformatted(cJSON_GetObjectItem(lines[i], "prompt"));
    ppo_test_free_jsonl(lines, *n);
    free(path);
    return out;
}

static void free_strings(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

TEST_SLOW(sample_rs_generate_take_limit_and_shuffle_and_show_progress) {
    char *dir = test_tmpdir("select");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = ppo_test_write_prompts(dir);
    char *rm = ppo_test_write_reward_model(dir, "rm");
    const char *common = "--n 4 --seed 2 --max-new-tokens 6";

    char *args = xsprintf("sample %s %s --out %s/all.jsonl %s", sft, prompts, dir, common);
    CHECK(run(dir, args) == 0);
    free(args);
    /* the progress line counts the samples: the first one printed, and the last */
    CHECK_MSG(log_has(dir, "sample 0/32") && log_has(dir, "sample 32/32 |"), "sample printed no progress line");
    args = xsprintf("sample %s %s --out %s/first.jsonl %s --limit 3", sft, prompts, dir, common);
    CHECK(run(dir, args) == 0);
    free(args);
    CHECK(log_has(dir, "sample 12/12 |"));
    args = xsprintf("sample %s %s --out %s/random.jsonl %s --limit 3 --shuffle", sft, prompts, dir, common);
    CHECK(run(dir, args) == 0);
    free(args);
    args = xsprintf("sample %s %s --out %s/random2.jsonl %s --limit 3 --shuffle", sft, prompts, dir, common);
    CHECK(run(dir, args) == 0);
    free(args);
    CHECK_MSG(test_system("cmp -s %s/random.jsonl %s/random2.jsonl", dir, dir) == 0, "--shuffle is not the same for a seed");

    int n_all, n_first, n_random;
    char **all = prompts_of(dir, "all.jsonl", &n_all), **first = prompts_of(dir, "first.jsonl", &n_first);
    char **random = prompts_of(dir, "random.jsonl", &n_random);
    CHECK_EQ_INT(n_all, 2 * PPO_N_ASKS);
    CHECK_EQ_INT(n_first, 3);
    CHECK_EQ_INT(n_random, 3);
    int in_order = 1;
    for (int i = 0; i < n_first && i < n_all; i++) CHECK(strcmp(first[i], all[i]) == 0);
    for (int i = 0; i < n_random && i < n_all; i++) {
        int found = 0;
        for (int j = 0; j < n_all; j++) found |= strcmp(random[i], all[j]) == 0;
        CHECK_MSG(found, "--shuffle gave a prompt that is not in the file: %s", random[i]);
        in_order &= strcmp(random[i], all[i]) == 0;
    }
    CHECK_MSG(!in_order, "--shuffle took the first prompts in order");
    free_strings(all, n_all);
    free_strings(first, n_first);
    free_strings(random, n_random);

    /* rs: the same flags; every output file holds the selected prompts */
    args = xsprintf("rs %s %s %s --out %s/rs %s --limit 2", sft, rm, prompts, dir, common);
    CHECK(run(dir, args) == 0);
    free(args);
    CHECK_MSG(log_has(dir, "sample 8/8 |"), "rs printed no progress line");
    int n_rs;
    char **rs = prompts_of(dir, "rs/samples.jsonl", &n_rs);
    CHECK_EQ_INT(n_rs, 2);
    free_strings(rs, n_rs);

    /* generate with a prompts file */
    args = xsprintf("generate %s --prompts %s --format jsonl --out %s/gen.jsonl --max-new-tokens 4 --limit 2 --shuffle",
                    sft, prompts, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    int n_gen;
    char **gen = prompts_of(dir, "gen.jsonl", &n_gen);
    CHECK_EQ_INT(n_gen, 2);
    free_strings(gen, n_gen);

    args = xsprintf("sample %s %s --out %s/x.jsonl --limit -1", sft, prompts, dir);
    CHECK(run(dir, args) == 1 && log_has(dir, "--limit must be 0 (all) or positive"));
    free(args);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(sft);
    free(prompts);
    free(rm);
    free(dir);
}

TEST_SLOW(annotate_writes_rankings_that_rm_trains_on) {
    char *dir = test_tmpdir("annotate-rankings");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = ppo_test_write_prompts(dir), *tasks = ppo_test_write_tasks(dir);
    char *args = xsprintf("sample %s %s --out %s/samples.jsonl --n 4 --seed 5 --max-new-tokens 6", sft, prompts, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    /* a line with an empty answer and two equal ones: each text is ranked once, the empty one left out */
    char *samples = path_join(dir, "samples.jsonl");
    FILE *f = xfopen(samples, "a");
    fprintf(f, "{\"prompt\": \"Name a fruit.\", \"responses\": [\"hammer\", \"\", \"pear\", \"hammer\"]}\n");
    fclose(f);
    char *annotator = xsprintf("\"%s gold annotate --tasks '%s' --noise 0\"", lmforge_bin(), tasks);
    args = xsprintf("annotate %s --annotator %s --rankings %s/rankings.jsonl --out %s/pairs.jsonl", samples, annotator,
                    dir, dir);
    CHECK(run(dir, args) == 0);
    free(args);

    char *path = path_join(dir, "rankings.jsonl");
    int n, fruits_first = 0, mixed = 0;
    cJSON **lines = ppo_test_read_jsonl(path, &n);
    CHECK_MSG(n >= 2 * PPO_N_ASKS - 2, "%d rankings for %d sample lines", n, 2 * PPO_N_ASKS + 1);
    for (int i = 0; i < n; i++) {
        const cJSON *responses = cJSON_GetObjectItem(lines[i], "responses"), *ranking = cJSON_GetObjectItem(lines[i], "ranking");
        CHECK(cJSON_GetObjectItem(lines[i], "prompt") != NULL);
        int k = cJSON_GetArraySize(responses), seen_other = 0, ok = 1, fruits = 0;
        CHECK_EQ_INT(cJSON_GetArraySize(ranking), k);
        CHECK(k >= 2);
        int *used = xcalloc((size_t)k, sizeof(int));
        for (int r = 0; r < cJSON_GetArraySize(ranking); r++) {
            int at = cJSON_GetArrayItem(ranking, r)->valueint;
            CHECK(at >= 0 && at < k && !used[at]);
            if (at < 0 || at >= k) continue;
            used[at] = 1;
            const char *text = cJSON_GetArrayItem(responses, at)->valuestring;
            CHECK_MSG(*text, "an empty answer was ranked");
            for (int j = 0; j < at; j++) CHECK(strcmp(text, cJSON_GetArrayItem(responses, j)->valuestring) != 0);
            int fruit = ppo_test_is_fruit(text);
            fruits += fruit;
            if (fruit && seen_other) ok = 0;
            seen_other |= !fruit;
        }
        free(used);
        fruits_first += ok;
        mixed += fruits > 0 && fruits < k;
    }
    CHECK_MSG(fruits_first == n, "%d of %d rankings put the fruits first", fruits_first, n);
    CHECK(mixed >= 2);
    /* the added line: "pear" over "hammer", the empty answer and the second "hammer" gone */
    const cJSON *last = n ? lines[n - 1] : NULL;
    CHECK(last && cJSON_GetArraySize(cJSON_GetObjectItem(last, "responses")) == 2);
    ppo_test_free_jsonl(lines, n);
    CHECK(log_has(dir, "rankings written to"));

    /* rm trains on them, with no warning about identical or empty answers */
    args = xsprintf("rm --init %s --data %s --steps 2 --batch 4 --out %s/rm", sft, path, dir);
    CHECK(run(dir, args) == 0);
    CHECK_MSG(!log_has(dir, "warning"), "rm warned about the rankings");
    free(args);

    /* --limit: only the first lines are annotated; --rankings alone writes no pairs */
    args = xsprintf("annotate %s --annotator %s --rankings %s/two.jsonl --limit 2", samples, annotator, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    free(path);
    path = path_join(dir, "two.jsonl");
    lines = ppo_test_read_jsonl(path, &n);
    CHECK(n <= 2 && n >= 1);
    ppo_test_free_jsonl(lines, n);
    args = xsprintf("annotate %s --annotator %s", samples, annotator);
    CHECK(run(dir, args) == 1 && log_has(dir, "--out FILE (pairs) or --rankings FILE is required"));
    free(args);

    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(annotator);
    free(path);
    free(samples);
    free(sft);
    free(prompts);
    free(tasks);
    free(dir);
}
