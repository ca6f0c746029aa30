/* rollout.c — see rollout.h. */
#include "rollout.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "reward_model.h"

Rollout rollout_new(int n, const int *const *prompts, const int *prompt_lens, const int *const *responses,
                    const int *response_lens) {
    Rollout r = {.n = n};
    r.tokens = xcalloc((size_t)LMF_MAX(n, 1), sizeof(int *));
    r.len = xcalloc((size_t)LMF_MAX(n, 1), sizeof(int));
    r.prompt_len = xcalloc((size_t)LMF_MAX(n, 1), sizeof(int));
    r.offset = xcalloc((size_t)n + 1, sizeof(int));
    for (int s = 0; s < n; s++) {
        r.prompt_len[s] = prompt_lens[s];
        r.len[s] = prompt_lens[s] + response_lens[s];
        r.tokens[s] = xmalloc(sizeof(int) * (size_t)LMF_MAX(r.len[s], 1));
        memcpy(r.tokens[s], prompts[s], sizeof(int) * (size_t)prompt_lens[s]);
        memcpy(r.tokens[s] + prompt_lens[s], responses[s], sizeof(int) * (size_t)response_lens[s]);
        r.offset[s + 1] = r.offset[s] + response_lens[s];
    }
    return r;
}

Generation *sample_answers(Model *policy, const Tokenizer *t, const RenderedPrompts *prompts, SampleOptions so) {
    int stop_ids[2];
    so.stop_ids = stop_ids;
    so.n_stop_ids = generation_stop_ids(t, stop_ids);
    so.tokenizer = t;
    Generation *g = xcalloc((size_t)LMF_MAX(prompts->n * so.n_samples, 1), sizeof(Generation));
    generate_batch(policy, prompts->tokens, prompts->lens, prompts->n, &so, g);
    return g;
}

Rollout rollout_of_generations(int n_prompts, const int *const *prompts, const int *prompt_lens, const Generation *g,
                               int K) {
    int n = n_prompts * K;
    size_t count = (size_t)LMF_MAX(n, 1);
    const int **seq_prompts = xmalloc(sizeof(int *) * count), **answers = xmalloc(sizeof(int *) * count);
    int *seq_prompt_lens = xmalloc(sizeof(int) * count), *answer_lens = xmalloc(sizeof(int) * count);
    for (int s = 0; s < n; s++) {
        seq_prompts[s] = prompts[s / K];
        seq_prompt_lens[s] = prompt_lens[s / K];
        answers[s] = g[s].tokens;
        answer_lens[s] = g[s].n_tokens;
    }
    Rollout r = rollout_new(n, seq_prompts, seq_prompt_lens, answers, answer_lens);
    free(seq_prompts);
    free(seq_prompt_lens);
    free(answers);
    free(answer_lens);
    return r;
}

void rollout_free(Rollout *r) {
    for (int s = 0; s < r->n; s++) free(r->tokens[s]);
    free(r->tokens);
    free(r->len);
    free(r->prompt_len);
    free(r->offset);
    memset(r, 0, sizeof *r);
}

SeqRef *rollout_refs(const Rollout *r, int **masks_out) {
    SeqRef *refs = xcalloc((size_t)LMF_MAX(r->n, 1), sizeof(SeqRef));
    size_t total = 0;
    for (int s = 0; s < r->n; s++) total += (size_t)r->len[s];
    int *masks = xcalloc(LMF_MAX(total, 1), sizeof(int));
    size_t at = 0;
    for (int s = 0; s < r->n; s++) {
        for (int p = r->prompt_len[s]; p < r->len[s]; p++) masks[at + (size_t)p] = 1;
        refs[s] = (SeqRef){r->tokens[s], masks + at, r->len[s]};
        at += (size_t)r->len[s];
    }
    *masks_out = masks;
    return refs;
}

void rollout_free_refs(SeqRef *refs, int *masks) {
    free(refs);
    free(masks);
}

void rollout_forward(Model *m, const Rollout *r, const int *idx, int k, int max_tokens, int for_backward,
                     RolloutBatchFn fn, void *ctx) {
    int *masks;
    SeqRef *all = rollout_refs(r, &masks);
    SeqRef *refs = xmalloc(sizeof(SeqRef) * (size_t)LMF_MAX(k, 1));
    SeqPlace *places = xmalloc(sizeof(SeqPlace) * (size_t)LMF_MAX(k, 1));
    int longest = 1;
    for (int i = 0; i < k; i++) {
        refs[i] = all[idx[i]];
        longest = LMF_MAX(longest, refs[i].len);
    }
    if (longest > m->cfg.max_seq_len)
        die("a prompt with its answer has %d tokens, more than the model's context (%d)", longest, m->cfg.max_seq_len);
    int rows = LMF_MAX(1, max_tokens / longest);
    Batch b = {0};
    for (int done = 0; done < k;) {
        int placed = pack_sequences(&b, refs + done, k - done, rows, longest, 1, 0, places);
        model_forward(m, b.tokens, b.doc_start, b.B, b.T, for_backward);
        fn(ctx, m, &b, idx + done, places, placed);
        done += placed;
    }
    batch_free(&b);
    free(places);
    free(refs);
    rollout_free_refs(all, masks);
}

void rollout_gather(const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k, const float *src,
                    float *dst) {
    for (int i = 0; i < k; i++) {
        int s = idx[i], n = rollout_response_len(r, s);
        const float *from = src + (size_t)places[i].row * b->T + places[i].start + r->prompt_len[s] - 1;
        memcpy(dst + r->offset[s], from, sizeof(float) * (size_t)n);
    }
}

void rollout_scatter(const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k, const float *src,
                     float *dst) {
    for (int i = 0; i < k; i++) {
        int s = idx[i], n = rollout_response_len(r, s);
        float *to = dst + (size_t)places[i].row * b->T + places[i].start + r->prompt_len[s] - 1;
        memcpy(to, src + r->offset[s], sizeof(float) * (size_t)n);
    }
}

typedef struct {
    const Rollout *r;
    float inv_temp;
    float *logp, *entropy;
} LogprobCtx;

static void gather_logprobs(void *p, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    LogprobCtx *c = p;
    size_t N = (size_t)b->B * b->T;
    float *lp = xalloc_floats(3 * N), *lse = lp + N, *ent = lp + 2 * N;
    logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, c->inv_temp, lp, lse, c->entropy ? ent : NULL);
    rollout_gather(c->r, b, idx, places, k, lp, c->logp);
    if (c->entropy) rollout_gather(c->r, b, idx, places, k, ent, c->entropy);
    free(lp);
}

void rollout_logprobs(Model *m, const Rollout *r, const int *idx, int k, float temperature, int max_tokens,
                      float *logp, float *entropy) {
    if (m->cfg.head != HEAD_LM) die("log-probs need a language-model head");
    LogprobCtx c = {r, 1.0f / temperature, logp, entropy};
    rollout_forward(m, r, idx, k, max_tokens, 0, gather_logprobs, &c);
}

typedef struct {
    const Rollout *r;
    float *values;
} ValueCtx;

static void gather_values(void *p, Model *m, const Batch *b, const int *idx, const SeqPlace *places, int k) {
    ValueCtx *c = p;
    rollout_gather(c->r, b, idx, places, k, m->act.out, c->values);
}

void rollout_values(Model *value_model, const Rollout *r, const int *idx, int k, int max_tokens, float *values) {
    if (value_model->cfg.head != HEAD_SCORE) die("values need a model with a score head");
    ValueCtx c = {r, values};
    rollout_forward(value_model, r, idx, k, max_tokens, 0, gather_values, &c);
}

void rollout_scores(Model *reward_model, const Rollout *r, float *scores) {
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)LMF_MAX(r->n, 1));
    for (int s = 0; s < r->n; s++) seqs[s] = (SeqRef){r->tokens[s], NULL, r->len[s]};
    rm_score_sequences(reward_model, seqs, r->n, scores);
    free(seqs);
}

void rollout_policy_gradient(Model *m, const Rollout *r, const Batch *b, const int *idx, const SeqPlace *places, int k,
                             float temperature, float *entropy, TokenLossFn loss, void *ctx) {
    size_t N = (size_t)b->B * b->T;
    int T = rollout_tokens(r);
    float inv_temp = 1.0f / temperature;
    float *lp = xalloc_floats(4 * N), *lse = lp + N, *dlogp = lp + 2 * N, *ent = entropy ? lp + 3 * N : NULL;
    float *lp_tok = xalloc_floats((size_t)T * 2), *dlp_tok = lp_tok + T;
    logprob_forward(m->act.out, b->targets, (int)N, m->cfg.vocab_size, inv_temp, lp, lse, ent);
    rollout_gather(r, b, idx, places, k, lp, lp_tok);
    if (entropy) rollout_gather(r, b, idx, places, k, ent, entropy);
    loss(ctx, idx, k, lp_tok, dlp_tok);
    memset(dlogp, 0, sizeof(float) * N);
    rollout_scatter(r, b, idx, places, k, dlp_tok, dlogp);
    logprob_backward(m->act.out, b->targets, dlogp, lse, (int)N, m->cfg.vocab_size, inv_temp);
    model_backward(m);
    free(lp);
    free(lp_tok);
}
