/* bench_sft.c — supervised fine-tuning: the memory LoRA saves, and the time
 * packing saves.
 *
 * sft.M.{full,lora}.*: one training step (forward, backward, AdamW) of the
 * M shape (dim 768, 12 layers, 12 heads, vocab 32000, T 256, B 4), each in a
 * fresh process so that its peak RSS is its own. Full fine-tuning holds
 * gradients and two AdamW moments for every weight; LoRA (rank 8 on all
 * seven projections, dropout 0.05) only for the adapters, and its backward
 * skips the weight-gradient matmuls of the frozen base.
 *
 * sft.packing_*: one pass over 512 examples of the demo's SFT set (every task
 * family: short questions, answers of one word to a definition), 32 examples
 * per micro-batch, packed into rows of 256 tokens or padded to the longest
 * of the micro-batch, on the S shape (dim 288, 6 layers) with a tokenizer of
 * 8192 tokens trained on the demo text. The same examples, the same loss:
 * only the layout differs. Figures: wall-clock and CPU-time speedups, and
 * the share of token slots holding real tokens. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/data/sft_data.h"
#include "../src/model/lora.h"
#include "../src/train/lm_loss.h"
#include "../src/train/optimizer.h"
#include "bench.h"

/* ---- memory: full fine-tuning against LoRA ---- */

enum { M_B = 4, M_T = 256, M_STEPS = 2 };

static ModelConfig m_shape(void) {
    ModelConfig c = config_default(32000, 768, 12, 12);
    c.ffn_hidden = 2048;
    c.tie_embeddings = 0;
    c.max_seq_len = M_T;
    return c;
}

/* `build/bench --child sft_step full|lora`: prints tokens/s and peak RSS in MB. */
BENCH_CHILD(sft_step) {
    int lora_mode = strcmp(arg, "lora") == 0;
    if (!lora_mode && strcmp(arg, "full") != 0) die("sft_step: full or lora, not %s", arg);
    ModelConfig c = m_shape();
    Model *m = model_new(&c);
    model_init_random(m, 1);
    Lora *l = NULL;
    ParamSet ps;
    if (lora_mode) {
        LoraConfig lc = lora_config_defaults();
        l = lora_new(&c, &lc, 1);
        m->lora = l;
        ps = (ParamSet){l->params, l->grads, l->n_params, l->tensors, l->n_tensors};
    } else {
        model_alloc_grads(m);
        ps = model_param_set(m);
    }
    OptimConfig oc = optim_defaults();
    AdamW *opt = adamw_new(ps.n, &oc);
    const int N = M_B * M_T;
    int *tokens = xmalloc(sizeof(int) * N), *targets = xmalloc(sizeof(int) * N);
    Rng r;
    rng_seed(&r, 1);
    for (int n = 0; n < N; n++) {
        tokens[n] = (int)rng_below(&r, 32000);
        targets[n] = n % M_T < M_T / 2 ? -100 : (int)rng_below(&r, 32000); /* a prompt half, a response half */
    }
    double t0 = 0;
    for (int step = 0; step < M_STEPS + 1; step++) {
        if (step == 1) t0 = now_seconds(); /* one warm-up step */
        memset(ps.grads, 0, ps.n * sizeof(float));
        model_forward(m, tokens, NULL, M_B, M_T, 1);
        long count;
        lm_loss_sum_and_grad(m, targets, N / 2.0, &count);
        model_backward(m);
        adamw_step(opt, &ps, 1e-4f);
    }
    double tokens_per_s = (double)N * M_STEPS / (now_seconds() - t0);
    printf("%.3f %.3f %zu\n", tokens_per_s, peak_rss_bytes() / 1048576.0, ps.n);
    free(tokens);
    free(targets);
    adamw_free(opt);
    m->lora = NULL;
    lora_free(l);
    model_free(m);
}

BENCH(sft_memory) {
    const char *modes[2] = {"full", "lora"};
    for (int i = 0; i < 2; i++) {
        char *out = bench_capture("/proc/%d/exe --child sft_step %s", (int)getpid(), modes[i]);
        double tps, rss;
        size_t trained;
        if (!out || sscanf(out, "%lf %lf %zu", &tps, &rss, &trained) != 3) die("sft_step %s failed", modes[i]);
        free(out);
        char name[64];
        snprintf(name, sizeof name, "sft.M.%s.peak_rss_mb", modes[i]);
        bench_report(name, rss, "MB", NULL);
        snprintf(name, sizeof name, "sft.M.%s.tokens_per_s", modes[i]);
        bench_report(name, tps, "tokens/s", NULL);
        snprintf(name, sizeof name, "sft.M.%s.trained_params_m", modes[i]);
        bench_report(name, trained / 1e6, "M", NULL);
    }
}

/* ---- speed: packed against padded ---- */

enum { PACK_EXAMPLES = 512, PACK_BATCH = 32, PACK_ROW = 256, PACK_REPEATS = 3 };

/* CPU seconds of this process: on a machine shared with other jobs, a
 * steadier measure than the wall clock (with one thread, where no time is
 * spent waiting at OpenMP barriers). */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall-clock seconds for one pass over the examples, and its CPU seconds in
 * *cpu; *fill gets the share of the batches' token slots that hold real tokens. */
static double pass_seconds(Model *m, AdamW *opt, const SftData *d, int packed, double *cpu, double *fill) {
    Batch b = {0};
    int idx[PACK_BATCH];
    long real = 0, slots = 0;
    double t0 = now_seconds(), c0 = cpu_seconds();
    for (int start = 0; start < d->n; start += PACK_BATCH) {
        int n = LMF_MIN(PACK_BATCH, d->n - start);
        for (int i = 0; i < n; i++) {
            idx[i] = start + i;
            real += d->items[start + i].len;
        }
        long targets = sft_make_batch(&b, d, idx, n, PACK_ROW, packed, 0);
        slots += (long)b.B * b.T;
        model_zero_grads(m);
        model_forward(m, b.tokens, b.doc_start, b.B, b.T, 1);
        long count;
        lm_loss_sum_and_grad(m, b.targets, (double)targets, &count);
        model_backward(m);
        ParamSet ps = model_param_set(m);
        adamw_step(opt, &ps, 1e-5f);
    }
    double seconds = now_seconds() - t0;
    *cpu = cpu_seconds() - c0;
    batch_free(&b);
    *fill = (double)real / (double)slots;
    return seconds;
}

BENCH(sft_packing) {
    char dir[] = "/tmp/lmforge-bench-sft-XXXXXX";
    if (!mkdtemp(dir)) die_errno("mkdtemp");
    char *log = bench_capture("build/lmforge demo-data --out %s/data --max-pretrain-mb 1 2>&1 && "
                              "build/lmforge tokenizer train --vocab-size 8192 --out %s/tok %s/data/pretrain/train.txt 2>&1",
                              dir, dir, dir);
    if (!log) {
        printf("  skipped: lmforge demo-data needs the demo's Debian packages (make deps) and build/lmforge\n");
        return;
    }
    free(log);
    char *tok_dir = path_join(dir, "tok"), *train = xsprintf("%s/data/sft/train.jsonl", dir);
    Tokenizer *t = tokenizer_load(tok_dir);
    const char *paths[1] = {train};
    SftOptions o = {PACK_ROW, 0};
    SftData *d = sft_data_load(paths, 1, t, &o);
    int all = d->n;
    d->n = LMF_MIN(all, PACK_EXAMPLES); /* the first ones: the file mixes the families */
    ModelConfig c = config_default(tokenizer_vocab_size(t), 288, 6, 6);
    c.max_seq_len = PACK_ROW;
    Model *m = model_new(&c);
    model_init_random(m, 1);
    model_alloc_grads(m);
    OptimConfig oc = optim_defaults();
    AdamW *opt = adamw_new(m->n_params, &oc);
    /* the best of PACK_REPEATS passes each, the two layouts taking turns
     * (and turns at going first), so that a change in the machine's load
     * does not favour one */
    double best[2] = {1e30, 1e30}, best_cpu[2] = {1e30, 1e30}, fill[2];
    for (int rep = 0; rep < PACK_REPEATS; rep++)
        for (int k = 0; k < 2; k++) {
            int packed = (rep + k) % 2;
            double cpu, wall = pass_seconds(m, opt, d, packed, &cpu, &fill[packed]);
            best[packed] = LMF_MIN(best[packed], wall);
            best_cpu[packed] = LMF_MIN(best_cpu[packed], cpu);
        }
    double packed = best[1], padded = best[0], fill_packed = fill[1], fill_padded = fill[0];
    bench_report("sft.packing.packed_seconds", packed, "s", NULL);
    bench_report("sft.packing.padded_seconds", padded, "s", NULL);
    bench_report("sft.packing.packed_fill", fill_packed, "fraction", NULL);
    bench_report("sft.packing.padded_fill", fill_padded, "fraction", NULL);
    bench_report("sft.packing_speedup", padded / packed, "x", NULL);
    bench_report("sft.packing_speedup_cpu", best_cpu[0] / best_cpu[1], "x", NULL);
    adamw_free(opt);
    model_free(m);
    d->n = all;
    sft_data_free(d);
    tokenizer_free(t);
    free(tok_dir);
    free(train);
    char *rm = bench_capture("rm -rf %s", dir);
    free(rm);
}
