/* train_options.c — see train_options.h. */
#include "train_options.h"

#include <math.h>

#include "../base/util.h"

TrainOptions train_options_defaults(void) {
    return (TrainOptions){.out = "runs/train",
                          .schedule = "cosine",
                          .eval_fraction = 0.05f,
                          .packing = 1,
                          .batch = 8,
                          .grad_accum = 1,
                          .epochs = 1,
                          .lr = 1e-4f,
                          .min_lr_ratio = 0.1f,
                          .beta2 = 0.95f,
                          .grad_clip = 1.0f,
                          .warmup = -1,
                          .warmup_ratio = 0.05f,
                          .eval_every = 100,
                          .save_every = 500,
                          .keep = 2,
                          .seed = 1};
}

void train_options_check(const TrainOptions *t, const char *stage) {
    if (t->batch < 1 || t->grad_accum < 1 || t->epochs < 1)
        die("%s: --batch, --grad-accum and --epochs must be positive", stage);
    if (t->steps < 0) die("%s: --steps must not be negative", stage);
    if (t->seq_len < 0) die("%s: --seq-len must not be negative", stage);
    if (!(t->eval_fraction >= 0 && t->eval_fraction < 1)) die("%s: --eval-fraction must be in [0, 1)", stage);
    if (t->warmup < -1) die("%s: --warmup must be a number of steps, or -1 for --warmup-ratio", stage);
    if (!(t->warmup_ratio >= 0 && t->warmup_ratio <= 1)) die("%s: --warmup-ratio must be in [0, 1]", stage);
    if (t->eval_every < -1 || t->save_every < -1) die("%s: --eval-every and --save-every must be -1 or more", stage);
}

TrainConfig train_options_config(const TrainOptions *t, const char *stage, long steps) {
    TrainConfig tc = train_config_defaults();
    tc.stage = stage;
    tc.run_dir = t->out;
    tc.max_steps = steps;
    tc.grad_accum = t->grad_accum;
    tc.optim.lr = t->lr;
    tc.optim.weight_decay = t->weight_decay;
    tc.optim.beta2 = t->beta2;
    tc.optim.grad_clip = t->grad_clip;
    /* Rounded down, as the stages' steps / 20 were. The nudge is for a ratio a float holds a hair low: 0.03f is
     * 0.0299999993, and 100 steps would warm up for 2. */
    long warmup = t->warmup >= 0 ? t->warmup : (long)floor((double)steps * t->warmup_ratio * (1 + 1e-6));
    tc.schedule = (Schedule){schedule_parse(t->schedule), warmup, steps, t->min_lr_ratio};
    tc.eval_every = t->eval_every >= 0 ? t->eval_every : LMF_MAX(1, steps / 10);
    tc.save_every = t->save_every >= 0 ? t->save_every : LMF_MAX(1, steps / 4);
    tc.keep_checkpoints = t->keep;
    tc.resume = t->resume;
    return tc;
}
