/* bench.h — benchmark registration and reporting.
 *
 *   BENCH(train_step) { ... bench_report("train.M.tokens_per_s", tps, "tokens/s", NULL); }
 *
 * Every BENCH in the bench sources registers itself; `make bench` (build/bench) runs
 * them all, or those whose name contains argv[1]. Each figure is printed as a
 * table row and appended as one JSON object to bench/results.jsonl:
 *   {"name": "train.M.mfu", "value": 0.81, "unit": "fraction"}
 * A comparison carries "vs": "pytorch" (bench_report's last argument); its
 * ratio is reported as a figure of its own (train.M.ratio_vs_pytorch).
 * Names are area.shape.metric and stay stable across versions. */
#ifndef LMF_BENCH_H
#define LMF_BENCH_H

typedef void (*BenchFn)(void);
void bench_register(const char *name, BenchFn fn);

#define BENCH(name)                                                                              \
    static void bench_##name(void);                                                              \
    __attribute__((constructor)) static void register_bench_##name(void) { bench_register(#name, bench_##name); } \
    static void bench_##name(void)

/* A benchmark's part that must run in a fresh process (its own peak memory):
 * `build/bench --child NAME ARG` calls it with ARG. */
typedef void (*BenchChildFn)(const char *arg);
void bench_register_child(const char *name, BenchChildFn fn);
#define BENCH_CHILD(name)                                                                                  \
    static void bench_child_##name(const char *arg);                                                      \
    __attribute__((constructor)) static void register_child_##name(void) { bench_register_child(#name, bench_child_##name); } \
    static void bench_child_##name(const char *arg)

/* One figure. vs is NULL, or the name of what it is compared against. */
void bench_report(const char *name, double value, const char *unit, const char *vs);
/* A figure that is a text, such as which BLAS ran: written as
 * {"name": ..., "value": "the text", "unit": "text"}. */
void bench_report_text(const char *name, const char *text);
/* Reports machine.isa (the ISA path of this build: avx512, avx2+fma or
 * portable) and machine.blas (the BLAS library and the core it runs). */
void bench_report_machine(void);
/* Runs a shell command and returns its stdout (caller frees), or NULL if it failed. */
char *bench_capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The measured fp32 FMA peak of this machine in FLOP/s with the current OpenMP thread count. */
double bench_fp32_peak_flops(void);
/* The ISA path the peak (and the build) uses: "avx512", "avx2+fma" or "portable". */
const char *bench_isa_name(void);

/* A byte-level BPE tokenizer of about 1000 tokens learnt from made-up words written to DIR/corpus.txt: for
 * benchmarks of random-weight models that sample text (ppo, grpo). */
struct Tokenizer;
struct Tokenizer *bench_syllable_tokenizer(const char *dir);

/* The sum of `key` in RUN/metrics.jsonl over every step but the first (which warms up); dies unless it has
 * `expected` values. */
double bench_metric_sum(const char *run, const char *key, int expected);

#endif
