/* bench_pretrain.c — `lmforge pretrain` end to end against the bare training
 * step of bench_train.c, on the same S shape (dim 288, 6 layers, 6 heads,
 * F 768, vocab 32000, T 256, B 8, tied embeddings), in the same run.
 *
 * The corpus is real text (the King James Bible and the fortunes, ~9 MB)
 * with a 32000-token BPE tokenizer learnt from it; it is tokenized into
 * shards once, and every timed run reads that folder of shards (so
 * tokenization is not timed, but the data loading of each step is).
 *
 * What is timed: the wall clock of two whole `lmforge pretrain` processes,
 * SHORT and LONG steps long, identical otherwise. Their difference is
 * LONG - SHORT optimizer steps of the real loop — drawing the windows from
 * the memory-mapped shard, forward, loss, backward, clipping, AdamW, the
 * metrics line and the progress line — with the fixed costs of a run
 * (start-up, loading the tokenizer and shards, initialising the model, the
 * final evaluation and the two saves) cancelled out. The bare step is
 * `bench --child train_step S` (bench_train.c). Both are measured REPS
 * times, interleaved, as the machine's load drifts; medians are reported
 * with the spread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/tokenizer/tokenizer.h"
#include "bench.h"

#define S_SHAPE "--dim 288 --layers 6 --heads 6 --ffn 768 --seq-len 256 --batch 8 --tie"
#define S_TOKENS_PER_STEP (256 * 8)
enum { REPS = 3, SHORT = 2, LONG = 6 };

/* Runs a shell command, dying with its log on failure; returns seconds taken. */
static double timed(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double timed(const char *log, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *full = xsprintf("( %s ) > '%s' 2>&1", cmd, log);
    fflush(stdout);
    double t = now_seconds();
    int rc = system(full);
    t = now_seconds() - t;
    if (rc != 0) die("benchmark command failed (see %s): %s", log, cmd);
    free(full);
    return t;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double s[REPS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double bare_step_tokens_per_s(void) {
    char *out = bench_capture("/proc/%d/exe --child train_step S", (int)getpid());
    double tps = 0;
    if (!out || sscanf(out, "%lf", &tps) != 1) die("the bare-step benchmark child failed");
    free(out);
    return tps;
}

/* A 32000-token tokenizer and the corpus tokenized into DIR/prep/shards.
 * Returns 0 (after saying why) when the texts are not installed. */
static int prepare(const char *dir, const char *lmforge) {
    char *log = path_join(dir, "prepare.log");
    if (system("command -v bible > /dev/null && test -d /usr/share/games/fortunes") != 0) {
        printf("  skipped: needs bible-kjv and fortunes (apt-get install bible-kjv fortunes)\n");
        free(log);
        return 0;
    }
    timed(log, "mkdir -p '%s/corpus' && bible -f gen1:1-rev22:21 > '%s/corpus/bible.txt' && "
               "for f in /usr/share/games/fortunes/*; do "
               "case $f in *.dat|*.u8) ;; *) if [ -f \"$f\" ]; then cat \"$f\"; fi ;; esac; done "
               "> '%s/corpus/fortunes.txt'", dir, dir, dir);
    timed(log, "%s tokenizer train --vocab-size 32000 --out '%s/tok' '%s/corpus/bible.txt' '%s/corpus/fortunes.txt'",
          lmforge, dir, dir, dir);
    char *tok_dir = path_join(dir, "tok");
    Tokenizer *tok = tokenizer_load(tok_dir);
    int V = tokenizer_vocab_size(tok);
    tokenizer_free(tok);
    free(tok_dir);
    if (V != 32000) {
        printf("  skipped: the corpus gave a tokenizer of %d tokens, not 32000\n", V);
        free(log);
        return 0;
    }
    double t = timed(log, "%s pretrain --tokenizer '%s/tok' --out '%s/prep' " S_SHAPE " --steps 1 --eval-tokens 2048 "
                          "'%s/corpus'", lmforge, dir, dir, dir);
    printf("  tokenized the corpus into shards (and ran one step) in %.1f s\n", t);
    free(log);
    return 1;
}

BENCH(pretrain) {
    char dir[] = "/tmp/lmforge-bench-pretrain-XXXXXX";
    if (!mkdtemp(dir)) die_errno("mkdtemp");
    const char *lmforge = "build/lmforge";
    if (!prepare(dir, lmforge)) {
        char *cmd = xsprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0) warn("could not remove %s", dir);
        free(cmd);
        return;
    }
    char *log = path_join(dir, "run.log");
    double bare[REPS], steady[REPS], overhead[REPS], fixed[REPS];
    for (int r = 0; r < REPS; r++) {
        bare[r] = bare_step_tokens_per_s();
        double t[2];
        int steps[2] = {SHORT, LONG};
        for (int k = 0; k < 2; k++)
            t[k] = timed(log, "rm -rf '%s/run' && %s pretrain --tokenizer '%s/tok' --out '%s/run' " S_SHAPE
                              " --steps %d --eval-every 0 --save-every 0 --eval-tokens 2048 --lr 3e-4 '%s/prep/shards'",
                         dir, lmforge, dir, dir, steps[k], dir);
        double per_step = (t[1] - t[0]) / (LONG - SHORT);
        steady[r] = S_TOKENS_PER_STEP / per_step;
        overhead[r] = 1.0 - steady[r] / bare[r];
        fixed[r] = t[0] - SHORT * per_step;
        printf("  rep %d: bare step %.0f tokens/s, pretrain %.0f tokens/s (overhead %+.1f%%), fixed cost of a run "
               "%.1f s\n", r + 1, bare[r], steady[r], 100 * overhead[r], fixed[r]);
    }
    double lo = overhead[0], hi = overhead[0];
    for (int r = 1; r < REPS; r++) lo = LMF_MIN(lo, overhead[r]), hi = LMF_MAX(hi, overhead[r]);
    bench_report("pretrain.S.tokens_per_s", median(steady, REPS), "tokens/s", NULL);
    bench_report("pretrain.S.bare_step.tokens_per_s", median(bare, REPS), "tokens/s", NULL);
    /* each repetition pairs a bare step and a pretrain run measured moments apart */
    bench_report("pretrain.S.overhead_vs_bare_step", median(overhead, REPS), "fraction", NULL);
    bench_report("pretrain.S.overhead_vs_bare_step.min", lo, "fraction", NULL);
    bench_report("pretrain.S.overhead_vs_bare_step.max", hi, "fraction", NULL);
    bench_report("pretrain.S.fixed_cost_s", median(fixed, REPS), "s", NULL);
    char *cmd = xsprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) warn("could not remove %s", dir);
    free(cmd);
    free(log);
}
