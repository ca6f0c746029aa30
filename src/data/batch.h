/* batch.h — one micro-batch of token sequences: what the data loaders fill
 * (packing.h, sft_data.h, preference_pairs.h) and the trainer runs through
 * the model. */
#ifndef LMF_BATCH_H
#define LMF_BATCH_H

#include <stddef.h>

/* One micro-batch. Its arrays are owned by the objective (batch_reserve). */
typedef struct {
    int B, T;
    int *tokens;     /* (B, T) */
    int *targets;    /* (B, T) the next tokens, -100 where no loss is taken */
    int *doc_start;  /* (B, T) packed sequences (see attention_forward), or NULL */
    double weight;   /* units (counted tokens, pairs) this batch adds to the step's mean loss */
    long n_tokens;   /* tokens processed, for tokens/s */
    void *aux;       /* the objective's own per-batch data */
    size_t capacity; /* tokens the arrays hold */
} Batch;

/* Makes room for (B, T) tokens; doc_start is allocated only when asked for. */
void batch_reserve(Batch *b, int B, int T, int with_doc_start);
void batch_free(Batch *b);

#endif
