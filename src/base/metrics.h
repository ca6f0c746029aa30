/* metrics.h — a run's metrics.jsonl: one JSON object per optimizer step,
 *
 *   {"step":120,"loss":3.2145,"lr":0.0003,"grad_norm":0.82}
 *
 * written and flushed as each step ends, so a crashed run keeps its history
 * and a live run can be plotted or tailed.
 *
 *   MetricsLog *m = metrics_open(run_dir);          // or metrics_open_resume
 *   metrics_begin(m, step);
 *   metrics_add(m, "loss", loss);                   // keys keep the order added
 *   metrics_end(m);
 *
 * A key added several times within one step is written once, as the mean
 * of its values: an objective may add one value per example. Non-finite
 * values are written as null (JSON has no NaN). */
#ifndef LMF_METRICS_H
#define LMF_METRICS_H

typedef struct MetricsLog MetricsLog;

/* A new run: creates RUN_DIR if needed and starts RUN_DIR/metrics.jsonl afresh. */
MetricsLog *metrics_open(const char *run_dir);
/* A run resumed from a checkpoint at last_step: drops the lines of steps after
 * it (written before the crash, about to be redone) and any torn last line,
 * then appends. */
MetricsLog *metrics_open_resume(const char *run_dir, long last_step);
void metrics_begin(MetricsLog *m, long step);
void metrics_add(MetricsLog *m, const char *key, double value);
void metrics_end(MetricsLog *m);
void metrics_close(MetricsLog *m);

/* Reads back the lines of a metrics.jsonl that have `key`: *steps and
 * *values get malloc'ed arrays (free both), null values read as NaN.
 * A last line without its newline (a live run mid-write) is ignored.
 * Returns the number of points. */
int metrics_read_series(const char *path, const char *key, double **steps, double **values);

#endif
