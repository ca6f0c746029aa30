/* test_rs.c — rejection sampling (`lmforge rs`): the best of K answers by
 * the reward model becomes SFT data, the best and the worst a preference
 * pair; deterministic for a seed, ties to the earlier answer, --min-gap
 * drops and counts close pairs, and the scores are the reward model's own
 * (as `lmforge rm score` gives them). On the toy task of test_ppo_util.h,
 * where the reward model prefers fruits. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "../src/stages/stages.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"
#include "test_rm_util.h"

TEST(rs_pick_takes_the_best_or_worst_and_ties_go_to_the_earlier_answer) {
    const float scores[] = {1.0f, 3.0f, -2.0f, 3.0f, -2.0f, 0.5f};
    CHECK_EQ_INT(rs_pick(scores, 6, 1), 1);
    CHECK_EQ_INT(rs_pick(scores, 6, 0), 2);
    CHECK_EQ_INT(rs_pick(scores + 3, 3, 1), 0);
    CHECK_EQ_INT(rs_pick(scores + 3, 3, 0), 1);
    const float equal[] = {0.25f, 0.25f, 0.25f};
    CHECK_EQ_INT(rs_pick(equal, 3, 1), 0);
    CHECK_EQ_INT(rs_pick(equal, 3, 0), 0);
    CHECK_EQ_INT(rs_pick(scores, 1, 1), 0);
}

/* Runs lmforge rs into DIR/OUT; returns its exit status (stderr in DIR/OUT.log). */
static int run_rs(const char *dir, const char *model, const char *rm, const char *prompts, const char *out,
                  const char *flags) {
    return test_system(FIXTURE_ENV " %s rs '%s' '%s' '%s' --out '%s/%s' --max-new-tokens 6 %s > '%s/%s.log' 2>&1",
                       lmforge_bin(), model, rm, prompts, dir, out, flags, dir, out);
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The first index of the largest (best) or smallest score of a "scores" array. */
static int first_extreme(const cJSON *scores, int best) {
    int k = cJSON_GetArraySize(scores), pick = 0;
    for (int i = 1; i < k; i++) {
        double a = cJSON_GetArrayItem(scores, i)->valuedouble, b = cJSON_GetArrayItem(scores, pick)->valuedouble;
        if (best ? a > b : a < b) pick = i;
    }
    return pick;
}

static int files_equal(const char *dir, const char *a, const char *b, const char *name) {
    return test_system("cmp -s '%s/%s/%s' '%s/%s/%s'", dir, a, name, dir, b, name) == 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST_SLOW(rs_picks_the_highest_scored_answer_deterministically_for_a_seed) {
    char *dir = test_tmpdir("rs");
    char *sft = ppo_test_write_sft(dir, "sft"), *rm = ppo_test_write_reward_model(dir, "rm");
    char *prompts = ppo_test_write_prompts(dir);
    CHECK(run_rs(dir, sft, rm, prompts, "a", "--n 6 --seed 3") == 0);
    CHECK(run_rs(dir, sft, rm, prompts, "b", "--n 6 --seed 3 --batch-size 5") == 0);
    CHECK(run_rs(dir, sft, rm, prompts, "c", "--n 6 --seed 4") == 0);
    for (const char *f = "sft.jsonl\0pairs.jsonl\0samples.jsonl\0"; *f; f += strlen(f) + 1)
        CHECK_MSG(files_equal(dir, "a", "b", f), "%s differs between two runs with the same seed", f);
    CHECK(!files_equal(dir, "a", "c", "samples.jsonl"));

    char *p_samples = path_join(dir, "a/samples.jsonl"), *p_sft = path_join(dir, "a/sft.jsonl"),
         *p_pairs = path_join(dir, "a/pairs.jsonl");
    int n_samples, n_sft, n_pairs;
    cJSON **samples = ppo_test_read_jsonl(p_samples, &n_samples), **sft_lines = ppo_test_read_jsonl(p_sft, &n_sft),
          **pairs = ppo_test_read_jsonl(p_pairs, &n_pairs);
    CHECK_EQ_INT(n_samples, 2 * PPO_N_ASKS);
    CHECK_EQ_INT(n_sft, n_samples);
    int pair = 0, with_fruit = 0, best_fruits = 0, identical = 0;
    double gaps[2 * PPO_N_ASKS];
    int n_gaps = 0;
    for (int i = 0; i < n_samples && i < n_sft; i++) {
        const cJSON *line = samples[i], *responses = cJSON_GetObjectItem(line, "responses"),
                    *scores = cJSON_GetObjectItem(line, "scores");
        CHECK_EQ_INT(cJSON_GetArraySize(responses), 6);
        CHECK_EQ_INT(cJSON_GetArraySize(scores), 6);
        int best = first_extreme(scores, 1), worst = first_extreme(scores, 0), fruits = 0;
        const char *best_text = cJSON_GetArrayItem(responses, best)->valuestring;
        const char *worst_text = cJSON_GetArrayItem(responses, worst)->valuestring;
        for (int k = 0; k < 6; k++) fruits += ppo_test_is_fruit(cJSON_GetArrayItem(responses, k)->valuestring);

        /* the SFT example: the prompt's messages, then the best answer, with its score */
        const cJSON *messages = cJSON_GetObjectItem(sft_lines[i], "messages");
        int n_msgs = cJSON_GetArraySize(messages);
        CHECK_EQ_INT(n_msgs, i < PPO_N_ASKS ? 2 : 3); /* {"prompt"} lines, then {"messages"} with a system message */
        const cJSON *last = cJSON_GetArrayItem(messages, n_msgs - 1), *user = cJSON_GetArrayItem(messages, n_msgs - 2);
        CHECK(strcmp(str(last, "role"), "assistant") == 0 && strcmp(str(last, "content"), best_text) == 0);
        CHECK(strcmp(str(user, "role"), "user") == 0 && strcmp(str(user, "content"), PPO_ASKS[i % PPO_N_ASKS]) == 0);
        CHECK(num(sft_lines[i], "score") == cJSON_GetArrayItem(scores, best)->valuedouble);
        with_fruit += fruits > 0;
        best_fruits += fruits > 0 && ppo_test_is_fruit(best_text);

        /* the pair: best against worst, unless they are the same text */
        if (strcmp(best_text, worst_text) == 0) {
            identical++;
            continue;
        }
        gaps[n_gaps++] = cJSON_GetArrayItem(scores, best)->valuedouble - cJSON_GetArrayItem(scores, worst)->valuedouble;
        if (pair < n_pairs) {
            const cJSON *p = pairs[pair++];
            CHECK(cJSON_Compare(cJSON_GetObjectItem(p, "prompt"), cJSON_GetObjectItem(line, "prompt"), 1));
            CHECK(strcmp(str(p, "chosen"), best_text) == 0 && strcmp(str(p, "rejected"), worst_text) == 0);
            CHECK(num(p, "chosen_score") == cJSON_GetArrayItem(scores, best)->valuedouble);
            CHECK(num(p, "rejected_score") == cJSON_GetArrayItem(scores, worst)->valuedouble);
        }
    }
    CHECK_EQ_INT(n_pairs, n_samples - identical);
    /* the reward model's rule shows: where a fruit was sampled, it wins (but a misspelt word can fool it once) */
    CHECK_MSG(with_fruit >= n_samples / 2 && best_fruits >= with_fruit - 1,
              "a fruit is the best answer for %d of the %d prompts with one", best_fruits, with_fruit);

    /* the scores are the reward model's, for the prompt rendered with each answer */
    CHECK(test_system(FIXTURE_ENV " %s rm score '%s' '%s' --batch 3 --out '%s/rescored.jsonl' > /dev/null 2>&1",
                      lmforge_bin(), rm, p_samples, dir) == 0);
    char *p_rescored = path_join(dir, "rescored.jsonl");
    int n_rescored;
    cJSON **rescored = ppo_test_read_jsonl(p_rescored, &n_rescored);
    CHECK_EQ_INT(n_rescored, n_samples);
    double worst_diff = 0;
    for (int i = 0; i < n_rescored && i < n_samples; i++) {
        const cJSON *again = cJSON_GetObjectItem(rescored[i], "scores"), *first = cJSON_GetObjectItem(samples[i], "scores");
        for (int k = 0; k < 6; k++)
            worst_diff = fmax(worst_diff, fabs(cJSON_GetArrayItem(again, k)->valuedouble -
                                               cJSON_GetArrayItem(first, k)->valuedouble));
    }
    CHECK_MSG(worst_diff < 1e-4, "rs and rm score differ by %g", worst_diff);

    /* --min-gap between two of the gaps: the pairs below it are dropped and counted */
    qsort(gaps, (size_t)n_gaps, sizeof(double), compare_doubles);
    CHECK(n_gaps >= 4 && gaps[n_gaps / 2] > gaps[n_gaps / 2 - 1]);
    double min_gap = (gaps[n_gaps / 2] + gaps[n_gaps / 2 - 1]) / 2;
    int kept = n_gaps - n_gaps / 2;
    char *flags = xsprintf("--n 6 --seed 3 --min-gap %.9g", min_gap);
    CHECK(run_rs(dir, sft, rm, prompts, "gap", flags) == 0);
    char *p_gap = path_join(dir, "gap/pairs.jsonl");
    int n_kept;
    ppo_test_free_jsonl(ppo_test_read_jsonl(p_gap, &n_kept), n_kept);
    CHECK_EQ_INT(n_kept, kept);
    char *expected = xsprintf("%d pairs in %s/gap/pairs.jsonl (%d dropped below --min-gap", kept, dir, n_gaps / 2);
    char *log_path = path_join(dir, "gap.log"), *log = read_file(log_path, NULL);
    CHECK_MSG(strstr(log, expected), "expected \"%s\" in:\n%s", expected, log);
    CHECK(files_equal(dir, "a", "gap", "sft.jsonl")); /* the SFT data does not depend on the gap */

    free(log);
    free(log_path);
    free(expected);
    free(p_gap);
    free(flags);
    ppo_test_free_jsonl(rescored, n_rescored);
    ppo_test_free_jsonl(samples, n_samples);
    ppo_test_free_jsonl(sft_lines, n_sft);
    ppo_test_free_jsonl(pairs, n_pairs);
    free(p_rescored);
    free(p_samples);
    free(p_sft);
    free(p_pairs);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(prompts);
    free(sft);
    free(rm);
    free(dir);
}

TEST_SLOW(rs_bad_models_and_options_die_with_clear_errors) {
    char *dir = test_tmpdir("rs-bad");
    char *sft = ppo_test_write_sft(dir, "sft"), *rm = ppo_test_write_reward_model(dir, "rm");
    char *prompts = ppo_test_write_prompts(dir), *other_rm = path_join(dir, "other_rm");
    char *empty = path_join(dir, "empty.jsonl");
    Model *other = rm_test_model(HEAD_SCORE, 1);
    model_dir_save(other_rm, other, rm_test_tokenizer(), 0, 1);
    model_free(other);
    write_bytes(empty, "", 0);
    struct {
        const char *model, *rm, *prompts, *flags, *expected;
    } cases[] = {
        {sft, other_rm, prompts, "--n 4", "uses another tokenizer than"},
        {sft, sft, prompts, "--n 4", "is not a reward model (it has no score head)"},
        {rm, rm, prompts, "--n 4", "is not a language model with a tokenizer"},
        {sft, rm, empty, "--n 4", "empty.jsonl: no prompts"},
        {sft, rm, prompts, "--n 1", "--n must be at least 2"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        int rc = run_rs(dir, cases[i].model, cases[i].rm, cases[i].prompts, "out", cases[i].flags);
        char *log_path = path_join(dir, "out.log"), *log = read_file(log_path, NULL);
        CHECK_MSG(rc == 1 && strstr(log, cases[i].expected), "case %zu: exit %d, stderr: %s", i, rc, log);
        free(log);
        free(log_path);
    }
    CHECK(test_system("%s rs '%s' '%s' '%s' 2>&1 | grep -q 'rs: --out DIR is required'", lmforge_bin(), sft, rm,
                      prompts) == 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(sft);
    free(rm);
    free(prompts);
    free(other_rm);
    free(empty);
    free(dir);
}
