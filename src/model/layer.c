/* layer.c — see layer.h. */
#include "layer.h"

#include <string.h>

#include "../kernels/kernels.h"

void layer_forward(const Model *m, int layer, const LayerPass *p, LayerActs *a, float *x_next) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, F = c->ffn_hidden, NH = c->n_heads, NKV = c->n_kv_heads, HS = config_head_size(c);
    const int Q = config_q_width(c), KV = config_kv_width(c), QKV = config_qkv_width(c), N = p->N;
    const LayerWeights *w = &m->w.layers[layer];

    rmsnorm_forward(a->xn1, a->rstd1, a->x, w->attn_norm, N, C, c->norm_eps);
    p->linear(a->qkv, a->xn1, w->wqkv, w->bqkv, N, C, QKV, 0);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_QKV, a->qkv, a->xn1);
    if (w->q_norm) {
        /* Qwen3: each q and k head RMS-normalised on its own, before RoPE. A pass that will be differentiated
         * keeps q | k as they were (qk_in) and the norms' 1/rms; decoding normalises in place. */
        const float *src = a->qkv;
        int stride = QKV;
        if (a->qk_in) {
            for (int n = 0; n < N; n++)
                memcpy(a->qk_in + (size_t)n * (Q + KV), a->qkv + (size_t)n * QKV, sizeof(float) * (size_t)(Q + KV));
            src = a->qk_in;
            stride = Q + KV;
        }
        float *q_rstd = a->qk_rstd, *k_rstd = a->qk_rstd ? a->qk_rstd + (size_t)N * NH : NULL;
        rmsnorm_heads_forward(a->qkv, QKV, q_rstd, src, stride, w->q_norm, N, NH, HS, c->norm_eps);
        rmsnorm_heads_forward(a->qkv + Q, QKV, k_rstd, src + Q, stride, w->k_norm, N, NKV, HS, c->norm_eps);
    }
    /* q heads and the k heads right after them are rotated in one sweep */
    rope_apply(a->qkv, N, QKV, NH + NKV, HS, p->pos, m->rope_cos, m->rope_sin, 0);
    p->attention(p, layer, a->att, a->lse, a->qkv);
    if (a->x2 != a->x) memcpy(a->x2, a->x, sizeof(float) * (size_t)N * C);
    p->linear(a->x2, a->att, w->wo, w->bo, N, Q, C, 1);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_O, a->x2, a->att);

    rmsnorm_forward(a->xn2, a->rstd2, a->x2, w->mlp_norm, N, C, c->norm_eps);
    p->linear(a->gu, a->xn2, w->wgu, NULL, N, C, 2 * F, 0);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_GATE_UP, a->gu, a->xn2);
    swiglu_forward(a->h, a->gu, N, F);
    if (x_next != a->x2) memcpy(x_next, a->x2, sizeof(float) * (size_t)N * C);
    p->linear(x_next, a->h, w->wdown, NULL, N, F, C, 1);
    if (p->adapter) p->adapter(p, layer, LORA_SITE_DOWN, x_next, a->h);
}
