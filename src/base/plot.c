/* plot.c — see plot.h.
 *
 * Data are mapped to pixels through Axes: y is first taken to log10 on a log
 * axis, then both coordinates are scaled into the plot area, so every
 * coordinate written lies inside the viewBox. */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

#define WIDTH 800
#define HEIGHT 500
#define LEFT 80    /* room for the y tick labels and the y label */
#define RIGHT 30
#define TOP 50     /* the title */
#define BOTTOM 60  /* the x tick labels and the x label */
#define MAX_TICKS 64

/* Tableau's ten colours: distinct, and readable on white. */
static const char *const COLORS[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct {
    double lo, hi;
} Range;

typedef struct {
    Range x, y; /* limits; y in log10 units on a log axis */
    int log_y;
} Axes;

static int usable(const Axes *a, double x, double y) {
    return isfinite(x) && isfinite(y) && (!a->log_y || y > 0);
}

static double axis_y(const Axes *a, double y) { return a->log_y ? log10(y) : y; }

static double pixel_x(const Axes *a, double x) {
    return LEFT + (x - a->x.lo) / (a->x.hi - a->x.lo) * (WIDTH - LEFT - RIGHT);
}

static double pixel_y(const Axes *a, double y) {
    return HEIGHT - BOTTOM - (axis_y(a, y) - a->y.lo) / (a->y.hi - a->y.lo) * (HEIGHT - TOP - BOTTOM);
}

/* The extent of all usable points; a single value is widened so that the
 * scale stays finite. */
static void data_limits(Axes *a, const PlotSeries *series, int n_series) {
    a->x = a->y = (Range){INFINITY, -INFINITY};
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!usable(a, x, y)) continue;
            a->x.lo = fmin(a->x.lo, x), a->x.hi = fmax(a->x.hi, x);
            a->y.lo = fmin(a->y.lo, axis_y(a, y)), a->y.hi = fmax(a->y.hi, axis_y(a, y));
        }
    Range *ranges[2] = {&a->x, &a->y};
    for (int k = 0; k < 2; k++) {
        Range *r = ranges[k];
        if (r->lo > r->hi) *r = (Range){0, 1}; /* no data */
        if (r->lo == r->hi) {
            double pad = r->lo != 0 ? fabs(r->lo) * 0.1 : 1;
            r->lo -= pad, r->hi += pad;
        }
    }
}

/* A round step (1, 2 or 5 times a power of ten) giving about `target` ticks. */
static double nice_step(double span, int target) {
    double raw = span / target, magnitude = pow(10, floor(log10(raw))), norm = raw / magnitude;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
}

/* Ticks every `step` from lo to hi (raw values). */
static int linear_ticks(double lo, double hi, double step, double *ticks) {
    double first = ceil(lo / step - 1e-9);
    int n = 0;
    for (; n < MAX_TICKS; n++) {
        double v = (first + n) * step; /* not a running sum: that would accumulate rounding */
        if (v > hi + step * 1e-9) break;
        ticks[n] = v;
    }
    return n;
}

/* Widens a linear range to whole steps, and lists its ticks. */
static int linear_axis(Range *r, double *ticks) {
    double step = nice_step(r->hi - r->lo, 6);
    r->lo = floor(r->lo / step + 1e-9) * step;
    r->hi = ceil(r->hi / step - 1e-9) * step;
    return linear_ticks(r->lo, r->hi, step, ticks);
}

/* A log range (in log10 units) gets a small margin and ticks at 1, 2, 5 per
 * decade when it spans few decades, at powers of ten when it spans many;
 * a range narrower than that gets round linear ticks. */
static int log_axis(Range *r, double *ticks) {
    double span = r->hi - r->lo, margin = 0.04 * span;
    r->lo -= margin, r->hi += margin;
    int decade_every = span > 8 ? (int)ceil(span / 8) : 1;
    const double mantissas[] = {1, 2, 5};
    int n_mantissas = span > 3 ? 1 : 3, n = 0;
    for (int e = (int)floor(r->lo); e <= (int)ceil(r->hi) && n < MAX_TICKS; e++) {
        if (e % decade_every != 0) continue;
        for (int m = 0; m < n_mantissas && n < MAX_TICKS; m++) {
            double v = mantissas[m] * pow(10, e);
            if (log10(v) >= r->lo && log10(v) <= r->hi) ticks[n++] = v;
        }
    }
    if (n >= 3) return n;
    double lo = pow(10, r->lo), hi = pow(10, r->hi);
    return linear_ticks(lo, hi, nice_step(hi - lo, 5), ticks);
}

/* "0.05", "2", "150k", "2.5M", "1e-05": short, and free of rounding noise. */
static void format_tick(double v, char *buf, size_t cap) {
    double a = fabs(v);
    if (a >= 1e6) snprintf(buf, cap, "%gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, cap, "%gk", v / 1e3);
    else if (a < 1e-3) snprintf(buf, cap, "%.3g", a < 1e-12 ? 0.0 : v);
    else snprintf(buf, cap, "%.4g", v);
}

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void text_element(FILE *f, double x, double y, const char *anchor, int size, const char *extra,
                         const char *text) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    xml_text(f, text);
    fputs("</text>\n", f);
}

static void draw_axes(FILE *f, const Axes *a, const double *xticks, int nx, const double *yticks, int ny) {
    char label[32];
    for (int i = 0; i < nx; i++) {
        double x = pixel_x(a, xticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>\n", x, TOP, x,
                HEIGHT - BOTTOM);
        format_tick(xticks[i], label, sizeof label);
        text_element(f, x, HEIGHT - BOTTOM + 18, "middle", 12, "", label);
    }
    for (int i = 0; i < ny; i++) {
        double y = pixel_y(a, yticks[i]);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", LEFT, y,
                WIDTH - RIGHT, y);
        format_tick(yticks[i], label, sizeof label);
        text_element(f, LEFT - 8, y + 4, "end", 12, "", label);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP,
            WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
}

static void point(FILE *f, const Axes *a, const PlotSeries *s, int i) {
    fprintf(f, "%.1f,%.1f ", pixel_x(a, s->x[i]), pixel_y(a, s->y[i]));
}

/* Draws points [begin, end) of s, all usable: one polyline, or a dot for a
 * lone point. Consecutive points in one pixel column are drawn as the
 * column's first, lowest, highest and last point: the picture of all of
 * them, in a file that stays small for a 100k-step run. */
static void draw_run(FILE *f, const Axes *a, const PlotSeries *s, int begin, int end, const char *color) {
    if (end - begin == 1) {
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", pixel_x(a, s->x[begin]),
                pixel_y(a, s->y[begin]), color);
        return;
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"",
            color);
    for (int i = begin; i < end;) {
        int column = (int)pixel_x(a, s->x[i]), j = i, low = i, high = i;
        for (; j < end && (int)pixel_x(a, s->x[j]) == column; j++) {
            if (s->y[j] < s->y[low]) low = j;
            if (s->y[j] > s->y[high]) high = j;
        }
        int keep[4] = {i, LMF_MIN(low, high), LMF_MAX(low, high), j - 1};
        for (int k = 0; k < 4; k++)
            if (k == 0 || keep[k] != keep[k - 1]) point(f, a, s, keep[k]);
        i = j;
    }
    fputs("\"/>\n", f);
}

static void draw_series(FILE *f, const Axes *a, const PlotSeries *s, const char *color) {
    for (int i = 0; i < s->n;) {
        if (!usable(a, s->x[i], s->y[i])) {
            i++;
            continue;
        }
        int j = i;
        while (j < s->n && usable(a, s->x[j], s->y[j])) j++;
        draw_run(f, a, s, i, j, color);
        i = j;
    }
}

/* The legend goes in the corner of the plot area that hides the fewest
 * points: top right unless the curves end there (a rising KL, say). */
static void legend_corner(const Axes *a, const PlotSeries *series, int n_series, int width, int height, int *x,
                          int *y) {
    const int xs[2] = {WIDTH - RIGHT - 10 - width, LEFT + 10}, ys[2] = {TOP + 10, HEIGHT - BOTTOM - 10 - height};
    long hidden[4] = {0};
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            if (!usable(a, series[s].x[i], series[s].y[i])) continue;
            double px = pixel_x(a, series[s].x[i]), py = pixel_y(a, series[s].y[i]);
            for (int c = 0; c < 4; c++)
                hidden[c] += px >= xs[c % 2] && px <= xs[c % 2] + width && py >= ys[c / 2] && py <= ys[c / 2] + height;
        }
    int best = 0;
    for (int c = 1; c < 4; c++)
        if (hidden[c] < hidden[best]) best = c;
    *x = xs[best % 2];
    *y = ys[best / 2];
}

static void draw_legend(FILE *f, const Axes *a, const PlotSeries *series, int n_series) {
    size_t longest = 0;
    for (int s = 0; s < n_series; s++)
        if (series[s].label) longest = LMF_MAX(longest, strlen(series[s].label));
    if (longest == 0) return;
    int width = 44 + 7 * (int)longest, height = 20 * n_series + 8, x, y;
    legend_corner(a, series, n_series, width, height, &x, &y);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" fill-opacity=\"0.85\" "
               "stroke=\"#999\"/>\n", x, y, width, height);
    for (int s = 0; s < n_series; s++) {
        int row = y + 18 + 20 * s;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", x + 8,
                row - 4, x + 32, row - 4, COLORS[s % LMF_ARRAY_LEN(COLORS)]);
        text_element(f, x + 38, row, "start", 12, "", series[s].label ? series[s].label : "");
    }
}

/* Dashed grey lines at the marks inside the x range, the first one labelled. */
static void draw_marks(FILE *f, const Axes *a, const PlotMarks *m) {
    int shown = 0;
    for (int i = 0; i < m->n; i++) {
        if (!isfinite(m->x[i]) || m->x[i] < a->x.lo || m->x[i] > a->x.hi) continue;
        double x = pixel_x(a, m->x[i]);
        fprintf(f, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#555\" "
                   "stroke-dasharray=\"6 4\"/>\n", x, TOP, x, HEIGHT - BOTTOM);
        if (!shown++ && m->label) text_element(f, x + 4, TOP + 14, "start", 11, " fill=\"#555\"", m->label);
    }
}

void plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const PlotSeries *series,
              int n_series, PlotScale y_scale) {
    plot_svg_marked(path, title, xlabel, ylabel, series, n_series, y_scale, NULL);
}

void plot_svg_marked(const char *path, const char *title, const char *xlabel, const char *ylabel,
                     const PlotSeries *series, int n_series, PlotScale y_scale, const PlotMarks *marks) {
    Axes a = {.log_y = y_scale == PLOT_LOG_Y};
    data_limits(&a, series, n_series);
    double xticks[MAX_TICKS], yticks[MAX_TICKS];
    int nx = linear_axis(&a.x, xticks);
    int ny = a.log_y ? log_axis(&a.y, yticks) : linear_axis(&a.y, yticks);

    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", WIDTH, HEIGHT);
    fprintf(f, "<clipPath id=\"plot-area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n", LEFT,
            TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    draw_axes(f, &a, xticks, nx, yticks, ny);
    text_element(f, WIDTH / 2.0, 30, "middle", 16, "", title);
    text_element(f, (LEFT + WIDTH - RIGHT) / 2.0, HEIGHT - 18, "middle", 13, "", xlabel);
    char rotate[64];
    snprintf(rotate, sizeof rotate, " transform=\"rotate(-90 20 %d)\"", (TOP + HEIGHT - BOTTOM) / 2);
    text_element(f, 20, (TOP + HEIGHT - BOTTOM) / 2.0, "middle", 13, rotate, ylabel);

    int any = 0;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n && !any; i++) any = usable(&a, series[s].x[i], series[s].y[i]);
    if (!any) text_element(f, (LEFT + WIDTH - RIGHT) / 2.0, (TOP + HEIGHT - BOTTOM) / 2.0, "middle", 14, "", "no data");
    if (any && marks) draw_marks(f, &a, marks); /* under the curves */
    fputs("<g clip-path=\"url(#plot-area)\">\n", f);
    for (int s = 0; s < n_series; s++) draw_series(f, &a, &series[s], COLORS[s % LMF_ARRAY_LEN(COLORS)]);
    fputs("</g>\n", f);
    draw_legend(f, &a, series, n_series);
    fputs("</svg>\n", f);
    atomic_commit(&af);
}

void plot_metrics(const char *run_dir, const char *keys, const char *svg_path, PlotScale y_scale) {
    plot_metrics_marked(run_dir, keys, svg_path, y_scale, NULL);
}

void plot_metrics_marked(const char *run_dir, const char *keys, const char *svg_path, PlotScale y_scale,
                         const char *mark_key) {
    enum { MAX_KEYS = LMF_ARRAY_LEN(COLORS) };
    char *path = path_join(run_dir, "metrics.jsonl");
    char *list = xstrdup(keys), *rest = NULL;
    PlotSeries series[MAX_KEYS];
    int n = 0;
    for (char *key = strtok_r(list, ",", &rest); key; key = strtok_r(NULL, ",", &rest)) {
        if (n == MAX_KEYS) die("plot_metrics: at most %d keys in one plot", MAX_KEYS);
        double *steps, *values;
        int count = metrics_read_series(path, key, &steps, &values);
        if (count == 0) warn("%s: no values of \"%s\" to plot", path, key);
        series[n++] = (PlotSeries){key, steps, values, count};
    }
    if (n == 0) die("plot_metrics: no keys given");
    PlotMarks marks = {mark_key, NULL, 0};
    double *mark_values = NULL;
    if (mark_key) marks.n = metrics_read_series(path, mark_key, (double **)&marks.x, &mark_values);
    plot_svg_marked(svg_path, run_dir, "step", n == 1 ? series[0].label : "value", series, n, y_scale, &marks);
    free((double *)marks.x);
    free(mark_values);
    for (int i = 0; i < n; i++) {
        free((double *)series[i].x);
        free((double *)series[i].y);
    }
    free(list);
    free(path);
}
