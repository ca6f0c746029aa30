/* optimizer.c — see optimizer.h. */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../io/safetensors.h"
#include "../kernels/kernels.h"

OptimConfig optim_defaults(void) {
    return (OptimConfig){.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                         .decay_embedding = 0, .grad_clip = 1.0f};
}

AdamW *adamw_new(size_t n_params, const OptimConfig *cfg) {
    AdamW *opt = xcalloc(1, sizeof(AdamW));
    opt->cfg = *cfg;
    opt->n = n_params;
    opt->m = xalloc_floats(n_params);
    opt->v = xalloc_floats(n_params);
    return opt;
}

void adamw_free(AdamW *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    free(opt);
}

ParamSet model_param_set(Model *m) {
    if (!m->grads) die("model_param_set: gradients were not allocated");
    return (ParamSet){m->params, m->grads, m->n_params, m->tensors, m->n_tensors};
}

void adamw_save(const AdamW *opt, const char *path) {
    StWriter *w = st_writer_new();
    int64_t shape[1] = {(int64_t)opt->n};
    st_writer_add(w, "adamw.exp_avg", ST_F32, 1, shape, opt->m);
    st_writer_add(w, "adamw.exp_avg_sq", ST_F32, 1, shape, opt->v);
    st_writer_save(w, path);
    st_writer_free(w);
}

void adamw_load(AdamW *opt, const char *path) {
    SafeTensors *st = st_open(path);
    const StTensor *tm = st_find(st, "adamw.exp_avg"), *tv = st_find(st, "adamw.exp_avg_sq");
    if (!tm || !tv) die("%s: AdamW moments are missing", path);
    st_read_f32(tm, opt->m, opt->n);
    st_read_f32(tv, opt->v, opt->n);
    st_close(st);
}

float grad_norm(const ParamSet *ps) { return (float)sqrt(sum_squares(ps->grads, ps->n)); }

float adamw_step(AdamW *opt, const ParamSet *ps, float lr) {
    const OptimConfig *c = &opt->cfg;
    if (opt->n != ps->n) die("optimizer state has %zu values, the parameters %zu", opt->n, ps->n);
    float norm = grad_norm(ps);
    if (c->grad_clip > 0 && norm > c->grad_clip) scale_floats(ps->grads, ps->n, c->grad_clip / norm);
    opt->step++;
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *t = &ps->tensors[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1), o = t->offset;
        int is_embedding = strcmp(t->name, "model.embed_tokens.weight") == 0;
        float wd = t->weight_decay || (is_embedding && c->decay_embedding) ? c->weight_decay : 0.0f;
        adamw_update(ps->params + o, ps->grads + o, opt->m + o, opt->v + o, n, lr, c->beta1, c->beta2, c->eps, wd,
                     opt->step);
    }
    return norm;
}

ScheduleKind schedule_parse(const char *name) {
    if (strcmp(name, "constant") == 0) return SCHEDULE_CONSTANT;
    if (strcmp(name, "cosine") == 0) return SCHEDULE_COSINE;
    if (strcmp(name, "linear") == 0) return SCHEDULE_LINEAR;
    die("--schedule must be constant, cosine or linear, not '%s'", name);
}

float schedule_lr(const Schedule *s, float peak_lr, long step) {
    if (s->warmup_steps > 0 && step < s->warmup_steps) return peak_lr * (float)(step + 1) / (float)s->warmup_steps;
    if (s->kind == SCHEDULE_CONSTANT) return peak_lr;
    long decay_steps = s->total_steps - s->warmup_steps;
    if (decay_steps <= 0) return peak_lr;
    double progress = (double)(step - s->warmup_steps) / (double)decay_steps;
    if (progress > 1) progress = 1;
    double min_lr = peak_lr * s->min_lr_ratio;
    double shape = s->kind == SCHEDULE_COSINE ? 0.5 * (1 + cos(M_PI * progress)) : 1 - progress;
    return (float)(min_lr + (peak_lr - min_lr) * shape);
}
