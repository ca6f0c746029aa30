/* lora.c — see lora.h.
 *
 * Per adapted projection, with u = dropout(x)·Aᵀ (N, r) kept from the forward pass:
 *   forward   y  += s · u·Bᵀ
 *   backward  dB += s · dyᵀ·u      du = s · dy·B
 *             dA += duᵀ·dropout(x)  dx += dropout'(du·A)
 * Each is one matmul (kernels.h) over row-strided views of the site's fused arrays. */
#include "lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"
#include "../kernels/kernels.h"

static const struct {
    const char *name;   /* PEFT's module name */
    const char *parent; /* the submodule of a decoder layer holding it */
    LoraSite site;
} modules[LORA_N_MODULES] = {
    {"q_proj", "self_attn", LORA_SITE_QKV},  {"k_proj", "self_attn", LORA_SITE_QKV},
    {"v_proj", "self_attn", LORA_SITE_QKV},  {"o_proj", "self_attn", LORA_SITE_O},
    {"gate_proj", "mlp", LORA_SITE_GATE_UP}, {"up_proj", "mlp", LORA_SITE_GATE_UP},
    {"down_proj", "mlp", LORA_SITE_DOWN},
};

const char *lora_module_name(LoraModule mod) { return modules[mod].name; }

/* Where a projection sits: its input and output widths, and its first
 * column in the output of its site (width columns). */
typedef struct {
    int in, out, col, width;
} ModuleShape;

static ModuleShape module_shape(const ModelConfig *c, LoraModule mod) {
    const int C = c->dim, Q = config_q_width(c), KV = config_kv_width(c), F = c->ffn_hidden;
    const int QKV = config_qkv_width(c);
    switch (mod) {
    case LORA_Q: return (ModuleShape){C, Q, 0, QKV};
    case LORA_K: return (ModuleShape){C, KV, Q, QKV};
    case LORA_V: return (ModuleShape){C, KV, Q + KV, QKV};
    case LORA_O: return (ModuleShape){Q, C, 0, C};
    case LORA_GATE: return (ModuleShape){C, F, 0, 2 * F};
    case LORA_UP: return (ModuleShape){C, F, F, 2 * F};
    default: return (ModuleShape){F, C, 0, C}; /* LORA_DOWN */
    }
}

/* The fused weight matrix of a site: (width, in). */
static float *site_weights(const LayerWeights *w, LoraSite site) {
    switch (site) {
    case LORA_SITE_QKV: return w->wqkv;
    case LORA_SITE_O: return w->wo;
    case LORA_SITE_GATE_UP: return w->wgu;
    default: return w->wdown;
    }
}

LoraConfig lora_config_defaults(void) {
    LoraConfig c = {.rank = 8, .alpha = 16.0f, .dropout = 0.05f};
    for (int i = 0; i < LORA_N_MODULES; i++) c.targets[i] = 1;
    return c;
}

void lora_parse_targets(LoraConfig *cfg, const char *list, const char *flag) {
    memset(cfg->targets, 0, sizeof cfg->targets);
    char *copy = xstrdup(list), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < LORA_N_MODULES; i++) {
            size_t short_len = strlen(modules[i].name) - strlen("_proj");
            int is_short = strlen(name) == short_len && strncmp(name, modules[i].name, short_len) == 0;
            int all = strcmp(name, "all-linear") == 0;
            if (is_short || all || strcmp(name, modules[i].name) == 0) cfg->targets[i] = found = 1;
        }
        if (!found) die("%s: unknown projection \"%s\" (q, k, v, o, gate, up, down, or all-linear)", flag, name);
    }
    free(copy);
}

/* Appends tensor `ab` ('A' or 'B') of one adapter to the table. */
static void add_tensor(Lora *l, int layer, LoraModule mod, char ab, int rows, int cols) {
    ParamTensor *t = &l->tensors[l->n_tensors++];
    snprintf(t->name, sizeof t->name, "base_model.model.model.layers.%d.%s.%s.lora_%c.weight", layer,
             modules[mod].parent, modules[mod].name, ab);
    t->offset = l->n_params;
    t->rows = rows;
    t->cols = cols;
    t->weight_decay = 1;
    l->n_params += (size_t)rows * cols;
}

Lora *lora_alloc(const ModelConfig *mc, const LoraConfig *cfg) {
    if (cfg->rank < 1) die("LoRA rank must be at least 1, not %d", cfg->rank);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1)) die("LoRA dropout must be in [0, 1), not %g", cfg->dropout);
    int n_targets = 0;
    for (int i = 0; i < LORA_N_MODULES; i++) n_targets += cfg->targets[i] != 0;
    if (n_targets == 0) die("LoRA targets no projection");
    Lora *l = xcalloc(1, sizeof(Lora));
    l->cfg = *cfg;
    l->model_cfg = *mc;
    l->scale = cfg->use_rslora ? cfg->alpha / sqrtf((float)cfg->rank) : cfg->alpha / (float)cfg->rank;
    l->tensors = xcalloc((size_t)2 * n_targets * mc->n_layers, sizeof(ParamTensor));
    for (int layer = 0; layer < mc->n_layers; layer++)
        for (int mod = 0; mod < LORA_N_MODULES; mod++) {
            if (!cfg->targets[mod]) continue;
            ModuleShape s = module_shape(mc, (LoraModule)mod);
            add_tensor(l, layer, (LoraModule)mod, 'A', cfg->rank, s.in);
            add_tensor(l, layer, (LoraModule)mod, 'B', s.out, cfg->rank);
        }
    l->params = xalloc_floats(l->n_params);
    l->grads = xalloc_floats(l->n_params);
    l->adapters = xcalloc((size_t)mc->n_layers * LORA_N_MODULES, sizeof(LoraAdapter));
    int t = 0;
    for (int layer = 0; layer < mc->n_layers; layer++)
        for (int mod = 0; mod < LORA_N_MODULES; mod++) {
            if (!cfg->targets[mod]) continue;
            LoraAdapter *ad = &l->adapters[layer * LORA_N_MODULES + mod];
            ad->A = l->params + l->tensors[t].offset;
            ad->dA = l->grads + l->tensors[t++].offset;
            ad->B = l->params + l->tensors[t].offset;
            ad->dB = l->grads + l->tensors[t++].offset;
        }
    return l;
}

Lora *lora_new(const ModelConfig *mc, const LoraConfig *cfg, uint64_t seed) {
    Lora *l = lora_alloc(mc, cfg);
    /* A ~ U(±1/sqrt(IN)), PEFT's kaiming_uniform_(a=sqrt(5)); B stays zero */
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < l->n_tensors; i += 2) {
        const ParamTensor *a = &l->tensors[i];
        float bound = 1.0f / sqrtf((float)a->cols), *p = l->params + a->offset;
        for (size_t j = 0; j < (size_t)a->rows * a->cols; j++) p[j] = bound * (2.0f * rng_uniform(&r) - 1.0f);
    }
    l->dropout_seed = seed * 0x9E3779B97F4A7C15ULL + 1;
    return l;
}

void lora_free(Lora *l) {
    if (!l) return;
    free(l->params);
    free(l->grads);
    free(l->tensors);
    free(l->adapters);
    free(l->u);
    free(l->du);
    free(l->scratch);
    free(l);
}

void lora_merge(const Lora *l, Model *m) {
    if (!config_equal(&l->model_cfg, &m->cfg)) die("LoRA merge: the adapter was made for a model of another shape");
    const int r = l->cfg.rank;
    for (int layer = 0; layer < m->cfg.n_layers; layer++)
        for (int mod = 0; mod < LORA_N_MODULES; mod++) {
            const LoraAdapter *ad = &l->adapters[layer * LORA_N_MODULES + mod];
            if (!ad->A) continue;
            ModuleShape s = module_shape(&m->cfg, (LoraModule)mod);
            float *W = site_weights(&m->w.layers[layer], modules[mod].site) + (size_t)s.col * s.in; /* (out, in) */
            matmul(0, 0, s.out, s.in, r, l->scale, ad->B, r, ad->A, s.in, 1.0f, W, s.in);
        }
}

/* ---- the hooks ---- */

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int dropping(const Lora *l) { return l->training && l->cfg.dropout > 0; }

/* dst (N, IN) = src ⊙ mask / (1 − p), or dst += that when accumulate. The
 * mask of (pass, layer, module) is the same each time it is asked for. */
static void apply_dropout(const Lora *l, int layer, int mod, float *dst, const float *src, int N, int IN,
                          int accumulate) {
    uint64_t stream = mix64(mix64(mix64(l->dropout_seed) + l->pass) + (uint64_t)layer * LORA_N_MODULES + (uint64_t)mod);
    uint32_t threshold = (uint32_t)(l->cfg.dropout * 4294967296.0);
    float keep_scale = 1.0f / (1.0f - l->cfg.dropout);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IN; i++) {
            size_t idx = (size_t)n * IN + i;
            float v = (uint32_t)(mix64(stream + idx) >> 32) < threshold ? 0.0f : src[idx] * keep_scale;
            dst[idx] = accumulate ? dst[idx] + v : v;
        }
}

/* u of one adapter in the last pass: (N, r). */
static float *saved_u(const Lora *l, int layer, int mod) {
    return l->u + ((size_t)layer * LORA_N_MODULES + (size_t)mod) * l->capacity * (size_t)l->cfg.rank;
}

void lora_begin_forward(Lora *l, int N, int training) {
    const ModelConfig *c = &l->model_cfg;
    if ((size_t)N > l->capacity) {
        size_t r = (size_t)l->cfg.rank, widest = (size_t)config_widest_projection(c);
        free(l->u);
        free(l->du);
        free(l->scratch);
        l->u = xalloc_floats((size_t)c->n_layers * LORA_N_MODULES * (size_t)N * r);
        l->du = xalloc_floats((size_t)N * r);
        l->scratch = l->cfg.dropout > 0 ? xalloc_floats((size_t)N * widest) : NULL;
        l->capacity = (size_t)N;
    }
    l->training = training;
    if (training) l->pass++;
}

void lora_forward(Lora *l, int layer, LoraSite site, float *out, const float *in, int N) {
    const int r = l->cfg.rank;
    for (int mod = 0; mod < LORA_N_MODULES; mod++) {
        const LoraAdapter *ad = &l->adapters[layer * LORA_N_MODULES + mod];
        if (modules[mod].site != site || !ad->A) continue;
        ModuleShape s = module_shape(&l->model_cfg, (LoraModule)mod);
        const float *x = in;
        if (dropping(l)) {
            apply_dropout(l, layer, mod, l->scratch, in, N, s.in, 0);
            x = l->scratch;
        }
        float *u = saved_u(l, layer, mod);
        /* u (N, r) = x · Aᵀ;  out[:, col..col+out) += s · u · Bᵀ */
        matmul(0, 1, N, r, s.in, 1.0f, x, s.in, ad->A, s.in, 0.0f, u, r);
        matmul(0, 1, N, s.out, r, l->scale, u, r, ad->B, r, 1.0f, out + s.col, s.width);
    }
}

void lora_backward(Lora *l, int layer, LoraSite site, float *din, const float *dout, const float *in, int N) {
    const int r = l->cfg.rank;
    for (int mod = 0; mod < LORA_N_MODULES; mod++) {
        const LoraAdapter *ad = &l->adapters[layer * LORA_N_MODULES + mod];
        if (modules[mod].site != site || !ad->A) continue;
        ModuleShape s = module_shape(&l->model_cfg, (LoraModule)mod);
        const float *dy = dout + s.col, *u = saved_u(l, layer, mod); /* dy (N, out) with row stride width */
        /* dB (out, r) += s · dyᵀ · u;  du (N, r) = s · dy · B */
        matmul(1, 0, s.out, r, N, l->scale, dy, s.width, u, r, 1.0f, ad->dB, r);
        matmul(0, 0, N, r, s.out, l->scale, dy, s.width, ad->B, r, 0.0f, l->du, r);
        /* dA (r, in) += duᵀ · dropout(x) */
        const float *x = in;
        if (dropping(l)) {
            apply_dropout(l, layer, mod, l->scratch, in, N, s.in, 0);
            x = l->scratch;
        }
        matmul(1, 0, r, s.in, N, 1.0f, l->du, r, x, s.in, 1.0f, ad->dA, s.in);
        /* din (N, in) += du · A, through the same dropout mask */
        if (!dropping(l)) {
            matmul(0, 0, N, s.in, r, 1.0f, l->du, r, ad->A, s.in, 1.0f, din, s.in);
        } else {
            matmul(0, 0, N, s.in, r, 1.0f, l->du, r, ad->A, s.in, 0.0f, l->scratch, s.in);
            apply_dropout(l, layer, mod, din, l->scratch, N, s.in, 1);
        }
    }
}

/* Decoding: no dropout, nothing kept for a backward pass, and both products
 * through the batch-invariant kernel, so that a sequence's tokens do not
 * depend on its batch here either. The update is scaled after the product
 * (s · (u·Bᵀ)), where lora_forward's sgemm folds s into it: the two agree to
 * float rounding. */
void lora_forward_invariant(const Lora *l, int layer, LoraSite site, float *out, const float *in, int N, float *u,
                            float *y) {
    const int r = l->cfg.rank;
    for (int mod = 0; mod < LORA_N_MODULES; mod++) {
        const LoraAdapter *ad = &l->adapters[layer * LORA_N_MODULES + mod];
        if (modules[mod].site != site || !ad->A) continue;
        ModuleShape s = module_shape(&l->model_cfg, (LoraModule)mod);
        linear_forward_invariant(u, in, ad->A, NULL, N, s.in, r, 0); /* u (N, r) = x · Aᵀ */
        linear_forward_invariant(y, u, ad->B, NULL, N, r, s.out, 0); /* y (N, out) = u · Bᵀ */
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * s.width + s.col;
            const float *yn = y + (size_t)n * s.out;
#pragma omp simd
            for (int j = 0; j < s.out; j++) o[j] += l->scale * yn[j];
        }
    }
}
