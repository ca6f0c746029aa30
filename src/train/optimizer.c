/* optimizer.c — see optimizer.h. */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/dist.h"
#include "../base/util.h"
#include "../io/safetensors.h"
#include "../kernels/kernels.h"

OptimConfig optim_defaults(void) {
    return (OptimConfig){.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                         .decay_embedding = 0, .grad_clip = 1.0f};
}

static AdamW *adamw_over(size_t n_params, DistRange updated, const OptimConfig *cfg) {
    AdamW *opt = xcalloc(1, sizeof(AdamW));
    opt->cfg = *cfg;
    opt->n_params = n_params;
    opt->begin = updated.begin;
    opt->n = updated.end - updated.begin;
    opt->m = xalloc_floats(opt->n);
    opt->v = xalloc_floats(opt->n);
    return opt;
}

AdamW *adamw_new(size_t n_params, const OptimConfig *cfg) {
    return adamw_over(n_params, (DistRange){0, n_params}, cfg);
}

AdamW *adamw_new_sharded(size_t n_params, const OptimConfig *cfg) {
    AdamW *opt = adamw_over(n_params, dist_split_range(n_params, dist_rank(), dist_size()), cfg);
    opt->sharded = 1;
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

float grad_norm(const ParamSet *ps) { return (float)sqrt(sum_squares(ps->grads, ps->n)); }

float adamw_step(AdamW *opt, const ParamSet *ps, float lr) {
    const OptimConfig *c = &opt->cfg;
    if (opt->n_params != ps->n) die("optimizer state has %zu values, the parameters %zu", opt->n_params, ps->n);
    const size_t lo = opt->begin, hi = opt->begin + opt->n;
    double squares = sum_squares(ps->grads + lo, opt->n);
    if (opt->sharded) dist_sum_doubles(&squares, 1);
    float norm = (float)sqrt(squares);
    /* clipping scales the gradient inside the update: one pass over memory fewer */
    float grad_scale = c->grad_clip > 0 && norm > c->grad_clip ? c->grad_clip / norm : 1.0f;
    opt->step++;
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *t = &ps->tensors[i];
        /* the part of the tensor in [lo, hi): a tensor may straddle two shards */
        size_t begin = LMF_MAX(t->offset, lo);
        size_t end = LMF_MIN(t->offset + (size_t)t->rows * (t->cols ? (size_t)t->cols : 1), hi);
        if (begin >= end) continue;
        int is_embedding = strcmp(t->name, "model.embed_tokens.weight") == 0;
        float wd = t->weight_decay || (is_embedding && c->decay_embedding) ? c->weight_decay : 0.0f;
        adamw_update(ps->params + begin, ps->grads + begin, grad_scale, opt->m + (begin - lo), opt->v + (begin - lo),
                     end - begin, lr, c->beta1, c->beta2, c->eps, wd, opt->step);
    }
    if (opt->sharded) {
        size_t *bounds = xmalloc(sizeof(size_t) * ((size_t)dist_size() + 1));
        dist_split_bounds(ps->n, bounds);
        dist_allgather_floats(ps->params, bounds);
        free(bounds);
    }
    return norm;
}

static void write_values(void *stream, const float *values, size_t count) { st_stream_write(stream, values, count); }

void adamw_save(const AdamW *opt, const char *path) {
    /* unsharded, every rank holds the same moments: rank 0 writes its own */
    if (!opt->sharded && !dist_is_root()) return;
    StStream *s = NULL;
    if (dist_is_root()) {
        StWriter *w = st_writer_new();
        int64_t shape[1] = {(int64_t)opt->n_params};
        st_writer_add(w, "adamw.exp_avg", ST_F32, 1, shape, NULL);
        st_writer_add(w, "adamw.exp_avg_sq", ST_F32, 1, shape, NULL);
        s = st_stream_open(w, path);
        st_writer_free(w);
    }
    if (opt->sharded) {
        dist_stream_to_root(opt->m, opt->n_params, write_values, s);
        dist_stream_to_root(opt->v, opt->n_params, write_values, s);
    } else {
        write_values(s, opt->m, opt->n);
        write_values(s, opt->v, opt->n);
    }
    if (s) st_stream_commit(s);
}

/* Copies values [opt->begin, opt->begin + opt->n) of the tensor `name`. */
static void read_piece(const SafeTensors *st, const char *path, const char *name, const AdamW *opt, float *dst) {
    const StTensor *t = st_find(st, name);
    if (!t) die("%s: AdamW moments are missing (no tensor %s)", path, name);
    if (t->dtype != ST_F32 || st_numel(t) != opt->n_params)
        die("%s: tensor %s must be F32 with %zu values (one per trained parameter), not %s with %zu", path, name,
            opt->n_params, st_dtype_name(t->dtype), st_numel(t));
    memcpy(dst, (const char *)t->data + opt->begin * sizeof(float), opt->n * sizeof(float));
}

void adamw_load(AdamW *opt, const char *path) {
    SafeTensors *st = st_open(path);
    read_piece(st, path, "adamw.exp_avg", opt, opt->m);
    read_piece(st, path, "adamw.exp_avg_sq", opt, opt->v);
    st_close(st);
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
