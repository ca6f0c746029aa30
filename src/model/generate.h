/* generate.h — sampling continuations of many prompts at once, through a KV
 * cache: what `lmforge generate` and `lmforge chat` run, and what PPO,
 * rejection sampling and `lmforge sample` call directly.
 *
 *   SampleOptions o = sample_options_default();
 *   o.temperature = 0.7f; o.max_new_tokens = 128; o.n_samples = 4;
 *   o.stop_ids = stops; o.n_stop_ids = 2; o.tokenizer = tok; o.logprobs = 1;
 *   Generation *g = xcalloc(n * 4, sizeof(Generation));
 *   generate_batch(model, prompts, prompt_lens, n, &o, g);   // g[i*4 + k]: sample k of prompt i
 *   ... g[j].tokens, g[j].logprobs, g[j].text ...
 *   generations_free(g, n * 4);
 *
 * Reproducible: sample k of prompt i draws from its own random stream,
 * derived from the seed and its index i·K + k, and its logits do not depend on
 * the other sequences in its batch (kv_cache.h). So the same seed gives the
 * same samples whatever the batch size or the other prompts before it. */
#ifndef LMF_GENERATE_H
#define LMF_GENERATE_H

#include <stdint.h>

#include "../tokenizer/tokenizer.h"
#include "model.h"
#include "sampler.h"

typedef struct {
    float temperature;  /* 0: greedy */
    int top_k;          /* 0: off */
    float top_p;        /* 1: off */
    int max_new_tokens; /* generation also stops where the model's context ends */
    const int *stop_ids;              /* a generated token among these ends the sample (EOS, <|im_end|>) */
    int n_stop_ids;
    const char *const *stop_strings;  /* so does text containing one of these (needs the tokenizer) */
    int n_stop_strings;
    const Tokenizer *tokenizer;       /* if not NULL, each Generation gets its text */
    uint64_t seed;
    int n_samples;  /* K continuations per prompt (at least 1) */
    int first_index; /* sample k of prompt i draws from stream first_index + i·K + k: a share of a larger batch
                        (one rank's, under MPI) gets the samples the whole batch would give it */
    int batch_size; /* sequences decoded together: bounds the KV cache and working memory */
    int logprobs;   /* fill Generation.logprobs */
    /* Called after each token of each sequence, in order (streaming): seq = i·K + k; done is 1 when the
     * sequence ends with this token. May be NULL. */
    void (*on_token)(void *ctx, int seq, int token, int done);
    void *on_token_ctx;
} SampleOptions;

/* Temperature 1, no top-k or top-p cut, 128 new tokens, K = 1, batches of 32, seed 0, no stops. */
SampleOptions sample_options_default(void);

/* The tokens that end an answer, those of them the tokenizer has: its
 * end-of-text token and ChatML's end of turn <|im_end|>. Writes them into
 * ids; returns how many (0 to 2). */
int generation_stop_ids(const Tokenizer *t, int ids[2]);

enum { STOP_LENGTH = 0, STOP_TOKEN = 1, STOP_STRING = 2 };

typedef struct {
    int *tokens;          /* (n_tokens) the generated tokens, the stop token included */
    int n_tokens;
    float *logprobs;      /* (n_tokens) log-probability of each token under the distribution it was drawn from
                             (with no top-k/top-p cut: log softmax(logits/T), what PPO recomputes); NULL unless asked */
    int finished_by_stop; /* STOP_LENGTH (0): hit max_new_tokens or the context's end; STOP_TOKEN; STOP_STRING */
    int stop_index;       /* which stop id or stop string ended it, or -1 */
    char *text;           /* with a tokenizer: the decoded text, without the stop token, cut before the stop
                             string; NUL-terminated, but raw bytes: it may hold a NUL or end inside a character */
    size_t text_len;
} Generation;

/* Generates K = o->n_samples continuations of each of n prompts (token arrays
 * of different lengths) into out[i*K + k] (n*K entries, overwritten).
 * Sequences are decoded o->batch_size at a time. Dies with a clear message on
 * an empty prompt, a prompt as long as the model's context or longer, a
 * model without an LM head, or invalid options. */
void generate_batch(Model *m, const int *const *prompts, const int *prompt_lens, int n, const SampleOptions *o,
                    Generation *out);

void generations_free(Generation *g, int n);

#endif
