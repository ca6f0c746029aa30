/* test_arch.c — today's checkpoints (issue 20, item 3): an explicit head_dim,
 * RoPE scaling (llama3, linear), Llama's attention_bias (q, k, v and o_proj
 * biases) and Qwen3 (per-head q/k RMSNorm). Forward and backward against
 * PyTorch are in test_model.c, LoRA against PyTorch in test_lora.c; here:
 * cached decoding (with and without LoRA) equals the full forward pass, the
 * config.json / model.safetensors round trip (and PyTorch reading what we
 * write), real Hugging Face configs read right, nonsense refused naming the
 * file and the field, and what GGUF export writes or refuses. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/gguf_export.h"
#include "../src/io/model_dir.h"
#include "../src/model/kv_cache.h"
#include "../src/model/lora.h"
#include "../src/train/lm_loss.h"
#include "test.h"
#include "test_gguf_util.h"
#include "test_ref_util.h"

enum { N_CASES = 6 };

static RopeScaling llama3_scaling(void) {
    /* with HS 8 and theta 10000 the wavelengths are 6.3, 63, 628 and 6283 tokens: kept, blended, slowed, slowed */
    return (RopeScaling){.kind = ROPE_SCALING_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                         .high_freq_factor = 16.0f, .original_max_position = 512};
}

/* Case k's configuration over a vocabulary of V, and its label. */
static ModelConfig arch_config(int k, int V, const char **label) {
    static const char *labels[N_CASES] = {"head_dim", "llama3", "linear", "attention_bias", "qwen3",
                                          "qwen3_bias_llama3"};
    *label = labels[k];
    ModelConfig c = config_default(V, 32, 2, 4);
    c.n_kv_heads = 2;
    c.ffn_hidden = 48;
    c.max_seq_len = 64;
    switch (k) {
    case 0: /* Q = 48, wider than C = 32 */
        c.head_dim = 12;
        break;
    case 1: /* head_dim given though it is C / NH: nothing explicit is kept after a round trip */
        c.head_dim = 8;
        c.tie_embeddings = 1;
        c.rope_scaling = llama3_scaling();
        break;
    case 2:
        c.n_kv_heads = 4;
        c.rope_scaling = (RopeScaling){.kind = ROPE_SCALING_LINEAR, .factor = 2.0f};
        break;
    case 3:
        c.dim = 48;
        c.n_heads = 6;
        c.ffn_hidden = 64;
        c.qkv_bias = c.o_bias = 1;
        break;
    case 4: /* Qwen3-0.6B's proportions: head_dim twice C / NH */
        c.qk_norm = 1;
        c.head_dim = 16;
        c.tie_embeddings = 1;
        break;
    default: /* everything at once, one key/value head */
        c.dim = 24;
        c.n_heads = 3;
        c.n_kv_heads = 1;
        c.ffn_hidden = 40;
        c.qk_norm = c.qkv_bias = c.o_bias = 1;
        c.head_dim = 8;
        c.rope_scaling = llama3_scaling();
        break;
    }
    return c;
}

/* Random weights spread enough that logits are far from uniform; norms near 1, biases non-zero. */
static Model *arch_model(int k, int V, uint64_t seed, const char **label) {
    ModelConfig c = arch_config(k, V, label);
    Model *m = model_new(&c);
    test_randomize_weights(m, seed, 0.2f);
    return m;
}

static Lora *random_lora(const Model *m, uint64_t seed) {
    LoraConfig lc = lora_config_defaults();
    lc.rank = 4;
    lc.dropout = 0;
    Lora *l = lora_new(&m->cfg, &lc, seed);
    Rng r;
    rng_seed(&r, seed + 1);
    for (size_t i = 0; i < l->n_params; i++) l->params[i] = 0.2f * rng_normal(&r); /* B too, not zeros */
    return l;
}

/* Prefill of two sequences in one call and token-by-token decoding both give model_forward's logits. */
static void check_cached(const char *label, Model *m) {
    const int V = m->cfg.vocab_size, lens[2] = {23, 9};
    Rng r;
    rng_seed(&r, 17);
    int tokens[32], seq[32], rows[32], N = 0;
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < lens[i]; t++, N++) tokens[N] = (int)rng_below(&r, (uint64_t)V), seq[N] = i, rows[N] = N;
    KvCache *kv = kv_cache_new(&m->cfg, 2, 32), *kv2 = kv_cache_new(&m->cfg, 2, 32);
    float *cached = xalloc_floats((size_t)N * V), *stepwise = xalloc_floats((size_t)N * V);
    model_forward_cached(m, kv, tokens, seq, N, rows, N, cached);
    for (int n = 0, zero = 0; n < N; n++)
        model_forward_cached(m, kv2, &tokens[n], &seq[n], 1, &zero, 1, stepwise + (size_t)n * V);
    for (int i = 0, base = 0; i < 2; base += lens[i], i++) {
        model_forward(m, tokens + base, NULL, 1, lens[i], 0);
        double e = rel_error(cached + (size_t)base * V, m->act.out, (size_t)lens[i] * V);
        CHECK_MSG(e < 2e-5, "%s%s, sequence %d: cached logits differ from model_forward by %.3g", label,
                  m->lora ? " + LoRA" : "", i, e);
    }
    CHECK_MSG(memcmp(cached, stepwise, sizeof(float) * (size_t)N * V) == 0, "%s: prefill and decoding differ", label);
    free(cached);
    free(stepwise);
    kv_cache_free(kv);
    kv_cache_free(kv2);
}

TEST(arch_kv_cache_matches_full_forward) {
    for (int k = 0; k < N_CASES; k++) {
        const char *label;
        Model *m = arch_model(k, 57, 100 + (uint64_t)k, &label);
        check_cached(label, m);
        Lora *l = random_lora(m, 7 + (uint64_t)k);
        m->lora = l;
        check_cached(label, m);
        m->lora = NULL;
        lora_free(l);
        model_free(m);
    }
}

/* A LoRA training step with dropout over a frozen base, for every case: o_proj's input (Q wide) goes through the
 * adapters' dropout scratch, and the q/k norms pass gradients back without gradients of their own. */
TEST(arch_lora_training_step_with_dropout) {
    for (int k = 0; k < N_CASES; k++) {
        const char *label;
        Model *m = arch_model(k, 57, 300 + (uint64_t)k, &label);
        LoraConfig lc = lora_config_defaults();
        lc.rank = 4;
        lc.dropout = 0.2f;
        Lora *l = lora_new(&m->cfg, &lc, 11);
        m->lora = l;
        int tokens[40], targets[40];
        Rng r;
        rng_seed(&r, 4);
        for (int n = 0; n < 40; n++) tokens[n] = (int)rng_below(&r, 57), targets[n] = (int)rng_below(&r, 57);
        long count;
        model_forward(m, tokens, NULL, 2, 20, 1);
        memset(l->grads, 0, l->n_params * sizeof(float));
        lm_loss_sum_and_grad(m, targets, 40.0, &count);
        model_backward(m);
        double ss = 0;
        for (size_t i = 0; i < l->n_params; i++) ss += (double)l->grads[i] * l->grads[i];
        CHECK_MSG(isfinite(ss) && ss > 0, "%s: LoRA gradients %g", label, ss);
        m->lora = NULL;
        lora_free(l);
        model_free(m);
    }
}

static const cJSON *key(const cJSON *j, const char *k) { return cJSON_GetObjectItemCaseSensitive(j, k); }

/* Saved and loaded: the same configuration, parameters and logits; config.json in Hugging Face's words; and
 * tests/ref/checkpoint_ref.py, reading config.json and model.safetensors alone, gives the same logits. */
TEST(arch_checkpoint_round_trip_and_pytorch_reads_it) {
    const Tokenizer *tok = gguf_test_tokenizer();
    const int V = tokenizer_vocab_size(tok);
    enum { B = 2, T = 13 };
    char *dir = test_tmpdir("arch-ckpt");
    Model *models[N_CASES];
    int tokens[B * T];
    Rng r;
    rng_seed(&r, 3);
    for (int n = 0; n < B * T; n++) tokens[n] = (int)rng_below(&r, (uint64_t)V);
    char cases[4096] = "";
    for (int k = 0; k < N_CASES; k++) {
        const char *label;
        Model *m = models[k] = arch_model(k, V, 200 + (uint64_t)k, &label);
        char *case_dir = path_join(dir, label), *ckpt = path_join(case_dir, "ckpt");
        model_dir_save(ckpt, m, tok, 0, 1);
        ModelDir back = model_dir_load(ckpt);
        CHECK_MSG(config_equal(&back.model->cfg, &m->cfg), "%s: the configuration changed", label);
        CHECK_MSG(memcmp(back.model->params, m->params, m->n_params * sizeof(float)) == 0, "%s: parameters changed",
                  label);
        model_forward(m, tokens, NULL, B, T, 0);
        model_forward(back.model, tokens, NULL, B, T, 0);
        CHECK_MSG(memcmp(back.model->act.out, m->act.out, sizeof(float) * B * T * V) == 0, "%s: logits differ", label);
        model_dir_free(&back);

        char *config_path = path_join(ckpt, "config.json");
        cJSON *j = json_read_file(config_path);
        const char *arch = cJSON_GetArrayItem(key(j, "architectures"), 0)->valuestring;
        const ModelConfig *c = &m->cfg;
        CHECK_MSG(strcmp(arch, c->qk_norm ? "Qwen3ForCausalLM" : "LlamaForCausalLM") == 0, "%s: %s", label, arch);
        CHECK(strcmp(key(j, "model_type")->valuestring, c->qk_norm ? "qwen3" : "llama") == 0);
        if (c->head_dim) CHECK(key(j, "head_dim") && key(j, "head_dim")->valueint == c->head_dim);
        CHECK(cJSON_IsTrue(key(j, "attention_bias")) == c->o_bias);
        const cJSON *rs = key(j, "rope_scaling");
        if (c->rope_scaling.kind == ROPE_SCALING_NONE) CHECK(cJSON_IsNull(rs));
        else
            CHECK(strcmp(key(rs, "rope_type")->valuestring,
                         c->rope_scaling.kind == ROPE_SCALING_LLAMA3 ? "llama3" : "linear") == 0);
        cJSON_Delete(j);
        free(config_path);
        char *p = path_join(case_dir, "tokens.bin");
        write_bytes(p, tokens, sizeof tokens);
        free(p);
        p = path_join(case_dir, "probe.json");
        char probe[64];
        snprintf(probe, sizeof probe, "{\"B\": %d, \"T\": %d}", B, T);
        write_bytes(p, probe, strlen(probe));
        free(p);
        strcat(cases, " ");
        strcat(cases, case_dir);
        free(case_dir);
        free(ckpt);
    }
    if (have_torch()) {
        int rc = test_system("/usr/bin/python3 tests/ref/checkpoint_ref.py logits%s", cases);
        CHECK_MSG(rc == 0, "the PyTorch reference could not read the checkpoints");
        for (int k = 0; k < N_CASES && rc == 0; k++) {
            const char *label;
            arch_config(k, V, &label);
            char *case_dir = path_join(dir, label);
            float *ref = test_read_floats(case_dir, "ref_logits.bin", (size_t)B * T * V);
            model_forward(models[k], tokens, NULL, B, T, 0);
            double e = rel_error(models[k]->act.out, ref, (size_t)B * T * V);
            CHECK_MSG(e < 1e-5, "%s: logits differ from PyTorch's reading of the checkpoint, relative error %.3g",
                      label, e);
            free(ref);
            free(case_dir);
        }
    }
    for (int k = 0; k < N_CASES; k++) model_free(models[k]);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* ---- config.json as Hugging Face writes it ---- */

static char *write_config(const char *name, const char *json) {
    char *dir = test_tmpdir(name), *p = path_join(dir, "config.json");
    write_bytes(p, json, strlen(json));
    free(p);
    return dir;
}

/* Llama 3.2 1B's config.json (its sizes; the model is not built). */
static const char LLAMA32_1B[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": 128001, \"head_dim\": 64, \"hidden_act\": \"silu\","
    " \"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 8192,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0,"
    " \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\","
    " \"use_cache\": true, \"vocab_size\": 128256}";

/* Qwen3 0.6B's config.json: head_dim 128 with 16 heads over hidden_size 1024. */
static const char QWEN3_06B[] =
    "{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 151643, \"eos_token_id\": 151645, \"head_dim\": 128, \"hidden_act\": \"silu\","
    " \"hidden_size\": 1024, \"initializer_range\": 0.02, \"intermediate_size\": 3072,"
    " \"max_position_embeddings\": 40960, \"max_window_layers\": 28, \"model_type\": \"qwen3\","
    " \"num_attention_heads\": 16, \"num_hidden_layers\": 28, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-06,"
    " \"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": null, \"tie_word_embeddings\": true,"
    " \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}";

TEST(arch_hugging_face_configs_are_read) {
    char *dir = write_config("llama32", LLAMA32_1B);
    ModelConfig c = model_dir_read_config(dir);
    CHECK(c.dim == 2048 && c.n_heads == 32 && c.n_kv_heads == 8 && config_head_size(&c) == 64);
    CHECK(c.head_dim == 0); /* 2048 / 32: nothing explicit to keep */
    CHECK(c.rope_scaling.kind == ROPE_SCALING_LLAMA3 && c.rope_scaling.factor == 32.0f);
    CHECK(c.rope_scaling.low_freq_factor == 1.0f && c.rope_scaling.high_freq_factor == 4.0f);
    CHECK(c.rope_scaling.original_max_position == 8192 && c.rope_theta == 500000.0f);
    CHECK(!c.qkv_bias && !c.o_bias && !c.qk_norm && c.tie_embeddings);
    /* the scaled frequencies: the fastest pair kept, the slowest divided by 32 */
    float inv[32];
    config_rope_inv_freq(&c, inv);
    CHECK(inv[0] == 1.0f);
    CHECK_NEAR(inv[31], (float)(1.0 / pow(500000.0, 62.0 / 64)) / 32.0f, 1e-12);
    test_system("rm -rf '%s'", dir);
    free(dir);

    dir = write_config("qwen3", QWEN3_06B);
    c = model_dir_read_config(dir);
    CHECK(c.qk_norm && !c.qkv_bias && !c.o_bias && c.head_dim == 128);
    CHECK(config_q_width(&c) == 2048 && config_kv_width(&c) == 1024 && c.dim == 1024);
    CHECK(c.rope_scaling.kind == ROPE_SCALING_NONE);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

static void read_config_in(void *dir) { model_dir_read_config(dir); }

/* A config.json with `from` replaced by `to` must die saying `expected`. */
static void check_refused(const char *base, const char *from, const char *to, const char *expected) {
    char *text = xstrdup(base), *at = strstr(text, from);
    if (!at) die("test: %s is not in the config", from);
    char *edited = xsprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    char *dir = write_config("bad-config", edited);
    CHECK_DIES(read_config_in, dir, expected);
    test_system("rm -rf '%s'", dir);
    free(dir);
    free(edited);
    free(text);
}

TEST(arch_nonsense_configs_are_refused_naming_the_field) {
    check_refused(LLAMA32_1B, "\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"",
                  "config.json: field \"rope_scaling\" has rope_type \"yarn\", which is not supported");
    check_refused(LLAMA32_1B, "\"rope_type\": \"llama3\"", "\"rope_type\": \"dynamic\"", "rope_type \"dynamic\"");
    check_refused(LLAMA32_1B, "\"low_freq_factor\": 1.0,", "", "rope_scaling: field \"low_freq_factor\" is missing");
    check_refused(LLAMA32_1B, "\"low_freq_factor\": 1.0", "\"low_freq_factor\": 4.0",
                  "high_freq_factor must be greater than its low_freq_factor");
    check_refused(LLAMA32_1B, "\"factor\": 32.0", "\"factor\": -2", "rope_scaling's factor must be a positive number");
    check_refused(LLAMA32_1B, "\"rope_type\": \"llama3\"", "\"kind\": 1",
                  "field \"rope_scaling\" has no \"rope_type\"");
    check_refused(QWEN3_06B, "\"head_dim\": 128", "\"head_dim\": 0",
                  "config.json: field \"head_dim\" is 0; it must be a positive even number");
    check_refused(QWEN3_06B, "\"head_dim\": 128", "\"head_dim\": 63", "field \"head_dim\" is 63");
    check_refused(QWEN3_06B, "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "architecture Qwen3MoeForCausalLM is not");
}

/* ---- GGUF export ---- */

static char *export_to(const Model *m, const char *dir, const char *name) {
    char *path = path_join(dir, name);
    gguf_export(m, gguf_test_tokenizer(), GGML_F32, name, path);
    return path;
}

TEST(arch_gguf_export_writes_or_refuses) {
    const Tokenizer *tok = gguf_test_tokenizer();
    const int V = tokenizer_vocab_size(tok);
    char *dir = test_tmpdir("arch-gguf");
    const char *label;

    /* explicit head_dim: key_length and value_length; the q rows permuted per head of 12 */
    Model *m = arch_model(0, V, 1, &label);
    char *path = export_to(m, dir, "head_dim.gguf");
    GgufFile f = gguf_read(path);
    CHECK(f.error == NULL);
    char *arch = gguf_kv_str(&f, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0);
    free(arch);
    CHECK(gguf_kv_u32(&f, "llama.attention.key_length") == 12 && gguf_kv_u32(&f, "llama.attention.value_length") == 12);
    CHECK(gguf_kv_u32(&f, "llama.rope.dimension_count") == 12);
    const GgufTensorInfo *q = gguf_tensor(&f, "blk.0.attn_q.weight");
    CHECK(q && q->ne[0] == 32 && q->ne[1] == 48);
    /* row 1 of llama.cpp's head 0 is our row HS/2 = 6 */
    CHECK(q && gguf_tensor_value(q, 1 * 32 + 5) == m->w.layers[0].wqkv[6 * 32 + 5]);
    gguf_file_free(&f);
    free(path);
    model_free(m);

    /* llama3: rope_freqs, the unscaled over the scaled frequency of each pair */
    m = arch_model(1, V, 2, &label);
    path = export_to(m, dir, "llama3.gguf");
    f = gguf_read(path);
    const GgufTensorInfo *rf = gguf_tensor(&f, "rope_freqs.weight");
    CHECK(rf && rf->n_dims == 1 && rf->ne[0] == 4);
    if (rf) {
        CHECK(gguf_tensor_value(rf, 0) == 1.0f); /* 6.3-token wavelength: kept */
        CHECK_NEAR(gguf_tensor_value(rf, 2), 8.0, 1e-5);
        CHECK_NEAR(gguf_tensor_value(rf, 3), 8.0, 1e-5);
        float g = gguf_tensor_value(rf, 1);
        CHECK(g > 1.0f && g < 8.0f); /* blended */
    }
    CHECK(gguf_kv(&f, "llama.rope.scaling.type") == NULL);
    gguf_file_free(&f);
    free(path);
    model_free(m);

    /* linear scaling: llama.cpp's rope.scaling keys */
    m = arch_model(2, V, 3, &label);
    path = export_to(m, dir, "linear.gguf");
    f = gguf_read(path);
    char *type = gguf_kv_str(&f, "llama.rope.scaling.type");
    CHECK(type && strcmp(type, "linear") == 0);
    free(type);
    CHECK(gguf_kv_f32(&f, "llama.rope.scaling.factor") == 2.0);
    gguf_file_free(&f);
    free(path);
    model_free(m);

    /* attention_bias: llama with q, k (permuted like their rows), v and output biases */
    m = arch_model(3, V, 4, &label);
    path = export_to(m, dir, "bias.gguf");
    f = gguf_read(path);
    arch = gguf_kv_str(&f, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0);
    free(arch);
    const GgufTensorInfo *bq = gguf_tensor(&f, "blk.1.attn_q.bias"), *bo = gguf_tensor(&f, "blk.1.attn_output.bias");
    CHECK(bq && bo && bo->ne[0] == 48);
    if (bq) CHECK(gguf_tensor_value(bq, 1) == m->w.layers[1].bqkv[4]); /* HS 8: row 1 of head 0 is our row 4 */
    if (bo) CHECK(gguf_tensor_value(bo, 7) == m->w.layers[1].bo[7]);
    gguf_file_free(&f);
    free(path);
    model_free(m);

    /* qwen3: its architecture, q/k norms, head_dim, no permutation */
    m = arch_model(4, V, 5, &label);
    path = export_to(m, dir, "qwen3.gguf");
    f = gguf_read(path);
    arch = gguf_kv_str(&f, "general.architecture");
    CHECK(arch && strcmp(arch, "qwen3") == 0);
    free(arch);
    CHECK(gguf_kv_u32(&f, "qwen3.attention.key_length") == 16 && gguf_kv_u32(&f, "qwen3.block_count") == 2);
    const GgufTensorInfo *qn = gguf_tensor(&f, "blk.0.attn_q_norm.weight");
    const GgufTensorInfo *kn = gguf_tensor(&f, "blk.1.attn_k_norm.weight");
    CHECK(qn && kn && qn->ne[0] == 16);
    if (kn) CHECK(gguf_tensor_value(kn, 3) == m->w.layers[1].k_norm[3]);
    q = gguf_tensor(&f, "blk.0.attn_q.weight");
    if (q) CHECK(gguf_tensor_value(q, 1 * 32 + 5) == m->w.layers[0].wqkv[1 * 32 + 5]);
    gguf_file_free(&f);
    free(path);
    model_free(m);

    /* refused: Qwen3 with biases; llama3 scaling outside "llama" */
    m = arch_model(5, V, 6, &label);
    CHECK(strstr(gguf_export_check(m, tok), "Qwen3 model with attention biases") != NULL);
    model_free(m);
    ModelConfig c = config_default(V, 32, 1, 4);
    c.qkv_bias = 1;
    c.rope_scaling = llama3_scaling();
    m = model_new(&c);
    CHECK(strstr(gguf_export_check(m, tok), "llama3 RoPE scaling") != NULL);
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(dir);
}
