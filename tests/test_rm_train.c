/* test_rm_train.c — the reward-model stage end to end, through the command
 * line: a preference set with a known rule (quiz answers that are right or
 * wrong), training from a language model, held-out accuracy far above
 * chance, the checkpoint's layout and reward statistics, scoring, evaluation,
 * continued training, and errors. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/metrics.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "test.h"
#include "test_rm_util.h"

static const char *const COUNTRIES[] = {"France",  "Spain",  "Italy", "Kenya",  "Peru",   "Chile",  "Egypt",
                                        "Japan",   "China",  "India", "Norway", "Sweden", "Poland", "Greece",
                                        "Ireland", "Canada", "Cuba",  "Iran",   "Brazil", "Nepal"};
static const char *const CAPITALS[] = {"Paris",  "Madrid",  "Rome",   "Nairobi", "Lima",      "Santiago", "Cairo",
                                       "Tokyo",  "Beijing", "Delhi",  "Oslo",    "Stockholm", "Warsaw",   "Athens",
                                       "Dublin", "Ottawa",  "Havana", "Tehran",  "Brasilia",  "Kathmandu"};
enum { N_COUNTRIES = 20, N_HELDOUT = 80 };

/* Every (country, wrong capital) pair, shuffled: the first N_HELDOUT are held
 * out, the rest train. Also a K = 4 ranking per country (right answer first,
 * three wrong ones tied) from training pairs only, and the held-out pairs as
 * records to score. */
static void write_quiz(const char *dir) {
    int pairs[N_COUNTRIES * N_COUNTRIES][2], n = 0;
    for (int i = 0; i < N_COUNTRIES; i++)
        for (int j = 0; j < N_COUNTRIES; j++)
            if (i != j) pairs[n][0] = i, pairs[n][1] = j, n++;
    Rng r;
    rng_seed(&r, 2024);
    for (int k = n - 1; k > 0; k--) {
        int o = (int)rng_below(&r, (uint64_t)k + 1), a = pairs[k][0], b = pairs[k][1];
        pairs[k][0] = pairs[o][0], pairs[k][1] = pairs[o][1];
        pairs[o][0] = a, pairs[o][1] = b;
    }
    char *names[4] = {path_join(dir, "held.jsonl"), path_join(dir, "train.jsonl"), path_join(dir, "rank.jsonl"),
                      path_join(dir, "to_score.jsonl")};
    FILE *held = xfopen(names[0], "w"), *train = xfopen(names[1], "w"), *rank = xfopen(names[2], "w"),
         *to_score = xfopen(names[3], "w");
    int wrong[N_COUNTRIES][3], n_wrong[N_COUNTRIES] = {0};
    for (int k = 0; k < n; k++) {
        int c = pairs[k][0], w = pairs[k][1];
        FILE *f = k < N_HELDOUT ? held : train;
        fprintf(f, "{\"prompt\": \"What is the capital of %s?\", \"chosen\": \"%s\", \"rejected\": \"%s\"}\n",
                COUNTRIES[c], CAPITALS[c], CAPITALS[w]);
        if (k < N_HELDOUT)
            fprintf(to_score, "{\"prompt\": \"What is the capital of %s?\", \"responses\": [\"%s\", \"%s\"]}\n",
                    COUNTRIES[c], CAPITALS[c], CAPITALS[w]);
        else if (n_wrong[c] < 3)
            wrong[c][n_wrong[c]++] = w;
    }
    for (int c = 0; c < N_COUNTRIES; c++)
        fprintf(rank,
                "{\"prompt\": \"What is the capital of %s?\", \"responses\": [\"%s\", \"%s\", \"%s\", \"%s\"], "
                "\"ranking\": [2, [0, 1, 3]]}\n",
                COUNTRIES[c], CAPITALS[wrong[c][0]], CAPITALS[wrong[c][1]], CAPITALS[c], CAPITALS[wrong[c][2]]);
    fprintf(to_score, "{\"messages\": [{\"role\": \"user\", \"content\": \"What is the capital of Peru?\"}, "
                      "{\"role\": \"assistant\", \"content\": \"Lima\"}]}\n");
    fclose(held);
    fclose(train);
    fclose(rank);
    fclose(to_score);
    for (int i = 0; i < 4; i++) free(names[i]);
}

/* A random language model with the test tokenizer: the "SFT model" the reward model starts from. */
static void write_language_model(const char *dir) {
    ModelConfig c = config_default(tokenizer_vocab_size(rm_test_tokenizer()), 64, 2, 4);
    c.max_seq_len = 64;
    Model *m = model_new(&c);
    model_init_random(m, 11);
    model_dir_save(dir, m, rm_test_tokenizer(), 0, 1);
    model_free(m);
}

static double last_value(const char *run_dir, const char *key) {
    char *path = path_join(run_dir, "metrics.jsonl");
    double *steps, *values, v = NAN;
    int n = metrics_read_series(path, key, &steps, &values);
    if (n > 0) v = values[n - 1];
    free(steps);
    free(values);
    free(path);
    return v;
}

/* The share of lines whose first score is above the second. */
static double share_first_higher(const char *path, double *mean_first) {
    char *text = read_file(path, NULL);
    int lines = 0, higher = 0;
    double sum = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *scores = cJSON_GetObjectItem(j, "scores");
        if (cJSON_GetArraySize(scores) == 2) {
            double a = cJSON_GetArrayItem(scores, 0)->valuedouble, b = cJSON_GetArrayItem(scores, 1)->valuedouble;
            higher += a > b;
            sum += a;
            lines++;
        }
        cJSON_Delete(j);
    }
    free(text);
    *mean_first = sum / lines;
    return (double)higher / lines;
}

TEST_SLOW(rm_learns_a_known_rule_end_to_end) {
    char *dir = test_tmpdir("rmtrain");
    write_quiz(dir);
    char *sft = path_join(dir, "sft"), *run = path_join(dir, "run");
    write_language_model(sft);
    char *bin = realpath(lmforge_bin(), NULL); /* the commands run in dir */
    if (!bin) SKIP("the lmforge binary is not built");
    /* a model this small trains fastest on one thread */
    int rc = test_system("cd '%s' && OMP_NUM_THREADS=1 %s rm --init sft --out run --eval held.jsonl --batch 16 "
                         "--epochs 10 --lr 1e-2 --eval-every 0 --data train.jsonl --data rank.jsonl > train.log 2>&1",
                         dir, bin);
    CHECK_MSG(rc == 0, "lmforge rm failed (%d); see %s/train.log", rc, dir);
    double accuracy = last_value(run, "eval/accuracy"), margin = last_value(run, "eval/margin");
    CHECK_MSG(accuracy >= 0.8, "held-out pairwise accuracy %.3f (chance: 0.5)", accuracy);
    CHECK(margin > 0.5);

    /* the checkpoint: LlamaForSequenceClassification with score.weight and the reward statistics */
    char *model_dir = path_join(run, "model"), *config_path = path_join(model_dir, "config.json");
    cJSON *config = json_read_file(config_path);
    const cJSON *arch = cJSON_GetArrayItem(json_get_array(config, "architectures", config_path), 0);
    CHECK(cJSON_IsString(arch) && strcmp(arch->valuestring, "LlamaForSequenceClassification") == 0);
    CHECK_EQ_INT(json_get_int(config, "num_labels", config_path), 1);
    cJSON_Delete(config);
    ModelDir ck = model_dir_load(model_dir);
    CHECK(ck.model->cfg.head == HEAD_SCORE && model_find_tensor(ck.model, "score.weight") != NULL);
    CHECK(model_find_tensor(ck.model, "lm_head.weight") == NULL);
    CHECK_MSG(ck.reward_std > 0.1 && isfinite(ck.reward_mean), "reward mean %g, std %g", ck.reward_mean, ck.reward_std);
    double reward_mean = ck.reward_mean, reward_std = ck.reward_std;
    model_dir_free(&ck);

    /* resumed from its final checkpoint, the run writes the same model and reward statistics, and reports its
     * held-out figures (they were nan, and the statistics differed, when scoring batched by buffer size) */
    CHECK(test_system("cd '%s' && cp run/model/config.json config.before "
                      "&& cp run/model/model.safetensors weights.before && OMP_NUM_THREADS=1 %s rm --init sft --out run "
                      "--eval held.jsonl --batch 16 --epochs 10 --lr 1e-2 --eval-every 0 --data train.jsonl "
                      "--data rank.jsonl --resume > resume.log 2>&1 && cmp -s config.before run/model/config.json && "
                      "cmp -s weights.before run/model/model.safetensors && grep -q 'held-out pairwise accuracy [01]\\.' "
                      "resume.log && ! grep -q nan resume.log",
                      dir, bin) == 0);

    /* rm score and rm eval agree with the training run's evaluation */
    CHECK(test_system("cd '%s' && OMP_NUM_THREADS=1 %s rm score run/model to_score.jsonl --out raw.jsonl "
                      "> score.log 2>&1 && OMP_NUM_THREADS=1 %s rm score run/model to_score.jsonl --normalize "
                      "--batch 7 > normalized.jsonl 2>> score.log",
                      dir, bin, bin) == 0);
    char *raw_path = path_join(dir, "raw.jsonl"), *norm_path = path_join(dir, "normalized.jsonl");
    double raw_mean, norm_mean;
    double raw_share = share_first_higher(raw_path, &raw_mean), norm_share = share_first_higher(norm_path, &norm_mean);
    CHECK_NEAR(raw_share, accuracy, 1.0 / N_HELDOUT); /* an exact tie counts 1/2 in the accuracy */
    CHECK_NEAR(norm_share, raw_share, 0);
    CHECK_NEAR(norm_mean, (raw_mean - reward_mean) / reward_std, 1e-4);
    char *raw_text = read_file(raw_path, NULL);
    CHECK(strstr(raw_text, "\"messages\"") && strstr(raw_text, "\"score\":")); /* the {"messages"} line */
    free(raw_text);
    CHECK(test_system("cd '%s' && OMP_NUM_THREADS=1 %s rm eval run/model held.jsonl --json > eval.json", dir, bin) ==
          0);
    char *eval_path = path_join(dir, "eval.json");
    cJSON *eval = json_read_file(eval_path);
    CHECK_NEAR(json_get_double(eval, "accuracy", eval_path), accuracy, 1e-4);
    CHECK_EQ_INT(json_get_int(eval, "pairs", eval_path), N_HELDOUT);
    cJSON_Delete(eval);

    /* a reward model given to --init is trained further, on new comparisons */
    CHECK(test_system(
              "cd '%s' && OMP_NUM_THREADS=1 %s rm --init run/model --out run2 --steps 2 --eval-fraction 0 "
              "--data held.jsonl > more.log 2>&1 && grep -q 'continuing the training of the reward model' more.log",
              dir, bin) == 0);
    char *run2_model = path_join(dir, "run2/model");
    ck = model_dir_load(run2_model);
    CHECK(ck.model->cfg.head == HEAD_SCORE);
    model_dir_free(&ck);

    /* errors: one line naming the file, line and field; a language model cannot score */
    CHECK(test_system("cd '%s' && printf '{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"], \"ranking\": [1, 1]}\\n' "
                      "> bad.jsonl && %s rm --init sft --out run3 --data bad.jsonl > /dev/null 2> err.txt",
                      dir, bin) == 1);
    char *err_path = path_join(dir, "err.txt"), *err = read_file(err_path, NULL);
    CHECK_MSG(strstr(err, "lmforge: bad.jsonl:1: field \"ranking\" is not a permutation of the 2 responses: index 1 "
                          "appears twice"),
              "stderr: %s", err);
    free(err);
    CHECK(test_system("cd '%s' && %s rm score sft to_score.jsonl 2> err.txt", dir, bin) == 1);
    err = read_file(err_path, NULL);
    CHECK_MSG(strstr(err, "is a language model, not a reward model"), "stderr: %s", err);
    free(err);

    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(err_path);
    free(eval_path);
    free(run2_model);
    free(raw_path);
    free(norm_path);
    free(model_dir);
    free(config_path);
    free(sft);
    free(run);
    free(dir);
    free(bin);
}
