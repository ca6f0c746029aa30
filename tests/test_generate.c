/* test_generate.c — the KV cache against the full forward pass, batched
 * generation against one-by-one generation, the sampler against its
 * definitions, stops, seeds and errors. Small random models: GQA with q/k/v
 * biases (Qwen2-like), tied embeddings, and a plain untied one. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "../src/model/generate.h"
#include "../src/model/kv_cache.h"
#include "../src/model/lora.h"
#include "../src/model/sampler.h"
#include "../src/tokenizer/tokenizer.h"
#include "test.h"
#include "test_ref_util.h"
#include "test_pretrain_fixtures.h"

typedef struct {
    const char *label;
    int V, C, L, NH, NKV, bias, tied, max_seq_len;
} TinyShape;

static const TinyShape shapes[] = {
    {"gqa_bias", 61, 48, 2, 6, 2, 1, 0, 64},
    {"tied", 53, 32, 2, 4, 4, 0, 1, 64},
    {"untied", 67, 40, 3, 5, 5, 0, 0, 64},
};

/* Random weights with a spread large enough that logits are far from uniform
 * (model_init_random's 0.02 gives near-ties everywhere); biases non-zero. */
static Model *tiny_model(const TinyShape *s, uint64_t seed) {
    ModelConfig c = config_default(s->V, s->C, s->L, s->NH);
    c.n_kv_heads = s->NKV;
    c.qkv_bias = s->bias;
    c.tie_embeddings = s->tied;
    c.max_seq_len = s->max_seq_len;
    Model *m = model_new(&c);
    test_randomize_weights(m, seed, 0.1f);
    return m;
}

static int *random_tokens(Rng *r, int n, int V) {
    int *t = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) t[i] = (int)rng_below(r, (uint64_t)V);
    return t;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

TEST(kv_cache_logits_match_full_forward) {
    for (size_t si = 0; si < LMF_ARRAY_LEN(shapes); si++) {
        const TinyShape *s = &shapes[si];
        Model *m = tiny_model(s, 11 + si);
        Rng r;
        rng_seed(&r, 5);
        const int lens[3] = {17, 1, 9}, V = s->V;
        int *seqs[3];
        for (int i = 0; i < 3; i++) seqs[i] = random_tokens(&r, lens[i], V);

        /* (a) all three sequences in one prefill call, logits at every row */
        KvCache *kv = kv_cache_new(&m->cfg, 3, 32);
        int N = 0, tokens[27], seq[27], rows[27];
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < lens[i]; t++, N++) tokens[N] = seqs[i][t], seq[N] = i, rows[N] = N;
        float *cached = xalloc_floats((size_t)N * V);
        model_forward_cached(m, kv, tokens, seq, N, rows, N, cached);

        /* (b) the same, token by token, the sequences interleaved */
        KvCache *kv2 = kv_cache_new(&m->cfg, 3, 32);
        float *stepwise = xalloc_floats((size_t)N * V);
        for (int t = 0; t < 17; t++)
            for (int i = 0, base = 0; i < 3; base += lens[i], i++) {
                if (t >= lens[i]) continue;
                int zero = 0;
                model_forward_cached(m, kv2, &seqs[i][t], &i, 1, &zero, 1, stepwise + (size_t)(base + t) * V);
            }
        for (int i = 0, base = 0; i < 3; base += lens[i], i++) {
            model_forward(m, seqs[i], NULL, 1, lens[i], 0);
            double e1 = rel_error(cached + (size_t)base * V, m->act.out, (size_t)lens[i] * V);
            double e2 = rel_error(stepwise + (size_t)base * V, m->act.out, (size_t)lens[i] * V);
            CHECK_MSG(e1 < 2e-5, "%s, sequence %d: prefill logits differ from model_forward by %g", s->label, i, e1);
            CHECK_MSG(e2 < 2e-5, "%s, sequence %d: decoded logits differ from model_forward by %g", s->label, i, e2);
            /* a row's logits do not depend on how it was batched */
            CHECK(memcmp(cached + (size_t)base * V, stepwise + (size_t)base * V, sizeof(float) * lens[i] * V) == 0);
        }
        for (int i = 0; i < 3; i++) free(seqs[i]);
        free(cached);
        free(stepwise);
        kv_cache_free(kv);
        kv_cache_free(kv2);
        model_free(m);
    }
}

/* Three prompts of different lengths. */
typedef struct {
    int *tokens[3];
    int lens[3];
} Prompts;

static Prompts make_prompts(int V, uint64_t seed) {
    Prompts p = {.lens = {5, 1, 12}};
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < 3; i++) p.tokens[i] = random_tokens(&r, p.lens[i], V);
    return p;
}

static void free_prompts(Prompts *p) {
    for (int i = 0; i < 3; i++) free(p->tokens[i]);
}

TEST(greedy_generation_equals_full_forward_argmax) {
    for (size_t si = 0; si < LMF_ARRAY_LEN(shapes); si++) {
        Model *m = tiny_model(&shapes[si], 21 + si);
        Prompts p = make_prompts(shapes[si].V, 3);
        SampleOptions o = sample_options_default();
        o.temperature = 0;
        o.max_new_tokens = 12;
        Generation g[3];
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, g);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(g[i].n_tokens, 12);
            CHECK_EQ_INT(g[i].finished_by_stop, STOP_LENGTH);
            /* recompute the whole sequence at every step and take the argmax of its last row */
            int *seq = xmalloc(sizeof(int) * (size_t)(p.lens[i] + 12)), T = p.lens[i];
            memcpy(seq, p.tokens[i], sizeof(int) * (size_t)T);
            for (int t = 0; t < 12; t++, T++) {
                model_forward(m, seq, NULL, 1, T, 0);
                int expect = argmax(m->act.out + (size_t)(T - 1) * shapes[si].V, shapes[si].V);
                CHECK_MSG(g[i].tokens[t] == expect, "%s, prompt %d, token %d: %d, full forward's argmax %d",
                          shapes[si].label, i, t, g[i].tokens[t], expect);
                seq[T] = expect;
            }
            free(seq);
        }
        generations_free(g, 3);
        free_prompts(&p);
        model_free(m);
    }
}

static int same_generation(const Generation *a, const Generation *b) {
    return a->n_tokens == b->n_tokens && a->finished_by_stop == b->finished_by_stop &&
           memcmp(a->tokens, b->tokens, sizeof(int) * (size_t)a->n_tokens) == 0 &&
           (!a->logprobs || memcmp(a->logprobs, b->logprobs, sizeof(float) * (size_t)a->n_tokens) == 0);
}

TEST(batched_generation_equals_one_by_one) {
    enum { K = 4, S = 3 * K };
    for (size_t si = 0; si < LMF_ARRAY_LEN(shapes); si++) {
        const int V = shapes[si].V;
        Model *m = tiny_model(&shapes[si], 31 + si);
        Prompts p = make_prompts(V, 4);
        SampleOptions o = sample_options_default();
        o.temperature = 0.9f;
        o.top_k = 20;
        o.top_p = 0.95f;
        o.max_new_tokens = 10;
        o.n_samples = K;
        o.logprobs = 1;
        o.seed = 77;
        o.stop_ids = (int[]){3};
        o.n_stop_ids = 1;
        /* all 12 at once (decoding steps split by sequence over threads), one at a
         * time, and in batches of 5 (prompt 1's samples straddle two batches) */
        Generation all[S], single[S], chunked[S], repeated[S];
        o.batch_size = S;
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, all);
        o.batch_size = 1;
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, single);
        o.batch_size = 5;
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, chunked);
        /* each prompt written out K times, one sample each: no shared prefill, same streams */
        const int *rep[S];
        int rep_lens[S];
        for (int j = 0; j < S; j++) rep[j] = p.tokens[j / K], rep_lens[j] = p.lens[j / K];
        o.n_samples = 1;
        o.batch_size = S;
        generate_batch(m, rep, rep_lens, S, &o, repeated);
        for (int j = 0; j < S; j++) {
            CHECK_MSG(same_generation(&all[j], &single[j]), "%s: sample %d differs between batch %d and batch 1",
                      shapes[si].label, j, S);
            CHECK_MSG(same_generation(&all[j], &chunked[j]), "%s: sample %d differs between batch %d and batch 5",
                      shapes[si].label, j, S);
            CHECK_MSG(same_generation(&all[j], &repeated[j]), "%s: sample %d differs with the prompt repeated",
                      shapes[si].label, j);
        }
        /* the samples of a prompt are different draws */
        CHECK(!same_generation(&all[0], &all[1]) || !same_generation(&all[4], &all[5]));
        generations_free(all, S);
        generations_free(single, S);
        generations_free(chunked, S);
        generations_free(repeated, S);
        free_prompts(&p);
        model_free(m);
    }
}

/* A LoRA model decodes without being merged: the cached pass applies the
 * adapters (through the batch-invariant kernel), so its logits equal the
 * merged model's to float rounding, greedy generation gives the merged
 * model's tokens, and sampling stays the same at any batch size. The adapters
 * are random (a new one's B is zero, which would prove nothing) and change
 * the logits far beyond rounding. */
TEST(lora_generation_unmerged_matches_merged) {
    enum { K = 4, S = 3 * K, NEW = 12 };
    for (size_t si = 0; si < LMF_ARRAY_LEN(shapes); si++) {
        const TinyShape *sh = &shapes[si];
        const int V = sh->V;
        Model *m = tiny_model(sh, 41 + si), *merged = tiny_model(sh, 41 + si);
        LoraConfig lc = lora_config_defaults();
        lc.rank = 4;
        Lora *lora = lora_new(&m->cfg, &lc, 9);
        Rng r;
        rng_seed(&r, 13 + si);
        for (size_t i = 0; i < lora->n_params; i++) lora->params[i] = 0.1f * rng_normal(&r);
        lora_merge(lora, merged);
        Prompts p = make_prompts(V, 6);

        /* the cached pass's logits over each prompt, with and without the adapters */
        for (int i = 0; i < 3; i++) {
            const int T = p.lens[i];
            int seq[12] = {0}, rows[12];
            for (int t = 0; t < T; t++) rows[t] = t;
            float *cached = xalloc_floats((size_t)T * V), *bare = xalloc_floats((size_t)T * V);
            KvCache *kv = kv_cache_new(&m->cfg, 1, 16);
            m->lora = lora;
            model_forward_cached(m, kv, p.tokens[i], seq, T, rows, T, cached);
            kv_cache_clear(kv);
            m->lora = NULL;
            model_forward_cached(m, kv, p.tokens[i], seq, T, rows, T, bare);
            model_forward(merged, p.tokens[i], NULL, 1, T, 0);
            double e = rel_error(cached, merged->act.out, (size_t)T * V);
            CHECK_MSG(e < 2e-5, "%s, prompt %d: unmerged logits differ from the merged model's by %g", sh->label, i, e);
            CHECK_MSG(rel_error(bare, merged->act.out, (size_t)T * V) > 1e-2, "%s: the adapters change nothing",
                      sh->label);
            kv_cache_free(kv);
            free(cached);
            free(bare);
        }

        /* greedy: the merged model's tokens */
        m->lora = lora;
        SampleOptions o = sample_options_default();
        o.temperature = 0;
        o.max_new_tokens = NEW;
        Generation unmerged_g[3], merged_g[3];
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, unmerged_g);
        generate_batch(merged, (const int *const *)p.tokens, p.lens, 3, &o, merged_g);
        for (int i = 0; i < 3; i++)
            CHECK_MSG(unmerged_g[i].n_tokens == merged_g[i].n_tokens &&
                          memcmp(unmerged_g[i].tokens, merged_g[i].tokens, sizeof(int) * NEW) == 0,
                      "%s, prompt %d: greedy tokens differ between the unmerged and the merged model", sh->label, i);

        /* sampling with the adapters: the same samples at batch 12 (decoding split over threads) and batch 1 */
        o.temperature = 0.9f;
        o.n_samples = K;
        o.logprobs = 1;
        o.seed = 5;
        Generation all[S], single[S];
        o.batch_size = S;
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, all);
        o.batch_size = 1;
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, single);
        for (int j = 0; j < S; j++)
            CHECK_MSG(same_generation(&all[j], &single[j]), "%s: LoRA sample %d differs between batch %d and batch 1",
                      sh->label, j, S);

        generations_free(unmerged_g, 3);
        generations_free(merged_g, 3);
        generations_free(all, S);
        generations_free(single, S);
        free_prompts(&p);
        m->lora = NULL;
        lora_free(lora);
        model_free(m);
        model_free(merged);
    }
}

TEST(generation_logprobs_are_log_softmax_of_full_forward) {
    const TinyShape *s = &shapes[0];
    Model *m = tiny_model(s, 41);
    Prompts p = make_prompts(s->V, 6);
    SampleOptions o = sample_options_default();
    o.temperature = 0.8f;
    o.max_new_tokens = 8;
    o.logprobs = 1;
    Generation g[3];
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, g);
    for (int i = 0; i < 3; i++) {
        int T = p.lens[i] + g[i].n_tokens - 1, *seq = xmalloc(sizeof(int) * (size_t)T);
        memcpy(seq, p.tokens[i], sizeof(int) * (size_t)p.lens[i]);
        memcpy(seq + p.lens[i], g[i].tokens, sizeof(int) * (size_t)(g[i].n_tokens - 1));
        model_forward(m, seq, NULL, 1, T, 0);
        for (int t = 0; t < g[i].n_tokens; t++) {
            const float *row = m->act.out + (size_t)(p.lens[i] - 1 + t) * s->V;
            double max = row[argmax(row, s->V)], z = 0;
            for (int v = 0; v < s->V; v++) z += exp((row[v] - max) / 0.8);
            double expect = (row[g[i].tokens[t]] - max) / 0.8 - log(z);
            CHECK_NEAR(g[i].logprobs[t], expect, 1e-4);
        }
        free(seq);
    }
    generations_free(g, 3);
    free_prompts(&p);
    model_free(m);
}

TEST(generation_is_reproducible_from_the_seed) {
    Model *m = tiny_model(&shapes[1], 51);
    Prompts p = make_prompts(shapes[1].V, 7);
    SampleOptions o = sample_options_default();
    o.max_new_tokens = 16;
    o.seed = 123;
    Generation a[3], b[3], c[3];
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, a);
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, b);
    o.seed = 124;
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, c);
    int differs = 0;
    for (int i = 0; i < 3; i++) {
        CHECK(same_generation(&a[i], &b[i]));
        differs |= !same_generation(&a[i], &c[i]);
    }
    CHECK_MSG(differs, "another seed gave the same samples");
    generations_free(a, 3);
    generations_free(b, 3);
    generations_free(c, 3);
    free_prompts(&p);
    model_free(m);
}

TEST(stop_token_ends_generation) {
    Model *m = tiny_model(&shapes[0], 61);
    Prompts p = make_prompts(shapes[0].V, 8);
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.max_new_tokens = 10;
    Generation free_run[3], stopped[3];
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, free_run);
    /* stop ids: an id never generated, then the 4th token of prompt 0's run */
    int stops[2] = {-5, free_run[0].tokens[3]};
    o.stop_ids = stops;
    o.n_stop_ids = 2;
    generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, stopped);
    for (int i = 0; i < 3; i++) {
        int first = -1;
        for (int t = 0; t < free_run[i].n_tokens && first < 0; t++)
            if (free_run[i].tokens[t] == stops[1]) first = t;
        if (first < 0) {
            CHECK(same_generation(&stopped[i], &free_run[i]));
            CHECK_EQ_INT(stopped[i].stop_index, -1);
            continue;
        }
        CHECK_EQ_INT(stopped[i].n_tokens, first + 1); /* the stop token is included */
        CHECK_EQ_INT(stopped[i].finished_by_stop, STOP_TOKEN);
        CHECK_EQ_INT(stopped[i].stop_index, 1);
        CHECK(memcmp(stopped[i].tokens, free_run[i].tokens, sizeof(int) * (size_t)(first + 1)) == 0);
    }
    CHECK_EQ_INT(stopped[0].n_tokens <= 4, 1);
    generations_free(free_run, 3);
    generations_free(stopped, 3);
    free_prompts(&p);
    model_free(m);
}

/* A byte-level tokenizer trained on a few lines (its vocabulary is the 256
 * bytes, a few merges and the special tokens). */
static Tokenizer *small_tokenizer(void) {
    char *dir = test_tmpdir("gen-tok"), *path = path_join(dir, "text.txt");
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < 50; i++) fprintf(f, "the cat sat on the mat and the dog ate the bone %d\n", i);
    fclose(f);
    BpeTrainOptions bo = {.vocab_size = 300};
    Tokenizer *t = fixture_train_tokenizer((const char **)&path, 1, &bo);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
    return t;
}

TEST(stop_string_ends_generation_and_cuts_the_text) {
    Tokenizer *tok = small_tokenizer();
    TinyShape s = {"bytes", tokenizer_vocab_size(tok), 32, 2, 4, 2, 0, 1, 64};
    Model *m = tiny_model(&s, 71);
    Rng r;
    rng_seed(&r, 9);
    int *prompt = random_tokens(&r, 4, 256), len = 4; /* byte tokens */
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.max_new_tokens = 40;
    o.tokenizer = tok;
    Generation free_run, stopped;
    generate_batch(m, (const int *const *)&prompt, &len, 1, &o, &free_run);
    size_t full_len;
    char *full = tokenizer_decode(tok, free_run.tokens, free_run.n_tokens, &full_len);
    CHECK(memcmp(free_run.text, full, full_len) == 0); /* the text is the decoded tokens */
    CHECK(full_len >= 12);
    /* stop at 3 bytes from the middle of the free run's text (without a NUL) */
    size_t from = full_len / 2;
    while (from + 3 <= full_len && memchr(full + from, 0, 3)) from++;
    if (from + 3 > full_len) SKIP("the random model's text is mostly NUL bytes");
    char stop[4] = {full[from], full[from + 1], full[from + 2], 0};
    const char *stops[2] = {"\x01never\x02", stop};
    o.stop_strings = stops;
    o.n_stop_strings = 2;
    generate_batch(m, (const int *const *)&prompt, &len, 1, &o, &stopped);
    size_t at = (size_t)((char *)memmem(full, full_len, stop, 3) - full);
    CHECK_EQ_INT(stopped.finished_by_stop, STOP_STRING);
    CHECK_EQ_INT(stopped.stop_index, 1);
    CHECK(memcmp(stopped.text, full, at) == 0 && stopped.text[at] == 0);
    /* it stopped at the token that completed the stop string, not later */
    size_t n_with, n_without;
    char *with = tokenizer_decode(tok, stopped.tokens, stopped.n_tokens, &n_with);
    char *without = tokenizer_decode(tok, stopped.tokens, stopped.n_tokens - 1, &n_without);
    CHECK(memmem(with, n_with, stop, 3) != NULL);
    CHECK(memmem(without, n_without, stop, 3) == NULL);
    free(with);
    free(without);
    free(full);
    free(prompt);
    generations_free(&free_run, 1);
    generations_free(&stopped, 1);
    model_free(m);
    tokenizer_free(tok);
}

TEST(generation_stops_at_the_end_of_the_context) {
    Model *m = tiny_model(&shapes[1], 81);
    Rng r;
    rng_seed(&r, 10);
    int len = m->cfg.max_seq_len - 3, *prompt = random_tokens(&r, len, shapes[1].V);
    SampleOptions o = sample_options_default();
    o.max_new_tokens = 10;
    Generation g;
    generate_batch(m, (const int *const *)&prompt, &len, 1, &o, &g);
    CHECK_EQ_INT(g.n_tokens, 3);
    CHECK_EQ_INT(g.finished_by_stop, STOP_LENGTH);
    generations_free(&g, 1);
    free(prompt);
    model_free(m);
}

typedef struct {
    Model *m;
    int *prompt, len;
    SampleOptions o;
} BadRequest;

static void run_bad_request(void *ctx) {
    BadRequest *b = ctx;
    Generation g;
    generate_batch(b->m, (const int *const *)&b->prompt, &b->len, 1, &b->o, &g);
}

TEST(generation_rejects_bad_requests) {
    Model *m = tiny_model(&shapes[1], 91);
    int *prompt = xcalloc(100, sizeof(int));
    BadRequest b = {m, prompt, 100, sample_options_default()};
    CHECK_DIES(run_bad_request, &b, "prompt 0 has 100 tokens, but the model's context is 64 tokens");
    b.len = 0;
    CHECK_DIES(run_bad_request, &b, "prompt 0 is empty");
    b.len = 3;
    prompt[1] = 999;
    CHECK_DIES(run_bad_request, &b, "token id 999 at position 1 is outside the vocabulary");
    prompt[1] = 0;
    b.o.top_p = 0;
    CHECK_DIES(run_bad_request, &b, "top-p must be in (0, 1]");
    b.o = sample_options_default();
    b.o.temperature = -1;
    CHECK_DIES(run_bad_request, &b, "temperature");
    b.o = sample_options_default();
    b.o.stop_strings = (const char *[]){"x"};
    b.o.n_stop_strings = 1;
    CHECK_DIES(run_bad_request, &b, "stop strings need the tokenizer");
    free(prompt);
    model_free(m);
}

/* ---- the sampler on its own ---- */

static void fill_random(float *x, int n, Rng *r, float scale) {
    for (int i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

TEST(sampler_greedy_limits_of_top_k_and_top_p) {
    Rng r, draw;
    rng_seed(&r, 1);
    rng_seed(&draw, 2);
    float logits[100], work[100];
    for (int trial = 0; trial < 200; trial++) {
        fill_random(logits, 100, &r, 2.0f);
        int best = argmax(logits, 100);
        float lp;
        memcpy(work, logits, sizeof work);
        CHECK_EQ_INT(sample_token(work, 100, &(SamplerParams){0, 0, 1}, &draw, &lp), best);
        CHECK_NEAR(lp, 0, 0);
        memcpy(work, logits, sizeof work);
        CHECK_EQ_INT(sample_token(work, 100, &(SamplerParams){1.3f, 1, 1}, &draw, &lp), best);
        CHECK_NEAR(lp, 0, 1e-6); /* one token left: probability 1 */
        memcpy(work, logits, sizeof work);
        CHECK_EQ_INT(sample_token(work, 100, &(SamplerParams){1.0f, 0, 1e-6f}, &draw, NULL), best);
    }
}

TEST(sampler_stays_inside_the_top_k) {
    Rng r, draw;
    rng_seed(&r, 3);
    rng_seed(&draw, 4);
    const int V = 50, k = 5;
    float logits[50], work[50];
    fill_random(logits, V, &r, 0.3f); /* flat: without the cut, most draws would fall outside */
    memcpy(work, logits, sizeof work);
    float sorted[50];
    memcpy(sorted, logits, sizeof sorted);
    for (int i = 0; i < k; i++) { /* the k-th largest, by partial selection sort */
        int m = i;
        for (int j = i + 1; j < V; j++)
            if (sorted[j] > sorted[m]) m = j;
        float t = sorted[i];
        sorted[i] = sorted[m];
        sorted[m] = t;
    }
    int seen[50] = {0};
    for (int n = 0; n < 4000; n++) {
        memcpy(work, logits, sizeof work);
        int t = sample_token(work, V, &(SamplerParams){1.0f, k, 1}, &draw, NULL);
        CHECK(logits[t] >= sorted[k - 1]);
        seen[t]++;
    }
    int distinct = 0;
    for (int i = 0; i < V; i++) distinct += seen[i] > 0;
    CHECK_EQ_INT(distinct, k);
    /* a tie with the k-th largest is kept, as Hugging Face does */
    float tied[6] = {3, 2, 1, 1, 0, -1};
    int hits[6] = {0};
    for (int n = 0; n < 2000; n++) {
        memcpy(work, tied, sizeof tied);
        hits[sample_token(work, 6, &(SamplerParams){1.0f, 3, 1}, &draw, NULL)]++;
    }
    CHECK(hits[2] > 0 && hits[3] > 0 && hits[4] == 0 && hits[5] == 0);
}

/* Pearson's chi-square of observed counts against probabilities. */
static double chi_square(const int *count, const double *prob, int n, int draws) {
    double x2 = 0;
    for (int i = 0; i < n; i++) {
        double e = prob[i] * draws;
        if (e > 0) x2 += (count[i] - e) * (count[i] - e) / e;
        else if (count[i]) return INFINITY;
    }
    return x2;
}

/* softmax(logits / T) restricted to the tokens with keep[i], renormalised. */
static void reference_probs(const float *logits, int V, double T, const int *keep, double *prob) {
    double z = 0;
    for (int i = 0; i < V; i++) z += keep[i] ? exp(logits[i] / T) : 0;
    for (int i = 0; i < V; i++) prob[i] = keep[i] ? exp(logits[i] / T) / z : 0;
}

/* Draws many samples and checks the frequencies (chi-square, 7 degrees of
 * freedom at most: 24.3 is the 0.1% critical value) and the reported
 * log-probabilities. */
static void check_frequencies(const float *logits, const SamplerParams *sp, const double *prob, uint64_t seed) {
    enum { V = 8, DRAWS = 100000 };
    Rng draw;
    rng_seed(&draw, seed);
    int count[V] = {0};
    float work[V], lp;
    for (int n = 0; n < DRAWS; n++) {
        memcpy(work, logits, sizeof work);
        int t = sample_token(work, V, sp, &draw, &lp);
        count[t]++;
        if (n < 50) CHECK_NEAR(lp, log(prob[t]), 1e-5);
    }
    double x2 = chi_square(count, prob, V, DRAWS);
    CHECK_MSG(x2 < 24.3, "T %g top_k %d top_p %g: chi-square %.1f", (double)sp->temperature, sp->top_k,
              (double)sp->top_p, x2);
}

TEST(sampler_frequencies_match_the_distribution) {
    const float logits[8] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -1.5f, 0.7f, 1.4f};
    int all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    double prob[8];
    reference_probs(logits, 8, 1.0, all, prob);
    check_frequencies(logits, &(SamplerParams){1.0f, 0, 1}, prob, 11);
    reference_probs(logits, 8, 0.5, all, prob);
    check_frequencies(logits, &(SamplerParams){0.5f, 0, 1}, prob, 12);
    /* top-k 3 keeps ids 3, 7, 0 */
    int top3[8] = {1, 0, 0, 1, 0, 0, 0, 1};
    reference_probs(logits, 8, 1.0, top3, prob);
    check_frequencies(logits, &(SamplerParams){1.0f, 3, 1}, prob, 13);
    /* top-p 0.7 at T 1: the largest probabilities are .38 (id 3) .21 (id 7) .14 (id 0): .38+.21 < .7 <= .38+.21+.14 */
    reference_probs(logits, 8, 1.0, all, prob);
    CHECK(prob[3] + prob[7] < 0.7 && prob[3] + prob[7] + prob[0] >= 0.7);
    reference_probs(logits, 8, 1.0, top3, prob);
    check_frequencies(logits, &(SamplerParams){1.0f, 0, 0.7f}, prob, 14);
    /* both cuts: top-k 4 (adds id 6), then the nucleus of 0.5 of what is left */
    int top4[8] = {1, 0, 0, 1, 0, 0, 1, 1}, top2[8] = {0, 0, 0, 1, 0, 0, 0, 1};
    reference_probs(logits, 8, 1.0, top4, prob);
    CHECK(prob[3] < 0.5 && prob[3] + prob[7] >= 0.5);
    reference_probs(logits, 8, 1.0, top2, prob);
    check_frequencies(logits, &(SamplerParams){1.0f, 4, 0.5f}, prob, 15);
}

/* ---- against an independent reference ---- */

TEST_SLOW(greedy_generation_matches_pytorch_reference) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    enum { NEW = 10 };
    for (size_t si = 0; si < 2; si++) { /* GQA with biases (written as Qwen2), and tied (Llama) */
        Model *m = tiny_model(&shapes[si], 101 + si);
        char *dir = test_tmpdir("gen-ref"), *model_dir = path_join(dir, "model");
        int quiet = lmf_quiet;
        lmf_quiet = 1;
        model_dir_save(model_dir, m, NULL, 0, 1);
        lmf_quiet = quiet;
        Prompts p = make_prompts(shapes[si].V, 12);
        char *prompts_path = path_join(dir, "prompts.json"), *out_path = path_join(dir, "ref.json");
        FILE *f = xfopen(prompts_path, "w");
        fprintf(f, "[");
        for (int i = 0; i < 3; i++) {
            fprintf(f, "%s[", i ? ", " : "");
            for (int t = 0; t < p.lens[i]; t++) fprintf(f, "%s%d", t ? ", " : "", p.tokens[i][t]);
            fprintf(f, "]");
        }
        fprintf(f, "]\n");
        fclose(f);
        CHECK_EQ_INT(test_system("/usr/bin/python3 tests/ref/generate_ref.py %s %s %d %s", model_dir, prompts_path, NEW,
                                 out_path), 0);
        SampleOptions o = sample_options_default();
        o.temperature = 0;
        o.max_new_tokens = NEW;
        Generation g[3];
        generate_batch(m, (const int *const *)p.tokens, p.lens, 3, &o, g);
        char *json = read_file(out_path, NULL);
        cJSON *ref = cJSON_Parse(json);
        CHECK(cJSON_GetArraySize(ref) == 3);
        for (int i = 0; i < 3 && i < cJSON_GetArraySize(ref); i++) {
            const cJSON *r = cJSON_GetArrayItem(ref, i);
            const cJSON *tokens = cJSON_GetObjectItem(r, "tokens"), *margins = cJSON_GetObjectItem(r, "margins");
            for (int t = 0; t < NEW; t++) {
                /* a near tie in float64 may go either way in float32: compare up to it */
                if (cJSON_GetArrayItem(margins, t)->valuedouble < 1e-3) break;
                CHECK_MSG(g[i].tokens[t] == cJSON_GetArrayItem(tokens, t)->valueint,
                          "%s, prompt %d, token %d: %d, reference %d", shapes[si].label, i, t, g[i].tokens[t],
                          cJSON_GetArrayItem(tokens, t)->valueint);
            }
        }
        cJSON_Delete(ref);
        free(json);
        generations_free(g, 3);
        free_prompts(&p);
        test_system("rm -rf '%s'", dir);
        free(prompts_path);
        free(out_path);
        free(model_dir);
        free(dir);
        model_free(m);
    }
}
