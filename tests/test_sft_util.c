/* test_sft_util.c — see test_sft_util.h. */
#include "test_sft_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"

Tokenizer *test_chat_tokenizer(const char *dir) {
    char *path = test_write_text(dir, "tokenizer_corpus.txt",
                                 "The capital of France is Paris. What is the capital of Kenya? Nairobi.\n"
                                 "You are a helpful assistant. What is 2 + 3? The answer is 5.\n"
                                 "Write the word house in capital letters: HOUSE. Spell it backwards.\n");
    BpeTrainOptions o = {.vocab_size = 300, .pattern = BPE_PATTERN_LLAMA3, .min_frequency = 2};
    const char *files[1] = {path};
    int quiet = lmf_quiet;
    lmf_quiet = 1; /* no progress lines in the test output */
    Tokenizer *t = tokenizer_train(files, 1, &o);
    lmf_quiet = quiet;
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

static void write_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char *p = path_join(dir, name);
    write_bytes(p, data, bytes);
    free(p);
}

void test_write_reference_fixture(const char *dir, const Model *m, const Lora *lora, int B, int T, const int *tokens,
                                  const int *targets, const int *doc_start) {
    const ModelConfig *c = &m->cfg;
    cJSON *meta = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(meta, "config");
    cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(cfg, "dim", c->dim);
    cJSON_AddNumberToObject(cfg, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(cfg, "n_heads", c->n_heads);
    cJSON_AddNumberToObject(cfg, "n_kv_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(cfg, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(cfg, "norm_eps", c->norm_eps);
    cJSON_AddBoolToObject(cfg, "tie_embeddings", c->tie_embeddings);
    cJSON_AddBoolToObject(cfg, "qkv_bias", c->qkv_bias);
    cJSON_AddNumberToObject(cfg, "head", c->head);
    cJSON *tensors = cJSON_AddArrayToObject(meta, "tensors");
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->rows));
        if (t->cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->cols));
        cJSON_AddBoolToObject(o, "decay", t->weight_decay);
        cJSON_AddItemToArray(tensors, o);
    }
    cJSON_AddNumberToObject(meta, "B", B);
    cJSON_AddNumberToObject(meta, "T", T);
    cJSON_AddBoolToObject(meta, "has_doc_start", doc_start != NULL);
    cJSON_AddNumberToObject(meta, "steps", 0);
    if (lora) {
        cJSON *lj = cJSON_AddObjectToObject(meta, "lora"), *lt = cJSON_AddArrayToObject(lj, "tensors");
        cJSON_AddNumberToObject(lj, "scale", lora->scale);
        for (int i = 0; i < lora->n_tensors; i++) {
            const ParamTensor *t = &lora->tensors[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t->name);
            cJSON_AddNumberToObject(o, "offset", (double)t->offset);
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->rows));
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->cols));
            cJSON_AddItemToArray(lt, o);
        }
        write_file(dir, "lora_params.bin", lora->params, lora->n_params * sizeof(float));
    }
    char *text = cJSON_Print(meta);
    write_file(dir, "meta.json", text, strlen(text));
    free(text);
    cJSON_Delete(meta);
    size_t N = (size_t)B * T;
    write_file(dir, "params.bin", m->params, m->n_params * sizeof(float));
    write_file(dir, "tokens.bin", tokens, N * sizeof(int));
    write_file(dir, "targets.bin", targets, N * sizeof(int));
    if (doc_start) write_file(dir, "doc_start.bin", doc_start, N * sizeof(int));
}

float *test_read_floats(const char *dir, const char *name, size_t n) {
    char *p = path_join(dir, name);
    size_t len;
    char *buf = read_file(p, &len);
    if (len != n * sizeof(float)) die("%s: %zu bytes, expected %zu", p, len, n * sizeof(float));
    free(p);
    return (float *)buf;
}

double test_read_number(const char *dir, const char *name) {
    char *p = path_join(dir, name), *s = read_file(p, NULL);
    double v = atof(s);
    free(p);
    free(s);
    return v;
}
