/* test_sft_util.c — see test_sft_util.h. */
#include "test_sft_util.h"

#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

Tokenizer *test_chat_tokenizer(const char *dir) {
    char *path = test_write_text(dir, "tokenizer_corpus.txt",
                                 "The capital of France is Paris. What is the capital of Kenya? Nairobi.\n"
                                 "You are a helpful assistant. What is 2 + 3? The answer is 5.\n"
                                 "Write the word house in capital letters: HOUSE. Spell it backwards.\n");
    BpeTrainOptions o = {.vocab_size = 300, .pattern = BPE_PATTERN_LLAMA3, .min_frequency = 2};
    const char *files[1] = {path};
    Tokenizer *t = fixture_train_tokenizer(files, 1, &o);
    free(path);
    return t;
}

Model *test_small_model(int V, int C, int L, int NH, int NKV, uint64_t seed, float gain) {
    ModelConfig c = config_default(V, C, L, NH);
    c.n_kv_heads = NKV;
    c.tie_embeddings = 0;
    c.max_seq_len = 128;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= gain;
    return m;
}

char *test_write_text(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    write_bytes(path, text, strlen(text));
    return path;
}
