/* bench_mpi.c — data-parallel training over MPI on this machine, and what
 * it predicts for a cluster.
 *
 *   mpi.allreduce.*     bandwidth and latency of Open MPI's all-reduce here
 *                       (build/mpi-allreduce-bench, 2 ranks), and of the
 *                       ring the overlapped gradient sums use
 *   mpi.M.*             the M training shape of bench_train.c (134M
 *                       parameters), global batch 2 micro-batches of 4 x 256:
 *                       1 process x 2 threads against 2 ranks x 1 thread
 *                       (lmforge-mpi pretrain), the communication time per
 *                       step with and without overlap, ZeRO-1's memory
 *   mpi.S.*             optimizer state and peak memory per rank with ZeRO-1
 *                       on 2, 3 and 4 ranks (the S shape, 15M parameters)
 *   mpi.M.est_*         the step time and scaling efficiency on 8 and 64
 *                       hosts like this one on a 25 Gb/s network
 *
 * The estimate: each host computes what one process computes here (its
 * share of the global batch), then the hosts sum the gradients with a ring
 * all-reduce, which carries 2(N−1)/N of the gradient bytes over each link
 * plus 2(N−1) message latencies (50 µs each, a typical TCP figure), and the
 * overlap hides the share of communication it hid here. Two figures: the
 * link at its 25 Gb/s, and the link no faster than the all-reduce measured
 * here (2 ranks sharing this machine's memory and 2 cores: a pessimistic
 * bound for a host that only has to add what the network brings).
 * Timings come from a shared machine: they are noisy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/metrics.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "../src/model/model.h"
#include "../src/train/lm_loss.h"
#include "../src/train/optimizer.h"
#include "bench.h"

#define MPIRUN "timeout 900 mpirun --allow-run-as-root --oversubscribe --bind-to none"
#define LINK_BYTES_PER_S (25e9 / 8)
#define MESSAGE_LATENCY_S 50e-6

typedef struct {
    const char *name;
    int V, C, L, NH, F, T, B, tied;
} Shape;

static const Shape M = {"M", 32000, 768, 12, 12, 2048, 256, 4, 0};
static const Shape S = {"S", 32000, 288, 6, 6, 768, 256, 8, 1};
#define MICRO_BATCHES 2 /* per step, in every configuration */
#define STEPS 3         /* the first is a warm-up */

static ModelConfig shape_config(const Shape *s) {
    ModelConfig c = config_default(s->V, s->C, s->L, s->NH);
    c.ffn_hidden = s->F;
    c.tie_embeddings = s->tied;
    c.max_seq_len = s->T;
    return c;
}

/* ---- the reference: one process, all threads, the same step ---- */

/* Seconds per step of MICRO_BATCHES micro-batches (forward, backward), then
 * AdamW: what the trainer does in one process, in a fresh process. */
BENCH_CHILD(mpi_reference_step) {
    (void)arg;
    ModelConfig c = shape_config(&M);
    Model *m = model_new(&c);
    model_init_random(m, 1);
    model_alloc_grads(m);
    OptimConfig oc = optim_defaults();
    AdamW *opt = adamw_new(m->n_params, &oc);
    int N = M.B * M.T, *tokens = xcalloc((size_t)N, sizeof(int)), *targets = xcalloc((size_t)N, sizeof(int));
    Rng r;
    rng_seed(&r, 1);
    for (int n = 0; n < N; n++) tokens[n] = (int)rng_below(&r, 300), targets[n] = (int)rng_below(&r, 300);
    double t0 = 0;
    for (int step = 0; step < STEPS; step++) {
        if (step == 1) t0 = now_seconds();
        model_zero_grads(m);
        for (int micro = 0; micro < MICRO_BATCHES; micro++) {
            model_forward(m, tokens, NULL, M.B, M.T, 1);
            lm_loss_sum_and_grad(m, targets, (double)N * MICRO_BATCHES, NULL);
            model_backward(m);
        }
        ParamSet ps = model_param_set(m);
        adamw_step(opt, &ps, 1e-4f);
    }
    printf("%.6f %.3f\n", (now_seconds() - t0) / (STEPS - 1), peak_rss_bytes() / 1e6);
    adamw_free(opt);
    model_free(m);
}

/* ---- runs of lmforge-mpi pretrain ---- */

typedef struct {
    double step_seconds, comm_wait_seconds; /* means over the steps after the first */
    double adamw_mb, peak_rss_mb;           /* the largest over the ranks */
} MpiRun;

/* A text (2000 lines of words), a 300-token tokenizer, and initial
 * checkpoints of the shapes (V = 32000 rows; the text uses the first 300). */
static void prepare(const char *dir) {
    char *path = xsprintf("%s/text.txt", dir);
    FILE *f = xfopen(path, "w");
    Rng r;
    rng_seed(&r, 3);
    static const char *words[] = {"light", "water", "stone", "river", "green", "house", "under", "bright", "walks",
                                  "slowly", "the", "a", "of", "and", "to", "in"};
    for (int line = 0; line < 2000; line++) {
        for (int w = 0; w < 14; w++) fprintf(f, "%s%s", w ? " " : "", words[rng_below(&r, LMF_ARRAY_LEN(words))]);
        fprintf(f, ".\n");
    }
    fclose(f);
    free(path);
    if (!bench_capture("build/lmforge tokenizer train --vocab-size 300 --out %s/tok %s/text.txt 2>&1", dir, dir))
        die("bench_mpi: training the tokenizer failed");
    char *tok_dir = xsprintf("%s/tok", dir);
    Tokenizer *tok = tokenizer_load(tok_dir);
    const Shape *shapes[] = {&M, &S};
    for (int i = 0; i < 2; i++) {
        ModelConfig c = shape_config(shapes[i]);
        Model *m = model_new(&c);
        model_init_random(m, 1);
        char *model_dir = xsprintf("%s/init-%s", dir, shapes[i]->name);
        model_dir_save(model_dir, m, tok, 0.0, 1.0);
        free(model_dir);
        model_free(m);
    }
    tokenizer_free(tok);
    free(tok_dir);
}

static double mean_after_first(const char *metrics, const char *key) {
    double *steps, *values, sum = 0;
    int n = metrics_read_series(metrics, key, &steps, &values);
    for (int i = 1; i < n; i++) sum += values[i];
    free(steps);
    free(values);
    return n > 1 ? sum / (n - 1) : 0;
}

static MpiRun run_mpi(const char *dir, const Shape *s, int ranks, const char *env, const char *flags, const char *tag) {
    MpiRun run = {0, 0, 0, 0};
    char *out = xsprintf("%s/run-%s-%s", dir, s->name, tag);
    char *log = bench_capture("OMP_NUM_THREADS=1 %s %s -np %d build/lmforge-mpi pretrain --init %s/init-%s --out %s "
                              "--shards %s/shards --batch %d --seq-len %d --grad-accum %d --steps %d --eval-every 0 "
                              "--eval-tokens 256 --lr 1e-4 %s %s/text.txt 2>&1",
                              env, MPIRUN, ranks, dir, s->name, out, dir, s->B, s->T, MICRO_BATCHES / ranks > 0 ? MICRO_BATCHES / ranks : 1,
                              STEPS, flags, dir);
    if (!log) {
        warn("bench_mpi: the %d-rank run %s failed", ranks, tag);
        free(out);
        return run;
    }
    for (char *p = strstr(log, "rank "); p; p = strstr(p + 1, "rank ")) {
        int r;
        size_t moments, n;
        double mb, rss;
        if (sscanf(p, "rank %d: AdamW moments of %zu of %zu parameters (%lf MB), peak memory %lf MB", &r, &moments, &n,
                   &mb, &rss) == 5) {
            run.adamw_mb = fmax(run.adamw_mb, mb);
            run.peak_rss_mb = fmax(run.peak_rss_mb, rss);
        }
    }
    char *metrics = path_join(out, "metrics.jsonl");
    run.step_seconds = mean_after_first(metrics, "dist/step_seconds");
    run.comm_wait_seconds = mean_after_first(metrics, "dist/comm_wait_seconds");
    free(metrics);
    free(log);
    char *rm = bench_capture("rm -rf %s", out);
    free(rm);
    free(out);
    return run;
}

/* ---- the all-reduce ---- */

typedef struct {
    double bus_bytes_per_s, small_seconds;      /* Open MPI's MPI_Allreduce: largest size, 4 KB */
    double ring_bus_bytes_per_s, ring_small_seconds; /* the ring training uses */
} AllReduce;

static AllReduce measure_allreduce(void) {
    AllReduce a = {0, 0, 0, 0};
    char *out = bench_capture("OMP_NUM_THREADS=1 %s -np 2 build/mpi-allreduce-bench 33554432 2>/dev/null", MPIRUN);
    if (!out) return a;
    double bytes, seconds, busbw, ring_seconds, ring_busbw;
    int first = 1;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        if (sscanf(line, "%lf %lf %lf %lf %lf", &bytes, &seconds, &busbw, &ring_seconds, &ring_busbw) == 5) {
            if (first) a.small_seconds = seconds, a.ring_small_seconds = ring_seconds;
            first = 0;
            a.bus_bytes_per_s = busbw; /* the largest size's */
            a.ring_bus_bytes_per_s = ring_busbw;
        }
    free(out);
    return a;
}

/* Ring all-reduce of `bytes` over N hosts (see the top of the file). */
static double ring_seconds(double bytes, int hosts, double link_bytes_per_s) {
    return 2.0 * (hosts - 1) / hosts * bytes / link_bytes_per_s + 2.0 * (hosts - 1) * MESSAGE_LATENCY_S;
}

BENCH(mpi) {
    if (system("command -v mpirun >/dev/null 2>&1") != 0 || access("build/lmforge-mpi", X_OK) != 0 ||
        access("build/mpi-allreduce-bench", X_OK) != 0) {
        printf("  skipped: needs mpirun and the MPI build (make mpi)\n");
        return;
    }
    AllReduce ar = measure_allreduce();
    bench_report("mpi.allreduce.bus_bandwidth_gbps", ar.bus_bytes_per_s * 8 / 1e9, "Gb/s", NULL);
    bench_report("mpi.allreduce.small_latency_us", ar.small_seconds * 1e6, "us", NULL);
    bench_report("mpi.ring_allreduce.bus_bandwidth_gbps", ar.ring_bus_bytes_per_s * 8 / 1e9, "Gb/s", NULL);
    bench_report("mpi.ring_allreduce.small_latency_us", ar.ring_small_seconds * 1e6, "us", NULL);

    char dir_template[] = "/tmp/lmforge-bench-mpi-XXXXXX";
    char *dir = mkdtemp(dir_template);
    if (!dir) die_errno("bench_mpi: cannot create a temporary directory");
    prepare(dir);

    char *ref_out = bench_capture("OMP_NUM_THREADS=2 /proc/%d/exe --child mpi_reference_step x", (int)getpid());
    double ref_step = 0, ref_rss = 0;
    if (!ref_out || sscanf(ref_out, "%lf %lf", &ref_step, &ref_rss) != 2) die("bench_mpi: the reference step failed");
    free(ref_out);
    MpiRun overlap = run_mpi(dir, &M, 2, "", "", "overlap");
    MpiRun no_overlap = run_mpi(dir, &M, 2, "LMF_OVERLAP=0", "", "no-overlap");
    MpiRun zero = run_mpi(dir, &M, 2, "", "--zero 1", "zero");

    bench_report("mpi.M.step_seconds_1rank_2threads", ref_step, "s", NULL);
    bench_report("mpi.M.step_seconds_2ranks_1thread", overlap.step_seconds, "s", NULL);
    if (overlap.step_seconds > 0)
        bench_report("mpi.M.speedup_2ranks_vs_2threads", ref_step / overlap.step_seconds, "x", NULL);
    bench_report("mpi.M.comm_seconds_per_step", no_overlap.comm_wait_seconds, "s", NULL);
    bench_report("mpi.M.comm_wait_seconds_overlapped", overlap.comm_wait_seconds, "s", NULL);
    bench_report("mpi.M.overlap_saving_seconds", no_overlap.step_seconds - overlap.step_seconds, "s", NULL);
    bench_report("mpi.M.step_seconds_zero1", zero.step_seconds, "s", NULL);
    bench_report("mpi.M.adamw_mb_per_rank", overlap.adamw_mb, "MB", NULL);
    bench_report("mpi.M.adamw_mb_per_rank_zero1", zero.adamw_mb, "MB", NULL);
    bench_report("mpi.M.peak_rss_mb_per_rank", overlap.peak_rss_mb, "MB", NULL);
    bench_report("mpi.M.peak_rss_mb_per_rank_zero1", zero.peak_rss_mb, "MB", NULL);
    bench_report("mpi.M.peak_rss_mb_1process", ref_rss, "MB", NULL);

    for (int ranks = 2; ranks <= 4; ranks++) {
        char tag[16], name[64];
        snprintf(tag, sizeof tag, "zero-%d", ranks);
        MpiRun r = run_mpi(dir, &S, ranks, "", "--zero 1", tag);
        snprintf(name, sizeof name, "mpi.S.adamw_mb_per_rank_zero1_%dranks", ranks);
        bench_report(name, r.adamw_mb, "MB", NULL);
        snprintf(name, sizeof name, "mpi.S.peak_rss_mb_per_rank_zero1_%dranks", ranks);
        bench_report(name, r.peak_rss_mb, "MB", NULL);
    }

    /* the cluster estimate */
    ModelConfig c = shape_config(&M);
    Model *m = model_new(&c);
    double grad_bytes = 4.0 * (double)m->n_params;
    model_free(m);
    double hidden = no_overlap.comm_wait_seconds > 0
                        ? fmax(0, 1 - overlap.comm_wait_seconds / no_overlap.comm_wait_seconds)
                        : 0;
    bench_report("mpi.M.overlap_hidden_fraction", hidden, "fraction", NULL);
    double measured = ar.ring_bus_bytes_per_s > 0 ? fmin(LINK_BYTES_PER_S, ar.ring_bus_bytes_per_s) : LINK_BYTES_PER_S;
    int hosts[] = {8, 64};
    for (int i = 0; i < 2; i++) {
        double at_link = ref_step + ring_seconds(grad_bytes, hosts[i], LINK_BYTES_PER_S) * (1 - hidden);
        double at_measured = ref_step + ring_seconds(grad_bytes, hosts[i], measured) * (1 - hidden);
        char name[80];
        snprintf(name, sizeof name, "mpi.M.est_step_seconds_%dhosts_25gbps", hosts[i]);
        bench_report(name, at_link, "s", NULL);
        snprintf(name, sizeof name, "mpi.M.est_efficiency_%dhosts_25gbps", hosts[i]);
        bench_report(name, ref_step / at_link, "fraction", NULL);
        snprintf(name, sizeof name, "mpi.M.est_efficiency_%dhosts_at_measured_bandwidth", hosts[i]);
        bench_report(name, ref_step / at_measured, "fraction", NULL);
    }
    char *rm = bench_capture("rm -rf %s", dir);
    free(rm);
}
