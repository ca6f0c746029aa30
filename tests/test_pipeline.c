/* test_pipeline.c — recipes (parsing, variables, rounds, errors), the
 * example recipes, `lmforge annotate` with the gold annotator, and
 * `lmforge pipeline` itself: failures, the lock, and two rounds of DPO on a
 * tiny model, killed midway and resumed. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/base/jsonl.h"
#include "../src/io/safetensors.h"
#include "../src/pipeline/annotator.h"
#include "../src/pipeline/recipe.h"
#include "test.h"

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static int args_are(const PlanStep *s, const char *const *expected) {
    int n = 0;
    while (expected[n]) n++;
    if (s->n_args != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(s->args[i], expected[i]) != 0) return 0;
    return s->args[n] == NULL;
}

/* ---- recipes ---- */

static const char *RECIPE =
    "# a comment\n"
    "set base = runs/x\n"
    "set model = ${base}/pretrain\n"
    "\n"
    "step prep\n"
    "    shell echo \"${base}\" > ${run_dir}/a.txt\n"
    "    output ${run_dir}/a.txt\n"
    "repeat 2\n"
    "  step train\n"
    "    lmforge dpo --init ${model} --note 'two words' --x \"a \\\"q\\\" b\" \\\n"
    "        --round ${round} --prev ${prev}\n"
    "    output ${base}/r${round}\n"
    "  set model = ${base}/r${round}\n"
    "end\n"
    "step last\n"
    "    lmforge eval ${model}\n";

/* A word made of quotes is displayed with '\'' for each, four characters for
 * one: the displayed command line once overflowed its buffer on such words. */
TEST(recipe_displays_words_of_quotes_without_overflow) {
    char quotes[17] = {0};
    memset(quotes, '\'', 16);
    char *recipe = xsprintf("step q\n    lmforge eval \"%s\" x\n", quotes);
    Plan p = recipe_parse(recipe, "q.recipe", NULL, 0);
    char expected[128] = "lmforge eval '"; /* an opening quote, '\'' for each quote, a closing one */
    for (int i = 0; i < 16; i++) strcat(expected, "'\\''");
    strcat(expected, "' x");
    CHECK_EQ_INT(p.n, 1);
    if (p.n == 1) CHECK_MSG(strcmp(p.steps[0].command, expected) == 0, "displayed as: %s", p.steps[0].command);
    plan_free(&p);
    free(recipe);
}

TEST(recipe_expands_variables_rounds_and_quoted_words) {
    RecipeVar vars[] = {{"run_dir", "RUN", 0}};
    Plan p = recipe_parse(RECIPE, "t.recipe", vars, 1);
    CHECK_EQ_INT(p.n, 4);
    if (p.n != 4) return;
    const PlanStep *prep = &p.steps[0], *r1 = &p.steps[1], *r2 = &p.steps[2], *last = &p.steps[3];
    CHECK(prep->kind == STEP_SHELL && strcmp(prep->command, "echo \"runs/x\" > RUN/a.txt") == 0);
    CHECK(prep->n_outputs == 1 && strcmp(prep->outputs[0], "RUN/a.txt") == 0);
    CHECK(prep->round == 0 && strcmp(prep->key, "prep") == 0 && prep->line == 5);
    CHECK(r1->kind == STEP_LMFORGE && r1->round == 1 && strcmp(r1->key, "train.r1") == 0 && r1->line == 9);
    CHECK(args_are(r1, (const char *[]){"dpo", "--init", "runs/x/pretrain", "--note", "two words", "--x", "a \"q\" b",
                                        "--round", "1", "--prev", "0", NULL}));
    /* round 2 starts from what round 1 made */
    CHECK(args_are(r2, (const char *[]){"dpo", "--init", "runs/x/r1", "--note", "two words", "--x", "a \"q\" b",
                                        "--round", "2", "--prev", "1", NULL}));
    CHECK(strcmp(r2->outputs[0], "runs/x/r2") == 0 && strcmp(r2->key, "train.r2") == 0);
    CHECK(args_are(last, (const char *[]){"eval", "runs/x/r2", NULL}));
    CHECK_MSG(strcmp(r1->command, "lmforge dpo --init runs/x/pretrain --note 'two words' --x 'a \"q\" b' --round 1 "
                                  "--prev 0") == 0,
              "command: %s", r1->command);
    plan_free(&p);

    /* --set NAME=VALUE wins over the recipe's own `set` */
    RecipeVar override[] = {{"run_dir", "RUN", 0}, {"base", "B", 1}};
    p = recipe_parse(RECIPE, "t.recipe", override, 2);
    CHECK(args_are(&p.steps[3], (const char *[]){"eval", "B/r2", NULL}));
    plan_free(&p);
}

/* As in sh: a variable outside quotes splits at its spaces (an empty one
 * gives no word), inside quotes it stays one word. */
TEST(recipe_splits_unquoted_variables_into_words) {
    static const char *text = "set flags = --a 1  --b\n"
                              "set none =\n"
                              "set prog = my prog\n"
                              "step s\n"
                              "    lmforge x ${flags} ${none} \"${prog}\" '${flags}' p${none}q\n";
    RecipeVar vars[] = {{"run_dir", "RUN", 0}};
    Plan p = recipe_parse(text, "t.recipe", vars, 1);
    CHECK_EQ_INT(p.n, 1);
    if (p.n == 1)
        CHECK(args_are(&p.steps[0], (const char *[]){"x", "--a", "1", "--b", "my prog", "--a 1  --b", "pq", NULL}));
    plan_free(&p);
}

TEST(recipe_expands_variables_inside_variable_names) {
    static const char *text = "set source = sft\n"
                              "set start_sft = S\n"
                              "set start_pretrain = P\n"
                              "step s\n"
                              "    lmforge x ${start_${source}} \"${start_${source}}/m\"\n";
    RecipeVar vars[] = {{"run_dir", "RUN", 0}, {"source", "pretrain", 1}};
    Plan p = recipe_parse(text, "t.recipe", vars, 1);
    CHECK(p.n == 1 && args_are(&p.steps[0], (const char *[]){"x", "S", "S/m", NULL}));
    plan_free(&p);
    p = recipe_parse(text, "t.recipe", vars, 2); /* --set source=pretrain */
    CHECK(p.n == 1 && args_are(&p.steps[0], (const char *[]){"x", "P", "P/m", NULL}));
    plan_free(&p);
}

typedef struct {
    const char *text;
} RecipeText;

static void parse_bad_recipe(void *ctx) {
    RecipeVar vars[] = {{"run_dir", "RUN", 0}};
    recipe_parse(((const RecipeText *)ctx)->text, "bad.recipe", vars, 1);
}

TEST(recipe_errors_name_the_line) {
    static const struct {
        const char *text, *expected;
    } cases[] = {
        {"step a\n  shell true\n  output ${nope}/x\n", "bad.recipe:3: unknown variable ${nope}"},
        {"step a\n  output x\nstep b\n  shell true\n", "bad.recipe:1: step \"a\" has no command"},
        {"step a\n  shell true\n  lmforge dpo\n", "bad.recipe:3: step \"a\" already has its command (line 1)"},
        {"shell true\n", "bad.recipe:1: `shell` outside a step"},
        {"repeat 2\nrepeat 2\nend\nend\n", "bad.recipe:2: repeat blocks do not nest"},
        {"repeat 2\nstep a\n  shell true\n", "bad.recipe:1: `repeat` without its `end`"},
        {"step a\n  shell true\nend\n", "bad.recipe:3: `end` without `repeat`"},
        {"step a\n  shell true\nstep a\n  shell false\n", "bad.recipe:3: a step named \"a\" already exists (line 1)"},
        {"step a\n  lmforge dpo --x 'open\n", "bad.recipe:2: unterminated ' quote"},
        {"set run_dir = elsewhere\nstep a\n  shell true\n", "bad.recipe:1: ${run_dir} cannot be set in a recipe"},
        {"repeat many\nstep a\n  shell true\nend\n", "bad.recipe:1: repeat many: expected a number of rounds"},
        {"step a\n  shell echo ${round}\n", "unknown variable ${round} (define it"},
        {"steps a\n", "bad.recipe:1: unknown statement \"steps\""},
        {"step a b\n  shell true\n", "bad.recipe:1: expected `step NAME`"},
        {"# nothing\n", "bad.recipe: the recipe has no steps"},
        {"step a\n  shell echo ${a_${b}\n", "bad.recipe:2: \"${\" without its closing \"}\""},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        RecipeText t = {cases[i].text};
        CHECK_DIES(parse_bad_recipe, &t, cases[i].expected);
    }
}

/* The argument after `flag` in a step, or "". */
static const char *arg_after(const PlanStep *s, const char *flag) {
    for (int i = 0; i + 1 < s->n_args; i++)
        if (strcmp(s->args[i], flag) == 0) return s->args[i + 1];
    return "";
}

static const PlanStep *find_step(const Plan *p, const char *key) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->steps[i].key, key) == 0) return &p->steps[i];
    return NULL;
}

TEST(example_recipes_chain_their_rounds) {
    RecipeVar vars[] = {{"run_dir", "R", 0}, {"lmforge", "/bin/lmforge", 0}, {"recipe_dir", "recipes", 0}};
    Plan p = recipe_load("recipes/llama31.recipe", vars, 3);
    CHECK_EQ_INT(p.n, 4 + 2 * 7);
    const PlanStep *dpo1 = find_step(&p, "dpo.r1"), *sft2 = find_step(&p, "sft.r2"), *prefs2 = find_step(&p, "preferences.r2");
    const PlanStep *rs2 = find_step(&p, "rs.r2");
    CHECK(dpo1 && sft2 && prefs2 && rs2);
    if (dpo1 && sft2 && prefs2 && rs2) {
        CHECK(strcmp(arg_after(dpo1, "--init"), "R/round1/sft/model") == 0);
        CHECK(strcmp(arg_after(dpo1, "--nll-weight"), "0.2") == 0);
        CHECK(strcmp(arg_after(rs2, "rs"), "R/round1/dpo/model") == 0); /* round 2 samples from round 1's DPO model */
        CHECK(strcmp(arg_after(sft2, "--init"), "R/pretrain/model") == 0); /* and fine-tunes the pretrained one */
        CHECK(strcmp(arg_after(sft2, "--data"), "data/demo/sft/train.jsonl") == 0);
        CHECK(strstr(sft2->command, "--data R/round2/rs/sft.jsonl") != NULL);
        CHECK(strstr(prefs2->command, "R/round1/pairs.jsonl R/round2/pairs.jsonl") != NULL);
    }
    plan_free(&p);
    RecipeVar three_rounds[] = {{"run_dir", "R", 0}, {"lmforge", "/bin/lmforge", 0}, {"rounds", "3", 1}};
    p = recipe_load("recipes/llama31.recipe", three_rounds, 3);
    CHECK_EQ_INT(p.n, 4 + 3 * 7);
    plan_free(&p);
    /* SPIN: each round plays against the previous round's model, which is also its DPO reference */
    p = recipe_load("recipes/spin.recipe", vars, 3);
    CHECK_EQ_INT(p.n, 4 + 3 * 2);
    const PlanStep *pairs1 = find_step(&p, "pairs.r1"), *pairs3 = find_step(&p, "pairs.r3"), *dpo3 = find_step(&p, "dpo.r3");
    CHECK(pairs1 && pairs3 && dpo3);
    if (pairs1 && pairs3 && dpo3) {
        CHECK(strcmp(arg_after(pairs1, "pairs-from-data"), "R/sft/model") == 0);
        CHECK(strstr(pairs1->command, "R/sft/model data/demo/sft/train.jsonl") != NULL);
        CHECK(strcmp(arg_after(pairs3, "pairs-from-data"), "R/round2/dpo/model") == 0);
        CHECK(strcmp(arg_after(dpo3, "--init"), "R/round2/dpo/model") == 0);
        CHECK(strcmp(arg_after(dpo3, "--ref"), "R/round2/dpo/model") == 0);
        CHECK(strcmp(arg_after(dpo3, "--data"), "R/round3/pairs.jsonl") == 0);
    }
    plan_free(&p);
    RecipeVar from_pretrain[] = {{"run_dir", "R", 0}, {"lmforge", "/bin/lmforge", 0}, {"source", "pretrain", 1}};
    p = recipe_load("recipes/spin.recipe", from_pretrain, 3);
    pairs1 = find_step(&p, "pairs.r1");
    CHECK(pairs1 && strstr(pairs1->command, "R/pretrain/model data/demo/pretrain/train.txt") != NULL);
    plan_free(&p);
    /* RLVR: GRPO and its shuffled control from the SFT model, beside PPO */
    p = recipe_load("recipes/rlvr.recipe", vars, 3);
    CHECK_EQ_INT(p.n, 11);
    const PlanStep *grpo = find_step(&p, "grpo"), *control = find_step(&p, "grpo-shuffled");
    CHECK(grpo && control);
    if (grpo && control) {
        CHECK(strcmp(arg_after(grpo, "--init"), "R/sft/model") == 0);
        CHECK(strcmp(arg_after(grpo, "--reward"), "number") == 0);
        CHECK(strcmp(arg_after(grpo, "--prompts"), "R/data/tasks/train.jsonl") == 0);
        CHECK(strstr(control->command, "--shuffle-rewards") != NULL && !strstr(grpo->command, "--shuffle-rewards"));
    }
    plan_free(&p);
    /* people rank: the label step waits for ${label_min} rankings, and rm trains on its --out */
    RecipeVar fifty[] = {{"run_dir", "R", 0}, {"lmforge", "/bin/lmforge", 0}, {"label_min", "50", 1}};
    p = recipe_load("recipes/human.recipe", fifty, 3);
    const PlanStep *label = find_step(&p, "label"), *rm = find_step(&p, "rm");
    CHECK(label && rm);
    if (label && rm) {
        CHECK(strcmp(arg_after(label, "label"), "R/samples.jsonl") == 0);
        CHECK(strcmp(arg_after(label, "--min"), "50") == 0);
        CHECK(strcmp(arg_after(rm, "--data"), arg_after(label, "--out")) == 0);
    }
    plan_free(&p);
    p = recipe_load("recipes/instructgpt.recipe", vars, 3);
    CHECK_EQ_INT(p.n, 8);
    CHECK(strcmp(p.steps[p.n - 1].key, "ppo") == 0 && strcmp(arg_after(&p.steps[p.n - 1], "--reward"), "R/rm/model") == 0);
    plan_free(&p);
}

/* ---- annotate ---- */

static const char *FRUITS[] = {"apple", "pear", "plum", "grape", "mango", "peach", "lemon", "melon"};
static const char *TOOLS[] = {"hammer", "wrench", "drill", "saw", "chisel", "pliers", "spanner", "clamp"};
static const char *ASKS[] = {"Name a fruit.", "Say a fruit name.", "Which fruit do you like?", "Give me a fruit."};

/* DIR/tasks.jsonl: the gold answers (any fruit); DIR/samples.jsonl: n prompts
 * with two fruits and two tools each; DIR/corpus.txt for a tokenizer. */
static void write_fruit_data(const char *dir, int n) {
    char *path = path_join(dir, "tasks.jsonl");
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < 4; i++) {
        fprintf(f, "{\"id\":\"fruit-%d\",\"family\":\"fruit\",\"prompt\":\"%s\",\"answer\":\"apple\",\"answers\":[", i, ASKS[i]);
        for (int k = 0; k < 8; k++) fprintf(f, "%s\"%s\"", k ? "," : "", FRUITS[k]);
        fprintf(f, "],\"judge\":\"exact\"}\n");
    }
    fclose(f);
    free(path);
    path = path_join(dir, "samples.jsonl");
    f = xfopen(path, "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"prompt\":\"%s\",\"responses\":[\"%s\",\"%s\",\"%s\",\"%s\"]}\n", ASKS[i % 4], TOOLS[i % 8],
                FRUITS[i % 8], TOOLS[(i + 3) % 8], FRUITS[(i + 5) % 8]);
    fclose(f);
    free(path);
    path = path_join(dir, "corpus.txt");
    f = xfopen(path, "w");
    for (int i = 0; i < 200; i++) fprintf(f, "%s %s or %s.\n\n", ASKS[i % 4], FRUITS[i % 8], TOOLS[(i * 3) % 8]);
    fclose(f);
    free(path);
}

static int is_in(const char *s, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

/* Sampled answers may end inside a character; what the annotator program
 * reads must still be valid UTF-8 (the demo's PPO refresh once stopped on a
 * strict annotator: "stdin:52: invalid UTF-8"). */
TEST(annotator_requests_are_valid_utf8_whatever_the_answers) {
    char *dir = test_tmpdir("annotator-utf8"), *seen = path_join(dir, "seen.jsonl");
    char *cmd = xsprintf("sh -c 'while read -r l; do printf \"%%s\\n\" \"$l\" >> %s; echo \"{\\\"ranking\\\": [1, 0]}\"; done'",
                         seen);
    Annotator *a = annotator_start(cmd);
    cJSON *prompt = cJSON_CreateString("Say caf\xc3\xa9");
    const char *responses[2] = {"caf\xc3", "caf\xc3\xa9"}; /* the first stops inside its last character */
    int ranking[2] = {-1, -1};
    annotator_rank(a, prompt, responses, 2, ranking, NULL);
    annotator_stop(a);
    CHECK(ranking[0] == 1 && ranking[1] == 0);
    CHECK_MSG(test_system("iconv -f UTF-8 -t UTF-8 '%s' > /dev/null 2>&1", seen) == 0, "the request was not UTF-8");
    CHECK(test_system("grep -q 'caf\xef\xbf\xbd' '%s'", seen) == 0); /* U+FFFD for the cut character */
    cJSON_Delete(prompt);
    test_system("rm -rf '%s'", dir);
    free(cmd);
    free(seen);
    free(dir);
}

TEST(annotate_turns_rankings_into_preference_pairs) {
    char *dir = test_tmpdir("annotate");
    write_fruit_data(dir, 12);
    CHECK(test_system("%s annotate %s/samples.jsonl --annotator '%s gold annotate --tasks %s/tasks.jsonl --noise 0' "
                      "--out %s/pairs.jsonl > /dev/null",
                      lmforge_bin(), dir, lmforge_bin(), dir, dir) == 0);
    char *path = path_join(dir, "pairs.jsonl");
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    int n = 0;
    while (jsonl_next(r, &rec)) {
        /* the annotator ranks the fruits first: best vs worst is a fruit against a tool */
        CHECK(is_in(jsonl_get_string(&rec, "chosen"), FRUITS, 8));
        CHECK(is_in(jsonl_get_string(&rec, "rejected"), TOOLS, 8));
        CHECK(strcmp(jsonl_get_string(&rec, "prompt"), ASKS[n % 4]) == 0);
        n++;
    }
    jsonl_close(r);
    CHECK_EQ_INT(n, 12);
    /* every ordered pair of the 4 answers */
    CHECK(test_system("%s annotate %s/samples.jsonl --pairs all --annotator '%s gold annotate --tasks %s/tasks.jsonl' "
                      "--out %s/all.jsonl > /dev/null && test $(wc -l < %s/all.jsonl) -eq 72",
                      lmforge_bin(), dir, lmforge_bin(), dir, dir, dir) == 0);
    /* a model that stopped at once gave an empty answer: DPO refuses such a
     * pair, so annotate leaves it out (3 answers: 3 pairs, 2 of them with "") */
    CHECK(test_system("printf '%%s\\n' '{\"prompt\":\"%s\",\"responses\":[\"pear\",\"\",\"saw\"]}' > %s/empty.jsonl && "
                      "%s annotate %s/empty.jsonl --pairs all --annotator '%s gold annotate --tasks %s/tasks.jsonl' "
                      "--out %s/e.jsonl > %s/err 2>&1 && test $(wc -l < %s/e.jsonl) -eq 1 && "
                      "grep -q '2 with an empty answer' %s/err",
                      ASKS[0], dir, lmforge_bin(), dir, lmforge_bin(), dir, dir, dir, dir, dir) == 0);
    /* annotators that break the protocol */
    CHECK(test_system("%s annotate %s/samples.jsonl --annotator 'read line; echo \"{\\\"ranking\\\":[0,0,1,2]}\"' --out %s/x.jsonl "
                      "2> %s/err; test $? -eq 1 && grep -q \"reply 1 must be {.ranking.: \\[...\\]} holding each of 0..3 once\" %s/err",
                      lmforge_bin(), dir, dir, dir, dir) == 0);
    CHECK(test_system("%s annotate %s/samples.jsonl --annotator true --out %s/x.jsonl 2> %s/err; "
                      "test $? -eq 1 && grep -q \"annotator 'true' exited without answering request 1\" %s/err",
                      lmforge_bin(), dir, dir, dir, dir) == 0);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
}

/* Ties: an annotator may call answers equally good ([0, [2, 3], 1]); tied
 * answers form no pair, rankings keep them in one list, and so do the
 * comparisons PPO's reward-model refreshes write. */
TEST(annotate_leaves_out_the_pairs_an_annotator_ties) {
    char *dir = test_tmpdir("annotate-ties");
    write_fruit_data(dir, 12); /* each line: tool, fruit, tool, fruit; exact gold: fruits 1, tools 0 */
    CHECK(test_system("%s annotate %s/samples.jsonl --pairs all --annotator '%s gold annotate --tasks %s/tasks.jsonl "
                      "--noise 0 --tie-margin 0' --out %s/pairs.jsonl --rankings %s/rankings.jsonl > %s/log 2>&1",
                      lmforge_bin(), dir, lmforge_bin(), dir, dir, dir, dir) == 0);
    char *path = path_join(dir, "pairs.jsonl");
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    int n = 0;
    while (jsonl_next(r, &rec)) { /* 6 pairs of 4 answers less the 2 tied ones: every pair a fruit over a tool */
        CHECK(is_in(jsonl_get_string(&rec, "chosen"), FRUITS, 8) && is_in(jsonl_get_string(&rec, "rejected"), TOOLS, 8));
        n++;
    }
    jsonl_close(r);
    CHECK_EQ_INT(n, 12 * 4);
    CHECK(test_system("grep -q '24 pairs the annotator tied' %s/log", dir) == 0);
    /* the fruits tied first, the tools tied last (in either order within a tie) */
    CHECK(test_system("test $(grep -Ec '\"ranking\":\\[\\[(1,3|3,1)\\],\\[(0,2|2,0)\\]\\]' %s/rankings.jsonl) -eq 12",
                      dir) == 0);

    /* the comparisons of a refresh keep the ties; a malformed tie is refused */
    char *cmd = xstrdup("sh -c 'while read -r l; do echo \"{\\\"ranking\\\": [[0, 2], 1]}\"; done'");
    cJSON *prompt = cJSON_CreateString(ASKS[0]);
    const cJSON *prompts[1] = {prompt};
    const char *answers[3] = {FRUITS[0], TOOLS[0], FRUITS[1]};
    char *comparisons = path_join(dir, "comparisons.jsonl");
    annotator_write_comparisons(cmd, prompts, 1, answers, 3, comparisons);
    CHECK(test_system("grep -q '\"ranking\":\\[\\[0,2\\],1\\]' %s", comparisons) == 0);
    CHECK(test_system("%s annotate %s/samples.jsonl --annotator 'read line; echo \"{\\\"ranking\\\":[[0,1],[1],2,3]}\"' "
                      "--out %s/x.jsonl 2> %s/err; test $? -eq 1 && grep -q 'tied answers may share a list' %s/err",
                      lmforge_bin(), dir, dir, dir, dir) == 0);
    cJSON_Delete(prompt);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(comparisons);
    free(cmd);
    free(path);
    free(dir);
}

/* ---- the runner ---- */

/* The lines of RUN/pipeline.jsonl, as an array. */
static cJSON *read_report(const char *run) {
    char *path = path_join(run, "pipeline.jsonl");
    cJSON *all = cJSON_CreateArray();
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) cJSON_AddItemToArray(all, cJSON_Duplicate(rec.json, 1));
    jsonl_close(r);
    free(path);
    return all;
}

static const char *status_of(const cJSON *report, int i) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(report, i), "status");
    return cJSON_IsString(s) ? s->valuestring : "";
}

static const char *command_of(const cJSON *report, int i) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(report, i), "command");
    return cJSON_IsString(s) ? s->valuestring : "";
}

TEST(pipeline_stops_at_a_failed_step_and_reports_it) {
    char *dir = test_tmpdir("pipeline-fail"), *lmforge = realpath(lmforge_bin(), NULL);
    char *recipe = path_join(dir, "r.recipe");
    write_text(recipe, "step a\n    shell echo a > ${run_dir}/a\n    output ${run_dir}/a\n"
                       "step b\n    shell exit 3\n"
                       "step c\n    shell true\n    output ${run_dir}/never\n"
                       "step d\n    shell true\n");
    CHECK(test_system("cd %s && %s pipeline r.recipe > out 2> err; test $? -eq 1", dir, lmforge) == 0);
    CHECK(test_system("grep -q 'lmforge: pipeline: step b (r.recipe line 4) failed; run the same command again' %s/err",
                      dir) == 0);
    char *run = path_join(dir, "runs/r"); /* the default run directory: runs/RECIPE_NAME */
    cJSON *report = read_report(run);
    CHECK_EQ_INT(cJSON_GetArraySize(report), 4);
    CHECK(strcmp(status_of(report, 0), "done") == 0 && strcmp(status_of(report, 1), "failed") == 0);
    CHECK(strcmp(status_of(report, 2), "pending") == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(report, 1), "exit_status")->valueint == 3);
    cJSON_Delete(report);

    /* fixed, run again: a is skipped; c succeeds without making its output: a failure too */
    write_text(recipe, "step a\n    shell echo a > ${run_dir}/a\n    output ${run_dir}/a\n"
                       "step b\n    shell true\n"
                       "step c\n    shell true\n    output ${run_dir}/never\n"
                       "step d\n    shell true\n");
    CHECK(test_system("cd %s && %s pipeline r.recipe > out 2> err; test $? -eq 1", dir, lmforge) == 0);
    CHECK(test_system("grep -q 'step c succeeded but did not make its output runs/r/never' %s/err", dir) == 0);
    report = read_report(run);
    CHECK(strcmp(status_of(report, 0), "skipped") == 0 && strcmp(status_of(report, 1), "done") == 0);
    CHECK(strcmp(status_of(report, 2), "failed") == 0 && strcmp(status_of(report, 3), "pending") == 0);
    cJSON_Delete(report);

    /* a second runner in the same directory is turned away while one holds it */
    char *lock_path = path_join(run, ".pipeline/lock");
    int fd = open(lock_path, O_RDWR);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    CHECK(test_system("cd %s && %s pipeline r.recipe > out 2> err; test $? -eq 1 && "
                      "grep -q 'another lmforge pipeline (or a step it started) is running in runs/r' err",
                      dir, lmforge) == 0);
    if (fd >= 0) close(fd);
    test_system("rm -rf '%s'", dir);
    free(lock_path);
    free(run);
    free(recipe);
    free(lmforge);
    free(dir);
}

TEST_SLOW(pipeline_runs_two_rounds_of_dpo_and_resumes_after_a_kill) {
    char *dir = test_tmpdir("pipeline-rounds");
    write_fruit_data(dir, 32);
    char *run = path_join(dir, "run");
    const char *cmd = "%s pipeline tests/pipeline/two_rounds.recipe --run-dir %s --set data=%s > %s/log%d 2>&1";
    const int n_steps = 10, gate2 = 8, dpo2 = 9;

    /* run 1: the gate kills the runner (SIGKILL) in round 2 */
    int rc = test_system(cmd, lmforge_bin(), run, dir, dir, 1);
    CHECK_MSG(rc == 128 + 9, "the first run should be killed, exit status %d", rc);
    cJSON *report = read_report(run);
    CHECK_EQ_INT(cJSON_GetArraySize(report), n_steps);
    for (int i = 0; i < gate2; i++) CHECK_MSG(strcmp(status_of(report, i), "done") == 0, "step %d: %s", i, status_of(report, i));
    CHECK(strcmp(status_of(report, gate2), "pending") == 0);
    cJSON_Delete(report);
    char *round1_model = path_join(run, "round1/dpo/model/config.json"), *round2_model = path_join(run, "round2/dpo/model");
    CHECK(file_exists(round1_model) && !dir_exists(round2_model));

    /* run 2: what was done is skipped; the interrupted gate and round 2's DPO run */
    char *go = path_join(dir, "go");
    write_text(go, "");
    /* the gate's shell, which inherited the runner's lock, may outlive the runner by a moment on a busy machine */
    CHECK(test_system("flock -w 20 '%s/.pipeline/lock' true", run) == 0);
    CHECK(test_system(cmd, lmforge_bin(), run, dir, dir, 2) == 0);
    report = read_report(run);
    for (int i = 0; i < gate2; i++) CHECK_MSG(strcmp(status_of(report, i), "skipped") == 0, "step %d: %s", i, status_of(report, i));
    CHECK(strcmp(status_of(report, gate2), "done") == 0 && strcmp(status_of(report, dpo2), "done") == 0);
    /* round 1 starts from the pretrained model, round 2 from round 1's DPO model */
    char *want1 = xsprintf("--init %s/pretrain/model ", run), *want2 = xsprintf("--init %s/round1/dpo/model ", run);
    CHECK_MSG(strstr(command_of(report, 5), want1) != NULL, "round 1 DPO: %s", command_of(report, 5));
    CHECK_MSG(strstr(command_of(report, dpo2), want2) != NULL, "round 2 DPO: %s", command_of(report, dpo2));
    cJSON_Delete(report);
    CHECK(dir_exists(round2_model));
    /* ...and its reference was round 1's model: the policy it started from */
    char *ref_path = path_join(run, "round2/dpo/ref_logps.safetensors");
    CHECK(file_exists(ref_path));
    if (file_exists(ref_path)) { /* st_open would end the whole suite */
        SafeTensors *st = st_open(ref_path);
        const char *reference = st_metadata(st, "reference");
        CHECK(reference && strstr(reference, "round1/dpo/model"));
        st_close(st);
    }

    /* run 3: a finished training step whose marker is gone resumes from its checkpoint */
    char *marker = path_join(run, ".pipeline/dpo.r2.done");
    CHECK(unlink(marker) == 0);
    CHECK(test_system(cmd, lmforge_bin(), run, dir, dir, 3) == 0);
    report = read_report(run);
    CHECK(strcmp(status_of(report, dpo2), "resumed") == 0 && strcmp(status_of(report, gate2), "skipped") == 0);
    CHECK(strstr(command_of(report, dpo2), "--resume") == NULL); /* the recipe's command; --resume is added when run */
    cJSON_Delete(report);
    CHECK(test_system("grep -q 'resumed from %s/round2/dpo/checkpoint-6' %s/log3", run, dir) == 0);

    test_system("rm -rf '%s'", dir);
    free(marker);
    free(ref_path);
    free(want1);
    free(want2);
    free(go);
    free(round1_model);
    free(round2_model);
    free(run);
    free(dir);
}

/* SPIN's recipe in miniature (the demo's data, a tiny model): killed while
 * round 2 plays, then resumed, it ends with the same model as a run that was
 * never interrupted, and round 2's DPO reference is round 1's model. */
TEST_SLOW(spin_recipe_resumes_after_a_kill_with_the_same_result) {
    char *dir = test_tmpdir("spin");
    const char *sizes = "--set tasks_per_family=20 --set pretrain_mb=0.3 --set vocab_size=512 --set seq_len=64 "
                        "--set pretrain_steps=20 --set sft_epochs=1 --set max_new_tokens=16 --set pairs_limit=40 "
                        "--set rounds=2";
    CHECK(test_system("%s pipeline recipes/spin.recipe --run-dir %s/a --set data=%s/a/data %s > %s/log-a 2>&1",
                      lmforge_bin(), dir, dir, sizes, dir) == 0);
    /* run b: killed (SIGKILL) as soon as round 2's pairs exist, then resumed */
    int rc = test_system("%s pipeline recipes/spin.recipe --run-dir %s/b --set data=%s/b/data %s > %s/log-b1 2>&1 & "
                         "pid=$!; while [ ! -f %s/b/round2/pairs.jsonl ] && kill -0 $pid 2>/dev/null; do sleep 0.02; "
                         "done; kill -9 $pid; wait $pid",
                         lmforge_bin(), dir, dir, sizes, dir, dir);
    CHECK_MSG(rc == 128 + 9, "the first run of b should be killed, exit status %d", rc);
    CHECK(test_system("flock -w 20 '%s/b/.pipeline/lock' true", dir) == 0);
    CHECK(test_system("%s pipeline recipes/spin.recipe --run-dir %s/b --set data=%s/b/data %s > %s/log-b2 2>&1",
                      lmforge_bin(), dir, dir, sizes, dir) == 0);
    char *b = path_join(dir, "b");
    cJSON *report = read_report(b);
    int n = cJSON_GetArraySize(report);
    CHECK_EQ_INT(n, 8);
    CHECK(n == 8 && strcmp(status_of(report, 0), "skipped") == 0 && strcmp(status_of(report, 7), "done") == 0);
    cJSON_Delete(report);
    CHECK_MSG(test_system("cmp -s %s/a/round2/dpo/model/model.safetensors %s/b/round2/dpo/model/model.safetensors", dir,
                          dir) == 0,
              "the resumed run ends with another model than the uninterrupted one");
    char *ref_path = path_join(dir, "b/round2/dpo/ref_logps.safetensors");
    CHECK(file_exists(ref_path));
    if (file_exists(ref_path)) {
        SafeTensors *st = st_open(ref_path);
        const char *reference = st_metadata(st, "reference");
        CHECK(reference && strstr(reference, "round1/dpo/model"));
        st_close(st);
    }
    test_system("rm -rf '%s'", dir);
    free(ref_path);
    free(b);
    free(dir);
}
