/* test_model_dir.c — Hugging Face model directories: a save/load round trip gives
 * bit-identical logits; a checkpoint lmforge writes is read by an independent
 * PyTorch reference (tests/ref/checkpoint_ref.py) and gives the same logits;
 * checkpoints that reference writes as transformers would (tied and untied,
 * grouped-query attention, Qwen2 biases, F32/BF16/F16, sharded) load here and
 * give its logits; damaged checkpoints are reported naming the file. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "../src/io/safetensors.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

typedef struct {
    const char *label;
    int C, L, NH, NKV, F, tied, bias;
    HeadKind head;
} ModelCase;

static const ModelCase MODEL_CASES[] = {
    {"tied_mha", 32, 2, 4, 4, 48, 1, 0, HEAD_LM},
    {"untied_gqa", 48, 2, 6, 2, 80, 0, 0, HEAD_LM},
    {"qkv_bias_gqa", 40, 3, 5, 1, 64, 0, 1, HEAD_LM},
    {"qkv_bias_tied", 24, 1, 3, 3, 40, 1, 1, HEAD_LM},
    {"score_head", 32, 2, 4, 2, 48, 0, 1, HEAD_SCORE},
};

/* A random model of this shape, its weights scaled up so that every part of
 * the network shapes the logits. */
static Model *random_model(const ModelCase *mc, int vocab_size, uint64_t seed) {
    ModelConfig c = config_default(vocab_size, mc->C, mc->L, mc->NH);
    c.n_kv_heads = mc->NKV;
    c.ffn_hidden = mc->F;
    c.tie_embeddings = mc->tied;
    c.qkv_bias = mc->bias;
    c.head = mc->head;
    c.max_seq_len = 64;
    c.rope_theta = 50000.0f;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    Rng r;
    rng_seed(&r, seed + 1);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = m->params[i] * 5.0f + 0.05f * rng_normal(&r);
    return m;
}

static void random_tokens(int *tokens, int n, int vocab_size, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) tokens[i] = (int)rng_below(&r, (uint64_t)vocab_size);
}

/* The corpus and tokenizer the saved checkpoints carry, made once. */
static Tokenizer *shared_tokenizer(void) {
    static Tokenizer *tok;
    if (!tok) {
        char *dir = test_tmpdir("ckpt-tok");
        char *text = fixture_write_text(dir, "text.txt", 300, 1);
        tok = fixture_tokenizer(text, 300);
        test_system("rm -rf '%s'", dir);
        free(text);
        free(dir);
    }
    return tok;
}

TEST(checkpoint_save_and_load_give_identical_logits) {
    Tokenizer *tok = shared_tokenizer();
    int V = tokenizer_vocab_size(tok);
    char *dir = test_tmpdir("ckpt-roundtrip");
    enum { B = 2, T = 17 };
    int tokens[B * T];
    for (size_t k = 0; k < LMF_ARRAY_LEN(MODEL_CASES); k++) {
        const ModelCase *mc = &MODEL_CASES[k];
        Model *m = random_model(mc, V, 10 + k);
        random_tokens(tokens, B * T, V, k);
        char *ckpt = path_join(dir, mc->label);
        model_dir_save(ckpt, m, tok, 0.25, 3.5);
        ModelDir back = model_dir_load(ckpt);
        CHECK_MSG(config_equal(&back.model->cfg, &m->cfg), "%s: the configuration changed", mc->label);
        CHECK_MSG(memcmp(back.model->params, m->params, m->n_params * sizeof(float)) == 0,
                  "%s: parameters changed", mc->label);
        size_t n_out = (size_t)B * T * config_out_width(&m->cfg);
        model_forward(m, tokens, NULL, B, T, 0);
        model_forward(back.model, tokens, NULL, B, T, 0);
        CHECK_MSG(memcmp(back.model->act.out, m->act.out, n_out * sizeof(float)) == 0, "%s: logits differ",
                  mc->label);
        CHECK(back.tokenizer && tokenizer_vocab_size(back.tokenizer) == V);
        if (mc->head == HEAD_SCORE) CHECK(back.reward_mean == 0.25 && back.reward_std == 3.5);
        /* loading into an existing model of the same shape */
        Model *into = model_new(&m->cfg);
        model_dir_load_params(ckpt, into);
        CHECK(memcmp(into->params, m->params, m->n_params * sizeof(float)) == 0);
        model_free(into);
        model_dir_free(&back);
        model_free(m);
        free(ckpt);
    }
    test_system("rm -rf '%s'", dir);
    free(dir);
}

static int has_key(const cJSON *j, const char *key) { return cJSON_GetObjectItemCaseSensitive(j, key) != NULL; }

TEST(checkpoint_is_in_the_hugging_face_layout) {
    Tokenizer *tok = shared_tokenizer();
    char *dir = test_tmpdir("ckpt-layout");
    ModelCase mc = {"qwen2", 16, 1, 2, 1, 32, 0, 1, HEAD_LM};
    Model *m = random_model(&mc, tokenizer_vocab_size(tok), 3);
    model_dir_save(dir, m, tok, 0, 1);

    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "generation_config.json"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(files); i++) {
        char *p = path_join(dir, files[i]);
        CHECK_MSG(file_exists(p), "%s is missing", files[i]);
        if (ends_with(p, ".json")) cJSON_Delete(json_read_file(p)); /* valid JSON, or the test dies */
        free(p);
    }
    char *config_path = path_join(dir, "config.json");
    cJSON *config = json_read_file(config_path);
    const char *keys[] = {"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
                          "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "max_position_embeddings", "rms_norm_eps", "rope_theta", "tie_word_embeddings",
                          "hidden_act", "torch_dtype", "bos_token_id", "eos_token_id"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(keys); i++)
        CHECK_MSG(has_key(config, keys[i]), "config.json lacks %s", keys[i]);
    const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(config, "architectures"), 0);
    CHECK(cJSON_IsString(arch) && strcmp(arch->valuestring, "Qwen2ForCausalLM") == 0);
    CHECK(strcmp(json_get_string(config, "model_type", "config"), "qwen2") == 0);
    CHECK(strcmp(json_get_string(config, "torch_dtype", "config"), "float32") == 0);
    CHECK_EQ_INT(json_get_int(config, "num_key_value_heads", "config"), 1);
    CHECK_EQ_INT(json_get_int(config, "eos_token_id", "config"), tokenizer_eos_id(tok));
    cJSON_Delete(config);
    free(config_path);

    /* The tensor names transformers gives a one-layer Qwen2 model, untied. */
    const char *names[] = {"model.embed_tokens.weight",
                           "model.layers.0.input_layernorm.weight",
                           "model.layers.0.self_attn.q_proj.weight",
                           "model.layers.0.self_attn.q_proj.bias",
                           "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.0.self_attn.k_proj.bias",
                           "model.layers.0.self_attn.v_proj.weight",
                           "model.layers.0.self_attn.v_proj.bias",
                           "model.layers.0.self_attn.o_proj.weight",
                           "model.layers.0.post_attention_layernorm.weight",
                           "model.layers.0.mlp.gate_proj.weight",
                           "model.layers.0.mlp.up_proj.weight",
                           "model.layers.0.mlp.down_proj.weight",
                           "model.norm.weight",
                           "lm_head.weight"};
    SafeTensors *st = st_open(dir);
    CHECK_EQ_INT(st_count(st), LMF_ARRAY_LEN(names));
    for (size_t i = 0; i < LMF_ARRAY_LEN(names); i++) {
        const StTensor *t = st_find(st, names[i]);
        CHECK_MSG(t && t->dtype == ST_F32, "model.safetensors lacks %s (F32)", names[i]);
    }
    const StTensor *k = st_find(st, "model.layers.0.self_attn.k_proj.weight");
    CHECK(k && k->ndim == 2 && k->shape[0] == 8 && k->shape[1] == 16); /* (NKV * HS, C) */
    CHECK(strcmp(st_metadata(st, "format"), "pt") == 0);
    st_close(st);

    char *gen_path = path_join(dir, "generation_config.json");
    cJSON *gen = json_read_file(gen_path);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(gen, "eos_token_id")));
    cJSON_Delete(gen);
    free(gen_path);
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* A checkpoint stored as transformers shards a BF16 model: two files and an
 * index. It loads as the BF16-rounded weights, whatever the split. */
TEST(checkpoint_sharded_bf16_loads_the_rounded_weights) {
    Tokenizer *tok = shared_tokenizer();
    int V = tokenizer_vocab_size(tok);
    char *dir = test_tmpdir("ckpt-bf16");
    Model *m = random_model(&MODEL_CASES[2], V, 9); /* qkv bias, one KV head */
    model_dir_save(dir, m, tok, 0, 1);
    char *single = path_join(dir, "model.safetensors");
    remove(single);
    StWriter *w[2] = {st_writer_new(), st_writer_new()};
    const char *files[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        int64_t shape[2] = {t->rows, t->cols};
        int part = i % 2;
        st_writer_add(w[part], t->name, ST_BF16, t->cols ? 2 : 1, shape, m->params + t->offset);
        cJSON_AddStringToObject(map, t->name, files[part]);
    }
    for (int k = 0; k < 2; k++) {
        char *p = path_join(dir, files[k]);
        st_writer_save(w[k], p);
        st_writer_free(w[k]);
        free(p);
    }
    char *index_path = path_join(dir, "model.safetensors.index.json");
    json_write_file(index_path, index);
    cJSON_Delete(index);

    ModelDir c = model_dir_load(dir);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = st_bf16_to_f32(st_f32_to_bf16(m->params[i]));
    CHECK(memcmp(c.model->params, m->params, m->n_params * sizeof(float)) == 0);
    enum { B = 2, T = 11 };
    int tokens[B * T];
    random_tokens(tokens, B * T, V, 4);
    model_forward(m, tokens, NULL, B, T, 0);
    model_forward(c.model, tokens, NULL, B, T, 0);
    CHECK(memcmp(c.model->act.out, m->act.out, sizeof(float) * B * T * (size_t)V) == 0);
    model_dir_free(&c);
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(index_path);
    free(single);
    free(dir);
}

static void write_probe(const char *case_dir, const int *tokens, int B, int T) {
    char *p = path_join(case_dir, "tokens.bin");
    write_bytes(p, tokens, sizeof(int) * (size_t)B * T);
    free(p);
    char *json = xsprintf("{\"B\": %d, \"T\": %d}", B, T);
    p = path_join(case_dir, "probe.json");
    write_bytes(p, json, strlen(json));
    free(p);
    free(json);
}

static float *read_ref_logits(const char *case_dir, size_t n) {
    char *p = path_join(case_dir, "ref_logits.bin");
    size_t len;
    float *v = (float *)read_file(p, &len);
    if (len != n * sizeof(float)) die("%s: %zu bytes, expected %zu", p, len, n * sizeof(float));
    free(p);
    return v;
}

TEST(checkpoint_written_here_gives_the_same_logits_in_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    Tokenizer *tok = shared_tokenizer();
    int V = tokenizer_vocab_size(tok);
    char *dir = test_tmpdir("ckpt-to-torch");
    enum { B = 2, T = 19, N_LM = 4 }; /* the language-model cases */
    Model *models[N_LM];
    int tokens[N_LM][B * T];
    char cases[4096] = "";
    for (int k = 0; k < N_LM; k++) {
        const ModelCase *mc = &MODEL_CASES[k];
        models[k] = random_model(mc, V, 100 + (uint64_t)k);
        random_tokens(tokens[k], B * T, V, 50 + (uint64_t)k);
        char *case_dir = path_join(dir, mc->label), *ckpt = path_join(case_dir, "ckpt");
        model_dir_save(ckpt, models[k], tok, 0, 1);
        write_probe(case_dir, tokens[k], B, T);
        strcat(cases, " ");
        strcat(cases, case_dir);
        free(case_dir);
        free(ckpt);
    }
    int rc = test_system("/usr/bin/python3 tests/ref/checkpoint_ref.py logits%s", cases);
    CHECK_MSG(rc == 0, "the PyTorch reference could not read lmforge's checkpoints");
    for (int k = 0; k < N_LM && rc == 0; k++) {
        size_t n = (size_t)B * T * V;
        char *case_dir = path_join(dir, MODEL_CASES[k].label);
        float *ref = read_ref_logits(case_dir, n);
        model_forward(models[k], tokens[k], NULL, B, T, 0);
        double e = rel_error(models[k]->act.out, ref, n);
        CHECK_MSG(e < 1e-5, "%s: logits differ from PyTorch's, relative error %.3g", MODEL_CASES[k].label, e);
        free(ref);
        free(case_dir);
    }
    for (int k = 0; k < N_LM; k++) model_free(models[k]);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

static int read_probe_int(const char *case_dir, const char *key) {
    char *p = path_join(case_dir, "probe.json");
    cJSON *j = json_read_file(p);
    int v = json_get_int(j, key, p);
    cJSON_Delete(j);
    free(p);
    return v;
}

TEST(checkpoint_written_by_pytorch_loads_and_gives_its_logits) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    char *root = test_tmpdir("ckpt-from-torch");
    char *out = path_join(root, "cases.txt");
    int rc = test_system("/usr/bin/python3 tests/ref/checkpoint_ref.py make '%s' > '%s'", root, out);
    CHECK_MSG(rc == 0, "the PyTorch reference could not write its checkpoints");
    char *names = rc == 0 ? read_file(out, NULL) : xstrdup(""), *save = NULL;
    int n_cases = 0;
    for (char *name = strtok_r(names, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
        char *case_dir = path_join(root, name), *ckpt = path_join(case_dir, "ckpt");
        int B = read_probe_int(case_dir, "B"), T = read_probe_int(case_dir, "T");
        ModelDir c = model_dir_load(ckpt);
        const ModelConfig *cfg = &c.model->cfg;
        /* the case names say what the configuration must have become */
        CHECK_MSG(cfg->tie_embeddings == (strstr(name, "_tied") != NULL), "%s: tie_word_embeddings", name);
        CHECK_MSG(cfg->qkv_bias == (strstr(name, "bias") != NULL), "%s: q/k/v biases", name);
        CHECK_MSG((cfg->n_kv_heads < cfg->n_heads) == (strstr(name, "gqa") != NULL), "%s: key/value heads", name);
        CHECK(c.tokenizer == NULL);
        size_t n = (size_t)B * T * cfg->vocab_size;
        int *tokens = (int *)read_file(path_join(case_dir, "tokens.bin"), NULL);
        float *ref = read_ref_logits(case_dir, n);
        model_forward(c.model, tokens, NULL, B, T, 0);
        /* the same (rounded) weights on both sides: only fp32 vs fp64 arithmetic differs */
        double e = rel_error(c.model->act.out, ref, n);
        CHECK_MSG(e < 1e-5, "%s: logits differ from PyTorch's, relative error %.3g", name, e);
        free(ref);
        free(tokens);
        model_dir_free(&c);
        free(ckpt);
        free(case_dir);
        n_cases++;
    }
    CHECK_EQ_INT(n_cases, 4);
    free(names);
    free(out);
    test_system("rm -rf '%s'", root);
    free(root);
}

/* ---- damaged checkpoints ---- */

static void load_checkpoint(void *dir) {
    ModelDir c = model_dir_load(dir);
    model_dir_free(&c);
}

/* Rewrites DIR/config.json with `key` set to the JSON `value` (NULL: removed). */
static void edit_config(const char *dir, const char *key, const char *value) {
    char *p = path_join(dir, "config.json");
    cJSON *j = json_read_file(p);
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (value) cJSON_AddItemToObject(j, key, cJSON_Parse(value));
    json_write_file(p, j);
    cJSON_Delete(j);
    free(p);
}

TEST(checkpoint_damage_is_reported_naming_the_file) {
    Tokenizer *tok = shared_tokenizer();
    char *root = test_tmpdir("ckpt-bad"), *good = path_join(root, "good"), *bad = path_join(root, "bad");
    ModelCase mc = {"llama", 16, 1, 2, 2, 32, 0, 0, HEAD_LM};
    Model *m = random_model(&mc, tokenizer_vocab_size(tok), 5);
    model_dir_save(good, m, tok, 0, 1);
    char *config = path_join(bad, "config.json"), *weights = path_join(bad, "model.safetensors");
#define FRESH_COPY() test_system("rm -rf '%s' && cp -r '%s' '%s'", bad, good, bad)

    struct {
        const char *key, *value, *expected;
    } config_cases[] = {
        {"hidden_size", NULL, "config.json: field \"hidden_size\" is missing"},
        {"num_hidden_layers", NULL, "config.json: field \"num_hidden_layers\" is missing"},
        {"vocab_size", "\"many\"", "config.json: field \"vocab_size\""},
        {"num_attention_heads", "3", "config.json: dim 16 is not divisible by n_heads 3"},
        {"num_key_value_heads", "3", "config.json: n_heads 2 is not divisible by n_kv_heads 3"},
        {"intermediate_size", "0", "config.json: ffn_hidden (intermediate_size) must be positive"},
        {"architectures", "[\"GPT2LMHeadModel\"]", "config.json: architecture GPT2LMHeadModel is not supported"},
        {"hidden_act", "\"gelu\"", "config.json: field \"hidden_act\" is gelu"},
        /* llama3 and linear scaling load (test_arch.c); other kinds are refused by name */
        {"rope_scaling", "{\"type\": \"yarn\", \"factor\": 2}",
         "config.json: field \"rope_scaling\" has rope_type \"yarn\", which is not supported"},
        /* consistent on its own, but not with the tensors */
        {"intermediate_size", "48",
         "model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has the wrong shape"},
        {"vocab_size", "100000", "model.safetensors: tensor model.embed_tokens.weight has the wrong shape"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(config_cases); i++) {
        FRESH_COPY();
        edit_config(bad, config_cases[i].key, config_cases[i].value);
        CHECK_DIES(load_checkpoint, bad, config_cases[i].expected);
        CHECK_DIES(load_checkpoint, bad, bad); /* every message names the file it is about */
    }

    FRESH_COPY();
    const char *cut = "{\"architectures\": [\"LlamaForCausalLM\"],";
    write_bytes(config, cut, strlen(cut));
    CHECK_DIES(load_checkpoint, bad, "bad/config.json:1:40: not valid JSON");
    remove(config);
    CHECK_DIES(load_checkpoint, bad, "bad: not a checkpoint directory (no config.json)");

    /* a truncated weights file: the last tensor's data is cut short */
    FRESH_COPY();
    size_t len;
    char *bytes = read_file(weights, &len);
    write_bytes(weights, bytes, len - 100);
    CHECK_DIES(load_checkpoint, bad, "bad/model.safetensors: tensor \"lm_head.weight\": data_offsets");
    /* a corrupt header */
    memcpy(bytes + 8, "[\"not a header\"", 15);
    write_bytes(weights, bytes, len);
    CHECK_DIES(load_checkpoint, bad, "bad/model.safetensors: header is not valid JSON");
    write_bytes(weights, "", 0);
    CHECK_DIES(load_checkpoint, bad, "bad/model.safetensors: empty file");
    remove(weights);
    CHECK_DIES(load_checkpoint, bad, "bad: directory has neither model.safetensors nor model.safetensors.index.json");
    free(bytes);

    /* a tensor missing */
    FRESH_COPY();
    StWriter *w = st_writer_new();
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if (strcmp(t->name, "model.layers.0.mlp.up_proj.weight") == 0) continue;
        int64_t shape[2] = {t->rows, t->cols};
        st_writer_add(w, t->name, ST_F32, t->cols ? 2 : 1, shape, m->params + t->offset);
    }
    st_writer_save(w, weights);
    st_writer_free(w);
    CHECK_DIES(load_checkpoint, bad, "bad: tensor model.layers.0.mlp.up_proj.weight is missing from the checkpoint");

    /* a tokenizer with more tokens than the embedding has rows */
    Model *small = random_model(&mc, 16, 5);
    model_dir_save(bad, small, tok, 0, 1);
    CHECK_DIES(load_checkpoint, bad, "bad: the tokenizer has");
    model_free(small);

    /* a NaN and an infinity in the weights, refused by name before they spread through every result */
    const ParamTensor *up = model_find_tensor(m, "model.layers.0.mlp.up_proj.weight");
    float saved = m->params[up->offset + 5];
    m->params[up->offset + 5] = NAN;
    model_dir_save(bad, m, tok, 0, 1);
    CHECK_DIES(load_checkpoint, bad,
               "bad/model.safetensors: tensor model.layers.0.mlp.up_proj.weight holds a non-finite value (nan at index 5)");
    m->params[up->offset + 5] = -INFINITY;
    model_dir_save(bad, m, tok, 0, 1);
    CHECK_DIES(load_checkpoint, bad, "holds a non-finite value (-inf at index 5)");
    m->params[up->offset + 5] = saved;
#undef FRESH_COPY
    model_free(m);
    free(config);
    free(weights);
    test_system("rm -rf '%s'", root);
    free(good);
    free(bad);
    free(root);
}
