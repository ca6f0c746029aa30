/* rm_data.c — see rm_data.h.
 *
 * Records are read one by one (checked, with errors naming file and line),
 * their prompts and responses gathered, and everything is tokenized at the
 * end in one parallel pass. */
#include "rm_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

/* ---- token sequences ---- */

static void seq_set_push(SeqSet *s, const int *ids, int len) {
    if (s->n == s->cap) {
        s->cap = LMF_MAX(64, 2 * s->cap);
        s->start = xrealloc(s->start, sizeof(int) * (size_t)s->cap);
        s->len = xrealloc(s->len, sizeof(int) * (size_t)s->cap);
    }
    s->start[s->n] = s->tokens.len;
    s->len[s->n] = len;
    s->n++;
    intvec_append(&s->tokens, ids, len);
}

void seq_set_free(SeqSet *s) {
    intvec_free(&s->tokens);
    free(s->start);
    free(s->len);
    memset(s, 0, sizeof *s);
}

void seq_set_add_exchanges(SeqSet *s, const Tokenizer *tok, const Conversation *prompts, const int *prompt_of,
                           const char *const *responses, int n, int max_len) {
    IntVec *ids = xcalloc((size_t)LMF_MAX(n, 1), sizeof(IntVec));
    int *truncated = xcalloc((size_t)LMF_MAX(n, 1), sizeof(int)); /* 1: cut, 2: the answer's end too */
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n; i++) {
        IntVec mask = {0};
        render_exchange(tok, &prompts[prompt_of[i]], responses[i], &ids[i], &mask);
        /* end at the response's <|im_end|>: drop the newline ChatML puts after it */
        int end = mask.len;
        while (end > 0 && !mask.data[end - 1]) end--;
        ids[i].len = mask.len = end;
        /* nothing is refused here: an answer keeps at least its first token */
        int answer = 0, cut = fit_prompt_cut(&ids[i], &mask, max_len);
        for (int k = 0; k < mask.len; k++) answer += mask.data[k];
        if (fit_seq_len(&ids[i], &mask, cut, max_len) > 0) {
            for (int k = 0; k < mask.len; k++) answer -= mask.data[k];
            truncated[i] = answer > 0 ? 2 : 1;
        }
        intvec_free(&mask);
    }
    for (int i = 0; i < n; i++) {
        seq_set_push(s, ids[i].data, ids[i].len);
        s->truncated += truncated[i] > 0;
        s->answer_cut += truncated[i] == 2;
        intvec_free(&ids[i]);
    }
    free(ids);
    free(truncated);
}

/* ---- prompts and responses gathered while reading ---- */

typedef struct {
    Conversation *prompts;
    int n_prompts, prompts_cap;
    char **responses;
    int *prompt_of; /* (n) the prompt of each response */
    int n, cap;
} Exchanges;

static void exchanges_add_prompt(Exchanges *e, Conversation prompt) {
    if (e->n_prompts == e->prompts_cap) {
        e->prompts_cap = LMF_MAX(64, 2 * e->prompts_cap);
        e->prompts = xrealloc(e->prompts, sizeof(Conversation) * (size_t)e->prompts_cap);
    }
    e->prompts[e->n_prompts++] = prompt;
}

/* A response to the prompt added last. */
static void exchanges_add_response(Exchanges *e, const char *response) {
    if (e->n == e->cap) {
        e->cap = LMF_MAX(64, 2 * e->cap);
        e->responses = xrealloc(e->responses, sizeof(char *) * (size_t)e->cap);
        e->prompt_of = xrealloc(e->prompt_of, sizeof(int) * (size_t)e->cap);
    }
    e->responses[e->n] = xstrdup(response);
    e->prompt_of[e->n] = e->n_prompts - 1;
    e->n++;
}

static void exchanges_render(const Exchanges *e, const Tokenizer *tok, int max_len, SeqSet *out) {
    seq_set_add_exchanges(out, tok, e->prompts, e->prompt_of, (const char *const *)e->responses, e->n, max_len);
}

static void exchanges_free(Exchanges *e) {
    for (int i = 0; i < e->n_prompts; i++) conversation_free(&e->prompts[i]);
    for (int i = 0; i < e->n; i++) free(e->responses[i]);
    free(e->prompts);
    free(e->responses);
    free(e->prompt_of);
    memset(e, 0, sizeof *e);
}

/* FNV-1a over the roles and contents. */
static uint64_t hash_prompt(const Conversation *c) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < c->n; i++) {
        const char *parts[2] = {c->msgs[i].role, c->msgs[i].content};
        for (int p = 0; p < 2; p++) {
            for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++) h = (h ^ *s) * 0x100000001b3ULL;
            h = (h ^ 0xff) * 0x100000001b3ULL; /* a separator no UTF-8 text holds */
        }
    }
    return h;
}

/* ---- preference records ---- */

/* Reading state: the set being built, the texts to render at the end. */
typedef struct {
    PreferenceSet *set;
    Exchanges exchanges;
    int groups_cap, pairs_cap;
    float default_margin;
    int warnings; /* about identical responses: the first few are shown, all are counted */
} PreferenceLoader;

enum { MAX_IDENTICAL_WARNINGS = 5 };

/* The most responses consecutive records of one prompt are merged into: a
 * micro-batch holds whole groups. */
enum { MAX_GROUP_RESPONSES = 64 };

/* Whether to show one more warning about identical responses. */
static int identical_warning_due(PreferenceLoader *l) {
    if (l->warnings == MAX_IDENTICAL_WARNINGS) warn("(further identical responses are counted but not shown)");
    return l->warnings++ < MAX_IDENTICAL_WARNINGS;
}

static void set_rank(const JsonlRecord *rec, const cJSON *item, int K, int rank, int *ranks, int pos) {
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble))
        jsonl_die(rec, "field \"ranking\"[%d] must be a response index or a list of tied indices", pos);
    /* compared as a double: 1e34 does not fit an int (found by make fuzz) */
    if (item->valuedouble < 0 || item->valuedouble >= K)
        jsonl_die(rec, "field \"ranking\" is not a permutation of the %d responses: index %g is out of range", K,
                  item->valuedouble);
    int idx = (int)item->valuedouble;
    if (ranks[idx] >= 0)
        jsonl_die(rec, "field \"ranking\" is not a permutation of the %d responses: index %d appears twice", K, idx);
    ranks[idx] = rank;
}

/* ranks (K) from the "ranking" field: the position of each response's entry. */
static void parse_ranking(const JsonlRecord *rec, int K, int *ranks) {
    const cJSON *ranking = jsonl_get_array(rec, "ranking");
    for (int k = 0; k < K; k++) ranks[k] = -1;
    int pos = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, ranking) {
        if (cJSON_IsArray(entry)) {
            if (cJSON_GetArraySize(entry) == 0)
                jsonl_die(rec, "field \"ranking\"[%d] is an empty list of tied responses", pos);
            const cJSON *tied;
            cJSON_ArrayForEach(tied, entry) set_rank(rec, tied, K, pos, ranks, pos);
        } else {
            set_rank(rec, entry, K, pos, ranks, pos);
        }
        pos++;
    }
    for (int k = 0; k < K; k++)
        if (ranks[k] < 0)
            jsonl_die(rec, "field \"ranking\" is not a permutation of the %d responses: index %d is missing", K, k);
}

static float parse_margin(const JsonlRecord *rec, float default_margin) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec->json, "margin");
    if (!m || cJSON_IsNull(m)) return default_margin;
    if (!cJSON_IsNumber(m)) jsonl_die(rec, "field \"margin\" must be a number");
    return (float)m->valuedouble;
}

static int same_prompt(const Conversation *a, const Conversation *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->msgs[i].role, b->msgs[i].role) != 0 || strcmp(a->msgs[i].content, b->msgs[i].content) != 0)
            return 0;
    return 1;
}

/* The group the record's comparisons go to: the last one if the record
 * continues its prompt (and the group stays small enough for a micro-batch),
 * else a new one. Takes ownership of prompt. */
static PrefGroup *group_for(PreferenceLoader *l, Conversation prompt, int K) {
    PreferenceSet *p = l->set;
    Exchanges *e = &l->exchanges;
    uint64_t hash = hash_prompt(&prompt);
    PrefGroup *last = p->n_groups ? &p->groups[p->n_groups - 1] : NULL;
    if (last && last->prompt_hash == hash && last->n_seqs + K <= MAX_GROUP_RESPONSES &&
        same_prompt(&e->prompts[e->n_prompts - 1], &prompt)) {
        conversation_free(&prompt);
        return last;
    }
    if (p->n_groups == l->groups_cap) {
        l->groups_cap = LMF_MAX(64, 2 * l->groups_cap);
        p->groups = xrealloc(p->groups, sizeof(PrefGroup) * (size_t)l->groups_cap);
    }
    exchanges_add_prompt(e, prompt);
    p->groups[p->n_groups] = (PrefGroup){e->n, 0, p->n_pairs, 0, hash};
    return &p->groups[p->n_groups++];
}

/* The index of text among the group's responses (the last group's, whose
 * responses are the last ones gathered), adding it if it is new. */
static int response_index(PreferenceLoader *l, PrefGroup *g, const char *text) {
    Exchanges *e = &l->exchanges;
    for (int k = 0; k < g->n_seqs; k++)
        if (strcmp(e->responses[g->first_seq + k], text) == 0) return k;
    exchanges_add_response(e, text);
    return g->n_seqs++;
}

static void add_pair(PreferenceLoader *l, PrefGroup *g, RmPair pair) {
    PreferenceSet *p = l->set;
    if (p->n_pairs == l->pairs_cap) {
        l->pairs_cap = LMF_MAX(256, 2 * l->pairs_cap);
        p->pairs = xrealloc(p->pairs, sizeof(RmPair) * (size_t)l->pairs_cap);
    }
    p->pairs[p->n_pairs++] = pair;
    g->n_pairs++;
}

/* Reads one record: its responses, their ranks, and the pairs they form. */
static void add_preference_record(PreferenceLoader *l, const JsonlRecord *rec) {
    int has_pair = cJSON_GetObjectItemCaseSensitive(rec->json, "chosen") ||
                   cJSON_GetObjectItemCaseSensitive(rec->json, "rejected");
    int has_list = cJSON_GetObjectItemCaseSensitive(rec->json, "responses") != NULL;
    if (has_pair && has_list) jsonl_die(rec, "has both \"chosen\"/\"rejected\" and \"responses\": use one form");
    if (!has_pair && !has_list)
        jsonl_die(rec, "field \"chosen\" is missing (a record holds \"chosen\" and \"rejected\", or \"responses\" and "
                       "\"ranking\")");
    float margin = parse_margin(rec, l->default_margin);
    int K = 2;
    if (has_list) {
        K = cJSON_GetArraySize(jsonl_get_array(rec, "responses"));
        if (K < 2)
            jsonl_die(rec, "field \"responses\" holds %d response%s; a ranking needs at least 2", K, K == 1 ? "" : "s");
    }
    const char **texts = xmalloc(sizeof(char *) * (size_t)K);
    int *ranks = xmalloc(sizeof(int) * (size_t)K);
    if (has_pair) {
        texts[0] = jsonl_get_string(rec, "chosen");
        texts[1] = jsonl_get_string(rec, "rejected");
        ranks[0] = 0;
        ranks[1] = 1;
    } else {
        for (int k = 0; k < K; k++) texts[k] = jsonl_array_string(rec, "responses", k);
        if (!cJSON_GetObjectItemCaseSensitive(rec->json, "ranking"))
            jsonl_die(rec, "field \"ranking\" is missing (the indices of the responses from best to worst)");
        parse_ranking(rec, K, ranks);
    }
    for (int k = 0; k < K; k++) /* the same rule as dpo's */
        if (jsonl_text_is_blank(texts[k])) {
            if (has_pair) jsonl_die(rec, "field \"%s\" is an empty answer", k == 0 ? "chosen" : "rejected");
            jsonl_die(rec, "field \"responses\"[%d] is an empty answer", k);
        }
    Conversation prompt = jsonl_get_conversation(rec, "prompt");

    RmPair *ranked = xmalloc(sizeof(RmPair) * (size_t)(K * (K - 1) / 2));
    int n_ranked = rm_ranking_pairs(ranks, K, margin, ranked), n_kept = 0;
    for (int i = 0; i < n_ranked; i++) {
        /* identical texts must score the same: a pair of them teaches nothing */
        if (strcmp(texts[ranked[i].better], texts[ranked[i].worse]) == 0) {
            l->set->identical_pairs++;
            if (identical_warning_due(l)) {
                if (has_pair)
                    warn("%s:%d: \"chosen\" is identical to \"rejected\"; the record is skipped", rec->path, rec->line);
                else
                    warn("%s:%d: \"responses\"[%d] and [%d] are identical but ranked apart; their pair is dropped",
                         rec->path, rec->line, ranked[i].better, ranked[i].worse);
            }
            continue;
        }
        ranked[n_kept++] = ranked[i];
    }
    if (n_kept == 0) {
        l->set->empty_records++;
        if (has_list) warn("%s:%d: no two responses are ranked apart; the record is skipped", rec->path, rec->line);
        conversation_free(&prompt);
    } else {
        /* each pair between the group's responses, the same text being the same response */
        PrefGroup *g = group_for(l, prompt, K);
        int *index = xmalloc(sizeof(int) * (size_t)K);
        for (int k = 0; k < K; k++) index[k] = response_index(l, g, texts[k]);
        for (int i = 0; i < n_kept; i++)
            add_pair(l, g, (RmPair){index[ranked[i].better], index[ranked[i].worse], ranked[i].margin});
        free(index);
    }
    free(ranked);
    free(texts);
    free(ranks);
}

PreferenceSet *preference_set_load(const char *const *paths, int n_paths, const Tokenizer *tok, int max_len,
                                   float default_margin) {
    PreferenceLoader l = {.set = xcalloc(1, sizeof(PreferenceSet)), .default_margin = default_margin};
    PreferenceSet *p = l.set;
    JsonlReader *r = jsonl_open_files(paths, n_paths);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) add_preference_record(&l, &rec);
    jsonl_close(r);
    const char *what = n_paths == 1 ? paths[0] : "the preference files";
    if (p->identical_pairs || p->empty_records)
        warn("%s: %d pair%s of identical responses dropped, %d record%s without a pair skipped", what,
             p->identical_pairs, p->identical_pairs == 1 ? "" : "s", p->empty_records,
             p->empty_records == 1 ? "" : "s");
    if (p->n_pairs == 0) die("%s: no comparison to learn from", what);
    exchanges_render(&l.exchanges, tok, max_len, &p->seqs);
    exchanges_free(&l.exchanges);
    LengthStats ls = {p->seqs.n, p->seqs.truncated, p->seqs.answer_cut, 0};
    length_report(what, "responses", &ls, max_len);
    return p;
}

void preference_set_free(PreferenceSet *p) {
    if (!p) return;
    seq_set_free(&p->seqs);
    free(p->groups);
    free(p->pairs);
    free(p);
}

void preference_set_split(const PreferenceSet *p, double fraction, uint64_t seed, int **train, int *n_train,
                          int **heldout, int *n_heldout) {
    *train = xmalloc(sizeof(int) * (size_t)LMF_MAX(p->n_groups, 1));
    *heldout = xmalloc(sizeof(int) * (size_t)LMF_MAX(p->n_groups, 1));
    *n_train = *n_heldout = 0;
    for (int g = 0; g < p->n_groups; g++) {
        /* splitmix64 of the prompt's hash: a uniform draw per prompt */
        uint64_t z = p->groups[g].prompt_hash + (seed + 1) * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        double u = (double)(z >> 11) / 9007199254740992.0;
        if (u < fraction)
            (*heldout)[(*n_heldout)++] = g;
        else
            (*train)[(*n_train)++] = g;
    }
}

/* ---- scoring records ---- */

void response_record_parse(const JsonlRecord *rec, ResponseRecord *out) {
    memset(out, 0, sizeof *out);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(rec->json, "messages");
    if (messages && !cJSON_IsNull(messages)) {
        Conversation chat = jsonl_get_conversation(rec, "messages");
        if (chat.n < 2 || strcmp(chat.msgs[chat.n - 1].role, "assistant") != 0)
            jsonl_die(rec, "field \"messages\" must end with the assistant's response, after the prompt");
        out->prompt = conversation_copy(chat.msgs, chat.n - 1);
        conversation_free(&chat);
        const cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
        out->responses = xmalloc(sizeof(char *));
        out->responses[0] = cJSON_GetObjectItemCaseSensitive(last, "content")->valuestring;
        out->n = 1;
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(rec->json, "responses")) {
        int n = cJSON_GetArraySize(jsonl_get_array(rec, "responses"));
        if (n < 1) jsonl_die(rec, "field \"responses\" is an empty list");
        out->responses = xmalloc(sizeof(char *) * (size_t)n);
        for (int i = 0; i < n; i++) out->responses[i] = jsonl_array_string(rec, "responses", i);
        out->n = n;
        out->is_list = 1;
    } else {
        const char *field = cJSON_GetObjectItemCaseSensitive(rec->json, "completion") ? "completion" : "response";
        if (!cJSON_GetObjectItemCaseSensitive(rec->json, field))
            jsonl_die(rec, "field \"response\" is missing (a record holds \"prompt\" with \"response\", \"responses\" "
                           "or \"completion\", or \"messages\")");
        out->responses = xmalloc(sizeof(char *));
        out->responses[0] = jsonl_get_string(rec, field);
        out->n = 1;
    }
    out->prompt = jsonl_get_conversation(rec, "prompt");
}

void response_record_free(ResponseRecord *r) {
    conversation_free(&r->prompt);
    free(r->responses);
    memset(r, 0, sizeof *r);
}

SeqSet *response_set_load(const char *const *paths, int n_paths, const Tokenizer *tok, int max_len) {
    SeqSet *s = xcalloc(1, sizeof *s);
    Exchanges e = {0};
    JsonlReader *r = jsonl_open_files(paths, n_paths);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        ResponseRecord rr;
        response_record_parse(&rec, &rr);
        exchanges_add_prompt(&e, conversation_copy(rr.prompt.msgs, rr.prompt.n));
        for (int i = 0; i < rr.n; i++) exchanges_add_response(&e, rr.responses[i]);
        response_record_free(&rr);
    }
    jsonl_close(r);
    exchanges_render(&e, tok, max_len, s);
    exchanges_free(&e);
    return s;
}
