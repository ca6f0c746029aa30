/* gold_cmd.c — `lmforge gold`: the demo's gold standard on the command line.
 *
 *   gold score     scores generated answers against the task files and
 *                  reports the mean gold score per family
 *   gold annotate  the simulated annotator: ranks K answers to a prompt by
 *                  gold score plus Bradley–Terry noise, one JSON line in,
 *                  one out, as every annotator program does
 *   gold judge     the gold score as a reward program (reward_program.h),
 *                  for `grpo --reward-cmd` and evaluations
 *
 * The judging itself lives in src/demo/gold.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../pipeline/annotator.h"
#include "gold.h"
#include "../base/jsonl.h"
#include "strutil.h"
#include "demo_commands.h"

/* Loads the comma-separated task files of --tasks. */
static GoldSet *load_tasks(const char *command, const char *list) {
    if (!list) die("%s: --tasks FILES is required (e.g. DIR/tasks/train.jsonl,DIR/tasks/heldout.jsonl)", command);
    StrList files = {0};
    char *copy = xstrdup(list), *save = NULL;
    for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) strlist_add(&files, f);
    free(copy);
    GoldSet *g = gold_load((const char **)files.items, files.n);
    strlist_free(&files);
    return g;
}

/* The prompt of one input line; dies naming the line if it has none or it is not a task. */
static const char *line_prompt(const GoldSet *g, const cJSON *obj, const JsonlRecord *r) {
    const char *prompt = gold_prompt_text(cJSON_GetObjectItemCaseSensitive(obj, "prompt"));
    if (!prompt)
        jsonl_die(r, "field \"prompt\" must be a string or a list of messages with a user message");
    if (!gold_family(g, prompt))
        jsonl_die(r, "prompt \"%.80s\" is not in the task files", prompt);
    return prompt;
}

/* The sum and count of group gi: its families' together. */
static void group_totals(const GoldSet *g, int gi, const double *sum, const int *count, double *gsum, int *gcount) {
    *gsum = 0;
    *gcount = 0;
    for (int f = 0; f < gold_n_families(g); f++)
        if (strcmp(gold_family_group(g, gold_family_name(g, f)), gold_group_name(g, gi)) == 0) {
            *gsum += sum[f];
            *gcount += count[f];
        }
}

static void add_mean(cJSON *parent, const char *name, double sum, int n) {
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    cJSON_AddNumberToObject(o, "n", n);
    cJSON_AddNumberToObject(o, "mean", n ? sum / n : 0);
}

static void print_summary(const GoldSet *g, const double *sum, const int *count, int as_json) {
    double total = 0;
    int n = 0;
    for (int f = 0; f < gold_n_families(g); f++) {
        total += sum[f];
        n += count[f];
    }
    if (as_json) {
        cJSON *out = cJSON_CreateObject(), *families = cJSON_CreateObject(), *groups = cJSON_CreateObject();
        add_mean(out, "overall", total, n);
        for (int f = 0; f < gold_n_families(g); f++)
            if (count[f]) add_mean(families, gold_family_name(g, f), sum[f], count[f]);
        for (int gi = 0; gi < gold_n_groups(g); gi++) {
            double gsum;
            int gcount;
            group_totals(g, gi, sum, count, &gsum, &gcount);
            if (gcount) add_mean(groups, gold_group_name(g, gi), gsum, gcount);
        }
        cJSON_AddItemToObject(out, "families", families);
        cJSON_AddItemToObject(out, "groups", groups);
        jsonl_print(stdout, out);
        cJSON_Delete(out);
        return;
    }
    printf("%-16s %-12s %6s %10s\n", "family", "group", "n", "mean gold");
    for (int f = 0; f < gold_n_families(g); f++)
        if (count[f])
            printf("%-16s %-12s %6d %10.3f\n", gold_family_name(g, f), gold_family_group(g, gold_family_name(g, f)),
                   count[f], sum[f] / count[f]);
    for (int gi = 0; gi < gold_n_groups(g); gi++) {
        double gsum;
        int gcount;
        group_totals(g, gi, sum, count, &gsum, &gcount);
        if (gcount) printf("%-16s %-12s %6d %10.3f\n", "group", gold_group_name(g, gi), gcount, gsum / gcount);
    }
    printf("%-16s %-12s %6d %10.3f\n", "overall", "", n, n ? total / n : 0);
}

#define SENTIMENT_CMD_HELP                                                                                           \
    "reward program that scores the sentiment family (default: $LMF_SENTIMENT_CMD, else node "                       \
    "scripts/sentiment_judge.js with the npm package vader-sentiment)"

/* The strings of a JSON list of responses; dies naming the line if one is not a string. */
static int response_list(const cJSON *responses, const JsonlRecord *r, const char ***out) {
    int k = cJSON_GetArraySize(responses), i = 0;
    *out = xmalloc(((size_t)k + 1) * sizeof(char *));
    const cJSON *resp;
    cJSON_ArrayForEach(resp, responses) {
        if (!cJSON_IsString(resp)) jsonl_die(r, "field \"responses\" must be a list of strings");
        (*out)[i++] = resp->valuestring;
    }
    return k;
}

/* Scores the k responses to one prompt in one batch. */
static void score_responses(const GoldSet *g, const char *prompt, const char **responses, int k, double *gold) {
    const char **prompts = xmalloc(((size_t)k + 1) * sizeof(char *));
    for (int i = 0; i < k; i++) prompts[i] = prompt;
    gold_score_many(g, prompts, responses, k, gold);
    free(prompts);
}

static int family_of(const GoldSet *g, const char *prompt) {
    const char *name = gold_family(g, prompt);
    for (int f = 0; f < gold_n_families(g); f++)
        if (strcmp(gold_family_name(g, f), name) == 0) return f;
    return -1;
}

static int gold_score_command(int argc, char **argv) {
    const char *tasks = NULL, *out_path = NULL, *sentiment_cmd = NULL;
    int as_json = 0;
    Option opts[] = {OPT_STR("tasks", &tasks, "comma-separated task files written by demo-data (required)"),
                     OPT_STR("out", &out_path, "write each input line with its \"gold\" score(s) added here"),
                     OPT_FLAG("json", &as_json, "print the summary as one JSON object"),
                     OPT_STR("sentiment-cmd", &sentiment_cmd, SENTIMENT_CMD_HELP), OPT_END};
    char **positional;
    int npos = args_parse("gold score", "GENERATIONS.jsonl",
                          "Score generations ({\"prompt\",\"response\"} or {\"prompt\",\"responses\":[...]}) with the "
                          "gold judges and print the mean gold score per family.",
                          opts, argc, argv, &positional);
    if (npos != 1) die("gold score: expected one GENERATIONS.jsonl file (see lmforge gold score --help)");
    GoldSet *g = load_tasks("gold score", tasks);
    gold_set_sentiment_command(g, sentiment_cmd);
    int n_fam = gold_n_families(g);
    double *sum = xcalloc((size_t)n_fam, sizeof(double));
    int *count = xcalloc((size_t)n_fam, sizeof(int));
    AtomicFile out = {0};
    if (out_path) out = atomic_open(out_path);

    JsonlReader *r = jsonl_open(positional[0]);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        cJSON *obj = rec.json;
        const char *prompt = line_prompt(g, obj, &rec);
        int f = family_of(g, prompt);
        const cJSON *response = cJSON_GetObjectItemCaseSensitive(obj, "response");
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(obj, "responses");
        cJSON *gold;
        if (cJSON_IsString(response)) {
            double s = gold_score(g, prompt, response->valuestring);
            sum[f] += s;
            count[f]++;
            gold = cJSON_CreateNumber(s);
        } else if (cJSON_IsArray(responses)) {
            const char **texts;
            int k = response_list(responses, &rec, &texts);
            double *scores = xmalloc(((size_t)k + 1) * sizeof(double));
            score_responses(g, prompt, texts, k, scores);
            gold = cJSON_CreateArray();
            for (int i = 0; i < k; i++) {
                sum[f] += scores[i];
                count[f]++;
                cJSON_AddItemToArray(gold, cJSON_CreateNumber(scores[i]));
            }
            free(texts);
            free(scores);
        } else {
            jsonl_die(&rec, "expected a string field \"response\" or a list field \"responses\"");
        }
        if (out_path) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "gold");
            cJSON_AddItemToObject(obj, "gold", gold);
            jsonl_print(out.f, obj);
        } else {
            cJSON_Delete(gold);
        }
    }
    jsonl_close(r);
    if (out_path) atomic_commit(&out);
    print_summary(g, sum, count, as_json);
    free(sum);
    free(count);
    free(positional);
    gold_free(g);
    return 0;
}

static int gold_annotate_command(int argc, char **argv) {
    const char *tasks = NULL, *sentiment_cmd = NULL;
    float noise = 0.25f, tie_margin = -1;
    int seed = 1;
    Option opts[] = {
        OPT_STR("tasks", &tasks, "comma-separated task files written by demo-data (required)"),
        OPT_FLOAT("noise", &noise, "Bradley-Terry noise: P(i above j) = sigmoid((gold_i - gold_j) / noise); 0 sorts"),
        OPT_FLOAT("tie-margin", &tie_margin, "answers next to each other in the ranking whose gold scores differ by "
                                             "at most this are reported tied ([0, [2, 3], 1]); < 0: never"),
        OPT_INT("seed", &seed, "seed of the annotator's noise"),
        OPT_STR("sentiment-cmd", &sentiment_cmd, SENTIMENT_CMD_HELP), OPT_END};
    char **positional;
    int npos = args_parse("gold annotate", "",
                          "Simulated annotator: reads {\"prompt\",\"responses\":[...]} lines on stdin and writes "
                          "{\"ranking\":[best,...,worst]} lines on stdout, one per input line.",
                          opts, argc, argv, &positional);
    free(positional);
    if (npos) die("gold annotate: unexpected argument (see lmforge gold annotate --help)");
    if (!(noise >= 0)) die("gold annotate: --noise must be >= 0");
    GoldSet *g = load_tasks("gold annotate", tasks);
    gold_set_sentiment_command(g, sentiment_cmd);
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);

    JsonlReader *r = jsonl_open_stream(stdin, "stdin");
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        cJSON *obj = rec.json;
        const char *prompt = line_prompt(g, obj, &rec);
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(obj, "responses");
        int k = cJSON_IsArray(responses) ? cJSON_GetArraySize(responses) : 0;
        if (k < 2) jsonl_die(&rec, "field \"responses\" must be a list of at least 2 strings");
        double *gold = xmalloc((size_t)k * sizeof(double));
        int *ranking = xmalloc((size_t)k * sizeof(int));
        const char **texts;
        response_list(responses, &rec, &texts);
        score_responses(g, prompt, texts, k, gold);
        free(texts);
        gold_rank(gold, k, noise, &rng, ranking);
        /* a person calls two answers equally good rather than order them at random: neighbours within the margin */
        int *tiers = xmalloc((size_t)k * sizeof(int));
        tiers[0] = 0;
        for (int r = 1; r < k; r++)
            tiers[r] = tiers[r - 1] + !(fabs(gold[ranking[r]] - gold[ranking[r - 1]]) <= tie_margin);
        cJSON *out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "ranking", ranking_json(ranking, tiers, k));
        free(tiers);
        jsonl_print(stdout, out); /* flushed: the caller waits for this line before it sends the next */
        cJSON_Delete(out);
        free(gold);
        free(ranking);
    }
    jsonl_close(r);
    gold_free(g);
    return 0;
}

static int gold_judge_command(int argc, char **argv) {
    const char *tasks = NULL, *sentiment_cmd = NULL;
    Option opts[] = {OPT_STR("tasks", &tasks, "comma-separated task files written by demo-data (required)"),
                     OPT_STR("sentiment-cmd", &sentiment_cmd, SENTIMENT_CMD_HELP), OPT_END};
    char **positional;
    int npos = args_parse("gold judge", "",
                          "The gold score as a reward program: reads {\"prompt\": string or messages, \"completion\"} "
                          "lines on stdin and writes {\"reward\",\"family\",\"group\"} lines on stdout, one per "
                          "input line, each flushed (for grpo --reward-cmd).",
                          opts, argc, argv, &positional);
    free(positional);
    if (npos) die("gold judge: unexpected argument (see lmforge gold judge --help)");
    GoldSet *g = load_tasks("gold judge", tasks);
    gold_set_sentiment_command(g, sentiment_cmd);

    JsonlReader *r = jsonl_open_stream(stdin, "stdin");
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        const char *prompt = line_prompt(g, rec.json, &rec);
        const cJSON *completion = cJSON_GetObjectItemCaseSensitive(rec.json, "completion");
        if (!cJSON_IsString(completion)) jsonl_die(&rec, "field \"completion\" must be a string");
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "reward", gold_score(g, prompt, completion->valuestring));
        cJSON_AddStringToObject(out, "family", gold_family(g, prompt));
        cJSON_AddStringToObject(out, "group", gold_group(g, prompt));
        jsonl_print(stdout, out); /* flushed: the caller waits for this line before it sends the next */
        cJSON_Delete(out);
    }
    jsonl_close(r);
    gold_free(g);
    return 0;
}

int cmd_gold(int argc, char **argv) {
    const char *usage = "usage: lmforge gold score|annotate|judge [options] (lmforge gold SUBCOMMAND --help for each)";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s\n\n  score     mean gold score of generated answers, per task family and group\n"
               "  annotate  simulated annotator: rank K answers by gold score + Bradley-Terry noise\n"
               "  judge     the gold score as a reward program (JSON lines in, {\"reward\"} lines out)\n",
               usage);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "score") == 0) return gold_score_command(argc - 1, argv + 1);
    if (strcmp(argv[1], "annotate") == 0) return gold_annotate_command(argc - 1, argv + 1);
    if (strcmp(argv[1], "judge") == 0) return gold_judge_command(argc - 1, argv + 1);
    die("gold: unknown subcommand '%s' (%s)", argv[1], usage);
}
