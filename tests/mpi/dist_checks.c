/* dist_checks.c — checks of the communication layer and of what is built on
 * it (sharded AdamW, gradient sums overlapped with backward), run under
 * mpirun by tests/test_mpi.c:
 *
 *   mpirun -np 3 build/mpi-dist-checks          every check; rank 0 prints
 *                                               "dist checks: N failed" and
 *                                               the exit status is 0 if none
 *   mpirun -np 2 build/mpi-dist-checks die      rank 1 dies while rank 0
 *                                               waits: the job must stop
 *
 * Each rank computes what the result must be from the rank count alone
 * (every rank's data is a known function of its rank), so no rank needs
 * another's data to check its own result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/dist.h"
#include "../../src/base/rng.h"
#include "../../src/base/util.h"
#include "../../src/model/model.h"
#include "../../src/train/grad_sync.h"
#include "../../src/train/lm_loss.h"
#include "../../src/train/optimizer.h"

static int failures;

#define EXPECT(cond, ...)                                                       \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "rank %d: %s:%d: ", dist_rank(), __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static void check_split_range(void) {
    for (size_t n = 0; n < 12; n++)
        for (int size = 1; size <= 5; size++) {
            size_t expected_begin = 0;
            for (int r = 0; r < size; r++) {
                DistRange piece = dist_split_range(n, r, size);
                size_t len = piece.end - piece.begin;
                EXPECT(piece.begin == expected_begin, "split of %zu over %d: rank %d starts at %zu", n, size, r,
                       piece.begin);
                EXPECT(len == n / size || len == n / size + 1, "split of %zu over %d: rank %d has %zu", n, size, r, len);
                expected_begin = piece.end;
            }
            EXPECT(expected_begin == n, "split of %zu over %d ends at %zu", n, size, expected_begin);
        }
}

static void check_sums_and_broadcast(void) {
    const int R = dist_size(), me = dist_rank();
    const size_t n = 1000;
    float *x = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(me + 1) + (float)i;
    dist_sum_floats(x, n);
    for (size_t i = 0; i < n; i++)
        if (x[i] != (float)(R * (R + 1) / 2) + (float)(R * i)) {
            EXPECT(0, "all-reduce: x[%zu] = %g", i, x[i]);
            break;
        }
    double d[2] = {me, 0.5};
    dist_sum_doubles(d, 2);
    EXPECT(d[0] == R * (R - 1) / 2 && d[1] == 0.5 * R, "sum of doubles: %g %g", d[0], d[1]);
    char word[16] = "not yet";
    if (dist_is_root()) strcpy(word, "from root");
    dist_broadcast(word, sizeof word);
    EXPECT(strcmp(word, "from root") == 0, "broadcast gave \"%s\"", word);
    free(x);
}

/* bounds with an empty piece for rank 1 (when there is one) and uneven others. */
static void uneven_bounds(size_t *bounds, size_t n) {
    const int R = dist_size();
    bounds[0] = 0;
    for (int r = 1; r < R; r++) bounds[r] = r == 2 ? bounds[1] : LMF_MIN(n, bounds[r - 1] + 7 * (size_t)r + 3);
    bounds[R] = n;
}

static void check_reduce_scatter_and_allgather(int non_blocking) {
    const int R = dist_size(), me = dist_rank();
    const size_t n = 101;
    size_t *bounds = xmalloc(sizeof(size_t) * (size_t)(R + 1));
    uneven_bounds(bounds, n);
    float *x = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((me + 1) * i);
    if (non_blocking) {
        DistRequest *r = dist_reduce_scatter_floats_start(x, bounds);
        dist_progress(&r, 1);
        dist_wait(r);
    } else {
        dist_reduce_scatter_floats(x, bounds);
    }
    for (size_t i = bounds[me]; i < bounds[me + 1]; i++)
        if (x[i] != (float)(i * R * (R + 1) / 2)) {
            EXPECT(0, "reduce-scatter (%s): x[%zu] = %g", non_blocking ? "non-blocking" : "blocking", i, x[i]);
            break;
        }
    /* all-gather: each rank fills its piece with its rank */
    for (size_t i = 0; i < n; i++) x[i] = i >= bounds[me] && i < bounds[me + 1] ? (float)me : -1.0f;
    dist_allgather_floats(x, bounds);
    for (int r = 0; r < R; r++)
        for (size_t i = bounds[r]; i < bounds[r + 1]; i++)
            if (x[i] != (float)r) {
                EXPECT(0, "all-gather: x[%zu] = %g, rank %d's", i, x[i], r);
                r = R;
                break;
            }
    free(x);
    free(bounds);
}

static void check_non_blocking_sum(void) {
    const int R = dist_size(), me = dist_rank();
    const size_t n = 3000;
    float *a = xalloc_floats(n), *b = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) a[i] = (float)me, b[i] = 1.0f;
    DistRequest *requests[2] = {dist_sum_floats_start(a, n), dist_sum_floats_start(b, n)};
    dist_progress(requests, 2);
    dist_wait(requests[1]);
    dist_wait(requests[0]);
    EXPECT(a[n - 1] == (float)(R * (R - 1) / 2) && b[0] == (float)R, "non-blocking sums: %g %g", a[n - 1], b[0]);
    free(a);
    free(b);
}

/* Sums large enough that the ring sends each piece in several parts
 * (dist.c's RING_PART is 2^20 values), with uneven pieces. */
static void check_large_ring_sums(void) {
    const int R = dist_size(), me = dist_rank();
    const size_t n = 3 * ((size_t)1 << 20) + 12345;
    float *x = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((me + 1) * (int)(i % 1000));
    dist_wait(dist_sum_floats_start(x, n));
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += x[i] != (float)(R * (R + 1) / 2 * (int)(i % 1000));
    EXPECT(wrong == 0, "large all-reduce: %zu values wrong", wrong);

    size_t *bounds = xmalloc(sizeof(size_t) * (size_t)(R + 1));
    dist_split_bounds(n, bounds);
    if (R > 1) bounds[1] += n / (2 * (size_t)R); /* rank 0's piece half as long again as the rest */
    for (size_t i = 0; i < n; i++) x[i] = (float)((me + 1) * (int)(i % 1000));
    dist_wait(dist_reduce_scatter_floats_start(x, bounds));
    wrong = 0;
    for (size_t i = bounds[me]; i < bounds[me + 1]; i++) wrong += x[i] != (float)(R * (R + 1) / 2 * (int)(i % 1000));
    EXPECT(wrong == 0, "large reduce-scatter: %zu values of this rank's piece wrong", wrong);
    free(bounds);
    free(x);
}

static void check_allgather_bytes(void) {
    const int R = dist_size(), me = dist_rank();
    /* rank r sends 2r bytes of the letter 'a' + r: rank 0 sends nothing */
    char mine[64];
    memset(mine, 'a' + me, sizeof mine);
    size_t total, *lens = xmalloc(sizeof(size_t) * (size_t)R);
    char *all = dist_allgather_bytes(mine, 2 * (size_t)me, &total, lens);
    size_t expected_total = (size_t)R * (R - 1), at = 0;
    EXPECT(total == expected_total, "gathered %zu bytes, expected %zu", total, expected_total);
    for (int r = 0; r < R && total == expected_total; r++) {
        EXPECT(lens[r] == 2 * (size_t)r, "rank %d's length %zu", r, lens[r]);
        for (size_t i = 0; i < lens[r]; i++, at++) EXPECT(all[at] == 'a' + r, "byte %zu is '%c'", at, all[at]);
    }
    free(all);
    free(lens);
}

typedef struct {
    size_t next;
    int wrong;
} StreamCheck;

static void consume_in_order(void *ctx, const float *piece, size_t count) {
    StreamCheck *c = ctx;
    for (size_t i = 0; i < count; i++, c->next++) c->wrong += piece[i] != (float)c->next;
}

static void check_stream_to_root(void) {
    const size_t n = 1001;
    DistRange mine = dist_split_range(n, dist_rank(), dist_size());
    float *piece = xalloc_floats(mine.end - mine.begin);
    for (size_t i = mine.begin; i < mine.end; i++) piece[i - mine.begin] = (float)i;
    StreamCheck c = {0, 0};
    dist_stream_to_root(piece, n, consume_in_order, &c);
    if (dist_is_root()) EXPECT(c.next == n && c.wrong == 0, "streamed %zu values, %d out of place", c.next, c.wrong);
    free(piece);
}

static void check_mean_std(void) {
    const int R = dist_size(), me = dist_rank();
    /* rank r holds r values 10r + j (rank 0 none); the mean and std over all of them */
    float mine[16];
    for (int j = 0; j < me; j++) mine[j] = (float)(10 * me + j);
    double sum = 0, count = 0, squares = 0;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < r; j++) sum += 10 * r + j, count++;
    double mean_expected = count ? sum / count : 0;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < r; j++) squares += (10 * r + j - mean_expected) * (10 * r + j - mean_expected);
    double std_expected = count ? sqrt(squares / count) : 0, mean, std;
    dist_mean_std(mine, (size_t)me, &mean, &std);
    EXPECT(fabs(mean - mean_expected) < 1e-9 && fabs(std - std_expected) < 1e-9, "mean %g std %g, expected %g %g",
           mean, std, mean_expected, std_expected);
}

/* Three tensors of odd sizes, so the shards of 2 or 3 ranks cut through
 * them; only the middle one has weight decay. */
static const ParamTensor odd_tensors[3] = {
    {"a.weight", 0, 37, 0, 0}, {"b.weight", 37, 5, 11, 1}, {"c.bias", 92, 29, 0, 0}};
#define ODD_N 121

/* A sharded AdamW, fed the reduce-scattered sum of every rank's gradients,
 * takes the same steps as a full one fed the full sum; its moments, saved
 * and loaded back whole, are the full optimizer's. */
static void check_sharded_adamw(const char *dir) {
    const int R = dist_size(), me = dist_rank();
    OptimConfig oc = optim_defaults();
    oc.lr = 1e-2f;
    oc.grad_clip = 0.5f; /* below the gradients' norm: clipping happens */
    float *p_full = xalloc_floats(ODD_N), *p_shard = xalloc_floats(ODD_N);
    float *g_full = xalloc_floats(ODD_N), *g_shard = xalloc_floats(ODD_N);
    for (size_t i = 0; i < ODD_N; i++) p_full[i] = p_shard[i] = 0.1f * (float)(i % 13) - 0.5f;
    AdamW *full = adamw_new(ODD_N, &oc), *shard = adamw_new_sharded(ODD_N, &oc);
    ParamSet ps_full = {p_full, g_full, ODD_N, odd_tensors, 3}, ps_shard = {p_shard, g_shard, ODD_N, odd_tensors, 3};
    size_t *bounds = xmalloc(sizeof(size_t) * (size_t)(R + 1));
    dist_split_bounds(ODD_N, bounds);
    for (int step = 0; step < 4; step++) {
        /* multiples of 1/64: the sums are exact in any order, so both optimizers see the same gradient */
        for (size_t i = 0; i < ODD_N; i++) {
            g_shard[i] = (float)((i * 7 + (size_t)step * 3 + (size_t)me) % 17) / 64 - 0.125f;
            g_full[i] = 0;
            for (int r = 0; r < R; r++) g_full[i] += (float)((i * 7 + (size_t)step * 3 + (size_t)r) % 17) / 64 - 0.125f;
        }
        dist_reduce_scatter_floats(g_shard, bounds);
        float norm_full = adamw_step(full, &ps_full, oc.lr), norm_shard = adamw_step(shard, &ps_shard, oc.lr);
        EXPECT(fabsf(norm_full - norm_shard) < 1e-5f * norm_full, "step %d: norms %g and %g", step, norm_full,
               norm_shard);
    }
    EXPECT(max_abs_diff(p_full, p_shard, ODD_N) < 1e-7, "sharded AdamW parameters differ by %g",
           max_abs_diff(p_full, p_shard, ODD_N));
    EXPECT(shard->n == bounds[me + 1] - bounds[me], "the shard holds %zu moments", shard->n);

    char *path = xsprintf("%s/optimizer-%d.safetensors", dir, R);
    adamw_save(shard, path);
    dist_barrier(); /* rank 0 has written it */
    AdamW *whole = adamw_new(ODD_N, &oc);
    adamw_load(whole, path);
    EXPECT(max_abs_diff(whole->m, full->m, ODD_N) < 1e-7 && max_abs_diff(whole->v, full->v, ODD_N) < 1e-7,
           "moments saved by %d shards differ from the full optimizer's", R);
    free(path);
    free(bounds);
    adamw_free(whole);
    adamw_free(full);
    adamw_free(shard);
    free(p_full);
    free(p_shard);
    free(g_full);
    free(g_shard);
}

/* Each rank's gradients of a tiny model on its own tokens; then the sum
 * through GradSync (armed, so that layers start during backward) must equal
 * a plain all-reduce of the same gradients, all of them or the shard. With
 * idle_last_rank the last rank has no micro-batch (a short last step): it
 * runs no backward pass and must still take part in every sum. */
static void check_grad_sync(int sharded, int idle_last_rank) {
    const int me = dist_rank(), idle = idle_last_rank && me == dist_size() - 1;
    ModelConfig c = config_default(50, 16, 3, 2);
    c.max_seq_len = 8;
    c.tie_embeddings = sharded; /* both layouts: tied, and with a separate head after the layers */
    Model *m = model_new(&c);
    model_init_random(m, 5);
    model_alloc_grads(m);
    int tokens[16], targets[16];
    for (int i = 0; i < 16; i++) tokens[i] = (i * 7 + me * 13) % 50, targets[i] = (i * 11 + me * 3 + 1) % 50;
    ParamSet ps = model_param_set(m);
    OptimConfig oc = optim_defaults();
    AdamW *opt = sharded ? adamw_new_sharded(ps.n, &oc) : adamw_new(ps.n, &oc);
    GradSync *sync = grad_sync_new(m, &ps, opt);

    model_zero_grads(m);
    if (!idle) {
        model_forward(m, tokens, NULL, 2, 8, 1);
        lm_loss_sum_and_grad(m, targets, 16, NULL);
        model_backward(m);
    }
    float *expected = xalloc_floats(ps.n);
    memcpy(expected, ps.grads, sizeof(float) * ps.n);
    dist_sum_floats(expected, ps.n);

    model_zero_grads(m);
    if (!idle) {
        model_forward(m, tokens, NULL, 2, 8, 1);
        lm_loss_sum_and_grad(m, targets, 16, NULL);
        grad_sync_arm(sync);
        model_backward(m);
    }
    grad_sync_finish(sync);
    double diff = max_abs_diff(ps.grads + opt->begin, expected + opt->begin, opt->n);
    EXPECT(diff < 1e-6, "GradSync (%s%s) differs from an all-reduce by %g", sharded ? "sharded" : "full",
           idle_last_rank ? ", last rank idle" : "", diff);
    free(expected);
    grad_sync_free(sync);
    adamw_free(opt);
    model_free(m);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (argc > 1 && strcmp(argv[1], "die") == 0) {
        if (dist_rank() == 1) die("rank 1 stops on purpose");
        dist_barrier(); /* never returns: rank 1 is not coming */
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    check_split_range();
    check_sums_and_broadcast();
    check_reduce_scatter_and_allgather(0);
    check_reduce_scatter_and_allgather(1);
    check_non_blocking_sum();
    check_large_ring_sums();
    check_allgather_bytes();
    check_stream_to_root();
    check_mean_std();
    check_sharded_adamw(dir);
    for (int sharded = 0; sharded <= 1; sharded++)
        for (int idle_last_rank = 0; idle_last_rank <= 1; idle_last_rank++) check_grad_sync(sharded, idle_last_rank);
    double total = failures;
    dist_sum_doubles(&total, 1);
    if (dist_is_root()) printf("dist checks on %d ranks: %d failed\n", dist_size(), (int)total);
    return total == 0 ? 0 : 1;
}
