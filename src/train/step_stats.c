/* step_stats.c — see step_stats.h. */
#include "step_stats.h"

#include <math.h>
#include <string.h>

#include "../base/util.h"

void stats_clear(StepStats *s) { s->n = 0; }

/* The index of `name`, added with no values if new. */
static int slot(StepStats *s, const char *name) {
    int i = 0;
    while (i < s->n && strcmp(s->names[i], name) != 0) i++;
    if (i == s->n) {
        if (s->n == STEP_STATS_MAX) die("too many step statistics (adding %s)", name);
        snprintf(s->names[i], sizeof s->names[i], "%s", name);
        s->sum[i] = 0;
        s->count[i] = 0;
        s->n++;
    }
    return i;
}

void stats_add(StepStats *s, const char *name, double value) {
    int i = slot(s, name);
    s->sum[i] += value;
    s->count[i]++;
}

void stats_merge(StepStats *into, const StepStats *from) {
    for (int j = 0; j < from->n; j++) {
        int i = slot(into, from->names[j]);
        into->sum[i] += from->sum[j];
        into->count[i] += from->count[j];
    }
}

double stats_mean(const StepStats *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return s->sum[i] / (double)s->count[i];
    return NAN;
}
