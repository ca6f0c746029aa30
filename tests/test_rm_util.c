/* test_rm_util.c — see test_rm_util.h. */
#include "test_rm_util.h"

#include <stdlib.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

static const char *const CORPUS = "What is the capital of France? The capital of France is Paris.\n"
                                  "The quick brown fox jumps over the lazy dog, and the dog sleeps in the sun.\n"
                                  "Write the answer as a short sentence. What is the sum of the two numbers?\n"
                                  "A house by the river, a tree in the garden, water and light in the morning.\n"
                                  "Which answer is better? The first answer is right and the second one is wrong.\n";

const Tokenizer *rm_test_tokenizer(void) {
    static Tokenizer *tok;
    if (tok) return tok;
    char *dir = test_tmpdir("rmtok"), *path = path_join(dir, "corpus.txt");
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < 20; i++) fputs(CORPUS, f);
    fclose(f);
    BpeTrainOptions o = {.vocab_size = 320, .min_frequency = 2};
    const char *files[1] = {path};
    tok = fixture_train_tokenizer(files, 1, &o);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
    return tok;
}

Model *rm_test_model(HeadKind head, uint64_t seed) {
    ModelConfig c = config_default(tokenizer_vocab_size(rm_test_tokenizer()), 32, 2, 4);
    c.n_kv_heads = 2;
    c.ffn_hidden = 48;
    c.max_seq_len = 64;
    c.head = head;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    return m;
}

char *rm_test_write(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    FILE *f = xfopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}
