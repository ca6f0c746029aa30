/* packing.c — see packing.h. */
#include "packing.h"

#include "../base/util.h"

int pack_sequences(Batch *b, const SeqRef *seqs, int n, int max_rows, int T, int packed, int pad_id, SeqPlace *places) {
    if (max_rows < 1 || T < 1) die("pack_sequences: empty batch shape %d x %d", max_rows, T);
    /* first pass: where each sequence goes */
    int row = 0, used = 0, placed = 0, longest = 0;
    for (; placed < n; placed++) {
        int len = seqs[placed].len;
        if (len < 1 || len > T) die("pack_sequences: a sequence of %d tokens does not fit in %d", len, T);
        if (placed > 0 && (!packed || used + len > T)) {
            if (row + 1 == max_rows) break;
            row++;
            used = 0;
        }
        places[placed] = (SeqPlace){row, used, len};
        used += len;
        longest = LMF_MAX(longest, len);
    }
    int B = row + 1, width = packed ? T : longest;
    batch_reserve(b, B, width, packed);
    size_t N = (size_t)B * width;
    for (size_t i = 0; i < N; i++) {
        b->tokens[i] = pad_id;
        b->targets[i] = -100;
        if (packed) b->doc_start[i] = (int)(i % (size_t)width); /* padding: a document of its own per token */
    }
    long n_targets = 0;
    for (int s = 0; s < placed; s++) {
        const SeqRef *q = &seqs[s];
        int *tokens = b->tokens + (size_t)places[s].row * width + places[s].start;
        int *targets = b->targets + (size_t)places[s].row * width + places[s].start;
        for (int i = 0; i < q->len; i++) {
            tokens[i] = q->ids[i];
            int next_marked = i + 1 < q->len && (q->mask ? q->mask[i + 1] : 1);
            targets[i] = next_marked ? q->ids[i + 1] : -100;
            n_targets += next_marked;
            if (packed) b->doc_start[(size_t)places[s].row * width + places[s].start + i] = places[s].start;
        }
    }
    if (!packed && b->doc_start) {
        /* padded rows need no mask beyond causality; a doc_start left from an
         * earlier packed use of this batch must not apply */
        for (size_t i = 0; i < N; i++) b->doc_start[i] = 0;
    }
    b->weight = (double)n_targets;
    b->n_tokens = (long)N;
    return placed;
}
