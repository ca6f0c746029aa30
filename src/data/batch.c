/* batch.c — see batch.h. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

void batch_reserve(Batch *b, int B, int T, int with_doc_start) {
    size_t n = (size_t)B * T;
    if (n > b->capacity || (with_doc_start && !b->doc_start)) {
        size_t cap = LMF_MAX(n, b->capacity);
        b->tokens = xrealloc(b->tokens, cap * sizeof(int));
        b->targets = xrealloc(b->targets, cap * sizeof(int));
        if (with_doc_start || b->doc_start) b->doc_start = xrealloc(b->doc_start, cap * sizeof(int));
        b->capacity = cap;
    }
    b->B = B;
    b->T = T;
}

void batch_free(Batch *b) {
    free(b->tokens);
    free(b->targets);
    free(b->doc_start);
    memset(b, 0, sizeof *b);
}
