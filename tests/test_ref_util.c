/* test_ref_util.c — see test_ref_util.h. */
#include "test_ref_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "test.h"

void test_write_reference_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char *p = path_join(dir, name);
    write_bytes(p, data, bytes);
    free(p);
}

/* {"name", "offset", "shape", ...} of each tensor, into the array. */
static void add_tensors(cJSON *array, const ParamTensor *tensors, int n, int with_decay) {
    for (int i = 0; i < n; i++) {
        const ParamTensor *t = &tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->rows));
        if (t->cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->cols));
        if (with_decay) cJSON_AddBoolToObject(o, "decay", t->weight_decay);
        cJSON_AddItemToArray(array, o);
    }
}

static void write_fixture(const char *dir, const Model *m, const Lora *lora, int B, int T, const int *tokens,
                          const int *targets, const int *doc_start, int steps, const OptimConfig *oc) {
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
    cJSON_AddNumberToObject(cfg, "head_dim", config_head_size(c));
    cJSON_AddBoolToObject(cfg, "o_bias", c->o_bias);
    cJSON_AddBoolToObject(cfg, "qk_norm", c->qk_norm);
    if (c->rope_scaling.kind != ROPE_SCALING_NONE) {
        const RopeScaling *rs = &c->rope_scaling;
        cJSON *o = cJSON_AddObjectToObject(cfg, "rope_scaling");
        cJSON_AddStringToObject(o, "rope_type", rs->kind == ROPE_SCALING_LLAMA3 ? "llama3" : "linear");
        cJSON_AddNumberToObject(o, "factor", rs->factor);
        cJSON_AddNumberToObject(o, "low_freq_factor", rs->low_freq_factor);
        cJSON_AddNumberToObject(o, "high_freq_factor", rs->high_freq_factor);
        cJSON_AddNumberToObject(o, "original_max_position_embeddings", rs->original_max_position);
    }
    add_tensors(cJSON_AddArrayToObject(meta, "tensors"), m->tensors, m->n_tensors, 1);
    cJSON_AddNumberToObject(meta, "B", B);
    cJSON_AddNumberToObject(meta, "T", T);
    cJSON_AddBoolToObject(meta, "has_doc_start", doc_start != NULL);
    cJSON_AddNumberToObject(meta, "steps", steps);
    if (oc) {
        cJSON *o = cJSON_AddObjectToObject(meta, "optim");
        cJSON_AddNumberToObject(o, "lr", oc->lr);
        cJSON_AddNumberToObject(o, "beta1", oc->beta1);
        cJSON_AddNumberToObject(o, "beta2", oc->beta2);
        cJSON_AddNumberToObject(o, "eps", oc->eps);
        cJSON_AddNumberToObject(o, "weight_decay", oc->weight_decay);
        cJSON_AddNumberToObject(o, "grad_clip", oc->grad_clip);
    }
    if (lora) {
        cJSON *lj = cJSON_AddObjectToObject(meta, "lora");
        cJSON_AddNumberToObject(lj, "scale", lora->scale);
        add_tensors(cJSON_AddArrayToObject(lj, "tensors"), lora->tensors, lora->n_tensors, 0);
        test_write_reference_file(dir, "lora_params.bin", lora->params, lora->n_params * sizeof(float));
    }
    char *text = cJSON_Print(meta);
    test_write_reference_file(dir, "meta.json", text, strlen(text));
    free(text);
    cJSON_Delete(meta);
    size_t N = (size_t)B * T;
    test_write_reference_file(dir, "params.bin", m->params, m->n_params * sizeof(float));
    test_write_reference_file(dir, "tokens.bin", tokens, N * sizeof(int));
    test_write_reference_file(dir, "targets.bin", targets, N * sizeof(int));
    if (doc_start) test_write_reference_file(dir, "doc_start.bin", doc_start, N * sizeof(int));
}

void test_write_reference_fixture(const char *dir, const Model *m, const Lora *lora, int B, int T, const int *tokens,
                                  const int *targets, const int *doc_start) {
    write_fixture(dir, m, lora, B, T, tokens, targets, doc_start, 0, NULL);
}

void test_write_reference_training_fixture(const char *dir, const Model *m, int B, int T, const int *tokens,
                                           const int *targets, const int *doc_start, int steps, const OptimConfig *oc) {
    write_fixture(dir, m, NULL, B, T, tokens, targets, doc_start, steps, oc);
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

cJSON *test_json_floats(const float *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

void test_check_json_floats(const cJSON *ref, const char *key, const float *got, int n, double tol) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(ref, key);
    CHECK_MSG(cJSON_GetArraySize(a) == n, "%s: %d values from PyTorch, expected %d", key, cJSON_GetArraySize(a), n);
    for (int i = 0; i < n && i < cJSON_GetArraySize(a); i++) {
        double want = cJSON_GetArrayItem(a, i)->valuedouble;
        CHECK_MSG(fabs(got[i] - want) <= tol * (1 + fabs(want)), "%s[%d]: %.7g, PyTorch %.7g", key, i, got[i], want);
    }
}

void test_randomize_weights(Model *m, uint64_t seed, float norm_spread) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        int norm = strstr(t->name, "norm") != NULL;
        for (size_t j = 0; j < n; j++) p[j] = norm ? 1.0f + norm_spread * rng_normal(&r) : 0.25f * rng_normal(&r);
    }
}
