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

typedef struct {
    OptimConfig cfg;
    size_t n;     /* parameters */
    float *m, *v; /* (n) first and second moments */
    long step;    /* updates done so far */
} AdamW;

AdamW *adamw_new(size_t n_params, const OptimConfig *cfg);
void adamw_free(AdamW *opt);
/* Clips the gradients (if configured) and updates the parameters with learning
 * rate lr. Returns the gradient norm before clipping. */
float adamw_step(AdamW *opt, const ParamSet *ps, float lr);
/* The moments as optimizer.safetensors (tensors adamw.exp_avg and
 * adamw.exp_avg_sq, one flat array each, in the parameter buffer's order),
 * written atomically; loading checks the sizes. The step count is the
 * caller's to save. */
void adamw_save(const AdamW *opt, const char *path);
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
