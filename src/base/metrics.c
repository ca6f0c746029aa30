/* metrics.c — see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "util.h"

typedef struct {
    char *key;
    double sum;
    long count;
} MetricValue;

struct MetricsLog {
    char *path;
    FILE *f;
    long step;
    int in_step;
    MetricValue *values; /* this step's, in the order first added */
    int n_values, cap_values;
};

static MetricsLog *open_log(const char *run_dir, const char *mode) {
    make_dirs(run_dir);
    MetricsLog *m = xcalloc(1, sizeof *m);
    m->path = path_join(run_dir, "metrics.jsonl");
    m->f = xfopen(m->path, mode);
    return m;
}

MetricsLog *metrics_open(const char *run_dir) { return open_log(run_dir, "w"); }

/* Rewrites path (atomically) without the lines of steps after last_step.
 * Lines that do not parse are the torn end of a crashed write: dropped too. */
static void keep_steps_up_to(const char *path, long last_step) {
    FILE *in = xfopen(path, "rb");
    AtomicFile out = atomic_open(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int torn = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        cJSON *json = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(json, "step");
        if (!cJSON_IsObject(json)) torn++;
        else if (!cJSON_IsNumber(step) || step->valuedouble <= (double)last_step) {
            fputs(line, out.f);
            if (line[len - 1] != '\n') fputc('\n', out.f);
        }
        cJSON_Delete(json);
    }
    if (ferror(in)) die_errno("cannot read %s", path);
    if (torn) warn("%s: dropped %d unreadable line%s (cut short by a crash?)", path, torn, torn > 1 ? "s" : "");
    free(line);
    fclose(in);
    atomic_commit(&out);
}

MetricsLog *metrics_open_resume(const char *run_dir, long last_step) {
    char *path = path_join(run_dir, "metrics.jsonl");
    if (file_exists(path)) keep_steps_up_to(path, last_step);
    free(path);
    return open_log(run_dir, "a");
}

void metrics_begin(MetricsLog *m, long step) {
    if (m->in_step) die("metrics_begin(%ld): step %ld has not ended", step, m->step);
    m->step = step;
    m->in_step = 1;
}

void metrics_add(MetricsLog *m, const char *key, double value) {
    if (!m->in_step) die("metrics_add(\"%s\") outside metrics_begin/metrics_end", key);
    for (int i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].key, key) == 0) {
            m->values[i].sum += value;
            m->values[i].count++;
            return;
        }
    if (m->n_values == m->cap_values) {
        m->cap_values = m->cap_values ? 2 * m->cap_values : 16;
        m->values = xrealloc(m->values, (size_t)m->cap_values * sizeof(MetricValue));
    }
    m->values[m->n_values++] = (MetricValue){xstrdup(key), value, 1};
}

void metrics_end(MetricsLog *m) {
    if (!m->in_step) die("metrics_end without metrics_begin");
    fprintf(m->f, "{\"step\":%ld", m->step);
    for (int i = 0; i < m->n_values; i++) {
        double mean = m->values[i].sum / (double)m->values[i].count;
        fputc(',', m->f);
        json_fprint_string(m->f, m->values[i].key);
        /* %.9g prints every float exactly, and doubles close enough for a log. */
        if (isfinite(mean)) fprintf(m->f, ":%.9g", mean);
        else fputs(":null", m->f);
        free(m->values[i].key);
    }
    fputs("}\n", m->f);
    if (fflush(m->f) != 0) die_errno("cannot write %s", m->path);
    m->n_values = 0;
    m->in_step = 0;
}

void metrics_close(MetricsLog *m) {
    if (!m) return;
    if (m->in_step) metrics_end(m);
    if (fclose(m->f) != 0) die_errno("cannot write %s", m->path);
    free(m->values);
    free(m->path);
    free(m);
}

int metrics_read_series(const char *path, const char *key, double **steps, double **values) {
    int n = 0, cap = 256, line_no = 0;
    *steps = xmalloc((size_t)cap * sizeof(double));
    *values = xmalloc((size_t)cap * sizeof(double));
    FILE *f = xfopen(path, "rb");
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if (line[len - 1] != '\n') break; /* a live run is still writing this line */
        cJSON *json = cJSON_Parse(line);
        if (!cJSON_IsObject(json)) die("%s:%d: not a JSON object", path, line_no);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(json, "step");
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
        if (item) {
            if (!cJSON_IsNumber(step)) die("%s:%d: field \"step\" is missing or not a number", path, line_no);
            if (!cJSON_IsNumber(item) && !cJSON_IsNull(item))
                die("%s:%d: field \"%s\" must be a number", path, line_no, key);
            if (n == cap) {
                cap *= 2;
                *steps = xrealloc(*steps, (size_t)cap * sizeof(double));
                *values = xrealloc(*values, (size_t)cap * sizeof(double));
            }
            (*steps)[n] = step->valuedouble;
            (*values)[n] = cJSON_IsNumber(item) ? item->valuedouble : NAN;
            n++;
        }
        cJSON_Delete(json);
    }
    if (ferror(f)) die_errno("cannot read %s", path);
    free(line);
    fclose(f);
    return n;
}
