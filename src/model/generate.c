/* generate.c — batched sampling through the KV cache; see generate.h.
 *
 * The n·K sequences (K samples of each of n prompts, prompt-major) are
 * decoded batch_size at a time. For each batch:
 *   1. prefill: every prompt goes through the cached forward pass, many
 *      prompts per call, and leaves the logits of its last token;
 *   2. decode: each live sequence draws a token; those that go on are fed
 *      back together, one row each, until all have stopped.
 * The K samples of one prompt sit next to each other in a batch, so the
 * prompt is prefilled once and its keys, values and logits are copied to the
 * other K−1 slots: a memcpy instead of a forward pass. (When K samples
 * straddle two batches, the prompt is simply prefilled once in each.) */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "kv_cache.h"

/* Prompt tokens per prefill call: large enough for efficient matmuls, small
 * enough that the working buffers stay a few MB. */
#define PREFILL_ROWS 512

SampleOptions sample_options_default(void) {
    return (SampleOptions){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .max_new_tokens = 128, .n_samples = 1,
                           .batch_size = 32};
}

int generation_stop_ids(const Tokenizer *t, int ids[2]) {
    int n = 0, eos = tokenizer_eos_id(t), im_end = tokenizer_token_id(t, "<|im_end|>");
    if (eos >= 0) ids[n++] = eos;
    if (im_end >= 0 && im_end != eos) ids[n++] = im_end;
    return n;
}

void generations_free(Generation *g, int n) {
    for (int i = 0; i < n; i++) {
        free(g[i].tokens);
        free(g[i].logprobs);
        free(g[i].text);
    }
}

static void check_request(const Model *m, const int *const *prompts, const int *prompt_lens, int n,
                          const SampleOptions *o) {
    const ModelConfig *c = &m->cfg;
    if (c->head != HEAD_LM) die("generation needs a model with a language-model head (this one has a score head)");
    sampler_check(&(SamplerParams){o->temperature, o->top_k, o->top_p});
    if (o->max_new_tokens < 1) die("max_new_tokens must be at least 1, got %d", o->max_new_tokens);
    if (o->n_samples < 1) die("the number of samples per prompt must be at least 1, got %d", o->n_samples);
    if (o->batch_size < 1) die("the generation batch size must be at least 1, got %d", o->batch_size);
    if (o->n_stop_strings > 0 && !o->tokenizer) die("stop strings need the tokenizer (SampleOptions.tokenizer)");
    for (int s = 0; s < o->n_stop_strings; s++)
        if (!o->stop_strings[s][0]) die("stop string %d is empty", s);
    for (int i = 0; i < n; i++) {
        if (prompt_lens[i] < 1) die("prompt %d is empty: generation needs at least one token to start from", i);
        if (prompt_lens[i] >= c->max_seq_len)
            die("prompt %d has %d tokens, but the model's context is %d tokens: no room left to generate", i,
                prompt_lens[i], c->max_seq_len);
        for (int t = 0; t < prompt_lens[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= c->vocab_size)
                die("prompt %d: token id %d at position %d is outside the vocabulary (size %d)", i, prompts[i][t], t,
                    c->vocab_size);
    }
}

/* A growing byte string: a sample's decoded text. */
typedef struct {
    char *data;
    size_t len, cap;
} Bytes;

static void bytes_append(Bytes *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = LMF_MAX(b->len + n + 1, 2 * b->cap + 64);
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* One sequence being decoded. */
typedef struct {
    Generation *g;
    int prompt;    /* index of its prompt */
    int limit;     /* most tokens it may generate: max_new_tokens, or less where the context ends */
    Rng rng;
    Bytes text;
} Slot;

/* The earliest stop string in the text, looking only where the bytes just
 * appended (from `old_len` on) could have completed one. Returns its index
 * and sets *at to its offset, or returns -1. */
static int find_stop_string(const Bytes *text, size_t old_len, const SampleOptions *o, size_t *at) {
    int found = -1;
    for (int s = 0; s < o->n_stop_strings; s++) {
        size_t n = strlen(o->stop_strings[s]), from = old_len >= n - 1 ? old_len - (n - 1) : 0;
        if (text->len < from + n) continue;
        const char *hit = memmem(text->data + from, text->len - from, o->stop_strings[s], n);
        if (hit && (found < 0 || (size_t)(hit - text->data) < *at)) {
            found = s;
            *at = (size_t)(hit - text->data);
        }
    }
    return found;
}

/* Whether the token just accepted ends the sequence, and why (in g). */
static int stops_here(Slot *sl, int token, const SampleOptions *o) {
    Generation *g = sl->g;
    for (int s = 0; s < o->n_stop_ids; s++)
        if (token == o->stop_ids[s]) {
            g->finished_by_stop = STOP_TOKEN;
            g->stop_index = s;
            return 1;
        }
    if (o->tokenizer) {
        size_t n, old_len = sl->text.len, at = 0;
        char *piece = tokenizer_decode(o->tokenizer, &token, 1, &n);
        bytes_append(&sl->text, piece, n);
        free(piece);
        int s = find_stop_string(&sl->text, old_len, o, &at);
        if (s >= 0) {
            sl->text.len = at;
            sl->text.data[at] = 0;
            g->finished_by_stop = STOP_STRING;
            g->stop_index = s;
            return 1;
        }
    }
    return g->n_tokens == sl->limit;
}

/* Records a drawn token; returns 1 if the sequence goes on. */
static int accept_token(Slot *sl, int global_index, int token, float logprob, const SampleOptions *o) {
    Generation *g = sl->g;
    g->tokens[g->n_tokens] = token;
    if (g->logprobs) g->logprobs[g->n_tokens] = logprob;
    g->n_tokens++;
    int done = stops_here(sl, token, o);
    if (o->on_token) o->on_token(o->on_token_ctx, global_index, token, done);
    return !done;
}

/* Work buffers of one generate_batch call. */
typedef struct {
    int *tokens, *seq, *out_rows; /* (max(B, PREFILL_ROWS)) rows of one cached forward call */
    int *active;                  /* (B) slots still decoding; logits row r belongs to slot active[r] */
    int *next;                    /* (B) the token each active slot drew */
    float *next_logprob;          /* (B) */
    float *logits;                /* (B, V) */
    float *prefill_logits;        /* (B, V) */
} Work;

/* Runs the prompts of slots [0, S) through the cache; logits row s gets the
 * output at slot s's last prompt token. */
static void prefill(Model *m, KvCache *kv, Slot *slots, int S, const int *const *prompts, const int *prompt_lens,
                    Work *w) {
    const int V = m->cfg.vocab_size;
    int rows = 0, n_out = 0, n_done = 0, *owner = xmalloc(sizeof(int) * (size_t)S); /* owner[s]: slot whose prefill s copies */
    for (int s = 0; s < S; s++) {
        owner[s] = s > 0 && slots[s].prompt == slots[s - 1].prompt ? owner[s - 1] : s;
        if (owner[s] != s) continue;
        const int *p = prompts[slots[s].prompt], len = prompt_lens[slots[s].prompt];
        for (int t = 0; t < len; t++) {
            w->tokens[rows] = p[t];
            w->seq[rows] = s;
            if (t == len - 1) w->out_rows[n_out++] = rows;
            if (++rows == PREFILL_ROWS) {
                model_forward_cached(m, kv, w->tokens, w->seq, rows, w->out_rows, n_out,
                                     w->prefill_logits + (size_t)n_done * V);
                n_done += n_out;
                rows = n_out = 0;
            }
        }
    }
    model_forward_cached(m, kv, w->tokens, w->seq, rows, w->out_rows, n_out, w->prefill_logits + (size_t)n_done * V);
    for (int s = 0, r = 0; s < S; s++) {
        if (owner[s] != s) kv_cache_copy_seq(kv, s, owner[s]);
        else r++;
        memcpy(w->logits + (size_t)s * V, w->prefill_logits + (size_t)(r - 1) * V, sizeof(float) * V);
    }
    free(owner);
}

/* Decodes slots [0, S) of one batch until every one has stopped. */
static void decode(Model *m, KvCache *kv, Slot *slots, int S, int first_index, const SampleOptions *o, Work *w) {
    const int V = m->cfg.vocab_size;
    const SamplerParams sp = {o->temperature, o->top_k, o->top_p};
    int n_active = S;
    for (int s = 0; s < S; s++) w->active[s] = s;
    while (n_active > 0) {
        /* Sequences draw independently, each from its own stream. */
#pragma omp parallel for schedule(dynamic) if (n_active > 1 && (double)n_active * V > 65536)
        for (int r = 0; r < n_active; r++)
            w->next[r] = sample_token(w->logits + (size_t)r * V, V, &sp, &slots[w->active[r]].rng, &w->next_logprob[r]);
        int n_next = 0;
        for (int r = 0; r < n_active; r++) {
            int s = w->active[r];
            if (!accept_token(&slots[s], first_index + s, w->next[r], w->next_logprob[r], o)) continue;
            w->active[n_next] = s;
            w->tokens[n_next] = w->next[r];
            w->seq[n_next] = s;
            w->out_rows[n_next] = n_next;
            n_next++;
        }
        n_active = n_next;
        if (n_active > 0)
            model_forward_cached(m, kv, w->tokens, w->seq, n_active, w->out_rows, n_active, w->logits);
    }
}

void generate_batch(Model *m, const int *const *prompts, const int *prompt_lens, int n, const SampleOptions *o,
                    Generation *out) {
    check_request(m, prompts, prompt_lens, n, o);
    const ModelConfig *c = &m->cfg;
    const int K = o->n_samples, total = n * K, B = LMF_MIN(o->batch_size, total), V = c->vocab_size;
    if (total < 1) return;
    /* The last token drawn is never fed back, hence the − 1. */
    int max_len = 0;
    for (int i = 0; i < n; i++) max_len = LMF_MAX(max_len, LMF_MIN(prompt_lens[i] + o->max_new_tokens - 1, c->max_seq_len));
    KvCache *kv = kv_cache_new(c, B, max_len);
    int rows = LMF_MAX(B, PREFILL_ROWS);
    Work w = {.tokens = xmalloc(sizeof(int) * (size_t)rows),
              .seq = xmalloc(sizeof(int) * (size_t)rows),
              .out_rows = xmalloc(sizeof(int) * (size_t)rows),
              .active = xmalloc(sizeof(int) * (size_t)B),
              .next = xmalloc(sizeof(int) * (size_t)B),
              .next_logprob = xalloc_floats((size_t)B),
              .logits = xalloc_floats((size_t)B * V),
              .prefill_logits = xalloc_floats((size_t)B * V)};
    Slot *slots = xcalloc((size_t)B, sizeof(Slot));

    for (int first = 0; first < total; first += B) {
        int S = LMF_MIN(B, total - first);
        kv_cache_clear(kv);
        for (int s = 0; s < S; s++) {
            Slot *sl = &slots[s];
            int index = first + s;
            sl->prompt = index / K;
            sl->limit = LMF_MIN(o->max_new_tokens, c->max_seq_len - prompt_lens[sl->prompt]);
            sl->g = &out[index];
            *sl->g = (Generation){.tokens = xmalloc(sizeof(int) * (size_t)sl->limit), .stop_index = -1};
            if (o->logprobs) sl->g->logprobs = xmalloc(sizeof(float) * (size_t)sl->limit);
            sl->text = (Bytes){0};
            if (o->tokenizer) bytes_append(&sl->text, "", 0);
            /* A stream of its own, from the seed and the sequence's index alone. */
            rng_seed(&sl->rng, o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(o->first_index + index));
        }
        prefill(m, kv, slots, S, prompts, prompt_lens, &w);
        decode(m, kv, slots, S, first, o, &w);
        for (int s = 0; s < S; s++) {
            slots[s].g->text = slots[s].text.data;
            slots[s].g->text_len = slots[s].text.len;
        }
    }

    free(slots);
    free(w.tokens);
    free(w.seq);
    free(w.out_rows);
    free(w.active);
    free(w.next);
    free(w.next_logprob);
    free(w.logits);
    free(w.prefill_logits);
    kv_cache_free(kv);
}
