/* sample_progress.c — see sample_progress.h. */
#include "sample_progress.h"

static void count_token(void *ctx, int seq, int token, int done) {
    (void)seq;
    (void)token;
    SampleProgress *sp = ctx;
    progress_add_tokens(&sp->progress, 1);
    sp->done += done;
    progress_update(&sp->progress, sp->done, NULL);
}

void sample_progress_start(SampleProgress *sp, SampleOptions *o, long total_samples) {
    sp->done = 0;
    progress_init(&sp->progress, "sample", 0, total_samples);
    o->on_token = count_token;
    o->on_token_ctx = sp;
}

void sample_progress_finish(SampleProgress *sp) { progress_finish(&sp->progress); }
