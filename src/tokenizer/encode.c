/* encode.c — text to token ids; tokenizer.h lists the steps.
 *
 * The hot path is a piece of a few bytes that has been seen before, so each
 * encoding call keeps a cache from piece to tokens. A piece not seen before
 * goes through BPE: start from one token per byte and repeatedly apply the
 * lowest-ranked merge among adjacent pairs (leftmost first on ties), with a
 * heap of candidate merges so that long pieces cost O(n log n). */
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "tokenizer_internal.h"
#include "unicode.h"

/* Texts at least this long are cut into chunks encoded in parallel. */
#define PARALLEL_MIN_BYTES (1 << 20)
#define CHUNKS_PER_THREAD 4
/* Pieces up to this long are cached; longer ones are rare and rarely repeat. */
#define CACHE_MAX_PIECE 128
#define CACHE_MAX_ENTRIES (1 << 20)

/* A possible merge of symbol pos with the symbol after it. */
typedef struct {
    int rank, pos, merged;
} Candidate;

typedef struct {
    const Tokenizer *t;
    IntVec *ids, *offsets; /* output; offsets may be NULL */
    /* Instead of encoding, hand each piece to on_piece (training counts them). */
    void (*on_piece)(void *ctx, const uint8_t *piece, size_t len);
    void *ctx;
    /* The stretch of text being encoded and where it came from: byte i of it
     * started at seg_src + (seg_map ? seg_map[i] : i) in the caller's text. */
    const uint8_t *seg;
    size_t seg_src;
    const size_t *seg_map;
    /* Piece -> tokens: the value v indexes cache_ids, holding the count, then the ids. */
    BytesMap cache;
    IntVec cache_ids;
    /* BPE: the symbols of the piece as a linked list, one per byte at first. */
    int *sym, *next, *prev;
    int sym_cap;
    Candidate *heap;
    int heap_len, heap_cap;
    NfcBuffer nfc;
    SplitScratch split;
} Encoder;

static void encoder_init(Encoder *e, const Tokenizer *t, IntVec *ids, IntVec *offsets) {
    memset(e, 0, sizeof *e);
    e->t = t;
    e->ids = ids;
    e->offsets = offsets;
    bytesmap_init(&e->cache, 256);
}

static void encoder_free(Encoder *e) {
    bytesmap_free(&e->cache);
    intvec_free(&e->cache_ids);
    free(e->sym);
    free(e->next);
    free(e->prev);
    free(e->heap);
    nfc_buffer_free(&e->nfc);
    split_scratch_free(&e->split);
}

static int candidate_before(Candidate a, Candidate b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(Encoder *e, Candidate c) {
    if (e->heap_len == e->heap_cap) {
        e->heap_cap = LMF_MAX(64, e->heap_cap * 2);
        e->heap = xrealloc(e->heap, (size_t)e->heap_cap * sizeof(Candidate));
    }
    int i = e->heap_len++;
    while (i > 0 && candidate_before(c, e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = c;
}

static Candidate heap_pop(Encoder *e) {
    Candidate top = e->heap[0], last = e->heap[--e->heap_len];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= e->heap_len) break;
        if (child + 1 < e->heap_len && candidate_before(e->heap[child + 1], e->heap[child])) child++;
        if (!candidate_before(e->heap[child], last)) break;
        e->heap[i] = e->heap[child];
        i = child;
    }
    if (e->heap_len) e->heap[i] = last;
    return top;
}

static void push_candidate(Encoder *e, int left, int right) {
    const PairSlot *m = pairmap_get(&e->t->merge_map, e->sym[left], e->sym[right]);
    if (m) heap_push(e, (Candidate){m->a, left, m->b});
}

/* Appends the BPE tokens of the piece p[0..n). */
static void bpe(Encoder *e, const uint8_t *p, int n) {
    if (n > e->sym_cap) {
        e->sym_cap = LMF_MAX(n, 2 * e->sym_cap);
        e->sym = xrealloc(e->sym, (size_t)e->sym_cap * sizeof(int));
        e->next = xrealloc(e->next, (size_t)e->sym_cap * sizeof(int));
        e->prev = xrealloc(e->prev, (size_t)e->sym_cap * sizeof(int));
    }
    int *sym = e->sym, *next = e->next, *prev = e->prev;
    for (int i = 0; i < n; i++) {
        sym[i] = e->t->byte_token[p[i]];
        next[i] = i + 1;
        prev[i] = i - 1;
    }
    e->heap_len = 0;
    for (int i = 0; i + 1 < n; i++) push_candidate(e, i, i + 1);
    while (e->heap_len) {
        Candidate c = heap_pop(e);
        int i = c.pos, j = next[i];
        if (sym[i] < 0 || j >= n) continue; /* i was merged away, or is last */
        /* The candidate is stale unless the pair now at i is still the one it
         * was made for (a rank names one pair). */
        const PairSlot *m = pairmap_get(&e->t->merge_map, sym[i], sym[j]);
        if (!m || m->a != c.rank) continue;
        sym[i] = c.merged;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] < n) prev[next[j]] = i;
        if (prev[i] >= 0) push_candidate(e, prev[i], i);
        if (next[i] < n) push_candidate(e, i, next[i]);
    }
    for (int i = 0; i < n; i = next[i]) intvec_push(e->ids, sym[i]);
}

static int source_offset(const Encoder *e, const uint8_t *p) {
    size_t i = (size_t)(p - e->seg);
    return (int)(e->seg_src + (e->seg_map ? e->seg_map[i] : i));
}

/* Appends the tokens of one piece. */
static void encode_piece(Encoder *e, const uint8_t *p, size_t n) {
    if (e->on_piece) {
        e->on_piece(e->ctx, p, n);
        return;
    }
    const Tokenizer *t = e->t;
    IntVec *ids = e->ids;
    int first = ids->len;
    if (n == 1) {
        intvec_push(ids, t->byte_token[p[0]]);
    } else {
        if (n > INT_MAX) die("cannot tokenize a single piece of %zu bytes", n);
        int cacheable = n <= CACHE_MAX_PIECE;
        uint64_t h = hash_bytes(p, n);
        int v = cacheable ? bytesmap_get(&e->cache, p, n, h) : -1;
        if (v >= 0) {
            intvec_append(ids, e->cache_ids.data + v + 1, e->cache_ids.data[v]);
        } else {
            int whole = t->ignore_merges ? bytesmap_get(&t->vocab, p, n, h) : -1;
            if (whole >= 0)
                intvec_push(ids, whole);
            else
                bpe(e, p, (int)n);
            if (cacheable && e->cache.count < CACHE_MAX_ENTRIES) {
                int at = e->cache_ids.len;
                intvec_push(&e->cache_ids, ids->len - first);
                intvec_append(&e->cache_ids, ids->data + first, ids->len - first);
                bytesmap_put(&e->cache, p, n, h, at);
            }
        }
    }
    if (e->offsets) {
        size_t done = 0;
        for (int k = first; k < ids->len; k++) {
            intvec_push(e->offsets, source_offset(e, p + done));
            done += (size_t)t->token_len[ids->data[k]];
        }
    }
}

/* Cuts s[0..len) with split rule `rule` and each piece with the rules after
 * it; the last level's pieces go to BPE. */
static void split_and_encode(Encoder *e, int rule, const uint8_t *s, size_t len) {
    if (rule == e->t->n_splits) {
        encode_piece(e, s, len);
        return;
    }
    const SplitRule *r = &e->t->splits[rule];
    for (size_t pos = 0; pos < len;) {
        size_t end = split_next(r, s, len, pos, &e->split);
        split_and_encode(e, rule + 1, s + pos, end - pos);
        pos = end;
    }
}

/* Encodes a stretch of text that holds no added token; it began at offset
 * src of the caller's text. */
static void encode_stretch(Encoder *e, const uint8_t *s, size_t len, size_t src) {
    if (len == 0) return;
    e->seg = s;
    e->seg_src = src;
    e->seg_map = NULL;
    if (e->t->nfc && nfc_normalize(s, len, &e->nfc, e->offsets != NULL)) {
        s = e->seg = e->nfc.data;
        len = e->nfc.len;
        e->seg_map = e->offsets ? e->nfc.src : NULL;
    }
    split_and_encode(e, 0, s, len);
}

/* The first added token in text[from..len): leftmost, then longest, as
 * Hugging Face's Aho-Corasick search finds it. Returns its index in
 * t->added, or -1, and its start in *at. */
static int find_added(const Tokenizer *t, const uint8_t *text, size_t len, size_t from, int allow_special, size_t *at) {
    if (t->n_added == 0) return -1;
    for (size_t i = from; i < len; i++) {
        for (int k = t->added_first[text[i]]; k >= 0 && k < t->n_added; k++) {
            const AddedToken *a = &t->added[t->added_sorted[k]];
            if ((uint8_t)a->content[0] != text[i]) break;
            if (a->special && !allow_special) continue;
            if ((size_t)a->len <= len - i && memcmp(text + i, a->content, (size_t)a->len) == 0) {
                *at = i;
                return t->added_sorted[k];
            }
        }
    }
    return -1;
}

/* Where the run of white space that ends at text[end] begins (no earlier than lo). */
static size_t space_run_start(const uint8_t *text, size_t lo, size_t end) {
    while (end > lo) {
        size_t b = end - 1;
        while (b > lo && (text[b] & 0xC0) == 0x80 && end - b < 4) b--;
        int n;
        uint32_t cp = utf8_decode(text + b, end - b, &n);
        if ((size_t)n != end - b || !(unicode_classes[cp] & UCLASS_SPACE)) break;
        end = b;
    }
    return end;
}

/* Encodes text[0..len), which began at offset src of the caller's text. */
static void encode_text(Encoder *e, const uint8_t *text, size_t len, size_t src, int allow_special) {
    size_t pos = 0;
    while (pos < len) {
        size_t at;
        int k = find_added(e->t, text, len, pos, allow_special, &at);
        if (k < 0) {
            encode_stretch(e, text + pos, len - pos, src + pos);
            return;
        }
        const AddedToken *a = &e->t->added[k];
        size_t stretch_end = a->lstrip ? space_run_start(text, pos, at) : at, next = at + (size_t)a->len;
        while (a->rstrip && next < len) {
            int n;
            uint32_t cp = utf8_decode(text + next, len - next, &n);
            if (!(unicode_classes[cp] & UCLASS_SPACE)) break;
            next += (size_t)n;
        }
        encode_stretch(e, text + pos, stretch_end - pos, src + pos);
        if (e->on_piece) {
            pos = next;
            continue;
        }
        intvec_push(e->ids, a->id);
        if (e->offsets) intvec_push(e->offsets, (int)(src + stretch_end));
        pos = next;
    }
}

/* Cuts the text at safe points into a few chunks per thread, encodes them
 * in parallel and concatenates the results in order. */
static void encode_parallel(const Tokenizer *t, const uint8_t *text, size_t len, int allow_special, IntVec *out,
                            int threads) {
    int n_chunks = threads * CHUNKS_PER_THREAD, n = 0;
    size_t *cut = xmalloc((size_t)(n_chunks + 1) * sizeof(size_t));
    cut[0] = 0;
    for (int c = 1; c < n_chunks; c++) {
        size_t limit = len / (size_t)n_chunks * (size_t)(c + 1);
        size_t p = split_find_safe_cut(text, len, LMF_MAX(len / (size_t)n_chunks * (size_t)c, cut[n] + 1), limit);
        if (p < limit) cut[++n] = p;
    }
    cut[++n] = len;
    IntVec *parts = xcalloc((size_t)n, sizeof(IntVec));
#pragma omp parallel num_threads(threads)
    {
        Encoder e;
        encoder_init(&e, t, NULL, NULL);
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < n; c++) {
            /* A vector of the thread's own: neighbouring parts[] share a cache line. */
            IntVec ids = {0};
            e.ids = &ids;
            encode_text(&e, text + cut[c], cut[c + 1] - cut[c], cut[c], allow_special);
            parts[c] = ids;
        }
        encoder_free(&e);
    }
    for (int c = 0; c < n; c++) {
        intvec_append(out, parts[c].data, parts[c].len);
        intvec_free(&parts[c]);
    }
    free(parts);
    free(cut);
}

void tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out) {
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (t->parallel_safe && threads > 1 && len >= PARALLEL_MIN_BYTES) {
        encode_parallel(t, (const uint8_t *)text, len, allow_special, out, threads);
        return;
    }
    Encoder e;
    encoder_init(&e, t, out, NULL);
    encode_text(&e, (const uint8_t *)text, len, 0, allow_special);
    encoder_free(&e);
}

void tokenizer_encode_with_offsets(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out,
                                   IntVec *offsets) {
    if (len >= INT_MAX) die("tokenizer_encode_with_offsets: a text of %zu bytes is too long for int offsets", len);
    Encoder e;
    encoder_init(&e, t, out, offsets);
    encode_text(&e, (const uint8_t *)text, len, 0, allow_special);
    encoder_free(&e);
}

void tokenizer_each_piece(const Tokenizer *t, const char *text, size_t len, int allow_special,
                          void (*on_piece)(void *ctx, const uint8_t *piece, size_t len), void *ctx) {
    Encoder e;
    encoder_init(&e, t, NULL, NULL);
    e.on_piece = on_piece;
    e.ctx = ctx;
    encode_text(&e, (const uint8_t *)text, len, 0, allow_special);
    encoder_free(&e);
}
