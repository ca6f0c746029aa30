/* model.c — the parameter buffer, its table of named tensors, and initialisation. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"
#include "../kernels/kernels.h"

/* Builds the table in checkpoint order; returns the total number of floats.
 * With tensors == NULL it only counts. */
static size_t layout_tensors(const ModelConfig *c, ParamTensor *tensors, int *n_tensors) {
    const int C = c->dim, Q = config_q_width(c), KV = config_kv_width(c), F = c->ffn_hidden;
    const int HS = config_head_size(c);
    size_t offset = 0;
    int n = 0;
#define ADD(rows_, cols_, decay_, ...)                                                    \
    do {                                                                                  \
        if (tensors) {                                                                    \
            ParamTensor *t = &tensors[n];                                                 \
            snprintf(t->name, sizeof t->name, __VA_ARGS__);                               \
            t->offset = offset;                                                           \
            t->rows = (rows_);                                                            \
            t->cols = (cols_);                                                            \
            t->weight_decay = (decay_);                                                   \
        }                                                                                 \
        offset += (size_t)(rows_) * ((cols_) ? (size_t)(cols_) : 1);                      \
        n++;                                                                              \
    } while (0)
    ADD(c->vocab_size, C, 0, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(C, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        ADD(Q, C, 1, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(KV, C, 1, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(KV, C, 1, "model.layers.%d.self_attn.v_proj.weight", l);
        if (c->qkv_bias) {
            ADD(Q, 0, 0, "model.layers.%d.self_attn.q_proj.bias", l);
            ADD(KV, 0, 0, "model.layers.%d.self_attn.k_proj.bias", l);
            ADD(KV, 0, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        ADD(C, Q, 1, "model.layers.%d.self_attn.o_proj.weight", l);
        if (c->o_bias) ADD(C, 0, 0, "model.layers.%d.self_attn.o_proj.bias", l);
        if (c->qk_norm) {
            ADD(HS, 0, 0, "model.layers.%d.self_attn.q_norm.weight", l);
            ADD(HS, 0, 0, "model.layers.%d.self_attn.k_norm.weight", l);
        }
        ADD(C, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(F, C, 1, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(F, C, 1, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(C, F, 1, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(C, 0, 0, "model.norm.weight");
    if (c->head == HEAD_SCORE) ADD(1, C, 1, "score.weight");
    else if (!c->tie_embeddings) ADD(c->vocab_size, C, 1, "lm_head.weight");
#undef ADD
    *n_tensors = n;
    return offset;
}

/* Points the views of w at a buffer laid out by layout_tensors. */
static void bind_weights(const Model *m, Weights *w, float *base) {
    const ModelConfig *c = &m->cfg;
    const ParamTensor *t = m->tensors;
    w->embed = base + t++->offset;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *lw = &w->layers[l];
        lw->attn_norm = base + t++->offset;
        lw->wqkv = base + t->offset; /* q, k, v adjacent: one (QKV, C) matrix */
        t += 3;
        lw->bqkv = NULL;
        if (c->qkv_bias) {
            lw->bqkv = base + t->offset;
            t += 3;
        }
        lw->wo = base + t++->offset;
        lw->bo = c->o_bias ? base + t++->offset : NULL;
        lw->q_norm = lw->k_norm = NULL;
        if (c->qk_norm) {
            lw->q_norm = base + t++->offset;
            lw->k_norm = base + t++->offset;
        }
        lw->mlp_norm = base + t++->offset;
        lw->wgu = base + t->offset; /* gate, up adjacent: one (2F, C) matrix */
        t += 2;
        lw->wdown = base + t++->offset;
    }
    w->final_norm = base + t++->offset;
    w->head = c->head == HEAD_LM && c->tie_embeddings ? w->embed : base + t->offset;
}

Model *model_new(const ModelConfig *cfg) {
    const char *why = config_check(cfg);
    if (why) die("invalid model configuration: %s", why);
    Model *m = xcalloc(1, sizeof(Model));
    m->cfg = *cfg;
    int n;
    layout_tensors(cfg, NULL, &n);
    m->tensors = xcalloc((size_t)n, sizeof(ParamTensor));
    m->n_params = layout_tensors(cfg, m->tensors, &m->n_tensors);
    m->params = xalloc_floats(m->n_params);
    m->w.layers = xcalloc((size_t)cfg->n_layers, sizeof(LayerWeights));
    m->g.layers = xcalloc((size_t)cfg->n_layers, sizeof(LayerWeights));
    bind_weights(m, &m->w, m->params);
    int half = config_head_size(cfg) / 2;
    m->rope_cos = xalloc_floats((size_t)cfg->max_seq_len * half);
    m->rope_sin = xalloc_floats((size_t)cfg->max_seq_len * half);
    if (cfg->rope_scaling.kind == ROPE_SCALING_NONE) {
        rope_tables(m->rope_cos, m->rope_sin, cfg->max_seq_len, config_head_size(cfg), cfg->rope_theta);
    } else {
        float *inv_freq = xalloc_floats((size_t)half);
        config_rope_inv_freq(cfg, inv_freq);
        rope_tables_freq(m->rope_cos, m->rope_sin, cfg->max_seq_len, config_head_size(cfg), inv_freq);
        free(inv_freq);
    }
    return m;
}

void model_free(Model *m) {
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->w.layers);
    free(m->g.layers);
    free(m->tensors);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->act.buffer);
    free(m->act.tokens);
    free(m->act.layers);
    free(m);
}

void model_alloc_grads(Model *m) {
    if (m->grads) return;
    m->grads = xalloc_floats(m->n_params);
    bind_weights(m, &m->g, m->grads);
}

void model_zero_grads(Model *m) {
    float *g = m->grads;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < m->n_params; i++) g[i] = 0;
}

void model_init_random(Model *m, uint64_t seed) {
    const float std = 0.02f, out_proj_std = std / sqrtf(2.0f * (float)m->cfg.n_layers);
    /* One generator per tensor, seeded from (seed, index): tensors can be
     * filled in parallel and the result does not depend on thread count. */
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        if (!t->cols) { /* norms are 1, biases 0 */
            float v = strstr(t->name, "norm") ? 1.0f : 0.0f;
            for (size_t j = 0; j < n; j++) p[j] = v;
            continue;
        }
        float s = strstr(t->name, "o_proj") || strstr(t->name, "down_proj") ? out_proj_std : std;
        Rng r;
        rng_seed(&r, seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i);
        for (size_t j = 0; j < n; j++) p[j] = s * rng_normal(&r);
    }
}

const ParamTensor *model_find_tensor(const Model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

size_t model_matmul_params(const Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->dim, per_layer = (size_t)config_qkv_width(c) * C + C * (size_t)config_q_width(c) +
                                          3 * C * (size_t)c->ffn_hidden;
    return per_layer * (size_t)c->n_layers + (size_t)config_out_width(c) * C;
}

double model_train_flops_per_token(const Model *m, int T) {
    const ModelConfig *c = &m->cfg;
    return 6.0 * (double)model_matmul_params(m) + 12.0 * c->n_layers * (double)T * config_q_width(c);
}
