/* step_stats.h — named values an objective reports during one optimizer step
 * (a DPO margin per pair, a reward-model accuracy per batch...). The trainer
 * averages each name over the step, writes it to metrics.jsonl and shows the
 * ones the objective asks for on the progress line. */
#ifndef LMF_STEP_STATS_H
#define LMF_STEP_STATS_H

#define STEP_STATS_MAX 32

typedef struct {
    int n;
    char names[STEP_STATS_MAX][48];
    double sum[STEP_STATS_MAX];
    long count[STEP_STATS_MAX];
} StepStats;

void stats_clear(StepStats *s);
/* Adds one value of `name`; the step's figure is the mean of its values. */
void stats_add(StepStats *s, const char *name, double value);
/* Adds every value of `from` to `into` (the statistics of several ranks). */
void stats_merge(StepStats *into, const StepStats *from);
/* The mean of `name` this step, or NAN if it has no value. */
double stats_mean(const StepStats *s, const char *name);

#endif
