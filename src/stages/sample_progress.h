/* sample_progress.h — a progress line with an ETA while a model samples
 * answers (generate --out, sample, rs), counting finished samples and
 * generated tokens through generate_batch's on_token callback:
 *
 *   SampleProgress sp;
 *   sample_progress_start(&sp, &options, n_prompts * K);   // sets options.on_token
 *   ... generate_batch / sample_answers with options ...
 *   sample_progress_finish(&sp);
 */
#ifndef LMF_SAMPLE_PROGRESS_H
#define LMF_SAMPLE_PROGRESS_H

#include "../base/progress.h"
#include "../model/generate.h"

typedef struct {
    Progress progress;
    long done; /* samples finished */
} SampleProgress;

/* Starts the line ("sample 12/40 | 310 tok/s | ETA 1m05s") and hooks it to o. */
void sample_progress_start(SampleProgress *sp, SampleOptions *o, long total_samples);
void sample_progress_finish(SampleProgress *sp);

#endif
