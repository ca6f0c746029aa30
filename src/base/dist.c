/* dist.c — see dist.h. The helpers built on the primitives come first; then
 * the primitives twice: with MPI (LMF_MPI, `make mpi`) and for one process. */
#include "dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

DistRange dist_split_range(size_t n, int rank, int size) {
    size_t base = n / (size_t)size, extra = n % (size_t)size, r = (size_t)rank;
    size_t begin = r * base + LMF_MIN(r, extra);
    return (DistRange){begin, begin + base + (r < extra)};
}

void dist_split_bounds(size_t n, size_t *bounds) {
    int size = dist_size();
    for (int r = 0; r < size; r++) bounds[r] = dist_split_range(n, r, size).begin;
    bounds[size] = n;
}

/* Both are one barrier: the other ranks wait at the first, rank 0 joins them at the second. */
void dist_root_first_begin(void) {
    if (!dist_is_root()) dist_barrier();
}

void dist_root_first_end(void) {
    if (dist_is_root()) dist_barrier();
}

void dist_mean_std(const float *x, size_t n, double *mean, double *std) {
    double sum_count[2] = {0, (double)n};
    for (size_t i = 0; i < n; i++) sum_count[0] += x[i];
    dist_sum_doubles(sum_count, 2);
    double count = sum_count[1], mu = count > 0 ? sum_count[0] / count : 0;
    double squares = 0;
    for (size_t i = 0; i < n; i++) squares += ((double)x[i] - mu) * ((double)x[i] - mu);
    dist_sum_doubles(&squares, 1);
    *mean = mu;
    *std = count > 0 ? sqrt(squares / count) : 0;
}

#ifdef LMF_MPI

#include <limits.h>
#include <mpi.h>

/* MPI counts are ints: larger transfers go in chunks of this many values. */
#define CHUNK ((size_t)1 << 24)

static int world_rank = 0, world_size = 1;

static void abort_job(void) { MPI_Abort(MPI_COMM_WORLD, 1); }

/* At exit (also exit(0) after --help): a rank that leaves without
 * MPI_Finalize makes mpirun report the job as failed. */
static void leave_job(void) { MPI_Finalize(); }

void dist_init(int *argc, char ***argv) {
    /* OpenMP threads compute, but only the main thread calls MPI */
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    atexit(leave_job);
    lmf_on_die = abort_job;
    if (world_rank != 0) lmf_quiet = 1;
}

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }
int dist_is_root(void) { return world_rank == 0; }

static int as_count(size_t n, const char *what) {
    if (n > INT_MAX) die("%s: %zu values are more than one MPI call can carry", what, n);
    return (int)n;
}

void dist_barrier(void) { MPI_Barrier(MPI_COMM_WORLD); }

void dist_broadcast(void *data, size_t bytes) {
    for (size_t i = 0; i < bytes; i += CHUNK)
        MPI_Bcast((char *)data + i, (int)LMF_MIN(CHUNK, bytes - i), MPI_BYTE, 0, MPI_COMM_WORLD);
}

void dist_sum_doubles(double *x, size_t n) {
    for (size_t i = 0; i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)LMF_MIN(CHUNK, n - i), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void dist_sum_floats(float *x, size_t n) {
    for (size_t i = 0; i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)LMF_MIN(CHUNK, n - i), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

struct DistRequest {
    MPI_Request request;
    int *counts;       /* (size) reduce-scatter: each rank's piece; MPI reads it until completion */
    float *received;   /* reduce-scatter: this rank's summed piece... */
    float *piece;      /* ...and where it belongs */
    size_t piece_size;
};

DistRequest *dist_sum_floats_start(float *x, size_t n) {
    DistRequest *r = xcalloc(1, sizeof *r);
    MPI_Iallreduce(MPI_IN_PLACE, x, as_count(n, "all-reduce"), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r->request);
    return r;
}

DistRequest *dist_reduce_scatter_floats_start(float *x, const size_t *bounds) {
    DistRequest *r = xcalloc(1, sizeof *r);
    r->counts = xmalloc(sizeof(int) * (size_t)world_size);
    for (int i = 0; i < world_size; i++) r->counts[i] = as_count(bounds[i + 1] - bounds[i], "reduce-scatter");
    r->piece = x + bounds[world_rank];
    r->piece_size = bounds[world_rank + 1] - bounds[world_rank];
    r->received = xalloc_floats(r->piece_size);
    MPI_Ireduce_scatter(x, r->received, r->counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r->request);
    return r;
}

void dist_progress(DistRequest **requests, int n) {
    for (int i = 0; i < n; i++) {
        int done;
        if (requests[i]) MPI_Test(&requests[i]->request, &done, MPI_STATUS_IGNORE);
    }
}

void dist_wait(DistRequest *r) {
    if (!r) return;
    MPI_Wait(&r->request, MPI_STATUS_IGNORE);
    if (r->received) memcpy(r->piece, r->received, sizeof(float) * r->piece_size);
    free(r->received);
    free(r->counts);
    free(r);
}

void dist_reduce_scatter_floats(float *x, const size_t *bounds) { dist_wait(dist_reduce_scatter_floats_start(x, bounds)); }

void dist_allgather_floats(float *x, const size_t *bounds) {
    int *counts = xmalloc(sizeof(int) * 2 * (size_t)world_size), *offsets = counts + world_size;
    as_count(bounds[world_size], "all-gather");
    for (int i = 0; i < world_size; i++) {
        counts[i] = (int)(bounds[i + 1] - bounds[i]);
        offsets[i] = (int)bounds[i];
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, offsets, MPI_FLOAT, MPI_COMM_WORLD);
    free(counts);
}

void *dist_allgather_bytes(const void *mine, size_t len, size_t *total, size_t *lens) {
    unsigned long long my_len = len, *all_lens = xmalloc(sizeof(unsigned long long) * (size_t)world_size);
    MPI_Allgather(&my_len, 1, MPI_UNSIGNED_LONG_LONG, all_lens, 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
    int *counts = xmalloc(sizeof(int) * 2 * (size_t)world_size), *offsets = counts + world_size;
    size_t sum = 0;
    for (int i = 0; i < world_size; i++) {
        counts[i] = (int)all_lens[i];
        offsets[i] = (int)sum;
        sum += all_lens[i];
        if (lens) lens[i] = all_lens[i];
    }
    as_count(sum, "gathering results");
    char *all = xmalloc(sum + 1);
    MPI_Allgatherv(mine, counts[world_rank], MPI_BYTE, all, counts, offsets, MPI_BYTE, MPI_COMM_WORLD);
    free(counts);
    free(all_lens);
    *total = sum;
    return all;
}

void dist_stream_to_root(const float *mine, size_t n, DistConsumeFn consume, void *ctx) {
    if (world_rank != 0) {
        DistRange own = dist_split_range(n, world_rank, world_size);
        size_t count = own.end - own.begin;
        for (size_t i = 0; i < count; i += CHUNK)
            MPI_Send(mine + i, (int)LMF_MIN(CHUNK, count - i), MPI_FLOAT, 0, 0, MPI_COMM_WORLD);
        return;
    }
    DistRange own = dist_split_range(n, 0, world_size);
    consume(ctx, mine, own.end - own.begin);
    float *buffer = xalloc_floats(LMF_MIN(CHUNK, n));
    for (int r = 1; r < world_size; r++) {
        DistRange piece = dist_split_range(n, r, world_size);
        for (size_t i = piece.begin; i < piece.end; i += CHUNK) {
            size_t count = LMF_MIN(CHUNK, piece.end - i);
            MPI_Recv(buffer, (int)count, MPI_FLOAT, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            consume(ctx, buffer, count);
        }
    }
    free(buffer);
}

#else /* one process: every collective is a no-op or a copy */

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}

int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_is_root(void) { return 1; }

void dist_barrier(void) {}
void dist_broadcast(void *data, size_t bytes) {
    (void)data;
    (void)bytes;
}
void dist_sum_doubles(double *x, size_t n) {
    (void)x;
    (void)n;
}
void dist_sum_floats(float *x, size_t n) {
    (void)x;
    (void)n;
}
void dist_reduce_scatter_floats(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
}
void dist_allgather_floats(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
}

DistRequest *dist_sum_floats_start(float *x, size_t n) {
    (void)x;
    (void)n;
    return NULL;
}
DistRequest *dist_reduce_scatter_floats_start(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
    return NULL;
}
void dist_progress(DistRequest **requests, int n) {
    (void)requests;
    (void)n;
}
void dist_wait(DistRequest *r) { (void)r; }

void *dist_allgather_bytes(const void *mine, size_t len, size_t *total, size_t *lens) {
    char *all = xmalloc(len + 1);
    if (len) memcpy(all, mine, len);
    *total = len;
    if (lens) lens[0] = len;
    return all;
}

void dist_stream_to_root(const float *mine, size_t n, DistConsumeFn consume, void *ctx) { consume(ctx, mine, n); }

#endif
