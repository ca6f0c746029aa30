/* config.h — the shape of a Llama-style decoder.
 *
 * Glossary of sizes used in shape comments throughout lmforge:
 *   B    micro-batch size (sequences)          T    sequence length (tokens)
 *   V    vocabulary size                       C    model width (dim, hidden_size)
 *   L    number of layers                      NH   attention heads
 *   NKV  key/value heads (grouped-query attention; NH % NKV == 0)
 *   HS   head size: C / NH, or the config's head_dim   F    MLP hidden size (ffn_hidden)
 *   Q    = NH * HS (query width; C unless head_dim says otherwise)
 *   KV   = NKV * HS (key or value width)
 *   QKV  = Q + 2 * KV (the fused q|k|v projection's output width)
 *   OUT  the head's output width: V for a language model, 1 for a scalar (reward/value) head
 */
#ifndef LMF_CONFIG_H
#define LMF_CONFIG_H

typedef enum { HEAD_LM = 0, HEAD_SCORE = 1 } HeadKind;

/* RoPE frequency scaling (config.json's "rope_scaling"), applied once, when
 * the cos/sin tables are built: it only changes each pair's inverse frequency. */
typedef enum {
    ROPE_SCALING_NONE = 0,
    ROPE_SCALING_LINEAR = 1, /* every frequency divided by factor (positions interpolated) */
    ROPE_SCALING_LLAMA3 = 2, /* Llama 3.1/3.2: low frequencies divided by factor, high ones kept, a blend between */
} RopeScalingKind;

typedef struct {
    RopeScalingKind kind;
    float factor;                 /* linear, llama3 */
    float low_freq_factor;        /* llama3 */
    float high_freq_factor;       /* llama3 */
    int original_max_position;    /* llama3: original_max_position_embeddings, the context trained before scaling */
} RopeScaling;

typedef struct {
    int vocab_size;     /* V */
    int dim;            /* C */
    int n_layers;       /* L */
    int n_heads;        /* NH */
    int n_kv_heads;     /* NKV */
    int ffn_hidden;     /* F */
    int max_seq_len;    /* the longest T the model accepts (RoPE table size) */
    float rope_theta;   /* RoPE base frequency */
    float norm_eps;     /* RMSNorm epsilon */
    int tie_embeddings; /* the LM head reuses the token embedding matrix */
    int qkv_bias;       /* q/k/v projections have biases (Qwen2; Llama's and Qwen3's attention_bias) */
    int o_bias;         /* o_proj has a bias too (Llama's and Qwen3's attention_bias); needs qkv_bias */
    int qk_norm;        /* per-head RMSNorm of q and k before RoPE (Qwen3's q_norm, k_norm) */
    int head_dim;       /* HS when config.json gives one other than C / NH (Qwen3, Gemma...); 0: C / NH */
    RopeScaling rope_scaling;
    HeadKind head;      /* LM head (next-token logits) or scalar score head */
} ModelConfig;

/* Returns NULL when the configuration is usable, else a one-line reason
 * (a static string or one that lives until the next call). */
const char *config_check(const ModelConfig *c);

static inline int config_head_size(const ModelConfig *c) { return c->head_dim ? c->head_dim : c->dim / c->n_heads; }
static inline int config_q_width(const ModelConfig *c) { return c->n_heads * config_head_size(c); }
static inline int config_kv_width(const ModelConfig *c) { return c->n_kv_heads * config_head_size(c); }
static inline int config_qkv_width(const ModelConfig *c) { return config_q_width(c) + 2 * config_kv_width(c); }
/* The widest input or output of one projection (q, k, v, o, gate, up, down): max(C, F, Q), Q being wider than C
 * only with an explicit head_dim. LoRA's scratch rows are this wide. */
static inline int config_widest_projection(const ModelConfig *c) {
    int w = c->dim > c->ffn_hidden ? c->dim : c->ffn_hidden;
    return config_q_width(c) > w ? config_q_width(c) : w;
}
static inline int config_out_width(const ModelConfig *c) { return c->head == HEAD_LM ? c->vocab_size : 1; }

int config_equal(const ModelConfig *a, const ModelConfig *b);

/* inv_freq (HS/2): RoPE's inverse frequency of each pair, theta^(-2i/HS) (in float32, as Hugging Face computes
 * it), then scaled as c->rope_scaling says. */
void config_rope_inv_freq(const ModelConfig *c, float *inv_freq);

/* A model with sensible defaults for the given width/depth (Llama proportions:
 * F = 8/3 C rounded up to a multiple of 32, theta 10000, eps 1e-5). */
ModelConfig config_default(int vocab_size, int dim, int n_layers, int n_heads);

#endif
