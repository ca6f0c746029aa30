/* lora.h — LoRA adapters (Hu et al. 2021): low-rank updates to a frozen
 * model's projections, trained instead of the model itself.
 *
 * For an adapted projection W (OUT, IN):
 *     y = x·Wᵀ + s · dropout(x)·Aᵀ·Bᵀ,    A (r, IN), B (OUT, r), s = alpha / r
 * A starts uniform in ±1/sqrt(IN) (PEFT's kaiming-uniform), B at zero, so a
 * new adapter leaves the model unchanged. Only A and B get gradients and
 * optimizer moments: that, and the base weights' gradient matmuls that the
 * backward pass skips, is where LoRA saves memory and time.
 *
 * The model calls the hooks below from its decoder layer (layer.h) and
 * backward.c when m->lora is set; cached decoding applies the adapters too,
 * through the batch-invariant kernel (lora_forward_invariant), so a LoRA
 * model generates without being merged.
 *
 * Adapters sit at the model's fused linear layers (sites): q, k and v
 * share the (QKV, C) projection, gate and up the (2F, C) one, so an adapter
 * writes into its own column range of the site's output.
 *
 * Dropout masks come from a hash of (seed, training pass, layer, module,
 * element): the backward pass regenerates them instead of storing them, and
 * the pass counter is the whole state to save for an exact resume.
 *
 * Files are PEFT's, read and written by io/lora_files.h. */
#ifndef LMF_LORA_H
#define LMF_LORA_H

#include <stdint.h>

#include "model.h"

/* The projections an adapter can target, in PEFT's names without "_proj". */
typedef enum { LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_MODULES } LoraModule;

/* The model's fused linear layers, where the hooks are called. */
typedef enum { LORA_SITE_QKV, LORA_SITE_O, LORA_SITE_GATE_UP, LORA_SITE_DOWN } LoraSite;

typedef struct {
    int rank;                     /* r */
    float alpha;                  /* the update is scaled by alpha / r */
    float dropout;                /* on the adapter's input, training passes only */
    int targets[LORA_N_MODULES];  /* 1 = this projection is adapted in every layer */
    int use_rslora;               /* scale alpha / sqrt(r) instead (only when loaded from PEFT files) */
} LoraConfig;

typedef struct {
    float *A, *B;   /* (r, IN), (OUT, r) in the parameter buffer; NULL when not adapted */
    float *dA, *dB; /* the same in the gradient buffer */
} LoraAdapter;

typedef struct Lora {
    LoraConfig cfg;
    ModelConfig model_cfg; /* the shapes of the model it adapts */
    float scale;           /* alpha / r */
    size_t n_params;
    float *params, *grads;  /* (n_params) each: every A and B, one buffer */
    ParamTensor *tensors;   /* PEFT names and offsets, for the optimizer and the files */
    int n_tensors;
    LoraAdapter *adapters;  /* (L, LORA_N_MODULES) */
    /* dropout */
    uint64_t dropout_seed;
    uint64_t pass;          /* training forward passes so far */
    /* per-pass state */
    int training;           /* this pass keeps what backward needs and applies dropout */
    size_t capacity;        /* tokens the buffers below hold */
    float *u;               /* (L, LORA_N_MODULES, N, r): dropout(x)·Aᵀ of the last pass */
    float *du;              /* (N, r) backward scratch */
    float *scratch;         /* (N, max(C, F, Q)) the dropped-out input, and din's update */
} Lora;

/* rank 8, alpha 16, dropout 0.05, every projection targeted. */
LoraConfig lora_config_defaults(void);
/* Sets cfg->targets from "q,k,v,o,gate,up,down" (PEFT's "q_proj" etc. and
 * "all-linear" are accepted too); dies naming `flag` on an unknown name. */
void lora_parse_targets(LoraConfig *cfg, const char *list, const char *flag);

/* A new adapter for a model of shape mc; A drawn from the seed, B zero.
 * The dropout masks are drawn from the same seed. Dies on a bad rank. */
Lora *lora_new(const ModelConfig *mc, const LoraConfig *cfg, uint64_t seed);
void lora_free(Lora *l);
/* An adapter with A and B zero (what lora_load fills). Dies on a bad rank,
 * dropout or an empty target list. */
Lora *lora_alloc(const ModelConfig *mc, const LoraConfig *cfg);
/* PEFT's name of a projection: "q_proj" ... "down_proj". */
const char *lora_module_name(LoraModule mod);

/* Folds the adapter into the weights: W += s·B·A for every adapted projection. */
void lora_merge(const Lora *l, Model *m);

/* ---- hooks of model_forward / model_backward ---- */
/* At the start of a forward pass over N tokens; training = the pass will be
 * followed by model_backward (dropout on, a new dropout pass). */
void lora_begin_forward(Lora *l, int N, int training);
/* After the site's linear_forward: out (N, site width) += each adapter's
 * update of the input in (N, site input width). */
void lora_forward(Lora *l, int layer, LoraSite site, float *out, const float *in, int N);
/* After the site's linear_backward: accumulates dA, dB from dout (N, site
 * width) and adds the adapters' share of the input gradient to din (N, IN). */
void lora_backward(Lora *l, int layer, LoraSite site, float *din, const float *dout, const float *in, int N);

/* The hook of cached decoding (kv_cache.c), the update of lora_forward
 * through linear_forward_invariant: each row's result is the same whatever the
 * other rows. u (N, r) and y (N, max(C, F, Q)) are the caller's scratch. */
void lora_forward_invariant(const Lora *l, int layer, LoraSite site, float *out, const float *in, int N, float *u,
                            float *y);

#endif
