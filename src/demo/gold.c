/* gold.c — see gold.h. */
#include "gold.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "../base/util.h"
#include "../pipeline/reward_program.h"
#include "judge.h"
#include "../base/jsonl.h"
#include "strutil.h"
#include "tasks.h"

typedef struct {
    int family; /* index into GoldSet.families */
    JudgeKind judge;
    StrList answers; /* the reference answer first, then the other accepted ones */
} GoldTask;

/* The sentiment scorer, started when the first sentiment answer is scored
 * (held apart so that scoring through a const GoldSet can start it). */
typedef struct {
    char *command; /* NULL: gold_sentiment_default_command() */
    RewardProgram *program;
} Sentiment;

struct GoldSet {
    GoldTask *tasks;
    int n, cap;
    StrMap by_prompt; /* trimmed prompt → GoldTask index + 1 */
    StrList families;
    StrList family_groups; /* the group of families.items[i] */
    StrList groups;        /* alphabetical */
    Sentiment *sentiment;
};

static char *trimmed(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return xstrndup(s, n);
}

static const GoldTask *find_task(const GoldSet *g, const char *prompt) {
    char *key = trimmed(prompt);
    intptr_t slot = (intptr_t)strmap_get(&g->by_prompt, key);
    free(key);
    return slot ? &g->tasks[slot - 1] : NULL;
}

/* A family's index; its group is the "group" field, else the demo's group of
 * that family (task files from before groups), else "other". One family, one group. */
static int family_index(GoldSet *g, const char *family, const char *group, const JsonlRecord *r) {
    if (!group) group = tasks_family_group(family);
    if (!group) group = "other";
    for (int i = 0; i < g->families.n; i++)
        if (strcmp(g->families.items[i], family) == 0) {
            if (strcmp(g->family_groups.items[i], group) != 0)
                jsonl_die(r, "family \"%s\" is in group \"%s\" here and \"%s\" before", family, group,
                          g->family_groups.items[i]);
            return i;
        }
    strlist_add(&g->families, family);
    strlist_add(&g->family_groups, group);
    if (!strlist_contains(&g->groups, group)) strlist_add(&g->groups, group);
    return g->families.n - 1;
}

static const char *string_field(const cJSON *obj, const char *field, const JsonlRecord *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!cJSON_IsString(v)) jsonl_die(r, "field \"%s\" must be a string", field);
    return v->valuestring;
}

static int same_task(const GoldTask *a, const GoldTask *b) {
    if (a->family != b->family || a->judge != b->judge || a->answers.n != b->answers.n) return 0;
    for (int i = 0; i < a->answers.n; i++)
        if (strcmp(a->answers.items[i], b->answers.items[i]) != 0) return 0;
    return 1;
}

static void add_task_line(GoldSet *g, const cJSON *obj, const JsonlRecord *r) {
    const cJSON *group = cJSON_GetObjectItemCaseSensitive(obj, "group");
    if (group && !cJSON_IsString(group)) jsonl_die(r, "field \"group\" must be a string");
    GoldTask t = {.family = family_index(g, string_field(obj, "family", r), group ? group->valuestring : NULL, r)};
    const char *prompt = string_field(obj, "prompt", r);
    strlist_add(&t.answers, string_field(obj, "answer", r));
    const cJSON *answers = cJSON_GetObjectItemCaseSensitive(obj, "answers");
    if (answers && !cJSON_IsArray(answers))
        jsonl_die(r, "field \"answers\" must be a list of strings");
    const cJSON *a;
    cJSON_ArrayForEach(a, answers) {
        if (!cJSON_IsString(a)) jsonl_die(r, "field \"answers\" must be a list of strings");
        if (!strlist_contains(&t.answers, a->valuestring)) strlist_add(&t.answers, a->valuestring);
    }
    const cJSON *judge = cJSON_GetObjectItemCaseSensitive(obj, "judge");
    if (!judge) t.judge = JUDGE_EXACT;
    else if (!cJSON_IsString(judge) || judge_parse(judge->valuestring, &t.judge) != 0)
        jsonl_die(r, "field \"judge\" must be one of " JUDGE_NAMES);

    char *key = trimmed(prompt);
    intptr_t slot = (intptr_t)strmap_get(&g->by_prompt, key);
    if (slot) {
        /* The same task listed twice (a file given twice) is harmless; a contradiction is not. */
        if (!same_task(&g->tasks[slot - 1], &t))
            jsonl_die(r, "prompt \"%.60s\" appeared before with a different family, judge or answers", key);
        strlist_free(&t.answers);
    } else {
        if (g->n == g->cap) {
            g->cap = g->cap ? 2 * g->cap : 256;
            g->tasks = xrealloc(g->tasks, (size_t)g->cap * sizeof(GoldTask));
        }
        g->tasks[g->n++] = t;
        strmap_put(&g->by_prompt, key, (void *)(intptr_t)g->n);
    }
    free(key);
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Families (and groups) in alphabetical order, whatever the order of the task files. */
static void sort_families(GoldSet *g) {
    StrList sorted = {0}, sorted_groups = {0};
    for (int i = 0; i < g->families.n; i++) strlist_add(&sorted, g->families.items[i]);
    qsort(sorted.items, (size_t)sorted.n, sizeof(char *), compare_strings);
    int *new_index = xmalloc((size_t)g->families.n * sizeof(int));
    for (int i = 0; i < g->families.n; i++)
        for (int j = 0; j < sorted.n; j++)
            if (strcmp(g->families.items[i], sorted.items[j]) == 0) new_index[i] = j;
    for (int j = 0; j < sorted.n; j++)
        for (int i = 0; i < g->families.n; i++)
            if (new_index[i] == j) strlist_add(&sorted_groups, g->family_groups.items[i]);
    for (int t = 0; t < g->n; t++) g->tasks[t].family = new_index[g->tasks[t].family];
    free(new_index);
    strlist_free(&g->families);
    strlist_free(&g->family_groups);
    g->families = sorted;
    g->family_groups = sorted_groups;
    qsort(g->groups.items, (size_t)g->groups.n, sizeof(char *), compare_strings);
}

GoldSet *gold_load(const char **task_files, int n) {
    GoldSet *g = xcalloc(1, sizeof(GoldSet));
    for (int i = 0; i < n; i++) {
        JsonlReader *r = jsonl_open(task_files[i]);
        JsonlRecord rec;
        while (jsonl_next(r, &rec)) add_task_line(g, rec.json, &rec);
        jsonl_close(r);
    }
    if (g->n == 0) die("no tasks in the task files (%s%s)", n ? task_files[0] : "none given", n > 1 ? ", ..." : "");
    sort_families(g);
    g->sentiment = xcalloc(1, sizeof(Sentiment));
    return g;
}

const char *gold_family(const GoldSet *g, const char *prompt) {
    const GoldTask *t = find_task(g, prompt);
    return t ? g->families.items[t->family] : NULL;
}

const char *gold_answer(const GoldSet *g, const char *prompt) {
    const GoldTask *t = find_task(g, prompt);
    return t ? t->answers.items[0] : NULL;
}

const char *gold_group(const GoldSet *g, const char *prompt) {
    const GoldTask *t = find_task(g, prompt);
    return t ? g->family_groups.items[t->family] : NULL;
}

const char *gold_family_group(const GoldSet *g, const char *family) {
    for (int i = 0; i < g->families.n; i++)
        if (strcmp(g->families.items[i], family) == 0) return g->family_groups.items[i];
    return NULL;
}

int gold_n_groups(const GoldSet *g) { return g->groups.n; }

const char *gold_group_name(const GoldSet *g, int i) { return g->groups.items[i]; }

static const GoldTask *known_task(const GoldSet *g, const char *prompt) {
    const GoldTask *t = find_task(g, prompt);
    if (!t) die("gold: prompt \"%.80s\" is not in the task files", prompt);
    return t;
}

/* ---- the sentiment scorer ---- */

static char *npm_cache_dir(void) {
    const char *dir = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    if (dir && *dir) return xstrdup(dir);
    return xsprintf("%s/.cache/lmforge-npm", home && *home ? home : "/tmp");
}

static int on_path(const char *program) {
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = path_join(*d ? d : ".", program);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

/* scripts/sentiment_judge.js of the source tree the running binary was built
 * in (build/lmforge → ../scripts), else of the current directory. */
static char *sentiment_script(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char *script = xsprintf("%s/../scripts/sentiment_judge.js", exe);
            if (file_exists(script)) return script;
            free(script);
        }
    }
    return xstrdup("scripts/sentiment_judge.js");
}

char *gold_sentiment_default_command(void) {
    const char *env = getenv("LMF_SENTIMENT_CMD");
    if (env && *env) return xstrdup(env);
    char *script = sentiment_script(), *cache = npm_cache_dir();
    char *package = xsprintf("%s/vader-sentiment/node_modules/vader-sentiment/package.json", cache);
    const char *how = "run `sh scripts/npm_cache.sh` (make demo does), or point LMF_SENTIMENT_CMD or --sentiment-cmd "
                      "at another scorer";
    if (!on_path("node"))
        die("gold: the sentiment family is scored by the npm package vader-sentiment, and node is not installed "
            "(install nodejs and npm, then %s)", how);
    if (!file_exists(package))
        die("gold: the sentiment family is scored by the npm package vader-sentiment, which is not in %s: %s", cache,
            how);
    if (!file_exists(script)) die("gold: the sentiment scorer %s is missing", script);
    char *command = xsprintf("node '%s'", script);
    free(script);
    free(cache);
    free(package);
    return command;
}

void gold_set_sentiment_command(GoldSet *g, const char *command) {
    if (g->sentiment->program) die("gold_set_sentiment_command: the scorer has already started");
    free(g->sentiment->command);
    g->sentiment->command = command && *command ? xstrdup(command) : NULL;
}

/* Scores the n answers of sentiment tasks in one exchange with the scorer. */
static void score_sentiment(const GoldSet *g, const char *const *prompts, const char *const *responses, int n,
                            double *out) {
    Sentiment *s = g->sentiment;
    if (!s->program) {
        if (!s->command) s->command = gold_sentiment_default_command();
        s->program = reward_program_start(s->command, 60);
    }
    cJSON **requests = xmalloc((size_t)n * sizeof(cJSON *));
    float *rewards = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        requests[i] = cJSON_CreateObject();
        cJSON_AddStringToObject(requests[i], "prompt", prompts[i]);
        cJSON_AddStringToObject(requests[i], "completion", responses[i]);
    }
    char *error = reward_program_score(s->program, requests, n, rewards);
    if (error) die("gold: the sentiment scorer failed: %s", error);
    for (int i = 0; i < n; i++) {
        out[i] = rewards[i];
        cJSON_Delete(requests[i]);
    }
    free(requests);
    free(rewards);
}

void gold_score_many(const GoldSet *g, const char *const *prompts, const char *const *responses, int n,
                     double *scores) {
    const char **sp = xmalloc(((size_t)n + 1) * sizeof(char *)), **sr = xmalloc(((size_t)n + 1) * sizeof(char *));
    int *where = xmalloc(((size_t)n + 1) * sizeof(int)), m = 0;
    for (int i = 0; i < n; i++) {
        const GoldTask *t = known_task(g, prompts[i]);
        if (t->judge == JUDGE_SENTIMENT) {
            sp[m] = prompts[i];
            sr[m] = responses[i];
            where[m++] = i;
        } else {
            scores[i] = judge_score(t->judge, responses[i], t->answers.items, t->answers.n);
        }
    }
    if (m) {
        double *s = xmalloc((size_t)m * sizeof(double));
        score_sentiment(g, sp, sr, m, s);
        for (int j = 0; j < m; j++) scores[where[j]] = s[j];
        free(s);
    }
    free(sp);
    free(sr);
    free(where);
}

double gold_score(const GoldSet *g, const char *prompt, const char *response) {
    double s;
    gold_score_many(g, &prompt, &response, 1, &s);
    return s;
}

double gold_exact(const GoldSet *g, const char *prompt, const char *response) {
    const GoldTask *t = known_task(g, prompt);
    JudgeKind exact;
    if (judge_exact_kind(t->judge, &exact) != 0) return -1;
    return judge_score(exact, response, t->answers.items, t->answers.n);
}

int gold_n_families(const GoldSet *g) { return g->families.n; }

const char *gold_family_name(const GoldSet *g, int i) { return g->families.items[i]; }

void gold_free(GoldSet *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) strlist_free(&g->tasks[i].answers);
    free(g->tasks);
    strmap_free(&g->by_prompt);
    strlist_free(&g->families);
    strlist_free(&g->family_groups);
    strlist_free(&g->groups);
    if (g->sentiment) {
        reward_program_stop(g->sentiment->program);
        free(g->sentiment->command);
        free(g->sentiment);
    }
    free(g);
}

/* A standard Gumbel draw, -log(-log U) with U strictly inside (0, 1). */
static double gumbel(Rng *rng) {
    double u = ((double)(rng_u64(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return -log(-log(u));
}

void gold_rank(const double *gold, int k, double noise, Rng *rng, int *ranking_out) {
    if (!(noise >= 0)) die("gold_rank: noise must be >= 0, got %g", noise);
    double *key = xmalloc((size_t)k * sizeof(double));
    for (int i = 0; i < k; i++) {
        ranking_out[i] = i;
        key[i] = noise > 0 ? gold[i] / noise + gumbel(rng) : gold[i];
    }
    /* Shuffling first, then sorting stably, puts equal keys in random order. */
    rng_shuffle_ints(rng, ranking_out, k);
    for (int i = 1; i < k; i++) {
        int x = ranking_out[i], j = i;
        while (j > 0 && key[ranking_out[j - 1]] < key[x]) {
            ranking_out[j] = ranking_out[j - 1];
            j--;
        }
        ranking_out[j] = x;
    }
    free(key);
}

const char *gold_prompt_text(const cJSON *prompt_field) {
    if (cJSON_IsString(prompt_field)) return prompt_field->valuestring;
    if (!cJSON_IsArray(prompt_field)) return NULL;
    const char *last_user = NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, prompt_field) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0 && cJSON_IsString(content))
            last_user = content->valuestring;
    }
    return last_user;
}
