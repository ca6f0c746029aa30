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
    if (c->head_dim < 0) {
        snprintf(why, sizeof why, "head_dim %d must be positive", c->head_dim);
        return why;
    }
    if (!c->head_dim && c->dim % c->n_heads != 0) {
        snprintf(why, sizeof why, "dim %d is not divisible by n_heads %d", c->dim, c->n_heads);
        return why;
    }
    if (c->n_heads % c->n_kv_heads != 0) {
        snprintf(why, sizeof why, "n_heads %d is not divisible by n_kv_heads %d", c->n_heads, c->n_kv_heads);
        return why;
    }
    if (config_head_size(c) % 2 != 0) {
        snprintf(why, sizeof why, "head size %d (%s) must be even for RoPE", config_head_size(c),
                 c->head_dim ? "head_dim" : "dim / n_heads");
        return why;
    }
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta)) return "rope_theta must be a positive number";
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps)) return "norm_eps (rms_norm_eps) must be a positive number";
    if (c->head != HEAD_LM && c->head != HEAD_SCORE) return "unknown head kind";
    if (c->head == HEAD_SCORE && c->tie_embeddings) return "a score head cannot be tied to the embeddings";
    if (c->o_bias && !c->qkv_bias) return "an o_proj bias needs q/k/v biases too (attention_bias puts one on all four)";
    if (c->qk_norm && c->qkv_bias != c->o_bias)
        return "with q/k norms (Qwen3), attention_bias puts biases on q, k, v and o together, not on q/k/v alone";
    const RopeScaling *rs = &c->rope_scaling;
    if (rs->kind != ROPE_SCALING_NONE && rs->kind != ROPE_SCALING_LINEAR && rs->kind != ROPE_SCALING_LLAMA3)
        return "unknown rope_scaling kind";
    if (rs->kind != ROPE_SCALING_NONE && (!(rs->factor > 0) || !isfinite(rs->factor)))
        return "rope_scaling's factor must be a positive number";
    if (rs->kind == ROPE_SCALING_LLAMA3) {
        if (!(rs->low_freq_factor > 0) || !isfinite(rs->low_freq_factor) || !(rs->high_freq_factor > 0) ||
            !isfinite(rs->high_freq_factor))
            return "rope_scaling's low_freq_factor and high_freq_factor must be positive numbers";
        if (!(rs->high_freq_factor > rs->low_freq_factor))
            return "rope_scaling's high_freq_factor must be greater than its low_freq_factor";
        if (rs->original_max_position <= 0)
            return "rope_scaling's original_max_position_embeddings must be positive";
    }
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
           a->tie_embeddings == b->tie_embeddings && a->qkv_bias == b->qkv_bias && a->head == b->head &&
           a->o_bias == b->o_bias && a->qk_norm == b->qk_norm && config_head_size(a) == config_head_size(b) &&
           a->rope_scaling.kind == b->rope_scaling.kind && a->rope_scaling.factor == b->rope_scaling.factor &&
           a->rope_scaling.low_freq_factor == b->rope_scaling.low_freq_factor &&
           a->rope_scaling.high_freq_factor == b->rope_scaling.high_freq_factor &&
           a->rope_scaling.original_max_position == b->rope_scaling.original_max_position;
}

void config_rope_inv_freq(const ModelConfig *c, float *inv_freq) {
    const int HS = config_head_size(c), half = HS / 2;
    const RopeScaling *rs = &c->rope_scaling;
    for (int i = 0; i < half; i++) {
        /* the same float32 value rope_tables computes: unscaled models keep their tables bit for bit */
        inv_freq[i] = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / HS));
        double f = inv_freq[i];
        if (rs->kind == ROPE_SCALING_LINEAR) {
            f /= rs->factor;
        } else if (rs->kind == ROPE_SCALING_LLAMA3) {
            /* Wavelengths (in tokens) longer than the original context / low_freq_factor were never seen whole in
             * training: those frequencies are divided by factor. Wavelengths shorter than original context /
             * high_freq_factor are kept. In between, a linear blend of the two in original_context / wavelength. */
            const double pi = 3.14159265358979323846;
            double wavelen = 2 * pi / f, orig = rs->original_max_position;
            double low_wavelen = orig / rs->low_freq_factor, high_wavelen = orig / rs->high_freq_factor;
            if (wavelen > low_wavelen) {
                f /= rs->factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (orig / wavelen - rs->low_freq_factor) / (rs->high_freq_factor - rs->low_freq_factor);
                f = (1 - smooth) * f / rs->factor + smooth * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}
