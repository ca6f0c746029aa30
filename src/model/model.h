/* model.h — a Llama-style decoder: parameters, activations, forward, backward.
 *
 * All parameters live in one contiguous fp32 buffer and all gradients in a
 * second one with the same layout, so the optimizer, clipping, checkpointing
 * and an all-reduce are each one loop over one array. A table (ParamTensor)
 * names every tensor with its Hugging Face name and locates it in the buffer.
 *
 * The layout stacks q_proj | k_proj | v_proj (and gate_proj | up_proj) one
 * after the other: in row-major storage that is the same memory as one fused
 * (QKV, C) matrix, so each layer needs two big matmuls instead of five small
 * ones, while the checkpoint still names the five tensors separately.
 *
 * The backward pass starts from ∂loss/∂out written over the head's output
 * (logits (N, V) or scores (N, 1)): every objective (cross-entropy, reward
 * model, DPO, PPO) only has to produce that gradient. */
#ifndef LMF_MODEL_H
#define LMF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct {
    float *attn_norm; /* (C) input_layernorm */
    float *wqkv;      /* (QKV, C) q_proj | k_proj | v_proj */
    float *bqkv;      /* (QKV) their biases, or NULL */
    float *wo;        /* (C, Q) o_proj */
    float *bo;        /* (C) its bias (attention_bias), or NULL */
    float *q_norm;    /* (HS) per-head RMSNorm of q before RoPE (Qwen3), or NULL */
    float *k_norm;    /* (HS) the same for k, or NULL */
    float *mlp_norm;  /* (C) post_attention_layernorm */
    float *wgu;       /* (2F, C) gate_proj | up_proj */
    float *wdown;     /* (C, F) down_proj */
} LayerWeights;

/* Pointers into one flat buffer (parameters, or gradients with the same layout). */
typedef struct {
    float *embed;         /* (V, C) embed_tokens */
    LayerWeights *layers; /* (L) */
    float *final_norm;    /* (C) model.norm */
    float *head;          /* (OUT, C) lm_head, the embedding itself when tied, or score (1, C) */
} Weights;

typedef struct {
    char name[96];     /* Hugging Face name, e.g. "model.layers.3.self_attn.q_proj.weight" */
    size_t offset;     /* in floats, into the parameter buffer */
    int rows, cols;    /* a vector has cols == 0 */
    int weight_decay;  /* AdamW decays matrices other than the embedding */
} ParamTensor;

typedef struct {
    float *x;     /* (N, C) residual stream entering the layer */
    float *xn1;   /* (N, C) after input_layernorm */
    float *rstd1; /* (N) */
    float *qkv;   /* (N, QKV) projections after bias, q/k norms and RoPE */
    float *qk_in; /* (N, Q + KV) q | k before their per-head norms (qk_norm), or NULL: normalised in place */
    float *qk_rstd; /* (N·NH) then (N·NKV): 1/rms of each q head, then of each k head (qk_norm), or NULL */
    float *att;   /* (N, Q) attention output, before o_proj */
    float *lse;   /* (B, NH, T) softmax log-sum-exp per query */
    float *x2;    /* (N, C) residual stream after attention */
    float *xn2;   /* (N, C) after post_attention_layernorm */
    float *rstd2; /* (N) */
    float *gu;    /* (N, 2F) gate | up pre-activations */
    float *h;     /* (N, F) silu(gate) * up */
} LayerActs;

typedef struct {
    int B, T;            /* shape of the last forward pass */
    size_t capacity;     /* tokens the buffers hold */
    int n_layer_acts;    /* L when kept for backward, 1 when layers share buffers (inference) */
    float *buffer;       /* everything below points into it */
    int *tokens;         /* (N) */
    int *doc_start;      /* (N) or NULL: where each token's document starts within its sequence */
    int *pos;            /* (N) RoPE positions, restarting at each document */
    LayerActs *layers;   /* (n_layer_acts) */
    float *xf;           /* (N, C) residual stream after the last layer */
    float *xnf;          /* (N, C) after the final norm */
    float *rstdf;        /* (N) */
    float *out;          /* (N, OUT) logits or scores; the backward pass reads ∂loss/∂out from here */
    /* backward scratch, reused by every layer */
    float *dres;         /* (N, C) gradient of the residual stream */
    float *dxn;          /* (N, C) */
    float *dqkv;         /* (N, QKV) */
    float *datt;         /* (N, Q) */
    float *dgu;          /* (N, 2F) */
    float *dh;           /* (N, F) */
} Activations;

typedef struct {
    ModelConfig cfg;
    size_t n_params;
    float *params;        /* (n_params) */
    float *grads;         /* (n_params), NULL until model_alloc_grads */
    Weights w, g;         /* views of params and grads */
    ParamTensor *tensors; /* the table, in checkpoint order */
    int n_tensors;
    float *rope_cos, *rope_sin; /* (max_seq_len, HS/2) */
    Activations act;
    /* LoRA adapters (lora.h) applied by forward and backward, or NULL; owned
     * by the caller. With adapters and no gradient buffer, the base is frozen:
     * backward computes only what the adapters need. */
    struct Lora *lora;
    /* Called by model_backward as soon as layer l's parameter gradients are
     * complete, or NULL: data-parallel training starts summing them over the
     * ranks while the layers below are still being differentiated. */
    void (*on_layer_grads)(void *ctx, int layer);
    void *on_layer_grads_ctx;
} Model;

/* Allocates a model with zeroed parameters; dies with config_check's reason
 * if the configuration is unusable. */
Model *model_new(const ModelConfig *cfg);
void model_free(Model *m);
/* Deterministic from the seed: normal(0, 0.02) matrices, o_proj and down_proj
 * scaled by 1/sqrt(2L), norms 1, biases 0. */
void model_init_random(Model *m, uint64_t seed);
void model_alloc_grads(Model *m);
void model_zero_grads(Model *m);
const ParamTensor *model_find_tensor(const Model *m, const char *name);
/* Number of parameters in the matrices that take part in matmuls (the "N" of
 * the 6N FLOPs-per-token rule): everything but the embedding lookup and the
 * norms, plus the head (which is the embedding when tied). */
size_t model_matmul_params(const Model *m);
/* FLOPs of one training step per token (forward + backward): 6·N_matmul + 12·L·T·Q (PaLM's formula, with the
 * attention width Q, which is C unless head_dim says otherwise). */
double model_train_flops_per_token(const Model *m, int T);

/* Bytes of activation buffers a forward (+ backward) pass over n_tokens needs. */
size_t model_activation_bytes(const ModelConfig *c, size_t n_tokens, int for_backward);

/* tokens (B, T); doc_start (B, T) or NULL. Fills m->act.out (B, T, OUT).
 * for_backward keeps every layer's activations for model_backward; without it
 * the layers share one set of buffers (inference, log-probs of a frozen model). */
void model_forward(Model *m, const int *tokens, const int *doc_start, int B, int T, int for_backward);
/* Accumulates parameter gradients into m->grads from ∂loss/∂out, which the
 * caller has written over m->act.out. Needs a forward pass with for_backward.
 * Without m->grads (a frozen base under LoRA) only the adapters' gradients
 * are accumulated, and the base weights' gradient matmuls are skipped. */
void model_backward(Model *m);

#endif
