/* chat_data.c — see chat_data.h. */
#include "chat_data.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

static int known_role(const char *r) {
    return strcmp(r, "system") == 0 || strcmp(r, "user") == 0 || strcmp(r, "assistant") == 0;
}

Conversation jsonl_get_conversation(const JsonlRecord *rec, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json, field);
    if (!v || cJSON_IsNull(v)) jsonl_die(rec, "field \"%s\" is missing", field);
    Conversation c = {0};
    /* "messages" names a list; a string there is a mistake, not a prompt. */
    if (strcmp(field, "messages") == 0 && !cJSON_IsArray(v))
        jsonl_die(rec, "field \"messages\" must be a list of {\"role\": ..., \"content\": ...} messages, not %s",
                  cJSON_IsString(v) ? "a string" : cJSON_IsObject(v) ? "an object" : "a number or boolean");
    if (cJSON_IsString(v)) {
        if (jsonl_text_is_blank(v->valuestring)) jsonl_die(rec, "field \"%s\" is empty (or only white space)", field);
        c.msgs = xcalloc(1, sizeof(ChatMessage));
        c.msgs[0] = (ChatMessage){xstrdup("user"), xstrdup(v->valuestring)};
        c.n = 1;
        return c;
    }
    if (!cJSON_IsArray(v)) jsonl_die(rec, "field \"%s\" must be a string or a list of messages", field);
    int n = cJSON_GetArraySize(v);
    if (n == 0) jsonl_die(rec, "field \"%s\" is an empty list of messages", field);
    c.msgs = xcalloc((size_t)n, sizeof(ChatMessage));
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        if (!cJSON_IsObject(m)) jsonl_die(rec, "field \"%s\"[%d] must be an object with role and content", field, c.n);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role || cJSON_IsNull(role)) jsonl_die(rec, "field \"%s\"[%d]: \"role\" is missing", field, c.n);
        if (!cJSON_IsString(role)) jsonl_die(rec, "field \"%s\"[%d]: \"role\" must be a string", field, c.n);
        if (!known_role(role->valuestring))
            jsonl_die(rec, "field \"%s\"[%d]: unknown role \"%s\" (system, user or assistant)", field, c.n,
                      role->valuestring);
        if (!content || cJSON_IsNull(content)) jsonl_die(rec, "field \"%s\"[%d]: \"content\" is missing", field, c.n);
        if (!cJSON_IsString(content)) jsonl_die(rec, "field \"%s\"[%d]: \"content\" must be a string", field, c.n);
        /* A blank prompt turn says nothing to answer; a blank answer is
         * checked where answers are trained on (an empty generated response
         * may still be scored). */
        if (strcmp(role->valuestring, "assistant") != 0 && jsonl_text_is_blank(content->valuestring))
            jsonl_die(rec, "field \"%s\"[%d]: the %s message is empty (or only white space)", field, c.n,
                      role->valuestring);
        c.msgs[c.n++] = (ChatMessage){xstrdup(role->valuestring), xstrdup(content->valuestring)};
    }
    return c;
}

Conversation conversation_copy(const ChatMessage *msgs, int n) {
    Conversation c = {xcalloc((size_t)LMF_MAX(n, 1), sizeof(ChatMessage)), n};
    for (int i = 0; i < n; i++) c.msgs[i] = (ChatMessage){xstrdup(msgs[i].role), xstrdup(msgs[i].content)};
    return c;
}

void conversation_add(Conversation *c, const char *role, const char *content) {
    c->msgs = xrealloc(c->msgs, sizeof(ChatMessage) * (size_t)(c->n + 1));
    c->msgs[c->n++] = (ChatMessage){xstrdup(role), xstrdup(content)};
}

void conversation_drop(Conversation *c, int from, int count) {
    if (count == 0) return; /* an empty conversation may have no message array to move */
    for (int i = from; i < from + count; i++) {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
    }
    memmove(c->msgs + from, c->msgs + from + count, sizeof(ChatMessage) * (size_t)(c->n - from - count));
    c->n -= count;
}

void conversation_free(Conversation *c) {
    conversation_drop(c, 0, c->n);
    free(c->msgs);
    c->msgs = NULL;
}

cJSON *conversation_to_json(const Conversation *c) {
    if (c->n == 1 && strcmp(c->msgs[0].role, "user") == 0) return cJSON_CreateString(c->msgs[0].content);
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < c->n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", c->msgs[i].role);
        cJSON_AddStringToObject(m, "content", c->msgs[i].content);
        cJSON_AddItemToArray(list, m);
    }
    return list;
}

Conversation *load_prompts(const char *path, int *n_out) {
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    Conversation *prompts = NULL;
    int n = 0, cap = 0;
    while (jsonl_next(r, &rec)) {
        int has_messages = cJSON_GetObjectItemCaseSensitive(rec.json, "messages") != NULL;
        Conversation c = jsonl_get_conversation(&rec, has_messages ? "messages" : "prompt");
        while (c.n > 0 && strcmp(c.msgs[c.n - 1].role, "assistant") == 0) conversation_drop(&c, c.n - 1, 1);
        if (c.n == 0) jsonl_die(&rec, "the chat has no user message to answer");
        if (n == cap) prompts = xrealloc(prompts, sizeof(Conversation) * (size_t)(cap = cap ? 2 * cap : 64));
        prompts[n++] = c;
    }
    jsonl_close(r);
    if (n == 0) die("%s: no prompts (expected {\"prompt\": ...} or {\"messages\": [...]} lines)", path);
    *n_out = n;
    return prompts;
}

void render_prompt(const Tokenizer *t, const Conversation *prompt, IntVec *ids) {
    chat_render(t, prompt->msgs, prompt->n, 1, 0, ids, NULL);
}

RenderedPrompts render_prompts(const Tokenizer *t, const Conversation *prompts, const int *which, int n) {
    RenderedPrompts r = {n, xcalloc((size_t)LMF_MAX(n, 1), sizeof(IntVec)), xmalloc(sizeof(int *) * (size_t)LMF_MAX(n, 1)),
                         xmalloc(sizeof(int) * (size_t)LMF_MAX(n, 1))};
    for (int i = 0; i < n; i++) {
        render_prompt(t, &prompts[which ? which[i] : i], &r.ids[i]);
        r.tokens[i] = r.ids[i].data;
        r.lens[i] = r.ids[i].len;
    }
    return r;
}

void rendered_prompts_free(RenderedPrompts *r) {
    for (int i = 0; i < r->n; i++) intvec_free(&r->ids[i]);
    free(r->ids);
    free(r->tokens);
    free(r->lens);
    *r = (RenderedPrompts){0};
}

void render_exchange(const Tokenizer *t, const Conversation *prompt, const char *response, IntVec *ids, IntVec *mask) {
    ChatMessage *msgs = xmalloc(sizeof(ChatMessage) * (size_t)(prompt->n + 1));
    memcpy(msgs, prompt->msgs, sizeof(ChatMessage) * (size_t)prompt->n);
    msgs[prompt->n] = (ChatMessage){"assistant", response};
    chat_render(t, msgs, prompt->n + 1, 0, 1, ids, mask);
    free(msgs);
}

void render_continuation(const Tokenizer *t, const char *prefix, const char *continuation, IntVec *ids, IntVec *mask) {
    ids->len = mask->len = 0;
    tokenizer_encode(t, prefix, strlen(prefix), 0, ids);
    int prefix_len = ids->len;
    tokenizer_encode(t, continuation, strlen(continuation), 0, ids);
    for (int i = 0; i < ids->len; i++) intvec_push(mask, i >= prefix_len);
}

static int first_marked(const IntVec *mask) {
    int i = 0;
    while (i < mask->len && !mask->data[i]) i++;
    return i;
}

int fit_prompt_cut(const IntVec *ids, const IntVec *mask, int seq_len) {
    int over = ids->len - seq_len;
    if (over <= 0) return 0;
    return LMF_MIN(over, LMF_MAX(first_marked(mask) - 1, 0));
}

int fit_seq_len(IntVec *ids, IntVec *mask, int prompt_cut, int seq_len) {
    if (prompt_cut == 0 && ids->len <= seq_len) return 0;
    int start = first_marked(mask);
    /* what stays of the answer: marked tokens in [start, seq_len + prompt_cut) */
    int end = LMF_MIN(ids->len, seq_len + prompt_cut), kept = 0;
    for (int i = start; i < end; i++) kept += mask->data[i] != 0;
    if (kept == 0) return -1;
    int len = end - prompt_cut, dropped = ids->len - len;
    memmove(ids->data, ids->data + prompt_cut, sizeof(int) * (size_t)len);
    memmove(mask->data, mask->data + prompt_cut, sizeof(int) * (size_t)len);
    ids->len = mask->len = len;
    return dropped;
}

void length_report(const char *what, const char *unit, const LengthStats *s, int seq_len) {
    if (!s->truncated) return;
    if (s->answer_cut)
        warn("%s: %d of %d %s truncated to --seq-len %d (%d lost the end of an answer)", what, s->truncated,
             s->records, unit, seq_len, s->answer_cut);
    else
        warn("%s: %d of %d %s truncated to --seq-len %d (prompts cut from the start)", what, s->truncated,
             s->records, unit, seq_len);
}

int fit_prompt(IntVec *ids, int context, int room) {
    if (ids->len + 1 < context) return 0;
    int keep = LMF_MAX(1, context - room), drop = ids->len - keep;
    memmove(ids->data, ids->data + drop, sizeof(int) * (size_t)keep);
    ids->len = keep;
    return drop;
}

void fit_rendered_prompts(const char *what, RenderedPrompts *r, int context, int room) {
    int cut = 0;
    for (int i = 0; i < r->n; i++) {
        cut += fit_prompt(&r->ids[i], context, room) > 0;
        r->tokens[i] = r->ids[i].data;
        r->lens[i] = r->ids[i].len;
    }
    if (cut && what)
        warn("%s: %d of %d prompts leave no room for an answer in the context of %d tokens: cut from the start to "
             "%d tokens",
             what, cut, r->n, context, LMF_MAX(1, context - room));
}

void prompts_length_report(const char *what, const Tokenizer *t, const Conversation *prompts, int n, int context,
                           int room) {
    int cut = 0;
    IntVec ids = {0};
    for (int i = 0; i < n; i++) {
        ids.len = 0;
        render_prompt(t, &prompts[i], &ids);
        cut += fit_prompt(&ids, context, room) > 0;
    }
    intvec_free(&ids);
    if (cut)
        warn("%s: %d of %d prompts leave no room for an answer in the context of %d tokens: cut from the start to "
             "%d tokens",
             what, cut, n, context, LMF_MAX(1, context - room));
}
