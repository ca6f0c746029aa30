/* sft_data.c — see sft_data.h. */
#include "sft_data.h"

#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"

/* The completion of a prompt/completion record: a string, or a list of one
 * assistant message (TRL's conversational form). */
static const char *completion_text(const JsonlRecord *rec, Conversation *owned) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json, "completion");
    const char *text;
    if (!cJSON_IsArray(v)) {
        text = jsonl_get_string(rec, "completion");
    } else {
        *owned = jsonl_get_conversation(rec, "completion");
        if (owned->n != 1 || strcmp(owned->msgs[0].role, "assistant") != 0)
            jsonl_die(rec, "field \"completion\" must be a string or a list of one assistant message");
        text = owned->msgs[0].content;
    }
    /* an empty answer would teach the model to say nothing */
    if (jsonl_text_is_blank(text)) jsonl_die(rec, "field \"completion\" is an empty answer");
    return text;
}

void sft_render_record(const JsonlRecord *rec, const Tokenizer *t, int last_turn_only, IntVec *ids, IntVec *mask,
                       Conversation *prompt, char **reference) {
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(rec->json, "messages");
    if (messages && !cJSON_IsNull(messages)) {
        if (!cJSON_IsArray(messages)) jsonl_die(rec, "field \"messages\" must be a list of messages");
        Conversation chat = jsonl_get_conversation(rec, "messages");
        const ChatMessage *last = &chat.msgs[chat.n - 1];
        if (strcmp(last->role, "assistant") != 0)
            jsonl_die(rec, "field \"messages\": the chat ends with a %s turn; it must end with an assistant turn",
                      last->role);
        for (int i = 0; i < chat.n; i++) /* every assistant turn may be trained on */
            if (strcmp(chat.msgs[i].role, "assistant") == 0 && jsonl_text_is_blank(chat.msgs[i].content))
                jsonl_die(rec, "field \"messages\"[%d]: the assistant message is an empty answer", i);
        chat_render(t, chat.msgs, chat.n, 0, last_turn_only, ids, mask);
        *prompt = conversation_copy(chat.msgs, chat.n - 1);
        *reference = xstrdup(last->content);
        conversation_free(&chat);
        return;
    }
    if (!cJSON_GetObjectItemCaseSensitive(rec->json, "prompt"))
        jsonl_die(rec, "needs a \"messages\" field, or \"prompt\" and \"completion\" fields");
    Conversation completion = {0};
    *prompt = jsonl_get_conversation(rec, "prompt");
    const char *text = completion_text(rec, &completion);
    render_exchange(t, prompt, text, ids, mask); /* marks the completion only */
    *reference = xstrdup(text);
    conversation_free(&completion);
}

/* Trained tokens that something predicts (a marked first token has no context). */
static int count_targets(const IntVec *mask) {
    int n = 0;
    for (int i = 1; i < mask->len; i++) n += mask->data[i] != 0;
    return n;
}

SftData *sft_data_load(const char *const *paths, int n_paths, const Tokenizer *t, const SftOptions *o) {
    if (o->max_len < 2) die("the maximum sequence length must be at least 2 tokens, not %d", o->max_len);
    SftData *d = xcalloc(1, sizeof(SftData));
    int cap = 0;
    JsonlReader *r = jsonl_open_files(paths, n_paths);
    JsonlRecord rec;
    IntVec ids = {0}, mask = {0};
    while (jsonl_next(r, &rec)) {
        ids.len = mask.len = 0;
        SftExample e = {0};
        sft_render_record(&rec, t, o->last_turn_only, &ids, &mask, &e.prompt, &e.reference);
        d->stats.n_records++;
        int targets_before = count_targets(&mask);
        int dropped = fit_seq_len(&ids, &mask, fit_prompt_cut(&ids, &mask, o->max_len), o->max_len);
        if (dropped < 0) jsonl_die(&rec, "nothing of the answer fits --seq-len %d", o->max_len);
        if (dropped) {
            d->stats.n_truncated++;
            d->stats.n_tokens_dropped += dropped;
            d->stats.n_response_cut += count_targets(&mask) < targets_before;
        }
        if (count_targets(&mask) == 0) {
            d->stats.n_skipped++;
            conversation_free(&e.prompt);
            free(e.reference);
            continue;
        }
        e.len = ids.len;
        e.ids = xmalloc(sizeof(int) * (size_t)ids.len);
        e.mask = xmalloc(sizeof(int) * (size_t)ids.len);
        memcpy(e.ids, ids.data, sizeof(int) * (size_t)ids.len);
        memcpy(e.mask, mask.data, sizeof(int) * (size_t)ids.len);
        if (d->n == cap) d->items = xrealloc(d->items, sizeof(SftExample) * (size_t)(cap = 2 * cap + 64));
        d->items[d->n++] = e;
    }
    jsonl_close(r);
    intvec_free(&ids);
    intvec_free(&mask);
    /* Say so here, naming the data, rather than later in terms of a split. */
    const char *what = n_paths == 1 ? paths[0] : "the SFT files";
    if (d->stats.n_records == 0) die("%s: no examples (expected one JSON object per line)", what);
    LengthStats ls = {d->stats.n_records, d->stats.n_truncated, d->stats.n_response_cut, d->stats.n_tokens_dropped};
    length_report(what, "records", &ls, o->max_len);
    if (d->n == 0) die("%s: none of the %d examples has an answer token within --seq-len %d", what, d->stats.n_records, o->max_len);
    return d;
}

SftData *sft_data_split(SftData *d, double fraction, uint64_t seed) {
    SftData *held = xcalloc(1, sizeof(SftData));
    int k = (int)(fraction * d->n + 0.5);
    if (fraction > 0 && k == 0) k = 1;
    if (k >= d->n) die("holding out %d of %d examples leaves none to train on", k, d->n);
    int *order = xmalloc(sizeof(int) * (size_t)LMF_MAX(d->n, 1)), *chosen = xcalloc((size_t)LMF_MAX(d->n, 1), sizeof(int));
    for (int i = 0; i < d->n; i++) order[i] = i;
    Rng r;
    rng_seed(&r, seed);
    rng_shuffle_ints(&r, order, d->n);
    for (int i = 0; i < k; i++) chosen[order[i]] = 1;
    held->items = xmalloc(sizeof(SftExample) * (size_t)LMF_MAX(k, 1));
    int kept = 0;
    for (int i = 0; i < d->n; i++) {
        if (chosen[i]) held->items[held->n++] = d->items[i];
        else d->items[kept++] = d->items[i];
    }
    d->n = kept;
    free(order);
    free(chosen);
    return held;
}

void sft_data_free(SftData *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->items[i].ids);
        free(d->items[i].mask);
        conversation_free(&d->items[i].prompt);
        free(d->items[i].reference);
    }
    free(d->items);
    free(d);
}

/* Rows that in-order packing into rows of `width` tokens needs (pack_sequences' rule). */
static int rows_needed(const SeqRef *seqs, int n, int width) {
    int rows = 1, used = 0;
    for (int i = 0; i < n; i++) {
        if (used + seqs[i].len > width) {
            rows++;
            used = 0;
        }
        used += seqs[i].len;
    }
    return rows;
}

/* The narrowest row width that still packs the sequences into as few rows as
 * max_row allows: the padding left is only what the rows' granularity forces
 * (a fixed width would leave most of the last row empty). More width never
 * needs more rows, so a binary search finds it. */
static int packed_width(const SeqRef *seqs, int n, int max_row) {
    int rows = rows_needed(seqs, n, max_row), lo = 1, hi = max_row;
    for (int i = 0; i < n; i++) lo = LMF_MAX(lo, seqs[i].len);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (rows_needed(seqs, n, mid) <= rows) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

long sft_make_batch(Batch *b, const SftData *d, const int *idx, int n, int max_row, int packed, int pad_id) {
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)n);
    SeqPlace *places = xmalloc(sizeof(SeqPlace) * (size_t)n);
    for (int i = 0; i < n; i++) seqs[i] = sft_example_seq(d, idx[i]);
    int width = packed ? packed_width(seqs, n, max_row) : max_row; /* padded rows: the longest sequence */
    int placed = pack_sequences(b, seqs, n, n, width, packed, pad_id, places);
    if (placed != n) die("sft: %d of %d examples fitted in a micro-batch", placed, n);
    free(seqs);
    free(places);
    return (long)b->weight;
}
