/* gold.c — see gold.h. */
#include "gold.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "judge.h"
#include "../base/jsonl.h"
#include "strutil.h"

typedef struct {
    int family; /* index into GoldSet.families */
    JudgeKind judge;
    StrList answers; /* the reference answer first, then the other accepted ones */
} GoldTask;

struct GoldSet {
    GoldTask *tasks;
    int n, cap;
    StrMap by_prompt; /* trimmed prompt → GoldTask index + 1 */
    StrList families;
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

static int family_index(GoldSet *g, const char *family) {
    for (int i = 0; i < g->families.n; i++)
        if (strcmp(g->families.items[i], family) == 0) return i;
    strlist_add(&g->families, family);
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
    GoldTask t = {.family = family_index(g, string_field(obj, "family", r))};
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
        jsonl_die(r, "field \"judge\" must be \"exact\", \"exact-case\" or \"f1\"");

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

/* Families in alphabetical order, whatever the order of the task files. */
static void sort_families(GoldSet *g) {
    StrList sorted = {0};
    for (int i = 0; i < g->families.n; i++) strlist_add(&sorted, g->families.items[i]);
    qsort(sorted.items, (size_t)sorted.n, sizeof(char *), compare_strings);
    int *new_index = xmalloc((size_t)g->families.n * sizeof(int));
    for (int i = 0; i < g->families.n; i++)
        for (int j = 0; j < sorted.n; j++)
            if (strcmp(g->families.items[i], sorted.items[j]) == 0) new_index[i] = j;
    for (int t = 0; t < g->n; t++) g->tasks[t].family = new_index[g->tasks[t].family];
    free(new_index);
    strlist_free(&g->families);
    g->families = sorted;
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

double gold_score(const GoldSet *g, const char *prompt, const char *response) {
    const GoldTask *t = find_task(g, prompt);
    if (!t) die("gold: prompt \"%.80s\" is not in the task files", prompt);
    return judge_score(t->judge, response, t->answers.items, t->answers.n);
}

int gold_n_families(const GoldSet *g) { return g->families.n; }

const char *gold_family_name(const GoldSet *g, int i) { return g->families.items[i]; }

void gold_free(GoldSet *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) strlist_free(&g->tasks[i].answers);
    free(g->tasks);
    strmap_free(&g->by_prompt);
    strlist_free(&g->families);
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
