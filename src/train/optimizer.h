/* optimizer.h — AdamW over a model's one parameter buffer, with global
 * gradient-norm clipping and learning-rate schedules. */
#ifndef LMF_OPTIMIZER_H
#define LMF_OPTIMIZER_H

#include <stddef.h>

#include "../model/model.h"

typedef struct {
    float lr;              /* peak learning rate */
    float beta1, beta2, eps;
    float weight_decay;    /* applied to matrices (not norms, biases, or the embedding unless decay_embedding) */
    int decay_embedding;
    float grad_clip;       /* clip the global gradient norm to this; 0 = no clipping */
} OptimConfig;

OptimConfig optim_defaults(void);

/* The parameters an optimizer updates: a whole model, or only a LoRA adapter. */
typedef struct {
    float *params, *grads;       /* (n) each */
    size_t n;
    const ParamTensor *tensors;  /* names, offsets and weight-decay flags */
    int n_tensors;
} ParamSet;

ParamSet model_param_set(Model *m);

/* AdamW holds moments for, and updates, the parameters [begin, begin + n):
 * all of them, or under MPI with ZeRO stage 1 this rank's nearly equal
 * piece (dist_split_range), so that optimizer memory per rank falls as 1/N. */
typedef struct {
    OptimConfig cfg;
    size_t n_params; /* all the parameters */
    size_t begin, n; /* the ones this optimizer updates */
    int sharded;     /* ZeRO-1: the other ranks update the rest */
    float *m, *v;    /* (n) first and second moments */
    long step;       /* updates done so far */
} AdamW;

AdamW *adamw_new(size_t n_params, const OptimConfig *cfg);
/* ZeRO-1: the state for this rank's piece only. Every rank must create one. */
AdamW *adamw_new_sharded(size_t n_params, const OptimConfig *cfg);
void adamw_free(AdamW *opt);
/* Clips the gradients (if configured) and updates the parameters with learning
 * rate lr. Returns the gradient norm before clipping. A sharded optimizer
 * needs the summed gradients of its own piece only (reduce-scatter); it
 * computes the global norm with the other ranks, updates its piece and
 * all-gathers the parameters, so every rank ends with all of them. */
float adamw_step(AdamW *opt, const ParamSet *ps, float lr);
/* The moments as a safetensors file in the single-process layout
 * (adamw.exp_avg, adamw.exp_avg_sq: n_params values each), whatever the
 * number of ranks: a sharded optimizer streams its piece to rank 0, which
 * writes. Every rank calls it; only rank 0 writes. */
void adamw_save(const AdamW *opt, const char *path);
/* Reads this optimizer's piece of the moments: a run may resume on a
 * different number of ranks than the one that saved it. */
void adamw_load(AdamW *opt, const char *path);
/* Global L2 norm of the gradients. */
float grad_norm(const ParamSet *ps);

typedef enum { SCHEDULE_CONSTANT, SCHEDULE_COSINE, SCHEDULE_LINEAR } ScheduleKind;
typedef struct {
    ScheduleKind kind;
    long warmup_steps;  /* linear warm-up from 0 */
    long total_steps;   /* decay ends here */
    float min_lr_ratio; /* the decay goes down to lr * min_lr_ratio */
} Schedule;
/* Parses "constant", "cosine" or "linear"; dies naming the flag otherwise. */
ScheduleKind schedule_parse(const char *name);
/* Learning rate for the update with index step (0-based). */
float schedule_lr(const Schedule *s, float peak_lr, long step);

#endif
