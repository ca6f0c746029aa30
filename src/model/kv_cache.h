/* kv_cache.h — the keys and values of tokens already seen, so that each new
 * token costs one pass through the model instead of a pass over its whole
 * sequence: the cached forward pass that generation is built on.
 *
 * A cache holds n_seqs independent sequences (a decoding batch), each up to
 * max_len tokens, at positions counted from 0. model_forward_cached takes any
 * mix of new tokens — a whole prompt for some sequences (prefill), one token
 * for others (decoding) — appends their keys and values, and returns the
 * head's output for the rows asked for.
 *
 * Every row is computed by the same operations whatever else is in the call
 * (linear_forward_invariant, attention per row): a sequence's logits do not
 * depend on the batch, nor on whether its prompt was fed in one call or token
 * by token. They match model_forward's to float rounding, LoRA adapters
 * (m->lora) included. */
#ifndef LMF_KV_CACHE_H
#define LMF_KV_CACHE_H

#include <stddef.h>

#include "model.h"

typedef struct {
    int n_layers, n_seqs, max_len, kv_width; /* L, S, max_len, KV */
    float *k, *v;                            /* (L, S, max_len, KV) keys (after RoPE) and values */
    int *len;                                /* (S) tokens cached per sequence */
    /* Working buffers of the forward pass, for up to `rows` new tokens per call. */
    size_t rows;
    float *work;               /* everything below points into it */
    float *x;                  /* (rows, C) residual stream */
    float *xn;                 /* (rows, C) normalised input of a sub-layer */
    float *rstd;               /* (rows) */
    float *qkv;                /* (rows, QKV) */
    float *att;                /* (rows, Q) attention output */
    float *gu;                 /* (rows, 2F) */
    float *h;                  /* (rows, F) */
    float *xout;               /* (rows, C) the rows whose head output is wanted */
    size_t lora_rank;          /* r of the adapters the scratch below fits (0: none) */
    float *lora_u;             /* (rows, r) LoRA: the adapter's input times Aᵀ */
    float *lora_y;             /* (rows, max(C, F, Q)) LoRA: that times Bᵀ, before scaling */
    int *pos;                  /* (rows) position of each new token in its sequence */
} KvCache;

/* A cache for n_seqs sequences of up to max_len tokens (at most the model's max_seq_len). */
KvCache *kv_cache_new(const ModelConfig *c, int n_seqs, int max_len);
void kv_cache_free(KvCache *kv);
/* Empties every sequence. */
void kv_cache_clear(KvCache *kv);
/* Sequence dst becomes a copy of sequence src (a prompt prefilled once, sampled many times). */
void kv_cache_copy_seq(KvCache *kv, int dst, int src);
/* Bytes of keys and values a cache of this size holds. */
size_t kv_cache_bytes(const ModelConfig *c, int n_seqs, int max_len);

/* Runs N new tokens through the model and appends them to their sequences.
 * tokens, seq (N): row i is the next token of sequence seq[i]; rows of one
 * sequence come in order. out (n_out, OUT) receives the head's output
 * (logits) for rows out_rows[0..n_out). Dies if a sequence would grow past
 * max_len or a token is outside the vocabulary. */
void model_forward_cached(Model *m, KvCache *kv, const int *tokens, const int *seq, int N, const int *out_rows,
                          int n_out, float *out);

#endif
