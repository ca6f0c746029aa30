/* test_io_plot.c — SVG plots: the right elements, labels and legend, every
 * coordinate inside the plot area, gaps for NaN, log axes, and plots of a
 * run's metrics.jsonl. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/metrics.h"
#include "../src/base/plot.h"
#include "../src/base/util.h"
#include "test.h"

/* The plot area in plot.c's 800x500 picture. */
#define AREA_X0 80
#define AREA_X1 770
#define AREA_Y0 50
#define AREA_Y1 440

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

typedef struct {
    int n;
    double min_x, max_x, min_y, max_y;
} PointStats;

/* Every vertex of every polyline, and every dot. */
static PointStats plotted_points(const char *svg) {
    PointStats st = {0, INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (const char *p = svg; (p = strstr(p, "points=\"")); ) {
        p += 8;
        double x, y;
        int used;
        while (sscanf(p, "%lf,%lf %n", &x, &y, &used) == 2) {
            st.n++;
            st.min_x = fmin(st.min_x, x), st.max_x = fmax(st.max_x, x);
            st.min_y = fmin(st.min_y, y), st.max_y = fmax(st.max_y, y);
            p += used;
        }
    }
    for (const char *p = svg; (p = strstr(p, "<circle cx=\"")); p++) {
        double x, y;
        if (sscanf(p, "<circle cx=\"%lf\" cy=\"%lf\"", &x, &y) != 2) continue;
        st.n++;
        st.min_x = fmin(st.min_x, x), st.max_x = fmax(st.max_x, x);
        st.min_y = fmin(st.min_y, y), st.max_y = fmax(st.max_y, y);
    }
    return st;
}

static void check_inside_plot_area(PointStats st) {
    CHECK(st.n > 0);
    CHECK(st.min_x >= AREA_X0 - 0.05 && st.max_x <= AREA_X1 + 0.05);
    CHECK(st.min_y >= AREA_Y0 - 0.05 && st.max_y <= AREA_Y1 + 0.05);
}

/* Well-formed XML, checked by an independent parser when python3 is here. */
static void check_well_formed(const char *path) {
    if (test_system("/usr/bin/python3 -c 'import xml' 2>/dev/null") != 0) return;
    CHECK_EQ_INT(test_system("/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' %s",
                             path), 0);
}

TEST(plot_svg_lines_labels_and_gaps) {
    char *dir = test_tmpdir("plot");
    char *path = path_join(dir, "loss.svg");
    enum { N = 200 };
    double x[N], train[N], eval[N], gappy[N];
    for (int i = 0; i < N; i++) {
        x[i] = 10.0 * (i + 1);
        train[i] = 4.0 * exp(-i / 60.0) + 1.5;
        eval[i] = train[i] + 0.2;
        gappy[i] = i == 50 || i == 52 || i >= 190 ? NAN : 3.0 - i * 0.005; /* runs: 0-49, 51 alone, 53-189 */
    }
    PlotSeries series[] = {{"train", x, train, N}, {"eval <held-out> & co", x, eval, N}, {"gappy", x, gappy, N}};
    plot_svg(path, "pretraining loss", "step", "loss", series, 3, PLOT_LINEAR_Y);
    char *svg = read_file(path, NULL);
    CHECK(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    CHECK(strstr(svg, "viewBox=\"0 0 800 500\"") != NULL);
    CHECK_EQ_INT(count(svg, "<polyline"), 4); /* train, eval, and gappy's two runs of several points */
    CHECK_EQ_INT(count(svg, "<circle"), 1);   /* gappy's lone point */
    CHECK(strstr(svg, ">pretraining loss</text>") && strstr(svg, ">step</text>") && strstr(svg, ">loss</text>"));
    CHECK(strstr(svg, ">eval &lt;held-out&gt; &amp; co</text>") != NULL);
    CHECK(strstr(svg, ">train</text>") && strstr(svg, ">gappy</text>"));
    CHECK(strstr(svg, "stroke=\"#1f77b4\"") && strstr(svg, "stroke=\"#ff7f0e\"") && strstr(svg, "stroke=\"#2ca02c\""));
    CHECK(strstr(svg, ">2000</text>") != NULL); /* an x tick at the last step */
    PointStats st = plotted_points(svg);
    check_inside_plot_area(st);
    CHECK_EQ_INT(st.n, N + N + (50 + 1 + 137));
    /* The axes are fitted to the data: the curves reach across the plot. */
    CHECK(st.max_x > AREA_X1 - 1 && st.min_x < AREA_X0 + 10);
    check_well_formed(path);
    free(svg);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(plot_svg_log_axis_and_edge_cases) {
    char *dir = test_tmpdir("plot-log");
    char *path = path_join(dir, "kl.svg");
    double x[5] = {0, 1, 2, 3, 4}, y[5] = {1, 10, 100, -5, 0}; /* <= 0 cannot be shown on a log axis */
    PlotSeries s = {"kl", x, y, 5};
    plot_svg(path, "KL", "step", "KL", &s, 1, PLOT_LOG_Y);
    char *svg = read_file(path, NULL);
    CHECK(strstr(svg, ">1</text>") && strstr(svg, ">10</text>") && strstr(svg, ">100</text>"));
    CHECK_EQ_INT(count(svg, "<polyline"), 1);
    /* 10 lies halfway between 1 and 100 on a log axis. */
    double x1, y1, x10, y10, x100, y100;
    const char *points = strstr(svg, "points=\"");
    CHECK(points && sscanf(points + 8, "%lf,%lf %lf,%lf %lf,%lf", &x1, &y1, &x10, &y10, &x100, &y100) == 6);
    CHECK_NEAR(y10, (y1 + y100) / 2, 0.11);
    check_inside_plot_area(plotted_points(svg));
    free(svg);

    /* One point, a constant series, and no usable data at all. */
    double one_x = 5, one_y = 2;
    PlotSeries single = {"single", &one_x, &one_y, 1};
    plot_svg(path, "single", "step", "v", &single, 1, PLOT_LINEAR_Y);
    svg = read_file(path, NULL);
    CHECK(count(svg, "<circle") == 1 && count(svg, "<polyline") == 0);
    check_inside_plot_area(plotted_points(svg));
    free(svg);
    double nan_y[2] = {NAN, INFINITY};
    PlotSeries empty = {"nothing", x, nan_y, 2};
    plot_svg(path, "empty", "step", "v", &empty, 1, PLOT_LOG_Y);
    svg = read_file(path, NULL);
    CHECK(strstr(svg, ">no data</text>") != NULL && count(svg, "<polyline") == 0);
    free(svg);
    check_well_formed(path);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(plot_svg_stays_small_for_long_runs) {
    char *dir = test_tmpdir("plot-long");
    char *path = path_join(dir, "long.svg");
    enum { N = 100000 };
    double *x = xmalloc(N * sizeof(double)), *y = xmalloc(N * sizeof(double));
    for (int i = 0; i < N; i++) {
        x[i] = i;
        y[i] = 3.0 + sin(i * 0.7); /* noisy: each pixel column spans 2..4 */
    }
    y[N / 2] = 10.0; /* one spike must survive the thinning */
    PlotSeries s = {"loss", x, y, N};
    plot_svg(path, "long run", "step", "loss", &s, 1, PLOT_LINEAR_Y);
    size_t len;
    char *svg = read_file(path, &len);
    PointStats st = plotted_points(svg);
    CHECK(st.n <= 4 * (AREA_X1 - AREA_X0 + 1));
    CHECK(len < 64 * 1024);
    CHECK(strstr(svg, ">10</text>") != NULL); /* the y axis reaches the spike */
    CHECK_NEAR(st.min_y, AREA_Y0, 0.05);       /* and the line does too */
    free(svg);
    free(x);
    free(y);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(plot_metrics_from_a_run) {
    char *dir = test_tmpdir("plot-metrics");
    MetricsLog *m = metrics_open(dir);
    for (long step = 1; step <= 100; step++) {
        metrics_begin(m, step);
        metrics_add(m, "loss", 5.0 / sqrt((double)step));
        if (step % 10 == 0) metrics_add(m, "eval/loss", 5.5 / sqrt((double)step));
        metrics_end(m);
    }
    metrics_close(m);
    char *svg_path = path_join(dir, "loss.svg");
    plot_metrics(dir, "loss,eval/loss", svg_path, PLOT_LOG_Y);
    char *svg = read_file(svg_path, NULL);
    CHECK_EQ_INT(count(svg, "<polyline"), 2);
    CHECK(strstr(svg, ">loss</text>") && strstr(svg, ">eval/loss</text>"));
    PointStats st = plotted_points(svg);
    CHECK_EQ_INT(st.n, 100 + 10);
    check_inside_plot_area(st);
    free(svg);
    test_system("rm -rf %s", dir);
    free(svg_path);
    free(dir);
}

TEST(plot_legend_avoids_the_curves) {
    char *dir = test_tmpdir("plot-legend");
    char *path = path_join(dir, "legend.svg");
    enum { N = 100 };
    double x[N], rising[N], falling[N];
    for (int i = 0; i < N; i++) x[i] = i, rising[i] = i, falling[i] = N - i;
    const char *top_left = "<rect x=\"90\" y=\"60\"";
    PlotSeries up = {"kl", x, rising, N}, down = {"loss", x, falling, N};
    plot_svg(path, "rising", "step", "kl", &up, 1, PLOT_LINEAR_Y);
    char *svg = read_file(path, NULL);
    CHECK(strstr(svg, top_left) != NULL); /* the top right is where the curve ends */
    free(svg);
    plot_svg(path, "falling", "step", "loss", &down, 1, PLOT_LINEAR_Y);
    svg = read_file(path, NULL);
    CHECK(strstr(svg, "<rect x=\"688\" y=\"60\" width=\"72\" height=\"28\"") != NULL); /* top right */
    free(svg);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}
