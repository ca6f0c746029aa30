/* bench_train.c — one full training step (forward, backward, AdamW), lmforge
 * against PyTorch on the same model, in the same run.
 *
 * Shapes: S = stories15M (dim 288, 6 layers, 6 heads, vocab 32000, T 256, B 8,
 * tied embeddings as in llama2.c); M = GPT-2-small size (dim 768, 12 layers,
 * 12 heads, vocab 32000, T 256, B 4; Llama's untied head and SwiGLU with
 * F = 8/3·C, so the parameter count matches GPT-2 small's 4·C MLP).
 * PyTorch runs twice, as installed and with OMP_WAIT_POLICY=PASSIVE and
 * tcmalloc preloaded; the faster one is the one compared against.
 * MFU = achieved FLOP/s ÷ the measured fp32 FMA peak, FLOPs per token from
 * PaLM's formula 6·N + 12·L·T·C, N = parameters in matmuls (head included). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/model/model.h"
#include "../src/train/lm_loss.h"
#include "../src/train/optimizer.h"
#include "bench.h"

typedef struct {
    const char *name;
    int V, C, L, NH, NKV, F, T, B, tied, steps;
} TrainShape;

static const TrainShape shapes[] = {
    {"S", 32000, 288, 6, 6, 6, 768, 256, 8, 1, 8},
    {"M", 32000, 768, 12, 12, 12, 2048, 256, 4, 0, 4},
};

typedef struct {
    double tokens_per_s, peak_rss_mb;
    double cpu_s_per_step; /* CPU time of all threads: with OMP_WAIT_POLICY=passive, the work without the waits */
} StepResult;

static double process_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static ModelConfig shape_config(const TrainShape *s) {
    ModelConfig c = config_default(s->V, s->C, s->L, s->NH);
    c.n_kv_heads = s->NKV;
    c.ffn_hidden = s->F;
    c.tie_embeddings = s->tied;
    c.max_seq_len = s->T;
    return c;
}

/* Runs in a child process so that its peak memory is its own. */
static StepResult lmforge_train_steps(const TrainShape *s) {
    ModelConfig c = shape_config(s);
    Model *m = model_new(&c);
    model_init_random(m, 1);
    model_alloc_grads(m);
    OptimConfig oc = optim_defaults();
    AdamW *opt = adamw_new(m->n_params, &oc);
    int N = s->B * s->T, *tokens = xcalloc((size_t)N, sizeof(int)), *targets = xcalloc((size_t)N, sizeof(int));
    Rng r;
    rng_seed(&r, 1);
    for (int n = 0; n < N; n++) tokens[n] = (int)rng_below(&r, (uint64_t)s->V), targets[n] = (int)rng_below(&r, (uint64_t)s->V);
    double t0 = 0, cpu0 = 0;
    for (int step = 0; step < s->steps + 2; step++) {
        if (step == 2) t0 = now_seconds(), cpu0 = process_cpu_seconds(); /* two warm-up steps */
        long count;
        model_zero_grads(m);
        model_forward(m, tokens, NULL, s->B, s->T, 1);
        lm_loss_sum_and_grad(m, targets, N, &count);
        model_backward(m);
        ParamSet ps = model_param_set(m);
        adamw_step(opt, &ps, 3e-4f);
    }
    double elapsed = now_seconds() - t0;
    StepResult res = {(double)N * s->steps / elapsed, peak_rss_bytes() / 1048576.0,
                      (process_cpu_seconds() - cpu0) / s->steps};
    return res;
}

/* `build/bench --child train_step SHAPE` runs one shape and prints its result:
 * a fresh process (not a fork: OpenMP's threads do not survive fork) whose
 * peak memory is its own. */
static StepResult run_in_child(const TrainShape *s) {
    char *out = bench_capture("/proc/%d/exe --child train_step %s", (int)getpid(), s->name);
    StepResult r = {0, 0, 0};
    if (!out || sscanf(out, "%lf %lf %lf", &r.tokens_per_s, &r.peak_rss_mb, &r.cpu_s_per_step) != 3) die("benchmark child for shape %s failed", s->name);
    free(out);
    return r;
}

BENCH_CHILD(train_step) {
    for (size_t i = 0; i < LMF_ARRAY_LEN(shapes); i++)
        if (strcmp(shapes[i].name, arg) == 0) {
            StepResult r = lmforge_train_steps(&shapes[i]);
            printf("%.6f %.3f %.6f\n", r.tokens_per_s, r.peak_rss_mb, r.cpu_s_per_step);
            return;
        }
    die("no training shape %s", arg);
}

static StepResult pytorch_train_steps(const TrainShape *s, int tuned) {
    const char *env = tuned ? "OMP_WAIT_POLICY=PASSIVE LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 " : "";
    char *out = bench_capture("%s/usr/bin/python3 bench/torch_train_step.py %d %d %d %d %d %d %d %d %d %d 2", env, s->V,
                              s->C, s->L, s->NH, s->NKV, s->F, s->T, s->B, s->tied, s->steps);
    StepResult r = {0, 0, 0};
    if (!out) return r;
    const char *a = strstr(out, "\"tokens_per_s\": "), *b = strstr(out, "\"peak_rss_mb\": ");
    if (a && b) {
        r.tokens_per_s = atof(a + 16);
        r.peak_rss_mb = atof(b + 15);
    }
    free(out);
    return r;
}

BENCH(train_step) {
    double peak = bench_fp32_peak_flops();
    bench_report("machine.fp32.peak_gflops", peak / 1e9, "GFLOP/s", NULL);
    for (size_t i = 0; i < LMF_ARRAY_LEN(shapes); i++) {
        const TrainShape *s = &shapes[i];
        ModelConfig c = shape_config(s);
        Model *m = model_new(&c);
        double flops_per_token = model_train_flops_per_token(m, s->T);
        printf("  shape %s: %.1fM parameters, %.3f GFLOP/token = 6*%.1fM + 12*%d*%d*%d\n", s->name,
               m->n_params / 1e6, flops_per_token / 1e9, model_matmul_params(m) / 1e6, s->L, s->T, s->C);
        model_free(m);
        char name[96];
        StepResult ours = run_in_child(s);
        StepResult torch_default = pytorch_train_steps(s, 0), torch_tuned = pytorch_train_steps(s, 1);
        StepResult best = torch_tuned.tokens_per_s > torch_default.tokens_per_s ? torch_tuned : torch_default;
#define REPORT(metric, value, unit, vs)                          \
    snprintf(name, sizeof name, "train.%s." metric, s->name); \
    bench_report(name, value, unit, vs)
        REPORT("tokens_per_s", ours.tokens_per_s, "tokens/s", NULL);
        REPORT("mfu", ours.tokens_per_s * flops_per_token / peak, "fraction", NULL);
        REPORT("peak_rss_mb", ours.peak_rss_mb, "MB", NULL);
        REPORT("cpu_seconds_per_step", ours.cpu_s_per_step, "s", NULL);
        REPORT("pytorch_default.tokens_per_s", torch_default.tokens_per_s, "tokens/s", NULL);
        REPORT("pytorch_tuned.tokens_per_s", torch_tuned.tokens_per_s, "tokens/s", NULL);
        REPORT("pytorch.mfu", best.tokens_per_s * flops_per_token / peak, "fraction", NULL);
        REPORT("pytorch.peak_rss_mb", best.peak_rss_mb, "MB", NULL);
        if (best.tokens_per_s > 0) {
            REPORT("ratio_vs_pytorch", ours.tokens_per_s / best.tokens_per_s, "x", "pytorch");
        }
#undef REPORT
    }
}
