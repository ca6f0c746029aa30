/* train.c — learning byte-level BPE merges from raw text.
 *
 * 1. Cut the text into pieces with the pre-tokenizer (in parallel, in chunks
 *    of about 1 MB) and count how often each distinct piece ("word") occurs.
 * 2. Start every word as its bytes; count every adjacent pair of tokens,
 *    weighted by the word's count, and note which words hold each pair.
 * 3. Repeatedly turn the most frequent pair (ties: the smallest ids) into a
 *    new token. Only the words that hold the pair change, and only the
 *    counts of the pairs around each occurrence: that keeps a merge cheap.
 *    A max-heap finds the most frequent pair; its entries go stale when a
 *    count drops and are corrected when they reach the top.
 *
 * Ids: the 256 bytes in the order of their byte-level characters (as GPT-2
 * and Hugging Face's trainer order them), then the merges, then the special
 * tokens. The result depends only on the text, never on the thread count. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../base/input_check.h"
#include "../base/util.h"
#include "../base/jsonl.h"
#include "byte_level.h"
#include "tokenizer_internal.h"
#include "unicode.h"

#define CHUNK_BYTES (1 << 20)

static const char *const ALWAYS_SPECIAL[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* --- reading the corpus ------------------------------------------------- */

typedef struct {
    char **text;
    size_t *len;
    int n, cap;
    size_t bytes;
} Corpus;

static void corpus_add(Corpus *c, char *text, size_t len) {
    if (c->n == c->cap) {
        c->cap = LMF_MAX(64, 2 * c->cap);
        c->text = xrealloc(c->text, (size_t)c->cap * sizeof(char *));
        c->len = xrealloc(c->len, (size_t)c->cap * sizeof(size_t));
    }
    c->text[c->n] = text;
    c->len[c->n++] = len;
    c->bytes += len;
}

static void add_document(const char *doc, size_t len, void *c) { corpus_add(c, xstrndup(doc, len), len); }

/* One document per line: {"text": "..."}; blank lines are skipped. The
 * shared reader applies the input policy (README: Reliability). */
static void read_jsonl(Corpus *c, const char *path) {
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        const char *text = jsonl_get_string(&rec, "text");
        size_t tlen = strlen(text);
        corpus_add(c, xstrndup(text, tlen), tlen);
    }
    jsonl_close(r);
}

static void read_corpus(Corpus *c, const char **files, int n_files) {
    for (int i = 0; i < n_files; i++) {
        if (ends_with(files[i], ".jsonl")) {
            read_jsonl(c, files[i]);
        } else {
            size_t len, offset;
            char *text = read_file(files[i], &len);
            const char *why = text_problem(text, len, &offset); /* raw bytes are not text */
            if (why) die("%s: %s at byte offset %zu", files[i], why, offset);
            text_documents(text, len, add_document, c); /* a blank line ends a document, as in pretraining */
            free(text);
        }
    }
}

/* --- counting words ----------------------------------------------------- */

typedef struct {
    BytesMap words; /* word -> index into count */
    int64_t *count;
    int cap;
} WordCounts;

static void add_word(WordCounts *w, const void *word, size_t len, uint64_t hash, int64_t n) {
    size_t before = w->words.count;
    int index = bytesmap_put(&w->words, word, len, hash, (int)before);
    if (w->words.count > before) {
        if (index == w->cap) {
            w->cap = LMF_MAX(1024, 2 * w->cap);
            w->count = xrealloc(w->count, (size_t)w->cap * sizeof(int64_t));
        }
        w->count[index] = 0;
    }
    w->count[index] += n;
}

static void count_piece(void *ctx, const uint8_t *piece, size_t len) {
    add_word(ctx, piece, len, hash_bytes(piece, len), 1);
}

/* Counts the words of the whole corpus into `all`: the text is cut into
 * chunks where the pre-tokenizer cuts anyway, each thread counts some
 * chunks, and the counts are summed. */
static void count_words(const Tokenizer *splitter, const Corpus *c, WordCounts *all) {
    int n_chunks = 0, cap = 0;
    const char **chunk = NULL;
    size_t *chunk_len = NULL;
    for (int d = 0; d < c->n; d++) {
        const uint8_t *text = (const uint8_t *)c->text[d];
        for (size_t start = 0, end; start < c->len[d]; start = end) {
            end = c->len[d];
            if (end - start > 2 * CHUNK_BYTES)
                end = split_find_safe_cut(text, c->len[d], start + CHUNK_BYTES, c->len[d]);
            if (n_chunks == cap) {
                cap = LMF_MAX(64, 2 * cap);
                chunk = xrealloc(chunk, (size_t)cap * sizeof(char *));
                chunk_len = xrealloc(chunk_len, (size_t)cap * sizeof(size_t));
            }
            chunk[n_chunks] = c->text[d] + start;
            chunk_len[n_chunks++] = end - start;
        }
    }
    int threads = omp_get_max_threads();
    WordCounts *local = xcalloc((size_t)threads, sizeof(WordCounts));
#pragma omp parallel num_threads(threads)
    {
        WordCounts w = {0}; /* on the thread's stack: neighbouring local[] share a cache line */
        bytesmap_init(&w.words, 1 << 14);
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n_chunks; i++) tokenizer_each_piece(splitter, chunk[i], chunk_len[i], 1, count_piece, &w);
        local[omp_get_thread_num()] = w;
    }
    bytesmap_init(&all->words, 1 << 16);
    for (int k = 0; k < threads; k++) {
        WordCounts *w = &local[k];
        for (size_t i = 0; i < w->words.cap; i++) {
            const BytesMapSlot *s = &w->words.slots[i];
            if (s->value >= 0) add_word(all, bytesmap_key(&w->words, s), s->key_len, s->hash, w->count[s->value]);
        }
        bytesmap_free(&w->words);
        free(w->count);
    }
    free(local);
    free(chunk);
    free(chunk_len);
}

/* --- merging ------------------------------------------------------------ */

typedef struct {
    int left, right;
    int64_t count; /* occurrences in the corpus */
    IntVec words;  /* words that have held the pair (may repeat, may no longer hold it) */
    int touched;   /* the count rose during the current merge */
} Pair;

typedef struct {
    int64_t count;
    int left, right, pair;
} HeapItem;

typedef struct {
    /* The words: word w's tokens are sym[start[w] .. start[w] + len[w]). */
    int *sym, *len, *stamp;
    size_t *start;
    int64_t *count;
    int n_words;
    Pair *pairs;
    int n_pairs, pairs_cap;
    PairMap pair_index; /* (left, right) -> a = index in pairs */
    HeapItem *heap;     /* max-heap: highest count, then smallest (left, right) */
    int heap_len, heap_cap;
    IntVec touched;
} Trainer;

static int heap_above(HeapItem a, HeapItem b) {
    if (a.count != b.count) return a.count > b.count;
    return a.left != b.left ? a.left < b.left : a.right < b.right;
}

static void heap_push(Trainer *tr, int pair) {
    const Pair *p = &tr->pairs[pair];
    HeapItem item = {p->count, p->left, p->right, pair};
    if (tr->heap_len == tr->heap_cap) {
        tr->heap_cap = LMF_MAX(1024, 2 * tr->heap_cap);
        tr->heap = xrealloc(tr->heap, (size_t)tr->heap_cap * sizeof(HeapItem));
    }
    int i = tr->heap_len++;
    while (i > 0 && heap_above(item, tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = item;
}

static HeapItem heap_pop(Trainer *tr) {
    HeapItem top = tr->heap[0], last = tr->heap[--tr->heap_len];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= tr->heap_len) break;
        if (child + 1 < tr->heap_len && heap_above(tr->heap[child + 1], tr->heap[child])) child++;
        if (!heap_above(tr->heap[child], last)) break;
        tr->heap[i] = tr->heap[child];
        i = child;
    }
    if (tr->heap_len) tr->heap[i] = last;
    return top;
}

/* Adds delta occurrences of (left, right), in word w. */
static void pair_change(Trainer *tr, int left, int right, int64_t delta, int w) {
    int inserted;
    PairSlot *slot = pairmap_put(&tr->pair_index, left, right, &inserted);
    if (inserted) {
        if (tr->n_pairs == tr->pairs_cap) {
            tr->pairs_cap = LMF_MAX(1024, 2 * tr->pairs_cap);
            tr->pairs = xrealloc(tr->pairs, (size_t)tr->pairs_cap * sizeof(Pair));
        }
        slot->a = tr->n_pairs;
        tr->pairs[tr->n_pairs++] = (Pair){.left = left, .right = right};
    }
    int index = slot->a;
    Pair *p = &tr->pairs[index];
    p->count += delta;
    if (delta <= 0) return;
    if (p->words.len == 0 || p->words.data[p->words.len - 1] != w) intvec_push(&p->words, w);
    if (!p->touched) {
        p->touched = 1;
        intvec_push(&tr->touched, index);
    }
}

/* Replaces every (left, right) in word w by `merged`, left to right, and
 * moves the counts of the neighbouring pairs. */
static void merge_in_word(Trainer *tr, int w, int left, int right, int merged) {
    int *s = tr->sym + tr->start[w], n = tr->len[w], out = 0;
    int64_t wc = tr->count[w];
    for (int i = 0; i < n;) {
        if (i + 1 < n && s[i] == left && s[i + 1] == right) {
            if (out > 0) {
                pair_change(tr, s[out - 1], left, -wc, w);
                pair_change(tr, s[out - 1], merged, wc, w);
            }
            if (i + 2 < n) {
                pair_change(tr, right, s[i + 2], -wc, w);
                pair_change(tr, merged, s[i + 2], wc, w);
            }
            pair_change(tr, left, right, -wc, w);
            s[out++] = merged;
            i += 2;
        } else {
            s[out++] = s[i++];
        }
    }
    tr->len[w] = out;
}

/* Pushes the pairs whose count rose since the last call. */
static void push_touched(Trainer *tr) {
    for (int k = 0; k < tr->touched.len; k++) {
        Pair *p = &tr->pairs[tr->touched.data[k]];
        p->touched = 0;
        if (p->count > 0) heap_push(tr, tr->touched.data[k]);
    }
    tr->touched.len = 0;
}

/* The pair to merge next, or -1 when none occurs. */
static int best_pair(Trainer *tr) {
    while (tr->heap_len) {
        HeapItem top = heap_pop(tr);
        const Pair *p = &tr->pairs[top.pair];
        if (top.count == p->count) return top.pair;
        if (p->count > 0) heap_push(tr, top.pair); /* stale: the count dropped since */
    }
    return -1;
}

static void trainer_init(Trainer *tr, const WordCounts *wc, const int *byte_id) {
    memset(tr, 0, sizeof *tr);
    int n = (int)wc->words.count;
    tr->n_words = n;
    tr->len = xmalloc((size_t)n * sizeof(int));
    tr->stamp = xcalloc((size_t)n, sizeof(int));
    tr->start = xmalloc((size_t)n * sizeof(size_t));
    tr->count = xmalloc((size_t)n * sizeof(int64_t));
    for (size_t i = 0; i < wc->words.cap; i++) {
        const BytesMapSlot *s = &wc->words.slots[i];
        if (s->value < 0) continue;
        tr->len[s->value] = (int)s->key_len;
        tr->count[s->value] = wc->count[s->value];
    }
    size_t total = 0;
    for (int w = 0; w < n; w++) {
        tr->start[w] = total;
        total += (size_t)tr->len[w];
    }
    tr->sym = xmalloc(LMF_MAX(total, 1) * sizeof(int));
    for (size_t i = 0; i < wc->words.cap; i++) {
        const BytesMapSlot *s = &wc->words.slots[i];
        if (s->value < 0) continue;
        const uint8_t *bytes = (const uint8_t *)bytesmap_key(&wc->words, s);
        for (uint32_t k = 0; k < s->key_len; k++) tr->sym[tr->start[s->value] + k] = byte_id[bytes[k]];
    }
    pairmap_init(&tr->pair_index, 1 << 16);
    for (int w = 0; w < n; w++) {
        const int *s = tr->sym + tr->start[w];
        for (int i = 0; i + 1 < tr->len[w]; i++) pair_change(tr, s[i], s[i + 1], tr->count[w], w);
    }
    push_touched(tr);
}

static void trainer_free(Trainer *tr) {
    free(tr->sym);
    free(tr->len);
    free(tr->stamp);
    free(tr->start);
    free(tr->count);
    for (int i = 0; i < tr->n_pairs; i++) intvec_free(&tr->pairs[i].words);
    free(tr->pairs);
    pairmap_free(&tr->pair_index);
    free(tr->heap);
    intvec_free(&tr->touched);
}

/* --- the tokenizer ------------------------------------------------------ */

static void must(int rc, const char *err) {
    if (rc != 0) die("tokenizer training: %s", err);
}

/* The id of each byte: its rank in the order of byte-level characters. */
static void byte_ids(int *byte_id) {
    for (int b = 0; b < 256; b++) {
        byte_id[b] = 0;
        for (int o = 0; o < 256; o++) byte_id[b] += byte_level_char((uint8_t)o) < byte_level_char((uint8_t)b);
    }
}

/* A tokenizer with the 256 bytes and the split rule; `specials` (if not
 * NULL) become special added tokens from id first_special on. */
static Tokenizer *base_tokenizer(const int *byte_id, const char *pattern, const char **specials, int n_special,
                                 int first_special) {
    char err[TOKENIZER_ERROR_SIZE];
    Tokenizer *t = tokenizer_alloc();
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        must(tokenizer_add_vocab(t, byte_id[b], &byte, 1, err), err);
    }
    must(tokenizer_add_split(t, pattern, 0, err), err);
    for (int i = 0; i < n_special; i++) {
        AddedToken a = {
            .content = (char *)specials[i], .len = (int)strlen(specials[i]), .id = first_special + i, .special = 1};
        must(tokenizer_add_added(t, &a, err), err);
    }
    return t;
}

/* The three special tokens every trained tokenizer has, then the caller's. */
static const char **special_list(const BpeTrainOptions *o, int *n) {
    const char **list = xmalloc((size_t)(3 + o->n_special) * sizeof(char *));
    *n = 0;
    for (int i = 0; i < 3; i++) list[(*n)++] = ALWAYS_SPECIAL[i];
    for (int i = 0; i < o->n_special; i++) {
        const char *s = o->special[i];
        size_t len = strlen(s);
        int n_bytes;
        for (size_t k = 0; k < len; k += (size_t)n_bytes)
            if (utf8_decode((const uint8_t *)s + k, len - k, &n_bytes) == UNICODE_INVALID)
                die("special token \"%s\" is not valid UTF-8", s);
        if (len == 0) die("a special token is empty");
        int seen = 0;
        for (int k = 0; k < *n; k++) seen |= strcmp(list[k], s) == 0;
        if (!seen) list[(*n)++] = s;
    }
    return list;
}

Tokenizer *tokenizer_train(const char **files, int n_files, const BpeTrainOptions *o) {
    char err[TOKENIZER_ERROR_SIZE];
    double t0 = now_seconds();
    int n_special;
    const char **specials = special_list(o, &n_special);
    int target = o->vocab_size - n_special; /* model tokens: bytes + merges */
    if (target < 256 || o->vocab_size >= TOKENIZER_MAX_IDS)
        die("--vocab-size %d: must be at least 256 bytes + %d special tokens = %d, and below %d", o->vocab_size,
            n_special, 256 + n_special, TOKENIZER_MAX_IDS);
    if (o->pattern != BPE_PATTERN_LLAMA3 && o->pattern != BPE_PATTERN_GPT2)
        die("unknown pre-tokenizer pattern %d", o->pattern);
    const char *pattern = o->pattern == BPE_PATTERN_GPT2 ? PATTERN_GPT2 : PATTERN_LLAMA3;
    int byte_id[256];
    byte_ids(byte_id);

    Corpus corpus = {0};
    read_corpus(&corpus, files, n_files);
    Tokenizer *splitter = base_tokenizer(byte_id, pattern, specials, n_special, 256);
    must(tokenizer_finish(splitter, err), err);
    WordCounts words = {0};
    count_words(splitter, &corpus, &words);
    tokenizer_free(splitter);
    info("tokenizer: %.1f MB in %d documents, %zu distinct words (%.1f s)", (double)corpus.bytes / 1e6, corpus.n,
         words.words.count, now_seconds() - t0);
    for (int d = 0; d < corpus.n; d++) free(corpus.text[d]);
    free(corpus.text);
    free(corpus.len);

    Trainer tr;
    trainer_init(&tr, &words, byte_id);
    bytesmap_free(&words.words);
    free(words.count);

    Tokenizer *t = base_tokenizer(byte_id, pattern, NULL, 0, 0);
    int n_tokens = 256, step = 0, wanted = target - 256, report = LMF_MAX(wanted / 10, 1);
    uint8_t *joined = NULL;
    size_t joined_cap = 0;
    while (n_tokens < target) {
        int best = best_pair(&tr);
        if (best < 0 || tr.pairs[best].count < LMF_MAX(o->min_frequency, 1)) break;
        int left = tr.pairs[best].left, right = tr.pairs[best].right;
        int64_t best_count = tr.pairs[best].count;
        size_t la = (size_t)t->token_len[left], lb = (size_t)t->token_len[right];
        if (la + lb > joined_cap) joined = xrealloc(joined, joined_cap = 2 * (la + lb));
        memcpy(joined, t->token_bytes + t->token_off[left], la);
        memcpy(joined + la, t->token_bytes + t->token_off[right], lb);
        /* Two merge paths can spell the same bytes; the token is then reused. */
        int merged = tokenizer_vocab_id(t, joined, la + lb);
        if (merged < 0) {
            merged = n_tokens++;
            must(tokenizer_add_vocab(t, merged, joined, (int)(la + lb), err), err);
        }
        must(tokenizer_add_merge(t, left, right, err), err);
        IntVec holders = tr.pairs[best].words;
        tr.pairs[best].words = (IntVec){0};
        step++;
        for (int k = 0; k < holders.len; k++) {
            int w = holders.data[k];
            if (tr.stamp[w] == step) continue;
            tr.stamp[w] = step;
            merge_in_word(&tr, w, left, right, merged);
        }
        intvec_free(&holders);
        push_touched(&tr);
        if ((n_tokens - 256) % report == 0 && merged == n_tokens - 1)
            info("tokenizer: %d/%d merges (pair count %lld, %.1f s)", n_tokens - 256, wanted, (long long)best_count,
                 now_seconds() - t0);
    }
    free(joined);
    trainer_free(&tr);
    if (n_tokens < target)
        info("tokenizer: stopped at %d merges: no pair occurs %d times or more", n_tokens - 256,
             LMF_MAX(o->min_frequency, 1));
    for (int i = 0; i < n_special; i++) {
        AddedToken a = {
            .content = (char *)specials[i], .len = (int)strlen(specials[i]), .id = n_tokens + i, .special = 1};
        must(tokenizer_add_added(t, &a, err), err);
    }
    free(specials);
    must(tokenizer_finish(t, err), err);
    info("tokenizer: trained %d tokens (%d merges, %d special) in %.1f s", tokenizer_vocab_size(t), t->n_merges,
         n_special, now_seconds() - t0);
    return t;
}
