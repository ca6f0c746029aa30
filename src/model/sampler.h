/* sampler.h — choosing the next token from the logits.
 *
 * The distribution sampled from is softmax(logits / temperature), cut down to
 * the top_k largest logits (0: no cut; ties with the k-th are kept, as in
 * Hugging Face), then to the nucleus: the most probable tokens whose mass
 * reaches top_p of what is left (1: no cut; ties at the edge are kept), and
 * renormalised. Temperature 0 is greedy: the argmax (the lowest id on ties).
 *
 * Neither cut sorts the vocabulary: the thresholds come from a selection in
 * linear time, and the draw walks the kept tokens in id order. */
#ifndef LMF_SAMPLER_H
#define LMF_SAMPLER_H

#include "../base/rng.h"

typedef struct {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off */
} SamplerParams;

/* Dies with a one-line reason unless temperature >= 0, top_k >= 0 and 0 < top_p <= 1. */
void sampler_check(const SamplerParams *p);

/* Draws a token from logits (V), which it overwrites (they are scratch by
 * then). logprob, if not NULL, gets the log-probability of the token under
 * the distribution it was drawn from (0 for greedy). Uses one number of rng
 * per call unless greedy. */
int sample_token(float *logits, int V, const SamplerParams *p, Rng *rng, float *logprob);

#endif
