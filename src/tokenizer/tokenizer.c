/* tokenizer.c — building a Tokenizer, and the questions asked of one
 * (ids, special tokens, decoding). Encoding is in encode.c, loading and
 * saving in tokenizer_json.c, training in train.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "tokenizer_internal.h"
#include "unicode.h"

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, TOKENIZER_ERROR_SIZE, fmt, ap);
    va_end(ap);
    return -1;
}

/* A token's bytes for a message: printable ASCII as is, the rest as \xNN. */
static const char *printable(const void *bytes, int len, char *buf, size_t size) {
    const uint8_t *b = bytes;
    size_t n = 0;
    for (int i = 0; i < len && n + 5 < size; i++)
        n += (size_t)snprintf(buf + n, size - n, b[i] >= 0x20 && b[i] < 0x7F && b[i] != '"' ? "%c" : "\\x%02x", b[i]);
    buf[n] = 0;
    return buf;
}

Tokenizer *tokenizer_alloc(void) {
    unicode_init();
    Tokenizer *t = xcalloc(1, sizeof *t);
    bytesmap_init(&t->vocab, 1024);
    pairmap_init(&t->merge_map, 1024);
    for (int b = 0; b < 256; b++) t->byte_token[b] = -1;
    return t;
}

/* Records the bytes of `id`, growing the per-id arrays. */
static void set_token_bytes(Tokenizer *t, int id, const void *bytes, int len, int kind) {
    if (id >= t->ids_cap) {
        int cap = LMF_MAX(id + 1, t->ids_cap * 2);
        t->kind = xrealloc(t->kind, (size_t)cap);
        t->token_off = xrealloc(t->token_off, (size_t)cap * sizeof(size_t));
        t->token_len = xrealloc(t->token_len, (size_t)cap * sizeof(int));
        memset(t->kind + t->ids_cap, 0, (size_t)(cap - t->ids_cap));
        t->ids_cap = cap;
    }
    if (t->token_bytes_len + (size_t)len > t->token_bytes_cap) {
        t->token_bytes_cap = LMF_MAX(t->token_bytes_len + (size_t)len, t->token_bytes_cap * 2 + 4096);
        t->token_bytes = xrealloc(t->token_bytes, t->token_bytes_cap);
    }
    memcpy(t->token_bytes + t->token_bytes_len, bytes, (size_t)len);
    t->token_off[id] = t->token_bytes_len;
    t->token_len[id] = len;
    t->token_bytes_len += (size_t)len;
    t->kind[id] |= (uint8_t)kind;
    if (id >= t->n_ids) t->n_ids = id + 1;
}

static const char *id_bytes(const Tokenizer *t, int id) { return t->token_bytes + t->token_off[id]; }

int tokenizer_add_vocab(Tokenizer *t, int id, const uint8_t *bytes, int len, char *err) {
    char buf[128];
    if (id < 0 || id >= TOKENIZER_MAX_IDS)
        return fail(err, "id %d is out of range (0 to %d)", id, TOKENIZER_MAX_IDS - 1);
    if (len <= 0) return fail(err, "token %d is empty", id);
    if (id < t->n_ids && t->kind[id]) return fail(err, "id %d is given to two tokens", id);
    int old = bytesmap_put(&t->vocab, bytes, (size_t)len, hash_bytes(bytes, (size_t)len), id);
    if (old != id)
        return fail(err, "token \"%s\" appears twice (ids %d and %d)", printable(bytes, len, buf, sizeof buf), old, id);
    set_token_bytes(t, id, bytes, len, ID_IN_VOCAB);
    if (len == 1) t->byte_token[bytes[0]] = id;
    return 0;
}

int tokenizer_add_merge(Tokenizer *t, int left, int right, char *err) {
    char b1[128], b2[128];
    int la = t->token_len[left], lb = t->token_len[right];
    char *joined = xmalloc((size_t)(la + lb));
    memcpy(joined, id_bytes(t, left), (size_t)la);
    memcpy(joined + la, id_bytes(t, right), (size_t)lb);
    int merged = tokenizer_vocab_id(t, joined, (size_t)(la + lb));
    if (merged < 0) {
        fail(err, "merge \"%s\" + \"%s\" makes a token that is not in the vocabulary",
             printable(id_bytes(t, left), la, b1, sizeof b1), printable(id_bytes(t, right), lb, b2, sizeof b2));
        free(joined);
        return -1;
    }
    free(joined);
    if (t->n_merges == t->merges_cap) {
        t->merges_cap = LMF_MAX(1024, t->merges_cap * 2);
        t->merges = xrealloc(t->merges, (size_t)t->merges_cap * sizeof(t->merges[0]));
    }
    int rank = t->n_merges++;
    t->merges[rank][0] = left;
    t->merges[rank][1] = right;
    /* A repeated merge takes the later rank, as in Hugging Face (its map of
     * merges keeps the last one inserted). */
    int inserted;
    PairSlot *s = pairmap_put(&t->merge_map, left, right, &inserted);
    s->a = rank;
    s->b = merged;
    return 0;
}

int tokenizer_add_added(Tokenizer *t, const AddedToken *a, char *err) {
    char buf[128];
    if (a->id < 0 || a->id >= TOKENIZER_MAX_IDS)
        return fail(err, "added token id %d is out of range (0 to %d)", a->id, TOKENIZER_MAX_IDS - 1);
    if (a->len <= 0) return fail(err, "added token %d has empty content", a->id);
    if (a->id < t->n_ids && (t->kind[a->id] & ID_ADDED)) return fail(err, "added token id %d appears twice", a->id);
    if (a->id < t->n_ids && (t->kind[a->id] & ID_IN_VOCAB) &&
        (t->token_len[a->id] != a->len || memcmp(id_bytes(t, a->id), a->content, (size_t)a->len) != 0))
        return fail(err, "added token \"%s\" has id %d, which the vocabulary gives to another token",
                    printable(a->content, a->len, buf, sizeof buf), a->id);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == a->len && memcmp(t->added[i].content, a->content, (size_t)a->len) == 0)
            return fail(err, "added token \"%s\" appears twice", printable(a->content, a->len, buf, sizeof buf));
    t->added = xrealloc(t->added, (size_t)(t->n_added + 1) * sizeof(AddedToken));
    AddedToken *copy = &t->added[t->n_added++];
    *copy = *a;
    copy->content = xstrndup(a->content, (size_t)a->len);
    if (a->id < t->n_ids && (t->kind[a->id] & ID_IN_VOCAB))
        t->kind[a->id] |= ID_ADDED;
    else
        set_token_bytes(t, a->id, a->content, a->len, ID_ADDED);
    return 0;
}

int tokenizer_add_split(Tokenizer *t, const char *pattern, int literal, char *err) {
    t->splits = xrealloc(t->splits, (size_t)(t->n_splits + 1) * sizeof(SplitRule));
    if (split_rule_init(&t->splits[t->n_splits], pattern, literal, err, TOKENIZER_ERROR_SIZE) != 0) return -1;
    t->n_splits++;
    return 0;
}

static int compare_added(const void *x, const void *y, void *tokenizer) {
    const Tokenizer *t = tokenizer;
    const AddedToken *a = &t->added[*(const int *)x], *b = &t->added[*(const int *)y];
    int fa = (uint8_t)a->content[0], fb = (uint8_t)b->content[0];
    if (fa != fb) return fa - fb;
    return b->len - a->len;
}

int tokenizer_finish(Tokenizer *t, char *err) {
    for (int b = 0; b < 256; b++)
        if (t->byte_token[b] < 0) return fail(err, "the vocabulary has no token for the byte 0x%02x", b);
    free(t->added_sorted);
    t->added_sorted = xmalloc((size_t)(t->n_added + 1) * sizeof(int));
    for (int i = 0; i < t->n_added; i++) t->added_sorted[i] = i;
    qsort_r(t->added_sorted, (size_t)t->n_added, sizeof(int), compare_added, t);
    for (int b = 0; b < 256; b++) t->added_first[b] = -1;
    for (int i = t->n_added - 1; i >= 0; i--) t->added_first[(uint8_t)t->added[t->added_sorted[i]].content[0]] = i;
    /* Parallel encoding cuts where every hand-written splitter ends a piece
     * (split_is_safe_cut: at a newline or a space); no added token may span
     * the cut or swallow the white space there. */
    t->parallel_safe = t->n_splits == 1 && t->splits[0].kind != SPLIT_REGEX;
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken *a = &t->added[i];
        if (a->lstrip || a->rstrip || memchr(a->content, '\n', (size_t)a->len) ||
            memchr(a->content, ' ', (size_t)a->len))
            t->parallel_safe = 0;
    }
    return 0;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    free(t->kind);
    free(t->token_off);
    free(t->token_len);
    free(t->token_bytes);
    bytesmap_free(&t->vocab);
    free(t->merges);
    pairmap_free(&t->merge_map);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->added_sorted);
    for (int i = 0; i < t->n_splits; i++) split_rule_free(&t->splits[i]);
    free(t->splits);
    free(t->post_processor_json);
    free(t->decoder_json);
    free(t->config_json);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->n_ids; }

int tokenizer_id_valid(const Tokenizer *t, int id) { return id >= 0 && id < t->n_ids && t->kind[id] != 0; }

int tokenizer_token_id(const Tokenizer *t, const char *token) {
    size_t len = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if ((size_t)t->added[i].len == len && memcmp(t->added[i].content, token, len) == 0) return t->added[i].id;
    return len ? tokenizer_vocab_id(t, token, len) : -1;
}

int tokenizer_eos_id(const Tokenizer *t) {
    int id = tokenizer_token_id(t, "<|endoftext|>");
    return id >= 0 ? id : tokenizer_token_id(t, "<|end_of_text|>");
}

int tokenizer_bos_id(const Tokenizer *t) { return tokenizer_token_id(t, "<|begin_of_text|>"); }

void tokenizer_set_model_max_length(Tokenizer *t, long long n) { t->model_max_length = n; }

char *tokenizer_decode(const Tokenizer *t, const int *ids, int n, size_t *out_len) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (tokenizer_id_valid(t, ids[i])) total += (size_t)t->token_len[ids[i]];
    char *out = xmalloc(total + 1), *o = out;
    for (int i = 0; i < n; i++) {
        if (!tokenizer_id_valid(t, ids[i])) continue;
        memcpy(o, id_bytes(t, ids[i]), (size_t)t->token_len[ids[i]]);
        o += t->token_len[ids[i]];
    }
    *o = 0;
    if (out_len) *out_len = total;
    return out;
}

/* The bytes of every token, then the ids of a probe text (which the merges decide). */
uint64_t tokenizer_fingerprint(const Tokenizer *tok) {
    uint64_t h = 1469598103934665603ULL;
#define MIX(byte) (h = (h ^ (uint8_t)(byte)) * 1099511628211ULL)
    int V = tokenizer_vocab_size(tok);
    for (int id = 0; id < V; id++) {
        size_t len;
        char *bytes = tokenizer_decode(tok, &id, 1, &len);
        for (size_t i = 0; i < len; i++) MIX(bytes[i]);
        MIX(0xff);
        free(bytes);
    }
    const char *probe = "The quick brown fox, 12345 times: don't\n\n  jump!";
    IntVec ids = {0};
    tokenizer_encode(tok, probe, strlen(probe), 0, &ids);
    for (int i = 0; i < ids.len; i++) MIX(ids.data[i]), MIX(ids.data[i] >> 8), MIX(ids.data[i] >> 16);
    intvec_free(&ids);
#undef MIX
    return h;
}
