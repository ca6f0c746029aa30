/* test_train_options.c — the option set every training stage shares
 * (train/train_options.h): one default for all, and the old spellings of
 * renamed flags (base/args.h's alias rows), which still work, say that they
 * are deprecated, are saved under the new name, and resume checkpoints saved
 * under the old one. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/args.h"
#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "../src/train/run_dir.h"
#include "../src/train/train_options.h"
#include "test.h"
#include "test_sft_util.h"

typedef struct {
    int seq_len, packing;
    float grad_clip;
} Parsed;

/* Parses argv with a table of new names and aliases; what the parse wrote to stderr goes to err_path. */
static Parsed parse_with_aliases(int argc, char **argv, const char *err_path) {
    static Parsed p;
    p = (Parsed){0, 1, 1.0f};
    Option opts[] = {OPT_INT("seq-len", &p.seq_len, "tokens per sequence"),
                     OPT_FLAG("packing", &p.packing, "pack sequences"),
                     OPT_FLOAT("grad-clip", &p.grad_clip, "clip the gradient norm"),
                     OPT_ALIAS("max-len", "seq-len"),
                     OPT_ALIAS("pack", "packing"),
                     OPT_ALIAS("clip", "grad-clip"),
                     OPT_END};
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = xfopen(err_path, "w");
    dup2(fileno(f), STDERR_FILENO);
    args_parse("test", "", "a test command", opts, argc, argv, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(f);
    return p;
}

TEST(old_spellings_set_the_new_flag_with_a_deprecation_line) {
    char *dir = test_tmpdir("aliases");
    char *err = path_join(dir, "err");
    char *argv[] = {"test", "--max-len", "64", "--no-pack", "--clip=0.5", NULL};
    Parsed p = parse_with_aliases(5, argv, err);
    CHECK_EQ_INT(p.seq_len, 64);
    CHECK_EQ_INT(p.packing, 0);
    CHECK_NEAR(p.grad_clip, 0.5, 0);
    char *text = read_file(err, NULL);
    CHECK_MSG(strstr(text, "lmforge test: --max-len is deprecated; use --seq-len\n") != NULL, "stderr: %s", text);
    CHECK_MSG(strstr(text, "lmforge test: --no-pack is deprecated; use --no-packing\n") != NULL, "stderr: %s", text);
    CHECK_MSG(strstr(text, "lmforge test: --clip is deprecated; use --grad-clip\n") != NULL, "stderr: %s", text);
    free(text);
    /* the settings saved with a checkpoint know only the new names */
    const cJSON *s = args_settings();
    CHECK(cJSON_GetObjectItemCaseSensitive(s, "seq-len") && cJSON_GetObjectItemCaseSensitive(s, "seq-len")->valueint == 64);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "packing")));
    CHECK(!cJSON_GetObjectItemCaseSensitive(s, "max-len") && !cJSON_GetObjectItemCaseSensitive(s, "pack") &&
          !cJSON_GetObjectItemCaseSensitive(s, "clip"));
    CHECK(strcmp(args_canonical_name("max-len"), "seq-len") == 0);
    CHECK(strcmp(args_canonical_name("seed"), "seed") == 0);
    /* the new spellings say nothing */
    char *argv2[] = {"test", "--seq-len", "32", "--packing", NULL};
    p = parse_with_aliases(4, argv2, err);
    CHECK_EQ_INT(p.seq_len, 32);
    text = read_file(err, NULL);
    CHECK_MSG(text[0] == 0, "stderr: %s", text);
    free(text);
    test_system("rm -rf '%s'", dir);
    free(err);
    free(dir);
}

typedef struct {
    const char *saved;
} SavedSettings;

static void check_against(void *ctx) {
    cJSON *saved = cJSON_Parse(((SavedSettings *)ctx)->saved);
    run_settings_check(saved, "ckpt/trainer_state.json", "test");
    cJSON_Delete(saved);
}

TEST(resume_compares_settings_saved_under_the_old_names) {
    char *dir = test_tmpdir("aliases-resume");
    char *err = path_join(dir, "err");
    char *argv[] = {"test", "--seq-len", "64", "--no-packing", NULL};
    parse_with_aliases(4, argv, err);
    /* a checkpoint from before the rename, with the same values: no complaint */
    SavedSettings same = {"{\"max-len\": 64, \"pack\": false, \"clip\": 1, \"files\": []}"};
    check_against(&same);
    /* another value under the old name is refused, named as the flag is now */
    SavedSettings other = {"{\"max-len\": 32, \"pack\": false, \"clip\": 1, \"files\": []}"};
    CHECK_DIES(check_against, &other, "--seq-len 64 (the run's: 32)");
    test_system("rm -rf '%s'", dir);
    free(err);
    free(dir);
}

/* ---- the shared defaults ---- */

TEST(training_stages_share_one_warm_up_rule) {
    TrainOptions t = train_options_defaults();
    CHECK_NEAR(t.warmup_ratio, 0.05, 1e-9);
    CHECK(t.warmup == -1);
    /* rounded down, as the stages' own integer shares were, also for ratios a float holds a hair low */
    for (long steps = 1; steps <= 5000; steps++) {
        t.warmup_ratio = 0.05f;
        long w5 = train_options_config(&t, "test", steps).schedule.warmup_steps;
        t.warmup_ratio = 0.03f;
        long w3 = train_options_config(&t, "test", steps).schedule.warmup_steps;
        t.warmup_ratio = 0.1f;
        long w10 = train_options_config(&t, "test", steps).schedule.warmup_steps;
        if (w5 != steps / 20 || w3 != steps * 3 / 100 || w10 != steps / 10) {
            CHECK_MSG(0, "%ld steps: warm-ups %ld, %ld, %ld", steps, w5, w3, w10);
            break;
        }
    }
    t.warmup = 7; /* --warmup STEPS wins over the ratio */
    CHECK(train_options_config(&t, "test", 1000).schedule.warmup_steps == 7);
    /* -1: evaluate 10 and save 4 times a run */
    t.eval_every = t.save_every = -1;
    TrainConfig tc = train_options_config(&t, "test", 200);
    CHECK(tc.eval_every == 20 && tc.save_every == 50);
    CHECK_NEAR(tc.optim.grad_clip, 1.0, 0);
    CHECK_NEAR(tc.optim.beta2, 0.95, 1e-7);
}

/* The line of `lmforge STAGE --help` for --flag (malloc'ed), or NULL. */
static char *help_line(const char *stage, const char *flag) {
    char *dir = test_tmpdir("help-line");
    char *path = path_join(dir, "help");
    test_system("%s %s --help > '%s'", lmforge_bin(), stage, path);
    char *help = read_file(path, NULL), *key = xsprintf("\n  --%s ", flag), *line = strstr(help, key), *copy = NULL;
    if (line) copy = xstrndup(line + 1, strcspn(line + 1, "\n"));
    test_system("rm -rf '%s'", dir);
    free(key);
    free(help);
    free(path);
    free(dir);
    return copy;
}

TEST(training_stages_list_the_shared_flags_with_one_default) {
    if (!file_exists(lmforge_bin())) SKIP("the lmforge binary is not built");
    static const char *const stages[] = {"pretrain", "sft", "rm", "dpo"};
    /* the same line in every stage's --help: name, help text and default */
    static const char *const same[] = {"grad-accum", "schedule",  "warmup", "warmup-ratio", "min-lr-ratio",
                                       "beta2",      "grad-clip", "keep",   "seed",         "resume",
                                       "resume-override"};
    for (size_t f = 0; f < LMF_ARRAY_LEN(same); f++) {
        char *first = help_line(stages[0], same[f]);
        CHECK_MSG(first != NULL, "pretrain --help lacks --%s", same[f]);
        for (size_t s = 1; s < LMF_ARRAY_LEN(stages) && first; s++) {
            char *line = help_line(stages[s], same[f]);
            CHECK_MSG(line && strcmp(line, first) == 0, "%s --help: \"%s\", pretrain: \"%s\"", stages[s],
                      line ? line : "(missing)", first);
            free(line);
        }
        free(first);
    }
    char *line = help_line("sft", "warmup-ratio");
    CHECK(line && strstr(line, "(default 0.05)"));
    free(line);
    /* the stages that learn from records in epochs share their data flags too */
    static const char *const data[] = {"data", "eval", "eval-fraction", "seq-len", "packing", "epochs", "steps"};
    for (size_t s = 1; s < LMF_ARRAY_LEN(stages); s++)
        for (size_t f = 0; f < LMF_ARRAY_LEN(data); f++) {
            char *l = help_line(stages[s], data[f]), *first = help_line("sft", data[f]);
            CHECK_MSG(l != NULL, "%s --help lacks --%s", stages[s], data[f]);
            /* the same text, but for what --data holds and the number of epochs */
            if (l && first && strcmp(data[f], "epochs") != 0 && strcmp(data[f], "data") != 0)
                CHECK_MSG(strcmp(l, first) == 0, "%s: \"%s\", sft: \"%s\"", stages[s], l, first);
            free(l);
            free(first);
        }
    /* the old spellings are listed as such */
    line = help_line("dpo", "max-len");
    CHECK(line && strstr(line, "now --seq-len"));
    free(line);
    line = help_line("ppo", "clip");
    CHECK(line && strstr(line, "now --cliprange"));
    free(line);
}

/* ---- an SFT run with the old spellings, resumed from a checkpoint saved under the old names ---- */

static void make_sft_fixture(const char *dir) {
    Tokenizer *t = test_chat_tokenizer(dir);
    Model *m = test_small_model(tokenizer_vocab_size(t), 32, 2, 4, 2, 31, 1.0f);
    char *base = path_join(dir, "base");
    model_dir_save(base, m, t, 0.0, 1.0);
    char *path = path_join(dir, "train.jsonl");
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < 24; i++)
        fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"Say %d.\"},{\"role\":\"assistant\",\"content\":"
                   "\"%d\"}]}\n", i, i);
    fclose(f);
    free(path);
    free(base);
    model_free(m);
    tokenizer_free(t);
}

/* Renames the settings of dir/run/checkpoint-STEP as an lmforge from before the rename saved them. */
static void rename_saved_settings(const char *dir, const char *run, long step) {
    char *path = xsprintf("%s/%s/checkpoint-%ld/trainer_state.json", dir, run, step);
    cJSON *state = json_read_file(path);
    cJSON *s = cJSON_GetObjectItemCaseSensitive(state, "settings");
    cJSON *clip = cJSON_DetachItemFromObjectCaseSensitive(s, "grad-clip");
    CHECK(clip != NULL);
    if (clip) cJSON_AddItemToObject(s, "clip", clip);
    cJSON_DeleteItemFromObjectCaseSensitive(s, "warmup-ratio"); /* a flag that did not exist */
    char *text = cJSON_Print(state);
    FILE *f = xfopen(path, "w");
    fputs(text, f);
    fclose(f);
    cJSON_free(text);
    cJSON_Delete(state);
    free(path);
}

TEST(sft_takes_the_old_spellings_and_resumes_a_checkpoint_saved_under_them) {
    char *lm = realpath(lmforge_bin(), NULL); /* the commands run in dir */
    if (!lm) SKIP("the lmforge binary is not built");
    char *dir = test_tmpdir("aliases-sft");
    make_sft_fixture(dir);
    const char *flags = "--batch 4 --seq-len 32 --lr 3e-3 --eval-fraction 0 --eval-prompts 0 --data train.jsonl";
    CHECK(test_system("cd '%s' && %s sft --init base --out run --steps 4 --save-every 2 --clip 0.5 --warmup 1 %s "
                      "> log 2> err", dir, lm, flags) == 0);
    CHECK(test_system("grep -qx 'lmforge sft: --clip is deprecated; use --grad-clip' '%s/err'", dir) == 0);
    char *state_path = xsprintf("%s/run/checkpoint-2/trainer_state.json", dir);
    if (!file_exists(state_path)) {
        CHECK_MSG(0, "no %s; see %s/log", state_path, dir);
        free(state_path);
        free(dir);
        free(lm);
        return;
    }
    cJSON *state = json_read_file(state_path);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(state, "settings");
    const cJSON *clip = cJSON_GetObjectItemCaseSensitive(s, "grad-clip");
    CHECK(cJSON_IsNumber(clip) && clip->valuedouble == 0.5);
    CHECK(!cJSON_GetObjectItemCaseSensitive(s, "clip"));
    cJSON_Delete(state);

    /* the checkpoint of step 2, as an older lmforge wrote it; the run resumes from it to the same end */
    test_system("cd '%s' && cp -r run old && rm -rf old/checkpoint-4 old/model", dir);
    rename_saved_settings(dir, "old", 2);
    CHECK(test_system("cd '%s' && %s sft --init base --out old --steps 4 --save-every 2 --grad-clip 0.5 --warmup 1 "
                      "--resume %s > log2 2>&1", dir, lm, flags) == 0);
    CHECK(test_system("grep -q 'was saved before these flags existed; continuing with --warmup-ratio 0.05' '%s/log2'",
                      dir) == 0);
    CHECK(test_system("cmp -s '%s/run/model/model.safetensors' '%s/old/model/model.safetensors'", dir, dir) == 0);
    /* another clip than the run's is refused, named as the flag is now */
    test_system("cd '%s' && rm -rf old/checkpoint-4 old/model", dir);
    CHECK(test_system("cd '%s' && %s sft --init base --out old --steps 4 --save-every 2 --grad-clip 0.75 --warmup 1 "
                      "--resume %s > log3 2>&1", dir, lm, flags) != 0);
    CHECK(test_system("grep -q -- '--grad-clip 0.75 (the run.s: 0.5)' '%s/log3'", dir) == 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(state_path);
    free(dir);
    free(lm);
}
