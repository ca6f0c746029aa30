/* packing.h — laying variable-length sequences out in a batch of rows.
 *
 * Packed: sequences follow each other in a row of T tokens; doc_start keeps
 * each one's attention to itself (a block-diagonal causal mask) and restarts
 * its positions, so a packed batch computes exactly what the sequences would
 * one by one, without the padding. Padded: one sequence per row, rows as long
 * as the longest sequence, the rest filled with pad tokens.
 *
 * Targets are the next token where that token is marked (mask 1), -100
 * elsewhere: the loss covers exactly the marked tokens, and never crosses
 * from one sequence into the next. */
#ifndef LMF_PACKING_H
#define LMF_PACKING_H

#include "batch.h"

typedef struct {
    const int *ids;  /* (len) */
    const int *mask; /* (len) 1 = predict this token; NULL = every token after the first */
    int len;
} SeqRef;

typedef struct {
    int row, start, len; /* where a sequence went: tokens [start, start+len) of row */
} SeqPlace;

/* Places seqs[0..n) in order into at most max_rows rows of at most T tokens,
 * stopping at the first sequence that does not fit (each must be <= T long).
 * Fills b's tokens, targets and (packed) doc_start, b->B and b->T, and
 * places[i] for each placed sequence; returns how many were placed. The
 * batch's weight is its number of targets. */
int pack_sequences(Batch *b, const SeqRef *seqs, int n, int max_rows, int T, int packed, int pad_id, SeqPlace *places);

#endif
