/* preference_pairs.c — see preference_pairs.h. */
#include "preference_pairs.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"
#include "chat_data.h"

static const char *const FIELD[2] = {"chosen", "rejected"};
enum { MAX_IDENTICAL_WARNINGS = 5 }; /* shown with file:line; the rest are counted */

int preference_answer_is_blank(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return *s == 0;
}

/* The answer text of `field`: a string, or a list of one assistant message. */
static const char *answer_text(const JsonlRecord *rec, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json, field);
    if (!v || cJSON_IsNull(v)) jsonl_die(rec, "field \"%s\" is missing", field);
    const char *text = NULL;
    if (cJSON_IsString(v)) {
        text = v->valuestring;
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) {
        const cJSON *m = cJSON_GetArrayItem(v, 0);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0 && cJSON_IsString(content))
            text = content->valuestring;
    }
    if (!text)
        jsonl_die(rec, "field \"%s\" must be a string or a list holding one {\"role\": \"assistant\", \"content\": ...} "
                       "message (the prompt goes in \"prompt\")",
                  field);
    if (preference_answer_is_blank(text)) jsonl_die(rec, "field \"%s\" is an empty answer", field);
    return text;
}

/* Fits both sequences of the pair to seq_len by the length policy
 * (chat_data.h), with the same prompt cut for both, so that both answers
 * follow the same prompt. Counts the pair in *ls. */
static void fit_pair(PrefPair *p, const JsonlRecord *rec, int seq_len, LengthStats *ls) {
    int cut = LMF_MAX(fit_prompt_cut(&p->ids[CHOSEN], &p->mask[CHOSEN], seq_len),
                      fit_prompt_cut(&p->ids[REJECTED], &p->mask[REJECTED], seq_len));
    long dropped = 0;
    int answer_cut = 0;
    for (int k = 0; k < 2; k++) {
        int d = fit_seq_len(&p->ids[k], &p->mask[k], cut, seq_len);
        if (d < 0) jsonl_die(rec, "field \"%s\": nothing of the answer fits --seq-len %d", FIELD[k], seq_len);
        int kept = 0;
        for (int i = 0; i < p->mask[k].len; i++) kept += p->mask[k].data[i];
        answer_cut |= kept < p->answer_tokens[k];
        p->answer_tokens[k] = kept;
        dropped += d;
    }
    ls->records++;
    ls->truncated += dropped > 0;
    ls->answer_cut += answer_cut;
    ls->tokens_dropped += dropped;
}

PrefPairs pref_pairs_load(const char *const *paths, int n_paths, const Tokenizer *t, int max_len) {
    PrefPairs set = {0};
    int cap = 0, identical = 0;
    LengthStats ls = {0};
    JsonlReader *r = jsonl_open_files(paths, n_paths);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        /* "prefix": plain text continued (pairs from pretraining text); "prompt": a chat */
        const char *prefix = jsonl_opt_string(&rec, "prefix");
        if (prefix && cJSON_GetObjectItemCaseSensitive(rec.json, "prompt"))
            jsonl_die(&rec, "a pair has either a \"prompt\" (a chat) or a \"prefix\" (plain text), not both");
        if (prefix && jsonl_text_is_blank(prefix)) jsonl_die(&rec, "field \"prefix\" is blank");
        Conversation prompt = prefix ? (Conversation){0} : jsonl_get_conversation(&rec, "prompt");
        const char *answers[2] = {answer_text(&rec, FIELD[CHOSEN]), answer_text(&rec, FIELD[REJECTED])};
        /* The same text on both sides has a DPO loss of log 2 whatever the
         * model does: it teaches nothing. Skipped as the reward model does. */
        if (strcmp(answers[CHOSEN], answers[REJECTED]) == 0) {
            if (identical < MAX_IDENTICAL_WARNINGS)
                warn("%s:%d: \"chosen\" is identical to \"rejected\"; the record is skipped", rec.path, rec.line);
            else if (identical == MAX_IDENTICAL_WARNINGS)
                warn("(further identical pairs are counted but not shown)");
            identical++;
            conversation_free(&prompt);
            continue;
        }
        if (set.n == cap) {
            cap = cap ? 2 * cap : 256;
            set.pairs = xrealloc(set.pairs, sizeof(PrefPair) * (size_t)cap);
        }
        PrefPair *p = &set.pairs[set.n++];
        memset(p, 0, sizeof *p);
        for (int k = 0; k < 2; k++) {
            if (prefix) render_continuation(t, prefix, answers[k], &p->ids[k], &p->mask[k]);
            else render_exchange(t, &prompt, answers[k], &p->ids[k], &p->mask[k]);
            for (int i = 0; i < p->mask[k].len; i++) p->answer_tokens[k] += p->mask[k].data[i];
        }
        fit_pair(p, &rec, max_len, &ls);
        conversation_free(&prompt);
    }
    jsonl_close(r);
    const char *what = n_paths == 1 ? paths[0] : "the preference files";
    if (identical)
        warn("%s: %d of %d pairs skipped: the same chosen and rejected answer teaches nothing", what, identical,
             identical + set.n);
    if (set.n == 0) die("%s: no preference pairs%s", what, identical ? " left (every pair was identical)" : "");
    length_report(what, "records", &ls, max_len);
    set.lengths = ls;
    return set;
}

void pref_pairs_free(PrefPairs *p) {
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < 2; k++) {
            intvec_free(&p->pairs[i].ids[k]);
            intvec_free(&p->pairs[i].mask[k]);
        }
    free(p->pairs);
    memset(p, 0, sizeof *p);
}

PrefPairs pref_pairs_split(PrefPairs *all, double fraction, uint64_t seed) {
    int n_out = (int)(fraction * all->n);
    PrefPairs out = {.pairs = xcalloc((size_t)LMF_MAX(n_out, 1), sizeof(PrefPair))};
    if (n_out <= 0) return out;
    int *order = xmalloc(sizeof(int) * (size_t)all->n);
    char *held = xcalloc((size_t)all->n, 1);
    for (int i = 0; i < all->n; i++) order[i] = i;
    Rng rng;
    rng_seed(&rng, seed);
    rng_shuffle_ints(&rng, order, all->n);
    for (int i = 0; i < n_out; i++) held[order[i]] = 1;
    int kept = 0;
    for (int i = 0; i < all->n; i++) {
        if (held[i]) out.pairs[out.n++] = all->pairs[i];
        else all->pairs[kept++] = all->pairs[i];
    }
    all->n = kept;
    free(order);
    free(held);
    return out;
}

uint64_t pref_pairs_fingerprint(const PrefPairs *p) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < 2; k++) {
            const IntVec *ids = &p->pairs[i].ids[k], *mask = &p->pairs[i].mask[k];
            for (int t = 0; t < ids->len; t++) {
                h = (h ^ (uint64_t)(uint32_t)ids->data[t]) * 1099511628211ULL;
                h = (h ^ (uint64_t)mask->data[t]) * 1099511628211ULL;
            }
            h = (h ^ 0xffffffffULL) * 1099511628211ULL; /* sequence boundary */
        }
    return h;
}

void pref_pairs_pack(const PrefPairs *p, const int *idx, int n, int max_len, int packed, int pad_id, Batch *b,
                     SeqPlace *places) {
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * 2 * (size_t)n);
    long total = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const PrefPair *pair = &p->pairs[idx[i]];
            seqs[2 * i + k] = (SeqRef){pair->ids[k].data, pair->mask[k].data, pair->ids[k].len};
            total += pair->ids[k].len;
        }
    int width = packed ? (int)LMF_MIN((long)max_len, total) : max_len;
    int placed = pack_sequences(b, seqs, 2 * n, 2 * n, width, packed, pad_id, places);
    if (placed != 2 * n) die("pref_pairs_pack: %d of %d sequences placed", placed, 2 * n);
    b->weight = n;
    free(seqs);
}
