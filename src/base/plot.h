/* plot.h — line plots written as plain SVG (no library, opens in any
 * browser): loss curves, reward and KL curves, one line per series.
 *
 *   PlotSeries s[] = {{"train", steps, loss, n}, {"eval", eval_steps, eval_loss, m}};
 *   plot_svg("loss.svg", "pretraining", "step", "loss", s, 2, PLOT_LOG_Y);
 *
 * Axes get round-number ticks, each series its own colour and a legend
 * entry. Non-finite points (and, on a log axis, points <= 0) leave a gap in
 * their line instead of dragging it off the chart. */
#ifndef LMF_PLOT_H
#define LMF_PLOT_H

typedef struct {
    const char *label;
    const double *x, *y; /* (n) */
    int n;
} PlotSeries;

typedef enum { PLOT_LINEAR_Y, PLOT_LOG_Y } PlotScale;

/* Writes the SVG atomically. */
void plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const PlotSeries *series,
              int n_series, PlotScale y_scale);

/* Vertical markers: a dashed line at each x, labelled once in the legend
 * (PPO's reward-model refreshes: the score's scale changes there). */
typedef struct {
    const char *label;
    const double *x; /* (n) */
    int n;
} PlotMarks;

/* plot_svg with markers (marks NULL or empty: none). */
void plot_svg_marked(const char *path, const char *title, const char *xlabel, const char *ylabel,
                     const PlotSeries *series, int n_series, PlotScale y_scale, const PlotMarks *marks);

/* Plots keys (comma-separated, e.g. "loss,eval/loss") of RUN_DIR/metrics.jsonl
 * against the step, one series per key. */
void plot_metrics(const char *run_dir, const char *keys, const char *svg_path, PlotScale y_scale);
/* The same, with a marker at each step that logged mark_key (NULL: none). */
void plot_metrics_marked(const char *run_dir, const char *keys, const char *svg_path, PlotScale y_scale,
                         const char *mark_key);

#endif
