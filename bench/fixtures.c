/* fixtures.c — what several benchmarks build the same way (bench.h). */
#include <stdio.h>
#include <stdlib.h>

#include "../src/base/metrics.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/tokenizer/tokenizer.h"
#include "bench.h"

/* A tokenizer learnt from made-up words (so that it has about 1000 tokens). */
Tokenizer *bench_syllable_tokenizer(const char *dir) {
    static const char *syllables[] = {"ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "de", "va", "zu", "ber",
                                      "the", "sea", "ship", "and", "story", "tell", "me", "about"};
    char *path = path_join(dir, "corpus.txt");
    FILE *f = xfopen(path, "w");
    Rng r;
    rng_seed(&r, 7);
    for (int line = 0; line < 3000; line++) {
        for (int w = 0; w < 12; w++) {
            int n = 1 + (int)rng_below(&r, 3);
            for (int s = 0; s < n; s++) fputs(syllables[rng_below(&r, LMF_ARRAY_LEN(syllables))], f);
            fputc(' ', f);
        }
        fputs(".\n", f);
    }
    fclose(f);
    BpeTrainOptions o = {.vocab_size = 1024, .min_frequency = 2};
    const char *files[1] = {path};
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    Tokenizer *t = tokenizer_train(files, 1, &o);
    lmf_quiet = quiet;
    free(path);
    return t;
}

double bench_metric_sum(const char *run, const char *key, int expected) {
    char *path = path_join(run, "metrics.jsonl");
    double *steps, *values, sum = 0;
    int n = metrics_read_series(path, key, &steps, &values);
    if (n != expected) die("bench: %s has %d values of %s, not %d", path, n, key, expected);
    for (int i = 1; i < n; i++) sum += values[i];
    free(steps);
    free(values);
    free(path);
    return sum;
}
