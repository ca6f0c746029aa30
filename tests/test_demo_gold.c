/* test_demo_gold.c — the gold set, the simulated annotator's Plackett–Luce
 * rankings, and `lmforge gold score` / `gold annotate` run as programs. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/demo/gold.h"
#include "test.h"

static const char *TASKS =
    "{\"id\":\"define-0\",\"family\":\"define\",\"prompt\":\"Define year.\","
    "\"answer\":\"a period of time containing 365 days\",\"answers\":[\"a period of time containing 365 days\"],"
    "\"judge\":\"f1\"}\n"
    "{\"id\":\"capital-0\",\"family\":\"capital\",\"prompt\":\"What is the capital of Kenya?\",\"answer\":\"Nairobi\","
    "\"answers\":[\"Nairobi\"],\"judge\":\"exact\"}\n"
    "{\"id\":\"capital-1\",\"family\":\"capital\",\"prompt\":\"What is the capital of Ukraine?\",\"answer\":\"Kiev\","
    "\"answers\":[\"Kiev\",\"Kyiv\"],\"judge\":\"exact\"}\n";

static char *write_tasks(const char *dir) {
    char *path = path_join(dir, "tasks.jsonl");
    atomic_write(path, TASKS, strlen(TASKS));
    return path;
}

static int is_permutation(const int *r, int k) {
    int seen[64] = {0};
    for (int i = 0; i < k; i++) {
        if (r[i] < 0 || r[i] >= k || seen[r[i]]) return 0;
        seen[r[i]] = 1;
    }
    return 1;
}

TEST(demo_gold_set_scores_and_families) {
    char *dir = test_tmpdir("gold");
    char *path = write_tasks(dir);
    const char *files[] = {path, path}; /* the same file twice is harmless */
    GoldSet *g = gold_load(files, 2);
    CHECK_EQ_INT(gold_n_families(g), 2);
    CHECK(strcmp(gold_family_name(g, 0), "capital") == 0 && strcmp(gold_family_name(g, 1), "define") == 0);
    CHECK(strcmp(gold_family(g, "  What is the capital of Kenya?\n"), "capital") == 0);
    CHECK(gold_family(g, "What is the capital of Mars?") == NULL);
    CHECK(strcmp(gold_answer(g, "Define year."), "a period of time containing 365 days") == 0);
    CHECK(gold_score(g, "What is the capital of Kenya?", "nairobi.") == 1);
    CHECK(gold_score(g, "What is the capital of Kenya?", "Lagos") == 0);
    CHECK(gold_score(g, "What is the capital of Ukraine?", "Kyiv") == 1);
    CHECK_NEAR(gold_score(g, "Define year.", "a period of time"), 2.0 / 3, 1e-12);
    gold_free(g);
    free(path);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(demo_gold_prompt_text_from_messages) {
    cJSON *v = cJSON_Parse("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"first\"},"
                           "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"second\"}]");
    CHECK(strcmp(gold_prompt_text(v), "second") == 0);
    cJSON_Delete(v);
    v = cJSON_Parse("\"plain\"");
    CHECK(strcmp(gold_prompt_text(v), "plain") == 0);
    cJSON_Delete(v);
    v = cJSON_Parse("42");
    CHECK(gold_prompt_text(v) == NULL);
    cJSON_Delete(v);
}

TEST(demo_gold_rank_without_noise_sorts) {
    Rng rng;
    rng_seed(&rng, 3);
    double gold[] = {0.2, 1.0, 0.5, 0.0};
    int r[4];
    gold_rank(gold, 4, 0, &rng, r);
    CHECK(r[0] == 1 && r[1] == 2 && r[2] == 0 && r[3] == 3);

    /* Ties: always a permutation with the tied pair on top, each first now and then. */
    double tied[] = {1, 1, 0, 0, 0.5};
    int first[5] = {0};
    for (int trial = 0; trial < 200; trial++) {
        int t[5];
        gold_rank(tied, 5, 0, &rng, t);
        CHECK(is_permutation(t, 5));
        CHECK((t[0] == 0 || t[0] == 1) && (t[1] == 0 || t[1] == 1) && t[2] == 4);
        first[t[0]]++;
    }
    CHECK(first[0] > 0 && first[1] > 0); /* each would fail with probability 2^-200 */
}

TEST(demo_gold_rank_pairwise_rates_follow_bradley_terry) {
    /* In a Plackett–Luce ranking with utilities g/noise, i is above j with
     * probability σ((g_i − g_j)/noise), whatever the other items. 20000 draws
     * give a standard error under 0.0036; the tolerance is 5 of them. */
    Rng rng;
    rng_seed(&rng, 11);
    const double gold[] = {0.9, 0.6, 0.3, 0.0}, noise = 0.5;
    const int draws = 20000;
    int above[4][4] = {{0}};
    for (int d = 0; d < draws; d++) {
        int r[4], pos[4];
        gold_rank(gold, 4, noise, &rng, r);
        CHECK(is_permutation(r, 4));
        for (int i = 0; i < 4; i++) pos[r[i]] = i;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) above[i][j] += pos[i] < pos[j];
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            double want = 1 / (1 + exp(-(gold[i] - gold[j]) / noise));
            CHECK_NEAR((double)above[i][j] / draws, want, 0.018);
        }
}

/* Runs `lmforge gold annotate` with pipes on both ends, sends one line at a
 * time and waits (up to 20 s) for each answer before sending the next: this
 * fails if the annotator does not flush after every line. */
TEST(demo_gold_annotate_through_a_pipe) {
    char *dir = test_tmpdir("annotate");
    char *tasks = write_tasks(dir);
    int to_child[2], from_child[2];
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(lmforge_bin(), "lmforge", "gold", "annotate", "--tasks", tasks, "--noise", "0", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    signal(SIGPIPE, SIG_IGN);
    FILE *out = fdopen(from_child[0], "r");
    const char *lines[] = {
        "{\"prompt\":\"What is the capital of Kenya?\",\"responses\":[\"Lagos\",\"Nairobi\",\"Accra\"]}\n",
        "{\"prompt\":[{\"role\":\"user\",\"content\":\"Define year.\"}],"
        "\"responses\":[\"a dog\",\"a period of time containing 365 days\",\"a period of time\"]}\n"};
    const int want_first[] = {1, 1}, want_last_of_define = 0;
    for (int i = 0; i < 2; i++) {
        CHECK(write(to_child[1], lines[i], strlen(lines[i])) == (ssize_t)strlen(lines[i]));
        struct pollfd pfd = {.fd = from_child[0], .events = POLLIN};
        int ready = poll(&pfd, 1, 20000);
        CHECK_MSG(ready == 1, "no answer to line %d within 20 s (not flushed?)", i + 1);
        if (ready != 1) break;
        char buf[256];
        CHECK(fgets(buf, sizeof buf, out) != NULL);
        cJSON *reply = cJSON_Parse(buf);
        const cJSON *ranking = cJSON_GetObjectItemCaseSensitive(reply, "ranking");
        CHECK(cJSON_IsArray(ranking) && cJSON_GetArraySize(ranking) == 3);
        if (cJSON_GetArraySize(ranking) == 3) {
            int r[3];
            for (int k = 0; k < 3; k++) r[k] = cJSON_GetArrayItem(ranking, k)->valueint;
            CHECK(is_permutation(r, 3));
            CHECK_EQ_INT(r[0], want_first[i]); /* noise 0: best gold first */
            if (i == 1) CHECK_EQ_INT(r[2], want_last_of_define);
        }
        cJSON_Delete(reply);
    }
    close(to_child[1]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fclose(out);
    free(tasks);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* Feeds input to `gold annotate` through a shell pipe; returns its exit status, stderr in dir/err. */
static int annotate_status(const char *dir, const char *tasks, const char *input) {
    char *in = path_join(dir, "in.jsonl");
    atomic_write(in, input, strlen(input));
    int rc = test_system("%s gold annotate --tasks %s < %s > %s/out 2> %s/err", lmforge_bin(), tasks, in, dir, dir);
    free(in);
    return rc;
}

static int err_contains(const char *dir, const char *needle) {
    char *path = path_join(dir, "err");
    char *text = read_file(path, NULL);
    int found = strstr(text, needle) != NULL;
    if (!found) fprintf(stderr, "    stderr was: %s", text);
    free(text);
    free(path);
    return found;
}

TEST(demo_gold_annotate_rejects_bad_input_with_line_numbers) {
    char *dir = test_tmpdir("annotate-err");
    char *tasks = write_tasks(dir);
    const char *good = "{\"prompt\":\"What is the capital of Kenya?\",\"responses\":[\"a\",\"b\"]}\n";
    char *input = xsprintf("%s{\"prompt\": oops}\n", good);
    CHECK(annotate_status(dir, tasks, input) != 0);
    CHECK(err_contains(dir, "stdin:2: not valid JSON"));
    free(input);
    input = xsprintf("%s%s{\"prompt\":\"What is the capital of Mars?\",\"responses\":[\"a\",\"b\"]}\n", good, good);
    CHECK(annotate_status(dir, tasks, input) != 0);
    CHECK(err_contains(dir, "stdin:3: prompt \"What is the capital of Mars?\" is not in the task files"));
    free(input);
    CHECK(annotate_status(dir, tasks, "{\"prompt\":\"Define year.\",\"responses\":[\"one\"]}\n") != 0);
    CHECK(err_contains(dir, "stdin:1: field \"responses\" must be a list of at least 2 strings"));
    CHECK(annotate_status(dir, tasks, "{\"prompt\":\"Define year.\"}\n") != 0);
    CHECK(err_contains(dir, "stdin:1"));
    /* Good input still answers every line. */
    input = xsprintf("%s%s", good, good);
    CHECK(annotate_status(dir, tasks, input) == 0);
    char *out_path = path_join(dir, "out"), *out = read_file(out_path, NULL);
    CHECK(strstr(out, "{\"ranking\":[") == out && strchr(strchr(out, '\n') + 1, '\n') != NULL);
    free(out);
    free(out_path);
    free(input);
    free(tasks);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(demo_gold_score_command) {
    char *dir = test_tmpdir("gold-score");
    char *tasks = write_tasks(dir);
    char *gen = path_join(dir, "gen.jsonl");
    const char *text = "{\"prompt\":\"What is the capital of Kenya?\",\"response\":\"nairobi.\"}\n"
                       "{\"prompt\":\"What is the capital of Ukraine?\",\"responses\":[\"Kyiv\",\"Lviv\"]}\n"
                       "{\"prompt\":\"Define year.\",\"response\":\"a period of time\"}\n";
    atomic_write(gen, text, strlen(text));
    CHECK(test_system("%s gold score --tasks %s --out %s/scored.jsonl --json %s > %s/summary.json", lmforge_bin(), tasks,
                      dir, gen, dir) == 0);
    char *summary_path = path_join(dir, "summary.json"), *summary = read_file(summary_path, NULL);
    cJSON *s = cJSON_Parse(summary);
    const cJSON *overall = cJSON_GetObjectItemCaseSensitive(s, "overall");
    const cJSON *families = cJSON_GetObjectItemCaseSensitive(s, "families");
    const cJSON *capital = cJSON_GetObjectItemCaseSensitive(families, "capital");
    const cJSON *define = cJSON_GetObjectItemCaseSensitive(families, "define");
    CHECK(overall && capital && define);
    if (overall && capital && define) {
        /* capital: 1, 1, 0 over three answers; define: 2/3; overall: (2 + 2/3) / 4. */
        CHECK_EQ_INT(cJSON_GetObjectItem(capital, "n")->valueint, 3);
        CHECK_NEAR(cJSON_GetObjectItem(capital, "mean")->valuedouble, 2.0 / 3, 1e-9);
        CHECK_NEAR(cJSON_GetObjectItem(define, "mean")->valuedouble, 2.0 / 3, 1e-9);
        CHECK_EQ_INT(cJSON_GetObjectItem(overall, "n")->valueint, 4);
        CHECK_NEAR(cJSON_GetObjectItem(overall, "mean")->valuedouble, (2 + 2.0 / 3) / 4, 1e-9);
    }
    cJSON_Delete(s);
    char *scored_path = path_join(dir, "scored.jsonl"), *scored = read_file(scored_path, NULL);
    CHECK(strstr(scored, "\"response\":\"nairobi.\",\"gold\":1}") != NULL);
    CHECK(strstr(scored, "\"gold\":[1,0]}") != NULL);

    /* A prompt that is not a task: a clear error naming the file and line. */
    const char *bad = "{\"prompt\":\"What is the capital of Kenya?\",\"response\":\"x\"}\n"
                      "{\"prompt\":\"Who are you?\",\"response\":\"x\"}\n";
    atomic_write(gen, bad, strlen(bad));
    CHECK(test_system("%s gold score --tasks %s %s > /dev/null 2> %s/err", lmforge_bin(), tasks, gen, dir) != 0);
    char *want = xsprintf("%s:2: prompt \"Who are you?\" is not in the task files", gen);
    CHECK(err_contains(dir, want));
    free(want);
    free(scored);
    free(scored_path);
    free(summary);
    free(summary_path);
    free(gen);
    free(tasks);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* Tasks of the three groups: graded computation, knowledge, sentiment. */
static const char *GROUP_TASKS =
    "{\"id\":\"addition-0\",\"family\":\"addition\",\"group\":\"computation\",\"prompt\":\"What is 17 + 25?\","
    "\"answer\":\"42\",\"answers\":[\"42\"],\"judge\":\"digits\"}\n"
    "{\"id\":\"uppercase-0\",\"family\":\"uppercase\",\"group\":\"computation\","
    "\"prompt\":\"Write 'house' in capital letters.\",\"answer\":\"HOUSE\",\"answers\":[\"HOUSE\"],\"judge\":\"edit-case\"}\n"
    "{\"id\":\"capital-0\",\"family\":\"capital\",\"prompt\":\"What is the capital of Kenya?\",\"answer\":\"Nairobi\","
    "\"answers\":[\"Nairobi\"],\"judge\":\"exact\"}\n"
    "{\"id\":\"sentiment-0\",\"family\":\"sentiment\",\"group\":\"sentiment\",\"prompt\":\"Continue: A gift of a\","
    "\"answer\":\"flower will soon be made to you.\",\"answers\":[\"flower will soon be made to you.\"],"
    "\"judge\":\"sentiment\"}\n";

/* A stand-in for the VADER scorer that needs no npm: 0.9 for a completion
 * with "good" in it, 0.2 otherwise, one reply a line. */
static char *write_fake_scorer(const char *dir) {
    char *path = path_join(dir, "fake_sentiment.sh");
    const char *script = "while IFS= read -r line; do case \"$line\" in\n"
                         "  *good*) echo '{\"reward\": 0.9}' ;;\n"
                         "  *) echo '{\"reward\": 0.2}' ;;\n"
                         "esac; done\n";
    atomic_write(path, script, strlen(script));
    char *command = xsprintf("sh '%s'", path);
    free(path);
    return command;
}

static char *write_group_tasks(const char *dir) {
    char *path = path_join(dir, "group_tasks.jsonl");
    atomic_write(path, GROUP_TASKS, strlen(GROUP_TASKS));
    return path;
}

TEST(demo_gold_groups_graded_and_sentiment_scores) {
    char *dir = test_tmpdir("gold-groups");
    char *path = write_group_tasks(dir), *fake = write_fake_scorer(dir);
    const char *files[] = {path};
    GoldSet *g = gold_load(files, 1);
    gold_set_sentiment_command(g, fake);
    CHECK_EQ_INT(gold_n_groups(g), 3);
    CHECK(!strcmp(gold_group_name(g, 0), "computation") && !strcmp(gold_group_name(g, 1), "knowledge") &&
          !strcmp(gold_group_name(g, 2), "sentiment"));
    CHECK(!strcmp(gold_family_group(g, "addition"), "computation"));
    CHECK(!strcmp(gold_family_group(g, "capital"), "knowledge")); /* no "group" field: the demo's group */
    CHECK(gold_family_group(g, "poetry") == NULL);
    CHECK(!strcmp(gold_group(g, "Continue: A gift of a"), "sentiment"));
    /* graded: two wrong sums score differently; exact match stays available */
    CHECK_NEAR(gold_score(g, "What is 17 + 25?", "41"), 0.5, 1e-12);
    CHECK_NEAR(gold_score(g, "What is 17 + 25?", "24"), 0, 1e-12);
    CHECK(gold_exact(g, "What is 17 + 25?", "41") == 0 && gold_exact(g, "What is 17 + 25?", "42.") == 1);
    CHECK(gold_exact(g, "Continue: A gift of a", "good") == -1);
    /* one batch mixing local judges and the scorer */
    const char *prompts[] = {"Continue: A gift of a", "Write 'house' in capital letters.", "Continue: A gift of a",
                             "What is the capital of Kenya?"};
    const char *responses[] = {"good friend", "HOUSe", "bad day", "Nairobi"};
    double s[4];
    gold_score_many(g, prompts, responses, 4, s);
    CHECK_NEAR(s[0], 0.9, 1e-6);
    CHECK_NEAR(s[1], 0.8, 1e-12);
    CHECK_NEAR(s[2], 0.2, 1e-6);
    CHECK_NEAR(s[3], 1, 1e-12);
    gold_free(g);
    free(fake);
    free(path);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* `gold judge` as a reward program, and `gold annotate` on the graded gold,
 * with the fake scorer given by flag and by LMF_SENTIMENT_CMD. */
TEST(demo_gold_judge_speaks_the_reward_program_protocol) {
    char *dir = test_tmpdir("gold-judge");
    char *tasks = write_group_tasks(dir), *fake = write_fake_scorer(dir);
    char *in = path_join(dir, "in.jsonl");
    const char *input = "{\"prompt\":\"What is 17 + 25?\",\"completion\":\"42 is the sum\"}\n"
                        "{\"prompt\":[{\"role\":\"user\",\"content\":\"Continue: A gift of a\"}],\"completion\":\"good\"}\n"
                        "{\"prompt\":\"Continue: A gift of a\",\"completion\":\"sad\"}\n";
    atomic_write(in, input, strlen(input));
    CHECK(test_system("%s gold judge --tasks %s --sentiment-cmd \"%s\" < %s > %s/out 2> %s/err", lmforge_bin(), tasks,
                      fake, in, dir, dir) == 0);
    char *out_path = path_join(dir, "out"), *out = read_file(out_path, NULL);
    const double want[] = {16.0 / 27, 0.9, 0.2};
    const char *groups[] = {"computation", "sentiment", "sentiment"};
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        CHECK_MSG(line != NULL, "reply %d missing", i + 1);
        if (!line) break;
        cJSON *j = cJSON_Parse(line);
        CHECK_NEAR(cJSON_GetObjectItem(j, "reward")->valuedouble, want[i], 1e-6);
        CHECK(!strcmp(cJSON_GetObjectItem(j, "group")->valuestring, groups[i]));
        cJSON_Delete(j);
    }
    free(out);

    /* The annotator ranks by the dense gold: with noise 0, 42 > "42 is the sum" > 41 > 24. */
    const char *ann = "{\"prompt\":\"What is 17 + 25?\",\"responses\":[\"41\",\"42 is the sum\",\"24\",\"42\"]}\n"
                      "{\"prompt\":\"Continue: A gift of a\",\"responses\":[\"sad\",\"good\"]}\n";
    atomic_write(in, ann, strlen(ann));
    CHECK(test_system("LMF_SENTIMENT_CMD=\"%s\" %s gold annotate --noise 0 --tasks %s < %s > %s/out 2> %s/err", fake,
                      lmforge_bin(), tasks, in, dir, dir) == 0);
    out = read_file(out_path, NULL);
    CHECK_MSG(strstr(out, "{\"ranking\":[3,1,0,2]}\n{\"ranking\":[1,0]}") != NULL, "got %s", out);
    free(out);

    /* Without node's package and no scorer given: one line saying how to get it. */
    atomic_write(in, input, strlen(input));
    CHECK(test_system("LMF_SENTIMENT_CMD= LMF_NPM_CACHE=%s/empty %s gold judge --tasks %s < %s > /dev/null 2> %s/err",
                      dir, lmforge_bin(), tasks, in, dir) != 0);
    CHECK(err_contains(dir, "scripts/npm_cache.sh"));
    free(out_path);
    free(in);
    free(fake);
    free(tasks);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* The real scorer: scripts/sentiment_judge.js with the npm package
 * vader-sentiment, fetched into the npm cache like the tokenizer references. */
TEST(demo_gold_sentiment_with_real_vader) {
    if (test_system("node --version > /dev/null 2>&1") != 0) SKIP("node is not installed");
    if (test_system("sh scripts/npm_cache.sh > /dev/null 2>&1") != 0)
        SKIP("vader-sentiment unavailable (no npm registry reachable and none in the npm cache)");
    char *dir = test_tmpdir("gold-vader");
    char *path = write_group_tasks(dir);
    const char *files[] = {path};
    unsetenv("LMF_SENTIMENT_CMD");
    GoldSet *g = gold_load(files, 1);
    const char *p = "Continue: A gift of a";
    const char *prompts[] = {p, p, p};
    const char *responses[] = {"I love this, it is great!", "the cat sat", "a horrible, awful day"};
    double s[3];
    gold_score_many(g, prompts, responses, 3, s);
    /* VADER's compound scores: 0.8622 and 0 (no sentiment word), mapped by (c + 1) / 2 */
    CHECK_NEAR(s[0], (0.8622 + 1) / 2, 1e-6);
    CHECK_NEAR(s[1], 0.5, 1e-9);
    CHECK(s[2] < 0.2);
    gold_free(g);
    free(path);
    test_system("rm -rf '%s'", dir);
    free(dir);
}
