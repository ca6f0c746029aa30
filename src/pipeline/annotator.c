/* annotator.c — see annotator.h. */
#include "annotator.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"
#include "child_process.h"

struct Annotator {
    ChildProcess *child;
};

Annotator *annotator_start(const char *command) {
    Annotator *a = xcalloc(1, sizeof(Annotator));
    a->child = child_start("annotator", command);
    return a;
}

/* Reads one element of a ranking, an index in [0, k) not seen before, into
 * ranking[*at] with tier t. Returns 0 on anything else. */
static int take_index(const cJSON *v, int k, char *seen, int *ranking, int *tiers, int *at, int t) {
    if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble || v->valueint < 0 || v->valueint >= k ||
        seen[v->valueint] || *at >= k)
        return 0;
    seen[v->valueint] = 1;
    ranking[*at] = v->valueint;
    tiers[(*at)++] = t;
    return 1;
}

void annotator_rank(Annotator *a, const cJSON *prompt, const char *const *responses, int k, int *ranking,
                    int *tiers) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "prompt", cJSON_Duplicate(prompt, 1));
    cJSON_AddItemToObject(req, "responses", cJSON_CreateStringArray(responses, k));
    char *error, *reply = child_ask(a->child, req, 0, &error);
    cJSON_Delete(req);
    if (!reply) die("%s", error);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "ranking");
    int *tier = tiers ? tiers : xmalloc(sizeof(int) * (size_t)k);
    char *seen = xcalloc((size_t)k, 1);
    int ok = cJSON_IsArray(list), at = 0, t = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) { /* an index, or a list of tied ones (at least one) */
        if (!ok) break;
        if (cJSON_IsArray(item)) {
            const cJSON *v;
            ok = cJSON_GetArraySize(item) > 0;
            cJSON_ArrayForEach(v, item) ok = ok && take_index(v, k, seen, ranking, tier, &at, t);
        } else {
            ok = take_index(item, k, seen, ranking, tier, &at, t);
        }
        t++;
    }
    if (!ok || at != k)
        die("%s: reply %ld must be {\"ranking\": [...]} holding each of 0..%d once, got: %.200s (tied answers may "
            "share a list: [0, [2, 3], 1])",
            child_name(a->child), child_requests(a->child), k - 1, reply);
    if (!tiers) free(tier);
    free(seen);
    cJSON_Delete(j);
    free(reply);
}

cJSON *ranking_json(const int *ranking, const int *tiers, int n) {
    cJSON *order = cJSON_CreateArray();
    for (int r = 0; r < n;) {
        int end = r + 1;
        while (end < n && tiers[end] == tiers[r]) end++;
        if (end - r == 1) {
            cJSON_AddItemToArray(order, cJSON_CreateNumber(ranking[r]));
        } else {
            cJSON_AddItemToArray(order, cJSON_CreateIntArray(ranking + r, end - r));
        }
        r = end;
    }
    return order;
}

void annotator_stop(Annotator *a) {
    char *error = child_stop(a->child);
    if (error) die("%s", error);
    free(a);
}

void annotator_write_comparisons(const char *command, const cJSON *const *prompts, int n,
                                 const char *const *answers, int K, const char *path) {
    JsonlWriter *w = jsonl_writer_open(path);
    Annotator *a = annotator_start(command);
    const char **kept = xmalloc(sizeof(char *) * (size_t)K);
    int *ranking = xmalloc(sizeof(int) * (size_t)K), *new_index = xmalloc(sizeof(int) * (size_t)K);
    int *kept_ranking = xmalloc(sizeof(int) * (size_t)K), blank = 0, dropped = 0;
    int *tiers = xmalloc(sizeof(int) * (size_t)K), *kept_tiers = xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < n; i++) {
        const char *const *texts = answers + (size_t)i * K;
        annotator_rank(a, prompts[i], texts, K, ranking, tiers);
        int n_kept = 0;
        for (int k = 0; k < K; k++) {
            new_index[k] = preference_answer_is_blank(texts[k]) ? -1 : n_kept;
            if (new_index[k] < 0) blank++;
            else kept[n_kept++] = texts[k];
        }
        for (int r = 0, j = 0; r < K; r++)
            if (new_index[ranking[r]] >= 0) {
                kept_tiers[j] = tiers[r];
                kept_ranking[j++] = new_index[ranking[r]];
            }
        if (n_kept < 2) {
            dropped++;
            continue;
        }
        cJSON *line = cJSON_CreateObject();
        cJSON_AddItemToObject(line, "prompt", cJSON_Duplicate(prompts[i], 1));
        cJSON_AddItemToObject(line, "responses", cJSON_CreateStringArray(kept, n_kept));
        cJSON_AddItemToObject(line, "ranking", ranking_json(kept_ranking, kept_tiers, n_kept));
        jsonl_write(w, line);
        cJSON_Delete(line);
    }
    if (blank)
        info("%d blank answers left out of the comparisons (%d prompts with fewer than 2 others dropped)", blank,
             dropped);
    annotator_stop(a);
    jsonl_writer_close(w);
    free(kept);
    free(ranking);
    free(new_index);
    free(kept_ranking);
    free(tiers);
    free(kept_tiers);
}
