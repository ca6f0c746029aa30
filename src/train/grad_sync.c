/* grad_sync.c — see grad_sync.h. */
#include "grad_sync.h"

#include <stdlib.h>
#include <string.h>

#include "../base/dist.h"
#include "../base/util.h"

typedef struct {
    size_t begin, end;    /* floats of the gradient buffer */
    size_t *bounds;       /* ZeRO-1: (size + 1) the bucket cut along the optimizer shards */
    DistRequest *request; /* started and not yet finished, or NULL */
    int started;
} Bucket;

struct GradSync {
    Model *model;
    float *grads;
    int sharded;
    int overlap;          /* start layer buckets during the backward pass */
    int armed;            /* the backward pass now running is this rank's last of the step */
    int n_layers;         /* the first n_layers buckets are the layers' (index = layer), possibly empty */
    Bucket *buckets;
    int n_buckets;
};

/* The range [begin, end) of layer l's tensors in ps, or an empty range if it
 * has none; returns 0 if other tensors lie inside that range. */
static int layer_range(const ParamSet *ps, int l, size_t *begin, size_t *end) {
    char tag[32];
    snprintf(tag, sizeof tag, ".layers.%d.", l);
    size_t lo = SIZE_MAX, hi = 0, inside = 0;
    for (int i = 0; i < ps->n_tensors; i++) {
        const ParamTensor *t = &ps->tensors[i];
        if (!strstr(t->name, tag)) continue;
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        lo = LMF_MIN(lo, t->offset);
        hi = LMF_MAX(hi, t->offset + n);
        inside += n;
    }
    if (lo == SIZE_MAX) lo = hi = 0;
    *begin = lo;
    *end = hi;
    return inside == hi - lo;
}

static void add_bucket(GradSync *g, size_t begin, size_t end) {
    g->buckets = xrealloc(g->buckets, sizeof(Bucket) * (size_t)(g->n_buckets + 1));
    g->buckets[g->n_buckets++] = (Bucket){begin, end, NULL, NULL, 0};
}

static int compare_buckets(const void *a, const void *b) {
    const Bucket *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Layer buckets first (when every layer is contiguous), then the gaps
 * between them, so that the buckets cover [0, n) exactly once. */
static void make_buckets(GradSync *g, const ParamSet *ps, int n_layers) {
    int contiguous = 1;
    for (int l = 0; l < n_layers; l++) {
        size_t begin, end;
        contiguous &= layer_range(ps, l, &begin, &end);
        add_bucket(g, begin, end);
    }
    if (!contiguous) g->n_buckets = 0;
    g->n_layers = g->n_buckets;
    Bucket *sorted = xmalloc(sizeof(Bucket) * (size_t)(g->n_layers + 1));
    memcpy(sorted, g->buckets, sizeof(Bucket) * (size_t)g->n_layers);
    qsort(sorted, (size_t)g->n_layers, sizeof(Bucket), compare_buckets);
    size_t covered = 0;
    for (int i = 0; i < g->n_layers; i++) {
        if (sorted[i].begin > covered) add_bucket(g, covered, sorted[i].begin);
        covered = LMF_MAX(covered, sorted[i].end);
    }
    if (covered < ps->n) add_bucket(g, covered, ps->n);
    free(sorted);
}

/* Bucket b's piece of each rank's optimizer shard, relative to b. */
static void cut_along_shards(Bucket *b, size_t n_params) {
    int size = dist_size();
    b->bounds = xmalloc(sizeof(size_t) * ((size_t)size + 1));
    for (int r = 0; r <= size; r++) {
        size_t shard_begin = r < size ? dist_split_range(n_params, r, size).begin : n_params;
        b->bounds[r] = LMF_MIN(LMF_MAX(shard_begin, b->begin), b->end) - b->begin;
    }
}

static void start_bucket(GradSync *g, Bucket *b) {
    b->started = 1;
    if (b->end == b->begin) return;
    b->request = g->sharded ? dist_reduce_scatter_floats_start(g->grads + b->begin, b->bounds)
                            : dist_sum_floats_start(g->grads + b->begin, b->end - b->begin);
}

/* Moves the sums already started on to their next ring steps: they advance
 * only when asked (dist.h), so each finished layer asks for all of them. */
static void progress_started(GradSync *g) {
    for (int i = 0; i < g->n_buckets; i++) dist_progress(&g->buckets[i].request, 1);
}

static void on_layer_grads(void *ctx, int layer) {
    GradSync *g = ctx;
    if (!g->armed || !g->overlap || layer >= g->n_layers) return;
    start_bucket(g, &g->buckets[layer]);
    progress_started(g);
}

GradSync *grad_sync_new(Model *m, const ParamSet *ps, const AdamW *opt) {
    GradSync *g = xcalloc(1, sizeof *g);
    g->model = m;
    g->grads = ps->grads;
    g->sharded = opt->sharded;
    const char *env = getenv("LMF_OVERLAP");
    g->overlap = !(env && strcmp(env, "0") == 0);
    if (dist_size() == 1) return g;
    make_buckets(g, ps, m->cfg.n_layers);
    if (g->sharded)
        for (int i = 0; i < g->n_buckets; i++) cut_along_shards(&g->buckets[i], ps->n);
    m->on_layer_grads = on_layer_grads;
    m->on_layer_grads_ctx = g;
    return g;
}

void grad_sync_arm(GradSync *g) { g->armed = 1; }

/* The i-th bucket in the order every rank starts (and finishes) them: the
 * layers from the top down, then the rest. */
static Bucket *bucket_in_order(GradSync *g, int i) {
    return i < g->n_layers ? &g->buckets[g->n_layers - 1 - i] : &g->buckets[i];
}

double grad_sync_finish(GradSync *g) {
    double t0 = now_seconds();
    for (int i = 0; i < g->n_buckets; i++)
        if (!bucket_in_order(g, i)->started) start_bucket(g, bucket_in_order(g, i));
    for (int i = 0; i < g->n_buckets; i++) {
        Bucket *b = bucket_in_order(g, i);
        dist_wait(b->request);
        b->request = NULL;
        b->started = 0;
    }
    g->armed = 0;
    return now_seconds() - t0;
}

void grad_sync_free(GradSync *g) {
    if (!g) return;
    if (g->model->on_layer_grads_ctx == g) {
        g->model->on_layer_grads = NULL;
        g->model->on_layer_grads_ctx = NULL;
    }
    for (int i = 0; i < g->n_buckets; i++) free(g->buckets[i].bounds);
    free(g->buckets);
    free(g);
}
