/* bench_generate.c — generation throughput with the KV cache, lmforge against
 * PyTorch (bench/torch_generate.py) in the same run.
 *
 * Shape S of the training benchmark (dim 288, 6 layers, 6 heads, vocab 32000,
 * tied embeddings, random weights). Each of B sequences gets a random prompt
 * of 16 tokens and 240 new tokens, greedy, with no stop token, so every run
 * decodes the same 16 + 240 = 256 positions. tokens/s = B·240 ÷ the time of
 * the whole call (prefill included). Both sides run REPEATS times after a
 * warm-up; the best run is the figure, the worst is reported next to it
 * (the machine may be shared, and the spread says how much that mattered).
 * PyTorch's figure is the faster of its two caches (torch.cat or a
 * preallocated buffer). */
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/model/generate.h"
#include "bench.h"

#define PROMPT_TOKENS 16
#define NEW_TOKENS 240
#define REPEATS 3

static const ModelConfig *shape_s(void) {
    static ModelConfig c;
    c = config_default(32000, 288, 6, 6);
    c.ffn_hidden = 768;
    c.tie_embeddings = 1;
    c.max_seq_len = PROMPT_TOKENS + NEW_TOKENS;
    return &c;
}

typedef struct {
    double best, worst; /* tokens/s */
} Throughput;

static Throughput lmforge_generate(Model *m, int B) {
    int **prompts = xmalloc(sizeof(int *) * (size_t)B), *lens = xmalloc(sizeof(int) * (size_t)B);
    Rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < B; i++) {
        prompts[i] = xmalloc(sizeof(int) * PROMPT_TOKENS);
        lens[i] = PROMPT_TOKENS;
        for (int t = 0; t < PROMPT_TOKENS; t++) prompts[i][t] = (int)rng_below(&r, (uint64_t)m->cfg.vocab_size);
    }
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.batch_size = B;
    Generation *g = xcalloc((size_t)B, sizeof(Generation));
    Throughput t = {0, 1e30};
    for (int run = 0; run <= REPEATS; run++) {
        o.max_new_tokens = run == 0 ? 16 : NEW_TOKENS; /* run 0 warms up */
        double t0 = now_seconds();
        generate_batch(m, (const int *const *)prompts, lens, B, &o, g);
        double tps = (double)B * o.max_new_tokens / (now_seconds() - t0);
        for (int i = 0; i < B; i++)
            if (g[i].n_tokens != o.max_new_tokens) die("bench: sequence %d stopped early", i);
        generations_free(g, B);
        if (run == 0) continue;
        t.best = LMF_MAX(t.best, tps);
        t.worst = LMF_MIN(t.worst, tps);
    }
    for (int i = 0; i < B; i++) free(prompts[i]);
    free(prompts);
    free(lens);
    free(g);
    return t;
}

/* Parses one cache's list of seconds in the script's JSON line. */
static void read_times(const char *json, const char *cache, double tokens, Throughput *t) {
    char key[32];
    snprintf(key, sizeof key, "\"%s\": [", cache);
    const char *p = strstr(json, key);
    if (!p) return;
    p += strlen(key);
    for (;;) {
        char *end;
        double s = strtod(p, &end);
        if (end == p || s <= 0) return;
        t->best = LMF_MAX(t->best, tokens / s);
        t->worst = LMF_MIN(t->worst, tokens / s);
        p = end;
        if (*p != ',') return;
        p++;
    }
}

static Throughput pytorch_generate(const ModelConfig *c, int B) {
    char *out = bench_capture("/usr/bin/python3 bench/torch_generate.py %d %d %d %d %d %d %d %d %d %d 2 %d",
                              c->vocab_size, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn_hidden,
                              c->tie_embeddings, B, PROMPT_TOKENS, NEW_TOKENS, REPEATS);
    Throughput t = {0, 1e30};
    if (!out) return t;
    const char *tokens = strstr(out, "\"tokens\": ");
    if (tokens) {
        Throughput dynamic = {0, 1e30}, fixed = {0, 1e30};
        read_times(out, "dynamic", atof(tokens + 10), &dynamic);
        read_times(out, "static", atof(tokens + 10), &fixed);
        t = dynamic.best > fixed.best ? dynamic : fixed;
    }
    free(out);
    return t;
}

BENCH(generate) {
    const ModelConfig *c = shape_s();
    Model *m = model_new(c);
    model_init_random(m, 1);
    printf("  shape S: %.1fM parameters; %d prompt + %d new tokens per sequence, greedy; best and worst of %d runs\n",
           m->n_params / 1e6, PROMPT_TOKENS, NEW_TOKENS, REPEATS);
    const int batches[2] = {1, 32};
    for (int i = 0; i < 2; i++) {
        int B = batches[i];
        Throughput ours = lmforge_generate(m, B), torch = pytorch_generate(c, B);
        char name[96];
#define REPORT(metric, value, unit, vs)                         \
    snprintf(name, sizeof name, "generate.S.b%d." metric, B); \
    bench_report(name, value, unit, vs)
        REPORT("tokens_per_s", ours.best, "tokens/s", NULL);
        REPORT("tokens_per_s_worst", ours.worst, "tokens/s", NULL);
        REPORT("pytorch.tokens_per_s", torch.best, "tokens/s", NULL);
        REPORT("pytorch.tokens_per_s_worst", torch.worst, "tokens/s", NULL);
        if (torch.best > 0) {
            REPORT("ratio_vs_pytorch", ours.best / torch.best, "x", "pytorch");
        }
#undef REPORT
    }
    model_free(m);
}
