/* forward.c — the forward pass, and the activation buffers it fills.
 *
 * Per layer (x is the residual stream, N = B·T rows):
 *   xn1 = rmsnorm(x)               qkv = xn1·Wqkvᵀ (+ b), RoPE on q and k
 *   att = attention(q, k, v)       x2  = x + att·Woᵀ
 *   xn2 = rmsnorm(x2)              gu  = xn2·Wguᵀ,  h = silu(gate)·up
 *   x_next = x2 + h·Wdownᵀ
 * then out = rmsnorm(x_final)·Wheadᵀ. LoRA adapters, when attached, add
 * their low-rank updates right after each projection (lora.h). */
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "lora.h"
#include "model.h"

/* Floats per token of one layer's saved activations, and of the rest. */
static size_t layer_floats_per_token(const ModelConfig *c) {
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden;
    return 4 * C + (size_t)config_qkv_width(c) + (size_t)config_q_width(c) + 3 * F + 2 + (size_t)c->n_heads;
}
static size_t other_floats_per_token(const ModelConfig *c) {
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden;
    return 2 * C + 1 + (size_t)config_out_width(c) + 2 * C + (size_t)config_qkv_width(c) +
           (size_t)config_q_width(c) + 3 * F;
}

size_t model_activation_bytes(const ModelConfig *c, size_t n_tokens, int for_backward) {
    size_t layers = for_backward ? (size_t)c->n_layers : 1;
    return sizeof(float) * n_tokens * (layer_floats_per_token(c) * layers + other_floats_per_token(c));
}

/* (Re)allocates the activation buffers when the new pass needs more room. */
static void ensure_activations(Model *m, size_t N, int n_layer_acts) {
    Activations *a = &m->act;
    if (a->buffer && N <= a->capacity && n_layer_acts <= a->n_layer_acts) return;
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden, QKV = (size_t)config_qkv_width(c);
    size_t Qw = (size_t)config_q_width(c), NH = (size_t)c->n_heads, OUT = (size_t)config_out_width(c);
    N = LMF_MAX(N, a->capacity);
    n_layer_acts = LMF_MAX(n_layer_acts, a->n_layer_acts);
    free(a->buffer);
    free(a->tokens);
    free(a->layers);
    a->buffer = xalloc_floats(N * (layer_floats_per_token(c) * (size_t)n_layer_acts + other_floats_per_token(c)));
    a->tokens = xcalloc(3 * N, sizeof(int));
    a->pos = a->tokens + N;
    a->layers = xcalloc((size_t)n_layer_acts, sizeof(LayerActs));
    float *p = a->buffer;
#define TAKE(count) (p += (count), p - (count))
    for (int l = 0; l < n_layer_acts; l++) {
        LayerActs *la = &a->layers[l];
        la->x = TAKE(N * C);
        la->xn1 = TAKE(N * C);
        la->rstd1 = TAKE(N);
        la->qkv = TAKE(N * QKV);
        la->att = TAKE(N * Qw);
        la->lse = TAKE(N * NH);
        la->x2 = TAKE(N * C);
        la->xn2 = TAKE(N * C);
        la->rstd2 = TAKE(N);
        la->gu = TAKE(N * 2 * F);
        la->h = TAKE(N * F);
    }
    a->xf = TAKE(N * C);
    a->xnf = TAKE(N * C);
    a->rstdf = TAKE(N);
    a->out = TAKE(N * OUT);
    a->dres = TAKE(N * C);
    a->dxn = TAKE(N * C);
    a->dqkv = TAKE(N * QKV);
    a->datt = TAKE(N * Qw);
    a->dgu = TAKE(N * 2 * F);
    a->dh = TAKE(N * F);
#undef TAKE
    a->capacity = N;
    a->n_layer_acts = n_layer_acts;
}

void model_forward(Model *m, const int *tokens, const int *doc_start, int B, int T, int for_backward) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, F = c->ffn_hidden, NH = c->n_heads, NKV = c->n_kv_heads, HS = config_head_size(c);
    const int Q = config_q_width(c), QKV = config_qkv_width(c), OUT = config_out_width(c), N = B * T;
    if (B <= 0 || T <= 0) die("forward pass: batch %d x %d tokens is empty", B, T);
    if (T > c->max_seq_len) die("sequence length %d is above the model's maximum %d", T, c->max_seq_len);
    ensure_activations(m, (size_t)N, for_backward ? c->n_layers : 1);
    Activations *a = &m->act;
    a->B = B;
    a->T = T;
    for (int n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= c->vocab_size)
            die("token id %d at position %d is outside the vocabulary (size %d)", tokens[n], n, c->vocab_size);
        a->tokens[n] = tokens[n];
        int start = doc_start ? doc_start[n] : 0;
        a->pos[n] = n % T - start;
    }
    a->doc_start = NULL;
    if (doc_start) {
        a->doc_start = a->tokens + 2 * a->capacity; /* after pos, which starts at tokens + capacity */
        memcpy(a->doc_start, doc_start, sizeof(int) * (size_t)N);
    }

    if (m->lora) lora_begin_forward(m->lora, N, for_backward);
    embedding_forward(a->layers[0].x, a->tokens, m->w.embed, N, C);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *w = &m->w.layers[l];
        LayerActs *la = &a->layers[for_backward ? l : 0];
        float *x_next = l + 1 == c->n_layers ? a->xf : a->layers[for_backward ? l + 1 : 0].x;

        rmsnorm_forward(la->xn1, la->rstd1, la->x, w->attn_norm, N, C, c->norm_eps);
        linear_forward(la->qkv, la->xn1, w->wqkv, w->bqkv, N, C, QKV, 0);
        if (m->lora) lora_forward(m->lora, l, LORA_SITE_QKV, la->qkv, la->xn1, N);
        /* q heads and the k heads right after them are rotated in one sweep */
        rope_apply(la->qkv, N, QKV, NH + NKV, HS, a->pos, m->rope_cos, m->rope_sin, 0);
        attention_forward(la->att, la->lse, la->qkv, a->doc_start, B, T, NH, NKV, HS);
        memcpy(la->x2, la->x, sizeof(float) * (size_t)N * C);
        linear_forward(la->x2, la->att, w->wo, NULL, N, Q, C, 1);
        if (m->lora) lora_forward(m->lora, l, LORA_SITE_O, la->x2, la->att, N);

        rmsnorm_forward(la->xn2, la->rstd2, la->x2, w->mlp_norm, N, C, c->norm_eps);
        linear_forward(la->gu, la->xn2, w->wgu, NULL, N, C, 2 * F, 0);
        if (m->lora) lora_forward(m->lora, l, LORA_SITE_GATE_UP, la->gu, la->xn2, N);
        swiglu_forward(la->h, la->gu, N, F);
        memcpy(x_next, la->x2, sizeof(float) * (size_t)N * C);
        linear_forward(x_next, la->h, w->wdown, NULL, N, F, C, 1);
        if (m->lora) lora_forward(m->lora, l, LORA_SITE_DOWN, x_next, la->h, N);
    }
    rmsnorm_forward(a->xnf, a->rstdf, a->xf, m->w.final_norm, N, C, c->norm_eps);
    linear_forward(a->out, a->xnf, m->w.head, NULL, N, C, OUT, 0);
}
