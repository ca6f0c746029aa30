/* task_prompts.c — see task_prompts.h. */
#include "task_prompts.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

/* Fields the loader interprets; the rest go to reward programs. */
static int is_known_field(const char *name) {
    return strcmp(name, "prompt") == 0 || strcmp(name, "messages") == 0 || strcmp(name, "answer") == 0 ||
           strcmp(name, "completion") == 0;
}

static char *answer_of(const JsonlRecord *rec) {
    const char *field = cJSON_GetObjectItemCaseSensitive(rec->json, "answer") ? "answer" : "completion";
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec->json, field);
    if (!a) return NULL;
    if (cJSON_IsString(a)) {
        if (jsonl_text_is_blank(a->valuestring)) jsonl_die(rec, "field \"%s\" is blank", field);
        return xstrdup(a->valuestring);
    }
    if (cJSON_IsNumber(a)) return cJSON_PrintUnformatted(a);
    jsonl_die(rec, "field \"%s\" must be a string or a number", field);
}

TaskPrompt *load_task_prompts(const char *path, int need_answer, int *n_out) {
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    TaskPrompt *tasks = NULL;
    int n = 0, cap = 0;
    while (jsonl_next(r, &rec)) {
        int has_messages = cJSON_GetObjectItemCaseSensitive(rec.json, "messages") != NULL;
        TaskPrompt t = {jsonl_get_conversation(&rec, has_messages ? "messages" : "prompt"), answer_of(&rec),
                        cJSON_CreateObject()};
        /* a reference answer closing the chat is not part of the prompt */
        Conversation *c = &t.prompt;
        if (c->n > 0 && strcmp(c->msgs[c->n - 1].role, "assistant") == 0 && !t.answer)
            t.answer = xstrdup(c->msgs[c->n - 1].content);
        while (c->n > 0 && strcmp(c->msgs[c->n - 1].role, "assistant") == 0) conversation_drop(c, c->n - 1, 1);
        if (c->n == 0) jsonl_die(&rec, "the chat has no user message to answer");
        if (need_answer && !t.answer)
            jsonl_die(&rec, "field \"answer\" is missing: a verifier needs the gold answer of every prompt");
        const cJSON *f;
        cJSON_ArrayForEach(f, rec.json) if (!is_known_field(f->string))
            cJSON_AddItemToObject(t.fields, f->string, cJSON_Duplicate(f, 1));
        if (n == cap) tasks = xrealloc(tasks, sizeof(TaskPrompt) * (size_t)(cap = cap ? 2 * cap : 64));
        tasks[n++] = t;
    }
    jsonl_close(r);
    if (n == 0) die("%s: no prompts (expected {\"prompt\": ..., \"answer\": ...} lines)", path);
    *n_out = n;
    return tasks;
}

void task_prompts_free(TaskPrompt *p, int n) {
    for (int i = 0; i < n; i++) {
        conversation_free(&p[i].prompt);
        free(p[i].answer);
        cJSON_Delete(p[i].fields);
    }
    free(p);
}

cJSON *task_reward_request(const TaskPrompt *t, const char *completion) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "prompt", conversation_to_json(&t->prompt));
    cJSON_AddStringToObject(req, "completion", completion);
    if (t->answer) cJSON_AddStringToObject(req, "answer", t->answer);
    const cJSON *f;
    cJSON_ArrayForEach(f, t->fields) cJSON_AddItemToObject(req, f->string, cJSON_Duplicate(f, 1));
    return req;
}
