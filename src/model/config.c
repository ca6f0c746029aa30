/* config.c — checking a model configuration before anything is allocated. */
#include "config.h"

#include <math.h>
#include <stdio.h>

const char *config_check(const ModelConfig *c) {
    static char why[256];
    if (c->vocab_size <= 0) return "vocab_size must be positive";
    if (c->dim <= 0) return "dim (hidden_size) must be positive";
    if (c->n_layers <= 0) return "n_layers (num_hidden_layers) must be positive";
    if (c->n_heads <= 0) return "n_heads (num_attention_heads) must be positive";
    if (c->n_kv_heads <= 0) return "n_kv_heads (num_key_value_heads) must be positive";
    if (c->ffn_hidden <= 0) return "ffn_hidden (intermediate_size) must be positive";
    if (c->max_seq_len <= 0) return "max_seq_len (max_position_embeddings) must be positive";
    if (c->dim % c->n_heads != 0) {
        snprintf(why, sizeof why, "dim %d is not divisible by n_heads %d", c->dim, c->n_heads);
        return why;
    }
    if (c->n_heads % c->n_kv_heads != 0) {
        snprintf(why, sizeof why, "n_heads %d is not divisible by n_kv_heads %d", c->n_heads, c->n_kv_heads);
        return why;
    }
    if (config_head_size(c) % 2 != 0) {
        snprintf(why, sizeof why, "head size %d (dim / n_heads) must be even for RoPE", config_head_size(c));
        return why;
    }
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta)) return "rope_theta must be a positive number";
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps)) return "norm_eps (rms_norm_eps) must be a positive number";
    if (c->head != HEAD_LM && c->head != HEAD_SCORE) return "unknown head kind";
    if (c->head == HEAD_SCORE && c->tie_embeddings) return "a score head cannot be tied to the embeddings";
    return NULL;
}

ModelConfig config_default(int vocab_size, int dim, int n_layers, int n_heads) {
    int ffn = (8 * dim / 3 + 31) / 32 * 32;
    return (ModelConfig){
        .vocab_size = vocab_size,
        .dim = dim,
        .n_layers = n_layers,
        .n_heads = n_heads,
        .n_kv_heads = n_heads,
        .ffn_hidden = ffn,
        .max_seq_len = 1024,
        .rope_theta = 10000.0f,
        .norm_eps = 1e-5f,
        .tie_embeddings = 0,
        .qkv_bias = 0,
        .head = HEAD_LM,
    };
}

int config_equal(const ModelConfig *a, const ModelConfig *b) {
    return a->vocab_size == b->vocab_size && a->dim == b->dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->ffn_hidden == b->ffn_hidden &&
           a->max_seq_len == b->max_seq_len && a->rope_theta == b->rope_theta && a->norm_eps == b->norm_eps &&
           a->tie_embeddings == b->tie_embeddings && a->qkv_bias == b->qkv_bias && a->head == b->head;
}
