/* config.h — the shape of a Llama-style decoder.
 *
 * Glossary of sizes used in shape comments throughout lmforge:
 *   B    micro-batch size (sequences)          T    sequence length (tokens)
 *   V    vocabulary size                       C    model width (dim, hidden_size)
 *   L    number of layers                      NH   attention heads
 *   NKV  key/value heads (grouped-query attention; NH % NKV == 0)
 *   HS   head size = C / NH                    F    MLP hidden size (ffn_hidden)
 *   Q    = NH * HS (query width, = C)          KV   = NKV * HS (key or value width)
 *   QKV  = Q + 2 * KV (the fused q|k|v projection's output width)
 *   OUT  the head's output width: V for a language model, 1 for a scalar (reward/value) head
 */
#ifndef LMF_CONFIG_H
#define LMF_CONFIG_H

typedef enum { HEAD_LM = 0, HEAD_SCORE = 1 } HeadKind;

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
    int qkv_bias;       /* q/k/v projections have biases (Qwen2) */
    HeadKind head;      /* LM head (next-token logits) or scalar score head */
} ModelConfig;

/* Returns NULL when the configuration is usable, else a one-line reason
 * (a static string or one that lives until the next call). */
const char *config_check(const ModelConfig *c);

static inline int config_head_size(const ModelConfig *c) { return c->dim / c->n_heads; }
static inline int config_q_width(const ModelConfig *c) { return c->n_heads * config_head_size(c); }
static inline int config_kv_width(const ModelConfig *c) { return c->n_kv_heads * config_head_size(c); }
static inline int config_qkv_width(const ModelConfig *c) { return config_q_width(c) + 2 * config_kv_width(c); }
static inline int config_out_width(const ModelConfig *c) { return c->head == HEAD_LM ? c->vocab_size : 1; }

int config_equal(const ModelConfig *a, const ModelConfig *b);

/* A model with sensible defaults for the given width/depth (Llama proportions:
 * F = 8/3 C rounded up to a multiple of 32, theta 10000, eps 1e-5). */
ModelConfig config_default(int vocab_size, int dim, int n_layers, int n_heads);

#endif
