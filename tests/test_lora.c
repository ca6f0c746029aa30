/* test_lora.c — LoRA adapters: gradients against finite differences and an
 * independent PyTorch reference (tests/ref/lora_ref.py), dropout, the PEFT
 * files, and `lmforge merge` giving the logits of base + adapter. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/lora_files.h"
#include "../src/io/model_dir.h"
#include "../src/io/safetensors.h"
#include "../src/train/lm_loss.h"
#include "test.h"
#include "test_sft_util.h"

/* An adapter on every projection whose B is random too (a new one has B = 0,
 * which would hide half of the gradient paths). */
static Lora *random_lora(const Model *m, int rank, float dropout, const char *targets, uint64_t seed) {
    LoraConfig c = lora_config_defaults();
    c.rank = rank;
    c.alpha = 2.0f * rank;
    c.dropout = dropout;
    lora_parse_targets(&c, targets, "test");
    Lora *l = lora_new(&m->cfg, &c, seed);
    Rng r;
    rng_seed(&r, seed + 7);
    for (int i = 1; i < l->n_tensors; i += 2) {
        const ParamTensor *b = &l->tensors[i];
        for (size_t j = 0; j < (size_t)b->rows * b->cols; j++) l->params[b->offset + j] = 0.3f * rng_normal(&r);
    }
    return l;
}

static void random_tokens(Rng *r, int V, int *tokens, int *targets, int N) {
    for (int n = 0; n < N; n++) {
        tokens[n] = (int)rng_below(r, (uint64_t)V);
        targets[n] = n % 5 == 2 ? -100 : (int)rng_below(r, (uint64_t)V);
    }
}

TEST(lora_names_follow_peft) {
    Model *m = test_small_model(20, 16, 2, 4, 2, 1, 1.0f);
    LoraConfig c = lora_config_defaults();
    lora_parse_targets(&c, "q_proj,v,down", "test");
    Lora *l = lora_new(&m->cfg, &c, 3);
    CHECK_EQ_INT(l->n_tensors, 2 * 3 * 2);
    CHECK(strcmp(l->tensors[0].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") == 0);
    CHECK(strcmp(l->tensors[3].name, "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight") == 0);
    CHECK(strcmp(l->tensors[11].name, "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight") == 0);
    /* v_proj's B is (KV, r) = (8, 8), down_proj's A is (r, F) */
    CHECK_EQ_INT(l->tensors[3].rows, 8);
    CHECK_EQ_INT(l->tensors[4].cols, m->cfg.ffn_hidden);
    CHECK_NEAR(l->scale, 16.0 / 8, 0);
    lora_free(l);
    model_free(m);
}

TEST(lora_new_adapter_leaves_the_model_unchanged) {
    Model *m = test_small_model(30, 16, 2, 4, 2, 2, 3.0f);
    int tokens[24], targets[24];
    Rng r;
    rng_seed(&r, 1);
    random_tokens(&r, 30, tokens, targets, 24);
    size_t n = 24 * 30;
    float *base = xalloc_floats(n);
    model_forward(m, tokens, NULL, 2, 12, 0);
    memcpy(base, m->act.out, n * sizeof(float));
    LoraConfig c = lora_config_defaults();
    c.dropout = 0.5f;
    Lora *l = lora_new(&m->cfg, &c, 5);
    m->lora = l;
    model_forward(m, tokens, NULL, 2, 12, 1); /* training pass, dropout on: B = 0 still adds nothing */
    CHECK(memcmp(base, m->act.out, n * sizeof(float)) == 0);
    m->lora = NULL;
    lora_free(l);
    free(base);
    model_free(m);
}

/* ---- gradients against finite differences ---- */

typedef struct {
    Model *m;
    int *tokens, *targets, *doc_start, B, T;
    uint64_t pass; /* the dropout pass every evaluation reuses */
} FdCase;

static double fd_loss(FdCase *f) {
    f->m->lora->pass = f->pass - 1; /* a training forward advances it to f->pass */
    model_forward(f->m, f->tokens, f->doc_start, f->B, f->T, 1);
    long count;
    return lm_loss_sum(f->m, f->targets, &count) / (double)count;
}

static void check_lora_finite_differences(float dropout) {
    Model *m = test_small_model(13, 16, 2, 4, 2, 3, 2.0f);
    Lora *l = random_lora(m, 3, dropout, "all-linear", 11);
    m->lora = l;
    int tokens[14], targets[14], doc_start[14];
    Rng r;
    rng_seed(&r, 4);
    random_tokens(&r, 13, tokens, targets, 14);
    for (int n = 0; n < 14; n++) doc_start[n] = n % 7 < 3 ? 0 : 3; /* two documents per row */
    FdCase f = {m, tokens, targets, doc_start, 2, 7, 42};
    long count = 0;
    for (int n = 0; n < 14; n++) count += targets[n] >= 0;
    /* the analytic gradient of the mean over the counted targets, same mask */
    fd_loss(&f);
    memset(l->grads, 0, l->n_params * sizeof(float));
    lm_loss_sum_and_grad(m, targets, (double)count, &count);
    model_backward(m);
    CHECK(m->grads == NULL); /* the base stayed frozen */
    for (int i = 0; i < l->n_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        size_t n = (size_t)t->rows * t->cols;
        double scale = 1e-3;
        for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(l->grads[t->offset + j]));
        for (size_t j = 0; j < n; j += n / 5 + 1) {
            float *p = l->params + t->offset + j, saved = *p, h = 2e-3f;
            *p = saved + h;
            double up = fd_loss(&f);
            *p = saved - h;
            double down = fd_loss(&f);
            *p = saved;
            double fd = (up - down) / (2 * h), an = l->grads[t->offset + j];
            CHECK_MSG(fabs(fd - an) <= 2e-2 * scale + 1e-4, "dropout %g: %s[%zu]: analytic %.6g vs finite difference %.6g",
                      dropout, t->name, j, an, fd);
        }
    }
    m->lora = NULL;
    lora_free(l);
    model_free(m);
}

TEST(lora_gradients_match_finite_differences) { check_lora_finite_differences(0.0f); }
TEST(lora_gradients_with_dropout_match_finite_differences) { check_lora_finite_differences(0.3f); }

TEST(lora_dropout_is_reproducible_and_only_in_training) {
    Model *m = test_small_model(17, 16, 1, 2, 2, 5, 2.0f);
    Lora *l = random_lora(m, 4, 0.4f, "q,o,up", 3);
    m->lora = l;
    int tokens[10], targets[10];
    Rng r;
    rng_seed(&r, 9);
    random_tokens(&r, 17, tokens, targets, 10);
    size_t n = 10 * 17;
    float *a = xalloc_floats(n), *b = xalloc_floats(n), *eval1 = xalloc_floats(n);
    model_forward(m, tokens, NULL, 1, 10, 0);
    memcpy(eval1, m->act.out, n * sizeof(float));
    model_forward(m, tokens, NULL, 1, 10, 1);
    memcpy(a, m->act.out, n * sizeof(float));
    CHECK(l->pass == 1);
    model_forward(m, tokens, NULL, 1, 10, 1);
    memcpy(b, m->act.out, n * sizeof(float));
    CHECK(memcmp(a, eval1, n * sizeof(float)) != 0); /* dropout changed the training pass */
    CHECK(memcmp(a, b, n * sizeof(float)) != 0);     /* a new mask each pass */
    l->pass = 0;                                     /* what a resumed run restores */
    model_forward(m, tokens, NULL, 1, 10, 1);
    CHECK(memcmp(a, m->act.out, n * sizeof(float)) == 0);
    model_forward(m, tokens, NULL, 1, 10, 0);
    CHECK(memcmp(eval1, m->act.out, n * sizeof(float)) == 0); /* none at evaluation */
    free(a);
    free(b);
    free(eval1);
    m->lora = NULL;
    lora_free(l);
    model_free(m);
}

/* ---- against PyTorch ---- */

static void lora_parity(const char *label, Model *m, const char *targets, int packed) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    Lora *l = random_lora(m, 4, 0.0f, targets, 21);
    m->lora = l;
    const int B = 2, T = 11, N = B * T, V = m->cfg.vocab_size;
    int tokens[22], tgts[22], doc_start[22];
    Rng r;
    rng_seed(&r, 8);
    random_tokens(&r, V, tokens, tgts, N);
    for (int n = 0; n < N; n++) doc_start[n] = n % T < 4 ? 0 : n % T < 6 ? 4 : 6;
    char *dir = test_tmpdir("lora-parity");
    test_write_reference_fixture(dir, m, l, B, T, tokens, tgts, packed ? doc_start : NULL);
    if (test_system("/usr/bin/python3 tests/ref/lora_ref.py %s", dir) != 0) {
        test_fail(__FILE__, __LINE__, "%s: the PyTorch reference failed", label);
        return;
    }
    float *ref_logits = test_read_floats(dir, "ref_logits.bin", (size_t)N * V);
    float *ref_grads = test_read_floats(dir, "ref_lora_grads.bin", l->n_params);
    model_forward(m, tokens, packed ? doc_start : NULL, B, T, 1);
    double e = rel_error(m->act.out, ref_logits, (size_t)N * V);
    CHECK_MSG(e < 1e-5, "%s: logits differ from PyTorch, relative error %.3g", label, e);
    long count;
    lm_loss_sum(m, tgts, &count);
    memset(l->grads, 0, l->n_params * sizeof(float));
    double loss = lm_loss_sum_and_grad(m, tgts, (double)count, &count) / (double)count;
    model_backward(m);
    double ref_loss = test_read_number(dir, "ref_loss.txt");
    CHECK_MSG(fabs(loss - ref_loss) < 1e-5 * fabs(ref_loss), "%s: loss %.8f vs PyTorch %.8f", label, loss, ref_loss);
    for (int i = 0; i < l->n_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        double te = rel_error(l->grads + t->offset, ref_grads + t->offset, (size_t)t->rows * t->cols);
        CHECK_MSG(te < 1e-4, "%s: gradient of %s differs from PyTorch, relative error %.3g", label, t->name, te);
    }
    free(ref_logits);
    free(ref_grads);
    test_system("rm -rf %s", dir);
    free(dir);
    m->lora = NULL;
    lora_free(l);
}

TEST(lora_matches_pytorch_every_projection_gqa_packed) {
    Model *m = test_small_model(41, 24, 2, 6, 2, 12, 3.0f);
    lora_parity("every projection, grouped-query, packed", m, "all-linear", 1);
    model_free(m);
}

TEST(lora_matches_pytorch_q_v_with_qkv_bias_tied) {
    ModelConfig c = config_default(37, 32, 2, 4);
    c.qkv_bias = 1;
    c.tie_embeddings = 1;
    c.max_seq_len = 32;
    Model *m = model_new(&c);
    model_init_random(m, 4);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 3.0f;
    lora_parity("q and v, qkv bias, tied", m, "q,v", 0);
    model_free(m);
}

/* Today's checkpoints: Qwen3 (q/k norms, head_dim wider than C / NH: o_proj's input Q = 64 > C, F) and Llama with
 * attention_bias and llama3 RoPE scaling; every projection adapted. */
TEST(lora_matches_pytorch_qwen3_and_attention_bias_llama3) {
    ModelConfig c = config_default(37, 32, 2, 4);
    c.n_kv_heads = 2;
    c.ffn_hidden = 48;
    c.max_seq_len = 32;
    c.qk_norm = 1;
    c.head_dim = 16;
    Model *m = model_new(&c);
    model_init_random(m, 5);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 3.0f;
    lora_parity("qwen3, head_dim 16", m, "all-linear", 1);
    model_free(m);

    c = config_default(41, 24, 2, 3);
    c.n_kv_heads = 1;
    c.ffn_hidden = 40;
    c.max_seq_len = 32;
    c.qkv_bias = c.o_bias = 1;
    c.rope_scaling = (RopeScaling){.kind = ROPE_SCALING_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                                   .high_freq_factor = 16.0f, .original_max_position = 512};
    m = model_new(&c);
    model_init_random(m, 6);
    Rng r;
    rng_seed(&r, 9);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 3.0f * m->params[i] + 0.05f * rng_normal(&r);
    lora_parity("attention_bias, llama3 scaling", m, "all-linear", 0);
    model_free(m);
}

/* ---- files and merging ---- */

TEST(lora_adapter_files_round_trip) {
    Model *m = test_small_model(25, 16, 2, 4, 2, 6, 1.0f);
    Lora *l = random_lora(m, 2, 0.1f, "k,o,gate", 6);
    char *dir = test_tmpdir("lora-files");
    lora_save(l, dir, "/some/base");
    char *config_path = path_join(dir, "adapter_config.json");
    cJSON *j = json_read_file(config_path);
    CHECK(strcmp(json_get_string(j, "peft_type", "c"), "LORA") == 0);
    CHECK(strcmp(json_get_string(j, "task_type", "c"), "CAUSAL_LM") == 0);
    CHECK(strcmp(json_get_string(j, "bias", "c"), "none") == 0);
    CHECK_EQ_INT(json_get_int(j, "r", "c"), 2);
    CHECK_NEAR(json_get_float(j, "lora_alpha", "c"), 4.0, 0);
    CHECK_NEAR(json_get_float(j, "lora_dropout", "c"), 0.1, 1e-7);
    const cJSON *targets = json_get_array(j, "target_modules", "c");
    CHECK_EQ_INT(cJSON_GetArraySize(targets), 3);
    CHECK(strcmp(cJSON_GetArrayItem(targets, 1)->valuestring, "o_proj") == 0);
    cJSON_Delete(j);
    char *base = lora_base_model_path(dir);
    CHECK(base && strcmp(base, "/some/base") == 0);
    char *st_path = path_join(dir, "adapter_model.safetensors");
    SafeTensors *st = st_open(st_path);
    const StTensor *t = st_find(st, "base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == m->cfg.ffn_hidden && t->shape[1] == 2);
    CHECK_EQ_INT(st_count(st), l->n_tensors);
    st_close(st);
    Lora *back = lora_load(dir, &m->cfg);
    CHECK_EQ_INT(back->n_params, l->n_params);
    CHECK(memcmp(back->params, l->params, l->n_params * sizeof(float)) == 0);
    CHECK_NEAR(back->scale, l->scale, 0);
    lora_free(back);
    test_system("rm -rf %s", dir);
    free(st_path);
    free(base);
    free(config_path);
    free(dir);
    lora_free(l);
    model_free(m);
}

typedef struct {
    const char *dir;
    const ModelConfig *cfg;
} LoadCase;
static void load_adapter(void *ctx) {
    LoadCase *c = ctx;
    lora_load(c->dir, c->cfg);
}

/* Rewrites one field of DIR/adapter_config.json (a JSON value in text). */
static void set_config_field(const char *dir, const char *key, const char *json_value) {
    char *path = path_join(dir, "adapter_config.json");
    cJSON *j = json_read_file(path);
    cJSON_DeleteItemFromObject(j, key);
    cJSON_AddItemToObject(j, key, cJSON_Parse(json_value));
    json_write_file(path, j);
    cJSON_Delete(j);
    free(path);
}

TEST(lora_bad_adapter_files_are_reported) {
    Model *m = test_small_model(25, 16, 2, 4, 2, 6, 1.0f);
    Lora *l = random_lora(m, 2, 0.0f, "q,v", 6);
    char *dir = test_tmpdir("lora-bad");
    LoadCase lc = {dir, &m->cfg};
    CHECK_DIES(load_adapter, &lc, "not a LoRA adapter directory (no adapter_config.json)");
    lora_save(l, dir, NULL);
    set_config_field(dir, "r", "4");
    CHECK_DIES(load_adapter, &lc, "lora_A.weight has the wrong shape for this model and rank (expected [4, 16])");
    set_config_field(dir, "r", "2");
    set_config_field(dir, "target_modules", "[\"q_proj\"]");
    CHECK_DIES(load_adapter, &lc, "tensor base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight is not one of");
    set_config_field(dir, "target_modules", "[\"q_proj\", \"v_proj\", \"k_proj\"]");
    CHECK_DIES(load_adapter, &lc, "self_attn.k_proj.lora_A.weight is missing");
    set_config_field(dir, "target_modules", "[\"q_proj\", \"lm_head\"]");
    CHECK_DIES(load_adapter, &lc, "field \"target_modules\": unknown projection \"lm_head\"");
    set_config_field(dir, "target_modules", "[\"q_proj\", \"v_proj\"]");
    set_config_field(dir, "use_dora", "true");
    CHECK_DIES(load_adapter, &lc, "field \"use_dora\" is set; lmforge does not support it");
    set_config_field(dir, "use_dora", "false");
    set_config_field(dir, "peft_type", "\"IA3\"");
    CHECK_DIES(load_adapter, &lc, "field \"peft_type\" is IA3; only LORA adapters are supported");
    test_system("rm -rf %s", dir);
    free(dir);
    lora_free(l);
    model_free(m);
}

TEST(lora_merge_gives_the_logits_of_base_plus_adapter) {
    Model *m = test_small_model(33, 24, 2, 6, 3, 13, 2.0f);
    Lora *l = random_lora(m, 4, 0.05f, "all-linear", 14);
    char *dir = test_tmpdir("lora-merge"), *base = path_join(dir, "base"), *adapter = path_join(dir, "adapter");
    char *merged = path_join(dir, "merged");
    model_dir_save(base, m, NULL, 0.0, 1.0);
    lora_save(l, adapter, base);
    int rc = test_system("%s merge --adapter %s --out %s > %s/log 2>&1", lmforge_bin(), adapter, merged, dir);
    CHECK_EQ_INT(rc, 0);
    int tokens[20], targets[20];
    Rng r;
    rng_seed(&r, 15);
    random_tokens(&r, 33, tokens, targets, 20);
    size_t n = 20 * 33;
    m->lora = l;
    model_forward(m, tokens, NULL, 2, 10, 0);
    float *expected = xalloc_floats(n);
    memcpy(expected, m->act.out, n * sizeof(float));
    m->lora = NULL;
    model_forward(m, tokens, NULL, 2, 10, 0);
    CHECK(rel_error(m->act.out, expected, n) > 1e-2); /* the adapter matters */
    ModelDir ck = model_dir_load(merged);
    model_forward(ck.model, tokens, NULL, 2, 10, 0);
    double e = rel_error(ck.model->act.out, expected, n);
    CHECK_MSG(e < 1e-5, "merged logits differ from base + adapter: relative error %.3g", e);
    model_dir_free(&ck);
    test_system("rm -rf %s", dir);
    free(expected);
    free(merged);
    free(adapter);
    free(base);
    free(dir);
    lora_free(l);
    model_free(m);
}
