/* gguf_export.c — a Model + Tokenizer to a GGUF file llama.cpp runs
 * (gguf_export.h). */
#include "gguf_export.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../tokenizer/tokenizer_gguf.h"

void gguf_permute_rope_rows(const float *w, int n_heads, int head_size, int cols, float *out) {
    const int half = head_size / 2;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < half; i++) {
                const float *src = w + ((size_t)h * head_size + (size_t)j * half + i) * cols;
                float *dst = out + ((size_t)h * head_size + 2 * (size_t)i + j) * cols;
                memcpy(dst, src, sizeof(float) * (size_t)cols);
            }
}

const char *gguf_export_arch(const ModelConfig *c) {
    if (c->qk_norm) return "qwen3";
    return c->qkv_bias && !c->o_bias ? "qwen2" : "llama";
}

const char *gguf_export_check(const Model *m, const Tokenizer *t) {
    static char why[320];
    const ModelConfig *c = &m->cfg;
    const char *arch = gguf_export_arch(c);
    if (c->qk_norm && c->qkv_bias)
        return "a Qwen3 model with attention biases has no counterpart in llama.cpp's qwen3, which has none";
    if (c->rope_scaling.kind == ROPE_SCALING_LLAMA3 && strcmp(arch, "llama") != 0) {
        snprintf(why, sizeof why,
                 "llama3 RoPE scaling is written as a rope_freqs tensor, which llama.cpp reads for \"llama\" only, "
                 "not for \"%s\"", arch);
        return why;
    }
    if (c->head != HEAD_LM) return "a score head (reward or value model) has no GGUF architecture that llama.cpp runs";
    if (!t) return "the checkpoint has no tokenizer.json, and a GGUF file must carry the vocabulary";
    if (config_head_size(c) % 2 != 0) return "the head size is odd, which rotary embeddings cannot rotate in pairs";
    const char *tok_why = tokenizer_gguf_check(t, c->vocab_size);
    if (tok_why) {
        snprintf(why, sizeof why, "%s", tok_why);
        return why;
    }
    return NULL;
}

typedef struct {
    GgufWriter *w;
    GgmlType type;
    GgufExportStats stats;
} Exporter;

/* A row-major (rows, cols) matrix, or a vector when cols == 0; GGUF lists
 * the shape the other way round (ne[0] = cols). Vectors stay f32: llama.cpp
 * adds and multiplies them element-wise in f32. */
static void add(Exporter *e, const char *name, const float *data, int rows, int cols, int owned) {
    GgmlType type = cols == 0 ? GGML_F32 : e->type;
    if (type == GGML_Q8_0 && cols % Q8_0_BLOCK != 0) {
        type = GGML_F16; /* llama.cpp's converter does the same for rows q8_0 cannot block */
        e->stats.n_f16_fallback++;
    }
    int64_t ne[2] = {cols, rows};
    if (cols == 0) ne[0] = rows;
    gguf_add_tensor(e->w, name, type, cols == 0 ? 1 : 2, ne, data, owned);
    e->stats.n_tensors++;
    e->stats.bytes += ggml_type_bytes(type, (size_t)rows * (size_t)(cols ? cols : 1));
}

static void add_layer(Exporter *e, const Model *m, int l, int permute) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, HS = config_head_size(c), Q = config_q_width(c), KV = config_kv_width(c), F = c->ffn_hidden;
    const LayerWeights *lw = &m->w.layers[l];
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), name)
    add(e, NAME("attn_norm.weight"), lw->attn_norm, C, 0, 0);
    const float *wq = lw->wqkv, *wk = lw->wqkv + (size_t)Q * C, *wv = lw->wqkv + (size_t)(Q + KV) * C;
    if (permute) {
        float *pq = xmalloc(sizeof(float) * (size_t)Q * C), *pk = xmalloc(sizeof(float) * (size_t)KV * C);
        gguf_permute_rope_rows(wq, c->n_heads, HS, C, pq);
        gguf_permute_rope_rows(wk, c->n_kv_heads, HS, C, pk);
        add(e, NAME("attn_q.weight"), pq, Q, C, 1);
        add(e, NAME("attn_k.weight"), pk, KV, C, 1);
    } else {
        add(e, NAME("attn_q.weight"), wq, Q, C, 0);
        add(e, NAME("attn_k.weight"), wk, KV, C, 0);
    }
    add(e, NAME("attn_v.weight"), wv, KV, C, 0);
    const float *bq = lw->bqkv, *bk = lw->bqkv ? lw->bqkv + Q : NULL, *bv = lw->bqkv ? lw->bqkv + Q + KV : NULL;
    if (permute && bq) { /* Llama's attention_bias: the q and k biases are rows of the same heads */
        float *pbq = xmalloc(sizeof(float) * (size_t)Q), *pbk = xmalloc(sizeof(float) * (size_t)KV);
        gguf_permute_rope_rows(bq, c->n_heads, HS, 1, pbq);
        gguf_permute_rope_rows(bk, c->n_kv_heads, HS, 1, pbk);
        add(e, NAME("attn_q.bias"), pbq, Q, 0, 1);
        add(e, NAME("attn_k.bias"), pbk, KV, 0, 1);
        add(e, NAME("attn_v.bias"), bv, KV, 0, 0);
    } else if (bq) {
        add(e, NAME("attn_q.bias"), bq, Q, 0, 0);
        add(e, NAME("attn_k.bias"), bk, KV, 0, 0);
        add(e, NAME("attn_v.bias"), bv, KV, 0, 0);
    }
    add(e, NAME("attn_output.weight"), lw->wo, C, Q, 0);
    if (lw->bo) add(e, NAME("attn_output.bias"), lw->bo, C, 0, 0);
    if (lw->q_norm) { /* qwen3: not permuted either (it rotates halves) */
        add(e, NAME("attn_q_norm.weight"), lw->q_norm, HS, 0, 0);
        add(e, NAME("attn_k_norm.weight"), lw->k_norm, HS, 0, 0);
    }
    add(e, NAME("ffn_norm.weight"), lw->mlp_norm, C, 0, 0);
    add(e, NAME("ffn_gate.weight"), lw->wgu, F, C, 0);
    add(e, NAME("ffn_up.weight"), lw->wgu + (size_t)F * C, F, C, 0);
    add(e, NAME("ffn_down.weight"), lw->wdown, C, F, 0);
#undef NAME
}

/* llama_ftype: what most of the tensors are. */
static uint32_t file_type(GgmlType type) { return type == GGML_F32 ? 0 : type == GGML_F16 ? 1 : 7; }

GgufExportStats gguf_export(const Model *m, const Tokenizer *t, GgmlType type, const char *name, const char *path) {
    const char *why = gguf_export_check(m, t);
    if (why) die("export gguf: %s", why);
    const ModelConfig *c = &m->cfg;
    const char *arch = gguf_export_arch(c);
    Exporter e = {.w = gguf_writer_new(), .type = type};
    GgufWriter *w = e.w;
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    gguf_set_str(w, "general.architecture", arch);
    gguf_set_str(w, "general.name", name);
    gguf_set_u32(w, "general.alignment", GGUF_ALIGNMENT);
    gguf_set_u32(w, "general.file_type", file_type(type));
    gguf_set_u32(w, KEY("context_length"), (uint32_t)c->max_seq_len);
    gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->dim);
    gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layers);
    gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->ffn_hidden);
    gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads);
    gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    gguf_set_f32(w, KEY("rope.freq_base"), c->rope_theta);
    gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)config_head_size(c));
    gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size);
    if (c->head_dim) { /* otherwise llama.cpp takes embedding_length / head_count */
        gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)config_head_size(c));
        gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)config_head_size(c));
    }
    if (c->rope_scaling.kind == ROPE_SCALING_LINEAR) {
        gguf_set_str(w, KEY("rope.scaling.type"), "linear");
        gguf_set_f32(w, KEY("rope.scaling.factor"), c->rope_scaling.factor);
    }
#undef KEY
    tokenizer_gguf_write(t, c->vocab_size, w);

    if (c->rope_scaling.kind == ROPE_SCALING_LLAMA3) {
        /* llama.cpp divides pair i's frequency theta^(-2i/HS) by rope_freqs[i]: the unscaled over the scaled */
        const int half = config_head_size(c) / 2;
        ModelConfig plain = *c;
        plain.rope_scaling.kind = ROPE_SCALING_NONE;
        float *scaled = xmalloc(sizeof(float) * (size_t)half), *freq_factors = xmalloc(sizeof(float) * (size_t)half);
        config_rope_inv_freq(&plain, freq_factors);
        config_rope_inv_freq(c, scaled);
        for (int i = 0; i < half; i++) freq_factors[i] /= scaled[i];
        free(scaled);
        add(&e, "rope_freqs.weight", freq_factors, half, 0, 1);
    }
    add(&e, "token_embd.weight", m->w.embed, c->vocab_size, c->dim, 0);
    for (int l = 0; l < c->n_layers; l++) add_layer(&e, m, l, strcmp(arch, "llama") == 0);
    add(&e, "output_norm.weight", m->w.final_norm, c->dim, 0, 0);
    /* tied: llama.cpp uses token_embd when there is no output tensor */
    if (!c->tie_embeddings) add(&e, "output.weight", m->w.head, c->vocab_size, c->dim, 0);
    gguf_writer_save(w, path);
    gguf_writer_free(w);
    return e.stats;
}
