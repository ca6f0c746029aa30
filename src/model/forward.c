/* forward.c — the forward pass, and the activation buffers it fills.
 *
 * Embedding, then each layer (layer.h) over the N = B·T rows with the BLAS
 * linear kernel, whole-sequence attention and, when attached, LoRA adapters
 * that keep what the backward pass needs; then out = rmsnorm(x_final)·Wheadᵀ. */
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "layer.h"
#include "lora.h"
#include "model.h"

/* Floats per token of one layer's saved activations, and of the rest. */
static size_t qk_norm_floats_per_token(const ModelConfig *c) {
    if (!c->qk_norm) return 0;
    return (size_t)config_q_width(c) + (size_t)config_kv_width(c) + (size_t)c->n_heads + (size_t)c->n_kv_heads;
}
static size_t layer_floats_per_token(const ModelConfig *c) {
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden;
    return 4 * C + (size_t)config_qkv_width(c) + (size_t)config_q_width(c) + 3 * F + 2 + (size_t)c->n_heads +
           qk_norm_floats_per_token(c);
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
        la->qk_in = la->qk_rstd = NULL;
        if (c->qk_norm) {
            la->qk_in = TAKE(N * (Qw + (size_t)config_kv_width(c)));
            la->qk_rstd = TAKE(N * (NH + (size_t)c->n_kv_heads));
        }
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

/* Causal attention over the pass's whole sequences (packed documents apart). */
static void full_attention(const LayerPass *p, int layer, float *att, float *lse, const float *qkv) {
    (void)layer;
    const Model *m = p->ctx;
    const ModelConfig *c = &m->cfg;
    attention_forward(att, lse, qkv, m->act.doc_start, m->act.B, m->act.T, c->n_heads, c->n_kv_heads,
                      config_head_size(c));
}

static void lora_adapter(const LayerPass *p, int layer, LoraSite site, float *out, const float *in) {
    const Model *m = p->ctx;
    lora_forward(m->lora, layer, site, out, in, p->N);
}

void model_forward(Model *m, const int *tokens, const int *doc_start, int B, int T, int for_backward) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, OUT = config_out_width(c), N = B * T;
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
    LayerPass pass = {.N = N, .pos = a->pos, .linear = linear_forward, .attention = full_attention,
                      .adapter = m->lora ? lora_adapter : NULL, .ctx = m};
    embedding_forward(a->layers[0].x, a->tokens, m->w.embed, N, C);
    for (int l = 0; l < c->n_layers; l++) {
        float *x_next = l + 1 == c->n_layers ? a->xf : a->layers[for_backward ? l + 1 : 0].x;
        layer_forward(m, l, &pass, &a->layers[for_backward ? l : 0], x_next);
    }
    rmsnorm_forward(a->xnf, a->rstdf, a->xf, m->w.final_norm, N, C, c->norm_eps);
    linear_forward(a->out, a->xnf, m->w.head, NULL, N, C, OUT, 0);
}
