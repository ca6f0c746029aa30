/* label_stats.c — the report of `lmforge label stats`; see label_stats.h. */
#include "label_stats.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/jsonl.h"
#include "../base/util.h"

/* One ranking: its prompt's identity, who, how long, and each answer's place. */
typedef struct {
    char *key, *labeler;
    double seconds;
    int *place, k;
} Ranked;

typedef struct {
    const char *name;
    long rankings, all_bad;
    double seconds;
} PerLabeler;

static int by_key(const void *a, const void *b) { return strcmp(((const Ranked *)a)->key, ((const Ranked *)b)->key); }
static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Each answer's place (0 best; tied answers share one) from a "ranking". */
static int *places(const JsonlRecord *rec, int k) {
    int *place = xmalloc(sizeof(int) * (size_t)k), seen = 0;
    for (int i = 0; i < k; i++) place[i] = -1;
    const cJSON *ranking = jsonl_get_array(rec, "ranking"), *entry;
    int at = 0;
    cJSON_ArrayForEach(entry, ranking) {
        int n = cJSON_IsArray(entry) ? cJSON_GetArraySize(entry) : 1;
        for (int j = 0; j < n; j++) {
            const cJSON *v = cJSON_IsArray(entry) ? cJSON_GetArrayItem(entry, j) : entry;
            int idx = cJSON_IsNumber(v) ? v->valueint : -1;
            if (idx < 0 || idx >= k || place[idx] >= 0)
                jsonl_die(rec, "field \"ranking\" is not a permutation of the %d responses", k);
            place[idx] = at;
            seen++;
        }
        at++;
    }
    if (seen != k) jsonl_die(rec, "field \"ranking\" is not a permutation of the %d responses", k);
    return place;
}

/* Agreement of two rankings of one prompt's answers: pairs both order, and of those the ones in the same order. */
static void compare(const Ranked *a, const Ranked *b, long *pairs, long *agreed) {
    for (int i = 0; i < a->k; i++)
        for (int j = i + 1; j < a->k; j++) {
            int da = (a->place[i] > a->place[j]) - (a->place[i] < a->place[j]);
            int db = (b->place[i] > b->place[j]) - (b->place[i] < b->place[j]);
            if (da == 0 || db == 0) continue;
            (*pairs)++;
            *agreed += da == db;
        }
}

LabelStats label_stats_report(const char *path, FILE *out) {
    LabelStats st = {0};
    Ranked *r = NULL;
    PerLabeler *who = NULL;
    int n_who = 0;
    long cap = 0;
    JsonlReader *reader = jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(reader, &rec)) {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec.json, "prompt");
        const cJSON *responses = jsonl_get_array(&rec, "responses");
        if (!prompt) jsonl_die(&rec, "field \"prompt\" is missing");
        const char *name = jsonl_opt_string(&rec, "labeler");
        const cJSON *secs = cJSON_GetObjectItemCaseSensitive(rec.json, "seconds");
        if (st.rankings == cap) {
            cap = cap ? 2 * cap : 64;
            r = xrealloc(r, sizeof(Ranked) * (size_t)cap);
        }
        Ranked *x = &r[st.rankings++];
        char *p = cJSON_PrintUnformatted(prompt), *s = cJSON_PrintUnformatted(responses);
        x->key = xsprintf("%s\n%s", p, s);
        free(p);
        free(s);
        x->labeler = xstrdup(name ? name : "(unnamed)");
        x->seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
        x->k = cJSON_GetArraySize(responses);
        x->place = places(&rec, x->k);
        int w = 0;
        while (w < n_who && strcmp(who[w].name, x->labeler) != 0) w++;
        if (w == n_who) {
            who = xrealloc(who, sizeof(PerLabeler) * (size_t)(n_who + 1));
            who[n_who++] = (PerLabeler){x->labeler, 0, 0, 0};
        }
        int all_bad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec.json, "all_bad"));
        who[w].rankings++;
        who[w].seconds += x->seconds;
        who[w].all_bad += all_bad;
        st.all_bad += all_bad;
    }
    jsonl_close(reader);
    if (st.rankings == 0) die("label stats: %s holds no ranking", path);

    double *times = xmalloc(sizeof(double) * (size_t)st.rankings), total = 0;
    for (long i = 0; i < st.rankings; i++) total += times[i] = r[i].seconds;
    qsort(times, (size_t)st.rankings, sizeof(double), by_value);
    st.mean_seconds = total / (double)st.rankings;
    st.median_seconds = st.rankings % 2 ? times[st.rankings / 2]
                                        : (times[st.rankings / 2 - 1] + times[st.rankings / 2]) / 2;
    free(times);

    /* the rankings of one prompt side by side; each two by different people compared */
    qsort(r, (size_t)st.rankings, sizeof(Ranked), by_key);
    for (long i = 0, j; i < st.rankings; i = j) {
        int shared = 0;
        for (j = i + 1; j < st.rankings && strcmp(r[j].key, r[i].key) == 0; j++) {}
        st.prompts++;
        for (long a = i; a < j; a++)
            for (long b = a + 1; b < j; b++)
                if (strcmp(r[a].labeler, r[b].labeler) != 0 && r[a].k == r[b].k) {
                    compare(&r[a], &r[b], &st.pairs, &st.agreed_pairs);
                    shared = 1;
                }
        st.shared_prompts += shared;
    }

    fprintf(out, "%s: %ld rankings of %ld prompts by %d labeler%s, %ld all bad\n", path, st.rankings, st.prompts,
            n_who, n_who == 1 ? "" : "s", st.all_bad);
    fprintf(out, "time per prompt: mean %.1f s, median %.1f s\n", st.mean_seconds, st.median_seconds);
    for (int w = 0; w < n_who; w++)
        fprintf(out, "labeler %s: %ld rankings, %.1f s per prompt, %.1f s in all, %ld all bad\n", who[w].name,
                who[w].rankings, who[w].seconds / (double)who[w].rankings, who[w].seconds, who[w].all_bad);
    if (st.pairs > 0)
        fprintf(out, "agreement: %.1f %% of %ld answer pairs that two labelers both ordered (%ld prompts ranked by two)\n",
                100.0 * (double)st.agreed_pairs / (double)st.pairs, st.pairs, st.shared_prompts);
    else
        fprintf(out, "agreement: no answer pair ordered by two labelers (%ld prompts ranked by two; label with "
                     "--overlap to have some)\n", st.shared_prompts);
    for (long i = 0; i < st.rankings; i++) {
        free(r[i].key);
        free(r[i].labeler);
        free(r[i].place);
    }
    free(r);
    free(who);
    return st;
}
