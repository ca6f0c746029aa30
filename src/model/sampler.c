/* sampler.c — temperature, top-k and top-p sampling; see sampler.h.
 *
 * The logits become unnormalised probabilities p_i = exp((z_i − max z)/T) in
 * place; a token cut by top-k or top-p gets p_i = 0. The draw is then one
 * uniform number u·Σp and a walk in id order to where the running sum passes
 * it. Sums are in double: a 32000-word vocabulary in float would lose the
 * small probabilities. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/fastmath.h"

void sampler_check(const SamplerParams *p) {
    if (!(p->temperature >= 0) || !isfinite(p->temperature))
        die("temperature must be a number >= 0 (0 is greedy), got %g", (double)p->temperature);
    if (p->top_k < 0) die("top-k must be >= 0 (0 is off), got %d", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1)) die("top-p must be in (0, 1] (1 is off), got %g", (double)p->top_p);
}

static float median3(float a, float b, float c) {
    if (a > b) { float t = a; a = b; b = t; }
    if (b > c) b = c;
    return a > b ? a : b;
}

/* The largest value τ of a[0..n) such that the elements >= τ weigh at least
 * `target`, where an element weighs 1 (by_mass = 0: τ is the target-th
 * largest value) or its own value (by_mass = 1: the edge of the nucleus).
 * A quickselect with a three-way partition, so ties never split; a is
 * permuted. Needs target > 0; returns the smallest value if all of a weighs
 * less (rounding). */
static float select_threshold(float *a, int n, double target, int by_mass) {
    int lo = 0, hi = n;  /* undecided: a[lo..hi) */
    double taken = 0;    /* weight of the elements above all undecided ones */
    for (;;) {
        float pivot = median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]);
        /* a[lo..gt) > pivot, a[gt..lt) == pivot, a[lt..hi) < pivot */
        int gt = lo, i = lo, lt = hi;
        while (i < lt) {
            float x = a[i];
            if (x > pivot) { a[i++] = a[gt]; a[gt++] = x; }
            else if (x < pivot) { a[i] = a[--lt]; a[lt] = x; }
            else i++;
        }
        double w_gt = 0, w_eq = by_mass ? (double)pivot * (lt - gt) : (double)(lt - gt);
        for (int j = lo; j < gt; j++) w_gt += by_mass ? (double)a[j] : 1.0;
        if (taken + w_gt >= target) hi = gt; /* the edge is above the pivot */
        else if (taken + w_gt + w_eq >= target || lt == hi) return pivot;
        else {
            taken += w_gt + w_eq;
            lo = lt;
        }
    }
}

/* Sets p_i = 0 for every p_i below the threshold. */
static void cut_below(float *p, int V, float threshold) {
    for (int i = 0; i < V; i++)
        if (p[i] < threshold) p[i] = 0;
}

/* The first index of the largest value: a vectorised max, then a search for it. */
static int argmax(const float *x, int n) {
    float max = x[0];
#pragma omp simd reduction(max : max)
    for (int i = 1; i < n; i++) max = max_f(max, x[i]);
    int best = 0;
    while (best < n - 1 && x[best] != max) best++; /* the bound only matters for NaN logits */
    return best;
}

int sample_token(float *logits, int V, const SamplerParams *sp, Rng *rng, float *logprob) {
    int best = argmax(logits, V);
    if (sp->temperature == 0) {
        if (logprob) *logprob = 0;
        return best;
    }
    float *p = logits, max = logits[best], inv_t = 1.0f / sp->temperature;
    for (int i = 0; i < V; i++) p[i] = fast_expf((logits[i] - max) * inv_t);
    int cut_k = sp->top_k > 0 && sp->top_k < V, cut_p = sp->top_p < 1;
    if (cut_k || cut_p) {
        float *scratch = xmalloc(sizeof(float) * (size_t)V);
        /* exp is monotonic, so the k largest probabilities belong to the k largest logits */
        if (cut_k) {
            memcpy(scratch, p, sizeof(float) * (size_t)V);
            cut_below(p, V, select_threshold(scratch, V, sp->top_k, 0));
        }
        if (cut_p) {
            double total = 0;
            for (int i = 0; i < V; i++) total += p[i];
            memcpy(scratch, p, sizeof(float) * (size_t)V);
            cut_below(p, V, select_threshold(scratch, V, sp->top_p * total, 1));
        }
        free(scratch);
    }
    double total = 0;
    for (int i = 0; i < V; i++) total += p[i];
    double u = rng_uniform_double(rng) * total, sum = 0;
    int chosen = best; /* the most probable token is never cut; it also catches rounding at the end */
    for (int i = 0; i < V; i++) {
        if (p[i] == 0) continue;
        sum += p[i];
        if (u < sum) {
            chosen = i;
            break;
        }
    }
    if (logprob) *logprob = (float)log(p[chosen] / total);
    return chosen;
}
