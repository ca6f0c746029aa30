/* bench_export.c — `lmforge export gguf` speed: the M shape (dim 768, 12
 * layers, 12 heads, F 2048, vocab 32000, untied: 134M parameters) written
 * as f16, Q/K reordering, conversion and the fsync'ed write included (the
 * checkpoint's loading is not). Best of 2 runs. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/io/gguf_export.h"
#include "../src/tokenizer/tokenizer.h"
#include "bench.h"

BENCH(export) {
    char tmpl[] = "/tmp/lmforge-bench-export-XXXXXX";
    if (!mkdtemp(tmpl)) die_errno("mkdtemp");
    char *text = path_join(tmpl, "text.txt"), *out = path_join(tmpl, "m.gguf");
    FILE *f = xfopen(text, "w");
    for (int i = 0; i < 200; i++) fprintf(f, "the quick brown fox %d jumps over the lazy dog\n", i);
    fclose(f);
    BpeTrainOptions bo = {.vocab_size = 400};
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    Tokenizer *tok = tokenizer_train((const char **)&text, 1, &bo);
    lmf_quiet = quiet;
    ModelConfig c = config_default(32000, 768, 12, 12);
    c.ffn_hidden = 2048;
    c.tie_embeddings = 0;
    Model *m = model_new(&c);
    model_init_random(m, 1);
    double best = 1e30;
    for (int run = 0; run < 2; run++) {
        double t0 = now_seconds();
        gguf_export(m, tok, GGML_F16, "bench", out);
        best = LMF_MIN(best, now_seconds() - t0);
    }
    printf("  M shape, %.0fM parameters to f16 GGUF\n", (double)m->n_params / 1e6);
    bench_report("export.M.gguf_f16_seconds", best, "s", NULL);
    model_free(m);
    tokenizer_free(tok);
    remove(out);
    remove(text);
    rmdir(tmpl);
    free(text);
    free(out);
}
