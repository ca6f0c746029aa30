/* bench_generate.c — generation throughput with the KV cache, lmforge against
 * PyTorch (bench/torch_generate.py) in the same run.
 *
 * Shape S of the training benchmark (dim 288, 6 layers, 6 heads, vocab 32000,
 * tied embeddings, random weights). Each of B sequences gets a random prompt
 * of 16 tokens and 240 new tokens, greedy, with no stop token, so every run
 * decodes the same 16 + 240 = 256 positions. tokens/s = B·240 ÷ the time of
 * the whole call (prefill included). Each side runs REPEATS times after a
 * warm-up, in a process of its own, twice: with OpenMP as installed (threads
 * spin while they wait) and with OMP_WAIT_POLICY=PASSIVE (they sleep), which
 * is far faster when other work shares the cores; the best run of either is
 * the figure, the worst run is reported next to it as the spread. PyTorch's
 * figure is also the faster of its two caches (torch.cat or preallocated). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/model/generate.h"
#include "bench.h"

#define PROMPT_TOKENS 16
#define NEW_TOKENS 240
#define REPEATS 3

static const char *const wait_policies[2] = {"", "OMP_WAIT_POLICY=PASSIVE "};

static ModelConfig shape_s(void) {
    ModelConfig c = config_default(32000, 288, 6, 6);
    c.ffn_hidden = 768;
    c.tie_embeddings = 1;
    c.max_seq_len = PROMPT_TOKENS + NEW_TOKENS;
    return c;
}

typedef struct {
    double best, worst; /* tokens/s */
} Throughput;

static void add_run(Throughput *t, double tokens_per_s) {
    t->best = LMF_MAX(t->best, tokens_per_s);
    t->worst = t->worst > 0 ? LMF_MIN(t->worst, tokens_per_s) : tokens_per_s;
}

static Throughput lmforge_generate(int B) {
    ModelConfig c = shape_s();
    Model *m = model_new(&c);
    model_init_random(m, 1);
    int **prompts = xmalloc(sizeof(int *) * (size_t)B), *lens = xmalloc(sizeof(int) * (size_t)B);
    Rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < B; i++) {
        prompts[i] = xmalloc(sizeof(int) * PROMPT_TOKENS);
        lens[i] = PROMPT_TOKENS;
        for (int t = 0; t < PROMPT_TOKENS; t++) prompts[i][t] = (int)rng_below(&r, (uint64_t)c.vocab_size);
    }
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.batch_size = B;
    Generation *g = xcalloc((size_t)B, sizeof(Generation));
    Throughput t = {0, 0};
    for (int run = 0; run <= REPEATS; run++) {
        o.max_new_tokens = run == 0 ? 16 : NEW_TOKENS; /* run 0 warms up */
        double t0 = now_seconds();
        generate_batch(m, (const int *const *)prompts, lens, B, &o, g);
        double tokens_per_s = (double)B * o.max_new_tokens / (now_seconds() - t0);
        for (int i = 0; i < B; i++)
            if (g[i].n_tokens != o.max_new_tokens) die("bench: sequence %d stopped early", i);
        generations_free(g, B);
        if (run > 0) add_run(&t, tokens_per_s);
    }
    for (int i = 0; i < B; i++) free(prompts[i]);
    free(prompts);
    free(lens);
    free(g);
    model_free(m);
    return t;
}

/* `build/bench --child generate B` prints "best worst": a fresh process, so
 * that the wait policy set in its environment applies. */
BENCH_CHILD(generate) {
    Throughput t = lmforge_generate(atoi(arg));
    printf("%.6f %.6f\n", t.best, t.worst);
}

static Throughput lmforge_in_child(int B, const char *env) {
    char *out = bench_capture("%s/proc/%d/exe --child generate %d", env, (int)getpid(), B);
    Throughput t = {0, 0};
    if (!out || sscanf(out, "%lf %lf", &t.best, &t.worst) != 2) die("benchmark child for batch %d failed", B);
    free(out);
    return t;
}

/* Adds one cache's list of seconds in the script's JSON line. */
static void add_times(Throughput *t, const char *json, const char *cache, double tokens) {
    char key[32];
    snprintf(key, sizeof key, "\"%s\": [", cache);
    const char *p = strstr(json, key);
    if (!p) return;
    p += strlen(key);
    for (;;) {
        char *end;
        double s = strtod(p, &end);
        if (end == p || s <= 0) return;
        add_run(t, tokens / s);
        p = end;
        if (*p != ',') return;
        p++;
    }
}

/* The faster cache's runs (zero if PyTorch is missing). */
static Throughput pytorch_generate(int B, const char *env) {
    ModelConfig c = shape_s();
    char *out = bench_capture("%s/usr/bin/python3 bench/torch_generate.py %d %d %d %d %d %d %d %d %d %d 2 %d", env,
                              c.vocab_size, c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_hidden,
                              c.tie_embeddings, B, PROMPT_TOKENS, NEW_TOKENS, REPEATS);
    Throughput t = {0, 0};
    const char *tokens = out ? strstr(out, "\"tokens\": ") : NULL;
    if (tokens) {
        Throughput dynamic = {0, 0}, preallocated = {0, 0};
        add_times(&dynamic, out, "dynamic", atof(tokens + 10));
        add_times(&preallocated, out, "static", atof(tokens + 10));
        t = dynamic.best > preallocated.best ? dynamic : preallocated;
    }
    free(out);
    return t;
}

BENCH(generate) {
    printf("  shape S, %d prompt + %d new tokens per sequence, greedy; %d runs per side and OpenMP wait policy\n",
           PROMPT_TOKENS, NEW_TOKENS, REPEATS);
    const int batches[2] = {1, 32};
    for (int i = 0; i < 2; i++) {
        int B = batches[i];
        Throughput ours = {0, 0}, torch = {0, 0};
        for (int w = 0; w < 2; w++) {
            Throughput o = lmforge_in_child(B, wait_policies[w]), p = pytorch_generate(B, wait_policies[w]);
            printf("  batch %d, %s: lmforge %.1f (worst %.1f), pytorch %.1f (worst %.1f) tokens/s\n", B,
                   w ? "passive wait" : "spinning wait", o.best, o.worst, p.best, p.worst);
            add_run(&ours, o.best);
            add_run(&ours, o.worst);
            if (p.best > 0) {
                add_run(&torch, p.best);
                add_run(&torch, p.worst);
            }
        }
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
}
