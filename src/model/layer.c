/* layer.c — see layer.h. */
#include "layer.h"

#include <string.h>

#include "../kernels/kernels.h"

void layer_forward(const Model *m, int layer, const LayerPass *p, LayerActs *a, float *x_next) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, F = c->ffn_hidden, NH = c->n_heads, NKV = c->n_kv_heads, HS = config_head_size(c);
    const int Q = config_q_width(c), QKV = config_qkv_width(c), N = p->N;
    const LayerWeights *w = &m->w.layers[layer];

    rmsnorm_forward(a->xn1, a->rstd1, a->x, w->attn_norm, N, C, c->norm_eps);
    p->linear(a->qkv, a->xn1, w->wqkv, w->bqkv, N, C, QKV, 0);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_QKV, a->qkv, a->xn1);
    /* q heads and the k heads right after them are rotated in one sweep */
    rope_apply(a->qkv, N, QKV, NH + NKV, HS, p->pos, m->rope_cos, m->rope_sin, 0);
    p->attention(p, layer, a->att, a->lse, a->qkv);
    if (a->x2 != a->x) memcpy(a->x2, a->x, sizeof(float) * (size_t)N * C);
    p->linear(a->x2, a->att, w->wo, NULL, N, Q, C, 1);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_O, a->x2, a->att);

    rmsnorm_forward(a->xn2, a->rstd2, a->x2, w->mlp_norm, N, C, c->norm_eps);
    p->linear(a->gu, a->xn2, w->wgu, NULL, N, C, 2 * F, 0);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_GATE_UP, a->gu, a->xn2);
    swiglu_forward(a->h, a->gu, N, F);
    if (x_next != a->x2) memcpy(x_next, a->x2, sizeof(float) * (size_t)N * C);
    p->linear(x_next, a->h, w->wdown, NULL, N, F, C, 1);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_DOWN, x_next, a->h);
}
