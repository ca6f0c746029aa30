/* model_dir.c — see model_dir.h. */
#include "model_dir.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/json_util.h"
#include "../base/util.h"
#include "safetensors.h"

/* The Hugging Face family a configuration belongs to: Qwen3 has per-head q/k
 * norms; Qwen2 has biases on q/k/v alone; Llama has none, or (attention_bias)
 * biases on q, k, v and o. */
static const char *family_name(const ModelConfig *c) {
    if (c->qk_norm) return "Qwen3";
    if (c->qkv_bias && !c->o_bias) return "Qwen2";
    return "Llama";
}

/* The architecture names Hugging Face uses for our variants. */
static const char *architecture_name(const ModelConfig *c) {
    static char name[64];
    snprintf(name, sizeof name, "%s%s", family_name(c),
             c->head == HEAD_SCORE ? "ForSequenceClassification" : "ForCausalLM");
    return name;
}

/* config.json's "rope_scaling": null, or {"rope_type": "llama3" or "linear", ...}. */
static RopeScaling read_rope_scaling(const cJSON *j, const char *path) {
    RopeScaling rs = {0};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (!o || cJSON_IsNull(o)) return rs;
    if (!cJSON_IsObject(o)) die("%s: field \"rope_scaling\" must be an object or null", path);
    /* transformers' key is rope_type; older configs call it type */
    const char *type = json_opt_string(o, "rope_type", path, NULL);
    if (!type) type = json_opt_string(o, "type", path, NULL);
    if (!type) die("%s: field \"rope_scaling\" has no \"rope_type\"", path);
    if (strcmp(type, "default") == 0) return rs;
    char where[1100];
    snprintf(where, sizeof where, "%s: rope_scaling", path);
    if (strcmp(type, "linear") == 0) {
        rs.kind = ROPE_SCALING_LINEAR;
        rs.factor = json_get_float(o, "factor", where);
    } else if (strcmp(type, "llama3") == 0) {
        rs.kind = ROPE_SCALING_LLAMA3;
        rs.factor = json_get_float(o, "factor", where);
        rs.low_freq_factor = json_get_float(o, "low_freq_factor", where);
        rs.high_freq_factor = json_get_float(o, "high_freq_factor", where);
        rs.original_max_position = json_get_int(o, "original_max_position_embeddings", where);
    } else {
        die("%s: field \"rope_scaling\" has rope_type \"%s\", which is not supported (llama3 and linear are)", path,
            type);
    }
    return rs;
}

static cJSON *rope_scaling_json(const RopeScaling *rs) {
    if (rs->kind == ROPE_SCALING_NONE) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rope_type", rs->kind == ROPE_SCALING_LLAMA3 ? "llama3" : "linear");
    cJSON_AddNumberToObject(o, "factor", rs->factor);
    if (rs->kind == ROPE_SCALING_LLAMA3) {
        cJSON_AddNumberToObject(o, "low_freq_factor", rs->low_freq_factor);
        cJSON_AddNumberToObject(o, "high_freq_factor", rs->high_freq_factor);
        cJSON_AddNumberToObject(o, "original_max_position_embeddings", rs->original_max_position);
    }
    return o;
}

ModelConfig model_dir_read_config(const char *dir) {
    char *path = path_join(dir, "config.json");
    if (!file_exists(path)) die("%s: not a checkpoint directory (no config.json)", dir);
    cJSON *j = json_read_file(path);
    const cJSON *archs = json_get_array(j, "architectures", path);
    const cJSON *arch0 = cJSON_GetArrayItem(archs, 0);
    if (!cJSON_IsString(arch0)) die("%s: field \"architectures\" must hold a string", path);
    const char *arch = arch0->valuestring;
    int is_qwen2 = strncmp(arch, "Qwen2", 5) == 0;
    /* exactly these: Qwen3Moe and the like have other tensors */
    int is_qwen3 = strcmp(arch, "Qwen3ForCausalLM") == 0 || strcmp(arch, "Qwen3ForSequenceClassification") == 0;
    int is_llama_family = strncmp(arch, "Llama", 5) == 0 || strncmp(arch, "Mistral", 7) == 0 || is_qwen2 || is_qwen3;
    if (!is_llama_family)
        die("%s: architecture %s is not supported (Llama, Mistral, Qwen2 and Qwen3 are)", path, arch);
    ModelConfig c = {0};
    c.head = strstr(arch, "ForSequenceClassification") ? HEAD_SCORE : HEAD_LM;
    if (c.head == HEAD_LM && !strstr(arch, "ForCausalLM"))
        die("%s: architecture %s is neither ...ForCausalLM nor ...ForSequenceClassification", path, arch);
    c.vocab_size = json_get_int(j, "vocab_size", path);
    c.dim = json_get_int(j, "hidden_size", path);
    c.ffn_hidden = json_get_int(j, "intermediate_size", path);
    c.n_layers = json_get_int(j, "num_hidden_layers", path);
    c.n_heads = json_get_int(j, "num_attention_heads", path);
    c.n_kv_heads = json_opt_int(j, "num_key_value_heads", path, c.n_heads);
    c.max_seq_len = json_get_int(j, "max_position_embeddings", path);
    c.norm_eps = json_opt_float(j, "rms_norm_eps", path, 1e-6f);
    c.rope_theta = json_opt_float(j, "rope_theta", path, 10000.0f);
    c.tie_embeddings = json_opt_bool(j, "tie_word_embeddings", path, 0);
    c.qkv_bias = is_qwen2 ? 1 : 0;
    /* Llama's and Qwen3's attention_bias: biases on q, k, v and o_proj (Qwen2 has q/k/v ones whatever it says) */
    if (!is_qwen2 && json_opt_bool(j, "attention_bias", path, 0)) c.qkv_bias = c.o_bias = 1;
    c.qk_norm = is_qwen3;
    const char *act = json_opt_string(j, "hidden_act", path, "silu");
    if (strcmp(act, "silu") != 0) die("%s: field \"hidden_act\" is %s; only silu (SwiGLU) is supported", path, act);
    c.rope_scaling = read_rope_scaling(j, path);
    if (c.head == HEAD_SCORE && json_opt_int(j, "num_labels", path, 1) != 1)
        die("%s: field \"num_labels\" must be 1 for a reward or value model", path);
    /* head_dim (null or absent: hidden_size / num_attention_heads); kept only when it says something else */
    const cJSON *head_dim = cJSON_GetObjectItemCaseSensitive(j, "head_dim");
    c.head_dim = json_opt_int(j, "head_dim", path, 0);
    if (head_dim && !cJSON_IsNull(head_dim)) {
        if (c.head_dim <= 0 || c.head_dim % 2 != 0)
            die("%s: field \"head_dim\" is %d; it must be a positive even number", path, c.head_dim);
        if (c.n_heads > 0 && c.dim % c.n_heads == 0 && c.head_dim == c.dim / c.n_heads) c.head_dim = 0;
    }
    if (c.head == HEAD_SCORE) c.tie_embeddings = 0; /* a score head has no LM head to tie */
    const char *why = config_check(&c);
    if (why) die("%s: %s", path, why);
    cJSON_Delete(j);
    free(path);
    return c;
}

/* Rows and columns of a tensor as Hugging Face stores it. */
static void expected_shape(const ParamTensor *t, int64_t shape[2], int *ndim) {
    shape[0] = t->rows;
    shape[1] = t->cols;
    *ndim = t->cols ? 2 : 1;
}

void model_dir_load_params(const char *dir, Model *m) {
    ModelConfig cfg = model_dir_read_config(dir);
    if (!config_equal(&cfg, &m->cfg)) die("%s: config.json describes another model than the one running", dir);
    SafeTensors *st = st_open(dir);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        const StTensor *s = st_find(st, t->name);
        if (!s) die("%s: tensor %s is missing from the checkpoint", dir, t->name);
        int64_t shape[2];
        int ndim;
        expected_shape(t, shape, &ndim);
        int same = s->ndim == ndim;
        for (int d = 0; same && d < ndim; d++) same = s->shape[d] == shape[d];
        if (!same) {
            if (ndim == 2)
                die("%s: tensor %s has the wrong shape for config.json (expected [%d, %d])", s->file, t->name,
                    t->rows, t->cols);
            die("%s: tensor %s has the wrong shape for config.json (expected [%d])", s->file, t->name, t->rows);
        }
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        float *values = m->params + t->offset;
        st_read_f32(s, values, n);
        /* a NaN or an infinity would spread through every later result (and past exp's clamps): refuse it here */
        for (size_t k = 0; k < n; k++)
            if (!isfinite(values[k]))
                die("%s: tensor %s holds a non-finite value (%g at index %zu); the checkpoint is damaged", s->file,
                    t->name, (double)values[k], k);
    }
    st_close(st);
}

ModelDir model_dir_load(const char *dir) {
    ModelConfig cfg = model_dir_read_config(dir);
    ModelDir ck = {.model = model_new(&cfg), .reward_mean = 0, .reward_std = 1};
    model_dir_load_params(dir, ck.model);
    char *config_path = path_join(dir, "config.json");
    cJSON *j = json_read_file(config_path);
    ck.reward_mean = json_opt_double(j, "lmforge_reward_mean", config_path, 0.0);
    ck.reward_std = json_opt_double(j, "lmforge_reward_std", config_path, 1.0);
    cJSON_Delete(j);
    free(config_path);
    char *tok_path = path_join(dir, "tokenizer.json");
    if (file_exists(tok_path)) {
        ck.tokenizer = tokenizer_load(dir);
        if (tokenizer_vocab_size(ck.tokenizer) > cfg.vocab_size)
            die("%s: the tokenizer has %d tokens, more than the model's vocab_size %d", dir,
                tokenizer_vocab_size(ck.tokenizer), cfg.vocab_size);
    }
    free(tok_path);
    return ck;
}

void model_dir_free(ModelDir *c) {
    model_free(c->model);
    if (c->tokenizer) tokenizer_free(c->tokenizer);
    c->model = NULL;
    c->tokenizer = NULL;
}

static void add_token_id(cJSON *j, const char *key, int id) {
    if (id >= 0) cJSON_AddNumberToObject(j, key, id);
    else cJSON_AddNullToObject(j, key);
}

static void write_config(const char *dir, const Model *m, const Tokenizer *tok, double reward_mean, double reward_std) {
    const ModelConfig *c = &m->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(architecture_name(c)));
    cJSON_AddStringToObject(j, "model_type", c->qk_norm ? "qwen3" : c->qkv_bias && !c->o_bias ? "qwen2" : "llama");
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn_hidden);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    if (c->head_dim || c->qk_norm) cJSON_AddNumberToObject(j, "head_dim", config_head_size(c));
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_seq_len);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_embeddings);
    if (c->qk_norm || !c->qkv_bias || c->o_bias) cJSON_AddBoolToObject(j, "attention_bias", c->o_bias);
    if (c->qk_norm || (c->qkv_bias && !c->o_bias)) cJSON_AddBoolToObject(j, "use_sliding_window", 0);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "initializer_range", 0.02);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    cJSON_AddItemToObject(j, "rope_scaling", rope_scaling_json(&c->rope_scaling));
    int eos = tok ? tokenizer_eos_id(tok) : -1;
    add_token_id(j, "bos_token_id", tok ? tokenizer_bos_id(tok) : -1);
    add_token_id(j, "eos_token_id", eos);
    if (c->head == HEAD_SCORE) {
        /* transformers finds the scored (last) token of a padded sequence through pad_token_id */
        add_token_id(j, "pad_token_id", eos);
        cJSON_AddNumberToObject(j, "num_labels", 1);
        cJSON *id2label = cJSON_AddObjectToObject(j, "id2label");
        cJSON_AddStringToObject(id2label, "0", "LABEL_0");
        cJSON *label2id = cJSON_AddObjectToObject(j, "label2id");
        cJSON_AddNumberToObject(label2id, "LABEL_0", 0);
        cJSON_AddNumberToObject(j, "lmforge_reward_mean", reward_mean);
        cJSON_AddNumberToObject(j, "lmforge_reward_std", reward_std);
    }
    char *path = path_join(dir, "config.json");
    json_write_file(path, j);
    free(path);
    cJSON_Delete(j);
}

static void write_generation_config(const char *dir, const Tokenizer *tok) {
    cJSON *j = cJSON_CreateObject();
    add_token_id(j, "bos_token_id", tok ? tokenizer_bos_id(tok) : -1);
    /* generation stops at the end of text and at the end of an assistant turn */
    cJSON *eos = cJSON_AddArrayToObject(j, "eos_token_id");
    int ids[2] = {tok ? tokenizer_eos_id(tok) : -1, tok ? tokenizer_token_id(tok, "<|im_end|>") : -1};
    for (int i = 0; i < 2; i++)
        if (ids[i] >= 0) cJSON_AddItemToArray(eos, cJSON_CreateNumber(ids[i]));
    cJSON_AddBoolToObject(j, "do_sample", 1);
    cJSON_AddNumberToObject(j, "temperature", 0.7);
    cJSON_AddNumberToObject(j, "top_p", 0.9);
    char *path = path_join(dir, "generation_config.json");
    json_write_file(path, j);
    free(path);
    cJSON_Delete(j);
}

void model_dir_save(const char *dir, const Model *m, const Tokenizer *tok, double reward_mean, double reward_std) {
    make_dirs(dir);
    StWriter *w = st_writer_new();
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        int64_t shape[2];
        int ndim;
        expected_shape(t, shape, &ndim);
        st_writer_add(w, t->name, ST_F32, ndim, shape, m->params + t->offset);
    }
    char *path = path_join(dir, "model.safetensors");
    st_writer_save(w, path);
    st_writer_free(w);
    free(path);
    write_config(dir, m, tok, reward_mean, reward_std);
    write_generation_config(dir, tok);
    if (tok) tokenizer_save(tok, dir);
}

int model_copy_matching(Model *dst, const Model *src) {
    int copied = 0;
    for (int i = 0; i < dst->n_tensors; i++) {
        const ParamTensor *d = &dst->tensors[i], *s = model_find_tensor(src, d->name);
        if (!s || s->rows != d->rows || s->cols != d->cols) continue;
        memcpy(dst->params + d->offset, src->params + s->offset,
               sizeof(float) * (size_t)d->rows * (d->cols ? (size_t)d->cols : 1));
        copied++;
    }
    return copied;
}
