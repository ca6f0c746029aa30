/* backward.c — the backward pass, shared by every objective.
 *
 * It starts from ∂loss/∂out, which the objective has written over the head's
 * output, and walks the layers in reverse. dres carries the gradient of the
 * residual stream: each block adds its input gradient to it (the residual
 * connection passes the gradient through unchanged). Parameter gradients are
 * accumulated (+=), so micro-batches of one optimizer step simply add up.
 *
 * A frozen base (LoRA without m->grads) leaves the gradient views m->g all
 * NULL: the kernels then skip the weight-gradient products, and only the
 * input gradients flow back to the adapters. */
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "lora.h"
#include "model.h"

void model_backward(Model *m) {
    const ModelConfig *c = &m->cfg;
    Activations *a = &m->act;
    const int C = c->dim, F = c->ffn_hidden, NH = c->n_heads, NKV = c->n_kv_heads, HS = config_head_size(c);
    const int Q = config_q_width(c), KV = config_kv_width(c), QKV = config_qkv_width(c), OUT = config_out_width(c);
    const int B = a->B, T = a->T, N = B * T;
    if (!m->grads && !m->lora) die("model_backward: gradients were not allocated");
    if (a->n_layer_acts < c->n_layers) die("model_backward: the forward pass did not keep its activations");

    /* head and final norm */
    linear_backward(a->dxn, m->g.head, NULL, a->out, a->xnf, m->w.head, N, C, OUT);
    memset(a->dres, 0, sizeof(float) * (size_t)N * C);
    rmsnorm_backward(a->dres, m->g.final_norm, a->dxn, a->xf, m->w.final_norm, a->rstdf, N, C);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        const LayerWeights *w = &m->w.layers[l];
        LayerWeights *g = &m->g.layers[l];
        LayerActs *la = &a->layers[l];

        /* MLP block: dres is ∂loss/∂x_next */
        linear_backward(a->dh, g->wdown, NULL, a->dres, la->h, w->wdown, N, F, C);
        if (m->lora) lora_backward(m->lora, l, LORA_SITE_DOWN, a->dh, a->dres, la->h, N);
        swiglu_backward(a->dgu, a->dh, la->gu, N, F);
        linear_backward(a->dxn, g->wgu, NULL, a->dgu, la->xn2, w->wgu, N, C, 2 * F);
        if (m->lora) lora_backward(m->lora, l, LORA_SITE_GATE_UP, a->dxn, a->dgu, la->xn2, N);
        rmsnorm_backward(a->dres, g->mlp_norm, a->dxn, la->x2, w->mlp_norm, la->rstd2, N, C);

        /* attention block: dres is now ∂loss/∂x2 */
        linear_backward(a->datt, g->wo, g->bo, a->dres, la->att, w->wo, N, Q, C);
        if (m->lora) lora_backward(m->lora, l, LORA_SITE_O, a->datt, a->dres, la->att, N);
        attention_backward(a->dqkv, a->datt, la->att, la->qkv, la->lse, a->doc_start, B, T, NH, NKV, HS);
        rope_apply(a->dqkv, N, QKV, NH + NKV, HS, a->pos, m->rope_cos, m->rope_sin, 1);
        if (w->q_norm) { /* through the per-head norms of q and k, in place in dqkv */
            rmsnorm_heads_backward(a->dqkv, QKV, g->q_norm, a->dqkv, QKV, la->qk_in, Q + KV, w->q_norm, la->qk_rstd,
                                   N, NH, HS);
            rmsnorm_heads_backward(a->dqkv + Q, QKV, g->k_norm, a->dqkv + Q, QKV, la->qk_in + Q, Q + KV, w->k_norm,
                                   la->qk_rstd + (size_t)N * NH, N, NKV, HS);
        }
        linear_backward(a->dxn, g->wqkv, g->bqkv, a->dqkv, la->xn1, w->wqkv, N, C, QKV);
        if (m->lora) lora_backward(m->lora, l, LORA_SITE_QKV, a->dxn, a->dqkv, la->xn1, N);
        rmsnorm_backward(a->dres, g->attn_norm, a->dxn, la->x, w->attn_norm, la->rstd1, N, C);
        if (m->on_layer_grads) m->on_layer_grads(m->on_layer_grads_ctx, l);
    }
    if (m->grads) embedding_backward(m->g.embed, a->dres, a->tokens, N, C);
}
