/* test_demo.c — a miniature of `make demo`: recipes/demo.recipe, run by
 * `lmforge pipeline` with a tiny model, little data and few steps, end to
 * end. Every stage must leave its outputs, evaluate its report, and SFT
 * must raise the held-out gold score above the pretrained model's. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "test.h"

static int have_demo_packages(void) {
    return dir_exists("/usr/share/games/bsdgames/quiz") && dir_exists("/usr/share/wordnet") &&
           dir_exists("/usr/share/games/fortunes") && test_system("command -v bible > /dev/null") == 0;
}

/* The gold score of the checkpoint named `name` in report.json. */
static double checkpoint_gold(cJSON *report, const char *name, const char *path) {
    cJSON *c;
    cJSON_ArrayForEach(c, json_get_array(report, "checkpoints", path)) {
        if (strcmp(json_get_string(c, "name", path), name) == 0) return json_get_double(c, "gold", path);
    }
    return -1;
}

TEST_SLOW(demo_recipe_runs_end_to_end_in_miniature) {
    if (!have_demo_packages()) SKIP("the demo data's Debian packages are missing (make deps)");
    char *dir = test_tmpdir("demo-mini");
    /* The sentiment family is scored by VADER (npm vader-sentiment) when node
     * and the package can be had, else by a stand-in that needs neither. */
    char *scorer = xstrdup("");
    if (test_system("node --version > /dev/null 2>&1") != 0 || test_system("sh scripts/npm_cache.sh > /dev/null 2>&1") != 0) {
        printf("  (no node or vader-sentiment: a stand-in scores the sentiment family)\n");
        free(scorer);
        const char *fake = "while IFS= read -r line; do case \"$line\" in *good*) echo '{\"reward\": 0.9}' ;; "
                           "*) echo '{\"reward\": 0.4}' ;; esac; done\n";
        char *path = path_join(dir, "fake_sentiment.sh");
        atomic_write(path, fake, strlen(fake));
        scorer = xsprintf("LMF_SENTIMENT_CMD=\"sh '%s'\"", path);
        free(path);
    }
    /* Every dense family (the four graded computations and sentiment) and two
     * fact families, so that each judge, group and route runs; word_count is
     * the family a model of this size learns in seconds. */
    int rc = test_system(
        "%s OMP_WAIT_POLICY=passive %s pipeline recipes/demo.recipe --run-dir %s "
        "--set families=word_count,addition,reverse,uppercase,element_symbol,capital,sentiment --set tasks_per_family=400 --set max_pretrain_mb=0.3 "
        "--set vocab=512 --set dim=64 --set layers=2 --set heads=4 --set pretrain_steps=40 --set pretrain_lr=3e-3 "
        "--set sft_epochs=6 --set sft_lr=3e-3 --set k=4 --set rm_epochs=1 --set ppo_iterations=2 --set ppo_prompts=16 "
        "--set refresh_every=1 --set refresh_prompts=8 --set rounds=2 --set rs_n=2 --set max_new_tokens=6 --set eval_prompts=120 "
        "--set kl_prompts=16 --set bon_prompts=8 --set rs_prompts=200 --set spin_rounds=2 --set spin_pairs=40 "
        "--set grpo_steps=2 --set grpo_prompts=4 --set grpo_group=2 > %s/log 2>&1",
        scorer, lmforge_bin(), dir, dir);
    free(scorer);
    CHECK_MSG(rc == 0, "the pipeline failed (exit %d); see %s/log", rc, dir);
    if (rc) return;

    static const char *const outputs[] = {
        "data/tasks/heldout.jsonl", "tokenizer/tokenizer.json", "pretrain/model/model.safetensors",
        "pretrain/loss.svg", "sft/model/model.safetensors", "preferences/pairs.jsonl", "rm/model/model.safetensors",
        "ppo/model/model.safetensors", "ppo/comparisons-1.jsonl", "round1/rs/sft.jsonl", "round1/pairs.jsonl",
        "round1/dpo/model/model.safetensors", "round2/dpo/model/model.safetensors", "frontier/dpo-beta-low/model/model.safetensors",
        "frontier/dpo-beta-high/model/model.safetensors", "spin1/pairs.jsonl", "spin2/dpo/model/model.safetensors",
        "grpo/model/model.safetensors", "report.md", "report.json", "plots/frontier.svg",
        "plots/overoptimization.svg", "plots/pretrain_loss.svg", "plots/dpo_margin.svg", "answers/sft.jsonl",
        "answers/dpo2.jsonl", "pipeline.jsonl"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(outputs); i++) {
        char *path = path_join(dir, outputs[i]);
        CHECK_MSG(file_exists(path), "missing %s", path);
        free(path);
    }

    char *report_path = path_join(dir, "report.json");
    cJSON *report = json_read_file(report_path);
    double pretrained = checkpoint_gold(report, "pretrained", report_path), sft = checkpoint_gold(report, "sft", report_path);
    CHECK_MSG(pretrained >= 0 && sft >= 0, "report.json lacks the pretrained or sft checkpoint");
    CHECK_MSG(sft > pretrained + 0.05, "held-out gold score %.3f after SFT, %.3f before", sft, pretrained);
    printf("  held-out gold score: pretrained %.3f, SFT %.3f\n", pretrained, sft);
    /* every checkpoint of the recipe is in the table */
    static const char *const names[] = {"pretrained", "sft", "ppo", "dpo1", "dpo2", "spin1", "spin2", "grpo"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(names); i++)
        CHECK_MSG(checkpoint_gold(report, names[i], report_path) >= 0, "no checkpoint %s in report.json", names[i]);
    /* the four routes side by side, and every frontier series of the recipe */
    static const char *const routes[] = {"RLHF-PPO", "RS+DPO", "SPIN", "GRPO"};
    const cJSON *item;
    int k = 0;
    cJSON_ArrayForEach(item, json_get_array(report, "routes", report_path)) {
        CHECK_MSG(k < 4 && strcmp(json_get_string(item, "route", report_path), routes[k]) == 0, "route %d is not %s", k,
                  k < 4 ? routes[k] : "-");
        k++;
    }
    CHECK_EQ_INT(k, 4);
    static const char *const series[] = {"best-of-n", "PPO", "DPO", "GRPO"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(series); i++) {
        int found = 0;
        cJSON_ArrayForEach(item, json_get_array(report, "frontier", report_path))
            found += strcmp(json_get_string(item, "series", report_path), series[i]) == 0;
        CHECK_MSG(found == 1, "the frontier has %d %s series", found, series[i]);
    }
    cJSON_Delete(report);
    free(report_path);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(dir);
}
