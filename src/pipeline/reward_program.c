/* reward_program.c — see reward_program.h. */
#include "reward_program.h"

#include <math.h>
#include <stdlib.h>

#include "../base/util.h"
#include "child_process.h"

struct RewardProgram {
    ChildProcess *child;
    double timeout;
    int failed;
};

RewardProgram *reward_program_start(const char *command, double timeout_seconds) {
    RewardProgram *p = xcalloc(1, sizeof(RewardProgram));
    p->child = child_start("reward program", command);
    p->timeout = timeout_seconds;
    return p;
}

char *reward_program_score(RewardProgram *p, cJSON *const *requests, int n, float *rewards) {
    return reward_program_score_replies(p, requests, n, rewards, NULL);
}

char *reward_program_score_replies(RewardProgram *p, cJSON *const *requests, int n, float *rewards, cJSON **replies) {
    if (p->failed) return xsprintf("%s has stopped after an earlier error", child_name(p->child));
    for (int i = 0; i < n; i++) {
        char *error, *reply = child_ask(p->child, requests[i], p->timeout, &error);
        if (!reply) {
            p->failed = 1;
            if (replies)
                for (int k = 0; k < i; k++) cJSON_Delete(replies[k]), replies[k] = NULL;
            return error;
        }
        cJSON *j = cJSON_Parse(reply);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reward");
        if (!cJSON_IsNumber(r) || !isfinite(r->valuedouble)) {
            error = xsprintf("%s: reply %ld must be {\"reward\": a finite number}, got: %.200s", child_name(p->child),
                             child_requests(p->child), reply);
            cJSON_Delete(j);
            free(reply);
            p->failed = 1;
            child_kill(p->child);
            if (replies)
                for (int k = 0; k < i; k++) cJSON_Delete(replies[k]), replies[k] = NULL;
            return error;
        }
        rewards[i] = (float)r->valuedouble;
        if (replies) replies[i] = j;
        else cJSON_Delete(j);
        free(reply);
    }
    return NULL;
}

void reward_program_stop(RewardProgram *p) {
    if (!p) return;
    if (p->failed) child_kill(p->child);
    char *error = child_stop(p->child);
    if (error && !p->failed) warn("%s", error);
    free(error);
    free(p);
}
