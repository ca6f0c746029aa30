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

/* Plots keys (comma-separated, e.g. "loss,eval/loss") of RUN_DIR/metrics.jsonl
 * against the step, one series per key. */
void plot_metrics(const char *run_dir, const char *keys, const char *svg_path, PlotScale y_scale);

#endif
