/* annotator.c — see annotator.h. */
#include "annotator.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "child_process.h"

struct Annotator {
    ChildProcess *child;
};

Annotator *annotator_start(const char *command) {
    Annotator *a = xcalloc(1, sizeof(Annotator));
    a->child = child_start("annotator", command);
    return a;
}

void annotator_rank(Annotator *a, const cJSON *prompt, const char *const *responses, int k, int *ranking) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "prompt", cJSON_Duplicate(prompt, 1));
    cJSON_AddItemToObject(req, "responses", cJSON_CreateStringArray(responses, k));
    char *error, *reply = child_ask(a->child, req, 0, &error);
    cJSON_Delete(req);
    if (!reply) die("%s", error);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "ranking");
    int ok = cJSON_IsArray(list) && cJSON_GetArraySize(list) == k;
    char *seen = xcalloc((size_t)k, 1);
    for (int i = 0; ok && i < k; i++) {
        const cJSON *v = cJSON_GetArrayItem(list, i);
        ok = cJSON_IsNumber(v) && v->valuedouble == (int)v->valuedouble && v->valueint >= 0 && v->valueint < k &&
             !seen[v->valueint];
        if (ok) seen[ranking[i] = v->valueint] = 1;
    }
    if (!ok)
        die("%s: reply %ld must be {\"ranking\": [...]} holding each of 0..%d once, got: %.200s", child_name(a->child),
            child_requests(a->child), k - 1, reply);
    free(seen);
    cJSON_Delete(j);
    free(reply);
}

void annotator_stop(Annotator *a) {
    char *error = child_stop(a->child);
    if (error) die("%s", error);
    free(a);
}
