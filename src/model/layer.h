/* layer.h — one decoder layer: the code that both the training forward pass
 * (forward.c) and cached decoding (kv_cache.c) run.
 *
 * For N rows (x is the residual stream):
 *   xn1 = rmsnorm(x)               qkv = xn1·Wqkvᵀ (+ b), (per-head norms of q, k,) RoPE on q and k
 *   att = attention(q, k, v)       x2  = x + att·Woᵀ (+ bo)
 *   xn2 = rmsnorm(x2)              gu  = xn2·Wguᵀ,  h = silu(gate)·up
 *   x_next = x2 + h·Wdownᵀ
 * LoRA adapters, when the pass has them, add their low-rank update right
 * after each projection (lora.h).
 *
 * What differs between the callers is a LayerPass: the linear kernel
 * (training: linear_forward, through BLAS; decoding: linear_forward_invariant,
 * whose rows do not depend on the batch), the attention (whole sequences,
 * or new rows against a KV cache) and the adapters' update (BLAS, keeping
 * what the backward pass needs; or through the batch-invariant kernel). */
#ifndef LMF_LAYER_H
#define LMF_LAYER_H

#include "lora.h"
#include "model.h"

/* out (N, OUT) = in (N, IN) · Wᵀ + bias (+ out when accumulate): kernels.h's linear_forward or
 * linear_forward_invariant. */
typedef void (*LinearFn)(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                         int accumulate);

typedef struct LayerPass LayerPass;
struct LayerPass {
    int N;          /* rows */
    const int *pos; /* (N) RoPE position of each row */
    LinearFn linear;
    /* att (N, Q) from qkv (N, QKV), q and k rotated; lse (N·NH) as attention_forward keeps it, or unused */
    void (*attention)(const LayerPass *p, int layer, float *att, float *lse, const float *qkv);
    /* out (N, site width) += the adapters' update of in (N, site input width); NULL: no adapters */
    void (*adapter)(const LayerPass *p, int layer, LoraSite site, float *out, const float *in);
    void *ctx; /* the caller's, for attention and adapter */
};

/* Runs layer `layer` of m over a->x (N, C), leaving its output in x_next
 * (N, C). a's buffers may alias where the caller keeps no activations for a
 * backward pass: x2 and x_next may be x itself (the residual stream updated in
 * place), xn2 and rstd2 may be xn1 and rstd1. */
void layer_forward(const Model *m, int layer, const LayerPass *p, LayerActs *a, float *x_next);

#endif
